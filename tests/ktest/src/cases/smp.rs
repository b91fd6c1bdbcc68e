//! Multicore: thread affinity, IPC and notifications between cores, stopping
//! a thread that runs on another core, and TLB shootdown.
//!
//! Every case runs on any number of cores: with one, the "other" core is
//! core 0 and the helpers share it with the root task (at its priority, so
//! the root task's polling yields let them run). A thread learns which core
//! it is on from `rdtscp` (the kernel keeps the core index in TSC_AUX).
//!
//! The root task waits for helpers on other cores by polling shared words
//! (bounded by a deadline) rather than blocking: the watchdog on core 0
//! would take a block for a deadlock. Where it must block (a fault to
//! receive, a call to a server elsewhere), it tells the watchdog first.

use core::sync::atomic::{AtomicU64, Ordering};

use ward_userlib::cap::{self, Cap, VmAttributes};
use ward_userlib::fault::Fault;
use ward_userlib::ipc_buffer::IpcBuffer;
use ward_userlib::message::info;
use ward_userlib::{syscall, CapRights, Error};

use super::{get, new_endpoint, new_notification, rdtsc, set};
use crate::env::Env;
use crate::framework::{quiet_until, Case, Check, Outcome};
use crate::threads::{self, pack, unpack, ROOT_PRIORITY};
use crate::{ensure, fail};

pub static CASES: &[Case] = &[
    Case {
        name: "affinity_outside_the_cores_is_refused",
        run: affinity_outside_the_cores_is_refused,
    },
    Case {
        name: "threads_run_on_their_core",
        run: threads_run_on_their_core,
    },
    Case {
        name: "affinity_moves_a_running_thread",
        run: affinity_moves_a_running_thread,
    },
    Case {
        name: "call_to_a_server_on_another_core",
        run: call_to_a_server_on_another_core,
    },
    Case {
        name: "signal_wakes_a_waiter_on_another_core",
        run: signal_wakes_a_waiter_on_another_core,
    },
    Case {
        name: "suspend_stops_a_thread_running_elsewhere",
        run: suspend_stops_a_thread_running_elsewhere,
    },
    Case {
        name: "shootdown_never_reads_a_stale_page",
        run: shootdown_never_reads_a_stale_page,
    },
];

/// The core this thread runs on (TSC_AUX, through `rdtscp`).
pub fn this_core() -> u64 {
    let aux: u32;
    // SAFETY: `rdtscp` reads the TSC and TSC_AUX; it writes only the
    // registers named here.
    unsafe {
        core::arch::asm!("rdtscp", out("eax") _, out("edx") _, out("ecx") aux,
            options(nomem, nostack, preserves_flags))
    };
    u64::from(aux)
}

/// Cores the kernel runs on.
pub fn cores(env: &Env) -> u64 {
    u64::from(env.info.platform.cpus).max(1)
}

/// The last core: "another core" when there are several, else core 0.
fn other_core(env: &Env) -> u64 {
    cores(env) - 1
}

/// Polls until `done()` holds or `millis` ms pass, yielding between polls
/// (so a helper of the root task's priority on the root task's core runs).
fn wait_until(env: &Env, millis: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = rdtsc() + millis * env.info.platform.tsc_hz / 1000;
    while rdtsc() < deadline {
        if done() {
            return true;
        }
        syscall::yield_now();
    }
    done()
}

/// Tells the watchdog the root task may block for up to `millis` ms.
fn may_block(env: &Env, millis: u64) {
    quiet_until(rdtsc() + millis * env.info.platform.tsc_hz / 1000);
}

/// Helper: records its core (plus one) in word `unpack(0)`.
fn core_reporter(argument: u64) {
    set(unpack(argument, 0) as usize, this_core() + 1);
}

/// Helper: until word 15 is set, counts in word 0 and records its core
/// (plus one) in word 1.
fn counting_spinner(_: u64) {
    while get(15) == 0 {
        set(1, this_core() + 1);
        super::add(0, 1);
    }
}

fn affinity_outside_the_cores_is_refused(env: &mut Env) -> Outcome {
    let thread = threads::create(env, 0, ROOT_PRIORITY).ctx("create")?;
    let cores = cores(env);
    for core in [cores, cores + 1, 16, u64::MAX] {
        let e = thread
            .tcb
            .tcb_set_affinity(core)
            .want_err(Error::RangeError, "affinity past the last core")?;
        ensure!(
            e.valid_range() == Some((0, cores - 1)),
            "affinity {core}: range {:?}, expected 0..={}",
            e.valid_range(),
            cores - 1
        );
    }
    thread
        .tcb
        .tcb_set_affinity(cores - 1)
        .ctx("the last core")?;
    // Moving a thread needs the Write right on its TCB.
    let read_only: cap::Tcb = Cap::from_cptr(
        env.copy(thread.tcb.cptr(), CapRights::READ)
            .ctx("copy read-only")?,
    );
    read_only
        .tcb_set_affinity(0)
        .want_err(Error::InvalidCapability, "affinity without the write right")?;
    Ok(())
}

fn threads_run_on_their_core(env: &mut Env) -> Outcome {
    let cores = cores(env).min(8);
    for core in 0..cores {
        threads::spawn_on(env, core_reporter, pack(&[core]), ROOT_PRIORITY, 0, core)
            .ctx("spawn")?;
    }
    let all = wait_until(env, 2000, || (0..cores).all(|c| get(c as usize) != 0));
    ensure!(all, "not every helper ran within 2 s");
    for core in 0..cores {
        ensure!(
            get(core as usize) == core + 1,
            "the helper for core {core} ran on core {}",
            get(core as usize) as i64 - 1
        );
    }
    Ok(())
}

fn affinity_moves_a_running_thread(env: &mut Env) -> Outcome {
    let from = other_core(env);
    let spinner =
        threads::spawn_on(env, counting_spinner, 0, ROOT_PRIORITY, 0, from).ctx("spawn")?;
    ensure!(
        wait_until(env, 2000, || get(1) == from + 1),
        "the spinner did not run on core {from} (word 1 = {})",
        get(1)
    );
    // To core 0 (from the last core), or to nowhere new on one core.
    spinner.tcb.tcb_set_affinity(0).ctx("move to core 0")?;
    set(1, 0);
    ensure!(
        wait_until(env, 2000, || get(1) == 1),
        "after the move the spinner ran on core {}",
        get(1) as i64 - 1
    );
    let counted = get(0);
    ensure!(
        wait_until(env, 2000, || get(0) > counted),
        "the moved spinner stopped counting"
    );
    set(15, 1);
    Ok(())
}

/// Helper: a server on endpoint `unpack(0)` for `unpack(1)` calls, answering
/// word 0 + 1 and its core; records its core in word 2.
fn server_reporting_core(argument: u64) {
    let (ep, count) = (unpack(argument, 0), unpack(argument, 1));
    let Ok(mut request) = syscall::recv(ep) else {
        return;
    };
    set(2, this_core() + 1);
    for served in 1..=count {
        let answer = [request.mrs[0] + 1, this_core(), 0, 0];
        if served == count {
            let _ = syscall::reply(info(0, 2), answer);
            return;
        }
        match syscall::reply_recv(ep, info(0, 2), answer) {
            Ok(next) => request = next,
            Err(_) => return,
        }
    }
}

fn call_to_a_server_on_another_core(env: &mut Env) -> Outcome {
    const CALLS: u64 = 500;
    let core = other_core(env);
    let ep = new_endpoint(env);
    threads::spawn_on(
        env,
        server_reporting_core,
        pack(&[ep.cptr(), CALLS]),
        ROOT_PRIORITY,
        0,
        core,
    )
    .ctx("spawn the server")?;
    may_block(env, 5000);
    for n in 0..CALLS {
        let reply = syscall::call(ep.cptr(), info(0, 1), [n, 0, 0, 0]).ctx("call")?;
        ensure!(
            reply.mrs[0] == n + 1 && reply.mrs[1] == core,
            "call {n}: answer {} from core {}, expected {} from core {core}",
            reply.mrs[0],
            reply.mrs[1],
            n + 1
        );
    }
    ensure!(
        get(2) == core + 1,
        "the server ran on core {}",
        get(2) as i64 - 1
    );
    Ok(())
}

/// Helper: waits on notification `unpack(0)` `unpack(1)` times, counting
/// the wake-ups in word 0 and recording its core in word 1.
fn counting_waiter(argument: u64) {
    for _ in 0..unpack(argument, 1) {
        if syscall::wait(unpack(argument, 0)).is_err() {
            return;
        }
        set(1, this_core() + 1);
        super::add(0, 1);
    }
}

fn signal_wakes_a_waiter_on_another_core(env: &mut Env) -> Outcome {
    const SIGNALS: u64 = 300;
    let core = other_core(env);
    let n = new_notification(env);
    // Above the root task: on one core it runs as soon as it is signalled.
    threads::spawn_on(
        env,
        counting_waiter,
        pack(&[n.cptr(), SIGNALS]),
        ROOT_PRIORITY + 10,
        0,
        core,
    )
    .ctx("spawn")?;
    for k in 1..=SIGNALS {
        syscall::signal(n.cptr()).ctx("signal")?;
        ensure!(
            wait_until(env, 2000, || get(0) == k),
            "signal {k}: the waiter on core {core} woke {} times",
            get(0)
        );
    }
    ensure!(
        get(1) == core + 1,
        "the waiter ran on core {}",
        get(1) as i64 - 1
    );
    Ok(())
}

fn suspend_stops_a_thread_running_elsewhere(env: &mut Env) -> Outcome {
    let core = other_core(env);
    let spinner =
        threads::spawn_on(env, counting_spinner, 0, ROOT_PRIORITY, 0, core).ctx("spawn")?;
    ensure!(
        wait_until(env, 2000, || get(0) > 1000),
        "the spinner did not run"
    );
    spinner.tcb.tcb_suspend().ctx("suspend")?;
    // Suspend returns once the thread no longer runs anywhere: the count
    // must not move from here on.
    let stopped_at = get(0);
    let moved = wait_until(env, 20, || get(0) != stopped_at);
    ensure!(
        !moved,
        "the spinner counted on after suspend returned ({stopped_at} -> {})",
        get(0)
    );
    // Its registers are its own, saved where it stopped: inside the spinner.
    let rip = spinner
        .tcb
        .tcb_read_registers(false, cap::UserContext::WORDS as u64)
        .ctx("read registers")?
        .rip;
    ensure!(
        rip != 0 && rip < ward_abi::layout::USER_TOP,
        "the stopped spinner's rip is {rip:#x}"
    );
    spinner.tcb.tcb_resume().ctx("resume")?;
    ensure!(
        wait_until(env, 2000, || get(0) > stopped_at),
        "the resumed spinner does not count"
    );
    set(15, 1);
    Ok(())
}

/// Tags a value the root task writes into the frame after unmapping it: a
/// reader that sees it read through a stale translation.
const STALE: u64 = 0x5741_4c45_0000_0000;

/// The page the shootdown reader reads (set by the case before it starts).
static READ_ADDRESS: AtomicU64 = AtomicU64::new(0);

/// Helper: reads the page at `READ_ADDRESS` in a tight loop (yielding
/// after each read when `argument` is 1: it shares the root task's core).
/// Word 0: the last fresh value seen; word 1: any stale value seen; stops
/// at word 15.
fn page_reader(argument: u64) {
    let address = READ_ADDRESS.load(Ordering::Relaxed) as *const u64;
    while get(15) == 0 {
        // SAFETY: the address is a page of this address space that the root
        // task maps and unmaps; an access while it is unmapped faults, and
        // the fault handler (the root task) maps it again and resumes here.
        let value = unsafe { core::ptr::read_volatile(address) };
        if value & STALE == STALE {
            set(1, value);
        } else {
            set(0, value);
        }
        if argument == 1 {
            syscall::yield_now();
        }
    }
}

fn shootdown_never_reads_a_stale_page(env: &mut Env) -> Outcome {
    // Thousands of map, read, unmap, overwrite rounds: a missing or late
    // shootdown shows as a stale read or as a read that does not fault.
    const ROUNDS: u64 = 3000;
    let core = other_core(env);
    let fault_ep = new_endpoint(env);
    let badged = env
        .mint(fault_ep.cptr(), CapRights::ALL, 0x77)
        .ctx("mint the fault endpoint")?;
    // The frame: the root task's own view of it (written each round), and
    // a second capability to it for the mapping the reader reads.
    let (frame, alias) = env.new_page();
    let mapped: cap::Frame4K = Cap::from_cptr(
        env.copy(frame.cptr(), CapRights::READ_WRITE)
            .ctx("copy the frame cap")?,
    );
    let target = env.reserve_scratch(1);
    // SAFETY: `alias` is the root task's read-write mapping of the frame.
    let write = |value: u64| unsafe { core::ptr::write_volatile(alias as *mut u64, value) };
    write(1);
    env.map_root(mapped, target, CapRights::READ)
        .ctx("map for the reader")?;
    READ_ADDRESS.store(target, Ordering::Relaxed);
    let shares_core = u64::from(core == 0);
    threads::spawn_on(env, page_reader, shares_core, ROOT_PRIORITY, badged, core).ctx("spawn")?;
    for round in 1..=ROUNDS {
        ensure!(
            wait_until(env, 2000, || get(0) == round),
            "round {round}: the reader never saw the fresh page (word 0 = {:#x})",
            get(0)
        );
        mapped.frame_unmap().ctx("unmap")?;
        // The unmap has returned: no core may reach the frame through the
        // old mapping any more. Give the frame other contents.
        write(STALE | round);
        // The reader's next access must fault. Were a stale translation
        // left on its core, it would read on without faulting (seeing the
        // new contents), and the wait would end at the deadline instead.
        may_block(env, 2000);
        let deadline = rdtsc() + 2 * env.info.platform.tsc_hz;
        let received = match syscall::recv_until(fault_ep.cptr(), deadline) {
            Ok(received) => received,
            Err(e) if e.error == Error::TimedOut => fail!(
                "round {round}: the reader did not fault within 2 s of the unmap (stale value seen: {:#x})",
                get(1)
            ),
            Err(e) => fail!("round {round}: receiving the fault: {e}"),
        };
        let fault = Fault::decode(&received, &IpcBuffer::current());
        ensure!(
            matches!(fault, Fault::VmFault { address, .. } if address == target),
            "round {round}: expected a fault at {target:#x}: {fault}"
        );
        ensure!(
            get(1) == 0,
            "round {round}: the reader read {:#x} through a stale translation",
            get(1)
        );
        write(round + 1);
        mapped
            .frame_map(
                env.root.vspace,
                target,
                CapRights::READ,
                VmAttributes::DEFAULT,
            )
            .ctx("map again")?;
        syscall::reply(info(0, 0), [0; 4]).ctx("resume the reader")?;
    }
    ensure!(
        wait_until(env, 2000, || get(0) == ROUNDS + 1),
        "the reader did not see the last page"
    );
    set(15, 1);
    if get(1) != 0 {
        fail!("a stale read after the last round: {:#x}", get(1));
    }
    Ok(())
}
