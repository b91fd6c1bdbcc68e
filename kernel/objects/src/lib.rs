//! Ward's kernel objects, independent of hardware.
//!
//! This crate is the capability heart of the kernel: capabilities and their
//! encoding ([`cap`]), slots and the capability derivation tree ([`slot`],
//! [`mdb`]), CSpace lookup ([`cspace`]), the CNode operations ([`cnode_ops`]),
//! untyped retype ([`untyped`]), thread control blocks ([`tcb`], [`tcb_ops`]), endpoint and
//! notification queues ([`ipc`]), the scheduler's ready queues ([`sched`]) and
//! the queue of timed receives ([`timeouts`]).
//!
//! The kernel has no heap: every object lives in physical memory retyped from
//! Untyped and is reached through a [`PhysWindow`]. The same code runs in the
//! bare-metal kernel (window = the kernel's physical-memory map) and in host
//! tests (window = a buffer that simulates RAM). The crate allocates nothing
//! and keeps no global state; the kernel owns the one [`Objects`] handle and
//! the [`sched::ReadyQueues`].
//!
//! What the kernel must provide: an implementation of [`ObjectHooks`]
//! (finalising destroyed objects, and the preemption check used by long
//! operations). See docs/kernel.md for the user-visible semantics.
#![no_std]

pub mod cap;
pub mod cnode_ops;
pub mod cspace;
pub mod error;
pub mod ipc;
pub mod mdb;
pub mod phys;
pub mod sched;
pub mod slot;
pub mod tcb;
pub mod tcb_ops;
pub mod timeouts;
pub mod untyped;

pub use cap::{Cap, CapType, FrameSize, Mapping};
pub use error::{ErrorDetail, InvocationError, LookupSide};
pub use phys::{PAddr, PhysWindow};
pub use slot::Slot;
pub use tcb::Tcb;

/// The handle to all kernel objects: a window onto physical memory.
///
/// It is `Copy` and holds no state of its own; all state lives in object
/// memory. Methods take `&self` and write object memory through the window;
/// the kernel calls them from one CPU with interrupts disabled.
#[derive(Clone, Copy, Debug)]
pub struct Objects {
    mem: PhysWindow,
}

impl Objects {
    /// Wraps a physical-memory window.
    pub fn new(window: PhysWindow) -> Objects {
        Objects { mem: window }
    }

    /// The window, for the kernel's own access to object memory it defines.
    pub fn window(&self) -> PhysWindow {
        self.mem
    }
}

/// Whether a long operation finished or stopped at a preemption point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Completion {
    /// The operation is complete.
    Done,
    /// The operation stopped because [`ObjectHooks::preemption_pending`]
    /// said so. Its progress is saved in object memory; the kernel handles
    /// the pending interrupt and later restarts the same system call, which
    /// continues where it stopped.
    Preempted,
}

/// What the kernel does for the object model: the effects that need
/// hardware or kernel state this crate does not own.
pub trait ObjectHooks {
    /// The last capability to an object is being deleted; `cap` is that
    /// capability, still in place. The kernel undoes what only it knows:
    /// - Endpoint / Notification: wake every waiting thread with an error
    ///   ([`Objects::endpoint_cancel_all`], [`Objects::notification_cancel_all`])
    ///   and unbind a bound thread;
    /// - Tcb: suspend the thread (remove it from the ready queue and any IPC
    ///   queue, [`Objects::ipc_cancel`]), unbind its notification; its
    ///   capability slots are emptied afterwards by the object model;
    /// - Frame / page tables / IoPageTable: unmap it where `cap` says it is
    ///   mapped and flush the TLB / IOTLB;
    /// - Pml4: release its ASID; IrqHandler: mask and unbind the IRQ.
    ///
    /// Finalising a frame mapping also happens for non-final frame caps that
    /// are mapped: see [`ObjectHooks::unmap`].
    fn finalise(&mut self, objects: Objects, cap: Cap);

    /// A mapped frame or paging-structure capability is being deleted (final
    /// or not): each mapping belongs to one cap, so it is undone with the cap.
    fn unmap(&mut self, objects: Objects, cap: Cap);

    /// Called between the steps of long operations (delete, revoke): return
    /// `true` if an interrupt is pending and the operation should stop.
    fn preemption_pending(&mut self) -> bool;
}
