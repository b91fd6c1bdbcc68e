//! What a run measured: samples per configuration and metric, the reasons a figure is missing,
//! the livelock curves and the IPC figures.

use std::collections::BTreeMap;

use crate::livelock::Curve;

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// The figures compared side by side, one sample per boot (or per repetition within a boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    Boot,
    UdpRttMedian,
    UdpRttP99,
    TcpRtt,
    HostToGuest,
    GuestToHost,
    Http,
    InstructionsUdpEcho,
    InstructionsTcpIn,
    InstructionsTcpOut,
}

impl Metric {
    pub const ALL: [Metric; 10] = [
        Metric::Boot,
        Metric::UdpRttMedian,
        Metric::UdpRttP99,
        Metric::TcpRtt,
        Metric::HostToGuest,
        Metric::GuestToHost,
        Metric::Http,
        Metric::InstructionsUdpEcho,
        Metric::InstructionsTcpIn,
        Metric::InstructionsTcpOut,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Metric::Boot => "boot to first UDP echo reply",
            Metric::UdpRttMedian => "UDP echo round trip, median",
            Metric::UdpRttP99 => "UDP echo round trip, p99",
            Metric::TcpRtt => "TCP echo round trip, median",
            Metric::HostToGuest => "TCP throughput host to guest",
            Metric::GuestToHost => "TCP throughput guest to host",
            Metric::Http => "HTTP GET of 10 MiB",
            Metric::InstructionsUdpEcho => "guest instructions per UDP echo",
            Metric::InstructionsTcpIn => {
                "guest instructions per TCP data segment received (bulk host to guest)"
            }
            Metric::InstructionsTcpOut => {
                "guest instructions per TCP data segment sent (bulk guest to host)"
            }
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Metric::Boot => "s",
            Metric::UdpRttMedian | Metric::UdpRttP99 | Metric::TcpRtt => "µs",
            Metric::HostToGuest | Metric::GuestToHost | Metric::Http => "MB/s",
            Metric::InstructionsUdpEcho
            | Metric::InstructionsTcpIn
            | Metric::InstructionsTcpOut => "instructions",
        }
    }

    /// Counted under icount (instructions) rather than timed.
    pub fn counted(self) -> bool {
        self.unit() == "instructions"
    }

    pub fn better(self) -> Better {
        match self {
            Metric::HostToGuest | Metric::GuestToHost | Metric::Http => Better::Higher,
            _ => Better::Lower,
        }
    }
}

/// A figure from a kernel or pipe benchmark line: median and spread, in instructions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchFigure {
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
}

/// The IPC comparison: a round trip between two address spaces, and a null system call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ipc {
    pub round_trip: BenchFigure,
    pub null_syscall: BenchFigure,
}

/// Everything one run measured, keyed by configuration name.
#[derive(Debug, Default)]
pub struct Results {
    samples: BTreeMap<(&'static str, Metric), Vec<f64>>,
    /// Why a metric has no (or not all) samples for a configuration.
    missing: BTreeMap<(&'static str, Metric), String>,
    /// Why a configuration could not be measured at all.
    pub unavailable: BTreeMap<&'static str, String>,
    /// Every UDP echo round trip in microseconds (for the distribution plot).
    pub udp_rtts: BTreeMap<&'static str, Vec<f64>>,
    /// Each configuration's curves, one per round, or why there are none.
    pub livelock: BTreeMap<&'static str, Result<Vec<Curve>, String>>,
    /// Keyed "ward" / "linux".
    pub ipc: BTreeMap<&'static str, Result<Ipc, String>>,
    /// Configurations measured, in the order first seen.
    pub configs: Vec<&'static str>,
}

impl Results {
    fn seen(&mut self, config: &'static str) {
        if !self.configs.contains(&config) {
            self.configs.push(config);
        }
    }

    pub fn add(&mut self, config: &'static str, metric: Metric, value: f64) {
        self.seen(config);
        self.samples
            .entry((config, metric))
            .or_default()
            .push(value);
    }

    /// Records why `metric` failed for `config` (the first reason is kept).
    pub fn fail(&mut self, config: &'static str, metric: Metric, why: String) {
        self.seen(config);
        self.missing.entry((config, metric)).or_insert(why);
    }

    /// Adds one round's curve; a failed round replaces the curves with its reason.
    pub fn add_curve(&mut self, config: &'static str, curve: Result<Curve, String>) {
        self.seen(config);
        let entry = self
            .livelock
            .entry(config)
            .or_insert_with(|| Ok(Vec::new()));
        match (entry.as_mut(), curve) {
            (Ok(curves), Ok(c)) => curves.push(c),
            (Ok(_), Err(e)) => *entry = Err(e),
            (Err(_), _) => {}
        }
    }

    pub fn set_unavailable(&mut self, config: &'static str, why: String) {
        self.seen(config);
        self.unavailable.entry(config).or_insert(why);
    }

    pub fn samples(&self, config: &str, metric: Metric) -> &[f64] {
        self.samples
            .iter()
            .find(|((c, m), _)| *c == config && *m == metric)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// Why `config` has no figure for `metric`, if it has none.
    pub fn why_missing(&self, config: &str, metric: Metric) -> Option<String> {
        if !self.samples(config, metric).is_empty() {
            return None;
        }
        if let Some(why) = self
            .unavailable
            .iter()
            .find(|(c, _)| **c == config)
            .map(|(_, w)| w)
        {
            return Some(why.clone());
        }
        Some(
            self.missing
                .iter()
                .find(|((c, m), _)| *c == config && *m == metric)
                .map(|(_, w)| w.clone())
                .unwrap_or_else(|| "not measured in this run".to_string()),
        )
    }

    /// Every failure recorded for a configuration (for the verdict of the run).
    pub fn failures(&self, config: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .unavailable
            .iter()
            .filter(|(c, _)| **c == config)
            .map(|(_, w)| w.clone())
            .collect();
        out.extend(
            self.missing
                .iter()
                .filter(|((c, _), _)| *c == config)
                .map(|((_, m), w)| format!("{}: {w}", m.label())),
        );
        for (c, r) in &self.livelock {
            if let (true, Err(e)) = (*c == config, r) {
                out.push(format!("livelock: {e}"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_figures_say_why() {
        let mut r = Results::default();
        r.add("linux", Metric::Boot, 3.5);
        r.fail("linux", Metric::Http, "refused".into());
        r.fail("linux", Metric::Http, "second reason".into());
        r.set_unavailable("ward", "no UDP echo reply".into());
        assert_eq!(r.why_missing("linux", Metric::Boot), None);
        assert_eq!(
            r.why_missing("linux", Metric::Http).as_deref(),
            Some("refused")
        );
        assert_eq!(
            r.why_missing("ward", Metric::Boot).as_deref(),
            Some("no UDP echo reply")
        );
        assert_eq!(
            r.why_missing("linux", Metric::TcpRtt).as_deref(),
            Some("not measured in this run")
        );
        assert_eq!(r.failures("linux"), ["HTTP GET of 10 MiB: refused"]);
        assert_eq!(r.configs, ["linux", "ward"]);
    }
}
