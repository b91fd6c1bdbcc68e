//! How the ring logic touches shared memory.
//!
//! [`RingMemory`] is the narrow set of operations a ring performs on the
//! region: loads and stores of four [`ControlWord`]s, copies of whole
//! descriptors, and a full fence. [`SharedRing`] implements it over a mapped
//! region seen as `[AtomicU32]`; the loom model checks in `tests/` implement it
//! over loom's instrumented atomics, so the very same producer and consumer
//! code is what gets model-checked.
//!
//! There are no references to plain data in peer-writable memory: the only
//! references formed are `&AtomicU32`, whose whole purpose is to be changed by
//! someone else at any time. Every value read is copied out before it is
//! checked, so the peer cannot change it between the check and the use.

use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicU32, Ordering};

use crate::error::AttachError;
pub use crate::layout::ControlWord;
use crate::layout::{
    RawDescriptor, RegionHeader, RingId, RingPairParams, DESCRIPTOR_WORDS, HEADER_WORDS,
    MAGIC_WORD, REGION_ALIGN, WAKE_NEVER_FROM_START, WAKE_ON_FIRST_ENTRY, WORD_BYTES,
};
use crate::pool::Buffer;

/// The shared-memory operations of one ring. Implementations must perform
/// each call as a single atomic access with the given ordering (descriptor
/// copies: one relaxed atomic access per word), and must stay inside the ring
/// for any `slot` value (by masking it with their own private capacity).
pub trait RingMemory {
    /// Atomically loads a control word.
    fn load(&self, word: ControlWord, order: Ordering) -> u32;
    /// Atomically stores a control word.
    fn store(&self, word: ControlWord, value: u32, order: Ordering);
    /// Copies the descriptor in `slot` (taken modulo the capacity) out of shared memory.
    fn read_descriptor(&self, slot: u32) -> RawDescriptor;
    /// Copies a descriptor into `slot` (taken modulo the capacity).
    fn write_descriptor(&self, slot: u32, descriptor: RawDescriptor);
    /// Copies the descriptors of `out.len()` (at most the capacity)
    /// consecutive slots, starting at `first`, out of shared memory into the
    /// buffers of `out`, *unvalidated*: the caller validates each one
    /// ([`Buffer::check_in`]) before anyone sees it. Batches call this rather
    /// than [`read_descriptor`](Self::read_descriptor) in a loop so that an
    /// implementation can keep its geometry in registers for the whole batch.
    #[inline(always)]
    fn read_into(&self, first: u32, out: &mut [Buffer]) {
        for (i, buffer) in out.iter_mut().enumerate() {
            *buffer.unchecked_descriptor() = self.read_descriptor(first.wrapping_add(i as u32));
        }
    }
    /// Copies the descriptors of `buffers` (at most the capacity) into
    /// consecutive slots starting at `first`; the batch counterpart of
    /// [`write_descriptor`](Self::write_descriptor).
    #[inline(always)]
    fn write_from(&self, first: u32, buffers: &[Buffer]) {
        for (i, buffer) in buffers.iter().enumerate() {
            self.write_descriptor(first.wrapping_add(i as u32), buffer.descriptor());
        }
    }
    /// A sequentially consistent fence, ordering an earlier store before a later load.
    fn fence_seq_cst(&self);
}

/// A ring-pair region mapped into this address space, viewed as words.
#[derive(Clone, Copy, Debug)]
pub struct RegionMapping<'a> {
    words: &'a [AtomicU32],
}

impl<'a> RegionMapping<'a> {
    /// Views `len` bytes at `base` as a region shared with a peer.
    ///
    /// # Safety
    ///
    /// For all of `'a`, the `len` bytes at `base` must stay mapped, readable and
    /// writable, and must be accessed by everyone (this process and the peer)
    /// only through atomic operations of at most 4 bytes or through hardware
    /// that behaves like them (a peer process writing with ordinary stores
    /// counts: on x86_64 an aligned 4-byte store is single-copy atomic). The
    /// memory must not be deallocated or reused for something else during `'a`.
    pub unsafe fn from_raw(base: NonNull<u8>, len: usize) -> Result<Self, AttachError> {
        if !(base.as_ptr() as usize).is_multiple_of(REGION_ALIGN) {
            return Err(AttachError::Misaligned);
        }
        let words = len / WORD_BYTES;
        // SAFETY: `base` is aligned for `AtomicU32` (checked above, REGION_ALIGN
        // is a multiple of 4), the caller guarantees `words * 4 <= len` bytes
        // stay valid for `'a`, and that every access to them is atomic, which is
        // exactly what a shared `[AtomicU32]` permits.
        let words =
            unsafe { core::slice::from_raw_parts(base.as_ptr().cast::<AtomicU32>(), words) };
        Ok(Self { words })
    }

    /// Views memory that is already typed as atomics (in-process peers and tests).
    pub fn from_words(words: &'a [AtomicU32]) -> Result<Self, AttachError> {
        if !(words.as_ptr() as usize).is_multiple_of(REGION_ALIGN) {
            return Err(AttachError::Misaligned);
        }
        Ok(Self { words })
    }

    /// Writes a fresh region for `params`: zero indices, default wake-up
    /// requests, empty descriptors, then the header with the magic last
    /// (release), so that an attacher that sees the magic sees the rest.
    ///
    /// Only the pool owner calls this, and only while no peer is attached
    /// (at first set-up, or after the borrower died and before it restarts).
    pub fn initialise(&self, params: &RingPairParams, generation: u32) -> Result<(), AttachError> {
        let need = params.region_words();
        if self.words.len() < need {
            return Err(AttachError::TooSmall {
                need: need * WORD_BYTES,
                have: self.words.len() * WORD_BYTES,
            });
        }
        let region = &self.words[..need];
        region[MAGIC_WORD].store(0, Ordering::Relaxed);
        for word in &region[1..] {
            word.store(0, Ordering::Relaxed);
        }
        for ring in [RingId::Lend, RingId::Return] {
            region[RingPairParams::control_word(ring, ControlWord::ProducerWakeAt)]
                .store(WAKE_NEVER_FROM_START, Ordering::Relaxed);
            region[RingPairParams::control_word(ring, ControlWord::ConsumerWakeAt)]
                .store(WAKE_ON_FIRST_ENTRY, Ordering::Relaxed);
        }
        let header = params.header(generation);
        let header_words: [u32; HEADER_WORDS] = zerocopy::transmute!(header);
        for (i, value) in header_words.iter().enumerate().skip(1) {
            region[i].store(*value, Ordering::Relaxed);
        }
        region[MAGIC_WORD].store(header.magic, Ordering::Release);
        Ok(())
    }

    /// Reads the header (magic first, with acquire) and checks it against our
    /// private parameters. Returns the region's generation.
    pub fn check(&self, params: &RingPairParams) -> Result<u32, AttachError> {
        let need = params.region_words();
        if self.words.len() < need {
            return Err(AttachError::TooSmall {
                need: need * WORD_BYTES,
                have: self.words.len() * WORD_BYTES,
            });
        }
        let mut words = [0u32; HEADER_WORDS];
        words[MAGIC_WORD] = self.words[MAGIC_WORD].load(Ordering::Acquire);
        for (i, slot) in words.iter_mut().enumerate().skip(1) {
            *slot = self.words[i].load(Ordering::Relaxed);
        }
        let header: RegionHeader = zerocopy::transmute!(words);
        params.check_header(&header)
    }

    /// The memory operations of one ring of the pair. The caller must have
    /// checked the region with [`check`](Self::check) or written it with
    /// [`initialise`](Self::initialise) for the same `params`; if the region is
    /// too small an error is returned rather than a partial ring.
    pub fn ring(
        &self,
        params: &RingPairParams,
        ring: RingId,
    ) -> Result<SharedRing<'a>, AttachError> {
        let need = params.region_words();
        if self.words.len() < need {
            return Err(AttachError::TooSmall {
                need: need * WORD_BYTES,
                have: self.words.len() * WORD_BYTES,
            });
        }
        let word = |w| &self.words[RingPairParams::control_word(ring, w)];
        let first = params.descriptors(ring);
        let descriptor_words =
            &self.words[first..first + params.capacity() as usize * DESCRIPTOR_WORDS];
        let (descriptors, rest) = descriptor_words.as_chunks::<DESCRIPTOR_WORDS>();
        debug_assert!(rest.is_empty());
        Ok(SharedRing {
            head: word(ControlWord::Head),
            producer_wake_at: word(ControlWord::ProducerWakeAt),
            tail: word(ControlWord::Tail),
            consumer_wake_at: word(ControlWord::ConsumerWakeAt),
            descriptors,
            slot_mask: params.capacity() - 1,
        })
    }

    /// All words of the region, for hostile-peer tests and fuzzing that
    /// scribble over it.
    pub fn words(&self) -> &'a [AtomicU32] {
        self.words
    }
}

/// One ring of a mapped region.
#[derive(Clone, Copy, Debug)]
pub struct SharedRing<'a> {
    head: &'a AtomicU32,
    producer_wake_at: &'a AtomicU32,
    tail: &'a AtomicU32,
    consumer_wake_at: &'a AtomicU32,
    descriptors: &'a [[AtomicU32; DESCRIPTOR_WORDS]],
    /// Private copy of capacity - 1; `descriptors.len()` equals capacity.
    slot_mask: u32,
}

impl SharedRing<'_> {
    #[inline(always)]
    fn word(&self, word: ControlWord) -> &AtomicU32 {
        match word {
            ControlWord::Head => self.head,
            ControlWord::ProducerWakeAt => self.producer_wake_at,
            ControlWord::Tail => self.tail,
            ControlWord::ConsumerWakeAt => self.consumer_wake_at,
        }
    }

    /// The `count` (at most the capacity) slots from ring index `first` on,
    /// as the run up to the end of the array and the run that wraps around
    /// to its start; iterating them needs no per-slot masking.
    #[inline(always)]
    fn runs(
        &self,
        first: u32,
        count: usize,
    ) -> (
        &[[AtomicU32; DESCRIPTOR_WORDS]],
        &[[AtomicU32; DESCRIPTOR_WORDS]],
    ) {
        let start = (first & self.slot_mask) as usize;
        let (before, from_first) = self.descriptors.split_at(start);
        let to_end = count.min(from_first.len());
        let wrapped = (count - to_end).min(before.len());
        (&from_first[..to_end], &before[..wrapped])
    }

    #[inline(always)]
    fn slot(&self, slot: u32) -> &[AtomicU32; DESCRIPTOR_WORDS] {
        // The mask keeps the index below the capacity, which is the length of
        // `descriptors`; the bounds check stays as a second line of defence.
        &self.descriptors[(slot & self.slot_mask) as usize]
    }
}

impl RingMemory for SharedRing<'_> {
    #[inline(always)]
    fn load(&self, word: ControlWord, order: Ordering) -> u32 {
        self.word(word).load(order)
    }

    #[inline(always)]
    fn store(&self, word: ControlWord, value: u32, order: Ordering) {
        self.word(word).store(value, order)
    }

    #[inline(always)]
    fn read_descriptor(&self, slot: u32) -> RawDescriptor {
        load_descriptor(self.slot(slot))
    }

    #[inline(always)]
    fn write_descriptor(&self, slot: u32, d: RawDescriptor) {
        store_descriptor(self.slot(slot), d)
    }

    #[inline(always)]
    fn read_into(&self, first: u32, out: &mut [Buffer]) {
        let (to_end, from_start) = self.runs(first, out.len());
        let (out_to_end, out_from_start) = out.split_at_mut(to_end.len());
        for (slot, buffer) in to_end.iter().zip(out_to_end) {
            *buffer.unchecked_descriptor() = load_descriptor(slot);
        }
        for (slot, buffer) in from_start.iter().zip(out_from_start) {
            *buffer.unchecked_descriptor() = load_descriptor(slot);
        }
    }

    #[inline(always)]
    fn write_from(&self, first: u32, buffers: &[Buffer]) {
        let (to_end, from_start) = self.runs(first, buffers.len());
        let (buffers_to_end, buffers_from_start) = buffers.split_at(to_end.len());
        for (slot, buffer) in to_end.iter().zip(buffers_to_end) {
            store_descriptor(slot, buffer.descriptor());
        }
        for (slot, buffer) in from_start.iter().zip(buffers_from_start) {
            store_descriptor(slot, buffer.descriptor());
        }
    }

    #[inline(always)]
    fn fence_seq_cst(&self) {
        fence(Ordering::SeqCst)
    }
}

/// Copies one descriptor out of its slot, one relaxed load per word.
#[inline(always)]
fn load_descriptor(s: &[AtomicU32; DESCRIPTOR_WORDS]) -> RawDescriptor {
    RawDescriptor {
        offset: s[0].load(Ordering::Relaxed),
        len: s[1].load(Ordering::Relaxed),
        cookie: s[2].load(Ordering::Relaxed),
        flags: s[3].load(Ordering::Relaxed),
    }
}

/// Copies one descriptor into its slot, one relaxed store per word.
#[inline(always)]
fn store_descriptor(s: &[AtomicU32; DESCRIPTOR_WORDS], d: RawDescriptor) {
    s[0].store(d.offset, Ordering::Relaxed);
    s[1].store(d.len, Ordering::Relaxed);
    s[2].store(d.cookie, Ordering::Relaxed);
    s[3].store(d.flags, Ordering::Relaxed);
}

/// Memory shaped for one ring pair with `WORDS` words, aligned as a region
/// must be. For peers in one process (tests, benchmarks, fuzzing) and for
/// statics; cross-process regions come from [`RegionMapping::from_raw`].
#[repr(C, align(128))]
pub struct RegionBuffer<const WORDS: usize> {
    words: [AtomicU32; WORDS],
}

impl<const WORDS: usize> RegionBuffer<WORDS> {
    /// A zeroed buffer.
    pub const fn new() -> Self {
        Self {
            words: [const { AtomicU32::new(0) }; WORDS],
        }
    }

    /// The buffer as a region mapping.
    pub fn mapping(&self) -> RegionMapping<'_> {
        RegionMapping { words: &self.words }
    }
}

impl<const WORDS: usize> Default for RegionBuffer<WORDS> {
    fn default() -> Self {
        Self::new()
    }
}

const _: () = assert!(core::mem::align_of::<RegionBuffer<1>>() == REGION_ALIGN);
