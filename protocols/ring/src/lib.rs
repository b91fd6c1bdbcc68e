//! Shared-memory ring pairs: the data path between Ward components.
//!
//! A *ring* is a single-producer single-consumer queue of 16-byte descriptors
//! in memory shared by two processes. Descriptors name buffers by offset into
//! a shared buffer pool, never by address. Two rings make a *pair* over one
//! pool, as in seL4's sDDF or virtio: the pool owner lends buffers on one and
//! gets them back on the other.
//!
//! The peer is not trusted. Each side keeps private copies of the capacity
//! and the pool geometry (from the system description) and checks every
//! index and descriptor it reads against them; a peer that breaks the
//! protocol is reported as [`PeerMisbehaved`] and can stall the channel, but
//! never make this side panic, loop without bound, or touch memory outside
//! the ring and the pool.
//!
//! The crate is `no_std`, allocates nothing, and knows nothing about the
//! kernel: "signal the peer now" is a [`Notify`] value for the caller to act
//! on with its notification capability.
//!
//! Layout, ordering and validation rules are written down in
//! `docs/protocols.md`.
//!
//! ```
//! use ward_ring::{Notify, PairEnd, PoolGeometry, RegionBuffer, RingPairParams};
//!
//! // Both sides take these from the system description, never from the region.
//! let pool = PoolGeometry::new(2048, 16, 64).unwrap();
//! let params = RingPairParams::new(8, pool).unwrap();
//! // In Ward the region is a frame mapped into both processes; here, one buffer.
//! let region = RegionBuffer::<{ 9 * 32 + 2 * 8 * 4 }>::new();
//! let mut owner = PairEnd::<_, 1>::initialise_owner(region.mapping(), &params, 1).unwrap();
//! let mut borrower = PairEnd::<_, 1>::attach_borrower(region.mapping(), &params).unwrap();
//!
//! owner.send(pool.buffer(3, 0, 2048).unwrap()).unwrap();
//! if owner.publish() == Notify::Signal { /* signal the borrower's notification */ }
//! let lent = borrower.receive().unwrap().unwrap();
//! let _ = borrower.release();
//! borrower.send(pool.with_len(lent, 60).unwrap()).unwrap();
//! let _ = borrower.publish();
//! assert_eq!(owner.receive().unwrap().unwrap().len(), 60);
//! ```
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod error;
pub mod hostile;
pub mod layout;
pub mod memory;
pub mod pair;
pub mod pool;
pub mod signal;
pub mod spsc;

pub use error::{
    AttachError, AttachOrPeer, DescriptorFault, GeometryError, HeaderField, PeerMisbehaved,
    PushError, SendError, SharedIndex,
};
pub use layout::{RawDescriptor, RegionHeader, RingId, RingPairParams, REGION_ALIGN};
pub use memory::{ControlWord, RegionBuffer, RegionMapping, RingMemory, SharedRing};
pub use pair::{PairEnd, PairSetupError, Role};
pub use pool::{slot_set_words, Buffer, PoolGeometry, PoolMemory, SlotSet};
pub use signal::{Notify, Pressure, SignalPolicy, WaitDecision, Watermarks};
pub use spsc::{Consumer, Producer};
