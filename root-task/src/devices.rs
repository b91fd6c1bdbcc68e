//! Binding the spec's devices: matching each against the PCI functions
//! found (by id or by bus:dev.fn) or taking a legacy device's ports and pin,
//! then making what its driver will be granted: device frames for the
//! granted part of each BAR (placing unassigned BARs first), the IO-port
//! range, an IRQ handler bound to the driver's notification with its badge
//! bit, and, with VT-d on, an IOSpace with the spec's DMA windows. A device
//! nobody drives is left alone (no domain, no bus mastering).

use heapless::Vec;
use ward_sysspec::{CapKind, CapRec, DeviceMatch, IrqKind};
use ward_userlib::cap::{Frame4K, IoPageTable, IoSpace, IrqHandler};
use ward_userlib::hardware::{Polarity, Trigger};
use ward_userlib::{println, Cap, CapRights, InvocationError, ObjectType};

use crate::resources::DEPTH;
use crate::system::{cap_rights, DeviceState, FrameRun, System, FIRST_DOMAIN};
use ward_rootkit::pci::command;

impl<'a> System<'a> {
    /// Finds every device of the spec on the machine and makes what its
    /// driver will be granted. Prints one line per device.
    pub fn bind_devices(&mut self) {
        for index in 0..self.spec.devices.len() {
            let state = self.bind_device(index);
            let _ = self.devices.push(state);
        }
        // Whatever the firmware left on, a device nobody drives may not DMA.
        for function in self.bus.functions.iter().filter(|f| !f.claimed) {
            if function.config().disable(command::BUS_MASTER) {
                println!(
                    "ward: PCI {:02x}:{:02x}.{} ({:04x}:{:04x}): nobody drives it; bus mastering turned off",
                    function.bus, function.dev, function.func, function.vendor, function.device
                );
            }
        }
    }

    fn driver_cap(&self, device: usize, kind: CapKind) -> Option<&'a CapRec> {
        let driver = self.spec.devices[device].driver()?;
        self.spec
            .caps_of(driver)
            .iter()
            .find(|c| c.kind() == kind && c.target.get() as usize == device)
    }

    fn bind_device(&mut self, index: usize) -> DeviceState {
        let record = self.spec.devices[index];
        let name = self.spec.str(record.name);
        let mut state = DeviceState::default();
        let optional = record.has_flag(ward_sysspec::device_flags::OPTIONAL);
        let driver_name = record.driver().map(|d| self.name(d)).unwrap_or("nobody");
        match record.match_kind() {
            DeviceMatch::Legacy => {
                if record.ioport_count.get() > 0 && record.driver().is_some() {
                    let base = record.ioport_base.get();
                    let last = base + record.ioport_count.get() - 1;
                    let slot = self.res.slot();
                    match self.res.caps.io_port_control.io_port_control_issue(
                        base,
                        last,
                        self.res.caps.cnode,
                        slot,
                        DEPTH,
                    ) {
                        Ok(()) => state.ports = Some(slot),
                        Err(e) => {
                            println!("ward: device {name}: ports {base:#x}-{last:#x} refused: {e}")
                        }
                    }
                }
                if record.irq_kind() == IrqKind::Ioapic {
                    state.irq_line = Some(u64::from(record.irq_line));
                }
                println!("ward: device {name}: legacy, driven by {driver_name}");
            }
            DeviceMatch::PciId | DeviceMatch::PciAddress => {
                let found = self.bus.functions.iter().position(|f| {
                    !f.claimed
                        && match record.match_kind() {
                            DeviceMatch::PciId => {
                                f.vendor == record.vendor.get() && f.device == record.device.get()
                            }
                            _ => {
                                f.bus == record.bus && f.dev == record.dev && f.func == record.func
                            }
                        }
                });
                let Some(function_index) = found else {
                    if optional {
                        println!("ward: warning: optional device {name} ({:04x}:{:04x}) is not on this machine; {driver_name} runs without it", record.vendor.get(), record.device.get());
                    } else {
                        println!("ward: boot error: device {name} ({:04x}:{:04x}) is not on this machine; {driver_name} cannot be given it", record.vendor.get(), record.device.get());
                    }
                    return state;
                };
                self.bus.functions[function_index].claimed = true;
                state.function = Some(function_index);
                let function = self.bus.functions[function_index];
                println!(
                    "ward: device {name}: {:02x}:{:02x}.{} {:04x}:{:04x} class {:06x}{}, driven by {driver_name}",
                    function.bus, function.dev, function.func, function.vendor, function.device, function.class,
                    if function.has_msi { ", MSI" } else { "" }
                );
                if record.driver().is_some() {
                    self.make_bar_frames(index, function_index, &mut state);
                    state.irq_line = match record.irq_kind() {
                        IrqKind::Intx => function.intx_line(),
                        IrqKind::Msi => {
                            state.msi = true;
                            None
                        }
                        IrqKind::Ioapic => Some(u64::from(record.irq_line)),
                        IrqKind::None => None,
                    };
                    self.make_dma(index, function_index, &mut state);
                }
            }
        }
        if let (Some(cap), Some(driver)) =
            (self.driver_cap(index, CapKind::IrqHandler), record.driver())
        {
            let notification = self.instances[driver].notification;
            let badged = self.res.slot();
            let root = self.res.caps.cnode;
            match root.cnode_mint(
                badged,
                DEPTH,
                root,
                notification,
                DEPTH,
                CapRights::WRITE,
                cap.badge.get(),
            ) {
                Ok(()) => self.make_irq(index, &mut state, badged),
                Err(e) => {
                    println!("ward: device {name}: no badged notification for its interrupt: {e}")
                }
            }
        }
        state
    }

    /// The device's IRQ handler, bound to `badged` (the driver's notification
    /// with the driver's bit): an MSI through interrupt remapping when the
    /// spec asks for one and the machine can, otherwise its IOAPIC line.
    fn make_irq(&mut self, index: usize, state: &mut DeviceState, badged: u64) {
        let record = self.spec.devices[index];
        let name = self.spec.str(record.name);
        let root = self.res.caps.cnode;
        let slot = self.res.slot();
        let handler: IrqHandler = Cap::from_cptr(slot);
        if state.msi {
            let function = state.function.map(|f| self.bus.functions[f]);
            let made = match function {
                Some(function) if function.msi_offset.is_some() => self
                    .res
                    .caps
                    .irq_control
                    .irq_control_get_msi(function.requester(), root, slot, DEPTH)
                    .and_then(|(address, data)| {
                        handler.irq_handler_set_notification(Cap::from_cptr(badged))?;
                        function.enable_msi(address, data);
                        Ok((address, data))
                    }),
                _ => Err(InvocationError::local(
                    ward_userlib::abi::Error::InvalidArgument,
                    [0; 4],
                )),
            };
            match made {
                Ok((address, data)) => {
                    println!("ward: device {name}: MSI (address {address:#x}, data {data:#x}) through interrupt remapping");
                    self.steer_irq(name, handler, record.irq_core);
                    state.irq = Some(slot);
                    return;
                }
                Err(e) => {
                    println!("ward: device {name}: no MSI ({e}); using its INTx line");
                    state.irq_line = function.and_then(|f| f.intx_line());
                }
            }
        }
        let Some(line) = state.irq_line else {
            println!("ward: device {name}: no interrupt line found");
            return;
        };
        let (trigger, polarity) = if record.irq_kind() == IrqKind::Ioapic {
            (Trigger::Edge, Polarity::ActiveHigh)
        } else {
            (Trigger::Level, Polarity::ActiveLow)
        };
        let made = self
            .res
            .caps
            .irq_control
            .irq_control_get(line, trigger, polarity, root, slot, DEPTH)
            .and_then(|()| handler.irq_handler_set_notification(Cap::from_cptr(badged)));
        match made {
            Ok(()) => {
                self.steer_irq(name, handler, record.irq_core);
                state.irq = Some(slot);
            }
            Err(e) => println!("ward: device {name}: IOAPIC line {line} refused: {e}"),
        }
    }

    /// Steers the device's interrupt to `core` (system.toml's `irq_core`,
    /// by default its driver's core), so the kernel's top half signals the
    /// driver on the core it runs on.
    fn steer_irq(&self, name: &str, handler: IrqHandler, core: u8) {
        let core = self.core_of(core);
        if let Err(e) = handler.irq_handler_set_core(u64::from(core)) {
            println!("ward: device {name}: its interrupt stays on core 0: {e}");
        } else if self.cores > 1 {
            println!("ward: device {name}: interrupt steered to core {core}");
        }
    }

    /// Device frames for each BAR the driver is granted (placing the BAR first).
    fn make_bar_frames(&mut self, device: usize, function_index: usize, state: &mut DeviceState) {
        let record = self.spec.devices[device];
        let name = self.spec.str(record.name);
        for bar in 0..6 {
            let Some(granted) = record.bar(bar) else {
                continue;
            };
            let Some(address) = self.bus.assign_bar(&self.res, function_index, bar) else {
                println!("ward: device {name}: BAR{bar} is not a memory BAR that can be placed in device memory");
                continue;
            };
            let size = self.bus.functions[function_index].bars[bar].size;
            let bytes = if granted == 0 {
                size
            } else {
                granted.min(size)
            };
            let pages = bytes.div_ceil(4096);
            // Carving takes slots for the untyped halves it splits off, so
            // the run of frame slots is reserved first and each frame moved in.
            let Some(run) = self.res.slots.alloc_range(pages) else {
                continue;
            };
            let mut made = 0;
            for page in 0..pages {
                let Some(frame) = self.res.device_frame(address + page * 4096) else {
                    break;
                };
                let root = self.res.caps.cnode;
                if root
                    .cnode_move(run.start + page, DEPTH, root, frame.cptr(), DEPTH)
                    .is_err()
                {
                    break;
                }
                made += 1;
            }
            state.bars[bar] = FrameRun {
                first: run.start,
                count: made,
            };
            state.bar_bytes[bar] = bytes;
            println!("ward: device {name}: BAR{bar} at {address:#x}, {size:#x} bytes, {bytes:#x} granted");
            if made < pages {
                println!("ward: device {name}: BAR{bar}: only {made} of {pages} pages could be made into frames; its driver will fault past them");
            }
        }
    }

    /// The device's IOMMU domain with its DMA windows, or the refusal.
    fn make_dma(&mut self, device: usize, function_index: usize, state: &mut DeviceState) {
        let record = self.spec.devices[device];
        let name = self.spec.str(record.name);
        let windows: Vec<ward_sysspec::DmaRec, 16> = self
            .spec
            .dma
            .iter()
            .filter(|w| w.device.get() as usize == device)
            .copied()
            .collect();
        if windows.is_empty() {
            return;
        }
        let function = self.bus.functions[function_index];
        if !self.iommu {
            if record.has_flag(ward_sysspec::device_flags::UNSAFE_DMA) {
                println!("ward: warning: device {name}: no IOMMU; its DMA is NOT confined (the spec marks it unsafe_dma)");
                function.config().enable(command::BUS_MASTER);
            } else {
                println!("ward: device {name}: no IOMMU on this machine; DMA refused (bus mastering stays off)");
                state.dma_refused = true;
            }
            return;
        }
        let space_slot = self.res.slot();
        let domain = FIRST_DOMAIN + device as u16;
        if let Err(e) = self.res.caps.io_space.io_space_issue(
            function.requester(),
            domain,
            self.res.caps.cnode,
            space_slot,
            DEPTH,
        ) {
            println!("ward: device {name}: no IOSpace: {e}; DMA refused");
            state.dma_refused = true;
            return;
        }
        let space: IoSpace = Cap::from_cptr(space_slot);
        let badged = self.res.slot();
        let fault_bit = 1u64 << device;
        let registered = self
            .res
            .caps
            .cnode
            .cnode_mint(
                badged,
                DEPTH,
                self.res.caps.cnode,
                self.supervisor_ntfn,
                DEPTH,
                CapRights::WRITE,
                fault_bit,
            )
            .and_then(|()| space.io_space_set_fault_notification(Cap::from_cptr(badged)));
        if let Err(e) = registered {
            println!("ward: device {name}: DMA faults will not be reported: {e}");
        }
        for window in windows {
            let frames = self.regions[window.region.get() as usize];
            let rights = cap_rights(ward_sysspec::Rights(window.rights), CapKind::Frames);
            let pages = window.size.get().div_ceil(4096).min(frames.count);
            for page in 0..pages {
                let copy = self.res.slot();
                let iova = window.iova.get() + page * 4096;
                let mapped = self
                    .res
                    .caps
                    .cnode
                    .cnode_copy(
                        copy,
                        DEPTH,
                        self.res.caps.cnode,
                        frames.first + page,
                        DEPTH,
                        CapRights::ALL,
                    )
                    .and_then(|()| self.map_io(space, Cap::from_cptr(copy), iova, rights));
                if let Err(e) = mapped {
                    println!("ward: device {name}: DMA window page at {iova:#x} not mapped: {e}");
                    break;
                }
            }
            println!(
                "ward: device {name}: DMA window {:#x}..{:#x} ({}) -> region {}",
                window.iova.get(),
                window.iova.get() + window.size.get(),
                ward_sysspec::Rights(window.rights),
                self.spec
                    .str(self.spec.regions[window.region.get() as usize].name)
            );
        }
        state.iospace = Some(space_slot);
        function.config().enable(command::BUS_MASTER);
    }

    fn map_io(
        &mut self,
        space: IoSpace,
        frame: Frame4K,
        iova: u64,
        rights: CapRights,
    ) -> Result<(), InvocationError> {
        for _ in 0..4 {
            match frame.frame_map_io(space, iova, rights) {
                Ok(()) => return Ok(()),
                Err(e) if e.error == ward_userlib::abi::Error::FailedLookup => {
                    let table: IoPageTable = self.res.make(ObjectType::IoPageTable)?;
                    table.io_page_table_map(space, iova)?;
                }
                Err(e) => return Err(e),
            }
        }
        frame.frame_map_io(space, iova, rights)
    }
}
