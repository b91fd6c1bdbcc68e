//! Just enough ELF64 reading to load this very program into a second
//! address space: the loadable segments of the root task's own module.
//!
//! The kernel has already checked this file before starting us (see
//! docs/architecture.md, the boot path), so this reader only bounds-checks
//! what it reads and gives up on anything unexpected.

/// Segment permission bits (`p_flags`).
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;

/// `p_type` of a loadable segment.
const PT_LOAD: u32 = 1;

/// One loadable segment.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub vaddr: u64,
    pub file_offset: u64,
    pub file_size: u64,
    pub mem_size: u64,
    pub flags: u32,
}

fn read_u16(file: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(file.get(at..at + 2)?.try_into().ok()?))
}
fn read_u32(file: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(file.get(at..at + 4)?.try_into().ok()?))
}
fn read_u64(file: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(file.get(at..at + 8)?.try_into().ok()?))
}

/// The loadable segments of `file` (at most `N`), or `None` if it is not a
/// little-endian ELF64 file or a header lies outside it.
pub fn load_segments<const N: usize>(file: &[u8]) -> Option<([Option<Segment>; N], usize)> {
    if file.get(0..4)? != b"\x7fELF" || *file.get(4)? != 2 || *file.get(5)? != 1 {
        return None;
    }
    let phoff = read_u64(file, 0x20)? as usize;
    let phentsize = read_u16(file, 0x36)? as usize;
    let phnum = read_u16(file, 0x38)? as usize;
    let mut out = [None; N];
    let mut count = 0;
    for index in 0..phnum {
        let at = phoff.checked_add(index.checked_mul(phentsize)?)?;
        if read_u32(file, at)? != PT_LOAD {
            continue;
        }
        let segment = Segment {
            flags: read_u32(file, at + 4)?,
            file_offset: read_u64(file, at + 8)?,
            vaddr: read_u64(file, at + 16)?,
            file_size: read_u64(file, at + 32)?,
            mem_size: read_u64(file, at + 40)?,
        };
        if segment.file_offset.checked_add(segment.file_size)? > file.len() as u64 || count == N {
            return None;
        }
        out[count] = Some(segment);
        count += 1;
    }
    Some((out, count))
}
