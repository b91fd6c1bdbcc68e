//! The data path against real ring pairs (ward-ring over host memory) and
//! a stand-in for the NIC that writes descriptors back as the 82540EM does.

use super::*;
use crate::descriptors::{rx_status, tx_status, DESCRIPTOR_BYTES};
use crate::faults::NoFaults;
use core::sync::atomic::{AtomicU64, Ordering};
use ward_proto::driver::{TX_DROPPED, TX_OFFLOAD_IP_CHECKSUM, TX_SENT};
use ward_ring::{PoolGeometry, RegionBuffer, RingPairParams};
use ward_userlib::dma::DmaRegion;

const SLOT: u32 = 2048;
const SLOTS: u32 = 16;
const ENTRIES: u32 = 16;
const DESCRIPTORS: usize = 8;
const RX_IOVA: u64 = 0x1000_0000;
const TX_IOVA: u64 = 0x2000_0000;

fn window(iova: u64) -> DmaWindow {
    DmaWindow {
        iova,
        size: u64::from(SLOT * SLOTS),
        device_reads: true,
        device_writes: true,
    }
}

/// The stack's (owner) and the driver's (borrower) ends of a fresh pair.
fn pair() -> (Pair, Pair) {
    let pool = PoolGeometry::new(SLOT, SLOTS, 64).unwrap();
    let params = RingPairParams::new(ENTRIES, pool).unwrap();
    let region: &'static RegionBuffer<{ 288 + 2 * 16 * 4 }> =
        Box::leak(Box::new(RegionBuffer::new()));
    let owner = Pair::initialise_owner(region.mapping(), &params, 1).unwrap();
    let borrower = Pair::attach_borrower(region.mapping(), &params).unwrap();
    (owner, borrower)
}

struct Bench {
    words: &'static [AtomicU64],
    path: Datapath<'static>,
    counters: Counters<'static>,
}

fn bench() -> Bench {
    let words: &'static [AtomicU64] = Box::leak(
        (0..DESCRIPTORS * 4)
            .map(|_| AtomicU64::new(0))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let descriptors = DmaWindow {
        iova: 0x10_0000,
        size: (words.len() * 8) as u64,
        device_reads: true,
        device_writes: true,
    };
    let region = DmaRegion::over(words, descriptors).unwrap();
    let half = (DESCRIPTORS * DESCRIPTOR_BYTES) as u64;
    let rx = RxRing::new(
        region
            .descriptors(0, DESCRIPTORS, DESCRIPTOR_BYTES)
            .unwrap(),
    )
    .unwrap();
    let tx = TxRing::new(
        region
            .descriptors(half, DESCRIPTORS, DESCRIPTOR_BYTES)
            .unwrap(),
    )
    .unwrap();
    let windows = [descriptors, window(RX_IOVA), window(TX_IOVA)];
    let page: &'static [AtomicU64] = Box::leak(
        (0..512)
            .map(|_| AtomicU64::new(0))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    Bench {
        words,
        path: Datapath::new(rx, tx, window(RX_IOVA), window(TX_IOVA), &windows, false),
        counters: Counters::create(page, 1).unwrap(),
    }
}

impl Bench {
    /// The NIC fills receive descriptor `index` with a frame.
    fn nic_receives(&self, index: usize, length: u16, status: u8, errors: u8) {
        let word = u64::from(length) | (u64::from(status) << 32) | (u64::from(errors) << 40);
        self.words[index * 2 + 1].store(word, Ordering::Release);
    }
    /// The NIC's view of receive descriptor `index`: the buffer's IO address.
    fn rx_address(&self, index: usize) -> u64 {
        self.words[index * 2].load(Ordering::Relaxed)
    }
    fn tx_address(&self, index: usize) -> u64 {
        self.words[(DESCRIPTORS + index) * 2].load(Ordering::Relaxed)
    }
    /// The NIC sends transmit descriptor `index`.
    fn nic_sends(&self, index: usize) {
        let word = &self.words[(DESCRIPTORS + index) * 2 + 1];
        word.store(
            word.load(Ordering::Relaxed) | (u64::from(tx_status::DD) << 32),
            Ordering::Release,
        );
    }
    fn count(&self, counter: Counter) -> u64 {
        self.counters.get(counter)
    }
}

fn lend(owner: &mut Pair, slot: u32, headroom: u32, len: u32, flags: u32) -> Buffer {
    let buffer = owner
        .pool()
        .buffer(slot, headroom, len)
        .unwrap()
        .with_flags(flags)
        .with_cookie(0xc00c + slot);
    owner.send(buffer).unwrap();
    let _ = owner.publish();
    buffer
}

fn returned(owner: &mut Pair) -> Vec<Buffer> {
    let mut out = Vec::new();
    while let Some(b) = owner.receive().unwrap() {
        out.push(b);
    }
    let _ = owner.release();
    out
}

#[test]
fn received_frames_go_back_with_their_length_and_errors_are_counted() {
    let mut b = bench();
    let (mut stack, mut driver) = pair();
    for slot in 0..6 {
        lend(&mut stack, slot, 0, SLOT, 0);
    }
    assert_eq!(b.path.refill(&mut driver, &b.counters), Ok(6));
    assert_eq!(b.rx_address(2), RX_IOVA + 2 * u64::from(SLOT));
    let ok = rx_status::DD | rx_status::EOP | rx_status::IXSM;
    b.nic_receives(0, 60, ok, 0);
    b.nic_receives(1, 1514, ok, 0);
    b.nic_receives(2, 1000, ok, rx_errors::CE);
    b.nic_receives(3, 10, ok, 0);
    b.nic_receives(4, 1600, ok, 0);
    b.nic_receives(5, 700, rx_status::DD | rx_status::IPCS, rx_errors::IPE);
    assert_eq!(
        b.path.receive(&mut driver, 64, &mut NoFaults, &b.counters),
        Ok(6)
    );
    let _ = driver.publish();
    let back = returned(&mut stack);
    assert_eq!(back.len(), 6);
    let decoded: Vec<_> = back
        .iter()
        .map(|&b| RxCompletion::decode(b).unwrap())
        .collect();
    assert!(
        matches!(decoded[0], RxCompletion::Frame { buffer, checksum: ChecksumStatus::Unchecked } if buffer.len() == 60 && buffer.cookie() == 0xc00c)
    );
    assert!(matches!(decoded[1], RxCompletion::Frame { buffer, .. } if buffer.len() == 1514));
    for d in &decoded[2..] {
        assert!(matches!(d, RxCompletion::Error { .. }));
    }
    assert_eq!(b.count(Counter::RxFrames), 2);
    assert_eq!(b.count(Counter::RxBytes), 1574);
    assert_eq!(b.count(Counter::RxDropNicError), 1);
    assert_eq!(b.count(Counter::RxDropRunt), 1);
    assert_eq!(b.count(Counter::RxDropTooLong), 1);
    // Descriptor 5 had no EOP: the start of a frame that spans descriptors.
    assert_eq!(b.count(Counter::RxDropFragment), 1);
    assert_eq!(driver.held().len(), 0, "the driver keeps nothing");
}

#[test]
fn the_budget_bounds_a_pass_and_the_ring_keeps_one_descriptor_free() {
    let mut b = bench();
    let (mut stack, mut driver) = pair();
    for slot in 0..SLOTS {
        lend(&mut stack, slot, 0, SLOT, 0);
    }
    // Eight descriptors hold seven buffers; the rest wait on the lend ring.
    assert_eq!(b.path.refill(&mut driver, &b.counters), Ok(DESCRIPTORS - 1));
    assert_eq!(b.path.rx.tail(), (DESCRIPTORS - 1) as u32);
    for index in 0..DESCRIPTORS - 1 {
        b.nic_receives(index, 64, rx_status::DD | rx_status::EOP, 0);
    }
    assert_eq!(
        b.path.receive(&mut driver, 3, &mut NoFaults, &b.counters),
        Ok(3)
    );
    assert_eq!(b.path.refill(&mut driver, &b.counters), Ok(3));
    assert_eq!(
        b.path.receive(&mut driver, 64, &mut NoFaults, &b.counters),
        Ok(4)
    );
    let _ = driver.publish();
    assert_eq!(returned(&mut stack).len(), 7);
    assert_eq!(b.count(Counter::RxPosted), 10);
}

#[test]
fn bad_postings_are_given_back_and_garbage_is_dropped() {
    let mut b = bench();
    let (mut stack, mut driver) = pair();
    lend(&mut stack, 0, 0, 1000, 0); // too short for a full frame
    lend(&mut stack, 1, 0, SLOT, 4); // flags set
    lend(&mut stack, 2, 0, SLOT, 0); // good
                                     // Garbage straight into the lend ring, past the ownership checks: outside
                                     // the pool, crossing a slot, and slot 2 again (already lent).
    let ring = stack.outgoing_ring();
    for raw in [(SLOT * SLOTS, 64), (3 * SLOT + 64, SLOT)] {
        let descriptor = ward_ring::RawDescriptor {
            offset: raw.0,
            len: raw.1,
            cookie: 0,
            flags: 0,
        };
        assert!(ring.push_unchecked(descriptor).is_ok());
    }
    let duplicate = stack.pool().buffer(2, 0, SLOT).unwrap();
    assert!(stack.outgoing_ring().push(duplicate).is_ok());
    let _ = stack.publish();
    assert_eq!(b.path.refill(&mut driver, &b.counters), Ok(1));
    assert_eq!(b.count(Counter::RxPostRefused), 2);
    assert_eq!(b.count(Counter::RxRingBadDescriptor), 2);
    assert_eq!(b.count(Counter::RxRingDuplicate), 1);
    let _ = driver.publish();
    let back = returned(&mut stack);
    assert_eq!(back.len(), 2);
    assert!(back
        .iter()
        .all(|&b| matches!(RxCompletion::decode(b), Ok(RxCompletion::Error { .. }))));
}

#[test]
fn frames_are_sent_and_returned_and_bad_requests_dropped() {
    let mut b = bench();
    let (mut stack, mut driver) = pair();
    let frame = lend(&mut stack, 4, 64, 1514, 0);
    lend(&mut stack, 5, 0, 10, 0); // shorter than an Ethernet header
    lend(&mut stack, 6, 0, 60, TX_OFFLOAD_IP_CHECKSUM);
    lend(&mut stack, 7, 0, 60, 0);
    assert_eq!(
        b.path.transmit(&mut driver, &mut NoFaults, &b.counters),
        Ok(2)
    );
    assert_eq!(b.path.tx.tail(), 2);
    assert_eq!(b.tx_address(0), TX_IOVA + 4 * u64::from(SLOT) + 64);
    assert_eq!(b.count(Counter::TxDropBadRequest), 1);
    assert_eq!(b.count(Counter::TxDropOffload), 1);
    b.nic_sends(0);
    assert_eq!(
        b.path.complete(&mut driver, &mut NoFaults, &b.counters),
        Ok(1)
    );
    let _ = driver.publish();
    let back = returned(&mut stack);
    let flags: Vec<u32> = back.iter().map(|b| b.flags()).collect();
    assert_eq!(flags, [TX_DROPPED, TX_DROPPED, TX_SENT]);
    assert_eq!(back[2].offset(), frame.offset());
    assert_eq!(b.count(Counter::TxFrames), 1);
    assert_eq!(b.count(Counter::TxBytes), 1514);
    assert_eq!(b.path.tx.in_flight(), 1);
}

#[test]
fn the_stray_address_lies_outside_every_window() {
    let b = bench();
    let stray = b.path.stray_iova();
    for w in [window(RX_IOVA), window(TX_IOVA)] {
        assert!(stray >= w.iova + w.size || stray < w.iova);
    }
    assert_eq!(stray % (1 << 20), 0);
}
