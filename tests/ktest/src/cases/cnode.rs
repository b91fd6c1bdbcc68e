//! CNode operations (copy, mint, move, mutate, delete, revoke) over the
//! derivation tree, and capability lookups with bad depths and guards.

use ward_abi::lookup::LookupFailure;
use ward_userlib::cap::{self, Cap, FULL_DEPTH};
use ward_userlib::error::LookupSide;
use ward_userlib::message::info;
use ward_userlib::{syscall, CapRights, Error, InvocationError, ObjectType};

use super::ipc::{blocked_receiver, receiver};
use super::{get, new_endpoint, new_notification, set};
use crate::env::Env;
use crate::framework::{Case, Check, Outcome};
use crate::threads::{self, pack, unpack};
use crate::{ensure, fail};

pub static CASES: &[Case] = &[
    Case {
        name: "copy_endpoint_works",
        run: copy_endpoint_works,
    },
    Case {
        name: "copy_into_occupied_slot",
        run: copy_into_occupied_slot,
    },
    Case {
        name: "copy_from_empty_slot",
        run: copy_from_empty_slot,
    },
    Case {
        name: "mint_badge_delivered",
        run: mint_badge_delivered,
    },
    Case {
        name: "mint_rights_shrink",
        run: mint_rights_shrink,
    },
    Case {
        name: "mint_rights_never_grow",
        run: mint_rights_never_grow,
    },
    Case {
        name: "mint_badged_cap_again",
        run: mint_badged_cap_again,
    },
    Case {
        name: "move_cap",
        run: move_cap,
    },
    Case {
        name: "move_into_occupied_slot",
        run: move_into_occupied_slot,
    },
    Case {
        name: "rotate_moves_two_caps",
        run: rotate_moves_two_caps,
    },
    Case {
        name: "rotate_swaps_in_place",
        run: rotate_swaps_in_place,
    },
    Case {
        name: "rotate_refuses_bad_slots",
        run: rotate_refuses_bad_slots,
    },
    Case {
        name: "mutate_sets_cnode_guard",
        run: mutate_sets_cnode_guard,
    },
    Case {
        name: "mutate_data_on_endpoint",
        run: mutate_data_on_endpoint,
    },
    Case {
        name: "delete_empties_slot",
        run: delete_empties_slot,
    },
    Case {
        name: "delete_last_cap_wakes_waiter",
        run: delete_last_cap_wakes_waiter,
    },
    Case {
        name: "revoke_removes_derived_caps",
        run: revoke_removes_derived_caps,
    },
    Case {
        name: "revoke_busy_endpoint_wakes_thread",
        run: revoke_busy_endpoint_wakes_thread,
    },
    Case {
        name: "delete_full_cnode_destroys_contents",
        run: delete_full_cnode_destroys_contents,
    },
    Case {
        name: "revoke_thousand_objects_reclaims_all",
        run: revoke_thousand_objects_reclaims_all,
    },
    Case {
        name: "cancel_badged_sends_restarts_senders",
        run: cancel_badged_sends_restarts_senders,
    },
    Case {
        name: "cancel_badged_sends_needs_all_rights",
        run: cancel_badged_sends_needs_all_rights,
    },
    Case {
        name: "lookup_depth_mismatch",
        run: lookup_depth_mismatch,
    },
    Case {
        name: "lookup_guard_mismatch",
        run: lookup_guard_mismatch,
    },
    Case {
        name: "lookup_depth_out_of_range",
        run: lookup_depth_out_of_range,
    },
    Case {
        name: "lookup_two_level_cspace",
        run: lookup_two_level_cspace,
    },
    Case {
        name: "lookup_invalid_root",
        run: lookup_invalid_root,
    },
];

/// Priority of helpers that must block before the root task goes on:
/// above the root task, so they run (and block) the moment they start.
pub const ABOVE_ROOT: u64 = threads::ROOT_PRIORITY + 10;

fn copy_endpoint_works(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let copy = env.copy(ep.cptr(), CapRights::ALL).ctx("copy")?;
    Cap::<cap::cap_type::Endpoint>::from_cptr(copy)
        .nb_send(info(0, 0), [0; 4])
        .ctx("nb_send through the copy")?;
    Ok(())
}

fn copy_into_occupied_slot(env: &mut Env) -> Outcome {
    let a = new_endpoint(env);
    let b = new_endpoint(env);
    env.abs(b.cptr())
        .copy(env.abs(a.cptr()), CapRights::ALL)
        .want_err(Error::DeleteFirst, "copy onto a capability")?;
    Ok(())
}

fn copy_from_empty_slot(env: &mut Env) -> Outcome {
    let empty = env.slot();
    let dest = env.slot();
    let e = env
        .abs(dest)
        .copy(env.abs(empty), CapRights::ALL)
        .want_err(Error::FailedLookup, "copy from an empty slot")?;
    ensure!(
        matches!(
            e.lookup_failure(),
            Some((
                LookupSide::Source,
                Some(LookupFailure::MissingCapability { .. })
            ))
        ),
        "lookup failure {:?}",
        e.lookup_failure()
    );
    Ok(())
}

fn mint_badge_delivered(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let done = new_notification(env);
    let badged = env.mint(ep.cptr(), CapRights::ALL, 0x77).ctx("mint")?;
    threads::spawn(env, receiver, pack(&[ep.cptr(), done.cptr()]), 100).ctx("spawn")?;
    Cap::<cap::cap_type::Endpoint>::from_cptr(badged)
        .send(info(5, 1), [42, 0, 0, 0])
        .ctx("send")?;
    done.wait().ctx("wait")?;
    ensure!(get(0) == 0x77, "badge {:#x}, expected 0x77", get(0));
    ensure!(
        get(1) == 5 && get(2) == 42,
        "label {} word {}, expected 5 and 42",
        get(1),
        get(2)
    );
    Ok(())
}

fn mint_rights_shrink(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let read_only = env
        .mint(ep.cptr(), CapRights::READ, 1)
        .ctx("mint read-only")?;
    Cap::<cap::cap_type::Endpoint>::from_cptr(read_only)
        .nb_send(info(0, 0), [0; 4])
        .want_err(Error::InvalidCapability, "send through a read-only cap")?;
    Ok(())
}

fn mint_rights_never_grow(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let read_only = env.copy(ep.cptr(), CapRights::READ).ctx("copy read-only")?;
    let again = env
        .copy(read_only, CapRights::ALL)
        .ctx("copy of it asking for all rights")?;
    Cap::<cap::cap_type::Endpoint>::from_cptr(again)
        .nb_send(info(0, 0), [0; 4])
        .want_err(Error::InvalidCapability, "send through the copy")?;
    Ok(())
}

fn mint_badged_cap_again(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let badged = env.mint(ep.cptr(), CapRights::ALL, 1).ctx("mint")?;
    let dest = env.slot();
    env.abs(dest)
        .mint(env.abs(badged), CapRights::ALL, 2)
        .want_err(Error::IllegalOperation, "re-badging")?;
    Ok(())
}

fn move_cap(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let dest = env.slot();
    env.abs(dest).move_from(env.abs(ep.cptr())).ctx("move")?;
    ep.nb_send(info(0, 0), [0; 4])
        .want_err(Error::FailedLookup, "the old slot")?;
    Cap::<cap::cap_type::Endpoint>::from_cptr(dest)
        .nb_send(info(0, 0), [0; 4])
        .ctx("the new slot")?;
    Ok(())
}

/// Rotate within the root CNode at full depth, with no data: the cap in
/// `pivot` moves to `dest` and the cap in `src` to `pivot`.
fn rotate_in_root(env: &Env, dest: u64, pivot: u64, src: u64) -> Result<(), InvocationError> {
    let root = env.root.cnode;
    root.cnode_rotate(
        dest, FULL_DEPTH, root, pivot, FULL_DEPTH, 0, root, src, FULL_DEPTH, 0,
    )
}

/// Rotate: the pivot's cap moves to the empty destination, the source's
/// cap to the pivot.
fn rotate_moves_two_caps(env: &mut Env) -> Outcome {
    let pivot = new_endpoint(env);
    let src = new_notification(env);
    let dest = env.slot();
    rotate_in_root(env, dest, pivot.cptr(), src.cptr()).ctx("rotate")?;
    Cap::<cap::cap_type::Endpoint>::from_cptr(dest)
        .nb_send(info(0, 0), [0; 4])
        .ctx("the endpoint is now in dest")?;
    Cap::<cap::cap_type::Notification>::from_cptr(pivot.cptr())
        .signal()
        .ctx("the notification is now in the pivot")?;
    Cap::<cap::cap_type::Notification>::from_cptr(src.cptr())
        .signal()
        .want_err(Error::FailedLookup, "the source slot is empty")?;
    Ok(())
}

/// Rotate with the destination equal to the source: the two caps swap.
fn rotate_swaps_in_place(env: &mut Env) -> Outcome {
    let a = new_endpoint(env);
    let b = new_notification(env);
    rotate_in_root(env, b.cptr(), a.cptr(), b.cptr()).ctx("swap")?;
    Cap::<cap::cap_type::Notification>::from_cptr(a.cptr())
        .signal()
        .ctx("the notification is now where the endpoint was")?;
    Cap::<cap::cap_type::Endpoint>::from_cptr(b.cptr())
        .nb_send(info(0, 0), [0; 4])
        .ctx("the endpoint is now where the notification was")?;
    Ok(())
}

fn rotate_refuses_bad_slots(env: &mut Env) -> Outcome {
    let pivot = new_endpoint(env);
    let src = new_notification(env);
    let occupied = new_endpoint(env);
    rotate_in_root(env, occupied.cptr(), pivot.cptr(), src.cptr())
        .want_err(Error::DeleteFirst, "rotate onto a capability")?;
    rotate_in_root(env, src.cptr(), src.cptr(), pivot.cptr())
        .want_err(Error::IllegalOperation, "a pivot equal to the destination")?;
    let empty = env.slot();
    let dest = env.slot();
    rotate_in_root(env, dest, empty, src.cptr()).want_err(Error::FailedLookup, "an empty pivot")?;
    // Nothing moved: both caps still work where they were.
    pivot
        .nb_send(info(0, 0), [0; 4])
        .ctx("the pivot is untouched")?;
    src.signal().ctx("the source is untouched")?;
    Ok(())
}

fn move_into_occupied_slot(env: &mut Env) -> Outcome {
    let a = new_endpoint(env);
    let b = new_endpoint(env);
    env.abs(b.cptr())
        .move_from(env.abs(a.cptr()))
        .want_err(Error::DeleteFirst, "move onto a capability")?;
    Ok(())
}

fn mutate_sets_cnode_guard(env: &mut Env) -> Outcome {
    let sub = env.alloc_cnode(6);
    let ep = new_endpoint(env);
    sub.cnode_copy(3, 6, env.root.cnode, ep.cptr(), FULL_DEPTH, CapRights::ALL)
        .ctx("copy into the sub-CNode")?;
    let guarded = env.slot();
    // 58 guard bits of zero + 6 radix bits: index 3 resolves at depth 64.
    env.abs(guarded)
        .mutate_from(env.abs(sub.cptr()), 58)
        .ctx("mutate with guard")?;
    let out = env.slot();
    env.root
        .cnode
        .cnode_copy(
            out,
            FULL_DEPTH,
            Cap::from_cptr(guarded),
            3,
            FULL_DEPTH,
            CapRights::ALL,
        )
        .ctx("copy out through the guard at depth 64")?;
    env.root
        .cnode
        .cnode_copy(
            env.slot(),
            FULL_DEPTH,
            Cap::from_cptr(guarded),
            3,
            6,
            CapRights::ALL,
        )
        .want_err(Error::FailedLookup, "depth 6 through a 58-bit guard")?;
    let too_wide = env.slot();
    env.abs(too_wide)
        .mutate_from(env.abs(guarded), 59)
        .want_err(Error::InvalidArgument, "a 59-bit guard")?;
    Ok(())
}

fn mutate_data_on_endpoint(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let dest = env.slot();
    env.abs(dest)
        .mutate_from(env.abs(ep.cptr()), 5)
        .want_err(Error::InvalidArgument, "mutate an endpoint with data")?;
    Ok(())
}

fn delete_empties_slot(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let copy = env.copy(ep.cptr(), CapRights::ALL).ctx("copy")?;
    env.abs(copy).delete().ctx("delete")?;
    Cap::<cap::cap_type::Endpoint>::from_cptr(copy)
        .nb_send(info(0, 0), [0; 4])
        .want_err(Error::FailedLookup, "deleted")?;
    env.abs(copy).delete().ctx("deleting an empty slot")?;
    ep.nb_send(info(0, 0), [0; 4])
        .ctx("the original still works")?;
    env.root
        .cnode
        .cnode_delete(copy, 65)
        .want_err(Error::RangeError, "delete at depth 65")?;
    Ok(())
}

fn delete_last_cap_wakes_waiter(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let done = new_notification(env);
    threads::spawn(
        env,
        blocked_receiver,
        pack(&[ep.cptr(), done.cptr()]),
        ABOVE_ROOT,
    )
    .ctx("spawn")?;
    ensure!(get(3) == 1, "the helper did not block on the endpoint");
    env.abs(ep.cptr())
        .delete()
        .ctx("delete the only capability")?;
    done.wait().ctx("wait")?;
    ensure!(
        get(0) != 0,
        "the helper's receive returned success after its endpoint was destroyed"
    );
    Ok(())
}

fn revoke_removes_derived_caps(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let a = env.copy(ep.cptr(), CapRights::ALL).ctx("copy a")?;
    let b = env.mint(ep.cptr(), CapRights::ALL, 9).ctx("mint b")?;
    env.abs(ep.cptr()).revoke().ctx("revoke")?;
    for slot in [a, b] {
        Cap::<cap::cap_type::Endpoint>::from_cptr(slot)
            .nb_send(info(0, 0), [0; 4])
            .want_err(Error::FailedLookup, "a revoked copy")?;
    }
    ep.nb_send(info(0, 0), [0; 4])
        .ctx("the original survives its revoke")?;
    Ok(())
}

fn revoke_busy_endpoint_wakes_thread(env: &mut Env) -> Outcome {
    let untyped = env.alloc_untyped(12);
    let ep_slot = env
        .retype_from(untyped, ObjectType::Endpoint, 0)
        .ctx("endpoint")?;
    let done = new_notification(env);
    threads::spawn(
        env,
        blocked_receiver,
        pack(&[ep_slot, done.cptr()]),
        ABOVE_ROOT,
    )
    .ctx("spawn")?;
    ensure!(get(3) == 1, "the helper did not block on the endpoint");
    env.abs(untyped.cptr()).revoke().ctx("revoke the untyped")?;
    done.wait().ctx("wait")?;
    ensure!(
        get(0) != 0,
        "the receive on the destroyed endpoint returned success"
    );
    Ok(())
}

/// Helper: marks word 3, sends on `unpack(0)` (expected to block), records
/// in word 0 the error code it ended with (0 for success) and signals `unpack(1)`.
fn blocked_sender(argument: u64) {
    set(3, 1);
    let result = syscall::send(unpack(argument, 0), info(1, 1), [5, 0, 0, 0]);
    set(0, result.err().map_or(0, |e| e.error as u64));
    let _ = syscall::signal(unpack(argument, 1));
}

fn cancel_badged_sends_restarts_senders(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let done = new_notification(env);
    let badged = env.mint(ep.cptr(), CapRights::ALL, 7).ctx("mint")?;
    let senders_copy = env.copy(badged, CapRights::ALL).ctx("copy")?;
    threads::spawn(
        env,
        blocked_sender,
        pack(&[senders_copy, done.cptr()]),
        ABOVE_ROOT,
    )
    .ctx("spawn")?;
    ensure!(get(3) == 1, "the sender did not block");
    // The sender's cap goes away; cancelling its badge makes it run its
    // send again, which now fails its lookup.
    env.abs(senders_copy)
        .delete()
        .ctx("delete the sender's cap")?;
    env.root
        .cnode
        .cnode_cancel_badged_sends(badged, FULL_DEPTH)
        .ctx("cancel badged sends")?;
    done.wait().ctx("wait")?;
    if get(0) != Error::FailedLookup as u64 {
        let why = crate::framework::Why::new(format_args!(
            "the restarted send ended with code {}, expected FailedLookup ({})",
            get(0),
            Error::FailedLookup as u64
        ));
        return Err(super::ipc::gap(env, why));
    }
    env.root
        .cnode
        .cnode_cancel_badged_sends(ep.cptr(), FULL_DEPTH)
        .ctx("cancelling with an unbadged cap")?;
    Ok(())
}

fn cancel_badged_sends_needs_all_rights(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let badged = env
        .mint(ep.cptr(), CapRights::READ_WRITE, 7)
        .ctx("mint without grant")?;
    env.root
        .cnode
        .cnode_cancel_badged_sends(badged, FULL_DEPTH)
        .want_err(
            Error::IllegalOperation,
            "cancel through a cap without all rights",
        )?;
    Ok(())
}

/// Fills a 1024-slot CNode with endpoints from `untyped`, 256 per retype.
fn fill_cnode(env: &mut Env, untyped: cap::Untyped, cnode: cap::CNode) -> Outcome {
    for batch in 0..4 {
        untyped
            .untyped_retype(
                ObjectType::Endpoint,
                0,
                env.root.cnode,
                cnode.cptr(),
                FULL_DEPTH,
                batch * 256,
                256,
            )
            .ctx("256 endpoints into the CNode")?;
    }
    Ok(())
}

fn delete_full_cnode_destroys_contents(env: &mut Env) -> Outcome {
    let untyped = env.alloc_untyped(16);
    let cnode = env.alloc_cnode(10);
    fill_cnode(env, untyped, cnode)?;
    // A helper waits on the last endpoint, reached through a copy in the root CNode.
    let ep = env.slot();
    env.root
        .cnode
        .cnode_copy(ep, FULL_DEPTH, cnode, 1023, 10, CapRights::ALL)
        .ctx("copy one endpoint out")?;
    let done = new_notification(env);
    threads::spawn(env, blocked_receiver, pack(&[ep, done.cptr()]), ABOVE_ROOT).ctx("spawn")?;
    // The copy keeps that endpoint alive; delete it first, then the CNode,
    // whose destruction deletes the last capability to every endpoint.
    env.abs(ep).delete().ctx("delete the copy")?;
    ensure!(
        get(0) == 0,
        "the helper woke before its endpoint was destroyed"
    );
    env.abs(cnode.cptr())
        .delete()
        .ctx("delete the full CNode")?;
    done.wait().ctx("wait")?;
    ensure!(
        get(0) != 0,
        "the helper's endpoint was not destroyed with its CNode"
    );
    // Everything made from the untyped is gone, so it starts again from 0.
    let whole = env.slot();
    untyped
        .untyped_retype(ObjectType::Untyped, 16, env.root.cnode, 0, 0, whole, 1)
        .ctx("the untyped's whole size after the CNode's contents died")?;
    Ok(())
}

fn revoke_thousand_objects_reclaims_all(env: &mut Env) -> Outcome {
    let untyped = env.alloc_untyped(16);
    let cnode_slot = env
        .retype_from(untyped, ObjectType::CNode, 10)
        .ctx("CNode from the untyped")?;
    let cnode: cap::CNode = Cap::from_cptr(cnode_slot);
    fill_cnode(env, untyped, cnode)?;
    env.abs(untyped.cptr()).revoke().ctx("revoke")?;
    cnode
        .cnode_delete(0, 10)
        .want_err(Error::FailedLookup, "the revoked CNode")?;
    let whole = env.slot();
    untyped
        .untyped_retype(ObjectType::Untyped, 16, env.root.cnode, 0, 0, whole, 1)
        .ctx("the full size after revoke")?;
    Ok(())
}

fn lookup_depth_mismatch(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let dest = env.slot();
    let e = env
        .root
        .cnode
        .cnode_copy(
            dest,
            FULL_DEPTH,
            env.root.cnode,
            ep.cptr(),
            63,
            CapRights::ALL,
        )
        .want_err(Error::FailedLookup, "source depth 63 in a 64-bit CSpace")?;
    match e.lookup_failure() {
        Some((LookupSide::Source, Some(_))) => Ok(()),
        other => fail!("lookup failure {other:?}, expected a source-side failure"),
    }
}

fn lookup_guard_mismatch(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let dest = env.slot();
    let e = env
        .root
        .cnode
        .cnode_copy(
            dest,
            FULL_DEPTH,
            env.root.cnode,
            (1 << 63) | ep.cptr(),
            FULL_DEPTH,
            CapRights::ALL,
        )
        .want_err(Error::FailedLookup, "CPtr with a set guard bit")?;
    ensure!(
        matches!(
            e.lookup_failure(),
            Some((_, Some(LookupFailure::GuardMismatch { .. })))
        ),
        "lookup failure {:?}, expected a guard mismatch",
        e.lookup_failure()
    );
    Ok(())
}

fn lookup_depth_out_of_range(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let dest = env.slot();
    env.root
        .cnode
        .cnode_copy(
            dest,
            0,
            env.root.cnode,
            ep.cptr(),
            FULL_DEPTH,
            CapRights::ALL,
        )
        .want_err(Error::RangeError, "destination depth 0")?;
    Ok(())
}

fn lookup_two_level_cspace(env: &mut Env) -> Outcome {
    let sub = env.alloc_cnode(4);
    let ep = new_endpoint(env);
    sub.cnode_copy(9, 4, env.root.cnode, ep.cptr(), FULL_DEPTH, CapRights::ALL)
        .ctx("copy in at depth 4")?;
    sub.cnode_copy(10, 3, env.root.cnode, ep.cptr(), FULL_DEPTH, CapRights::ALL)
        .want_err(Error::FailedLookup, "depth 3 in a 4-bit CNode")?;
    let out = env.slot();
    env.root
        .cnode
        .cnode_copy(out, FULL_DEPTH, sub, 9, 4, CapRights::ALL)
        .ctx("copy out at depth 4")?;
    Cap::<cap::cap_type::Endpoint>::from_cptr(out)
        .nb_send(info(0, 0), [0; 4])
        .ctx("use the round-tripped cap")?;
    Ok(())
}

fn lookup_invalid_root(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let dest = env.slot();
    let e = env
        .root
        .cnode
        .cnode_copy(dest, FULL_DEPTH, ep.cast(), 1, FULL_DEPTH, CapRights::ALL)
        .want_err(Error::FailedLookup, "an endpoint as source root")?;
    ensure!(
        matches!(
            e.lookup_failure(),
            Some((_, Some(LookupFailure::InvalidRoot)))
        ),
        "lookup failure {:?}, expected an invalid root",
        e.lookup_failure()
    );
    Ok(())
}
