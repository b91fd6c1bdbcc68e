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
use crate::kobj::{self, context, extra, objects, KernelHooks};
use ward_abi::message::{
    IpcBuffer, MessageInfo, IPC_BUFFER_BITS, MAX_EXTRA_CAPS, MAX_MESSAGE_LENGTH,
    REGISTER_MESSAGE_LENGTH,
};
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

/// A kernel pointer to a thread's IPC buffer, if it has a valid one: the
/// frame in its TCB's IPC-buffer slot, at the offset of its registered address.
pub fn ipc_buffer(tcb: Tcb) -> Option<&'static mut IpcBuffer> {
    let objects = objects();
    let Cap::Frame { object, size, .. } = objects.cap(tcb.slot(TcbSlot::IpcBuffer)) else {
        return None;
    };
    let vaddr = objects.tcb_field(tcb, field::IPC_BUFFER_VADDR);
    let offset = vaddr & ((1u64 << size.bits()) - 1);
    if !offset.is_multiple_of(1 << IPC_BUFFER_BITS) {
        return None;
    }
    let pointer = objects
        .window()
        .kernel_pointer(object + offset, 1 << IPC_BUFFER_BITS) as *mut IpcBuffer;
    // SAFETY: the frame belongs to the thread's configuration (its cap is in
    // the TCB), the buffer lies inside it (offset is below the frame size and
    // aligned to the buffer's size), and IpcBuffer is plain data. Kernel code
    // is single-threaded; callers use one thread's buffer at a time, except
    // `transfer`, which uses two different threads' buffers (two frames, or
    // disjoint 1 KiB areas of one frame when two threads share a frame).
    Some(unsafe { &mut *pointer })
}

/// Reads message register `index` of a thread about to send.
fn sender_mr(tcb: Tcb, buffer: &Option<&'static mut IpcBuffer>, index: usize) -> u64 {
    let ctx = context(tcb);
    match index {
        0 => ctx.rdx,
        1 => ctx.r10,
        2 => ctx.r8,
        3 => ctx.r9,
        _ => buffer.as_ref().map_or(0, |b| b.msg[index]),
    }
}

/// Writes message register `index` of a thread about to receive.
pub fn set_mr(tcb: Tcb, buffer: &mut Option<&'static mut IpcBuffer>, index: usize, value: u64) {
    let ctx = context(tcb);
    match index {
        0 => ctx.rdx = value,
        1 => ctx.r10 = value,
        2 => ctx.r8 = value,
        3 => ctx.r9 = value,
        _ => {
            if let Some(b) = buffer.as_mut() {
                b.msg[index] = value;
            }
        }
    }
}

/// Delivers a message: `words` (already gathered) with `label`, to `receiver`.
pub fn deliver_words(receiver: Tcb, badge: u64, label: u64, words: &[u64]) {
    let mut buffer = ipc_buffer(receiver);
    let length = if buffer.is_some() {
        words.len()
    } else {
        words.len().min(REGISTER_MESSAGE_LENGTH)
    };
    for (index, &word) in words.iter().take(length).enumerate() {
        set_mr(receiver, &mut buffer, index, word);
    }
    let info = MessageInfo::new(label, 0, 0, length as u64);
    let ctx = context(receiver);
    ctx.rax = 0;
    ctx.rdi = badge;
    ctx.rsi = info.0;
    if let Some(b) = buffer {
        b.tag = info.0;
    }
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
    let sender_buffer = ipc_buffer(sender);
    let mut receiver_buffer = ipc_buffer(receiver);
    let mut length = (info.length() as usize).min(MAX_MESSAGE_LENGTH);
    if sender_buffer.is_none() || receiver_buffer.is_none() {
        length = length.min(REGISTER_MESSAGE_LENGTH);
    }
    for index in 0..length {
        let value = sender_mr(sender, &sender_buffer, index);
        set_mr(receiver, &mut receiver_buffer, index, value);
    }

    let (extra_caps, unwrapped) = match (&sender_buffer, &mut receiver_buffer) {
        (Some(from), Some(to)) if info.extra_caps() > 0 => {
            transfer_caps(sender, receiver, from, to, info, can_grant, endpoint)
        }
        _ => (0, 0),
    };
    let delivered = MessageInfo::new(info.label(), unwrapped, extra_caps, length as u64);
    let ctx = context(receiver);
    ctx.rax = 0;
    ctx.rdi = badge;
    ctx.rsi = delivered.0;
    if let Some(b) = receiver_buffer {
        b.tag = delivered.0;
    }
}

/// Moves up to `info.extra_caps()` capabilities. Returns how many were
/// processed and the bit mask of those unwrapped into badges.
fn transfer_caps(
    sender: Tcb,
    receiver: Tcb,
    from: &IpcBuffer,
    to: &mut IpcBuffer,
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
        let Ok((slot, cap)) = objects.lookup_cap(sender_root, from.caps_or_badges[index]) else {
            break;
        };
        if let (Cap::Endpoint { object, badge, .. }, Some(through)) = (cap, endpoint) {
            if object == through && badge != 0 {
                to.caps_or_badges[index] = badge;
                unwrapped |= 1 << index;
                processed += 1;
                continue;
            }
        }
        if !can_grant || slot_used {
            break;
        }
        // The receive slot: a CNode in the receiver's CSpace, then an index in it.
        let Ok((_, cnode)) = objects.lookup_cap(receiver_root, to.receive_cnode) else {
            break;
        };
        let Ok(dest) = objects.lookup_slot_exact(
            LookupSide::Destination,
            cnode,
            to.receive_index,
            to.receive_depth,
        ) else {
            break;
        };
        if objects.copy_cap(slot, dest, CapRights::ALL, None).is_err() {
            break;
        }
        to.caps_or_badges[index] = 0;
        slot_used = true;
        processed += 1;
    }
    (processed, unwrapped)
}

/// Gives `receiver` a reply capability to `caller` and blocks the caller.
fn block_for_reply(caller: Tcb, receiver: Tcb, can_grant: bool) {
    let objects = objects();
    let caller_slot = receiver.slot(TcbSlot::Caller);
    if !objects.cap(caller_slot).is_null() {
        // An unused reply cap from an earlier call: that caller is abandoned
        // (it stays blocked, as in seL4 when a reply cap is dropped).
        let _ = objects.delete_cap(caller_slot, &mut KernelHooks);
    }
    let _ = objects.insert_original(
        caller_slot,
        Cap::Reply {
            tcb: caller.0,
            can_grant,
        },
    );
    objects.set_tcb_state(caller, ThreadState::BlockedOnReply);
    extra(caller).reply_partner = receiver.0;
    kobj::make_not_runnable(caller);
}

/// Forgets the reply capability that points at `caller` (the caller is being
/// suspended or destroyed), so it can never be used on reused memory.
pub fn cancel_reply(caller: Tcb) {
    let objects = objects();
    let partner = extra(caller).reply_partner;
    extra(caller).reply_partner = 0;
    if let Some(partner) = Tcb::from_link(partner) {
        let slot = partner.slot(TcbSlot::Caller);
        if matches!(objects.cap(slot), Cap::Reply { tcb, .. } if tcb == caller.0) {
            let _ = objects.delete_cap(slot, &mut KernelHooks);
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
        let fault = *extra(sender);
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
        context(sender).rax = 0;
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
    match objects.endpoint_state(object) {
        EndpointState::Receiving => {
            let receiver = objects
                .endpoint_head(object)
                .expect("a receiving endpoint has a receiver");
            objects.endpoint_dequeue(object, receiver);
            rendezvous(sender, receiver, info, badge, flags, object);
        }
        _ if blocking => {
            let pending = extra(sender);
            pending.pending_info = info.0;
            pending.pending_flags = flags;
            objects.endpoint_block(object, sender, true, badge);
            kobj::make_not_runnable(sender);
        }
        _ => context(sender).rax = 0, // NBSend with no receiver: the message is dropped.
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
                    deliver_words(receiver, word, 0, &[]);
                    return Ok(());
                }
            }
            match objects.endpoint_state(object) {
                EndpointState::Sending => {
                    let sender = objects
                        .endpoint_head(object)
                        .expect("a sending endpoint has a sender");
                    objects.endpoint_dequeue(object, sender);
                    let badge = objects.tcb_field(sender, field::IPC_BADGE);
                    let pending = *extra(sender);
                    rendezvous(
                        sender,
                        receiver,
                        MessageInfo(pending.pending_info),
                        badge,
                        pending.pending_flags,
                        object,
                    );
                }
                _ if blocking => {
                    objects.endpoint_block(object, receiver, false, 0);
                    kobj::make_not_runnable(receiver);
                }
                _ => deliver_words(receiver, 0, 0, &[]),
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
                    Some(word) => deliver_words(receiver, word, 0, &[]),
                    None => kobj::make_not_runnable(receiver),
                }
            } else {
                let word = objects.notification_take(object).unwrap_or(0);
                deliver_words(receiver, word, 0, &[]);
            }
            Ok(())
        }
        _ => Err(Error::InvalidCapability),
    }
}

/// Signal a notification (Send on a notification capability, or an IRQ).
pub fn signal(object: u64, badge: u64) {
    crate::stats::count_signal();
    match objects().notification_signal(object, badge) {
        SignalOutcome::Pending => {}
        SignalOutcome::Woke { tcb, badge } | SignalOutcome::WokeBound { tcb, badge } => {
            deliver_words(tcb, badge, 0, &[]);
            kobj::make_runnable(tcb);
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
    // Mark the reply as answered before the cap goes, so deleting it does
    // not wake the caller with an error.
    let waiting = objects.tcb_state(caller) == ThreadState::BlockedOnReply
        && extra(caller).reply_partner == replier.0;
    if waiting {
        extra(caller).reply_partner = 0;
    }
    let _ = objects.delete_cap(slot, &mut KernelHooks);
    if !waiting {
        return;
    }
    let info = MessageInfo(context(replier).rsi);
    if extra(caller).fault_kind != 0 {
        crate::fault::handle_reply(caller, replier, info);
    } else {
        transfer(replier, caller, info, 0, can_grant, None);
        kobj::make_runnable(caller);
    }
}
