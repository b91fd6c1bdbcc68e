//! Tests of free-memory bookkeeping and untyped carving.

extern crate std;
use super::*;
use proptest::prelude::*;
use std::vec::Vec as StdVec;

fn q35_512m() -> PhysMemory {
    let mut m = PhysMemory::new();
    m.add_ram(0, 0x9fc00).unwrap();
    m.add_ram(0x10_0000, 0x2000_0000).unwrap();
    m
}

#[test]
fn reservations_split_ranges() {
    let mut m = q35_512m();
    m.reserve(0, 0x10_0000).unwrap();
    m.reserve(0x10_0000, 0x20_0123).unwrap();
    m.reserve(0x30_0000, 0x30_1000).unwrap();
    assert_eq!(
        m.free_ranges(),
        &[
            PhysRange::new(0x20_1000, 0x30_0000),
            PhysRange::new(0x30_1000, 0x2000_0000)
        ]
    );
}

#[test]
fn ram_is_shrunk_to_pages_and_merged() {
    let mut m = PhysMemory::new();
    m.add_ram(0x1001, 0x5fff).unwrap();
    m.add_ram(0x5000, 0x9000).unwrap();
    m.add_ram(0x100, 0x200).unwrap();
    assert_eq!(m.free_ranges(), &[PhysRange::new(0x2000, 0x9000)]);
}

#[test]
fn allocation_is_aligned_and_removed() {
    let mut m = q35_512m();
    m.reserve(0, 0x10_0000).unwrap();
    let a = m.allocate(0x3000, 0x1000).unwrap();
    let b = m.allocate(0x1000, 0x20_0000).unwrap();
    assert_eq!(a, 0x10_0000);
    assert_eq!(b % 0x20_0000, 0);
    assert!(m
        .free_ranges()
        .iter()
        .all(|r| !r.overlaps(&PhysRange::new(a, a + 0x3000))));
    assert!(m.allocate(1 << 40, 0x1000).is_none());
    assert!(m.allocate(0x1000, 0x3000).is_none());
}

#[test]
fn untyped_blocks_are_natural() {
    let mut m = PhysMemory::new();
    m.add_ram(0x10_3000, 0x2000_0000).unwrap();
    let list = m.to_untyped();
    assert_eq!(list.total_bytes(), 0x2000_0000 - 0x10_3000);
    assert_eq!(list.regions[0].paddr, 0x10_3000);
    assert_eq!(list.regions[0].size_bits, 12);
    let largest = list.regions.iter().map(|r| r.size_bits).max().unwrap();
    assert_eq!(largest, 28);
    assert_eq!(list.dropped_bytes, 0);
}

#[test]
fn overflowing_list_drops_smallest() {
    let mut m = PhysMemory::new();
    // Many separate single pages plus one big range.
    for i in 0..(MAX_FREE_RANGES as u64 - 1) {
        m.add_ram(0x100_0000 + i * 0x2000, 0x100_0000 + i * 0x2000 + 0x1000)
            .unwrap();
    }
    m.add_ram(0x4000_0000, 0x8000_0000).unwrap();
    let list = m.to_untyped();
    assert!(list.regions.iter().any(|r| r.size_bits == 30));
    assert!(list.regions.len() <= MAX_UNTYPED);
}

#[test]
fn too_fragmented_is_an_error() {
    let mut m = PhysMemory::new();
    for i in 0..MAX_FREE_RANGES as u64 {
        m.add_ram(i * 0x2000, i * 0x2000 + 0x1000).unwrap();
    }
    assert!(m.add_ram(0x1000_0000, 0x1000_1000).is_err());
}

proptest! {
    /// Whatever RAM, reservations and allocations, the untyped regions are
    /// aligned, disjoint, inside RAM, outside every reservation and
    /// allocation, and (when the list does not overflow) nothing is lost.
    #[test]
    fn carving_is_sound(
        ram in proptest::collection::vec((0u64..1 << 24, 1u64..1 << 22), 1..6),
        reserved in proptest::collection::vec((0u64..1 << 24, 1u64..1 << 20), 0..8),
        allocs in proptest::collection::vec((1u64..1 << 16, 12u32..22), 0..4),
    ) {
        let mut m = PhysMemory::new();
        let mut ram_ranges = StdVec::new();
        for (start, len) in ram {
            let (start, len) = (start << 12, len << 4);
            m.add_ram(start, start + len).unwrap();
            ram_ranges.push(PhysRange::new(start, start + len));
        }
        let mut taken = StdVec::new();
        for (start, len) in reserved {
            let (start, len) = (start << 12, len << 4);
            m.reserve(start, start + len).unwrap();
            taken.push(PhysRange::new(start, start + len));
        }
        for (bytes, align_bits) in allocs {
            if let Some(at) = m.allocate(bytes, 1 << align_bits) {
                prop_assert_eq!(at % (1 << align_bits), 0);
                taken.push(PhysRange::new(at, at + bytes));
            }
        }
        // The union of the RAM ranges (touching ranges merged), to check containment.
        ram_ranges.sort_by_key(|r| r.start);
        let mut union: StdVec<PhysRange> = StdVec::new();
        for r in ram_ranges {
            match union.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => union.push(r),
            }
        }
        let free_before = m.free_bytes();
        let list = m.to_untyped();
        prop_assert_eq!(list.total_bytes() + list.dropped_bytes, free_before);
        for (i, r) in list.regions.iter().enumerate() {
            let range = PhysRange::new(r.paddr, r.paddr + r.size());
            prop_assert_eq!(r.paddr % r.size(), 0);
            prop_assert!(r.size_bits >= MIN_UNTYPED_BITS && r.size_bits <= MAX_UNTYPED_BITS);
            prop_assert!(union.iter().any(|ram| ram.start <= range.start && range.end <= ram.end),
                "region {:?} not inside RAM", range);
            for t in &taken {
                prop_assert!(!t.overlaps(&range), "region {:?} overlaps taken {:?}", range, t);
            }
            for other in &list.regions[i + 1..] {
                prop_assert!(!range.overlaps(&PhysRange::new(other.paddr, other.paddr + other.size())));
            }
        }
    }
}
