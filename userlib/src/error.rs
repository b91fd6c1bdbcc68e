//! Errors of syscalls and kernel invocations, with the detail words the
//! kernel returns, decoded into a message a person can act on.
//!
//! A failing call returns an [`Error`] code in `rax` and four detail words in
//! the message-register return registers (see `ward_abi::message`). Which
//! word means what depends on the error (docs/kernel.md, "Errors"):
//!
//! | error | detail words |
//! |---|---|
//! | `InvalidArgument` | `[index of the bad word argument]` |
//! | `InvalidCapability` | `[index of the bad capability; 0 = the invoked one]` |
//! | `RangeError` | `[minimum, maximum]` (inclusive) |
//! | `FailedLookup` | `[side (0 source, 1 destination), kind, a, b]` (`LookupFailure::to_words`) |
//! | `NotEnoughMemory` | `[bytes available]` |
//!
//! [`InvocationError`] keeps the raw words and the invocation label, so its
//! `Display` can name the argument ("argument 1 (size_bits)") from the
//! invocation's declaration in `ward_abi::invocation`.

use core::fmt;

use ward_abi::invocation::InvocationLabel;
use ward_abi::lookup::LookupFailure;
pub use ward_abi::Error;

/// A failed syscall or invocation: the error code and its detail words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvocationError {
    /// What went wrong.
    pub error: Error,
    /// The detail words, as the kernel returned them.
    pub details: [u64; 4],
    /// The invocation that failed, when it was one (for naming arguments).
    pub label: Option<InvocationLabel>,
}

impl InvocationError {
    /// Decodes a non-zero error code and its detail words. A code the
    /// library does not know becomes `IllegalOperation` with the code in the
    /// last detail word, so nothing is lost.
    pub fn from_code(
        code: u64,
        details: [u64; 4],
        label: Option<InvocationLabel>,
    ) -> InvocationError {
        match Error::from_code(code) {
            Some(error) => InvocationError {
                error,
                details,
                label,
            },
            None => InvocationError {
                error: Error::IllegalOperation,
                details: [details[0], details[1], details[2], code],
                label,
            },
        }
    }

    /// An error made by the library itself (not the kernel), for example a
    /// message longer than the IPC buffer can hold.
    pub const fn local(error: Error, details: [u64; 4]) -> InvocationError {
        InvocationError {
            error,
            details,
            label: None,
        }
    }

    /// For `InvalidArgument`: the index of the bad word argument.
    pub fn argument_index(&self) -> Option<u64> {
        (self.error == Error::InvalidArgument).then_some(self.details[0])
    }

    /// For `RangeError`: the valid range (inclusive).
    pub fn valid_range(&self) -> Option<(u64, u64)> {
        (self.error == Error::RangeError).then_some((self.details[0], self.details[1]))
    }

    /// For `NotEnoughMemory`: the bytes still free in the untyped.
    pub fn bytes_available(&self) -> Option<u64> {
        (self.error == Error::NotEnoughMemory).then_some(self.details[0])
    }

    /// For `FailedLookup`: which side failed and why. For a syscall's own
    /// lookup (no label) the "side" is the phase: source = send,
    /// destination = receive.
    pub fn lookup_failure(&self) -> Option<(LookupSide, Option<LookupFailure>)> {
        if self.error != Error::FailedLookup {
            return None;
        }
        let side = if self.details[0] == 1 {
            LookupSide::Destination
        } else {
            LookupSide::Source
        };
        Some((
            side,
            LookupFailure::from_words([self.details[1], self.details[2], self.details[3]]),
        ))
    }
}

/// Which lookup of a two-lookup operation (CNode copy, move, ...) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupSide {
    Source,
    Destination,
}

impl fmt::Display for LookupSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LookupSide::Source => "source",
            LookupSide::Destination => "destination",
        })
    }
}

/// Writes a lookup failure in words.
pub fn describe_lookup_failure(f: &mut fmt::Formatter<'_>, failure: LookupFailure) -> fmt::Result {
    match failure {
        LookupFailure::InvalidRoot => write!(f, "the root is not a CNode capability"),
        LookupFailure::MissingCapability { bits_left } => {
            write!(f, "reached an empty or unsuitable slot with {bits_left} bits left")
        }
        LookupFailure::DepthMismatch { bits_left, bits_found } => write!(
            f,
            "depth mismatch: a CNode needed {bits_found} bits but {bits_left} were left"
        ),
        LookupFailure::GuardMismatch { bits_left, guard_found, guard_bits } => write!(
            f,
            "guard mismatch with {bits_left} bits left: the CNode's {guard_bits}-bit guard is {guard_found:#x}"
        ),
    }
}

impl fmt::Display for InvocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(label) = self.label {
            write!(f, "{label:?}: ")?;
        }
        write!(f, "{}", self.error.name())?;
        let d = self.details;
        match self.error {
            Error::InvalidArgument => {
                write!(f, ": argument {}", d[0])?;
                if let Some(label) = self.label {
                    write!(f, " ({})", label.declaration().word_name(d[0]))?;
                }
                Ok(())
            }
            // 0 is the invoked capability; 1.. are the capability arguments
            // 0.. (as in seL4).
            Error::InvalidCapability => match d[0] {
                0 => write!(f, ": the invoked capability has the wrong type or rights"),
                n => {
                    write!(f, ": capability argument {}", n - 1)?;
                    if let Some(name) = self.label.and_then(|l| l.declaration().cap_name(n - 1)) {
                        write!(f, " ({name})")?;
                    }
                    write!(f, " has the wrong type or rights")
                }
            },
            Error::TruncatedMessage => {
                write!(f, ": argument {} is missing", d[0])?;
                if let Some(label) = self.label {
                    write!(f, " ({})", label.declaration().word_name(d[0]))?;
                }
                Ok(())
            }
            Error::RangeError => write!(f, ": valid range is {}..={}", d[0], d[1]),
            Error::NotEnoughMemory => write!(f, ": {} bytes available", d[0]),
            Error::FailedLookup => {
                let (side, failure) = self.lookup_failure().expect("error is FailedLookup");
                // Invocations say which of their lookups failed; a syscall's own
                // lookup (no label) says whether it was the send or receive phase.
                match (self.label, side) {
                    (Some(_), side) => write!(f, " ({side}): ")?,
                    (None, LookupSide::Source) => write!(f, " (send phase): ")?,
                    (None, LookupSide::Destination) => write!(f, " (receive phase): ")?,
                }
                match failure {
                    Some(failure) => describe_lookup_failure(f, failure),
                    None => write!(f, "unknown failure kind {}", d[1]),
                }
            }
            Error::IllegalOperation if d[3] != 0 && Error::from_code(d[3]).is_none() => {
                write!(f, " (the kernel returned unknown error code {})", d[3])
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    fn err(error: Error, details: [u64; 4], label: Option<InvocationLabel>) -> InvocationError {
        InvocationError {
            error,
            details,
            label,
        }
    }

    #[test]
    fn names_the_argument() {
        let e = err(
            Error::InvalidArgument,
            [1, 0, 0, 0],
            Some(InvocationLabel::UntypedRetype),
        );
        assert_eq!(
            e.to_string(),
            "UntypedRetype: invalid argument: argument 1 (size_bits)"
        );
        assert_eq!(e.argument_index(), Some(1));
        let e = err(
            Error::InvalidArgument,
            [9, 0, 0, 0],
            Some(InvocationLabel::CNodeDelete),
        );
        assert!(
            e.to_string()
                .ends_with("argument 9 (beyond the 2 word arguments the invocation takes)"),
            "{e}"
        );
    }

    /// Every invocation names every argument an error can point at: its
    /// declared words, its tail, and past its end; and each capability
    /// argument. No "(?)" anywhere.
    #[test]
    fn no_invocation_has_an_unnamed_argument() {
        for label in InvocationLabel::ALL.iter().copied() {
            for index in 0..24 {
                for error in [Error::InvalidArgument, Error::TruncatedMessage] {
                    let text = err(error, [index, 0, 0, 0], Some(label)).to_string();
                    assert!(!text.contains("(?)") && !text.contains("()"), "{text}");
                }
            }
            for (index, cap) in label.declaration().caps.iter().enumerate() {
                let text = err(
                    Error::InvalidCapability,
                    [index as u64 + 1, 0, 0, 0],
                    Some(label),
                )
                .to_string();
                assert!(text.contains(&std::format!("({})", cap.name)), "{text}");
            }
        }
    }

    #[test]
    fn says_which_capability_and_which_argument_is_missing() {
        let e = err(
            Error::InvalidCapability,
            [2, 0, 0, 0],
            Some(InvocationLabel::TcbConfigure),
        );
        assert!(
            e.to_string()
                .contains("capability argument 1 (vspace_root) has the wrong type"),
            "{e}"
        );
        let e = err(
            Error::InvalidCapability,
            [0, 0, 0, 0],
            Some(InvocationLabel::TcbConfigure),
        );
        assert!(
            e.to_string()
                .contains("the invoked capability has the wrong type"),
            "{e}"
        );
        let e = err(
            Error::TruncatedMessage,
            [5, 0, 0, 0],
            Some(InvocationLabel::CNodeMint),
        );
        assert!(
            e.to_string().ends_with("argument 5 is missing (badge)"),
            "{e}"
        );
    }

    #[test]
    fn shows_range_and_memory() {
        let e = err(Error::RangeError, [4, 47, 0, 0], None);
        assert_eq!(e.to_string(), "out of range: valid range is 4..=47");
        assert_eq!(e.valid_range(), Some((4, 47)));
        let e = err(Error::NotEnoughMemory, [4096, 0, 0, 0], None);
        assert_eq!(e.to_string(), "not enough memory: 4096 bytes available");
        assert_eq!(e.bytes_available(), Some(4096));
        assert_eq!(e.valid_range(), None);
    }

    #[test]
    fn explains_lookup_failures() {
        let words = LookupFailure::GuardMismatch {
            bits_left: 64,
            guard_found: 0x3,
            guard_bits: 4,
        }
        .to_words();
        let e = err(
            Error::FailedLookup,
            [1, words[0], words[1], words[2]],
            Some(InvocationLabel::CNodeCopy),
        );
        let text = e.to_string();
        assert!(
            text.contains("(destination)") && text.contains("4-bit guard is 0x3"),
            "{text}"
        );
        let words = LookupFailure::MissingCapability { bits_left: 0 }.to_words();
        let e = err(
            Error::FailedLookup,
            [0, words[0], words[1], words[2]],
            Some(InvocationLabel::CNodeMove),
        );
        assert!(e.to_string().contains("(source): reached an empty"), "{e}");
        let syscall = err(Error::FailedLookup, [1, words[0], words[1], words[2]], None);
        assert!(
            syscall
                .to_string()
                .contains("(receive phase): reached an empty"),
            "{syscall}"
        );
        assert_eq!(
            e.lookup_failure(),
            Some((
                LookupSide::Source,
                Some(LookupFailure::MissingCapability { bits_left: 0 })
            ))
        );
        let e = err(Error::FailedLookup, [0, 77, 0, 0], None);
        assert!(e.to_string().contains("unknown failure kind 77"), "{e}");
    }

    #[test]
    fn keeps_unknown_codes() {
        let e = InvocationError::from_code(999, [1, 2, 3, 4], None);
        assert_eq!(e.error, Error::IllegalOperation);
        assert_eq!(e.details, [1, 2, 3, 999]);
        assert!(e.to_string().contains("unknown error code 999"), "{e}");
        let e = InvocationError::from_code(4, [0, 10, 0, 0], None);
        assert_eq!(e.error, Error::RangeError);
    }
}
