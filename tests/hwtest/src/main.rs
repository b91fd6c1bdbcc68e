//! Hardware-capability tests, run as the root task in QEMU.
//!
//! Each test is a mode chosen by the root-task argument `test=NAME`:
//! - `ioport-irq`: IO-port ranges and IOAPIC interrupts, on the CMOS clock;
//! - `iommu`: VT-d confinement of the `edu` device's DMA — allowed into its
//!   window, blocked (and reported) elsewhere, blocked again after unmap;
//! - `intx`: the `edu` device's INTx interrupt as a badged notification,
//!   masked until acknowledged, and an interrupt storm that starves no one;
//! - `msi`: the `edu` device's MSI through an interrupt-remapping entry,
//!   masked until acknowledged, and unable to raise another device's MSI;
//! - `no-iommu`: without a DMAR table there is no IOSpace to grant and no
//!   MSI handler;
//! - `dma-victim`, `bounce`, `copy-or-map`: the teaching experiments' guest halves
//!   (`lessons.rs`).
//!
//! Each prints `hwtest: PASS name` / `hwtest: FAIL name: why` lines and
//! closes with `N passed, M failed`, then ends the run with status 0 when
//! all passed.
#![no_std]
#![no_main]

mod edu;
mod env;
mod iommu;
mod ioport_irq;
mod lessons;
mod pci;

use ward_rootkit::bootinfo::boot_info;
use ward_userlib::{println, syscall};

ward_userlib::entry!(main);

/// Counts checks and prints each result.
pub struct Tally {
    pub passed: u32,
    pub failed: u32,
}

impl Tally {
    pub fn check(&mut self, what: &str, ok: bool) -> bool {
        if ok {
            self.passed += 1;
            println!("hwtest: PASS {what}");
        } else {
            self.failed += 1;
            println!("hwtest: FAIL {what}");
        }
        ok
    }
}

fn main(argument: u64) {
    let info = boot_info(argument);
    let mode = info
        .root_cmdline()
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("test="))
        .unwrap_or("");
    let mut tally = Tally {
        passed: 0,
        failed: 0,
    };
    match mode {
        "ioport-irq" => ioport_irq::run(info, &mut tally),
        "iommu" => iommu::run_dma(info, &mut tally),
        "intx" => iommu::run_intx(info, &mut tally),
        "msi" => iommu::run_msi(info, &mut tally),
        "no-iommu" => iommu::run_without_iommu(info, &mut tally),
        "dma-victim" => lessons::run_dma_victim(info, &mut tally),
        "bounce" => lessons::run_bounce(info, &mut tally),
        "copy-or-map" => lessons::run_copy_or_map(info, &mut tally),
        other => {
            println!(
                "hwtest: unknown mode '{other}' (known: ioport-irq, iommu, intx, msi, no-iommu, dma-victim, bounce, copy-or-map)"
            );
            syscall::debug_exit(2);
        }
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    syscall::debug_exit(if tally.failed == 0 { 0 } else { 1 });
}
