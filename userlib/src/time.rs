//! Time for user programs: a monotonic clock read without a system call.
//!
//! The clock is the CPU's time-stamp counter, which ring 3 may read. The
//! kernel measures its rate against the PIT at boot (10 ms window) and hands
//! it to the root task in the boot info; the root task publishes it on every
//! component's status page, where [`crate::component`] picks it up before
//! `main` runs. Under QEMU's `-icount shift=0` the TSC counts guest
//! instructions and the calibration follows, so time stays consistent.
//!
//! Deadlines are [`Instant`]s; waiting for "a signal or a deadline" is
//! [`crate::component::wait_until`] (the kernel's `RecvUntil`, 1 ms
//! resolution).

use core::ops::{Add, Sub};
use core::sync::atomic::{AtomicU64, Ordering};
pub use core::time::Duration;

/// TSC ticks per second (0 until set).
static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// The TSC rate assumed until [`set_tsc_hz`] is called: 1 GHz, which is what
/// the TSC runs at under QEMU's `-icount shift=0`. A component never runs
/// with it (its runtime sets the calibrated rate before `main`).
const UNCALIBRATED_TSC_HZ: u64 = 1_000_000_000;

/// Sets the TSC rate (the runtime does this from the boot info or the
/// status page; a zero rate is ignored).
pub fn set_tsc_hz(hz: u64) {
    if hz != 0 {
        TSC_HZ.store(hz, Ordering::Relaxed);
    }
}

/// TSC ticks per second.
pub fn tsc_hz() -> u64 {
    match TSC_HZ.load(Ordering::Relaxed) {
        0 => UNCALIBRATED_TSC_HZ,
        hz => hz,
    }
}

/// Reads the time-stamp counter.
#[inline]
pub fn read_tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` only reads the counter; the kernel leaves CR4.TSD
        // clear so that user mode may execute it.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// Converts TSC ticks to a duration at `hz` ticks per second.
pub fn ticks_to_duration(ticks: u64, hz: u64) -> Duration {
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(hz.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Converts a duration to TSC ticks at `hz` ticks per second (saturating).
pub fn duration_to_ticks(duration: Duration, hz: u64) -> u64 {
    let ticks = duration.as_nanos() * u128::from(hz) / 1_000_000_000;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// A point in time: a TSC value. Monotonic; meaningful within one boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    tsc: u64,
}

impl Instant {
    /// Now.
    #[inline]
    pub fn now() -> Instant {
        Instant { tsc: read_tsc() }
    }

    /// The instant at TSC value `tsc`.
    pub const fn from_tsc(tsc: u64) -> Instant {
        Instant { tsc }
    }

    /// The TSC value (what the kernel's `RecvUntil` takes as a deadline).
    pub const fn tsc(self) -> u64 {
        self.tsc
    }

    /// The time since the TSC was zero (about the machine's reset), for
    /// clocks that count from an epoch, such as smoltcp's `Instant`.
    pub fn since_boot(self) -> Duration {
        ticks_to_duration(self.tsc, tsc_hz())
    }

    /// The time from `earlier` to `self`; zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        ticks_to_duration(self.tsc.saturating_sub(earlier.tsc), tsc_hz())
    }

    /// The time since this instant.
    pub fn elapsed(self) -> Duration {
        Instant::now().saturating_duration_since(self)
    }

    /// `self + duration`, saturating at the end of time.
    pub fn saturating_add(self, duration: Duration) -> Instant {
        Instant {
            tsc: self
                .tsc
                .saturating_add(duration_to_ticks(duration, tsc_hz())),
        }
    }

    /// Whether this instant has passed.
    pub fn has_passed(self) -> bool {
        Instant::now() >= self
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, duration: Duration) -> Instant {
        self.saturating_add(duration)
    }
}

impl Sub for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// Busy-waits for `duration` without a system call (for register settle
/// times of a few microseconds; use [`crate::component::sleep`] for longer).
pub fn spin_for(duration: Duration) {
    let end = Instant::now() + duration;
    while !end.has_passed() {
        core::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_and_saturate() {
        let hz = 2_500_000_000;
        assert_eq!(duration_to_ticks(Duration::from_millis(2), hz), 5_000_000);
        assert_eq!(ticks_to_duration(5_000_000, hz), Duration::from_millis(2));
        assert_eq!(duration_to_ticks(Duration::MAX, hz), u64::MAX);
        assert_eq!(
            ticks_to_duration(u64::MAX, 1),
            Duration::from_nanos(u64::MAX)
        );
        assert_eq!(
            ticks_to_duration(10, 0),
            Duration::from_nanos(10_000_000_000)
        );
    }

    #[test]
    fn instants_order_and_subtract() {
        set_tsc_hz(1_000_000); // 1 tick = 1 µs
        let a = Instant::from_tsc(1_000);
        let b = a + Duration::from_millis(3);
        assert_eq!(b.tsc(), 4_000);
        assert!(b > a);
        assert_eq!(b - a, Duration::from_millis(3));
        assert_eq!(a - b, Duration::ZERO);
        assert_eq!(
            Instant::from_tsc(u64::MAX) + Duration::from_secs(1),
            Instant::from_tsc(u64::MAX)
        );
        assert_eq!(b.since_boot(), Duration::from_millis(4));
    }
}
