//! Platform discovery from the firmware's ACPI tables: the RSDP, the RSDT or
//! XSDT, and the three tables Ward needs — MADT (local APICs, IOAPICs,
//! interrupt source overrides), MCFG (the PCI configuration space window)
//! and DMAR (the VT-d remapping units, their device scopes, and the reserved
//! memory regions devices keep using).
//!
//! Firmware tables are trusted less than the kernel's own data: every table
//! is length-checked and checksummed before a field is read, every entry's
//! length is checked against its table, and a bad table is reported by name
//! rather than followed. The parser reads physical memory through
//! [`PhysicalMemory`], so host tests can feed it hand-made tables.

use heapless::Vec;
use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

/// Read access to physical memory.
pub trait PhysicalMemory {
    /// Fills `buffer` from physical address `paddr`; false if the range is
    /// not readable (outside RAM or the kernel's physical map).
    fn read(&self, paddr: u64, buffer: &mut [u8]) -> bool;
}

/// Most CPUs, IOAPICs, overrides, ECAM windows, remapping units, reserved
/// regions and device-scope entries kept. Far above what QEMU's q35 or a
/// typical server reports; extra entries are counted, not stored.
pub const MAX_CPUS: usize = 64;
pub const MAX_IOAPICS: usize = 8;
pub const MAX_OVERRIDES: usize = 16;
pub const MAX_ECAM: usize = 4;
pub const MAX_DRHDS: usize = 8;
pub const MAX_RMRRS: usize = 8;
pub const MAX_SCOPES: usize = 8;
/// Largest table read in one piece. The tables Ward reads are a few hundred
/// bytes on QEMU and a few KiB on large machines; two buffers of this size
/// live on the kernel stack (64 KiB) during discovery.
pub const MAX_TABLE_LEN: usize = 8 * 1024;

/// Where to look for the RSDP when the loader does not say: the BIOS area.
pub const RSDP_SCAN_START: u64 = 0xE_0000;
pub const RSDP_SCAN_END: u64 = 0x10_0000;

#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable, Unaligned, Clone, Copy)]
struct Rsdp {
    signature: [u8; 8],
    checksum: u8,
    oem_id: [u8; 6],
    revision: u8,
    rsdt_address: U32,
    // ACPI 2.0+ fields follow.
    length: U32,
    xsdt_address: U64,
    extended_checksum: u8,
    reserved: [u8; 3],
}

/// The header every system description table starts with.
#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable, Unaligned, Clone, Copy)]
struct SdtHeader {
    signature: [u8; 4],
    length: U32,
    revision: u8,
    checksum: u8,
    oem_id: [u8; 6],
    oem_table_id: [u8; 8],
    oem_revision: U32,
    creator_id: U32,
    creator_revision: U32,
}

const SDT_HEADER_LEN: usize = core::mem::size_of::<SdtHeader>();

/// Why discovery failed or a table was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// No RSDP with a valid checksum where we looked.
    RsdpNotFound,
    /// The table could not be read (outside RAM).
    Unreadable { signature: [u8; 4], address: u64 },
    /// The table's length field is too small, too large or cut short.
    BadLength { signature: [u8; 4], length: u32 },
    /// The bytes do not sum to zero.
    BadChecksum { signature: [u8; 4] },
    /// The MADT (required: it names the interrupt controllers) is missing.
    NoMadt,
    /// An entry inside the table has a length that runs past the table.
    BadEntry { signature: [u8; 4], offset: usize },
}

impl core::fmt::Display for AcpiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        fn name(signature: &[u8; 4]) -> &str {
            core::str::from_utf8(signature).unwrap_or("????")
        }
        match self {
            AcpiError::RsdpNotFound => write!(f, "no ACPI RSDP found (firmware without ACPI?)"),
            AcpiError::Unreadable { signature, address } => {
                write!(
                    f,
                    "ACPI table {} at {address:#x} is outside readable memory",
                    name(signature)
                )
            }
            AcpiError::BadLength { signature, length } => {
                write!(
                    f,
                    "ACPI table {} has an impossible length {length}",
                    name(signature)
                )
            }
            AcpiError::BadChecksum { signature } => {
                write!(f, "ACPI table {} has a bad checksum", name(signature))
            }
            AcpiError::NoMadt => write!(f, "no ACPI MADT: cannot find the interrupt controllers"),
            AcpiError::BadEntry { signature, offset } => {
                write!(
                    f,
                    "ACPI table {} has a malformed entry at offset {offset}",
                    name(signature)
                )
            }
        }
    }
}

/// An IOAPIC: its id, register base, and first global system interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApic {
    pub id: u8,
    pub address: u64,
    pub gsi_base: u32,
}

/// A legacy ISA IRQ that is wired to another GSI, or with other polarity or
/// trigger mode than ISA's default (edge, active high).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterruptOverride {
    pub source_irq: u8,
    pub gsi: u32,
    /// MPS INTI flags: bits 0–1 polarity, bits 2–3 trigger mode.
    pub flags: u16,
}

/// The memory-mapped PCI configuration space (ECAM) for a bus range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcamWindow {
    pub base: u64,
    pub segment: u16,
    pub start_bus: u8,
    pub end_bus: u8,
}

/// A PCI device named by a DMAR device scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceScope {
    /// 1 = PCI endpoint, 2 = PCI sub-hierarchy, 3 = IOAPIC, 4 = HPET, 5 = ACPI namespace device.
    pub kind: u8,
    /// IOAPIC or HPET id, for those kinds.
    pub enumeration_id: u8,
    pub bus: u8,
    /// Device and function of the first path element.
    pub device: u8,
    pub function: u8,
}

/// A VT-d remapping unit (DMA-remapping hardware unit definition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemappingUnit {
    pub register_base: u64,
    pub segment: u16,
    /// The unit covers every device of the segment not claimed by another unit.
    pub include_all: bool,
    pub scopes: Vec<DeviceScope, MAX_SCOPES>,
}

/// A reserved memory region (RMRR) that devices keep using (USB legacy
/// emulation, for instance) and that must stay mapped for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservedRegion {
    pub base: u64,
    pub limit: u64,
    pub scopes: Vec<DeviceScope, MAX_SCOPES>,
}

/// What the DMAR table says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dmar {
    /// Host address width (bits) the remapping hardware supports.
    pub host_address_width: u8,
    /// Firmware asks the OS to enable interrupt remapping (flag bit 0).
    pub interrupt_remapping: bool,
    pub units: Vec<RemappingUnit, MAX_DRHDS>,
    pub reserved_regions: Vec<ReservedRegion, MAX_RMRRS>,
}

/// Everything discovered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Platform {
    pub local_apic_address: u64,
    /// APIC ids of enabled CPUs.
    pub cpus: Vec<u8, MAX_CPUS>,
    pub ioapics: Vec<IoApic, MAX_IOAPICS>,
    pub overrides: Vec<InterruptOverride, MAX_OVERRIDES>,
    pub ecam: Vec<EcamWindow, MAX_ECAM>,
    /// `None` when the firmware has no DMAR: no IOMMU.
    pub dmar: Option<Dmar>,
    /// Entries left out because a table above was full.
    pub dropped_entries: usize,
    /// Optional tables (MCFG, DMAR) that were present but malformed.
    pub bad_optional_table: Option<AcpiError>,
}

fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)) == 0
}

/// Finds the RSDP in `[start, end)` (16-byte aligned, as ACPI requires).
pub fn find_rsdp(memory: &dyn PhysicalMemory, start: u64, end: u64) -> Option<u64> {
    let mut address = start & !0xF;
    let mut candidate = [0u8; 20];
    while address + 20 <= end {
        if memory.read(address, &mut candidate)
            && &candidate[..8] == b"RSD PTR "
            && checksum_ok(&candidate)
        {
            return Some(address);
        }
        address += 16;
    }
    None
}

/// A table copied into a buffer after its checks.
struct Table {
    bytes: [u8; MAX_TABLE_LEN],
    len: usize,
}

impl Table {
    fn body(&self) -> &[u8] {
        &self.bytes[SDT_HEADER_LEN..self.len]
    }
}

/// Reads and checks the table at `address`.
fn read_table(
    memory: &dyn PhysicalMemory,
    address: u64,
    table: &mut Table,
) -> Result<[u8; 4], AcpiError> {
    let mut header_bytes = [0u8; SDT_HEADER_LEN];
    if !memory.read(address, &mut header_bytes) {
        return Err(AcpiError::Unreadable {
            signature: *b"????",
            address,
        });
    }
    let header = SdtHeader::read_from_bytes(&header_bytes).expect("exact size");
    let signature = header.signature;
    let length = header.length.get();
    if (length as usize) < SDT_HEADER_LEN || length as usize > MAX_TABLE_LEN {
        return Err(AcpiError::BadLength { signature, length });
    }
    if !memory.read(address, &mut table.bytes[..length as usize]) {
        return Err(AcpiError::Unreadable { signature, address });
    }
    table.len = length as usize;
    if !checksum_ok(&table.bytes[..table.len]) {
        return Err(AcpiError::BadChecksum { signature });
    }
    Ok(signature)
}

/// Reads the tables reachable from the RSDP at `rsdp_address`.
pub fn discover(memory: &dyn PhysicalMemory, rsdp_address: u64) -> Result<Platform, AcpiError> {
    let mut rsdp_bytes = [0u8; core::mem::size_of::<Rsdp>()];
    if !memory.read(rsdp_address, &mut rsdp_bytes[..20])
        || &rsdp_bytes[..8] != b"RSD PTR "
        || !checksum_ok(&rsdp_bytes[..20])
    {
        return Err(AcpiError::RsdpNotFound);
    }
    let revision = rsdp_bytes[15];
    if revision >= 2 && !memory.read(rsdp_address, &mut rsdp_bytes) {
        return Err(AcpiError::RsdpNotFound);
    }
    let rsdp = Rsdp::read_from_bytes(&rsdp_bytes).expect("exact size");
    let use_xsdt = revision >= 2 && rsdp.xsdt_address.get() != 0 && checksum_ok(&rsdp_bytes);
    let (root_address, entry_size) = if use_xsdt {
        (rsdp.xsdt_address.get(), 8)
    } else {
        (u64::from(rsdp.rsdt_address.get()), 4)
    };

    let mut root = Table {
        bytes: [0; MAX_TABLE_LEN],
        len: 0,
    };
    read_table(memory, root_address, &mut root)?;
    let mut platform = Platform::default();
    let mut found_madt = false;
    let mut table = Table {
        bytes: [0; MAX_TABLE_LEN],
        len: 0,
    };
    for entry in root.body().chunks_exact(entry_size) {
        let address = if entry_size == 8 {
            u64::from_le_bytes(entry.try_into().expect("8 bytes"))
        } else {
            u64::from(u32::from_le_bytes(entry.try_into().expect("4 bytes")))
        };
        let signature = match read_table(memory, address, &mut table) {
            Ok(signature) => signature,
            Err(error) => {
                // A broken table we do not need must not stop the boot.
                platform.bad_optional_table.get_or_insert(error);
                continue;
            }
        };
        let result = match &signature {
            b"APIC" => {
                found_madt = true;
                parse_madt(table.body(), &mut platform)
            }
            b"MCFG" => parse_mcfg(table.body(), &mut platform),
            b"DMAR" => parse_dmar(table.body(), &mut platform),
            _ => Ok(()),
        };
        match result {
            Ok(()) => {}
            Err(error) if &signature == b"APIC" => return Err(error),
            Err(error) => {
                platform.bad_optional_table.get_or_insert(error);
                if &signature == b"DMAR" {
                    platform.dmar = None;
                }
            }
        }
    }
    if !found_madt {
        return Err(AcpiError::NoMadt);
    }
    Ok(platform)
}

/// Walks `(type, length)`-prefixed entries: `kind_len` is 1 for the MADT's
/// one-byte fields and 2 for the DMAR's two-byte fields.
fn for_each_entry(
    body: &[u8],
    signature: [u8; 4],
    kind_len: usize,
    mut visit: impl FnMut(u16, &[u8]) -> Result<(), AcpiError>,
) -> Result<(), AcpiError> {
    let mut offset = 0;
    while offset + 2 * kind_len <= body.len() {
        let (kind, length) = if kind_len == 1 {
            (u16::from(body[offset]), usize::from(body[offset + 1]))
        } else {
            (
                u16::from_le_bytes([body[offset], body[offset + 1]]),
                usize::from(u16::from_le_bytes([body[offset + 2], body[offset + 3]])),
            )
        };
        if length < 2 * kind_len || offset + length > body.len() {
            return Err(AcpiError::BadEntry {
                signature,
                offset: offset + SDT_HEADER_LEN,
            });
        }
        visit(kind, &body[offset..offset + length])?;
        offset += length;
    }
    Ok(())
}

fn push<T, const N: usize>(list: &mut Vec<T, N>, item: T, dropped: &mut usize) {
    if list.push(item).is_err() {
        *dropped += 1;
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn parse_madt(body: &[u8], platform: &mut Platform) -> Result<(), AcpiError> {
    const SIGNATURE: [u8; 4] = *b"APIC";
    if body.len() < 8 {
        return Err(AcpiError::BadLength {
            signature: SIGNATURE,
            length: (body.len() + SDT_HEADER_LEN) as u32,
        });
    }
    platform.local_apic_address = u64::from(u32_at(body, 0));
    let mut dropped = 0;
    for_each_entry(&body[8..], SIGNATURE, 1, |kind, entry| {
        let bad = AcpiError::BadEntry {
            signature: SIGNATURE,
            offset: 0,
        };
        match kind {
            // Processor local APIC: enabled (bit 0) or online-capable (bit 1).
            0 if entry.len() >= 8 && u32_at(entry, 4) & 0b11 != 0 => {
                push(&mut platform.cpus, entry[3], &mut dropped)
            }
            0 if entry.len() >= 8 => {} // a disabled CPU
            1 if entry.len() >= 12 => push(
                &mut platform.ioapics,
                IoApic {
                    id: entry[2],
                    address: u64::from(u32_at(entry, 4)),
                    gsi_base: u32_at(entry, 8),
                },
                &mut dropped,
            ),
            2 if entry.len() >= 10 => push(
                &mut platform.overrides,
                InterruptOverride {
                    source_irq: entry[3],
                    gsi: u32_at(entry, 4),
                    flags: u16::from_le_bytes([entry[8], entry[9]]),
                },
                &mut dropped,
            ),
            5 if entry.len() >= 12 => platform.local_apic_address = u64_at(entry, 4),
            0 | 1 | 2 | 5 => return Err(bad),
            _ => {} // NMI sources and others Ward does not use
        }
        Ok(())
    })?;
    platform.dropped_entries += dropped;
    Ok(())
}

fn parse_mcfg(body: &[u8], platform: &mut Platform) -> Result<(), AcpiError> {
    // 8 reserved bytes, then 16-byte allocation entries.
    let entries = body.get(8..).unwrap_or(&[]);
    let mut dropped = 0;
    for entry in entries.chunks_exact(16) {
        let window = EcamWindow {
            base: u64_at(entry, 0),
            segment: u16::from_le_bytes([entry[8], entry[9]]),
            start_bus: entry[10],
            end_bus: entry[11],
        };
        if window.end_bus < window.start_bus {
            return Err(AcpiError::BadEntry {
                signature: *b"MCFG",
                offset: SDT_HEADER_LEN,
            });
        }
        push(&mut platform.ecam, window, &mut dropped);
    }
    platform.dropped_entries += dropped;
    Ok(())
}

fn parse_scopes(
    bytes: &[u8],
    dropped: &mut usize,
) -> Result<Vec<DeviceScope, MAX_SCOPES>, AcpiError> {
    let mut scopes = Vec::new();
    let mut offset = 0;
    while offset + 6 <= bytes.len() {
        let length = usize::from(bytes[offset + 1]);
        if length < 6 || offset + length > bytes.len() {
            return Err(AcpiError::BadEntry {
                signature: *b"DMAR",
                offset,
            });
        }
        let entry = &bytes[offset..offset + length];
        let (device, function) = if length >= 8 {
            (entry[6], entry[7])
        } else {
            (0, 0)
        };
        push(
            &mut scopes,
            DeviceScope {
                kind: entry[0],
                enumeration_id: entry[4],
                bus: entry[5],
                device,
                function,
            },
            dropped,
        );
        offset += length;
    }
    Ok(scopes)
}

fn parse_dmar(body: &[u8], platform: &mut Platform) -> Result<(), AcpiError> {
    const SIGNATURE: [u8; 4] = *b"DMAR";
    if body.len() < 12 {
        return Err(AcpiError::BadLength {
            signature: SIGNATURE,
            length: (body.len() + SDT_HEADER_LEN) as u32,
        });
    }
    let mut dmar = Dmar {
        host_address_width: body[0].saturating_add(1),
        interrupt_remapping: body[1] & 1 != 0,
        ..Dmar::default()
    };
    let mut dropped = 0;
    for_each_entry(&body[12..], SIGNATURE, 2, |kind, entry| {
        match kind {
            0 if entry.len() >= 16 => {
                let unit = RemappingUnit {
                    register_base: u64_at(entry, 8),
                    segment: u16::from_le_bytes([entry[6], entry[7]]),
                    include_all: entry[4] & 1 != 0,
                    scopes: parse_scopes(&entry[16..], &mut dropped)?,
                };
                push(&mut dmar.units, unit, &mut dropped);
            }
            1 if entry.len() >= 24 => {
                let region = ReservedRegion {
                    base: u64_at(entry, 8),
                    limit: u64_at(entry, 16),
                    scopes: parse_scopes(&entry[24..], &mut dropped)?,
                };
                push(&mut dmar.reserved_regions, region, &mut dropped);
            }
            0 | 1 => {
                return Err(AcpiError::BadEntry {
                    signature: SIGNATURE,
                    offset: 0,
                })
            }
            _ => {} // ATSR, RHSA, ANDD: not used by Ward
        }
        Ok(())
    })?;
    platform.dropped_entries += dropped;
    platform.dmar = Some(dmar);
    Ok(())
}

#[cfg(test)]
mod tests;
