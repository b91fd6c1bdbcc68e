//! The first instructions of an application processor (AP).
//!
//! A STARTUP IPI starts an AP in 16-bit real mode at a page-aligned
//! address below 1 MiB. The kernel copies the trampoline below to
//! [`TRAMPOLINE_PHYS`] (in the low megabyte that is never handed out as
//! untyped) and fills in its parameter block: the boot page tables (which
//! map the first GiB both at 0 and at the kernel's link address, so the
//! jump to the higher half works while the trampoline still runs from its
//! low address), the stack and the core index. The trampoline loads a
//! small GDT, turns on PAE, long mode, NX and paging in one step from real
//! mode, and jumps to 64-bit code in the higher half (`ap_long_mode`),
//! which switches to the core's stack and calls `smp::ap_main(index)`.
//! One AP starts at a time, so one parameter block is enough.

/// Physical address the trampoline runs at (page 6): below the 0x9000 area
/// where QEMU's multiboot loader puts its information, above the real-mode
/// interrupt table and BIOS data area.
pub const TRAMPOLINE_PHYS: u64 = 0x6000;

core::arch::global_asm!(
    r#"
.set KERNEL_VMA, 0xffffffff80000000
.set TRAMPOLINE, 0x6000

.section .rodata
.balign 16
.global ap_trampoline_start
.global ap_trampoline_end
.global ap_trampoline_params
ap_trampoline_start:
.code16
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl (TRAMPOLINE + ap_gdt_pointer - ap_trampoline_start)
    mov %cr4, %eax
    or $(1 << 5), %eax                      /* PAE */
    mov %eax, %cr4
    mov (TRAMPOLINE + ap_param_cr3 - ap_trampoline_start), %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx                   /* EFER */
    rdmsr
    or $((1 << 8) | (1 << 11)), %eax        /* LME | NXE */
    wrmsr
    mov %cr0, %eax
    or $((1 << 31) | (1 << 16) | 1), %eax   /* PG | WP | PE */
    mov %eax, %cr0
    ljmpl $0x08, $(TRAMPOLINE + ap_trampoline_64 - ap_trampoline_start)
.code64
ap_trampoline_64:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    /* Only the core these parameters are for may go on: a core that
       answers a STARTUP late (after the kernel gave up on it and moved on
       to the next) would otherwise share the next core's stack. */
    mov $1, %eax
    cpuid
    shr $24, %ebx
    cmp (TRAMPOLINE + ap_param_apic_id - ap_trampoline_start), %ebx
    jne ap_trampoline_halt
    mov (TRAMPOLINE + ap_param_stack - ap_trampoline_start), %rsp
    mov (TRAMPOLINE + ap_param_index - ap_trampoline_start), %rdi
    movabs $ap_long_mode, %rax
    jmp *%rax
ap_trampoline_halt:
    cli
    hlt
    jmp ap_trampoline_halt

.balign 8
ap_gdt:
    .quad 0
    .quad 0x00af9a000000ffff                /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff                /* 0x10: data */
ap_gdt_pointer:
    .word ap_gdt_pointer - ap_gdt - 1
    .long TRAMPOLINE + ap_gdt - ap_trampoline_start
.balign 8
ap_trampoline_params:
ap_param_cr3:
    .quad 0
ap_param_stack:
    .quad 0
ap_param_index:
    .quad 0
ap_param_apic_id:
    .quad 0
ap_trampoline_end:

.section .text
ap_long_mode:
    xor %ebp, %ebp
    call ap_main
    ud2
"#,
    options(att_syntax)
);

extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
    static ap_trampoline_params: u8;
    static boot_pml4: u8;
}

/// The trampoline's parameter block (the words at `ap_trampoline_params`).
#[repr(C)]
pub struct TrampolineParams {
    /// Physical address of page tables mapping the trampoline and the kernel.
    pub cr3: u64,
    /// The core's kernel stack top (virtual, higher half).
    pub stack_top: u64,
    /// The core's index.
    pub index: u64,
    /// The local APIC id of the core these parameters are for.
    pub apic_id: u64,
}

/// Copies the trampoline to [`TRAMPOLINE_PHYS`] with `params` filled in.
pub fn install(params: TrampolineParams) {
    use crate::arch::x86_64::paging::phys_to_virt;
    let start = core::ptr::addr_of!(ap_trampoline_start) as usize;
    let end = core::ptr::addr_of!(ap_trampoline_end) as usize;
    let params_offset = core::ptr::addr_of!(ap_trampoline_params) as usize - start;
    let target = phys_to_virt(TRAMPOLINE_PHYS);
    // SAFETY: the trampoline is a few hundred bytes of the kernel image
    // (rodata); the target page is reserved low memory that nothing else
    // uses once the kernel runs; the parameter block is 8-aligned inside
    // the copy (`.balign 8`).
    unsafe {
        core::ptr::copy_nonoverlapping(start as *const u8, target, end - start);
        (target.add(params_offset) as *mut TrampolineParams).write(params);
    }
}

/// Physical address of the boot page tables (`boot/entry.rs`), which map
/// the first GiB at 0 and at the kernel's link address.
pub fn boot_page_tables() -> u64 {
    crate::arch::x86_64::paging::kernel_image_phys(core::ptr::addr_of!(boot_pml4) as u64)
}
