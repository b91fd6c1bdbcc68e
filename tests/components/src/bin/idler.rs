//! `idler`: a component that uses nothing but its fixed capabilities (it
//! says hello on its console and waits), for systems that test what the
//! root task does around a component rather than the component itself. It
//! carries no layout stamp, so it fits any layout.
#![no_std]
#![no_main]

use ward_userlib::println;

ward_userlib::component!(main);

fn main(generation: u64) {
    println!("idler: generation {generation} up");
}
