//! The test environment: the root task's capabilities, a pool of untyped
//! memory to make objects from, free slots, and mappings of fresh frames
//! into the root task's own address space.
//!
//! Objects come from the largest RAM untyped with one `untyped_retype` each;
//! they are not reclaimed between cases (512 MiB of guest RAM is plenty),
//! except by the cases that test revoke on their own child untyped.

use ward_abi::bootinfo::BootInfo;
use ward_abi::layout::PAGE_SIZE;
use ward_rootkit::bootinfo::{self, RootCaps, SlotAllocator, UntypedRegion};
use ward_userlib::cap::{self, cap_type, cap_type::CapType, Cap, VmAttributes};
use ward_userlib::{CapRights, InvocationError, ObjectType};

/// Where the root task maps frames it makes for itself: an empty part of
/// its address space (the kernel uses PML4 slot 0 for the program, 254 for
/// modules and 255 for stack, IPC buffer and boot info).
pub const SCRATCH_BASE: u64 = 0x0000_5000_0000_0000;
/// How much of the scratch area there is: 1 GiB, one page directory's reach.
pub const SCRATCH_SIZE: u64 = 1 << 30;

/// Paging structures a VSpace has been given, so each is made once.
pub struct Tables {
    pub pml4: cap::Pml4,
    /// Base addresses (aligned to the structure's reach) already covered at
    /// each level: PDPT (512 GiB), PD (1 GiB), PT (2 MiB).
    covered: [[u64; 32]; 3],
    counts: [usize; 3],
}

impl Tables {
    pub fn new(pml4: cap::Pml4) -> Tables {
        Tables {
            pml4,
            covered: [[0; 32]; 3],
            counts: [0; 3],
        }
    }

    fn has(&self, level: usize, base: u64) -> bool {
        self.covered[level][..self.counts[level]].contains(&base)
    }

    fn add(&mut self, level: usize, base: u64) {
        assert!(
            self.counts[level] < 32,
            "ktest: too many paging structures for one VSpace"
        );
        self.covered[level][self.counts[level]] = base;
        self.counts[level] += 1;
    }
}

/// The environment every case gets.
pub struct Env {
    pub info: &'static BootInfo,
    pub root: RootCaps,
    pub slots: SlotAllocator,
    /// The untyped all objects come from.
    pub pool: UntypedRegion,
    /// A device untyped, if the machine gave us one (for the device rule).
    pub device: Option<UntypedRegion>,
    root_tables: Option<Tables>,
    /// Helper threads alive now.
    pub threads: crate::threads::ThreadSet,
    /// Report cases that fail for a known kernel gap or bug
    /// (`cases::ipc::KNOWN_GAPS`) as skipped instead of failed (`known_gaps=skip`).
    pub skip_known_gaps: bool,
    /// Next free page of the scratch area.
    next_scratch: u64,
}

impl Env {
    pub fn new(info: &'static BootInfo) -> Env {
        let pool =
            bootinfo::largest_ram_untyped(info).expect("ktest: the kernel gave us no RAM untyped");
        let device = bootinfo::untypeds(info).find(|u| u.is_device && u.size_bits >= 12);
        let root = RootCaps::new();
        Env {
            info,
            root,
            slots: SlotAllocator::from_boot_info(info),
            pool,
            device,
            root_tables: Some(Tables::new(root.vspace)),
            threads: crate::threads::ThreadSet::new(),
            skip_known_gaps: false,
            next_scratch: SCRATCH_BASE,
        }
    }

    /// A free slot of the root CNode.
    pub fn slot(&mut self) -> u64 {
        self.slots.alloc().expect("ktest: out of root CNode slots")
    }

    /// The root CNode slot `index` as `(root, index, 64)` for CNode calls.
    pub fn abs(&self, index: u64) -> cap::AbsoluteCPtr {
        self.root.cnode.slot(index)
    }

    /// Makes one object of `object_type` (`size_bits` for untyped and
    /// CNodes) from `untyped` into a fresh slot.
    pub fn retype_from(
        &mut self,
        untyped: cap::Untyped,
        object_type: ObjectType,
        size_bits: u64,
    ) -> Result<u64, InvocationError> {
        let slot = self.slot();
        untyped.untyped_retype(object_type, size_bits, self.root.cnode, 0, 0, slot, 1)?;
        Ok(slot)
    }

    /// Makes one object from the pool; panics if the pool fails, which
    /// means the kernel broke something every case relies on.
    pub fn alloc<T: CapType>(&mut self) -> Cap<T> {
        let object_type =
            T::OBJECT_TYPE.expect("ktest: this capability type is not made by retype");
        match self.retype_from(self.pool.cap, object_type, 0) {
            Ok(slot) => Cap::from_cptr(slot),
            Err(e) => panic!("ktest: retype of {} from the pool failed: {e}", T::NAME),
        }
    }

    /// A CNode of `2^radix_bits` slots from the pool.
    pub fn alloc_cnode(&mut self, radix_bits: u64) -> cap::CNode {
        match self.retype_from(self.pool.cap, ObjectType::CNode, radix_bits) {
            Ok(slot) => Cap::from_cptr(slot),
            Err(e) => panic!("ktest: retype of a CNode failed: {e}"),
        }
    }

    /// A child untyped of `2^size_bits` bytes from the pool.
    pub fn alloc_untyped(&mut self, size_bits: u64) -> cap::Untyped {
        match self.retype_from(self.pool.cap, ObjectType::Untyped, size_bits) {
            Ok(slot) => Cap::from_cptr(slot),
            Err(e) => panic!("ktest: retype of a {size_bits}-bit untyped failed: {e}"),
        }
    }

    /// Copies the capability in root slot `src` to a fresh slot with `rights`.
    pub fn copy(&mut self, src: u64, rights: CapRights) -> Result<u64, InvocationError> {
        let dest = self.slot();
        self.abs(dest).copy(self.abs(src), rights)?;
        Ok(dest)
    }

    /// Mints the capability in root slot `src` to a fresh slot.
    pub fn mint(
        &mut self,
        src: u64,
        rights: CapRights,
        badge: u64,
    ) -> Result<u64, InvocationError> {
        let dest = self.slot();
        self.abs(dest).mint(self.abs(src), rights, badge)?;
        Ok(dest)
    }

    /// Makes sure `tables`' VSpace has a page table covering `vaddr`.
    pub fn ensure_tables(
        &mut self,
        tables: &mut Tables,
        vaddr: u64,
    ) -> Result<(), InvocationError> {
        const REACH_BITS: [u32; 3] = [39, 30, 21];
        for (level, bits) in REACH_BITS.iter().enumerate() {
            let base = vaddr & !((1u64 << bits) - 1);
            if tables.has(level, base) {
                continue;
            }
            match level {
                0 => self.alloc::<cap_type::Pdpt>().pdpt_map(
                    tables.pml4,
                    base,
                    VmAttributes::DEFAULT,
                )?,
                1 => self.alloc::<cap_type::PageDirectory>().page_directory_map(
                    tables.pml4,
                    base,
                    VmAttributes::DEFAULT,
                )?,
                _ => self.alloc::<cap_type::PageTable>().page_table_map(
                    tables.pml4,
                    base,
                    VmAttributes::DEFAULT,
                )?,
            }
            tables.add(level, base);
        }
        Ok(())
    }

    /// A page-aligned address in the scratch area no one uses yet; `pages`
    /// pages are reserved (plus one unmapped guard page after them).
    pub fn reserve_scratch(&mut self, pages: u64) -> u64 {
        let vaddr = self.next_scratch;
        self.next_scratch += (pages + 1) * PAGE_SIZE;
        assert!(
            self.next_scratch < SCRATCH_BASE + SCRATCH_SIZE,
            "ktest: scratch area used up"
        );
        vaddr
    }

    /// Maps `frame` into the root VSpace at `vaddr` with `rights`, making
    /// page tables as needed.
    pub fn map_root(
        &mut self,
        frame: cap::Frame4K,
        vaddr: u64,
        rights: CapRights,
    ) -> Result<(), InvocationError> {
        let mut tables = self
            .root_tables
            .take()
            .expect("root tables are always present between calls");
        let result = self.ensure_tables(&mut tables, vaddr);
        self.root_tables = Some(tables);
        result?;
        frame.frame_map(self.root.vspace, vaddr, rights, VmAttributes::DEFAULT)
    }

    /// A fresh zeroed frame mapped read-write in the root VSpace; returns
    /// the frame and its address.
    pub fn new_page(&mut self) -> (cap::Frame4K, u64) {
        let frame: cap::Frame4K = self.alloc();
        let vaddr = self.reserve_scratch(1);
        if let Err(e) = self.map_root(frame, vaddr, CapRights::READ_WRITE) {
            panic!("ktest: mapping a fresh frame at {vaddr:#x} failed: {e}");
        }
        (frame, vaddr)
    }
}
