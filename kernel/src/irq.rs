//! Interrupts as notifications: IRQControl makes IRQHandler capabilities for
//! IOAPIC lines; an IRQHandler binds its line to a notification (with the
//! notification cap's badge), acknowledges, and clears.
//!
//! The kernel's part is the top half only: when a line fires, mask it, tell
//! the local APIC the interrupt is done, and signal the notification. The
//! driver's thread does the work (the bottom half) and then acknowledges,
//! which unmasks the line. Interrupts nobody handles are counted.
use crate::arch::x86_64::ioapic::{self, IRQ_VECTOR_BASE, MAX_LINES};
use crate::kobj::objects;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;
use ward_abi::rights::CapRights;
use ward_kernel_objects::{Cap, InvocationError, Slot};

#[derive(Clone, Copy)]
struct Line {
    /// An IRQHandler capability exists for this line.
    issued: bool,
    /// The notification to signal (physical address; 0 = none) and the badge.
    notification: u64,
    badge: u64,
}

const FREE: Line = Line { issued: false, notification: 0, badge: 0 };
static LINES: Mutex<[Line; MAX_LINES as usize]> = Mutex::new([FREE; MAX_LINES as usize]);

/// Per-line delivery counts, for statistics.
pub static DELIVERED: [AtomicU64; MAX_LINES as usize] = [const { AtomicU64::new(0) }; MAX_LINES as usize];
/// Interrupts on lines with no notification bound.
pub static UNHANDLED: AtomicU64 = AtomicU64::new(0);

/// Whether `vector` belongs to an IOAPIC line; the line if so.
pub fn line_of(vector: u64) -> Option<u32> {
    let base = u64::from(IRQ_VECTOR_BASE);
    (base..base + u64::from(ioapic::lines())).contains(&vector).then(|| (vector - base) as u32)
}

/// `irq_control_get(index, depth, line, level_triggered, active_low)`.
pub fn control_get(line: u64, level_triggered: bool, active_low: bool, dest: Slot) -> Result<(), InvocationError> {
    let lines = u64::from(ioapic::lines());
    if line >= lines {
        return Err(InvocationError::range(0, lines.saturating_sub(1), "no such interrupt line"));
    }
    if !objects().cap(dest).is_null() {
        return Err(InvocationError::delete_first("the destination slot is occupied"));
    }
    let mut table = LINES.lock();
    if table[line as usize].issued {
        return Err(InvocationError::illegal("a handler for this line already exists (one IRQ, one driver)"));
    }
    objects().insert_original(dest, Cap::IrqHandler { irq: line as u16 })?;
    table[line as usize] = Line { issued: true, notification: 0, badge: 0 };
    ioapic::route(line as u32, level_triggered, active_low);
    Ok(())
}

/// `irq_handler_set_notification(notification)`: the line's interrupts
/// signal this notification with the cap's badge.
pub fn set_notification(line: u16, notification: Cap) -> Result<(), InvocationError> {
    let Cap::Notification { object, badge, rights } = notification else {
        return Err(InvocationError::invalid_capability(0, "not a notification capability"));
    };
    if !rights.contains(CapRights::WRITE) {
        return Err(InvocationError::invalid_capability(0, "delivering interrupts needs the write right"));
    }
    let mut table = LINES.lock();
    let entry = &mut table[line as usize];
    entry.notification = object;
    entry.badge = badge;
    Ok(())
}

/// `irq_handler_ack()`: the driver handled the last interrupt; unmask.
pub fn ack(line: u16) -> Result<(), InvocationError> {
    if LINES.lock()[line as usize].notification == 0 {
        return Err(InvocationError::illegal("set a notification before acknowledging"));
    }
    ioapic::set_masked(u32::from(line), false);
    Ok(())
}

/// `irq_handler_clear()`: unbind the notification and mask the line.
pub fn clear(line: u16) {
    ioapic::set_masked(u32::from(line), true);
    let mut table = LINES.lock();
    table[line as usize].notification = 0;
    table[line as usize].badge = 0;
}

/// The last IRQHandler cap for `line` was deleted.
pub fn release(line: u16) {
    clear(line);
    LINES.lock()[line as usize].issued = false;
}

/// A notification is being destroyed: no line may signal it any more.
pub fn forget_notification(notification: u64) {
    for (line, entry) in LINES.lock().iter_mut().enumerate() {
        if entry.notification == notification {
            entry.notification = 0;
            ioapic::set_masked(line as u32, true);
        }
    }
}

/// The top half: mask the line, end the interrupt, signal the driver.
pub fn handle(line: u32) {
    ioapic::set_masked(line, true);
    crate::arch::x86_64::apic::end_of_interrupt();
    let entry = LINES.lock()[line as usize];
    if entry.notification == 0 {
        UNHANDLED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    DELIVERED[line as usize].fetch_add(1, Ordering::Relaxed);
    crate::ipc::signal(entry.notification, entry.badge);
}
