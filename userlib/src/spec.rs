//! The types of a component's generated capability table.
//!
//! `capctl` writes one table per component from the system description
//! (`capctl gen-caps`, or `capctl::gencaps::build_script` in the component's
//! `build.rs`); the component includes it as `mod caps`. Every capability
//! is a typed [`Cap`] constant and every number the description states —
//! addresses, sizes, rights, ring geometry, DMA windows, interrupt bits,
//! heartbeat period — is a constant next to it, so component code never
//! writes one again:
//!
//! ```ignore
//! let nic = RegisterBlock::of(caps::NIC_BAR0);
//! caps::NIC_IRQ.handler.irq_handler_ack()?;
//! let rx = ring::attach::<4>(caps::NET_RX, generation)?;
//! let rx_pool_iova = caps::NIC_DMA_NET_RX_POOL.iova;
//! ```
//!
//! Memory descriptions ([`Mapping`], [`DeviceMapping`]) can only be made by
//! an `unsafe` constructor: the generated table is the one place that vouches
//! that the root task mapped them, which is what lets the runtime form views
//! of that memory safely.

pub use crate::cap::cap_type::{
    CNode, Endpoint, Frame4K, IoPort, IrqHandler, Notification, Pml4, Tcb,
};
pub use crate::cap::Cap;
pub use crate::time::Duration;

/// What a component may do with a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapRights {
    Read,
    ReadWrite,
    ReadExecute,
}

impl MapRights {
    pub const fn writable(self) -> bool {
        matches!(self, MapRights::ReadWrite)
    }
}

/// Memory the root task mapped into the component: a region, a ring
/// channel's memory or a pool. The frames' capability is the first page's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    frames: Cap<Frame4K>,
    vaddr: u64,
    size: u64,
    rights: MapRights,
}

impl Mapping {
    /// A mapping as the generated table states it.
    ///
    /// # Safety
    /// `size` bytes at `vaddr` (page-aligned) must be mapped with `rights`
    /// for the component's whole life; the root task guarantees this for
    /// every mapping of the component's spec.
    pub const unsafe fn granted(
        frames: Cap<Frame4K>,
        vaddr: u64,
        size: u64,
        rights: MapRights,
    ) -> Mapping {
        Mapping {
            frames,
            vaddr,
            size,
            rights,
        }
    }
    pub const fn frames(self) -> Cap<Frame4K> {
        self.frames
    }
    pub const fn vaddr(self) -> u64 {
        self.vaddr
    }
    pub const fn size(self) -> u64 {
        self.size
    }
    pub const fn rights(self) -> MapRights {
        self.rights
    }
    pub const fn writable(self) -> bool {
        self.rights.writable()
    }
}

/// Device registers (part of a BAR) the root task mapped uncached into
/// the component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceMapping {
    frames: Cap<Frame4K>,
    vaddr: u64,
    size: u64,
    writable: bool,
}

impl DeviceMapping {
    /// A device mapping as the generated table states it.
    ///
    /// # Safety
    /// As for [`Mapping::granted`], with device frames mapped uncached.
    pub const unsafe fn granted(
        frames: Cap<Frame4K>,
        vaddr: u64,
        size: u64,
        writable: bool,
    ) -> DeviceMapping {
        DeviceMapping {
            frames,
            vaddr,
            size,
            writable,
        }
    }
    pub const fn frames(self) -> Cap<Frame4K> {
        self.frames
    }
    pub const fn vaddr(self) -> u64 {
        self.vaddr
    }
    pub const fn size(self) -> u64 {
        self.size
    }
    pub const fn writable(self) -> bool {
        self.writable
    }
}

/// A range of IO ports of a legacy device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub cap: Cap<IoPort>,
    /// The first port.
    pub base: u16,
    /// How many ports from `base`.
    pub count: u16,
}

/// How a device's interrupt reaches the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqKind {
    /// An IOAPIC pin (legacy devices).
    Ioapic { pin: u8 },
    /// A PCI INTx line, routed to an IOAPIC pin by the root task.
    Intx,
    /// Message-signalled, through interrupt remapping when VT-d has it.
    Msi,
}

/// A device interrupt granted to the component: its handler, the bit it
/// sets in the component's notification, and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupt {
    pub handler: Cap<IrqHandler>,
    /// The bit of the component's own notification the interrupt sets.
    pub bit: u64,
    pub kind: IrqKind,
}

/// A DMA window of a device the component drives: the IO virtual addresses
/// at which the device may reach a region, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaWindow {
    /// The IO virtual address of the region's first byte.
    pub iova: u64,
    /// Bytes in the window.
    pub size: u64,
    /// The device may read the region.
    pub device_reads: bool,
    /// The device may write the region.
    pub device_writes: bool,
}

impl DmaWindow {
    /// The IO address of byte `offset` of the region if `offset..offset +
    /// length` lies inside the window.
    pub const fn iova_of(self, offset: u64, length: u64) -> Option<u64> {
        match offset.checked_add(length) {
            Some(end) if end <= self.size => Some(self.iova + offset),
            _ => None,
        }
    }

    /// The region offset of IO address `iova` if `iova..iova + length` lies
    /// inside the window.
    pub const fn offset_of(self, iova: u64, length: u64) -> Option<u64> {
        if iova < self.iova {
            return None;
        }
        let offset = iova - self.iova;
        match offset.checked_add(length) {
            Some(end) if end <= self.size => Some(offset),
            _ => None,
        }
    }
}

/// Which side of a ring pair a component holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingRole {
    /// Owns the pool: lends buffers, gets every one back.
    Owner,
    /// Borrows buffers and gives each back.
    Borrower,
}

/// One end of a ring channel: its shared memory, its geometry, this
/// component's side and pool mapping, and the doorbells both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingChannel {
    /// The channel's name in the system description.
    pub name: &'static str,
    /// The component at the other end.
    pub peer: &'static str,
    /// The ring pair's shared memory (read-write in both ends).
    pub memory: Mapping,
    /// Entries per ring (a power of two).
    pub entries: u32,
    /// Bytes per pool buffer (slot).
    pub buffer_size: u32,
    /// Alignment of data inside a slot.
    pub buffer_align: u32,
    /// Slots in the pool.
    pub pool_slots: u32,
    /// The pool as this component maps it (`None` if it does not).
    pub pool: Option<Mapping>,
    /// This component's side.
    pub role: RingRole,
    /// Signals the peer (the peer sees `peer_bit`).
    pub doorbell: Cap<Notification>,
    /// The bit the doorbell sets in the peer's notification.
    pub peer_bit: u64,
    /// The bit of this component's notification the peer's doorbell sets.
    pub bit: u64,
}

/// The fixed capabilities every component has (`ward_sysspec::SLOT_*`).
pub mod fixed {
    use super::*;

    /// The component's own thread.
    pub const TCB: Cap<Tcb> = Cap::from_cptr(crate::component::slot::TCB);
    /// Its CSpace root.
    pub const CNODE: Cap<CNode> = Cap::from_cptr(crate::component::slot::CNODE);
    /// Its VSpace.
    pub const VSPACE: Cap<Pml4> = Cap::from_cptr(crate::component::slot::VSPACE);
    /// Send-only endpoint to the supervisor's console.
    pub const CONSOLE: Cap<Endpoint> = Cap::from_cptr(crate::component::slot::CONSOLE);
    /// The component's own notification, bound to its thread.
    pub const NOTIFICATION: Cap<Notification> =
        Cap::from_cptr(crate::component::slot::NOTIFICATION);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dma_windows_translate_only_inside() {
        let window = DmaWindow {
            iova: 0x1000_0000,
            size: 0x8_0000,
            device_reads: false,
            device_writes: true,
        };
        assert_eq!(window.iova_of(0x800, 1522), Some(0x1000_0800));
        assert_eq!(window.iova_of(0x7_ffff, 1), Some(0x1007_ffff));
        assert_eq!(window.iova_of(0x7_ffff, 2), None);
        assert_eq!(window.iova_of(u64::MAX, 2), None);
        assert_eq!(window.offset_of(0x1000_0800, 1522), Some(0x800));
        assert_eq!(window.offset_of(0x0fff_ffff, 1), None);
        assert_eq!(window.offset_of(0x1007_ffff, 2), None);
    }
}
