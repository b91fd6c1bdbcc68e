//! `e1000`: the NIC driver of the default system (see the library's docs
//! and docs/drivers.md).
#![no_std]
#![no_main]

ward_e1000::program!(ward_e1000::faults::NoFaults);
