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
