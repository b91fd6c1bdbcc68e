//! Memory a device reaches by DMA, as its driver sees it.
//!
//! A driver shares descriptor memory with its device, which writes status
//! back into it at any moment. As for memory shared with another component
//! ([`crate::region`]), no Rust reference to plain data in it is ever
//! formed: a [`DmaRegion`] is a region of the caps table viewed as 64-bit
//! atomic words, together with the IO virtual address at which the device
//! reaches it (its DMA window), and [`Descriptors`] carves an array of
//! fixed-size descriptors out of it.
//!
//! ```ignore
//! let memory = DmaRegion::new(caps::NIC_DESCRIPTORS, caps::NIC_DMA_NIC_DESCRIPTORS)?;
//! let rx = memory.descriptors(0, 256, 16)?;         // 256 descriptors of 16 bytes
//! nic.write(RDBAL, rx.iova() as u32);                // where the device finds them
//! rx.store(0, 0, buffer_iova, Ordering::Relaxed);    // fill a descriptor ...
//! nic.ring_doorbell(RDT, 1);                         // ... write barrier, then the tail
//! if rx.load(0, 1, Ordering::Acquire) & DD != 0 { .. } // acquire: the device wrote it back
//! ```
//!
//! Ordering with the device follows the same two rules as rings between
//! components (docs/protocols.md): every store to descriptors and buffers
//! is made visible before the doorbell that hands them over
//! ([`write_barrier`], which [`crate::mmio::RegisterBlock::ring_doorbell`]
//! issues), and a descriptor's done bit is read with acquire ordering before
//! anything else the device wrote back with it.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::spec::{DmaWindow, Mapping};

/// Why a DMA view could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaError {
    /// The mapping is larger than the device's window onto it: the device
    /// could not reach all of it.
    WindowTooSmall { mapped: u64, window: u64 },
    /// The mapping is read-only, but descriptors must be written.
    ReadOnly,
    /// The descriptors asked for do not fit the region, or are not whole
    /// 8-byte words, or are misaligned.
    OutOfRange,
}

/// A region the driver maps and its device reaches by DMA.
#[derive(Clone, Copy)]
pub struct DmaRegion<'a> {
    words: &'a [AtomicU64],
    window: DmaWindow,
}

impl DmaRegion<'static> {
    /// The region of the caps table `mapping`, which the device reaches
    /// through `window`.
    pub fn new(mapping: Mapping, window: DmaWindow) -> Result<DmaRegion<'static>, DmaError> {
        if !mapping.writable() {
            return Err(DmaError::ReadOnly);
        }
        DmaRegion::over(crate::region::words64(mapping), window)
    }
}

impl<'a> DmaRegion<'a> {
    /// A view over `words` (host tests use ordinary memory here).
    pub fn over(words: &'a [AtomicU64], window: DmaWindow) -> Result<DmaRegion<'a>, DmaError> {
        let mapped = (words.len() * 8) as u64;
        if mapped > window.size {
            return Err(DmaError::WindowTooSmall {
                mapped,
                window: window.size,
            });
        }
        Ok(DmaRegion { words, window })
    }

    /// Bytes in the region.
    pub fn bytes(&self) -> u64 {
        (self.words.len() * 8) as u64
    }

    /// `count` descriptors of `bytes_each` bytes (a multiple of 8) starting
    /// `offset` bytes (a multiple of 8) into the region.
    pub fn descriptors(
        &self,
        offset: u64,
        count: usize,
        bytes_each: usize,
    ) -> Result<Descriptors<'a>, DmaError> {
        if bytes_each == 0 || !bytes_each.is_multiple_of(8) || !offset.is_multiple_of(8) {
            return Err(DmaError::OutOfRange);
        }
        let first = (offset / 8) as usize;
        let words_each = bytes_each / 8;
        let total = count.checked_mul(words_each).ok_or(DmaError::OutOfRange)?;
        let end = first.checked_add(total).ok_or(DmaError::OutOfRange)?;
        let words = self.words.get(first..end).ok_or(DmaError::OutOfRange)?;
        let iova = self
            .window
            .iova_of(offset, (total * 8) as u64)
            .ok_or(DmaError::OutOfRange)?;
        Ok(Descriptors {
            words,
            words_each,
            count,
            iova,
        })
    }
}

/// An array of descriptors in DMA memory, each a few little-endian 64-bit
/// words.
#[derive(Clone, Copy)]
pub struct Descriptors<'a> {
    words: &'a [AtomicU64],
    words_each: usize,
    count: usize,
    iova: u64,
}

impl<'a> Descriptors<'a> {
    /// Number of descriptors.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The IO virtual address of the first descriptor (what the device is
    /// programmed with).
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// Bytes the array covers.
    pub fn bytes(&self) -> u64 {
        (self.words.len() * 8) as u64
    }

    fn word(&self, index: usize, word: usize) -> &AtomicU64 {
        assert!(
            index < self.count && word < self.words_each,
            "descriptor {index} word {word} is outside an array of {} descriptors of {} words",
            self.count,
            self.words_each
        );
        &self.words[index * self.words_each + word]
    }

    /// Word `word` of descriptor `index`. Use `Ordering::Acquire` for the
    /// word holding a done bit, so that what the device wrote with it is
    /// read after it.
    #[inline]
    pub fn load(&self, index: usize, word: usize, order: Ordering) -> u64 {
        self.word(index, word).load(order)
    }

    /// Stores word `word` of descriptor `index`. The device sees it only
    /// after a [`write_barrier`] and a doorbell.
    #[inline]
    pub fn store(&self, index: usize, word: usize, value: u64, order: Ordering) {
        self.word(index, word).store(value, order)
    }
}

/// Orders every store made so far (to descriptors, buffers, any memory)
/// before every later store, in particular the MMIO store of a doorbell:
/// the device must never see a tail that covers a descriptor it cannot see
/// yet. On x86_64 ordinary stores already reach memory in program order,
/// also with respect to an uncached register store; the release fence keeps
/// the compiler from moving them, and `sfence` orders write-combining or
/// non-temporal stores too, as Linux's `wmb()` does.
#[inline]
pub fn write_barrier() {
    core::sync::atomic::fence(Ordering::Release);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sfence` only orders stores; it reads and writes no memory and
    // changes no register or flag.
    unsafe {
        core::arch::asm!("sfence", options(nostack, preserves_flags));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(size: u64) -> DmaWindow {
        DmaWindow {
            iova: 0x10_0000,
            size,
            device_reads: true,
            device_writes: true,
        }
    }

    #[test]
    fn descriptors_lie_inside_and_know_their_io_address() {
        let words: Vec<AtomicU64> = (0..64).map(|_| AtomicU64::new(0)).collect();
        let region = DmaRegion::over(&words, window(512)).unwrap();
        let tx = region.descriptors(256, 16, 16).unwrap();
        assert_eq!(tx.len(), 16);
        assert_eq!(tx.iova(), 0x10_0100);
        tx.store(15, 1, 7, Ordering::Relaxed);
        assert_eq!(words[63].load(Ordering::Relaxed), 7);
        assert_eq!(tx.load(15, 1, Ordering::Acquire), 7);
        assert_eq!(
            region.descriptors(256, 17, 16).err(),
            Some(DmaError::OutOfRange)
        );
        assert_eq!(
            region.descriptors(4, 1, 16).err(),
            Some(DmaError::OutOfRange)
        );
        assert_eq!(
            DmaRegion::over(&words, window(256)).err(),
            Some(DmaError::WindowTooSmall {
                mapped: 512,
                window: 256
            })
        );
        write_barrier();
    }

    #[test]
    #[should_panic(expected = "outside an array")]
    fn a_descriptor_past_the_end_panics() {
        let words: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
        let region = DmaRegion::over(&words, window(32)).unwrap();
        region
            .descriptors(0, 2, 16)
            .unwrap()
            .load(2, 0, Ordering::Relaxed);
    }
}
