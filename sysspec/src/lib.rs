//! Ward's compiled system spec: the binary form of `system.toml` that the
//! root task reads at boot.
//!
//! `capctl build` checks a `system.toml`, lays out every component's
//! capability space and writes the result as one flat, versioned blob (the
//! `system.bin` boot module). The root task, a `no_std` program without a
//! heap, decodes it in place with [`Spec::decode`]: no copying, no
//! allocation, and every offset, index and string is validated once, up
//! front, so that the rest of the root task can trust what it reads.
//!
//! The layout (all integers little-endian, no alignment requirements):
//!
//! ```text
//! Header                      (fixed size, see [`format::Header`])
//! components: [ComponentRec]  each names a contiguous run of caps
//! regions:    [RegionRec]     memory regions, including the rings' memories
//! devices:    [DeviceRec]
//! dma:        [DmaRec]        IOMMU windows: a region into a device's domain
//! channels:   [ChannelRec]
//! caps:       [CapRec]        every capability of every component, by slot
//! strings:    UTF-8 bytes     referenced by (offset, len) pairs
//! ```
//!
//! Other parts of this crate:
//! - [`dump`]: the capability-dump line format that the root task prints and
//!   `capctl audit` reads;
//! - the generated capability tables use `ward_userlib::spec`, not this crate;
//! - [`policy`]: what a component's restart policy decides after a fault;
//! - [`model`] (feature `alloc`): an owned model of a spec and the encoder.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod decode;
pub mod dump;
pub mod format;
#[cfg(feature = "alloc")]
pub mod model;
pub mod policy;

pub use decode::{checksum, DecodeError, Spec};
pub use format::*;

/// FNV-1a, 32-bit: the spec's checksum. It is not a defence against an
/// attacker (whoever can change the boot modules owns the machine anyway);
/// it catches truncation and corruption with a clear error instead of a
/// confusing one later.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &b in bytes {
        hash ^= b as u32;
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// FNV-1a, 64-bit: used for the per-component capability-layout hash that
/// ties a generated caps table to the spec it was generated from.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}
