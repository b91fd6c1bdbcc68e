//! `victim` (tests/systems/least-privilege.toml): holds a secret region
//! filled with 0x5a and checks it while the prober does its worst; once the
//! prober is done (its fifth generation) it reports whether the secret is
//! intact.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/victim.rs"));
}

use ward_userlib::component::StatusPage;
use ward_userlib::{println, syscall};

ward_userlib::component!(main, caps::LAYOUT_HASH);

/// The byte the root task filled the secret with (the spec's `fill`).
const PATTERN: u8 = 0x5a;
/// The prober's generation that only reports.
const PROBER_DONE_GENERATION: u32 = 5;

fn intact() -> bool {
    // SAFETY: the secret region is mapped read-write at SECRET.vaddr.
    let bytes =
        unsafe { ward_test_components::bytes(caps::SECRET.vaddr, caps::SECRET.size as usize) };
    bytes.iter().all(|&b| b == PATTERN)
}

fn main(generation: u64) {
    println!(
        "victim: generation {generation} up; secret intact: {}",
        intact()
    );
    let status = StatusPage::mapped();
    let mut ok = true;
    loop {
        ok &= intact();
        if status.generation_of("prober").unwrap_or(0) >= PROBER_DONE_GENERATION {
            println!(
                "victim: prober finished; secret {}",
                if ok && intact() { "intact" } else { "CHANGED" }
            );
            return;
        }
        syscall::yield_now();
    }
}
