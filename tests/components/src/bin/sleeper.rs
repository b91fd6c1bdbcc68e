//! `sleeper` (tests/systems/hang.toml): signals its heartbeat for a while,
//! then hangs (spins without signalling), so that the supervisor finds it
//! hung and restarts it.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/sleeper.rs"));
}

use ward_userlib::{component, println, syscall};

ward_userlib::component!(main, caps::LAYOUT_HASH);

/// Heartbeats before hanging: enough to span several supervisor ticks.
const BEATS: u32 = 20_000;

fn main(generation: u64) {
    println!("sleeper: generation {generation} up, beating");
    for _ in 0..BEATS {
        component::heartbeat();
        syscall::yield_now();
    }
    println!("sleeper: generation {generation} stops its heartbeat and spins");
    loop {
        core::hint::spin_loop();
    }
}
