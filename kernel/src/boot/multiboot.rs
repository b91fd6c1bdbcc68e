//! Reading the multiboot information: memory map, modules, command line.
//!
//! The information block and everything it points to are copied into
//! [`BootData`] at once, so that nothing later depends on loader memory
//! (which is not reserved and becomes untyped memory). Pointers in the block
//! are checked to lie inside the physical map before they are followed.
use crate::arch::x86_64::paging::{phys_slice, phys_to_virt};
use heapless::{String, Vec};
use ward_abi::bootinfo::{CMDLINE_LEN, MAX_MODULES};
use ward_kernel_config::MAX_PHYS_MEMORY;
use ward_kernel_core::phys_memory::PhysRange;

/// Value of `eax` when a multiboot (version 1) loader starts the kernel.
pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;

const FLAG_CMDLINE: u32 = 1 << 2;
const FLAG_MODULES: u32 = 1 << 3;
const FLAG_MEMORY_MAP: u32 = 1 << 6;
/// Memory-map entry type for usable RAM.
const MEMORY_AVAILABLE: u32 = 1;
/// Most RAM ranges kept from the memory map (PCs report a handful).
const MAX_RAM_RANGES: usize = 32;

/// One boot module: a file the loader placed in memory.
pub struct Module {
    pub start: u64,
    pub end: u64,
    /// Its command line: the file name and arguments (the root task's
    /// arguments come from here, so it holds as much as a command line).
    pub cmdline: String<CMDLINE_LEN>,
}

/// What the loader told us, copied out of loader memory.
pub struct BootData {
    pub ram: Vec<PhysRange, MAX_RAM_RANGES>,
    pub modules: Vec<Module, MAX_MODULES>,
    pub cmdline: String<CMDLINE_LEN>,
    /// RAM ranges (or modules) that did not fit the tables above.
    pub ignored_entries: usize,
}

/// Why the information block could not be used.
#[derive(Debug)]
pub enum BootDataError {
    WrongMagic(u32),
    NoMemoryMap,
    OutOfRange(u64),
}

impl core::fmt::Display for BootDataError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BootDataError::WrongMagic(magic) => {
                write!(f, "not started by a multiboot loader (eax = {magic:#x}, expected {BOOTLOADER_MAGIC:#x})")
            }
            BootDataError::NoMemoryMap => write!(f, "the boot loader gave no memory map"),
            BootDataError::OutOfRange(address) => {
                write!(
                    f,
                    "boot information points outside physical memory ({address:#x})"
                )
            }
        }
    }
}

fn read_u32(paddr: u64) -> Result<u32, BootDataError> {
    if paddr + 4 > MAX_PHYS_MEMORY {
        return Err(BootDataError::OutOfRange(paddr));
    }
    // SAFETY: the address is inside the physical map (checked above); the
    // loader's block is plain memory, read without alignment assumptions.
    Ok(unsafe { core::ptr::read_unaligned(phys_to_virt(paddr) as *const u32) })
}

fn read_u64(paddr: u64) -> Result<u64, BootDataError> {
    Ok(u64::from(read_u32(paddr)?) | (u64::from(read_u32(paddr + 4)?) << 32))
}

/// Copies a NUL-terminated string of at most `N` bytes (cut at a character
/// boundary; invalid UTF-8 is replaced by `?`).
fn read_string<const N: usize>(paddr: u64) -> Result<String<N>, BootDataError> {
    let mut out = String::new();
    if paddr == 0 {
        return Ok(out);
    }
    if paddr + N as u64 > MAX_PHYS_MEMORY {
        return Err(BootDataError::OutOfRange(paddr));
    }
    // SAFETY: the range is inside the physical map (checked above) and only read.
    let bytes = unsafe { phys_slice(paddr, N) };
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(N);
    for &b in &bytes[..len] {
        let c = if b.is_ascii() { b as char } else { '?' };
        if out.push(c).is_err() {
            break;
        }
    }
    Ok(out)
}

/// Reads the information block at `info` (physical).
pub fn read(magic: u32, info: u64) -> Result<BootData, BootDataError> {
    if magic != BOOTLOADER_MAGIC {
        return Err(BootDataError::WrongMagic(magic));
    }
    let flags = read_u32(info)?;
    let mut data = BootData {
        ram: Vec::new(),
        modules: Vec::new(),
        cmdline: String::new(),
        ignored_entries: 0,
    };

    if flags & FLAG_CMDLINE != 0 {
        data.cmdline = read_string(u64::from(read_u32(info + 16)?))?;
    }

    if flags & FLAG_MEMORY_MAP == 0 {
        return Err(BootDataError::NoMemoryMap);
    }
    let map_length = u64::from(read_u32(info + 44)?);
    let map_start = u64::from(read_u32(info + 48)?);
    let mut entry = map_start;
    while entry + 24 <= map_start + map_length {
        let size = u64::from(read_u32(entry)?);
        let base = read_u64(entry + 4)?;
        let length = read_u64(entry + 12)?;
        let kind = read_u32(entry + 20)?;
        if kind == MEMORY_AVAILABLE && length > 0 {
            let range = PhysRange::new(base, base.saturating_add(length));
            if data.ram.push(range).is_err() {
                data.ignored_entries += 1;
            }
        }
        // `size` does not count itself; a zero size would loop forever.
        entry += size.max(20) + 4;
    }

    if flags & FLAG_MODULES != 0 {
        let count = u64::from(read_u32(info + 20)?);
        let table = u64::from(read_u32(info + 24)?);
        for index in 0..count {
            let record = table + index * 16;
            let module = Module {
                start: u64::from(read_u32(record)?),
                end: u64::from(read_u32(record + 4)?),
                cmdline: read_string(u64::from(read_u32(record + 8)?))?,
            };
            if module.end < module.start || module.end > MAX_PHYS_MEMORY {
                return Err(BootDataError::OutOfRange(module.end));
            }
            if data.modules.push(module).is_err() {
                data.ignored_entries += 1;
            }
        }
    }
    Ok(data)
}
