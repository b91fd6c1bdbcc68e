//! One side of a ring pair: the producer of one ring, the consumer of the
//! other, and the set of pool slots this side holds.
//!
//! The pool owner starts holding every slot and lends buffers on the lend
//! ring; the borrower starts holding none and gives every buffer back on the
//! return ring. A buffer is held by exactly one side at a time. Receiving a
//! buffer this side already holds means the peer duplicated or invented it,
//! and is refused as [`PeerMisbehaved::BufferAlreadyHeld`]; sending a buffer
//! this side does not hold is a local bug, refused as [`SendError::NotHeld`].

use crate::error::{AttachError, GeometryError, PeerMisbehaved, PushError, SendError};
use crate::layout::{RingId, RingPairParams};
use crate::memory::{RegionMapping, RingMemory, SharedRing};
use crate::pool::{Buffer, PoolGeometry, SlotSet};
use crate::signal::{Notify, WaitDecision};
use crate::spsc::{Consumer, Producer};

/// Which side of a pair this end is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Owns the pool: produces on the lend ring, consumes the return ring.
    Owner,
    /// Borrows buffers: consumes the lend ring, produces on the return ring.
    Borrower,
}

impl Role {
    /// The ring this role produces on.
    pub const fn outgoing(self) -> RingId {
        match self {
            Role::Owner => RingId::Lend,
            Role::Borrower => RingId::Return,
        }
    }

    /// The ring this role consumes.
    pub const fn incoming(self) -> RingId {
        match self {
            Role::Owner => RingId::Return,
            Role::Borrower => RingId::Lend,
        }
    }
}

/// Errors of [`PairEnd`] constructors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairSetupError {
    /// The region could not be initialised or attached.
    Attach(AttachError),
    /// The ownership set cannot track the pool.
    Geometry(GeometryError),
}

/// One side of a ring pair, with `WORDS * 64` trackable pool slots.
#[derive(Debug)]
pub struct PairEnd<M, const WORDS: usize> {
    role: Role,
    outgoing: Producer<M>,
    incoming: Consumer<M>,
    held: SlotSet<WORDS>,
    params: RingPairParams,
    generation: u32,
}

impl<'a, const WORDS: usize> PairEnd<SharedRing<'a>, WORDS> {
    /// The pool owner's end: writes a fresh region for `params` with
    /// `generation`, and starts out holding every slot.
    pub fn initialise_owner(
        region: RegionMapping<'a>,
        params: &RingPairParams,
        generation: u32,
    ) -> Result<Self, PairSetupError> {
        region
            .initialise(params, generation)
            .map_err(PairSetupError::Attach)?;
        Self::over_region(Role::Owner, region, params, generation)
    }

    /// The borrower's end: checks the header against our private `params`
    /// and starts out holding no slot. Returns the region's generation too.
    pub fn attach_borrower(
        region: RegionMapping<'a>,
        params: &RingPairParams,
    ) -> Result<Self, PairSetupError> {
        let generation = region.check(params).map_err(PairSetupError::Attach)?;
        Self::over_region(Role::Borrower, region, params, generation)
    }

    fn over_region(
        role: Role,
        region: RegionMapping<'a>,
        params: &RingPairParams,
        generation: u32,
    ) -> Result<Self, PairSetupError> {
        let outgoing = region
            .ring(params, role.outgoing())
            .map_err(PairSetupError::Attach)?;
        let incoming = region
            .ring(params, role.incoming())
            .map_err(PairSetupError::Attach)?;
        Self::new(role, outgoing, incoming, params, generation).map_err(PairSetupError::Geometry)
    }
}

impl<M: RingMemory, const WORDS: usize> PairEnd<M, WORDS> {
    /// An end over any ring memory (used by the model checks).
    pub fn new(
        role: Role,
        outgoing: M,
        incoming: M,
        params: &RingPairParams,
        generation: u32,
    ) -> Result<Self, GeometryError> {
        let pool = params.pool();
        let held = match role {
            Role::Owner => SlotSet::full(pool.slot_count())?,
            Role::Borrower => SlotSet::empty(pool.slot_count())?,
        };
        Ok(Self {
            role,
            outgoing: Producer::new(outgoing, params.capacity(), params.signals(role.outgoing())),
            incoming: Consumer::new(
                incoming,
                params.capacity(),
                pool,
                params.signals(role.incoming()),
            ),
            held,
            params: *params,
            generation,
        })
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The region generation seen at set-up.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Private pool geometry.
    pub fn pool(&self) -> PoolGeometry {
        self.params.pool()
    }

    /// Slots this side holds.
    pub fn held(&self) -> &SlotSet<WORDS> {
        &self.held
    }

    /// Hands `buffer` to the peer (not yet published). Refused if this side
    /// does not hold it.
    #[inline]
    pub fn send(&mut self, buffer: Buffer) -> Result<(), SendError<Buffer>> {
        if !self.held.contains(buffer.slot()) {
            return Err(SendError::NotHeld(buffer));
        }
        match self.outgoing.push(buffer) {
            Ok(()) => {
                self.held.remove(buffer.slot());
                Ok(())
            }
            Err(PushError::Full(b)) => Err(SendError::Full(b)),
            Err(PushError::Peer(e, b)) => Err(SendError::Peer(e, b)),
        }
    }

    /// Publishes everything sent; see [`Producer::publish`].
    #[inline]
    pub fn publish(&mut self) -> Notify {
        self.outgoing.publish()
    }

    /// Takes the next buffer from the peer, validated against the pool and
    /// against double hand-over. The ring slot is freed at [`release`](Self::release).
    #[inline]
    pub fn receive(&mut self) -> Result<Option<Buffer>, PeerMisbehaved> {
        let Some(buffer) = self.incoming.pop()? else {
            return Ok(None);
        };
        if !self.held.insert(buffer.slot()) {
            return Err(PeerMisbehaved::BufferAlreadyHeld {
                slot: buffer.slot(),
            });
        }
        Ok(Some(buffer))
    }

    /// Frees the ring slots of everything received; see [`Consumer::release`].
    #[inline]
    pub fn release(&mut self) -> Notify {
        self.incoming.release()
    }

    /// Waits for incoming buffers; see [`Consumer::prepare_wait`].
    pub fn prepare_wait_incoming(
        &mut self,
        min_items: u32,
    ) -> Result<WaitDecision, PeerMisbehaved> {
        self.incoming.prepare_wait(min_items)
    }

    /// Waits for room on the outgoing ring; see [`Producer::prepare_wait`].
    pub fn prepare_wait_outgoing(&mut self, min_free: u32) -> Result<WaitDecision, PeerMisbehaved> {
        self.outgoing.prepare_wait(min_free)
    }

    /// The outgoing ring's producer, for batch operations and watermarks.
    /// Pushing through it bypasses the ownership check.
    pub fn outgoing_ring(&mut self) -> &mut Producer<M> {
        &mut self.outgoing
    }

    /// The incoming ring's consumer, for watermarks. Popping through it
    /// bypasses the ownership check.
    pub fn incoming_ring(&mut self) -> &mut Consumer<M> {
        &mut self.incoming
    }

    /// After the peer died (the supervisor says so, with a new generation):
    /// every buffer is this side's again, and the rings start over on fresh
    /// memory. Only the owner reclaims; the region must be initialised again
    /// with [`RegionMapping::initialise`] before the new peer attaches.
    pub fn reclaim_after_peer_restart(
        &mut self,
        outgoing: M,
        incoming: M,
        generation: u32,
    ) -> Result<(), GeometryError> {
        let params = self.params;
        *self = Self::new(self.role, outgoing, incoming, &params, generation)?;
        Ok(())
    }
}
