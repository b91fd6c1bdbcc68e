//! `pulse` (tests/systems/inject.toml): a target for the supervisor's fault
//! injection. Every 10 ms it checks a table in its data against a checksum
//! it keeps on its stack, and keeps its heartbeat through its waits; a
//! corrupted table is a panic (the component's own check detecting the
//! fault), anything else the MMU, the CPU or the heartbeat catches.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/pulse.rs"));
}

use core::sync::atomic::{AtomicU32, Ordering};
use ward_userlib::time::Duration;
use ward_userlib::{component, println};

ward_userlib::component!(main, caps);

/// How often pulse does its work.
const PERIOD: Duration = Duration::from_millis(10);
/// Words of the table it checks (in its data segment).
const TABLE_WORDS: usize = 256;

static TABLE: [AtomicU32; TABLE_WORDS] = [const { AtomicU32::new(0) }; TABLE_WORDS];

fn checksum() -> u32 {
    TABLE.iter().fold(0u32, |sum, w| {
        sum.rotate_left(5) ^ w.load(Ordering::Relaxed)
    })
}

fn main(generation: u64) {
    for (i, word) in TABLE.iter().enumerate() {
        word.store(
            (i as u32).wrapping_mul(0x9e37_79b9) ^ generation as u32,
            Ordering::Relaxed,
        );
    }
    let expected = checksum();
    println!("pulse: generation {generation} up");
    let mut beats = 0u64;
    loop {
        component::sleep(PERIOD);
        beats += 1;
        if checksum() != expected {
            panic!("pulse: its table is corrupted after {beats} beats");
        }
    }
}
