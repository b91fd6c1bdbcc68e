//! The boot-info pages the kernel hands the root task.
//!
//! The kernel fills one [`BootInfo`] and maps it read-only at
//! [`crate::layout::ROOT_BOOTINFO_VADDR`]; the root task's entry point also
//! receives its address in `rdi`. It lists the untyped memory regions the
//! root task is given (as seL4 gives them: power-of-two sized, naturally
//! aligned), the boot modules, and the command lines.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// "WARDBOOT" in little-endian ASCII.
pub const BOOTINFO_MAGIC: u64 = u64::from_le_bytes(*b"WARDBOOT");
/// Bumped whenever the layout below changes.
pub const BOOTINFO_VERSION: u32 = 3;

/// Most untyped regions one boot can describe. seL4 uses a similar bound
/// (CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS = 230); a fragmented memory map that
/// needs more loses its smallest pieces, and the kernel says so on the console.
pub const MAX_UNTYPED: usize = 256;
/// Most boot modules: the root task, the compiled system spec and one ELF per
/// program, with room to spare.
pub const MAX_MODULES: usize = 32;
/// Longest module name (its multiboot command line) kept, in bytes.
pub const MODULE_NAME_LEN: usize = 64;
/// Longest command line kept, in bytes.
pub const CMDLINE_LEN: usize = 256;

/// Smallest untyped the kernel hands out: 16 bytes, as in seL4.
pub const MIN_UNTYPED_BITS: u8 = 4;
/// Largest untyped the kernel hands out (seL4 on x86_64 uses 47).
pub const MAX_UNTYPED_BITS: u8 = 47;

/// A half-open range of capability slots in the root task's CNode.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct SlotRegion {
    pub start: u64,
    pub end: u64,
}

/// One untyped memory region given to the root task.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct UntypedDesc {
    /// Physical base address; a multiple of `1 << size_bits`.
    pub paddr: u64,
    /// The region is `1 << size_bits` bytes.
    pub size_bits: u8,
    /// 1 for device memory (can only become frames), 0 for RAM.
    pub is_device: u8,
    pub _reserved: [u8; 6],
}

impl UntypedDesc {
    /// Size of the region in bytes.
    pub fn size(&self) -> u64 {
        1u64 << self.size_bits
    }
}

/// One boot module (a file QEMU loaded next to the kernel).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ModuleDesc {
    /// Physical address of the module's first byte (page-aligned).
    pub paddr: u64,
    /// Length in bytes.
    pub len: u64,
    /// Where the module is mapped read-only in the root task (0 if not).
    pub vaddr: u64,
    /// Length of `name` in use.
    pub name_len: u64,
    /// The module's command line (its file name and arguments), UTF-8.
    pub name: [u8; MODULE_NAME_LEN],
}

impl ModuleDesc {
    /// The module's command line, or "" if it is not valid UTF-8.
    pub fn name(&self) -> &str {
        let len = (self.name_len as usize).min(MODULE_NAME_LEN);
        core::str::from_utf8(&self.name[..len]).unwrap_or("")
    }
}

/// The boot-info block. Lives in the first pages at `ROOT_BOOTINFO_VADDR`.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BootInfo {
    pub magic: u64,
    pub version: u32,
    /// Number of valid entries in `untyped`.
    pub untyped_count: u32,
    /// Number of valid entries in `modules`.
    pub module_count: u32,
    /// Length of `kernel_cmdline` in use.
    pub kernel_cmdline_len: u32,
    /// Length of `root_cmdline` in use.
    pub root_cmdline_len: u32,
    pub _reserved: u32,
    /// Total bytes of RAM handed out as untyped.
    pub untyped_ram_bytes: u64,
    /// Free slots in the root CNode, for the root task to use.
    pub empty_slots: SlotRegion,
    /// Slots holding the untyped capabilities, in the order of `untyped`.
    pub untyped_slots: SlotRegion,
    /// Slots holding read-only frame capabilities to the modules.
    pub module_slots: SlotRegion,
    pub kernel_cmdline: [u8; CMDLINE_LEN],
    /// The root task's own arguments (its module command line after the file name).
    pub root_cmdline: [u8; CMDLINE_LEN],
    pub untyped: [UntypedDesc; MAX_UNTYPED],
    pub modules: [ModuleDesc; MAX_MODULES],
    /// What the kernel found in the firmware tables.
    pub platform: PlatformInfo,
}

/// Platform facts the root task needs to find and drive devices.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct PlatformInfo {
    /// Physical base of the PCI configuration space (ECAM) for segment 0, or 0.
    pub ecam_base: u64,
    /// Bus range the ECAM window covers.
    pub ecam_start_bus: u8,
    pub ecam_end_bus: u8,
    /// 1 when VT-d DMA remapping is on (the master IOSpace cap is in its slot).
    pub iommu: u8,
    /// Number of IOAPIC lines IRQControl can hand out.
    pub ioapic_lines: u8,
    /// 1 when VT-d interrupt remapping is on (MSI handlers can be had).
    pub interrupt_remapping: u8,
    /// Cores the kernel runs on (`tcb_set_affinity` takes 0..cpus).
    pub cpus: u8,
    pub _reserved: [u8; 2],
    /// TSC ticks per second, calibrated against the PIT at boot. User code
    /// reads the TSC directly (`rdtsc` is allowed in user mode).
    pub tsc_hz: u64,
}

/// Pages the kernel reserves for the boot-info block.
pub const BOOTINFO_PAGES: usize = core::mem::size_of::<BootInfo>().div_ceil(4096);

impl BootInfo {
    /// The valid untyped descriptors.
    pub fn untyped(&self) -> &[UntypedDesc] {
        &self.untyped[..(self.untyped_count as usize).min(MAX_UNTYPED)]
    }

    /// The valid module descriptors.
    pub fn modules(&self) -> &[ModuleDesc] {
        &self.modules[..(self.module_count as usize).min(MAX_MODULES)]
    }

    /// The kernel's command line, or "" if it is not valid UTF-8.
    pub fn kernel_cmdline(&self) -> &str {
        let len = (self.kernel_cmdline_len as usize).min(CMDLINE_LEN);
        core::str::from_utf8(&self.kernel_cmdline[..len]).unwrap_or("")
    }

    /// The root task's arguments, or "" if they are not valid UTF-8.
    pub fn root_cmdline(&self) -> &str {
        let len = (self.root_cmdline_len as usize).min(CMDLINE_LEN);
        core::str::from_utf8(&self.root_cmdline[..len]).unwrap_or("")
    }

    /// Whether the magic and version match this crate's.
    pub fn is_valid(&self) -> bool {
        self.magic == BOOTINFO_MAGIC && self.version == BOOTINFO_VERSION
    }
}

/// Copies `text` into a fixed buffer, cutting it at a character boundary if
/// it is too long; returns the number of bytes kept.
pub fn fill_text(buffer: &mut [u8], text: &str) -> usize {
    let mut len = text.len().min(buffer.len());
    while !text.is_char_boundary(len) {
        len -= 1;
    }
    buffer[..len].copy_from_slice(&text.as_bytes()[..len]);
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootinfo_fits_its_pages() {
        assert!(BOOTINFO_PAGES >= 1 && BOOTINFO_PAGES <= 4);
    }

    #[test]
    fn fill_text_cuts_at_char_boundary() {
        let mut buf = [0u8; 4];
        assert_eq!(fill_text(&mut buf, "abé"), 4);
        assert_eq!(fill_text(&mut buf, "abcé"), 3);
        assert_eq!(&buf[..3], b"abc");
    }
}

/// Fixed slots of the root task's CNode.
///
/// The root CNode has `2^ROOT_CNODE_BITS` slots and a guard that makes a
/// slot's CPtr simply its index (looked up with depth 64). Slots from
/// [`slots::FIRST_FREE`] on hold what [`BootInfo`]'s slot regions describe:
/// untyped capabilities, module frames, then empty slots.
pub mod slots {
    /// log2 of the root CNode's slot count (4096 slots).
    pub const ROOT_CNODE_BITS: u32 = 12;
    /// Always empty: a CPtr of 0 names nothing.
    pub const NULL: u64 = 0;
    /// The root task's own TCB.
    pub const ROOT_TCB: u64 = 1;
    /// The root CNode itself.
    pub const ROOT_CNODE: u64 = 2;
    /// The root task's VSpace (its PML4).
    pub const ROOT_VSPACE: u64 = 3;
    /// Makes IRQHandler capabilities (IOAPIC pins and MSI).
    pub const IRQ_CONTROL: u64 = 4;
    /// Issues IO-port range capabilities.
    pub const IO_PORT_CONTROL: u64 = 5;
    /// The master IOSpace capability (VT-d), from which per-device IOSpaces are minted.
    pub const IO_SPACE_CONTROL: u64 = 6;
    /// The frame holding the root task's IPC buffer.
    pub const ROOT_IPC_BUFFER: u64 = 7;
    /// A read-only, unmapped frame capability to the kernel's statistics
    /// page ([`crate::kstats::KernelStatistics`]).
    pub const KERNEL_STATISTICS: u64 = 8;
    /// First slot described by the boot info's slot regions.
    pub const FIRST_FREE: u64 = 16;
}
