//! The first instructions: multiboot header, 32-bit entry, switch to long mode.
//!
//! QEMU's multiboot loader (a.out-kludge mode, flag bit 16) copies the kernel
//! file to physical 1 MiB and jumps to `_start32` in 32-bit protected mode
//! with paging off, `eax` = the multiboot magic and `ebx` = the physical
//! address of the multiboot information. This code zeroes the BSS, checks
//! that the CPU has long mode and NX, maps the first GiB both at 0 (identity,
//! for the next few instructions) and at the kernel's link address, enables
//! PAE, long mode, NX and paging, and jumps to 64-bit code in the higher
//! half, which calls `kernel_main(magic, info)`. The boot args are
//! zero-extended there, because the upper halves of registers are undefined
//! after the mode switch. Rust code then replaces these boot page tables
//! with the kernel's own.

core::arch::global_asm!(
    r#"
.set KERNEL_VMA, 0xffffffff80000000
.set MULTIBOOT_MAGIC, 0x1BADB002
/* bit 0: page-align modules; bit 1: give a memory map; bit 16: load by the
   address fields below (a.out kludge), not by ELF headers (QEMU accepts only
   32-bit ELF kernels otherwise). */
.set MULTIBOOT_FLAGS, 0x00010003

.section .multiboot_header, "a"
.balign 4
multiboot_header:
    .long MULTIBOOT_MAGIC
    .long MULTIBOOT_FLAGS
    .long -(MULTIBOOT_MAGIC + MULTIBOOT_FLAGS)
    .long multiboot_header - KERNEL_VMA
    .long __kernel_start - KERNEL_VMA
    .long __data_end - KERNEL_VMA
    .long __kernel_end - KERNEL_VMA
    .long _start32 - KERNEL_VMA

.section .boot.text, "ax"
.code32
.global _start32
_start32:
    cli
    cld
    mov %eax, %ebp                      /* multiboot magic, kept until long mode */
    mov %ebx, %esi                      /* multiboot information (physical); cpuid clobbers ebx */

    /* Zero the BSS (and with it the boot page tables below). */
    mov $(__bss_start - KERNEL_VMA), %edi
    mov $(__bss_end - KERNEL_VMA), %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb

    /* Long mode (CPUID 0x80000001 EDX bit 29) and NX (bit 20) are required. */
    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    jb .Lno_long_mode
    mov $0x80000001, %eax
    cpuid
    test $(1 << 29), %edx
    jz .Lno_long_mode
    test $(1 << 20), %edx
    jz .Lno_long_mode

    /* boot_pd: the first GiB in 2 MiB pages (present, writable, huge). */
    mov $(boot_pd - KERNEL_VMA), %edi
    mov $0x83, %eax
    mov $512, %ecx
1:  mov %eax, (%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 1b
    /* Identity at 0 and at KERNEL_VMA (PML4 511, PDPT 510). */
    mov $(boot_pd - KERNEL_VMA + 3), %eax
    mov %eax, (boot_pdpt_low - KERNEL_VMA)
    mov %eax, (boot_pdpt_high - KERNEL_VMA + 510 * 8)
    mov $(boot_pdpt_low - KERNEL_VMA + 3), %eax
    mov %eax, (boot_pml4 - KERNEL_VMA)
    mov $(boot_pdpt_high - KERNEL_VMA + 3), %eax
    mov %eax, (boot_pml4 - KERNEL_VMA + 511 * 8)
    mov $(boot_pml4 - KERNEL_VMA), %eax
    mov %eax, %cr3

    mov %cr4, %eax
    or $(1 << 5), %eax                  /* PAE */
    mov %eax, %cr4
    mov $0xC0000080, %ecx               /* EFER */
    rdmsr
    or $((1 << 8) | (1 << 11)), %eax    /* LME | NXE */
    wrmsr
    mov %cr0, %eax
    or $((1 << 31) | (1 << 16) | 1), %eax  /* PG | WP | PE */
    mov %eax, %cr0

    lgdt (boot_gdt_pointer - KERNEL_VMA)
    ljmp $0x08, $(long_mode_low - KERNEL_VMA)

.Lno_long_mode:
    mov $(no_long_mode_message - KERNEL_VMA), %esi   /* the info address is no longer needed */
    mov $0x3f8, %dx
2:  lodsb
    test %al, %al
    jz 3f
    out %al, %dx
    jmp 2b
3:  mov $0x31, %al                      /* boot-error status to isa-debug-exit */
    mov $0xf4, %dx
    out %al, %dx
4:  hlt
    jmp 4b

.code64
long_mode_low:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    movabs $long_mode_high, %rax
    jmp *%rax

.section .boot.data, "aw"
.balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff            /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff            /* 0x10: data */
boot_gdt_end:
boot_gdt_pointer:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt - KERNEL_VMA
no_long_mode_message:
    .asciz "ward: boot error: this CPU lacks long mode or NX; Ward needs both\n"

.section .bss.boot_tables, "aw", @nobits
.balign 4096
.global boot_pml4                       /* application processors start on these tables too */
boot_pml4:
    .skip 4096
boot_pdpt_low:
    .skip 4096
boot_pdpt_high:
    .skip 4096
boot_pd:
    .skip 4096

.section .text
long_mode_high:
    movabs $__kstack_top, %rsp
    mov %ebp, %edi                      /* zero-extends the magic */
    mov %esi, %esi                      /* zero-extends the info address */
    xor %ebp, %ebp
    call kernel_main
    ud2
"#,
    options(att_syntax)
);
