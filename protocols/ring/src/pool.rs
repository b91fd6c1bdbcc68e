//! The shared buffer pool: its geometry (a private copy on each side), the
//! validation that turns a peer's descriptor into a [`Buffer`], the set of
//! slots one side currently holds, and word-wise copies in and out of the
//! pool memory.
//!
//! The pool is an array of `slot_count` slots of `slot_size` bytes. A buffer
//! is one slot; its data starts at an `align`-aligned offset inside the slot
//! (leaving headroom is allowed) and must end inside the same slot.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::error::{DescriptorFault, GeometryError};
use crate::layout::{RawDescriptor, WORD_BYTES};

/// Shape of a buffer pool, as given by the system description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    slot_size: u32,
    slot_count: u32,
    align: u32,
    /// log2 of `slot_size` when it is a power of two (the common case), so
    /// that validation shifts instead of dividing; [`NOT_A_POWER_OF_TWO`] otherwise.
    slot_shift: u32,
}

/// `slot_shift` of a slot size that is not a power of two.
const NOT_A_POWER_OF_TWO: u32 = u32::MAX;

impl PoolGeometry {
    /// Checks the shape: non-empty, `align` a power of two that divides
    /// `slot_size`, and the whole pool addressable with a 32-bit offset.
    pub const fn new(slot_size: u32, slot_count: u32, align: u32) -> Result<Self, GeometryError> {
        if slot_size == 0 || slot_count == 0 {
            return Err(GeometryError::Empty);
        }
        if !align.is_power_of_two() || !slot_size.is_multiple_of(align) {
            return Err(GeometryError::BadAlign);
        }
        if (slot_size as u64) * (slot_count as u64) > u32::MAX as u64 {
            return Err(GeometryError::TooLarge);
        }
        let slot_shift = if slot_size.is_power_of_two() {
            slot_size.trailing_zeros()
        } else {
            NOT_A_POWER_OF_TWO
        };
        Ok(Self {
            slot_size,
            slot_count,
            align,
            slot_shift,
        })
    }

    /// Bytes per slot.
    pub const fn slot_size(&self) -> u32 {
        self.slot_size
    }

    /// Number of slots.
    pub const fn slot_count(&self) -> u32 {
        self.slot_count
    }

    /// Alignment every offset must have.
    pub const fn align(&self) -> u32 {
        self.align
    }

    /// Bytes in the whole pool.
    pub const fn pool_bytes(&self) -> u32 {
        self.slot_size * self.slot_count
    }

    /// Turns a descriptor (the peer's allegation) into a [`Buffer`], or says
    /// what is wrong with it. Pure arithmetic on a private copy: no shared
    /// memory is read here, so nothing can change between check and use.
    #[inline]
    pub const fn validate(&self, d: RawDescriptor) -> Result<Buffer, DescriptorFault> {
        match self.slot_of(d) {
            Ok(slot) => Ok(Buffer {
                descriptor: d,
                slot,
            }),
            Err(fault) => Err(fault),
        }
    }

    /// The checks of [`validate`](Self::validate): the slot `d` names, or
    /// what is wrong with it.
    #[inline(always)]
    const fn slot_of(&self, d: RawDescriptor) -> Result<u32, DescriptorFault> {
        // `align` is a power of two (checked in `new`).
        if d.offset & (self.align - 1) != 0 {
            return Err(DescriptorFault::Misaligned { align: self.align });
        }
        let (slot, in_slot) = if self.slot_shift != NOT_A_POWER_OF_TWO {
            (d.offset >> self.slot_shift, d.offset & (self.slot_size - 1))
        } else {
            (d.offset / self.slot_size, d.offset % self.slot_size)
        };
        if slot >= self.slot_count {
            return Err(DescriptorFault::OutsidePool);
        }
        // `in_slot < slot_size`, so the subtraction cannot wrap.
        if d.len > self.slot_size - in_slot {
            return Err(DescriptorFault::CrossesSlotEnd {
                slot_end: (slot as u64 + 1) * self.slot_size as u64,
            });
        }
        Ok(slot)
    }

    /// A buffer covering `len` bytes of `slot`, starting `headroom` bytes in.
    pub const fn buffer(
        &self,
        slot: u32,
        headroom: u32,
        len: u32,
    ) -> Result<Buffer, DescriptorFault> {
        if slot >= self.slot_count {
            return Err(DescriptorFault::OutsidePool);
        }
        let Some(offset) = (slot * self.slot_size).checked_add(headroom) else {
            return Err(DescriptorFault::OutsidePool);
        };
        self.validate(RawDescriptor {
            offset,
            len,
            cookie: 0,
            flags: 0,
        })
    }

    /// The same buffer with a new data length (for example a received frame's
    /// length), checked against this pool.
    pub const fn with_len(&self, buffer: Buffer, len: u32) -> Result<Buffer, DescriptorFault> {
        let mut d = buffer.descriptor;
        d.len = len;
        self.validate(d)
    }

    /// The same buffer covering the whole of its slot.
    pub const fn whole_slot(&self, buffer: Buffer) -> Buffer {
        let mut d = buffer.descriptor;
        d.offset = buffer.slot * self.slot_size;
        d.len = self.slot_size;
        Buffer {
            descriptor: d,
            slot: buffer.slot,
        }
    }
}

/// A descriptor that has been checked against a pool geometry: its data lies
/// inside one slot of the pool. Only [`PoolGeometry`] makes these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    descriptor: RawDescriptor,
    slot: u32,
}

impl Buffer {
    /// No data at the start of slot 0: valid in every pool (a pool has at
    /// least one slot, and offset 0 is aligned).
    pub(crate) const EMPTY: Buffer = Buffer {
        descriptor: RawDescriptor {
            offset: 0,
            len: 0,
            cookie: 0,
            flags: 0,
        },
        slot: 0,
    };

    /// The descriptor, for a batch to overwrite with an unvalidated copy
    /// from shared memory; the batch validates it (or wipes it) before the
    /// buffer is handed to anyone.
    pub(crate) fn unchecked_descriptor(&mut self) -> &mut RawDescriptor {
        &mut self.descriptor
    }

    /// Validates, in place, a descriptor a batch has just copied in through
    /// [`unchecked_descriptor`](Self::unchecked_descriptor), and records its
    /// slot. On error the caller must wipe the buffer.
    #[inline(always)]
    pub(crate) fn check_in(&mut self, pool: &PoolGeometry) -> Result<(), DescriptorFault> {
        self.slot = pool.slot_of(self.descriptor)?;
        Ok(())
    }

    /// The slot holding the data.
    #[inline]
    pub const fn slot(&self) -> u32 {
        self.slot
    }

    /// Byte offset of the data in the pool.
    #[inline]
    pub const fn offset(&self) -> u32 {
        self.descriptor.offset
    }

    /// Bytes of data.
    #[inline]
    pub const fn len(&self) -> u32 {
        self.descriptor.len
    }

    /// True when the buffer carries no data.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.descriptor.len == 0
    }

    /// The opaque cookie.
    #[inline]
    pub const fn cookie(&self) -> u32 {
        self.descriptor.cookie
    }

    /// The opaque flags word.
    #[inline]
    pub const fn flags(&self) -> u32 {
        self.descriptor.flags
    }

    /// The same buffer with another cookie (the cookie is never validated).
    #[inline]
    pub const fn with_cookie(mut self, cookie: u32) -> Self {
        self.descriptor.cookie = cookie;
        self
    }

    /// The same buffer with another flags word (the ring never interprets it).
    #[inline]
    pub const fn with_flags(mut self, flags: u32) -> Self {
        self.descriptor.flags = flags;
        self
    }

    /// The descriptor as it goes into the ring.
    #[inline]
    pub const fn descriptor(&self) -> RawDescriptor {
        self.descriptor
    }
}

/// Bits per word of a [`SlotSet`].
const SLOT_SET_WORD_BITS: u32 = u64::BITS;

/// The pool slots one side currently holds, for up to `WORDS * 64` slots.
/// Used to refuse a buffer handed over twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotSet<const WORDS: usize> {
    bits: [u64; WORDS],
    slot_count: u32,
}

/// Number of `u64` words a [`SlotSet`] needs for `slots` slots.
pub const fn slot_set_words(slots: u32) -> usize {
    slots.div_ceil(SLOT_SET_WORD_BITS) as usize
}

impl<const WORDS: usize> SlotSet<WORDS> {
    /// Slots a set of this size can track.
    pub const TRACKABLE: u32 = (WORDS as u32).saturating_mul(SLOT_SET_WORD_BITS);

    /// An empty set for a pool of `slot_count` slots.
    pub const fn empty(slot_count: u32) -> Result<Self, GeometryError> {
        if slot_count > Self::TRACKABLE {
            return Err(GeometryError::TooManySlots {
                slots: slot_count,
                trackable: Self::TRACKABLE,
            });
        }
        Ok(Self {
            bits: [0; WORDS],
            slot_count,
        })
    }

    /// A set holding every slot of a pool of `slot_count` slots.
    pub fn full(slot_count: u32) -> Result<Self, GeometryError> {
        let mut set = Self::empty(slot_count)?;
        for slot in 0..slot_count {
            set.insert(slot);
        }
        Ok(set)
    }

    #[inline]
    fn position(slot: u32) -> Option<(usize, u64)> {
        let word = (slot / SLOT_SET_WORD_BITS) as usize;
        if word >= WORDS {
            return None;
        }
        Some((word, 1u64 << (slot % SLOT_SET_WORD_BITS)))
    }

    /// True if `slot` is in the set.
    #[inline]
    pub fn contains(&self, slot: u32) -> bool {
        Self::position(slot).is_some_and(|(w, bit)| self.bits[w] & bit != 0)
    }

    /// Adds `slot`; returns false if it was already there (or is out of range).
    #[inline]
    pub fn insert(&mut self, slot: u32) -> bool {
        match Self::position(slot) {
            Some((w, bit)) if slot < self.slot_count && self.bits[w] & bit == 0 => {
                self.bits[w] |= bit;
                true
            }
            _ => false,
        }
    }

    /// Removes `slot`; returns false if it was not there.
    #[inline]
    pub fn remove(&mut self, slot: u32) -> bool {
        match Self::position(slot) {
            Some((w, bit)) if self.bits[w] & bit != 0 => {
                self.bits[w] &= !bit;
                true
            }
            _ => false,
        }
    }

    /// Number of slots held.
    pub fn len(&self) -> u32 {
        self.bits.iter().map(|w| w.count_ones()).sum()
    }

    /// True if no slot is held.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    /// Lowest slot held, if any.
    pub fn first(&self) -> Option<u32> {
        self.bits
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(i, w)| i as u32 * SLOT_SET_WORD_BITS + w.trailing_zeros())
    }
}

/// The pool's bytes, mapped into this address space and viewed as words.
/// Copies go word by word through relaxed atomics: the peer may be writing
/// the same bytes (it should not, but it can), and that must never be more
/// than garbage data for us.
#[derive(Clone, Copy, Debug)]
pub struct PoolMemory<'a> {
    words: &'a [AtomicU32],
    geometry: PoolGeometry,
}

/// A copy that would leave the pool memory (a [`Buffer`] made for another pool).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutsidePoolMemory;

impl<'a> PoolMemory<'a> {
    /// Views `words` as the pool described by `geometry`; `None` if it is too small.
    pub fn new(words: &'a [AtomicU32], geometry: PoolGeometry) -> Option<Self> {
        if (words.len() as u64) * (WORD_BYTES as u64) < geometry.pool_bytes() as u64 {
            return None;
        }
        Some(Self { words, geometry })
    }

    /// The pool's geometry.
    pub fn geometry(&self) -> PoolGeometry {
        self.geometry
    }

    /// Copies up to `out.len()` bytes of `buffer`'s data out; returns how many.
    pub fn read(&self, buffer: &Buffer, out: &mut [u8]) -> Result<usize, OutsidePoolMemory> {
        self.read_from(buffer, 0, out)
    }

    /// Copies up to `out.len()` bytes of `buffer`'s data out, skipping its
    /// first `skip` bytes; returns how many.
    pub fn read_from(
        &self,
        buffer: &Buffer,
        skip: u32,
        out: &mut [u8],
    ) -> Result<usize, OutsidePoolMemory> {
        let n = out.len().min(buffer.len().saturating_sub(skip) as usize);
        let offset = buffer.offset().checked_add(skip).ok_or(OutsidePoolMemory)?;
        self.check(offset, n)?;
        let start = offset as usize;
        for (at, byte) in (start..start + n).zip(out[..n].iter_mut()) {
            let word = self.words[at / WORD_BYTES]
                .load(Ordering::Relaxed)
                .to_le_bytes();
            *byte = word[at % WORD_BYTES];
        }
        Ok(n)
    }

    /// Copies `data` into the buffer's slot at the buffer's offset, up to the
    /// buffer's length; returns how many bytes were written.
    pub fn write(&self, buffer: &Buffer, data: &[u8]) -> Result<usize, OutsidePoolMemory> {
        let n = data.len().min(buffer.len() as usize);
        self.check(buffer.offset(), n)?;
        let mut at = buffer.offset() as usize;
        let mut rest = &data[..n];
        while !rest.is_empty() {
            let word = &self.words[at / WORD_BYTES];
            let lane = at % WORD_BYTES;
            let take = rest.len().min(WORD_BYTES - lane);
            let mut bytes = if take == WORD_BYTES {
                [0; WORD_BYTES]
            } else {
                word.load(Ordering::Relaxed).to_le_bytes()
            };
            bytes[lane..lane + take].copy_from_slice(&rest[..take]);
            word.store(u32::from_le_bytes(bytes), Ordering::Relaxed);
            at += take;
            rest = &rest[take..];
        }
        Ok(n)
    }

    fn check(&self, offset: u32, len: usize) -> Result<(), OutsidePoolMemory> {
        let end = offset as u64 + len as u64;
        if end > self.geometry.pool_bytes() as u64 || end > (self.words.len() * WORD_BYTES) as u64 {
            return Err(OutsidePoolMemory);
        }
        Ok(())
    }
}
