//! The scheduler's ready queues: 256 priorities, round-robin within each.
//!
//! One FIFO queue per priority, linked through the TCBs' scheduling links,
//! and a two-level bitmap of non-empty queues so that the highest ready
//! priority is found with two leading-zero counts, whatever the number of
//! threads. The kernel owns one `ReadyQueues` (a fixed 4 KiB struct, not an
//! object array) and decides when to pick, rotate and preempt.

use crate::tcb::{field, Tcb};
use crate::Objects;

/// Thread priorities are 0 (lowest) to 255 (highest).
pub const PRIORITY_COUNT: usize = 256;
/// Bits per bitmap word.
const WORD_BITS: usize = 64;
/// Words in the second bitmap level: one bit per priority.
const BITMAP_WORDS: usize = PRIORITY_COUNT / WORD_BITS;

/// The ready queues.
#[derive(Clone, Debug)]
pub struct ReadyQueues {
    head: [u64; PRIORITY_COUNT],
    tail: [u64; PRIORITY_COUNT],
    /// Bit `w` set: `bitmap[w]` is non-zero.
    top: u64,
    /// Bit `p % 64` of word `p / 64` set: queue `p` is non-empty.
    bitmap: [u64; BITMAP_WORDS],
}

impl Default for ReadyQueues {
    fn default() -> Self {
        Self::new()
    }
}

impl ReadyQueues {
    /// Empty queues.
    pub const fn new() -> ReadyQueues {
        ReadyQueues {
            head: [0; PRIORITY_COUNT],
            tail: [0; PRIORITY_COUNT],
            top: 0,
            bitmap: [0; BITMAP_WORDS],
        }
    }

    fn mark(&mut self, priority: usize) {
        self.bitmap[priority / WORD_BITS] |= 1 << (priority % WORD_BITS);
        self.top |= 1 << (priority / WORD_BITS);
    }

    fn unmark(&mut self, priority: usize) {
        let word = priority / WORD_BITS;
        self.bitmap[word] &= !(1 << (priority % WORD_BITS));
        if self.bitmap[word] == 0 {
            self.top &= !(1 << word);
        }
    }

    /// The highest priority with a ready thread.
    #[inline]
    pub fn highest_priority(&self) -> Option<u8> {
        if self.top == 0 {
            return None;
        }
        let word = WORD_BITS - 1 - self.top.leading_zeros() as usize;
        let bit = WORD_BITS - 1 - self.bitmap[word].leading_zeros() as usize;
        Some((word * WORD_BITS + bit) as u8)
    }

    /// The thread that should run next: the head of the highest non-empty
    /// queue (it stays queued; the kernel dequeues or rotates it).
    #[inline]
    pub fn choose(&self) -> Option<Tcb> {
        self.highest_priority()
            .and_then(|p| Tcb::from_link(self.head[p as usize]))
    }

    /// Whether `tcb` is in a ready queue.
    #[inline]
    pub fn contains(&self, objects: &Objects, tcb: Tcb) -> bool {
        objects.tcb_field(tcb, field::IN_READY_QUEUE) != 0
    }

    /// Appends `tcb` to the queue of its priority (no-op if already queued).
    pub fn enqueue(&mut self, objects: &Objects, tcb: Tcb) {
        if self.contains(objects, tcb) {
            return;
        }
        let p = objects.tcb_priority(tcb) as usize;
        let tail = self.tail[p];
        objects.set_tcb_field(tcb, field::SCHED_PREV, tail);
        objects.set_tcb_field(tcb, field::SCHED_NEXT, 0);
        match Tcb::from_link(tail) {
            Some(t) => objects.set_tcb_field(t, field::SCHED_NEXT, tcb.0),
            None => self.head[p] = tcb.0,
        }
        self.tail[p] = tcb.0;
        objects.set_tcb_field(tcb, field::IN_READY_QUEUE, 1);
        self.mark(p);
    }

    /// Puts `tcb` at the front of its priority's queue (a preempted thread
    /// keeps its turn), no-op if already queued.
    pub fn enqueue_front(&mut self, objects: &Objects, tcb: Tcb) {
        if self.contains(objects, tcb) {
            return;
        }
        let p = objects.tcb_priority(tcb) as usize;
        let head = self.head[p];
        objects.set_tcb_field(tcb, field::SCHED_PREV, 0);
        objects.set_tcb_field(tcb, field::SCHED_NEXT, head);
        match Tcb::from_link(head) {
            Some(h) => objects.set_tcb_field(h, field::SCHED_PREV, tcb.0),
            None => self.tail[p] = tcb.0,
        }
        self.head[p] = tcb.0;
        objects.set_tcb_field(tcb, field::IN_READY_QUEUE, 1);
        self.mark(p);
    }

    /// Removes `tcb` from its queue (no-op if not queued). The thread's
    /// priority must not have changed since it was queued: change priority
    /// through [`ReadyQueues::set_priority`].
    pub fn remove(&mut self, objects: &Objects, tcb: Tcb) {
        if !self.contains(objects, tcb) {
            return;
        }
        let p = objects.tcb_priority(tcb) as usize;
        let prev = objects.tcb_field(tcb, field::SCHED_PREV);
        let next = objects.tcb_field(tcb, field::SCHED_NEXT);
        match Tcb::from_link(prev) {
            Some(t) => objects.set_tcb_field(t, field::SCHED_NEXT, next),
            None => self.head[p] = next,
        }
        match Tcb::from_link(next) {
            Some(t) => objects.set_tcb_field(t, field::SCHED_PREV, prev),
            None => self.tail[p] = prev,
        }
        objects.set_tcb_field(tcb, field::SCHED_PREV, 0);
        objects.set_tcb_field(tcb, field::SCHED_NEXT, 0);
        objects.set_tcb_field(tcb, field::IN_READY_QUEUE, 0);
        if self.head[p] == 0 {
            self.unmark(p);
        }
    }

    /// The running thread `out` stops (it blocks) and `into`, which is in
    /// no queue and has at least `out`'s priority, becomes runnable: the
    /// same as removing `out` and enqueueing `into` at the back of its
    /// queue, which is what the IPC fast path's general equivalent does.
    /// Returns whether `into` is now the thread to run (the head of the
    /// highest non-empty queue), so the caller can switch to it without
    /// choosing; otherwise the scheduler must choose (another thread of
    /// `into`'s priority was ready and comes first, round robin).
    ///
    /// When `out` is alone in its queue and `into` has its priority (a
    /// client and its server taking turns), `into` simply takes `out`'s
    /// place: a few stores, no bitmap change.
    ///
    /// `out` must be in its queue (the running thread is) and `into` in
    /// none (it was blocked).
    pub fn hand_over(&mut self, objects: &Objects, out: Tcb, into: Tcb) -> bool {
        debug_assert!(self.contains(objects, out) && !self.contains(objects, into));
        let p = objects.tcb_priority(out) as usize;
        if objects.tcb_priority(into) as usize == p
            && self.head[p] == out.0
            && self.tail[p] == out.0
        {
            objects.set_tcb_field(into, field::SCHED_PREV, 0);
            objects.set_tcb_field(into, field::SCHED_NEXT, 0);
            objects.set_tcb_field(into, field::IN_READY_QUEUE, 1);
            objects.set_tcb_field(out, field::IN_READY_QUEUE, 0);
            self.head[p] = into.0;
            self.tail[p] = into.0;
            return true;
        }
        self.remove(objects, out);
        self.enqueue(objects, into);
        self.choose() == Some(into)
    }

    /// Whether `tcb` is alone in its priority's queue (so rotating it, as
    /// Yield and the end of a time slice do, changes nothing).
    #[inline]
    pub fn is_alone(&self, objects: &Objects, tcb: Tcb) -> bool {
        let p = objects.tcb_priority(tcb) as usize;
        self.head[p] == tcb.0 && self.tail[p] == tcb.0
    }

    /// Round robin: moves `tcb` to the back of its queue (end of time slice, Yield).
    pub fn rotate(&mut self, objects: &Objects, tcb: Tcb) {
        self.remove(objects, tcb);
        self.enqueue(objects, tcb);
    }

    /// Changes a thread's priority, moving it between queues if it is ready.
    /// The caller has checked the MCP rule ([`Objects::check_priority`]).
    pub fn set_priority(&mut self, objects: &Objects, tcb: Tcb, priority: u8) {
        let queued = self.contains(objects, tcb);
        self.remove(objects, tcb);
        objects.set_tcb_priorities(tcb, priority, objects.tcb_mcp(tcb));
        if queued {
            self.enqueue(objects, tcb);
        }
    }
}

impl Objects {
    /// The MCP rule of `tcb_set_priority` / `tcb_set_mc_priority`: a thread
    /// (`authority`) can give a priority or MCP of at most its own MCP.
    pub fn check_priority(
        &self,
        authority: Tcb,
        priority: u64,
    ) -> Result<u8, crate::InvocationError> {
        let mcp = self.tcb_mcp(authority) as u64;
        if priority > mcp {
            return Err(crate::InvocationError::range(
                0,
                mcp,
                "priority above the authority's MCP",
            ));
        }
        Ok(priority as u8)
    }

    /// Sets a thread's maximum controlled priority (after [`Objects::check_priority`]).
    pub fn set_tcb_mcp(&self, tcb: Tcb, mcp: u8) {
        self.set_tcb_priorities(tcb, self.tcb_priority(tcb), mcp)
    }

    /// Sets the priority of a thread that is in no ready queue (new threads,
    /// boot); ready threads change through [`ReadyQueues::set_priority`].
    pub fn set_tcb_priority_unqueued(&self, tcb: Tcb, priority: u8) {
        debug_assert!(self.tcb_field(tcb, field::IN_READY_QUEUE) == 0);
        self.set_tcb_priorities(tcb, priority, self.tcb_mcp(tcb))
    }
}
