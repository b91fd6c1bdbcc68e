//! Frame screening: every received frame is checked here, on the stack's
//! private copy, before smoltcp sees it. A frame that is malformed or that
//! the stack does not support is dropped and counted under exactly one
//! reason ([`Counter`]`::Drop*`); smoltcp then only ever parses frames whose
//! lengths, header fields and checksums are already known to be right, and
//! the status page can say *why* traffic was dropped, which smoltcp alone
//! does not.
//!
//! The checks follow RFC 791 (IPv4), RFC 826 (ARP), RFC 768 (UDP), RFC 792
//! (ICMP) and RFC 9293 (TCP); flag combinations that no conforming TCP sends
//! (the "Christmas tree", null and SYN+FIN scans) are dropped rather than
//! answered, so that port scans learn less.

use crate::counters::Counter;

/// Ethernet header bytes (no VLAN tag).
pub const ETHERNET_HEADER: usize = 14;
/// Largest Ethernet frame the stack accepts: 1500 bytes of payload plus the
/// header; the FCS is stripped by the NIC.
pub const MAX_FRAME: usize = 1514;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;

const IP_PROTOCOL_ICMP: u8 = 1;
const IP_PROTOCOL_TCP: u8 = 6;
const IP_PROTOCOL_UDP: u8 = 17;

const IPV4_MIN_HEADER: usize = 20;
const UDP_HEADER: usize = 8;
const ICMP_HEADER: usize = 8;
const TCP_MIN_HEADER: usize = 20;
const ARP_ETHERNET_IPV4: usize = 28;

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_URG: u8 = 0x20;

/// Whether the NIC already checked the checksums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NicChecksum {
    /// Not checked: the stack checks every checksum.
    Unchecked,
    /// The NIC verified the IPv4 and TCP/UDP checksums.
    Verified,
}

/// What a frame that passed screening carries, as far as the stack's own
/// counters care (smoltcp parses it again for real).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Summary {
    /// A TCP segment to `port`; `syn` for a connection request (SYN without ACK).
    Tcp {
        /// Destination port.
        port: u16,
        /// SYN set and ACK clear.
        syn: bool,
        /// SYN, FIN or RST set: the segment may change a connection's state
        /// beyond moving data.
        control: bool,
    },
    /// A UDP datagram to `port`.
    Udp {
        /// Destination port.
        port: u16,
        /// Sent to the broadcast address (DHCP).
        broadcast: bool,
    },
    /// ARP, ICMP: nothing the socket tables care about.
    Other,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The ones'-complement sum of `bytes` (RFC 1071), folded, added to `sum`.
fn ones_complement_sum(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for pair in &mut chunks {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// True if the checksum over `bytes` (which contains its own checksum
/// field) plus `seed` verifies.
fn checksum_ok(seed: u32, bytes: &[u8]) -> bool {
    ones_complement_sum(seed, bytes) == 0xffff
}

/// The pseudo-header sum of RFC 768/9293 for an IPv4 packet.
fn pseudo_header(ip: &[u8], protocol: u8, length: usize) -> u32 {
    let sum = ones_complement_sum(0, &ip[12..20]);
    ones_complement_sum(sum, &[0, protocol, (length >> 8) as u8, length as u8])
}

/// Checks `frame` for a station with address `mac`. `Ok` carries what the
/// stack's counters need; `Err` the one reason it is dropped.
pub fn screen(frame: &[u8], mac: [u8; 6], nic: NicChecksum) -> Result<Summary, Counter> {
    if frame.len() < ETHERNET_HEADER {
        return Err(Counter::DropRunt);
    }
    let ethertype = be16(frame, 12);
    if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        return Err(Counter::DropVlan);
    }
    if frame.len() > MAX_FRAME {
        return Err(Counter::DropOversize);
    }
    let destination = &frame[0..6];
    if destination != mac && destination != [0xff; 6] {
        return Err(Counter::DropNotForUs);
    }
    if frame[6] & 1 != 0 {
        return Err(Counter::DropBadSourceMac);
    }
    let payload = &frame[ETHERNET_HEADER..];
    match ethertype {
        ETHERTYPE_ARP => screen_arp(payload).map(|()| Summary::Other),
        ETHERTYPE_IPV4 => screen_ipv4(payload, nic),
        _ => Err(Counter::DropEthertype),
    }
}

fn screen_arp(arp: &[u8]) -> Result<(), Counter> {
    if arp.len() < ARP_ETHERNET_IPV4 {
        return Err(Counter::DropArpMalformed);
    }
    let hardware = be16(arp, 0);
    let protocol = be16(arp, 2);
    let operation = be16(arp, 6);
    let sender_mac = &arp[8..14];
    if hardware != 1
        || protocol != ETHERTYPE_IPV4
        || arp[4] != 6
        || arp[5] != 4
        || !(operation == 1 || operation == 2)
        || sender_mac[0] & 1 != 0
    {
        return Err(Counter::DropArpMalformed);
    }
    Ok(())
}

fn screen_ipv4(ip: &[u8], nic: NicChecksum) -> Result<Summary, Counter> {
    if ip.len() < IPV4_MIN_HEADER {
        return Err(Counter::DropIpv4Truncated);
    }
    let version = ip[0] >> 4;
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    if version != 4 || header_len < IPV4_MIN_HEADER {
        return Err(Counter::DropIpv4BadHeader);
    }
    if header_len > IPV4_MIN_HEADER {
        return Err(Counter::DropIpv4Options);
    }
    let total_len = usize::from(be16(ip, 2));
    if total_len < header_len {
        return Err(Counter::DropIpv4BadHeader);
    }
    if total_len > ip.len() {
        return Err(Counter::DropIpv4Truncated);
    }
    if nic == NicChecksum::Unchecked && !checksum_ok(0, &ip[..header_len]) {
        return Err(Counter::DropIpv4Checksum);
    }
    let more_fragments = ip[6] & 0x20 != 0;
    let fragment_offset = be16(ip, 6) & 0x1fff;
    if more_fragments || fragment_offset != 0 {
        return Err(Counter::DropIpv4Fragment);
    }
    let source = &ip[12..16];
    if source[0] >= 224 || source[0] == 127 || source == [0; 4] {
        return Err(Counter::DropIpv4BadSource);
    }
    let broadcast = ip[16..20] == [0xff; 4];
    let packet = &ip[..total_len];
    let body = &packet[header_len..];
    match ip[9] {
        IP_PROTOCOL_ICMP => {
            if body.len() < ICMP_HEADER || !checksum_ok(0, body) {
                return Err(Counter::DropIcmpMalformed);
            }
            Ok(Summary::Other)
        }
        IP_PROTOCOL_UDP => {
            if body.len() < UDP_HEADER {
                return Err(Counter::DropUdpTruncated);
            }
            let length = usize::from(be16(body, 4));
            if length < UDP_HEADER || length > body.len() {
                return Err(Counter::DropUdpTruncated);
            }
            let datagram = &body[..length];
            // A zero checksum means "not computed" in IPv4 (RFC 768).
            if nic == NicChecksum::Unchecked
                && be16(datagram, 6) != 0
                && !checksum_ok(pseudo_header(packet, IP_PROTOCOL_UDP, length), datagram)
            {
                return Err(Counter::DropUdpChecksum);
            }
            Ok(Summary::Udp {
                port: be16(datagram, 2),
                broadcast,
            })
        }
        IP_PROTOCOL_TCP => {
            if body.len() < TCP_MIN_HEADER {
                return Err(Counter::DropTcpTruncated);
            }
            let data_offset = usize::from(body[12] >> 4) * 4;
            if data_offset < TCP_MIN_HEADER || data_offset > body.len() {
                return Err(Counter::DropTcpTruncated);
            }
            if nic == NicChecksum::Unchecked
                && !checksum_ok(pseudo_header(packet, IP_PROTOCOL_TCP, body.len()), body)
            {
                return Err(Counter::DropTcpChecksum);
            }
            let flags = body[13];
            let syn = flags & TCP_SYN != 0;
            let ack = flags & TCP_ACK != 0;
            let bad = (syn && flags & (TCP_FIN | TCP_RST) != 0)
                || flags & (TCP_FIN | TCP_SYN | TCP_RST | TCP_ACK) == 0
                || (!ack && flags & (TCP_FIN | TCP_PSH | TCP_URG) != 0);
            if bad {
                return Err(Counter::DropTcpFlags);
            }
            Ok(Summary::Tcp {
                port: be16(body, 2),
                syn: syn && !ack,
                control: flags & (TCP_SYN | TCP_FIN | TCP_RST) != 0,
            })
        }
        _ => Err(Counter::DropIpProtocol),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 section 3: the sum of these words is 0xddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(ones_complement_sum(0, &bytes), 0xddf2);
    }
}
