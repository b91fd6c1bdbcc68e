//! `ktest`: Ward's in-QEMU kernel conformance suite, in the manner of
//! seL4's sel4test driver. It runs as the root task (booted in place of the
//! real one by a scenario's `root_program = "ktest"`), holds every
//! capability, and exercises each invocation and syscall on its success and
//! its error path, printing one line per case:
//!
//! ```text
//! ktest: PASS retype_endpoint
//! ktest: FAIL mint_badge_delivered: badge 0x0, expected 0x77
//! ktest: 97 passed, 0 failed
//! ```
//!
//! and ends the run with status 0 when every case passed, 1 otherwise.
//!
//! Modes (root-task arguments):
//! - `test=all` (default): the conformance suite; `only=PREFIX` runs the
//!   cases whose name starts with PREFIX; `known_gaps=skip` reports cases
//!   that fail for a known kernel gap or bug as skipped, naming the cause
//!   (the list is `cases::ipc::KNOWN_GAPS`);
//! - `test=fuzz seed=N count=N`: unprivileged threads, one per core but the
//!   first (one on one core), each in its own CSpace and VSpace, make
//!   `count` random syscalls and invocations between them from `seed`
//!   while a heartbeat pair of threads keeps doing IPC (see `fuzz`);
//! - `test=bench`: kernel micro-benchmarks in guest TSC cycles (see `bench`);
//!   `only=KEY` measures only the figures whose key contains KEY and
//!   `runs=N` sets the measurements per figure;
//! - `test=deadlock`: checks the suite's watchdog on a case that deadlocks
//!   on purpose (the run must end with a FAIL line and status 1).
#![no_std]
#![no_main]
// A case's failure carries its message inline (no heap), so `Result<_, Why>`
// is a few hundred bytes; that is the point, not an accident.
#![allow(clippy::result_large_err)]

mod bench;
mod cases;
mod elf;
mod env;
mod framework;
mod fuzz;
mod pic;
mod process;
mod rng;
mod threads;

use ward_rootkit::bootinfo;
use ward_userlib::{println, syscall};

ward_userlib::entry!(main);

/// The value of `key=value` among the root task's arguments.
fn argument<'a>(arguments: &'a str, key: &str) -> Option<&'a str> {
    arguments
        .split_ascii_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
}

fn main(argument_register: u64) {
    let info = bootinfo::boot_info(argument_register);
    let arguments = info.root_cmdline();
    println!("ktest: Ward kernel conformance suite, arguments '{arguments}'");
    let mut env = env::Env::new(info);
    env.skip_known_gaps = argument(arguments, "known_gaps") == Some("skip");
    let mode = argument(arguments, "test").unwrap_or("all");
    let passed = match mode {
        "all" => framework::run_suite(&mut env, argument(arguments, "only").unwrap_or("")),
        "fuzz" => {
            let seed = argument(arguments, "seed")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            let count = argument(arguments, "count")
                .and_then(|s| s.parse().ok())
                .unwrap_or(100_000);
            fuzz::run(&mut env, seed, count)
        }
        "bench" => {
            let selection = bench::Selection {
                only: argument(arguments, "only").unwrap_or(""),
                runs: argument(arguments, "runs")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(bench::RUNS),
            };
            bench::run(&mut env, &selection)
        }
        "deadlock" => framework::run_deadlock_check(&mut env),
        other => {
            println!("ktest: unknown mode 'test={other}' (known: all, fuzz, bench, deadlock)");
            false
        }
    };
    syscall::debug_exit(if passed { 0 } else { 1 });
}
