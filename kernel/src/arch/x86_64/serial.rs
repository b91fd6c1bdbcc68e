//! The COM1 serial port (16550 UART), the kernel console.
use super::io::{inb, outb};

const COM1: u16 = 0x3f8;
/// Line-status bit: the transmit holding register is empty.
const LSR_TX_EMPTY: u8 = 0x20;

/// Sets 115200 baud, 8 data bits, no parity, one stop bit, FIFOs on.
pub fn init() {
    outb(COM1 + 1, 0x00); // no UART interrupts: the kernel polls
    outb(COM1 + 3, 0x80); // divisor latch access
    outb(COM1, 0x01); // divisor 1 = 115200 baud
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); // 8N1, latch off
    outb(COM1 + 2, 0xC7); // FIFOs enabled and cleared
    outb(COM1 + 4, 0x03); // DTR, RTS
}

/// Writes one byte, waiting for room (bounded: a real UART drains quickly;
/// if none is present, we give up after a while rather than hang the kernel).
pub fn write_byte(byte: u8) {
    for _ in 0..100_000 {
        if inb(COM1 + 5) & LSR_TX_EMPTY != 0 {
            break;
        }
    }
    outb(COM1, byte);
}

/// Writes bytes, turning `\n` into `\r\n` for terminals.
pub fn write_bytes(bytes: &[u8]) {
    for &byte in bytes {
        if byte == b'\n' {
            write_byte(b'\r');
        }
        write_byte(byte);
    }
}
