//! Platform discovery at boot: finds the ACPI tables and reports the
//! interrupt controllers, the PCI configuration window and the IOMMU.
//!
//! The parsing itself is `ward_kernel_core::acpi` (host-tested); this module
//! gives it the physical map to read through and reports the result. Missing
//! or corrupt tables are a clear console message, never a crash. Without a
//! DMAR table there is no IOMMU, and the system says that DMA cannot be
//! confined.
use crate::arch::x86_64::paging::phys_to_virt;
use ward_kernel_config::MAX_PHYS_MEMORY;
use ward_kernel_core::acpi::{self, PhysicalMemory, Platform, RSDP_SCAN_END, RSDP_SCAN_START};

/// Reads physical memory through the kernel's physical map.
struct PhysicalMap;

impl PhysicalMemory for PhysicalMap {
    fn read(&self, paddr: u64, buffer: &mut [u8]) -> bool {
        let Some(end) = paddr.checked_add(buffer.len() as u64) else {
            return false;
        };
        if end > MAX_PHYS_MEMORY {
            return false;
        }
        // SAFETY: the range is inside the physical map (checked above), which
        // maps all of it; firmware tables are only read, byte by byte copies.
        unsafe {
            core::ptr::copy_nonoverlapping(phys_to_virt(paddr), buffer.as_mut_ptr(), buffer.len())
        };
        true
    }
}

/// Finds and reads the ACPI tables; `None` (after saying why) if unusable.
pub fn discover() -> Option<Platform> {
    let Some(rsdp) = acpi::find_rsdp(&PhysicalMap, RSDP_SCAN_START, RSDP_SCAN_END) else {
        log::warn!("platform: {}", acpi::AcpiError::RsdpNotFound);
        return None;
    };
    let platform = match acpi::discover(&PhysicalMap, rsdp) {
        Ok(platform) => platform,
        Err(error) => {
            log::warn!("platform: {error}");
            return None;
        }
    };
    if let Some(error) = platform.bad_optional_table {
        log::warn!("platform: {error}; ignoring that table");
    }
    log::info!(
        "platform: {} CPU(s), local APIC at {:#x}, {} IOAPIC(s){}",
        platform.cpus.len(),
        platform.local_apic_address,
        platform.ioapics.len(),
        match platform.ioapics.first() {
            Some(_) => "",
            None => " (none: only MSI interrupts will work)",
        }
    );
    for ioapic in &platform.ioapics {
        log::info!(
            "platform: IOAPIC {} at {:#x}, GSI {}+",
            ioapic.id,
            ioapic.address,
            ioapic.gsi_base
        );
    }
    for window in &platform.ecam {
        log::info!(
            "platform: PCI configuration space (ECAM) at {:#x}, segment {}, buses {}-{}",
            window.base,
            window.segment,
            window.start_bus,
            window.end_bus
        );
    }
    match &platform.dmar {
        Some(dmar) => {
            for unit in &dmar.units {
                log::info!(
                    "platform: VT-d remapping unit at {:#x} ({}-bit host addresses{}), interrupt remapping {}",
                    unit.register_base,
                    dmar.host_address_width,
                    if unit.include_all { ", all devices" } else { "" },
                    if dmar.interrupt_remapping { "supported" } else { "not offered" }
                );
            }
            for region in &dmar.reserved_regions {
                log::info!("platform: reserved DMA region {:#x}..={:#x} (RMRR)", region.base, region.limit);
            }
        }
        None => log::warn!(
            "platform: no DMAR table: no IOMMU, so device DMA cannot be confined; DMA grants will be refused unless the system description allows unconfined DMA"
        ),
    }
    if platform.dropped_entries > 0 {
        log::warn!(
            "platform: {} table entries left out (tables full)",
            platform.dropped_entries
        );
    }
    Some(platform)
}
