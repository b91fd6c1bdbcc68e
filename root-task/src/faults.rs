//! Faults provoked on purpose, to show that a faulting user thread is
//! reported and stopped while the kernel carries on.
use ward_userlib::println;

/// Names accepted by [`provoke`].
pub const KINDS: &str = "fault-pf, fault-gp, fault-ud, fault-de";

/// An address no user program has mapped (it is far from every segment,
/// the stack and the boot-info pages).
const UNMAPPED_ADDRESS: u64 = 0xdead_0000;

pub enum Never {}

/// Provokes the named fault. Returns `None` for an unknown name; otherwise
/// the thread never comes back.
pub fn provoke(kind: &str) -> Option<Never> {
    println!("root task: provoking {kind} on purpose");
    match kind {
        // SAFETY (all four): each block deliberately executes one faulting
        // instruction; the kernel stops this thread before it could continue.
        "fault-pf" => unsafe {
            core::ptr::write_volatile(UNMAPPED_ADDRESS as *mut u64, 1);
        },
        "fault-gp" => unsafe {
            // A non-canonical address: #GP, not #PF.
            core::arch::asm!("mov rax, [{}]", in(reg) 0x8000_0000_0000_0000u64, out("rax") _);
        },
        "fault-ud" => unsafe {
            core::arch::asm!("ud2");
        },
        "fault-de" => unsafe {
            core::arch::asm!("xor edx, edx", "div rcx", in("rcx") 0u64, inout("rax") 1u64 => _, out("rdx") _);
        },
        _ => return None,
    }
    println!("root task: {kind} did not fault; this is a kernel bug");
    ward_userlib::syscall::debug_exit(2)
}
