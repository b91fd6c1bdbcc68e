//! Every decoder of ward-proto on arbitrary bytes: none may panic, and a
//! message that decodes must encode back to the bytes it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ward_proto::wire::fuzz_decoders(data);
});
