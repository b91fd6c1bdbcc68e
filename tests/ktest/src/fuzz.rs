//! `test=fuzz seed=N count=N`: bounded random syscalls from unprivileged
//! threads on every core, while other threads keep working.
//!
//! Each fuzzer runs in its own address space and CSpace (see `process`)
//! holding only: an endpoint and a notification (the same two objects for
//! every fuzzer, so their calls meet across cores), a badged copy of the
//! endpoint, its own CNode, a 64 KiB untyped, an unconfigured TCB and an
//! unmapped frame.
//! It has no fault endpoint, so bad lookups and unknown syscalls come back
//! as errors. Each call picks a syscall number (mostly real ones, some
//! unknown, never the debug calls, which could end the run), a CPtr (mostly
//! small, so it often names a real capability), a message info (often a
//! real invocation label with a plausible length) and random registers and
//! IPC-buffer words. Progress is counted in a page shared with the root task.
//! On one core there is one fuzzer; on N cores, one on each of cores 1 to
//! N - 1, sharing the `count` calls, each from its own seed.
//!
//! Meanwhile a heartbeat pair of threads in the root task's address space
//! (on core 0) does Call/ReplyRecv round trips and signals the root task
//! every 64 of them. On each heartbeat the root task checks every fuzzer's
//! progress; a fuzzer blocked in a receive or a send that nobody answers is
//! kicked (suspended and resumed, which aborts the blocking call). The run
//! passes when the fuzzers completed `count` calls, the heartbeat kept going
//! to the end, and the kernel never stopped (a kernel panic ends the run
//! with its own status, which the scenario rejects).

use ward_abi::invocation::InvocationLabel;
use ward_abi::message::MessageInfo;
use ward_userlib::cap::{self, FULL_DEPTH};
use ward_userlib::ipc_buffer::IpcBuffer;
use ward_userlib::message::info;
use ward_userlib::{println, syscall, CapRights, ObjectType};

use crate::cases::{add, get, new_endpoint, new_notification};
use crate::env::Env;
use crate::process::{self, Process};
use crate::rng::Rng;
use crate::threads::{self, pack, unpack, ROOT_PRIORITY};

/// Priority of the fuzzer and the heartbeat pair: equal, so the timer
/// shares the CPU between them.
const WORKER_PRIORITY: u64 = 100;
/// Heartbeat round trips between two signals to the root task.
const HEARTBEATS_PER_TICK: u64 = 64;
/// Heartbeat ticks without fuzzer progress before the fuzzer is kicked.
const TICKS_BEFORE_KICK: u32 = 2;
/// Kicks in a row without any progress before the run is declared stuck.
const MAX_FUTILE_KICKS: u32 = 200;

/// Words of the page shared with the fuzzer.
mod word {
    pub const PROGRESS: usize = 0;
    pub const SEED: usize = 1;
    pub const COUNT: usize = 2;
}

/// Heartbeat server: answers every call at once.
fn pong(argument: u64) {
    let ep = unpack(argument, 0);
    let Ok(mut request) = syscall::recv(ep) else {
        return;
    };
    loop {
        match syscall::reply_recv(ep, info(0, 1), [request.mrs[0] + 1, 0, 0, 0]) {
            Ok(next) => request = next,
            Err(_) => return,
        }
    }
}

/// Heartbeat client: counts round trips in shared word 0 and signals the
/// root task's notification every [`HEARTBEATS_PER_TICK`].
fn ping(argument: u64) {
    let (ep, tick) = (unpack(argument, 0), unpack(argument, 1));
    let mut n = 0u64;
    loop {
        match syscall::call(ep, info(0, 1), [n, 0, 0, 0]) {
            Ok(reply) if reply.mrs[0] == n + 1 => {}
            _ => {
                crate::cases::set(1, 1); // the heartbeat saw a wrong answer
                return;
            }
        }
        n += 1;
        add(0, 1);
        if n.is_multiple_of(HEARTBEATS_PER_TICK) {
            let _ = syscall::signal(tick);
        }
    }
}

/// Syscall numbers the fuzzer uses: the IPC calls and Yield, plus unknown
/// numbers; never DebugPrint/DebugExit/DebugPutChar (0x100..=0x102).
fn pick_number(rng: &mut Rng) -> u64 {
    match rng.below(10) {
        0..=6 => 1 + rng.below(8),
        7 | 8 => match rng.below(2) {
            0 => 9 + rng.below(0x100 - 9),
            _ => 0x103 + rng.below(0x1000),
        },
        _ => loop {
            let n = rng.next();
            if !(0x100..=0x102).contains(&n) {
                break n;
            }
        },
    }
}

fn small_or_random(rng: &mut Rng, small: u64) -> u64 {
    match rng.below(10) {
        0..=6 => rng.below(small),
        7 | 8 => rng.below(64),
        _ => rng.next(),
    }
}

/// The fuzzer's main loop, in its own address space; `argument` is the
/// address of the shared page there.
fn fuzz_main(shared_page: u64) {
    let shared = shared_page as *mut u64;
    // SAFETY: the root task mapped the shared page read-write at this
    // address before starting us; words are accessed volatile because the
    // root task reads them concurrently.
    let (seed, count) = unsafe {
        (
            core::ptr::read_volatile(shared.add(word::SEED)),
            core::ptr::read_volatile(shared.add(word::COUNT)),
        )
    };
    let mut rng = Rng::new(seed);
    let buffer = IpcBuffer::current();
    let labels = InvocationLabel::ALL;
    for done in 1..=count {
        let number = pick_number(&mut rng);
        let cptr = small_or_random(&mut rng, 16);
        let message_info = if rng.chance(60) {
            let label = labels[rng.below(labels.len() as u64) as usize] as u64;
            MessageInfo::new(label, 0, rng.below(4), rng.below(8)).0
        } else {
            rng.next()
        };
        let mrs = [
            small_or_random(&mut rng, 32),
            small_or_random(&mut rng, 70),
            small_or_random(&mut rng, 16),
            rng.next(),
        ];
        for index in 4..8 {
            buffer.set_msg(index, small_or_random(&mut rng, 70));
        }
        for index in 0..3 {
            buffer.set_cap(index, small_or_random(&mut rng, 16));
        }
        if rng.chance(20) {
            buffer.set_receive_path(
                small_or_random(&mut rng, 8),
                small_or_random(&mut rng, 32),
                small_or_random(&mut rng, 65),
            );
        }
        syscall::raw_syscall6(number, cptr, message_info, mrs);
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(shared.add(word::PROGRESS), done) };
    }
}

/// Builds the fuzzer's process and the heartbeat, runs the campaign, and
/// reports. True when it passed.
pub fn run(env: &mut Env, seed: u64, count: u64) -> bool {
    println!("fuzz: seed {seed}, {count} calls");
    match campaign(env, seed, count) {
        Ok(summary) => {
            println!("fuzz: {}", summary.as_str());
            println!("ktest: PASS syscall_fuzz");
            println!("ktest: 1 passed, 0 failed");
            true
        }
        Err(why) => {
            println!("ktest: FAIL syscall_fuzz: {}", why.as_str());
            println!("ktest: 0 passed, 1 failed");
            false
        }
    }
}

/// One fuzzer: its process, its thread, the root task's view of the page
/// it counts its calls in, and how the root task is keeping track of it.
struct Fuzzer {
    tcb: cap::Tcb,
    core: u64,
    shared: *mut u64,
    count: u64,
    last: u64,
    idle_ticks: u32,
    futile_kicks: u32,
}

impl Fuzzer {
    fn progress(&self) -> u64 {
        // SAFETY: `shared` is the root task's read-write mapping of the page
        // the fuzzer writes its progress to; read volatile because the
        // fuzzer writes it concurrently.
        unsafe { core::ptr::read_volatile(self.shared.add(word::PROGRESS)) }
    }

    fn done(&self) -> bool {
        self.progress() >= self.count
    }
}

/// The objects every fuzzer shares, so that their calls meet across cores:
/// one endpoint (also handed out with a badge) and one notification.
struct SharedObjects {
    endpoint: u64,
    notification: u64,
}

/// Builds fuzzer `index`'s process on `core`, with `count` calls from
/// `seed`, and starts it.
fn start_fuzzer(
    env: &mut Env,
    shared_objects: &SharedObjects,
    seed: u64,
    count: u64,
    core: u64,
) -> Result<Fuzzer, crate::framework::Why> {
    use crate::framework::Check;
    let mut p = Process::new(env).ctx("building a fuzzer's address space")?;
    let (root_page, process_page) = p.share_page(env).ctx("sharing a page")?;
    let shared = root_page as *mut u64;
    // SAFETY: the shared page is mapped read-write at `root_page`.
    unsafe {
        core::ptr::write_volatile(shared.add(word::SEED), seed);
        core::ptr::write_volatile(shared.add(word::COUNT), count);
    }
    let cnode = p.cnode;
    let give = |dest: u64, src: u64, badge: u64| {
        cnode.cnode_mint(
            dest,
            process::CNODE_BITS,
            env.root.cnode,
            src,
            FULL_DEPTH,
            CapRights::ALL,
            badge,
        )
    };
    give(process::slot::ENDPOINT, shared_objects.endpoint, 0).ctx("endpoint")?;
    give(process::slot::NOTIFICATION, shared_objects.notification, 0).ctx("notification")?;
    give(process::slot::FREE + 3, shared_objects.endpoint, 0x5).ctx("badged endpoint")?;
    let free = process::slot::FREE;
    let retype = |object: ObjectType, size_bits: u64, slot: u64| {
        env.pool.cap.untyped_retype(
            object,
            size_bits,
            env.root.cnode,
            cnode.cptr(),
            FULL_DEPTH,
            slot,
            1,
        )
    };
    retype(ObjectType::Untyped, 16, free).ctx("untyped for the fuzzer")?;
    retype(ObjectType::Tcb, 0, free + 1).ctx("victim TCB")?;
    retype(ObjectType::Frame4K, 0, free + 2).ctx("frame")?;
    let tcb = p
        .spawn(env, fuzz_main, process_page, WORKER_PRIORITY, 0)
        .ctx("starting a fuzzer")?;
    tcb.tcb_set_affinity(core)
        .ctx("moving a fuzzer to its core")?;
    Ok(Fuzzer {
        tcb,
        core,
        shared,
        count,
        last: 0,
        idle_ticks: 0,
        futile_kicks: 0,
    })
}

/// The largest number of fuzzers: one per core, and the kernel runs on at
/// most this many.
const MAX_FUZZERS: usize = ward_abi::kstats::MAX_CPUS;

fn campaign(
    env: &mut Env,
    seed: u64,
    count: u64,
) -> Result<crate::framework::Why, crate::framework::Why> {
    use crate::framework::{Check, Why};
    env.root
        .tcb
        .tcb_set_priority(env.root.tcb, ROOT_PRIORITY)
        .ctx("root priority")?;

    // The heartbeat and the root task stay on core 0, where the pair's
    // round trips take the fast path (across cores each takes two IPIs,
    // and the kicks wait for heartbeats). On several cores a fuzzer runs
    // on every other core, so fuzzers' calls meet each other's in the
    // shared endpoint and notification across cores, and the heartbeat's,
    // the root task's and the kicks' on the kernel lock and in cross-core
    // calls. On one core a single fuzzer shares core 0.
    let cores = crate::cases::smp::cores(env);
    let heart = new_endpoint(env);
    let tick = new_notification(env);
    threads::spawn(env, pong, pack(&[heart.cptr()]), WORKER_PRIORITY).ctx("pong")?;
    threads::spawn(
        env,
        ping,
        pack(&[heart.cptr(), tick.cptr()]),
        WORKER_PRIORITY,
    )
    .ctx("ping")?;

    let shared_objects = SharedObjects {
        endpoint: new_endpoint(env).cptr(),
        notification: new_notification(env).cptr(),
    };
    let fuzzer_cores = if cores > 1 { 1..cores } else { 0..1 };
    let fuzzer_count = fuzzer_cores.clone().count() as u64;
    let mut fuzzers: heapless::Vec<Fuzzer, MAX_FUZZERS> = heapless::Vec::new();
    for (index, core) in fuzzer_cores.enumerate() {
        let index = index as u64;
        // Fuzzer 0 keeps the campaign's seed, so one-core runs repeat
        // earlier campaigns; the first takes the calls that do not divide.
        let calls = count / fuzzer_count + if index == 0 { count % fuzzer_count } else { 0 };
        let fuzzer_seed = seed.wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let fuzzer = start_fuzzer(env, &shared_objects, fuzzer_seed, calls, core)?;
        if fuzzers.push(fuzzer).is_err() {
            return Err(Why::new(format_args!("more than {MAX_FUZZERS} fuzzers")));
        }
    }
    if cores > 1 {
        println!(
            "fuzz: {cores} cores: the heartbeat on core 0, {fuzzer_count} fuzzers on cores 1 to {}",
            cores - 1
        );
    }

    let mut kicks = 0u64;
    let start = crate::cases::rdtsc();
    while !fuzzers.iter().all(Fuzzer::done) {
        tick.wait().ctx("waiting for a heartbeat")?;
        if get(1) != 0 {
            return Err(Why::new(format_args!(
                "the heartbeat got a wrong answer after {} round trips",
                get(0)
            )));
        }
        for fuzzer in fuzzers.iter_mut().filter(|fuzzer| !fuzzer.done()) {
            let now = fuzzer.progress();
            if now != fuzzer.last {
                fuzzer.last = now;
                fuzzer.idle_ticks = 0;
                fuzzer.futile_kicks = 0;
                continue;
            }
            fuzzer.idle_ticks += 1;
            if fuzzer.idle_ticks < TICKS_BEFORE_KICK {
                continue;
            }
            fuzzer.idle_ticks = 0;
            fuzzer.futile_kicks += 1;
            kicks += 1;
            if fuzzer.futile_kicks == MAX_FUTILE_KICKS / 10 {
                println!(
                    "fuzz: NOTE: {} kicks in a row without progress of the fuzzer on core {}, at its call {now}",
                    fuzzer.futile_kicks, fuzzer.core
                );
            }
            if fuzzer.futile_kicks > MAX_FUTILE_KICKS {
                return Err(Why::new(format_args!(
                    "the fuzzer on core {} stopped at its call {now} and kicks do not move it",
                    fuzzer.core
                )));
            }
            let _ = fuzzer.tcb.tcb_suspend();
            let _ = fuzzer.tcb.tcb_resume();
        }
    }
    let cycles = crate::cases::rdtsc() - start;
    for fuzzer in &fuzzers {
        let _ = fuzzer.tcb.tcb_suspend();
    }
    let beats_at_end = get(0);
    // The heartbeat must still be alive after the campaign.
    for _ in 0..2 {
        tick.wait()
            .ctx("waiting for a heartbeat after the campaign")?;
    }
    if get(0) <= beats_at_end || get(1) != 0 {
        return Err(Why::new(format_args!(
            "the heartbeat stopped after the campaign"
        )));
    }
    Ok(Why::new(format_args!(
        "{count} random calls by {fuzzer_count} fuzzer(s), each in its own VSpace and CSpace, done in {cycles} TSC cycles; {} heartbeat round trips; fuzzers were kicked out of a blocking call {kicks} times; kernel alive",
        get(0)
    )))
}
