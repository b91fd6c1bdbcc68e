//! `capctl audit FILE LOG`: compares the capability dump that the running
//! root task printed (format: `ward_sysspec::dump`) with what the file says.
//!
//! The spec is compiled exactly as `capctl build` would, encoded, decoded
//! again, and the expected dump lines are taken from the decoded spec — the
//! same path the root task's data takes. The last complete dump in the log
//! is compared (a log may hold several, e.g. before and after a restart).
//! Every difference is reported: a capability the file grants that the
//! component lacks, one it holds that the file does not grant (the serious
//! kind), and one whose kind, rights, badge or target differ.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ward_sysspec::dump::{self, DumpLine};
use ward_sysspec::Spec;

/// One expected or found capability, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    kind: String,
    rights: String,
    badge: u64,
    target: String,
}

impl Line {
    fn text(&self) -> String {
        format!(
            "{} {} {:#x} {}",
            self.kind, self.rights, self.badge, self.target
        )
    }
}

/// The capabilities of one dump: (component, slot) → (line, log line number).
type Found = BTreeMap<(String, u32), (Line, usize)>;

/// The outcome: the report text and the number of differences.
pub struct AuditReport {
    pub text: String,
    pub differences: usize,
}

/// The expected dump of an encoded spec, as the root task should print it.
pub fn expected_dump(spec_bytes: &[u8]) -> Result<String, String> {
    let spec = Spec::decode(spec_bytes).map_err(|e| e.to_string())?;
    let mut out = String::new();
    dump::write_expected_dump(&mut out, &spec).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Audits `log` against the encoded spec.
pub fn audit(spec_bytes: &[u8], log: &str, log_name: &str) -> Result<AuditReport, String> {
    let spec = Spec::decode(spec_bytes).map_err(|e| e.to_string())?;
    let mut expected: BTreeMap<(String, u32), Line> = BTreeMap::new();
    for ci in 0..spec.components.len() {
        for cap in spec.caps_of(ci) {
            let e = dump::expected(&spec, ci, cap);
            expected.insert(
                (e.component.to_string(), e.slot),
                Line {
                    kind: e.kind.to_string(),
                    rights: e.rights.to_string(),
                    badge: e.badge,
                    target: e.target.to_string(),
                },
            );
        }
    }

    // Collect the dumps: lines between `begin` and `end`.
    let mut text = String::new();
    let mut problems = 0usize;
    let mut dumps: Vec<(usize, Found, Option<u32>, String)> = Vec::new();
    let mut current: Option<(usize, Found, String)> = None;
    for (no, raw) in log.lines().enumerate() {
        let no = no + 1;
        let Some(parsed) = dump::parse_line(raw) else {
            continue;
        };
        match parsed {
            Err(e) => {
                problems += 1;
                let _ = writeln!(
                    text,
                    "{log_name}:{no}: malformed dump line: {e}\n    {}",
                    raw.trim_end()
                );
            }
            Ok(DumpLine::Begin { system }) => {
                if let Some((start, _, _)) = current.take() {
                    let _ = writeln!(text, "{log_name}:{start}: dump never ended (a new one begins at line {no}); ignored");
                }
                current = Some((no, BTreeMap::new(), system.to_string()));
            }
            Ok(DumpLine::Cap(cap)) => match current.as_mut() {
                Some((_, caps, _)) => {
                    let key = (cap.component.to_string(), cap.slot);
                    let line = Line {
                        kind: cap.kind.to_string(),
                        rights: cap.rights.to_string(),
                        badge: cap.badge,
                        target: cap.target.to_string(),
                    };
                    if let Some((_, first)) = caps.get(&key) {
                        problems += 1;
                        let _ = writeln!(
                            text,
                            "{log_name}:{no}: `{}` slot {} is dumped twice (first at line {first})",
                            cap.component, cap.slot
                        );
                    }
                    caps.insert(key, (line, no));
                }
                None => {
                    problems += 1;
                    let _ = writeln!(
                        text,
                        "{log_name}:{no}: dump line outside a `capdump: begin` ... `end` block"
                    );
                }
            },
            Ok(DumpLine::End { count }) => match current.take() {
                Some((start, caps, system)) => dumps.push((start, caps, Some(count), system)),
                None => {
                    problems += 1;
                    let _ = writeln!(text, "{log_name}:{no}: `capdump: end` without a begin");
                }
            },
        }
    }
    if let Some((start, caps, system)) = current.take() {
        problems += 1;
        let _ = writeln!(
            text,
            "{log_name}:{start}: the last dump has no `capdump: end` (truncated log?)"
        );
        dumps.push((start, caps, None, system));
    }
    let Some((start, found, count, system)) = dumps.pop() else {
        return Err(format!(
            "{log_name}: no capability dump found (no line containing `{}begin`); was the root task asked to dump?",
            dump::MARKER
        ));
    };
    if system != spec.name() {
        let _ = writeln!(
            text,
            "note: the dump is of system `{system}`, the file describes `{}`",
            spec.name()
        );
    }
    if let Some(count) = count {
        if count as usize != found.len() {
            problems += 1;
            let _ = writeln!(
                text,
                "{log_name}: the dump says it has {count} lines but {} were read",
                found.len()
            );
        }
    }

    let mut differences = problems;
    for (key, want) in &expected {
        match found.get(key) {
            None => {
                differences += 1;
                let _ = writeln!(
                    text,
                    "missing: `{}` slot {}: the file grants {} but the component does not hold it",
                    key.0,
                    key.1,
                    want.text()
                );
            }
            Some((got, no)) if got != want => {
                differences += 1;
                let _ = writeln!(
                    text,
                    "differs: `{}` slot {} ({log_name}:{no}): file says {}, dump says {}",
                    key.0,
                    key.1,
                    want.text(),
                    got.text()
                );
            }
            Some(_) => {}
        }
    }
    for (key, (got, no)) in &found {
        if !expected.contains_key(key) {
            differences += 1;
            let who = if spec.component_index(&key.0).is_some() {
                ""
            } else {
                " (no such component in the file)"
            };
            let _ = writeln!(
                text,
                "EXTRA: `{}`{who} slot {} holds {} ({log_name}:{no}), which the file does not grant",
                key.0,
                key.1,
                got.text()
            );
        }
    }
    let _ = writeln!(
        text,
        "audit of dump at {log_name}:{start}: {} capabilities expected, {} dumped, {differences} difference(s)",
        expected.len(),
        found.len()
    );
    Ok(AuditReport { text, differences })
}
