//! Ring channels, ready to use: attach a `ward-ring` pair from the caps
//! table's [`RingChannel`], copy bytes in and out of its pool, ring the
//! peer's doorbell.
//!
//! ```ignore
//! let mut tx = ring::attach(caps::NET_TX, generation)?;   // owner: initialises the region
//! tx.pair.send(buffer)?;
//! tx.publish();                                           // rings the doorbell if the peer asked
//! ```
//!
//! The geometry (entries, buffer size and alignment, pool slots) comes from
//! the caps table, never from shared memory; a borrower checks the region's
//! header against it before anything moves. Pool bytes are reached through
//! `ward_ring::PoolMemory`, which copies word by word with atomics: no Rust
//! reference to memory a peer can write is ever formed.

use ward_ring::{
    AttachError, Notify, PairEnd, PairSetupError, PoolGeometry, PoolMemory, RegionMapping,
    RingPairParams, SharedRing,
};
use ward_sysspec::MAX_RING_POOL_SLOTS;

use crate::spec::{Mapping, RingChannel, RingRole};
use crate::time::Instant;

/// Words of the ownership set of a ring end: enough for
/// `ward_sysspec::MAX_RING_POOL_SLOTS` pool buffers (capctl refuses more).
pub const SLOT_SET_WORDS: usize = ward_ring::slot_set_words(MAX_RING_POOL_SLOTS);

/// A ring pair end over a channel's shared memory.
pub type Pair = PairEnd<SharedRing<'static>, SLOT_SET_WORDS>;

/// Why a ring channel could not be attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The caps table's geometry is not one ward-ring accepts.
    Geometry(ward_ring::GeometryError),
    /// The region could not be set up or its header does not match ours.
    Attach(AttachError),
    /// The pool mapping is smaller than the geometry says.
    PoolTooSmall,
    /// The owner had not initialised the region by the deadline.
    NotInitialised,
}

impl From<PairSetupError> for RingError {
    fn from(error: PairSetupError) -> RingError {
        match error {
            PairSetupError::Attach(AttachError::NotInitialised) => RingError::NotInitialised,
            PairSetupError::Attach(e) => RingError::Attach(e),
            PairSetupError::Geometry(e) => RingError::Geometry(e),
        }
    }
}

/// The pool geometry a channel's caps-table entry describes.
pub fn geometry(channel: &RingChannel) -> Result<PoolGeometry, RingError> {
    PoolGeometry::new(
        channel.buffer_size,
        channel.pool_slots,
        channel.buffer_align,
    )
    .map_err(RingError::Geometry)
}

/// The ring-pair parameters of a channel.
pub fn params(channel: &RingChannel) -> Result<RingPairParams, RingError> {
    RingPairParams::new(channel.entries, geometry(channel)?).map_err(RingError::Attach)
}

/// A channel's ring region.
pub fn region(channel: &RingChannel) -> Result<RegionMapping<'static>, RingError> {
    RegionMapping::from_words(crate::region::words32(channel.memory)).map_err(RingError::Attach)
}

/// A view of a mapped pool for copying bytes in and out.
pub fn pool_memory(
    pool: Mapping,
    geometry: PoolGeometry,
) -> Result<PoolMemory<'static>, RingError> {
    PoolMemory::new(crate::region::words32(pool), geometry).ok_or(RingError::PoolTooSmall)
}

/// One attached end of a ring channel.
pub struct ChannelEnd {
    /// The ring pair: send, receive, publish, release, wait decisions.
    pub pair: Pair,
    /// The pool, if this component maps it.
    pub pool: Option<PoolMemory<'static>>,
    channel: RingChannel,
}

impl ChannelEnd {
    /// The channel this end belongs to.
    pub fn channel(&self) -> &RingChannel {
        &self.channel
    }

    /// Signals the peer's notification with the channel's bit.
    pub fn ring_doorbell(&self) {
        let _ = self.channel.doorbell.signal();
    }

    /// Rings the doorbell if a ring operation said the peer asked for it.
    pub fn notify(&self, decision: Notify) {
        if decision == Notify::Signal {
            self.ring_doorbell();
        }
    }

    /// Publishes what was sent and releases what was received, ringing the
    /// doorbell once if either side asked for a signal.
    pub fn flush(&mut self) {
        let published = self.pair.publish();
        let released = self.pair.release();
        if published == Notify::Signal || released == Notify::Signal {
            self.ring_doorbell();
        }
    }
}

/// The generation a ring pair's region carries when either end may be
/// restarted on its own (the NIC pairs between a driver and the network
/// stack): the owner's generation in the high 16 bits, the borrower's in
/// the low 16. Both ends read both generations from the status page, so a
/// borrower can tell a region set up for its own instance from one left
/// over from its predecessor, and either end sees the other's restart in it
/// (docs/protocols.md, "Restarts").
pub const fn pair_generation(owner: u64, borrower: u64) -> u32 {
    (((owner & 0xffff) << 16) | (borrower & 0xffff)) as u32
}

/// Attaches this component's end of `channel` for the region generation
/// `region_generation` (see [`pair_generation`]). The owner writes the
/// region afresh with it and rings the borrower's doorbell, reclaiming every
/// buffer; a borrower accepts the region only once it carries that
/// generation, and fails with [`RingError::NotInitialised`] before (the
/// owner has not set it up, or it is left over from an older pairing).
pub fn attach_for(channel: RingChannel, region_generation: u32) -> Result<ChannelEnd, RingError> {
    let end = attach(channel, u64::from(region_generation))?;
    if end.pair.generation() != region_generation {
        return Err(RingError::NotInitialised);
    }
    Ok(end)
}

/// Attaches this component's end of `channel`. The owner writes the region
/// afresh with `generation` (its own) and rings the borrower's doorbell; a
/// borrower checks the region against the caps table and fails with
/// [`RingError::NotInitialised`] while the owner has not set it up (see
/// [`attach_waiting`]).
pub fn attach(channel: RingChannel, generation: u64) -> Result<ChannelEnd, RingError> {
    let params = params(&channel)?;
    let region = region(&channel)?;
    let pair = match channel.role {
        RingRole::Owner => Pair::initialise_owner(region, &params, generation as u32)?,
        RingRole::Borrower => Pair::attach_borrower(region, &params)?,
    };
    let pool = match channel.pool {
        Some(mapping) => Some(pool_memory(mapping, params.pool())?),
        None => None,
    };
    let end = ChannelEnd {
        pair,
        pool,
        channel,
    };
    if channel.role == RingRole::Owner {
        end.ring_doorbell();
    }
    Ok(end)
}

/// As [`attach`], but a borrower waits (on its notification, for the
/// channel's doorbell) until the owner has initialised the region or
/// `deadline` passes. Other bits that arrive meanwhile are returned with the
/// end so that the caller does not lose them.
pub fn attach_waiting(
    channel: RingChannel,
    generation: u64,
    deadline: Instant,
) -> Result<(ChannelEnd, u64), RingError> {
    let mut other_bits = 0;
    loop {
        match attach(channel, generation) {
            Err(RingError::NotInitialised) => {}
            result => return result.map(|end| (end, other_bits)),
        }
        match crate::component::wait_until(Some(deadline)) {
            crate::component::Wakeup::Signalled(bits) => other_bits |= bits & !channel.bit,
            crate::component::Wakeup::TimedOut => {
                return attach(channel, generation).map(|end| (end, other_bits))
            }
        }
    }
}
