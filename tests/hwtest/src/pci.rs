//! PCI configuration space through ECAM, from user space: finding a device
//! by vendor and device id, sizing and assigning a memory BAR, enabling
//! memory decoding and bus mastering.
//!
//! Each function's 4 KiB of configuration space is its own device frame, so
//! this code holds exactly the pages of the functions it looks at.
use crate::env::Env;
use ward_userlib::CapRights;

const VENDOR_ID: usize = 0x00;
const COMMAND: usize = 0x04;
const BAR0: usize = 0x10;
const COMMAND_MEMORY: u32 = 1 << 1;
const COMMAND_BUS_MASTER: u32 = 1 << 2;
const COMMAND_INTX_DISABLE: u32 = 1 << 10;
/// Status register bit (in the upper half of the command dword): a capability list exists.
const STATUS_CAPABILITIES: u32 = 1 << 4;
const CAPABILITIES_POINTER: usize = 0x34;

/// One function's configuration space, mapped.
pub struct Function {
    pub requester: u16,
    base: u64,
}

impl Function {
    pub fn read32(&self, offset: usize) -> u32 {
        // SAFETY: `base` is this function's config page, mapped uncached
        // read-write by `find`; offsets stay inside the 4 KiB page.
        unsafe { core::ptr::read_volatile((self.base + offset as u64) as *const u32) }
    }

    pub fn write32(&self, offset: usize, value: u32) {
        // SAFETY: as for `read32`.
        unsafe { core::ptr::write_volatile((self.base + offset as u64) as *mut u32, value) }
    }

    /// The offset of capability `id` in the capability list, if present.
    pub fn find_capability(&self, id: u8) -> Option<usize> {
        if (self.read32(COMMAND) >> 16) & STATUS_CAPABILITIES == 0 {
            return None;
        }
        let mut offset = (self.read32(CAPABILITIES_POINTER) & 0xfc) as usize;
        // A well-formed list is short; the bound stops a looping one.
        for _ in 0..48 {
            if offset < 0x40 {
                return None;
            }
            let header = self.read32(offset);
            if header as u8 == id {
                return Some(offset);
            }
            offset = ((header >> 8) & 0xfc) as usize;
        }
        None
    }

    /// Stops the function from asserting its INTx line (command bit 10).
    pub fn disable_intx(&self) {
        self.write32(COMMAND, self.read32(COMMAND) | COMMAND_INTX_DISABLE);
    }

    /// Sizes 32-bit memory BAR `index` and places it at `address`; enables
    /// memory decoding and bus mastering. Returns the BAR's size.
    pub fn assign_bar(&self, index: usize, address: u32) -> u32 {
        let offset = BAR0 + 4 * index;
        self.write32(
            COMMAND,
            self.read32(COMMAND) & !(COMMAND_MEMORY | COMMAND_BUS_MASTER),
        );
        self.write32(offset, u32::MAX);
        let size = (!(self.read32(offset) & !0xf)).wrapping_add(1);
        self.write32(offset, address);
        self.write32(
            COMMAND,
            self.read32(COMMAND) | COMMAND_MEMORY | COMMAND_BUS_MASTER,
        );
        size
    }
}

/// Looks for `vendor:device` among the functions 0 of bus 0.
pub fn find(env: &mut Env, vendor: u16, device: u16) -> Option<Function> {
    let ecam = env.info.platform.ecam_base;
    if ecam == 0 {
        return None;
    }
    for slot in 0..32u64 {
        let paddr = ecam + (slot << 15);
        let frame = env.device_frame(paddr)?;
        let base = env.map(frame, CapRights::READ_WRITE);
        let function = Function {
            requester: (slot as u16) << 3,
            base,
        };
        let id = function.read32(VENDOR_ID);
        if id == u32::from(vendor) | (u32::from(device) << 16) {
            return Some(function);
        }
    }
    None
}
