//! Syscall numbers and the register convention of the `syscall` instruction.
//!
//! Register convention (x86_64, `syscall`/`sysret`):
//!
//! | register | on entry                          | on return                  |
//! |----------|-----------------------------------|----------------------------|
//! | `rax`    | syscall number ([`Syscall`])      | error code (0 = success)   |
//! | `rdi`    | argument 0 (usually a CPtr)       | return value 0 (badge)     |
//! | `rsi`    | argument 1 (usually message info) | return value 1             |
//! | `rdx`    | argument 2 (message register 0)   | return value 2             |
//! | `r10`    | argument 3 (message register 1)   | return value 3             |
//! | `r8`     | argument 4 (message register 2)   | return value 4             |
//! | `r9`     | argument 5 (message register 3)   | return value 5             |
//!
//! `rcx` and `r11` are clobbered by the instruction itself (they carry the
//! return address and flags). All other registers are preserved.

/// The system calls. Numbers are stable; new calls get new numbers.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// Send a message and wait for the reply on the same endpoint capability.
    Call = 1,
    /// Reply to the last caller, then wait on an endpoint.
    ReplyRecv = 2,
    /// Send, blocking until a receiver takes the message.
    Send = 3,
    /// Send if a receiver is waiting; otherwise drop the message.
    NBSend = 4,
    /// Wait for a message on an endpoint (or a signal on a notification).
    Recv = 5,
    /// Poll an endpoint or notification without blocking.
    NBRecv = 6,
    /// Reply to the last caller.
    Reply = 7,
    /// Give up the rest of this time slice to threads of the same priority.
    Yield = 8,
    /// Recv with a deadline: `rsi` is the TSC value at which to give up. A
    /// wait still unanswered at the first timer tick at or after the
    /// deadline ends with [`crate::Error::TimedOut`]; a deadline already
    /// past gives up at once if nothing is pending.
    RecvUntil = 9,
    /// Debug: write bytes to the kernel console. `rdi` = address, `rsi` = length.
    DebugPrint = 0x100,
    /// Debug: end the run with a status (QEMU `isa-debug-exit`). `rdi` = status.
    DebugExit = 0x101,
    /// Debug: write one byte to the kernel console. `rdi` = the byte.
    DebugPutChar = 0x102,
    /// Debug: describe the capability at CPtr `rdi` in the caller's CSpace.
    /// Returns `rdi` = its kind ([`crate::cap_kind`]), `rsi` = its rights
    /// word, `rdx` = its badge (endpoints and notifications, else 0), `r10`
    /// = 1 if it is mapped (frames, paging structures). For audits that
    /// compare a component's CSpace with its description, as seL4's
    /// `DebugCapIdentify`.
    DebugCapIdentify = 0x103,
}

impl Syscall {
    /// Decodes a syscall number; `None` for numbers the kernel does not know.
    pub fn from_number(number: u64) -> Option<Syscall> {
        use Syscall::*;
        Some(match number {
            1 => Call,
            2 => ReplyRecv,
            3 => Send,
            4 => NBSend,
            5 => Recv,
            6 => NBRecv,
            7 => Reply,
            8 => Yield,
            9 => RecvUntil,
            0x100 => DebugPrint,
            0x101 => DebugExit,
            0x102 => DebugPutChar,
            0x103 => DebugCapIdentify,
            _ => return None,
        })
    }
}

/// The longest string one `DebugPrint` call writes; longer requests are cut.
/// Bounded so a single call cannot hold the (non-preemptible) kernel for long.
pub const DEBUG_PRINT_MAX: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for s in [
            Syscall::Call,
            Syscall::ReplyRecv,
            Syscall::Send,
            Syscall::NBSend,
            Syscall::Recv,
            Syscall::NBRecv,
            Syscall::Reply,
            Syscall::Yield,
            Syscall::RecvUntil,
            Syscall::DebugPrint,
            Syscall::DebugExit,
            Syscall::DebugPutChar,
            Syscall::DebugCapIdentify,
        ] {
            assert_eq!(Syscall::from_number(s as u64), Some(s));
        }
        assert_eq!(Syscall::from_number(0), None);
        assert_eq!(Syscall::from_number(u64::MAX), None);
    }
}
