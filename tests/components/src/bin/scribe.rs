//! `scribe` (tests/systems/serial.toml): a client of the serial driver. It
//! writes a few lines to `serial-log`, then more text than the driver's
//! buffer holds in one go, and reports how much the driver took each time
//! (a busy driver takes less and counts the rest; it never blocks its
//! clients).
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/scribe.rs"));
}

use ward_userlib::{println, text_channel};

ward_userlib::component!(main, caps);

/// Lines written one by one.
const LINES: u32 = 3;
/// A burst larger than the driver's transmit buffer (4 KiB).
const BURST_BYTES: usize = 6000;

fn main(generation: u64) {
    println!("scribe: generation {generation} up");
    let mut line = *b"scribe: line ? over serial-log\r\n";
    for n in 0..LINES {
        line[13] = b'1' + n as u8;
        match text_channel::write(caps::SERIAL_LOG, &line) {
            Ok(taken) => println!(
                "scribe: line {} taken: {taken} of {} bytes",
                n + 1,
                line.len()
            ),
            Err(e) => println!("scribe: write failed: {e}"),
        }
    }
    let burst = [b'.'; BURST_BYTES];
    match text_channel::write(caps::SERIAL_LOG, &burst) {
        Ok(taken) => println!(
            "scribe: a {BURST_BYTES}-byte burst: {taken} taken, {} refused without waiting",
            BURST_BYTES - taken
        ),
        Err(e) => println!("scribe: burst failed: {e}"),
    }
}
