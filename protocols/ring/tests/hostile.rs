//! A hostile peer: while a consumer runs, another thread writes random
//! garbage and adversarial index and descriptor values into the shared
//! region. The consumer must never panic, never hand out a buffer outside
//! the pool or a slot it already holds, and must report `PeerMisbehaved`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{leaked_region, params};
use proptest::prelude::*;
use ward_ring::{hostile, PairEnd, PeerMisbehaved};

/// A small xorshift generator so the attacker thread needs no shared state.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn consumer_survives_a_scribbling_peer() {
    let p = params(16, 512, 40, 16);
    let region = leaked_region(p.region_words());
    // The owner sets the region up honestly and then turns hostile.
    let _owner = PairEnd::<_, 1>::initialise_owner(region, &p, 1).unwrap();
    let mut borrower = PairEnd::<_, 1>::attach_borrower(region, &p).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let words = region.words();
    let header_words = p.header_words();
    let attacker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut state = 0x9e37_79b9_7f4a_7c15u64;
            let mut writes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = xorshift(&mut state);
                // Mostly control words and descriptors, sometimes anything at all.
                let index = if r & 0x300 == 0 {
                    r as usize % words.len()
                } else if r & 0x400 == 0 {
                    ward_ring::RingPairParams::control_word(
                        if r & 1 == 0 {
                            ward_ring::RingId::Lend
                        } else {
                            ward_ring::RingId::Return
                        },
                        ward_ring::ControlWord::ALL[(r >> 1) as usize % 4],
                    )
                } else {
                    header_words + (r >> 3) as usize % (words.len() - header_words)
                };
                let value = match (r >> 32) % 6 {
                    0 => (r >> 40) as u32,                  // garbage
                    1 => ((r >> 40) as u32 % 48) * 512, // plausible slot offsets, some past the pool
                    2 => u32::MAX - ((r >> 40) as u32 % 4), // wrap-around edges
                    3 => (r >> 40) as u32 % 64,         // small index jumps
                    4 => 512 * 39 + 500,                // crosses the last slot's end
                    _ => 0,
                };
                words[index].store(value, Ordering::Release);
                writes += 1;
            }
            writes
        })
    };
    let pool = p.pool();
    let mut received = 0u64;
    let mut faults = 0u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(700);
    while std::time::Instant::now() < deadline {
        for _ in 0..64 {
            match borrower.receive() {
                Ok(Some(b)) => {
                    assert!(b.slot() < pool.slot_count());
                    assert!(
                        u64::from(b.offset()) + u64::from(b.len()) <= u64::from(b.slot() + 1) * 512
                    );
                    assert_eq!(b.offset() % 16, 0);
                    received += 1;
                    // Give it back at once so the held set keeps cycling.
                    let _ = borrower.send(b);
                }
                Ok(None) => break,
                Err(PeerMisbehaved::BufferAlreadyHeld { slot }) => {
                    assert!(borrower.held().contains(slot));
                    faults += 1;
                }
                Err(_) => faults += 1,
            }
        }
        let _ = borrower.release();
        let _ = borrower.publish();
        let _ = borrower.prepare_wait_incoming(1);
    }
    stop.store(true, Ordering::Relaxed);
    let writes = attacker.join().unwrap();
    println!(
        "hostile peer: {writes} writes, {received} buffers accepted, {faults} faults reported"
    );
    assert!(faults > 0, "the attacker should have been noticed");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The same harness the fuzz targets use, on random inputs.
    #[test]
    fn harness_never_breaks_its_promises(input in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = hostile::run(&input);
    }

    /// Adversarial scripts: structured as steps, so they get far.
    #[test]
    fn harness_with_structured_steps(
        mode in 0u8..4,
        steps in prop::collection::vec((0u8..5, any::<u8>(), prop_oneof![any::<u32>(), 0u32..64, (0u32..30).prop_map(|s| s * 256)]), 0..600)
    ) {
        let mut input = vec![mode & 1];
        for (op, word, value) in steps {
            input.push(op);
            input.push(word);
            input.extend_from_slice(&value.to_le_bytes());
        }
        let _ = hostile::run(&input);
    }
}

#[test]
fn harness_reports_attach_failures_and_progress() {
    // Mode 2: the header is overwritten with garbage, so attach fails.
    let out = hostile::run(&[2, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(!out.attached);
    // Mode 0: honest header; the owner side is simulated by peer writes.
    // Write descriptor 0 of the lend ring (slot 3, len 10), then head = 1, then receive.
    // Selectors: 16 is the lend ring's head, 24 the first word of its first descriptor.
    let lend_desc_word = 24u32;
    let head_word = 16u32;
    let mut input = vec![0u8];
    let mut step = |op: u8, word: u32, value: u32| {
        input.push(op);
        input.push(word as u8);
        input.extend_from_slice(&value.to_le_bytes());
    };
    step(0, lend_desc_word, 3 * 256);
    step(0, lend_desc_word + 1, 10);
    step(0, head_word, 1);
    step(2, 0, 0);
    step(2, 0, 0);
    step(0, head_word, 100);
    step(2, 0, 0);
    let out = hostile::run(&input);
    assert!(out.attached);
    assert_eq!(out.received, 1);
    assert_eq!(out.peer_faults, 1);
}
