//! What a component's restart policy decides after a fault, as the format
//! defines it (see [`ComponentRec`]): hold, or restart after a backoff that
//! doubles with each restart in a row, up to `max_restarts` in a row; a
//! component that ran at least `min_run_us` starts a fresh row.
//!
//! The supervisor calls [`decide`]; keeping the arithmetic here lets it be
//! tested on the host.

use crate::format::{ComponentRec, RestartPolicy};

/// The largest shift applied to the backoff: after 16 doublings the delay
/// stops growing (and cannot overflow).
const MAX_BACKOFF_DOUBLINGS: u32 = 16;

/// Why a component is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldReason {
    /// Its policy is `hold`.
    Policy,
    /// It used up `max_restarts` restarts in a row.
    OutOfRestarts,
}

/// The supervisor's decision after a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Rebuild it after `backoff_us`; this is restart number `attempt` of
    /// at most `max` in a row.
    Restart {
        attempt: u32,
        max: u32,
        backoff_us: u64,
    },
    /// Keep it stopped.
    Hold(HoldReason),
}

/// Decides for a component that faulted after running `ran_us`
/// microseconds, having been restarted `restarts_in_row` times in a row.
pub fn decide(component: &ComponentRec, restarts_in_row: u32, ran_us: u64) -> Decision {
    if component.restart_policy() == RestartPolicy::Hold {
        return Decision::Hold(HoldReason::Policy);
    }
    let in_row = if ran_us >= component.min_run_us.get() {
        0
    } else {
        restarts_in_row
    };
    let max = component.max_restarts.get();
    if in_row >= max {
        return Decision::Hold(HoldReason::OutOfRestarts);
    }
    let backoff_us = component
        .backoff_us
        .get()
        .saturating_mul(1 << in_row.min(MAX_BACKOFF_DOUBLINGS));
    Decision::Restart {
        attempt: in_row + 1,
        max,
        backoff_us,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromZeros;

    fn component(
        policy: RestartPolicy,
        max: u32,
        backoff_us: u64,
        min_run_us: u64,
    ) -> ComponentRec {
        let mut c = ComponentRec::new_zeroed();
        c.restart = policy as u8;
        c.max_restarts.set(max);
        c.backoff_us.set(backoff_us);
        c.min_run_us.set(min_run_us);
        c
    }

    #[test]
    fn hold_policy_never_restarts() {
        let c = component(RestartPolicy::Hold, 5, 10, 0);
        assert_eq!(decide(&c, 0, 1_000_000), Decision::Hold(HoldReason::Policy));
    }

    #[test]
    fn quick_failures_double_the_backoff_then_hold() {
        let c = component(RestartPolicy::Restart, 3, 10_000, 1_000_000);
        assert_eq!(
            decide(&c, 0, 5),
            Decision::Restart {
                attempt: 1,
                max: 3,
                backoff_us: 10_000
            }
        );
        assert_eq!(
            decide(&c, 1, 5),
            Decision::Restart {
                attempt: 2,
                max: 3,
                backoff_us: 20_000
            }
        );
        assert_eq!(
            decide(&c, 2, 5),
            Decision::Restart {
                attempt: 3,
                max: 3,
                backoff_us: 40_000
            }
        );
        assert_eq!(decide(&c, 3, 5), Decision::Hold(HoldReason::OutOfRestarts));
    }

    #[test]
    fn a_long_run_starts_a_fresh_row() {
        let c = component(RestartPolicy::Restart, 2, 100, 50_000);
        assert_eq!(
            decide(&c, 2, 49_999),
            Decision::Hold(HoldReason::OutOfRestarts)
        );
        assert_eq!(
            decide(&c, 2, 50_000),
            Decision::Restart {
                attempt: 1,
                max: 2,
                backoff_us: 100
            }
        );
    }

    #[test]
    fn zero_restarts_allowed_holds_at_once_and_backoff_saturates() {
        assert_eq!(
            decide(&component(RestartPolicy::Restart, 0, 1, 0), 0, 0),
            Decision::Hold(HoldReason::OutOfRestarts)
        );
        let c = component(RestartPolicy::Restart, u32::MAX, u64::MAX / 2, u64::MAX);
        assert!(matches!(
            decide(&c, 40, 0),
            Decision::Restart {
                backoff_us: u64::MAX,
                ..
            }
        ));
    }
}
