//! The Ward microkernel.
//!
//! Boot order: the console, descriptor tables and the kernel's own page
//! tables; then what the loader handed over (memory map, modules, command
//! line); interrupt controllers and the timer; the `syscall` entry; the root
//! task's address space; the remaining RAM as untyped memory described in the
//! root task's boot info; and finally the first switch to user mode. From
//! then on the kernel only runs when a trap, interrupt or syscall enters it.
#![no_std]
#![no_main]
// Every `unsafe` block says why it is sound, and an `unsafe fn` body is no
// licence for unmarked unsafe operations (issue 16's aliasing rules).
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]

mod arch;
mod bkl;
mod boot;
mod cnode;
mod console;
mod cpu_local;
mod fastpath;
mod fault;
mod invocation;
mod ioport;
mod iospace;
mod ipc;
mod irq;
mod kobj;
mod platform;
mod sched;
mod smp;
mod stats;
mod syscall;
mod tcb;
mod thread;
mod traps;
mod untyped;
mod user_memory;
mod vspace;

use arch::x86_64::{apic, cpu, gdt, idt, io, paging, pic};
use boot::multiboot;
use ward_abi::bootinfo::{self, BootInfo, BOOTINFO_MAGIC, BOOTINFO_VERSION};
use ward_kernel_config as config;
use ward_kernel_core::cmdline::{split_module_cmdline, KernelArgs, LogLevel};
use ward_kernel_core::phys_memory::PhysMemory;

/// Guest status for a boot error (bad or missing root task, no memory map).
pub const EXIT_BOOT_ERROR: u8 = 0x31;
/// Guest status for a kernel panic or a fault inside the kernel.
pub const EXIT_KERNEL_PANIC: u8 = 0x32;
/// Guest status for `idle=exit`: every thread stopped, the kernel is alive.
pub const EXIT_ALL_THREADS_STOPPED: u8 = 0x20;

/// Ends the run with `status` through QEMU's `isa-debug-exit` device. On a
/// machine without it the write does nothing, so the CPU halts instead.
pub fn debug_exit(status: u8) -> ! {
    // The harness reads this line to tell a guest success from QEMU's own
    // error exit, which has the same exit code.
    console::print_always(format_args!("ward: run ends with status {status:#04x}"));
    io::outb(config::DEBUG_EXIT_PORT, status);
    console::print_always(format_args!("ward: no debug-exit device; halting"));
    cpu::halt_forever()
}

/// Reports an unrecoverable kernel condition and stops.
pub fn kernel_fatal(args: core::fmt::Arguments) -> ! {
    console::print_always(format_args!("[FATAL] {args}"));
    debug_exit(EXIT_KERNEL_PANIC)
}

/// Reports a boot error (the system cannot start) and stops cleanly.
fn boot_error(args: core::fmt::Arguments) -> ! {
    console::print_always(format_args!("[ERROR] boot error: {args}"));
    console::print_always(format_args!("ward: the system cannot start; halting"));
    debug_exit(EXIT_BOOT_ERROR)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    kernel_fatal(format_args!("kernel panic: {info}"))
}

/// Offers the physical address space between the top of low RAM and 4 GiB —
/// where PCI BARs and the ECAM window live — as device untyped, except the
/// pages of the kernel's own devices (local APIC, IOAPICs, VT-d units),
/// which no user ever gets. Drivers' BARs are retyped into frames from it.
fn add_device_untyped(
    untyped: &mut ward_kernel_core::phys_memory::UntypedList,
    boot: &multiboot::BootData,
    platform: Option<&ward_kernel_core::acpi::Platform>,
) {
    const FOUR_GIB: u64 = 1 << 32;
    let low_ram_top = boot
        .ram
        .iter()
        .filter(|r| r.start < FOUR_GIB)
        .map(|r| r.end.min(FOUR_GIB))
        .max()
        .unwrap_or(0);
    let mut device = PhysMemory::new();
    if device.add_ram(low_ram_top, FOUR_GIB).is_err() {
        return;
    }
    let mut kernel_pages = heapless::Vec::<u64, 16>::new();
    let _ = kernel_pages.push(cpu::rdmsr(cpu::MSR_APIC_BASE) & !0xfff);
    if let Some(platform) = platform {
        for ioapic in &platform.ioapics {
            let _ = kernel_pages.push(ioapic.address & !0xfff);
        }
        if let Some(dmar) = &platform.dmar {
            for unit in &dmar.units {
                let _ = kernel_pages.push(unit.register_base & !0xfff);
            }
        }
    }
    for page in kernel_pages {
        let _ = device.reserve(page, page + 0x1000);
    }
    for mut region in device.to_untyped().regions {
        region.is_device = 1;
        if untyped.regions.push(region).is_err() {
            untyped.dropped_bytes += region.size();
        }
    }
}

#[no_mangle]
extern "C" fn kernel_main(magic: u32, info: u64) -> ! {
    console::init();
    gdt::init(0);
    idt::init();
    paging::init_kernel_address_space();
    smp::init_bootstrap_processor();
    // Every core takes the big kernel lock before it first schedules: the
    // bootstrap processor holds it from here on, while it builds the system.
    bkl::acquire();
    log::info!("Ward kernel {} starting", env!("CARGO_PKG_VERSION"));

    let boot = match multiboot::read(magic, info) {
        Ok(boot) => boot,
        Err(error) => boot_error(format_args!("{error}")),
    };
    let default_level = LogLevel::parse(config::DEFAULT_LOG_LEVEL).unwrap_or(LogLevel::Info);
    let args = KernelArgs::parse(&boot.cmdline, default_level);
    console::set_level(args.log_level);
    sched::set_idle_policy(args.idle);
    if let Some(word) = args.first_unknown {
        log::warn!("kernel command line: ignoring '{word}' (known: loglevel=error|warn|info|debug|trace, idle=exit|wait, cpus=N with N >= 1)");
    }
    if boot.ignored_entries > 0 {
        log::warn!(
            "boot loader tables too long: {} entries ignored",
            boot.ignored_entries
        );
    }

    let platform = platform::discover();
    pic::remap_and_mask();
    if let Some(ioapic) = platform.as_ref().and_then(|p| p.ioapics.first()) {
        arch::x86_64::ioapic::init(ioapic.address);
    }
    apic::init(config::TIMER_HZ);
    syscall::init();
    let cores = match platform.as_ref() {
        Some(platform) => smp::start_application_processors(&platform.cpus, args.cpus),
        None => 1,
    };
    log::info!(
        "smp: {cores} core(s) running{}",
        if cores > 1 { "; big kernel lock" } else { "" }
    );

    // Free memory: RAM minus low memory, the kernel image and the modules.
    let mut memory = PhysMemory::new();
    for range in &boot.ram {
        let end = range.end.min(config::MAX_PHYS_MEMORY);
        if range.end > config::MAX_PHYS_MEMORY {
            log::warn!(
                "RAM above {:#x} is not used (kernel-config MAX_PHYS_MEMORY)",
                config::MAX_PHYS_MEMORY
            );
        }
        if memory.add_ram(range.start, end).is_err() {
            log::warn!(
                "memory map too fragmented; RAM at {:#x} ignored",
                range.start
            );
        }
    }
    let (kernel_start, kernel_end) = paging::kernel_image_range();
    let reservations = [(0, config::LOW_MEMORY_RESERVED), (kernel_start, kernel_end)];
    let modules = boot.modules.iter().map(|m| (m.start, m.end));
    for (start, end) in reservations.into_iter().chain(modules) {
        if memory.reserve(start, end).is_err() {
            boot_error(format_args!(
                "memory map too fragmented to reserve {start:#x}..{end:#x}"
            ));
        }
    }

    let root_name = boot
        .modules
        .first()
        .map(|m| split_module_cmdline(&m.cmdline).0)
        .unwrap_or("");
    let root = match boot::root_task::build(&boot, &mut memory) {
        Ok(root) => root,
        Err(error) => boot_error(format_args!("root task module '{root_name}': {error}")),
    };

    // VT-d: tables from boot memory, then translation on (all DMA blocked).
    if let Some(unit) = platform
        .as_ref()
        .and_then(|p| p.dmar.as_ref())
        .and_then(|d| d.units.first())
    {
        match memory.allocate(arch::x86_64::vtd::TABLE_BYTES, paging::PAGE_SIZE) {
            Some(tables) => arch::x86_64::vtd::init(unit.register_base, tables),
            None => log::warn!("VT-d: no memory for its tables; DMA remapping stays off"),
        }
        // The IOAPIC's source id, from the DMAR's device scopes, lets the
        // remapping entries of its lines check where interrupts come from.
        let ioapic_source = platform.as_ref().and_then(|p| {
            let id = p.ioapics.first()?.id;
            p.dmar
                .as_ref()?
                .units
                .iter()
                .flat_map(|u| u.scopes.iter())
                .find(|s| s.kind == 3 && s.enumeration_id == id)
                .map(|s| {
                    (u16::from(s.bus) << 8) | (u16::from(s.device) << 3) | u16::from(s.function)
                })
        });
        irq::enable_remapping(ioapic_source);
        // Firmware-reserved regions (RMRRs) stay mapped for the devices that use them.
        if let Some(dmar) = platform.as_ref().and_then(|p| p.dmar.as_ref()) {
            let mut regions = heapless::Vec::<(u64, u64), 8>::new();
            let mut devices = heapless::Vec::<u16, 8>::new();
            for region in &dmar.reserved_regions {
                let _ = regions.push((region.base, region.limit));
                for scope in region.scopes.iter().filter(|s| s.kind == 1) {
                    let id = (u16::from(scope.bus) << 8)
                        | (u16::from(scope.device) << 3)
                        | u16::from(scope.function);
                    if !devices.contains(&id) {
                        let _ = devices.push(id);
                    }
                }
            }
            iospace::map_reserved_regions(&regions, &devices, &mut || {
                let page = memory.allocate(paging::PAGE_SIZE, paging::PAGE_SIZE)?;
                paging::zero_page(page);
                Some(page)
            });
        }
    }
    let mut untyped = memory.to_untyped();
    add_device_untyped(&mut untyped, &boot, platform.as_ref());
    if untyped.dropped_bytes > 0 {
        log::warn!(
            "{} bytes of RAM left out: more than {} untyped regions",
            untyped.dropped_bytes,
            bootinfo::MAX_UNTYPED
        );
    }
    // SAFETY: the boot-info pages were allocated (zeroed) for this purpose and
    // are mapped read-only in the root task, which has not run yet; BootInfo
    // is plain data for which all-zero bytes are valid and it is 8-aligned.
    let info = unsafe { &mut *(paging::phys_to_virt(root.bootinfo) as *mut BootInfo) };
    info.magic = BOOTINFO_MAGIC;
    info.version = BOOTINFO_VERSION;
    info.untyped_count = untyped.regions.len() as u32;
    info.untyped[..untyped.regions.len()].copy_from_slice(&untyped.regions);
    let ram_bytes: u64 = untyped
        .regions
        .iter()
        .filter(|r| r.is_device == 0)
        .map(|r| r.size())
        .sum();
    info.untyped_ram_bytes = ram_bytes;
    info.module_count = boot.modules.len() as u32;
    for (index, module) in boot.modules.iter().enumerate() {
        let desc = &mut info.modules[index];
        desc.paddr = module.start;
        desc.len = module.end - module.start;
        desc.vaddr = root.module_vaddrs.get(index).copied().unwrap_or(0);
        desc.name_len = bootinfo::fill_text(&mut desc.name, &module.cmdline) as u64;
    }
    info.kernel_cmdline_len = bootinfo::fill_text(&mut info.kernel_cmdline, &boot.cmdline) as u32;
    if let Some(window) = platform
        .as_ref()
        .and_then(|p| p.ecam.iter().find(|w| w.segment == 0))
    {
        info.platform.ecam_base = window.base;
        info.platform.ecam_start_bus = window.start_bus;
        info.platform.ecam_end_bus = window.end_bus;
    }
    info.platform.iommu = u8::from(arch::x86_64::vtd::enabled());
    info.platform.ioapic_lines = arch::x86_64::ioapic::lines() as u8;
    info.platform.interrupt_remapping = u8::from(arch::x86_64::vtd::remapping());
    info.platform.tsc_hz = apic::tsc_hz();
    info.platform.cpus = cores as u8;
    let root_args = boot
        .modules
        .first()
        .map(|m| split_module_cmdline(&m.cmdline).1)
        .unwrap_or("");
    info.root_cmdline_len = bootinfo::fill_text(&mut info.root_cmdline, root_args) as u32;

    boot::root_task::install_caps(&root, &untyped, &boot, info);
    log::info!(
        "memory: {} MiB of RAM and {} MiB of device space as {} untyped regions; root task '{}' entry {:#x}",
        ram_bytes >> 20,
        (untyped.total_bytes() - ram_bytes) >> 20,
        untyped.regions.len(),
        root_name,
        root.entry
    );
    sched::schedule_and_run()
}
