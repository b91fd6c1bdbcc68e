//! The capability-dump line format.
//!
//! On request the root task prints every component's CSpace, one line per
//! capability, and `capctl audit` compares those lines with what
//! `system.toml` says. Lines may appear anywhere in a serial log, after any
//! prefix (a timestamp, a log tag): a dump line is whatever follows the
//! marker `capdump: ` on a line.
//!
//! ```text
//! capdump: begin <system-name>
//! capdump: <component> <slot> <kind> <rights> <badge> <target>
//! ...
//! capdump: end <number-of-cap-lines>
//! ```
//!
//! - `slot` is decimal; `badge` is hexadecimal with `0x`;
//! - `kind` is a [`CapKind`] name (`endpoint`, `frames`, `irq`, ...);
//! - `rights` are letters from `rwxg` in that order, or `-`;
//! - `target` names the object: a channel, region or device name, a
//!   component name (its own TCB, CNode, VSpace, notification), or
//!   `supervisor` (console and heartbeat).
//!
//! Names never contain spaces (capctl only accepts `[a-z0-9-]` names).
//! This module both formats and parses the lines, so that the printer and
//! the checker cannot disagree.

use core::fmt::{self, Write};

use crate::decode::Spec;
use crate::format::{CapKind, CapRec, Rights};

/// The marker that starts the dump part of a line.
pub const MARKER: &str = "capdump: ";

/// One capability as a dump line states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpCap<'a> {
    pub component: &'a str,
    pub slot: u32,
    pub kind: CapKind,
    pub rights: Rights,
    pub badge: u64,
    pub target: &'a str,
}

/// One parsed dump line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpLine<'a> {
    Begin { system: &'a str },
    Cap(DumpCap<'a>),
    End { count: u32 },
}

/// Why a line after the marker could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpParseError {
    /// Not the number of fields the format has.
    FieldCount {
        found: usize,
    },
    BadSlot,
    BadKind,
    BadRights,
    BadBadge,
    BadCount,
}

impl fmt::Display for DumpParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpParseError::FieldCount { found } => {
                write!(
                    f,
                    "expected 6 fields (component slot kind rights badge target), found {found}"
                )
            }
            DumpParseError::BadSlot => f.write_str("slot is not a decimal number"),
            DumpParseError::BadKind => f.write_str("unknown capability kind"),
            DumpParseError::BadRights => f.write_str("rights must be letters from `rwxg` or `-`"),
            DumpParseError::BadBadge => f.write_str("badge must be hexadecimal with 0x"),
            DumpParseError::BadCount => f.write_str("end count is not a decimal number"),
        }
    }
}

impl fmt::Display for DumpCap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{} {} {} {} {:#x} {}",
            MARKER, self.component, self.slot, self.kind, self.rights, self.badge, self.target
        )
    }
}

/// Parses one log line. `None`: the line has no dump marker.
pub fn parse_line(line: &str) -> Option<Result<DumpLine<'_>, DumpParseError>> {
    let at = line.find(MARKER)?;
    let rest = line[at + MARKER.len()..].trim_end_matches(['\r', '\n', ' ']);
    Some(parse_fields(rest))
}

fn parse_fields(rest: &str) -> Result<DumpLine<'_>, DumpParseError> {
    let mut fields = [""; 6];
    let mut n = 0;
    for field in rest.split(' ').filter(|f| !f.is_empty()) {
        if n == fields.len() {
            return Err(DumpParseError::FieldCount {
                found: rest.split(' ').filter(|f| !f.is_empty()).count(),
            });
        }
        fields[n] = field;
        n += 1;
    }
    if n == 2 && fields[0] == "begin" {
        return Ok(DumpLine::Begin { system: fields[1] });
    }
    if n == 2 && fields[0] == "end" {
        let count = fields[1].parse().map_err(|_| DumpParseError::BadCount)?;
        return Ok(DumpLine::End { count });
    }
    if n != 6 {
        return Err(DumpParseError::FieldCount { found: n });
    }
    let slot = fields[1].parse().map_err(|_| DumpParseError::BadSlot)?;
    let kind = CapKind::parse(fields[2]).ok_or(DumpParseError::BadKind)?;
    let rights = Rights::parse(fields[3]).ok_or(DumpParseError::BadRights)?;
    let badge = fields[4]
        .strip_prefix("0x")
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or(DumpParseError::BadBadge)?;
    Ok(DumpLine::Cap(DumpCap {
        component: fields[0],
        slot,
        kind,
        rights,
        badge,
        target: fields[5],
    }))
}

/// The dump line a spec expects for one capability of one component.
pub fn expected<'a>(spec: &Spec<'a>, component: usize, cap: &CapRec) -> DumpCap<'a> {
    DumpCap {
        component: spec.str(spec.components[component].name),
        slot: cap.slot.get(),
        kind: CapKind::from_u8(cap.kind).unwrap_or(CapKind::Tcb),
        rights: Rights(cap.rights),
        badge: cap.badge.get(),
        target: spec.cap_target_name(cap),
    }
}

/// Writes the dump of a whole spec as the spec itself describes it: what a
/// root task that realised the spec exactly would print. (The root task
/// prints what its CSpaces really hold; this is the reference.)
pub fn write_expected_dump<W: Write>(out: &mut W, spec: &Spec<'_>) -> fmt::Result {
    writeln!(out, "{}begin {}", MARKER, spec.name())?;
    let mut count = 0u32;
    for i in 0..spec.components.len() {
        for cap in spec.caps_of(i) {
            writeln!(out, "{}", expected(spec, i, cap))?;
            count += 1;
        }
    }
    writeln!(out, "{}end {}", MARKER, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_cap_line_after_a_prefix() {
        let line = "[  1.234] root: capdump: e1000 9 irq w 0x1 nic\r\n";
        let parsed = parse_line(line).unwrap().unwrap();
        assert_eq!(
            parsed,
            DumpLine::Cap(DumpCap {
                component: "e1000",
                slot: 9,
                kind: CapKind::IrqHandler,
                rights: Rights::WRITE,
                badge: 1,
                target: "nic",
            })
        );
    }

    #[test]
    fn begin_end_and_non_dump_lines() {
        assert_eq!(
            parse_line("capdump: begin ward").unwrap(),
            Ok(DumpLine::Begin { system: "ward" })
        );
        assert_eq!(
            parse_line("capdump: end 12").unwrap(),
            Ok(DumpLine::End { count: 12 })
        );
        assert!(parse_line("e1000: link up").is_none());
    }

    #[test]
    fn rejects_malformed_lines() {
        assert_eq!(
            parse_line("capdump: a 1 tcb r").unwrap(),
            Err(DumpParseError::FieldCount { found: 4 })
        );
        assert_eq!(
            parse_line("capdump: a x tcb r 0x0 a").unwrap(),
            Err(DumpParseError::BadSlot)
        );
        assert_eq!(
            parse_line("capdump: a 1 bogus r 0x0 a").unwrap(),
            Err(DumpParseError::BadKind)
        );
        assert_eq!(
            parse_line("capdump: a 1 tcb rr 0x0 a").unwrap(),
            Err(DumpParseError::BadRights)
        );
        assert_eq!(
            parse_line("capdump: a 1 tcb r 12 a").unwrap(),
            Err(DumpParseError::BadBadge)
        );
        assert!(matches!(
            parse_line("capdump: a 1 tcb r 0x0 a b").unwrap(),
            Err(DumpParseError::FieldCount { .. })
        ));
    }

    #[test]
    fn a_formatted_line_parses_back() {
        let cap = DumpCap {
            component: "net",
            slot: 12,
            kind: CapKind::Frames,
            rights: Rights(3),
            badge: 0,
            target: "net-rx-pool",
        };
        struct Buf([u8; 128], usize);
        impl Write for Buf {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let end = self.1 + s.len();
                self.0
                    .get_mut(self.1..end)
                    .ok_or(fmt::Error)?
                    .copy_from_slice(s.as_bytes());
                self.1 = end;
                Ok(())
            }
        }
        let mut buf = Buf([0; 128], 0);
        write!(buf, "{cap}").unwrap();
        let text = core::str::from_utf8(&buf.0[..buf.1]).unwrap();
        assert_eq!(text, "capdump: net 12 frames rw 0x0 net-rx-pool");
        assert_eq!(parse_line(text).unwrap(), Ok(DumpLine::Cap(cap)));
    }
}
