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
//! Typed capabilities (`Cap<Endpoint>` and their invocations) join as the
//! kernel's object model lands.
#![no_std]

pub mod debug;
pub mod runtime;
pub mod syscall;

pub use ward_abi as abi;
