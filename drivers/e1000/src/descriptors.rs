//! The legacy receive and transmit descriptors (16 bytes each, two
//! little-endian 64-bit words), as the NIC reads and writes them back.
//!
//! The driver only ever writes a descriptor it owns (not yet handed to the
//! NIC by the tail register) and only trusts what the NIC wrote back once it
//! has read the done bit with acquire ordering. Everything it reads back is
//! a copy in a local variable, checked before use.

/// Bytes per descriptor, receive or transmit (SDM 3.2.3, 3.3.3).
pub const DESCRIPTOR_BYTES: usize = 16;
/// Words per descriptor.
pub const DESCRIPTOR_WORDS: usize = DESCRIPTOR_BYTES / 8;
/// The word holding the buffer's IO address.
pub const ADDRESS_WORD: usize = 0;
/// The word holding length, status and errors (written back by the NIC).
pub const STATUS_WORD: usize = 1;
/// Descriptor rings must be a multiple of 128 bytes (SDM 13.4.27: RDLEN "must
/// be 128-byte aligned"), so a multiple of eight descriptors.
pub const RING_LENGTH_QUANTUM: usize = 128 / DESCRIPTOR_BYTES;

/// Receive descriptor status bits (SDM 3.2.3.1, Table 3-2).
pub mod rx_status {
    /// Descriptor Done: the NIC wrote the descriptor back.
    pub const DD: u8 = 1 << 0;
    /// End Of Packet: the last descriptor of a frame.
    pub const EOP: u8 = 1 << 1;
    /// Ignore Checksum Indication: the checksum bits mean nothing.
    pub const IXSM: u8 = 1 << 2;
    /// TCP/UDP checksum calculated (TCPCS) and IP checksum calculated (IPCS).
    pub const TCPCS: u8 = 1 << 5;
    pub const IPCS: u8 = 1 << 6;
}

/// Receive descriptor error bits (SDM 3.2.3.2, Table 3-3).
pub mod rx_errors {
    /// CRC error, symbol error, sequence error, carrier extension error, RX data error.
    pub const CE: u8 = 1 << 0;
    pub const SE: u8 = 1 << 1;
    pub const SEQ: u8 = 1 << 2;
    pub const CXE: u8 = 1 << 4;
    pub const RXE: u8 = 1 << 7;
    /// TCP/UDP checksum error and IP checksum error.
    pub const TCPE: u8 = 1 << 5;
    pub const IPE: u8 = 1 << 6;
    /// The errors that mean the frame itself is bad (the checksum ones are a verdict on it).
    pub const FRAME: u8 = CE | SE | SEQ | CXE | RXE;
}

/// What the NIC wrote back into a receive descriptor (SDM 3.2.3, Table 3-1):
/// length bits 15:0, packet checksum 31:16, status 39:32, errors 47:40,
/// special 63:48 of the second word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxWriteBack {
    pub length: u16,
    pub status: u8,
    pub errors: u8,
}

impl RxWriteBack {
    /// Decodes a copy of the second word.
    pub const fn decode(word: u64) -> RxWriteBack {
        RxWriteBack {
            length: word as u16,
            status: (word >> 32) as u8,
            errors: (word >> 40) as u8,
        }
    }

    /// The NIC is done with the descriptor.
    pub const fn done(&self) -> bool {
        self.status & rx_status::DD != 0
    }

    /// The frame ends in this descriptor.
    pub const fn end_of_packet(&self) -> bool {
        self.status & rx_status::EOP != 0
    }
}

/// Transmit command bits (SDM 3.3.3.1, Table 3-10).
pub mod tx_command {
    /// End Of Packet: the last descriptor of a frame.
    pub const EOP: u8 = 1 << 0;
    /// Insert FCS: the NIC appends the Ethernet CRC.
    pub const IFCS: u8 = 1 << 1;
    /// Report Status: write DD back when done.
    pub const RS: u8 = 1 << 3;
    /// Interrupt Delay Enable: the transmit interrupt waits for TIDV/TADV.
    pub const IDE: u8 = 1 << 7;
}

/// Transmit status bits (SDM 3.3.3.2, Table 3-11).
pub mod tx_status {
    /// Descriptor Done.
    pub const DD: u8 = 1 << 0;
}

/// The second word of a legacy transmit descriptor (SDM 3.3.3, Table 3-8):
/// length 15:0, checksum offset 23:16, command 31:24, status 35:32,
/// checksum start 47:40, special 63:48. The driver sets length and command;
/// checksum offload, which would need the frame's headers, is not used.
pub const fn tx_command_word(length: u16, command: u8) -> u64 {
    length as u64 | ((command as u64) << 24)
}

/// The status bits the NIC wrote back into a transmit descriptor's second word.
pub const fn tx_status_of(word: u64) -> u8 {
    ((word >> 32) & 0xf) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_write_back_fields() {
        // length 60, checksum 0xbeef, status DD|EOP|IXSM, errors CE, special 0x1234.
        let word = 60 | (0xbeef << 16) | (0x07 << 32) | (0x01 << 40) | (0x1234 << 48);
        let wb = RxWriteBack::decode(word);
        assert_eq!(wb.length, 60);
        assert!(wb.done() && wb.end_of_packet());
        assert_eq!(wb.status & rx_status::IXSM, rx_status::IXSM);
        assert_eq!(wb.errors & rx_errors::FRAME, rx_errors::CE);
    }

    #[test]
    fn transmit_command_word_layout() {
        let word = tx_command_word(1514, tx_command::EOP | tx_command::IFCS | tx_command::RS);
        assert_eq!(word & 0xffff, 1514);
        assert_eq!((word >> 24) & 0xff, 0x0b);
        assert_eq!(tx_status_of(word | (1 << 32)), tx_status::DD);
    }
}
