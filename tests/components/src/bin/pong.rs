//! `pong` (tests/systems/two-components.toml): answers `ping`'s call, then
//! borrows buffers over the `data` ring pair (ward-ring checks every
//! descriptor against the pool, which pong may only read), reads each and
//! gives it back, and signals `drained` when it has seen the whole pool.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/pong.rs"));
}

use ward_ring::WaitDecision;
use ward_userlib::time::{Duration, Instant};
use ward_userlib::{component, message, println, ring, syscall};

ward_userlib::component!(main, caps);

/// How long pong waits for ping to set up the ring: ping does so right
/// after its call, so this only bounds a broken run.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(5);

fn main(generation: u64) {
    println!("pong: generation {generation} up");
    // One call: answer and stop serving (the scenario needs only one).
    match caps::PING_PONG.recv() {
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

    let deadline = Instant::now() + ATTACH_TIMEOUT;
    let (mut data, _) = match ring::attach_waiting(caps::DATA, generation, deadline) {
        Ok(attached) => attached,
        Err(e) => {
            println!("pong: cannot attach to the data ring: {e:?}");
            return;
        }
    };
    println!(
        "pong: attached to the data ring (generation {})",
        data.pair.generation()
    );
    let pool = data.pool.expect("pong maps the data pool");
    let buffers = caps::DATA.pool_slots;
    let mut seen = 0;
    loop {
        loop {
            match data.pair.receive() {
                Ok(Some(buffer)) => {
                    let mut text = [0u8; 64];
                    let length = pool.read(&buffer, &mut text).unwrap_or(0);
                    if seen == 0 || seen == buffers - 1 {
                        println!(
                            "pong: got '{}'",
                            core::str::from_utf8(&text[..length]).unwrap_or("?")
                        );
                    }
                    seen += 1;
                    if data.pair.send(buffer).is_err() {
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
        data.flush();
        if seen == buffers {
            break;
        }
        if matches!(data.pair.prepare_wait_incoming(1), Ok(WaitDecision::Sleep)) {
            let _ = component::wait();
        }
    }
    println!("pong: read and returned {seen} buffers; signalling drained");
    let _ = caps::DRAINED.signal();
}
