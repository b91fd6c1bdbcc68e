//! Generates the caps tables of the example's two components from the
//! example's own system description.
fn main() {
    for component in ["uptime", "watcher"] {
        capctl::gencaps::build_script_from(component, "examples/uptime/uptime.toml");
    }
}
