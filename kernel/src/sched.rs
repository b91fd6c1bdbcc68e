//! Choosing what runs next, the timer tick, and the idle loop.
//!
//! Fixed priorities (0–255, highest runs), round-robin among equals: a
//! thread runs until it blocks, yields, or uses up its time slice, when it
//! goes to the back of its priority's queue. The running thread stays at the
//! front of its queue while it runs, so choosing is always "the head of the
//! highest non-empty queue" (`ward_kernel_objects::sched`).
//!
//! Multicore: every core has its own ready queues and chooses only among
//! the threads whose affinity is that core; a thread runs on one core only
//! (`tcb_set_affinity` moves it). The running thread of each core stays at
//! the front of that core's queue. Each core's idle loop is its idle
//! thread: it gives up the big kernel lock and halts until an interrupt
//! (its timer, a reschedule IPI) may have given it work.
//!
//! Time: every switch charges the TSC ticks since that core's previous
//! switch to the thread that ran (or to the core's idle loop), and the
//! bootstrap processor's tick ends timed receives whose deadline has passed
//! (`RecvUntil`, 1 ms resolution; the timeout queue is shared, under the
//! lock, and a woken thread on another core gets a reschedule IPI).
use crate::arch::x86_64::trap::{return_to_user, Reg, UserContext};
use crate::arch::x86_64::{cpu, gdt};
use crate::cpu_local::{self, CPUS};
use crate::kobj::{self, local_ready_queues, objects, READY};
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

pub fn set_idle_policy(policy: IdlePolicy) {
    IDLE_POLICY.call_once(|| policy);
}

/// The physical address of a thread's PML4, if it has a VSpace.
#[inline]
pub fn address_space_of(tcb: Tcb) -> Option<u64> {
    Cap::pml4_in(objects().cap_words(tcb.slot(TcbSlot::VSpaceRoot)))
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
    let here = cpu_local::this();
    here.current.store(tcb.0, Ordering::Relaxed);
    here.current_context.store(context, Ordering::Relaxed);
    here.current_context_top.store(top, Ordering::Relaxed);
    gdt::set_kernel_entry_stack(top);
    load_address_space(address_space);
}

/// Loads `address_space` into CR3 unless it is loaded already, and notes
/// it for TLB shootdowns.
#[inline]
fn load_address_space(address_space: u64) {
    if cpu::read_cr3() != address_space {
        // SAFETY: every user PML4 shares the kernel's upper half.
        unsafe { cpu::write_cr3(address_space) };
        cpu_local::this()
            .address_space
            .store(address_space, Ordering::Relaxed);
    }
}

/// The IPC fast path's switch: the running thread `out` has blocked and
/// `into` (blocked until now, at a priority at least `out`'s, with the
/// VSpace `address_space`) is runnable, as the general path would leave
/// them (`ReadyQueues::hand_over`). When `into` is the thread to run, as it
/// is for a client and server taking turns, the switch is direct; when
/// another thread of its priority was ready first, the scheduler chooses.
pub fn hand_over(out: Tcb, into: Tcb, address_space: u64) {
    let direct = local_ready_queues().lock().hand_over(&objects(), out, into);
    if direct {
        activate(into, address_space);
    } else {
        schedule();
    }
}

/// Picks the thread to run next and makes it current; if there is none,
/// idles until there is (and then does not return: it enters user mode).
/// The common case — the running thread goes on — is inlined into the
/// kernel's entry paths.
#[inline(always)]
pub fn schedule() {
    let chosen = local_ready_queues().lock().choose();
    if let Some(tcb) = chosen {
        if Some(tcb) == kobj::current() {
            if let Some(space) = address_space_of(tcb) {
                load_address_space(space);
                return;
            }
        }
    }
    choose_another();
}

#[inline(never)]
fn choose_another() {
    loop {
        let chosen = local_ready_queues().lock().choose();
        match chosen {
            // Still the running thread (a Yield alone at its priority, a
            // syscall that did not block): all is in place but perhaps its
            // address space, which it may have just replaced.
            Some(tcb) if Some(tcb) == kobj::current() => match address_space_of(tcb) {
                Some(space) => {
                    load_address_space(space);
                    return;
                }
                None => {
                    log::warn!("thread {:#x} has no address space; suspended", tcb.0);
                    crate::thread::suspend(tcb);
                }
            },
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

/// Runs the scheduler and enters user mode. Never returns. The caller
/// holds the big kernel lock, which is given up on the way out.
pub fn schedule_and_run() -> ! {
    schedule();
    crate::bkl::release();
    // SAFETY: `schedule` made a thread with a valid context current.
    unsafe { return_to_user() }
}

/// The TSC ticks `tcb` has run for, including the time since it was last
/// switched to if it is running now, on whichever core (charged only at
/// that core's next switch).
pub fn cpu_ticks(tcb: Tcb) -> u64 {
    let charged = objects().tcb_field(tcb, field::CPU_TICKS);
    match cpu_local::running_on(tcb) {
        Some(core) => {
            let since =
                cpu::rdtsc().wrapping_sub(CPUS[core].last_switch_tsc.load(Ordering::Relaxed));
            charged.wrapping_add(since)
        }
        None => charged,
    }
}

/// Charges the TSC ticks since this core's last switch to `running` (the
/// idle loop when `None`).
fn charge_time(running: Option<Tcb>) {
    let now = cpu::rdtsc();
    let last = &cpu_local::this().last_switch_tsc;
    let spent = now.wrapping_sub(last.swap(now, Ordering::Relaxed));
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
        kobj::registers(tcb).set(Reg::Rax, ward_abi::Error::TimedOut as u64);
        kobj::make_runnable(tcb);
        crate::stats::count_timeout();
    }
}

/// The timer tick: counts, ends expired timed receives, and rotates the
/// current thread when its slice is used. Every core has its own tick for
/// its time slices; the bootstrap processor's alone keeps time since boot
/// and ends timed receives (the timeout queue is shared).
pub fn tick() {
    let bootstrap = cpu_local::index() == 0;
    crate::stats::count_timer_tick(bootstrap);
    if bootstrap {
        TICKS.fetch_add(1, Ordering::Relaxed);
        crate::iospace::tick();
        let now = cpu::rdtsc();
        loop {
            let expired = TIMEOUTS.lock().pop_expired(&objects(), now);
            match expired {
                Some(tcb) => time_out(tcb),
                None => break,
            }
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
    let mut ready = local_ready_queues().lock();
    if ready.contains(&objects, tcb) && !ready.is_alone(&objects, tcb) {
        ready.rotate(&objects, tcb);
    }
}

/// This core's idle thread: waits for interrupts, without the big kernel
/// lock, until a thread can run here, then runs it.
///
/// An application processor's idle loop takes the lock again only when a
/// reschedule IPI says a thread was queued for it: its timer ticks, which
/// have nothing to do on an idle core, then cost no lock traffic (under
/// emulation, a core waiting for the lock burns a host CPU the lock holder
/// may need). The bootstrap processor's tick ends timed receives and keeps
/// time, so its idle loop looks after every interrupt.
fn idle() -> ! {
    charge_time(kobj::current());
    kobj::set_current(None);
    let idle_since = TICKS.load(Ordering::Relaxed);
    log::debug!("idle: no runnable threads");
    let here = cpu_local::this();
    let bootstrap = cpu_local::index() == 0;
    loop {
        if local_ready_queues().lock().choose().is_some() {
            schedule_and_run();
        }
        let waited = TICKS.load(Ordering::Relaxed) - idle_since;
        if bootstrap
            && IDLE_POLICY.get() == Some(&IdlePolicy::Exit)
            && waited >= IDLE_EXIT_TICKS
            && all_cores_idle()
        {
            log::info!("kernel alive: {waited} timer ticks since the last thread stopped; ending the run (idle=exit)");
            crate::debug_exit(crate::EXIT_ALL_THREADS_STOPPED);
        }
        crate::bkl::release();
        loop {
            // A reschedule IPI sent after the lock went is taken by this
            // halt (interrupts come on with the `sti` just before it).
            cpu::wait_for_interrupt();
            if bootstrap || here.woken.swap(0, Ordering::Acquire) != 0 {
                break;
            }
        }
        crate::bkl::acquire();
    }
}

/// Whether no core runs or has queued a thread (the caller holds the lock).
fn all_cores_idle() -> bool {
    let online = cpu_local::online_count();
    (0..online).all(|core| {
        CPUS[core].current.load(Ordering::Relaxed) == 0 && READY[core].lock().choose().is_none()
    })
}

/// A cross-core call (`smp::stall`): this core stops running its current
/// thread, whose registers are already in its TCB (it entered the kernel,
/// or is about to take the call's IPI). The thread stays queued; the core
/// chooses again once it has the lock. A system call it had entered but
/// not yet begun runs again when the thread next runs.
pub fn stall_current() {
    let Some(tcb) = kobj::current() else { return };
    let registers = kobj::registers(tcb);
    if registers.get(Reg::Vector) == crate::arch::x86_64::trap::SYSCALL_VECTOR {
        // Not begun: the core was waiting for the lock on its way in.
        registers.set(Reg::Rip, registers.get(Reg::Rip).wrapping_sub(2));
        registers.set(Reg::Vector, 0);
    }
    charge_time(Some(tcb));
    kobj::set_current(None);
}

/// `tcb_set_affinity`: moves `tcb` to core `core`'s ready queues (from
/// wherever it runs; a thread running on another core stops first).
pub fn set_affinity(tcb: Tcb, core: usize) {
    crate::smp::stall(tcb);
    let objects = objects();
    let queued = {
        let mut ready = kobj::ready_queues_of(tcb).lock();
        let queued = ready.contains(&objects, tcb);
        ready.remove(&objects, tcb);
        queued
    };
    objects.set_tcb_field(tcb, field::AFFINITY, core as u64);
    if queued {
        READY[core].lock().enqueue(&objects, tcb);
        if core != cpu_local::index() {
            crate::smp::reschedule(core, objects.tcb_priority(tcb));
        }
    }
}

/// `tcb_set_priority`: a ready thread moves between its core's queues, and
/// that core is told if it must choose again.
pub fn set_priority(tcb: Tcb, priority: u8) {
    let objects = objects();
    let core = kobj::affinity(tcb);
    let queued = {
        let mut ready = READY[core].lock();
        ready.set_priority(&objects, tcb, priority);
        ready.contains(&objects, tcb)
    };
    if queued && core != cpu_local::index() {
        crate::smp::reschedule(core, priority);
    }
}
