//! The runtime of a component: a program the root task builds from the
//! system description and supervises.
//!
//! A component needs nothing but an entry function:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! ward_userlib::component!(main);
//! fn main(generation: u64) { ward_userlib::println!("hello"); }
//! ```
//!
//! [`component!`](crate::component) marks the program as a component before
//! `main` runs, which changes three things:
//!
//! - the IPC buffer is the one the root task mapped at [`IPC_BUFFER_VADDR`];
//! - `print!`/`println!` go to the supervisor's console over the component's
//!   `CONSOLE` endpoint (slot 4), not to the kernel's debug print; the
//!   supervisor prefixes each line with the component's name;
//! - a panic sends its message to the supervisor ([`console_label::PANIC`])
//!   and then stops the thread with an invalid instruction, so that the
//!   supervisor sees a fault and applies the component's restart policy.
//!
//! The root task also maps a read-only [status page](StatusPage) into every
//! component: each component's generation and state, so that a peer can see
//! that the other end of a ring was restarted and resynchronise.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::message;
use crate::syscall;

/// Where the root task maps a component's IPC buffer (one page). Equal to
/// `ward_sysspec::COMPONENT_IPC_BUFFER`; the root task checks this at
/// compile time.
pub const IPC_BUFFER_VADDR: u64 = 0x0000_7fff_f800_0000;

/// Where the root task maps the read-only status page. It lies in the
/// reserved top area of every component's address space (between the stack
/// top at 0x7fff_f000_0000 and the IPC buffer), where capctl never places a
/// mapping.
pub const STATUS_PAGE_VADDR: u64 = 0x0000_7fff_f400_0000;

/// Fixed slots of every component's CSpace (`ward_sysspec::SLOT_*`); kept
/// here so that the runtime needs no generated table.
pub mod slot {
    /// Send-only endpoint to the supervisor's console.
    pub const CONSOLE: u64 = 4;
    /// The component's own notification, bound to its thread.
    pub const NOTIFICATION: u64 = 5;
    /// Signal-only notification to the supervisor, present with a heartbeat.
    pub const HEARTBEAT: u64 = 6;
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

/// Called by [`component!`](crate::component) before the entry function.
pub fn init() {
    crate::ipc_buffer::set_default_ipc_buffer(IPC_BUFFER_VADDR);
    IS_COMPONENT.store(true, Ordering::Relaxed);
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

/// Signals the supervisor that this component is alive (components with a
/// `heartbeat` in the system description must do so at least once a period).
pub fn heartbeat() {
    let _ = syscall::signal(slot::HEARTBEAT);
}

/// Waits on the component's own notification; returns the bits signalled.
pub fn wait() -> u64 {
    syscall::wait(slot::NOTIFICATION).unwrap_or(0)
}

/// Takes the bits signalled so far without waiting.
pub fn poll() -> u64 {
    syscall::poll(slot::NOTIFICATION).unwrap_or(0)
}

/// The status page's layout: a header and one entry per component.
pub mod status {
    /// "WARDSTAT".
    pub const MAGIC: u64 = u64::from_le_bytes(*b"WARDSTAT");
    /// Bytes of a component name kept in an entry (names are at most this long
    /// in practice; longer ones are cut).
    pub const NAME_BYTES: usize = 32;
    /// Bytes per entry: generation (low 4 bytes of the first word), state
    /// (high 4 bytes), name length (8), name.
    pub const ENTRY_BYTES: usize = 16 + NAME_BYTES;
    /// Offset of the first entry (after magic and count).
    pub const FIRST_ENTRY: usize = 16;
    /// Most entries a 4 KiB page holds.
    pub const MAX_ENTRIES: usize = (4096 - FIRST_ENTRY) / ENTRY_BYTES;

    /// Component states as the status page shows them.
    pub const STATE_RUNNING: u32 = 1;
    pub const STATE_RESTARTING: u32 = 2;
    pub const STATE_HELD: u32 = 3;
    pub const STATE_NOT_STARTED: u32 = 4;
}

/// The read-only status page the root task keeps up to date.
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

    fn read_u64(&self, offset: usize) -> u64 {
        // SAFETY: the root task maps the status page read-only at `base` in
        // every component before it starts; offsets stay inside the page.
        unsafe { core::ptr::read_volatile((self.base + offset as u64) as *const u64) }
    }

    /// The generation of component `name` (1 at first start, +1 per restart),
    /// or `None` if no such component is listed.
    pub fn generation_of(&self, name: &str) -> Option<u32> {
        self.entry_of(name).map(|word| word as u32)
    }

    /// The state of component `name` (`status::STATE_*`).
    pub fn state_of(&self, name: &str) -> Option<u32> {
        self.entry_of(name).map(|word| (word >> 32) as u32)
    }

    /// The first word of `name`'s entry: generation, state in the high half.
    fn entry_of(&self, name: &str) -> Option<u64> {
        if self.read_u64(0) != status::MAGIC {
            return None;
        }
        let count = (self.read_u64(8) as usize).min(status::MAX_ENTRIES);
        (0..count).find_map(|index| {
            let at = status::FIRST_ENTRY + index * status::ENTRY_BYTES;
            let length = (self.read_u64(at + 8) as usize).min(status::NAME_BYTES);
            let mut name_bytes = [0u8; status::NAME_BYTES];
            for (i, byte) in name_bytes.iter_mut().enumerate().take(length) {
                *byte = (self.read_u64(at + 16 + (i & !7)) >> ((i & 7) * 8)) as u8;
            }
            (&name_bytes[..length] == name.as_bytes()).then(|| self.read_u64(at))
        })
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

/// Declares a component's entry function, `fn(generation: u64)`. When it
/// returns, the component waits on its notification forever. With a second
/// argument, `caps::LAYOUT_HASH`, the program carries a stamp of the
/// capability layout it was built against, which the root task checks.
#[macro_export]
macro_rules! component {
    ($main:path, $layout_hash:expr) => {
        #[used]
        #[link_section = ".rodata.ward_layout"]
        static WARD_LAYOUT_STAMP: [u8; 16] = $crate::component::layout_stamp($layout_hash);
        $crate::component!($main);
    };
    ($main:path) => {
        #[no_mangle]
        extern "C" fn ward_program_entry(generation: u64) -> ! {
            $crate::component::init();
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
