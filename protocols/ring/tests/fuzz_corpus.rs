//! Regression run of the `attach_consume` fuzz corpus: every stored input
//! (hand-made seeds and whatever the fuzzer kept) goes through the same
//! harness as the fuzz target, in plain `cargo test`.

use std::path::PathBuf;

use ward_ring::hostile;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn attach_consume_corpus_replays_cleanly() {
    let inputs = corpus("attach_consume");
    assert!(inputs.len() >= 7, "the hand-made seeds are missing");
    for (name, data) in &inputs {
        let outcome = hostile::run(data);
        match name.as_str() {
            "borrower-honest" => {
                assert!(outcome.attached);
                assert_eq!(
                    (outcome.received, outcome.sent, outcome.peer_faults),
                    (3, 3, 0),
                    "{name}"
                );
            }
            "borrower-index-jump" => assert_eq!(outcome.peer_faults, 2, "{name}"),
            "borrower-bad-descriptors" => {
                // Outside the pool, misaligned, past the slot end, and the second hand-over of slot 1.
                assert_eq!((outcome.received, outcome.peer_faults), (1, 4), "{name}");
            }
            "owner-double-return" => {
                assert!(outcome.attached);
                assert_eq!(
                    (outcome.sent, outcome.received, outcome.peer_faults),
                    (4, 1, 1),
                    "{name}"
                );
            }
            "header-garbage" | "header-wrong-capacity" => assert!(!outcome.attached, "{name}"),
            _ => {}
        }
    }
}
