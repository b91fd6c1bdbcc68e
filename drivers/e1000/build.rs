//! Writes the driver's caps table (`$OUT_DIR/caps.rs`) from the system
//! description the build uses (`$WARD_SYSTEM`, `$SYSTEM`, else the
//! workspace's `system.toml`), and fails the build with a located error if
//! the `e1000` component's `settings` name one the driver does not know or
//! give a value out of its range.
//!
//! It also writes `$OUT_DIR/e1000.rs`, the caps table of `e1000-unmitigated`, from the teaching
//! experiment's system with the driver's interrupt mitigation off (a driver's settings are part
//! of its capability layout, so a system that changes them needs a driver built against it).

include!("src/setting_names.rs");

fn main() {
    println!("cargo:rerun-if-changed=src/setting_names.rs");
    capctl::gencaps::build_script_with_settings("e1000", Some(SETTING_RANGES));
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let unmitigated = "tests/experiments/systems/e1000-unmitigated.toml";
    let path = std::path::Path::new(&manifest)
        .join("../..")
        .join(unmitigated);
    if let Err(e) = capctl::gencaps::check_settings(&path, "e1000", SETTING_RANGES) {
        panic!("capctl: the settings of `e1000` in {unmitigated}:\n{e}");
    }
    capctl::gencaps::build_script_from("e1000", unmitigated);
}
