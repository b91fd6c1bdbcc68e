//! Interrupt mitigation and polling settings: the driver's defaults, each
//! with its reason, and what `settings = { ... }` under `[component.e1000]`
//! in system.toml changes. The build refuses unknown names and values out
//! of range (`src/setting_names.rs`), pointing at the line.
//!
//! Two mechanisms keep the interrupt rate down as the load rises:
//!
//! - the NAPI loop (`crate::driver`): once an interrupt arrives the driver
//!   masks the NIC's interrupts and polls until a pass finds less than a
//!   budget of work, so at high load one interrupt covers many frames;
//! - the NIC's own coalescing: ITR bounds the rate of interrupts whatever
//!   the load, and the receive and transmit delay timers (RDTR/RADV,
//!   TIDV/TADV) can hold an interrupt back until more frames arrive.

use crate::regs::rctl;

include!("setting_names.rs");

/// The settings the driver runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The least time between two interrupts (ITR, SDM 13.4.18).
    ///
    /// Default 200 µs (ITR 781, at most 5,000 interrupts a second): the
    /// first interrupt after a quiet spell is raised at once, so a lone frame
    /// waits for nothing, while under load the NIC gathers whatever arrives
    /// in 200 µs into the next one. It lies inside the manual's suggested
    /// range (ITR 651-5580, 167 µs to 1.4 ms) and above QEMU's floor (its
    /// model never interrupts more often than every 128 µs).
    pub interrupt_interval_us: u32,
    /// Receive delay timer (RDTR, SDM 13.4.30): hold the receive interrupt
    /// until no frame arrived for this long.
    ///
    /// Default 0 (off): it delays every frame, also a lone one, and the
    /// manual (rev. 3.7 notes on 13.4.30/13.4.31) recommends ITR instead for
    /// moderation; NAPI batches under load anyway.
    pub rx_delay_us: u32,
    /// Receive absolute delay (RADV, SDM 13.4.31): the longest RDTR may hold
    /// an interrupt back. Default 0: it only bounds RDTR, which is off.
    pub rx_absolute_delay_us: u32,
    /// Transmit interrupt delay (TIDV) for descriptors marked IDE. Default 0
    /// (descriptors are not marked): sent buffers are reclaimed by the poll
    /// that follows any interrupt, and TXDW only matters when nothing is
    /// received, where waiting would only hold the stack's buffers longer.
    pub tx_delay_us: u32,
    /// Transmit absolute delay (TADV), bounding TIDV. Default 0, as TIDV.
    pub tx_absolute_delay_us: u32,
    /// Frames received per poll pass before the driver lets the stack run.
    ///
    /// Default 64, Linux's NAPI weight: a quarter of the default 256-entry
    /// ring, so the stack gets buffers back long before the NIC runs dry,
    /// and few enough that a pass stays short.
    pub poll_budget: u32,
    /// The receive low watermark as a fraction of the ring: RXDMT0 fires
    /// when only 1/`rx_refill_fraction` of the descriptors are left for the
    /// NIC (RCTL.RDMTS, SDM 13.4.22), and the driver asks the stack for a
    /// doorbell when it holds fewer posted buffers than that.
    ///
    /// Default 2 (half the ring): at the rates TCG reaches (tens of
    /// thousands of frames a second) half of 255 descriptors leaves the
    /// stack several milliseconds to return buffers before frames are lost.
    pub rx_refill_fraction: u32,
}

/// Why a settings table was refused (the build refuses it first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingsError {
    /// A name the driver does not know.
    Unknown,
    /// A value out of its range, or a refill fraction other than 2, 4 or 8.
    OutOfRange,
}

impl Settings {
    /// The driver's defaults (see each field for the reason).
    pub const DEFAULT: Settings = Settings {
        interrupt_interval_us: 200,
        rx_delay_us: 0,
        rx_absolute_delay_us: 0,
        tx_delay_us: 0,
        tx_absolute_delay_us: 0,
        poll_budget: 64,
        rx_refill_fraction: 2,
    };

    /// The defaults with the caps table's `SETTINGS` applied.
    pub const fn from_table(table: &[(&str, u64)]) -> Result<Settings, SettingsError> {
        let mut settings = Settings::DEFAULT;
        let mut i = 0;
        while i < table.len() {
            let (name, value) = table[i];
            let Some((least, most)) = range_of(name) else {
                return Err(SettingsError::Unknown);
            };
            if value < least || value > most {
                return Err(SettingsError::OutOfRange);
            }
            let value = value as u32;
            if eq(name, "interrupt_interval_us") {
                settings.interrupt_interval_us = value;
            } else if eq(name, "rx_delay_us") {
                settings.rx_delay_us = value;
            } else if eq(name, "rx_absolute_delay_us") {
                settings.rx_absolute_delay_us = value;
            } else if eq(name, "tx_delay_us") {
                settings.tx_delay_us = value;
            } else if eq(name, "tx_absolute_delay_us") {
                settings.tx_absolute_delay_us = value;
            } else if eq(name, "poll_budget") {
                settings.poll_budget = value;
            } else if eq(name, "rx_refill_fraction") {
                if !matches!(value, 2 | 4 | 8) {
                    return Err(SettingsError::OutOfRange);
                }
                settings.rx_refill_fraction = value;
            }
            i += 1;
        }
        Ok(settings)
    }

    /// The ITR register value: the interval in 256 ns units.
    pub const fn itr(&self) -> u32 {
        units(self.interrupt_interval_us, 256)
    }

    /// RDTR, RADV, TIDV and TADV values: 1.024 µs units.
    pub const fn rdtr(&self) -> u32 {
        units(self.rx_delay_us, 1024)
    }
    pub const fn radv(&self) -> u32 {
        units(self.rx_absolute_delay_us, 1024)
    }
    pub const fn tidv(&self) -> u32 {
        units(self.tx_delay_us, 1024)
    }
    pub const fn tadv(&self) -> u32 {
        units(self.tx_absolute_delay_us, 1024)
    }

    /// Whether transmit descriptors ask for the delayed interrupt (IDE).
    pub const fn delay_transmit_interrupts(&self) -> bool {
        self.tx_delay_us != 0 || self.tx_absolute_delay_us != 0
    }

    /// RCTL.RDMTS for the refill fraction.
    pub const fn rdmts(&self) -> u32 {
        match self.rx_refill_fraction {
            8 => rctl::RDMTS_EIGHTH,
            4 => rctl::RDMTS_QUARTER,
            _ => rctl::RDMTS_HALF,
        }
    }

    /// The receive low watermark in descriptors for a ring of `descriptors`.
    pub const fn low_watermark(&self, descriptors: usize) -> usize {
        descriptors / self.rx_refill_fraction as usize
    }
}

/// `microseconds` in register units of `unit_ns` nanoseconds, rounded to the
/// nearest and kept within the registers' 16 bits.
const fn units(microseconds: u32, unit_ns: u64) -> u32 {
    let value = (microseconds as u64 * 1000 + unit_ns / 2) / unit_ns;
    if value > 0xffff {
        0xffff
    } else {
        value as u32
    }
}

const fn range_of(name: &str) -> Option<(u64, u64)> {
    let mut i = 0;
    while i < SETTING_RANGES.len() {
        let (known, least, most) = SETTING_RANGES[i];
        if eq(known, name) {
            return Some((least, most));
        }
        i += 1;
    }
    None
}

const fn eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_the_documented_registers() {
        let s = Settings::DEFAULT;
        assert_eq!(s.itr(), 781); // 200 µs / 256 ns
        assert_eq!((s.rdtr(), s.radv(), s.tidv(), s.tadv()), (0, 0, 0, 0));
        assert!(!s.delay_transmit_interrupts());
        assert_eq!(s.rdmts(), rctl::RDMTS_HALF);
        assert_eq!(s.low_watermark(256), 128);
    }

    #[test]
    fn a_table_overrides_and_is_checked() {
        let s = Settings::from_table(&[
            ("interrupt_interval_us", 1000),
            ("rx_delay_us", 32),
            ("rx_refill_fraction", 8),
            ("poll_budget", 16),
        ])
        .unwrap();
        assert_eq!(s.itr(), 3906);
        assert_eq!(s.rdtr(), 31);
        assert_eq!(s.rdmts(), rctl::RDMTS_EIGHTH);
        assert_eq!(s.poll_budget, 16);
        assert_eq!(
            Settings::from_table(&[("itr", 1)]),
            Err(SettingsError::Unknown)
        );
        assert_eq!(
            Settings::from_table(&[("rx_refill_fraction", 3)]),
            Err(SettingsError::OutOfRange)
        );
        assert_eq!(
            Settings::from_table(&[("poll_budget", 0)]),
            Err(SettingsError::OutOfRange)
        );
        // The largest allowed values still fit the 16-bit registers.
        let most = Settings::from_table(&[
            ("interrupt_interval_us", 16_776),
            ("tx_absolute_delay_us", 67_107),
        ])
        .unwrap();
        assert!(most.itr() <= 0xffff && most.tadv() <= 0xffff);
    }

    #[test]
    fn every_named_setting_is_applied() {
        for (name, least, most) in SETTING_RANGES {
            let value = if *name == "rx_refill_fraction" {
                4
            } else {
                (*least).max(1).min(*most)
            };
            let s = Settings::from_table(&[(name, value)]).unwrap();
            assert_ne!(s, Settings::DEFAULT, "setting {name} changed nothing");
        }
    }
}
