//! `ping` (tests/systems/two-components.toml): calls `pong` over the
//! `ping-pong` endpoint, then lends the 16 buffers of the `data` pool to
//! `pong` over the `data` ring pair (ward-ring: ping owns the pool, pong
//! borrows), waits until every buffer came back, and waits for `drained`.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/ping.rs"));
}

use ward_ring::{Notify, PairEnd, PoolGeometry, RingPairParams, WaitDecision};
use ward_userlib::cap::Endpoint;
use ward_userlib::{component, message, println, Cap};

ward_userlib::component!(main, caps::LAYOUT_HASH);

/// Entries of the `data` ring (the spec's `entries`).
const ENTRIES: u32 = 16;
/// Bytes per buffer (the spec's `buffer_size`); the pool holds 16 of them.
const BUFFER_BYTES: u32 = 2048;
/// Alignment of buffers in the pool.
const BUFFER_ALIGN: u32 = 64;
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

    let pool = PoolGeometry::new(BUFFER_BYTES, ENTRIES, BUFFER_ALIGN).expect("pool geometry");
    let params = RingPairParams::new(ENTRIES, pool).expect("ring parameters");
    let region = ward_test_components::ring_region(caps::DATA_RING);
    let mut end = PairEnd::<_, 1>::initialise_owner(region, &params, generation as u32)
        .expect("initialise the data ring");
    for slot in 0..ENTRIES {
        let text = b"hello from ping, buffer ";
        let offset = u64::from(slot * BUFFER_BYTES);
        // SAFETY: the pool is mapped read-write in ping at DATA_POOL.vaddr
        // (32 KiB); each buffer lies inside it and ping holds it (not lent).
        unsafe {
            let buffer = (caps::DATA_POOL.vaddr + offset) as *mut u8;
            core::ptr::copy_nonoverlapping(text.as_ptr(), buffer, text.len());
            core::ptr::write_volatile(buffer.add(text.len()), b'a' + slot as u8);
        }
        let buffer = pool
            .buffer(slot, 0, text.len() as u32 + 1)
            .expect("a buffer of the pool");
        end.send(buffer).expect("lend a buffer");
    }
    if end.publish() == Notify::Signal {
        ward_test_components::signal(caps::DATA_SIGNAL.index());
    }
    println!("ping: lent {ENTRIES} buffers on the data ring");

    let mut returned = 0;
    let mut drained = false;
    while returned < ENTRIES || !drained {
        loop {
            match end.receive() {
                Ok(Some(_buffer)) => returned += 1,
                Ok(None) => break,
                Err(e) => {
                    println!("ping: pong broke the ring protocol: {e:?}");
                    return;
                }
            }
        }
        let _ = end.release();
        if returned == ENTRIES && drained {
            break;
        }
        if returned < ENTRIES
            && !matches!(
                end.prepare_wait_incoming(ENTRIES - returned),
                Ok(WaitDecision::Sleep)
            )
        {
            continue;
        }
        let bits = component::wait();
        drained |= bits & caps::DRAINED_PONG_BIT != 0;
    }
    println!("ping: all {returned} buffers came back; pong drained the ring");
}
