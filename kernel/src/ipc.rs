//! Message passing: endpoints (send, receive, call, reply), notifications
//! (signal, wait, poll), message transfer and capability transfer.
//!
//! Semantics follow seL4 (non-MCS): a message goes from sender to receiver
//! at rendezvous; the first four message registers travel in CPU registers
//! (`rdx`, `r10`, `r8`, `r9`), the rest through both threads' IPC buffers.
//! A `Call` leaves a reply capability in the receiver's TCB (its *caller*
//! slot) and blocks the caller until `Reply`. A sender's badge reaches the
//! receiver in `rdi`. Capabilities travel only through endpoint caps with
//! the Grant right; a badged endpoint cap to the endpoint the message goes
//! through is *unwrapped* into its badge instead, as in seL4.
//!
//! Only `length` message registers are copied: the registers of a message
//! shorter than four keep the receiver's own values, so a sender's other
//! register contents never reach the receiver.
use crate::arch::x86_64::trap::Reg;
use crate::kobj::{self, bookkeeping, objects, registers, KernelHooks};
use crate::user_memory::IpcBuffer;
use ward_abi::message::{MessageInfo, MAX_EXTRA_CAPS, MAX_MESSAGE_LENGTH, REGISTER_MESSAGE_LENGTH};
use ward_abi::rights::CapRights;
use ward_abi::Error;
use ward_kernel_objects::error::LookupSide;
use ward_kernel_objects::ipc::{EndpointState, SignalOutcome};
use ward_kernel_objects::tcb::{field, TcbSlot, ThreadState};
use ward_kernel_objects::{Cap, Tcb};

/// Flags of a blocked sender (`ThreadExtra::pending_flags`).
pub const SEND_IS_CALL: u64 = 1 << 0;
pub const SEND_CAN_GRANT: u64 = 1 << 1;
pub const SEND_CAN_GRANT_REPLY: u64 = 1 << 2;
/// The "message" is the fault recorded in the sender's `ThreadExtra`.
pub const SEND_IS_FAULT: u64 = 1 << 3;

/// The CPU registers that carry message registers 0..4, in order.
pub const MESSAGE_REGISTERS: [Reg; REGISTER_MESSAGE_LENGTH] =
    [Reg::Rdx, Reg::R10, Reg::R8, Reg::R9];

/// Writes message register `index` of a thread about to receive (dropped
/// for index 4 and up when it has no IPC buffer).
pub fn set_mr(tcb: Tcb, buffer: Option<IpcBuffer>, index: usize, value: u64) {
    match MESSAGE_REGISTERS.get(index) {
        Some(&reg) => registers(tcb).set(reg, value),
        None => {
            if let Some(b) = buffer {
                b.set_msg(index, value);
            }
        }
    }
}

/// Sets a receiver's return registers for a delivered message: no error,
/// the badge, the message info (also copied to its IPC buffer's tag).
fn set_received(receiver: Tcb, buffer: Option<IpcBuffer>, badge: u64, info: MessageInfo) {
    let to = registers(receiver);
    to.set(Reg::Rax, 0);
    to.set(Reg::Rdi, badge);
    to.set(Reg::Rsi, info.0);
    if let Some(b) = buffer {
        b.set_tag(info.0);
    }
}

/// Delivers a message: `words` (already gathered) with `label`, to `receiver`.
pub fn deliver_words(receiver: Tcb, badge: u64, label: u64, words: &[u64]) {
    let buffer = IpcBuffer::of(receiver);
    let length = if buffer.is_some() {
        words.len()
    } else {
        words.len().min(REGISTER_MESSAGE_LENGTH)
    };
    for (index, &word) in words.iter().take(length).enumerate() {
        set_mr(receiver, buffer, index, word);
    }
    set_received(
        receiver,
        buffer,
        badge,
        MessageInfo::new(label, 0, 0, length as u64),
    );
}

/// Wakes a thread waiting on a notification (or, through its bound
/// notification, on an endpoint) with the notification word: badge in
/// `rdi`, an empty message.
pub fn deliver_signal(receiver: Tcb, word: u64) {
    set_received(receiver, IpcBuffer::of(receiver), word, MessageInfo(0));
}

/// Copies a message from `sender` (its registers and IPC buffer) to
/// `receiver`, transferring or unwrapping capabilities, and sets the
/// receiver's return registers. `endpoint` is the endpoint the message went
/// through (for unwrapping), if any.
pub fn transfer(
    sender: Tcb,
    receiver: Tcb,
    info: MessageInfo,
    badge: u64,
    can_grant: bool,
    endpoint: Option<u64>,
) {
    let sender_buffer = IpcBuffer::of(sender);
    let receiver_buffer = IpcBuffer::of(receiver);
    let mut length = (info.length() as usize).min(MAX_MESSAGE_LENGTH);
    let buffers = sender_buffer.zip(receiver_buffer);
    if buffers.is_none() {
        length = length.min(REGISTER_MESSAGE_LENGTH);
    }
    let (from, to) = (registers(sender), registers(receiver));
    for &reg in MESSAGE_REGISTERS.iter().take(length) {
        to.set(reg, from.get(reg));
    }
    if let Some((from, to)) = buffers {
        // Word by word in increasing order: well defined even when both
        // threads registered the same buffer (user_memory's documentation).
        for index in REGISTER_MESSAGE_LENGTH..length {
            to.set_msg(index, from.msg(index));
        }
    }
    let (extra_caps, unwrapped) = match buffers {
        Some((from, to)) if info.extra_caps() > 0 => {
            transfer_caps(sender, receiver, from, to, info, can_grant, endpoint)
        }
        _ => (0, 0),
    };
    let delivered = MessageInfo::new(info.label(), unwrapped, extra_caps, length as u64);
    set_received(receiver, receiver_buffer, badge, delivered);
}

/// Moves up to `info.extra_caps()` capabilities. Returns how many were
/// processed and the bit mask of those unwrapped into badges.
fn transfer_caps(
    sender: Tcb,
    receiver: Tcb,
    from: IpcBuffer,
    to: IpcBuffer,
    info: MessageInfo,
    can_grant: bool,
    endpoint: Option<u64>,
) -> (u64, u64) {
    let objects = objects();
    let sender_root = objects.cap(sender.slot(TcbSlot::CSpaceRoot));
    let receiver_root = objects.cap(receiver.slot(TcbSlot::CSpaceRoot));
    let mut processed = 0;
    let mut unwrapped = 0;
    let mut slot_used = false;
    for index in 0..(info.extra_caps() as usize).min(MAX_EXTRA_CAPS) {
        let Ok((slot, cap)) = objects.lookup_cap(sender_root, from.cap_or_badge(index)) else {
            break;
        };
        if let (Cap::Endpoint { object, badge, .. }, Some(through)) = (cap, endpoint) {
            if object == through && badge != 0 {
                to.set_cap_or_badge(index, badge);
                unwrapped |= 1 << index;
                processed += 1;
                continue;
            }
        }
        if !can_grant || slot_used {
            break;
        }
        // The receive slot: a CNode in the receiver's CSpace, then an index in it.
        let (receive_cnode, receive_index, receive_depth) = to.receive_path();
        let Ok((_, cnode)) = objects.lookup_cap(receiver_root, receive_cnode) else {
            break;
        };
        let Ok(dest) =
            objects.lookup_slot_exact(LookupSide::Destination, cnode, receive_index, receive_depth)
        else {
            break;
        };
        if objects.copy_cap(slot, dest, CapRights::ALL, None).is_err() {
            break;
        }
        to.set_cap_or_badge(index, 0);
        slot_used = true;
        processed += 1;
    }
    (processed, unwrapped)
}

/// Gives `receiver` a reply capability to `caller` and blocks the caller.
fn block_for_reply(caller: Tcb, receiver: Tcb, can_grant: bool) {
    let objects = objects();
    let caller_slot = receiver.slot(TcbSlot::Caller);
    // An unused reply cap from an earlier call: deleting it wakes that
    // caller with an error (KernelHooks::finalise). Only reply caps are ever
    // put in this slot, and deleting one is a single step.
    let emptied = objects.delete_leaf_cap(caller_slot, &mut KernelHooks);
    debug_assert!(emptied, "a caller slot holds only reply caps");
    let _inserted = objects.put_reply_cap(caller_slot, caller, can_grant);
    debug_assert!(_inserted, "the caller slot was just emptied");
    objects.set_tcb_state(caller, ThreadState::BlockedOnReply);
    bookkeeping(caller).set_reply_partner(receiver.0);
    kobj::make_not_runnable(caller);
}

/// Forgets the reply capability that points at `caller` (the caller is being
/// suspended or destroyed), so it can never be used on reused memory.
pub fn cancel_reply(caller: Tcb) {
    let objects = objects();
    let record = bookkeeping(caller);
    let partner = record.reply_partner();
    record.set_reply_partner(0);
    if let Some(partner) = Tcb::from_link(partner) {
        let slot = partner.slot(TcbSlot::Caller);
        if matches!(objects.cap(slot), Cap::Reply { tcb, .. } if tcb == caller.0) {
            // The partner was cleared first, so nobody is woken: taking the
            // cap out is all that is left to do.
            let _ = objects.take_reply_cap(slot);
        }
    }
}

/// Completes a send from `sender` to the waiting `receiver`.
fn rendezvous(
    sender: Tcb,
    receiver: Tcb,
    info: MessageInfo,
    badge: u64,
    flags: u64,
    endpoint: u64,
) {
    if flags & SEND_IS_FAULT != 0 {
        let fault = bookkeeping(sender).read();
        let words = crate::fault::message_words(&fault);
        deliver_words(receiver, badge, fault.fault_kind, words);
    } else {
        transfer(
            sender,
            receiver,
            info,
            badge,
            flags & SEND_CAN_GRANT != 0,
            Some(endpoint),
        );
    }
    kobj::make_runnable(receiver);
    if flags & (SEND_IS_CALL | SEND_IS_FAULT) != 0 {
        if flags & (SEND_CAN_GRANT | SEND_CAN_GRANT_REPLY | SEND_IS_FAULT) != 0 {
            block_for_reply(sender, receiver, flags & SEND_CAN_GRANT != 0);
        } else {
            // seL4: a Call through a cap without Grant or GrantReply cannot be
            // answered, so the caller simply stops.
            objects().set_tcb_state(sender, ThreadState::Inactive);
            kobj::make_not_runnable(sender);
        }
    } else {
        registers(sender).set(Reg::Rax, 0);
        kobj::make_runnable(sender);
    }
}

/// Send (or Call, or a fault) on an endpoint capability.
pub fn send(
    sender: Tcb,
    cap: Cap,
    info: MessageInfo,
    blocking: bool,
    flags: u64,
) -> Result<(), Error> {
    let Cap::Endpoint {
        object,
        badge,
        rights,
    } = cap
    else {
        return Err(Error::InvalidCapability);
    };
    if !rights.contains(CapRights::WRITE) {
        return Err(Error::InvalidCapability);
    }
    let mut flags = flags;
    if rights.contains(CapRights::GRANT) {
        flags |= SEND_CAN_GRANT;
    }
    if rights.contains(CapRights::GRANT_REPLY) {
        flags |= SEND_CAN_GRANT_REPLY;
    }
    let objects = objects();
    match (
        objects.endpoint_state(object),
        objects.endpoint_head(object),
    ) {
        (EndpointState::Receiving, Some(receiver)) => {
            objects.endpoint_dequeue(object, receiver);
            rendezvous(sender, receiver, info, badge, flags, object);
        }
        _ if blocking => {
            let pending = bookkeeping(sender);
            pending.set_pending_info(info.0);
            pending.set_pending_flags(flags);
            objects.endpoint_block(object, sender, true, badge);
            kobj::make_not_runnable(sender);
        }
        _ => registers(sender).set(Reg::Rax, 0), // NBSend with no receiver: the message is dropped.
    }
    Ok(())
}

/// Receive on an endpoint or wait on a notification.
pub fn receive(receiver: Tcb, cap: Cap, blocking: bool) -> Result<(), Error> {
    let objects = objects();
    match cap {
        Cap::Endpoint { object, rights, .. } => {
            if !rights.contains(CapRights::READ) {
                return Err(Error::InvalidCapability);
            }
            // A bound notification with signals pending answers first.
            let bound = objects.tcb_field(receiver, field::BOUND_NOTIFICATION);
            if bound != 0 {
                if let Some(word) = objects.notification_take(bound) {
                    deliver_signal(receiver, word);
                    return Ok(());
                }
            }
            match (
                objects.endpoint_state(object),
                objects.endpoint_head(object),
            ) {
                (EndpointState::Sending, Some(sender)) => {
                    objects.endpoint_dequeue(object, sender);
                    let badge = objects.tcb_field(sender, field::IPC_BADGE);
                    let pending = bookkeeping(sender);
                    rendezvous(
                        sender,
                        receiver,
                        MessageInfo(pending.pending_info()),
                        badge,
                        pending.pending_flags(),
                        object,
                    );
                }
                _ if blocking => {
                    objects.endpoint_block(object, receiver, false, 0);
                    kobj::make_not_runnable(receiver);
                }
                _ => deliver_signal(receiver, 0),
            }
            Ok(())
        }
        Cap::Notification { object, rights, .. } => {
            if !rights.contains(CapRights::READ) {
                return Err(Error::InvalidCapability);
            }
            if objects
                .notification_bound_tcb(object)
                .is_some_and(|t| t != receiver)
            {
                return Err(Error::IllegalOperation);
            }
            if blocking {
                match objects.notification_wait(object, receiver) {
                    Some(word) => deliver_signal(receiver, word),
                    None => kobj::make_not_runnable(receiver),
                }
            } else {
                let word = objects.notification_take(object).unwrap_or(0);
                deliver_signal(receiver, word);
            }
            Ok(())
        }
        _ => Err(Error::InvalidCapability),
    }
}

/// Signal a notification (Send on a notification capability, or an IRQ).
/// Returns the thread it woke, if any.
pub fn signal(object: u64, badge: u64) -> Option<Tcb> {
    crate::stats::count_signal();
    match objects().notification_signal(object, badge) {
        SignalOutcome::Pending => None,
        SignalOutcome::Woke { tcb, badge } | SignalOutcome::WokeBound { tcb, badge } => {
            deliver_signal(tcb, badge);
            kobj::make_runnable(tcb);
            Some(tcb)
        }
    }
}

/// Reply to the thread whose reply capability `replier` holds.
pub fn reply(replier: Tcb) {
    let objects = objects();
    let slot = replier.slot(TcbSlot::Caller);
    let Cap::Reply { tcb, can_grant } = objects.cap(slot) else {
        return;
    };
    let caller = Tcb(tcb);
    let record = bookkeeping(caller);
    let waiting = objects.tcb_state(caller) == ThreadState::BlockedOnReply
        && record.reply_partner() == replier.0;
    if !waiting {
        // A stale reply cap (its caller was suspended and resumed, for
        // instance): it goes, finalised as any deleted reply cap is.
        let emptied = objects.delete_leaf_cap(slot, &mut KernelHooks);
        debug_assert!(emptied, "a reply cap is deleted in one step");
        return;
    }
    // Answered: the cap goes without waking the caller with an error.
    record.set_reply_partner(0);
    let _ = objects.take_reply_cap(slot);
    let info = MessageInfo(registers(replier).get(Reg::Rsi));
    if record.fault_kind() != 0 {
        crate::fault::handle_reply(caller, replier, info);
    } else {
        transfer(replier, caller, info, 0, can_grant, None);
        kobj::make_runnable(caller);
    }
}
