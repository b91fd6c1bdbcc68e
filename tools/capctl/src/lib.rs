//! capctl: the host tool for Ward's system description (`system.toml`).
//!
//! The library holds everything; `main.rs` is only the command line. A
//! component's `build.rs` uses [`gencaps`] through this library to generate
//! its typed capability table.
//!
//! Flow: [`check`] parses and checks a file into a [`model::System`] and
//! [`layout::Layout`]; every other command starts from that.
#![forbid(unsafe_code)]

pub mod audit;
pub mod check;
pub mod compile;
pub mod diag;
pub mod diff;
pub mod edit;
pub mod explain;
pub mod fuzz;
pub mod gencaps;
pub mod graph;
pub mod image;
pub mod layout;
pub mod lint;
pub mod model;
pub mod schema;

pub use check::{check, Checked};
pub use diag::{Diagnostic, Severity, Source};

/// Reads a file into a [`Source`], with a one-line error naming the file
/// when it cannot be read. A file that is not UTF-8 is read all the same:
/// [`check`] reports where it stops being UTF-8, as a located syntax error.
pub fn read_source(path: &std::path::Path) -> Result<Source, String> {
    std::fs::read(path)
        .map(|bytes| Source::from_bytes(path.display().to_string(), &bytes))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}
