//! `e1000-top-half`: the e1000 driver built against the teaching
//! experiment's system where it runs above every other component with no
//! poll budget, like an interrupt handler doing all its work at once
//! (tests/experiments/systems/e1000-top-half.toml). Only the `top-half`
//! experiment boots it.
#![no_std]
#![no_main]

ward_e1000::program!(ward_e1000::faults::NoFaults, "/top_half.rs");
