//! `e1000-faults`: the e1000 driver with test-only fault injection
//! (`ward_e1000::faults`): a frame to send with a particular cookie makes it
//! crash or point a descriptor outside its DMA windows, and the supervisor's
//! fault mailbox arms the bugs of its campaigns (wild DMA, interrupt storms
//! and lost interrupts, ring abuse, lies). Only test systems boot it, in
//! place of `e1000` (docs/drivers.md, "Fault injection"; docs/reliability.md).
#![no_std]
#![no_main]

ward_e1000::program!(ward_e1000::faults::Injected::new());
