//! An owned model of a compiled spec, its encoder and the way back from a
//! decoded [`Spec`] (feature `alloc`).
//!
//! capctl builds a [`SystemSpec`] from a checked `system.toml` and calls
//! [`SystemSpec::encode`]; tests check that [`SystemSpec::from_spec`] of the
//! decoded bytes gives the same model back.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::IntoBytes;

use crate::decode::Spec;
use crate::format::*;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemSpec {
    pub name: String,
    /// The root task prints every component's capability space at boot.
    pub audit: bool,
    pub kernel_config: String,
    pub cmdline: String,
    pub ram_bytes: u64,
    pub components: Vec<Component>,
    pub regions: Vec<Region>,
    pub devices: Vec<Device>,
    pub dma: Vec<DmaWindow>,
    pub channels: Vec<Channel>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    /// Boot-module file name of its program.
    pub module: String,
    pub kind: ComponentKind,
    pub priority: u8,
    /// The core its thread runs on.
    pub core: u8,
    pub restart: RestartPolicy,
    pub max_restarts: u32,
    pub stack_bytes: u64,
    pub backoff_us: u64,
    pub min_run_us: u64,
    pub heartbeat_us: u64,
    /// Index of the handling component; `None`: the supervisor.
    pub fault_handler: Option<u32>,
    /// Components (bit = index) whose restart it may ask the supervisor for.
    pub may_restart: u32,
    pub layout_hash: u64,
    /// In slot order.
    pub caps: Vec<Cap>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cap {
    pub name: String,
    pub slot: u32,
    pub kind: CapKind,
    pub rights: Rights,
    pub badge: u64,
    /// See [`CapRec::target`]; [`NONE`] when there is none.
    pub target: u32,
    pub arg: u32,
    pub vaddr: u64,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub size: u64,
    pub page_size: u64,
    pub kind: RegionKind,
    pub fill: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub match_kind: DeviceMatch,
    pub vendor: u16,
    pub device: u16,
    pub bus: u8,
    pub dev: u8,
    pub func: u8,
    pub irq_kind: IrqKind,
    pub irq_line: u8,
    /// [`device_flags`].
    pub flags: u8,
    pub bar_mask: u8,
    pub bar_bytes: [u64; 6],
    pub ioport_base: u16,
    pub ioport_count: u16,
    pub driver: Option<u32>,
    /// The core its interrupt is steered to.
    pub irq_core: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmaWindow {
    pub device: u32,
    pub region: u32,
    pub iova: u64,
    pub size: u64,
    pub rights: Rights,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
    pub entries: u32,
    pub buffer_size: u32,
    pub pool: Option<u32>,
    pub ring_region: Option<u32>,
    pub receiver: u32,
}

/// Builds the string table, sharing equal strings.
struct Strings {
    bytes: Vec<u8>,
}

impl Strings {
    fn add(&mut self, s: &str) -> StrRef {
        let found = if s.is_empty() {
            Some(0)
        } else {
            self.bytes.windows(s.len()).position(|w| w == s.as_bytes())
        };
        let offset = match found {
            Some(at) => at,
            None => {
                let at = self.bytes.len();
                self.bytes.extend_from_slice(s.as_bytes());
                at
            }
        };
        StrRef {
            offset: U32::new(offset as u32),
            len: U32::new(s.len() as u32),
        }
    }
}

fn opt(index: Option<u32>) -> U32 {
    U32::new(index.unwrap_or(NONE))
}

fn from_opt(value: U32) -> Option<u32> {
    match value.get() {
        NONE => None,
        v => Some(v),
    }
}

impl SystemSpec {
    /// Encodes the spec. The result decodes with [`Spec::decode`].
    pub fn encode(&self) -> Vec<u8> {
        let mut strings = Strings { bytes: Vec::new() };
        let mut caps: Vec<CapRec> = Vec::new();
        let components: Vec<ComponentRec> = self
            .components
            .iter()
            .map(|c| {
                let first_cap = caps.len() as u32;
                for cap in &c.caps {
                    caps.push(CapRec {
                        name: strings.add(&cap.name),
                        slot: U32::new(cap.slot),
                        kind: cap.kind as u8,
                        rights: cap.rights.0,
                        _reserved: [0; 2],
                        badge: U64::new(cap.badge),
                        target: U32::new(cap.target),
                        arg: U32::new(cap.arg),
                        vaddr: U64::new(cap.vaddr),
                        size: U64::new(cap.size),
                    });
                }
                ComponentRec {
                    name: strings.add(&c.name),
                    module: strings.add(&c.module),
                    kind: c.kind as u8,
                    priority: c.priority,
                    restart: c.restart as u8,
                    core: c.core,
                    max_restarts: U32::new(c.max_restarts),
                    stack_bytes: U64::new(c.stack_bytes),
                    backoff_us: U64::new(c.backoff_us),
                    min_run_us: U64::new(c.min_run_us),
                    heartbeat_us: U64::new(c.heartbeat_us),
                    fault_handler: opt(c.fault_handler),
                    first_cap: U32::new(first_cap),
                    cap_count: U32::new(c.caps.len() as u32),
                    may_restart: U32::new(c.may_restart),
                    layout_hash: U64::new(c.layout_hash),
                }
            })
            .collect();
        let regions: Vec<RegionRec> = self
            .regions
            .iter()
            .map(|r| RegionRec {
                name: strings.add(&r.name),
                size: U64::new(r.size),
                page_size: U64::new(r.page_size),
                kind: r.kind as u8,
                fill: r.fill,
                _reserved: [0; 6],
            })
            .collect();
        let devices: Vec<DeviceRec> = self
            .devices
            .iter()
            .map(|d| DeviceRec {
                name: strings.add(&d.name),
                match_kind: d.match_kind as u8,
                irq_kind: d.irq_kind as u8,
                irq_line: d.irq_line,
                flags: d.flags,
                vendor: U16::new(d.vendor),
                device: U16::new(d.device),
                bus: d.bus,
                dev: d.dev,
                func: d.func,
                bar_mask: d.bar_mask,
                ioport_base: U16::new(d.ioport_base),
                ioport_count: U16::new(d.ioport_count),
                bar_bytes: d.bar_bytes.map(U64::new),
                driver: opt(d.driver),
                irq_core: d.irq_core,
                _reserved: [0; 3],
            })
            .collect();
        let dma: Vec<DmaRec> = self
            .dma
            .iter()
            .map(|w| DmaRec {
                device: U32::new(w.device),
                region: U32::new(w.region),
                iova: U64::new(w.iova),
                size: U64::new(w.size),
                rights: w.rights.0,
                _reserved: [0; 7],
            })
            .collect();
        let channels: Vec<ChannelRec> = self
            .channels
            .iter()
            .map(|c| ChannelRec {
                name: strings.add(&c.name),
                kind: c.kind as u8,
                _reserved: [0; 3],
                entries: U32::new(c.entries),
                buffer_size: U32::new(c.buffer_size),
                pool: opt(c.pool),
                ring_region: opt(c.ring_region),
                receiver: U32::new(c.receiver),
            })
            .collect();
        let name = strings.add(&self.name);
        let kernel_config = strings.add(&self.kernel_config);
        let cmdline = strings.add(&self.cmdline);

        let mut out = vec_of_zeros(core::mem::size_of::<Header>());
        let section = |out: &mut Vec<u8>, bytes: &[u8], count: usize| {
            let offset = out.len() as u32;
            out.extend_from_slice(bytes);
            Section {
                offset: U32::new(offset),
                count: U32::new(count as u32),
            }
        };
        let components_s = section(&mut out, components.as_bytes(), components.len());
        let regions_s = section(&mut out, regions.as_bytes(), regions.len());
        let devices_s = section(&mut out, devices.as_bytes(), devices.len());
        let dma_s = section(&mut out, dma.as_bytes(), dma.len());
        let channels_s = section(&mut out, channels.as_bytes(), channels.len());
        let caps_s = section(&mut out, caps.as_bytes(), caps.len());
        let strings_s = section(&mut out, &strings.bytes, strings.bytes.len());

        let mut header = Header {
            magic: MAGIC,
            version: U32::new(VERSION),
            header_len: U32::new(core::mem::size_of::<Header>() as u32),
            total_len: U32::new(out.len() as u32),
            checksum: U32::new(0),
            ram_bytes: U64::new(self.ram_bytes),
            name,
            kernel_config,
            cmdline,
            flags: U32::new(if self.audit {
                crate::format::FLAG_AUDIT
            } else {
                0
            }),
            components: components_s,
            regions: regions_s,
            devices: devices_s,
            dma: dma_s,
            channels: channels_s,
            caps: caps_s,
            strings: strings_s,
        };
        out[..core::mem::size_of::<Header>()].copy_from_slice(header.as_bytes());
        header.checksum = U32::new(crate::checksum(&out));
        out[..core::mem::size_of::<Header>()].copy_from_slice(header.as_bytes());
        out
    }

    /// The owned model of a decoded spec.
    pub fn from_spec(spec: &Spec<'_>) -> SystemSpec {
        let s = |r: StrRef| spec.str(r).to_string();
        SystemSpec {
            name: s(spec.header.name),
            audit: spec.audit_at_boot(),
            kernel_config: s(spec.header.kernel_config),
            cmdline: s(spec.header.cmdline),
            ram_bytes: spec.header.ram_bytes.get(),
            components: spec
                .components
                .iter()
                .enumerate()
                .map(|(i, c)| Component {
                    name: s(c.name),
                    module: s(c.module),
                    kind: ComponentKind::from_u8(c.kind).unwrap_or(ComponentKind::App),
                    priority: c.priority,
                    core: c.core,
                    restart: RestartPolicy::from_u8(c.restart).unwrap_or(RestartPolicy::Hold),
                    max_restarts: c.max_restarts.get(),
                    stack_bytes: c.stack_bytes.get(),
                    backoff_us: c.backoff_us.get(),
                    min_run_us: c.min_run_us.get(),
                    heartbeat_us: c.heartbeat_us.get(),
                    fault_handler: from_opt(c.fault_handler),
                    may_restart: c.may_restart.get(),
                    layout_hash: c.layout_hash.get(),
                    caps: spec
                        .caps_of(i)
                        .iter()
                        .map(|cap| Cap {
                            name: s(cap.name),
                            slot: cap.slot.get(),
                            kind: CapKind::from_u8(cap.kind).unwrap_or(CapKind::Tcb),
                            rights: Rights(cap.rights),
                            badge: cap.badge.get(),
                            target: cap.target.get(),
                            arg: cap.arg.get(),
                            vaddr: cap.vaddr.get(),
                            size: cap.size.get(),
                        })
                        .collect(),
                })
                .collect(),
            regions: spec
                .regions
                .iter()
                .map(|r| Region {
                    name: s(r.name),
                    size: r.size.get(),
                    page_size: r.page_size.get(),
                    kind: RegionKind::from_u8(r.kind).unwrap_or(RegionKind::Plain),
                    fill: r.fill,
                })
                .collect(),
            devices: spec
                .devices
                .iter()
                .map(|d| Device {
                    name: s(d.name),
                    match_kind: DeviceMatch::from_u8(d.match_kind).unwrap_or(DeviceMatch::PciId),
                    vendor: d.vendor.get(),
                    device: d.device.get(),
                    bus: d.bus,
                    dev: d.dev,
                    func: d.func,
                    irq_kind: IrqKind::from_u8(d.irq_kind).unwrap_or(IrqKind::None),
                    irq_line: d.irq_line,
                    flags: d.flags,
                    bar_mask: d.bar_mask,
                    bar_bytes: d.bar_bytes.map(|b| b.get()),
                    ioport_base: d.ioport_base.get(),
                    ioport_count: d.ioport_count.get(),
                    driver: from_opt(d.driver),
                    irq_core: d.irq_core,
                })
                .collect(),
            dma: spec
                .dma
                .iter()
                .map(|w| DmaWindow {
                    device: w.device.get(),
                    region: w.region.get(),
                    iova: w.iova.get(),
                    size: w.size.get(),
                    rights: Rights(w.rights),
                })
                .collect(),
            channels: spec
                .channels
                .iter()
                .map(|c| Channel {
                    name: s(c.name),
                    kind: ChannelKind::from_u8(c.kind).unwrap_or(ChannelKind::Endpoint),
                    entries: c.entries.get(),
                    buffer_size: c.buffer_size.get(),
                    pool: from_opt(c.pool),
                    ring_region: from_opt(c.ring_region),
                    receiver: c.receiver.get(),
                })
                .collect(),
        }
    }
}

fn vec_of_zeros(len: usize) -> Vec<u8> {
    alloc::vec![0; len]
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// A small spec that uses every table.
    pub(crate) fn sample() -> SystemSpec {
        SystemSpec {
            name: "sample".into(),
            kernel_config: "default".into(),
            cmdline: "loglevel=info".into(),
            audit: false,
            ram_bytes: 256 << 20,
            components: vec![
                Component {
                    name: "drv".into(),
                    module: "drv.elf".into(),
                    kind: ComponentKind::Driver,
                    priority: 200,
                    core: 0,
                    restart: RestartPolicy::Restart,
                    max_restarts: 5,
                    stack_bytes: 16384,
                    backoff_us: 10_000,
                    min_run_us: 1_000_000,
                    heartbeat_us: 0,
                    fault_handler: None,
                    may_restart: 0,
                    layout_hash: 0x1234,
                    caps: vec![
                        Cap {
                            name: "TCB".into(),
                            slot: SLOT_TCB,
                            kind: CapKind::Tcb,
                            rights: Rights(3),
                            badge: 0,
                            target: 0,
                            arg: NONE,
                            vaddr: 0,
                            size: 0,
                        },
                        Cap {
                            name: "RX_SIGNAL".into(),
                            slot: 8,
                            kind: CapKind::Notification,
                            rights: Rights::WRITE,
                            badge: 1,
                            target: 0,
                            arg: 1,
                            vaddr: 0,
                            size: 0,
                        },
                    ],
                },
                Component {
                    name: "srv".into(),
                    module: "srv.elf".into(),
                    kind: ComponentKind::Server,
                    priority: 150,
                    core: 1,
                    restart: RestartPolicy::Hold,
                    max_restarts: 0,
                    stack_bytes: 65536,
                    backoff_us: 0,
                    min_run_us: 0,
                    heartbeat_us: 500_000,
                    fault_handler: Some(0),
                    may_restart: 0,
                    layout_hash: 0x5678,
                    caps: vec![],
                },
            ],
            regions: vec![
                Region {
                    name: "pool".into(),
                    size: 1 << 20,
                    page_size: 4096,
                    kind: RegionKind::Plain,
                    fill: 0,
                },
                Region {
                    name: "rx.ring".into(),
                    size: 12288,
                    page_size: 4096,
                    kind: RegionKind::Ring,
                    fill: 0,
                },
            ],
            devices: vec![Device {
                name: "nic".into(),
                match_kind: DeviceMatch::PciId,
                vendor: 0x8086,
                device: 0x100e,
                bus: 0,
                dev: 0,
                func: 0,
                irq_kind: IrqKind::Msi,
                irq_line: 0,
                flags: device_flags::IOMMU,
                bar_mask: 1,
                bar_bytes: [0x20000, 0, 0, 0, 0, 0],
                ioport_base: 0,
                ioport_count: 0,
                driver: Some(0),
                irq_core: 0,
            }],
            dma: vec![DmaWindow {
                device: 0,
                region: 0,
                iova: 0x1000_0000,
                size: 1 << 20,
                rights: Rights(3),
            }],
            channels: vec![Channel {
                name: "rx".into(),
                kind: ChannelKind::Ring,
                entries: 256,
                buffer_size: 2048,
                pool: Some(0),
                ring_region: Some(1),
                receiver: 1,
            }],
        }
    }

    #[test]
    fn round_trip() {
        let model = sample();
        let bytes = model.encode();
        let spec = Spec::decode(&bytes).expect("decodes");
        assert_eq!(SystemSpec::from_spec(&spec), model);
        assert_eq!(spec.name(), "sample");
        assert_eq!(spec.cap_target_name(&spec.caps[1]), "rx");
    }

    #[test]
    fn typed_accessors() {
        let bytes = sample().encode();
        let spec = Spec::decode(&bytes).unwrap();
        let drv = &spec.components[0];
        assert_eq!(drv.kind(), ComponentKind::Driver);
        assert_eq!(drv.restart_policy(), RestartPolicy::Restart);
        assert_eq!(drv.fault_handler(), None);
        assert_eq!(spec.components[1].fault_handler(), Some(0));
        let nic = &spec.devices[0];
        assert_eq!(nic.match_kind(), DeviceMatch::PciId);
        assert_eq!(nic.irq_kind(), IrqKind::Msi);
        assert!(nic.has_flag(device_flags::IOMMU) && !nic.has_flag(device_flags::UNSAFE_DMA));
        assert_eq!(nic.bar(0), Some(0x20000));
        assert_eq!(nic.bar(1), None);
        assert_eq!(nic.driver(), Some(0));
        assert_eq!(spec.regions[1].kind(), RegionKind::Ring);
        assert_eq!(spec.channels[0].kind(), ChannelKind::Ring);
        let cap = &spec.caps_of(0)[1];
        assert_eq!(cap.kind(), CapKind::Notification);
        assert_eq!(cap.rights(), Rights::WRITE);
    }

    #[test]
    fn rejects_corruption() {
        let bytes = sample().encode();
        assert_eq!(
            Spec::decode(&bytes[..10]).err(),
            Some(crate::DecodeError::TooShort { len: 10 })
        );
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(Spec::decode(&bad).err(), Some(crate::DecodeError::BadMagic));
        let mut bad = bytes.clone();
        bad[8] = 9;
        assert!(matches!(
            Spec::decode(&bad),
            Err(crate::DecodeError::UnsupportedVersion { found: 9, .. })
        ));
        let truncated = &bytes[..bytes.len() - 1];
        assert!(matches!(
            Spec::decode(truncated),
            Err(crate::DecodeError::LengthMismatch { .. })
        ));
        for i in [40, 100, bytes.len() - 3] {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(
                matches!(
                    Spec::decode(&bad),
                    Err(crate::DecodeError::ChecksumMismatch { .. })
                ),
                "byte {i}"
            );
        }
    }

    #[test]
    fn rejects_bad_index_even_with_good_checksum() {
        let mut model = sample();
        model.channels[0].receiver = 7;
        let bytes = model.encode();
        let err = Spec::decode(&bytes).err().unwrap();
        assert_eq!(
            err,
            crate::DecodeError::BadIndex {
                table: "channels",
                index: 0,
                field: "receiver",
                value: 7
            }
        );
        assert!(alloc::format!("{err}").contains("channels[0].receiver"));
    }
}
