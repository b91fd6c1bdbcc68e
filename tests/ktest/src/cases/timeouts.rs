//! Timed receives (`RecvUntil`) and CPU-time accounting: a deadline ends a
//! wait with `TimedOut` and never early; a signal or message before the
//! deadline wins; a past deadline gives up at once unless something is
//! pending; a thread whose timed wait is cut short by suspension or
//! destruction leaves the timeout queue in order; `TcbGetCpuTime` grows
//! with the work a thread does.

use ward_userlib::cap::{self, Cap};
use ward_userlib::{message, syscall, CapRights, Error};

use super::cnode::ABOVE_ROOT;
use super::{get, new_endpoint, new_notification, rdtsc, set};
use crate::ensure;
use crate::env::Env;
use crate::framework::{Case, Check, Outcome};
use crate::threads::{self, pack, unpack};

pub static CASES: &[Case] = &[
    Case {
        name: "deadline_ends_a_wait_with_timed_out",
        run: deadline_ends_a_wait_with_timed_out,
    },
    Case {
        name: "signal_before_the_deadline_wins",
        run: signal_before_the_deadline_wins,
    },
    Case {
        name: "past_deadline_returns_at_once",
        run: past_deadline_returns_at_once,
    },
    Case {
        name: "message_before_the_deadline_wins",
        run: message_before_the_deadline_wins,
    },
    Case {
        name: "timed_waiters_expire_in_deadline_order",
        run: timed_waiters_expire_in_deadline_order,
    },
    Case {
        name: "suspended_and_destroyed_timed_waiters_are_forgotten",
        run: suspended_and_destroyed_timed_waiters_are_forgotten,
    },
    Case {
        name: "cpu_time_grows_with_work",
        run: cpu_time_grows_with_work,
    },
];

/// Shared word holding TSC ticks per millisecond, for the helpers.
const TICKS_PER_MS_WORD: usize = 15;

/// TSC ticks per millisecond, from the boot info; also left in a shared word
/// for the helpers.
fn ticks_per_ms(env: &Env) -> u64 {
    let ms = (env.info.platform.tsc_hz / 1000).max(1);
    set(TICKS_PER_MS_WORD, ms);
    // Every case here waits at most 12 ms for deadlines; give the watchdog
    // a wide margin (emulated time can stall) before it calls a deadlock.
    crate::framework::quiet_until(rdtsc() + QUIET_MS * ms);
    ms
}

/// How long the cases may leave every thread blocked, waiting for deadlines.
const QUIET_MS: u64 = 500;

/// Helper: a timed receive on `unpack(0)` with a deadline `unpack(1)`
/// milliseconds from now; records (error code | 0x1000, or the badge) in shared
/// word `unpack(2)`, the TSC when it returned in word `unpack(2) + 4`, and
/// signals `unpack(3)` if non-zero.
fn timed_receiver(argument: u64) {
    let report = unpack(argument, 2) as usize;
    let deadline = rdtsc() + unpack(argument, 1) * get(TICKS_PER_MS_WORD);
    set(report + 8, 1);
    let word = match syscall::recv_until(unpack(argument, 0), deadline) {
        Ok(r) => r.badge,
        Err(e) => e.error as u64 | 0x1000,
    };
    set(report, word);
    set(report + 4, rdtsc());
    if unpack(argument, 3) != 0 {
        let _ = syscall::signal(unpack(argument, 3));
    }
}

const TIMED_OUT: u64 = Error::TimedOut as u64 | 0x1000;

fn deadline_ends_a_wait_with_timed_out(env: &mut Env) -> Outcome {
    let n = new_notification(env);
    let done = new_notification(env);
    let ms = ticks_per_ms(env);
    let start = rdtsc();
    threads::spawn(
        env,
        timed_receiver,
        pack(&[n.cptr(), 5, 0, done.cptr()]),
        100,
    )
    .ctx("spawn")?;
    done.wait().ctx("wait for the helper")?;
    ensure!(
        get(0) == TIMED_OUT,
        "the wait ended with {:#x}, not TimedOut",
        get(0)
    );
    let waited = get(4) - start;
    ensure!(
        waited >= 5 * ms,
        "the wait ended early: {} of 5 ms",
        waited / ms
    );
    Ok(())
}

fn signal_before_the_deadline_wins(env: &mut Env) -> Outcome {
    let n = new_notification(env);
    let badged = env.mint(n.cptr(), CapRights::ALL, 0x20).ctx("mint")?;
    ticks_per_ms(env);
    threads::spawn(
        env,
        timed_receiver,
        pack(&[n.cptr(), 1000, 0, 0]),
        ABOVE_ROOT,
    )
    .ctx("spawn")?;
    ensure!(get(8) == 1 && get(0) == 0, "the helper did not block");
    Cap::<cap::cap_type::Notification>::from_cptr(badged)
        .signal()
        .ctx("signal")?;
    ensure!(
        get(0) == 0x20,
        "the helper woke with {:#x}, expected 0x20",
        get(0)
    );
    Ok(())
}

fn past_deadline_returns_at_once(env: &mut Env) -> Outcome {
    let n = new_notification(env);
    let badged = env.mint(n.cptr(), CapRights::ALL, 0x4).ctx("mint")?;
    // Nothing pending: TimedOut at once.
    let result = syscall::recv_until(n.cptr(), 1);
    ensure!(
        matches!(result, Err(e) if e.error == Error::TimedOut),
        "a past deadline gave {result:?}"
    );
    // Something pending: it is delivered, deadline or not.
    Cap::<cap::cap_type::Notification>::from_cptr(badged)
        .signal()
        .ctx("signal")?;
    let word = syscall::recv_until(n.cptr(), 1).ctx("recv_until with a signal pending")?;
    ensure!(word.badge == 0x4, "got {:#x}, expected 0x4", word.badge);
    Ok(())
}

fn message_before_the_deadline_wins(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let badged = env.mint(ep.cptr(), CapRights::ALL, 0x77).ctx("mint")?;
    ticks_per_ms(env);
    threads::spawn(
        env,
        timed_receiver,
        pack(&[ep.cptr(), 1000, 0, 0]),
        ABOVE_ROOT,
    )
    .ctx("spawn")?;
    ensure!(get(8) == 1, "the helper did not block");
    Cap::<cap::cap_type::Endpoint>::from_cptr(badged)
        .send(message::info(1, 0), [0; 4])
        .ctx("send")?;
    ensure!(
        get(0) == 0x77,
        "the helper got {:#x}, expected badge 0x77",
        get(0)
    );
    Ok(())
}

fn timed_waiters_expire_in_deadline_order(env: &mut Env) -> Outcome {
    let n1 = new_notification(env);
    let n2 = new_notification(env);
    let done = new_notification(env);
    ticks_per_ms(env);
    // The later deadline starts first.
    threads::spawn(
        env,
        timed_receiver,
        pack(&[n1.cptr(), 12, 0, done.cptr()]),
        100,
    )
    .ctx("spawn late")?;
    threads::spawn(
        env,
        timed_receiver,
        pack(&[n2.cptr(), 4, 1, done.cptr()]),
        100,
    )
    .ctx("spawn early")?;
    while get(0) == 0 || get(1) == 0 {
        done.wait().ctx("wait for the helpers")?;
    }
    ensure!(
        get(0) == TIMED_OUT && get(1) == TIMED_OUT,
        "both must time out"
    );
    ensure!(
        get(5) < get(4),
        "the 4 ms deadline fired after the 12 ms one"
    );
    Ok(())
}

fn suspended_and_destroyed_timed_waiters_are_forgotten(env: &mut Env) -> Outcome {
    let n = new_notification(env);
    let ms = ticks_per_ms(env);
    // 25 ms: far more than spawning, suspending and destroying take, even
    // with four emulated cores sharing a loaded host (with 3 ms, a host that
    // paused the core holding the kernel lock let the deadlines pass first).
    let suspended = threads::spawn(env, timed_receiver, pack(&[n.cptr(), 25, 0, 0]), ABOVE_ROOT)
        .ctx("spawn")?;
    let destroyed = threads::spawn(env, timed_receiver, pack(&[n.cptr(), 25, 1, 0]), ABOVE_ROOT)
        .ctx("spawn")?;
    suspended.tcb.tcb_suspend().ctx("suspend")?;
    env.root
        .cnode
        .cnode_delete(destroyed.tcb.cptr(), cap::FULL_DEPTH)
        .ctx("destroy")?;
    // Let both deadlines pass: the queue must not touch the suspended
    // thread (nor the destroyed one's memory) when they do.
    let until = rdtsc() + 40 * ms;
    while rdtsc() < until {
        syscall::yield_now();
    }
    ensure!(
        get(0) == 0 && get(1) == 0,
        "a forgotten waiter woke ({:#x}, {:#x})",
        get(0),
        get(1)
    );
    // A later timed wait of our own still works.
    let result = syscall::recv_until(n.cptr(), rdtsc() + 2 * ms);
    ensure!(
        matches!(result, Err(e) if e.error == Error::TimedOut),
        "our own timed wait gave {result:?}"
    );
    Ok(())
}

fn cpu_time_grows_with_work(env: &mut Env) -> Outcome {
    let root = env.root.tcb;
    let before = root.tcb_get_cpu_time().ctx("cpu time")?;
    let until = rdtsc() + 2 * ticks_per_ms(env);
    while rdtsc() < until {
        core::hint::spin_loop();
    }
    let after = root.tcb_get_cpu_time().ctx("cpu time again")?;
    ensure!(
        after >= before + ticks_per_ms(env),
        "2 ms of work added only {} ticks of CPU time",
        after - before
    );
    Ok(())
}
