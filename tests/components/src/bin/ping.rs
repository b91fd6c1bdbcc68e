//! `ping` (tests/systems/two-components.toml): calls `pong` over the
//! `ping-pong` endpoint, then lends every buffer of the `data` pool to
//! `pong` over the `data` ring pair (ping owns the pool, pong borrows),
//! waits until every buffer came back, and waits for `drained`.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/ping.rs"));
}

use ward_ring::WaitDecision;
use ward_userlib::{component, message, println, ring};

ward_userlib::component!(main, caps);

/// The call's label and argument; pong answers argument + 1.
const ASK_LABEL: u64 = 1;
const QUESTION: u64 = 41;

fn main(generation: u64) {
    println!("ping: generation {generation} up");
    match caps::PING_PONG.call(message::info(ASK_LABEL, 1), [QUESTION, 0, 0, 0]) {
        Ok(reply) => println!("ping: pong answered {} to {QUESTION}", reply.mrs[0]),
        Err(e) => println!("ping: call failed: {e}"),
    }

    let mut data = ring::attach(caps::DATA, generation).expect("initialise the data ring");
    let pool = data.pool.expect("ping maps the data pool");
    let geometry = pool.geometry();
    let buffers = caps::DATA.pool_slots;
    for slot in 0..buffers {
        let mut text = *b"hello from ping, buffer ?";
        text[text.len() - 1] = b'a' + slot as u8;
        let buffer = geometry
            .buffer(slot, 0, text.len() as u32)
            .expect("a buffer of the pool");
        pool.write(&buffer, &text)
            .expect("the buffer lies in the pool");
        data.pair.send(buffer).expect("lend a buffer");
    }
    data.flush();
    println!("ping: lent {buffers} buffers on the data ring");

    let mut returned = 0;
    let mut drained = false;
    while returned < buffers || !drained {
        loop {
            match data.pair.receive() {
                Ok(Some(_buffer)) => returned += 1,
                Ok(None) => break,
                Err(e) => {
                    println!("ping: pong broke the ring protocol: {e:?}");
                    return;
                }
            }
        }
        data.flush();
        if returned == buffers && drained {
            break;
        }
        if returned < buffers
            && !matches!(
                data.pair.prepare_wait_incoming(buffers - returned),
                Ok(WaitDecision::Sleep)
            )
        {
            continue;
        }
        drained |= component::wait() & caps::DRAINED_PONG_BIT != 0;
    }
    println!("ping: all {returned} buffers came back; pong drained the ring");
}
