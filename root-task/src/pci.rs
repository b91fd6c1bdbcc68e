//! PCI discovery through ECAM: every function on the buses the platform
//! reports, with vendor:device, class, BARs (sized by the write-ones probe,
//! 32- and 64-bit, memory and IO), interrupt pin and MSI capability.
//!
//! Each function's 4 KiB of configuration space is one device frame carved
//! from the device untyped and mapped uncached into the root task. BARs the
//! firmware left unassigned (qboot assigns none) are given addresses inside
//! the device untyped regions when a driver is bound to the device; nobody
//! else's BARs are touched, and bus mastering is enabled only for devices
//! whose DMA is confined (or explicitly allowed unconfined).

use heapless::Vec;
use ward_rootkit::pci::{capability, command, reg, Bar, ConfigSpace};
use ward_userlib::CapRights;

use crate::resources::Resources;

/// Most functions remembered. QEMU's q35 machine has a handful; 32 covers a
/// full bus of single-function devices.
pub const MAX_FUNCTIONS: usize = 32;
/// Buses scanned at most: the root complex's bus 0 holds every device of
/// the machines Ward runs on; bridges are not followed yet.
const MAX_BUSES: u8 = 1;
/// Where the root task places BARs the firmware left unassigned: the PCI hole
/// at 3 GiB, inside the device untyped, clear of the ECAM window (which q35
/// puts at 0xb000_0000) and the APICs at 0xfec0_0000.
const BAR_ASSIGN_BASE: u64 = 0xc000_0000;
/// End of that window (exclusive): the IOAPIC page.
const BAR_ASSIGN_END: u64 = 0xfec0_0000;

/// First PCI slot of the ICH9's integrated functions (routed differently).
const FIRST_CHIPSET_SLOT: u8 = 25;
/// IOAPIC inputs of PIRQ A and PIRQ E on q35.
const PIRQ_A_GSI: u64 = 16;
const PIRQ_E_GSI: u64 = 20;

/// One PCI function.
#[derive(Clone, Copy, Debug)]
pub struct Function {
    pub bus: u8,
    pub dev: u8,
    pub func: u8,
    pub vendor: u16,
    pub device: u16,
    pub class: u32,
    pub bars: [Bar; 6],
    /// 1..=4 for INTA..INTD, 0 for none.
    pub interrupt_pin: u8,
    pub has_msi: bool,
    /// Offset of its MSI capability in configuration space.
    pub msi_offset: Option<usize>,
    /// Its configuration page, mapped in the root task.
    config: ConfigSpace,
    /// Claimed by a device of the spec.
    pub claimed: bool,
}

impl Function {
    /// The requester id VT-d knows the function by.
    pub fn requester(&self) -> u16 {
        (u16::from(self.bus) << 8) | (u16::from(self.dev) << 3) | u16::from(self.func)
    }

    /// Its configuration space.
    pub fn config(&self) -> ConfigSpace {
        self.config
    }

    /// The IOAPIC line its INTx pin reaches on QEMU's q35 (ICH9) with its
    /// default routing: slots 0..=24 reach PIRQ E..H (GSI 20..23) rotated by
    /// slot number, the chipset's own slots 25..=31 PIRQ A..D (GSI 16..19).
    /// (edu in slot 3 interrupts on line 23, as the hwtest scenarios find.)
    pub fn intx_line(&self) -> Option<u64> {
        if self.interrupt_pin == 0 {
            return None;
        }
        let pin = u64::from(self.interrupt_pin) - 1;
        Some(if self.dev < FIRST_CHIPSET_SLOT {
            PIRQ_E_GSI + ((u64::from(self.dev) + pin) & 3)
        } else {
            PIRQ_A_GSI + (pin & 3)
        })
    }

    /// Sizes every BAR (decoding off meanwhile) and records its address.
    fn size_bars(&mut self) {
        let was_decoding = self.config.read32(reg::COMMAND) & 0xffff;
        self.config
            .disable(command::IO | command::MEMORY | command::BUS_MASTER);
        let mut index = 0;
        while index < 6 {
            let bar = self.config.probe_bar(index);
            self.bars[index] = bar;
            index += if bar.is_64 { 2 } else { 1 };
        }
        self.config.write32(reg::COMMAND, was_decoding);
    }

    /// Places memory BAR `index` at `address`.
    fn place_bar(&mut self, index: usize, address: u64) {
        self.config
            .place_bar(index, address, self.bars[index].is_64);
        self.bars[index].address = address;
    }

    /// Programs the MSI capability with `address` and `data` (one vector),
    /// turns MSI on and INTx off.
    pub fn enable_msi(&self, address: u64, data: u32) {
        if let Some(msi) = self.msi_offset {
            self.config.enable_msi(msi, address, data);
        }
    }
}

/// What discovery found, and the allocator for unassigned BARs.
pub struct Bus {
    pub functions: Vec<Function, MAX_FUNCTIONS>,
    next_bar_address: u64,
}

impl Bus {
    /// Enumerates bus 0 (functions 1..7 only of multi-function devices).
    pub fn enumerate(resources: &mut Resources, ecam_base: u64) -> Bus {
        let mut bus = Bus {
            functions: Vec::new(),
            next_bar_address: BAR_ASSIGN_BASE,
        };
        if ecam_base == 0 {
            return bus;
        }
        for bus_number in 0..MAX_BUSES {
            for dev in 0..32u8 {
                for func in 0..8u8 {
                    let paddr = ecam_base
                        + (u64::from(bus_number) << 20)
                        + (u64::from(dev) << 15)
                        + (u64::from(func) << 12);
                    let Some(frame) = resources.device_frame(paddr) else {
                        continue;
                    };
                    let Ok(base) = resources.map_root(frame, CapRights::READ_WRITE) else {
                        continue;
                    };
                    // SAFETY: `base` is the function's ECAM page, just mapped
                    // read-write (device frames are uncached) for good: the
                    // root task never unmaps it.
                    let config = unsafe { ConfigSpace::new(base) };
                    let mut function = Function {
                        bus: bus_number,
                        dev,
                        func,
                        vendor: 0,
                        device: 0,
                        class: 0,
                        bars: [Bar::default(); 6],
                        interrupt_pin: 0,
                        has_msi: false,
                        msi_offset: None,
                        config,
                        claimed: false,
                    };
                    let (vendor, device) = config.id();
                    if vendor == 0xffff {
                        if func == 0 {
                            break; // no device in this slot
                        }
                        continue;
                    }
                    function.vendor = vendor;
                    function.device = device;
                    function.class = config.read32(reg::CLASS_REVISION) >> 8;
                    let header_type = config.read8(reg::HEADER_TYPE);
                    if header_type & 0x7f == 0 {
                        function.size_bars();
                    }
                    function.interrupt_pin = config.read8(reg::INTERRUPT_PIN);
                    function.msi_offset = config.find_capability(capability::MSI);
                    function.has_msi = function.msi_offset.is_some();
                    let _ = bus.functions.push(function);
                    if func == 0 && header_type & 0x80 == 0 {
                        break; // single-function device
                    }
                }
            }
        }
        bus
    }

    /// Gives memory BAR `bar` of function `index` an address inside the
    /// device untyped if the firmware left it at 0; enables memory decoding.
    /// Returns the BAR's address, or `None` when it cannot be placed.
    pub fn assign_bar(&mut self, resources: &Resources, index: usize, bar: usize) -> Option<u64> {
        let function = &mut self.functions[index];
        let found = function.bars[bar];
        if found.is_io || found.size == 0 {
            return None;
        }
        if found.address == 0 {
            let size = found.size.max(4096);
            let address = self.next_bar_address.div_ceil(size) * size;
            if address + size > BAR_ASSIGN_END || !resources.in_device_memory(address, size) {
                return None;
            }
            self.next_bar_address = address + size;
            function.place_bar(bar, address);
        }
        function.config.enable(command::MEMORY);
        Some(function.bars[bar].address)
    }
}
