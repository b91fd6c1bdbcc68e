//! `test=fuzz seed=N count=N`: bounded random syscalls from an
//! unprivileged thread, while other threads keep working.
//!
//! The fuzzer runs in its own address space and CSpace (see `process`)
//! holding only: an endpoint, a notification, its own CNode, a 64 KiB
//! untyped, an unconfigured TCB, an unmapped frame and a badged endpoint.
//! Where the kernel cannot yet run a thread in a second address space (see
//! docs/kernel.md, "Not implemented yet, and known gaps"), the fuzzer keeps
//! its own CSpace but shares the root task's VSpace, and the run says so:
//! its syscalls still reach only its own capabilities.
//! It has no fault endpoint, so bad lookups and unknown syscalls come back
//! as errors. Each call picks a syscall number (mostly real ones, some
//! unknown, never the debug calls, which could end the run), a CPtr (mostly
//! small, so it often names a real capability), a message info (often a
//! real invocation label with a plausible length) and random registers and
//! IPC-buffer words. Progress is counted in a page shared with the root task.
//!
//! Meanwhile a heartbeat pair of threads in the root task's address space
//! does Call/ReplyRecv round trips and signals the root task every 64 of
//! them. On each heartbeat the root task checks the fuzzer's progress; a
//! fuzzer blocked in a receive or a send that nobody answers is kicked
//! (suspended and resumed, which aborts the blocking call). The run passes
//! when the fuzzer completed `count` calls, the heartbeat kept going to the
//! end, and the kernel never stopped (a kernel panic ends the run with its
//! own status, which the scenario rejects).

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
    let (page, fuzzer_cnode, own_vspace) = match fuzzer_address_space(env) {
        Ok((root_page, process_page, p)) => (root_page, Some((process_page, p)), true),
        Err(why) => {
            println!(
                "fuzz: NOTE: no second address space ({}); the fuzzer gets its own CSpace but shares the root task's VSpace",
                why.as_str()
            );
            let (_, root_page) = env.new_page();
            (root_page, None, false)
        }
    };
    let shared = page as *mut u64;
    // SAFETY: the shared page is mapped read-write at `page`.
    unsafe {
        core::ptr::write_volatile(shared.add(word::SEED), seed);
        core::ptr::write_volatile(shared.add(word::COUNT), count);
    }
    let cnode = match &fuzzer_cnode {
        Some((_, p)) => p.cnode,
        None => {
            let cnode = env.alloc_cnode(process::CNODE_BITS);
            cnode
                .cnode_mint(
                    process::slot::CNODE,
                    process::CNODE_BITS,
                    env.root.cnode,
                    cnode.cptr(),
                    FULL_DEPTH,
                    CapRights::ALL,
                    process::CNODE_GUARD_DATA,
                )
                .ctx("the fuzzer's CNode capability to itself")?;
            cnode
        }
    };
    // The fuzzer's capabilities.
    let sink = new_endpoint(env);
    let note = new_notification(env);
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
    give(process::slot::ENDPOINT, sink.cptr(), 0).ctx("endpoint")?;
    give(process::slot::NOTIFICATION, note.cptr(), 0).ctx("notification")?;
    give(process::slot::FREE + 3, sink.cptr(), 0x5).ctx("badged endpoint")?;
    let free = process::slot::FREE;
    env.pool
        .cap
        .untyped_retype(
            ObjectType::Untyped,
            16,
            env.root.cnode,
            cnode.cptr(),
            FULL_DEPTH,
            free,
            1,
        )
        .ctx("untyped for the fuzzer")?;
    env.pool
        .cap
        .untyped_retype(
            ObjectType::Tcb,
            0,
            env.root.cnode,
            cnode.cptr(),
            FULL_DEPTH,
            free + 1,
            1,
        )
        .ctx("victim TCB")?;
    env.pool
        .cap
        .untyped_retype(
            ObjectType::Frame4K,
            0,
            env.root.cnode,
            cnode.cptr(),
            FULL_DEPTH,
            free + 2,
            1,
        )
        .ctx("frame")?;

    // The heartbeat. On several cores the fuzzer runs alone on the last
    // one, so its calls (and the kicks that stop it there) meet the
    // heartbeat's and the root task's on the kernel lock and in cross-core
    // calls; the heartbeat pair stays on core 0, where its round trips take
    // the fast path (across cores each takes two IPIs, and the kicks wait
    // for heartbeats).
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

    let in_process = match fuzzer_cnode {
        Some((process_page, mut p)) => {
            match p.spawn(env, fuzz_main, process_page, WORKER_PRIORITY, 0) {
                Ok(tcb) => Some(tcb),
                Err(e) => {
                    println!(
                    "fuzz: NOTE: no thread in a second address space ({e}); the fuzzer keeps its own CSpace but shares the root task's VSpace"
                );
                    None
                }
            }
        }
        None => None,
    };
    let own_vspace = own_vspace && in_process.is_some();
    let fuzzer: cap::Tcb = match in_process {
        Some(tcb) => tcb,
        None => {
            let thread =
                threads::create_in(env, cnode, process::CNODE_GUARD_DATA, 0, WORKER_PRIORITY)
                    .ctx("creating the fuzzer")?;
            threads::prepare(&thread, fuzz_main, page).ctx("preparing the fuzzer")?;
            thread.tcb.tcb_resume().ctx("starting the fuzzer")?;
            thread.tcb
        }
    };
    let fuzzer_core = cores - 1;
    fuzzer
        .tcb_set_affinity(fuzzer_core)
        .ctx("moving the fuzzer to the last core")?;
    if cores > 1 {
        println!("fuzz: {cores} cores: the heartbeat on core 0, the fuzzer on core {fuzzer_core}");
    }
    let progress = || {
        // SAFETY: as above.
        unsafe { core::ptr::read_volatile(shared.add(word::PROGRESS)) }
    };
    let mut last = 0;
    let mut idle_ticks = 0;
    let mut futile_kicks = 0;
    let mut kicks = 0u64;
    let start = crate::cases::rdtsc();
    while progress() < count {
        tick.wait().ctx("waiting for a heartbeat")?;
        if get(1) != 0 {
            return Err(Why::new(format_args!(
                "the heartbeat got a wrong answer after {} round trips",
                get(0)
            )));
        }
        let now = progress();
        if now != last {
            last = now;
            idle_ticks = 0;
            futile_kicks = 0;
            continue;
        }
        idle_ticks += 1;
        if idle_ticks >= TICKS_BEFORE_KICK {
            idle_ticks = 0;
            futile_kicks += 1;
            kicks += 1;
            if futile_kicks == MAX_FUTILE_KICKS / 10 {
                println!(
                    "fuzz: NOTE: {futile_kicks} kicks in a row without progress, at call {now}"
                );
            }
            if futile_kicks > MAX_FUTILE_KICKS {
                return Err(Why::new(format_args!(
                    "the fuzzer stopped at call {now} and kicks do not move it"
                )));
            }
            let _ = fuzzer.tcb_suspend();
            let _ = fuzzer.tcb_resume();
        }
    }
    let cycles = crate::cases::rdtsc() - start;
    let beats_at_end = get(0);
    // The heartbeat must still be alive after the campaign.
    for _ in 0..2 {
        tick.wait()
            .ctx("waiting for a heartbeat after the campaign")?;
    }
    let _ = fuzzer.tcb_suspend();
    if get(0) <= beats_at_end || get(1) != 0 {
        return Err(Why::new(format_args!(
            "the heartbeat stopped after the campaign"
        )));
    }
    Ok(Why::new(format_args!(
        "{count} random calls done in {cycles} TSC cycles ({}); {} heartbeat round trips; the fuzzer was kicked out of a blocking call {kicks} times; kernel alive",
        if own_vspace { "own VSpace" } else { "shared VSpace" },
        get(0)
    )))
}

/// The fuzzer's own address space with a page shared with the root task:
/// (root address, fuzzer address, process).
fn fuzzer_address_space(env: &mut Env) -> Result<(u64, u64, Process), crate::framework::Why> {
    use crate::framework::Check;
    let mut p = Process::new(env).ctx("building the address space")?;
    let (root_page, process_page) = p.share_page(env).ctx("sharing a page")?;
    Ok((root_page, process_page, p))
}
