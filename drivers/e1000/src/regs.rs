//! The 82540EM's registers and bits that the driver uses, named as the
//! PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's
//! Manual (the 8254x SDM, revision 4.0) names them, each with the section
//! that describes it. Offsets are bytes into BAR 0 (SDM 13.1, Table 13-2).

use ward_userlib::mmio::Register;

// --- General (SDM 13.4) -----------------------------------------------------------------------

/// Device Control (SDM 13.4.1): link set-up and the software reset.
pub const CTRL: Register<u32> = Register::new("CTRL", 0x0000);
/// Device Status (SDM 13.4.2): link up, speed, duplex.
pub const STATUS: Register<u32> = Register::new("STATUS", 0x0008);
/// EEPROM Read (SDM 13.4.4): one 16-bit EEPROM word without bit-banging.
pub const EERD: Register<u32> = Register::new("EERD", 0x0014);
/// Flow Control Address Low/High, Type, Transmit Timer Value (SDM 13.4.7-13.4.9, 13.4.13):
/// written 0 when flow control is not used (SDM 14.3).
pub const FCAL: Register<u32> = Register::new("FCAL", 0x0028);
pub const FCAH: Register<u32> = Register::new("FCAH", 0x002c);
pub const FCT: Register<u32> = Register::new("FCT", 0x0030);
pub const FCTTV: Register<u32> = Register::new("FCTTV", 0x0170);
/// VLAN Ether Type (SDM 13.4.10): 0, VLANs are not used.
pub const VET: Register<u32> = Register::new("VET", 0x0038);

// --- Interrupts (SDM 13.4.17-13.4.21) ------------------------------------------------------------

/// Interrupt Cause Read (SDM 13.4.17): reading returns the causes and clears them.
pub const ICR: Register<u32> = Register::new("ICR", 0x00c0);
/// Interrupt Throttling (SDM 13.4.18): the least gap between interrupts, in 256 ns units.
pub const ITR: Register<u32> = Register::new("ITR", 0x00c4);
/// Interrupt Cause Set (SDM 13.4.19): writing 1s raises those causes.
pub const ICS: Register<u32> = Register::new("ICS", 0x00c8);
/// Interrupt Mask Set/Read (SDM 13.4.20): writing 1s enables those causes.
pub const IMS: Register<u32> = Register::new("IMS", 0x00d0);
/// Interrupt Mask Clear (SDM 13.4.21): writing 1s disables those causes.
pub const IMC: Register<u32> = Register::new("IMC", 0x00d8);

// --- Receive (SDM 13.4.22-13.4.31) ---------------------------------------------------------------

/// Receive Control (SDM 13.4.22).
pub const RCTL: Register<u32> = Register::new("RCTL", 0x0100);
/// Receive Descriptor Base Address Low/High (SDM 13.4.25, 13.4.26).
pub const RDBAL: Register<u32> = Register::new("RDBAL", 0x2800);
pub const RDBAH: Register<u32> = Register::new("RDBAH", 0x2804);
/// Receive Descriptor Length in bytes, a multiple of 128 (SDM 13.4.27).
pub const RDLEN: Register<u32> = Register::new("RDLEN", 0x2808);
/// Receive Descriptor Head (SDM 13.4.28): written only after a reset, before RCTL.EN.
pub const RDH: Register<u32> = Register::new("RDH", 0x2810);
/// Receive Descriptor Tail (SDM 13.4.29): the doorbell; one past the last posted descriptor.
pub const RDT: Register<u32> = Register::new("RDT", 0x2818);
/// Receive Delay Timer (SDM 13.4.30), in 1.024 µs units.
pub const RDTR: Register<u32> = Register::new("RDTR", 0x2820);
/// Receive Interrupt Absolute Delay Timer (SDM 13.4.31), in 1.024 µs units.
pub const RADV: Register<u32> = Register::new("RADV", 0x282c);

// --- Transmit (SDM 13.4.33-13.4.44) --------------------------------------------------------------

/// Transmit Control (SDM 13.4.33, Table 13-76).
pub const TCTL: Register<u32> = Register::new("TCTL", 0x0400);
/// Transmit Inter Packet Gap (SDM 13.4.34, Table 13-77).
pub const TIPG: Register<u32> = Register::new("TIPG", 0x0410);
/// Transmit Descriptor Base Address Low/High, Length, Head, Tail (SDM 13.4.38-13.4.42).
pub const TDBAL: Register<u32> = Register::new("TDBAL", 0x3800);
pub const TDBAH: Register<u32> = Register::new("TDBAH", 0x3804);
pub const TDLEN: Register<u32> = Register::new("TDLEN", 0x3808);
pub const TDH: Register<u32> = Register::new("TDH", 0x3810);
/// Transmit Descriptor Tail: the doorbell.
pub const TDT: Register<u32> = Register::new("TDT", 0x3818);
/// Transmit Interrupt Delay Value, in 1.024 µs units (applies to descriptors with IDE set).
pub const TIDV: Register<u32> = Register::new("TIDV", 0x3820);
/// Transmit Absolute Interrupt Delay Value, in 1.024 µs units.
pub const TADV: Register<u32> = Register::new("TADV", 0x382c);

// --- Filters (SDM 13.5) --------------------------------------------------------------------------

/// Multicast Table Array (SDM 13.5.1): 128 words, a 4096-bit hash filter.
pub const MTA: Register<u32> = Register::new("MTA", 0x5200);
/// Words in the multicast table.
pub const MTA_WORDS: usize = 128;
/// Receive Address Low/High 0 (SDM 13.5.2, 13.5.3): the station address,
/// low 32 bits then high 16 bits and Address Valid.
pub const RAL0: Register<u32> = Register::new("RAL0", 0x5400);
pub const RAH0: Register<u32> = Register::new("RAH0", 0x5404);

/// CTRL bits (SDM 13.4.1, Table 13-3).
pub mod ctrl {
    /// Link Reset: holds the link in reset while set.
    pub const LRST: u32 = 1 << 3;
    /// Auto-Speed Detection Enable.
    pub const ASDE: u32 = 1 << 5;
    /// Set Link Up.
    pub const SLU: u32 = 1 << 6;
    /// Invert Loss-of-Signal.
    pub const ILOS: u32 = 1 << 7;
    /// Device Reset: self-clearing; resets everything but the PCI configuration.
    pub const RST: u32 = 1 << 26;
    /// VLAN Mode Enable.
    pub const VME: u32 = 1 << 30;
    /// PHY Reset.
    pub const PHY_RST: u32 = 1 << 31;
}

/// STATUS bits (SDM 13.4.2, Table 13-5).
pub mod status {
    /// Full duplex.
    pub const FD: u32 = 1 << 0;
    /// Link up.
    pub const LU: u32 = 1 << 1;
    /// Link speed: 00b 10, 01b 100, 1xb 1000 Mb/s.
    pub const SPEED_SHIFT: u32 = 6;
    pub const SPEED_MASK: u32 = 0b11 << SPEED_SHIFT;
}

/// EERD fields (SDM 13.4.4, for the 82540EP/EM).
pub mod eerd {
    /// Start a read.
    pub const START: u32 = 1 << 0;
    /// The read is done; DATA is valid.
    pub const DONE: u32 = 1 << 4;
    /// Word address.
    pub const ADDR_SHIFT: u32 = 8;
    /// The word read.
    pub const DATA_SHIFT: u32 = 16;
}

/// Interrupt causes, the same bit in ICR, IMS and IMC (SDM 13.4.17, Table 13-65).
pub mod int {
    /// Transmit Descriptor Written Back.
    pub const TXDW: u32 = 1 << 0;
    /// Link Status Change.
    pub const LSC: u32 = 1 << 2;
    /// Receive Descriptor Minimum Threshold reached (RCTL.RDMTS).
    pub const RXDMT0: u32 = 1 << 4;
    /// Receiver Overrun: a frame was lost for want of descriptors.
    pub const RXO: u32 = 1 << 6;
    /// Receiver Timer Interrupt: frames were written back.
    pub const RXT0: u32 = 1 << 7;
    /// Every cause the 82540EM has (bits 0-16); written to IMC to mask them all.
    pub const ALL: u32 = 0x1_ffff;
}

/// RCTL bits (SDM 13.4.22, Table 13-67).
pub mod rctl {
    /// Receiver Enable.
    pub const EN: u32 = 1 << 1;
    /// Store Bad Packets.
    pub const SBP: u32 = 1 << 2;
    /// Unicast / Multicast Promiscuous.
    pub const UPE: u32 = 1 << 3;
    pub const MPE: u32 = 1 << 4;
    /// Long Packet Enable: accept frames over 1522 bytes.
    pub const LPE: u32 = 1 << 5;
    /// Receive Descriptor Minimum Threshold Size: RXDMT0 fires when the free
    /// descriptors fall to 1/2, 1/4 or 1/8 of the ring.
    pub const RDMTS_HALF: u32 = 0b00 << 8;
    pub const RDMTS_QUARTER: u32 = 0b01 << 8;
    pub const RDMTS_EIGHTH: u32 = 0b10 << 8;
    /// Broadcast Accept Mode.
    pub const BAM: u32 = 1 << 15;
    /// Buffer size 2048 bytes: BSIZE 00b with BSEX clear.
    pub const BSIZE_2048: u32 = 0b00 << 16;
    /// Strip Ethernet CRC (the FCS) from received frames.
    pub const SECRC: u32 = 1 << 26;
}

/// TCTL fields (SDM 13.4.33, Table 13-76).
pub mod tctl {
    /// Transmit Enable.
    pub const EN: u32 = 1 << 1;
    /// Pad Short Packets to 64 bytes.
    pub const PSP: u32 = 1 << 3;
    /// Collision Threshold: the manual's recommended 0Fh.
    pub const CT_RECOMMENDED: u32 = 0x0f << 4;
    /// Collision Distance: 64 byte times for full duplex, the manual's recommended 40h.
    pub const COLD_FULL_DUPLEX: u32 = 0x40 << 12;
}

/// TIPG for copper 82540EM (SDM 13.4.34, Table 13-77): IPGT 10, IPGR1 8, IPGR2 6.
pub const TIPG_COPPER: u32 = 10 | (8 << 10) | (6 << 20);

/// RAH bits (SDM 13.5.3).
pub mod rah {
    /// Address Valid.
    pub const AV: u32 = 1 << 31;
}

/// The statistics registers the driver accumulates (SDM 13.7). They count
/// since they were last read: the manual says every one clears on read
/// ([`crate::stats`] copes with models that do not clear some of them).
pub mod stats {
    use ward_userlib::mmio::Register;

    /// CRC Error Count (SDM 13.7.1).
    pub const CRCERRS: Register<u32> = Register::new("CRCERRS", 0x4000);
    /// RX Error Count (SDM 13.7.4).
    pub const RXERRC: Register<u32> = Register::new("RXERRC", 0x400c);
    /// Missed Packets Count (SDM 13.7.5): no room in the receive FIFO.
    pub const MPC: Register<u32> = Register::new("MPC", 0x4010);
    /// Collision Count (SDM 13.7.10).
    pub const COLC: Register<u32> = Register::new("COLC", 0x4028);
    /// Receive Length Error Count (SDM 13.7.15).
    pub const RLEC: Register<u32> = Register::new("RLEC", 0x4040);
    /// Good Packets Received / Transmitted Count (SDM 13.7.27, 13.7.30).
    pub const GPRC: Register<u32> = Register::new("GPRC", 0x4074);
    pub const GPTC: Register<u32> = Register::new("GPTC", 0x4080);
    /// Broadcast / Multicast Packets Received Count (SDM 13.7.28, 13.7.29).
    pub const BPRC: Register<u32> = Register::new("BPRC", 0x4078);
    pub const MPRC: Register<u32> = Register::new("MPRC", 0x407c);
    /// Good Octets Received / Transmitted, 64 bits as low then high words
    /// (SDM 13.7.31, 13.7.32); reading the high word clears both.
    pub const GORCL: Register<u32> = Register::new("GORCL", 0x4088);
    pub const GORCH: Register<u32> = Register::new("GORCH", 0x408c);
    pub const GOTCL: Register<u32> = Register::new("GOTCL", 0x4090);
    pub const GOTCH: Register<u32> = Register::new("GOTCH", 0x4094);
    /// Receive No Buffers Count (SDM 13.7.33): frames that found no free descriptor.
    pub const RNBC: Register<u32> = Register::new("RNBC", 0x40a0);
    /// Receive Undersize / Oversize Count (SDM 13.7.34, 13.7.36).
    pub const RUC: Register<u32> = Register::new("RUC", 0x40a4);
    pub const ROC: Register<u32> = Register::new("ROC", 0x40ac);
    /// Total Packets Received / Transmitted (SDM 13.7.43, 13.7.44).
    pub const TPR: Register<u32> = Register::new("TPR", 0x40d0);
    pub const TPT: Register<u32> = Register::new("TPT", 0x40d4);
}
