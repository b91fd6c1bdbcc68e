//! The driver's control messages (`ward_proto::driver::DriverEvent`: its
//! MAC address, link changes) on the `net-events` pair: the stack owns the
//! small pool, lends every buffer empty, and gets each back holding one
//! message, which it copies out, decodes and lends again.

use ward_proto::driver::{DriverEvent, MAX_CONTROL_BYTES};
use ward_ring::{PairEnd, PeerMisbehaved, PoolMemory, RingMemory, SendError, WaitDecision};

/// The stack's end of the events pair.
pub struct DriverEvents<'a, M, const W: usize> {
    end: PairEnd<M, W>,
    pool: PoolMemory<'a>,
    doorbell: bool,
    /// Messages that did not decode, and ring protocol violations.
    pub errors: u64,
    stalled: bool,
}

impl<'a, M: RingMemory, const W: usize> DriverEvents<'a, M, W> {
    /// Over a freshly initialised pair (the stack holds every buffer): lends them all.
    pub fn new(end: PairEnd<M, W>, pool: PoolMemory<'a>) -> Self {
        let mut events = Self {
            end,
            pool,
            doorbell: false,
            errors: 0,
            stalled: false,
        };
        events.lend_all();
        events
    }

    fn broke(&mut self, e: PeerMisbehaved) {
        self.errors += 1;
        self.stalled |= matches!(e, PeerMisbehaved::IndexOutOfRange { .. });
    }

    fn lend_all(&mut self) {
        let geometry = self.pool.geometry();
        while let Some(slot) = self.end.held().first() {
            let Ok(buffer) = geometry.buffer(slot, 0, geometry.slot_size()) else {
                break;
            };
            match self.end.send(buffer) {
                Ok(()) => {}
                Err(SendError::Peer(e, _)) => {
                    self.broke(e);
                    break;
                }
                Err(_) => break,
            }
        }
    }

    /// The next message from the driver, if one came.
    pub fn next_event(&mut self) -> Option<DriverEvent> {
        while !self.stalled {
            let buffer = match self.end.receive() {
                Ok(Some(buffer)) => buffer,
                Ok(None) => return None,
                Err(e) => {
                    self.broke(e);
                    continue;
                }
            };
            let mut copy = [0u8; MAX_CONTROL_BYTES];
            let n = self.pool.read(&buffer, &mut copy).unwrap_or(0);
            self.lend_all();
            if n == 0 {
                continue; // a buffer too small for the message comes back empty
            }
            match DriverEvent::decode(&copy[..n]) {
                Ok((_, event)) => return Some(event),
                Err(_) => self.errors += 1,
            }
        }
        None
    }

    /// Publishes the lends; true if the driver asked for a doorbell.
    pub fn flush(&mut self) -> bool {
        if self.stalled {
            return false;
        }
        let released = self.end.release();
        let published = self.end.publish();
        released.or(published).should_signal() || core::mem::take(&mut self.doorbell)
    }

    /// Asks the driver to ring when a message comes; false if one is there.
    pub fn prepare_sleep(&mut self) -> bool {
        if self.stalled {
            return true;
        }
        match self.end.prepare_wait_incoming(1) {
            Ok(WaitDecision::Ready) => false,
            Ok(_) => true,
            Err(e) => {
                self.broke(e);
                true
            }
        }
    }
}
