//! The HTTP server driven against the real stack library; node B's test
//! client sends requests over the in-memory wire.

#[path = "../../../servers/net/tests/common/mod.rs"]
mod common;

use common::*;
use ward_http::{ComponentStatus, Page, Server, Status};
use ward_proto::client::{SocketClient, MAX_SLOT_BYTES};
use ward_proto::socket::{Protocol, SocketRequest};

fn fetch(request: &[u8]) -> String {
    let mut net = Net::pair();
    let end = net.nodes[0].apps[0].end.take().unwrap();
    let pool = net.nodes[0].apps[0].pool;
    let mut client = SocketClient::new(end, pool);
    let mut server = Server::new();
    server.start(&mut client).unwrap();
    client.flush();
    let mut pages: Vec<Page> = (0..ward_http::MAX_CONNECTIONS)
        .map(|_| Page::new())
        .collect();
    let mut step =
        |net: &mut Net, client: &mut SocketClient<'static, Ring, W>, server: &mut Server| {
            net.step();
            let rx = net.nodes[0]
                .stack
                .counters()
                .get(ward_net::counters::Counter::RxFrames);
            let mut copy = [0u8; MAX_SLOT_BYTES];
            while let Some(answer) = client.next_answer(&mut copy).unwrap() {
                let components = [ComponentStatus {
                    name: "net",
                    state: "running",
                    generation: 1,
                    restarts: 0,
                    cpu_us: 0,
                    faults: 0,
                    last_fault: ("none", ""),
                    dma_faults: 0,
                    interrupts: 0,
                }];
                let counters = [("rx.frames", rx)];
                let mut status = |f: &mut dyn FnMut(&Status<'_>)| {
                    f(&Status {
                        components: &components,
                        counters: &counters,
                        kernel: &[],
                        driver: &[],
                        address: Some("10.0.0.1/24"),
                    })
                };
                server
                    .on_answer(client, &answer, &mut status, &mut pages)
                    .unwrap();
            }
            client.flush();
        };
    for _ in 0..200 {
        step(&mut net, &mut client, &mut server);
    }
    assert!(server.ready());
    let s = net
        .call(
            1,
            0,
            SocketRequest::Open {
                protocol: Protocol::Tcp,
            },
        )
        .socket();
    let id = net.nodes[1].apps[0].send(SocketRequest::Connect {
        socket: s,
        remote: at(IP_A, 80),
    });
    for _ in 0..200 {
        step(&mut net, &mut client, &mut server);
    }
    assert_eq!(
        net.nodes[1].apps[0].take(id),
        Some(Answer::Ok(OwnedReply::Done))
    );
    let id = net.nodes[1].apps[0].send(SocketRequest::Send {
        socket: s,
        to: None,
        payload: request,
    });
    for _ in 0..100 {
        step(&mut net, &mut client, &mut server);
    }
    assert!(matches!(
        net.nodes[1].apps[0].take(id),
        Some(Answer::Ok(OwnedReply::Sent(_)))
    ));
    let mut response = Vec::new();
    for _ in 0..100 {
        let id = net.nodes[1].apps[0].send(SocketRequest::Receive {
            socket: s,
            max_len: 2000,
        });
        let mut got = None;
        for _ in 0..500 {
            step(&mut net, &mut client, &mut server);
            got = net.nodes[1].apps[0].take(id);
            if got.is_some() {
                break;
            }
        }
        let data = got.expect("an answer").data();
        if data.is_empty() {
            break;
        }
        response.extend(data);
    }
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn stats_json_over_the_stack() {
    let r = fetch(b"GET /stats.json HTTP/1.1\r\nHost: ward\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    let body = r.split("\r\n\r\n").nth(1).unwrap();
    assert!(
        body.starts_with("{\"address\":\"10.0.0.1/24\",\"components\":[{\"name\":\"net\""),
        "{body}"
    );
    let length: usize = r
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, body.len());
}

#[test]
fn unknown_paths_and_methods() {
    assert!(fetch(b"GET /nowhere HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
    assert!(fetch(b"DELETE / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    let bench = fetch(b"HEAD /bench/10MiB HTTP/1.1\r\n\r\n");
    assert!(bench.contains("Content-Length: 10485760\r\n"), "{bench}");
    assert!(bench.ends_with("\r\n\r\n"), "HEAD has no body");
}
