//! Errors, sorted by who is at fault: the peer ([`PeerMisbehaved`]), the
//! set-up of the region ([`AttachError`]), or the local caller ([`SendError`]).

use crate::layout::RawDescriptor;

/// Which shared index a [`PeerMisbehaved::IndexOutOfRange`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedIndex {
    /// The producer's count of published entries, as seen by the consumer.
    Head,
    /// The consumer's count of released entries, as seen by the producer.
    Tail,
}

/// Why a descriptor does not name a buffer of the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescriptorFault {
    /// The offset is not a multiple of the pool's alignment.
    Misaligned {
        /// The alignment every offset must have.
        align: u32,
    },
    /// The offset lies beyond the last slot of the pool.
    OutsidePool,
    /// The data runs past the end of the slot that holds its offset.
    CrossesSlotEnd {
        /// First byte past the slot.
        slot_end: u64,
    },
}

/// The peer broke the ring protocol. The consumer or producer that reports
/// this has not read or written outside the ring or pool, and is still usable;
/// whether to carry on or tear the channel down is the caller's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerMisbehaved {
    /// A shared index moved backwards or further than the capacity allows.
    IndexOutOfRange {
        /// Which index.
        index: SharedIndex,
        /// The value the peer wrote.
        found: u32,
        /// Our own index it is measured against (tail for `Head`, head for `Tail`).
        ours: u32,
        /// How far the peer's index may be from ours.
        capacity: u32,
    },
    /// A descriptor does not name a buffer of the pool. The entry has been
    /// consumed so that the next call makes progress.
    BadDescriptor {
        /// Free-running ring index of the entry.
        at: u32,
        /// The descriptor as read.
        descriptor: RawDescriptor,
        /// What is wrong with it.
        fault: DescriptorFault,
    },
    /// The peer handed over a buffer that this side already holds, so one
    /// buffer would have two users. The entry has been consumed.
    BufferAlreadyHeld {
        /// Pool slot of the buffer.
        slot: u32,
    },
}

/// Which header field disagreed at attach time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderField {
    /// Layout version.
    Version,
    /// Bytes before the descriptors.
    HeaderBytes,
    /// Ring capacity.
    Capacity,
    /// Bytes per descriptor.
    DescriptorBytes,
    /// Pool slot size.
    SlotSize,
    /// Pool slot count.
    SlotCount,
    /// Pool alignment.
    SlotAlign,
    /// Who may sleep on which ring.
    SignalPolicy,
    /// Reserved words (must be zero).
    Reserved,
}

/// A region could not be set up or attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachError {
    /// The capacity is not a power of two in the supported range.
    BadCapacity {
        /// The capacity asked for.
        capacity: u32,
    },
    /// The memory is smaller than the layout needs.
    TooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// The memory does not start on a [`REGION_ALIGN`](crate::REGION_ALIGN) boundary.
    Misaligned,
    /// The magic word is still zero: the initialiser has not finished yet; try again later.
    NotInitialised,
    /// The magic word is neither zero nor ours: this is not a ring-pair region.
    BadMagic {
        /// The word found.
        found: u32,
    },
    /// The peer set the region up with different parameters.
    Mismatch {
        /// Which field.
        field: HeaderField,
        /// Our private value.
        ours: u32,
        /// The value in shared memory.
        theirs: u32,
    },
}

/// The pool geometry given by the system description is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeometryError {
    /// A slot size or count of zero.
    Empty,
    /// The alignment is not a power of two, or does not divide the slot size.
    BadAlign,
    /// The pool does not fit in a 32-bit offset.
    TooLarge,
    /// More slots than the ownership set of this end can track.
    TooManySlots {
        /// Slots asked for.
        slots: u32,
        /// Slots the set can track.
        trackable: u32,
    },
}

/// A [`Producer::push`](crate::Producer::push) that did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushError<T> {
    /// Every slot is in use; the item is given back.
    Full(T),
    /// The consumer's index is corrupt; the item is given back.
    Peer(PeerMisbehaved, T),
}

/// A [`PairEnd::send`](crate::PairEnd::send) that did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError<T> {
    /// The outgoing ring is full; the buffer is given back.
    Full(T),
    /// This side does not hold that buffer (a local bug, not the peer's).
    NotHeld(T),
    /// The peer's index is corrupt; the buffer is given back.
    Peer(PeerMisbehaved, T),
}

impl From<PeerMisbehaved> for AttachOrPeer {
    fn from(e: PeerMisbehaved) -> Self {
        AttachOrPeer::Peer(e)
    }
}

impl From<AttachError> for AttachOrPeer {
    fn from(e: AttachError) -> Self {
        AttachOrPeer::Attach(e)
    }
}

/// Either kind of failure, for callers that attach and then consume in one go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachOrPeer {
    /// Attaching failed.
    Attach(AttachError),
    /// The peer misbehaved after attach.
    Peer(PeerMisbehaved),
}
