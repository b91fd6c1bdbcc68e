//! Faults: turning a thread's exception or bad syscall into a message to its
//! fault handler, or into a console report when it has none.
//!
//! The message formats are in `ward_abi::fault`. A faulting thread sends its
//! fault as a Call on the endpoint in its TCB's fault-endpoint slot, so it
//! blocks until the handler replies; the reply decides whether it resumes.
use crate::arch::x86_64::trap::exception_name;
use crate::ipc::{self, SEND_IS_FAULT};
use crate::kobj::{bookkeeping, objects, registers, ThreadExtra};
use crate::thread;
use ward_abi::fault::{
    CAP_FAULT, REPLY_FAIL_SYSCALL, REPLY_RESUME, UNKNOWN_SYSCALL, USER_EXCEPTION, VM_FAULT,
};
use ward_abi::message::MessageInfo;
use ward_kernel_objects::tcb::{TcbSlot, ThreadState};
use ward_kernel_objects::{Cap, Tcb};

/// Number of meaningful words for each fault kind.
fn word_count(kind: u64) -> usize {
    match kind {
        CAP_FAULT | UNKNOWN_SYSCALL => 6,
        USER_EXCEPTION => 5,
        VM_FAULT => 4,
        _ => 0,
    }
}

/// The message words of a recorded fault.
pub fn message_words(record: &ThreadExtra) -> &[u64] {
    &record.fault_words[..word_count(record.fault_kind)]
}

/// A short name for logs.
pub fn thread_name(tcb: Tcb) -> &'static str {
    if crate::boot::root_task::is_root_thread(tcb) {
        "root-task"
    } else {
        "user thread"
    }
}

/// Reports a fault of `tcb`: to its fault handler if it has one, otherwise
/// on the console, suspending the thread.
pub fn raise(tcb: Tcb, kind: u64, words: &[u64]) {
    let record = bookkeeping(tcb);
    record.set_fault_kind(kind);
    let mut fault_words = [0; 6];
    fault_words[..words.len()].copy_from_slice(words);
    record.set_fault_words(fault_words);
    let handler = objects().cap(tcb.slot(TcbSlot::FaultEndpoint));
    if let Cap::Endpoint { .. } = handler {
        let info = MessageInfo::new(kind, 0, 0, words.len() as u64);
        if ipc::send(tcb, handler, info, true, SEND_IS_FAULT).is_ok() {
            return;
        }
    }
    report_and_suspend(tcb, kind, words);
}

fn report_and_suspend(tcb: Tcb, kind: u64, words: &[u64]) {
    let name = thread_name(tcb);
    match kind {
        VM_FAULT => {
            let error = words[3];
            let access = if error & 0x10 != 0 {
                "instruction fetch from"
            } else if error & 0x2 != 0 {
                "write to"
            } else {
                "read from"
            };
            let cause = if error & 0x1 == 0 { "not mapped" } else { "not permitted" };
            log::warn!(
                "fault: thread '{name}': page fault (#PF) (vector 14) at rip={:#x}: {access} {:#x} ({cause}), error code {error:#x}; no fault handler; thread suspended",
                words[0], words[1]
            );
        }
        USER_EXCEPTION => log::warn!(
            "fault: thread '{name}': {} (vector {}) at rip={:#x}, error code {:#x}; no fault handler; thread suspended",
            exception_name(words[3]),
            words[3],
            words[0],
            words[4]
        ),
        UNKNOWN_SYSCALL => log::warn!(
            "fault: thread '{name}': unknown syscall {:#x} at rip={:#x}; no fault handler; thread suspended",
            words[3], words[0]
        ),
        _ => log::warn!(
            "fault: thread '{name}': capability fault on CPtr {:#x} at rip={:#x}; no fault handler; thread suspended",
            words[1], words[0]
        ),
    }
    bookkeeping(tcb).set_fault_kind(0);
    thread::suspend(tcb);
}

/// The handler replied to `caller`'s fault with `info` (from `replier`).
pub fn handle_reply(caller: Tcb, replier: Tcb, info: MessageInfo) {
    let record = bookkeeping(caller);
    let kind = record.fault_kind();
    let words = record.fault_words();
    record.set_fault_kind(0);
    let target = registers(caller);
    if info.label() == REPLY_FAIL_SYSCALL && matches!(kind, CAP_FAULT | UNKNOWN_SYSCALL) {
        // Go on after the syscall, which fails.
        if kind == CAP_FAULT {
            target.set_error(
                ward_abi::Error::FailedLookup,
                [words[2], words[3], words[4], words[5]],
            );
        } else {
            target.set_error(ward_abi::Error::UnknownSyscall, [words[3], 0, 0, 0]);
        }
        objects().set_tcb_state(caller, ThreadState::Inactive);
        thread::resume(caller);
        return;
    }
    if info.label() != REPLY_RESUME {
        log::debug!(
            "fault handler left thread '{}' suspended",
            thread_name(caller)
        );
        objects().set_tcb_state(caller, ThreadState::Inactive);
        return;
    }
    let reply = registers(replier).message();
    let mut context = target.read();
    match kind {
        USER_EXCEPTION | UNKNOWN_SYSCALL => {
            let length = (info.length() as usize).min(3);
            if length > 0 {
                context.rip = reply[0];
            }
            if length > 1 {
                context.rsp = reply[1];
            }
            if length > 2 {
                context.rflags = reply[2];
            }
        }
        CAP_FAULT => context.rip = context.rip.wrapping_sub(2), // retry the syscall
        _ => {}                                                 // VM fault: retry the instruction
    }
    thread::sanitise(&mut context);
    target.write(&context);
    objects().set_tcb_state(caller, ThreadState::Inactive);
    thread::resume(caller);
}
