//! Fault injection: what the `e1000-faults` build of the driver does wrong
//! when a test asks. The driver program of the default system is built with
//! [`NoFaults`], whose hook is empty and compiled away, so it carries none
//! of this.
//!
//! A test asks through the one channel the stack's side already has: the
//! cookie of a frame it lends for sending (the cookie is opaque to the ring
//! and to the driver protocol). The frame reflector of the tests
//! (`tests/components/src/bin/frame-reflector.rs`) sends one such frame when
//! the host-side test peer tells it to:
//!
//! | cookie | the `e1000-faults` driver ... |
//! |---|---|
//! | [`CRASH_COOKIE`] | panics on the spot, in the middle of its poll: the supervisor restarts it |
//! | [`STRAY_DMA_COOKIE`] | points the frame's transmit descriptor at an IO address outside every DMA window of the NIC: VT-d blocks the NIC's read and the supervisor attributes the fault to `e1000` |

use ward_ring::Buffer;

/// Cookie of a frame that makes the fault-injection build crash.
pub const CRASH_COOKIE: u32 = 0xfa17_c0de;
/// Cookie of a frame that makes the fault-injection build program a stray DMA.
pub const STRAY_DMA_COOKIE: u32 = 0xfa17_d3a0;

/// What to do wrong with one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    /// Nothing: send it as it is.
    None,
    /// Point its descriptor outside every window of the NIC.
    StrayDma,
}

/// The fault-injection hook of the data path.
pub trait Faults {
    /// Called for each frame the stack lends for sending, before it is
    /// handed to the NIC.
    fn on_transmit_request(&mut self, request: &Buffer) -> Injection;
}

/// The driver as shipped: no faults.
pub struct NoFaults;

impl Faults for NoFaults {
    #[inline(always)]
    fn on_transmit_request(&mut self, _request: &Buffer) -> Injection {
        Injection::None
    }
}

/// The `e1000-faults` build: faults on the cookies above.
pub struct ByCookie;

impl Faults for ByCookie {
    fn on_transmit_request(&mut self, request: &Buffer) -> Injection {
        match request.cookie() {
            CRASH_COOKIE => panic!(
                "deliberate crash (fault injection: the stack sent a frame with cookie {CRASH_COOKIE:#x})"
            ),
            STRAY_DMA_COOKIE => Injection::StrayDma,
            _ => Injection::None,
        }
    }
}
