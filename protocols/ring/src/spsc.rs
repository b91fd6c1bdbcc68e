//! The two ends of one single-producer single-consumer ring.
//!
//! Each end keeps private copies of everything it relies on: the capacity,
//! the pool geometry, its own index, the last index it published, and the
//! last peer index it read and accepted. Shared memory is only ever the
//! source of the peer's index and the descriptors, and both are checked
//! against the private copies before use:
//!
//! - the consumer accepts a new head only in `cached_head ..= released + capacity`;
//! - the producer accepts a new tail only in `cached_tail ..= published`;
//! - every descriptor must name a buffer inside one pool slot.
//!
//! Ordering: descriptors are written before the head that covers them is
//! stored with release; the consumer loads the head with acquire before it
//! reads those descriptors. Symmetrically the consumer has finished reading
//! descriptors (and the buffers they name) before it stores the tail with
//! release, and the producer loads the tail with acquire before reusing slots.
//!
//! Entries are produced or consumed locally and made visible to the peer in
//! one store by [`Producer::publish`] / [`Consumer::release`], so a batch
//! costs one index store, one fence and one signal decision.

use core::sync::atomic::Ordering;

use crate::error::{DescriptorFault, PeerMisbehaved, PushError, SharedIndex};
use crate::layout::RawDescriptor;
use crate::memory::{ControlWord, RingMemory};
use crate::pool::{Buffer, PoolGeometry};
use crate::signal::{passes, Notify, Pressure, SignalPolicy, WaitDecision, Watermarks};

/// Builds the report of an out-of-range index; kept out of line so that the
/// hot paths stay small enough to inline.
#[cold]
#[inline(never)]
fn index_out_of_range(index: SharedIndex, found: u32, ours: u32, capacity: u32) -> PeerMisbehaved {
    PeerMisbehaved::IndexOutOfRange {
        index,
        found,
        ours,
        capacity,
    }
}

/// Builds the report of a bad descriptor, out of line like [`index_out_of_range`].
#[cold]
#[inline(never)]
fn bad_descriptor(at: u32, descriptor: RawDescriptor, fault: DescriptorFault) -> PeerMisbehaved {
    PeerMisbehaved::BadDescriptor {
        at,
        descriptor,
        fault,
    }
}

/// The producing end of a ring.
#[derive(Debug)]
pub struct Producer<M> {
    memory: M,
    capacity: u32,
    /// Next free-running index to fill; entries below it and at or above
    /// `published` are written but not yet visible to the consumer.
    head: u32,
    /// Last head stored to shared memory.
    published: u32,
    /// Last tail read from the consumer and accepted.
    cached_tail: u32,
    /// Private copy of who may sleep on this ring.
    policy: SignalPolicy,
}

impl<M: RingMemory> Producer<M> {
    /// The producer of a freshly initialised ring (all indices zero) of
    /// `capacity` entries with signal `policy`; both are this side's private
    /// copies, from the system description.
    pub fn new(memory: M, capacity: u32, policy: SignalPolicy) -> Self {
        debug_assert!(capacity.is_power_of_two());
        Self {
            memory,
            capacity,
            head: 0,
            published: 0,
            cached_tail: 0,
            policy,
        }
    }

    /// Private capacity.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The shared memory this end works on.
    pub fn memory(&self) -> &M {
        &self.memory
    }

    #[inline(always)]
    fn refresh_tail(&mut self) -> Result<(), PeerMisbehaved> {
        let found = self.memory.load(ControlWord::Tail, Ordering::Acquire);
        // The consumer can release only what we published, and never un-release.
        if found.wrapping_sub(self.cached_tail) > self.published.wrapping_sub(self.cached_tail) {
            return Err(index_out_of_range(
                SharedIndex::Tail,
                found,
                self.published,
                self.capacity,
            ));
        }
        self.cached_tail = found;
        Ok(())
    }

    /// Slots free for [`push`](Self::push), after reading the consumer's tail.
    pub fn free(&mut self) -> Result<u32, PeerMisbehaved> {
        self.refresh_tail()?;
        Ok(self.capacity - self.head.wrapping_sub(self.cached_tail))
    }

    /// Entries pushed but not yet published.
    pub fn unpublished(&self) -> u32 {
        self.head.wrapping_sub(self.published)
    }

    /// Writes one entry into the ring without publishing it. Reads the
    /// consumer's tail only when the ring looks full.
    #[inline]
    pub fn push(&mut self, buffer: Buffer) -> Result<(), PushError<Buffer>> {
        self.push_descriptor(buffer.descriptor())
            .map_err(|e| match e {
                PushError::Full(_) => PushError::Full(buffer),
                PushError::Peer(p, _) => PushError::Peer(p, buffer),
            })
    }

    /// Writes a raw descriptor, checked against nothing, into the ring
    /// without publishing it: what a misbehaving producer does. For tests
    /// that play a hostile peer against a consumer (which must count and
    /// drop such entries); a correct producer pushes [`Buffer`]s.
    pub fn push_unchecked(
        &mut self,
        descriptor: RawDescriptor,
    ) -> Result<(), PushError<RawDescriptor>> {
        self.push_descriptor(descriptor)
    }

    #[inline(always)]
    fn push_descriptor(
        &mut self,
        descriptor: RawDescriptor,
    ) -> Result<(), PushError<RawDescriptor>> {
        if self.head.wrapping_sub(self.cached_tail) >= self.capacity {
            if let Err(e) = self.refresh_tail() {
                return Err(PushError::Peer(e, descriptor));
            }
            if self.head.wrapping_sub(self.cached_tail) >= self.capacity {
                return Err(PushError::Full(descriptor));
            }
        }
        self.memory.write_descriptor(self.head, descriptor);
        self.head = self.head.wrapping_add(1);
        Ok(())
    }

    /// Pushes as many of `buffers` as fit (without publishing); returns how many.
    #[inline]
    pub fn push_slice(&mut self, buffers: &[Buffer]) -> Result<usize, PeerMisbehaved> {
        let mut room = self.capacity - self.head.wrapping_sub(self.cached_tail);
        if (room as usize) < buffers.len() {
            self.refresh_tail()?;
            room = self.capacity - self.head.wrapping_sub(self.cached_tail);
        }
        let n = buffers.len().min(room as usize);
        self.memory.write_from(self.head, &buffers[..n]);
        self.head = self.head.wrapping_add(n as u32);
        Ok(n)
    }

    /// Makes every pushed entry visible to the consumer with one release
    /// store, then (if the consumer may sleep) decides whether it asked to be
    /// signalled.
    #[inline]
    pub fn publish(&mut self) -> Notify {
        let old = self.published;
        if old == self.head {
            return Notify::Quiet;
        }
        self.memory
            .store(ControlWord::Head, self.head, Ordering::Release);
        self.published = self.head;
        if !self.policy.consumer_sleeps {
            return Notify::Quiet;
        }
        // Order the head store before the wake-at load; the consumer fences
        // between its wake-at store and its head load (see `prepare_wait`).
        self.memory.fence_seq_cst();
        let wake_at = self
            .memory
            .load(ControlWord::ConsumerWakeAt, Ordering::Relaxed);
        if passes(wake_at, old, self.head) {
            Notify::Signal
        } else {
            Notify::Quiet
        }
    }

    /// Asks the consumer for a signal once at least `min_free` slots are
    /// free (clamped to `1..=capacity`), then re-checks. On
    /// [`WaitDecision::Sleep`] wait for the signal; on `Ready` carry on; on
    /// `Poll` (the policy does not let the producer sleep) retry later.
    pub fn prepare_wait(&mut self, min_free: u32) -> Result<WaitDecision, PeerMisbehaved> {
        if !self.policy.producer_sleeps {
            return Ok(WaitDecision::Poll);
        }
        let wanted = min_free.clamp(1, self.capacity);
        // Releasing entry `head - capacity + wanted - 1` leaves `wanted` slots free.
        let wake_at = self
            .head
            .wrapping_sub(self.capacity)
            .wrapping_add(wanted - 1);
        self.memory
            .store(ControlWord::ProducerWakeAt, wake_at, Ordering::Relaxed);
        self.memory.fence_seq_cst();
        if self.free()? >= wanted {
            Ok(WaitDecision::Ready)
        } else {
            Ok(WaitDecision::Sleep)
        }
    }

    /// Occupancy (entries the consumer has not released) against `marks`.
    pub fn pressure(&mut self, marks: &Watermarks) -> Result<Pressure, PeerMisbehaved> {
        self.refresh_tail()?;
        Ok(marks.pressure(self.head.wrapping_sub(self.cached_tail)))
    }
}

/// The consuming end of a ring.
#[derive(Debug)]
pub struct Consumer<M> {
    memory: M,
    capacity: u32,
    pool: PoolGeometry,
    /// Next free-running index to read.
    tail: u32,
    /// Last tail stored to shared memory.
    released: u32,
    /// Last head read from the producer and accepted.
    cached_head: u32,
    /// Private copy of who may sleep on this ring.
    policy: SignalPolicy,
}

impl<M: RingMemory> Consumer<M> {
    /// The consumer of a freshly initialised ring of `capacity` entries whose
    /// descriptors must name buffers of `pool`, with signal `policy`. All are
    /// this side's private copies, from the system description.
    pub fn new(memory: M, capacity: u32, pool: PoolGeometry, policy: SignalPolicy) -> Self {
        debug_assert!(capacity.is_power_of_two());
        Self {
            memory,
            capacity,
            pool,
            tail: 0,
            released: 0,
            cached_head: 0,
            policy,
        }
    }

    /// Private capacity.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Private pool geometry.
    pub fn pool(&self) -> PoolGeometry {
        self.pool
    }

    /// The shared memory this end works on.
    pub fn memory(&self) -> &M {
        &self.memory
    }

    #[inline(always)]
    fn refresh_head(&mut self) -> Result<(), PeerMisbehaved> {
        let found = self.memory.load(ControlWord::Head, Ordering::Acquire);
        // The producer can be at most `capacity` ahead of what we released,
        // and never goes back.
        let limit = self.released.wrapping_add(self.capacity);
        if found.wrapping_sub(self.cached_head) > limit.wrapping_sub(self.cached_head) {
            return Err(index_out_of_range(
                SharedIndex::Head,
                found,
                self.released,
                self.capacity,
            ));
        }
        self.cached_head = found;
        Ok(())
    }

    /// Entries ready to pop, after reading the producer's head.
    pub fn available(&mut self) -> Result<u32, PeerMisbehaved> {
        self.refresh_head()?;
        Ok(self.cached_head.wrapping_sub(self.tail))
    }

    /// Entries popped but not yet released.
    pub fn unreleased(&self) -> u32 {
        self.tail.wrapping_sub(self.released)
    }

    #[inline(always)]
    fn take(&mut self) -> Result<Buffer, PeerMisbehaved> {
        let at = self.tail;
        let descriptor = self.memory.read_descriptor(at);
        self.tail = at.wrapping_add(1);
        match self.pool.validate(descriptor) {
            Ok(buffer) => Ok(buffer),
            Err(fault) => Err(bad_descriptor(at, descriptor, fault)),
        }
    }

    /// Takes the next entry, validated against the pool. The slot is not
    /// handed back to the producer until [`release`](Self::release). A bad
    /// descriptor is consumed and reported, so the next call moves on.
    #[inline(always)]
    pub fn pop(&mut self) -> Result<Option<Buffer>, PeerMisbehaved> {
        if self.tail == self.cached_head {
            self.refresh_head()?;
            if self.tail == self.cached_head {
                return Ok(None);
            }
        }
        self.take().map(Some)
    }

    /// Pops up to `out.len()` entries; returns how many. Reads the head at
    /// most once. A bad descriptor ends the batch: if it is the first entry
    /// it is consumed and reported, otherwise it is left for the next call.
    #[inline(always)]
    pub fn pop_into(&mut self, out: &mut [Buffer]) -> Result<usize, PeerMisbehaved> {
        let mut ready = self.cached_head.wrapping_sub(self.tail);
        if (ready as usize) < out.len() {
            self.refresh_head()?;
            ready = self.cached_head.wrapping_sub(self.tail);
        }
        let n = out.len().min(ready as usize);
        let out = &mut out[..n];
        // Two passes: copy the descriptors out of shared memory, then
        // validate the private copies in place. Neither loop then has to keep
        // both the ring's and the pool's geometry in registers.
        self.memory.read_into(self.tail, out);
        for i in 0..n {
            if let Err(fault) = out[i].check_in(&self.pool) {
                return self.stop_batch(out, i, fault);
            }
        }
        self.tail = self.tail.wrapping_add(n as u32);
        Ok(n)
    }

    /// Ends a batch of [`pop_into`](Self::pop_into) at `out[taken]`, whose
    /// descriptor is bad: the entries before it are kept; the bad one is
    /// consumed and reported if it came first, and left for the next call
    /// otherwise. The unvalidated copies from `taken` on are wiped, so that
    /// `out` holds only buffers of the pool.
    #[cold]
    #[inline(never)]
    fn stop_batch(
        &mut self,
        out: &mut [Buffer],
        taken: usize,
        fault: DescriptorFault,
    ) -> Result<usize, PeerMisbehaved> {
        let descriptor = out[taken].descriptor();
        out[taken..].fill(Buffer::EMPTY);
        let at = self.tail.wrapping_add(taken as u32);
        if taken == 0 {
            self.tail = at.wrapping_add(1);
            return Err(bad_descriptor(at, descriptor, fault));
        }
        self.tail = at;
        Ok(taken)
    }

    /// Hands every popped slot back to the producer with one release store,
    /// then (if the producer may sleep) decides whether it asked to be signalled.
    #[inline]
    pub fn release(&mut self) -> Notify {
        let old = self.released;
        if old == self.tail {
            return Notify::Quiet;
        }
        self.memory
            .store(ControlWord::Tail, self.tail, Ordering::Release);
        self.released = self.tail;
        if !self.policy.producer_sleeps {
            return Notify::Quiet;
        }
        self.memory.fence_seq_cst();
        let wake_at = self
            .memory
            .load(ControlWord::ProducerWakeAt, Ordering::Relaxed);
        if passes(wake_at, old, self.tail) {
            Notify::Signal
        } else {
            Notify::Quiet
        }
    }

    /// Asks the producer for a signal once at least `min_items` entries
    /// (clamped to `1..=capacity`) are ready, then re-checks. On
    /// [`WaitDecision::Sleep`] wait for the signal; on `Ready` pop; on `Poll`
    /// (the policy does not let the consumer sleep) poll again.
    ///
    /// With `min_items > 1` the consumer sleeps through smaller arrivals;
    /// pair it with a timeout (interrupt coalescing).
    pub fn prepare_wait(&mut self, min_items: u32) -> Result<WaitDecision, PeerMisbehaved> {
        if !self.policy.consumer_sleeps {
            return Ok(WaitDecision::Poll);
        }
        let wanted = min_items.clamp(1, self.capacity);
        let wake_at = self.tail.wrapping_add(wanted - 1);
        self.memory
            .store(ControlWord::ConsumerWakeAt, wake_at, Ordering::Relaxed);
        // Order the wake-at store before the head load; the producer fences
        // between its head store and its wake-at load (see `publish`).
        self.memory.fence_seq_cst();
        if self.available()? >= wanted {
            Ok(WaitDecision::Ready)
        } else {
            Ok(WaitDecision::Sleep)
        }
    }

    /// Occupancy (entries ready to pop) against `marks`.
    pub fn pressure(&mut self, marks: &Watermarks) -> Result<Pressure, PeerMisbehaved> {
        Ok(marks.pressure(self.available()?))
    }
}
