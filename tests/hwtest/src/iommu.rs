//! The edu device under VT-d: DMA confined to its window and faults
//! reported; its INTx interrupt as a badged notification.
use crate::edu::Edu;
use crate::env::{Env, DEPTH};
use crate::Tally;
use ward_userlib::abi::bootinfo::BootInfo;
use ward_userlib::cap::{Frame4K, IoPageTable, IoSpace, IrqHandler, Notification};
use ward_userlib::hardware::{Polarity, Trigger};
use ward_userlib::{println, syscall, CapRights, ObjectType};

/// The IO address of the buffer the device may use: low, as edu can only
/// address 28 bits; the frame behind it may be anywhere in RAM.
const WINDOW_IOADDR: u64 = 0x1000;
/// An IO address nothing is mapped at.
const UNMAPPED_IOADDR: u64 = 0x20_0000;
/// The domain the test puts edu in.
const DOMAIN: u16 = 1;
/// Bytes per DMA.
const LENGTH: u64 = 64;
/// Badge of the DMA-fault notification.
const FAULT_BADGE: u64 = 0x1;
/// edu's DMA reaches only 28 bits of address.
const EDU_ADDRESS_LIMIT: u64 = 1 << 28;

fn fill(vaddr: u64, byte: u8, length: usize) {
    // SAFETY: `vaddr` is a page this test mapped read-write for itself.
    unsafe { core::ptr::write_bytes(vaddr as *mut u8, byte, length) }
}

fn bytes(vaddr: u64, length: usize) -> &'static [u8] {
    // SAFETY: as for `fill`; read while the device is idle.
    unsafe { core::slice::from_raw_parts(vaddr as *const u8, length) }
}

/// Waits (bounded) for a fault signal and reads the fault record.
pub fn next_fault(
    space: IoSpace,
    notification: Notification,
) -> Option<ward_userlib::hardware::DmaFault> {
    for _ in 0..200_000 {
        if let Ok(Some(fault)) = space.io_space_read_fault() {
            return Some(fault);
        }
        let _ = notification.poll();
        syscall::yield_now();
    }
    None
}

pub fn run_dma(info: &BootInfo, tally: &mut Tally) {
    let mut env = Env::new(info);
    if !tally.check("the IOMMU is on", info.platform.iommu == 1) {
        return;
    }
    let Some(edu) = Edu::open(&mut env) else {
        tally.check("find the edu device (00:xx.0, 1234:11e8)", false);
        return;
    };
    tally.check(
        "edu answers on its registers (liveness)",
        edu.liveness(0x1234_5678) == !0x1234_5678,
    );
    println!(
        "hwtest: edu at requester {:#06x}, id {:#x}",
        edu.function.requester,
        edu.id()
    );

    // The device's IOSpace and IO page tables (root, then the two levels below).
    let space: IoSpace = ward_userlib::Cap::from_cptr(env.slots.alloc().expect("slot"));
    let issued = env.caps.io_space.io_space_issue(
        edu.function.requester,
        DOMAIN,
        env.caps.cnode,
        space.cptr(),
        DEPTH,
    );
    tally.check("issue edu's IOSpace", issued.is_ok());
    let second: IoSpace = ward_userlib::Cap::from_cptr(env.slots.alloc().expect("slot"));
    tally.check(
        "a second IOSpace for the same device is refused",
        env.caps
            .io_space
            .io_space_issue(
                edu.function.requester,
                2,
                env.caps.cnode,
                second.cptr(),
                DEPTH,
            )
            .is_err(),
    );
    let mut mapped_tables = 0;
    for _ in 0..3 {
        let table: IoPageTable = env.make(ObjectType::IoPageTable);
        if table.io_page_table_map(space, WINDOW_IOADDR).is_ok() {
            mapped_tables += 1;
        }
    }
    tally.check(
        "map three IO page tables (39-bit, 3 levels)",
        mapped_tables == 3,
    );
    let extra: IoPageTable = env.make(ObjectType::IoPageTable);
    tally.check(
        "a fourth table for the same address is refused",
        extra.io_page_table_map(space, WINDOW_IOADDR).is_err(),
    );

    let notification: Notification = env.make(ObjectType::Notification);
    let badged: Notification = ward_userlib::Cap::from_cptr(env.slots.alloc().expect("slot"));
    let _ = env.caps.cnode.cnode_mint(
        badged.cptr(),
        DEPTH,
        env.caps.cnode,
        notification.cptr(),
        DEPTH,
        CapRights::ALL,
        FAULT_BADGE,
    );
    tally.check(
        "register the DMA-fault notification",
        space.io_space_set_fault_notification(badged).is_ok(),
    );

    // The window: one RAM frame, mapped for the device and (through a copy
    // of its cap) for us. It may lie above edu's 28-bit limit: the IO address does not.
    let window: Frame4K = env.make(ObjectType::Frame4K);
    let ours = env.copy(window);
    let window_vaddr = env.map(ours, CapRights::READ_WRITE);
    let window_paddr = window.frame_get_address().unwrap_or(0);
    println!("hwtest: window frame at physical {window_paddr:#x}, IO address {WINDOW_IOADDR:#x}");
    tally.check(
        "map the window for DMA",
        window
            .frame_map_io(space, WINDOW_IOADDR, CapRights::READ_WRITE)
            .is_ok(),
    );
    tally.check(
        "a frame cap mapped in a VSpace cannot also map for DMA (one mapping per cap)",
        ours.frame_map_io(space, WINDOW_IOADDR + 0x1000, CapRights::READ_WRITE)
            .is_err(),
    );
    tally.check(
        "a device frame cannot be a DMA target",
        env.device_frame(u64::from(crate::edu::BAR0_ADDRESS) + 0x1000)
            .is_some_and(|f| {
                f.frame_map_io(space, 0x3000, CapRights::READ_WRITE)
                    .is_err()
            }),
    );

    // iommu-dma-allowed: RAM -> device -> RAM round trip through the window.
    for (index, byte) in (0..LENGTH as usize).zip(0u8..) {
        fill(
            window_vaddr + index as u64,
            byte.wrapping_mul(7).wrapping_add(3),
            1,
        );
    }
    fill(window_vaddr + 0x100, 0, LENGTH as usize);
    let out = edu.dma_from_ram(WINDOW_IOADDR, LENGTH);
    let back = edu.dma_to_ram(WINDOW_IOADDR + 0x100, LENGTH);
    let arrived =
        bytes(window_vaddr, LENGTH as usize) == bytes(window_vaddr + 0x100, LENGTH as usize);
    tally.check(
        "DMA into the window: the data arrives",
        out && back && arrived,
    );
    tally.check(
        "no fault recorded for allowed DMA",
        matches!(space.io_space_read_fault(), Ok(None)),
    );

    // iommu-dma-blocked: an unmapped IO address, and another component's memory.
    let victim_source = env.ram_below(EDU_ADDRESS_LIMIT).unwrap_or_else(|| {
        ward_rootkit::bootinfo::largest_ram_untyped(info)
            .expect("RAM")
            .cap
    });
    let victim: Frame4K = env.make_from(victim_source, ObjectType::Frame4K);
    let victim_vaddr = env.map(victim, CapRights::READ_WRITE);
    let victim_paddr = victim.frame_get_address().unwrap_or(0);
    fill(victim_vaddr, 0xAA, 4096);
    let _ = edu.dma_to_ram(UNMAPPED_IOADDR, LENGTH);
    let fault = next_fault(space, notification);
    tally.check("DMA to an unmapped IO address is reported", fault.is_some());
    if let Some(fault) = fault {
        println!(
            "hwtest: fault: {:#x} write={} reason={:#x}",
            fault.address, fault.is_write, fault.reason
        );
        tally.check(
            "the report names the IO address and a write",
            fault.address == UNMAPPED_IOADDR && fault.is_write,
        );
    }
    let _ = edu.dma_to_ram(victim_paddr, LENGTH);
    let fault = next_fault(space, notification);
    tally.check(
        "DMA aimed at another component's memory is reported",
        fault.is_some_and(|f| f.address == victim_paddr & !0xfff),
    );
    tally.check(
        "the victim's memory is unchanged, byte for byte",
        bytes(victim_vaddr, 4096).iter().all(|&b| b == 0xAA),
    );

    // iommu-unmap: after unmapping, the window is closed.
    tally.check("unmap the window", window.frame_unmap().is_ok());
    fill(window_vaddr + 0x200, 0x55, LENGTH as usize);
    let _ = edu.dma_to_ram(WINDOW_IOADDR + 0x200, LENGTH);
    let fault = next_fault(space, notification);
    tally.check(
        "after unmap the same DMA is blocked and reported",
        fault.is_some_and(|f| f.address == WINDOW_IOADDR),
    );
    tally.check(
        "after unmap the window is untouched",
        bytes(window_vaddr + 0x200, LENGTH as usize)
            .iter()
            .all(|&b| b == 0x55),
    );

    // Deleting the IOSpace blocks the device entirely, even at mapped addresses.
    tally.check(
        "map the window again",
        window
            .frame_map_io(space, WINDOW_IOADDR, CapRights::READ_WRITE)
            .is_ok(),
    );
    tally.check(
        "delete the IOSpace",
        env.caps.cnode.cnode_delete(space.cptr(), DEPTH).is_ok(),
    );
    fill(window_vaddr + 0x300, 0x66, LENGTH as usize);
    let _ = edu.dma_to_ram(WINDOW_IOADDR + 0x300, LENGTH);
    tally.check(
        "with no IOSpace the device reaches nothing",
        bytes(window_vaddr + 0x300, LENGTH as usize)
            .iter()
            .all(|&b| b == 0x66),
    );
}

pub fn run_intx(info: &BootInfo, tally: &mut Tally) {
    let mut env = Env::new(info);
    let Some(edu) = Edu::open(&mut env) else {
        tally.check("find the edu device", false);
        return;
    };
    // PCI INTx lines reach IOAPIC lines 16-23 (level-triggered, active low);
    // which one depends on the slot, so take all eight with a badge bit each.
    let notification: Notification = env.make(ObjectType::Notification);
    let mut handlers: heapless::Vec<IrqHandler, 8> = heapless::Vec::new();
    for line in 16..24u64 {
        let handler: IrqHandler = ward_userlib::Cap::from_cptr(env.slots.alloc().expect("slot"));
        let got = env.caps.irq_control.irq_control_get(
            line,
            Trigger::Level,
            Polarity::ActiveLow,
            env.caps.cnode,
            handler.cptr(),
            DEPTH,
        );
        let badged: Notification = ward_userlib::Cap::from_cptr(env.slots.alloc().expect("slot"));
        let _ = env.caps.cnode.cnode_mint(
            badged.cptr(),
            DEPTH,
            env.caps.cnode,
            notification.cptr(),
            DEPTH,
            CapRights::ALL,
            1 << (line - 16),
        );
        if got.is_ok()
            && handler.irq_handler_set_notification(badged).is_ok()
            && handler.irq_handler_ack().is_ok()
        {
            let _ = handlers.push(handler);
        }
    }
    tally.check("handlers for IOAPIC lines 16-23", handlers.len() == 8);

    edu.raise_interrupt(1);
    let badge = notification.wait().unwrap_or(0);
    let line = badge.trailing_zeros() as usize;
    tally.check(
        "edu's INTx arrives as a badged notification",
        badge.count_ones() == 1,
    );
    println!("hwtest: edu INTx arrives on IOAPIC line {}", 16 + line);
    let handler = handlers[line.min(7)];

    // Level-triggered and still asserted: the line stays masked until ack.
    let mut more = 0;
    for _ in 0..300 {
        syscall::yield_now();
        more |= notification.poll().unwrap_or(0);
    }
    tally.check(
        "line masked until the driver acks (no repeat while asserted)",
        more == 0,
    );

    // Interrupt storm: the device keeps its line asserted and nobody acks.
    // The kernel must not deliver the line again (which, unmasked, would fire
    // without end) while this thread keeps running through many timer ticks.
    let mut stormed = 0;
    for _ in 0..2_000 {
        syscall::yield_now();
        stormed |= notification.poll().unwrap_or(0);
    }
    tally.check(
        "an unacknowledged, asserted line starves no one",
        stormed == 0 && edu.interrupt_status() != 0,
    );

    // The driver's bottom half: clear the device, then ack the line.
    edu.ack_interrupt(edu.interrupt_status());
    tally.check(
        "ack after clearing the device",
        handler.irq_handler_ack().is_ok(),
    );
    let mut spurious = 0;
    for _ in 0..300 {
        syscall::yield_now();
        spurious |= notification.poll().unwrap_or(0);
    }
    tally.check("no interrupt once the device is cleared", spurious == 0);
    edu.raise_interrupt(2);
    tally.check(
        "a second interrupt arrives after ack",
        notification.wait().unwrap_or(0) == badge,
    );
    edu.ack_interrupt(edu.interrupt_status());
    let _ = handler.irq_handler_ack();
}

/// A device id no driver in this test owns: 00:1f.0, the ISA bridge.
const OTHER_REQUESTER: u16 = 0x00f8;

pub fn run_msi(info: &BootInfo, tally: &mut Tally) {
    let mut env = Env::new(info);
    let Some(edu) = Edu::open(&mut env) else {
        tally.check("find the edu device", false);
        return;
    };
    let handler: IrqHandler = ward_userlib::Cap::from_cptr(env.slots.alloc().expect("slot"));
    let message = env.caps.irq_control.irq_control_get_msi(
        edu.function.requester,
        env.caps.cnode,
        handler.cptr(),
        DEPTH,
    );
    if !tally.check(
        "an MSI handler for edu (with interrupt remapping)",
        message.is_ok(),
    ) {
        return;
    }
    let (address, data) = message.unwrap_or((0, 0));
    println!("hwtest: edu's MSI message: address {address:#x}, data {data:#x}");
    let notification: Notification = env.make(ObjectType::Notification);
    let badged: Notification = ward_userlib::Cap::from_cptr(env.slots.alloc().expect("slot"));
    let _ = env.caps.cnode.cnode_mint(
        badged.cptr(),
        DEPTH,
        env.caps.cnode,
        notification.cptr(),
        DEPTH,
        CapRights::ALL,
        0x10,
    );
    tally.check(
        "bind the notification",
        handler.irq_handler_set_notification(badged).is_ok(),
    );
    tally.check(
        "program edu's MSI capability",
        edu.enable_msi(address, data),
    );
    tally.check("ack unmasks the MSI", handler.irq_handler_ack().is_ok());

    edu.raise_interrupt(1);
    tally.check(
        "edu's MSI arrives as a badged notification",
        notification.wait().unwrap_or(0) == 0x10,
    );
    edu.ack_interrupt(edu.interrupt_status());

    // Not acknowledged: the next MSI is dropped at the remapping entry.
    edu.raise_interrupt(2);
    let mut leaked = 0;
    for _ in 0..300 {
        syscall::yield_now();
        leaked |= notification.poll().unwrap_or(0);
    }
    tally.check("MSI masked until the driver acks", leaked == 0);
    edu.ack_interrupt(edu.interrupt_status());
    tally.check("ack", handler.irq_handler_ack().is_ok());
    edu.raise_interrupt(4);
    tally.check(
        "an MSI arrives again after ack",
        notification.wait().unwrap_or(0) == 0x10,
    );
    edu.ack_interrupt(edu.interrupt_status());

    // Spoofing: a handler belonging to another device, and edu programmed
    // with its message. The remapping entry checks the source id and drops it.
    let other: IrqHandler = ward_userlib::Cap::from_cptr(env.slots.alloc().expect("slot"));
    let other_message = env.caps.irq_control.irq_control_get_msi(
        OTHER_REQUESTER,
        env.caps.cnode,
        other.cptr(),
        DEPTH,
    );
    let victim: Notification = env.make(ObjectType::Notification);
    let victim_badged: Notification =
        ward_userlib::Cap::from_cptr(env.slots.alloc().expect("slot"));
    let _ = env.caps.cnode.cnode_mint(
        victim_badged.cptr(),
        DEPTH,
        env.caps.cnode,
        victim.cptr(),
        DEPTH,
        CapRights::ALL,
        0x20,
    );
    let armed = other_message.is_ok()
        && other.irq_handler_set_notification(victim_badged).is_ok()
        && other.irq_handler_ack().is_ok();
    tally.check("an MSI handler for another device", armed);
    let _ = handler.irq_handler_ack();
    let (other_address, other_data) = other_message.unwrap_or((0, 0));
    edu.enable_msi(other_address, other_data);
    edu.raise_interrupt(8);
    let mut stolen = 0;
    for _ in 0..300 {
        syscall::yield_now();
        stolen |= victim.poll().unwrap_or(0) | notification.poll().unwrap_or(0);
    }
    tally.check(
        "edu cannot raise another device's interrupt (source id checked)",
        stolen == 0,
    );
    edu.ack_interrupt(edu.interrupt_status());
}

pub fn run_without_iommu(info: &BootInfo, tally: &mut Tally) {
    let mut env = Env::new(info);
    tally.check(
        "no IOMMU is reported in the boot info",
        info.platform.iommu == 0,
    );
    let space: IoSpace = ward_userlib::Cap::from_cptr(env.slots.alloc().expect("slot"));
    let refused =
        env.caps
            .io_space
            .io_space_issue(0x18, DOMAIN, env.caps.cnode, space.cptr(), DEPTH);
    tally.check(
        "without an IOMMU there is no IOSpace to grant (DMA refused)",
        refused.is_err(),
    );
    if let Err(e) = refused {
        println!("hwtest: io_space_issue without an IOMMU: {e}");
    }
    let handler: IrqHandler = ward_userlib::Cap::from_cptr(env.slots.alloc().expect("slot"));
    let msi = env
        .caps
        .irq_control
        .irq_control_get_msi(0x18, env.caps.cnode, handler.cptr(), DEPTH);
    tally.check(
        "without interrupt remapping no MSI handler is given",
        msi.is_err(),
    );
}
