//! QEMU's `edu` teaching device: a liveness register, an interrupt it
//! raises on request, and a DMA engine that copies between RAM (at any bus
//! address — which VT-d translates) and its own 4 KiB buffer.
use crate::env::Env;
use crate::pci::{self, Function};
use ward_rootkit::pci::capability;
use ward_userlib::mmio::{Register, RegisterBlock};
use ward_userlib::time::{Duration, Instant};
use ward_userlib::{syscall, CapRights};

pub const VENDOR: u16 = 0x1234;
pub const DEVICE: u16 = 0x11e8;
/// Where this test places BAR0 (1 MiB): in the PCI hole, inside a device
/// untyped region, clear of the ECAM window and the APICs.
pub const BAR0_ADDRESS: u32 = 0xc000_0000;
/// The device-side address of edu's DMA buffer.
pub const DEVICE_BUFFER: u64 = 0x40000;

const ID: Register<u32> = Register::new("ID", 0x00);
const LIVENESS: Register<u32> = Register::new("LIVENESS", 0x04);
const INTERRUPT_STATUS: Register<u32> = Register::new("INTERRUPT_STATUS", 0x24);
const RAISE_INTERRUPT: Register<u32> = Register::new("RAISE_INTERRUPT", 0x60);
const ACK_INTERRUPT: Register<u32> = Register::new("ACK_INTERRUPT", 0x64);
const DMA_SOURCE: Register<u64> = Register::new("DMA_SOURCE", 0x80);
const DMA_DESTINATION: Register<u64> = Register::new("DMA_DESTINATION", 0x88);
const DMA_COUNT: Register<u64> = Register::new("DMA_COUNT", 0x90);
const DMA_COMMAND: Register<u64> = Register::new("DMA_COMMAND", 0x98);
const DMA_START: u64 = 1 << 0;
const DMA_TO_RAM: u64 = 1 << 1;
/// edu finishes a DMA on a 100 ms timer of QEMU's virtual clock; wait up to
/// ten times that.
const DMA_TIMEOUT: Duration = Duration::from_secs(1);
/// The register page this test maps.
const REGISTER_PAGE: usize = 0x1000;

pub struct Edu {
    pub function: Function,
    registers: RegisterBlock,
}

impl Edu {
    /// Finds the device, places BAR0 and maps its register page.
    pub fn open(env: &mut Env) -> Option<Edu> {
        let function = pci::find(env, VENDOR, DEVICE)?;
        function.assign_bar(0, BAR0_ADDRESS);
        let frame = env.device_frame(u64::from(BAR0_ADDRESS))?;
        let base = env.map(frame, CapRights::READ_WRITE);
        // SAFETY: the test just mapped edu's first register page uncached
        // and read-write at `base`, and never unmaps it.
        let registers = unsafe { RegisterBlock::new(base as usize, REGISTER_PAGE) };
        Some(Edu {
            function,
            registers,
        })
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
        self.registers.read(ID)
    }

    /// Writes `value` to the liveness register, which answers its complement.
    pub fn liveness(&self, value: u32) -> u32 {
        self.registers.write(LIVENESS, value);
        self.registers.read(LIVENESS)
    }

    pub fn raise_interrupt(&self, bits: u32) {
        self.registers.write(RAISE_INTERRUPT, bits);
    }

    pub fn interrupt_status(&self) -> u32 {
        self.registers.read(INTERRUPT_STATUS)
    }

    pub fn ack_interrupt(&self, bits: u32) {
        self.registers.write(ACK_INTERRUPT, bits);
    }

    /// Runs one DMA and waits for it; false if it never finished.
    fn dma(&self, source: u64, destination: u64, count: u64, command: u64) -> bool {
        self.registers.write(DMA_SOURCE, source);
        self.registers.write(DMA_DESTINATION, destination);
        self.registers.write(DMA_COUNT, count);
        self.registers.write(DMA_COMMAND, command | DMA_START);
        let deadline = Instant::now() + DMA_TIMEOUT;
        while self.registers.read(DMA_COMMAND) & DMA_START != 0 {
            if deadline.has_passed() {
                return false;
            }
            syscall::yield_now();
        }
        true
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
