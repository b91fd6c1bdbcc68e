//! Untyped retype: every object type, the argument checks, the device-memory
//! rule, the watermark, alignment, and reclaiming memory by revoke.

use ward_abi::object::{MAX_RETYPE_FAN_OUT, MAX_UNTYPED_BITS, MIN_UNTYPED_BITS};
use ward_userlib::cap::{self, Cap, FULL_DEPTH};
use ward_userlib::{CapRights, Error, ObjectType};

use crate::env::Env;
use crate::framework::{skip, Case, Check, Outcome};
use crate::{ensure, fail};

pub static CASES: &[Case] = &[
    Case {
        name: "retype_untyped",
        run: |env| retype_one(env, ObjectType::Untyped, 12),
    },
    Case {
        name: "retype_tcb",
        run: |env| retype_one(env, ObjectType::Tcb, 0),
    },
    Case {
        name: "retype_endpoint",
        run: |env| retype_one(env, ObjectType::Endpoint, 0),
    },
    Case {
        name: "retype_notification",
        run: |env| retype_one(env, ObjectType::Notification, 0),
    },
    Case {
        name: "retype_cnode",
        run: |env| retype_one(env, ObjectType::CNode, 4),
    },
    Case {
        name: "retype_frame_4k",
        run: |env| retype_one(env, ObjectType::Frame4K, 0),
    },
    Case {
        name: "retype_frame_2m",
        run: |env| retype_one(env, ObjectType::Frame2M, 0),
    },
    Case {
        name: "retype_pml4",
        run: |env| retype_one(env, ObjectType::Pml4, 0),
    },
    Case {
        name: "retype_pdpt",
        run: |env| retype_one(env, ObjectType::Pdpt, 0),
    },
    Case {
        name: "retype_page_directory",
        run: |env| retype_one(env, ObjectType::PageDirectory, 0),
    },
    Case {
        name: "retype_page_table",
        run: |env| retype_one(env, ObjectType::PageTable, 0),
    },
    Case {
        name: "retype_many_at_once",
        run: retype_many_at_once,
    },
    Case {
        name: "retype_bad_type",
        run: retype_bad_type,
    },
    Case {
        name: "retype_untyped_size_out_of_range",
        run: retype_untyped_size_out_of_range,
    },
    Case {
        name: "retype_cnode_radix_out_of_range",
        run: retype_cnode_radix_out_of_range,
    },
    Case {
        name: "retype_too_big",
        run: retype_too_big,
    },
    Case {
        name: "retype_into_occupied_slot",
        run: retype_into_occupied_slot,
    },
    Case {
        name: "retype_offset_beyond_cnode",
        run: retype_offset_beyond_cnode,
    },
    Case {
        name: "retype_count_out_of_range",
        run: retype_count_out_of_range,
    },
    Case {
        name: "retype_bad_node_depth",
        run: retype_bad_node_depth,
    },
    Case {
        name: "retype_into_non_cnode",
        run: retype_into_non_cnode,
    },
    Case {
        name: "retype_from_non_untyped",
        run: retype_from_non_untyped,
    },
    Case {
        name: "retype_device_untyped_only_frames",
        run: retype_device_untyped_only_frames,
    },
    Case {
        name: "retype_watermark_exhaustion",
        run: retype_watermark_exhaustion,
    },
    Case {
        name: "revoke_untyped_reclaims_memory",
        run: revoke_untyped_reclaims_memory,
    },
    Case {
        name: "retype_aligns_objects",
        run: retype_aligns_objects,
    },
    Case {
        name: "untyped_cannot_be_copied",
        run: untyped_cannot_be_copied,
    },
];

/// Makes one object of `object_type` and checks, with a harmless call
/// only that type answers, that the new capability is of that type.
fn retype_one(env: &mut Env, object_type: ObjectType, size_bits: u64) -> Outcome {
    let slot = env
        .retype_from(env.pool.cap, object_type, size_bits)
        .ctx("retype")?;
    match object_type {
        ObjectType::Untyped => {
            let child: cap::Untyped = Cap::from_cptr(slot);
            env.retype_from(child, ObjectType::Endpoint, 0)
                .ctx("retype from the new untyped")?;
        }
        ObjectType::Tcb => {
            let tcb: cap::Tcb = Cap::from_cptr(slot);
            tcb.tcb_set_priority(env.root.tcb, 10)
                .ctx("tcb_set_priority on the new TCB")?;
        }
        ObjectType::Endpoint => {
            let ep: cap::Endpoint = Cap::from_cptr(slot);
            ep.nb_send(ward_userlib::message::info(0, 0), [0; 4])
                .ctx("nb_send on the new endpoint")?;
        }
        ObjectType::Notification => {
            let n: cap::Notification = Cap::from_cptr(slot);
            ensure!(
                n.poll().ctx("poll")? == 0,
                "a new notification has signals pending"
            );
        }
        ObjectType::CNode => {
            let cnode: cap::CNode = Cap::from_cptr(slot);
            cnode
                .cnode_delete(3, size_bits)
                .ctx("cnode_delete of an empty slot of the new CNode")?;
        }
        ObjectType::Frame4K | ObjectType::Frame2M => {
            let frame: cap::Frame4K = Cap::from_cptr(slot);
            let paddr = frame.frame_get_address().ctx("frame_get_address")?;
            let bits = if object_type == ObjectType::Frame2M {
                21
            } else {
                12
            };
            ensure!(
                paddr % (1 << bits) == 0,
                "frame at {paddr:#x} is not aligned to its size"
            );
            ensure!(
                paddr >= env.pool.paddr && paddr < env.pool.paddr + env.pool.size(),
                "frame at {paddr:#x} is outside the untyped it was made from"
            );
        }
        ObjectType::Pml4 => {
            // A PML4 has no invocations of its own: check that it is
            // accepted as a VSpace by mapping a PDPT into it.
            let pdpt: cap::Pdpt = env.alloc();
            pdpt.pdpt_map(
                Cap::from_cptr(slot),
                0x1000_0000_0000,
                cap::VmAttributes::DEFAULT,
            )
            .ctx("pdpt_map into the new PML4")?;
        }
        ObjectType::Pdpt | ObjectType::PageDirectory | ObjectType::PageTable => {
            let result = match object_type {
                ObjectType::Pdpt => Cap::<cap::cap_type::Pdpt>::from_cptr(slot).pdpt_unmap(),
                ObjectType::PageDirectory => {
                    Cap::<cap::cap_type::PageDirectory>::from_cptr(slot).page_directory_unmap()
                }
                _ => Cap::<cap::cap_type::PageTable>::from_cptr(slot).page_table_unmap(),
            };
            result.ctx("unmapping the new (unmapped) paging structure")?;
        }
        ObjectType::IoPageTable => fail!("not tested here"),
    }
    Ok(())
}

fn retype_many_at_once(env: &mut Env) -> Outcome {
    let slots = env.slots.alloc_range(8).expect("slots");
    env.pool
        .cap
        .untyped_retype(
            ObjectType::Endpoint,
            0,
            env.root.cnode,
            0,
            0,
            slots.start,
            8,
        )
        .ctx("retype 8")?;
    for slot in slots {
        let ep: cap::Endpoint = Cap::from_cptr(slot);
        ep.nb_send(ward_userlib::message::info(0, 0), [0; 4])
            .ctx("nb_send on one of the 8")?;
    }
    Ok(())
}

fn retype_bad_type(env: &mut Env) -> Outcome {
    let slot = env.slot();
    let e = env
        .pool
        .cap
        .untyped_retype_raw(99, 0, env.root.cnode, 0, 0, slot, 1)
        .want_err(Error::InvalidArgument, "type 99")?;
    ensure!(
        e.argument_index() == Some(0),
        "InvalidArgument names argument {:?}, expected 0 (type)",
        e.argument_index()
    );
    Ok(())
}

fn retype_untyped_size_out_of_range(env: &mut Env) -> Outcome {
    let slot = env.slot();
    for bits in [MIN_UNTYPED_BITS as u64 - 1, MAX_UNTYPED_BITS as u64 + 1] {
        let e = env
            .pool
            .cap
            .untyped_retype(ObjectType::Untyped, bits, env.root.cnode, 0, 0, slot, 1)
            .want_err(Error::RangeError, "untyped size")?;
        ensure!(
            e.valid_range() == Some((MIN_UNTYPED_BITS as u64, MAX_UNTYPED_BITS as u64)),
            "range given as {:?}",
            e.valid_range()
        );
    }
    Ok(())
}

fn retype_cnode_radix_out_of_range(env: &mut Env) -> Outcome {
    let slot = env.slot();
    for bits in [0, 27] {
        env.pool
            .cap
            .untyped_retype(ObjectType::CNode, bits, env.root.cnode, 0, 0, slot, 1)
            .want_err(Error::RangeError, "CNode radix")?;
    }
    Ok(())
}

fn retype_too_big(env: &mut Env) -> Outcome {
    let small = env.alloc_untyped(16);
    let slot = env.slot();
    let e = small
        .untyped_retype(ObjectType::Frame2M, 0, env.root.cnode, 0, 0, slot, 1)
        .want_err(Error::NotEnoughMemory, "2 MiB frame from 64 KiB")?;
    ensure!(
        e.bytes_available() == Some(1 << 16),
        "bytes available {:?}, expected 65536",
        e.bytes_available()
    );
    Ok(())
}

fn retype_into_occupied_slot(env: &mut Env) -> Outcome {
    let taken = env.alloc::<cap::cap_type::Endpoint>();
    env.pool
        .cap
        .untyped_retype(
            ObjectType::Endpoint,
            0,
            env.root.cnode,
            0,
            0,
            taken.cptr(),
            1,
        )
        .want_err(Error::DeleteFirst, "retype into an occupied slot")?;
    Ok(())
}

fn retype_offset_beyond_cnode(env: &mut Env) -> Outcome {
    let e = env
        .pool
        .cap
        .untyped_retype(ObjectType::Endpoint, 0, env.root.cnode, 0, 0, 1 << 12, 1)
        .want_err(Error::RangeError, "offset 4096 in a 4096-slot CNode")?;
    ensure!(
        e.valid_range() == Some((0, 4095)),
        "range given as {:?}",
        e.valid_range()
    );
    Ok(())
}

fn retype_count_out_of_range(env: &mut Env) -> Outcome {
    let slot = env.slot();
    env.pool
        .cap
        .untyped_retype(ObjectType::Endpoint, 0, env.root.cnode, 0, 0, slot, 0)
        .want_err(Error::RangeError, "0 objects")?;
    env.pool
        .cap
        .untyped_retype(
            ObjectType::Endpoint,
            0,
            env.root.cnode,
            0,
            0,
            16,
            MAX_RETYPE_FAN_OUT + 1,
        )
        .want_err(Error::RangeError, "more objects than the fan-out limit")?;
    Ok(())
}

fn retype_bad_node_depth(env: &mut Env) -> Outcome {
    let slot = env.slot();
    env.pool
        .cap
        .untyped_retype(ObjectType::Endpoint, 0, env.root.cnode, 2, 65, slot, 1)
        .want_err(Error::RangeError, "node depth 65")?;
    Ok(())
}

fn retype_into_non_cnode(env: &mut Env) -> Outcome {
    let ep = env.alloc::<cap::cap_type::Endpoint>();
    env.pool
        .cap
        .untyped_retype(
            ObjectType::Endpoint,
            0,
            env.root.cnode,
            ep.cptr(),
            FULL_DEPTH,
            0,
            1,
        )
        .want_err(Error::FailedLookup, "destination names an endpoint")?;
    Ok(())
}

fn retype_from_non_untyped(env: &mut Env) -> Outcome {
    let cnode = env.alloc_cnode(2);
    let as_untyped: cap::Untyped = cnode.cast();
    let slot = env.slot();
    as_untyped
        .untyped_retype(ObjectType::Endpoint, 0, env.root.cnode, 0, 0, slot, 1)
        .want_err(Error::IllegalOperation, "UntypedRetype sent to a CNode")?;
    Ok(())
}

fn retype_device_untyped_only_frames(env: &mut Env) -> Outcome {
    let Some(device) = env.device else {
        return Err(skip("the kernel gave no device untyped of 4 KiB or more"));
    };
    let slot = env.slot();
    let e = device
        .cap
        .untyped_retype(ObjectType::Tcb, 0, env.root.cnode, 0, 0, slot, 1)
        .want_err(Error::InvalidArgument, "TCB from device memory")?;
    ensure!(
        e.argument_index() == Some(0),
        "argument {:?}, expected 0 (type)",
        e.argument_index()
    );
    device
        .cap
        .untyped_retype(ObjectType::Frame4K, 0, env.root.cnode, 0, 0, slot, 1)
        .ctx("frame from device memory")?;
    Ok(())
}

fn retype_watermark_exhaustion(env: &mut Env) -> Outcome {
    let untyped = env.alloc_untyped(16);
    let slots = env.slots.alloc_range(17).expect("slots");
    for i in 0..16 {
        untyped
            .untyped_retype(
                ObjectType::Frame4K,
                0,
                env.root.cnode,
                0,
                0,
                slots.start + i,
                1,
            )
            .ctx("frame within 64 KiB")?;
    }
    let e = untyped
        .untyped_retype(
            ObjectType::Endpoint,
            0,
            env.root.cnode,
            0,
            0,
            slots.start + 16,
            1,
        )
        .want_err(Error::NotEnoughMemory, "the 17th object")?;
    ensure!(
        e.bytes_available() == Some(0),
        "bytes available {:?}, expected 0",
        e.bytes_available()
    );
    Ok(())
}

fn revoke_untyped_reclaims_memory(env: &mut Env) -> Outcome {
    let untyped = env.alloc_untyped(16);
    let slots = env.slots.alloc_range(16).expect("slots");
    untyped
        .untyped_retype(
            ObjectType::Frame4K,
            0,
            env.root.cnode,
            0,
            0,
            slots.start,
            16,
        )
        .ctx("16 frames")?;
    let whole = env.slot();
    untyped
        .untyped_retype(ObjectType::Untyped, 16, env.root.cnode, 0, 0, whole, 1)
        .want_err(Error::NotEnoughMemory, "the full size while full")?;
    env.abs(untyped.cptr()).revoke().ctx("revoke")?;
    let frame: cap::Frame4K = Cap::from_cptr(slots.start);
    frame
        .frame_get_address()
        .want_err(Error::FailedLookup, "a revoked child")?;
    untyped
        .untyped_retype(ObjectType::Untyped, 16, env.root.cnode, 0, 0, whole, 1)
        .ctx("the full size after revoke")?;
    Ok(())
}

fn retype_aligns_objects(env: &mut Env) -> Outcome {
    let untyped = env.alloc_untyped(16);
    env.retype_from(untyped, ObjectType::Endpoint, 0)
        .ctx("endpoint")?;
    let frame_slot = env
        .retype_from(untyped, ObjectType::Frame4K, 0)
        .ctx("frame after an endpoint")?;
    let frame: cap::Frame4K = Cap::from_cptr(frame_slot);
    let paddr = frame.frame_get_address().ctx("frame_get_address")?;
    ensure!(paddr % 4096 == 0, "frame at {paddr:#x} is misaligned");
    // 16 bytes of endpoint then an aligned 4 KiB frame: 4096 + 4096 used, so
    // 14 more frames fit and the 15th does not.
    let slots = env.slots.alloc_range(15).expect("slots");
    untyped
        .untyped_retype(
            ObjectType::Frame4K,
            0,
            env.root.cnode,
            0,
            0,
            slots.start,
            14,
        )
        .ctx("14 more frames")?;
    untyped
        .untyped_retype(
            ObjectType::Frame4K,
            0,
            env.root.cnode,
            0,
            0,
            slots.start + 14,
            1,
        )
        .want_err(Error::NotEnoughMemory, "a frame past the end")?;
    Ok(())
}

fn untyped_cannot_be_copied(env: &mut Env) -> Outcome {
    let untyped = env.alloc_untyped(12);
    let dest = env.slot();
    env.abs(dest)
        .copy(env.abs(untyped.cptr()), CapRights::ALL)
        .want_err(Error::IllegalOperation, "copy of an untyped")?;
    Ok(())
}
