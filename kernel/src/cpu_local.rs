//! Per-core kernel state, reached through the GS segment base.
//!
//! Each core has one [`PerCpu`] record. While the core runs kernel code its
//! GS base points at its record (`swapgs` on every entry from and exit to
//! user mode swaps it with the user's GS base, which the kernel never
//! reads), so "this core's X" is one `gs:`-relative load. The first words
//! are read by the entry assembly in `arch/x86_64/trap.rs` at the fixed
//! offsets below; the rest only by Rust.
//!
//! Every field is an atomic word: a record is written by its own core, and
//! read by others under the big kernel lock (which core runs which thread,
//! which address space it has loaded) or through the cross-core call
//! mailbox (`smp.rs`), so no reference to a record is ever exclusive.
use core::sync::atomic::{AtomicU64, Ordering};
use ward_kernel_config::MAX_CPUS;
use ward_kernel_objects::Tcb;

/// Offsets the entry assembly uses (checked against the struct below).
pub const OFFSET_CURRENT_CONTEXT: usize = 8;
pub const OFFSET_CURRENT_CONTEXT_TOP: usize = 16;
pub const OFFSET_USER_RSP: usize = 24;
pub const OFFSET_KERNEL_STACK_TOP: usize = 32;

/// One core's kernel state. Cache-line aligned so that two cores' records
/// never share a line.
#[repr(C, align(64))]
pub struct PerCpu {
    /// The record's own address (so `gs:[0]` gives a pointer to it).
    self_address: AtomicU64,
    /// The running thread's register context: `return_to_user` restores it.
    pub current_context: AtomicU64,
    /// The end of that context: where `syscall_entry` builds its frame.
    pub current_context_top: AtomicU64,
    /// Scratch for the user stack pointer during `syscall` entry.
    pub user_rsp: AtomicU64,
    /// Top of this core's kernel stack.
    pub kernel_stack_top: AtomicU64,
    /// This core's index (0 = the bootstrap processor).
    pub index: AtomicU64,
    /// The running thread's TCB (0 = the idle loop).
    pub current: AtomicU64,
    /// The local APIC id, for addressing IPIs to this core.
    pub apic_id: AtomicU64,
    /// The PML4 loaded in CR3: TLB shootdowns go to the cores whose CR3
    /// names the address space changed (no PCIDs, so a core that loaded
    /// another CR3 since holds no stale entries of it).
    pub address_space: AtomicU64,
    /// The TSC at this core's last thread switch (CPU-time accounting).
    pub last_switch_tsc: AtomicU64,
    /// 1 while a cross-core call to this core waits to be run (smp.rs).
    pub call_pending: AtomicU64,
    /// 1 while a reschedule IPI to this core is in flight: another one
    /// would add nothing (counted as avoided).
    pub reschedule_pending: AtomicU64,
    /// 1 once the core has started and runs the kernel.
    pub online: AtomicU64,
    /// Set by a reschedule IPI: the idle loop must look at its queues.
    pub woken: AtomicU64,
    /// This core's ready queues (`kobj::READY[index]`), so that choosing
    /// costs one load.
    pub ready_queues: AtomicU64,
    /// Where this core's TSS keeps `rsp0` (`gdt::set_kernel_entry_stack`).
    pub tss_rsp0: AtomicU64,
    /// This core's counters: its record on the statistics page, or
    /// `scratch_statistics` until the page exists.
    pub statistics: AtomicU64,
    /// Where counting goes before the statistics page exists.
    scratch_statistics: [AtomicU64; ward_abi::kstats::word::PER_CPU_WORDS],
}

const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(PerCpu, current_context) == OFFSET_CURRENT_CONTEXT);
    assert!(offset_of!(PerCpu, current_context_top) == OFFSET_CURRENT_CONTEXT_TOP);
    assert!(offset_of!(PerCpu, user_rsp) == OFFSET_USER_RSP);
    assert!(offset_of!(PerCpu, kernel_stack_top) == OFFSET_KERNEL_STACK_TOP);
};

#[allow(clippy::declare_interior_mutable_const)]
const OFFLINE: PerCpu = PerCpu {
    self_address: AtomicU64::new(0),
    current_context: AtomicU64::new(0),
    current_context_top: AtomicU64::new(0),
    user_rsp: AtomicU64::new(0),
    kernel_stack_top: AtomicU64::new(0),
    index: AtomicU64::new(0),
    current: AtomicU64::new(0),
    apic_id: AtomicU64::new(0),
    address_space: AtomicU64::new(0),
    last_switch_tsc: AtomicU64::new(0),
    call_pending: AtomicU64::new(0),
    reschedule_pending: AtomicU64::new(0),
    online: AtomicU64::new(0),
    woken: AtomicU64::new(0),
    ready_queues: AtomicU64::new(0),
    tss_rsp0: AtomicU64::new(0),
    statistics: AtomicU64::new(0),
    scratch_statistics: [const { AtomicU64::new(0) }; ward_abi::kstats::word::PER_CPU_WORDS],
};

/// Every core's record, by core index.
pub static CPUS: [PerCpu; MAX_CPUS] = [OFFLINE; MAX_CPUS];

const MSR_GS_BASE: u32 = 0xC000_0101;
const MSR_KERNEL_GS_BASE: u32 = 0xC000_0102;
const MSR_TSC_AUX: u32 = 0xC000_0103;

/// Points this core's GS base at record `index` (user GS base 0) and fills
/// in what the entry code needs. Called once per core, before any code
/// that asks which core it runs on.
pub fn init(index: usize, apic_id: u32, kernel_stack_top: u64) {
    let record = &CPUS[index];
    record
        .self_address
        .store(record as *const PerCpu as u64, Ordering::Relaxed);
    record.index.store(index as u64, Ordering::Relaxed);
    record.apic_id.store(u64::from(apic_id), Ordering::Relaxed);
    record
        .kernel_stack_top
        .store(kernel_stack_top, Ordering::Relaxed);
    record.ready_queues.store(
        &crate::kobj::READY[index] as *const _ as u64,
        Ordering::Relaxed,
    );
    // The statistics page may already have given this core its record.
    let _ = record.statistics.compare_exchange(
        0,
        record.scratch_statistics.as_ptr() as u64,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    use crate::arch::x86_64::cpu;
    cpu::wrmsr(MSR_GS_BASE, record as *const PerCpu as u64);
    // `rdtscp` and `rdpid` give user code the core it runs on (tests and
    // benchmarks check placement with it): TSC_AUX holds the core index.
    const RDTSCP: u32 = 1 << 27;
    if cpu::cpuid(0x8000_0001, 0).3 & RDTSCP != 0 {
        cpu::wrmsr(MSR_TSC_AUX, index as u64);
    }
    cpu::wrmsr(MSR_KERNEL_GS_BASE, 0);
    record
        .address_space
        .store(cpu::read_cr3(), Ordering::Relaxed);
}

/// This core's record.
#[inline(always)]
pub fn this() -> &'static PerCpu {
    let address: u64;
    // SAFETY: in kernel mode GS base is this core's record (set by `init`
    // before any caller, swapped back on every entry from user mode); its
    // first word is the record's own address.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) address, options(nostack, readonly, preserves_flags))
    };
    // SAFETY: the address is that of an element of the static `CPUS`.
    unsafe { &*(address as *const PerCpu) }
}

/// This core's index.
#[inline(always)]
pub fn index() -> usize {
    let index: u64;
    // SAFETY: as in `this`; word 5 of the record is its index.
    unsafe {
        core::arch::asm!("mov {}, gs:[40]", out(reg) index, options(nostack, readonly, preserves_flags))
    };
    index as usize
}

/// The thread running on this core.
#[inline(always)]
pub fn current() -> Option<Tcb> {
    let tcb: u64;
    // SAFETY: as in `this`; word 6 of the record is the current TCB.
    unsafe {
        core::arch::asm!("mov {}, gs:[48]", out(reg) tcb, options(nostack, readonly, preserves_flags))
    };
    Tcb::from_link(tcb)
}

/// This core's ready queues.
#[inline(always)]
pub fn ready_queues(
) -> &'static crate::bkl::UnderKernelLock<ward_kernel_objects::sched::ReadyQueues> {
    let address: u64;
    // SAFETY: as in `this`; the word at this offset is the address of this
    // core's element of the static `kobj::READY`, set by `init`.
    unsafe {
        core::arch::asm!("mov {}, gs:[{offset}]", out(reg) address,
            offset = const core::mem::offset_of!(PerCpu, ready_queues),
            options(nostack, readonly, preserves_flags))
    };
    // SAFETY: see above.
    unsafe {
        &*(address as *const crate::bkl::UnderKernelLock<ward_kernel_objects::sched::ReadyQueues>)
    }
}

/// Adds `amount` to word `field` of this core's counters (`kstats::word::cpu`).
#[inline(always)]
pub fn count(field: usize, amount: u64) {
    let address: u64;
    // SAFETY: as in `this`; the word at this offset is the address of this
    // core's counters (on the statistics page or in its record), set by
    // `init` and `stats::init`, `PER_CPU_WORDS` words long.
    unsafe {
        core::arch::asm!("mov {}, gs:[{offset}]", out(reg) address,
            offset = const core::mem::offset_of!(PerCpu, statistics),
            options(nostack, readonly, preserves_flags))
    };
    debug_assert!(field < ward_abi::kstats::word::PER_CPU_WORDS);
    // SAFETY: see above; `field` is one of the record's word offsets, and an
    // aligned u64 is a valid AtomicU64.
    let counter = unsafe { &*((address as *const AtomicU64).add(field)) };
    counter.fetch_add(amount, Ordering::Relaxed);
}

const _: () = {
    assert!(core::mem::offset_of!(PerCpu, index) == 40);
    assert!(core::mem::offset_of!(PerCpu, current) == 48);
};

/// The core whose current thread is `tcb`, if any.
pub fn running_on(tcb: Tcb) -> Option<usize> {
    CPUS.iter()
        .position(|cpu| cpu.current.load(Ordering::Relaxed) == tcb.0)
}

/// Cores started so far (the bootstrap processor included).
pub fn online_count() -> usize {
    CPUS.iter()
        .filter(|cpu| cpu.online.load(Ordering::Relaxed) != 0)
        .count()
}
