//! The fuzz corpus as a regression test: every input the fuzzers have kept
//! (and every crash they found, once fixed and moved into the corpus) runs
//! through the same entry points on every `cargo test`. The golden cases
//! run too: they are the most interesting invalid files we have.

use std::path::Path;

fn each_file(dir: &Path, mut f: impl FnMut(&Path, &[u8])) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            f(&path, &bytes);
            n += 1;
        }
    }
    n
}

#[test]
fn check_corpus_never_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in [
        "fuzz/corpus/check",
        "fuzz/artifacts/check",
        "tests/golden",
        "tests/fixtures",
    ] {
        n += each_file(&root.join(dir), |path, bytes| {
            let result = std::panic::catch_unwind(|| capctl::fuzz::run_one(bytes));
            assert!(result.is_ok(), "capctl panicked on {}", path.display());
        });
    }
    assert!(n > 10, "the corpus is missing ({n} files)");
}

#[test]
fn spec_corpus_never_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["fuzz/corpus/spec", "fuzz/artifacts/spec"] {
        n += each_file(&root.join(dir), |path, bytes| {
            let result = std::panic::catch_unwind(|| capctl::fuzz::run_spec(bytes));
            assert!(
                result.is_ok(),
                "the spec decoder panicked on {}",
                path.display()
            );
        });
    }
    assert!(n >= 1, "the spec corpus is missing");
}
