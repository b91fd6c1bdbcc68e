//! The test components' crate: each binary in `src/bin` is one component of
//! a system in `tests/systems/`. Everything they share comes from
//! `ward_userlib` (caps tables, rings, registers, time), as it would for any
//! component; this library holds nothing of its own.
#![no_std]
