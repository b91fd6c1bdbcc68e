//! Attach to a region whose header and words a hostile peer controls, then
//! receive, release and send back while the peer keeps scribbling. The
//! harness in `ward_ring::hostile` panics if the side under test breaks a
//! promise (a buffer outside the pool, a buffer held twice).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ward_ring::hostile::run(data);
});
