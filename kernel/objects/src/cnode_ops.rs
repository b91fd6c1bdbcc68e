//! The CNode operations over the derivation tree: Copy, Mint, Move, Mutate,
//! Delete and Revoke.
//!
//! Copy and Mint derive a new capability from a source one and insert it
//! right after the source in the derivation list; Move and Mutate take the
//! source's place in the list. Delete removes one capability; if it was the
//! last one to its object, the object is destroyed (the kernel's
//! [`ObjectHooks::finalise`] undoes its effects). Revoke deletes all
//! descendants of a capability.
//!
//! ## Destroying CNodes and TCBs: zombies
//!
//! A CNode or TCB holds capability slots, so destroying it means deleting
//! every capability inside it, which may in turn destroy more CNodes: an
//! unbounded amount of work that must be preemptible and may not recurse on
//! the kernel stack. When the last cap to a CNode or TCB is deleted, its
//! slot's cap turns into a *zombie* that records the object and how many of
//! its slots may still be full. Each step ([`Objects::delete_step`]) walks
//! down from the slot being deleted through zombies to the next piece of
//! work, does it and returns; the zombie's count only falls, so repeated
//! steps finish. The zombie keeps its place in the derivation tree, so the
//! object's untyped cannot be reused before the object is empty.
//!
//! A dying container may (through other dying containers) hold the very slot
//! whose deletion started the chain; this happens only to unreachable
//! structures that a revoke of their untyped is cleaning up. The step then
//! swaps that slot's zombie into a slot of its own object, where it is
//! skipped over and finished by the revoke of its untyped.

use crate::cap::{Cap, ZombieKind, MAX_GUARD_BITS};
use crate::cspace::CPTR_BITS;
use crate::error::{InvocationError, LookupSide};
use crate::slot::{Slot, SLOT_SIZE};
use crate::tcb::{TCB_SLOTS_OFFSET, TCB_SLOT_COUNT};
use crate::{Completion, ObjectHooks, Objects};
use ward_abi::lookup::LookupFailure;
use ward_abi::rights::CapRights;

/// The result of one step of a long operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The operation is finished.
    Done,
    /// Work was done and more remains: check for interrupts, then step again.
    More,
}

/// Argument positions of the CNode invocations, for `InvalidArgument` details.
/// Copy/Mint/Move/Mutate take: dest index, dest depth, src index, src depth,
/// then rights (Copy, Mint) and badge (Mint) or data (Mutate).
/// Rotate takes: dest index, dest depth, pivot index, pivot depth, pivot
/// data, src index, src depth, src data.
mod arg {
    pub const MINT_BADGE: u8 = 5;
    pub const MUTATE_DATA: u8 = 4;
    pub const ROTATE_PIVOT_DATA: u8 = 4;
    pub const ROTATE_SRC_DATA: u8 = 7;
}

/// Decodes a CNode guard word: guard size in the low 6 bits, guard above.
pub fn decode_guard(data: u64, radix_bits: u8) -> Option<(u64, u8)> {
    let guard_bits = (data & 0x3f) as u32;
    let guard = data >> 6;
    let fits = guard_bits <= MAX_GUARD_BITS
        && guard_bits + radix_bits as u32 <= CPTR_BITS
        && guard >> guard_bits == 0;
    fits.then_some((guard, guard_bits as u8))
}

fn has_mapping(cap: &Cap) -> bool {
    match cap {
        Cap::Frame { mapping, .. }
        | Cap::Pdpt { mapping, .. }
        | Cap::PageDirectory { mapping, .. }
        | Cap::PageTable { mapping, .. }
        | Cap::IoPageTable { mapping, .. } => mapping.is_some(),
        Cap::Pml4 { asid, .. } => asid.is_some(),
        _ => false,
    }
}

/// seL4's `isCapRevocable`: whether a cap derived from `src` may have children.
fn is_derived_revocable(new: &Cap, src: &Cap) -> bool {
    match new {
        Cap::Endpoint { badge, .. } | Cap::Notification { badge, .. } => *badge != src.badge(),
        Cap::IrqHandler { .. } => matches!(src, Cap::IrqControl),
        Cap::IoPort { .. } => matches!(src, Cap::IoPortControl),
        Cap::Untyped { .. } => true,
        _ => false,
    }
}

/// The capability a copy of `cap` may be, or why none may be made.
fn derive(cap: Cap) -> Result<Cap, InvocationError> {
    match cap {
        Cap::Null => Err(InvocationError::lookup(
            LookupSide::Source,
            LookupFailure::MissingCapability { bits_left: 0 },
        )),
        Cap::Zombie { .. } => Err(InvocationError::illegal("the capability is being deleted")),
        Cap::Untyped { .. } => Err(InvocationError::illegal(
            "untyped capabilities cannot be copied; retype a child untyped to delegate memory",
        )),
        Cap::Reply { .. } => Err(InvocationError::illegal(
            "reply capabilities cannot be copied",
        )),
        Cap::IrqControl | Cap::IoPortControl => Err(InvocationError::illegal(
            "control capabilities cannot be copied",
        )),
        // A copy of a frame starts unmapped: each mapping belongs to one cap.
        Cap::Frame {
            object,
            size,
            rights,
            is_device,
            ..
        } => Ok(Cap::Frame {
            object,
            size,
            rights,
            is_device,
            mapping: None,
        }),
        // An unmapped paging structure could be mapped twice through two caps.
        Cap::Pdpt { mapping: None, .. }
        | Cap::PageDirectory { mapping: None, .. }
        | Cap::PageTable { mapping: None, .. }
        | Cap::IoPageTable { mapping: None, .. }
        | Cap::Pml4 { asid: None, .. } => Err(InvocationError::illegal(
            "map a paging structure before copying its capability",
        )),
        other => Ok(other),
    }
}

fn with_rights(cap: Cap, mask: CapRights) -> Cap {
    match cap {
        Cap::Endpoint {
            object,
            badge,
            rights,
        } => Cap::Endpoint {
            object,
            badge,
            rights: rights.intersect(mask),
        },
        Cap::Notification {
            object,
            badge,
            rights,
        } => Cap::Notification {
            object,
            badge,
            rights: rights.intersect(mask),
        },
        Cap::Frame {
            object,
            size,
            rights,
            is_device,
            mapping,
        } => Cap::Frame {
            object,
            size,
            rights: rights.intersect(mask),
            is_device,
            mapping,
        },
        Cap::Tcb { object, rights } => Cap::Tcb {
            object,
            rights: rights.intersect(mask),
        },
        other => other,
    }
}

impl Objects {
    fn require_empty(&self, dest: Slot) -> Result<(), InvocationError> {
        if self.cap(dest).is_null() {
            Ok(())
        } else {
            Err(InvocationError::delete_first(
                "the destination slot is occupied",
            ))
        }
    }

    /// Copy (`badge == None`) or Mint (`Some(badge)`): checks that `dest` is
    /// empty (else `DeleteFirst`), then puts a capability
    /// derived from `src`'s into the empty slot `dest`, with rights reduced
    /// to `rights`. For Mint, `badge` badges an unbadged endpoint or
    /// notification cap, or sets a CNode cap's guard (size in the low 6 bits,
    /// guard above); other caps ignore it.
    pub fn copy_cap(
        &self,
        src: Slot,
        dest: Slot,
        rights: CapRights,
        badge: Option<u64>,
    ) -> Result<(), InvocationError> {
        self.require_empty(dest)?;
        let src_cap = self.cap(src);
        let derived = derive(src_cap)?;
        let mut new = with_rights(derived, rights);
        if let Some(data) = badge {
            new = match new {
                Cap::Endpoint {
                    badge: 0,
                    object,
                    rights,
                } => Cap::Endpoint {
                    object,
                    badge: data,
                    rights,
                },
                Cap::Notification {
                    badge: 0,
                    object,
                    rights,
                } => Cap::Notification {
                    object,
                    badge: data,
                    rights,
                },
                Cap::Endpoint { .. } | Cap::Notification { .. } => {
                    return Err(InvocationError::illegal("the capability is already badged"))
                }
                Cap::CNode {
                    object, radix_bits, ..
                } => {
                    let (guard, guard_bits) =
                        decode_guard(data, radix_bits).ok_or(InvocationError::invalid_argument(
                            arg::MINT_BADGE,
                            "the guard does not fit",
                        ))?;
                    Cap::CNode {
                        object,
                        radix_bits,
                        guard,
                        guard_bits,
                    }
                }
                other => other,
            };
        }
        let revocable = is_derived_revocable(&new, &src_cap);
        self.set_cap(dest, new);
        self.mdb_insert_after(src, dest, revocable, revocable);
        Ok(())
    }

    /// Move (`data == None`) or Mutate (`Some(data)`): moves `src`'s cap to
    /// the empty slot `dest`, keeping its place in the derivation tree. Mutate
    /// also sets a CNode cap's guard; for other caps its data must be 0.
    pub fn move_cap(
        &self,
        src: Slot,
        dest: Slot,
        data: Option<u64>,
    ) -> Result<(), InvocationError> {
        self.require_empty(dest)?;
        let cap = self.movable(src, data, arg::MUTATE_DATA)?;
        self.mdb_move(src, dest, cap);
        Ok(())
    }

    /// The capability in `src` as it would be after a move with `data`
    /// applied as by Mutate (`data_arg` names the argument in errors).
    fn movable(&self, src: Slot, data: Option<u64>, data_arg: u8) -> Result<Cap, InvocationError> {
        let cap = self.cap(src);
        match cap {
            Cap::Null => {
                return Err(InvocationError::lookup(
                    LookupSide::Source,
                    LookupFailure::MissingCapability { bits_left: 0 },
                ))
            }
            Cap::Zombie { .. } => {
                return Err(InvocationError::illegal("the capability is being deleted"))
            }
            _ => {}
        }
        let Some(data) = data else {
            return Ok(cap);
        };
        match cap {
            Cap::CNode {
                object, radix_bits, ..
            } => {
                let (guard, guard_bits) = decode_guard(data, radix_bits).ok_or(
                    InvocationError::invalid_argument(data_arg, "the guard does not fit"),
                )?;
                Ok(Cap::CNode {
                    object,
                    radix_bits,
                    guard,
                    guard_bits,
                })
            }
            other if data == 0 => Ok(other),
            _ => Err(InvocationError::invalid_argument(
                data_arg,
                "only a CNode capability can be mutated with data",
            )),
        }
    }

    /// `cnode_rotate(dest_index, dest_depth, pivot_root, pivot_index,
    /// pivot_depth, pivot_data, src_root, src_index, src_depth, src_data)`:
    /// the pivot's capability moves to the destination and the source's to
    /// the pivot, each with its data applied as by Mutate (0 leaves it
    /// unchanged). With the destination equal to the source the two swap
    /// places. Everything is checked before anything moves, so a refused
    /// rotate changes nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn cnode_rotate(
        &self,
        cnode: Cap,
        dest_index: u64,
        dest_depth: u64,
        pivot_root: Cap,
        pivot_index: u64,
        pivot_depth: u64,
        pivot_data: u64,
        src_root: Cap,
        src_index: u64,
        src_depth: u64,
        src_data: u64,
    ) -> Result<(), InvocationError> {
        let dest =
            self.lookup_slot_exact(LookupSide::Destination, cnode, dest_index, dest_depth)?;
        let src = self.lookup_slot_exact(LookupSide::Source, src_root, src_index, src_depth)?;
        let pivot = self.lookup_slot_exact(
            LookupSide::Destination,
            pivot_root,
            pivot_index,
            pivot_depth,
        )?;
        if pivot == dest || pivot == src {
            return Err(InvocationError::illegal(
                "the pivot must differ from the source and the destination",
            ));
        }
        // The order of lookups and checks, and which lookup an empty slot is
        // blamed on, follow seL4.
        if dest != src {
            self.require_empty(dest)?;
        }
        let src_cap = self.movable(src, Some(src_data), arg::ROTATE_SRC_DATA)?;
        if self.cap(pivot).is_null() {
            return Err(InvocationError::lookup(
                LookupSide::Destination,
                LookupFailure::MissingCapability { bits_left: 0 },
            ));
        }
        let pivot_cap = self.movable(pivot, Some(pivot_data), arg::ROTATE_PIVOT_DATA)?;
        if dest == src {
            // A swap: mutate both in place, then exchange the two slots
            // (capabilities and places in the derivation tree).
            self.set_cap(pivot, pivot_cap);
            self.set_cap(src, src_cap);
            self.mdb_swap(pivot, src);
        } else {
            self.mdb_move(pivot, dest, pivot_cap);
            self.mdb_move(src, pivot, src_cap);
        }
        Ok(())
    }

    /// The slot `index` of a container (CNode or TCB) at `object`.
    fn container_slot(&self, object: u64, kind: ZombieKind, index: u32) -> Slot {
        match kind {
            ZombieKind::CNode => self.cnode_slot(object, index as u64),
            ZombieKind::Tcb => Slot(object + TCB_SLOTS_OFFSET + index as u64 * SLOT_SIZE),
        }
    }

    /// Deletes the cap in `slot`, which is no container needing a zombie:
    /// undoes its mapping, finalises its object if it was the last cap, and
    /// empties the slot.
    fn delete_leaf(&self, slot: Slot, hooks: &mut impl ObjectHooks) {
        let cap = self.cap(slot);
        if has_mapping(&cap) {
            hooks.unmap(*self, cap);
        }
        if self.is_final(slot) {
            hooks.finalise(*self, cap);
        }
        self.hand_over_badge(slot, cap);
        self.mdb_unlink(slot);
        self.clear_slot(slot);
    }

    /// Before the original of a badge is deleted: its first copy becomes the
    /// badge's original (and so the parent of the other copies).
    ///
    /// Without this, the copies would follow whatever precedes the deleted
    /// cap in the list, and if that is another original of the same badge
    /// (minted separately from the same endpoint), they would silently become
    /// its descendants: revoking an unrelated cap would delete them. seL4's
    /// list has that quirk; Ward keeps the copies together as their own group.
    fn hand_over_badge(&self, slot: Slot, cap: Cap) {
        let node = self.mdb(slot);
        if !(node.first_badged && cap.badge() != 0) {
            return;
        }
        if let Some(next) = node.next.filter(|n| self.is_mdb_parent_of(slot, *n)) {
            let next_node = self.mdb(next);
            self.set_mdb(
                next,
                crate::slot::MdbNode {
                    revocable: true,
                    first_badged: true,
                    ..next_node
                },
            );
        }
    }

    /// One step of deleting the cap in `top` (see the module documentation).
    /// Returns [`Step::Done`] once `top` is empty.
    pub fn delete_step(&self, top: Slot, hooks: &mut impl ObjectHooks) -> Step {
        let mut cur = top;
        let mut first_descent: Option<Slot> = None;
        loop {
            let cap = self.cap(cur);
            let finished_here = if cur == top { Step::Done } else { Step::More };
            match cap {
                Cap::Null => return Step::Done,
                Cap::Zombie {
                    object,
                    kind,
                    remaining,
                } => {
                    if remaining == 0 {
                        self.mdb_unlink(cur);
                        self.clear_slot(cur);
                        return finished_here;
                    }
                    let next = self.container_slot(object, kind, remaining - 1);
                    let next_cap = self.cap(next);
                    if next == cur || next_cap.is_null() {
                        self.set_cap(
                            cur,
                            Cap::Zombie {
                                object,
                                kind,
                                remaining: remaining - 1,
                            },
                        );
                        return Step::More;
                    }
                    let descend = match next_cap {
                        Cap::Zombie { .. } => true,
                        Cap::CNode { .. } | Cap::Tcb { .. } => self.is_final(next),
                        _ => false,
                    };
                    if !descend {
                        self.delete_leaf(next, hooks);
                        return Step::More;
                    }
                    if next == top {
                        // A cycle: `top` lies inside the object `cur` empties.
                        // Every slot on the chain holds a zombie by now (a
                        // container is zombified the step it is reached).
                        let inner = first_descent.expect("a cycle has at least one descent");
                        self.mdb_swap(top, inner);
                        return Step::More;
                    }
                    if cur == top {
                        first_descent = Some(next);
                    }
                    cur = next;
                }
                Cap::CNode {
                    object, radix_bits, ..
                } if self.is_final(cur) => {
                    hooks.finalise(*self, cap);
                    let remaining = 1u32 << radix_bits;
                    self.set_cap(
                        cur,
                        Cap::Zombie {
                            object,
                            kind: ZombieKind::CNode,
                            remaining,
                        },
                    );
                    return Step::More;
                }
                Cap::Tcb { object, .. } if self.is_final(cur) => {
                    hooks.finalise(*self, cap);
                    let remaining = TCB_SLOT_COUNT as u32;
                    self.set_cap(
                        cur,
                        Cap::Zombie {
                            object,
                            kind: ZombieKind::Tcb,
                            remaining,
                        },
                    );
                    return Step::More;
                }
                _ => {
                    self.delete_leaf(cur, hooks);
                    return finished_here;
                }
            }
        }
    }

    /// Deletes the cap in `slot` if that takes one step: anything but the
    /// last capability to a CNode or TCB (whose slots must be emptied, a
    /// preemptible job for [`Objects::delete_cap`]) or a zombie. Returns
    /// whether it did; `false` changes nothing. For the kernel's own slots
    /// whose caps are leaves by construction (a TCB's reply, fault-endpoint,
    /// IPC-buffer and VSpace slots), where no preemption point can arise.
    #[must_use]
    pub fn delete_leaf_cap(&self, slot: Slot, hooks: &mut impl ObjectHooks) -> bool {
        let cap = self.cap(slot);
        let container = match cap {
            Cap::Null => return true,
            Cap::Zombie { .. } => true,
            Cap::CNode { .. } | Cap::Tcb { .. } => self.is_final(slot),
            _ => false,
        };
        if container {
            return false;
        }
        self.delete_leaf(slot, hooks);
        true
    }

    /// A reply capability made by [`Objects::put_reply_cap`] is taken out
    /// of `slot` and returned (the caller it names, and whether the reply
    /// may carry capabilities), without finalising it: for a reply that is
    /// being delivered. `None` (and nothing changes) if `slot` holds no
    /// reply capability.
    #[inline]
    pub fn take_reply_cap(&self, slot: Slot) -> Option<(crate::Tcb, bool)> {
        let (tcb, can_grant) = Cap::reply_in(self.cap_words(slot))?;
        // Reply caps are never linked into the derivation tree (they are
        // originals that cannot be copied), so emptying the slot is all.
        debug_assert!(self.mdb(slot).prev.is_none() && self.mdb(slot).next.is_none());
        self.clear_unlinked(slot);
        Some((crate::Tcb(tcb), can_grant))
    }

    /// Puts a reply capability to `caller` in the empty `slot` (a TCB's
    /// caller slot): an original with no place in the derivation tree.
    /// `false` (and nothing changes) if the slot is occupied.
    #[inline]
    #[must_use]
    pub fn put_reply_cap(&self, slot: Slot, caller: crate::Tcb, can_grant: bool) -> bool {
        if Cap::type_in(self.cap_words(slot)) != crate::CapType::Null {
            return false;
        }
        self.set_unlinked_original(
            slot,
            Cap::Reply {
                tcb: caller.0,
                can_grant,
            },
        );
        true
    }

    /// Deletes the cap in `slot`, with preemption points between steps.
    /// Deleting an empty slot succeeds and does nothing.
    pub fn delete_cap(&self, slot: Slot, hooks: &mut impl ObjectHooks) -> Completion {
        loop {
            if self.delete_step(slot, hooks) == Step::Done {
                return Completion::Done;
            }
            if hooks.preemption_pending() {
                return Completion::Preempted;
            }
        }
    }

    /// The first descendant of `slot`, if any.
    fn first_child(&self, slot: Slot) -> Option<Slot> {
        self.mdb(slot)
            .next
            .filter(|next| self.is_mdb_parent_of(slot, *next))
    }

    /// Deletes every descendant of the cap in `slot`, with preemption points
    /// between steps. Revoking an untyped destroys every object made from it
    /// and resets its watermark.
    ///
    /// Each descendant's deletion is finished before the next is looked up.
    /// If preempted, the restarted call continues the half-deleted
    /// descendant, which is still `slot`'s first child (a zombie keeps its
    /// place in the tree).
    ///
    /// One exception to preemption: destroying a descendant may delete the
    /// revoked cap itself (when `slot` lies inside a CNode made from the
    /// untyped being revoked). A restart could no longer find the
    /// half-destroyed descendant, so its destruction then runs to the end
    /// without preemption points; the revoke stops there, and the remaining
    /// descendants (now the untyped's parent's) stay.
    pub fn revoke_cap(&self, slot: Slot, hooks: &mut impl ObjectHooks) -> Completion {
        while let Some(child) = self.first_child(slot) {
            while self.delete_step(child, hooks) == Step::More {
                if !self.cap(slot).is_null() && hooks.preemption_pending() {
                    return Completion::Preempted;
                }
            }
            if hooks.preemption_pending() {
                return Completion::Preempted;
            }
        }
        if let Cap::Untyped {
            object,
            size_bits,
            is_device,
            ..
        } = self.cap(slot)
        {
            self.set_cap(
                slot,
                Cap::Untyped {
                    object,
                    size_bits,
                    free_index: 0,
                    is_device,
                },
            );
        }
        Completion::Done
    }

    // ---- Invocations: the CNode methods as the syscall layer calls them. ----
    // `cnode` is the invoked CNode capability; `src_root` the source CNode
    // capability passed as an extra cap. Indices and depths are user words.

    /// `cnode_copy(dest_index, dest_depth, src_root, src_index, src_depth, rights)`.
    #[allow(clippy::too_many_arguments)]
    pub fn cnode_copy(
        &self,
        cnode: Cap,
        dest_index: u64,
        dest_depth: u64,
        src_root: Cap,
        src_index: u64,
        src_depth: u64,
        rights: CapRights,
    ) -> Result<(), InvocationError> {
        let dest =
            self.lookup_slot_exact(LookupSide::Destination, cnode, dest_index, dest_depth)?;
        let src = self.lookup_slot_exact(LookupSide::Source, src_root, src_index, src_depth)?;
        self.copy_cap(src, dest, rights, None)
    }

    /// `cnode_mint(dest_index, dest_depth, src_root, src_index, src_depth, rights, badge)`.
    #[allow(clippy::too_many_arguments)]
    pub fn cnode_mint(
        &self,
        cnode: Cap,
        dest_index: u64,
        dest_depth: u64,
        src_root: Cap,
        src_index: u64,
        src_depth: u64,
        rights: CapRights,
        badge: u64,
    ) -> Result<(), InvocationError> {
        let dest =
            self.lookup_slot_exact(LookupSide::Destination, cnode, dest_index, dest_depth)?;
        let src = self.lookup_slot_exact(LookupSide::Source, src_root, src_index, src_depth)?;
        self.copy_cap(src, dest, rights, Some(badge))
    }

    /// `cnode_move(dest_index, dest_depth, src_root, src_index, src_depth)`.
    pub fn cnode_move(
        &self,
        cnode: Cap,
        dest_index: u64,
        dest_depth: u64,
        src_root: Cap,
        src_index: u64,
        src_depth: u64,
    ) -> Result<(), InvocationError> {
        let dest =
            self.lookup_slot_exact(LookupSide::Destination, cnode, dest_index, dest_depth)?;
        let src = self.lookup_slot_exact(LookupSide::Source, src_root, src_index, src_depth)?;
        self.move_cap(src, dest, None)
    }

    /// `cnode_mutate(dest_index, dest_depth, src_root, src_index, src_depth, data)`.
    #[allow(clippy::too_many_arguments)]
    pub fn cnode_mutate(
        &self,
        cnode: Cap,
        dest_index: u64,
        dest_depth: u64,
        src_root: Cap,
        src_index: u64,
        src_depth: u64,
        data: u64,
    ) -> Result<(), InvocationError> {
        let dest =
            self.lookup_slot_exact(LookupSide::Destination, cnode, dest_index, dest_depth)?;
        let src = self.lookup_slot_exact(LookupSide::Source, src_root, src_index, src_depth)?;
        self.move_cap(src, dest, Some(data))
    }

    /// `cnode_delete(index, depth)`. `Preempted` means: restart the syscall.
    pub fn cnode_delete(
        &self,
        cnode: Cap,
        index: u64,
        depth: u64,
        hooks: &mut impl ObjectHooks,
    ) -> Result<Completion, InvocationError> {
        let slot = self.lookup_slot_exact(LookupSide::Destination, cnode, index, depth)?;
        Ok(self.delete_cap(slot, hooks))
    }

    /// `cnode_cancel_badged_sends(index, depth)`: every thread blocked
    /// sending through a cap with this cap's badge is taken off the
    /// endpoint and set to restart (it will find its cap gone if it was
    /// revoked). The cap must be a badged endpoint cap with all rights;
    /// an unbadged one cancels nothing. `wake` receives each thread.
    pub fn cnode_cancel_badged_sends(
        &self,
        cnode: Cap,
        index: u64,
        depth: u64,
        wake: impl FnMut(crate::Tcb),
    ) -> Result<(), InvocationError> {
        let slot = self.lookup_slot_exact(LookupSide::Destination, cnode, index, depth)?;
        match self.cap(slot) {
            Cap::Endpoint {
                object,
                badge,
                rights,
            } if rights == CapRights::ALL => {
                if badge != 0 {
                    self.endpoint_cancel_badged_sends(object, badge, wake);
                }
                Ok(())
            }
            _ => Err(InvocationError::illegal(
                "not an endpoint capability with all rights",
            )),
        }
    }

    /// `cnode_revoke(index, depth)`. `Preempted` means: restart the syscall.
    pub fn cnode_revoke(
        &self,
        cnode: Cap,
        index: u64,
        depth: u64,
        hooks: &mut impl ObjectHooks,
    ) -> Result<Completion, InvocationError> {
        let slot = self.lookup_slot_exact(LookupSide::Destination, cnode, index, depth)?;
        Ok(self.revoke_cap(slot, hooks))
    }
}
