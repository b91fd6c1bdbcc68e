//! The kernel's statistics page (`ward_abi::kstats`): counters kept in one
//! page of boot memory that the root task holds as a read-only frame.
//!
//! Each core keeps its own record (load, system calls, switches, IPIs sent,
//! received and avoided, shootdowns), which only it writes; the hot
//! counters live there alone and readers sum them (`userlib::kstats`).
//! The machine-wide words (time since boot, signals, timeouts, interrupts
//! per vector) are shared, with atomic adds.
//! The page is allocated when the root task is built; until then (and if
//! it could not be allocated) counting does nothing.
use crate::arch::x86_64::paging::phys_to_virt;
use core::sync::atomic::{AtomicU64, Ordering};
use ward_abi::kstats::{word, KSTATS_MAGIC, KSTATS_VERSION, MAX_CPUS, VECTORS};

const _: () = assert!(MAX_CPUS == ward_kernel_config::MAX_CPUS);

/// Kernel-virtual address of the page (0 = none yet).
static PAGE: AtomicU64 = AtomicU64::new(0);
/// Cores running, kept until the page exists.
static CPUS: AtomicU64 = AtomicU64::new(1);

fn counter(index: usize) -> Option<&'static AtomicU64> {
    let page = PAGE.load(Ordering::Relaxed);
    if page == 0 || index >= 4096 / 8 {
        return None;
    }
    // SAFETY: `page` is the kernel-virtual address of a zeroed 4 KiB page of
    // boot memory that only this module writes (the root task's frame cap is
    // read-only), `index` is inside it, and an aligned u64 is a valid AtomicU64.
    Some(unsafe { &*((page as *const AtomicU64).add(index)) })
}

/// Takes the zeroed page at `paddr` as the statistics page.
pub fn init(paddr: u64, tsc_hz: u64) {
    PAGE.store(phys_to_virt(paddr) as u64, Ordering::Relaxed);
    if let Some(c) = counter(word::TSC_HZ) {
        c.store(tsc_hz, Ordering::Relaxed);
    }
    if let Some(c) = counter(1) {
        c.store(u64::from(KSTATS_VERSION), Ordering::Relaxed);
    }
    if let Some(c) = counter(word::CPUS) {
        c.store(CPUS.load(Ordering::Relaxed), Ordering::Relaxed);
    }
    for (core, record) in crate::cpu_local::CPUS.iter().enumerate() {
        if let Some(c) = counter(word::PER_CPU + core * word::PER_CPU_WORDS) {
            record
                .statistics
                .store(c as *const AtomicU64 as u64, Ordering::Relaxed);
        }
    }
    if let Some(c) = counter(word::MAGIC) {
        c.store(KSTATS_MAGIC, Ordering::Release);
    }
}

/// Records how many cores run.
pub fn set_cpus(cpus: u64) {
    CPUS.store(cpus, Ordering::Relaxed);
    if let Some(c) = counter(word::CPUS) {
        c.store(cpus, Ordering::Relaxed);
    }
}

fn add(index: usize, amount: u64) {
    if let Some(c) = counter(index) {
        c.fetch_add(amount, Ordering::Relaxed);
    }
}

/// Adds to this core's counter `field` (`word::cpu::*`).
#[inline(always)]
fn add_here(field: usize, amount: u64) {
    crate::cpu_local::count(field, amount);
}

pub fn count_interrupt(vector: u64) {
    if (vector as usize) < VECTORS {
        add(word::INTERRUPTS + vector as usize, 1);
    }
}
pub fn count_device_interrupt() {
    add_here(word::cpu::DEVICE_INTERRUPTS, 1);
}
/// A timer tick on this core; the machine-wide count (time since boot)
/// follows the bootstrap processor's timer alone.
pub fn count_timer_tick(bootstrap: bool) {
    if bootstrap {
        add(word::TIMER_TICKS, 1);
    }
    add_here(word::cpu::TIMER_TICKS, 1);
}
#[inline(always)]
pub fn count_syscall() {
    add_here(word::cpu::SYSCALLS, 1);
}
pub fn count_signal() {
    add(word::SIGNALS, 1);
}
pub fn count_timeout() {
    add(word::TIMEOUTS, 1);
}
#[inline(always)]
pub fn count_context_switch() {
    add_here(word::cpu::CONTEXT_SWITCHES, 1);
}
pub fn add_idle(ticks: u64) {
    add_here(word::cpu::IDLE_TSC, ticks);
}
pub fn count_ipi_sent() {
    add_here(word::cpu::IPIS_SENT, 1);
}
pub fn count_ipi_received() {
    add_here(word::cpu::IPIS_RECEIVED, 1);
}
pub fn count_ipi_avoided() {
    add_here(word::cpu::IPIS_AVOIDED, 1);
}
pub fn count_shootdown() {
    add_here(word::cpu::SHOOTDOWNS, 1);
}
pub fn count_remote_stall() {
    add_here(word::cpu::REMOTE_STALLS, 1);
}
pub fn count_lock_wait() {
    add_here(word::cpu::LOCK_WAITS, 1);
}
