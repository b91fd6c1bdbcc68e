//! Writes the component's capability table from the system description.
fn main() {
    capctl::gencaps::build_script("net");
}
