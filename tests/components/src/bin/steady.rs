//! `steady` (tests/systems/restart.toml): consumes the `feed` ring from
//! `crasher`. When a signal comes, it compares crasher's generation on the
//! status page with the one it knew; on a change it resynchronises the ring
//! (drops whatever the dead instance left) and keeps working.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/steady.rs"));
}

use ward_test_components::SimpleRing;
use ward_userlib::component::StatusPage;
use ward_userlib::println;

ward_userlib::component!(main, caps::LAYOUT_HASH);

const ENTRIES: u32 = 8;
/// The feed ring carries no pool bytes: descriptors hold a generation.
const NO_POOL: u32 = u32::MAX;

fn main(generation: u64) {
    println!("steady: generation {generation} up");
    let ring = SimpleRing::new(caps::FEED_RING.vaddr, ENTRIES);
    let status = StatusPage::mapped();
    let mut known = status.generation_of("crasher").unwrap_or(0);
    let mut events = 0u32;
    loop {
        let bits = ward_userlib::component::wait();
        if bits & caps::FEED_BIT == 0 {
            continue;
        }
        events += 1;
        let now = status.generation_of("crasher").unwrap_or(0);
        if now != known {
            println!("steady: crasher restarted (generation {known} -> {now}); resynchronising the feed ring");
            known = now;
        }
        while let Ok(Some((value, _))) = ring.pop(NO_POOL) {
            println!("steady: fed by crasher generation {value}; still working ({events} signals so far)");
        }
    }
}
