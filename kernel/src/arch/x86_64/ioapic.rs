//! The IOAPIC: routes device interrupt lines (global system interrupts) to
//! vectors on this CPU, and masks them.
//!
//! Every line starts masked. A line is unmasked only when a driver's
//! IRQHandler acknowledges an interrupt, and masked again by the kernel the
//! moment one arrives — so a device that interrupts without end can only
//! starve its own driver, never the kernel.
use super::paging::phys_to_virt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Vector of line 0; line `n` uses `IRQ_VECTOR_BASE + n`. Above the
/// exceptions (0–31), the remapped PICs (0x20–0x2f) and the timer (0x30).
pub const IRQ_VECTOR_BASE: u8 = 0x40;
/// Most lines Ward routes (one IOAPIC; QEMU's has 24).
pub const MAX_LINES: u32 = 24;

const IOREGSEL: usize = 0x00;
const IOWIN: usize = 0x10;
const REG_VERSION: u32 = 0x01;
const MASKED: u32 = 1 << 16;
const LEVEL_TRIGGERED: u32 = 1 << 15;
const ACTIVE_LOW: u32 = 1 << 13;

static BASE: AtomicU64 = AtomicU64::new(0);
static LINES: AtomicU32 = AtomicU32::new(0);

fn select(register: u32) {
    let base = phys_to_virt(BASE.load(Ordering::Relaxed)) as usize;
    // SAFETY: the IOAPIC page is mapped uncached in the physical map; the
    // base came from the firmware's MADT and was checked to be nonzero.
    unsafe { core::ptr::write_volatile((base + IOREGSEL) as *mut u32, register) }
}

fn read(register: u32) -> u32 {
    select(register);
    let base = phys_to_virt(BASE.load(Ordering::Relaxed)) as usize;
    // SAFETY: as in `select`.
    unsafe { core::ptr::read_volatile((base + IOWIN) as *const u32) }
}

fn write(register: u32, value: u32) {
    select(register);
    let base = phys_to_virt(BASE.load(Ordering::Relaxed)) as usize;
    // SAFETY: as in `select`.
    unsafe { core::ptr::write_volatile((base + IOWIN) as *mut u32, value) }
}

/// Finds how many lines the IOAPIC at `base` has and masks them all.
pub fn init(base: u64) {
    if base == 0 {
        return;
    }
    BASE.store(base, Ordering::Relaxed);
    let lines = (((read(REG_VERSION) >> 16) & 0xff) + 1).min(MAX_LINES);
    LINES.store(lines, Ordering::Relaxed);
    for line in 0..lines {
        write(
            0x10 + 2 * line,
            MASKED | (u32::from(IRQ_VECTOR_BASE) + line),
        );
        write(0x11 + 2 * line, 0);
    }
    log::debug!("IOAPIC at {base:#x}: {lines} lines, all masked");
}

/// Number of usable lines (0 without an IOAPIC).
pub fn lines() -> u32 {
    LINES.load(Ordering::Relaxed)
}

/// Routes `line` to its vector on CPU 0 with the given trigger mode and
/// polarity, masked.
pub fn route(line: u32, level_triggered: bool, active_low: bool) {
    let mut low = MASKED | (u32::from(IRQ_VECTOR_BASE) + line);
    if level_triggered {
        low |= LEVEL_TRIGGERED;
    }
    if active_low {
        low |= ACTIVE_LOW;
    }
    write(0x11 + 2 * line, 0); // destination: APIC id 0
    write(0x10 + 2 * line, low);
}

/// Routes `line` through interrupt-remapping entry `handle` (remappable
/// format: the IOMMU supplies vector and destination, after checking the
/// IOAPIC's source id), masked. The vector field must still match the
/// entry's, for end-of-interrupt handling of level-triggered lines.
pub fn route_remapped(line: u32, handle: u16, level_triggered: bool, active_low: bool) {
    let mut low = MASKED | (u32::from(IRQ_VECTOR_BASE) + line) | (u32::from(handle >> 15) << 11);
    if level_triggered {
        low |= LEVEL_TRIGGERED;
    }
    if active_low {
        low |= ACTIVE_LOW;
    }
    let high = (1 << 16) | (u32::from(handle & 0x7fff) << 17);
    write(0x11 + 2 * line, high);
    write(0x10 + 2 * line, low);
}

/// Sends `line` (routed without remapping) to the core with APIC id
/// `destination` (physical destination mode: bits 56..64 of the entry).
pub fn set_destination(line: u32, destination: u8) {
    write(0x11 + 2 * line, u32::from(destination) << 24);
}

/// Masks or unmasks `line`.
pub fn set_masked(line: u32, masked: bool) {
    let low = read(0x10 + 2 * line);
    write(
        0x10 + 2 * line,
        if masked { low | MASKED } else { low & !MASKED },
    );
}
