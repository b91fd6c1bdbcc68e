//! Ward's network stack, as a library: smoltcp over the NIC driver's ring
//! pairs, and the socket protocol served to applications over theirs.
//!
//! Everything here is plain `no_std` Rust over `ward-ring` types, with no
//! kernel calls, so the whole stack runs in host tests: two stacks exchange
//! frames through in-memory ring pairs, a test client speaks the socket
//! protocol, malformed frames are fed in. The component (`src/main.rs`)
//! only maps the memory, builds the pairs from its capability table, and
//! turns the stack's answers into doorbells and waits.
//!
//! - [`device`]: smoltcp's `Device` over the rx and tx pairs.
//! - [`events`]: the driver's control messages (MAC address, link).
//! - [`screen`]: every received frame checked and counted before smoltcp.
//! - [`counters`]: what is counted, by name.
//! - [`stack`]: the interface, the sockets, the sessions and one poll step.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod counters;
pub mod device;
pub mod events;
pub mod screen;
pub mod session;
pub mod stack;
