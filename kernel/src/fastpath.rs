//! The IPC fast path: `Call` and `ReplyRecv` with a message that fits in
//! registers, no capabilities, and a partner ready at the other end.
//!
//! These two calls are the whole cost of a client/server round trip, so they
//! skip everything the general path does for cases they exclude: no IPC
//! buffer is touched, no capability is transferred, no fault is pending. The
//! partner must run at a priority at least the caller's, so switching to it
//! at once is exactly what the scheduler would choose. When any condition
//! fails, the general path (`syscall.rs`, `ipc.rs`) runs instead and gives
//! the same result, only slower.
use crate::kobj::{self, context, extra, objects, KernelHooks};
use ward_abi::message::{MessageInfo, REGISTER_MESSAGE_LENGTH};
use ward_abi::rights::CapRights;
use ward_kernel_objects::ipc::EndpointState;
use ward_kernel_objects::tcb::{field, TcbSlot, ThreadState};
use ward_kernel_objects::{Cap, Tcb};

/// Whether a message can travel in registers alone.
fn register_only(info: MessageInfo) -> bool {
    info.extra_caps() == 0 && info.length() as usize <= REGISTER_MESSAGE_LENGTH
}

/// Copies the register message and sets the receiver's return registers.
fn copy_registers(from: Tcb, to: Tcb, info: MessageInfo, badge: u64) {
    let source = *context(from);
    let target = context(to);
    (target.rdx, target.r10, target.r8, target.r9) = (source.rdx, source.r10, source.r8, source.r9);
    target.rax = 0;
    target.rdi = badge;
    target.rsi = MessageInfo::new(info.label(), 0, 0, info.length()).0;
}

/// `Call` on an endpoint with a receiver waiting. True if it was handled.
pub fn call(caller: Tcb, cptr: u64, info: MessageInfo) -> bool {
    if !register_only(info) {
        return false;
    }
    let objects = objects();
    let root = objects.cap(caller.slot(TcbSlot::CSpaceRoot));
    let Ok((
        _,
        Cap::Endpoint {
            object,
            badge,
            rights,
        },
    )) = objects.lookup_cap(root, cptr)
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
    if objects.tcb_priority(receiver) < objects.tcb_priority(caller) {
        return false;
    }
    let reply_slot = receiver.slot(TcbSlot::Caller);
    if !objects.cap(reply_slot).is_null() {
        return false; // an abandoned reply cap to clean up: the general path does it
    }
    objects.endpoint_dequeue(object, receiver);
    copy_registers(caller, receiver, info, badge);
    let _ = objects.insert_original(
        reply_slot,
        Cap::Reply {
            tcb: caller.0,
            can_grant,
        },
    );
    objects.set_tcb_state(caller, ThreadState::BlockedOnReply);
    extra(caller).reply_partner = receiver.0;
    kobj::make_not_runnable(caller);
    kobj::make_runnable(receiver);
    true
}

/// `ReplyRecv`: reply to a caller waiting in registers-only fashion, then
/// wait on an endpoint nobody is sending to. True if it was handled.
pub fn reply_recv(server: Tcb, cptr: u64, info: MessageInfo) -> bool {
    if !register_only(info) {
        return false;
    }
    let objects = objects();
    let reply_slot = server.slot(TcbSlot::Caller);
    let Cap::Reply { tcb, .. } = objects.cap(reply_slot) else {
        return false;
    };
    let caller = Tcb(tcb);
    if objects.tcb_state(caller) != ThreadState::BlockedOnReply
        || extra(caller).reply_partner != server.0
        || extra(caller).fault_kind != 0
        || objects.tcb_priority(caller) < objects.tcb_priority(server)
    {
        return false;
    }
    let root = objects.cap(server.slot(TcbSlot::CSpaceRoot));
    let Ok((_, Cap::Endpoint { object, rights, .. })) = objects.lookup_cap(root, cptr) else {
        return false;
    };
    if !rights.contains(CapRights::READ) || objects.endpoint_state(object) == EndpointState::Sending
    {
        return false;
    }
    if objects.tcb_field(server, field::BOUND_NOTIFICATION) != 0 {
        return false; // pending signals must be checked: the general path does it
    }
    extra(caller).reply_partner = 0; // answered: deleting the reply cap must not wake it with an error
    let _ = objects.delete_cap(reply_slot, &mut KernelHooks);
    copy_registers(server, caller, info, 0);
    objects.endpoint_block(object, server, false, 0);
    kobj::make_not_runnable(server);
    kobj::make_runnable(caller);
    true
}
