//! Fault injection: what the `e1000-faults` build of the driver does wrong
//! when it is asked. The driver program of the default system is built with
//! [`NoFaults`], whose hooks are empty and compiled away, so it carries none
//! of this.
//!
//! Two ways to ask:
//!
//! - **Cookies** (the frame reflector of the e1000 scenarios): the cookie of
//!   a frame the stack's side lends for sending (opaque to the ring and to
//!   the driver protocol). [`CRASH_COOKIE`] makes the driver panic in the
//!   middle of its poll; [`STRAY_DMA_COOKIE`] points the frame's transmit
//!   descriptor outside every DMA window of the NIC.
//! - **The fault mailbox** (the supervisor's campaigns,
//!   `root-task/src/inject.rs`): a small record in the driver's own data
//!   ([`MAILBOX`], found by its magic [`MAILBOX_MAGIC`]), which the
//!   supervisor writes through its mapping of the driver's frames, as it
//!   flips bits. The driver reads it once per turn of its loop and arms the
//!   [`Request`]. Nothing is granted for it: the supervisor already holds
//!   the driver's memory, and no other component can reach it.
//!
//! Each request is a bug the driver could have; what catches it is the
//! rest of the system (the IOMMU, the supervisor's heartbeat and CPU-share
//! watchdogs, the network stack's ring validation and progress checks).

use core::sync::atomic::{AtomicU32, Ordering};

use ward_ring::Buffer;

/// Cookie of a frame that makes the fault-injection build crash.
pub const CRASH_COOKIE: u32 = 0xfa17_c0de;
/// Cookie of a frame that makes the fault-injection build program a stray DMA.
pub const STRAY_DMA_COOKIE: u32 = 0xfa17_d3a0;

/// What the supervisor can ask the driver to do wrong. The numbers are the
/// mailbox's encoding (0 is "nothing asked").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Request {
    /// The next frame's transmit descriptor points outside every window.
    DmaOutside = 1,
    /// The receive descriptor the NIC uses next points into the transmit
    /// pool, which the NIC may only read.
    DmaOtherPool = 2,
    /// The receive descriptor the NIC uses next points at the descriptor
    /// rings: the NIC writes a frame over them.
    DmaRings = 3,
    /// Interrupt storm: from now on the line is unmasked without the cause
    /// being read, the device is made to assert (ICS), and the NIC's
    /// interrupt throttling is switched off.
    IrqStorm = 4,
    /// Lost interrupts: from now on the NIC's causes are never unmasked.
    IrqLost = 5,
    /// The next returned receive descriptor is garbage.
    RingGarbage = 6,
    /// The receive return ring's producer index moves backwards.
    RingBackwards = 7,
    /// The receive return ring's producer index moves past the end.
    RingPastEnd = 8,
    /// The next received buffer is returned twice.
    RingTwice = 9,
    /// From now on sent buffers are never returned.
    RingNever = 10,
    /// The next received frame is returned with a wrong length.
    LieLength = 11,
    /// The next frame to send is sent twice.
    LieDuplicate = 12,
    /// The next 16 received frames are dropped.
    LieDrop = 13,
    /// The next frame to send is corrupted (its descriptor is shifted by
    /// two bytes into the buffer).
    LieCorrupt = 14,
}

impl Request {
    /// The request a mailbox value encodes.
    pub fn decode(value: u32) -> Option<Request> {
        use Request::*;
        Some(match value {
            1 => DmaOutside,
            2 => DmaOtherPool,
            3 => DmaRings,
            4 => IrqStorm,
            5 => IrqLost,
            6 => RingGarbage,
            7 => RingBackwards,
            8 => RingPastEnd,
            9 => RingTwice,
            10 => RingNever,
            11 => LieLength,
            12 => LieDuplicate,
            13 => LieDrop,
            14 => LieCorrupt,
            _ => return None,
        })
    }
}

/// The magic that opens the mailbox, for the supervisor to find it in the
/// driver's data. Eight bytes no other datum of the driver starts with.
pub const MAILBOX_MAGIC: [u8; 8] = *b"WARDFMBX";

/// The fault mailbox: the magic, then the request word (a [`Request`]
/// number; the supervisor writes it, the driver takes it and writes 0),
/// then the count of requests taken (for the supervisor's log).
#[repr(C, align(16))]
pub struct Mailbox {
    pub magic: [u8; 8],
    pub request: AtomicU32,
    pub taken: AtomicU32,
}

/// The one mailbox of the fault-injection build. It is in initialised data
/// (the magic is not zero), so the supervisor finds it in the program's
/// data segment; its address is the same in every generation.
pub static MAILBOX: Mailbox = Mailbox {
    magic: MAILBOX_MAGIC,
    request: AtomicU32::new(0),
    taken: AtomicU32::new(0),
};

/// What to do wrong with one frame to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    /// Nothing: send it as it is.
    None,
    /// Point its descriptor outside every window of the NIC.
    StrayDma,
    /// Hand it to the NIC twice (two descriptors, one buffer returned).
    Duplicate,
    /// Point its descriptor two bytes into the buffer.
    Shift,
}

/// What to do wrong with the receive descriptor the NIC uses next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxPost {
    None,
    /// At the transmit pool's window (the NIC may only read it).
    OtherPool,
    /// At the descriptor rings' window.
    Rings,
}

/// What to do wrong with one received buffer returned to the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxReturn {
    None,
    /// A garbage descriptor instead of it.
    Garbage,
    /// It, twice.
    Twice,
    /// It, with a wrong frame length.
    WrongLength,
    /// It, as a receive error (the frame is dropped).
    Drop,
}

/// How the driver treats its interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqMode {
    Normal,
    /// Unmask without reading the cause; keep the device asserting.
    Storm,
    /// Never unmask.
    Lost,
}

/// A lie about a return ring's producer index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexLie {
    Backwards,
    PastEnd,
}

/// The fault-injection hooks of the driver. Every hook's default is the
/// correct driver's behaviour.
pub trait Faults {
    /// Called once per turn of the serving loop: arms what was asked.
    #[inline(always)]
    fn check_mailbox(&mut self) {}
    /// Called for each frame the stack lends for sending, before it is
    /// handed to the NIC.
    fn on_transmit_request(&mut self, request: &Buffer) -> Injection;
    /// Called once per turn of the serving loop: where to point the
    /// receive descriptor the NIC fills next.
    #[inline(always)]
    fn on_rx_post(&mut self) -> RxPost {
        RxPost::None
    }
    /// Called for each received buffer returned to the stack.
    #[inline(always)]
    fn on_rx_return(&mut self) -> RxReturn {
        RxReturn::None
    }
    /// Whether sent buffers are kept instead of returned.
    #[inline(always)]
    fn keep_sent(&mut self) -> bool {
        false
    }
    /// How the interrupt is treated (a storm also switches the NIC's
    /// interrupt throttling off).
    #[inline(always)]
    fn irq_mode(&self) -> IrqMode {
        IrqMode::Normal
    }
    /// A lie to tell about the receive return ring's index, once.
    #[inline(always)]
    fn take_index_lie(&mut self) -> Option<IndexLie> {
        None
    }
}

/// The driver as shipped: no faults.
pub struct NoFaults;

impl Faults for NoFaults {
    #[inline(always)]
    fn on_transmit_request(&mut self, _request: &Buffer) -> Injection {
        Injection::None
    }
}

/// Frames of a [`Request::LieDrop`].
const DROPPED_FRAMES: u32 = 16;

/// The `e1000-faults` build: faults on the cookies above and on the
/// mailbox's requests.
#[derive(Default)]
pub struct Injected {
    tx: Option<Injection>,
    rx_post: Option<RxPost>,
    rx_return: Option<RxReturn>,
    drop_frames: u32,
    keep_sent: bool,
    irq: Option<IrqMode>,
    index_lie: Option<IndexLie>,
}

impl Injected {
    pub const fn new() -> Injected {
        Injected {
            tx: None,
            rx_post: None,
            rx_return: None,
            drop_frames: 0,
            keep_sent: false,
            irq: None,
            index_lie: None,
        }
    }

    /// Arms `request`.
    pub fn arm(&mut self, request: Request) {
        use Request::*;
        match request {
            DmaOutside => self.tx = Some(Injection::StrayDma),
            LieDuplicate => self.tx = Some(Injection::Duplicate),
            LieCorrupt => self.tx = Some(Injection::Shift),
            DmaOtherPool => self.rx_post = Some(RxPost::OtherPool),
            DmaRings => self.rx_post = Some(RxPost::Rings),
            RingGarbage => self.rx_return = Some(RxReturn::Garbage),
            RingTwice => self.rx_return = Some(RxReturn::Twice),
            LieLength => self.rx_return = Some(RxReturn::WrongLength),
            LieDrop => self.drop_frames = DROPPED_FRAMES,
            RingNever => self.keep_sent = true,
            IrqStorm => self.irq = Some(IrqMode::Storm),
            IrqLost => self.irq = Some(IrqMode::Lost),
            RingBackwards => self.index_lie = Some(IndexLie::Backwards),
            RingPastEnd => self.index_lie = Some(IndexLie::PastEnd),
        }
    }
}

impl Faults for Injected {
    fn check_mailbox(&mut self) {
        let value = MAILBOX.request.swap(0, Ordering::AcqRel);
        if let Some(request) = Request::decode(value) {
            MAILBOX.taken.fetch_add(1, Ordering::Relaxed);
            self.arm(request);
        }
    }

    fn on_transmit_request(&mut self, request: &Buffer) -> Injection {
        match request.cookie() {
            CRASH_COOKIE => panic!(
                "deliberate crash (fault injection: the stack sent a frame with cookie {CRASH_COOKIE:#x})"
            ),
            STRAY_DMA_COOKIE => Injection::StrayDma,
            _ => self.tx.take().unwrap_or(Injection::None),
        }
    }

    fn on_rx_post(&mut self) -> RxPost {
        self.rx_post.take().unwrap_or(RxPost::None)
    }

    fn on_rx_return(&mut self) -> RxReturn {
        if self.drop_frames > 0 {
            self.drop_frames -= 1;
            return RxReturn::Drop;
        }
        self.rx_return.take().unwrap_or(RxReturn::None)
    }

    fn keep_sent(&mut self) -> bool {
        self.keep_sent
    }

    fn irq_mode(&self) -> IrqMode {
        self.irq.unwrap_or(IrqMode::Normal)
    }

    fn take_index_lie(&mut self) -> Option<IndexLie> {
        self.index_lie.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_number_decodes_to_itself() {
        for value in 1..=14 {
            let request = Request::decode(value).expect("defined");
            assert_eq!(request as u32, value);
        }
        assert_eq!(Request::decode(0), None);
        assert_eq!(Request::decode(15), None);
    }

    #[test]
    fn one_shot_requests_fire_once_and_drops_sixteen_times() {
        let mut f = Injected::new();
        f.arm(Request::RingTwice);
        assert_eq!(f.on_rx_return(), RxReturn::Twice);
        assert_eq!(f.on_rx_return(), RxReturn::None);
        f.arm(Request::LieDrop);
        for _ in 0..DROPPED_FRAMES {
            assert_eq!(f.on_rx_return(), RxReturn::Drop);
        }
        assert_eq!(f.on_rx_return(), RxReturn::None);
        f.arm(Request::IrqStorm);
        assert_eq!(f.irq_mode(), IrqMode::Storm);
        assert_eq!(f.irq_mode(), IrqMode::Storm, "a storm lasts");
    }
}
