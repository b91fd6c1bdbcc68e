//! Faults as IPC: VM faults, user exceptions, unknown syscalls and
//! capability faults reach the faulting thread's fault endpoint as a call
//! badged with that endpoint capability's badge; the handler resumes the
//! thread (after fixing memory or registers) or leaves it suspended.

use ward_userlib::cap::{self, Cap, UserContext};
use ward_userlib::fault::{label, Fault};
use ward_userlib::ipc_buffer::IpcBuffer;
use ward_userlib::message::info;
use ward_userlib::syscall::{self, Received};
use ward_userlib::CapRights;

use super::cnode::ABOVE_ROOT;
use super::{get, new_endpoint, set};
use crate::env::Env;
use crate::framework::{Case, Check, Outcome, Why};
use crate::threads;
use crate::{ensure, fail};

pub static CASES: &[Case] = &[
    Case {
        name: "vm_fault_read_delivered",
        run: vm_fault_read_delivered,
    },
    Case {
        name: "vm_fault_write_to_read_only",
        run: vm_fault_write_to_read_only,
    },
    Case {
        name: "vm_fault_instruction_fetch",
        run: vm_fault_instruction_fetch,
    },
    Case {
        name: "vm_fault_resolved_by_mapping",
        run: vm_fault_resolved_by_mapping,
    },
    Case {
        name: "user_exception_ud2_resumed_past",
        run: user_exception_ud2_resumed_past,
    },
    Case {
        name: "user_exception_divide_error",
        run: user_exception_divide_error,
    },
    Case {
        name: "unknown_syscall_fault_resumed",
        run: unknown_syscall_fault_resumed,
    },
    Case {
        name: "cap_fault_delivered",
        run: cap_fault_delivered,
    },
    Case {
        name: "cap_fault_reply_fails_the_syscall",
        run: cap_fault_reply_fails_the_syscall,
    },
    Case {
        name: "fault_badge_identifies_thread",
        run: fault_badge_identifies_thread,
    },
    Case {
        name: "fault_handler_writes_registers",
        run: fault_handler_writes_registers,
    },
    Case {
        name: "fault_reply_with_label_leaves_suspended",
        run: fault_reply_with_label_leaves_suspended,
    },
    Case {
        name: "no_fault_endpoint_suspends_thread",
        run: no_fault_endpoint_suspends_thread,
    },
    Case {
        name: "delete_frame_cap_unmaps",
        run: delete_frame_cap_unmaps,
    },
];

/// Helper: marks word 1, reads the word at address `argument`, stores it in
/// word 0, marks word 2.
fn reader(address: u64) {
    set(1, 1);
    // SAFETY: deliberately touches an address that may be unmapped: the
    // fault goes to this thread's fault handler, which either maps it and
    // resumes the thread or never resumes it.
    let value = unsafe { core::ptr::read_volatile(address as *const u64) };
    set(0, value);
    set(2, 1);
}

/// Helper: writes to address `argument`, then marks word 2.
fn writer(address: u64) {
    // SAFETY: as in `reader`; the case maps the page read-only on purpose.
    unsafe { core::ptr::write_volatile(address as *mut u64, 1) };
    set(2, 1);
}

/// Helper: calls address `argument` as code.
fn jumper(address: u64) {
    // SAFETY: deliberately jumps to a non-executable page; the fetch faults
    // and the handler never resumes this thread.
    let code: extern "C" fn() =
        unsafe { core::mem::transmute::<usize, extern "C" fn()>(address as usize) };
    code();
    set(2, 1);
}

/// Helper: executes `ud2` (with r12 = 0 before it), records r12 after it
/// in word 0 and marks word 2.
fn undefined_instruction(_: u64) {
    let r12: u64;
    // SAFETY: `ud2` raises #UD; the handler resumes this thread after the
    // two-byte instruction, possibly with r12 rewritten. Nothing else changes.
    unsafe { core::arch::asm!("xor r12d, r12d", "ud2", out("r12") r12, options(nostack)) };
    set(0, r12);
    set(2, 1);
}

/// Helper: divides by zero.
fn divider(_: u64) {
    // SAFETY: `div` by zero raises #DE; the handler never resumes this thread.
    unsafe {
        core::arch::asm!("xor ecx, ecx", "div rcx", out("rax") _, out("rdx") _, out("rcx") _, options(nostack, nomem));
    }
    set(2, 1);
}

/// Helper: makes syscall 0x999 with arguments 7 and 8, then marks word 2.
fn bad_syscaller(_: u64) {
    syscall::raw_syscall(0x999, 7, 8);
    set(2, 1);
}

/// Helper: calls the empty slot `argument`, then marks word 2.
fn empty_caller(cptr: u64) {
    let _ = syscall::call(cptr, info(0, 0), [0; 4]);
    set(2, 1);
}

/// A fault endpoint with a badge: (endpoint, badged root slot for configure).
fn fault_endpoint(env: &mut Env, badge: u64) -> Result<(cap::Endpoint, u64), Why> {
    let ep = new_endpoint(env);
    let badged = env
        .mint(ep.cptr(), CapRights::ALL, badge)
        .ctx("mint the fault endpoint")?;
    Ok((ep, badged))
}

/// Starts `entry(argument)` above the root task with faults to a fresh
/// endpoint badged `badge`, and receives its fault.
fn fault_of(
    env: &mut Env,
    entry: fn(u64),
    argument: u64,
    badge: u64,
) -> Result<(threads::Thread, Received, Fault), Why> {
    let (ep, badged) = fault_endpoint(env, badge)?;
    let thread =
        threads::spawn_with_fault_ep(env, entry, argument, ABOVE_ROOT, badged).ctx("spawn")?;
    let received = ep.recv().ctx("receive the fault")?;
    let fault = Fault::decode(&received, &IpcBuffer::current());
    ensure!(
        received.badge == badge,
        "fault badge {:#x}, expected {badge:#x} ({fault})",
        received.badge
    );
    Ok((thread, received, fault))
}

/// Replies to the fault just received: label 0 resumes, other labels leave
/// the thread suspended.
fn answer(label: u64, words: &[u64]) -> Outcome {
    syscall::reply(
        info(label, words.len()),
        ward_userlib::message::register_words(words),
    )
    .ctx("reply to the fault")
}

fn vm_fault_read_delivered(env: &mut Env) -> Outcome {
    let (_, received, fault) = fault_of(env, reader, 0x10, 0x1)?;
    ensure!(
        received.info.label() == label::VM_FAULT,
        "label {} ({fault})",
        received.info.label()
    );
    let Fault::VmFault {
        address,
        instruction_fetch,
        error_code,
        rip,
    } = fault
    else {
        fail!("not a VM fault: {fault}")
    };
    ensure!(
        address == 0x10 && !instruction_fetch && error_code & 2 == 0,
        "{fault}"
    );
    ensure!(
        (0x20_0000..0x1_0000_0000).contains(&rip),
        "rip {rip:#x} is not in the program"
    );
    answer(1, &[])
}

fn vm_fault_write_to_read_only(env: &mut Env) -> Outcome {
    let frame: cap::Frame4K = env.alloc();
    let vaddr = env.reserve_scratch(1);
    env.map_root(frame, vaddr, CapRights::READ)
        .ctx("map read-only")?;
    let (_, _, fault) = fault_of(env, writer, vaddr, 0x2)?;
    let Fault::VmFault {
        address,
        error_code,
        ..
    } = fault
    else {
        fail!("not a VM fault: {fault}")
    };
    ensure!(
        address == vaddr && error_code & 0b11 == 0b11,
        "expected a write to a present page at {vaddr:#x}: {fault}"
    );
    answer(1, &[])
}

fn vm_fault_instruction_fetch(env: &mut Env) -> Outcome {
    let (_, vaddr) = env.new_page();
    let (_, _, fault) = fault_of(env, jumper, vaddr, 0x3)?;
    let Fault::VmFault {
        address,
        instruction_fetch,
        ..
    } = fault
    else {
        fail!("not a VM fault: {fault}")
    };
    ensure!(
        address == vaddr && instruction_fetch,
        "expected a fetch from {vaddr:#x}: {fault}"
    );
    answer(1, &[])
}

fn vm_fault_resolved_by_mapping(env: &mut Env) -> Outcome {
    let vaddr = env.reserve_scratch(1);
    let (_, _, fault) = fault_of(env, reader, vaddr + 8, 0x4)?;
    ensure!(
        matches!(fault, Fault::VmFault { address, .. } if address == vaddr + 8),
        "{fault}"
    );
    let frame: cap::Frame4K = env.alloc();
    env.map_root(frame, vaddr, CapRights::READ_WRITE)
        .ctx("map the missing page")?;
    // SAFETY: the page was just mapped read-write.
    unsafe { core::ptr::write_volatile((vaddr + 8) as *mut u64, 0x5a5a) };
    answer(0, &[])?;
    ensure!(
        get(2) == 1 && get(0) == 0x5a5a,
        "the resumed thread read {:#x} (done {})",
        get(0),
        get(2)
    );
    Ok(())
}

fn user_exception_ud2_resumed_past(env: &mut Env) -> Outcome {
    let (_, received, fault) = fault_of(env, undefined_instruction, 0, 0x5)?;
    ensure!(
        received.info.label() == label::USER_EXCEPTION,
        "label {} ({fault})",
        received.info.label()
    );
    let Fault::UserException {
        number,
        rip,
        rsp,
        rflags,
        ..
    } = fault
    else {
        fail!("not a user exception: {fault}")
    };
    ensure!(number == 6, "vector {number}, expected 6 (#UD)");
    answer(0, &[rip + 2, rsp, rflags])?;
    ensure!(get(2) == 1, "the thread did not continue after the ud2");
    Ok(())
}

fn user_exception_divide_error(env: &mut Env) -> Outcome {
    let (_, _, fault) = fault_of(env, divider, 0, 0x6)?;
    ensure!(
        matches!(fault, Fault::UserException { number: 0, .. }),
        "expected vector 0 (#DE): {fault}"
    );
    answer(1, &[])
}

fn unknown_syscall_fault_resumed(env: &mut Env) -> Outcome {
    let (_, received, fault) = fault_of(env, bad_syscaller, 0, 0x7)?;
    ensure!(
        received.info.label() == label::UNKNOWN_SYSCALL,
        "label {} ({fault})",
        received.info.label()
    );
    let Fault::UnknownSyscall {
        number, rdi, rsi, ..
    } = fault
    else {
        fail!("not an unknown syscall: {fault}")
    };
    ensure!(
        number == 0x999 && rdi == 7 && rsi == 8,
        "{fault} with arguments {rdi}, {rsi}"
    );
    answer(0, &[])?;
    ensure!(
        get(2) == 1,
        "the thread did not continue after its unknown syscall"
    );
    Ok(())
}

fn cap_fault_delivered(env: &mut Env) -> Outcome {
    let empty = env.slot();
    let (_, received, fault) = fault_of(env, empty_caller, empty, 0x8)?;
    ensure!(
        received.info.label() == label::CAP_FAULT,
        "label {} ({fault})",
        received.info.label()
    );
    let Fault::CapFault {
        cptr,
        in_receive_phase,
        failure,
        ..
    } = fault
    else {
        fail!("not a cap fault: {fault}")
    };
    ensure!(
        cptr == empty && !in_receive_phase && failure.is_some(),
        "{fault}"
    );
    answer(1, &[])
}

/// Helper: calls the empty slot `argument`, records the error code in
/// word 0, then marks word 2.
fn empty_caller_recording(cptr: u64) {
    let code = match syscall::call(cptr, info(0, 0), [0; 4]) {
        Ok(_) => 0,
        Err(error) => error.error as u64,
    };
    set(0, code);
    set(2, 1);
}

/// A handler answering a capability fault with `REPLY_FAIL_SYSCALL` lets
/// the thread go on, its syscall failing with `FailedLookup`.
fn cap_fault_reply_fails_the_syscall(env: &mut Env) -> Outcome {
    set(0, 0);
    set(2, 0);
    let empty = env.slot();
    let (_, received, fault) = fault_of(env, empty_caller_recording, empty, 0xc)?;
    ensure!(
        received.info.label() == label::CAP_FAULT,
        "label {} ({fault})",
        received.info.label()
    );
    answer(ward_userlib::abi::fault::REPLY_FAIL_SYSCALL, &[])?;
    ensure!(
        get(2) == 1,
        "the thread did not go on after its failed syscall"
    );
    ensure!(
        get(0) == ward_userlib::Error::FailedLookup as u64,
        "the syscall returned {:#x}, not FailedLookup",
        get(0)
    );
    Ok(())
}

fn fault_badge_identifies_thread(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let first = env.mint(ep.cptr(), CapRights::ALL, 0x100).ctx("mint")?;
    let second = env.mint(ep.cptr(), CapRights::ALL, 0x200).ctx("mint")?;
    threads::spawn_with_fault_ep(env, reader, 0x18, ABOVE_ROOT, first).ctx("spawn first")?;
    threads::spawn_with_fault_ep(env, reader, 0x20, ABOVE_ROOT, second).ctx("spawn second")?;
    let mut seen = 0;
    for _ in 0..2 {
        let received = ep.recv().ctx("receive a fault")?;
        let fault = Fault::decode(&received, &IpcBuffer::current());
        match (received.badge, fault) {
            (0x100, Fault::VmFault { address: 0x18, .. })
            | (0x200, Fault::VmFault { address: 0x20, .. }) => seen |= received.badge,
            (badge, fault) => fail!("badge {badge:#x} with {fault}"),
        }
        answer(1, &[])?;
    }
    ensure!(seen == 0x300, "saw badges {seen:#x}");
    Ok(())
}

fn fault_handler_writes_registers(env: &mut Env) -> Outcome {
    let (thread, _, fault) = fault_of(env, undefined_instruction, 0, 0x9)?;
    let mut context = thread
        .tcb
        .tcb_read_registers(false, UserContext::WORDS as u64)
        .ctx("read registers")?;
    ensure!(
        context.rip == fault.rip(),
        "registers say rip {:#x}, the fault {:#x}",
        context.rip,
        fault.rip()
    );
    context.rip += 2;
    context.r12 = 0x5151;
    thread
        .tcb
        .tcb_write_registers(false, UserContext::WORDS as u64, &context)
        .ctx("write registers")?;
    answer(0, &[])?;
    ensure!(
        get(2) == 1 && get(0) == 0x5151,
        "after resuming: r12 {:#x}, done {}",
        get(0),
        get(2)
    );
    Ok(())
}

fn fault_reply_with_label_leaves_suspended(env: &mut Env) -> Outcome {
    let (thread, _, _) = fault_of(env, reader, 0x28, 0xa)?;
    answer(1, &[])?;
    ensure!(
        get(1) == 1 && get(2) == 0,
        "the thread went on after a 'stay suspended' reply"
    );
    // It is suspended, not blocked: resuming retries the read, which faults again.
    let (ep, badged) = fault_endpoint(env, 0xb)?;
    thread
        .tcb
        .tcb_set_space(badged, env.root.cnode, 0, env.root.vspace, 0)
        .ctx("new fault endpoint")?;
    thread.tcb.tcb_resume().ctx("resume")?;
    let received = ep.recv().ctx("receive the second fault")?;
    ensure!(
        received.badge == 0xb,
        "second fault badge {:#x}",
        received.badge
    );
    answer(1, &[])
}

fn no_fault_endpoint_suspends_thread(env: &mut Env) -> Outcome {
    threads::spawn(env, reader, 0x30, ABOVE_ROOT).ctx("spawn")?;
    ensure!(
        get(1) == 1 && get(2) == 0,
        "the thread without a fault handler went on after faulting"
    );
    Ok(())
}

fn delete_frame_cap_unmaps(env: &mut Env) -> Outcome {
    let (frame, _) = env.new_page();
    let copy = env
        .copy(frame.cptr(), CapRights::ALL)
        .ctx("copy the frame cap")?;
    let vaddr = env.reserve_scratch(1);
    env.map_root(Cap::from_cptr(copy), vaddr, CapRights::READ_WRITE)
        .ctx("map the copy")?;
    env.abs(copy).delete().ctx("delete the copy")?;
    let (_, _, fault) = fault_of(env, reader, vaddr, 0xc)?;
    ensure!(
        matches!(fault, Fault::VmFault { address, .. } if address == vaddr),
        "expected a fault at {vaddr:#x}: {fault}"
    );
    answer(1, &[])
}
