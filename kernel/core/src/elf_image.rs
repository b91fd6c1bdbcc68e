//! Checking a user program's ELF file before the kernel loads it.
//!
//! A boot module is an allegation: it may be truncated, not an ELF at all, or
//! built to overwrite the kernel. [`UserImage::parse`] accepts only a static
//! x86_64 executable whose loadable segments lie in user space, do not share
//! pages, honour W^X, and whose entry point is in an executable segment. The
//! loader then copies exactly the described bytes; nothing else in the file
//! is trusted.

use core::fmt;
use elf::abi::{EM_X86_64, ET_EXEC, PF_R, PF_W, PF_X, PT_DYNAMIC, PT_INTERP, PT_LOAD};
use elf::endian::LittleEndian;
use elf::file::Class;
use elf::ElfBytes;
use heapless::Vec;
use ward_abi::layout::{is_user_range, PAGE_SIZE};

/// Most loadable segments a user image may have. Ordinary Rust programs have
/// three or four (text, rodata, data, bss); the bound keeps the check and the
/// loader's work per image small and fixed.
pub const MAX_SEGMENTS: usize = 16;

/// Page permissions a segment asks for. Readable is implied: x86 cannot map a
/// present page that is not readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentAccess {
    pub write: bool,
    pub execute: bool,
}

/// One loadable segment, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Bytes in memory (the tail past `file_len` is zero-filled).
    pub mem_len: u64,
    /// Offset of the segment's bytes in the file.
    pub file_offset: u64,
    /// Bytes taken from the file.
    pub file_len: u64,
    pub access: SegmentAccess,
}

impl Segment {
    /// First page-aligned address the segment touches.
    pub fn page_start(&self) -> u64 {
        self.vaddr & !(PAGE_SIZE - 1)
    }

    /// One past the last page-aligned address the segment touches.
    pub fn page_end(&self) -> u64 {
        (self.vaddr + self.mem_len).div_ceil(PAGE_SIZE) * PAGE_SIZE
    }
}

/// A user program image that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserImage {
    pub entry: u64,
    pub segments: Vec<Segment, MAX_SEGMENTS>,
}

/// Why an image was refused. Each variant names the offending part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// The file is empty.
    Empty,
    /// The header or program-header table could not be parsed.
    Malformed(&'static str),
    /// A 32-bit ELF.
    NotElf64,
    /// Built for another machine; carries `e_machine`.
    WrongMachine(u16),
    /// Not a static executable (`ET_EXEC`); carries `e_type`.
    NotExecutable(u16),
    /// Has an interpreter or a dynamic section.
    DynamicallyLinked,
    /// More loadable segments than [`MAX_SEGMENTS`].
    TooManySegments,
    /// No loadable segment at all.
    NoLoadableSegments,
    /// Segment `index` has a file size larger than its memory size.
    FileLargerThanMemory { index: usize },
    /// Segment `index` points past the end of the file.
    SegmentOutsideFile { index: usize },
    /// Segment `index` lies (partly) outside user space, e.g. at kernel addresses.
    SegmentOutsideUserSpace { index: usize, vaddr: u64 },
    /// Segment `index` is both writable and executable.
    WritableAndExecutable { index: usize },
    /// Segments `first` and `second` share a page.
    OverlappingSegments { first: usize, second: usize },
    /// The entry point is not inside an executable segment.
    EntryNotExecutable { entry: u64 },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ElfError::Empty => write!(f, "the file is empty"),
            ElfError::Malformed(what) => write!(f, "not a valid ELF file ({what})"),
            ElfError::NotElf64 => write!(f, "a 32-bit ELF; Ward runs 64-bit programs only"),
            ElfError::WrongMachine(m) => {
                write!(f, "built for machine {m}, not x86_64 ({EM_X86_64})")
            }
            ElfError::NotExecutable(t) => {
                write!(f, "ELF type {t} is not a static executable (ET_EXEC)")
            }
            ElfError::DynamicallyLinked => {
                write!(f, "dynamically linked; Ward loads static executables only")
            }
            ElfError::TooManySegments => write!(f, "more than {MAX_SEGMENTS} loadable segments"),
            ElfError::NoLoadableSegments => write!(f, "no loadable segments"),
            ElfError::FileLargerThanMemory { index } => {
                write!(f, "segment {index}: file size exceeds memory size")
            }
            ElfError::SegmentOutsideFile { index } => {
                write!(
                    f,
                    "segment {index}: its bytes lie past the end of the file (truncated?)"
                )
            }
            ElfError::SegmentOutsideUserSpace { index, vaddr } => {
                write!(f, "segment {index} at {vaddr:#x} lies outside user space (kernel addresses are refused)")
            }
            ElfError::WritableAndExecutable { index } => {
                write!(f, "segment {index} is both writable and executable (W^X)")
            }
            ElfError::OverlappingSegments { first, second } => {
                write!(f, "segments {first} and {second} share a page")
            }
            ElfError::EntryNotExecutable { entry } => {
                write!(f, "entry point {entry:#x} is not in an executable segment")
            }
        }
    }
}

impl UserImage {
    /// Checks `file` and describes what to load.
    pub fn parse(file: &[u8]) -> Result<UserImage, ElfError> {
        if file.is_empty() {
            return Err(ElfError::Empty);
        }
        let elf = ElfBytes::<LittleEndian>::minimal_parse(file)
            .map_err(|e| ElfError::Malformed(describe(&e)))?;
        if elf.ehdr.class != Class::ELF64 {
            return Err(ElfError::NotElf64);
        }
        if elf.ehdr.e_machine != EM_X86_64 {
            return Err(ElfError::WrongMachine(elf.ehdr.e_machine));
        }
        if elf.ehdr.e_type != ET_EXEC {
            return Err(ElfError::NotExecutable(elf.ehdr.e_type));
        }
        let table = elf
            .segments()
            .ok_or(ElfError::Malformed("no program header table"))?;

        let mut segments: Vec<Segment, MAX_SEGMENTS> = Vec::new();
        for header in table.iter() {
            match header.p_type {
                PT_INTERP | PT_DYNAMIC => return Err(ElfError::DynamicallyLinked),
                PT_LOAD if header.p_memsz > 0 => {}
                _ => continue,
            }
            let index = segments.len();
            if header.p_filesz > header.p_memsz {
                return Err(ElfError::FileLargerThanMemory { index });
            }
            let file_end = header.p_offset.checked_add(header.p_filesz);
            if file_end.is_none_or(|end| end > file.len() as u64) {
                return Err(ElfError::SegmentOutsideFile { index });
            }
            if !is_user_range(header.p_vaddr, header.p_memsz)
                || header
                    .p_vaddr
                    .checked_add(header.p_memsz + PAGE_SIZE)
                    .is_none()
            {
                return Err(ElfError::SegmentOutsideUserSpace {
                    index,
                    vaddr: header.p_vaddr,
                });
            }
            let access = SegmentAccess {
                write: header.p_flags & PF_W != 0,
                execute: header.p_flags & PF_X != 0,
            };
            // A segment with no permission bits at all is still mapped readable;
            // PF_R is implied by being present.
            let _ = PF_R;
            if access.write && access.execute {
                return Err(ElfError::WritableAndExecutable { index });
            }
            let segment = Segment {
                vaddr: header.p_vaddr,
                mem_len: header.p_memsz,
                file_offset: header.p_offset,
                file_len: header.p_filesz,
                access,
            };
            for (other_index, other) in segments.iter().enumerate() {
                if segment.page_start() < other.page_end()
                    && other.page_start() < segment.page_end()
                {
                    return Err(ElfError::OverlappingSegments {
                        first: other_index,
                        second: index,
                    });
                }
            }
            segments
                .push(segment)
                .map_err(|_| ElfError::TooManySegments)?;
        }
        if segments.is_empty() {
            return Err(ElfError::NoLoadableSegments);
        }
        let entry = elf.ehdr.e_entry;
        let entry_ok = segments
            .iter()
            .any(|s| s.access.execute && entry >= s.vaddr && entry < s.vaddr + s.mem_len);
        if !entry_ok {
            return Err(ElfError::EntryNotExecutable { entry });
        }
        Ok(UserImage { entry, segments })
    }
}

/// A fixed description of a parse failure (the crate's error owns no text we can keep).
fn describe(error: &elf::ParseError) -> &'static str {
    use elf::ParseError::*;
    match error {
        BadMagic(_) => "bad magic number",
        UnsupportedElfClass(_) => "unsupported ELF class",
        UnsupportedElfEndianness(_) => "not little-endian",
        UnsupportedVersion(_) => "unsupported ELF version",
        BadOffset(_) => "a table offset is out of range",
        StringTableMissingNul(_) => "string table without terminator",
        BadEntsize(_) => "bad table entry size",
        UnexpectedSectionType(_) => "unexpected section type",
        UnexpectedSegmentType(_) => "unexpected segment type",
        UnexpectedAlignment(_) => "misaligned table",
        SliceReadError(_) => "file too short (truncated)",
        IntegerOverflow => "offset arithmetic overflows",
        Utf8Error(_) => "invalid UTF-8 in a name",
        TryFromSliceError(_) => "file too short (truncated)",
        TryFromIntError(_) => "a size does not fit",
    }
}

#[cfg(test)]
mod tests;
