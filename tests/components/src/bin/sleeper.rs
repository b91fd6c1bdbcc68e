//! `sleeper` (tests/systems/hang.toml): idles for a while — its waits keep
//! its heartbeat going, so the supervisor must not take it for hung — then
//! hangs (spins without waiting or signalling), so that the supervisor finds
//! it hung and restarts it.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/sleeper.rs"));
}

use ward_userlib::{component, println};

ward_userlib::component!(main, caps);

fn main(generation: u64) {
    let period = caps::HEARTBEAT_PERIOD.expect("sleeper has a heartbeat");
    // Idle for several heartbeat periods: nothing but the runtime's
    // heartbeats wakes it.
    let idle = period * 5;
    println!(
        "sleeper: generation {generation} up, idle for {} ms",
        idle.as_millis()
    );
    component::sleep(idle);
    println!("sleeper: generation {generation} stops its heartbeat and spins");
    loop {
        core::hint::spin_loop();
    }
}
