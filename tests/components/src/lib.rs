//! Helpers shared by the test components: a minimal single-producer,
//! single-consumer ring of (offset, length) descriptors in a ring channel's
//! shared memory (for channels that carry a value, not pool buffers), the
//! ward-ring region of a ring channel, and signalling.
//!
//! The ring keeps the layout capctl sized the memory for (a header area of
//! 640 bytes, then 16-byte descriptors): the producer's count at byte 0, the
//! consumer's count at byte 128 (its own cache-line pair), descriptors from
//! byte 640. The consumer checks every descriptor against the pool, so a
//! wrong descriptor can only be refused, never followed outside the pool.
#![no_std]

use core::sync::atomic::{AtomicU32, Ordering};

/// Offset of the consumer's count: 128 bytes after the producer's, so the
/// two ends never write the same cache line pair.
const CONSUMED_OFFSET: u64 = 128;
/// Offset of the first descriptor: after the header lines capctl reserves.
const DESCRIPTORS_OFFSET: u64 = ward_sysspec::RING_HEADER_BYTES;

/// One end of a ring in shared memory mapped at `base`.
pub struct SimpleRing {
    base: u64,
    entries: u32,
}

impl SimpleRing {
    /// The ring at `base` with `entries` descriptors (a power of two).
    pub const fn new(base: u64, entries: u32) -> SimpleRing {
        SimpleRing { base, entries }
    }

    fn counter(&self, offset: u64) -> &AtomicU32 {
        // SAFETY: the ring memory is mapped read-write at `base` in both
        // ends for the component's whole life; the counters are aligned
        // words inside its first page, and only accessed atomically.
        unsafe { &*((self.base + offset) as *const AtomicU32) }
    }

    fn descriptor(&self, index: u32) -> &[AtomicU32; 2] {
        let at = self.base + DESCRIPTORS_OFFSET + u64::from(index % self.entries) * 16;
        // SAFETY: as for `counter`; descriptors lie inside the memory capctl
        // sized for `entries` descriptors.
        unsafe { &*(at as *const [AtomicU32; 2]) }
    }

    /// Zeroes both counts (the producer does this at start).
    pub fn reset(&self) {
        self.counter(0).store(0, Ordering::Release);
        self.counter(CONSUMED_OFFSET).store(0, Ordering::Release);
    }

    /// Producer: publishes one descriptor; false when the ring is full.
    pub fn push(&self, offset: u32, length: u32) -> bool {
        let produced = self.counter(0).load(Ordering::Relaxed);
        let consumed = self.counter(CONSUMED_OFFSET).load(Ordering::Acquire);
        if produced.wrapping_sub(consumed) >= self.entries {
            return false;
        }
        let slot = self.descriptor(produced);
        slot[0].store(offset, Ordering::Relaxed);
        slot[1].store(length, Ordering::Relaxed);
        self.counter(0)
            .store(produced.wrapping_add(1), Ordering::Release);
        true
    }

    /// Consumer: takes one descriptor, checked against a pool of
    /// `pool_bytes`; `Err` for a descriptor outside the pool.
    pub fn pop(&self, pool_bytes: u32) -> Result<Option<(u32, u32)>, (u32, u32)> {
        let consumed = self.counter(CONSUMED_OFFSET).load(Ordering::Relaxed);
        let produced = self.counter(0).load(Ordering::Acquire);
        if produced == consumed {
            return Ok(None);
        }
        let slot = self.descriptor(consumed);
        let (offset, length) = (
            slot[0].load(Ordering::Relaxed),
            slot[1].load(Ordering::Relaxed),
        );
        self.counter(CONSUMED_OFFSET)
            .store(consumed.wrapping_add(1), Ordering::Release);
        if offset
            .checked_add(length)
            .is_none_or(|end| end > pool_bytes)
        {
            return Err((offset, length));
        }
        Ok(Some((offset, length)))
    }

    /// Consumer: skips everything published so far (after the producer
    /// restarted, its old descriptors mean nothing).
    pub fn resynchronise(&self) {
        let produced = self.counter(0).load(Ordering::Acquire);
        self.counter(CONSUMED_OFFSET)
            .store(produced, Ordering::Release);
    }
}

/// Reads `length` bytes at `vaddr` of a mapped region.
///
/// # Safety
/// `vaddr..vaddr + length` must be mapped readable for the caller's whole use.
pub unsafe fn bytes(vaddr: u64, length: usize) -> &'static [u8] {
    // SAFETY: the caller promises the range is mapped.
    unsafe { core::slice::from_raw_parts(vaddr as *const u8, length) }
}

/// Signals a notification capability in the component's CSpace.
pub fn signal(slot: u32) {
    let _ = ward_userlib::syscall::signal(u64::from(slot));
}

/// The ward-ring region of a ring channel mapped at `mapping`.
pub fn ring_region(mapping: ward_sysspec::caps::Mapping) -> ward_ring::RegionMapping<'static> {
    let base = core::ptr::NonNull::new(mapping.vaddr as *mut u8)
        .expect("ring memory is mapped at a non-zero address");
    // SAFETY: the root task maps the ring memory read-write at `vaddr`
    // (`size` bytes) for the component's whole life, and both ends access
    // it only through ward-ring's atomic words.
    unsafe { ward_ring::RegionMapping::from_raw(base, mapping.size as usize) }
        .expect("ring memory is page-aligned")
}
