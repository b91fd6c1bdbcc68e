//! Writes the driver's caps table (`$OUT_DIR/caps.rs`) from the system
//! description the build uses (`$WARD_SYSTEM`, `$SYSTEM`, else the
//! workspace's `system.toml`), and fails the build with a located error if
//! the `e1000` component's `settings` name one the driver does not know or
//! give a value out of its range.
//!
//! It also writes the caps tables of the teaching experiments' drivers, each from the system
//! it runs in (a driver's settings are part of its capability layout, so a system that changes
//! them needs a driver built against it): `$OUT_DIR/unmitigated.rs` for `e1000-unmitigated`
//! (interrupt mitigation off) and `$OUT_DIR/top_half.rs` for `e1000-top-half` (no poll budget).

include!("src/setting_names.rs");

/// The experiments' systems with a driver of their own: (system file relative to the
/// workspace root, caps table in `$OUT_DIR`).
const EXPERIMENT_SYSTEMS: &[(&str, &str)] = &[
    (
        "tests/experiments/systems/e1000-unmitigated.toml",
        "unmitigated.rs",
    ),
    (
        "tests/experiments/systems/e1000-top-half.toml",
        "top_half.rs",
    ),
];

fn main() {
    println!("cargo:rerun-if-changed=src/setting_names.rs");
    capctl::gencaps::build_script_with_settings("e1000", Some(SETTING_RANGES));
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for (system, table) in EXPERIMENT_SYSTEMS {
        let path = std::path::Path::new(&manifest).join("../..").join(system);
        println!("cargo:rerun-if-changed={}", path.display());
        if let Err(e) = capctl::gencaps::check_settings(&path, "e1000", SETTING_RANGES) {
            panic!("capctl: the settings of `e1000` in {system}:\n{e}");
        }
        let text = capctl::gencaps::generate_from_file(&path, "e1000")
            .unwrap_or_else(|e| panic!("caps table of e1000 from {system}: {e}"));
        std::fs::write(std::path::Path::new(&out).join(table), text).expect("write the caps table");
    }
}
