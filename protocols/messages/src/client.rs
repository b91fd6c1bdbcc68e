//! The application side of the socket protocol with many requests in
//! flight: an event-driven server (echo, HTTP) keeps an `Accept` on each
//! listener and a `Receive` on each connection outstanding at once, and
//! reacts to answers in whatever order the stack gives them.
//!
//! The application owns the pair and the pool. [`SocketClient::submit`]
//! writes a request into a free buffer and lends it under the caller's
//! request id (unique among the requests in flight: callers encode what the
//! request is for in it); [`SocketClient::next_answer`] copies the next
//! answer out of the pool into the caller's private buffer and decodes it
//! there. [`SocketClient::flush`] publishes and says whether to ring the
//! stack's doorbell.

use heapless::Vec;
use ward_ring::{PairEnd, PeerMisbehaved, PoolMemory, RingMemory, SendError, WaitDecision};

use crate::socket::{SocketRequest, SocketResponse};
use crate::wire::ProtoError;

/// What a request is for, carried in its id so that answers arriving in any
/// order find their way: a role (which service or socket kind), an index
/// (which connection), a step (which stage of its work), and a sequence
/// number that keeps apart requests of the same role, index and step in
/// flight at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    /// The caller's role code.
    pub role: u8,
    /// The caller's index, below 2^14.
    pub index: u16,
    /// The caller's step code, below 4.
    pub step: u8,
}

const TAG_INDEX_SHIFT: u32 = 10;
const TAG_INDEX_MASK: u32 = 0x3fff;
const TAG_STEP_SHIFT: u32 = 8;
const TAG_STEP_MASK: u32 = 3;
const TAG_ROLE_SHIFT: u32 = 24;

impl Tag {
    /// A tag (index and step are cut to their widths).
    pub const fn new(role: u8, index: usize, step: u8) -> Tag {
        Tag {
            role,
            index: (index as u32 & TAG_INDEX_MASK) as u16,
            step: step & TAG_STEP_MASK as u8,
        }
    }

    /// The tag an id carries.
    pub const fn of(id: u32) -> Tag {
        Tag {
            role: (id >> TAG_ROLE_SHIFT) as u8,
            index: ((id >> TAG_INDEX_SHIFT) & TAG_INDEX_MASK) as u16,
            step: ((id >> TAG_STEP_SHIFT) & TAG_STEP_MASK) as u8,
        }
    }
}

/// Largest slot a client copies through its private buffers.
pub const MAX_SLOT_BYTES: usize = 2048;
/// Most requests in flight (and pool slots the client can track).
pub const MAX_IN_FLIGHT: usize = 256;

/// Why a client call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// Every buffer is lent: wait for answers first.
    NoBuffer,
    /// The request does not fit a buffer.
    Encode(ProtoError),
    /// The stack broke the ring protocol.
    Peer(PeerMisbehaved),
    /// The stack's answer did not decode.
    BadAnswer(ProtoError),
    /// The stack answered a request id that is not in flight.
    UnknownAnswer(u32),
    /// The stack was restarted (its generation changed): this pairing is
    /// over; the application attaches again.
    StackRestarted,
}

/// The application's end of its socket pair.
pub struct SocketClient<'a, M, const W: usize> {
    end: PairEnd<M, W>,
    pool: PoolMemory<'a>,
    /// (request id, most bytes a `Receive` asked for) of every request in flight.
    in_flight: Vec<(u32, Option<u32>), MAX_IN_FLIGHT>,
    doorbell: bool,
    sequence: u8,
}

impl<'a, M: RingMemory, const W: usize> SocketClient<'a, M, W> {
    /// A client over the owner end `end` of a freshly initialised pair and its pool.
    pub fn new(end: PairEnd<M, W>, pool: PoolMemory<'a>) -> Self {
        Self {
            end,
            pool,
            in_flight: Vec::new(),
            doorbell: false,
            sequence: 0,
        }
    }

    /// A fresh request id carrying `tag`.
    pub fn id(&mut self, tag: Tag) -> u32 {
        self.sequence = self.sequence.wrapping_add(1);
        (u32::from(tag.role) << TAG_ROLE_SHIFT)
            | (u32::from(tag.index) << TAG_INDEX_SHIFT)
            | (u32::from(tag.step) << TAG_STEP_SHIFT)
            | u32::from(self.sequence)
    }

    /// Bytes of payload one request or answer can carry.
    pub fn room(&self) -> usize {
        (self.pool.geometry().slot_size() as usize).min(MAX_SLOT_BYTES)
            - crate::socket::HEADER_BYTES
    }

    /// Buffers free for requests.
    pub fn free(&self) -> u32 {
        self.end.held().len()
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Lends `request` under `id` (not yet published: see [`flush`](Self::flush)).
    pub fn submit(&mut self, id: u32, request: SocketRequest<'_>) -> Result<(), ClientError> {
        let slot = self.end.held().first().ok_or(ClientError::NoBuffer)?;
        if self.in_flight.is_full() {
            return Err(ClientError::NoBuffer);
        }
        let geometry = self.pool.geometry();
        let whole = geometry
            .buffer(slot, 0, geometry.slot_size())
            .map_err(|_| ClientError::NoBuffer)?;
        let mut bytes = [0u8; MAX_SLOT_BYTES];
        let room = (geometry.slot_size() as usize).min(MAX_SLOT_BYTES);
        let n = request
            .encode(id, &mut bytes[..room])
            .map_err(ClientError::Encode)?;
        let _ = self.pool.write(&whole, &bytes[..n]);
        let buffer = geometry
            .with_len(whole, n as u32)
            .map_err(|_| ClientError::NoBuffer)?
            .with_cookie(id);
        match self.end.send(buffer) {
            Ok(()) => {}
            Err(SendError::Peer(e, _)) => return Err(ClientError::Peer(e)),
            // Every held buffer has a ring slot (the ring has as many
            // entries as the pool has slots, or more).
            Err(_) => return Err(ClientError::NoBuffer),
        }
        let max = match request {
            SocketRequest::Receive { max_len, .. } => Some(max_len),
            _ => None,
        };
        let _ = self.in_flight.push((id, max));
        Ok(())
    }

    /// The next answer, decoded from a private copy in `copy`.
    pub fn next_answer<'c>(
        &mut self,
        copy: &'c mut [u8; MAX_SLOT_BYTES],
    ) -> Result<Option<SocketResponse<'c>>, ClientError> {
        let Some(buffer) = self.end.receive().map_err(ClientError::Peer)? else {
            return Ok(None);
        };
        if self.end.release().should_signal() {
            self.doorbell = true;
        }
        let n = self.pool.read(&buffer, &mut copy[..]).unwrap_or(0);
        let id = buffer.cookie();
        let Some(at) = self.in_flight.iter().position(|(i, _)| *i == id) else {
            return Err(ClientError::UnknownAnswer(id));
        };
        let (_, max) = self.in_flight.swap_remove(at);
        let response = SocketResponse::decode(&copy[..n], max).map_err(ClientError::BadAnswer)?;
        if response.request_id != id {
            return Err(ClientError::UnknownAnswer(response.request_id));
        }
        Ok(Some(response))
    }

    /// Publishes what was submitted; true if the stack asked to be woken.
    pub fn flush(&mut self) -> bool {
        let published = self.end.publish().should_signal();
        published | core::mem::take(&mut self.doorbell)
    }

    /// Serves answers until the stack breaks the protocol or `wait` returns
    /// an error (the stack was restarted, say): hands each answer to
    /// `on_answer` (which submits what follows), publishes, calls `ring`
    /// when the stack asked for a doorbell, and `wait` when there is nothing
    /// to do (the caller waits on its notification there).
    pub fn serve(
        &mut self,
        mut on_answer: impl FnMut(&mut Self, &SocketResponse<'_>),
        mut ring: impl FnMut(),
        mut wait: impl FnMut() -> Result<(), ClientError>,
    ) -> ClientError {
        let mut copy = [0u8; MAX_SLOT_BYTES];
        loop {
            loop {
                match self.next_answer(&mut copy) {
                    Ok(Some(answer)) => on_answer(self, &answer),
                    Ok(None) => break,
                    Err(e) => return e,
                }
            }
            if self.flush() {
                ring();
            }
            match self.prepare_sleep() {
                Ok(true) => {
                    if let Err(e) = wait() {
                        return e;
                    }
                }
                Ok(false) => {}
                Err(e) => return e,
            }
        }
    }

    /// Asks the stack to ring when an answer arrives; false if one is
    /// already there (do not sleep).
    pub fn prepare_sleep(&mut self) -> Result<bool, ClientError> {
        match self.end.prepare_wait_incoming(1) {
            Ok(WaitDecision::Sleep) => Ok(true),
            Ok(WaitDecision::Ready) => Ok(false),
            Ok(WaitDecision::Poll) => Ok(false),
            Err(e) => Err(ClientError::Peer(e)),
        }
    }
}
