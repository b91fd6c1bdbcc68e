//! IOSpaces: the DMA address space of one PCI device, as capabilities.
//!
//! The master IOSpace capability (root task slot `IO_SPACE_CONTROL`, present
//! only when VT-d remapping is on) issues an IOSpace for one requester id
//! (bus:dev.fn) in one domain. IO page tables, made from untyped like any
//! object, are mapped into it: the first becomes the domain's root and fills
//! in the requester's context entry; the next ones fill the levels below.
//! Frames are then mapped at IO virtual addresses with read and write
//! rights. Unmapping (or deleting the cap) removes the entry and invalidates
//! the IOTLB, so the device loses access at once.
//!
//! Because IO addresses are chosen freely, a device limited to, say, 28-bit
//! DMA can reach a buffer anywhere in RAM through an IO address below its
//! limit: the IOMMU removes the need for bounce buffers.
//!
//! DMA faults are recorded per requester (a small ring, oldest dropped
//! first) and signal the IOSpace's fault notification, at most once per
//! drain; a device that faults without end is rate-limited by masking the
//! fault interrupt until the next timer tick.
use crate::arch::x86_64::paging::phys_to_virt;
use crate::arch::x86_64::vtd::{self, DmaFault};
use crate::invocation::{done, reply, Message, Outcome};
use crate::kobj::{self, objects, IO_ASID_BASE};
use crate::vspace::{unmapped_frame, UnmappedFrame};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use spin::Mutex;
use ward_abi::invocation::{args, InvocationLabel as Label};
use ward_abi::lookup::LookupFailure;
use ward_abi::rights::CapRights;
use ward_kernel_core::io_page_table::{self, TableMemory, WalkError, READ, WRITE};
use ward_kernel_objects::cap::{FrameSize, Mapping};
use ward_kernel_objects::error::LookupSide;
use ward_kernel_objects::{Cap, InvocationError, Slot};

/// Most IOSpaces issued at once: one per device a driver drives.
const MAX_IOSPACES: usize = 64;
/// Most domains tracked; also bounds the IO ASID range (0xF00..=0xFFF).
const MAX_DOMAINS: usize = 256;
/// Faults kept for drivers to read; older ones are dropped and counted.
const FAULT_RING: usize = 64;
/// Fault records handled per timer tick before the fault interrupt is
/// masked until the next tick: bounds the kernel time a faulting device costs.
const FAULTS_PER_TICK: u32 = 16;

/// The domain of the firmware-reserved regions' identity mappings: the
/// highest domain the kernel tracks, never issued to a driver.
pub const RESERVED_DOMAIN: u16 = MAX_DOMAINS as u16 - 1;
/// Most devices with firmware-reserved regions.
const MAX_RESERVED_DEVICES: usize = 8;

/// The IO page tables as the walks in `ward_kernel_core::io_page_table` see
/// them: pages reached through the physical map, each write made visible to
/// the IOMMU.
struct PhysicalTables;

impl TableMemory for PhysicalTables {
    fn read(&self, table: u64, index: usize) -> u64 {
        // SAFETY: `table` is an IO page-table page (an object retyped from
        // untyped, or boot memory for the reserved domain), index < 512.
        unsafe { core::ptr::read_volatile((phys_to_virt(table) as *const u64).add(index)) }
    }

    fn write(&mut self, table: u64, index: usize, value: u64) {
        // SAFETY: as in `read`; only the kernel writes these tables.
        unsafe { core::ptr::write_volatile((phys_to_virt(table) as *mut u64).add(index), value) };
        vtd::flush_table_write(table + index as u64 * 8);
    }
}

fn walk_error(error: WalkError) -> InvocationError {
    match error {
        WalkError::MissingTable { level } => InvocationError::lookup(
            LookupSide::Destination,
            LookupFailure::MissingCapability {
                bits_left: io_page_table::level_shift(level + 1),
            },
        ),
        WalkError::SuperpageInTheWay => {
            InvocationError::delete_first("a large frame is mapped there")
        }
        WalkError::Occupied => {
            InvocationError::delete_first("something is already mapped at this IO address")
        }
    }
}

#[derive(Clone, Copy)]
struct IoSpaceEntry {
    requester: u16,
    domain: u16,
    notification: u64,
    badge: u64,
}

struct State {
    spaces: heapless::Vec<IoSpaceEntry, MAX_IOSPACES>,
    /// Devices the firmware reserved memory for: kept in the reserved domain.
    reserved: heapless::Vec<u16, MAX_RESERVED_DEVICES>,
    /// Root IO page table of each domain (0 = none yet).
    roots: [u64; MAX_DOMAINS],
    faults: heapless::Deque<DmaFault, FAULT_RING>,
}

static STATE: Mutex<State> = Mutex::new(State {
    spaces: heapless::Vec::new(),
    reserved: heapless::Vec::new(),
    roots: [0; MAX_DOMAINS],
    faults: heapless::Deque::new(),
});

/// Faults dropped because the ring was full or the rate limit was hit.
pub static DROPPED_FAULTS: AtomicU64 = AtomicU64::new(0);
static FAULTS_THIS_TICK: AtomicU32 = AtomicU32::new(0);

/// The master IOSpace capability (domain 0, which VT-d reserves in caching
/// mode, so it can never name a real domain).
pub const MASTER: Cap = Cap::IoSpace {
    requester: 0,
    domain: 0,
};

/// The requester and domain of an IOSpace cap; `number` is its
/// capability-argument number (0 = the invoked cap), for error details.
fn io_space(cap: Cap, number: u8) -> Result<(u16, u16), InvocationError> {
    match cap {
        Cap::IoSpace { requester, domain } if domain != 0 => Ok((requester, domain)),
        _ => Err(InvocationError::invalid_capability(
            number,
            "not an IOSpace capability (or the master one)",
        )),
    }
}

fn check_ioaddr(ioaddr: u64, bits: u32) -> Result<(), InvocationError> {
    let limit = io_page_table::address_limit(vtd::levels());
    if ioaddr & ((1 << bits) - 1) != 0 {
        return Err(InvocationError::alignment(
            "the IO address is not aligned to the mapping's size",
        ));
    }
    if ioaddr >= limit {
        return Err(InvocationError::range(
            0,
            limit - 1,
            "the IO address is beyond the IOMMU's address width",
        ));
    }
    Ok(())
}

/// Runs an IOSpace or IO page-table invocation `label` on `cap` in `slot`
/// (`FrameMapIo`, on a frame, comes through `vspace::invoke`).
pub fn invoke(
    message: &Message,
    label: Label,
    slot: Slot,
    cap: Cap,
) -> Result<Outcome, InvocationError> {
    match (label, cap) {
        (Label::IoSpaceIssue, Cap::IoSpace { domain: 0, .. }) => {
            let a: args::IoSpaceIssue<_> = message.decode()?;
            let dest =
                objects().lookup_slot_exact(LookupSide::Destination, a.root.1, a.index, a.depth)?;
            issue(a.requester, a.domain, dest)?;
            done()
        }
        (Label::IoSpaceIssue, _) => Err(InvocationError::illegal(
            "only the master IOSpace issues IOSpaces",
        )),
        (Label::IoSpaceSetFaultNotification, _) => {
            let a: args::IoSpaceSetFaultNotification<_> = message.decode()?;
            set_fault_notification(cap, a.notification.1)?;
            done()
        }
        (Label::IoSpaceReadFault, _) => {
            let _: args::IoSpaceReadFault = message.decode()?;
            reply(&read_fault(cap)?)
        }
        (Label::IoPageTableMap, _) => {
            let a: args::IoPageTableMap<_> = message.decode()?;
            map_table(slot, cap, a.iospace.1, a.ioaddr)?;
            done()
        }
        (Label::IoPageTableUnmap, _) => {
            let _: args::IoPageTableUnmap = message.decode()?;
            crate::vspace::unmap_in_slot(slot)?;
            done()
        }
        _ => Err(InvocationError::illegal("not an IOSpace invocation")),
    }
}

/// `io_space_issue(requester, domain, dest_index, dest_depth)` on the master cap.
pub fn issue(requester: u64, domain: u64, dest: Slot) -> Result<(), InvocationError> {
    let domains = u64::from(vtd::domains()).min(MAX_DOMAINS as u64);
    if requester == 0 || requester > u64::from(u16::MAX) {
        // 00:00.0 is the host bridge, which does no DMA; its id marks the master cap.
        return Err(InvocationError::range(
            1,
            u64::from(u16::MAX),
            "requester ids are 16 bits (bus:dev.fn), not 00:00.0",
        ));
    }
    if domain == 0 || domain >= domains.min(u64::from(RESERVED_DOMAIN)) {
        return Err(InvocationError::range(
            1,
            domains.min(u64::from(RESERVED_DOMAIN)) - 1,
            "domain ids run from 1 (0 and the last are reserved)",
        ));
    }
    if !objects().cap(dest).is_null() {
        return Err(InvocationError::delete_first(
            "the destination slot is occupied",
        ));
    }
    let mut state = STATE.lock();
    if state.reserved.contains(&(requester as u16)) {
        return Err(InvocationError::illegal(
            "the firmware reserved memory for this device (RMRR); it stays in the kernel's identity domain",
        ));
    }
    if state.spaces.iter().any(|s| s.requester == requester as u16) {
        return Err(InvocationError::illegal(
            "this device already has an IOSpace (one device, one driver)",
        ));
    }
    if state.spaces.is_full() {
        return Err(InvocationError::illegal("too many IOSpaces"));
    }
    objects().insert_original(
        dest,
        Cap::IoSpace {
            requester: requester as u16,
            domain: domain as u16,
        },
    )?;
    let _ = state.spaces.push(IoSpaceEntry {
        requester: requester as u16,
        domain: domain as u16,
        notification: 0,
        badge: 0,
    });
    Ok(())
}

/// Makes sure `requester`'s context entry points at its domain's root.
fn attach(state: &State, requester: u16, domain: u16) {
    let root = state.roots[domain as usize];
    if root != 0 && vtd::context_root(requester) != Some(root) {
        vtd::set_context(requester, domain, root);
    }
}

/// `io_page_table_map(iospace, ioaddr)`.
pub fn map_table(slot: Slot, cap: Cap, space: Cap, ioaddr: u64) -> Result<(), InvocationError> {
    let Cap::IoPageTable { object, mapping } = cap else {
        return Err(InvocationError::invalid_capability(
            0,
            "not an IO page-table capability",
        ));
    };
    if mapping.is_some() {
        return Err(InvocationError::illegal(
            "the IO page table is already mapped",
        ));
    }
    let (requester, domain) = io_space(space, 1)?;
    check_ioaddr(ioaddr, 0)?;
    let mut state = STATE.lock();
    let asid = IO_ASID_BASE + domain;
    let root = state.roots[domain as usize];
    if root == 0 {
        // The first table of the domain is its root.
        state.roots[domain as usize] = object;
        vtd::set_context(requester, domain, object);
        kobj::replace_cap(
            slot,
            Cap::IoPageTable {
                object,
                mapping: Some(Mapping {
                    asid,
                    vaddr: !0xfff,
                }),
            },
        );
        return Ok(());
    }
    attach(&state, requester, domain);
    let level =
        io_page_table::install_table(&mut PhysicalTables, root, vtd::levels(), ioaddr, object)
            .map_err(walk_error)?;
    vtd::invalidate_iotlb(Some(domain));
    let base = ioaddr & !((1u64 << io_page_table::level_shift(level + 1)) - 1);
    kobj::replace_cap(
        slot,
        Cap::IoPageTable {
            object,
            mapping: Some(Mapping { asid, vaddr: base }),
        },
    );
    Ok(())
}

/// `frame_map_io(iospace, ioaddr, rights)`.
pub fn map_frame(
    slot: Slot,
    cap: Cap,
    space: Cap,
    ioaddr: u64,
    rights: CapRights,
) -> Result<(), InvocationError> {
    let UnmappedFrame {
        object,
        size,
        rights: cap_rights,
        is_device,
    } = unmapped_frame(cap)?;
    if is_device {
        return Err(InvocationError::illegal(
            "device memory cannot be a DMA target (peer-to-peer DMA is not allowed)",
        ));
    }
    let (requester, domain) = io_space(space, 1)?;
    let rights = rights.intersect(cap_rights);
    let mut bits = 0;
    if rights.contains(CapRights::READ) {
        bits |= READ;
    }
    if rights.contains(CapRights::WRITE) {
        bits |= WRITE;
    }
    if bits == 0 {
        return Err(InvocationError::invalid_argument(
            1,
            "a DMA mapping needs read or write rights",
        ));
    }
    let (leaf_level, frame_bits) = match size {
        FrameSize::Small => (1, 12),
        FrameSize::Large => (2, 21),
    };
    check_ioaddr(ioaddr, frame_bits)?;
    let state = STATE.lock();
    let root = state.roots[domain as usize];
    if root == 0 {
        return Err(InvocationError::lookup(
            LookupSide::Destination,
            LookupFailure::MissingCapability { bits_left: 39 },
        ));
    }
    attach(&state, requester, domain);
    io_page_table::map_page(
        &mut PhysicalTables,
        root,
        vtd::levels(),
        ioaddr,
        leaf_level,
        object,
        bits,
    )
    .map_err(walk_error)?;
    vtd::invalidate_iotlb(Some(domain));
    kobj::replace_cap(
        slot,
        Cap::Frame {
            object,
            size,
            rights: cap_rights,
            is_device,
            mapping: Some(Mapping {
                asid: IO_ASID_BASE + domain,
                vaddr: ioaddr,
            }),
        },
    );
    Ok(())
}

/// Removes the IO mapping a cap records (frame or IO page table).
pub fn unmap_cap(cap: Cap) {
    let (object, mapping) = match cap {
        Cap::Frame {
            object, mapping, ..
        }
        | Cap::IoPageTable { object, mapping } => (object, mapping),
        _ => return,
    };
    let Some(Mapping { asid, vaddr }) = mapping else {
        return;
    };
    if asid < IO_ASID_BASE {
        return;
    }
    let domain = asid - IO_ASID_BASE;
    let mut state = STATE.lock();
    let root = state.roots[domain as usize];
    if root == 0 {
        return;
    }
    if root == object {
        // The domain's root: every requester in the domain loses all access.
        state.roots[domain as usize] = 0;
        for space in state.spaces.iter().filter(|s| s.domain == domain) {
            vtd::clear_context(space.requester, domain);
        }
        return;
    }
    // Clear the entry that points at `object` on the way to `vaddr`.
    if io_page_table::unmap(
        &mut PhysicalTables,
        root,
        vtd::levels(),
        vaddr & !0xfff,
        object,
    ) {
        vtd::invalidate_iotlb(Some(domain));
    }
}

/// The last capability to an IOSpace is gone: block the device again.
pub fn release(requester: u16, domain: u16) {
    if domain == 0 {
        return;
    }
    let mut state = STATE.lock();
    state.spaces.retain(|s| s.requester != requester);
    if vtd::enabled() && vtd::context_root(requester).is_some() {
        vtd::clear_context(requester, domain);
    }
}

/// `io_space_set_fault_notification(notification)`.
pub fn set_fault_notification(space: Cap, notification: Cap) -> Result<(), InvocationError> {
    let (requester, _) = io_space(space, 0)?;
    let Cap::Notification {
        object,
        badge,
        rights,
    } = notification
    else {
        return Err(InvocationError::invalid_capability(
            1,
            "not a notification capability",
        ));
    };
    if !rights.contains(CapRights::WRITE) {
        return Err(InvocationError::invalid_capability(
            1,
            "fault delivery needs the write right",
        ));
    }
    let mut state = STATE.lock();
    if let Some(entry) = state.spaces.iter_mut().find(|s| s.requester == requester) {
        entry.notification = object;
        entry.badge = badge;
    }
    Ok(())
}

/// `io_space_read_fault()`: `[1, io address, 1 if write, reason]` or `[0]`.
pub fn read_fault(space: Cap) -> Result<[u64; 4], InvocationError> {
    let (requester, _) = io_space(space, 0)?;
    let mut state = STATE.lock();
    let count = state.faults.len();
    for _ in 0..count {
        let fault = state.faults.pop_front().expect("counted");
        if fault.requester == requester {
            return Ok([
                1,
                fault.address,
                u64::from(fault.is_write),
                u64::from(fault.reason),
            ]);
        }
        let _ = state.faults.push_back(fault);
    }
    Ok([0, 0, 0, 0])
}

/// A notification is being destroyed: no IOSpace may signal it any more.
pub fn forget_notification(notification: u64) {
    for entry in STATE.lock().spaces.iter_mut() {
        if entry.notification == notification {
            entry.notification = 0;
        }
    }
}

/// Human words for the common VT-d fault reasons.
pub fn reason_text(reason: u8) -> &'static str {
    match reason {
        0x1 => "no root entry",
        0x2 => "no IOSpace (context entry absent)",
        0x3 => "invalid context entry",
        0x4 => "address beyond the IOMMU's width",
        0x5 => "write not permitted",
        0x6 => "read not permitted",
        _ => "not in its DMA window",
    }
}

/// The fault-event interrupt.
pub fn handle_fault_interrupt() {
    let mut signals: heapless::Vec<(u64, u64), 8> = heapless::Vec::new();
    vtd::drain_faults(|fault| {
        let handled = FAULTS_THIS_TICK.fetch_add(1, Ordering::Relaxed);
        let mut state = STATE.lock();
        let target = state
            .spaces
            .iter()
            .find(|s| s.requester == fault.requester)
            .copied();
        if handled < FAULTS_PER_TICK {
            log::debug!(
                "DMA fault: device {:02x}:{:02x}.{} {} {:#x} blocked ({})",
                fault.requester >> 8,
                (fault.requester >> 3) & 0x1f,
                fault.requester & 7,
                if fault.is_write {
                    "write to"
                } else {
                    "read from"
                },
                fault.address,
                reason_text(fault.reason)
            );
        }
        if state.faults.is_full() {
            let _ = state.faults.pop_front();
            DROPPED_FAULTS.fetch_add(1, Ordering::Relaxed);
        }
        let _ = state.faults.push_back(fault);
        if let Some(entry) = target.filter(|e| e.notification != 0) {
            if !signals.iter().any(|&(n, _)| n == entry.notification) {
                let _ = signals.push((entry.notification, entry.badge));
            }
        }
    });
    if FAULTS_THIS_TICK.load(Ordering::Relaxed) >= FAULTS_PER_TICK {
        vtd::set_fault_interrupt_masked(true);
    }
    crate::arch::x86_64::apic::end_of_interrupt();
    for (notification, badge) in signals {
        let _woken = crate::ipc::signal(notification, badge);
    }
}

/// Each timer tick: a new fault budget, and the fault interrupt unmasked.
pub fn tick() {
    if FAULTS_THIS_TICK.swap(0, Ordering::Relaxed) >= FAULTS_PER_TICK && vtd::enabled() {
        vtd::set_fault_interrupt_masked(false);
    }
}

/// Gives the devices named by the firmware's reserved-memory regions
/// (RMRRs) an identity mapping of those regions, in the reserved domain, as
/// VT-d requires: such devices (USB controllers doing legacy emulation, for
/// instance) keep using that memory. Tables come from `allocate` (zeroed
/// boot pages). Such devices are never given to a driver.
pub fn map_reserved_regions(
    regions: &[(u64, u64)],
    devices: &[u16],
    allocate: &mut dyn FnMut() -> Option<u64>,
) {
    if !vtd::enabled() || regions.is_empty() || devices.is_empty() {
        return;
    }
    let Some(root) = allocate() else {
        log::warn!("VT-d: no memory for the reserved regions' tables; their devices will fault");
        return;
    };
    let mut pages = 0;
    for &(start, end) in regions {
        match io_page_table::identity_map(
            &mut PhysicalTables,
            root,
            vtd::levels(),
            start,
            end,
            &mut |_| allocate(),
        ) {
            Ok(mapped) => pages += mapped,
            Err(error) => {
                log::warn!("VT-d: reserved region {start:#x}..={end:#x} not mapped: {error:?}")
            }
        }
    }
    let mut state = STATE.lock();
    state.roots[RESERVED_DOMAIN as usize] = root;
    for &device in devices {
        if state.reserved.push(device).is_ok() {
            vtd::set_context(device, RESERVED_DOMAIN, root);
        }
    }
    log::info!(
        "VT-d: {} reserved region(s), {pages} pages identity-mapped for {} device(s)",
        regions.len(),
        devices.len()
    );
}
