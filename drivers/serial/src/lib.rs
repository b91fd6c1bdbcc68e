//! The serial driver's logic apart from the hardware: the 16550 UART's
//! registers and set-up sequence, the transmit queue that feeds the UART's
//! FIFO from its interrupt, and the line editor of the serial console.
//!
//! The UART is reached through [`Uart`] (byte reads and writes of its eight
//! ports), which the component implements with its IO-port capability and
//! the host tests with a plain register file.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use heapless::{Deque, Vec};

/// The eight registers of a 16550, as offsets from its base port.
pub mod reg {
    /// Receive buffer (read) / transmit holding (write); divisor low with DLAB.
    pub const DATA: u16 = 0;
    /// Interrupt enable; divisor high with DLAB.
    pub const INTERRUPT_ENABLE: u16 = 1;
    /// Interrupt identification (read) / FIFO control (write).
    pub const INTERRUPT_ID: u16 = 2;
    pub const FIFO_CONTROL: u16 = 2;
    pub const LINE_CONTROL: u16 = 3;
    pub const MODEM_CONTROL: u16 = 4;
    pub const LINE_STATUS: u16 = 5;
    /// Ports a 16550 occupies.
    pub const COUNT: u16 = 8;
}

/// Interrupt-enable bits.
pub mod ier {
    /// Received data available (and the FIFO's timeout).
    pub const RX_AVAILABLE: u8 = 1 << 0;
    /// The transmit holding register (FIFO) is empty.
    pub const TX_EMPTY: u8 = 1 << 1;
    /// A line-status error (overrun, parity, framing, break).
    pub const LINE_STATUS: u8 = 1 << 2;
}

/// Line-status bits.
pub mod lsr {
    pub const DATA_READY: u8 = 1 << 0;
    pub const OVERRUN: u8 = 1 << 1;
    pub const PARITY: u8 = 1 << 2;
    pub const FRAMING: u8 = 1 << 3;
    pub const BREAK: u8 = 1 << 4;
    /// The transmit FIFO has room for a whole FIFO's worth.
    pub const TX_EMPTY: u8 = 1 << 5;
}

/// The interrupt-identification register: bit 0 clear means an interrupt
/// is pending, bits 1..3 say which (highest priority first).
pub mod iir {
    pub const NONE_PENDING: u8 = 1 << 0;
    pub const CAUSE_MASK: u8 = 0b1110;
    pub const LINE_STATUS: u8 = 0b0110;
    pub const RX_AVAILABLE: u8 = 0b0100;
    pub const RX_TIMEOUT: u8 = 0b1100;
    pub const TX_EMPTY: u8 = 0b0010;
}

/// Bytes the 16550's transmit FIFO holds: what may be written each time it
/// reports empty.
pub const TX_FIFO_BYTES: usize = 16;
/// The UART's input clock over 16: the divisor is this over the baud rate.
const BASE_BAUD: u32 = 115_200;
/// The line speed: the fastest a 16550 runs; QEMU's UART ignores it, real
/// hardware needs the other end set alike.
pub const BAUD: u32 = 115_200;
/// 8 data bits, no parity, 1 stop bit.
const LINE_8N1: u8 = 0b0000_0011;
/// Divisor-latch access in the line-control register.
const DLAB: u8 = 1 << 7;
/// Enable the FIFOs, clear the transmit FIFO (a restarted driver's half-sent
/// bytes; received ones are kept for the console), interrupt when 14 bytes
/// have arrived (or a character time passes with fewer): few interrupts
/// under a burst, prompt delivery of a single key.
const FIFO_ENABLE_CLEAR_TX_14: u8 = 0b1100_0101;
/// DTR and RTS up, and OUT2, which on PC boards gates the UART's interrupt
/// line to the interrupt controller.
const MODEM_DTR_RTS_OUT2: u8 = 0b0000_1011;

/// Byte access to the UART's registers.
pub trait Uart {
    fn read(&self, register: u16) -> u8;
    fn write(&self, register: u16, value: u8);
}

/// Programs the UART: speed, 8N1, FIFOs, modem lines, and receive and
/// line-status interrupts (transmit interrupts are enabled only while there
/// is something to send). Returns false if the scratch test says no UART
/// answers at the port.
pub fn set_up<U: Uart>(uart: &U) -> bool {
    uart.write(reg::INTERRUPT_ENABLE, 0);
    let divisor = BASE_BAUD / BAUD;
    uart.write(reg::LINE_CONTROL, DLAB);
    uart.write(reg::DATA, divisor as u8);
    uart.write(reg::INTERRUPT_ENABLE, (divisor >> 8) as u8);
    uart.write(reg::LINE_CONTROL, LINE_8N1);
    uart.write(reg::FIFO_CONTROL, FIFO_ENABLE_CLEAR_TX_14);
    uart.write(reg::MODEM_CONTROL, MODEM_DTR_RTS_OUT2);
    // A line-control register that does not read back means no UART there.
    if uart.read(reg::LINE_CONTROL) != LINE_8N1 {
        return false;
    }
    uart.write(reg::INTERRUPT_ENABLE, ier::RX_AVAILABLE | ier::LINE_STATUS);
    true
}

/// Bytes waiting for the wire: what clients wrote and the console's echo.
pub const TX_QUEUE_BYTES: usize = 4096;

/// The transmit side: a queue the UART's FIFO is filled from.
#[derive(Default)]
pub struct Transmitter {
    queue: Deque<u8, TX_QUEUE_BYTES>,
    /// Whether the transmit interrupt is enabled (only while queued bytes wait).
    armed: bool,
    /// Bytes refused because the queue was full.
    pub dropped: u64,
    /// Bytes written to the UART.
    pub sent: u64,
}

impl Transmitter {
    /// Queues what fits of `text`; returns how many bytes were taken.
    pub fn queue(&mut self, text: &[u8]) -> usize {
        let mut taken = 0;
        for &byte in text {
            if self.queue.push_back(byte).is_err() {
                break;
            }
            taken += 1;
        }
        self.dropped += (text.len() - taken) as u64;
        taken
    }

    /// Bytes waiting.
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// Moves up to a FIFO's worth to the UART if it can take them, and arms
    /// or disarms the transmit interrupt: armed exactly while bytes wait, so
    /// an empty queue never leaves the line asserted.
    pub fn pump<U: Uart>(&mut self, uart: &U) {
        if uart.read(reg::LINE_STATUS) & lsr::TX_EMPTY != 0 {
            for _ in 0..TX_FIFO_BYTES {
                let Some(byte) = self.queue.pop_front() else {
                    break;
                };
                uart.write(reg::DATA, byte);
                self.sent += 1;
            }
        }
        let want = !self.queue.is_empty();
        if want != self.armed {
            let base = ier::RX_AVAILABLE | ier::LINE_STATUS;
            uart.write(
                reg::INTERRUPT_ENABLE,
                if want { base | ier::TX_EMPTY } else { base },
            );
            self.armed = want;
        }
    }
}

/// Longest console line kept; the rest of a longer line is dropped.
pub const LINE_BYTES: usize = 80;

/// What a key did to the line being edited.
#[derive(Debug, PartialEq, Eq)]
pub enum Key {
    /// Echo this byte.
    Echo(u8),
    /// The last byte was erased: rub it out on the screen.
    Erase,
    /// A whole line was entered (the line is returned by `take_line`).
    Line,
    /// Nothing to show.
    Nothing,
}

/// What rubs out the last character on a terminal.
pub const ERASE_SEQUENCE: &[u8] = b"\x08 \x08";

/// The serial console's line editor: printable bytes, backspace, enter.
#[derive(Default)]
pub struct LineEditor {
    line: Vec<u8, LINE_BYTES>,
    /// Bytes dropped because a line was too long.
    pub overflowed: u64,
}

const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7f;

impl LineEditor {
    /// Feeds one received byte.
    pub fn key(&mut self, byte: u8) -> Key {
        match byte {
            b'\r' | b'\n' => Key::Line,
            BACKSPACE | DELETE => {
                if self.line.pop().is_some() {
                    Key::Erase
                } else {
                    Key::Nothing
                }
            }
            0x20..=0x7e => {
                if self.line.push(byte).is_ok() {
                    Key::Echo(byte)
                } else {
                    self.overflowed += 1;
                    Key::Nothing
                }
            }
            _ => Key::Nothing,
        }
    }

    /// The entered line (trimmed), leaving the editor empty.
    pub fn take_line(&mut self, out: &mut [u8; LINE_BYTES]) -> usize {
        let text = trim(&self.line);
        out[..text.len()].copy_from_slice(text);
        let length = text.len();
        self.line.clear();
        length
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != b' ').unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| *b != b' ')
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// The console's commands.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Help,
    /// Every component's state (the status page).
    Status,
    /// The driver's own counters.
    Stats,
    /// An empty line.
    Empty,
    Unknown(&'a [u8]),
}

impl<'a> Command<'a> {
    pub fn parse(line: &'a [u8]) -> Command<'a> {
        match trim(line) {
            b"" => Command::Empty,
            b"help" | b"?" => Command::Help,
            b"status" => Command::Status,
            b"stats" => Command::Stats,
            other => Command::Unknown(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A register file that drains its transmit FIFO at once and records
    /// what was sent.
    #[derive(Default)]
    struct Registers {
        regs: RefCell<[u8; 8]>,
        wire: RefCell<std::vec::Vec<u8>>,
    }

    impl Uart for Registers {
        fn read(&self, register: u16) -> u8 {
            match register {
                reg::LINE_STATUS => lsr::TX_EMPTY,
                r => self.regs.borrow()[usize::from(r)],
            }
        }
        fn write(&self, register: u16, value: u8) {
            if register == reg::DATA
                && self.regs.borrow()[usize::from(reg::LINE_CONTROL)] & DLAB == 0
            {
                self.wire.borrow_mut().push(value);
            } else {
                self.regs.borrow_mut()[usize::from(register)] = value;
            }
        }
    }

    #[test]
    fn set_up_programs_8n1_and_receive_interrupts() {
        let uart = Registers::default();
        assert!(set_up(&uart));
        let regs = uart.regs.borrow();
        assert_eq!(regs[usize::from(reg::LINE_CONTROL)], LINE_8N1);
        assert_eq!(
            regs[usize::from(reg::INTERRUPT_ENABLE)],
            ier::RX_AVAILABLE | ier::LINE_STATUS
        );
        assert_eq!(
            regs[usize::from(reg::MODEM_CONTROL)] & 0b1000,
            0b1000,
            "OUT2 gates the IRQ"
        );
    }

    #[test]
    fn the_transmit_interrupt_is_armed_only_while_bytes_wait() {
        let uart = Registers::default();
        let mut tx = Transmitter::default();
        assert_eq!(tx.queue(&[b'x'; 40]), 40);
        tx.pump(&uart);
        assert_eq!(uart.wire.borrow().len(), TX_FIFO_BYTES);
        assert_ne!(
            uart.regs.borrow()[usize::from(reg::INTERRUPT_ENABLE)] & ier::TX_EMPTY,
            0
        );
        tx.pump(&uart);
        tx.pump(&uart);
        assert_eq!(uart.wire.borrow().len(), 40);
        assert_eq!(
            uart.regs.borrow()[usize::from(reg::INTERRUPT_ENABLE)] & ier::TX_EMPTY,
            0
        );
        assert_eq!(tx.sent, 40);
    }

    #[test]
    fn a_full_queue_takes_what_fits_and_counts_the_rest() {
        let mut tx = Transmitter::default();
        let text = [b'y'; TX_QUEUE_BYTES + 10];
        assert_eq!(tx.queue(&text), TX_QUEUE_BYTES);
        assert_eq!(tx.dropped, 10);
        assert_eq!(tx.queue(b"z"), 0);
        assert_eq!(tx.dropped, 11);
    }

    #[test]
    fn the_line_editor_echoes_edits_and_bounds_lines() {
        let mut editor = LineEditor::default();
        assert_eq!(editor.key(b's'), Key::Echo(b's'));
        assert_eq!(editor.key(b'x'), Key::Echo(b'x'));
        assert_eq!(editor.key(DELETE), Key::Erase);
        for &b in b"tatus " {
            editor.key(b);
        }
        assert_eq!(editor.key(0x1b), Key::Nothing, "control bytes are ignored");
        assert_eq!(editor.key(b'\r'), Key::Line);
        let mut line = [0u8; LINE_BYTES];
        let n = editor.take_line(&mut line);
        assert_eq!(Command::parse(&line[..n]), Command::Status);
        for _ in 0..LINE_BYTES + 5 {
            editor.key(b'a');
        }
        assert_eq!(editor.overflowed, 5);
        assert_eq!(Command::parse(b"  help "), Command::Help);
        assert_eq!(Command::parse(b"reboot"), Command::Unknown(b"reboot"));
        assert_eq!(Command::parse(b""), Command::Empty);
    }
}
