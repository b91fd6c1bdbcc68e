//! The checked system: every name resolved to an index, every value in its
//! unit, every grant remembering the span of the text that made it.
//!
//! `check` builds a [`System`] from the raw schema; `layout` then gives each
//! component its capability slots, badge bits and addresses. Everything
//! after that (lint, explain, graph, diff, build) reads only this model.

use std::ops::Range;

pub use ward_sysspec::{ChannelKind, ComponentKind, IrqKind, RestartPolicy, Rights};

pub type Span = Range<usize>;

/// Name of the root task as a fault handler, endpoint server or target.
pub const SUPERVISOR: &str = "supervisor";

#[derive(Debug, Clone)]
pub struct System {
    pub name: String,
    /// `[system] audit`: the root task prints the capability dump at boot.
    pub audit: bool,
    pub kernel: Kernel,
    pub components: Vec<Component>,
    pub regions: Vec<Region>,
    pub devices: Vec<Device>,
    pub channels: Vec<Channel>,
    /// Lints switched off in `[lints] allow`.
    pub allowed_lints: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Kernel {
    pub config: String,
    pub cmdline: String,
    pub cmdline_span: Option<Span>,
    pub ram: u64,
    pub ram_span: Span,
    pub iommu: bool,
    pub iova_bits: u8,
    /// `cpus`: cores the kernel runs on (1 when not given).
    pub cpus: u8,
    /// Whether `cpus` was given (then the kernel command line and the
    /// image say it; otherwise the kernel uses every core the machine has).
    pub cpus_given: bool,
}

/// Who handles a component's faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultHandler {
    Supervisor,
    Component(usize),
}

#[derive(Debug, Clone)]
pub struct Component {
    pub name: String,
    /// Span of the table's name in `[component.NAME]`.
    pub span: Span,
    pub kind: ComponentKind,
    pub program: String,
    pub priority: u8,
    pub priority_span: Span,
    /// `core`: the core its thread runs on (0 when not given).
    pub core: u8,
    pub core_span: Option<Span>,
    pub stack: u64,
    pub fault_handler: FaultHandler,
    pub fault_handler_span: Option<Span>,
    /// `may_restart`: peers whose restart it may ask the supervisor for.
    pub may_restart: Vec<(usize, Span)>,
    pub heartbeat_us: u64,
    pub restart: RestartPolicy,
    pub max_restarts: u32,
    pub backoff_us: u64,
    pub min_run_us: u64,
    pub devices: Vec<(usize, Span)>,
    pub irqs: Vec<(usize, Span)>,
    pub maps: Vec<Map>,
    /// `ipv4`: how this component (a network stack) gets its address.
    pub ipv4: Option<Ipv4Setting>,
    /// `settings`, in file order: numbers the program interprets.
    pub settings: Vec<Setting>,
}

/// A network stack's IPv4 configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Setting {
    /// Ask a DHCP server.
    Dhcp,
    /// A fixed address with its prefix length, and maybe a default gateway.
    Static {
        address: [u8; 4],
        prefix_len: u8,
        gateway: Option<[u8; 4]>,
    },
}

/// One entry of a component's `settings`.
#[derive(Debug, Clone)]
pub struct Setting {
    pub name: String,
    pub value: u64,
    /// Span of the name.
    pub span: Span,
}

/// A region mapped into a component.
#[derive(Debug, Clone)]
pub struct Map {
    pub region: usize,
    pub rights: Rights,
    pub at: Option<u64>,
    pub cap_name: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Region {
    pub name: String,
    pub span: Span,
    pub size: u64,
    pub page_size: u64,
    pub fill: u8,
    /// `Some(channel)` for the shared memory of a ring channel (made by
    /// capctl, not written in the file).
    pub ring_of: Option<usize>,
    /// The kernel's statistics page (`KERNEL_STATISTICS_REGION`): not
    /// allocated but shared read-only from the kernel's own page.
    pub kernel_statistics: bool,
}

/// The built-in region a component maps to read the kernel's statistics
/// (interrupts per vector, idle time, switches, syscalls): it exists when
/// some component maps it, read-only.
pub const KERNEL_STATISTICS_REGION: &str = "kernel-statistics";

/// How a device is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceMatch {
    PciId { vendor: u16, device: u16 },
    PciAddress { bus: u8, dev: u8, func: u8 },
    Legacy,
}

#[derive(Debug, Clone)]
pub struct Device {
    pub name: String,
    pub span: Span,
    pub matcher: DeviceMatch,
    pub bars: Vec<Bar>,
    pub ioports: Option<(u16, u16, Span)>,
    pub irq: IrqKind,
    pub irq_line: u8,
    pub irq_span: Option<Span>,
    /// `irq_core`: where the interrupt is steered, when not its driver's core.
    pub irq_core: Option<(u8, Span)>,
    pub iommu: bool,
    pub unsafe_dma: bool,
    pub optional: bool,
    pub dma: Vec<Dma>,
}

#[derive(Debug, Clone)]
pub struct Bar {
    pub index: u8,
    /// Bytes granted from the BAR's start; `None`: the whole BAR.
    pub size: Option<u64>,
    pub span: Span,
}

/// A DMA window: a region mapped into the device's IOMMU domain.
#[derive(Debug, Clone)]
pub struct Dma {
    pub region: usize,
    pub iova: u64,
    pub size: u64,
    pub rights: Rights,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    pub span: Span,
    pub kind: ChannelKind,
    pub ends: Ends,
}

/// The components at the ends of a channel.
#[derive(Debug, Clone)]
pub enum Ends {
    Endpoint {
        /// `None`: the supervisor (root task) serves it.
        server: Option<usize>,
        server_span: Span,
        /// (component, badge, span)
        clients: Vec<(usize, u64, Span)>,
    },
    Notification {
        waiter: usize,
        waiter_span: Span,
        signallers: Vec<(usize, Span)>,
    },
    Ring {
        producer: usize,
        producer_span: Span,
        consumer: usize,
        consumer_span: Span,
        entries: u32,
        entries_span: Span,
        buffer_size: u32,
        pool: Option<usize>,
        pool_span: Option<Span>,
        producer_pool: Rights,
        consumer_pool: Rights,
        /// The consumer owns the pool (lends empty buffers, as a network
        /// stack does to a NIC driver); by default the producer does.
        owner_is_consumer: bool,
        /// The region made for the ring's shared memory.
        ring_region: usize,
    },
}

impl System {
    pub fn component_index(&self, name: &str) -> Option<usize> {
        self.components.iter().position(|c| c.name == name)
    }
    pub fn region_index(&self, name: &str) -> Option<usize> {
        self.regions.iter().position(|r| r.name == name)
    }
    pub fn device_index(&self, name: &str) -> Option<usize> {
        self.devices.iter().position(|d| d.name == name)
    }
    pub fn channel_index(&self, name: &str) -> Option<usize> {
        self.channels.iter().position(|c| c.name == name)
    }

    /// The component that drives device `dev` (lists it in `devices`).
    pub fn drivers_of(&self, dev: usize) -> Vec<usize> {
        (0..self.components.len())
            .filter(|&c| self.components[c].devices.iter().any(|(d, _)| *d == dev))
            .collect()
    }

    /// The component indices named at the ends of a channel.
    pub fn channel_members(&self, ch: usize) -> Vec<usize> {
        match &self.channels[ch].ends {
            Ends::Endpoint {
                server, clients, ..
            } => server
                .iter()
                .copied()
                .chain(clients.iter().map(|c| c.0))
                .collect(),
            Ends::Notification {
                waiter, signallers, ..
            } => std::iter::once(*waiter)
                .chain(signallers.iter().map(|s| s.0))
                .collect(),
            Ends::Ring {
                producer, consumer, ..
            } => vec![*producer, *consumer],
        }
    }
}

/// The text of a byte size: "4 KiB", "2 MiB", "1536 B".
pub fn human_size(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{} {}", bytes >> shift, unit);
        }
    }
    format!("{bytes} B")
}

/// The text of a duration in microseconds: "10ms", "2s", "500us".
pub fn human_duration(us: u64) -> String {
    if us >= 1_000_000 && us.is_multiple_of(1_000_000) {
        format!("{}s", us / 1_000_000)
    } else if us >= 1_000 && us.is_multiple_of(1_000) {
        format!("{}ms", us / 1_000)
    } else {
        format!("{us}us")
    }
}

/// "NET_RX_POOL" from "net-rx-pool".
pub fn const_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}
