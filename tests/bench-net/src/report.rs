//! How a run's figures are told: the `bench-net:` lines, the goals with their verdicts, and the
//! section of docs/benchmarks.md that replaces the previous run's.

use crate::guest::{LINUX, LINUX_NO_MODERATION, LINUX_VTD, WARD, WARD_NO_MODERATION};
use crate::livelock::{median_at, Curve};
use crate::results::{Better, Ipc, Metric, Results};
use crate::stats::{figure, ratio, summarize};

/// The section's heading and the markers around the generated part of it.
pub const HEADING: &str = "## Network: Ward and Linux side by side (make bench-net)";
pub const BEGIN: &str = "<!-- figures recorded by make bench-net: begin -->";
pub const END: &str = "<!-- figures recorded by make bench-net: end -->";

/// A figure for one configuration, or why there is none.
enum Cell {
    Figure {
        median: f64,
        min: f64,
        max: f64,
        count: usize,
    },
    Missing(String),
}

fn cell(results: &Results, config: &str, metric: Metric) -> Cell {
    match summarize(results.samples(config, metric)) {
        Some(s) => Cell::Figure {
            median: s.median,
            min: s.min,
            max: s.max,
            count: s.count,
        },
        None => Cell::Missing(results.why_missing(config, metric).unwrap_or_default()),
    }
}

impl Cell {
    fn median(&self) -> Option<f64> {
        match self {
            Cell::Figure { median, .. } => Some(*median),
            Cell::Missing(_) => None,
        }
    }

    /// `3.61 s (3.45–4.16, n=3)`, or `not available (why)`.
    fn text(&self, unit: &str) -> String {
        match self {
            Cell::Figure {
                median, count: 1, ..
            } => format!("{} {unit} (n=1)", figure(*median)),
            Cell::Figure {
                median,
                min,
                max,
                count,
            } => format!(
                "{} {unit} ({}–{}, n={count})",
                figure(*median),
                figure(*min),
                figure(*max)
            ),
            Cell::Missing(why) => format!("not available ({why})"),
        }
    }
}

fn ratio_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// `bench-net: <metric>: ward X, linux Y, ratio Z`.
fn line(
    label: &str,
    ward: &str,
    linux: &str,
    ratio_value: Option<f64>,
    ward_missing: bool,
) -> String {
    let ward = if ward_missing {
        format!("ward: {ward}")
    } else {
        format!("ward {ward}")
    };
    let r = ratio_value
        .map(ratio)
        .unwrap_or_else(|| "not available".into());
    format!("bench-net: {label}: {ward}, linux {linux}, ratio {r}")
}

/// One comparison line for a metric between two configurations.
fn metric_line(results: &Results, metric: Metric, ward: &str, linux: &str, suffix: &str) -> String {
    let w = cell(results, ward, metric);
    let l = cell(results, linux, metric);
    line(
        &format!("{}{suffix} ({})", metric.label(), metric.unit()),
        &w.text(metric.unit()),
        &l.text(metric.unit()),
        ratio_of(w.median(), l.median()),
        w.median().is_none(),
    )
}

/// The ratio of Ward's median to Linux's for a metric.
fn metric_ratio(results: &Results, metric: Metric, ward: &str, linux: &str) -> Option<f64> {
    ratio_of(
        cell(results, ward, metric).median(),
        cell(results, linux, metric).median(),
    )
}

fn ipc_text(ipc: Option<&Result<Ipc, String>>, pick: fn(&Ipc) -> f64) -> (String, Option<f64>) {
    match ipc {
        Some(Ok(i)) => (format!("{} instructions", figure(pick(i))), Some(pick(i))),
        Some(Err(e)) => (format!("not available ({e})"), None),
        None => ("not available (not measured in this run)".into(), None),
    }
}

/// The multiples of saturation the livelock table and lines show.
fn livelock_multiples(results: &Results) -> Vec<f64> {
    let mut m: Vec<f64> = results
        .livelock
        .values()
        .filter_map(|c| c.as_ref().ok())
        .flatten()
        .flat_map(|c| c.points.iter().map(|p| p.multiple))
        .collect();
    m.sort_by(f64::total_cmp);
    m.dedup();
    m
}

/// A configuration's curves, or why it has none.
fn curves<'a>(results: &'a Results, config: &str) -> Result<&'a [Curve], String> {
    match results
        .livelock
        .iter()
        .find(|(c, _)| **c == config)
        .map(|(_, v)| v)
    {
        Some(Ok(curves)) if !curves.is_empty() => Ok(curves),
        Some(Err(e)) => Err(e.clone()),
        _ => Err(results
            .unavailable
            .iter()
            .find(|(c, _)| **c == config)
            .map(|(_, w)| w.clone())
            .unwrap_or_else(|| "not measured in this run".into())),
    }
}

/// The median delivered fraction of peak at `multiple` times saturation.
fn fraction_at(results: &Results, config: &str, multiple: f64) -> Result<f64, String> {
    let curves = curves(results, config)?;
    median_at(curves, multiple)
        .map(|m| m.fraction_of_peak)
        .ok_or_else(|| format!("no point at {multiple}x"))
}

/// The saturation rates over the rounds, in frames per second.
fn saturation(results: &Results, config: &str) -> Result<crate::stats::Summary, String> {
    let rates: Vec<f64> = curves(results, config)?
        .iter()
        .map(|c| c.saturation)
        .collect();
    summarize(&rates).ok_or_else(|| "no curve".to_string())
}

fn saturation_text(s: &crate::stats::Summary) -> String {
    let k = |v: f64| figure(v / 1000.0);
    if s.count == 1 {
        format!("{} kframes/s", k(s.median))
    } else {
        format!(
            "{} kframes/s ({}–{}, n={})",
            k(s.median),
            k(s.min),
            k(s.max),
            s.count
        )
    }
}

/// Every `bench-net:` line of the run.
pub fn lines(results: &Results) -> Vec<String> {
    let mut out = Vec::new();
    for metric in Metric::ALL {
        out.push(metric_line(results, metric, WARD.name, LINUX.name, ""));
    }
    if results.configs.contains(&LINUX_VTD.name) {
        for metric in Metric::ALL {
            out.push(metric_line(
                results,
                metric,
                WARD.name,
                LINUX_VTD.name,
                ", VT-d strict on both",
            ));
        }
    }
    for (ward, linux, what) in [
        (WARD.name, LINUX.name, ""),
        (
            WARD_NO_MODERATION.name,
            LINUX_NO_MODERATION.name,
            ", e1000 interrupt moderation off",
        ),
    ] {
        if !results.livelock.contains_key(ward) && !results.livelock.contains_key(linux) {
            continue;
        }
        let (ws, ls) = (saturation(results, ward), saturation(results, linux));
        let text = |s: &Result<crate::stats::Summary, String>| match s {
            Ok(s) => saturation_text(s),
            Err(e) => format!("not available ({e})"),
        };
        out.push(line(
            &format!("receive livelock, saturation rate{what}"),
            &text(&ws),
            &text(&ls),
            ratio_of(
                ws.as_ref().ok().map(|s| s.median),
                ls.as_ref().ok().map(|s| s.median),
            ),
            ws.is_err(),
        ));
        for m in livelock_multiples(results) {
            let (wf, lf) = (
                fraction_at(results, ward, m),
                fraction_at(results, linux, m),
            );
            out.push(line(
                &format!("receive livelock, delivered at {m}x saturation{what} (fraction of peak)"),
                &wf.clone()
                    .map(ratio)
                    .unwrap_or_else(|e| format!("not available ({e})")),
                &lf.clone()
                    .map(ratio)
                    .unwrap_or_else(|e| format!("not available ({e})")),
                ratio_of(wf.as_ref().ok().copied(), lf.as_ref().ok().copied()),
                wf.is_err(),
            ));
        }
    }
    if !results.ipc.is_empty() {
        for (what, pick) in [
            (
                "IPC round trip between address spaces (Ward Call+ReplyRecv, Linux pipe), instructions",
                (|i: &Ipc| i.round_trip.median) as fn(&Ipc) -> f64,
            ),
            (
                "null system call (Ward Yield, Linux getppid), instructions",
                |i: &Ipc| i.null_syscall.median,
            ),
        ] {
            let (w, wv) = ipc_text(results.ipc.get("ward"), pick);
            let (l, lv) = ipc_text(results.ipc.get("linux"), pick);
            out.push(line(what, &w, &l, ratio_of(wv, lv), wv.is_none()));
        }
    }
    out
}

/// A goal's verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Met(String),
    Missed(String),
    NotMeasured(String),
}

/// The goals, each judged on this run's figures.
pub fn goals(results: &Results) -> Vec<(String, Verdict)> {
    let mut out = Vec::new();
    let judge = |value: Result<f64, String>, limit: f64, better: Better, what: &str| -> Verdict {
        match value {
            Err(why) => Verdict::NotMeasured(why),
            Ok(v) => {
                let ok = match better {
                    Better::Higher => v >= limit,
                    Better::Lower => v <= limit,
                };
                let text = format!("{what} {}", ratio(v));
                if ok {
                    Verdict::Met(text)
                } else {
                    Verdict::Missed(text)
                }
            }
        }
    };
    let ratio_or_why = |metric: Metric| -> Result<f64, String> {
        metric_ratio(results, metric, WARD.name, LINUX.name).ok_or_else(|| {
            results
                .why_missing(WARD.name, metric)
                .or_else(|| {
                    results
                        .why_missing(LINUX.name, metric)
                        .map(|w| format!("linux: {w}"))
                })
                .unwrap_or_default()
        })
    };
    for metric in [Metric::HostToGuest, Metric::GuestToHost, Metric::Http] {
        out.push((
            format!(
                "{}: Ward with VT-d strict at least 1.0x Linux without an IOMMU",
                metric.label()
            ),
            judge(ratio_or_why(metric), 1.0, metric.better(), "ratio"),
        ));
    }
    for metric in [
        Metric::InstructionsUdpEcho,
        Metric::InstructionsTcpIn,
        Metric::InstructionsTcpOut,
    ] {
        out.push((
            format!("{}: Ward at most 0.5x Linux", metric.label()),
            judge(ratio_or_why(metric), 0.5, metric.better(), "ratio"),
        ));
    }
    out.push((
        "boot to first reply: Ward at most 0.1x Linux".into(),
        judge(
            ratio_or_why(Metric::Boot),
            0.1,
            Metric::Boot.better(),
            "ratio",
        ),
    ));
    out.push((
        "offered load at 2x saturation: Ward delivers at least 0.9 of its peak".into(),
        judge(
            fraction_at(results, WARD.name, 2.0),
            0.9,
            Better::Higher,
            "fraction of peak",
        ),
    ));
    let ipc = match (results.ipc.get("ward"), results.ipc.get("linux")) {
        (Some(Ok(w)), Some(Ok(l))) => Ok(w.round_trip.median / l.round_trip.median),
        (Some(Err(e)), _) => Err(e.clone()),
        (_, Some(Err(e))) => Err(format!("linux: {e}")),
        _ => Err("not measured in this run".into()),
    };
    out.push((
        "IPC round trip: Ward at most 1/10 of Linux's pipe round trip in instructions".into(),
        judge(ipc, 0.1, Better::Lower, "ratio"),
    ));
    out
}

/// A goal's verdict in words; Ward's reason for being down is said once elsewhere.
fn verdict_text(results: &Results, verdict: &Verdict, missed: &str) -> String {
    match verdict {
        Verdict::Met(t) => format!("met ({t})"),
        Verdict::Missed(t) => format!("{missed} ({t})"),
        Verdict::NotMeasured(t) if ward_down(results) == Some(t) => {
            "not measured (ward not available)".into()
        }
        Verdict::NotMeasured(t) => format!("not measured ({t})"),
    }
}

pub fn goal_line(results: &Results, goal: &str, verdict: &Verdict) -> String {
    format!(
        "bench-net: goal: {goal}: {}",
        verdict_text(results, verdict, "MISSED")
    )
}

/// Facts about the run for the section's first lines.
#[derive(Debug, Clone, Default)]
pub struct Setting {
    pub date: String,
    pub machine: String,
    pub qemu: String,
    pub linux_packages: Vec<String>,
    pub ward_commit: String,
    pub rounds: usize,
    pub sizes: String,
}

/// Why Ward was not available at all in this run, if it was not.
fn ward_down(results: &Results) -> Option<&String> {
    results.unavailable.get(WARD.name)
}

/// A reason for a table: Ward's reason for being down is said once above the tables.
fn md_reason(results: &Results, why: &str) -> String {
    if ward_down(results).is_some_and(|w| w == why) {
        "not available".into()
    } else {
        format!("not available ({})", why.replace('|', "/"))
    }
}

fn md_cell(results: &Results, config: &str, metric: Metric) -> String {
    match cell(results, config, metric) {
        c @ Cell::Figure { .. } => c.text(metric.unit()),
        Cell::Missing(why) => md_reason(results, &why),
    }
}

/// The generated part of the docs/benchmarks.md section (between the markers).
pub fn markdown(results: &Results, setting: &Setting, plots: &[(&str, &str)]) -> String {
    let mut s = String::new();
    let mut add = |t: &str| {
        s.push_str(t);
        s.push('\n');
    };
    add(BEGIN);
    add(&format!(
        "Recorded {} on {}; {}; Linux peer from Debian: {}; Ward at commit {}. {} round(s), one \
         QEMU at a time, the systems alternating; {}.",
        setting.date,
        setting.machine,
        setting.qemu,
        setting.linux_packages.join(", "),
        setting.ward_commit,
        setting.rounds,
        setting.sizes
    ));
    add("");
    if let Some(why) = ward_down(results) {
        add(&format!(
            "**Ward was not available in this run**: {why}. Its cells stay empty until its data path answers \
             the bench service contract ([bench-net.md](bench-net.md))."
        ));
        add("");
    }
    add("Each cell is the median with the lowest and highest sample and their count. Times and rates are");
    add("wall time under TCG (±25% between runs on these machines: compare the ratios); instructions are");
    add("counted under `-icount shift=0,align=off` with the guest's idle time taken out (the counters on");
    add("UDP 9000), per datagram echoed or per TCP segment carrying data, counted on the wire.");
    add("");
    add("| metric | Ward | Linux | Ward / Linux |");
    add("|---|---|---|---|");
    let table_row = |metric: Metric, linux: &str| {
        format!(
            "| {} | {} | {} | {} |",
            metric.label(),
            md_cell(results, WARD.name, metric),
            md_cell(results, linux, metric),
            metric_ratio(results, metric, WARD.name, linux)
                .map(ratio)
                .unwrap_or_else(|| "–".into())
        )
    };
    for metric in Metric::ALL {
        add(&table_row(metric, LINUX.name));
    }
    if results.configs.contains(&LINUX_VTD.name) {
        add("");
        add("With VT-d strict on both (Ward's normal state; Linux with `intel_iommu=on iommu.strict=1`):");
        add("");
        add("| metric | Ward | Linux, VT-d strict | Ward / Linux |");
        add("|---|---|---|---|");
        for metric in Metric::ALL {
            add(&table_row(metric, LINUX_VTD.name));
        }
    }
    let multiples = livelock_multiples(results);
    if !multiples.is_empty() {
        add("");
        add("Receive livelock: UDP echo frames of 60 bytes from a host-side generator on QEMU's socket");
        add("backend; each system's offered load is a multiple of its own saturation rate (the most it");
        add("delivered while the ramp raised the load), one curve per round. Cells: the median delivered");
        add("rate in kframes/s over the rounds, and the median fraction of each round's peak. \"nomod\" is");
        add("QEMU's e1000 with `mitigation=off`: the NIC ignores ITR and the receive/transmit delay timers");
        add("and interrupts for every frame. Wall time on a shared host: read the shapes, not the digits.");
        add("");
        let configs = [
            WARD.name,
            WARD_NO_MODERATION.name,
            LINUX.name,
            LINUX_NO_MODERATION.name,
        ];
        add(&format!("| offered | {} |", configs.join(" | ")));
        add(&format!("|---|{}", "---|".repeat(configs.len())));
        let saturation_cells: Vec<String> = configs
            .iter()
            .map(|c| match saturation(results, c) {
                Ok(s) => saturation_text(&s),
                Err(e) => md_reason(results, &e),
            })
            .collect();
        add(&format!(
            "| saturation | {} |",
            saturation_cells.join(" | ")
        ));
        for m in &multiples {
            let cells: Vec<String> = configs
                .iter()
                .map(|c| {
                    curves(results, c)
                        .ok()
                        .and_then(|curves| median_at(curves, *m))
                        .map(|p| {
                            format!(
                                "{} ({})",
                                figure(p.delivered / 1000.0),
                                ratio(p.fraction_of_peak)
                            )
                        })
                        .unwrap_or_else(|| "–".into())
                })
                .collect();
            add(&format!("| {m}x | {} |", cells.join(" | ")));
        }
    }
    if !results.ipc.is_empty() {
        add("");
        add("IPC under icount (median of 2,001 single round trips, p10–p90): Ward's Call+ReplyRecv between two");
        add("address spaces (`make bench-kernel`'s figure) against a pipe round trip between two Linux processes");
        add("(`tests/bench-net/linux-peer/pipe-rtt.c`), and the null system call of each.");
        add("");
        add("| operation | Ward | Linux | Ward / Linux |");
        add("|---|---|---|---|");
        for (what, pick) in [
            (
                "round trip between address spaces",
                (|i: &Ipc| i.round_trip) as fn(&Ipc) -> _,
            ),
            ("null system call", |i: &Ipc| i.null_syscall),
        ] {
            let text = |k: &str| match results.ipc.get(k) {
                Some(Ok(i)) => {
                    let f = pick(i);
                    (
                        format!("{} ({}–{})", figure(f.median), figure(f.p10), figure(f.p90)),
                        Some(f.median),
                    )
                }
                Some(Err(e)) => (format!("not available ({e})"), None),
                None => ("not measured".into(), None),
            };
            let (w, wv) = text("ward");
            let (l, lv) = text("linux");
            add(&format!(
                "| {what} | {w} | {l} | {} |",
                ratio_of(wv, lv).map(ratio).unwrap_or_else(|| "–".into())
            ));
        }
    }
    if !plots.is_empty() {
        add("");
        for (title, path) in plots {
            add(&format!("![{title}]({path})"));
            add("");
        }
    }
    add("");
    add("Goals (from issue 15), judged on this run:");
    add("");
    for (goal, verdict) in goals(results) {
        add(&format!(
            "- {goal}: {}",
            verdict_text(results, &verdict, "**missed**")
        ));
    }
    add(END);
    s
}

/// `doc` with the section's generated part replaced by `generated` (the markers included):
/// between the markers if they exist, else the whole section under the heading up to the next
/// `## ` heading, else appended as a new section.
pub fn replace_section(doc: &str, generated: &str) -> String {
    let generated = generated.trim_end_matches('\n');
    if let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) {
        if b < e {
            return format!("{}{}{}", &doc[..b], generated, &doc[e + END.len()..]);
        }
    }
    let section = format!("{HEADING}\n\n{generated}\n");
    if let Some(h) = doc.find(&format!("{HEADING}\n")) {
        let after = &doc[h + HEADING.len()..];
        let rest = after.find("\n## ").map(|i| &after[i + 1..]).unwrap_or("");
        let sep = if rest.is_empty() { "" } else { "\n" };
        return format!("{}{section}{sep}{rest}", &doc[..h]);
    }
    let mut out = doc.trim_end_matches('\n').to_string();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(&section);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::livelock::{Curve, Point};
    use crate::results::BenchFigure;

    fn sample_results() -> Results {
        let mut r = Results::default();
        for v in [3.4, 3.6, 4.1] {
            r.add("linux", Metric::Boot, v);
        }
        r.add("linux", Metric::Http, 70.0);
        r.set_unavailable(
            "ward",
            "no UDP echo reply within 20 s of 'ward: system ready'".into(),
        );
        r
    }

    #[test]
    fn a_missing_ward_column_says_so_plainly() {
        let lines = lines(&sample_results());
        assert_eq!(
            lines[0],
            "bench-net: boot to first UDP echo reply (s): ward: not available (no UDP echo reply within 20 s \
             of 'ward: system ready'), linux 3.60 s (3.40–4.10, n=3), ratio not available"
        );
    }

    #[test]
    fn both_columns_give_a_ratio() {
        let mut r = sample_results();
        r.unavailable.clear();
        r.add("ward", Metric::Boot, 0.36);
        let l = lines(&r);
        assert_eq!(
            l[0],
            "bench-net: boot to first UDP echo reply (s): ward 0.360 s (n=1), linux 3.60 s (3.40–4.10, n=3), ratio 0.10"
        );
        let goals = goals(&r);
        let boot = goals.iter().find(|(g, _)| g.starts_with("boot")).unwrap();
        assert_eq!(boot.1, Verdict::Met("ratio 0.10".into()));
        let http = goals.iter().find(|(g, _)| g.starts_with("HTTP")).unwrap();
        assert!(matches!(http.1, Verdict::NotMeasured(_)));
    }

    #[test]
    fn livelock_and_ipc_lines() {
        let mut r = sample_results();
        let curve = |peak: f64, at2: f64| Curve {
            saturation: peak,
            ramp: vec![Point {
                multiple: 0.0,
                offered: peak,
                delivered: peak,
            }],
            points: vec![Point {
                multiple: 2.0,
                offered: 2.0 * peak,
                delivered: at2,
            }],
        };
        r.add_curve("ward", Ok(curve(10_000.0, 9_500.0)));
        r.add_curve("linux", Ok(curve(20_000.0, 10_000.0)));
        r.add_curve("linux", Ok(curve(20_000.0, 12_000.0)));
        r.add_curve("linux", Ok(curve(30_000.0, 12_000.0)));
        let fig = |m| BenchFigure {
            median: m,
            p10: m,
            p90: m,
        };
        r.ipc.insert(
            "ward",
            Ok(Ipc {
                round_trip: fig(1300.0),
                null_syscall: fig(500.0),
            }),
        );
        r.ipc.insert(
            "linux",
            Ok(Ipc {
                round_trip: fig(13026.0),
                null_syscall: fig(323.0),
            }),
        );
        let l = lines(&r);
        assert!(l.contains(
            &"bench-net: receive livelock, delivered at 2x saturation (fraction of peak): ward 0.95, linux 0.50, ratio 1.90"
                .to_string()
        ));
        assert!(l.iter().any(|x| x.starts_with(
            "bench-net: IPC round trip between address spaces (Ward Call+ReplyRecv, Linux pipe), instructions: ward 1300 instructions, linux 13026 instructions, ratio 0.10"
        )));
        let g = goals(&r);
        assert!(g.iter().any(|(n, v)| n.starts_with("offered load")
            && *v == Verdict::Met("fraction of peak 0.95".into())));
        assert!(g
            .iter()
            .any(|(n, v)| n.starts_with("IPC") && *v == Verdict::Met("ratio 0.10".into())));
        let md = markdown(
            &r,
            &Setting::default(),
            &[("livelock", "bench-net/livelock.svg")],
        );
        assert!(
            md.contains("| 2x | 9.50 (0.95) | – | 12 (0.50) | – |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| saturation | 10 kframes/s | not available (not measured in this run) \
                 | 20 kframes/s (20–30, n=3) | not available (not measured in this run) |"
            ),
            "{md}"
        );
        assert!(md.contains("![livelock](bench-net/livelock.svg)"));
    }

    #[test]
    fn an_absent_ward_is_explained_once_in_the_document() {
        let r = sample_results();
        let md = markdown(&r, &Setting::default(), &[]);
        let why = "no UDP echo reply within 20 s of 'ward: system ready'";
        assert_eq!(md.matches(why).count(), 1, "{md}");
        assert!(md.contains("**Ward was not available in this run**"));
        assert!(md.contains(
            "| boot to first UDP echo reply | not available | 3.60 s (3.40–4.10, n=3) | – |"
        ));
        assert!(md.contains(
            "- boot to first reply: Ward at most 0.1x Linux: not measured (ward not available)"
        ));
        assert!(md.starts_with(BEGIN) && md.trim_end().ends_with(END));
    }

    #[test]
    fn sections_are_replaced_not_repeated() {
        let generated = format!("{BEGIN}\nnew figures\n{END}\n");
        // No section yet: appended.
        let doc = "## Kernel (make bench)\n\nkernel\n";
        let once = replace_section(doc, &generated);
        assert_eq!(
            once,
            format!(
                "## Kernel (make bench)\n\nkernel\n\n{HEADING}\n\n{BEGIN}\nnew figures\n{END}\n"
            )
        );
        // Markers present: only between them; text around them stays.
        let with_notes = once.replace(
            &format!("{END}\n"),
            &format!("{END}\n\nHand-written notes.\n"),
        );
        let again = replace_section(&with_notes, &format!("{BEGIN}\nnewer\n{END}\n"));
        assert!(again.contains("newer") && !again.contains("new figures"));
        assert!(again.contains("Hand-written notes."));
        assert_eq!(again.matches(HEADING).count(), 1);
        // A section without markers is replaced up to the next heading.
        let old = format!("{HEADING}\n\nold text\n\n## Later\n\nkept\n");
        let replaced = replace_section(&old, &generated);
        assert_eq!(
            replaced,
            format!("{HEADING}\n\n{BEGIN}\nnew figures\n{END}\n\n## Later\n\nkept\n")
        );
    }
}
