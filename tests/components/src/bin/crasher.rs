//! `crasher` (tests/systems/restart.toml): each instance publishes its
//! generation on the `feed` ring, tells `steady`, and then crashes (a
//! panic), so that the supervisor restarts it up to its limit and then
//! holds it.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/crasher.rs"));
}

use ward_test_components::SimpleRing;
use ward_userlib::println;

ward_userlib::component!(main, caps::LAYOUT_HASH);

/// Entries of the `feed` ring (the spec's `entries`).
const ENTRIES: u32 = 8;

fn main(generation: u64) {
    println!("crasher: generation {generation} up; feeding steady, then crashing");
    let ring = SimpleRing::new(caps::FEED_RING.vaddr, ENTRIES);
    ring.reset();
    let _ = ring.push(generation as u32, 0);
    ward_test_components::signal(caps::FEED_SIGNAL.index());
    panic!("deliberate crash in generation {generation}");
}
