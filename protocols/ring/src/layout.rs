//! Byte layout of a ring-pair region: the header, the control lines and the
//! descriptor arrays, and the parameters both sides agree on out of band.
//!
//! Everything in a region is a little-endian `u32` word so that the whole
//! region can be accessed as `[AtomicU32]` and never through references to
//! plain data the peer could change underneath us.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::error::{AttachError, HeaderField};
use crate::pool::PoolGeometry;
use crate::signal::SignalPolicy;

/// `"WRNG"` read as a little-endian word: marks an initialised ring-pair region.
pub const REGION_MAGIC: u32 = u32::from_le_bytes(*b"WRNG");

/// Version of the layout described in this module. Bump it whenever a field
/// moves or changes meaning, so that an old peer fails at attach time instead
/// of misreading the region.
pub const LAYOUT_VERSION: u32 = 1;

/// Bytes per shared word. Every shared field is one `u32`.
pub const WORD_BYTES: usize = 4;

/// Distance between fields written by different sides. Intel's spatial
/// prefetcher fetches 64-byte lines in adjacent pairs, so two writers 64 bytes
/// apart still bounce a 128-byte block between cores (crossbeam pads to 128 on
/// x86_64 for the same reason).
pub const CONTROL_LINE_BYTES: usize = 128;

/// [`CONTROL_LINE_BYTES`] in words.
pub const CONTROL_LINE_WORDS: usize = CONTROL_LINE_BYTES / WORD_BYTES;

/// Required alignment of a region's first byte: one control line, so that no
/// two control lines share a prefetch pair.
pub const REGION_ALIGN: usize = CONTROL_LINE_BYTES;

/// Words in one descriptor: offset, length, cookie, flags.
pub const DESCRIPTOR_WORDS: usize = 4;

/// Bytes in one descriptor; four descriptors fill a 64-byte cache line.
pub const DESCRIPTOR_BYTES: usize = DESCRIPTOR_WORDS * WORD_BYTES;

/// Smallest ring: a ring of one entry cannot batch and makes every push a
/// full/empty transition.
pub const MIN_CAPACITY: u32 = 2;

/// Largest ring. Indices are free-running `u32` counters, so any capacity up to
/// 2^31 would keep "how far ahead" unambiguous; 2^16 entries (1 MiB of
/// descriptors per ring) is far beyond what a NIC queue needs and keeps a
/// corrupted header from describing an absurd region.
pub const MAX_CAPACITY: u32 = 1 << 16;

/// Which of the two rings of a pair.
///
/// The pool owner *lends* buffers to the borrower on [`RingId::Lend`]; the
/// borrower hands every buffer back on [`RingId::Return`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingId {
    /// Owner → borrower.
    Lend,
    /// Borrower → owner.
    Return,
}

/// One slot of a ring as it sits in shared memory. It names a buffer by its
/// offset into the shared pool, never by address.
///
/// A descriptor read from the ring is an *allegation* by the peer; it becomes
/// a [`Buffer`](crate::Buffer) only after [`PoolGeometry::validate`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct RawDescriptor {
    /// Byte offset of the data from the start of the buffer pool.
    pub offset: u32,
    /// Bytes of data starting at `offset`.
    pub len: u32,
    /// Opaque to the ring; returned unchanged. Protocols use it to match a
    /// returned buffer with the request that lent it.
    pub cookie: u32,
    /// Opaque to the ring; the message protocol defines and validates it.
    pub flags: u32,
}

/// The first 64 bytes of a ring-pair region, written once by the side that
/// initialises the region and compared field by field by the side that
/// attaches.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct RegionHeader {
    /// [`REGION_MAGIC`]; written last, with release ordering.
    pub magic: u32,
    /// [`LAYOUT_VERSION`].
    pub version: u32,
    /// Bytes from the region start to the first descriptor of the lend ring.
    pub header_bytes: u32,
    /// Entries per ring (both rings of a pair have the same capacity).
    pub capacity: u32,
    /// [`DESCRIPTOR_BYTES`].
    pub descriptor_bytes: u32,
    /// Bytes per pool slot.
    pub slot_size: u32,
    /// Slots in the pool.
    pub slot_count: u32,
    /// Required alignment of a descriptor's offset.
    pub slot_align: u32,
    /// Incremented by the initialiser each time the region is set up again
    /// (for example after the borrower restarted), so that a stale attacher is
    /// told apart from the current one.
    pub generation: u32,
    /// [`SignalPolicy::bits`] of the lend ring, plus those of the return ring
    /// shifted left by 2.
    pub signal_policy: u32,
    /// Reserved, written as zero and required to be zero.
    pub reserved: [u32; 6],
}

/// Words in [`RegionHeader`].
pub const HEADER_WORDS: usize = core::mem::size_of::<RegionHeader>() / WORD_BYTES;

/// Word index of the header's magic.
pub(crate) const MAGIC_WORD: usize = 0;

/// The four shared control words of one ring. Each sits alone on its own
/// control line: the indices change on every publish or release, while the
/// wake-at words change only when a side prepares to sleep, so the words that
/// are read on every publish or release stay cached on both cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlWord {
    /// Written by the producer: entries published (free-running).
    Head,
    /// Written by the producer: ring index whose release it wants a signal for.
    ProducerWakeAt,
    /// Written by the consumer: entries released (free-running).
    Tail,
    /// Written by the consumer: ring index whose publication it wants a signal for.
    ConsumerWakeAt,
}

impl ControlWord {
    /// All four, in region order.
    pub const ALL: [ControlWord; 4] = [
        ControlWord::Head,
        ControlWord::ProducerWakeAt,
        ControlWord::Tail,
        ControlWord::ConsumerWakeAt,
    ];

    const fn line(self) -> usize {
        match self {
            ControlWord::Head => 0,
            ControlWord::ProducerWakeAt => 1,
            ControlWord::Tail => 2,
            ControlWord::ConsumerWakeAt => 3,
        }
    }
}

/// Control lines per ring: one per [`ControlWord`].
pub(crate) const LINES_PER_RING: usize = 4;

/// Lines before the descriptors: the header line and the control lines of both rings.
pub(crate) const HEADER_LINES: usize = 1 + 2 * LINES_PER_RING;

/// Bytes before the first descriptor: the header line and the eight control lines.
pub const HEADER_BYTES: usize = CONTROL_LINE_BYTES * HEADER_LINES;

/// Bytes a ring-pair region of `capacity` entries per ring occupies (what
/// [`RingPairParams::region_bytes`] says, without a pool geometry).
pub const fn region_bytes_for(capacity: u32) -> usize {
    HEADER_BYTES + 2 * capacity as usize * DESCRIPTOR_BYTES
}

/// Initial value of `producer_wake_at`: the producer has asked for nothing, so
/// point as far from index 0 as the counter allows.
pub(crate) const WAKE_NEVER_FROM_START: u32 = u32::MAX;

/// Initial value of `consumer_wake_at`: a fresh consumer has nothing to do, so
/// it wants to hear about the first entry.
pub(crate) const WAKE_ON_FIRST_ENTRY: u32 = 0;

/// What both sides of a ring pair agree on before they meet: from the system
/// description, never from the shared region. The region header only confirms
/// that the peer agreed on the same thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingPairParams {
    capacity: u32,
    pool: PoolGeometry,
    lend_signals: SignalPolicy,
    return_signals: SignalPolicy,
}

impl RingPairParams {
    /// Checks that `capacity` is a power of two within
    /// [`MIN_CAPACITY`]..=[`MAX_CAPACITY`]. Both sides of both rings may
    /// sleep ([`SignalPolicy::BOTH`]) unless [`with_signals`](Self::with_signals) says otherwise.
    pub const fn new(capacity: u32, pool: PoolGeometry) -> Result<Self, AttachError> {
        if capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || !capacity.is_power_of_two() {
            return Err(AttachError::BadCapacity { capacity });
        }
        Ok(Self {
            capacity,
            pool,
            lend_signals: SignalPolicy::BOTH,
            return_signals: SignalPolicy::BOTH,
        })
    }

    /// The same parameters with `policy` for `ring`.
    pub const fn with_signals(mut self, ring: RingId, policy: SignalPolicy) -> Self {
        match ring {
            RingId::Lend => self.lend_signals = policy,
            RingId::Return => self.return_signals = policy,
        }
        self
    }

    /// Who may sleep on `ring`.
    pub const fn signals(&self, ring: RingId) -> SignalPolicy {
        match ring {
            RingId::Lend => self.lend_signals,
            RingId::Return => self.return_signals,
        }
    }

    /// Entries per ring.
    pub const fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The buffer pool both rings refer to.
    pub const fn pool(&self) -> PoolGeometry {
        self.pool
    }

    /// Words before the first descriptor: the header line and the eight control lines.
    pub const fn header_words(&self) -> usize {
        CONTROL_LINE_WORDS * HEADER_LINES
    }

    /// Total bytes a region with these parameters occupies.
    pub const fn region_bytes(&self) -> usize {
        self.region_words() * WORD_BYTES
    }

    /// Total words a region with these parameters occupies.
    pub const fn region_words(&self) -> usize {
        self.header_words() + 2 * self.capacity as usize * DESCRIPTOR_WORDS
    }

    /// Word index of one control word of `ring`.
    pub const fn control_word(ring: RingId, word: ControlWord) -> usize {
        let ring_lines = match ring {
            RingId::Lend => 1,
            RingId::Return => 1 + LINES_PER_RING,
        };
        (ring_lines + word.line()) * CONTROL_LINE_WORDS
    }

    /// Word index of `ring`'s first descriptor.
    pub(crate) const fn descriptors(&self, ring: RingId) -> usize {
        match ring {
            RingId::Lend => self.header_words(),
            RingId::Return => self.header_words() + self.capacity as usize * DESCRIPTOR_WORDS,
        }
    }

    /// The header an initialiser writes for these parameters.
    pub const fn header(&self, generation: u32) -> RegionHeader {
        RegionHeader {
            magic: REGION_MAGIC,
            version: LAYOUT_VERSION,
            header_bytes: (self.header_words() * WORD_BYTES) as u32,
            capacity: self.capacity,
            descriptor_bytes: DESCRIPTOR_BYTES as u32,
            slot_size: self.pool.slot_size(),
            slot_count: self.pool.slot_count(),
            slot_align: self.pool.align(),
            generation,
            signal_policy: self.lend_signals.bits() | (self.return_signals.bits() << 2),
            reserved: [0; 6],
        }
    }

    /// Compares a header read from shared memory with what these parameters
    /// expect, and returns the region's generation when everything matches.
    pub fn check_header(&self, found: &RegionHeader) -> Result<u32, AttachError> {
        if found.magic == 0 {
            return Err(AttachError::NotInitialised);
        }
        if found.magic != REGION_MAGIC {
            return Err(AttachError::BadMagic { found: found.magic });
        }
        let expected = self.header(found.generation);
        let fields = [
            (HeaderField::Version, expected.version, found.version),
            (
                HeaderField::HeaderBytes,
                expected.header_bytes,
                found.header_bytes,
            ),
            (HeaderField::Capacity, expected.capacity, found.capacity),
            (
                HeaderField::DescriptorBytes,
                expected.descriptor_bytes,
                found.descriptor_bytes,
            ),
            (HeaderField::SlotSize, expected.slot_size, found.slot_size),
            (
                HeaderField::SlotCount,
                expected.slot_count,
                found.slot_count,
            ),
            (
                HeaderField::SlotAlign,
                expected.slot_align,
                found.slot_align,
            ),
            (
                HeaderField::SignalPolicy,
                expected.signal_policy,
                found.signal_policy,
            ),
        ];
        for (field, ours, theirs) in fields {
            if ours != theirs {
                return Err(AttachError::Mismatch {
                    field,
                    ours,
                    theirs,
                });
            }
        }
        if found.reserved != [0; 6] {
            return Err(AttachError::Mismatch {
                field: HeaderField::Reserved,
                ours: 0,
                theirs: found.reserved.iter().fold(0, |acc, w| acc | w),
            });
        }
        Ok(found.generation)
    }
}

const _: () = assert!(core::mem::size_of::<RegionHeader>() == 64);
const _: () = assert!(HEADER_WORDS <= CONTROL_LINE_WORDS);
const _: () = assert!(core::mem::size_of::<RawDescriptor>() == DESCRIPTOR_BYTES);
