//! The bench services of the Linux-vs-Ward benchmark (docs/network.md has
//! the contract), as an event-driven state machine over the socket protocol:
//!
//! | port | proto | behaviour |
//! |---|---|---|
//! | 7 | UDP | echo each datagram back unchanged |
//! | 7 | TCP | echo every byte until the client closes |
//! | 9 | TCP | sink: count bytes until EOF, answer the count (8 bytes LE), close |
//! | 19 | TCP | source: read an 8-byte LE count N, send N bytes `i % 251`, close |
//! | 9000 | UDP | counters: `tsc=… idle_tsc=… udp_rx=…\n` |
//!
//! [`Services::start`] opens the sockets; every answer from the stack goes
//! to [`Services::on_answer`], which submits what follows. Each request id
//! says what it is for (role, connection index, a sequence number), so the
//! answers can come in any order. Nothing here calls the kernel: the
//! component's `main.rs` moves answers in and doorbells out, and the host
//! tests drive the same code against the real stack library.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use ward_proto::client::{ClientError, SocketClient, Tag};
use ward_proto::socket::{
    Endpoint, Protocol, SocketError, SocketReply, SocketRequest, SocketResponse,
};
use ward_ring::RingMemory;

/// UDP and TCP echo.
pub const ECHO_PORT: u16 = 7;
/// TCP sink.
pub const SINK_PORT: u16 = 9;
/// TCP source.
pub const SOURCE_PORT: u16 = 19;
/// UDP counters.
pub const COUNTERS_PORT: u16 = 9000;

/// Connections served at once. Each holds one request buffer at a time;
/// when the pool runs short, further clients wait in the stack's backlog.
pub const MAX_CONNECTIONS: usize = 72;
/// Receives kept outstanding on the UDP echo socket, so that a burst of
/// datagrams finds a request waiting for each (the stack also queues them).
pub const UDP_RECEIVES: usize = 4;
/// TCP listen backlog of the echo service. Each slot of a backlog is a
/// listening smoltcp socket that every pass of the stack walks, so it costs
/// instructions on every packet (docs/benchmarks.md): 16 keeps 64 clients
/// opening within a second or two (a SYN beyond the backlog is dropped and
/// retried) at 12 % fewer of the stack's instructions per UDP echo than 40.
pub const ECHO_BACKLOG: u32 = 16;
/// TCP listen backlog of the sink and the source (one bulk transfer at a time).
pub const BULK_BACKLOG: u32 = 4;
/// Payload of one send on a connection (fits a 2 KiB slot after the header).
const CHUNK: usize = 1024;

/// Where the counters service gets its figures.
pub trait Clock {
    /// The TSC now.
    fn tsc(&self) -> u64;
    /// TSC ticks the kernel's idle thread has run since boot, if the kernel
    /// publishes them.
    fn idle_tsc(&self) -> Option<u64>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Role {
    UdpEcho = 1,
    UdpCounters = 2,
    ListenEcho = 3,
    ListenSink = 4,
    ListenSource = 5,
    Connection = 6,
}

impl Role {
    fn from(v: u8) -> Option<Role> {
        Some(match v {
            1 => Role::UdpEcho,
            2 => Role::UdpCounters,
            3 => Role::ListenEcho,
            4 => Role::ListenSink,
            5 => Role::ListenSource,
            6 => Role::Connection,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Echo,
    Sink,
    Source,
}

/// One TCP connection's state.
#[derive(Clone, Copy, Debug)]
struct Connection {
    socket: u32,
    kind: Kind,
    /// Echo: bytes of `pending` still to send back. Sink: bytes counted.
    /// Source: bytes still to send.
    count: u64,
    /// Source: how many of the count's 8 bytes arrived, and the bytes.
    header: [u8; 8],
    header_len: u8,
    /// Source: bytes sent so far (the pattern's index).
    sent: u64,
    /// Echo: data received and not yet echoed.
    pending: [u8; CHUNK],
    pending_len: u16,
    pending_at: u16,
    /// The last send is out: close once it is answered.
    closing: bool,
}

impl Connection {
    const fn new(socket: u32, kind: Kind) -> Self {
        Self {
            socket,
            kind,
            count: 0,
            header: [0; 8],
            header_len: 0,
            sent: 0,
            pending: [0; CHUNK],
            pending_len: 0,
            pending_at: 0,
            closing: false,
        }
    }
}

/// A listening or datagram socket and how far its set-up got.
#[derive(Clone, Copy, Debug, Default)]
struct Service {
    socket: u32,
    ready: bool,
}

/// Figures the services keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams the UDP echo received.
    pub udp_rx: u64,
    /// TCP connections accepted.
    pub accepted: u64,
    /// Requests the stack refused (by error), for the log.
    pub refused: u64,
}

/// The services.
pub struct Services {
    udp_echo: Service,
    udp_counters: Service,
    listeners: [Service; 3],
    connections: [Option<Connection>; MAX_CONNECTIONS],
    /// Accepts waiting for a free connection slot or buffer.
    accepts_owed: [bool; 3],
    /// UDP echo receives not yet posted (for lack of buffers).
    receives_owed: usize,
    stats: Stats,
}

const LISTEN: [(Role, u16); 3] = [
    (Role::ListenEcho, ECHO_PORT),
    (Role::ListenSink, SINK_PORT),
    (Role::ListenSource, SOURCE_PORT),
];

/// The steps a request's tag names.
const OP_SETUP_OPEN: u8 = 0;
const OP_SETUP_BIND: u8 = 1;
const OP_SETUP_LISTEN: u8 = 2;
const OP_WORK: u8 = 3;

impl Default for Services {
    fn default() -> Self {
        Self::new()
    }
}

impl Services {
    /// Nothing open yet.
    pub const fn new() -> Self {
        Self {
            udp_echo: Service {
                socket: 0,
                ready: false,
            },
            udp_counters: Service {
                socket: 0,
                ready: false,
            },
            listeners: [Service {
                socket: 0,
                ready: false,
            }; 3],
            connections: [None; MAX_CONNECTIONS],
            accepts_owed: [false; 3],
            receives_owed: 0,
            stats: Stats {
                udp_rx: 0,
                accepted: 0,
                refused: 0,
            },
        }
    }

    /// The figures so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// True once every socket is bound (and listening).
    pub fn ready(&self) -> bool {
        self.udp_echo.ready && self.udp_counters.ready && self.listeners.iter().all(|l| l.ready)
    }

    /// Opens every socket (the rest of the set-up follows the answers).
    pub fn start<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
    ) -> Result<(), ClientError> {
        let udp = SocketRequest::Open {
            protocol: Protocol::Udp,
        };
        let tcp = SocketRequest::Open {
            protocol: Protocol::Tcp,
        };
        let id = client.id(Tag::new(Role::UdpEcho as u8, 0, OP_SETUP_OPEN));
        client.submit(id, udp)?;
        let id = client.id(Tag::new(Role::UdpCounters as u8, 0, OP_SETUP_OPEN));
        client.submit(id, udp)?;
        for (index, (role, _)) in LISTEN.iter().enumerate() {
            let id = client.id(Tag::new(*role as u8, index, OP_SETUP_OPEN));
            client.submit(id, tcp)?;
        }
        Ok(())
    }

    /// Reacts to one answer from the stack.
    pub fn on_answer<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        answer: &SocketResponse<'_>,
        clock: &dyn Clock,
    ) -> Result<(), ClientError> {
        let id = answer.request_id;
        let tag = Tag::of(id);
        let (role, index, op) = (Role::from(tag.role), usize::from(tag.index), tag.step);
        let Some(role) = role else { return Ok(()) };
        if answer.result.is_err() {
            self.stats.refused += 1;
        }
        match role {
            Role::UdpEcho | Role::UdpCounters => {
                let port = if role == Role::UdpEcho {
                    ECHO_PORT
                } else {
                    COUNTERS_PORT
                };
                self.on_udp(client, role, port, op, answer, clock)
            }
            Role::ListenEcho | Role::ListenSink | Role::ListenSource => {
                self.on_listener(client, role, index.min(2), op, answer)
            }
            Role::Connection => self.on_connection(client, index, answer),
        }?;
        self.pay_debts(client)
    }

    fn service(&mut self, role: Role) -> &mut Service {
        match role {
            Role::UdpEcho => &mut self.udp_echo,
            Role::UdpCounters => &mut self.udp_counters,
            Role::ListenEcho => &mut self.listeners[0],
            Role::ListenSink => &mut self.listeners[1],
            _ => &mut self.listeners[2],
        }
    }

    fn on_udp<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        role: Role,
        port: u16,
        op: u8,
        answer: &SocketResponse<'_>,
        clock: &dyn Clock,
    ) -> Result<(), ClientError> {
        match (op, answer.result) {
            (OP_SETUP_OPEN, Ok(SocketReply::Opened { socket })) => {
                self.service(role).socket = socket;
                let id = client.id(Tag::new(role as u8, 0, OP_SETUP_BIND));
                client.submit(
                    id,
                    SocketRequest::Bind {
                        socket,
                        local: Endpoint { addr: [0; 4], port },
                    },
                )
            }
            (OP_SETUP_BIND, Ok(SocketReply::Done)) => {
                self.service(role).ready = true;
                let receives = if role == Role::UdpEcho {
                    UDP_RECEIVES
                } else {
                    1
                };
                for _ in 0..receives {
                    self.udp_receive(client, role)?;
                }
                Ok(())
            }
            (OP_WORK, Ok(SocketReply::Received { from, data })) => {
                let socket = self.service(role).socket;
                let id = client.id(Tag::new(role as u8, 0, OP_WORK));
                if role == Role::UdpEcho {
                    self.stats.udp_rx += 1;
                    // The reply takes a buffer; the next receive too.
                    client.submit(
                        id,
                        SocketRequest::Send {
                            socket,
                            to: Some(from),
                            payload: data,
                        },
                    )?;
                } else {
                    let mut line = LineWriter::default();
                    let idle = clock.idle_tsc();
                    line.text("tsc=");
                    line.number(clock.tsc());
                    line.text(" idle_tsc=");
                    // Never a made-up figure: until the kernel publishes its
                    // idle time the field says so, and a parser fails loudly.
                    match idle {
                        Some(idle) => line.number(idle),
                        None => line.text("unavailable"),
                    }
                    line.text(" udp_rx=");
                    line.number(self.stats.udp_rx);
                    line.text("\n");
                    client.submit(
                        id,
                        SocketRequest::Send {
                            socket,
                            to: Some(from),
                            payload: line.bytes(),
                        },
                    )?;
                }
                self.udp_receive(client, role)
            }
            // A send finished (or failed): nothing follows from it.
            (OP_WORK, _) => Ok(()),
            _ => Ok(()),
        }
    }

    fn udp_receive<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        role: Role,
    ) -> Result<(), ClientError> {
        let socket = self.service(role).socket;
        let id = client.id(Tag::new(role as u8, 0, OP_WORK));
        let max_len = client.room() as u32;
        match client.submit(id, SocketRequest::Receive { socket, max_len }) {
            Err(ClientError::NoBuffer) if role == Role::UdpEcho => {
                self.receives_owed += 1;
                Ok(())
            }
            other => other,
        }
    }

    fn on_listener<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        role: Role,
        index: usize,
        op: u8,
        answer: &SocketResponse<'_>,
    ) -> Result<(), ClientError> {
        let port = LISTEN[index].1;
        match (op, answer.result) {
            (OP_SETUP_OPEN, Ok(SocketReply::Opened { socket })) => {
                self.listeners[index].socket = socket;
                let id = client.id(Tag::new(role as u8, index, OP_SETUP_BIND));
                client.submit(
                    id,
                    SocketRequest::Bind {
                        socket,
                        local: Endpoint { addr: [0; 4], port },
                    },
                )
            }
            (OP_SETUP_BIND, Ok(SocketReply::Done)) => {
                let socket = self.listeners[index].socket;
                let id = client.id(Tag::new(role as u8, index, OP_SETUP_LISTEN));
                client.submit(
                    id,
                    SocketRequest::Listen {
                        socket,
                        backlog: if index == 0 {
                            ECHO_BACKLOG
                        } else {
                            BULK_BACKLOG
                        },
                    },
                )
            }
            (OP_SETUP_LISTEN, Ok(SocketReply::Done)) => {
                self.listeners[index].ready = true;
                self.accept(client, index)
            }
            (OP_WORK, Ok(SocketReply::Accepted { socket, .. })) => {
                self.stats.accepted += 1;
                let kind = [Kind::Echo, Kind::Sink, Kind::Source][index];
                match self.connections.iter().position(Option::is_none) {
                    Some(slot) => {
                        self.connections[slot] = Some(Connection::new(socket, kind));
                        self.receive(client, slot)?;
                    }
                    None => {
                        // Cannot happen: accepts are only posted with a free
                        // slot. Close rather than leak the socket.
                        let id = client.id(Tag::new(Role::Connection as u8, 0, OP_SETUP_OPEN));
                        client.submit(id, SocketRequest::Close { socket })?;
                    }
                }
                self.accept(client, index)
            }
            (OP_WORK, Err(_)) => self.accept(client, index),
            _ => Ok(()),
        }
    }

    fn accept<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        index: usize,
    ) -> Result<(), ClientError> {
        // Keep one buffer per other listener and one for the UDP echo's
        // reply, so a burst of connections cannot starve them.
        let free_slots = self.connections.iter().filter(|c| c.is_none()).count();
        if free_slots == 0 || client.free() < 4 {
            self.accepts_owed[index] = true;
            return Ok(());
        }
        let socket = self.listeners[index].socket;
        let id = client.id(Tag::new(LISTEN[index].0 as u8, index, OP_WORK));
        match client.submit(id, SocketRequest::Accept { socket }) {
            Err(ClientError::NoBuffer) => {
                self.accepts_owed[index] = true;
                Ok(())
            }
            other => {
                self.accepts_owed[index] = false;
                other
            }
        }
    }

    /// Posts what waited for a buffer or a connection slot.
    fn pay_debts<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
    ) -> Result<(), ClientError> {
        while self.receives_owed > 0 && client.free() > 2 {
            self.receives_owed -= 1;
            self.udp_receive(client, Role::UdpEcho)?;
        }
        for index in 0..3 {
            if self.accepts_owed[index] && self.listeners[index].ready {
                self.accept(client, index)?;
            }
        }
        Ok(())
    }

    fn receive<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        slot: usize,
    ) -> Result<(), ClientError> {
        let Some(c) = self.connections[slot] else {
            return Ok(());
        };
        let want = match c.kind {
            Kind::Source => 8 - u32::from(c.header_len),
            _ => client.room().min(CHUNK) as u32,
        };
        let id = client.id(Tag::new(Role::Connection as u8, slot, OP_WORK));
        client.submit(
            id,
            SocketRequest::Receive {
                socket: c.socket,
                max_len: want,
            },
        )
    }

    fn send<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        slot: usize,
        payload: &[u8],
    ) -> Result<(), ClientError> {
        let Some(c) = self.connections[slot] else {
            return Ok(());
        };
        let id = client.id(Tag::new(Role::Connection as u8, slot, OP_WORK));
        client.submit(
            id,
            SocketRequest::Send {
                socket: c.socket,
                to: None,
                payload,
            },
        )
    }

    fn close<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        slot: usize,
    ) -> Result<(), ClientError> {
        let Some(c) = self.connections[slot].take() else {
            return Ok(());
        };
        // The close's answer carries the connection index of a slot that
        // may be reused: OP_SETUP_OPEN marks it as "ignore".
        let id = client.id(Tag::new(Role::Connection as u8, slot, OP_SETUP_OPEN));
        client.submit(id, SocketRequest::Close { socket: c.socket })
    }

    fn on_connection<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        slot: usize,
        answer: &SocketResponse<'_>,
    ) -> Result<(), ClientError> {
        if Tag::of(answer.request_id).step != OP_WORK {
            return Ok(()); // a close's answer
        }
        let Some(mut c) = self.connections.get(slot).copied().flatten() else {
            return Ok(());
        };
        if c.socket != answer.socket {
            return Ok(());
        }
        if c.closing {
            return self.close(client, slot);
        }
        match (c.kind, answer.result) {
            // The peer finished sending: the sink answers its count, the
            // others close their end.
            (_, Ok(SocketReply::Received { data: [], .. })) => {
                if c.kind == Kind::Sink {
                    c.closing = true;
                    self.connections[slot] = Some(c);
                    return self.send(client, slot, &c.count.to_le_bytes());
                }
                self.close(client, slot)
            }
            (_, Err(SocketError::WouldBlock)) => self.receive(client, slot),
            (_, Err(_)) => self.close(client, slot),
            (Kind::Echo, Ok(SocketReply::Received { data, .. })) => {
                let n = data.len().min(CHUNK);
                c.pending[..n].copy_from_slice(&data[..n]);
                c.pending_len = n as u16;
                c.pending_at = 0;
                self.connections[slot] = Some(c);
                self.send(client, slot, &c.pending[..n])
            }
            (Kind::Echo, Ok(SocketReply::Sent { accepted })) => {
                c.pending_at += accepted as u16;
                self.connections[slot] = Some(c);
                if c.pending_at < c.pending_len {
                    let rest = c.pending;
                    self.send(
                        client,
                        slot,
                        &rest[usize::from(c.pending_at)..usize::from(c.pending_len)],
                    )
                } else {
                    self.receive(client, slot)
                }
            }
            (Kind::Sink, Ok(SocketReply::Received { data, .. })) => {
                c.count += data.len() as u64;
                self.connections[slot] = Some(c);
                self.receive(client, slot)
            }
            (Kind::Source, Ok(SocketReply::Received { data, .. })) => {
                let take = data.len().min(8 - usize::from(c.header_len));
                let at = usize::from(c.header_len);
                c.header[at..at + take].copy_from_slice(&data[..take]);
                c.header_len += take as u8;
                if c.header_len < 8 {
                    self.connections[slot] = Some(c);
                    return self.receive(client, slot);
                }
                c.count = u64::from_le_bytes(c.header);
                c.sent = 0;
                self.connections[slot] = Some(c);
                self.source_next(client, slot)
            }
            (Kind::Source, Ok(SocketReply::Sent { accepted })) => {
                c.sent += u64::from(accepted);
                self.connections[slot] = Some(c);
                self.source_next(client, slot)
            }
            _ => Ok(()),
        }
    }

    fn source_next<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        slot: usize,
    ) -> Result<(), ClientError> {
        let Some(c) = self.connections[slot] else {
            return Ok(());
        };
        if c.sent >= c.count {
            return self.close(client, slot);
        }
        let n = ((c.count - c.sent) as usize)
            .min(client.room())
            .min(CHUNK * 2);
        let mut chunk = [0u8; CHUNK * 2];
        pattern(c.sent, &mut chunk[..n]);
        self.send(client, slot, &chunk[..n])
    }
}

/// Fills `out` with the bench pattern from byte index `from` on: byte i is `i % 251`.
pub fn pattern(from: u64, out: &mut [u8]) {
    let mut value = (from % 251) as u8;
    for byte in out {
        *byte = value;
        value = if value == 250 { 0 } else { value + 1 };
    }
}

/// A small line of ASCII text built without allocation.
struct LineWriter {
    bytes: [u8; 96],
    len: usize,
}

impl Default for LineWriter {
    fn default() -> Self {
        Self {
            bytes: [0; 96],
            len: 0,
        }
    }
}

impl LineWriter {
    fn text(&mut self, s: &str) {
        for b in s.bytes() {
            if self.len < self.bytes.len() {
                self.bytes[self.len] = b;
                self.len += 1;
            }
        }
    }

    fn number(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[i..] {
            if self.len < self.bytes.len() {
                self.bytes[self.len] = d;
                self.len += 1;
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_wraps_at_251() {
        let mut out = [0u8; 600];
        pattern(0, &mut out);
        assert_eq!(out[250], 250);
        assert_eq!(out[251], 0);
        let mut tail = [0u8; 10];
        pattern(500, &mut tail);
        assert_eq!(tail[0], (500 % 251) as u8);
    }

    #[test]
    fn counter_line_format() {
        let mut line = LineWriter::default();
        line.text("tsc=");
        line.number(1234567890123);
        line.text(" x=");
        line.number(0);
        assert_eq!(line.bytes(), b"tsc=1234567890123 x=0");
    }
}
