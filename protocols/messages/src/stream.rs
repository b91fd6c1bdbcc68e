//! Byte streams over ring pairs, as `embedded-io` `Read` and `Write`.
//!
//! - [`SocketStream`]: a TCP connection through the network stack, spoken
//!   with the [`socket`](crate::socket) protocol. One request is in flight at
//!   a time; each call blocks (through the caller's [`Doorbell`]) until the
//!   stack answers.
//! - [`ConsoleWriter`] / [`ChannelReader`]: a plain byte channel, for
//!   example an application's console to the serial driver. The writer owns
//!   the pool and lends buffers full of bytes; the reader copies them out
//!   and gives the buffers back.
//!
//! Bytes are always copied out of the shared pool into a private buffer
//! before they are decoded or handed to the caller.

use embedded_io::{ErrorKind, ErrorType};
use ward_ring::{Buffer, PairEnd, PeerMisbehaved, PoolMemory, RingMemory, SendError, WaitDecision};

use crate::socket::{
    Endpoint, Protocol, SocketError, SocketReply, SocketRequest, SocketResponse, HEADER_BYTES,
    OP_CONNECT, OP_RECEIVE, OP_SEND,
};
use crate::wire::ProtoError;

/// How an adapter tells the peer to look, and how it waits for the peer. On
/// Ward: `ring` signals the peer's notification, `wait` waits on ours.
pub trait Doorbell {
    /// Wake the peer.
    fn ring(&mut self);
    /// Block until the peer rings (returning early is allowed).
    fn wait(&mut self);
}

/// Largest buffer an adapter copies at once; it lives on the caller's stack.
/// 2 KiB covers a packet-pool slot holding a full Ethernet frame.
pub const STREAM_COPY_BYTES: usize = 2048;

/// Why a stream operation failed, and who is at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// The peer broke the ring protocol.
    Peer(PeerMisbehaved),
    /// The peer sent a malformed message.
    Protocol(ProtoError),
    /// The peer answered a different request than the one in flight.
    UnexpectedAnswer {
        /// The id we waited for.
        expected: u32,
        /// The id that came.
        got: u32,
    },
    /// The stack refused the request.
    Socket(SocketError),
    /// A pool slot is too small for even a message header (a configuration error).
    SlotTooSmall,
    /// A buffer from the peer falls outside our pool mapping.
    OutsidePool,
}

impl embedded_io::Error for StreamError {
    fn kind(&self) -> ErrorKind {
        match self {
            StreamError::Socket(SocketError::ConnectionRefused) => ErrorKind::ConnectionRefused,
            StreamError::Socket(SocketError::ConnectionReset) => ErrorKind::ConnectionReset,
            StreamError::Socket(SocketError::NotConnected) => ErrorKind::NotConnected,
            StreamError::Socket(SocketError::AddressInUse) => ErrorKind::AddrInUse,
            StreamError::Socket(SocketError::TimedOut) => ErrorKind::TimedOut,
            StreamError::Socket(SocketError::Closed) => ErrorKind::BrokenPipe,
            StreamError::Socket(SocketError::InvalidArgument) => ErrorKind::InvalidInput,
            StreamError::Socket(SocketError::NoResources) => ErrorKind::OutOfMemory,
            StreamError::Protocol(_) | StreamError::UnexpectedAnswer { .. } => {
                ErrorKind::InvalidData
            }
            _ => ErrorKind::Other,
        }
    }
}

impl From<PeerMisbehaved> for StreamError {
    fn from(e: PeerMisbehaved) -> Self {
        StreamError::Peer(e)
    }
}

impl From<ProtoError> for StreamError {
    fn from(e: ProtoError) -> Self {
        StreamError::Protocol(e)
    }
}

/// The owner side of a pair plus its pool: take a free buffer, hand it over,
/// wait for buffers to come back.
struct OwnerChannel<'a, M, D, const W: usize> {
    end: PairEnd<M, W>,
    pool: PoolMemory<'a>,
    doorbell: D,
}

impl<'a, M: RingMemory, D: Doorbell, const W: usize> OwnerChannel<'a, M, D, W> {
    /// Bytes a message may occupy in one buffer.
    fn room(&self) -> usize {
        (self.pool.geometry().slot_size() as usize).min(STREAM_COPY_BYTES)
    }

    /// A held buffer covering a whole slot, waiting for one to come back if
    /// all are lent (a returned buffer is held again, whatever it carries).
    fn free_buffer(&mut self) -> Result<Buffer, StreamError> {
        loop {
            if let Some(slot) = self.end.held().first() {
                let buffer = self
                    .pool
                    .geometry()
                    .buffer(slot, 0, self.pool.geometry().slot_size());
                return buffer.map_err(|_| StreamError::OutsidePool);
            }
            self.next_returned()?;
        }
    }

    /// Lends `buffer` holding `bytes` and wakes the peer if it asked.
    fn lend(&mut self, buffer: Buffer, bytes: &[u8]) -> Result<(), StreamError> {
        let written = self
            .pool
            .write(&buffer, bytes)
            .map_err(|_| StreamError::OutsidePool)?;
        let sized = self
            .pool
            .geometry()
            .with_len(buffer, written as u32)
            .map_err(|_| StreamError::OutsidePool)?;
        let mut pending = sized;
        loop {
            match self.end.send(pending) {
                Ok(()) => break,
                Err(SendError::Full(b)) => {
                    pending = b;
                    if self.end.prepare_wait_outgoing(1)? == WaitDecision::Sleep {
                        self.doorbell.wait();
                    }
                }
                Err(SendError::Peer(e, _)) => return Err(e.into()),
                Err(SendError::NotHeld(_)) => return Err(StreamError::OutsidePool),
            }
        }
        if self.end.publish().should_signal() {
            self.doorbell.ring();
        }
        Ok(())
    }

    /// The next buffer the peer gives back, waiting for it.
    fn next_returned(&mut self) -> Result<Buffer, StreamError> {
        loop {
            if let Some(buffer) = self.end.receive()? {
                if self.end.release().should_signal() {
                    self.doorbell.ring();
                }
                return Ok(buffer);
            }
            match self.end.prepare_wait_incoming(1)? {
                WaitDecision::Sleep => self.doorbell.wait(),
                WaitDecision::Ready => {}
                WaitDecision::Poll => core::hint::spin_loop(),
            }
        }
    }
}

/// A TCP connection through the network stack. The application side owns
/// the pair and its pool.
pub struct SocketStream<'a, M, D, const W: usize> {
    channel: OwnerChannel<'a, M, D, W>,
    socket: u32,
    next_request: u32,
}

impl<'a, M: RingMemory, D: Doorbell, const W: usize> SocketStream<'a, M, D, W> {
    /// Opens a TCP socket and connects it to `remote`. `end` must be the
    /// owner end of the application's socket pair, over `pool`.
    pub fn connect(
        end: PairEnd<M, W>,
        pool: PoolMemory<'a>,
        doorbell: D,
        remote: Endpoint,
    ) -> Result<Self, StreamError> {
        if (pool.geometry().slot_size() as usize) <= HEADER_BYTES {
            return Err(StreamError::SlotTooSmall);
        }
        let mut stream = Self {
            channel: OwnerChannel {
                end,
                pool,
                doorbell,
            },
            socket: 0,
            next_request: 1,
        };
        let mut scratch = [0u8; STREAM_COPY_BYTES];
        let socket = match stream.call(
            SocketRequest::Open {
                protocol: Protocol::Tcp,
            },
            &mut scratch,
        )? {
            (SocketReply::Opened { socket }, _) => socket,
            _ => {
                return Err(StreamError::Protocol(ProtoError::UnknownKind(
                    OP_CONNECT.into(),
                )))
            }
        };
        stream.socket = socket;
        stream.call(SocketRequest::Connect { socket, remote }, &mut scratch)?;
        Ok(stream)
    }

    /// The stack's socket number.
    pub fn socket(&self) -> u32 {
        self.socket
    }

    /// Closes the socket and gives back the pair end.
    pub fn close(mut self) -> Result<PairEnd<M, W>, StreamError> {
        let mut scratch = [0u8; STREAM_COPY_BYTES];
        self.call(
            SocketRequest::Close {
                socket: self.socket,
            },
            &mut scratch,
        )?;
        Ok(self.channel.end)
    }

    /// Sends one request and waits for its answer. Returns the reply and,
    /// for `Receive`, the number of data bytes, which are then at the front
    /// of `scratch`.
    fn call(
        &mut self,
        request: SocketRequest<'_>,
        scratch: &mut [u8; STREAM_COPY_BYTES],
    ) -> Result<(SocketReply<'static>, usize), StreamError> {
        let request_id = self.next_request;
        self.next_request = self.next_request.wrapping_add(1).max(1);
        let room = self.channel.room();
        let max_receive = match request {
            SocketRequest::Receive { max_len, .. } => Some(max_len),
            _ => None,
        };
        // Every earlier request has been answered, so all buffers are held.
        let buffer = self.channel.free_buffer()?;
        let mut message = [0u8; STREAM_COPY_BYTES];
        let n = request.encode(request_id, &mut message[..room])?;
        // The descriptor covers the request; the stack may write its answer
        // anywhere in the same slot (the slot is known to both sides).
        self.channel.lend(buffer, &message[..n])?;
        let answer = self.channel.next_returned()?;
        if answer.cookie() != 0 && answer.cookie() != request_id {
            return Err(StreamError::UnexpectedAnswer {
                expected: request_id,
                got: answer.cookie(),
            });
        }
        let copied = self
            .channel
            .pool
            .read(&answer, &mut scratch[..])
            .map_err(|_| StreamError::OutsidePool)?;
        let response = SocketResponse::decode(&scratch[..copied], max_receive)?;
        if response.request_id != request_id {
            return Err(StreamError::UnexpectedAnswer {
                expected: request_id,
                got: response.request_id,
            });
        }
        let reply = response.result.map_err(StreamError::Socket)?;
        // Detach the reply from `scratch`: data is moved to its front.
        Ok(match reply {
            SocketReply::Received { from, data } => {
                let len = data.len();
                scratch.copy_within(HEADER_BYTES..HEADER_BYTES + len, 0);
                (SocketReply::Received { from, data: &[] }, len)
            }
            SocketReply::Opened { socket } => (SocketReply::Opened { socket }, 0),
            SocketReply::Done => (SocketReply::Done, 0),
            SocketReply::Accepted { socket, peer } => (SocketReply::Accepted { socket, peer }, 0),
            SocketReply::Sent { accepted } => (SocketReply::Sent { accepted }, 0),
        })
    }
}

impl<M, D, const W: usize> ErrorType for SocketStream<'_, M, D, W> {
    type Error = StreamError;
}

impl<M: RingMemory, D: Doorbell, const W: usize> embedded_io::Write for SocketStream<'_, M, D, W> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, StreamError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let chunk = buf.len().min(self.channel.room() - HEADER_BYTES);
        let mut scratch = [0u8; STREAM_COPY_BYTES];
        loop {
            let request = SocketRequest::Send {
                socket: self.socket,
                to: None,
                payload: &buf[..chunk],
            };
            match self.call(request, &mut scratch) {
                Ok((SocketReply::Sent { accepted }, _)) if accepted as usize <= chunk => {
                    if accepted > 0 {
                        return Ok(accepted as usize);
                    }
                    self.channel.doorbell.wait();
                }
                Ok(_) => {
                    return Err(StreamError::Protocol(ProtoError::UnknownKind(
                        OP_SEND.into(),
                    )))
                }
                Err(StreamError::Socket(SocketError::WouldBlock)) => self.channel.doorbell.wait(),
                Err(e) => return Err(e),
            }
        }
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        // Every write waits for the stack's answer, so nothing is buffered here.
        Ok(())
    }
}

impl<M: RingMemory, D: Doorbell, const W: usize> embedded_io::Read for SocketStream<'_, M, D, W> {
    /// Returns 0 only at the end of the stream (the peer closed).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let max_len = buf.len().min(self.channel.room() - HEADER_BYTES) as u32;
        let mut scratch = [0u8; STREAM_COPY_BYTES];
        loop {
            match self.call(
                SocketRequest::Receive {
                    socket: self.socket,
                    max_len,
                },
                &mut scratch,
            ) {
                Ok((SocketReply::Received { .. }, len)) => {
                    buf[..len].copy_from_slice(&scratch[..len]);
                    return Ok(len);
                }
                Ok(_) => {
                    return Err(StreamError::Protocol(ProtoError::UnknownKind(
                        OP_RECEIVE.into(),
                    )))
                }
                Err(StreamError::Socket(SocketError::WouldBlock)) => self.channel.doorbell.wait(),
                Err(StreamError::Socket(SocketError::Closed)) => return Ok(0),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Bytes a [`ConsoleWriter`] collects before it sends a buffer: one line of
/// a wide terminal, so that each buffer is usually one whole line.
pub const CONSOLE_LINE_BYTES: usize = 256;

/// The writing end of a byte channel (owner side). Collects bytes until a
/// newline, a full line buffer or a flush, then lends one buffer with them.
pub struct ConsoleWriter<'a, M, D, const W: usize> {
    channel: OwnerChannel<'a, M, D, W>,
    line: heapless::Vec<u8, CONSOLE_LINE_BYTES>,
}

impl<'a, M: RingMemory, D: Doorbell, const W: usize> ConsoleWriter<'a, M, D, W> {
    /// A writer over the owner end of a console pair.
    pub fn new(end: PairEnd<M, W>, pool: PoolMemory<'a>, doorbell: D) -> Self {
        Self {
            channel: OwnerChannel {
                end,
                pool,
                doorbell,
            },
            line: heapless::Vec::new(),
        }
    }

    fn send_line(&mut self) -> Result<(), StreamError> {
        let mut sent = 0;
        while sent < self.line.len() {
            let buffer = self.channel.free_buffer()?;
            let take = (self.line.len() - sent).min(self.channel.room());
            self.channel.lend(buffer, &self.line[sent..sent + take])?;
            sent += take;
        }
        self.line.clear();
        Ok(())
    }
}

impl<M, D, const W: usize> ErrorType for ConsoleWriter<'_, M, D, W> {
    type Error = StreamError;
}

impl<M: RingMemory, D: Doorbell, const W: usize> embedded_io::Write for ConsoleWriter<'_, M, D, W> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, StreamError> {
        let mut taken = 0;
        for &byte in buf {
            if self.line.push(byte).is_err() {
                break;
            }
            taken += 1;
            if byte == b'\n' {
                break;
            }
        }
        if self.line.is_full() || self.line.last() == Some(&b'\n') {
            self.send_line()?;
        }
        if taken == 0 && !buf.is_empty() {
            // The line was full and has just been sent: room now.
            return self.write(buf);
        }
        Ok(taken)
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        self.send_line()
    }
}

/// The reading end of a byte channel (borrower side): copies the bytes out of
/// each buffer it is lent and gives the buffer back.
pub struct ChannelReader<'a, M, D, const W: usize> {
    end: PairEnd<M, W>,
    pool: PoolMemory<'a>,
    doorbell: D,
    /// The buffer being read and how far.
    current: Option<(Buffer, u32)>,
}

impl<'a, M: RingMemory, D: Doorbell, const W: usize> ChannelReader<'a, M, D, W> {
    /// A reader over the borrower end of a byte-channel pair.
    pub fn new(end: PairEnd<M, W>, pool: PoolMemory<'a>, doorbell: D) -> Self {
        Self {
            end,
            pool,
            doorbell,
            current: None,
        }
    }

    fn give_back(&mut self, buffer: Buffer) -> Result<(), StreamError> {
        let mut pending = self.pool.geometry().whole_slot(buffer);
        loop {
            match self.end.send(pending) {
                Ok(()) => break,
                Err(SendError::Full(b)) => {
                    pending = b;
                    if self.end.prepare_wait_outgoing(1)? == WaitDecision::Sleep {
                        self.doorbell.wait();
                    }
                }
                Err(SendError::Peer(e, _)) => return Err(e.into()),
                Err(SendError::NotHeld(_)) => return Err(StreamError::OutsidePool),
            }
        }
        if self.end.publish().should_signal() {
            self.doorbell.ring();
        }
        Ok(())
    }
}

impl<M, D, const W: usize> ErrorType for ChannelReader<'_, M, D, W> {
    type Error = StreamError;
}

impl<M: RingMemory, D: Doorbell, const W: usize> embedded_io::Read for ChannelReader<'_, M, D, W> {
    /// Blocks until at least one byte is there; never returns 0 for a non-empty `buf`.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some((buffer, done)) = self.current {
                let n = self
                    .pool
                    .read_from(&buffer, done, buf)
                    .map_err(|_| StreamError::OutsidePool)?;
                let done = done + n as u32;
                if done >= buffer.len() {
                    self.current = None;
                    self.give_back(buffer)?;
                } else {
                    self.current = Some((buffer, done));
                }
                if n > 0 {
                    return Ok(n);
                }
                continue;
            }
            match self.end.receive()? {
                Some(buffer) => {
                    if self.end.release().should_signal() {
                        self.doorbell.ring();
                    }
                    self.current = Some((buffer, 0));
                }
                None => match self.end.prepare_wait_incoming(1)? {
                    WaitDecision::Sleep => self.doorbell.wait(),
                    WaitDecision::Ready => {}
                    WaitDecision::Poll => core::hint::spin_loop(),
                },
            }
        }
    }
}
