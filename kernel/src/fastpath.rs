//! The IPC fast path: `Call` and `ReplyRecv` with a message that fits in
//! registers, no capabilities, and a partner ready at the other end.
//!
//! These two calls are the whole cost of a client/server round trip, so they
//! skip everything the general path does for cases they exclude: no IPC
//! buffer is touched, no capability is transferred, no fault is pending, and
//! when the partner (at a priority at least the caller's) is the thread to
//! run next, as it is for a client and server taking turns, the switch is
//! direct (`sched::hand_over`); when another thread of the partner's
//! priority was ready first, the scheduler chooses, as after the general
//! path (round robin among equals is kept). A server with a bound
//! notification takes the fast path too while nothing is pending on the
//! notification. A partner whose affinity is another core takes the
//! general path (it is queued there). When any condition fails, the general
//! path (`syscall.rs`, `ipc.rs`) runs instead and gives the same result.
use crate::arch::x86_64::trap::Reg;
use crate::ipc::MESSAGE_REGISTERS;
use crate::kobj::{bookkeeping, objects, registers};
use crate::sched;
use ward_abi::message::{MessageInfo, REGISTER_MESSAGE_LENGTH};
use ward_abi::rights::CapRights;
use ward_kernel_objects::cap::EndpointCap;
use ward_kernel_objects::ipc::{EndpointState, NotificationState};
use ward_kernel_objects::tcb::{field, TcbSlot, ThreadState};
use ward_kernel_objects::{Cap, Tcb};

/// Whether a message can travel in registers alone.
#[inline(always)]
fn register_only(info: MessageInfo) -> bool {
    info.extra_caps() == 0 && info.length() as usize <= REGISTER_MESSAGE_LENGTH
}

/// The endpoint capability `cptr` names in `tcb`'s CSpace, when its CSpace
/// is one CNode (`Objects::lookup_one_level`) and the slot holds an
/// endpoint: the lookup and the decoding narrowed to what the fast path
/// reads. Anything else is for the general path.
#[inline(always)]
fn endpoint_at(tcb: Tcb, cptr: u64) -> Option<EndpointCap> {
    let objects = objects();
    let slot = objects.lookup_one_level(tcb.slot(TcbSlot::CSpaceRoot), cptr)?;
    Cap::endpoint_in(objects.cap_words(slot))
}

/// Copies the message's registers (its length of them) and sets the
/// receiver's return registers.
#[inline(always)]
fn copy_message(from: Tcb, to: Tcb, info: MessageInfo, badge: u64) {
    let (source, target) = (registers(from), registers(to));
    for &reg in MESSAGE_REGISTERS.iter().take(info.length() as usize) {
        target.set(reg, source.get(reg));
    }
    target.set(Reg::Rax, 0);
    target.set(Reg::Rdi, badge);
    target.set(
        Reg::Rsi,
        MessageInfo::new(info.label(), 0, 0, info.length()).0,
    );
}

/// `Call` on an endpoint with a receiver waiting. True if it was handled
/// (the receiver is then the running thread).
pub fn call(caller: Tcb, cptr: u64, info: MessageInfo) -> bool {
    if !register_only(info) {
        return false;
    }
    let objects = objects();
    let Some(EndpointCap {
        object,
        badge,
        rights,
    }) = endpoint_at(caller, cptr)
    else {
        return false;
    };
    let can_grant = rights.contains(CapRights::GRANT);
    if !rights.contains(CapRights::WRITE) || !(can_grant || rights.contains(CapRights::GRANT_REPLY))
    {
        return false;
    }
    if objects.endpoint_state(object) != EndpointState::Receiving {
        return false;
    }
    let Some(receiver) = objects.endpoint_head(object) else {
        return false;
    };
    if objects.tcb_priority(receiver) < objects.tcb_priority(caller)
        || objects.tcb_field(receiver, field::AFFINITY) != crate::cpu_local::index() as u64
    {
        return false;
    }
    let Some(address_space) = sched::address_space_of(receiver) else {
        return false;
    };
    let reply_slot = receiver.slot(TcbSlot::Caller);
    if !objects.put_reply_cap(reply_slot, caller, can_grant) {
        return false; // an abandoned reply cap to clean up: the general path does it
    }
    objects.endpoint_dequeue(object, receiver);
    copy_message(caller, receiver, info, badge);
    objects.set_tcb_state(caller, ThreadState::BlockedOnReply);
    bookkeeping(caller).set_reply_partner(receiver.0);
    objects.set_tcb_state(receiver, ThreadState::Running);
    sched::hand_over(caller, receiver, address_space);
    true
}

/// `ReplyRecv`: reply to a caller waiting in registers-only fashion, then
/// wait on an endpoint nobody is sending to. True if it was handled (the
/// caller is then the running thread).
pub fn reply_recv(server: Tcb, cptr: u64, info: MessageInfo) -> bool {
    if !register_only(info) {
        return false;
    }
    let objects = objects();
    let reply_slot = server.slot(TcbSlot::Caller);
    let Some((tcb, _)) = Cap::reply_in(objects.cap_words(reply_slot)) else {
        return false;
    };
    let caller = Tcb(tcb);
    let record = bookkeeping(caller);
    if objects.tcb_state(caller) != ThreadState::BlockedOnReply
        || record.reply_partner() != server.0
        || record.fault_kind() != 0
        || objects.tcb_priority(caller) < objects.tcb_priority(server)
        || objects.tcb_field(caller, field::AFFINITY) != crate::cpu_local::index() as u64
    {
        return false;
    }
    let Some(EndpointCap { object, rights, .. }) = endpoint_at(server, cptr) else {
        return false;
    };
    if !rights.contains(CapRights::READ) || objects.endpoint_state(object) == EndpointState::Sending
    {
        return false;
    }
    let bound = objects.tcb_field(server, field::BOUND_NOTIFICATION);
    if bound != 0 && objects.notification_state(bound) == NotificationState::Active {
        return false; // a pending signal answers the receive: the general path does it
    }
    let Some(address_space) = sched::address_space_of(caller) else {
        return false;
    };
    // Answered: the reply cap goes without waking the caller with an error.
    record.set_reply_partner(0);
    let _ = objects.take_reply_cap(reply_slot);
    copy_message(server, caller, info, 0);
    objects.endpoint_block(object, server, false, 0);
    objects.set_tcb_state(caller, ThreadState::Running);
    sched::hand_over(server, caller, address_space);
    true
}
