//! The big kernel lock: one core at a time runs kernel code that touches
//! shared state (docs/kernel.md, "Multicore").
//!
//! Every entry from user mode (syscall, exception, interrupt) and every
//! interrupt taken by an idle core takes the lock before it reads which
//! thread is current, and gives it up just before returning to user mode or
//! halting; so all of the object model, the ready queues, the timeout queue
//! and the interrupt tables are touched by one core at a time, exactly as
//! on one core.
//!
//! It is a test-and-test-and-set lock, not a ticket lock, on purpose: a
//! ticket lock hands the lock to the core that asked next, and when that
//! core is not running (a virtual CPU the host has descheduled, as when
//! QEMU runs more cores than the host has), every other core waits for the
//! host's scheduler. The syscall fuzzer on 4 cores of a 2-CPU host took
//! 108 times fewer guest cycles for 100,000 calls with this lock than with
//! tickets (docs/kernel.md). Here whichever waiting core runs takes it. The
//! price is fairness: no order among waiters. Each holder leaves the
//! kernel within one bounded operation (long ones have preemption points),
//! so a waiter loses only to cores that are quicker to see the lock free.
//!
//! A core waiting for the lock runs with interrupts disabled, and the
//! holder may be waiting for that very core to answer a cross-core call
//! (a TLB shootdown, a stall): so the wait loop answers this core's pending
//! calls itself (`smp::answer_calls`), as seL4's lock does.
use core::sync::atomic::{AtomicBool, Ordering};

/// Whether a core holds the lock.
static HELD: AtomicBool = AtomicBool::new(false);

/// Takes the lock, answering cross-core calls while waiting.
#[inline(always)]
pub fn acquire() {
    if HELD
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        wait();
    }
}

#[inline(never)]
fn wait() {
    crate::stats::count_lock_wait();
    loop {
        crate::smp::answer_calls();
        core::hint::spin_loop();
        // Read first: only a lock seen free is worth the atomic write that
        // takes the cache line from the other waiters.
        if !HELD.load(Ordering::Relaxed)
            && HELD
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return;
        }
    }
}

/// Gives the lock up. Only its holder calls this.
#[inline(always)]
pub fn release() {
    HELD.store(false, Ordering::Release);
}

/// Data that only the big kernel lock's holder touches (the per-core ready
/// queues): its `lock()` costs no atomic operation, because the big kernel
/// lock already excludes every other core. Debug builds check that no two
/// guards of one cell are alive at once.
pub struct UnderKernelLock<T> {
    value: core::cell::UnsafeCell<T>,
    #[cfg(debug_assertions)]
    borrowed: core::sync::atomic::AtomicBool,
}

// SAFETY: every access goes through `lock`, which callers make only while
// holding the big kernel lock: one core at a time.
unsafe impl<T: Send> Sync for UnderKernelLock<T> {}

impl<T> UnderKernelLock<T> {
    pub const fn new(value: T) -> UnderKernelLock<T> {
        UnderKernelLock {
            value: core::cell::UnsafeCell::new(value),
            #[cfg(debug_assertions)]
            borrowed: core::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The value, for as long as the guard lives. The caller holds the big
    /// kernel lock and no other guard of this cell.
    #[inline(always)]
    pub fn lock(&self) -> KernelLockGuard<'_, T> {
        #[cfg(debug_assertions)]
        assert!(
            !self.borrowed.swap(true, Ordering::Acquire),
            "two guards of one UnderKernelLock"
        );
        KernelLockGuard { cell: self }
    }
}

/// Access to an [`UnderKernelLock`]'s value.
pub struct KernelLockGuard<'a, T> {
    cell: &'a UnderKernelLock<T>,
}

impl<T> core::ops::Deref for KernelLockGuard<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the big kernel lock and the one-guard rule (see `lock`)
        // make this the only access to the value while the guard lives.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T> core::ops::DerefMut for KernelLockGuard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this borrow unique.
        unsafe { &mut *self.cell.value.get() }
    }
}

impl<T> Drop for KernelLockGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        #[cfg(debug_assertions)]
        self.cell.borrowed.store(false, Ordering::Release);
    }
}
