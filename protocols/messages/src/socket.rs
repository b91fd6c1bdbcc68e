//! Network stack ↔ application: a socket protocol for UDP and TCP.
//!
//! The application owns a ring pair and its pool (it is the pool *owner*);
//! the network stack borrows. Each request travels in one pool buffer: a
//! [`SocketHeader`] then, for `Send`, the payload. The stack answers every
//! request in the same buffer, handed back on the return ring: the header
//! with the response bit set, a status, and for `Receive` the data. So every
//! lent buffer comes back exactly once, and the application never runs out
//! of buffers because of a slow peer that it did not lend them to.
//!
//! Sockets are small integers chosen by the stack (0 is never a socket).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::wire::{read_prefix, write_prefix, ProtoError};

/// Fixed part of every socket message (32 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct SocketHeader {
    /// `OP_*`, with [`RESPONSE`] set in answers.
    pub op: u16,
    /// Zero (room for per-request options).
    pub flags: u16,
    /// Chosen by the application, echoed in the answer.
    pub request_id: u32,
    /// The socket (0 only in `Open` requests).
    pub socket: u32,
    /// Answers: 0 or a [`SocketError`] code. Requests: 0.
    pub status: u32,
    /// IPv4 address, network order.
    pub addr: [u8; 4],
    /// Port, host order.
    pub port: u16,
    /// `Open` requests: [`Protocol`] code. Otherwise 0.
    pub protocol: u8,
    /// Zero.
    pub reserved: u8,
    /// `Listen`: backlog. `Receive`: most bytes wanted. `Send` answer: bytes accepted.
    pub arg: u32,
    /// Bytes of payload after the header.
    pub payload_len: u32,
}

/// Bytes of [`SocketHeader`].
pub const HEADER_BYTES: usize = core::mem::size_of::<SocketHeader>();

/// Set in `op` of every answer.
pub const RESPONSE: u16 = 0x8000;
/// Open a socket.
pub const OP_OPEN: u16 = 1;
/// Bind to a local endpoint.
pub const OP_BIND: u16 = 2;
/// Connect (TCP) or set the default destination (UDP).
pub const OP_CONNECT: u16 = 3;
/// Listen for TCP connections.
pub const OP_LISTEN: u16 = 4;
/// Take one pending TCP connection.
pub const OP_ACCEPT: u16 = 5;
/// Send data.
pub const OP_SEND: u16 = 6;
/// Receive data.
pub const OP_RECEIVE: u16 = 7;
/// Close the socket.
pub const OP_CLOSE: u16 = 8;

/// Largest TCP listen backlog the stack accepts; it keeps per-socket state
/// for each pending connection in fixed tables.
pub const MAX_BACKLOG: u32 = 64;

/// Transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// UDP datagrams.
    Udp,
    /// A TCP stream.
    Tcp,
}

impl Protocol {
    const fn code(self) -> u8 {
        match self {
            Protocol::Udp => 1,
            Protocol::Tcp => 2,
        }
    }
}

/// IPv4 address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Address octets.
    pub addr: [u8; 4],
    /// Port.
    pub port: u16,
}

/// Why a request failed. Codes are stable on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketError {
    /// No such socket (never opened, or closed).
    NoSuchSocket = 1,
    /// The local endpoint is taken.
    AddressInUse = 2,
    /// The remote refused the connection.
    ConnectionRefused = 3,
    /// The operation needs a connected socket.
    NotConnected = 4,
    /// Nothing to receive now, or no room to send now.
    WouldBlock = 5,
    /// An argument is wrong for this socket or state.
    InvalidArgument = 6,
    /// The stack has no memory for another socket or packet.
    NoResources = 7,
    /// The peer closed the connection (no more data will arrive).
    Closed = 8,
    /// The connection timed out.
    TimedOut = 9,
    /// The peer reset the connection.
    ConnectionReset = 10,
    /// The request does not apply to this protocol (e.g. `Listen` on UDP).
    WrongProtocol = 11,
}

impl SocketError {
    const ALL: [SocketError; 11] = [
        SocketError::NoSuchSocket,
        SocketError::AddressInUse,
        SocketError::ConnectionRefused,
        SocketError::NotConnected,
        SocketError::WouldBlock,
        SocketError::InvalidArgument,
        SocketError::NoResources,
        SocketError::Closed,
        SocketError::TimedOut,
        SocketError::ConnectionReset,
        SocketError::WrongProtocol,
    ];

    /// The wire code.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// From a wire code.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.code() == code)
    }
}

/// A request, decoded. Payloads borrow from the caller's private copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketRequest<'a> {
    /// Open a socket of `protocol`.
    Open {
        /// UDP or TCP.
        protocol: Protocol,
    },
    /// Bind `socket` to `local` (port 0: any).
    Bind {
        /// Socket.
        socket: u32,
        /// Local endpoint.
        local: Endpoint,
    },
    /// Connect `socket` to `remote`.
    Connect {
        /// Socket.
        socket: u32,
        /// Remote endpoint (port not 0).
        remote: Endpoint,
    },
    /// Listen on a bound TCP socket.
    Listen {
        /// Socket.
        socket: u32,
        /// Pending connections to queue, 1..=[`MAX_BACKLOG`].
        backlog: u32,
    },
    /// Take one pending connection.
    Accept {
        /// Listening socket.
        socket: u32,
    },
    /// Send `payload`; `to` for unconnected UDP sockets.
    Send {
        /// Socket.
        socket: u32,
        /// Destination, if not the connected one.
        to: Option<Endpoint>,
        /// The data.
        payload: &'a [u8],
    },
    /// Receive up to `max_len` bytes into this buffer.
    Receive {
        /// Socket.
        socket: u32,
        /// Most bytes wanted (at least 1).
        max_len: u32,
    },
    /// Close `socket`.
    Close {
        /// Socket.
        socket: u32,
    },
}

/// A successful answer, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketReply<'a> {
    /// `Open` succeeded.
    Opened {
        /// The new socket.
        socket: u32,
    },
    /// `Bind`, `Connect`, `Listen` or `Close` succeeded.
    Done,
    /// `Accept` produced a connection.
    Accepted {
        /// The connected socket.
        socket: u32,
        /// Who connected.
        peer: Endpoint,
    },
    /// `Send` took `accepted` bytes.
    Sent {
        /// Bytes taken (TCP may take fewer than offered).
        accepted: u32,
    },
    /// `Receive` produced data (empty for an orderly TCP close).
    Received {
        /// The sender.
        from: Endpoint,
        /// The data.
        data: &'a [u8],
    },
}

/// An answer: which request it answers, and how it went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketResponse<'a> {
    /// The request's operation.
    pub op: u16,
    /// The request's id.
    pub request_id: u32,
    /// The request's socket.
    pub socket: u32,
    /// The outcome.
    pub result: Result<SocketReply<'a>, SocketError>,
}

fn header(op: u16, request_id: u32, socket: u32) -> SocketHeader {
    SocketHeader {
        op,
        request_id,
        socket,
        ..Default::default()
    }
}

fn put_endpoint(h: &mut SocketHeader, e: Endpoint) {
    h.addr = e.addr;
    h.port = e.port;
}

fn endpoint(h: &SocketHeader) -> Endpoint {
    Endpoint {
        addr: h.addr,
        port: h.port,
    }
}

fn encode_with_payload(
    h: &SocketHeader,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, ProtoError> {
    let need = HEADER_BYTES + payload.len();
    if out.len() < need {
        return Err(ProtoError::NoRoom {
            need,
            have: out.len(),
        });
    }
    let mut h = *h;
    h.payload_len = payload.len() as u32;
    write_prefix(&h, out)?;
    out[HEADER_BYTES..need].copy_from_slice(payload);
    Ok(need)
}

fn payload<'a>(h: &SocketHeader, rest: &'a [u8]) -> Result<&'a [u8], ProtoError> {
    rest.get(..h.payload_len as usize)
        .ok_or(ProtoError::PayloadTooLong {
            declared: h.payload_len,
            available: rest.len(),
        })
}

/// Field checks shared by requests and answers: fields an operation does
/// not use must be zero.
struct Unused {
    addr: bool,
    protocol: bool,
    arg: bool,
    payload: bool,
}

impl Unused {
    const ALL: Unused = Unused {
        addr: true,
        protocol: true,
        arg: true,
        payload: true,
    };

    fn check(&self, h: &SocketHeader) -> Result<(), ProtoError> {
        if h.flags != 0 || h.reserved != 0 {
            return Err(ProtoError::ReservedNotZero {
                field: "socket flags/reserved",
            });
        }
        if self.addr && (h.addr != [0; 4] || h.port != 0) {
            return Err(ProtoError::ReservedNotZero {
                field: "socket endpoint",
            });
        }
        if self.protocol && h.protocol != 0 {
            return Err(ProtoError::ReservedNotZero {
                field: "socket protocol",
            });
        }
        if self.arg && h.arg != 0 {
            return Err(ProtoError::ReservedNotZero {
                field: "socket arg",
            });
        }
        if self.payload && h.payload_len != 0 {
            return Err(ProtoError::ReservedNotZero {
                field: "socket payload_len",
            });
        }
        Ok(())
    }
}

fn nonzero_socket(socket: u32) -> Result<u32, ProtoError> {
    if socket == 0 {
        Err(ProtoError::BadField {
            field: "socket",
            value: 0,
        })
    } else {
        Ok(socket)
    }
}

impl<'a> SocketRequest<'a> {
    /// Encodes into `out` (a buffer's bytes); returns bytes written.
    pub fn encode(&self, request_id: u32, out: &mut [u8]) -> Result<usize, ProtoError> {
        let mut payload_bytes: &[u8] = &[];
        let h = match *self {
            SocketRequest::Open { protocol } => {
                let mut h = header(OP_OPEN, request_id, 0);
                h.protocol = protocol.code();
                h
            }
            SocketRequest::Bind { socket, local } => {
                let mut h = header(OP_BIND, request_id, socket);
                put_endpoint(&mut h, local);
                h
            }
            SocketRequest::Connect { socket, remote } => {
                let mut h = header(OP_CONNECT, request_id, socket);
                put_endpoint(&mut h, remote);
                h
            }
            SocketRequest::Listen { socket, backlog } => {
                let mut h = header(OP_LISTEN, request_id, socket);
                h.arg = backlog;
                h
            }
            SocketRequest::Accept { socket } => header(OP_ACCEPT, request_id, socket),
            SocketRequest::Send {
                socket,
                to,
                payload,
            } => {
                let mut h = header(OP_SEND, request_id, socket);
                if let Some(to) = to {
                    put_endpoint(&mut h, to);
                }
                payload_bytes = payload;
                h
            }
            SocketRequest::Receive { socket, max_len } => {
                let mut h = header(OP_RECEIVE, request_id, socket);
                h.arg = max_len;
                h
            }
            SocketRequest::Close { socket } => header(OP_CLOSE, request_id, socket),
        };
        encode_with_payload(&h, payload_bytes, out)
    }

    /// Decodes a private copy of a request buffer; returns the request id too.
    pub fn decode(bytes: &'a [u8]) -> Result<(u32, SocketRequest<'a>), ProtoError> {
        let (h, rest) = read_prefix::<SocketHeader>(bytes)?;
        if h.status != 0 {
            return Err(ProtoError::ReservedNotZero {
                field: "request status",
            });
        }
        let request = match h.op {
            OP_OPEN => {
                Unused {
                    protocol: false,
                    ..Unused::ALL
                }
                .check(&h)?;
                if h.socket != 0 {
                    return Err(ProtoError::BadField {
                        field: "open socket",
                        value: h.socket.into(),
                    });
                }
                let protocol = match h.protocol {
                    1 => Protocol::Udp,
                    2 => Protocol::Tcp,
                    p => {
                        return Err(ProtoError::BadField {
                            field: "protocol",
                            value: p.into(),
                        })
                    }
                };
                SocketRequest::Open { protocol }
            }
            OP_BIND => {
                Unused {
                    addr: false,
                    ..Unused::ALL
                }
                .check(&h)?;
                SocketRequest::Bind {
                    socket: nonzero_socket(h.socket)?,
                    local: endpoint(&h),
                }
            }
            OP_CONNECT => {
                Unused {
                    addr: false,
                    ..Unused::ALL
                }
                .check(&h)?;
                if h.port == 0 {
                    return Err(ProtoError::BadField {
                        field: "connect port",
                        value: 0,
                    });
                }
                SocketRequest::Connect {
                    socket: nonzero_socket(h.socket)?,
                    remote: endpoint(&h),
                }
            }
            OP_LISTEN => {
                Unused {
                    arg: false,
                    ..Unused::ALL
                }
                .check(&h)?;
                if !(1..=MAX_BACKLOG).contains(&h.arg) {
                    return Err(ProtoError::BadField {
                        field: "backlog",
                        value: h.arg.into(),
                    });
                }
                SocketRequest::Listen {
                    socket: nonzero_socket(h.socket)?,
                    backlog: h.arg,
                }
            }
            OP_ACCEPT => {
                Unused::ALL.check(&h)?;
                SocketRequest::Accept {
                    socket: nonzero_socket(h.socket)?,
                }
            }
            OP_SEND => {
                Unused {
                    addr: false,
                    payload: false,
                    ..Unused::ALL
                }
                .check(&h)?;
                let to = if h.addr == [0; 4] && h.port == 0 {
                    None
                } else if h.port == 0 {
                    return Err(ProtoError::BadField {
                        field: "send port",
                        value: 0,
                    });
                } else {
                    Some(endpoint(&h))
                };
                SocketRequest::Send {
                    socket: nonzero_socket(h.socket)?,
                    to,
                    payload: payload(&h, rest)?,
                }
            }
            OP_RECEIVE => {
                Unused {
                    arg: false,
                    ..Unused::ALL
                }
                .check(&h)?;
                if h.arg == 0 {
                    return Err(ProtoError::BadField {
                        field: "receive max_len",
                        value: 0,
                    });
                }
                SocketRequest::Receive {
                    socket: nonzero_socket(h.socket)?,
                    max_len: h.arg,
                }
            }
            OP_CLOSE => {
                Unused::ALL.check(&h)?;
                SocketRequest::Close {
                    socket: nonzero_socket(h.socket)?,
                }
            }
            other => return Err(ProtoError::UnknownKind(other.into())),
        };
        Ok((h.request_id, request))
    }
}

impl<'a> SocketResponse<'a> {
    /// Encodes into `out` (the request's buffer); returns bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, ProtoError> {
        let mut h = header(self.op | RESPONSE, self.request_id, self.socket);
        let mut data: &[u8] = &[];
        match self.result {
            Err(e) => h.status = e.code(),
            Ok(SocketReply::Opened { socket }) => h.arg = socket,
            Ok(SocketReply::Done) => {}
            Ok(SocketReply::Accepted { socket, peer }) => {
                h.arg = socket;
                put_endpoint(&mut h, peer);
            }
            Ok(SocketReply::Sent { accepted }) => h.arg = accepted,
            Ok(SocketReply::Received { from, data: d }) => {
                put_endpoint(&mut h, from);
                data = d;
            }
        }
        encode_with_payload(&h, data, out)
    }

    /// Decodes a private copy of an answer buffer. `max_receive` is the
    /// `max_len` of the matching `Receive` request, if that is what it answers
    /// (the stack may not return more than was asked for).
    pub fn decode(bytes: &'a [u8], max_receive: Option<u32>) -> Result<Self, ProtoError> {
        let (h, rest) = read_prefix::<SocketHeader>(bytes)?;
        if h.op & RESPONSE == 0 {
            return Err(ProtoError::BadField {
                field: "response op",
                value: h.op.into(),
            });
        }
        let op = h.op & !RESPONSE;
        let respond = |result| {
            Ok(SocketResponse {
                op,
                request_id: h.request_id,
                socket: h.socket,
                result,
            })
        };
        if h.status != 0 {
            Unused::ALL.check(&h)?;
            let error = SocketError::from_code(h.status).ok_or(ProtoError::BadField {
                field: "status",
                value: h.status.into(),
            })?;
            return respond(Err(error));
        }
        match op {
            OP_OPEN => {
                Unused {
                    arg: false,
                    ..Unused::ALL
                }
                .check(&h)?;
                respond(Ok(SocketReply::Opened {
                    socket: nonzero_socket(h.arg)?,
                }))
            }
            OP_BIND | OP_CONNECT | OP_LISTEN | OP_CLOSE => {
                Unused::ALL.check(&h)?;
                respond(Ok(SocketReply::Done))
            }
            OP_ACCEPT => {
                Unused {
                    arg: false,
                    addr: false,
                    ..Unused::ALL
                }
                .check(&h)?;
                respond(Ok(SocketReply::Accepted {
                    socket: nonzero_socket(h.arg)?,
                    peer: endpoint(&h),
                }))
            }
            OP_SEND => {
                Unused {
                    arg: false,
                    ..Unused::ALL
                }
                .check(&h)?;
                respond(Ok(SocketReply::Sent { accepted: h.arg }))
            }
            OP_RECEIVE => {
                Unused {
                    addr: false,
                    payload: false,
                    ..Unused::ALL
                }
                .check(&h)?;
                let data = payload(&h, rest)?;
                if let Some(max) = max_receive {
                    if h.payload_len > max {
                        return Err(ProtoError::PayloadTooLong {
                            declared: h.payload_len,
                            available: max as usize,
                        });
                    }
                }
                respond(Ok(SocketReply::Received {
                    from: endpoint(&h),
                    data,
                }))
            }
            other => Err(ProtoError::UnknownKind(other.into())),
        }
    }
}

/// The `net-api` endpoint: control calls from an application to the stack,
/// outside the data path. The kernel's badge tells the stack which
/// application calls, so a call cannot speak for another application.
pub mod api {
    /// Attach: "my socket pair is initialised, start serving it". Message
    /// register 0 carries the generation the application wrote into the
    /// region header. The stack drops every socket of the application's
    /// previous attachment (a restarted application starts afresh), checks the
    /// region against its own copy of the geometry and answers with one of
    /// the `ATTACH_*` labels.
    pub const LABEL_ATTACH: u64 = 1;
    /// Attached: requests on the pair are served from now on. Message
    /// register 0 carries the stack's generation.
    pub const ATTACH_OK: u64 = 0;
    /// The badge is not one of the stack's clients.
    pub const ATTACH_UNKNOWN_CLIENT: u64 = 1;
    /// The region is not initialised, or its header does not match the
    /// geometry the stack was built with (or the generation differs).
    pub const ATTACH_BAD_REGION: u64 = 2;
    /// The call's label is not one this endpoint knows.
    pub const UNKNOWN_CALL: u64 = 3;
}
