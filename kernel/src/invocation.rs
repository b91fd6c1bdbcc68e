//! Kernel-object invocations: decoding a message sent to a capability of a
//! kernel object and doing what its label asks.
//!
//! Arguments are message registers (the first four in CPU registers, the
//! rest in the caller's IPC buffer) and up to three extra capabilities named
//! by CPtrs in the IPC buffer's `caps_or_badges`, looked up in the caller's
//! CSpace. Argument orders follow seL4 on x86_64; docs/kernel.md lists them.
//! A result is message registers back to the caller; an error is an error
//! code with detail words (which argument, the valid range, the lookup
//! failure, the bytes available).
use crate::ipc::{ipc_buffer, set_mr};
use crate::kobj::{context, objects, KernelHooks, READY};
use crate::{thread, vspace};
use heapless::Vec;
use ward_abi::invocation::InvocationLabel as Label;
use ward_abi::message::{MessageInfo, IPC_BUFFER_BITS, MAX_EXTRA_CAPS, REGISTER_MESSAGE_LENGTH};
use ward_abi::rights::CapRights;
use ward_kernel_objects::tcb::{field, TcbSlot, ThreadState};
use ward_kernel_objects::{Cap, Completion, InvocationError, Slot, Tcb};

/// Most words an invocation returns (all registers of a thread).
const MAX_REPLY_WORDS: usize = 20;

/// What an invocation gives back.
pub enum Outcome {
    /// Done; these words are the reply's message registers.
    Reply(Vec<u64, MAX_REPLY_WORDS>),
    /// Stopped at a preemption point: run the same syscall again later.
    Restart,
    /// Done, and the caller must not get a reply written (it was suspended,
    /// or it is no longer runnable).
    NoReply,
}

fn done() -> Result<Outcome, InvocationError> {
    Ok(Outcome::Reply(Vec::new()))
}

/// The caller's message as the invocation sees it.
struct Arguments {
    caller: Tcb,
    info: MessageInfo,
}

impl Arguments {
    /// Message register `index`, or a "message too short" error naming it.
    fn mr(&self, index: usize) -> Result<u64, InvocationError> {
        if index as u64 >= self.info.length() {
            return Err(InvocationError {
                error: ward_abi::Error::TruncatedMessage,
                detail: ward_kernel_objects::ErrorDetail::Argument(index as u8),
                why: "the message is too short for this invocation",
            });
        }
        let ctx = context(self.caller);
        Ok(match index {
            0 => ctx.rdx,
            1 => ctx.r10,
            2 => ctx.r8,
            3 => ctx.r9,
            _ => ipc_buffer(self.caller).map_or(0, |b| b.msg[index]),
        })
    }

    /// Extra capability `index`: its slot and cap in the caller's CSpace.
    fn cap(&self, index: usize) -> Result<(Slot, Cap), InvocationError> {
        if index as u64 >= self.info.extra_caps() || index >= MAX_EXTRA_CAPS {
            return Err(InvocationError::invalid_capability(
                index as u8 + 1,
                "a capability argument is missing",
            ));
        }
        let buffer = ipc_buffer(self.caller).ok_or(InvocationError::invalid_capability(
            index as u8 + 1,
            "capability arguments need an IPC buffer",
        ))?;
        let cptr = buffer.caps_or_badges[index];
        let root = objects().cap(self.caller.slot(TcbSlot::CSpaceRoot));
        objects().lookup_cap(root, cptr).map_err(|failure| {
            InvocationError::lookup(ward_kernel_objects::LookupSide::Source, failure)
        })
    }
}

/// Runs the invocation `info.label()` on the capability `cap` in `slot`.
pub fn invoke(
    caller: Tcb,
    slot: Slot,
    cap: Cap,
    info: MessageInfo,
) -> Result<Outcome, InvocationError> {
    let args = Arguments { caller, info };
    let label = Label::from_number(info.label())
        .ok_or(InvocationError::illegal("unknown invocation label"))?;
    let objects = objects();
    match (cap, label) {
        (Cap::Untyped { .. }, Label::UntypedRetype) => {
            let (_, root) = args.cap(0)?;
            let plan = objects.untyped_retype_plan(
                slot,
                args.mr(0)?,
                args.mr(1)?,
                root,
                args.mr(2)?,
                args.mr(3)?,
                args.mr(4)?,
                args.mr(5)?,
            )?;
            if !zero_preemptibly(caller, &plan) {
                return Ok(Outcome::Restart);
            }
            objects.retype_commit(plan, true);
            done()
        }
        (Cap::CNode { .. }, label) => cnode(&args, cap, label),
        (Cap::Tcb { object }, label) => tcb(&args, Tcb(object), label),
        (Cap::Pdpt { .. } | Cap::PageDirectory { .. } | Cap::PageTable { .. }, label) => {
            match label {
                Label::PdptMap | Label::PageDirectoryMap | Label::PageTableMap => {
                    let expected = match cap {
                        Cap::Pdpt { .. } => Label::PdptMap,
                        Cap::PageDirectory { .. } => Label::PageDirectoryMap,
                        _ => Label::PageTableMap,
                    };
                    if label != expected {
                        return Err(InvocationError::illegal(
                            "this invocation is for another paging structure",
                        ));
                    }
                    let vspace = args.cap(0)?;
                    vspace::map_table(slot, cap, vspace, args.mr(0)?)?;
                    done()
                }
                Label::PdptUnmap | Label::PageDirectoryUnmap | Label::PageTableUnmap => {
                    vspace::unmap_in_slot(slot)?;
                    done()
                }
                _ => Err(InvocationError::illegal(
                    "not an invocation of a paging structure",
                )),
            }
        }
        (Cap::Frame { object, .. }, label) => match label {
            Label::FrameMap => {
                let vspace = args.cap(0)?;
                let rights = CapRights::from_word(args.mr(1)?);
                vspace::map_frame(slot, cap, vspace, args.mr(0)?, rights, args.mr(2)?)?;
                done()
            }
            Label::FrameUnmap => {
                vspace::unmap_in_slot(slot)?;
                done()
            }
            Label::FrameGetAddress => Ok(Outcome::Reply(Vec::from_slice(&[object]).expect("fits"))),
            Label::FrameMapIo => {
                // MR0 IO address, MR1 rights; cap 0: the IOSpace.
                let (_, space) = args.cap(0)?;
                crate::iospace::map_frame(
                    slot,
                    cap,
                    space,
                    args.mr(0)?,
                    CapRights::from_word(args.mr(1)?),
                )?;
                done()
            }
            _ => Err(InvocationError::illegal("not an invocation of a frame")),
        },
        (Cap::Pml4 { .. }, _) => Err(InvocationError::illegal(
            "a PML4 has no invocations; pass it to map calls",
        )),
        (Cap::IoPortControl, Label::IoPortControlIssue) => {
            let (_, root) = args.cap(0)?;
            let dest = objects.lookup_slot_exact(
                ward_kernel_objects::LookupSide::Destination,
                root,
                args.mr(2)?,
                args.mr(3)?,
            )?;
            crate::ioport::issue(args.mr(0)?, args.mr(1)?, dest)?;
            done()
        }
        (Cap::IoPort { .. }, label) => {
            use crate::ioport::{read, write, Width};
            let width = match label {
                Label::IoPortIn8 | Label::IoPortOut8 => Width::Byte,
                Label::IoPortIn16 | Label::IoPortOut16 => Width::Word,
                Label::IoPortIn32 | Label::IoPortOut32 => Width::Double,
                _ => return Err(InvocationError::illegal("not an IO-port invocation")),
            };
            match label {
                Label::IoPortIn8 | Label::IoPortIn16 | Label::IoPortIn32 => {
                    let value = read(cap, args.mr(0)?, width)?;
                    Ok(Outcome::Reply(Vec::from_slice(&[value]).expect("fits")))
                }
                _ => {
                    write(cap, args.mr(0)?, args.mr(1)?, width)?;
                    done()
                }
            }
        }
        (Cap::IoSpace { domain: 0, .. }, Label::IoSpaceIssue) => {
            // MR0 requester (bus << 8 | dev << 3 | fn), MR1 domain, MR2 dest
            // index, MR3 dest depth; cap 0: the destination CNode.
            let (_, root) = args.cap(0)?;
            let dest = objects.lookup_slot_exact(
                ward_kernel_objects::LookupSide::Destination,
                root,
                args.mr(2)?,
                args.mr(3)?,
            )?;
            crate::iospace::issue(args.mr(0)?, args.mr(1)?, dest)?;
            done()
        }
        (Cap::IoSpace { .. }, Label::IoSpaceSetFaultNotification) => {
            let (_, notification) = args.cap(0)?;
            crate::iospace::set_fault_notification(cap, notification)?;
            done()
        }
        (Cap::IoSpace { .. }, Label::IoSpaceReadFault) => {
            let words = crate::iospace::read_fault(cap)?;
            Ok(Outcome::Reply(Vec::from_slice(&words).expect("fits")))
        }
        (Cap::IoPageTable { .. }, Label::IoPageTableMap) => {
            let (_, space) = args.cap(0)?;
            crate::iospace::map_table(slot, cap, space, args.mr(0)?)?;
            done()
        }
        (Cap::IoPageTable { .. }, Label::IoPageTableUnmap) => {
            vspace::unmap_in_slot(slot)?;
            done()
        }
        (Cap::IrqControl, Label::IrqControlGet) => {
            // MR0 dest index, MR1 dest depth, MR2 line (GSI), MR3 1 = level-triggered,
            // MR4 1 = active low; cap 0: the destination CNode.
            let (_, root) = args.cap(0)?;
            let dest = objects.lookup_slot_exact(
                ward_kernel_objects::LookupSide::Destination,
                root,
                args.mr(0)?,
                args.mr(1)?,
            )?;
            crate::irq::control_get(args.mr(2)?, args.mr(3)? != 0, args.mr(4)? != 0, dest)?;
            done()
        }
        (Cap::IrqControl, Label::IrqControlGetMsi) => {
            // MR0 dest index, MR1 dest depth, MR2 requester (bus << 8 | dev << 3 | fn);
            // cap 0: the destination CNode. Replies the MSI address and data.
            let (_, root) = args.cap(0)?;
            let dest = objects.lookup_slot_exact(
                ward_kernel_objects::LookupSide::Destination,
                root,
                args.mr(0)?,
                args.mr(1)?,
            )?;
            let message = crate::irq::control_get_msi(args.mr(2)?, dest)?;
            Ok(Outcome::Reply(Vec::from_slice(&message).expect("fits")))
        }
        (Cap::IrqHandler { irq }, label) => match label {
            Label::IrqHandlerSetNotification => {
                let (_, notification) = args.cap(0)?;
                crate::irq::set_notification(irq, notification)?;
                done()
            }
            Label::IrqHandlerAck => {
                crate::irq::ack(irq)?;
                done()
            }
            Label::IrqHandlerClear => {
                crate::irq::clear(irq);
                done()
            }
            _ => Err(InvocationError::illegal("not an IRQ-handler invocation")),
        },
        _ => Err(InvocationError::illegal(
            "this capability has no such invocation (or it is not implemented yet)",
        )),
    }
}

/// Zeroing done per step of a retype before checking for a pending
/// interrupt: small enough that a timer tick waits for at most one step,
/// large enough that the check (one APIC register read) costs little.
const ZERO_STEP: u64 = 64 * 1024;

/// Retypes of large objects restarted at a preemption point.
pub static RETYPE_PREEMPTIONS: core::sync::atomic::AtomicU64 =
    core::sync::atomic::AtomicU64::new(0);

/// Zeroes the memory of a planned retype in steps, stopping at a
/// preemption point when an interrupt is pending. Progress is kept in the
/// caller's TCB and picked up when the same retype is restarted (the same
/// untyped and the same memory); memory above an untyped's watermark belongs
/// to no object, so a half-zeroed range is harmless. Returns true when done.
fn zero_preemptibly(caller: Tcb, plan: &ward_kernel_objects::untyped::RetypePlan) -> bool {
    let (start, length, needs_zeroing) = plan.memory();
    let record = crate::kobj::extra(caller);
    if !needs_zeroing {
        return true;
    }
    let key = [plan.untyped().0, start, length];
    let mut done = if record.retype_key == key {
        record.retype_done
    } else {
        0
    };
    let window = objects().window();
    while done < length {
        let step = ZERO_STEP.min(length - done);
        window.zero(start + done, step);
        done += step;
        if done < length && crate::arch::x86_64::apic::timer_interrupt_pending() {
            record.retype_key = key;
            record.retype_done = done;
            let count = RETYPE_PREEMPTIONS.fetch_add(1, core::sync::atomic::Ordering::Relaxed) + 1;
            log::trace!(
                "retype: preempted after zeroing {done} of {length} bytes ({count} so far)"
            );
            return false;
        }
    }
    record.retype_key = [0; 3];
    record.retype_done = 0;
    true
}

fn completion(result: Result<Completion, InvocationError>) -> Result<Outcome, InvocationError> {
    match result? {
        Completion::Done => done(),
        Completion::Preempted => Ok(Outcome::Restart),
    }
}

fn cnode(args: &Arguments, cnode: Cap, label: Label) -> Result<Outcome, InvocationError> {
    let objects = objects();
    match label {
        Label::CNodeCopy => {
            let (_, src_root) = args.cap(0)?;
            let rights = CapRights::from_word(args.mr(4)?);
            objects.cnode_copy(
                cnode,
                args.mr(0)?,
                args.mr(1)?,
                src_root,
                args.mr(2)?,
                args.mr(3)?,
                rights,
            )?;
            done()
        }
        Label::CNodeMint => {
            let (_, src_root) = args.cap(0)?;
            let rights = CapRights::from_word(args.mr(4)?);
            objects.cnode_mint(
                cnode,
                args.mr(0)?,
                args.mr(1)?,
                src_root,
                args.mr(2)?,
                args.mr(3)?,
                rights,
                args.mr(5)?,
            )?;
            done()
        }
        Label::CNodeMove => {
            let (_, src_root) = args.cap(0)?;
            objects.cnode_move(
                cnode,
                args.mr(0)?,
                args.mr(1)?,
                src_root,
                args.mr(2)?,
                args.mr(3)?,
            )?;
            done()
        }
        Label::CNodeMutate => {
            let (_, src_root) = args.cap(0)?;
            objects.cnode_mutate(
                cnode,
                args.mr(0)?,
                args.mr(1)?,
                src_root,
                args.mr(2)?,
                args.mr(3)?,
                args.mr(4)?,
            )?;
            done()
        }
        Label::CNodeDelete => {
            completion(objects.cnode_delete(cnode, args.mr(0)?, args.mr(1)?, &mut KernelHooks))
        }
        Label::CNodeRevoke => {
            completion(objects.cnode_revoke(cnode, args.mr(0)?, args.mr(1)?, &mut KernelHooks))
        }
        Label::CNodeRotate => {
            // MR0 dest index, MR1 dest depth, MR2 pivot index, MR3 pivot depth,
            // MR4 pivot data, MR5 src index, MR6 src depth, MR7 src data;
            // caps: pivot root, src root. The pivot's cap moves to dest and the
            // src's cap to the pivot, each with its data applied as by Mutate;
            // with dest == src the two swap.
            let (_, pivot_root) = args.cap(0)?;
            let (_, src_root) = args.cap(1)?;
            objects.cnode_rotate(
                cnode,
                args.mr(0)?,
                args.mr(1)?,
                pivot_root,
                args.mr(2)?,
                args.mr(3)?,
                args.mr(4)?,
                src_root,
                args.mr(5)?,
                args.mr(6)?,
                args.mr(7)?,
            )?;
            done()
        }
        Label::CNodeCancelBadgedSends => {
            objects.cnode_cancel_badged_sends(
                cnode,
                args.mr(0)?,
                args.mr(1)?,
                crate::kobj::restart_syscall,
            )?;
            done()
        }
        _ => Err(InvocationError::illegal(
            "not a CNode invocation (or not implemented yet)",
        )),
    }
}

/// Replaces the capability in a TCB slot with a copy of `source`.
fn install(
    target: Tcb,
    which: TcbSlot,
    source: Slot,
    badge: Option<u64>,
) -> Result<(), InvocationError> {
    let objects = objects();
    let slot = target.slot(which);
    if !objects.cap(slot).is_null() {
        let _ = objects.delete_cap(slot, &mut KernelHooks);
    }
    objects.copy_cap(source, slot, CapRights::ALL, badge)
}

/// Checks, before anything changes, that a fault-endpoint CPtr names an endpoint.
fn check_fault_endpoint(args: &Arguments, cptr: u64) -> Result<(), InvocationError> {
    if cptr == 0 {
        return Ok(());
    }
    let root = objects().cap(args.caller.slot(TcbSlot::CSpaceRoot));
    match objects().lookup_cap(root, cptr) {
        Ok((_, Cap::Endpoint { .. })) => Ok(()),
        Ok(_) => Err(InvocationError::invalid_argument(
            0,
            "the fault endpoint is not an endpoint capability",
        )),
        Err(failure) => Err(InvocationError::lookup(
            ward_kernel_objects::LookupSide::Source,
            failure,
        )),
    }
}

/// Sets the fault endpoint from a CPtr in the caller's CSpace (0 = none).
fn set_fault_endpoint(args: &Arguments, target: Tcb, cptr: u64) -> Result<(), InvocationError> {
    let objects = objects();
    if cptr == 0 {
        let slot = target.slot(TcbSlot::FaultEndpoint);
        if !objects.cap(slot).is_null() {
            let _ = objects.delete_cap(slot, &mut KernelHooks);
        }
        return Ok(());
    }
    let root = objects.cap(args.caller.slot(TcbSlot::CSpaceRoot));
    let (source, cap) = objects
        .lookup_cap(root, cptr)
        .map_err(|f| InvocationError::lookup(ward_kernel_objects::LookupSide::Source, f))?;
    if !matches!(cap, Cap::Endpoint { .. }) {
        return Err(InvocationError::invalid_argument(
            0,
            "the fault endpoint is not an endpoint capability",
        ));
    }
    install(target, TcbSlot::FaultEndpoint, source, None)
}

/// `cap_number` is the frame's capability-argument number, for error details.
fn set_ipc_buffer(
    target: Tcb,
    vaddr: u64,
    frame: Option<(Slot, Cap)>,
    cap_number: u8,
) -> Result<(), InvocationError> {
    let objects = objects();
    match frame {
        Some((source, Cap::Frame { .. })) => {
            if !vaddr.is_multiple_of(1 << IPC_BUFFER_BITS) {
                return Err(InvocationError::alignment(
                    "the IPC buffer must be aligned to 1 KiB",
                ));
            }
            install(target, TcbSlot::IpcBuffer, source, None)?;
        }
        Some(_) => {
            return Err(InvocationError::invalid_capability(
                cap_number,
                "the IPC buffer is not a frame capability",
            ))
        }
        None => {
            let slot = target.slot(TcbSlot::IpcBuffer);
            if !objects.cap(slot).is_null() {
                let _ = objects.delete_cap(slot, &mut KernelHooks);
            }
        }
    }
    objects.set_tcb_field(target, field::IPC_BUFFER_VADDR, vaddr);
    Ok(())
}

/// `tcb_configure` (`with_ipc_buffer`: MR3 and the optional cap 2 name the
/// IPC buffer) and `tcb_set_space`: everything that can be checked is
/// checked before anything changes, then the fault endpoint, CSpace root,
/// VSpace root and IPC buffer are installed.
fn set_space(args: &Arguments, target: Tcb, with_ipc_buffer: bool) -> Result<(), InvocationError> {
    let (fault_ep, cspace_data) = (args.mr(0)?, args.mr(1)?);
    let buffer = if with_ipc_buffer { args.mr(3)? } else { 0 };
    let (cspace_slot, cspace) = args.cap(0)?;
    let (vspace_slot, vspace) = args.cap(1)?;
    let ipc_buffer = match with_ipc_buffer {
        true if args.info.extra_caps() > 2 => Some((buffer, Some(args.cap(2)?))),
        true => Some((buffer, None)),
        false => None,
    };
    if !matches!(cspace, Cap::CNode { .. }) {
        return Err(InvocationError::invalid_capability(
            1,
            "the CSpace root is not a CNode capability",
        ));
    }
    if !matches!(vspace, Cap::Pml4 { .. }) {
        return Err(InvocationError::invalid_capability(
            2,
            "the VSpace root is not a PML4 capability",
        ));
    }
    if let Some((buffer, Some((_, frame_cap)))) = ipc_buffer {
        if !matches!(frame_cap, Cap::Frame { .. }) {
            return Err(InvocationError::invalid_capability(
                3,
                "the IPC buffer is not a frame capability",
            ));
        }
        if !buffer.is_multiple_of(1 << IPC_BUFFER_BITS) {
            return Err(InvocationError::alignment(
                "the IPC buffer must be aligned to 1 KiB",
            ));
        }
    }
    check_fault_endpoint(args, fault_ep)?;
    vspace::assign_asid(vspace_slot, vspace).map_err(|e| InvocationError {
        detail: ward_kernel_objects::ErrorDetail::Capability(2),
        ..e
    })?;
    set_fault_endpoint(args, target, fault_ep)?;
    install(
        target,
        TcbSlot::CSpaceRoot,
        cspace_slot,
        (cspace_data != 0).then_some(cspace_data),
    )?;
    install(target, TcbSlot::VSpaceRoot, vspace_slot, None)?;
    if let Some((buffer, frame)) = ipc_buffer {
        set_ipc_buffer(target, buffer, frame, 3)?;
    }
    Ok(())
}

/// The order `tcb_read_registers` and `tcb_write_registers` use (seL4's x86_64 order).
const REGISTER_COUNT: usize = 18;

fn read_registers(target: Tcb) -> [u64; REGISTER_COUNT] {
    let c = *context(target);
    [
        c.rip, c.rsp, c.rflags, c.rax, c.rbx, c.rcx, c.rdx, c.rsi, c.rdi, c.rbp, c.r8, c.r9, c.r10,
        c.r11, c.r12, c.r13, c.r14, c.r15,
    ]
}

fn write_registers(target: Tcb, values: &[u64]) {
    let c = context(target);
    let fields: [&mut u64; REGISTER_COUNT] = [
        &mut c.rip,
        &mut c.rsp,
        &mut c.rflags,
        &mut c.rax,
        &mut c.rbx,
        &mut c.rcx,
        &mut c.rdx,
        &mut c.rsi,
        &mut c.rdi,
        &mut c.rbp,
        &mut c.r8,
        &mut c.r9,
        &mut c.r10,
        &mut c.r11,
        &mut c.r12,
        &mut c.r13,
        &mut c.r14,
        &mut c.r15,
    ];
    for (field, value) in fields.into_iter().zip(values) {
        *field = *value;
    }
    thread::sanitise(c);
}

fn tcb(args: &Arguments, target: Tcb, label: Label) -> Result<Outcome, InvocationError> {
    let objects = objects();
    match label {
        Label::TcbConfigure => {
            // MR0 fault endpoint CPtr, MR1 CSpace root data (guard), MR2 VSpace
            // root data (unused on x86_64), MR3 IPC buffer address;
            // caps: CSpace root, VSpace root, IPC buffer frame (optional).
            set_space(args, target, true)?;
            done()
        }
        Label::TcbSetSpace => {
            // As configure, without the IPC buffer.
            set_space(args, target, false)?;
            done()
        }
        Label::TcbSetIpcBuffer => {
            let vaddr = args.mr(0)?;
            let frame = if args.info.extra_caps() > 0 {
                Some(args.cap(0)?)
            } else {
                None
            };
            set_ipc_buffer(target, vaddr, frame, 1)?;
            done()
        }
        Label::TcbSetPriority | Label::TcbSetMcPriority | Label::TcbSetSchedParams => {
            let (_, authority) = args.cap(0)?;
            let Cap::Tcb { object: authority } = authority else {
                return Err(InvocationError::invalid_capability(
                    1,
                    "the authority is not a TCB capability",
                ));
            };
            let authority = Tcb(authority);
            let (mcp, priority) = match label {
                Label::TcbSetPriority => (None, Some(args.mr(0)?)),
                Label::TcbSetMcPriority => (Some(args.mr(0)?), None),
                _ => (Some(args.mr(0)?), Some(args.mr(1)?)),
            };
            let mcp = mcp
                .map(|m| objects.check_priority(authority, m))
                .transpose()?;
            let priority = priority
                .map(|p| objects.check_priority(authority, p))
                .transpose()?;
            if let Some(mcp) = mcp {
                objects.set_tcb_mcp(target, mcp);
            }
            if let Some(priority) = priority {
                READY.lock().set_priority(&objects, target, priority);
            }
            done()
        }
        Label::TcbReadRegisters => {
            if target == args.caller {
                return Err(InvocationError::illegal(
                    "a thread cannot read its own registers this way",
                ));
            }
            let count = (args.mr(1)? as usize).min(REGISTER_COUNT);
            if args.mr(0)? & 1 != 0 {
                thread::suspend(target);
            }
            Ok(Outcome::Reply(
                Vec::from_slice(&read_registers(target)[..count]).expect("fits"),
            ))
        }
        Label::TcbWriteRegisters => {
            if target == args.caller {
                return Err(InvocationError::illegal(
                    "a thread cannot write its own registers this way",
                ));
            }
            let resume = args.mr(0)? & 1 != 0;
            let count = (args.mr(2)? as usize).min(REGISTER_COUNT);
            let mut values = [0u64; REGISTER_COUNT];
            for (index, value) in values.iter_mut().enumerate().take(count) {
                *value = args.mr(3 + index)?;
            }
            let mut current = read_registers(target);
            current[..count].copy_from_slice(&values[..count]);
            write_registers(target, &current);
            if resume {
                thread::resume(target);
            }
            done()
        }
        Label::TcbCopyRegisters => {
            // MR0 flags: bit 0 suspend the source first, bit 1 resume the target
            // after, bit 2 copy the frame registers (rip, rsp, rflags, rax, rbx,
            // rcx, rdx, rsi, rdi, rbp), bit 3 copy the integer registers
            // (r8-r15); MR1 architecture flags (none on x86_64); cap 0: the source TCB.
            let flags = args.mr(0)?;
            let (_, source) = args.cap(0)?;
            let Cap::Tcb { object: source } = source else {
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
            if target == args.caller {
                return Err(InvocationError::illegal(
                    "a thread cannot overwrite its own registers this way",
                ));
            }
            if flags & 1 != 0 {
                thread::suspend(source);
            }
            let from = read_registers(source);
            let mut to = read_registers(target);
            const FRAME_REGISTERS: usize = 10;
            if flags & (1 << 2) != 0 {
                to[..FRAME_REGISTERS].copy_from_slice(&from[..FRAME_REGISTERS]);
            }
            if flags & (1 << 3) != 0 {
                to[FRAME_REGISTERS..].copy_from_slice(&from[FRAME_REGISTERS..]);
            }
            write_registers(target, &to);
            if flags & (1 << 1) != 0 {
                thread::resume(target);
            }
            done()
        }
        Label::TcbSuspend => {
            if objects.tcb_state(target) == ThreadState::BlockedOnReply {
                crate::ipc::cancel_reply(target);
            }
            thread::suspend(target);
            if target == args.caller {
                return Ok(Outcome::NoReply);
            }
            done()
        }
        Label::TcbGetCpuTime => Ok(Outcome::Reply(
            Vec::from_slice(&[objects.tcb_field(target, field::CPU_TICKS)]).expect("fits"),
        )),
        Label::TcbResume => {
            if !matches!(
                objects.cap(target.slot(TcbSlot::VSpaceRoot)),
                Cap::Pml4 { .. }
            ) {
                return Err(InvocationError::illegal(
                    "the thread has no VSpace; configure it first",
                ));
            }
            thread::resume(target);
            done()
        }
        Label::TcbBindNotification => {
            let (_, notification) = args.cap(0)?;
            let Cap::Notification { object, rights, .. } = notification else {
                return Err(InvocationError::invalid_capability(
                    1,
                    "not a notification capability",
                ));
            };
            if !rights.contains(CapRights::READ) {
                return Err(InvocationError::invalid_capability(
                    1,
                    "binding needs the read right",
                ));
            }
            objects.bind_notification(target, object)?;
            done()
        }
        Label::TcbUnbindNotification => {
            objects.unbind_notification(target)?;
            done()
        }
        _ => Err(InvocationError::illegal(
            "not a TCB invocation (or not implemented yet)",
        )),
    }
}

/// Writes an invocation's result into the caller's registers.
pub fn write_result(caller: Tcb, result: Result<Outcome, InvocationError>) {
    match result {
        Ok(Outcome::Reply(words)) => {
            let mut buffer = ipc_buffer(caller);
            let length = if buffer.is_some() {
                words.len()
            } else {
                words.len().min(REGISTER_MESSAGE_LENGTH)
            };
            for (index, &word) in words.iter().take(length).enumerate() {
                set_mr(caller, &mut buffer, index, word);
            }
            let ctx = context(caller);
            ctx.rax = 0;
            ctx.rsi = MessageInfo::new(0, 0, 0, length as u64).0;
        }
        Ok(Outcome::Restart) => {
            // Re-run the same syscall once the pending interrupt is handled.
            let ctx = context(caller);
            ctx.rip = ctx.rip.wrapping_sub(2);
        }
        Ok(Outcome::NoReply) => {}
        Err(error) => {
            let ctx = context(caller);
            let [d0, d1, d2, d3] = error.detail_words();
            ctx.rax = error.error as u64;
            ctx.rsi = 0;
            (ctx.rdx, ctx.r10, ctx.r8, ctx.r9) = (d0, d1, d2, d3);
            log::debug!("invocation error: {:?}: {}", error.error, error.why);
        }
    }
}
