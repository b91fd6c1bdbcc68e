//! `serial`: the driver of COM2, a 16550 UART, and the system's simplest
//! driver — programmed I/O through the eight IO ports system.toml grants it,
//! its interrupt as a notification bit, no DMA.
//!
//! It serves the `serial-log` endpoint (clients hand it text, which goes
//! out on the wire) and a small console on the same line (`help`,
//! `status`, `stats`). Transmit and receive are driven by the UART's
//! interrupt: the transmit FIFO is refilled 16 bytes at a time when the UART
//! says it is empty, received bytes are read when it says they are there.
//! It never polls the line.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/caps.rs"));
}

use core::fmt::Write as _;

use ward_serial::{iir, lsr, reg, Command, Key, LineEditor, Transmitter, Uart, LINE_BYTES};
use ward_userlib::component::{self, Incoming, StatusPage, CONSOLE_CHUNK_BYTES};
use ward_userlib::spec::Ports;
use ward_userlib::{message, println, syscall, text_channel, time};

ward_userlib::component!(main, caps);

/// Most interrupt causes handled in one go: the UART reports one cause at a
/// time, highest priority first; a device that never stops asserting one
/// is left for the next interrupt instead of holding the driver.
const CAUSES_PER_INTERRUPT: usize = 32;

/// The UART behind the driver's IO-port capability.
struct Com2(Ports);

impl Uart for Com2 {
    fn read(&self, register: u16) -> u8 {
        self.0
            .cap
            .io_port_in8(self.0.base + register)
            .unwrap_or(0xff)
    }
    fn write(&self, register: u16, value: u8) {
        let _ = self.0.cap.io_port_out8(self.0.base + register, value);
    }
}

/// The driver's counters, shown by the `stats` command.
#[derive(Default)]
struct Counters {
    interrupts: u64,
    received: u64,
    line_errors: u64,
    overruns: u64,
    writes: u64,
}

/// Formats into a fixed buffer (the console's lines are short).
struct Text {
    bytes: [u8; 256],
    length: usize,
}

impl Text {
    fn new() -> Text {
        Text {
            bytes: [0; 256],
            length: 0,
        }
    }
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.length]
    }
}

impl core::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.bytes.len() - self.length;
        let n = s.len().min(room);
        self.bytes[self.length..self.length + n].copy_from_slice(&s.as_bytes()[..n]);
        self.length += n;
        Ok(())
    }
}

struct Driver {
    uart: Com2,
    tx: Transmitter,
    editor: LineEditor,
    counters: Counters,
}

impl Driver {
    fn say(&mut self, text: &[u8]) {
        self.tx.queue(text);
    }

    /// Everything the UART has to say, until it says nothing is pending.
    fn service_interrupt(&mut self) {
        self.counters.interrupts += 1;
        for _ in 0..CAUSES_PER_INTERRUPT {
            let cause = self.uart.read(reg::INTERRUPT_ID);
            if cause & iir::NONE_PENDING != 0 {
                break;
            }
            match cause & iir::CAUSE_MASK {
                iir::LINE_STATUS => {
                    let status = self.uart.read(reg::LINE_STATUS);
                    self.counters.line_errors += 1;
                    if status & lsr::OVERRUN != 0 {
                        self.counters.overruns += 1;
                    }
                }
                iir::RX_AVAILABLE | iir::RX_TIMEOUT => self.receive(),
                // Reading the identification register cleared it; refill below.
                _ => {}
            }
        }
        self.tx.pump(&self.uart);
    }

    fn receive(&mut self) {
        while self.uart.read(reg::LINE_STATUS) & lsr::DATA_READY != 0 {
            let byte = self.uart.read(reg::DATA);
            self.counters.received += 1;
            match self.editor.key(byte) {
                Key::Echo(b) => self.say(&[b]),
                Key::Erase => self.say(ward_serial::ERASE_SEQUENCE),
                Key::Line => {
                    self.say(b"\r\n");
                    let mut line = [0u8; LINE_BYTES];
                    let length = self.editor.take_line(&mut line);
                    self.command(&line[..length]);
                }
                Key::Nothing => {}
            }
        }
    }

    fn command(&mut self, line: &[u8]) {
        match Command::parse(line) {
            Command::Empty => {}
            Command::Help => {
                self.say(b"commands: help, status (every component), stats (this driver)\r\n")
            }
            Command::Status => {
                let page = StatusPage::mapped();
                let hz = time::tsc_hz();
                for index in 0..page.count() {
                    let Some(entry) = page.entry(index) else {
                        continue;
                    };
                    let mut text = Text::new();
                    let _ = write!(
                        text,
                        "{:<12} {:<11} generation {:<3} restarts {:<2} cpu {} ms\r\n",
                        entry.name(),
                        component::status::state_name(entry.state),
                        entry.generation,
                        entry.restarts,
                        time::ticks_to_duration(entry.cpu_ticks, hz).as_millis()
                    );
                    self.say(text.as_bytes());
                }
            }
            Command::Stats => {
                let mut text = Text::new();
                let c = &self.counters;
                let _ = write!(
                    text,
                    "serial: {} interrupts, {} bytes in, {} out, {} dropped, {} line errors ({} overruns), {} writes, {} over-long line bytes\r\n",
                    c.interrupts,
                    c.received,
                    self.tx.sent,
                    self.tx.dropped,
                    c.line_errors,
                    c.overruns,
                    c.writes,
                    self.editor.overflowed
                );
                self.say(text.as_bytes());
            }
            Command::Unknown(_) => self.say(b"unknown command; try help\r\n"),
        }
    }

    /// A client's text: queued as far as it fits, the reply says how much.
    fn write_request(&mut self, request: &syscall::Received) {
        let mut text = [0u8; CONSOLE_CHUNK_BYTES];
        let taken = match text_channel::read(request, &mut text) {
            Some(length) => {
                self.counters.writes += 1;
                self.tx.queue(&text[..length])
            }
            None => 0,
        };
        let _ = syscall::reply(message::info(0, 1), [taken as u64, 0, 0, 0]);
        self.tx.pump(&self.uart);
    }
}

fn main(generation: u64) {
    let ports = caps::COM2_PORTS;
    let mut driver = Driver {
        uart: Com2(ports),
        tx: Transmitter::default(),
        editor: LineEditor::default(),
        counters: Counters::default(),
    };
    if !ward_serial::set_up(&driver.uart) {
        println!(
            "serial: no 16550 answers at port {:#x}; serial-log writes are answered and dropped",
            ports.base
        );
        answer_without_line();
    }
    let irq = caps::COM2_IRQ;
    let _ = irq.handler.irq_handler_ack();
    println!(
        "serial: generation {generation}; COM2 at port {:#x}, IOAPIC interrupt on bit {:#x}; serving serial-log",
        ports.base, irq.bit
    );
    driver.say(b"\r\nWard serial console (COM2). Type help.\r\n");
    driver.tx.pump(&driver.uart);
    loop {
        match component::receive_until(caps::SERIAL_LOG, None) {
            Incoming::Message(request) => driver.write_request(&request),
            Incoming::Signalled(bits) => {
                if bits & irq.bit != 0 {
                    driver.service_interrupt();
                    let _ = irq.handler.irq_handler_ack();
                }
            }
            Incoming::TimedOut => {}
        }
    }
}

/// With no UART behind the ports (a machine without COM2), clients still
/// get an answer — "0 bytes taken" — rather than a call that waits forever:
/// text for the line is lost, never the client.
fn answer_without_line() -> ! {
    loop {
        if let Incoming::Message(_) = component::receive_until(caps::SERIAL_LOG, None) {
            let _ = syscall::reply(message::info(0, 1), [0; 4]);
        }
    }
}
