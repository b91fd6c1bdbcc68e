//! Virtual address spaces made from capabilities: mapping and unmapping
//! paging structures and frames (the x86_64 page-table invocations).
//!
//! A VSpace is a PML4 object. The user builds it like seL4: map a PDPT, a
//! page directory and a page table, then frames. Each mapping is recorded in
//! the capability (which address space, by ASID, and which address), so a
//! frame can be mapped once per capability and is unmapped when that
//! capability is deleted. The kernel's upper half is installed in a PML4 the
//! first time it is used.
use crate::arch::x86_64::paging::{
    ADDRESS_MASK, CACHE_DISABLE, HUGE, NO_EXECUTE, PRESENT, USER, WRITABLE, WRITE_THROUGH,
};
use crate::arch::x86_64::{cpu, paging};
use crate::invocation::{done, reply, Message, Outcome};
use crate::kobj::{self, objects};
use ward_abi::invocation::{args, InvocationLabel as Label};
use ward_abi::lookup::LookupFailure;
use ward_abi::rights::CapRights;
use ward_kernel_objects::cap::{FrameSize, Mapping};
use ward_kernel_objects::error::LookupSide;
use ward_kernel_objects::{Cap, InvocationError, Slot};

/// `frame_map` attribute bit: the mapping may be executed. Off by default,
/// refused together with write (W^X), and only for a frame capability
/// with the execute right.
pub const ATTRIBUTE_EXECUTABLE: u64 = 1 << 0;

/// Runs a frame or paging-structure invocation `label` on `cap` in `slot`.
pub fn invoke(
    message: &Message,
    label: Label,
    slot: Slot,
    cap: Cap,
) -> Result<Outcome, InvocationError> {
    match label {
        Label::FrameMap => {
            let a: args::FrameMap<_> = message.decode()?;
            let rights = CapRights::from_word(a.rights);
            map_frame(slot, cap, a.vspace, a.vaddr, rights, a.attributes)?;
            done()
        }
        Label::FrameGetAddress => {
            let _: args::FrameGetAddress = message.decode()?;
            reply(&[frame_address(cap)?])
        }
        Label::FrameMapIo => {
            let a: args::FrameMapIo<_> = message.decode()?;
            let rights = CapRights::from_word(a.rights);
            crate::iospace::map_frame(slot, cap, a.iospace.1, a.ioaddr, rights)?;
            done()
        }
        Label::PdptMap => {
            let a: args::PdptMap<_> = message.decode()?;
            map_table(slot, cap, a.vspace, a.vaddr)?;
            done()
        }
        Label::PageDirectoryMap => {
            let a: args::PageDirectoryMap<_> = message.decode()?;
            map_table(slot, cap, a.vspace, a.vaddr)?;
            done()
        }
        Label::PageTableMap => {
            let a: args::PageTableMap<_> = message.decode()?;
            map_table(slot, cap, a.vspace, a.vaddr)?;
            done()
        }
        Label::FrameUnmap
        | Label::PdptUnmap
        | Label::PageDirectoryUnmap
        | Label::PageTableUnmap => {
            unmap_in_slot(slot)?;
            done()
        }
        _ => Err(InvocationError::illegal(
            "not an invocation of a frame or paging structure",
        )),
    }
}

/// A frame cap's physical address.
fn frame_address(cap: Cap) -> Result<u64, InvocationError> {
    match cap {
        Cap::Frame { object, .. } => Ok(object),
        _ => Err(InvocationError::invalid_capability(
            0,
            "not a frame capability",
        )),
    }
}

/// Bits of virtual address one entry covers at each level (PT, PD, PDPT, PML4).
const LEVEL_SHIFT: [u32; 4] = [12, 21, 30, 39];

fn index(vaddr: u64, level: usize) -> usize {
    ((vaddr >> LEVEL_SHIFT[level]) & 0x1ff) as usize
}

/// Entry `index` of the paging structure at `table` (an object, so read
/// through the object window: no reference to the table is ever formed).
fn entry(table: u64, index: usize) -> u64 {
    objects().window().read_word(table + index as u64 * 8)
}

fn set_entry(table: u64, index: usize, value: u64) {
    objects()
        .window()
        .write_word(table + index as u64 * 8, value)
}

/// Gives the PML4 cap in `slot` an ASID if it has none (its first use, as
/// seL4's ASID-pool assignment), installs the kernel's upper half in it, and
/// returns the PML4 and its ASID. A PML4 cap can be copied once it has one.
pub fn assign_asid(slot: Slot, cap: Cap) -> Result<(u64, u16), InvocationError> {
    let Cap::Pml4 { object, asid } = cap else {
        return Err(InvocationError::invalid_capability(
            1,
            "the VSpace argument is not a PML4 capability",
        ));
    };
    paging::share_kernel_half(object);
    if let Some(asid) = asid {
        return Ok((object, asid));
    }
    let asid = kobj::asid_for(object).ok_or(InvocationError::illegal(
        "all address-space identifiers are in use",
    ))?;
    kobj::replace_cap(
        slot,
        Cap::Pml4 {
            object,
            asid: Some(asid),
        },
    );
    Ok((object, asid))
}

/// Walks from `pml4` down to the table at `level` for `vaddr`; a missing
/// table is a lookup failure telling how many bits were left.
fn walk_to(pml4: u64, vaddr: u64, level: usize) -> Result<u64, InvocationError> {
    let mut table = pml4;
    for current in (level + 1..=3).rev() {
        let found = entry(table, index(vaddr, current));
        if found & PRESENT == 0 || found & HUGE != 0 {
            return Err(InvocationError::lookup(
                LookupSide::Destination,
                LookupFailure::MissingCapability {
                    bits_left: LEVEL_SHIFT[current],
                },
            ));
        }
        table = found & ADDRESS_MASK;
    }
    Ok(table)
}

fn check_user_vaddr(vaddr: u64, alignment_bits: u32) -> Result<(), InvocationError> {
    if vaddr & ((1u64 << alignment_bits) - 1) != 0 {
        return Err(InvocationError::alignment(
            "the virtual address is not aligned to the mapping's size",
        ));
    }
    if !ward_abi::layout::is_user_range(vaddr, 1u64 << alignment_bits) {
        return Err(InvocationError::invalid_argument(
            0,
            "the virtual address is not in user space",
        ));
    }
    Ok(())
}

/// A paging structure covers an aligned range that may start at 0 (below
/// `USER_MIN`); it only has to lie below the top of user space.
fn check_table_vaddr(base: u64, bits: u32) -> Result<(), InvocationError> {
    match base.checked_add(1u64 << bits) {
        Some(end) if end <= ward_abi::layout::USER_TOP => Ok(()),
        _ => Err(InvocationError::invalid_argument(
            0,
            "the virtual address is not in user space",
        )),
    }
}

fn flush_if_current(pml4: u64, vaddr: u64) {
    if cpu::read_cr3() == pml4 {
        paging::invalidate_page(vaddr);
    }
}

/// `pdpt_map`, `page_directory_map`, `page_table_map`: maps the paging
/// structure in `slot` into `vspace` at `vaddr`.
pub fn map_table(
    slot: Slot,
    cap: Cap,
    vspace: (Slot, Cap),
    vaddr: u64,
) -> Result<(), InvocationError> {
    let (object, mapping, level) = match cap {
        Cap::Pdpt { object, mapping } => (object, mapping, 3),
        Cap::PageDirectory { object, mapping } => (object, mapping, 2),
        Cap::PageTable { object, mapping } => (object, mapping, 1),
        _ => {
            return Err(InvocationError::invalid_capability(
                0,
                "not a paging-structure capability",
            ))
        }
    };
    if mapping.is_some() {
        return Err(InvocationError::illegal(
            "the paging structure is already mapped",
        ));
    }
    let (pml4, asid) = assign_asid(vspace.0, vspace.1)?;
    let vaddr = vaddr & !((1u64 << LEVEL_SHIFT[level]) - 1);
    check_table_vaddr(vaddr, LEVEL_SHIFT[level])?;
    let parent = walk_to(pml4, vaddr, level)?;
    if entry(parent, index(vaddr, level)) & PRESENT != 0 {
        return Err(InvocationError::delete_first(
            "something is already mapped there",
        ));
    }
    set_entry(
        parent,
        index(vaddr, level),
        object | PRESENT | WRITABLE | USER,
    );
    let mapping = Some(Mapping { asid, vaddr });
    let updated = match cap {
        Cap::Pdpt { .. } => Cap::Pdpt { object, mapping },
        Cap::PageDirectory { .. } => Cap::PageDirectory { object, mapping },
        _ => Cap::PageTable { object, mapping },
    };
    kobj::replace_cap(slot, updated);
    Ok(())
}

/// A frame capability not yet mapped through this cap, taken apart: where
/// both `frame_map` and `frame_map_io` start.
pub(crate) struct UnmappedFrame {
    pub object: u64,
    pub size: FrameSize,
    pub rights: CapRights,
    pub is_device: bool,
}

/// `cap` as an [`UnmappedFrame`], or the error for an invoked cap (argument
/// 0) that is not a frame or is already mapped.
pub(crate) fn unmapped_frame(cap: Cap) -> Result<UnmappedFrame, InvocationError> {
    let Cap::Frame {
        object,
        size,
        rights,
        is_device,
        mapping,
    } = cap
    else {
        return Err(InvocationError::invalid_capability(
            0,
            "not a frame capability",
        ));
    };
    if mapping.is_some() {
        return Err(InvocationError::illegal(
            "the frame is already mapped through this capability; copy the cap to map it again",
        ));
    }
    Ok(UnmappedFrame {
        object,
        size,
        rights,
        is_device,
    })
}

/// `frame_map`: maps the frame in `slot` into `vspace` at `vaddr` with the
/// rights the cap allows and the caller asks for.
pub fn map_frame(
    slot: Slot,
    cap: Cap,
    vspace: (Slot, Cap),
    vaddr: u64,
    rights: CapRights,
    attributes: u64,
) -> Result<(), InvocationError> {
    let UnmappedFrame {
        object,
        size,
        rights: cap_rights,
        is_device,
    } = unmapped_frame(cap)?;
    let rights = rights.intersect(cap_rights);
    if !rights.contains(CapRights::READ) {
        return Err(InvocationError::invalid_argument(
            1,
            "a mapping needs at least the read right",
        ));
    }
    let writable = rights.contains(CapRights::WRITE);
    let executable = attributes & ATTRIBUTE_EXECUTABLE != 0;
    if writable && executable {
        return Err(InvocationError::invalid_argument(
            2,
            "a mapping may be writable or executable, not both (W^X)",
        ));
    }
    if executable && !cap_rights.contains(CapRights::EXECUTE) {
        return Err(InvocationError::invalid_capability(
            0,
            "an executable mapping needs the execute right on the frame capability",
        ));
    }
    let (pml4, asid) = assign_asid(vspace.0, vspace.1)?;
    let (level, bits) = match size {
        FrameSize::Small => (0, 12),
        FrameSize::Large => (1, 21),
    };
    check_user_vaddr(vaddr, bits)?;
    let table = walk_to(pml4, vaddr, level)?;
    if entry(table, index(vaddr, level)) & PRESENT != 0 {
        return Err(InvocationError::delete_first(
            "something is already mapped there",
        ));
    }
    let mut flags = PRESENT | USER;
    if writable {
        flags |= WRITABLE;
    }
    if !executable {
        flags |= NO_EXECUTE;
    }
    if is_device {
        flags |= CACHE_DISABLE | WRITE_THROUGH;
    }
    if size == FrameSize::Large {
        flags |= HUGE;
    }
    set_entry(table, index(vaddr, level), object | flags);
    flush_if_current(pml4, vaddr);
    kobj::replace_cap(
        slot,
        Cap::Frame {
            object,
            size,
            rights: cap_rights,
            is_device,
            mapping: Some(Mapping { asid, vaddr }),
        },
    );
    Ok(())
}

/// Removes the page-table entry a mapped capability recorded, if it still
/// points at the cap's object.
pub fn unmap_cap(cap: Cap) {
    let (object, mapping, level) = match cap {
        Cap::Frame {
            object,
            size: FrameSize::Small,
            mapping,
            ..
        } => (object, mapping, 0),
        Cap::Frame {
            object,
            size: FrameSize::Large,
            mapping,
            ..
        } => (object, mapping, 1),
        Cap::PageTable { object, mapping } => (object, mapping, 1),
        Cap::PageDirectory { object, mapping } => (object, mapping, 2),
        Cap::Pdpt { object, mapping } => (object, mapping, 3),
        Cap::IoPageTable { .. } => return crate::iospace::unmap_cap(cap),
        _ => return,
    };
    let Some(Mapping { asid, vaddr }) = mapping else {
        return;
    };
    if asid >= kobj::IO_ASID_BASE {
        crate::iospace::unmap_cap(cap);
        return;
    }
    let Some(pml4) = kobj::pml4_of(asid) else {
        return;
    };
    let Ok(table) = walk_to(pml4, vaddr, level) else {
        return;
    };
    let present = entry(table, index(vaddr, level));
    if present & PRESENT != 0 && present & ADDRESS_MASK == object {
        set_entry(table, index(vaddr, level), 0);
        // A frame drops one translation; a paging structure drops every
        // translation under it, which `invlpg` of one address does not.
        let whole = !matches!(cap, Cap::Frame { .. });
        crate::smp::shootdown(pml4, vaddr, whole);
    }
}

/// `frame_unmap` and the table unmaps: unmaps and clears the cap's record.
pub fn unmap_in_slot(slot: Slot) -> Result<(), InvocationError> {
    let cap = objects().cap(slot);
    unmap_cap(cap);
    let cleared = match cap {
        Cap::Frame {
            object,
            size,
            rights,
            is_device,
            ..
        } => Cap::Frame {
            object,
            size,
            rights,
            is_device,
            mapping: None,
        },
        Cap::PageTable { object, .. } => Cap::PageTable {
            object,
            mapping: None,
        },
        Cap::PageDirectory { object, .. } => Cap::PageDirectory {
            object,
            mapping: None,
        },
        Cap::Pdpt { object, .. } => Cap::Pdpt {
            object,
            mapping: None,
        },
        Cap::IoPageTable { object, .. } => Cap::IoPageTable {
            object,
            mapping: None,
        },
        _ => {
            return Err(InvocationError::invalid_capability(
                0,
                "not a mappable capability",
            ))
        }
    };
    kobj::replace_cap(slot, cleared);
    Ok(())
}

/// A PML4 is being destroyed: no core may keep it loaded.
pub fn forget_address_space(pml4: u64) {
    crate::smp::drop_address_space(pml4);
}
