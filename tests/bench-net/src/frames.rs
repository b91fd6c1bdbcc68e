//! The frame generator's side of the wire, built and parsed with smoltcp's wire module: it plays
//! the gateway of QEMU's user network (its address and a MAC of its own), answers the guest's ARP
//! requests and DHCP (so a guest that asks for an address gets the one the user network would
//! give it), and sends and recognises UDP echo test frames.

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress,
    EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet,
    Ipv4Repr, UdpPacket, UdpRepr, DHCP_CLIENT_PORT, DHCP_SERVER_PORT,
};

use crate::guest::{GATEWAY_IP, GUEST_IP, GUEST_MAC, PREFIX_LEN};

/// The generator's MAC: locally administered, not the guest's.
pub const GENERATOR_MAC: EthernetAddress = EthernetAddress([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
/// The generator's UDP port for test frames.
pub const GENERATOR_PORT: u16 = 40_007;
/// The guest's echo port (the contract's).
pub const ECHO_PORT: u16 = 7;
/// Test frames carry this first, so stray datagrams are never counted.
const TEST_MAGIC: [u8; 4] = *b"WBNL";
/// Test payload: magic, step, sequence, padding to a 60-byte frame (the Ethernet minimum
/// without the CRC): 14 + 20 + 8 + 18.
pub const TEST_PAYLOAD: usize = 18;
/// DHCP lease the generator grants: longer than any run.
const LEASE_SECONDS: u32 = 24 * 3600;

/// Checksums computed on transmit and checked on receive, as a real peer would.
fn checksums() -> ChecksumCapabilities {
    ChecksumCapabilities::default()
}

fn guest_mac() -> EthernetAddress {
    EthernetAddress(GUEST_MAC)
}

/// An IPv4/UDP frame from `src` (a MAC and an address) to `dst`.
fn udp_frame(
    src: (EthernetAddress, Ipv4Address),
    dst: (EthernetAddress, Ipv4Address),
    udp: UdpRepr,
    payload: &[u8],
) -> Vec<u8> {
    let eth = EthernetRepr {
        src_addr: src.0,
        dst_addr: dst.0,
        ethertype: EthernetProtocol::Ipv4,
    };
    let ip = Ipv4Repr {
        src_addr: src.1,
        dst_addr: dst.1,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + payload.len(),
        hop_limit: 64,
    };
    let mut buf = vec![0u8; eth.buffer_len() + ip.buffer_len() + ip.payload_len];
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
    eth.emit(&mut frame);
    let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
    ip.emit(&mut packet, &checksums());
    udp.emit(
        &mut UdpPacket::new_unchecked(packet.payload_mut()),
        &IpAddress::Ipv4(src.1),
        &IpAddress::Ipv4(dst.1),
        payload.len(),
        |p| p.copy_from_slice(payload),
        &checksums(),
    );
    buf
}

/// The generator's own MAC and address, the source of everything it sends.
const GENERATOR: (EthernetAddress, Ipv4Address) = (GENERATOR_MAC, GATEWAY_IP);

/// A UDP echo test frame to the guest, tagged with a step and a sequence number.
pub fn test_frame(step: u32, seq: u64) -> Vec<u8> {
    let mut payload = [0u8; TEST_PAYLOAD];
    payload[..4].copy_from_slice(&TEST_MAGIC);
    payload[4..8].copy_from_slice(&step.to_le_bytes());
    payload[8..16].copy_from_slice(&seq.to_le_bytes());
    udp_frame(
        GENERATOR,
        (guest_mac(), GUEST_IP),
        UdpRepr {
            src_port: GENERATOR_PORT,
            dst_port: ECHO_PORT,
        },
        &payload,
    )
}

/// What a frame from the guest is, and what the generator answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The echo of a test frame of `step`.
    Echo {
        step: u32,
    },
    /// Something that wants this reply frame (ARP, DHCP).
    NeedsReply(Vec<u8>),
    Other,
}

/// Classifies a frame the guest sent.
pub fn receive(data: &[u8]) -> Received {
    let Ok(frame) = EthernetFrame::new_checked(data) else {
        return Received::Other;
    };
    match frame.ethertype() {
        EthernetProtocol::Arp => arp(frame.payload()),
        EthernetProtocol::Ipv4 => ipv4(frame.payload()),
        _ => Received::Other,
    }
}

/// Answers every ARP request for an address other than the guest's own with the generator's
/// MAC: the generator is the gateway and everything beyond it.
fn arp(data: &[u8]) -> Received {
    let Ok(packet) = ArpPacket::new_checked(data) else {
        return Received::Other;
    };
    let Ok(ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr,
        source_protocol_addr,
        target_protocol_addr,
        ..
    }) = ArpRepr::parse(&packet)
    else {
        return Received::Other;
    };
    if target_protocol_addr == GUEST_IP || target_protocol_addr == source_protocol_addr {
        return Received::Other; // address probes and gratuitous ARP
    }
    let reply = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Reply,
        source_hardware_addr: GENERATOR_MAC,
        source_protocol_addr: target_protocol_addr,
        target_hardware_addr: source_hardware_addr,
        target_protocol_addr: source_protocol_addr,
    };
    let eth = EthernetRepr {
        src_addr: GENERATOR_MAC,
        dst_addr: source_hardware_addr,
        ethertype: EthernetProtocol::Arp,
    };
    let mut buf = vec![0u8; eth.buffer_len() + reply.buffer_len()];
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
    eth.emit(&mut frame);
    reply.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    Received::NeedsReply(buf)
}

fn ipv4(data: &[u8]) -> Received {
    let Ok(packet) = Ipv4Packet::new_checked(data) else {
        return Received::Other;
    };
    let Ok(ip) = Ipv4Repr::parse(&packet, &checksums()) else {
        return Received::Other;
    };
    if ip.next_header != IpProtocol::Udp {
        return Received::Other;
    }
    let Ok(udp_packet) = UdpPacket::new_checked(packet.payload()) else {
        return Received::Other;
    };
    let src = IpAddress::Ipv4(ip.src_addr);
    let dst = IpAddress::Ipv4(ip.dst_addr);
    let Ok(udp) = UdpRepr::parse(&udp_packet, &src, &dst, &checksums()) else {
        return Received::Other;
    };
    let payload = udp_packet.payload();
    if udp.src_port == ECHO_PORT && udp.dst_port == GENERATOR_PORT {
        if payload.len() == TEST_PAYLOAD && payload[..4] == TEST_MAGIC {
            return Received::Echo {
                step: u32::from_le_bytes(payload[4..8].try_into().unwrap()),
            };
        }
        return Received::Other;
    }
    if udp.src_port == DHCP_CLIENT_PORT && udp.dst_port == DHCP_SERVER_PORT {
        return dhcp(payload);
    }
    Received::Other
}

/// DISCOVER gets an OFFER and REQUEST an ACK, both of the user network's guest address.
fn dhcp(data: &[u8]) -> Received {
    let Ok(packet) = DhcpPacket::new_checked(data) else {
        return Received::Other;
    };
    let Ok(request) = DhcpRepr::parse(&packet) else {
        return Received::Other;
    };
    let message_type = match request.message_type {
        DhcpMessageType::Discover => DhcpMessageType::Offer,
        DhcpMessageType::Request => DhcpMessageType::Ack,
        _ => return Received::Other,
    };
    let mask = Ipv4Address::from_bits(u32::MAX << (32 - u32::from(PREFIX_LEN)));
    let reply = DhcpRepr {
        message_type,
        transaction_id: request.transaction_id,
        secs: 0,
        client_hardware_address: request.client_hardware_address,
        client_ip: Ipv4Address::UNSPECIFIED,
        your_ip: GUEST_IP,
        server_ip: GATEWAY_IP,
        router: Some(GATEWAY_IP),
        subnet_mask: Some(mask),
        relay_agent_ip: Ipv4Address::UNSPECIFIED,
        broadcast: false,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(GATEWAY_IP),
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: Some(LEASE_SECONDS),
        renew_duration: None,
        rebind_duration: None,
        additional_options: &[],
    };
    let mut payload = vec![0u8; reply.buffer_len()];
    if reply
        .emit(&mut DhcpPacket::new_unchecked(&mut payload[..]))
        .is_err()
    {
        return Received::Other;
    }
    Received::NeedsReply(udp_frame(
        GENERATOR,
        (EthernetAddress::BROADCAST, Ipv4Address::BROADCAST),
        UdpRepr {
            src_port: DHCP_SERVER_PORT,
            dst_port: DHCP_CLIENT_PORT,
        },
        &payload,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as the guest would send it.
    fn from_guest(
        dst_mac: EthernetAddress,
        dst_ip: Ipv4Address,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        udp_frame(
            (guest_mac(), GUEST_IP),
            (dst_mac, dst_ip),
            UdpRepr { src_port, dst_port },
            payload,
        )
    }

    #[test]
    fn test_frames_are_minimum_size_and_their_echo_is_recognised() {
        let frame = test_frame(3, 99);
        assert_eq!(frame.len(), 60);
        let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
        assert_eq!(eth.dst_addr(), guest_mac());
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        let payload = UdpPacket::new_checked(ip.payload())
            .unwrap()
            .payload()
            .to_vec();
        let echo = from_guest(
            GENERATOR_MAC,
            GATEWAY_IP,
            ECHO_PORT,
            GENERATOR_PORT,
            &payload,
        );
        assert_eq!(receive(&echo), Received::Echo { step: 3 });
        // The same bytes from another port, or with a broken checksum, are not an echo.
        let other = from_guest(GENERATOR_MAC, GATEWAY_IP, 8, GENERATOR_PORT, &payload);
        assert_eq!(receive(&other), Received::Other);
        let mut broken = echo.clone();
        *broken.last_mut().unwrap() ^= 1;
        assert_eq!(receive(&broken), Received::Other);
    }

    #[test]
    fn arp_requests_for_the_gateway_get_the_generator_mac() {
        let request = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: guest_mac(),
            source_protocol_addr: GUEST_IP,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: GATEWAY_IP,
        };
        let eth = EthernetRepr {
            src_addr: guest_mac(),
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EthernetProtocol::Arp,
        };
        let mut buf = vec![0u8; 14 + request.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.emit(&mut frame);
        request.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
        let Received::NeedsReply(reply) = receive(&buf) else {
            panic!("no ARP reply");
        };
        let frame = EthernetFrame::new_checked(&reply[..]).unwrap();
        assert_eq!(frame.dst_addr(), guest_mac());
        let repr = ArpRepr::parse(&ArpPacket::new_checked(frame.payload()).unwrap()).unwrap();
        assert_eq!(
            repr,
            ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Reply,
                source_hardware_addr: GENERATOR_MAC,
                source_protocol_addr: GATEWAY_IP,
                target_hardware_addr: guest_mac(),
                target_protocol_addr: GUEST_IP,
            }
        );
    }

    #[test]
    fn dhcp_discover_gets_an_offer_of_the_guest_address() {
        let discover = DhcpRepr {
            message_type: DhcpMessageType::Discover,
            transaction_id: 0x1234,
            secs: 0,
            client_hardware_address: guest_mac(),
            client_ip: Ipv4Address::UNSPECIFIED,
            your_ip: Ipv4Address::UNSPECIFIED,
            server_ip: Ipv4Address::UNSPECIFIED,
            router: None,
            subnet_mask: None,
            relay_agent_ip: Ipv4Address::UNSPECIFIED,
            broadcast: false,
            requested_ip: None,
            client_identifier: Some(guest_mac()),
            server_identifier: None,
            parameter_request_list: Some(&[1, 3, 6]),
            dns_servers: None,
            max_size: None,
            lease_duration: None,
            renew_duration: None,
            rebind_duration: None,
            additional_options: &[],
        };
        let mut payload = vec![0u8; discover.buffer_len()];
        discover
            .emit(&mut DhcpPacket::new_unchecked(&mut payload[..]))
            .unwrap();
        let frame = from_guest(
            EthernetAddress::BROADCAST,
            Ipv4Address::BROADCAST,
            DHCP_CLIENT_PORT,
            DHCP_SERVER_PORT,
            &payload,
        );
        let Received::NeedsReply(reply) = receive(&frame) else {
            panic!("no DHCP offer");
        };
        let eth = EthernetFrame::new_checked(&reply[..]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(
            (udp.src_port(), udp.dst_port()),
            (DHCP_SERVER_PORT, DHCP_CLIENT_PORT)
        );
        let packet = DhcpPacket::new_checked(udp.payload()).unwrap();
        let offer = DhcpRepr::parse(&packet).unwrap();
        assert_eq!(offer.message_type, DhcpMessageType::Offer);
        assert_eq!(offer.transaction_id, 0x1234);
        assert_eq!(offer.your_ip, GUEST_IP);
        assert_eq!(offer.router, Some(GATEWAY_IP));
        assert_eq!(offer.subnet_mask, Some(Ipv4Address::new(255, 255, 255, 0)));
    }
}
