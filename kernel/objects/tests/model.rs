//! Property test: random sequences of retype, copy, mint, move, mutate,
//! delete and revoke, checked against an independent reference model.
//!
//! The model keeps the derivation tree explicitly (each cap knows its
//! parent), where the crate keeps a list plus a parent predicate. After every
//! operation the test checks that both agree on every live slot's cap and on
//! every cap's descendants, that the derivation list is well linked, that no
//! two live objects overlap unless one is an untyped the other was made
//! from, that rights never grow along the tree, and that exactly the objects
//! whose last cap went away were finalised.

mod common;

use common::{Hooks, Ram, BOOT_SLOT, ROOT_CNODE, UNTYPED_BASE};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Coverage counters, printed with `--nocapture` so a reader can see the
/// random sequences really exercise each path: successful ops by kind,
/// errors, preempted restarts, finalised objects, ops on nested slots.
static STATS: [AtomicU64; 9] = [const { AtomicU64::new(0) }; 9];
const STAT_NAMES: [&str; 9] = [
    "caps deleted inside dying CNodes",
    "retype ok",
    "copy/mint ok",
    "move/mutate ok",
    "delete/revoke",
    "errors",
    "preempted",
    "finalised",
    "nested slot ops",
];
fn tally(i: usize, n: u64) {
    STATS[i + 1].fetch_add(n, Relaxed);
}
use ward_abi::object::ObjectType;
use ward_abi::rights::CapRights;
use ward_abi::Error;
use ward_kernel_objects::cap::Cap;
use ward_kernel_objects::{Completion, InvocationError, Objects, Slot};

const ROOT_RADIX: u32 = 5;
const ROOT_SLOTS: u64 = 1 << ROOT_RADIX;
/// Two untyped regions: 64 KiB in root slot 0 and 32 KiB in root slot 1.
const UT0_BITS: u32 = 16;
const UT1_BITS: u32 = 15;
const UT1_BASE: u64 = UNTYPED_BASE + (1 << UT0_BITS);

/// A slot named by the test: root slot `a`, or slot `b` of the CNode whose
/// cap is in root slot `a` (if there is one).
#[derive(Clone, Copy, Debug)]
struct Sel {
    a: u8,
    b: Option<u8>,
}

#[derive(Clone, Debug)]
enum Op {
    Retype {
        ut: Sel,
        kind: u8,
        size: u8,
        node: Option<u8>,
        offset: u8,
        count: u8,
    },
    Copy {
        src: Sel,
        dest: Sel,
        rights: u8,
    },
    Mint {
        src: Sel,
        dest: Sel,
        rights: u8,
        badge: u8,
    },
    Move {
        src: Sel,
        dest: Sel,
    },
    Mutate {
        src: Sel,
        dest: Sel,
        data: u8,
    },
    Delete {
        slot: Sel,
        preempt: u8,
    },
    Revoke {
        slot: Sel,
        preempt: u8,
    },
}

/// Root slots the random operations use: few enough that operations often
/// find what they need, with the rest of the root CNode left empty.
const USED_SLOTS: u8 = 12;

fn sel() -> impl Strategy<Value = Sel> {
    (0..USED_SLOTS, prop::option::weighted(0.5, 0..8u8)).prop_map(|(a, b)| Sel { a, b })
}

/// An untyped to retype from: mostly the boot untypeds, sometimes any slot.
fn untyped_sel() -> impl Strategy<Value = Sel> {
    prop_oneof![3 => (0..2u8).prop_map(|a| Sel { a, b: None }), 2 => sel()]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (untyped_sel(), 0..8u8, 0..16u8, prop::option::weighted(0.2, 0..USED_SLOTS), 0..USED_SLOTS, 1..4u8)
            .prop_map(|(ut, kind, size, node, offset, count)| Op::Retype { ut, kind, size, node, offset, count }),
        3 => (sel(), sel(), 0..32u8).prop_map(|(src, dest, rights)| Op::Copy { src, dest, rights }),
        3 => (sel(), sel(), 0..32u8, 0..4u8).prop_map(|(src, dest, rights, badge)| Op::Mint { src, dest, rights, badge }),
        2 => (sel(), sel()).prop_map(|(src, dest)| Op::Move { src, dest }),
        1 => (sel(), sel(), 0..32u8).prop_map(|(src, dest, data)| Op::Mutate { src, dest, data }),
        2 => (sel(), 0..4u8).prop_map(|(slot, preempt)| Op::Delete { slot, preempt }),
        1 => (sel(), 0..4u8).prop_map(|(slot, preempt)| Op::Revoke { slot, preempt }),
    ]
}

/// Object types the test retypes into, with the size argument they take.
fn retype_kind(kind: u8, size: u8) -> (ObjectType, u64) {
    match kind {
        0 => (ObjectType::Untyped, 6 + size as u64 % 10), // 64 B .. 32 KiB, some too big
        1 => (ObjectType::Endpoint, 0),
        2 => (ObjectType::Notification, 0),
        3 | 7 => (ObjectType::CNode, size as u64 % 4), // radix 0 (invalid) .. 3
        4 => (ObjectType::Frame4K, 0),
        5 => (ObjectType::Tcb, 0),
        _ => (ObjectType::PageTable, 0),
    }
}

#[derive(Clone, Debug)]
struct Node {
    cap: Cap,
    slot: u64,
    parent: Option<u64>,
    /// Made by retype, or the first cap with its badge: it may have children.
    original: bool,
    /// The rights of the cap this one was derived from, when it was derived
    /// (all rights for retyped caps): its rights may never exceed them.
    source_rights: CapRights,
}

/// The reference model: an explicit derivation tree.
#[derive(Default, Debug)]
struct Model {
    nodes: BTreeMap<u64, Node>,
    by_slot: BTreeMap<u64, u64>,
    next_id: u64,
    /// The model's own watermark per untyped node.
    watermark: BTreeMap<u64, u64>,
    /// Derivation order (depth first): a new cap goes right after its
    /// source or untyped. Used only to tell which copy of a badge is first.
    order: Vec<u64>,
}

impl Model {
    fn add(
        &mut self,
        cap: Cap,
        slot: u64,
        parent: Option<u64>,
        original: bool,
        after: Option<u64>,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        match after {
            Some(a) => {
                let pos = self.order.iter().position(|&x| x == a).unwrap();
                self.order.insert(pos + 1, id);
            }
            None => self.order.push(id),
        }
        let source_rights = match after.map(|a| &self.nodes[&a]) {
            Some(src) if src.cap.same_object(&cap) => src.cap.rights(),
            _ => CapRights::ALL,
        };
        self.nodes.insert(
            id,
            Node {
                cap,
                slot,
                parent,
                original,
                source_rights,
            },
        );
        assert!(
            self.by_slot.insert(slot, id).is_none(),
            "model: slot {slot:#x} already full"
        );
        id
    }

    fn at(&self, slot: u64) -> Option<&Node> {
        self.by_slot.get(&slot).map(|id| &self.nodes[id])
    }

    fn is_ancestor(&self, ancestor: u64, mut id: u64) -> bool {
        while let Some(p) = self.nodes[&id].parent {
            if p == ancestor {
                return true;
            }
            id = p;
        }
        false
    }

    fn first_descendant(&self, id: u64) -> Option<u64> {
        self.order
            .iter()
            .copied()
            .find(|&d| self.nodes.contains_key(&id) && self.is_ancestor(id, d))
    }

    fn descendants(&self, id: u64) -> BTreeSet<u64> {
        self.nodes
            .keys()
            .copied()
            .filter(|&d| self.is_ancestor(id, d))
            .collect()
    }

    /// Deletes node `id`; destroys its object if it was the last cap,
    /// deleting a dying CNode's contents too. Records destroyed objects.
    fn delete(&mut self, id: u64, dying: &mut Vec<Cap>) {
        let Some(node) = self.nodes.remove(&id) else {
            return;
        };
        self.by_slot.remove(&node.slot);
        self.watermark.remove(&id);
        let pos = self.order.iter().position(|&x| x == id).unwrap();
        self.order.remove(pos);
        // The first copy of a deleted badge original takes its place.
        let mut heir = node.parent;
        if node.original && node.cap.badge() != 0 {
            if let Some(&first) = self
                .order
                .get(pos)
                .filter(|f| self.nodes[f].parent == Some(id))
            {
                let n = self.nodes.get_mut(&first).unwrap();
                n.original = true;
                n.parent = node.parent;
                heir = Some(first);
            }
        }
        for (&other_id, other) in self.nodes.iter_mut() {
            if other.parent == Some(id) && Some(other_id) != heir {
                other.parent = heir;
            }
        }
        if self.nodes.values().any(|n| n.cap.same_object(&node.cap)) {
            return;
        }
        dying.push(node.cap);
        if let Cap::CNode {
            object, radix_bits, ..
        } = node.cap
        {
            for i in 0..1u64 << radix_bits {
                if let Some(&inner) = self.by_slot.get(&(object + i * 32)) {
                    STATS[0].fetch_add(1, Relaxed);
                    self.delete(inner, dying);
                }
            }
        }
    }

    /// The slots the test can reach: root slots and slots of live CNodes.
    fn live_slots(&self) -> BTreeSet<u64> {
        let mut slots: BTreeSet<u64> = (0..ROOT_SLOTS).map(|i| ROOT_CNODE + i * 32).collect();
        for n in self.nodes.values() {
            if let Cap::CNode {
                object, radix_bits, ..
            } = n.cap
            {
                slots.extend((0..1u64 << radix_bits).map(|i| object + i * 32));
            }
        }
        slots
    }
}

struct World {
    _ram: Ram,
    o: Objects,
    root: Cap,
    model: Model,
}

fn error_of<T>(r: &Result<T, InvocationError>) -> Option<Error> {
    r.as_ref().err().map(|e| e.error)
}

impl World {
    fn new() -> World {
        let ram = Ram::new(UT1_BASE + (1 << UT1_BITS));
        let o = ram.objects;
        let root = Cap::CNode {
            object: ROOT_CNODE,
            radix_bits: ROOT_RADIX as u8,
            guard: 0,
            guard_bits: 0,
        };
        o.insert_original(Slot(BOOT_SLOT), root).unwrap();
        let mut model = Model::default();
        for (i, base, bits) in [(0u64, UNTYPED_BASE, UT0_BITS), (1, UT1_BASE, UT1_BITS)] {
            let cap = Cap::Untyped {
                object: base,
                size_bits: bits as u8,
                free_index: 0,
                is_device: false,
            };
            o.insert_original(o.cnode_slot(ROOT_CNODE, i), cap).unwrap();
            let id = model.add(cap, ROOT_CNODE + i * 32, None, true, None);
            model.watermark.insert(id, 0);
        }
        World {
            _ram: ram,
            o,
            root,
            model,
        }
    }

    /// CPtr, depth and slot address for a selector, as the model sees it.
    fn resolve(&self, s: Sel) -> (u64, u64, u64) {
        let root_slot = ROOT_CNODE + s.a as u64 * 32;
        if s.b.is_some()
            && matches!(
                self.model.at(root_slot),
                Some(Node {
                    cap: Cap::CNode { .. },
                    ..
                })
            )
        {
            tally(7, 1);
        }
        if let (
            Some(b),
            Some(Node {
                cap:
                    Cap::CNode {
                        object,
                        radix_bits,
                        guard,
                        guard_bits,
                    },
                ..
            }),
        ) = (s.b, self.model.at(root_slot))
        {
            let (r, g) = (*radix_bits as u64, *guard_bits as u64);
            let depth = ROOT_RADIX as u64 + g + r;
            if depth <= 64 {
                let index = b as u64 % (1 << r);
                let cptr = ((s.a as u64) << (g + r)) | (guard << r) | index;
                return (cptr, depth, object + index * 32);
            }
        }
        (s.a as u64, ROOT_RADIX as u64, root_slot)
    }

    fn run(&mut self, op: &Op) {
        let mut hooks = Hooks::default();
        let mut dying = Vec::new();
        match *op {
            Op::Retype {
                ut,
                kind,
                size,
                node,
                offset,
                count,
            } => {
                let (ut_cptr, ut_depth, ut_slot) = self.resolve(ut);
                let (ty, size_arg) = retype_kind(kind, size);
                let crate_result = self
                    .o
                    .lookup_slot_exact(
                        ward_kernel_objects::LookupSide::Source,
                        self.root,
                        ut_cptr,
                        ut_depth,
                    )
                    .and_then(|slot| {
                        let (index, depth) = node.map_or((0, 0), |a| (a as u64, ROOT_RADIX as u64));
                        self.o.untyped_retype(
                            slot,
                            ty as u64,
                            size_arg,
                            self.root,
                            index,
                            depth,
                            offset as u64,
                            count as u64,
                        )
                    });
                let expected =
                    self.model_retype(ut_slot, ty, size_arg, node, offset as u64, count as u64);
                match (expected, error_of(&crate_result)) {
                    (Ok(new), None) => {
                        tally(0, 1);
                        let ut_id = self.model.by_slot[&ut_slot];
                        for (slot, cap) in new {
                            let actual = self.o.cap(Slot(slot));
                            assert_eq!(actual.cap_type(), cap.cap_type());
                            let id = self.model.add(actual, slot, Some(ut_id), true, Some(ut_id));
                            if let Cap::Untyped { .. } = actual {
                                self.model.watermark.insert(id, 0);
                            }
                        }
                        let Cap::Untyped { free_index, .. } = self.o.cap(Slot(ut_slot)) else {
                            panic!()
                        };
                        self.model.watermark.insert(ut_id, free_index);
                        self.model.nodes.get_mut(&ut_id).unwrap().cap = self.o.cap(Slot(ut_slot));
                    }
                    (Ok(_), Some(Error::NotEnoughMemory)) => {
                        // Allowed only when a leftover zombie (of an unreachable
                        // cycle) still occupies the untyped.
                        assert!(
                            self.has_hidden_zombie_child(ut_slot),
                            "unexpected NotEnoughMemory"
                        );
                    }
                    (Err(e), Some(got)) => {
                        tally(4, 1);
                        assert_eq!(e, got, "retype: {crate_result:?}")
                    }
                    (e, got) => panic!("retype: model {e:?}, crate {got:?} ({crate_result:?})"),
                }
            }
            Op::Copy { src, dest, rights }
            | Op::Mint {
                src, dest, rights, ..
            } => {
                let badge = if let Op::Mint { badge, .. } = *op {
                    Some(badge as u64 * 0x41)
                } else {
                    None
                };
                let (s_cptr, s_depth, s_slot) = self.resolve(src);
                let (d_cptr, d_depth, d_slot) = self.resolve(dest);
                let rights = CapRights::from_word(rights as u64);
                let r = match badge {
                    None => self.o.cnode_copy(
                        self.root, d_cptr, d_depth, self.root, s_cptr, s_depth, rights,
                    ),
                    Some(b) => self.o.cnode_mint(
                        self.root, d_cptr, d_depth, self.root, s_cptr, s_depth, rights, b,
                    ),
                };
                match self.model_copy(s_slot, d_slot, rights, badge) {
                    Ok((cap, parent, original)) => {
                        tally(1, 1);
                        assert!(r.is_ok(), "copy: model ok, crate {r:?}");
                        assert_eq!(self.o.cap(Slot(d_slot)), cap);
                        let src_id = self.model.by_slot[&s_slot];
                        self.model.add(cap, d_slot, parent, original, Some(src_id));
                    }
                    Err(e) => {
                        tally(4, 1);
                        assert_eq!(error_of(&r), Some(e), "copy/mint {r:?}")
                    }
                }
            }
            Op::Move { src, dest } | Op::Mutate { src, dest, .. } => {
                let data = if let Op::Mutate { data, .. } = *op {
                    Some(data as u64)
                } else {
                    None
                };
                let (s_cptr, s_depth, s_slot) = self.resolve(src);
                let (d_cptr, d_depth, d_slot) = self.resolve(dest);
                let r = match data {
                    None => self
                        .o
                        .cnode_move(self.root, d_cptr, d_depth, self.root, s_cptr, s_depth),
                    Some(x) => self
                        .o
                        .cnode_mutate(self.root, d_cptr, d_depth, self.root, s_cptr, s_depth, x),
                };
                match self.model_move(s_slot, d_slot, data) {
                    Ok(cap) => {
                        tally(2, 1);
                        assert!(r.is_ok(), "move: model ok, crate {r:?}");
                        let id = self.model.by_slot.remove(&s_slot).unwrap();
                        self.model.by_slot.insert(d_slot, id);
                        let n = self.model.nodes.get_mut(&id).unwrap();
                        n.slot = d_slot;
                        n.cap = cap;
                        assert_eq!(self.o.cap(Slot(d_slot)), cap);
                    }
                    Err(e) => {
                        tally(4, 1);
                        assert_eq!(error_of(&r), Some(e), "move/mutate {r:?}")
                    }
                }
            }
            Op::Delete { slot, preempt } | Op::Revoke { slot, preempt } => {
                let revoke = matches!(op, Op::Revoke { .. });
                let (cptr, depth, at) = self.resolve(slot);
                hooks.preempt_every = preempt as u32;
                // The first call looks the slot up; a preempted call is then
                // continued on the same slot. (The kernel restarts the system
                // call, which looks the slot up again: if the revoke destroyed
                // its own path on the way, the restart fails with FailedLookup
                // and the user repeats what remains. That case is exercised
                // separately in the unit tests.)
                let first = if revoke {
                    self.o.cnode_revoke(self.root, cptr, depth, &mut hooks)
                } else {
                    self.o.cnode_delete(self.root, cptr, depth, &mut hooks)
                };
                let mut state = first.expect("delete/revoke of a resolvable slot cannot fail");
                let mut restarts = 0;
                while state == Completion::Preempted {
                    restarts += 1;
                    tally(5, 1);
                    assert!(restarts < 100_000, "no progress");
                    state = if revoke {
                        self.o.revoke_cap(Slot(at), &mut hooks)
                    } else {
                        self.o.delete_cap(Slot(at), &mut hooks)
                    };
                }
                // A preempted revoke that destroyed its own slot (it lay in a
                // CNode made from the revoked untyped) stops there and may
                // leave a half-destroyed CNode as a zombie in a live slot;
                // the user deletes it to finish. Do that, and check below
                // that it only happens in that case.
                tally(3, 1);
                let revoked_id = self.model.by_slot.get(&at).copied();
                if let Some(&id) = self.model.by_slot.get(&at) {
                    if revoke {
                        // In derivation order, as the kernel does: if the
                        // revoked cap itself dies on the way (it sat inside
                        // a CNode made from it), the rest survive.
                        while let Some(d) = self.model.first_descendant(id) {
                            self.model.delete(d, &mut dying);
                        }
                        if let Some(n) = self.model.nodes.get_mut(&id) {
                            if let Cap::Untyped {
                                object,
                                size_bits,
                                is_device,
                                ..
                            } = n.cap
                            {
                                n.cap = Cap::Untyped {
                                    object,
                                    size_bits,
                                    free_index: 0,
                                    is_device,
                                };
                                self.model.watermark.insert(id, 0);
                            }
                        }
                        if self.model.nodes.contains_key(&id) {
                            assert!(
                                !self.o.has_children(Slot(at)),
                                "descendants left after revoke"
                            );
                        }
                    } else {
                        self.model.delete(id, &mut dying);
                        assert!(self.o.cap(Slot(at)).is_null());
                    }
                }
                let leftover_zombies = self.delete_live_zombies(&mut hooks);
                if leftover_zombies {
                    assert!(
                        revoke && revoked_id.is_some_and(|id| !self.model.nodes.contains_key(&id)),
                        "a zombie was left in a live slot by {op:?}"
                    );
                }
            }
        }
        // Exactly the objects whose last cap went away were finalised.
        let key = |c: &Cap| (c.cap_type() as u8, c.object(), c.object_size_bits());
        let mut expected: Vec<_> = dying.iter().map(key).collect();
        let mut got: Vec<_> = hooks.finalised.iter().map(key).collect();
        expected.sort();
        got.sort();
        assert_eq!(expected, got, "finalised objects differ");
        tally(6, got.len() as u64);
        self.check();
    }

    /// Deletes zombies in live slots; returns whether there were any.
    fn delete_live_zombies(&self, hooks: &mut Hooks) -> bool {
        hooks.preempt_every = 0;
        let mut found = false;
        for s in self.model.live_slots() {
            if matches!(self.o.cap(Slot(s)), Cap::Zombie { .. }) {
                found = true;
                assert_eq!(self.o.delete_cap(Slot(s), hooks), Completion::Done);
            }
        }
        found
    }

    fn has_hidden_zombie_child(&self, ut_slot: u64) -> bool {
        let live = self.model.live_slots();
        let mut cur = self.o.mdb(Slot(ut_slot)).next;
        while let Some(s) = cur.filter(|s| self.o.is_mdb_parent_of(Slot(ut_slot), *s)) {
            if !live.contains(&s.0) && matches!(self.o.cap(s), Cap::Zombie { .. }) {
                return true;
            }
            cur = self.o.mdb(s).next;
        }
        false
    }

    /// What retype should do: new (slot, cap) pairs, or the error.
    fn model_retype(
        &self,
        ut_slot: u64,
        ty: ObjectType,
        size_arg: u64,
        node: Option<u8>,
        offset: u64,
        count: u64,
    ) -> Result<Vec<(u64, Cap)>, Error> {
        let Some(ut) = self.model.at(ut_slot) else {
            return Err(Error::InvalidCapability);
        };
        let Cap::Untyped {
            object: base,
            size_bits,
            ..
        } = ut.cap
        else {
            return Err(Error::InvalidCapability);
        };
        let ut_id = self.model.by_slot[&ut_slot];
        let obj_bits = match ty {
            ObjectType::Untyped if !(4..=47).contains(&size_arg) => return Err(Error::RangeError),
            ObjectType::CNode if !(1..=26).contains(&size_arg) => return Err(Error::RangeError),
            _ => ty.size_bits(size_arg as u32).unwrap() as u64,
        };
        let (cnode, radix) = match node {
            None => (ROOT_CNODE, ROOT_RADIX as u64),
            Some(a) => match self.model.at(ROOT_CNODE + a as u64 * 32) {
                Some(Node {
                    cap:
                        Cap::CNode {
                            object, radix_bits, ..
                        },
                    ..
                }) => (*object, *radix_bits as u64),
                _ => return Err(Error::FailedLookup),
            },
        };
        if offset >= 1 << radix || count > (1 << radix) - offset {
            return Err(Error::RangeError);
        }
        let dests: Vec<u64> = (0..count).map(|i| cnode + (offset + i) * 32).collect();
        if dests.iter().any(|d| self.model.by_slot.contains_key(d)) {
            return Err(Error::DeleteFirst);
        }
        let has_children = self.model.nodes.values().any(|n| n.parent == Some(ut_id));
        let free = if has_children {
            self.model.watermark[&ut_id]
        } else {
            0
        };
        let align = 1u64 << obj_bits;
        let start = (base + free + align - 1) & !(align - 1);
        if obj_bits > size_bits as u64 || start + count * align > base + (1 << size_bits) {
            return Err(Error::NotEnoughMemory);
        }
        Ok(dests
            .into_iter()
            .map(|d| {
                (
                    d,
                    Cap::Tcb {
                        object: 0,
                        rights: CapRights::ALL,
                    },
                )
            })
            .map(|(d, _)| (d, self.o_placeholder(ty)))
            .collect())
    }

    fn o_placeholder(&self, ty: ObjectType) -> Cap {
        // Only the type is compared; the crate's cap gives the address.
        match ty {
            ObjectType::Untyped => Cap::Untyped {
                object: 0,
                size_bits: 0,
                free_index: 0,
                is_device: false,
            },
            ObjectType::Endpoint => Cap::Endpoint {
                object: 0,
                badge: 0,
                rights: CapRights::ALL,
            },
            ObjectType::Notification => Cap::Notification {
                object: 0,
                badge: 0,
                rights: CapRights::ALL,
            },
            ObjectType::CNode => Cap::CNode {
                object: 0,
                radix_bits: 0,
                guard: 0,
                guard_bits: 0,
            },
            ObjectType::Tcb => Cap::Tcb {
                object: 0,
                rights: CapRights::ALL,
            },
            ObjectType::PageTable => Cap::PageTable {
                object: 0,
                mapping: None,
            },
            _ => Cap::Frame {
                object: 0,
                size: ward_kernel_objects::FrameSize::Small,
                rights: CapRights::ALL,
                is_device: false,
                mapping: None,
            },
        }
    }

    /// What Copy/Mint should make: (cap, parent, original), or the error.
    fn model_copy(
        &self,
        s_slot: u64,
        d_slot: u64,
        rights: CapRights,
        badge: Option<u64>,
    ) -> Result<(Cap, Option<u64>, bool), Error> {
        if self.model.by_slot.contains_key(&d_slot) {
            return Err(Error::DeleteFirst);
        }
        let Some(src) = self.model.at(s_slot) else {
            return Err(Error::FailedLookup);
        };
        let src_id = self.model.by_slot[&s_slot];
        let mut cap = match src.cap {
            Cap::Untyped { .. } | Cap::PageTable { mapping: None, .. } => {
                return Err(Error::IllegalOperation)
            }
            Cap::Endpoint {
                object,
                badge,
                rights: r,
            } => Cap::Endpoint {
                object,
                badge,
                rights: r.intersect(rights),
            },
            Cap::Notification {
                object,
                badge,
                rights: r,
            } => Cap::Notification {
                object,
                badge,
                rights: r.intersect(rights),
            },
            Cap::Frame {
                object,
                size,
                rights: r,
                is_device,
                ..
            } => Cap::Frame {
                object,
                size,
                rights: r.intersect(rights),
                is_device,
                mapping: None,
            },
            Cap::Tcb { object, rights: r } => Cap::Tcb {
                object,
                rights: r.intersect(rights),
            },
            other => other,
        };
        if let Some(b) = badge {
            cap = match cap {
                Cap::Endpoint {
                    badge: 0,
                    object,
                    rights,
                } => Cap::Endpoint {
                    object,
                    badge: b,
                    rights,
                },
                Cap::Notification {
                    badge: 0,
                    object,
                    rights,
                } => Cap::Notification {
                    object,
                    badge: b,
                    rights,
                },
                Cap::Endpoint { .. } | Cap::Notification { .. } => {
                    return Err(Error::IllegalOperation)
                }
                Cap::CNode {
                    object, radix_bits, ..
                } => {
                    let (g_bits, guard) = (b & 0x3f, b >> 6);
                    if g_bits + radix_bits as u64 > 64 || guard >= 1 << g_bits {
                        return Err(Error::InvalidArgument);
                    }
                    Cap::CNode {
                        object,
                        radix_bits,
                        guard,
                        guard_bits: g_bits as u8,
                    }
                }
                other => other,
            };
        }
        let original = cap.badge() != src.cap.badge();
        let parent = if src.original {
            Some(src_id)
        } else {
            src.parent
        };
        Ok((cap, parent, original))
    }

    fn model_move(&self, s_slot: u64, d_slot: u64, data: Option<u64>) -> Result<Cap, Error> {
        if self.model.by_slot.contains_key(&d_slot) {
            return Err(Error::DeleteFirst);
        }
        let Some(src) = self.model.at(s_slot) else {
            return Err(Error::FailedLookup);
        };
        match (src.cap, data) {
            (cap, None) | (cap, Some(0)) if !matches!(cap, Cap::CNode { .. }) => Ok(cap),
            (
                Cap::CNode {
                    object, radix_bits, ..
                },
                Some(d),
            ) => {
                let (g_bits, guard) = (d & 0x3f, d >> 6);
                if g_bits + radix_bits as u64 > 64 || guard >= 1 << g_bits {
                    return Err(Error::InvalidArgument);
                }
                Ok(Cap::CNode {
                    object,
                    radix_bits,
                    guard,
                    guard_bits: g_bits as u8,
                })
            }
            (cap @ Cap::CNode { .. }, None) => Ok(cap),
            _ => Err(Error::InvalidArgument),
        }
    }

    /// The invariants, checked after every operation.
    fn check(&self) {
        let o = self.o;
        let live = self.model.live_slots();
        // Every live slot holds what the model says.
        for &s in &live {
            let expected = self.model.at(s).map_or(Cap::Null, |n| n.cap);
            assert_eq!(o.cap(Slot(s)), expected, "slot {s:#x}");
        }
        // The derivation list is well linked around every live cap.
        for n in self.model.nodes.values() {
            let node = o.mdb(Slot(n.slot));
            if let Some(p) = node.prev {
                assert_eq!(o.mdb(p).next, Some(Slot(n.slot)));
            }
            if let Some(x) = node.next {
                assert_eq!(o.mdb(x).prev, Some(Slot(n.slot)));
            }
        }
        // Both keep caps in the same order (the crate's list may be split
        // where the model's continues with another boot untyped's tree).
        for w in self.model.order.windows(2) {
            let (a, b) = (self.model.nodes[&w[0]].slot, self.model.nodes[&w[1]].slot);
            let mut next = o.mdb(Slot(a)).next;
            // Skip leftover zombies of unreachable cycles (see cnode_ops).
            while let Some(z) = next.filter(|z| !self.model.by_slot.contains_key(&z.0)) {
                assert!(
                    matches!(o.cap(z), Cap::Zombie { .. }),
                    "unknown cap in the list at {z:?}"
                );
                next = o.mdb(z).next;
            }
            assert!(
                next == Some(Slot(b))
                    || (next.is_none() && self.model.nodes[&w[1]].parent.is_none()),
                "order: after {a:#x} the crate has {next:?}, the model {b:#x}"
            );
        }
        // Both agree on every cap's descendants (leftover zombies of
        // unreachable cycles aside).
        for (&id, n) in &self.model.nodes {
            let expected: BTreeSet<u64> = self
                .model
                .descendants(id)
                .iter()
                .map(|d| self.model.nodes[d].slot)
                .collect();
            let mut got = BTreeSet::new();
            let mut cur = o.mdb(Slot(n.slot)).next;
            while let Some(s) = cur.filter(|s| o.is_mdb_parent_of(Slot(n.slot), *s)) {
                if self.model.by_slot.contains_key(&s.0) {
                    got.insert(s.0);
                } else {
                    assert!(
                        matches!(o.cap(s), Cap::Zombie { .. }),
                        "unknown descendant {s:?}"
                    );
                }
                cur = o.mdb(s).next;
            }
            assert_eq!(got, expected, "descendants of {:?} at {:#x}", n.cap, n.slot);
            // Rights never grow: no cap has more than the cap it came from had.
            assert!(
                n.source_rights.contains(n.cap.rights()),
                "rights grew: {:?}",
                n.cap
            );
        }
        // Live objects never overlap, unless one is an untyped the other came from.
        let objects: Vec<(u64, u64, u64)> = self
            .model
            .nodes
            .iter()
            .filter_map(|(&id, n)| Some((id, n.cap.object()?, 1u64 << n.cap.object_size_bits()?)))
            .collect();
        for (i, &(a, a_start, a_len)) in objects.iter().enumerate() {
            for &(b, b_start, b_len) in &objects[i + 1..] {
                let (ca, cb) = (self.model.nodes[&a].cap, self.model.nodes[&b].cap);
                let overlap = a_start < b_start + b_len && b_start < a_start + a_len;
                if !overlap || ca.same_object(&cb) {
                    continue;
                }
                let related = (matches!(ca, Cap::Untyped { .. }) && self.model.is_ancestor(a, b))
                    || (matches!(cb, Cap::Untyped { .. }) && self.model.is_ancestor(b, a))
                    || self.shares_object_with_ancestry(a, b);
                assert!(related, "overlapping objects: {ca:?} and {cb:?}");
            }
        }
    }

    /// Caps to the same object as an untyped's descendant count as its
    /// descendants for overlap (e.g. a copy whose original was deleted).
    fn shares_object_with_ancestry(&self, a: u64, b: u64) -> bool {
        let (ca, cb) = (self.model.nodes[&a].cap, self.model.nodes[&b].cap);
        let untyped_covers = |u: &Cap, other: &Cap| match (*u, other.object()) {
            (
                Cap::Untyped {
                    object, size_bits, ..
                },
                Some(x),
            ) => x >= object && x < object + (1 << size_bits),
            _ => false,
        };
        // An untyped covering a non-untyped object: fine if some cap to that
        // object descends from it.
        let descends = |u: u64, obj: &Cap| {
            self.model
                .nodes
                .iter()
                .any(|(&id, n)| n.cap.same_object(obj) && self.model.is_ancestor(u, id))
        };
        (untyped_covers(&ca, &cb) && descends(a, &cb))
            || (untyped_covers(&cb, &ca) && descends(b, &ca))
    }
}

fn cases() -> u32 {
    std::env::var("WARD_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn run_and_revoke_all(world: &mut World, ops: &[Op]) -> Result<(), TestCaseError> {
    for op in ops {
        world.run(op);
    }
    // Revoking a boot untyped (if its cap is still in place) leaves no
    // live capability to memory inside it.
    for (base, bits) in [(UNTYPED_BASE, UT0_BITS), (UT1_BASE, UT1_BITS)] {
        let is_boot_untyped = |cap: Cap| matches!(cap, Cap::Untyped { object, size_bits, .. } if object == base && size_bits as u32 == bits);
        let Some(i) = (0..ROOT_SLOTS as u8)
            .find(|&i| is_boot_untyped(world.o.cap(world.o.cnode_slot(ROOT_CNODE, i as u64))))
        else {
            continue;
        };
        world.run(&Op::Revoke {
            slot: Sel { a: i, b: None },
            preempt: 3,
        });
        for s in world.model.live_slots() {
            let cap = world.o.cap(Slot(s));
            let inside = cap
                .object()
                .is_some_and(|x| x >= base && x < base + (1 << bits));
            prop_assert!(
                !inside || is_boot_untyped(cap),
                "slot {:#x} still holds {:?}",
                s,
                cap
            );
        }
    }
    Ok(())
}

#[test]
fn zz_print_coverage() {
    // Runs after the property test when tests run on one thread; with
    // several threads the figures may be partial. Informational only.
    for (name, stat) in STAT_NAMES.iter().zip(&STATS) {
        println!("{name}: {}", stat.load(Relaxed));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn derivation_tree_matches_the_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut world = World::new();
        run_and_revoke_all(&mut world, &ops)?;
    }

    /// The same, starting with four small CNodes in root slots 2..6 so that
    /// caps often land inside CNodes and CNodes die with caps inside them.
    #[test]
    fn nested_cnodes_match_the_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut world = World::new();
        world.run(&Op::Retype { ut: Sel { a: 0, b: None }, kind: 3, size: 2, node: None, offset: 2, count: 3 });
        world.run(&Op::Retype { ut: Sel { a: 1, b: None }, kind: 3, size: 1, node: None, offset: 5, count: 1 });
        run_and_revoke_all(&mut world, &ops)?;
    }
}
