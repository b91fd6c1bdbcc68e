//! The timeout queue: threads in a timed receive, ordered by deadline.
//!
//! A thread that waits with a deadline (`RecvUntil`) is linked into this
//! queue through its TCB's timeout fields, sorted by deadline (TSC ticks),
//! earliest first, so the timer tick only ever looks at the head. The
//! kernel owns one `TimeoutQueue` and decides what "expired" means; this
//! crate only keeps the order. Inserting walks the queue (it holds at most
//! one entry per thread, and threads that wait with a deadline are few);
//! removing and taking the head are constant time.

use crate::tcb::{field, Tcb};
use crate::Objects;

/// The head of the queue (the earliest deadline).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeoutQueue {
    head: u64,
}

impl TimeoutQueue {
    /// An empty queue.
    pub const fn new() -> TimeoutQueue {
        TimeoutQueue { head: 0 }
    }

    /// Whether `tcb` is queued.
    pub fn contains(&self, objects: &Objects, tcb: Tcb) -> bool {
        objects.tcb_field(tcb, field::TIMEOUT_DEADLINE) != 0
    }

    /// The earliest deadline and its thread.
    pub fn first(&self, objects: &Objects) -> Option<(u64, Tcb)> {
        Tcb::from_link(self.head).map(|t| (objects.tcb_field(t, field::TIMEOUT_DEADLINE), t))
    }

    /// Queues `tcb` with `deadline` (at least 1: 0 marks "not queued"),
    /// after every thread with the same or an earlier deadline. A thread
    /// already queued is moved to its new place.
    pub fn insert(&mut self, objects: &Objects, tcb: Tcb, deadline: u64) {
        self.remove(objects, tcb);
        let deadline = deadline.max(1);
        let mut prev: Option<Tcb> = None;
        let mut next = Tcb::from_link(self.head);
        while let Some(n) = next {
            if objects.tcb_field(n, field::TIMEOUT_DEADLINE) > deadline {
                break;
            }
            prev = Some(n);
            next = Tcb::from_link(objects.tcb_field(n, field::TIMEOUT_NEXT));
        }
        objects.set_tcb_field(tcb, field::TIMEOUT_DEADLINE, deadline);
        objects.set_tcb_field(tcb, field::TIMEOUT_PREV, prev.map_or(0, |t| t.0));
        objects.set_tcb_field(tcb, field::TIMEOUT_NEXT, next.map_or(0, |t| t.0));
        match prev {
            Some(p) => objects.set_tcb_field(p, field::TIMEOUT_NEXT, tcb.0),
            None => self.head = tcb.0,
        }
        if let Some(n) = next {
            objects.set_tcb_field(n, field::TIMEOUT_PREV, tcb.0);
        }
    }

    /// Takes `tcb` out of the queue; returns whether it was queued.
    pub fn remove(&mut self, objects: &Objects, tcb: Tcb) -> bool {
        if !self.contains(objects, tcb) {
            return false;
        }
        let prev = Tcb::from_link(objects.tcb_field(tcb, field::TIMEOUT_PREV));
        let next = Tcb::from_link(objects.tcb_field(tcb, field::TIMEOUT_NEXT));
        match prev {
            Some(p) => objects.set_tcb_field(p, field::TIMEOUT_NEXT, next.map_or(0, |t| t.0)),
            None => self.head = next.map_or(0, |t| t.0),
        }
        if let Some(n) = next {
            objects.set_tcb_field(n, field::TIMEOUT_PREV, prev.map_or(0, |t| t.0));
        }
        objects.set_tcb_field(tcb, field::TIMEOUT_DEADLINE, 0);
        objects.set_tcb_field(tcb, field::TIMEOUT_PREV, 0);
        objects.set_tcb_field(tcb, field::TIMEOUT_NEXT, 0);
        true
    }

    /// Takes the head off the queue if its deadline is at or before `now`.
    pub fn pop_expired(&mut self, objects: &Objects, now: u64) -> Option<Tcb> {
        let (deadline, tcb) = self.first(objects)?;
        if deadline > now {
            return None;
        }
        self.remove(objects, tcb);
        Some(tcb)
    }
}
