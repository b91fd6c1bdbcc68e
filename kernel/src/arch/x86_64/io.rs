//! Port I/O instructions. Only the kernel's own devices (COM1, the PIT, the
//! legacy PIC, QEMU's debug-exit port) are reached this way; user programs
//! will get IO-port capabilities instead.

/// Writes a byte to an I/O port.
pub fn outb(port: u16, value: u8) {
    // SAFETY: port I/O has no memory effects; the kernel only names ports of
    // devices it owns (serial, PIT, PIC, debug exit).
    unsafe { core::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags)) }
}

/// Reads a byte from an I/O port.
pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as for `outb`; reading a port of a kernel-owned device.
    unsafe { core::arch::asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags)) }
    value
}
