//! NIC driver ↔ network stack.
//!
//! The data path is two ring pairs over the stack's packet pool:
//!
//! - **rx pair**: the stack lends empty buffers ([`RxPosting`]); the driver
//!   returns each filled with one frame, its status in the descriptor's flags
//!   word ([`RxCompletion`]).
//! - **tx pair**: the stack lends buffers holding one frame each
//!   ([`TxRequest`]); the driver returns each once the NIC is done with it,
//!   sent or dropped ([`TxCompletion`]).
//!
//! The control path carries small fixed messages ([`DriverEvent`] up,
//! [`StackRequest`] down), each a [`ControlHeader`] and a body, in IPC
//! message registers or a control ring. The header carries the sender's
//! generation (see [`crate::supervisor`]) so that a message from before a
//! restart is recognised.

use ward_ring::{Buffer, PoolGeometry};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::wire::{flag, read_prefix, reserved_zero, write_prefix, ProtoError};

/// Largest frame exchanged: 1514 bytes of Ethernet frame without FCS, plus a
/// 4-byte VLAN tag, plus the 4-byte FCS some NICs leave in place. No jumbo frames.
pub const MAX_FRAME_BYTES: u32 = 1522;

/// Smallest frame: an Ethernet header. NICs pad runts on transmit and drop
/// them on receive, so anything shorter is a driver bug.
pub const MIN_FRAME_BYTES: u32 = 14;

/// Rx completion flag: the NIC verified the IP and L4 checksums.
pub const RX_CHECKSUM_VERIFIED: u32 = 1 << 0;
/// Rx completion flag: the NIC found a bad IP or L4 checksum.
pub const RX_CHECKSUM_FAILED: u32 = 1 << 1;
/// Rx completion flag: the NIC reported a receive error; the buffer carries no frame.
pub const RX_ERROR: u32 = 1 << 2;
const RX_KNOWN: u32 = RX_CHECKSUM_VERIFIED | RX_CHECKSUM_FAILED | RX_ERROR;

/// Tx request flag: let the NIC fill in the IPv4 header checksum.
pub const TX_OFFLOAD_IP_CHECKSUM: u32 = 1 << 0;
/// Tx request flag: let the NIC fill in the TCP/UDP checksum.
pub const TX_OFFLOAD_L4_CHECKSUM: u32 = 1 << 1;
const TX_REQUEST_KNOWN: u32 = TX_OFFLOAD_IP_CHECKSUM | TX_OFFLOAD_L4_CHECKSUM;

/// Tx completion flag: the frame went out.
pub const TX_SENT: u32 = 1 << 0;
/// Tx completion flag: the frame was dropped (link down, NIC error).
pub const TX_DROPPED: u32 = 1 << 1;

// Decoded hand-offs carry the buffer with its flags word cleared: the flags
// are represented by the decoded fields.

/// An empty buffer the stack lent for receiving, as the driver checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxPosting {
    /// The buffer, long enough for the largest frame.
    pub buffer: Buffer,
}

impl RxPosting {
    /// The stack's side: `buffer` offered for one frame.
    pub fn encode(buffer: Buffer) -> Buffer {
        buffer.with_flags(0)
    }

    /// The driver's side: refuses buffers too short for a full frame or with flags set.
    pub fn decode(buffer: Buffer) -> Result<Self, ProtoError> {
        if buffer.flags() != 0 {
            return Err(ProtoError::BadField {
                field: "rx posting flags",
                value: buffer.flags().into(),
            });
        }
        if buffer.len() < MAX_FRAME_BYTES {
            return Err(ProtoError::BadField {
                field: "rx posting length",
                value: buffer.len().into(),
            });
        }
        Ok(Self { buffer })
    }
}

/// What the NIC said about a received frame's checksums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// Not checked by the NIC: the stack checks.
    Unchecked,
    /// Checked and good.
    Verified,
    /// Checked and bad: drop.
    Failed,
}

/// A filled rx buffer returned by the driver, as the stack checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxCompletion {
    /// One frame of `buffer.len()` bytes.
    Frame {
        /// The buffer; its length is the frame length.
        buffer: Buffer,
        /// The NIC's checksum verdict.
        checksum: ChecksumStatus,
    },
    /// The NIC reported an error; the buffer comes back without a frame.
    Error {
        /// The buffer, to be posted again.
        buffer: Buffer,
    },
}

impl RxCompletion {
    /// The driver's side: `buffer` now holds `frame_len` bytes.
    pub fn encode_frame(
        pool: &PoolGeometry,
        buffer: Buffer,
        frame_len: u32,
        checksum: ChecksumStatus,
    ) -> Result<Buffer, ProtoError> {
        if !(MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&frame_len) {
            return Err(ProtoError::BadField {
                field: "rx frame length",
                value: frame_len.into(),
            });
        }
        let flags = match checksum {
            ChecksumStatus::Unchecked => 0,
            ChecksumStatus::Verified => RX_CHECKSUM_VERIFIED,
            ChecksumStatus::Failed => RX_CHECKSUM_FAILED,
        };
        let sized = pool
            .with_len(buffer, frame_len)
            .map_err(|_| ProtoError::BadField {
                field: "rx frame length",
                value: frame_len.into(),
            })?;
        Ok(sized.with_flags(flags))
    }

    /// The driver's side: `buffer` comes back after a receive error.
    pub fn encode_error(buffer: Buffer) -> Buffer {
        buffer.with_flags(RX_ERROR)
    }

    /// The stack's side.
    pub fn decode(buffer: Buffer) -> Result<Self, ProtoError> {
        let flags = buffer.flags();
        if flags & !RX_KNOWN != 0 {
            return Err(ProtoError::BadField {
                field: "rx completion flags",
                value: flags.into(),
            });
        }
        let buffer = buffer.with_flags(0);
        if flags & RX_ERROR != 0 {
            return Ok(RxCompletion::Error { buffer });
        }
        let checksum = match flags & (RX_CHECKSUM_VERIFIED | RX_CHECKSUM_FAILED) {
            0 => ChecksumStatus::Unchecked,
            RX_CHECKSUM_VERIFIED => ChecksumStatus::Verified,
            RX_CHECKSUM_FAILED => ChecksumStatus::Failed,
            both => {
                return Err(ProtoError::BadField {
                    field: "rx checksum status",
                    value: both.into(),
                })
            }
        };
        if !(MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&buffer.len()) {
            return Err(ProtoError::BadField {
                field: "rx frame length",
                value: buffer.len().into(),
            });
        }
        Ok(RxCompletion::Frame { buffer, checksum })
    }
}

/// A frame the stack lent for transmission, as the driver checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxRequest {
    /// The buffer; its length is the frame length.
    pub buffer: Buffer,
    /// Let the NIC fill in the IPv4 header checksum.
    pub offload_ip_checksum: bool,
    /// Let the NIC fill in the TCP/UDP checksum.
    pub offload_l4_checksum: bool,
}

impl TxRequest {
    /// The stack's side.
    pub fn encode(&self) -> Buffer {
        let mut flags = 0;
        if self.offload_ip_checksum {
            flags |= TX_OFFLOAD_IP_CHECKSUM;
        }
        if self.offload_l4_checksum {
            flags |= TX_OFFLOAD_L4_CHECKSUM;
        }
        self.buffer.with_flags(flags)
    }

    /// The driver's side.
    pub fn decode(buffer: Buffer) -> Result<Self, ProtoError> {
        let flags = buffer.flags();
        if flags & !TX_REQUEST_KNOWN != 0 {
            return Err(ProtoError::BadField {
                field: "tx request flags",
                value: flags.into(),
            });
        }
        if !(MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&buffer.len()) {
            return Err(ProtoError::BadField {
                field: "tx frame length",
                value: buffer.len().into(),
            });
        }
        Ok(Self {
            buffer: buffer.with_flags(0),
            offload_ip_checksum: flags & TX_OFFLOAD_IP_CHECKSUM != 0,
            offload_l4_checksum: flags & TX_OFFLOAD_L4_CHECKSUM != 0,
        })
    }
}

/// A tx buffer returned by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxCompletion {
    /// The buffer, free for the stack again.
    pub buffer: Buffer,
    /// Whether the frame went out.
    pub sent: bool,
}

impl TxCompletion {
    /// The driver's side.
    pub fn encode(&self) -> Buffer {
        self.buffer
            .with_flags(if self.sent { TX_SENT } else { TX_DROPPED })
    }

    /// The stack's side: exactly one of sent or dropped.
    pub fn decode(buffer: Buffer) -> Result<Self, ProtoError> {
        match buffer.flags() {
            TX_SENT => Ok(Self {
                buffer: buffer.with_flags(0),
                sent: true,
            }),
            TX_DROPPED => Ok(Self {
                buffer: buffer.with_flags(0),
                sent: false,
            }),
            other => Err(ProtoError::BadField {
                field: "tx completion flags",
                value: other.into(),
            }),
        }
    }
}

/// Fixed part of every control message.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct ControlHeader {
    /// Which message (`KIND_*`).
    pub kind: u32,
    /// The sender's generation.
    pub generation: u32,
    /// Sender's counter; a reply echoes the request's.
    pub sequence: u32,
    /// Bytes of body after the header; must match the kind's body size.
    pub body_len: u32,
}

/// Driver → stack: [`LinkState`].
pub const KIND_LINK_STATE: u32 = 0x0100;
/// Driver → stack: [`MacAddress`].
pub const KIND_MAC_ADDRESS: u32 = 0x0101;
/// Driver → stack: [`Statistics`].
pub const KIND_STATISTICS: u32 = 0x0102;
/// Stack → driver: ask for a [`LinkState`].
pub const KIND_QUERY_LINK: u32 = 0x0200;
/// Stack → driver: ask for the [`MacAddress`].
pub const KIND_QUERY_MAC: u32 = 0x0201;
/// Stack → driver: ask for [`Statistics`].
pub const KIND_QUERY_STATISTICS: u32 = 0x0202;
/// Stack → driver: [`SetPromiscuous`].
pub const KIND_SET_PROMISCUOUS: u32 = 0x0203;

/// Largest control message, header included; fits a 128-byte slot or the
/// IPC buffer.
pub const MAX_CONTROL_BYTES: usize = 128;

/// Link state as sent on the wire.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct LinkStateWire {
    /// 1 if the link is up.
    pub up: u32,
    /// Negotiated speed in Mbit/s (0 when down).
    pub speed_mbps: u32,
    /// 1 for full duplex.
    pub full_duplex: u32,
    /// Zero.
    pub reserved: u32,
}

/// Link state, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkState {
    /// Link up.
    pub up: bool,
    /// Speed in Mbit/s.
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// Speeds a NIC can report, in Mbit/s (Ethernet rates up to 100 GbE).
const KNOWN_SPEEDS_MBPS: [u32; 8] = [0, 10, 100, 1_000, 2_500, 10_000, 40_000, 100_000];

/// MAC address as sent on the wire.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct MacAddressWire {
    /// The six octets, in transmission order.
    pub octets: [u8; 6],
    /// Zero.
    pub reserved: [u8; 2],
}

/// A unicast, non-zero MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacAddress(pub [u8; 6]);

/// Counters as sent on the wire.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Statistics {
    /// Frames received and handed to the stack.
    pub rx_packets: u64,
    /// Bytes in those frames.
    pub rx_bytes: u64,
    /// Frames dropped for lack of posted buffers.
    pub rx_dropped_no_buffer: u64,
    /// Frames the NIC reported as bad.
    pub rx_errors: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames dropped on transmit.
    pub tx_dropped: u64,
    /// Interrupts taken (with NAPI-style masking, far fewer than packets).
    pub interrupts: u64,
}

/// Body of [`KIND_SET_PROMISCUOUS`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct SetPromiscuousWire {
    /// 1 to receive every frame, 0 for own address and broadcast only.
    pub on: u32,
    /// Zero.
    pub reserved: u32,
}

/// Body of [`KIND_SET_PROMISCUOUS`], decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetPromiscuous(pub bool);

/// Driver → stack messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverEvent {
    /// The link changed or was asked for.
    Link(LinkState),
    /// The station address.
    Mac(MacAddress),
    /// Counters.
    Statistics(Statistics),
}

/// Stack → driver messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackRequest {
    /// Send a [`DriverEvent::Link`].
    QueryLink,
    /// Send a [`DriverEvent::Mac`].
    QueryMac,
    /// Send a [`DriverEvent::Statistics`].
    QueryStatistics,
    /// Switch promiscuous mode.
    SetPromiscuous(SetPromiscuous),
}

fn encode_message<B: IntoBytes + Immutable>(
    kind: u32,
    generation: u32,
    sequence: u32,
    body: &B,
    out: &mut [u8],
) -> Result<usize, ProtoError> {
    let body_bytes = body.as_bytes();
    let header = ControlHeader {
        kind,
        generation,
        sequence,
        body_len: body_bytes.len() as u32,
    };
    let need = core::mem::size_of::<ControlHeader>() + body_bytes.len();
    if out.len() < need {
        return Err(ProtoError::NoRoom {
            need,
            have: out.len(),
        });
    }
    let n = write_prefix(&header, out)?;
    Ok(n + write_prefix(body, &mut out[n..])?)
}

fn body<B: FromBytes + KnownLayout + Immutable>(
    header: &ControlHeader,
    rest: &[u8],
) -> Result<B, ProtoError> {
    let size = core::mem::size_of::<B>();
    if header.body_len as usize != size {
        return Err(ProtoError::BadField {
            field: "control body_len",
            value: header.body_len.into(),
        });
    }
    Ok(read_prefix::<B>(rest)?.0)
}

impl DriverEvent {
    /// Encodes into `out`; returns bytes written.
    pub fn encode(
        &self,
        generation: u32,
        sequence: u32,
        out: &mut [u8],
    ) -> Result<usize, ProtoError> {
        match self {
            DriverEvent::Link(l) => encode_message(
                KIND_LINK_STATE,
                generation,
                sequence,
                &LinkStateWire {
                    up: l.up.into(),
                    speed_mbps: l.speed_mbps,
                    full_duplex: l.full_duplex.into(),
                    reserved: 0,
                },
                out,
            ),
            DriverEvent::Mac(m) => encode_message(
                KIND_MAC_ADDRESS,
                generation,
                sequence,
                &MacAddressWire {
                    octets: m.0,
                    reserved: [0; 2],
                },
                out,
            ),
            DriverEvent::Statistics(s) => {
                encode_message(KIND_STATISTICS, generation, sequence, s, out)
            }
        }
    }

    /// Decodes a private copy of a message.
    pub fn decode(bytes: &[u8]) -> Result<(ControlHeader, DriverEvent), ProtoError> {
        let (header, rest) = read_prefix::<ControlHeader>(bytes)?;
        let event = match header.kind {
            KIND_LINK_STATE => {
                let w: LinkStateWire = body(&header, rest)?;
                reserved_zero(&w.reserved, "link reserved")?;
                if !KNOWN_SPEEDS_MBPS.contains(&w.speed_mbps) {
                    return Err(ProtoError::BadField {
                        field: "link speed_mbps",
                        value: w.speed_mbps.into(),
                    });
                }
                let up = flag(w.up, "link up")?;
                if !up && w.speed_mbps != 0 {
                    return Err(ProtoError::BadField {
                        field: "link speed_mbps while down",
                        value: w.speed_mbps.into(),
                    });
                }
                DriverEvent::Link(LinkState {
                    up,
                    speed_mbps: w.speed_mbps,
                    full_duplex: flag(w.full_duplex, "link full_duplex")?,
                })
            }
            KIND_MAC_ADDRESS => {
                let w: MacAddressWire = body(&header, rest)?;
                reserved_zero(&w.reserved, "mac reserved")?;
                if w.octets == [0; 6] || w.octets[0] & 1 != 0 {
                    return Err(ProtoError::BadField {
                        field: "mac (zero or multicast)",
                        value: u64::from(w.octets[0]),
                    });
                }
                DriverEvent::Mac(MacAddress(w.octets))
            }
            KIND_STATISTICS => DriverEvent::Statistics(body(&header, rest)?),
            other => return Err(ProtoError::UnknownKind(other)),
        };
        Ok((header, event))
    }
}

/// Body of the query messages: empty.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
struct NoBody {}

impl StackRequest {
    /// Encodes into `out`; returns bytes written.
    pub fn encode(
        &self,
        generation: u32,
        sequence: u32,
        out: &mut [u8],
    ) -> Result<usize, ProtoError> {
        match self {
            StackRequest::QueryLink => {
                encode_message(KIND_QUERY_LINK, generation, sequence, &NoBody {}, out)
            }
            StackRequest::QueryMac => {
                encode_message(KIND_QUERY_MAC, generation, sequence, &NoBody {}, out)
            }
            StackRequest::QueryStatistics => {
                encode_message(KIND_QUERY_STATISTICS, generation, sequence, &NoBody {}, out)
            }
            StackRequest::SetPromiscuous(SetPromiscuous(on)) => encode_message(
                KIND_SET_PROMISCUOUS,
                generation,
                sequence,
                &SetPromiscuousWire {
                    on: (*on).into(),
                    reserved: 0,
                },
                out,
            ),
        }
    }

    /// Decodes a private copy of a message.
    pub fn decode(bytes: &[u8]) -> Result<(ControlHeader, StackRequest), ProtoError> {
        let (header, rest) = read_prefix::<ControlHeader>(bytes)?;
        let request = match header.kind {
            KIND_QUERY_LINK => body::<NoBody>(&header, rest).map(|_| StackRequest::QueryLink)?,
            KIND_QUERY_MAC => body::<NoBody>(&header, rest).map(|_| StackRequest::QueryMac)?,
            KIND_QUERY_STATISTICS => {
                body::<NoBody>(&header, rest).map(|_| StackRequest::QueryStatistics)?
            }
            KIND_SET_PROMISCUOUS => {
                let w: SetPromiscuousWire = body(&header, rest)?;
                reserved_zero(&w.reserved, "promiscuous reserved")?;
                StackRequest::SetPromiscuous(SetPromiscuous(flag(w.on, "promiscuous on")?))
            }
            other => return Err(ProtoError::UnknownKind(other)),
        };
        Ok((header, request))
    }
}

const _: () = assert!(
    core::mem::size_of::<ControlHeader>() + core::mem::size_of::<Statistics>() <= MAX_CONTROL_BYTES
);
