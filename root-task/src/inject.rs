//! Fault injection by the supervisor: a seeded campaign of faults put into a
//! running component without its help and without rebuilding it.
//!
//! The supervisor holds everything a component is made of — its thread, and
//! the frames of its program, data and stack — so it can do to a component
//! what a bug or a stray write would, in the style of MINIX 3's SWIFI:
//!
//! | kind | what the supervisor does |
//! |---|---|
//! | `text` | flips one bit of one byte of the program's code |
//! | `data` | flips one bit in the program's data or BSS |
//! | `stack` | flips one bit within the top 512 bytes of the stack in use |
//! | `register` | flips one bit of one general register of the stopped thread |
//! | `wild-write` | makes the next instructions store to a random address |
//! | `wild-read` | makes the next instructions load from a random address |
//! | `null` | makes the next instructions load through a null pointer |
//! | `stack-overflow` | makes the next instructions push until the guard page |
//! | `crash` | puts an invalid instruction (`ud2`) where the thread resumes |
//! | `hang` | puts an endless loop (`jmp .`) where the thread resumes |
//! | `livelock` | puts a loop that only keeps signalling the heartbeat |
//! | `stop` | suspends the thread for good (as if it had exited) |
//!
//! A target built with a fault mailbox (the `e1000-faults` driver,
//! `drivers/e1000/src/faults.rs`) also takes the kinds that need the
//! driver's cooperation. The supervisor writes the request into the
//! mailbox through its mapping of the driver's data (found by the magic
//! `WARDFMBX`), as it flips bits, and signals the driver; the driver's
//! next turn arms the bug:
//!
//! | kind | the driver ... | caught by |
//! |---|---|---|
//! | `dma-outside` | points a transmit descriptor outside its windows | IOMMU |
//! | `dma-other-pool` | points a receive descriptor into the transmit pool | IOMMU (the NIC may only read it) |
//! | `dma-rings` | points a receive descriptor at the descriptor rings | whatever the overwritten rings cause |
//! | `irq-storm` | unmasks without reading the cause, keeps the device asserting | CPU-share watchdog |
//! | `irq-lost` | never unmasks again | (degraded: polls on doorbells) |
//! | `ring-garbage` | returns a garbage descriptor | the stack's ring validation |
//! | `ring-backwards`, `ring-past-end` | moves the return ring's index backwards / past the end | the stack's ring validation |
//! | `ring-twice` | returns a buffer twice | the stack's ring validation |
//! | `ring-never` | stops returning sent buffers | the stack's progress check |
//! | `lie-length` | returns a frame with half its length | the stack's screening (dropped) |
//! | `lie-duplicate` | sends a frame twice | TCP / the application |
//! | `lie-drop` | drops 16 received frames | TCP retransmits |
//! | `lie-corrupt` | sends a frame shifted by two bytes | the peer's checks |
//!
//! A persistent bug nobody detects (`irq-lost`, say) is cleared after the
//! quiet period by a restart the campaign asks for, counted as `cleared`
//! (not as recovered), so that faults do not pile up.
//!
//! Code is written where the thread will resume (its saved `rip`), through
//! the supervisor's own mapping of the program's frames; QEMU and real CPUs
//! alike notice the store and run the new instructions.
//!
//! One fault at a time: the campaign waits until the fault is detected (the
//! supervisor restarts or holds the component) or until it has had no
//! effect for a quiet period, then waits the interval and injects the next.
//! Each fault and its fate is one console line; the summary comes last, and
//! then the run ends.
//!
//! Root-task arguments: `inject=KIND+KIND..|all|supervisor|driver` (the
//! kinds above; `supervisor` the first twelve, `driver` the mailbox kinds),
//! `inject-target=COMPONENT+COMPONENT..` (each fault goes into one of them,
//! chosen by the schedule), `inject-seed=N` (default 1), `inject-count=N`
//! (default 20), `inject-every=MS` (default 100), `inject-quiet=MS`
//! (default 2000), `inject-start=MS` (first fault, default `inject-every`),
//! `inject-linger=MS` (how long the run goes on after the summary, default 0).
//!
//! Every line carries the guest time (microseconds since boot) it happened
//! at, so that a script can join them with the network stack's "service
//! restored" lines (scripts/faults-report.py).

use core::fmt::Write;

use ward_userlib::cap::UserContext;
use ward_userlib::component::status;
use ward_userlib::println;
use ward_userlib::time::{Duration, Instant};

use crate::system::{SegmentKind, State, System};

/// The fault kinds, in the order their names are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Data,
    Stack,
    Register,
    WildWrite,
    WildRead,
    Null,
    StackOverflow,
    Crash,
    Hang,
    Livelock,
    Stop,
    DmaOutside,
    DmaOtherPool,
    DmaRings,
    IrqStorm,
    IrqLost,
    RingGarbage,
    RingBackwards,
    RingPastEnd,
    RingTwice,
    RingNever,
    LieLength,
    LieDuplicate,
    LieDrop,
    LieCorrupt,
}

/// Kinds the supervisor injects alone (the first twelve of [`Kind::ALL`]).
const SUPERVISOR_KINDS: usize = 12;

/// Where the mailbox's request word lies after its magic.
const MAILBOX_REQUEST_OFFSET: u64 = 8;
/// The bit the supervisor signals a target's notification with after
/// writing its mailbox: one no channel of a driver uses (capctl numbers a
/// component's bits from 0), so the driver only takes another turn.
const MAILBOX_DOORBELL_BIT: u64 = 1 << 40;
/// The mailbox's magic (drivers/e1000/src/faults.rs, `MAILBOX_MAGIC`).
const MAILBOX_MAGIC: [u8; 8] = *b"WARDFMBX";

impl Kind {
    pub const ALL: [Kind; 26] = [
        Kind::Text,
        Kind::Data,
        Kind::Stack,
        Kind::Register,
        Kind::WildWrite,
        Kind::WildRead,
        Kind::Null,
        Kind::StackOverflow,
        Kind::Crash,
        Kind::Hang,
        Kind::Livelock,
        Kind::Stop,
        Kind::DmaOutside,
        Kind::DmaOtherPool,
        Kind::DmaRings,
        Kind::IrqStorm,
        Kind::IrqLost,
        Kind::RingGarbage,
        Kind::RingBackwards,
        Kind::RingPastEnd,
        Kind::RingTwice,
        Kind::RingNever,
        Kind::LieLength,
        Kind::LieDuplicate,
        Kind::LieDrop,
        Kind::LieCorrupt,
    ];

    /// The mailbox request of a kind that needs the driver's cooperation
    /// (the numbers of `ward_e1000::faults::Request`).
    fn request(self) -> Option<u8> {
        let position = Kind::ALL.iter().position(|k| *k == self)?;
        (position >= SUPERVISOR_KINDS).then(|| (position - SUPERVISOR_KINDS + 1) as u8)
    }

    /// A bug that lasts until the component is restarted.
    fn persistent(self) -> bool {
        matches!(self, Kind::IrqStorm | Kind::IrqLost | Kind::RingNever)
    }

    /// A kind that makes the component keep the CPU, starving those below it.
    fn keeps_the_cpu(self) -> bool {
        matches!(self, Kind::Hang | Kind::Livelock | Kind::IrqStorm)
    }

    /// A kind only the heartbeat, the CPU-share watchdog or a peer's
    /// progress check can catch: each needs up to a heartbeat period, so
    /// its quiet period is at least that.
    fn caught_by_time(self) -> bool {
        matches!(
            self,
            Kind::Hang
                | Kind::Livelock
                | Kind::Stop
                | Kind::IrqStorm
                | Kind::IrqLost
                | Kind::RingNever
                | Kind::DmaOtherPool
                | Kind::DmaRings
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Data => "data",
            Kind::Stack => "stack",
            Kind::Register => "register",
            Kind::WildWrite => "wild-write",
            Kind::WildRead => "wild-read",
            Kind::Null => "null",
            Kind::StackOverflow => "stack-overflow",
            Kind::Crash => "crash",
            Kind::Hang => "hang",
            Kind::Livelock => "livelock",
            Kind::Stop => "stop",
            Kind::DmaOutside => "dma-outside",
            Kind::DmaOtherPool => "dma-other-pool",
            Kind::DmaRings => "dma-rings",
            Kind::IrqStorm => "irq-storm",
            Kind::IrqLost => "irq-lost",
            Kind::RingGarbage => "ring-garbage",
            Kind::RingBackwards => "ring-backwards",
            Kind::RingPastEnd => "ring-past-end",
            Kind::RingTwice => "ring-twice",
            Kind::RingNever => "ring-never",
            Kind::LieLength => "lie-length",
            Kind::LieDuplicate => "lie-duplicate",
            Kind::LieDrop => "lie-drop",
            Kind::LieCorrupt => "lie-corrupt",
        }
    }

    fn bit(self) -> u32 {
        1 << Kind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// Who noticed that something was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detector {
    /// The MMU: a page fault.
    Mmu,
    /// The CPU: an exception (invalid instruction, general protection, ...).
    Cpu,
    /// The component's own panic handler.
    Panic,
    /// The kernel: an unknown system call.
    Kernel,
    /// The supervisor: the heartbeat stopped.
    Heartbeat,
    /// The IOMMU: a blocked DMA.
    Iommu,
    /// The supervisor: the component kept the CPU to itself (a livelock
    /// or an interrupt storm).
    Watchdog,
    /// A peer's ring validation (the network stack asked for the restart).
    PeerRing,
    /// A peer's progress check (the network stack asked for the restart).
    PeerProgress,
    /// The supervisor: a driver took interrupts faster than any device
    /// raises them (an interrupt storm).
    IrqWatchdog,
}

impl Detector {
    const ALL: [Detector; 10] = [
        Detector::Mmu,
        Detector::Cpu,
        Detector::Panic,
        Detector::Kernel,
        Detector::Heartbeat,
        Detector::Iommu,
        Detector::Watchdog,
        Detector::PeerRing,
        Detector::PeerProgress,
        Detector::IrqWatchdog,
    ];

    /// How the status page records it (`status::DETECTOR_*`).
    pub fn status_code(self) -> u64 {
        match self {
            Detector::Mmu => status::DETECTOR_MMU,
            Detector::Cpu => status::DETECTOR_CPU,
            Detector::Panic => status::DETECTOR_PANIC,
            Detector::Kernel => status::DETECTOR_KERNEL,
            Detector::Heartbeat => status::DETECTOR_HEARTBEAT,
            Detector::Iommu => status::DETECTOR_IOMMU,
            Detector::Watchdog => status::DETECTOR_WATCHDOG,
            Detector::PeerRing => status::DETECTOR_PEER_RING,
            Detector::PeerProgress => status::DETECTOR_PEER_PROGRESS,
            Detector::IrqWatchdog => status::DETECTOR_IRQ_WATCHDOG,
        }
    }

    pub fn name(self) -> &'static str {
        status::detector_name(self.status_code())
    }
}

/// The campaign as the root task's arguments describe it.
pub struct Campaign {
    kinds: u32,
    /// The components faults go into.
    targets: heapless::Vec<usize, MAX_TARGETS>,
    count: u32,
    every: Duration,
    quiet: Duration,
    start: Duration,
    /// How long the run goes on after the summary.
    linger: Duration,
    rng: u64,
}

/// Components one campaign may inject into.
const MAX_TARGETS: usize = 4;

/// A fault put in and not yet resolved.
struct Pending {
    number: u32,
    kind: Kind,
    target: usize,
    generation: u32,
    at: Instant,
}

/// The campaign's state and its tally.
pub struct Injector {
    campaign: Campaign,
    next: Instant,
    pending: Option<Pending>,
    injected: u32,
    kinds_used: u32,
    detected: [u32; Detector::ALL.len()],
    no_effect: u32,
    cleared: u32,
    collateral: u32,
    not_injected: u32,
    /// Each target's fault mailbox (its address), once looked for.
    mailboxes: [Option<Option<u64>>; MAX_TARGETS],
    /// Times to detection, in microseconds (for the median).
    latencies: heapless::Vec<u64, 1024>,
    /// When the summary was printed.
    ended: Option<Instant>,
}

const DEFAULT_COUNT: u32 = 20;
const DEFAULT_EVERY_MS: u64 = 100;
const DEFAULT_QUIET_MS: u64 = 2000;
/// Bytes above the stack pointer a stack flip may hit: the frames in use.
const STACK_WINDOW: u64 = 512;

/// Microseconds since boot: the time stamp of every campaign line.
fn now_us() -> u64 {
    Instant::now().since_boot().as_micros() as u64
}

fn kind_bits(range: core::ops::Range<usize>) -> u32 {
    Kind::ALL[range].iter().fold(0, |a, k| a | k.bit())
}

/// Reads the campaign from the root task's arguments; `None` without
/// `inject=`. Errors name the argument and the valid choices.
pub fn parse(system: &System, args: &str) -> Result<Option<Campaign>, &'static str> {
    let value = |key: &str| {
        args.split_ascii_whitespace()
            .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
    };
    let Some(kinds_text) = value("inject") else {
        return Ok(None);
    };
    let mut kinds = 0;
    for name in kinds_text.split('+') {
        match name {
            "all" => kinds |= kind_bits(0..Kind::ALL.len()),
            "supervisor" => kinds |= kind_bits(0..SUPERVISOR_KINDS),
            "driver" => kinds |= kind_bits(SUPERVISOR_KINDS..Kind::ALL.len()),
            _ => match Kind::ALL.iter().find(|k| k.name() == name) {
                Some(k) => kinds |= k.bit(),
                None => return Err("inject: unknown kind (valid: text, data, stack, register, wild-write, wild-read, null, stack-overflow, crash, hang, livelock, stop, dma-outside, dma-other-pool, dma-rings, irq-storm, irq-lost, ring-garbage, ring-backwards, ring-past-end, ring-twice, ring-never, lie-length, lie-duplicate, lie-drop, lie-corrupt, supervisor, driver, all)"),
            },
        }
    }
    let targets_text =
        value("inject-target").ok_or("inject: inject-target=COMPONENT is missing")?;
    let mut targets = heapless::Vec::new();
    for name in targets_text.split('+') {
        let target = (0..system.instances.len())
            .find(|&i| system.name(i) == name)
            .ok_or("inject: inject-target names no component of this system")?;
        targets
            .push(target)
            .map_err(|_| "inject: inject-target names more than four components")?;
    }
    let number = |key: &str, default: u64| -> Result<u64, &'static str> {
        match value(key) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| "inject: a count, seed or time is not a whole number"),
        }
    };
    let every = number("inject-every", DEFAULT_EVERY_MS)?;
    Ok(Some(Campaign {
        kinds,
        targets,
        count: number("inject-count", u64::from(DEFAULT_COUNT))? as u32,
        every: Duration::from_millis(every),
        quiet: Duration::from_millis(number("inject-quiet", DEFAULT_QUIET_MS)?),
        start: Duration::from_millis(number("inject-start", every)?),
        linger: Duration::from_millis(number("inject-linger", 0)?),
        // xorshift needs a non-zero state.
        rng: number("inject-seed", 1)?.max(1),
    }))
}

impl Injector {
    pub fn new(campaign: Campaign, system: &System) -> Injector {
        let next = Instant::now() + campaign.start;
        let mut names = Line::default();
        for (i, target) in campaign.targets.iter().enumerate() {
            let _ = write!(
                names,
                "{}{}",
                if i > 0 { "+" } else { "" },
                system.name(*target)
            );
        }
        println!(
            "inject: campaign of {} faults into {} every {} ms (seed {})",
            campaign.count,
            names.as_str(),
            campaign.every.as_millis(),
            campaign.rng
        );
        Injector {
            campaign,
            next,
            pending: None,
            injected: 0,
            kinds_used: 0,
            detected: [0; Detector::ALL.len()],
            no_effect: 0,
            cleared: 0,
            collateral: 0,
            not_injected: 0,
            mailboxes: [None; MAX_TARGETS],
            latencies: heapless::Vec::new(),
            ended: None,
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: small, fast, and repeatable from the seed.
        let mut x = self.campaign.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.campaign.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.random() % n.max(1)
    }

    /// The supervisor noticed a failure of component `index`.
    pub fn detected(&mut self, index: usize, detector: Detector, system: &System) {
        let Some(p) = self.pending.as_ref() else {
            return;
        };
        if index != p.target {
            // Something else failed while a fault was pending: harm beyond
            // the component the fault went into.
            self.collateral += 1;
            println!(
                "inject: #{} ({} into {}): {} failed too, detected by {} at {} us",
                p.number,
                p.kind.name(),
                system.name(p.target),
                system.name(index),
                detector.name(),
                now_us()
            );
            return;
        }
        let Some(p) = self.pending.take() else {
            return;
        };
        let after = p.at.elapsed();
        let slot = Detector::ALL
            .iter()
            .position(|d| *d == detector)
            .unwrap_or(0);
        self.detected[slot] += 1;
        let _ = self.latencies.push(after.as_micros() as u64);
        println!(
            "inject: #{} ({}) detected by {} after {} us at {} us",
            p.number,
            p.kind.name(),
            detector.name(),
            after.as_micros(),
            now_us()
        );
        self.next = Instant::now() + self.campaign.every;
    }

    /// Whether the campaign is over.
    pub fn finished(&self) -> bool {
        self.injected + self.not_injected >= self.campaign.count && self.pending.is_none()
    }

    /// One supervisor tick: resolve a quiet fault, inject the next when due.
    pub fn tick(&mut self, system: &mut System) {
        if let Some(p) = &self.pending {
            let restarted = system.instances[p.target].generation != p.generation;
            let quiet = if p.kind.caught_by_time() {
                // A period, and three ticks for the check to come round. A
                // component that keeps the CPU is also found through the
                // ones below it that it starves: their periods count too.
                let spec = &system.spec.components;
                let target_priority = spec[p.target].priority;
                let starves = p.kind.keeps_the_cpu();
                let period = (0..spec.len())
                    .filter(|&i| i == p.target || (starves && spec[i].priority < target_priority))
                    .map(|i| spec[i].heartbeat_us.get())
                    .max()
                    .unwrap_or(0);
                let margin = 3 * crate::supervisor::TICK_US;
                self.campaign
                    .quiet
                    .max(Duration::from_micros(period + margin))
            } else {
                self.campaign.quiet
            };
            if restarted || p.at.elapsed() >= quiet {
                let (number, kind, target) = (p.number, p.kind, p.target);
                self.pending = None;
                self.next = Instant::now() + self.campaign.every;
                if kind.persistent() && !restarted {
                    println!(
                        "inject: #{number} ({}) not detected within {} ms; cleared by a restart at {} us",
                        kind.name(),
                        quiet.as_millis(),
                        now_us()
                    );
                    self.cleared += 1;
                    crate::supervisor::restart_now(system, target);
                } else {
                    println!(
                        "inject: #{number} ({}) had no effect within {} ms",
                        kind.name(),
                        quiet.as_millis()
                    );
                    self.no_effect += 1;
                }
            }
            return;
        }
        if self.injected + self.not_injected >= self.campaign.count || !self.next.has_passed() {
            return;
        }
        let slot = self.below(self.campaign.targets.len() as u64) as usize;
        let target = self.campaign.targets[slot];
        if system.instances[target].state != State::Running {
            return; // wait for its restart
        }
        let mailbox = *self.mailboxes[slot]
            .get_or_insert_with(|| system.find_in_data(target, &MAILBOX_MAGIC));
        let kinds: heapless::Vec<Kind, 26> = Kind::ALL
            .iter()
            .copied()
            .filter(|k| self.campaign.kinds & k.bit() != 0)
            .filter(|k| k.request().is_none() || mailbox.is_some())
            .collect();
        if kinds.is_empty() {
            return; // another target may take the campaign's kinds
        }
        let kind = kinds[self.below(kinds.len() as u64) as usize];
        let number = self.injected + self.not_injected + 1;
        let mut line = Line::default();
        let _ = write!(
            line,
            "inject: #{number} {} into {} at {} us: ",
            kind.name(),
            system.name(target),
            now_us()
        );
        let applied = match (kind.request(), mailbox) {
            (Some(request), Some(address)) => {
                let _ = write!(line, "asked through its fault mailbox");
                system
                    .modify_memory(target, address + MAILBOX_REQUEST_OFFSET, |_| request)
                    .map(|()| system.signal_component(target, MAILBOX_DOORBELL_BIT))
            }
            _ => self.apply(system, target, kind, &mut line),
        };
        match applied {
            Ok(()) => {
                println!("{}", line.as_str());
                self.injected += 1;
                self.kinds_used |= kind.bit();
                self.pending = Some(Pending {
                    number,
                    kind,
                    target,
                    generation: system.instances[target].generation,
                    at: Instant::now(),
                });
            }
            Err(why) => {
                println!("{}not injected ({why})", line.as_str());
                self.not_injected += 1;
                self.next = Instant::now() + self.campaign.every;
            }
        }
    }

    fn apply(
        &mut self,
        system: &mut System,
        target: usize,
        kind: Kind,
        line: &mut Line,
    ) -> Result<(), &'static str> {
        let tcb = system.instances[target].tcb;
        let words = UserContext::WORDS as u64;
        let context = tcb
            .tcb_read_registers(false, words)
            .map_err(|_| "cannot read its registers")?;
        match kind {
            Kind::Text | Kind::Data | Kind::Stack => {
                let (vaddr, bit) = self.pick_bit(system, target, kind, context.rsp)?;
                let _ = write!(line, "bit {bit} of the byte at {vaddr:#x}");
                system.modify_memory(target, vaddr, |byte| byte ^ (1 << bit))
            }
            Kind::Register => {
                let index = self.below(16) as usize;
                let bit = self.below(64) as u32;
                let mut changed = context;
                let names = [
                    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11",
                    "r12", "r13", "r14", "r15", "rflags",
                ];
                {
                    let register = match index {
                        0 => &mut changed.rax,
                        1 => &mut changed.rbx,
                        2 => &mut changed.rcx,
                        3 => &mut changed.rdx,
                        4 => &mut changed.rsi,
                        5 => &mut changed.rdi,
                        6 => &mut changed.rbp,
                        7 => &mut changed.r8,
                        8 => &mut changed.r9,
                        9 => &mut changed.r10,
                        10 => &mut changed.r11,
                        11 => &mut changed.r12,
                        12 => &mut changed.r13,
                        13 => &mut changed.r14,
                        14 => &mut changed.r15,
                        _ => &mut changed.rflags,
                    };
                    *register ^= 1 << bit;
                }
                let _ = write!(
                    line,
                    "bit {bit} of {} at rip {:#x}",
                    names[index], context.rip
                );
                tcb.tcb_suspend().map_err(|_| "cannot stop it")?;
                tcb.tcb_write_registers(true, words, &changed)
                    .map_err(|_| "cannot write its registers")
            }
            Kind::Stop => {
                let _ = write!(line, "thread suspended at rip {:#x}", context.rip);
                tcb.tcb_suspend().map_err(|_| "cannot stop it")
            }
            _ => {
                let mut code = [0u8; 16];
                let length = self.code_for(kind, &mut code, line);
                let _ = write!(line, " at rip {:#x}", context.rip);
                for (i, byte) in code[..length].iter().enumerate() {
                    let byte = *byte;
                    system.modify_memory(target, context.rip + i as u64, |_| byte)?;
                }
                Ok(())
            }
        }
    }

    /// The instructions a code-injecting kind writes at `rip`.
    fn code_for(&mut self, kind: Kind, code: &mut [u8; 16], line: &mut Line) -> usize {
        // A random user address: mostly nothing is mapped there (the MMU
        // stops it), now and then the program's own memory (silent damage).
        let address = ward_sysspec::AUTO_MAP_BASE.wrapping_sub(1 << 30) + self.below(1 << 40) * 8;
        let mov_rbx = |code: &mut [u8; 16], value: u64| {
            code[0] = 0x48; // mov rbx, imm64
            code[1] = 0xbb;
            code[2..10].copy_from_slice(&value.to_le_bytes());
        };
        match kind {
            Kind::WildWrite => {
                mov_rbx(code, address);
                code[10..12].copy_from_slice(&[0x88, 0x03]); // mov [rbx], al
                let _ = write!(line, "store to {address:#x}");
                12
            }
            Kind::WildRead => {
                mov_rbx(code, address);
                code[10..12].copy_from_slice(&[0x8a, 0x03]); // mov al, [rbx]
                let _ = write!(line, "load from {address:#x}");
                12
            }
            Kind::Null => {
                // xor ebx, ebx; mov al, [rbx]
                code[..4].copy_from_slice(&[0x31, 0xdb, 0x8a, 0x03]);
                let _ = write!(line, "load through a null pointer");
                4
            }
            Kind::StackOverflow => {
                // push rax; jmp back to the push
                code[..3].copy_from_slice(&[0x50, 0xeb, 0xfd]);
                let _ = write!(line, "push until the guard page");
                3
            }
            Kind::Crash => {
                code[..2].copy_from_slice(&[0x0f, 0x0b]); // ud2
                let _ = write!(line, "invalid instruction");
                2
            }
            Kind::Hang => {
                code[..2].copy_from_slice(&[0xeb, 0xfe]); // jmp .
                let _ = write!(line, "endless loop");
                2
            }
            _ => {
                // mov edi, HEARTBEAT; xor esi, esi; mov eax, Send; syscall; jmp back
                let slot = ward_sysspec::SLOT_HEARTBEAT.to_le_bytes();
                let send = (ward_userlib::abi::Syscall::Send as u32).to_le_bytes();
                code[0] = 0xbf;
                code[1..5].copy_from_slice(&slot);
                code[5..7].copy_from_slice(&[0x31, 0xf6]);
                code[7] = 0xb8;
                code[8..12].copy_from_slice(&send);
                code[12..16].copy_from_slice(&[0x0f, 0x05, 0xeb, 0xf0]);
                let _ = write!(line, "loop that only signals the heartbeat");
                16
            }
        }
    }

    /// A random byte (and bit) of the target's text, data or live stack.
    fn pick_bit(
        &mut self,
        system: &System,
        target: usize,
        kind: Kind,
        rsp: u64,
    ) -> Result<(u64, u32), &'static str> {
        let segments = &system.instances[target].segments;
        let bit = self.below(8) as u32;
        if kind == Kind::Stack {
            let stack = segments
                .iter()
                .find(|s| s.kind == SegmentKind::Stack)
                .ok_or("no stack")?;
            let top = stack.vaddr + stack.pages * 4096;
            if rsp < stack.vaddr || rsp >= top {
                return Err("its stack pointer is outside its stack");
            }
            let span = (top - rsp).min(STACK_WINDOW);
            return Ok((rsp + self.below(span), bit));
        }
        let want = if kind == Kind::Text {
            SegmentKind::Text
        } else {
            SegmentKind::Data
        };
        let total: u64 = segments
            .iter()
            .filter(|s| s.kind == want)
            .map(|s| s.pages * 4096)
            .sum();
        if total == 0 {
            return Err("no such segment");
        }
        let mut at = self.below(total);
        for s in segments.iter().filter(|s| s.kind == want) {
            if at < s.pages * 4096 {
                return Ok((s.vaddr + at, bit));
            }
            at -= s.pages * 4096;
        }
        Err("no such segment")
    }

    /// Once the campaign is over: prints the summary (once), and says
    /// whether the run may end (after `inject-linger`, so that the traffic
    /// of a host peer sees the system after the last fault).
    pub fn summarise(&mut self) -> bool {
        match self.ended {
            None => {
                self.print_summary();
                self.ended = Some(Instant::now());
                self.campaign.linger.is_zero()
            }
            Some(at) => at.elapsed() >= self.campaign.linger,
        }
    }

    /// The summary line (for people, and for scripts).
    fn print_summary(&self) {
        let mut line = Line::default();
        let detected: u32 = self.detected.iter().sum();
        let kinds = self.kinds_used.count_ones();
        let _ = write!(
            line,
            "inject: {} injected over {kinds} kinds: {detected} detected (",
            self.injected
        );
        let mut first = true;
        for (d, n) in Detector::ALL.iter().zip(self.detected) {
            if n > 0 {
                let _ = write!(line, "{}{} {n}", if first { "" } else { ", " }, d.name());
                first = false;
            }
        }
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
        let _ = write!(
            line,
            "), {} without effect, {} cleared by a restart, {} collateral failures, {} not injected; median time to detection {} us",
            self.no_effect, self.cleared, self.collateral, self.not_injected, median
        );
        println!("{}", line.as_str());
    }
}

/// A console line gathered before printing.
#[derive(Default)]
struct Line {
    bytes: heapless::Vec<u8, 256>,
}

impl Line {
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes).unwrap_or("(line cut)")
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            let _ = self.bytes.push(b);
        }
        Ok(())
    }
}
