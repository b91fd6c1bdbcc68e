//! Fault messages: what a thread's fault handler receives.
//!
//! When a thread faults and its TCB names a fault endpoint, the kernel sends
//! a message on that endpoint *as if the thread had called it*: the label
//! says what kind of fault, the badge says who (the fault endpoint cap's
//! badge), and the message registers carry the details below. The handler
//! answers with `Reply`: label [`REPLY_RESUME`] resumes the thread (for user
//! exceptions and unknown syscalls, message registers 0–2, if sent, replace
//! `rip`, `rsp` and `rflags`); [`REPLY_FAIL_SYSCALL`] lets a thread stopped
//! by a capability fault or an unknown syscall go on, with that syscall
//! returning its error (`FailedLookup`, `UnknownSyscall`); any other label
//! leaves it suspended. A thread without a fault endpoint is suspended and
//! reported on the console.

/// Reply label: resume the thread (retrying the faulting instruction, or
/// the syscall for a capability fault).
pub const REPLY_RESUME: u64 = 0;
/// Reply label: for a capability fault or an unknown syscall, continue after
/// the syscall, which fails with its error code. For other faults the thread
/// stays suspended, as with any other label.
pub const REPLY_FAIL_SYSCALL: u64 = 2;

/// A capability the thread invoked could not be found. The syscall is
/// retried when the handler resumes the thread.
/// Words: rip, the CPtr, 1 if it was the receive side, then the lookup
/// failure (kind, detail a, detail b; see `crate::lookup`).
pub const CAP_FAULT: u64 = 1;
/// A syscall number the kernel does not know.
/// Words: rip, rsp, rflags, the number, rdi, rsi.
pub const UNKNOWN_SYSCALL: u64 = 2;
/// A CPU exception other than a page fault (divide error, invalid opcode,
/// general protection, ...).
/// Words: rip, rsp, rflags, the vector, the CPU's error code.
pub const USER_EXCEPTION: u64 = 3;
/// A page fault. The faulting instruction is retried when the handler
/// resumes the thread (after mapping something there, say).
/// Words: rip, the address, 1 for an instruction fetch, the CPU's error code.
pub const VM_FAULT: u64 = 5;
