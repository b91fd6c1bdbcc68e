//! `capctl diff A B`: the privilege delta between two system descriptions.
//!
//! Each component's privileges are written as stable sentences that leave
//! out what does not change what it can do (slot numbers, automatic
//! addresses), so that the delta shows only real gains and losses.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::layout::Layout;
use crate::model::*;
use ward_sysspec::CapKind;

/// The privileges of component `ci`, as sentences.
pub fn privileges(sys: &System, layout: &Layout, ci: usize) -> BTreeSet<String> {
    let c = &sys.components[ci];
    let mut set = BTreeSet::new();
    for cap in &layout.components[ci].caps {
        let target = cap.target as usize;
        let line = match cap.kind {
            CapKind::Tcb | CapKind::Cnode | CapKind::Vspace => continue,
            CapKind::Endpoint
                if cap.target == ward_sysspec::NONE && cap.arg == ward_sysspec::NONE =>
            {
                continue
            } // console: everyone has it
            CapKind::Endpoint if cap.target == ward_sysspec::NONE => cap.what.clone(), // the faults it handles
            CapKind::Notification if cap.target == ward_sysspec::NONE => {
                if cap.slot == ward_sysspec::SLOT_HEARTBEAT {
                    "signal heartbeats to the supervisor".to_string()
                } else {
                    continue; // its own notification
                }
            }
            CapKind::Endpoint => {
                let ch = &sys.channels[target];
                if cap.rights.contains(Rights::READ) {
                    format!("serve endpoint `{}`", ch.name)
                } else {
                    let server = match &ch.ends {
                        Ends::Endpoint {
                            server: Some(s), ..
                        } => sys.components[*s].name.as_str(),
                        _ => SUPERVISOR,
                    };
                    format!("call `{server}` over `{}` (badge {})", ch.name, cap.badge)
                }
            }
            CapKind::Notification => {
                format!(
                    "signal `{}` through `{}`",
                    sys.components[cap.arg as usize].name, sys.channels[target].name
                )
            }
            CapKind::Frames => {
                let r = &sys.regions[target];
                match r.ring_of {
                    Some(ch) => {
                        let role = match &sys.channels[ch].ends {
                            Ends::Ring { producer, .. } if *producer == ci => "produce into",
                            _ => "consume from",
                        };
                        format!("{role} ring `{}`", sys.channels[ch].name)
                    }
                    None => {
                        let fixed = c
                            .maps
                            .iter()
                            .find(|m| m.region == target && m.at == Some(cap.vaddr))
                            .map(|_| format!(" at {:#x}", cap.vaddr))
                            .unwrap_or_default();
                        format!(
                            "map `{}` \"{}\"{fixed} ({})",
                            r.name,
                            cap.rights,
                            human_size(r.size)
                        )
                    }
                }
            }
            CapKind::DeviceFrames => {
                let extent = if cap.size == 0 {
                    "all".to_string()
                } else {
                    human_size(cap.size)
                };
                format!(
                    "registers of `{}`: BAR {} ({extent})",
                    sys.devices[target].name, cap.arg
                )
            }
            CapKind::IoPorts => {
                let (base, count, _) = sys.devices[target].ioports.clone().unwrap_or((0, 0, 0..0));
                format!(
                    "IO ports {:#x}..{:#x} of `{}`",
                    base,
                    base as u32 + count as u32,
                    sys.devices[target].name
                )
            }
            CapKind::IrqHandler => format!("interrupt of `{}`", sys.devices[target].name),
            CapKind::IoSpace => format!("IOMMU domain of `{}`", sys.devices[target].name),
        };
        set.insert(line);
    }
    for (dev, _) in &c.devices {
        let d = &sys.devices[*dev];
        for w in &d.dma {
            let size = if w.size == 0 {
                sys.regions[w.region].size
            } else {
                w.size
            };
            let guard = if d.iommu { "" } else { " without an IOMMU" };
            set.insert(format!(
                "make `{}` DMA \"{}\" into `{}` at {:#x} ({}){guard}",
                d.name,
                w.rights,
                sys.regions[w.region].name,
                w.iova,
                human_size(size)
            ));
        }
    }
    set
}

/// Attributes that change how a component runs, as (name, value).
fn attributes(c: &Component, sys: &System) -> Vec<(&'static str, String)> {
    vec![
        ("kind", c.kind.to_string()),
        ("program", c.program.clone()),
        ("priority", c.priority.to_string()),
        ("stack", human_size(c.stack)),
        (
            "fault handler",
            match c.fault_handler {
                FaultHandler::Supervisor => SUPERVISOR.to_string(),
                FaultHandler::Component(h) => sys.components[h].name.clone(),
            },
        ),
        (
            "restart",
            match c.restart {
                RestartPolicy::Restart => format!(
                    "restart max {} backoff {} min_run {}",
                    c.max_restarts,
                    human_duration(c.backoff_us),
                    human_duration(c.min_run_us)
                ),
                RestartPolicy::Hold => "hold".to_string(),
            },
        ),
        (
            "heartbeat",
            if c.heartbeat_us == 0 {
                "none".into()
            } else {
                human_duration(c.heartbeat_us)
            },
        ),
    ]
}

/// The delta from `a` to `b`, and whether there is any.
pub fn diff(a: (&System, &Layout), b: (&System, &Layout)) -> (String, bool) {
    let (sa, la) = a;
    let (sb, lb) = b;
    let mut out = String::new();
    let mut any = false;
    let mut names: Vec<&str> = sa.components.iter().map(|c| c.name.as_str()).collect();
    for c in &sb.components {
        if !names.contains(&c.name.as_str()) {
            names.push(&c.name);
        }
    }
    for name in names {
        let ia = sa.component_index(name);
        let ib = sb.component_index(name);
        let pa = ia.map(|i| privileges(sa, la, i)).unwrap_or_default();
        let pb = ib.map(|i| privileges(sb, lb, i)).unwrap_or_default();
        let mut lines = Vec::new();
        for p in pb.difference(&pa) {
            lines.push(format!("  + {p}"));
        }
        for p in pa.difference(&pb) {
            lines.push(format!("  - {p}"));
        }
        if let (Some(i), Some(j)) = (ia, ib) {
            for ((key, va), (_, vb)) in attributes(&sa.components[i], sa)
                .into_iter()
                .zip(attributes(&sb.components[j], sb))
            {
                if va != vb {
                    lines.push(format!("  ~ {key}: {va} -> {vb}"));
                }
            }
        }
        let header = match (ia, ib) {
            (None, Some(_)) => format!("{name}: new component"),
            (Some(_), None) => format!("{name}: removed"),
            _ if lines.is_empty() => continue,
            _ => format!("{name}:"),
        };
        any = true;
        let _ = writeln!(out, "{header}");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
    if !any {
        out.push_str("no privilege changes\n");
    }
    (out, any)
}
