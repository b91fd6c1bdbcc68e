//! Test support: simulated RAM behind a `PhysWindow`, a small boot layout
//! (a root CNode plus one untyped region) and a recording `ObjectHooks`.
#![allow(dead_code)]

use ward_kernel_objects::cap::Cap;
use ward_kernel_objects::{ObjectHooks, Objects, PhysWindow, Slot};

/// Where the boot slot holding the root CNode cap lives (like a TCB's CSpace slot).
pub const BOOT_SLOT: u64 = 0x1000;
/// Where the root CNode lives.
pub const ROOT_CNODE: u64 = 0x10000;
/// The untyped region handed to tests.
pub const UNTYPED_BASE: u64 = 0x100000;

/// Simulated physical memory; dropping it frees the memory, so it must
/// outlive every `Objects` made from it.
pub struct Ram {
    words: Vec<u64>,
    pub objects: Objects,
}

impl Ram {
    /// At least `bytes` of RAM: a window's size is a power of two.
    pub fn new(bytes: u64) -> Ram {
        let bytes = bytes.next_power_of_two();
        let mut words = vec![0u64; (bytes / 8) as usize];
        // SAFETY: the buffer is owned by `Ram`, lives as long as `objects`
        // is used through it, and is not otherwise referenced.
        let window = unsafe { PhysWindow::new(words.as_mut_ptr() as *mut u8, bytes) };
        Ram {
            words,
            objects: Objects::new(window),
        }
    }
}

/// The boot layout of a test: root CNode cap in `BOOT_SLOT`, an untyped of
/// `untyped_bits` at `UNTYPED_BASE` in root slot 0.
pub struct Boot {
    pub ram: Ram,
    pub root: Cap,
    pub root_radix: u32,
    pub untyped: Slot,
}

impl Boot {
    pub fn new(root_radix: u32, untyped_bits: u32) -> Boot {
        // Untyped memory is naturally aligned.
        let base = UNTYPED_BASE.max(1 << untyped_bits);
        let ram = Ram::new(base + (1 << untyped_bits));
        let o = ram.objects;
        let root = Cap::CNode {
            object: ROOT_CNODE,
            radix_bits: root_radix as u8,
            guard: 0,
            guard_bits: 0,
        };
        o.insert_original(Slot(BOOT_SLOT), root).unwrap();
        let untyped = o.cnode_slot(ROOT_CNODE, 0);
        o.insert_original(
            untyped,
            Cap::Untyped {
                object: base,
                size_bits: untyped_bits as u8,
                free_index: 0,
                is_device: false,
            },
        )
        .unwrap();
        Boot {
            ram,
            root,
            root_radix,
            untyped,
        }
    }

    pub fn o(&self) -> Objects {
        self.ram.objects
    }

    /// Root-CNode slot `i`.
    pub fn slot(&self, i: u64) -> Slot {
        self.o().cnode_slot(ROOT_CNODE, i)
    }

    pub fn cap(&self, i: u64) -> Cap {
        self.o().cap(self.slot(i))
    }

    /// Retypes `count` objects from the boot untyped into root slots from `offset`.
    pub fn retype(&self, object_type: u64, size_bits: u64, offset: u64, count: u64) {
        self.o()
            .retype(
                self.untyped,
                object_type,
                size_bits,
                self.root,
                offset,
                count,
            )
            .unwrap_or_else(|e| panic!("retype failed: {e:?}"));
    }
}

/// Records what the object model asked of the kernel.
#[derive(Default)]
pub struct Hooks {
    pub finalised: Vec<Cap>,
    pub unmapped: Vec<Cap>,
    /// Report a pending interrupt at every `preempt_every`-th check (0 = never).
    pub preempt_every: u32,
    pub checks: u32,
}

impl ObjectHooks for Hooks {
    fn finalise(&mut self, _objects: Objects, cap: Cap) {
        self.finalised.push(cap);
    }
    fn unmap(&mut self, _objects: Objects, cap: Cap) {
        self.unmapped.push(cap);
    }
    fn preemption_pending(&mut self) -> bool {
        self.checks += 1;
        self.preempt_every != 0 && self.checks.is_multiple_of(self.preempt_every)
    }
}
