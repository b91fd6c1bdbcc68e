//! The test's resources: slots, RAM, device memory and its own address space.
//!
//! Device memory comes as large device untyped regions, carved into 4 KiB
//! frames on demand by userlib's `DeviceMemory`. Mapping into the test's own VSpace adds the page
//! table, page directory or PDPT a new address needs, the seL4 way: try,
//! and on a lookup failure map the missing level and try again.
use ward_rootkit::bootinfo::{untypeds, RootCaps, SlotAllocator};
use ward_rootkit::device_memory::DeviceMemory;
use ward_rootkit::paging::map_with_tables;
use ward_userlib::abi::bootinfo::BootInfo;
use ward_userlib::cap::cap_type::CapType;
use ward_userlib::cap::{Frame4K, Untyped, VmAttributes};
use ward_userlib::{Cap, CapRights, ObjectType};

/// Where the test maps what it needs: far from the program and its stack.
const MAPPING_BASE: u64 = 0x10_0000_0000;
/// Depth of a root-CNode lookup: CPtrs are slot indices.
pub const DEPTH: u64 = 64;
/// Most pieces of device untyped kept while carving frames.
const MAX_DEVICE_PIECES: usize = 128;

pub struct Env<'a> {
    pub info: &'a BootInfo,
    pub caps: RootCaps,
    pub slots: SlotAllocator,
    ram: Untyped,
    next_vaddr: u64,
    device: DeviceMemory<MAX_DEVICE_PIECES>,
}

impl<'a> Env<'a> {
    pub fn new(info: &'a BootInfo) -> Env<'a> {
        let ram = ward_rootkit::bootinfo::largest_ram_untyped(info)
            .expect("RAM untyped")
            .cap;
        Env {
            info,
            caps: RootCaps::new(),
            slots: SlotAllocator::from_boot_info(info),
            ram,
            next_vaddr: MAPPING_BASE,
            device: DeviceMemory::from_boot_info(info),
        }
    }

    /// A fresh object of type `T` from RAM, in a new slot.
    pub fn make<T: CapType>(&mut self, object_type: ObjectType) -> Cap<T> {
        self.make_from(self.ram, object_type)
    }

    /// A fresh object from a given untyped.
    pub fn make_from<T: CapType>(&mut self, untyped: Untyped, object_type: ObjectType) -> Cap<T> {
        let slot = self.slots.alloc().expect("a free slot");
        untyped
            .untyped_retype(object_type, 0, self.caps.cnode, 0, 0, slot, 1)
            .expect("retype from untyped");
        Cap::from_cptr(slot)
    }

    /// A RAM untyped whose memory lies below `limit` (for devices that can
    /// only address low memory, or to pick a victim the device could name).
    pub fn ram_below(&self, limit: u64) -> Option<Untyped> {
        untypeds(self.info)
            .filter(|u| !u.is_device && u.paddr + u.size() <= limit && u.size_bits >= 16)
            .max_by_key(|u| u.size_bits)
            .map(|u| u.cap)
    }

    /// A RAM untyped whose memory lies wholly at or above `limit` (a buffer a device with an
    /// address limit cannot reach by itself).
    pub fn ram_above(&self, limit: u64) -> Option<Untyped> {
        untypeds(self.info)
            .filter(|u| !u.is_device && u.paddr >= limit && u.size_bits >= 16)
            .max_by_key(|u| u.size_bits)
            .map(|u| u.cap)
    }

    /// A copy of a capability in a new slot (to map one frame twice).
    pub fn copy<T: CapType>(&mut self, cap: Cap<T>) -> Cap<T> {
        let slot = self.slots.alloc().expect("a free slot");
        self.caps
            .cnode
            .cnode_copy(
                slot,
                DEPTH,
                self.caps.cnode,
                cap.cptr(),
                DEPTH,
                CapRights::ALL,
            )
            .expect("copy a capability");
        Cap::from_cptr(slot)
    }

    /// The 4 KiB device frame at physical address `paddr`.
    pub fn device_frame(&mut self, paddr: u64) -> Option<Frame4K> {
        self.device.frame(paddr, self.caps.cnode, &mut self.slots)
    }

    /// Maps `frame` into the test's VSpace at a new address; returns it.
    pub fn map(&mut self, frame: Frame4K, rights: CapRights) -> u64 {
        let vaddr = self.next_vaddr;
        self.next_vaddr += 0x1000;
        let vspace = self.caps.vspace;
        map_with_tables(
            frame,
            vspace,
            vaddr,
            rights,
            VmAttributes::DEFAULT,
            |object_type| {
                Some(
                    self.make::<ward_userlib::cap::cap_type::Null>(object_type)
                        .cptr(),
                )
            },
        )
        .unwrap_or_else(|e| panic!("frame_map at {vaddr:#x}: {e}"));
        vaddr
    }
}
