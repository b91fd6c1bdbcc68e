//! The serial driver's caps table, from the system being built.
fn main() {
    capctl::gencaps::build_script("serial");
}
