//! `pong` (tests/systems/two-components.toml): answers `ping`'s call, then
//! drains the `data` ring (checking every descriptor against the pool it
//! may only read) and signals `drained`.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/pong.rs"));
}

use ward_test_components::SimpleRing;
use ward_userlib::{message, println, syscall};

ward_userlib::component!(main, caps::LAYOUT_HASH);

const ENTRIES: u32 = 16;
/// Descriptors expected before signalling `drained`.
const EXPECTED: u32 = 16;

fn main(generation: u64) {
    println!("pong: generation {generation} up");
    let endpoint = u64::from(caps::PING_PONG.index());
    // One call: answer and stop serving (the scenario needs only one).
    match syscall::recv(endpoint) {
        Ok(call) => {
            println!("pong: call from badge {:#x}, label {}, argument {}", call.badge, call.info.label(), call.mrs[0]);
            let _ = syscall::reply(message::info(0, 1), [call.mrs[0] + 1, 0, 0, 0]);
        }
        Err(e) => println!("pong: receive failed: {e}"),
    }
    let ring = SimpleRing::new(caps::DATA_RING.vaddr, ENTRIES);
    let pool_bytes = caps::DATA_POOL.size as u32;
    let mut received = 0;
    while received < EXPECTED {
        let bits = ward_userlib::component::wait();
        if bits & caps::DATA_BIT == 0 {
            continue;
        }
        loop {
            match ring.pop(pool_bytes) {
                Ok(Some((offset, length))) => {
                    // SAFETY: pop checked offset + length against the pool,
                    // which is mapped read-only at DATA_POOL.vaddr.
                    let text = unsafe { ward_test_components::bytes(caps::DATA_POOL.vaddr + u64::from(offset), length as usize) };
                    if received == 0 || received == EXPECTED - 1 {
                        println!("pong: got '{}'", core::str::from_utf8(text).unwrap_or("?"));
                    }
                    received += 1;
                }
                Ok(None) => break,
                Err((offset, length)) => println!("pong: refused a descriptor outside the pool ({offset:#x}+{length:#x})"),
            }
        }
    }
    println!("pong: drained {received} buffers; signalling ping");
    ward_test_components::signal(caps::DRAINED.index());
}
