//! Untyped memory and `untyped_retype`: how every kernel object is made.
//!
//! An Untyped capability covers `2^size_bits` bytes and a watermark
//! (`free_index`): the bytes below it have been handed out. Retype places
//! each new object at the watermark rounded up to the object's natural
//! alignment, zeroes it (except device frames: MMIO is never written), puts
//! a capability to it into consecutive empty slots of a destination CNode as
//! children of the untyped in the derivation tree, and moves the watermark
//! past the last object. Memory below the watermark is never handed out
//! again while the untyped has children; once it has none (everything made
//! from it was deleted or revoked), the watermark starts again from 0.

use crate::cap::{Cap, FrameSize, PADDR_BITS};
use crate::cspace::CPTR_BITS;
use crate::error::{InvocationError, LookupSide};
use crate::phys::PAddr;
use crate::slot::{MdbNode, Slot};
use crate::Objects;
use ward_abi::lookup::LookupFailure;
use ward_abi::object::MAX_CNODE_RADIX_BITS;
use ward_abi::object::{
    ObjectType, MAX_RETYPE_FAN_OUT, MAX_UNTYPED_BITS, MIN_CNODE_RADIX_BITS, MIN_UNTYPED_BITS,
};
use ward_abi::rights::CapRights;

/// Argument positions of `untyped_retype`, for `InvalidArgument` details:
/// type, size_bits, node_index, node_depth, node_offset, num_objects.
mod arg {
    pub const TYPE: u8 = 0;
}

/// A checked retype, ready to commit: where the objects go and what they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetypePlan {
    untyped: Slot,
    object_type: ObjectType,
    size_bits: u32,
    obj_bits: u32,
    start: u64,
    count: u64,
    cnode: PAddr,
    offset: u64,
    base: PAddr,
    ut_bits: u8,
    is_device: bool,
}

impl RetypePlan {
    /// The memory the new objects occupy, `(start, length)`, and whether it
    /// must be zeroed (device memory never is).
    pub fn memory(&self) -> (u64, u64, bool) {
        (self.start, self.count << self.obj_bits, !self.is_device)
    }

    /// The untyped being retyped.
    pub fn untyped(&self) -> Slot {
        self.untyped
    }
}

/// The capability to a fresh object of `object_type` at `paddr`.
fn new_object_cap(object_type: ObjectType, paddr: u64, size_bits: u32, is_device: bool) -> Cap {
    use ObjectType::*;
    match object_type {
        Untyped => Cap::Untyped {
            object: paddr,
            size_bits: size_bits as u8,
            free_index: 0,
            is_device,
        },
        Tcb => Cap::Tcb {
            object: paddr,
            rights: CapRights::ALL,
        },
        Endpoint => Cap::Endpoint {
            object: paddr,
            badge: 0,
            rights: CapRights::ALL,
        },
        Notification => Cap::Notification {
            object: paddr,
            badge: 0,
            rights: CapRights::ALL,
        },
        CNode => Cap::CNode {
            object: paddr,
            radix_bits: size_bits as u8,
            guard: 0,
            guard_bits: 0,
        },
        Frame4K | Frame2M => Cap::Frame {
            object: paddr,
            size: if object_type == Frame2M {
                FrameSize::Large
            } else {
                FrameSize::Small
            },
            rights: CapRights::ALL,
            is_device,
            mapping: None,
        },
        Pml4 => Cap::Pml4 {
            object: paddr,
            asid: None,
        },
        Pdpt => Cap::Pdpt {
            object: paddr,
            mapping: None,
        },
        PageDirectory => Cap::PageDirectory {
            object: paddr,
            mapping: None,
        },
        PageTable => Cap::PageTable {
            object: paddr,
            mapping: None,
        },
        IoPageTable => Cap::IoPageTable {
            object: paddr,
            mapping: None,
        },
    }
}

fn align_up(value: u64, bits: u32) -> u64 {
    let mask = (1u64 << bits) - 1;
    (value + mask) & !mask
}

impl Objects {
    /// Puts an original capability (no parent in the derivation tree) into
    /// the empty slot `dest`: how the kernel hands out boot resources (the
    /// untyped regions, IRQControl, IOPortControl, the root task's own
    /// objects). Untyped regions must be naturally aligned, inside the
    /// window and not at physical address 0 (0 means "no slot" in the tree).
    pub fn insert_original(&self, dest: Slot, cap: Cap) -> Result<(), InvocationError> {
        if !self.cap(dest).is_null() {
            return Err(InvocationError::delete_first(
                "the destination slot is occupied",
            ));
        }
        if let Some(object) = cap.object() {
            let bits = cap.object_size_bits().unwrap_or(0);
            if object == 0
                || object % (1u64 << bits) != 0
                || !self.mem.contains(object, 1u64 << bits)
            {
                return Err(InvocationError::alignment(
                    "an object must be aligned, non-zero and in memory",
                ));
            }
        }
        self.set_cap(dest, cap);
        self.set_mdb(
            dest,
            MdbNode {
                prev: None,
                next: None,
                revocable: true,
                first_badged: true,
            },
        );
        Ok(())
    }

    /// The first checks of a retype, on the untyped and the type arguments:
    /// the untyped cap, the type number, the size argument's range and the
    /// device-memory rule. Returns the type and the object size in bits.
    fn check_retype_type(
        &self,
        untyped: Slot,
        object_type: u64,
        size_bits: u64,
    ) -> Result<(ObjectType, u32), InvocationError> {
        let Cap::Untyped { is_device, .. } = self.cap(untyped) else {
            return Err(InvocationError::invalid_capability(
                0,
                "not an untyped capability",
            ));
        };
        let object_type = ObjectType::from_number(object_type).ok_or(
            InvocationError::invalid_argument(arg::TYPE, "unknown object type"),
        )?;
        let obj_bits = match object_type {
            ObjectType::Untyped => {
                if !(MIN_UNTYPED_BITS as u64..=MAX_UNTYPED_BITS as u64).contains(&size_bits) {
                    return Err(InvocationError::range(
                        MIN_UNTYPED_BITS as u64,
                        MAX_UNTYPED_BITS as u64,
                        "untyped size out of range",
                    ));
                }
                size_bits as u32
            }
            ObjectType::CNode => {
                if !(MIN_CNODE_RADIX_BITS as u64..=MAX_CNODE_RADIX_BITS as u64).contains(&size_bits)
                {
                    return Err(InvocationError::range(
                        MIN_CNODE_RADIX_BITS as u64,
                        MAX_CNODE_RADIX_BITS as u64,
                        "CNode radix out of range",
                    ));
                }
                object_type
                    .size_bits(size_bits as u32)
                    .expect("radix checked")
            }
            other => other.size_bits(0).expect("fixed-size type"),
        };
        if is_device && !object_type.allowed_from_device_memory() {
            return Err(InvocationError::invalid_argument(
                arg::TYPE,
                "device untyped can only become frames or untyped",
            ));
        }
        Ok((object_type, obj_bits))
    }

    /// Checks a retype and works out where its objects go, changing nothing:
    /// the first half of [`Objects::retype`], for a caller that zeroes the
    /// memory itself in preemptible steps before [`Objects::retype_commit`].
    pub fn retype_plan(
        &self,
        untyped: Slot,
        object_type: u64,
        size_bits: u64,
        dest_cnode: Cap,
        offset: u64,
        count: u64,
    ) -> Result<RetypePlan, InvocationError> {
        let Cap::Untyped {
            object: base,
            size_bits: ut_bits,
            free_index,
            is_device,
        } = self.cap(untyped)
        else {
            return Err(InvocationError::invalid_capability(
                0,
                "not an untyped capability",
            ));
        };
        let (object_type, obj_bits) = self.check_retype_type(untyped, object_type, size_bits)?;
        let Cap::CNode {
            object: cnode,
            radix_bits,
            ..
        } = dest_cnode
        else {
            return Err(InvocationError::lookup(
                LookupSide::Destination,
                LookupFailure::MissingCapability { bits_left: 0 },
            ));
        };
        let slots = 1u64 << radix_bits;
        if offset >= slots {
            return Err(InvocationError::range(
                0,
                slots - 1,
                "destination offset beyond the CNode",
            ));
        }
        let max_count = MAX_RETYPE_FAN_OUT.min(slots - offset);
        if count == 0 || count > max_count {
            return Err(InvocationError::range(
                1,
                max_count,
                "object count out of range",
            ));
        }
        for i in 0..count {
            if !self.cap(self.cnode_slot(cnode, offset + i)).is_null() {
                return Err(InvocationError::delete_first(
                    "a destination slot is occupied",
                ));
            }
        }
        // seL4's rule: an untyped without children starts again from 0.
        let free_index = if self.has_children(untyped) {
            free_index
        } else {
            0
        };
        let ut_size = 1u64 << ut_bits;
        let available = ut_size - free_index;
        let start = align_up(base + free_index, obj_bits);
        let needed_end = (count << obj_bits).checked_add(start);
        if obj_bits > ut_bits as u32 || needed_end.is_none_or(|end| end > base + ut_size) {
            return Err(InvocationError::not_enough_memory(available));
        }
        debug_assert!(start + (count << obj_bits) < 1 << PADDR_BITS);
        Ok(RetypePlan {
            untyped,
            object_type,
            size_bits: size_bits as u32,
            obj_bits,
            start,
            count,
            cnode,
            offset,
            base,
            ut_bits,
            is_device,
        })
    }

    /// Carries out a checked plan: zeroes the objects (unless `zeroed` says
    /// the caller already did, in preemptible steps), puts their caps in the
    /// destination slots as children of the untyped, and moves the watermark.
    pub fn retype_commit(&self, plan: RetypePlan, zeroed: bool) {
        let RetypePlan {
            untyped,
            object_type,
            size_bits,
            obj_bits,
            start,
            count,
            cnode,
            offset,
            base,
            ut_bits,
            is_device,
        } = plan;
        for i in 0..count {
            let paddr = start + (i << obj_bits);
            if !is_device && !zeroed {
                self.mem.zero(paddr, 1u64 << obj_bits);
            }
            let cap = new_object_cap(object_type, paddr, size_bits, is_device);
            let dest = self.cnode_slot(cnode, offset + i);
            self.set_cap(dest, cap);
            self.mdb_insert_after(untyped, dest, true, true);
        }
        let new_free = start + (count << obj_bits) - base;
        self.set_cap(
            untyped,
            Cap::Untyped {
                object: base,
                size_bits: ut_bits,
                free_index: new_free,
                is_device,
            },
        );
    }

    /// Retypes the untyped in `untyped` into `count` objects, with caps in
    /// slots `offset..offset+count` of the CNode capability `dest_cnode`.
    /// `size_bits` is the size of an Untyped or the radix of a CNode.
    /// On error nothing changes.
    pub fn retype(
        &self,
        untyped: Slot,
        object_type: u64,
        size_bits: u64,
        dest_cnode: Cap,
        offset: u64,
        count: u64,
    ) -> Result<(), InvocationError> {
        let plan = self.retype_plan(untyped, object_type, size_bits, dest_cnode, offset, count)?;
        self.retype_commit(plan, false);
        Ok(())
    }

    /// The `untyped_retype(type, size_bits, root, node_index, node_depth,
    /// node_offset, num_objects)` invocation on the untyped in `untyped`.
    /// The destination CNode is the cap at `(root, node_index, node_depth)`,
    /// or `root` itself when `node_depth` is 0.
    #[allow(clippy::too_many_arguments)]
    pub fn untyped_retype(
        &self,
        untyped: Slot,
        object_type: u64,
        size_bits: u64,
        root: Cap,
        node_index: u64,
        node_depth: u64,
        node_offset: u64,
        num_objects: u64,
    ) -> Result<(), InvocationError> {
        let plan = self.untyped_retype_plan(
            untyped,
            object_type,
            size_bits,
            root,
            node_index,
            node_depth,
            node_offset,
            num_objects,
        )?;
        self.retype_commit(plan, false);
        Ok(())
    }

    /// [`Objects::untyped_retype`] without the commit: checks everything and
    /// returns the plan, for the kernel's preemptible zeroing.
    #[allow(clippy::too_many_arguments)]
    pub fn untyped_retype_plan(
        &self,
        untyped: Slot,
        object_type: u64,
        size_bits: u64,
        root: Cap,
        node_index: u64,
        node_depth: u64,
        node_offset: u64,
        num_objects: u64,
    ) -> Result<RetypePlan, InvocationError> {
        self.check_retype_type(untyped, object_type, size_bits)?;
        let dest_cnode = if node_depth == 0 {
            root
        } else {
            if node_depth > CPTR_BITS as u64 {
                return Err(InvocationError::range(
                    0,
                    CPTR_BITS as u64,
                    "lookup depth must be 0..=64",
                ));
            }
            let slot =
                self.lookup_slot_exact(LookupSide::Destination, root, node_index, node_depth)?;
            self.cap(slot)
        };
        if !matches!(dest_cnode, Cap::CNode { .. }) {
            return Err(InvocationError::lookup(
                LookupSide::Destination,
                LookupFailure::MissingCapability {
                    bits_left: node_depth as u32,
                },
            ));
        }
        self.retype_plan(
            untyped,
            object_type,
            size_bits,
            dest_cnode,
            node_offset,
            num_objects,
        )
    }
}
