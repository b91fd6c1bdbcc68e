//! `test=ioport-irq`: IO-port and interrupt capabilities on real (emulated)
//! hardware — the CMOS real-time clock, reached through ports 0x70–0x71 and
//! interrupting on IOAPIC line 8.
//!
//! Checks: a port range is issued once (overlaps and the kernel's own ports
//! are refused); accesses outside the range are refused; the RTC's periodic
//! interrupt arrives as a signal on a badged notification; the line stays
//! masked until the handler acknowledges, so an unacknowledged interrupt
//! arrives once and no more; a second handler for the same line is refused.
use crate::Tally;
use ward_rootkit::bootinfo::{largest_ram_untyped, RootCaps, SlotAllocator};
use ward_userlib::abi::bootinfo::BootInfo;
use ward_userlib::abi::object::ObjectType;
use ward_userlib::cap::{IoPort, IrqHandler, Notification};
use ward_userlib::hardware::{Polarity, Trigger};
use ward_userlib::CapRights;

/// RTC index and data ports; bit 7 of the index disables NMIs while we program it.
const RTC_INDEX: u16 = 0x70;
const RTC_DATA: u16 = 0x71;
const NMI_DISABLE: u8 = 0x80;
/// RTC line on the IOAPIC (ISA IRQ 8, identity-mapped on q35).
const RTC_LINE: u64 = 8;
/// The badge the RTC's notification carries.
const RTC_BADGE: u64 = 0x80;
/// Polls of the notification while the line should stay masked; with the
/// RTC at 1024 Hz and 1 ms ticks, a few hundred yields span many periods.
const MASKED_POLLS: u32 = 400;

fn rtc_read(port: IoPort, register: u8) -> u8 {
    let _ = port.io_port_out8(RTC_INDEX, NMI_DISABLE | register);
    port.io_port_in8(RTC_DATA).unwrap_or(0)
}

fn rtc_write(port: IoPort, register: u8, value: u8) {
    let _ = port.io_port_out8(RTC_INDEX, NMI_DISABLE | register);
    let _ = port.io_port_out8(RTC_DATA, value);
}

/// Runs the test.
pub fn run(info: &BootInfo, tally: &mut Tally) {
    let caps = RootCaps::new();
    let mut slots = SlotAllocator::from_boot_info(info);
    let depth = 64;

    // IO ports.
    let rtc: IoPort = slots.alloc_cap().expect("free slot");
    tally.check(
        "issue ports 0x70-0x71",
        caps.io_port_control
            .io_port_control_issue(RTC_INDEX, RTC_DATA, caps.cnode, rtc.cptr(), depth)
            .is_ok(),
    );
    let overlap: IoPort = slots.alloc_cap().expect("free slot");
    tally.check(
        "overlapping range refused",
        caps.io_port_control
            .io_port_control_issue(0x71, 0x72, caps.cnode, overlap.cptr(), depth)
            .is_err(),
    );
    tally.check(
        "kernel console ports refused",
        caps.io_port_control
            .io_port_control_issue(0x3f8, 0x3ff, caps.cnode, overlap.cptr(), depth)
            .is_err(),
    );
    tally.check(
        "read outside the range refused",
        rtc.io_port_in8(0x72).is_err(),
    );
    tally.check(
        "16-bit read running past the range refused",
        rtc.io_port_in16(0x71).is_err(),
    );
    tally.check("read inside the range", rtc.io_port_in8(RTC_DATA).is_ok());

    // A badged notification for the RTC.
    let untyped = largest_ram_untyped(info).expect("RAM untyped");
    let notification: Notification = slots.alloc_cap().expect("free slot");
    let made = untyped.cap.untyped_retype(
        ObjectType::Notification,
        0,
        caps.cnode,
        0,
        0,
        notification.cptr(),
        1,
    );
    tally.check("retype a notification", made.is_ok());
    let badged: Notification = slots.alloc_cap().expect("free slot");
    let minted = caps.cnode.cnode_mint(
        badged.cptr(),
        depth,
        caps.cnode,
        notification.cptr(),
        depth,
        CapRights::ALL,
        RTC_BADGE,
    );
    tally.check("mint a badged notification", minted.is_ok());

    // The interrupt handler.
    let handler: IrqHandler = slots.alloc_cap().expect("free slot");
    let got = caps.irq_control.irq_control_get(
        RTC_LINE,
        Trigger::Edge,
        Polarity::ActiveHigh,
        caps.cnode,
        handler.cptr(),
        depth,
    );
    tally.check("IRQ handler for line 8", got.is_ok());
    let second: IrqHandler = slots.alloc_cap().expect("free slot");
    let again = caps.irq_control.irq_control_get(
        RTC_LINE,
        Trigger::Edge,
        Polarity::ActiveHigh,
        caps.cnode,
        second.cptr(),
        depth,
    );
    tally.check("second handler for the same line refused", again.is_err());
    tally.check(
        "ack before a notification is set refused",
        handler.irq_handler_ack().is_err(),
    );
    tally.check(
        "bind the badged notification",
        handler.irq_handler_set_notification(badged).is_ok(),
    );

    // RTC periodic interrupt at 1024 Hz (rate 6), then clear any pending flag.
    let register_a = rtc_read(rtc, 0x0A);
    rtc_write(rtc, 0x0A, (register_a & 0xF0) | 0x06);
    let register_b = rtc_read(rtc, 0x0B);
    rtc_write(rtc, 0x0B, register_b | 0x40);
    let _ = rtc_read(rtc, 0x0C);

    tally.check("ack unmasks the line", handler.irq_handler_ack().is_ok());
    let badge = notification.wait().unwrap_or(0);
    tally.check(
        "interrupt arrives with the notification's badge",
        badge == RTC_BADGE,
    );
    let _ = rtc_read(rtc, 0x0C); // the RTC raises its next interrupt only after register C is read

    // Not acknowledged: the line stays masked, nothing more arrives.
    let mut leaked = 0;
    for _ in 0..MASKED_POLLS {
        ward_userlib::syscall::yield_now();
        let _ = rtc_read(rtc, 0x0C);
        leaked |= notification.poll().unwrap_or(0);
    }
    tally.check("no interrupt while unacknowledged", leaked == 0);

    // Acknowledge: interrupts flow again.
    let mut delivered = 0;
    for _ in 0..3 {
        let _ = handler.irq_handler_ack();
        if notification.wait().unwrap_or(0) == RTC_BADGE {
            delivered += 1;
        }
        let _ = rtc_read(rtc, 0x0C);
    }
    tally.check("three more interrupts after acks", delivered == 3);

    // Clear: the line is masked and unbound.
    tally.check("clear the handler", handler.irq_handler_clear().is_ok());
    rtc_write(rtc, 0x0B, register_b & !0x40);
    tally.check(
        "ack after clear refused",
        handler.irq_handler_ack().is_err(),
    );

    // Deleting the handler frees the line for a new handler.
    tally.check(
        "delete the handler",
        caps.cnode.cnode_delete(handler.cptr(), depth).is_ok(),
    );
    let reissued = caps.irq_control.irq_control_get(
        RTC_LINE,
        Trigger::Edge,
        Polarity::ActiveHigh,
        caps.cnode,
        second.cptr(),
        depth,
    );
    tally.check("line free again after delete", reissued.is_ok());
    tally.check(
        "delete the port range",
        caps.cnode.cnode_delete(rtc.cptr(), depth).is_ok(),
    );
    tally.check(
        "ports free again after delete",
        caps.io_port_control
            .io_port_control_issue(0x71, 0x72, caps.cnode, overlap.cptr(), depth)
            .is_ok(),
    );
}
