//! The driver's counters, published on its counter page
//! (`ward_proto::counters`, the `e1000-stats` region of system.toml) for
//! observers such as the status page and the tests.
//!
//! Four groups: the data path (frames and bytes each way), the NAPI loop
//! (interrupts, polls, budget exhaustions, doorbells), bad input dropped by
//! reason, and the NIC's own statistics registers accumulated. A few gauges
//! (link, buffers held) give the state. The page is set up afresh by each
//! generation, stamped with it; counts start from zero with each generation.

use core::sync::atomic::AtomicU64;

use ward_proto::counters::{CounterWriter, PageTooSmall};

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal,)*) => {
        /// One counter; its discriminant is its index on the page.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Counter {
            $($(#[doc = $doc])* $variant,)*
        }

        /// Every counter's name on the page, in index order.
        pub const NAMES: &[&str] = &[$($name,)*];

        impl Counter {
            /// Every counter, in index order.
            pub const ALL: &[Counter] = &[$(Counter::$variant,)*];

            /// The counter's name on the page.
            pub const fn name(self) -> &'static str {
                NAMES[self as usize]
            }
        }
    };
}

counters! {
    /// Frames handed to the stack, and their bytes.
    RxFrames = "rx_frames",
    RxBytes = "rx_bytes",
    /// Frames the NIC sent for the stack, and their bytes.
    TxFrames = "tx_frames",
    TxBytes = "tx_bytes",
    /// Interrupts taken (notifications of the NIC's IRQ).
    Interrupts = "interrupts",
    /// Interrupts whose ICR showed no cause.
    InterruptsSpurious = "interrupts_spurious",
    /// Poll passes (each reaps receive and transmit rings once).
    Polls = "polls",
    /// Passes that used their whole budget, after which the driver let the
    /// stack run before polling again.
    BudgetExhausted = "budget_exhausted",
    /// Times the re-check after unmasking found work (NAPI's race window).
    RecheckFoundWork = "recheck_found_work",
    /// Receive buffers posted to the NIC.
    RxPosted = "rx_posted",
    /// RXDMT0: the NIC's free descriptors fell to the low watermark.
    RxLowWatermark = "rx_low_watermark",
    /// RXO: the NIC had no descriptor for a frame.
    RxOverrunEvents = "rx_overrun_events",
    /// Link status changes (LSC).
    LinkChanges = "link_changes",
    /// Tail-register doorbells written.
    RxTailWrites = "rx_tail_writes",
    TxTailWrites = "tx_tail_writes",
    /// Doorbells rung to the stack (only when it asked).
    StackSignals = "stack_signals",
    /// Received frames dropped: the NIC flagged an error; the frame spanned
    /// descriptors (never with 2048-byte buffers and long frames refused);
    /// shorter than an Ethernet header; longer than the buffer lent for it.
    RxDropNicError = "rx_drop_nic_error",
    RxDropFragment = "rx_drop_fragment",
    RxDropRunt = "rx_drop_runt",
    RxDropTooLong = "rx_drop_too_long",
    /// Receive buffers the stack lent that were refused and given back: too
    /// short for a full frame, flags set, or outside the NIC's window.
    RxPostRefused = "rx_post_refused",
    /// Frames to send refused and given back as dropped: bad length or flags;
    /// a checksum offload the driver cannot do without reading the frame.
    TxDropBadRequest = "tx_drop_bad_request",
    TxDropOffload = "tx_drop_offload",
    /// Descriptors on a lend ring outside the pool, misaligned or crossing a
    /// slot (consumed and dropped), per ring.
    RxRingBadDescriptor = "rx_ring_bad_descriptor",
    TxRingBadDescriptor = "tx_ring_bad_descriptor",
    EventRingBadDescriptor = "event_ring_bad_desc",
    /// Buffers lent while the driver already held them (dropped), per ring.
    RxRingDuplicate = "rx_ring_duplicate",
    TxRingDuplicate = "tx_ring_duplicate",
    EventRingDuplicate = "event_ring_duplicate",
    /// A ring whose indices the stack broke: left alone until it restarts.
    RingBroken = "ring_broken",
    /// Control messages sent to the stack (link, MAC).
    EventsSent = "events_sent",
    /// The NIC's statistics registers, accumulated (SDM 13.7): good frames
    /// and octets each way, missed frames (no FIFO room), frames with no
    /// free descriptor, over- and undersized frames, length, CRC and receive
    /// errors, broadcast and multicast frames, all frames each way.
    NicGoodRx = "nic_good_rx",
    NicGoodTx = "nic_good_tx",
    NicRxOctets = "nic_rx_octets",
    NicTxOctets = "nic_tx_octets",
    NicMissed = "nic_missed",
    NicNoBuffer = "nic_no_buffer",
    NicRxOversize = "nic_rx_oversize",
    NicRxUndersize = "nic_rx_undersize",
    NicLengthErrors = "nic_length_errors",
    NicCrcErrors = "nic_crc_errors",
    NicRxErrors = "nic_rx_errors",
    NicBroadcastRx = "nic_broadcast_rx",
    NicMulticastRx = "nic_multicast_rx",
    NicTotalRx = "nic_total_rx",
    NicTotalTx = "nic_total_tx",
    NicCollisions = "nic_collisions",
    /// Gauges: link up (0/1) and speed; buffers of each pool the driver
    /// holds now (posted to the NIC or waiting).
    LinkUp = "link_up",
    LinkSpeedMbps = "link_speed_mbps",
    RxBuffersHeld = "rx_buffers_held",
    TxBuffersHeld = "tx_buffers_held",
    EventBuffersHeld = "event_buffers_held",
}

/// The counter page, as the driver writes it.
pub struct Counters<'a> {
    page: CounterWriter<'a>,
}

impl<'a> Counters<'a> {
    /// Sets up the page afresh for `generation`, every counter zero.
    pub fn create(words: &'a [AtomicU64], generation: u64) -> Result<Counters<'a>, PageTooSmall> {
        Ok(Counters {
            page: CounterWriter::create(words, NAMES, generation)?,
        })
    }

    /// Adds `amount` to `counter`.
    #[inline]
    pub fn add(&self, counter: Counter, amount: u64) {
        if amount != 0 {
            self.page.add(counter as usize, amount);
        }
    }

    /// Adds one to `counter`.
    #[inline]
    pub fn bump(&self, counter: Counter) {
        self.page.add(counter as usize, 1);
    }

    /// Sets a gauge.
    pub fn set(&self, counter: Counter, value: u64) {
        self.page.set(counter as usize, value);
    }

    /// A counter's value.
    pub fn get(&self, counter: Counter) -> u64 {
        self.page.get(counter as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_proto::counters::{capacity, CounterReader, NAME_BYTES};

    #[test]
    fn names_fit_and_are_unique() {
        for name in NAMES {
            assert!(
                name.len() <= NAME_BYTES,
                "{name} is longer than {NAME_BYTES} bytes"
            );
        }
        for (i, a) in NAMES.iter().enumerate() {
            assert!(!NAMES[i + 1..].contains(a), "{a} twice");
        }
        assert_eq!(Counter::ALL.len(), NAMES.len());
        // The page is one 4 KiB region: 512 words.
        assert!(NAMES.len() <= capacity(512));
    }

    #[test]
    fn counters_reach_a_reader() {
        let words: Vec<AtomicU64> = (0..512).map(|_| AtomicU64::new(0)).collect();
        let counters = Counters::create(&words, 3).unwrap();
        counters.add(Counter::RxFrames, 5);
        counters.bump(Counter::RxFrames);
        counters.set(Counter::LinkUp, 1);
        let reader = CounterReader::new(&words);
        assert_eq!(reader.generation(), 3);
        assert_eq!(reader.value_of("rx_frames"), Some(6));
        assert_eq!(reader.value_of("link_up"), Some(1));
        assert_eq!(counters.get(Counter::RxFrames), 6);
        assert_eq!(Counter::NicMissed.name(), "nic_missed");
    }
}
