//! Thread control blocks: the layout of a TCB's 2 KiB and its fields.
//!
//! | bytes | content |
//! |---|---|
//! | 0..1024 | register and FPU context: layout owned by the kernel ([`TCB_CONTEXT_BYTES`]) |
//! | 1024..1216 | six capability slots ([`TcbSlot`]) |
//! | 1216.. | scheduling and IPC state, one word per field ([`field`]) |
//!
//! The context area comes first so the kernel can treat the TCB's address
//! as a pointer to its own `#[repr(C)]` context struct (at most
//! [`TCB_CONTEXT_BYTES`] bytes, 16-byte aligned for `fxsave`); this crate
//! never reads it. The capability slots are real slots in the derivation
//! tree: a TCB is a small CNode that the thread's configuration lives in.

use crate::phys::PAddr;
use crate::slot::{Slot, SLOT_SIZE};
use crate::Objects;
use ward_abi::object::TCB_BITS;

/// Bytes reserved for the kernel's register context at the start of a TCB:
/// 20 general registers and flags (160 B) plus a 512-byte `fxsave` area fit
/// with room to spare for the kernel's own additions.
pub const TCB_CONTEXT_BYTES: u64 = 1024;
/// Where the TCB's capability slots start.
pub const TCB_SLOTS_OFFSET: u64 = TCB_CONTEXT_BYTES;
/// How many capability slots a TCB has (one per [`TcbSlot`]).
pub const TCB_SLOT_COUNT: u64 = 6;
/// Where the scheduling and IPC fields start.
const FIELDS_OFFSET: u64 = TCB_SLOTS_OFFSET + TCB_SLOT_COUNT * SLOT_SIZE;

/// The TCB's capability slots.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcbSlot {
    /// The root CNode of the thread's CSpace.
    CSpaceRoot = 0,
    /// The PML4 of the thread's VSpace.
    VSpaceRoot = 1,
    /// The frame holding the thread's IPC buffer.
    IpcBuffer = 2,
    /// The endpoint the thread's faults are sent to.
    FaultEndpoint = 3,
    /// The kernel's slot for this thread's reply capability while it is
    /// blocked in `Call` (the reply cap the callee holds derives from it).
    Reply = 4,
    /// The reply capability to the thread's last caller, used by `Reply`.
    Caller = 5,
}

/// Word indices of the TCB's fields, after the slots.
pub mod field {
    /// [`super::ThreadState`].
    pub const STATE: u64 = 0;
    /// Priority in bits 0..8, maximum controlled priority in bits 8..16.
    pub const PRIORITY: u64 = 1;
    /// Ready-queue links (TCB physical addresses, 0 = none).
    pub const SCHED_PREV: u64 = 2;
    pub const SCHED_NEXT: u64 = 3;
    /// Endpoint/notification wait-queue links.
    pub const IPC_PREV: u64 = 4;
    pub const IPC_NEXT: u64 = 5;
    /// The endpoint or notification the thread is blocked on (0 = none).
    pub const BLOCKED_ON: u64 = 6;
    /// The badge of the cap a blocked sender used, or the badge delivered.
    pub const IPC_BADGE: u64 = 7;
    /// The bound notification (0 = none).
    pub const BOUND_NOTIFICATION: u64 = 8;
    /// The IPC buffer's user virtual address.
    pub const IPC_BUFFER_VADDR: u64 = 9;
    /// Timer ticks left in the current time slice.
    pub const TIME_SLICE: u64 = 10;
    /// 1 while the thread is in a ready queue.
    pub const IN_READY_QUEUE: u64 = 11;
    /// Free for the kernel's IPC path (message info of a blocked sender...).
    pub const KERNEL_SCRATCH: u64 = 12;
    /// The deadline of a timed receive, in TSC ticks (0 = not in the timeout queue).
    pub const TIMEOUT_DEADLINE: u64 = 13;
    /// Timeout-queue links (TCB physical addresses, 0 = none).
    pub const TIMEOUT_PREV: u64 = 14;
    pub const TIMEOUT_NEXT: u64 = 15;
    /// TSC ticks this thread has run for, kernel entries on its behalf included.
    pub const CPU_TICKS: u64 = 16;
    /// The core the thread runs on (`tcb_set_affinity`; 0 = the first).
    pub const AFFINITY: u64 = 17;
    /// Number of field words.
    pub const COUNT: u64 = 18;
}

const _: () = assert!(FIELDS_OFFSET + field::COUNT * 8 <= 1 << TCB_BITS);

/// What a thread is doing.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Not runnable: never started, or suspended.
    Inactive = 0,
    /// Runnable (running or in a ready queue).
    Running = 1,
    /// Runnable; will restart its interrupted system call when it runs.
    Restart = 2,
    BlockedOnSend = 3,
    BlockedOnReceive = 4,
    BlockedOnReply = 5,
    BlockedOnNotification = 6,
    /// The idle thread.
    Idle = 7,
}

impl ThreadState {
    fn from_word(word: u64) -> ThreadState {
        use ThreadState::*;
        match word {
            1 => Running,
            2 => Restart,
            3 => BlockedOnSend,
            4 => BlockedOnReceive,
            5 => BlockedOnReply,
            6 => BlockedOnNotification,
            7 => Idle,
            _ => Inactive,
        }
    }
    /// Whether the scheduler may run a thread in this state.
    pub fn is_runnable(self) -> bool {
        matches!(self, ThreadState::Running | ThreadState::Restart)
    }
}

/// A TCB, named by its physical address (2 KiB aligned, never 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tcb(pub PAddr);

impl Tcb {
    /// The TCB at `paddr`, or `None` for 0 (the "no thread" link value).
    pub fn from_link(paddr: PAddr) -> Option<Tcb> {
        (paddr != 0).then_some(Tcb(paddr))
    }
    /// The TCB's capability slot `which`.
    pub fn slot(self, which: TcbSlot) -> Slot {
        Slot(self.0 + TCB_SLOTS_OFFSET + which as u64 * SLOT_SIZE)
    }
    #[inline(always)]
    fn field(self, index: u64) -> PAddr {
        self.0 + FIELDS_OFFSET + index * 8
    }
}

impl Objects {
    /// Reads a raw TCB field (see [`field`]).
    #[inline(always)]
    pub fn tcb_field(&self, tcb: Tcb, index: u64) -> u64 {
        self.mem.read_in(tcb.0, TCB_BITS, tcb.field(index) - tcb.0)
    }
    /// Writes a raw TCB field (see [`field`]).
    #[inline(always)]
    pub fn set_tcb_field(&self, tcb: Tcb, index: u64, value: u64) {
        self.mem
            .write_in(tcb.0, TCB_BITS, tcb.field(index) - tcb.0, value)
    }
    #[inline]
    pub fn tcb_state(&self, tcb: Tcb) -> ThreadState {
        ThreadState::from_word(self.tcb_field(tcb, field::STATE))
    }
    #[inline]
    pub fn set_tcb_state(&self, tcb: Tcb, state: ThreadState) {
        self.set_tcb_field(tcb, field::STATE, state as u64)
    }
    #[inline]
    pub fn tcb_priority(&self, tcb: Tcb) -> u8 {
        self.tcb_field(tcb, field::PRIORITY) as u8
    }
    /// The thread's maximum controlled priority: the highest priority it may
    /// give any thread (itself included).
    #[inline]
    pub fn tcb_mcp(&self, tcb: Tcb) -> u8 {
        (self.tcb_field(tcb, field::PRIORITY) >> 8) as u8
    }
    pub(crate) fn set_tcb_priorities(&self, tcb: Tcb, priority: u8, mcp: u8) {
        self.set_tcb_field(tcb, field::PRIORITY, priority as u64 | (mcp as u64) << 8)
    }
    /// The kernel-virtual address of the TCB's register context area
    /// ([`TCB_CONTEXT_BYTES`] bytes, 1 KiB aligned).
    #[inline(always)]
    pub fn tcb_context(&self, tcb: Tcb) -> *mut u8 {
        const _: () = assert!(TCB_CONTEXT_BYTES.is_power_of_two());
        self.mem
            .block_pointer(tcb.0, TCB_CONTEXT_BYTES.trailing_zeros())
    }
}
