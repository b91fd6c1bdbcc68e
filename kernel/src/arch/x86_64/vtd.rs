//! Intel VT-d DMA remapping: the hardware that confines each device's DMA to
//! the memory its driver was given.
//!
//! At boot the kernel points the remapping unit at a root table whose
//! context entries are all absent and turns translation on: from then on a
//! device can reach no memory at all. A driver's IOSpace capability names
//! one requester (PCI bus:dev.fn) in one domain; mapping the first IO page
//! table into it fills in the requester's context entry, further tables and
//! frames fill in the domain's second-level page tables (`crate::iospace`).
//!
//! Faulting DMA is not just aborted: the unit raises its fault-event
//! interrupt, the kernel reads and clears the fault-recording registers and
//! hands each record (requester, IO address, read or write, reason) to the
//! IOSpace's fault notification.
//!
//! QEMU's model sets *caching mode*: the unit may cache not-present entries,
//! so every change — including not-present to present — is followed by an
//! invalidation. All invalidation here is register-based and global or
//! domain-selective, which is simple and correct for a single unit.
use super::paging::{phys_to_virt, zero_page, PAGE_SIZE};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

const REG_CAP: usize = 0x08;
const REG_ECAP: usize = 0x10;
const REG_GCMD: usize = 0x18;
const REG_GSTS: usize = 0x1C;
const REG_RTADDR: usize = 0x20;
const REG_CCMD: usize = 0x28;
const REG_FSTS: usize = 0x34;
const REG_FECTL: usize = 0x38;
const REG_FEDATA: usize = 0x3C;
const REG_FEADDR: usize = 0x40;
const REG_FEUADDR: usize = 0x44;
const REG_IQH: usize = 0x80;
const REG_IQT: usize = 0x88;
const REG_IQA: usize = 0x90;
const REG_IRTA: usize = 0xB8;

const GCMD_TE: u32 = 1 << 31;
const GCMD_SRTP: u32 = 1 << 30;
const GCMD_QIE: u32 = 1 << 26;
const GCMD_IRE: u32 = 1 << 25;
const GCMD_SIRTP: u32 = 1 << 24;
const GSTS_IRTPS: u32 = 1 << 24;
/// GSTS bits that stay set by software and must be preserved when writing GCMD.
const GSTS_PERSISTENT: u32 = (1 << 31) | (1 << 26) | (1 << 25) | (1 << 23);
const GSTS_RTPS: u32 = 1 << 30;

const CCMD_ICC: u64 = 1 << 63;
const CCMD_GLOBAL: u64 = 1 << 61;
const IOTLB_IVT: u64 = 1 << 63;
const IOTLB_GLOBAL: u64 = 1 << 60;
const IOTLB_DOMAIN: u64 = 2 << 60;
const IOTLB_DRAIN: u64 = (1 << 49) | (1 << 48);

const FSTS_PFO: u32 = 1 << 0;
const FSTS_PPF: u32 = 1 << 1;
const FECTL_IM: u32 = 1 << 31;

/// Vector of the fault-event interrupt: just below the APIC's spurious
/// vector, above every device line.
pub const FAULT_VECTOR: u8 = 0xF0;

/// How many invalidation polls before declaring the unit stuck (QEMU
/// completes at once; real hardware in microseconds).
const POLL_LIMIT: u32 = 10_000_000;

static BASE: AtomicU64 = AtomicU64::new(0);
static ROOT_TABLE: AtomicU64 = AtomicU64::new(0);
static CONTEXT_TABLES: AtomicU64 = AtomicU64::new(0);
static IOTLB_OFFSET: AtomicU64 = AtomicU64::new(0);
static FAULT_OFFSET: AtomicU64 = AtomicU64::new(0);
static FAULT_RECORDS: AtomicU32 = AtomicU32::new(0);
static LEVELS: AtomicU32 = AtomicU32::new(0);
static DOMAINS: AtomicU32 = AtomicU32::new(0);
static COHERENT: AtomicBool = AtomicBool::new(true);
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Queued invalidation: once on, the invalidation registers must not be used.
static QUEUED: AtomicBool = AtomicBool::new(false);
static QUEUE: AtomicU64 = AtomicU64::new(0);
static QUEUE_TAIL: AtomicU64 = AtomicU64::new(0);
static QUEUE_STATUS: AtomicU64 = AtomicU64::new(0);
static REMAP_TABLE: AtomicU64 = AtomicU64::new(0);
static REMAPPING: AtomicBool = AtomicBool::new(false);

fn register(offset: usize) -> usize {
    phys_to_virt(BASE.load(Ordering::Relaxed)) as usize + offset
}

fn read32(offset: usize) -> u32 {
    // SAFETY: the unit's 4 KiB register page is in the uncached part of the
    // physical map and is never handed to users; offsets are architectural.
    unsafe { core::ptr::read_volatile(register(offset) as *const u32) }
}

fn write32(offset: usize, value: u32) {
    // SAFETY: as for `read32`.
    unsafe { core::ptr::write_volatile(register(offset) as *mut u32, value) }
}

fn read64(offset: usize) -> u64 {
    // SAFETY: as for `read32`.
    unsafe { core::ptr::read_volatile(register(offset) as *const u64) }
}

fn write64(offset: usize, value: u64) {
    // SAFETY: as for `read32`.
    unsafe { core::ptr::write_volatile(register(offset) as *mut u64, value) }
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..POLL_LIMIT {
        if done() {
            return;
        }
        core::hint::spin_loop();
    }
    crate::kernel_fatal(format_args!("VT-d unit does not respond ({what})"));
}

/// Whether DMA remapping is on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Page-table levels of the second-level tables (3 for 39-bit, 4 for 48-bit).
pub fn levels() -> u32 {
    LEVELS.load(Ordering::Relaxed)
}

/// Number of domain ids the unit supports.
pub fn domains() -> u32 {
    DOMAINS.load(Ordering::Relaxed)
}

/// Makes a write to a table the unit reads visible to it.
pub fn flush_table_write(paddr: u64) {
    if !COHERENT.load(Ordering::Relaxed) {
        // SAFETY: clflush of a physical-map address only writes back a cache line.
        unsafe {
            core::arch::asm!("clflush [{}]", in(reg) phys_to_virt(paddr & !63), options(nostack, preserves_flags))
        }
    }
    core::sync::atomic::fence(Ordering::SeqCst);
}

/// Boot memory the unit needs: a root table, one context table per bus, the
/// invalidation queue (one page: 256 descriptors), its status word's page,
/// and the interrupt-remapping table (one page: 256 entries).
pub const TABLE_BYTES: u64 = (1 + 256 + 1 + 1 + 1) * PAGE_SIZE;
/// Entries of the interrupt-remapping table (2^(S+1) with S = 7).
pub const REMAP_ENTRIES: u16 = 256;
const REMAP_SIZE_FIELD: u64 = 7;
/// Descriptors in the invalidation queue (one 4 KiB page of 16-byte descriptors).
const QUEUE_ENTRIES: u64 = 256;

/// Turns on DMA remapping for the unit at `base`, using `tables`
/// (`TABLE_BYTES` of page-aligned, kernel-owned memory) for the root and
/// context tables. Every context entry starts absent: all DMA is blocked.
pub fn init(base: u64, tables: u64) {
    BASE.store(base, Ordering::Relaxed);
    let cap = read64(REG_CAP);
    let ecap = read64(REG_ECAP);
    let sagaw = (cap >> 8) & 0x1f;
    let levels = if sagaw & 0b010 != 0 {
        3
    } else if sagaw & 0b100 != 0 {
        4
    } else {
        log::warn!(
            "VT-d: no supported page-table depth (SAGAW {sagaw:#x}); DMA remapping stays off"
        );
        return;
    };
    LEVELS.store(levels, Ordering::Relaxed);
    DOMAINS.store(1 << (4 + 2 * (cap & 0x7)), Ordering::Relaxed);
    IOTLB_OFFSET.store(((ecap >> 8) & 0x3ff) * 16, Ordering::Relaxed);
    FAULT_OFFSET.store(((cap >> 24) & 0x3ff) * 16, Ordering::Relaxed);
    FAULT_RECORDS.store((((cap >> 40) & 0xff) + 1) as u32, Ordering::Relaxed);
    COHERENT.store(ecap & 1 != 0, Ordering::Relaxed);
    let caching_mode = cap & (1 << 7) != 0;

    // Root table: entry `bus` points at that bus's context table.
    for page in 0..(TABLE_BYTES / PAGE_SIZE) {
        zero_page(tables + page * PAGE_SIZE);
    }
    let root = tables;
    let contexts = tables + PAGE_SIZE;
    for bus in 0..256u64 {
        let entry = phys_to_virt(root + bus * 16) as *mut u64;
        // SAFETY: inside the root table page just zeroed, owned by the kernel.
        unsafe { core::ptr::write_volatile(entry, (contexts + bus * PAGE_SIZE) | 1) };
    }
    flush_table_write(root);
    ROOT_TABLE.store(root, Ordering::Relaxed);
    CONTEXT_TABLES.store(contexts, Ordering::Relaxed);

    write64(REG_RTADDR, root);
    write32(REG_GCMD, (read32(REG_GSTS) & GSTS_PERSISTENT) | GCMD_SRTP);
    wait_until("set root table", || read32(REG_GSTS) & GSTS_RTPS != 0);
    invalidate_context_cache();
    invalidate_iotlb(None);

    // Fault events: an MSI to CPU 0 on FAULT_VECTOR.
    write32(REG_FEDATA, u32::from(FAULT_VECTOR));
    write32(REG_FEADDR, 0xFEE0_0000);
    write32(REG_FEUADDR, 0);
    write32(REG_FSTS, FSTS_PFO | FSTS_PPF);
    write32(REG_FECTL, 0);

    write32(REG_GCMD, (read32(REG_GSTS) & GSTS_PERSISTENT) | GCMD_TE);
    wait_until("enable translation", || read32(REG_GSTS) & GCMD_TE != 0);
    ENABLED.store(true, Ordering::Relaxed);

    // Queued invalidation, then interrupt remapping, when the unit has them.
    let queue = contexts + 256 * PAGE_SIZE;
    let status = queue + PAGE_SIZE;
    let remap = status + PAGE_SIZE;
    if ecap & (1 << 1) != 0 {
        QUEUE.store(queue, Ordering::Relaxed);
        QUEUE_STATUS.store(status, Ordering::Relaxed);
        write64(REG_IQT, 0);
        write64(REG_IQA, queue); // 128-bit descriptors, one page (QS = 0)
        write32(REG_GCMD, (read32(REG_GSTS) & GSTS_PERSISTENT) | GCMD_QIE);
        wait_until("enable queued invalidation", || {
            read32(REG_GSTS) & GCMD_QIE != 0
        });
        QUEUED.store(true, Ordering::Relaxed);
        if ecap & (1 << 3) != 0 {
            REMAP_TABLE.store(remap, Ordering::Relaxed);
            write64(REG_IRTA, remap | REMAP_SIZE_FIELD); // xAPIC mode (EIME = 0)
            write32(REG_GCMD, (read32(REG_GSTS) & GSTS_PERSISTENT) | GCMD_SIRTP);
            wait_until("set interrupt-remapping table", || {
                read32(REG_GSTS) & GSTS_IRTPS != 0
            });
            invalidate_interrupt_entries(None);
        }
    }
    log::info!(
        "VT-d: DMA remapping on at {base:#x}: {levels}-level tables, {} domains, {} fault record(s){}; all DMA blocked until an IOSpace maps memory",
        domains(),
        FAULT_RECORDS.load(Ordering::Relaxed),
        if caching_mode { ", caching mode" } else { "" }
    );
}

/// Queues one invalidation descriptor and waits for the unit to finish it
/// (an invalidation-wait descriptor that writes a status word).
fn queue_and_wait(descriptor: [u64; 2]) {
    let queue = QUEUE.load(Ordering::Relaxed);
    let status = QUEUE_STATUS.load(Ordering::Relaxed);
    let status_pointer = phys_to_virt(status) as *mut u32;
    // SAFETY: the status page is kernel-owned boot memory given to `init`.
    unsafe { core::ptr::write_volatile(status_pointer, 0) };
    let wait = [0x5 | (1 << 5) | (1 << 32), status];
    for entry in [descriptor, wait] {
        let tail = QUEUE_TAIL.load(Ordering::Relaxed);
        let slot = phys_to_virt(queue + tail * 16) as *mut u64;
        // SAFETY: `tail` < QUEUE_ENTRIES, inside the queue page; the unit only
        // reads descriptors below the tail register, which is written after.
        unsafe {
            core::ptr::write_volatile(slot, entry[0]);
            core::ptr::write_volatile(slot.add(1), entry[1]);
        }
        QUEUE_TAIL.store((tail + 1) % QUEUE_ENTRIES, Ordering::Relaxed);
    }
    flush_table_write(queue);
    write64(REG_IQT, QUEUE_TAIL.load(Ordering::Relaxed) << 4);
    // SAFETY: as above; the unit writes 1 when both descriptors are done.
    wait_until(
        "queued invalidation",
        || unsafe { core::ptr::read_volatile(status_pointer) } == 1,
    );
    let _ = read64(REG_IQH);
}

/// Drops every cached context entry.
pub fn invalidate_context_cache() {
    if QUEUED.load(Ordering::Relaxed) {
        return queue_and_wait([0x1 | (1 << 4), 0]); // global
    }
    write64(REG_CCMD, CCMD_ICC | CCMD_GLOBAL);
    wait_until("context-cache invalidation", || {
        read64(REG_CCMD) & CCMD_ICC == 0
    });
}

/// Drops cached interrupt-remapping entries: one, or all.
pub fn invalidate_interrupt_entries(index: Option<u16>) {
    let descriptor = match index {
        Some(index) => 0x4 | (1 << 4) | (u64::from(index) << 32),
        None => 0x4,
    };
    queue_and_wait([descriptor, 0]);
}

/// Drops cached translations: of one domain, or all.
pub fn invalidate_iotlb(domain: Option<u16>) {
    if QUEUED.load(Ordering::Relaxed) {
        let descriptor = match domain {
            Some(domain) => 0x2 | (2 << 4) | (1 << 6) | (1 << 7) | (u64::from(domain) << 16),
            None => 0x2 | (1 << 4) | (1 << 6) | (1 << 7),
        };
        return queue_and_wait([descriptor, 0]);
    }
    let offset = IOTLB_OFFSET.load(Ordering::Relaxed) as usize + 8;
    let command = match domain {
        Some(domain) => IOTLB_IVT | IOTLB_DOMAIN | IOTLB_DRAIN | (u64::from(domain) << 32),
        None => IOTLB_IVT | IOTLB_GLOBAL | IOTLB_DRAIN,
    };
    write64(offset, command);
    wait_until("IOTLB invalidation", || read64(offset) & IOTLB_IVT == 0);
}

/// The context entry of `requester` (bus << 8 | device << 3 | function).
fn context_entry(requester: u16) -> *mut u64 {
    let bus = u64::from(requester >> 8);
    let devfn = u64::from(requester & 0xff);
    phys_to_virt(CONTEXT_TABLES.load(Ordering::Relaxed) + bus * PAGE_SIZE + devfn * 16) as *mut u64
}

/// Whether `requester` has a context entry (an IO page-table root).
pub fn context_root(requester: u16) -> Option<u64> {
    // SAFETY: inside the kernel-owned context tables set up by `init`.
    let low = unsafe { core::ptr::read_volatile(context_entry(requester)) };
    (low & 1 != 0).then_some(low & !0xfff)
}

/// Points `requester` at second-level table `root` in `domain`.
pub fn set_context(requester: u16, domain: u16, root: u64) {
    let address_width = if levels() == 3 { 1 } else { 2 };
    let entry = context_entry(requester);
    // SAFETY: inside the kernel-owned context tables; the high word is
    // written before the present bit in the low word.
    unsafe {
        core::ptr::write_volatile(entry.add(1), address_width | (u64::from(domain) << 8));
        core::ptr::write_volatile(entry, root | 1);
    }
    flush_table_write(entry as u64 - phys_to_virt(0) as u64);
    invalidate_context_cache();
    invalidate_iotlb(Some(domain));
}

/// Removes `requester`'s context entry: its DMA is blocked again.
pub fn clear_context(requester: u16, domain: u16) {
    let entry = context_entry(requester);
    // SAFETY: as in `set_context`.
    unsafe {
        core::ptr::write_volatile(entry, 0);
        core::ptr::write_volatile(entry.add(1), 0);
    }
    flush_table_write(entry as u64 - phys_to_virt(0) as u64);
    invalidate_context_cache();
    invalidate_iotlb(Some(domain));
}

/// One DMA fault as the unit recorded it.
#[derive(Clone, Copy, Debug, Default)]
pub struct DmaFault {
    pub requester: u16,
    pub address: u64,
    pub is_write: bool,
    pub reason: u8,
}

/// Reads and clears every pending fault record, handing each to `report`.
/// Returns how many there were (bounded by the number of records).
pub fn drain_faults(mut report: impl FnMut(DmaFault)) -> u32 {
    let records = FAULT_RECORDS.load(Ordering::Relaxed);
    let first = FAULT_OFFSET.load(Ordering::Relaxed) as usize;
    let mut index = (read32(REG_FSTS) >> 8) & 0xff;
    let mut count = 0;
    for _ in 0..records {
        let offset = first + (index as usize % records as usize) * 16;
        let high = read64(offset + 8);
        if high & (1 << 63) == 0 {
            break;
        }
        let low = read64(offset);
        report(DmaFault {
            requester: (high & 0xffff) as u16,
            address: low & !0xfff,
            // T bit: 0 = write request, 1 = read request.
            is_write: high & (1 << 62) == 0,
            reason: ((high >> 32) & 0xff) as u8,
        });
        write64(offset + 8, 1 << 63); // clear F (write 1)
        count += 1;
        index = (index + 1) % records;
    }
    write32(REG_FSTS, FSTS_PFO | FSTS_PPF);
    count
}

/// Masks or unmasks the fault-event interrupt (rate limiting).
pub fn set_fault_interrupt_masked(masked: bool) {
    write32(REG_FECTL, if masked { FECTL_IM } else { 0 });
}

/// Whether interrupts are remapped (and so must use remappable formats).
pub fn remapping() -> bool {
    REMAPPING.load(Ordering::Relaxed)
}

/// Whether the unit has an interrupt-remapping table ready to be turned on.
pub fn can_remap() -> bool {
    REMAP_TABLE.load(Ordering::Relaxed) != 0
}

/// One interrupt-remapping entry: deliver `vector` to the core with APIC id
/// `destination`, accepting the request only from `source` (bus:dev.fn),
/// edge or level as the source signals.
pub fn set_remap_entry(
    index: u16,
    vector: u8,
    source: u16,
    level_triggered: bool,
    present: bool,
    destination: u8,
) {
    let table = REMAP_TABLE.load(Ordering::Relaxed);
    if table == 0 || index >= REMAP_ENTRIES {
        return;
    }
    let entry = phys_to_virt(table + u64::from(index) * 16) as *mut u64;
    // Fault processing is disabled for a masked (not present) entry, so a
    // device that keeps interrupting while masked costs no fault reports.
    let low = if present { 1 } else { 1 << 1 }
        | (u64::from(level_triggered) << 4)
        | (u64::from(vector) << 16)
        // Fixed delivery, physical mode; in xAPIC mode the destination APIC
        // id is bits 40..48.
        | (u64::from(destination) << 40);
    // Verify the requester: SVT = 01 (source id and qualifier), SQ = 0 (all 16 bits).
    let high = u64::from(source) | (1 << 18);
    // SAFETY: `index` < REMAP_ENTRIES: inside the kernel-owned remapping table.
    unsafe {
        core::ptr::write_volatile(entry.add(1), high);
        core::ptr::write_volatile(entry, low);
    }
    flush_table_write(table + u64::from(index) * 16);
    invalidate_interrupt_entries(Some(index));
}

/// Turns interrupt remapping on. From then on only remappable-format
/// interrupts (IOAPIC entries and MSIs that name a table entry) are
/// delivered; compatibility-format ones are blocked.
pub fn enable_remapping() {
    if !can_remap() {
        return;
    }
    write32(REG_GCMD, (read32(REG_GSTS) & GSTS_PERSISTENT) | GCMD_IRE);
    wait_until("enable interrupt remapping", || {
        read32(REG_GSTS) & GCMD_IRE != 0
    });
    REMAPPING.store(true, Ordering::Relaxed);
}

/// The MSI address and data a device must write to raise remapping entry `index`.
pub fn msi_message(index: u16) -> (u64, u32) {
    // Remappable format (bit 4), handle[14:0] in bits 19:5, handle[15] in bit 2, no subhandle.
    let address =
        0xFEE0_0000 | (u64::from(index & 0x7fff) << 5) | (1 << 4) | (u64::from(index >> 15) << 2);
    (address, 0)
}
