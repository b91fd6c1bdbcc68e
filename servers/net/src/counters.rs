//! What the stack counts: frames in and out, every reason a frame, a
//! descriptor or a request is dropped, and the socket limits it enforces.
//!
//! Every counter has a stable dotted name; the stack publishes them all on a
//! counter page (`ward_proto::counters`) that the status page reads. The
//! rule the tests check: every frame the driver hands over is either
//! delivered to smoltcp or counted under exactly one `drop.*` reason.

/// One counter. The discriminant is its index in [`Counters`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    /// Frames the driver handed over (good or not).
    RxFrames,
    /// Bytes in those frames.
    RxBytes,
    /// Frames that passed screening and went to smoltcp.
    RxDelivered,
    /// Frames handed to the driver to send.
    TxFrames,
    /// Bytes in those frames.
    TxBytes,
    /// Frames the driver reported sent.
    TxSent,
    /// Frames the driver reported dropped (link down, NIC error).
    TxDroppedByDriver,
    /// Times smoltcp wanted to send and every transmit buffer was lent out.
    TxNoBuffer,
    /// Receive errors the NIC reported (the buffer came back without a frame).
    DropNicError,
    /// Frames the NIC found a bad checksum in.
    DropNicChecksum,
    /// Frames shorter than an Ethernet header.
    DropRunt,
    /// Frames longer than 1514 bytes (no jumbo frames, no FCS).
    DropOversize,
    /// Frames with an 802.1Q/802.1ad VLAN tag (the stack has no VLANs).
    DropVlan,
    /// Frames addressed to another station (only in promiscuous mode).
    DropNotForUs,
    /// Frames with a source address that is multicast or broadcast.
    DropBadSourceMac,
    /// EtherTypes other than IPv4 and ARP (IPv6 included: not configured).
    DropEthertype,
    /// ARP packets that are truncated or not Ethernet/IPv4 requests or replies.
    DropArpMalformed,
    /// IPv4 packets shorter than their header or their total length.
    DropIpv4Truncated,
    /// IPv4 headers with a version other than 4 or a header length below 20.
    DropIpv4BadHeader,
    /// IPv4 headers with options (never needed here; a classic attack surface).
    DropIpv4Options,
    /// IPv4 header checksum mismatch.
    DropIpv4Checksum,
    /// IPv4 fragments (the stack does not reassemble).
    DropIpv4Fragment,
    /// IPv4 source addresses that are multicast, broadcast or unspecified.
    DropIpv4BadSource,
    /// IP protocols other than ICMP, UDP and TCP.
    DropIpProtocol,
    /// ICMP messages shorter than their header, or with a bad checksum.
    DropIcmpMalformed,
    /// UDP datagrams shorter than their header or their length field says.
    DropUdpTruncated,
    /// UDP checksum mismatch.
    DropUdpChecksum,
    /// TCP segments shorter than their header, or with a bad data offset.
    DropTcpTruncated,
    /// TCP checksum mismatch.
    DropTcpChecksum,
    /// TCP flag combinations no conforming stack sends (SYN+FIN, SYN+RST,
    /// no flags at all, FIN/PSH/URG without ACK).
    DropTcpFlags,
    /// TCP SYNs dropped because every listener of their port was busy (the
    /// client retries).
    DropTcpBacklogFull,
    /// Descriptors and messages from the driver that broke the ring protocol.
    DriverProtocolErrors,
    /// TCP SYNs to a port nobody listens on (answered with RST by smoltcp).
    TcpClosedPort,
    /// TCP SYNs that reached smoltcp for a listening port with no listener
    /// free (answered with a reset; normally the device drops them first).
    TcpBacklogFull,
    /// UDP datagrams to a port with no socket.
    UdpNoSocket,
    /// Connections accepted by applications.
    TcpAccepted,
    /// Half-open connections reset because they stayed half-open too long.
    TcpHalfOpenReset,
    /// Socket requests served.
    AppRequests,
    /// Socket requests that did not decode (answered with InvalidArgument).
    AppMalformed,
    /// Ring protocol violations by applications (bad descriptors, buffers
    /// returned twice, indices out of range).
    AppProtocolErrors,
    /// Requests refused because the stack's socket tables were full.
    AppNoResources,
    /// Application attachments (first attach and re-attach after a restart).
    AppAttaches,
    /// Times the stack re-lent its buffers to a restarted driver.
    DriverRestarts,
    /// DHCP leases obtained.
    DhcpLeases,
    /// Gauge: receive buffers lent to the driver now (the net-rx ring's occupancy).
    RingRxLent,
    /// Gauge: frames handed to the driver and not yet returned (net-tx's occupancy).
    RingTxInFlight,
    /// Gauge: application requests parked until their socket can proceed.
    AppParked,
}

impl Counter {
    /// Every counter, in index order.
    pub const ALL: [Counter; COUNTERS] = [
        Counter::RxFrames,
        Counter::RxBytes,
        Counter::RxDelivered,
        Counter::TxFrames,
        Counter::TxBytes,
        Counter::TxSent,
        Counter::TxDroppedByDriver,
        Counter::TxNoBuffer,
        Counter::DropNicError,
        Counter::DropNicChecksum,
        Counter::DropRunt,
        Counter::DropOversize,
        Counter::DropVlan,
        Counter::DropNotForUs,
        Counter::DropBadSourceMac,
        Counter::DropEthertype,
        Counter::DropArpMalformed,
        Counter::DropIpv4Truncated,
        Counter::DropIpv4BadHeader,
        Counter::DropIpv4Options,
        Counter::DropIpv4Checksum,
        Counter::DropIpv4Fragment,
        Counter::DropIpv4BadSource,
        Counter::DropIpProtocol,
        Counter::DropIcmpMalformed,
        Counter::DropUdpTruncated,
        Counter::DropUdpChecksum,
        Counter::DropTcpTruncated,
        Counter::DropTcpChecksum,
        Counter::DropTcpFlags,
        Counter::DropTcpBacklogFull,
        Counter::DriverProtocolErrors,
        Counter::TcpClosedPort,
        Counter::TcpBacklogFull,
        Counter::UdpNoSocket,
        Counter::TcpAccepted,
        Counter::TcpHalfOpenReset,
        Counter::AppRequests,
        Counter::AppMalformed,
        Counter::AppProtocolErrors,
        Counter::AppNoResources,
        Counter::AppAttaches,
        Counter::DriverRestarts,
        Counter::DhcpLeases,
        Counter::RingRxLent,
        Counter::RingTxInFlight,
        Counter::AppParked,
    ];

    /// The published name (at most 24 bytes: the counter page's limit).
    pub const fn name(self) -> &'static str {
        match self {
            Counter::RxFrames => "rx.frames",
            Counter::RxBytes => "rx.bytes",
            Counter::RxDelivered => "rx.delivered",
            Counter::TxFrames => "tx.frames",
            Counter::TxBytes => "tx.bytes",
            Counter::TxSent => "tx.sent",
            Counter::TxDroppedByDriver => "tx.dropped_by_driver",
            Counter::TxNoBuffer => "tx.no_buffer",
            Counter::DropNicError => "drop.nic_error",
            Counter::DropNicChecksum => "drop.nic_checksum",
            Counter::DropRunt => "drop.runt",
            Counter::DropOversize => "drop.oversize",
            Counter::DropVlan => "drop.vlan",
            Counter::DropNotForUs => "drop.not_for_us",
            Counter::DropBadSourceMac => "drop.bad_source_mac",
            Counter::DropEthertype => "drop.ethertype",
            Counter::DropArpMalformed => "drop.arp_malformed",
            Counter::DropIpv4Truncated => "drop.ipv4_truncated",
            Counter::DropIpv4BadHeader => "drop.ipv4_bad_header",
            Counter::DropIpv4Options => "drop.ipv4_options",
            Counter::DropIpv4Checksum => "drop.ipv4_checksum",
            Counter::DropIpv4Fragment => "drop.ipv4_fragment",
            Counter::DropIpv4BadSource => "drop.ipv4_bad_source",
            Counter::DropIpProtocol => "drop.ip_protocol",
            Counter::DropIcmpMalformed => "drop.icmp_malformed",
            Counter::DropUdpTruncated => "drop.udp_truncated",
            Counter::DropUdpChecksum => "drop.udp_checksum",
            Counter::DropTcpTruncated => "drop.tcp_truncated",
            Counter::DropTcpChecksum => "drop.tcp_checksum",
            Counter::DropTcpFlags => "drop.tcp_flags",
            Counter::DropTcpBacklogFull => "drop.tcp_backlog_full",
            Counter::DriverProtocolErrors => "driver.protocol_errors",
            Counter::TcpClosedPort => "tcp.closed_port",
            Counter::TcpBacklogFull => "tcp.backlog_full",
            Counter::UdpNoSocket => "udp.no_socket",
            Counter::TcpAccepted => "tcp.accepted",
            Counter::TcpHalfOpenReset => "tcp.half_open_reset",
            Counter::AppRequests => "app.requests",
            Counter::AppMalformed => "app.malformed",
            Counter::AppProtocolErrors => "app.protocol_errors",
            Counter::AppNoResources => "app.no_resources",
            Counter::AppAttaches => "app.attaches",
            Counter::DriverRestarts => "driver.restarts",
            Counter::DhcpLeases => "dhcp.leases",
            Counter::RingRxLent => "ring.rx_lent",
            Counter::RingTxInFlight => "ring.tx_in_flight",
            Counter::AppParked => "app.parked",
        }
    }

    /// True for the `drop.*` counters: the reasons a received frame is dropped.
    pub fn is_frame_drop(self) -> bool {
        self.name().starts_with("drop.")
    }
}

/// Number of counters.
pub const COUNTERS: usize = 47;

/// The counters' values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counters {
    values: [u64; COUNTERS],
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

impl Counters {
    /// All zero.
    pub const fn new() -> Self {
        Self {
            values: [0; COUNTERS],
        }
    }

    /// Adds one.
    #[inline]
    pub fn bump(&mut self, counter: Counter) {
        self.add(counter, 1);
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&mut self, counter: Counter, n: u64) {
        let v = &mut self.values[counter as usize];
        *v = v.wrapping_add(n);
    }

    /// Sets a gauge.
    #[inline]
    pub fn set(&mut self, counter: Counter, value: u64) {
        self.values[counter as usize] = value;
    }

    /// The value of one counter.
    pub fn get(&self, counter: Counter) -> u64 {
        self.values[counter as usize]
    }

    /// Every value, in [`Counter::ALL`] order.
    pub fn values(&self) -> &[u64; COUNTERS] {
        &self.values
    }

    /// Frames dropped, over every reason.
    pub fn frames_dropped(&self) -> u64 {
        Counter::ALL
            .iter()
            .filter(|c| c.is_frame_drop())
            .map(|c| self.get(*c))
            .sum()
    }
}

/// The names of every counter, in index order, for the counter page.
pub fn names() -> [&'static str; COUNTERS] {
    let mut names = [""; COUNTERS];
    for (name, counter) in names.iter_mut().zip(Counter::ALL) {
        *name = counter.name();
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_and_names_are_consistent() {
        for (index, counter) in Counter::ALL.iter().enumerate() {
            assert_eq!(*counter as usize, index);
            assert!(counter.name().len() <= ward_proto::counters::NAME_BYTES);
        }
        let names = names();
        for (i, a) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(a), "duplicate name {a}");
        }
    }
}
