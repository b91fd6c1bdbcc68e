//! The system-call dispatcher.
//!
//! Arguments arrive in the caller's saved registers (see `ward_abi::syscall`
//! and `ward_abi::message` for the convention); results are written back
//! there and take effect when the thread next runs. A bad argument is an
//! error code, never a kernel panic; user pointers are allegations, checked
//! page by page against the caller's own page tables before a byte is read.
//!
//! Send, NBSend and Call on an endpoint are IPC; on a notification they
//! signal; on any other capability they invoke the kernel object. Recv and
//! NBRecv wait on an endpoint or notification. A capability that cannot be
//! found is a capability fault, sent to the thread's fault handler if it has
//! one, and otherwise returned as a `FailedLookup` error.
use crate::arch::x86_64::cpu;
use crate::arch::x86_64::trap::Reg;
use crate::kobj::{objects, registers};
use crate::user_memory::copy_from_user;
use crate::{console, fault, invocation, ipc, sched};
use ward_abi::fault::{CAP_FAULT, UNKNOWN_SYSCALL};
use ward_abi::lookup::LookupFailure;
use ward_abi::message::MessageInfo;
use ward_abi::rights::CapRights;
use ward_abi::syscall::DEBUG_PRINT_MAX;
use ward_abi::{Error, Syscall};
use ward_kernel_objects::tcb::{TcbSlot, ThreadState};
use ward_kernel_objects::{Cap, Tcb};

/// Sets up `syscall`/`sysret`: the entry point, the selectors, and which
/// flags are cleared on entry (interrupts, direction, trap, alignment check).
pub fn init() {
    use crate::arch::x86_64::gdt::{KERNEL_CODE, USER_BASE};
    cpu::wrmsr(
        cpu::MSR_LSTAR,
        crate::arch::x86_64::trap::syscall_entry_address(),
    );
    cpu::wrmsr(
        cpu::MSR_STAR,
        (u64::from(USER_BASE) << 48) | (u64::from(KERNEL_CODE) << 32),
    );
    cpu::wrmsr(cpu::MSR_SFMASK, (1 << 9) | (1 << 10) | (1 << 8) | (1 << 18));
    cpu::wrmsr(cpu::MSR_EFER, cpu::rdmsr(cpu::MSR_EFER) | cpu::EFER_SCE);
}

fn set_error(tcb: Tcb, error: Error, details: [u64; 4]) {
    registers(tcb).set_error(error, details);
}

/// A capability lookup by a syscall failed: a capability fault.
fn capability_fault(tcb: Tcb, cptr: u64, receiving: bool, failure: LookupFailure) {
    let [kind, a, b] = failure.to_words();
    if matches!(
        objects().cap(tcb.slot(TcbSlot::FaultEndpoint)),
        Cap::Endpoint { .. }
    ) {
        let rip = registers(tcb).get(Reg::Rip);
        fault::raise(tcb, CAP_FAULT, &[rip, cptr, receiving as u64, kind, a, b]);
    } else {
        set_error(tcb, Error::FailedLookup, [receiving as u64, kind, a, b]);
    }
}

fn look_up(tcb: Tcb, cptr: u64, receiving: bool) -> Option<(ward_kernel_objects::Slot, Cap)> {
    let objects = objects();
    // A CSpace of one CNode (every component's and the root task's) needs
    // no walk; anything else, and every failure, takes the general lookup.
    if let Some(slot) = objects.lookup_one_level(tcb.slot(TcbSlot::CSpaceRoot), cptr) {
        let cap = objects.cap(slot);
        if !cap.is_null() {
            return Some((slot, cap));
        }
    }
    let root = objects.cap(tcb.slot(TcbSlot::CSpaceRoot));
    match objects.lookup_cap(root, cptr) {
        Ok(found) => Some(found),
        Err(failure) => {
            capability_fault(tcb, cptr, receiving, failure);
            None
        }
    }
}

fn handle_send(caller: Tcb, cptr: u64, info: MessageInfo, kind: Syscall) {
    let Some((slot, cap)) = look_up(caller, cptr, false) else {
        return;
    };
    match cap {
        Cap::Endpoint { .. } => {
            // rax keeps the syscall number until the send completes: a
            // blocked sender whose send is cancelled runs the same syscall again.
            let flags = if kind == Syscall::Call {
                ipc::SEND_IS_CALL
            } else {
                0
            };
            if let Err(error) = ipc::send(caller, cap, info, kind != Syscall::NBSend, flags) {
                set_error(caller, error, [0; 4]);
            }
        }
        Cap::Notification {
            object,
            badge,
            rights,
        } => {
            if rights.contains(CapRights::WRITE) {
                registers(caller).set(Reg::Rax, 0);
                let _woken = ipc::signal(object, badge);
            } else {
                set_error(caller, Error::InvalidCapability, [0; 4]);
            }
        }
        _ => {
            let result = invocation::invoke(caller, slot, cap, info);
            match (kind, result) {
                (Syscall::Call, result) => invocation::write_result(caller, result),
                (_, Ok(invocation::Outcome::Restart)) => {
                    invocation::write_result(caller, Ok(invocation::Outcome::Restart))
                }
                _ => {} // Send and NBSend give no reply.
            }
        }
    }
}

fn handle_receive(caller: Tcb, cptr: u64, blocking: bool) {
    let Some((_, cap)) = look_up(caller, cptr, true) else {
        return;
    };
    if let Err(error) = ipc::receive(caller, cap, blocking) {
        set_error(caller, error, [0; 4]);
    }
}

/// `RecvUntil`: a blocking receive that the timer tick ends at `deadline`.
fn handle_receive_until(caller: Tcb, cptr: u64, deadline: u64) {
    handle_receive(caller, cptr, true);
    if matches!(
        objects().tcb_state(caller),
        ThreadState::BlockedOnReceive | ThreadState::BlockedOnNotification
    ) {
        sched::arm_timeout(caller, deadline);
    }
}

/// Entry from `syscall_entry`: takes the big kernel lock, runs the call,
/// chooses what runs next, and gives the lock up.
#[no_mangle]
extern "C" fn handle_syscall() {
    crate::bkl::acquire();
    run_syscall();
    crate::bkl::release();
}

#[inline(always)]
fn run_syscall() {
    let Some(caller) = crate::kobj::current() else {
        // Stalled by another core while waiting for the lock: the call
        // runs again when the thread next runs (`sched::stall_current`).
        sched::schedule();
        return;
    };
    let saved = registers(caller);
    let (number, arg0, arg1) = (
        saved.get(Reg::Rax),
        saved.get(Reg::Rdi),
        saved.get(Reg::Rsi),
    );
    crate::stats::count_syscall();
    match Syscall::from_number(number) {
        // The fast paths switch to the partner themselves: nothing to choose.
        Some(Syscall::Call) if crate::fastpath::call(caller, arg0, MessageInfo(arg1)) => return,
        Some(Syscall::ReplyRecv)
            if crate::fastpath::reply_recv(caller, arg0, MessageInfo(arg1)) =>
        {
            return
        }
        Some(Syscall::DebugPutChar) => {
            console::write_raw(&[arg0 as u8]);
            saved.set(Reg::Rax, 0);
        }
        Some(Syscall::DebugPrint) => {
            let len = (arg1 as usize).min(DEBUG_PRINT_MAX);
            let mut buffer = [0u8; DEBUG_PRINT_MAX];
            let result = match sched::address_space_of(caller) {
                Some(space) => copy_from_user(space, arg0, &mut buffer[..len]),
                None => Err(Error::IllegalOperation),
            };
            saved.set(
                Reg::Rax,
                match result {
                    Ok(()) => {
                        console::write_raw(&buffer[..len]);
                        0
                    }
                    Err(error) => error as u64,
                },
            );
        }
        Some(Syscall::DebugExit) => {
            log::info!(
                "debug exit: thread '{}' ends the run with status {arg0:#x}",
                fault::thread_name(caller)
            );
            crate::debug_exit(arg0 as u8);
        }
        Some(Syscall::DebugCapIdentify) => {
            let root = objects().cap(caller.slot(TcbSlot::CSpaceRoot));
            // An empty slot is a missing capability: say "null" rather than fault.
            let words = match objects().lookup_cap(root, arg0) {
                Ok((_, cap)) => {
                    let mapped = matches!(
                        cap,
                        Cap::Frame {
                            mapping: Some(_),
                            ..
                        } | Cap::PageTable {
                            mapping: Some(_),
                            ..
                        } | Cap::PageDirectory {
                            mapping: Some(_),
                            ..
                        } | Cap::Pdpt {
                            mapping: Some(_),
                            ..
                        } | Cap::IoPageTable {
                            mapping: Some(_),
                            ..
                        }
                    );
                    [
                        cap.cap_type() as u64,
                        cap.rights().to_word(),
                        cap.badge(),
                        u64::from(mapped),
                    ]
                }
                Err(_) => [0; 4],
            };
            saved.set(Reg::Rax, 0);
            saved.set(Reg::Rdi, words[0]);
            saved.set(Reg::Rsi, words[1]);
            saved.set(Reg::Rdx, words[2]);
            saved.set(Reg::R10, words[3]);
        }
        Some(Syscall::Yield) => {
            saved.set(Reg::Rax, 0);
            sched::yield_current();
        }
        Some(kind @ (Syscall::Send | Syscall::NBSend | Syscall::Call)) => {
            handle_send(caller, arg0, MessageInfo(arg1), kind)
        }
        Some(Syscall::Recv) => handle_receive(caller, arg0, true),
        Some(Syscall::NBRecv) => handle_receive(caller, arg0, false),
        Some(Syscall::RecvUntil) => handle_receive_until(caller, arg0, arg1),
        Some(Syscall::Reply) => {
            saved.set(Reg::Rax, 0);
            ipc::reply(caller);
        }
        Some(Syscall::ReplyRecv) => {
            // rax is set when a message arrives (a restarted ReplyRecv must still say ReplyRecv).
            ipc::reply(caller);
            handle_receive(caller, arg0, true);
        }
        None => {
            if matches!(
                objects().cap(caller.slot(TcbSlot::FaultEndpoint)),
                Cap::Endpoint { .. }
            ) {
                fault::raise(
                    caller,
                    UNKNOWN_SYSCALL,
                    &[
                        saved.get(Reg::Rip),
                        saved.get(Reg::Rsp),
                        saved.get(Reg::Rflags),
                        number,
                        arg0,
                        arg1,
                    ],
                );
            } else {
                set_error(caller, Error::UnknownSyscall, [number, 0, 0, 0]);
            }
        }
    }
    sched::schedule();
}
