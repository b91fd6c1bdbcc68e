//! IO-port capabilities: `IOPortControl` issues port ranges, `IOPort` caps
//! do `in`/`out` of 8, 16 and 32 bits inside their range only.
//!
//! User code runs with IOPL 0 and no I/O bitmap, so it cannot touch a port
//! itself; the kernel performs the access after checking the capability.
//! A port belongs to at most one issued range at a time (overlapping issues
//! are refused), and the ports the kernel itself drives are never issued.
use crate::arch::x86_64::io::{inb, outb};
use crate::invocation::{done, reply, Message, Outcome};
use crate::kobj::objects;
use spin::Mutex;
use ward_abi::invocation::{args, InvocationLabel as Label};
use ward_kernel_objects::{Cap, InvocationError, LookupSide, Slot};

/// Runs an IOPortControl or IOPort invocation `label` on `cap`.
pub fn invoke(message: &Message, label: Label, cap: Cap) -> Result<Outcome, InvocationError> {
    match label {
        Label::IoPortControlIssue => {
            let a: args::IoPortControlIssue<_> = message.decode()?;
            let dest =
                objects().lookup_slot_exact(LookupSide::Destination, a.root.1, a.index, a.depth)?;
            issue(a.first, a.last, dest)?;
            done()
        }
        Label::IoPortIn8 | Label::IoPortIn16 | Label::IoPortIn32 => {
            // The three reads share one declaration shape: [port].
            let port = match label {
                Label::IoPortIn8 => message.decode::<args::IoPortIn8>()?.port,
                Label::IoPortIn16 => message.decode::<args::IoPortIn16>()?.port,
                _ => message.decode::<args::IoPortIn32>()?.port,
            };
            reply(&[read(cap, port, Width::of(label))?])
        }
        Label::IoPortOut8 | Label::IoPortOut16 | Label::IoPortOut32 => {
            let (port, value) = match label {
                Label::IoPortOut8 => {
                    let a: args::IoPortOut8 = message.decode()?;
                    (a.port, a.value)
                }
                Label::IoPortOut16 => {
                    let a: args::IoPortOut16 = message.decode()?;
                    (a.port, a.value)
                }
                _ => {
                    let a: args::IoPortOut32 = message.decode()?;
                    (a.port, a.value)
                }
            };
            write(cap, port, value, Width::of(label))?;
            done()
        }
        _ => Err(InvocationError::illegal("not an IO-port invocation")),
    }
}

/// Ports the kernel drives and never hands out: the legacy PICs (0x20–0x21,
/// 0xa0–0xa1), the PIT and its gate (0x40–0x43, 0x61), QEMU's debug-exit
/// port (0xf4) and COM1, the kernel console (0x3f8–0x3ff).
const KERNEL_PORTS: [(u16, u16); 6] = [
    (0x20, 0x21),
    (0xa0, 0xa1),
    (0x40, 0x43),
    (0x61, 0x61),
    (0xf4, 0xf7),
    (0x3f8, 0x3ff),
];

/// One bit per port: issued to some IOPort capability.
static ISSUED: Mutex<[u64; 1024]> = Mutex::new([0; 1024]);

fn ports(first: u16, last: u16) -> impl Iterator<Item = usize> {
    usize::from(first)..=usize::from(last)
}

/// `io_port_control_issue(first, last, dest_index, dest_depth)` with the
/// destination CNode as extra cap 0.
pub fn issue(first: u64, last: u64, dest: Slot) -> Result<(), InvocationError> {
    if first > last || last > u64::from(u16::MAX) {
        return Err(InvocationError::range(
            0,
            u64::from(u16::MAX),
            "the port range must be first <= last <= 0xffff",
        ));
    }
    let (first, last) = (first as u16, last as u16);
    if KERNEL_PORTS.iter().any(|&(a, b)| first <= b && a <= last) {
        return Err(InvocationError::illegal(
            "the range includes ports the kernel drives (PIC, PIT, debug exit, COM1)",
        ));
    }
    if !objects().cap(dest).is_null() {
        return Err(InvocationError::delete_first(
            "the destination slot is occupied",
        ));
    }
    let mut issued = ISSUED.lock();
    if ports(first, last).any(|p| issued[p / 64] & (1 << (p % 64)) != 0) {
        return Err(InvocationError::illegal(
            "the range overlaps ports already issued",
        ));
    }
    objects().insert_original(dest, Cap::IoPort { first, last })?;
    for p in ports(first, last) {
        issued[p / 64] |= 1 << (p % 64);
    }
    Ok(())
}

/// The last capability to a range was deleted: its ports may be issued again.
pub fn release(first: u16, last: u16) {
    let mut issued = ISSUED.lock();
    for p in ports(first, last) {
        issued[p / 64] &= !(1 << (p % 64));
    }
}

/// Width of an access in bytes.
#[derive(Clone, Copy)]
pub enum Width {
    Byte = 1,
    Word = 2,
    Double = 4,
}

impl Width {
    /// The access width of an IO-port label.
    fn of(label: Label) -> Width {
        match label {
            Label::IoPortIn8 | Label::IoPortOut8 => Width::Byte,
            Label::IoPortIn16 | Label::IoPortOut16 => Width::Word,
            _ => Width::Double,
        }
    }
}

fn check(cap: Cap, port: u64, width: Width) -> Result<u16, InvocationError> {
    let Cap::IoPort { first, last } = cap else {
        return Err(InvocationError::invalid_capability(
            0,
            "not an IO-port capability",
        ));
    };
    let end = port.saturating_add(width as u64 - 1);
    if port < u64::from(first) || end > u64::from(last) {
        return Err(InvocationError::range(
            u64::from(first),
            u64::from(last),
            "the port is outside the capability's range",
        ));
    }
    Ok(port as u16)
}

/// `io_port_in8/16/32(port)`.
pub fn read(cap: Cap, port: u64, width: Width) -> Result<u64, InvocationError> {
    let port = check(cap, port, width)?;
    Ok(match width {
        Width::Byte => u64::from(inb(port)),
        Width::Word => u64::from(crate::arch::x86_64::io::inw(port)),
        Width::Double => u64::from(crate::arch::x86_64::io::inl(port)),
    })
}

/// `io_port_out8/16/32(port, value)`.
pub fn write(cap: Cap, port: u64, value: u64, width: Width) -> Result<(), InvocationError> {
    let port = check(cap, port, width)?;
    match width {
        Width::Byte => outb(port, value as u8),
        Width::Word => crate::arch::x86_64::io::outw(port, value as u16),
        Width::Double => crate::arch::x86_64::io::outl(port, value as u32),
    }
    Ok(())
}
