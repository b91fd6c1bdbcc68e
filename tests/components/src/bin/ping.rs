//! `ping` (tests/systems/two-components.toml): calls `pong` over the
//! `ping-pong` endpoint and streams buffers to it over the `data` ring,
//! then waits for `pong`'s `drained` signal.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/ping.rs"));
}

use ward_test_components::SimpleRing;
use ward_userlib::cap::Endpoint;
use ward_userlib::{message, println, Cap};

ward_userlib::component!(main, caps::LAYOUT_HASH);

/// Entries of the `data` ring (the spec's `entries`).
const ENTRIES: u32 = 16;
/// Bytes per buffer in the pool: the pool is 16 x 2 KiB.
const BUFFER_BYTES: u32 = 2048;
/// The call's label and argument; pong answers argument + 1.
const ASK_LABEL: u64 = 1;
const QUESTION: u64 = 41;

fn main(generation: u64) {
    println!("ping: generation {generation} up");
    let pong: Endpoint = Cap::from_cptr(u64::from(caps::PING_PONG.index()));
    match pong.call(message::info(ASK_LABEL, 1), [QUESTION, 0, 0, 0]) {
        Ok(reply) => println!("ping: pong answered {} to {QUESTION}", reply.mrs[0]),
        Err(e) => println!("ping: call failed: {e}"),
    }
    let ring = SimpleRing::new(caps::DATA_RING.vaddr, ENTRIES);
    ring.reset();
    let mut sent = 0;
    for index in 0..ENTRIES {
        let offset = index * BUFFER_BYTES;
        let text = b"hello from ping, buffer ";
        let buffer = caps::DATA_POOL.vaddr + u64::from(offset);
        // SAFETY: the pool is mapped read-write in ping at DATA_POOL.vaddr
        // (32 KiB); each buffer lies inside it.
        unsafe {
            core::ptr::copy_nonoverlapping(text.as_ptr(), buffer as *mut u8, text.len());
            core::ptr::write_volatile((buffer + text.len() as u64) as *mut u8, b'a' + index as u8);
        }
        if ring.push(offset, text.len() as u32 + 1) {
            sent += 1;
        }
    }
    ward_test_components::signal(caps::DATA_SIGNAL.index());
    println!("ping: sent {sent} buffers on the data ring");
    loop {
        let bits = ward_userlib::component::wait();
        if bits & caps::DRAINED_PONG_BIT != 0 {
            println!("ping: pong drained the ring");
            return;
        }
    }
}
