//! Multicore: starting the application processors, and what one core asks
//! of another through inter-processor interrupts (IPIs).
//!
//! **Bring-up.** The bootstrap processor (core 0) starts every other core
//! the ACPI MADT lists, one at a time, with INIT and two STARTUPs; each
//! runs the trampoline (`boot/ap_start.rs`) into [`ap_main`], which gives
//! it its own kernel stack, GDT, TSS, per-core record and local APIC timer
//! and then enters the scheduler, whose idle loop is the core's idle thread.
//!
//! **Two kinds of IPI.**
//! - *Reschedule* ([`RESCHEDULE_VECTOR`]): a thread was made runnable on
//!   another core. Sent only when that core must act now: it is idle, or
//!   the woken thread outranks the one it runs. Otherwise (or when one is
//!   already on its way) it is counted as avoided, and the other core finds
//!   the thread at its next scheduling decision.
//! - *Cross-core call* ([`CALL_VECTOR`]): the lock holder needs another core
//!   to do something to itself and waits until it has (a TLB shootdown; a
//!   stall, so that a thread running there stops running). The request is
//!   one global record (only the lock holder makes requests, so there is
//!   one at a time) and a pending flag per target core, which the target
//!   clears when done. Targets answer in the IPI's handler without taking
//!   the big kernel lock, or — when they are waiting for the lock with
//!   interrupts disabled — from the lock's wait loop (`bkl.rs`).
//!
//! **Ordering of a shootdown.** The page-table entry is cleared first; a
//! full fence (`mfence`) orders that store before the request and the IPI;
//! the unmap returns only after every target has cleared its pending flag
//! (acquire), which it does after its `invlpg` or CR3 reload (release).
//! A target that walks the tables after that sees the cleared entry.
use crate::arch::x86_64::{apic, cpu, paging};
use crate::cpu_local::{self, CPUS};
use core::cell::UnsafeCell;
use core::sync::atomic::{fence, AtomicU64, Ordering};
use ward_kernel_config::{KERNEL_STACK_SIZE, MAX_CPUS};
use ward_kernel_objects::Tcb;

/// IPI vector: choose again (a thread was made runnable here).
pub const RESCHEDULE_VECTOR: u8 = 0xE0;
/// IPI vector: answer the pending cross-core call.
pub const CALL_VECTOR: u8 = 0xE1;

/// Bytes of the unmapped guard page below each application processor's
/// stack: an overflow faults (the double-fault handler, on its own IST
/// stack, reports it) instead of running into the next core's stack.
const STACK_GUARD: usize = 4096;

/// One application processor's kernel stack, with its guard page below it.
#[repr(C, align(4096))]
struct GuardedStack {
    guard: [u8; STACK_GUARD],
    stack: [u8; KERNEL_STACK_SIZE],
}

/// The application processors' kernel stacks (core 0 has the image's own,
/// `__kstack_top`, with a guard page below it too).
#[repr(C, align(4096))]
struct Stacks(UnsafeCell<[GuardedStack; MAX_CPUS - 1]>);
// SAFETY: each stack is used by exactly one core, and only as a stack
// (through rsp); no Rust reference into it is ever formed.
unsafe impl Sync for Stacks {}
static AP_STACKS: Stacks = Stacks(UnsafeCell::new(
    [const {
        GuardedStack {
            guard: [0; STACK_GUARD],
            stack: [0; KERNEL_STACK_SIZE],
        }
    }; MAX_CPUS - 1],
));

/// The top of core `index`'s kernel stack (`index` ≥ 1).
fn ap_stack_top(index: usize) -> u64 {
    // SAFETY: only the address of stack `index - 1` is taken.
    let bottom = unsafe { core::ptr::addr_of!((*AP_STACKS.0.get())[index - 1].stack) } as u64;
    bottom + KERNEL_STACK_SIZE as u64
}

/// Whether the kernel-image page at `vaddr` is an application processor's
/// stack guard, which the kernel's page tables leave unmapped.
pub fn is_stack_guard(vaddr: u64) -> bool {
    (1..MAX_CPUS).any(|index| {
        let guard = ap_stack_top(index) - (KERNEL_STACK_SIZE + STACK_GUARD) as u64;
        (guard..guard + STACK_GUARD as u64).contains(&vaddr)
    })
}

/// Busy-waits `micros` microseconds by the TSC.
fn delay_us(micros: u64) {
    let ticks = apic::tsc_hz() / 1_000_000 * micros;
    let start = cpu::rdtsc();
    while cpu::rdtsc().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

/// Makes the bootstrap processor core 0 (its per-core record, stack).
pub fn init_bootstrap_processor() {
    extern "C" {
        static __kstack_top: u8;
    }
    let stack_top = core::ptr::addr_of!(__kstack_top) as u64;
    cpu_local::init(0, apic_id_from_cpuid(), stack_top);
    CPUS[0].online.store(1, Ordering::Release);
}

/// This core's initial APIC id (CPUID leaf 1), readable before the local
/// APIC is mapped.
fn apic_id_from_cpuid() -> u32 {
    cpu::cpuid(1, 0).1 >> 24
}

/// Starts every core in `apic_ids` (the MADT's enabled CPUs) but this one,
/// up to `MAX_CPUS` in all, or `limit` if smaller. Returns how many cores
/// run. The caller holds the big kernel lock: each started core waits for
/// it before it first schedules.
pub fn start_application_processors(apic_ids: &[u8], limit: usize) -> usize {
    let own = apic::id();
    let mut next = 1;
    for &apic_id in apic_ids.iter().filter(|&&id| u32::from(id) != own) {
        if next >= MAX_CPUS.min(limit) {
            log::warn!(
                "smp: core with APIC id {apic_id} left halted: the kernel runs on at most {} cores",
                MAX_CPUS.min(limit)
            );
            continue;
        }
        let index = next;
        let stack_top = ap_stack_top(index);
        CPUS[index]
            .apic_id
            .store(u64::from(apic_id), Ordering::Relaxed);
        crate::boot::ap_start::install(crate::boot::ap_start::TrampolineParams {
            cr3: crate::boot::ap_start::boot_page_tables(),
            stack_top,
            index: index as u64,
            apic_id: u64::from(apic_id),
        });
        fence(Ordering::SeqCst);
        // Intel's MP start-up sequence: INIT, 10 ms, STARTUP, 200 µs, STARTUP.
        let page = (crate::boot::ap_start::TRAMPOLINE_PHYS >> 12) as u8;
        apic::send_init(u32::from(apic_id));
        delay_us(10_000);
        apic::send_startup(u32::from(apic_id), page);
        delay_us(200);
        if CPUS[index].online.load(Ordering::Acquire) == 0 {
            apic::send_startup(u32::from(apic_id), page);
        }
        // Under TCG a core comes up in a few milliseconds; a loaded host
        // can stretch that, so wait up to a second.
        let deadline = cpu::rdtsc() + apic::tsc_hz();
        while CPUS[index].online.load(Ordering::Acquire) == 0 && cpu::rdtsc() < deadline {
            core::hint::spin_loop();
        }
        if CPUS[index].online.load(Ordering::Acquire) == 0 {
            // INIT puts it back to waiting for a STARTUP; should it still
            // run the trampoline, the APIC id check there stops it.
            apic::send_init(u32::from(apic_id));
            log::warn!("smp: core with APIC id {apic_id} did not start; going on without it");
            continue;
        }
        next += 1;
    }
    crate::stats::set_cpus(next as u64);
    next
}

/// An application processor's first Rust code, on its own stack (from the
/// trampoline, still on the boot page tables).
#[no_mangle]
extern "C" fn ap_main(index: u64) -> ! {
    let index = index as usize;
    // SAFETY: the kernel's own tables map the kernel as the boot tables do.
    unsafe { cpu::write_cr3(paging::kernel_pml4()) };
    paging::enable_cpu_features();
    crate::arch::x86_64::gdt::init(index);
    crate::arch::x86_64::idt::load();
    cpu_local::init(index, apic::id(), ap_stack_top(index));
    crate::syscall::init();
    apic::init_ap(ward_kernel_config::TIMER_HZ);
    CPUS[index]
        .last_switch_tsc
        .store(cpu::rdtsc(), Ordering::Relaxed);
    CPUS[index].online.store(1, Ordering::Release);
    crate::bkl::acquire();
    log::info!("smp: core {index} (APIC id {}) running", apic::id());
    crate::sched::schedule_and_run()
}

/// Whether a thread of priority `priority` made runnable on core `target`
/// needs that core to choose now, and if so sends it a reschedule IPI
/// (unless one is on its way). Counts what was sent and what was avoided.
pub fn reschedule(target: usize, priority: u8) {
    let record = &CPUS[target];
    let running = Tcb::from_link(record.current.load(Ordering::Relaxed));
    let needed = match running {
        None => true,
        Some(tcb) => priority > crate::kobj::objects().tcb_priority(tcb),
    };
    if !needed || record.reschedule_pending.swap(1, Ordering::AcqRel) != 0 {
        crate::stats::count_ipi_avoided();
        return;
    }
    // The queue change must be visible before the IPI can be acted on.
    fence(Ordering::SeqCst);
    apic::send_ipi(
        record.apic_id.load(Ordering::Relaxed) as u32,
        RESCHEDULE_VECTOR,
    );
    crate::stats::count_ipi_sent();
}

/// The reschedule IPI arrived: the next scheduling decision on this core
/// (right after this interrupt) sees the new thread.
pub fn reschedule_received() {
    let here = cpu_local::this();
    here.woken.store(1, Ordering::Release);
    here.reschedule_pending.store(0, Ordering::Release);
    crate::stats::count_ipi_received();
    apic::end_of_interrupt();
}

/// What a cross-core call asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    /// Drop the translation of one page of this address space.
    FlushPage = 1,
    /// Drop every translation of this address space (a paging structure went).
    FlushAll = 2,
    /// This address space is being destroyed: stop having it loaded.
    DropAddressSpace = 3,
    /// Stop running this thread (its TCB is about to change under it).
    Stall = 4,
}

/// The pending request: kind, then two arguments. Written only by the big
/// kernel lock's holder, before it sets any target's pending flag.
static REQUEST: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// Runs `request` on every core in `targets` (a bit per core) and waits
/// until all have done it. The caller holds the big kernel lock.
fn call(targets: u32, request: Request, first: u64, second: u64) {
    if targets == 0 {
        return;
    }
    REQUEST[0].store(request as u64, Ordering::Relaxed);
    REQUEST[1].store(first, Ordering::Relaxed);
    REQUEST[2].store(second, Ordering::Relaxed);
    // Whatever the caller changed (page-table entries) and the request are
    // ordered before any target can see its flag or take the IPI.
    fence(Ordering::SeqCst);
    for core in cores_in(targets) {
        CPUS[core].call_pending.store(1, Ordering::Release);
        apic::send_ipi(
            CPUS[core].apic_id.load(Ordering::Relaxed) as u32,
            CALL_VECTOR,
        );
        crate::stats::count_ipi_sent();
    }
    for core in cores_in(targets) {
        while CPUS[core].call_pending.load(Ordering::Acquire) != 0 {
            core::hint::spin_loop();
        }
    }
}

fn cores_in(mask: u32) -> impl Iterator<Item = usize> {
    (0..MAX_CPUS).filter(move |core| mask & (1 << core) != 0)
}

/// Answers this core's pending cross-core call, if there is one. Runs in
/// the call IPI's handler and in the big kernel lock's wait loop, with
/// interrupts disabled, without the lock.
pub fn answer_calls() {
    let me = cpu_local::this();
    if me.call_pending.load(Ordering::Acquire) == 0 {
        return;
    }
    let kind = REQUEST[0].load(Ordering::Relaxed);
    let (first, second) = (
        REQUEST[1].load(Ordering::Relaxed),
        REQUEST[2].load(Ordering::Relaxed),
    );
    let loaded = me.address_space.load(Ordering::Relaxed);
    match kind {
        k if k == Request::FlushPage as u64 && loaded == first => paging::invalidate_page(second),
        k if k == Request::FlushAll as u64 && loaded == first => {
            // SAFETY: reloading the same CR3 only empties the TLB.
            unsafe { cpu::write_cr3(loaded) }
        }
        k if k == Request::DropAddressSpace as u64 && loaded == first => {
            let kernel = paging::kernel_pml4();
            // SAFETY: the kernel's own PML4 maps the kernel.
            unsafe { cpu::write_cr3(kernel) };
            me.address_space.store(kernel, Ordering::Relaxed);
        }
        k if k == Request::Stall as u64 && me.current.load(Ordering::Relaxed) == first => {
            crate::sched::stall_current();
        }
        _ => {}
    }
    me.call_pending.store(0, Ordering::Release);
}

/// The call IPI arrived.
pub fn call_received() {
    answer_calls();
    crate::stats::count_ipi_received();
    apic::end_of_interrupt();
}

/// The other cores that have `pml4` loaded.
fn cores_with(pml4: u64) -> u32 {
    let me = cpu_local::index();
    (0..MAX_CPUS)
        .filter(|&core| core != me && CPUS[core].address_space.load(Ordering::Relaxed) == pml4)
        .fold(0, |mask, core| mask | 1 << core)
}

/// A page-table entry of `pml4` covering `vaddr` was cleared: no core may
/// keep using the old translation. With `whole`, a paging structure went,
/// and every translation of the address space is dropped. Returns after
/// every core that had the address space loaded has done it.
pub fn shootdown(pml4: u64, vaddr: u64, whole: bool) {
    if cpu::read_cr3() == pml4 {
        if whole {
            // SAFETY: reloading the same CR3 only empties the TLB.
            unsafe { cpu::write_cr3(pml4) }
        } else {
            paging::invalidate_page(vaddr);
        }
    }
    let targets = cores_with(pml4);
    if targets != 0 {
        let kind = if whole {
            Request::FlushAll
        } else {
            Request::FlushPage
        };
        call(targets, kind, pml4, vaddr);
        crate::stats::count_shootdown();
    }
}

/// `pml4` is being destroyed: no core may keep it loaded.
pub fn drop_address_space(pml4: u64) {
    if cpu::read_cr3() == pml4 {
        let kernel = paging::kernel_pml4();
        // SAFETY: the kernel's own PML4 maps the kernel.
        unsafe { cpu::write_cr3(kernel) };
        cpu_local::this()
            .address_space
            .store(kernel, Ordering::Relaxed);
    }
    call(cores_with(pml4), Request::DropAddressSpace, pml4, 0);
}

/// If `tcb` runs on another core, makes that core stop running it (its
/// registers are then in its TCB and it stays in its ready queue) and
/// returns once it has: the caller may then change the thread as if no
/// core ran it. A thread on this core needs nothing: it is not running
/// while the kernel is.
pub fn stall(tcb: Tcb) {
    if let Some(core) = cpu_local::running_on(tcb) {
        if core != cpu_local::index() {
            call(1 << core, Request::Stall, tcb.0, 0);
            crate::stats::count_remote_stall();
        }
    }
}
