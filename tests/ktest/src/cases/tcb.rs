//! Thread control blocks: configure, priorities and MCP, reading and
//! writing registers, suspend and resume, IPC buffer and space changes.

use ward_abi::invocation::InvocationLabel;
use ward_userlib::cap::{self, UserContext};
use ward_userlib::{syscall, Error};

use super::{add, get, new_endpoint, new_notification, set, yield_times};
use crate::ensure;
use crate::env::Env;
use crate::framework::{Case, Check, Outcome};
use crate::threads::{self, pack, unpack, ROOT_PRIORITY};

pub static CASES: &[Case] = &[
    Case {
        name: "tcb_configure_and_resume_runs_thread",
        run: tcb_configure_and_resume_runs_thread,
    },
    Case {
        name: "tcb_configure_bad_cspace",
        run: tcb_configure_bad_cspace,
    },
    Case {
        name: "tcb_configure_bad_vspace",
        run: tcb_configure_bad_vspace,
    },
    Case {
        name: "tcb_configure_misaligned_ipc_buffer",
        run: tcb_configure_misaligned_ipc_buffer,
    },
    Case {
        name: "tcb_configure_bad_fault_endpoint",
        run: tcb_configure_bad_fault_endpoint,
    },
    Case {
        name: "tcb_resume_unconfigured",
        run: tcb_resume_unconfigured,
    },
    Case {
        name: "tcb_set_priority_within_mcp",
        run: tcb_set_priority_within_mcp,
    },
    Case {
        name: "tcb_set_priority_above_authority_mcp",
        run: tcb_set_priority_above_authority_mcp,
    },
    Case {
        name: "tcb_set_mcp_above_authority_mcp",
        run: tcb_set_mcp_above_authority_mcp,
    },
    Case {
        name: "tcb_set_priority_bad_authority",
        run: tcb_set_priority_bad_authority,
    },
    Case {
        name: "tcb_set_priority_256",
        run: tcb_set_priority_256,
    },
    Case {
        name: "tcb_write_then_read_registers",
        run: tcb_write_then_read_registers,
    },
    Case {
        name: "tcb_read_registers_count",
        run: tcb_read_registers_count,
    },
    Case {
        name: "tcb_copy_registers",
        run: tcb_copy_registers,
    },
    Case {
        name: "tcb_write_registers_and_resume",
        run: tcb_write_registers_and_resume,
    },
    Case {
        name: "tcb_own_registers_refused",
        run: tcb_own_registers_refused,
    },
    Case {
        name: "tcb_write_registers_truncated",
        run: tcb_write_registers_truncated,
    },
    Case {
        name: "tcb_suspend_stops_thread",
        run: tcb_suspend_stops_thread,
    },
    Case {
        name: "tcb_delete_destroys_thread",
        run: tcb_delete_destroys_thread,
    },
    Case {
        name: "tcb_set_ipc_buffer",
        run: tcb_set_ipc_buffer,
    },
    Case {
        name: "tcb_set_space",
        run: tcb_set_space,
    },
];

/// Helper: writes `unpack(1)` to shared word 0 and signals `unpack(0)`.
fn reporter(argument: u64) {
    set(0, unpack(argument, 1));
    let _ = syscall::signal(unpack(argument, 0));
}

/// Helper: counts in shared word 0 forever.
pub fn spinner(_: u64) {
    loop {
        add(0, 1);
        core::hint::spin_loop();
    }
}

fn tcb_configure_and_resume_runs_thread(env: &mut Env) -> Outcome {
    let done = new_notification(env);
    threads::spawn(env, reporter, pack(&[done.cptr(), 0xabc]), 100).ctx("spawn")?;
    done.wait().ctx("wait")?;
    ensure!(get(0) == 0xabc, "the thread wrote {:#x}", get(0));
    Ok(())
}

/// A TCB and a mapped IPC buffer frame for the configure cases.
fn parts(env: &mut Env) -> (cap::Tcb, cap::Frame4K, u64) {
    let tcb: cap::Tcb = env.alloc();
    let (frame, vaddr) = env.new_page();
    (tcb, frame, vaddr)
}

fn tcb_configure_bad_cspace(env: &mut Env) -> Outcome {
    let (tcb, frame, vaddr) = parts(env);
    let ep = new_endpoint(env);
    tcb.tcb_configure(0, ep.cast(), 0, env.root.vspace, 0, vaddr, frame)
        .want_err(Error::InvalidCapability, "an endpoint as CSpace root")?;
    Ok(())
}

fn tcb_configure_bad_vspace(env: &mut Env) -> Outcome {
    let (tcb, frame, vaddr) = parts(env);
    tcb.tcb_configure(0, env.root.cnode, 0, env.root.cnode.cast(), 0, vaddr, frame)
        .want_err(Error::InvalidCapability, "a CNode as VSpace root")?;
    Ok(())
}

fn tcb_configure_misaligned_ipc_buffer(env: &mut Env) -> Outcome {
    let (tcb, frame, vaddr) = parts(env);
    tcb.tcb_configure(0, env.root.cnode, 0, env.root.vspace, 0, vaddr + 8, frame)
        .want_err(Error::AlignmentError, "IPC buffer at +8")?;
    Ok(())
}

fn tcb_configure_bad_fault_endpoint(env: &mut Env) -> Outcome {
    let (tcb, frame, vaddr) = parts(env);
    let n = new_notification(env);
    let e = tcb
        .tcb_configure(
            n.cptr(),
            env.root.cnode,
            0,
            env.root.vspace,
            0,
            vaddr,
            frame,
        )
        .want_err(Error::InvalidArgument, "a notification as fault endpoint")?;
    ensure!(
        e.argument_index() == Some(0),
        "argument {:?}, expected 0 (fault_ep)",
        e.argument_index()
    );
    Ok(())
}

fn tcb_resume_unconfigured(env: &mut Env) -> Outcome {
    let tcb: cap::Tcb = env.alloc();
    tcb.tcb_resume()
        .want_err(Error::IllegalOperation, "resume without a VSpace")?;
    Ok(())
}

fn tcb_set_priority_within_mcp(env: &mut Env) -> Outcome {
    let tcb: cap::Tcb = env.alloc();
    tcb.tcb_set_priority(env.root.tcb, 255)
        .ctx("priority 255 with the root task's MCP 255")?;
    tcb.tcb_set_priority(env.root.tcb, 0).ctx("priority 0")?;
    tcb.tcb_set_mc_priority(env.root.tcb, 77).ctx("MCP 77")?;
    Ok(())
}

/// A TCB whose MCP is 50, to act as a weak authority.
fn weak_authority(env: &mut Env) -> Result<cap::Tcb, crate::framework::Why> {
    let weak: cap::Tcb = env.alloc();
    weak.tcb_set_sched_params(env.root.tcb, 50, 50)
        .ctx("set MCP 50")?;
    Ok(weak)
}

fn tcb_set_priority_above_authority_mcp(env: &mut Env) -> Outcome {
    let weak = weak_authority(env)?;
    let target: cap::Tcb = env.alloc();
    target
        .tcb_set_priority(weak, 50)
        .ctx("priority 50 with MCP 50")?;
    let e = target
        .tcb_set_priority(weak, 51)
        .want_err(Error::RangeError, "priority 51 with MCP 50")?;
    ensure!(
        e.valid_range() == Some((0, 50)),
        "range {:?}, expected 0..=50",
        e.valid_range()
    );
    Ok(())
}

fn tcb_set_mcp_above_authority_mcp(env: &mut Env) -> Outcome {
    let weak = weak_authority(env)?;
    weak.tcb_set_mc_priority(weak, 60)
        .want_err(Error::RangeError, "a thread raising its own MCP")?;
    let target: cap::Tcb = env.alloc();
    target
        .tcb_set_mc_priority(weak, 51)
        .want_err(Error::RangeError, "MCP 51 with MCP 50")?;
    Ok(())
}

fn tcb_set_priority_bad_authority(env: &mut Env) -> Outcome {
    let target: cap::Tcb = env.alloc();
    let ep = new_endpoint(env);
    target
        .tcb_set_priority(ep.cast(), 10)
        .want_err(Error::InvalidCapability, "an endpoint as authority")?;
    Ok(())
}

fn tcb_set_priority_256(env: &mut Env) -> Outcome {
    let target: cap::Tcb = env.alloc();
    target
        .tcb_set_priority(env.root.tcb, 256)
        .want_err(Error::RangeError, "priority 256")?;
    Ok(())
}

fn tcb_write_then_read_registers(env: &mut Env) -> Outcome {
    let thread = threads::create(env, 0, 100).ctx("create")?;
    let context = UserContext {
        rip: 0x20_1000,
        rsp: 0x7000_0000,
        rbx: 1,
        r12: 0x1212,
        r15: 0x1515,
        rflags: 0x202,
        ..Default::default()
    };
    thread
        .tcb
        .tcb_write_registers(false, UserContext::WORDS as u64, &context)
        .ctx("write")?;
    let read = thread
        .tcb
        .tcb_read_registers(false, UserContext::WORDS as u64)
        .ctx("read")?;
    ensure!(
        read.rip == context.rip
            && read.rsp == context.rsp
            && read.rbx == 1
            && read.r12 == 0x1212
            && read.r15 == 0x1515,
        "read back {:?}",
        read
    );
    Ok(())
}

/// copy_registers: the frame and integer groups copy separately, and the
/// same thread cannot be both source and target.
fn tcb_copy_registers(env: &mut Env) -> Outcome {
    let source = threads::create(env, 0, 100).ctx("create the source")?;
    let target = threads::create(env, 0, 100).ctx("create the target")?;
    let from = UserContext {
        rip: 0x20_3000,
        rsp: 0x7000_2000,
        rax: 7,
        rbp: 9,
        r8: 0x88,
        r15: 0x1515,
        rflags: 0x202,
        ..Default::default()
    };
    source
        .tcb
        .tcb_write_registers(false, UserContext::WORDS as u64, &from)
        .ctx("write the source")?;
    let before = UserContext {
        rip: 0x20_4000,
        rsp: 0x7000_3000,
        rax: 1,
        rbp: 2,
        r8: 3,
        r15: 4,
        rflags: 0x202,
        ..Default::default()
    };
    target
        .tcb
        .tcb_write_registers(false, UserContext::WORDS as u64, &before)
        .ctx("write the target")?;
    target
        .tcb
        .tcb_copy_registers(source.tcb, false, false, true, false)
        .ctx("copy the frame registers")?;
    let read = target
        .tcb
        .tcb_read_registers(false, UserContext::WORDS as u64)
        .ctx("read the target")?;
    ensure!(
        read.rip == from.rip && read.rsp == from.rsp && read.rax == 7 && read.rbp == 9,
        "frame not copied: {:?}",
        read
    );
    ensure!(
        read.r8 == 3 && read.r15 == 4,
        "integer registers copied too: {:?}",
        read
    );
    target
        .tcb
        .tcb_copy_registers(source.tcb, false, false, false, true)
        .ctx("copy the integer registers")?;
    let read = target
        .tcb
        .tcb_read_registers(false, UserContext::WORDS as u64)
        .ctx("read the target again")?;
    ensure!(
        read.r8 == 0x88 && read.r15 == 0x1515,
        "integer registers not copied: {:?}",
        read
    );
    target
        .tcb
        .tcb_copy_registers(target.tcb, false, false, true, true)
        .want_err(Error::IllegalOperation, "copy from itself")?;
    Ok(())
}

fn tcb_read_registers_count(env: &mut Env) -> Outcome {
    let thread = threads::create(env, 0, 100).ctx("create")?;
    let context = UserContext {
        rip: 0x20_2000,
        rsp: 0x7000_1000,
        rax: 5,
        ..Default::default()
    };
    thread
        .tcb
        .tcb_write_registers(false, UserContext::WORDS as u64, &context)
        .ctx("write")?;
    let read = thread.tcb.tcb_read_registers(false, 2).ctx("read 2")?;
    ensure!(
        read.rip == context.rip && read.rsp == context.rsp && read.rax == 0,
        "read {:?}",
        read
    );
    Ok(())
}

fn tcb_write_registers_and_resume(env: &mut Env) -> Outcome {
    let done = new_notification(env);
    let thread = threads::create(env, 0, 100).ctx("create")?;
    threads::prepare(&thread, reporter, pack(&[done.cptr(), 0x77])).ctx("prepare")?;
    // Resume through write_registers' own flag: rewrite rdi with a new argument.
    let mut context = thread
        .tcb
        .tcb_read_registers(false, UserContext::WORDS as u64)
        .ctx("read")?;
    context.rdi = pack(&[done.cptr(), 0x99]);
    thread
        .tcb
        .tcb_write_registers(true, UserContext::WORDS as u64, &context)
        .ctx("write and resume")?;
    done.wait().ctx("wait")?;
    ensure!(
        get(0) == 0x99,
        "the thread saw argument {:#x}, expected the rewritten 0x99",
        get(0)
    );
    Ok(())
}

fn tcb_own_registers_refused(env: &mut Env) -> Outcome {
    env.root
        .tcb
        .tcb_read_registers(false, 2)
        .want_err(Error::IllegalOperation, "reading my own registers")?;
    env.root
        .tcb
        .tcb_write_registers(false, 2, &UserContext::default())
        .want_err(Error::IllegalOperation, "writing my own registers")?;
    Ok(())
}

fn tcb_write_registers_truncated(env: &mut Env) -> Outcome {
    let thread = threads::create(env, 0, 100).ctx("create")?;
    thread
        .tcb
        .invoke_raw(InvocationLabel::TcbWriteRegisters as u64, &[0, 0, 18], &[])
        .want_err(Error::TruncatedMessage, "18 registers announced, none sent")?;
    Ok(())
}

fn tcb_suspend_stops_thread(env: &mut Env) -> Outcome {
    let spinner_thread = threads::spawn(env, spinner, 0, ROOT_PRIORITY).ctx("spawn")?;
    yield_times(3);
    ensure!(
        get(0) > 0,
        "the spinner at the root task's priority never ran"
    );
    spinner_thread.tcb.tcb_suspend().ctx("suspend")?;
    let stopped_at = get(0);
    yield_times(3);
    ensure!(get(0) == stopped_at, "the suspended spinner kept counting");
    spinner_thread.tcb.tcb_resume().ctx("resume")?;
    yield_times(3);
    ensure!(get(0) > stopped_at, "the resumed spinner did not count on");
    Ok(())
}

fn tcb_delete_destroys_thread(env: &mut Env) -> Outcome {
    let spinner_thread = threads::spawn(env, spinner, 0, ROOT_PRIORITY).ctx("spawn")?;
    yield_times(2);
    env.abs(spinner_thread.tcb.cptr())
        .delete()
        .ctx("delete the TCB")?;
    let stopped_at = get(0);
    yield_times(3);
    ensure!(
        get(0) == stopped_at,
        "the spinner ran on after its TCB was deleted"
    );
    Ok(())
}

fn tcb_set_ipc_buffer(env: &mut Env) -> Outcome {
    let (tcb, frame, vaddr) = parts(env);
    tcb.tcb_set_ipc_buffer(vaddr + 100, frame)
        .want_err(Error::AlignmentError, "misaligned")?;
    tcb.tcb_set_ipc_buffer(vaddr + 1024, frame)
        .ctx("at +1 KiB")?;
    Ok(())
}

fn tcb_set_space(env: &mut Env) -> Outcome {
    let tcb: cap::Tcb = env.alloc();
    let ep = new_endpoint(env);
    tcb.tcb_set_space(ep.cptr(), env.root.cnode, 0, env.root.vspace, 0)
        .ctx("set space")?;
    tcb.tcb_set_space(0, ep.cast(), 0, env.root.vspace, 0)
        .want_err(Error::InvalidCapability, "endpoint as CSpace")?;
    Ok(())
}
