//! `capctl check`: from text to a checked [`System`], or errors that point
//! at the line.
//!
//! Three passes:
//! 1. parse the TOML into the schema (syntax, unknown keys, types, values
//!    with their own syntax) — serde stops at the first such error;
//! 2. resolve every name and convert every value (dangling references with
//!    "did you mean", duplicate names and ids, ranges, alignments);
//! 3. check the rules that span tables: overlaps, shared IRQs and devices,
//!    DMA without an IOMMU, ring sizes, rights a channel does not allow, the
//!    memory budget, IPC priorities, fault-handler and call cycles.
//!
//! Passes 2 and 3 collect every error they find rather than stopping.

use std::collections::HashMap;

use crate::diag::{did_you_mean, list_choices, Diagnostic, Source};
use crate::layout::{self, Layout};
use crate::model::*;
use crate::schema::{self, RawSystem, Sp};

/// Lowest priority a component may have; 0 is the kernel's idle thread.
pub const MIN_PRIORITY: i64 = 1;
/// Highest priority a component may have; 255 is the supervisor's, so that
/// no component can starve the one that restarts the others.
pub const MAX_PRIORITY: i64 = ward_sysspec::SUPERVISOR_PRIORITY as i64 - 1;
/// Priority of the supervisor (root task), for the IPC priority rule.
pub use ward_sysspec::SUPERVISOR_PRIORITY;
/// Most cores the kernel runs on (its `MAX_CPUS`).
pub const MAX_CPUS: i64 = ward_abi::kstats::MAX_CPUS as i64;
/// Stack of a component that does not say: enough for a driver's poll loop
/// and formatting a log line, small enough to give every component one.
pub const DEFAULT_STACK: u64 = 16 << 10;
/// Largest stack a component may ask for (the reserved top area of its
/// address space is 1 GiB, see ward_sysspec::RESERVED_TOP_BASE).
pub const MAX_STACK: u64 = 256 << 20;
/// Memory the kernel and root task need outside of the components: the
/// kernel image and its static tables, the boot modules, the root task's own
/// image and bookkeeping. Generous, because running out at boot is worse
/// than a conservative check.
pub const SYSTEM_RESERVE: u64 = 32 << 20;
/// Kernel objects every component costs besides its stack and regions: TCB,
/// a 256-slot CNode (16 KiB), the IPC buffer, a notification and the page
/// tables of a small address space.
pub const COMPONENT_OVERHEAD: u64 = 64 << 10;
/// Kernel objects every IOMMU domain costs: its context entry share and a
/// few IO page tables.
pub const DOMAIN_OVERHEAD: u64 = 16 << 10;
/// Most entries a ring may have: `ward-ring`'s MAX_CAPACITY (2^16 entries,
/// 1 MiB of descriptors, far beyond what a NIC queue needs).
pub const MAX_RING_ENTRIES: i64 = 1 << 16;
/// Bytes per pool buffer when a ring does not say: one Ethernet frame
/// (1518 bytes) rounded up to a power of two.
pub const DEFAULT_BUFFER_SIZE: u64 = 2048;
/// Width of IO virtual addresses when `[kernel] iova_bits` is not given:
/// QEMU's VT-d reports 3-level tables (SAGAW), that is 39 bits.
pub const DEFAULT_IOVA_BITS: u8 = 39;
/// Longest name: a module name is `NAME.elf` and must fit the boot-info's
/// 64-byte module name.
pub const MAX_NAME_LEN: usize = 48;
/// Longest setting name: long enough for `rx_absolute_delay_us`, short
/// enough to read at a glance.
pub const MAX_SETTING_NAME_LEN: usize = 32;

/// The result of checking a file: the system (if it could be built) and
/// every diagnostic. It is valid when no diagnostic is an error.
pub struct Checked {
    pub system: Option<System>,
    pub layout: Option<Layout>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == crate::diag::Severity::Error)
    }

    /// The system and its layout, if there were no errors.
    pub fn valid(&self) -> Option<(&System, &Layout)> {
        if self.has_errors() {
            return None;
        }
        Some((self.system.as_ref()?, self.layout.as_ref()?))
    }
}

/// Checks a source file.
pub fn check(src: &Source) -> Checked {
    if let Some(error) = src.encoding_error() {
        return Checked {
            system: None,
            layout: None,
            diagnostics: vec![error],
        };
    }
    let raw: RawSystem = match toml::from_str(&src.text) {
        Ok(raw) => raw,
        Err(err) => {
            return Checked {
                system: None,
                layout: None,
                diagnostics: vec![parse_error(&err, src)],
            };
        }
    };
    let mut cx = Resolver {
        diags: Vec::new(),
        names: HashMap::new(),
    };
    let system = cx.resolve(&raw);
    rules(&system, &mut cx.diags);
    let layout = if cx.diags.is_empty() {
        Some(layout::layout(&system, &mut cx.diags))
    } else {
        None
    };
    Checked {
        system: Some(system),
        layout,
        diagnostics: cx.diags,
    }
}

/// Turns a serde/TOML error into a diagnostic with suggestions.
fn parse_error(err: &toml::de::Error, src: &Source) -> Diagnostic {
    let span = err.span();
    let message = err.message().replace('\n', ": ");
    // serde's own wording: "unknown field `x`, expected `a` or `b`" /
    // "expected one of `a`, `b`, `c`" / "there are no fields".
    let backticked = |text: &str| -> Vec<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let words = backticked(rest);
        let key = words.first().cloned().unwrap_or_default();
        let choices: Vec<String> = words.into_iter().skip(1).collect();
        let mut d = Diagnostic::error("unknown-key", span, format!("unknown key `{key}`"));
        if let Some(m) = did_you_mean(&key, choices.iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean `{m}`?"));
        }
        return d.with_help(format!("valid keys here: {}", list_choices(&choices)));
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let words = backticked(rest);
        let value = words.first().cloned().unwrap_or_default();
        let choices: Vec<String> = words.into_iter().skip(1).collect();
        let mut d = Diagnostic::error("invalid-value", span, format!("invalid value `{value}`"));
        if let Some(m) = did_you_mean(&value, choices.iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean `{m}`?"));
        }
        return d.with_help(format!("valid values: {}", list_choices(&choices)));
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let key = backticked(rest).into_iter().next().unwrap_or_default();
        return Diagnostic::error(
            "missing-key",
            span,
            format!("missing required key `{key}` in this table"),
        )
        .with_help(format!(
            "add `{key} = ...`; docs/system-toml.md describes it"
        ));
    }
    if message.contains("duplicate key") {
        let key = backticked(&message).into_iter().next().unwrap_or_default();
        // The parser points at the `[` of the second header: underline the
        // whole header instead.
        let span = span.map(
            |s| match src.text.get(s.start..).and_then(|rest| rest.find(']')) {
                Some(end)
                    if src.text[s.start..].starts_with('[')
                        && !src.text[s.start..s.start + end].contains('\n') =>
                {
                    s.start..s.start + end + 1
                }
                _ => s,
            },
        );
        return Diagnostic::error("duplicate-name", span, format!("`{key}` is defined twice"))
            .with_help("each name may be defined once; rename or merge the two tables");
    }
    if message.starts_with("invalid type") {
        let readable = message
            .replace("invalid type: ", "wrong type: ")
            .replace("expected i64", "expected an integer")
            .replace("expected u8", "expected an integer from 0 to 255")
            .replace("expected a sequence", "expected an array [ ... ]");
        let readable = match readable.find("expected struct ") {
            Some(at) => format!("{}expected a table {{ ... }}", &readable[..at]),
            None => readable,
        };
        return Diagnostic::error("invalid-value", span, readable);
    }
    if message.starts_with("invalid") && message.contains(':') && !message.contains("\n") {
        // Our own value parsers: "invalid size `x`: write ...".
        if let Some((what, help)) = message.split_once(": ") {
            if what.contains('`') {
                return Diagnostic::error("invalid-value", span, what.to_string())
                    .with_help(help.to_string());
            }
        }
    }
    let code = if message.starts_with("invalid")
        || message.starts_with("expected")
        || message.contains("unexpected")
    {
        "syntax"
    } else {
        "invalid-value"
    };
    Diagnostic::error(code, span, message)
}

/// What kind of thing a name names, for messages.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum NameKind {
    Component,
    Region,
    Device,
    Channel,
}

impl NameKind {
    fn word(self) -> &'static str {
        match self {
            NameKind::Component => "component",
            NameKind::Region => "region",
            NameKind::Device => "device",
            NameKind::Channel => "channel",
        }
    }
}

struct Resolver {
    diags: Vec<Diagnostic>,
    /// Every defined name: its kind, index and the span of its definition.
    names: HashMap<String, (NameKind, usize, Span)>,
}

fn span<T>(v: &Sp<T>) -> Span {
    v.span()
}

impl Resolver {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Checks a name's spelling and that it is not already taken.
    fn define(&mut self, name: &Sp<String>, kind: NameKind, index: usize) {
        let text = name.get_ref();
        let sp = span(name);
        self.check_name(name);
        if text == SUPERVISOR {
            self.err(
                Diagnostic::error(
                    "invalid-name",
                    Some(sp),
                    "`supervisor` is reserved for the root task",
                )
                .with_help("choose another name"),
            );
            return;
        }
        if let Some((other_kind, _, other_span)) = self.names.get(text) {
            let d = Diagnostic::error(
                "duplicate-name",
                Some(sp),
                format!("`{text}` is already the name of a {}", other_kind.word()),
            )
            .with_related(other_span.clone(), "first defined here")
            .with_help("components, regions, devices and channels share one namespace (their capability names are derived from them)");
            self.err(d);
            return;
        }
        self.names.insert(text.clone(), (kind, index, sp));
    }

    /// Reports a name that is not `[a-z][a-z0-9-]*` (names appear in
    /// capability dumps, module names and constants, so no spaces or
    /// other punctuation).
    fn check_name(&mut self, name: &Sp<String>) {
        let text = name.get_ref();
        let well_formed = !text.is_empty()
            && text.len() <= MAX_NAME_LEN
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !well_formed {
            self.err(
                Diagnostic::error("invalid-name", Some(span(name)), format!("invalid name `{text}`")).with_help(format!(
                    "names start with a lowercase letter and use only `a-z`, `0-9` and `-` (at most {MAX_NAME_LEN} characters)"
                )),
            );
        }
    }

    /// Looks up a reference to a `kind`; reports a dangling one.
    fn lookup(&mut self, name: &Sp<String>, kind: NameKind, context: &str) -> Option<usize> {
        self.lookup_with(name, kind, context, false)
    }

    fn lookup_with(
        &mut self,
        name: &Sp<String>,
        kind: NameKind,
        context: &str,
        allow_supervisor: bool,
    ) -> Option<usize> {
        let text = name.get_ref();
        match self.names.get(text) {
            Some((k, i, _)) if *k == kind => return Some(*i),
            Some((k, _, def)) => {
                let d = Diagnostic::error(
                    "dangling-ref",
                    Some(span(name)),
                    format!(
                        "{context} must name a {}, but `{text}` is a {}",
                        kind.word(),
                        k.word()
                    ),
                )
                .with_related(def.clone(), format!("`{text}` is defined here"));
                self.err(d);
                return None;
            }
            None => {}
        }
        let mut choices: Vec<&str> = self
            .names
            .iter()
            .filter(|(_, (k, _, _))| *k == kind)
            .map(|(n, _)| n.as_str())
            .collect();
        if allow_supervisor {
            choices.push(SUPERVISOR);
        }
        choices.sort();
        let mut d = Diagnostic::error(
            "dangling-ref",
            Some(span(name)),
            format!(
                "{context} names `{text}`, but there is no {} of that name",
                kind.word()
            ),
        );
        if let Some(m) = did_you_mean(text, choices.iter().copied()) {
            d = d.with_help(format!("did you mean `{m}`?"));
        }
        d = d.with_help(format!(
            "{}s defined: {}",
            kind.word(),
            list_choices(&choices)
        ));
        self.err(d);
        None
    }

    /// A core number, which must name one of the `cpus` cores `[kernel]` gives.
    fn core_in(&mut self, v: &Sp<i64>, cpus: u8, what: &str) -> Option<u8> {
        let x = *v.get_ref();
        if x < 0 || x >= i64::from(cpus) {
            let choices = if cpus == 1 {
                "0 (`[kernel] cpus` is 1 or not given; raise it to place components on more cores)"
                    .to_string()
            } else {
                format!("0 to {} (`[kernel] cpus = {cpus}`)", cpus - 1)
            };
            self.err(
                Diagnostic::error(
                    "invalid-value",
                    Some(span(v)),
                    format!("{what} {x} is not a core of this machine"),
                )
                .with_help(format!("the valid cores are {choices}")),
            );
            None
        } else {
            Some(x as u8)
        }
    }

    fn int_in(&mut self, v: &Sp<i64>, lo: i64, hi: i64, what: &str) -> Option<i64> {
        let x = *v.get_ref();
        if x < lo || x > hi {
            self.err(
                Diagnostic::error(
                    "invalid-value",
                    Some(span(v)),
                    format!("{what} {x} is out of range"),
                )
                .with_help(format!("{what} must be between {lo} and {hi}")),
            );
            None
        } else {
            Some(x)
        }
    }

    fn resolve(&mut self, raw: &RawSystem) -> System {
        // Names first, so that references can point forwards.
        for (i, name) in raw.component.keys().enumerate() {
            self.define(name, NameKind::Component, i);
        }
        for (i, name) in raw.region.keys().enumerate() {
            if name.get_ref() == KERNEL_STATISTICS_REGION {
                self.err(
                    Diagnostic::error(
                        "invalid-name",
                        Some(span(name)),
                        format!("`{KERNEL_STATISTICS_REGION}` is the kernel's statistics page; it cannot be defined"),
                    )
                    .with_help(format!("map it read-only where it is needed: `maps = [{{ region = \"{KERNEL_STATISTICS_REGION}\", rights = \"r\" }}]`")),
                );
                continue;
            }
            self.define(name, NameKind::Region, i);
        }
        // The kernel's statistics page is a region when someone maps it.
        let statistics_use = raw.component.values().find_map(|c| {
            c.get_ref()
                .maps
                .iter()
                .find(|m| m.get_ref().region.get_ref() == KERNEL_STATISTICS_REGION)
                .map(|m| span(&m.get_ref().region))
        });
        if let Some(sp) = &statistics_use {
            self.names.insert(
                KERNEL_STATISTICS_REGION.to_string(),
                (NameKind::Region, raw.region.len(), sp.clone()),
            );
        }
        for (i, name) in raw.device.keys().enumerate() {
            self.define(name, NameKind::Device, i);
        }
        for (i, name) in raw.channel.keys().enumerate() {
            self.define(name, NameKind::Channel, i);
        }

        let kernel = self.kernel(raw);
        let name = match raw.system.as_ref().and_then(|s| s.get_ref().name.as_ref()) {
            Some(n) => {
                self.check_name(n);
                n.get_ref().clone()
            }
            None => "ward".to_string(),
        };
        let mut regions: Vec<Region> = raw.region.iter().map(|(n, r)| self.region(n, r)).collect();
        if let Some(sp) = statistics_use {
            regions.push(Region {
                name: KERNEL_STATISTICS_REGION.to_string(),
                span: sp,
                size: 4096,
                page_size: 4096,
                fill: 0,
                ring_of: None,
                kernel_statistics: true,
            });
        }
        let devices: Vec<Device> = raw
            .device
            .iter()
            .map(|(n, d)| self.device(n, d, &kernel))
            .collect();
        let components: Vec<Component> = raw
            .component
            .iter()
            .map(|(n, c)| self.component(n, c, kernel.cpus))
            .collect();
        let mut channels = Vec::new();
        for (i, (n, c)) in raw.channel.iter().enumerate() {
            if let Some(ch) = self.channel(n, c, i, &mut regions) {
                channels.push(ch);
            } else {
                // Keep indices aligned with the file: a placeholder that
                // rules ignore (errors were already reported).
                channels.push(Channel {
                    name: n.get_ref().clone(),
                    span: span(n),
                    kind: ChannelKind::Notification,
                    ends: Ends::Notification {
                        waiter: usize::MAX,
                        waiter_span: span(n),
                        signallers: vec![],
                    },
                });
            }
        }
        let allowed_lints = raw
            .lints
            .as_ref()
            .map(|l| {
                l.get_ref()
                    .allow
                    .iter()
                    .filter_map(|name| {
                        if crate::lint::LINTS.iter().any(|(n, _)| *n == name.get_ref()) {
                            Some(name.get_ref().clone())
                        } else {
                            let names: Vec<&str> =
                                crate::lint::LINTS.iter().map(|(n, _)| *n).collect();
                            let mut d = Diagnostic::error(
                                "invalid-value",
                                Some(span(name)),
                                format!("unknown lint `{}`", name.get_ref()),
                            );
                            if let Some(m) = did_you_mean(name.get_ref(), names.iter().copied()) {
                                d = d.with_help(format!("did you mean `{m}`?"));
                            }
                            self.err(d.with_help(format!("lints: {}", list_choices(&names))));
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let audit = raw
            .system
            .as_ref()
            .and_then(|s| s.get_ref().audit.as_ref())
            .is_some_and(|a| *a.get_ref());
        System {
            name,
            audit,
            kernel,
            components,
            regions,
            devices,
            channels,
            allowed_lints,
        }
    }

    fn kernel(&mut self, raw: &RawSystem) -> Kernel {
        let k = raw.kernel.get_ref();
        if let Some(config) = &k.config {
            self.check_name(config);
        }
        let iova_bits = match &k.iova_bits {
            Some(b) => {
                let v = *b.get_ref();
                if !(32..=48).contains(&v) {
                    self.err(
                        Diagnostic::error("invalid-value", Some(span(b)), format!("iova_bits {v} is out of range"))
                            .with_help("VT-d translates 39 (3-level) or 48 (4-level) bits; give a value in 32..=48"),
                    );
                }
                v
            }
            None => DEFAULT_IOVA_BITS,
        };
        let ram = k.ram.get_ref().0;
        if ram < SYSTEM_RESERVE {
            self.err(
                Diagnostic::error(
                    "invalid-value",
                    Some(span(&k.ram)),
                    format!("ram of {} is too small", human_size(ram)),
                )
                .with_help(format!(
                    "the kernel and root task alone need {}",
                    human_size(SYSTEM_RESERVE)
                )),
            );
        }
        let cpus = match &k.cpus {
            Some(c) => self.int_in(c, 1, MAX_CPUS, "cpus").unwrap_or(1) as u8,
            None => 1,
        };
        Kernel {
            cpus,
            cpus_given: k.cpus.is_some(),
            config: k
                .config
                .as_ref()
                .map(|c| c.get_ref().clone())
                .unwrap_or_else(|| "default".into()),
            cmdline: k
                .cmdline
                .as_ref()
                .map(|c| c.get_ref().clone())
                .unwrap_or_default(),
            cmdline_span: k.cmdline.as_ref().map(span),
            ram,
            ram_span: span(&k.ram),
            iommu: k.iommu.as_ref().map(|b| *b.get_ref()).unwrap_or(true),
            iova_bits,
        }
    }

    fn region(&mut self, name: &Sp<String>, raw: &Sp<schema::RawRegion>) -> Region {
        let r = raw.get_ref();
        let size = r.size.get_ref().0;
        let page_size = r.page_size.as_ref().map(|p| p.get_ref().0).unwrap_or(4096);
        if let Some(p) = &r.page_size {
            if page_size != 4096 && page_size != 2 << 20 {
                self.err(
                    Diagnostic::error(
                        "invalid-value",
                        Some(span(p)),
                        format!("page size {} is not supported", human_size(page_size)),
                    )
                    .with_help("valid page sizes: \"4KiB\" or \"2MiB\""),
                );
            }
        }
        if size == 0 || (page_size.is_power_of_two() && !size.is_multiple_of(page_size)) {
            self.err(
                Diagnostic::error(
                    "invalid-value",
                    Some(span(&r.size)),
                    format!(
                        "region size {} is not a non-zero multiple of its page size",
                        human_size(size)
                    ),
                )
                .with_help(format!(
                    "round it up to {} (page size {})",
                    human_size(size.div_ceil(page_size).max(1) * page_size),
                    human_size(page_size)
                )),
            );
        }
        let fill = match &r.fill {
            Some(f) => self.int_in(f, 0, 255, "fill byte").unwrap_or(0) as u8,
            None => 0,
        };
        Region {
            name: name.get_ref().clone(),
            span: span(name),
            size,
            page_size,
            fill,
            ring_of: None,
            kernel_statistics: false,
        }
    }

    fn device(
        &mut self,
        name: &Sp<String>,
        raw: &Sp<schema::RawDevice>,
        kernel: &Kernel,
    ) -> Device {
        let d = raw.get_ref();
        let given: Vec<&str> = [
            ("pci", d.pci.is_some()),
            ("address", d.address.is_some()),
            ("ioports", d.ioports.is_some()),
        ]
        .iter()
        .filter(|(_, g)| *g)
        .map(|(n, _)| *n)
        .collect();
        if given.len() != 1 {
            self.err(
                Diagnostic::error(
                    "invalid-device",
                    Some(span(name)),
                    format!("device `{}` must be matched in exactly one way, found {}", name.get_ref(), given.len()),
                )
                .with_help("give one of `pci = \"8086:100e\"` (vendor:device), `address = \"00:03.0\"` (bus:dev.fn) or `ioports = { base = 0x3f8, count = 8 }` (legacy)"),
            );
        }
        let mut matcher = DeviceMatch::Legacy;
        if let Some(p) = &d.pci {
            match parse_pci_id(p.get_ref()) {
                Some((vendor, device)) => matcher = DeviceMatch::PciId { vendor, device },
                None => self.err(
                    Diagnostic::error(
                        "invalid-value",
                        Some(span(p)),
                        format!("invalid PCI id `{}`", p.get_ref()),
                    )
                    .with_help("write vendor:device in hexadecimal, e.g. \"8086:100e\""),
                ),
            }
        } else if let Some(a) = &d.address {
            match parse_bdf(a.get_ref()) {
                Some((bus, dev, func)) => matcher = DeviceMatch::PciAddress { bus, dev, func },
                None => self.err(
                    Diagnostic::error("invalid-value", Some(span(a)), format!("invalid PCI address `{}`", a.get_ref()))
                        .with_help("write bus:device.function in hexadecimal, e.g. \"00:03.0\" (device < 0x20, function < 8)"),
                ),
            }
        }
        let legacy = matcher == DeviceMatch::Legacy;
        let ioports = d.ioports.as_ref().and_then(|p| {
            let ports = p.get_ref();
            let base = self.int_in(&ports.base, 0, 0xffff, "IO port base")?;
            let count = self.int_in(&ports.count, 1, 0x10000 - base, "IO port count")?;
            Some((base as u16, count as u16, span(p)))
        });
        let mut bars: Vec<Bar> = Vec::new();
        for b in &d.bars {
            let raw_bar = b.get_ref();
            if legacy {
                self.err(
                    Diagnostic::error(
                        "invalid-device",
                        Some(span(b)),
                        "a legacy device has no BARs",
                    )
                    .with_help("remove `bars`; a legacy device is reached through its `ioports`"),
                );
                break;
            }
            if !(0..=5).contains(&raw_bar.bar) {
                self.err(
                    Diagnostic::error(
                        "invalid-value",
                        Some(span(b)),
                        format!("BAR {} does not exist", raw_bar.bar),
                    )
                    .with_help("a PCI function has BARs 0 to 5"),
                );
                continue;
            }
            if let Some(prev) = bars.iter().find(|x| x.index as i64 == raw_bar.bar) {
                self.err(
                    Diagnostic::error(
                        "duplicate-id",
                        Some(span(b)),
                        format!("BAR {} is listed twice", raw_bar.bar),
                    )
                    .with_related(prev.span.clone(), "first listed here"),
                );
                continue;
            }
            let size = raw_bar.size.as_ref().map(|s| s.get_ref().0);
            if let (Some(s), Some(sp)) = (size, &raw_bar.size) {
                if s == 0 || s % 4096 != 0 {
                    self.err(
                        Diagnostic::error(
                            "invalid-value",
                            Some(span(sp)),
                            format!("BAR window of {} is not a whole number of pages", human_size(s)),
                        )
                        .with_help("device memory is mapped in 4 KiB pages; use a non-zero multiple of \"4KiB\""),
                    );
                }
            }
            bars.push(Bar {
                index: raw_bar.bar as u8,
                size,
                span: span(b),
            });
        }
        let (irq, irq_line) = match &d.irq {
            None => (IrqKind::None, 0),
            Some(text) => match (text.get_ref().as_str(), legacy) {
                ("none", _) => (IrqKind::None, 0),
                ("intx", false) => (IrqKind::Intx, 0),
                ("msi", false) => (IrqKind::Msi, 0),
                (t, true) if t.starts_with("ioapic:") => match t["ioapic:".len()..].parse::<u8>() {
                    Ok(pin) if pin < 24 => (IrqKind::Ioapic, pin),
                    _ => {
                        self.err(
                            Diagnostic::error(
                                "invalid-value",
                                Some(span(text)),
                                format!("invalid IOAPIC pin in `{t}`"),
                            )
                            .with_help("the IOAPIC has pins 0 to 23, e.g. \"ioapic:4\" for COM1"),
                        );
                        (IrqKind::None, 0)
                    }
                },
                (t, _) => {
                    let choices: &[&str] = if legacy {
                        &["none", "ioapic:N"]
                    } else {
                        &["none", "intx", "msi"]
                    };
                    let mut e = Diagnostic::error(
                        "invalid-value",
                        Some(span(text)),
                        format!(
                            "invalid interrupt `{t}` for a {} device",
                            if legacy { "legacy" } else { "PCI" }
                        ),
                    );
                    if let Some(m) = did_you_mean(t, choices.iter().copied()) {
                        e = e.with_help(format!("did you mean `{m}`?"));
                    }
                    self.err(e.with_help(format!("valid values: {}", list_choices(choices))));
                    (IrqKind::None, 0)
                }
            },
        };
        let iommu =
            d.iommu.as_ref().map(|b| *b.get_ref()).unwrap_or(true) && !legacy && kernel.iommu;
        let unsafe_dma = d.unsafe_dma.as_ref().map(|b| *b.get_ref()).unwrap_or(false);
        let mut dma = Vec::new();
        for w in &d.dma {
            let raw_w = w.get_ref();
            let Some(region) = self.lookup(&raw_w.region, NameKind::Region, "a DMA window") else {
                continue;
            };
            if raw_w.region.get_ref() == KERNEL_STATISTICS_REGION {
                self.err(
                    Diagnostic::error(
                        "channel-rights",
                        Some(span(&raw_w.region)),
                        "no device may reach the kernel's statistics page by DMA",
                    )
                    .with_help("give the device a region of its own"),
                );
                continue;
            }
            let iova = *raw_w.iova.get_ref();
            if iova < 0 {
                self.err(Diagnostic::error(
                    "invalid-value",
                    Some(span(&raw_w.iova)),
                    "an IO address cannot be negative",
                ));
                continue;
            }
            let rights = raw_w.rights.get_ref().0;
            if rights.contains(Rights::EXECUTE) {
                self.err(
                    Diagnostic::error(
                        "invalid-value",
                        Some(span(&raw_w.rights)),
                        "a device cannot execute memory",
                    )
                    .with_help(
                        "DMA rights are \"r\" (the device reads), \"w\" (it writes) or \"rw\"",
                    ),
                );
            }
            dma.push(Dma {
                region,
                iova: iova as u64,
                size: raw_w.size.as_ref().map(|s| s.get_ref().0).unwrap_or(0),
                rights,
                span: span(w),
            });
        }
        Device {
            name: name.get_ref().clone(),
            span: span(name),
            matcher,
            bars,
            ioports,
            irq,
            irq_line,
            irq_span: d.irq.as_ref().map(span),
            irq_core: d.irq_core.as_ref().and_then(|v| {
                self.core_in(v, kernel.cpus, "irq_core")
                    .map(|core| (core, span(v)))
            }),
            iommu,
            unsafe_dma,
            optional: d.optional.as_ref().map(|b| *b.get_ref()).unwrap_or(false),
            dma,
        }
    }

    fn component(
        &mut self,
        name: &Sp<String>,
        raw: &Sp<schema::RawComponent>,
        cpus: u8,
    ) -> Component {
        let c = raw.get_ref();
        let kind = match *c.kind.get_ref() {
            schema::Kind::Driver => ComponentKind::Driver,
            schema::Kind::Server => ComponentKind::Server,
            schema::Kind::App => ComponentKind::App,
        };
        let priority = self
            .int_in(&c.priority, MIN_PRIORITY, MAX_PRIORITY, "priority")
            .unwrap_or(1) as u8;
        let core = c
            .core
            .as_ref()
            .and_then(|v| self.core_in(v, cpus, "core"))
            .unwrap_or(0);
        let stack = match &c.stack {
            Some(s) => {
                let v = s.get_ref().0;
                if v < 4096 || v % 4096 != 0 || v > MAX_STACK {
                    self.err(
                        Diagnostic::error("invalid-value", Some(span(s)), format!("stack of {} is not allowed", human_size(v)))
                            .with_help(format!(
                                "a stack is a whole number of 4 KiB pages, at least \"4KiB\" and at most {}",
                                human_size(MAX_STACK)
                            )),
                    );
                }
                v
            }
            None => DEFAULT_STACK,
        };
        let program = match &c.program {
            Some(p) => {
                let t = p.get_ref();
                if t.is_empty()
                    || t.len() > MAX_NAME_LEN
                    || !t
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
                {
                    self.err(
                        Diagnostic::error(
                            "invalid-value",
                            Some(span(p)),
                            format!("invalid program name `{t}`"),
                        )
                        .with_help(
                            "a program is the name of a binary crate: letters, digits, `-` and `_`",
                        ),
                    );
                }
                t.clone()
            }
            None => name.get_ref().clone(),
        };
        let fault_handler = match &c.fault_handler {
            Some(f) if f.get_ref() == SUPERVISOR => FaultHandler::Supervisor,
            Some(f) => match self.lookup_with(f, NameKind::Component, "`fault_handler`", true) {
                Some(i) => FaultHandler::Component(i),
                None => FaultHandler::Supervisor,
            },
            None => FaultHandler::Supervisor,
        };
        let may_restart = c
            .may_restart
            .iter()
            .filter_map(|m| {
                self.lookup_with(m, NameKind::Component, "`may_restart`", false)
                    .map(|i| (i, span(m)))
            })
            .collect();
        let heartbeat_us = match &c.heartbeat {
            Some(h) => {
                let v = h.get_ref().0;
                if v < 1_000 {
                    self.err(
                        Diagnostic::error("invalid-value", Some(span(h)), format!("heartbeat of {} is too short", human_duration(v)))
                            .with_help("the supervisor checks heartbeats at the timer tick (1 ms); use at least \"1ms\""),
                    );
                }
                v
            }
            None => 0,
        };
        let (restart, max_restarts, backoff_us, min_run_us) = match &c.restart {
            Some(r) => {
                let r = r.get_ref();
                let policy = match *r.policy.get_ref() {
                    schema::Policy::Restart => RestartPolicy::Restart,
                    schema::Policy::Hold => RestartPolicy::Hold,
                };
                let max = r
                    .max
                    .as_ref()
                    .and_then(|m| self.int_in(m, 0, 1000, "maximum restarts"))
                    .unwrap_or(3);
                (
                    policy,
                    if policy == RestartPolicy::Hold {
                        0
                    } else {
                        max as u32
                    },
                    r.backoff.as_ref().map(|b| b.get_ref().0).unwrap_or(10_000),
                    r.min_run
                        .as_ref()
                        .map(|b| b.get_ref().0)
                        .unwrap_or(1_000_000),
                )
            }
            None => (RestartPolicy::Hold, 0, 0, 0),
        };
        let devices = c
            .devices
            .iter()
            .filter_map(|d| {
                self.lookup(d, NameKind::Device, "`devices`")
                    .map(|i| (i, span(d)))
            })
            .collect();
        let irqs = c
            .irqs
            .iter()
            .filter_map(|d| {
                self.lookup(d, NameKind::Device, "`irqs`")
                    .map(|i| (i, span(d)))
            })
            .collect();
        let mut maps = Vec::new();
        for m in &c.maps {
            let raw_m = m.get_ref();
            let Some(region) = self.lookup(&raw_m.region, NameKind::Region, "a mapping") else {
                continue;
            };
            let rights = raw_m.rights.get_ref().0;
            if raw_m.region.get_ref() == KERNEL_STATISTICS_REGION && rights != Rights::READ {
                self.err(
                    Diagnostic::error(
                        "channel-rights",
                        Some(span(&raw_m.rights)),
                        "the kernel's statistics page can only be mapped read-only",
                    )
                    .with_help("use `rights = \"r\"`: only the kernel writes it"),
                );
            }
            if rights.contains(Rights::WRITE) && rights.contains(Rights::EXECUTE) {
                self.err(
                    Diagnostic::error(
                        "wx-mapping",
                        Some(span(&raw_m.rights)),
                        "a mapping may be writable or executable, not both",
                    )
                    .with_help("W^X: map it \"rw\" for data or \"rx\" for code"),
                );
            } else if !rights.contains(Rights::READ) {
                // Every mapping can be read (the kernel maps nothing without
                // the read right), so "w" or "x" alone would mean "rw" or
                // "rx" while saying something else.
                self.err(
                    Diagnostic::error(
                        "invalid-value",
                        Some(span(&raw_m.rights)),
                        format!(
                            "invalid rights \"{rights}\" for a mapping: every mapping can be read"
                        ),
                    )
                    .with_help("valid values: \"r\" (read-only), \"rw\" (data) or \"rx\" (code)"),
                );
            }
            let at = match &raw_m.at {
                Some(a) if *a.get_ref() < 0 => {
                    self.err(Diagnostic::error(
                        "invalid-value",
                        Some(span(a)),
                        "an address cannot be negative",
                    ));
                    None
                }
                Some(a) => Some(*a.get_ref() as u64),
                None => None,
            };
            let cap_name = match &raw_m.cap {
                Some(n) => {
                    let t = n.get_ref();
                    let ok = t.starts_with(|ch: char| ch.is_ascii_uppercase())
                        && t.chars()
                            .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_');
                    if !ok {
                        self.err(
                            Diagnostic::error(
                                "invalid-name",
                                Some(span(n)),
                                format!("invalid capability name `{t}`"),
                            )
                            .with_help(format!(
                                "write it as a Rust constant, e.g. `{}`",
                                const_name(&t.to_lowercase())
                            )),
                        );
                    }
                    Some(t.clone())
                }
                None => None,
            };
            maps.push(Map {
                region,
                rights,
                at,
                cap_name,
                span: span(m),
            });
        }
        let settings = self.settings(c.settings.as_ref());
        Component {
            name: name.get_ref().clone(),
            span: span(name),
            kind,
            program,
            priority,
            priority_span: span(&c.priority),
            core,
            core_span: c.core.as_ref().map(span),
            stack,
            fault_handler,
            fault_handler_span: c.fault_handler.as_ref().map(span),
            may_restart,
            heartbeat_us,
            restart,
            max_restarts,
            backoff_us,
            min_run_us,
            devices,
            irqs,
            maps,
            ipv4: c.ipv4.as_ref().and_then(|v| self.ipv4(v)),
            settings,
        }
    }

    /// Checks an `ipv4` setting; errors point at the offending text.
    fn ipv4(&mut self, value: &Sp<schema::RawIpv4>) -> Option<Ipv4Setting> {
        const FORMS: &str = "write \"dhcp\", an address with its prefix length such as \"10.0.2.15/24\", or `{ address = \"10.0.2.15/24\", gateway = \"10.0.2.2\" }`";
        let (text, text_span, gateway) = match value.get_ref() {
            schema::RawIpv4::Text(t) => (t.clone(), span(value), None),
            schema::RawIpv4::Table { address, gateway } => {
                (address.get_ref().clone(), span(address), gateway.as_ref())
            }
        };
        if text == "dhcp" {
            if let Some(g) = gateway {
                self.err(
                    Diagnostic::error("invalid-value", Some(span(g)), "a gateway with DHCP")
                        .with_help("the DHCP server names the gateway; remove `gateway` or give a fixed `address`"),
                );
                return None;
            }
            return Some(Ipv4Setting::Dhcp);
        }
        let Some((address, prefix_len)) = text
            .split_once('/')
            .and_then(|(a, p)| Some((parse_ipv4(a)?, p.parse::<u8>().ok()?)))
        else {
            let mut d = Diagnostic::error(
                "invalid-value",
                Some(text_span),
                format!("invalid IPv4 setting `{text}`"),
            );
            if parse_ipv4(&text).is_some() {
                d = d.with_help(format!("add the prefix length, e.g. \"{text}/24\""));
            }
            self.err(d.with_help(FORMS));
            return None;
        };
        if !(1..=32).contains(&prefix_len) {
            self.err(
                Diagnostic::error(
                    "invalid-value",
                    Some(text_span),
                    format!("prefix length /{prefix_len} is out of range"),
                )
                .with_help("use 1 to 32, e.g. /24 for a 255.255.255.0 network"),
            );
            return None;
        }
        let number = u32::from_be_bytes(address);
        let mask = u32::MAX << (32 - u32::from(prefix_len));
        let why = if address[0] == 0 {
            Some("is in 0.0.0.0/8 (\"this network\")")
        } else if address[0] == 127 {
            Some("is a loopback address")
        } else if address[0] >= 224 {
            Some("is multicast or reserved, not a host address")
        } else if prefix_len <= 30 && number & !mask == 0 {
            Some("is the network's own address")
        } else if prefix_len <= 30 && number & !mask == !mask {
            Some("is the network's broadcast address")
        } else {
            None
        };
        if let Some(why) = why {
            self.err(
                Diagnostic::error("invalid-value", Some(text_span), format!("`{text}` {why}"))
                    .with_help(
                        "give the address of this host in its network, e.g. \"10.0.2.15/24\"",
                    ),
            );
            return None;
        }
        let gateway = match gateway {
            None => None,
            Some(g) => {
                let Some(gw) = parse_ipv4(g.get_ref()) else {
                    self.err(
                        Diagnostic::error(
                            "invalid-value",
                            Some(span(g)),
                            format!("invalid gateway `{}`", g.get_ref()),
                        )
                        .with_help("write an IPv4 address without a prefix, e.g. \"10.0.2.2\""),
                    );
                    return None;
                };
                if u32::from_be_bytes(gw) & mask != number & mask || gw == address {
                    self.err(
                        Diagnostic::error(
                            "invalid-value",
                            Some(span(g)),
                            format!("gateway `{}` is not another host of {text}'s network", g.get_ref()),
                        )
                        .with_help("a gateway must be reachable directly: an address of the same network, other than this host's"),
                    );
                    return None;
                }
                Some(gw)
            }
        };
        Some(Ipv4Setting::Static {
            address,
            prefix_len,
            gateway,
        })
    }

    /// A component's `settings`: names a program can take as identifiers
    /// (`a-z`, `0-9`, `_`, starting with a letter), values that are not
    /// negative. What each name means is the program's business; its build
    /// checks the names it knows (`gencaps::check_settings`).
    fn settings(
        &mut self,
        raw: Option<&Sp<indexmap::IndexMap<Sp<String>, Sp<i64>>>>,
    ) -> Vec<Setting> {
        let Some(raw) = raw else { return Vec::new() };
        let mut settings = Vec::new();
        for (name, value) in raw.get_ref() {
            let text = name.get_ref();
            let ok = text.starts_with(|ch: char| ch.is_ascii_lowercase())
                && text.len() <= MAX_SETTING_NAME_LEN
                && text
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
            if !ok {
                self.err(
                    Diagnostic::error(
                        "invalid-name",
                        Some(span(name)),
                        format!("invalid setting name `{text}`"),
                    )
                    .with_help(format!(
                        "a setting is named like a Rust identifier: a lowercase letter, then `a-z`, `0-9` or `_` (at most {MAX_SETTING_NAME_LEN} characters)"
                    )),
                );
                continue;
            }
            let Some(v) = self.int_in(value, 0, i64::MAX, &format!("setting `{text}`")) else {
                continue;
            };
            settings.push(Setting {
                name: text.clone(),
                value: v as u64,
                span: span(name),
            });
        }
        settings
    }

    /// Reports keys given for a channel kind they do not apply to.
    fn keys_for_kind(&mut self, c: &schema::RawChannel, kind: &str, allowed: &[&str]) {
        let present: [(&str, Option<Span>); 12] = [
            ("server", c.server.as_ref().map(span)),
            ("clients", c.clients.as_ref().map(span)),
            ("waiter", c.waiter.as_ref().map(span)),
            ("signallers", c.signallers.as_ref().map(span)),
            ("producer", c.producer.as_ref().map(span)),
            ("consumer", c.consumer.as_ref().map(span)),
            ("entries", c.entries.as_ref().map(span)),
            ("buffer_size", c.buffer_size.as_ref().map(span)),
            ("pool", c.pool.as_ref().map(span)),
            ("producer_pool", c.producer_pool.as_ref().map(span)),
            ("consumer_pool", c.consumer_pool.as_ref().map(span)),
            ("owner", c.owner.as_ref().map(span)),
        ];
        for (key, sp) in present {
            if let Some(sp) = sp {
                if !allowed.contains(&key) {
                    let mut keys = vec!["kind"];
                    keys.extend_from_slice(allowed);
                    self.err(
                        Diagnostic::error(
                            "unknown-key",
                            Some(sp),
                            format!(
                                "key `{key}` does not apply to {} {kind} channel",
                                article(kind)
                            ),
                        )
                        .with_help(format!(
                            "valid keys for {} {kind} channel: {}",
                            article(kind),
                            list_choices(&keys)
                        )),
                    );
                }
            }
        }
    }

    fn required<'a>(
        &mut self,
        v: &'a Option<Sp<String>>,
        key: &str,
        kind: &str,
        name: &Sp<String>,
    ) -> Option<&'a Sp<String>> {
        if v.is_none() {
            self.err(
                Diagnostic::error(
                    "missing-key",
                    Some(span(name)),
                    format!("{kind} channel `{}` has no `{key}`", name.get_ref()),
                )
                .with_help(format!("add `{key} = \"COMPONENT\"`")),
            );
        }
        v.as_ref()
    }

    fn channel(
        &mut self,
        name: &Sp<String>,
        raw: &Sp<schema::RawChannel>,
        index: usize,
        regions: &mut Vec<Region>,
    ) -> Option<Channel> {
        let c = raw.get_ref();
        let (kind, ends) = match *c.kind.get_ref() {
            schema::ChannelKindText::Endpoint => {
                self.keys_for_kind(c, "endpoint", &["server", "clients"]);
                let server_name = self.required(&c.server, "server", "endpoint", name)?;
                let server = if server_name.get_ref() == SUPERVISOR {
                    None
                } else {
                    Some(self.lookup_with(server_name, NameKind::Component, "`server`", true)?)
                };
                let mut clients: Vec<(usize, u64, Span)> = Vec::new();
                if let Some(list) = &c.clients {
                    for (client, badge) in list.get_ref() {
                        let Some(ci) = self.lookup(client, NameKind::Component, "`clients`") else {
                            continue;
                        };
                        let Some(b) = self.int_in(badge, 1, i64::MAX, "badge") else {
                            continue;
                        };
                        if let Some(prev) = clients.iter().find(|x| x.1 == b as u64) {
                            self.err(
                                Diagnostic::error("duplicate-id", Some(span(badge)), format!("badge {b} is given to two clients of `{}`", name.get_ref()))
                                    .with_related(prev.2.clone(), "first given here")
                                    .with_help("the server tells its clients apart by badge; give each a different one"),
                            );
                        }
                        if Some(ci) == server {
                            self.err(
                                Diagnostic::error(
                                    "invalid-value",
                                    Some(span(client)),
                                    format!("`{}` would call itself", client.get_ref()),
                                )
                                .with_help("a server cannot be a client of its own endpoint"),
                            );
                        }
                        clients.push((ci, b as u64, span(client)));
                    }
                }
                (
                    ChannelKind::Endpoint,
                    Ends::Endpoint {
                        server,
                        server_span: span(server_name),
                        clients,
                    },
                )
            }
            schema::ChannelKindText::Notification => {
                self.keys_for_kind(c, "notification", &["waiter", "signallers"]);
                let waiter_name = self.required(&c.waiter, "waiter", "notification", name)?;
                let waiter = self.lookup(waiter_name, NameKind::Component, "`waiter`")?;
                let mut signallers: Vec<(usize, Span)> = Vec::new();
                if let Some(list) = &c.signallers {
                    for s in list.get_ref() {
                        let Some(si) = self.lookup(s, NameKind::Component, "`signallers`") else {
                            continue;
                        };
                        if si == waiter {
                            self.err(
                                Diagnostic::error(
                                    "invalid-value",
                                    Some(span(s)),
                                    format!("`{}` would signal itself", s.get_ref()),
                                )
                                .with_help("the waiter cannot also be a signaller"),
                            );
                        }
                        if let Some(prev) = signallers.iter().find(|x| x.0 == si) {
                            self.err(
                                Diagnostic::error(
                                    "duplicate-id",
                                    Some(span(s)),
                                    format!("`{}` is listed twice", s.get_ref()),
                                )
                                .with_related(prev.1.clone(), "first listed here"),
                            );
                        }
                        signallers.push((si, span(s)));
                    }
                }
                (
                    ChannelKind::Notification,
                    Ends::Notification {
                        waiter,
                        waiter_span: span(waiter_name),
                        signallers,
                    },
                )
            }
            schema::ChannelKindText::Ring => {
                self.keys_for_kind(
                    c,
                    "ring",
                    &[
                        "producer",
                        "consumer",
                        "entries",
                        "buffer_size",
                        "pool",
                        "producer_pool",
                        "consumer_pool",
                        "owner",
                    ],
                );
                let p = self.required(&c.producer, "producer", "ring", name);
                let q = self.required(&c.consumer, "consumer", "ring", name);
                let producer = p.and_then(|p| self.lookup(p, NameKind::Component, "`producer`"));
                let consumer = q.and_then(|q| self.lookup(q, NameKind::Component, "`consumer`"));
                let Some(entries_v) = &c.entries else {
                    self.err(
                        Diagnostic::error(
                            "missing-key",
                            Some(span(name)),
                            format!("ring channel `{}` has no `entries`", name.get_ref()),
                        )
                        .with_help("add `entries = 256` (a power of two)"),
                    );
                    return None;
                };
                let entries = *entries_v.get_ref();
                if !(2..=MAX_RING_ENTRIES).contains(&entries) || !(entries as u64).is_power_of_two()
                {
                    let up = (entries.clamp(2, MAX_RING_ENTRIES) as u64).next_power_of_two();
                    let down = up / 2;
                    let mut d = Diagnostic::error(
                        "ring-size",
                        Some(span(entries_v)),
                        format!("ring size {entries} is not a power of two between 2 and {MAX_RING_ENTRIES}"),
                    )
                    .with_help("ring indices wrap with a mask, so the entry count must be a power of two");
                    if entries > 2 && entries < MAX_RING_ENTRIES {
                        d = d.with_help(format!("use {down} or {up}"));
                    }
                    self.err(d);
                }
                let (producer, consumer) = (producer?, consumer?);
                if producer == consumer {
                    self.err(
                        Diagnostic::error(
                            "invalid-value",
                            Some(span(q.unwrap())),
                            "a ring's producer and consumer must differ",
                        )
                        .with_help("a component does not need a ring to talk to itself"),
                    );
                }
                let buffer_size = c
                    .buffer_size
                    .as_ref()
                    .map(|b| b.get_ref().0)
                    .unwrap_or(DEFAULT_BUFFER_SIZE);
                if let Some(b) = &c.buffer_size {
                    if buffer_size == 0 || buffer_size > (1 << 20) {
                        self.err(
                            Diagnostic::error(
                                "invalid-value",
                                Some(span(b)),
                                format!("buffer size {} is out of range", human_size(buffer_size)),
                            )
                            .with_help("a pool buffer is between 1 byte and 1 MiB"),
                        );
                    }
                }
                let pool = match &c.pool {
                    Some(p) if p.get_ref() == KERNEL_STATISTICS_REGION => {
                        self.err(
                            Diagnostic::error(
                                "channel-rights",
                                Some(span(p)),
                                "the kernel's statistics page cannot be a ring's pool",
                            )
                            .with_help("give the ring a region of its own"),
                        );
                        return None;
                    }
                    Some(p) => Some(self.lookup(p, NameKind::Region, "`pool`")?),
                    None => None,
                };
                // Who owns the pool (lends buffers and gets each back): the
                // producer unless the file says otherwise.
                let owner_is_consumer = match &c.owner {
                    None => false,
                    Some(o) if o.get_ref() == p.unwrap().get_ref() => false,
                    Some(o) if o.get_ref() == q.unwrap().get_ref() => true,
                    Some(o) => {
                        self.err(
                            Diagnostic::error(
                                "invalid-value",
                                Some(span(o)),
                                format!(
                                    "`owner = \"{}\"` is neither end of ring `{}`",
                                    o.get_ref(),
                                    name.get_ref()
                                ),
                            )
                            .with_help(format!(
                                "the pool's owner is the producer (`{}`, the default) or the consumer (`{}`)",
                                p.unwrap().get_ref(),
                                q.unwrap().get_ref()
                            )),
                        );
                        false
                    }
                };
                let ring_region = regions.len();
                regions.push(Region {
                    name: format!("{}.ring", name.get_ref()),
                    span: span(name),
                    size: ward_sysspec::ring_memory_bytes(entries.clamp(0, MAX_RING_ENTRIES) as u64),
                    page_size: 4096,
                    fill: 0,
                    ring_of: Some(index),
                    kernel_statistics: false,
                });
                (
                    ChannelKind::Ring,
                    Ends::Ring {
                        producer,
                        producer_span: span(p.unwrap()),
                        consumer,
                        consumer_span: span(q.unwrap()),
                        entries: entries.clamp(0, MAX_RING_ENTRIES) as u32,
                        entries_span: span(entries_v),
                        buffer_size: buffer_size.min(1 << 20) as u32,
                        pool,
                        pool_span: c.pool.as_ref().map(span),
                        producer_pool: c
                            .producer_pool
                            .as_ref()
                            .map(|r| r.get_ref().0)
                            .unwrap_or(Rights(3)),
                        consumer_pool: c
                            .consumer_pool
                            .as_ref()
                            .map(|r| r.get_ref().0)
                            .unwrap_or(Rights::READ),
                        owner_is_consumer,
                        ring_region,
                    },
                )
            }
        };
        Some(Channel {
            name: name.get_ref().clone(),
            span: span(name),
            kind,
            ends,
        })
    }
}

/// "a" or "an", for a kind name.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// "8086:100e" → (0x8086, 0x100e).
pub fn parse_pci_id(text: &str) -> Option<(u16, u16)> {
    let (v, d) = text.split_once(':')?;
    if v.len() != 4 || d.len() != 4 {
        return None;
    }
    Some((
        u16::from_str_radix(v, 16).ok()?,
        u16::from_str_radix(d, 16).ok()?,
    ))
}

/// "00:03.0" → (0, 3, 0).
pub fn parse_bdf(text: &str) -> Option<(u8, u8, u8)> {
    let (bus, rest) = text.split_once(':')?;
    let (dev, func) = rest.split_once('.')?;
    let bus = u8::from_str_radix(bus, 16).ok()?;
    let dev = u8::from_str_radix(dev, 16).ok()?;
    let func = u8::from_str_radix(func, 16).ok()?;
    (dev < 32 && func < 8).then_some((bus, dev, func))
}

/// The rules that span tables (pass 3).
fn rules(sys: &System, diags: &mut Vec<Diagnostic>) {
    boot_limits(sys, diags);
    device_rules(sys, diags);
    dma_rules(sys, diags);
    mapping_rules(sys, diags);
    channel_rules(sys, diags);
    restart_request_rules(sys, diags);
    memory_budget(sys, diags);
    cycles(sys, diags);
}

/// What the boot path can carry: the kernel keeps a bounded command line
/// and a bounded number of boot modules (see ward_abi::bootinfo).
fn boot_limits(sys: &System, diags: &mut Vec<Diagnostic>) {
    use ward_abi::bootinfo::{CMDLINE_LEN, MAX_MODULES};
    if sys.kernel.cmdline.len() >= CMDLINE_LEN {
        diags.push(
            Diagnostic::error(
                "boot-limits",
                sys.kernel.cmdline_span.clone(),
                format!(
                    "the kernel command line is {} bytes; the kernel keeps at most {}",
                    sys.kernel.cmdline.len(),
                    CMDLINE_LEN - 1
                ),
            )
            .with_help(
                "shorten it; component settings belong in this file, not on the command line",
            ),
        );
    }
    if sys.kernel.cmdline.chars().any(char::is_control) {
        diags.push(
            Diagnostic::error(
                "invalid-value",
                sys.kernel.cmdline_span.clone(),
                "the kernel command line contains a control character",
            )
            .with_help("it is passed as one line: use spaces between options, no newlines or tabs"),
        );
    }
    let mut programs: Vec<&str> = sys.components.iter().map(|c| c.program.as_str()).collect();
    programs.sort();
    programs.dedup();
    // The root task and system.bin are modules too.
    let modules = programs.len() + 2;
    if modules > MAX_MODULES {
        diags.push(
            Diagnostic::error(
                "boot-limits",
                sys.components.get(MAX_MODULES - 2).map(|c| c.span.clone()),
                format!("the system needs {modules} boot modules; the kernel takes at most {MAX_MODULES}"),
            )
            .with_help(format!(
                "the root task and system.bin are two of them; at most {} different programs fit",
                MAX_MODULES - 2
            )),
        );
    }
}

fn device_rules(sys: &System, diags: &mut Vec<Diagnostic>) {
    // One device, one driver.
    let mut driver_of: HashMap<usize, (usize, Span)> = HashMap::new();
    for (ci, c) in sys.components.iter().enumerate() {
        for (dev, sp) in &c.devices {
            if let Some((other, other_span)) = driver_of.get(dev) {
                let msg = if *other == ci {
                    format!(
                        "device `{}` is granted to `{}` twice",
                        sys.devices[*dev].name, c.name
                    )
                } else {
                    format!(
                        "device `{}` is granted to two drivers, `{}` and `{}`",
                        sys.devices[*dev].name, sys.components[*other].name, c.name
                    )
                };
                diags.push(
                    Diagnostic::error("device-shared", Some(sp.clone()), msg)
                        .with_related(other_span.clone(), "first granted here")
                        .with_help("two drivers programming one device corrupt each other's state; keep one grant"),
                );
            } else {
                driver_of.insert(*dev, (ci, sp.clone()));
            }
        }
    }
    // One IRQ, one component; the IRQ goes to the device's driver.
    let mut irq_owner: HashMap<usize, (usize, Span)> = HashMap::new();
    let mut pin_owner: HashMap<u8, (usize, usize, Span)> = HashMap::new();
    for (ci, c) in sys.components.iter().enumerate() {
        for (dev, sp) in &c.irqs {
            let d = &sys.devices[*dev];
            if d.irq == IrqKind::None {
                diags.push(
                    Diagnostic::error("irq-none", Some(sp.clone()), format!("device `{}` has no interrupt to grant", d.name))
                        .with_related(d.span.clone(), "the device is defined here")
                        .with_help("give the device `irq = \"msi\"`, `\"intx\"` or `\"ioapic:N\"`, or remove this grant"),
                );
                continue;
            }
            if !c.devices.iter().any(|(x, _)| x == dev) {
                diags.push(
                    Diagnostic::error(
                        "irq-without-device",
                        Some(sp.clone()),
                        format!(
                            "`{}` gets the interrupt of `{}` but does not drive it",
                            c.name, d.name
                        ),
                    )
                    .with_help(format!(
                        "add `\"{}\"` to `devices` of `{}`, or grant the IRQ to its driver",
                        d.name, c.name
                    )),
                );
            }
            if let Some((other, other_span)) = irq_owner.get(dev) {
                diags.push(
                    Diagnostic::error(
                        "irq-shared",
                        Some(sp.clone()),
                        format!(
                            "the interrupt of `{}` is routed to two components, `{}` and `{}`",
                            d.name, sys.components[*other].name, c.name
                        ),
                    )
                    .with_related(other_span.clone(), "first routed here")
                    .with_help(
                        "an interrupt is acknowledged by one handler; route it to one component",
                    ),
                );
                continue;
            }
            irq_owner.insert(*dev, (ci, sp.clone()));
            if d.irq == IrqKind::Ioapic {
                if let Some((other_c, other_d, other_span)) = pin_owner.get(&d.irq_line) {
                    if *other_c != ci {
                        diags.push(
                            Diagnostic::error(
                                "irq-shared",
                                Some(sp.clone()),
                                format!(
                                    "IOAPIC pin {} (device `{}`) is also routed to `{}` (device `{}`)",
                                    d.irq_line, d.name, sys.components[*other_c].name, sys.devices[*other_d].name
                                ),
                            )
                            .with_related(other_span.clone(), "first routed here")
                            .with_help("a legacy interrupt line cannot tell its devices apart; both must go to one component"),
                        );
                    }
                } else {
                    pin_owner.insert(d.irq_line, (ci, *dev, sp.clone()));
                }
            }
        }
    }
    // Two devices that match the same hardware.
    for (i, a) in sys.devices.iter().enumerate() {
        for b in &sys.devices[i + 1..] {
            if a.matcher == b.matcher && a.matcher != DeviceMatch::Legacy {
                diags.push(
                    Diagnostic::error("duplicate-id", Some(b.span.clone()), format!("devices `{}` and `{}` match the same hardware", a.name, b.name))
                        .with_related(a.span.clone(), "first matched here")
                        .with_help("match the second device by its PCI address (`address = \"bb:dd.f\"`) instead"),
                );
            }
            if let (Some((ab, ac, _)), Some((bb, bc, bs))) = (&a.ioports, &b.ioports) {
                let (a0, a1) = (*ab as u32, *ab as u32 + *ac as u32);
                let (b0, b1) = (*bb as u32, *bb as u32 + *bc as u32);
                if a0 < b1 && b0 < a1 {
                    diags.push(
                        Diagnostic::error(
                            "overlap",
                            Some(bs.clone()),
                            format!("IO ports {b0:#x}..{b1:#x} of `{}` overlap {a0:#x}..{a1:#x} of `{}`", b.name, a.name),
                        )
                        .with_related(a.ioports.as_ref().unwrap().2.clone(), "the other range"),
                    );
                }
            }
        }
    }
}

fn dma_rules(sys: &System, diags: &mut Vec<Diagnostic>) {
    let bound = 1u64 << sys.kernel.iova_bits;
    for d in &sys.devices {
        if !d.dma.is_empty() && !d.iommu && !d.unsafe_dma {
            let why = if !sys.kernel.iommu {
                "the machine has no IOMMU (`[kernel] iommu = false`)"
            } else if d.matcher == DeviceMatch::Legacy {
                "a legacy device has no IOMMU domain"
            } else {
                "the device has `iommu = false`"
            };
            diags.push(
                Diagnostic::error("dma-without-iommu", Some(d.dma[0].span.clone()), format!("device `{}` does DMA without an IOMMU domain", d.name))
                    .with_help(format!("{why}, so nothing would confine its DMA to its windows"))
                    .with_help("give it an IOMMU domain, or mark it `unsafe_dma = true` to accept that it can write anywhere"),
            );
        }
        let mut placed: Vec<(u64, u64, &Dma)> = Vec::new();
        for w in &d.dma {
            let region = &sys.regions[w.region];
            let size = if w.size == 0 { region.size } else { w.size };
            if size > region.size {
                diags.push(
                    Diagnostic::error(
                        "dma-window",
                        Some(w.span.clone()),
                        format!("DMA window of {} is larger than region `{}` ({})", human_size(size), region.name, human_size(region.size)),
                    )
                    .with_help("a window maps the region from its start; make it at most the region's size"),
                );
            }
            if w.iova % region.page_size != 0 || size % 4096 != 0 {
                diags.push(
                    Diagnostic::error(
                        "dma-window",
                        Some(w.span.clone()),
                        format!("DMA window at {:#x} is not page-aligned", w.iova),
                    )
                    .with_help(format!(
                        "IO addresses and sizes must be multiples of the region's page size ({})",
                        human_size(region.page_size)
                    )),
                );
            }
            match w.iova.checked_add(size) {
                Some(end) if end <= bound => {}
                _ => diags.push(
                    Diagnostic::error(
                        "iommu-bounds",
                        Some(w.span.clone()),
                        format!(
                            "DMA window {:#x}..{:#x} is beyond the IOMMU's reach",
                            w.iova,
                            w.iova.saturating_add(size)
                        ),
                    )
                    .with_help(format!(
                        "the IOMMU translates {}-bit IO addresses: keep windows below {bound:#x}",
                        sys.kernel.iova_bits
                    )),
                ),
            }
            for (s, e, other) in &placed {
                if w.iova < *e && *s < w.iova.saturating_add(size) {
                    diags.push(
                        Diagnostic::error(
                            "overlap",
                            Some(w.span.clone()),
                            format!("DMA window at {:#x} overlaps another window of `{}` ({s:#x}..{e:#x})", w.iova, d.name),
                        )
                        .with_related(other.span.clone(), "the other window"),
                    );
                }
            }
            placed.push((w.iova, w.iova.saturating_add(size), w));
        }
    }
}

fn mapping_rules(sys: &System, diags: &mut Vec<Diagnostic>) {
    use ward_sysspec::{RESERVED_TOP_BASE, RESERVED_TOP_END};
    for c in &sys.components {
        let mut fixed: Vec<(u64, u64, &Map)> = Vec::new();
        for m in &c.maps {
            let region = &sys.regions[m.region];
            // Rights a ring channel allows on its pool.
            let rings: Vec<(usize, Rights)> = sys
                .channels
                .iter()
                .enumerate()
                .filter_map(|(i, ch)| match &ch.ends {
                    Ends::Ring {
                        pool: Some(p),
                        producer,
                        consumer,
                        producer_pool,
                        consumer_pool,
                        ..
                    } if *p == m.region => {
                        let ci = sys.component_index(&c.name).unwrap();
                        let mut r = Rights::NONE;
                        if *producer == ci {
                            r = r.union(*producer_pool);
                        }
                        if *consumer == ci {
                            r = r.union(*consumer_pool);
                        }
                        Some((i, r))
                    }
                    _ => None,
                })
                .collect();
            if !rings.is_empty() {
                let allowed = rings.iter().fold(Rights::NONE, |a, (_, r)| a.union(*r));
                let names: Vec<&str> = rings
                    .iter()
                    .map(|(i, _)| sys.channels[*i].name.as_str())
                    .collect();
                if allowed == Rights::NONE {
                    diags.push(
                        Diagnostic::error(
                            "channel-rights",
                            Some(m.span.clone()),
                            format!("`{}` maps `{}`, the buffer pool of {}, but is not an end of it", c.name, region.name, list_choices(&names)),
                        )
                        .with_help("only a ring's producer and consumer may map its pool; remove this mapping"),
                    );
                } else if !allowed.contains(m.rights) {
                    diags.push(
                        Diagnostic::error(
                            "channel-rights",
                            Some(m.span.clone()),
                            format!(
                                "`{}` maps `{}` with rights \"{}\", but its channel {} allows only \"{}\"",
                                c.name, region.name, m.rights, list_choices(&names), allowed
                            ),
                        )
                        .with_help(format!("map it with rights \"{allowed}\", or widen `producer_pool`/`consumer_pool` of the channel")),
                    );
                }
            }
            if let Some(at) = m.at {
                let end = at.checked_add(region.size);
                if at % region.page_size != 0 {
                    diags.push(
                        Diagnostic::error(
                            "misaligned",
                            Some(m.span.clone()),
                            format!("address {at:#x} is not aligned to the region's page size"),
                        )
                        .with_help(format!(
                            "`{}` uses {} pages; use a multiple of {:#x}",
                            region.name,
                            human_size(region.page_size),
                            region.page_size
                        )),
                    );
                }
                let Some(end) = end else { continue };
                if at < ward_abi::layout::USER_MIN || end > ward_abi::layout::USER_TOP {
                    diags.push(
                        Diagnostic::error(
                            "overlap",
                            Some(m.span.clone()),
                            format!("mapping {at:#x}..{end:#x} is outside user space"),
                        )
                        .with_help(format!(
                            "user mappings lie between {:#x} and {:#x}",
                            ward_abi::layout::USER_MIN,
                            ward_abi::layout::USER_TOP
                        )),
                    );
                } else if at < RESERVED_TOP_END && RESERVED_TOP_BASE < end {
                    diags.push(
                        Diagnostic::error("overlap", Some(m.span.clone()), format!("mapping {at:#x}..{end:#x} overlaps the stack and IPC buffer area"))
                            .with_help(format!("{RESERVED_TOP_BASE:#x}..{RESERVED_TOP_END:#x} is reserved; leave out `at` to let capctl place it")),
                    );
                }
                for (s, e, other) in &fixed {
                    if at < *e && *s < end {
                        diags.push(
                            Diagnostic::error(
                                "overlap",
                                Some(m.span.clone()),
                                format!("mapping of `{}` at {at:#x}..{end:#x} overlaps `{}` at {s:#x}..{e:#x}", region.name, sys.regions[other.region].name),
                            )
                            .with_related(other.span.clone(), "the other mapping"),
                        );
                    }
                }
                fixed.push((at, end, m));
            }
        }
    }
}

/// Components one `may_restart` bit mask can name (the compiled spec keeps
/// it in 32 bits).
const MAY_RESTART_LIMIT: usize = 32;

/// Whether components `a` and `b` share a ring or notification channel.
fn share_a_channel(sys: &System, a: usize, b: usize) -> bool {
    sys.channels.iter().any(|ch| match &ch.ends {
        Ends::Ring {
            producer, consumer, ..
        } => (*producer, *consumer) == (a, b) || (*producer, *consumer) == (b, a),
        Ends::Notification {
            waiter, signallers, ..
        } => {
            (*waiter == a && signallers.iter().any(|(s, _)| *s == b))
                || (*waiter == b && signallers.iter().any(|(s, _)| *s == a))
        }
        Ends::Endpoint {
            server, clients, ..
        } => {
            (*server == Some(a) && clients.iter().any(|(c, _, _)| *c == b))
                || (*server == Some(b) && clients.iter().any(|(c, _, _)| *c == a))
        }
    })
}

/// `may_restart`: a component may ask the supervisor to restart only a
/// peer it works with (whose breakage its checks can see), never itself,
/// and only one the supervisor would restart anyway.
fn restart_request_rules(sys: &System, diags: &mut Vec<Diagnostic>) {
    for (ci, c) in sys.components.iter().enumerate() {
        for (target, at) in &c.may_restart {
            let t = &sys.components[*target];
            if *target == ci {
                diags.push(
                    Diagnostic::error(
                        "may-restart",
                        Some(at.clone()),
                        format!("`{}` lists itself in `may_restart`", c.name),
                    )
                    .with_help("a component that finds itself broken panics; the supervisor restarts it by its own policy"),
                );
            } else if !share_a_channel(sys, ci, *target) {
                diags.push(
                    Diagnostic::error(
                        "may-restart",
                        Some(at.clone()),
                        format!("`{}` may ask for the restart of `{}`, but they share no channel", c.name, t.name),
                    )
                    .with_help("a component may ask only for the restart of a peer whose misbehaviour its own checks can see: one it shares a ring, notification or endpoint channel with"),
                );
            } else if t.restart != RestartPolicy::Restart {
                diags.push(
                    Diagnostic::error(
                        "may-restart",
                        Some(at.clone()),
                        format!("`{}` may ask for the restart of `{}`, whose policy is hold", c.name, t.name),
                    )
                    .with_help(format!("give `{}` restart = {{ policy = \"restart\", ... }} or leave it out of `may_restart`", t.name)),
                );
            } else if *target >= MAY_RESTART_LIMIT {
                diags.push(Diagnostic::error(
                    "may-restart",
                    Some(at.clone()),
                    format!("`{}` is component number {} of the system; `may_restart` can name only the first {MAY_RESTART_LIMIT}", t.name, target + 1),
                ));
            }
        }
    }
}

fn channel_rules(sys: &System, diags: &mut Vec<Diagnostic>) {
    // A fault is delivered as a call from the faulting thread to its
    // handler, so the handler obeys the same rule as an endpoint server.
    for c in &sys.components {
        if let FaultHandler::Component(h) = c.fault_handler {
            let handler = &sys.components[h];
            if handler.priority <= c.priority
                && h != sys.component_index(&c.name).unwrap_or(usize::MAX)
            {
                diags.push(
                    Diagnostic::error(
                        "ipc-priority",
                        c.fault_handler_span.clone(),
                        format!(
                            "`{}` (priority {}) handles the faults of `{}` (priority {}) but does not run above it",
                            handler.name, handler.priority, c.name, c.priority
                        ),
                    )
                    .with_help("a fault is delivered as a call to the handler; a handler at or below the faulting component's priority can be starved while it should be recovering it")
                    .with_help(format!("give `{}` a priority above {}", handler.name, c.priority)),
                );
            }
        }
    }
    for ch in &sys.channels {
        match &ch.ends {
            Ends::Endpoint {
                server,
                server_span,
                clients,
            } => {
                let (server_name, server_prio) = match server {
                    Some(s) => (
                        sys.components[*s].name.as_str(),
                        sys.components[*s].priority,
                    ),
                    None => (SUPERVISOR, SUPERVISOR_PRIORITY),
                };
                for (client, _, sp) in clients {
                    let c = &sys.components[*client];
                    if c.priority >= server_prio && Some(*client) != *server {
                        diags.push(
                            Diagnostic::error(
                                "ipc-priority",
                                Some(sp.clone()),
                                format!(
                                    "`{}` (priority {}) calls `{}` (priority {}) over `{}`, which does not run above it",
                                    c.name, c.priority, server_name, server_prio, ch.name
                                ),
                            )
                            .with_related(server_span.clone(), "the server")
                            .with_help("a call blocks the caller until the server replies; a server at or below its caller's priority can be preempted by anything in between and stall the caller (priority inversion)")
                            .with_help(format!("give `{server_name}` a priority above {}, or lower `{}`", c.priority, c.name)),
                        );
                    }
                }
            }
            Ends::Ring {
                pool: Some(pool),
                pool_span,
                entries,
                buffer_size,
                ..
            } => {
                let need = *entries as u64 * *buffer_size as u64;
                let region = &sys.regions[*pool];
                let slots = region.size / (*buffer_size).max(1) as u64;
                if region.size > u32::MAX as u64 + 1 {
                    diags.push(
                        Diagnostic::error(
                            "invalid-value",
                            pool_span.clone(),
                            format!("pool `{}` is {}, larger than 4 GiB", region.name, human_size(region.size)),
                        )
                        .with_help("ring descriptors carry 32-bit offsets into their pool; use a pool of at most 4 GiB"),
                    );
                } else if slots > ward_sysspec::MAX_RING_POOL_SLOTS as u64 {
                    diags.push(
                        Diagnostic::error(
                            "pool-too-large",
                            pool_span.clone(),
                            format!(
                                "pool `{}` holds {slots} buffers of {buffer_size} bytes; a ring end tracks at most {}",
                                region.name,
                                ward_sysspec::MAX_RING_POOL_SLOTS
                            ),
                        )
                        .with_related(region.span.clone(), "the region is defined here")
                        .with_help("shrink the region to `entries × buffer_size`, or use larger buffers"),
                    );
                }
                if region.size < need {
                    diags.push(
                        Diagnostic::error(
                            "pool-too-small",
                            pool_span.clone(),
                            format!(
                                "pool `{}` ({}) cannot hold {} buffers of {} bytes ({})",
                                region.name,
                                human_size(region.size),
                                entries,
                                buffer_size,
                                human_size(need)
                            ),
                        )
                        .with_related(region.span.clone(), "the region is defined here")
                        .with_help("grow the region, or lower `entries` or `buffer_size`"),
                    );
                }
            }
            _ => {}
        }
    }
}

/// The number of buffers (slots) a ring channel's pool has: the pool's size
/// over the buffer size, or one per entry for a ring without a pool (its
/// descriptors carry values, not buffers).
pub fn ring_pool_slots(sys: &System, pool: Option<usize>, entries: u32, buffer_size: u32) -> u32 {
    match pool {
        Some(p) => (sys.regions[p].size / u64::from(buffer_size.max(1))) as u32,
        None => entries,
    }
}

/// Total memory the system will take, as the root task will allocate it.
pub fn memory_total(sys: &System) -> u64 {
    let regions: u64 = sys.regions.iter().map(|r| r.size).sum();
    let components: u64 = sys
        .components
        .iter()
        .map(|c| c.stack + COMPONENT_OVERHEAD)
        .sum();
    let domains = sys
        .devices
        .iter()
        .filter(|d| d.iommu && !d.dma.is_empty())
        .count() as u64
        * DOMAIN_OVERHEAD;
    SYSTEM_RESERVE + regions + components + domains
}

fn memory_budget(sys: &System, diags: &mut Vec<Diagnostic>) {
    let total = memory_total(sys);
    if total > sys.kernel.ram {
        let mut biggest: Vec<&Region> = sys.regions.iter().collect();
        biggest.sort_by_key(|r| std::cmp::Reverse(r.size));
        let top: Vec<String> = biggest
            .iter()
            .take(3)
            .map(|r| format!("`{}` {}", r.name, human_size(r.size)))
            .collect();
        let mut d = Diagnostic::error(
            "memory",
            Some(sys.kernel.ram_span.clone()),
            format!(
                "the system needs {} but the machine has {}",
                human_size_round(total),
                human_size(sys.kernel.ram)
            ),
        )
        .with_help(format!(
            "regions, stacks and kernel objects add up to {}, plus {} for the kernel and root task",
            human_size_round(total - SYSTEM_RESERVE),
            human_size(SYSTEM_RESERVE)
        ));
        if !top.is_empty() {
            d = d.with_help(format!(
                "largest regions: {}; shrink them or raise `ram`",
                top.join(", ")
            ));
        } else {
            d = d.with_help("raise `ram`");
        }
        diags.push(d);
    }
}

/// A size in MiB, rounded up, for budgets.
fn human_size_round(bytes: u64) -> String {
    human_size(bytes.div_ceil(1 << 20) << 20)
}

fn cycles(sys: &System, diags: &mut Vec<Diagnostic>) {
    // Fault handlers: a chain that comes back to itself means a fault in it
    // would be delivered to a component that is itself stopped by a fault.
    let n = sys.components.len();
    let mut reported = vec![false; n];
    for start in 0..n {
        let mut path = vec![start];
        let mut at = start;
        while let FaultHandler::Component(next) = sys.components[at].fault_handler {
            if let Some(pos) = path.iter().position(|&p| p == next) {
                let cycle = &path[pos..];
                if !cycle.iter().any(|&c| reported[c]) {
                    for &c in cycle {
                        reported[c] = true;
                    }
                    let names: Vec<&str> = cycle
                        .iter()
                        .chain(std::iter::once(&next))
                        .map(|&c| sys.components[c].name.as_str())
                        .collect();
                    let first = &sys.components[cycle[0]];
                    diags.push(
                        Diagnostic::error(
                            "fault-cycle",
                            first.fault_handler_span.clone(),
                            format!("fault handlers form a cycle: {}", names.join(" -> ")),
                        )
                        .with_help("a fault handler that faults must be handled by someone outside the cycle; end the chain at `supervisor`"),
                    );
                }
                break;
            }
            path.push(next);
            at = next;
        }
    }
    // Calls: a cycle of endpoint calls can deadlock, each waiting for the next.
    let mut calls: Vec<Vec<(usize, Span)>> = vec![Vec::new(); n];
    for ch in &sys.channels {
        if let Ends::Endpoint {
            server: Some(s),
            clients,
            ..
        } = &ch.ends
        {
            for (c, _, sp) in clients {
                calls[*c].push((*s, sp.clone()));
            }
        }
    }
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        v: usize,
        calls: &[Vec<(usize, Span)>],
        state: &mut [u8],
        stack: &mut Vec<usize>,
        found: &mut Vec<(Vec<usize>, Span)>,
    ) {
        state[v] = 1;
        stack.push(v);
        for (w, sp) in &calls[v] {
            if state[*w] == 1 {
                let pos = stack.iter().position(|x| x == w).unwrap();
                found.push((stack[pos..].to_vec(), sp.clone()));
            } else if state[*w] == 0 {
                visit(*w, calls, state, stack, found);
            }
        }
        stack.pop();
        state[v] = 2;
    }
    let mut found = Vec::new();
    for v in 0..n {
        if state[v] == 0 {
            visit(v, &calls, &mut state, &mut stack, &mut found);
        }
    }
    for (cycle, sp) in found {
        let mut names: Vec<&str> = cycle
            .iter()
            .map(|&c| sys.components[c].name.as_str())
            .collect();
        names.push(names[0]);
        diags.push(
            Diagnostic::error("call-cycle", Some(sp), format!("endpoint calls form a cycle: {}", names.join(" -> ")))
                .with_help("each caller blocks until its server replies, so a cycle of calls can deadlock; break it with a notification or a ring"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_ids_and_addresses() {
        assert_eq!(parse_pci_id("8086:100e"), Some((0x8086, 0x100e)));
        assert_eq!(parse_pci_id("8086:100"), None);
        assert_eq!(parse_bdf("00:03.0"), Some((0, 3, 0)));
        assert_eq!(parse_bdf("00:20.0"), None);
        assert_eq!(parse_bdf("00:03.8"), None);
    }
}

/// Parses a dotted-quad IPv4 address ("10.0.2.15"); no leading zeros, no
/// missing or extra parts.
fn parse_ipv4(text: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = text.split('.');
    for byte in out.iter_mut() {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.starts_with('0')) {
            return None;
        }
        *byte = part.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}
