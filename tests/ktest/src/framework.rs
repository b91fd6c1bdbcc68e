//! The test driver: runs each case, prints its verdict line, cleans up its
//! helper threads, and closes with `N passed, M failed`.
//!
//! A case is `fn(&mut Env) -> Outcome`. It fails by returning a [`Why`]
//! (the [`fail!`] and [`ensure!`] macros and the [`Check`] methods build
//! one); a panic fails the whole run (the runtime's panic handler ends it).
//! A case that cannot run on this machine returns [`skip`].
//!
//! The watchdog, a helper at the lowest priority, runs only when every
//! other thread is blocked — which in this suite means a case deadlocked,
//! unless the case said it waits for time to pass ([`quiet_until`]: timed
//! receives). It then reports the case as failed, prints the summary so far
//! and ends the run, so a hang costs one line instead of the scenario's
//! whole time limit.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use ward_userlib::{println, syscall, Error, InvocationError};

use crate::cases;
use crate::env::Env;
use crate::threads;

/// Why a case failed (or was skipped): a short message.
pub struct Why {
    text: [u8; 320],
    len: usize,
    pub skipped: bool,
}

impl Why {
    pub fn new(args: fmt::Arguments) -> Why {
        let mut why = Why {
            text: [0; 320],
            len: 0,
            skipped: false,
        };
        let _ = why.write_fmt(args);
        why
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.text[..self.len]).unwrap_or("(message cut inside a character)")
    }
}

impl Write for Why {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &byte in s.as_bytes() {
            if self.len == self.text.len() {
                break;
            }
            self.text[self.len] = byte;
            self.len += 1;
        }
        Ok(())
    }
}

/// The result of a case.
pub type Outcome = Result<(), Why>;

/// A case that cannot run here (for example, no device memory to test the
/// device rule on); it counts as neither passed nor failed.
pub fn skip(reason: &str) -> Why {
    let mut why = Why::new(format_args!("{reason}"));
    why.skipped = true;
    why
}

/// As [`skip`], with a formatted reason.
pub fn skip_because(args: fmt::Arguments) -> Why {
    let mut why = Why::new(args);
    why.skipped = true;
    why
}

/// Fails the case with a formatted message.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => { return Err($crate::framework::Why::new(format_args!($($arg)*))) };
}

/// Fails the case unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($condition:expr, $($arg:tt)*) => {
        if !$condition {
            $crate::fail!($($arg)*);
        }
    };
}

/// Turning invocation results into case failures.
pub trait Check<T> {
    /// The value, or a failure "`what`: the error".
    fn ctx(self, what: &str) -> Result<T, Why>;
    /// The error, which must be `want`; a success or another error fails.
    fn want_err(self, want: Error, what: &str) -> Result<InvocationError, Why>;
}

impl<T> Check<T> for Result<T, InvocationError> {
    fn ctx(self, what: &str) -> Result<T, Why> {
        self.map_err(|e| Why::new(format_args!("{what}: {e}")))
    }

    fn want_err(self, want: Error, what: &str) -> Result<InvocationError, Why> {
        match self {
            Ok(_) => Err(Why::new(format_args!(
                "{what}: succeeded, expected {want:?}"
            ))),
            Err(e) if e.error == want => Ok(e),
            Err(e) => Err(Why::new(format_args!("{what}: expected {want:?}, got {e}"))),
        }
    }
}

/// One named case.
pub struct Case {
    pub name: &'static str,
    pub run: fn(&mut Env) -> Outcome,
}

static PASSED: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);
static SKIPPED: AtomicU64 = AtomicU64::new(0);
/// Index (in [`cases::ALL`] order, flattened) of the case running now.
static CURRENT: AtomicUsize = AtomicUsize::new(usize::MAX);
/// 1 while the watchdog self-check runs instead of the suite.
static GROUPS: AtomicUsize = AtomicUsize::new(0);
/// Until this TSC value every thread may be blocked without a deadlock:
/// a case is waiting for a deadline.
static QUIET_UNTIL: AtomicU64 = AtomicU64::new(0);

/// Tells the watchdog that until TSC value `tsc` every thread may be
/// blocked at once (a case waits for timed receives to end).
pub fn quiet_until(tsc: u64) {
    QUIET_UNTIL.fetch_max(tsc, Ordering::SeqCst);
}

fn case_name(index: usize) -> &'static str {
    if GROUPS.load(Ordering::Relaxed) == 1 {
        return "deadlock_is_reported";
    }
    cases::ALL
        .iter()
        .flat_map(|group| group.iter())
        .nth(index)
        .map_or("(between cases)", |c| c.name)
}

fn print_summary() {
    let skipped = SKIPPED.load(Ordering::Relaxed);
    if skipped > 0 {
        println!("ktest: {skipped} skipped");
    }
    println!(
        "ktest: {} passed, {} failed",
        PASSED.load(Ordering::Relaxed),
        FAILED.load(Ordering::Relaxed)
    );
}

fn watchdog(_: u64) {
    // Everything else is blocked. While a case waits for a deadline that is
    // fine: spin (at the lowest priority, so whatever wakes runs at once)
    // until the quiet time is over; running after that is a deadlock.
    while cases::rdtsc() < QUIET_UNTIL.load(Ordering::SeqCst) {
        core::hint::spin_loop();
    }
    println!(
        "ktest: FAIL {}: deadlock: every thread is blocked",
        case_name(CURRENT.load(Ordering::Relaxed))
    );
    FAILED.fetch_add(1, Ordering::Relaxed);
    print_summary();
    syscall::debug_exit(1);
}

/// Checks the watchdog itself: one case that waits on a notification
/// nobody signals. The watchdog must report it and end the run with
/// status 1; returning from here means it did not.
pub fn run_deadlock_check(env: &mut Env) -> bool {
    static DEADLOCK: &[Case] = &[Case {
        name: "deadlock_is_reported",
        run: deadlock,
    }];
    fn deadlock(env: &mut Env) -> Outcome {
        let never = env.alloc::<ward_userlib::cap_type::Notification>();
        never.wait().ctx("wait")?;
        Err(Why::new(format_args!(
            "a notification nobody signals woke the root task"
        )))
    }
    run_cases(env, DEADLOCK, "");
    println!("ktest: FAIL watchdog: the deadlock was not detected");
    false
}

/// Runs every case whose name starts with `only`; true when none failed.
pub fn run_suite(env: &mut Env, only: &str) -> bool {
    run_cases(env, &[], only)
}

/// Runs `extra` (when not empty) or else every case of [`cases::ALL`]
/// whose name starts with `only`; true when none failed.
fn run_cases(env: &mut Env, extra: &'static [Case], only: &str) -> bool {
    if let Err(e) = env
        .root
        .tcb
        .tcb_set_priority(env.root.tcb, threads::ROOT_PRIORITY)
    {
        println!("ktest: FAIL setup: lowering the root task's priority: {e}");
        return false;
    }
    let watchdog = match threads::spawn(env, watchdog, 0, threads::WATCHDOG_PRIORITY) {
        Ok(t) => t.tcb,
        Err(e) => {
            println!("ktest: FAIL setup: starting the watchdog: {e}");
            return false;
        }
    };
    let groups: &[&[Case]] = if extra.is_empty() {
        cases::ALL
    } else {
        core::slice::from_ref(&extra)
    };
    let total: usize = groups.iter().map(|g| g.len()).sum();
    println!("ktest: {total} cases");
    GROUPS.store(if extra.is_empty() { 0 } else { 1 }, Ordering::Relaxed);
    for (index, case) in groups.iter().flat_map(|group| group.iter()).enumerate() {
        if !case.name.starts_with(only) {
            continue;
        }
        CURRENT.store(index, Ordering::Relaxed);
        crate::cases::reset_shared();
        let outcome = (case.run)(env);
        threads::clean_up(env, Some(watchdog));
        match outcome {
            Ok(()) => {
                PASSED.fetch_add(1, Ordering::Relaxed);
                println!("ktest: PASS {}", case.name);
            }
            Err(why) if why.skipped => {
                SKIPPED.fetch_add(1, Ordering::Relaxed);
                println!("ktest: SKIP {}: {}", case.name, why.as_str());
            }
            Err(why) => {
                FAILED.fetch_add(1, Ordering::Relaxed);
                println!("ktest: FAIL {}: {}", case.name, why.as_str());
            }
        }
    }
    CURRENT.store(usize::MAX, Ordering::Relaxed);
    print_summary();
    FAILED.load(Ordering::Relaxed) == 0
}
