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

use core::sync::atomic::Ordering;
use ward_userlib::component::{self, Wakeup};
use ward_userlib::mmio::{Register, RegisterBlock};
use ward_userlib::time::{Duration, Instant};
use ward_userlib::{println, region};

ward_userlib::component!(main, caps);

/// edu's registers (QEMU docs/specs/edu.txt).
const LIVENESS: Register<u32> = Register::new("LIVENESS", 0x04);
const INTERRUPT_STATUS: Register<u32> = Register::new("INTERRUPT_STATUS", 0x24);
const RAISE_INTERRUPT: Register<u32> = Register::new("RAISE_INTERRUPT", 0x60);
const ACK_INTERRUPT: Register<u32> = Register::new("ACK_INTERRUPT", 0x64);
const DMA_SOURCE: Register<u64> = Register::new("DMA_SOURCE", 0x80);
const DMA_DESTINATION: Register<u64> = Register::new("DMA_DESTINATION", 0x88);
const DMA_COUNT: Register<u64> = Register::new("DMA_COUNT", 0x90);
const DMA_COMMAND: Register<u64> = Register::new("DMA_COMMAND", 0x98);
const DMA_START: u64 = 1 << 0;
const DMA_TO_RAM: u64 = 1 << 1;
/// The liveness register answers the bitwise complement of what was written.
const LIVENESS_PROBE: u32 = 0x1234_5678;
/// The device-side address of edu's own 4 KiB buffer.
const DEVICE_BUFFER: u64 = 0x40000;
/// An IO address far outside any DMA window: the IOMMU must block it.
const OUTSIDE_IOVA: u64 = 0x7f0_0000;
/// Bytes per DMA: eight words.
const LENGTH: u64 = 64;
/// edu finishes a DMA on a 100 ms timer of QEMU's virtual clock; wait up to
/// ten times that.
const DMA_TIMEOUT: Duration = Duration::from_secs(1);
/// How often to look at the DMA command register while waiting.
const DMA_POLL: Duration = Duration::from_millis(1);

fn dma(edu: &RegisterBlock, source: u64, destination: u64, command: u64) -> bool {
    edu.write(DMA_SOURCE, source);
    edu.write(DMA_DESTINATION, destination);
    edu.write(DMA_COUNT, LENGTH);
    edu.write(DMA_COMMAND, command | DMA_START);
    let deadline = Instant::now() + DMA_TIMEOUT;
    while edu.read(DMA_COMMAND) & DMA_START != 0 {
        if deadline.has_passed() {
            return false;
        }
        component::sleep(DMA_POLL);
    }
    true
}

/// Raises edu's interrupt and waits (bounded) for it on the notification bit
/// the spec gave it; clears it in the device, then acknowledges the handler.
fn interrupt_round_trip(edu: &RegisterBlock) -> bool {
    let irq = caps::EDU_IRQ;
    let _ = irq.handler.irq_handler_ack();
    edu.write(RAISE_INTERRUPT, 1);
    let deadline = Instant::now() + DMA_TIMEOUT;
    let arrived = loop {
        match component::wait_until(Some(deadline)) {
            Wakeup::Signalled(bits) if bits & irq.bit != 0 => break true,
            Wakeup::Signalled(_) => continue,
            Wakeup::TimedOut => break false,
        }
    };
    edu.write(ACK_INTERRUPT, edu.read(INTERRUPT_STATUS));
    let _ = irq.handler.irq_handler_ack();
    arrived
}

fn main(generation: u64) {
    let edu = RegisterBlock::of(caps::EDU_BAR0);
    edu.write(LIVENESS, LIVENESS_PROBE);
    println!(
        "edu-driver: generation {generation}; edu liveness answers {:#x} (expected {:#x})",
        edu.read(LIVENESS),
        !LIVENESS_PROBE
    );
    // The window's first page is what edu reads, its second what it writes.
    let buffer = region::words64(caps::EDU_BUFFER);
    let window = caps::EDU_DMA_EDU_BUFFER;
    let words = (LENGTH / 8) as usize;
    let half = 0x1000 / 8;
    for index in 0..words {
        let value = (index as u64).wrapping_mul(0x0101_0101_0101_0107) ^ generation;
        buffer[index].store(value, Ordering::Relaxed);
        buffer[half + index].store(0, Ordering::Relaxed);
    }
    let out = dma(&edu, window.iova, DEVICE_BUFFER, 0);
    let back = dma(&edu, DEVICE_BUFFER, window.iova + 0x1000, DMA_TO_RAM);
    let round_trip = out
        && back
        && (0..words)
            .all(|i| buffer[i].load(Ordering::Relaxed) == buffer[half + i].load(Ordering::Relaxed));
    println!(
        "edu-driver: DMA round trip inside its window: {}",
        if round_trip { "ok" } else { "FAILED" }
    );
    let interrupt = interrupt_round_trip(&edu);
    println!(
        "edu-driver: edu's interrupt arrived on notification bit {:#x}: {}",
        caps::EDU_IRQ.bit,
        if interrupt { "ok" } else { "FAILED" }
    );
    if generation == 1 {
        println!("edu-driver: now programming a DMA to {OUTSIDE_IOVA:#x}, outside its window");
        let _ = dma(&edu, DEVICE_BUFFER, OUTSIDE_IOVA, DMA_TO_RAM);
        println!("edu-driver: the stray DMA finished; whatever stopped it, it was not this driver");
    }
}
