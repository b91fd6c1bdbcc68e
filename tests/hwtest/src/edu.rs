//! QEMU's `edu` teaching device: a liveness register, an interrupt it
//! raises on request, and a DMA engine that copies between RAM (at any bus
//! address — which VT-d translates) and its own 4 KiB buffer.
use crate::env::Env;
use crate::pci::{self, Function};
use ward_rootkit::pci::capability;
use ward_userlib::{syscall, CapRights};

pub const VENDOR: u16 = 0x1234;
pub const DEVICE: u16 = 0x11e8;
/// Where this test places BAR0 (1 MiB): in the PCI hole, inside a device
/// untyped region, clear of the ECAM window and the APICs.
pub const BAR0_ADDRESS: u32 = 0xc000_0000;
/// The device-side address of edu's DMA buffer.
pub const DEVICE_BUFFER: u64 = 0x40000;

const ID: usize = 0x00;
const LIVENESS: usize = 0x04;
const INTERRUPT_STATUS: usize = 0x24;
const RAISE_INTERRUPT: usize = 0x60;
const ACK_INTERRUPT: usize = 0x64;
const DMA_SOURCE: usize = 0x80;
const DMA_DESTINATION: usize = 0x88;
const DMA_COUNT: usize = 0x90;
const DMA_COMMAND: usize = 0x98;
const DMA_START: u64 = 1 << 0;
const DMA_TO_RAM: u64 = 1 << 1;
/// Yields while waiting for a DMA: edu finishes after 100 ms of virtual time.
const DMA_WAIT_YIELDS: u32 = 2_000_000;

pub struct Edu {
    pub function: Function,
    registers: u64,
}

impl Edu {
    /// Finds the device, places BAR0 and maps its register page.
    pub fn open(env: &mut Env) -> Option<Edu> {
        let function = pci::find(env, VENDOR, DEVICE)?;
        function.assign_bar(0, BAR0_ADDRESS);
        let frame = env.device_frame(u64::from(BAR0_ADDRESS))?;
        let registers = env.map(frame, CapRights::READ_WRITE);
        Some(Edu {
            function,
            registers,
        })
    }

    fn read32(&self, offset: usize) -> u32 {
        // SAFETY: the register page is mapped uncached; offsets are edu's registers.
        unsafe { core::ptr::read_volatile((self.registers + offset as u64) as *const u32) }
    }

    fn write32(&self, offset: usize, value: u32) {
        // SAFETY: as for `read32`.
        unsafe { core::ptr::write_volatile((self.registers + offset as u64) as *mut u32, value) }
    }

    fn write64(&self, offset: usize, value: u64) {
        // SAFETY: as for `read32`; edu takes 64-bit writes to its DMA registers.
        unsafe { core::ptr::write_volatile((self.registers + offset as u64) as *mut u64, value) }
    }

    fn read64(&self, offset: usize) -> u64 {
        // SAFETY: as for `read32`.
        unsafe { core::ptr::read_volatile((self.registers + offset as u64) as *const u64) }
    }

    /// Programs edu's MSI capability with `address` and `data`, turns MSI
    /// on and INTx off. False if the device has no MSI capability.
    pub fn enable_msi(&self, address: u64, data: u32) -> bool {
        let config = self.function.config;
        let Some(msi) = config.find_capability(capability::MSI) else {
            return false;
        };
        config.enable_msi(msi, address, data);
        true
    }

    pub fn id(&self) -> u32 {
        self.read32(ID)
    }

    /// Writes `value` to the liveness register, which answers its complement.
    pub fn liveness(&self, value: u32) -> u32 {
        self.write32(LIVENESS, value);
        self.read32(LIVENESS)
    }

    pub fn raise_interrupt(&self, bits: u32) {
        self.write32(RAISE_INTERRUPT, bits);
    }

    pub fn interrupt_status(&self) -> u32 {
        self.read32(INTERRUPT_STATUS)
    }

    pub fn ack_interrupt(&self, bits: u32) {
        self.write32(ACK_INTERRUPT, bits);
    }

    /// Runs one DMA and waits for it; false if it never finished.
    fn dma(&self, source: u64, destination: u64, count: u64, command: u64) -> bool {
        self.write64(DMA_SOURCE, source);
        self.write64(DMA_DESTINATION, destination);
        self.write64(DMA_COUNT, count);
        self.write64(DMA_COMMAND, command | DMA_START);
        for _ in 0..DMA_WAIT_YIELDS {
            if self.read64(DMA_COMMAND) & DMA_START == 0 {
                return true;
            }
            syscall::yield_now();
        }
        false
    }

    /// Copies `count` bytes from RAM at IO address `ioaddr` into edu's buffer.
    pub fn dma_from_ram(&self, ioaddr: u64, count: u64) -> bool {
        self.dma(ioaddr, DEVICE_BUFFER, count, 0)
    }

    /// Copies `count` bytes from edu's buffer to RAM at IO address `ioaddr`.
    pub fn dma_to_ram(&self, ioaddr: u64, count: u64) -> bool {
        self.dma(DEVICE_BUFFER, ioaddr, count, DMA_TO_RAM)
    }
}
