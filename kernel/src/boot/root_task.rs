//! Building the root task: the first and only thread the kernel creates by
//! itself.
//!
//! The root task's ELF is the first boot module. After checking it
//! (`ward_kernel_core::elf_image`), the kernel builds a fresh address space:
//! each segment copied into new frames with its own rights (W^X, NX), a stack
//! with an unmapped guard page below it, an IPC buffer, the boot-info pages
//! (read-only) and every boot module (read-only). All of this memory comes
//! from the boot allocator before the rest of RAM becomes untyped, so the
//! root task's untyped regions never overlap its own pages.
use crate::arch::x86_64::paging::{self, MapError, UserAccess, PAGE_SIZE};
use crate::boot::multiboot::BootData;
use crate::kobj::{self, objects};
use core::sync::atomic::{AtomicU64, Ordering};
use heapless::Vec;
use ward_abi::bootinfo::{slots, BootInfo, SlotRegion, BOOTINFO_PAGES, MAX_MODULES};
use ward_abi::layout::{
    ROOT_BOOTINFO_VADDR, ROOT_IPC_BUFFER_VADDR, ROOT_MODULES_VADDR, ROOT_STACK_SIZE, ROOT_STACK_TOP,
};
use ward_abi::rights::CapRights;
use ward_kernel_core::elf_image::{ElfError, SegmentAccess, UserImage};
use ward_kernel_core::phys_memory::PhysMemory;
use ward_kernel_core::phys_memory::UntypedList;
use ward_kernel_objects::cap::{FrameSize, Mapping};
use ward_kernel_objects::tcb::TcbSlot;
use ward_kernel_objects::{Cap, Slot, Tcb};

/// The root task, ready to run.
pub struct RootTask {
    /// Physical address of its PML4.
    pub address_space: u64,
    /// Physical address of its root CNode (`2^ROOT_CNODE_BITS` slots).
    pub cnode: u64,
    /// Physical address of its TCB.
    pub tcb: u64,
    /// Physical address of its IPC buffer frame.
    pub ipc_buffer: u64,
    pub entry: u64,
    /// Physical address of the (contiguous) boot-info pages.
    pub bootinfo: u64,
    /// Physical address of the kernel's statistics page (`crate::stats`).
    pub statistics: u64,
    /// Where each boot module is mapped, in module order.
    pub module_vaddrs: Vec<u64, MAX_MODULES>,
}

/// Why the root task could not be built.
pub enum RootTaskError {
    /// No boot module at all.
    NoModule,
    /// The first module is not an acceptable ELF image.
    BadImage(ElfError),
    /// Memory ran out while building it.
    OutOfMemory,
    /// A mapping failed (overlapping fixed regions, for instance).
    Map(u64, MapError),
}

impl core::fmt::Display for RootTaskError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RootTaskError::NoModule => {
                write!(
                    f,
                    "no boot modules; the first multiboot module must be the root task's ELF file"
                )
            }
            RootTaskError::BadImage(error) => write!(f, "{error}"),
            RootTaskError::OutOfMemory => write!(f, "out of memory while building it"),
            RootTaskError::Map(vaddr, error) => write!(f, "cannot map {vaddr:#x}: {error:?}"),
        }
    }
}

/// Hands out zeroed pages from the boot allocator.
fn allocate_page(memory: &mut PhysMemory) -> Option<u64> {
    let page = memory.allocate(PAGE_SIZE, PAGE_SIZE)?;
    paging::zero_page(page);
    Some(page)
}

fn map(
    memory: &mut PhysMemory,
    space: u64,
    vaddr: u64,
    frame: u64,
    access: UserAccess,
) -> Result<(), RootTaskError> {
    paging::map_user_page(space, vaddr, frame, access, &mut || allocate_page(memory)).map_err(|e| {
        match e {
            MapError::OutOfMemory => RootTaskError::OutOfMemory,
            other => RootTaskError::Map(vaddr, other),
        }
    })
}

const READ_ONLY: UserAccess = UserAccess {
    write: false,
    execute: false,
};
const READ_WRITE: UserAccess = UserAccess {
    write: true,
    execute: false,
};

/// Builds the root task from the first boot module.
pub fn build(boot: &BootData, memory: &mut PhysMemory) -> Result<RootTask, RootTaskError> {
    let module = boot.modules.first().ok_or(RootTaskError::NoModule)?;
    // SAFETY: the module's memory was reserved before any allocation, so
    // nothing writes it while we read.
    let file = unsafe { paging::phys_slice(module.start, (module.end - module.start) as usize) };
    let image = UserImage::parse(file).map_err(RootTaskError::BadImage)?;

    let space_root = allocate_page(memory).ok_or(RootTaskError::OutOfMemory)?;
    let space = paging::new_user_address_space(space_root);

    for segment in &image.segments {
        let SegmentAccess { write, execute } = segment.access;
        let access = UserAccess { write, execute };
        let mut page = segment.page_start();
        while page < segment.page_end() {
            let frame = allocate_page(memory).ok_or(RootTaskError::OutOfMemory)?;
            // The part of the file-backed bytes that falls in this page.
            let from = page.max(segment.vaddr);
            let to = (page + PAGE_SIZE).min(segment.vaddr + segment.file_len);
            if from < to {
                let offset = (segment.file_offset + (from - segment.vaddr)) as usize;
                paging::copy_to_phys(
                    frame + (from - page),
                    &file[offset..offset + (to - from) as usize],
                );
            }
            map(memory, space, page, frame, access)?;
            page += PAGE_SIZE;
        }
    }

    // The stack; the page below it stays unmapped as a guard.
    let mut page = ROOT_STACK_TOP - ROOT_STACK_SIZE;
    while page < ROOT_STACK_TOP {
        let frame = allocate_page(memory).ok_or(RootTaskError::OutOfMemory)?;
        map(memory, space, page, frame, READ_WRITE)?;
        page += PAGE_SIZE;
    }

    // The root CNode and TCB are kernel objects like any other, made here
    // from boot memory because no untyped exists yet.
    let cnode_bytes = 1u64 << (slots::ROOT_CNODE_BITS + ward_abi::object::SLOT_BITS);
    let cnode = memory
        .allocate(cnode_bytes, cnode_bytes)
        .ok_or(RootTaskError::OutOfMemory)?;
    for page in (0..cnode_bytes).step_by(PAGE_SIZE as usize) {
        paging::zero_page(cnode + page);
    }
    let tcb = allocate_page(memory).ok_or(RootTaskError::OutOfMemory)?;

    let ipc_buffer = allocate_page(memory).ok_or(RootTaskError::OutOfMemory)?;
    map(memory, space, ROOT_IPC_BUFFER_VADDR, ipc_buffer, READ_WRITE)?;

    let bootinfo_bytes = BOOTINFO_PAGES as u64 * PAGE_SIZE;
    let bootinfo = memory
        .allocate(bootinfo_bytes, PAGE_SIZE)
        .ok_or(RootTaskError::OutOfMemory)?;
    for index in 0..BOOTINFO_PAGES as u64 {
        paging::zero_page(bootinfo + index * PAGE_SIZE);
        map(
            memory,
            space,
            ROOT_BOOTINFO_VADDR + index * PAGE_SIZE,
            bootinfo + index * PAGE_SIZE,
            READ_ONLY,
        )?;
    }

    // The kernel's statistics page: the root task gets a read-only frame
    // capability to it (unmapped) and may share it further.
    let statistics = allocate_page(memory).ok_or(RootTaskError::OutOfMemory)?;
    crate::stats::init(statistics, crate::arch::x86_64::apic::tsc_hz());

    // Every module, read-only, one after another with a guard page between.
    let mut module_vaddrs = Vec::new();
    let mut cursor = ROOT_MODULES_VADDR;
    for module in &boot.modules {
        let first_page = module.start & !(PAGE_SIZE - 1);
        let last_page = module.end.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let _ = module_vaddrs.push(cursor + (module.start - first_page));
        let mut frame = first_page;
        while frame < last_page {
            map(memory, space, cursor, frame, READ_ONLY)?;
            cursor += PAGE_SIZE;
            frame += PAGE_SIZE;
        }
        cursor += PAGE_SIZE;
    }

    Ok(RootTask {
        address_space: space,
        cnode,
        tcb,
        ipc_buffer,
        entry: image.entry,
        bootinfo,
        statistics,
        module_vaddrs,
    })
}

/// The root thread's TCB, for naming it in console reports.
static ROOT_TCB: AtomicU64 = AtomicU64::new(0);

/// Whether `tcb` is the root task's thread.
pub fn is_root_thread(tcb: Tcb) -> bool {
    ROOT_TCB.load(Ordering::Relaxed) == tcb.0
}

/// Puts the root task's capabilities into its CNode, fills the slot regions
/// of its boot info, and makes its thread runnable at priority 255.
pub fn install_caps(root: &RootTask, untyped: &UntypedList, boot: &BootData, info: &mut BootInfo) {
    let objects = objects();
    let slot = |index: u64| Slot(root.cnode + (index << ward_abi::object::SLOT_BITS));
    let insert = |index: u64, cap: Cap| {
        if let Err(error) = objects.insert_original(slot(index), cap) {
            panic!("root capability {index} refused: {}", error.why);
        }
    };
    let asid = kobj::asid_for(root.address_space).expect("the first ASID is free");
    let cnode_cap = Cap::CNode {
        object: root.cnode,
        radix_bits: slots::ROOT_CNODE_BITS as u8,
        guard: 0,
        // The guard makes a CPtr simply the slot index at depth 64.
        guard_bits: (64 - slots::ROOT_CNODE_BITS) as u8,
    };
    insert(slots::ROOT_TCB, Cap::Tcb { object: root.tcb });
    insert(slots::ROOT_CNODE, cnode_cap);
    insert(
        slots::ROOT_VSPACE,
        Cap::Pml4 {
            object: root.address_space,
            asid: Some(asid),
        },
    );
    insert(slots::IRQ_CONTROL, Cap::IrqControl);
    insert(slots::IO_PORT_CONTROL, Cap::IoPortControl);
    if crate::arch::x86_64::vtd::enabled() {
        insert(slots::IO_SPACE_CONTROL, crate::iospace::MASTER);
    }
    insert(
        slots::ROOT_IPC_BUFFER,
        Cap::Frame {
            object: root.ipc_buffer,
            size: FrameSize::Small,
            rights: CapRights::ALL,
            is_device: false,
            mapping: Some(Mapping {
                asid,
                vaddr: ROOT_IPC_BUFFER_VADDR,
            }),
        },
    );

    insert(
        slots::KERNEL_STATISTICS,
        Cap::Frame {
            object: root.statistics,
            size: FrameSize::Small,
            rights: CapRights::READ,
            is_device: false,
            mapping: None,
        },
    );

    let capacity = 1u64 << slots::ROOT_CNODE_BITS;
    let mut next = slots::FIRST_FREE;
    let start = next;
    for region in &untyped.regions {
        insert(
            next,
            Cap::Untyped {
                object: region.paddr,
                size_bits: region.size_bits,
                free_index: 0,
                is_device: region.is_device != 0,
            },
        );
        next += 1;
    }
    info.untyped_slots = SlotRegion { start, end: next };

    // Read-only frames for every page of every module, in module order.
    let start = next;
    let mut left_out = 0u64;
    for (module, &vaddr) in boot.modules.iter().zip(root.module_vaddrs.iter()) {
        let first_page = module.start & !(PAGE_SIZE - 1);
        let last_page = module.end.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let first_vaddr = vaddr & !(PAGE_SIZE - 1);
        for (index, frame) in (first_page..last_page)
            .step_by(PAGE_SIZE as usize)
            .enumerate()
        {
            if next >= capacity {
                left_out += 1;
                continue;
            }
            insert(
                next,
                Cap::Frame {
                    object: frame,
                    size: FrameSize::Small,
                    rights: CapRights::READ,
                    is_device: false,
                    mapping: Some(Mapping {
                        asid,
                        vaddr: first_vaddr + index as u64 * PAGE_SIZE,
                    }),
                },
            );
            next += 1;
        }
    }
    if left_out > 0 {
        log::warn!("root CNode full: {left_out} module pages have no frame capability");
    }
    info.module_slots = SlotRegion { start, end: next };
    info.empty_slots = SlotRegion {
        start: next,
        end: capacity,
    };

    // The thread: its CSpace, VSpace and IPC buffer are copies of the caps above.
    let tcb = Tcb(root.tcb);
    ROOT_TCB.store(tcb.0, Ordering::Relaxed);
    for (which, from) in [
        (TcbSlot::CSpaceRoot, slots::ROOT_CNODE),
        (TcbSlot::VSpaceRoot, slots::ROOT_VSPACE),
        (TcbSlot::IpcBuffer, slots::ROOT_IPC_BUFFER),
    ] {
        if let Err(error) = objects.copy_cap(slot(from), tcb.slot(which), CapRights::ALL, None) {
            panic!("root TCB configuration refused: {}", error.why);
        }
    }
    objects.set_tcb_field(
        tcb,
        ward_kernel_objects::tcb::field::IPC_BUFFER_VADDR,
        ROOT_IPC_BUFFER_VADDR,
    );
    objects.set_tcb_mcp(tcb, u8::MAX);
    objects.set_tcb_priority_unqueued(tcb, u8::MAX);
    objects.set_tcb_field(
        tcb,
        ward_kernel_objects::tcb::field::TIME_SLICE,
        crate::sched::TIME_SLICE_TICKS,
    );
    crate::thread::set_entry(
        tcb,
        root.entry,
        ward_abi::layout::ROOT_STACK_TOP,
        ward_abi::layout::ROOT_BOOTINFO_VADDR,
    );
    kobj::make_runnable(tcb);
}
