//! `e1000-faults`: the e1000 driver with test-only fault injection
//! (`ward_e1000::faults`): a frame to send with a particular cookie makes it
//! crash, or point a descriptor outside its DMA windows. Only test scenarios
//! boot it, in place of `e1000` (docs/drivers.md, "Fault injection").
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
        ward_e1000::faults::ByCookie,
    );
}
