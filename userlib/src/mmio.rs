//! Memory-mapped device registers: the one place where a driver's volatile
//! accesses are written.
//!
//! A driver names its registers as typed constants and reaches them through
//! the [`RegisterBlock`] of a BAR the system description granted it:
//!
//! ```ignore
//! const STATUS: Register<u32> = Register::new("STATUS", 0x0008);
//! let nic = RegisterBlock::of(caps::NIC_BAR0);
//! if nic.read(STATUS) & LINK_UP != 0 { .. }
//! nic.wait_for(STATUS, LINK_UP, LINK_UP, Duration::from_millis(10))?;
//! ```
//!
//! Every access is checked against the block's size: a register outside the
//! granted part of the BAR is a driver bug and panics with the register's
//! name (the supervisor then restarts the driver), never an access to
//! whatever happens to be mapped next to it.

use core::fmt;
use core::marker::PhantomData;

use crate::spec::DeviceMapping;
use crate::time::{Duration, Instant};

/// A register width: `u32` or `u64` (the widths device registers use here).
pub trait Width: Copy + fmt::LowerHex + PartialEq + sealed::Sealed {
    /// Bytes per access.
    const BYTES: usize;
    /// `self & mask`.
    fn and(self, mask: Self) -> Self;
    /// `self | bits`.
    fn or(self, bits: Self) -> Self;
    /// `self & !bits`.
    fn and_not(self, bits: Self) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

macro_rules! width {
    ($t:ty) => {
        impl Width for $t {
            const BYTES: usize = core::mem::size_of::<$t>();
            fn and(self, mask: Self) -> Self {
                self & mask
            }
            fn or(self, bits: Self) -> Self {
                self | bits
            }
            fn and_not(self, bits: Self) -> Self {
                self & !bits
            }
        }
    };
}
width!(u32);
width!(u64);

/// A device register: a name (for messages) and a byte offset in its BAR.
pub struct Register<W: Width> {
    name: &'static str,
    offset: usize,
    width: PhantomData<W>,
}

impl<W: Width> Register<W> {
    /// The register `name` at byte `offset`.
    pub const fn new(name: &'static str, offset: usize) -> Register<W> {
        Register {
            name,
            offset,
            width: PhantomData,
        }
    }

    /// The register `index * stride` bytes after this one (arrays of
    /// registers such as a NIC's receive-address or multicast tables).
    pub const fn at(self, index: usize, stride: usize) -> Register<W> {
        Register::new(self.name, self.offset + index * stride)
    }

    pub const fn name(&self) -> &'static str {
        self.name
    }

    pub const fn offset(&self) -> usize {
        self.offset
    }
}

impl<W: Width> Clone for Register<W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W: Width> Copy for Register<W> {}
impl<W: Width> fmt::Debug for Register<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{:#x}", self.name, self.offset)
    }
}

/// A register did not reach the awaited value in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeout {
    /// The register's name.
    pub register: &'static str,
    /// The bits awaited.
    pub mask: u64,
    /// The value they should have had.
    pub expected: u64,
    /// What the register last read.
    pub last: u64,
}

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "register {} did not reach {:#x} under mask {:#x} in time (last read {:#x})",
            self.register, self.expected, self.mask, self.last
        )
    }
}

/// A block of device registers: a granted, mapped part of a BAR.
pub struct RegisterBlock {
    base: usize,
    size: usize,
}

impl RegisterBlock {
    /// The registers of a BAR mapping from the component's caps table.
    pub fn of(mapping: DeviceMapping) -> RegisterBlock {
        RegisterBlock {
            base: mapping.vaddr() as usize,
            size: mapping.size() as usize,
        }
    }

    /// A block over `size` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + size` must stay mapped as device (or, in host tests,
    /// ordinary) memory for as long as the block is used, and nothing may
    /// hold a Rust reference to it.
    pub const unsafe fn new(base: usize, size: usize) -> RegisterBlock {
        RegisterBlock { base, size }
    }

    /// Bytes of registers in the block.
    pub fn size(&self) -> usize {
        self.size
    }

    fn address<W: Width>(&self, register: Register<W>) -> usize {
        let fits = register.offset.is_multiple_of(W::BYTES)
            && register
                .offset
                .checked_add(W::BYTES)
                .is_some_and(|end| end <= self.size);
        if !fits {
            panic!(
                "register {register:?} ({} bytes) is outside the {}-byte register block or misaligned",
                W::BYTES,
                self.size
            );
        }
        self.base + register.offset
    }

    /// Reads a register.
    #[inline]
    pub fn read<W: Width>(&self, register: Register<W>) -> W {
        let address = self.address(register);
        // SAFETY: `address` lies inside the block (checked above), which the
        // constructor's contract keeps mapped; it is aligned for W.
        unsafe { core::ptr::read_volatile(address as *const W) }
    }

    /// Writes a register.
    #[inline]
    pub fn write<W: Width>(&self, register: Register<W>, value: W) {
        let address = self.address(register);
        // SAFETY: as for `read`.
        unsafe { core::ptr::write_volatile(address as *mut W, value) }
    }

    /// Writes a doorbell register (a ring's tail) after a
    /// [`write_barrier`](crate::dma::write_barrier), so that the device sees
    /// every descriptor and buffer store made before it.
    #[inline]
    pub fn ring_doorbell<W: Width>(&self, register: Register<W>, value: W) {
        crate::dma::write_barrier();
        self.write(register, value);
    }

    /// Sets `bits` in a register (read, or, write).
    pub fn set_bits<W: Width>(&self, register: Register<W>, bits: W) {
        self.write(register, self.read(register).or(bits));
    }

    /// Clears `bits` in a register (read, and-not, write).
    pub fn clear_bits<W: Width>(&self, register: Register<W>, bits: W) {
        self.write(register, self.read(register).and_not(bits));
    }

    /// Reads the register until `value & mask == expected`, for at most
    /// `timeout`; returns the last value read.
    pub fn wait_for<W: Width + Into<u64>>(
        &self,
        register: Register<W>,
        mask: W,
        expected: W,
        timeout: Duration,
    ) -> Result<W, WaitTimeout> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.read(register);
            if value.and(mask) == expected {
                return Ok(value);
            }
            if deadline.has_passed() {
                return Err(WaitTimeout {
                    register: register.name,
                    mask: mask.into(),
                    expected: expected.into(),
                    last: value.into(),
                });
            }
            core::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTRL: Register<u32> = Register::new("CTRL", 0x0);
    const STATUS: Register<u32> = Register::new("STATUS", 0x8);
    const WIDE: Register<u64> = Register::new("WIDE", 0x10);
    const TABLE: Register<u32> = Register::new("TABLE", 0x20);

    fn block(memory: &mut [u64; 8]) -> RegisterBlock {
        // SAFETY: `memory` outlives the block in each test and is only
        // accessed through it.
        unsafe { RegisterBlock::new(memory.as_mut_ptr() as usize, 64) }
    }

    #[test]
    fn reads_writes_and_masks() {
        let mut memory = [0u64; 8];
        let regs = block(&mut memory);
        regs.write(CTRL, 0x0f0f);
        regs.set_bits(CTRL, 0x1000);
        regs.clear_bits(CTRL, 0x000f);
        assert_eq!(regs.read(CTRL), 0x1f00);
        regs.write(WIDE, 0x1122_3344_5566_7788);
        assert_eq!(regs.read(WIDE), 0x1122_3344_5566_7788);
        regs.write(TABLE.at(3, 4), 7);
        assert_eq!(regs.read(Register::<u32>::new("TABLE[3]", 0x2c)), 7);
        drop(regs);
        assert_eq!(memory[0] as u32, 0x1f00);
    }

    #[test]
    #[should_panic(expected = "TABLE@0x40")]
    fn a_register_past_the_end_panics_by_name() {
        let mut memory = [0u64; 8];
        block(&mut memory).read(TABLE.at(8, 4));
    }

    #[test]
    #[should_panic(expected = "misaligned")]
    fn a_misaligned_register_panics() {
        let mut memory = [0u64; 8];
        block(&mut memory).read(Register::<u64>::new("ODD", 0x4));
    }

    #[test]
    fn wait_for_returns_at_once_or_times_out() {
        crate::time::set_tsc_hz(crate::time::tsc_hz());
        let mut memory = [0u64; 8];
        let regs = block(&mut memory);
        regs.write(STATUS, 0b10);
        assert_eq!(
            regs.wait_for(STATUS, 0b10, 0b10, Duration::from_millis(1)),
            Ok(0b10)
        );
        let started = std::time::Instant::now();
        let error = regs
            .wait_for(STATUS, 0b1, 0b1, Duration::from_millis(20))
            .unwrap_err();
        assert_eq!(error.register, "STATUS");
        assert_eq!(error.last, 0b10);
        // The timeout is measured on the TSC, whose host rate is unknown
        // here; it must at least end, and not before the TSC moved on.
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
    }
}
