//! Helpers shared by the integration tests: a heap-allocated, leaked region
//! so that ends can move to other threads.
#![allow(dead_code)]

use std::sync::atomic::AtomicU32;

use ward_ring::{PoolGeometry, RegionMapping, RingPairParams};

/// A region of `words` words, aligned as regions must be, that lives for the
/// rest of the test process.
pub fn leaked_region(words: usize) -> RegionMapping<'static> {
    // Over-allocate by one control line and start at the first aligned word.
    let spare = ward_ring::REGION_ALIGN / 4;
    let storage: &'static [AtomicU32] = Box::leak(
        (0..words + spare)
            .map(|_| AtomicU32::new(0))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let skip = storage.as_ptr().align_offset(ward_ring::REGION_ALIGN);
    RegionMapping::from_words(&storage[skip..skip + words]).expect("aligned")
}

pub fn params(capacity: u32, slot_size: u32, slots: u32, align: u32) -> RingPairParams {
    RingPairParams::new(
        capacity,
        PoolGeometry::new(slot_size, slots, align).unwrap(),
    )
    .unwrap()
}
