//! The bench services driven against the real stack library: node A runs
//! the stack with the echo application, node B's test client plays the
//! benchmark's host client over the in-memory wire.

#[path = "../../../servers/net/tests/common/mod.rs"]
mod common;

use common::*;
use ward_echo::{pattern, Clock, Services};
use ward_proto::client::{SocketClient, MAX_SLOT_BYTES};
use ward_proto::socket::{Protocol, SocketRequest};

struct FixedClock;
impl Clock for FixedClock {
    fn tsc(&self) -> u64 {
        123_456
    }
    fn idle_tsc(&self) -> Option<u64> {
        Some(789)
    }
}

struct Rig {
    net: Net,
    client: SocketClient<'static, Ring, W>,
    services: Services,
}

impl Rig {
    fn new() -> Rig {
        // Sockets enough for every listener's backlog (echo's is 40), as in the
        // default system.
        let mut net = Net::pair_with(Sizes {
            tcp_sockets: 96,
            tcp_buffer: 4096,
            ..Sizes::default()
        });
        let end = net.nodes[0].apps[0].end.take().unwrap();
        let pool = net.nodes[0].apps[0].pool;
        let mut client = SocketClient::new(end, pool);
        let mut services = Services::new();
        services.start(&mut client).unwrap();
        client.flush();
        let mut rig = Rig {
            net,
            client,
            services,
        };
        rig.run_until(2000, |r| r.services.ready());
        assert!(rig.services.ready(), "services set up");
        rig
    }

    /// One step of the network, then the application reacts to every answer.
    fn step(&mut self) {
        self.net.step();
        let mut copy = [0u8; MAX_SLOT_BYTES];
        while let Some(answer) = self.client.next_answer(&mut copy).unwrap() {
            self.services
                .on_answer(&mut self.client, &answer, &FixedClock)
                .unwrap();
        }
        self.client.flush();
    }

    fn run_until(&mut self, limit: usize, mut done: impl FnMut(&mut Rig) -> bool) -> bool {
        for _ in 0..limit {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    /// A call from node B's test client, stepping the whole rig.
    fn call(&mut self, request: SocketRequest<'_>) -> Answer {
        let id = self.net.nodes[1].apps[0].send(request);
        let mut answer = None;
        self.run_until(5_000, |rig| {
            answer = rig.net.nodes[1].apps[0].take(id);
            answer.is_some()
        });
        answer.unwrap_or_else(|| panic!("no answer to {request:?}"))
    }

    fn connect(&mut self, port: u16) -> u32 {
        let s = self
            .call(SocketRequest::Open {
                protocol: Protocol::Tcp,
            })
            .socket();
        assert_eq!(
            self.call(SocketRequest::Connect {
                socket: s,
                remote: at(IP_A, port)
            }),
            Answer::Ok(OwnedReply::Done)
        );
        s
    }

    fn send_all(&mut self, socket: u32, data: &[u8]) {
        let mut at = 0;
        while at < data.len() {
            let end = (at + 1500).min(data.len());
            match self.call(SocketRequest::Send {
                socket,
                to: None,
                payload: &data[at..end],
            }) {
                Answer::Ok(OwnedReply::Sent(n)) => at += n as usize,
                other => panic!("send: {other:?}"),
            }
        }
    }

    fn receive_to_end(&mut self, socket: u32) -> Vec<u8> {
        let mut all = Vec::new();
        loop {
            let chunk = self
                .call(SocketRequest::Receive {
                    socket,
                    max_len: 2000,
                })
                .data();
            if chunk.is_empty() {
                return all;
            }
            all.extend(chunk);
        }
    }
}

#[test]
fn udp_echo_and_counters() {
    let mut rig = Rig::new();
    let s = rig
        .call(SocketRequest::Open {
            protocol: Protocol::Udp,
        })
        .socket();
    for size in [1usize, 100, 1472] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 3) as u8).collect();
        rig.call(SocketRequest::Send {
            socket: s,
            to: Some(at(IP_A, 7)),
            payload: &payload,
        });
        assert_eq!(
            rig.call(SocketRequest::Receive {
                socket: s,
                max_len: 2000
            })
            .data(),
            payload
        );
    }
    rig.call(SocketRequest::Send {
        socket: s,
        to: Some(at(IP_A, 9000)),
        payload: b"?",
    });
    let line = rig
        .call(SocketRequest::Receive {
            socket: s,
            max_len: 200,
        })
        .data();
    assert_eq!(
        String::from_utf8(line).unwrap(),
        "tsc=123456 idle_tsc=789 udp_rx=3\n"
    );
}

#[test]
fn tcp_echo_sink_and_source() {
    let mut rig = Rig::new();
    // Echo: 64 KiB both ways at once (send some, read what came back).
    let echo = rig.connect(7);
    let data: Vec<u8> = (0..65536u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut back = Vec::new();
    let mut at = 0;
    while back.len() < data.len() {
        if at < data.len() {
            let end = (at + 1500).min(data.len());
            if let Answer::Ok(OwnedReply::Sent(n)) = rig.call(SocketRequest::Send {
                socket: echo,
                to: None,
                payload: &data[at..end],
            }) {
                at += n as usize;
            }
        }
        back.extend(
            rig.call(SocketRequest::Receive {
                socket: echo,
                max_len: 2000,
            })
            .data(),
        );
    }
    assert_eq!(back, data);
    rig.call(SocketRequest::Close { socket: echo });
    // Sink: the count comes back after our end of stream.
    let sink = rig.connect(9);
    rig.send_all(sink, &vec![0x5a; 100_000]);
    // Shut down our sending side: the test client closes (FIN), then reads.
    rig.call(SocketRequest::Close { socket: sink });
    // (The stack's close is a full close; a half-close is what the host
    // tests check with real clients.)
    // Source: ask for 50,000 bytes of the pattern.
    let source = rig.connect(19);
    rig.send_all(source, &50_000u64.to_le_bytes());
    let got = rig.receive_to_end(source);
    let mut want = vec![0u8; 50_000];
    pattern(0, &mut want);
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    assert!(rig.services.stats().accepted >= 3);
}
