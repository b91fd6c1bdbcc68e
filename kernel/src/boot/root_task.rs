//! Building the root task: the first and only thread the kernel creates by
//! itself.
//!
//! The root task's ELF is the first boot module. After checking it
//! (`ward_kernel_core::elf_image`), the kernel builds a fresh address space:
//! each segment copied into new frames with its own rights (W^X, NX), a stack
//! with an unmapped guard page below it, an IPC buffer, the boot-info pages
//! (read-only) and every boot module (read-only). All of this memory comes
//! from the boot allocator before the rest of RAM becomes untyped, so the
//! root task's untyped regions never overlap its own pages.
use crate::arch::x86_64::paging::{self, MapError, UserAccess, PAGE_SIZE};
use crate::boot::multiboot::BootData;
use heapless::Vec;
use ward_abi::bootinfo::{BOOTINFO_PAGES, MAX_MODULES};
use ward_abi::layout::{
    ROOT_BOOTINFO_VADDR, ROOT_IPC_BUFFER_VADDR, ROOT_MODULES_VADDR, ROOT_STACK_SIZE, ROOT_STACK_TOP,
};
use ward_kernel_core::elf_image::{ElfError, SegmentAccess, UserImage};
use ward_kernel_core::phys_memory::PhysMemory;

/// The root task, ready to run.
pub struct RootTask {
    /// Physical address of its PML4.
    pub address_space: u64,
    pub entry: u64,
    /// Physical address of the (contiguous) boot-info pages.
    pub bootinfo: u64,
    /// Where each boot module is mapped, in module order.
    pub module_vaddrs: Vec<u64, MAX_MODULES>,
}

/// Why the root task could not be built.
pub enum RootTaskError {
    /// No boot module at all.
    NoModule,
    /// The first module is not an acceptable ELF image.
    BadImage(ElfError),
    /// Memory ran out while building it.
    OutOfMemory,
    /// A mapping failed (overlapping fixed regions, for instance).
    Map(u64, MapError),
}

impl core::fmt::Display for RootTaskError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RootTaskError::NoModule => {
                write!(f, "no boot modules; the first multiboot module must be the root task's ELF file")
            }
            RootTaskError::BadImage(error) => write!(f, "{error}"),
            RootTaskError::OutOfMemory => write!(f, "out of memory while building it"),
            RootTaskError::Map(vaddr, error) => write!(f, "cannot map {vaddr:#x}: {error:?}"),
        }
    }
}

/// Hands out zeroed pages from the boot allocator.
fn allocate_page(memory: &mut PhysMemory) -> Option<u64> {
    let page = memory.allocate(PAGE_SIZE, PAGE_SIZE)?;
    paging::zero_page(page);
    Some(page)
}

fn map(memory: &mut PhysMemory, space: u64, vaddr: u64, frame: u64, access: UserAccess) -> Result<(), RootTaskError> {
    paging::map_user_page(space, vaddr, frame, access, &mut || allocate_page(memory)).map_err(|e| match e {
        MapError::OutOfMemory => RootTaskError::OutOfMemory,
        other => RootTaskError::Map(vaddr, other),
    })
}

const READ_ONLY: UserAccess = UserAccess { write: false, execute: false };
const READ_WRITE: UserAccess = UserAccess { write: true, execute: false };

/// Builds the root task from the first boot module.
pub fn build(boot: &BootData, memory: &mut PhysMemory) -> Result<RootTask, RootTaskError> {
    let module = boot.modules.first().ok_or(RootTaskError::NoModule)?;
    // SAFETY: the module's memory was reserved before any allocation, so
    // nothing writes it while we read.
    let file = unsafe { paging::phys_slice(module.start, (module.end - module.start) as usize) };
    let image = UserImage::parse(file).map_err(RootTaskError::BadImage)?;

    let space_root = allocate_page(memory).ok_or(RootTaskError::OutOfMemory)?;
    let space = paging::new_user_address_space(space_root);

    for segment in &image.segments {
        let SegmentAccess { write, execute } = segment.access;
        let access = UserAccess { write, execute };
        let mut page = segment.page_start();
        while page < segment.page_end() {
            let frame = allocate_page(memory).ok_or(RootTaskError::OutOfMemory)?;
            // The part of the file-backed bytes that falls in this page.
            let from = page.max(segment.vaddr);
            let to = (page + PAGE_SIZE).min(segment.vaddr + segment.file_len);
            if from < to {
                let offset = (segment.file_offset + (from - segment.vaddr)) as usize;
                paging::copy_to_phys(frame + (from - page), &file[offset..offset + (to - from) as usize]);
            }
            map(memory, space, page, frame, access)?;
            page += PAGE_SIZE;
        }
    }

    // The stack; the page below it stays unmapped as a guard.
    let mut page = ROOT_STACK_TOP - ROOT_STACK_SIZE;
    while page < ROOT_STACK_TOP {
        let frame = allocate_page(memory).ok_or(RootTaskError::OutOfMemory)?;
        map(memory, space, page, frame, READ_WRITE)?;
        page += PAGE_SIZE;
    }

    let ipc_buffer = allocate_page(memory).ok_or(RootTaskError::OutOfMemory)?;
    map(memory, space, ROOT_IPC_BUFFER_VADDR, ipc_buffer, READ_WRITE)?;

    let bootinfo_bytes = BOOTINFO_PAGES as u64 * PAGE_SIZE;
    let bootinfo = memory.allocate(bootinfo_bytes, PAGE_SIZE).ok_or(RootTaskError::OutOfMemory)?;
    for index in 0..BOOTINFO_PAGES as u64 {
        paging::zero_page(bootinfo + index * PAGE_SIZE);
        map(memory, space, ROOT_BOOTINFO_VADDR + index * PAGE_SIZE, bootinfo + index * PAGE_SIZE, READ_ONLY)?;
    }

    // Every module, read-only, one after another with a guard page between.
    let mut module_vaddrs = Vec::new();
    let mut cursor = ROOT_MODULES_VADDR;
    for module in &boot.modules {
        let first_page = module.start & !(PAGE_SIZE - 1);
        let last_page = module.end.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let _ = module_vaddrs.push(cursor + (module.start - first_page));
        let mut frame = first_page;
        while frame < last_page {
            map(memory, space, cursor, frame, READ_ONLY)?;
            cursor += PAGE_SIZE;
            frame += PAGE_SIZE;
        }
        cursor += PAGE_SIZE;
    }

    Ok(RootTask { address_space: space, entry: image.entry, bootinfo, module_vaddrs })
}
