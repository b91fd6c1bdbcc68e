//! Helper threads in the root task's address space: stacks, start-up,
//! clean-up after each case, and the deadlock watchdog.
//!
//! A helper runs a plain `fn(u64)` on one of [`STACK_COUNT`] static
//! [`ThreadStack`]s, shares the root CNode (so capabilities are named by the
//! same CPtrs as in the root task) and has its own IPC buffer frame. When
//! its function returns it suspends itself. After each case the framework
//! suspends and deletes every helper the case started, so stacks can be
//! reused and no helper outlives its case.

use core::sync::atomic::{AtomicBool, Ordering};

use ward_userlib::cap::{self, Cap, UserContext, FULL_DEPTH};
use ward_userlib::ipc_buffer::ThreadStack;
use ward_userlib::{syscall, InvocationError};

use crate::env::Env;

/// The root task's own priority during the suite: high, but with room
/// above it for the cases that need a thread that preempts the root task.
pub const ROOT_PRIORITY: u64 = 200;
/// The watchdog's priority: the lowest a thread can usefully have, so it
/// runs only when every other thread is blocked.
pub const WATCHDOG_PRIORITY: u64 = 1;
/// Helper stacks: the most helpers alive at once in any case, plus the watchdog.
pub const STACK_COUNT: usize = 12;

static STACKS: [ThreadStack; STACK_COUNT] = [const { ThreadStack::new() }; STACK_COUNT];
static STACK_IN_USE: [AtomicBool; STACK_COUNT] = [const { AtomicBool::new(false) }; STACK_COUNT];

/// `rflags` of a new thread: interrupts on (bit 9) and the reserved bit 1.
const INITIAL_RFLAGS: u64 = 0x202;

/// A helper thread the current case started.
#[derive(Clone, Copy, Debug)]
pub struct Thread {
    pub tcb: cap::Tcb,
    pub ipc_buffer: u64,
    stack: usize,
}

/// The helpers alive now (all started by the current case, or the watchdog).
pub struct ThreadSet {
    live: [Option<Thread>; STACK_COUNT],
}

impl ThreadSet {
    pub const fn new() -> ThreadSet {
        ThreadSet {
            live: [None; STACK_COUNT],
        }
    }
}

/// Where every helper starts: runs `entry(argument)`, then suspends itself
/// through its own TCB capability `tcb` (a root CNode slot).
extern "C" fn thread_start(argument: u64, entry: u64, tcb: u64) -> ! {
    // SAFETY: `spawn` put the address of a `fn(u64)` of this program in
    // `rsi`; it is the same function in the same address space.
    let entry: fn(u64) = unsafe { core::mem::transmute::<usize, fn(u64)>(entry as usize) };
    entry(argument);
    let _ = Cap::<cap::cap_type::Tcb>::from_cptr(tcb).tcb_suspend();
    loop {
        syscall::yield_now();
    }
}

/// The registers a new thread starts with.
pub fn start_context(
    entry_rip: u64,
    rsp: u64,
    argument: u64,
    entry: fn(u64),
    third: u64,
) -> UserContext {
    UserContext {
        rip: entry_rip,
        rsp,
        rflags: INITIAL_RFLAGS,
        rdi: argument,
        rsi: entry as usize as u64,
        rdx: third,
        ..UserContext::default()
    }
}

/// Packs up to four small numbers (CPtrs, badges below 2^16) into one argument.
pub fn pack(values: &[u64]) -> u64 {
    values
        .iter()
        .take(4)
        .enumerate()
        .fold(0, |word, (i, v)| word | ((v & 0xffff) << (16 * i)))
}

/// Number `index` of a [`pack`]ed argument.
pub fn unpack(word: u64, index: usize) -> u64 {
    (word >> (16 * index)) & 0xffff
}

/// Makes a TCB configured to run in the root task's CSpace and VSpace with
/// a fresh IPC buffer and `fault_ep` (a root CPtr, 0 for none), at
/// `priority`, not yet started.
pub fn create(env: &mut Env, fault_ep: u64, priority: u64) -> Result<Thread, InvocationError> {
    let root = env.root.cnode;
    create_in(env, root, 0, fault_ep, priority)
}

/// As [`create`], with `cspace` (a root CPtr to a CNode, installed with the
/// guard data `cspace_data`) as the thread's CSpace instead of the root CNode.
pub fn create_in(
    env: &mut Env,
    cspace: cap::CNode,
    cspace_data: u64,
    fault_ep: u64,
    priority: u64,
) -> Result<Thread, InvocationError> {
    let stack = (0..STACK_COUNT)
        .find(|&i| {
            STACK_IN_USE[i]
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
        .expect("ktest: more helper threads alive than stacks");
    let tcb: cap::Tcb = env.alloc();
    let (frame, ipc_buffer) = env.new_page();
    let thread = Thread {
        tcb,
        ipc_buffer,
        stack,
    };
    let slot = env
        .threads
        .live
        .iter_mut()
        .find(|t| t.is_none())
        .expect("stack count bounds live threads");
    *slot = Some(thread);
    tcb.tcb_configure(
        fault_ep,
        cspace,
        cspace_data,
        env.root.vspace,
        0,
        ipc_buffer,
        frame,
    )?;
    tcb.tcb_set_sched_params(env.root.tcb, priority, priority)?;
    Ok(thread)
}

/// Points `thread` at `entry(argument)` on its stack without resuming it.
pub fn prepare(thread: &Thread, entry: fn(u64), argument: u64) -> Result<(), InvocationError> {
    let rsp = STACKS[thread.stack].prepare(thread.ipc_buffer);
    let context = start_context(
        thread_start as *const () as u64,
        rsp,
        argument,
        entry,
        thread.tcb.cptr(),
    );
    thread
        .tcb
        .tcb_write_registers(false, UserContext::WORDS as u64, &context)
}

/// Starts a helper running `entry(argument)` at `priority`.
pub fn spawn(
    env: &mut Env,
    entry: fn(u64),
    argument: u64,
    priority: u64,
) -> Result<Thread, InvocationError> {
    spawn_with_fault_ep(env, entry, argument, priority, 0)
}

/// As [`spawn`], with faults going to the endpoint `fault_ep` (a root CPtr).
pub fn spawn_with_fault_ep(
    env: &mut Env,
    entry: fn(u64),
    argument: u64,
    priority: u64,
    fault_ep: u64,
) -> Result<Thread, InvocationError> {
    let thread = create(env, fault_ep, priority)?;
    prepare(&thread, entry, argument)?;
    thread.tcb.tcb_resume()?;
    Ok(thread)
}

/// As [`spawn_with_fault_ep`], the thread running on core `core` only.
pub fn spawn_on(
    env: &mut Env,
    entry: fn(u64),
    argument: u64,
    priority: u64,
    fault_ep: u64,
    core: u64,
) -> Result<Thread, InvocationError> {
    let thread = create(env, fault_ep, priority)?;
    prepare(&thread, entry, argument)?;
    thread.tcb.tcb_set_affinity(core)?;
    thread.tcb.tcb_resume()?;
    Ok(thread)
}

/// Stops and destroys every helper except `keep` (the watchdog), freeing
/// their stacks.
pub fn clean_up(env: &mut Env, keep: Option<cap::Tcb>) {
    for entry in env.threads.live.iter_mut() {
        let Some(thread) = *entry else { continue };
        if Some(thread.tcb) == keep {
            continue;
        }
        let _ = thread.tcb.tcb_suspend();
        let _ = env.root.cnode.cnode_delete(thread.tcb.cptr(), FULL_DEPTH);
        STACK_IN_USE[thread.stack].store(false, Ordering::Release);
        *entry = None;
    }
}
