//! `prober` (tests/systems/least-privilege.toml): tries what it was not
//! given, one kind of attempt per generation (the supervisor restarts it
//! after each fatal attempt):
//!
//! 1. every capability slot it was not given (by copying each, which fails
//!    quietly on an empty slot), then invoking three of them (capability
//!    faults, denied by the supervisor), then writing its read-only region;
//! 2. `victim`'s region, at the address it has in `victim` (here it is the
//!    prober's own region: address spaces are separate), then the guard page
//!    after its own mapping;
//! 3. an IO port (the RTC's);
//! 4. a device's registers (the PCI configuration window's address);
//! 5. nothing: it reports and waits.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/prober.rs"));
}

use ward_userlib::cap::Endpoint;
use ward_userlib::{message, println, Cap, CapRights};

ward_userlib::component!(main, caps);

/// The empty reserved slot used as the destination of probing copies.
const PROBE_DESTINATION: u64 = ward_sysspec::SLOT_RESERVED as u64;
/// Depth of a CPtr in a component's CSpace.
const DEPTH: u64 = 64;
/// Where `victim` has its secret: its first automatic mapping.
const VICTIM_SECRET_VADDR: u64 = ward_sysspec::AUTO_MAP_BASE;
/// The physical address of q35's PCI configuration window, tried as a
/// virtual address: nothing maps device registers for the prober.
const DEVICE_ADDRESS: u64 = 0xb000_0000;
/// The RTC's index port.
const RTC_PORT: u16 = 0x70;

fn given(slot: u32) -> bool {
    [
        caps::TCB.cptr(),
        caps::CNODE.cptr(),
        caps::VSPACE.cptr(),
        caps::CONSOLE.cptr(),
        caps::NOTIFICATION.cptr(),
        caps::PROBE_AREA.frames().cptr(),
    ]
    .contains(&u64::from(slot))
}

fn probe_slots() {
    let cnode = caps::CNODE;
    let mut holding = 0;
    let mut empty = 0;
    for slot in 0..ward_sysspec::MAX_SLOTS {
        if slot as u64 == PROBE_DESTINATION {
            continue;
        }
        let copied = cnode
            .cnode_copy(
                PROBE_DESTINATION,
                DEPTH,
                cnode,
                u64::from(slot),
                DEPTH,
                CapRights::ALL,
            )
            .is_ok();
        if copied {
            let _ = cnode.cnode_delete(PROBE_DESTINATION, DEPTH);
            holding += 1;
            if !given(slot) {
                println!("prober: LEAK: slot {slot} holds a capability it was not given");
            }
        } else {
            empty += 1;
            if given(slot) {
                println!("prober: slot {slot} should hold a capability but is empty");
            }
        }
    }
    println!("prober: {holding} slots hold its own capabilities, {empty} others are empty");
    for slot in [9u64, 100, 255] {
        let endpoint: Endpoint = Cap::from_cptr(slot);
        match endpoint.call(message::info(1, 0), [0; 4]) {
            Ok(_) => println!("prober: LEAK: slot {slot} answered a call"),
            Err(e) => println!("prober: invoking slot {slot} was refused: {e}"),
        }
    }
}

fn read(vaddr: u64) -> u8 {
    // SAFETY: deliberately unsound — probing whether the address is
    // mapped; the kernel stops the thread if it is not.
    unsafe { core::ptr::read_volatile(vaddr as *const u8) }
}

fn main(generation: u64) {
    println!("prober: generation {generation}");
    match generation {
        1 => {
            probe_slots();
            println!("prober: writing to its read-only region");
            // SAFETY: deliberately faulting: the region is mapped read-only.
            unsafe { core::ptr::write_volatile(caps::PROBE_AREA.vaddr() as *mut u8, 1) };
        }
        2 => {
            let seen = read(VICTIM_SECRET_VADDR);
            println!("prober: victim's secret address shows {seen:#x} here (its own region, not the secret 0x5a)");
            println!("prober: reading past the end of its mapping");
            let _ = read(caps::PROBE_AREA.vaddr() + caps::PROBE_AREA.size());
        }
        3 => {
            println!("prober: reading IO port {RTC_PORT:#x}");
            // SAFETY: deliberately faulting: user mode has no IO privilege.
            unsafe { core::arch::asm!("in al, dx", in("dx") RTC_PORT, out("al") _) };
        }
        4 => {
            println!("prober: reading device registers at {DEVICE_ADDRESS:#x}");
            let _ = read(DEVICE_ADDRESS);
        }
        _ => {
            println!("prober: done; every attempt was denied");
            return;
        }
    }
    println!("prober: LEAK: generation {generation}'s attempt was not stopped");
}
