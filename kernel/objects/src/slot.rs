//! Capability slots: 32-byte records in CNode and TCB memory.
//!
//! | word | content |
//! |---|---|
//! | 0, 1 | the capability ([`crate::cap`] encoding) |
//! | 2 | derivation-tree link to the previous slot (physical address), plus flags |
//! | 3 | derivation-tree link to the next slot (physical address) |
//!
//! Links are slot physical addresses; 0 means "none", so physical address 0
//! never holds a slot ([`crate::untyped`] refuses untyped memory at 0).
//! Flags in word 2's top bits: `revocable` (this cap may have children in the
//! derivation tree) and `first_badged` (this cap is the original of its
//! badge), as in seL4's MDB.

use crate::cap::{Cap, PADDR_BITS};
use crate::phys::PAddr;
use crate::Objects;
use ward_abi::object::SLOT_BITS;

/// Bytes in one slot.
pub const SLOT_SIZE: u64 = 1 << SLOT_BITS;
const LINK_MASK: u64 = (1 << PADDR_BITS) - 1;
const REVOCABLE: u64 = 1 << 62;
const FIRST_BADGED: u64 = 1 << 63;

/// A slot, named by its physical address (32-byte aligned, never 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(pub PAddr);

impl Slot {
    /// The slot's physical address.
    pub fn paddr(self) -> PAddr {
        self.0
    }
    fn word(self, index: u64) -> PAddr {
        self.0 + index * 8
    }
}

/// A slot's derivation-tree node, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MdbNode {
    pub prev: Option<Slot>,
    pub next: Option<Slot>,
    pub revocable: bool,
    pub first_badged: bool,
}

fn link(word: u64) -> Option<Slot> {
    let paddr = word & LINK_MASK;
    (paddr != 0).then_some(Slot(paddr))
}

impl Objects {
    /// The capability in `slot`.
    #[inline]
    pub fn cap(&self, slot: Slot) -> Cap {
        Cap::decode(self.cap_words(slot))
    }

    /// The two words of the capability in `slot`, undecoded (for the
    /// narrow readers `Cap::endpoint_in` and its kin).
    #[inline(always)]
    pub fn cap_words(&self, slot: Slot) -> [u64; 2] {
        [
            self.mem.read_in(slot.0, SLOT_BITS, 0),
            self.mem.read_in(slot.0, SLOT_BITS, 8),
        ]
    }

    /// Overwrites the capability in `slot`, leaving its tree links alone.
    pub(crate) fn set_cap(&self, slot: Slot, cap: Cap) {
        let [w0, w1] = cap.encode();
        self.mem.write_word(slot.word(0), w0);
        self.mem.write_word(slot.word(1), w1);
    }

    /// The derivation-tree node of `slot`.
    pub fn mdb(&self, slot: Slot) -> MdbNode {
        let w2 = self.mem.read_word(slot.word(2));
        let w3 = self.mem.read_word(slot.word(3));
        MdbNode {
            prev: link(w2),
            next: link(w3),
            revocable: w2 & REVOCABLE != 0,
            first_badged: w2 & FIRST_BADGED != 0,
        }
    }

    pub(crate) fn set_mdb(&self, slot: Slot, node: MdbNode) {
        let prev = node.prev.map_or(0, |s| s.0);
        let next = node.next.map_or(0, |s| s.0);
        let flags = if node.revocable { REVOCABLE } else { 0 }
            | if node.first_badged { FIRST_BADGED } else { 0 };
        self.mem.write_word(slot.word(2), prev | flags);
        self.mem.write_word(slot.word(3), next);
    }

    pub(crate) fn set_prev(&self, slot: Slot, prev: Option<Slot>) {
        let node = self.mdb(slot);
        self.set_mdb(slot, MdbNode { prev, ..node });
    }

    pub(crate) fn set_next(&self, slot: Slot, next: Option<Slot>) {
        let node = self.mdb(slot);
        self.set_mdb(slot, MdbNode { next, ..node });
    }

    /// Writes `cap` into the empty `slot` as an original that stands alone
    /// in the derivation tree (no links; revocable, the first of its badge),
    /// four word writes: what [`Objects::put_reply_cap`] needs on the IPC
    /// fast path.
    #[inline(always)]
    pub(crate) fn set_unlinked_original(&self, slot: Slot, cap: Cap) {
        let [w0, w1] = cap.encode();
        self.mem.write_in(slot.0, SLOT_BITS, 0, w0);
        self.mem.write_in(slot.0, SLOT_BITS, 8, w1);
        self.mem
            .write_in(slot.0, SLOT_BITS, 16, REVOCABLE | FIRST_BADGED);
        self.mem.write_in(slot.0, SLOT_BITS, 24, 0);
    }

    /// Empties a slot with no derivation-tree links (the counterpart of
    /// [`Objects::set_unlinked_original`]).
    #[inline(always)]
    pub(crate) fn clear_unlinked(&self, slot: Slot) {
        for word in 0..4 {
            self.mem.write_in(slot.0, SLOT_BITS, word * 8, 0);
        }
    }

    /// Empties `slot` completely (cap and links), without touching neighbours.
    pub(crate) fn clear_slot(&self, slot: Slot) {
        self.mem.zero(slot.0, SLOT_SIZE);
    }

    /// Slot `index` of the CNode whose slots start at `object`.
    pub fn cnode_slot(&self, object: PAddr, index: u64) -> Slot {
        Slot(object + index * SLOT_SIZE)
    }
}
