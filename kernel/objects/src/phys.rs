//! The physical-memory window: the one place this crate touches memory.
//!
//! Every kernel object lives in physical memory retyped from Untyped. The
//! kernel reaches physical address `p` at virtual address `base + p`: on the
//! bare-metal kernel `base` is the kernel's map of all physical memory
//! (`0xffff_8000_0000_0000`), in host tests it is a buffer that simulates RAM.
//!
//! All access goes through word-sized reads and writes by raw pointer and is
//! never held as a Rust reference, so no two `&mut` can alias a slot; the
//! kernel is single-threaded with interrupts off, so there are no concurrent
//! accesses either. This module holds all of the crate's `unsafe` code.

use core::marker::PhantomData;

/// A physical address. Kept as a plain `u64`; types that know what lives at
/// an address (slots, TCBs, endpoints) wrap it.
pub type PAddr = u64;

/// A window onto physical memory: `paddr` is at `base + paddr`.
///
/// Copyable so that object handles can carry it; not `Send`/`Sync` because
/// the memory behind it is only safe to use from one CPU with interrupts off.
#[derive(Clone, Copy, Debug)]
pub struct PhysWindow {
    base: *mut u8,
    size: u64,
    _not_send_or_sync: PhantomData<*mut u8>,
}

impl PhysWindow {
    /// Creates a window of `size` bytes of physical memory mapped at `base`.
    /// `size` must be a power of two (so a word's check is one mask test);
    /// a `const` window (the kernel's) lets the compiler fold base and mask
    /// into every access.
    ///
    /// # Safety
    /// For as long as any copy of the window is used: `base` must be 8-byte
    /// aligned, `base..base + size` valid for reads and writes, and used by
    /// nothing else that
    /// keeps references into it while this crate runs (the kernel may touch
    /// object memory itself only through raw pointers, between calls).
    pub const unsafe fn new(base: *mut u8, size: u64) -> PhysWindow {
        assert!(
            size.is_power_of_two(),
            "physical window size must be a power of two"
        );
        PhysWindow {
            base,
            size,
            _not_send_or_sync: PhantomData,
        }
    }

    /// The number of bytes of physical memory the window covers.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether `paddr..paddr + len` lies inside the window.
    #[inline]
    pub fn contains(&self, paddr: PAddr, len: u64) -> bool {
        paddr.checked_add(len).is_some_and(|end| end <= self.size)
    }

    /// Panics unless `paddr..paddr+len` is inside the window and, for word
    /// access, 8-byte aligned. A failure here is a kernel bug (object model
    /// addresses come only from untyped caps inside the window), never a
    /// user error.
    #[inline]
    fn check(&self, paddr: PAddr, len: u64, align: u64) {
        assert!(
            self.contains(paddr, len) && paddr.is_multiple_of(align),
            "physical access outside the window or misaligned: {paddr:#x}+{len}"
        );
    }

    /// Panics unless the word at `paddr` is inside the window and aligned:
    /// with a power-of-two size, one mask test says both.
    #[inline(always)]
    fn check_word(&self, paddr: PAddr) {
        if paddr & (!(self.size - 1) | 7) != 0 {
            word_outside_the_window(paddr)
        }
    }

    /// The kernel-virtual pointer for the naturally aligned block of
    /// `2^bits` bytes at `paddr` (an object, or part of one: a TCB's
    /// context area); with a power-of-two window one mask test checks it.
    /// As for [`PhysWindow::kernel_pointer`], using it is the caller's
    /// `unsafe` business.
    #[inline(always)]
    pub fn block_pointer(&self, paddr: PAddr, bits: u32) -> *mut u8 {
        if bits >= 64 || paddr & (!(self.size - 1) | ((1u64 << bits) - 1)) != 0 {
            word_outside_the_window(paddr)
        }
        self.base.wrapping_add(paddr as usize)
    }

    /// Reads the word at `offset` in the naturally aligned block of
    /// `2^bits` bytes at `base` (an object: a TCB, a slot, an endpoint).
    /// The block is checked with one mask test; the offset is kept inside
    /// it by masking, which costs nothing for the constant offsets objects
    /// use. Several accesses to one object then share one check.
    #[inline(always)]
    pub fn read_in(&self, base: PAddr, bits: u32, offset: u64) -> u64 {
        let at = self.word_in(base, bits, offset);
        // SAFETY: `word_in` keeps the word inside a block it checked to lie
        // in the window; the window's contract makes it valid memory with
        // no live references.
        unsafe { at.read_volatile() }
    }

    /// Writes the word at `offset` in the block of `2^bits` bytes at `base`
    /// (see [`PhysWindow::read_in`]).
    #[inline(always)]
    pub fn write_in(&self, base: PAddr, bits: u32, offset: u64, value: u64) {
        let at = self.word_in(base, bits, offset);
        // SAFETY: as in `read_in`.
        unsafe { at.write_volatile(value) }
    }

    #[inline(always)]
    fn word_in(&self, base: PAddr, bits: u32, offset: u64) -> *mut u64 {
        let block = 1u64 << bits;
        if !(3..48).contains(&bits) || base & (!(self.size - 1) | (block - 1)) != 0 {
            word_outside_the_window(base)
        }
        debug_assert!(
            offset + 8 <= block,
            "offset {offset:#x} outside a {block}-byte object"
        );
        let offset = offset & (block - 1) & !7;
        self.base.wrapping_add((base + offset) as usize) as *mut u64
    }

    /// Reads the word at `paddr` (8-byte aligned).
    #[inline(always)]
    pub fn read_word(&self, paddr: PAddr) -> u64 {
        self.check_word(paddr);
        // SAFETY: `check_word` proved the word is inside the window and
        // aligned; the window's contract makes it valid memory with no live
        // references.
        unsafe { (self.base.add(paddr as usize) as *const u64).read_volatile() }
    }

    /// Writes the word at `paddr` (8-byte aligned).
    #[inline(always)]
    pub fn write_word(&self, paddr: PAddr, value: u64) {
        self.check_word(paddr);
        // SAFETY: as in `read_word`.
        unsafe { (self.base.add(paddr as usize) as *mut u64).write_volatile(value) }
    }

    /// Sets `len` bytes from `paddr` to zero (both 8-byte aligned).
    pub fn zero(&self, paddr: PAddr, len: u64) {
        self.check(paddr, len, 8);
        assert!(len.is_multiple_of(8));
        // SAFETY: the range is inside the window (checked) and the window's
        // contract makes it valid, unaliased memory.
        unsafe { core::ptr::write_bytes(self.base.add(paddr as usize), 0, len as usize) }
    }

    /// The kernel-virtual pointer for `paddr`, for the kernel's own use of
    /// object memory it defines (a TCB's register context, a frame's bytes).
    /// Using the pointer is the caller's `unsafe` business; the window only
    /// checks the range.
    #[inline]
    pub fn kernel_pointer(&self, paddr: PAddr, len: u64) -> *mut u8 {
        self.check(paddr, len, 1);
        self.base.wrapping_add(paddr as usize)
    }
}

/// The panic of a failed word check, out of line so the check stays small.
#[cold]
#[inline(never)]
fn word_outside_the_window(paddr: PAddr) -> ! {
    panic!("physical access outside the window or misaligned: {paddr:#x}+8")
}
