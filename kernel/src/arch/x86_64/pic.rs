//! The legacy 8259 PIC pair. Ward uses the local APIC (and later the IOAPIC),
//! so the PICs are moved off the exception vectors and masked entirely; a
//! spurious PIC interrupt then lands on a harmless vector and is counted.
use super::io::outb;

/// First vector of the remapped master PIC; the slave follows at +8.
pub const PIC_VECTOR_BASE: u8 = 0x20;

pub fn remap_and_mask() {
    outb(0x20, 0x11); // ICW1: init, expect ICW4
    outb(0xA0, 0x11);
    outb(0x21, PIC_VECTOR_BASE); // ICW2: vector offsets
    outb(0xA1, PIC_VECTOR_BASE + 8);
    outb(0x21, 0x04); // ICW3: slave on IRQ2
    outb(0xA1, 0x02);
    outb(0x21, 0x01); // ICW4: 8086 mode
    outb(0xA1, 0x01);
    outb(0x21, 0xFF); // mask everything
    outb(0xA1, 0xFF);
}
