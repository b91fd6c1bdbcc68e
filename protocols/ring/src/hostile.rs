//! A hostile peer in a box: drives one side of a pair while arbitrary bytes
//! are written over the shared region, and checks that the side under attack
//! keeps its promises. Shared by the fuzz targets (`fuzz/`) and the corpus
//! regression test, so that both run exactly the same checks.
//!
//! The input is read as: one mode byte, then (for attach fuzzing) raw bytes
//! laid over the region, then a script of 6-byte steps, each either a peer
//! write of one shared word (see [`selected_word`]) or an operation of the
//! side under test.

use core::sync::atomic::Ordering;

use crate::error::{PeerMisbehaved, SendError};
use crate::layout::{RingPairParams, WORD_BYTES};
use crate::memory::{RegionBuffer, RegionMapping};
use crate::pair::{PairEnd, PairSetupError, Role};
use crate::pool::{slot_set_words, PoolGeometry};

/// Ring capacity used by the harness: small, so short inputs reach wrap-around.
pub const HARNESS_CAPACITY: u32 = 8;
/// Pool slots used by the harness: more slots than ring entries, as in a real pool.
pub const HARNESS_SLOTS: u32 = 24;
/// Pool slot size used by the harness.
pub const HARNESS_SLOT_SIZE: u32 = 256;
/// Pool alignment used by the harness.
pub const HARNESS_ALIGN: u32 = 8;
/// Most script steps one input may run: keeps every run short.
pub const HARNESS_MAX_STEPS: usize = 4096;

const HARNESS_WORDS: usize = crate::layout::HEADER_LINES * crate::layout::CONTROL_LINE_WORDS
    + 2 * HARNESS_CAPACITY as usize * crate::layout::DESCRIPTOR_WORDS;
const HARNESS_SET_WORDS: usize = slot_set_words(HARNESS_SLOTS);

/// Bytes per script step: opcode, word selector, 32-bit value.
const STEP_BYTES: usize = 6;

/// Word selectors below this pick a header word.
const SELECT_HEADER_END: u8 = crate::layout::HEADER_WORDS as u8;
/// Word selectors below this (and from [`SELECT_HEADER_END`]) pick a control word.
const SELECT_CONTROL_END: u8 = SELECT_HEADER_END + 8;

/// Which shared word a step's selector byte names: the header words, then
/// the eight control words (lend ring first, in [`ControlWord::ALL`] order),
/// then descriptor words of both rings. Only meaningful words are reachable,
/// so the fuzzer does not waste steps on padding.
pub fn selected_word(params: &RingPairParams, selector: u8) -> usize {
    use crate::layout::{ControlWord, RingId};
    if selector < SELECT_HEADER_END {
        selector as usize
    } else if selector < SELECT_CONTROL_END {
        let k = (selector - SELECT_HEADER_END) as usize;
        let ring = if k < 4 { RingId::Lend } else { RingId::Return };
        RingPairParams::control_word(ring, ControlWord::ALL[k % 4])
    } else {
        let descriptor_words = 2 * params.capacity() as usize * crate::layout::DESCRIPTOR_WORDS;
        params.header_words() + (selector - SELECT_CONTROL_END) as usize % descriptor_words
    }
}

/// What one harness run saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Whether attach succeeded.
    pub attached: bool,
    /// Buffers received and found valid.
    pub received: u32,
    /// Buffers sent back to the peer.
    pub sent: u32,
    /// `PeerMisbehaved` reports.
    pub peer_faults: u32,
}

/// The parameters the harness uses.
pub fn harness_params() -> RingPairParams {
    let pool = match PoolGeometry::new(HARNESS_SLOT_SIZE, HARNESS_SLOTS, HARNESS_ALIGN) {
        Ok(p) => p,
        Err(_) => unreachable!("constant geometry is valid"),
    };
    match RingPairParams::new(HARNESS_CAPACITY, pool) {
        Ok(p) => p,
        Err(_) => unreachable!("constant capacity is valid"),
    }
}

/// Runs one input. Panics only when the side under test breaks one of its
/// promises (a buffer outside the pool, a buffer held twice, a slot count
/// that does not add up): that is what the fuzzer looks for.
pub fn run(input: &[u8]) -> Outcome {
    let mut outcome = Outcome::default();
    let Some((&mode, rest)) = input.split_first() else {
        return outcome;
    };
    let params = harness_params();
    let region_buffer = RegionBuffer::<HARNESS_WORDS>::new();
    let region = region_buffer.mapping();
    let words = region.words();
    let role = if mode & 1 == 0 {
        Role::Borrower
    } else {
        Role::Owner
    };
    let overlay_header = mode & 2 != 0;

    // The peer initialises honestly; then the input may scribble over the
    // header (attach fuzzing) before the side under test attaches.
    if region.initialise(&params, 1).is_err() {
        unreachable!("harness region is large enough");
    }
    let mut script = rest;
    if overlay_header {
        let take = script.len().min(crate::layout::HEADER_WORDS * WORD_BYTES);
        for (i, chunk) in script[..take].chunks(WORD_BYTES).enumerate() {
            let mut bytes = [0u8; WORD_BYTES];
            bytes[..chunk.len()].copy_from_slice(chunk);
            words[i].store(u32::from_le_bytes(bytes), Ordering::Relaxed);
        }
        script = &script[take..];
    }

    let end: Result<PairEnd<_, HARNESS_SET_WORDS>, PairSetupError> = match role {
        // The owner re-checks the header it would normally have written itself.
        Role::Owner => match region.check(&params) {
            Ok(generation) => over(region, &params, Role::Owner, generation),
            Err(e) => Err(PairSetupError::Attach(e)),
        },
        Role::Borrower => PairEnd::attach_borrower(region, &params),
    };
    let Ok(mut end) = end else {
        return outcome;
    };
    outcome.attached = true;
    let pool = params.pool();

    for step in script.chunks_exact(STEP_BYTES).take(HARNESS_MAX_STEPS) {
        let value = u32::from_le_bytes([step[2], step[3], step[4], step[5]]);
        match step[0] % 5 {
            0 | 1 => {
                // The peer writes any word of the region, header included.
                if let Some(word) = words.get(selected_word(&params, step[1])) {
                    word.store(value, Ordering::Release);
                }
            }
            2 => match end.receive() {
                Ok(Some(buffer)) => {
                    assert!(buffer.slot() < pool.slot_count(), "slot outside the pool");
                    assert!(
                        buffer.offset() as u64 + buffer.len() as u64
                            <= (buffer.slot() as u64 + 1) * pool.slot_size() as u64
                    );
                    assert!(
                        buffer.offset() % pool.align() == 0,
                        "misaligned buffer accepted"
                    );
                    assert!(end.held().contains(buffer.slot()));
                    outcome.received += 1;
                }
                Ok(None) => {}
                Err(PeerMisbehaved::BufferAlreadyHeld { slot }) => {
                    assert!(end.held().contains(slot));
                    outcome.peer_faults += 1;
                }
                Err(_) => outcome.peer_faults += 1,
            },
            3 => {
                let _ = end.release();
            }
            _ => {
                if let Some(slot) = end.held().first() {
                    let len = value % (pool.slot_size() + 1);
                    let Ok(buffer) = pool.buffer(slot, 0, len) else {
                        unreachable!("a held slot with an in-slot length is valid");
                    };
                    match end.send(buffer.with_cookie(value)) {
                        Ok(()) => {
                            assert!(!end.held().contains(slot));
                            outcome.sent += 1;
                        }
                        Err(SendError::Full(_)) => {}
                        Err(SendError::Peer(..)) => outcome.peer_faults += 1,
                        Err(SendError::NotHeld(_)) => unreachable!("the slot was held"),
                    }
                    let _ = end.publish();
                }
            }
        }
        assert!(end.held().len() <= pool.slot_count());
    }
    outcome
}

fn over<'a>(
    region: RegionMapping<'a>,
    params: &RingPairParams,
    role: Role,
    generation: u32,
) -> Result<PairEnd<crate::memory::SharedRing<'a>, HARNESS_SET_WORDS>, PairSetupError> {
    let outgoing = region
        .ring(params, role.outgoing())
        .map_err(PairSetupError::Attach)?;
    let incoming = region
        .ring(params, role.incoming())
        .map_err(PairSetupError::Attach)?;
    PairEnd::new(role, outgoing, incoming, params, generation).map_err(PairSetupError::Geometry)
}
