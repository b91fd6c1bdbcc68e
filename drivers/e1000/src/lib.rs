//! The e1000 driver: QEMU's Intel 82540EM (8086:100e) driven by an
//! unprivileged component, written against the PCI/PCI-X Family of Gigabit
//! Ethernet Controllers Software Developer's Manual (8254x SDM, rev. 4.0).
//!
//! What the driver holds, and nothing more (system.toml, `[component.e1000]`):
//! the NIC's registers (BAR 0, 128 KiB), its interrupt as a bit of the
//! driver's notification, the `nic-descriptors` region (which the NIC also
//! reaches by DMA), its counter page, the ring pairs to the network stack
//! and the small pool of control messages. The NIC's IOMMU domain maps the
//! descriptor memory and the stack's packet pools; the driver itself never
//! maps a packet pool: it moves buffers between the stack's rings and the
//! NIC's descriptors as pool offsets translated to IO addresses, so it can
//! neither read nor change a frame. docs/drivers.md tells the whole story.
//!
//! - [`regs`], [`descriptors`]: the registers, bits and descriptor formats, with their sections;
//! - [`device`]: reset, configuration, station address, link (SDM 14.3-14.5);
//! - [`rings`]: the NIC's descriptor rings and the driver's shadow of them;
//! - [`datapath`]: buffers between the stack's ring pairs and the NIC, every input checked;
//! - [`events`]: link and address messages to the stack;
//! - [`settings`]: interrupt mitigation and polling, defaults and reasons;
//! - [`counters`], [`stats`]: the counter page and the NIC's statistics registers;
//! - [`faults`]: the test-only fault injection of the `e1000-faults` build;
//! - [`driver`]: the bottom half, NAPI-style, and restarts.
#![cfg_attr(not(test), no_std)]

pub mod counters;
pub mod datapath;
pub mod descriptors;
pub mod device;
pub mod driver;
pub mod events;
pub mod faults;
pub mod regs;
pub mod rings;
pub mod settings;
pub mod stats;
