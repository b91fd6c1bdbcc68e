//! From a checked system to the compiled spec (`ward_sysspec::model`).
//!
//! A straight translation: every table keeps the order of the file (ring
//! memories follow the declared regions), and each component's capabilities
//! are the ones `layout` assigned.

use crate::layout::Layout;
use crate::model::*;
use ward_sysspec::model as spec;
use ward_sysspec::{device_flags, DeviceMatch as SpecMatch, RegionKind};

/// The compiled spec of a checked system.
pub fn compile(sys: &System, layout: &Layout) -> spec::SystemSpec {
    spec::SystemSpec {
        name: sys.name.clone(),
        audit: sys.audit,
        kernel_config: sys.kernel.config.clone(),
        cmdline: sys.kernel.cmdline.clone(),
        ram_bytes: sys.kernel.ram,
        components: sys
            .components
            .iter()
            .zip(&layout.components)
            .map(|(c, l)| spec::Component {
                name: c.name.clone(),
                module: module_name(&c.program),
                kind: c.kind,
                priority: c.priority,
                core: c.core,
                restart: c.restart,
                max_restarts: c.max_restarts,
                stack_bytes: c.stack,
                backoff_us: c.backoff_us,
                min_run_us: c.min_run_us,
                heartbeat_us: c.heartbeat_us,
                fault_handler: match c.fault_handler {
                    FaultHandler::Supervisor => None,
                    FaultHandler::Component(i) => Some(i as u32),
                },
                may_restart: c.may_restart.iter().fold(0, |mask, (i, _)| {
                    mask | 1u32.checked_shl(*i as u32).unwrap_or(0)
                }),
                layout_hash: l.layout_hash,
                caps: l
                    .caps
                    .iter()
                    .map(|cap| spec::Cap {
                        name: cap.name.clone(),
                        slot: cap.slot,
                        kind: cap.kind,
                        rights: cap.rights,
                        badge: cap.badge,
                        target: cap.target,
                        arg: cap.arg,
                        vaddr: cap.vaddr,
                        size: cap.size,
                    })
                    .collect(),
            })
            .collect(),
        regions: sys
            .regions
            .iter()
            .map(|r| spec::Region {
                name: r.name.clone(),
                size: r.size,
                page_size: r.page_size,
                kind: if r.ring_of.is_some() {
                    RegionKind::Ring
                } else if r.kernel_statistics {
                    RegionKind::KernelStatistics
                } else {
                    RegionKind::Plain
                },
                fill: r.fill,
            })
            .collect(),
        devices: sys
            .devices
            .iter()
            .enumerate()
            .map(|(di, d)| {
                let (match_kind, vendor, device, bus, dev, func) = match d.matcher {
                    DeviceMatch::PciId { vendor, device } => {
                        (SpecMatch::PciId, vendor, device, 0, 0, 0)
                    }
                    DeviceMatch::PciAddress { bus, dev, func } => {
                        (SpecMatch::PciAddress, 0, 0, bus, dev, func)
                    }
                    DeviceMatch::Legacy => (SpecMatch::Legacy, 0, 0, 0, 0, 0),
                };
                let mut bar_bytes = [0u64; 6];
                let mut bar_mask = 0u8;
                for bar in &d.bars {
                    bar_mask |= 1 << bar.index;
                    bar_bytes[bar.index as usize] = bar.size.unwrap_or(0);
                }
                let mut flags = 0;
                if d.iommu {
                    flags |= device_flags::IOMMU;
                }
                if d.unsafe_dma {
                    flags |= device_flags::UNSAFE_DMA;
                }
                if d.optional {
                    flags |= device_flags::OPTIONAL;
                }
                let (ioport_base, ioport_count) =
                    d.ioports.as_ref().map(|p| (p.0, p.1)).unwrap_or((0, 0));
                spec::Device {
                    name: d.name.clone(),
                    match_kind,
                    vendor,
                    device,
                    bus,
                    dev,
                    func,
                    irq_kind: d.irq,
                    irq_line: d.irq_line,
                    flags,
                    bar_mask,
                    bar_bytes,
                    ioport_base,
                    ioport_count,
                    driver: sys.drivers_of(di).first().map(|&c| c as u32),
                    // Where the top half runs: by default with its driver.
                    irq_core: d
                        .irq_core
                        .as_ref()
                        .map(|(core, _)| *core)
                        .unwrap_or_else(|| {
                            sys.drivers_of(di)
                                .first()
                                .map_or(0, |&c| sys.components[c].core)
                        }),
                }
            })
            .collect(),
        dma: sys
            .devices
            .iter()
            .enumerate()
            .flat_map(|(di, d)| {
                d.dma.iter().map(move |w| spec::DmaWindow {
                    device: di as u32,
                    region: w.region as u32,
                    iova: w.iova,
                    size: if w.size == 0 {
                        sys.regions[w.region].size
                    } else {
                        w.size
                    },
                    rights: w.rights,
                })
            })
            .collect(),
        channels: sys
            .channels
            .iter()
            .map(|ch| {
                let (entries, buffer_size, pool, ring_region, receiver) = match &ch.ends {
                    Ends::Endpoint { server, .. } => (
                        0,
                        0,
                        None,
                        None,
                        server.map(|s| s as u32).unwrap_or(u32::MAX),
                    ),
                    Ends::Notification { waiter, .. } => (0, 0, None, None, *waiter as u32),
                    Ends::Ring {
                        entries,
                        buffer_size,
                        pool,
                        ring_region,
                        consumer,
                        ..
                    } => (
                        *entries,
                        *buffer_size,
                        pool.map(|p| p as u32),
                        Some(*ring_region as u32),
                        *consumer as u32,
                    ),
                };
                spec::Channel {
                    name: ch.name.clone(),
                    kind: ch.kind,
                    entries,
                    buffer_size,
                    pool,
                    ring_region,
                    receiver,
                }
            })
            .collect(),
    }
}

/// The boot-module file name of a program.
pub fn module_name(program: &str) -> String {
    format!("{program}.elf")
}
