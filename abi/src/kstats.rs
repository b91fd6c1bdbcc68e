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
pub const KSTATS_VERSION: u32 = 1;
/// Interrupt vectors counted (every x86 vector).
pub const VECTORS: usize = 256;

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
    /// TSC ticks the CPU spent in the idle loop.
    pub idle_tsc: u64,
    /// Times the kernel switched to a different thread.
    pub context_switches: u64,
    /// System calls made.
    pub syscalls: u64,
    /// Notification signals (user signals, IRQs and kernel signals).
    pub signals: u64,
    /// Timed receives that ended at their deadline.
    pub timeouts: u64,
    pub _reserved2: [u64; 7],
    /// Interrupts taken, per vector (exceptions in 0..32 are not counted).
    pub interrupts: [u64; VECTORS],
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
    /// The first per-vector interrupt count.
    pub const INTERRUPTS: usize = 16;
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
    }
}
