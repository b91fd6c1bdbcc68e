//! Reads the wire capture QEMU's `filter-dump` writes (classic pcap, Ethernet) and counts the
//! TCP segments that carried data between two readings of the guest's counters, which appear on
//! the wire as datagrams to UDP port 9000 and so mark the interval exactly.

use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, TcpPacket, UdpPacket,
};

/// The pcap file magic in the byte order of the machine that wrote it (microsecond stamps).
const MAGIC: u32 = 0xa1b2_c3d4;
const GLOBAL_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;
/// LINKTYPE_ETHERNET.
const LINK_ETHERNET: u32 = 1;
/// The contract's counters port: requests to it are the interval markers.
pub const COUNTERS_PORT: u16 = 9000;

/// What one captured frame is, as far as the counting needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A request to the counters port (a marker).
    CountersRequest,
    /// A TCP segment with `payload` bytes between the two ports.
    Tcp {
        src: u16,
        dst: u16,
        payload: usize,
    },
    Other,
}

/// The frames of a capture, in order.
pub fn frames(capture: &[u8]) -> Result<Vec<Frame>, String> {
    if capture.len() < GLOBAL_HEADER {
        return Err("the capture is shorter than a pcap header".into());
    }
    let u32_at = |at: usize| u32::from_le_bytes(capture[at..at + 4].try_into().unwrap());
    if u32_at(0) != MAGIC {
        return Err(format!(
            "not a little-endian pcap file (magic {:#x})",
            u32_at(0)
        ));
    }
    if u32_at(20) != LINK_ETHERNET {
        return Err(format!("link type {} is not Ethernet", u32_at(20)));
    }
    let mut out = Vec::new();
    let mut at = GLOBAL_HEADER;
    while at + RECORD_HEADER <= capture.len() {
        let captured = u32_at(at + 8) as usize;
        let start = at + RECORD_HEADER;
        let Some(data) = capture.get(start..start + captured) else {
            break; // a record cut short when QEMU stopped
        };
        out.push(classify(data));
        at = start + captured;
    }
    Ok(out)
}

/// Classifies a frame from its headers alone (the capture keeps only the first bytes).
fn classify(data: &[u8]) -> Frame {
    let Ok(eth) = EthernetFrame::new_checked(data) else {
        return Frame::Other;
    };
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return Frame::Other;
    }
    let ip_bytes = eth.payload();
    if ip_bytes.len() < 20 {
        return Frame::Other;
    }
    let ip = Ipv4Packet::new_unchecked(ip_bytes);
    let header = ip.header_len() as usize;
    let total = ip.total_len() as usize;
    if header < 20 || total < header || ip_bytes.len() < header + 8 {
        return Frame::Other;
    }
    let transport = &ip_bytes[header..];
    match ip.next_header() {
        IpProtocol::Udp => {
            let udp = UdpPacket::new_unchecked(transport);
            if udp.dst_port() == COUNTERS_PORT {
                Frame::CountersRequest
            } else {
                Frame::Other
            }
        }
        IpProtocol::Tcp if transport.len() >= 20 => {
            let tcp = TcpPacket::new_unchecked(transport);
            let tcp_header = tcp.header_len() as usize;
            Frame::Tcp {
                src: tcp.src_port(),
                dst: tcp.dst_port(),
                payload: (total - header).saturating_sub(tcp_header),
            }
        }
        _ => Frame::Other,
    }
}

/// Counts the frames matching `wanted` between marker `first` and marker `first + 1` (markers
/// counted from 0 in capture order).
pub fn count_between_markers(
    frames: &[Frame],
    first: usize,
    wanted: impl Fn(&Frame) -> bool,
) -> Result<u64, String> {
    let markers: Vec<usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| **f == Frame::CountersRequest)
        .map(|(i, _)| i)
        .collect();
    let (Some(&from), Some(&to)) = (markers.get(first), markers.get(first + 1)) else {
        return Err(format!(
            "the capture has {} counters requests; markers {first} and {} were wanted",
            markers.len(),
            first + 1
        ));
    };
    Ok(frames[from..to].iter().filter(|f| wanted(f)).count() as u64)
}

/// TCP segments that carried data to guest port `port`.
pub fn data_to(port: u16) -> impl Fn(&Frame) -> bool {
    move |f| matches!(f, Frame::Tcp { dst, payload, .. } if *dst == port && *payload > 0)
}

/// TCP segments that carried data from guest port `port`.
pub fn data_from(port: u16) -> impl Fn(&Frame) -> bool {
    move |f| matches!(f, Frame::Tcp { src, payload, .. } if *src == port && *payload > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetAddress, EthernetRepr, IpAddress, Ipv4Address, Ipv4Repr, TcpControl, TcpRepr,
        TcpSeqNumber, UdpRepr,
    };

    const HOST: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
    const GUEST: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);

    fn ethernet(ip: Ipv4Repr, transport_len: usize, emit: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let eth = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut buf = vec![0u8; eth.buffer_len() + ip.buffer_len() + transport_len];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.emit(&mut frame);
        let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
        ip.emit(&mut packet, &ChecksumCapabilities::default());
        emit(packet.payload_mut());
        buf
    }

    fn tcp_frame(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: src,
            dst_port: dst,
            control: TcpControl::None,
            seq_number: TcpSeqNumber(1),
            ack_number: None,
            window_len: 1000,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        };
        let ip = Ipv4Repr {
            src_addr: HOST,
            dst_addr: GUEST,
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        ethernet(ip, tcp.buffer_len(), |b| {
            tcp.emit(
                &mut TcpPacket::new_unchecked(b),
                &IpAddress::Ipv4(HOST),
                &IpAddress::Ipv4(GUEST),
                &ChecksumCapabilities::default(),
            )
        })
    }

    fn udp_frame(dst: u16) -> Vec<u8> {
        let udp = UdpRepr {
            src_port: 5555,
            dst_port: dst,
        };
        let ip = Ipv4Repr {
            src_addr: HOST,
            dst_addr: GUEST,
            next_header: IpProtocol::Udp,
            payload_len: udp.header_len() + 4,
            hop_limit: 64,
        };
        ethernet(ip, udp.header_len() + 4, |b| {
            udp.emit(
                &mut UdpPacket::new_unchecked(b),
                &IpAddress::Ipv4(HOST),
                &IpAddress::Ipv4(GUEST),
                4,
                |p| p.copy_from_slice(b"ping"),
                &ChecksumCapabilities::default(),
            )
        })
    }

    /// A pcap file of `frames`, each cut to `keep` bytes as filter-dump's maxlen does.
    fn capture(frames: &[Vec<u8>], keep: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        out.extend_from_slice(&4u16.to_le_bytes());
        for v in [0u32, 0, 65535, LINK_ETHERNET] {
            out.extend_from_slice(&v.to_le_bytes()); // zone, accuracy, snap length, link type
        }
        for f in frames {
            let kept = f.len().min(keep);
            for v in [0u32, 0, kept as u32, f.len() as u32] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&f[..kept]);
        }
        out
    }

    #[test]
    fn segments_with_data_are_counted_between_markers_even_when_cut_short() {
        let data = vec![7u8; 1448];
        let wire = [
            tcp_frame(40000, 9, &data), // before the first marker: not counted
            udp_frame(COUNTERS_PORT),
            tcp_frame(40000, 9, &data),
            tcp_frame(9, 40000, &[]), // an ACK: no data
            udp_frame(7),
            tcp_frame(40000, 9, &data),
            udp_frame(COUNTERS_PORT),
            tcp_frame(40000, 9, &data), // after the second marker
        ];
        let frames = frames(&capture(&wire, 134)).unwrap();
        assert_eq!(frames.len(), 8);
        assert_eq!(
            frames[2],
            Frame::Tcp {
                src: 40000,
                dst: 9,
                payload: 1448
            }
        );
        assert_eq!(count_between_markers(&frames, 0, data_to(9)), Ok(2));
        assert_eq!(count_between_markers(&frames, 0, data_from(9)), Ok(0));
        assert!(count_between_markers(&frames, 1, data_to(9)).is_err());
    }

    #[test]
    fn a_truncated_last_record_is_ignored_and_bad_files_refused() {
        let mut file = capture(&[udp_frame(COUNTERS_PORT), udp_frame(COUNTERS_PORT)], 134);
        file.truncate(file.len() - 3);
        assert_eq!(frames(&file).unwrap().len(), 1);
        assert!(frames(&[0u8; 10]).is_err());
        let mut wrong = capture(&[], 134);
        wrong[0] = 0;
        assert!(frames(&wrong).unwrap_err().contains("magic"));
    }
}
