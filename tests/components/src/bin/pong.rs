//! `pong` (tests/systems/two-components.toml): answers `ping`'s call, then
//! borrows buffers over the `data` ring pair (ward-ring checks every
//! descriptor against the pool, which pong may only read), reads each and
//! gives it back, and signals `drained` when all 16 have been seen.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/pong.rs"));
}

use ward_ring::{Notify, PairEnd, PoolGeometry, RingPairParams, WaitDecision};
use ward_userlib::{component, message, println, syscall};

ward_userlib::component!(main, caps::LAYOUT_HASH);

const ENTRIES: u32 = 16;
const BUFFER_BYTES: u32 = 2048;
const BUFFER_ALIGN: u32 = 64;

fn main(generation: u64) {
    println!("pong: generation {generation} up");
    let endpoint = u64::from(caps::PING_PONG.index());
    // One call: answer and stop serving (the scenario needs only one).
    match syscall::recv(endpoint) {
        Ok(call) => {
            println!(
                "pong: call from badge {:#x}, label {}, argument {}",
                call.badge,
                call.info.label(),
                call.mrs[0]
            );
            let _ = syscall::reply(message::info(0, 1), [call.mrs[0] + 1, 0, 0, 0]);
        }
        Err(e) => println!("pong: receive failed: {e}"),
    }

    let pool = PoolGeometry::new(BUFFER_BYTES, ENTRIES, BUFFER_ALIGN).expect("pool geometry");
    let params = RingPairParams::new(ENTRIES, pool).expect("ring parameters");
    // Wait for ping's first doorbell: the region is initialised by then.
    while component::wait() & caps::DATA_BIT == 0 {}
    let region = ward_test_components::ring_region(caps::DATA_RING);
    let mut end = match PairEnd::<_, 1>::attach_borrower(region, &params) {
        Ok(end) => end,
        Err(e) => {
            println!("pong: cannot attach to the data ring: {e:?}");
            return;
        }
    };
    println!(
        "pong: attached to the data ring (generation {})",
        end.generation()
    );
    let mut seen = 0;
    loop {
        loop {
            match end.receive() {
                Ok(Some(buffer)) => {
                    // SAFETY: ward-ring validated the buffer against the pool,
                    // which is mapped read-only at DATA_POOL.vaddr.
                    let text = unsafe {
                        ward_test_components::bytes(
                            caps::DATA_POOL.vaddr + u64::from(buffer.offset()),
                            buffer.len() as usize,
                        )
                    };
                    if seen == 0 || seen == ENTRIES - 1 {
                        println!("pong: got '{}'", core::str::from_utf8(text).unwrap_or("?"));
                    }
                    seen += 1;
                    if end.send(buffer).is_err() {
                        println!("pong: could not give a buffer back");
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    println!("pong: ping broke the ring protocol: {e:?}");
                    return;
                }
            }
        }
        let released = end.release();
        if end.publish() == Notify::Signal || released == Notify::Signal {
            ward_test_components::signal(caps::DATA_SIGNAL.index());
        }
        if seen == ENTRIES {
            break;
        }
        if matches!(end.prepare_wait_incoming(1), Ok(WaitDecision::Sleep)) {
            let _ = component::wait();
        }
    }
    println!("pong: read and returned {seen} buffers; signalling drained");
    ward_test_components::signal(caps::DRAINED.index());
}
