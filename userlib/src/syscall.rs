//! Raw system calls: one function per call, arguments in registers as
//! `ward_abi::syscall` describes. Everything above this module is safe Rust.
use ward_abi::{Error, Syscall};

/// Makes a syscall with up to two arguments; returns the kernel's error code.
#[inline(always)]
fn syscall2(number: Syscall, arg0: u64, arg1: u64) -> u64 {
    let error: u64;
    // SAFETY: `syscall` enters the kernel, which saves and restores every
    // register except rax (the result), the message registers rdx, r8, r9
    // and r10 (replies and error details), and rcx and r11 (clobbered by the
    // instruction). The kernel only reads the memory we point it at.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number as u64 => error,
            inlateout("rdi") arg0 => _,
            inlateout("rsi") arg1 => _,
            out("rdx") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    error
}

fn to_result(code: u64) -> Result<(), Error> {
    match code {
        0 => Ok(()),
        code => Err(Error::from_code(code).unwrap_or(Error::IllegalOperation)),
    }
}

/// Writes `bytes` to the kernel console (debug builds of the kernel only).
pub fn debug_print(bytes: &[u8]) -> Result<(), Error> {
    to_result(syscall2(Syscall::DebugPrint, bytes.as_ptr() as u64, bytes.len() as u64))
}

/// Writes one byte to the kernel console.
pub fn debug_put_char(byte: u8) -> Result<(), Error> {
    to_result(syscall2(Syscall::DebugPutChar, u64::from(byte), 0))
}

/// Ends the whole run with `status` (a test verdict). Does not return.
pub fn debug_exit(status: u8) -> ! {
    syscall2(Syscall::DebugExit, u64::from(status), 0);
    // The kernel never returns from DebugExit; if it somehow did, stop here.
    loop {
        yield_now();
    }
}

/// Gives up the rest of this time slice.
pub fn yield_now() {
    syscall2(Syscall::Yield, 0, 0);
}

/// Makes a syscall by raw number with raw arguments, for tests that probe
/// the kernel's handling of bad input. Returns the raw error code.
pub fn raw_syscall(number: u64, arg0: u64, arg1: u64) -> u64 {
    let error: u64;
    // SAFETY: as in `syscall2`; the kernel validates every argument.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number => error,
            inlateout("rdi") arg0 => _,
            inlateout("rsi") arg1 => _,
            out("rdx") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    error
}
