//! The on-disk records of a compiled spec, their enumerations and the fixed
//! points of a component's capability space and address space.
//!
//! Every record is made only of byte-order-explicit integers, so it has no
//! alignment requirement and reads the same on any host. Changing a record
//! or the meaning of a field means bumping [`VERSION`].

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// First eight bytes of every compiled spec.
pub const MAGIC: [u8; 8] = *b"WARDSPEC";
/// Format version. Bumped on any change of layout or meaning; the decoder
/// accepts exactly this version, because a root task that half-understands
/// a spec would hand out the wrong capabilities.
pub const VERSION: u32 = 3;

/// [`Header::flags`] bit: print every component's capability space at boot.
pub const FLAG_AUDIT: u32 = 1 << 0;
/// "No index" in a `u32` reference field (no fault handler: the supervisor;
/// no pool; no driver).
pub const NONE: u32 = u32::MAX;

// ---------------------------------------------------------------------------
// Fixed slots of every component's CSpace. Granted capabilities follow from
// `FIRST_GRANTED_SLOT` in the order capctl lays them out; the generated caps
// table names them, so no component ever writes a slot number.

/// Slot 0 stays empty so that a zeroed CPtr never names a capability.
pub const SLOT_NULL: u32 = 0;
/// The component's own thread (TCB).
pub const SLOT_TCB: u32 = 1;
/// The component's own root CNode.
pub const SLOT_CNODE: u32 = 2;
/// The component's own VSpace (top-level page table).
pub const SLOT_VSPACE: u32 = 3;
/// Send-only endpoint to the supervisor's console, badged with the
/// component's index, for logging.
pub const SLOT_CONSOLE: u32 = 4;
/// The component's own notification, bound to its TCB. Every signal to the
/// component (IRQs, ring doorbells, notification channels) arrives here as
/// one bit of the badge.
pub const SLOT_NOTIFICATION: u32 = 5;
/// Signal-only notification to the supervisor for heartbeats; present only
/// when the component has a heartbeat.
pub const SLOT_HEARTBEAT: u32 = 6;
/// Reserved for later fixed capabilities (kept free so that adding one does
/// not move every granted slot).
pub const SLOT_RESERVED: u32 = 7;
/// First slot of the capabilities granted by system.toml.
pub const FIRST_GRANTED_SLOT: u32 = 8;
/// Most capabilities one component may hold: its CNode has 2^8 slots, which
/// is 16 KiB of CNode per component in the kernel's 64-byte slot format.
pub const MAX_SLOTS: u32 = 256;
/// A component's notification badge has 64 bits; each signal source needs one.
pub const MAX_SIGNAL_BITS: u32 = 64;

// ---------------------------------------------------------------------------
// Fixed points of a component's address space (user half, see ward-abi).

/// Top of a component's stack; the stack grows down from here. The page
/// below the stack stays unmapped as a guard.
pub const COMPONENT_STACK_TOP: u64 = 0x0000_7fff_f000_0000;
/// Where the component's IPC buffer is mapped (one page).
pub const COMPONENT_IPC_BUFFER: u64 = 0x0000_7fff_f800_0000;
/// Where the root task maps the read-only status page in every component:
/// in the reserved top area (between the stack top and the IPC buffer),
/// where capctl never places a mapping.
pub const COMPONENT_STATUS_PAGE: u64 = 0x0000_7fff_f400_0000;
/// The supervisor's (root task's) priority: above every component, so that
/// fault handling and restarts are never starved. Components get 1..=254.
pub const SUPERVISOR_PRIORITY: u8 = 255;
/// Start of the window where capctl places mappings that have no fixed
/// address. 64 GiB is far above any program image (programs link at a few
/// MiB) and leaves the range below it for fixed mappings.
pub const AUTO_MAP_BASE: u64 = 0x0000_0010_0000_0000;
/// End of the window for automatic mappings (exclusive); fixed addresses
/// may lie anywhere in user space outside the stack and IPC-buffer area.
pub const AUTO_MAP_END: u64 = 0x0000_7000_0000_0000;
/// Lowest address of the reserved top area (stack, guard, IPC buffer):
/// no mapping may reach into it. 1 GiB below the stack top leaves room for
/// any configured stack.
pub const RESERVED_TOP_BASE: u64 = COMPONENT_STACK_TOP - (1 << 30);
/// End of the reserved top area (exclusive).
pub const RESERVED_TOP_END: u64 = COMPONENT_IPC_BUFFER + 0x1000;

/// The shared memory a ring channel of `entries` entries needs (a
/// `ward-ring` pair region), rounded up to whole 4 KiB pages.
pub const fn ring_memory_bytes(entries: u64) -> u64 {
    let bytes = ward_ring::layout::region_bytes_for(entries as u32) as u64;
    bytes.div_ceil(4096) * 4096
}

/// Most pool buffers (slots) one ring channel may have: the ownership set a
/// ring end keeps (`ward_userlib::ring`) tracks this many, 128 bytes' worth.
pub const MAX_RING_POOL_SLOTS: u32 = 1024;

/// Alignment of data inside a ring pool's buffers: a cache line, so that a
/// frame or message never shares a line with the buffer before it.
pub const RING_BUFFER_ALIGN: u32 = 64;

// ---------------------------------------------------------------------------
// Enumerations stored as one byte.

/// Declares a `u8` enumeration with a name for each value, used both in the
/// binary format and in the text of dumps and reports.
macro_rules! byte_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name { $($(#[$vmeta])* $variant = $value,)* }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// Decodes the stored byte.
            pub fn from_u8(value: u8) -> Option<$name> {
                match value { $($value => Some($name::$variant),)* _ => None }
            }
            /// The name used in text formats.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
            /// Parses the name used in text formats.
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

byte_enum! {
    /// What a component is; lints use it (an app should not see devices).
    ComponentKind {
        Driver = 0 => "driver",
        Server = 1 => "server",
        App = 2 => "app",
    }
}

byte_enum! {
    /// What the supervisor does when a component faults.
    RestartPolicy {
        /// Rebuild it from fresh memory (up to `max_restarts` times).
        Restart = 0 => "restart",
        /// Keep it stopped and report.
        Hold = 1 => "hold",
    }
}

byte_enum! {
    /// Where a region's memory comes from.
    RegionKind {
        /// Declared in `[region.NAME]`.
        Plain = 0 => "region",
        /// The shared memory of a ring channel, made by capctl.
        Ring = 1 => "ring",
        /// The kernel's statistics page (one page, read-only): the root task
        /// shares its own frame instead of allocating one.
        KernelStatistics = 2 => "kernel-statistics",
    }
}

byte_enum! {
    /// How a device is found on the machine.
    DeviceMatch {
        /// PCI vendor:device id (the first function that matches).
        PciId = 0 => "pci-id",
        /// PCI bus:device.function.
        PciAddress = 1 => "pci-address",
        /// A legacy (ISA) device: IO ports and an IOAPIC pin.
        Legacy = 2 => "legacy",
    }
}

byte_enum! {
    /// How a device interrupts.
    IrqKind {
        None = 0 => "none",
        /// PCI INTx, routed through the IOAPIC.
        Intx = 1 => "intx",
        /// PCI MSI.
        Msi = 2 => "msi",
        /// A fixed IOAPIC pin (legacy devices), in `irq_line`.
        Ioapic = 3 => "ioapic",
    }
}

byte_enum! {
    /// The kind of a channel.
    ChannelKind {
        /// IPC endpoint: one server, badged clients that call it.
        Endpoint = 0 => "endpoint",
        /// Signals: one waiter, signallers each with a badge bit.
        Notification = 1 => "notification",
        /// A shared-memory ring pair (free/used) with doorbells both ways.
        Ring = 2 => "ring",
    }
}

byte_enum! {
    /// The kind of a capability in a component's CSpace.
    CapKind {
        Tcb = 0 => "tcb",
        Cnode = 1 => "cnode",
        Vspace = 2 => "vspace",
        /// Endpoint: target is a channel, with arg = the server component
        /// (NONE: the supervisor). Target NONE: arg NONE is the supervisor's
        /// console; arg = the component itself is the endpoint on which it
        /// receives the faults of the components it handles.
        Endpoint = 3 => "endpoint",
        /// Notification: signals (or, for a component's own notification,
        /// waits on) the notification of component `arg`, NONE being the
        /// supervisor's heartbeat; target is the channel, or NONE.
        Notification = 4 => "notification",
        /// Frames of a region mapped at `vaddr`; target is a region.
        Frames = 5 => "frames",
        /// Device frames of one BAR (arg = BAR index, size = bytes granted,
        /// 0 = whole BAR) mapped uncached at `vaddr`; target is a device.
        DeviceFrames = 6 => "device-frames",
        /// The IO-port range of a legacy device; target is a device.
        IoPorts = 7 => "ioports",
        /// The IRQ handler of a device; badge = its bit in the notification.
        IrqHandler = 8 => "irq",
        /// The IOMMU domain of a device; target is a device.
        IoSpace = 9 => "iospace",
    }
}

/// Access rights, as a bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rights(pub u8);

impl Rights {
    pub const READ: Rights = Rights(1);
    pub const WRITE: Rights = Rights(2);
    pub const EXECUTE: Rights = Rights(4);
    /// Endpoints: may transfer capabilities with the message.
    pub const GRANT: Rights = Rights(8);
    pub const NONE: Rights = Rights(0);
    pub const ALL: u8 = 0xf;

    pub fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    /// The letters of the rights, in the order r, w, x, g ("-" for none).
    pub fn letters(self) -> RightsText {
        let mut text = RightsText {
            bytes: [0; 4],
            len: 0,
        };
        for (bit, letter) in [(1, b'r'), (2, b'w'), (4, b'x'), (8, b'g')] {
            if self.0 & bit != 0 {
                text.bytes[text.len] = letter;
                text.len += 1;
            }
        }
        if text.len == 0 {
            text.bytes[0] = b'-';
            text.len = 1;
        }
        text
    }

    /// Parses letters from "rwxg" in any order, or "-" for none.
    pub fn parse(text: &str) -> Option<Rights> {
        if text == "-" {
            return Some(Rights::NONE);
        }
        if text.is_empty() {
            return None;
        }
        let mut bits = 0u8;
        for c in text.bytes() {
            let bit = match c {
                b'r' => 1,
                b'w' => 2,
                b'x' => 4,
                b'g' => 8,
                _ => return None,
            };
            if bits & bit != 0 {
                return None;
            }
            bits |= bit;
        }
        Some(Rights(bits))
    }
}

/// The text form of [`Rights`], without allocation.
#[derive(Clone, Copy)]
pub struct RightsText {
    bytes: [u8; 4],
    len: usize,
}

impl RightsText {
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("-")
    }
}

impl core::fmt::Display for Rights {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.letters().as_str())
    }
}

/// Device flags.
pub mod device_flags {
    /// The device gets an IOMMU domain (the default).
    pub const IOMMU: u8 = 1;
    /// The device may DMA without an IOMMU domain (explicitly unsafe).
    pub const UNSAFE_DMA: u8 = 2;
    /// A missing device is a boot warning rather than an error.
    pub const OPTIONAL: u8 = 4;
}

// ---------------------------------------------------------------------------
// Records.

/// A string in the string table: byte offset and length, UTF-8.
#[repr(C)]
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
    Unaligned,
)]
pub struct StrRef {
    pub offset: U32,
    pub len: U32,
}

/// Where a table lives: byte offset from the start of the spec and the
/// number of records (for the string table: the number of bytes).
#[repr(C)]
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
    Unaligned,
)]
pub struct Section {
    pub offset: U32,
    pub count: U32,
}

/// The spec header, at offset 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`VERSION`].
    pub version: U32,
    /// `size_of::<Header>()` when written; checked.
    pub header_len: U32,
    /// Length of the whole spec in bytes; checked against the module length.
    pub total_len: U32,
    /// FNV-1a 32 of the whole spec with this field set to zero.
    pub checksum: U32,
    /// The machine RAM the spec was checked against, in bytes.
    pub ram_bytes: U64,
    /// The system's name.
    pub name: StrRef,
    /// Name of the kernel configuration the system was written for.
    pub kernel_config: StrRef,
    /// The kernel command line.
    pub cmdline: StrRef,
    /// System-wide switches (`FLAG_*`); unknown bits are refused.
    pub flags: U32,
    pub components: Section,
    pub regions: Section,
    pub devices: Section,
    pub dma: Section,
    pub channels: Section,
    pub caps: Section,
    /// The string table; `count` is its length in bytes.
    pub strings: Section,
}

/// One component.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
pub struct ComponentRec {
    pub name: StrRef,
    /// The boot-module file name of its program ELF ("e1000.elf").
    pub module: StrRef,
    /// [`ComponentKind`].
    pub kind: u8,
    /// Scheduling priority, 1..=254 (the supervisor runs at 255).
    pub priority: u8,
    /// [`RestartPolicy`].
    pub restart: u8,
    /// The core its thread runs on (`core` in system.toml; 0 = the first).
    pub core: u8,
    /// Restarts allowed before the component is held.
    pub max_restarts: U32,
    pub stack_bytes: U64,
    /// Delay before a restart, in microseconds (doubled on each restart).
    pub backoff_us: U64,
    /// A component that faults sooner than this after a (re)start counts
    /// against `max_restarts`; one that ran longer resets the count.
    pub min_run_us: U64,
    /// Heartbeat period in microseconds; 0 = no heartbeat.
    pub heartbeat_us: U64,
    /// Index of the component that handles its faults; [`NONE`] = supervisor.
    pub fault_handler: U32,
    /// First record of its capabilities in the cap table.
    pub first_cap: U32,
    pub cap_count: U32,
    /// Components (bit = component index) whose restart this one may ask
    /// the supervisor for (`may_restart`): the network stack, say, asks for
    /// the NIC driver's when its ring or progress checks fail.
    pub may_restart: U32,
    /// Hash of its capability layout (slot, kind and name of each cap); the
    /// generated caps table carries the same value.
    pub layout_hash: U64,
}

/// One memory region.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
pub struct RegionRec {
    pub name: StrRef,
    /// Size in bytes; a multiple of `page_size`.
    pub size: U64,
    /// 4096 or 2 MiB.
    pub page_size: U64,
    /// [`RegionKind`].
    pub kind: u8,
    /// Byte the region is filled with before use (normally 0).
    pub fill: u8,
    pub _reserved: [u8; 6],
}

/// One device.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
pub struct DeviceRec {
    pub name: StrRef,
    /// [`DeviceMatch`].
    pub match_kind: u8,
    /// [`IrqKind`].
    pub irq_kind: u8,
    /// The IOAPIC pin for [`IrqKind::Ioapic`].
    pub irq_line: u8,
    /// [`device_flags`].
    pub flags: u8,
    pub vendor: U16,
    pub device: U16,
    pub bus: u8,
    pub dev: u8,
    pub func: u8,
    /// Bit i set: BAR i is granted to the driver.
    pub bar_mask: u8,
    pub ioport_base: U16,
    pub ioport_count: U16,
    /// Per BAR: bytes granted from its start; 0 = the whole BAR.
    pub bar_bytes: [U64; 6],
    /// Index of the component that drives it; [`NONE`] if nobody does.
    pub driver: U32,
    /// The core its interrupt is steered to (`irq_core` in system.toml;
    /// by default its driver's core).
    pub irq_core: u8,
    pub _reserved: [u8; 3],
}

/// One DMA window: part of a region mapped into a device's IOMMU domain.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
pub struct DmaRec {
    pub device: U32,
    pub region: U32,
    /// IO virtual address the device uses.
    pub iova: U64,
    /// Bytes mapped, from the start of the region.
    pub size: U64,
    /// [`Rights`] of the device: r = it may read memory, w = write it.
    pub rights: u8,
    pub _reserved: [u8; 7],
}

/// One channel.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
pub struct ChannelRec {
    pub name: StrRef,
    /// [`ChannelKind`].
    pub kind: u8,
    pub _reserved: [u8; 3],
    /// Rings: number of entries (a power of two); 0 otherwise.
    pub entries: U32,
    /// Rings: bytes per buffer in the pool; 0 otherwise.
    pub buffer_size: U32,
    /// Rings: index of the pool region, or [`NONE`].
    pub pool: U32,
    /// Rings: index of the ring's own shared-memory region, or [`NONE`].
    pub ring_region: U32,
    /// The receiving side: server / waiter / consumer (component index);
    /// [`NONE`] for an endpoint the supervisor serves.
    pub receiver: U32,
}

/// One capability of one component.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
pub struct CapRec {
    /// Its name in the generated caps table ("NET_RX_RING").
    pub name: StrRef,
    /// Slot in the component's CNode.
    pub slot: U32,
    /// [`CapKind`].
    pub kind: u8,
    /// [`Rights`].
    pub rights: u8,
    pub _reserved: [u8; 2],
    /// Badge (endpoints), badge bit (notifications, IRQs), or 0.
    pub badge: U64,
    /// Index into the table the kind implies (see [`CapKind`]), or [`NONE`].
    pub target: U32,
    /// Kind-specific: BAR index for device frames; for a notification that
    /// signals a component directly, that component's index.
    pub arg: U32,
    /// Where it is mapped (frames, device frames), or 0.
    pub vaddr: U64,
    /// Bytes mapped (frames, device frames; 0 = whole BAR), or 0.
    pub size: U64,
}

// ---------------------------------------------------------------------------
// Typed views of the enumeration fields. `Spec::decode` has checked every
// byte, so on a decoded spec these never see an unknown value; the fallback
// only keeps them total.

impl ComponentRec {
    pub fn kind(&self) -> ComponentKind {
        ComponentKind::from_u8(self.kind).unwrap_or(ComponentKind::App)
    }
    pub fn restart_policy(&self) -> RestartPolicy {
        RestartPolicy::from_u8(self.restart).unwrap_or(RestartPolicy::Hold)
    }
    /// The index of the component that handles its faults; `None`: the supervisor.
    pub fn fault_handler(&self) -> Option<usize> {
        match self.fault_handler.get() {
            NONE => None,
            i => Some(i as usize),
        }
    }
}

impl RegionRec {
    pub fn kind(&self) -> RegionKind {
        RegionKind::from_u8(self.kind).unwrap_or(RegionKind::Plain)
    }
}

impl DeviceRec {
    pub fn match_kind(&self) -> DeviceMatch {
        DeviceMatch::from_u8(self.match_kind).unwrap_or(DeviceMatch::PciId)
    }
    pub fn irq_kind(&self) -> IrqKind {
        IrqKind::from_u8(self.irq_kind).unwrap_or(IrqKind::None)
    }
    pub fn has_flag(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
    /// Whether BAR `index` is granted, and how many bytes of it (0 = all).
    pub fn bar(&self, index: usize) -> Option<u64> {
        (index < 6 && self.bar_mask & (1 << index) != 0).then(|| self.bar_bytes[index].get())
    }
    /// The index of the component that drives it.
    pub fn driver(&self) -> Option<usize> {
        match self.driver.get() {
            NONE => None,
            i => Some(i as usize),
        }
    }
}

impl ChannelRec {
    pub fn kind(&self) -> ChannelKind {
        ChannelKind::from_u8(self.kind).unwrap_or(ChannelKind::Endpoint)
    }
}

impl CapRec {
    pub fn kind(&self) -> CapKind {
        CapKind::from_u8(self.kind).unwrap_or(CapKind::Tcb)
    }
    pub fn rights(&self) -> Rights {
        Rights(self.rights)
    }
}
