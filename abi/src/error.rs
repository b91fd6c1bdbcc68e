//! Error codes returned by syscalls and invocations (seL4's set).
//!
//! A failing call returns the code in `rax`; details (which argument, the
//! failed lookup's depth, the valid range) come back in the return registers
//! so that the user library can print a helpful message.

/// Why a syscall or invocation failed.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// An argument is invalid; detail 0 names which argument (0-based).
    InvalidArgument = 1,
    /// A capability argument is of the wrong type or lacks rights; detail 0 names which.
    InvalidCapability = 2,
    /// The operation is not allowed on this object in its current state.
    IllegalOperation = 3,
    /// A number is out of range; details 0 and 1 give the valid minimum and maximum.
    RangeError = 4,
    /// An address or size is misaligned.
    AlignmentError = 5,
    /// A capability lookup failed; details describe where and why.
    FailedLookup = 6,
    /// The message was shorter than the operation needs.
    TruncatedMessage = 7,
    /// The destination slot is occupied; delete its capability first.
    DeleteFirst = 8,
    /// The object has children in the derivation tree; revoke first.
    RevokeFirst = 9,
    /// The untyped has not enough free memory; detail 0 gives the bytes available.
    NotEnoughMemory = 10,
    /// The syscall number is not one the kernel knows.
    UnknownSyscall = 11,
    /// A timed receive reached its deadline with nothing received.
    TimedOut = 12,
}

impl Error {
    /// Decodes an error code; `None` for 0 (success) and unknown codes.
    pub fn from_code(code: u64) -> Option<Error> {
        use Error::*;
        Some(match code {
            1 => InvalidArgument,
            2 => InvalidCapability,
            3 => IllegalOperation,
            4 => RangeError,
            5 => AlignmentError,
            6 => FailedLookup,
            7 => TruncatedMessage,
            8 => DeleteFirst,
            9 => RevokeFirst,
            10 => NotEnoughMemory,
            11 => UnknownSyscall,
            12 => TimedOut,
            _ => return None,
        })
    }

    /// A short human name, as printed by the user library.
    pub fn name(self) -> &'static str {
        use Error::*;
        match self {
            InvalidArgument => "invalid argument",
            InvalidCapability => "invalid capability",
            IllegalOperation => "illegal operation",
            RangeError => "out of range",
            AlignmentError => "misaligned",
            FailedLookup => "capability lookup failed",
            TruncatedMessage => "message truncated",
            DeleteFirst => "slot occupied (delete first)",
            RevokeFirst => "object has children (revoke first)",
            NotEnoughMemory => "not enough memory",
            UnknownSyscall => "unknown syscall",
            TimedOut => "timed out",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in 1..=12 {
            let e = Error::from_code(code).unwrap();
            assert_eq!(e as u64, code);
            assert!(!e.name().is_empty());
        }
        assert_eq!(Error::from_code(0), None);
        assert_eq!(Error::from_code(13), None);
    }
}
