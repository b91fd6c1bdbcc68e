//! `uptime`, the example component of docs/components.md: it keeps time,
//! publishes what it counted in a counter page that `watcher` reads, and
//! rings `watcher` once a second.
#![no_std]
#![no_main]

// The caps table: every capability and number system.toml gives uptime.
#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/uptime.rs"));
}

use ward_proto::counters::CounterWriter;
use ward_userlib::component::Events;
use ward_userlib::time::{Duration, Instant};
use ward_userlib::{println, region};

// Stamps the program with its layout and sets up the runtime.
ward_userlib::component!(main, caps);

/// How often uptime wakes to count.
const TICK: Duration = Duration::from_millis(100);
/// Wakes per published second.
const TICKS_PER_SECOND: u64 = 10;
/// The counters it publishes, in page order.
const COUNTERS: [&str; 3] = ["seconds", "wakes", "late_wakes_over_1ms"];

fn main(generation: u64) {
    println!("uptime: generation {generation} up");
    let page = CounterWriter::create(
        region::words64(caps::UPTIME_COUNTERS),
        &COUNTERS,
        generation,
    )
    .expect("the region holds three counters");
    let mut events = Events::new();
    let mut next = Instant::now() + TICK;
    loop {
        events.wait_until(Some(next));
        if !events.timed_out() {
            continue; // uptime listens to no one: nothing else wakes it
        }
        let late = next.elapsed();
        next = next + TICK;
        page.add(1, 1);
        if late > Duration::from_millis(1) {
            page.add(2, 1);
        }
        if page.get(1) % TICKS_PER_SECOND == 0 {
            page.add(0, 1);
            let _ = caps::SECOND.signal();
        }
    }
}
