//! Kernel entry and exit: interrupt/exception stubs, the `syscall` entry,
//! and the return to user mode.
//!
//! Every way into the kernel from user mode swaps in the kernel's GS base
//! (`swapgs`: GS then points at this core's record, `cpu_local.rs`), saves
//! the user registers into the current thread's [`UserContext`] and then
//! switches to this core's kernel stack:
//! - interrupts and exceptions: the TSS `rsp0` points at the end of the
//!   context, so the CPU pushes its frame into it and the stub pushes the
//!   vector, an error code and the general registers below;
//! - `syscall`: the stub builds the same frame by hand.
//!
//! The kernel keeps no state on its stack between entries: every exit goes
//! through `return_to_user`, which restores whichever thread the scheduler
//! made current. Traps taken in kernel mode (only the idle loop runs with
//! interrupts enabled) stay on the kernel stack and return where they were.

/// Vector number recorded for `syscall` entries (not a hardware vector;
/// `syscall_entry` pushes this literal value).
pub const SYSCALL_VECTOR: u64 = 0x100;

/// User registers as saved on kernel entry, lowest address first. The order
/// is fixed by the push sequence below and by the CPU's interrupt frame.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct UserContext {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Exception or interrupt vector, or [`SYSCALL_VECTOR`].
    pub vector: u64,
    /// The CPU's error code (0 where the CPU pushes none).
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// One register of a [`UserContext`], named by its word index there, so
/// the kernel can read or write it through a raw pointer
/// (`kobj::Registers`) without forming a reference to the context.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    R15 = 0,
    R14,
    R13,
    R12,
    R11,
    R10,
    R9,
    R8,
    Rbp,
    Rdi,
    Rsi,
    Rdx,
    Rcx,
    Rbx,
    Rax,
    Vector,
    ErrorCode,
    Rip,
    Cs,
    Rflags,
    Rsp,
    Ss,
}

/// Words in a [`UserContext`].
pub const CONTEXT_WORDS: usize = Reg::Ss as usize + 1;

// Every `Reg` names the word of the field with its name.
const _: () = {
    use core::mem::offset_of;
    const fn at(reg: Reg) -> usize {
        reg as usize * 8
    }
    assert!(offset_of!(UserContext, r15) == at(Reg::R15));
    assert!(offset_of!(UserContext, r14) == at(Reg::R14));
    assert!(offset_of!(UserContext, r13) == at(Reg::R13));
    assert!(offset_of!(UserContext, r12) == at(Reg::R12));
    assert!(offset_of!(UserContext, r11) == at(Reg::R11));
    assert!(offset_of!(UserContext, r10) == at(Reg::R10));
    assert!(offset_of!(UserContext, r9) == at(Reg::R9));
    assert!(offset_of!(UserContext, r8) == at(Reg::R8));
    assert!(offset_of!(UserContext, rbp) == at(Reg::Rbp));
    assert!(offset_of!(UserContext, rdi) == at(Reg::Rdi));
    assert!(offset_of!(UserContext, rsi) == at(Reg::Rsi));
    assert!(offset_of!(UserContext, rdx) == at(Reg::Rdx));
    assert!(offset_of!(UserContext, rcx) == at(Reg::Rcx));
    assert!(offset_of!(UserContext, rbx) == at(Reg::Rbx));
    assert!(offset_of!(UserContext, rax) == at(Reg::Rax));
    assert!(offset_of!(UserContext, vector) == at(Reg::Vector));
    assert!(offset_of!(UserContext, error_code) == at(Reg::ErrorCode));
    assert!(offset_of!(UserContext, rip) == at(Reg::Rip));
    assert!(offset_of!(UserContext, cs) == at(Reg::Cs));
    assert!(offset_of!(UserContext, rflags) == at(Reg::Rflags));
    assert!(offset_of!(UserContext, rsp) == at(Reg::Rsp));
    assert!(offset_of!(UserContext, ss) == at(Reg::Ss));
    assert!(core::mem::size_of::<UserContext>() == CONTEXT_WORDS * 8);
};

/// Registers of a trap taken in kernel mode, as pushed by `trap_common`.
#[repr(C)]
#[derive(Debug)]
pub struct KernelTrapFrame {
    pub gprs: [u64; 15],
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

extern "C" {
    /// Restores the current thread's registers and returns to user mode.
    pub fn return_to_user() -> !;
    fn syscall_entry();
}

/// Address of the `syscall` entry point, for LSTAR.
pub fn syscall_entry_address() -> u64 {
    syscall_entry as *const () as u64
}

core::arch::global_asm!(
    r#"
.macro PUSH_GPRS
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
.endm
.macro POP_GPRS
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
.endm

.section .text
.balign 16
.global trap_stubs
trap_stubs:
.set vector, 0
.rept 256
    .balign 16
    /* The CPU pushes an error code for these vectors; push 0 for the rest. */
    .if (vector == 8) || (vector == 10) || (vector == 11) || (vector == 12) || (vector == 13) || (vector == 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    push $0
    .endif
    push $vector
    jmp trap_common
    .set vector, vector + 1
.endr

trap_common:
    testb $3, 24(%rsp)              /* CS of the interrupted code */
    jz trap_from_kernel
    swapgs                          /* GS: this core's record */
    PUSH_GPRS                       /* into the thread's context */
    mov %rsp, %rdi                  /* where the registers were saved */
    mov %gs:{kernel_stack_top}, %rsp
    cld
    call handle_user_trap
    jmp return_to_user

trap_from_kernel:
    PUSH_GPRS
    mov %rsp, %rdi
    cld
    call handle_kernel_trap
    POP_GPRS
    add $16, %rsp                   /* vector and error code */
    iretq

.global return_to_user
return_to_user:
    mov %gs:{current_context}, %rsp
    POP_GPRS
    add $16, %rsp
    swapgs                          /* the user's GS base back */
    iretq

.global syscall_entry
syscall_entry:
    swapgs
    mov %rsp, %gs:{user_rsp}
    mov %gs:{current_context_top}, %rsp
    push $0x23                      /* user SS */
    push %gs:{user_rsp}
    push %r11                       /* user RFLAGS */
    push $0x2b                      /* user CS */
    push %rcx                       /* user RIP */
    push $0                         /* error code */
    push $0x100                     /* SYSCALL_VECTOR */
    PUSH_GPRS
    mov %gs:{kernel_stack_top}, %rsp
    call handle_syscall
    jmp return_to_user
"#,
    current_context = const crate::cpu_local::OFFSET_CURRENT_CONTEXT,
    current_context_top = const crate::cpu_local::OFFSET_CURRENT_CONTEXT_TOP,
    user_rsp = const crate::cpu_local::OFFSET_USER_RSP,
    kernel_stack_top = const crate::cpu_local::OFFSET_KERNEL_STACK_TOP,
    options(att_syntax)
);

/// The CPU's name for an exception vector.
pub fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "divide error (#DE)",
        1 => "debug (#DB)",
        2 => "non-maskable interrupt",
        3 => "breakpoint (#BP)",
        4 => "overflow (#OF)",
        5 => "bound range exceeded (#BR)",
        6 => "invalid opcode (#UD)",
        7 => "device not available (#NM)",
        8 => "double fault (#DF)",
        10 => "invalid TSS (#TS)",
        11 => "segment not present (#NP)",
        12 => "stack-segment fault (#SS)",
        13 => "general protection fault (#GP)",
        14 => "page fault (#PF)",
        16 => "x87 floating-point error (#MF)",
        17 => "alignment check (#AC)",
        18 => "machine check (#MC)",
        19 => "SIMD floating-point error (#XM)",
        20 => "virtualization exception (#VE)",
        21 => "control protection (#CP)",
        _ => "reserved exception",
    }
}
