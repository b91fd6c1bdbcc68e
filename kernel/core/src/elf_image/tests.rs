//! Tests of the ELF checks, on images built byte by byte.

extern crate std;
use super::*;
use proptest::prelude::*;
use std::vec::Vec as StdVec;

/// Describes one program header for [`build_elf`].
#[derive(Clone, Copy)]
struct Ph {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
    Ph {
        kind: PT_LOAD,
        flags,
        offset,
        vaddr,
        filesz,
        memsz,
    }
}

/// Builds a little-endian ELF64 executable with the given program headers
/// and `payload_len` bytes of content after the headers.
fn build_elf(entry: u64, phs: &[Ph], payload_len: usize) -> StdVec<u8> {
    let mut f = StdVec::new();
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&ET_EXEC.to_le_bytes());
    f.extend_from_slice(&EM_X86_64.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes()); // e_version
    f.extend_from_slice(&entry.to_le_bytes());
    f.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    f.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    f.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    f.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
    f.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
    f.extend_from_slice(&(phs.len() as u16).to_le_bytes());
    f.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
    assert_eq!(f.len(), 64);
    for ph in phs {
        f.extend_from_slice(&ph.kind.to_le_bytes());
        f.extend_from_slice(&ph.flags.to_le_bytes());
        f.extend_from_slice(&ph.offset.to_le_bytes());
        f.extend_from_slice(&ph.vaddr.to_le_bytes());
        f.extend_from_slice(&ph.vaddr.to_le_bytes()); // p_paddr
        f.extend_from_slice(&ph.filesz.to_le_bytes());
        f.extend_from_slice(&ph.memsz.to_le_bytes());
        f.extend_from_slice(&0x1000u64.to_le_bytes());
    }
    f.resize(f.len() + payload_len, 0xcc);
    f
}

fn good_program() -> StdVec<u8> {
    build_elf(
        0x20_1000,
        &[
            load(PF_R | PF_X, 0x0, 0x20_1000, 0x100, 0x100),
            load(PF_R, 0x100, 0x20_2000, 0x80, 0x80),
            load(PF_R | PF_W, 0x180, 0x20_3000, 0x40, 0x2000),
        ],
        0x400,
    )
}

#[test]
fn accepts_a_well_formed_program() {
    let image = UserImage::parse(&good_program()).unwrap();
    assert_eq!(image.entry, 0x20_1000);
    assert_eq!(image.segments.len(), 3);
    assert!(image.segments[0].access.execute && !image.segments[0].access.write);
    assert!(image.segments[2].access.write && !image.segments[2].access.execute);
    assert_eq!(image.segments[2].mem_len, 0x2000);
}

#[test]
fn refuses_empty_and_garbage() {
    assert_eq!(UserImage::parse(&[]), Err(ElfError::Empty));
    assert!(matches!(
        UserImage::parse(b"hello, not an elf file at all, sorry"),
        Err(ElfError::Malformed(_))
    ));
}

#[test]
fn refuses_truncated_files() {
    let file = good_program();
    for cut in [1, 10, 63, 64, 100, 64 + 56 * 3 - 1] {
        let result = UserImage::parse(&file[..cut]);
        assert!(result.is_err(), "cut at {cut} was accepted");
    }
    // Headers intact but segment bytes missing.
    let short = &file[..64 + 56 * 3 + 0x10];
    assert_eq!(
        UserImage::parse(short),
        Err(ElfError::SegmentOutsideFile { index: 0 })
    );
}

#[test]
fn refuses_kernel_addresses() {
    let file = build_elf(
        0xffff_8000_0000_0000,
        &[load(PF_R | PF_X, 0, 0xffff_8000_0000_0000, 0x10, 0x10)],
        0x100,
    );
    assert_eq!(
        UserImage::parse(&file),
        Err(ElfError::SegmentOutsideUserSpace {
            index: 0,
            vaddr: 0xffff_8000_0000_0000
        })
    );
    // A segment that starts in user space but runs past its top.
    let top = ward_abi::layout::USER_TOP;
    let file = build_elf(
        top - 0x1000,
        &[load(PF_R | PF_X, 0, top - 0x1000, 0x10, 0x2000)],
        0x100,
    );
    assert!(matches!(
        UserImage::parse(&file),
        Err(ElfError::SegmentOutsideUserSpace { .. })
    ));
    // The null page.
    let file = build_elf(0x0, &[load(PF_R | PF_X, 0, 0x0, 0x10, 0x10)], 0x100);
    assert!(matches!(
        UserImage::parse(&file),
        Err(ElfError::SegmentOutsideUserSpace { .. })
    ));
}

#[test]
fn refuses_overlapping_segments() {
    let file = build_elf(
        0x20_1000,
        &[
            load(PF_R | PF_X, 0, 0x20_1000, 0x10, 0x10),
            load(PF_R | PF_W, 0, 0x20_1800, 0x10, 0x10),
        ],
        0x100,
    );
    assert_eq!(
        UserImage::parse(&file),
        Err(ElfError::OverlappingSegments {
            first: 0,
            second: 1
        })
    );
}

#[test]
fn refuses_writable_code_and_bad_entry() {
    let file = build_elf(
        0x20_1000,
        &[load(PF_R | PF_W | PF_X, 0, 0x20_1000, 0x10, 0x10)],
        0x100,
    );
    assert_eq!(
        UserImage::parse(&file),
        Err(ElfError::WritableAndExecutable { index: 0 })
    );
    let file = build_elf(
        0x20_5000,
        &[load(PF_R | PF_X, 0, 0x20_1000, 0x10, 0x10)],
        0x100,
    );
    assert_eq!(
        UserImage::parse(&file),
        Err(ElfError::EntryNotExecutable { entry: 0x20_5000 })
    );
    let file = build_elf(0x20_1000, &[load(PF_R, 0, 0x20_1000, 0x10, 0x10)], 0x100);
    assert_eq!(
        UserImage::parse(&file),
        Err(ElfError::EntryNotExecutable { entry: 0x20_1000 })
    );
}

#[test]
fn refuses_other_kinds_of_file() {
    let mut file = good_program();
    file[18] = 3; // e_machine = i386
    assert_eq!(UserImage::parse(&file), Err(ElfError::WrongMachine(3)));
    let mut file = good_program();
    file[16] = 3; // e_type = ET_DYN
    assert_eq!(UserImage::parse(&file), Err(ElfError::NotExecutable(3)));
    let file = build_elf(
        0x20_1000,
        &[Ph {
            kind: PT_INTERP,
            flags: PF_R,
            offset: 0,
            vaddr: 0x20_0000,
            filesz: 1,
            memsz: 1,
        }],
        8,
    );
    assert_eq!(UserImage::parse(&file), Err(ElfError::DynamicallyLinked));
    let file = build_elf(0x20_1000, &[], 8);
    assert!(UserImage::parse(&file).is_err());
    let file = build_elf(
        0x20_1000,
        &[load(PF_R | PF_X, 0, 0x20_1000, 0x20, 0x10)],
        0x100,
    );
    assert_eq!(
        UserImage::parse(&file),
        Err(ElfError::FileLargerThanMemory { index: 0 })
    );
}

#[test]
fn refuses_too_many_segments() {
    let phs: StdVec<Ph> = (0..(MAX_SEGMENTS as u64 + 1))
        .map(|i| load(PF_R | PF_X, 0, 0x20_0000 + i * 0x1000, 0x10, 0x10))
        .collect();
    assert_eq!(
        UserImage::parse(&build_elf(0x20_0000, &phs, 0x100)),
        Err(ElfError::TooManySegments)
    );
}

#[test]
fn every_error_has_a_message() {
    use core::fmt::Write;
    let mut text = std::string::String::new();
    write!(
        text,
        "{}",
        ElfError::SegmentOutsideUserSpace {
            index: 2,
            vaddr: 0xffff_8000_0000_0000
        }
    )
    .unwrap();
    assert!(text.contains("outside user space"));
}

proptest! {
    /// Arbitrary bytes never panic the checker.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = UserImage::parse(&bytes);
    }

    /// A valid image with random bytes overwritten is either refused or, if
    /// accepted, still describes only user-space segments inside the file.
    #[test]
    fn mutated_images_stay_safe(edits in proptest::collection::vec((0usize..300, any::<u8>()), 1..12)) {
        let mut file = good_program();
        for (at, value) in edits {
            let at = at % file.len();
            file[at] = value;
        }
        if let Ok(image) = UserImage::parse(&file) {
            for s in &image.segments {
                prop_assert!(is_user_range(s.vaddr, s.mem_len));
                prop_assert!(s.file_offset + s.file_len <= file.len() as u64);
                prop_assert!(s.file_len <= s.mem_len);
                prop_assert!(!(s.access.write && s.access.execute));
            }
        }
    }
}
