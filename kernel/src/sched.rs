//! Choosing what runs next, and the idle loop.
//!
//! With one thread this is short: run the root thread while it is runnable;
//! otherwise idle with interrupts enabled. The fixed-priority round-robin
//! scheduler arrives with the object model.
use crate::arch::x86_64::trap::{return_to_user, CURRENT_CONTEXT, CURRENT_CONTEXT_TOP};
use crate::arch::x86_64::trap::UserContext;
use crate::arch::x86_64::{cpu, gdt};
use crate::thread::{ThreadState, ROOT_THREAD};
use core::sync::atomic::{AtomicU64, Ordering};
use ward_kernel_core::cmdline::IdlePolicy;

/// Timer ticks since boot.
pub static TICKS: AtomicU64 = AtomicU64::new(0);
/// Ticks the idle loop waits, with no thread left, before `idle=exit` ends
/// the run: enough to show the timer still fires after the last thread stopped.
const IDLE_EXIT_TICKS: u64 = 10;

static IDLE_POLICY: spin::Once<IdlePolicy> = spin::Once::new();

pub fn set_idle_policy(policy: IdlePolicy) {
    IDLE_POLICY.call_once(|| policy);
}

/// Runs the next runnable thread, or idles. Never returns.
pub fn schedule() -> ! {
    let (context, address_space) = {
        let thread = ROOT_THREAD.lock();
        if thread.state != ThreadState::Runnable {
            drop(thread);
            idle();
        }
        (&thread.context as *const UserContext as u64, thread.address_space)
    };
    let top = context + core::mem::size_of::<UserContext>() as u64;
    CURRENT_CONTEXT.store(context, Ordering::Relaxed);
    CURRENT_CONTEXT_TOP.store(top, Ordering::Relaxed);
    gdt::set_kernel_entry_stack(top);
    if cpu::read_cr3() != address_space {
        // SAFETY: thread address spaces share the kernel's upper half.
        unsafe { cpu::write_cr3(address_space) };
    }
    // SAFETY: the context was filled by `Thread::start` or a kernel entry,
    // with user selectors and flags the kernel chose.
    unsafe { return_to_user() }
}

/// Waits for interrupts until a thread can run.
fn idle() -> ! {
    let idle_since = TICKS.load(Ordering::Relaxed);
    log::info!("idle: no runnable threads");
    loop {
        cpu::wait_for_interrupt();
        if ROOT_THREAD.lock().state == ThreadState::Runnable {
            schedule();
        }
        let waited = TICKS.load(Ordering::Relaxed) - idle_since;
        if IDLE_POLICY.get() == Some(&IdlePolicy::Exit) && waited >= IDLE_EXIT_TICKS {
            log::info!("kernel alive: {waited} timer ticks since the last thread stopped; ending the run (idle=exit)");
            crate::debug_exit(crate::EXIT_ALL_THREADS_STOPPED);
        }
    }
}
