//! Endpoint and notification wait queues, bound notifications, and the
//! scheduler's ready queues.

mod common;

use common::*;
use ward_abi::object::ObjectType;
use ward_kernel_objects::ipc::{EndpointState, NotificationState, SignalOutcome};
use ward_kernel_objects::sched::ReadyQueues;
use ward_kernel_objects::tcb::{field, ThreadState};
use ward_kernel_objects::{PAddr, Tcb};

/// Boot with `n` TCBs in root slots 1.., an endpoint in slot 20 and a
/// notification in slot 21.
fn setup(n: u64) -> (Boot, Vec<Tcb>, PAddr, PAddr) {
    let b = Boot::new(5, 16);
    b.retype(ObjectType::Tcb as u64, 0, 1, n);
    b.retype(ObjectType::Endpoint as u64, 0, 20, 1);
    b.retype(ObjectType::Notification as u64, 0, 21, 1);
    let tcbs = (1..=n).map(|i| Tcb(b.cap(i).object().unwrap())).collect();
    let (ep, ntfn) = (b.cap(20).object().unwrap(), b.cap(21).object().unwrap());
    (b, tcbs, ep, ntfn)
}

#[test]
fn endpoint_queue_is_fifo_and_tracks_its_state() {
    let (b, t, ep, _) = setup(3);
    let o = b.o();
    assert_eq!(o.endpoint_state(ep), EndpointState::Idle);
    for (i, tcb) in t.iter().enumerate() {
        o.endpoint_block(ep, *tcb, true, 100 + i as u64);
    }
    assert_eq!(o.endpoint_state(ep), EndpointState::Sending);
    assert_eq!(o.tcb_state(t[0]), ThreadState::BlockedOnSend);
    assert_eq!(o.tcb_field(t[1], field::IPC_BADGE), 101);
    assert_eq!(o.endpoint_head(ep), Some(t[0]));
    // Remove from the middle, then the head.
    o.endpoint_dequeue(ep, t[1]);
    o.endpoint_dequeue(ep, t[0]);
    assert_eq!(o.endpoint_head(ep), Some(t[2]));
    o.endpoint_dequeue(ep, t[2]);
    assert_eq!(o.endpoint_state(ep), EndpointState::Idle);
    assert_eq!(o.endpoint_head(ep), None);
    // Receivers.
    o.endpoint_block(ep, t[1], false, 0);
    assert_eq!(o.endpoint_state(ep), EndpointState::Receiving);
    assert_eq!(o.tcb_state(t[1]), ThreadState::BlockedOnReceive);
}

#[test]
fn cancel_all_wakes_every_waiter_for_restart() {
    let (b, t, ep, ntfn) = setup(4);
    let o = b.o();
    o.endpoint_block(ep, t[0], false, 0);
    o.endpoint_block(ep, t[1], false, 0);
    assert_eq!(o.notification_wait(ntfn, t[2]), None);
    let mut woken = Vec::new();
    o.endpoint_cancel_all(ep, |tcb| woken.push(tcb));
    o.notification_cancel_all(ntfn, |tcb| woken.push(tcb));
    assert_eq!(woken, vec![t[0], t[1], t[2]]);
    for tcb in &t[..3] {
        assert_eq!(o.tcb_state(*tcb), ThreadState::Restart);
    }
    assert_eq!(o.endpoint_state(ep), EndpointState::Idle);
    assert_eq!(o.notification_state(ntfn), NotificationState::Idle);
}

#[test]
fn ipc_cancel_takes_a_thread_out_of_any_queue() {
    let (b, t, ep, ntfn) = setup(2);
    let o = b.o();
    o.endpoint_block(ep, t[0], true, 0);
    assert_eq!(o.notification_wait(ntfn, t[1]), None);
    assert!(o.ipc_cancel(t[0]));
    assert!(o.ipc_cancel(t[1]));
    assert!(!o.ipc_cancel(t[1]));
    assert_eq!(o.tcb_state(t[0]), ThreadState::Inactive);
    assert_eq!(o.endpoint_state(ep), EndpointState::Idle);
    assert_eq!(o.notification_state(ntfn), NotificationState::Idle);
}

#[test]
fn signals_or_their_badges_until_someone_waits() {
    let (b, t, _, ntfn) = setup(2);
    let o = b.o();
    assert_eq!(o.notification_take(ntfn), None);
    assert_eq!(o.notification_signal(ntfn, 0b001), SignalOutcome::Pending);
    assert_eq!(o.notification_signal(ntfn, 0b100), SignalOutcome::Pending);
    assert_eq!(o.notification_state(ntfn), NotificationState::Active);
    // Wait returns at once with the ORed badges, and clears them.
    assert_eq!(o.notification_wait(ntfn, t[0]), Some(0b101));
    assert_eq!(o.notification_take(ntfn), None);
    // A waiter is woken by the next signal with that signal's badge.
    assert_eq!(o.notification_wait(ntfn, t[0]), None);
    assert_eq!(o.notification_wait(ntfn, t[1]), None);
    assert_eq!(
        o.notification_signal(ntfn, 0b010),
        SignalOutcome::Woke {
            tcb: t[0],
            badge: 0b010
        }
    );
    assert_eq!(o.tcb_state(t[0]), ThreadState::Running);
    assert_eq!(o.notification_state(ntfn), NotificationState::Waiting);
}

#[test]
fn a_bound_notification_wakes_its_thread_from_an_endpoint() {
    let (b, t, ep, ntfn) = setup(2);
    let o = b.o();
    o.bind_notification(t[0], ntfn).unwrap();
    assert_eq!(o.notification_bound_tcb(ntfn), Some(t[0]));
    // Binding twice, or a second thread, is illegal.
    assert!(o.bind_notification(t[0], ntfn).is_err());
    assert!(o.bind_notification(t[1], ntfn).is_err());
    o.endpoint_block(ep, t[0], false, 0);
    assert_eq!(
        o.notification_signal(ntfn, 8),
        SignalOutcome::WokeBound {
            tcb: t[0],
            badge: 8
        }
    );
    assert_eq!(o.endpoint_state(ep), EndpointState::Idle);
    assert_eq!(o.tcb_state(t[0]), ThreadState::Running);
    // Not blocked: the signal stays pending.
    assert_eq!(o.notification_signal(ntfn, 1), SignalOutcome::Pending);
    o.unbind_notification(t[0]).unwrap();
    assert!(o.unbind_notification(t[0]).is_err());
    assert_eq!(o.notification_bound_tcb(ntfn), None);
    // A notification with waiters cannot be bound.
    let _ = o.notification_take(ntfn);
    assert_eq!(o.notification_wait(ntfn, t[1]), None);
    assert!(o.bind_notification(t[0], ntfn).is_err());
}

#[test]
fn ready_queues_pick_the_highest_priority_round_robin() {
    let (b, t, _, _) = setup(4);
    let o = b.o();
    let mut rq = ReadyQueues::new();
    assert_eq!(rq.choose(), None);
    for (tcb, prio) in t.iter().zip([10u8, 200, 200, 0]) {
        o.set_tcb_priority_unqueued(*tcb, prio);
        rq.enqueue(&o, *tcb);
    }
    rq.enqueue(&o, t[1]); // already queued: no effect
    assert_eq!(rq.highest_priority(), Some(200));
    assert_eq!(rq.choose(), Some(t[1]));
    rq.rotate(&o, t[1]);
    assert_eq!(rq.choose(), Some(t[2]));
    rq.rotate(&o, t[2]);
    assert_eq!(rq.choose(), Some(t[1]));
    rq.remove(&o, t[1]);
    rq.remove(&o, t[2]);
    assert_eq!(rq.choose(), Some(t[0]));
    rq.remove(&o, t[0]);
    assert_eq!(rq.choose(), Some(t[3]));
    assert_eq!(rq.highest_priority(), Some(0));
    rq.enqueue_front(&o, t[0]);
    rq.set_priority(&o, t[0], 255);
    assert_eq!(rq.choose(), Some(t[0]));
    assert_eq!(o.tcb_priority(t[0]), 255);
    rq.remove(&o, t[0]);
    rq.remove(&o, t[3]);
    assert_eq!(rq.choose(), None);
}

#[test]
fn every_priority_is_found() {
    let (b, t, _, _) = setup(1);
    let o = b.o();
    let mut rq = ReadyQueues::new();
    for prio in 0..=255u8 {
        o.set_tcb_priority_unqueued(t[0], prio);
        rq.enqueue(&o, t[0]);
        assert_eq!(rq.highest_priority(), Some(prio));
        rq.remove(&o, t[0]);
    }
}

#[test]
fn the_mcp_rule() {
    let (b, t, _, _) = setup(2);
    let o = b.o();
    o.set_tcb_mcp(t[0], 100);
    assert_eq!(o.check_priority(t[0], 100), Ok(100));
    let e = o.check_priority(t[0], 101).unwrap_err();
    assert_eq!(e.error, ward_abi::Error::RangeError);
    assert_eq!(
        e.detail,
        ward_kernel_objects::ErrorDetail::Range { min: 0, max: 100 }
    );
}

#[test]
fn tcb_layout_leaves_the_context_to_the_kernel() {
    let (b, t, _, _) = setup(1);
    let o = b.o();
    let ctx = o.tcb_context(t[0]);
    assert_eq!(ctx as usize % 8, 0);
    use ward_kernel_objects::tcb::{TcbSlot, TCB_CONTEXT_BYTES};
    assert_eq!(t[0].slot(TcbSlot::CSpaceRoot).0, t[0].0 + TCB_CONTEXT_BYTES);
    assert!(o.cap(t[0].slot(TcbSlot::Caller)).is_null());
}

#[test]
fn cancel_badged_sends_takes_only_that_badge() {
    let (b, t, ep, _) = setup(3);
    let o = b.o();
    o.cnode_mint(
        b.root,
        22,
        5,
        b.root,
        20,
        5,
        ward_abi::rights::CapRights::ALL,
        7,
    )
    .unwrap();
    o.endpoint_block(ep, t[0], true, 7);
    o.endpoint_block(ep, t[1], true, 8);
    o.endpoint_block(ep, t[2], true, 7);
    let mut woken = Vec::new();
    o.cnode_cancel_badged_sends(b.root, 22, 5, |tcb| woken.push(tcb))
        .unwrap();
    assert_eq!(woken, vec![t[0], t[2]]);
    assert_eq!(o.endpoint_head(ep), Some(t[1]));
    assert_eq!(o.tcb_state(t[0]), ThreadState::Restart);
    // Needs an endpoint cap with all rights.
    o.cnode_copy(
        b.root,
        23,
        5,
        b.root,
        22,
        5,
        ward_abi::rights::CapRights::WRITE,
    )
    .unwrap();
    let e = o
        .cnode_cancel_badged_sends(b.root, 23, 5, |_| {})
        .unwrap_err();
    assert_eq!(e.error, ward_abi::Error::IllegalOperation);
}

mod timeouts {
    use super::*;
    use ward_kernel_objects::timeouts::TimeoutQueue;

    fn drain(q: &mut TimeoutQueue, o: &ward_kernel_objects::Objects, now: u64) -> Vec<Tcb> {
        std::iter::from_fn(|| q.pop_expired(o, now)).collect()
    }

    #[test]
    fn expire_in_deadline_order_and_only_when_due() {
        let (b, t, _, _) = setup(4);
        let o = b.o();
        let mut q = TimeoutQueue::new();
        q.insert(&o, t[0], 300);
        q.insert(&o, t[1], 100);
        q.insert(&o, t[2], 200);
        q.insert(&o, t[3], 100); // equal deadlines keep arrival order
        assert_eq!(q.first(&o), Some((100, t[1])));
        assert_eq!(drain(&mut q, &o, 99), vec![]);
        assert_eq!(drain(&mut q, &o, 200), vec![t[1], t[3], t[2]]);
        assert!(q.contains(&o, t[0]));
        assert!(!q.contains(&o, t[1]));
        assert_eq!(drain(&mut q, &o, u64::MAX), vec![t[0]]);
        assert_eq!(q.first(&o), None);
    }

    #[test]
    fn remove_and_reinsert_keep_the_links_straight() {
        let (b, t, _, _) = setup(4);
        let o = b.o();
        let mut q = TimeoutQueue::new();
        for (i, tcb) in t.iter().enumerate() {
            q.insert(&o, *tcb, 10 * (i as u64 + 1));
        }
        assert!(q.remove(&o, t[1])); // middle
        assert!(!q.remove(&o, t[1])); // twice is harmless
        assert!(q.remove(&o, t[0])); // head
        q.insert(&o, t[3], 5); // moving the tail to the front
        q.insert(&o, t[0], 0); // deadline 0 still queues (as 1)
        assert_eq!(drain(&mut q, &o, 1000), vec![t[0], t[3], t[2]]);
        for tcb in &t {
            assert_eq!(o.tcb_field(*tcb, field::TIMEOUT_NEXT), 0);
            assert_eq!(o.tcb_field(*tcb, field::TIMEOUT_PREV), 0);
        }
    }
}
