//! The teaching experiments' hardware halves (tests/experiments): the same DMA with and without
//! VT-d, so a learner sees what the IOMMU changes.
//!
//! - `dma-victim`: edu is told to DMA over a page it was never given (the victim's). With VT-d
//!   the write is blocked and the fault record reported; without it the victim's bytes change.
//!   The victim's first bytes are printed before and after, so the difference is seen byte by
//!   byte.
//! - `bounce`: edu's DMA engine drives only 28 address bits, and the buffer that must receive
//!   its data lies above 256 MiB. Without an IOMMU the data goes through a low bounce buffer and
//!   the CPU copies it up; with one, the buffer is mapped at a low IO address and the device
//!   writes it directly. The cost of each, per 2 KiB transfer, is measured in TSC ticks (guest
//!   instructions when QEMU runs with `-icount shift=0`).
//!
//! - `copy-or-map`: handing a packet to another party by copying it, or by mapping its pages
//!   into the receiver's address space (zero-copy), at sizes from 64 bytes to 64 KiB.
//!
//! The DMA modes work on both machines; which half it shows depends on whether the boot info
//! reports an IOMMU.
use crate::edu::Edu;
use crate::env::{Env, DEPTH};
use crate::iommu::next_fault;
use crate::Tally;
use ward_userlib::abi::bootinfo::BootInfo;
use ward_userlib::cap::{Frame4K, IoPageTable, IoSpace, Notification, VmAttributes};
use ward_userlib::time::read_tsc;
use ward_userlib::{println, CapRights, ObjectType};

/// edu's DMA engine reaches only 28 address bits (QEMU's edu masks the rest off).
const EDU_ADDRESS_LIMIT: u64 = 1 << 28;
/// The IO address of the driver's own buffer, when there is an IOMMU.
const OWN_IOADDR: u64 = 0x1000;
/// The IO address the high buffer is mapped at, when there is an IOMMU: low, so edu reaches it.
const HIGH_IOADDR: u64 = 0x2000;
/// The IOSpace's domain.
const DOMAIN: u16 = 1;
/// Bytes the stray DMA writes: enough to see, small enough to print.
const STRAY_LENGTH: u64 = 16;
/// The bytes the victim holds, and the bytes the stray DMA carries.
const VICTIM_BYTE: u8 = 0xAA;
const STRAY_TEXT: &[u8; 16] = b"stray DMA here!!";
/// Transfers measured per figure: enough to average out the timer interrupt that may land in one.
const MEASURED_TRANSFERS: u64 = 64;
/// A page: what the test maps and fills.
const PAGE: u64 = 4096;
/// One edu transfer: a packet buffer's 2 KiB (edu's 4 KiB buffer takes less than its whole size
/// per DMA).
const TRANSFER: u64 = 2048;

fn slice(vaddr: u64, length: usize) -> &'static mut [u8] {
    // SAFETY: every `vaddr` passed here is a page this test mapped read-write for itself; the
    // device writes it only while the test waits for the DMA to finish.
    unsafe { core::slice::from_raw_parts_mut(vaddr as *mut u8, length) }
}

fn hex(bytes: &[u8]) -> heapless::String<64> {
    let mut s = heapless::String::new();
    for b in bytes {
        let _ = core::fmt::Write::write_fmt(&mut s, format_args!("{b:02x} "));
    }
    s
}

/// edu's IOSpace with its IO page tables and a fault notification, when there is an IOMMU.
fn confine(env: &mut Env, edu: &Edu) -> Option<(IoSpace, Notification)> {
    let space: IoSpace = ward_userlib::Cap::from_cptr(env.slots.alloc()?);
    env.caps
        .io_space
        .io_space_issue(
            edu.function.requester,
            DOMAIN,
            env.caps.cnode,
            space.cptr(),
            DEPTH,
        )
        .ok()?;
    // Three levels of IO page table cover both low IO addresses.
    for _ in 0..3 {
        let table: IoPageTable = env.make(ObjectType::IoPageTable);
        table.io_page_table_map(space, OWN_IOADDR).ok()?;
    }
    let notification: Notification = env.make(ObjectType::Notification);
    space.io_space_set_fault_notification(notification).ok()?;
    Some((space, notification))
}

/// A frame for the test and a second cap to it (one for the CPU's mapping, one for the
/// device's), from `untyped`; returns (device cap, CPU address, physical address).
fn shared_frame(env: &mut Env, untyped: ward_userlib::cap::Untyped) -> (Frame4K, u64, u64) {
    let frame: Frame4K = env.make_from(untyped, ObjectType::Frame4K);
    let ours = env.copy(frame);
    let vaddr = env.map(ours, CapRights::READ_WRITE);
    let paddr = frame.frame_get_address().unwrap_or(0);
    (frame, vaddr, paddr)
}

pub fn run_dma_victim(info: &BootInfo, tally: &mut Tally) {
    let mut env = Env::new(info);
    let iommu = info.platform.iommu == 1;
    println!(
        "hwtest: VT-d is {}",
        if iommu {
            "on: every DMA goes through edu's IO page tables"
        } else {
            "absent (no DMAR table): edu's DMA addresses are physical addresses"
        }
    );
    let Some(edu) = Edu::open(&mut env) else {
        tally.check("find the edu device (00:xx.0, 1234:11e8)", false);
        return;
    };
    let Some(low) = env.ram_below(EDU_ADDRESS_LIMIT) else {
        tally.check("RAM below edu's 28-bit limit", false);
        return;
    };
    // The driver's own buffer, and the victim: a page edu was never given.
    let (own, own_vaddr, own_paddr) = shared_frame(&mut env, low);
    let (_, victim_vaddr, victim_paddr) = shared_frame(&mut env, low);
    slice(own_vaddr, STRAY_TEXT.len()).copy_from_slice(STRAY_TEXT);
    slice(victim_vaddr, PAGE as usize).fill(VICTIM_BYTE);
    let confined = if iommu {
        let c = confine(&mut env, &edu);
        let mapped = c.as_ref().is_some_and(|(space, _)| {
            own.frame_map_io(*space, OWN_IOADDR, CapRights::READ_WRITE)
                .is_ok()
        });
        tally.check("edu's IOSpace maps only its own buffer", mapped);
        c
    } else {
        None
    };
    let own_device_address = if iommu { OWN_IOADDR } else { own_paddr };
    println!(
        "hwtest: edu's own buffer: physical {own_paddr:#x}, device address {own_device_address:#x}"
    );
    println!("hwtest: the victim's page: physical {victim_paddr:#x}, never given to edu");
    let before = hex(&slice(victim_vaddr, STRAY_LENGTH as usize)[..]);
    println!("hwtest: victim bytes 0..16 before: {before}");
    tally.check(
        "edu loads the driver's bytes from its own buffer",
        edu.dma_from_ram(own_device_address, STRAY_LENGTH),
    );
    println!("hwtest: the driver tells edu to write them to {victim_paddr:#x}, the victim's page");
    let finished = edu.dma_to_ram(victim_paddr, STRAY_LENGTH);
    let fault = confined.and_then(|(space, notification)| next_fault(space, notification));
    let after = hex(&slice(victim_vaddr, STRAY_LENGTH as usize)[..]);
    println!("hwtest: victim bytes 0..16 after:  {after}");
    let unchanged = slice(victim_vaddr, PAGE as usize)
        .iter()
        .all(|&b| b == VICTIM_BYTE);
    if iommu {
        if let Some(f) = fault {
            println!(
                "hwtest: VT-d fault record: {} at IO address {:#x}, reason {:#x}, from requester {:#06x}",
                if f.is_write { "write" } else { "read" },
                f.address,
                f.reason,
                edu.function.requester
            );
        }
        tally.check(
            "with VT-d the write is blocked and reported (the fault names the victim's page)",
            fault.is_some_and(|f| f.is_write && f.address == victim_paddr & !0xfff),
        );
        tally.check(
            "with VT-d the victim's bytes are unchanged, all 4096 of them",
            unchanged,
        );
    } else {
        let written = &slice(victim_vaddr, STRAY_LENGTH as usize)[..] == STRAY_TEXT;
        println!(
            "hwtest: the victim now reads \"{}\"",
            core::str::from_utf8(&slice(victim_vaddr, STRAY_LENGTH as usize)[..]).unwrap_or("?")
        );
        tally.check(
            "without an IOMMU the DMA finishes and the victim's bytes change",
            finished && written,
        );
    }
}

pub fn run_bounce(info: &BootInfo, tally: &mut Tally) {
    let mut env = Env::new(info);
    let iommu = info.platform.iommu == 1;
    let Some(edu) = Edu::open(&mut env) else {
        tally.check("find the edu device (00:xx.0, 1234:11e8)", false);
        return;
    };
    let (Some(low), Some(high)) = (
        env.ram_below(EDU_ADDRESS_LIMIT),
        env.ram_above(EDU_ADDRESS_LIMIT),
    ) else {
        tally.check("RAM both below and above edu's 28-bit limit", false);
        return;
    };
    // Where the data comes from (edu's buffer is loaded from it first, as if the device had
    // received it), the destination above the limit, and the bounce buffer below it.
    let (source, source_vaddr, source_paddr) = shared_frame(&mut env, low);
    let (target, target_vaddr, target_paddr) = shared_frame(&mut env, high);
    let (_, bounce_vaddr, bounce_paddr) = shared_frame(&mut env, low);
    for (i, b) in slice(source_vaddr, TRANSFER as usize)
        .iter_mut()
        .enumerate()
    {
        *b = (i % 251) as u8;
    }
    println!(
        "hwtest: the buffer that must receive edu's data is at physical {target_paddr:#x}, beyond edu's reach (it drives addresses below {EDU_ADDRESS_LIMIT:#x} only)"
    );
    let confined = if iommu { confine(&mut env, &edu) } else { None };
    let mut map_ticks = None;
    if iommu {
        let Some((space, _)) = confined else {
            tally.check("edu's IOSpace", false);
            return;
        };
        let mapped = source
            .frame_map_io(space, OWN_IOADDR, CapRights::READ_WRITE)
            .is_ok();
        tally.check(
            "the source is mapped at a low IO address",
            mapped && edu.dma_from_ram(OWN_IOADDR, TRANSFER),
        );
        // Directly: the high frame at a low IO address; edu writes it, no copy.
        let direct = target
            .frame_map_io(space, HIGH_IOADDR, CapRights::READ_WRITE)
            .is_ok()
            && edu.dma_to_ram(HIGH_IOADDR, TRANSFER);
        println!("hwtest: VT-d maps physical {target_paddr:#x} at IO address {HIGH_IOADDR:#x}; edu writes it directly");
        tally.check(
            "with VT-d edu writes the high buffer directly, byte-exact, no copy",
            direct
                && slice(target_vaddr, TRANSFER as usize) == slice(source_vaddr, TRANSFER as usize),
        );
        let _ = target.frame_unmap();
        // The price of mapping per transfer (a streaming DMA API): map, then unmap with its
        // IOTLB invalidation. A mapping kept for the buffer's life costs nothing per transfer.
        let start = read_tsc();
        let mut ok = true;
        for _ in 0..MEASURED_TRANSFERS {
            ok &= target
                .frame_map_io(space, HIGH_IOADDR, CapRights::READ_WRITE)
                .is_ok();
            ok &= target.frame_unmap().is_ok();
        }
        let ticks = (read_tsc() - start) / MEASURED_TRANSFERS;
        tally.check("map and unmap 64 times", ok);
        println!("hwtest: figure: map + unmap (IOTLB invalidated) per transfer: {ticks} ticks");
        map_ticks = Some(ticks);
    } else {
        tally.check(
            "edu loads the data",
            edu.dma_from_ram(source_paddr, TRANSFER),
        );
        println!(
            "hwtest: no IOMMU: edu cannot be given {target_paddr:#x} (it would drop the top bits and write {:#x}); it writes the bounce buffer at {bounce_paddr:#x} and the CPU copies",
            target_paddr & (EDU_ADDRESS_LIMIT - 1)
        );
        let landed = edu.dma_to_ram(bounce_paddr, TRANSFER);
        slice(target_vaddr, TRANSFER as usize)
            .copy_from_slice(slice(bounce_vaddr, TRANSFER as usize));
        tally.check(
            "without an IOMMU the data reaches the high buffer through the bounce buffer, byte-exact",
            landed && slice(target_vaddr, TRANSFER as usize) == slice(source_vaddr, TRANSFER as usize),
        );
    }
    // The bounce buffer's price, measured on both machines: the CPU copies every byte.
    let start = read_tsc();
    for _ in 0..MEASURED_TRANSFERS {
        slice(target_vaddr, TRANSFER as usize)
            .copy_from_slice(slice(bounce_vaddr, TRANSFER as usize));
        core::hint::black_box(target_vaddr);
    }
    let copy_ticks = (read_tsc() - start) / MEASURED_TRANSFERS;
    println!("hwtest: figure: bounce copy of 2048 bytes per transfer: {copy_ticks} ticks");
    if let Some(map) = map_ticks {
        let tenths = map * 10 / copy_ticks.max(1);
        println!(
            "hwtest: figure: mapping per transfer costs {}.{}x the copy it replaces; a mapping kept for the buffer's life costs nothing per transfer",
            tenths / 10,
            tenths % 10
        );
    }
}

/// Packet sizes the copy-or-remap experiment measures: small frames, a full Ethernet frame, one
/// page, and transfers of several pages (where remapping needs one mapping per page).
const COPY_OR_MAP_SIZES: [u64; 9] = [64, 256, 1024, 1514, 4096, 8192, 16384, 32768, 65536];
/// Pages of the largest size.
const COPY_OR_MAP_PAGES: usize = 16;
/// Measurements per figure (their median is the figure).
const COPY_OR_MAP_ROUNDS: u64 = 31;

/// The median of `rounds` measurements, after one that is not counted (it warms the caches
/// and, under TCG, translates the code). The median, not the mean: under plain TCG a timer
/// interrupt or the host's scheduler can make one round hundreds of times slower.
fn median(rounds: u64, mut measure: impl FnMut() -> u64) -> u64 {
    let _ = measure();
    let mut samples: heapless::Vec<u64, 64> = heapless::Vec::new();
    for _ in 0..rounds.min(64) {
        let _ = samples.push(measure());
    }
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or(0)
}

/// Copy or remap: what it costs to hand `size` bytes that one party holds to another, by copying
/// them into the receiver's buffer (what Ward's network stack does with a received frame) or by
/// mapping the pages that hold them into the receiver's address space and unmapping them once
/// read (zero-copy by page remapping). Prints both costs per size and which wins.
pub fn run_copy_or_map(info: &BootInfo, tally: &mut Tally) {
    let mut env = Env::new(info);
    let vspace = env.caps.vspace;
    // The sender's pages (mapped once, contiguous) and a second cap to each for the receiver's
    // mapping; the receiver's own buffer for the copy; the receiver's window for the remap (its
    // page tables made once, then left empty).
    let mut lent: heapless::Vec<Frame4K, COPY_OR_MAP_PAGES> = heapless::Vec::new();
    let mut sender = 0;
    for i in 0..COPY_OR_MAP_PAGES {
        let frame: Frame4K = env.make(ObjectType::Frame4K);
        let second = env.copy(frame);
        let vaddr = env.map(frame, CapRights::READ_WRITE);
        if i == 0 {
            sender = vaddr;
        }
        let _ = lent.push(second);
    }
    let mut receiver = 0;
    for i in 0..COPY_OR_MAP_PAGES {
        let frame: Frame4K = env.make(ObjectType::Frame4K);
        let vaddr = env.map(frame, CapRights::READ_WRITE);
        if i == 0 {
            receiver = vaddr;
        }
    }
    let mut window = 0;
    for (i, frame) in lent.iter().enumerate() {
        let vaddr = env.map(*frame, CapRights::READ);
        let _ = frame.frame_unmap();
        if i == 0 {
            window = vaddr;
        }
    }
    let all = COPY_OR_MAP_PAGES * PAGE as usize;
    for (i, b) in slice(sender, all).iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    let mut remap_ok = true;
    let mut rows: heapless::Vec<(u64, u64, u64), 16> = heapless::Vec::new();
    println!(
        "hwtest: {:>6} {:>12} {:>12}  cheaper",
        "bytes", "copy", "remap"
    );
    for size in COPY_OR_MAP_SIZES {
        let pages = size.div_ceil(PAGE) as usize;
        let copy_once = || {
            let start = read_tsc();
            slice(receiver, size as usize).copy_from_slice(slice(sender, size as usize));
            core::hint::black_box(receiver);
            read_tsc() - start
        };
        let mut remap_once = || {
            let start = read_tsc();
            for (p, frame) in lent.iter().take(pages).enumerate() {
                let at = window + (p as u64) * PAGE;
                remap_ok &= frame
                    .frame_map(vspace, at, CapRights::READ, VmAttributes::DEFAULT)
                    .is_ok();
                // The receiver reads the data where it now appears (a TLB miss per page).
                // SAFETY: `at` was just mapped readable.
                let first = unsafe { core::ptr::read_volatile(at as *const u8) };
                core::hint::black_box(first);
            }
            for frame in lent.iter().take(pages) {
                remap_ok &= frame.frame_unmap().is_ok();
            }
            read_tsc() - start
        };
        let copy = median(COPY_OR_MAP_ROUNDS, copy_once);
        let remap = median(COPY_OR_MAP_ROUNDS, &mut remap_once);
        println!(
            "hwtest: {size:>6} {copy:>12} {remap:>12}  {}",
            if copy <= remap { "copy" } else { "remap" }
        );
        let _ = rows.push((size, copy, remap));
    }
    tally.check("every remap and unmap succeeded", remap_ok);
    tally.check(
        "the remapped pages show the sender's bytes",
        lent[0]
            .frame_map(vspace, window, CapRights::READ, VmAttributes::DEFAULT)
            .is_ok()
            && slice(window, PAGE as usize) == slice(sender, PAGE as usize),
    );
    let _ = lent[0].frame_unmap();
    let cost = |size: u64| {
        rows.iter()
            .find(|r| r.0 == size)
            .map_or((0, 0), |r| (r.1, r.2))
    };
    let (copy_small, remap_small) = cost(64);
    let (copy_frame, remap_frame) = cost(1514);
    let (copy_big, remap_big) = cost(65536);
    tally.check(
        "copying costs more the more bytes it moves (64 KiB costs over 100x 64 bytes)",
        copy_big > 100 * copy_small,
    );
    tally.check(
        "remapping costs by the page, not the byte (a 1514-byte frame costs under 2x a 64-byte one)",
        remap_frame < 2 * remap_small,
    );
    tally.check(
        "a full Ethernet frame (1514 bytes) is cheaper to copy than to remap",
        copy_frame < remap_frame,
    );
    match rows.iter().find(|r| r.2 < r.1) {
        Some((size, _, _)) => println!(
            "hwtest: figure: copying wins below {size} bytes, remapping from {size} bytes on"
        ),
        None => println!(
            "hwtest: figure: copying wins at every size measured, up to {} bytes (a full frame: copy {copy_frame}, remap {remap_frame}; 64 KiB: copy {copy_big}, remap {remap_big})",
            COPY_OR_MAP_SIZES[COPY_OR_MAP_SIZES.len() - 1]
        ),
    }
}
