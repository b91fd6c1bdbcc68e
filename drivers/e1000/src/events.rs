//! Control messages to the network stack (`ward_proto::driver::DriverEvent`)
//! over the `net-events` ring pair: the stack lends empty buffers, the
//! driver returns each holding one message, stamped with the driver's
//! generation. The driver announces its station address and the link state
//! when it comes up, and the link state again on every change (LSC).
//!
//! Messages are state, not history: if no lent buffer is free when the link
//! changes, the change waits, and only the latest state goes out when a
//! buffer arrives.

use heapless::Vec;
use ward_proto::driver::{DriverEvent, LinkState, MacAddress, MAX_CONTROL_BYTES};
use ward_ring::{Buffer, PoolMemory};
use ward_userlib::ring::Pair;

use crate::counters::{Counter, Counters};
use crate::datapath::{peer_error, Broken, PairKind};

/// Lent buffers the driver keeps for messages: more than it ever needs at
/// once (two messages wait at most), so the stack may lend generously; the
/// rest stay on the lend ring.
const HELD_BUFFERS: usize = 8;

/// The messages waiting to go out and the buffers to send them in.
pub struct Events {
    held: Vec<Buffer, HELD_BUFFERS>,
    mac: Option<MacAddress>,
    link: Option<LinkState>,
    generation: u32,
    sequence: u32,
}

impl Events {
    /// Nothing pending; messages are stamped with `generation`.
    pub fn new(generation: u32) -> Events {
        Events {
            held: Vec::new(),
            mac: None,
            link: None,
            generation,
            sequence: 0,
        }
    }

    /// Forgets buffers of a pairing that is over (the stack took them all
    /// back when it set the rings up again).
    pub fn forget_buffers(&mut self) {
        self.held.clear();
    }

    /// Queues the station address.
    pub fn announce_mac(&mut self, mac: MacAddress) {
        self.mac = Some(mac);
    }

    /// Queues the link state (replacing one not yet sent).
    pub fn announce_link(&mut self, link: LinkState) {
        self.link = Some(link);
    }

    /// Whether messages wait for a buffer.
    pub fn pending(&self) -> bool {
        self.mac.is_some() || self.link.is_some()
    }

    /// Buffers held now.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Takes buffers the stack lent and sends what is pending in them.
    pub fn flush(
        &mut self,
        pair: &mut Pair,
        pool: &PoolMemory,
        counters: &Counters,
    ) -> Result<(), Broken> {
        while !self.held.is_full() {
            match pair.receive() {
                Ok(Some(buffer)) => {
                    let _ = self.held.push(buffer);
                }
                Ok(None) => break,
                Err(e) => peer_error(PairKind::Events, e, counters)?,
            }
        }
        while self.pending() {
            let room = match pair.outgoing_ring().free() {
                Ok(room) => room,
                Err(e) => return peer_error(PairKind::Events, e, counters),
            };
            if room == 0 {
                break;
            }
            let Some(buffer) = self.held.pop() else { break };
            let event = match (self.mac.take(), self.link) {
                (Some(mac), _) => DriverEvent::Mac(mac),
                (None, Some(link)) => {
                    self.link = None;
                    DriverEvent::Link(link)
                }
                (None, None) => unreachable!("pending() said a message waits"),
            };
            let mut bytes = [0u8; MAX_CONTROL_BYTES];
            let length = event
                .encode(self.generation, self.sequence, &mut bytes)
                .expect("every driver event fits MAX_CONTROL_BYTES");
            self.sequence = self.sequence.wrapping_add(1);
            // A buffer whose slot has no room for the message goes back
            // empty, and the message waits for the next one.
            let message = pool
                .geometry()
                .with_len(buffer, length as u32)
                .ok()
                .filter(|sized| pool.write(sized, &bytes[..length]).is_ok());
            let returned = match message {
                Some(sized) => {
                    counters.bump(Counter::EventsSent);
                    sized
                }
                None => {
                    match event {
                        DriverEvent::Mac(mac) => self.mac = Some(mac),
                        DriverEvent::Link(link) => self.link = self.link.or(Some(link)),
                        DriverEvent::Statistics(_) => {}
                    }
                    counters.bump(Counter::EventRingBadDescriptor);
                    pool.geometry().with_len(buffer, 0).unwrap_or(buffer)
                }
            };
            match pair.send(returned) {
                Ok(()) => {}
                Err(ward_ring::SendError::Peer(e, _)) => peer_error(PairKind::Events, e, counters)?,
                Err(e) => panic!("returning an event buffer failed: {e:?}"),
            }
        }
        counters.set(Counter::EventBuffersHeld, self.held.len() as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU32, AtomicU64};
    use ward_ring::{PoolGeometry, RegionBuffer, RingPairParams};

    #[test]
    fn the_address_and_the_latest_link_state_reach_the_stack() {
        let geometry = PoolGeometry::new(128, 8, 64).unwrap();
        let params = RingPairParams::new(8, geometry).unwrap();
        let region: &'static RegionBuffer<{ 288 + 2 * 8 * 4 }> =
            Box::leak(Box::new(RegionBuffer::new()));
        let mut stack = Pair::initialise_owner(region.mapping(), &params, 0x0001_0002).unwrap();
        let mut driver = Pair::attach_borrower(region.mapping(), &params).unwrap();
        let pool_words: std::vec::Vec<AtomicU32> = (0..256).map(|_| AtomicU32::new(0)).collect();
        let pool = PoolMemory::new(&pool_words, geometry).unwrap();
        let page: std::vec::Vec<AtomicU64> = (0..512).map(|_| AtomicU64::new(0)).collect();
        let counters = Counters::create(&page, 2).unwrap();

        let mut events = Events::new(2);
        events.announce_mac(MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
        let down = LinkState {
            up: false,
            speed_mbps: 0,
            full_duplex: false,
        };
        let up = LinkState {
            up: true,
            speed_mbps: 1000,
            full_duplex: true,
        };
        events.announce_link(down);
        events.announce_link(up);
        // No buffer lent yet: everything waits.
        events.flush(&mut driver, &pool, &counters).unwrap();
        assert!(events.pending());
        for slot in 0..3 {
            stack.send(geometry.buffer(slot, 0, 128).unwrap()).unwrap();
        }
        let _ = stack.publish();
        events.flush(&mut driver, &pool, &counters).unwrap();
        let _ = driver.publish();
        assert!(!events.pending());
        assert_eq!(events.held(), 1);
        let mut got = std::vec::Vec::new();
        while let Some(buffer) = stack.receive().unwrap() {
            let mut bytes = [0u8; MAX_CONTROL_BYTES];
            let n = pool.read(&buffer, &mut bytes).unwrap();
            let (header, event) = DriverEvent::decode(&bytes[..n]).unwrap();
            assert_eq!(header.generation, 2);
            got.push(event);
        }
        assert_eq!(
            got,
            [
                DriverEvent::Mac(MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56])),
                DriverEvent::Link(up)
            ]
        );
        assert_eq!(counters.get(Counter::EventsSent), 2);
    }
}
