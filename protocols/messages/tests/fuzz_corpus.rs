//! Regression run of the `decode_messages` fuzz corpus (kept under
//! protocols/ring/fuzz): every stored input goes through the same decoder
//! round-trip check as the fuzz target.

use std::path::PathBuf;

#[test]
fn decode_messages_corpus_replays_cleanly() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ring/fuzz/corpus/decode_messages");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        ward_proto::wire::fuzz_decoders(&data);
        seen += 1;
    }
    assert!(seen >= 10, "the hand-made seeds are missing");
}

#[test]
fn hand_made_seeds_are_valid_messages() {
    use ward_proto::driver::{DriverEvent, StackRequest};
    use ward_proto::socket::{SocketRequest, SocketResponse};
    use ward_proto::supervisor::{FaultReport, RestartNotice};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ring/fuzz/corpus/decode_messages");
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    for name in ["link", "mac", "stats"] {
        DriverEvent::decode(&read(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    StackRequest::decode(&read("promisc")).unwrap();
    for name in ["sock-open", "sock-send"] {
        SocketRequest::decode(&read(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    for name in ["sock-received", "sock-error"] {
        SocketResponse::decode(&read(name), None).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    FaultReport::decode(&read("fault-dma")).unwrap();
    RestartNotice::decode(&read("restart")).unwrap();
}
