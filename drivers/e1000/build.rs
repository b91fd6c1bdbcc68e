//! Writes the driver's caps table (`$OUT_DIR/caps.rs`) from the system
//! description the build uses (`$WARD_SYSTEM`, `$SYSTEM`, else the
//! workspace's `system.toml`), and fails the build with a located error if
//! the `e1000` component's `settings` name one the driver does not know or
//! give a value out of its range.

include!("src/setting_names.rs");

fn main() {
    println!("cargo:rerun-if-changed=src/setting_names.rs");
    capctl::gencaps::build_script_with_settings("e1000", Some(SETTING_RANGES));
}
