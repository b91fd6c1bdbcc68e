//! `victim` (tests/systems/least-privilege.toml): holds a secret region
//! filled with a pattern and checks it while the prober does its worst;
//! once the prober is done (its fifth generation) it reports whether the
//! secret is intact.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/victim.rs"));
}

use core::sync::atomic::Ordering;
use ward_userlib::component::StatusPage;
use ward_userlib::time::Duration;
use ward_userlib::{component, println, region};

ward_userlib::component!(main, caps);

/// The prober's generation that only reports.
const PROBER_DONE_GENERATION: u32 = 5;
/// How often the victim looks at its secret while the prober works.
const CHECK_EVERY: Duration = Duration::from_millis(2);

fn intact() -> bool {
    let pattern = u64::from_le_bytes([caps::SECRET_FILL; 8]);
    region::words64(caps::SECRET)
        .iter()
        .all(|word| word.load(Ordering::Relaxed) == pattern)
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
        component::sleep(CHECK_EVERY);
    }
}
