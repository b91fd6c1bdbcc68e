//! One application's session: the stack's (borrower) end of the
//! application's socket pair, the application's pool, the requests the stack
//! holds until they can be answered, and answers waiting for room.
//!
//! The application owns the pair and the pool; the stack only ever holds
//! buffers the application lent it, and gives each back exactly once, with
//! the answer written into the same slot (`ward_proto::socket`). A request
//! that cannot be answered yet (an `Accept` with no connection pending, a
//! `Receive` with no data, a `Send` with no room, a `Connect` in progress) is
//! *parked* with its buffer and answered when it can be.
//!
//! An application that breaks the ring protocol stalls only its own session
//! ([`Session::broken`]) until it attaches again.

use heapless::Deque;
use ward_proto::socket::{SocketError, SocketReply, SocketResponse, HEADER_BYTES};
use ward_ring::{Buffer, PairEnd, PeerMisbehaved, PoolMemory, RingMemory, SendError};

/// Largest pool slot a session accepts: the stack copies a whole request
/// into a private buffer of this size (on its stack), so a larger slot would
/// cut requests short. Socket pools use 2 KiB slots.
pub const MAX_SLOT_BYTES: usize = 4096;

/// Requests and answers one session can hold at once. The stack holds at
/// most as many buffers as the application's pool has slots; this bounds
/// the pools the stack can serve (64 slots: 128 KiB of 2 KiB buffers, the
/// default system's socket pools).
pub const MAX_HELD: usize = 64;

/// A request the stack holds until it can answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parked {
    /// The application's buffer holding the request.
    pub buffer: Buffer,
    /// The request's id.
    pub request_id: u32,
    /// What it waits for.
    pub wait: Wait,
}

/// What a parked request waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A connection to accept on this listener.
    Accept {
        /// The listening socket.
        socket: u32,
    },
    /// Data (or the end of the stream) on this socket.
    Receive {
        /// The socket.
        socket: u32,
        /// Most bytes wanted.
        max_len: u32,
    },
    /// Room to send `len` bytes of the payload that follows the header.
    Send {
        /// The socket.
        socket: u32,
        /// Payload bytes in the request.
        len: u32,
        /// Destination for an unconnected UDP socket.
        to: Option<ward_proto::socket::Endpoint>,
    },
    /// The connection to be established or refused.
    Connect {
        /// The socket.
        socket: u32,
    },
}

impl Wait {
    /// The socket the request is about.
    pub fn socket(&self) -> u32 {
        match *self {
            Wait::Accept { socket }
            | Wait::Receive { socket, .. }
            | Wait::Send { socket, .. }
            | Wait::Connect { socket } => socket,
        }
    }

    /// The request's operation code.
    pub fn op(&self) -> u16 {
        use ward_proto::socket::{OP_ACCEPT, OP_CONNECT, OP_RECEIVE, OP_SEND};
        match self {
            Wait::Accept { .. } => OP_ACCEPT,
            Wait::Receive { .. } => OP_RECEIVE,
            Wait::Send { .. } => OP_SEND,
            Wait::Connect { .. } => OP_CONNECT,
        }
    }
}

/// One application's session.
pub struct Session<'a, M, const W: usize> {
    /// The kernel badge the application's `net-api` calls carry.
    pub badge: u64,
    pool: PoolMemory<'a>,
    end: Option<PairEnd<M, W>>,
    /// Requests waiting, in arrival order.
    pub parked: Deque<Parked, MAX_HELD>,
    /// Answers waiting for room on the return ring.
    outbox: Deque<Buffer, MAX_HELD>,
    /// The application broke the ring protocol: nothing moves until it attaches again.
    pub broken: bool,
    /// Ring the application's doorbell after this round.
    pub doorbell: bool,
}

impl<'a, M: RingMemory, const W: usize> Session<'a, M, W> {
    /// A session for the application calling with `badge`, over its `pool`
    /// (not attached yet).
    pub fn new(badge: u64, pool: PoolMemory<'a>) -> Self {
        Self {
            badge,
            pool,
            end: None,
            parked: Deque::new(),
            outbox: Deque::new(),
            broken: false,
            doorbell: false,
        }
    }

    /// The application's pool.
    pub fn pool(&self) -> &PoolMemory<'a> {
        &self.pool
    }

    /// True once attached and not broken.
    pub fn active(&self) -> bool {
        self.end.is_some() && !self.broken
    }

    /// Starts serving `end` (a fresh attachment): everything held for an
    /// earlier attachment is forgotten, since the application initialised
    /// its region again and holds every buffer.
    pub fn attach(&mut self, end: PairEnd<M, W>) {
        self.end = Some(end);
        self.parked.clear();
        self.outbox.clear();
        self.broken = false;
        self.doorbell = false;
    }

    /// Buffers the stack holds from this application.
    pub fn held(&self) -> u32 {
        self.end.as_ref().map_or(0, |e| e.held().len())
    }

    /// The next request buffer, or `None`. An error is one protocol
    /// violation by the application, already handled (the session stalls if
    /// it must); the caller counts it.
    pub fn next_request(&mut self) -> Result<Option<Buffer>, PeerMisbehaved> {
        let Some(end) = self.end.as_mut().filter(|_| !self.broken) else {
            return Ok(None);
        };
        match end.receive() {
            Ok(b) => Ok(b),
            Err(e) => {
                self.broken |= stalls(&e);
                Err(e)
            }
        }
    }

    /// Copies a request out of the pool into `out` (a private copy); its length.
    pub fn read_request(&self, buffer: &Buffer, out: &mut [u8; MAX_SLOT_BYTES]) -> usize {
        self.pool.read(buffer, &mut out[..]).unwrap_or(0)
    }

    /// Copies `len` payload bytes of a parked `Send` out of the pool.
    pub fn read_payload(&self, buffer: &Buffer, len: u32, out: &mut [u8]) -> usize {
        let geometry = self.pool.geometry();
        let whole = geometry.whole_slot(*buffer);
        let start = buffer.offset() - whole.offset() + HEADER_BYTES as u32;
        let n = (len as usize).min(out.len());
        self.pool
            .read_from(&whole, start, &mut out[..n])
            .unwrap_or(0)
    }

    /// Writes `response` (with `data` for a receive) into `buffer`'s slot and
    /// hands the buffer back.
    pub fn answer(
        &mut self,
        buffer: Buffer,
        request_id: u32,
        op: u16,
        socket: u32,
        result: Result<SocketReply<'_>, SocketError>,
    ) {
        let mut message = [0u8; MAX_SLOT_BYTES];
        let geometry = self.pool.geometry();
        let room = (geometry.slot_size() as usize).min(MAX_SLOT_BYTES);
        let response = SocketResponse {
            op,
            request_id,
            socket,
            result,
        };
        // The stack sizes data to fit a slot; an encoding error means a bug
        // here, answered as an error rather than lost.
        let n = match response.encode(&mut message[..room]) {
            Ok(n) => n,
            Err(_) => SocketResponse {
                op,
                request_id,
                socket,
                result: Err(SocketError::InvalidArgument),
            }
            .encode(&mut message[..room])
            .unwrap_or(0),
        };
        let whole = geometry.whole_slot(buffer);
        let _ = self.pool.write(&whole, &message[..n]);
        let Ok(sized) = geometry.with_len(whole, n as u32) else {
            return;
        };
        self.give_back(sized.with_cookie(request_id).with_flags(0));
    }

    fn give_back(&mut self, buffer: Buffer) {
        if !self.outbox.is_empty() {
            let _ = self.outbox.push_back(buffer);
            return;
        }
        let Some(end) = self.end.as_mut() else { return };
        match end.send(buffer) {
            Ok(()) => {}
            Err(SendError::Full(b)) => {
                let _ = self.outbox.push_back(b);
            }
            Err(SendError::NotHeld(_)) => {}
            Err(SendError::Peer(e, _)) => {
                self.broken |= stalls(&e);
            }
        }
    }

    /// Sends answers that waited for room, frees the request ring's slots,
    /// publishes, and notes whether the application asked for a doorbell.
    pub fn flush(&mut self) {
        let Some(end) = self.end.as_mut().filter(|_| !self.broken) else {
            return;
        };
        while let Some(buffer) = self.outbox.front().copied() {
            match end.send(buffer) {
                Ok(()) | Err(SendError::NotHeld(_)) => {
                    self.outbox.pop_front();
                }
                Err(SendError::Full(_)) => break,
                Err(SendError::Peer(e, _)) => {
                    self.broken |= stalls(&e);
                    return;
                }
            }
        }
        let released = end.release();
        let published = end.publish();
        if released.or(published).should_signal() {
            self.doorbell = true;
        }
    }

    /// Asks the application to ring when it lends more requests (or frees
    /// room for waiting answers); false if there is work now.
    pub fn prepare_sleep(&mut self) -> bool {
        use ward_ring::WaitDecision;
        let Some(end) = self.end.as_mut().filter(|_| !self.broken) else {
            return true;
        };
        let mut sleep = true;
        match end.prepare_wait_incoming(1) {
            Ok(WaitDecision::Ready) => sleep = false,
            Ok(_) => {}
            Err(e) => {
                self.broken |= stalls(&e);
            }
        }
        if !self.outbox.is_empty() {
            match end.prepare_wait_outgoing(1) {
                Ok(WaitDecision::Ready) => sleep = false,
                Ok(_) => {}
                Err(e) => {
                    self.broken |= stalls(&e);
                }
            }
        }
        sleep
    }
}

/// Whether a violation stalls the session. A bad descriptor was consumed and
/// is simply not served; a buffer handed over twice is refused by the ring.
/// Only an index out of range repeats on every call: that stalls the session
/// until the application attaches again.
fn stalls(error: &PeerMisbehaved) -> bool {
    matches!(error, PeerMisbehaved::IndexOutOfRange { .. })
}
