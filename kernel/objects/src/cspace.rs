//! CSpace lookup: resolving a CPtr through a tree of guarded CNodes.
//!
//! A CPtr is a word whose bits are consumed from the top of a `depth`-bit
//! window (the CPtr's low `depth` bits). At each CNode the lookup first
//! matches the CNode capability's guard (`guard_bits` bits that must equal
//! `guard`), then takes `radix_bits` bits as the slot index. If bits remain
//! and the slot holds another CNode capability, the walk continues there;
//! otherwise it stops at that slot. This is seL4's `resolveAddressBits`.

use crate::cap::Cap;
use crate::error::{InvocationError, LookupSide};
use crate::slot::Slot;
use crate::Objects;
use ward_abi::lookup::LookupFailure;

/// The most bits a CPtr has.
pub const CPTR_BITS: u32 = 64;

/// Where a walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The slot the walk reached.
    pub slot: Slot,
    /// How many of the `depth` bits were not needed to reach it.
    pub bits_left: u32,
}

/// The `count` bits of `cptr` just below bit `top` (bits `top-count..top`).
fn bits_below(cptr: u64, top: u32, count: u32) -> u64 {
    if count == 0 {
        return 0;
    }
    let shifted = if top - count >= 64 {
        0
    } else {
        cptr >> (top - count)
    };
    if count >= 64 {
        shifted
    } else {
        shifted & ((1u64 << count) - 1)
    }
}

impl Objects {
    /// Walks from the CNode capability `root` along the low `depth` bits of
    /// `cptr` (seL4's `resolveAddressBits`). Stops at the first slot reached
    /// once the bits run out, or earlier at a slot that holds no CNode cap.
    pub fn resolve_address_bits(
        &self,
        root: Cap,
        cptr: u64,
        depth: u32,
    ) -> Result<Resolved, LookupFailure> {
        let Cap::CNode { .. } = root else {
            return Err(LookupFailure::InvalidRoot);
        };
        let mut cap = root;
        let mut bits_left = depth.min(CPTR_BITS);
        loop {
            let Cap::CNode {
                object,
                radix_bits,
                guard,
                guard_bits,
            } = cap
            else {
                unreachable!("the walk only continues through CNode caps");
            };
            let (radix, guard_size) = (radix_bits as u32, guard_bits as u32);
            let level_bits = radix + guard_size;
            if guard_size > bits_left || bits_below(cptr, bits_left, guard_size) != guard {
                return Err(LookupFailure::GuardMismatch {
                    bits_left,
                    guard_found: guard,
                    guard_bits: guard_size,
                });
            }
            if level_bits > bits_left {
                return Err(LookupFailure::DepthMismatch {
                    bits_left,
                    bits_found: level_bits,
                });
            }
            let index = bits_below(cptr, bits_left - guard_size, radix);
            let slot = self.cnode_slot(object, index);
            bits_left -= level_bits;
            if bits_left == 0 {
                return Ok(Resolved { slot, bits_left: 0 });
            }
            cap = self.cap(slot);
            if !matches!(cap, Cap::CNode { .. }) {
                return Ok(Resolved { slot, bits_left });
            }
        }
    }

    /// Finds the slot an operation names by `(root, cptr, depth)`, where the
    /// depth must be exact (seL4's `lookupSlotForCNodeOp`): depth must be in
    /// `1..=64` and the walk must use all of it.
    pub fn lookup_slot_exact(
        &self,
        side: LookupSide,
        root: Cap,
        cptr: u64,
        depth: u64,
    ) -> Result<Slot, InvocationError> {
        if !matches!(root, Cap::CNode { .. }) {
            return Err(InvocationError::lookup(side, LookupFailure::InvalidRoot));
        }
        if !(1..=CPTR_BITS as u64).contains(&depth) {
            return Err(InvocationError::range(
                1,
                CPTR_BITS as u64,
                "lookup depth must be 1..=64",
            ));
        }
        let resolved = self
            .resolve_address_bits(root, cptr, depth as u32)
            .map_err(|f| InvocationError::lookup(side, f))?;
        if resolved.bits_left != 0 {
            return Err(InvocationError::lookup(
                side,
                LookupFailure::DepthMismatch {
                    bits_left: resolved.bits_left,
                    bits_found: 0,
                },
            ));
        }
        Ok(resolved.slot)
    }

    /// The slot `cptr` names when the CSpace root in `root_slot` is a
    /// single CNode whose guard and radix take all 64 bits (as every
    /// component's and the root task's do): the one-level case of
    /// [`Objects::lookup_cap`], without decoding a capability. `None` when
    /// that is not the shape of the CSpace or the guard does not match: the
    /// caller then does the general lookup, which also reports the failure.
    #[inline(always)]
    pub fn lookup_one_level(&self, root_slot: Slot, cptr: u64) -> Option<Slot> {
        let (object, radix_bits, guard, guard_bits) = Cap::cnode_in(self.cap_words(root_slot))?;
        if radix_bits + guard_bits != CPTR_BITS || radix_bits == 0 || radix_bits >= CPTR_BITS {
            return None;
        }
        if cptr >> radix_bits != guard {
            return None;
        }
        Some(self.cnode_slot(object, cptr & ((1u64 << radix_bits) - 1)))
    }

    /// Finds the capability a syscall names by `cptr` in the thread's CSpace
    /// `root`, using all 64 bits (seL4's `lookupCap`); the walk may stop early
    /// at a non-CNode cap. An empty slot is a `MissingCapability` failure.
    pub fn lookup_cap(&self, root: Cap, cptr: u64) -> Result<(Slot, Cap), LookupFailure> {
        let resolved = self.resolve_address_bits(root, cptr, CPTR_BITS)?;
        match self.cap(resolved.slot) {
            Cap::Null => Err(LookupFailure::MissingCapability {
                bits_left: resolved.bits_left,
            }),
            cap => Ok((resolved.slot, cap)),
        }
    }
}
