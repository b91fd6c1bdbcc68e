//! Typed handles for the generated capability tables.
//!
//! `capctl gen-caps` (or `capctl::gencaps` from a component's `build.rs`)
//! writes a Rust file of constants for one component:
//!
//! ```ignore
//! pub const NET_RX_RING: Mapping = Mapping { slot: Slot::new(12), vaddr: 0x10_0000_0000, size: 0x3000, writable: true };
//! pub const NET_RX_SIGNAL: Slot<Notification> = Slot::new(13);
//! pub const NIC_IRQ_BIT: u64 = 1 << 0;
//! ```
//!
//! so component code says `caps::NET_RX_SIGNAL` and never a slot number, and
//! the type says what the slot holds. `userlib` turns a `Slot<K>` into its
//! own typed capability with `slot.index()`.

use core::marker::PhantomData;

/// A capability slot that holds a capability of kind `K`.
pub struct Slot<K> {
    index: u32,
    kind: PhantomData<K>,
}

impl<K> Slot<K> {
    pub const fn new(index: u32) -> Slot<K> {
        Slot {
            index,
            kind: PhantomData,
        }
    }
    /// The slot number (the CPtr in the component's one-level CSpace).
    pub const fn index(&self) -> u32 {
        self.index
    }
}

impl<K> Clone for Slot<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Slot<K> {}
impl<K> core::fmt::Debug for Slot<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Slot({})", self.index)
    }
}
impl<K> PartialEq for Slot<K> {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index
    }
}
impl<K> Eq for Slot<K> {}

/// Marker kinds for [`Slot`]; they mirror [`crate::CapKind`].
pub struct Tcb;
pub struct Cnode;
pub struct Vspace;
pub struct Endpoint;
pub struct Notification;
pub struct Frames;
pub struct DeviceFrames;
pub struct IoPorts;
pub struct IrqHandler;
pub struct IoSpace;

/// Memory mapped into the component: its frames' slot, where it is and how
/// big it is. Used for regions, ring memories and device BARs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping<K = Frames> {
    pub slot: Slot<K>,
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Bytes mapped (for a whole BAR: 0, the size is found at boot).
    pub size: u64,
    pub writable: bool,
}

/// A range of IO ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub slot: Slot<IoPorts>,
    pub base: u16,
    pub count: u16,
}

/// The fixed slots every component has (see [`crate::format`]).
pub const TCB: Slot<Tcb> = Slot::new(crate::SLOT_TCB);
pub const CNODE: Slot<Cnode> = Slot::new(crate::SLOT_CNODE);
pub const VSPACE: Slot<Vspace> = Slot::new(crate::SLOT_VSPACE);
pub const CONSOLE: Slot<Endpoint> = Slot::new(crate::SLOT_CONSOLE);
pub const NOTIFICATION: Slot<Notification> = Slot::new(crate::SLOT_NOTIFICATION);

/// How a network stack gets its IPv4 address (`ipv4` in system.toml).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv4Config {
    /// Ask a DHCP server.
    Dhcp,
    /// A fixed address.
    Static {
        /// The address.
        address: [u8; 4],
        /// Network prefix length, 1..=32.
        prefix_len: u8,
        /// Default gateway, in the same network.
        gateway: Option<[u8; 4]>,
    },
}
