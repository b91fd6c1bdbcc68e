//! `test=bench`: kernel micro-benchmarks in guest TSC cycles.
//!
//! - null syscall: `Yield` with no other thread at the caller's priority,
//!   and a failing capability lookup (`NBRecv` on an empty slot);
//! - Call + ReplyRecv round trip between two address spaces (the root
//!   task calls a server in a second VSpace, which answers with ReplyRecv),
//!   and for contrast the same within one address space;
//! - signal → wait wake-up of a higher-priority thread: the root task reads
//!   the TSC and signals; the waiter, which preempts it, reads the TSC; and
//!   the same with the waiter in a timed wait (`RecvUntil`, a deadline far
//!   ahead), whose deadline is armed and disarmed every time.
//!
//! - on two or more cores: the same round trip to a server on another core
//!   (`xcall`), a signal waking a waiter on another, idle, core (`xwake`:
//!   from just before the signal to the waiter's first instruction), and
//!   the TLB shootdown: `frame_unmap` of a page of an address space that
//!   K other cores have loaded, for K = 0 .. cores - 1 (`shootdown`; each
//!   target core must answer before the unmap returns, so it grows with K).
//!
//! Each figure is the median of [`RUNS`] single measurements with the 10th
//! and 90th percentiles as spread, and the ratio of medians to the null
//! syscall measured in the same run. Under QEMU's TCG emulation the guest
//! TSC does not count hardware cycles of the emulated work: compare the
//! ratios, and absolute figures only between runs on the same host.

use ward_userlib::message::info;
use ward_userlib::{println, syscall, CapRights};

use crate::cases::{get, new_endpoint, new_notification, rdtsc, set};
use crate::env::Env;
use crate::framework::{Check, Why};
use crate::process::{self, Process};
use crate::threads::{self, pack, unpack, ROOT_PRIORITY};

/// Measurements per figure: enough for stable percentiles, few enough for
/// a run of a few seconds under TCG.
pub const RUNS: usize = 2001;
/// The most measurements per figure `runs=N` may ask for (the samples live
/// on the stack).
const MAX_RUNS: usize = 8001;
/// The echo servers' priority: the client's own, so both halves of a round
/// trip can take the kernel's IPC fast path (it switches directly only to a
/// partner at a priority at least the caller's).
const SERVER_PRIORITY: u64 = ROOT_PRIORITY;
/// Measurements per shootdown figure: each waits for other cores under
/// emulation, so fewer than the others keep the run short.
const SHOOTDOWN_RUNS: usize = 301;
/// Unmeasured rounds first, so caches and the TLB are warm.
const WARM_UP: usize = 100;

/// Median and spread of one figure.
struct Figure {
    median: u64,
    p10: u64,
    p90: u64,
    min: u64,
    max: u64,
}

fn figure(samples: &mut [u64]) -> Figure {
    samples.sort_unstable();
    let at = |fraction_percent: usize| samples[(samples.len() - 1) * fraction_percent / 100];
    Figure {
        median: at(50),
        p10: at(10),
        p90: at(90),
        min: samples[0],
        max: samples[samples.len() - 1],
    }
}

/// Which figures to measure and how often: `only=` and `runs=` of the
/// root task's arguments. `tests/ktest/profile-bench.py` boots the same
/// figure with two run counts and subtracts, so that set-up cancels out.
pub struct Selection<'a> {
    /// Measure only the figures whose key contains this text (empty: all).
    /// Keys: `null`, `lookup`, `local`, `remote`, `wake`, `timed`.
    pub only: &'a str,
    /// Measurements per figure.
    pub runs: usize,
}

impl Selection<'_> {
    fn wants(&self, key: &str) -> bool {
        key.contains(self.only)
    }
}

fn print_figure(name: &str, f: &Figure, runs: usize, null: Option<u64>) {
    let ratio = match null {
        Some(n) if n > 0 => {
            let hundredths = f.median * 100 / n;
            let mut text = [0u8; 24];
            let len = format_ratio(&mut text, hundredths);
            (text, len)
        }
        _ => ([0u8; 24], 0),
    };
    let ratio_text = core::str::from_utf8(&ratio.0[..ratio.1]).unwrap_or("");
    println!(
        "bench: {name}: median {} cycles (p10 {}, p90 {}, min {}, max {}; {runs} runs){}{}",
        f.median,
        f.p10,
        f.p90,
        f.min,
        f.max,
        if ratio.1 > 0 { "; " } else { "" },
        ratio_text
    );
}

/// Formats `args` into `out` (cut at its length) and returns the text.
fn format_into<'a>(out: &'a mut [u8], args: core::fmt::Arguments) -> &'a str {
    use core::fmt::Write;
    struct Cursor<'a>(&'a mut [u8], usize);
    impl Write for Cursor<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for &b in s.as_bytes() {
                if self.1 < self.0.len() {
                    self.0[self.1] = b;
                    self.1 += 1;
                }
            }
            Ok(())
        }
    }
    let mut cursor = Cursor(out, 0);
    let _ = cursor.write_fmt(args);
    let len = cursor.1;
    core::str::from_utf8(&out[..len]).unwrap_or("")
}

/// Writes "N.NNx null syscall" for a ratio given in hundredths.
fn format_ratio(out: &mut [u8; 24], hundredths: u64) -> usize {
    format_into(
        out,
        format_args!("{}.{:02}x null", hundredths / 100, hundredths % 100),
    )
    .len()
}

fn measure(runs: usize, mut operation: impl FnMut() -> u64) -> Figure {
    let mut samples = [0u64; MAX_RUNS];
    let samples = &mut samples[..runs.clamp(1, MAX_RUNS)];
    for _ in 0..WARM_UP {
        operation();
    }
    for sample in samples.iter_mut() {
        *sample = operation();
    }
    figure(samples)
}

/// Second-address-space server: answers each call with the badge and word
/// 0 times 2, like the copied routine of `pic`.
fn echo_server(_: u64) {
    let Ok(mut request) = syscall::recv(process::slot::ENDPOINT) else {
        return;
    };
    loop {
        match syscall::reply_recv(
            process::slot::ENDPOINT,
            info(0, 2),
            [request.badge, request.mrs[0] * 2, 0, 0],
        ) {
            Ok(next) => request = next,
            Err(_) => return,
        }
    }
}

/// The same server for the root task's address space, on endpoint `unpack(0)`.
fn same_space_echo_server(argument: u64) {
    let ep = unpack(argument, 0);
    let Ok(mut request) = syscall::recv(ep) else {
        return;
    };
    loop {
        match syscall::reply_recv(ep, info(0, 2), [request.badge, request.mrs[0] * 2, 0, 0]) {
            Ok(next) => request = next,
            Err(_) => return,
        }
    }
}

/// Starts [`echo_server`] in a second address space on `ep`.
fn server_in_second_address_space(
    env: &mut Env,
    ep: ward_userlib::cap::Endpoint,
) -> Result<ward_userlib::cap::Tcb, Why> {
    let mut p = Process::new(env).ctx("building the server's address space")?;
    p.give(env, process::slot::ENDPOINT, ep.cptr(), CapRights::ALL, 0)
        .ctx("endpoint")?;
    p.spawn(env, echo_server, 0, SERVER_PRIORITY, 0)
        .ctx("starting the server")
}

/// Call+ReplyRecv round trips to an echo server on `ep`.
fn round_trips(ep: ward_userlib::cap::Endpoint, runs: usize) -> Result<Figure, Why> {
    let mut failures = 0u64;
    let figure = measure(runs, || {
        let start = rdtsc();
        let reply = ep.call(info(0, 1), [1, 0, 0, 0]);
        let cycles = rdtsc() - start;
        if !matches!(reply, Ok(r) if r.mrs[1] == 2) {
            failures += 1;
        }
        cycles
    });
    if failures > 0 {
        return Err(Why::new(format_args!(
            "{failures} round trips got a wrong answer"
        )));
    }
    Ok(figure)
}

/// Higher-priority waiter: on each wake-up stores TSC minus the start
/// time the root task left in shared word 0, in word 1, and counts its
/// wake-ups in word 2 (after the measurement: the root task on another
/// core polls it).
fn waker_target(argument: u64) {
    let n = unpack(argument, 0);
    loop {
        if syscall::wait(n).is_err() {
            return;
        }
        let now = rdtsc();
        set(1, now.wrapping_sub(get(0)));
        crate::cases::add(2, 1);
    }
}

/// How far ahead the timed waiter's deadline lies, in TSC ticks: far
/// beyond any run, so only the signal ends a wait (the deadline is armed
/// and disarmed every time, which is what is measured).
const TIMED_WAIT_TICKS: u64 = 1 << 40;

/// As [`waker_target`], waiting with `RecvUntil` and a deadline.
fn timed_waker_target(argument: u64) {
    let n = unpack(argument, 0);
    loop {
        if syscall::recv_until(n, rdtsc() + TIMED_WAIT_TICKS).is_err() {
            return;
        }
        let now = rdtsc();
        set(1, now.wrapping_sub(get(0)));
    }
}

pub fn run(env: &mut Env, selection: &Selection) -> bool {
    match benchmarks(env, selection) {
        Ok(()) => {
            println!("bench: note: guest TSC cycles under QEMU TCG emulation, not hardware cycles; compare the ratios");
            println!("ktest: PASS bench");
            true
        }
        Err(why) => {
            println!("ktest: FAIL bench: {}", why.as_str());
            false
        }
    }
}

fn benchmarks(env: &mut Env, selection: &Selection) -> Result<(), Why> {
    env.root
        .tcb
        .tcb_set_priority(env.root.tcb, ROOT_PRIORITY)
        .ctx("root priority")?;
    let runs = selection.runs;

    // The baseline of every ratio; measured whenever anything is (with the
    // default count when not asked for, so profile-bench.py's difference of
    // two run counts leaves it out).
    let null_runs = if selection.wants("null") { runs } else { RUNS };
    let null = measure(null_runs, || {
        let start = rdtsc();
        syscall::yield_now();
        rdtsc() - start
    });
    if selection.wants("null") {
        print_figure("null syscall (Yield)", &null, runs, None);
    }
    let null = Some(null.median);
    if selection.wants("lookup") {
        let empty = env.slot();
        let lookup = measure(runs, || {
            let start = rdtsc();
            let _ = syscall::nb_recv(empty);
            rdtsc() - start
        });
        print_figure(
            "failed capability lookup (NBRecv on an empty slot)",
            &lookup,
            runs,
            null,
        );
    }

    // For contrast: the same round trip with the server in this address
    // space, so no page-table switch happens.
    let local_trip = if selection.wants("local") {
        let local_ep = new_endpoint(env);
        let local = threads::spawn(
            env,
            same_space_echo_server,
            pack(&[local_ep.cptr()]),
            SERVER_PRIORITY,
        )
        .ctx("server in this address space")?;
        let trip = round_trips(local_ep, runs)?;
        let _ = local.tcb.tcb_suspend();
        Some(trip)
    } else {
        None
    };

    if selection.wants("remote") {
        let ep = new_endpoint(env);
        let second = match server_in_second_address_space(env, ep) {
            Ok(tcb) => Ok(tcb),
            Err(_) => crate::pic::start_echo_server(env, ep, SERVER_PRIORITY)
                .ctx("starting the copied echo routine in a second address space"),
        };
        match second {
            Ok(server) => {
                let trip = round_trips(ep, runs)?;
                let _ = server.tcb_suspend();
                print_figure(
                    "Call+ReplyRecv round trip between two address spaces",
                    &trip,
                    runs,
                    null,
                );
            }
            Err(why) => println!("bench: NOTE: no second address space ({})", why.as_str()),
        }
    }
    if let Some(local_trip) = local_trip {
        print_figure(
            "Call+ReplyRecv round trip within one address space",
            &local_trip,
            runs,
            null,
        );
    }

    let wakers: [(&str, fn(u64), &str); 2] = [
        (
            "wake",
            waker_target,
            "signal -> wait wake-up of a higher-priority thread",
        ),
        (
            "timed",
            timed_waker_target,
            "signal -> timed wait (RecvUntil) wake-up of a higher-priority thread",
        ),
    ];
    for (key, target, name) in wakers {
        if !selection.wants(key) {
            continue;
        }
        let n = new_notification(env);
        threads::spawn(env, target, pack(&[n.cptr()]), ROOT_PRIORITY + 10).ctx("waiter")?;
        let wake = measure(runs, || {
            set(1, 0);
            set(0, rdtsc());
            let _ = n.signal();
            get(1)
        });
        print_figure(name, &wake, runs, null);
    }
    threads::clean_up(env, None);
    cross_core(env, selection, null)?;
    threads::clean_up(env, None);
    Ok(())
}

/// Helper for the shootdown figure: runs once on its core, which then
/// keeps the root task's address space loaded while it idles (its CR3 is
/// not reloaded until another thread runs there), and waits for ever on
/// notification `unpack(0)`, which nobody signals. An idle target is the
/// fair case under emulation: a spinning one would compete with the
/// initiator for the host's CPUs.
fn address_space_holder(argument: u64) {
    crate::cases::add(3, 1);
    let _ = syscall::wait(unpack(argument, 0));
}

/// The multicore figures (nothing on one core).
fn cross_core(env: &mut Env, selection: &Selection, null: Option<u64>) -> Result<(), Why> {
    let cores = crate::cases::smp::cores(env);
    if cores < 2 {
        return Ok(());
    }
    let runs = selection.runs;
    if selection.wants("xcall") {
        let ep = new_endpoint(env);
        threads::spawn_on(
            env,
            same_space_echo_server,
            pack(&[ep.cptr()]),
            SERVER_PRIORITY,
            0,
            1,
        )
        .ctx("server on core 1")?;
        crate::framework::quiet_until(rdtsc() + (1 << 40));
        let trip = round_trips(ep, runs)?;
        print_figure(
            "Call+ReplyRecv round trip to a server on another core (xcall)",
            &trip,
            runs,
            null,
        );
        threads::clean_up(env, None);
    }
    if selection.wants("xwake") {
        let n = new_notification(env);
        threads::spawn_on(
            env,
            waker_target,
            pack(&[n.cptr()]),
            ROOT_PRIORITY + 10,
            0,
            1,
        )
        .ctx("waiter on core 1")?;
        let mut lost = 0u64;
        let wake = measure(runs, || {
            let before = get(2);
            set(0, rdtsc());
            let _ = n.signal();
            // The waiter runs on its own core: wait (bounded) until it ran.
            let deadline = rdtsc() + env.info.platform.tsc_hz;
            while get(2) == before && rdtsc() < deadline {
                core::hint::spin_loop();
            }
            if get(2) == before {
                lost += 1;
            }
            get(1)
        });
        if lost > 0 {
            return Err(Why::new(format_args!(
                "{lost} cross-core wake-ups did not arrive within a second"
            )));
        }
        print_figure(
            "signal -> wake-up of a waiter on another, idle, core (xwake)",
            &wake,
            runs,
            null,
        );
        threads::clean_up(env, None);
    }
    if selection.wants("shootdown") {
        let (frame, _) = env.new_page();
        let mapped: ward_userlib::cap::Frame4K = ward_userlib::cap::Cap::from_cptr(
            env.copy(frame.cptr(), CapRights::READ_WRITE)
                .ctx("copy the frame cap")?,
        );
        let vaddr = env.reserve_scratch(1);
        env.map_root(mapped, vaddr, CapRights::READ)
            .ctx("first mapping")?;
        mapped.frame_unmap().ctx("first unmap")?;
        let vspace = env.root.vspace;
        let never = new_notification(env);
        set(3, 0);
        for others in 0..cores {
            if others > 0 {
                threads::spawn_on(
                    env,
                    address_space_holder,
                    pack(&[never.cptr()]),
                    1,
                    0,
                    others,
                )
                .ctx("address-space holder")?;
                // Until it has run there (its core has loaded our CR3).
                let deadline = rdtsc() + env.info.platform.tsc_hz;
                while get(3) < others && rdtsc() < deadline {
                    core::hint::spin_loop();
                }
            }
            let mut failures = 0u64;
            let unmap = measure(runs.min(SHOOTDOWN_RUNS), || {
                if mapped
                    .frame_map(
                        vspace,
                        vaddr,
                        CapRights::READ,
                        ward_userlib::cap::VmAttributes::DEFAULT,
                    )
                    .is_err()
                {
                    failures += 1;
                }
                // SAFETY: just mapped readable; the read puts the
                // translation in this core's TLB.
                let _ = unsafe { core::ptr::read_volatile(vaddr as *const u64) };
                let start = rdtsc();
                if mapped.frame_unmap().is_err() {
                    failures += 1;
                }
                rdtsc() - start
            });
            if failures > 0 {
                return Err(Why::new(format_args!("{failures} maps or unmaps failed")));
            }
            let mut text = [0u8; 96];
            let name = format_into(
                &mut text,
                format_args!(
                    "frame_unmap, address space loaded on {others} other core(s) (shootdown)"
                ),
            );
            print_figure(name, &unmap, runs.min(SHOOTDOWN_RUNS), null);
        }
    }
    Ok(())
}
