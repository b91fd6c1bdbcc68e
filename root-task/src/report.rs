//! What the root task prints about the system: the boot report table, the
//! capability dump that `capctl audit` reads, and the summary at the end of
//! a bounded (test) run.
//!
//! The dump: the kernel has no invocation that describes the capability in
//! a slot (seL4's DebugCapIdentify), so the kind, rights, badge and target
//! of each line come from the root task's record of what it installed, and
//! the *occupancy* of every one of the component's 256 slots is checked
//! against the kernel by copying the slot: a slot that holds something the
//! record does not know is printed as a line `capctl audit` rejects, and a
//! recorded capability whose slot is empty is left out (so the audit
//! reports it missing).

use ward_sysspec::dump;
use ward_userlib::println;

use crate::resources::DEPTH;
use crate::system::{System, COMPONENT_CNODE_BITS};

fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(1024)
}

/// The boot report: one row per component.
pub fn print_table(system: &System) {
    println!(
        "{:<14} {:>4} {:>8} {:<16} {:<10} {:>4} {:>4}  {}",
        "component", "prio", "memory", "device", "irq", "caps", "gen", "state"
    );
    for instance in system.instances.iter() {
        let index = instance.index;
        let component = &system.spec.components[index];
        let mut device = "-";
        let mut irq_text = [0u8; 16];
        let mut irq_len = 1;
        irq_text[0] = b'-';
        for (device_index, record) in system.spec.devices.iter().enumerate() {
            if record.driver() == Some(index) {
                device = system.spec.str(record.name);
                let state = system.devices.get(device_index);
                let mut writer = Buf {
                    bytes: &mut irq_text,
                    used: 0,
                };
                match state
                    .filter(|d| d.irq.is_some())
                    .map(|d| (d.msi, d.irq_line))
                {
                    Some((_, Some(line))) => {
                        let _ = core::fmt::write(&mut writer, format_args!("ioapic {line}"));
                        irq_len = writer.used;
                    }
                    Some((true, None)) => {
                        let _ = core::fmt::write(&mut writer, format_args!("msi"));
                        irq_len = writer.used;
                    }
                    _ => {}
                }
            }
        }
        println!(
            "{:<14} {:>4} {:>6}Ki {:<16} {:<10} {:>4} {:>4}  {}",
            system.name(index),
            component.priority,
            kib(instance.memory_bytes),
            device,
            core::str::from_utf8(&irq_text[..irq_len]).unwrap_or("-"),
            instance.installed_count(),
            instance.generation,
            instance.state.as_str()
        );
    }
}

/// The memory of shared objects, after the table.
pub fn print_shared(system: &System) {
    println!(
        "ward: shared objects (regions, rings, channels, notifications, paging of the root task): {} KiB",
        kib(system.res.shared_bytes)
    );
}

/// A small fixed buffer for formatting without allocation.
struct Buf<'b> {
    bytes: &'b mut [u8],
    used: usize,
}

impl core::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = (self.used + s.len()).min(self.bytes.len());
        let take = end - self.used;
        self.bytes[self.used..end].copy_from_slice(&s.as_bytes()[..take]);
        self.used = end;
        Ok(())
    }
}

/// Whether slot `slot` of component `index`'s CNode holds a capability,
/// asked of the kernel by copying it into the root's scratch slot.
fn occupied(system: &System, index: usize, slot: u32, scratch: u64) -> bool {
    let root = system.res.caps.cnode;
    let cnode = system.instances[index].cnode;
    if system.instances[index].untyped.is_none() {
        return false;
    }
    let copied = root
        .cnode_copy(
            scratch,
            DEPTH,
            cnode,
            u64::from(slot),
            COMPONENT_CNODE_BITS,
            ward_userlib::CapRights::ALL,
        )
        .is_ok();
    if copied {
        let _ = root.cnode_delete(scratch, DEPTH);
    }
    copied
}

/// Prints every component's CSpace in the `capctl audit` format. Returns
/// the number of slots whose occupancy disagrees with the record.
pub fn print_dump(system: &System) -> u32 {
    let scratch = system.scratch_slot;
    let spec = system.spec;
    println!("{}begin {}", dump::MARKER, spec.name());
    let mut lines = 0u32;
    let mut disagreements = 0u32;
    for index in 0..system.instances.len() {
        let caps = spec.caps_of(index);
        for slot in 0..ward_sysspec::MAX_SLOTS {
            let holds = occupied(system, index, slot, scratch);
            let recorded = system.instances[index].is_installed(slot);
            match (holds, recorded, caps.iter().find(|c| c.slot.get() == slot)) {
                (true, true, Some(cap)) => {
                    println!("{}", dump::expected(&spec, index, cap));
                    lines += 1;
                }
                (true, _, _) => {
                    // Something the root task did not put there.
                    println!(
                        "{}{} {} unrecorded ? 0x0 ?",
                        dump::MARKER,
                        system.name(index),
                        slot
                    );
                    disagreements += 1;
                }
                (false, true, _) => {
                    println!(
                        "ward: audit: {} slot {slot} should hold a capability but is empty",
                        system.name(index)
                    );
                    disagreements += 1;
                }
                (false, false, _) => {}
            }
        }
    }
    println!("{}end {}", dump::MARKER, lines);
    println!("ward: audit: {lines} capabilities in {} components; {disagreements} slots disagree with the record", system.instances.len());
    disagreements
}

/// The closing summary of a bounded run.
pub fn print_summary(system: &System) {
    println!("ward: supervisor summary after {} ticks:", system.tick);
    for instance in system.instances.iter() {
        println!(
            "ward:   {}: generation {}, {} restarts in a row, {}",
            system.name(instance.index),
            instance.generation,
            instance.restarts,
            instance.state.as_str()
        );
    }
}
