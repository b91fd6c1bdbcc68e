//! The Ward root task: the first user program, holding every capability.
//!
//! It reports what the kernel gave it (untyped memory, boot modules), then
//! decodes the compiled system description (`system.bin`, a boot module),
//! builds every component exactly as it says ([`system`]), prints the boot
//! report ([`report`]) and becomes the supervisor ([`supervisor`]).
//!
//! Arguments (its module command line):
//! - `audit`: print every component's CSpace in the `capctl audit` format
//!   (as `[system] audit = true` in system.toml does)
//!   once the system is built;
//! - `exit-after=MS`: end the run (status 0) after MS milliseconds of
//!   supervision, with a summary (for test scenarios);
//! - `test=NAME`: a self-test instead of the system, for the scenario
//!   harness: `test=boot`, `test=fault-pf`, `test=fault-gp`,
//!   `test=fault-ud`, `test=fault-de` ([`faults`]), `test=syscalls`
//!   ([`syscall_test`]).
#![no_std]
#![no_main]

mod devices;
mod faults;
mod inject;
mod pci;
mod report;
mod resources;
mod supervisor;
mod syscall_test;
mod system;

use ward_userlib::abi::bootinfo::BootInfo;
use ward_userlib::abi::layout::ROOT_BOOTINFO_VADDR;
use ward_userlib::{println, syscall};

ward_userlib::entry!(main);

/// The line the run scripts and scenarios wait for.
const READY_LINE: &str = "ward: system ready";
/// The boot module holding the compiled system description.
const SPEC_MODULE: &str = "system.bin";
/// The supervisor's priority: above every component (capctl allows 1..=254).
const SUPERVISOR_PRIORITY: u64 = ward_sysspec::SUPERVISOR_PRIORITY as u64;

/// The boot-info block the kernel mapped for us.
fn boot_info(argument: u64) -> &'static BootInfo {
    assert_eq!(
        argument, ROOT_BOOTINFO_VADDR,
        "the kernel passes the boot-info address"
    );
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
    println!(
        "root task: kernel command line: '{}'",
        info.kernel_cmdline()
    );
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
            if region.is_device != 0 {
                " (device)"
            } else {
                ""
            }
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
    println!(
        "Ward root task {} — builds the system from system.toml and supervises it",
        env!("CARGO_PKG_VERSION")
    );
    let info = boot_info(argument);
    print_boot_info(info);

    let test = info
        .root_cmdline()
        .split_ascii_whitespace()
        .find_map(|word| word.strip_prefix("test="));
    match test {
        None => run_system(info),
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
                println!(
                    "root task: unknown test '{kind}' (known: boot, syscalls, {})",
                    faults::KINDS
                );
                syscall::debug_exit(1);
            }
        },
    }
}

/// The value of `key=value` among the root task's arguments.
fn argument<'a>(info: &'a BootInfo, key: &str) -> Option<&'a str> {
    info.root_cmdline()
        .split_ascii_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
}

/// Builds the system from `system.bin` and supervises it.
fn run_system(info: &'static BootInfo) {
    let audit_argument = info
        .root_cmdline()
        .split_ascii_whitespace()
        .any(|word| word == "audit");
    let exit_after_ms: u64 = argument(info, "exit-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let Some(module) = system::find_module(info, SPEC_MODULE) else {
        println!(
            "ward: boot error: no boot module '{SPEC_MODULE}' (build the image with capctl build)"
        );
        return;
    };
    // SAFETY: the kernel maps every boot module read-only at the address the
    // boot info gives, `len` bytes long, and never unmaps or changes it.
    let bytes = unsafe { core::slice::from_raw_parts(module.0 as *const u8, module.1 as usize) };
    let spec = match ward_sysspec::Spec::decode(bytes) {
        Ok(spec) => spec,
        Err(e) => {
            println!("ward: boot error: {SPEC_MODULE}: {e}");
            return;
        }
    };
    // The dump is asked for by the system itself (`[system] audit = true`)
    // or by the root task's argument `audit`.
    let audit = audit_argument || spec.audit_at_boot();
    println!(
        "ward: system '{}': {} components, {} regions, {} devices, {} channels, {} capabilities",
        spec.name(),
        spec.components.len(),
        spec.regions.len(),
        spec.devices.len(),
        spec.channels.len(),
        spec.caps.len()
    );
    // The supervisor runs above every component (their priorities are 1..=254).
    let root_tcb = ward_rootkit::bootinfo::RootCaps::new().tcb;
    if let Err(e) =
        root_tcb.tcb_set_sched_params(root_tcb, SUPERVISOR_PRIORITY, SUPERVISOR_PRIORITY)
    {
        println!(
            "ward: warning: cannot raise the supervisor to priority {SUPERVISOR_PRIORITY}: {e}"
        );
    }
    let mut system = match system::System::new(info, spec) {
        Ok(system) => system,
        Err(e) => {
            println!("ward: boot error: {e}");
            return;
        }
    };
    println!(
        "ward: PCI: {} functions on bus 0; IOMMU {}",
        system.bus.functions.len(),
        if system.iommu { "on" } else { "off" }
    );
    system.bind_devices();
    let clock = supervisor::Clock::start(&mut system);
    if clock.is_none() {
        println!("ward: warning: no clock (RTC ports or IOAPIC line 8 refused); no heartbeats, backoffs or restarts on time");
    }
    for index in 0..system.instances.len() {
        if let Err(e) = system.build(index) {
            println!("ward: boot error: component {}: {e}", system.name(index));
        }
    }
    report::print_table(&system);
    report::print_shared(&system);
    if audit {
        report::print_dump(&system);
    }
    println!("{READY_LINE}");
    // The supervisor's clock (campaign times, detection latencies) runs at
    // the kernel's calibrated TSC rate, as every component's does.
    ward_userlib::time::set_tsc_hz(system.tsc_hz);
    match inject::parse(&system, info.root_cmdline()) {
        Ok(Some(campaign)) => {
            system.injector = Some(inject::Injector::new(campaign, &system));
        }
        Ok(None) => {}
        Err(e) => println!("ward: {e}; no faults will be injected"),
    }
    let limits = supervisor::Limits {
        exit_after_ticks: exit_after_ms
            .div_ceil(supervisor::TICK_US / 1000)
            .max(if exit_after_ms > 0 { 1 } else { 0 }),
    };
    supervisor::run(&mut system, clock.as_ref(), limits);
    syscall::debug_exit(0);
}
