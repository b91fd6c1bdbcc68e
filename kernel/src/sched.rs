//! Choosing what runs next, the timer tick, and the idle loop.
//!
//! Fixed priorities (0–255, highest runs), round-robin among equals: a
//! thread runs until it blocks, yields, or uses up its time slice, when it
//! goes to the back of its priority's queue. The running thread stays at the
//! front of its queue while it runs, so choosing is always "the head of the
//! highest non-empty queue" (`ward_kernel_objects::sched`).
//!
//! Time: every switch charges the TSC ticks since the previous switch to the
//! thread that ran (or to the idle loop), and the tick ends timed receives
//! whose deadline has passed (`RecvUntil`, 1 ms resolution).
use crate::arch::x86_64::trap::{
    return_to_user, UserContext, CURRENT_CONTEXT, CURRENT_CONTEXT_TOP,
};
use crate::arch::x86_64::{cpu, gdt};
use crate::kobj::{self, objects, READY};
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;
use ward_kernel_core::cmdline::IdlePolicy;
use ward_kernel_objects::tcb::{field, TcbSlot, ThreadState};
use ward_kernel_objects::timeouts::TimeoutQueue;
use ward_kernel_objects::{Cap, Tcb};

/// Timer ticks since boot.
pub static TICKS: AtomicU64 = AtomicU64::new(0);
/// Ticks the idle loop waits, with no thread left, before `idle=exit` ends
/// the run: enough to show the timer still fires after the last thread stopped.
const IDLE_EXIT_TICKS: u64 = 10;
/// A time slice, in timer ticks (1 ms each): long enough that switching
/// costs little, short enough that equal-priority threads share the CPU
/// visibly in tests.
pub const TIME_SLICE_TICKS: u64 = 5;

static IDLE_POLICY: spin::Once<IdlePolicy> = spin::Once::new();

/// Threads in a timed receive, earliest deadline first.
static TIMEOUTS: Mutex<TimeoutQueue> = Mutex::new(TimeoutQueue::new());
/// The TSC at the last switch: time since then belongs to whoever runs now.
static LAST_SWITCH_TSC: AtomicU64 = AtomicU64::new(0);

pub fn set_idle_policy(policy: IdlePolicy) {
    IDLE_POLICY.call_once(|| policy);
}

/// The physical address of a thread's PML4, if it has a VSpace.
fn address_space_of(tcb: Tcb) -> Option<u64> {
    match objects().cap(tcb.slot(TcbSlot::VSpaceRoot)) {
        Cap::Pml4 { object, .. } => Some(object),
        _ => None,
    }
}

/// Makes `tcb` the current thread: its registers are what `return_to_user`
/// restores, its context is where the next trap saves, and its address
/// space is loaded.
fn activate(tcb: Tcb, address_space: u64) {
    let previous = kobj::current();
    charge_time(previous);
    if previous != Some(tcb) {
        crate::stats::count_context_switch();
    }
    // A thread that runs again is no longer waiting: whatever woke it, its
    // deadline no longer applies.
    let objects = objects();
    if objects.tcb_field(tcb, field::TIMEOUT_DEADLINE) != 0 {
        TIMEOUTS.lock().remove(&objects, tcb);
    }
    let context = objects.tcb_context(tcb) as u64;
    let top = context + core::mem::size_of::<UserContext>() as u64;
    kobj::set_current(Some(tcb));
    CURRENT_CONTEXT.store(context, Ordering::Relaxed);
    CURRENT_CONTEXT_TOP.store(top, Ordering::Relaxed);
    gdt::set_kernel_entry_stack(top);
    if cpu::read_cr3() != address_space {
        // SAFETY: every user PML4 shares the kernel's upper half.
        unsafe { cpu::write_cr3(address_space) };
    }
}

/// Picks the thread to run next and makes it current; if there is none,
/// idles until there is (and then does not return: it enters user mode).
pub fn schedule() {
    loop {
        let chosen = READY.lock().choose();
        match chosen {
            Some(tcb) => match address_space_of(tcb) {
                Some(space) => {
                    activate(tcb, space);
                    return;
                }
                None => {
                    log::warn!("thread {:#x} has no address space; suspended", tcb.0);
                    crate::thread::suspend(tcb);
                }
            },
            None => idle(),
        }
    }
}

/// Runs the scheduler and enters user mode. Never returns.
pub fn schedule_and_run() -> ! {
    schedule();
    // SAFETY: `schedule` made a thread with a valid context current.
    unsafe { return_to_user() }
}

/// Charges the TSC ticks since the last switch to `running` (the idle loop
/// when `None`).
fn charge_time(running: Option<Tcb>) {
    let now = cpu::rdtsc();
    let spent = now.wrapping_sub(LAST_SWITCH_TSC.swap(now, Ordering::Relaxed));
    match running {
        Some(tcb) => {
            let objects = objects();
            let total = objects.tcb_field(tcb, field::CPU_TICKS);
            objects.set_tcb_field(tcb, field::CPU_TICKS, total.wrapping_add(spent));
        }
        None => crate::stats::add_idle(spent),
    }
}

/// Puts `tcb`, which has just blocked in a receive, in the timeout queue.
/// A deadline that has already passed ends the wait at once.
pub fn arm_timeout(tcb: Tcb, deadline: u64) {
    let objects = objects();
    if deadline <= cpu::rdtsc() {
        time_out(tcb);
    } else {
        TIMEOUTS.lock().insert(&objects, tcb, deadline);
    }
}

/// Takes `tcb` out of the timeout queue (it is suspended or destroyed).
pub fn forget_timeout(tcb: Tcb) {
    let objects = objects();
    if objects.tcb_field(tcb, field::TIMEOUT_DEADLINE) != 0 {
        TIMEOUTS.lock().remove(&objects, tcb);
    }
}

/// Ends `tcb`'s receive with `TimedOut` if it is still waiting.
fn time_out(tcb: Tcb) {
    let objects = objects();
    if matches!(
        objects.tcb_state(tcb),
        ThreadState::BlockedOnReceive | ThreadState::BlockedOnNotification
    ) {
        objects.ipc_cancel(tcb);
        kobj::context(tcb).rax = ward_abi::Error::TimedOut as u64;
        kobj::make_runnable(tcb);
        crate::stats::count_timeout();
    }
}

/// The timer tick: counts, ends expired timed receives, and rotates the
/// current thread when its slice is used.
pub fn tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    crate::stats::count_timer_tick();
    crate::iospace::tick();
    let now = cpu::rdtsc();
    loop {
        let expired = TIMEOUTS.lock().pop_expired(&objects(), now);
        match expired {
            Some(tcb) => time_out(tcb),
            None => break,
        }
    }
    let Some(tcb) = kobj::current() else { return };
    let objects = objects();
    let left = objects.tcb_field(tcb, field::TIME_SLICE);
    if left > 1 {
        objects.set_tcb_field(tcb, field::TIME_SLICE, left - 1);
    } else {
        to_back_of_queue(tcb);
    }
}

/// Moves the current thread to the back of its priority's queue.
pub fn yield_current() {
    if let Some(tcb) = kobj::current() {
        to_back_of_queue(tcb);
    }
}

/// Gives `tcb` a fresh time slice at the back of its priority's queue.
fn to_back_of_queue(tcb: Tcb) {
    let objects = objects();
    objects.set_tcb_field(tcb, field::TIME_SLICE, TIME_SLICE_TICKS);
    let mut ready = READY.lock();
    if ready.contains(&objects, tcb) {
        ready.rotate(&objects, tcb);
    }
}

/// Waits for interrupts until a thread can run, then runs it.
fn idle() -> ! {
    charge_time(kobj::current());
    kobj::set_current(None);
    let idle_since = TICKS.load(Ordering::Relaxed);
    log::debug!("idle: no runnable threads");
    loop {
        cpu::wait_for_interrupt();
        if READY.lock().choose().is_some() {
            schedule_and_run();
        }
        let waited = TICKS.load(Ordering::Relaxed) - idle_since;
        if IDLE_POLICY.get() == Some(&IdlePolicy::Exit) && waited >= IDLE_EXIT_TICKS {
            log::info!("kernel alive: {waited} timer ticks since the last thread stopped; ending the run (idle=exit)");
            crate::debug_exit(crate::EXIT_ALL_THREADS_STOPPED);
        }
    }
}
