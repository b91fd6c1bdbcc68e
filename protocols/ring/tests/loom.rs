//! loom model checks of the ring protocol, run on the real `Producer` and
//! `Consumer` code over a `RingMemory` made of loom's instrumented atomics.
//!
//! - publication: a consumer that sees an index also sees the descriptors it covers;
//! - signal suppression: with both sides sleeping on "notifications" whenever
//!   the protocol says they may, and with a consumer that asks to be woken
//!   only at a watermark, no wake-up is lost (a lost one deadlocks the model
//!   or trips the doorbell check);
//! - mutants: the same checks fail on a memory that drops the fence or the
//!   release ordering, which shows that the checks can see those bugs.
//!
//! These are slow (every interleaving is explored), so they are `#[ignore]`d
//! in the plain test run and executed by `make test-protocols`:
//! `cargo test -p ward-ring --release --test loom -- --ignored`.

use loom::sync::atomic::{fence, AtomicU32};
use loom::sync::{Arc, Notify as LoomNotify};
use std::sync::atomic::Ordering;

use ward_ring::{
    Consumer, ControlWord, PoolGeometry, Producer, PushError, RawDescriptor, RingMemory,
    SignalPolicy, WaitDecision,
};

/// What the model memory gets wrong on purpose.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Defect {
    None,
    /// The fence between index store and wake-at load is dropped.
    NoFence,
    /// Index stores are relaxed instead of release.
    RelaxedPublish,
}

struct Words {
    head: AtomicU32,
    producer_wake_at: AtomicU32,
    tail: AtomicU32,
    consumer_wake_at: AtomicU32,
    descriptors: Vec<[AtomicU32; 4]>,
}

#[derive(Clone)]
struct LoomRing {
    words: Arc<Words>,
    mask: u32,
    defect: Defect,
}

impl LoomRing {
    fn new(capacity: u32, defect: Defect) -> Self {
        let descriptors = (0..capacity).map(|_| [0; 4].map(AtomicU32::new)).collect();
        Self {
            words: Arc::new(Words {
                head: AtomicU32::new(0),
                producer_wake_at: AtomicU32::new(u32::MAX),
                tail: AtomicU32::new(0),
                consumer_wake_at: AtomicU32::new(0),
                descriptors,
            }),
            mask: capacity - 1,
            defect,
        }
    }

    fn word(&self, word: ControlWord) -> &AtomicU32 {
        match word {
            ControlWord::Head => &self.words.head,
            ControlWord::ProducerWakeAt => &self.words.producer_wake_at,
            ControlWord::Tail => &self.words.tail,
            ControlWord::ConsumerWakeAt => &self.words.consumer_wake_at,
        }
    }
}

impl RingMemory for LoomRing {
    fn load(&self, word: ControlWord, order: Ordering) -> u32 {
        self.word(word).load(order)
    }

    fn store(&self, word: ControlWord, value: u32, order: Ordering) {
        let order = if self.defect == Defect::RelaxedPublish {
            Ordering::Relaxed
        } else {
            order
        };
        self.word(word).store(value, order)
    }

    fn read_descriptor(&self, slot: u32) -> RawDescriptor {
        let s = &self.words.descriptors[(slot & self.mask) as usize];
        RawDescriptor {
            offset: s[0].load(Ordering::Relaxed),
            len: s[1].load(Ordering::Relaxed),
            cookie: s[2].load(Ordering::Relaxed),
            flags: s[3].load(Ordering::Relaxed),
        }
    }

    fn write_descriptor(&self, slot: u32, d: RawDescriptor) {
        let s = &self.words.descriptors[(slot & self.mask) as usize];
        s[0].store(d.offset, Ordering::Relaxed);
        s[1].store(d.len, Ordering::Relaxed);
        s[2].store(d.cookie, Ordering::Relaxed);
        s[3].store(d.flags, Ordering::Relaxed);
    }

    fn fence_seq_cst(&self) {
        if self.defect != Defect::NoFence {
            fence(Ordering::SeqCst)
        }
    }
}

fn pool() -> PoolGeometry {
    PoolGeometry::new(64, 8, 8).unwrap()
}

/// Item `i` as a buffer: slot `i`, length `i + 1`, cookie `100 + i`.
fn item(i: u32) -> ward_ring::Buffer {
    pool().buffer(i, 0, i + 1).unwrap().with_cookie(100 + i)
}

fn check_item(b: ward_ring::Buffer, i: u32) {
    assert_eq!(
        (b.slot(), b.len(), b.cookie()),
        (i, i + 1, 100 + i),
        "stale or torn descriptor for item {i}"
    );
}

/// Producer and consumer on two threads, both sleeping whenever the protocol
/// allows, with `items` items through a ring of `capacity`.
fn sleeping_pair(capacity: u32, items: u32, defect: Defect) {
    let ring = LoomRing::new(capacity, defect);
    let wake_consumer = Arc::new(LoomNotify::new());
    let wake_producer = Arc::new(LoomNotify::new());

    let producer = {
        let ring = ring.clone();
        let wake_consumer = wake_consumer.clone();
        let wake_producer = wake_producer.clone();
        loom::thread::spawn(move || {
            let mut tx = Producer::new(ring, capacity, SignalPolicy::BOTH);
            let mut i = 0;
            while i < items {
                match tx.push(item(i)) {
                    Ok(()) => {
                        i += 1;
                        if tx.publish().should_signal() {
                            wake_consumer.notify();
                        }
                    }
                    Err(PushError::Full(_)) => {
                        if tx.prepare_wait(1).unwrap() == WaitDecision::Sleep {
                            wake_producer.wait();
                        }
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
        })
    };

    let mut rx = Consumer::new(ring, capacity, pool(), SignalPolicy::BOTH);
    let mut next = 0;
    while next < items {
        match rx.pop().unwrap() {
            Some(b) => {
                check_item(b, next);
                next += 1;
                if rx.release().should_signal() {
                    wake_producer.notify();
                }
            }
            None => {
                if rx.prepare_wait(1).unwrap() == WaitDecision::Sleep {
                    wake_consumer.wait();
                }
            }
        }
    }
    producer.join().unwrap();
}

/// Only the consumer sleeps, on a doorbell that cannot block: when it has
/// decided to sleep and the producer has finished without ringing, the
/// wake-up was lost, and the model panics (instead of deadlocking, which
/// loom reports by aborting the whole test process). The doorbell is a
/// count of signals written only by the producer; the consumer remembers how
/// many it has seen (loom mis-models a read-modify-write flag here).
fn consumer_sleeps_on_doorbell(defect: Defect, wake_after: u32) {
    use loom::sync::atomic::AtomicBool;
    const ITEMS: u32 = 3;
    let ring = LoomRing::new(4, defect);
    let signals = Arc::new(AtomicU32::new(0));
    let producer_done = Arc::new(AtomicBool::new(false));
    let producer = {
        let ring = ring.clone();
        let signals = signals.clone();
        let producer_done = producer_done.clone();
        loom::thread::spawn(move || {
            let mut tx = Producer::new(ring, 4, SignalPolicy::CONSUMER_ONLY);
            let mut sent = 0;
            for i in 0..ITEMS {
                tx.push(item(i)).unwrap();
                if tx.publish().should_signal() {
                    sent += 1;
                    signals.store(sent, Ordering::Release);
                }
            }
            producer_done.store(true, Ordering::Release);
        })
    };
    let mut rx = Consumer::new(ring, 4, pool(), SignalPolicy::CONSUMER_ONLY);
    let mut next = 0;
    let mut seen = 0;
    while next < ITEMS {
        if let Some(b) = rx.pop().unwrap() {
            check_item(b, next);
            next += 1;
            continue;
        }
        // Coalescing: wait for `wake_after` items, or for the rest if fewer remain.
        let wanted = wake_after.min(ITEMS - next);
        if rx.prepare_wait(wanted).unwrap() == WaitDecision::Sleep {
            loop {
                let now = signals.load(Ordering::Acquire);
                if now != seen {
                    seen = now;
                    break;
                }
                if producer_done.load(Ordering::Acquire) && signals.load(Ordering::Acquire) == seen
                {
                    panic!("lost wake-up: asleep with items pending and no signal coming");
                }
                loom::thread::yield_now();
            }
        }
    }
    producer.join().unwrap();
}

/// A polling consumer reading a batch published at once.
fn publication(defect: Defect) {
    let ring = LoomRing::new(4, defect);
    let producer = {
        let ring = ring.clone();
        loom::thread::spawn(move || {
            let mut tx = Producer::new(ring, 4, SignalPolicy::POLLED);
            tx.push(item(0)).unwrap();
            tx.push(item(1)).unwrap();
            let _ = tx.publish();
        })
    };
    let mut rx = Consumer::new(ring, 4, pool(), SignalPolicy::POLLED);
    let mut seen = 0;
    // Bounded: loom explores each possible observation of the head.
    for _ in 0..3 {
        while let Some(b) = rx.pop().unwrap() {
            check_item(b, seen);
            seen += 1;
        }
        loom::thread::yield_now();
    }
    producer.join().unwrap();
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

#[test]
#[ignore = "loom model check: run by `make test-protocols`"]
fn publication_makes_descriptors_visible() {
    model(|| publication(Defect::None));
}

#[test]
#[ignore = "loom model check: run by `make test-protocols`"]
fn no_lost_wakeup_consumer_side() {
    // Capacity larger than the item count: only the consumer ever sleeps.
    model(|| sleeping_pair(4, 2, Defect::None));
}

#[test]
#[ignore = "loom model check: run by `make test-protocols`"]
fn no_lost_wakeup_both_sides() {
    // Capacity 2 with 3 items: the producer fills the ring and sleeps too.
    model(|| sleeping_pair(2, 3, Defect::None));
}

#[test]
#[ignore = "loom model check: run by `make test-protocols`"]
#[should_panic]
fn mutant_without_fence_loses_a_wakeup() {
    model(|| consumer_sleeps_on_doorbell(Defect::NoFence, 1));
}

#[test]
#[ignore = "loom model check: run by `make test-protocols`"]
fn no_lost_wakeup_on_doorbell() {
    model(|| consumer_sleeps_on_doorbell(Defect::None, 1));
}

#[test]
#[ignore = "loom model check: run by `make test-protocols`"]
fn no_lost_wakeup_when_coalescing() {
    // The consumer asks to be woken only once two items are there.
    model(|| consumer_sleeps_on_doorbell(Defect::None, 2));
}

#[test]
#[ignore = "loom model check: run by `make test-protocols`"]
#[should_panic]
fn mutant_with_relaxed_publication_reads_stale_descriptors() {
    model(|| publication(Defect::RelaxedPublish));
}
