//! Signal suppression and watermarks.
//!
//! Each side can ask the other for a signal by writing a *wake-at* index: the
//! free-running ring index whose publication (consumer's request) or release
//! (producer's request) should trigger a signal. After publishing an index
//! range, a side fences and checks whether the peer's wake-at index fell in
//! that range; only then does it return [`Notify::Signal`]. The side that asks
//! re-checks the ring after asking (store, fence, load on both sides), so at
//! least one of the two sees the other and no wake-up is lost. The signal
//! itself is the caller's business (a notification capability on Ward).

/// Whether the caller should signal the peer now.
#[must_use = "dropping a Notify::Signal loses a wake-up"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// The peer asked to be woken by what was just published: signal it.
    Signal,
    /// The peer did not ask; stay quiet.
    Quiet,
}

impl Notify {
    /// True for [`Notify::Signal`].
    #[inline]
    pub const fn should_signal(self) -> bool {
        matches!(self, Notify::Signal)
    }

    /// `Signal` if either is.
    #[inline]
    pub const fn or(self, other: Notify) -> Notify {
        if self.should_signal() || other.should_signal() {
            Notify::Signal
        } else {
            Notify::Quiet
        }
    }
}

/// Which sides of one ring may sleep waiting for the other's signal. Part of
/// the parameters both sides agree on (and of the region header, so that a
/// disagreement is caught at attach time).
///
/// Whether a side may sleep decides whether the *other* side must pay for a
/// full fence and a signal decision on every publish or release; a side that
/// only ever polls spares its peer that cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalPolicy {
    /// The consumer may sleep until entries arrive; the producer checks on publish.
    pub consumer_sleeps: bool,
    /// The producer may sleep until slots free up; the consumer checks on release.
    pub producer_sleeps: bool,
}

impl SignalPolicy {
    /// Either side may sleep.
    pub const BOTH: Self = Self {
        consumer_sleeps: true,
        producer_sleeps: true,
    };
    /// Only the consumer sleeps; a producer facing a full ring retries later.
    pub const CONSUMER_ONLY: Self = Self {
        consumer_sleeps: true,
        producer_sleeps: false,
    };
    /// Neither sleeps: both poll, as in a NAPI busy-poll loop.
    pub const POLLED: Self = Self {
        consumer_sleeps: false,
        producer_sleeps: false,
    };

    /// The policy as two bits (consumer, producer) for the region header.
    pub const fn bits(self) -> u32 {
        (self.consumer_sleeps as u32) | ((self.producer_sleeps as u32) << 1)
    }
}

/// The answer to "may I sleep now?".
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitDecision {
    /// The request for a signal is recorded and the ring is still short of
    /// what was asked for: wait for the peer's signal.
    Sleep,
    /// Enough arrived while asking: carry on without waiting.
    Ready,
    /// The agreed [`SignalPolicy`] does not let this side sleep, so the peer
    /// will never signal: poll again.
    Poll,
}

/// True when advancing an index from `old` to `new` passes `wake_at`, that is
/// when `wake_at` is one of the indices `old..new` (all free-running, so the
/// comparison is done in wrapping arithmetic).
#[inline(always)]
pub const fn passes(wake_at: u32, old: u32, new: u32) -> bool {
    new.wrapping_sub(wake_at).wrapping_sub(1) < new.wrapping_sub(old)
}

/// Occupancy thresholds for interrupt mitigation in the manner of NAPI: above
/// `high`, keep the peer's signals off and poll; below `low`, ask for signals
/// again. `low <= high <= capacity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watermarks {
    low: u32,
    high: u32,
}

/// Where a ring's occupancy stands against its [`Watermarks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pressure {
    /// Fewer than `low` entries.
    BelowLow,
    /// Between the marks (`low..=high`).
    Between,
    /// More than `high` entries.
    AboveHigh,
}

impl Watermarks {
    /// `None` unless `low <= high <= capacity`.
    pub const fn new(low: u32, high: u32, capacity: u32) -> Option<Self> {
        if low <= high && high <= capacity {
            Some(Self { low, high })
        } else {
            None
        }
    }

    /// The low mark.
    pub const fn low(&self) -> u32 {
        self.low
    }

    /// The high mark.
    pub const fn high(&self) -> u32 {
        self.high
    }

    /// Classifies an occupancy.
    pub const fn pressure(&self, occupancy: u32) -> Pressure {
        if occupancy < self.low {
            Pressure::BelowLow
        } else if occupancy > self.high {
            Pressure::AboveHigh
        } else {
            Pressure::Between
        }
    }
}
