//! Build-time configuration of the Ward kernel.
//!
//! Every tunable the kernel reads lives here with the reason for its value,
//! so that a platform port or a debug build changes one file. The kernel has
//! no heap, so these limits size its static tables.
#![no_std]
#![forbid(unsafe_code)]

/// Physical memory the kernel maps (and so can hand out as untyped). The
/// physical-memory window uses 2 MiB pages; 64 GiB costs 64 page directories
/// (256 KiB of kernel BSS). RAM above this is ignored with a console warning.
pub const MAX_PHYS_MEMORY: u64 = 64 << 30;

/// Physical address where the kernel image is loaded (the multiboot
/// convention: 1 MiB, above the BIOS area).
pub const KERNEL_PHYS_BASE: u64 = 0x10_0000;

/// RAM below this physical address is never handed out: it holds the BIOS
/// data area, the EBDA and option ROMs, which firmware may still use.
pub const LOW_MEMORY_RESERVED: u64 = 0x10_0000;

/// Size of the kernel stack. The kernel is not preemptible and its deepest
/// paths are bounded (no recursion), so a small stack is enough.
pub const KERNEL_STACK_SIZE: usize = 64 * 1024;

/// Scheduler tick, in Hz. 1 kHz keeps round-robin latency at 1 ms while the
/// tick handler's cost stays well under 1% of the CPU even under TCG.
pub const TIMER_HZ: u64 = 1000;

/// Default console log level when the command line gives none
/// (`loglevel=error|warn|info|debug|trace`).
pub const DEFAULT_LOG_LEVEL: &str = "info";

/// I/O port of QEMU's `isa-debug-exit` device, used for test verdicts.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Whether the debug syscalls (print, exit) are available to user programs.
/// They stay on while Ward is a simulation and teaching system; a production
/// build would turn them off and give components a console channel instead.
pub const DEBUG_SYSCALLS: bool = true;

/// Cores the kernel runs on at most. Per-core state (kernel stack, GDT and
/// TSS, ready queues, statistics) is sized by it: 16 covers the machines
/// Ward is tested on (QEMU `-smp` 1, 2 and 4) with room to spare, and the
/// kernel statistics page has room for exactly this many per-core records.
/// Cores the ACPI MADT lists beyond it stay halted (a console warning).
pub const MAX_CPUS: usize = 16;
