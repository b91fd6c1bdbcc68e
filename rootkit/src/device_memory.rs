//! Device memory handed out a page at a time, for the root task and the
//! hardware tests: the device untyped regions of the boot info are split in
//! halves, again and again, until the half that holds a wanted physical
//! address is one 4 KiB page, which becomes a frame. The other halves are
//! kept for later frames, so carving many pages of one region costs a few
//! retypes each, not a pass over the whole region.

use heapless::Vec;

use ward_abi::bootinfo::BootInfo;

use crate::bootinfo::{untypeds, SlotAllocator};
use ward_userlib::cap::{CNode, Cap, Frame4K, ObjectType, Untyped};

/// log2 of the page a piece is split down to.
const PAGE_BITS: u32 = 12;

/// A piece of device memory not yet carved up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DevicePiece {
    cap: Untyped,
    paddr: u64,
    size_bits: u32,
}

impl DevicePiece {
    fn holds(&self, paddr: u64) -> bool {
        self.paddr <= paddr && paddr - self.paddr < (1 << self.size_bits)
    }
}

/// The two retypes carving needs; [`SlotRetype`] makes them with real
/// invocations, host tests with a bookkeeping stand-in.
pub trait DeviceRetype {
    /// Splits `piece` into two untypeds of 2^`half_bits` bytes: the lower
    /// half first.
    fn split(&mut self, piece: Untyped, half_bits: u32) -> Option<(Untyped, Untyped)>;
    /// Turns the one-page untyped `page` into a frame.
    fn frame(&mut self, page: Untyped) -> Option<Frame4K>;
}

/// Retypes into fresh slots of the root CNode.
pub struct SlotRetype<'a> {
    /// The root CNode the new capabilities go into.
    pub cnode: CNode,
    /// Where the new slots come from.
    pub slots: &'a mut SlotAllocator,
}

impl DeviceRetype for SlotRetype<'_> {
    fn split(&mut self, piece: Untyped, half_bits: u32) -> Option<(Untyped, Untyped)> {
        let halves = self.slots.alloc_range(2)?;
        piece
            .untyped_retype(
                ObjectType::Untyped,
                u64::from(half_bits),
                self.cnode,
                0,
                0,
                halves.start,
                2,
            )
            .ok()?;
        Some((
            Cap::from_cptr(halves.start),
            Cap::from_cptr(halves.start + 1),
        ))
    }

    fn frame(&mut self, page: Untyped) -> Option<Frame4K> {
        let slot = self.slots.alloc()?;
        page.untyped_retype(ObjectType::Frame4K, 0, self.cnode, 0, 0, slot, 1)
            .ok()?;
        Some(Cap::from_cptr(slot))
    }
}

/// The device memory not yet carved, in at most `PIECES` pieces.
pub struct DeviceMemory<const PIECES: usize> {
    pieces: Vec<DevicePiece, PIECES>,
}

impl<const PIECES: usize> Default for DeviceMemory<PIECES> {
    fn default() -> Self {
        Self { pieces: Vec::new() }
    }
}

impl<const PIECES: usize> DeviceMemory<PIECES> {
    /// Every device untyped region of the boot info (as many as fit).
    pub fn from_boot_info(info: &BootInfo) -> Self {
        let mut memory = Self::default();
        for region in untypeds(info).filter(|region| region.is_device) {
            memory.add(region.cap, region.paddr, region.size_bits);
        }
        memory
    }

    /// Adds an uncarved region of 2^`size_bits` bytes at `paddr`; false if
    /// there is no room to keep it.
    pub fn add(&mut self, cap: Untyped, paddr: u64, size_bits: u32) -> bool {
        self.pieces
            .push(DevicePiece {
                cap,
                paddr,
                size_bits,
            })
            .is_ok()
    }

    /// The 4 KiB device frame at physical address `paddr` (rounded down to
    /// its page), as a new capability in `cnode`; `None` if no piece holds
    /// the address (never device memory, or already handed out) or if slots
    /// or retypes run out.
    pub fn frame(
        &mut self,
        paddr: u64,
        cnode: CNode,
        slots: &mut SlotAllocator,
    ) -> Option<Frame4K> {
        self.frame_with(paddr, &mut SlotRetype { cnode, slots })
    }

    /// [`frame`](Self::frame) with the retypes made by `retype`.
    pub fn frame_with(&mut self, paddr: u64, retype: &mut impl DeviceRetype) -> Option<Frame4K> {
        let index = self.pieces.iter().position(|p| p.holds(paddr))?;
        let mut piece = self.pieces.swap_remove(index);
        while piece.size_bits > PAGE_BITS {
            let half_bits = piece.size_bits - 1;
            let Some((lower, upper)) = retype.split(piece.cap, half_bits) else {
                // Nothing was split: keep the piece for another try.
                let _ = self.pieces.push(piece);
                return None;
            };
            let upper_paddr = piece.paddr + (1 << half_bits);
            let lower = DevicePiece {
                cap: lower,
                paddr: piece.paddr,
                size_bits: half_bits,
            };
            let upper = DevicePiece {
                cap: upper,
                paddr: upper_paddr,
                size_bits: half_bits,
            };
            let (take, keep) = if paddr >= upper_paddr {
                (upper, lower)
            } else {
                (lower, upper)
            };
            // A full list only loses the spare half (its memory stays in
            // the parent untyped), never the page asked for.
            let _ = self.pieces.push(keep);
            piece = take;
        }
        let frame = retype.frame(piece.cap);
        if frame.is_none() {
            let _ = self.pieces.push(piece);
        }
        frame
    }

    /// Uncarved pieces left.
    pub fn pieces(&self) -> usize {
        self.pieces.len()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    /// Hands out consecutive fake capability numbers and records what was
    /// asked of it.
    #[derive(Default)]
    struct Recorder {
        next: u64,
        splits: u32,
        frames: std::vec::Vec<u64>,
        fail_after_splits: Option<u32>,
    }

    impl DeviceRetype for Recorder {
        fn split(&mut self, _piece: Untyped, _half_bits: u32) -> Option<(Untyped, Untyped)> {
            if self.fail_after_splits == Some(self.splits) {
                return None;
            }
            self.splits += 1;
            self.next += 2;
            Some((Cap::from_cptr(self.next - 2), Cap::from_cptr(self.next - 1)))
        }

        fn frame(&mut self, page: Untyped) -> Option<Frame4K> {
            self.frames.push(page.cptr());
            Some(Cap::from_cptr(1000 + page.cptr()))
        }
    }

    #[test]
    fn a_page_of_a_region_costs_one_split_per_halving() {
        let mut memory = DeviceMemory::<16>::default();
        assert!(memory.add(Cap::from_cptr(900), 0xfe00_0000, 16));
        let mut recorder = Recorder::default();
        assert!(memory.frame_with(0xfe00_5000, &mut recorder).is_some());
        // 64 KiB down to 4 KiB: four halvings, a spare half kept at each.
        assert_eq!(recorder.splits, 4);
        assert_eq!(memory.pieces(), 4);
        // The next page in the same 8 KiB half needs no further split.
        assert!(memory.frame_with(0xfe00_4000, &mut recorder).is_some());
        assert_eq!(recorder.splits, 4);
        // Each page is handed out once.
        assert!(memory.frame_with(0xfe00_5000, &mut recorder).is_none());
        assert!(memory.frame_with(0xfe00_4fff, &mut recorder).is_none());
    }

    #[test]
    fn addresses_outside_every_piece_are_refused() {
        let mut memory = DeviceMemory::<4>::default();
        assert!(memory.add(Cap::from_cptr(900), 0x1_0000, 13));
        let mut recorder = Recorder::default();
        assert!(memory.frame_with(0xffff, &mut recorder).is_none());
        assert!(memory.frame_with(0x1_2000, &mut recorder).is_none());
        assert_eq!(recorder.splits, 0);
        assert!(memory.frame_with(0x1_1000, &mut recorder).is_some());
        assert!(memory.frame_with(0x1_0000, &mut recorder).is_some());
        assert_eq!(memory.pieces(), 0);
    }

    #[test]
    fn a_failed_split_keeps_the_piece() {
        let mut memory = DeviceMemory::<8>::default();
        assert!(memory.add(Cap::from_cptr(900), 0x10_0000, 14));
        let mut recorder = Recorder {
            fail_after_splits: Some(1),
            ..Recorder::default()
        };
        assert!(memory.frame_with(0x10_3000, &mut recorder).is_none());
        // The half that was being split and the spare half are both kept,
        // so the memory can still be carved once retypes work again.
        assert_eq!(memory.pieces(), 2);
        recorder.fail_after_splits = None;
        assert!(memory.frame_with(0x10_3000, &mut recorder).is_some());
        assert!(memory.frame_with(0x10_0000, &mut recorder).is_some());
    }
}
