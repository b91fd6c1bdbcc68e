//! The CNode operations: Copy, Mint, Move, Mutate, Rotate, Delete and
//! Revoke, each through the invocation entry points, with success and error
//! paths.

mod common;

use common::*;
use ward_abi::lookup::LookupFailure;
use ward_abi::object::ObjectType;
use ward_abi::rights::CapRights;
use ward_abi::Error;
use ward_kernel_objects::cap::{Cap, Mapping};
use ward_kernel_objects::{Completion, ErrorDetail, LookupSide, Slot};

const D: u64 = 5; // depth of a root slot

/// Boot with an endpoint in root slot 1.
fn with_endpoint() -> Boot {
    let b = Boot::new(5, 16);
    b.retype(ObjectType::Endpoint as u64, 0, 1, 1);
    b
}

#[test]
fn copy_reduces_rights_and_makes_a_child() {
    let b = with_endpoint();
    let o = b.o();
    o.cnode_copy(b.root, 2, D, b.root, 1, D, CapRights::READ)
        .unwrap();
    assert!(
        matches!(b.cap(2), Cap::Endpoint { badge: 0, rights, .. } if rights == CapRights::READ)
    );
    assert!(o.is_mdb_parent_of(b.slot(1), b.slot(2)));
    // Rights only shrink: asking for more than the source has gives no more.
    o.cnode_copy(b.root, 3, D, b.root, 2, D, CapRights::ALL)
        .unwrap();
    assert_eq!(b.cap(3).rights(), CapRights::READ);
    // A copy of a non-original is its sibling, not its child.
    assert!(!o.is_mdb_parent_of(b.slot(2), b.slot(3)));
    assert!(o.is_mdb_parent_of(b.slot(1), b.slot(3)));
}

#[test]
fn copy_errors() {
    let b = with_endpoint();
    let o = b.o();
    // Destination occupied.
    let e = o
        .cnode_copy(b.root, 1, D, b.root, 1, D, CapRights::ALL)
        .unwrap_err();
    assert_eq!(e.error, Error::DeleteFirst);
    // Source empty.
    let e = o
        .cnode_copy(b.root, 2, D, b.root, 9, D, CapRights::ALL)
        .unwrap_err();
    assert_eq!(
        (e.error, e.detail),
        (
            Error::FailedLookup,
            ErrorDetail::Lookup {
                side: LookupSide::Source,
                failure: LookupFailure::MissingCapability { bits_left: 0 }
            }
        )
    );
    // Source lookup failure is reported as such.
    let e = o
        .cnode_copy(b.root, 2, D, b.root, 9, 70, CapRights::ALL)
        .unwrap_err();
    assert_eq!(e.error, Error::RangeError);
    let e = o
        .cnode_copy(b.root, 2, D, Cap::Null, 1, D, CapRights::ALL)
        .unwrap_err();
    assert_eq!(
        e.detail,
        ErrorDetail::Lookup {
            side: LookupSide::Source,
            failure: LookupFailure::InvalidRoot
        }
    );
    // Untyped caps cannot be copied.
    let e = o
        .cnode_copy(b.root, 2, D, b.root, 0, D, CapRights::ALL)
        .unwrap_err();
    assert_eq!(e.error, Error::IllegalOperation);
    // Unmapped paging structures cannot be copied.
    b.retype(ObjectType::PageTable as u64, 0, 3, 1);
    assert_eq!(
        o.cnode_copy(b.root, 4, D, b.root, 3, D, CapRights::ALL)
            .unwrap_err()
            .error,
        Error::IllegalOperation
    );
    // Control caps cannot be copied.
    o.insert_original(b.slot(5), Cap::IrqControl).unwrap();
    assert_eq!(
        o.cnode_copy(b.root, 6, D, b.root, 5, D, CapRights::ALL)
            .unwrap_err()
            .error,
        Error::IllegalOperation
    );
    // Nothing was written.
    for i in [2, 4, 6] {
        assert!(b.cap(i).is_null());
    }
}

#[test]
fn a_frame_copy_starts_unmapped() {
    let b = Boot::new(5, 16);
    let o = b.o();
    b.retype(ObjectType::Frame4K as u64, 0, 1, 1);
    // Pretend the kernel mapped it (the mapping lives in the cap).
    let Cap::Frame {
        object,
        size,
        rights,
        is_device,
        ..
    } = b.cap(1)
    else {
        panic!()
    };
    let mapped = Cap::Frame {
        object,
        size,
        rights,
        is_device,
        mapping: Some(Mapping {
            asid: 3,
            vaddr: 0x40_0000,
        }),
    };
    let mut hooks = Hooks::default();
    let _ = o.delete_cap(b.slot(1), &mut hooks);
    o.insert_original(b.slot(1), mapped).unwrap();
    o.cnode_copy(b.root, 2, D, b.root, 1, D, CapRights::READ)
        .unwrap();
    assert!(
        matches!(b.cap(2), Cap::Frame { mapping: None, rights, .. } if rights == CapRights::READ)
    );
    // Deleting a mapped (non-final) frame cap unmaps it; deleting the last cap finalises the frame.
    let mut hooks = Hooks::default();
    assert_eq!(o.delete_cap(b.slot(1), &mut hooks), Completion::Done);
    assert_eq!(hooks.unmapped, vec![mapped]);
    assert!(hooks.finalised.is_empty());
    assert_eq!(o.delete_cap(b.slot(2), &mut hooks), Completion::Done);
    assert_eq!(hooks.finalised.len(), 1);
}

#[test]
fn mint_badges_once_and_reduces_rights() {
    let b = with_endpoint();
    let o = b.o();
    o.cnode_mint(b.root, 2, D, b.root, 1, D, CapRights::WRITE, 42)
        .unwrap();
    assert!(
        matches!(b.cap(2), Cap::Endpoint { badge: 42, rights, .. } if rights == CapRights::WRITE)
    );
    assert!(o.mdb(b.slot(2)).first_badged && o.mdb(b.slot(2)).revocable);
    // A badged cap cannot be re-badged, even with the same badge.
    let e = o
        .cnode_mint(b.root, 3, D, b.root, 2, D, CapRights::ALL, 42)
        .unwrap_err();
    assert_eq!(e.error, Error::IllegalOperation);
    // But it can be copied; the copy keeps the badge and is its child.
    o.cnode_copy(b.root, 3, D, b.root, 2, D, CapRights::ALL)
        .unwrap();
    assert_eq!(b.cap(3).badge(), 42);
    assert!(o.is_mdb_parent_of(b.slot(2), b.slot(3)));
    // Notifications too.
    b.retype(ObjectType::Notification as u64, 0, 4, 1);
    o.cnode_mint(b.root, 5, D, b.root, 4, D, CapRights::ALL, 0b100)
        .unwrap();
    assert_eq!(b.cap(5).badge(), 0b100);
}

#[test]
fn mint_sets_a_cnode_guard_and_checks_it() {
    let b = Boot::new(5, 16);
    let o = b.o();
    b.retype(ObjectType::CNode as u64, 4, 1, 1);
    o.cnode_mint(b.root, 2, D, b.root, 1, D, CapRights::ALL, 3 | (0b101 << 6))
        .unwrap();
    assert!(matches!(
        b.cap(2),
        Cap::CNode {
            guard: 0b101,
            guard_bits: 3,
            radix_bits: 4,
            ..
        }
    ));
    // Guard value wider than its size; guard + radix over 64 bits.
    for data in [2 | (0b111 << 6), 61] {
        let e = o
            .cnode_mint(b.root, 3, D, b.root, 1, D, CapRights::ALL, data)
            .unwrap_err();
        assert_eq!(
            (e.error, e.detail),
            (Error::InvalidArgument, ErrorDetail::Argument(5))
        );
    }
}

#[test]
fn move_keeps_the_tree_position() {
    let b = with_endpoint();
    let o = b.o();
    o.cnode_mint(b.root, 2, D, b.root, 1, D, CapRights::ALL, 7)
        .unwrap();
    o.cnode_copy(b.root, 3, D, b.root, 2, D, CapRights::ALL)
        .unwrap();
    o.cnode_move(b.root, 9, D, b.root, 2, D).unwrap();
    assert!(b.cap(2).is_null());
    assert_eq!(b.cap(9).badge(), 7);
    assert!(o.is_mdb_parent_of(b.slot(9), b.slot(3)));
    assert!(o.is_mdb_parent_of(b.slot(1), b.slot(9)));
    // Errors: empty source, occupied destination.
    let e = o.cnode_move(b.root, 10, D, b.root, 2, D).unwrap_err();
    assert_eq!(e.error, Error::FailedLookup);
    let e = o.cnode_move(b.root, 3, D, b.root, 9, D).unwrap_err();
    assert_eq!(e.error, Error::DeleteFirst);
}

#[test]
fn mutate_sets_guards_and_refuses_data_for_other_caps() {
    let b = with_endpoint();
    let o = b.o();
    b.retype(ObjectType::CNode as u64, 2, 2, 1);
    o.cnode_mutate(b.root, 3, D, b.root, 2, D, 1 | (1 << 6))
        .unwrap();
    assert!(matches!(
        b.cap(3),
        Cap::CNode {
            guard: 1,
            guard_bits: 1,
            ..
        }
    ));
    assert!(b.cap(2).is_null());
    let e = o.cnode_mutate(b.root, 4, D, b.root, 1, D, 5).unwrap_err();
    assert_eq!(
        (e.error, e.detail),
        (Error::InvalidArgument, ErrorDetail::Argument(4))
    );
    o.cnode_mutate(b.root, 4, D, b.root, 1, D, 0).unwrap();
    assert!(matches!(b.cap(4), Cap::Endpoint { .. }));
}

#[test]
fn rotate_moves_the_pivot_to_dest_and_the_source_to_the_pivot() {
    let b = with_endpoint();
    let o = b.o();
    o.cnode_mint(b.root, 2, D, b.root, 1, D, CapRights::ALL, 7)
        .unwrap();
    b.retype(ObjectType::CNode as u64, 2, 3, 1);
    // dest 9 <- pivot 2 (the badged endpoint); pivot 2 <- src 3 (a CNode,
    // given a guard on the way).
    o.cnode_rotate(b.root, 9, D, b.root, 2, D, 0, b.root, 3, D, 1 | (1 << 6))
        .unwrap();
    assert_eq!(b.cap(9).badge(), 7);
    assert!(o.is_mdb_parent_of(b.slot(1), b.slot(9)));
    assert!(matches!(
        b.cap(2),
        Cap::CNode {
            guard: 1,
            guard_bits: 1,
            ..
        }
    ));
    assert!(b.cap(3).is_null());
}

#[test]
fn rotate_onto_its_source_swaps_in_place() {
    let b = with_endpoint();
    let o = b.o();
    // Slot 2: a copy of the endpoint in slot 1, so the two are neighbours
    // in the derivation tree (parent and child).
    o.cnode_copy(b.root, 2, D, b.root, 1, D, CapRights::READ)
        .unwrap();
    o.cnode_rotate(b.root, 2, D, b.root, 1, D, 0, b.root, 2, D, 0)
        .unwrap();
    assert!(
        matches!(b.cap(1), Cap::Endpoint { rights, .. } if rights == CapRights::READ),
        "the copy is now in the pivot"
    );
    assert!(
        matches!(b.cap(2), Cap::Endpoint { rights, .. } if rights == CapRights::ALL),
        "the original is now in the source"
    );
    // The tree follows the capabilities: the original, now in slot 2, is
    // still the parent of its copy, now in slot 1.
    assert!(o.is_mdb_parent_of(b.slot(2), b.slot(1)));
    assert!(!o.is_mdb_parent_of(b.slot(1), b.slot(2)));
    // Swapping back restores the start.
    o.cnode_rotate(b.root, 1, D, b.root, 2, D, 0, b.root, 1, D, 0)
        .unwrap();
    assert!(matches!(b.cap(1), Cap::Endpoint { rights, .. } if rights == CapRights::ALL));
    assert!(o.is_mdb_parent_of(b.slot(1), b.slot(2)));
}

#[test]
fn a_refused_rotate_changes_nothing() {
    let b = with_endpoint();
    let o = b.o();
    o.cnode_copy(b.root, 2, D, b.root, 1, D, CapRights::ALL)
        .unwrap();
    let before = [b.cap(1), b.cap(2), b.cap(3)];
    // The pivot may be neither end.
    let e = o
        .cnode_rotate(b.root, 3, D, b.root, 2, D, 0, b.root, 2, D, 0)
        .unwrap_err();
    assert_eq!(e.error, Error::IllegalOperation);
    let e = o
        .cnode_rotate(b.root, 2, D, b.root, 2, D, 0, b.root, 1, D, 0)
        .unwrap_err();
    assert_eq!(e.error, Error::IllegalOperation);
    // An occupied destination (that is not the source).
    let e = o
        .cnode_rotate(b.root, 1, D, b.root, 2, D, 0, b.root, 4, D, 0)
        .unwrap_err();
    assert_eq!(e.error, Error::DeleteFirst);
    // An empty source, then an empty pivot: each blamed on its lookup.
    let e = o
        .cnode_rotate(b.root, 3, D, b.root, 2, D, 0, b.root, 4, D, 0)
        .unwrap_err();
    assert_eq!(
        e.detail,
        ErrorDetail::Lookup {
            side: LookupSide::Source,
            failure: LookupFailure::MissingCapability { bits_left: 0 }
        }
    );
    let e = o
        .cnode_rotate(b.root, 3, D, b.root, 4, D, 0, b.root, 2, D, 0)
        .unwrap_err();
    assert_eq!(
        e.detail,
        ErrorDetail::Lookup {
            side: LookupSide::Destination,
            failure: LookupFailure::MissingCapability { bits_left: 0 }
        }
    );
    // Data on a capability that takes none, for either end: the argument
    // is named, and nothing has moved.
    let e = o
        .cnode_rotate(b.root, 3, D, b.root, 2, D, 5, b.root, 1, D, 0)
        .unwrap_err();
    assert_eq!(
        (e.error, e.detail),
        (Error::InvalidArgument, ErrorDetail::Argument(4))
    );
    let e = o
        .cnode_rotate(b.root, 1, D, b.root, 2, D, 0, b.root, 1, D, 5)
        .unwrap_err();
    assert_eq!(
        (e.error, e.detail),
        (Error::InvalidArgument, ErrorDetail::Argument(7))
    );
    assert_eq!([b.cap(1), b.cap(2), b.cap(3)], before);
    assert!(o.is_mdb_parent_of(b.slot(1), b.slot(2)));
}

#[test]
fn delete_finalises_only_the_last_cap() {
    let b = with_endpoint();
    let o = b.o();
    o.cnode_copy(b.root, 2, D, b.root, 1, D, CapRights::ALL)
        .unwrap();
    let mut hooks = Hooks::default();
    assert_eq!(
        o.cnode_delete(b.root, 1, D, &mut hooks),
        Ok(Completion::Done)
    );
    assert!(hooks.finalised.is_empty());
    assert!(b.cap(1).is_null());
    // The copy now belongs to the untyped.
    assert!(o.is_mdb_parent_of(b.untyped, b.slot(2)));
    assert_eq!(
        o.cnode_delete(b.root, 2, D, &mut hooks),
        Ok(Completion::Done)
    );
    assert_eq!(hooks.finalised.len(), 1);
    assert!(matches!(hooks.finalised[0], Cap::Endpoint { .. }));
    // Deleting an empty slot is fine; a bad path is not.
    assert_eq!(
        o.cnode_delete(b.root, 2, D, &mut hooks),
        Ok(Completion::Done)
    );
    assert_eq!(
        o.cnode_delete(b.root, 2, 0, &mut hooks).unwrap_err().error,
        Error::RangeError
    );
}

#[test]
fn deleting_a_cnode_deletes_what_it_holds_with_preemption_points() {
    let b = Boot::new(5, 16);
    let o = b.o();
    b.retype(ObjectType::CNode as u64, 3, 1, 1);
    b.retype(ObjectType::CNode as u64, 2, 2, 1);
    let Cap::CNode { object: outer, .. } = b.cap(1) else {
        panic!()
    };
    let Cap::CNode { object: inner, .. } = b.cap(2) else {
        panic!()
    };
    // Endpoints in both; the inner CNode's only cap inside the outer one.
    o.untyped_retype(
        b.untyped,
        ObjectType::Endpoint as u64,
        0,
        b.root,
        1,
        D,
        0,
        3,
    )
    .unwrap();
    o.untyped_retype(
        b.untyped,
        ObjectType::Endpoint as u64,
        0,
        b.root,
        2,
        D,
        1,
        2,
    )
    .unwrap();
    o.cnode_move(b.cap(1), 7, 3, b.root, 2, D).unwrap();
    let mut hooks = Hooks {
        preempt_every: 2,
        ..Hooks::default()
    };
    let mut restarts = 0;
    while o.cnode_delete(b.root, 1, D, &mut hooks).unwrap() == Completion::Preempted {
        restarts += 1;
        // Between restarts the dying CNode's slot holds a zombie.
        assert!(matches!(b.cap(1), Cap::Zombie { .. }));
    }
    assert!(restarts > 0);
    assert!(b.cap(1).is_null());
    // 2 CNodes and 5 endpoints were destroyed.
    assert_eq!(hooks.finalised.len(), 7);
    for i in 0..8 {
        assert!(o.cap(o.cnode_slot(outer, i)).is_null());
    }
    for i in 0..4 {
        assert!(o.cap(o.cnode_slot(inner, i)).is_null());
    }
    // The memory is free again.
    assert!(!o.has_children(b.untyped));
}

#[test]
fn revoke_removes_descendants_and_keeps_badge_groups_apart() {
    let b = with_endpoint();
    let o = b.o();
    o.cnode_mint(b.root, 2, D, b.root, 1, D, CapRights::ALL, 5)
        .unwrap(); // badge 5 original
    o.cnode_copy(b.root, 3, D, b.root, 2, D, CapRights::ALL)
        .unwrap(); // its copy
    o.cnode_mint(b.root, 4, D, b.root, 1, D, CapRights::ALL, 5)
        .unwrap(); // another badge-5 original
    o.cnode_copy(b.root, 5, D, b.root, 1, D, CapRights::ALL)
        .unwrap(); // unbadged copy
    let mut hooks = Hooks::default();
    assert_eq!(
        o.cnode_revoke(b.root, 4, D, &mut hooks),
        Ok(Completion::Done)
    );
    assert!(
        !b.cap(2).is_null() && !b.cap(3).is_null(),
        "the other badge group survives"
    );
    assert_eq!(
        o.cnode_revoke(b.root, 2, D, &mut hooks),
        Ok(Completion::Done)
    );
    assert!(b.cap(3).is_null());
    assert_eq!(
        o.cnode_revoke(b.root, 1, D, &mut hooks),
        Ok(Completion::Done)
    );
    for i in 2..=5 {
        assert!(b.cap(i).is_null(), "slot {i}");
    }
    assert!(!b.cap(1).is_null());
    assert!(
        hooks.finalised.is_empty(),
        "the original still names the endpoint"
    );
}

#[test]
fn deleting_a_badge_original_hands_its_copies_to_the_first_copy() {
    let b = with_endpoint();
    let o = b.o();
    o.cnode_mint(b.root, 2, D, b.root, 1, D, CapRights::ALL, 9)
        .unwrap();
    o.cnode_copy(b.root, 3, D, b.root, 2, D, CapRights::ALL)
        .unwrap();
    o.cnode_copy(b.root, 4, D, b.root, 2, D, CapRights::ALL)
        .unwrap();
    o.cnode_mint(b.root, 5, D, b.root, 1, D, CapRights::ALL, 9)
        .unwrap();
    let mut hooks = Hooks::default();
    let _ = o.delete_cap(b.slot(2), &mut hooks);
    // Slot 4's copy was inserted right after the original, so it is first.
    assert!(o.mdb(b.slot(4)).first_badged);
    assert!(o.is_mdb_parent_of(b.slot(4), b.slot(3)));
    assert!(
        !o.has_children(b.slot(5)),
        "the other badge-9 original adopts nothing"
    );
}

#[test]
fn revoking_an_untyped_destroys_everything_and_resets_it() {
    let b = Boot::new(5, 16);
    let o = b.o();
    b.retype(ObjectType::Untyped as u64, 12, 1, 1);
    o.retype(b.slot(1), ObjectType::Endpoint as u64, 0, b.root, 2, 3)
        .unwrap();
    b.retype(ObjectType::Tcb as u64, 0, 5, 1);
    b.retype(ObjectType::Notification as u64, 0, 6, 1);
    o.cnode_copy(b.root, 7, D, b.root, 6, D, CapRights::ALL)
        .unwrap();
    let mut hooks = Hooks {
        preempt_every: 3,
        ..Hooks::default()
    };
    let mut restarts = 0;
    while o.cnode_revoke(b.root, 0, D, &mut hooks).unwrap() == Completion::Preempted {
        restarts += 1;
    }
    assert!(restarts > 0);
    for i in 1..=7 {
        assert!(b.cap(i).is_null(), "slot {i}");
    }
    // untyped, 3 endpoints, TCB, notification.
    assert_eq!(hooks.finalised.len(), 6);
    assert!(matches!(b.cap(0), Cap::Untyped { free_index: 0, .. }));
}

#[test]
fn revoke_of_an_untyped_inside_its_own_cnode_stops_cleanly() {
    // The untyped's cap lives in a CNode made from it: destroying the CNode
    // deletes the untyped's cap, and the revoke ends with nothing half done.
    let b = Boot::new(5, 16);
    let o = b.o();
    b.retype(ObjectType::Endpoint as u64, 0, 2, 1);
    b.retype(ObjectType::CNode as u64, 2, 1, 1);
    let Cap::CNode { object, .. } = b.cap(1) else {
        panic!()
    };
    let ut = o.cnode_slot(object, 3);
    o.move_cap(b.untyped, ut, None).unwrap();
    let mut hooks = Hooks::default();
    assert_eq!(o.revoke_cap(ut, &mut hooks), Completion::Done);
    assert!(b.cap(1).is_null());
    assert!(o.cap(ut).is_null());
    // Newer objects come first in derivation order: the CNode was destroyed
    // before the endpoint, and with it the untyped's cap, so the endpoint stays.
    assert!(matches!(b.cap(2), Cap::Endpoint { .. }));
}

#[test]
fn unreachable_cycles_are_reclaimed_by_revoking_their_untyped() {
    // Two CNodes holding the only caps to each other.
    let b = Boot::new(5, 16);
    let o = b.o();
    b.retype(ObjectType::CNode as u64, 1, 1, 2);
    let Cap::CNode { object: a, .. } = b.cap(1) else {
        panic!()
    };
    let Cap::CNode { object: c, .. } = b.cap(2) else {
        panic!()
    };
    o.move_cap(b.slot(1), o.cnode_slot(c, 0), None).unwrap();
    o.move_cap(b.slot(2), o.cnode_slot(a, 1), None).unwrap();
    // And one CNode holding the only cap to itself.
    b.retype(ObjectType::CNode as u64, 1, 3, 1);
    let Cap::CNode { object: s, .. } = b.cap(3) else {
        panic!()
    };
    o.move_cap(b.slot(3), o.cnode_slot(s, 1), None).unwrap();
    for preempt_every in [0, 1] {
        let mut hooks = Hooks {
            preempt_every,
            ..Hooks::default()
        };
        while o.revoke_cap(b.untyped, &mut hooks) == Completion::Preempted {}
        if preempt_every == 0 {
            assert_eq!(hooks.finalised.len(), 3);
        }
        assert!(!o.has_children(b.untyped));
        for (obj, i) in [(a, 1), (c, 0), (s, 1)] {
            assert!(o.cap(o.cnode_slot(obj, i)).is_null());
        }
    }
}

#[test]
fn zombies_cannot_be_copied_or_moved() {
    let b = Boot::new(5, 16);
    let o = b.o();
    b.retype(ObjectType::CNode as u64, 2, 1, 1);
    b.retype(ObjectType::Endpoint as u64, 0, 2, 1);
    o.move_cap(b.slot(2), o.cnode_slot(b.cap(1).object().unwrap(), 0), None)
        .unwrap();
    let mut hooks = Hooks {
        preempt_every: 1,
        ..Hooks::default()
    };
    assert_eq!(o.delete_cap(b.slot(1), &mut hooks), Completion::Preempted);
    assert!(matches!(b.cap(1), Cap::Zombie { .. }));
    assert_eq!(
        o.cnode_copy(b.root, 3, D, b.root, 1, D, CapRights::ALL)
            .unwrap_err()
            .error,
        Error::IllegalOperation
    );
    assert_eq!(
        o.cnode_move(b.root, 3, D, b.root, 1, D).unwrap_err().error,
        Error::IllegalOperation
    );
    // A lookup through a zombie does not enter the dying CNode.
    assert!(o
        .resolve_address_bits(b.root, 1 << 2, 7)
        .is_ok_and(|r| r.bits_left == 2 && r.slot == b.slot(1)));
    hooks.preempt_every = 0;
    assert_eq!(o.delete_cap(b.slot(1), &mut hooks), Completion::Done);
    assert!(b.cap(1).is_null());
}

#[test]
fn a_preempted_revoke_that_deletes_its_own_cap_still_finishes_the_victim() {
    // Found by the model test. CNode C (from untyped U0) holds: a copy of a
    // CNode cap from another untyped U1, the last cap to C itself, and U0's
    // cap. Revoking U0 destroys C, which deletes U0's cap on the way; the
    // revoke must not stop there (a restart could not find C's zombie) and
    // must still delete the foreign copy inside C.
    let ram = Ram::new(0x120000);
    let o = ram.objects;
    let root = Cap::CNode {
        object: ROOT_CNODE,
        radix_bits: 5,
        guard: 0,
        guard_bits: 0,
    };
    o.insert_original(Slot(BOOT_SLOT), root).unwrap();
    let slot = |i| o.cnode_slot(ROOT_CNODE, i);
    o.insert_original(
        slot(0),
        Cap::Untyped {
            object: 0x100000,
            size_bits: 16,
            free_index: 0,
            is_device: false,
        },
    )
    .unwrap();
    o.insert_original(
        slot(1),
        Cap::Untyped {
            object: 0x110000,
            size_bits: 15,
            free_index: 0,
            is_device: false,
        },
    )
    .unwrap();
    o.retype(slot(0), ObjectType::CNode as u64, 2, root, 2, 1)
        .unwrap();
    o.retype(slot(1), ObjectType::CNode as u64, 1, root, 5, 1)
        .unwrap();
    let c = o.cap(slot(2)).object().unwrap();
    o.copy_cap(slot(5), o.cnode_slot(c, 0), CapRights::ALL, None)
        .unwrap();
    o.copy_cap(slot(2), slot(6), CapRights::ALL, Some(0))
        .unwrap();
    o.copy_cap(slot(6), o.cnode_slot(c, 1), CapRights::ALL, None)
        .unwrap();
    o.move_cap(slot(0), o.cnode_slot(c, 2), None).unwrap();
    let mut hooks = Hooks {
        preempt_every: 1,
        ..Hooks::default()
    };
    while o.revoke_cap(o.cnode_slot(c, 2), &mut hooks) == Completion::Preempted {}
    assert!(
        o.cap(o.cnode_slot(c, 0)).is_null(),
        "the foreign copy inside C was deleted"
    );
    assert!(!o.has_children(slot(5)));
    assert!(o.cap(slot(2)).is_null() && o.cap(slot(6)).is_null());
}
