//! The NIC as smoltcp sees it: a `smoltcp::phy::Device` over the two ring
//! pairs the stack shares with the driver (`ward_proto::driver`).
//!
//! The stack owns both packet pools. On the **rx pair** it lends empty
//! buffers and gets each back holding one frame; on the **tx pair** it lends
//! buffers holding one frame each and gets each back once the NIC is done.
//! A received frame is copied out of the pool into a private buffer, its
//! pool buffer is lent to the driver again at once, and the copy is screened
//! ([`crate::screen`]) before smoltcp parses it: the NIC (or a confused
//! driver) can write the pool at any time, the private copy cannot change.
//! Frames to send are built in a private buffer and copied into a held tx
//! buffer. Lends are batched: [`RingDevice::flush`] publishes them and says
//! which doorbells to ring.
//!
//! A driver that breaks the ring protocol is counted; a bad descriptor is
//! skipped, and an index error stalls the pair until the driver restarts
//! ([`RingDevice::driver_restarted`]).

use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use ward_proto::driver::{
    ChecksumStatus, RxCompletion, RxPosting, TxCompletion, TxRequest, MAX_FRAME_BYTES,
};
use ward_ring::{PairEnd, PeerMisbehaved, PoolMemory, RingMemory, SendError};

use crate::counters::{Counter, Counters};
use crate::screen::{self, NicChecksum, Summary, MAX_FRAME};

/// Listening ports a backlog check covers (listeners beyond this many are
/// never marked full, so their SYNs reach smoltcp as before).
const FULL_PORTS: usize = 16;

/// Bytes of the private receive copy.
const RX_COPY: usize = MAX_FRAME_BYTES as usize;

/// One ring pair with the driver and the pool it lends from.
pub struct DriverPair<'a, M, const W: usize> {
    /// The stack's (owner) end.
    pub end: PairEnd<M, W>,
    /// The pool, as mapped in the stack.
    pub pool: PoolMemory<'a>,
}

/// Which doorbells to ring after [`RingDevice::flush`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Doorbells {
    /// Signal the driver about the rx pair.
    pub rx: bool,
    /// Signal the driver about the tx pair.
    pub tx: bool,
}

/// The device: the private receive buffer, and everything else.
pub struct RingDevice<'a, M, const W: usize> {
    /// Private copy of the frame being received: room for the largest frame
    /// the driver protocol allows, so that an oversize frame is seen whole
    /// (and dropped as oversize) rather than cut to a valid length.
    rx_frame: [u8; RX_COPY],
    /// The rings, the pools and the counters.
    pub nic: Nic<'a, M, W>,
}

/// The driver side of the device: both pairs, the transmit buffer, counters.
pub struct Nic<'a, M, const W: usize> {
    rx: DriverPair<'a, M, W>,
    tx: DriverPair<'a, M, W>,
    /// A pair that broke the protocol is not touched again until the driver restarts.
    rx_stalled: bool,
    tx_stalled: bool,
    mac: [u8; 6],
    /// Private buffer of the frame being sent.
    tx_frame: [u8; MAX_FRAME],
    /// What the last screened frame carried (for the stack's socket counters).
    last: Option<Summary>,
    /// Ports whose listeners are all busy: a SYN to one is dropped (the
    /// client retries, as with a full Linux backlog) instead of reaching
    /// smoltcp, which would answer it with a reset.
    full_ports: heapless::Vec<u16, FULL_PORTS>,
    doorbells: Doorbells,
    /// Counters, shared with the stack.
    pub counters: Counters,
}

impl<'a, M: RingMemory, const W: usize> RingDevice<'a, M, W> {
    /// A device over freshly initialised pairs (the stack holds every buffer).
    /// `mac` is the NIC's station address.
    pub fn new(rx: DriverPair<'a, M, W>, tx: DriverPair<'a, M, W>, mac: [u8; 6]) -> Self {
        let mut nic = Nic {
            rx,
            tx,
            rx_stalled: false,
            tx_stalled: false,
            mac,
            tx_frame: [0; MAX_FRAME],
            last: None,
            full_ports: heapless::Vec::new(),
            doorbells: Doorbells::default(),
            counters: Counters::new(),
        };
        nic.post_rx_buffers();
        Self {
            rx_frame: [0; RX_COPY],
            nic,
        }
    }
}

impl<'a, M: RingMemory, const W: usize> Nic<'a, M, W> {
    /// The station address frames are screened against.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Sets the station address (when the driver reports it).
    pub fn set_mac(&mut self, mac: [u8; 6]) {
        self.mac = mac;
    }

    /// Sets the ports whose listen backlogs are full (see `full_ports`).
    pub fn set_full_ports(&mut self, ports: &[u16]) {
        self.full_ports.clear();
        for port in ports.iter().take(FULL_PORTS) {
            let _ = self.full_ports.push(*port);
        }
    }

    /// What the last frame handed to smoltcp carried; taken once.
    pub fn take_summary(&mut self) -> Option<Summary> {
        self.last.take()
    }

    /// The driver restarted: new pairs (the regions written afresh, every
    /// buffer the stack's again), and every receive buffer lent anew.
    pub fn driver_restarted(&mut self, rx: DriverPair<'a, M, W>, tx: DriverPair<'a, M, W>) {
        self.rx = rx;
        self.tx = tx;
        self.rx_stalled = false;
        self.tx_stalled = false;
        self.counters.bump(Counter::DriverRestarts);
        self.post_rx_buffers();
    }

    /// Buffers the stack holds on each pair (rx, tx): for leak checks.
    pub fn held(&self) -> (u32, u32) {
        (self.rx.end.held().len(), self.tx.end.held().len())
    }

    fn driver_broke(&mut self, _error: PeerMisbehaved, rx: bool) {
        self.counters.bump(Counter::DriverProtocolErrors);
        // A bad descriptor is consumed when reported; only an index out of
        // range repeats forever and stalls the pair.
        if matches!(_error, PeerMisbehaved::IndexOutOfRange { .. }) {
            if rx {
                self.rx_stalled = true;
            } else {
                self.tx_stalled = true;
            }
        }
    }

    /// Lends every held rx buffer (whole slots) to the driver.
    fn post_rx_buffers(&mut self) {
        if self.rx_stalled {
            return;
        }
        let geometry = self.rx.pool.geometry();
        while let Some(slot) = self.rx.end.held().first() {
            let Ok(buffer) = geometry.buffer(slot, 0, geometry.slot_size()) else {
                break;
            };
            match self.rx.end.send(RxPosting::encode(buffer)) {
                Ok(()) => {}
                Err(SendError::Full(_)) | Err(SendError::NotHeld(_)) => break,
                Err(SendError::Peer(e, _)) => {
                    self.driver_broke(e, true);
                    break;
                }
            }
        }
    }

    /// Takes back what the driver has finished sending.
    fn reap_tx(&mut self) {
        if self.tx_stalled {
            return;
        }
        loop {
            match self.tx.end.receive() {
                Ok(Some(buffer)) => match TxCompletion::decode(buffer) {
                    Ok(done) if done.sent => self.counters.bump(Counter::TxSent),
                    Ok(_) => self.counters.bump(Counter::TxDroppedByDriver),
                    Err(_) => self.counters.bump(Counter::DriverProtocolErrors),
                },
                Ok(None) => break,
                Err(e) => {
                    self.driver_broke(e, false);
                    if self.tx_stalled {
                        break;
                    }
                }
            }
        }
        if self.tx.end.release().should_signal() {
            self.doorbells.tx = true;
        }
    }

    /// The next frame that passes screening, copied into `rx_frame`; its
    /// length. Every frame taken is counted, and its buffer lent again.
    fn next_frame(&mut self, rx_frame: &mut [u8; RX_COPY]) -> Option<usize> {
        if self.rx_stalled {
            return None;
        }
        loop {
            let buffer = match self.rx.end.receive() {
                Ok(Some(buffer)) => buffer,
                Ok(None) => return None,
                Err(e) => {
                    self.driver_broke(e, true);
                    if self.rx_stalled {
                        return None;
                    }
                    continue;
                }
            };
            if self.rx.end.release().should_signal() {
                self.doorbells.rx = true;
            }
            let (buffer, checksum) = match RxCompletion::decode(buffer) {
                Ok(RxCompletion::Frame { buffer, checksum }) => (buffer, checksum),
                Ok(RxCompletion::Error { buffer }) => {
                    self.counters.bump(Counter::RxFrames);
                    self.counters.bump(Counter::DropNicError);
                    self.relend(buffer);
                    continue;
                }
                Err(_) => {
                    self.counters.bump(Counter::DriverProtocolErrors);
                    self.relend(buffer);
                    continue;
                }
            };
            let copied = self.rx.pool.read(&buffer, rx_frame);
            self.relend(buffer);
            let Ok(len) = copied else {
                self.counters.bump(Counter::DriverProtocolErrors);
                continue;
            };
            self.counters.bump(Counter::RxFrames);
            self.counters.add(Counter::RxBytes, buffer.len().into());
            let nic = match checksum {
                ChecksumStatus::Failed => {
                    self.counters.bump(Counter::DropNicChecksum);
                    continue;
                }
                ChecksumStatus::Verified => NicChecksum::Verified,
                ChecksumStatus::Unchecked => NicChecksum::Unchecked,
            };
            // The pool copy can be shorter than the descriptor claims only
            // for a buffer longer than a frame, which decode refused.
            match screen::screen(&rx_frame[..len], self.mac, nic) {
                Ok(Summary::Tcp {
                    port, syn: true, ..
                }) if self.full_ports.contains(&port) => {
                    self.counters.bump(Counter::DropTcpBacklogFull)
                }
                Ok(summary) => {
                    self.counters.bump(Counter::RxDelivered);
                    self.last = Some(summary);
                    return Some(len);
                }
                Err(reason) => self.counters.bump(reason),
            }
        }
    }

    /// Lends a received buffer again as an empty whole slot.
    fn relend(&mut self, buffer: ward_ring::Buffer) {
        let whole = self.rx.pool.geometry().whole_slot(buffer);
        match self.rx.end.send(RxPosting::encode(whole)) {
            Ok(()) => {}
            // Full cannot happen (every lent buffer has a ring slot); keep it
            // held and lend it at the next flush.
            Err(SendError::Full(_)) | Err(SendError::NotHeld(_)) => {}
            Err(SendError::Peer(e, _)) => self.driver_broke(e, true),
        }
    }

    /// A free tx slot, after taking back what the driver finished.
    fn free_tx_slot(&mut self) -> Option<u32> {
        if self.tx_stalled {
            return None;
        }
        if self.tx.end.held().is_empty() {
            self.reap_tx();
        }
        self.tx.end.held().first()
    }

    /// Copies `len` bytes of `tx_frame` into a held tx buffer and lends it.
    fn send_frame(&mut self, slot: u32, len: usize) {
        let geometry = self.tx.pool.geometry();
        let Ok(buffer) = geometry.buffer(slot, 0, len as u32) else {
            return;
        };
        if self.tx.pool.write(&buffer, &self.tx_frame[..len]).is_err() {
            return;
        }
        let request = TxRequest {
            buffer,
            offload_ip_checksum: false,
            offload_l4_checksum: false,
        };
        match self.tx.end.send(request.encode()) {
            Ok(()) => {
                self.counters.bump(Counter::TxFrames);
                self.counters.add(Counter::TxBytes, len as u64);
            }
            Err(SendError::Full(_)) | Err(SendError::NotHeld(_)) => {
                self.counters.bump(Counter::TxNoBuffer)
            }
            Err(SendError::Peer(e, _)) => self.driver_broke(e, false),
        }
    }

    /// Publishes every lend made since the last flush (re-lending any rx
    /// buffer still held) and says which doorbells to ring.
    pub fn flush(&mut self) -> Doorbells {
        self.reap_tx();
        self.post_rx_buffers();
        // The rings' occupancy: every buffer of a pool the stack does not
        // hold is with the driver.
        let with_driver =
            |pair: &DriverPair<'a, M, W>| pair.pool.geometry().slot_count() - pair.end.held().len();
        let (rx_lent, tx_in_flight) = (with_driver(&self.rx), with_driver(&self.tx));
        self.counters.set(Counter::RingRxLent, rx_lent.into());
        self.counters
            .set(Counter::RingTxInFlight, tx_in_flight.into());
        if !self.rx_stalled && self.rx.end.publish().should_signal() {
            self.doorbells.rx = true;
        }
        if !self.tx_stalled && self.tx.end.publish().should_signal() {
            self.doorbells.tx = true;
        }
        core::mem::take(&mut self.doorbells)
    }

    /// Asks the driver to signal when frames arrive or transmit buffers come
    /// back; false if there is work now and the caller must not sleep.
    pub fn prepare_sleep(&mut self) -> bool {
        use ward_ring::WaitDecision;
        let mut sleep = true;
        if !self.rx_stalled {
            match self.rx.end.prepare_wait_incoming(1) {
                Ok(WaitDecision::Ready) => sleep = false,
                Ok(_) => {}
                Err(e) => self.driver_broke(e, true),
            }
        }
        if !self.tx_stalled && self.tx.end.held().is_empty() {
            match self.tx.end.prepare_wait_incoming(1) {
                Ok(WaitDecision::Ready) => sleep = false,
                Ok(_) => {}
                Err(e) => self.driver_broke(e, false),
            }
        }
        sleep
    }
}

/// A received frame, lent to smoltcp for one parse.
pub struct RxToken<'b> {
    frame: &'b [u8],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }
}

/// Room for one frame to send.
pub struct TxToken<'b, 'a, M, const W: usize> {
    device: &'b mut Nic<'a, M, W>,
}

impl<M: RingMemory, const W: usize> phy::TxToken for TxToken<'_, '_, M, W> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let len = len.min(MAX_FRAME);
        let result = f(&mut self.device.tx_frame[..len]);
        match self.device.free_tx_slot() {
            Some(slot) => self.device.send_frame(slot, len),
            None => self.device.counters.bump(Counter::TxNoBuffer),
        }
        result
    }
}

impl<'a, M: RingMemory, const W: usize> phy::Device for RingDevice<'a, M, W> {
    type RxToken<'b>
        = RxToken<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = TxToken<'b, 'a, M, W>
    where
        Self: 'b;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let len = self.nic.next_frame(&mut self.rx_frame)?;
        // smoltcp may answer the frame (an ARP reply, a TCP ACK) while it
        // still reads it: the receive buffer and the transmit side are
        // separate fields, borrowed separately.
        Some((
            RxToken {
                frame: &self.rx_frame[..len],
            },
            TxToken {
                device: &mut self.nic,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.nic.free_tx_slot()?;
        Some(TxToken {
            device: &mut self.nic,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps.max_burst_size = None;
        // Screening verified every received checksum; smoltcp computes the
        // ones it sends.
        let mut checksum = ChecksumCapabilities::default();
        checksum.ipv4 = Checksum::Tx;
        checksum.udp = Checksum::Tx;
        checksum.tcp = Checksum::Tx;
        checksum.icmpv4 = Checksum::Tx;
        caps.checksum = checksum;
        caps
    }
}
