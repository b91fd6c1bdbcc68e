//! Kernel logic that needs no hardware, kept apart so it runs under
//! `cargo test` on the host: checking a user ELF image before it is loaded,
//! turning the firmware memory map into the root task's untyped regions, and
//! reading the kernel command line, and platform discovery from ACPI tables.
//!
//! Everything here treats its input as an allegation: a boot module may be
//! truncated or hostile, a memory map may overlap itself. Bad input becomes an
//! error value with a message, never a panic.
#![no_std]
#![forbid(unsafe_code)]

pub mod acpi;
pub mod cmdline;
pub mod elf_image;
pub mod io_page_table;
pub mod phys_memory;
