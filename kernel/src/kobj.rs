//! The kernel's handle on its objects, the current thread, a thread's
//! registers and bookkeeping, and the effects of destroying objects.
//!
//! All kernel objects live in memory retyped from untyped and are reached
//! through the physical map; `ward_kernel_objects` keeps their state. This
//! module holds the [`Objects`] handle (a constant window onto the physical
//! map), the scheduler's ready queues, which thread is current, the ASID
//! table that names address spaces, and the [`ObjectHooks`] through which
//! the object model asks the kernel to do what only it can (unmap a frame,
//! wake threads, check for interrupts).
//!
//! **Aliasing.** Object memory is reached only through raw pointers: the
//! object model reads and writes words through its window, and the kernel's
//! own parts of a TCB (the saved registers and the bookkeeping after them)
//! through [`Registers`] and [`Bookkeeping`], which read or write one word
//! or one plain-data struct at a time and never hand out a reference. So no
//! two `&mut` can name the same memory, however the object graph is shaped
//! (a TCB reached through two capabilities, one thread both sender and
//! receiver of its own fault). Kernel code runs with interrupts disabled
//! and under the big kernel lock (`bkl.rs`), so no access is concurrent
//! with another; the trap entry code writes a thread's registers only
//! while that thread is its core's current one, and a core that wants to
//! change a thread running elsewhere stalls it first (`smp::stall`). The
//! ready queues and the current thread are per core; the ASID table is
//! global, under the lock.
use crate::arch::x86_64::paging::PHYSMAP_BASE;
use crate::arch::x86_64::trap::{Reg, UserContext};
use crate::bkl::UnderKernelLock;
use core::sync::atomic::Ordering;
use spin::Mutex;
use ward_kernel_config::{MAX_CPUS, MAX_PHYS_MEMORY};
use ward_kernel_objects::sched::ReadyQueues;
use ward_kernel_objects::tcb::{field, ThreadState};
use ward_kernel_objects::{Cap, ObjectHooks, Objects, PhysWindow, Tcb};

/// The object handle: a window onto the physical map, a constant so that
/// its base and bounds fold into every access.
const OBJECTS: Objects = Objects::new(
    // SAFETY: the physical map covers [0, MAX_PHYS_MEMORY) (a power of two)
    // for the kernel's lifetime from `paging::init_kernel_address_space`
    // on, before any object exists; its base is page-aligned; the kernel
    // reaches object memory only through raw pointers (see the module
    // documentation).
    unsafe { PhysWindow::new(PHYSMAP_BASE as *mut u8, MAX_PHYS_MEMORY) },
);

/// The object model's handle.
#[inline(always)]
pub fn objects() -> Objects {
    OBJECTS
}

/// The ready queues, one set per core: a thread is queued on its affinity's.
pub static READY: [UnderKernelLock<ReadyQueues>; MAX_CPUS] =
    [const { UnderKernelLock::new(ReadyQueues::new()) }; MAX_CPUS];

/// The ready queues of the core `tcb` runs on (its affinity).
#[inline(always)]
pub fn ready_queues_of(tcb: Tcb) -> &'static UnderKernelLock<ReadyQueues> {
    &READY[affinity(tcb)]
}

/// This core's ready queues.
#[inline(always)]
pub fn local_ready_queues() -> &'static UnderKernelLock<ReadyQueues> {
    crate::cpu_local::ready_queues()
}

/// The core `tcb` may run on (`tcb_set_affinity`; core 0 until set).
#[inline(always)]
pub fn affinity(tcb: Tcb) -> usize {
    // Only `sched::set_affinity` writes the field, with a core that runs.
    (objects().tcb_field(tcb, field::AFFINITY) as usize).min(MAX_CPUS - 1)
}

/// The thread running on this core (`None`: the idle loop).
#[inline(always)]
pub fn current() -> Option<Tcb> {
    crate::cpu_local::current()
}

/// Makes `tcb` the thread running on this core.
#[inline]
pub fn set_current(tcb: Option<Tcb>) {
    crate::cpu_local::this()
        .current
        .store(tcb.map_or(0, |t| t.0), Ordering::Relaxed);
}

/// A thread's saved registers: the [`UserContext`] at the start of its TCB,
/// read and written a word (or the whole struct, by copy) at a time.
#[derive(Clone, Copy, Debug)]
pub struct Registers(*mut u64);

impl Registers {
    /// The registers of `tcb`.
    #[inline]
    pub fn of(tcb: Tcb) -> Registers {
        Registers(objects().tcb_context(tcb) as *mut u64)
    }

    #[inline(always)]
    pub fn get(self, reg: Reg) -> u64 {
        // SAFETY: `self.0` is a TCB's context area (the window checked its
        // range), which holds a UserContext: `reg` indexes one of its words.
        // No reference to it exists (module documentation).
        unsafe { self.0.add(reg as usize).read() }
    }

    #[inline(always)]
    pub fn set(self, reg: Reg, value: u64) {
        // SAFETY: as in `get`.
        unsafe { self.0.add(reg as usize).write(value) }
    }

    /// A copy of all the registers.
    #[inline]
    pub fn read(self) -> UserContext {
        // SAFETY: as in `get`; the context area holds a whole UserContext
        // (plain words, 16-byte aligned at the TCB's start).
        unsafe { (self.0 as *const UserContext).read() }
    }

    /// Replaces all the registers.
    #[inline]
    pub fn write(self, context: &UserContext) {
        // SAFETY: as in `read`.
        unsafe { (self.0 as *mut UserContext).write(*context) }
    }

    /// Message registers 0..4 (`rdx`, `r10`, `r8`, `r9`).
    #[inline(always)]
    pub fn message(self) -> [u64; 4] {
        [
            self.get(Reg::Rdx),
            self.get(Reg::R10),
            self.get(Reg::R8),
            self.get(Reg::R9),
        ]
    }

    /// Sets message registers 0..4 (also the four error detail words).
    #[inline(always)]
    pub fn set_message(self, words: [u64; 4]) {
        self.set(Reg::Rdx, words[0]);
        self.set(Reg::R10, words[1]);
        self.set(Reg::R8, words[2]);
        self.set(Reg::R9, words[3]);
    }

    /// A failed syscall: the error code in `rax`, its details in the
    /// message registers.
    pub fn set_error(self, error: ward_abi::Error, details: [u64; 4]) {
        self.set(Reg::Rax, error as u64);
        self.set_message(details);
    }
}

/// Kernel bookkeeping kept in a TCB's context area, after the registers:
/// what a blocked sender is sending, whom a caller waits for, and the fault
/// a thread is reporting. The object model reserves the whole 1 KiB context
/// area for the kernel. Read and written through [`Bookkeeping`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadExtra {
    /// A blocked sender's message info.
    pub pending_info: u64,
    /// A blocked sender's flags (`SEND_*` in ipc.rs).
    pub pending_flags: u64,
    /// While blocked on reply: the thread holding our reply capability.
    pub reply_partner: u64,
    /// The fault being reported (kind 0 = none) and its message words.
    pub fault_kind: u64,
    pub fault_words: [u64; 6],
    /// A retype stopped at a preemption point: which one (untyped slot,
    /// memory start, length) and how many bytes are already zeroed.
    pub retype_key: [u64; 3],
    pub retype_done: u64,
}

const _: () = assert!(
    core::mem::size_of::<UserContext>() + core::mem::size_of::<ThreadExtra>()
        <= ward_kernel_objects::tcb::TCB_CONTEXT_BYTES as usize
);

/// A thread's [`ThreadExtra`], a field (or the whole struct, by copy) at a time.
#[derive(Clone, Copy, Debug)]
pub struct Bookkeeping(*mut ThreadExtra);

/// Getters and setters of [`ThreadExtra`]'s fields through the raw pointer.
macro_rules! bookkeeping_fields {
    ($($field:ident / $setter:ident: $type:ty;)*) => {
        impl Bookkeeping {
            $(
                #[inline(always)]
                pub fn $field(self) -> $type {
                    // SAFETY: `self.0` points at a TCB's ThreadExtra (see
                    // `Bookkeeping::of`); no reference to it exists.
                    unsafe { core::ptr::addr_of!((*self.0).$field).read() }
                }
                #[inline(always)]
                pub fn $setter(self, value: $type) {
                    // SAFETY: as above.
                    unsafe { core::ptr::addr_of_mut!((*self.0).$field).write(value) }
                }
            )*
        }
    };
}

bookkeeping_fields! {
    pending_info / set_pending_info: u64;
    pending_flags / set_pending_flags: u64;
    reply_partner / set_reply_partner: u64;
    fault_kind / set_fault_kind: u64;
    fault_words / set_fault_words: [u64; 6];
    retype_key / set_retype_key: [u64; 3];
    retype_done / set_retype_done: u64;
}

impl Bookkeeping {
    /// The bookkeeping of `tcb`.
    #[inline]
    pub fn of(tcb: Tcb) -> Bookkeeping {
        let base = objects().tcb_context(tcb) as usize + core::mem::size_of::<UserContext>();
        // The context area is 1 KiB (checked above to hold both structs),
        // owned by the kernel, 16-byte aligned at this offset (UserContext
        // is a multiple of 16 bytes), all bit patterns valid.
        Bookkeeping(base as *mut ThreadExtra)
    }

    /// A copy of all of it.
    #[inline]
    pub fn read(self) -> ThreadExtra {
        // SAFETY: as for the fields.
        unsafe { self.0.read() }
    }
}

/// The registers of `tcb` (shorthand for [`Registers::of`]).
#[inline(always)]
pub fn registers(tcb: Tcb) -> Registers {
    Registers::of(tcb)
}

/// The bookkeeping of `tcb` (shorthand for [`Bookkeeping::of`]).
#[inline(always)]
pub fn bookkeeping(tcb: Tcb) -> Bookkeeping {
    Bookkeeping::of(tcb)
}

/// Rewrites the capability in `slot` in place, keeping its derivation-tree
/// links: for the kernel's own bookkeeping fields (where a frame or page
/// table is mapped), which the object model leaves to the kernel.
pub fn replace_cap(slot: ward_kernel_objects::Slot, cap: Cap) {
    let [w0, w1] = cap.encode();
    let window = objects().window();
    window.write_word(slot.0, w0);
    window.write_word(slot.0 + 8, w1);
}

/// Makes a thread runnable and queues it on its core; that core is told
/// when it must choose again now (`smp::reschedule`).
pub fn make_runnable(tcb: Tcb) {
    let objects = objects();
    objects.set_tcb_state(tcb, ThreadState::Running);
    let core = affinity(tcb);
    let mut ready = READY[core].lock();
    if !ready.contains(&objects, tcb) {
        ready.enqueue(&objects, tcb);
        drop(ready);
        if core != crate::cpu_local::index() {
            crate::smp::reschedule(core, objects.tcb_priority(tcb));
        }
    }
}

/// Takes a thread out of the ready queues (it blocked or stopped).
pub fn make_not_runnable(tcb: Tcb) {
    let objects = objects();
    let mut ready = ready_queues_of(tcb).lock();
    if ready.contains(&objects, tcb) {
        ready.remove(&objects, tcb);
    }
}

/// Wakes a thread whose IPC was cancelled (its endpoint or notification was
/// destroyed): its system call fails with `InvalidCapability`.
pub fn wake_with_error(tcb: Tcb) {
    let registers = registers(tcb);
    registers.set(Reg::Rax, ward_abi::Error::InvalidCapability as u64);
    registers.set(Reg::Rdx, 0);
    make_runnable(tcb);
}

/// Makes a thread whose IPC was cancelled run its system call again (as
/// seL4 does for cancelled badged sends): the call sees the new state.
pub fn restart_syscall(tcb: Tcb) {
    let registers = registers(tcb);
    if registers.get(Reg::Vector) == crate::arch::x86_64::trap::SYSCALL_VECTOR {
        registers.set(Reg::Rip, registers.get(Reg::Rip).wrapping_sub(2));
    }
    make_runnable(tcb);
}

/// Address-space identifiers: `ASID_TABLE[asid]` is the physical address of
/// the PML4 an ASID names (0 = free). Mappings record an ASID rather than a
/// pointer, so a deleted address space can be recognised: its ASID is freed
/// and stale mapping records no longer match anything.
const ASID_COUNT: usize = IO_ASID_BASE as usize;
/// Mapping records with an ASID from here up name an IO domain
/// (`IO_ASID_BASE + domain`) rather than a VSpace: frames and IO page
/// tables mapped for DMA record where they are mapped the same way.
pub const IO_ASID_BASE: u16 = 0xF00;
/// Global: shared by every CPU (multicore keeps it global, under its lock).
static ASID_TABLE: Mutex<[u64; ASID_COUNT]> = Mutex::new([0; ASID_COUNT]);

/// The ASID of `pml4`, assigning a free one on first use. `None` if all are taken.
pub fn asid_for(pml4: u64) -> Option<u16> {
    let mut table = ASID_TABLE.lock();
    if let Some(asid) = table.iter().position(|&p| p == pml4).filter(|&a| a != 0) {
        return Some(asid as u16);
    }
    let free = (1..ASID_COUNT).find(|&a| table[a] == 0)?;
    table[free] = pml4;
    Some(free as u16)
}

/// The PML4 an ASID names, if it is still in use.
pub fn pml4_of(asid: u16) -> Option<u64> {
    let pml4 = ASID_TABLE.lock().get(asid as usize).copied().unwrap_or(0);
    (pml4 != 0).then_some(pml4)
}

/// Frees every ASID naming `pml4` (the address space is being destroyed).
fn release_asids(pml4: u64) {
    for entry in ASID_TABLE.lock().iter_mut() {
        if *entry == pml4 {
            *entry = 0;
        }
    }
}

/// The kernel's side of object destruction.
pub struct KernelHooks;

impl ObjectHooks for KernelHooks {
    fn finalise(&mut self, objects: Objects, cap: Cap) {
        match cap {
            Cap::Endpoint { object, .. } => objects.endpoint_cancel_all(object, wake_with_error),
            Cap::Notification { object, .. } => {
                crate::irq::forget_notification(object);
                crate::iospace::forget_notification(object);
                objects.notification_cancel_all(object, wake_with_error)
            }
            Cap::IoPort { first, last } => crate::ioport::release(first, last),
            Cap::IoSpace { requester, domain } => crate::iospace::release(requester, domain),
            Cap::IrqHandler { irq } => crate::irq::release(irq),
            Cap::Tcb { object, .. } => {
                let tcb = Tcb(object);
                // A thread running on another core stops first: its TCB is
                // about to be destroyed.
                crate::smp::stall(tcb);
                crate::thread::suspend(tcb);
                // An error only says no notification was bound: nothing to undo.
                let _ = objects.unbind_notification(tcb);
                if current() == Some(tcb) {
                    set_current(None);
                }
            }
            Cap::Reply { tcb, .. } => {
                // The thread that could have answered is gone (destroyed,
                // restarted, or it dropped the reply): the caller, if it is
                // still waiting for this reply, gets an error instead of
                // waiting forever.
                let caller = Tcb(tcb);
                let record = bookkeeping(caller);
                if objects.tcb_state(caller) == ThreadState::BlockedOnReply
                    && record.reply_partner() != 0
                {
                    record.set_reply_partner(0);
                    if record.fault_kind() != 0 {
                        // A faulting thread runs its faulting instruction again
                        // and so reports the fault afresh: its registers are its
                        // own, not a syscall's results.
                        record.set_fault_kind(0);
                    } else {
                        registers(caller).set_error(ward_abi::Error::IllegalOperation, [0; 4]);
                    }
                    make_runnable(caller);
                }
            }
            Cap::Pml4 { object, .. } => {
                release_asids(object);
                crate::vspace::forget_address_space(object);
            }
            _ => self.unmap(objects, cap),
        }
    }

    fn unmap(&mut self, _objects: Objects, cap: Cap) {
        crate::vspace::unmap_cap(cap);
    }

    fn preemption_pending(&mut self) -> bool {
        crate::arch::x86_64::apic::timer_interrupt_pending()
    }
}
