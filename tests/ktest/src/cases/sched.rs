//! Scheduling: strict priorities, preemption when a higher-priority thread
//! becomes runnable, round robin between equals by Yield and by the timer.

use ward_userlib::{syscall, CapRights};

use super::cnode::ABOVE_ROOT;
use super::tcb::spinner;
use super::{add, get, new_notification, rdtsc, set, yield_times};
use crate::ensure;
use crate::env::Env;
use crate::framework::{Case, Check, Outcome};
use crate::threads::{self, pack, unpack, ROOT_PRIORITY};

pub static CASES: &[Case] = &[
    Case {
        name: "higher_priority_runs_at_once",
        run: higher_priority_runs_at_once,
    },
    Case {
        name: "lower_priority_waits",
        run: lower_priority_waits,
    },
    Case {
        name: "raising_priority_preempts",
        run: raising_priority_preempts,
    },
    Case {
        name: "spinner_does_not_starve_higher_priority",
        run: spinner_does_not_starve_higher_priority,
    },
    Case {
        name: "round_robin_by_yield",
        run: round_robin_by_yield,
    },
    Case {
        name: "round_robin_by_timer",
        run: round_robin_by_timer,
    },
    Case {
        name: "yield_returns",
        run: yield_returns,
    },
];

/// Helper: sets shared word `unpack(0)` to 1 and signals `unpack(1)` if non-zero.
fn marker(argument: u64) {
    set(unpack(argument, 0) as usize, 1);
    if unpack(argument, 1) != 0 {
        let _ = syscall::signal(unpack(argument, 1));
    }
}

fn higher_priority_runs_at_once(env: &mut Env) -> Outcome {
    threads::spawn(env, marker, pack(&[0, 0]), ABOVE_ROOT).ctx("spawn")?;
    ensure!(
        get(0) == 1,
        "the higher-priority thread had not run when resume returned"
    );
    Ok(())
}

fn lower_priority_waits(env: &mut Env) -> Outcome {
    let done = new_notification(env);
    threads::spawn(env, marker, pack(&[0, done.cptr()]), 100).ctx("spawn")?;
    ensure!(
        get(0) == 0,
        "the lower-priority thread ran while the root task was runnable"
    );
    done.wait().ctx("wait")?;
    ensure!(
        get(0) == 1,
        "the lower-priority thread did not run while the root task waited"
    );
    Ok(())
}

fn raising_priority_preempts(env: &mut Env) -> Outcome {
    let thread = threads::spawn(env, marker, pack(&[0, 0]), 100).ctx("spawn")?;
    ensure!(get(0) == 0, "ran too early");
    thread
        .tcb
        .tcb_set_priority(env.root.tcb, ABOVE_ROOT)
        .ctx("raise")?;
    ensure!(
        get(0) == 1,
        "the raised thread had not run when set_priority returned"
    );
    Ok(())
}

/// Helper: yields 20 times (staying runnable), then records the spinner's
/// count (word 0) in word 1, marks word 2 and signals `unpack(0)`.
fn busy_higher(argument: u64) {
    yield_times(20);
    set(1, get(0));
    set(2, 1);
    let _ = syscall::signal(unpack(argument, 0));
}

fn spinner_does_not_starve_higher_priority(env: &mut Env) -> Outcome {
    let done = new_notification(env);
    threads::spawn(env, spinner, 0, 50).ctx("spawn the spinner")?;
    threads::spawn(env, busy_higher, pack(&[done.cptr()]), 150).ctx("spawn the higher thread")?;
    done.wait().ctx("wait")?;
    ensure!(get(2) == 1, "the higher-priority thread did not finish");
    ensure!(
        get(1) == 0,
        "the lower-priority spinner ran {} times while a higher thread was runnable",
        get(1)
    );
    Ok(())
}

/// Helper: 50 times, adds 1 to word `unpack(0)` and yields; records in word
/// `unpack(0) + 2` the other helper's count when it finished; signals `unpack(1)`.
fn yielder(argument: u64) {
    let (mine, done) = (unpack(argument, 0) as usize, unpack(argument, 1));
    let other = 1 - mine;
    for _ in 0..50 {
        add(mine, 1);
        syscall::yield_now();
    }
    set(mine + 2, get(other));
    let _ = syscall::signal(done);
}

fn round_robin_by_yield(env: &mut Env) -> Outcome {
    let done = new_notification(env);
    let done_a = env.mint(done.cptr(), CapRights::ALL, 1).ctx("mint")?;
    let done_b = env.mint(done.cptr(), CapRights::ALL, 2).ctx("mint")?;
    threads::spawn(env, yielder, pack(&[0, done_a]), 100).ctx("spawn a")?;
    threads::spawn(env, yielder, pack(&[1, done_b]), 100).ctx("spawn b")?;
    let mut seen = 0;
    while seen != 3 {
        seen |= done.wait().ctx("wait")?;
    }
    // Strict alternation leaves the other at 49 or 50 when one finishes.
    ensure!(
        get(2) >= 45 && get(3) >= 45,
        "counts of the other thread at finish: {} and {}",
        get(2),
        get(3)
    );
    Ok(())
}

/// Helper: spins (never yielding) until word `1 - unpack(0)` (the other
/// spinner's count) moves, or a budget of TSC cycles runs out; records in
/// word `unpack(0) + 2` whether it saw it move; counts in word `unpack(0)`.
fn timed_spinner(argument: u64) {
    let mine = unpack(argument, 0) as usize;
    let other = 1 - mine;
    // About 10 s of a 1 GHz TSC: far beyond a 5 ms time slice, still bounded.
    const BUDGET_CYCLES: u64 = 10_000_000_000;
    let start = rdtsc();
    let other_at_start = get(other);
    let mut saw = 0;
    while rdtsc() - start < BUDGET_CYCLES {
        add(mine, 1);
        if get(other) != other_at_start {
            saw = 1;
            break;
        }
    }
    set(mine + 2, saw + 1);
}

fn round_robin_by_timer(env: &mut Env) -> Outcome {
    threads::spawn(env, timed_spinner, pack(&[0]), ROOT_PRIORITY).ctx("spawn a")?;
    threads::spawn(env, timed_spinner, pack(&[1]), ROOT_PRIORITY).ctx("spawn b")?;
    while get(2) == 0 || get(3) == 0 {
        syscall::yield_now();
    }
    ensure!(
        get(2) == 2 && get(3) == 2,
        "a spinner never saw the other run (flags {} {}): no timer preemption",
        get(2),
        get(3)
    );
    Ok(())
}

fn yield_returns(_env: &mut Env) -> Outcome {
    yield_times(10);
    Ok(())
}
