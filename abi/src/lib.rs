//! The contract between the Ward kernel and user programs.
//!
//! Everything here is plain data: syscall numbers and the register
//! convention, error codes, the boot-info page handed to the root task, and
//! the fixed points of a user address space. Kernel and user code both depend
//! on this crate, so a number defined here can never disagree between them.
#![no_std]
#![forbid(unsafe_code)]

pub mod bootinfo;
pub mod cap_kind;
pub mod error;
pub mod fault;
pub mod invocation;
pub mod kstats;
pub mod layout;
pub mod lookup;
pub mod message;
pub mod object;
pub mod rights;
pub mod syscall;

pub use error::Error;
pub use syscall::Syscall;
