//! Raw system calls: one function per call, arguments in registers as
//! `ward_abi::syscall` and `ward_abi::message` describe. Everything above
//! this module is safe Rust.
//!
//! The IPC calls move the message info and the first four message registers
//! in CPU registers; message registers 4 and up and the capabilities to send
//! travel in the calling thread's IPC buffer ([`crate::ipc_buffer`]), which
//! the caller fills before the call and reads after it.
use ward_abi::message::MessageInfo;
use ward_abi::{Error, Syscall};

use crate::error::InvocationError;

/// Makes a syscall with up to two arguments; returns the kernel's error code.
#[inline(always)]
fn syscall2(number: Syscall, arg0: u64, arg1: u64) -> u64 {
    raw_syscall(number as u64, arg0, arg1)
}

fn to_result(code: u64) -> Result<(), Error> {
    match code {
        0 => Ok(()),
        code => Err(Error::from_code(code).unwrap_or(Error::IllegalOperation)),
    }
}

/// Writes `bytes` to the kernel console (debug builds of the kernel only).
pub fn debug_print(bytes: &[u8]) -> Result<(), Error> {
    to_result(syscall2(
        Syscall::DebugPrint,
        bytes.as_ptr() as u64,
        bytes.len() as u64,
    ))
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

/// `Yield`: gives up the rest of this time slice to threads of the same priority.
pub fn yield_now() {
    syscall2(Syscall::Yield, 0, 0);
}

/// Makes a syscall by raw number with two raw arguments; returns the raw
/// error code. The typed calls above use it, and tests use it to probe the
/// kernel's handling of bad input.
#[inline(always)]
pub fn raw_syscall(number: u64, arg0: u64, arg1: u64) -> u64 {
    let error: u64;
    // SAFETY: `syscall` enters the kernel, which saves and restores every
    // register except rax (the result), the message registers rdx, r8, r9
    // and r10 (replies and error details), and rcx and r11 (clobbered by the
    // instruction). The kernel only reads the memory we point it at and
    // validates every argument.
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

/// What a receiving syscall (`call`, `recv`, `reply_recv`, ...) got: the
/// sender's badge, the message info and message registers 0..4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub badge: u64,
    pub info: MessageInfo,
    pub mrs: [u64; 4],
}

/// All seven registers of the convention as they come back from the kernel:
/// `[rax, rdi, rsi, rdx, r10, r8, r9]`.
pub type RawReturn = [u64; 7];

/// Makes a syscall with all six argument registers; returns all seven
/// result registers. This is the one place the IPC calls enter the kernel.
#[inline(always)]
pub fn raw_syscall6(number: u64, cptr: u64, info: u64, mrs: [u64; 4]) -> RawReturn {
    let (rax, rdi, rsi, rdx, r10, r8, r9): (u64, u64, u64, u64, u64, u64, u64);
    // SAFETY: `syscall` enters the kernel, which returns results in rax, rdi,
    // rsi, rdx, r10, r8 and r9 (all declared as outputs) and preserves every
    // other register except rcx and r11 (clobbered by the instruction). The
    // kernel may write this thread's IPC buffer, which is ordinary memory the
    // compiler treats as possibly changed (no `nomem`), and the stack is not
    // touched (`nostack`).
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number => rax,
            inlateout("rdi") cptr => rdi,
            inlateout("rsi") info => rsi,
            inlateout("rdx") mrs[0] => rdx,
            inlateout("r10") mrs[1] => r10,
            inlateout("r8") mrs[2] => r8,
            inlateout("r9") mrs[3] => r9,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    [rax, rdi, rsi, rdx, r10, r8, r9]
}

/// Turns the raw result of a receiving call into a [`Received`] or an error
/// with its four detail words.
pub fn decode_received(raw: RawReturn) -> Result<Received, InvocationError> {
    let [rax, rdi, rsi, rdx, r10, r8, r9] = raw;
    if rax != 0 {
        return Err(InvocationError::from_code(rax, [rdx, r10, r8, r9], None));
    }
    Ok(Received {
        badge: rdi,
        info: MessageInfo(rsi),
        mrs: [rdx, r10, r8, r9],
    })
}

fn decode_unit(raw: RawReturn) -> Result<(), InvocationError> {
    decode_received(raw).map(|_| ())
}

/// `Call`: sends a message through the endpoint (or kernel object) `cptr`
/// and waits for the reply, which is returned.
#[inline]
pub fn call(cptr: u64, info: MessageInfo, mrs: [u64; 4]) -> Result<Received, InvocationError> {
    decode_received(raw_syscall6(Syscall::Call as u64, cptr, info.0, mrs))
}

/// `Send`: sends a message, blocking until a receiver takes it.
#[inline]
pub fn send(cptr: u64, info: MessageInfo, mrs: [u64; 4]) -> Result<(), InvocationError> {
    decode_unit(raw_syscall6(Syscall::Send as u64, cptr, info.0, mrs))
}

/// `NBSend`: sends a message if a receiver is waiting; otherwise the message
/// is dropped (this is not an error, as in seL4).
#[inline]
pub fn nb_send(cptr: u64, info: MessageInfo, mrs: [u64; 4]) -> Result<(), InvocationError> {
    decode_unit(raw_syscall6(Syscall::NBSend as u64, cptr, info.0, mrs))
}

/// `Recv`: waits for a message on an endpoint (or a signal on a notification).
#[inline]
pub fn recv(cptr: u64) -> Result<Received, InvocationError> {
    decode_received(raw_syscall6(Syscall::Recv as u64, cptr, 0, [0; 4]))
}

/// `NBRecv`: takes a waiting message if there is one. With nothing waiting
/// it returns at once with badge 0 and an empty message (as seL4 does).
#[inline]
pub fn nb_recv(cptr: u64) -> Result<Received, InvocationError> {
    decode_received(raw_syscall6(Syscall::NBRecv as u64, cptr, 0, [0; 4]))
}

/// `RecvUntil`: as [`recv`], but gives up with [`crate::Error::TimedOut`]
/// once the TSC passes `deadline` (checked on the kernel's 1 ms tick).
#[inline]
pub fn recv_until(cptr: u64, deadline: u64) -> Result<Received, InvocationError> {
    decode_received(raw_syscall6(
        Syscall::RecvUntil as u64,
        cptr,
        deadline,
        [0; 4],
    ))
}

/// `Reply`: replies to the thread that last called this one.
#[inline]
pub fn reply(info: MessageInfo, mrs: [u64; 4]) -> Result<(), InvocationError> {
    decode_unit(raw_syscall6(Syscall::Reply as u64, 0, info.0, mrs))
}

/// `ReplyRecv`: replies to the last caller, then waits on the endpoint `cptr`.
#[inline]
pub fn reply_recv(
    cptr: u64,
    info: MessageInfo,
    mrs: [u64; 4],
) -> Result<Received, InvocationError> {
    decode_received(raw_syscall6(Syscall::ReplyRecv as u64, cptr, info.0, mrs))
}

/// Signal: `Send` on a notification capability; its badge is ORed into the
/// notification word.
#[inline]
pub fn signal(cptr: u64) -> Result<(), InvocationError> {
    send(cptr, MessageInfo::new(0, 0, 0, 0), [0; 4])
}

/// Wait: `Recv` on a notification capability; returns the signalled badges
/// ORed together (the notification word, which is then cleared).
#[inline]
pub fn wait(cptr: u64) -> Result<u64, InvocationError> {
    recv(cptr).map(|r| r.badge)
}

/// Poll: `NBRecv` on a notification capability; returns the notification
/// word (0 when nothing was signalled) and clears it.
#[inline]
pub fn poll(cptr: u64) -> Result<u64, InvocationError> {
    nb_recv(cptr).map(|r| r.badge)
}
