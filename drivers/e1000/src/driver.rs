//! The driver's thread, which is the bottom half: the kernel's top half only
//! masks the NIC's interrupt line and signals the driver's notification.
//!
//! ```text
//!  start ─▶ quiesce, reset, configure (device.rs) ─▶ wait for the stack's rings ─▶ serve
//!             ▲                                                                      │
//!             └──────────── the stack restarted (new generation on the status page) ─┘
//! ```
//!
//! Serving is NAPI-style. An interrupt masks the NIC's interrupts (IMC) and
//! schedules a poll; a poll pass reaps received frames up to the budget,
//! refills the receive ring, reaps sent frames and queues new ones, each
//! tail register written once per pass after a write barrier. A pass that
//! used its whole budget leaves interrupts masked and lets the stack run
//! (the driver's priority is above the stack's, so it must block for that)
//! until the stack rings or a millisecond passes, then polls again. A pass
//! under budget clears the latched causes, unmasks, and re-checks the rings:
//! work that arrived in between is polled at once instead of waiting for an
//! interrupt that was already cleared. So no event is lost, and the busier
//! the NIC, the fewer interrupts per frame.
//!
//! Before sleeping the driver asks the stack for doorbells only where it
//! needs them (ring signal suppression): on the transmit lend ring always
//! (a frame to send should not wait), on the receive lend ring only when
//! fewer buffers than the low watermark are posted, on the events ring only
//! when a message waits for a buffer.

use ward_proto::driver::{LinkState, MacAddress};
use ward_ring::{Notify, WaitDecision};
use ward_userlib::component::{self, StatusPage, Wakeup};
use ward_userlib::dma::DmaRegion;
use ward_userlib::mmio::RegisterBlock;
use ward_userlib::ring::{self, ChannelEnd};
use ward_userlib::spec::{DeviceMapping, DmaWindow, Interrupt, Mapping, RingChannel};
use ward_userlib::time::{Duration, Instant};
use ward_userlib::{println, region};

use crate::counters::{Counter, Counters};
use crate::datapath::Datapath;
use crate::descriptors::DESCRIPTOR_BYTES;
use crate::device::{AddressSource, Nic, SERVED_CAUSES};
use crate::events::Events;
use crate::faults::Faults;
use crate::regs::int;
use crate::rings::{usable_descriptors, RxRing, TxRing};
use crate::settings::Settings;
use crate::stats::NicStatistics;

/// Everything the driver is granted, from its caps table (see
/// [`resources!`](crate::resources)).
#[derive(Clone, Copy)]
pub struct Resources {
    /// BAR 0: the registers.
    pub registers: DeviceMapping,
    /// The NIC's interrupt.
    pub irq: Interrupt,
    /// The descriptor rings' memory, and the NIC's window onto it.
    pub descriptors: Mapping,
    pub descriptor_window: DmaWindow,
    /// The NIC's windows onto the packet pools (which the driver never maps).
    pub rx_window: DmaWindow,
    pub tx_window: DmaWindow,
    /// The ring pairs with the stack: received frames, frames to send,
    /// control messages.
    pub rx: RingChannel,
    pub tx: RingChannel,
    pub events: RingChannel,
    /// The counter page.
    pub counters: Mapping,
    /// `settings` from system.toml.
    pub settings: &'static [(&'static str, u64)],
}

/// The driver's [`Resources`] from a caps table module generated for the
/// `e1000` component.
#[macro_export]
macro_rules! resources {
    ($caps:ident) => {
        $crate::driver::Resources {
            registers: $caps::NIC_BAR0,
            irq: $caps::NIC_IRQ,
            descriptors: $caps::NIC_DESCRIPTORS,
            descriptor_window: $caps::NIC_DMA_NIC_DESCRIPTORS,
            rx_window: $caps::NIC_DMA_NET_RX_POOL,
            tx_window: $caps::NIC_DMA_NET_TX_POOL,
            rx: $caps::NET_RX,
            tx: $caps::NET_TX,
            events: $caps::NET_EVENTS,
            counters: $caps::E1000_STATS,
            settings: $caps::SETTINGS,
        }
    };
}

/// Declares a driver program (a binary of this crate): its caps table (the
/// package's build script writes it from the system description; another
/// file of `$OUT_DIR` may be named for a program built against another
/// system), its entry, and which faults it injects ([`crate::faults`]).
#[macro_export]
macro_rules! program {
    ($faults:expr) => {
        $crate::program!($faults, "/caps.rs");
    };
    ($faults:expr, $caps_file:literal) => {
        #[allow(dead_code)]
        mod caps {
            include!(concat!(env!("OUT_DIR"), $caps_file));
        }

        ::ward_userlib::component!(main, caps);

        fn main(generation: u64) {
            $crate::driver::run($crate::resources!(caps), generation, $faults);
        }
    };
}

/// How often the NIC's statistics are read and the gauges updated: often
/// enough that an observer sees figures a quarter of a second old at most;
/// seldom enough that the 20-odd register reads cost nothing measurable.
const STATS_PERIOD: Duration = Duration::from_millis(250);
/// While the stack has not set up the rings, how often to look again (its
/// doorbell usually comes first).
const ATTACH_POLL: Duration = Duration::from_millis(100);
/// After a pass used its whole budget: the longest the driver lets the stack
/// run before it polls again, unless the stack rings first. One kernel tick.
const YIELD: Duration = Duration::from_millis(1);
/// Passes in a row without blocking (each finding new work in its
/// re-check) after which the driver yields anyway, so that the stack gets
/// to run and the heartbeat is kept whatever the load.
const MAX_PASSES_WITHOUT_BLOCKING: u32 = 16;

/// The three ring pairs of one pairing with the stack.
struct Rings {
    rx: ChannelEnd,
    tx: ChannelEnd,
    events: ChannelEnd,
    /// The stack's generation these rings were set up by.
    owner_generation: u32,
    /// A pair whose indices the stack broke is left alone.
    rx_broken: bool,
    tx_broken: bool,
    events_broken: bool,
}

struct Driver<'a> {
    nic: Nic,
    irq: Interrupt,
    path: Datapath<'a>,
    counters: Counters<'a>,
    settings: Settings,
    stats: NicStatistics,
    events: Events,
    link: LinkState,
    generation: u64,
}

/// The driver program: never returns. `faults` is [`crate::faults::NoFaults`]
/// in the shipped driver.
pub fn run<F: Faults>(resources: Resources, generation: u64, mut faults: F) -> ! {
    // Whatever a previous generation left running stops first.
    let nic = Nic::new(RegisterBlock::of(resources.registers));
    nic.quiesce();
    let settings = match Settings::from_table(resources.settings) {
        Ok(settings) => settings,
        Err(e) => panic!("the settings of [component.e1000] in the system description were refused ({e:?}); docs/drivers.md lists them"),
    };
    let memory = DmaRegion::new(resources.descriptors, resources.descriptor_window)
        .expect("the NIC reaches all of its descriptor memory");
    // The descriptor memory holds the receive ring, then the transmit ring.
    let half = memory.bytes() / 2;
    let count = usable_descriptors(half as usize / DESCRIPTOR_BYTES)
        .expect("the descriptor memory holds two rings of at least eight descriptors");
    let rx = RxRing::new(
        memory
            .descriptors(0, count, DESCRIPTOR_BYTES)
            .expect("receive ring"),
    )
    .expect("receive ring size");
    let tx = TxRing::new(
        memory
            .descriptors(half, count, DESCRIPTOR_BYTES)
            .expect("transmit ring"),
    )
    .expect("transmit ring size");
    let windows = [
        resources.descriptor_window,
        resources.rx_window,
        resources.tx_window,
    ];
    let path = Datapath::new(
        rx,
        tx,
        resources.rx_window,
        resources.tx_window,
        &windows,
        settings.delay_transmit_interrupts(),
    );
    let counters = Counters::create(region::words64(resources.counters), generation)
        .expect("the counter page holds every counter");
    let mut driver = Driver {
        nic,
        irq: resources.irq,
        path,
        counters,
        settings,
        stats: NicStatistics::new(),
        events: Events::new(generation as u32),
        link: LinkState {
            up: false,
            speed_mbps: 0,
            full_duplex: false,
        },
        generation,
    };
    loop {
        driver.bring_up();
        let mut rings = driver.attach(&resources);
        driver.serve(&mut rings, &mut faults);
    }
}

impl Driver<'_> {
    /// Quiesce, reset and initialise the NIC (SDM 14.3-14.5); announce the
    /// station address and the link. Only link changes interrupt until the
    /// rings are attached.
    fn bring_up(&mut self) {
        self.nic.quiesce();
        if let Err(e) = self.nic.reset() {
            panic!("the NIC did not come out of reset: {e:?}");
        }
        self.nic.configure();
        let (mac, source) = match self.nic.station_address() {
            Ok(found) => found,
            Err(e) => panic!("no station address: {e:?}"),
        };
        self.path.reset();
        self.events.forget_buffers();
        self.nic.init_receive(mac, &self.path.rx, &self.settings);
        self.nic.init_transmit(&self.path.tx, &self.settings);
        self.nic.set_interrupt_interval(&self.settings);
        self.stats.start(self.nic.registers());
        self.nic.enable_receive(&self.settings);
        let _ = self.nic.take_causes();
        // A generation that died with an interrupt pending left the line
        // masked in the interrupt controller.
        let _ = self.irq.handler.irq_handler_ack();
        self.nic.unmask(int::LSC);
        self.link = self.nic.link();
        self.events.announce_mac(mac);
        self.events.announce_link(self.link);
        self.update_gauges(None);
        println!(
            "e1000: generation {}: MAC {} (from {}), {}",
            self.generation,
            Mac(mac),
            match source {
                AddressSource::ReceiveAddress => "RAL0/RAH0",
                AddressSource::Eeprom => "the EEPROM",
            },
            Link(self.link)
        );
        println!(
            "e1000: {} receive + {} transmit descriptors at IO address {:#x}; 2048-byte buffers, CRC stripped, broadcast accepted, long frames refused; interrupt interval {} us, poll budget {}",
            self.path.rx.len(),
            self.path.tx.len(),
            self.path.rx.iova(),
            self.settings.interrupt_interval_us,
            self.settings.poll_budget
        );
    }

    /// Waits until the stack has set up all three ring pairs for this
    /// pairing (docs/protocols.md: the region generation names both
    /// instances), serving link interrupts meanwhile.
    fn attach(&mut self, resources: &Resources) -> Rings {
        let status = StatusPage::mapped();
        loop {
            if let Some(rings) = try_attach(resources, &status, self.generation) {
                println!(
                    "e1000: attached to the stack's rings (stack generation {})",
                    rings.owner_generation
                );
                return rings;
            }
            let deadline = Instant::now() + ATTACH_POLL;
            if let Wakeup::Signalled(bits) = component::wait_until(Some(deadline)) {
                if bits & self.irq.bit != 0 {
                    self.interrupt();
                    self.nic.unmask(int::LSC);
                }
            }
        }
    }

    /// Serves the rings until the stack restarts.
    fn serve<F: Faults>(&mut self, rings: &mut Rings, faults: &mut F) {
        let status = StatusPage::mapped();
        let peer = rings.rx.channel().peer;
        let ring_bits =
            rings.rx.channel().bit | rings.tx.channel().bit | rings.events.channel().bit;
        let budget = self.settings.poll_budget as usize;
        // Start with a poll: the stack lent buffers before the driver attached.
        self.nic.mask_all();
        let mut masked = true;
        let mut scheduled = true;
        let mut yielding = false;
        let mut passes_without_blocking = 0;
        let mut next_statistics = Instant::now() + STATS_PERIOD;
        loop {
            let bits = if scheduled
                && !yielding
                && passes_without_blocking < MAX_PASSES_WITHOUT_BLOCKING
            {
                // A poll is due: take whatever was signalled, without blocking.
                passes_without_blocking += 1;
                component::poll()
            } else if scheduled {
                // Let the stack take what the last passes handed it; it rings
                // once it has lent half a budget back, or a tick passes.
                passes_without_blocking = 0;
                self.ask_for_doorbells(rings, (budget as u32 / 2).max(1), true);
                wake_bits(Instant::now() + YIELD)
            } else if passes_without_blocking < MAX_PASSES_WITHOUT_BLOCKING
                && self.ask_for_doorbells(rings, 1, false)
            {
                // Work arrived while asking for doorbells.
                passes_without_blocking += 1;
                scheduled = true;
                component::poll()
            } else {
                passes_without_blocking = 0;
                wake_bits(next_statistics)
            };
            yielding = false;
            if bits & self.irq.bit != 0 {
                self.interrupt();
                masked = true;
                scheduled = true;
            }
            if bits & ring_bits != 0 {
                if status.generation_of(peer) != Some(rings.owner_generation) {
                    println!(
                        "e1000: the stack restarted (generation {} -> {}); resetting the NIC and attaching again",
                        rings.owner_generation,
                        status.generation_of(peer).unwrap_or(0)
                    );
                    return;
                }
                scheduled = true;
            }
            if next_statistics.has_passed() {
                self.stats.accumulate(self.nic.registers(), &self.counters);
                self.update_gauges(Some(rings));
                next_statistics = Instant::now() + STATS_PERIOD;
            }
            if !scheduled {
                continue;
            }
            // The NIC's interrupts stay masked while polling, whatever scheduled
            // the poll (an interrupt, or the stack's doorbell): what the pass
            // causes itself (a sent frame's TXDW) is reaped by it or its re-check.
            if !masked {
                self.nic.mask_all();
                masked = true;
            }
            self.counters.bump(Counter::Polls);
            let received = self.poll_pass(rings, budget, faults);
            if received >= budget {
                // More may be waiting: keep interrupts masked, let the stack run.
                self.counters.bump(Counter::BudgetExhausted);
                yielding = true;
                continue;
            }
            // Done for now: clear what was latched while masked, unmask, and
            // re-check what may have arrived in between.
            let causes = self.nic.take_causes();
            self.handle_causes(causes);
            self.nic.unmask(SERVED_CAUSES);
            masked = false;
            if self.path.rx.has_completion() || self.path.tx.has_completion() {
                self.counters.bump(Counter::RecheckFoundWork);
                self.nic.mask_all();
                masked = true;
                continue;
            }
            scheduled = false;
        }
    }

    /// The top half's aftermath: mask the NIC's interrupts (NAPI), take the
    /// causes (which deasserts the line), unmask the line in the interrupt
    /// controller.
    fn interrupt(&mut self) {
        self.counters.bump(Counter::Interrupts);
        self.nic.mask_all();
        let causes = self.nic.take_causes();
        let _ = self.irq.handler.irq_handler_ack();
        if causes == 0 {
            self.counters.bump(Counter::InterruptsSpurious);
        }
        self.handle_causes(causes);
    }

    fn handle_causes(&mut self, causes: u32) {
        if causes & int::LSC != 0 {
            self.counters.bump(Counter::LinkChanges);
            let link = self.nic.link();
            if link != self.link {
                println!("e1000: {}", Link(link));
            }
            self.link = link;
            self.events.announce_link(link);
            self.update_gauges(None);
        }
        if causes & int::RXO != 0 {
            self.counters.bump(Counter::RxOverrunEvents);
        }
        if causes & int::RXDMT0 != 0 {
            self.counters.bump(Counter::RxLowWatermark);
        }
    }

    /// One poll pass; returns the receive descriptors reaped.
    fn poll_pass<F: Faults>(&mut self, rings: &mut Rings, budget: usize, faults: &mut F) -> usize {
        let counters = &self.counters;
        let mut received = 0;
        if !rings.rx_broken {
            let reaped = self.path.receive(&mut rings.rx.pair, budget, counters);
            let posted = reaped.and_then(|n| {
                received = n;
                self.path.refill(&mut rings.rx.pair, counters)
            });
            match posted {
                Ok(0) => {}
                Ok(_) => {
                    self.nic.ring_rx_doorbell(self.path.rx.tail());
                    counters.bump(Counter::RxTailWrites);
                }
                Err(_) => rings.rx_broken = true,
            }
        }
        if !rings.tx_broken {
            let queued = self
                .path
                .complete(&mut rings.tx.pair, counters)
                .and_then(|_| self.path.transmit(&mut rings.tx.pair, faults, counters));
            match queued {
                Ok(0) => {}
                Ok(_) => {
                    self.nic.ring_tx_doorbell(self.path.tx.tail());
                    counters.bump(Counter::TxTailWrites);
                }
                Err(_) => rings.tx_broken = true,
            }
        }
        if !rings.events_broken {
            let pool = rings.events.pool.expect("the driver maps the events pool");
            if self
                .events
                .flush(&mut rings.events.pair, &pool, counters)
                .is_err()
            {
                rings.events_broken = true;
            }
        }
        for end in [&mut rings.rx, &mut rings.tx, &mut rings.events] {
            let published = end.pair.publish();
            let released = end.pair.release();
            if published == Notify::Signal || released == Notify::Signal {
                end.ring_doorbell();
                counters.bump(Counter::StackSignals);
            }
        }
        // Exact after every pass: an observer that runs while the driver waits
        // (the stack is below it) sees the buffers it holds now.
        self.update_gauges(Some(rings));
        received
    }

    /// Asks the stack for doorbells before sleeping; `true` if work arrived
    /// while asking. `yielding`: after a full budget, wake once the stack
    /// has lent `coalesce` receive buffers or frames back.
    fn ask_for_doorbells(&mut self, rings: &mut Rings, coalesce: u32, yielding: bool) -> bool {
        let mut ready = false;
        let mut ask = |end: &mut ChannelEnd, broken: bool, items: u32| {
            if !broken {
                ready |= matches!(
                    end.pair.prepare_wait_incoming(items),
                    Ok(WaitDecision::Ready)
                );
            }
        };
        // With the transmit ring full, frames the stack lends must wait for
        // the NIC; its TXDW interrupt (not the stack's doorbell) wakes the driver.
        if self.path.tx.room() > 0 {
            ask(&mut rings.tx, rings.tx_broken, coalesce);
        }
        let low_watermark = self.settings.low_watermark(self.path.rx.len());
        if yielding || self.path.rx.in_flight() < low_watermark {
            ask(&mut rings.rx, rings.rx_broken, coalesce);
        }
        if self.events.pending() {
            ask(&mut rings.events, rings.events_broken, 1);
        }
        ready && !yielding
    }

    fn update_gauges(&self, rings: Option<&Rings>) {
        let c = &self.counters;
        c.set(Counter::LinkUp, u64::from(self.link.up));
        c.set(Counter::LinkSpeedMbps, u64::from(self.link.speed_mbps));
        if let Some(rings) = rings {
            c.set(
                Counter::RxBuffersHeld,
                u64::from(rings.rx.pair.held().len()),
            );
            c.set(
                Counter::TxBuffersHeld,
                u64::from(rings.tx.pair.held().len()),
            );
        }
    }
}

/// Waits for a signal or `deadline`; the bits signalled (none on a timeout).
fn wake_bits(deadline: Instant) -> u64 {
    match component::wait_until(Some(deadline)) {
        Wakeup::Signalled(bits) => bits,
        Wakeup::TimedOut => 0,
    }
}

/// Attaches all three pairs if the stack has set them up for this pairing.
fn try_attach(resources: &Resources, status: &StatusPage, generation: u64) -> Option<Rings> {
    let owner = status.generation_of(resources.rx.peer)?;
    let expected = ring::pair_generation(u64::from(owner), generation);
    let rx = ring::attach_for(resources.rx, expected).ok()?;
    let tx = ring::attach_for(resources.tx, expected).ok()?;
    let events = ring::attach_for(resources.events, expected).ok()?;
    Some(Rings {
        rx,
        tx,
        events,
        owner_generation: owner,
        rx_broken: false,
        tx_broken: false,
        events_broken: false,
    })
}

/// A MAC address as people write it.
struct Mac(MacAddress);

impl core::fmt::Display for Mac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let o = self.0 .0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

/// A link state as people say it.
struct Link(LinkState);

impl core::fmt::Display for Link {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0.up {
            write!(
                f,
                "link up, {} Mb/s {} duplex",
                self.0.speed_mbps,
                if self.0.full_duplex { "full" } else { "half" }
            )
        } else {
            write!(f, "link down")
        }
    }
}
