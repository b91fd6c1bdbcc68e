//! A second address space that needs none of this program's own pages: a
//! position-independent echo server of a dozen instructions, copied into a
//! fresh frame and run at a high address.
//!
//! `process` loads a full copy of this program at its link addresses,
//! which needs the lowest 512 GiB of the new VSpace; this one only needs a
//! single code page wherever it is put, so it also works where the kernel
//! cannot map that low (see docs/kernel.md, known gaps). It uses no stack
//! and no IPC buffer: the server lives in its registers.
//!
//! The routine (Intel syntax, below): receive on CPtr 1 (the endpoint slot
//! of its CNode), then forever reply with MR0 = the caller's badge and
//! MR1 = 2 × the caller's MR0 (label 0, length 2) and wait again, with
//! ReplyRecv. Its only jump is relative, so any copy of it runs anywhere.

use ward_abi::layout::PAGE_SIZE;
use ward_userlib::cap::{self, UserContext, VmAttributes, FULL_DEPTH};
use ward_userlib::{CapRights, InvocationError};

use crate::env::{Env, Tables};
use crate::process;

core::arch::global_asm!(
    ".pushsection .text.ktest_echo_routine, \"ax\"",
    ".global ktest_echo_routine_start",
    ".global ktest_echo_routine_end",
    "ktest_echo_routine_start:",
    "    mov eax, 5", // Recv
    "    mov edi, 1", // on the endpoint in slot 1
    "    syscall",
    "2:",
    "    mov r10, rdx", // MR1 = MR0 ...
    "    add r10, r10", // ... times 2
    "    mov rdx, rdi", // MR0 = the badge
    "    mov esi, 2",   // message info: label 0, length 2
    "    mov edi, 1",
    "    mov eax, 2", // ReplyRecv
    "    syscall",
    "    jmp 2b",
    "ktest_echo_routine_end:",
    ".popsection",
);

extern "C" {
    static ktest_echo_routine_start: u8;
    static ktest_echo_routine_end: u8;
}

/// Where the routine runs in its address space: above 512 GiB, so a
/// self-built VSpace can map it.
const CODE_VADDR: u64 = 0x0000_1000_0000_0000;
/// Where its IPC buffer is (unused by the routine, but a thread gets one).
const IPC_VADDR: u64 = CODE_VADDR + 0x10_0000;

/// The routine's machine code, read from this program's own text.
fn routine() -> &'static [u8] {
    let start = &raw const ktest_echo_routine_start as usize;
    let end = &raw const ktest_echo_routine_end as usize;
    // SAFETY: both symbols are labels of the routine above, in this
    // program's text, which is mapped readable; `end` follows `start`.
    unsafe { core::slice::from_raw_parts(start as *const u8, end - start) }
}

/// Starts the echo routine in a new address space, receiving on a copy of
/// the endpoint `ep`, at `priority`. Returns its TCB.
pub fn start_echo_server(
    env: &mut Env,
    ep: cap::Endpoint,
    priority: u64,
) -> Result<cap::Tcb, InvocationError> {
    let code = routine();
    assert!(
        code.len() as u64 <= PAGE_SIZE,
        "the echo routine fits a page"
    );
    let pml4: cap::Pml4 = env.alloc();
    let mut tables = Tables::new(pml4);
    env.ensure_tables(&mut tables, CODE_VADDR)?;

    let frame: cap::Frame4K = env.alloc();
    let window = env.reserve_scratch(1);
    env.map_root(frame, window, CapRights::READ_WRITE)?;
    // SAFETY: the window page was just mapped read-write to a fresh frame
    // that nothing else uses; the routine is shorter than a page.
    unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), window as *mut u8, code.len()) };
    frame.frame_unmap()?;
    frame.frame_map(pml4, CODE_VADDR, CapRights::READ, VmAttributes::EXECUTABLE)?;

    let ipc_frame: cap::Frame4K = env.alloc();
    ipc_frame.frame_map(
        pml4,
        IPC_VADDR,
        CapRights::READ_WRITE,
        VmAttributes::DEFAULT,
    )?;

    let cnode = env.alloc_cnode(process::CNODE_BITS);
    cnode.cnode_copy(
        process::slot::ENDPOINT,
        process::CNODE_BITS,
        env.root.cnode,
        ep.cptr(),
        FULL_DEPTH,
        CapRights::ALL,
    )?;

    let tcb: cap::Tcb = env.alloc();
    tcb.tcb_configure(
        0,
        cnode,
        process::CNODE_GUARD_DATA,
        pml4,
        0,
        IPC_VADDR,
        ipc_frame,
    )?;
    tcb.tcb_set_sched_params(env.root.tcb, priority, priority)?;
    let context = UserContext {
        rip: CODE_VADDR,
        rflags: 0x202,
        ..UserContext::default()
    };
    tcb.tcb_write_registers(false, UserContext::WORDS as u64, &context)?;
    tcb.tcb_resume()?;
    Ok(tcb)
}
