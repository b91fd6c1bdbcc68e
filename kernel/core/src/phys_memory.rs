//! Physical memory at boot: what is free, what the kernel reserves, and how
//! the rest becomes the root task's untyped regions.
//!
//! The kernel starts from the firmware's list of RAM ranges, takes out what is
//! in use (low memory, the kernel image, the boot modules), allocates the few
//! pages it needs to build the root task, and hands everything left to the
//! root task as untyped memory. As in seL4, each untyped region is a power of
//! two in size and aligned to its size, so the root task can retype it
//! without surprises; a free range is split greedily into the largest such
//! blocks.

use heapless::Vec;
use ward_abi::bootinfo::{UntypedDesc, MAX_UNTYPED, MAX_UNTYPED_BITS, MIN_UNTYPED_BITS};
use ward_abi::layout::PAGE_SIZE;

/// Most disjoint free ranges tracked. A PC memory map has a handful of RAM
/// ranges, and each reservation splits at most one range into two, so 64
/// leaves a wide margin.
pub const MAX_FREE_RANGES: usize = 64;

/// A half-open physical address range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysRange {
    pub start: u64,
    pub end: u64,
}

impl PhysRange {
    pub fn new(start: u64, end: u64) -> PhysRange {
        PhysRange { start, end }
    }

    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    pub fn overlaps(&self, other: &PhysRange) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// The free list ran out of room: the memory map is more fragmented than
/// [`MAX_FREE_RANGES`] allows. The range that did not fit is lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooFragmented {
    pub lost: PhysRange,
}

/// The untyped regions carved from free memory.
#[derive(Clone, Debug, Default)]
pub struct UntypedList {
    pub regions: Vec<UntypedDesc, MAX_UNTYPED>,
    /// Bytes left out because the list was full (smallest regions go first).
    pub dropped_bytes: u64,
}

impl UntypedList {
    /// Total bytes described.
    pub fn total_bytes(&self) -> u64 {
        self.regions.iter().map(|r| r.size()).sum()
    }
}

/// Free physical memory, kept sorted and disjoint, page-granular.
#[derive(Clone, Debug, Default)]
pub struct PhysMemory {
    free: Vec<PhysRange, MAX_FREE_RANGES>,
}

impl PhysMemory {
    pub fn new() -> PhysMemory {
        PhysMemory { free: Vec::new() }
    }

    /// The free ranges, sorted by address.
    pub fn free_ranges(&self) -> &[PhysRange] {
        &self.free
    }

    /// Total free bytes.
    pub fn free_bytes(&self) -> u64 {
        self.free.iter().map(|r| r.len()).sum()
    }

    /// Adds RAM reported by firmware. The range is shrunk to whole pages;
    /// overlaps with RAM already added are merged.
    pub fn add_ram(&mut self, start: u64, end: u64) -> Result<(), TooFragmented> {
        let start = align_up(start, PAGE_SIZE);
        let end = end & !(PAGE_SIZE - 1);
        if start >= end {
            return Ok(());
        }
        let mut merged = PhysRange::new(start, end);
        // Absorb every existing range that overlaps or touches the new one.
        let mut index = 0;
        while index < self.free.len() {
            let existing = self.free[index];
            if existing.start <= merged.end && merged.start <= existing.end {
                merged.start = merged.start.min(existing.start);
                merged.end = merged.end.max(existing.end);
                self.free.remove(index);
            } else {
                index += 1;
            }
        }
        let position = self
            .free
            .iter()
            .position(|r| r.start > merged.start)
            .unwrap_or(self.free.len());
        self.free
            .insert(position, merged)
            .map_err(|_| TooFragmented { lost: merged })
    }

    /// Removes `[start, end)` (widened to whole pages) from the free memory.
    pub fn reserve(&mut self, start: u64, end: u64) -> Result<(), TooFragmented> {
        let start = start & !(PAGE_SIZE - 1);
        let end = align_up(end, PAGE_SIZE);
        if start >= end {
            return Ok(());
        }
        let cut = PhysRange::new(start, end);
        let mut index = 0;
        while index < self.free.len() {
            let range = self.free[index];
            if !range.overlaps(&cut) {
                index += 1;
                continue;
            }
            let below = PhysRange::new(range.start, cut.start.max(range.start));
            let above = PhysRange::new(cut.end.min(range.end), range.end);
            self.free.remove(index);
            if !above.is_empty() {
                self.free
                    .insert(index, above)
                    .map_err(|_| TooFragmented { lost: above })?;
            }
            if !below.is_empty() {
                self.free
                    .insert(index, below)
                    .map_err(|_| TooFragmented { lost: below })?;
                index += 1;
            }
            if !above.is_empty() {
                index += 1;
            }
        }
        Ok(())
    }

    /// Allocates `bytes` (rounded up to pages) aligned to `align` (a power of
    /// two, at least a page), from the lowest free address that fits.
    pub fn allocate(&mut self, bytes: u64, align: u64) -> Option<u64> {
        let align = align.max(PAGE_SIZE);
        if !align.is_power_of_two() || bytes == 0 {
            return None;
        }
        let bytes = align_up(bytes, PAGE_SIZE);
        let start = self.free.iter().find_map(|range| {
            let start = align_up(range.start, align);
            let end = start.checked_add(bytes)?;
            (end <= range.end).then_some(start)
        })?;
        self.reserve(start, start + bytes).ok()?;
        Some(start)
    }

    /// Carves the free memory into naturally aligned power-of-two regions,
    /// largest first within each range. If there are more than
    /// [`MAX_UNTYPED`], the smallest are dropped and counted.
    pub fn to_untyped(&self) -> UntypedList {
        let mut list = UntypedList::default();
        for range in &self.free {
            let mut start = range.start;
            while start < range.end {
                let bits = block_bits(start, range.end - start);
                if bits < u32::from(MIN_UNTYPED_BITS) {
                    list.dropped_bytes += range.end - start;
                    break;
                }
                push_keeping_largest(
                    &mut list,
                    UntypedDesc {
                        paddr: start,
                        size_bits: bits as u8,
                        is_device: 0,
                        _reserved: [0; 6],
                    },
                );
                start += 1u64 << bits;
            }
        }
        list
    }
}

/// The size (in bits) of the largest block that starts at `start`, is aligned
/// to its size and fits in `len` bytes.
fn block_bits(start: u64, len: u64) -> u32 {
    let by_alignment = if start == 0 {
        63
    } else {
        start.trailing_zeros()
    };
    let by_length = 63 - len.leading_zeros();
    by_alignment.min(by_length).min(u32::from(MAX_UNTYPED_BITS))
}

/// Adds `region`; when the list is full, the smallest region (possibly the
/// new one) is dropped instead.
fn push_keeping_largest(list: &mut UntypedList, region: UntypedDesc) {
    if let Err(region) = list.regions.push(region) {
        let (smallest_index, smallest) = list
            .regions
            .iter()
            .enumerate()
            .min_by_key(|(_, r)| r.size_bits)
            .map(|(i, r)| (i, *r))
            .expect("a full list is not empty");
        if smallest.size_bits < region.size_bits {
            list.dropped_bytes += smallest.size();
            list.regions[smallest_index] = region;
        } else {
            list.dropped_bytes += region.size();
        }
    }
}

fn align_up(value: u64, align: u64) -> u64 {
    value.saturating_add(align - 1) & !(align - 1)
}

#[cfg(test)]
mod tests;
