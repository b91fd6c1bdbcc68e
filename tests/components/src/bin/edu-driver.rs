//! `edu-driver` (tests/systems/edu.toml): drives QEMU's `edu` device through
//! the BAR page and the DMA window the spec grants. Generation 1 checks the
//! device, makes a DMA round trip inside its window, then programs a DMA
//! outside it, which the IOMMU blocks and the supervisor attributes to this
//! driver; later generations only check the window again. Each generation
//! also raises edu's interrupt and takes it on its notification bit.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/edu_driver.rs"));
}

use ward_userlib::cap::IrqHandler;
use ward_userlib::{component, println, syscall, Cap};

ward_userlib::component!(main, caps::LAYOUT_HASH);

/// edu's registers (offsets in BAR0).
const LIVENESS: u64 = 0x04;
const INTERRUPT_STATUS: u64 = 0x24;
const RAISE_INTERRUPT: u64 = 0x60;
const ACK_INTERRUPT: u64 = 0x64;
const DMA_SOURCE: u64 = 0x80;
const DMA_DESTINATION: u64 = 0x88;
const DMA_COUNT: u64 = 0x90;
const DMA_COMMAND: u64 = 0x98;
const DMA_START: u64 = 1 << 0;
const DMA_TO_RAM: u64 = 1 << 1;
/// The device-side address of edu's own 4 KiB buffer.
const DEVICE_BUFFER: u64 = 0x40000;
/// The IO address of the `edu-buffer` window (the spec's `iova`).
const WINDOW_IOVA: u64 = 0x0010_0000;
/// An IO address outside the window: the IOMMU must block it.
const OUTSIDE_IOVA: u64 = 0x7f0_0000;
/// Bytes per DMA.
const LENGTH: u64 = 64;
/// Yields while waiting for a DMA (edu finishes after 100 ms of virtual time).
const DMA_WAIT_YIELDS: u32 = 2_000_000;

fn register(offset: u64) -> u64 {
    caps::EDU_BAR0.vaddr + offset
}

fn write64(offset: u64, value: u64) {
    // SAFETY: EDU_BAR0 maps edu's register page uncached read-write; the
    // offsets are edu's DMA registers, which take 64-bit accesses.
    unsafe { core::ptr::write_volatile(register(offset) as *mut u64, value) }
}

fn read64(offset: u64) -> u64 {
    // SAFETY: as for `write64`.
    unsafe { core::ptr::read_volatile(register(offset) as *const u64) }
}

fn dma(source: u64, destination: u64, command: u64) -> bool {
    write64(DMA_SOURCE, source);
    write64(DMA_DESTINATION, destination);
    write64(DMA_COUNT, LENGTH);
    write64(DMA_COMMAND, command | DMA_START);
    for _ in 0..DMA_WAIT_YIELDS {
        if read64(DMA_COMMAND) & DMA_START == 0 {
            return true;
        }
        syscall::yield_now();
    }
    false
}

fn write32(offset: u64, value: u32) {
    // SAFETY: as for `write64`; edu's interrupt registers are 32 bits wide.
    unsafe { core::ptr::write_volatile(register(offset) as *mut u32, value) }
}

fn read32(offset: u64) -> u32 {
    // SAFETY: as for `write64`.
    unsafe { core::ptr::read_volatile(register(offset) as *const u32) }
}

/// Raises edu's interrupt and waits (bounded) for it on the notification bit
/// the spec gave it; clears it in the device, then acknowledges the handler.
fn interrupt_round_trip() -> bool {
    let handler: IrqHandler = Cap::from_cptr(u64::from(caps::EDU_IRQ.index()));
    let _ = handler.irq_handler_ack();
    write32(RAISE_INTERRUPT, 1);
    let mut arrived = false;
    for _ in 0..DMA_WAIT_YIELDS {
        if component::poll() & caps::EDU_IRQ_BIT != 0 {
            arrived = true;
            break;
        }
        syscall::yield_now();
    }
    write32(ACK_INTERRUPT, read32(INTERRUPT_STATUS));
    let _ = handler.irq_handler_ack();
    arrived
}

fn buffer(offset: u64) -> *mut u8 {
    (caps::EDU_BUFFER.vaddr + offset) as *mut u8
}

fn main(generation: u64) {
    // SAFETY: as for `write64`; the liveness register is 32 bits wide.
    let alive = unsafe {
        core::ptr::write_volatile(register(LIVENESS) as *mut u32, 0x1234_5678);
        core::ptr::read_volatile(register(LIVENESS) as *const u32)
    };
    println!(
        "edu-driver: generation {generation}; edu liveness answers {alive:#x} (expected {:#x})",
        !0x1234_5678u32
    );
    // SAFETY: EDU_BUFFER maps the 16 KiB window region read-write; offsets
    // stay inside its first two pages.
    let round_trip = unsafe {
        for index in 0..LENGTH {
            core::ptr::write_volatile(
                buffer(index),
                (index as u8).wrapping_mul(7).wrapping_add(generation as u8),
            );
            core::ptr::write_volatile(buffer(0x1000 + index), 0);
        }
        let out = dma(WINDOW_IOVA, DEVICE_BUFFER, 0);
        let back = dma(DEVICE_BUFFER, WINDOW_IOVA + 0x1000, DMA_TO_RAM);
        out && back
            && (0..LENGTH).all(|i| {
                core::ptr::read_volatile(buffer(i)) == core::ptr::read_volatile(buffer(0x1000 + i))
            })
    };
    println!(
        "edu-driver: DMA round trip inside its window: {}",
        if round_trip { "ok" } else { "FAILED" }
    );
    let interrupt = interrupt_round_trip();
    println!(
        "edu-driver: edu's interrupt arrived on notification bit {:#x}: {}",
        caps::EDU_IRQ_BIT,
        if interrupt { "ok" } else { "FAILED" }
    );
    if generation == 1 {
        println!("edu-driver: now programming a DMA to {OUTSIDE_IOVA:#x}, outside its window");
        let _ = dma(DEVICE_BUFFER, OUTSIDE_IOVA, DMA_TO_RAM);
        println!("edu-driver: the stray DMA finished; whatever stopped it, it was not this driver");
    }
}
