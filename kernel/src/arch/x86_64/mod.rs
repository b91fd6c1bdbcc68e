//! Everything specific to x86_64: port and MSR access, descriptor tables,
//! trap and syscall entry, paging, the local APIC timer, the legacy PIC.
pub mod apic;
pub mod cpu;
pub mod gdt;
pub mod idt;
pub mod io;
pub mod ioapic;
pub mod paging;
pub mod pic;
pub mod serial;
pub mod trap;
pub mod vtd;
