//! CSpace lookup: resolveAddressBits semantics and its failure details.

mod common;

use common::*;
use ward_abi::lookup::LookupFailure;
use ward_abi::object::ObjectType;
use ward_abi::Error;
use ward_kernel_objects::cap::Cap;
use ward_kernel_objects::cspace::Resolved;
use ward_kernel_objects::{ErrorDetail, LookupSide};

/// Root radix 5; a radix-3 CNode with a 4-bit guard 0b1010 in root slot 7.
fn two_levels() -> (Boot, Cap) {
    let b = Boot::new(5, 16);
    b.retype(ObjectType::CNode as u64, 3, 6, 1);
    let o = b.o();
    // Mutate sets the guard: size 4 in the low 6 bits, guard 0b1010 above.
    o.move_cap(b.slot(6), b.slot(7), Some(4 | (0b1010 << 6)))
        .unwrap();
    let inner = b.cap(7);
    (b, inner)
}

#[test]
fn one_level_exact_depth() {
    let b = Boot::new(5, 16);
    let o = b.o();
    assert_eq!(
        o.resolve_address_bits(b.root, 3, 5),
        Ok(Resolved {
            slot: b.slot(3),
            bits_left: 0
        })
    );
    // Only the low `depth` bits count.
    assert_eq!(
        o.resolve_address_bits(b.root, 0xffff_ff00 | 3, 5),
        Ok(Resolved {
            slot: b.slot(3),
            bits_left: 0
        })
    );
    assert_eq!(
        o.lookup_slot_exact(LookupSide::Source, b.root, 3, 5),
        Ok(b.slot(3))
    );
}

#[test]
fn two_levels_with_a_guard() {
    let (b, inner) = two_levels();
    let o = b.o();
    assert!(matches!(
        inner,
        Cap::CNode {
            guard: 0b1010,
            guard_bits: 4,
            radix_bits: 3,
            ..
        }
    ));
    let Cap::CNode { object, .. } = inner else {
        unreachable!()
    };
    // 5 bits root index 7, 4 bits guard, 3 bits index 5: depth 12.
    let cptr = (7 << 7) | (0b1010 << 3) | 5;
    assert_eq!(
        o.lookup_slot_exact(LookupSide::Source, b.root, cptr, 12),
        Ok(o.cnode_slot(object, 5))
    );
    // Stopping at depth 5 names the slot holding the inner CNode cap.
    assert_eq!(
        o.lookup_slot_exact(LookupSide::Source, b.root, 7, 5),
        Ok(b.slot(7))
    );
}

#[test]
fn guard_mismatch_reports_where() {
    let (b, _) = two_levels();
    let cptr = (7 << 7) | (0b0110 << 3) | 5;
    assert_eq!(
        b.o().resolve_address_bits(b.root, cptr, 12),
        Err(LookupFailure::GuardMismatch {
            bits_left: 7,
            guard_found: 0b1010,
            guard_bits: 4
        })
    );
    // A guard longer than the bits left is a mismatch too.
    assert_eq!(
        b.o().resolve_address_bits(b.root, 7 << 2, 7),
        Err(LookupFailure::GuardMismatch {
            bits_left: 2,
            guard_found: 0b1010,
            guard_bits: 4
        })
    );
}

#[test]
fn depth_mismatch_reports_bits() {
    let (b, _) = two_levels();
    let o = b.o();
    // 9 bits: root uses 5, the inner CNode needs 7 more but only 4 are left.
    assert_eq!(
        o.resolve_address_bits(b.root, (7 << 4) | 0b1010, 9),
        Err(LookupFailure::DepthMismatch {
            bits_left: 4,
            bits_found: 7
        })
    );
    // Root needs 5 bits; depth 3 is too short.
    assert_eq!(
        o.resolve_address_bits(b.root, 0, 3),
        Err(LookupFailure::DepthMismatch {
            bits_left: 3,
            bits_found: 5
        })
    );
    // Exact lookups must use all bits: slot 3 holds no CNode, 2 bits remain.
    let e = o
        .lookup_slot_exact(LookupSide::Destination, b.root, 3 << 2, 7)
        .unwrap_err();
    assert_eq!(e.error, Error::FailedLookup);
    assert_eq!(
        e.detail,
        ErrorDetail::Lookup {
            side: LookupSide::Destination,
            failure: LookupFailure::DepthMismatch {
                bits_left: 2,
                bits_found: 0
            }
        }
    );
}

#[test]
fn invalid_root_and_depth_range() {
    let b = Boot::new(5, 16);
    let o = b.o();
    assert_eq!(
        o.resolve_address_bits(Cap::Null, 0, 5),
        Err(LookupFailure::InvalidRoot)
    );
    let e = o
        .lookup_slot_exact(LookupSide::Source, b.cap(0), 0, 5)
        .unwrap_err();
    assert_eq!(
        e.detail,
        ErrorDetail::Lookup {
            side: LookupSide::Source,
            failure: LookupFailure::InvalidRoot
        }
    );
    for depth in [0, 65] {
        let e = o
            .lookup_slot_exact(LookupSide::Source, b.root, 0, depth)
            .unwrap_err();
        assert_eq!(
            (e.error, e.detail),
            (Error::RangeError, ErrorDetail::Range { min: 1, max: 64 })
        );
    }
}

#[test]
fn lookup_cap_uses_all_64_bits_and_reports_missing_caps() {
    let b = Boot::new(5, 16);
    let o = b.o();
    // With a 5-bit root and 64-bit depth, the guard must absorb the rest:
    // give the root a 59-bit guard of 0 as a thread's CSpace root would have.
    let root = Cap::CNode {
        object: ROOT_CNODE,
        radix_bits: 5,
        guard: 0,
        guard_bits: 58,
    };
    // 58 + 5 = 63 bits: one bit is left at slot 0, which holds an untyped.
    assert_eq!(o.lookup_cap(root, 0).map(|(s, _)| s), Ok(b.slot(0)));
    assert_eq!(
        o.lookup_cap(root, 4 << 1),
        Err(LookupFailure::MissingCapability { bits_left: 1 })
    );
}
