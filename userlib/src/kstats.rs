//! Reading the kernel's statistics page (`ward_abi::kstats`) when system.toml
//! maps the `kernel-statistics` region into the component (read-only).

use core::sync::atomic::{AtomicU64, Ordering};

use ward_abi::kstats::{word, KSTATS_MAGIC, VECTORS};

use crate::spec::Mapping;

/// A read-only view of the kernel's statistics page.
pub struct KernelStatistics {
    words: &'static [AtomicU64],
}

impl KernelStatistics {
    /// The page as the caps table maps it; `None` if it is not the
    /// statistics page (wrong magic) or too small.
    pub fn of(mapping: Mapping) -> Option<KernelStatistics> {
        let words = crate::region::words64(mapping);
        let page = KernelStatistics { words };
        (words.len() >= word::INTERRUPTS + VECTORS
            && words[word::MAGIC].load(Ordering::Acquire) == KSTATS_MAGIC)
            .then_some(page)
    }

    fn read(&self, index: usize) -> u64 {
        self.words[index].load(Ordering::Relaxed)
    }

    /// TSC ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        self.read(word::TSC_HZ)
    }
    /// Kernel timer ticks since boot.
    pub fn timer_ticks(&self) -> u64 {
        self.read(word::TIMER_TICKS)
    }
    /// TSC ticks spent idle.
    pub fn idle_tsc(&self) -> u64 {
        self.read(word::IDLE_TSC)
    }
    /// Switches to a different thread.
    pub fn context_switches(&self) -> u64 {
        self.read(word::CONTEXT_SWITCHES)
    }
    /// System calls made.
    pub fn syscalls(&self) -> u64 {
        self.read(word::SYSCALLS)
    }
    /// Notification signals.
    pub fn signals(&self) -> u64 {
        self.read(word::SIGNALS)
    }
    /// Timed receives that reached their deadline.
    pub fn timeouts(&self) -> u64 {
        self.read(word::TIMEOUTS)
    }
    /// Interrupts taken on `vector`.
    pub fn interrupts(&self, vector: u8) -> u64 {
        self.read(word::INTERRUPTS + usize::from(vector))
    }
}
