//! The NIC's receive and transmit descriptor rings (SDM 3.2.6 and 3.4):
//! circular arrays in the `nic-descriptors` region, with head and tail
//! registers. Software owns the descriptors from the head up to the tail,
//! minus one; the NIC owns the rest, consuming them from the head.
//!
//! Each ring here keeps a shadow of which buffer it posted in each
//! descriptor. Only the shadow is trusted: what the NIC writes back (length,
//! status, errors) is read once the done bit is seen, copied, and checked;
//! the buffer address in the descriptor is never read back. One descriptor
//! always stays empty so that a full ring (tail one behind head) differs
//! from an empty one (tail equal to head).

use core::marker::PhantomData;
use core::sync::atomic::Ordering;

use ward_ring::Buffer;
use ward_userlib::dma::Descriptors;

use crate::descriptors::{
    tx_command_word, tx_status, tx_status_of, RxWriteBack, ADDRESS_WORD, RING_LENGTH_QUANTUM,
    STATUS_WORD,
};

/// Descriptors per ring the driver tracks: its shadows live on its stack.
/// 256 is the default system's ring (an 8 KiB `nic-descriptors` region
/// split in two); a larger region is used up to this many.
pub const MAX_DESCRIPTORS: usize = 256;

/// A ring of this many descriptors cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadRingSize(pub usize);

/// Descriptors to use out of `available`: a multiple of eight (RDLEN and
/// TDLEN are multiples of 128 bytes), at most [`MAX_DESCRIPTORS`], at
/// least eight.
pub fn usable_descriptors(available: usize) -> Result<usize, BadRingSize> {
    let count = available.min(MAX_DESCRIPTORS) / RING_LENGTH_QUANTUM * RING_LENGTH_QUANTUM;
    if count < RING_LENGTH_QUANTUM {
        return Err(BadRingSize(available));
    }
    Ok(count)
}

/// Marks a receive ring: empty buffers posted for the NIC to fill.
pub enum Receive {}
/// Marks a transmit ring: frames handed to the NIC to send.
pub enum Transmit {}

/// The receive ring.
pub type RxRing<'a> = DescriptorRing<'a, Receive>;
/// The transmit ring.
pub type TxRing<'a> = DescriptorRing<'a, Transmit>;

/// A descriptor ring and its shadow; `K` says which way the buffers go.
pub struct DescriptorRing<'a, K> {
    descriptors: Descriptors<'a>,
    posted: [Option<Buffer>; MAX_DESCRIPTORS],
    /// The oldest descriptor posted and not yet reaped (software's head).
    head: usize,
    /// The next descriptor to post into (what the tail register says).
    tail: usize,
    in_flight: usize,
    count: usize,
    kind: PhantomData<K>,
}

impl<'a, K> DescriptorRing<'a, K> {
    /// A ring over `descriptors`, all zeroed, nothing posted.
    pub fn new(descriptors: Descriptors<'a>) -> Result<DescriptorRing<'a, K>, BadRingSize> {
        if descriptors.len() > MAX_DESCRIPTORS
            || !descriptors.len().is_multiple_of(RING_LENGTH_QUANTUM)
        {
            return Err(BadRingSize(descriptors.len()));
        }
        let mut ring = DescriptorRing {
            count: descriptors.len(),
            descriptors,
            posted: [None; MAX_DESCRIPTORS],
            head: 0,
            tail: 0,
            in_flight: 0,
            kind: PhantomData,
        };
        ring.reset();
        Ok(ring)
    }

    /// Descriptors in the ring.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: a ring has at least eight descriptors.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The IO address of the first descriptor (RDBAL/RDBAH, TDBAL/TDBAH).
    pub fn iova(&self) -> u64 {
        self.descriptors.iova()
    }

    /// Bytes of descriptors (RDLEN, TDLEN).
    pub fn bytes(&self) -> u32 {
        self.descriptors.bytes() as u32
    }

    /// Forgets every posted buffer and zeroes every descriptor. Only while
    /// the NIC's ring is disabled and its head and tail are being reset.
    pub fn reset(&mut self) {
        for index in 0..self.count {
            self.descriptors
                .store(index, ADDRESS_WORD, 0, Ordering::Relaxed);
            self.descriptors
                .store(index, STATUS_WORD, 0, Ordering::Relaxed);
        }
        self.posted = [None; MAX_DESCRIPTORS];
        self.head = 0;
        self.tail = 0;
        self.in_flight = 0;
    }

    /// Buffers posted and not yet reaped.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Descriptors that could be posted now.
    pub fn room(&self) -> usize {
        self.count - 1 - self.in_flight
    }

    /// The value for the tail register (RDT, TDT).
    pub fn tail(&self) -> u32 {
        self.tail as u32
    }

    fn post_with(&mut self, buffer: Buffer, iova: u64, status_word: u64) {
        assert!(self.room() > 0, "posting to a full descriptor ring");
        let index = self.tail;
        self.descriptors
            .store(index, ADDRESS_WORD, iova, Ordering::Relaxed);
        self.descriptors
            .store(index, STATUS_WORD, status_word, Ordering::Relaxed);
        self.posted[index] = Some(buffer);
        self.tail = (index + 1) % self.count;
        self.in_flight += 1;
    }

    /// Fault injection: points descriptor `index` (the NIC's next, say) at
    /// `iova`, if it is posted and not yet written back.
    pub fn retarget(&mut self, index: usize, iova: u64) {
        if index < self.count
            && self.posted[index].is_some()
            && self.descriptors.load(index, STATUS_WORD, Ordering::Acquire) == 0
        {
            self.descriptors
                .store(index, ADDRESS_WORD, iova, Ordering::Release);
        }
    }

    /// The written-back status word of the oldest posted descriptor, read
    /// with acquire ordering, if there is one.
    fn head_status(&self) -> Option<u64> {
        (self.in_flight > 0).then(|| {
            self.descriptors
                .load(self.head, STATUS_WORD, Ordering::Acquire)
        })
    }

    /// Takes the oldest posted buffer back, clearing its descriptor so that
    /// its done bit is never seen again.
    fn take_head(&mut self) -> Buffer {
        let index = self.head;
        let buffer = self.posted[index]
            .take()
            .expect("every descriptor between head and tail has its buffer");
        self.descriptors
            .store(index, STATUS_WORD, 0, Ordering::Relaxed);
        self.head = (index + 1) % self.count;
        self.in_flight -= 1;
        buffer
    }
}

impl DescriptorRing<'_, Receive> {
    /// Posts an empty `buffer` at IO address `iova`; the NIC sees it once the
    /// tail register is written.
    pub fn post(&mut self, buffer: Buffer, iova: u64) {
        self.post_with(buffer, iova, 0);
    }

    /// Whether the NIC has written back the oldest posted descriptor.
    pub fn has_completion(&self) -> bool {
        self.head_status()
            .is_some_and(|word| RxWriteBack::decode(word).done())
    }

    /// The oldest posted buffer and what the NIC wrote back for it, once the
    /// NIC is done with it.
    pub fn reap(&mut self) -> Option<(Buffer, RxWriteBack)> {
        let write_back = RxWriteBack::decode(self.head_status()?);
        if !write_back.done() {
            return None;
        }
        Some((self.take_head(), write_back))
    }
}

impl DescriptorRing<'_, Transmit> {
    /// Hands the frame in `buffer` at IO address `iova` to the NIC, one
    /// descriptor with the `command` bits (EOP, IFCS, RS, maybe IDE); the
    /// NIC sees it once the tail register is written.
    pub fn post(&mut self, buffer: Buffer, iova: u64, command: u8) {
        let length = buffer.len() as u16;
        self.post_with(buffer, iova, tx_command_word(length, command));
    }

    /// Whether the NIC has sent the oldest frame handed to it.
    pub fn has_completion(&self) -> bool {
        self.head_status()
            .is_some_and(|word| tx_status_of(word) & tx_status::DD != 0)
    }

    /// The oldest frame's buffer, once the NIC has sent it.
    pub fn reap(&mut self) -> Option<Buffer> {
        if !self.has_completion() {
            return None;
        }
        Some(self.take_head())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptors::{rx_status, tx_command, DESCRIPTOR_BYTES};
    use core::sync::atomic::AtomicU64;
    use ward_ring::PoolGeometry;
    use ward_userlib::dma::DmaRegion;
    use ward_userlib::spec::DmaWindow;

    fn memory(descriptors: usize) -> &'static [AtomicU64] {
        let words: Vec<AtomicU64> = (0..descriptors * 2).map(|_| AtomicU64::new(0)).collect();
        Box::leak(words.into_boxed_slice())
    }

    fn ring(words: &'static [AtomicU64], count: usize) -> Descriptors<'static> {
        let window = DmaWindow {
            iova: 0x10_0000,
            size: (words.len() * 8) as u64,
            device_reads: true,
            device_writes: true,
        };
        DmaRegion::over(words, window)
            .unwrap()
            .descriptors(0, count, DESCRIPTOR_BYTES)
            .unwrap()
    }

    /// What the NIC does when it fills descriptor `index` with a frame.
    fn nic_writes_back(words: &[AtomicU64], index: usize, length: u16, status: u8, errors: u8) {
        let word = u64::from(length) | (u64::from(status) << 32) | (u64::from(errors) << 40);
        words[index * 2 + 1].store(word, Ordering::Release);
    }

    #[test]
    fn ring_sizes() {
        assert_eq!(usable_descriptors(256), Ok(256));
        assert_eq!(usable_descriptors(300), Ok(256));
        assert_eq!(usable_descriptors(20), Ok(16));
        assert_eq!(usable_descriptors(7), Err(BadRingSize(7)));
    }

    #[test]
    fn receive_ring_keeps_one_slot_free_and_reaps_in_order() {
        let words = memory(8);
        let mut rx = RxRing::new(ring(words, 8)).unwrap();
        let pool = PoolGeometry::new(2048, 16, 64).unwrap();
        assert_eq!(rx.room(), 7);
        for slot in 0..7 {
            rx.post(
                pool.buffer(slot, 0, 2048).unwrap(),
                0x1000_0000 + u64::from(slot) * 2048,
            );
        }
        assert_eq!((rx.room(), rx.tail()), (0, 7));
        assert_eq!(words[2].load(Ordering::Relaxed), 0x1000_0800);
        assert!(rx.reap().is_none(), "nothing written back yet");
        nic_writes_back(words, 0, 60, rx_status::DD | rx_status::EOP, 0);
        // The NIC writing back out of order is not believed before its turn.
        nic_writes_back(words, 2, 70, rx_status::DD | rx_status::EOP, 0);
        let (buffer, wb) = rx.reap().unwrap();
        assert_eq!((buffer.slot(), wb.length), (0, 60));
        assert!(rx.reap().is_none());
        assert_eq!(
            words[1].load(Ordering::Relaxed),
            0,
            "the done bit is cleared"
        );
        nic_writes_back(words, 1, 64, rx_status::DD | rx_status::EOP, 0);
        assert_eq!(rx.reap().unwrap().0.slot(), 1);
        assert_eq!(rx.reap().unwrap().1.length, 70);
        assert_eq!((rx.in_flight(), rx.room()), (4, 3));
        rx.reset();
        assert_eq!((rx.in_flight(), rx.room(), rx.tail()), (0, 7, 0));
        assert!(words.iter().all(|w| w.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn transmit_ring_writes_the_command_and_reaps_sent_frames() {
        let words = memory(8);
        let mut tx = TxRing::new(ring(words, 8)).unwrap();
        let pool = PoolGeometry::new(2048, 16, 64).unwrap();
        let frame = pool.buffer(3, 64, 1514).unwrap();
        let command = tx_command::EOP | tx_command::IFCS | tx_command::RS;
        tx.post(frame, 0x2000_1840, command);
        assert_eq!(words[0].load(Ordering::Relaxed), 0x2000_1840);
        assert_eq!(
            words[1].load(Ordering::Relaxed),
            tx_command_word(1514, command)
        );
        assert!(tx.reap().is_none());
        let written = words[1].load(Ordering::Relaxed) | (u64::from(tx_status::DD) << 32);
        words[1].store(written, Ordering::Release);
        assert_eq!(tx.reap(), Some(frame));
        assert_eq!(tx.in_flight(), 0);
    }
}
