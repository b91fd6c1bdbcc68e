//! `owner` (tests/systems/hostile.toml): the victim. It alone may write
//! `shared`, which the root task filled with a pattern; whenever `intruder`
//! calls (after each of its attempts) it checks every byte of the region
//! and answers 1 if all are intact. Any other message on its endpoint (a
//! fault redirected to it, say) is a leak, and so is a changed byte.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/owner.rs"));
}

use core::sync::atomic::Ordering;
use ward_userlib::{message, println, region, syscall};

ward_userlib::component!(main, caps);

/// Labels of `intruder`'s calls: a check after attempt N is
/// `CHECK_LABEL + N`; `DONE_LABEL` ends the run.
const CHECK_LABEL: u64 = 0x100;
const DONE_LABEL: u64 = 0x1ff;

/// The first word of `shared` that is not the fill pattern, if any.
fn first_change() -> Option<(usize, u64)> {
    let pattern = u64::from_le_bytes([caps::SHARED_FILL; 8]);
    region::words64(caps::SHARED)
        .iter()
        .map(|word| word.load(Ordering::Relaxed))
        .enumerate()
        .find(|&(_, word)| word != pattern)
}

fn main(generation: u64) {
    println!(
        "owner: generation {generation} up; shared region {}",
        if first_change().is_none() {
            "intact"
        } else {
            "CHANGED"
        }
    );
    let mut checks = 0u64;
    let mut all_intact = true;
    let mut request = caps::CHECK.recv();
    loop {
        let call = match request {
            Ok(call) => call,
            Err(e) => {
                println!("owner: receive failed: {e}");
                return;
            }
        };
        let label = call.info.label();
        let verdict = match label {
            // A signal on its bound notification: nothing to check.
            0 if call.info.length() == 0 => {
                request = caps::CHECK.recv();
                continue;
            }
            DONE_LABEL => {
                println!(
                    "owner: intruder done; shared region {} after {checks} checks",
                    if all_intact && first_change().is_none() {
                        "intact"
                    } else {
                        "CHANGED"
                    }
                );
                0
            }
            _ if (CHECK_LABEL..DONE_LABEL).contains(&label) => {
                checks += 1;
                let attempt = label - CHECK_LABEL;
                match first_change() {
                    None => {
                        println!("owner: after attempt {attempt}: shared region intact");
                        1
                    }
                    Some((word, value)) => {
                        all_intact = false;
                        println!(
                            "owner: after attempt {attempt}: shared region CHANGED (word {word} is {value:#x})"
                        );
                        0
                    }
                }
            }
            _ => {
                all_intact = false;
                println!(
                    "owner: LEAK: a message with label {label:#x} from badge {:#x} (a fault sent to the wrong place?)",
                    call.badge
                );
                0
            }
        };
        request = syscall::reply_recv(caps::CHECK.cptr(), message::info(0, 1), [verdict, 0, 0, 0]);
    }
}
