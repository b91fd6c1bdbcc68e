//! Property tests: whatever the interleaving of pushes, publishes, pops and
//! releases, every buffer comes out once, in order, unchanged. Plus the same
//! property with the two ends on two threads, and the ownership invariant of
//! pairs (every slot held by exactly one side or in flight).

mod common;

use std::collections::VecDeque;

use common::{leaked_region, params};
use proptest::prelude::*;
use ward_ring::{
    Consumer, DescriptorFault, PairEnd, PoolGeometry, Producer, PushError, RawDescriptor, RingId,
    SendError, SignalPolicy,
};

#[derive(Clone, Debug)]
enum Op {
    Push(u8),
    /// One `push_slice` of this many buffers.
    PushSlice(u8),
    Publish,
    Pop(u8),
    /// One `pop_into` with room for this many buffers.
    PopInto(u8),
    Release,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u8..20).prop_map(Op::Push),
        (1u8..40).prop_map(Op::PushSlice),
        Just(Op::Publish),
        (1u8..20).prop_map(Op::Pop),
        (1u8..40).prop_map(Op::PopInto),
        Just(Op::Release),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn interleavings_never_lose_duplicate_or_reorder(capacity_log in 1u32..6, ops in prop::collection::vec(op(), 1..300)) {
        let capacity = 1 << capacity_log;
        let p = params(capacity, 256, 32, 8);
        let region = leaked_region(p.region_words());
        region.initialise(&p, 1).unwrap();
        let ring = region.ring(&p, RingId::Lend).unwrap();
        let mut tx = Producer::new(ring, capacity, SignalPolicy::BOTH);
        let mut rx = Consumer::new(ring, capacity, p.pool(), SignalPolicy::BOTH);
        let pool = p.pool();
        // Model: what was pushed and not yet popped, split at the publish point.
        let mut published: VecDeque<u32> = VecDeque::new();
        let mut pending: Vec<u32> = Vec::new();
        let mut in_ring = 0u32; // pushed and not yet released
        let mut popped_unreleased = 0u32;
        let mut next = 0u32;
        for op in ops {
            match op {
                Op::Push(n) => for _ in 0..n {
                    let b = pool.buffer(next % 32, 0, next % 257).unwrap().with_cookie(next);
                    match tx.push(b) {
                        Ok(()) => { pending.push(next); next += 1; in_ring += 1; }
                        Err(PushError::Full(back)) => { prop_assert_eq!(back, b); prop_assert_eq!(in_ring, capacity); break; }
                        Err(e) => prop_assert!(false, "{:?}", e),
                    }
                },
                Op::PushSlice(n) => {
                    let batch: Vec<_> = (next..next + n as u32)
                        .map(|i| pool.buffer(i % 32, 0, i % 257).unwrap().with_cookie(i))
                        .collect();
                    let pushed = tx.push_slice(&batch).unwrap() as u32;
                    prop_assert_eq!(pushed, (n as u32).min(capacity - in_ring));
                    pending.extend(next..next + pushed);
                    next += pushed;
                    in_ring += pushed;
                }
                Op::Publish => { let _ = tx.publish(); published.extend(pending.drain(..)); }
                Op::PopInto(n) => {
                    let mut out = vec![pool.buffer(0, 0, 0).unwrap(); n as usize];
                    let got = rx.pop_into(&mut out).unwrap();
                    prop_assert_eq!(got, (n as usize).min(published.len()));
                    for b in &out[..got] {
                        let want = published.pop_front();
                        prop_assert_eq!(Some(b.cookie()), want);
                        prop_assert_eq!(b.slot(), b.cookie() % 32);
                        prop_assert_eq!(b.len(), b.cookie() % 257);
                    }
                    popped_unreleased += got as u32;
                }
                Op::Pop(n) => for _ in 0..n {
                    match rx.pop().unwrap() {
                        Some(b) => {
                            let want = published.pop_front();
                            prop_assert_eq!(Some(b.cookie()), want);
                            prop_assert_eq!(b.slot(), b.cookie() % 32);
                            prop_assert_eq!(b.len(), b.cookie() % 257);
                            popped_unreleased += 1;
                        }
                        None => { prop_assert!(published.is_empty()); break; }
                    }
                },
                Op::Release => { let _ = rx.release(); in_ring -= popped_unreleased; popped_unreleased = 0; }
            }
        }
    }

    /// The validation fast path (shifts and masks for power-of-two slots,
    /// one division otherwise) agrees with plain 64-bit arithmetic.
    #[test]
    fn validation_matches_a_plain_model(
        slot_size_units in 1u32..80,
        align_log in 0u32..7,
        slot_count in 1u32..64,
        offset in any::<u32>(),
        len in any::<u32>(),
        near_pool in any::<bool>(),
    ) {
        let align = 1u32 << align_log;
        let slot_size = slot_size_units * align;
        let pool = PoolGeometry::new(slot_size, slot_count, align).unwrap();
        let pool_bytes = slot_size as u64 * slot_count as u64;
        // Half the cases land near the pool so that the in-bounds paths are exercised.
        let (offset, len) = if near_pool {
            ((offset as u64 % (pool_bytes + 2 * slot_size as u64)) as u32, len % (2 * slot_size + 1))
        } else {
            (offset, len)
        };
        let d = RawDescriptor { offset, len, cookie: 7, flags: 9 };
        let slot = offset as u64 / slot_size as u64;
        let slot_end = (slot + 1) * slot_size as u64;
        let expected = if offset % align != 0 {
            Err(DescriptorFault::Misaligned { align })
        } else if slot >= slot_count as u64 {
            Err(DescriptorFault::OutsidePool)
        } else if offset as u64 + len as u64 > slot_end {
            Err(DescriptorFault::CrossesSlotEnd { slot_end })
        } else {
            Ok(slot as u32)
        };
        let found = pool.validate(d);
        if let Ok(buffer) = &found {
            prop_assert_eq!(buffer.descriptor(), d);
        }
        prop_assert_eq!(found.map(|b| b.slot()), expected);
    }

    #[test]
    fn pair_ownership_is_conserved(ops in prop::collection::vec((0u8..6, 0u8..24), 1..400)) {
        let p = params(8, 128, 24, 8);
        let region = leaked_region(p.region_words());
        let mut owner = PairEnd::<_, 1>::initialise_owner(region, &p, 1).unwrap();
        let mut borrower = PairEnd::<_, 1>::attach_borrower(region, &p).unwrap();
        let pool = p.pool();
        for (kind, slot) in ops {
            let slot = u32::from(slot);
            match kind {
                0 => if let Ok(b) = pool.buffer(slot, 0, 1) {
                    match owner.send(b) {
                        Ok(()) | Err(SendError::Full(_)) | Err(SendError::NotHeld(_)) => {}
                        Err(e) => prop_assert!(false, "{:?}", e),
                    }
                    let _ = owner.publish();
                },
                1 => { let _ = borrower.receive().unwrap(); let _ = borrower.release(); }
                2 => if let Some(s) = borrower.held().first() {
                    let _ = borrower.send(pool.buffer(s, 0, 0).unwrap());
                    let _ = borrower.publish();
                },
                3 => { let _ = owner.receive().unwrap(); let _ = owner.release(); }
                4 => { let _ = owner.publish(); let _ = borrower.publish(); }
                _ => { let _ = owner.release(); let _ = borrower.release(); }
            }
            // No slot is held by both sides.
            for s in 0..24 {
                prop_assert!(!(owner.held().contains(s) && borrower.held().contains(s)));
            }
        }
        // Drain everything: all slots end with the owner.
        for _ in 0..10 {
            let _ = owner.publish();
            while borrower.receive().unwrap().is_some() {}
            let _ = borrower.release();
            while let Some(s) = borrower.held().first() {
                if borrower.send(pool.buffer(s, 0, 0).unwrap()).is_err() { break; }
            }
            let _ = borrower.publish();
            while owner.receive().unwrap().is_some() {}
            let _ = owner.release();
        }
        prop_assert_eq!(owner.held().len(), 24);
        prop_assert_eq!(borrower.held().len(), 0);
    }
}

/// Two threads, random batch sizes: the consumer sees 0, 1, 2, ... exactly.
#[test]
fn two_threads_keep_order() {
    for (capacity, total) in [(2u32, 20_000u32), (16, 100_000), (256, 200_000)] {
        let p = params(capacity, 64, 64, 64);
        let region = leaked_region(p.region_words());
        region.initialise(&p, 1).unwrap();
        let ring = region.ring(&p, RingId::Lend).unwrap();
        let mut tx = Producer::new(ring, capacity, SignalPolicy::BOTH);
        let mut rx = Consumer::new(ring, capacity, p.pool(), SignalPolicy::BOTH);
        let pool = p.pool();
        let producer = std::thread::spawn(move || {
            let mut next = 0u32;
            let mut batch = 1u32;
            while next < total {
                for _ in 0..batch {
                    if next == total {
                        break;
                    }
                    match tx.push(pool.buffer(next % 64, 0, 0).unwrap().with_cookie(next)) {
                        Ok(()) => next += 1,
                        Err(PushError::Full(_)) => break,
                        Err(e) => panic!("{e:?}"),
                    }
                }
                let _ = tx.publish();
                batch = batch % 37 + 1;
                std::hint::spin_loop();
            }
        });
        let mut expect = 0u32;
        let mut out = [pool.buffer(0, 0, 0).unwrap(); 7];
        while expect < total {
            let n = rx.pop_into(&mut out).unwrap();
            for b in &out[..n] {
                assert_eq!(b.cookie(), expect);
                expect += 1;
            }
            let _ = rx.release();
            if n == 0 {
                std::thread::yield_now();
            }
        }
        producer.join().unwrap();
    }
}
