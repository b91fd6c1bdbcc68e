//! Golden tests: every error and lint message, with its file, line, column
//! and text, pinned in `tests/golden/NAME.out` next to `NAME.toml`.
//!
//! Run with `UPDATE_GOLDEN=1` to rewrite the `.out` files after a deliberate
//! change of wording, then review the diff.

use std::path::{Path, PathBuf};

use capctl::diag::render_all;
use capctl::{check, lint, Source};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// What capctl says about a file: check diagnostics, then (if valid) lints.
fn output_for(name: &str, bytes: &[u8]) -> String {
    let src = Source::from_bytes(format!("golden/{name}.toml"), bytes);
    let checked = check(&src);
    let mut out = render_all(&checked.diagnostics, &src);
    if let Some((sys, _)) = checked.valid() {
        let warnings = lint::lint(sys);
        out.push_str(&render_all(&warnings, &src));
        if warnings.is_empty() {
            out.push_str("(valid, no warnings)\n");
        }
    }
    out
}

fn cases() -> Vec<(String, PathBuf)> {
    let mut cases: Vec<(String, PathBuf)> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    cases.sort();
    cases
}

#[test]
fn golden_messages() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for (name, path) in cases() {
        // Bytes, as capctl reads a file: one case is not UTF-8 on purpose.
        let bytes = std::fs::read(&path).unwrap();
        let got = output_for(&name, &bytes);
        let out_path = path.with_extension("out");
        if update {
            std::fs::write(&out_path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&out_path).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "--- {name}: expected\n{want}\n--- {name}: got\n{got}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every error code the checker can emit has a golden case.
#[test]
fn every_error_code_is_covered() {
    const CODES: &[&str] = &[
        "syntax",
        "unknown-key",
        "invalid-value",
        "missing-key",
        "duplicate-name",
        "invalid-name",
        "dangling-ref",
        "duplicate-id",
        "invalid-device",
        "device-shared",
        "irq-none",
        "irq-without-device",
        "irq-shared",
        "overlap",
        "dma-without-iommu",
        "dma-window",
        "iommu-bounds",
        "misaligned",
        "wx-mapping",
        "channel-rights",
        "ring-size",
        "pool-too-small",
        "ipc-priority",
        "memory",
        "fault-cycle",
        "call-cycle",
        "too-many-signals",
        "too-many-caps",
        "boot-limits",
    ];
    let all: String = cases()
        .iter()
        .map(|(_, p)| std::fs::read_to_string(p.with_extension("out")).unwrap_or_default())
        .collect();
    for code in CODES {
        assert!(
            all.contains(&format!("error[{code}]")),
            "no golden case shows error[{code}]"
        );
    }
    // And the checker emits no code outside that list.
    let source = include_str!("../src/check.rs").to_string() + include_str!("../src/layout.rs");
    for piece in source.split("Diagnostic::error(\"").skip(1) {
        let code = piece.split('"').next().unwrap();
        assert!(
            CODES.contains(&code),
            "error code `{code}` is not in the golden list"
        );
    }
}

/// Every lint has a golden case.
#[test]
fn every_lint_is_covered() {
    let all: String = cases()
        .iter()
        .map(|(_, p)| std::fs::read_to_string(p.with_extension("out")).unwrap_or_default())
        .collect();
    for (name, _) in lint::LINTS {
        assert!(
            all.contains(&format!("warning[{name}]")),
            "no golden case shows warning[{name}]"
        );
    }
}

/// The default system is valid and lint-clean: it is the example people copy.
#[test]
fn default_system_is_clean() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../system.toml");
    let bytes = std::fs::read(&path).unwrap();
    let out = output_for("system", &bytes);
    assert_eq!(out, "(valid, no warnings)\n", "{out}");
}

/// Every scenario system under tests/systems is valid.
#[test]
fn scenario_systems_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/systems");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let src = Source::new(path.display().to_string(), text);
            let checked = check(&src);
            assert!(
                !checked.has_errors(),
                "{}",
                render_all(&checked.diagnostics, &src)
            );
        }
    }
}

/// The command line treats a file that is not UTF-8 like any other invalid
/// file: the located syntax error on stderr and exit status 1 (problems in
/// the file), not an I/O error with status 2.
#[test]
fn command_line_locates_a_non_utf8_byte() {
    let path = golden_dir().join("not-utf8.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_capctl"))
        .arg("check")
        .arg(&path)
        .output()
        .expect("run capctl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[syntax]: the file is not UTF-8")
            && stderr.contains("not-utf8.toml:6:15"),
        "{stderr}"
    );
}
