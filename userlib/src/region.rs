//! Shared regions as the caps table grants them, viewed safely.
//!
//! A region may be written by another component (or a device) at any
//! moment, so no `&[u8]` or `&mut [u8]` over it is ever formed: the views
//! here are slices of atomics, whose contract is exactly that someone else
//! may change them. Formats that live in shared memory (ring pairs, counter
//! pages, the status page) are written against these views.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::spec::Mapping;

fn base(mapping: Mapping) -> NonNull<u8> {
    NonNull::new(mapping.vaddr() as *mut u8).expect("the root task never maps memory at address 0")
}

/// The region as 32-bit atomic words.
pub fn words32(mapping: Mapping) -> &'static [AtomicU32] {
    // SAFETY: `Mapping::granted`'s contract: `size` bytes at the page-aligned
    // `vaddr` stay mapped for the component's life. Any bit pattern is a valid
    // u32; a peer's concurrent aligned stores are single-copy atomic. A
    // read-only mapping stays safe to view: the caller can only store
    // through it by choice, which faults (and is reported) rather than
    // corrupting anything.
    unsafe {
        core::slice::from_raw_parts(
            base(mapping).as_ptr() as *const AtomicU32,
            mapping.size() as usize / core::mem::size_of::<AtomicU32>(),
        )
    }
}

/// The region as 64-bit atomic words.
pub fn words64(mapping: Mapping) -> &'static [AtomicU64] {
    // SAFETY: as for `words32`; the base is page-aligned, so 8-byte aligned.
    unsafe {
        core::slice::from_raw_parts(
            base(mapping).as_ptr() as *const AtomicU64,
            mapping.size() as usize / core::mem::size_of::<AtomicU64>(),
        )
    }
}

/// Copies `out.len()` bytes from byte `offset` of a region, word by word;
/// returns how many bytes were copied (fewer at the region's end).
pub fn copy_out(words: &[AtomicU64], offset: usize, out: &mut [u8]) -> usize {
    let total = words.len() * 8;
    let length = out.len().min(total.saturating_sub(offset));
    for (i, byte) in out[..length].iter_mut().enumerate() {
        let at = offset + i;
        *byte = (words[at / 8].load(Ordering::Relaxed) >> ((at % 8) * 8)) as u8;
    }
    length
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_out_stops_at_the_end() {
        let words = [
            AtomicU64::new(0x0807_0605_0403_0201),
            AtomicU64::new(0x0a09),
        ];
        let mut out = [0u8; 12];
        assert_eq!(copy_out(&words, 6, &mut out), 10);
        assert_eq!(&out[..10], &[7, 8, 9, 10, 0, 0, 0, 0, 0, 0]);
        assert_eq!(copy_out(&words, 40, &mut out), 0);
    }
}
