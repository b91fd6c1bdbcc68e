//! The local APIC: interrupt acknowledgement and the scheduler's timer.
//!
//! The timer's rate is unknown until measured, so it is calibrated against
//! the PIT (a fixed 1.193182 MHz clock): count APIC ticks while PIT channel 2
//! counts down 10 ms, then program a periodic interrupt at `TIMER_HZ`. The
//! time-stamp counter is measured over the same 10 ms, which gives user
//! programs a clock they can read without a system call.
use super::cpu;
use super::io::{inb, outb};
use super::paging::phys_to_virt;
use core::sync::atomic::{AtomicU64, Ordering};

/// Vector of the scheduler tick.
pub const TIMER_VECTOR: u8 = 0x30;
/// Vector the APIC uses for spurious interrupts (low nibble must be 0xF).
pub const SPURIOUS_VECTOR: u8 = 0xFF;

const REG_ID: usize = 0x20;
const REG_TPR: usize = 0x80;
const REG_EOI: usize = 0xB0;
const REG_SVR: usize = 0xF0;
/// First of the eight interrupt-request registers (one bit per vector).
const REG_IRR: usize = 0x200;
/// Interrupt command register: low word (vector, mode; writing it sends)
/// and high word (destination APIC id in bits 24..32).
const REG_ICR_LOW: usize = 0x300;
const REG_ICR_HIGH: usize = 0x310;
const REG_LVT_TIMER: usize = 0x320;
const REG_TIMER_INITIAL: usize = 0x380;
const REG_TIMER_CURRENT: usize = 0x390;
const REG_TIMER_DIVIDE: usize = 0x3E0;

const SVR_ENABLE: u32 = 1 << 8;
const LVT_PERIODIC: u32 = 1 << 17;
const LVT_MASKED: u32 = 1 << 16;
/// Divide the bus clock by 16: slow enough that a 10 ms calibration never
/// overflows the 32-bit counter, fine enough for a 1 ms tick.
const DIVIDE_BY_16: u32 = 0x3;

const PIT_HZ: u64 = 1_193_182;
/// Calibration window: long enough to average out emulation jitter, short
/// enough to keep boot fast.
const CALIBRATION_MS: u64 = 10;

static APIC_BASE: AtomicU64 = AtomicU64::new(0);
static TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);
/// TSC ticks per second, measured against the PIT at boot.
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// The TSC rate assumed when the PIT cannot be read: QEMU's TSC under TCG
/// runs at the host's nominal rate, and under `-icount shift=0` at 1 GHz.
const FALLBACK_TSC_HZ: u64 = 1_000_000_000;

/// TSC ticks per second (calibrated in [`init`]).
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

fn register(offset: usize) -> *mut u32 {
    // The base is set in `init` before any register access.
    (phys_to_virt(APIC_BASE.load(Ordering::Relaxed)) as usize + offset) as *mut u32
}

fn read(offset: usize) -> u32 {
    // SAFETY: the local APIC page is mapped uncached in the physical map and
    // `offset` is one of the architectural register offsets above.
    unsafe { core::ptr::read_volatile(register(offset)) }
}

fn write(offset: usize, value: u32) {
    // SAFETY: as for `read`.
    unsafe { core::ptr::write_volatile(register(offset), value) }
}

/// Enables the bootstrap processor's local APIC, calibrates its timer and
/// starts it at `hz`.
pub fn init(hz: u64) {
    let base = cpu::rdmsr(cpu::MSR_APIC_BASE) & 0x000f_ffff_ffff_f000;
    APIC_BASE.store(base, Ordering::Relaxed);
    write(REG_TPR, 0);
    write(REG_SVR, SVR_ENABLE | u32::from(SPURIOUS_VECTOR));

    let ticks_per_ms = calibrate();
    TICKS_PER_MS.store(ticks_per_ms, Ordering::Relaxed);
    start_timer(hz);
    log::debug!(
        "local APIC {:#x} (id {}): timer {} ticks/ms, {} Hz; TSC {} kHz",
        base,
        read(REG_ID) >> 24,
        ticks_per_ms,
        hz,
        tsc_hz() / 1000
    );
}

/// Enables an application processor's local APIC (every core sees its own
/// at the same address) and starts its timer at `hz`, at the rate the
/// bootstrap processor measured: all cores' APIC timers run from one bus clock.
pub fn init_ap(hz: u64) {
    write(REG_TPR, 0);
    write(REG_SVR, SVR_ENABLE | u32::from(SPURIOUS_VECTOR));
    start_timer(hz);
}

fn start_timer(hz: u64) {
    let ticks_per_ms = TICKS_PER_MS.load(Ordering::Relaxed);
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_PERIODIC | u32::from(TIMER_VECTOR));
    let initial = (ticks_per_ms * 1000 / hz).clamp(1, u64::from(u32::MAX));
    write(REG_TIMER_INITIAL, initial as u32);
}

/// This core's local APIC id.
pub fn id() -> u32 {
    read(REG_ID) >> 24
}

/// ICR delivery modes (bits 8..11) and flags.
const ICR_FIXED: u32 = 0;
const ICR_INIT: u32 = 5 << 8;
const ICR_STARTUP: u32 = 6 << 8;
const ICR_LEVEL_ASSERT: u32 = 1 << 14;
/// Set while the APIC is still sending the previous command.
const ICR_SEND_PENDING: u32 = 1 << 12;

/// Writes the interrupt command register: `command` to the core with APIC id
/// `apic_id`, after the previous command has left.
fn send_command(apic_id: u32, command: u32) {
    while read(REG_ICR_LOW) & ICR_SEND_PENDING != 0 {
        core::hint::spin_loop();
    }
    write(REG_ICR_HIGH, apic_id << 24);
    write(REG_ICR_LOW, command);
}

/// Sends the fixed interrupt `vector` to the core with APIC id `apic_id`.
pub fn send_ipi(apic_id: u32, vector: u8) {
    send_command(apic_id, ICR_FIXED | u32::from(vector));
}

/// INIT: puts the core into its wait-for-startup state.
pub fn send_init(apic_id: u32) {
    send_command(apic_id, ICR_INIT | ICR_LEVEL_ASSERT);
}

/// STARTUP: the core starts in real mode at physical `page << 12`.
pub fn send_startup(apic_id: u32, page: u8) {
    send_command(apic_id, ICR_STARTUP | ICR_LEVEL_ASSERT | u32::from(page));
}

/// Counts APIC timer ticks over `CALIBRATION_MS` measured by PIT channel 2.
fn calibrate() -> u64 {
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    // Channel 2 gate on, speaker off (port 0x61 bits 0 and 1).
    outb(0x61, (inb(0x61) & !0x02) | 0x01);
    // Channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count).
    outb(0x43, 0xB0);
    let count = PIT_HZ * CALIBRATION_MS / 1000;
    outb(0x42, count as u8);
    outb(0x42, (count >> 8) as u8);
    // Restart the count by toggling the gate.
    let gate = inb(0x61);
    outb(0x61, gate & !0x01);
    outb(0x61, gate | 0x01);
    write(REG_TIMER_INITIAL, u32::MAX);
    let tsc_start = cpu::rdtsc();
    // Wait for OUT2 (port 0x61 bit 5) to go high; bounded in case the PIT is
    // absent, in which case we fall back to a conservative guess below.
    let mut finished = false;
    for _ in 0..50_000_000u64 {
        if inb(0x61) & 0x20 != 0 {
            finished = true;
            break;
        }
    }
    let elapsed = u64::from(u32::MAX - read(REG_TIMER_CURRENT));
    let tsc_elapsed = cpu::rdtsc().wrapping_sub(tsc_start);
    write(REG_TIMER_INITIAL, 0);
    if !finished || elapsed == 0 || tsc_elapsed == 0 {
        log::warn!("PIT calibration failed; assuming a 1 GHz bus and TSC");
        TSC_HZ.store(FALLBACK_TSC_HZ, Ordering::Relaxed);
        return 1_000_000 / 16;
    }
    TSC_HZ.store(tsc_elapsed * 1000 / CALIBRATION_MS, Ordering::Relaxed);
    (elapsed / CALIBRATION_MS).max(1)
}

/// Whether a timer interrupt is waiting to be delivered (the kernel runs
/// with interrupts disabled; long operations poll this at preemption points).
pub fn timer_interrupt_pending() -> bool {
    let vector = usize::from(TIMER_VECTOR);
    read(REG_IRR + (vector / 32) * 0x10) & (1 << (vector % 32)) != 0
}

/// Signals end of interrupt to the local APIC.
pub fn end_of_interrupt() {
    write(REG_EOI, 0);
}
