//! The root task's raw materials: its empty CNode slots, its RAM untyped
//! regions, the device untyped it carves MMIO frames from, and its own
//! address space for looking at frames (copying ELF bytes, filling regions,
//! PCI configuration space, the status page).
//!
//! Mapping into any VSpace follows the seL4 way: try the map, and on a
//! lookup failure map the missing paging structure (page table first, then
//! page directory, then PDPT) and try again. The caller says where paging
//! structures come from, so that a component's tables are made from that
//! component's own untyped and die with it.

use heapless::Vec;
use ward_rootkit::bootinfo::{untypeds, RootCaps, SlotAllocator};
use ward_rootkit::device_memory::DeviceMemory;
use ward_rootkit::paging::map_with_tables;
use ward_userlib::abi::bootinfo::BootInfo;
use ward_userlib::abi::Error;
use ward_userlib::cap::{Frame4K, Untyped, VmAttributes};
use ward_userlib::{Cap, CapRights, InvocationError, ObjectType};

/// Depth of a root-CNode lookup: CPtrs are slot indices at full depth.
pub const DEPTH: u64 = 64;
/// Where the root task maps frames it needs to look at: 128 GiB, far above
/// its image and below its stack, boot info and modules (near 128 TiB).
const ROOT_MAP_BASE: u64 = 0x20_0000_0000;
/// One scratch page used to copy into or fill a frame before it goes to a
/// component; just below the mapping area so it never collides with it.
pub const SCRATCH_VADDR: u64 = ROOT_MAP_BASE - 0x1000;
/// Most RAM untyped regions kept (the kernel hands out a few dozen at most).
const MAX_RAM_REGIONS: usize = 64;
/// Most pieces of device untyped kept while carving frames. Carving one
/// page out of a large region leaves a spare half at every level (up to 30
/// for a 4 GiB region), and the kernel hands out some 40 device regions; the
/// e1000's 32-page BAR alone needs a dozen more. With 128 the list filled up
/// and spare halves holding later BAR pages were lost; 512 pieces cost the
/// root task 12 KiB.
const MAX_DEVICE_PIECES: usize = 512;

/// A RAM untyped the root task retypes shared objects from.
#[derive(Clone, Copy)]
struct RamRegion {
    cap: Untyped,
    size_bits: u32,
}

/// A device untyped region as the boot info lists it (to check that an
/// address lies in one).
#[derive(Clone, Copy)]
pub struct DeviceRange {
    pub paddr: u64,
    pub size: u64,
}

pub struct Resources {
    pub caps: RootCaps,
    pub slots: SlotAllocator,
    ram: Vec<RamRegion, MAX_RAM_REGIONS>,
    device: DeviceMemory<MAX_DEVICE_PIECES>,
    pub device_ranges: Vec<DeviceRange, MAX_DEVICE_PIECES>,
    next_root_vaddr: u64,
    /// Bytes of RAM retyped for shared objects (regions, channels, ...).
    pub shared_bytes: u64,
}

impl Resources {
    pub fn new(info: &BootInfo) -> Resources {
        let mut ram: Vec<RamRegion, MAX_RAM_REGIONS> = Vec::new();
        let mut device_ranges = Vec::new();
        for region in untypeds(info) {
            if region.is_device {
                let _ = device_ranges.push(DeviceRange {
                    paddr: region.paddr,
                    size: region.size(),
                });
            } else {
                let _ = ram.push(RamRegion {
                    cap: region.cap,
                    size_bits: region.size_bits,
                });
            }
        }
        // Largest first: big children (component untyped) fit, small
        // objects fill the rest.
        ram.sort_unstable_by_key(|region| core::cmp::Reverse(region.size_bits));
        Resources {
            caps: RootCaps::new(),
            slots: SlotAllocator::from_boot_info(info),
            ram,
            device: DeviceMemory::from_boot_info(info),
            device_ranges,
            next_root_vaddr: ROOT_MAP_BASE,
            shared_bytes: 0,
        }
    }

    /// One free root slot.
    pub fn slot(&mut self) -> u64 {
        self.slots.alloc().expect("root task: out of CNode slots")
    }

    /// `count` objects of `object_type` from RAM into consecutive new root
    /// slots; returns the first slot. Tries each RAM region, largest first.
    pub fn retype(
        &mut self,
        object_type: ObjectType,
        size_bits: u64,
        count: u64,
    ) -> Result<u64, InvocationError> {
        let slots = self
            .slots
            .alloc_range(count)
            .ok_or(InvocationError::local(Error::NotEnoughMemory, [0; 4]))?;
        let mut last = InvocationError::local(Error::NotEnoughMemory, [0; 4]);
        for region in self.ram.iter() {
            match region.cap.untyped_retype(
                object_type,
                size_bits,
                self.caps.cnode,
                0,
                0,
                slots.start,
                count,
            ) {
                Ok(()) => {
                    self.shared_bytes += count * object_bytes(object_type, size_bits);
                    return Ok(slots.start);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// One object of type `T` from RAM in a new root slot.
    pub fn make<T: ward_userlib::cap::cap_type::CapType>(
        &mut self,
        object_type: ObjectType,
    ) -> Result<Cap<T>, InvocationError> {
        self.retype(object_type, 0, 1).map(Cap::from_cptr)
    }

    /// A child untyped of 2^`size_bits` bytes (a component's own memory).
    pub fn carve_untyped(&mut self, size_bits: u32) -> Result<Untyped, InvocationError> {
        let slot = self.retype(ObjectType::Untyped, u64::from(size_bits), 1)?;
        self.shared_bytes -= 1 << size_bits; // accounted to the component instead
        Ok(Cap::from_cptr(slot))
    }

    /// Whether `[paddr, paddr + size)` lies inside one device untyped region.
    pub fn in_device_memory(&self, paddr: u64, size: u64) -> bool {
        self.device_ranges
            .iter()
            .any(|r| r.paddr <= paddr && paddr + size <= r.paddr + r.size)
    }

    /// The 4 KiB device frame at physical address `paddr`, carved out of the
    /// device untyped (see [`DeviceMemory`]).
    pub fn device_frame(&mut self, paddr: u64) -> Option<Frame4K> {
        self.device.frame(paddr, self.caps.cnode, &mut self.slots)
    }

    /// Maps `frame` into the root task's own VSpace at a new address.
    pub fn map_root(&mut self, frame: Frame4K, rights: CapRights) -> Result<u64, InvocationError> {
        let vaddr = self.next_root_vaddr;
        self.next_root_vaddr += 0x1000;
        self.map_root_at(frame, vaddr, rights)?;
        Ok(vaddr)
    }

    /// Maps `frame` into the root task's VSpace at `vaddr`, with tables from RAM.
    pub fn map_root_at(
        &mut self,
        frame: Frame4K,
        vaddr: u64,
        rights: CapRights,
    ) -> Result<(), InvocationError> {
        let vspace = self.caps.vspace;
        map_with_tables(
            frame,
            vspace,
            vaddr,
            rights,
            VmAttributes::DEFAULT,
            |object_type| self.retype(object_type, 0, 1).ok(),
        )
    }

    /// Copies `bytes` into `frame` at `offset` (through the scratch page).
    pub fn write_frame(
        &mut self,
        frame: Frame4K,
        offset: usize,
        bytes: &[u8],
    ) -> Result<(), InvocationError> {
        self.with_scratch(frame, |page| {
            page[offset..offset + bytes.len()].copy_from_slice(bytes)
        })
    }

    /// Makes `frame` hold `bytes` at `offset` and zeros elsewhere, writing
    /// it only if it does not already (a frame that holds its bytes is only
    /// read); `true` if it had to be written.
    pub fn restore_frame(
        &mut self,
        frame: Frame4K,
        offset: usize,
        bytes: &[u8],
    ) -> Result<bool, InvocationError> {
        let mut written = false;
        self.with_scratch(frame, |page| {
            let end = offset + bytes.len();
            let intact = page[..offset].iter().all(|&b| b == 0)
                && page[offset..end] == *bytes
                && page[end..].iter().all(|&b| b == 0);
            if !intact {
                page.fill(0);
                page[offset..end].copy_from_slice(bytes);
                written = true;
            }
        })?;
        Ok(written)
    }

    /// Runs `work` on the contents of `frame`, mapped at the scratch page.
    pub fn with_scratch(
        &mut self,
        frame: Frame4K,
        work: impl FnOnce(&mut [u8]),
    ) -> Result<(), InvocationError> {
        self.map_root_at(frame, SCRATCH_VADDR, CapRights::READ_WRITE)?;
        // SAFETY: the scratch page was just mapped read-write to `frame`, which
        // no other code of the root task looks at while it is mapped here.
        let page = unsafe { core::slice::from_raw_parts_mut(SCRATCH_VADDR as *mut u8, 4096) };
        work(page);
        frame.frame_unmap()
    }
}

/// Bytes an object of `object_type` takes (for the memory columns).
pub fn object_bytes(object_type: ObjectType, size_bits: u64) -> u64 {
    match object_type {
        ObjectType::Untyped => 1 << size_bits,
        ObjectType::CNode => 64 << size_bits,
        ObjectType::Frame2M => 2 << 20,
        _ => 4096,
    }
}
