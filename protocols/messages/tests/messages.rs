//! Round trips and rejections for every message format, and property tests
//! that decoding arbitrary bytes never panics and that whatever decodes
//! re-encodes to the same bytes.

use proptest::prelude::*;
use ward_proto::driver::*;
use ward_proto::socket::*;
use ward_proto::supervisor::*;
use ward_proto::ProtoError;
use ward_ring::{PoolGeometry, RawDescriptor};

fn pool() -> PoolGeometry {
    PoolGeometry::new(2048, 16, 64).unwrap()
}

#[test]
fn rx_handoff_round_trip_and_rejections() {
    let pool = pool();
    let slot = pool.buffer(3, 0, 2048).unwrap();
    let posted = RxPosting::encode(slot);
    assert_eq!(RxPosting::decode(posted).unwrap().buffer, slot);
    assert!(
        RxPosting::decode(pool.buffer(3, 0, 100).unwrap()).is_err(),
        "too short for a frame"
    );
    assert!(RxPosting::decode(slot.with_flags(1)).is_err());

    let done = RxCompletion::encode_frame(&pool, slot, 60, ChecksumStatus::Verified).unwrap();
    assert_eq!(
        RxCompletion::decode(done),
        Ok(RxCompletion::Frame {
            buffer: done.with_flags(0),
            checksum: ChecksumStatus::Verified
        })
    );
    assert!(RxCompletion::encode_frame(&pool, slot, 5, ChecksumStatus::Unchecked).is_err());
    assert!(RxCompletion::encode_frame(&pool, slot, 2000, ChecksumStatus::Unchecked).is_err());
    let err = RxCompletion::encode_error(slot);
    assert_eq!(
        RxCompletion::decode(err),
        Ok(RxCompletion::Error { buffer: slot })
    );
    assert!(
        RxCompletion::decode(done.with_flags(RX_CHECKSUM_VERIFIED | RX_CHECKSUM_FAILED)).is_err()
    );
    assert!(RxCompletion::decode(done.with_flags(1 << 9)).is_err());
    assert!(RxCompletion::decode(pool.with_len(done, 4).unwrap()).is_err());
}

#[test]
fn tx_handoff_round_trip_and_rejections() {
    let pool = pool();
    let frame = pool.buffer(1, 64, 600).unwrap();
    let request = TxRequest {
        buffer: frame,
        offload_ip_checksum: true,
        offload_l4_checksum: false,
    };
    assert_eq!(TxRequest::decode(request.encode()), Ok(request));
    assert!(TxRequest::decode(frame.with_flags(4)).is_err());
    assert!(TxRequest::decode(pool.with_len(frame, 1600).unwrap()).is_err());
    for sent in [true, false] {
        let c = TxCompletion {
            buffer: frame,
            sent,
        };
        assert_eq!(TxCompletion::decode(c.encode()), Ok(c));
    }
    assert!(TxCompletion::decode(frame.with_flags(TX_SENT | TX_DROPPED)).is_err());
    assert!(TxCompletion::decode(frame.with_flags(0)).is_err());
}

#[test]
fn driver_control_round_trips() {
    let events = [
        DriverEvent::Link(LinkState {
            up: true,
            speed_mbps: 1000,
            full_duplex: true,
        }),
        DriverEvent::Link(LinkState {
            up: false,
            speed_mbps: 0,
            full_duplex: false,
        }),
        DriverEvent::Mac(MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56])),
        DriverEvent::Statistics(Statistics {
            rx_packets: 5,
            rx_bytes: 300,
            interrupts: 2,
            ..Default::default()
        }),
    ];
    let mut buf = [0u8; MAX_CONTROL_BYTES];
    for (i, e) in events.iter().enumerate() {
        let n = e.encode(4, i as u32, &mut buf).unwrap();
        let (h, back) = DriverEvent::decode(&buf[..n]).unwrap();
        assert_eq!((h.generation, h.sequence, back), (4, i as u32, *e));
    }
    let requests = [
        StackRequest::QueryLink,
        StackRequest::QueryMac,
        StackRequest::QueryStatistics,
        StackRequest::SetPromiscuous(SetPromiscuous(true)),
    ];
    for r in requests {
        let n = r.encode(1, 9, &mut buf).unwrap();
        assert_eq!(StackRequest::decode(&buf[..n]).unwrap().1, r);
    }
}

#[test]
fn driver_control_rejections() {
    let mut buf = [0u8; MAX_CONTROL_BYTES];
    let n = DriverEvent::Link(LinkState {
        up: true,
        speed_mbps: 1000,
        full_duplex: true,
    })
    .encode(1, 1, &mut buf)
    .unwrap();
    let mut bad = buf;
    bad[20..24].copy_from_slice(&123u32.to_le_bytes()); // speed
    assert!(matches!(
        DriverEvent::decode(&bad[..n]),
        Err(ProtoError::BadField {
            field: "link speed_mbps",
            ..
        })
    ));
    let mut bad = buf;
    bad[16..20].copy_from_slice(&2u32.to_le_bytes()); // up = 2
    assert!(DriverEvent::decode(&bad[..n]).is_err());
    let mut bad = buf;
    bad[12..16].copy_from_slice(&4u32.to_le_bytes()); // body_len
    assert!(DriverEvent::decode(&bad[..n]).is_err());
    assert!(matches!(
        DriverEvent::decode(&buf[..n - 1]),
        Err(ProtoError::Truncated { .. })
    ));
    let n = DriverEvent::Mac(MacAddress([1, 2, 3, 4, 5, 6]))
        .encode(1, 1, &mut buf)
        .unwrap();
    assert!(
        DriverEvent::decode(&buf[..n]).is_err(),
        "multicast MAC refused"
    );
    assert_eq!(
        DriverEvent::decode(&[0xff; 32]),
        Err(ProtoError::UnknownKind(u32::MAX))
    );
    assert!(DriverEvent::Statistics(Statistics::default())
        .encode(1, 1, &mut buf[..40])
        .is_err());
}

#[test]
fn socket_requests_round_trip() {
    let remote = Endpoint {
        addr: [10, 0, 2, 2],
        port: 8080,
    };
    let payload = b"hello";
    let requests = [
        SocketRequest::Open {
            protocol: Protocol::Udp,
        },
        SocketRequest::Open {
            protocol: Protocol::Tcp,
        },
        SocketRequest::Bind {
            socket: 3,
            local: Endpoint {
                addr: [0; 4],
                port: 0,
            },
        },
        SocketRequest::Connect { socket: 3, remote },
        SocketRequest::Listen {
            socket: 3,
            backlog: 8,
        },
        SocketRequest::Accept { socket: 3 },
        SocketRequest::Send {
            socket: 3,
            to: None,
            payload,
        },
        SocketRequest::Send {
            socket: 3,
            to: Some(remote),
            payload: &[],
        },
        SocketRequest::Receive {
            socket: 3,
            max_len: 1500,
        },
        SocketRequest::Close { socket: 3 },
    ];
    let mut buf = [0u8; 256];
    for (i, r) in requests.iter().enumerate() {
        let n = r.encode(i as u32 + 1, &mut buf).unwrap();
        assert_eq!(
            SocketRequest::decode(&buf[..n]).unwrap(),
            (i as u32 + 1, *r)
        );
    }
}

#[test]
fn socket_request_rejections() {
    let mut buf = [0u8; 64];
    let n = SocketRequest::Listen {
        socket: 3,
        backlog: 8,
    }
    .encode(1, &mut buf)
    .unwrap();
    let mut bad = buf;
    bad[24..28].copy_from_slice(&1000u32.to_le_bytes());
    assert!(matches!(
        SocketRequest::decode(&bad[..n]),
        Err(ProtoError::BadField {
            field: "backlog",
            ..
        })
    ));
    let n = SocketRequest::Send {
        socket: 3,
        to: None,
        payload: b"abc",
    }
    .encode(1, &mut buf)
    .unwrap();
    let mut bad = buf;
    bad[28..32].copy_from_slice(&100u32.to_le_bytes());
    assert!(matches!(
        SocketRequest::decode(&bad[..n]),
        Err(ProtoError::PayloadTooLong { declared: 100, .. })
    ));
    let n = SocketRequest::Close { socket: 3 }
        .encode(1, &mut buf)
        .unwrap();
    let mut bad = buf;
    bad[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert!(SocketRequest::decode(&bad[..n]).is_err(), "socket 0");
    let mut bad = buf;
    bad[16] = 1; // an address on Close
    assert!(matches!(
        SocketRequest::decode(&bad[..n]),
        Err(ProtoError::ReservedNotZero { .. })
    ));
    let mut bad = buf;
    bad[0] = 99;
    assert_eq!(
        SocketRequest::decode(&bad[..n]),
        Err(ProtoError::UnknownKind(99))
    );
    assert!(SocketRequest::Connect {
        socket: 1,
        remote: Endpoint {
            addr: [1, 2, 3, 4],
            port: 0
        }
    }
    .encode(1, &mut buf)
    .map(|n| SocketRequest::decode(&buf[..n]).is_err())
    .unwrap());
}

#[test]
fn socket_responses_round_trip_and_limits() {
    let from = Endpoint {
        addr: [10, 0, 2, 2],
        port: 5000,
    };
    let responses = [
        SocketResponse {
            op: OP_OPEN,
            request_id: 1,
            socket: 0,
            result: Ok(SocketReply::Opened { socket: 4 }),
        },
        SocketResponse {
            op: OP_CONNECT,
            request_id: 2,
            socket: 4,
            result: Ok(SocketReply::Done),
        },
        SocketResponse {
            op: OP_ACCEPT,
            request_id: 3,
            socket: 4,
            result: Ok(SocketReply::Accepted {
                socket: 5,
                peer: from,
            }),
        },
        SocketResponse {
            op: OP_SEND,
            request_id: 4,
            socket: 4,
            result: Ok(SocketReply::Sent { accepted: 3 }),
        },
        SocketResponse {
            op: OP_RECEIVE,
            request_id: 5,
            socket: 4,
            result: Ok(SocketReply::Received { from, data: b"xyz" }),
        },
        SocketResponse {
            op: OP_CONNECT,
            request_id: 6,
            socket: 4,
            result: Err(SocketError::ConnectionRefused),
        },
    ];
    let mut buf = [0u8; 128];
    for r in responses {
        let n = r.encode(&mut buf).unwrap();
        assert_eq!(SocketResponse::decode(&buf[..n], Some(10)).unwrap(), r);
    }
    let n = responses[4].encode(&mut buf).unwrap();
    assert!(
        SocketResponse::decode(&buf[..n], Some(2)).is_err(),
        "more data than asked for"
    );
    let mut bad = buf;
    bad[12..16].copy_from_slice(&77u32.to_le_bytes());
    assert!(
        SocketResponse::decode(&bad[..n], None).is_err(),
        "unknown status"
    );
    let n = SocketRequest::Close { socket: 1 }
        .encode(1, &mut buf)
        .unwrap();
    assert!(
        SocketResponse::decode(&buf[..n], None).is_err(),
        "a request is not an answer"
    );
}

#[test]
fn supervisor_round_trips() {
    let kinds = [
        FaultKind::VmFault {
            write: true,
            execute: false,
        },
        FaultKind::UnknownSyscall { number: 999 },
        FaultKind::UserException { vector: 13 },
        FaultKind::CapFault,
        FaultKind::DmaFault {
            requester: 0x0018,
            reason: 6,
            write: true,
        },
        FaultKind::Timeout,
        FaultKind::InterruptStorm { count: 100_000 },
    ];
    let mut buf = [0u8; 64];
    for kind in kinds {
        let f = FaultReport {
            component: 2,
            generation: Generation(3),
            kind,
            address: 0xdead_0000,
            instruction: 0x40_1000,
        };
        let n = f.encode(&mut buf).unwrap();
        assert_eq!(FaultReport::decode(&buf[..n]), Ok(f));
    }
    let notice = RestartNotice {
        component: 2,
        previous: Generation(3),
        current: Generation(4),
        reason: RestartReason::Fault,
    };
    let n = notice.encode(&mut buf).unwrap();
    assert_eq!(RestartNotice::decode(&buf[..n]), Ok(notice));
    let backwards = RestartNotice {
        previous: Generation(4),
        current: Generation(3),
        ..notice
    };
    let n = backwards.encode(&mut buf).unwrap();
    assert!(RestartNotice::decode(&buf[..n]).is_err());
}

#[test]
fn supervisor_rejections() {
    let mut buf = [0u8; 64];
    let f = FaultReport {
        component: 1,
        generation: Generation(1),
        kind: FaultKind::UserException { vector: 6 },
        address: 0,
        instruction: 0,
    };
    let n = f.encode(&mut buf).unwrap();
    let mut bad = buf;
    bad[24] = 200; // vector 200
    assert!(FaultReport::decode(&bad[..n]).is_err());
    let mut bad = buf;
    bad[12] = 42; // fault code
    assert!(FaultReport::decode(&bad[..n]).is_err());
    let mut bad = buf;
    bad[16] = 1; // access bits on an exception
    assert!(FaultReport::decode(&bad[..n]).is_err());
}

#[test]
fn generations_detect_restarts_and_stale_messages() {
    let mut t = GenerationTracker::new(Generation::FIRST);
    assert_eq!(t.observe(Generation(1)), GenerationCheck::Current);
    assert_eq!(
        t.observe(Generation(2)),
        GenerationCheck::Restarted {
            previous: Generation(1),
            current: Generation(2)
        }
    );
    assert_eq!(
        t.observe(Generation(1)),
        GenerationCheck::Stale {
            found: Generation(1)
        }
    );
    assert_eq!(t.known(), Generation(2));
    // Wrap-around.
    let mut t = GenerationTracker::new(Generation(u32::MAX));
    assert_eq!(
        t.observe(Generation(u32::MAX).next()),
        GenerationCheck::Restarted {
            previous: Generation(u32::MAX),
            current: Generation(0)
        }
    );
    assert!(Generation(0).is_after(Generation(u32::MAX)));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), max in proptest::option::of(0u32..300)) {
        let _ = DriverEvent::decode(&bytes);
        let _ = StackRequest::decode(&bytes);
        let _ = SocketRequest::decode(&bytes);
        let _ = SocketResponse::decode(&bytes, max);
        let _ = FaultReport::decode(&bytes);
        let _ = RestartNotice::decode(&bytes);
    }

    #[test]
    fn accepted_socket_requests_reencode_identically(bytes in prop::collection::vec(any::<u8>(), 32..80), op in 1u16..9) {
        let mut bytes = bytes;
        bytes[0..2].copy_from_slice(&op.to_le_bytes());
        if let Ok((id, request)) = SocketRequest::decode(&bytes) {
            let mut out = [0u8; 128];
            let n = request.encode(id, &mut out).unwrap();
            prop_assert_eq!(&out[..n], &bytes[..n]);
        }
    }

    #[test]
    fn descriptor_flags_decode_consistently(flags in any::<u32>(), len in 0u32..2048) {
        let pool = pool();
        let b = pool.validate(RawDescriptor { offset: 2048, len, cookie: 0, flags }).unwrap();
        if let Ok(RxCompletion::Frame { buffer, .. }) = RxCompletion::decode(b) {
            prop_assert!((MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&buffer.len()));
        }
        if let Ok(c) = TxCompletion::decode(b) {
            prop_assert_eq!(TxCompletion::decode(c.encode()), Ok(c));
        }
    }
}
