//! Two stacks joined by an in-memory wire, driven by applications speaking
//! the socket protocol: UDP and TCP both ways, listeners and backlogs,
//! refusals, closes, and the order of parked requests.

mod common;

use common::*;
use ward_proto::socket::{Protocol, SocketError, SocketRequest};

#[test]
fn udp_datagrams_cross_and_come_back() {
    let mut net = Net::pair();
    let server = net
        .call(
            0,
            0,
            SocketRequest::Open {
                protocol: Protocol::Udp,
            },
        )
        .socket();
    assert_eq!(
        net.call(
            0,
            0,
            SocketRequest::Bind {
                socket: server,
                local: any(7)
            }
        ),
        Answer::Ok(OwnedReply::Done)
    );
    let client = net
        .call(
            1,
            0,
            SocketRequest::Open {
                protocol: Protocol::Udp,
            },
        )
        .socket();
    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(
        net.call(
            1,
            0,
            SocketRequest::Send {
                socket: client,
                to: Some(at(IP_A, 7)),
                payload: &payload
            }
        ),
        Answer::Ok(OwnedReply::Sent(1000))
    );
    let got = net.call(
        0,
        0,
        SocketRequest::Receive {
            socket: server,
            max_len: 2000,
        },
    );
    let Answer::Ok(OwnedReply::Received(from, data)) = got else {
        panic!("{got:?}")
    };
    assert_eq!(data, payload);
    assert_eq!(from.addr, IP_B);
    // Echo it back to where it came from.
    assert_eq!(
        net.call(
            0,
            0,
            SocketRequest::Send {
                socket: server,
                to: Some(from),
                payload: &data
            }
        ),
        Answer::Ok(OwnedReply::Sent(1000))
    );
    let back = net.call(
        1,
        0,
        SocketRequest::Receive {
            socket: client,
            max_len: 2000,
        },
    );
    assert_eq!(back.data(), payload);
    assert_eq!(
        net.nodes[0]
            .stack
            .counters()
            .get(ward_net::counters::Counter::DropUdpChecksum),
        0
    );
}

#[test]
fn tcp_stream_echoes_100_kib() {
    let mut net = Net::pair();
    let listener = net
        .call(
            0,
            0,
            SocketRequest::Open {
                protocol: Protocol::Tcp,
            },
        )
        .socket();
    net.call(
        0,
        0,
        SocketRequest::Bind {
            socket: listener,
            local: any(7),
        },
    );
    assert_eq!(
        net.call(
            0,
            0,
            SocketRequest::Listen {
                socket: listener,
                backlog: 4
            }
        ),
        Answer::Ok(OwnedReply::Done)
    );
    let accept_id = net.nodes[0].apps[0].send(SocketRequest::Accept { socket: listener });
    let client = net
        .call(
            1,
            0,
            SocketRequest::Open {
                protocol: Protocol::Tcp,
            },
        )
        .socket();
    assert_eq!(
        net.call(
            1,
            0,
            SocketRequest::Connect {
                socket: client,
                remote: at(IP_A, 7)
            }
        ),
        Answer::Ok(OwnedReply::Done)
    );
    let mut accepted = None;
    net.run_until(1000, |net| {
        accepted = net.nodes[0].apps[0].take(accept_id);
        accepted.is_some()
    });
    let conn = accepted.expect("accepted").socket();
    let data: Vec<u8> = (0..100 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut echoed, mut received) = (0usize, Vec::new(), Vec::new());
    let mut steps = 0;
    while received.len() < data.len() {
        steps += 1;
        assert!(
            steps < 20_000,
            "stalled: sent {sent} echoed {} received {}",
            echoed.len(),
            received.len()
        );
        if sent < data.len() {
            let end = (sent + 2000).min(data.len());
            if let Answer::Ok(OwnedReply::Sent(n)) = net.call(
                1,
                0,
                SocketRequest::Send {
                    socket: client,
                    to: None,
                    payload: &data[sent..end],
                },
            ) {
                sent += n as usize;
            }
        }
        let chunk = net
            .call(
                0,
                0,
                SocketRequest::Receive {
                    socket: conn,
                    max_len: 2000,
                },
            )
            .data();
        echoed.extend_from_slice(&chunk);
        let mut at = 0;
        while at < chunk.len() {
            let Answer::Ok(OwnedReply::Sent(n)) = net.call(
                0,
                0,
                SocketRequest::Send {
                    socket: conn,
                    to: None,
                    payload: &chunk[at..],
                },
            ) else {
                panic!("echo send failed")
            };
            at += n as usize;
        }
        while received.len() < echoed.len() {
            received.extend(
                net.call(
                    1,
                    0,
                    SocketRequest::Receive {
                        socket: client,
                        max_len: 2000,
                    },
                )
                .data(),
            );
        }
    }
    assert_eq!(received, data);
    let counters = net.nodes[0].stack.counters();
    assert!(
        counters.get(ward_net::counters::Counter::RxDelivered) > 70,
        "{counters:?}"
    );
    assert_eq!(counters.frames_dropped(), 0);
    // Orderly close: the server sees the end of the stream.
    assert_eq!(
        net.call(1, 0, SocketRequest::Close { socket: client }),
        Answer::Ok(OwnedReply::Done)
    );
    let eof = net.call(
        0,
        0,
        SocketRequest::Receive {
            socket: conn,
            max_len: 100,
        },
    );
    assert_eq!(eof.data(), Vec::<u8>::new());
    assert_eq!(
        net.call(0, 0, SocketRequest::Close { socket: conn }),
        Answer::Ok(OwnedReply::Done)
    );
    // The closed number is refused from now on.
    assert_eq!(
        net.call(
            0,
            0,
            SocketRequest::Receive {
                socket: conn,
                max_len: 100
            }
        ),
        Answer::Err(SocketError::NoSuchSocket)
    );
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    let mut net = Net::pair();
    let client = net
        .call(
            1,
            0,
            SocketRequest::Open {
                protocol: Protocol::Tcp,
            },
        )
        .socket();
    assert_eq!(
        net.call(
            1,
            0,
            SocketRequest::Connect {
                socket: client,
                remote: at(IP_A, 8)
            }
        ),
        Answer::Err(SocketError::ConnectionRefused)
    );
    assert_eq!(
        net.nodes[0]
            .stack
            .counters()
            .get(ward_net::counters::Counter::TcpClosedPort),
        1
    );
}

#[test]
fn sockets_belong_to_their_application() {
    let mut net = Net::pair();
    let mine = net
        .call(
            0,
            0,
            SocketRequest::Open {
                protocol: Protocol::Udp,
            },
        )
        .socket();
    // The other application cannot name it.
    assert_eq!(
        net.call(
            0,
            1,
            SocketRequest::Bind {
                socket: mine,
                local: any(9)
            }
        ),
        Answer::Err(SocketError::NoSuchSocket)
    );
    assert_eq!(
        net.call(0, 1, SocketRequest::Close { socket: mine }),
        Answer::Err(SocketError::NoSuchSocket)
    );
    // Nor can anyone take a bound port twice.
    net.call(
        0,
        0,
        SocketRequest::Bind {
            socket: mine,
            local: any(9),
        },
    );
    let other = net
        .call(
            0,
            1,
            SocketRequest::Open {
                protocol: Protocol::Udp,
            },
        )
        .socket();
    assert_eq!(
        net.call(
            0,
            1,
            SocketRequest::Bind {
                socket: other,
                local: any(9)
            }
        ),
        Answer::Err(SocketError::AddressInUse)
    );
    // Listen on UDP is the wrong protocol.
    assert_eq!(
        net.call(
            0,
            0,
            SocketRequest::Listen {
                socket: mine,
                backlog: 1
            }
        ),
        Answer::Err(SocketError::WrongProtocol)
    );
}

#[test]
fn receives_on_one_socket_are_answered_in_order() {
    let mut net = Net::pair();
    let server = net
        .call(
            0,
            0,
            SocketRequest::Open {
                protocol: Protocol::Udp,
            },
        )
        .socket();
    net.call(
        0,
        0,
        SocketRequest::Bind {
            socket: server,
            local: any(7),
        },
    );
    let first = net.nodes[0].apps[0].send(SocketRequest::Receive {
        socket: server,
        max_len: 100,
    });
    let second = net.nodes[0].apps[0].send(SocketRequest::Receive {
        socket: server,
        max_len: 100,
    });
    let client = net
        .call(
            1,
            0,
            SocketRequest::Open {
                protocol: Protocol::Udp,
            },
        )
        .socket();
    for text in [&b"one"[..], b"two"] {
        net.call(
            1,
            0,
            SocketRequest::Send {
                socket: client,
                to: Some(at(IP_A, 7)),
                payload: text,
            },
        );
    }
    let (mut a, mut b) = (None, None);
    net.run_until(1000, |net| {
        let app = &mut net.nodes[0].apps[0];
        a = a.take().or_else(|| app.take(first));
        b = b.take().or_else(|| app.take(second));
        a.is_some() && b.is_some()
    });
    assert_eq!(a.unwrap().data(), b"one");
    assert_eq!(b.unwrap().data(), b"two");
}

#[test]
fn restarting_an_application_drops_its_sockets_only() {
    let mut net = Net::pair();
    let a = net
        .call(
            0,
            0,
            SocketRequest::Open {
                protocol: Protocol::Udp,
            },
        )
        .socket();
    net.call(
        0,
        0,
        SocketRequest::Bind {
            socket: a,
            local: any(7),
        },
    );
    let b = net
        .call(
            0,
            1,
            SocketRequest::Open {
                protocol: Protocol::Udp,
            },
        )
        .socket();
    net.call(
        0,
        1,
        SocketRequest::Bind {
            socket: b,
            local: any(8),
        },
    );
    // Application 0 parks a receive, then "restarts".
    net.nodes[0].apps[0].send(SocketRequest::Receive {
        socket: a,
        max_len: 10,
    });
    net.step();
    net.nodes[0].attach(0);
    net.step();
    assert_eq!(
        net.nodes[0].stack.session_held(0),
        0,
        "nothing held from the old attachment"
    );
    // Its port is free again; application 1 kept its socket.
    let again = net
        .call(
            0,
            0,
            SocketRequest::Open {
                protocol: Protocol::Udp,
            },
        )
        .socket();
    assert_eq!(
        net.call(
            0,
            0,
            SocketRequest::Bind {
                socket: again,
                local: any(7)
            }
        ),
        Answer::Ok(OwnedReply::Done)
    );
    assert_eq!(
        net.call(
            0,
            1,
            SocketRequest::Bind {
                socket: b,
                local: any(8)
            }
        ),
        Answer::Err(SocketError::InvalidArgument),
        "still bound"
    );
}
