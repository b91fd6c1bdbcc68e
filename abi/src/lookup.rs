//! Why a capability lookup failed: the detail of a `FailedLookup` error.
//!
//! A lookup walks a guarded CNode tree, consuming the CPtr's bits from the
//! most significant end: at each CNode first the guard, then the radix bits
//! that select a slot. `bits_left` is always how many of the requested
//! `depth` bits were still unresolved when the walk stopped, so a user can
//! tell at which level the tree did not match.

/// A failed capability lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupFailure {
    /// The root of the walk is not a CNode capability.
    InvalidRoot,
    /// The walk reached an empty slot, or a slot whose capability is not the
    /// kind the operation needs, with `bits_left` bits unresolved.
    MissingCapability { bits_left: u32 },
    /// The requested depth does not end on a CNode boundary: a CNode needed
    /// `bits_found` bits but only `bits_left` remained (or the walk resolved
    /// a slot with bits still left where the operation needs an exact depth).
    DepthMismatch { bits_left: u32, bits_found: u32 },
    /// The CPtr's bits did not match a CNode's guard.
    GuardMismatch {
        bits_left: u32,
        guard_found: u64,
        guard_bits: u32,
    },
}

impl LookupFailure {
    /// Encodes the failure as three words for the syscall's return registers:
    /// `[kind, a, b]` with kind 1..=4 in declaration order.
    pub fn to_words(self) -> [u64; 3] {
        match self {
            LookupFailure::InvalidRoot => [1, 0, 0],
            LookupFailure::MissingCapability { bits_left } => [2, bits_left as u64, 0],
            LookupFailure::DepthMismatch {
                bits_left,
                bits_found,
            } => [3, bits_left as u64, bits_found as u64],
            LookupFailure::GuardMismatch {
                bits_left,
                guard_found,
                guard_bits,
            } => {
                // The guard size fits in 7 bits; pack it with bits_left.
                [
                    4,
                    (bits_left as u64) | ((guard_bits as u64) << 8),
                    guard_found,
                ]
            }
        }
    }

    /// Decodes [`LookupFailure::to_words`]; `None` for an unknown kind.
    pub fn from_words(words: [u64; 3]) -> Option<LookupFailure> {
        Some(match words[0] {
            1 => LookupFailure::InvalidRoot,
            2 => LookupFailure::MissingCapability {
                bits_left: words[1] as u32,
            },
            3 => LookupFailure::DepthMismatch {
                bits_left: words[1] as u32,
                bits_found: words[2] as u32,
            },
            4 => LookupFailure::GuardMismatch {
                bits_left: (words[1] & 0xff) as u32,
                guard_bits: ((words[1] >> 8) & 0xff) as u32,
                guard_found: words[2],
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for f in [
            LookupFailure::InvalidRoot,
            LookupFailure::MissingCapability { bits_left: 7 },
            LookupFailure::DepthMismatch {
                bits_left: 3,
                bits_found: 8,
            },
            LookupFailure::GuardMismatch {
                bits_left: 64,
                guard_found: 0xabc,
                guard_bits: 12,
            },
        ] {
            assert_eq!(LookupFailure::from_words(f.to_words()), Some(f));
        }
        assert_eq!(LookupFailure::from_words([0, 0, 0]), None);
    }
}
