//! `timekeeper` (tests/systems/clock.toml): checks the components' clock and
//! timed waits from inside a component. The clock must advance across a
//! sleep by what was asked (never less), a deadline must end a wait with no
//! other signal, short waits must have millisecond resolution, and a long
//! idle stretch must not get the component taken for hung (its heartbeat is
//! kept by the runtime from its waits). It reads the kernel's statistics
//! page, which its system grants it read-only, to show the kernel's side.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/timekeeper.rs"));
}

use ward_userlib::component::{self, Events, StatusPage, Wakeup};
use ward_userlib::kstats::KernelStatistics;
use ward_userlib::println;
use ward_userlib::time::{self, Duration, Instant};

ward_userlib::component!(main, caps);

/// A sleep long enough to measure the clock against.
const SLEEP: Duration = Duration::from_millis(50);
/// A deadline with nothing else to wake the component.
const DEADLINE: Duration = Duration::from_millis(20);
/// Short waits whose median shows the resolution.
const SHORT: Duration = Duration::from_millis(1);
const SHORT_WAITS: usize = 21;
/// The resolution promised: waits end on the kernel's 1 ms tick, so a 1 ms
/// wait takes 1 to 2 ms. Emulation can delay a tick now and then; the
/// median must still be within this.
const RESOLUTION_LIMIT: Duration = Duration::from_millis(3);
/// How late a single wait may end before it counts as a failure: generous,
/// because a busy host can stall the emulated CPU for a while.
const LATENESS_LIMIT: Duration = Duration::from_millis(40);
/// Idle stretch, in heartbeat periods.
const IDLE_PERIODS: u32 = 10;

fn ms(d: Duration) -> u64 {
    d.as_micros() as u64 / 1000
}

fn tenths(d: Duration) -> u64 {
    (d.as_micros() as u64 % 1000) / 100
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "FAILED"
    }
}

fn main(generation: u64) {
    let hz = time::tsc_hz();
    println!(
        "timekeeper: generation {generation}; TSC rate {} kHz, from the status page",
        hz / 1000
    );
    let kernel = KernelStatistics::of(caps::KERNEL_STATISTICS);
    println!(
        "timekeeper: kernel statistics page: {}",
        if kernel.is_some() {
            "mapped"
        } else {
            "MISSING"
        }
    );

    // 1. The clock across a sleep.
    let start = Instant::now();
    component::sleep(SLEEP);
    let slept = start.elapsed();
    let ok = slept >= SLEEP && slept < SLEEP + LATENESS_LIMIT;
    println!(
        "timekeeper: slept {} ms; the clock advanced {}.{} ms: {}",
        ms(SLEEP),
        ms(slept),
        tenths(slept),
        verdict(ok)
    );

    // 2. A deadline fires with no signal at all.
    let start = Instant::now();
    let woke = component::wait_until(Some(start + DEADLINE));
    let waited = start.elapsed();
    let ok = woke == Wakeup::TimedOut && waited >= DEADLINE && waited < DEADLINE + LATENESS_LIMIT;
    println!(
        "timekeeper: a deadline {} ms ahead ended the wait after {}.{} ms with no signal: {}",
        ms(DEADLINE),
        ms(waited),
        tenths(waited),
        verdict(ok)
    );

    // 3. Resolution: the median of short waits (through the event helper).
    let mut events = Events::new();
    let mut took = [Duration::ZERO; SHORT_WAITS];
    for t in took.iter_mut() {
        let start = Instant::now();
        events.wait_until(Some(start + SHORT));
        *t = start.elapsed();
    }
    took.sort_unstable();
    let median = took[SHORT_WAITS / 2];
    let ok = took[0] >= SHORT && median <= RESOLUTION_LIMIT && events.timed_out();
    println!(
        "timekeeper: {SHORT_WAITS} waits of {} ms took {}.{} ms at the median (shortest {}.{}, longest {}.{}): {}",
        ms(SHORT),
        ms(median),
        tenths(median),
        ms(took[0]),
        tenths(took[0]),
        ms(took[SHORT_WAITS - 1]),
        tenths(took[SHORT_WAITS - 1]),
        verdict(ok)
    );

    // 4. Idle far longer than the heartbeat period: the runtime's waits
    // keep the heartbeat, so the supervisor must not restart us.
    let period = caps::HEARTBEAT_PERIOD.expect("timekeeper has a heartbeat");
    let ticks_before = kernel.as_ref().map_or(0, |k| k.timer_ticks());
    let idle_before = kernel.as_ref().map_or(0, |k| k.idle_tsc());
    let start = Instant::now();
    component::sleep(period * IDLE_PERIODS);
    let idled = start.elapsed();
    let status = StatusPage::mapped();
    let me = status.find(caps::COMPONENT);
    let still = me.map(|e| e.generation) == Some(generation as u32);
    println!(
        "timekeeper: idled {} ms ({IDLE_PERIODS} heartbeat periods of {} ms); still generation {generation}: {}",
        ms(idled),
        ms(period),
        verdict(still)
    );
    if let Some(k) = kernel {
        let ticks = k.timer_ticks() - ticks_before;
        let idle = time::ticks_to_duration(k.idle_tsc() - idle_before, hz);
        println!(
            "timekeeper: meanwhile the kernel counted {ticks} timer ticks and {} ms idle; {} timeouts so far",
            ms(idle),
            k.timeouts()
        );
    }
    if let Some(e) = me {
        println!(
            "timekeeper: the status page shows {} us of CPU time for it",
            time::ticks_to_duration(e.cpu_ticks, hz).as_micros()
        );
    }
    println!("timekeeper: done");
}
