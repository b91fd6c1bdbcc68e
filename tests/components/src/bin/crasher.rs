//! `crasher` (tests/systems/restart.toml): each instance sets up the `feed`
//! ring afresh (it owns the ring's pool), publishes one buffer whose cookie
//! is its generation, and then crashes (a panic), so that the supervisor
//! restarts it up to its limit and then holds it.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/crasher.rs"));
}

use ward_userlib::{println, ring};

ward_userlib::component!(main, caps);

fn main(generation: u64) {
    println!("crasher: generation {generation} up; feeding steady, then crashing");
    let mut feed = ring::attach(caps::FEED, generation).expect("set up the feed ring");
    let geometry = ring::geometry(&caps::FEED).expect("the feed ring's geometry");
    let buffer = geometry
        .buffer(0, 0, 0)
        .expect("the pool's first buffer")
        .with_cookie(generation as u32);
    feed.pair.send(buffer).expect("crasher holds every buffer");
    feed.flush();
    panic!("deliberate crash in generation {generation}");
}
