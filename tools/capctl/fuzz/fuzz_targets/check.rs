//! Fuzz target: arbitrary bytes (mostly TOML, from the corpus) through every
//! capctl command. See `capctl::fuzz::run_one`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    capctl::fuzz::run_one(data);
});
