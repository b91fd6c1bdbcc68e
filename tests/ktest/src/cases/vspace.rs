//! Virtual memory: mapping frames and paging structures, their argument
//! and state checks, W^X, aliasing through copied frame caps, and unmapping.

use ward_abi::layout::USER_TOP;
use ward_userlib::cap::{self, Cap, VmAttributes};
use ward_userlib::{CapRights, Error};

use crate::ensure;
use crate::env::{Env, Tables};
use crate::framework::{Case, Check, Outcome};

pub static CASES: &[Case] = &[
    Case {
        name: "frame_map_read_write",
        run: frame_map_read_write,
    },
    Case {
        name: "frame_map_without_page_table",
        run: frame_map_without_page_table,
    },
    Case {
        name: "frame_map_misaligned",
        run: frame_map_misaligned,
    },
    Case {
        name: "frame_map_kernel_address",
        run: frame_map_kernel_address,
    },
    Case {
        name: "frame_map_twice_through_one_cap",
        run: frame_map_twice_through_one_cap,
    },
    Case {
        name: "frame_map_over_existing_mapping",
        run: frame_map_over_existing_mapping,
    },
    Case {
        name: "frame_map_write_and_execute",
        run: frame_map_write_and_execute,
    },
    Case {
        name: "frame_map_without_read",
        run: frame_map_without_read,
    },
    Case {
        name: "frame_map_into_non_vspace",
        run: frame_map_into_non_vspace,
    },
    Case {
        name: "frame_copy_aliases",
        run: frame_copy_aliases,
    },
    Case {
        name: "frame_unmap_and_remap",
        run: frame_unmap_and_remap,
    },
    Case {
        name: "frame_2m_map",
        run: frame_2m_map,
    },
    Case {
        name: "page_table_map_twice",
        run: page_table_map_twice,
    },
    Case {
        name: "page_table_map_over_existing",
        run: page_table_map_over_existing,
    },
    Case {
        name: "unmapped_page_table_cannot_be_copied",
        run: unmapped_page_table_cannot_be_copied,
    },
];

/// A standalone VSpace (never run) with tables down to a page table at `vaddr`.
fn small_vspace(env: &mut Env, vaddr: u64) -> Result<Tables, crate::framework::Why> {
    let pml4: cap::Pml4 = env.alloc();
    let mut tables = Tables::new(pml4);
    env.ensure_tables(&mut tables, vaddr)
        .ctx("making page tables")?;
    Ok(tables)
}

const SPOT: u64 = 0x0000_2000_0000_0000;

fn frame_map_read_write(env: &mut Env) -> Outcome {
    let (_, vaddr) = env.new_page();
    // SAFETY: `new_page` mapped a fresh frame read-write at `vaddr`.
    unsafe { core::ptr::write_volatile(vaddr as *mut u64, 0xfeed) };
    // SAFETY: as above.
    let value = unsafe { core::ptr::read_volatile(vaddr as *const u64) };
    ensure!(value == 0xfeed, "read back {value:#x}");
    // SAFETY: as above; a fresh frame is zeroed beyond what we wrote.
    let rest = unsafe { core::ptr::read_volatile((vaddr + 8) as *const u64) };
    ensure!(rest == 0, "a fresh frame is not zeroed");
    Ok(())
}

fn frame_map_without_page_table(env: &mut Env) -> Outcome {
    let pml4: cap::Pml4 = env.alloc();
    let frame: cap::Frame4K = env.alloc();
    let e = frame
        .frame_map(pml4, SPOT, CapRights::READ_WRITE, VmAttributes::DEFAULT)
        .want_err(Error::FailedLookup, "map into an empty VSpace")?;
    ensure!(e.lookup_failure().is_some(), "no lookup detail");
    let pdpt: cap::Pdpt = env.alloc();
    pdpt.pdpt_map(pml4, SPOT, VmAttributes::DEFAULT)
        .ctx("pdpt_map")?;
    let pt: cap::PageTable = env.alloc();
    pt.page_table_map(pml4, SPOT, VmAttributes::DEFAULT)
        .want_err(Error::FailedLookup, "page table without directory")?;
    Ok(())
}

fn frame_map_misaligned(env: &mut Env) -> Outcome {
    let tables = small_vspace(env, SPOT)?;
    let frame: cap::Frame4K = env.alloc();
    frame
        .frame_map(
            tables.pml4,
            SPOT + 8,
            CapRights::READ_WRITE,
            VmAttributes::DEFAULT,
        )
        .want_err(Error::AlignmentError, "map at +8")?;
    Ok(())
}

fn frame_map_kernel_address(env: &mut Env) -> Outcome {
    let tables = small_vspace(env, SPOT)?;
    let frame: cap::Frame4K = env.alloc();
    for vaddr in [USER_TOP, 0xffff_ffff_8000_0000, 0] {
        let e = frame.frame_map(
            tables.pml4,
            vaddr,
            CapRights::READ_WRITE,
            VmAttributes::DEFAULT,
        );
        ensure!(e.is_err(), "mapping at {vaddr:#x} succeeded");
    }
    let e = frame
        .frame_map(
            tables.pml4,
            USER_TOP,
            CapRights::READ_WRITE,
            VmAttributes::DEFAULT,
        )
        .want_err(Error::InvalidArgument, "map at the end of user space")?;
    ensure!(
        e.argument_index() == Some(0),
        "argument {:?}, expected 0 (vaddr)",
        e.argument_index()
    );
    Ok(())
}

fn frame_map_twice_through_one_cap(env: &mut Env) -> Outcome {
    let tables = small_vspace(env, SPOT)?;
    let frame: cap::Frame4K = env.alloc();
    frame
        .frame_map(
            tables.pml4,
            SPOT,
            CapRights::READ_WRITE,
            VmAttributes::DEFAULT,
        )
        .ctx("first map")?;
    frame
        .frame_map(
            tables.pml4,
            SPOT + 0x1000,
            CapRights::READ_WRITE,
            VmAttributes::DEFAULT,
        )
        .want_err(Error::IllegalOperation, "second map through the same cap")?;
    Ok(())
}

fn frame_map_over_existing_mapping(env: &mut Env) -> Outcome {
    let tables = small_vspace(env, SPOT)?;
    let a: cap::Frame4K = env.alloc();
    let b: cap::Frame4K = env.alloc();
    a.frame_map(
        tables.pml4,
        SPOT,
        CapRights::READ_WRITE,
        VmAttributes::DEFAULT,
    )
    .ctx("map a")?;
    b.frame_map(
        tables.pml4,
        SPOT,
        CapRights::READ_WRITE,
        VmAttributes::DEFAULT,
    )
    .want_err(Error::DeleteFirst, "map b over a")?;
    Ok(())
}

fn frame_map_write_and_execute(env: &mut Env) -> Outcome {
    let tables = small_vspace(env, SPOT)?;
    let frame: cap::Frame4K = env.alloc();
    let e = frame
        .frame_map(
            tables.pml4,
            SPOT,
            CapRights::READ_WRITE,
            VmAttributes::EXECUTABLE,
        )
        .want_err(Error::InvalidArgument, "writable and executable")?;
    ensure!(
        e.argument_index() == Some(2),
        "argument {:?}, expected 2 (attributes)",
        e.argument_index()
    );
    frame
        .frame_map(tables.pml4, SPOT, CapRights::READ, VmAttributes::EXECUTABLE)
        .ctx("read-only executable")?;
    Ok(())
}

fn frame_map_without_read(env: &mut Env) -> Outcome {
    let tables = small_vspace(env, SPOT)?;
    let frame: cap::Frame4K = env.alloc();
    frame
        .frame_map(tables.pml4, SPOT, CapRights::WRITE, VmAttributes::DEFAULT)
        .want_err(Error::InvalidArgument, "write-only mapping")?;
    Ok(())
}

fn frame_map_into_non_vspace(env: &mut Env) -> Outcome {
    let frame: cap::Frame4K = env.alloc();
    frame
        .frame_map(
            env.root.cnode.cast(),
            SPOT,
            CapRights::READ_WRITE,
            VmAttributes::DEFAULT,
        )
        .want_err(Error::InvalidCapability, "a CNode as VSpace")?;
    Ok(())
}

fn frame_copy_aliases(env: &mut Env) -> Outcome {
    let (frame, first) = env.new_page();
    let copy = env
        .copy(frame.cptr(), CapRights::READ)
        .ctx("copy read-only")?;
    let second = env.reserve_scratch(1);
    env.map_root(Cap::from_cptr(copy), second, CapRights::READ_WRITE)
        .ctx("map the copy")?;
    // SAFETY: `first` is the frame's read-write mapping.
    unsafe { core::ptr::write_volatile(first as *mut u64, 0xa11a5) };
    // SAFETY: `second` maps the same frame (read-only: the copy lost write).
    let seen = unsafe { core::ptr::read_volatile(second as *const u64) };
    ensure!(seen == 0xa11a5, "the alias reads {seen:#x}");
    Ok(())
}

fn frame_unmap_and_remap(env: &mut Env) -> Outcome {
    let (frame, first) = env.new_page();
    // SAFETY: `first` is mapped read-write.
    unsafe { core::ptr::write_volatile(first as *mut u64, 0x600d) };
    frame.frame_unmap().ctx("unmap")?;
    let second = env.reserve_scratch(1);
    env.map_root(frame, second, CapRights::READ_WRITE)
        .ctx("remap")?;
    // SAFETY: the frame is now mapped read-write at `second`.
    let seen = unsafe { core::ptr::read_volatile(second as *const u64) };
    ensure!(seen == 0x600d, "after remapping the frame reads {seen:#x}");
    frame.frame_unmap().ctx("unmap again")?;
    frame.frame_unmap().ctx("unmapping an unmapped frame")?;
    Ok(())
}

fn frame_2m_map(env: &mut Env) -> Outcome {
    let pml4: cap::Pml4 = env.alloc();
    let pdpt: cap::Pdpt = env.alloc();
    let pd: cap::PageDirectory = env.alloc();
    pdpt.pdpt_map(pml4, SPOT, VmAttributes::DEFAULT)
        .ctx("pdpt_map")?;
    pd.page_directory_map(pml4, SPOT, VmAttributes::DEFAULT)
        .ctx("page_directory_map")?;
    let big: cap::Frame2M = env.alloc();
    big.frame_map(
        pml4,
        SPOT + 0x1000,
        CapRights::READ_WRITE,
        VmAttributes::DEFAULT,
    )
    .want_err(Error::AlignmentError, "2 MiB frame at a 4 KiB boundary")?;
    big.frame_map(
        pml4,
        SPOT + (2 << 20),
        CapRights::READ_WRITE,
        VmAttributes::DEFAULT,
    )
    .ctx("2 MiB frame")?;
    Ok(())
}

fn page_table_map_twice(env: &mut Env) -> Outcome {
    let tables = small_vspace(env, SPOT)?;
    let pt: cap::PageTable = env.alloc();
    pt.page_table_map(tables.pml4, SPOT + (4 << 20), VmAttributes::DEFAULT)
        .ctx("map")?;
    pt.page_table_map(tables.pml4, SPOT + (6 << 20), VmAttributes::DEFAULT)
        .want_err(Error::IllegalOperation, "map the same page table again")?;
    Ok(())
}

fn page_table_map_over_existing(env: &mut Env) -> Outcome {
    let tables = small_vspace(env, SPOT)?;
    let pt: cap::PageTable = env.alloc();
    pt.page_table_map(tables.pml4, SPOT, VmAttributes::DEFAULT)
        .want_err(Error::DeleteFirst, "a second table for one slot")?;
    Ok(())
}

fn unmapped_page_table_cannot_be_copied(env: &mut Env) -> Outcome {
    let pt: cap::PageTable = env.alloc();
    env.copy(pt.cptr(), CapRights::ALL)
        .want_err(Error::IllegalOperation, "copy of an unmapped page table")?;
    Ok(())
}
