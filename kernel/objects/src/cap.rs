//! Capabilities: what a slot holds, decoded, and its two-word encoding.
//!
//! A capability names one object (or one hardware resource) and carries the
//! per-capability data seL4 keeps in the cap itself: rights, badge, CNode
//! guard, untyped watermark, frame mapping. In memory it is two words:
//!
//! | word | bits | content |
//! |---|---|---|
//! | 0 | 0..52 | object physical address (0 for caps without an object) |
//! | 0 | 52..57 | type tag ([`CapType`]) |
//! | 0 | 57..64 | small per-type fields (rights, radix, flags) |
//! | 1 | 0..64 | per-type word (badge, guard, watermark, mapping, ...) |

use crate::phys::PAddr;
use ward_abi::rights::CapRights;

/// Physical addresses fit in 52 bits on x86_64 (the architectural maximum).
pub const PADDR_BITS: u32 = 52;
const PADDR_MASK: u64 = (1 << PADDR_BITS) - 1;
const TAG_SHIFT: u32 = 52;
const TAG_MASK: u64 = 0x1f;
const FLAGS_SHIFT: u32 = 57;
const FLAGS_MASK: u64 = 0x7f;

/// The largest CNode guard, in bits: the guard shares a word with its 6-bit size.
pub const MAX_GUARD_BITS: u32 = 58;
/// ASIDs (VSpace identifiers) are 12 bits: they sit in the low, page-offset
/// bits of a mapping's virtual address, and 4096 address spaces are plenty.
pub const ASID_BITS: u32 = 12;
/// Mapped virtual addresses are user (lower-half) addresses below 2^47.
pub const USER_VADDR_LIMIT: u64 = 1 << 47;
const MAPPED_FLAG: u64 = 1 << 63;
/// A frame cap's flags: its rights in the low bits, then its size and kind.
const FRAME_LARGE_FLAG: u32 = CapRights::BITS;
const FRAME_DEVICE_FLAG: u32 = CapRights::BITS + 1;
const _: () = assert!(FRAME_DEVICE_FLAG < 7, "frame flags fit the 7 flag bits");

/// The kind of a capability, without its data.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CapType {
    Null = 0,
    Untyped = 1,
    Endpoint = 2,
    Notification = 3,
    CNode = 4,
    Tcb = 5,
    Frame = 6,
    Pml4 = 7,
    Pdpt = 8,
    PageDirectory = 9,
    PageTable = 10,
    /// The right to reply once to a caller; made by the kernel during `Call`.
    Reply = 11,
    /// A CNode or TCB whose last cap was deleted and whose slots are being
    /// emptied; see [`crate::cnode_ops`].
    Zombie = 12,
    IrqControl = 13,
    IrqHandler = 14,
    IoPortControl = 15,
    IoPort = 16,
    IoSpace = 17,
    IoPageTable = 18,
}

impl CapType {
    #[inline]
    fn from_tag(tag: u64) -> CapType {
        use CapType::*;
        match tag {
            1 => Untyped,
            2 => Endpoint,
            3 => Notification,
            4 => CNode,
            5 => Tcb,
            6 => Frame,
            7 => Pml4,
            8 => Pdpt,
            9 => PageDirectory,
            10 => PageTable,
            11 => Reply,
            12 => Zombie,
            13 => IrqControl,
            14 => IrqHandler,
            15 => IoPortControl,
            16 => IoPort,
            17 => IoSpace,
            18 => IoPageTable,
            _ => Null,
        }
    }
}

/// The two frame sizes of x86_64 that Ward supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameSize {
    /// 4 KiB.
    Small,
    /// 2 MiB.
    Large,
}

impl FrameSize {
    /// log2 of the frame's size in bytes.
    pub fn bits(self) -> u32 {
        match self {
            FrameSize::Small => ward_abi::object::PAGE_BITS,
            FrameSize::Large => ward_abi::object::LARGE_PAGE_BITS,
        }
    }
}

/// Where a frame or paging structure is mapped: which VSpace (by ASID) or,
/// for IO page tables, which IOSpace domain, and at which virtual address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mapping {
    /// The address space identifier (below 2^[`ASID_BITS`]).
    pub asid: u16,
    /// The page-aligned virtual address (below [`USER_VADDR_LIMIT`]).
    pub vaddr: u64,
}

/// What a dying container was, so its destruction can finish correctly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZombieKind {
    CNode,
    Tcb,
}

/// A decoded capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cap {
    /// An empty slot.
    Null,
    /// `2^size_bits` bytes of memory at `object`; `free_index` bytes from its
    /// start have been handed out (seL4's watermark).
    Untyped {
        object: PAddr,
        size_bits: u8,
        free_index: u64,
        is_device: bool,
    },
    Endpoint {
        object: PAddr,
        badge: u64,
        rights: CapRights,
    },
    Notification {
        object: PAddr,
        badge: u64,
        rights: CapRights,
    },
    /// `2^radix_bits` slots at `object`; a lookup through it must match the
    /// `guard_bits`-bit `guard` before using `radix_bits` bits as the index.
    CNode {
        object: PAddr,
        radix_bits: u8,
        guard: u64,
        guard_bits: u8,
    },
    /// A thread. Its rights say what the holder may do with it: Read to
    /// read its registers, Write to run it (suspend, resume, write registers,
    /// priorities, notification binding), Grant to install capabilities in
    /// it (fault endpoint, CSpace, VSpace, IPC buffer).
    Tcb {
        object: PAddr,
        rights: CapRights,
    },
    Frame {
        object: PAddr,
        size: FrameSize,
        rights: CapRights,
        is_device: bool,
        mapping: Option<Mapping>,
    },
    /// The root of a VSpace, with the ASID it was assigned (if any).
    Pml4 {
        object: PAddr,
        asid: Option<u16>,
    },
    Pdpt {
        object: PAddr,
        mapping: Option<Mapping>,
    },
    PageDirectory {
        object: PAddr,
        mapping: Option<Mapping>,
    },
    PageTable {
        object: PAddr,
        mapping: Option<Mapping>,
    },
    /// The right to reply to the thread at `tcb`.
    Reply {
        tcb: PAddr,
        can_grant: bool,
    },
    /// A container being destroyed: `remaining` of its slots may still hold caps.
    Zombie {
        object: PAddr,
        kind: ZombieKind,
        remaining: u32,
    },
    IrqControl,
    IrqHandler {
        irq: u16,
    },
    IoPortControl,
    /// The IO ports `first..=last`.
    IoPort {
        first: u16,
        last: u16,
    },
    /// The DMA address space of one PCI requester (bus:dev.fn) in a VT-d domain.
    IoSpace {
        requester: u16,
        domain: u16,
    },
    IoPageTable {
        object: PAddr,
        mapping: Option<Mapping>,
    },
}

fn encode_mapping(mapping: Option<Mapping>) -> u64 {
    match mapping {
        None => 0,
        Some(m) => MAPPED_FLAG | (m.vaddr & !0xfff) | (m.asid as u64 & 0xfff),
    }
}

fn decode_mapping(word: u64) -> Option<Mapping> {
    (word & MAPPED_FLAG != 0).then_some(Mapping {
        asid: (word & 0xfff) as u16,
        vaddr: word & !MAPPED_FLAG & !0xfff,
    })
}

fn word0(cap_type: CapType, object: PAddr, flags: u64) -> u64 {
    debug_assert!(object <= PADDR_MASK && flags <= FLAGS_MASK);
    (object & PADDR_MASK) | ((cap_type as u64) << TAG_SHIFT) | (flags << FLAGS_SHIFT)
}

/// The fields of an endpoint capability, read straight from a slot's two
/// words (see [`Cap::endpoint_in`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointCap {
    pub object: PAddr,
    pub badge: u64,
    pub rights: CapRights,
}

/// The tag of a slot's first word.
#[inline(always)]
fn tag_of(w0: u64) -> u64 {
    (w0 >> TAG_SHIFT) & TAG_MASK
}

impl Cap {
    /// The kind of the capability in a slot's two words, without decoding it.
    #[inline(always)]
    pub fn type_in(words: [u64; 2]) -> CapType {
        CapType::from_tag(tag_of(words[0]))
    }

    /// An endpoint capability's fields from a slot's two words, or `None`
    /// for any other kind: [`Cap::decode`] narrowed to what the IPC fast
    /// path reads.
    #[inline(always)]
    pub fn endpoint_in(words: [u64; 2]) -> Option<EndpointCap> {
        let [w0, w1] = words;
        (tag_of(w0) == CapType::Endpoint as u64).then_some(EndpointCap {
            object: w0 & PADDR_MASK,
            badge: w1,
            rights: CapRights::from_word((w0 >> FLAGS_SHIFT) & FLAGS_MASK),
        })
    }

    /// A reply capability's caller and grant flag from a slot's two words.
    #[inline(always)]
    pub fn reply_in(words: [u64; 2]) -> Option<(PAddr, bool)> {
        let w0 = words[0];
        (tag_of(w0) == CapType::Reply as u64)
            .then_some((w0 & PADDR_MASK, (w0 >> FLAGS_SHIFT) & 1 != 0))
    }

    /// A PML4 capability's object from a slot's two words.
    #[inline(always)]
    pub fn pml4_in(words: [u64; 2]) -> Option<PAddr> {
        let w0 = words[0];
        (tag_of(w0) == CapType::Pml4 as u64).then_some(w0 & PADDR_MASK)
    }

    /// A CNode capability's (object, radix bits, guard, guard bits) from a
    /// slot's two words.
    #[inline(always)]
    pub fn cnode_in(words: [u64; 2]) -> Option<(PAddr, u32, u64, u32)> {
        let [w0, w1] = words;
        (tag_of(w0) == CapType::CNode as u64).then_some((
            w0 & PADDR_MASK,
            ((w0 >> FLAGS_SHIFT) & FLAGS_MASK) as u32,
            w1 >> 6,
            (w1 & 0x3f) as u32,
        ))
    }

    /// The kind of this capability.
    pub fn cap_type(&self) -> CapType {
        use Cap::*;
        match self {
            Null => CapType::Null,
            Untyped { .. } => CapType::Untyped,
            Endpoint { .. } => CapType::Endpoint,
            Notification { .. } => CapType::Notification,
            CNode { .. } => CapType::CNode,
            Tcb { .. } => CapType::Tcb,
            Frame { .. } => CapType::Frame,
            Pml4 { .. } => CapType::Pml4,
            Pdpt { .. } => CapType::Pdpt,
            PageDirectory { .. } => CapType::PageDirectory,
            PageTable { .. } => CapType::PageTable,
            Reply { .. } => CapType::Reply,
            Zombie { .. } => CapType::Zombie,
            IrqControl => CapType::IrqControl,
            IrqHandler { .. } => CapType::IrqHandler,
            IoPortControl => CapType::IoPortControl,
            IoPort { .. } => CapType::IoPort,
            IoSpace { .. } => CapType::IoSpace,
            IoPageTable { .. } => CapType::IoPageTable,
        }
    }

    /// Whether the slot holding this cap is empty.
    pub fn is_null(&self) -> bool {
        matches!(self, Cap::Null)
    }

    /// The object's physical address, for caps that name memory.
    pub fn object(&self) -> Option<PAddr> {
        use Cap::*;
        match *self {
            Untyped { object, .. }
            | Endpoint { object, .. }
            | Notification { object, .. }
            | CNode { object, .. }
            | Tcb { object, .. }
            | Frame { object, .. }
            | Pml4 { object, .. }
            | Pdpt { object, .. }
            | PageDirectory { object, .. }
            | PageTable { object, .. }
            | Zombie { object, .. }
            | IoPageTable { object, .. } => Some(object),
            Reply { tcb, .. } => Some(tcb),
            _ => None,
        }
    }

    /// log2 of the size of the memory the object occupies, for caps that name memory.
    pub fn object_size_bits(&self) -> Option<u32> {
        use ward_abi::object::*;
        use Cap::*;
        Some(match *self {
            Untyped { size_bits, .. } => size_bits as u32,
            Endpoint { .. } => ENDPOINT_BITS,
            Notification { .. } => NOTIFICATION_BITS,
            CNode { radix_bits, .. } => radix_bits as u32 + SLOT_BITS,
            Tcb { .. } => TCB_BITS,
            Frame { size, .. } => size.bits(),
            Pml4 { .. }
            | Pdpt { .. }
            | PageDirectory { .. }
            | PageTable { .. }
            | IoPageTable { .. } => PAGE_TABLE_BITS,
            _ => return None,
        })
    }

    /// The cap's rights; caps whose objects have no rights report all rights.
    pub fn rights(&self) -> CapRights {
        match *self {
            Cap::Endpoint { rights, .. }
            | Cap::Notification { rights, .. }
            | Cap::Frame { rights, .. }
            | Cap::Tcb { rights, .. } => rights,
            _ => CapRights::ALL,
        }
    }

    /// The cap's badge (0 = unbadged) for endpoints and notifications.
    pub fn badge(&self) -> u64 {
        match *self {
            Cap::Endpoint { badge, .. } | Cap::Notification { badge, .. } => badge,
            _ => 0,
        }
    }

    /// Whether `self` and `other` name the same object (or the same hardware
    /// resource): deleting the last of a set of such caps destroys the object.
    pub fn same_object(&self, other: &Cap) -> bool {
        use Cap::*;
        match (*self, *other) {
            (Null, _) | (_, Null) => false,
            (IrqControl, IrqControl) | (IoPortControl, IoPortControl) => true,
            (IrqHandler { irq: a }, IrqHandler { irq: b }) => a == b,
            (IoPort { first: a, last: b }, IoPort { first: c, last: d }) => a == c && b == d,
            (IoSpace { requester: a, .. }, IoSpace { requester: b, .. }) => a == b,
            (
                Untyped {
                    object: a,
                    size_bits: s,
                    ..
                },
                Untyped {
                    object: b,
                    size_bits: t,
                    ..
                },
            ) => a == b && s == t,
            (Reply { .. }, _) | (_, Reply { .. }) => false,
            (a, b) => {
                a.cap_type() == b.cap_type()
                    && a.object() == b.object()
                    && a.object_size_bits() == b.object_size_bits()
            }
        }
    }

    /// Encodes the cap as the two words stored in a slot.
    pub fn encode(&self) -> [u64; 2] {
        use Cap::*;
        let t = self.cap_type();
        match *self {
            Null => [0, 0],
            Untyped {
                object,
                size_bits,
                free_index,
                is_device,
            } => [
                word0(t, object, is_device as u64),
                size_bits as u64 | (free_index << 6),
            ],
            Endpoint {
                object,
                badge,
                rights,
            }
            | Notification {
                object,
                badge,
                rights,
            } => [word0(t, object, rights.to_word()), badge],
            CNode {
                object,
                radix_bits,
                guard,
                guard_bits,
            } => [
                word0(t, object, radix_bits as u64),
                guard_bits as u64 | (guard << 6),
            ],
            Tcb { object, rights } => [word0(t, object, rights.to_word()), 0],
            Frame {
                object,
                size,
                rights,
                is_device,
                mapping,
            } => {
                let flags = rights.to_word()
                    | ((size == FrameSize::Large) as u64) << FRAME_LARGE_FLAG
                    | (is_device as u64) << FRAME_DEVICE_FLAG;
                [word0(t, object, flags), encode_mapping(mapping)]
            }
            Pml4 { object, asid } => [
                word0(t, object, 0),
                asid.map_or(0, |a| MAPPED_FLAG | a as u64),
            ],
            Pdpt { object, mapping }
            | PageDirectory { object, mapping }
            | PageTable { object, mapping }
            | IoPageTable { object, mapping } => [word0(t, object, 0), encode_mapping(mapping)],
            Reply { tcb, can_grant } => [word0(t, tcb, can_grant as u64), 0],
            Zombie {
                object,
                kind,
                remaining,
            } => [
                word0(t, object, (kind == ZombieKind::Tcb) as u64),
                remaining as u64,
            ],
            IrqControl | IoPortControl => [word0(t, 0, 0), 0],
            IrqHandler { irq } => [word0(t, 0, 0), irq as u64],
            IoPort { first, last } => [word0(t, 0, 0), first as u64 | (last as u64) << 16],
            IoSpace { requester, domain } => {
                [word0(t, 0, 0), requester as u64 | (domain as u64) << 16]
            }
        }
    }

    /// Decodes the two words of a slot.
    #[inline]
    pub fn decode(words: [u64; 2]) -> Cap {
        let [w0, w1] = words;
        let object = w0 & PADDR_MASK;
        let flags = (w0 >> FLAGS_SHIFT) & FLAGS_MASK;
        let rights = CapRights::from_word(flags);
        match CapType::from_tag((w0 >> TAG_SHIFT) & TAG_MASK) {
            CapType::Null => Cap::Null,
            CapType::Untyped => Cap::Untyped {
                object,
                size_bits: (w1 & 0x3f) as u8,
                free_index: w1 >> 6,
                is_device: flags & 1 != 0,
            },
            CapType::Endpoint => Cap::Endpoint {
                object,
                badge: w1,
                rights,
            },
            CapType::Notification => Cap::Notification {
                object,
                badge: w1,
                rights,
            },
            CapType::CNode => Cap::CNode {
                object,
                radix_bits: flags as u8,
                guard: w1 >> 6,
                guard_bits: (w1 & 0x3f) as u8,
            },
            CapType::Tcb => Cap::Tcb { object, rights },
            CapType::Frame => Cap::Frame {
                object,
                size: if flags & (1 << FRAME_LARGE_FLAG) != 0 {
                    FrameSize::Large
                } else {
                    FrameSize::Small
                },
                rights,
                is_device: flags & (1 << FRAME_DEVICE_FLAG) != 0,
                mapping: decode_mapping(w1),
            },
            CapType::Pml4 => Cap::Pml4 {
                object,
                asid: (w1 & MAPPED_FLAG != 0).then_some((w1 & 0xfff) as u16),
            },
            CapType::Pdpt => Cap::Pdpt {
                object,
                mapping: decode_mapping(w1),
            },
            CapType::PageDirectory => Cap::PageDirectory {
                object,
                mapping: decode_mapping(w1),
            },
            CapType::PageTable => Cap::PageTable {
                object,
                mapping: decode_mapping(w1),
            },
            CapType::IoPageTable => Cap::IoPageTable {
                object,
                mapping: decode_mapping(w1),
            },
            CapType::Reply => Cap::Reply {
                tcb: object,
                can_grant: flags & 1 != 0,
            },
            CapType::Zombie => Cap::Zombie {
                object,
                kind: if flags & 1 != 0 {
                    ZombieKind::Tcb
                } else {
                    ZombieKind::CNode
                },
                remaining: w1 as u32,
            },
            CapType::IrqControl => Cap::IrqControl,
            CapType::IrqHandler => Cap::IrqHandler { irq: w1 as u16 },
            CapType::IoPortControl => Cap::IoPortControl,
            CapType::IoPort => Cap::IoPort {
                first: w1 as u16,
                last: (w1 >> 16) as u16,
            },
            CapType::IoSpace => Cap::IoSpace {
                requester: w1 as u16,
                domain: (w1 >> 16) as u16,
            },
        }
    }
}
