//! Program start-up and the panic handler.
//!
//! The kernel (or, later, the root task) starts a program at `_start` with
//! one argument in `rdi`. `_start` aligns the stack as the System V ABI
//! expects at a call and calls the entry function named with [`entry!`].
//! A panic is printed with its location; in a component it is sent to the
//! supervisor and the thread faults (see [`crate::component`]), elsewhere
//! (the root task, test programs) it ends the run with [`PANIC_STATUS`].

/// Run status reported when a user program panics.
pub const PANIC_STATUS: u8 = 0x33;

/// Declares the program's entry function: `fn(u64)`. If it returns, the
/// program stays idle (yielding) rather than running off into nothing.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        extern "C" fn ward_program_entry(argument: u64) -> ! {
            let main: fn(u64) = $main;
            main(argument);
            loop {
                $crate::syscall::yield_now();
            }
        }
    };
}

#[cfg(target_os = "none")]
core::arch::global_asm!(
    ".global _start",
    "_start:",
    "    xor ebp, ebp",
    "    and rsp, -16",
    "    call ward_program_entry",
    "    ud2",
);

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if crate::component::is_component() {
        // Tell the supervisor why, then fault: the fault is what makes it
        // apply the restart policy.
        let mut text = PanicText {
            bytes: [0; crate::component::CONSOLE_CHUNK_BYTES],
            used: 0,
        };
        match info.location() {
            Some(at) => {
                let _ = core::fmt::Write::write_fmt(
                    &mut text,
                    format_args!("{} at {}:{}", info.message(), at.file(), at.line()),
                );
            }
            None => {
                let _ = core::fmt::Write::write_fmt(&mut text, format_args!("{}", info.message()));
            }
        }
        crate::component::send_console(
            crate::component::console_label::PANIC,
            &text.bytes[..text.used],
        );
        // SAFETY: `ud2` raises #UD on purpose; the supervisor receives the
        // fault and never resumes this thread at this instruction.
        unsafe { core::arch::asm!("ud2", options(noreturn)) }
    }
    crate::println!("panic: {}", info);
    crate::syscall::debug_exit(PANIC_STATUS)
}

/// A panic message cut to one console chunk.
#[cfg(target_os = "none")]
struct PanicText {
    bytes: [u8; crate::component::CONSOLE_CHUNK_BYTES],
    used: usize,
}

#[cfg(target_os = "none")]
impl core::fmt::Write for PanicText {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.bytes.len() - self.used;
        let take = s.len().min(room);
        self.bytes[self.used..self.used + take].copy_from_slice(&s.as_bytes()[..take]);
        self.used += take;
        Ok(())
    }
}
