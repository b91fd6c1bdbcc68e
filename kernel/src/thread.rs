//! Threads as the kernel runs them today: a register context, an address
//! space and a state.
//!
//! Until the object model lands (threads made from untyped memory as TCB
//! objects), the kernel has exactly one thread, the root task's, in static
//! storage.
use crate::arch::x86_64::gdt::{USER_CODE, USER_DATA};
use crate::arch::x86_64::trap::UserContext;
use spin::Mutex;

/// RFLAGS for a new user thread: interrupts enabled (bit 9) and the
/// always-one bit 1; IOPL 0, so no port access from user mode.
const USER_RFLAGS: u64 = 0x202;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Not started yet, or stopped after a fault it had no handler for.
    Suspended,
    /// Ready to run (or running).
    Runnable,
}

pub struct Thread {
    /// Saved user registers; trap entry writes here (see arch trap.rs).
    pub context: UserContext,
    pub name: &'static str,
    pub state: ThreadState,
    /// Physical address of the thread's PML4.
    pub address_space: u64,
}

impl Thread {
    /// Sets up the registers for a first entry at `entry` with stack `stack_top`
    /// and `argument` in `rdi`.
    pub fn start(&mut self, address_space: u64, entry: u64, stack_top: u64, argument: u64) {
        self.context = UserContext {
            rip: entry,
            rsp: stack_top,
            rdi: argument,
            cs: u64::from(USER_CODE),
            ss: u64::from(USER_DATA),
            rflags: USER_RFLAGS,
            ..UserContext::default()
        };
        self.address_space = address_space;
        self.state = ThreadState::Runnable;
    }
}

/// The root task's thread.
pub static ROOT_THREAD: Mutex<Thread> = Mutex::new(Thread {
    context: UserContext {
        r15: 0, r14: 0, r13: 0, r12: 0, r11: 0, r10: 0, r9: 0, r8: 0, rbp: 0, rdi: 0, rsi: 0,
        rdx: 0, rcx: 0, rbx: 0, rax: 0, vector: 0, error_code: 0, rip: 0, cs: 0, rflags: 0, rsp: 0, ss: 0,
    },
    name: "root-task",
    state: ThreadState::Suspended,
    address_space: 0,
});
