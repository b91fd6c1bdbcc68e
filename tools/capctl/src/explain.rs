//! `capctl explain`: what each component can touch, in plain words, with the
//! line that grants it — and the reverse question, who can touch a region,
//! device, IRQ or channel.

use std::fmt::Write as _;

use crate::diag::Source;
use crate::layout::Layout;
use crate::model::*;

/// `file:line` of a span.
fn at(src: &Source, span: &Span) -> String {
    let (line, _) = src.line_col(span.start);
    format!("{}:{}", src.path, line)
}

/// Explains one component, or all of them (`None`).
pub fn explain(sys: &System, layout: &Layout, src: &Source, only: Option<usize>) -> String {
    let mut out = String::new();
    for (ci, c) in sys.components.iter().enumerate() {
        if only.is_some_and(|o| o != ci) {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        component(&mut out, sys, layout, src, ci, c);
    }
    out
}

fn component(
    out: &mut String,
    sys: &System,
    layout: &Layout,
    src: &Source,
    ci: usize,
    c: &Component,
) {
    let _ = writeln!(
        out,
        "{} — {}, priority {}, program {}.elf, stack {} ({})",
        c.name,
        c.kind,
        c.priority,
        c.program,
        human_size(c.stack),
        at(src, &c.span)
    );
    let handler = match c.fault_handler {
        FaultHandler::Supervisor => "the supervisor".to_string(),
        FaultHandler::Component(h) => format!("`{}`", sys.components[h].name),
    };
    let policy = match c.restart {
        RestartPolicy::Restart => format!(
            "restarted up to {} times (backoff {}, counted if it ran less than {})",
            c.max_restarts,
            human_duration(c.backoff_us),
            human_duration(c.min_run_us)
        ),
        RestartPolicy::Hold => "held (not restarted)".to_string(),
    };
    let _ = writeln!(out, "  on a fault: reported to {handler}; {policy}");
    if !c.may_restart.is_empty() {
        let names: Vec<String> = c
            .may_restart
            .iter()
            .map(|(i, _)| format!("`{}`", sys.components[*i].name))
            .collect();
        let _ = writeln!(
            out,
            "  may ask the supervisor to restart: {} (when its checks find them broken)",
            names.join(", ")
        );
    }
    if c.heartbeat_us > 0 {
        let _ = writeln!(
            out,
            "  heartbeat: must signal at least every {}",
            human_duration(c.heartbeat_us)
        );
    }
    if !c.settings.is_empty() {
        let list: Vec<String> = c
            .settings
            .iter()
            .map(|s| format!("{} = {}", s.name, s.value))
            .collect();
        let _ = writeln!(out, "  settings: {}", list.join(", "));
    }
    let _ = writeln!(out, "  capabilities:");
    for cap in &layout.components[ci].caps {
        let place = cap
            .span
            .as_ref()
            .map(|s| format!("  ({})", at(src, s)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    slot {:>3}  {:<22} {:<13} {:<3} can {}{}",
            cap.slot,
            cap.name,
            cap.kind.as_str(),
            cap.rights.to_string(),
            cap.what,
            place
        );
    }
    // DMA of the devices it drives: what it can make hardware do.
    let mut dma_lines = Vec::new();
    for (dev, _) in &c.devices {
        let d = &sys.devices[*dev];
        for w in &d.dma {
            let region = &sys.regions[w.region];
            let size = if w.size == 0 { region.size } else { w.size };
            let verb = match (
                w.rights.contains(Rights::READ),
                w.rights.contains(Rights::WRITE),
            ) {
                (true, true) => "read and write",
                (false, true) => "write into",
                _ => "read from",
            };
            let guard = if d.iommu {
                ""
            } else {
                " [no IOMMU: the device can reach all memory]"
            };
            dma_lines.push(format!(
                "    can make `{}` {verb} `{}` at {:#x}-{:#x}{guard}  ({})",
                d.name,
                region.name,
                w.iova,
                w.iova + size - 1,
                at(src, &w.span)
            ));
        }
    }
    if !dma_lines.is_empty() {
        let _ = writeln!(out, "  device DMA (confined by the IOMMU):");
        for l in dma_lines {
            let _ = writeln!(out, "{l}");
        }
    }
    let bits = &layout.components[ci].bits;
    if !bits.is_empty() {
        let _ = writeln!(out, "  signals it waits for (bits of NOTIFICATION):");
        for b in bits {
            let _ = writeln!(
                out,
                "    bit {:>2}  {:<22} {}  ({})",
                b.bit,
                b.name,
                b.what,
                at(src, &b.span)
            );
        }
    }
}

/// Who can touch `name` (a region, device or channel)? `None` if no such name.
pub fn who(sys: &System, layout: &Layout, src: &Source, name: &str) -> Option<String> {
    let mut out = String::new();
    if let Some(ri) = sys.region_index(name) {
        let r = &sys.regions[ri];
        let _ = writeln!(
            out,
            "region `{}` ({}, {} pages) ({}):",
            r.name,
            human_size(r.size),
            human_size(r.page_size),
            at(src, &r.span)
        );
        for (ci, c) in sys.components.iter().enumerate() {
            for cap in layout.components[ci]
                .caps
                .iter()
                .filter(|k| k.kind == ward_sysspec::CapKind::Frames && k.target as usize == ri)
            {
                let _ = writeln!(
                    out,
                    "  `{}` maps it \"{}\" at {:#x}  ({})",
                    c.name,
                    cap.rights,
                    cap.vaddr,
                    cap.span.as_ref().map(|s| at(src, s)).unwrap_or_default()
                );
            }
        }
        for d in &sys.devices {
            for w in d.dma.iter().filter(|w| w.region == ri) {
                let drivers: Vec<&str> = sys
                    .drivers_of(sys.device_index(&d.name).unwrap())
                    .iter()
                    .map(|&c| sys.components[c].name.as_str())
                    .collect();
                let _ = writeln!(
                    out,
                    "  device `{}` can DMA \"{}\" at IO address {:#x}, driven by {}  ({})",
                    d.name,
                    w.rights,
                    w.iova,
                    if drivers.is_empty() {
                        "nobody".to_string()
                    } else {
                        drivers.join(", ")
                    },
                    at(src, &w.span)
                );
            }
        }
        for ch in &sys.channels {
            if let Ends::Ring {
                pool: Some(p),
                producer,
                consumer,
                producer_pool,
                consumer_pool,
                ..
            } = &ch.ends
            {
                if *p == ri {
                    let _ = writeln!(
                        out,
                        "  it is the buffer pool of ring `{}`: producer `{}` may have \"{}\", consumer `{}` may have \"{}\"  ({})",
                        ch.name,
                        sys.components[*producer].name,
                        producer_pool,
                        sys.components[*consumer].name,
                        consumer_pool,
                        at(src, &ch.span)
                    );
                }
            }
        }
        return Some(out);
    }
    if let Some(di) = sys.device_index(name) {
        let d = &sys.devices[di];
        let _ = writeln!(out, "device `{}` ({}):", d.name, at(src, &d.span));
        for (ci, c) in sys.components.iter().enumerate() {
            for cap in layout.components[ci].caps.iter().filter(|k| {
                matches!(
                    k.kind,
                    ward_sysspec::CapKind::DeviceFrames
                        | ward_sysspec::CapKind::IoPorts
                        | ward_sysspec::CapKind::IrqHandler
                ) && k.target as usize == di
            }) {
                let _ = writeln!(
                    out,
                    "  `{}` can {}  ({})",
                    c.name,
                    cap.what,
                    cap.span.as_ref().map(|s| at(src, s)).unwrap_or_default()
                );
            }
        }
        for w in &d.dma {
            let _ = writeln!(
                out,
                "  it can DMA \"{}\" into `{}` at IO address {:#x}  ({})",
                w.rights,
                sys.regions[w.region].name,
                w.iova,
                at(src, &w.span)
            );
        }
        if d.dma.is_empty() {
            let _ = writeln!(
                out,
                "  it has no DMA window: any DMA it attempts is blocked by the IOMMU"
            );
        }
        return Some(out);
    }
    if let Some(chi) = sys.channel_index(name) {
        let ch = &sys.channels[chi];
        let _ = writeln!(
            out,
            "channel `{}` ({}) ({}):",
            ch.name,
            ch.kind,
            at(src, &ch.span)
        );
        if let Ends::Endpoint { server: None, .. } = &ch.ends {
            let _ = writeln!(out, "  the supervisor serves it");
        }
        for (ci, c) in sys.components.iter().enumerate() {
            for cap in layout.components[ci].caps.iter().filter(|k| {
                matches!(
                    k.kind,
                    ward_sysspec::CapKind::Endpoint | ward_sysspec::CapKind::Notification
                ) && k.target as usize == chi
                    && k.target != ward_sysspec::NONE
            }) {
                let _ = writeln!(out, "  `{}` can {}", c.name, cap.what);
            }
            if let Ends::Ring { ring_region, .. } = &ch.ends {
                for cap in layout.components[ci].caps.iter().filter(|k| {
                    k.kind == ward_sysspec::CapKind::Frames && k.target as usize == *ring_region
                }) {
                    let _ = writeln!(out, "  `{}` can {}", c.name, cap.what);
                }
            }
        }
        return Some(out);
    }
    None
}

/// Every name `who` accepts, for "did you mean".
pub fn who_names(sys: &System) -> Vec<&str> {
    sys.regions
        .iter()
        .filter(|r| r.ring_of.is_none())
        .map(|r| r.name.as_str())
        .chain(sys.devices.iter().map(|d| d.name.as_str()))
        .chain(sys.channels.iter().map(|c| c.name.as_str()))
        .collect()
}
