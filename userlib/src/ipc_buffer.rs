//! The calling thread's IPC buffer: message registers 4 and up, the
//! capabilities to send, the badges of received capabilities and where a
//! received capability goes.
//!
//! ## Which buffer is "mine"
//!
//! Ward has no thread-local storage yet, so the library finds the calling
//! thread's buffer from its stack pointer:
//!
//! - on the root task's initial stack: [`ROOT_IPC_BUFFER_VADDR`];
//! - on a [`ThreadStack`] (a size-aligned block whose lowest words record the
//!   thread's IPC buffer address): that address;
//! - otherwise: the address space's default, set with
//!   [`set_default_ipc_buffer`] (initially the root task's);
//! - in a component ([`crate::component`]): always the default, which the
//!   component runtime sets to the buffer the root task mapped.
//!
//! So every thread that a program starts on a [`ThreadStack`] has its own
//! buffer without further ado, and a single-threaded program in a fresh
//! address space just sets the default.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use ward_abi::layout::{ROOT_IPC_BUFFER_VADDR, ROOT_STACK_SIZE, ROOT_STACK_TOP};
pub use ward_abi::message::IpcBuffer as IpcBufferLayout;
use ward_abi::message::{MAX_EXTRA_CAPS, MAX_MESSAGE_LENGTH};

/// Bytes of one [`ThreadStack`], which is also its alignment. 32 KiB holds
/// the deepest call chains of the test suite (formatting included) with
/// room to spare, and the alignment lets the library find the stack's
/// header from any address inside it.
pub const THREAD_STACK_BYTES: usize = 32 * 1024;

/// Marks a [`ThreadStack`] header as initialised ("WARDSTAK").
const STACK_MAGIC: u64 = u64::from_le_bytes(*b"WARDSTAK");

/// The address space's fallback buffer address (see the module docs).
static DEFAULT_IPC_BUFFER: AtomicU64 = AtomicU64::new(ROOT_IPC_BUFFER_VADDR);

/// Sets the buffer address used by threads that are neither on the root
/// task's stack nor on a [`ThreadStack`] in this address space.
pub fn set_default_ipc_buffer(vaddr: u64) {
    DEFAULT_IPC_BUFFER.store(vaddr, Ordering::Relaxed);
}

/// A thread's stack with its IPC buffer address in a header at the bottom.
/// Make them `static` (they are big) and hand [`ThreadStack::top`] to the
/// new thread as its `rsp`.
#[repr(C, align(32768))]
pub struct ThreadStack {
    header: UnsafeCell<[u64; 2]>,
    bytes: UnsafeCell<[u8; THREAD_STACK_BYTES - 16]>,
}

const _: () = assert!(core::mem::size_of::<ThreadStack>() == THREAD_STACK_BYTES);
const _: () = assert!(core::mem::align_of::<ThreadStack>() == THREAD_STACK_BYTES);

// SAFETY: the header is written only by `prepare`, before the thread that
// uses the stack starts (the caller guarantees that), and read by that thread.
unsafe impl Sync for ThreadStack {}

impl ThreadStack {
    /// A zeroed stack (no header yet), for statics.
    pub const fn new() -> ThreadStack {
        ThreadStack {
            header: UnsafeCell::new([0; 2]),
            bytes: UnsafeCell::new([0; THREAD_STACK_BYTES - 16]),
        }
    }

    /// Records `ipc_buffer` as the IPC buffer of the thread that will run on
    /// this stack and returns the initial stack pointer for it (16-byte
    /// aligned, minus 8 as at a function's entry after a `call`).
    ///
    /// Call it only while no thread runs on this stack.
    pub fn prepare(&self, ipc_buffer: u64) -> u64 {
        // SAFETY: no thread runs on this stack (the caller's promise), so
        // nothing else reads or writes the header now.
        unsafe { *self.header.get() = [STACK_MAGIC, ipc_buffer] };
        self.top() - 8
    }

    /// One past the highest byte of the stack.
    pub fn top(&self) -> u64 {
        self as *const ThreadStack as u64 + THREAD_STACK_BYTES as u64
    }
}

impl Default for ThreadStack {
    fn default() -> Self {
        Self::new()
    }
}

/// The stack pointer of the calling thread (0 on hosts that are not x86_64).
#[inline(always)]
fn stack_pointer() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let rsp: u64;
        // SAFETY: reads a register into a variable; no memory or flags change.
        unsafe {
            core::arch::asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack, preserves_flags))
        };
        rsp
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// Which buffer a thread with stack pointer `rsp` uses; `header` reads the
/// two header words of the [`ThreadStack`] block at the given address.
fn buffer_for_stack(rsp: u64, header: impl FnOnce(u64) -> [u64; 2]) -> u64 {
    if (ROOT_STACK_TOP - ROOT_STACK_SIZE..ROOT_STACK_TOP).contains(&rsp) {
        return ROOT_IPC_BUFFER_VADDR;
    }
    let block = rsp & !(THREAD_STACK_BYTES as u64 - 1);
    match header(block) {
        [STACK_MAGIC, buffer] => buffer,
        _ => DEFAULT_IPC_BUFFER.load(Ordering::Relaxed),
    }
}

/// The address of the calling thread's IPC buffer (see the module docs).
pub fn current_ipc_buffer_vaddr() -> u64 {
    // A component has one thread and a stack of its own size (perhaps
    // smaller than a ThreadStack block, so the block base may be unmapped).
    if crate::component::is_component() {
        return DEFAULT_IPC_BUFFER.load(Ordering::Relaxed);
    }
    buffer_for_stack(stack_pointer(), |block| {
        // SAFETY: `block` is the base of the size-aligned block holding the
        // current stack pointer, so it is mapped (the stack lives in it) and
        // readable. A ThreadStack keeps its header there; any other stack
        // has some other data there, which only fails the magic check.
        unsafe { core::ptr::read_volatile(block as *const [u64; 2]) }
    })
}

/// Access to one thread's IPC buffer. Only that thread uses it, so plain
/// volatile reads and writes suffice (volatile because the kernel writes the
/// buffer behind the compiler's back during a syscall).
#[derive(Debug)]
pub struct IpcBuffer {
    base: *mut IpcBufferLayout,
}

impl IpcBuffer {
    /// The calling thread's buffer.
    pub fn current() -> IpcBuffer {
        IpcBuffer {
            base: current_ipc_buffer_vaddr() as *mut IpcBufferLayout,
        }
    }

    /// The buffer at `vaddr`.
    ///
    /// # Safety
    /// `vaddr` must be the address of a mapped, writable, 1 KiB-aligned IPC
    /// buffer that no other thread uses while this handle is used.
    pub unsafe fn at(vaddr: u64) -> IpcBuffer {
        IpcBuffer {
            base: vaddr as *mut IpcBufferLayout,
        }
    }

    /// The buffer's user address.
    pub fn vaddr(&self) -> u64 {
        self.base as u64
    }

    fn word(&self, offset_words: usize) -> *mut u64 {
        debug_assert!(offset_words < core::mem::size_of::<IpcBufferLayout>() / 8);
        // SAFETY: the offset stays inside the buffer (checked by callers'
        // index bounds), whose mapping the constructor guarantees.
        unsafe { (self.base as *mut u64).add(offset_words) }
    }

    fn read(&self, offset_words: usize) -> u64 {
        // SAFETY: an in-bounds, aligned word of the thread's own buffer.
        unsafe { core::ptr::read_volatile(self.word(offset_words)) }
    }

    fn write(&self, offset_words: usize, value: u64) {
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile(self.word(offset_words), value) }
    }

    /// Message register `index` (0..120). Registers 0..4 travel in CPU
    /// registers; the kernel neither reads nor writes them here.
    pub fn msg(&self, index: usize) -> u64 {
        assert!(
            index < MAX_MESSAGE_LENGTH,
            "message register {index} does not exist"
        );
        self.read(1 + index)
    }

    /// Sets message register `index` (0..120).
    pub fn set_msg(&self, index: usize, value: u64) {
        assert!(
            index < MAX_MESSAGE_LENGTH,
            "message register {index} does not exist"
        );
        self.write(1 + index, value)
    }

    /// The buffer's copy of the last message info.
    pub fn tag(&self) -> u64 {
        self.read(0)
    }

    /// The free user word.
    pub fn user_data(&self) -> u64 {
        self.read(1 + MAX_MESSAGE_LENGTH)
    }

    pub fn set_user_data(&self, value: u64) {
        self.write(1 + MAX_MESSAGE_LENGTH, value)
    }

    /// Sending: the CPtr of extra capability `index` (0..3). Receiving: the
    /// badge of the unwrapped capability `index`.
    pub fn cap_or_badge(&self, index: usize) -> u64 {
        assert!(
            index < MAX_EXTRA_CAPS,
            "extra capability {index} does not exist"
        );
        self.read(2 + MAX_MESSAGE_LENGTH + index)
    }

    pub fn set_cap(&self, index: usize, cptr: u64) {
        assert!(
            index < MAX_EXTRA_CAPS,
            "extra capability {index} does not exist"
        );
        self.write(2 + MAX_MESSAGE_LENGTH + index, cptr)
    }

    /// Where a capability received with the next message goes: the CNode
    /// `cnode` (a CPtr in this thread's CSpace, looked up with full depth),
    /// then `index` and `depth` inside it, as in seL4's
    /// `seL4_SetCapReceivePath`. A `cnode` of 0 receives no capabilities.
    pub fn set_receive_path(&self, cnode: u64, index: u64, depth: u64) {
        let base = 2 + MAX_MESSAGE_LENGTH + MAX_EXTRA_CAPS;
        self.write(base, cnode);
        self.write(base + 1, index);
        self.write(base + 2, depth);
    }

    /// The receive path as set.
    pub fn receive_path(&self) -> (u64, u64, u64) {
        let base = 2 + MAX_MESSAGE_LENGTH + MAX_EXTRA_CAPS;
        (self.read(base), self.read(base + 1), self.read(base + 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_abi::message::IpcBuffer as Layout;
    use zerocopy::FromZeros;

    #[test]
    fn accessors_hit_the_layout_fields() {
        let mut layout = Layout::new_zeroed();
        // SAFETY: `layout` is a properly aligned, owned buffer for the test.
        let buffer = unsafe { IpcBuffer::at(&mut layout as *mut Layout as u64) };
        buffer.set_msg(4, 44);
        buffer.set_msg(119, 1190);
        buffer.set_cap(2, 7);
        buffer.set_receive_path(2, 100, 64);
        buffer.set_user_data(5);
        assert_eq!(
            (buffer.msg(4), buffer.msg(119), buffer.cap_or_badge(2)),
            (44, 1190, 7)
        );
        assert_eq!(buffer.receive_path(), (2, 100, 64));
        assert_eq!(buffer.user_data(), 5);
        drop(buffer);
        assert_eq!(layout.msg[4], 44);
        assert_eq!(layout.msg[119], 1190);
        assert_eq!(layout.caps_or_badges[2], 7);
        assert_eq!(
            (
                layout.receive_cnode,
                layout.receive_index,
                layout.receive_depth
            ),
            (2, 100, 64)
        );
        assert_eq!(layout.user_data, 5);
    }

    #[test]
    #[should_panic(expected = "message register 120")]
    fn refuses_registers_past_the_end() {
        let mut layout = Layout::new_zeroed();
        // SAFETY: as above.
        let buffer = unsafe { IpcBuffer::at(&mut layout as *mut Layout as u64) };
        buffer.msg(120);
    }

    #[test]
    fn finds_the_buffer_from_the_stack() {
        assert_eq!(
            buffer_for_stack(ROOT_STACK_TOP - 64, |_| unreachable!()),
            ROOT_IPC_BUFFER_VADDR
        );
        let block = 0x4000_0000u64;
        let found = buffer_for_stack(block + 1000, |b| {
            assert_eq!(b, block);
            [STACK_MAGIC, 0x5000_0000]
        });
        assert_eq!(found, 0x5000_0000);
        assert_eq!(
            buffer_for_stack(block + 1000, |_| [0, 0]),
            DEFAULT_IPC_BUFFER.load(Ordering::Relaxed)
        );
    }

    #[test]
    fn prepared_stack_reports_its_buffer() {
        static STACK: ThreadStack = ThreadStack::new();
        let rsp = STACK.prepare(0x1234_0000);
        assert_eq!(rsp % 16, 8);
        assert_eq!(STACK.top() % THREAD_STACK_BYTES as u64, 0);
        let found = buffer_for_stack(rsp, |b| {
            // SAFETY: `b` is the header of STACK, which `prepare` just wrote:
            // two words inside the static.
            unsafe { core::ptr::read(b as *const [u64; 2]) }
        });
        assert_eq!(found, 0x1234_0000);
    }
}
