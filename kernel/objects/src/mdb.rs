//! The capability derivation tree (seL4's "mapping database").
//!
//! All non-empty slots form one doubly linked list in depth-first order of
//! the derivation tree: a capability's descendants follow it directly. The
//! tree shape is not stored; it follows from the list and one predicate,
//! [`Objects::is_mdb_parent_of`]:
//!
//! - an Untyped is the parent of every capability to memory inside it;
//! - a capability with the `revocable` flag is the parent of the other
//!   capabilities to the same object that follow it — except that a badged
//!   endpoint or notification capability is the parent only of capabilities
//!   with the same badge that are not themselves the original of the badge
//!   (`first_badged`);
//! - a capability without `revocable` has no children.
//!
//! So the descendants of `x` are the maximal run after `x` of slots whose
//! caps `x` is a parent of. New capabilities are inserted right after their
//! source (copies) or their untyped (retype), which keeps every cap to one
//! object in one contiguous run: deciding whether a cap is the last one to
//! its object needs only its two neighbours.

use crate::cap::Cap;
use crate::slot::{MdbNode, Slot};
use crate::Objects;

impl Objects {
    /// Whether `parent`'s cap is a derivation-tree parent of `child`'s cap
    /// (the predicate of the module documentation). `parent_node` is the
    /// parent slot's tree node; `child_first_badged` the child's flag.
    pub fn is_mdb_parent_of(&self, parent: Slot, child: Slot) -> bool {
        let p_node = self.mdb(parent);
        if !p_node.revocable {
            return false;
        }
        let p = self.cap(parent);
        let c = self.cap(child);
        if !same_region_as(&p, &c) {
            return false;
        }
        match p {
            Cap::Endpoint { badge, .. } | Cap::Notification { badge, .. } if badge != 0 => {
                c.badge() == badge && !self.mdb(child).first_badged
            }
            _ => true,
        }
    }

    /// Whether `slot`'s cap has at least one child in the derivation tree.
    pub fn has_children(&self, slot: Slot) -> bool {
        self.mdb(slot)
            .next
            .is_some_and(|next| self.is_mdb_parent_of(slot, next))
    }

    /// Whether `slot` holds the last capability to its object (its list
    /// neighbours name other objects). Caps to one object are contiguous in
    /// the list, so checking the neighbours is enough.
    pub fn is_final(&self, slot: Slot) -> bool {
        let cap = self.cap(slot);
        let node = self.mdb(slot);
        let same = |other: Option<Slot>| other.is_some_and(|s| cap.same_object(&self.cap(s)));
        !same(node.prev) && !same(node.next)
    }

    /// Links the empty slot `new` into the list right after `after`, with
    /// the given flags. The caller has already written `new`'s cap.
    pub(crate) fn mdb_insert_after(
        &self,
        after: Slot,
        new: Slot,
        revocable: bool,
        first_badged: bool,
    ) {
        let next = self.mdb(after).next;
        self.set_mdb(
            new,
            MdbNode {
                prev: Some(after),
                next,
                revocable,
                first_badged,
            },
        );
        self.set_next(after, Some(new));
        if let Some(next) = next {
            self.set_prev(next, Some(new));
        }
    }

    /// Removes `slot` from the list, joining its neighbours; its children
    /// (if any) stay where they are and now belong to its parent. Leaves the
    /// slot's own cap and links untouched; the caller clears them.
    pub(crate) fn mdb_unlink(&self, slot: Slot) {
        let node = self.mdb(slot);
        if let Some(prev) = node.prev {
            self.set_next(prev, node.next);
        }
        if let Some(next) = node.next {
            self.set_prev(next, node.prev);
        }
    }

    /// Moves the tree node (and cap) of `from` to the empty slot `to`, keeping
    /// its place in the list; `from` becomes empty.
    pub(crate) fn mdb_move(&self, from: Slot, to: Slot, cap: Cap) {
        let node = self.mdb(from);
        self.set_cap(to, cap);
        self.set_mdb(to, node);
        if let Some(prev) = node.prev {
            self.set_next(prev, Some(to));
        }
        if let Some(next) = node.next {
            self.set_prev(next, Some(to));
        }
        self.clear_slot(from);
    }

    /// Exchanges the contents (cap and place in the list) of two non-empty
    /// slots. Used when destroying cyclic CNode structures.
    pub(crate) fn mdb_swap(&self, a: Slot, b: Slot) {
        if a == b {
            return;
        }
        let (cap_a, cap_b) = (self.cap(a), self.cap(b));
        let (node_a, node_b) = (self.mdb(a), self.mdb(b));
        // Rename a -> b and b -> a inside both nodes (handles adjacency).
        let rename = |s: Option<Slot>| match s {
            Some(x) if x == a => Some(b),
            Some(x) if x == b => Some(a),
            other => other,
        };
        let new_a = MdbNode {
            prev: rename(node_b.prev),
            next: rename(node_b.next),
            ..node_b
        };
        let new_b = MdbNode {
            prev: rename(node_a.prev),
            next: rename(node_a.next),
            ..node_a
        };
        self.set_cap(a, cap_b);
        self.set_mdb(a, new_a);
        self.set_cap(b, cap_a);
        self.set_mdb(b, new_b);
        // Point the outside neighbours at the new homes.
        for (home, node) in [(a, new_a), (b, new_b)] {
            if let Some(prev) = node.prev.filter(|p| *p != a && *p != b) {
                self.set_next(prev, Some(home));
            }
            if let Some(next) = node.next.filter(|n| *n != a && *n != b) {
                self.set_prev(next, Some(home));
            }
        }
    }
}

/// Whether `child` names memory or a resource that `parent` covers: an
/// untyped covers everything inside it; other caps cover their own object.
pub fn same_region_as(parent: &Cap, child: &Cap) -> bool {
    match *parent {
        Cap::Untyped {
            object, size_bits, ..
        } => {
            let (Some(c_obj), Some(c_bits)) = (child.object(), region_bits(child)) else {
                return false;
            };
            let end = object + (1u64 << size_bits);
            c_obj >= object && c_obj + (1u64 << c_bits) <= end
        }
        Cap::IrqControl => matches!(child, Cap::IrqControl | Cap::IrqHandler { .. }),
        Cap::IoPortControl => matches!(child, Cap::IoPortControl | Cap::IoPort { .. }),
        _ => parent.same_object(child),
    }
}

/// The size of memory a cap's object occupies, including dying containers.
fn region_bits(cap: &Cap) -> Option<u32> {
    match *cap {
        // A zombie's size is not needed for containment: its object lies
        // inside its untyped or not at all, so one byte is enough to decide.
        Cap::Zombie { .. } => Some(0),
        Cap::Reply { .. } => None,
        _ => cap.object_size_bits(),
    }
}
