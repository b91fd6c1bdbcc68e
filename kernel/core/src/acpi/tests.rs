//! Tests of ACPI discovery on hand-made tables in a simulated physical memory.

extern crate std;
use super::*;
use proptest::prelude::*;
use std::vec::Vec as StdVec;

/// 1 MiB of simulated physical memory.
struct FakeMemory(StdVec<u8>);

impl PhysicalMemory for FakeMemory {
    fn read(&self, paddr: u64, buffer: &mut [u8]) -> bool {
        let start = paddr as usize;
        match self.0.get(start..start + buffer.len()) {
            Some(bytes) => {
                buffer.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }
}

fn fix_checksum(bytes: &mut [u8], at: usize) {
    bytes[at] = 0;
    let sum = bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    bytes[at] = 0u8.wrapping_sub(sum);
}

/// A table with a valid header and checksum around `body`.
fn table(signature: &[u8; 4], body: &[u8]) -> StdVec<u8> {
    let mut t = StdVec::new();
    t.extend_from_slice(signature);
    t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
    t.push(1); // revision
    t.push(0); // checksum
    t.extend_from_slice(b"WARDOS");
    t.extend_from_slice(b"TESTTABL");
    t.extend_from_slice(&[0; 12]);
    t.extend_from_slice(body);
    fix_checksum(&mut t, 9);
    t
}

fn madt_body() -> StdVec<u8> {
    let mut b = StdVec::new();
    b.extend_from_slice(&0xfee0_0000u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes()); // PC-AT compatible
    b.extend_from_slice(&[0, 8, 0, 0, 1, 0, 0, 0]); // CPU apic id 0, enabled
    b.extend_from_slice(&[0, 8, 1, 1, 0, 0, 0, 0]); // CPU apic id 1, disabled
    b.extend_from_slice(&[1, 12, 0, 0]); // IOAPIC id 0
    b.extend_from_slice(&0xfec0_0000u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[2, 10, 0, 0]); // ISA IRQ 0 -> GSI 2
    b.extend_from_slice(&2u32.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&[4, 6, 0xff, 0, 0, 1]); // local APIC NMI: ignored
    b
}

fn mcfg_body() -> StdVec<u8> {
    let mut b = StdVec::from([0u8; 8]);
    b.extend_from_slice(&0xb000_0000u64.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&[0, 0xff, 0, 0, 0, 0]);
    b
}

fn dmar_body() -> StdVec<u8> {
    let mut b = StdVec::new();
    b.push(38); // host address width - 1
    b.push(1); // interrupt remapping supported
    b.extend_from_slice(&[0; 10]);
    // DRHD: type 0, length 16 + one 8-byte scope, INCLUDE_PCI_ALL.
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[1, 0, 0, 0]);
    b.extend_from_slice(&0xfed9_0000u64.to_le_bytes());
    b.extend_from_slice(&[3, 8, 0, 0, 0, 0xff, 0x1f, 0]); // IOAPIC scope, id 0
                                                          // RMRR: type 1, length 24 + one endpoint scope 00:1d.0.
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&32u16.to_le_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&0x000e_0000u64.to_le_bytes());
    b.extend_from_slice(&0x000e_ffffu64.to_le_bytes());
    b.extend_from_slice(&[1, 8, 0, 0, 0, 0, 0x1d, 0]);
    b
}

/// Lays out an RSDP (v2) at 0xE0000 pointing to an XSDT listing `tables`.
fn machine(tables: &[StdVec<u8>]) -> FakeMemory {
    let mut memory = vec_of(1 << 20);
    let mut xsdt_entries = StdVec::new();
    for (index, t) in tables.iter().enumerate() {
        let at = 0x2000 + index * 0x1000;
        memory[at..at + t.len()].copy_from_slice(t);
        xsdt_entries.extend_from_slice(&(at as u64).to_le_bytes());
    }
    let xsdt = table(b"XSDT", &xsdt_entries);
    memory[0x1000..0x1000 + xsdt.len()].copy_from_slice(&xsdt);
    let mut rsdp = StdVec::new();
    rsdp.extend_from_slice(b"RSD PTR ");
    rsdp.push(0);
    rsdp.extend_from_slice(b"WARDOS");
    rsdp.push(2);
    rsdp.extend_from_slice(&0u32.to_le_bytes());
    rsdp.extend_from_slice(&36u32.to_le_bytes());
    rsdp.extend_from_slice(&0x1000u64.to_le_bytes());
    rsdp.extend_from_slice(&[0, 0, 0, 0]);
    fix_checksum(&mut rsdp[..20], 8);
    fix_checksum(&mut rsdp, 32);
    memory[0xE_0040..0xE_0040 + 36].copy_from_slice(&rsdp);
    FakeMemory(memory)
}

fn vec_of(len: usize) -> StdVec<u8> {
    std::vec![0u8; len]
}

fn q35_like() -> FakeMemory {
    machine(&[
        table(b"APIC", &madt_body()),
        table(b"MCFG", &mcfg_body()),
        table(b"DMAR", &dmar_body()),
    ])
}

#[test]
fn discovers_a_q35_like_platform() {
    let memory = q35_like();
    let rsdp = find_rsdp(&memory, RSDP_SCAN_START, RSDP_SCAN_END).unwrap();
    assert_eq!(rsdp, 0xE_0040);
    let p = discover(&memory, rsdp).unwrap();
    assert_eq!(p.local_apic_address, 0xfee0_0000);
    assert_eq!(&p.cpus[..], &[0]);
    assert_eq!(
        p.ioapics[0],
        IoApic {
            id: 0,
            address: 0xfec0_0000,
            gsi_base: 0
        }
    );
    assert_eq!(
        p.overrides[0],
        InterruptOverride {
            source_irq: 0,
            gsi: 2,
            flags: 0
        }
    );
    assert_eq!(
        p.ecam[0],
        EcamWindow {
            base: 0xb000_0000,
            segment: 0,
            start_bus: 0,
            end_bus: 0xff
        }
    );
    let dmar = p.dmar.unwrap();
    assert_eq!(dmar.host_address_width, 39);
    assert!(dmar.interrupt_remapping);
    assert_eq!(dmar.units[0].register_base, 0xfed9_0000);
    assert!(dmar.units[0].include_all);
    assert_eq!(dmar.units[0].scopes[0].kind, 3);
    assert_eq!(dmar.reserved_regions[0].base, 0xe_0000);
    assert_eq!(dmar.reserved_regions[0].scopes[0].device, 0x1d);
    assert_eq!(p.bad_optional_table, None);
}

#[test]
fn no_dmar_means_no_iommu() {
    let memory = machine(&[table(b"APIC", &madt_body()), table(b"MCFG", &mcfg_body())]);
    let p = discover(&memory, 0xE_0040).unwrap();
    assert!(p.dmar.is_none());
    assert_eq!(p.ecam.len(), 1);
}

#[test]
fn missing_rsdp_and_madt_are_errors() {
    let memory = FakeMemory(vec_of(1 << 20));
    assert_eq!(find_rsdp(&memory, RSDP_SCAN_START, RSDP_SCAN_END), None);
    assert_eq!(
        discover(&memory, 0xE_0040).unwrap_err(),
        AcpiError::RsdpNotFound
    );
    let memory = machine(&[table(b"MCFG", &mcfg_body())]);
    assert_eq!(discover(&memory, 0xE_0040).unwrap_err(), AcpiError::NoMadt);
}

#[test]
fn bad_checksums_are_reported_by_table() {
    let mut madt = table(b"APIC", &madt_body());
    madt[40] ^= 0xff;
    let memory = machine(&[madt]);
    // The MADT is skipped as broken, so none is found.
    assert_eq!(discover(&memory, 0xE_0040).unwrap_err(), AcpiError::NoMadt);

    let mut dmar = table(b"DMAR", &dmar_body());
    dmar[50] ^= 0x01;
    let memory = machine(&[table(b"APIC", &madt_body()), dmar]);
    let p = discover(&memory, 0xE_0040).unwrap();
    assert!(p.dmar.is_none());
    assert_eq!(
        p.bad_optional_table,
        Some(AcpiError::BadChecksum {
            signature: *b"DMAR"
        })
    );
}

#[test]
fn truncated_and_malformed_tables_are_errors() {
    // A DMAR whose DRHD claims to be longer than the table.
    let mut body = dmar_body();
    body[14] = 200;
    let memory = machine(&[table(b"APIC", &madt_body()), table(b"DMAR", &body)]);
    let p = discover(&memory, 0xE_0040).unwrap();
    assert!(p.dmar.is_none());
    assert!(matches!(
        p.bad_optional_table,
        Some(AcpiError::BadEntry { .. })
    ));

    // A MADT entry with length 0 would loop forever if trusted.
    let mut body = madt_body();
    body[9] = 0;
    let memory = machine(&[table(b"APIC", &body)]);
    assert!(matches!(
        discover(&memory, 0xE_0040),
        Err(AcpiError::BadEntry { .. })
    ));

    // A table whose length field is smaller than its header.
    let mut madt = table(b"APIC", &madt_body());
    madt[4..8].copy_from_slice(&10u32.to_le_bytes());
    let memory = machine(&[madt]);
    assert_eq!(discover(&memory, 0xE_0040).unwrap_err(), AcpiError::NoMadt);
}

#[test]
fn errors_read_well() {
    let text = std::format!(
        "{}",
        AcpiError::BadChecksum {
            signature: *b"DMAR"
        }
    );
    assert_eq!(text, "ACPI table DMAR has a bad checksum");
}

proptest! {
    /// Random corruption of the tables never panics or loops.
    #[test]
    fn corrupted_tables_never_panic(edits in proptest::collection::vec((0usize..0x6000, any::<u8>()), 1..40)) {
        let mut memory = q35_like();
        for (at, value) in edits {
            memory.0[at] = value;
        }
        let _ = discover(&memory, 0xE_0040);
    }
}
