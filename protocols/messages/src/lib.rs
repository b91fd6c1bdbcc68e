//! Message formats between Ward components, and byte-stream adapters over
//! them.
//!
//! Every message is a `#[repr(C)]` zerocopy type with a fixed layout. Messages
//! travel in pool buffers named by [`ward_ring`] descriptors, or in IPC
//! message registers; either way a receiver first copies the bytes out of
//! shared memory and then decodes the copy, so the sender cannot change a
//! message after it has been checked. Decoding checks every field a peer
//! controls (kinds, enumerations, lengths, reserved words) and says what was
//! wrong with a [`ProtoError`] instead of trusting it.
//!
//! - [`counters`]: counter pages, how a component publishes statistics.
//! - [`driver`]: NIC driver ↔ network stack: rx/tx buffer hand-off status,
//!   link state, MAC address, statistics.
//! - [`socket`]: network stack ↔ application: a socket protocol for UDP and TCP.
//! - [`supervisor`]: fault reports and restart notices with generation numbers.
//! - [`stream`]: `embedded-io` `Read`/`Write` over the socket protocol (a TCP
//!   stream) and over a plain byte channel (a console).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod counters;
pub mod driver;
pub mod socket;
pub mod stream;
pub mod supervisor;
pub mod wire;

pub use wire::ProtoError;
