//! Fault messages: what a fault handler receives when a thread faults.
//!
//! The kernel turns a thread's fault into a `Call` on its fault endpoint:
//! the message label says which fault, the message registers carry its
//! details, the badge says who faulted. Replying resumes the thread (for an
//! unknown syscall or user exception, reply words 0..3 replace `rip`, `rsp`
//! and `rflags`); a reply with a non-zero label leaves it suspended. Labels
//! and word layouts are `ward_abi::fault`'s.

use crate::error::describe_lookup_failure;
use crate::ipc_buffer::IpcBuffer;
use crate::message::received_word;
use crate::syscall::Received;
use core::fmt;
use ward_abi::lookup::LookupFailure;

/// Message labels of fault messages.
pub mod label {
    pub use ward_abi::fault::{CAP_FAULT, UNKNOWN_SYSCALL, USER_EXCEPTION, VM_FAULT};
}

/// A decoded fault message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Page fault: where (`rip`), which address, whether it was an
    /// instruction fetch, and the x86 page-fault error code (bit 0 present,
    /// bit 1 write, bit 2 user, bit 4 instruction fetch).
    VmFault {
        rip: u64,
        address: u64,
        instruction_fetch: bool,
        error_code: u64,
    },
    /// CPU exception `number` (with its error code) at `rip`.
    UserException {
        rip: u64,
        rsp: u64,
        rflags: u64,
        number: u64,
        code: u64,
    },
    /// An unknown syscall: its number, the thread's `rip`, `rsp` and
    /// `rflags`, and its first two arguments (`rdi`, `rsi`).
    UnknownSyscall {
        rip: u64,
        rsp: u64,
        rflags: u64,
        number: u64,
        rdi: u64,
        rsi: u64,
    },
    /// A capability fault: the CPtr that failed to resolve, whether the
    /// thread was in the receive phase, and the lookup failure.
    CapFault {
        rip: u64,
        cptr: u64,
        in_receive_phase: bool,
        failure: Option<LookupFailure>,
    },
    /// A label this library does not know.
    Unknown { label: u64 },
}

impl Fault {
    /// Decodes the message `received` (registers 4.. from `buffer`).
    pub fn decode(received: &Received, buffer: &IpcBuffer) -> Fault {
        let word = |i: usize| received_word(buffer, &received.mrs, i);
        match received.info.label() {
            label::VM_FAULT => Fault::VmFault {
                rip: word(0),
                address: word(1),
                instruction_fetch: word(2) != 0,
                error_code: word(3),
            },
            label::USER_EXCEPTION => Fault::UserException {
                rip: word(0),
                rsp: word(1),
                rflags: word(2),
                number: word(3),
                code: word(4),
            },
            label::UNKNOWN_SYSCALL => Fault::UnknownSyscall {
                rip: word(0),
                rsp: word(1),
                rflags: word(2),
                number: word(3),
                rdi: word(4),
                rsi: word(5),
            },
            label::CAP_FAULT => Fault::CapFault {
                rip: word(0),
                cptr: word(1),
                in_receive_phase: word(2) != 0,
                failure: LookupFailure::from_words([word(3), word(4), word(5)]),
            },
            other => Fault::Unknown { label: other },
        }
    }

    /// Where the thread was when it faulted (0 if unknown).
    pub fn rip(&self) -> u64 {
        match *self {
            Fault::VmFault { rip, .. }
            | Fault::UserException { rip, .. }
            | Fault::UnknownSyscall { rip, .. }
            | Fault::CapFault { rip, .. } => rip,
            Fault::Unknown { .. } => 0,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fault::VmFault {
                rip,
                address,
                instruction_fetch,
                error_code,
            } => write!(
                f,
                "page fault at rip {rip:#x}: {} {address:#x} (error code {error_code:#x})",
                if instruction_fetch {
                    "fetch from"
                } else if error_code & 2 != 0 {
                    "write to"
                } else {
                    "read from"
                }
            ),
            Fault::UserException {
                rip, number, code, ..
            } => {
                write!(f, "exception {number} (code {code:#x}) at rip {rip:#x}")
            }
            Fault::UnknownSyscall { number, rip, .. } => {
                write!(f, "unknown syscall {number:#x} at rip {rip:#x}")
            }
            Fault::CapFault {
                rip,
                cptr,
                in_receive_phase,
                failure,
            } => {
                write!(f, "capability fault at rip {rip:#x} on CPtr {cptr:#x}")?;
                if in_receive_phase {
                    write!(f, " (receive phase)")?;
                }
                if let Some(failure) = failure {
                    write!(f, ": ")?;
                    describe_lookup_failure(f, failure)?;
                }
                Ok(())
            }
            Fault::Unknown { label } => write!(f, "fault with unknown label {label}"),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::message::MessageInfo;
    use std::string::ToString;
    use ward_abi::message::IpcBuffer as Layout;
    use zerocopy::FromZeros;

    #[test]
    fn decodes_and_describes_faults() {
        let mut layout = Layout::new_zeroed();
        // SAFETY: a properly aligned buffer owned by the test.
        let buffer = unsafe { IpcBuffer::at(&mut layout as *mut Layout as u64) };
        let vm = Received {
            badge: 7,
            info: MessageInfo::new(label::VM_FAULT, 0, 0, 4),
            mrs: [0x201000, 0x10, 0, 6],
        };
        let fault = Fault::decode(&vm, &buffer);
        assert_eq!(
            fault,
            Fault::VmFault {
                rip: 0x201000,
                address: 0x10,
                instruction_fetch: false,
                error_code: 6
            }
        );
        assert_eq!(fault.rip(), 0x201000);
        assert!(fault.to_string().contains("write to 0x10"), "{fault}");

        buffer.set_msg(4, 13);
        let ex = Received {
            badge: 1,
            info: MessageInfo::new(label::USER_EXCEPTION, 0, 0, 5),
            mrs: [0x5, 0x6, 0x202, 13],
        };
        assert!(Fault::decode(&ex, &buffer)
            .to_string()
            .starts_with("exception 13 (code 0xd)"));

        buffer.set_msg(4, 1);
        buffer.set_msg(5, 2);
        let us = Received {
            badge: 1,
            info: MessageInfo::new(label::UNKNOWN_SYSCALL, 0, 0, 6),
            mrs: [0x4000, 0x8000, 0x202, 0x999],
        };
        assert_eq!(
            Fault::decode(&us, &buffer).to_string(),
            "unknown syscall 0x999 at rip 0x4000"
        );

        buffer.set_msg(4, 0);
        buffer.set_msg(5, 0);
        let cf = Received {
            badge: 1,
            info: MessageInfo::new(label::CAP_FAULT, 0, 0, 6),
            mrs: [0x10, 0x55, 0, 2],
        };
        let text = Fault::decode(&cf, &buffer).to_string();
        assert!(
            text.contains("CPtr 0x55") && text.contains("empty or unsuitable slot"),
            "{text}"
        );
        let other = Received {
            badge: 0,
            info: MessageInfo::new(99, 0, 0, 0),
            mrs: [0; 4],
        };
        assert_eq!(Fault::decode(&other, &buffer), Fault::Unknown { label: 99 });
    }
}
