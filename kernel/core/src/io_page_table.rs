//! VT-d second-level page tables: the walks that map and unmap IO pages.
//!
//! The tables are 512-entry pages like the CPU's; an entry holds a
//! physical address and read/write permission bits (a table entry has both,
//! so the leaf decides), and a level-2 entry can map a 2 MiB page directly.
//! The kernel keeps the tables in memory retyped from untyped and reaches
//! them through its physical map; here they are reached through
//! [`TableMemory`], so the same walks run against a simulated memory in host
//! tests.

/// The device may read through this entry.
pub const READ: u64 = 1 << 0;
/// The device may write through this entry.
pub const WRITE: u64 = 1 << 1;
/// A level-2 entry that maps a 2 MiB page rather than a table.
pub const SUPERPAGE: u64 = 1 << 7;
/// The physical-address bits of an entry.
pub const ADDRESS: u64 = 0x000f_ffff_ffff_f000;

/// Read and write access to page-table pages.
pub trait TableMemory {
    /// Entry `index` (0..512) of the table at physical address `table`.
    fn read(&self, table: u64, index: usize) -> u64;
    /// Writes entry `index` of the table at `table`.
    fn write(&mut self, table: u64, index: usize, value: u64);
}

/// Bits of IO address one entry covers at `level` (1 = 4 KiB entries).
pub fn level_shift(level: u32) -> u32 {
    12 + 9 * (level - 1)
}

/// The entry index for `ioaddr` at `level`.
pub fn index(ioaddr: u64, level: u32) -> usize {
    ((ioaddr >> level_shift(level)) & 0x1ff) as usize
}

/// One past the highest IO address tables of `levels` levels can map.
pub fn address_limit(levels: u32) -> u64 {
    1u64 << level_shift(levels + 1)
}

/// Why a walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// No table at `level` on the way (map one there first).
    MissingTable { level: u32 },
    /// A 2 MiB page is mapped where a table was needed.
    SuperpageInTheWay,
    /// The entry is already in use.
    Occupied,
}

fn present(entry: u64) -> bool {
    entry & (READ | WRITE) != 0
}

/// Puts `table` at the first level on the way to `ioaddr` that has none.
/// Returns that level. `root` is the top table (level `levels`).
pub fn install_table(
    memory: &mut impl TableMemory,
    root: u64,
    levels: u32,
    ioaddr: u64,
    table: u64,
) -> Result<u32, WalkError> {
    let mut current = root;
    for level in (2..=levels).rev() {
        let at = index(ioaddr, level);
        let entry = memory.read(current, at);
        if !present(entry) {
            memory.write(current, at, (table & ADDRESS) | READ | WRITE);
            return Ok(level - 1);
        }
        if entry & SUPERPAGE != 0 {
            return Err(WalkError::SuperpageInTheWay);
        }
        current = entry & ADDRESS;
    }
    Err(WalkError::Occupied)
}

/// Maps the page at `paddr` at `ioaddr`: a 4 KiB page at `leaf_level` 1 or
/// a 2 MiB page at `leaf_level` 2, with `rights` (READ and/or WRITE).
pub fn map_page(
    memory: &mut impl TableMemory,
    root: u64,
    levels: u32,
    ioaddr: u64,
    leaf_level: u32,
    paddr: u64,
    rights: u64,
) -> Result<(), WalkError> {
    let mut table = root;
    for level in ((leaf_level + 1)..=levels).rev() {
        let entry = memory.read(table, index(ioaddr, level));
        if !present(entry) {
            return Err(WalkError::MissingTable { level: level - 1 });
        }
        if entry & SUPERPAGE != 0 {
            return Err(WalkError::SuperpageInTheWay);
        }
        table = entry & ADDRESS;
    }
    let at = index(ioaddr, leaf_level);
    if present(memory.read(table, at)) {
        return Err(WalkError::Occupied);
    }
    let superpage = if leaf_level == 2 { SUPERPAGE } else { 0 };
    memory.write(
        table,
        at,
        (paddr & ADDRESS) | (rights & (READ | WRITE)) | superpage,
    );
    Ok(())
}

/// Clears the entry that points at `object` on the way to `ioaddr` (a page
/// or a table). Returns whether one was found.
pub fn unmap(
    memory: &mut impl TableMemory,
    root: u64,
    levels: u32,
    ioaddr: u64,
    object: u64,
) -> bool {
    let mut table = root;
    for level in (1..=levels).rev() {
        let at = index(ioaddr, level);
        let entry = memory.read(table, at);
        if !present(entry) {
            return false;
        }
        if entry & ADDRESS == object {
            memory.write(table, at, 0);
            return true;
        }
        if entry & SUPERPAGE != 0 {
            return false;
        }
        table = entry & ADDRESS;
    }
    false
}

/// The physical address `ioaddr` translates to, with the rights of its leaf.
pub fn translate(
    memory: &impl TableMemory,
    root: u64,
    levels: u32,
    ioaddr: u64,
) -> Option<(u64, u64)> {
    let mut table = root;
    for level in (1..=levels).rev() {
        let entry = memory.read(table, index(ioaddr, level));
        if !present(entry) {
            return None;
        }
        if level == 1 || entry & SUPERPAGE != 0 {
            let offset = ioaddr & ((1u64 << level_shift(level)) - 1);
            return Some(((entry & ADDRESS) + offset, entry & (READ | WRITE)));
        }
        table = entry & ADDRESS;
    }
    None
}

/// Maps `[start, end]` (inclusive, page-rounded) at the same IO addresses,
/// read-write, with 4 KiB pages, taking missing tables from `allocate`
/// (which returns zeroed table pages). For firmware-reserved regions (RMRRs)
/// that devices keep using. Returns the number of pages mapped.
pub fn identity_map<M: TableMemory>(
    memory: &mut M,
    root: u64,
    levels: u32,
    start: u64,
    end: u64,
    allocate: &mut dyn FnMut(&mut M) -> Option<u64>,
) -> Result<u64, WalkError> {
    let mut page = start & !0xfff;
    let mut mapped = 0;
    while page <= end && page < address_limit(levels) {
        match map_page(memory, root, levels, page, 1, page, READ | WRITE) {
            Ok(()) => {
                mapped += 1;
                page += 0x1000;
            }
            Err(WalkError::MissingTable { .. }) => {
                let table = allocate(memory).ok_or(WalkError::MissingTable { level: 1 })?;
                install_table(memory, root, levels, page, table)?;
            }
            Err(WalkError::Occupied) => page += 0x1000, // already mapped, as wanted
            Err(error) => return Err(error),
        }
    }
    Ok(mapped)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::HashMap;

    /// Tables as a map from address to 512 entries; new tables from 0x100000 up.
    #[derive(Default)]
    struct Fake {
        tables: HashMap<u64, [u64; 512]>,
        next: u64,
    }

    impl Fake {
        fn new() -> Fake {
            Fake {
                tables: HashMap::new(),
                next: 0x10_0000,
            }
        }
        fn table(&mut self) -> u64 {
            let at = self.next;
            self.next += 0x1000;
            self.tables.insert(at, [0; 512]);
            at
        }
    }

    impl TableMemory for Fake {
        fn read(&self, table: u64, index: usize) -> u64 {
            self.tables.get(&table).expect("a table")[index]
        }
        fn write(&mut self, table: u64, index: usize, value: u64) {
            self.tables.get_mut(&table).expect("a table")[index] = value;
        }
    }

    #[test]
    fn tables_go_to_the_first_missing_level() {
        let mut m = Fake::new();
        let root = m.table();
        let (a, b) = (m.table(), m.table());
        assert_eq!(install_table(&mut m, root, 3, 0x1000, a), Ok(2));
        assert_eq!(install_table(&mut m, root, 3, 0x1000, b), Ok(1));
        let c = m.table();
        assert_eq!(
            install_table(&mut m, root, 3, 0x1000, c),
            Err(WalkError::Occupied)
        );
        // Another 2 MiB range under the same level-2 table needs only a level-1 table.
        assert_eq!(install_table(&mut m, root, 3, 0x20_0000, c), Ok(1));
    }

    #[test]
    fn map_translate_unmap() {
        let mut m = Fake::new();
        let root = m.table();
        assert_eq!(
            map_page(&mut m, root, 3, 0x1000, 1, 0x5555_0000, READ),
            Err(WalkError::MissingTable { level: 2 })
        );
        let (l2, l1) = (m.table(), m.table());
        install_table(&mut m, root, 3, 0x1000, l2).unwrap();
        assert_eq!(
            map_page(&mut m, root, 3, 0x1000, 1, 0x5555_0000, READ),
            Err(WalkError::MissingTable { level: 1 })
        );
        install_table(&mut m, root, 3, 0x1000, l1).unwrap();
        map_page(&mut m, root, 3, 0x1000, 1, 0x5555_0000, READ | WRITE).unwrap();
        assert_eq!(
            translate(&m, root, 3, 0x1234),
            Some((0x5555_0234, READ | WRITE))
        );
        assert_eq!(
            map_page(&mut m, root, 3, 0x1000, 1, 0x6666_0000, READ),
            Err(WalkError::Occupied)
        );
        assert!(!unmap(&mut m, root, 3, 0x1000, 0x6666_0000));
        assert!(unmap(&mut m, root, 3, 0x1000, 0x5555_0000));
        assert_eq!(translate(&m, root, 3, 0x1234), None);
    }

    #[test]
    fn superpages_map_2_mib_and_block_tables() {
        let mut m = Fake::new();
        let root = m.table();
        let l2 = m.table();
        install_table(&mut m, root, 3, 0x40_0000, l2).unwrap();
        map_page(&mut m, root, 3, 0x40_0000, 2, 0x8000_0000, WRITE).unwrap();
        assert_eq!(
            translate(&m, root, 3, 0x41_2345),
            Some((0x8001_2345, WRITE))
        );
        let l1 = m.table();
        assert_eq!(
            install_table(&mut m, root, 3, 0x40_0000, l1),
            Err(WalkError::SuperpageInTheWay)
        );
        assert_eq!(
            map_page(&mut m, root, 3, 0x40_1000, 1, 0x1000, READ),
            Err(WalkError::SuperpageInTheWay)
        );
        assert!(unmap(&mut m, root, 3, 0x40_0000, 0x8000_0000));
    }

    #[test]
    fn unmapping_a_table_cuts_off_everything_below() {
        let mut m = Fake::new();
        let root = m.table();
        let (l2, l1) = (m.table(), m.table());
        install_table(&mut m, root, 3, 0, l2).unwrap();
        install_table(&mut m, root, 3, 0, l1).unwrap();
        map_page(&mut m, root, 3, 0x3000, 1, 0x9000, READ).unwrap();
        assert!(unmap(&mut m, root, 3, 0x3000, l1));
        assert_eq!(translate(&m, root, 3, 0x3000), None);
    }

    #[test]
    fn identity_map_covers_the_region_and_allocates_tables() {
        let mut m = Fake::new();
        let root = m.table();
        let pages = identity_map(&mut m, root, 3, 0xe_0000, 0xf_ffff, &mut |m: &mut Fake| {
            Some(m.table())
        })
        .unwrap();
        assert_eq!(pages, 32);
        for page in (0xe_0000..0x10_0000).step_by(0x1000) {
            assert_eq!(translate(&m, root, 3, page), Some((page, READ | WRITE)));
        }
        assert_eq!(translate(&m, root, 3, 0x10_0000), None);
        // Across a 2 MiB boundary: a second level-1 table.
        let before = m.tables.len();
        identity_map(
            &mut m,
            root,
            3,
            0x1f_f000,
            0x20_0fff,
            &mut |m: &mut Fake| Some(m.table()),
        )
        .unwrap();
        assert_eq!(m.tables.len(), before + 1);
        assert!(identity_map(&mut m, root, 3, 0x4000_0000, 0x4000_0fff, &mut |_| None).is_err());
    }

    #[test]
    fn addresses_beyond_the_width_are_out_of_reach() {
        assert_eq!(address_limit(3), 1 << 39);
        assert_eq!(address_limit(4), 1 << 48);
        assert_eq!(index(0x7f_ffff_f000, 1), 511);
    }
}
