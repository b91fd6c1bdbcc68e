//! The root-task kit: what only programs that run as the root task need.
//!
//! Components never see these: they get their capabilities from the caps
//! table and the runtime in `ward_userlib`. The root task (and the in-QEMU
//! test programs `ktest` and `hwtest`, which run as the root task) start
//! from the kernel's boot info and every capability of the machine:
//!
//! - [`bootinfo`]: the boot-info block, the fixed root slots, the untyped
//!   list and an allocator over the empty root slots;
//! - [`device_memory`]: device untyped carved into 4 KiB frames;
//! - [`pci`]: PCI configuration space over ECAM (BARs, capabilities, MSI);
//! - [`paging`]: mapping a frame and making the paging structures it needs.
#![cfg_attr(not(test), no_std)]

pub mod bootinfo;
pub mod device_memory;
pub mod paging;
pub mod pci;
