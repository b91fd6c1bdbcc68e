//! `watcher`, the example's observer: each time `uptime` rings, it reads
//! uptime's counter page (mapped read-only) and prints what it sees; after
//! three seconds it says so and waits.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/watcher.rs"));
}

use ward_proto::counters::CounterReader;
use ward_userlib::{component, println, region};

ward_userlib::component!(main, caps);

/// Seconds to watch.
const SECONDS: u64 = 3;

fn main(generation: u64) {
    println!("watcher: generation {generation} up");
    let page = CounterReader::new(region::words64(caps::UPTIME_COUNTERS));
    loop {
        if component::wait() & caps::SECOND_UPTIME_BIT == 0 {
            continue;
        }
        let seconds = page.value_of("seconds").unwrap_or(0);
        println!(
            "watcher: uptime has counted {seconds} s in {} wakes ({} late by over 1 ms)",
            page.value_of("wakes").unwrap_or(0),
            page.value_of("late_wakes_over_1ms").unwrap_or(0)
        );
        if seconds >= SECONDS {
            println!("watcher: {SECONDS} seconds watched");
            return;
        }
    }
}
