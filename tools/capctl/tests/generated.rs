//! The generated caps tables: they compile against ward-sysspec's typed
//! handles (the fixtures are `include!`d below exactly as a component's
//! build would include them), they agree with the compiled spec, and
//! `capctl gen-caps` still produces them byte for byte.

use std::path::Path;

use capctl::{check, compile, gencaps, Source};
use ward_sysspec::caps::{Mapping, Slot};
use ward_sysspec::{CapKind, Spec};

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
            "regenerate with `capctl gen-caps` for {component}"
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

    let bar: Mapping<ward_sysspec::caps::DeviceFrames> = e1000_caps::NIC_BAR0;
    let rec = by_name("NIC_BAR0");
    assert_eq!(bar.slot.index(), rec.slot.get());
    assert_eq!(bar.vaddr, rec.vaddr.get());
    assert_eq!(rec.kind, CapKind::DeviceFrames as u8);

    let signal: Slot<ward_sysspec::caps::Notification> = e1000_caps::NET_RX_SIGNAL;
    assert_eq!(signal.index(), by_name("NET_RX_SIGNAL").slot.get());
    assert_eq!(
        e1000_caps::NET_RX_SIGNAL_BADGE,
        by_name("NET_RX_SIGNAL").badge.get()
    );
    // The badge e1000 signals with is the bit `net` waits for.
    assert_eq!(e1000_caps::NET_RX_SIGNAL_BADGE, net_caps::NET_RX_BIT);
    assert_eq!(e1000_caps::NIC_IRQ_BIT, by_name("NIC_IRQ").badge.get());

    assert_eq!(serial_caps::COM1_PORTS.base, 0x3f8);
    assert_eq!(serial_caps::COM1_PORTS.count, 8);
    assert_eq!(serial_caps::CONSOLE.index(), ward_sysspec::SLOT_CONSOLE);
    assert_eq!(serial_caps::COMPONENT, "serial");
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
        text.contains("pub use ward_sysspec::caps::{CNODE, CONSOLE, NOTIFICATION, TCB, VSPACE};"),
        "{text}"
    );
    std::env::remove_var("WARD_SYSTEM");
}

/// The `ipv4` setting reaches the component's table as a typed constant, and
/// enters the layout hash (a program built for another address is refused).
#[test]
fn ipv4_setting_is_generated_and_hashed() {
    let table = |setting: &str| {
        let text = format!(
            "[kernel]\nram = \"64MiB\"\n[component.net]\nkind = \"server\"\npriority = 150\nipv4 = {setting}\n"
        );
        let src = Source::new("ipv4.toml", text);
        let checked = check(&src);
        let (sys, layout) = checked.valid().expect("valid");
        let ci = gencaps::find_component(sys, "net").unwrap();
        (
            gencaps::generate(sys, layout, "ipv4.toml", ci),
            layout.components[ci].layout_hash,
        )
    };
    let (dhcp, dhcp_hash) = table("\"dhcp\"");
    assert!(
        dhcp.contains("pub const IPV4: Ipv4Config = Ipv4Config::Dhcp;"),
        "{dhcp}"
    );
    let (fixed, fixed_hash) = table("{ address = \"10.0.2.15/24\", gateway = \"10.0.2.2\" }");
    assert!(
        fixed.contains("pub const IPV4: Ipv4Config = Ipv4Config::Static { address: [10, 0, 2, 15], prefix_len: 24, gateway: Some([10, 0, 2, 2]) };"),
        "{fixed}"
    );
    let (other, other_hash) = table("\"10.0.2.16/24\"");
    assert!(other.contains("gateway: None"));
    assert_ne!(dhcp_hash, fixed_hash);
    assert_ne!(fixed_hash, other_hash);
}
