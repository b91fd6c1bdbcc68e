//! Threads: starting, suspending and resuming TCBs, and the rules for the
//! registers a user may set.
//!
//! A thread's registers live in the first bytes of its TCB (see
//! `kobj::Registers`); its state, priority and queue links are the object
//! model's fields.
use crate::arch::x86_64::gdt::{USER_CODE, USER_DATA};
use crate::arch::x86_64::trap::UserContext;
use crate::kobj::{self, objects, registers};
use ward_kernel_objects::tcb::ThreadState;
use ward_kernel_objects::Tcb;

/// RFLAGS bits a user may control: the arithmetic flags (CF, PF, AF, ZF,
/// SF, OF), DF and TF. Interrupts stay enabled and IOPL stays 0, whatever a
/// user writes; the always-one bit 1 and IF are forced on.
const USER_FLAGS_MASK: u64 = 0x0CD5 | (1 << 8) | (1 << 10);
const FORCED_FLAGS: u64 = 0x202;

/// Fills in the selectors and flags a user thread must run with, and keeps
/// its instruction and stack pointers in user space: `iretq` to a
/// non-canonical address would fault inside the kernel. An out-of-range
/// pointer becomes 0, so the thread faults (in user mode) when it runs.
pub fn sanitise(ctx: &mut UserContext) {
    ctx.cs = u64::from(USER_CODE);
    ctx.ss = u64::from(USER_DATA);
    ctx.rflags = (ctx.rflags & USER_FLAGS_MASK) | FORCED_FLAGS;
    if ctx.rip >= ward_abi::layout::USER_TOP {
        ctx.rip = 0;
    }
    if ctx.rsp > ward_abi::layout::USER_TOP {
        ctx.rsp = 0;
    }
}

/// Sets up a fresh context that starts at `entry` with stack `stack_top`
/// and `argument` in `rdi`.
pub fn set_entry(tcb: Tcb, entry: u64, stack_top: u64, argument: u64) {
    let mut context = UserContext {
        rip: entry,
        rsp: stack_top,
        rdi: argument,
        ..UserContext::default()
    };
    sanitise(&mut context);
    registers(tcb).write(&context);
}

/// Stops a thread: takes it off any IPC queue and the ready queues (one
/// running on another core stops running there first).
pub fn suspend(tcb: Tcb) {
    crate::smp::stall(tcb);
    let objects = objects();
    crate::sched::forget_timeout(tcb);
    objects.ipc_cancel(tcb);
    objects.set_tcb_state(tcb, ThreadState::Inactive);
    kobj::make_not_runnable(tcb);
}

/// Restarts a stopped thread where it left off. A thread that is blocked
/// is left alone (it will run when its IPC completes).
pub fn resume(tcb: Tcb) {
    if objects().tcb_state(tcb) == ThreadState::Inactive {
        let registers = registers(tcb);
        let mut context = registers.read();
        sanitise(&mut context);
        registers.write(&context);
        kobj::make_runnable(tcb);
    }
}
