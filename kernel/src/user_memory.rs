//! The kernel's access to user memory: a thread's IPC buffer, and bytes a
//! syscall names by address. This is the one place that reads or writes
//! user frames.
//!
//! User memory is an allegation, and it may be shared: two threads may even
//! register the same IPC buffer. So the kernel never forms a Rust reference
//! to it. [`IpcBuffer`] reads and writes one word at a time through a raw
//! pointer (volatile, so nothing is assumed about the memory between two
//! accesses), and copies between two buffers go word by word in increasing
//! order. Overlapping buffers therefore cannot make the kernel misbehave:
//! a message copied from a buffer onto itself leaves the words as they were,
//! and the kernel writes nothing that the buffer's owner could not write
//! itself, because a buffer must be a frame its holder may write (checked
//! when it is installed and again at each use, as seL4's
//! `lookupIPCBuffer` does). Under a multicore kernel, another core's user
//! thread may write the words concurrently; word-sized volatile accesses
//! keep that a question of which value is read, never of memory safety.
use crate::arch::x86_64::paging::{self, PAGE_SIZE};
use crate::kobj::objects;
use ward_abi::message::{IPC_BUFFER_BITS, MAX_EXTRA_CAPS, MAX_MESSAGE_LENGTH};
use ward_abi::rights::CapRights;
use ward_abi::Error;
use ward_kernel_objects::tcb::{field, TcbSlot};
use ward_kernel_objects::{Cap, Tcb};

/// Word indices of the IPC buffer's fields (`ward_abi::message::IpcBuffer`).
mod layout {
    use core::mem::offset_of;
    use ward_abi::message::IpcBuffer;
    pub const TAG: usize = offset_of!(IpcBuffer, tag) / 8;
    pub const MSG: usize = offset_of!(IpcBuffer, msg) / 8;
    pub const CAPS_OR_BADGES: usize = offset_of!(IpcBuffer, caps_or_badges) / 8;
    pub const RECEIVE_CNODE: usize = offset_of!(IpcBuffer, receive_cnode) / 8;
    pub const RECEIVE_INDEX: usize = offset_of!(IpcBuffer, receive_index) / 8;
    pub const RECEIVE_DEPTH: usize = offset_of!(IpcBuffer, receive_depth) / 8;
    pub const WORDS: usize = core::mem::size_of::<IpcBuffer>() / 8;
}

/// Whether a frame capability may hold an IPC buffer: the kernel writes
/// into it, so it must be writable RAM (a device frame's "memory" is a
/// device's registers).
pub fn can_hold_ipc_buffer(cap: &Cap) -> bool {
    matches!(cap, Cap::Frame { rights, is_device: false, .. } if rights.contains(CapRights::READ_WRITE))
}

/// A thread's IPC buffer, in the frame its TCB holds.
#[derive(Clone, Copy, Debug)]
pub struct IpcBuffer(*mut u64);

impl IpcBuffer {
    /// The IPC buffer of `tcb`, if it has a valid one: a writable frame of
    /// RAM in its TCB's IPC-buffer slot, at the offset of the registered
    /// address, aligned to the buffer's size.
    #[inline]
    pub fn of(tcb: Tcb) -> Option<IpcBuffer> {
        let objects = objects();
        let cap = objects.cap(tcb.slot(TcbSlot::IpcBuffer));
        if !can_hold_ipc_buffer(&cap) {
            return None;
        }
        let Cap::Frame { object, size, .. } = cap else {
            return None;
        };
        let vaddr = objects.tcb_field(tcb, field::IPC_BUFFER_VADDR);
        let offset = vaddr & ((1u64 << size.bits()) - 1);
        if !offset.is_multiple_of(1 << IPC_BUFFER_BITS) {
            return None;
        }
        let pointer = objects
            .window()
            .kernel_pointer(object + offset, 1 << IPC_BUFFER_BITS);
        Some(IpcBuffer(pointer as *mut u64))
    }

    #[inline(always)]
    fn word(self, index: usize) -> u64 {
        assert!(index < layout::WORDS);
        // SAFETY: the buffer is 1 KiB of a frame of RAM the window checked
        // (`of`); `index` is inside it; no reference to it exists (module
        // documentation).
        unsafe { self.0.add(index).read_volatile() }
    }

    #[inline(always)]
    fn set_word(self, index: usize, value: u64) {
        assert!(index < layout::WORDS);
        // SAFETY: as in `word`.
        unsafe { self.0.add(index).write_volatile(value) }
    }

    /// Message register `index` (0..120; the kernel uses 4.. only).
    #[inline]
    pub fn msg(self, index: usize) -> u64 {
        assert!(index < MAX_MESSAGE_LENGTH);
        self.word(layout::MSG + index)
    }

    #[inline]
    pub fn set_msg(self, index: usize, value: u64) {
        assert!(index < MAX_MESSAGE_LENGTH);
        self.set_word(layout::MSG + index, value)
    }

    /// The copy of the last message's info.
    #[inline]
    pub fn set_tag(self, value: u64) {
        self.set_word(layout::TAG, value)
    }

    /// Sending: the CPtr of extra capability `index`; received: its badge.
    pub fn cap_or_badge(self, index: usize) -> u64 {
        assert!(index < MAX_EXTRA_CAPS);
        self.word(layout::CAPS_OR_BADGES + index)
    }

    pub fn set_cap_or_badge(self, index: usize, value: u64) {
        assert!(index < MAX_EXTRA_CAPS);
        self.set_word(layout::CAPS_OR_BADGES + index, value)
    }

    /// Where a received capability goes: CNode CPtr, index, depth.
    pub fn receive_path(self) -> (u64, u64, u64) {
        (
            self.word(layout::RECEIVE_CNODE),
            self.word(layout::RECEIVE_INDEX),
            self.word(layout::RECEIVE_DEPTH),
        )
    }
}

/// Copies `out.len()` bytes of the caller's memory at `address` into `out`,
/// page by page through its own page tables. Fails if any byte is not
/// mapped readable for user mode.
pub fn copy_from_user(address_space: u64, address: u64, out: &mut [u8]) -> Result<(), Error> {
    let mut done = 0usize;
    while done < out.len() {
        let vaddr = address
            .checked_add(done as u64)
            .ok_or(Error::InvalidArgument)?;
        let paddr =
            paging::translate_user(address_space, vaddr, false).ok_or(Error::InvalidArgument)?;
        let in_page = (PAGE_SIZE - (vaddr % PAGE_SIZE)) as usize;
        let chunk = in_page.min(out.len() - done);
        let from = paging::phys_to_virt(paddr) as *const u8;
        for (index, byte) in out[done..done + chunk].iter_mut().enumerate() {
            // SAFETY: `paddr..paddr+chunk` lies in one user page mapped in
            // the caller's address space (checked by translate_user) and
            // reached through the physical map; read byte by byte, without
            // a reference, as the module documentation explains.
            *byte = unsafe { from.add(index).read_volatile() };
        }
        done += chunk;
    }
    Ok(())
}
