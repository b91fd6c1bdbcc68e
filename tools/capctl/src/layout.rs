//! Capability layout: which capability sits in which slot of each
//! component's CSpace, which bit of its notification each signal source
//! sets, and where each mapping lands in its address space.
//!
//! The layout is a pure function of the checked file, so the compiled spec
//! (read by the root task) and the generated caps table (compiled into the
//! component) always agree. Order within a component: the fixed slots of
//! `ward_sysspec` first, then devices (one capability per BAR, or the IO
//! ports), then IRQs, then channels in file order, then mappings.

use crate::diag::Diagnostic;
use crate::model::*;
use ward_sysspec::{
    CapKind, AUTO_MAP_BASE, AUTO_MAP_END, FIRST_GRANTED_SLOT, MAX_SIGNAL_BITS, MAX_SLOTS, NONE,
    SLOT_CNODE, SLOT_CONSOLE, SLOT_HEARTBEAT, SLOT_NOTIFICATION, SLOT_TCB, SLOT_VSPACE,
};

/// Virtual address space set aside for a whole BAR whose size is only known
/// at boot. 256 MiB covers every BAR of the devices Ward drives (the e1000's
/// is 128 KiB) many times over; address space is cheap, and the root task
/// refuses a BAR that does not fit.
pub const WHOLE_BAR_WINDOW: u64 = 256 << 20;

#[derive(Debug, Clone)]
pub struct Layout {
    pub components: Vec<ComponentLayout>,
}

#[derive(Debug, Clone, Default)]
pub struct ComponentLayout {
    /// In slot order.
    pub caps: Vec<CapEntry>,
    /// Bits of the component's own notification, in bit order.
    pub bits: Vec<SignalBit>,
    /// Hash of the component's generated caps table; goes into the spec and
    /// the table so that a stale build is detectable.
    pub layout_hash: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapEntry {
    /// Constant name in the generated table ("NET_RX_RING").
    pub name: String,
    pub slot: u32,
    pub kind: CapKind,
    pub rights: Rights,
    pub badge: u64,
    /// Index into the table the kind implies (see `ward_sysspec::CapRec`).
    pub target: u32,
    pub arg: u32,
    pub vaddr: u64,
    pub size: u64,
    /// The text that grants it (`None` for the fixed capabilities).
    pub span: Option<Span>,
    /// What it allows, in plain words.
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalBit {
    /// Constant name ("NIC_IRQ_BIT").
    pub name: String,
    pub bit: u32,
    pub what: String,
    pub span: Span,
}

/// Where signals go: (channel, sender) → bit in the receiver's notification.
struct Bits {
    /// Per receiving component: (source key, bit).
    table: Vec<Vec<(Source, u32)>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Source {
    Irq(usize),
    /// A channel and the component that signals through it.
    Channel(usize, usize),
}

impl Bits {
    fn bit(&self, receiver: usize, source: Source) -> u32 {
        self.table[receiver]
            .iter()
            .find(|(s, _)| *s == source)
            .map(|(_, b)| *b)
            .unwrap_or(0)
    }
}

/// Lays out every component; reports what does not fit.
pub fn layout(sys: &System, diags: &mut Vec<Diagnostic>) -> Layout {
    let n = sys.components.len();
    let mut layouts: Vec<ComponentLayout> = vec![ComponentLayout::default(); n];
    let mut bits = Bits {
        table: vec![Vec::new(); n],
    };

    // 1. Notification bits, per receiving component.
    for (ci, c) in sys.components.iter().enumerate() {
        let mut add =
            |source: Source, name: String, what: String, span: Span, l: &mut ComponentLayout| {
                let bit = l.bits.len() as u32;
                bits.table[ci].push((source, bit));
                l.bits.push(SignalBit {
                    name,
                    bit,
                    what,
                    span,
                });
            };
        for (dev, sp) in &c.irqs {
            let d = &sys.devices[*dev];
            add(
                Source::Irq(*dev),
                format!("{}_IRQ_BIT", const_name(&d.name)),
                format!("interrupt of device `{}`", d.name),
                sp.clone(),
                &mut layouts[ci],
            );
        }
        for (chi, ch) in sys.channels.iter().enumerate() {
            match &ch.ends {
                Ends::Notification {
                    waiter, signallers, ..
                } if *waiter == ci => {
                    for (s, sp) in signallers {
                        add(
                            Source::Channel(chi, *s),
                            format!(
                                "{}_{}_BIT",
                                const_name(&ch.name),
                                const_name(&sys.components[*s].name)
                            ),
                            format!(
                                "`{}` signals through `{}`",
                                sys.components[*s].name, ch.name
                            ),
                            sp.clone(),
                            &mut layouts[ci],
                        );
                    }
                }
                Ends::Ring {
                    producer,
                    consumer,
                    producer_span,
                    consumer_span,
                    ..
                } if *producer == ci || *consumer == ci => {
                    let (peer, sp, role) = if *producer == ci {
                        (*consumer, producer_span, "returns buffers")
                    } else {
                        (*producer, consumer_span, "publishes entries")
                    };
                    add(
                        Source::Channel(chi, peer),
                        format!("{}_BIT", const_name(&ch.name)),
                        format!(
                            "`{}` {} on ring `{}`",
                            sys.components[peer].name, role, ch.name
                        ),
                        sp.clone(),
                        &mut layouts[ci],
                    );
                }
                _ => {}
            }
        }
        if layouts[ci].bits.len() as u32 > MAX_SIGNAL_BITS {
            diags.push(
                Diagnostic::error(
                    "too-many-signals",
                    Some(c.span.clone()),
                    format!("`{}` receives {} kinds of signal, more than the {MAX_SIGNAL_BITS} bits of its notification", c.name, layouts[ci].bits.len()),
                )
                .with_help("merge notification channels, or split the component"),
            );
        }
    }

    // 2. Capabilities.
    for (ci, c) in sys.components.iter().enumerate() {
        let mut caps: Vec<CapEntry> = Vec::new();
        let fixed = |name: &str, slot, kind, rights, badge, target, arg, what: String| CapEntry {
            name: name.to_string(),
            slot,
            kind,
            rights: Rights(rights),
            badge,
            target,
            arg,
            vaddr: 0,
            size: 0,
            span: None,
            what,
        };
        let me = ci as u32;
        caps.push(fixed(
            "TCB",
            SLOT_TCB,
            CapKind::Tcb,
            3,
            0,
            me,
            NONE,
            "control its own thread".into(),
        ));
        caps.push(fixed(
            "CNODE",
            SLOT_CNODE,
            CapKind::Cnode,
            3,
            0,
            me,
            NONE,
            "manage its own capability slots".into(),
        ));
        caps.push(fixed(
            "VSPACE",
            SLOT_VSPACE,
            CapKind::Vspace,
            3,
            0,
            me,
            NONE,
            "inspect its own address space".into(),
        ));
        caps.push(fixed(
            "CONSOLE",
            SLOT_CONSOLE,
            CapKind::Endpoint,
            2,
            ci as u64 + 1,
            NONE,
            NONE,
            "send log lines to the supervisor's console".into(),
        ));
        caps.push(fixed(
            "NOTIFICATION",
            SLOT_NOTIFICATION,
            CapKind::Notification,
            1,
            0,
            NONE,
            me,
            format!(
                "wait on its own notification ({} signal bits)",
                layouts[ci].bits.len()
            ),
        ));
        if c.heartbeat_us > 0 {
            // Heartbeats from all components arrive on one supervisor
            // notification, where badges are OR-ed: each gets its own bit.
            let bit = sys.components[..ci]
                .iter()
                .filter(|o| o.heartbeat_us > 0)
                .count() as u32;
            if bit >= MAX_SIGNAL_BITS {
                diags.push(
                    Diagnostic::error(
                        "too-many-signals",
                        Some(c.span.clone()),
                        format!("`{}` is heartbeat number {}; the supervisor's heartbeat notification has {MAX_SIGNAL_BITS} bits", c.name, bit + 1),
                    )
                    .with_help("give fewer components a heartbeat"),
                );
            }
            caps.push(fixed(
                "HEARTBEAT",
                SLOT_HEARTBEAT,
                CapKind::Notification,
                2,
                bit_mask(bit),
                NONE,
                NONE,
                format!(
                    "signal the supervisor that it is alive (at least every {}; bit {bit} of the heartbeat notification)",
                    human_duration(c.heartbeat_us)
                ),
            ));
        }

        let mut next_slot = FIRST_GRANTED_SLOT;
        let mut space = AddressSpace::new(c, sys);
        let mut push = |caps: &mut Vec<CapEntry>, mut cap: CapEntry| {
            cap.slot = next_slot;
            next_slot += 1;
            caps.push(cap);
        };
        let entry = |name: String,
                     kind,
                     rights: Rights,
                     badge,
                     target: usize,
                     arg: u32,
                     span: &Span,
                     what: String| CapEntry {
            name,
            slot: 0,
            kind,
            rights,
            badge,
            target: target as u32,
            arg,
            vaddr: 0,
            size: 0,
            span: Some(span.clone()),
            what,
        };

        // A component that handles others' faults receives them on an
        // endpoint of its own; each faulting thread's fault endpoint is a
        // copy badged with that component's index + 1.
        let handled: Vec<&Component> = sys
            .components
            .iter()
            .filter(|o| o.fault_handler == FaultHandler::Component(ci))
            .collect();
        if let Some(first) = handled.first() {
            let names: Vec<&str> = handled.iter().map(|o| o.name.as_str()).collect();
            push(
                &mut caps,
                entry(
                    "FAULTS".to_string(),
                    CapKind::Endpoint,
                    Rights::READ,
                    0,
                    NONE as usize,
                    ci as u32,
                    first.fault_handler_span.as_ref().unwrap_or(&first.span),
                    format!(
                        "receive the faults of {} (badge = the faulting component's index + 1)",
                        crate::diag::list_choices(&names).replace(" or ", " and ")
                    ),
                ),
            );
        }
        for (dev, sp) in &c.devices {
            let d = &sys.devices[*dev];
            for bar in &d.bars {
                let size = bar.size.unwrap_or(0);
                let vaddr = space.place(if size == 0 { WHOLE_BAR_WINDOW } else { size }, 4096);
                let extent = match bar.size {
                    Some(s) => format!("the first {} of BAR {}", human_size(s), bar.index),
                    None => format!("all of BAR {}", bar.index),
                };
                let mut cap = entry(
                    format!("{}_BAR{}", const_name(&d.name), bar.index),
                    CapKind::DeviceFrames,
                    Rights(3),
                    0,
                    *dev,
                    bar.index as u32,
                    sp,
                    format!(
                        "read and write the registers of `{}`: {} (uncached, at {:#x})",
                        d.name, extent, vaddr
                    ),
                );
                cap.vaddr = vaddr;
                cap.size = size;
                push(&mut caps, cap);
            }
            if let Some((base, count, _)) = d.ioports {
                push(
                    &mut caps,
                    entry(
                        format!("{}_PORTS", const_name(&d.name)),
                        CapKind::IoPorts,
                        Rights(3),
                        0,
                        *dev,
                        NONE,
                        sp,
                        format!(
                            "use IO ports {:#x}..{:#x} of `{}`",
                            base,
                            base as u32 + count as u32,
                            d.name
                        ),
                    ),
                );
            }
        }
        for (dev, sp) in &c.irqs {
            let d = &sys.devices[*dev];
            let bit = bits.bit(ci, Source::Irq(*dev));
            push(
                &mut caps,
                entry(
                    format!("{}_IRQ", const_name(&d.name)),
                    CapKind::IrqHandler,
                    Rights::WRITE,
                    bit_mask(bit),
                    *dev,
                    NONE,
                    sp,
                    format!("receive and acknowledge the {} interrupt of `{}` (bit {bit} of its notification)", irq_text(d), d.name),
                ),
            );
        }
        for (chi, ch) in sys.channels.iter().enumerate() {
            let cname = const_name(&ch.name);
            match &ch.ends {
                Ends::Endpoint {
                    server,
                    server_span,
                    clients,
                } => {
                    if *server == Some(ci) {
                        let who: Vec<&str> = clients
                            .iter()
                            .map(|(c, _, _)| sys.components[*c].name.as_str())
                            .collect();
                        push(
                            &mut caps,
                            entry(
                                cname.clone(),
                                CapKind::Endpoint,
                                Rights::READ,
                                0,
                                chi,
                                NONE,
                                server_span,
                                format!(
                                    "receive calls on `{}` from {}",
                                    ch.name,
                                    list_or_nobody(&who)
                                ),
                            ),
                        );
                    }
                    for (client, badge, sp) in clients {
                        if *client == ci {
                            let server_name = server
                                .map(|s| sys.components[s].name.as_str())
                                .unwrap_or(SUPERVISOR);
                            push(
                                &mut caps,
                                entry(
                                    cname.clone(),
                                    CapKind::Endpoint,
                                    Rights::WRITE,
                                    *badge,
                                    chi,
                                    server.map(|s| s as u32).unwrap_or(NONE),
                                    sp,
                                    format!(
                                        "call `{}` over `{}` (badge {badge})",
                                        server_name, ch.name
                                    ),
                                ),
                            );
                        }
                    }
                }
                Ends::Notification {
                    waiter, signallers, ..
                } => {
                    for (s, sp) in signallers {
                        if *s == ci {
                            let bit = bits.bit(*waiter, Source::Channel(chi, ci));
                            push(
                                &mut caps,
                                entry(
                                    cname.clone(),
                                    CapKind::Notification,
                                    Rights::WRITE,
                                    bit_mask(bit),
                                    chi,
                                    *waiter as u32,
                                    sp,
                                    format!(
                                        "signal `{}` through `{}` (bit {bit})",
                                        sys.components[*waiter].name, ch.name
                                    ),
                                ),
                            );
                        }
                    }
                }
                Ends::Ring {
                    producer,
                    consumer,
                    producer_span,
                    consumer_span,
                    ring_region,
                    entries,
                    ..
                } => {
                    if *producer != ci && *consumer != ci {
                        continue;
                    }
                    let (peer, sp, role) = if *producer == ci {
                        (*consumer, producer_span, "produce into")
                    } else {
                        (*producer, consumer_span, "consume from")
                    };
                    let region = &sys.regions[*ring_region];
                    let vaddr = space.place(region.size, 4096);
                    let mut ring = entry(
                        format!("{cname}_RING"),
                        CapKind::Frames,
                        Rights(3),
                        0,
                        *ring_region,
                        NONE,
                        sp,
                        format!(
                            "{role} ring `{}` ({entries} entries, {} of shared memory at {vaddr:#x})",
                            ch.name,
                            human_size(region.size)
                        ),
                    );
                    ring.vaddr = vaddr;
                    ring.size = region.size;
                    push(&mut caps, ring);
                    let bit = bits.bit(peer, Source::Channel(chi, ci));
                    push(
                        &mut caps,
                        entry(
                            format!("{cname}_SIGNAL"),
                            CapKind::Notification,
                            Rights::WRITE,
                            bit_mask(bit),
                            chi,
                            peer as u32,
                            sp,
                            format!(
                                "signal `{}` about ring `{}` (bit {bit})",
                                sys.components[peer].name, ch.name
                            ),
                        ),
                    );
                }
            }
        }
        for m in &c.maps {
            let region = &sys.regions[m.region];
            let vaddr = match m.at {
                Some(at) => at,
                None => space.place(region.size, region.page_size),
            };
            let verb = match (
                m.rights.contains(Rights::WRITE),
                m.rights.contains(Rights::EXECUTE),
            ) {
                (true, _) => "read and write",
                (false, true) => "read and execute",
                (false, false) => "read",
            };
            let mut cap = entry(
                m.cap_name
                    .clone()
                    .unwrap_or_else(|| const_name(&region.name)),
                CapKind::Frames,
                m.rights,
                0,
                m.region,
                NONE,
                &m.span,
                format!(
                    "{verb} `{}` at {:#x}-{:#x} ({})",
                    region.name,
                    vaddr,
                    vaddr + region.size - 1,
                    human_size(region.size)
                ),
            );
            cap.vaddr = vaddr;
            cap.size = region.size;
            push(&mut caps, cap);
        }

        // Names must be unique within the component: they become constants.
        for (i, cap) in caps.iter().enumerate() {
            if let Some(prev) = caps[..i].iter().find(|p| p.name == cap.name) {
                let mut d = Diagnostic::error(
                    "duplicate-id",
                    cap.span.clone(),
                    format!(
                        "`{}` would get two capabilities named `{}`",
                        c.name, cap.name
                    ),
                )
                .with_help("give one of the mappings its own name with `cap = \"NAME\"`");
                if let Some(sp) = &prev.span {
                    d = d.with_related(sp.clone(), "the other one");
                }
                diags.push(d);
            }
        }
        if next_slot > MAX_SLOTS {
            diags.push(
                Diagnostic::error(
                    "too-many-caps",
                    Some(c.span.clone()),
                    format!(
                        "`{}` would hold {} capabilities; its CNode has {MAX_SLOTS} slots",
                        c.name, next_slot
                    ),
                )
                .with_help("split the component or merge its channels"),
            );
        }
        if space.overflow {
            diags.push(
                Diagnostic::error(
                    "overlap",
                    Some(c.span.clone()),
                    format!("the mappings of `{}` do not fit its address space", c.name),
                )
                .with_help("use fewer or smaller regions"),
            );
        }
        layouts[ci].caps = caps;
    }
    // 3. The layout hash: over the code of the generated table (every slot
    // and every number it states; not its comments, which name peers in
    // words), so that a program built against any other value is refused
    // at start, and one built for a system that grants it the same is not.
    for (ci, l) in layouts.iter_mut().enumerate() {
        let body = crate::gencaps::body(sys, l, ci);
        let code: String = body
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        l.layout_hash = ward_sysspec::fnv1a64(code.as_bytes());
    }
    Layout {
        components: layouts,
    }
}

fn irq_text(d: &Device) -> String {
    match d.irq {
        IrqKind::Ioapic => format!("IOAPIC pin {}", d.irq_line),
        IrqKind::Msi => "MSI".into(),
        IrqKind::Intx => "INTx".into(),
        IrqKind::None => "(no)".into(),
    }
}

fn list_or_nobody(names: &[&str]) -> String {
    if names.is_empty() {
        "nobody yet".into()
    } else {
        crate::diag::list_choices(names)
    }
}

/// Hands out virtual addresses for mappings without a fixed address.
struct AddressSpace {
    taken: Vec<(u64, u64)>,
    cursor: u64,
    overflow: bool,
}

impl AddressSpace {
    fn new(c: &Component, sys: &System) -> AddressSpace {
        let taken = c
            .maps
            .iter()
            .filter_map(|m| {
                m.at.map(|at| (at, at.saturating_add(sys.regions[m.region].size)))
            })
            .collect();
        AddressSpace {
            taken,
            cursor: AUTO_MAP_BASE,
            overflow: false,
        }
    }

    /// The lowest free, aligned address at or above the cursor for `size`
    /// bytes. Leaves one unmapped guard page after each mapping, so that
    /// running off the end of one never lands in the next.
    fn place(&mut self, size: u64, align: u64) -> u64 {
        let mut at = self.cursor.next_multiple_of(align);
        while let Some(&(_, end)) = self.taken.iter().find(|(s, e)| at < *e && *s < at + size) {
            at = end.next_multiple_of(align);
        }
        if at + size > AUTO_MAP_END {
            self.overflow = true;
            return 0;
        }
        self.taken.push((at, at + size));
        self.cursor = at + size + 4096;
        at
    }
}

/// The badge of a notification bit; 0 for a bit beyond the 64 a badge has
/// (already reported as `too-many-signals`).
fn bit_mask(bit: u32) -> u64 {
    1u64.checked_shl(bit).unwrap_or(0)
}
