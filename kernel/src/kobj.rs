//! The kernel's handle on its objects, the current thread, and the effects
//! of destroying objects.
//!
//! All kernel objects live in memory retyped from untyped and are reached
//! through the physical map; `ward_kernel_objects` keeps their state. This
//! module holds the one [`Objects`] handle, the scheduler's ready queues,
//! which thread is current, the ASID table that names address spaces, and
//! the [`ObjectHooks`] through which the object model asks the kernel to do
//! what only it can (unmap a frame, wake threads, check for interrupts).
//!
//! Everything here is touched only by the kernel on its single CPU with
//! interrupts disabled, which is what makes the `Sync` wrappers sound.
use crate::arch::x86_64::paging::PHYSMAP_BASE;
use crate::arch::x86_64::trap::UserContext;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;
use ward_kernel_config::MAX_PHYS_MEMORY;
use ward_kernel_objects::sched::ReadyQueues;
use ward_kernel_objects::tcb::{field, ThreadState};
use ward_kernel_objects::{Cap, ObjectHooks, Objects, PhysWindow, Tcb};

/// The object handle (a window onto the physical map).
struct ObjectsCell(Objects);
// SAFETY: the window's raw pointer is the kernel's physical map, valid for
// the kernel's lifetime; only the kernel uses it, on one CPU, with
// interrupts disabled, so there is never concurrent access.
unsafe impl Sync for ObjectsCell {}
// SAFETY: as above; there is one CPU, so the handle never really moves.
unsafe impl Send for ObjectsCell {}

static OBJECTS: spin::Once<ObjectsCell> = spin::Once::new();

/// The object model's handle. Valid after [`init`].
pub fn objects() -> Objects {
    OBJECTS.get().expect("objects initialised at boot").0
}

/// Sets up the object handle over the physical map.
pub fn init() {
    OBJECTS.call_once(|| {
        // SAFETY: the physical map covers [0, MAX_PHYS_MEMORY) for the
        // kernel's lifetime (paging::init_kernel_address_space).
        ObjectsCell(Objects::new(unsafe {
            PhysWindow::new(PHYSMAP_BASE as *mut u8, MAX_PHYS_MEMORY)
        }))
    });
}

/// The ready queues.
pub static READY: Mutex<ReadyQueues> = Mutex::new(ReadyQueues::new());

/// The running thread's TCB (physical address; 0 = idle).
static CURRENT: AtomicU64 = AtomicU64::new(0);

pub fn current() -> Option<Tcb> {
    Tcb::from_link(CURRENT.load(Ordering::Relaxed))
}

pub fn set_current(tcb: Option<Tcb>) {
    CURRENT.store(tcb.map_or(0, |t| t.0), Ordering::Relaxed);
}

/// The register context at the start of a TCB.
pub fn context(tcb: Tcb) -> &'static mut UserContext {
    let pointer = objects().tcb_context(tcb) as *mut UserContext;
    // SAFETY: a TCB's first 1 KiB is the kernel's context area (the object
    // model never touches it), 2 KiB aligned, and UserContext (176 bytes,
    // any bit pattern valid) fits. The kernel is single-threaded with
    // interrupts off, and callers do not keep two references to the same
    // context alive across calls that could touch it.
    unsafe { &mut *pointer }
}

/// Kernel bookkeeping kept in a TCB's context area, after the registers:
/// what a blocked sender is sending, whom a caller waits for, and the fault
/// a thread is reporting. The object model reserves the whole 1 KiB context
/// area for the kernel.
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

/// The kernel bookkeeping of a thread (see [`ThreadExtra`]).
pub fn extra(tcb: Tcb) -> &'static mut ThreadExtra {
    let base = objects().tcb_context(tcb) as usize + core::mem::size_of::<UserContext>();
    // SAFETY: the context area is 1 KiB (checked above to hold both structs),
    // owned by the kernel, 16-byte aligned at this offset (UserContext is a
    // multiple of 16 bytes), all bit patterns valid; single CPU, interrupts off.
    unsafe { &mut *(base as *mut ThreadExtra) }
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

/// Makes a thread runnable and queues it.
pub fn make_runnable(tcb: Tcb) {
    let objects = objects();
    objects.set_tcb_state(tcb, ThreadState::Running);
    let mut ready = READY.lock();
    if !ready.contains(&objects, tcb) {
        ready.enqueue(&objects, tcb);
    }
}

/// Takes a thread out of the ready queues (it blocked or stopped).
pub fn make_not_runnable(tcb: Tcb) {
    let objects = objects();
    let mut ready = READY.lock();
    if ready.contains(&objects, tcb) {
        ready.remove(&objects, tcb);
    }
}

/// Wakes a thread whose IPC was cancelled (its endpoint or notification was
/// destroyed): its system call fails with `InvalidCapability`.
pub fn wake_with_error(tcb: Tcb) {
    let ctx = context(tcb);
    ctx.rax = ward_abi::Error::InvalidCapability as u64;
    ctx.rdx = 0;
    make_runnable(tcb);
}

/// Makes a thread whose IPC was cancelled run its system call again (as
/// seL4 does for cancelled badged sends): the call sees the new state.
pub fn restart_syscall(tcb: Tcb) {
    let ctx = context(tcb);
    if ctx.vector == crate::arch::x86_64::trap::SYSCALL_VECTOR {
        ctx.rip = ctx.rip.wrapping_sub(2);
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
            Cap::Tcb { object } => {
                let tcb = Tcb(object);
                crate::thread::suspend(tcb);
                if objects.tcb_field(tcb, field::BOUND_NOTIFICATION) != 0 {
                    let _ = objects.unbind_notification(tcb);
                }
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
                if objects.tcb_state(caller) == ThreadState::BlockedOnReply
                    && extra(caller).reply_partner != 0
                {
                    extra(caller).reply_partner = 0;
                    if extra(caller).fault_kind != 0 {
                        // A faulting thread runs its faulting instruction again
                        // and so reports the fault afresh: its registers are its
                        // own, not a syscall's results.
                        extra(caller).fault_kind = 0;
                    } else {
                        let ctx = context(caller);
                        ctx.rax = ward_abi::Error::IllegalOperation as u64;
                        (ctx.rdx, ctx.r10, ctx.r8, ctx.r9) = (0, 0, 0, 0);
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
