//! `e1000-faults`: the e1000 driver with test-only fault injection
//! (`ward_e1000::faults`): a frame to send with a particular cookie makes it
//! crash, or point a descriptor outside its DMA windows. Only test scenarios
//! boot it, in place of `e1000` (docs/drivers.md, "Fault injection").
#![no_std]
#![no_main]

ward_e1000::program!(ward_e1000::faults::ByCookie);
