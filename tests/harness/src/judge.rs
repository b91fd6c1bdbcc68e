//! The verdict on one run: the guest status it ended with, the text it had to print in order,
//! and the text it must not print.

use std::fmt;

use serde::Deserialize;

use crate::outcome::{status_meaning, Outcome};

/// One expected piece of console output.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Expect {
    /// This text, anywhere after the previous expectation's match.
    Text(String),
    /// One line (after the previous match) that contains all these texts, in any order.
    Line(Vec<String>),
}

impl Expect {
    /// Finds this expectation in `log` from byte `from`; returns where the match ends.
    fn find(&self, log: &str, from: usize) -> Option<usize> {
        match self {
            Expect::Text(t) => log[from..].find(t.as_str()).map(|at| from + at + t.len()),
            Expect::Line(parts) => {
                let mut start = from;
                for line in log[from..].split_inclusive('\n') {
                    if parts.iter().all(|p| line.contains(p.as_str())) {
                        return Some(start + line.len());
                    }
                    start += line.len();
                }
                None
            }
        }
    }

    /// The texts this expectation is made of.
    pub fn parts(&self) -> &[String] {
        match self {
            Expect::Text(t) => std::slice::from_ref(t),
            Expect::Line(parts) => parts,
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Text(t) => write!(f, "{t:?}"),
            Expect::Line(parts) => {
                let quoted: Vec<String> = parts.iter().map(|p| format!("{p:?}")).collect();
                write!(f, "a line with {}", quoted.join(" and "))
            }
        }
    }
}

/// What a run is held to; the judging part of a scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    /// The guest status the run must end with; `None`: the system must still be running when
    /// the host peer finished (the harness stopped it).
    pub status: Option<u8>,
    /// Output that must all appear, each after the end of the previous match.
    pub expect: Vec<Expect>,
    /// Output that must appear, each anywhere (in no order against the rest).
    pub expect_anywhere: Vec<Expect>,
    /// Substrings that must appear nowhere.
    pub forbid: Vec<String>,
}

/// Pass, or every reason why not (not only the first, so one run tells the whole story).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub reasons: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// Judges a run that ended with `outcome` and printed `log`.
pub fn judge(want: &Expectations, outcome: &Outcome, log: &str) -> Verdict {
    let mut reasons = Vec::new();
    match want.status {
        Some(status) if *outcome != Outcome::Guest(status) => reasons.push(format!(
            "expected guest status {status:#04x} ({}), got {outcome}",
            status_meaning(status)
        )),
        None if *outcome != Outcome::StoppedAfterPeer => reasons.push(format!(
            "expected the system to be running until the host peer finished, got {outcome}"
        )),
        _ => {}
    }

    let mut from = 0;
    let mut previous: Option<&Expect> = None;
    for needle in &want.expect {
        match needle.find(log, from) {
            Some(end) => {
                from = end;
                previous = Some(needle);
            }
            None => {
                let where_ = match previous {
                    Some(p) => format!(" after {p}"),
                    None => String::new(),
                };
                let anywhere = if previous.is_some() && needle.find(log, 0).is_some() {
                    " (it appears earlier, out of order)"
                } else {
                    ""
                };
                reasons.push(format!("expected {needle}{where_}, not found{anywhere}"));
                break; // the rest of the order is meaningless once one is missing
            }
        }
    }

    for needle in &want.expect_anywhere {
        if needle.find(log, 0).is_none() {
            reasons.push(format!("expected {needle} somewhere, not found"));
        }
    }

    for needle in &want.forbid {
        if let Some(line) = log.lines().find(|l| l.contains(needle.as_str())) {
            reasons.push(format!(
                "forbidden {needle:?} found in line: {}",
                line.trim_end()
            ));
        }
    }
    Verdict { reasons }
}

/// The last `n` lines of `log`.
pub fn tail(log: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(status: u8, expect: &[&str], forbid: &[&str]) -> Expectations {
        Expectations {
            status: Some(status),
            expect: expect.iter().map(|s| Expect::Text(s.to_string())).collect(),
            expect_anywhere: Vec::new(),
            forbid: forbid.iter().map(|s| s.to_string()).collect(),
        }
    }

    const LOG: &str =
        "ward: booting\nWard root task v0.1\nuntyped 0x100000 +0x1000\nward: system ready\n";

    #[test]
    fn passes_when_everything_holds() {
        let v = judge(
            &want(
                0,
                &["Ward root task", "untyped", "ward: system ready"],
                &["panic"],
            ),
            &Outcome::Guest(0),
            LOG,
        );
        assert!(v.passed(), "{:?}", v.reasons);
    }

    #[test]
    fn order_matters() {
        let v = judge(
            &want(0, &["ward: system ready", "untyped"], &[]),
            &Outcome::Guest(0),
            LOG,
        );
        assert_eq!(v.reasons.len(), 1);
        assert!(v.reasons[0].contains("\"untyped\" after \"ward: system ready\""));
        assert!(v.reasons[0].contains("out of order"));
    }

    #[test]
    fn expect_anywhere_ignores_order_but_not_absence() {
        let mut w = want(0, &["ward: system ready"], &[]);
        w.expect_anywhere = vec![Expect::Text("untyped".into())];
        assert!(judge(&w, &Outcome::Guest(0), LOG).passed());
        w.expect_anywhere.push(Expect::Text("never printed".into()));
        let v = judge(&w, &Outcome::Guest(0), LOG);
        assert_eq!(v.reasons.len(), 1);
        assert!(v.reasons[0].contains("\"never printed\" somewhere, not found"));
    }

    #[test]
    fn two_expectations_may_share_a_line_but_not_a_match() {
        let log = "page fault at 0x0; thread suspended\n";
        assert!(judge(
            &want(0, &["page fault", "thread suspended"], &[]),
            &Outcome::Guest(0),
            log
        )
        .passed());
        assert!(!judge(
            &want(0, &["fault", "fault", "fault"], &[]),
            &Outcome::Guest(0),
            log
        )
        .passed());
    }

    #[test]
    fn wrong_status_and_forbidden_text_are_both_reported() {
        let log = "ward: root task error: truncated\ntriple fault\n";
        let v = judge(
            &want(0x31, &["root task", "error"], &["triple"]),
            &Outcome::Guest(0x32),
            log,
        );
        assert_eq!(v.reasons.len(), 2, "{:?}", v.reasons);
        assert!(v.reasons[0].contains(
            "expected guest status 0x31 (kernel boot error), got guest status 0x32 (kernel panic)"
        ));
        assert!(v.reasons[1].contains("triple fault"));
    }

    #[test]
    fn timeouts_and_qemu_errors_never_pass() {
        for o in [
            Outcome::TimedOut,
            Outcome::QemuQuit,
            Outcome::QemuError("x".into()),
            Outcome::RunnerFailed(2),
        ] {
            assert!(!judge(&want(0, &[], &[]), &o, LOG).passed());
        }
    }

    #[test]
    fn without_a_status_the_system_must_outlive_the_peer() {
        let mut w = want(0, &[], &[]);
        w.status = None;
        assert!(judge(&w, &Outcome::StoppedAfterPeer, LOG).passed());
        let v = judge(&w, &Outcome::Guest(0x32), LOG);
        assert!(v.reasons[0].contains("running until the host peer finished"));
        assert!(!judge(&want(0, &[], &[]), &Outcome::StoppedAfterPeer, LOG).passed());
    }

    #[test]
    fn missing_expectation_is_named() {
        let v = judge(&want(0, &["kernel alive"], &[]), &Outcome::Guest(0), LOG);
        assert_eq!(v.reasons, ["expected \"kernel alive\", not found"]);
    }

    fn line(parts: &[&str]) -> Expect {
        Expect::Line(parts.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn a_line_expectation_wants_all_parts_on_one_line_in_any_order() {
        let log = "ward: root task\nmodule error: truncated root task ELF\nhalt\n";
        let mut w = want(0, &[], &[]);
        w.expect = vec![line(&["root task", "error"])];
        assert!(judge(&w, &Outcome::Guest(0), log).passed());
        w.expect = vec![line(&["root task", "halt"])];
        let v = judge(&w, &Outcome::Guest(0), log);
        assert_eq!(
            v.reasons,
            ["expected a line with \"root task\" and \"halt\", not found"]
        );
        // Lines are searched from the previous match on, the rest of its line included.
        w.expect = vec![
            Expect::Text("module".into()),
            line(&["root task", "error"]),
            Expect::Text("halt".into()),
        ];
        assert!(judge(&w, &Outcome::Guest(0), log).passed());
        w.expect = vec![Expect::Text("halt".into()), line(&["error"])];
        assert!(judge(&w, &Outcome::Guest(0), log).reasons[0].contains("out of order"));
    }

    #[test]
    fn tail_takes_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), ["b", "c"]);
        assert_eq!(tail("a\n", 40), ["a"]);
        assert!(tail("", 5).is_empty());
    }
}
