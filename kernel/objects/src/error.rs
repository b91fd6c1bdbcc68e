//! Rich errors for invocations: the `ward_abi::Error` code plus the detail
//! the user library needs to explain it (which argument, where a lookup
//! failed, the valid range, the bytes still available).

use ward_abi::lookup::LookupFailure;
use ward_abi::Error;

/// Which lookup of an operation failed: CNode operations look up a source
/// and a destination slot, and seL4 tells the user which one was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupSide {
    Source,
    Destination,
}

/// The detail that comes with an error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorDetail {
    None,
    /// `InvalidArgument`: the 0-based index of the bad argument.
    Argument(u8),
    /// `InvalidCapability`: which capability argument (0 = the invoked one).
    Capability(u8),
    /// `RangeError`: the valid range, inclusive.
    Range {
        min: u64,
        max: u64,
    },
    /// `FailedLookup`: which lookup and why.
    Lookup {
        side: LookupSide,
        failure: LookupFailure,
    },
    /// `NotEnoughMemory`: bytes still free in the untyped.
    BytesAvailable(u64),
}

/// A failed invocation: what to return to the user, plus a short reason the
/// kernel may print on its debug console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvocationError {
    pub error: Error,
    pub detail: ErrorDetail,
    /// A fixed English phrase saying what was wrong, for kernel logs.
    pub why: &'static str,
}

impl InvocationError {
    pub fn invalid_argument(index: u8, why: &'static str) -> Self {
        Self {
            error: Error::InvalidArgument,
            detail: ErrorDetail::Argument(index),
            why,
        }
    }
    pub fn invalid_capability(index: u8, why: &'static str) -> Self {
        Self {
            error: Error::InvalidCapability,
            detail: ErrorDetail::Capability(index),
            why,
        }
    }
    pub fn illegal(why: &'static str) -> Self {
        Self {
            error: Error::IllegalOperation,
            detail: ErrorDetail::None,
            why,
        }
    }
    pub fn range(min: u64, max: u64, why: &'static str) -> Self {
        Self {
            error: Error::RangeError,
            detail: ErrorDetail::Range { min, max },
            why,
        }
    }
    pub fn alignment(why: &'static str) -> Self {
        Self {
            error: Error::AlignmentError,
            detail: ErrorDetail::None,
            why,
        }
    }
    pub fn lookup(side: LookupSide, failure: LookupFailure) -> Self {
        Self {
            error: Error::FailedLookup,
            detail: ErrorDetail::Lookup { side, failure },
            why: "capability lookup failed",
        }
    }
    pub fn delete_first(why: &'static str) -> Self {
        Self {
            error: Error::DeleteFirst,
            detail: ErrorDetail::None,
            why,
        }
    }
    pub fn revoke_first(why: &'static str) -> Self {
        Self {
            error: Error::RevokeFirst,
            detail: ErrorDetail::None,
            why,
        }
    }
    pub fn not_enough_memory(bytes_available: u64) -> Self {
        Self {
            error: Error::NotEnoughMemory,
            detail: ErrorDetail::BytesAvailable(bytes_available),
            why: "the untyped has not enough free memory",
        }
    }

    /// The detail as four words for the syscall's return registers (after
    /// the error code). Layout per detail kind:
    /// `Argument(i)`/`Capability(i)`: `[i]`; `Range`: `[min, max]`;
    /// `Lookup`: `[side (0 source, 1 destination), kind, a, b]` as in
    /// [`LookupFailure::to_words`]; `BytesAvailable(n)`: `[n]`.
    pub fn detail_words(&self) -> [u64; 4] {
        match self.detail {
            ErrorDetail::None => [0; 4],
            ErrorDetail::Argument(i) | ErrorDetail::Capability(i) => [i as u64, 0, 0, 0],
            ErrorDetail::Range { min, max } => [min, max, 0, 0],
            ErrorDetail::Lookup { side, failure } => {
                let [k, a, b] = failure.to_words();
                [(side == LookupSide::Destination) as u64, k, a, b]
            }
            ErrorDetail::BytesAvailable(n) => [n, 0, 0, 0],
        }
    }
}
