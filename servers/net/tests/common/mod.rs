//! Test rig: stacks over in-memory ring pairs, a wire that plays the NIC
//! driver for each of them (taking frames from one stack's tx pair and
//! delivering them into another's rx pair, or into a capture list), and a
//! socket-protocol client that plays an application.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::AtomicU32;

use smoltcp::iface::SocketStorage;
use smoltcp::socket::udp;
use smoltcp::time::Instant;
use ward_net::device::{DriverPair, RingDevice};
use ward_net::stack::{AddressConfig, SocketMemory, Stack, UdpBuffers, EXTRA_SOCKETS};
use ward_proto::driver::{ChecksumStatus, RxCompletion, RxPosting, TxRequest};
use ward_proto::socket::{Endpoint, Protocol, SocketReply, SocketRequest, SocketResponse};
use ward_ring::{
    Buffer, PairEnd, PoolGeometry, PoolMemory, RegionMapping, RingPairParams, SharedRing,
};

/// Ring entries and pool slots of every pair in the rig.
pub const ENTRIES: u32 = 64;
pub const SLOT: u32 = 2048;
pub const ALIGN: u32 = 64;
/// Slot-set words for 64 slots.
pub const W: usize = 1;

pub type Ring = SharedRing<'static>;
pub type TestStack = Stack<'static, Ring, W>;

pub fn params() -> RingPairParams {
    RingPairParams::new(ENTRIES, PoolGeometry::new(SLOT, ENTRIES, ALIGN).unwrap()).unwrap()
}

fn leak_words(words: usize) -> &'static [AtomicU32] {
    let v: Vec<AtomicU32> = (0..words).map(|_| AtomicU32::new(0)).collect();
    Box::leak(v.into_boxed_slice())
}

/// Memory shaped like a ring-pair region: words starting on a 128-byte
/// boundary (a leaked buffer with room to skip to the first boundary).
pub fn region() -> RegionMapping<'static> {
    let words = params().region_words();
    let raw = leak_words(words + 32);
    let skip = (128 - (raw.as_ptr() as usize % 128)) % 128 / 4;
    RegionMapping::from_words(&raw[skip..skip + words]).unwrap()
}

pub fn pool_memory(geometry: PoolGeometry) -> PoolMemory<'static> {
    PoolMemory::new(leak_words(geometry.pool_bytes() as usize / 4), geometry).unwrap()
}

/// The driver's (borrower) ends of one stack's pairs, and the pools.
pub struct DriverSide {
    pub rx: PairEnd<Ring, W>,
    pub tx: PairEnd<Ring, W>,
    pub rx_pool: PoolMemory<'static>,
    pub tx_pool: PoolMemory<'static>,
    /// Buffers lent for receiving, in order.
    pub posted: VecDeque<Buffer>,
    pub rx_region: RegionMapping<'static>,
    pub tx_region: RegionMapping<'static>,
}

impl DriverSide {
    /// Takes every posted buffer.
    fn take_posted(&mut self) {
        while let Ok(Some(b)) = self.rx.receive() {
            self.posted.push_back(RxPosting::decode(b).unwrap().buffer);
        }
        let _ = self.rx.release();
    }

    /// Delivers one frame; false if no buffer is posted.
    pub fn deliver(&mut self, frame: &[u8]) -> bool {
        self.deliver_with(frame, ChecksumStatus::Unchecked)
    }

    pub fn deliver_with(&mut self, frame: &[u8], checksum: ChecksumStatus) -> bool {
        self.take_posted();
        let Some(buffer) = self.posted.pop_front() else {
            return false;
        };
        self.rx_pool.write(&buffer, frame).unwrap();
        let geometry = self.rx_pool.geometry();
        let done =
            RxCompletion::encode_frame(&geometry, buffer, frame.len() as u32, checksum).unwrap();
        self.rx.send(done).unwrap();
        let _ = self.rx.publish();
        true
    }

    /// Every frame the stack asked to send since the last call.
    pub fn sent(&mut self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        while let Ok(Some(b)) = self.tx.receive() {
            let request = TxRequest::decode(b).unwrap();
            let mut frame = vec![0u8; request.buffer.len() as usize];
            self.tx_pool.read(&request.buffer, &mut frame).unwrap();
            frames.push(frame);
            self.tx
                .send(
                    ward_proto::driver::TxCompletion {
                        buffer: request.buffer,
                        sent: true,
                    }
                    .encode(),
                )
                .unwrap();
        }
        let _ = self.tx.release();
        let _ = self.tx.publish();
        frames
    }
}

/// Everything needed to build one stack.
pub struct Node {
    pub stack: TestStack,
    pub driver: DriverSide,
    pub apps: Vec<App>,
}

pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
pub const IP_A: [u8; 4] = [10, 0, 0, 1];
pub const IP_B: [u8; 4] = [10, 0, 0, 2];

/// Sizes of a node's socket memory.
#[derive(Clone, Copy)]
pub struct Sizes {
    pub tcp_sockets: usize,
    pub tcp_buffer: usize,
    pub udp_sockets: usize,
    pub apps: usize,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes {
            tcp_sockets: 24,
            tcp_buffer: 8192,
            udp_sockets: 4,
            apps: 2,
        }
    }
}

pub fn node(mac: [u8; 6], ip: [u8; 4], sizes: Sizes) -> Node {
    let p = params();
    let rx_pool = pool_memory(p.pool());
    let tx_pool = pool_memory(p.pool());
    let (rx_region, tx_region) = (region(), region());
    let stack_rx = PairEnd::<Ring, W>::initialise_owner(rx_region, &p, 1).unwrap();
    let stack_tx = PairEnd::<Ring, W>::initialise_owner(tx_region, &p, 1).unwrap();
    let driver_rx = PairEnd::<Ring, W>::attach_borrower(rx_region, &p).unwrap();
    let driver_tx = PairEnd::<Ring, W>::attach_borrower(tx_region, &p).unwrap();
    let device = RingDevice::new(
        DriverPair {
            end: stack_rx,
            pool: rx_pool,
        },
        DriverPair {
            end: stack_tx,
            pool: tx_pool,
        },
        mac,
    );
    let storage: &'static mut [SocketStorage<'static>] = Box::leak(
        (0..sizes.tcp_sockets + sizes.udp_sockets + EXTRA_SOCKETS)
            .map(|_| SocketStorage::EMPTY)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let tcp: &'static mut [(&'static mut [u8], &'static mut [u8])] = Box::leak(
        (0..sizes.tcp_sockets)
            .map(|_| {
                (
                    Box::leak(vec![0u8; sizes.tcp_buffer].into_boxed_slice()) as &mut [u8],
                    Box::leak(vec![0u8; sizes.tcp_buffer].into_boxed_slice()) as &mut [u8],
                )
            })
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let udp: &'static mut [UdpBuffers<'static>] = Box::leak(
        (0..sizes.udp_sockets)
            .map(|_| UdpBuffers {
                rx_meta: Box::leak(vec![udp::PacketMetadata::EMPTY; 64].into_boxed_slice()),
                rx: Box::leak(vec![0u8; 32768].into_boxed_slice()),
                tx_meta: Box::leak(vec![udp::PacketMetadata::EMPTY; 64].into_boxed_slice()),
                tx: Box::leak(vec![0u8; 32768].into_boxed_slice()),
            })
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let app_pools: Vec<PoolMemory<'static>> =
        (0..sizes.apps).map(|_| pool_memory(p.pool())).collect();
    let clients: Vec<(u64, PoolMemory<'static>)> = app_pools
        .iter()
        .enumerate()
        .map(|(i, pool)| (i as u64 + 1, *pool))
        .collect();
    let stack = Stack::new(
        device,
        AddressConfig::Static {
            address: ip,
            prefix_len: 24,
            gateway: None,
        },
        SocketMemory { storage, tcp, udp },
        &clients,
        0x5eed,
        Instant::ZERO,
    );
    let mut node = Node {
        stack,
        driver: DriverSide {
            rx: driver_rx,
            tx: driver_tx,
            rx_pool,
            tx_pool,
            posted: VecDeque::new(),
            rx_region,
            tx_region,
        },
        apps: Vec::new(),
    };
    for (i, pool) in app_pools.into_iter().enumerate() {
        let app = App::new(i as u64 + 1, pool);
        node.apps.push(app);
    }
    for i in 0..node.apps.len() {
        node.attach(i);
    }
    node
}

impl Node {
    /// The application `i` (re)initialises its region and attaches.
    pub fn attach(&mut self, i: usize) {
        let app = &mut self.apps[i];
        app.generation += 1;
        let region = region();
        app.end = Some(PairEnd::initialise_owner(region, &params(), app.generation).unwrap());
        app.waiting.clear();
        app.region = Some(region);
        let borrower = PairEnd::attach_borrower(region, &params()).unwrap();
        self.stack.attach(app.badge, borrower).unwrap();
    }
}

/// A network of nodes joined by a wire, with virtual time.
pub struct Net {
    pub nodes: Vec<Node>,
    pub now: Instant,
    /// Frames each node sent that the wire carried, for inspection.
    pub captured: Vec<Vec<Vec<u8>>>,
    /// When false the wire drops everything (capture only).
    pub connected: bool,
}

impl Net {
    pub fn pair() -> Net {
        Net::pair_with(Sizes::default())
    }

    pub fn pair_with(sizes: Sizes) -> Net {
        let mut net = Net {
            nodes: vec![node(MAC_A, IP_A, sizes), node(MAC_B, IP_B, sizes)],
            now: Instant::ZERO,
            captured: vec![Vec::new(), Vec::new()],
            connected: true,
        };
        // The first step publishes the receive buffers the stacks lend.
        net.step();
        net
    }

    /// One round: every stack polls, the wire moves frames, time advances 1 ms.
    pub fn step(&mut self) {
        for i in 0..self.nodes.len() {
            let _ = self.nodes[i].stack.poll(self.now);
            let frames = self.nodes[i].driver.sent();
            for frame in frames {
                if self.connected {
                    let other = 1 - i;
                    // A frame that finds no posted buffer is lost, as on a real NIC.
                    let _ = self.nodes[other].driver.deliver(&frame);
                }
                self.captured[i].push(frame);
            }
        }
        self.now += smoltcp::time::Duration::from_millis(1);
    }

    /// Steps until `done` or `limit` steps; true if done.
    pub fn run_until(&mut self, limit: usize, mut done: impl FnMut(&mut Net) -> bool) -> bool {
        for _ in 0..limit {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    /// Sends a request from application `app` of node `n` and steps until it
    /// is answered.
    pub fn call(&mut self, n: usize, app: usize, request: SocketRequest<'_>) -> Answer {
        let id = self.nodes[n].apps[app].send(request);
        let mut answer = None;
        self.run_until(5_000, |net| {
            answer = net.nodes[n].apps[app].take(id);
            answer.is_some()
        });
        answer.unwrap_or_else(|| panic!("no answer to {request:?}"))
    }

    /// Steps until application `app` of node `n` has the answer to request
    /// `id` (lent earlier without waiting), at most `limit` steps.
    pub fn answer_to(&mut self, n: usize, app: usize, id: u32, limit: usize) -> Option<Answer> {
        let mut answer = None;
        self.run_until(limit, |net| {
            answer = net.nodes[n].apps[app].take(id);
            answer.is_some()
        });
        answer
    }

    /// Opens a TCP socket on node `n` for application `app`, bound to
    /// `port` and listening with `backlog`.
    pub fn listen(&mut self, n: usize, app: usize, port: u16, backlog: u32) -> u32 {
        let socket = self
            .call(
                n,
                app,
                SocketRequest::Open {
                    protocol: Protocol::Tcp,
                },
            )
            .socket();
        assert_eq!(
            self.call(
                n,
                app,
                SocketRequest::Bind {
                    socket,
                    local: any(port)
                }
            ),
            Answer::Ok(OwnedReply::Done)
        );
        assert_eq!(
            self.call(n, app, SocketRequest::Listen { socket, backlog }),
            Answer::Ok(OwnedReply::Done)
        );
        socket
    }

    /// Opens a TCP socket on node `n` for application `app` and connects
    /// it to `remote`; the connect's answer.
    pub fn connect(&mut self, n: usize, app: usize, remote: Endpoint) -> (u32, Answer) {
        let socket = self
            .call(
                n,
                app,
                SocketRequest::Open {
                    protocol: Protocol::Tcp,
                },
            )
            .socket();
        let answer = self.call(n, app, SocketRequest::Connect { socket, remote });
        (socket, answer)
    }

    /// Opens a UDP socket on node `n` for application `app`, bound to
    /// `port` if given.
    pub fn udp(&mut self, n: usize, app: usize, port: Option<u16>) -> u32 {
        let socket = self
            .call(
                n,
                app,
                SocketRequest::Open {
                    protocol: Protocol::Udp,
                },
            )
            .socket();
        if let Some(port) = port {
            assert_eq!(
                self.call(
                    n,
                    app,
                    SocketRequest::Bind {
                        socket,
                        local: any(port)
                    }
                ),
                Answer::Ok(OwnedReply::Done)
            );
        }
        socket
    }
}

/// A decoded answer, owning its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Ok(OwnedReply),
    Err(ward_proto::socket::SocketError),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedReply {
    Opened(u32),
    Done,
    Accepted(u32, Endpoint),
    Sent(u32),
    Received(Endpoint, Vec<u8>),
}

impl Answer {
    pub fn socket(&self) -> u32 {
        match self {
            Answer::Ok(OwnedReply::Opened(s)) | Answer::Ok(OwnedReply::Accepted(s, _)) => *s,
            other => panic!("expected a socket, got {other:?}"),
        }
    }
    pub fn data(&self) -> Vec<u8> {
        match self {
            Answer::Ok(OwnedReply::Received(_, d)) => d.clone(),
            other => panic!("expected data, got {other:?}"),
        }
    }
}

/// An application: the owner end of its socket pair, its pool, the
/// answers that came back.
pub struct App {
    pub badge: u64,
    pub pool: PoolMemory<'static>,
    pub end: Option<PairEnd<Ring, W>>,
    pub region: Option<RegionMapping<'static>>,
    pub generation: u32,
    next_id: u32,
    /// Request id -> max receive length, for decoding answers.
    pub waiting: std::collections::HashMap<u32, Option<u32>>,
    answers: std::collections::HashMap<u32, Answer>,
}

impl App {
    fn new(badge: u64, pool: PoolMemory<'static>) -> App {
        App {
            badge,
            pool,
            end: None,
            region: None,
            generation: 0,
            next_id: 1,
            waiting: Default::default(),
            answers: Default::default(),
        }
    }

    /// Lends one request; returns its id.
    pub fn send(&mut self, request: SocketRequest<'_>) -> u32 {
        self.collect();
        let id = self.next_id;
        self.next_id += 1;
        let end = self.end.as_mut().unwrap();
        let slot = end.held().first().expect("a free buffer");
        let geometry = self.pool.geometry();
        let whole = geometry.buffer(slot, 0, geometry.slot_size()).unwrap();
        let mut bytes = vec![0u8; SLOT as usize];
        let n = request.encode(id, &mut bytes).unwrap();
        self.pool.write(&whole, &bytes[..n]).unwrap();
        let buffer = geometry.with_len(whole, n as u32).unwrap().with_cookie(id);
        end.send(buffer).unwrap();
        let _ = end.publish();
        let max = match request {
            SocketRequest::Receive { max_len, .. } => Some(max_len),
            _ => None,
        };
        self.waiting.insert(id, max);
        id
    }

    /// Lends raw bytes as a request (for malformed-request tests).
    pub fn send_raw(&mut self, bytes: &[u8], cookie: u32) {
        let end = self.end.as_mut().unwrap();
        let slot = end.held().first().expect("a free buffer");
        let geometry = self.pool.geometry();
        let whole = geometry.buffer(slot, 0, geometry.slot_size()).unwrap();
        self.pool.write(&whole, bytes).unwrap();
        let buffer = geometry
            .with_len(whole, bytes.len() as u32)
            .unwrap()
            .with_cookie(cookie);
        end.send(buffer).unwrap();
        let _ = end.publish();
    }

    /// Takes every answer that came back.
    pub fn collect(&mut self) {
        let Some(end) = self.end.as_mut() else { return };
        while let Ok(Some(buffer)) = end.receive() {
            let mut bytes = vec![0u8; buffer.len() as usize];
            self.pool.read(&buffer, &mut bytes).unwrap();
            let id = buffer.cookie();
            let max = self.waiting.remove(&id).flatten();
            let answer = match SocketResponse::decode(&bytes, max) {
                Ok(r) => match r.result {
                    Ok(SocketReply::Opened { socket }) => Answer::Ok(OwnedReply::Opened(socket)),
                    Ok(SocketReply::Done) => Answer::Ok(OwnedReply::Done),
                    Ok(SocketReply::Accepted { socket, peer }) => {
                        Answer::Ok(OwnedReply::Accepted(socket, peer))
                    }
                    Ok(SocketReply::Sent { accepted }) => Answer::Ok(OwnedReply::Sent(accepted)),
                    Ok(SocketReply::Received { from, data }) => {
                        Answer::Ok(OwnedReply::Received(from, data.to_vec()))
                    }
                    Err(e) => Answer::Err(e),
                },
                Err(e) => panic!("undecodable answer {e:?}: {bytes:?}"),
            };
            self.answers.insert(id, answer);
        }
        let _ = end.release();
    }

    pub fn take(&mut self, id: u32) -> Option<Answer> {
        self.collect();
        self.answers.remove(&id)
    }

    /// Buffers the application holds (the rest are with the stack).
    pub fn held(&self) -> u32 {
        self.end.as_ref().map_or(0, |e| e.held().len())
    }
}

pub fn any(port: u16) -> Endpoint {
    Endpoint { addr: [0; 4], port }
}

pub fn at(addr: [u8; 4], port: u16) -> Endpoint {
    Endpoint { addr, port }
}
