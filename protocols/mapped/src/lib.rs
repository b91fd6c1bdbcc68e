//! Safe views of the memory a component's generated caps table says the
//! root task mapped for it: a ring channel's region, a buffer pool, a page
//! of counters, a region mapped into this component alone.
//!
//! This is the one place the network components turn a `Mapping` (an
//! address and a size from system.toml) into Rust references. Shared memory
//! is only ever seen as atomics (`[AtomicU32]`, `[AtomicU64]`), which a peer
//! may change at any time without undefined behaviour; only a region that no
//! other component maps becomes plain bytes. (The components kit, issue 11,
//! brings ring attach helpers to userlib; these views then move there.)
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64};

use ward_ring::{PoolGeometry, PoolMemory, RegionMapping};
use ward_sysspec::caps::Mapping;

/// Why a view could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewError {
    /// The mapping is at address 0 or not aligned for the view.
    Misaligned,
    /// The mapping is smaller than the view needs.
    TooSmall,
}

fn base(mapping: &Mapping, align: usize) -> Result<NonNull<u8>, ViewError> {
    let base = NonNull::new(mapping.vaddr as *mut u8).ok_or(ViewError::Misaligned)?;
    if !(mapping.vaddr as usize).is_multiple_of(align) {
        return Err(ViewError::Misaligned);
    }
    Ok(base)
}

/// A ring channel's shared memory as a ward-ring region.
pub fn ring_region(mapping: &Mapping) -> Result<RegionMapping<'static>, ViewError> {
    let base = base(mapping, ward_ring::REGION_ALIGN)?;
    // SAFETY: the root task maps the ring memory read-write at `vaddr`
    // (`size` bytes) for the component's whole life (`'static`), and both
    // ends access it only through ward-ring's atomic words.
    unsafe { RegionMapping::from_raw(base, mapping.size as usize) }
        .map_err(|_| ViewError::Misaligned)
}

/// Words of shared memory, for views that are atomics throughout.
fn shared_words<T>(mapping: &Mapping) -> Result<&'static [T], ViewError> {
    let base = base(mapping, core::mem::align_of::<T>())?;
    let count = mapping.size as usize / core::mem::size_of::<T>();
    // SAFETY: the mapping covers `size` bytes at `vaddr` for the component's
    // whole life; `T` is only ever an atomic integer (see the callers), whose
    // contract allows another process to change it at any time; the address
    // is aligned for `T` (checked above). Read-only mappings are only read
    // (atomic loads of read-only pages are plain loads on x86_64).
    Ok(unsafe { core::slice::from_raw_parts(base.as_ptr().cast::<T>(), count) })
}

/// A buffer pool shared with a peer.
pub fn pool(mapping: &Mapping, geometry: PoolGeometry) -> Result<PoolMemory<'static>, ViewError> {
    let words = shared_words::<AtomicU32>(mapping)?;
    PoolMemory::new(words, geometry).ok_or(ViewError::TooSmall)
}

/// A page of 64-bit counters shared with readers (or written by another).
pub fn counter_words(mapping: &Mapping) -> Result<&'static [AtomicU64], ViewError> {
    shared_words::<AtomicU64>(mapping)
}

/// Bytes of the root task's status page.
const STATUS_PAGE_BYTES: u64 = 4096;

/// The root task's read-only status page (components, states,
/// generations; layout in `ward_userlib::component::status`), as words.
pub fn status_page() -> &'static [AtomicU64] {
    let mapping = Mapping {
        slot: ward_sysspec::caps::Slot::new(0),
        vaddr: ward_userlib::component::STATUS_PAGE_VADDR,
        size: STATUS_PAGE_BYTES,
        writable: false,
    };
    // The page's address is page-aligned and non-zero by construction.
    shared_words::<AtomicU64>(&mapping).unwrap_or(&[])
}

/// One component's entry on the status page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComponentEntry {
    /// Name bytes (ASCII), `name_len` of them.
    pub name: [u8; ward_userlib::component::status::NAME_BYTES],
    /// Bytes of `name` used.
    pub name_len: usize,
    /// Generation (1 at first start).
    pub generation: u32,
    /// `status::STATE_*`.
    pub state: u32,
}

/// Reads every component's entry off the status page (at most `out.len()`).
pub fn read_status(words: &[AtomicU64], out: &mut [ComponentEntry]) -> usize {
    use core::sync::atomic::Ordering;
    use ward_userlib::component::status;
    let word = |byte: usize| words.get(byte / 8).map_or(0, |w| w.load(Ordering::Acquire));
    if word(0) != status::MAGIC {
        return 0;
    }
    let count = (word(8) as usize).min(status::MAX_ENTRIES).min(out.len());
    for (index, entry) in out.iter_mut().enumerate().take(count) {
        let at = status::FIRST_ENTRY + index * status::ENTRY_BYTES;
        let first = word(at);
        let name_len = (word(at + 8) as usize).min(status::NAME_BYTES);
        let mut name = [0u8; status::NAME_BYTES];
        for (i, byte) in name.iter_mut().enumerate().take(name_len) {
            *byte = (word(at + 16 + (i & !7)) >> ((i & 7) * 8)) as u8;
        }
        *entry = ComponentEntry {
            name,
            name_len,
            generation: first as u32,
            state: (first >> 32) as u32,
        };
    }
    count
}

/// A region that system.toml maps into this component alone, as bytes.
///
/// # Safety
///
/// The caller promises that no other component maps the region (capctl's
/// `explain` shows it) and that this is the only view made of it in this
/// program: the bytes are handed out as `&'static mut`.
pub unsafe fn private_bytes(mapping: &Mapping) -> Result<&'static mut [u8], ViewError> {
    if !mapping.writable {
        return Err(ViewError::TooSmall);
    }
    let base = base(mapping, 1)?;
    // SAFETY: mapped read-write for the component's life, seen by nobody
    // else (the caller's promise), and viewed once.
    Ok(unsafe { core::slice::from_raw_parts_mut(base.as_ptr(), mapping.size as usize) })
}
