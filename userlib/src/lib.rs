//! The runtime and system-call layer for Ward user programs.
//!
//! A program needs no boilerplate beyond an entry function:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! ward_userlib::entry!(main);
//! fn main(argument: u64) { ward_userlib::println!("hello"); }
//! ```
//!
//! The runtime provides `_start` (stack alignment, then your entry), a panic
//! handler that reports the panic and ends the program, and console output.
//!
//! On top of the raw syscalls ([`syscall`]) sit typed capabilities and
//! their invocations ([`cap`]: `Cap<Endpoint>`, `tcb.tcb_resume()`,
//! `untyped.untyped_retype(..)`), errors that explain themselves
//! ([`error`]), the IPC buffer ([`ipc_buffer`]), message helpers
//! ([`message`]) and fault messages ([`fault`]).
//!
//! Components use the kit (docs/components.md): the types of their
//! generated caps table ([`spec`]), the runtime's waits, heartbeats and
//! events ([`component`]), time ([`time`]), device registers ([`mmio`]),
//! memory a device reaches by DMA ([`dma`]), ring channels ([`ring`]),
//! shared regions ([`region`]) and the kernel's statistics ([`kstats`]). What only the root task needs lives in
//! `ward-rootkit`.
//!
//! Invalid uses are compile errors where the types allow:
//!
//! ```compile_fail
//! use ward_userlib::cap::Endpoint;
//! let ep = Endpoint::from_cptr(5);
//! ep.tcb_resume(); // an endpoint is not a thread
//! ```
//!
//! ```compile_fail
//! use ward_userlib::cap::{Notification, Tcb};
//! let tcb = Tcb::from_cptr(5);
//! tcb.tcb_bind_notification(Tcb::from_cptr(6)); // wants a Cap<Notification>
//! ```
#![cfg_attr(not(test), no_std)]

pub mod cap;
pub mod component;
pub mod debug;
pub mod dma;
pub mod error;
pub mod fault;
pub mod hardware;
pub mod ipc_buffer;
pub mod kstats;
pub mod message;
pub mod mmio;
pub mod region;
pub mod ring;
pub mod runtime;
pub mod spec;
pub mod syscall;
pub mod text_channel;
pub mod time;

pub use cap::{cap_type, Cap, CapRights, ObjectType};
pub use error::{Error, InvocationError};
pub use ward_abi as abi;
