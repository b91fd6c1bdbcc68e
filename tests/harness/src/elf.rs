//! Bad root-task modules made on purpose, derived from the real root-task ELF, for the
//! `bad-module-*` scenarios: the kernel must meet each with a clear error and a clean halt.
//!
//! Only the few ELF64 fields needed to find and patch program headers are read here; this is a
//! test tool, not a loader, so it insists on a well-formed little-endian ELF64 input and says why
//! otherwise.

use std::fmt;

use serde::Deserialize;

/// How the root-task module is spoiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mutation {
    /// The first [`TRUNCATED_LEN`] bytes: a valid ELF header whose program headers are cut off.
    Truncate,
    /// Pseudo-random bytes of the same length, from a fixed seed (so every run is the same).
    Garbage,
    /// The first PT_LOAD segment moved to [`KERNEL_ADDRESS`], in the kernel's half.
    KernelAddress,
    /// No boot modules at all (not even the system description).
    Missing,
    /// A root-task module of zero bytes.
    Empty,
}

/// Long enough to hold the 64-byte ELF header, too short for the program headers that follow it,
/// so the kernel must notice the truncation rather than the bad magic.
pub const TRUNCATED_LEN: usize = 100;

/// Seed of the garbage generator; any fixed value keeps the scenario reproducible.
pub const GARBAGE_SEED: u64 = 0x5741_5244_0bad_f00d;

/// The first address of the upper (kernel) half of the 48-bit canonical address space.
pub const KERNEL_ADDRESS: u64 = 0xffff_8000_0000_0000;

/// ELF64 field offsets and values used below (System V gABI, "ELF Header" and "Program Header").
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EHDR_LEN: usize = 64;
const E_PHOFF: usize = 0x20;
const E_PHENTSIZE: usize = 0x36;
const E_PHNUM: usize = 0x38;
const PHDR_LEN: usize = 56;
const P_VADDR: usize = 0x10;
const PT_LOAD: u32 = 1;
const MAGIC: [u8; 4] = *b"\x7fELF";
/// Page offset kept when moving a segment, so p_vaddr stays congruent to p_offset.
const PAGE_MASK: u64 = 0xfff;

/// Why a file could not be treated as an ELF64 executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfError(pub String);

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "root-task ELF: {}", self.0)
    }
}

impl std::error::Error for ElfError {}

/// One program header, as far as this tool cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramHeader {
    /// Byte offset of this header inside the file.
    pub at: usize,
    pub p_type: u32,
    pub p_vaddr: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The program headers of a little-endian ELF64 file.
pub fn program_headers(elf: &[u8]) -> Result<Vec<ProgramHeader>, ElfError> {
    if elf.len() < EHDR_LEN {
        return Err(ElfError(format!(
            "{} bytes is shorter than an ELF header",
            elf.len()
        )));
    }
    if elf[..4] != MAGIC {
        return Err(ElfError("no ELF magic".into()));
    }
    if elf[EI_CLASS] != ELFCLASS64 || elf[EI_DATA] != ELFDATA2LSB {
        return Err(ElfError("not a little-endian ELF64 file".into()));
    }
    let phoff = u64_at(elf, E_PHOFF);
    let entsize = usize::from(u16_at(elf, E_PHENTSIZE));
    let count = usize::from(u16_at(elf, E_PHNUM));
    if entsize < PHDR_LEN {
        return Err(ElfError(format!(
            "e_phentsize {entsize} is below {PHDR_LEN}"
        )));
    }
    let start = usize::try_from(phoff).map_err(|_| ElfError("e_phoff too large".into()))?;
    let end = entsize
        .checked_mul(count)
        .and_then(|n| n.checked_add(start))
        .filter(|&end| end <= elf.len())
        .ok_or_else(|| ElfError("program headers run past the end of the file".into()))?;
    Ok((start..end)
        .step_by(entsize)
        .map(|at| ProgramHeader {
            at,
            p_type: u32_at(elf, at),
            p_vaddr: u64_at(elf, at + P_VADDR),
        })
        .collect())
}

/// A copy of `elf` whose first PT_LOAD segment is linked at `KERNEL_ADDRESS` (page offset kept).
pub fn move_first_load_to_kernel(elf: &[u8]) -> Result<Vec<u8>, ElfError> {
    let load = program_headers(elf)?
        .into_iter()
        .find(|ph| ph.p_type == PT_LOAD)
        .ok_or_else(|| ElfError("no PT_LOAD segment".into()))?;
    let mut out = elf.to_vec();
    let vaddr = KERNEL_ADDRESS | (load.p_vaddr & PAGE_MASK);
    out[load.at + P_VADDR..load.at + P_VADDR + 8].copy_from_slice(&vaddr.to_le_bytes());
    Ok(out)
}

/// `len` bytes from a xorshift64* generator seeded with `seed`; never starts with the ELF magic.
pub fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1; // xorshift must not start at zero
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    if out.starts_with(&MAGIC) {
        out[0] = !MAGIC[0];
    }
    out
}

/// The spoiled module for `m`, derived from the real root task; `None` means "no module at all".
pub fn mutate(m: Mutation, root_task: &[u8]) -> Result<Option<Vec<u8>>, ElfError> {
    Ok(match m {
        Mutation::Truncate => {
            program_headers(root_task)?; // the input itself must be sound
            Some(root_task[..TRUNCATED_LEN.min(root_task.len())].to_vec())
        }
        Mutation::Garbage => Some(garbage(root_task.len(), GARBAGE_SEED)),
        Mutation::KernelAddress => Some(move_first_load_to_kernel(root_task)?),
        Mutation::Missing => None,
        Mutation::Empty => Some(Vec::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 executable: header, then `phdrs` program headers of (type, vaddr).
    fn elf(phdrs: &[(u32, u64)]) -> Vec<u8> {
        let mut b = vec![0u8; EHDR_LEN];
        b[..4].copy_from_slice(&MAGIC);
        b[EI_CLASS] = ELFCLASS64;
        b[EI_DATA] = ELFDATA2LSB;
        b[E_PHOFF..E_PHOFF + 8].copy_from_slice(&(EHDR_LEN as u64).to_le_bytes());
        b[E_PHENTSIZE..E_PHENTSIZE + 2].copy_from_slice(&(PHDR_LEN as u16).to_le_bytes());
        b[E_PHNUM..E_PHNUM + 2].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for &(ty, vaddr) in phdrs {
            let mut ph = vec![0u8; PHDR_LEN];
            ph[..4].copy_from_slice(&ty.to_le_bytes());
            ph[P_VADDR..P_VADDR + 8].copy_from_slice(&vaddr.to_le_bytes());
            b.extend_from_slice(&ph);
        }
        b.extend_from_slice(&[0x90; 300]); // "code"
        b
    }

    #[test]
    fn reads_program_headers() {
        let f = elf(&[(6, 0x40), (PT_LOAD, 0x20_0000), (PT_LOAD, 0x20_1000)]);
        let ph = program_headers(&f).unwrap();
        assert_eq!(ph.len(), 3);
        assert_eq!(
            ph[1],
            ProgramHeader {
                at: EHDR_LEN + PHDR_LEN,
                p_type: PT_LOAD,
                p_vaddr: 0x20_0000
            }
        );
    }

    #[test]
    fn kernel_address_moves_only_the_first_load_segment() {
        let f = elf(&[(6, 0x40), (PT_LOAD, 0x20_0123), (PT_LOAD, 0x20_1000)]);
        let out = move_first_load_to_kernel(&f).unwrap();
        assert_eq!(out.len(), f.len());
        let ph = program_headers(&out).unwrap();
        assert_eq!(ph[0].p_vaddr, 0x40);
        assert_eq!(ph[1].p_vaddr, KERNEL_ADDRESS + 0x123);
        assert_eq!(ph[2].p_vaddr, 0x20_1000);
        let changed: Vec<_> = (0..f.len()).filter(|&i| f[i] != out[i]).collect();
        assert!(changed
            .iter()
            .all(|&i| (ph[1].at + P_VADDR..ph[1].at + P_VADDR + 8).contains(&i)));
    }

    #[test]
    fn kernel_address_needs_a_load_segment() {
        assert!(move_first_load_to_kernel(&elf(&[(6, 0)])).is_err());
    }

    #[test]
    fn truncate_keeps_the_header_and_cuts_the_program_headers() {
        let f = elf(&[(PT_LOAD, 0x20_0000), (PT_LOAD, 0x20_1000)]);
        let out = mutate(Mutation::Truncate, &f).unwrap().unwrap();
        assert_eq!(out.len(), TRUNCATED_LEN);
        assert_eq!(out[..], f[..TRUNCATED_LEN]);
        assert!(program_headers(&out)
            .unwrap_err()
            .0
            .contains("past the end"));
    }

    #[test]
    fn garbage_is_reproducible_sized_and_not_elf() {
        let f = elf(&[(PT_LOAD, 0x20_0000)]);
        let a = mutate(Mutation::Garbage, &f).unwrap().unwrap();
        let b = mutate(Mutation::Garbage, &f).unwrap().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), f.len());
        assert_ne!(a[..4], MAGIC);
        assert_ne!(garbage(64, 1), garbage(64, 2));
        // Not degenerate: many distinct byte values.
        let mut seen = [false; 256];
        a.iter().for_each(|&x| seen[usize::from(x)] = true);
        assert!(seen.iter().filter(|&&s| s).count() > 100);
    }

    #[test]
    fn empty_and_missing() {
        let f = elf(&[(PT_LOAD, 0x20_0000)]);
        assert_eq!(mutate(Mutation::Empty, &f).unwrap(), Some(Vec::new()));
        assert_eq!(mutate(Mutation::Missing, &f).unwrap(), None);
    }

    #[test]
    fn rejects_inputs_that_are_not_elf64() {
        assert!(program_headers(b"short").is_err());
        assert!(program_headers(&[0u8; 128])
            .unwrap_err()
            .0
            .contains("magic"));
        let mut f = elf(&[(PT_LOAD, 0)]);
        f[EI_CLASS] = 1;
        assert!(program_headers(&f).unwrap_err().0.contains("ELF64"));
        let mut f = elf(&[(PT_LOAD, 0)]);
        f[E_PHNUM] = 200;
        assert!(program_headers(&f).is_err());
        let mut f = elf(&[(PT_LOAD, 0)]);
        f[E_PHOFF..E_PHOFF + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(program_headers(&f).is_err());
    }
}
