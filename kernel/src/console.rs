//! The kernel console: levelled log messages on COM1.
//!
//! Messages look like `[WARN ] fault: ...`. The level comes from the command
//! line (`loglevel=`), defaulting to the kernel configuration. User programs'
//! debug output is written raw, without a prefix.
use crate::arch::x86_64::serial;
use core::fmt::Write;
use spin::Mutex;

/// Serialises console output (one CPU today; an interrupt handler could
/// still log while the kernel is printing once multicore lands).
static CONSOLE: Mutex<()> = Mutex::new(());

struct SerialWriter;

impl Write for SerialWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        serial::write_bytes(s.as_bytes());
        Ok(())
    }
}

struct KernelLogger;

impl log::Log for KernelLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let _guard = CONSOLE.lock();
        let _ = writeln!(SerialWriter, "[{:<5}] {}", record.level(), record.args());
    }

    fn flush(&self) {}
}

static LOGGER: KernelLogger = KernelLogger;

/// Starts the console at the default level.
pub fn init() {
    serial::init();
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}

/// Changes the console level.
pub fn set_level(level: ward_kernel_core::cmdline::LogLevel) {
    use ward_kernel_core::cmdline::LogLevel::*;
    log::set_max_level(match level {
        Error => log::LevelFilter::Error,
        Warn => log::LevelFilter::Warn,
        Info => log::LevelFilter::Info,
        Debug => log::LevelFilter::Debug,
        Trace => log::LevelFilter::Trace,
    });
}

/// Writes bytes as they are (user debug output).
pub fn write_raw(bytes: &[u8]) {
    let _guard = CONSOLE.lock();
    serial::write_bytes(bytes);
}

/// Writes a formatted line with no level prefix, whatever the level (boot
/// errors and panics must always reach the console).
pub fn print_always(args: core::fmt::Arguments) {
    let _guard = CONSOLE.try_lock();
    let _ = SerialWriter.write_fmt(args);
    let _ = SerialWriter.write_str("\n");
}
