//! Unit-level behaviour of rings and pairs: set-up, FIFO order, batching,
//! signal decisions, watermarks, validation of a misbehaving peer.

mod common;

use std::sync::atomic::Ordering;

use common::{leaked_region, params};
use ward_ring::{
    AttachError, Consumer, ControlWord, DescriptorFault, HeaderField, Notify, PairEnd,
    PairSetupError, PeerMisbehaved, PoolGeometry, PoolMemory, Pressure, Producer, PushError,
    RawDescriptor, RegionMapping, RingId, RingMemory, RingPairParams, Role, SendError, SharedIndex,
    SharedRing, SignalPolicy, WaitDecision, Watermarks,
};

fn ring_ends(
    capacity: u32,
) -> (
    RingPairParams,
    Producer<SharedRing<'static>>,
    Consumer<SharedRing<'static>>,
) {
    let p = params(capacity, 2048, 64, 64);
    let region = leaked_region(p.region_words());
    region.initialise(&p, 1).unwrap();
    let ring = region.ring(&p, RingId::Lend).unwrap();
    (
        p,
        Producer::new(ring, capacity, SignalPolicy::BOTH),
        Consumer::new(ring, capacity, p.pool(), SignalPolicy::BOTH),
    )
}

#[test]
fn attach_detects_uninitialised_and_mismatched_regions() {
    let p = params(16, 2048, 64, 64);
    let region = leaked_region(p.region_words());
    assert_eq!(region.check(&p), Err(AttachError::NotInitialised));
    region.initialise(&p, 7).unwrap();
    assert_eq!(region.check(&p), Ok(7));

    let other_capacity = params(32, 2048, 64, 64);
    // The region is too small for 32 entries, which is caught before the header.
    assert!(matches!(
        region.check(&other_capacity),
        Err(AttachError::TooSmall { .. })
    ));
    let fewer_slots = params(16, 2048, 32, 64);
    assert_eq!(
        region.check(&fewer_slots),
        Err(AttachError::Mismatch {
            field: HeaderField::SlotCount,
            ours: 32,
            theirs: 64
        })
    );
    region.words()[0].store(0xdead_beef, Ordering::Relaxed);
    assert_eq!(
        region.check(&p),
        Err(AttachError::BadMagic { found: 0xdead_beef })
    );
}

#[test]
fn bad_parameters_are_refused() {
    let pool = PoolGeometry::new(2048, 64, 64).unwrap();
    assert_eq!(
        RingPairParams::new(12, pool),
        Err(AttachError::BadCapacity { capacity: 12 })
    );
    assert_eq!(
        RingPairParams::new(1, pool),
        Err(AttachError::BadCapacity { capacity: 1 })
    );
    assert!(PoolGeometry::new(2048, 64, 3).is_err());
    assert!(PoolGeometry::new(100, 64, 64).is_err());
    assert!(PoolGeometry::new(0, 64, 64).is_err());
    assert!(PoolGeometry::new(1 << 20, 1 << 13, 64).is_err());
}

#[test]
fn misaligned_memory_is_refused() {
    let p = params(4, 256, 4, 4);
    let region = leaked_region(p.region_words() + 1);
    assert_eq!(
        RegionMapping::from_words(&region.words()[1..]).err(),
        Some(AttachError::Misaligned)
    );
}

#[test]
fn fifo_order_across_wraparound() {
    let (p, mut tx, mut rx) = ring_ends(8);
    let pool = p.pool();
    let mut next_in = 0u32;
    let mut next_out = 0u32;
    for round in 0..50 {
        let burst = 1 + round % 8;
        for _ in 0..burst {
            let b = pool
                .buffer(next_in % 64, 0, next_in % 2048)
                .unwrap()
                .with_cookie(next_in);
            match tx.push(b) {
                Ok(()) => next_in += 1,
                Err(PushError::Full(_)) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        let _ = tx.publish();
        while let Some(b) = rx.pop().unwrap() {
            assert_eq!(b.cookie(), next_out);
            assert_eq!(b.slot(), next_out % 64);
            next_out += 1;
        }
        let _ = rx.release();
    }
    assert_eq!(next_in, next_out);
    assert!(next_in > 100);
}

#[test]
fn full_ring_refuses_and_gives_the_buffer_back() {
    let (p, mut tx, mut rx) = ring_ends(4);
    let b = p.pool().buffer(0, 0, 10).unwrap();
    for _ in 0..4 {
        tx.push(b).unwrap();
    }
    assert_eq!(tx.push(b), Err(PushError::Full(b)));
    let _ = tx.publish();
    assert_eq!(rx.pop().unwrap(), Some(b));
    // Not released yet: still full.
    assert_eq!(tx.push(b), Err(PushError::Full(b)));
    let _ = rx.release();
    assert_eq!(tx.push(b), Ok(()));
}

#[test]
fn nothing_is_visible_before_publish() {
    let (p, mut tx, mut rx) = ring_ends(4);
    tx.push(p.pool().buffer(1, 0, 1).unwrap()).unwrap();
    assert_eq!(tx.unpublished(), 1);
    assert_eq!(rx.pop().unwrap(), None);
    let _ = tx.publish();
    assert!(rx.pop().unwrap().is_some());
}

#[test]
fn batches_publish_once() {
    let (p, mut tx, mut rx) = ring_ends(64);
    let pool = p.pool();
    let batch: Vec<_> = (0..40)
        .map(|i| pool.buffer(i % 64, 0, i).unwrap().with_cookie(i))
        .collect();
    assert_eq!(tx.push_slice(&batch).unwrap(), 40);
    assert_eq!(tx.push_slice(&batch).unwrap(), 24, "only 24 slots left");
    let _ = tx.publish();
    let mut out = vec![batch[0]; 100];
    assert_eq!(rx.pop_into(&mut out).unwrap(), 64);
    for (i, b) in out[..64].iter().enumerate() {
        assert_eq!(b.cookie(), i as u32 % 40);
    }
    assert_eq!(rx.unreleased(), 64);
    let _ = rx.release();
    assert_eq!(tx.free().unwrap(), 64);
}

#[test]
fn consumer_signal_is_requested_and_suppressed() {
    let (p, mut tx, mut rx) = ring_ends(16);
    let b = p.pool().buffer(0, 0, 0).unwrap();
    // A fresh consumer wants to hear about the first entry.
    tx.push(b).unwrap();
    assert_eq!(tx.publish(), Notify::Signal);
    tx.push(b).unwrap();
    assert_eq!(
        tx.publish(),
        Notify::Quiet,
        "already signalled for this wake-up"
    );
    assert_eq!(
        rx.prepare_wait(1).unwrap(),
        WaitDecision::Ready,
        "two entries are waiting"
    );
    while rx.pop().unwrap().is_some() {}
    let _ = rx.release();
    assert_eq!(rx.prepare_wait(1).unwrap(), WaitDecision::Sleep);
    tx.push(b).unwrap();
    assert_eq!(tx.publish(), Notify::Signal);
    // Coalescing: ask for four entries.
    while rx.pop().unwrap().is_some() {}
    assert_eq!(rx.prepare_wait(4).unwrap(), WaitDecision::Sleep);
    for expect in [
        Notify::Quiet,
        Notify::Quiet,
        Notify::Quiet,
        Notify::Signal,
        Notify::Quiet,
    ] {
        tx.push(b).unwrap();
        assert_eq!(tx.publish(), expect);
    }
}

#[test]
fn producer_signal_when_space_frees() {
    let (p, mut tx, mut rx) = ring_ends(8);
    let b = p.pool().buffer(0, 0, 0).unwrap();
    for _ in 0..8 {
        tx.push(b).unwrap();
    }
    let _ = tx.publish();
    assert_eq!(tx.prepare_wait(3).unwrap(), WaitDecision::Sleep);
    for expect in [Notify::Quiet, Notify::Quiet, Notify::Signal, Notify::Quiet] {
        rx.pop().unwrap().unwrap();
        assert_eq!(rx.release(), expect);
    }
    assert_eq!(tx.prepare_wait(3).unwrap(), WaitDecision::Ready);
}

#[test]
fn publish_without_news_is_quiet() {
    let (_, mut tx, mut rx) = ring_ends(8);
    assert_eq!(tx.publish(), Notify::Quiet);
    assert_eq!(rx.release(), Notify::Quiet);
}

#[test]
fn watermarks_classify_occupancy() {
    let (p, mut tx, mut rx) = ring_ends(16);
    let marks = Watermarks::new(2, 12, 16).unwrap();
    assert!(Watermarks::new(5, 4, 16).is_none());
    assert!(Watermarks::new(1, 17, 16).is_none());
    assert_eq!(rx.pressure(&marks).unwrap(), Pressure::BelowLow);
    let b = p.pool().buffer(0, 0, 0).unwrap();
    for _ in 0..5 {
        tx.push(b).unwrap();
    }
    let _ = tx.publish();
    assert_eq!(rx.pressure(&marks).unwrap(), Pressure::Between);
    assert_eq!(tx.pressure(&marks).unwrap(), Pressure::Between);
    for _ in 0..8 {
        tx.push(b).unwrap();
    }
    let _ = tx.publish();
    assert_eq!(rx.pressure(&marks).unwrap(), Pressure::AboveHigh);
}

#[test]
fn bad_descriptors_are_reported_and_skipped() {
    let (p, mut tx, mut rx) = ring_ends(8);
    let ring = *tx.memory();
    let cases = [
        (
            RawDescriptor {
                offset: 3,
                len: 1,
                cookie: 0,
                flags: 0,
            },
            DescriptorFault::Misaligned { align: 64 },
        ),
        (
            RawDescriptor {
                offset: 64 * 2048,
                len: 0,
                cookie: 0,
                flags: 0,
            },
            DescriptorFault::OutsidePool,
        ),
        (
            RawDescriptor {
                offset: u32::MAX - 63,
                len: 100,
                cookie: 0,
                flags: 0,
            },
            DescriptorFault::OutsidePool,
        ),
        (
            RawDescriptor {
                offset: 2048,
                len: 2049,
                cookie: 0,
                flags: 0,
            },
            DescriptorFault::CrossesSlotEnd { slot_end: 4096 },
        ),
        (
            RawDescriptor {
                offset: 2048 + 64,
                len: u32::MAX,
                cookie: 0,
                flags: 0,
            },
            DescriptorFault::CrossesSlotEnd { slot_end: 4096 },
        ),
    ];
    for (i, (d, _)) in cases.iter().enumerate() {
        ring.write_descriptor(i as u32, *d);
    }
    let good = p.pool().buffer(5, 64, 100).unwrap();
    ring.write_descriptor(cases.len() as u32, good.descriptor());
    ring.store(ControlWord::Head, cases.len() as u32 + 1, Ordering::Release);
    for (i, (d, fault)) in cases.iter().enumerate() {
        assert_eq!(
            rx.pop(),
            Err(PeerMisbehaved::BadDescriptor {
                at: i as u32,
                descriptor: *d,
                fault: *fault
            })
        );
    }
    assert_eq!(rx.pop(), Ok(Some(good)));
    assert_eq!(rx.pop(), Ok(None));
    let _ = &mut tx;
}

#[test]
fn batch_stops_before_a_bad_descriptor() {
    let (p, tx, mut rx) = ring_ends(8);
    let ring = *tx.memory();
    let good = p.pool().buffer(1, 0, 1).unwrap();
    ring.write_descriptor(0, good.descriptor());
    ring.write_descriptor(
        1,
        RawDescriptor {
            offset: 1,
            ..Default::default()
        },
    );
    ring.write_descriptor(2, good.descriptor());
    ring.store(ControlWord::Head, 3, Ordering::Release);
    let mut out = [good.with_cookie(9); 8];
    assert_eq!(rx.pop_into(&mut out), Ok(1));
    assert_eq!(out[0], good);
    // Whatever the batch copied in past the good entry is not left behind
    // as if it were a buffer of the pool: every entry still validates.
    for b in &out {
        assert_eq!(p.pool().validate(b.descriptor()), Ok(*b));
    }
    assert!(matches!(
        rx.pop_into(&mut out),
        Err(PeerMisbehaved::BadDescriptor { at: 1, .. })
    ));
    for b in &out {
        assert_eq!(p.pool().validate(b.descriptor()), Ok(*b));
    }
    assert_eq!(rx.pop_into(&mut out), Ok(1));
    assert_eq!(out[0], good);
}

#[test]
fn index_jumps_are_reported() {
    let (p, mut tx, mut rx) = ring_ends(8);
    let ring = *tx.memory();
    ring.store(ControlWord::Head, 9, Ordering::Release);
    assert_eq!(
        rx.pop(),
        Err(PeerMisbehaved::IndexOutOfRange {
            index: SharedIndex::Head,
            found: 9,
            ours: 0,
            capacity: 8
        })
    );
    ring.store(ControlWord::Head, 8, Ordering::Release);
    assert_eq!(rx.available(), Ok(8));
    // A head going backwards is refused too.
    ring.store(ControlWord::Head, 7, Ordering::Release);
    assert!(matches!(
        rx.available(),
        Err(PeerMisbehaved::IndexOutOfRange {
            index: SharedIndex::Head,
            ..
        })
    ));

    // The tail may not pass what was published.
    let b = p.pool().buffer(0, 0, 0).unwrap();
    tx.push(b).unwrap();
    let _ = tx.publish();
    ring.store(ControlWord::Tail, 2, Ordering::Release);
    assert!(matches!(
        tx.free(),
        Err(PeerMisbehaved::IndexOutOfRange {
            index: SharedIndex::Tail,
            found: 2,
            ..
        })
    ));
    ring.store(ControlWord::Tail, 1, Ordering::Release);
    assert_eq!(tx.free(), Ok(8));
    ring.store(ControlWord::Tail, 0, Ordering::Release);
    assert!(tx.free().is_err(), "tail went backwards");
}

#[test]
fn pair_tracks_ownership() {
    let p = params(8, 2048, 16, 64);
    let region = leaked_region(p.region_words());
    let mut owner = PairEnd::<_, 1>::initialise_owner(region, &p, 3).unwrap();
    let mut borrower = PairEnd::<_, 1>::attach_borrower(region, &p).unwrap();
    assert_eq!(borrower.generation(), 3);
    assert_eq!(owner.held().len(), 16);
    assert_eq!(borrower.held().len(), 0);

    let pool = p.pool();
    let b = pool.buffer(4, 0, 2048).unwrap();
    owner.send(b).unwrap();
    assert_eq!(owner.send(b), Err(SendError::NotHeld(b)), "already lent");
    assert_eq!(owner.publish(), Notify::Signal);
    let got = borrower.receive().unwrap().unwrap();
    assert_eq!(got, b);
    let _ = borrower.release();
    let filled = pool.with_len(got, 60).unwrap().with_flags(1);
    borrower.send(filled).unwrap();
    let _ = borrower.publish();
    assert_eq!(owner.receive().unwrap(), Some(filled));
    assert_eq!(owner.held().len(), 16);
    assert_eq!(borrower.held().len(), 0);
}

#[test]
fn pair_refuses_a_buffer_handed_over_twice() {
    let p = params(8, 2048, 16, 64);
    let region = leaked_region(p.region_words());
    let mut owner = PairEnd::<_, 1>::initialise_owner(region, &p, 1).unwrap();
    let mut borrower = PairEnd::<_, 1>::attach_borrower(region, &p).unwrap();
    let b = p.pool().buffer(2, 0, 10).unwrap();
    owner.send(b).unwrap();
    let _ = owner.publish();
    // A hostile owner writes the same descriptor again behind its own back.
    let lend = region.ring(&p, RingId::Lend).unwrap();
    lend.write_descriptor(1, b.descriptor());
    lend.store(ControlWord::Head, 2, Ordering::Release);
    assert_eq!(borrower.receive(), Ok(Some(b)));
    assert_eq!(
        borrower.receive(),
        Err(PeerMisbehaved::BufferAlreadyHeld { slot: 2 })
    );
    // The borrower returns it once; a second return would be refused by the owner.
    borrower.send(b).unwrap();
    let _ = borrower.publish();
    let ret = region.ring(&p, RingId::Return).unwrap();
    ret.write_descriptor(1, b.descriptor());
    ret.store(ControlWord::Head, 2, Ordering::Release);
    assert_eq!(owner.receive(), Ok(Some(b)));
    assert_eq!(
        owner.receive(),
        Err(PeerMisbehaved::BufferAlreadyHeld { slot: 2 })
    );
}

#[test]
fn owner_reclaims_everything_after_a_restart() {
    let p = params(8, 2048, 16, 64);
    let region = leaked_region(p.region_words());
    let mut owner = PairEnd::<_, 1>::initialise_owner(region, &p, 1).unwrap();
    for slot in 0..5 {
        owner.send(p.pool().buffer(slot, 0, 1).unwrap()).unwrap();
    }
    let _ = owner.publish();
    assert_eq!(owner.held().len(), 11);
    // The borrower dies holding five buffers; the supervisor says generation 2.
    region.initialise(&p, 2).unwrap();
    owner
        .reclaim_after_peer_restart(
            region.ring(&p, RingId::Lend).unwrap(),
            region.ring(&p, RingId::Return).unwrap(),
            2,
        )
        .unwrap();
    assert_eq!(owner.held().len(), 16);
    let borrower = PairEnd::<_, 1>::attach_borrower(region, &p).unwrap();
    assert_eq!(borrower.generation(), 2);
}

#[test]
fn too_many_slots_for_the_ownership_set() {
    let p = params(8, 64, 65, 64);
    let region = leaked_region(p.region_words());
    assert!(matches!(
        PairEnd::<_, 1>::initialise_owner(region, &p, 1),
        Err(PairSetupError::Geometry(_))
    ));
    assert_eq!(Role::Owner.outgoing(), RingId::Lend);
}

#[test]
fn pool_memory_round_trip_at_odd_offsets() {
    let pool = PoolGeometry::new(64, 4, 1).unwrap();
    let words: Vec<_> = (0..64)
        .map(|_| std::sync::atomic::AtomicU32::new(0))
        .collect();
    let memory = PoolMemory::new(&words, pool).unwrap();
    assert!(PoolMemory::new(&words[..10], pool).is_none());
    let b = pool.buffer(1, 3, 50).unwrap();
    let data: Vec<u8> = (0..60).collect();
    assert_eq!(memory.write(&b, &data), Ok(50));
    let mut out = [0u8; 64];
    assert_eq!(memory.read(&b, &mut out), Ok(50));
    assert_eq!(&out[..50], &data[..50]);
    // Bytes around the buffer are untouched.
    let whole = pool.whole_slot(b);
    let mut all = [0xffu8; 64];
    memory.read(&whole, &mut all).unwrap();
    assert_eq!(&all[..3], &[0, 0, 0]);
    assert_eq!(all[53], 0);
    let other = PoolGeometry::new(64, 100, 1)
        .unwrap()
        .buffer(99, 0, 64)
        .unwrap();
    assert!(memory.read(&other, &mut out).is_err());
}

#[test]
fn signal_policy_is_agreed_and_obeyed() {
    let p = params(8, 2048, 16, 64).with_signals(RingId::Lend, SignalPolicy::POLLED);
    let region = leaked_region(p.region_words());
    region.initialise(&p, 1).unwrap();
    let both = params(8, 2048, 16, 64);
    assert_eq!(
        region.check(&both),
        Err(AttachError::Mismatch {
            field: HeaderField::SignalPolicy,
            ours: 0b1111,
            theirs: 0b1100
        })
    );
    assert_eq!(region.check(&p), Ok(1));
    let ring = region.ring(&p, RingId::Lend).unwrap();
    let mut tx = Producer::new(ring, 8, p.signals(RingId::Lend));
    let mut rx = Consumer::new(ring, 8, p.pool(), p.signals(RingId::Lend));
    assert_eq!(rx.prepare_wait(1), Ok(WaitDecision::Poll));
    assert_eq!(tx.prepare_wait(1), Ok(WaitDecision::Poll));
    tx.push(p.pool().buffer(0, 0, 0).unwrap()).unwrap();
    assert_eq!(
        tx.publish(),
        Notify::Quiet,
        "a polling consumer is never signalled"
    );
    assert!(rx.pop().unwrap().is_some());
    assert_eq!(rx.release(), Notify::Quiet);

    let consumer_only = SignalPolicy::CONSUMER_ONLY;
    assert_eq!(consumer_only.bits(), 1);
    let mut tx = Producer::new(ring, 8, consumer_only);
    assert_eq!(tx.prepare_wait(1), Ok(WaitDecision::Poll));
}

#[test]
fn slot_sizes_that_are_not_powers_of_two_validate_by_division() {
    let pool = PoolGeometry::new(96, 4, 32).unwrap();
    let ok = pool
        .validate(RawDescriptor {
            offset: 96 * 2 + 32,
            len: 64,
            cookie: 0,
            flags: 0,
        })
        .unwrap();
    assert_eq!(ok.slot(), 2);
    assert_eq!(
        pool.validate(RawDescriptor {
            offset: 96 * 2 + 32,
            len: 65,
            cookie: 0,
            flags: 0
        }),
        Err(DescriptorFault::CrossesSlotEnd { slot_end: 288 })
    );
    assert_eq!(
        pool.validate(RawDescriptor {
            offset: 96 * 4,
            len: 0,
            cookie: 0,
            flags: 0
        }),
        Err(DescriptorFault::OutsidePool)
    );
    assert_eq!(
        pool.validate(RawDescriptor {
            offset: 16,
            len: 0,
            cookie: 0,
            flags: 0
        }),
        Err(DescriptorFault::Misaligned { align: 32 })
    );
}

#[test]
fn raw_mapping_is_checked_for_alignment_and_size() {
    use std::ptr::NonNull;
    use ward_ring::RegionBuffer;
    let p = params(8, 2048, 16, 64);
    let buffer: &'static RegionBuffer<{ 9 * 32 + 2 * 8 * 4 }> =
        Box::leak(Box::new(RegionBuffer::new()));
    let base = NonNull::from(buffer).cast::<u8>();
    // SAFETY: `buffer` is leaked, so it stays valid for 'static, and it is
    // made of `AtomicU32`s that are only ever accessed atomically.
    let region = unsafe { RegionMapping::from_raw(base, p.region_bytes()) }.unwrap();
    region.initialise(&p, 5).unwrap();
    assert_eq!(
        buffer.mapping().check(&p),
        Ok(5),
        "both views see the same memory"
    );
    // SAFETY: as above; four bytes in is still inside the buffer.
    let misaligned = unsafe { RegionMapping::from_raw(base.add(4), p.region_bytes() - 4) };
    assert_eq!(misaligned.err(), Some(AttachError::Misaligned));
    // SAFETY: as above, with a length shorter than the buffer.
    let short = unsafe { RegionMapping::from_raw(base, 1000) }.unwrap();
    assert!(matches!(
        short.check(&p),
        Err(AttachError::TooSmall {
            need: 1408,
            have: 1000
        })
    ));
    assert_eq!(
        p.region_bytes(),
        1152 + 32 * 8,
        "the layout documented in docs/protocols.md"
    );
    assert!(matches!(
        short.ring(&p, RingId::Lend),
        Err(AttachError::TooSmall { .. })
    ));
}

#[test]
fn control_words_sit_where_the_documentation_says() {
    use ward_ring::ControlWord::*;
    let byte = |ring, word| RingPairParams::control_word(ring, word) * 4;
    let documented = [
        (RingId::Lend, Head, 128),
        (RingId::Lend, ProducerWakeAt, 256),
        (RingId::Lend, Tail, 384),
        (RingId::Lend, ConsumerWakeAt, 512),
        (RingId::Return, Head, 640),
        (RingId::Return, ProducerWakeAt, 768),
        (RingId::Return, Tail, 896),
        (RingId::Return, ConsumerWakeAt, 1024),
    ];
    for (ring, word, offset) in documented {
        assert_eq!(byte(ring, word), offset, "{ring:?} {word:?}");
    }
    let p = params(16, 2048, 16, 64);
    assert_eq!(p.header_words() * 4, 1152);
    assert_eq!(p.header(1).header_bytes, 1152);
}
