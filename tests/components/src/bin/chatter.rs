//! `chatter` (tests/systems/hostile.toml): a third component that calls
//! `intruder` once with a 16-word (128-byte) message. The kernel writes
//! words 4 and up into the receiver's IPC buffer: if `intruder` could make
//! its read-only view of `shared` its IPC buffer, they would land in the
//! region `owner` alone may write.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/chatter.rs"));
}

use ward_userlib::println;

ward_userlib::component!(main, caps);

/// What every word of the message says: a pattern `owner` would notice.
const WORD: u64 = 0xeeee_eeee_eeee_eeee;
/// Words in the message.
const LENGTH: usize = 16;
/// The message's label.
const LABEL: u64 = 0x42;

fn main(generation: u64) {
    println!("chatter: generation {generation} up");
    match caps::CHAT.call_message(LABEL, &[WORD; LENGTH], &[]) {
        Ok(_) => println!("chatter: intruder took the {LENGTH}-word message"),
        Err(e) => println!("chatter: call failed: {e}"),
    }
}
