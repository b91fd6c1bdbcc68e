//! The kernel's statistics page: counters the kernel keeps up to date in one
//! page of memory that it hands the root task as a read-only frame
//! capability (`bootinfo::slots::KERNEL_STATISTICS`).
//!
//! The root task may map it read-only into a component that system.toml
//! allows to observe the system (the status page's `/proc/interrupts`
//! side). The kernel is the only writer; readers see each word change
//! atomically (aligned 8-byte stores) but the words are not a consistent
//! snapshot of one instant.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// "WARDKSTA" in little-endian ASCII.
pub const KSTATS_MAGIC: u64 = u64::from_le_bytes(*b"WARDKSTA");
/// Bumped whenever the layout below changes.
pub const KSTATS_VERSION: u32 = 2;
/// Interrupt vectors counted (every x86 vector).
pub const VECTORS: usize = 256;
/// Per-core records on the page (the kernel's `MAX_CPUS`).
pub const MAX_CPUS: usize = 16;

/// The statistics page's layout (fits one 4 KiB page).
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct KernelStatistics {
    pub magic: u64,
    pub version: u32,
    pub _reserved: u32,
    /// TSC ticks per second, as calibrated against the PIT at boot.
    pub tsc_hz: u64,
    /// Timer ticks since boot (`kernel-config::TIMER_HZ` per second).
    pub timer_ticks: u64,
    /// Since version 2 the idle time, context switches and system calls
    /// are counted per core only (in `per_cpu`, where each core counts
    /// without sharing a cache line); these three words stay 0. Readers sum
    /// the cores' records (`userlib::kstats` does).
    pub idle_tsc: u64,
    pub context_switches: u64,
    pub syscalls: u64,
    /// Notification signals (user signals, IRQs and kernel signals).
    pub signals: u64,
    /// Timed receives that ended at their deadline.
    pub timeouts: u64,
    /// Cores the kernel runs on.
    pub cpus: u64,
    pub _reserved2: [u64; 6],
    /// Interrupts taken, per vector (exceptions in 0..32 are not counted).
    pub interrupts: [u64; VECTORS],
    /// Per-core counters, by core index (the first `cpus` are in use).
    pub per_cpu: [CpuStatistics; MAX_CPUS],
}

/// One core's counters.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CpuStatistics {
    /// Timer ticks this core took.
    pub timer_ticks: u64,
    /// TSC ticks this core spent in its idle loop.
    pub idle_tsc: u64,
    /// Switches to a different thread on this core.
    pub context_switches: u64,
    /// System calls made on this core.
    pub syscalls: u64,
    /// Inter-processor interrupts this core sent (reschedule and calls).
    pub ipis_sent: u64,
    /// Inter-processor interrupts this core took.
    pub ipis_received: u64,
    /// Reschedule IPIs this core did not send: the woken thread's core was
    /// running a thread of at least its priority, or an IPI was on its way.
    pub ipis_avoided: u64,
    /// TLB shootdowns this core started (each waits for every target).
    pub shootdowns: u64,
    /// Threads this core made stop running on another core.
    pub remote_stalls: u64,
    /// Kernel entries on this core that found the big kernel lock taken.
    pub lock_waits: u64,
    /// Device interrupts (IOAPIC lines and MSIs) this core took.
    pub device_interrupts: u64,
    pub _reserved: u64,
}

const _: () = assert!(core::mem::size_of::<KernelStatistics>() <= 4096);

/// Word offsets of the counters, for readers that see the page as words.
pub mod word {
    pub const MAGIC: usize = 0;
    pub const TSC_HZ: usize = 2;
    pub const TIMER_TICKS: usize = 3;
    pub const IDLE_TSC: usize = 4;
    pub const CONTEXT_SWITCHES: usize = 5;
    pub const SYSCALLS: usize = 6;
    pub const SIGNALS: usize = 7;
    pub const TIMEOUTS: usize = 8;
    pub const CPUS: usize = 9;
    /// The first per-vector interrupt count.
    pub const INTERRUPTS: usize = 16;
    /// The first core's record; core `c`'s is `PER_CPU_WORDS` words further per core.
    pub const PER_CPU: usize = INTERRUPTS + super::VECTORS;
    pub const PER_CPU_WORDS: usize = 12;
    /// Word offsets inside a core's record.
    pub mod cpu {
        pub const TIMER_TICKS: usize = 0;
        pub const IDLE_TSC: usize = 1;
        pub const CONTEXT_SWITCHES: usize = 2;
        pub const SYSCALLS: usize = 3;
        pub const IPIS_SENT: usize = 4;
        pub const IPIS_RECEIVED: usize = 5;
        pub const IPIS_AVOIDED: usize = 6;
        pub const SHOOTDOWNS: usize = 7;
        pub const REMOTE_STALLS: usize = 8;
        pub const LOCK_WAITS: usize = 9;
        pub const DEVICE_INTERRUPTS: usize = 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn word_offsets_match_the_struct() {
        assert_eq!(offset_of!(KernelStatistics, tsc_hz), word::TSC_HZ * 8);
        assert_eq!(
            offset_of!(KernelStatistics, timer_ticks),
            word::TIMER_TICKS * 8
        );
        assert_eq!(offset_of!(KernelStatistics, idle_tsc), word::IDLE_TSC * 8);
        assert_eq!(
            offset_of!(KernelStatistics, context_switches),
            word::CONTEXT_SWITCHES * 8
        );
        assert_eq!(offset_of!(KernelStatistics, syscalls), word::SYSCALLS * 8);
        assert_eq!(offset_of!(KernelStatistics, signals), word::SIGNALS * 8);
        assert_eq!(offset_of!(KernelStatistics, timeouts), word::TIMEOUTS * 8);
        assert_eq!(
            offset_of!(KernelStatistics, interrupts),
            word::INTERRUPTS * 8
        );
        assert_eq!(offset_of!(KernelStatistics, cpus), word::CPUS * 8);
        assert_eq!(offset_of!(KernelStatistics, per_cpu), word::PER_CPU * 8);
        assert_eq!(
            core::mem::size_of::<CpuStatistics>(),
            word::PER_CPU_WORDS * 8
        );
        use word::cpu;
        assert_eq!(offset_of!(CpuStatistics, idle_tsc), cpu::IDLE_TSC * 8);
        assert_eq!(
            offset_of!(CpuStatistics, context_switches),
            cpu::CONTEXT_SWITCHES * 8
        );
        assert_eq!(offset_of!(CpuStatistics, syscalls), cpu::SYSCALLS * 8);
        assert_eq!(offset_of!(CpuStatistics, ipis_sent), cpu::IPIS_SENT * 8);
        assert_eq!(
            offset_of!(CpuStatistics, ipis_received),
            cpu::IPIS_RECEIVED * 8
        );
        assert_eq!(
            offset_of!(CpuStatistics, ipis_avoided),
            cpu::IPIS_AVOIDED * 8
        );
        assert_eq!(offset_of!(CpuStatistics, shootdowns), cpu::SHOOTDOWNS * 8);
        assert_eq!(
            offset_of!(CpuStatistics, remote_stalls),
            cpu::REMOTE_STALLS * 8
        );
        assert_eq!(offset_of!(CpuStatistics, lock_waits), cpu::LOCK_WAITS * 8);
        assert_eq!(
            offset_of!(CpuStatistics, device_interrupts),
            cpu::DEVICE_INTERRUPTS * 8
        );
    }
}
