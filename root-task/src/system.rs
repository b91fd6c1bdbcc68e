//! Realising the compiled spec: shared objects first (regions, channel
//! endpoints, each component's notification, devices with their frames,
//! ports, interrupts and IOMMU domains), then every component from its own
//! untyped (CNode, VSpace with its ELF segments, stack, IPC buffer, TCB),
//! with exactly the capabilities of its spec records in exactly their slots.
//!
//! Who owns what, so that a component can be torn down alone:
//!
//! - a component's *private* objects (CNode, TCB, PML4 and paging tables,
//!   writable program and stack frames, IPC buffer) are retyped from an
//!   untyped set aside for it; revoking that untyped destroys them all and
//!   nothing else;
//! - its program's *read-only* pages (text and constants) are made once, in
//!   frames of their own untyped that the root task keeps ([`KeptProgram`]);
//!   each build checks them against the program file, rewrites any page that
//!   differs, and maps read-only copies of their capabilities, which die with
//!   the component. The component could never write them, so a restart starts
//!   from the same bytes as a fresh copy, without rewriting pages that held
//!   code (under QEMU's TCG, writing such a page drops its translations:
//!   about half a millisecond a page, most of a driver's rebuild);
//! - *shared* objects (region frames, channel endpoints, the component
//!   notifications that peers and interrupts signal, device frames, port
//!   ranges, IRQ handlers, IOSpaces) belong to the root task and outlive any
//!   one component, so a peer's capabilities stay valid across a restart;
//! - every root slot a component uses (its objects and the copies of shared
//!   frames that map them into its VSpace) lies in a slot range reserved for
//!   it at first build and reused by each rebuild.

use heapless::Vec;
use ward_kernel_core::elf_image::UserImage;
use ward_rootkit::bootinfo::SlotAllocator;
use ward_sysspec::{
    CapKind, CapRec, ChannelKind, Spec, COMPONENT_IPC_BUFFER, COMPONENT_STACK_TOP, MAX_SLOTS, NONE,
};
use ward_userlib::abi::bootinfo::{BootInfo, SlotRegion};
use ward_userlib::cap::{
    CNode, Frame4K, IrqHandler, Notification, Pml4, Tcb, Untyped, UserContext, VmAttributes,
};
use ward_userlib::component::{status, StatusPage, Usage, STATUS_PAGE_VADDR};
use ward_userlib::{println, Cap, CapRights, InvocationError, ObjectType};

use crate::pci::Bus;
use crate::resources::{object_bytes, Resources, DEPTH};
use crate::supervisor;
use ward_rootkit::paging::map_with_tables;

const _: () = assert!(ward_sysspec::SLOT_CONSOLE as u64 == ward_userlib::component::slot::CONSOLE);
const _: () =
    assert!(ward_sysspec::SLOT_NOTIFICATION as u64 == ward_userlib::component::slot::NOTIFICATION);
const _: () =
    assert!(ward_sysspec::SLOT_HEARTBEAT as u64 == ward_userlib::component::slot::HEARTBEAT);

pub const MAX_COMPONENTS: usize = 16;
const MAX_REGIONS: usize = 48;
const MAX_CHANNELS: usize = 48;
const MAX_DEVICES: usize = 8;
/// log2 of a component CNode's slot count (`ward_sysspec::MAX_SLOTS`).
pub const COMPONENT_CNODE_BITS: u64 = 8;
const _: () = assert!(1 << COMPONENT_CNODE_BITS == MAX_SLOTS);
/// Guard data that makes a component's CPtr equal its slot index at depth
/// 64: guard size 56 in the low six bits, guard value 0.
const COMPONENT_GUARD_DATA: u64 = 64 - COMPONENT_CNODE_BITS;
/// Root slots kept free after a component's first build, for a rebuild that
/// needs a few more (it needs the same number: same program, same spec).
const SLOT_SLACK: u64 = 16;
/// Smallest untyped a component gets: 256 KiB.
const MIN_COMPONENT_UNTYPED_BITS: u32 = 18;
/// Paging structures budgeted per component (a few PDPTs and directories,
/// page tables for the image, stack, IPC buffer, status page and mappings).
const TABLE_BUDGET_PAGES: u64 = 24;
/// `rflags` of a new thread: interrupts on (bit 9) and the reserved bit 1.
const INITIAL_RFLAGS: u64 = 0x202;
/// The IO-space domain numbers given to devices start here (0 is reserved
/// by VT-d for "no domain").
pub const FIRST_DOMAIN: u16 = 1;
/// Bit of the supervisor's notification for a device's DMA faults: bit
/// `device index`; the tick uses the top bit.
pub const TICK_BIT: u64 = 1 << 63;

/// What a component is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Built and its thread started.
    Running,
    /// Torn down, to be rebuilt when its backoff expires.
    Restarting,
    /// Stopped for good (hold policy, or out of restarts).
    Held,
    /// Built (caps and mappings) but there is no program module to run.
    NoProgram,
    /// Could not be built.
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Restarting => "restarting",
            State::Held => "held",
            State::NoProgram => "no program",
            State::Failed => "failed",
        }
    }
    fn status_code(self) -> u32 {
        match self {
            State::Running => status::STATE_RUNNING,
            State::Restarting => status::STATE_RESTARTING,
            State::Held => status::STATE_HELD,
            State::NoProgram | State::Failed => status::STATE_NOT_STARTED,
        }
    }
}

/// Why a build step failed.
#[derive(Clone, Copy, Debug)]
pub struct BuildError {
    pub what: &'static str,
    pub error: Option<InvocationError>,
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.error {
            Some(e) => write!(f, "{}: {}", self.what, e),
            None => f.write_str(self.what),
        }
    }
}

fn step<T>(what: &'static str, result: Result<T, InvocationError>) -> Result<T, BuildError> {
    result.map_err(|e| BuildError {
        what,
        error: Some(e),
    })
}

fn fail(what: &'static str) -> BuildError {
    BuildError { what, error: None }
}

/// Maps a frame into the component being built: (its slot allocator, the
/// frame, the address, the rights, the memory counter).
type MapIntoComponent<'m> = dyn FnMut(&mut SlotAllocator, Frame4K, u64, CapRights, &mut u64) -> Result<(), InvocationError>
    + 'm;

/// Frames of a region (or a granted BAR range): consecutive root slots.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameRun {
    pub first: u64,
    pub count: u64,
}

impl FrameRun {
    fn frame(&self, index: u64) -> Frame4K {
        Cap::from_cptr(self.first + index)
    }
}

/// A device of the spec and what was found and made for it.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeviceState {
    pub function: Option<usize>,
    pub bars: [FrameRun; 6],
    pub bar_bytes: [u64; 6],
    pub ports: Option<u64>,
    pub irq: Option<u64>,
    pub irq_line: Option<u64>,
    /// The spec asks for MSI.
    pub msi: bool,
    pub iospace: Option<u64>,
    /// Set when its DMA is neither confined nor allowed: bus mastering off.
    pub dma_refused: bool,
}

/// One component: what the spec says and what exists of it now.
pub struct Instance {
    pub index: usize,
    pub module: Option<(u64, u64)>,
    pub untyped: Option<Untyped>,
    pub untyped_bits: u32,
    slots: SlotRegion,
    pub cnode: CNode,
    pub tcb: Tcb,
    pub pml4: Pml4,
    /// The component's own notification (shared: it outlives the instance).
    pub notification: u64,
    /// Its heartbeat notification, signalled by the component, polled by us.
    pub heartbeat: Option<u64>,
    pub generation: u32,
    pub restarts: u32,
    /// CPU time (TSC ticks) of the component's earlier generations.
    pub cpu_ticks_done: u64,
    /// DMA of its devices the IOMMU blocked, over all generations.
    pub dma_faults: u64,
    pub state: State,
    pub started_tick: u64,
    pub last_beat_tick: u64,
    /// The CPU-share watchdog's window: its first tick, and the CPU time
    /// (TSC ticks, this generation) the component had used by then.
    pub watch_tick: u64,
    pub watch_cpu: u64,
    /// The interrupts of its devices (all generations) at `watch_tick`: the
    /// interrupt-rate watchdog's start.
    pub watch_interrupts: u64,
    /// Its CPU time (all generations, TSC ticks) at each of the last
    /// [`CPU_HISTORY`] ticks, by tick number modulo the length: who kept the
    /// CPU while another component missed its heartbeat.
    pub cpu_history: [u64; CPU_HISTORY],
    /// When a restarting component is started again (TSC): the supervisor
    /// waits for it with a timed receive, not for its next tick.
    pub restart_due_tsc: u64,
    /// Spec caps installed (bit per slot).
    pub installed: [u64; 4],
    pub memory_bytes: u64,
    pub build_cycles: u64,
    pub panic_text: [u8; 120],
    pub panic_len: usize,
    /// Where the program's segments and stack lie and which frames hold them.
    pub segments: Vec<Segment, MAX_SEGMENTS>,
    /// The program's read-only pages, kept across restarts.
    kept: Option<KeptProgram>,
}

/// The frames of a component's read-only program pages, made at its first
/// build and kept by the root task across restarts (never mapped in a
/// component: each build maps read-only copies of their capabilities).
#[derive(Clone, Copy, Debug)]
struct KeptProgram {
    /// Their memory: revoked only to make them again.
    untyped: Untyped,
    /// One slot per page, in the order of the program's read-only segments.
    slots: SlotRegion,
    /// Every frame exists (a build that failed half-way leaves this false,
    /// and the next build makes them all again).
    complete: bool,
}

/// Ticks of CPU-time history kept per component: two seconds at 64 Hz,
/// longer than any heartbeat period of the default system.
pub const CPU_HISTORY: usize = 128;

/// Program segments (and the stack) a component may have.
pub const MAX_SEGMENTS: usize = 8;

/// What a segment of a component's memory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    Text,
    ReadOnly,
    Data,
    Stack,
}

/// A run of a component's pages and the root slots of their frames (the
/// frame of page `i` is in slot `first_frame + i`).
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub vaddr: u64,
    pub pages: u64,
    pub first_frame: u64,
    pub kind: SegmentKind,
}

impl Segment {
    /// The frame slot and offset of `vaddr`, if the segment holds it.
    pub fn locate(&self, vaddr: u64) -> Option<(u64, usize)> {
        let offset = vaddr.checked_sub(self.vaddr)?;
        (offset < self.pages * 4096)
            .then(|| (self.first_frame + offset / 4096, (offset % 4096) as usize))
    }
}

impl Instance {
    pub fn installed_count(&self) -> u32 {
        self.installed.iter().map(|w| w.count_ones()).sum()
    }
    pub fn is_installed(&self, slot: u32) -> bool {
        (slot as usize) < 256 && self.installed[slot as usize / 64] & (1 << (slot % 64)) != 0
    }
    fn mark(&mut self, slot: u32) {
        if (slot as usize) < 256 {
            self.installed[slot as usize / 64] |= 1 << (slot % 64);
        }
    }
}

/// The whole system.
pub struct System<'a> {
    pub spec: Spec<'a>,
    pub res: Resources,
    pub bus: Bus,
    pub iommu: bool,
    pub regions: Vec<FrameRun, MAX_REGIONS>,
    pub channel_endpoints: Vec<Option<u64>, MAX_CHANNELS>,
    pub devices: Vec<DeviceState, MAX_DEVICES>,
    pub instances: Vec<Instance, MAX_COMPONENTS>,
    /// The supervisor's endpoint: faults (Call, badged with
    /// [`supervisor::fault_badge`]) and console text (Send, badged with the
    /// component's index + 1).
    pub supervisor_ep: u64,
    /// The supervisor's notification, bound to the root thread.
    pub supervisor_ntfn: u64,
    /// FAULTS endpoints of components that handle others' faults.
    pub fault_endpoints: Vec<Option<u64>, MAX_COMPONENTS>,
    status_frame: Frame4K,
    pub status: StatusPage,
    /// TSC ticks per second, as the kernel calibrated it.
    pub tsc_hz: u64,
    /// Cores the kernel runs on.
    pub cores: u8,
    /// An empty root slot for short-lived copies (badged signals, audit probes).
    pub scratch_slot: u64,
    /// The fault-injection campaign, when the root task's arguments ask for one.
    pub injector: Option<crate::inject::Injector>,
    pub tick: u64,
}

impl System<'_> {
    /// The core system.toml names, on this machine: a description made for
    /// more cores than the machine has runs its components on core
    /// `core mod cores`.
    pub fn core_of(&self, core: u8) -> u8 {
        core % self.cores
    }
}

/// Rights of a capability as the kernel knows them.
pub fn cap_rights(rights: ward_sysspec::Rights, kind: CapKind) -> CapRights {
    let mut out = CapRights::NONE;
    if rights.contains(ward_sysspec::Rights::READ) {
        out = out.union(CapRights::READ);
    }
    if rights.contains(ward_sysspec::Rights::WRITE) {
        out = out.union(CapRights::WRITE);
        // A client that may send on an endpoint may also Call it and get the
        // reply (the kernel needs GrantReply for that); the dump format has
        // no letter for it.
        if kind == CapKind::Endpoint {
            out = out.union(CapRights::GRANT_REPLY);
        }
    }
    if rights.contains(ward_sysspec::Rights::GRANT) {
        out = out.union(CapRights::GRANT);
    }
    // Execute only where the file grants it: a memory mapping "rx" (capctl
    // allows it on plain regions only). Program text is mapped executable
    // by the root task from frames it keeps; no component holds their caps.
    if rights.contains(ward_sysspec::Rights::EXECUTE)
        && matches!(kind, CapKind::Frames | CapKind::DeviceFrames)
    {
        out = out.union(CapRights::EXECUTE);
    }
    out
}

fn module_bytes(module: (u64, u64)) -> &'static [u8] {
    // SAFETY: the kernel maps every boot module read-only at the address the
    // boot info gives, `len` bytes long, and never unmaps or changes it.
    unsafe { core::slice::from_raw_parts(module.0 as *const u8, module.1 as usize) }
}

/// The boot module called `name`, as (vaddr, len).
pub fn find_module(info: &BootInfo, name: &str) -> Option<(u64, u64)> {
    info.modules()
        .iter()
        .find(|m| m.name() == name)
        .map(|m| (m.vaddr, m.len))
}

fn rdtsc() -> u64 {
    // SAFETY: rdtsc only reads the time-stamp counter; user mode may use it
    // (the kernel leaves CR4.TSD clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

impl<'a> System<'a> {
    /// Makes the shared objects: supervisor endpoint and notification,
    /// status page, regions, channel endpoints, component notifications.
    pub fn new(info: &'a BootInfo, spec: Spec<'a>) -> Result<System<'a>, BuildError> {
        let mut res = Resources::new(info);
        let supervisor_ep = step(
            "supervisor endpoint",
            res.retype(ObjectType::Endpoint, 0, 1),
        )?;
        let supervisor_ntfn = step(
            "supervisor notification",
            res.retype(ObjectType::Notification, 0, 1),
        )?;
        step(
            "bind the supervisor notification",
            res.caps
                .tcb
                .tcb_bind_notification(Cap::from_cptr(supervisor_ntfn)),
        )?;
        let status_frame: Frame4K = step("status page", res.make(ObjectType::Frame4K))?;
        let status_vaddr = step(
            "map the status page",
            res.map_root(status_frame, CapRights::READ_WRITE),
        )?;
        let scratch_slot = res.slot();
        let bus = Bus::enumerate(&mut res, info.platform.ecam_base);
        let mut system = System {
            spec,
            res,
            bus,
            iommu: info.platform.iommu != 0,
            regions: Vec::new(),
            channel_endpoints: Vec::new(),
            devices: Vec::new(),
            instances: Vec::new(),
            supervisor_ep,
            supervisor_ntfn,
            fault_endpoints: Vec::new(),
            status_frame,
            // SAFETY: the page stays mapped read-write in the root task for
            // as long as it runs.
            status: unsafe { StatusPage::at(status_vaddr) },
            tsc_hz: info.platform.tsc_hz,
            cores: info.platform.cpus.max(1),
            scratch_slot,
            injector: None,
            tick: 0,
        };
        system.make_regions()?;
        system.make_channels()?;
        system.make_instances(info)?;
        Ok(system)
    }

    fn make_regions(&mut self) -> Result<(), BuildError> {
        for region in self.spec.regions {
            if region.kind() == ward_sysspec::RegionKind::KernelStatistics {
                // The kernel's own page, shared read-only: nothing to make.
                let _ = self.regions.push(FrameRun {
                    first: ward_userlib::abi::bootinfo::slots::KERNEL_STATISTICS,
                    count: 1,
                });
                continue;
            }
            let count = region.size.get().div_ceil(4096);
            let first = step(
                "region frames",
                self.res.retype(ObjectType::Frame4K, 0, count),
            )?;
            if region.fill != 0 {
                for page in 0..count {
                    let fill = region.fill;
                    step(
                        "fill a region",
                        self.res
                            .with_scratch(Cap::from_cptr(first + page), |bytes| bytes.fill(fill)),
                    )?;
                }
            }
            let _ = self.regions.push(FrameRun { first, count });
        }
        Ok(())
    }

    fn make_channels(&mut self) -> Result<(), BuildError> {
        for channel in self.spec.channels {
            let endpoint = if channel.kind() == ChannelKind::Endpoint {
                Some(step(
                    "channel endpoint",
                    self.res.retype(ObjectType::Endpoint, 0, 1),
                )?)
            } else {
                None
            };
            let _ = self.channel_endpoints.push(endpoint);
        }
        Ok(())
    }

    fn make_instances(&mut self, info: &BootInfo) -> Result<(), BuildError> {
        for (index, component) in self.spec.components.iter().enumerate() {
            let notification = step(
                "component notification",
                self.res.retype(ObjectType::Notification, 0, 1),
            )?;
            let heartbeat = if component.heartbeat_us.get() > 0 {
                Some(step(
                    "heartbeat notification",
                    self.res.retype(ObjectType::Notification, 0, 1),
                )?)
            } else {
                None
            };
            let handles_faults = self
                .spec
                .components
                .iter()
                .any(|c| c.fault_handler() == Some(index));
            let faults = if handles_faults {
                Some(step(
                    "FAULTS endpoint",
                    self.res.retype(ObjectType::Endpoint, 0, 1),
                )?)
            } else {
                None
            };
            let _ = self.fault_endpoints.push(faults);
            let module = find_module(info, self.spec.str(component.module));
            let _ = self.instances.push(Instance {
                index,
                module,
                untyped: None,
                untyped_bits: 0,
                slots: SlotRegion { start: 0, end: 0 },
                cnode: Cap::from_cptr(0),
                tcb: Cap::from_cptr(0),
                pml4: Cap::from_cptr(0),
                notification,
                heartbeat,
                generation: 0,
                restarts: 0,
                cpu_ticks_done: 0,
                dma_faults: 0,
                state: State::Failed,
                started_tick: 0,
                last_beat_tick: 0,
                watch_tick: 0,
                watch_cpu: 0,
                watch_interrupts: 0,
                cpu_history: [0; CPU_HISTORY],
                restart_due_tsc: 0,
                installed: [0; 4],
                memory_bytes: 0,
                build_cycles: 0,
                panic_text: [0; 120],
                segments: Vec::new(),
                kept: None,
                panic_len: 0,
            });
        }
        Ok(())
    }

    /// The name of component `index`.
    pub fn name(&self, index: usize) -> &'a str {
        self.spec.str(self.spec.components[index].name)
    }

    // ---- Components --------------------------------------------------------------

    /// Builds (or rebuilds) component `index` and starts it.
    pub fn build(&mut self, index: usize) -> Result<(), BuildError> {
        let started = rdtsc();
        if self.instances[index].untyped.is_none() {
            let bits = self.untyped_bits_for(index);
            let untyped = step("the component's untyped", self.res.carve_untyped(bits))?;
            let count = self.slots_for(index);
            let range = self
                .res
                .slots
                .alloc_range(count)
                .ok_or(fail("out of root slots for the component"))?;
            let instance = &mut self.instances[index];
            instance.untyped = Some(untyped);
            instance.untyped_bits = bits;
            instance.slots = SlotRegion {
                start: range.start,
                end: range.end,
            };
        }
        let mut slots = SlotAllocator::new(self.instances[index].slots);
        let result = self.build_in(index, &mut slots);
        self.instances[index].build_cycles = rdtsc().wrapping_sub(started);
        if let Err(e) = result {
            // Nothing half-built stays behind: its memory and slots are free again.
            self.tear_down(index);
            self.instances[index].state = State::Failed;
            self.update_status(index);
            return Err(e);
        }
        Ok(())
    }

    /// Root slots component `index` needs: one per object and per mapping
    /// copy, plus room for paging structures.
    fn slots_for(&self, index: usize) -> u64 {
        let component = &self.spec.components[index];
        let image_pages = self.instances[index]
            .module
            .map(|(_, len)| len.div_ceil(4096) + 8)
            .unwrap_or(0);
        let stack_pages = component.stack_bytes.get().div_ceil(4096);
        let mapped_pages: u64 = self
            .spec
            .caps_of(index)
            .iter()
            .filter(|c| matches!(c.kind(), CapKind::Frames | CapKind::DeviceFrames))
            .map(|c| {
                let size = if c.size.get() == 0 {
                    self.devices
                        .get(c.target.get() as usize)
                        .map(|d| d.bars[(c.arg.get() as usize).min(5)].count * 4096)
                        .unwrap_or(0)
                } else {
                    c.size.get()
                };
                size.div_ceil(4096)
            })
            .sum();
        // CNode, PML4, TCB, IPC buffer, status page, fault endpoint.
        let fixed = 6;
        image_pages + stack_pages + mapped_pages + TABLE_BUDGET_PAGES + fixed + SLOT_SLACK
    }

    fn untyped_bits_for(&self, index: usize) -> u32 {
        let component = &self.spec.components[index];
        let image_pages = self.instances[index]
            .module
            .map(|(_, len)| len.div_ceil(4096) + 8)
            .unwrap_or(0);
        let stack_pages = component.stack_bytes.get().div_ceil(4096);
        let bytes = object_bytes(ObjectType::CNode, COMPONENT_CNODE_BITS)
            + 4096 * (image_pages + stack_pages + TABLE_BUDGET_PAGES + 4);
        // Twice the sum: objects are aligned to their size, which wastes some.
        let bits = 64 - (2 * bytes - 1).leading_zeros();
        bits.max(MIN_COMPONENT_UNTYPED_BITS)
    }

    /// The kept read-only program pages of component `index` (`pages` of
    /// them): their untyped and slots are set aside at its first build; when
    /// a build failed before every frame existed, they are made again.
    fn keep_program(&mut self, index: usize, pages: u64) -> Result<KeptProgram, BuildError> {
        let root = self.res.caps.cnode;
        match self.instances[index].kept {
            Some(kept) if kept.complete => return Ok(kept),
            Some(kept) => {
                // Deletes every frame made so far; their slots are empty again.
                step(
                    "reset the kept program",
                    root.cnode_revoke(kept.untyped.cptr(), DEPTH),
                )?;
            }
            None => {
                let bytes = (pages * 4096).max(4096);
                let bits = 64 - (bytes - 1).leading_zeros();
                let untyped = step("the kept program's untyped", self.res.carve_untyped(bits))?;
                let range = self
                    .res
                    .slots
                    .alloc_range(pages.max(1)) // a range is never empty
                    .ok_or(fail("out of root slots for the kept program"))?;
                self.instances[index].kept = Some(KeptProgram {
                    untyped,
                    slots: SlotRegion {
                        start: range.start,
                        end: range.end,
                    },
                    complete: false,
                });
            }
        }
        self.instances[index].kept.ok_or(fail("no kept program"))
    }

    fn build_in(&mut self, index: usize, slots: &mut SlotAllocator) -> Result<(), BuildError> {
        let untyped = self.instances[index].untyped.ok_or(fail("no untyped"))?;
        let cnode_root = self.res.caps.cnode;
        let mut memory = 0u64;
        let make = |slots: &mut SlotAllocator,
                    memory: &mut u64,
                    object_type: ObjectType,
                    size_bits: u64|
         -> Result<u64, BuildError> {
            let slot = slots.alloc().ok_or(fail("out of root slots"))?;
            step(
                "retype from the component's untyped",
                untyped.untyped_retype(object_type, size_bits, cnode_root, 0, 0, slot, 1),
            )?;
            *memory += object_bytes(object_type, size_bits);
            Ok(slot)
        };
        let cnode: CNode = Cap::from_cptr(make(
            slots,
            &mut memory,
            ObjectType::CNode,
            COMPONENT_CNODE_BITS,
        )?);
        let pml4: Pml4 = Cap::from_cptr(make(slots, &mut memory, ObjectType::Pml4, 0)?);
        let tcb: Tcb = Cap::from_cptr(make(slots, &mut memory, ObjectType::Tcb, 0)?);
        {
            let instance = &mut self.instances[index];
            instance.cnode = cnode;
            instance.pml4 = pml4;
            instance.tcb = tcb;
            instance.installed = [0; 4];
        }
        // Page tables come from the component's untyped too.
        let map = |slots: &mut SlotAllocator,
                   frame: Frame4K,
                   vaddr: u64,
                   rights: CapRights,
                   attributes: VmAttributes,
                   memory: &mut u64| {
            map_with_tables(frame, pml4, vaddr, rights, attributes, |object_type| {
                let slot = slots.alloc()?;
                untyped
                    .untyped_retype(object_type, 0, cnode_root, 0, 0, slot, 1)
                    .ok()?;
                *memory += 4096;
                Some(slot)
            })
        };

        // The program.
        let mut entry = None;
        if let Some(module) = self.instances[index].module {
            let file = module_bytes(module);
            let expected = self.spec.components[index].layout_hash.get();
            match ward_userlib::component::find_layout_stamp(file) {
                Some(found) if found != expected => {
                    return Err(fail("the program was built against another capability layout (its LAYOUT_HASH differs from system.bin's); rebuild it for this system"))
                }
                Some(_) => {}
                None if self.instances[index].generation == 0 => {
                    println!("ward: warning: {} carries no layout stamp; its slots cannot be checked against the spec", self.name(index));
                }
                None => {}
            }
            let image = UserImage::parse(file)
                .map_err(|_| fail("the program is not a valid static x86_64 ELF"))?;
            let read_only_pages = image
                .segments
                .iter()
                .filter(|segment| !segment.access.write)
                .map(|segment| (segment.page_end() - segment.page_start()) / 4096)
                .sum();
            let kept = self.keep_program(index, read_only_pages)?;
            let mut next_kept = kept.slots.start;
            // Kept pages that differed from the file (fault injection writes
            // a running program's text in place) and were written again.
            let mut restored = 0u64;
            self.instances[index].segments.clear();
            for segment in image.segments.iter() {
                let (rights, attributes) = if segment.access.write {
                    (CapRights::READ_WRITE, VmAttributes::DEFAULT)
                } else if segment.access.execute {
                    (CapRights::READ, VmAttributes::EXECUTABLE)
                } else {
                    (CapRights::READ, VmAttributes::DEFAULT)
                };
                // The segment's frames in consecutive slots, so that the
                // supervisor can find the frame behind any of its addresses
                // (fault injection mutates a program's memory in place): fresh
                // frames for a writable segment, the kept ones otherwise.
                let pages = (segment.page_end() - segment.page_start()) / 4096;
                let first_frame = if segment.access.write {
                    let mut first = None;
                    for _ in 0..pages {
                        let slot = make(slots, &mut memory, ObjectType::Frame4K, 0)?;
                        first.get_or_insert(slot);
                    }
                    first.unwrap_or(0)
                } else {
                    next_kept += pages;
                    memory += pages * 4096;
                    next_kept - pages
                };
                let _ = self.instances[index].segments.push(Segment {
                    vaddr: segment.page_start(),
                    pages,
                    first_frame,
                    kind: if segment.access.write {
                        SegmentKind::Data
                    } else if segment.access.execute {
                        SegmentKind::Text
                    } else {
                        SegmentKind::ReadOnly
                    },
                });
                let mut page = segment.page_start();
                while page < segment.page_end() {
                    let frame_slot = first_frame + (page - segment.page_start()) / 4096;
                    let from = segment.vaddr.max(page);
                    let to = (segment.vaddr + segment.file_len).min(page + 4096);
                    // What the file puts in this page at `from` (nothing past
                    // its end: the rest of a segment is zeros).
                    let bytes = if from < to {
                        let offset = (segment.file_offset + (from - segment.vaddr)) as usize;
                        &file[offset..offset + (to - from) as usize]
                    } else {
                        &[]
                    };
                    let mapped = if segment.access.write {
                        if !bytes.is_empty() {
                            step(
                                "copy the program",
                                self.res.write_frame(
                                    Cap::from_cptr(frame_slot),
                                    (from - page) as usize,
                                    bytes,
                                ),
                            )?;
                        }
                        frame_slot
                    } else {
                        if !kept.complete {
                            step(
                                "make a frame of the kept program",
                                kept.untyped.untyped_retype(
                                    ObjectType::Frame4K,
                                    0,
                                    cnode_root,
                                    0,
                                    0,
                                    frame_slot,
                                    1,
                                ),
                            )?;
                        }
                        restored += u64::from(step(
                            "check the kept program",
                            self.res.restore_frame(
                                Cap::from_cptr(frame_slot),
                                (from - page) as usize,
                                bytes,
                            ),
                        )?);
                        // The component maps a read-only copy, which dies with it.
                        let copy = slots.alloc().ok_or(fail("out of root slots"))?;
                        let copy_rights = if segment.access.execute {
                            CapRights::READ_EXECUTE
                        } else {
                            CapRights::READ
                        };
                        step(
                            "copy the kept program's capability",
                            cnode_root.cnode_copy(
                                copy,
                                DEPTH,
                                cnode_root,
                                frame_slot,
                                DEPTH,
                                copy_rights,
                            ),
                        )?;
                        copy
                    };
                    step(
                        "map the program",
                        map(
                            slots,
                            Cap::from_cptr(mapped),
                            page,
                            rights,
                            attributes,
                            &mut memory,
                        ),
                    )?;
                    page += 4096;
                }
            }
            if kept.complete && restored > 0 {
                println!(
                    "{}: {restored} page(s) of its program differed from the file and were written again",
                    self.name(index)
                );
            }
            if let Some(kept) = self.instances[index].kept.as_mut() {
                kept.complete = true;
            }
            entry = Some(image.entry);
        }

        // Stack (the page below it stays unmapped: the guard), IPC buffer, status page.
        let stack_pages = self.spec.components[index].stack_bytes.get().div_ceil(4096);
        let mut stack_frames = None;
        for _ in 0..stack_pages {
            let slot = make(slots, &mut memory, ObjectType::Frame4K, 0)?;
            stack_frames.get_or_insert(slot);
        }
        let stack_frames = stack_frames.unwrap_or(0);
        // Frames in slot order from the stack's lowest page up.
        let _ = self.instances[index].segments.push(Segment {
            vaddr: COMPONENT_STACK_TOP - stack_pages * 4096,
            pages: stack_pages,
            first_frame: stack_frames,
            kind: SegmentKind::Stack,
        });
        for page in 0..stack_pages {
            let vaddr = COMPONENT_STACK_TOP - (page + 1) * 4096;
            let frame: Frame4K = Cap::from_cptr(
                stack_frames + (vaddr - (COMPONENT_STACK_TOP - stack_pages * 4096)) / 4096,
            );
            step(
                "map the stack",
                map(
                    slots,
                    frame,
                    vaddr,
                    CapRights::READ_WRITE,
                    VmAttributes::DEFAULT,
                    &mut memory,
                ),
            )?;
        }
        let ipc_frame: Frame4K = Cap::from_cptr(make(slots, &mut memory, ObjectType::Frame4K, 0)?);
        step(
            "map the IPC buffer",
            map(
                slots,
                ipc_frame,
                COMPONENT_IPC_BUFFER,
                CapRights::READ_WRITE,
                VmAttributes::DEFAULT,
                &mut memory,
            ),
        )?;
        let status_copy = slots.alloc().ok_or(fail("out of root slots"))?;
        step(
            "copy the status page",
            cnode_root.cnode_copy(
                status_copy,
                DEPTH,
                cnode_root,
                self.status_frame.cptr(),
                DEPTH,
                CapRights::READ,
            ),
        )?;
        step(
            "map the status page",
            map(
                slots,
                Cap::from_cptr(status_copy),
                STATUS_PAGE_VADDR,
                CapRights::READ,
                VmAttributes::DEFAULT,
                &mut memory,
            ),
        )?;

        // The capabilities, slot by slot, with their mappings.
        for cap in self.spec.caps_of(index) {
            self.install(
                index,
                cap,
                slots,
                &mut |slots, frame, vaddr, rights, memory| {
                    let attributes = if rights.can_execute() {
                        VmAttributes::EXECUTABLE
                    } else {
                        VmAttributes::DEFAULT
                    };
                    map(slots, frame, vaddr, rights, attributes, memory)
                },
                &mut memory,
            )?;
            self.instances[index].mark(cap.slot.get());
        }

        // The thread.
        let component = self.spec.components[index];
        let fault_ep = slots.alloc().ok_or(fail("out of root slots"))?;
        // A handler component's FAULTS endpoint carries faults only; on the
        // supervisor's endpoint, which also carries console text, faults are
        // badged apart so a console message can never pass for one.
        let (fault_source, badge) = match component.fault_handler() {
            Some(handler) => match self.fault_endpoints[handler] {
                Some(faults) => (faults, index as u64 + 1),
                None => (self.supervisor_ep, supervisor::fault_badge(index)),
            },
            None => (self.supervisor_ep, supervisor::fault_badge(index)),
        };
        step(
            "badge the fault endpoint",
            cnode_root.cnode_mint(
                fault_ep,
                DEPTH,
                cnode_root,
                fault_source,
                DEPTH,
                CapRights::WRITE.union(CapRights::GRANT_REPLY),
                badge,
            ),
        )?;
        step(
            "configure the thread",
            tcb.tcb_configure(
                fault_ep,
                cnode,
                COMPONENT_GUARD_DATA,
                pml4,
                0,
                COMPONENT_IPC_BUFFER,
                ipc_frame,
            ),
        )?;
        let priority = u64::from(component.priority);
        step(
            "set the priority",
            tcb.tcb_set_sched_params(self.res.caps.tcb, priority, priority),
        )?;
        step(
            "bind the notification",
            tcb.tcb_bind_notification(Cap::from_cptr(self.instances[index].notification)),
        )?;
        step(
            "place it on its core",
            tcb.tcb_set_affinity(u64::from(self.core_of(component.core))),
        )?;
        let interrupts = self.interrupts_of(index);
        let instance = &mut self.instances[index];
        instance.memory_bytes = memory;
        instance.generation += 1;
        instance.started_tick = self.tick;
        instance.last_beat_tick = self.tick;
        instance.watch_tick = self.tick;
        instance.watch_cpu = 0;
        instance.watch_interrupts = interrupts;
        instance.panic_len = 0;
        match entry {
            Some(rip) => {
                let context = UserContext {
                    rip,
                    rsp: COMPONENT_STACK_TOP,
                    rflags: INITIAL_RFLAGS,
                    rdi: u64::from(instance.generation),
                    ..UserContext::default()
                };
                step(
                    "set the registers",
                    tcb.tcb_write_registers(false, UserContext::WORDS as u64, &context),
                )?;
                instance.state = State::Running;
                self.update_status(index);
                step("start the thread", tcb.tcb_resume())?;
            }
            None => {
                instance.state = State::NoProgram;
                self.update_status(index);
            }
        }
        Ok(())
    }

    /// Puts one spec capability into the component's CNode, and maps what it maps.
    fn install(
        &mut self,
        index: usize,
        cap: &CapRec,
        slots: &mut SlotAllocator,
        map: &mut MapIntoComponent<'_>,
        memory: &mut u64,
    ) -> Result<(), BuildError> {
        let root = self.res.caps.cnode;
        let instance = &self.instances[index];
        let cnode = instance.cnode;
        let kind = cap.kind();
        let rights = cap_rights(cap.rights(), kind);
        let badge = cap.badge.get();
        let slot = u64::from(cap.slot.get());
        let target = cap.target.get();
        let arg = cap.arg.get();
        let give = |source: u64, badge: u64, guard: Option<u64>| -> Result<(), BuildError> {
            let result = match (badge, guard) {
                (_, Some(data)) => cnode.cnode_mint(
                    slot,
                    COMPONENT_CNODE_BITS,
                    root,
                    source,
                    DEPTH,
                    rights,
                    data,
                ),
                (0, None) => {
                    cnode.cnode_copy(slot, COMPONENT_CNODE_BITS, root, source, DEPTH, rights)
                }
                (badge, None) => cnode.cnode_mint(
                    slot,
                    COMPONENT_CNODE_BITS,
                    root,
                    source,
                    DEPTH,
                    rights,
                    badge,
                ),
            };
            step("install a capability", result)
        };
        match kind {
            CapKind::Tcb => give(instance.tcb.cptr(), 0, None),
            CapKind::Cnode => give(instance.cnode.cptr(), 0, Some(COMPONENT_GUARD_DATA)),
            CapKind::Vspace => give(instance.pml4.cptr(), 0, None),
            CapKind::Endpoint => {
                let source = if target != NONE {
                    self.channel_endpoints[target as usize]
                        .ok_or(fail("channel has no endpoint"))?
                } else if arg == NONE {
                    self.supervisor_ep
                } else {
                    self.fault_endpoints[arg as usize].ok_or(fail("no FAULTS endpoint"))?
                };
                give(source, badge, None)
            }
            CapKind::Notification => {
                let source = if arg == NONE {
                    instance
                        .heartbeat
                        .ok_or(fail("no heartbeat notification"))?
                } else {
                    self.instances[arg as usize].notification
                };
                give(source, badge, None)
            }
            CapKind::Frames | CapKind::DeviceFrames => {
                let frames = if kind == CapKind::Frames {
                    self.regions[target as usize]
                } else {
                    self.devices
                        .get(target as usize)
                        .map(|d| d.bars[(arg as usize).min(5)])
                        .unwrap_or_default()
                };
                if frames.count == 0 {
                    let device_missing = kind == CapKind::DeviceFrames
                        && self
                            .devices
                            .get(target as usize)
                            .is_none_or(|d| d.function.is_none());
                    return Err(fail(if device_missing {
                        "its device is not on this machine"
                    } else {
                        "the region or BAR has no frames to grant"
                    }));
                }
                give(frames.first, 0, None)?;
                let bytes = if cap.size.get() == 0 {
                    frames.count * 4096
                } else {
                    cap.size.get()
                };
                let map_rights = if rights.can_write() {
                    CapRights::READ_WRITE
                } else if rights.can_execute() {
                    CapRights::READ_EXECUTE
                } else {
                    CapRights::READ
                };
                for page in 0..bytes.div_ceil(4096).min(frames.count) {
                    let copy = slots.alloc().ok_or(fail("out of root slots"))?;
                    step(
                        "copy a frame to map",
                        root.cnode_copy(
                            copy,
                            DEPTH,
                            root,
                            frames.frame(page).cptr(),
                            DEPTH,
                            map_rights,
                        ),
                    )?;
                    step(
                        "map a region",
                        map(
                            slots,
                            Cap::from_cptr(copy),
                            cap.vaddr.get() + page * 4096,
                            map_rights,
                            memory,
                        ),
                    )?;
                }
                Ok(())
            }
            CapKind::IoPorts | CapKind::IrqHandler | CapKind::IoSpace => {
                let device = self.devices.get(target as usize);
                let (source, missing) = match kind {
                    CapKind::IoPorts => {
                        (device.and_then(|d| d.ports), "no IO ports for the device")
                    }
                    CapKind::IrqHandler => {
                        (device.and_then(|d| d.irq), "no interrupt for the device")
                    }
                    _ => (device.and_then(|d| d.iospace), "no IOSpace for the device"),
                };
                give(source.ok_or(fail(missing))?, 0, None)
            }
        }
    }

    /// Stops component `index` and destroys everything it owned: its root
    /// slots are emptied and its untyped revoked (which resets it).
    pub fn tear_down(&mut self, index: usize) {
        let root = self.res.caps.cnode;
        if self.instances[index].state == State::Running {
            let spent = self.instances[index].tcb.tcb_get_cpu_time().unwrap_or(0);
            self.instances[index].cpu_ticks_done += spent;
        }
        let instance = &self.instances[index];
        let _ = instance.tcb.tcb_suspend();
        let _ = instance.tcb.tcb_unbind_notification();
        for slot in instance.slots.start..instance.slots.end {
            let _ = root.cnode_delete(slot, DEPTH);
        }
        if let Some(untyped) = instance.untyped {
            let _ = root.cnode_revoke(untyped.cptr(), DEPTH);
        }
        self.instances[index].installed = [0; 4];
    }

    /// Changes the byte at `vaddr` of component `index`'s program, data or
    /// stack in place (fault injection), through the supervisor's own
    /// mapping of the frame that holds it.
    pub fn modify_memory(
        &mut self,
        index: usize,
        vaddr: u64,
        change: impl FnOnce(u8) -> u8,
    ) -> Result<(), &'static str> {
        let (slot, offset) = self.instances[index]
            .segments
            .iter()
            .find_map(|s| s.locate(vaddr))
            .ok_or("the address is not in its program or stack")?;
        // The frame is mapped in the component; a copy of its cap can be
        // mapped once more, here.
        let root = self.res.caps.cnode;
        let copy = self.scratch_slot;
        root.cnode_copy(copy, DEPTH, root, slot, DEPTH, CapRights::READ_WRITE)
            .map_err(|_| "cannot copy the frame's capability")?;
        let result = self
            .res
            .with_scratch(Cap::from_cptr(copy), |page| {
                page[offset] = change(page[offset])
            })
            .map_err(|_| "cannot map the frame");
        let _ = root.cnode_delete(copy, DEPTH);
        result
    }

    /// The address of the first 16-byte-aligned occurrence of `magic` in
    /// component `index`'s data segments (a fault mailbox), read through
    /// the supervisor's own mapping of each frame.
    pub fn find_in_data(&mut self, index: usize, magic: &[u8; 8]) -> Option<u64> {
        let root = self.res.caps.cnode;
        let copy = self.scratch_slot;
        let pages: Vec<(u64, u64), 64> = self.instances[index]
            .segments
            .iter()
            .filter(|s| s.kind == SegmentKind::Data)
            .flat_map(|s| (0..s.pages).map(move |p| (s.vaddr + p * 4096, s.first_frame + p)))
            .take(64)
            .collect();
        for (vaddr, slot) in pages {
            if root
                .cnode_copy(copy, DEPTH, root, slot, DEPTH, CapRights::READ_WRITE)
                .is_err()
            {
                continue;
            }
            let mut found = None;
            let _ = self.res.with_scratch(Cap::from_cptr(copy), |page| {
                found = (0..4096)
                    .step_by(16)
                    .find(|&at| page[at..at + 8] == magic[..]);
            });
            let _ = root.cnode_delete(copy, DEPTH);
            if let Some(offset) = found {
                return Some(vaddr + offset as u64);
            }
        }
        None
    }

    /// Writes component `index`'s generation and state into the status page.
    pub fn update_status(&mut self, index: usize) {
        let count = self.instances.len().min(status::MAX_ENTRIES);
        if index >= count {
            return;
        }
        let instance = &self.instances[index];
        self.status.write_entry(
            index,
            self.name(index),
            instance.generation,
            instance.state.status_code(),
        );
        self.status.write_header(count, self.tsc_hz);
        self.update_usage(index);
    }

    /// The interrupts the devices component `index` drives have taken, over
    /// all its generations (their handlers outlive it).
    pub fn interrupts_of(&self, index: usize) -> u64 {
        (0..self.devices.len())
            .filter(|&d| self.spec.devices[d].driver() == Some(index))
            .filter_map(|d| self.devices[d].irq)
            .map(|slot| Self::irq_handler(slot).irq_handler_get_count().unwrap_or(0))
            .sum()
    }

    /// Writes component `index`'s CPU time (all generations) and restarts in
    /// a row into the status page; returns the CPU time (TSC ticks).
    pub fn update_usage(&mut self, index: usize) -> u64 {
        let instance = &self.instances[index];
        let current = match instance.state {
            State::Running => instance.tcb.tcb_get_cpu_time().unwrap_or(0),
            _ => 0,
        };
        let interrupts = self.interrupts_of(index);
        let total = instance.cpu_ticks_done + current;
        self.status.write_usage(
            index,
            Usage {
                cpu_ticks: total,
                restarts: u64::from(instance.restarts),
                dma_faults: instance.dma_faults,
                interrupts,
            },
        );
        total
    }

    /// Signals `peer`'s notification with `bits` (through a badged copy made
    /// in the scratch slot for the purpose). Never blocks.
    pub fn signal_component(&mut self, peer: usize, bits: u64) {
        let root = self.res.caps.cnode;
        let scratch = self.scratch_slot;
        if root
            .cnode_mint(
                scratch,
                DEPTH,
                root,
                self.instances[peer].notification,
                DEPTH,
                CapRights::WRITE,
                bits,
            )
            .is_ok()
        {
            let _ = Cap::<ward_userlib::cap::cap_type::Notification>::from_cptr(scratch).signal();
            let _ = root.cnode_delete(scratch, DEPTH);
        }
    }

    /// An IRQ handler cap by root slot (for the tick).
    pub fn irq_handler(slot: u64) -> IrqHandler {
        Cap::from_cptr(slot)
    }

    /// A notification cap by root slot.
    pub fn notification(slot: u64) -> Notification {
        Cap::from_cptr(slot)
    }
}
