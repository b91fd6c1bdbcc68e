//! The runtime of a component: a program the root task builds from the
//! system description and supervises.
//!
//! A component needs nothing but its caps table and an entry function:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! mod caps { include!(concat!(env!("OUT_DIR"), "/caps.rs")); }
//! ward_userlib::component!(main, caps);
//! fn main(generation: u64) { ward_userlib::println!("hello"); }
//! ```
//!
//! [`component!`](crate::component) stamps the program with its caps table's
//! layout hash (the root task refuses a program built against another
//! system description) and sets up the runtime before `main` runs:
//!
//! - the IPC buffer is the one the root task mapped at [`IPC_BUFFER_VADDR`];
//! - `print!`/`println!` go to the supervisor's console over the component's
//!   `CONSOLE` endpoint (slot 4), not to the kernel's debug print; the
//!   supervisor prefixes each line with the component's name;
//! - a panic sends its message to the supervisor ([`console_label::PANIC`])
//!   and then stops the thread with an invalid instruction, so that the
//!   supervisor sees a fault and applies the component's restart policy;
//! - the clock ([`crate::time`]) is calibrated from the status page;
//! - a component with a `heartbeat` in the system description keeps it
//!   alive from every wait ([`wait_until`], [`wait`], [`sleep`],
//!   [`receive_until`]): a wait wakes for the heartbeat at half its period,
//!   signals, and waits again. An idle component is therefore never taken
//!   for hung; one that stops waiting (an endless loop) stops signalling and
//!   is restarted.
//!
//! The root task also maps a read-only [status page](StatusPage) into every
//! component: the TSC rate, and each component's generation, state, CPU time
//! and restarts, so that a peer can see that the other end of a ring was
//! restarted and resynchronise.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::cap::cap_type::Endpoint;
use crate::cap::Cap;
use crate::message;
use crate::syscall::{self, Received};
use crate::time::{self, Duration, Instant};
use crate::Error;

/// Where the root task maps a component's IPC buffer (one page).
pub const IPC_BUFFER_VADDR: u64 = ward_sysspec::COMPONENT_IPC_BUFFER;

/// Where the root task maps the read-only status page.
pub const STATUS_PAGE_VADDR: u64 = ward_sysspec::COMPONENT_STATUS_PAGE;

/// Fixed slots of every component's CSpace (`ward_sysspec::SLOT_*`); kept
/// here so that the runtime needs no generated table.
pub mod slot {
    /// The component's own thread.
    pub const TCB: u64 = ward_sysspec::SLOT_TCB as u64;
    /// Its CSpace root.
    pub const CNODE: u64 = ward_sysspec::SLOT_CNODE as u64;
    /// Its VSpace.
    pub const VSPACE: u64 = ward_sysspec::SLOT_VSPACE as u64;
    /// Send-only endpoint to the supervisor's console.
    pub const CONSOLE: u64 = ward_sysspec::SLOT_CONSOLE as u64;
    /// The component's own notification, bound to its thread.
    pub const NOTIFICATION: u64 = ward_sysspec::SLOT_NOTIFICATION as u64;
    /// Signal-only notification to the supervisor, present with a heartbeat.
    pub const HEARTBEAT: u64 = ward_sysspec::SLOT_HEARTBEAT as u64;
}

/// Labels of the messages a component sends on its console endpoint. They
/// lie far above the kernel's fault labels (1..=5), which arrive on the same
/// supervisor endpoint.
pub mod console_label {
    /// A piece of log text: word 0 is the byte count, then the bytes packed
    /// little-endian, eight per word.
    pub const LOG: u64 = 0x100;
    /// The text of a panic message, in the same encoding; the component
    /// faults right after sending it.
    pub const PANIC: u64 = 0x101;
    /// A request to restart a peer whose ring validation failed (the peer
    /// broke the ring protocol): the text is the peer's component name. The
    /// supervisor obeys only if the system description lets the sender
    /// restart that peer (`may_restart`), and reports it either way.
    pub const RESTART_PEER_RING: u64 = 0x102;
    /// The same, for a peer that stopped making progress (it keeps
    /// buffers it should return).
    pub const RESTART_PEER_PROGRESS: u64 = 0x103;
}

/// Asks the supervisor to restart `peer` (a component name from the caps
/// table), because of `label` ([`console_label::RESTART_PEER_RING`] or
/// [`console_label::RESTART_PEER_PROGRESS`]). Never blocks on the peer; the
/// supervisor obeys only what the system description allows this
/// component (`may_restart` in system.toml).
pub fn request_restart(peer: &str, label: u64) {
    send_console(label, peer.as_bytes());
}

/// Most bytes of text one console message carries (the rest of a longer
/// text follows in further messages): 30 words of text and the byte count
/// fit in the IPC buffer's 120 message registers with a wide margin.
pub const CONSOLE_CHUNK_BYTES: usize = 240;

static IS_COMPONENT: AtomicBool = AtomicBool::new(false);

/// Whether this program runs as a component (set by [`component!`](crate::component)).
pub fn is_component() -> bool {
    IS_COMPONENT.load(Ordering::Relaxed)
}

/// The heartbeat period in TSC ticks (0: the component has none).
static HEARTBEAT_TICKS: AtomicU64 = AtomicU64::new(0);
/// When the next heartbeat is due (TSC).
static NEXT_HEARTBEAT: AtomicU64 = AtomicU64::new(0);

/// Called by [`component!`](crate::component) before the entry function,
/// with the caps table's heartbeat period.
pub fn init(heartbeat: Option<Duration>) {
    crate::ipc_buffer::set_default_ipc_buffer(IPC_BUFFER_VADDR);
    IS_COMPONENT.store(true, Ordering::Relaxed);
    time::set_tsc_hz(StatusPage::mapped().tsc_hz());
    if let Some(period) = heartbeat {
        // Signal at half the period: the supervisor checks once per period,
        // so one late wake-up never makes a live component look hung.
        let ticks = time::duration_to_ticks(period / 2, time::tsc_hz()).max(1);
        HEARTBEAT_TICKS.store(ticks, Ordering::Relaxed);
        heartbeat_now();
    }
}

/// Packs `text` into console message words: byte count, then the bytes.
/// Returns the number of words used.
pub fn pack_text(text: &[u8], words: &mut [u64; 1 + CONSOLE_CHUNK_BYTES / 8]) -> usize {
    let length = text.len().min(CONSOLE_CHUNK_BYTES);
    words[0] = length as u64;
    for (index, chunk) in text[..length].chunks(8).enumerate() {
        let mut bytes = [0u8; 8];
        bytes[..chunk.len()].copy_from_slice(chunk);
        words[1 + index] = u64::from_le_bytes(bytes);
    }
    1 + length.div_ceil(8)
}

/// Unpacks console message words into `out`; returns the text's length.
pub fn unpack_text(
    words: impl Fn(usize) -> u64,
    length_words: usize,
    out: &mut [u8; CONSOLE_CHUNK_BYTES],
) -> usize {
    if length_words == 0 {
        return 0;
    }
    let length = (words(0) as usize)
        .min(CONSOLE_CHUNK_BYTES)
        .min((length_words - 1) * 8);
    for index in 0..length.div_ceil(8) {
        let bytes = words(1 + index).to_le_bytes();
        let end = (index * 8 + 8).min(length);
        out[index * 8..end].copy_from_slice(&bytes[..end - index * 8]);
    }
    length
}

/// Sends `text` to the supervisor's console with `label`, in chunks.
pub fn send_console(label: u64, text: &[u8]) {
    let buffer = crate::ipc_buffer::IpcBuffer::current();
    for piece in text.chunks(CONSOLE_CHUNK_BYTES) {
        let mut words = [0u64; 1 + CONSOLE_CHUNK_BYTES / 8];
        let used = pack_text(piece, &mut words);
        if let Ok((info, mrs)) = message::prepare(&buffer, label, &words[..used], &[]) {
            let _ = syscall::send(slot::CONSOLE, info, mrs);
        }
    }
}

/// Signals the supervisor that this component is alive. The runtime does
/// this from every wait; call it yourself only in a long computation that
/// does not wait.
pub fn heartbeat() {
    if HEARTBEAT_TICKS.load(Ordering::Relaxed) != 0 {
        heartbeat_now();
    }
}

fn heartbeat_now() {
    let _ = syscall::signal(slot::HEARTBEAT);
    let period = HEARTBEAT_TICKS.load(Ordering::Relaxed);
    NEXT_HEARTBEAT.store(time::read_tsc().saturating_add(period), Ordering::Relaxed);
}

/// Signals the heartbeat if it is due, and returns when the next one is.
fn heartbeat_if_due() -> Option<u64> {
    if HEARTBEAT_TICKS.load(Ordering::Relaxed) == 0 {
        return None;
    }
    if time::read_tsc() >= NEXT_HEARTBEAT.load(Ordering::Relaxed) {
        heartbeat_now();
    }
    Some(NEXT_HEARTBEAT.load(Ordering::Relaxed))
}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wakeup {
    /// These bits of the component's notification were signalled.
    Signalled(u64),
    /// The deadline passed first.
    TimedOut,
}

/// What a server's wait on an endpoint brought.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A message (a Call or Send) on the endpoint.
    Message(Received),
    /// Bits of the component's own (bound) notification.
    Signalled(u64),
    /// The deadline passed first.
    TimedOut,
}

/// Receives on `cptr` until `deadline`, waking for heartbeats on the way.
fn receive_on(cptr: u64, deadline: Option<Instant>) -> Result<Received, Error> {
    loop {
        let heartbeat = heartbeat_if_due();
        let wake = match (deadline.map(Instant::tsc), heartbeat) {
            (Some(d), Some(h)) => Some(d.min(h)),
            (d, h) => d.or(h),
        };
        let result = match wake {
            Some(at) => syscall::recv_until(cptr, at),
            None => syscall::recv(cptr),
        };
        match result {
            Err(e) if e.error == Error::TimedOut => {
                if deadline.is_some_and(|d| d.has_passed()) {
                    return Err(Error::TimedOut);
                }
            }
            Err(e) => return Err(e.error),
            Ok(received) => return Ok(received),
        }
    }
}

/// Waits on the component's own notification until a signal arrives or
/// `deadline` (if any) passes.
pub fn wait_until(deadline: Option<Instant>) -> Wakeup {
    match receive_on(slot::NOTIFICATION, deadline) {
        Ok(received) => Wakeup::Signalled(received.badge),
        Err(_) => Wakeup::TimedOut,
    }
}

/// Waits on the component's own notification; returns the bits signalled.
pub fn wait() -> u64 {
    match wait_until(None) {
        Wakeup::Signalled(bits) => bits,
        Wakeup::TimedOut => 0,
    }
}

/// Waits for `duration`, keeping the heartbeat; returns the bits signalled
/// meanwhile (they are not lost).
pub fn sleep(duration: Duration) -> u64 {
    let deadline = Instant::now() + duration;
    let mut bits = 0;
    while let Wakeup::Signalled(more) = wait_until(Some(deadline)) {
        bits |= more;
    }
    bits
}

/// An event loop's view of the component's notification: wait for signals
/// or a deadline, then take the bits one source at a time.
///
/// ```ignore
/// let mut events = Events::new();
/// loop {
///     events.wait_until(next_timer);
///     if events.take(caps::NIC_IRQ.bit) { /* the interrupt */ }
///     if events.take(caps::NET_RX.bit) { /* the ring's doorbell */ }
///     if events.timed_out() { /* the timer */ }
/// }
/// ```
///
/// Bits not taken stay pending for the next round, so no signal is lost
/// when a handler runs long or a source is handled later.
#[derive(Debug, Default)]
pub struct Events {
    pending: u64,
    timed_out: bool,
}

impl Events {
    /// No bits pending.
    pub const fn new() -> Events {
        Events {
            pending: 0,
            timed_out: false,
        }
    }

    /// Waits until a signal arrives or `deadline` passes; returns at once if
    /// bits are still pending from the last round (after adding whatever
    /// arrived meanwhile).
    pub fn wait_until(&mut self, deadline: Option<Instant>) {
        self.pending |= poll();
        self.timed_out = deadline.is_some_and(|d| d.has_passed());
        if self.pending != 0 || self.timed_out {
            return;
        }
        match wait_until(deadline) {
            Wakeup::Signalled(bits) => self.pending |= bits,
            Wakeup::TimedOut => self.timed_out = true,
        }
    }

    /// Whether any of `bits` was signalled; takes them.
    pub fn take(&mut self, bits: u64) -> bool {
        let hit = self.pending & bits != 0;
        self.pending &= !bits;
        hit
    }

    /// Whether the last wait ended at its deadline.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// Bits still pending (signalled but not taken).
    pub fn pending(&self) -> u64 {
        self.pending
    }
}

/// Takes the bits signalled so far without waiting.
pub fn poll() -> u64 {
    syscall::poll(slot::NOTIFICATION).unwrap_or(0)
}

/// For a server: waits for a message on `endpoint` or a signal on the
/// component's bound notification, until `deadline`. A message with label 0
/// and no words is how the kernel delivers the notification, so requests
/// on the endpoint must use non-zero labels (see docs/kernel.md).
pub fn receive_until(endpoint: Cap<Endpoint>, deadline: Option<Instant>) -> Incoming {
    match receive_on(endpoint.cptr(), deadline) {
        Ok(received) if received.info.label() == 0 && received.info.length() == 0 => {
            Incoming::Signalled(received.badge)
        }
        Ok(received) => Incoming::Message(received),
        Err(_) => Incoming::TimedOut,
    }
}

/// The status page's layout: a header and one entry per component.
pub mod status {
    /// "WARDSTAT".
    pub const MAGIC: u64 = u64::from_le_bytes(*b"WARDSTAT");
    /// Bumped whenever the layout changes.
    pub const VERSION: u64 = 3;
    /// Header words: magic, entry count, TSC ticks per second, version.
    pub const WORD_MAGIC: usize = 0;
    pub const WORD_COUNT: usize = 1;
    pub const WORD_TSC_HZ: usize = 2;
    pub const WORD_VERSION: usize = 3;
    /// Bytes of a component name kept in an entry (longer names are cut).
    pub const NAME_BYTES: usize = 32;
    /// Bytes of the last fault's description kept in an entry.
    pub const FAULT_TEXT_BYTES: usize = 64;
    /// Bytes per entry: generation (low 4 bytes of the first word) and state
    /// (high 4 bytes), name length, name, CPU time (TSC ticks, all
    /// generations), restarts, faults, the last fault's detector and time
    /// (TSC), DMA faults blocked, interrupts delivered, the last fault's
    /// description (length, text).
    pub const ENTRY_BYTES: usize = ENTRY_FAULT_TEXT * 8 + FAULT_TEXT_BYTES;
    /// Word offsets inside an entry.
    pub const ENTRY_STATE: usize = 0;
    pub const ENTRY_NAME_LENGTH: usize = 1;
    pub const ENTRY_NAME: usize = 2;
    pub const ENTRY_CPU_TICKS: usize = 2 + NAME_BYTES / 8;
    pub const ENTRY_RESTARTS: usize = ENTRY_CPU_TICKS + 1;
    pub const ENTRY_FAULTS: usize = ENTRY_RESTARTS + 1;
    pub const ENTRY_FAULT_DETECTOR: usize = ENTRY_FAULTS + 1;
    pub const ENTRY_FAULT_TSC: usize = ENTRY_FAULT_DETECTOR + 1;
    pub const ENTRY_DMA_FAULTS: usize = ENTRY_FAULT_TSC + 1;
    pub const ENTRY_INTERRUPTS: usize = ENTRY_DMA_FAULTS + 1;
    pub const ENTRY_FAULT_TEXT_LENGTH: usize = ENTRY_INTERRUPTS + 1;
    pub const ENTRY_FAULT_TEXT: usize = ENTRY_FAULT_TEXT_LENGTH + 1;

    /// Who detected a component's fault, as the status page records it (0:
    /// no fault yet).
    pub const DETECTOR_NONE: u64 = 0;
    pub const DETECTOR_MMU: u64 = 1;
    pub const DETECTOR_CPU: u64 = 2;
    pub const DETECTOR_PANIC: u64 = 3;
    pub const DETECTOR_KERNEL: u64 = 4;
    pub const DETECTOR_HEARTBEAT: u64 = 5;
    pub const DETECTOR_IOMMU: u64 = 6;
    /// The supervisor's CPU-share watchdog (a livelocked driver, or a
    /// higher-priority component that starved another).
    pub const DETECTOR_WATCHDOG: u64 = 7;
    /// A peer's ring validation (it asked the supervisor for the restart).
    pub const DETECTOR_PEER_RING: u64 = 8;
    /// A peer's progress check (it asked the supervisor for the restart).
    pub const DETECTOR_PEER_PROGRESS: u64 = 9;
    /// The supervisor's interrupt-rate watchdog (a driver in an interrupt
    /// storm, which on a core of its own starves nobody else).
    pub const DETECTOR_IRQ_WATCHDOG: u64 = 10;

    /// A detector's name, for people.
    pub fn detector_name(detector: u64) -> &'static str {
        match detector {
            DETECTOR_NONE => "none",
            DETECTOR_MMU => "mmu",
            DETECTOR_CPU => "cpu",
            DETECTOR_PANIC => "panic",
            DETECTOR_KERNEL => "kernel",
            DETECTOR_HEARTBEAT => "heartbeat",
            DETECTOR_IOMMU => "iommu",
            DETECTOR_WATCHDOG => "cpu-watchdog",
            DETECTOR_PEER_RING => "peer-ring-check",
            DETECTOR_PEER_PROGRESS => "peer-progress-check",
            DETECTOR_IRQ_WATCHDOG => "irq-watchdog",
            _ => "unknown",
        }
    }
    /// Offset of the first entry (after the header).
    pub const FIRST_ENTRY: usize = 32;
    /// Most entries a 4 KiB page holds.
    pub const MAX_ENTRIES: usize = (4096 - FIRST_ENTRY) / ENTRY_BYTES;

    /// Component states as the status page shows them.
    pub const STATE_RUNNING: u32 = 1;
    pub const STATE_RESTARTING: u32 = 2;
    pub const STATE_HELD: u32 = 3;
    pub const STATE_NOT_STARTED: u32 = 4;

    /// A state's name, for people.
    pub fn state_name(state: u32) -> &'static str {
        match state {
            STATE_RUNNING => "running",
            STATE_RESTARTING => "restarting",
            STATE_HELD => "held",
            STATE_NOT_STARTED => "not started",
            _ => "unknown",
        }
    }
}

/// One component's line on the status page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusEntry {
    name: [u8; status::NAME_BYTES],
    name_length: usize,
    /// 1 at first start, +1 per restart.
    pub generation: u32,
    /// `status::STATE_*`.
    pub state: u32,
    /// TSC ticks the component has run for, over all its generations.
    pub cpu_ticks: u64,
    /// Restarts so far.
    pub restarts: u64,
    /// Faults detected so far (every detector).
    pub faults: u64,
    /// Who detected the last fault (`status::DETECTOR_*`).
    pub last_fault_detector: u64,
    /// When (TSC) the last fault was detected.
    pub last_fault_tsc: u64,
    /// DMA of its devices the IOMMU blocked.
    pub dma_faults: u64,
    /// Interrupts of its devices the kernel delivered.
    pub interrupts: u64,
    fault_text: [u8; status::FAULT_TEXT_BYTES],
    fault_text_length: usize,
}

impl StatusEntry {
    /// The component's name ("?" if it is not UTF-8).
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_length]).unwrap_or("?")
    }

    /// What the supervisor said about the last fault ("" before any).
    pub fn last_fault(&self) -> &str {
        let text = &self.fault_text[..self.fault_text_length];
        match core::str::from_utf8(text) {
            Ok(text) => text,
            // Cut inside a character: keep the whole ones.
            Err(e) => core::str::from_utf8(&text[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

/// Reads `bytes.len()` bytes from consecutive words.
fn read_bytes(page: &StatusPage, first_word: usize, bytes: &mut [u8]) {
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let word = page.read(first_word + i).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// Writes `bytes` into consecutive words (the last one padded with zeros).
fn write_bytes(page: &StatusPage, first_word: usize, bytes: &[u8]) {
    for (i, chunk) in bytes.chunks(8).enumerate() {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        page.word(first_word + i)
            .store(u64::from_le_bytes(word), Ordering::Relaxed);
    }
}

/// What the root task writes into an entry as the component runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// TSC ticks run, over all generations.
    pub cpu_ticks: u64,
    /// Restarts so far.
    pub restarts: u64,
    /// DMA of its devices the IOMMU blocked.
    pub dma_faults: u64,
    /// Interrupts of its devices the kernel delivered.
    pub interrupts: u64,
}

/// The status page the root task keeps up to date: read-only in every
/// component, read-write in the root task.
pub struct StatusPage {
    base: u64,
}

impl StatusPage {
    /// The page at its fixed address (components only).
    pub fn mapped() -> StatusPage {
        StatusPage {
            base: STATUS_PAGE_VADDR,
        }
    }

    /// The page at `base`.
    ///
    /// # Safety
    /// One page at `base` must stay mapped (read-write to write entries) for
    /// as long as the value is used.
    pub const unsafe fn at(base: u64) -> StatusPage {
        StatusPage { base }
    }

    fn word(&self, index: usize) -> &AtomicU64 {
        assert!(
            index < 4096 / 8,
            "status page word {index} is outside the page"
        );
        // SAFETY: the page is mapped at `base` (the constructors' contract;
        // the root task maps it read-only in every component before it
        // starts) and `index` lies inside it; the root task updates it while
        // others read, so it is only viewed as atomics.
        unsafe { &*((self.base as *const AtomicU64).add(index)) }
    }

    fn read(&self, index: usize) -> u64 {
        self.word(index).load(Ordering::Relaxed)
    }

    fn entry_word(index: usize, word: usize) -> usize {
        (status::FIRST_ENTRY + index * status::ENTRY_BYTES) / 8 + word
    }

    fn valid(&self) -> bool {
        self.word(status::WORD_MAGIC).load(Ordering::Acquire) == status::MAGIC
            && self.read(status::WORD_VERSION) == status::VERSION
    }

    /// The calibrated TSC rate (0 if the page is not set up).
    pub fn tsc_hz(&self) -> u64 {
        if self.valid() {
            self.read(status::WORD_TSC_HZ)
        } else {
            0
        }
    }

    /// Entries on the page.
    pub fn count(&self) -> usize {
        if self.valid() {
            (self.read(status::WORD_COUNT) as usize).min(status::MAX_ENTRIES)
        } else {
            0
        }
    }

    /// Entry `index` (in system.toml order).
    pub fn entry(&self, index: usize) -> Option<StatusEntry> {
        if index >= self.count() {
            return None;
        }
        let state = self.read(Self::entry_word(index, status::ENTRY_STATE));
        let name_length = (self.read(Self::entry_word(index, status::ENTRY_NAME_LENGTH)) as usize)
            .min(status::NAME_BYTES);
        let mut name = [0u8; status::NAME_BYTES];
        read_bytes(self, Self::entry_word(index, status::ENTRY_NAME), &mut name);
        let mut fault_text = [0u8; status::FAULT_TEXT_BYTES];
        read_bytes(
            self,
            Self::entry_word(index, status::ENTRY_FAULT_TEXT),
            &mut fault_text,
        );
        let field = |word| self.read(Self::entry_word(index, word));
        Some(StatusEntry {
            name,
            name_length,
            generation: state as u32,
            state: (state >> 32) as u32,
            cpu_ticks: field(status::ENTRY_CPU_TICKS),
            restarts: field(status::ENTRY_RESTARTS),
            faults: field(status::ENTRY_FAULTS),
            last_fault_detector: field(status::ENTRY_FAULT_DETECTOR),
            last_fault_tsc: field(status::ENTRY_FAULT_TSC),
            dma_faults: field(status::ENTRY_DMA_FAULTS),
            interrupts: field(status::ENTRY_INTERRUPTS),
            fault_text,
            fault_text_length: (field(status::ENTRY_FAULT_TEXT_LENGTH) as usize)
                .min(status::FAULT_TEXT_BYTES),
        })
    }

    /// The entry of component `name`.
    pub fn find(&self, name: &str) -> Option<StatusEntry> {
        (0..self.count())
            .filter_map(|i| self.entry(i))
            .find(|e| e.name() == name)
    }

    /// The generation of component `name` (1 at first start, +1 per restart),
    /// or `None` if no such component is listed.
    pub fn generation_of(&self, name: &str) -> Option<u32> {
        self.find(name).map(|e| e.generation)
    }

    /// The state of component `name` (`status::STATE_*`).
    pub fn state_of(&self, name: &str) -> Option<u32> {
        self.find(name).map(|e| e.state)
    }

    /// The root task's side: writes the header (count and TSC rate).
    pub fn write_header(&self, count: usize, tsc_hz: u64) {
        let count = count.min(status::MAX_ENTRIES);
        self.word(status::WORD_COUNT)
            .store(count as u64, Ordering::Relaxed);
        self.word(status::WORD_TSC_HZ)
            .store(tsc_hz, Ordering::Relaxed);
        self.word(status::WORD_VERSION)
            .store(status::VERSION, Ordering::Relaxed);
        self.word(status::WORD_MAGIC)
            .store(status::MAGIC, Ordering::Release);
    }

    /// The root task's side: writes entry `index` (ignored past the page).
    pub fn write_entry(&self, index: usize, name: &str, generation: u32, state: u32) {
        if index >= status::MAX_ENTRIES {
            return;
        }
        let name = name.as_bytes();
        let length = name.len().min(status::NAME_BYTES);
        write_bytes(
            self,
            Self::entry_word(index, status::ENTRY_NAME),
            &name[..length],
        );
        self.word(Self::entry_word(index, status::ENTRY_NAME_LENGTH))
            .store(length as u64, Ordering::Relaxed);
        self.word(Self::entry_word(index, status::ENTRY_STATE))
            .store(
                u64::from(generation) | (u64::from(state) << 32),
                Ordering::Relaxed,
            );
    }

    /// The root task's side: entry `index`'s running figures.
    pub fn write_usage(&self, index: usize, usage: Usage) {
        if index >= status::MAX_ENTRIES {
            return;
        }
        for (word, value) in [
            (status::ENTRY_CPU_TICKS, usage.cpu_ticks),
            (status::ENTRY_RESTARTS, usage.restarts),
            (status::ENTRY_DMA_FAULTS, usage.dma_faults),
            (status::ENTRY_INTERRUPTS, usage.interrupts),
        ] {
            self.word(Self::entry_word(index, word))
                .store(value, Ordering::Relaxed);
        }
    }

    /// The root task's side: a fault of component `index` was detected by
    /// `detector` (`status::DETECTOR_*`) at `tsc`; `text` says what it was
    /// (cut to `status::FAULT_TEXT_BYTES`). Counts it.
    pub fn write_fault(&self, index: usize, detector: u64, tsc: u64, text: &str) {
        if index >= status::MAX_ENTRIES {
            return;
        }
        let text = text.as_bytes();
        let length = text.len().min(status::FAULT_TEXT_BYTES);
        write_bytes(
            self,
            Self::entry_word(index, status::ENTRY_FAULT_TEXT),
            &text[..length],
        );
        let faults = self.read(Self::entry_word(index, status::ENTRY_FAULTS));
        for (word, value) in [
            (status::ENTRY_FAULT_TEXT_LENGTH, length as u64),
            (status::ENTRY_FAULT_DETECTOR, detector),
            (status::ENTRY_FAULT_TSC, tsc),
            (status::ENTRY_FAULTS, faults + 1),
        ] {
            self.word(Self::entry_word(index, word))
                .store(value, Ordering::Relaxed);
        }
    }
}

/// The marker before a component's layout stamp in its program file.
pub const LAYOUT_STAMP_MARKER: [u8; 8] = *b"WARDLAYT";

/// The layout stamp: the marker, then the caps table's `LAYOUT_HASH`
/// (little-endian). The root task finds it in the program file and refuses
/// a program built against another system description.
pub const fn layout_stamp(hash: u64) -> [u8; 16] {
    let h = hash.to_le_bytes();
    let m = LAYOUT_STAMP_MARKER;
    [
        m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], h[0], h[1], h[2], h[3], h[4], h[5], h[6],
        h[7],
    ]
}

/// Finds the layout stamp in a program file: the hash after the first
/// marker, if any.
pub fn find_layout_stamp(file: &[u8]) -> Option<u64> {
    let at = file.windows(8).position(|w| w == LAYOUT_STAMP_MARKER)?;
    let bytes = file.get(at + 8..at + 16)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// Declares a component's entry function, `fn(generation: u64)`, given the
/// component's caps table module (`mod caps`). The program is stamped with
/// the table's `LAYOUT_HASH`, which the root task checks, and the runtime
/// takes the table's `HEARTBEAT_PERIOD`. When `main` returns, the component
/// waits on its notification forever (keeping its heartbeat).
///
/// `component!(main)` alone declares a program that uses only the fixed
/// capabilities and fits any layout: no stamp, no heartbeat.
#[macro_export]
macro_rules! component {
    ($main:path) => {
        #[no_mangle]
        extern "C" fn ward_program_entry(generation: u64) -> ! {
            $crate::component::init(None);
            let main: fn(u64) = $main;
            main(generation);
            loop {
                let _ = $crate::component::wait();
            }
        }
    };
    ($main:path, $caps:ident) => {
        #[used]
        #[link_section = ".rodata.ward_layout"]
        static WARD_LAYOUT_STAMP: [u8; 16] = $crate::component::layout_stamp($caps::LAYOUT_HASH);
        #[no_mangle]
        extern "C" fn ward_program_entry(generation: u64) -> ! {
            $crate::component::init($caps::HEARTBEAT_PERIOD);
            let main: fn(u64) = $main;
            main(generation);
            loop {
                let _ = $crate::component::wait();
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_stamp_is_found() {
        let mut file = [0u8; 64];
        file[20..36].copy_from_slice(&layout_stamp(0x1122_3344_5566_7788));
        assert_eq!(find_layout_stamp(&file), Some(0x1122_3344_5566_7788));
        assert_eq!(find_layout_stamp(&file[..30]), None);
        assert_eq!(find_layout_stamp(&[0u8; 64]), None);
    }

    #[test]
    fn status_entries_round_trip() {
        let mut page = vec![0u64; 512];
        // SAFETY: `page` is one page of memory that outlives `status`.
        let status = unsafe { StatusPage::at(page.as_mut_ptr() as u64) };
        assert_eq!(status.count(), 0);
        assert_eq!(status.tsc_hz(), 0);
        status.write_header(2, 2_000_000_000);
        status.write_entry(0, "e1000", 3, status::STATE_RUNNING);
        status.write_entry(
            1,
            "a-name-longer-than-thirty-two-bytes!",
            1,
            status::STATE_HELD,
        );
        status.write_usage(
            0,
            Usage {
                cpu_ticks: 12345,
                restarts: 2,
                dma_faults: 4,
                interrupts: 99,
            },
        );
        assert_eq!(status.find("e1000").unwrap().last_fault(), "");
        let neighbour = status.entry(1).unwrap();
        status.write_fault(
            0,
            status::DETECTOR_IOMMU,
            777,
            "DMA write to 0x1000 blocked",
        );
        status.write_fault(0, status::DETECTOR_MMU, 888, &"x".repeat(100));
        let faulted = status.find("e1000").unwrap();
        assert_eq!(
            (
                faulted.faults,
                status::detector_name(faulted.last_fault_detector),
                faulted.last_fault_tsc,
                faulted.dma_faults,
                faulted.interrupts,
                faulted.last_fault().len()
            ),
            (2, "mmu", 888, 4, 99, status::FAULT_TEXT_BYTES)
        );
        // Entry 0's figures and text stay inside entry 0.
        assert_eq!(status.entry(1).unwrap(), neighbour);
        assert_eq!(status.tsc_hz(), 2_000_000_000);
        let e1000 = status.find("e1000").unwrap();
        assert_eq!(
            (
                e1000.generation,
                e1000.state,
                e1000.cpu_ticks,
                e1000.restarts
            ),
            (3, 1, 12345, 2)
        );
        assert_eq!(
            status.entry(1).unwrap().name(),
            "a-name-longer-than-thirty-two-by"
        );
        assert_eq!(status.generation_of("nobody"), None);
        assert_eq!(status.entry(2), None);
        assert_eq!(
            status::state_name(status.state_of("e1000").unwrap()),
            "running"
        );
    }

    #[test]
    fn console_text_round_trips() {
        let text = b"hello, supervisor: 0123456789";
        let mut words = [0u64; 1 + CONSOLE_CHUNK_BYTES / 8];
        let used = pack_text(text, &mut words);
        assert_eq!(used, 1 + text.len().div_ceil(8));
        let mut out = [0u8; CONSOLE_CHUNK_BYTES];
        let length = unpack_text(|i| words[i], used, &mut out);
        assert_eq!(&out[..length], text);
        // A lying byte count is cut to the words that arrived.
        words[0] = 1000;
        assert_eq!(unpack_text(|i| words[i], 2, &mut out), 8);
        assert_eq!(unpack_text(|i| words[i], 0, &mut out), 0);
    }
}
