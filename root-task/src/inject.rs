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
//! Root-task arguments: `inject=KIND+KIND..|all` (the kinds above),
//! `inject-target=COMPONENT`, `inject-seed=N` (default 1), `inject-count=N`
//! (default 20), `inject-every=MS` (default 100), `inject-quiet=MS`
//! (default 2000).

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
}

impl Kind {
    pub const ALL: [Kind; 12] = [
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
    ];

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
}

impl Detector {
    const ALL: [Detector; 6] = [
        Detector::Mmu,
        Detector::Cpu,
        Detector::Panic,
        Detector::Kernel,
        Detector::Heartbeat,
        Detector::Iommu,
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
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Detector::Mmu => "mmu",
            Detector::Cpu => "cpu",
            Detector::Panic => "panic",
            Detector::Kernel => "kernel",
            Detector::Heartbeat => "heartbeat",
            Detector::Iommu => "iommu",
        }
    }
}

/// The campaign as the root task's arguments describe it.
pub struct Campaign {
    kinds: u32,
    /// The component faults go into.
    target: usize,
    count: u32,
    every: Duration,
    quiet: Duration,
    rng: u64,
}

/// A fault put in and not yet resolved.
struct Pending {
    number: u32,
    kind: Kind,
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
    detected: [u32; 6],
    no_effect: u32,
    not_injected: u32,
    /// Times to detection, in microseconds (for the median).
    latencies: heapless::Vec<u64, 1024>,
}

const DEFAULT_COUNT: u32 = 20;
const DEFAULT_EVERY_MS: u64 = 100;
const DEFAULT_QUIET_MS: u64 = 2000;
/// Bytes above the stack pointer a stack flip may hit: the frames in use.
const STACK_WINDOW: u64 = 512;

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
        if name == "all" {
            kinds |= Kind::ALL.iter().fold(0, |a, k| a | k.bit());
            continue;
        }
        match Kind::ALL.iter().find(|k| k.name() == name) {
            Some(k) => kinds |= k.bit(),
            None => return Err("inject: unknown kind (valid: text, data, stack, register, wild-write, wild-read, null, stack-overflow, crash, hang, livelock, stop, all)"),
        }
    }
    let target_name = value("inject-target").ok_or("inject: inject-target=COMPONENT is missing")?;
    let target = (0..system.instances.len())
        .find(|&i| system.name(i) == target_name)
        .ok_or("inject: inject-target names no component of this system")?;
    let number = |key: &str, default: u64| -> Result<u64, &'static str> {
        match value(key) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| "inject: a count, seed or time is not a whole number"),
        }
    };
    Ok(Some(Campaign {
        kinds,
        target,
        count: number("inject-count", u64::from(DEFAULT_COUNT))? as u32,
        every: Duration::from_millis(number("inject-every", DEFAULT_EVERY_MS)?),
        quiet: Duration::from_millis(number("inject-quiet", DEFAULT_QUIET_MS)?),
        // xorshift needs a non-zero state.
        rng: number("inject-seed", 1)?.max(1),
    }))
}

impl Campaign {
    /// The component faults go into.
    pub fn target(&self) -> usize {
        self.target
    }
}

impl Injector {
    pub fn new(campaign: Campaign, target_name: &str) -> Injector {
        let next = Instant::now() + campaign.every;
        println!(
            "inject: campaign of {} faults into {target_name} every {} ms (seed {})",
            campaign.count,
            campaign.every.as_millis(),
            campaign.rng
        );
        Injector {
            campaign,
            next,
            pending: None,
            injected: 0,
            kinds_used: 0,
            detected: [0; 6],
            no_effect: 0,
            not_injected: 0,
            latencies: heapless::Vec::new(),
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
    pub fn detected(&mut self, index: usize, detector: Detector) {
        if index != self.campaign.target {
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
            "inject: #{} ({}) detected by {} after {} us",
            p.number,
            p.kind.name(),
            detector.name(),
            after.as_micros()
        );
        self.next = Instant::now() + self.campaign.every;
    }

    /// Whether the campaign is over.
    pub fn finished(&self) -> bool {
        self.injected + self.not_injected >= self.campaign.count && self.pending.is_none()
    }

    /// One supervisor tick: resolve a quiet fault, inject the next when due.
    pub fn tick(&mut self, system: &mut System) {
        let target = self.campaign.target;
        if let Some(p) = &self.pending {
            let restarted = system.instances[target].generation != p.generation;
            if restarted || p.at.elapsed() >= self.campaign.quiet {
                println!(
                    "inject: #{} ({}) had no effect within {} ms",
                    p.number,
                    p.kind.name(),
                    self.campaign.quiet.as_millis()
                );
                self.no_effect += 1;
                self.pending = None;
                self.next = Instant::now() + self.campaign.every;
            }
            return;
        }
        if self.injected + self.not_injected >= self.campaign.count || !self.next.has_passed() {
            return;
        }
        if system.instances[target].state != State::Running {
            return; // wait for its restart
        }
        let kinds: heapless::Vec<Kind, 12> = Kind::ALL
            .iter()
            .copied()
            .filter(|k| self.campaign.kinds & k.bit() != 0)
            .collect();
        let kind = kinds[self.below(kinds.len() as u64) as usize];
        let number = self.injected + self.not_injected + 1;
        let mut line = Line::default();
        let _ = write!(
            line,
            "inject: #{number} {} into {}: ",
            kind.name(),
            system.name(target)
        );
        match self.apply(system, kind, &mut line) {
            Ok(()) => {
                println!("{}", line.as_str());
                self.injected += 1;
                self.kinds_used |= kind.bit();
                self.pending = Some(Pending {
                    number,
                    kind,
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
        kind: Kind,
        line: &mut Line,
    ) -> Result<(), &'static str> {
        let target = self.campaign.target;
        let tcb = system.instances[target].tcb;
        let words = UserContext::WORDS as u64;
        let context = tcb
            .tcb_read_registers(false, words)
            .map_err(|_| "cannot read its registers")?;
        match kind {
            Kind::Text | Kind::Data | Kind::Stack => {
                let (vaddr, bit) = self.pick_bit(system, kind, context.rsp)?;
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
        kind: Kind,
        rsp: u64,
    ) -> Result<(u64, u32), &'static str> {
        let segments = &system.instances[self.campaign.target].segments;
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

    /// The summary line (for people, and for scripts).
    pub fn print_summary(&self) {
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
            "), {} without effect, {} not injected; median time to detection {} us",
            self.no_effect, self.not_injected, median
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
