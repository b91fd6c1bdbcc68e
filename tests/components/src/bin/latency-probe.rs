//! `latency-probe` (the `top-half` experiment's systems, tests/experiments/systems/
//! e1000-{bottom,top}-half.toml): a component that must act on time, like a control loop. It
//! asks to wake every millisecond and measures how late each wake-up comes; every
//! `REPORT_EVERY` wake-ups it prints the median, the 99th percentile and the worst.
//!
//! Its timer has the kernel tick's granularity (1 ms), so a wake-up on an idle machine is up to
//! a millisecond late; anything more is time some higher-priority thread held the CPU.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/latency_probe.rs"));
}

use ward_userlib::time::{Duration, Instant};
use ward_userlib::{component, println};

ward_userlib::component!(main, caps);

/// The wake-up period the probe asks for.
const PERIOD: Duration = Duration::from_millis(1);
/// Wake-ups per report: about half a second, so a burst of load shows in its own report.
const REPORT_EVERY: usize = 500;

fn main(generation: u64) {
    println!("probe: generation {generation}: waking every 1 ms, reporting every {REPORT_EVERY} wake-ups");
    let mut late_us = [0u32; REPORT_EVERY];
    let mut report = 0u32;
    loop {
        for slot in late_us.iter_mut() {
            let deadline = Instant::now() + PERIOD;
            while let component::Wakeup::Signalled(_) = component::wait_until(Some(deadline)) {}
            let late = Instant::now().saturating_duration_since(deadline);
            *slot = late.as_micros().min(u128::from(u32::MAX)) as u32;
        }
        late_us.sort_unstable();
        report += 1;
        println!(
            "probe: report {report}: wake-ups late by median {} us, 99th percentile {} us, worst {} us",
            late_us[REPORT_EVERY / 2],
            late_us[REPORT_EVERY * 99 / 100],
            late_us[REPORT_EVERY - 1]
        );
    }
}
