//! Program start-up and the panic handler.
//!
//! The kernel (or, later, the root task) starts a program at `_start` with
//! one argument in `rdi`. `_start` aligns the stack as the System V ABI
//! expects at a call and calls the entry function named with [`entry!`].
//! A panic is printed with its location and ends the program; until the
//! supervisor exists, that ends the run with [`PANIC_STATUS`].

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
    crate::println!("panic: {}", info);
    crate::syscall::debug_exit(PANIC_STATUS)
}
