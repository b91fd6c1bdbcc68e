//! `capctl lint`: least-privilege warnings.
//!
//! A lint is not an error: the file is valid, but it grants more than it
//! probably needs to. Each warning says why that matters and how to fix it.
//! A system that really needs the grant can switch a lint off with
//! `[lints] allow = ["NAME"]`.

use crate::diag::{list_choices, Diagnostic};
use crate::model::*;

/// Every lint: its name and what it catches.
pub const LINTS: &[(&str, &str)] = &[
    ("shared-writable", "a region writable by two components"),
    (
        "whole-bar",
        "a driver given a whole BAR instead of the pages it needs",
    ),
    (
        "dma-oversized",
        "a DMA window larger than the buffer pool its rings use",
    ),
    (
        "supervisor-reachable",
        "a component that can call the supervisor's control endpoint",
    ),
    (
        "app-device",
        "an application that can see a device or its DMA memory",
    ),
    (
        "unsafe-dma",
        "a device allowed to DMA without an IOMMU domain",
    ),
    (
        "unused",
        "a region, device or channel that no component uses",
    ),
    ("no-restart-limit", "a restart policy without a real limit"),
    (
        "irq-core",
        "a device's interrupt steered to another core than its driver's",
    ),
];

/// Runs every lint that the system does not allow.
pub fn lint(sys: &System) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    shared_writable(sys, &mut out);
    whole_bar(sys, &mut out);
    dma_oversized(sys, &mut out);
    supervisor_reachable(sys, &mut out);
    app_device(sys, &mut out);
    unsafe_dma(sys, &mut out);
    unused(sys, &mut out);
    restart_limit(sys, &mut out);
    irq_core(sys, &mut out);
    out.retain(|d| !sys.allowed_lints.iter().any(|a| a == d.code));
    for d in &mut out {
        d.help.push(format!(
            "if this is intended, add \"{}\" to `[lints] allow`",
            d.code
        ));
    }
    out
}

/// True if region `ri` is the pool of a ring channel that gives both ends
/// write access on purpose (`producer_pool` and `consumer_pool` both "rw"):
/// the ring decides who holds each buffer, so the two writers take turns.
fn turn_taking_pool(sys: &System, ri: usize) -> bool {
    sys.channels.iter().any(|ch| {
        matches!(&ch.ends, Ends::Ring { pool: Some(p), producer_pool, consumer_pool, .. }
            if *p == ri && producer_pool.contains(Rights::WRITE) && consumer_pool.contains(Rights::WRITE))
    })
}

fn shared_writable(sys: &System, out: &mut Vec<Diagnostic>) {
    for (ri, r) in sys.regions.iter().enumerate() {
        if turn_taking_pool(sys, ri) {
            continue;
        }
        let writers: Vec<(&Component, &Map)> = sys
            .components
            .iter()
            .flat_map(|c| {
                c.maps
                    .iter()
                    .filter(|m| m.region == ri && m.rights.contains(Rights::WRITE))
                    .map(move |m| (c, m))
            })
            .collect();
        if writers.len() >= 2 {
            let names: Vec<&str> = writers.iter().map(|(c, _)| c.name.as_str()).collect();
            out.push(
                Diagnostic::warning(
                    "shared-writable",
                    Some(writers[1].1.span.clone()),
                    format!("region `{}` is writable by {}", r.name, list_choices(&names).replace(" or ", " and ")),
                )
                .with_related(writers[0].1.span.clone(), "also writable here")
                .with_help("reason: either writer can corrupt what the other reads, so a fault in one spreads to the other")
                .with_help("fix: map it \"r\" in all but one component, or give each writer its own region"),
            );
        }
    }
}

fn whole_bar(sys: &System, out: &mut Vec<Diagnostic>) {
    for d in &sys.devices {
        if sys
            .drivers_of(sys.device_index(&d.name).unwrap())
            .is_empty()
        {
            continue;
        }
        for bar in d.bars.iter().filter(|b| b.size.is_none()) {
            out.push(
                Diagnostic::warning(
                    "whole-bar",
                    Some(bar.span.clone()),
                    format!("the driver of `{}` gets all of BAR {}", d.name, bar.index),
                )
                .with_help("reason: a BAR can hold registers the driver never needs (flash, debug, reset); each is a way to wedge the device")
                .with_help(format!(
                    "fix: grant only the pages it uses, e.g. `{{ bar = {}, size = \"128KiB\" }}`",
                    bar.index
                )),
            );
        }
    }
}

fn dma_oversized(sys: &System, out: &mut Vec<Diagnostic>) {
    for d in &sys.devices {
        for w in &d.dma {
            let need: u64 = sys
                .channels
                .iter()
                .filter_map(|ch| match &ch.ends {
                    Ends::Ring {
                        pool: Some(p),
                        entries,
                        buffer_size,
                        ..
                    } if *p == w.region => Some(*entries as u64 * *buffer_size as u64),
                    _ => None,
                })
                .sum();
            let size = if w.size == 0 {
                sys.regions[w.region].size
            } else {
                w.size
            };
            let need_pages = need.div_ceil(4096) * 4096;
            if need > 0 && size > need_pages {
                out.push(
                    Diagnostic::warning(
                        "dma-oversized",
                        Some(w.span.clone()),
                        format!(
                            "DMA window of `{}` onto `{}` is {}, but its rings use only {}",
                            d.name,
                            sys.regions[w.region].name,
                            human_size(size),
                            human_size(need_pages)
                        ),
                    )
                    .with_help(format!(
                        "reason: the device can write {} that no ring buffer covers",
                        human_size(size - need_pages)
                    ))
                    .with_help(format!(
                        "fix: add `size = \"{}\"` to the window, or shrink the region",
                        human_size(need_pages).replace(' ', "")
                    )),
                );
            }
        }
    }
}

fn supervisor_reachable(sys: &System, out: &mut Vec<Diagnostic>) {
    for ch in &sys.channels {
        if let Ends::Endpoint {
            server: None,
            clients,
            ..
        } = &ch.ends
        {
            for (c, _, sp) in clients {
                out.push(
                    Diagnostic::warning(
                        "supervisor-reachable",
                        Some(sp.clone()),
                        format!("`{}` can call the supervisor's control endpoint `{}`", sys.components[*c].name, ch.name),
                    )
                    .with_help("reason: the supervisor starts, stops and restarts components; a client of its control endpoint can ask it to")
                    .with_help("fix: keep this to one trusted management component, and remove it from the others"),
                );
            }
        }
    }
}

fn app_device(sys: &System, out: &mut Vec<Diagnostic>) {
    for c in sys
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::App)
    {
        for (dev, sp) in c.devices.iter().chain(c.irqs.iter()) {
            out.push(
                Diagnostic::warning(
                    "app-device",
                    Some(sp.clone()),
                    format!("application `{}` can reach device `{}`", c.name, sys.devices[*dev].name),
                )
                .with_help("reason: an application should see devices only through a driver or server, which checks what it asks for")
                .with_help("fix: move this grant to a driver, or make the component `kind = \"driver\"` if it is one"),
            );
        }
        for m in &c.maps {
            let dma_devices: Vec<&str> = sys
                .devices
                .iter()
                .filter(|d| d.dma.iter().any(|w| w.region == m.region))
                .map(|d| d.name.as_str())
                .collect();
            if !dma_devices.is_empty() {
                out.push(
                    Diagnostic::warning(
                        "app-device",
                        Some(m.span.clone()),
                        format!(
                            "application `{}` maps `{}`, which {} can DMA into",
                            c.name,
                            sys.regions[m.region].name,
                            list_choices(&dma_devices)
                        ),
                    )
                    .with_help("reason: DMA memory changes under the application's feet, and what it writes there reaches the device unchecked")
                    .with_help("fix: let the server copy data out of the DMA pool into the application's own region"),
                );
            }
        }
    }
}

fn unsafe_dma(sys: &System, out: &mut Vec<Diagnostic>) {
    for d in sys
        .devices
        .iter()
        .filter(|d| d.unsafe_dma && !d.iommu && !d.dma.is_empty())
    {
        out.push(
            Diagnostic::warning("unsafe-dma", Some(d.span.clone()), format!("device `{}` can DMA anywhere in memory", d.name))
                .with_help("reason: without an IOMMU domain nothing confines the device to its windows; a driver bug becomes a kernel compromise")
                .with_help("fix: give it an IOMMU domain (remove `iommu = false`, run on a machine with VT-d)"),
        );
    }
}

fn unused(sys: &System, out: &mut Vec<Diagnostic>) {
    for (ri, r) in sys
        .regions
        .iter()
        .enumerate()
        .filter(|(_, r)| r.ring_of.is_none())
    {
        let mapped = sys
            .components
            .iter()
            .any(|c| c.maps.iter().any(|m| m.region == ri));
        let dma = sys
            .devices
            .iter()
            .any(|d| d.dma.iter().any(|w| w.region == ri));
        let pool = sys
            .channels
            .iter()
            .any(|ch| matches!(&ch.ends, Ends::Ring { pool: Some(p), .. } if *p == ri));
        if !mapped && !dma && !pool {
            out.push(
                Diagnostic::warning(
                    "unused",
                    Some(r.span.clone()),
                    format!("region `{}` is not used by anyone", r.name),
                )
                .with_help(format!(
                    "reason: it still costs {} of RAM",
                    human_size(r.size)
                ))
                .with_help("fix: remove it, or map it into the component that needs it"),
            );
        }
    }
    for (di, d) in sys.devices.iter().enumerate() {
        if sys.drivers_of(di).is_empty() {
            out.push(
                Diagnostic::warning("unused", Some(d.span.clone()), format!("device `{}` has no driver", d.name))
                    .with_help("reason: an undriven device is left without an IOMMU domain and its windows are never used")
                    .with_help("fix: add it to a driver's `devices`, or remove it"),
            );
        }
    }
    for ch in &sys.channels {
        let lonely = match &ch.ends {
            Ends::Endpoint { clients, .. } => clients.is_empty(),
            Ends::Notification { signallers, .. } => signallers.is_empty(),
            Ends::Ring { .. } => false,
        };
        if lonely {
            out.push(
                Diagnostic::warning(
                    "unused",
                    Some(ch.span.clone()),
                    format!("channel `{}` has nobody on its sending side", ch.name),
                )
                .with_help("reason: its receiver waits on something that can never arrive")
                .with_help("fix: add a client or signaller, or remove the channel"),
            );
        }
    }
}

fn restart_limit(sys: &System, out: &mut Vec<Diagnostic>) {
    for c in &sys.components {
        if c.restart == RestartPolicy::Restart && (c.max_restarts > 100 || c.min_run_us == 0) {
            out.push(
                Diagnostic::warning(
                    "no-restart-limit",
                    Some(c.span.clone()),
                    format!("`{}` may restart {} times with a minimum run time of {}", c.name, c.max_restarts, human_duration(c.min_run_us)),
                )
                .with_help("reason: a component that crashes at once would be restarted in a tight loop, starving the rest")
                .with_help("fix: set `max` to a few restarts and `min_run` to a second or so"),
            );
        }
    }
}

/// A driver whose device interrupts on another core: the kernel's top half
/// runs where the interrupt arrives and the driver's thread on its own
/// core, so every interrupt costs a cross-core wake-up (an IPI).
fn irq_core(sys: &System, out: &mut Vec<Diagnostic>) {
    for (di, d) in sys.devices.iter().enumerate() {
        let Some((irq_core, irq_core_span)) = &d.irq_core else {
            continue;
        };
        for &ci in &sys.drivers_of(di) {
            let c = &sys.components[ci];
            if c.core == *irq_core {
                continue;
            }
            let mut warning = Diagnostic::warning(
                "irq-core",
                Some(irq_core_span.clone()),
                format!(
                    "the interrupt of `{}` is steered to core {irq_core}, but its driver `{}` runs on core {}",
                    d.name, c.name, c.core
                ),
            )
            .with_help("reason: the kernel signals the driver on the core the interrupt arrives at, so each interrupt becomes a reschedule IPI to the driver's core: one more interrupt and a cross-core wake-up per device interrupt")
            .with_help(format!(
                "fix: leave `irq_core` out (the interrupt follows its driver) or set it to {}",
                c.core
            ));
            if let Some(core_span) = &c.core_span {
                warning = warning.with_related(core_span.clone(), "the driver's core");
            }
            out.push(warning);
        }
    }
}
