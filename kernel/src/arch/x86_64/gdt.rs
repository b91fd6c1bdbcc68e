//! The global descriptor table and the task-state segment.
//!
//! The selector layout is fixed by `syscall`/`sysret`: STAR names the kernel
//! code selector (kernel data follows it) and a user base from which `sysret`
//! derives user data (+8) and user 64-bit code (+16).
//!
//! The TSS carries `rsp0`, where the CPU saves a user thread's registers on
//! an interrupt or exception: Ward points it at the end of the current
//! thread's register context, so a trap from user mode stores the user state
//! straight into the thread (as seL4 does), and the interrupt stack table
//! (IST) gives double faults, NMIs and machine checks stacks of their own.
//!
//! Every core has its own GDT, TSS and IST stacks (a TSS is busy while
//! loaded, and `rsp0` is per running thread); they are indexed by core.
use spin::Mutex;
use ward_kernel_config::MAX_CPUS;

pub const KERNEL_CODE: u16 = 0x08;
pub const KERNEL_DATA: u16 = 0x10;
/// Base for `sysret`: user data = +8, user code = +16.
pub const USER_BASE: u16 = 0x18;
pub const USER_DATA: u16 = 0x20 | 3;
pub const USER_CODE: u16 = 0x28 | 3;
const TSS_SELECTOR: u16 = 0x30;

/// IST slots (1-based, as the IDT encodes them).
pub const IST_DOUBLE_FAULT: u8 = 1;
pub const IST_NMI: u8 = 2;
pub const IST_MACHINE_CHECK: u8 = 3;
/// Each IST stack: enough for the fault report's formatting.
const IST_STACK_SIZE: usize = 16 * 1024;

#[repr(C, packed)]
struct TaskStateSegment {
    reserved0: u32,
    rsp: [u64; 3],
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    iomap_base: u16,
}

#[repr(C, align(16))]
struct IstStacks([[u8; IST_STACK_SIZE]; 3]);

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_TSS: Mutex<TaskStateSegment> = Mutex::new(TaskStateSegment {
    reserved0: 0,
    rsp: [0; 3],
    reserved1: 0,
    ist: [0; 7],
    reserved2: 0,
    reserved3: 0,
    // No I/O bitmap: the offset points past the segment's limit, so user
    // code (IOPL 0) can reach no port directly.
    iomap_base: core::mem::size_of::<TaskStateSegment>() as u16,
});
static TSS: [Mutex<TaskStateSegment>; MAX_CPUS] = [EMPTY_TSS; MAX_CPUS];
static IST_STACKS: [Mutex<IstStacks>; MAX_CPUS] =
    [const { Mutex::new(IstStacks([[0; IST_STACK_SIZE]; 3])) }; MAX_CPUS];
static GDT: [Mutex<[u64; 8]>; MAX_CPUS] = [const { Mutex::new([0; 8]) }; MAX_CPUS];

/// Builds and loads core `cpu`'s GDT and TSS, and reloads every segment
/// register (GS base with it: set the per-core record afterwards).
pub fn init(cpu: usize) {
    let tss_address = {
        let mut tss = TSS[cpu].lock();
        let stacks = IST_STACKS[cpu].lock();
        for (slot, stack) in [IST_DOUBLE_FAULT, IST_NMI, IST_MACHINE_CHECK]
            .iter()
            .zip(stacks.0.iter())
        {
            let top = stack.as_ptr() as u64 + IST_STACK_SIZE as u64;
            tss.ist[usize::from(*slot) - 1] = top & !0xF;
        }
        let rsp0 = core::ptr::addr_of_mut!(tss.rsp) as u64;
        crate::cpu_local::CPUS[cpu]
            .tss_rsp0
            .store(rsp0, core::sync::atomic::Ordering::Relaxed);
        &*tss as *const TaskStateSegment as u64
    };
    let tss_limit = (core::mem::size_of::<TaskStateSegment>() - 1) as u64;

    let mut gdt = GDT[cpu].lock();
    gdt[0] = 0;
    gdt[1] = 0x00af_9a00_0000_ffff; // kernel code, 64-bit, DPL 0
    gdt[2] = 0x00cf_9200_0000_ffff; // kernel data
    gdt[3] = 0x00cf_fa00_0000_ffff; // user code, 32-bit (unused; sysret layout)
    gdt[4] = 0x00cf_f200_0000_ffff; // user data, DPL 3
    gdt[5] = 0x00af_fa00_0000_ffff; // user code, 64-bit, DPL 3
                                    // Available 64-bit TSS (type 0x9), present, DPL 0; 16 bytes.
    gdt[6] = (tss_limit & 0xFFFF)
        | ((tss_address & 0xFF_FFFF) << 16)
        | (0x89 << 40)
        | (((tss_limit >> 16) & 0xF) << 48)
        | (((tss_address >> 24) & 0xFF) << 56);
    gdt[7] = tss_address >> 32;

    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let pointer = Pointer {
        limit: (core::mem::size_of::<[u64; 8]>() - 1) as u16,
        base: gdt.as_ptr() as u64,
    };
    // SAFETY: the table is static and valid; after lgdt the code segment is
    // reloaded with a far return to the new kernel code selector, the data
    // segments with the new data selector, and the TSS is loaded.
    unsafe {
        core::arch::asm!(
            "lgdt [{pointer}]",
            "push {code}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {data:e}",
            "mov es, {data:e}",
            "mov ss, {data:e}",
            "xor {tmp:e}, {tmp:e}",
            "mov fs, {tmp:e}",
            "mov gs, {tmp:e}",
            "ltr {tss:x}",
            pointer = in(reg) &pointer,
            code = in(reg) u64::from(KERNEL_CODE),
            data = in(reg) u32::from(KERNEL_DATA),
            tss = in(reg) TSS_SELECTOR,
            tmp = out(reg) _,
        );
    }
}

/// Where this core saves user state on its next trap from user mode.
///
/// Only this core touches its TSS after `init`, and the kernel runs with
/// interrupts disabled, so the word is written directly, without the lock.
#[inline]
pub fn set_kernel_entry_stack(top: u64) {
    let rsp0 = crate::cpu_local::this()
        .tss_rsp0
        .load(core::sync::atomic::Ordering::Relaxed) as *mut u64;
    // SAFETY: `rsp0` is the address of this core's TSS `rsp[0]` field
    // (set by `init`), inside a static that lives for ever; no guard of its
    // mutex is alive outside `init`; the field is packed, so unaligned.
    unsafe { rsp0.write_unaligned(top) };
}
