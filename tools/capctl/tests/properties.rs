//! Property tests: capctl never panics, valid systems stay valid through
//! every command, the compiled spec round-trips and every corruption of it
//! is rejected, and edits preserve what they do not touch.

use capctl::edit::{apply, Edit};
use capctl::{check, Source};
use proptest::prelude::*;
use ward_sysspec::{CapKind, Spec};

/// A random but valid system, written as TOML with comments.
#[derive(Debug, Clone)]
struct Sys {
    /// (kind, priority)
    components: Vec<(&'static str, u8)>,
    /// sizes in pages
    regions: Vec<u64>,
    /// (producer, consumer, entries exponent, pool?)
    rings: Vec<(usize, usize, u32)>,
    /// (server, clients)
    endpoints: Vec<(usize, Vec<usize>)>,
    /// (waiter, signallers)
    notifications: Vec<(usize, Vec<usize>)>,
    /// region index mapped read-only into component
    maps: Vec<(usize, usize)>,
    nic: Option<usize>,
}

fn sys_strategy() -> impl Strategy<Value = Sys> {
    (2usize..6).prop_flat_map(|n| {
        let kinds = prop::collection::vec(
            (
                prop::sample::select(vec!["driver", "server", "app"]),
                1u8..=254,
            ),
            n,
        );
        let regions = prop::collection::vec(1u64..64, 0..5);
        let rings = prop::collection::vec((0..n, 0..n, 1u32..10), 0..4);
        let endpoints = prop::collection::vec((0..n, prop::collection::vec(0..n, 0..3)), 0..3);
        let notifications = prop::collection::vec((0..n, prop::collection::vec(0..n, 0..3)), 0..3);
        let maps = prop::collection::vec((0usize..5, 0..n), 0..6);
        let nic = prop::option::of(0..n);
        (kinds, regions, rings, endpoints, notifications, maps, nic).prop_map(
            |(components, regions, rings, endpoints, notifications, maps, nic)| Sys {
                components,
                regions,
                rings,
                endpoints,
                notifications,
                maps,
                nic,
            },
        )
    })
}

impl Sys {
    /// TOML for the system, skipping whatever would be invalid (so that the
    /// result is valid by construction).
    fn toml(&self) -> String {
        let mut t = String::from("# generated\n[kernel]\nram = \"1GiB\"   # plenty\n");
        for (i, size) in self.regions.iter().enumerate() {
            t += &format!(
                "\n# region {i}\n[region.r{i}]\nsize = \"{}KiB\"\n",
                size * 4
            );
        }
        let mut maps: Vec<Vec<String>> = vec![Vec::new(); self.components.len()];
        let mut mapped = std::collections::HashSet::new();
        for (r, c) in &self.maps {
            if *r < self.regions.len() && mapped.insert((*r, *c)) {
                maps[*c].push(format!("{{ region = \"r{r}\", rights = \"r\" }}"));
            }
        }
        if let Some(d) = self.nic {
            t += "\n[region.dma]\nsize = \"64KiB\"\n\n[device.nic]\npci = \"8086:100e\"\nbars = [{ bar = 0, size = \"128KiB\" }]\nirq = \"msi\"\ndma = [{ region = \"dma\", iova = 0x100000, rights = \"rw\" }]\n";
            let _ = d;
        }
        for (i, (kind, prio)) in self.components.iter().enumerate() {
            t += &format!("\n# component {i}\n[component.c{i}]\nkind = \"{kind}\"\npriority = {prio}   # its priority\n");
            if self.nic == Some(i) {
                t += "devices = [\"nic\"]\nirqs = [\"nic\"]\n";
            }
            if !maps[i].is_empty() {
                t += &format!("maps = [\n    {},\n]\n", maps[i].join(",\n    "));
            }
        }
        for (k, (p, c, exp)) in self.rings.iter().enumerate() {
            if p != c {
                t += &format!("\n[channel.ring{k}]\nkind = \"ring\"\nproducer = \"c{p}\"\nconsumer = \"c{c}\"\nentries = {}\n", 1u32 << exp);
            }
        }
        for (k, (server, clients)) in self.endpoints.iter().enumerate() {
            let sp = self.components[*server].1;
            let mut seen = std::collections::HashSet::new();
            let ok: Vec<String> = clients
                .iter()
                .filter(|c| self.components[**c].1 < sp && seen.insert(**c))
                .enumerate()
                .map(|(b, c)| format!("c{c} = {}", b + 1))
                .collect();
            // Calls only go up in priority, so there are no call cycles.
            t += &format!("\n[channel.ep{k}]\nkind = \"endpoint\"\nserver = \"c{server}\"\nclients = {{ {} }}\n", ok.join(", "));
        }
        for (k, (waiter, signallers)) in self.notifications.iter().enumerate() {
            let mut seen = std::collections::HashSet::new();
            let ok: Vec<String> = signallers
                .iter()
                .filter(|s| *s != waiter && seen.insert(**s))
                .map(|s| format!("\"c{s}\""))
                .collect();
            t += &format!("\n[channel.nt{k}]\nkind = \"notification\"\nwaiter = \"c{waiter}\"\nsignallers = [{}]\n", ok.join(", "));
        }
        t
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_text(text in ".{0,400}") {
        capctl::fuzz::run_one(text.as_bytes());
    }

    #[test]
    fn never_panics_on_toml_like_text(
        lines in prop::collection::vec(
            prop::sample::select(vec![
                "[kernel]", "ram = \"64MiB\"", "[component.a]", "[component.b]", "kind = \"app\"", "kind = \"server\"",
                "priority = 100", "priority = 200", "priority = -1", "[region.r]", "size = \"4KiB\"", "size = 0",
                "maps = [{ region = \"r\", rights = \"rw\" }]", "maps = [{ region = \"r\", rights = \"rw\", at = 0x10000 }]",
                "[device.d]", "pci = \"8086:100e\"", "ioports = { base = 0x3f8, count = 8 }", "irq = \"msi\"",
                "irq = \"ioapic:4\"", "devices = [\"d\"]", "irqs = [\"d\"]", "dma = [{ region = \"r\", iova = 0, rights = \"w\" }]",
                "[channel.c]", "kind = \"ring\"", "kind = \"endpoint\"", "producer = \"a\"", "consumer = \"b\"",
                "entries = 16", "entries = 3", "pool = \"r\"", "server = \"a\"", "clients = { b = 1 }",
                "fault_handler = \"b\"", "heartbeat = \"1ms\"", "iommu = false", "unsafe_dma = true",
                "bars = [0, { bar = 1, size = \"4KiB\" }]", "[lints]", "allow = [\"unused\"]", "= broken",
            ]),
            0..40,
        )
    ) {
        capctl::fuzz::run_one(lines.join("\n").as_bytes());
    }

    #[test]
    fn generated_systems_are_valid_and_round_trip(sys in sys_strategy()) {
        let text = sys.toml();
        let src = Source::new("gen.toml", text.clone());
        let checked = check(&src);
        prop_assert!(!checked.has_errors(), "{}\n{}", text, capctl::diag::render_all(&checked.diagnostics, &src));
        // Every command, the spec round trip and the self-audit.
        capctl::fuzz::run_one(text.as_bytes());

        let (s, layout) = checked.valid().unwrap();
        for (ci, l) in layout.components.iter().enumerate() {
            // Slots are unique and ascending.
            let slots: Vec<u32> = l.caps.iter().map(|c| c.slot).collect();
            let mut sorted = slots.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(&slots, &sorted);
            // Every signal lands on a bit its receiver knows about.
            for cap in l.caps.iter().filter(|c| c.kind == CapKind::Notification && c.target != ward_sysspec::NONE) {
                let receiver = &layout.components[cap.arg as usize];
                prop_assert!(receiver.bits.iter().any(|b| 1u64 << b.bit == cap.badge), "component {} signals badge {:#x}", ci, cap.badge);
            }
        }
        let bytes = capctl::compile::compile(s, layout).encode();
        prop_assert!(Spec::decode(&bytes).is_ok());
    }

    #[test]
    fn every_corruption_of_a_spec_is_rejected(sys in sys_strategy(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let src = Source::new("gen.toml", sys.toml());
        let checked = check(&src);
        let (s, layout) = checked.valid().unwrap();
        let mut bytes = capctl::compile::compile(s, layout).encode();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        prop_assert!(Spec::decode(&bytes).is_err());
        capctl::fuzz::run_spec(&bytes);
    }

    #[test]
    fn spec_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        capctl::fuzz::run_spec(&bytes);
        let mut with_magic = b"WARDSPEC".to_vec();
        with_magic.extend_from_slice(&bytes);
        capctl::fuzz::run_spec(&with_magic);
    }

    #[test]
    fn priority_edits_touch_one_line(sys in sys_strategy(), which in any::<prop::sample::Index>(), prio in 1i64..=254) {
        let text = sys.toml();
        let c = which.index(sys.components.len());
        let out = apply(&text, &Edit::SetPriority { component: format!("c{c}"), priority: prio }).unwrap();
        let before: Vec<&str> = text.lines().collect();
        let after: Vec<&str> = out.lines().collect();
        prop_assert_eq!(before.len(), after.len());
        let differing: Vec<usize> = (0..before.len()).filter(|&i| before[i] != after[i]).collect();
        prop_assert!(differing.len() <= 1);
        for i in differing {
            prop_assert_eq!(after[i], format!("priority = {prio}   # its priority"));
        }
    }
}
