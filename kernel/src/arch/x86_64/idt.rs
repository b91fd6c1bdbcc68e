//! The interrupt descriptor table: all 256 vectors point at the entry stubs
//! in `trap.rs`, which are 16 bytes apart.
use super::gdt::{IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI, KERNEL_CODE};
use spin::Mutex;

/// Distance between consecutive entry stubs (fixed by `.balign 16` in trap.rs).
const STUB_SIZE: u64 = 16;

#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attributes: u8,
    offset_middle: u16,
    offset_high: u32,
    reserved: u32,
}

const EMPTY_GATE: Gate = Gate {
    offset_low: 0,
    selector: 0,
    ist: 0,
    type_attributes: 0,
    offset_middle: 0,
    offset_high: 0,
    reserved: 0,
};

static IDT: Mutex<[Gate; 256]> = Mutex::new([EMPTY_GATE; 256]);

extern "C" {
    static trap_stubs: u8;
}

/// Fills and loads the IDT.
pub fn init() {
    let stubs = core::ptr::addr_of!(trap_stubs) as u64;
    let mut idt = IDT.lock();
    for (vector, gate) in idt.iter_mut().enumerate() {
        let handler = stubs + vector as u64 * STUB_SIZE;
        // Interrupt gate (interrupts stay disabled in the kernel), present.
        // DPL 0 everywhere except the breakpoint, so `int N` from user mode is
        // a general-protection fault rather than a fake hardware interrupt.
        let dpl = if vector == 3 { 3 } else { 0 };
        let ist = match vector {
            2 => IST_NMI,
            8 => IST_DOUBLE_FAULT,
            18 => IST_MACHINE_CHECK,
            _ => 0,
        };
        *gate = Gate {
            offset_low: handler as u16,
            selector: KERNEL_CODE,
            ist,
            type_attributes: 0x8E | (dpl << 5),
            offset_middle: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        };
    }
    drop(idt);
    load();
}

/// Loads the (one, shared) IDT on this core.
pub fn load() {
    let idt = IDT.lock();
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let pointer = Pointer {
        limit: (core::mem::size_of::<[Gate; 256]>() - 1) as u16,
        base: idt.as_ptr() as u64,
    };
    // SAFETY: the table is static, fully initialised by `init` (on the
    // bootstrap processor, before any other core starts), and every gate
    // points at a stub of trap.rs.
    unsafe { core::arch::asm!("lidt [{}]", in(reg) &pointer, options(nostack)) }
}
