//! How a QEMU run ended, decoded from the runner's exit status.
//!
//! The guest ends a run by writing a status byte v to the isa-debug-exit port; QEMU then exits
//! with `(v << 1) | 1`, so an odd exit code c carries guest status `c >> 1`. `scripts/qemu.sh`
//! runs QEMU under timeout(1), which exits with 124 when the time limit struck, and exits with 2
//! itself on a usage error, so none of the runner's own endings is mistaken for a guest status.
//! QEMU's own error exit (1) is odd, though, and would read as guest status 0: it is told apart
//! by the `qemu-system-x86_64: ...` message QEMU prints with it.

use std::fmt;

/// Guest status values fixed by the kernel/test contract (README.md, "How a run ends"); the
/// kernel's side is the `EXIT_*` constants in kernel/src/main.rs.
pub mod status {
    /// The run succeeded (the root task's test passed).
    pub const SUCCESS: u8 = 0;
    /// Every thread has stopped and the kernel is still alive (kernel argument `idle=exit`).
    pub const IDLE_EXIT: u8 = 0x20;
    /// The kernel could not start the system (e.g. a bad root-task module).
    pub const BOOT_ERROR: u8 = 0x31;
    /// The kernel panicked.
    pub const KERNEL_PANIC: u8 = 0x32;
}

/// What a guest status means, for messages.
pub fn status_meaning(s: u8) -> &'static str {
    match s {
        status::SUCCESS => "success",
        status::IDLE_EXIT => "all threads stopped, kernel alive",
        status::BOOT_ERROR => "kernel boot error",
        status::KERNEL_PANIC => "kernel panic",
        _ => "test failure code",
    }
}

/// Exit status of timeout(1) when the time limit struck (coreutils documents 124).
pub const TIMEOUT_EXIT: i32 = 124;
/// Exit status of timeout(1) when it had to follow up with SIGKILL: 128 + 9.
pub const TIMEOUT_KILL_EXIT: i32 = 137;
/// QEMU's exit status for its own errors (bad arguments, missing files).
pub const QEMU_ERROR_EXIT: i32 = 1;
/// What QEMU's own error messages start with.
pub const QEMU_MESSAGE_PREFIX: &str = "qemu-system-x86_64:";
/// The line the kernel prints just before it writes a status to the debug-exit port. With it,
/// exit code 1 is the guest's success even when QEMU printed warnings along the way (its VT-d
/// model, for one, reports every blocked DMA on stderr).
pub const KERNEL_SUCCESS_LINE: &str = "ward: run ends with status 0x00";

/// The ending of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The guest wrote this status to the debug-exit port.
    Guest(u8),
    /// QEMU quit normally (the guest powered off, or someone quit QEMU).
    QemuQuit,
    /// The time limit struck before the guest ended the run.
    TimedOut,
    /// QEMU failed to start or run; the message is its own.
    QemuError(String),
    /// The runner was killed by a signal (e.g. the harness's wall-time guard).
    Signalled(i32),
    /// Any other exit status, e.g. 2 from `scripts/qemu.sh` for a malformed image.
    RunnerFailed(i32),
    /// The host peer finished while the system was still running, and the harness stopped QEMU.
    StoppedAfterPeer,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Guest(s) => write!(f, "guest status {s:#04x} ({})", status_meaning(*s)),
            Outcome::QemuQuit => write!(f, "QEMU quit without a guest status"),
            Outcome::TimedOut => write!(f, "time limit reached"),
            Outcome::QemuError(m) => write!(f, "QEMU error: {m}"),
            Outcome::Signalled(sig) => write!(f, "runner killed by signal {sig}"),
            Outcome::RunnerFailed(c) => write!(f, "runner failed with exit status {c}"),
            Outcome::StoppedAfterPeer => write!(
                f,
                "stopped by the harness after the host peer finished (the system was still running)"
            ),
        }
    }
}

/// Decodes an ending. `code` and `signal` come from the process status; `hit_limit` says whether
/// the run lasted its whole time limit; `log` is the captured console, searched for QEMU's own
/// error message.
pub fn decode(code: Option<i32>, signal: Option<i32>, hit_limit: bool, log: &str) -> Outcome {
    let Some(code) = code else {
        return if hit_limit {
            Outcome::TimedOut
        } else {
            Outcome::Signalled(signal.unwrap_or(0))
        };
    };
    let qemu_message = log.lines().find(|l| l.starts_with(QEMU_MESSAGE_PREFIX));
    match code {
        0 => Outcome::QemuQuit,
        TIMEOUT_EXIT => Outcome::TimedOut,
        TIMEOUT_KILL_EXIT if hit_limit => Outcome::TimedOut,
        QEMU_ERROR_EXIT
            if qemu_message.is_some()
                && !log.lines().any(|l| l.trim_end() == KERNEL_SUCCESS_LINE) =>
        {
            Outcome::QemuError(qemu_message.unwrap_or_default().to_string())
        }
        c if c % 2 == 1 && (0..=255).contains(&c) => Outcome::Guest((c >> 1) as u8),
        c => Outcome::RunnerFailed(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_codes_carry_the_guest_status() {
        assert_eq!(
            decode(Some(1), None, false, "Ward root task\n"),
            Outcome::Guest(0)
        );
        assert_eq!(decode(Some(0x41), None, false, ""), Outcome::Guest(0x20));
        assert_eq!(decode(Some(0x63), None, false, ""), Outcome::Guest(0x31));
        assert_eq!(decode(Some(0x65), None, false, ""), Outcome::Guest(0x32));
        assert_eq!(decode(Some(255), None, false, ""), Outcome::Guest(0x7f));
    }

    #[test]
    fn runner_endings_are_not_guest_statuses() {
        assert_eq!(decode(Some(0), None, false, ""), Outcome::QemuQuit);
        assert_eq!(decode(Some(124), None, true, ""), Outcome::TimedOut);
        assert_eq!(decode(Some(137), None, true, ""), Outcome::TimedOut);
        assert_eq!(decode(Some(2), None, false, ""), Outcome::RunnerFailed(2));
        assert_eq!(decode(None, Some(9), true, ""), Outcome::TimedOut);
        assert_eq!(decode(None, Some(9), false, ""), Outcome::Signalled(9));
    }

    #[test]
    fn qemu_errors_are_not_success() {
        let log = "qemu-system-x86_64: -initrd: could not load\n";
        assert!(
            matches!(decode(Some(1), None, false, log), Outcome::QemuError(m) if m.contains("initrd"))
        );
        // A message without the error exit (QEMU saying it was terminated) changes nothing.
        let log = "qemu-system-x86_64: terminating on signal 15\n";
        assert_eq!(decode(Some(124), None, true, log), Outcome::TimedOut);
    }

    #[test]
    fn qemu_warnings_do_not_hide_a_guest_success() {
        let log = "qemu-system-x86_64: vtd_iova_to_slpte: detected slpte permission error\nward: run ends with status 0x00\n";
        assert_eq!(decode(Some(1), None, false, log), Outcome::Guest(0));
    }

    #[test]
    fn statuses_have_names() {
        assert_eq!(status_meaning(0x31), "kernel boot error");
        assert_eq!(status_meaning(0x55), "test failure code");
        assert_eq!(
            Outcome::Guest(0x20).to_string(),
            "guest status 0x20 (all threads stopped, kernel alive)"
        );
    }
}
