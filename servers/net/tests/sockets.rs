//! Two stacks joined by an in-memory wire, driven by applications speaking
//! the socket protocol: UDP and TCP both ways, listeners and backlogs,
//! refusals, closes, and the order of parked requests.

mod common;

use common::*;
use ward_net::counters::Counter;
use ward_proto::socket::{SocketError, SocketRequest};

fn send(
    socket: u32,
    to: Option<ward_proto::socket::Endpoint>,
    payload: &[u8],
) -> SocketRequest<'_> {
    SocketRequest::Send {
        socket,
        to,
        payload,
    }
}

fn receive(socket: u32, max_len: u32) -> SocketRequest<'static> {
    SocketRequest::Receive { socket, max_len }
}

#[test]
fn udp_datagrams_cross_and_come_back() {
    let mut net = Net::pair();
    let server = net.udp(0, 0, Some(7));
    let client = net.udp(1, 0, None);
    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(
        net.call(1, 0, send(client, Some(at(IP_A, 7)), &payload)),
        Answer::Ok(OwnedReply::Sent(1000))
    );
    let got = net.call(0, 0, receive(server, 2000));
    let Answer::Ok(OwnedReply::Received(from, data)) = got else {
        panic!("{got:?}")
    };
    assert_eq!(data, payload);
    assert_eq!(from.addr, IP_B);
    // Echo it back to where it came from.
    assert_eq!(
        net.call(0, 0, send(server, Some(from), &data)),
        Answer::Ok(OwnedReply::Sent(1000))
    );
    assert_eq!(net.call(1, 0, receive(client, 2000)).data(), payload);
    assert_eq!(
        net.nodes[0].stack.counters().get(Counter::DropUdpChecksum),
        0
    );
}

#[test]
fn tcp_stream_echoes_100_kib() {
    let mut net = Net::pair();
    let listener = net.listen(0, 0, 7, 4);
    let accept = net.nodes[0].apps[0].send(SocketRequest::Accept { socket: listener });
    let (client, connected) = net.connect(1, 0, at(IP_A, 7));
    assert_eq!(connected, Answer::Ok(OwnedReply::Done));
    let conn = net
        .answer_to(0, 0, accept, 1000)
        .expect("accepted")
        .socket();
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
            if let Answer::Ok(OwnedReply::Sent(n)) =
                net.call(1, 0, send(client, None, &data[sent..end]))
            {
                sent += n as usize;
            }
        }
        let chunk = net.call(0, 0, receive(conn, 2000)).data();
        echoed.extend_from_slice(&chunk);
        let mut at = 0;
        while at < chunk.len() {
            let Answer::Ok(OwnedReply::Sent(n)) = net.call(0, 0, send(conn, None, &chunk[at..]))
            else {
                panic!("echo send failed")
            };
            at += n as usize;
        }
        while received.len() < echoed.len() {
            received.extend(net.call(1, 0, receive(client, 2000)).data());
        }
    }
    assert_eq!(received, data);
    let counters = net.nodes[0].stack.counters();
    assert!(counters.get(Counter::RxDelivered) > 70, "{counters:?}");
    assert_eq!(counters.frames_dropped(), 0);
    // Orderly close: the server sees the end of the stream.
    assert_eq!(
        net.call(1, 0, SocketRequest::Close { socket: client }),
        Answer::Ok(OwnedReply::Done)
    );
    assert_eq!(net.call(0, 0, receive(conn, 100)).data(), Vec::<u8>::new());
    assert_eq!(
        net.call(0, 0, SocketRequest::Close { socket: conn }),
        Answer::Ok(OwnedReply::Done)
    );
    // The closed number is refused from now on.
    assert_eq!(
        net.call(0, 0, receive(conn, 100)),
        Answer::Err(SocketError::NoSuchSocket)
    );
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    let mut net = Net::pair();
    let (_, answer) = net.connect(1, 0, at(IP_A, 8));
    assert_eq!(answer, Answer::Err(SocketError::ConnectionRefused));
    assert_eq!(net.nodes[0].stack.counters().get(Counter::TcpClosedPort), 1);
}

#[test]
fn sockets_belong_to_their_application() {
    let mut net = Net::pair();
    let mine = net.udp(0, 0, None);
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
    let other = net.udp(0, 1, None);
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
    let server = net.udp(0, 0, Some(7));
    let first = net.nodes[0].apps[0].send(receive(server, 100));
    let second = net.nodes[0].apps[0].send(receive(server, 100));
    let client = net.udp(1, 0, None);
    for text in [&b"one"[..], b"two"] {
        net.call(1, 0, send(client, Some(at(IP_A, 7)), text));
    }
    assert_eq!(net.answer_to(0, 0, first, 1000).unwrap().data(), b"one");
    assert_eq!(net.answer_to(0, 0, second, 1000).unwrap().data(), b"two");
}

#[test]
fn restarting_an_application_drops_its_sockets_only() {
    let mut net = Net::pair();
    let a = net.udp(0, 0, Some(7));
    let b = net.udp(0, 1, Some(8));
    // Application 0 parks a receive, then "restarts".
    net.nodes[0].apps[0].send(receive(a, 10));
    net.step();
    net.nodes[0].attach(0);
    net.step();
    assert_eq!(
        net.nodes[0].stack.session_held(0),
        0,
        "nothing held from the old attachment"
    );
    // Its port is free again; application 1 kept its socket.
    net.udp(0, 0, Some(7));
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
