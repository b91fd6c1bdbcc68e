//! The configuration space of one PCI function, as a 4 KiB ECAM page mapped
//! into this address space: register offsets, 32-bit access, the command
//! register, the capability list and BAR sizing. Shared by the root task
//! (which enumerates the bus and sets devices up for their drivers) and the
//! hardware tests (which drive one device themselves).

/// Register offsets in a type-0 configuration header.
pub mod reg {
    /// Vendor id (low half) and device id (high half).
    pub const VENDOR_ID: usize = 0x00;
    /// Command register (low half) and status register (high half).
    pub const COMMAND: usize = 0x04;
    /// Revision (low byte) and class code (upper three bytes).
    pub const CLASS_REVISION: usize = 0x08;
    /// Header type; bit 7 marks a multi-function device.
    pub const HEADER_TYPE: usize = 0x0e;
    /// The first of six base address registers.
    pub const BAR0: usize = 0x10;
    /// Offset of the first capability.
    pub const CAPABILITIES_POINTER: usize = 0x34;
    /// Which INTx pin the function uses: 1..=4 for INTA..INTD, 0 for none.
    pub const INTERRUPT_PIN: usize = 0x3d;
}

/// Command register bits.
pub mod command {
    /// Decode IO BARs.
    pub const IO: u32 = 1 << 0;
    /// Decode memory BARs.
    pub const MEMORY: u32 = 1 << 1;
    /// The function may start DMA.
    pub const BUS_MASTER: u32 = 1 << 2;
    /// The function may not assert its INTx line.
    pub const INTX_DISABLE: u32 = 1 << 10;
}

/// Capability ids.
pub mod capability {
    /// Message signalled interrupts.
    pub const MSI: u8 = 0x05;
}

/// Status register bit, as seen in the command dword: the function has a
/// capability list.
const STATUS_HAS_CAPABILITIES: u32 = 1 << 20;
/// MSI message control bits (the capability's upper half-word).
const MSI_ENABLE: u32 = 1 << 0;
/// Multiple-message enable: 0 asks for one vector.
const MSI_MULTIPLE_ENABLE: u32 = 0x7 << 4;
/// The capability has a 64-bit message address.
const MSI_64_BIT: u32 = 1 << 7;
/// Capabilities followed at most: a well-formed list is short, and the bound
/// keeps a looping (malformed or hostile) list from hanging the caller.
const MAX_CAPABILITIES: usize = 48;
/// Capabilities live above the standard header.
const FIRST_CAPABILITY_OFFSET: u8 = 0x40;
/// Offsets inside the page, 4-byte aligned: every access is masked with it.
const DWORD_OFFSET_MASK: usize = 0xffc;

/// One base address register as sized by the write-ones probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bar {
    /// Where the BAR points (0 if the firmware left it unassigned).
    pub address: u64,
    /// Bytes it decodes (0: not implemented).
    pub size: u64,
    /// An IO-port BAR rather than a memory BAR.
    pub is_io: bool,
    /// A 64-bit memory BAR (it uses the next BAR's register too).
    pub is_64: bool,
}

/// A function's configuration page, mapped.
#[derive(Clone, Copy, Debug)]
pub struct ConfigSpace {
    base: u64,
}

impl ConfigSpace {
    /// The configuration space mapped at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be the address of a 4 KiB page of PCI configuration space
    /// (an ECAM frame) mapped uncached and read-write, and stay mapped for as
    /// long as this value or a copy of it is used.
    pub const unsafe fn new(base: u64) -> ConfigSpace {
        ConfigSpace { base }
    }

    /// The dword at `offset` (rounded down to 4 and kept inside the page).
    pub fn read32(&self, offset: usize) -> u32 {
        let address = self.base + (offset & DWORD_OFFSET_MASK) as u64;
        // SAFETY: `new`'s contract: the page at `base` is mapped read-write
        // and uncached, and the masked offset is an aligned dword inside it.
        unsafe { core::ptr::read_volatile(address as *const u32) }
    }

    /// Writes the dword at `offset` (rounded down to 4 and kept inside the page).
    pub fn write32(&self, offset: usize, value: u32) {
        let address = self.base + (offset & DWORD_OFFSET_MASK) as u64;
        // SAFETY: as for `read32`.
        unsafe { core::ptr::write_volatile(address as *mut u32, value) }
    }

    /// The byte at `offset`.
    pub fn read8(&self, offset: usize) -> u8 {
        (self.read32(offset) >> ((offset & 3) * 8)) as u8
    }

    /// Vendor and device id; a vendor of 0xffff means no function is there.
    pub fn id(&self) -> (u16, u16) {
        let id = self.read32(reg::VENDOR_ID);
        (id as u16, (id >> 16) as u16)
    }

    /// Clears `bits` of the command register; returns whether any was set.
    pub fn disable(&self, bits: u32) -> bool {
        let command = self.read32(reg::COMMAND) & 0xffff;
        self.write32(reg::COMMAND, command & !bits);
        command & bits != 0
    }

    /// Sets `bits` of the command register.
    pub fn enable(&self, bits: u32) {
        self.write32(reg::COMMAND, (self.read32(reg::COMMAND) & 0xffff) | bits);
    }

    /// The offset of capability `id` in the capability list, if present.
    pub fn find_capability(&self, id: u8) -> Option<usize> {
        if self.read32(reg::COMMAND) & STATUS_HAS_CAPABILITIES == 0 {
            return None;
        }
        let mut pointer = self.read8(reg::CAPABILITIES_POINTER) & !3;
        for _ in 0..MAX_CAPABILITIES {
            if pointer < FIRST_CAPABILITY_OFFSET {
                return None;
            }
            if self.read8(pointer as usize) == id {
                return Some(pointer as usize);
            }
            pointer = self.read8(pointer as usize + 1) & !3;
        }
        None
    }

    /// Programs the MSI capability at offset `msi` with `address` and
    /// `data` for one vector, turns MSI on and INTx off.
    pub fn enable_msi(&self, msi: usize, address: u64, data: u32) {
        let control = self.read32(msi) >> 16;
        self.write32(msi + 4, address as u32);
        if control & MSI_64_BIT != 0 {
            self.write32(msi + 8, (address >> 32) as u32);
            self.write32(msi + 12, data);
        } else {
            self.write32(msi + 8, data);
        }
        let head = self.read32(msi) & !(MSI_MULTIPLE_ENABLE << 16);
        self.write32(msi, head | (MSI_ENABLE << 16));
        self.enable(command::INTX_DISABLE);
    }

    /// Sizes BAR `index` (0..6) by writing ones and reading back, then
    /// restores it. The caller turns decoding off around the probe. A 64-bit
    /// BAR is sized with its upper half (`index + 1`).
    pub fn probe_bar(&self, index: usize) -> Bar {
        let offset = reg::BAR0 + 4 * index;
        let original = self.read32(offset);
        self.write32(offset, u32::MAX);
        let probe = self.read32(offset);
        self.write32(offset, original);
        let is_io = original & 1 != 0;
        // A 64-bit BAR in the last register would have no upper half.
        let is_64 = !is_io && (original >> 1) & 3 == 2 && index < 5;
        if is_io {
            let mask = probe & !0x3;
            Bar {
                address: u64::from(original & !0x3),
                // IO space is 64 KiB: only the low 16 bits count.
                size: if mask == 0 {
                    0
                } else {
                    u64::from((!mask).wrapping_add(1) & 0xffff)
                },
                is_io,
                is_64,
            }
        } else if is_64 {
            let high_offset = offset + 4;
            let original_high = self.read32(high_offset);
            self.write32(high_offset, u32::MAX);
            let probe_high = self.read32(high_offset);
            self.write32(high_offset, original_high);
            let mask = (u64::from(probe_high) << 32) | u64::from(probe & !0xf);
            Bar {
                address: (u64::from(original_high) << 32) | u64::from(original & !0xf),
                size: if mask == 0 {
                    0
                } else {
                    (!mask).wrapping_add(1)
                },
                is_io,
                is_64,
            }
        } else {
            let mask = probe & !0xf;
            Bar {
                address: u64::from(original & !0xf),
                size: if mask == 0 {
                    0
                } else {
                    u64::from((!mask).wrapping_add(1))
                },
                is_io,
                is_64,
            }
        }
    }

    /// Points memory BAR `index` at `address`, keeping its type bits; a
    /// 64-bit BAR gets the upper half too.
    pub fn place_bar(&self, index: usize, address: u64, is_64: bool) {
        let offset = reg::BAR0 + 4 * index;
        let type_bits = self.read32(offset) & 0xf;
        self.write32(offset, (address as u32 & !0xf) | type_bits);
        if is_64 {
            self.write32(offset + 4, (address >> 32) as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    /// A page of plain memory standing in for a function's configuration space.
    #[repr(C, align(4096))]
    struct Page([u32; 1024]);

    impl Page {
        fn new() -> std::boxed::Box<Page> {
            std::boxed::Box::new(Page([0; 1024]))
        }

        fn config(&mut self) -> ConfigSpace {
            // SAFETY: the page is owned by the test, aligned, 4 KiB, and
            // outlives every use of the returned value.
            unsafe { ConfigSpace::new(self.0.as_mut_ptr() as u64) }
        }

        /// Writes a capability header (id, next) at byte `offset`.
        fn capability(&mut self, offset: usize, id: u8, next: u8) {
            self.0[offset / 4] = u32::from(id) | (u32::from(next) << 8);
        }
    }

    #[test]
    fn the_capability_list_is_walked_to_the_id() {
        let mut page = Page::new();
        page.0[reg::COMMAND / 4] = STATUS_HAS_CAPABILITIES;
        page.0[reg::CAPABILITIES_POINTER / 4] = 0x50;
        page.capability(0x50, 0x01, 0x60);
        page.capability(0x60, capability::MSI, 0x00);
        let config = page.config();
        assert_eq!(config.find_capability(capability::MSI), Some(0x60));
        assert_eq!(config.find_capability(0x11), None);
    }

    #[test]
    fn a_looping_or_absent_list_ends() {
        let mut page = Page::new();
        page.0[reg::CAPABILITIES_POINTER / 4] = 0x50;
        page.capability(0x50, 0x01, 0x50);
        // No capability-list bit in the status register: nothing is walked.
        assert_eq!(page.config().find_capability(0x01), None);
        page.0[reg::COMMAND / 4] = STATUS_HAS_CAPABILITIES;
        assert_eq!(page.config().find_capability(0x01), Some(0x50));
        // A list that points back at itself is followed a bounded number of times.
        assert_eq!(page.config().find_capability(capability::MSI), None);
    }

    #[test]
    fn accesses_stay_inside_the_page() {
        let mut page = Page::new();
        let config = page.config();
        config.write32(0x1000 + 0x44, 7);
        assert_eq!(page.0[0x44 / 4], 7);
        assert_eq!(page.config().read8(0x45), 0);
        assert_eq!(page.config().read8(0x44), 7);
    }

    #[test]
    fn msi_is_programmed_for_one_vector_with_intx_off() {
        let mut page = Page::new();
        // 64-bit capable, multiple-message enable set to 8 vectors by someone.
        page.0[0x60 / 4] = u32::from(capability::MSI) | ((MSI_64_BIT | (3 << 4)) << 16);
        let config = page.config();
        config.enable_msi(0x60, 0xfee0_0000_1234_5678, 0x41);
        assert_eq!(page.0[0x64 / 4], 0x1234_5678);
        assert_eq!(page.0[0x68 / 4], 0xfee0_0000);
        assert_eq!(page.0[0x6c / 4], 0x41);
        let control = page.0[0x60 / 4] >> 16;
        assert_eq!(control & MSI_ENABLE, MSI_ENABLE);
        assert_eq!(control & MSI_MULTIPLE_ENABLE, 0);
        assert_eq!(
            page.0[reg::COMMAND / 4] & command::INTX_DISABLE,
            command::INTX_DISABLE
        );
    }
}
