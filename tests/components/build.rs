//! Writes the generated capability table of every test component, each from
//! the scenario system it belongs to (not from `$SYSTEM`: the scenarios are
//! built once and booted with different systems).

use std::path::Path;

/// (component, system file relative to the workspace root).
const COMPONENTS: &[(&str, &str)] = &[
    ("ping", "tests/systems/two-components.toml"),
    ("pong", "tests/systems/two-components.toml"),
    ("crasher", "tests/systems/restart.toml"),
    ("steady", "tests/systems/restart.toml"),
    ("sleeper", "tests/systems/hang.toml"),
    ("prober", "tests/systems/least-privilege.toml"),
    ("victim", "tests/systems/least-privilege.toml"),
    ("intruder", "tests/systems/hostile.toml"),
    ("owner", "tests/systems/hostile.toml"),
    ("chatter", "tests/systems/hostile.toml"),
    ("edu-driver", "tests/systems/edu.toml"),
    ("timekeeper", "tests/systems/clock.toml"),
    ("scribe", "tests/systems/serial.toml"),
    ("pulse", "tests/systems/inject.toml"),
    ("frame-reflector", "tests/systems/e1000-reflector.toml"),
    // The `top-half` experiment's probe; its place in the top-half system is the same.
    (
        "latency-probe",
        "tests/experiments/systems/e1000-bottom-half.toml",
    ),
];

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("../..");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for (component, system) in COMPONENTS {
        let path = root.join(system);
        println!("cargo:rerun-if-changed={}", path.display());
        let table = capctl::gencaps::generate_from_file(&path, component)
            .unwrap_or_else(|e| panic!("caps table of {component} from {system}: {e}"));
        std::fs::write(
            Path::new(&out).join(format!("{}.rs", component.replace('-', "_"))),
            table,
        )
        .expect("write the caps table");
    }
}
