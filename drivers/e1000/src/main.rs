//! `e1000`: the NIC driver of the default system (see the library's docs
//! and docs/drivers.md).
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/caps.rs"));
}

ward_userlib::component!(main, caps);

fn main(generation: u64) {
    ward_e1000::driver::run(
        ward_e1000::resources!(caps),
        generation,
        ward_e1000::faults::NoFaults,
    );
}
