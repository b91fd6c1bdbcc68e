//! Malformed and hostile input from the wire and from applications: every
//! bad frame is dropped and counted under its reason (and nothing else is
//! counted), floods are bounded, and traffic still flows afterwards.

mod common;

use common::*;
use ward_net::counters::Counter;
use ward_proto::driver::ChecksumStatus;
use ward_proto::socket::{Protocol, SocketError, SocketRequest};

const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
const PEER_IP: [u8; 4] = [10, 0, 0, 9];

fn sum(mut acc: u32, bytes: &[u8]) -> u32 {
    for pair in bytes.chunks(2) {
        acc += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4(protocol: u8, body: &[u8]) -> Vec<u8> {
    let total = 20 + body.len();
    let mut h = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        protocol,
        0,
        0,
    ];
    h.extend_from_slice(&PEER_IP);
    h.extend_from_slice(&IP_A);
    let c = fold(sum(0, &h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(body);
    h
}

fn l4_checksum(protocol: u8, segment: &mut [u8], at: usize) {
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&PEER_IP);
    pseudo.extend_from_slice(&IP_A);
    pseudo.extend_from_slice(&[0, protocol]);
    pseudo.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    let c = fold(sum(sum(0, &pseudo), segment));
    segment[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

fn udp(dst: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut s = vec![0x30, 0x39];
    s.extend_from_slice(&dst.to_be_bytes());
    s.extend_from_slice(&(len as u16).to_be_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(payload);
    l4_checksum(17, &mut s, 6);
    ethernet(0x0800, &ipv4(17, &s))
}

fn tcp(src: u16, dst: u16, flags: u8) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&src.to_be_bytes());
    s.extend_from_slice(&dst.to_be_bytes());
    s.extend_from_slice(&1000u32.to_be_bytes());
    s.extend_from_slice(&0u32.to_be_bytes());
    s.extend_from_slice(&[0x50, flags, 0x20, 0x00, 0, 0, 0, 0]);
    l4_checksum(6, &mut s, 16);
    ethernet(0x0800, &ipv4(6, &s))
}

fn icmp_echo() -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    m.extend_from_slice(b"ping payload");
    let c = fold(sum(0, &m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ethernet(0x0800, &ipv4(1, &m))
}

fn arp_request() -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
    a.extend_from_slice(&PEER_MAC);
    a.extend_from_slice(&PEER_IP);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&IP_A);
    let mut f = ethernet(0x0806, &a);
    f[0..6].copy_from_slice(&[0xff; 6]);
    f
}

/// Every kind of bad frame, with the one counter it must land in.
fn bad_frames() -> Vec<(Counter, Vec<u8>)> {
    let good_udp = udp(7, b"hello");
    let ip_at = 14;
    let mut v = Vec::new();
    // (Frames shorter than an Ethernet header cannot reach the stack: the
    // rx protocol refuses them as a driver error, see `ward_proto::driver`.)
    let mut f = good_udp.clone();
    f[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
    v.push((Counter::DropVlan, f));
    let mut f = udp(7, &[0u8; 1472]);
    f.push(0);
    v.push((Counter::DropOversize, f));
    let mut f = good_udp.clone();
    f[0..6].copy_from_slice(&[0x02, 1, 2, 3, 4, 5]);
    v.push((Counter::DropNotForUs, f));
    let mut f = good_udp.clone();
    f[6] = 0x01;
    v.push((Counter::DropBadSourceMac, f));
    v.push((Counter::DropEthertype, ethernet(0x86dd, &[0u8; 60])));
    let mut f = arp_request();
    f[14 + 4] = 8;
    v.push((Counter::DropArpMalformed, f));
    v.push((Counter::DropArpMalformed, ethernet(0x0806, &[0, 1, 8, 0])));
    v.push((Counter::DropIpv4Truncated, ethernet(0x0800, &[0x45, 0, 0])));
    let mut f = good_udp.clone();
    f[ip_at + 3] += 40;
    v.push((Counter::DropIpv4Truncated, f));
    let mut f = good_udp.clone();
    f[ip_at] = 0x65;
    v.push((Counter::DropIpv4BadHeader, f));
    let mut f = good_udp.clone();
    f[ip_at] = 0x44;
    v.push((Counter::DropIpv4BadHeader, f));
    let mut f = good_udp.clone();
    f[ip_at] = 0x46;
    v.push((Counter::DropIpv4Options, f));
    let mut f = good_udp.clone();
    f[ip_at + 10] ^= 0xff;
    v.push((Counter::DropIpv4Checksum, f));
    let mut f = good_udp.clone();
    f[ip_at + 6] = 0x20; // more fragments
    let c = fold(sum(0, &{
        let mut h = f[ip_at..ip_at + 20].to_vec();
        h[10] = 0;
        h[11] = 0;
        h
    }));
    f[ip_at + 10..ip_at + 12].copy_from_slice(&c.to_be_bytes());
    v.push((Counter::DropIpv4Fragment, f));
    let mut f = good_udp.clone();
    f[ip_at + 12] = 224;
    let c = fold(sum(0, &{
        let mut h = f[ip_at..ip_at + 20].to_vec();
        h[10] = 0;
        h[11] = 0;
        h
    }));
    f[ip_at + 10..ip_at + 12].copy_from_slice(&c.to_be_bytes());
    v.push((Counter::DropIpv4BadSource, f));
    v.push((
        Counter::DropIpProtocol,
        ethernet(0x0800, &ipv4(47, &[0u8; 8])),
    ));
    let mut f = icmp_echo();
    let last = f.len() - 1;
    f[last] ^= 1;
    v.push((Counter::DropIcmpMalformed, f));
    v.push((
        Counter::DropIcmpMalformed,
        ethernet(0x0800, &ipv4(1, &[8, 0, 0])),
    ));
    v.push((
        Counter::DropUdpTruncated,
        ethernet(0x0800, &ipv4(17, &[0, 1, 0])),
    ));
    let mut f = good_udp.clone();
    f[ip_at + 20 + 5] = 200;
    v.push((Counter::DropUdpTruncated, f));
    let mut f = good_udp.clone();
    let last = f.len() - 1;
    f[last] ^= 0x55;
    v.push((Counter::DropUdpChecksum, f));
    v.push((
        Counter::DropTcpTruncated,
        ethernet(0x0800, &ipv4(6, &[0u8; 12])),
    ));
    let mut f = tcp(1234, 7, 0x02);
    f[ip_at + 20 + 12] = 0x20; // data offset 2 words
    v.push((Counter::DropTcpTruncated, f));
    let mut f = tcp(1234, 7, 0x02);
    f[ip_at + 20 + 17] ^= 0xff;
    v.push((Counter::DropTcpChecksum, f));
    for flags in [0x03u8, 0x06, 0x00, 0x29, 0x01] {
        v.push((Counter::DropTcpFlags, tcp(1234, 7, flags)));
    }
    v
}

#[test]
fn every_malformed_frame_is_dropped_under_its_reason() {
    let mut net = Net::pair();
    net.connected = false;
    for (reason, frame) in bad_frames() {
        let before = net.nodes[0].stack.counters().clone();
        assert!(net.nodes[0].driver.deliver(&frame));
        net.step();
        let after = net.nodes[0].stack.counters();
        assert_eq!(
            after.get(reason),
            before.get(reason) + 1,
            "{reason:?} not counted for {:02x?}",
            &frame[..frame.len().min(64)]
        );
        assert_eq!(
            after.frames_dropped(),
            before.frames_dropped() + 1,
            "{reason:?} counted twice"
        );
        assert_eq!(
            after.get(Counter::RxDelivered),
            before.get(Counter::RxDelivered)
        );
        assert!(
            net.captured[0].is_empty(),
            "{reason:?}: the stack answered a bad frame"
        );
    }
    // NIC verdicts.
    assert!(net.nodes[0]
        .driver
        .deliver_with(&udp(7, b"x"), ChecksumStatus::Failed));
    net.step();
    assert_eq!(
        net.nodes[0].stack.counters().get(Counter::DropNicChecksum),
        1
    );
    let c = net.nodes[0].stack.counters();
    assert_eq!(
        c.get(Counter::RxFrames),
        c.get(Counter::RxDelivered) + c.frames_dropped()
    );
}

#[test]
fn good_frames_pass_screening_and_get_answers() {
    let mut net = Net::pair();
    net.connected = false;
    // ARP request for our address: answered.
    assert!(net.nodes[0].driver.deliver(&arp_request()));
    net.step();
    assert_eq!(net.captured[0].len(), 1, "ARP reply");
    assert_eq!(&net.captured[0][0][12..14], &[0x08, 0x06]);
    // ICMP echo: answered with an echo reply.
    assert!(net.nodes[0].driver.deliver(&icmp_echo()));
    net.step();
    let reply = net.captured[0].last().unwrap();
    assert_eq!(reply[14 + 9], 1, "ICMP");
    assert_eq!(reply[14 + 20], 0, "echo reply");
    // UDP to a port with no socket: counted (smoltcp answers port unreachable).
    assert!(net.nodes[0].driver.deliver(&udp(5555, b"nobody")));
    net.step();
    assert_eq!(net.nodes[0].stack.counters().get(Counter::UdpNoSocket), 1);
    assert_eq!(net.nodes[0].stack.counters().frames_dropped(), 0);
}

#[test]
fn a_hundred_thousand_bad_frames_then_echo_still_works() {
    let mut net = Net::pair();
    let server = net.udp(0, 0, Some(7));
    let frames = bad_frames();
    let mut sent = 0u64;
    net.connected = false;
    while sent < 100_000 {
        for (_, f) in &frames {
            if net.nodes[0].driver.deliver(f) {
                sent += 1;
            }
        }
        net.step();
    }
    net.connected = true;
    let c = net.nodes[0].stack.counters();
    assert_eq!(c.frames_dropped(), sent);
    assert_eq!(
        c.get(Counter::RxFrames),
        c.get(Counter::RxDelivered) + c.frames_dropped()
    );
    let (rx, tx) = net.nodes[0].stack.device.nic.held();
    assert!(
        rx <= ENTRIES && tx == ENTRIES,
        "buffers leaked: rx {rx} tx {tx}"
    );
    let client = net.udp(1, 0, None);
    net.call(
        1,
        0,
        SocketRequest::Send {
            socket: client,
            to: Some(at(IP_A, 7)),
            payload: b"still here",
        },
    );
    assert_eq!(
        net.call(
            0,
            0,
            SocketRequest::Receive {
                socket: server,
                max_len: 100
            }
        )
        .data(),
        b"still here"
    );
}

#[test]
fn a_syn_flood_is_bounded_and_a_real_client_still_connects() {
    let mut net = Net::pair();
    let listener = net.listen(0, 0, 7, 4);
    // 200 SYNs from a host that never completes a handshake (its replies go nowhere).
    net.step();
    for port in 0..200u16 {
        net.nodes[0].driver.deliver(&tcp(20_000 + port, 7, 0x02));
        net.step();
    }
    let c = net.nodes[0].stack.counters();
    assert!(
        c.get(Counter::DropTcpBacklogFull) + c.get(Counter::TcpBacklogFull) >= 190,
        "{}",
        c.get(Counter::DropTcpBacklogFull)
    );
    // After the half-open limit, the listeners are free again.
    net.run_until(4_000, |_| false);
    assert!(net.nodes[0].stack.counters().get(Counter::TcpHalfOpenReset) >= 4);
    let accept = net.nodes[0].apps[0].send(SocketRequest::Accept { socket: listener });
    let (_, connected) = net.connect(1, 0, at(IP_A, 7));
    assert_eq!(connected, Answer::Ok(OwnedReply::Done));
    assert!(matches!(
        net.answer_to(0, 0, accept, 1000),
        Some(Answer::Ok(OwnedReply::Accepted(_, _)))
    ));
}

#[test]
fn garbage_requests_get_errors_and_bad_descriptors_stall_only_their_application() {
    let mut net = Net::pair();
    // Not a request at all: answered with InvalidArgument, counted.
    net.nodes[0].apps[0].send_raw(&[0xde, 0xad, 0xbe, 0xef], 77);
    net.nodes[0].apps[0].waiting.insert(77, None);
    let mut answer = None;
    net.run_until(100, |net| {
        answer = net.nodes[0].apps[0].take(77);
        answer.is_some()
    });
    assert_eq!(answer, Some(Answer::Err(SocketError::InvalidArgument)));
    assert_eq!(net.nodes[0].stack.counters().get(Counter::AppMalformed), 1);
    // Application 1 scribbles a wild head index into its own region: the
    // stack stalls its session and counts it.
    let words = net.nodes[0].apps[1].region.unwrap().words();
    let head = ward_ring::RingPairParams::control_word(
        ward_ring::RingId::Lend,
        ward_ring::ControlWord::Head,
    );
    words[head].store(10_000, std::sync::atomic::Ordering::Release);
    net.step();
    assert_eq!(
        net.nodes[0]
            .stack
            .counters()
            .get(Counter::AppProtocolErrors),
        1
    );
    net.step();
    assert_eq!(
        net.nodes[0]
            .stack
            .counters()
            .get(Counter::AppProtocolErrors),
        1,
        "stalled, not re-reported"
    );
    // Application 0 keeps working whatever 1 does.
    let s = net
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
                socket: s,
                local: any(7)
            }
        ),
        Answer::Ok(OwnedReply::Done)
    );
    // Attaching again (a restart) brings application 1 back.
    net.nodes[0].attach(1);
    let t = net
        .call(
            0,
            1,
            SocketRequest::Open {
                protocol: Protocol::Tcp,
            },
        )
        .socket();
    assert_ne!(t, 0);
}

#[test]
fn a_driver_restart_gets_every_buffer_back() {
    let mut net = Net::pair();
    let server = net.udp(0, 0, Some(7));
    // The driver holds every posted rx buffer, then dies.
    net.step();
    let (rx, _) = net.nodes[0].stack.device.nic.held();
    assert_eq!(rx, 0, "all rx buffers lent");
    // The stack re-initialises both regions with a new generation and a new driver attaches.
    let p = params();
    let node = &mut net.nodes[0];
    let rx_end = ward_ring::PairEnd::initialise_owner(node.driver.rx_region, &p, 2).unwrap();
    let tx_end = ward_ring::PairEnd::initialise_owner(node.driver.tx_region, &p, 2).unwrap();
    node.stack.driver_restarted(
        ward_net::device::DriverPair {
            end: rx_end,
            pool: node.driver.rx_pool,
        },
        ward_net::device::DriverPair {
            end: tx_end,
            pool: node.driver.tx_pool,
        },
    );
    node.driver.rx = ward_ring::PairEnd::attach_borrower(node.driver.rx_region, &p).unwrap();
    node.driver.tx = ward_ring::PairEnd::attach_borrower(node.driver.tx_region, &p).unwrap();
    node.driver.posted.clear();
    net.step();
    assert_eq!(
        net.nodes[0].stack.counters().get(Counter::DriverRestarts),
        1
    );
    let client = net.udp(1, 0, None);
    net.call(
        1,
        0,
        SocketRequest::Send {
            socket: client,
            to: Some(at(IP_A, 7)),
            payload: b"after",
        },
    );
    assert_eq!(
        net.call(
            0,
            0,
            SocketRequest::Receive {
                socket: server,
                max_len: 100
            }
        )
        .data(),
        b"after"
    );
}
