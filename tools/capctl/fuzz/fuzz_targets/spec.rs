//! Fuzz target: arbitrary bytes as a compiled system spec. See
//! `capctl::fuzz::run_spec`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    capctl::fuzz::run_spec(data);
});
