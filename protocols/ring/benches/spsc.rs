//! SPSC throughput and round-trip latency between two host threads: this
//! ring at several batch sizes against rtrb, crossbeam's ArrayQueue and
//! ringbuf, all carrying the same 16-byte descriptor; plus signals per 1,000
//! items with suppression under a steady and a bursty producer (printed, not
//! timed); plus a paired pass that runs each ward configuration back to back
//! with its baseline and prints the ratios (see [`paired`]).
//!
//! Figures are printed; nothing here asserts on time. Run with
//! `make bench-protocols` (or `cargo bench -p ward-ring --bench spsc`).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringbuf::traits::{Consumer as _, Producer as _, Split as _};

use ward_ring::{
    Buffer, Consumer, PoolGeometry, Producer, PushError, RawDescriptor, RegionMapping, RingId,
    RingPairParams, SharedRing, SignalPolicy, WaitDecision,
};

/// Entries per ring, the same for every implementation.
const CAPACITY: u32 = 1024;
/// Items moved per criterion iteration of the throughput benchmarks.
const ITEMS_PER_ITER: u64 = 4096;
/// Batch sizes from the issue.
const BATCHES: [usize; 4] = [1, 8, 32, 256];
/// The largest of [`BATCHES`]: room the consumer keeps for one batch.
const MAX_BATCH: usize = 256;

/// Spins this many times on a full or empty queue before yielding the core.
/// The machine is shared, so a thread whose peer is descheduled must give
/// the core back rather than spin out its time slice; every implementation
/// uses the same back-off, so the comparison stays fair.
const SPINS_BEFORE_YIELD: u32 = 512;

/// Spin-then-yield waiting, shared by every implementation.
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    #[inline]
    fn reset(&mut self) {
        self.0 = 0;
    }

    #[inline]
    fn snooze(&mut self) {
        self.0 += 1;
        if self.0 < SPINS_BEFORE_YIELD {
            std::hint::spin_loop();
        } else {
            self.0 = 0;
            std::thread::yield_now();
        }
    }
}

/// Keeps one thread's private state on 128-byte lines of its own. The
/// consumer's end is moved into its thread's closure, which the main thread
/// allocates next to whatever it allocated last; without the padding that
/// can be a line the producer reads on every item (its batch of buffers),
/// and the benchmark then measures false sharing instead of the queue. Every
/// implementation gets the same treatment.
#[repr(align(128))]
struct OwnLines<T>(T);

fn params() -> RingPairParams {
    RingPairParams::new(CAPACITY, POOL).unwrap()
}

/// A region that lives for the rest of the process, set up afresh per use.
fn leaked_region() -> RegionMapping<'static> {
    let words = params().region_words() + ward_ring::REGION_ALIGN / 4;
    let storage: &'static [AtomicU32] = Box::leak(
        (0..words)
            .map(|_| AtomicU32::new(0))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let skip = storage.as_ptr().align_offset(ward_ring::REGION_ALIGN);
    RegionMapping::from_words(&storage[skip..]).unwrap()
}

fn ward_ends(
    region: RegionMapping<'static>,
    ring: RingId,
    policy: SignalPolicy,
) -> (Producer<SharedRing<'static>>, Consumer<SharedRing<'static>>) {
    let p = params();
    let r = region.ring(&p, ring).unwrap();
    (
        Producer::new(r, CAPACITY, policy),
        Consumer::new(r, CAPACITY, p.pool(), policy),
    )
}

fn item(i: u64) -> Buffer {
    params()
        .pool()
        .buffer((i % 4096) as u32, 0, 64)
        .unwrap()
        .with_cookie(i as u32)
}

fn descriptor(i: u64) -> RawDescriptor {
    item(i).descriptor()
}

/// Moves `total` items through this ring; the producer publishes every
/// `batch` items, the consumer takes up to `batch` items per head read and
/// releases them with one store. `policy` says who may sleep, and so who pays
/// for the signal decision.
fn ward_throughput(
    region: RegionMapping<'static>,
    total: u64,
    batch: usize,
    policy: SignalPolicy,
) -> Duration {
    region.initialise(&params(), 1).unwrap();
    let (mut tx, rx) = ward_ends(region, RingId::Lend, policy);
    let items: Vec<Buffer> = (0..batch as u64).map(item).collect();
    let rx = OwnLines(rx);
    let consumer = std::thread::spawn(move || {
        let mut rx = rx;
        let rx = &mut rx.0;
        let mut out_storage = [item(0); MAX_BATCH];
        let out = &mut out_storage[..batch];
        let mut got = 0u64;
        let mut backoff = Backoff::default();
        while got < total {
            // One at a time at batch 1, as a consumer that wants items one
            // by one would take them; a batch at a time otherwise.
            let n = if batch == 1 {
                match rx.pop().unwrap() {
                    Some(b) => {
                        black_box(b.cookie());
                        1
                    }
                    None => 0,
                }
            } else {
                let n = rx.pop_into(out).unwrap();
                for b in &out[..n] {
                    black_box(b.cookie());
                }
                n
            };
            if n == 0 {
                backoff.snooze();
                continue;
            }
            backoff.reset();
            got += n as u64;
            let _ = black_box(rx.release());
        }
    });
    let start = Instant::now();
    let mut sent = 0u64;
    let mut backoff = Backoff::default();
    if batch == 1 {
        let item = items[0];
        while sent < total {
            match tx.push(item) {
                Ok(()) => {
                    backoff.reset();
                    sent += 1;
                    let _ = black_box(tx.publish());
                }
                Err(PushError::Full(_)) => backoff.snooze(),
                Err(e) => panic!("{e:?}"),
            }
        }
    } else {
        while sent < total {
            let want = batch.min((total - sent) as usize);
            let n = tx.push_slice(&items[..want]).unwrap();
            if n == 0 {
                backoff.snooze();
                continue;
            }
            backoff.reset();
            sent += n as u64;
            let _ = black_box(tx.publish());
        }
    }
    consumer.join().unwrap();
    start.elapsed()
}

/// The single-item interface of the queues compared against.
trait Queue {
    type Tx: Send + 'static;
    type Rx: Send + 'static;
    fn make(capacity: usize) -> (Self::Tx, Self::Rx);
    fn push(tx: &mut Self::Tx, d: RawDescriptor) -> bool;
    fn pop(rx: &mut Self::Rx) -> Option<RawDescriptor>;
}

struct Rtrb;

impl Queue for Rtrb {
    type Tx = rtrb::Producer<RawDescriptor>;
    type Rx = rtrb::Consumer<RawDescriptor>;
    fn make(capacity: usize) -> (Self::Tx, Self::Rx) {
        rtrb::RingBuffer::new(capacity)
    }
    #[inline]
    fn push(tx: &mut Self::Tx, d: RawDescriptor) -> bool {
        tx.push(d).is_ok()
    }
    #[inline]
    fn pop(rx: &mut Self::Rx) -> Option<RawDescriptor> {
        rx.pop().ok()
    }
}

/// One shared word on its own 128-byte line, as ward keeps its control words.
#[repr(align(128))]
#[derive(Default)]
struct ControlLine(AtomicU32);

/// The pool every descriptor in these benchmarks names a buffer of.
const POOL: PoolGeometry = match PoolGeometry::new(2048, 4096, 64) {
    Ok(pool) => pool,
    Err(_) => panic!("bad benchmark pool"),
};

/// A queue plus the check ward's consumer makes on every descriptor
/// ([`PoolGeometry::validate`]), so that the cost of the ring itself is
/// compared like for like. rtrb trusts its peer; ward may not.
struct Validated<Q>(std::marker::PhantomData<Q>);

impl<Q: Queue> Queue for Validated<Q> {
    type Tx = Q::Tx;
    type Rx = Q::Rx;
    fn make(capacity: usize) -> (Self::Tx, Self::Rx) {
        Q::make(capacity)
    }
    #[inline]
    fn push(tx: &mut Self::Tx, d: RawDescriptor) -> bool {
        Q::push(tx, d)
    }
    #[inline]
    fn pop(rx: &mut Self::Rx) -> Option<RawDescriptor> {
        let d = Q::pop(rx)?;
        Some(
            POOL.validate(d)
                .expect("the benchmark sends valid descriptors")
                .descriptor(),
        )
    }
}

/// A queue plus the wake-up check ward makes when both sides may sleep:
/// after each push a full fence and a load of the consumer's wake-up request,
/// after each pop the same for the producer's. Nobody sleeps during a
/// throughput run (ward's ends do not either); this prices the check itself.
struct WithWakeups<Q>(std::marker::PhantomData<Q>);

/// The two wake-up request words of [`WithWakeups`]: consumer's, producer's.
type WakeRequests = Arc<[ControlLine; 2]>;

impl<Q: Queue> Queue for WithWakeups<Q> {
    type Tx = (Q::Tx, WakeRequests);
    type Rx = (Q::Rx, WakeRequests);
    fn make(capacity: usize) -> (Self::Tx, Self::Rx) {
        let (tx, rx) = Q::make(capacity);
        let requests: WakeRequests = Arc::default();
        ((tx, requests.clone()), (rx, requests))
    }
    #[inline]
    fn push(tx: &mut Self::Tx, d: RawDescriptor) -> bool {
        if !Q::push(&mut tx.0, d) {
            return false;
        }
        std::sync::atomic::fence(Ordering::SeqCst);
        black_box(tx.1[0].0.load(Ordering::Relaxed));
        true
    }
    #[inline]
    fn pop(rx: &mut Self::Rx) -> Option<RawDescriptor> {
        let d = Q::pop(&mut rx.0)?;
        std::sync::atomic::fence(Ordering::SeqCst);
        black_box(rx.1[1].0.load(Ordering::Relaxed));
        Some(d)
    }
}

struct Crossbeam;

impl Queue for Crossbeam {
    type Tx = Arc<crossbeam_queue::ArrayQueue<RawDescriptor>>;
    type Rx = Arc<crossbeam_queue::ArrayQueue<RawDescriptor>>;
    fn make(capacity: usize) -> (Self::Tx, Self::Rx) {
        let q = Arc::new(crossbeam_queue::ArrayQueue::new(capacity));
        (q.clone(), q)
    }
    #[inline]
    fn push(tx: &mut Self::Tx, d: RawDescriptor) -> bool {
        tx.push(d).is_ok()
    }
    #[inline]
    fn pop(rx: &mut Self::Rx) -> Option<RawDescriptor> {
        rx.pop()
    }
}

struct Ringbuf;

impl Queue for Ringbuf {
    type Tx = ringbuf::HeapProd<RawDescriptor>;
    type Rx = ringbuf::HeapCons<RawDescriptor>;
    fn make(capacity: usize) -> (Self::Tx, Self::Rx) {
        ringbuf::HeapRb::new(capacity).split()
    }
    #[inline]
    fn push(tx: &mut Self::Tx, d: RawDescriptor) -> bool {
        tx.try_push(d).is_ok()
    }
    #[inline]
    fn pop(rx: &mut Self::Rx) -> Option<RawDescriptor> {
        rx.try_pop()
    }
}

fn queue_throughput<Q: Queue>(total: u64) -> Duration {
    let (mut tx, rx) = Q::make(CAPACITY as usize);
    let rx = OwnLines(rx);
    let consumer = std::thread::spawn(move || {
        let mut rx = rx;
        let rx = &mut rx.0;
        let mut got = 0u64;
        let mut backoff = Backoff::default();
        while got < total {
            match Q::pop(rx) {
                Some(d) => {
                    black_box(d.cookie);
                    got += 1;
                    backoff.reset();
                }
                None => backoff.snooze(),
            }
        }
    });
    let start = Instant::now();
    let d = descriptor(0);
    let mut sent = 0u64;
    let mut backoff = Backoff::default();
    while sent < total {
        if Q::push(&mut tx, d) {
            sent += 1;
            backoff.reset();
        } else {
            backoff.snooze();
        }
    }
    consumer.join().unwrap();
    start.elapsed()
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("spsc_throughput");
    group.throughput(Throughput::Elements(ITEMS_PER_ITER));
    let region = leaked_region();
    for batch in BATCHES {
        group.bench_with_input(BenchmarkId::new("ward", batch), &batch, |b, &batch| {
            b.iter_custom(|iters| {
                ward_throughput(region, iters * ITEMS_PER_ITER, batch, SignalPolicy::BOTH)
            })
        });
    }
    for batch in [1, 32] {
        group.bench_with_input(
            BenchmarkId::new("ward_consumer_sleeps", batch),
            &batch,
            |b, &batch| {
                b.iter_custom(|iters| {
                    ward_throughput(
                        region,
                        iters * ITEMS_PER_ITER,
                        batch,
                        SignalPolicy::CONSUMER_ONLY,
                    )
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("ward_polled", batch),
            &batch,
            |b, &batch| {
                b.iter_custom(|iters| {
                    ward_throughput(region, iters * ITEMS_PER_ITER, batch, SignalPolicy::POLLED)
                })
            },
        );
    }
    group.bench_function("rtrb", |b| {
        b.iter_custom(|iters| queue_throughput::<Rtrb>(iters * ITEMS_PER_ITER))
    });
    group.bench_function("rtrb_validated", |b| {
        b.iter_custom(|iters| queue_throughput::<Validated<Rtrb>>(iters * ITEMS_PER_ITER))
    });
    group.bench_function("rtrb_validated_wakeups", |b| {
        b.iter_custom(|iters| {
            queue_throughput::<WithWakeups<Validated<Rtrb>>>(iters * ITEMS_PER_ITER)
        })
    });
    group.bench_function("crossbeam_array_queue", |b| {
        b.iter_custom(|iters| queue_throughput::<Crossbeam>(iters * ITEMS_PER_ITER))
    });
    group.bench_function("ringbuf", |b| {
        b.iter_custom(|iters| queue_throughput::<Ringbuf>(iters * ITEMS_PER_ITER))
    });
    group.finish();
}

/// Round trips: thread A sends one item, thread B sends it back.
fn ward_round_trips(region: RegionMapping<'static>, trips: u64) -> Duration {
    region.initialise(&params(), 1).unwrap();
    let (mut ping_tx, ping_rx) = ward_ends(region, RingId::Lend, SignalPolicy::BOTH);
    let (pong_tx, mut pong_rx) = ward_ends(region, RingId::Return, SignalPolicy::BOTH);
    let echo_ends = OwnLines((ping_rx, pong_tx));
    let echo = std::thread::spawn(move || {
        let mut echo_ends = echo_ends;
        let (ping_rx, pong_tx) = &mut echo_ends.0;
        let mut backoff = Backoff::default();
        for _ in 0..trips {
            let b = loop {
                if let Some(b) = ping_rx.pop().unwrap() {
                    break b;
                }
                backoff.snooze();
            };
            backoff.reset();
            let _ = ping_rx.release();
            pong_tx.push(b).unwrap();
            let _ = pong_tx.publish();
        }
    });
    let start = Instant::now();
    let mut backoff = Backoff::default();
    for i in 0..trips {
        ping_tx.push(item(i)).unwrap();
        let _ = ping_tx.publish();
        loop {
            if let Some(b) = pong_rx.pop().unwrap() {
                black_box(b);
                break;
            }
            backoff.snooze();
        }
        backoff.reset();
        let _ = pong_rx.release();
    }
    echo.join().unwrap();
    start.elapsed()
}

fn queue_round_trips<Q: Queue>(trips: u64) -> Duration {
    let (mut ping_tx, ping_rx) = Q::make(CAPACITY as usize);
    let (pong_tx, mut pong_rx) = Q::make(CAPACITY as usize);
    let echo_ends = OwnLines((ping_rx, pong_tx));
    let echo = std::thread::spawn(move || {
        let mut echo_ends = echo_ends;
        let (ping_rx, pong_tx) = &mut echo_ends.0;
        let mut backoff = Backoff::default();
        for _ in 0..trips {
            let d = loop {
                if let Some(d) = Q::pop(ping_rx) {
                    break d;
                }
                backoff.snooze();
            };
            backoff.reset();
            assert!(Q::push(pong_tx, d));
        }
    });
    let start = Instant::now();
    let mut backoff = Backoff::default();
    for i in 0..trips {
        assert!(Q::push(&mut ping_tx, descriptor(i)));
        loop {
            if let Some(d) = Q::pop(&mut pong_rx) {
                black_box(d);
                break;
            }
            backoff.snooze();
        }
        backoff.reset();
    }
    echo.join().unwrap();
    start.elapsed()
}

/// Items pushed and popped per iteration of the single-thread benchmark.
const SINGLE_THREAD_BURST: u64 = 64;

/// Instruction cost alone, without cross-core traffic: one thread pushes a
/// burst and pops it back.
fn single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("single_thread_push_pop");
    group.throughput(Throughput::Elements(SINGLE_THREAD_BURST));
    let region = leaked_region();
    for (name, policy) in [
        ("ward", SignalPolicy::BOTH),
        ("ward_polled", SignalPolicy::POLLED),
    ] {
        region.initialise(&params(), 1).unwrap();
        let (mut tx, mut rx) = ward_ends(region, RingId::Lend, policy);
        let item = item(1);
        group.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..SINGLE_THREAD_BURST {
                    tx.push(black_box(item)).unwrap();
                    let _ = black_box(tx.publish());
                }
                for _ in 0..SINGLE_THREAD_BURST {
                    if let Some(b) = rx.pop().unwrap() {
                        black_box(b.cookie());
                    }
                    let _ = black_box(rx.release());
                }
            })
        });
    }
    {
        region.initialise(&params(), 1).unwrap();
        let (mut tx, mut rx) = ward_ends(region, RingId::Lend, SignalPolicy::BOTH);
        let items = [item(1); 32];
        let mut out = [item(0); 32];
        group.bench_function("ward_batch_32", |b| {
            b.iter(|| {
                for _ in 0..SINGLE_THREAD_BURST / 32 {
                    assert_eq!(tx.push_slice(black_box(&items)).unwrap(), 32);
                    let _ = black_box(tx.publish());
                }
                for _ in 0..SINGLE_THREAD_BURST / 32 {
                    let n = rx.pop_into(&mut out).unwrap();
                    for b in &out[..n] {
                        black_box(b.cookie());
                    }
                    let _ = black_box(rx.release());
                }
            })
        });
    }
    fn queue<Q: Queue>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
    ) {
        let (mut tx, mut rx) = Q::make(CAPACITY as usize);
        let d = descriptor(1);
        group.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..SINGLE_THREAD_BURST {
                    assert!(Q::push(&mut tx, black_box(d)));
                }
                for _ in 0..SINGLE_THREAD_BURST {
                    if let Some(d) = Q::pop(&mut rx) {
                        black_box(d.cookie);
                    }
                }
            })
        });
    }
    queue::<Rtrb>(&mut group, "rtrb");
    queue::<Crossbeam>(&mut group, "crossbeam_array_queue");
    queue::<Ringbuf>(&mut group, "ringbuf");
    group.finish();
}

/// Round trips per criterion iteration.
const TRIPS_PER_ITER: u64 = 256;

fn latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("round_trip");
    group.throughput(Throughput::Elements(TRIPS_PER_ITER));
    let region = leaked_region();
    group.bench_function("ward", |b| {
        b.iter_custom(|iters| ward_round_trips(region, iters * TRIPS_PER_ITER))
    });
    group.bench_function("rtrb", |b| {
        b.iter_custom(|iters| queue_round_trips::<Rtrb>(iters * TRIPS_PER_ITER))
    });
    group.bench_function("crossbeam_array_queue", |b| {
        b.iter_custom(|iters| queue_round_trips::<Crossbeam>(iters * TRIPS_PER_ITER))
    });
    group.bench_function("ringbuf", |b| {
        b.iter_custom(|iters| queue_round_trips::<Ringbuf>(iters * TRIPS_PER_ITER))
    });
    group.finish();
}

/// A notification object stand-in: a sticky flag plus thread park/unpark.
struct Doorbell {
    rung: AtomicBool,
    sleeper: std::sync::Mutex<Option<std::thread::Thread>>,
}

impl Doorbell {
    fn new() -> Self {
        Self {
            rung: AtomicBool::new(false),
            sleeper: std::sync::Mutex::new(None),
        }
    }

    fn ring(&self) {
        self.rung.store(true, Ordering::Release);
        if let Some(t) = self.sleeper.lock().unwrap().as_ref() {
            t.unpark();
        }
    }

    fn wait(&self) {
        *self.sleeper.lock().unwrap() = Some(std::thread::current());
        while !self.rung.swap(false, Ordering::Acquire) {
            std::thread::park_timeout(Duration::from_millis(10));
        }
    }
}

/// One signal-counting scenario: how the producer spaces its items, and how
/// many items the consumer waits for before it wants a signal.
struct Pace {
    name: &'static str,
    burst: u32,
    pause: Duration,
    /// Publish after every item (true) or once per burst (false).
    publish_each: bool,
    wake_after: u32,
}

const PACES: [Pace; 5] = [
    Pace {
        name: "steady, 1 item / 20 us",
        burst: 1,
        pause: Duration::from_micros(20),
        publish_each: true,
        wake_after: 1,
    },
    Pace {
        name: "steady, 1 item / 2 us",
        burst: 1,
        pause: Duration::from_micros(2),
        publish_each: true,
        wake_after: 1,
    },
    Pace {
        name: "bursty, 64 items / 500 us, publish per item",
        burst: 64,
        pause: Duration::from_micros(500),
        publish_each: true,
        wake_after: 1,
    },
    Pace {
        name: "bursty, 64 items / 500 us, publish per burst",
        burst: 64,
        pause: Duration::from_micros(500),
        publish_each: false,
        wake_after: 1,
    },
    Pace {
        name: "bursty, publish per item, consumer waits for 16",
        burst: 64,
        pause: Duration::from_micros(500),
        publish_each: true,
        wake_after: 16,
    },
];

/// Moves `total` items with a consumer that sleeps
/// whenever the ring holds fewer than `wake_after` items; counts the
/// producer's signals and the consumer's sleeps.
fn count_signals(pace: &Pace, total: u32) -> (u32, u32) {
    let region = leaked_region();
    region.initialise(&params(), 1).unwrap();
    let (mut tx, rx) = ward_ends(region, RingId::Lend, SignalPolicy::CONSUMER_ONLY);
    let rx = OwnLines(rx);
    let doorbell = Arc::new(Doorbell::new());
    let wake_after = pace.wake_after;
    let consumer = {
        let doorbell = doorbell.clone();
        std::thread::spawn(move || {
            let mut rx = rx;
            let rx = &mut rx.0;
            let mut got = 0;
            let mut sleeps = 0;
            let mut out = [item(0); 64];
            while got < total {
                let n = rx.pop_into(&mut out).unwrap();
                got += n as u32;
                let _ = rx.release();
                // Near the end, fewer than `wake_after` items may remain.
                let want = wake_after.min(total - got).max(1);
                if n == 0 && rx.prepare_wait(want).unwrap() == WaitDecision::Sleep {
                    sleeps += 1;
                    doorbell.wait();
                }
            }
            sleeps
        })
    };
    let mut signals = 0;
    let mut sent = 0;
    while sent < total {
        for _ in 0..pace.burst {
            while tx.push(item(sent as u64)).is_err() {
                std::thread::yield_now();
            }
            sent += 1;
            if pace.publish_each && tx.publish().should_signal() {
                signals += 1;
                doorbell.ring();
            }
        }
        if !pace.publish_each && tx.publish().should_signal() {
            signals += 1;
            doorbell.ring();
        }
        let until = Instant::now() + pace.pause;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }
    let sleeps = consumer.join().unwrap();
    (signals, sleeps)
}

fn signals(_c: &mut Criterion) {
    const TOTAL: u32 = 20_000;
    println!("signals per 1000 items (without suppression: one per publish)");
    for pace in &PACES {
        let (signals, sleeps) = count_signals(pace, TOTAL);
        println!(
            "signals/{}: {:.1} per 1000 items ({signals} signals, {sleeps} consumer sleeps, {TOTAL} items)",
            pace.name,
            signals as f64 * 1000.0 / TOTAL as f64
        );
    }
}

/// Pairs of runs per comparison in the paired pass.
const PAIRS: usize = 41;
/// Items per run in the paired pass: long enough that spawning the consumer
/// thread costs under 1%, short enough that both runs of a pair see the same
/// machine.
const PAIRED_ITEMS: u64 = 200_000;
/// Round trips per run in the paired pass.
const PAIRED_TRIPS: u64 = 20_000;

/// One line of the paired pass: a candidate against a baseline.
struct Comparison {
    name: &'static str,
    baseline: &'static str,
    /// Items (or round trips) each run moves.
    work: u64,
    candidate: Box<dyn Fn() -> Duration>,
    base: Box<dyn Fn() -> Duration>,
}

/// The median and quartiles of `values`.
fn quartiles(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}

/// The median ratio of the pairs whose baseline ran slower than the
/// baseline's median, and that of the pairs whose baseline ran faster.
fn ratio_by_baseline_half(ratios: &[f64], base_rates: &[f64]) -> (f64, f64) {
    let mut pairs: Vec<(f64, f64)> = base_rates
        .iter()
        .copied()
        .zip(ratios.iter().copied())
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (slower, faster) = pairs.split_at(pairs.len() / 2);
    let median = |half: &[(f64, f64)]| quartiles(half.iter().map(|p| p.1).collect()).0;
    (median(slower), median(faster))
}

/// Throughput ratios measured in pairs. On a shared two-core virtual
/// machine the cost of moving a cache line between the cores changes from
/// minute to minute (the host moves the virtual CPUs), so criterion's
/// figures, taken one benchmark after another, can compare two different
/// machines. Here each pair runs the candidate and the baseline back to back
/// (alternating which goes first), and the ratio of the two is kept; the
/// median and quartiles of those ratios are printed as a Markdown table.
/// rtrb against itself shows how wide the spread of identical code is.
///
/// The machine has two states that give very different figures: the two
/// threads really run at once, on two cores that hand cache lines to each
/// other; or the host runs both virtual CPUs on one core by turns, and the
/// threads effectively take turns too (then the figures follow the
/// single-thread cost per item). The last two columns split the pairs by how
/// fast the baseline ran, slower half and faster half, which separates the
/// two states when a run saw both.
fn paired(_c: &mut Criterion) {
    let region = leaked_region();
    let ward = move |batch: usize, policy: SignalPolicy| -> Box<dyn Fn() -> Duration> {
        Box::new(move || ward_throughput(region, PAIRED_ITEMS, batch, policy))
    };
    let rtrb =
        || -> Box<dyn Fn() -> Duration> { Box::new(|| queue_throughput::<Rtrb>(PAIRED_ITEMS)) };
    let validated_rtrb = || -> Box<dyn Fn() -> Duration> {
        Box::new(|| queue_throughput::<Validated<Rtrb>>(PAIRED_ITEMS))
    };
    let comparisons = [
        Comparison {
            name: "rtrb (control: identical code)",
            work: PAIRED_ITEMS,
            baseline: "rtrb",
            candidate: rtrb(),
            base: rtrb(),
        },
        Comparison {
            name: "ward polled, batch 1",
            work: PAIRED_ITEMS,
            baseline: "rtrb",
            candidate: ward(1, SignalPolicy::POLLED),
            base: rtrb(),
        },
        Comparison {
            name: "ward polled, batch 1",
            work: PAIRED_ITEMS,
            baseline: "rtrb + the same validation",
            candidate: ward(1, SignalPolicy::POLLED),
            base: validated_rtrb(),
        },
        Comparison {
            name: "ward with wake-ups, batch 1",
            work: PAIRED_ITEMS,
            baseline: "rtrb",
            candidate: ward(1, SignalPolicy::BOTH),
            base: rtrb(),
        },
        Comparison {
            name: "ward with wake-ups, batch 1",
            work: PAIRED_ITEMS,
            baseline: "rtrb + the same validation and wake-up check",
            candidate: ward(1, SignalPolicy::BOTH),
            base: Box::new(|| queue_throughput::<WithWakeups<Validated<Rtrb>>>(PAIRED_ITEMS)),
        },
        Comparison {
            name: "ward polled, batch 32",
            work: PAIRED_ITEMS,
            baseline: "rtrb",
            candidate: ward(32, SignalPolicy::POLLED),
            base: rtrb(),
        },
        Comparison {
            name: "ward with wake-ups, batch 32",
            work: PAIRED_ITEMS,
            baseline: "rtrb",
            candidate: ward(32, SignalPolicy::BOTH),
            base: rtrb(),
        },
        Comparison {
            name: "ward round trip",
            work: PAIRED_TRIPS,
            baseline: "rtrb round trip",
            candidate: Box::new(move || ward_round_trips(region, PAIRED_TRIPS)),
            base: Box::new(|| queue_round_trips::<Rtrb>(PAIRED_TRIPS)),
        },
    ];
    println!("\npaired throughput ratios ({PAIRS} pairs of back-to-back runs, {PAIRED_ITEMS} items or {PAIRED_TRIPS} round trips each)\n");
    println!(
        "| candidate | baseline | median ratio | quartiles | candidate (M/s) | baseline (M/s) | ratio, slower half | ratio, faster half |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    // Round-robin: every round runs one pair of every comparison, so that
    // all comparisons sample the same mix of machine states.
    let mut ratios = vec![Vec::with_capacity(PAIRS); comparisons.len()];
    let mut rates = vec![Vec::with_capacity(PAIRS); comparisons.len()];
    let mut base_rates = vec![Vec::with_capacity(PAIRS); comparisons.len()];
    for round in 0..PAIRS {
        for (i, comparison) in comparisons.iter().enumerate() {
            let (candidate, base) = if round % 2 == 0 {
                let candidate = (comparison.candidate)();
                (candidate, (comparison.base)())
            } else {
                let base = (comparison.base)();
                ((comparison.candidate)(), base)
            };
            let work = comparison.work;
            // Same work in both runs, so the ratio of throughputs is the
            // inverse ratio of times.
            ratios[i].push(base.as_secs_f64() / candidate.as_secs_f64());
            rates[i].push(work as f64 / candidate.as_secs_f64() / 1e6);
            base_rates[i].push(work as f64 / base.as_secs_f64() / 1e6);
        }
    }
    for (i, comparison) in comparisons.iter().enumerate() {
        let (median, low, high) = quartiles(ratios[i].clone());
        let (rate, _, _) = quartiles(rates[i].clone());
        let (base_rate, _, _) = quartiles(base_rates[i].clone());
        let (slower, faster) = ratio_by_baseline_half(&ratios[i], &base_rates[i]);
        println!(
            "| {} | {} | {median:.2}x | {low:.2}–{high:.2} | {rate:.1} | {base_rate:.1} | {slower:.2}x | {faster:.2}x |",
            comparison.name, comparison.baseline
        );
    }
}

fn config() -> Criterion {
    // Short runs: the whole suite should take a few minutes on two shared cores.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
}

criterion_group! { name = benches; config = config(); targets = signals, paired, single_thread, throughput, latency }
criterion_main!(benches);
