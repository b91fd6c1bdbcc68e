//! Hardware capabilities: IO-port ranges and interrupt handlers.
//!
//! `IoPortControl` issues a port range as an `IoPort` capability; an
//! `IoPort` reads and writes 8, 16 or 32 bits at ports inside its range.
//! `IrqControl` makes an `IrqHandler` for an IOAPIC line; the handler binds
//! the line to a notification (whose badge arrives with each interrupt) and
//! acknowledges each interrupt, which unmasks the line again. An `IoSpace`
//! is one device's DMA address space: IO page tables and frames mapped
//! into it are all the device can reach.
use crate::cap::{
    CNode, IoPageTable, IoPort, IoPortControl, IoSpace, IrqControl, IrqHandler, Notification,
};
use crate::error::InvocationError;
use ward_abi::invocation::args;

impl IoPortControl {
    /// Issues ports `first..=last` into the slot `(root, index, depth)`.
    pub fn io_port_control_issue(
        self,
        first: u16,
        last: u16,
        root: CNode,
        index: u64,
        depth: u64,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::IoPortControlIssue {
            first: u64::from(first),
            last: u64::from(last),
            index,
            depth,
            root: root.cptr(),
        })
    }
}

impl IoPort {
    pub fn io_port_in8(self, port: u16) -> Result<u8, InvocationError> {
        let port = u64::from(port);
        self.invoke_declared(args::IoPortIn8 { port })
            .map(|r| r.mrs[0] as u8)
    }

    pub fn io_port_in16(self, port: u16) -> Result<u16, InvocationError> {
        let port = u64::from(port);
        self.invoke_declared(args::IoPortIn16 { port })
            .map(|r| r.mrs[0] as u16)
    }

    pub fn io_port_in32(self, port: u16) -> Result<u32, InvocationError> {
        let port = u64::from(port);
        self.invoke_declared(args::IoPortIn32 { port })
            .map(|r| r.mrs[0] as u32)
    }

    pub fn io_port_out8(self, port: u16, value: u8) -> Result<(), InvocationError> {
        self.invoke_unit(args::IoPortOut8 {
            port: u64::from(port),
            value: u64::from(value),
        })
    }

    pub fn io_port_out16(self, port: u16, value: u16) -> Result<(), InvocationError> {
        self.invoke_unit(args::IoPortOut16 {
            port: u64::from(port),
            value: u64::from(value),
        })
    }

    pub fn io_port_out32(self, port: u16, value: u32) -> Result<(), InvocationError> {
        self.invoke_unit(args::IoPortOut32 {
            port: u64::from(port),
            value: u64::from(value),
        })
    }
}

/// How an IOAPIC line signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Edge,
    Level,
}

/// The active level of an IOAPIC line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polarity {
    ActiveHigh,
    ActiveLow,
}

impl IrqControl {
    /// Makes a handler for IOAPIC line `line` (a global system interrupt)
    /// in the slot `(root, index, depth)`. One handler per line.
    pub fn irq_control_get(
        self,
        line: u64,
        trigger: Trigger,
        polarity: Polarity,
        root: CNode,
        index: u64,
        depth: u64,
    ) -> Result<(), InvocationError> {
        let level = u64::from(trigger == Trigger::Level);
        let active_low = u64::from(polarity == Polarity::ActiveLow);
        self.invoke_unit(args::IrqControlGet {
            index,
            depth,
            line,
            level,
            active_low,
            root: root.cptr(),
        })
    }
}

impl IrqControl {
    /// Makes an MSI handler for the device `requester` (bus << 8 | dev << 3
    /// | fn) in the slot `(root, index, depth)`. Returns the MSI address and
    /// data to program into the device; they name an interrupt-remapping
    /// entry that accepts the interrupt from that device only. Refused when
    /// the machine has no interrupt remapping.
    pub fn irq_control_get_msi(
        self,
        requester: u16,
        root: CNode,
        index: u64,
        depth: u64,
    ) -> Result<(u64, u32), InvocationError> {
        let reply = self.invoke_declared(args::IrqControlGetMsi {
            index,
            depth,
            requester: u64::from(requester),
            root: root.cptr(),
        })?;
        Ok((reply.mrs[0], reply.mrs[1] as u32))
    }
}

impl IrqHandler {
    /// Interrupts on this line will signal `notification` with its badge.
    pub fn irq_handler_set_notification(
        self,
        notification: Notification,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::IrqHandlerSetNotification {
            notification: notification.cptr(),
        })
    }

    /// The last interrupt was handled: unmask the line.
    pub fn irq_handler_ack(self) -> Result<(), InvocationError> {
        self.invoke_unit(args::IrqHandlerAck {})
    }

    /// Unbinds the notification and masks the line.
    pub fn irq_handler_clear(self) -> Result<(), InvocationError> {
        self.invoke_unit(args::IrqHandlerClear {})
    }

    /// Interrupts of this source the kernel has delivered since boot (for
    /// the status page's interrupts per source).
    pub fn irq_handler_get_count(self) -> Result<u64, InvocationError> {
        Ok(self.invoke_declared(args::IrqHandlerGetCount {})?.mrs[0])
    }

    /// Steers the interrupt to core `core`, where its handler runs.
    pub fn irq_handler_set_core(self, core: u64) -> Result<(), InvocationError> {
        self.invoke_unit(args::IrqHandlerSetCore { core })
    }
}

/// A DMA fault the IOMMU recorded for a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaFault {
    /// The IO address (page) the device tried to reach.
    pub address: u64,
    pub is_write: bool,
    /// The VT-d fault reason code.
    pub reason: u8,
}

impl IoSpace {
    /// On the master IOSpace: makes the IOSpace of `requester`
    /// (bus << 8 | device << 3 | function) in `domain` (from 1), in the slot
    /// `(root, index, depth)`. One IOSpace per device.
    pub fn io_space_issue(
        self,
        requester: u16,
        domain: u16,
        root: CNode,
        index: u64,
        depth: u64,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::IoSpaceIssue {
            requester: u64::from(requester),
            domain: u64::from(domain),
            index,
            depth,
            root: root.cptr(),
        })
    }

    /// The device's DMA faults will signal `notification` (with its badge).
    pub fn io_space_set_fault_notification(
        self,
        notification: Notification,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::IoSpaceSetFaultNotification {
            notification: notification.cptr(),
        })
    }

    /// Takes the oldest DMA fault recorded for the device, if any.
    pub fn io_space_read_fault(self) -> Result<Option<DmaFault>, InvocationError> {
        let reply = self.invoke_declared(args::IoSpaceReadFault {})?;
        Ok((reply.mrs[0] == 1).then_some(DmaFault {
            address: reply.mrs[1],
            is_write: reply.mrs[2] != 0,
            reason: reply.mrs[3] as u8,
        }))
    }
}

impl IoPageTable {
    /// Maps the IO page table into `space` for the IO addresses around
    /// `ioaddr`. The first table mapped into a domain becomes its root.
    pub fn io_page_table_map(self, space: IoSpace, ioaddr: u64) -> Result<(), InvocationError> {
        self.invoke_unit(args::IoPageTableMap {
            ioaddr,
            iospace: space.cptr(),
        })
    }

    pub fn io_page_table_unmap(self) -> Result<(), InvocationError> {
        self.invoke_unit(args::IoPageTableUnmap {})
    }
}

impl<T: crate::cap::cap_type::FrameType> crate::cap::Cap<T> {
    /// Maps the frame into `space` at IO address `ioaddr` for the device's
    /// DMA, with `rights` (read: the device may read it; write: write it).
    pub fn frame_map_io(
        self,
        space: IoSpace,
        ioaddr: u64,
        rights: crate::CapRights,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::FrameMapIo {
            ioaddr,
            rights: rights.to_word(),
            iospace: space.cptr(),
        })
    }
}
