//! `untyped_retype`: placement, alignment, watermark, zeroing, derivation
//! and every error path.

mod common;

use common::*;
use ward_abi::object::{ObjectType, MAX_RETYPE_FAN_OUT};
use ward_abi::Error;
use ward_kernel_objects::cap::{Cap, FrameSize};
use ward_kernel_objects::{ErrorDetail, Slot};

fn err(r: Result<(), ward_kernel_objects::InvocationError>) -> (Error, ErrorDetail) {
    let e = r.unwrap_err();
    (e.error, e.detail)
}

#[test]
fn objects_are_placed_aligned_after_the_watermark_as_children() {
    let b = Boot::new(5, 16);
    let o = b.o();
    b.retype(ObjectType::Endpoint as u64, 0, 1, 2);
    assert_eq!(b.cap(1).object(), Some(UNTYPED_BASE));
    assert_eq!(b.cap(2).object(), Some(UNTYPED_BASE + 16));
    // A TCB (2 KiB) is aligned up past the two endpoints.
    b.retype(ObjectType::Tcb as u64, 0, 3, 1);
    assert_eq!(b.cap(3).object(), Some(UNTYPED_BASE + 2048));
    let Cap::Untyped { free_index, .. } = b.cap(0) else {
        panic!()
    };
    assert_eq!(free_index, 4096);
    for i in 1..=3 {
        assert!(o.is_mdb_parent_of(b.untyped, b.slot(i)));
    }
    assert!(o.has_children(b.untyped));
}

#[test]
fn every_type_gets_its_cap() {
    let b = Boot::new(5, 23);
    let kinds = [
        (ObjectType::Untyped, 12),
        (ObjectType::Tcb, 0),
        (ObjectType::Endpoint, 0),
        (ObjectType::Notification, 0),
        (ObjectType::CNode, 4),
        (ObjectType::Frame4K, 0),
        (ObjectType::Frame2M, 0),
        (ObjectType::Pml4, 0),
        (ObjectType::Pdpt, 0),
        (ObjectType::PageDirectory, 0),
        (ObjectType::PageTable, 0),
        (ObjectType::IoPageTable, 0),
    ];
    for (i, (t, size)) in kinds.iter().enumerate() {
        b.retype(*t as u64, *size, 1 + i as u64, 1);
        let cap = b.cap(1 + i as u64);
        let bits = t.size_bits(*size as u32).unwrap();
        assert_eq!(cap.object_size_bits(), Some(bits), "{t:?}");
        assert_eq!(cap.object().unwrap() % (1 << bits), 0, "{t:?} is aligned");
    }
    assert!(matches!(
        b.cap(7),
        Cap::Frame {
            size: FrameSize::Large,
            mapping: None,
            ..
        }
    ));
    assert!(matches!(
        b.cap(5),
        Cap::CNode {
            radix_bits: 4,
            guard_bits: 0,
            ..
        }
    ));
}

#[test]
fn objects_are_zeroed() {
    let b = Boot::new(5, 16);
    let o = b.o();
    b.retype(ObjectType::CNode as u64, 2, 1, 1);
    let Cap::CNode { object, .. } = b.cap(1) else {
        panic!()
    };
    // Dirty the memory through a cap in the CNode, then recycle it.
    b.retype(ObjectType::Endpoint as u64, 0, 2, 1);
    o.move_cap(b.slot(2), o.cnode_slot(object, 3), None)
        .unwrap();
    let mut hooks = Hooks::default();
    assert_eq!(
        o.revoke_cap(b.untyped, &mut hooks),
        ward_kernel_objects::Completion::Done
    );
    b.retype(ObjectType::Frame4K as u64, 0, 1, 1);
    let frame = b.cap(1).object().unwrap();
    for w in 0..512 {
        assert_eq!(o.window().read_word(frame + w * 8), 0);
    }
}

#[test]
fn not_enough_memory_reports_bytes_available() {
    let b = Boot::new(5, 12); // 4 KiB
    b.retype(ObjectType::Endpoint as u64, 0, 1, 1);
    let r = b
        .o()
        .retype(b.untyped, ObjectType::Frame4K as u64, 0, b.root, 2, 1);
    assert_eq!(
        err(r),
        (
            Error::NotEnoughMemory,
            ErrorDetail::BytesAvailable(4096 - 16)
        )
    );
    // An object bigger than the whole untyped.
    let r = b
        .o()
        .retype(b.untyped, ObjectType::Frame2M as u64, 0, b.root, 2, 1);
    assert_eq!(err(r).0, Error::NotEnoughMemory);
    // Nothing changed.
    assert!(b.cap(2).is_null());
    let Cap::Untyped { free_index, .. } = b.cap(0) else {
        panic!()
    };
    assert_eq!(free_index, 16);
}

#[test]
fn watermark_resets_once_all_children_are_gone() {
    let b = Boot::new(5, 12);
    let o = b.o();
    b.retype(ObjectType::Frame4K as u64, 0, 1, 1);
    let first = b.cap(1).object();
    assert_eq!(
        err(o.retype(b.untyped, ObjectType::Endpoint as u64, 0, b.root, 2, 1)).0,
        Error::NotEnoughMemory
    );
    let mut hooks = Hooks::default();
    let _ = o.delete_cap(b.slot(1), &mut hooks);
    // No children: retype starts again from 0 and reuses the memory.
    b.retype(ObjectType::Frame4K as u64, 0, 2, 1);
    assert_eq!(b.cap(2).object(), first);
}

#[test]
fn device_untyped_only_becomes_frames_and_untyped() {
    let ram = Ram::new(0x400000);
    let o = ram.objects;
    let root = Cap::CNode {
        object: ROOT_CNODE,
        radix_bits: 4,
        guard: 0,
        guard_bits: 0,
    };
    o.insert_original(Slot(BOOT_SLOT), root).unwrap();
    let dev = o.cnode_slot(ROOT_CNODE, 0);
    let mmio = 0x200000;
    o.window().write_word(mmio, 0xdead_beef); // a device register
    o.insert_original(
        dev,
        Cap::Untyped {
            object: mmio,
            size_bits: 21,
            free_index: 0,
            is_device: true,
        },
    )
    .unwrap();
    for t in [
        ObjectType::Tcb,
        ObjectType::CNode,
        ObjectType::Endpoint,
        ObjectType::PageTable,
    ] {
        let r = o.retype(dev, t as u64, 4, root, 1, 1);
        assert_eq!(
            err(r),
            (Error::InvalidArgument, ErrorDetail::Argument(0)),
            "{t:?}"
        );
    }
    o.retype(dev, ObjectType::Frame4K as u64, 0, root, 1, 1)
        .unwrap();
    assert!(matches!(
        o.cap(o.cnode_slot(ROOT_CNODE, 1)),
        Cap::Frame {
            is_device: true,
            ..
        }
    ));
    // Device memory is never written by retype.
    assert_eq!(o.window().read_word(mmio), 0xdead_beef);
    o.retype(dev, ObjectType::Untyped as u64, 12, root, 2, 1)
        .unwrap();
    assert!(matches!(
        o.cap(o.cnode_slot(ROOT_CNODE, 2)),
        Cap::Untyped {
            is_device: true,
            ..
        }
    ));
}

#[test]
fn argument_errors() {
    let b = Boot::new(5, 16);
    let o = b.o();
    let r = |t: u64, size: u64, offset: u64, count: u64| {
        err(o.retype(b.untyped, t, size, b.root, offset, count))
    };
    assert_eq!(
        r(99, 0, 1, 1),
        (Error::InvalidArgument, ErrorDetail::Argument(0))
    );
    assert_eq!(
        r(ObjectType::Untyped as u64, 3, 1, 1),
        (Error::RangeError, ErrorDetail::Range { min: 4, max: 47 })
    );
    assert_eq!(
        r(ObjectType::CNode as u64, 0, 1, 1),
        (Error::RangeError, ErrorDetail::Range { min: 1, max: 26 })
    );
    assert_eq!(
        r(ObjectType::Endpoint as u64, 0, 32, 1),
        (Error::RangeError, ErrorDetail::Range { min: 0, max: 31 })
    );
    assert_eq!(
        r(ObjectType::Endpoint as u64, 0, 30, 3),
        (Error::RangeError, ErrorDetail::Range { min: 1, max: 2 })
    );
    assert_eq!(r(ObjectType::Endpoint as u64, 0, 1, 0).0, Error::RangeError);
    // Destination occupied (slot 0 holds the untyped itself).
    assert_eq!(
        r(ObjectType::Endpoint as u64, 0, 0, 2).0,
        Error::DeleteFirst
    );
    // Not an untyped.
    b.retype(ObjectType::Endpoint as u64, 0, 1, 1);
    let e = o
        .retype(b.slot(1), ObjectType::Endpoint as u64, 0, b.root, 2, 1)
        .unwrap_err();
    assert_eq!(
        (e.error, e.detail),
        (Error::InvalidCapability, ErrorDetail::Capability(0))
    );
    // The destination is not a CNode.
    let e = o
        .untyped_retype(
            b.untyped,
            ObjectType::Endpoint as u64,
            0,
            b.root,
            1,
            5,
            0,
            1,
        )
        .unwrap_err();
    assert_eq!(e.error, Error::FailedLookup);
}

#[test]
fn fan_out_is_bounded_and_large_counts_work() {
    let b = Boot::new(9, 20);
    b.retype(ObjectType::Endpoint as u64, 0, 1, MAX_RETYPE_FAN_OUT);
    let e = b
        .o()
        .retype(
            b.untyped,
            ObjectType::Endpoint as u64,
            0,
            b.root,
            300,
            MAX_RETYPE_FAN_OUT,
        )
        .unwrap_err();
    assert_eq!(e.error, Error::RangeError);
    let e = b
        .o()
        .retype(
            b.untyped,
            ObjectType::Endpoint as u64,
            0,
            b.root,
            200,
            MAX_RETYPE_FAN_OUT + 1,
        )
        .unwrap_err();
    assert_eq!(
        (e.error, e.detail),
        (
            Error::RangeError,
            ErrorDetail::Range {
                min: 1,
                max: MAX_RETYPE_FAN_OUT
            }
        )
    );
}

#[test]
fn retype_into_a_nested_cnode_by_depth() {
    let b = Boot::new(5, 16);
    let o = b.o();
    b.retype(ObjectType::CNode as u64, 3, 4, 1);
    // node_index 4 at depth 5 names root slot 4, which holds the CNode.
    o.untyped_retype(
        b.untyped,
        ObjectType::Notification as u64,
        0,
        b.root,
        4,
        5,
        6,
        2,
    )
    .unwrap();
    let Cap::CNode { object, .. } = b.cap(4) else {
        panic!()
    };
    assert!(matches!(
        o.cap(o.cnode_slot(object, 6)),
        Cap::Notification { .. }
    ));
    assert!(matches!(
        o.cap(o.cnode_slot(object, 7)),
        Cap::Notification { .. }
    ));
    // Depth 0 means the root CNode itself.
    o.untyped_retype(
        b.untyped,
        ObjectType::Endpoint as u64,
        0,
        b.root,
        0,
        0,
        9,
        1,
    )
    .unwrap();
    assert!(matches!(b.cap(9), Cap::Endpoint { .. }));
}

#[test]
fn insert_original_checks_alignment_and_address_zero() {
    let ram = Ram::new(0x10000);
    let o = ram.objects;
    let s = Slot(0x1000);
    let bad = [
        Cap::Untyped {
            object: 0,
            size_bits: 12,
            free_index: 0,
            is_device: false,
        },
        Cap::Untyped {
            object: 0x800,
            size_bits: 12,
            free_index: 0,
            is_device: false,
        },
        Cap::Untyped {
            object: 0x8000,
            size_bits: 16,
            free_index: 0,
            is_device: false,
        },
    ];
    for cap in bad {
        assert_eq!(
            o.insert_original(s, cap).unwrap_err().error,
            Error::AlignmentError,
            "{cap:?}"
        );
    }
    o.insert_original(s, Cap::IrqControl).unwrap();
    assert_eq!(
        o.insert_original(s, Cap::IrqControl).unwrap_err().error,
        Error::DeleteFirst
    );
}
