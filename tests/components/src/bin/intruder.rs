//! `intruder` (tests/systems/hostile.toml): a hostile component. With only
//! the capabilities every component holds (its own TCB, CNode and VSpace,
//! its console), a read-only cap to the first frame of `shared` (which
//! `owner` alone may write), a client cap to `owner` and the server end of
//! `chatter`'s channel, it tries every widening of its privilege it can
//! reach, one numbered attempt at a time, and asks `owner` to check every
//! byte of `shared` after each.
//!
//! Each attempt prints one line: `refused` (with the kernel's error),
//! `confined` (it worked, within what the intruder already had: what it
//! got is said) or `LEAK` (the scenario fails on that word). Its last
//! attempt writes to the writable-looking mapping it made in attempt 2,
//! which the kernel mapped read-only: the supervisor reports the page fault
//! and restarts it; the second generation tells `owner` it is done.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/intruder.rs"));
}

use ward_userlib::abi::cap_kind;
use ward_userlib::abi::fault::VM_FAULT;
use ward_userlib::cap::{UserContext, VmAttributes};
use ward_userlib::ipc_buffer::IpcBuffer;
use ward_userlib::syscall::{self, debug_cap_identify};
use ward_userlib::{message, println, Cap, CapRights, InvocationError};

ward_userlib::component!(main, caps);

/// Depth of a CPtr in a component's CSpace.
const DEPTH: u64 = 64;
/// Free slots of its own CNode: the copy it maps in attempt 2 (kept until
/// the last attempt writes through it) and one for every other copy.
const MAPPED_COPY_SLOT: u64 = 100;
const SCRATCH_SLOT: u64 = 101;
/// A slot nobody gave it: invoking it is a capability fault.
const EMPTY_SLOT: u64 = 200;
/// Where it maps its copies: inside the page table that already holds its
/// view of `shared` (mapped at the start of a 2 MiB block), well past it.
const COPY_VADDR: u64 = caps::SHARED.vaddr() + 0x10_0000;
const EXEC_VADDR: u64 = caps::SHARED.vaddr() + 0x11_0000;
/// A priority far above its own (its maximum controlled priority).
const HIGH_PRIORITY: u64 = 250;
/// The address its fake fault claims: the scenario forbids it in the log.
const FAKE_FAULT_ADDRESS: u64 = 0xdead_0000;
/// Labels of its calls to `owner` (see `owner`).
const CHECK_LABEL: u64 = 0x100;
const DONE_LABEL: u64 = 0x1ff;

/// Asks `owner` to check `shared` after attempt `number`.
fn check(number: u64) {
    match caps::CHECK.call(message::info(CHECK_LABEL + number, 0), [0; 4]) {
        Ok(reply) if reply.mrs[0] == 1 => {}
        Ok(_) => println!("intruder: owner found its region CHANGED after attempt {number}"),
        Err(e) => println!("intruder: LEAK? owner did not answer after attempt {number}: {e}"),
    }
}

/// Reports an attempt the kernel must refuse.
fn refused<T>(number: u64, what: &str, result: Result<T, InvocationError>) {
    match result {
        Err(e) => println!("intruder: attempt {number}: {what}: refused ({e})"),
        Ok(_) => println!("intruder: attempt {number}: {what}: LEAK: the kernel accepted it"),
    }
    check(number);
}

/// Reports an attempt that may succeed only within what it already had:
/// `confined` is what it got instead, `None` if that is more.
fn confined(number: u64, what: &str, result: Result<Option<&str>, InvocationError>) {
    match result {
        Ok(Some(got)) => println!("intruder: attempt {number}: {what}: confined ({got})"),
        Ok(None) => println!("intruder: attempt {number}: {what}: LEAK: it got more than it had"),
        Err(e) => println!("intruder: attempt {number}: {what}: refused ({e})"),
    }
    check(number);
}

/// Mints `source` in its own CNode to `slot` (emptied first) with every
/// right it can ask for and `badge`.
fn mint(slot: u64, source: u64, badge: u64) -> Result<(), InvocationError> {
    let _ = caps::CNODE.cnode_delete(slot, DEPTH);
    caps::CNODE.cnode_mint(
        slot,
        DEPTH,
        caps::CNODE,
        source,
        DEPTH,
        CapRights::ALL,
        badge,
    )
}

/// Copies `source` in its own CNode to `slot` (emptied first).
fn copy(slot: u64, source: u64, rights: CapRights) -> Result<(), InvocationError> {
    let _ = caps::CNODE.cnode_delete(slot, DEPTH);
    caps::CNODE.cnode_copy(slot, DEPTH, caps::CNODE, source, DEPTH, rights)
}

/// Copies its frame cap of `shared` to `slot` with every right it can ask
/// for and maps the copy at `vaddr` with `rights` and `attributes`.
fn map_copy(
    slot: u64,
    vaddr: u64,
    rights: CapRights,
    attributes: VmAttributes,
) -> Result<(), InvocationError> {
    copy(slot, caps::SHARED.frames().cptr(), CapRights::ALL)?;
    let copy: ward_userlib::cap::Frame4K = Cap::from_cptr(slot);
    copy.frame_map(caps::VSPACE, vaddr, rights, attributes)
}

fn attempts() {
    let frame = caps::SHARED.frames();
    let tcb = caps::TCB;

    // 1. Unmap and revoke its frame cap: only its own cap and copies
    //    (none yet) are touched; owner's view and its own stay.
    confined(1, "unmap and revoke its frame cap", {
        frame
            .frame_unmap()
            .and(caps::CNODE.cnode_revoke(frame.cptr(), DEPTH))
            .map(|()| {
                // SAFETY: its own view of `shared`, mapped read-only by the
                // root task for its whole life; it only reads.
                let first = unsafe { core::ptr::read_volatile(caps::SHARED.vaddr() as *const u8) };
                (first == caps::SHARED_FILL)
                    .then_some("nothing but its own cap; its view still reads")
            })
    });

    // 2. Map its read-only frame again, asking for write: the copy keeps
    //    the cap's rights and the mapping is cut to them.
    confined(2, "map a copy of its read-only frame writable", {
        map_copy(
            MAPPED_COPY_SLOT,
            COPY_VADDR,
            CapRights::ALL,
            VmAttributes::DEFAULT,
        )
        .map(|()| {
            let identity = debug_cap_identify(MAPPED_COPY_SLOT);
            (identity.rights == CapRights::READ && identity.mapped)
                .then_some("mapped, and its cap has only the read right")
        })
    });

    // 3. Mint a copy with every right.
    confined(3, "mint its frame with every right", {
        mint(SCRATCH_SLOT, frame.cptr(), 0).map(|()| {
            (debug_cap_identify(SCRATCH_SLOT).rights == CapRights::READ)
                .then_some("the copy has only the read right")
        })
    });

    // 4. Give its console another badge (to speak as someone else), by
    //    mint and by mutate.
    let console = caps::CONSOLE.cptr();
    refused(4, "re-badge its console (mint, then mutate)", {
        mint(SCRATCH_SLOT, console, 1).or(caps::CNODE.cnode_mutate(
            SCRATCH_SLOT,
            DEPTH,
            caps::CNODE,
            console,
            DEPTH,
            1,
        ))
    });

    // 5. Copy its own TCB with every right.
    confined(
        5,
        "copy its TCB with every right",
        copy(SCRATCH_SLOT, tcb.cptr(), CapRights::ALL).map(|()| {
            let identity = debug_cap_identify(SCRATCH_SLOT);
            (identity.kind == cap_kind::TCB && !identity.rights.can_grant())
                .then_some("the copy has no grant right either")
        }),
    );

    // 6.-8. Change its own configuration: fault endpoint, CSpace, VSpace.
    let check_ep = caps::CHECK.cptr();
    refused(
        6,
        "configure its own TCB (owner's endpoint as fault endpoint)",
        tcb.tcb_configure(check_ep, caps::CNODE, 0, caps::VSPACE, 0, 0, frame),
    );
    refused(
        7,
        "point its fault endpoint at owner's endpoint",
        tcb.tcb_set_space(check_ep, caps::CNODE, 0, caps::VSPACE, 0),
    );
    refused(
        8,
        "remove its fault endpoint",
        tcb.tcb_set_space(0, caps::CNODE, 0, caps::VSPACE, 0),
    );

    // 9. Raise its priority or its maximum controlled priority.
    refused(9, "raise its priority above its maximum", {
        tcb.tcb_set_priority(tcb, HIGH_PRIORITY)
            .and(tcb.tcb_set_mc_priority(tcb, HIGH_PRIORITY))
    });

    // 10. Make the read-only frame its IPC buffer, then take chatter's
    //     16-word message: the kernel would write it into `shared`. One
    //     check after both.
    let number = 10;
    let what = "make its read-only frame its IPC buffer, then receive chatter's message";
    match tcb.tcb_set_ipc_buffer(caps::SHARED.vaddr(), frame) {
        Err(e) => println!("intruder: attempt {number}: {what}: refused ({e})"),
        Ok(()) => println!("intruder: attempt {number}: {what}: LEAK: the kernel accepted it"),
    }
    match caps::CHAT.recv() {
        Ok(message) => {
            let buffer = IpcBuffer::current();
            let last = message::received_word(&buffer, &message.mrs, 15);
            println!(
                "intruder: chatter's {}-word message landed in its own IPC buffer (word 15 = {last:#x})",
                message.info.length()
            );
            let _ = syscall::reply(message::info(0, 0), [0; 4]);
        }
        Err(e) => println!("intruder: receiving chatter's message failed: {e}"),
    }
    check(number);

    // 11. Map its frame executable.
    refused(11, "map a copy of its frame executable", {
        map_copy(
            SCRATCH_SLOT,
            EXEC_VADDR,
            CapRights::READ,
            VmAttributes::EXECUTABLE,
        )
    });

    // 12. Write its own registers (to skip past a check, say).
    refused(
        12,
        "write its own registers",
        tcb.tcb_write_registers(false, UserContext::WORDS as u64, &UserContext::default()),
    );

    // 13. Pass a message off as a page fault on its console: the supervisor
    //     must not take it for one (it prints that it ignored it).
    let fake = [0x1000, FAKE_FAULT_ADDRESS, 0, 0x7];
    let sent = syscall::send(console, message::info(VM_FAULT, fake.len()), fake);
    println!(
        "intruder: attempt 13: a fault-shaped message on its console: sent ({})",
        if sent.is_ok() {
            "the supervisor decides"
        } else {
            "the send failed"
        }
    );
    check(13);

    // 14. Its faults still reach the supervisor: a capability fault on a
    //     slot nobody gave it is reported there and denied.
    let empty: ward_userlib::cap::Endpoint = Cap::from_cptr(EMPTY_SLOT);
    refused(
        14,
        "invoke a slot nobody gave it (a capability fault for its supervisor)",
        empty.call(message::info(1, 0), [0; 4]),
    );
}

fn main(generation: u64) {
    println!("intruder: generation {generation}");
    if generation > 1 {
        println!("intruder: done; every attempt was refused or confined");
        let _ = caps::CHECK.call(message::info(DONE_LABEL, 0), [0; 4]);
        return;
    }
    attempts();
    // The last attempt: write through the mapping of attempt 2, which the
    // kernel made read-only. A page fault for the supervisor.
    println!("intruder: attempt 15: write through the mapping of attempt 2");
    // SAFETY: deliberately faulting: the page is mapped read-only.
    unsafe { core::ptr::write_volatile(COPY_VADDR as *mut u8, 0) };
    println!("intruder: attempt 15: LEAK: the write went through");
}
