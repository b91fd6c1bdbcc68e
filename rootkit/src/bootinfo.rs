//! Helpers for the root task: its boot info, its fixed capabilities, its
//! untyped list and an allocator over its empty CNode slots.

use ward_abi::bootinfo::{slots, BootInfo, SlotRegion, UntypedDesc};
use ward_abi::layout::ROOT_BOOTINFO_VADDR;

use ward_userlib::cap::{self, Cap};

/// The boot-info block the kernel mapped for the root task, checked.
/// Panics if `argument` (the root task's `rdi`) is not the boot-info
/// address or the block's magic or version is wrong. Also sets the clock's
/// rate (`ward_userlib::time`) to the one the kernel calibrated.
pub fn boot_info(argument: u64) -> &'static BootInfo {
    assert_eq!(
        argument, ROOT_BOOTINFO_VADDR,
        "the kernel passes the boot-info address"
    );
    // SAFETY: the kernel maps the boot-info pages read-only at this fixed
    // address before the root task starts and never changes or unmaps them;
    // the block is plain data, aligned, and every bit pattern is valid.
    let info = unsafe { &*(ROOT_BOOTINFO_VADDR as *const BootInfo) };
    assert!(info.is_valid(), "boot info has a wrong magic or version");
    ward_userlib::time::set_tsc_hz(info.platform.tsc_hz);
    info
}

/// The capabilities the kernel puts in fixed slots of the root CNode
/// (`ward_abi::bootinfo::slots`).
#[derive(Clone, Copy, Debug)]
pub struct RootCaps {
    pub tcb: cap::Tcb,
    pub cnode: cap::CNode,
    pub vspace: cap::Pml4,
    pub irq_control: cap::IrqControl,
    pub io_port_control: cap::IoPortControl,
    pub io_space: cap::IoSpace,
    pub ipc_buffer_frame: cap::Frame4K,
}

impl RootCaps {
    pub const fn new() -> RootCaps {
        RootCaps {
            tcb: Cap::from_cptr(slots::ROOT_TCB),
            cnode: Cap::from_cptr(slots::ROOT_CNODE),
            vspace: Cap::from_cptr(slots::ROOT_VSPACE),
            irq_control: Cap::from_cptr(slots::IRQ_CONTROL),
            io_port_control: Cap::from_cptr(slots::IO_PORT_CONTROL),
            io_space: Cap::from_cptr(slots::IO_SPACE_CONTROL),
            ipc_buffer_frame: Cap::from_cptr(slots::ROOT_IPC_BUFFER),
        }
    }
}

impl Default for RootCaps {
    fn default() -> Self {
        Self::new()
    }
}

/// One untyped region with its capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UntypedRegion {
    pub cap: cap::Untyped,
    pub paddr: u64,
    pub size_bits: u32,
    pub is_device: bool,
}

impl UntypedRegion {
    pub fn size(&self) -> u64 {
        1u64 << self.size_bits
    }
}

/// The untyped regions with the slots holding their capabilities, in the
/// boot info's order. Regions without a slot (a boot info whose slot region
/// is shorter than its list) are left out.
pub fn untypeds(info: &BootInfo) -> impl Iterator<Item = UntypedRegion> + '_ {
    untyped_regions(info.untyped(), info.untyped_slots)
}

fn untyped_regions(
    list: &[UntypedDesc],
    slots: SlotRegion,
) -> impl Iterator<Item = UntypedRegion> + '_ {
    let count = slots.end.saturating_sub(slots.start);
    list.iter()
        .take(count as usize)
        .enumerate()
        .map(move |(i, d)| UntypedRegion {
            cap: Cap::from_cptr(slots.start + i as u64),
            paddr: d.paddr,
            size_bits: d.size_bits.into(),
            is_device: d.is_device != 0,
        })
}

/// The largest RAM (non-device) untyped, if any.
pub fn largest_ram_untyped(info: &BootInfo) -> Option<UntypedRegion> {
    untypeds(info)
        .filter(|u| !u.is_device)
        .max_by_key(|u| u.size_bits)
}

/// Hands out the empty slots of a [`SlotRegion`] one by one (or in runs),
/// lowest first. Slots are never returned; a test suite that needs many
/// deletes and re-creations reuses its own slots instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotAllocator {
    next: u64,
    end: u64,
}

impl SlotAllocator {
    /// An allocator over `region` (`start..end`; an inverted region is empty).
    pub const fn new(region: SlotRegion) -> SlotAllocator {
        SlotAllocator {
            next: region.start,
            end: if region.end > region.start {
                region.end
            } else {
                region.start
            },
        }
    }

    /// The root task's empty slots as the boot info lists them.
    pub fn from_boot_info(info: &BootInfo) -> SlotAllocator {
        SlotAllocator::new(info.empty_slots)
    }

    /// One free slot, or `None` when the region is used up.
    pub fn alloc(&mut self) -> Option<u64> {
        self.alloc_range(1).map(|r| r.start)
    }

    /// `count` consecutive free slots (as `untyped_retype` wants them).
    pub fn alloc_range(&mut self, count: u64) -> Option<core::ops::Range<u64>> {
        if count == 0 || self.end - self.next < count {
            return None;
        }
        let start = self.next;
        self.next += count;
        Some(start..self.next)
    }

    /// A free slot as a typed capability (to be filled by retype, copy, ...).
    pub fn alloc_cap<T: cap::cap_type::CapType>(&mut self) -> Option<Cap<T>> {
        self.alloc().map(Cap::from_cptr)
    }

    /// Slots left.
    pub fn remaining(&self) -> u64 {
        self.end - self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocator_hands_out_each_slot_once() {
        let mut a = SlotAllocator::new(SlotRegion {
            start: 100,
            end: 105,
        });
        assert_eq!(a.remaining(), 5);
        assert_eq!(a.alloc(), Some(100));
        assert_eq!(a.alloc_range(3), Some(101..104));
        assert_eq!(a.alloc_range(2), None, "only one slot is left");
        assert_eq!(a.alloc_range(0), None);
        let cap: Option<cap::Endpoint> = a.alloc_cap();
        assert_eq!(cap.map(|c| c.cptr()), Some(104));
        assert_eq!(a.alloc(), None);
        assert_eq!(a.remaining(), 0);
    }

    #[test]
    fn inverted_region_is_empty() {
        let mut a = SlotAllocator::new(SlotRegion { start: 10, end: 5 });
        assert_eq!(a.remaining(), 0);
        assert_eq!(a.alloc(), None);
    }

    #[test]
    fn untyped_regions_pair_slots_with_descriptors() {
        let d = |paddr, size_bits, is_device| UntypedDesc {
            paddr,
            size_bits,
            is_device,
            _reserved: [0; 6],
        };
        let list = [
            d(0x10_0000, 20, 0),
            d(0x20_0000, 21, 0),
            d(0xfe00_0000, 12, 1),
        ];
        let all: std::vec::Vec<_> =
            untyped_regions(&list, SlotRegion { start: 16, end: 19 }).collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].cap.cptr(), 17);
        assert_eq!(all[1].size(), 2 << 20);
        assert!(all[2].is_device);
        let cut = untyped_regions(&list, SlotRegion { start: 16, end: 18 }).count();
        assert_eq!(cut, 2);
    }

    #[test]
    fn root_caps_sit_in_their_slots() {
        let r = RootCaps::new();
        assert_eq!((r.tcb.cptr(), r.cnode.cptr(), r.vspace.cptr()), (1, 2, 3));
        assert_eq!(r.ipc_buffer_frame.cptr(), slots::ROOT_IPC_BUFFER);
    }
}
