//! Errors every invocation and syscall shares: short messages, missing
//! capability arguments, unknown labels and syscall numbers, and the IPC
//! rules that stop a caller rather than fail it.

use ward_abi::invocation::InvocationLabel;
use ward_userlib::cap::{self, Cap};
use ward_userlib::message::info;
use ward_userlib::{syscall, CapRights, Error};

use super::cnode::ABOVE_ROOT;
use super::{get, new_endpoint, new_notification, set};
use crate::ensure;
use crate::env::Env;
use crate::framework::{Case, Check, Outcome};
use crate::threads::{self, pack, unpack};

pub static CASES: &[Case] = &[
    Case {
        name: "retype_truncated_message",
        run: retype_truncated_message,
    },
    Case {
        name: "retype_without_root_cap",
        run: retype_without_root_cap,
    },
    Case {
        name: "frame_map_without_vspace_cap",
        run: frame_map_without_vspace_cap,
    },
    Case {
        name: "unknown_invocation_label",
        run: unknown_invocation_label,
    },
    Case {
        name: "unknown_syscall_without_handler",
        run: unknown_syscall_without_handler,
    },
    Case {
        name: "tcb_configure_guard_too_wide",
        run: tcb_configure_guard_too_wide,
    },
    Case {
        name: "call_without_grant_reply_stops_caller",
        run: call_without_grant_reply_stops_caller,
    },
    Case {
        name: "bound_notification_pending_answers_recv",
        run: bound_notification_pending_answers_recv,
    },
];

fn retype_truncated_message(env: &mut Env) -> Outcome {
    let e = env
        .pool
        .cap
        .invoke_raw(
            InvocationLabel::UntypedRetype as u64,
            &[2, 0, 0],
            &[env.root.cnode.cptr()],
        )
        .want_err(Error::TruncatedMessage, "retype with 3 of 6 words")?;
    ensure!(
        e.details[0] == 3,
        "missing word reported as {}, expected 3",
        e.details[0]
    );
    Ok(())
}

fn retype_without_root_cap(env: &mut Env) -> Outcome {
    let slot = env.slot();
    let e = env
        .pool
        .cap
        .invoke_raw(
            InvocationLabel::UntypedRetype as u64,
            &[2, 0, 0, 0, slot, 1],
            &[],
        )
        .want_err(Error::InvalidCapability, "retype without its CNode")?;
    // Capability arguments count from 1; 0 is the invoked capability (as in seL4).
    ensure!(
        e.details[0] == 1,
        "capability index {}, expected 1",
        e.details[0]
    );
    Ok(())
}

fn frame_map_without_vspace_cap(env: &mut Env) -> Outcome {
    let frame: cap::Frame4K = env.alloc();
    frame
        .invoke_raw(
            InvocationLabel::FrameMap as u64,
            &[0x2000_0000_0000, 3, 0],
            &[],
        )
        .want_err(Error::InvalidCapability, "frame_map without a VSpace")?;
    Ok(())
}

fn unknown_invocation_label(env: &mut Env) -> Outcome {
    let tcb: cap::Tcb = env.alloc();
    tcb.invoke_raw(0x999, &[], &[])
        .want_err(Error::IllegalOperation, "label 0x999 on a TCB")?;
    tcb.invoke_raw(InvocationLabel::FrameGetAddress as u64, &[], &[])
        .want_err(Error::IllegalOperation, "a frame label on a TCB")?;
    Ok(())
}

fn unknown_syscall_without_handler(_env: &mut Env) -> Outcome {
    let [rax, _, _, rdx, ..] = syscall::raw_syscall6(0x4242, 0, 0, [0; 4]);
    ensure!(
        rax == Error::UnknownSyscall as u64,
        "rax {rax}, expected UnknownSyscall ({})",
        Error::UnknownSyscall as u64
    );
    ensure!(
        rdx == 0x4242,
        "detail 0 is {rdx:#x}, expected the number 0x4242"
    );
    Ok(())
}

fn tcb_configure_guard_too_wide(env: &mut Env) -> Outcome {
    let tcb: cap::Tcb = env.alloc();
    let (frame, vaddr) = env.new_page();
    // 60 guard bits on a 12-bit CNode: more than 64 bits, and over the 58-bit maximum.
    tcb.tcb_configure(0, env.root.cnode, 60, env.root.vspace, 0, vaddr, frame)
        .want_err(Error::InvalidArgument, "a 60-bit guard")?;
    Ok(())
}

/// Helper: signals `unpack(0)`.
fn signaller(argument: u64) {
    let _ = syscall::signal(unpack(argument, 0));
}

/// Helper: calls `unpack(0)`, then marks word 1 with 1 (and word 0 with
/// the error code, if any).
fn caller(argument: u64) {
    let result = syscall::call(unpack(argument, 0), info(3, 1), [9, 0, 0, 0]);
    set(0, result.err().map_or(0, |e| e.error as u64));
    set(1, 1);
}

fn call_without_grant_reply_stops_caller(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let plain = env
        .copy(ep.cptr(), CapRights::READ_WRITE)
        .ctx("copy without grant or grant-reply")?;
    threads::spawn(env, caller, pack(&[plain]), 100).ctx("spawn")?;
    let request = ep.recv().ctx("receive the call")?;
    ensure!(
        request.info.label() == 3 && request.mrs[0] == 9,
        "received {:?}",
        request
    );
    syscall::reply(info(0, 1), [1, 0, 0, 0]).ctx("reply (to no one)")?;
    // Block until a helper below the caller's priority runs: a caller
    // wrongly left runnable would run first.
    let done = new_notification(env);
    threads::spawn(env, signaller, pack(&[done.cptr()]), 50)
        .ctx("spawn the low-priority signaller")?;
    done.wait().ctx("wait")?;
    ensure!(
        get(1) == 0,
        "the caller went on after a Call through a cap without Grant or GrantReply"
    );
    Ok(())
}

fn bound_notification_pending_answers_recv(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let n = new_notification(env);
    let badged = env.mint(n.cptr(), CapRights::ALL, 0x44).ctx("mint")?;
    let helper = threads::create(env, 0, ABOVE_ROOT).ctx("create")?;
    helper.tcb.tcb_bind_notification(n).ctx("bind")?;
    Cap::<cap::cap_type::Notification>::from_cptr(badged)
        .signal()
        .ctx("signal before the receive")?;
    threads::prepare(&helper, pending_receiver, pack(&[ep.cptr()])).ctx("prepare")?;
    helper.tcb.tcb_resume().ctx("resume")?;
    ensure!(get(2) == 1, "the receive did not return at once");
    ensure!(
        get(0) == 0x44 && get(1) == 0,
        "woke with badge {:#x} and label {}",
        get(0),
        get(1)
    );
    Ok(())
}

/// Helper: receives on `unpack(0)`; records badge and label, marks word 2.
fn pending_receiver(argument: u64) {
    if let Ok(r) = syscall::recv(unpack(argument, 0)) {
        set(0, r.badge);
        set(1, r.info.label());
    }
    set(2, 1);
}
