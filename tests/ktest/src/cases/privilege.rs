//! Least privilege: what a capability's rights allow on a TCB (Read: its
//! registers; Write: running it; Grant: installing capabilities in it),
//! the frame an IPC buffer may live in (writable RAM only), the execute
//! right a mapping needs to be executable, the declared kinds of
//! capability arguments, and two threads sharing one IPC buffer.

use ward_abi::invocation::InvocationLabel;
use ward_abi::object::ObjectType;
use ward_userlib::cap::{self, Cap, UserContext, VmAttributes};
use ward_userlib::ipc_buffer::IpcBuffer;
use ward_userlib::message;
use ward_userlib::syscall::{self, debug_cap_identify};
use ward_userlib::{CapRights, Error, InvocationError};

use super::cnode::ABOVE_ROOT;
use super::{get, new_endpoint, new_notification, set};
use crate::ensure;
use crate::env::Env;
use crate::framework::{Case, Check, Outcome, Why};
use crate::threads::{self, pack, unpack};

pub static CASES: &[Case] = &[
    Case {
        name: "ipc_buffer_read_only_frame_refused",
        run: ipc_buffer_read_only_frame_refused,
    },
    Case {
        name: "ipc_buffer_device_frame_refused",
        run: ipc_buffer_device_frame_refused,
    },
    Case {
        name: "tcb_without_grant_installs_nothing",
        run: tcb_without_grant_installs_nothing,
    },
    Case {
        name: "tcb_without_write_cannot_run_it",
        run: tcb_without_write_cannot_run_it,
    },
    Case {
        name: "tcb_without_read_cannot_read_it",
        run: tcb_without_read_cannot_read_it,
    },
    Case {
        name: "frame_map_execute_needs_execute_right",
        run: frame_map_execute_needs_execute_right,
    },
    Case {
        name: "cap_argument_kind_and_rights_checked",
        run: cap_argument_kind_and_rights_checked,
    },
    Case {
        name: "unmap_label_belongs_to_its_object",
        run: unmap_label_belongs_to_its_object,
    },
    Case {
        name: "shared_ipc_buffer_between_two_threads",
        run: shared_ipc_buffer_between_two_threads,
    },
];

/// Expects `InvalidCapability` with detail `index` (0: the invoked cap,
/// `i + 1`: capability argument `i`).
fn want_cap_error<T>(
    result: Result<T, InvocationError>,
    index: u64,
    what: &str,
) -> Result<(), Why> {
    let e = result.want_err(Error::InvalidCapability, what)?;
    ensure!(
        e.details[0] == index,
        "{what}: capability index {}, expected {index}",
        e.details[0]
    );
    Ok(())
}

/// A TCB configured to run in the root task's spaces (never started).
fn configured_tcb(env: &mut Env) -> Result<(cap::Tcb, cap::Frame4K, u64), Why> {
    let tcb: cap::Tcb = env.alloc();
    let (frame, vaddr) = env.new_page();
    tcb.tcb_configure(0, env.root.cnode, 0, env.root.vspace, 0, vaddr, frame)
        .ctx("configure")?;
    Ok((tcb, frame, vaddr))
}

fn ipc_buffer_read_only_frame_refused(env: &mut Env) -> Outcome {
    let (tcb, frame, vaddr) = configured_tcb(env)?;
    let read_only: cap::Frame4K = Cap::from_cptr(
        env.copy(frame.cptr(), CapRights::READ)
            .ctx("read-only copy")?,
    );
    want_cap_error(
        tcb.tcb_set_ipc_buffer(vaddr, read_only),
        1,
        "tcb_set_ipc_buffer with a read-only frame",
    )?;
    want_cap_error(
        tcb.tcb_configure(0, env.root.cnode, 0, env.root.vspace, 0, vaddr, read_only),
        3,
        "tcb_configure with a read-only IPC buffer frame",
    )?;
    // The writable frame is still accepted.
    tcb.tcb_set_ipc_buffer(vaddr, frame)
        .ctx("tcb_set_ipc_buffer with the writable frame")?;
    Ok(())
}

fn ipc_buffer_device_frame_refused(env: &mut Env) -> Outcome {
    let Some(device) = env.device else {
        return Err(Why::new(format_args!(
            "the kernel gave no device untyped of 4 KiB or more"
        )));
    };
    let (tcb, _, vaddr) = configured_tcb(env)?;
    let slot = env
        .retype_from(device.cap, ObjectType::Frame4K, 0)
        .ctx("a frame of device memory")?;
    let registers: cap::Frame4K = Cap::from_cptr(slot);
    ensure!(
        debug_cap_identify(slot)
            .rights
            .contains(CapRights::READ_WRITE),
        "the device frame should have every right"
    );
    want_cap_error(
        tcb.tcb_set_ipc_buffer(vaddr, registers),
        1,
        "tcb_set_ipc_buffer with a device frame",
    )?;
    Ok(())
}

fn tcb_without_grant_installs_nothing(env: &mut Env) -> Outcome {
    let (tcb, frame, vaddr) = configured_tcb(env)?;
    let ep = new_endpoint(env);
    let no_grant: cap::Tcb = Cap::from_cptr(
        env.copy(tcb.cptr(), CapRights::READ_WRITE)
            .ctx("copy without grant")?,
    );
    want_cap_error(
        no_grant.tcb_configure(
            ep.cptr(),
            env.root.cnode,
            0,
            env.root.vspace,
            0,
            vaddr,
            frame,
        ),
        0,
        "tcb_configure without grant",
    )?;
    want_cap_error(
        no_grant.tcb_set_space(ep.cptr(), env.root.cnode, 0, env.root.vspace, 0),
        0,
        "tcb_set_space without grant",
    )?;
    want_cap_error(
        no_grant.tcb_set_space(0, env.root.cnode, 0, env.root.vspace, 0),
        0,
        "removing the fault endpoint without grant",
    )?;
    want_cap_error(
        no_grant.tcb_set_ipc_buffer(vaddr, frame),
        0,
        "tcb_set_ipc_buffer without grant",
    )?;
    // What it may still do: run the thread.
    no_grant
        .tcb_set_priority(env.root.tcb, 10)
        .ctx("set priority through the copy")?;
    // And the full cap still installs.
    tcb.tcb_set_space(ep.cptr(), env.root.cnode, 0, env.root.vspace, 0)
        .ctx("tcb_set_space with grant")?;
    Ok(())
}

fn tcb_without_write_cannot_run_it(env: &mut Env) -> Outcome {
    let (tcb, _, _) = configured_tcb(env)?;
    let read_only: cap::Tcb = Cap::from_cptr(
        env.copy(tcb.cptr(), CapRights::READ)
            .ctx("read-only copy")?,
    );
    let n = new_notification(env);
    want_cap_error(read_only.tcb_resume(), 0, "resume without write")?;
    want_cap_error(read_only.tcb_suspend(), 0, "suspend without write")?;
    want_cap_error(
        read_only.tcb_set_priority(env.root.tcb, 10),
        0,
        "set priority without write",
    )?;
    want_cap_error(
        read_only.tcb_bind_notification(n),
        0,
        "bind a notification without write",
    )?;
    want_cap_error(
        read_only.tcb_write_registers(false, 1, &UserContext::default()),
        0,
        "write registers without write",
    )?;
    want_cap_error(
        read_only.tcb_read_registers(true, 1),
        0,
        "read registers and suspend without write",
    )?;
    // Reading alone is what Read allows; so is serving as an authority.
    read_only
        .tcb_read_registers(false, 1)
        .ctx("read registers with read")?;
    tcb.tcb_set_priority(read_only, 0)
        .ctx("a read-only TCB as the authority (its MCP is 0)")?;
    Ok(())
}

fn tcb_without_read_cannot_read_it(env: &mut Env) -> Outcome {
    let (tcb, _, _) = configured_tcb(env)?;
    let write_only: cap::Tcb = Cap::from_cptr(
        env.copy(tcb.cptr(), CapRights::WRITE)
            .ctx("write-only copy")?,
    );
    want_cap_error(
        write_only.tcb_read_registers(false, 1),
        0,
        "read registers without read",
    )?;
    want_cap_error(write_only.tcb_get_cpu_time(), 0, "CPU time without read")?;
    // Copying registers needs Read on the source (argument 0).
    let target: cap::Tcb = env.alloc();
    want_cap_error(
        target.tcb_copy_registers(write_only, false, false, true, true),
        1,
        "copy registers from a source without read",
    )?;
    Ok(())
}

/// Where the standalone VSpaces of these cases map frames.
const SPOT: u64 = 0x0000_2000_0000_0000;

fn frame_map_execute_needs_execute_right(env: &mut Env) -> Outcome {
    let frame: cap::Frame4K = env.alloc();
    ensure!(
        debug_cap_identify(frame.cptr()).rights == CapRights::ALL,
        "a retyped frame has every right, execute included"
    );
    // A VSpace of its own (never run), with a page table for both pages.
    let (first, second) = (SPOT, SPOT + 0x1000);
    let pml4: cap::Pml4 = env.alloc();
    let mut tables = crate::env::Tables::new(pml4);
    env.ensure_tables(&mut tables, first).ctx("tables")?;
    let no_execute: cap::Frame4K = Cap::from_cptr(
        env.copy(frame.cptr(), CapRights::READ)
            .ctx("copy without execute")?,
    );
    want_cap_error(
        no_execute.frame_map(pml4, first, CapRights::READ, VmAttributes::EXECUTABLE),
        0,
        "an executable mapping without the execute right",
    )?;
    no_execute
        .frame_map(pml4, first, CapRights::READ, VmAttributes::DEFAULT)
        .ctx("the same copy mapped without execute")?;
    let code: cap::Frame4K = Cap::from_cptr(
        env.copy(frame.cptr(), CapRights::READ_EXECUTE)
            .ctx("copy with execute")?,
    );
    code.frame_map(pml4, second, CapRights::READ, VmAttributes::EXECUTABLE)
        .ctx("an executable mapping with the execute right")?;
    Ok(())
}

fn cap_argument_kind_and_rights_checked(env: &mut Env) -> Outcome {
    // A notification the handler may only wait on cannot be bound to an
    // IRQ-style consumer that signals it: irq_handler_set_notification and
    // io_space_set_fault_notification need Write. Binding needs Read.
    let (tcb, _, _) = configured_tcb(env)?;
    let n = new_notification(env);
    let write_only = env.copy(n.cptr(), CapRights::WRITE).ctx("copy")?;
    want_cap_error(
        tcb.tcb_bind_notification(Cap::from_cptr(write_only)),
        1,
        "binding a notification without read",
    )?;
    // A capability argument of the wrong kind names that argument.
    let ep = new_endpoint(env);
    let e = tcb
        .invoke_raw(InvocationLabel::TcbSetPriority as u64, &[1], &[ep.cptr()])
        .want_err(Error::InvalidCapability, "an endpoint as authority")?;
    let text = Why::new(format_args!("{e}"));
    ensure!(
        text.as_str().contains("capability argument 0 (authority)"),
        "the error does not name the argument: {e}"
    );
    Ok(())
}

fn unmap_label_belongs_to_its_object(env: &mut Env) -> Outcome {
    let (frame, _) = env.new_page();
    frame
        .invoke_raw(InvocationLabel::PageTableUnmap as u64, &[], &[])
        .want_err(Error::IllegalOperation, "a page-table label on a frame")?;
    Ok(())
}

/// The words of the client's message and of the server's reply.
const REQUEST_WORDS: usize = 12;
const REPLY_WORDS: usize = 8;

fn request_word(index: usize) -> u64 {
    0x1000 + index as u64 * 3
}

fn reply_word(index: usize) -> u64 {
    0x2000 + index as u64 * 5
}

/// Helper: receives one call on `unpack(0)`, records in word 0 whether its
/// words were the request's, answers with the reply's words.
fn shared_buffer_server(argument: u64) {
    let Ok(request) = syscall::recv(unpack(argument, 0)) else {
        return;
    };
    let buffer = IpcBuffer::current();
    let intact = request.info.length() as usize == REQUEST_WORDS
        && (0..REQUEST_WORDS)
            .all(|i| message::received_word(&buffer, &request.mrs, i) == request_word(i));
    set(0, 1 + u64::from(intact));
    let words: [u64; REPLY_WORDS] = core::array::from_fn(reply_word);
    if let Ok((info, mrs)) = message::prepare(&buffer, 0, &words, &[]) {
        let _ = syscall::reply(info, mrs);
    }
}

/// Helper: calls `unpack(0)` with the request; records in word 1 whether
/// the reply's words came back.
fn shared_buffer_client(argument: u64) {
    let ep: cap::Endpoint = Cap::from_cptr(unpack(argument, 0));
    let words: [u64; REQUEST_WORDS] = core::array::from_fn(request_word);
    let result = ep.call_message(1, &words, &[]);
    let buffer = IpcBuffer::current();
    let intact = matches!(result, Ok(reply) if reply.info.length() as usize == REPLY_WORDS
        && (0..REPLY_WORDS).all(|i| message::received_word(&buffer, &reply.mrs, i) == reply_word(i)));
    set(1, 1 + u64::from(intact));
}

/// Two threads registered with the same IPC buffer: the kernel copies a
/// message from the buffer onto itself without harm (it never holds two
/// references to one buffer), so each still receives what the other sent.
fn shared_ipc_buffer_between_two_threads(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let (frame, shared) = env.new_page();
    let mut server = threads::create(env, 0, ABOVE_ROOT).ctx("server")?;
    let mut client = threads::create(env, 0, ABOVE_ROOT).ctx("client")?;
    for thread in [&mut server, &mut client] {
        thread
            .tcb
            .tcb_set_ipc_buffer(shared, frame)
            .ctx("register the shared buffer")?;
        thread.ipc_buffer = shared;
    }
    threads::prepare(&server, shared_buffer_server, pack(&[ep.cptr()])).ctx("prepare")?;
    threads::prepare(&client, shared_buffer_client, pack(&[ep.cptr()])).ctx("prepare")?;
    server.tcb.tcb_resume().ctx("resume the server")?;
    client.tcb.tcb_resume().ctx("resume the client")?;
    ensure!(
        get(0) == 2,
        "the server received the wrong words ({})",
        get(0)
    );
    ensure!(
        get(1) == 2,
        "the client received the wrong reply ({})",
        get(1)
    );
    Ok(())
}
