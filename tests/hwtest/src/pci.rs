//! PCI configuration space through ECAM, from user space: finding a device
//! by vendor and device id, sizing and assigning a memory BAR, enabling
//! memory decoding and bus mastering.
//!
//! Each function's 4 KiB of configuration space is its own device frame, so
//! this code holds exactly the pages of the functions it looks at.
use crate::env::Env;
use ward_rootkit::pci::{command, ConfigSpace};
use ward_userlib::CapRights;

/// One function's configuration space, mapped.
pub struct Function {
    pub requester: u16,
    pub config: ConfigSpace,
}

impl Function {
    /// Sizes memory BAR `index` and places it at `address`; enables memory
    /// decoding and bus mastering. Returns the BAR's size.
    pub fn assign_bar(&self, index: usize, address: u32) -> u64 {
        let config = self.config;
        config.disable(command::MEMORY | command::BUS_MASTER);
        let bar = config.probe_bar(index);
        config.place_bar(index, u64::from(address), bar.is_64);
        config.enable(command::MEMORY | command::BUS_MASTER);
        bar.size
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
        // SAFETY: `base` is the function's ECAM page, just mapped read-write
        // (device frames are uncached); the test never unmaps it.
        let config = unsafe { ConfigSpace::new(base) };
        if config.id() == (vendor, device) {
            return Some(Function {
                requester: (slot as u16) << 3,
                config,
            });
        }
    }
    None
}
