//! The `system.toml` schema as serde types: what may be written, with the
//! source span of every value so that later checks can point at it.
//!
//! Every table rejects unknown keys. Values that need more than a TOML type
//! (sizes like "16KiB", durations like "10ms", rights like "rw", PCI ids)
//! have their own types here, so that a bad value is reported at its own
//! position with the accepted forms. Meaning (references, overlaps,
//! priorities) is checked later, in `check`.

use indexmap::IndexMap;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// A value with its byte span in the file.
pub type Sp<T> = Spanned<T>;

/// A whole `system.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSystem {
    pub system: Option<Sp<SystemSection>>,
    pub kernel: Sp<KernelSection>,
    pub lints: Option<Sp<LintsSection>>,
    #[serde(default)]
    pub component: IndexMap<Sp<String>, Sp<RawComponent>>,
    #[serde(default)]
    pub region: IndexMap<Sp<String>, Sp<RawRegion>>,
    #[serde(default)]
    pub device: IndexMap<Sp<String>, Sp<RawDevice>>,
    #[serde(default)]
    pub channel: IndexMap<Sp<String>, Sp<RawChannel>>,
}

/// `[system]`: what this description is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemSection {
    pub name: Option<Sp<String>>,
    pub description: Option<Sp<String>>,
    /// Print every component's capability space at boot, for `capctl audit`.
    pub audit: Option<Sp<bool>>,
}

/// `[kernel]`: the kernel configuration and the machine.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSection {
    /// Name of the kernel configuration (see kernel-config/).
    pub config: Option<Sp<String>>,
    /// Kernel command line.
    pub cmdline: Option<Sp<String>>,
    /// RAM of the machine (QEMU `-m`).
    pub ram: Sp<Size>,
    /// Whether the machine has an IOMMU (VT-d).
    pub iommu: Option<Sp<bool>>,
    /// Width of IO virtual addresses the IOMMU translates.
    pub iova_bits: Option<Sp<u8>>,
    /// Cores the kernel runs on (QEMU `-smp`).
    pub cpus: Option<Sp<i64>>,
}

/// `[lints]`: lints switched off for this system, by name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintsSection {
    #[serde(default)]
    pub allow: Vec<Sp<String>>,
}

/// `[component.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComponent {
    pub kind: Sp<Kind>,
    pub program: Option<Sp<String>>,
    pub priority: Sp<i64>,
    /// The core its thread runs on.
    pub core: Option<Sp<i64>>,
    pub stack: Option<Sp<Size>>,
    pub fault_handler: Option<Sp<String>>,
    /// Peers whose restart it may ask the supervisor for (its checks found
    /// them broken): `may_restart = ["e1000"]`.
    #[serde(default)]
    pub may_restart: Vec<Sp<String>>,
    pub heartbeat: Option<Sp<Duration>>,
    pub restart: Option<Sp<RawRestart>>,
    #[serde(default)]
    pub devices: Vec<Sp<String>>,
    #[serde(default)]
    pub irqs: Vec<Sp<String>>,
    #[serde(default)]
    pub maps: Vec<Sp<RawMap>>,
    /// How a network stack gets its IPv4 address.
    pub ipv4: Option<Sp<RawIpv4>>,
    /// Named numbers for the program to interpret (a driver's interrupt
    /// coalescing, say): `settings = { interrupt_interval_us = 200 }`.
    pub settings: Option<Sp<IndexMap<Sp<String>, Sp<i64>>>>,
}

/// `ipv4 = "dhcp"`, `ipv4 = "10.0.2.15/24"` or
/// `ipv4 = { address = "10.0.2.15/24", gateway = "10.0.2.2" }`. The texts
/// are checked in `check`, so that each error points at its own value.
#[derive(Debug)]
pub enum RawIpv4 {
    /// A string: "dhcp" or an address with its prefix length.
    Text(String),
    /// A table with an address and maybe a gateway.
    Table {
        address: Sp<String>,
        gateway: Option<Sp<String>>,
    },
}

impl<'de> Deserialize<'de> for RawIpv4 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawIpv4;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"dhcp\", an address such as \"10.0.2.15/24\", or a table `{ address = \"10.0.2.15/24\", gateway = \"10.0.2.2\" }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawIpv4, E> {
                Ok(RawIpv4::Text(v.to_string()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<RawIpv4, A::Error> {
                let mut address = None;
                let mut gateway = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "address" => address = Some(map.next_value::<Sp<String>>()?),
                        "gateway" => gateway = Some(map.next_value::<Sp<String>>()?),
                        other => {
                            return Err(de::Error::unknown_field(other, &["address", "gateway"]))
                        }
                    }
                }
                let address = address.ok_or_else(|| de::Error::missing_field("address"))?;
                Ok(RawIpv4::Table { address, gateway })
            }
        }
        d.deserialize_any(V)
    }
}

/// A component's kind.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Driver,
    Server,
    App,
}

/// `restart = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRestart {
    pub policy: Sp<Policy>,
    pub max: Option<Sp<i64>>,
    pub backoff: Option<Sp<Duration>>,
    pub min_run: Option<Sp<Duration>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Restart,
    Hold,
}

/// One entry of `maps = [...]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMap {
    pub region: Sp<String>,
    pub rights: Sp<RightsText>,
    pub at: Option<Sp<i64>>,
    pub cap: Option<Sp<String>>,
}

/// `[region.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegion {
    pub size: Sp<Size>,
    pub page_size: Option<Sp<Size>>,
    pub fill: Option<Sp<i64>>,
}

/// `[device.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    pub pci: Option<Sp<String>>,
    pub address: Option<Sp<String>>,
    pub ioports: Option<Sp<RawPorts>>,
    #[serde(default)]
    pub bars: Vec<Sp<RawBar>>,
    pub irq: Option<Sp<String>>,
    /// The core its interrupt is steered to (default: its driver's core).
    pub irq_core: Option<Sp<i64>>,
    pub iommu: Option<Sp<bool>>,
    pub unsafe_dma: Option<Sp<bool>>,
    pub optional: Option<Sp<bool>>,
    #[serde(default)]
    pub dma: Vec<Sp<RawDma>>,
}

/// `ioports = { base = 0x3f8, count = 8 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPorts {
    pub base: Sp<i64>,
    pub count: Sp<i64>,
}

/// One entry of `bars = [...]`: a BAR index, or `{ bar = 0, size = "4KiB" }`.
#[derive(Debug)]
pub struct RawBar {
    pub bar: i64,
    pub size: Option<Sp<Size>>,
}

impl<'de> Deserialize<'de> for RawBar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawBar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a BAR index (0..=5) or a table `{ bar = 0, size = \"4KiB\" }`")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawBar, E> {
                Ok(RawBar { bar: v, size: None })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<RawBar, A::Error> {
                let mut bar = None;
                let mut size = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "bar" => bar = Some(map.next_value::<i64>()?),
                        "size" => size = Some(map.next_value::<Sp<Size>>()?),
                        other => return Err(de::Error::unknown_field(other, &["bar", "size"])),
                    }
                }
                let bar = bar.ok_or_else(|| de::Error::missing_field("bar"))?;
                Ok(RawBar { bar, size })
            }
        }
        d.deserialize_any(V)
    }
}

/// One entry of a device's `dma = [...]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDma {
    pub region: Sp<String>,
    pub iova: Sp<i64>,
    pub rights: Sp<RightsText>,
    pub size: Option<Sp<Size>>,
}

/// `[channel.NAME]`. Which keys apply depends on `kind`; `check` rejects
/// the ones that do not.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    pub kind: Sp<ChannelKindText>,
    // endpoint
    pub server: Option<Sp<String>>,
    pub clients: Option<Sp<IndexMap<Sp<String>, Sp<i64>>>>,
    // notification
    pub waiter: Option<Sp<String>>,
    pub signallers: Option<Sp<Vec<Sp<String>>>>,
    // ring
    pub producer: Option<Sp<String>>,
    pub consumer: Option<Sp<String>>,
    pub entries: Option<Sp<i64>>,
    pub buffer_size: Option<Sp<Size>>,
    pub pool: Option<Sp<String>>,
    pub producer_pool: Option<Sp<RightsText>>,
    pub consumer_pool: Option<Sp<RightsText>>,
    pub owner: Option<Sp<String>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKindText {
    Endpoint,
    Notification,
    Ring,
}

/// Rights as written: letters from "rwx" (maps) or "rw" (DMA, pools).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RightsText(pub ward_sysspec::Rights);

impl<'de> Deserialize<'de> for RightsText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match ward_sysspec::Rights::parse(&text) {
            Some(r) if r.0 != 0 && !r.contains(ward_sysspec::Rights::GRANT) => Ok(RightsText(r)),
            _ => Err(de::Error::custom(format!(
                "invalid rights `{text}`: write letters from `rwx`, e.g. \"r\", \"rw\" or \"rx\""
            ))),
        }
    }
}

/// A size in bytes: an integer, or a string with a unit ("16KiB", "2MiB",
/// "1GiB", "4096").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

/// Parses "16KiB"-style sizes. Binary units only: memory comes in pages.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '_'))
        .unwrap_or(text.len());
    let number: u64 = text[..digits_end].replace('_', "").parse().ok()?;
    let multiplier: u64 = match text[digits_end..].trim() {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size: bytes as an integer, or a string such as \"16KiB\", \"2MiB\", \"1GiB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                parse_size(v).map(Size).ok_or_else(|| {
                    E::custom(format!(
                        "invalid size `{v}`: write bytes, or a number with KiB, MiB or GiB (e.g. \"16KiB\")"
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration, in microseconds: a string such as "500us", "10ms", "2s".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub u64);

/// Parses "10ms"-style durations into microseconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '_'))
        .unwrap_or(text.len());
    let number: u64 = text[..digits_end].replace('_', "").parse().ok()?;
    let multiplier: u64 = match &text[digits_end..] {
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d).map_err(|_| {
            de::Error::custom("expected a duration string such as \"10ms\", \"500us\" or \"2s\"")
        })?;
        parse_duration(&text).map(Duration).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid duration `{text}`: write a number with us, ms or s (e.g. \"10ms\")"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16KiB"), Some(16384));
        assert_eq!(parse_size("2MiB"), Some(2 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("1_024"), Some(1024));
        assert_eq!(parse_size("3 GiB"), Some(3 << 30));
        assert_eq!(parse_size("16kb"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("99999999999999999999GiB"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10ms"), Some(10_000));
        assert_eq!(parse_duration("2s"), Some(2_000_000));
        assert_eq!(parse_duration("500us"), Some(500));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5 min"), None);
    }
}
