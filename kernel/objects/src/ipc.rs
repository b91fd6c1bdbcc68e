//! Endpoint and notification state: wait queues threaded through TCBs.
//!
//! This module keeps the data structures; the kernel's IPC path decides
//! when to block, wake and transfer messages. A thread waits in at most one
//! queue; its IPC links live in its TCB, so queues need no memory of their own.
//!
//! Endpoint (16 bytes): word 0 = head TCB | state (low 2 bits; TCBs are
//! 2 KiB aligned), word 1 = tail TCB. All queued threads wait for the same
//! thing: either all send or all receive.
//!
//! Notification (32 bytes): word 0 = head | state, word 1 = tail, word 2 =
//! the signal word (badges ORed together while nobody waits), word 3 = the
//! bound TCB.

use crate::phys::PAddr;
use crate::tcb::{field, Tcb, ThreadState};
use crate::Objects;

const STATE_MASK: u64 = 0b11;

/// What an endpoint's queue holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointState {
    Idle = 0,
    /// Senders wait (the queue holds threads blocked in Send or Call).
    Sending = 1,
    /// Receivers wait.
    Receiving = 2,
}

/// What a notification's queue holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationState {
    Idle = 0,
    /// Threads wait for a signal.
    Waiting = 1,
    /// Signals are pending in the signal word.
    Active = 2,
}

/// What `notification_signal` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalOutcome {
    /// No one waited: the badge was ORed into the signal word.
    Pending,
    /// A waiting thread was dequeued; deliver `badge` to it and make it runnable.
    Woke { tcb: Tcb, badge: u64 },
    /// The bound thread was waiting on an endpoint; it was taken off that
    /// endpoint's queue. Deliver `badge` to it as a notification and make it runnable.
    WokeBound { tcb: Tcb, badge: u64 },
}

/// A wait queue's head/tail words inside an endpoint or notification.
#[derive(Clone, Copy)]
struct Queue {
    head_word: PAddr,
    tail_word: PAddr,
}

impl Objects {
    fn queue_state(&self, q: Queue) -> u64 {
        self.mem.read_word(q.head_word) & STATE_MASK
    }
    fn set_queue_state(&self, q: Queue, state: u64) {
        let head = self.mem.read_word(q.head_word) & !STATE_MASK;
        self.mem.write_word(q.head_word, head | state);
    }
    fn queue_head(&self, q: Queue) -> Option<Tcb> {
        Tcb::from_link(self.mem.read_word(q.head_word) & !STATE_MASK)
    }
    fn set_queue_head(&self, q: Queue, head: Option<Tcb>) {
        let state = self.queue_state(q);
        self.mem
            .write_word(q.head_word, head.map_or(0, |t| t.0) | state);
    }
    fn queue_append(&self, q: Queue, tcb: Tcb) {
        let tail = Tcb::from_link(self.mem.read_word(q.tail_word));
        self.set_tcb_field(tcb, field::IPC_PREV, tail.map_or(0, |t| t.0));
        self.set_tcb_field(tcb, field::IPC_NEXT, 0);
        match tail {
            Some(t) => self.set_tcb_field(t, field::IPC_NEXT, tcb.0),
            None => self.set_queue_head(q, Some(tcb)),
        }
        self.mem.write_word(q.tail_word, tcb.0);
    }
    fn queue_remove(&self, q: Queue, tcb: Tcb) {
        let prev = Tcb::from_link(self.tcb_field(tcb, field::IPC_PREV));
        let next = Tcb::from_link(self.tcb_field(tcb, field::IPC_NEXT));
        match prev {
            Some(p) => self.set_tcb_field(p, field::IPC_NEXT, next.map_or(0, |t| t.0)),
            None => self.set_queue_head(q, next),
        }
        match next {
            Some(n) => self.set_tcb_field(n, field::IPC_PREV, prev.map_or(0, |t| t.0)),
            None => self.mem.write_word(q.tail_word, prev.map_or(0, |t| t.0)),
        }
        self.set_tcb_field(tcb, field::IPC_PREV, 0);
        self.set_tcb_field(tcb, field::IPC_NEXT, 0);
        self.set_tcb_field(tcb, field::BLOCKED_ON, 0);
    }

    fn endpoint_queue(endpoint: PAddr) -> Queue {
        Queue {
            head_word: endpoint,
            tail_word: endpoint + 8,
        }
    }
    fn notification_queue(notification: PAddr) -> Queue {
        Queue {
            head_word: notification,
            tail_word: notification + 8,
        }
    }

    // ---- Endpoints ----

    pub fn endpoint_state(&self, endpoint: PAddr) -> EndpointState {
        match self.queue_state(Self::endpoint_queue(endpoint)) {
            1 => EndpointState::Sending,
            2 => EndpointState::Receiving,
            _ => EndpointState::Idle,
        }
    }

    /// The first waiting thread, if any.
    pub fn endpoint_head(&self, endpoint: PAddr) -> Option<Tcb> {
        self.queue_head(Self::endpoint_queue(endpoint))
    }

    /// Blocks `tcb` on `endpoint` as a sender (`sending`) or receiver. The
    /// caller has checked the endpoint is idle or already in that state.
    pub fn endpoint_block(&self, endpoint: PAddr, tcb: Tcb, sending: bool, badge: u64) {
        let q = Self::endpoint_queue(endpoint);
        let (want, thread_state) = if sending {
            (EndpointState::Sending, ThreadState::BlockedOnSend)
        } else {
            (EndpointState::Receiving, ThreadState::BlockedOnReceive)
        };
        debug_assert!(
            matches!(self.endpoint_state(endpoint), EndpointState::Idle)
                || self.endpoint_state(endpoint) == want
        );
        self.queue_append(q, tcb);
        self.set_queue_state(q, want as u64);
        self.set_tcb_state(tcb, thread_state);
        self.set_tcb_field(tcb, field::BLOCKED_ON, endpoint);
        self.set_tcb_field(tcb, field::IPC_BADGE, badge);
    }

    /// Takes `tcb` off `endpoint`'s queue (the thread's state is the caller's).
    pub fn endpoint_dequeue(&self, endpoint: PAddr, tcb: Tcb) {
        let q = Self::endpoint_queue(endpoint);
        self.queue_remove(q, tcb);
        if self.queue_head(q).is_none() {
            self.set_queue_state(q, EndpointState::Idle as u64);
        }
    }

    /// Empties `endpoint`'s queue, setting each thread to `Restart` (its
    /// system call will run again and fail on the deleted cap) and handing
    /// it to `wake` to put in the ready queue. For finalising an endpoint.
    pub fn endpoint_cancel_all(&self, endpoint: PAddr, mut wake: impl FnMut(Tcb)) {
        while let Some(tcb) = self.endpoint_head(endpoint) {
            self.endpoint_dequeue(endpoint, tcb);
            self.set_tcb_state(tcb, ThreadState::Restart);
            wake(tcb);
        }
    }

    /// Takes every sender that used `badge` off `endpoint`'s queue, setting
    /// it to `Restart` and handing it to `wake` (`cnode_cancel_badged_sends`).
    pub fn endpoint_cancel_badged_sends(
        &self,
        endpoint: PAddr,
        badge: u64,
        mut wake: impl FnMut(Tcb),
    ) {
        if self.endpoint_state(endpoint) != EndpointState::Sending {
            return;
        }
        let mut cur = self.endpoint_head(endpoint);
        while let Some(tcb) = cur {
            cur = Tcb::from_link(self.tcb_field(tcb, field::IPC_NEXT));
            if self.tcb_field(tcb, field::IPC_BADGE) == badge {
                self.endpoint_dequeue(endpoint, tcb);
                self.set_tcb_state(tcb, ThreadState::Restart);
                wake(tcb);
            }
        }
    }

    /// Takes a blocked thread off whatever endpoint or notification queue it
    /// waits in (for suspend, destroy, or a bound notification's signal).
    /// Returns whether it was waiting in one.
    pub fn ipc_cancel(&self, tcb: Tcb) -> bool {
        let object = self.tcb_field(tcb, field::BLOCKED_ON);
        let cancelled = match self.tcb_state(tcb) {
            ThreadState::BlockedOnSend | ThreadState::BlockedOnReceive if object != 0 => {
                self.endpoint_dequeue(object, tcb);
                true
            }
            ThreadState::BlockedOnNotification if object != 0 => {
                let q = Self::notification_queue(object);
                self.queue_remove(q, tcb);
                if self.queue_head(q).is_none() {
                    self.set_queue_state(q, NotificationState::Idle as u64);
                }
                true
            }
            _ => false,
        };
        if cancelled {
            self.set_tcb_state(tcb, ThreadState::Inactive);
        }
        cancelled
    }

    // ---- Notifications ----

    pub fn notification_state(&self, notification: PAddr) -> NotificationState {
        match self.queue_state(Self::notification_queue(notification)) {
            1 => NotificationState::Waiting,
            2 => NotificationState::Active,
            _ => NotificationState::Idle,
        }
    }

    /// The pending signal word (meaningful when `Active`).
    pub fn notification_word(&self, notification: PAddr) -> u64 {
        self.mem.read_word(notification + 16)
    }

    /// The thread bound to the notification, if any.
    pub fn notification_bound_tcb(&self, notification: PAddr) -> Option<Tcb> {
        Tcb::from_link(self.mem.read_word(notification + 24))
    }

    /// Signals `notification` with `badge` (the signalling cap's badge).
    pub fn notification_signal(&self, notification: PAddr, badge: u64) -> SignalOutcome {
        let q = Self::notification_queue(notification);
        match self.notification_state(notification) {
            NotificationState::Waiting => {
                let tcb = self
                    .queue_head(q)
                    .expect("a waiting notification has waiters");
                self.queue_remove(q, tcb);
                if self.queue_head(q).is_none() {
                    self.set_queue_state(q, NotificationState::Idle as u64);
                }
                self.set_tcb_state(tcb, ThreadState::Running);
                self.set_tcb_field(tcb, field::IPC_BADGE, badge);
                SignalOutcome::Woke { tcb, badge }
            }
            state => {
                let pending = if state == NotificationState::Active {
                    self.notification_word(notification)
                } else {
                    0
                };
                if state == NotificationState::Idle {
                    if let Some(bound) = self.notification_bound_tcb(notification) {
                        if self.tcb_state(bound) == ThreadState::BlockedOnReceive {
                            self.ipc_cancel(bound);
                            self.set_tcb_state(bound, ThreadState::Running);
                            self.set_tcb_field(bound, field::IPC_BADGE, badge);
                            return SignalOutcome::WokeBound { tcb: bound, badge };
                        }
                    }
                }
                self.mem.write_word(notification + 16, pending | badge);
                self.set_queue_state(q, NotificationState::Active as u64);
                SignalOutcome::Pending
            }
        }
    }

    /// Takes the pending signal word if the notification is active (Poll,
    /// and the first half of Wait). Returns `None` if nothing is pending.
    pub fn notification_take(&self, notification: PAddr) -> Option<u64> {
        if self.notification_state(notification) != NotificationState::Active {
            return None;
        }
        let word = self.notification_word(notification);
        self.mem.write_word(notification + 16, 0);
        self.set_queue_state(
            Self::notification_queue(notification),
            NotificationState::Idle as u64,
        );
        Some(word)
    }

    /// Wait: returns the pending word at once, or blocks `tcb` and returns `None`.
    pub fn notification_wait(&self, notification: PAddr, tcb: Tcb) -> Option<u64> {
        if let Some(word) = self.notification_take(notification) {
            return Some(word);
        }
        let q = Self::notification_queue(notification);
        self.queue_append(q, tcb);
        self.set_queue_state(q, NotificationState::Waiting as u64);
        self.set_tcb_state(tcb, ThreadState::BlockedOnNotification);
        self.set_tcb_field(tcb, field::BLOCKED_ON, notification);
        None
    }

    /// Empties the notification's queue like [`Objects::endpoint_cancel_all`],
    /// and unbinds its bound thread.
    pub fn notification_cancel_all(&self, notification: PAddr, mut wake: impl FnMut(Tcb)) {
        let q = Self::notification_queue(notification);
        while let Some(tcb) = self.queue_head(q) {
            self.queue_remove(q, tcb);
            self.set_tcb_state(tcb, ThreadState::Restart);
            wake(tcb);
        }
        self.set_queue_state(q, NotificationState::Idle as u64);
        if let Some(bound) = self.notification_bound_tcb(notification) {
            self.set_tcb_field(bound, field::BOUND_NOTIFICATION, 0);
            self.mem.write_word(notification + 24, 0);
        }
    }

    /// Binds `notification` to `tcb` (`tcb_bind_notification`): signals then
    /// wake the thread even while it waits on an endpoint.
    pub fn bind_notification(
        &self,
        tcb: Tcb,
        notification: PAddr,
    ) -> Result<(), crate::InvocationError> {
        if self.tcb_field(tcb, field::BOUND_NOTIFICATION) != 0 {
            return Err(crate::InvocationError::illegal(
                "the thread already has a bound notification",
            ));
        }
        if self.notification_bound_tcb(notification).is_some() {
            return Err(crate::InvocationError::illegal(
                "the notification is already bound",
            ));
        }
        if self.notification_state(notification) == NotificationState::Waiting {
            return Err(crate::InvocationError::illegal(
                "threads are waiting on the notification",
            ));
        }
        self.set_tcb_field(tcb, field::BOUND_NOTIFICATION, notification);
        self.mem.write_word(notification + 24, tcb.0);
        Ok(())
    }

    /// `tcb_unbind_notification`.
    pub fn unbind_notification(&self, tcb: Tcb) -> Result<(), crate::InvocationError> {
        let notification = self.tcb_field(tcb, field::BOUND_NOTIFICATION);
        if notification == 0 {
            return Err(crate::InvocationError::illegal(
                "the thread has no bound notification",
            ));
        }
        self.set_tcb_field(tcb, field::BOUND_NOTIFICATION, 0);
        self.mem.write_word(notification + 24, 0);
        Ok(())
    }
}
