//! Interrupts as notifications: IRQControl makes IRQHandler capabilities for
//! IOAPIC lines and, with interrupt remapping, for MSIs; an IRQHandler binds
//! its interrupt to a notification (with the notification cap's badge),
//! acknowledges, and clears.
//!
//! The kernel's part is the top half only: when an interrupt arrives, mask
//! its source, tell the local APIC the interrupt is done, and signal the
//! notification. The driver's thread does the work (the bottom half) and
//! then acknowledges, which unmasks the source. Interrupts nobody handles are
//! counted.
//!
//! MSIs are where Ward goes past seL4: a device raises an MSI by writing a
//! message its driver programmed, so a driver that could choose the message
//! could make its device raise any vector — another driver's included. Ward
//! hands out MSI handlers only when VT-d interrupt remapping is on: the
//! driver gets a message naming a remapping-table entry, and that entry
//! accepts the interrupt only from the driver's own device (source-id
//! validation). Masking an MSI marks its entry not-present, with fault
//! reporting off, so a device that keeps signalling costs nothing.
use crate::arch::x86_64::ioapic::{self, IRQ_VECTOR_BASE, MAX_LINES};
use crate::arch::x86_64::vtd;
use crate::invocation::{done, reply, Message, Outcome};
use crate::kobj::objects;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;
use ward_abi::invocation::{args, InvocationLabel as Label};
use ward_abi::rights::CapRights;
use ward_kernel_objects::{Cap, InvocationError, LookupSide, Slot};

/// Most MSI handlers at once.
pub const MAX_MSIS: usize = 32;
/// Vector of MSI handler `k`: after the IOAPIC lines (0x40–0x57).
const MSI_VECTOR_BASE: u8 = 0x60;
/// IRQHandler numbers from here on are MSIs (`MSI_IRQ_BASE + k`).
pub const MSI_IRQ_BASE: u16 = 0x100;
/// Remapping-table entries of MSI handlers start after those of the IOAPIC lines.
const MSI_REMAP_BASE: u16 = 32;

#[derive(Clone, Copy)]
struct Source {
    /// An IRQHandler capability exists for this interrupt.
    issued: bool,
    /// The notification to signal (physical address; 0 = none) and the badge.
    notification: u64,
    badge: u64,
    /// For MSIs: the device allowed to raise it.
    requester: u16,
    /// Level-triggered (IOAPIC lines), kept for reprogramming the route.
    level_triggered: bool,
    /// The core the interrupt is steered to (`irq_handler_set_core`).
    core: u8,
    /// An MSI's remapping entry is present (unmasked).
    enabled: bool,
}

const FREE: Source = Source {
    issued: false,
    notification: 0,
    badge: 0,
    requester: 0,
    level_triggered: false,
    core: 0,
    enabled: false,
};

/// The APIC id of core `core`, where its interrupts are sent.
fn apic_id_of(core: u8) -> u8 {
    crate::cpu_local::CPUS[usize::from(core)]
        .apic_id
        .load(Ordering::Relaxed) as u8
}
const SOURCES: usize = MAX_LINES as usize + MAX_MSIS;
static TABLE: Mutex<[Source; SOURCES]> = Mutex::new([FREE; SOURCES]);
/// The IOAPIC's own source id (for its remapping entries), once known.
static IOAPIC_SOURCE: AtomicU64 = AtomicU64::new(u64::MAX);

/// Per-source delivery counts, for statistics.
pub static DELIVERED: [AtomicU64; SOURCES] = [const { AtomicU64::new(0) }; SOURCES];
/// Interrupts that arrived with no notification bound.
pub static UNHANDLED: AtomicU64 = AtomicU64::new(0);

/// Table index of an IRQHandler's number.
fn slot_of(irq: u16) -> usize {
    if irq >= MSI_IRQ_BASE {
        MAX_LINES as usize + usize::from(irq - MSI_IRQ_BASE)
    } else {
        usize::from(irq)
    }
}

/// Masks or unmasks the source of IRQHandler `irq`.
fn set_masked(irq: u16, masked: bool) {
    if irq >= MSI_IRQ_BASE {
        let k = irq - MSI_IRQ_BASE;
        let entry = {
            let mut table = TABLE.lock();
            table[slot_of(irq)].enabled = !masked;
            table[slot_of(irq)]
        };
        vtd::set_remap_entry(
            MSI_REMAP_BASE + k,
            MSI_VECTOR_BASE + k as u8,
            entry.requester,
            false,
            !masked,
            apic_id_of(entry.core),
        );
    } else {
        ioapic::set_masked(u32::from(irq), masked);
    }
}

/// Turns on interrupt remapping if the IOMMU offers it and the IOAPIC's
/// source id is known (`ioapic_source`, from the DMAR device scopes).
pub fn enable_remapping(ioapic_source: Option<u16>) {
    if !vtd::can_remap() {
        return;
    }
    let Some(source) = ioapic_source else {
        log::warn!(
            "VT-d: the DMAR names no source id for the IOAPIC; interrupt remapping stays off"
        );
        return;
    };
    IOAPIC_SOURCE.store(u64::from(source), Ordering::Relaxed);
    vtd::enable_remapping();
    log::info!(
        "VT-d: interrupt remapping on: IOAPIC lines and MSIs are accepted only from their own source ids"
    );
}

/// Whether `vector` belongs to an interrupt source; its IRQHandler number if so.
pub fn irq_of(vector: u64) -> Option<u16> {
    let lines = u64::from(IRQ_VECTOR_BASE)..u64::from(IRQ_VECTOR_BASE) + u64::from(ioapic::lines());
    let msis = u64::from(MSI_VECTOR_BASE)..u64::from(MSI_VECTOR_BASE) + MAX_MSIS as u64;
    if lines.contains(&vector) {
        Some((vector - u64::from(IRQ_VECTOR_BASE)) as u16)
    } else if msis.contains(&vector) {
        Some(MSI_IRQ_BASE + (vector - u64::from(MSI_VECTOR_BASE)) as u16)
    } else {
        None
    }
}

/// Runs an IRQControl or IRQHandler invocation `label` on `cap`.
pub fn invoke(message: &Message, label: Label, cap: Cap) -> Result<Outcome, InvocationError> {
    let objects = objects();
    match (label, cap) {
        (Label::IrqControlGet, _) => {
            let a: args::IrqControlGet<_> = message.decode()?;
            let dest =
                objects.lookup_slot_exact(LookupSide::Destination, a.root.1, a.index, a.depth)?;
            control_get(a.line, a.level != 0, a.active_low != 0, dest)?;
            done()
        }
        (Label::IrqControlGetMsi, _) => {
            let a: args::IrqControlGetMsi<_> = message.decode()?;
            let dest =
                objects.lookup_slot_exact(LookupSide::Destination, a.root.1, a.index, a.depth)?;
            reply(&control_get_msi(a.requester, dest)?)
        }
        (Label::IrqHandlerSetNotification, Cap::IrqHandler { irq }) => {
            let a: args::IrqHandlerSetNotification<_> = message.decode()?;
            set_notification(irq, a.notification.1)?;
            done()
        }
        (Label::IrqHandlerAck, Cap::IrqHandler { irq }) => {
            let _: args::IrqHandlerAck = message.decode()?;
            ack(irq)?;
            done()
        }
        (Label::IrqHandlerSetCore, Cap::IrqHandler { irq }) => {
            let a: args::IrqHandlerSetCore = message.decode()?;
            set_core(irq, a.core)?;
            done()
        }
        (Label::IrqHandlerClear, Cap::IrqHandler { irq }) => {
            let _: args::IrqHandlerClear = message.decode()?;
            clear(irq);
            done()
        }
        (Label::IrqHandlerGetCount, Cap::IrqHandler { irq }) => {
            let _: args::IrqHandlerGetCount = message.decode()?;
            reply(&[DELIVERED[slot_of(irq)].load(Ordering::Relaxed)])
        }
        _ => Err(InvocationError::illegal("not an IRQ invocation")),
    }
}

/// `irq_control_get(index, depth, line, level_triggered, active_low)`.
pub fn control_get(
    line: u64,
    level_triggered: bool,
    active_low: bool,
    dest: Slot,
) -> Result<(), InvocationError> {
    let lines = u64::from(ioapic::lines());
    if line >= lines {
        return Err(InvocationError::range(
            0,
            lines.saturating_sub(1),
            "no such interrupt line",
        ));
    }
    if !objects().cap(dest).is_null() {
        return Err(InvocationError::delete_first(
            "the destination slot is occupied",
        ));
    }
    let mut table = TABLE.lock();
    if table[line as usize].issued {
        return Err(InvocationError::illegal(
            "a handler for this line already exists (one IRQ, one driver)",
        ));
    }
    objects().insert_original(dest, Cap::IrqHandler { irq: line as u16 })?;
    table[line as usize] = Source {
        issued: true,
        level_triggered,
        ..FREE
    };
    drop(table);
    if vtd::remapping() {
        let source = IOAPIC_SOURCE.load(Ordering::Relaxed) as u16;
        vtd::set_remap_entry(
            line as u16,
            IRQ_VECTOR_BASE + line as u8,
            source,
            level_triggered,
            true,
            apic_id_of(0),
        );
        ioapic::route_remapped(line as u32, line as u16, level_triggered, active_low);
    } else {
        ioapic::route(line as u32, level_triggered, active_low);
    }
    Ok(())
}

/// `irq_control_get_msi(index, depth, requester)`: returns the MSI address
/// and data the driver must program into its device.
pub fn control_get_msi(requester: u64, dest: Slot) -> Result<[u64; 2], InvocationError> {
    if !vtd::remapping() {
        return Err(InvocationError::illegal(
            "MSI handlers need VT-d interrupt remapping: without it a driver could make its device raise any vector",
        ));
    }
    if requester == 0 || requester > u64::from(u16::MAX) {
        return Err(InvocationError::range(
            1,
            u64::from(u16::MAX),
            "requester ids are 16 bits (bus:dev.fn)",
        ));
    }
    if !objects().cap(dest).is_null() {
        return Err(InvocationError::delete_first(
            "the destination slot is occupied",
        ));
    }
    let mut table = TABLE.lock();
    let k = (0..MAX_MSIS)
        .find(|&k| !table[MAX_LINES as usize + k].issued)
        .ok_or(InvocationError::illegal("all MSI handlers are in use"))? as u16;
    objects().insert_original(
        dest,
        Cap::IrqHandler {
            irq: MSI_IRQ_BASE + k,
        },
    )?;
    table[MAX_LINES as usize + usize::from(k)] = Source {
        issued: true,
        requester: requester as u16,
        ..FREE
    };
    drop(table);
    // Masked (not present) until the driver sets a notification and acks.
    vtd::set_remap_entry(
        MSI_REMAP_BASE + k,
        MSI_VECTOR_BASE + k as u8,
        requester as u16,
        false,
        false,
        apic_id_of(0),
    );
    let (address, data) = vtd::msi_message(MSI_REMAP_BASE + k);
    Ok([address, u64::from(data)])
}

/// `irq_handler_set_notification(notification)`: interrupts signal this
/// notification with the cap's badge.
pub fn set_notification(irq: u16, notification: Cap) -> Result<(), InvocationError> {
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
            "delivering interrupts needs the write right",
        ));
    }
    let mut table = TABLE.lock();
    let entry = &mut table[slot_of(irq)];
    entry.notification = object;
    entry.badge = badge;
    Ok(())
}

/// `irq_handler_set_core`: steers the interrupt to core `core` — the
/// IOAPIC entry's destination, or the remapping entry's for a remapped
/// line or an MSI — so its top half runs where its handler thread does.
pub fn set_core(irq: u16, core: u64) -> Result<(), InvocationError> {
    let cores = crate::cpu_local::online_count() as u64;
    if core >= cores {
        return Err(InvocationError::range(
            0,
            cores - 1,
            "no such core: the kernel runs on fewer",
        ));
    }
    let entry = {
        let mut table = TABLE.lock();
        table[slot_of(irq)].core = core as u8;
        table[slot_of(irq)]
    };
    let destination = apic_id_of(core as u8);
    if irq >= MSI_IRQ_BASE {
        let k = irq - MSI_IRQ_BASE;
        vtd::set_remap_entry(
            MSI_REMAP_BASE + k,
            MSI_VECTOR_BASE + k as u8,
            entry.requester,
            false,
            entry.enabled,
            destination,
        );
    } else if vtd::remapping() {
        vtd::set_remap_entry(
            irq,
            IRQ_VECTOR_BASE + irq as u8,
            IOAPIC_SOURCE.load(Ordering::Relaxed) as u16,
            entry.level_triggered,
            true,
            destination,
        );
    } else {
        ioapic::set_destination(u32::from(irq), destination);
    }
    Ok(())
}

/// `irq_handler_ack()`: the driver handled the last interrupt; unmask.
pub fn ack(irq: u16) -> Result<(), InvocationError> {
    if TABLE.lock()[slot_of(irq)].notification == 0 {
        return Err(InvocationError::illegal(
            "set a notification before acknowledging",
        ));
    }
    set_masked(irq, false);
    Ok(())
}

/// `irq_handler_clear()`: unbind the notification and mask.
pub fn clear(irq: u16) {
    set_masked(irq, true);
    let mut table = TABLE.lock();
    table[slot_of(irq)].notification = 0;
    table[slot_of(irq)].badge = 0;
}

/// The last IRQHandler cap for `irq` was deleted.
pub fn release(irq: u16) {
    clear(irq);
    TABLE.lock()[slot_of(irq)].issued = false;
}

/// A notification is being destroyed: no interrupt may signal it any more.
pub fn forget_notification(notification: u64) {
    let mut to_mask: heapless::Vec<u16, SOURCES> = heapless::Vec::new();
    for (index, entry) in TABLE.lock().iter_mut().enumerate() {
        if entry.notification == notification {
            entry.notification = 0;
            let irq = if index >= MAX_LINES as usize {
                MSI_IRQ_BASE + (index - MAX_LINES as usize) as u16
            } else {
                index as u16
            };
            let _ = to_mask.push(irq);
        }
    }
    for irq in to_mask {
        set_masked(irq, true);
    }
}

/// The top half: mask the source, end the interrupt, signal the driver.
pub fn handle(irq: u16) {
    crate::stats::count_device_interrupt();
    set_masked(irq, true);
    crate::arch::x86_64::apic::end_of_interrupt();
    let entry = TABLE.lock()[slot_of(irq)];
    if entry.notification == 0 {
        UNHANDLED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    DELIVERED[slot_of(irq)].fetch_add(1, Ordering::Relaxed);
    let _woken = crate::ipc::signal(entry.notification, entry.badge);
}
