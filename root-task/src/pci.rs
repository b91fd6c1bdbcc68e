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

const VENDOR_ID: usize = 0x00;
const COMMAND: usize = 0x04;
const CLASS_REVISION: usize = 0x08;
const HEADER_TYPE: usize = 0x0e;
const BAR0: usize = 0x10;
const CAPABILITIES_POINTER: usize = 0x34;
const INTERRUPT_PIN: usize = 0x3d;
const STATUS_HAS_CAPABILITIES: u32 = 1 << 20;
const CAPABILITY_MSI: u8 = 0x05;
pub const COMMAND_IO: u32 = 1 << 0;
pub const COMMAND_MEMORY: u32 = 1 << 1;
pub const COMMAND_BUS_MASTER: u32 = 1 << 2;
/// First PCI slot of the ICH9's integrated functions (routed differently).
const FIRST_CHIPSET_SLOT: u8 = 25;
/// IOAPIC inputs of PIRQ A and PIRQ E on q35.
const PIRQ_A_GSI: u64 = 16;
const PIRQ_E_GSI: u64 = 20;
/// Command register: the function may not assert INTx.
const COMMAND_INTX_DISABLE: u32 = 1 << 10;
/// MSI message control bits (in the capability's upper half-word).
const MSI_ENABLE: u32 = 1 << 0;
const MSI_MULTIPLE_ENABLE: u32 = 0x7 << 4;
const MSI_64_BIT: u32 = 1 << 7;

/// One BAR as found (and possibly assigned).
#[derive(Clone, Copy, Debug, Default)]
pub struct Bar {
    pub address: u64,
    pub size: u64,
    pub is_io: bool,
    pub is_64: bool,
}

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
    /// Where its configuration page is mapped in the root task.
    config: u64,
    /// Claimed by a device of the spec.
    pub claimed: bool,
}

impl Function {
    /// The requester id VT-d knows the function by.
    pub fn requester(&self) -> u16 {
        (u16::from(self.bus) << 8) | (u16::from(self.dev) << 3) | u16::from(self.func)
    }

    pub fn read32(&self, offset: usize) -> u32 {
        // SAFETY: `config` is this function's configuration page, mapped
        // uncached read-write by `enumerate`; offsets stay inside the page
        // and are 4-byte aligned.
        unsafe { core::ptr::read_volatile((self.config + offset as u64) as *const u32) }
    }

    pub fn write32(&self, offset: usize, value: u32) {
        // SAFETY: as for `read32`.
        unsafe { core::ptr::write_volatile((self.config + offset as u64) as *mut u32, value) }
    }

    fn read8(&self, offset: usize) -> u8 {
        (self.read32(offset & !3) >> ((offset & 3) * 8)) as u8
    }

    /// Clears bits of the command register; returns whether any was set.
    pub fn disable(&self, bits: u32) -> bool {
        let command = self.read32(COMMAND) & 0xffff;
        self.write32(COMMAND, command & !bits);
        command & bits != 0
    }

    /// Sets bits of the command register.
    pub fn enable(&self, bits: u32) {
        self.write32(COMMAND, (self.read32(COMMAND) & 0xffff) | bits);
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
        let command = self.read32(COMMAND) & 0xffff;
        self.write32(
            COMMAND,
            command & !(COMMAND_IO | COMMAND_MEMORY | COMMAND_BUS_MASTER),
        );
        let mut index = 0;
        while index < 6 {
            let offset = BAR0 + 4 * index;
            let original = self.read32(offset);
            self.write32(offset, u32::MAX);
            let probe = self.read32(offset);
            self.write32(offset, original);
            let is_io = original & 1 != 0;
            let is_64 = !is_io && (original >> 1) & 3 == 2;
            let mut bar = Bar {
                is_io,
                is_64,
                ..Bar::default()
            };
            if is_io {
                let mask = probe & !0x3;
                bar.size = if mask == 0 {
                    0
                } else {
                    u64::from((!mask).wrapping_add(1) & 0xffff)
                };
                bar.address = u64::from(original & !0x3);
            } else if is_64 && index < 5 {
                let high_offset = offset + 4;
                let original_high = self.read32(high_offset);
                self.write32(high_offset, u32::MAX);
                let probe_high = self.read32(high_offset);
                self.write32(high_offset, original_high);
                let mask = (u64::from(probe_high) << 32) | u64::from(probe & !0xf);
                bar.size = if mask == 0 {
                    0
                } else {
                    (!mask).wrapping_add(1)
                };
                bar.address = (u64::from(original_high) << 32) | u64::from(original & !0xf);
            } else {
                let mask = probe & !0xf;
                bar.size = if mask == 0 {
                    0
                } else {
                    u64::from((!mask).wrapping_add(1))
                };
                bar.address = u64::from(original & !0xf);
            }
            self.bars[index] = bar;
            index += if is_64 { 2 } else { 1 };
        }
        self.write32(COMMAND, command);
    }

    /// Places memory BAR `index` at `address`.
    fn place_bar(&mut self, index: usize, address: u64) {
        let offset = BAR0 + 4 * index;
        let low_flags = self.read32(offset) & 0xf;
        self.write32(offset, (address as u32 & !0xf) | low_flags);
        if self.bars[index].is_64 {
            self.write32(offset + 4, (address >> 32) as u32);
        }
        self.bars[index].address = address;
    }

    /// The offset of the MSI capability, walking the capability list (at
    /// most 48 entries: a malformed list that loops cannot hang us).
    fn find_msi(&self) -> Option<usize> {
        if self.read32(COMMAND) & STATUS_HAS_CAPABILITIES == 0 {
            return None;
        }
        let mut pointer = self.read8(CAPABILITIES_POINTER) & !3;
        for _ in 0..48 {
            if pointer < 0x40 {
                return None;
            }
            if self.read8(pointer as usize) == CAPABILITY_MSI {
                return Some(pointer as usize);
            }
            pointer = self.read8(pointer as usize + 1) & !3;
        }
        None
    }

    /// Programs the MSI capability with `address` and `data` (one vector),
    /// turns MSI on and INTx off.
    pub fn enable_msi(&self, address: u64, data: u32) {
        let Some(cap) = self.msi_offset else { return };
        let control = self.read32(cap) >> 16;
        let is_64 = control & MSI_64_BIT != 0;
        self.write32(cap + 4, address as u32);
        if is_64 {
            self.write32(cap + 8, (address >> 32) as u32);
            self.write32(cap + 12, data);
        } else {
            self.write32(cap + 8, data);
        }
        // Message control: one vector (multiple-message enable 0), MSI on.
        let head = self.read32(cap) & !(MSI_MULTIPLE_ENABLE << 16);
        self.write32(cap, head | (MSI_ENABLE << 16));
        self.enable(COMMAND_INTX_DISABLE);
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
                    let Ok(config) = resources.map_root(frame, CapRights::READ_WRITE) else {
                        continue;
                    };
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
                    let id = function.read32(VENDOR_ID);
                    if id & 0xffff == 0xffff {
                        if func == 0 {
                            break; // no device in this slot
                        }
                        continue;
                    }
                    function.vendor = id as u16;
                    function.device = (id >> 16) as u16;
                    function.class = function.read32(CLASS_REVISION) >> 8;
                    let header_type = function.read8(HEADER_TYPE);
                    if header_type & 0x7f == 0 {
                        function.size_bars();
                    }
                    function.interrupt_pin = function.read8(INTERRUPT_PIN);
                    function.msi_offset = function.find_msi();
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
        function.enable(COMMAND_MEMORY);
        Some(function.bars[bar].address)
    }
}
