//! docs/kernel.md's invocation tables are generated from the declarations
//! in `ward_abi::invocation`: this test regenerates each table (one per
//! group of labels, between `<!-- invocations: GROUP begin -->` and
//! `<!-- invocations: GROUP end -->`) and fails when the page differs.
//! Run with `UPDATE_DOCS=1` to rewrite the tables in place after changing a
//! declaration, then review the diff.

use std::fmt::Write as _;
use std::path::PathBuf;

use ward_abi::invocation::{CapArgKind, Declaration, DECLARATIONS};
use ward_abi::rights::CapRights;

/// The groups, by the label's block of 16 (abi/src/invocation.rs).
const GROUPS: &[(&str, u64)] = &[
    ("untyped", 0x1),
    ("cnode", 0x2),
    ("tcb", 0x3),
    ("vspace", 0x4),
    ("irq", 0x5),
    ("ioport", 0x6),
    ("iommu", 0x7),
];

fn rights(rights: CapRights) -> String {
    let mut names = Vec::new();
    for (right, name) in [
        (CapRights::READ, "Read"),
        (CapRights::WRITE, "Write"),
        (CapRights::EXECUTE, "Execute"),
        (CapRights::GRANT, "Grant"),
        (CapRights::GRANT_REPLY, "GrantReply"),
    ] {
        if rights.contains(right) {
            names.push(name);
        }
    }
    names.join(" + ")
}

fn row(d: &Declaration) -> String {
    let mut out = String::new();
    let object = match d.object_rights {
        r if r == CapRights::NONE => ward_abi::cap_kind::name(d.object).to_string(),
        r => format!("{} with {}", ward_abi::cap_kind::name(d.object), rights(r)),
    };
    let mut words: Vec<String> = d
        .words
        .iter()
        .enumerate()
        .map(|(i, w)| format!("MR{i} `{w}`"))
        .collect();
    if let Some(tail) = d.tail {
        words.push(format!("MR{}.. `{tail}`", d.words.len()));
    }
    let words = if words.is_empty() {
        "–".to_string()
    } else {
        words.join(", ")
    };
    let caps: Vec<String> = d
        .caps
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut text = format!("cap {i} `{}`: {}", c.name, c.kind.describe());
            if c.rights != CapRights::NONE {
                let _ = write!(text, " with {}", rights(c.rights));
            }
            if c.kind == CapArgKind::LookupRoot {
                text = format!("cap {i} `{}`: the root CNode of the lookup", c.name);
            }
            if c.optional {
                text.push_str(" (optional)");
            }
            text
        })
        .collect();
    let caps = if caps.is_empty() {
        "–".to_string()
    } else {
        caps.join("; ")
    };
    let result = if d.result.is_empty() {
        "–".to_string()
    } else {
        d.result
            .iter()
            .enumerate()
            .map(|(i, w)| format!("MR{i} `{w}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "| {:#x} | `{}` / `{}` | {object} | {words} | {caps} | {result} | {} |",
        d.label as u64, d.name, d.method, d.summary
    );
    out
}

fn table(block: u64) -> String {
    let mut out = String::from(
        "| label | invocation / userlib | invoked on | word args | cap args | result | what it does |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for d in DECLARATIONS.iter().filter(|d| d.label as u64 >> 4 == block) {
        out.push_str(&row(d));
    }
    out
}

#[test]
fn kernel_doc_tables_match_the_declarations() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/kernel.md");
    let page = std::fs::read_to_string(&path).expect("docs/kernel.md");
    let mut updated = page.clone();
    let mut differ = Vec::new();
    for (group, block) in GROUPS {
        let begin = format!("<!-- invocations: {group} begin -->\n");
        let end = format!("<!-- invocations: {group} end -->");
        let (Some(start), Some(stop)) = (updated.find(&begin), updated.find(&end)) else {
            panic!("docs/kernel.md has no markers for the `{group}` table ({begin:?})");
        };
        let start = start + begin.len();
        let want = table(*block);
        if updated[start..stop] != want {
            differ.push(*group);
            updated.replace_range(start..stop, &want);
        }
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        if updated != page {
            std::fs::write(&path, updated).expect("write docs/kernel.md");
        }
        return;
    }
    assert!(
        differ.is_empty(),
        "docs/kernel.md's invocation tables {differ:?} differ from abi/src/invocation.rs; \
         run `UPDATE_DOCS=1 cargo test -p ward-abi --test kernel_doc` and review the diff"
    );
}

/// Every declared label is in exactly one documented group.
#[test]
fn every_declaration_is_in_a_group() {
    for d in DECLARATIONS {
        assert!(
            GROUPS
                .iter()
                .any(|(_, block)| d.label as u64 >> 4 == *block),
            "{} (label {:#x}) is in no documented group",
            d.name,
            d.label as u64
        );
    }
}
