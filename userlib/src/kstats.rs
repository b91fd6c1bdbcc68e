//! Reading the kernel's statistics page (`ward_abi::kstats`) when system.toml
//! maps the `kernel-statistics` region into the component (read-only).

use core::sync::atomic::{AtomicU64, Ordering};

use ward_abi::kstats::{word, KSTATS_MAGIC, MAX_CPUS};

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
        (words.len() >= word::PER_CPU + MAX_CPUS * word::PER_CPU_WORDS
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
    /// Cores the kernel runs on.
    pub fn cpus(&self) -> u64 {
        self.read(word::CPUS).clamp(1, MAX_CPUS as u64)
    }
    /// Counter `field` (`kstats::word::cpu::*`) of core `core`.
    pub fn per_cpu(&self, core: usize, field: usize) -> u64 {
        if core >= MAX_CPUS || field >= word::PER_CPU_WORDS {
            return 0;
        }
        self.read(word::PER_CPU + core * word::PER_CPU_WORDS + field)
    }
    /// Counter `field` summed over every core.
    fn sum(&self, field: usize) -> u64 {
        (0..self.cpus() as usize)
            .map(|core| self.per_cpu(core, field))
            .sum()
    }
    /// TSC ticks the machine spent idle: the cores' idle time averaged over
    /// the cores, so that `elapsed - idle_tsc()` is the machine's busy
    /// share on any number of cores.
    pub fn idle_tsc(&self) -> u64 {
        self.sum(word::cpu::IDLE_TSC) / self.cpus()
    }
    /// Switches to a different thread, on every core.
    pub fn context_switches(&self) -> u64 {
        self.sum(word::cpu::CONTEXT_SWITCHES)
    }
    /// System calls made, on every core.
    pub fn syscalls(&self) -> u64 {
        self.sum(word::cpu::SYSCALLS)
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
