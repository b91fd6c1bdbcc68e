//! Mapping a frame into a VSpace, making the paging structures it needs.
//!
//! The kernel maps a frame only where a page table already covers the
//! address (seL4's rule: the user builds its own page tables from untyped).
//! [`map_with_tables`] tries the mapping, and on each missing level asks the
//! caller for a new structure of the type the kernel wants, maps it, and
//! tries again: at most three structures (PDPT, page directory, page table).

use ward_userlib::cap::{Cap, Frame4K, PageDirectory, PageTable, Pdpt, Pml4, VmAttributes};
use ward_userlib::{CapRights, Error, InvocationError, ObjectType};

/// Maps `frame` at `vaddr` in `vspace`, adding whichever paging structures
/// are missing; `make_table` makes one of the given type and returns its
/// root slot (or `None` when out of memory). A structure made for a level
/// that turned out to need a higher one first is kept and used on the next
/// round, so no structure is made in vain.
pub fn map_with_tables(
    frame: Frame4K,
    vspace: Pml4,
    vaddr: u64,
    rights: CapRights,
    attributes: VmAttributes,
    mut make_table: impl FnMut(ObjectType) -> Option<u64>,
) -> Result<(), InvocationError> {
    let mut spares = Spares::default();
    // One try per paging level that may be missing, then the mapping itself.
    for _ in 0..3 {
        match frame.frame_map(vspace, vaddr, rights, attributes) {
            Ok(()) => return Ok(()),
            Err(e) if e.error == Error::FailedLookup => {
                add_paging_level(vspace, vaddr, &mut spares, &mut make_table)?
            }
            Err(e) => return Err(e),
        }
    }
    frame.frame_map(vspace, vaddr, rights, attributes)
}

/// Paging structures made but not mapped yet: page table, page directory, PDPT.
#[derive(Default)]
struct Spares([Option<u64>; 3]);

impl Spares {
    fn take(
        &mut self,
        level: usize,
        object_type: ObjectType,
        make_table: &mut impl FnMut(ObjectType) -> Option<u64>,
    ) -> Result<u64, InvocationError> {
        match self.0[level].take() {
            Some(slot) => Ok(slot),
            None => make_table(object_type)
                .ok_or(InvocationError::local(Error::NotEnoughMemory, [0; 4])),
        }
    }
}

/// Maps whichever paging structure `vaddr` misses, lowest level first.
fn add_paging_level(
    vspace: Pml4,
    vaddr: u64,
    spares: &mut Spares,
    make_table: &mut impl FnMut(ObjectType) -> Option<u64>,
) -> Result<(), InvocationError> {
    let slot = spares.take(0, ObjectType::PageTable, make_table)?;
    let table: PageTable = Cap::from_cptr(slot);
    if table
        .page_table_map(vspace, vaddr, VmAttributes::DEFAULT)
        .is_ok()
    {
        return Ok(());
    }
    spares.0[0] = Some(slot);
    let slot = spares.take(1, ObjectType::PageDirectory, make_table)?;
    let directory: PageDirectory = Cap::from_cptr(slot);
    if directory
        .page_directory_map(vspace, vaddr, VmAttributes::DEFAULT)
        .is_ok()
    {
        return Ok(());
    }
    spares.0[1] = Some(slot);
    let slot = spares.take(2, ObjectType::Pdpt, make_table)?;
    let pdpt: Pdpt = Cap::from_cptr(slot);
    pdpt.pdpt_map(vspace, vaddr, VmAttributes::DEFAULT)
}
