//! The big kernel lock: one core at a time runs kernel code that touches
//! shared state (docs/kernel.md, "Multicore").
//!
//! Every entry from user mode (syscall, exception, interrupt) and every
//! interrupt taken by an idle core takes the lock before it reads which
//! thread is current, and gives it up just before returning to user mode or
//! halting; so all of the object model, the ready queues, the timeout queue
//! and the interrupt tables are touched by one core at a time, exactly as
//! on one core. It is a ticket lock: cores get in in the order they asked,
//! so none starves.
//!
//! A core waiting for the lock runs with interrupts disabled, and the
//! holder may be waiting for that very core to answer a cross-core call
//! (a TLB shootdown, a stall): so the wait loop answers this core's pending
//! calls itself (`smp::answer_calls`), as seL4's lock does.
use core::sync::atomic::{AtomicU32, Ordering};

/// The next ticket to hand out.
static NEXT_TICKET: AtomicU32 = AtomicU32::new(0);
/// The ticket whose holder may enter.
static NOW_SERVING: AtomicU32 = AtomicU32::new(0);

/// Takes the lock, answering cross-core calls while waiting.
#[inline(always)]
pub fn acquire() {
    let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
    if NOW_SERVING.load(Ordering::Acquire) != ticket {
        wait_for(ticket);
    }
}

#[inline(never)]
fn wait_for(ticket: u32) {
    crate::stats::count_lock_wait();
    while NOW_SERVING.load(Ordering::Acquire) != ticket {
        crate::smp::answer_calls();
        core::hint::spin_loop();
    }
}

/// Gives the lock to the next core in line. Only its holder calls this.
#[inline(always)]
pub fn release() {
    // Only the holder writes NOW_SERVING, so a load and a store suffice.
    let serving = NOW_SERVING.load(Ordering::Relaxed);
    NOW_SERVING.store(serving.wrapping_add(1), Ordering::Release);
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
