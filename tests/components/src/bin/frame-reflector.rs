//! `frame-reflector` (tests/systems/e1000-reflector.toml): the network
//! stack's stand-in for the e1000 driver's tests. It speaks the driver
//! protocol (`ward_proto::driver`) from the stack's side: it owns the packet
//! pools, lends every receive buffer and the control-message buffers, and
//! sends every frame it receives back out unchanged, through a transmit
//! buffer of its own. The host-side test peer (tests/e1000/peer.py) sends
//! frames through QEMU's network backend and checks that they come back.
//!
//! Frames of EtherType 0x88b5 that start with `WARDTEST` are commands from
//! the peer, answered with frames of the same kind:
//!
//! | command | what the reflector does |
//! |---|---|
//! | `ping` | answers `pong` (the peer waits for this before it starts) |
//! | `report` | answers with its own counts, the pools' accounting and every counter of the driver's page |
//! | `garbage N` | plays a hostile stack: pushes N rounds of bad descriptors into the lend rings (outside the pool, crossing a slot, a buffer the driver already holds, a receive buffer too short, frames with a bad length, unknown flags or a checksum offload) and answers with how many of each |
//! | `crash` | sends a frame whose cookie asks the fault-injection build of the driver to crash |
//! | `stray-dma` | sends a frame whose cookie asks it to point a descriptor outside its DMA windows |
//! | `crash-self` | panics: the supervisor restarts the reflector, as it would a crashed network stack, and the driver must resynchronise |
//!
//! When the driver restarts (its generation on the status page changes),
//! the reflector takes every buffer back, sets the three rings up afresh for
//! the new pairing and lends again, as the stack must (docs/protocols.md).
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/frame_reflector.rs"));
}

use core::fmt::Write;

use ward_proto::counters::CounterReader;
use ward_proto::driver::{
    DriverEvent, RxCompletion, RxPosting, TxCompletion, TxRequest, MAX_CONTROL_BYTES,
    MAX_FRAME_BYTES,
};
use ward_ring::{Buffer, PoolMemory, RawDescriptor, WaitDecision};
use ward_userlib::component::{self, StatusPage};
use ward_userlib::ring::{self, ChannelEnd};
use ward_userlib::{println, region};

ward_userlib::component!(main, caps);

/// EtherType of the test protocol: IEEE 802's first local experimental type.
const TEST_ETHERTYPE: [u8; 2] = [0x88, 0xb5];
/// What every test frame's payload starts with.
const MAGIC: &[u8] = b"WARDTEST";
/// Offset of the payload in an Ethernet frame.
const PAYLOAD: usize = 14;
/// Bytes of answer text per frame: a standard frame's payload with room for
/// the part header.
const ANSWER_CHUNK: usize = 1400;
/// The fault-injection build's cookies (drivers/e1000/src/faults.rs).
const CRASH_COOKIE: u32 = 0xfa17_c0de;
const STRAY_DMA_COOKIE: u32 = 0xfa17_d3a0;
/// A receive posting the driver must refuse: shorter than a full frame.
const SHORT_POSTING: u32 = 100;
/// Receive buffers kept back from the driver (the pool's last slots) for
/// `garbage`: one to lend too short, one to lend and then lend again.
const RESERVED_RX_SLOTS: u32 = 2;

/// What the reflector counted.
#[derive(Default)]
struct Counts {
    frames: u64,
    reflected: u64,
    dropped_no_tx_buffer: u64,
    rx_errors: u64,
    tx_sent: u64,
    tx_dropped: u64,
    commands: u64,
    protocol_errors: u64,
    reattached: u64,
    reclaimed_rx: u64,
    reclaimed_tx: u64,
}

struct Reflector {
    rx: ChannelEnd,
    tx: ChannelEnd,
    events: ChannelEnd,
    rx_pool: PoolMemory<'static>,
    tx_pool: PoolMemory<'static>,
    events_pool: PoolMemory<'static>,
    driver_generation: u32,
    mac: [u8; 6],
    counts: Counts,
}

fn main(generation: u64) {
    let status = StatusPage::mapped();
    let driver_generation = status.generation_of(caps::NET_RX.peer).unwrap_or(0);
    let mut reflector = Reflector::attach(generation, driver_generation);
    println!(
        "reflector: lent {} receive and {} event buffers to e1000 (generation {driver_generation}); reflecting",
        caps::NET_RX.pool_slots,
        caps::NET_EVENTS.pool_slots
    );
    loop {
        let mut work = reflector.serve_rx();
        work |= reflector.serve_tx();
        work |= reflector.serve_events();
        reflector.flush();
        let now = status.generation_of(caps::NET_RX.peer).unwrap_or(0);
        if now != reflector.driver_generation {
            reflector.reattach(generation, now);
            continue;
        }
        if work {
            continue;
        }
        let mut ready = false;
        for end in [&mut reflector.rx, &mut reflector.tx, &mut reflector.events] {
            ready |= !matches!(end.pair.prepare_wait_incoming(1), Ok(WaitDecision::Sleep));
        }
        if !ready {
            let _ = component::wait();
        }
    }
}

impl Reflector {
    /// Sets the three rings up for the pairing with driver generation
    /// `driver_generation` and lends every receive and event buffer.
    fn attach(generation: u64, driver_generation: u32) -> Reflector {
        let region_generation = ring::pair_generation(generation, u64::from(driver_generation));
        let rx = ring::attach_for(caps::NET_RX, region_generation).expect("set up the rx ring");
        let tx = ring::attach_for(caps::NET_TX, region_generation).expect("set up the tx ring");
        let events =
            ring::attach_for(caps::NET_EVENTS, region_generation).expect("set up the events ring");
        let mut reflector = Reflector {
            rx_pool: rx.pool.expect("the reflector maps the rx pool"),
            tx_pool: tx.pool.expect("the reflector maps the tx pool"),
            events_pool: events.pool.expect("the reflector maps the events pool"),
            rx,
            tx,
            events,
            driver_generation,
            mac: [0; 6],
            counts: Counts::default(),
        };
        reflector.lend_all();
        reflector
    }

    /// The driver restarted: every buffer is the reflector's again; set the
    /// rings up afresh for the new instance and lend again.
    fn reattach(&mut self, generation: u64, driver_generation: u32) {
        let rx_lent = caps::NET_RX.pool_slots - self.rx.pair.held().len();
        let tx_lent = caps::NET_TX.pool_slots - self.tx.pair.held().len();
        println!(
            "reflector: e1000 restarted (generation {} -> {driver_generation}); taking back {rx_lent} receive and {tx_lent} transmit buffers it held, setting the rings up again",
            self.driver_generation
        );
        let counts = core::mem::take(&mut self.counts);
        let mac = self.mac;
        *self = Reflector::attach(generation, driver_generation);
        self.counts = counts;
        self.mac = mac;
        self.counts.reattached += 1;
        self.counts.reclaimed_rx += u64::from(rx_lent);
        self.counts.reclaimed_tx += u64::from(tx_lent);
    }

    fn lend_all(&mut self) {
        let rx_geometry = self.rx_pool.geometry();
        for slot in 0..rx_geometry.slot_count() - RESERVED_RX_SLOTS {
            let buffer = rx_geometry
                .buffer(slot, 0, rx_geometry.slot_size())
                .unwrap();
            let _ = self.rx.pair.send(RxPosting::encode(buffer));
        }
        let events_geometry = self.events_pool.geometry();
        for slot in 0..events_geometry.slot_count() {
            let buffer = events_geometry
                .buffer(slot, 0, events_geometry.slot_size())
                .unwrap();
            let _ = self.events.pair.send(buffer);
        }
        self.flush();
    }

    fn flush(&mut self) {
        self.rx.flush();
        self.tx.flush();
        self.events.flush();
    }

    /// Received frames: reflect each, or run it as a command.
    fn serve_rx(&mut self) -> bool {
        let mut work = false;
        loop {
            let buffer = match self.rx.pair.receive() {
                Ok(Some(buffer)) => buffer,
                Ok(None) => break,
                Err(e) => {
                    self.counts.protocol_errors += 1;
                    println!("reflector: the driver broke the rx ring: {e:?}");
                    break;
                }
            };
            work = true;
            match RxCompletion::decode(buffer) {
                Ok(RxCompletion::Frame { buffer, .. }) => {
                    self.counts.frames += 1;
                    let mut frame = [0u8; MAX_FRAME_BYTES as usize];
                    let length = self.rx_pool.read(&buffer, &mut frame).unwrap_or(0);
                    let frame = &frame[..length];
                    if is_command(frame) {
                        self.counts.commands += 1;
                        self.command(frame);
                    } else {
                        self.reflect(frame);
                    }
                }
                Ok(RxCompletion::Error { .. }) => self.counts.rx_errors += 1,
                Err(_) => self.counts.protocol_errors += 1,
            }
            self.lend_rx(buffer);
        }
        work
    }

    /// Lends a receive buffer again, whole (unless it is a reserved one).
    fn lend_rx(&mut self, buffer: Buffer) {
        if buffer.slot() >= self.rx_pool.geometry().slot_count() - RESERVED_RX_SLOTS {
            return;
        }
        let whole = self.rx_pool.geometry().whole_slot(buffer);
        let _ = self.rx.pair.send(RxPosting::encode(whole));
    }

    /// Sends `frame` out through a free transmit buffer.
    fn reflect(&mut self, frame: &[u8]) {
        if self.send(frame, 0) {
            self.counts.reflected += 1;
        } else {
            self.counts.dropped_no_tx_buffer += 1;
        }
    }

    /// Sends `frame` with `cookie`; false if no transmit buffer is free.
    fn send(&mut self, frame: &[u8], cookie: u32) -> bool {
        let geometry = self.tx_pool.geometry();
        let Some(slot) = self.tx.pair.held().first() else {
            return false;
        };
        let buffer = geometry
            .buffer(slot, 0, frame.len() as u32)
            .expect("a frame fits a slot")
            .with_cookie(cookie);
        let _ = self.tx_pool.write(&buffer, frame);
        let request = TxRequest {
            buffer,
            offload_ip_checksum: false,
            offload_l4_checksum: false,
        };
        self.tx.pair.send(request.encode()).is_ok()
    }

    /// Transmit buffers coming back.
    fn serve_tx(&mut self) -> bool {
        let mut work = false;
        loop {
            match self.tx.pair.receive() {
                Ok(Some(buffer)) => {
                    work = true;
                    match TxCompletion::decode(buffer) {
                        Ok(TxCompletion { sent: true, .. }) => self.counts.tx_sent += 1,
                        Ok(_) => self.counts.tx_dropped += 1,
                        Err(_) => self.counts.protocol_errors += 1,
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.counts.protocol_errors += 1;
                    println!("reflector: the driver broke the tx ring: {e:?}");
                    break;
                }
            }
        }
        work
    }

    /// Control messages from the driver.
    fn serve_events(&mut self) -> bool {
        let mut work = false;
        while let Ok(Some(buffer)) = self.events.pair.receive() {
            work = true;
            let mut bytes = [0u8; MAX_CONTROL_BYTES];
            let length = self.events_pool.read(&buffer, &mut bytes).unwrap_or(0);
            match DriverEvent::decode(&bytes[..length]) {
                Ok((header, DriverEvent::Mac(mac))) => {
                    self.mac = mac.0;
                    let m = mac.0;
                    println!(
                        "reflector: e1000 (generation {}) says its MAC is {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                        header.generation, m[0], m[1], m[2], m[3], m[4], m[5]
                    );
                }
                Ok((header, DriverEvent::Link(link))) => println!(
                    "reflector: e1000 (generation {}) says the link is {} ({} Mb/s, {} duplex)",
                    header.generation,
                    if link.up { "up" } else { "down" },
                    link.speed_mbps,
                    if link.full_duplex { "full" } else { "half" }
                ),
                Ok((_, DriverEvent::Statistics(_))) => {}
                Err(e) => {
                    self.counts.protocol_errors += 1;
                    println!("reflector: a bad message from the driver: {e:?}");
                }
            }
            let whole = self.events_pool.geometry().whole_slot(buffer);
            let _ = self.events.pair.send(whole);
        }
        work
    }

    /// Runs a command frame.
    fn command(&mut self, frame: &[u8]) {
        let text = &frame[PAYLOAD + MAGIC.len()..];
        let text = core::str::from_utf8(text)
            .unwrap_or("")
            .trim_matches(|c: char| c == ' ' || c == '\0');
        let mut words = text.split_ascii_whitespace();
        let word = words.next().unwrap_or("");
        let nonce = words.next().unwrap_or("0");
        let peer = [frame[6], frame[7], frame[8], frame[9], frame[10], frame[11]];
        let mut answer = Text::new();
        match word {
            "ping" => {
                let _ = write!(answer, "pong");
            }
            "report" => self.report(&mut answer),
            "garbage" => {
                let rounds = words.next().and_then(|n| n.parse().ok()).unwrap_or(1);
                self.garbage(rounds, &mut answer);
            }
            "crash-self" => panic!("deliberate crash of the reflector (the test peer asked)"),
            "crash" | "stray-dma" => {
                // The answer goes out first: the driver handles frames to send
                // in order, and may not survive the next one.
                let _ = write!(answer, "{word} sent");
                self.answer(peer, nonce, answer.as_bytes());
                self.tx.flush();
                let cookie = if word == "crash" {
                    CRASH_COOKIE
                } else {
                    STRAY_DMA_COOKIE
                };
                let mut bait = [0u8; 60];
                bait[..6].copy_from_slice(&peer);
                bait[6..12].copy_from_slice(&self.mac);
                bait[12..14].copy_from_slice(&TEST_ETHERTYPE);
                bait[PAYLOAD..PAYLOAD + MAGIC.len()].copy_from_slice(MAGIC);
                bait[PAYLOAD + MAGIC.len()..PAYLOAD + MAGIC.len() + 5].copy_from_slice(b" bait");
                let sent = self.send(&bait, cookie);
                println!(
                    "reflector: asked the driver for a {word} (a frame with cookie {cookie:#x}): {}",
                    if sent { "sent" } else { "no tx buffer" }
                );
                return;
            }
            _ => {
                let _ = write!(answer, "unknown command");
            }
        }
        self.answer(peer, nonce, answer.as_bytes());
    }

    /// Sends `text` to the peer in as many frames as it takes, each
    /// `WARDTEST answer NONCE PART/PARTS` and a chunk.
    fn answer(&mut self, peer: [u8; 6], nonce: &str, text: &[u8]) {
        let parts = text.len().div_ceil(ANSWER_CHUNK).max(1);
        for part in 0..parts {
            let chunk = &text[(part * ANSWER_CHUNK).min(text.len())
                ..((part + 1) * ANSWER_CHUNK).min(text.len())];
            let mut frame = [0u8; MAX_FRAME_BYTES as usize];
            frame[..6].copy_from_slice(&peer);
            frame[6..12].copy_from_slice(&self.mac);
            frame[12..14].copy_from_slice(&TEST_ETHERTYPE);
            let mut header = Text::new();
            let _ = writeln!(header, "WARDTEST answer {nonce} {}/{parts}", part + 1);
            let h = header.as_bytes();
            frame[PAYLOAD..PAYLOAD + h.len()].copy_from_slice(h);
            let end = PAYLOAD + h.len() + chunk.len();
            frame[PAYLOAD + h.len()..end].copy_from_slice(chunk);
            let length = end.max(60);
            if !self.send(&frame[..length], 0) {
                println!("reflector: no transmit buffer for an answer");
            }
        }
    }

    /// Counts, pool accounting and the driver's counters, as `name=value` lines.
    fn report(&mut self, out: &mut Text) {
        let c = &self.counts;
        let status = StatusPage::mapped();
        let driver = status.find(caps::NET_RX.peer);
        let rx_on_ring = self
            .rx
            .pair
            .outgoing_ring()
            .free()
            .map(|f| caps::NET_RX.entries - f)
            .unwrap_or(0);
        let tx_on_ring = self
            .tx
            .pair
            .outgoing_ring()
            .free()
            .map(|f| caps::NET_TX.entries - f)
            .unwrap_or(0);
        let _ = write!(
            out,
            "frames={} reflected={} dropped_no_tx_buffer={} rx_errors={} tx_sent={} tx_dropped={} commands={} protocol_errors={} reattached={} reclaimed_rx={} reclaimed_tx={} rx_slots={} rx_held={} rx_on_lend_ring={} tx_slots={} tx_held={} tx_on_lend_ring={} driver_generation={} driver_cpu_ticks={} driver_restarts={} tsc_hz={} tsc={}",
            c.frames,
            c.reflected,
            c.dropped_no_tx_buffer,
            c.rx_errors,
            c.tx_sent,
            c.tx_dropped,
            c.commands,
            c.protocol_errors,
            c.reattached,
            c.reclaimed_rx,
            c.reclaimed_tx,
            caps::NET_RX.pool_slots,
            self.rx.pair.held().len(),
            rx_on_ring,
            caps::NET_TX.pool_slots,
            self.tx.pair.held().len(),
            tx_on_ring,
            self.driver_generation,
            driver.map_or(0, |d| d.cpu_ticks),
            driver.map_or(0, |d| d.restarts),
            ward_userlib::time::tsc_hz(),
            ward_userlib::time::read_tsc(),
        );
        let page = CounterReader::new(region::words64(caps::E1000_STATS));
        let _ = write!(out, " page_generation={}", page.generation());
        for counter in page.iter() {
            let _ = write!(out, " {}={}", counter.name(), counter.value);
        }
    }

    /// Pushes `rounds` rounds of bad descriptors into the lend rings, as a
    /// hostile or broken stack would, and says what it pushed.
    fn garbage(&mut self, rounds: u32, out: &mut Text) {
        let rx_geometry = self.rx_pool.geometry();
        let tx_geometry = self.tx_pool.geometry();
        let (mut rx_bad, mut rx_duplicate, mut rx_short) = (0, 0, 0);
        let (mut tx_bad, mut tx_duplicate, mut tx_bad_request, mut tx_offload) = (0, 0, 0, 0);
        let outside = RawDescriptor {
            offset: rx_geometry.pool_bytes(),
            len: 64,
            cookie: 0,
            flags: 0,
        };
        let crossing = RawDescriptor {
            offset: rx_geometry.slot_size() + 64,
            len: rx_geometry.slot_size(),
            cookie: 0,
            flags: 0,
        };
        for _ in 0..rounds {
            for raw in [outside, crossing] {
                if self.rx.pair.outgoing_ring().push_unchecked(raw).is_ok() {
                    rx_bad += 1;
                }
                if self.tx.pair.outgoing_ring().push_unchecked(raw).is_ok() {
                    tx_bad += 1;
                }
            }

            // A transmit frame with a bad length (0 bytes), one with unknown
            // flags, one asking for a checksum offload; then a frame lent
            // twice in one batch.
            for (len, flags) in [(0, 0), (60, 0x80), (60, 1)] {
                let Some(slot) = self.tx.pair.held().first() else {
                    break;
                };
                let buffer = tx_geometry.buffer(slot, 0, len).unwrap().with_flags(flags);
                if self.tx.pair.send(buffer).is_ok() {
                    match (len, flags) {
                        (0, _) | (_, 0x80) => tx_bad_request += 1,
                        _ => tx_offload += 1,
                    }
                }
            }
            if let Some(slot) = self.tx.pair.held().first() {
                let mut bait = [0u8; 60];
                bait[12..14].copy_from_slice(&TEST_ETHERTYPE);
                bait[PAYLOAD..PAYLOAD + MAGIC.len()].copy_from_slice(MAGIC);
                let buffer = tx_geometry.buffer(slot, 0, 60).unwrap();
                let _ = self.tx_pool.write(&buffer, &bait);
                let request = TxRequest {
                    buffer,
                    offload_ip_checksum: false,
                    offload_l4_checksum: false,
                }
                .encode();
                if self.tx.pair.send(request).is_ok()
                    && self.tx.pair.outgoing_ring().push(request).is_ok()
                {
                    tx_duplicate += 1;
                }
            }
        }
        // The reserved receive buffers: one lent too short for a frame (the
        // driver must give it back unused), one lent properly and then once
        // more per round while the driver holds it (the driver posts the
        // first and must drop the others).
        let [short_slot, twice_slot] = [
            rx_geometry.slot_count() - RESERVED_RX_SLOTS,
            rx_geometry.slot_count() - RESERVED_RX_SLOTS + 1,
        ];
        if self.rx.pair.held().contains(short_slot) {
            let short = rx_geometry.buffer(short_slot, 0, SHORT_POSTING).unwrap();
            if self.rx.pair.send(RxPosting::encode(short)).is_ok() {
                rx_short += 1;
            }
        }
        if self.rx.pair.held().contains(twice_slot) {
            let twice = RxPosting::encode(
                rx_geometry
                    .buffer(twice_slot, 0, rx_geometry.slot_size())
                    .unwrap(),
            );
            if self.rx.pair.send(twice).is_ok() {
                for _ in 0..rounds {
                    if self.rx.pair.outgoing_ring().push(twice).is_ok() {
                        rx_duplicate += 1;
                    }
                }
            }
        }
        self.flush();
        println!(
            "reflector: pushed garbage: rx {rx_bad} bad descriptors, {rx_duplicate} duplicates, {rx_short} short postings; tx {tx_bad} bad descriptors, {tx_duplicate} duplicates, {tx_bad_request} bad requests, {tx_offload} offload requests"
        );
        let _ = write!(
            out,
            "rx_ring_bad_descriptor={rx_bad} rx_ring_duplicate={rx_duplicate} rx_post_refused={rx_short} tx_ring_bad_descriptor={tx_bad} tx_ring_duplicate={tx_duplicate} tx_drop_bad_request={tx_bad_request} tx_drop_offload={tx_offload}"
        );
    }
}

fn is_command(frame: &[u8]) -> bool {
    frame.len() >= PAYLOAD + MAGIC.len()
        && frame[12..14] == TEST_ETHERTYPE
        && &frame[PAYLOAD..PAYLOAD + MAGIC.len()] == MAGIC
}

/// A fixed buffer of answer text.
struct Text {
    bytes: [u8; 4096],
    used: usize,
}

impl Text {
    fn new() -> Text {
        Text {
            bytes: [0; 4096],
            used: 0,
        }
    }
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.used]
    }
}

impl Write for Text {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.bytes.len() - self.used;
        let n = s.len().min(room);
        self.bytes[self.used..self.used + n].copy_from_slice(&s.as_bytes()[..n]);
        self.used += n;
        Ok(())
    }
}
