//! A second address space running this very program: threads there have
//! their own VSpace (PML4, PDPT, page directory, page tables made from
//! untyped) and their own CSpace (a small CNode), and share with the root
//! task only what it maps into both.
//!
//! How the code gets there: the root task has no capabilities to the
//! frames of its own image, but its ELF file is boot module 0, mapped
//! read-only in its address space. So the root task reads its own program
//! headers and, for every page of every loadable segment, makes a fresh
//! frame, maps it into a copy window of its own VSpace, copies the file's
//! bytes in (the rest stays zero, which is the BSS), unmaps it and maps it
//! into the new VSpace at the page's link address with the segment's
//! rights: text read-only and executable, data read-write and not
//! executable (the kernel enforces W^X). The new address space then holds
//! a pristine copy of the program, statics included, and any `fn(u64)` of
//! it can run there at the same address.

use ward_abi::layout::PAGE_SIZE;
use ward_userlib::cap::{self, Cap, UserContext, VmAttributes, FULL_DEPTH};
use ward_userlib::ipc_buffer;
use ward_userlib::{syscall, CapRights, InvocationError};

use crate::elf::{self, PF_W, PF_X};
use crate::env::{Env, Tables};
use crate::threads;

/// log2 of the slot count of a process's CNode: 64 slots, the smallest
/// CNode whose guard can cover the rest of a 64-bit CPtr (guards are at
/// most 58 bits).
pub const CNODE_BITS: u64 = 6;
/// The guard that makes a CPtr equal the slot index at depth 64: the CNode
/// consumes 6 bits, the guard the other 58 (all zero). Encoded as CNode
/// data: guard size in the low 6 bits, guard value (0) above.
pub const CNODE_GUARD_DATA: u64 = 64 - CNODE_BITS;

/// Fixed slots of a process's CNode.
pub mod slot {
    /// An endpoint (the server's or the fuzzer's).
    pub const ENDPOINT: u64 = 1;
    /// A notification.
    pub const NOTIFICATION: u64 = 2;
    /// The process's own CNode (as a receive path for transferred caps).
    pub const CNODE: u64 = 3;
    /// Where a capability received in a message lands.
    pub const RECEIVED: u64 = 4;
    /// First slot for whatever else a case puts there.
    pub const FREE: u64 = 8;
}

/// Where a process's threads find their stacks: 64 KiB apart, 32 KiB each,
/// with unmapped gaps that catch overflows.
const STACK_BASE: u64 = 0x0000_1000_0000_0000;
const STACK_STRIDE: u64 = 0x1_0000;
const STACK_PAGES: u64 = 8;
/// Where a process's threads' IPC buffers are, one page each.
const IPC_BASE: u64 = 0x0000_1100_0000_0000;
/// Where pages shared with the root task appear in the process.
pub const SHARED_BASE: u64 = 0x0000_1200_0000_0000;

/// A second address space with its own CSpace.
pub struct Process {
    pub tables: Tables,
    pub cnode: cap::CNode,
    threads: u64,
    shared: u64,
}

/// Where every thread of a process starts: sets the address space's IPC
/// buffer (each process thread in these tests is alone in using the
/// implicit buffer) and runs `entry(argument)`; then waits forever.
extern "C" fn process_thread_start(argument: u64, entry: u64, ipc_buffer_vaddr: u64) -> ! {
    ipc_buffer::set_default_ipc_buffer(ipc_buffer_vaddr);
    // SAFETY: `Process::spawn` put the address of a `fn(u64)` of this
    // program in `rsi`; the program is mapped at the same addresses here.
    let entry: fn(u64) = unsafe { core::mem::transmute::<usize, fn(u64)>(entry as usize) };
    entry(argument);
    loop {
        let _ = syscall::wait(slot::NOTIFICATION);
        syscall::yield_now();
    }
}

impl Process {
    /// Builds the address space with a copy of this program and an empty
    /// CNode whose slot [`slot::CNODE`] holds a capability to itself.
    pub fn new(env: &mut Env) -> Result<Process, InvocationError> {
        let pml4: cap::Pml4 = env.alloc();
        let cnode = env.alloc_cnode(CNODE_BITS);
        // The process's view of its own CNode carries the guard.
        cnode.cnode_mint(
            slot::CNODE,
            CNODE_BITS,
            env.root.cnode,
            cnode.cptr(),
            FULL_DEPTH,
            CapRights::ALL,
            CNODE_GUARD_DATA,
        )?;
        let mut process = Process {
            tables: Tables::new(pml4),
            cnode,
            threads: 0,
            shared: 0,
        };
        process.load_program(env)?;
        Ok(process)
    }

    fn load_program(&mut self, env: &mut Env) -> Result<(), InvocationError> {
        let module = env.info.modules()[0];
        // SAFETY: the kernel maps every boot module read-only at the address
        // the boot info gives and never unmaps it; module 0 is this program's
        // ELF file, `len` bytes long.
        let file =
            unsafe { core::slice::from_raw_parts(module.vaddr as *const u8, module.len as usize) };
        let (segments, count) =
            elf::load_segments::<8>(file).expect("ktest: cannot read my own ELF headers");
        let window = env.reserve_scratch(1);
        for segment in segments.iter().take(count).flatten() {
            let first = segment.vaddr & !(PAGE_SIZE - 1);
            let end = (segment.vaddr + segment.mem_size).div_ceil(PAGE_SIZE) * PAGE_SIZE;
            let writable = segment.flags & PF_W != 0;
            let (rights, attributes) = if writable {
                (CapRights::READ_WRITE, VmAttributes::DEFAULT)
            } else if segment.flags & PF_X != 0 {
                (CapRights::READ, VmAttributes::EXECUTABLE)
            } else {
                (CapRights::READ, VmAttributes::DEFAULT)
            };
            let mut page = first;
            while page < end {
                let frame: cap::Frame4K = env.alloc();
                // Bytes of the file that belong on this page.
                let file_start = segment.vaddr.max(page);
                let file_end = (segment.vaddr + segment.file_size).min(page + PAGE_SIZE);
                if file_start < file_end {
                    env.map_root(frame, window, CapRights::READ_WRITE)?;
                    let from = (segment.file_offset + (file_start - segment.vaddr)) as usize;
                    let length = (file_end - file_start) as usize;
                    // SAFETY: the window page was just mapped read-write to a
                    // fresh frame that nothing else uses; the range stays
                    // inside that page.
                    let to = unsafe {
                        core::slice::from_raw_parts_mut(
                            (window + (file_start - page)) as *mut u8,
                            length,
                        )
                    };
                    to.copy_from_slice(&file[from..from + length]);
                    frame.frame_unmap()?;
                }
                self.map(env, frame, page, rights, attributes)?;
                page += PAGE_SIZE;
            }
        }
        Ok(())
    }

    /// Maps `frame` into the process at `vaddr`.
    pub fn map(
        &mut self,
        env: &mut Env,
        frame: cap::Frame4K,
        vaddr: u64,
        rights: CapRights,
        attributes: VmAttributes,
    ) -> Result<(), InvocationError> {
        env.ensure_tables(&mut self.tables, vaddr)?;
        frame.frame_map(self.tables.pml4, vaddr, rights, attributes)
    }

    /// A page shared read-write between the root task and the process:
    /// returns (root address, process address).
    pub fn share_page(&mut self, env: &mut Env) -> Result<(u64, u64), InvocationError> {
        let (frame, root_vaddr) = env.new_page();
        let copy = env.copy(frame.cptr(), CapRights::ALL)?;
        let vaddr = SHARED_BASE + self.shared * PAGE_SIZE;
        self.shared += 1;
        self.map(
            env,
            Cap::from_cptr(copy),
            vaddr,
            CapRights::READ_WRITE,
            VmAttributes::DEFAULT,
        )?;
        Ok((root_vaddr, vaddr))
    }

    /// Copies (or with a badge, mints) the root capability `src` into the
    /// process's CNode slot `dest` with `rights`.
    pub fn give(
        &self,
        env: &Env,
        dest: u64,
        src: u64,
        rights: CapRights,
        badge: u64,
    ) -> Result<(), InvocationError> {
        if badge == 0 {
            self.cnode
                .cnode_copy(dest, CNODE_BITS, env.root.cnode, src, FULL_DEPTH, rights)
        } else {
            self.cnode.cnode_mint(
                dest,
                CNODE_BITS,
                env.root.cnode,
                src,
                FULL_DEPTH,
                rights,
                badge,
            )
        }
    }

    /// Starts a thread in the process running `entry(argument)` at
    /// `priority`, with faults to the root endpoint `fault_ep` (0 for none)
    /// and an MCP equal to its priority (it cannot raise anyone above it).
    pub fn spawn(
        &mut self,
        env: &mut Env,
        entry: fn(u64),
        argument: u64,
        priority: u64,
        fault_ep: u64,
    ) -> Result<cap::Tcb, InvocationError> {
        let index = self.threads;
        self.threads += 1;
        let stack_bottom = STACK_BASE + index * STACK_STRIDE;
        for page in 0..STACK_PAGES {
            let frame: cap::Frame4K = env.alloc();
            self.map(
                env,
                frame,
                stack_bottom + page * PAGE_SIZE,
                CapRights::READ_WRITE,
                VmAttributes::DEFAULT,
            )?;
        }
        let ipc_frame: cap::Frame4K = env.alloc();
        let ipc_vaddr = IPC_BASE + index * PAGE_SIZE;
        self.map(
            env,
            ipc_frame,
            ipc_vaddr,
            CapRights::READ_WRITE,
            VmAttributes::DEFAULT,
        )?;
        // The TCB's IPC-buffer slot takes its own copy of the frame cap.
        let tcb: cap::Tcb = env.alloc();
        tcb.tcb_configure(
            fault_ep,
            self.cnode,
            CNODE_GUARD_DATA,
            self.tables.pml4,
            0,
            ipc_vaddr,
            ipc_frame,
        )?;
        tcb.tcb_set_sched_params(env.root.tcb, priority, priority)?;
        let rsp = stack_bottom + STACK_PAGES * PAGE_SIZE - 8;
        let context = threads::start_context(
            process_thread_start as *const () as u64,
            rsp,
            argument,
            entry,
            ipc_vaddr,
        );
        tcb.tcb_write_registers(false, UserContext::WORDS as u64, &context)?;
        tcb.tcb_resume()?;
        Ok(tcb)
    }
}
