//! The Ward root task: the first user program, holding every capability.
//!
//! Today it reports what the kernel gave it — the untyped memory regions and
//! the boot modules — and announces that the system is ready. Building the
//! components of `system.toml` and supervising them arrives with the object
//! model. The root task's arguments (its module command line) select a
//! self-test for the scenario harness: `test=boot`, `test=fault-pf`,
//! `test=fault-gp`, `test=fault-ud`, `test=fault-de`, `test=syscalls`.
#![no_std]
#![no_main]

mod faults;
mod syscall_test;

use ward_userlib::abi::bootinfo::BootInfo;
use ward_userlib::abi::layout::ROOT_BOOTINFO_VADDR;
use ward_userlib::{println, syscall};

ward_userlib::entry!(main);

/// The line the run scripts and scenarios wait for.
const READY_LINE: &str = "ward: system ready";

/// The boot-info block the kernel mapped for us.
fn boot_info(argument: u64) -> &'static BootInfo {
    assert_eq!(argument, ROOT_BOOTINFO_VADDR, "the kernel passes the boot-info address");
    // SAFETY: the kernel maps the boot-info pages read-only at this fixed
    // address before the root task starts and never changes or unmaps them;
    // the block is plain data, aligned, and every bit pattern is valid.
    let info = unsafe { &*(ROOT_BOOTINFO_VADDR as *const BootInfo) };
    assert!(info.is_valid(), "boot info has a wrong magic or version");
    info
}

fn human_size(bytes: u64) -> (u64, &'static str) {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => (b >> 30, "GiB"),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => (b >> 20, "MiB"),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => (b >> 10, "KiB"),
        b => (b, "B"),
    }
}

fn print_boot_info(info: &BootInfo) {
    println!("root task: kernel command line: '{}'", info.kernel_cmdline());
    println!("root task: arguments: '{}'", info.root_cmdline());
    println!(
        "root task: {} untyped regions, {} MiB of RAM:",
        info.untyped().len(),
        info.untyped_ram_bytes >> 20
    );
    for (index, region) in info.untyped().iter().enumerate() {
        let (size, unit) = human_size(region.size());
        println!(
            "  untyped {:3}: {:#014x}..{:#014x}  2^{:<2} = {:4} {}{}",
            index,
            region.paddr,
            region.paddr + region.size(),
            region.size_bits,
            size,
            unit,
            if region.is_device != 0 { " (device)" } else { "" }
        );
    }
    println!("root task: {} boot modules:", info.modules().len());
    for (index, module) in info.modules().iter().enumerate() {
        println!(
            "  module {}: '{}' at {:#x}, {} bytes, mapped at {:#x}",
            index,
            module.name(),
            module.paddr,
            module.len,
            module.vaddr
        );
    }
}

fn main(argument: u64) {
    println!("Ward root task {} — builds the system from system.toml and supervises it", env!("CARGO_PKG_VERSION"));
    let info = boot_info(argument);
    print_boot_info(info);

    let test = info.root_cmdline().split_ascii_whitespace().find_map(|word| word.strip_prefix("test="));
    match test {
        None => {
            println!("{READY_LINE}");
            println!("root task: nothing more to do until the object model lands; idling");
        }
        Some("boot") => {
            println!("{READY_LINE}");
            syscall::debug_exit(0);
        }
        Some("syscalls") => {
            let passed = syscall_test::run();
            syscall::debug_exit(if passed { 0 } else { 1 });
        }
        Some(kind) => match faults::provoke(kind) {
            Some(never) => match never {},
            None => {
                println!("root task: unknown test '{kind}' (known: boot, syscalls, {})", faults::KINDS);
                syscall::debug_exit(1);
            }
        },
    }
}
