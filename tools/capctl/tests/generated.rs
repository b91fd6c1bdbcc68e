//! The generated caps tables: they compile against `ward_userlib::spec`
//! (the fixtures are `include!`d below exactly as a component's build would
//! include them), they agree with the compiled spec, every value the system
//! description states appears in them, the layout hash changes when any of
//! those values changes, and `capctl gen-caps` still produces them byte for
//! byte.

use std::path::Path;

use capctl::{check, compile, gencaps, Source};
use ward_sysspec::{CapKind, Spec};
use ward_userlib::spec::{IrqKind, MapRights, RingRole};
use ward_userlib::time::Duration;

#[allow(dead_code)]
mod e1000_caps {
    include!("fixtures/sample_caps_e1000.rs");
}
#[allow(dead_code)]
mod serial_caps {
    include!("fixtures/sample_caps_serial.rs");
}
#[allow(dead_code)]
mod net_caps {
    include!("fixtures/sample_caps_net.rs");
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

#[test]
fn generated_tables_are_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample.toml");
    for component in ["e1000", "serial", "net"] {
        let text = gencaps::generate_from_file(&path, component).unwrap();
        assert_eq!(
            text,
            fixture(&format!("sample_caps_{component}.rs")),
            "regenerate with `capctl gen-caps tests/fixtures/sample.toml {component}`"
        );
    }
}

#[test]
fn generated_constants_match_the_compiled_spec() {
    let src = Source::new("sample.toml", fixture("sample.toml"));
    let checked = check(&src);
    let (sys, layout) = checked.valid().expect("fixture is valid");
    let bytes = compile::compile(sys, layout).encode();
    let spec = Spec::decode(&bytes).unwrap();
    let e1000 = spec.component_index("e1000").unwrap();
    assert_eq!(
        spec.components[e1000].layout_hash.get(),
        e1000_caps::LAYOUT_HASH
    );
    let caps = spec.caps_of(e1000);
    let by_name = |name: &str| caps.iter().find(|c| spec.str(c.name) == name).unwrap();

    let bar = e1000_caps::NIC_BAR0;
    let rec = by_name("NIC_BAR0");
    assert_eq!(bar.frames().cptr(), u64::from(rec.slot.get()));
    assert_eq!(bar.vaddr(), rec.vaddr.get());
    assert_eq!(bar.size(), 128 << 10);
    assert!(bar.writable());
    assert_eq!(rec.kind, CapKind::DeviceFrames as u8);

    // Ring channels: memory, geometry, role, doorbells both ways.
    let rx = e1000_caps::NET_RX;
    assert_eq!(
        rx.memory.frames().cptr(),
        u64::from(by_name("NET_RX_RING").slot.get())
    );
    assert_eq!(
        rx.doorbell.cptr(),
        u64::from(by_name("NET_RX_SIGNAL").slot.get())
    );
    assert_eq!(rx.peer_bit, by_name("NET_RX_SIGNAL").badge.get());
    assert_eq!(
        rx.peer_bit,
        net_caps::NET_RX.bit,
        "e1000 rings the bit net waits for"
    );
    assert_eq!(net_caps::NET_RX.peer_bit, rx.bit, "and the other way round");
    assert_eq!(
        (rx.entries, rx.buffer_size, rx.pool_slots),
        (256, 2048, 256)
    );
    assert_eq!(rx.buffer_align, ward_sysspec::RING_BUFFER_ALIGN);
    assert_eq!(rx.role, RingRole::Borrower, "`owner = \"net\"`");
    assert_eq!(net_caps::NET_RX.role, RingRole::Owner);
    assert_eq!(rx.pool, None, "the driver never maps the packet pools");
    let net_pool = net_caps::NET_RX.pool.expect("net maps the rx pool");
    assert_eq!(net_pool.rights(), MapRights::Read);
    assert_eq!(net_pool, net_caps::NET_RX_POOL);
    assert_eq!(
        e1000_caps::NET_TX.role,
        RingRole::Borrower,
        "default: the producer (net) owns"
    );
    assert_eq!(rx.peer, "net");
    assert_eq!(rx.name, "net-rx");

    // DMA windows of the device the component drives.
    let window = e1000_caps::NIC_DMA_NET_RX_POOL;
    assert_eq!((window.iova, window.size), (0x1000_0000, 512 << 10));
    assert!(window.device_writes && !window.device_reads);
    assert_eq!(e1000_caps::NIC_DMA_NIC_DESCRIPTORS.size, 8 << 10);
    assert!(e1000_caps::NIC_DMA_NET_TX_POOL.device_reads);

    // Interrupts: handler, bit, kind.
    assert_eq!(e1000_caps::NIC_IRQ.bit, by_name("NIC_IRQ").badge.get());
    assert_eq!(e1000_caps::NIC_IRQ.bit, e1000_caps::NIC_IRQ_BIT);
    assert_eq!(e1000_caps::NIC_IRQ.kind, IrqKind::Intx);
    assert_eq!(serial_caps::COM1_IRQ.kind, IrqKind::Ioapic { pin: 4 });

    // Regions, ports, heartbeat, fixed slots.
    let descriptors = e1000_caps::NIC_DESCRIPTORS;
    assert_eq!(descriptors.size(), 8 << 10);
    assert_eq!(descriptors.rights(), MapRights::ReadWrite);
    assert_eq!(serial_caps::COM1_PORTS.base, 0x3f8);
    assert_eq!(serial_caps::COM1_PORTS.count, 8);
    assert_eq!(
        e1000_caps::HEARTBEAT_PERIOD,
        Some(Duration::from_millis(500))
    );
    assert_eq!(serial_caps::HEARTBEAT_PERIOD, None);
    assert_eq!(
        serial_caps::CONSOLE.cptr(),
        u64::from(ward_sysspec::SLOT_CONSOLE)
    );
    assert_eq!(serial_caps::COMPONENT, "serial");
}

/// The layout hash of `component` in `text` (a system description).
fn hash_of(text: &str, component: &str) -> u64 {
    let src = Source::new("sample.toml", text.to_string());
    let checked = check(&src);
    let (sys, layout) = checked
        .valid()
        .unwrap_or_else(|| panic!("variant must stay valid: {:?}", checked.diagnostics));
    layout.components[sys.component_index(component).unwrap()].layout_hash
}

#[test]
fn the_hash_changes_with_every_value_the_table_states() {
    let base = fixture("sample.toml");
    let original = hash_of(&base, "e1000");
    // (what changes, from, to): each must still be a valid system.
    let variants = [
        (
            "ring entries",
            "entries = 256\nbuffer_size = 2048\npool = \"net-rx-pool\"",
            "entries = 128\nbuffer_size = 2048\npool = \"net-rx-pool\"",
        ),
        (
            "ring buffer size",
            "buffer_size = 2048\npool = \"net-rx-pool\"",
            "buffer_size = 1024\npool = \"net-rx-pool\"",
        ),
        ("ring owner", "owner = \"net\"", "owner = \"e1000\""),
        (
            "DMA window address",
            "iova = 0x1000_0000",
            "iova = 0x1100_0000",
        ),
        (
            "DMA window rights",
            "iova = 0x1000_0000, rights = \"w\"",
            "iova = 0x1000_0000, rights = \"rw\"",
        ),
        (
            "pool size",
            "[region.net-rx-pool]\nsize = \"512KiB\"",
            "[region.net-rx-pool]\nsize = \"1MiB\"",
        ),
        (
            "BAR size",
            "bars = [{ bar = 0, size = \"128KiB\" }]",
            "bars = [{ bar = 0, size = \"64KiB\" }]",
        ),
        (
            "heartbeat period",
            "heartbeat = \"500ms\"",
            "heartbeat = \"250ms\"",
        ),
        ("interrupt kind", "irq = \"intx\"", "irq = \"msi\""),
        (
            "region size",
            "[region.nic-descriptors]\nsize = \"8KiB\"",
            "[region.nic-descriptors]\nsize = \"16KiB\"",
        ),
    ];
    for (what, from, to) in variants {
        assert!(base.contains(from), "the fixture has {from:?}");
        let changed = base.replacen(from, to, 1);
        assert_ne!(
            hash_of(&changed, "e1000"),
            original,
            "changing the {what} must change e1000's layout hash"
        );
    }
    // A value e1000's table does not state leaves its hash alone.
    let unrelated = base.replacen("priority = 100", "priority = 101", 1);
    assert_eq!(hash_of(&unrelated, "e1000"), original);
}

#[test]
fn unknown_component_is_an_error_with_a_suggestion() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample.toml");
    let err = gencaps::generate_from_file(&path, "e100").unwrap_err();
    assert!(
        err.contains("no component or program named `e100`; did you mean `e1000`?"),
        "{err}"
    );
}

#[test]
fn build_script_writes_the_table_for_cargo() {
    // The one test in this binary that touches the environment.
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-script-out");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    std::env::set_var("OUT_DIR", &out);
    std::env::set_var("CARGO_MANIFEST_DIR", env!("CARGO_MANIFEST_DIR"));
    std::env::set_var(
        "WARD_SYSTEM",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample.toml"),
    );
    gencaps::build_script("e1000");
    assert_eq!(
        std::fs::read_to_string(out.join("caps.rs")).unwrap(),
        fixture("sample_caps_e1000.rs")
    );
    // A program the system does not contain gets the fixed slots only.
    gencaps::build_script("not-in-this-system");
    let text = std::fs::read_to_string(out.join("caps.rs")).unwrap();
    assert!(text.contains("pub const LAYOUT_HASH: u64 = 0;"), "{text}");
    assert!(
        text.contains(
            "pub use ward_userlib::spec::fixed::{CNODE, CONSOLE, NOTIFICATION, TCB, VSPACE};"
        ),
        "{text}"
    );
    std::env::remove_var("WARD_SYSTEM");
}

#[test]
fn settings_reach_the_table_and_the_program_checks_their_names() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("settings");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("settings.toml");
    std::fs::write(
        &path,
        "[kernel]\nram = \"64MiB\"\n\n[component.drv]\nkind = \"driver\"\npriority = 200\nsettings = { poll_budget = 32, interrupt_interval_us = 100 }\n",
    )
    .unwrap();
    let table = gencaps::generate_from_file(&path, "drv").unwrap();
    assert!(
        table.contains(
            r#"pub const SETTINGS: &[(&str, u64)] = &[("poll_budget", 32), ("interrupt_interval_us", 100)];"#
        ),
        "{table}"
    );
    let known = [
        ("poll_budget", 1, 4096),
        ("interrupt_interval_us", 0, 16_776),
    ];
    assert_eq!(gencaps::check_settings(&path, "drv", &known), Ok(()));
    // A misspelt name points at its line, with a suggestion and the valid names.
    let misspelt = [
        ("poll_budgets", 1, 4096),
        ("interrupt_interval_us", 0, 16_776),
    ];
    let e = gencaps::check_settings(&path, "drv", &misspelt).unwrap_err();
    assert!(e.contains("settings.toml:7:14"), "{e}");
    assert!(
        e.contains("has no setting `poll_budget`") && e.contains("did you mean `poll_budgets`?"),
        "{e}"
    );
    // A value out of the program's range is refused with the range.
    let narrow = [
        ("poll_budget", 64, 256),
        ("interrupt_interval_us", 0, 16_776),
    ];
    let e = gencaps::check_settings(&path, "drv", &narrow).unwrap_err();
    assert!(
        e.contains("`poll_budget` = 32 is out of range") && e.contains("from 64 to 256"),
        "{e}"
    );
}
