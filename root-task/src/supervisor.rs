//! The supervisor: after the boot, the root task waits on its endpoint for
//! component faults (Call, badged with [`fault_badge`]: the component's
//! index + 1 with [`FAULT_BADGE`] set) and console text (Send, badged with
//! the index + 1 alone), and on its bound notification for the clock tick
//! and IOMMU fault reports. Only the kernel sends with a fault badge: it is
//! in each component's TCB, which the component cannot change (its TCB cap
//! has no Grant right), and badges can never be changed. So a component
//! that sends a fault-shaped message on its console is not believed. Each fault becomes one line naming
//! the component, what it did, where, and what happens next; then the
//! component's restart policy is applied.
//!
//! Time comes from the CMOS real-time clock's periodic interrupt (IOAPIC
//! line 8), at [`TICK_HZ`]; there is no kernel timer service.
//!
//! The supervisor never blocks on a component: it only receives, replies
//! (which never blocks), signals notifications, and writes the status page.

use core::fmt::Write;

use ward_sysspec::policy::{self, Decision, HoldReason};
use ward_userlib::cap::{IoPort, IoSpace, UserContext};
use ward_userlib::component::{console_label, unpack_text, CONSOLE_CHUNK_BYTES};
use ward_userlib::fault::Fault;
use ward_userlib::hardware::{Polarity, Trigger};
use ward_userlib::ipc_buffer::IpcBuffer;
use ward_userlib::message::{self, received_word};
use ward_userlib::{println, syscall, time, Cap, CapRights};

use crate::inject::Detector;
use crate::resources::DEPTH;
use crate::system::{State, System, CPU_HISTORY, TICK_BIT};

/// RTC index and data ports; bit 7 of the index keeps NMIs off while we program it.
const RTC_INDEX: u16 = 0x70;
const RTC_DATA: u16 = 0x71;
const NMI_DISABLE: u8 = 0x80;
/// The RTC's line on the IOAPIC (ISA IRQ 8, identity-mapped on q35).
const RTC_LINE: u64 = 8;
/// RTC rate 10: 32768 Hz >> (10 - 1) = 64 interrupts a second, fine enough
/// for backoffs and heartbeats of tens of milliseconds, cheap under TCG.
const RTC_RATE: u8 = 10;
pub const TICK_HZ: u64 = 64;
/// Microseconds per tick.
pub const TICK_US: u64 = 1_000_000 / TICK_HZ;
/// A capability fault is denied by resuming the thread after its syscall
/// with this error code (FailedLookup) in rax, as if it had no fault handler.
const DENIED_ERROR: u64 = ward_userlib::abi::Error::FailedLookup as u64;
/// Bytes of the `syscall` instruction, skipped when a cap fault is denied.
const SYSCALL_INSTRUCTION_BYTES: u64 = 2;

/// The badge bit of the fault endpoints on the supervisor's endpoint: no
/// console badge (a component's index + 1) ever has it.
pub const FAULT_BADGE: u64 = 1 << 63;

/// The badge of component `index`'s fault endpoint on the supervisor's endpoint.
pub const fn fault_badge(index: usize) -> u64 {
    FAULT_BADGE | (index as u64 + 1)
}

/// One report line, gathered before it is printed so that it reaches the
/// console in one piece.
struct Line {
    bytes: [u8; 320],
    used: usize,
}

impl Line {
    const fn new() -> Line {
        Line {
            bytes: [0; 320],
            used: 0,
        }
    }
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.used]).unwrap_or("(report cut)")
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &byte in s.as_bytes() {
            if self.used < self.bytes.len() {
                // A report is one line: newlines inside it become spaces.
                self.bytes[self.used] = if byte == b'\n' { b' ' } else { byte };
                self.used += 1;
            }
        }
        Ok(())
    }
}

/// The clock: RTC ports and its IRQ handler.
pub struct Clock {
    ports: IoPort,
    handler: u64,
}

impl Clock {
    fn read(&self, register: u8) -> u8 {
        let _ = self.ports.io_port_out8(RTC_INDEX, NMI_DISABLE | register);
        self.ports.io_port_in8(RTC_DATA).unwrap_or(0)
    }

    fn write(&self, register: u8, value: u8) {
        let _ = self.ports.io_port_out8(RTC_INDEX, NMI_DISABLE | register);
        let _ = self.ports.io_port_out8(RTC_DATA, value);
    }

    /// Starts the periodic interrupt, signalling the supervisor's notification.
    pub fn start(system: &mut System) -> Option<Clock> {
        let root = system.res.caps.cnode;
        let ports_slot = system.res.slot();
        system
            .res
            .caps
            .io_port_control
            .io_port_control_issue(RTC_INDEX, RTC_DATA, root, ports_slot, DEPTH)
            .ok()?;
        let handler = system.res.slot();
        let badged = system.res.slot();
        system
            .res
            .caps
            .irq_control
            .irq_control_get(
                RTC_LINE,
                Trigger::Edge,
                Polarity::ActiveHigh,
                root,
                handler,
                DEPTH,
            )
            .ok()?;
        root.cnode_mint(
            badged,
            DEPTH,
            root,
            system.supervisor_ntfn,
            DEPTH,
            CapRights::WRITE,
            TICK_BIT,
        )
        .ok()?;
        System::irq_handler(handler)
            .irq_handler_set_notification(System::notification(badged))
            .ok()?;
        let clock = Clock {
            ports: Cap::from_cptr(ports_slot),
            handler,
        };
        let register_a = clock.read(0x0A);
        clock.write(0x0A, (register_a & 0xF0) | RTC_RATE);
        let register_b = clock.read(0x0B);
        clock.write(0x0B, register_b | 0x40);
        let _ = clock.read(0x0C);
        System::irq_handler(handler).irq_handler_ack().ok()?;
        Some(clock)
    }

    /// One tick was delivered: let the RTC raise the next one and unmask.
    fn acknowledge(&self) {
        let _ = self.read(0x0C);
        let _ = System::irq_handler(self.handler).irq_handler_ack();
    }
}

/// What ends the supervision loop (for test runs).
pub struct Limits {
    /// Stop after this many ticks (0: never).
    pub exit_after_ticks: u64,
}

/// What a fault report says will happen.
enum Outcome {
    Restarting {
        count: u32,
        max: u32,
        backoff_ms: u64,
    },
    Held {
        why: &'static str,
    },
}

/// Decides the component's fate after a fault (`ward_sysspec::policy`) and
/// prepares it: held components are suspended, restarting ones torn down.
/// `report` is the supervisor's line about the fault so far ("name: what; "),
/// kept on the status page as the component's last fault.
fn apply_policy(system: &mut System, index: usize, detector: Detector, report: &Line) -> Outcome {
    if let Some(mut injector) = system.injector.take() {
        injector.detected(index, detector, system);
        system.injector = Some(injector);
    }
    let what = report.as_str();
    let what = what
        .strip_prefix(system.name(index))
        .and_then(|w| w.strip_prefix(": "))
        .unwrap_or(what)
        .trim_end_matches("; ");
    system
        .status
        .write_fault(index, detector.status_code(), time::read_tsc(), what);
    let component = system.spec.components[index];
    let now = system.tick;
    let ran_us = now.saturating_sub(system.instances[index].started_tick) * TICK_US;
    let decision = policy::decide(&component, system.instances[index].restarts, ran_us);
    let outcome = match decision {
        Decision::Hold(reason) => {
            system.instances[index].state = State::Held;
            match reason {
                HoldReason::Policy => {
                    // Suspending also drops the reply capability of a pending fault.
                    let _ = system.instances[index].tcb.tcb_suspend();
                    Outcome::Held { why: "policy hold" }
                }
                HoldReason::OutOfRestarts => {
                    system.tear_down(index);
                    Outcome::Held {
                        why: "out of restarts",
                    }
                }
            }
        }
        Decision::Restart {
            attempt,
            max,
            backoff_us,
        } => {
            let instance = &mut system.instances[index];
            instance.restarts = attempt;
            instance.state = State::Restarting;
            instance.restart_due_tsc =
                time::read_tsc() + backoff_us.saturating_mul(system.tsc_hz) / 1_000_000;
            system.tear_down(index);
            Outcome::Restarting {
                count: attempt,
                max,
                backoff_ms: backoff_us / 1000,
            }
        }
    };
    system.update_status(index);
    outcome
}

/// Finishes `line` with what happens next and prints it.
fn print_outcome(mut line: Line, outcome: &Outcome, max: u32) {
    let _ = match outcome {
        Outcome::Restarting {
            count,
            max,
            backoff_ms,
        } => write!(line, "restarting ({count}/{max}) in {backoff_ms} ms"),
        Outcome::Held { why } if *why == "out of restarts" => {
            write!(line, "holding it ({why}: {max} used)")
        }
        Outcome::Held { why } => write!(line, "holding it ({why})"),
    };
    println!("{}", line.as_str());
}

/// Describes a page fault: what kind of access, at what address.
fn describe_access(error_code: u64, fetch: bool) -> &'static str {
    if fetch {
        "executed"
    } else if error_code & 2 != 0 {
        "wrote"
    } else {
        "read"
    }
}

/// Handles one fault message from component `index`.
fn handle_fault(system: &mut System, index: usize, fault: Fault) {
    let name = system.name(index);
    let max = system.spec.components[index].max_restarts.get();
    let instance = &system.instances[index];
    if let Fault::CapFault {
        rip,
        cptr,
        in_receive_phase,
        failure,
    } = fault
    {
        // Denied, not fatal: the thread gets an error as if it had no fault
        // handler, and goes on.
        println!(
            "{name}: used capability slot {cptr} which it was not given (rip {rip:#x}); denied, it continues"
        );
        let tcb = instance.tcb;
        if let Ok(mut context) = tcb.tcb_read_registers(false, UserContext::WORDS as u64) {
            context.rip = rip + SYSCALL_INSTRUCTION_BYTES;
            context.rax = DENIED_ERROR;
            // The error details an unhandled lookup failure would carry.
            let [kind, a, b] = failure.map(|f| f.to_words()).unwrap_or([0; 3]);
            (context.rdx, context.r10, context.r8, context.r9) =
                (u64::from(in_receive_phase), kind, a, b);
            let _ = tcb.tcb_write_registers(false, UserContext::WORDS as u64, &context);
        }
        let _ = syscall::reply(message::info(0, 0), [0; 4]);
        return;
    }
    let panic_text = core::str::from_utf8(&instance.panic_text[..instance.panic_len]).unwrap_or("");
    let mut line = Line::new();
    let _ = match fault {
        Fault::VmFault {
            rip,
            address,
            instruction_fetch,
            error_code,
        } => {
            let protection = if error_code & 1 != 0 {
                " (not allowed there)"
            } else {
                " (nothing mapped there)"
            };
            write!(
                line,
                "{name}: page fault: {} {address:#x}{protection} at rip {rip:#x}; ",
                describe_access(error_code, instruction_fetch)
            )
        }
        Fault::UserException { rip, .. } if instance.panic_len > 0 => {
            write!(line, "{name}: panicked: {panic_text} (rip {rip:#x}); ")
        }
        Fault::UserException {
            rip, number, code, ..
        } => {
            let what = match number {
                0 => "divide error",
                6 => "invalid instruction",
                13 => "general protection fault (a privileged instruction or IO port)",
                _ => "CPU exception",
            };
            write!(
                line,
                "{name}: {what} (vector {number}, code {code:#x}) at rip {rip:#x}; "
            )
        }
        Fault::UnknownSyscall { rip, number, .. } => write!(
            line,
            "{name}: unknown system call {number:#x} at rip {rip:#x}; "
        ),
        other => write!(line, "{name}: {other}; "),
    };
    let detector = match fault {
        Fault::VmFault { .. } => Detector::Mmu,
        Fault::UserException { .. } if instance.panic_len > 0 => Detector::Panic,
        Fault::UserException { .. } => Detector::Cpu,
        _ => Detector::Kernel,
    };
    // No reply: the thread stays blocked on its fault until the policy
    // suspends it (tear-down or hold), which also drops the reply capability.
    let outcome = apply_policy(system, index, detector, &line);
    print_outcome(line, &outcome, max);
}

/// Reads and reports every DMA fault of the devices whose bits are set.
fn handle_dma_faults(system: &mut System, bits: u64) {
    for device in 0..system.devices.len() {
        if bits & (1 << device) == 0 {
            continue;
        }
        let Some(space_slot) = system.devices[device].iospace else {
            continue;
        };
        let space: IoSpace = Cap::from_cptr(space_slot);
        let device_name = system.spec.str(system.spec.devices[device].name);
        let driver = system.spec.devices[device].driver();
        let mut reported = false;
        while let Ok(Some(fault)) = space.io_space_read_fault() {
            let who = driver.map(|d| system.name(d)).unwrap_or(device_name);
            let mut line = Line::new();
            let _ = write!(
                line,
                "{who}: DMA {} {:#x} by device {device_name} blocked by IOMMU (not in its window, VT-d reason {:#x}); ",
                if fault.is_write { "write to" } else { "read from" },
                fault.address,
                fault.reason
            );
            if reported {
                println!("{}already handled", line.as_str());
                continue;
            }
            reported = true;
            match driver {
                Some(d) if system.instances[d].state == State::Running => {
                    let max = system.spec.components[d].max_restarts.get();
                    system.instances[d].dma_faults += 1;
                    let outcome = apply_policy(system, d, Detector::Iommu, &line);
                    print_outcome(line, &outcome, max);
                }
                _ => println!("{}its driver is not running", line.as_str()),
            }
        }
    }
}

/// One console message from component `index`.
fn handle_console(system: &mut System, index: usize, label: u64, length: usize, mrs: &[u64; 4]) {
    let buffer = IpcBuffer::current();
    let mut text = [0u8; CONSOLE_CHUNK_BYTES];
    let used = unpack_text(|i| received_word(&buffer, mrs, i), length, &mut text);
    let text = &text[..used];
    if label == console_label::PANIC {
        let instance = &mut system.instances[index];
        let keep = used.min(instance.panic_text.len());
        instance.panic_text[..keep].copy_from_slice(&text[..keep]);
        instance.panic_len = keep;
        return;
    }
    let text = core::str::from_utf8(text).unwrap_or("(not UTF-8)");
    let name = system.name(index);
    for line in text.split_terminator('\n') {
        println!("[{name}] {line}");
    }
}

/// A driver that kept at least this share of the CPU (in percent) over
/// half its heartbeat period, while the components below it that keep a
/// heartbeat did not run at all, is livelocked or in an interrupt storm: a
/// driver is driven by its device's interrupts and its peers' doorbells,
/// and a correct one, however busy (a flood), yields for its peers to run. Half a period, so
/// that a high-priority hog is caught before the lower components it
/// starves miss their own heartbeats. Servers and applications may compute
/// for long (keeping their heartbeat by hand): the watchdog leaves them
/// alone, and a hog among them is found when it starves another
/// ([`starved_by`]).
const CPU_WATCHDOG_PERCENT: u64 = 95;

/// A driver whose devices raised more interrupts than this a second, over
/// half its heartbeat period, is in an interrupt storm (it acknowledges
/// without clearing the cause, or turned its device's moderation off). A
/// correct e1000 driver's NIC cannot raise that many: it moderates to one
/// interrupt per 200 µs by default, and QEMU's model never raises more than
/// one per 128 µs (7,813 a second); a storm under TCG reaches about 30,000,
/// and the campaign's traffic about 1,200. The watchdog watches drivers with a
/// heartbeat. A storm is caught by its rate because on a core of its own it
/// starves nobody, and the time the kernel spends taking the interrupts is
/// not the driver's CPU time.
const STORM_INTERRUPTS_PER_SECOND: u64 = 10_000;

/// The driver watchdog of component `index`, over half a heartbeat period:
/// `true` if it kept the CPU to itself while starving the components below
/// it, or took interrupts at a storm's rate (reported and handled here).
fn driver_watchdog(system: &mut System, index: usize, period_ticks: u64) -> bool {
    let period_ticks = period_ticks / 2;
    let now = system.tick;
    let window = now.saturating_sub(system.instances[index].watch_tick);
    if window < period_ticks.max(1) {
        return false;
    }
    let cpu = system.instances[index].tcb.tcb_get_cpu_time().unwrap_or(0);
    let interrupts = system.interrupts_of(index);
    let instance = &mut system.instances[index];
    let used = cpu.saturating_sub(instance.watch_cpu);
    let taken = interrupts.saturating_sub(instance.watch_interrupts);
    instance.watch_tick = now;
    instance.watch_cpu = cpu;
    instance.watch_interrupts = interrupts;
    let window_us = (window * TICK_US).max(1);
    let available = window * TICK_US * (system.tsc_hz / 1_000_000).max(1);
    let percent = used * 100 / available.max(1);
    let rate = taken * 1_000_000 / window_us;
    let name = system.name(index);
    let mut line = Line::new();
    let detector = if rate >= STORM_INTERRUPTS_PER_SECOND {
        let _ = write!(
            line,
            "{name}: took {taken} interrupts in {} ms ({rate} a second): an interrupt storm; ",
            window_us / 1000
        );
        Detector::IrqWatchdog
    } else if percent >= CPU_WATCHDOG_PERCENT && starves_another(system, index, window) {
        let _ = write!(
            line,
            "{name}: kept {percent}% of the CPU for {} ms (livelock or interrupt storm); ",
            window_us / 1000
        );
        Detector::Watchdog
    } else {
        return false;
    };
    let max = system.spec.components[index].max_restarts.get();
    let outcome = apply_policy(system, index, detector, &line);
    print_outcome(line, &outcome, max);
    forgive_victims(system, index);
    true
}

/// Whether every running component below `index` that keeps a heartbeat
/// (and there is one) used under [`NOT_RUNNING_PERCENT`] of the CPU over
/// the last `ticks` ticks: a driver busy with a flood still lets the stack
/// run; a livelocked one or one in an interrupt storm does not.
fn starves_another(system: &System, index: usize, ticks: u64) -> bool {
    let ticks = ticks.min(CPU_HISTORY as u64 - 1).min(system.tick);
    let priority = system.spec.components[index].priority;
    let mut below = (0..system.instances.len())
        .filter(|&j| {
            system.spec.components[j].priority < priority
                && system.spec.components[j].heartbeat_us.get() > 0
                && system.instances[j].state == State::Running
        })
        .peekable();
    below.peek().is_some() && below.all(|j| cpu_share(system, j, ticks) < NOT_RUNNING_PERCENT)
}

/// After a hog (or a hung component, which may have spun) at `hog`'s
/// priority was stopped: every running component below it may have missed
/// its heartbeat because of it, so each gets a whole period from now (a
/// second hog right after the first must not make the stack look hung). A
/// component below that is hung itself is found one period later.
fn forgive_victims(system: &mut System, hog: usize) {
    let priority = system.spec.components[hog].priority;
    let now = system.tick;
    for index in 0..system.instances.len() {
        if system.spec.components[index].priority < priority
            && system.instances[index].state == State::Running
        {
            system.instances[index].last_beat_tick = now;
        }
    }
}

/// A component at a higher priority that kept at least this share of the
/// CPU (percent) while a lower one missed its heartbeat without running
/// starved it. A fifth: the CPU time of interrupt handling is the
/// kernel's, not the hog's, so a driver in an interrupt storm shows less
/// than it costs.
const STARVATION_PERCENT: u64 = 20;
/// A component that used less than this share of the CPU (percent) over
/// its silence did not run: a hung one spins and uses it all.
const NOT_RUNNING_PERCENT: u64 = 1;

/// CPU share (percent) of component `h` over the last `ticks` ticks.
fn cpu_share(system: &System, h: usize, ticks: u64) -> u64 {
    let now = system.tick;
    let available = (ticks * TICK_US * (system.tsc_hz / 1_000_000).max(1)).max(1);
    let history = &system.instances[h].cpu_history;
    let used = history[now as usize % CPU_HISTORY]
        .saturating_sub(history[(now - ticks) as usize % CPU_HISTORY]);
    used * 100 / available
}

/// The last stretch of a silence that starvation is judged on: a quarter
/// of a second. Not the whole silence: a component that ran normally
/// before a hog took the CPU used its share then.
const STARVATION_WINDOW_TICKS: u64 = 16;

/// If component `index`, silent for `ticks` ticks, did not run at all over
/// the last [`STARVATION_WINDOW_TICKS`] of them: the running component of
/// higher priority that used the largest share of the CPU meanwhile, if
/// that share is at least [`STARVATION_PERCENT`].
fn starved_by(system: &System, index: usize, ticks: u64) -> Option<(usize, u64)> {
    let ticks = ticks
        .min(STARVATION_WINDOW_TICKS)
        .min(CPU_HISTORY as u64 - 1)
        .min(system.tick);
    if cpu_share(system, index, ticks) >= NOT_RUNNING_PERCENT {
        return None;
    }
    let priority = system.spec.components[index].priority;
    (0..system.instances.len())
        .filter(|&h| h != index && system.instances[h].state == State::Running)
        .filter(|&h| system.spec.components[h].priority > priority)
        .map(|h| (h, cpu_share(system, h, ticks)))
        .filter(|&(_, percent)| percent >= STARVATION_PERCENT)
        .max_by_key(|&(_, percent)| percent)
}

/// Reports and handles `hog`, which starved `victim` for `ticks` ticks
/// with `percent` of the CPU.
fn report_hog(system: &mut System, (hog, percent): (usize, u64), victim: usize, ticks: u64) {
    let mut line = Line::new();
    let _ = write!(
        line,
        "{}: kept {} from running for {} ms ({percent}% of the CPU; {} used none: starved, not hung); ",
        system.name(hog),
        system.name(victim),
        ticks * TICK_US / 1000,
        system.name(victim)
    );
    let max = system.spec.components[hog].max_restarts.get();
    let outcome = apply_policy(system, hog, Detector::Watchdog, &line);
    print_outcome(line, &outcome, max);
    forgive_victims(system, hog);
}

/// Restarts component `index` at once without counting it
/// against its policy: the fault campaign clears a persistent fault that
/// nobody detected, so that faults do not pile up.
pub fn restart_now(system: &mut System, index: usize) {
    if system.instances[index].state != State::Running {
        return;
    }
    println!(
        "{}: restarted by the fault campaign (a persistent fault nobody detected)",
        system.name(index)
    );
    system.tear_down(index);
    system.instances[index].state = State::Restarting;
    system.instances[index].restart_due_tsc = time::read_tsc();
    system.update_status(index);
}

/// A component asks for the restart of a peer (`console_label::
/// RESTART_PEER_*`, the peer's name as text). Obeyed only if the system
/// description lets it (`may_restart`); reported either way.
fn handle_restart_request(
    system: &mut System,
    index: usize,
    label: u64,
    length: usize,
    mrs: &[u64; 4],
) {
    let buffer = IpcBuffer::current();
    let mut text = [0u8; CONSOLE_CHUNK_BYTES];
    let used = unpack_text(|i| received_word(&buffer, mrs, i), length, &mut text);
    let asker = system.name(index);
    let peer = core::str::from_utf8(&text[..used]).unwrap_or("");
    let Some(target) = (0..system.instances.len()).find(|&i| system.name(i) == peer) else {
        println!("{asker}: asked for the restart of `{peer}`, which is no component; ignored");
        return;
    };
    let allowed = system.spec.components[index].may_restart.get();
    if target >= 32 || allowed & (1 << target) == 0 {
        println!(
            "{asker}: asked for the restart of {peer}, which system.toml does not let it ask for (may_restart); ignored"
        );
        return;
    }
    if system.instances[target].state != State::Running {
        return; // already being restarted, or held
    }
    let (detector, why) = if label == console_label::RESTART_PEER_RING {
        (Detector::PeerRing, "it broke the ring protocol")
    } else {
        (Detector::PeerProgress, "it stopped making progress")
    };
    let mut line = Line::new();
    let _ = write!(line, "{peer}: {asker} asks for its restart ({why}); ");
    let max = system.spec.components[target].max_restarts.get();
    let outcome = apply_policy(system, target, detector, &line);
    print_outcome(line, &outcome, max);
}

/// One clock tick: heartbeats, due restarts.
fn handle_tick(system: &mut System) {
    system.tick += 1;
    let now = system.tick;
    for index in 0..system.instances.len() {
        let cpu = system.update_usage(index);
        system.instances[index].cpu_history[now as usize % CPU_HISTORY] = cpu;
    }
    for index in 0..system.instances.len() {
        let component = system.spec.components[index];
        match system.instances[index].state {
            State::Running => {
                let Some(heartbeat) = system.instances[index].heartbeat else {
                    continue;
                };
                let period_ticks = component.heartbeat_us.get().div_ceil(TICK_US);
                let driver = component.kind() == ward_sysspec::ComponentKind::Driver;
                if driver && driver_watchdog(system, index, period_ticks) {
                    continue;
                }
                if System::notification(heartbeat).poll().unwrap_or(0) != 0 {
                    system.instances[index].last_beat_tick = now;
                    continue;
                }
                let silent = now - system.instances[index].last_beat_tick;
                if silent > period_ticks {
                    if let Some(hog) = starved_by(system, index, silent) {
                        // Not hung: kept from running. The hog is the fault.
                        system.instances[index].last_beat_tick = now;
                        report_hog(system, hog, index, silent);
                        continue;
                    }
                    let name = system.name(index);
                    let mut line = Line::new();
                    let _ = write!(
                        line,
                        "{name}: no heartbeat for {} ms (period {} ms): hung; ",
                        silent * TICK_US / 1000,
                        component.heartbeat_us.get() / 1000
                    );
                    let max = component.max_restarts.get();
                    let outcome = apply_policy(system, index, Detector::Heartbeat, &line);
                    print_outcome(line, &outcome, max);
                    // A hung component may have spun: those below it were
                    // kept from running meanwhile.
                    forgive_victims(system, index);
                }
            }
            _ => {}
        }
    }
    restart_those_due(system);
}

/// Starts again every restarting component whose backoff has passed.
fn restart_those_due(system: &mut System) {
    let now = time::read_tsc();
    for index in 0..system.instances.len() {
        if system.instances[index].state == State::Restarting
            && now >= system.instances[index].restart_due_tsc
        {
            restart(system, index);
        }
    }
}

/// The earliest time a restarting component is due (TSC), if one is.
fn next_restart(system: &System) -> Option<u64> {
    system
        .instances
        .iter()
        .filter(|instance| instance.state == State::Restarting)
        .map(|instance| instance.restart_due_tsc)
        .min()
}

/// Rebuilds component `index` and tells its peers.
fn restart(system: &mut System, index: usize) {
    let name = system.name(index);
    match system.build(index) {
        Ok(()) => {
            let instance = &system.instances[index];
            let built_us = instance.build_cycles * 1_000_000 / system.tsc_hz.max(1);
            println!(
                "{name}: restarted, generation {} (built in {built_us} us)",
                instance.generation
            );
            // Peers that share a ring or notification channel with it get the
            // channel's bit on their notification; they read the new
            // generation from the status page and resynchronise.
            for cap in system.spec.caps_of(index) {
                if cap.kind() == ward_sysspec::CapKind::Notification
                    && cap.target.get() != ward_sysspec::NONE
                    && cap.arg.get() != ward_sysspec::NONE
                {
                    let peer = cap.arg.get() as usize;
                    if peer != index && system.instances[peer].state == State::Running {
                        println!(
                            "{name}: telling {} (generation change, bit {:#x})",
                            system.name(peer),
                            cap.badge.get()
                        );
                        system.signal_component(peer, cap.badge.get());
                    }
                }
            }
        }
        Err(e) => {
            println!("{name}: restart failed: {e}; holding it");
            system.instances[index].state = State::Held;
            system.update_status(index);
        }
    }
}

/// Runs the supervisor until the limits say stop (never, normally).
pub fn run(system: &mut System, clock: Option<&Clock>, limits: Limits) {
    let endpoint = system.supervisor_ep;
    loop {
        // A backoff ends on time, not at the next 15.6 ms tick: a restart
        // due sooner bounds the wait.
        let waited = match next_restart(system) {
            Some(due) => syscall::recv_until(endpoint, due),
            None => syscall::recv(endpoint),
        };
        let received = match waited {
            Ok(received) => received,
            Err(e) if e.error == ward_userlib::Error::TimedOut => {
                restart_those_due(system);
                continue;
            }
            Err(e) => {
                println!("ward: supervisor: receive failed: {e}");
                continue;
            }
        };
        let label = received.info.label();
        let length = received.info.length() as usize;
        if label == 0 && length == 0 {
            // The bound notification: tick and DMA-fault bits.
            let bits = received.badge;
            if bits & !TICK_BIT != 0 {
                handle_dma_faults(system, bits & !TICK_BIT);
            }
            if bits & TICK_BIT != 0 {
                if let Some(clock) = clock {
                    clock.acknowledge();
                }
                handle_tick(system);
                if let Some(mut injector) = system.injector.take() {
                    injector.tick(system);
                    if injector.finished() && injector.summarise() {
                        syscall::debug_exit(0);
                    }
                    system.injector = Some(injector);
                }
                if limits.exit_after_ticks != 0 && system.tick >= limits.exit_after_ticks {
                    crate::report::print_summary(system);
                    return;
                }
            }
            continue;
        }
        let is_fault = received.badge & FAULT_BADGE != 0;
        let Some(index) = ((received.badge & !FAULT_BADGE) as usize)
            .checked_sub(1)
            .filter(|&i| i < system.instances.len())
        else {
            println!(
                "ward: supervisor: message with unknown badge {:#x}, label {label:#x}; ignored",
                received.badge
            );
            continue;
        };
        if is_fault {
            let fault = Fault::decode(&received, &IpcBuffer::current());
            handle_fault(system, index, fault);
        } else if label == console_label::LOG || label == console_label::PANIC {
            handle_console(system, index, label, length, &received.mrs);
        } else if label == console_label::RESTART_PEER_RING
            || label == console_label::RESTART_PEER_PROGRESS
        {
            handle_restart_request(system, index, label, length, &received.mrs);
        } else {
            // Not text, and not from the kernel: a console message that
            // looks like something else (a fault, say) changes nothing.
            println!(
                "{}: sent label {label:#x} on its console channel, which carries only text; ignored",
                system.name(index)
            );
        }
    }
}
