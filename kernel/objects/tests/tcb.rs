//! TCB invocations: configure, priorities under the MCP rule, suspend, resume.

mod common;

use common::*;
use ward_abi::object::ObjectType;
use ward_abi::rights::CapRights;
use ward_abi::Error;
use ward_kernel_objects::cap::Cap;
use ward_kernel_objects::sched::ReadyQueues;
use ward_kernel_objects::tcb::{field, TcbSlot, ThreadState};
use ward_kernel_objects::tcb_ops::TcbConfig;
use ward_kernel_objects::{Completion, ErrorDetail, Tcb};

/// Root slots: 1 TCB, 2 CNode, 3 PML4 (given an ASID), 4 frame, 5 endpoint.
fn setup() -> (Boot, Tcb) {
    let b = Boot::new(5, 18);
    let o = b.o();
    b.retype(ObjectType::Tcb as u64, 0, 1, 1);
    b.retype(ObjectType::CNode as u64, 4, 2, 1);
    b.retype(ObjectType::Pml4 as u64, 0, 3, 1);
    b.retype(ObjectType::Frame4K as u64, 0, 4, 1);
    b.retype(ObjectType::Endpoint as u64, 0, 5, 1);
    // The kernel assigns ASIDs (an ASID pool's job); pretend it did.
    let pml4 = b.cap(3).object().unwrap();
    let mut hooks = Hooks::default();
    let _ = o.delete_cap(b.slot(3), &mut hooks);
    o.insert_original(
        b.slot(3),
        Cap::Pml4 {
            object: pml4,
            asid: Some(1),
        },
    )
    .unwrap();
    let tcb = Tcb(b.cap(1).object().unwrap());
    (b, tcb)
}

fn full_config(b: &Boot) -> TcbConfig {
    TcbConfig {
        fault_endpoint: Some(b.slot(5)),
        cspace_root: Some((b.slot(2), 0)),
        vspace_root: Some(b.slot(3)),
        ipc_buffer: Some((0x7000_0000, b.slot(4))),
    }
}

#[test]
fn configure_installs_copies_in_the_tcb_slots() {
    let (b, tcb) = setup();
    let o = b.o();
    let mut hooks = Hooks::default();
    assert_eq!(
        o.tcb_configure(tcb, full_config(&b), &mut hooks),
        Ok(Completion::Done)
    );
    assert!(matches!(
        o.cap(tcb.slot(TcbSlot::CSpaceRoot)),
        Cap::CNode { .. }
    ));
    assert!(matches!(
        o.cap(tcb.slot(TcbSlot::VSpaceRoot)),
        Cap::Pml4 { .. }
    ));
    assert!(matches!(
        o.cap(tcb.slot(TcbSlot::IpcBuffer)),
        Cap::Frame { .. }
    ));
    assert!(matches!(
        o.cap(tcb.slot(TcbSlot::FaultEndpoint)),
        Cap::Endpoint { .. }
    ));
    assert_eq!(o.tcb_field(tcb, field::IPC_BUFFER_VADDR), 0x7000_0000);
    // They are copies: children of the caller's caps, gone when those are revoked.
    assert_eq!(o.revoke_cap(b.slot(2), &mut hooks), Completion::Done);
    assert!(o.cap(tcb.slot(TcbSlot::CSpaceRoot)).is_null());
    // Reconfiguring with a guard replaces the cap.
    let config = TcbConfig {
        cspace_root: Some((b.slot(2), 2 | (1 << 6))),
        ..TcbConfig::default()
    };
    assert_eq!(
        o.tcb_configure(tcb, config, &mut hooks),
        Ok(Completion::Done)
    );
    assert!(matches!(
        o.cap(tcb.slot(TcbSlot::CSpaceRoot)),
        Cap::CNode {
            guard: 1,
            guard_bits: 2,
            ..
        }
    ));
}

#[test]
fn configure_checks_everything_before_changing_anything() {
    let (b, tcb) = setup();
    let o = b.o();
    let mut hooks = Hooks::default();
    let cases = [
        (
            TcbConfig {
                fault_endpoint: Some(b.slot(4)),
                ..full_config(&b)
            },
            Error::InvalidCapability,
            ErrorDetail::Capability(0),
        ),
        (
            TcbConfig {
                cspace_root: Some((b.slot(5), 0)),
                ..full_config(&b)
            },
            Error::InvalidCapability,
            ErrorDetail::Capability(1),
        ),
        (
            TcbConfig {
                cspace_root: Some((b.slot(2), 62)),
                ..full_config(&b)
            },
            Error::InvalidArgument,
            ErrorDetail::Argument(1),
        ),
        (
            TcbConfig {
                vspace_root: Some(b.slot(2)),
                ..full_config(&b)
            },
            Error::InvalidCapability,
            ErrorDetail::Capability(2),
        ),
        (
            TcbConfig {
                ipc_buffer: Some((0x7000_0100, b.slot(4))),
                ..full_config(&b)
            },
            Error::AlignmentError,
            ErrorDetail::None,
        ),
        (
            TcbConfig {
                ipc_buffer: Some((0x7000_0000, b.slot(5))),
                ..full_config(&b)
            },
            Error::InvalidCapability,
            ErrorDetail::Capability(3),
        ),
    ];
    for (config, error, detail) in cases {
        let e = o.tcb_configure(tcb, config, &mut hooks).unwrap_err();
        assert_eq!((e.error, e.detail), (error, detail), "{config:?}");
        for which in [
            TcbSlot::CSpaceRoot,
            TcbSlot::VSpaceRoot,
            TcbSlot::IpcBuffer,
            TcbSlot::FaultEndpoint,
        ] {
            assert!(o.cap(tcb.slot(which)).is_null());
        }
    }
    // A receive-only endpoint cannot take faults.
    o.cnode_copy(b.root, 6, 5, b.root, 5, 5, CapRights::READ)
        .unwrap();
    let config = TcbConfig {
        fault_endpoint: Some(b.slot(6)),
        ..TcbConfig::default()
    };
    assert_eq!(
        o.tcb_configure(tcb, config, &mut hooks).unwrap_err().error,
        Error::InvalidCapability
    );
}

#[test]
fn deleting_a_configured_tcb_empties_its_slots() {
    let (b, tcb) = setup();
    let o = b.o();
    let mut hooks = Hooks::default();
    assert_eq!(
        o.tcb_configure(tcb, full_config(&b), &mut hooks),
        Ok(Completion::Done)
    );
    assert_eq!(o.delete_cap(b.slot(1), &mut hooks), Completion::Done);
    assert!(
        matches!(hooks.finalised.as_slice(), [Cap::Tcb { .. }]),
        "{:?}",
        hooks.finalised
    );
    for which in [
        TcbSlot::CSpaceRoot,
        TcbSlot::VSpaceRoot,
        TcbSlot::IpcBuffer,
        TcbSlot::FaultEndpoint,
    ] {
        assert!(o.cap(tcb.slot(which)).is_null());
    }
    for i in 2..=5 {
        assert!(!o.has_children(b.slot(i)));
    }
}

#[test]
fn priorities_follow_the_mcp_rule() {
    let (b, tcb) = setup();
    let o = b.o();
    b.retype(ObjectType::Tcb as u64, 0, 7, 1);
    let boss = Tcb(b.cap(7).object().unwrap());
    o.set_tcb_mcp(boss, 50);
    let mut rq = ReadyQueues::new();
    o.tcb_set_priority(&mut rq, tcb, boss, 50).unwrap();
    assert_eq!(o.tcb_priority(tcb), 50);
    let e = o.tcb_set_priority(&mut rq, tcb, boss, 51).unwrap_err();
    assert_eq!(
        (e.error, e.detail),
        (Error::RangeError, ErrorDetail::Range { min: 0, max: 50 })
    );
    o.tcb_set_mc_priority(tcb, boss, 40).unwrap();
    assert_eq!(o.tcb_mcp(tcb), 40);
    assert_eq!(
        o.tcb_set_mc_priority(tcb, boss, 60).unwrap_err().error,
        Error::RangeError
    );
    // A thread cannot raise itself above its own MCP.
    assert_eq!(
        o.tcb_set_priority(&mut rq, tcb, tcb, 41).unwrap_err().error,
        Error::RangeError
    );
}

#[test]
fn suspend_and_resume() {
    let (b, tcb) = setup();
    let o = b.o();
    let mut rq = ReadyQueues::new();
    assert_eq!(o.tcb_state(tcb), ThreadState::Inactive);
    o.tcb_resume(&mut rq, tcb);
    assert_eq!(o.tcb_state(tcb), ThreadState::Restart);
    assert_eq!(rq.choose(), Some(tcb));
    o.tcb_resume(&mut rq, tcb); // not inactive: nothing happens
    let ep = b.cap(5).object().unwrap();
    rq.remove(&o, tcb);
    o.endpoint_block(ep, tcb, false, 0);
    o.tcb_suspend(&mut rq, tcb);
    assert_eq!(o.tcb_state(tcb), ThreadState::Inactive);
    assert_eq!(o.endpoint_head(ep), None);
    assert_eq!(rq.choose(), None);
}
