//! Page tables: the kernel's own address space and user address spaces.
//!
//! The upper half of every address space belongs to the kernel and is mapped
//! supervisor-only (U/S clear), global, and — except for kernel text —
//! non-executable:
//! - `PHYSMAP_BASE` + p: all physical memory up to `MAX_PHYS_MEMORY`, in
//!   2 MiB pages (the 3–4 GiB hole, where PCI devices and the APICs live, is
//!   uncached); the kernel reaches every object and user page through it;
//! - `KERNEL_VMA` + p: the kernel image, in 4 KiB pages with per-section
//!   rights (text RX, rodata R, data and bss RW), the stack guards (core
//!   0's and each application processor's) unmapped.
//!
//! A user address space is a PML4 whose upper half entries are copies of the
//! kernel's, so the kernel stays mapped across a switch but user code can
//! never touch it: the CPU refuses user-mode access to supervisor pages, and
//! SMEP/SMAP (when present) stop the kernel from running or reading user
//! pages by accident.
use super::cpu;
use spin::Mutex;
use ward_kernel_config::MAX_PHYS_MEMORY;

pub const PAGE_SIZE: u64 = 4096;
pub const KERNEL_VMA: u64 = 0xffff_ffff_8000_0000;
pub const PHYSMAP_BASE: u64 = 0xffff_8000_0000_0000;

pub const PRESENT: u64 = 1 << 0;
pub const WRITABLE: u64 = 1 << 1;
pub const USER: u64 = 1 << 2;
pub const WRITE_THROUGH: u64 = 1 << 3;
pub const CACHE_DISABLE: u64 = 1 << 4;
pub const HUGE: u64 = 1 << 7;
const GLOBAL: u64 = 1 << 8;
pub const NO_EXECUTE: u64 = 1 << 63;
pub const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

const GIB: u64 = 1 << 30;
const PHYSMAP_GIBS: usize = (MAX_PHYS_MEMORY / GIB) as usize;
/// The kernel image may span this many 2 MiB page tables (16 MiB in all,
/// several times the image's size with its BSS).
const IMAGE_PAGE_TABLES: usize = 8;
/// PML4 slots of the kernel half: the physical map and the kernel image.
const PML4_PHYSMAP: usize = 256;
const PML4_IMAGE: usize = 511;

#[repr(C, align(4096))]
#[derive(Clone, Copy)]
pub struct PageTable(pub [u64; 512]);

const EMPTY_TABLE: PageTable = PageTable([0; 512]);

struct KernelTables {
    pml4: PageTable,
    physmap_pdpt: PageTable,
    physmap_pds: [PageTable; PHYSMAP_GIBS],
    image_pdpt: PageTable,
    image_pd: PageTable,
    image_pts: [PageTable; IMAGE_PAGE_TABLES],
}

static KERNEL_TABLES: Mutex<KernelTables> = Mutex::new(KernelTables {
    pml4: EMPTY_TABLE,
    physmap_pdpt: EMPTY_TABLE,
    physmap_pds: [EMPTY_TABLE; PHYSMAP_GIBS],
    image_pdpt: EMPTY_TABLE,
    image_pd: EMPTY_TABLE,
    image_pts: [EMPTY_TABLE; IMAGE_PAGE_TABLES],
});

extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __kstack_guard: u8;
    static __kstack_bottom: u8;
    static __kernel_end: u8;
}

fn symbol_address(symbol: &u8) -> u64 {
    symbol as *const u8 as u64
}

/// Physical address of a kernel-image object (statics, the kernel stack).
pub fn kernel_image_phys(vaddr: u64) -> u64 {
    vaddr - KERNEL_VMA
}

/// Physical range `[start, end)` of the loaded kernel image, BSS included.
pub fn kernel_image_range() -> (u64, u64) {
    // SAFETY: only the linker symbols' addresses are taken.
    let (start, end) = unsafe {
        (
            symbol_address(&__kernel_start),
            symbol_address(&__kernel_end),
        )
    };
    (kernel_image_phys(start), kernel_image_phys(end))
}

/// Kernel-virtual pointer to physical address `paddr` (through the physical map).
pub fn phys_to_virt(paddr: u64) -> *mut u8 {
    debug_assert!(paddr < MAX_PHYS_MEMORY);
    (PHYSMAP_BASE + paddr) as *mut u8
}

/// Builds the kernel's page tables and switches to them; enables global
/// pages and, where the CPU has them, SMEP and SMAP.
pub fn init_kernel_address_space() {
    let mut guard = KERNEL_TABLES.lock();
    let tables = &mut *guard;
    let table_phys = |t: &PageTable| kernel_image_phys(t as *const PageTable as u64);

    // The physical map, 2 MiB pages; uncached over the 3–4 GiB device hole.
    for (gib, pd) in tables.physmap_pds.iter_mut().enumerate() {
        for (index, entry) in pd.0.iter_mut().enumerate() {
            let paddr = gib as u64 * GIB + index as u64 * (2 << 20);
            let cache = if (3 * GIB..4 * GIB).contains(&paddr) {
                CACHE_DISABLE | WRITE_THROUGH
            } else {
                0
            };
            *entry = paddr | PRESENT | WRITABLE | HUGE | GLOBAL | NO_EXECUTE | cache;
        }
    }
    for gib in 0..PHYSMAP_GIBS {
        tables.physmap_pdpt.0[gib] = table_phys(&tables.physmap_pds[gib]) | PRESENT | WRITABLE;
    }

    // The kernel image, 4 KiB pages, rights per section.
    // SAFETY: only the linker symbols' addresses are taken.
    let (start, text_end, rodata_end, guard_page, guard_end, end) = unsafe {
        (
            symbol_address(&__kernel_start),
            symbol_address(&__text_end),
            symbol_address(&__rodata_end),
            symbol_address(&__kstack_guard),
            symbol_address(&__kstack_bottom),
            symbol_address(&__kernel_end),
        )
    };
    let image_base = KERNEL_VMA + ((start - KERNEL_VMA) & !((2 << 20) - 1));
    let mut vaddr = start;
    while vaddr < end {
        let page_index = ((vaddr - image_base) / PAGE_SIZE) as usize;
        let (table, slot) = (page_index / 512, page_index % 512);
        assert!(
            table < IMAGE_PAGE_TABLES,
            "kernel image larger than its page tables"
        );
        let rights = if vaddr < text_end {
            0 // read + execute
        } else if vaddr < rodata_end {
            NO_EXECUTE
        } else {
            WRITABLE | NO_EXECUTE
        };
        let present =
            if (guard_page..guard_end).contains(&vaddr) || crate::smp::is_stack_guard(vaddr) {
                0
            } else {
                PRESENT
            };
        tables.image_pts[table].0[slot] = kernel_image_phys(vaddr) | present | GLOBAL | rights;
        vaddr += PAGE_SIZE;
    }
    let first_pd_slot = ((image_base - KERNEL_VMA) >> 21) as usize;
    for table in 0..IMAGE_PAGE_TABLES {
        tables.image_pd.0[first_pd_slot + table] =
            table_phys(&tables.image_pts[table]) | PRESENT | WRITABLE;
    }
    tables.image_pdpt.0[510] = table_phys(&tables.image_pd) | PRESENT | WRITABLE;

    tables.pml4.0[PML4_PHYSMAP] = table_phys(&tables.physmap_pdpt) | PRESENT | WRITABLE;
    tables.pml4.0[PML4_IMAGE] = table_phys(&tables.image_pdpt) | PRESENT | WRITABLE;
    let pml4 = table_phys(&tables.pml4);
    drop(guard);

    // SAFETY: the new tables map the kernel image (where this code runs), its
    // stack and statics at the same virtual addresses as the boot tables did.
    unsafe { cpu::write_cr3(pml4) };
    enable_cpu_features();
}

/// Enables global pages and, where the CPU has them, SMEP and SMAP on this
/// core (every core runs this once, on the kernel's tables).
pub fn enable_cpu_features() {
    let (_, features, _, _) = cpu::cpuid(7, 0);
    let mut cr4 = cpu::CR4_PGE;
    if features & (1 << 7) != 0 {
        cr4 |= cpu::CR4_SMEP;
    }
    if features & (1 << 20) != 0 {
        cr4 |= cpu::CR4_SMAP;
    }
    // SAFETY: the bits are supported (CPUID above); the kernel reaches user
    // memory only through the physical map, so SMEP and SMAP break nothing.
    unsafe { cpu::set_cr4_bits(cr4) };
}

/// Page rights of a user mapping. Readable is implied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserAccess {
    pub write: bool,
    pub execute: bool,
}

/// Why a user mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The address is not a page-aligned user-space address.
    BadAddress,
    /// Something is already mapped there.
    AlreadyMapped,
    /// No memory for an intermediate page table.
    OutOfMemory,
}

fn table_at(paddr: u64) -> *mut [u64; 512] {
    phys_to_virt(paddr) as *mut [u64; 512]
}

/// Makes a new user address space: a zeroed PML4 (from `page`, a free
/// zeroed physical page) that shares the kernel's upper half.
pub fn new_user_address_space(page: u64) -> u64 {
    share_kernel_half(page);
    page
}

/// Installs the kernel's upper-half entries in the PML4 at `pml4` (a page
/// the kernel owns as a PML4 object). Idempotent.
pub fn share_kernel_half(pml4: u64) {
    let tables = KERNEL_TABLES.lock();
    // SAFETY: `pml4` is a PML4 object: a page of 512 entries that only the
    // kernel writes; the upper-half slots are the kernel's by construction.
    let entries = unsafe { &mut *table_at(pml4) };
    entries[PML4_PHYSMAP] = tables.pml4.0[PML4_PHYSMAP];
    entries[PML4_IMAGE] = tables.pml4.0[PML4_IMAGE];
}

/// The kernel's own PML4 (physical), for when no user address space is loaded.
pub fn kernel_pml4() -> u64 {
    let tables = KERNEL_TABLES.lock();
    kernel_image_phys(&tables.pml4 as *const PageTable as u64)
}

/// Drops the TLB entry for `vaddr` in the current address space.
pub fn invalidate_page(vaddr: u64) {
    // SAFETY: invlpg only discards a cached translation.
    unsafe { core::arch::asm!("invlpg [{}]", in(reg) vaddr, options(nostack, preserves_flags)) }
}

fn index_at(vaddr: u64, level: u32) -> usize {
    ((vaddr >> (12 + 9 * level)) & 0x1ff) as usize
}

/// Maps the 4 KiB page at `vaddr` to `paddr` in the user address space
/// rooted at `pml4`. Missing intermediate tables come from `allocate_table`
/// (which returns zeroed pages).
pub fn map_user_page(
    pml4: u64,
    vaddr: u64,
    paddr: u64,
    access: UserAccess,
    allocate_table: &mut dyn FnMut() -> Option<u64>,
) -> Result<(), MapError> {
    if !vaddr.is_multiple_of(PAGE_SIZE) || !ward_abi::layout::is_user_range(vaddr, PAGE_SIZE) {
        return Err(MapError::BadAddress);
    }
    let mut table = pml4;
    for level in (1..=3).rev() {
        // SAFETY: `table` is a page-table page of this user address space:
        // the root, or a table this function installed from `allocate_table`.
        let entries = unsafe { &mut *table_at(table) };
        let entry = &mut entries[index_at(vaddr, level)];
        if *entry & PRESENT == 0 {
            let new_table = allocate_table().ok_or(MapError::OutOfMemory)?;
            *entry = new_table | PRESENT | WRITABLE | USER;
        } else if *entry & HUGE != 0 {
            return Err(MapError::AlreadyMapped);
        }
        table = *entry & ADDRESS_MASK;
    }
    // SAFETY: as above; `table` is now the page table for `vaddr`.
    let entries = unsafe { &mut *table_at(table) };
    let entry = &mut entries[index_at(vaddr, 0)];
    if *entry & PRESENT != 0 {
        return Err(MapError::AlreadyMapped);
    }
    let mut flags = PRESENT | USER;
    if access.write {
        flags |= WRITABLE;
    }
    if !access.execute {
        flags |= NO_EXECUTE;
    }
    *entry = paddr | flags;
    Ok(())
}

/// The physical address behind user address `vaddr`, if a user-accessible
/// page is mapped there (and writable, when `write` is asked).
pub fn translate_user(pml4: u64, vaddr: u64, write: bool) -> Option<u64> {
    if !ward_abi::layout::is_user_range(vaddr, 1) {
        return None;
    }
    let mut table = pml4;
    for level in (0..=3).rev() {
        // SAFETY: `table` is a page-table page reached from a user PML4 the
        // kernel built; entries are only read.
        let entry = unsafe { (*table_at(table))[index_at(vaddr, level)] };
        if entry & PRESENT == 0 || entry & USER == 0 || (write && entry & WRITABLE == 0) {
            return None;
        }
        if level == 0 {
            return Some((entry & ADDRESS_MASK) | (vaddr & (PAGE_SIZE - 1)));
        }
        if entry & HUGE != 0 {
            return None; // user mappings are 4 KiB pages for now
        }
        table = entry & ADDRESS_MASK;
    }
    None
}

/// Fills a physical page with zeros.
pub fn zero_page(paddr: u64) {
    // SAFETY: callers pass pages they own (fresh from the boot allocator).
    unsafe { core::ptr::write_bytes(phys_to_virt(paddr), 0, PAGE_SIZE as usize) }
}

/// Copies `bytes` to physical memory at `paddr`.
pub fn copy_to_phys(paddr: u64, bytes: &[u8]) {
    // SAFETY: callers pass memory they own, large enough for `bytes`; the
    // source is kernel memory and cannot overlap a freshly allocated page.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), phys_to_virt(paddr), bytes.len()) }
}

/// A read-only view of physical memory `[paddr, paddr + len)`.
///
/// # Safety
/// The range must be RAM below `MAX_PHYS_MEMORY` that nothing writes while
/// the slice lives (e.g. a boot module the kernel reserved).
pub unsafe fn phys_slice<'a>(paddr: u64, len: usize) -> &'a [u8] {
    // SAFETY: upheld by the caller.
    unsafe { core::slice::from_raw_parts(phys_to_virt(paddr), len) }
}
