//! TCB invocations: configuring a thread (its CSpace, VSpace, IPC buffer
//! and fault endpoint, installed as capability copies in the TCB's own
//! slots), its priorities, its registers, suspend and resume, and its bound
//! notification.
//!
//! A TCB capability's rights split what its holder may do (declared per
//! invocation in `ward_abi::invocation`): Read to read the registers, Write
//! to run the thread (suspend, resume, registers, priorities, notification),
//! Grant to install capabilities in it. A component holds its own TCB
//! without Grant, so it can neither point its faults elsewhere nor change
//! its CSpace, VSpace or IPC buffer (docs/kernel.md, "What a component may
//! do with its own TCB, CNode and VSpace").
use crate::arch::x86_64::trap::UserContext;
use crate::invocation::{done, reply, Argument, Message, Outcome};
use crate::kobj::{objects, registers, KernelHooks};
use crate::user_memory::can_hold_ipc_buffer;
use crate::{thread, vspace};
use ward_abi::invocation::{args, InvocationLabel as Label};
use ward_abi::message::IPC_BUFFER_BITS;
use ward_abi::rights::CapRights;
use ward_kernel_objects::cnode_ops::decode_guard;
use ward_kernel_objects::tcb::{field, TcbSlot, ThreadState};
use ward_kernel_objects::{Cap, Completion, InvocationError, LookupSide, Slot, Tcb};

/// Runs TCB invocation `label` on the TCB capability `cap`.
pub fn invoke(message: &Message, label: Label, cap: Cap) -> Result<Outcome, InvocationError> {
    let Cap::Tcb { object, rights } = cap else {
        return Err(InvocationError::invalid_capability(
            0,
            "not a TCB capability",
        ));
    };
    let target = Tcb(object);
    let objects = objects();
    // What reads or replaces a thread's registers or spaces needs it not
    // to be running: one running on another core stops there first.
    if matches!(
        label,
        Label::TcbConfigure
            | Label::TcbSetSpace
            | Label::TcbSetIpcBuffer
            | Label::TcbReadRegisters
            | Label::TcbWriteRegisters
            | Label::TcbCopyRegisters
            | Label::TcbSuspend
    ) {
        crate::smp::stall(target);
    }
    match label {
        Label::TcbConfigure => {
            let a: args::TcbConfigure<_> = message.decode()?;
            let space = Space {
                fault_ep: a.fault_ep,
                cspace_root: a.cspace_root,
                cspace_root_data: a.cspace_root_data,
                vspace_root: a.vspace_root,
            };
            let buffer = IpcBufferSetting {
                vaddr: a.ipc_buffer,
                frame: a.ipc_buffer_frame,
            };
            completion(set_space(message, target, space, Some(buffer))?)
        }
        Label::TcbSetSpace => {
            let a: args::TcbSetSpace<_> = message.decode()?;
            let space = Space {
                fault_ep: a.fault_ep,
                cspace_root: a.cspace_root,
                cspace_root_data: a.cspace_root_data,
                vspace_root: a.vspace_root,
            };
            completion(set_space(message, target, space, None)?)
        }
        Label::TcbSetIpcBuffer => {
            let a: args::TcbSetIpcBuffer<_> = message.decode()?;
            let buffer = IpcBufferSetting {
                vaddr: a.ipc_buffer,
                frame: a.frame,
            };
            buffer.check()?;
            completion(buffer.install(target)?)
        }
        Label::TcbSetPriority => {
            let a: args::TcbSetPriority<_> = message.decode()?;
            let priority = objects.check_priority(authority(a.authority)?, a.priority)?;
            crate::sched::set_priority(target, priority);
            done()
        }
        Label::TcbSetMcPriority => {
            let a: args::TcbSetMcPriority<_> = message.decode()?;
            let mcp = objects.check_priority(authority(a.authority)?, a.mcp)?;
            objects.set_tcb_mcp(target, mcp);
            done()
        }
        Label::TcbSetSchedParams => {
            let a: args::TcbSetSchedParams<_> = message.decode()?;
            let authority = authority(a.authority)?;
            // Both are checked before either is set.
            let mcp = objects.check_priority(authority, a.mcp)?;
            let priority = objects.check_priority(authority, a.priority)?;
            objects.set_tcb_mcp(target, mcp);
            crate::sched::set_priority(target, priority);
            done()
        }
        Label::TcbReadRegisters => {
            let a: args::TcbReadRegisters = message.decode()?;
            if target == message.caller {
                return Err(InvocationError::illegal(
                    "a thread cannot read its own registers this way",
                ));
            }
            let suspend = a.flags & 1 != 0;
            if suspend && !rights.contains(CapRights::WRITE) {
                return Err(InvocationError::invalid_capability(
                    0,
                    "suspending the thread needs the write right",
                ));
            }
            let count = (a.count as usize).min(REGISTER_COUNT);
            if suspend {
                thread::suspend(target);
            }
            reply(&read_registers(target)[..count])
        }
        Label::TcbWriteRegisters => {
            let a: args::TcbWriteRegisters = message.decode()?;
            if target == message.caller {
                return Err(InvocationError::illegal(
                    "a thread cannot write its own registers this way",
                ));
            }
            let count = (a.count as usize).min(REGISTER_COUNT);
            let first = Label::TcbWriteRegisters.declaration().words.len();
            let mut values = read_registers(target);
            for (index, value) in values.iter_mut().enumerate().take(count) {
                *value = message.word(first + index)?;
            }
            write_registers(target, &values);
            if a.flags & 1 != 0 {
                thread::resume(target);
            }
            done()
        }
        Label::TcbCopyRegisters => {
            let a: args::TcbCopyRegisters<_> = message.decode()?;
            let Cap::Tcb {
                object: source,
                rights: source_rights,
            } = a.source.1
            else {
                return Err(InvocationError::invalid_capability(
                    1,
                    "the source is not a TCB capability",
                ));
            };
            let source = Tcb(source);
            if source == target {
                return Err(InvocationError::illegal(
                    "the source and the target are the same thread",
                ));
            }
            if target == message.caller {
                return Err(InvocationError::illegal(
                    "a thread cannot overwrite its own registers this way",
                ));
            }
            let suspend_source = a.flags & 1 != 0;
            if suspend_source && !source_rights.contains(CapRights::WRITE) {
                return Err(InvocationError::invalid_capability(
                    1,
                    "suspending the source needs the write right on it",
                ));
            }
            crate::smp::stall(source);
            if suspend_source {
                thread::suspend(source);
            }
            let from = read_registers(source);
            let mut to = read_registers(target);
            /// rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi, rbp.
            const FRAME_REGISTERS: usize = 10;
            if a.flags & (1 << 2) != 0 {
                to[..FRAME_REGISTERS].copy_from_slice(&from[..FRAME_REGISTERS]);
            }
            if a.flags & (1 << 3) != 0 {
                to[FRAME_REGISTERS..].copy_from_slice(&from[FRAME_REGISTERS..]);
            }
            write_registers(target, &to);
            if a.flags & (1 << 1) != 0 {
                thread::resume(target);
            }
            done()
        }
        Label::TcbSuspend => {
            let _: args::TcbSuspend = message.decode()?;
            if objects.tcb_state(target) == ThreadState::BlockedOnReply {
                crate::ipc::cancel_reply(target);
            }
            thread::suspend(target);
            if target == message.caller {
                return Ok(Outcome::NoReply);
            }
            done()
        }
        Label::TcbResume => {
            let _: args::TcbResume = message.decode()?;
            if crate::sched::address_space_of(target).is_none() {
                return Err(InvocationError::illegal(
                    "the thread has no VSpace; configure it first",
                ));
            }
            thread::resume(target);
            done()
        }
        Label::TcbBindNotification => {
            let a: args::TcbBindNotification<_> = message.decode()?;
            let Cap::Notification { object, .. } = a.notification.1 else {
                return Err(InvocationError::invalid_capability(
                    1,
                    "not a notification capability",
                ));
            };
            objects.bind_notification(target, object)?;
            done()
        }
        Label::TcbGetCpuTime => {
            let _: args::TcbGetCpuTime = message.decode()?;
            reply(&[crate::sched::cpu_ticks(target)])
        }
        Label::TcbUnbindNotification => {
            let _: args::TcbUnbindNotification = message.decode()?;
            objects.unbind_notification(target)?;
            done()
        }
        Label::TcbSetAffinity => {
            let a: args::TcbSetAffinity = message.decode()?;
            let cores = crate::cpu_local::online_count() as u64;
            if a.core >= cores {
                return Err(InvocationError::range(
                    0,
                    cores - 1,
                    "no such core: the kernel runs on fewer",
                ));
            }
            crate::sched::set_affinity(target, a.core as usize);
            done()
        }
        _ => Err(InvocationError::illegal("not a TCB invocation")),
    }
}

fn completion(done: Completion) -> Result<Outcome, InvocationError> {
    crate::invocation::completion(Ok(done))
}

/// The thread an authority argument (declared a TCB, so checked) names.
fn authority(argument: Argument) -> Result<Tcb, InvocationError> {
    match argument.1 {
        Cap::Tcb { object, .. } => Ok(Tcb(object)),
        _ => Err(InvocationError::invalid_capability(
            1,
            "the authority is not a TCB capability",
        )),
    }
}

/// What `tcb_configure` and `tcb_set_space` install.
struct Space {
    /// A CPtr in the caller's CSpace (0: none).
    fault_ep: u64,
    cspace_root: Argument,
    cspace_root_data: u64,
    vspace_root: Argument,
}

/// The IPC buffer `tcb_configure` and `tcb_set_ipc_buffer` install.
struct IpcBufferSetting {
    vaddr: u64,
    /// The frame (none: the thread has no IPC buffer afterwards).
    frame: Option<Argument>,
}

impl IpcBufferSetting {
    /// The declaration has already made the frame a writable frame of RAM;
    /// the address must be aligned to the buffer's size.
    fn check(&self) -> Result<(), InvocationError> {
        debug_assert!(self.frame.is_none_or(|(_, cap)| can_hold_ipc_buffer(&cap)));
        if self.frame.is_some() && !self.vaddr.is_multiple_of(1 << IPC_BUFFER_BITS) {
            return Err(InvocationError::alignment(
                "the IPC buffer must be aligned to 1 KiB",
            ));
        }
        Ok(())
    }

    fn install(&self, target: Tcb) -> Result<Completion, InvocationError> {
        let step = match self.frame {
            Some((source, _)) => install(target, TcbSlot::IpcBuffer, source, None)?,
            None => remove(target, TcbSlot::IpcBuffer)?,
        };
        if step == Completion::Done {
            objects().set_tcb_field(target, field::IPC_BUFFER_VADDR, self.vaddr);
        }
        Ok(step)
    }
}

/// Replaces the capability in a TCB slot with a copy of `source` (with
/// `data` applied as by Mint). Deleting what was there may stop at a
/// preemption point (the last cap to a CNode empties it): then nothing is
/// copied yet and the restarted call goes on from there.
fn install(
    target: Tcb,
    which: TcbSlot,
    source: Slot,
    data: Option<u64>,
) -> Result<Completion, InvocationError> {
    if remove(target, which)? == Completion::Preempted {
        return Ok(Completion::Preempted);
    }
    objects().copy_cap(source, target.slot(which), CapRights::ALL, data)?;
    Ok(Completion::Done)
}

/// Empties a TCB slot (see [`install`] on preemption).
fn remove(target: Tcb, which: TcbSlot) -> Result<Completion, InvocationError> {
    Ok(objects().delete_cap(target.slot(which), &mut KernelHooks))
}

/// The fault endpoint a CPtr names in the caller's CSpace (`None` for 0).
fn fault_endpoint(message: &Message, cptr: u64) -> Result<Option<Slot>, InvocationError> {
    if cptr == 0 {
        return Ok(None);
    }
    let root = objects().cap(message.caller.slot(TcbSlot::CSpaceRoot));
    match objects().lookup_cap(root, cptr) {
        Ok((slot, Cap::Endpoint { .. })) => Ok(Some(slot)),
        Ok(_) => Err(InvocationError::invalid_argument(
            0,
            "the fault endpoint is not an endpoint capability",
        )),
        Err(failure) => Err(InvocationError::lookup(LookupSide::Source, failure)),
    }
}

/// `tcb_configure` (with the IPC buffer) and `tcb_set_space`: everything
/// that can be checked is checked before anything changes, then the fault
/// endpoint, CSpace root, VSpace root and IPC buffer are installed.
fn set_space(
    message: &Message,
    target: Tcb,
    space: Space,
    buffer: Option<IpcBufferSetting>,
) -> Result<Completion, InvocationError> {
    if let Some(buffer) = &buffer {
        buffer.check()?;
    }
    let fault_ep = fault_endpoint(message, space.fault_ep)?;
    let guard = (space.cspace_root_data != 0).then_some(space.cspace_root_data);
    if let (Some(data), Cap::CNode { radix_bits, .. }) = (guard, space.cspace_root.1) {
        if decode_guard(data, radix_bits).is_none() {
            return Err(InvocationError::invalid_argument(
                1,
                "the CSpace root's guard does not fit",
            ));
        }
    }
    let (vspace_slot, vspace) = space.vspace_root;
    vspace::assign_asid(vspace_slot, vspace).map_err(|e| InvocationError {
        detail: ward_kernel_objects::ErrorDetail::Capability(2),
        ..e
    })?;
    // Each install may stop at a preemption point; the restarted call does
    // them all again (each is a delete then a copy, so a finished one
    // repeats harmlessly). The ASID assignment rewrote the VSpace cap in its
    // slot: the copy takes it from there.
    let fault_step = match fault_ep {
        Some(source) => install(target, TcbSlot::FaultEndpoint, source, None)?,
        None => remove(target, TcbSlot::FaultEndpoint)?,
    };
    if fault_step == Completion::Preempted
        || install(target, TcbSlot::CSpaceRoot, space.cspace_root.0, guard)?
            == Completion::Preempted
        || install(target, TcbSlot::VSpaceRoot, vspace_slot, None)? == Completion::Preempted
    {
        return Ok(Completion::Preempted);
    }
    match buffer {
        Some(buffer) => buffer.install(target),
        None => Ok(Completion::Done),
    }
}

/// The order `tcb_read_registers` and `tcb_write_registers` use (seL4's x86_64 order).
const REGISTER_COUNT: usize = 18;

fn read_registers(target: Tcb) -> [u64; REGISTER_COUNT] {
    let c = registers(target).read();
    [
        c.rip, c.rsp, c.rflags, c.rax, c.rbx, c.rcx, c.rdx, c.rsi, c.rdi, c.rbp, c.r8, c.r9, c.r10,
        c.r11, c.r12, c.r13, c.r14, c.r15,
    ]
}

fn write_registers(target: Tcb, values: &[u64; REGISTER_COUNT]) {
    let registers = registers(target);
    let [rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15] =
        *values;
    let mut context = UserContext {
        rip,
        rsp,
        rflags,
        rax,
        rbx,
        rcx,
        rdx,
        rsi,
        rdi,
        rbp,
        r8,
        r9,
        r10,
        r11,
        r12,
        r13,
        r14,
        r15,
        ..registers.read()
    };
    thread::sanitise(&mut context);
    registers.write(&context);
}
