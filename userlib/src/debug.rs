//! Console output with `print!` and `println!` macros: through the kernel's
//! debug print call, or, in a component, as console messages to the
//! supervisor (see [`crate::component`]). Output is buffered per call so a
//! line reaches the console in one piece.
use core::fmt::{self, Write};

/// Bytes gathered before a kernel call; a longer message is sent in pieces.
const BUFFER_SIZE: usize = 256;

struct ConsoleWriter {
    buffer: [u8; BUFFER_SIZE],
    used: usize,
}

impl ConsoleWriter {
    fn flush(&mut self) {
        if self.used > 0 {
            if crate::component::is_component() {
                crate::component::send_console(
                    crate::component::console_label::LOG,
                    &self.buffer[..self.used],
                );
            } else {
                let _ = crate::syscall::debug_print(&self.buffer[..self.used]);
            }
            self.used = 0;
        }
    }
}

impl Write for ConsoleWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &byte in s.as_bytes() {
            if self.used == BUFFER_SIZE {
                self.flush();
            }
            self.buffer[self.used] = byte;
            self.used += 1;
        }
        Ok(())
    }
}

/// Writes formatted text to the console. Used by the macros.
pub fn print(args: fmt::Arguments) {
    let mut writer = ConsoleWriter {
        buffer: [0; BUFFER_SIZE],
        used: 0,
    };
    let _ = writer.write_fmt(args);
    writer.flush();
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::debug::print(format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::debug::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::debug::print(format_args!("{}\n", format_args!($($arg)*))) };
}
