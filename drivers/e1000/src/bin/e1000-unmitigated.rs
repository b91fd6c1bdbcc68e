//! `e1000-unmitigated`: the e1000 driver built against the teaching
//! experiment's system with interrupt mitigation off
//! (tests/experiments/systems/e1000-unmitigated.toml: no interrupt throttle,
//! a poll budget of one frame). Only the `livelock` experiment boots it.
#![no_std]
#![no_main]

ward_e1000::program!(ward_e1000::faults::NoFaults, "/unmitigated.rs");
