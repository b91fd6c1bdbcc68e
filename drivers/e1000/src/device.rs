//! The 82540EM itself: quiesce and reset, general configuration, the
//! station address, receive and transmit initialisation, interrupts and
//! link state, each step as the 8254x SDM (rev. 4.0) gives it. Every
//! register access goes through the BAR's [`RegisterBlock`].
//!
//! The driver may start while the NIC is in the middle of DMA: a previous
//! generation of the driver died with rings posted and interrupts enabled.
//! [`Nic::quiesce`] therefore comes first, before anything is trusted, and
//! the driver writes every register it relies on afterwards rather than
//! counting on reset defaults (QEMU's model, for one, does not reset its
//! registers on CTRL.RST).

use ward_proto::driver::{LinkState, MacAddress};
use ward_userlib::mmio::{RegisterBlock, WaitTimeout};
use ward_userlib::time::Duration;

use crate::regs::*;
use crate::rings::{RxRing, TxRing};
use crate::settings::Settings;

/// How long the device reset may take. The manual asks for a wait of at
/// least 1 µs after setting CTRL.RST before the device is accessed again
/// (SDM 13.4.1); hardware clears the bit within microseconds. 10 ms is
/// generous, and bounds a device that never comes back.
const RESET_TIMEOUT: Duration = Duration::from_millis(10);
/// How long one EEPROM word read may take: microseconds on hardware.
const EEPROM_TIMEOUT: Duration = Duration::from_millis(10);
/// The EEPROM words holding the station address (SDM 5.6.1, Table 5-2).
const EEPROM_ETHERNET_ADDRESS: [u32; 3] = [0, 1, 2];

/// The interrupt causes the driver serves.
pub const SERVED_CAUSES: u32 = int::RXT0 | int::RXO | int::RXDMT0 | int::LSC | int::TXDW;

/// Where the station address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressSource {
    /// RAL0/RAH0, loaded from the EEPROM at power-up (or left by a previous generation).
    ReceiveAddress,
    /// Read from the EEPROM with EERD.
    Eeprom,
}

/// Why the NIC could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// A register did not reach the awaited value.
    Timeout(WaitTimeout),
    /// Neither RAL0/RAH0 nor the EEPROM hold a unicast address.
    NoStationAddress,
}

impl From<WaitTimeout> for DeviceError {
    fn from(e: WaitTimeout) -> Self {
        DeviceError::Timeout(e)
    }
}

/// The NIC's registers.
pub struct Nic {
    regs: RegisterBlock,
}

impl Nic {
    pub fn new(regs: RegisterBlock) -> Nic {
        Nic { regs }
    }

    /// The register block (for the statistics).
    pub fn registers(&self) -> &RegisterBlock {
        &self.regs
    }

    /// Stops everything the NIC does on its own: masks every interrupt
    /// (IMC, SDM 13.4.21), disables the receiver and the transmitter (RCTL.EN,
    /// TCTL.EN: no new DMA into receive buffers, no new fetches of transmit
    /// descriptors) and clears pending causes (reading ICR deasserts the
    /// interrupt line).
    pub fn quiesce(&self) {
        self.regs.write(IMC, int::ALL);
        self.regs.write(RCTL, 0);
        self.regs.write(TCTL, 0);
        let _ = self.regs.read(ICR);
    }

    /// Whether the receiver runs exactly as [`Nic::enable_receive`] sets
    /// it (a previous generation of the driver left it so).
    pub fn receiver_as_configured(&self, settings: &Settings) -> bool {
        self.regs.read(RCTL) == receive_control(settings)
    }

    /// Stops everything the NIC does on its own except that its receiver
    /// stays enabled: masks every interrupt, disables the transmitter, and
    /// takes every receive descriptor back from the NIC (RDT := RDH: the
    /// NIC owns none, so it can write no buffer), then clears pending
    /// causes. This is the quiesce of a restarted driver that found the
    /// receiver as it configures it: the rings are then set up afresh
    /// without a global reset. Why: QEMU's e1000 holds every received frame
    /// for 1 s (of virtual time) after each RCTL write (its
    /// `set_rx_control`), so a restart through CTRL.RST, which clears RCTL,
    /// would cost a second without reception; see docs/reliability.md.
    pub fn quiesce_keeping_receiver(&self) {
        self.regs.write(IMC, int::ALL);
        self.regs.write(TCTL, 0);
        let head = self.regs.read(RDH);
        self.regs.write(RDT, head);
        let _ = self.regs.read(ICR);
    }

    /// Global reset (CTRL.RST, SDM 13.4.1): the whole MAC goes back to its
    /// power-up state, flushing the FIFOs and any DMA in progress, which is
    /// what a restarted driver needs. Waits for the self-clearing bit, then
    /// masks interrupts and clears pending causes again, as after any reset.
    pub fn reset(&self) -> Result<(), DeviceError> {
        let ctrl = self.regs.read(CTRL);
        self.regs.write(CTRL, ctrl | ctrl::RST);
        self.regs.wait_for(CTRL, ctrl::RST, 0, RESET_TIMEOUT)?;
        self.regs.write(IMC, int::ALL);
        let _ = self.regs.read(ICR);
        Ok(())
    }

    /// General configuration (SDM 14.3): link up by auto-negotiation with
    /// auto speed detection (CTRL.SLU and ASDE; LRST, PHY_RST and ILOS clear,
    /// VLAN mode off), and flow control unused (FCAL, FCAH, FCT, FCTTV 0)
    /// as is VLAN filtering (VET 0).
    pub fn configure(&self) {
        let ctrl = self.regs.read(CTRL);
        let ctrl = (ctrl | ctrl::SLU | ctrl::ASDE)
            & !(ctrl::LRST | ctrl::PHY_RST | ctrl::ILOS | ctrl::VME | ctrl::RST);
        self.regs.write(CTRL, ctrl);
        for register in [FCAL, FCAH, FCT, FCTTV, VET] {
            self.regs.write(register, 0);
        }
    }

    /// The station address: RAL0/RAH0 if they hold a valid unicast address
    /// (SDM 13.5.2: the EEPROM loads them at reset), else EEPROM words 0-2
    /// read through EERD (SDM 13.4.4).
    /// Without `trust_registers` (a restart without a global reset, when
    /// RAL0/RAH0 hold what a previous generation wrote) only the EEPROM.
    pub fn station_address(
        &self,
        trust_registers: bool,
    ) -> Result<(MacAddress, AddressSource), DeviceError> {
        let low = self.regs.read(RAL0);
        let high = self.regs.read(RAH0);
        if trust_registers && high & rah::AV != 0 {
            let mac = mac_from_words(low, high);
            if is_unicast(&mac) {
                return Ok((MacAddress(mac), AddressSource::ReceiveAddress));
            }
        }
        let mut words = [0u16; 3];
        for (word, address) in words.iter_mut().zip(EEPROM_ETHERNET_ADDRESS) {
            *word = self.read_eeprom(address)?;
        }
        let mut mac = [0u8; 6];
        for (pair, word) in mac.chunks_mut(2).zip(words) {
            pair.copy_from_slice(&word.to_le_bytes());
        }
        if !is_unicast(&mac) {
            return Err(DeviceError::NoStationAddress);
        }
        Ok((MacAddress(mac), AddressSource::Eeprom))
    }

    /// One EEPROM word (EERD, SDM 13.4.4): start, wait for DONE, take DATA.
    fn read_eeprom(&self, address: u32) -> Result<u16, DeviceError> {
        self.regs
            .write(EERD, (address << eerd::ADDR_SHIFT) | eerd::START);
        let value = self
            .regs
            .wait_for(EERD, eerd::DONE, eerd::DONE, EEPROM_TIMEOUT)?;
        Ok((value >> eerd::DATA_SHIFT) as u16)
    }

    /// Receive initialisation (SDM 14.4), with the receiver left disabled
    /// until [`Nic::enable_receive`]:
    /// 1. the station address into RAL0/RAH0 (low first, then high with AV);
    /// 2. the multicast table zeroed: only the station address and broadcast pass;
    /// 3. the descriptor ring: base (RDBAL/RDBAH) at its IO address, length
    ///    (RDLEN), head and tail 0 (RDH/RDT, written only after a reset and
    ///    before RCTL.EN, SDM 13.4.28);
    /// 4. the receive timers (RDTR, RADV) from the settings.
    pub fn init_receive(&self, mac: MacAddress, ring: &RxRing, settings: &Settings) {
        let [a, b, c, d, e, f] = mac.0;
        self.regs.write(RAL0, u32::from_le_bytes([a, b, c, d]));
        self.regs
            .write(RAH0, u32::from(u16::from_le_bytes([e, f])) | rah::AV);
        for index in 0..MTA_WORDS {
            self.regs.write(MTA.at(index, 4), 0);
        }
        let iova = ring.iova();
        self.regs.write(RDBAL, iova as u32);
        self.regs.write(RDBAH, (iova >> 32) as u32);
        self.regs.write(RDLEN, ring.bytes());
        self.regs.write(RDH, 0);
        self.regs.write(RDT, 0);
        self.regs.write(RDTR, settings.rdtr());
        self.regs.write(RADV, settings.radv());
    }

    /// RCTL (SDM 13.4.22, last step of 14.4): receiver on; broadcast
    /// accepted (BAM); no promiscuous modes (UPE, MPE clear); no long frames
    /// (LPE clear: the NIC refuses frames over 1522 bytes and counts them in
    /// ROC); no loopback; 2048-byte buffers (BSIZE 00b, BSEX clear); the
    /// Ethernet CRC stripped (SECRC), so a frame's length is what the stack
    /// gets; the low watermark of the settings (RDMTS).
    pub fn enable_receive(&self, settings: &Settings) {
        if !self.receiver_as_configured(settings) {
            self.regs.write(RCTL, receive_control(settings));
        }
    }

    /// Transmit initialisation (SDM 14.5): the descriptor ring (TDBAL/TDBAH,
    /// TDLEN, TDH and TDT 0); TCTL with the transmitter on, short frames
    /// padded (PSP), the recommended collision threshold and the full-duplex
    /// collision distance; TIPG for copper; the transmit interrupt delays
    /// (TIDV, TADV) from the settings.
    pub fn init_transmit(&self, ring: &TxRing, settings: &Settings) {
        let iova = ring.iova();
        self.regs.write(TDBAL, iova as u32);
        self.regs.write(TDBAH, (iova >> 32) as u32);
        self.regs.write(TDLEN, ring.bytes());
        self.regs.write(TDH, 0);
        self.regs.write(TDT, 0);
        self.regs.write(TIDV, settings.tidv());
        self.regs.write(TADV, settings.tadv());
        self.regs.write(TIPG, TIPG_COPPER);
        self.regs.write(
            TCTL,
            tctl::EN | tctl::PSP | tctl::CT_RECOMMENDED | tctl::COLD_FULL_DUPLEX,
        );
    }

    /// The interrupt throttle (ITR, SDM 13.4.18) from the settings.
    pub fn set_interrupt_interval(&self, settings: &Settings) {
        self.regs.write(ITR, settings.itr());
    }

    /// Enables interrupt causes (IMS).
    pub fn unmask(&self, causes: u32) {
        self.regs.write(IMS, causes);
    }

    /// Sets interrupt causes as if the events had happened (ICS, SDM
    /// 13.4.19): only fault injection uses it, to keep the line asserting.
    pub fn raise_causes(&self, causes: u32) {
        self.regs.write(ICS, causes);
    }

    /// The receive descriptor the NIC fills next (RDH).
    pub fn rx_head(&self) -> u32 {
        self.regs.read(RDH)
    }

    /// Switches interrupt throttling off (ITR 0): only fault injection
    /// does this, so that a storm is not tamed by the NIC.
    pub fn stop_throttling(&self) {
        self.regs.write(ITR, 0);
    }

    /// Disables every interrupt cause (IMC).
    pub fn mask_all(&self) {
        self.regs.write(IMC, int::ALL);
    }

    /// Reads and clears the pending causes (ICR); the line deasserts.
    pub fn take_causes(&self) -> u32 {
        self.regs.read(ICR)
    }

    /// Link state from STATUS (SDM 13.4.2).
    pub fn link(&self) -> LinkState {
        link_from_status(self.regs.read(STATUS))
    }

    /// The receive doorbell: RDT after a write barrier.
    pub fn ring_rx_doorbell(&self, tail: u32) {
        self.regs.ring_doorbell(RDT, tail);
    }

    /// The transmit doorbell: TDT after a write barrier.
    pub fn ring_tx_doorbell(&self, tail: u32) {
        self.regs.ring_doorbell(TDT, tail);
    }
}

/// The six octets of RAL/RAH (little-endian, first octet in the low byte).
fn mac_from_words(low: u32, high: u32) -> [u8; 6] {
    let l = low.to_le_bytes();
    let h = high.to_le_bytes();
    [l[0], l[1], l[2], l[3], h[0], h[1]]
}

/// Not zero and not a group address.
fn is_unicast(mac: &[u8; 6]) -> bool {
    *mac != [0; 6] && mac[0] & 1 == 0
}

/// Link state from a STATUS value: speed 10, 100 or 1000 Mb/s (0 when down).
pub fn link_from_status(status_value: u32) -> LinkState {
    let up = status_value & status::LU != 0;
    let speed_mbps = if !up {
        0
    } else {
        match (status_value & status::SPEED_MASK) >> status::SPEED_SHIFT {
            0 => 10,
            1 => 100,
            _ => 1000,
        }
    };
    LinkState {
        up,
        speed_mbps,
        full_duplex: up && status_value & status::FD != 0,
    }
}

/// The RCTL value the driver runs with (see [`Nic::enable_receive`]).
fn receive_control(settings: &Settings) -> u32 {
    rctl::EN | rctl::BAM | rctl::BSIZE_2048 | rctl::SECRC | settings.rdmts()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_and_address_decoding() {
        let l = link_from_status(status::LU | status::FD | (0b10 << status::SPEED_SHIFT));
        assert_eq!((l.up, l.speed_mbps, l.full_duplex), (true, 1000, true));
        let l = link_from_status(status::FD | (0b10 << status::SPEED_SHIFT));
        assert_eq!((l.up, l.speed_mbps, l.full_duplex), (false, 0, false));
        assert_eq!(
            link_from_status(status::LU | (1 << status::SPEED_SHIFT)).speed_mbps,
            100
        );
        // QEMU's default address 52:54:00:12:34:56 as RAL0/RAH0 hold it.
        assert_eq!(
            mac_from_words(0x1200_5452, 0x8000_5634),
            [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]
        );
        assert!(is_unicast(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]));
        assert!(!is_unicast(&[0xff; 6]));
        assert!(!is_unicast(&[0; 6]));
    }

    #[test]
    fn station_address_comes_from_the_eeprom_when_ral_is_empty() {
        // Plain memory as the register block: EERD reads back what was
        // written, so DONE and DATA are pre-set as the NIC would set them.
        let mut memory = vec![0u32; 0x5800 / 4];
        memory[EERD.offset() / 4] = eerd::DONE | (0x5452 << eerd::DATA_SHIFT);
        // SAFETY: `memory` outlives `regs` and is only reached through it.
        let regs = unsafe { RegisterBlock::new(memory.as_mut_ptr() as usize, memory.len() * 4) };
        let nic = Nic::new(regs);
        // Every EERD read here returns the value last written, which has no
        // DONE bit: the wait must time out rather than hang.
        assert!(matches!(
            nic.station_address(true),
            Err(DeviceError::Timeout(_))
        ));
        memory[RAL0.offset() / 4] = 0x1200_5452;
        memory[RAH0.offset() / 4] = 0x8000_5634;
        // SAFETY: as above.
        let regs = unsafe { RegisterBlock::new(memory.as_mut_ptr() as usize, memory.len() * 4) };
        let nic = Nic::new(regs);
        let (mac, source) = nic.station_address(true).unwrap();
        assert_eq!(mac.0, [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(source, AddressSource::ReceiveAddress);
        // A restart without a global reset does not trust what a previous
        // generation left in RAL0/RAH0: it goes to the EEPROM (which times
        // out here, as above).
        assert!(matches!(
            nic.station_address(false),
            Err(DeviceError::Timeout(_))
        ));
    }
}
