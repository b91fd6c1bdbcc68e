//! IPC messages: the message-info word, the IPC buffer, and how messages
//! travel in registers.
//!
//! Register convention for IPC and invocations (see also [`crate::syscall`]):
//!
//! | register | on entry                 | on return from a receive or a call          |
//! |----------|--------------------------|---------------------------------------------|
//! | `rax`    | syscall number           | 0, or an [`crate::Error`] code              |
//! | `rdi`    | the capability (CPtr)    | the sender's badge                          |
//! | `rsi`    | [`MessageInfo`]          | [`MessageInfo`] of the received message     |
//! | `rdx`    | message register 0       | message register 0 (or error detail 0)      |
//! | `r10`    | message register 1       | message register 1 (or error detail 1)      |
//! | `r8`     | message register 2       | message register 2 (or error detail 2)      |
//! | `r9`     | message register 3       | message register 3 (or error detail 3)      |
//!
//! Message registers 4 and up live in the IPC buffer (`IpcBuffer::msg[4..]`).
//! When a kernel invocation fails, `rax` carries the error code and the four
//! registers carry its details (which argument, the valid range, the lookup
//! failure, the bytes available).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Most message registers in one message (as in seL4).
pub const MAX_MESSAGE_LENGTH: usize = 120;
/// Message registers passed in CPU registers rather than the IPC buffer.
pub const REGISTER_MESSAGE_LENGTH: usize = 4;
/// Most capabilities sent with one message.
pub const MAX_EXTRA_CAPS: usize = 3;
/// log2 of the IPC buffer's size; it must be aligned to its size.
pub const IPC_BUFFER_BITS: u32 = 10;

/// The message-info word: `label` (52 bits) | `caps_unwrapped` (3) |
/// `extra_caps` (2) | `length` (7), most significant first, as in seL4.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageInfo(pub u64);

impl MessageInfo {
    /// Builds a message info; fields that do not fit are cut to their width
    /// (the kernel also caps `length` at [`MAX_MESSAGE_LENGTH`]).
    pub const fn new(label: u64, caps_unwrapped: u64, extra_caps: u64, length: u64) -> MessageInfo {
        MessageInfo(
            (label << 12)
                | ((caps_unwrapped & 0x7) << 9)
                | ((extra_caps & 0x3) << 7)
                | (length & 0x7f),
        )
    }

    pub const fn label(self) -> u64 {
        self.0 >> 12
    }

    pub const fn caps_unwrapped(self) -> u64 {
        (self.0 >> 9) & 0x7
    }

    pub const fn extra_caps(self) -> u64 {
        (self.0 >> 7) & 0x3
    }

    pub const fn length(self) -> u64 {
        self.0 & 0x7f
    }
}

/// The IPC buffer: one per thread, in a frame the thread maps, registered
/// with `tcb_configure` or `tcb_set_ipc_buffer`.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct IpcBuffer {
    /// Copy of the message info of the last message (for the user's convenience).
    pub tag: u64,
    /// Message registers; 0..4 travel in CPU registers and are not read from here.
    pub msg: [u64; MAX_MESSAGE_LENGTH],
    /// Free for the user (thread-local pointer, for instance).
    pub user_data: u64,
    /// Sending: CPtrs of the capabilities to send. Receiving: the badges of
    /// received capabilities that were unwrapped, or 0.
    pub caps_or_badges: [u64; MAX_EXTRA_CAPS],
    /// Where a received capability goes: a CNode (CPtr in the receiver's
    /// CSpace), a slot index in it and the lookup depth.
    pub receive_cnode: u64,
    pub receive_index: u64,
    pub receive_depth: u64,
}

const _: () = assert!(core::mem::size_of::<IpcBuffer>() == 1 << IPC_BUFFER_BITS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let info = MessageInfo::new(0x1234_5678, 5, 2, 99);
        assert_eq!(info.label(), 0x1234_5678);
        assert_eq!(info.caps_unwrapped(), 5);
        assert_eq!(info.extra_caps(), 2);
        assert_eq!(info.length(), 99);
        let cut = MessageInfo::new(1, 9, 7, 200);
        assert_eq!(
            (cut.caps_unwrapped(), cut.extra_caps(), cut.length()),
            (1, 3, 200 & 0x7f)
        );
    }
}
