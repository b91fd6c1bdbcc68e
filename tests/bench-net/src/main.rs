//! `make bench-net`: Ward side by side with a Linux guest on the same QEMU machine, the same
//! e1000, the same network backend and the same host clients, counted in guest instructions as
//! well as time. See docs/bench-net.md for what is measured and how.
//!
//! Each round boots every configuration in turn, one QEMU at a time and alternating the order:
//! once timed (readiness, round trips, throughput) and once under `-icount shift=0,align=off`
//! (instructions per packet). Then, once per run: the receive-livelock curves on QEMU's socket
//! backend, and the IPC comparison under icount. It prints `bench-net: <metric>: ward X, linux Y,
//! ratio Z` for every figure, judges the goals, and with `--record` writes the section of
//! docs/benchmarks.md and its plots. Until Ward's data path answers the bench service contract
//! its column says `ward: not available (<reason>)` and the run still succeeds, unless
//! `--ward-required`.

mod clients;
mod frames;
mod guest;
mod livelock;
mod pcap;
mod plot;
mod report;
mod results;
mod stats;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Parser;

use guest::{
    console_tail, Boot, Config, Forwards, Guest, Images, Network, System, LINUX,
    LINUX_NO_MODERATION, LINUX_VTD, WARD, WARD_NO_MODERATION,
};
use results::{BenchFigure, Ipc, Metric, Results};

#[derive(Parser, Debug)]
#[command(about = "Boots Ward and the Linux peer in turn and compares them (make bench-net)")]
struct Args {
    /// Rounds; each boots every configuration once timed and once under icount.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The smoke run of `make test`: one round, small sizes, no VT-d configuration, a short
    /// livelock ramp, the IPC figures.
    #[arg(long)]
    smoke: bool,
    /// Fail unless Ward answers every measurement (for once the data path has landed).
    #[arg(long)]
    ward_required: bool,
    /// Ward's boot image (`make image`).
    #[arg(long, default_value = "build/images/system")]
    ward_image: PathBuf,
    /// The kernel benchmark image (`make ktest-image`), for Ward's IPC figure.
    #[arg(long, default_value = "build/images/ktest")]
    ktest_image: PathBuf,
    /// The Linux peer (`scripts/linux-peer.sh`).
    #[arg(long, default_value = "build/linux-peer/image")]
    linux_image: PathBuf,
    /// Consoles, wire captures, the printed lines and the plots of this run.
    #[arg(long, default_value = "build/bench-net")]
    out: PathBuf,
    /// Record the figures in this document (its bench-net section is replaced) and the plots
    /// in `bench-net/` beside it.
    #[arg(long)]
    record: Option<PathBuf>,
    /// The repository root, where scripts/qemu.sh is.
    #[arg(long, default_value = ".")]
    root: PathBuf,
}

/// How much each boot measures.
#[derive(Debug, Clone)]
struct Sizes {
    udp_rtts: usize,
    tcp_rtts: usize,
    bulk_bytes: u64,
    /// Bulk and HTTP transfers per timed boot.
    repeats: usize,
    icount_echoes: usize,
    icount_bulk_bytes: u64,
    vtd: bool,
    livelock: livelock::Plan,
    /// Also the curves with the NIC's interrupt moderation off.
    livelock_without_moderation: bool,
}

const MIB: u64 = 1024 * 1024;

impl Sizes {
    fn full() -> Sizes {
        Sizes {
            udp_rtts: 2000,
            tcp_rtts: 1000,
            bulk_bytes: 32 * MIB,
            repeats: 3,
            icount_echoes: 1000,
            icount_bulk_bytes: 8 * MIB,
            vtd: true,
            livelock: livelock::Plan {
                multiples: vec![0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0],
                window: Duration::from_secs(2),
                ramp_window: Duration::from_millis(700),
                ramp_start: 1000.0,
                max_rate: 400_000.0,
            },
            livelock_without_moderation: true,
        }
    }

    fn smoke() -> Sizes {
        Sizes {
            udp_rtts: 50,
            tcp_rtts: 20,
            bulk_bytes: MIB,
            repeats: 1,
            icount_echoes: 50,
            icount_bulk_bytes: MIB,
            vtd: false,
            livelock: livelock::Plan {
                multiples: vec![0.5, 2.0],
                window: Duration::from_millis(400),
                ramp_window: Duration::from_millis(300),
                ramp_start: 2000.0,
                max_rate: 100_000.0,
            },
            livelock_without_moderation: false,
        }
    }

    fn describe(&self) -> String {
        format!(
            "per timed boot {} UDP echoes, {} TCP echoes, {} x ({} MiB each way and the 10 MiB HTTP GET); \
             per icount boot {} UDP echoes and {} MiB each way",
            self.udp_rtts,
            self.tcp_rtts,
            self.repeats,
            self.bulk_bytes / MIB,
            self.icount_echoes,
            self.icount_bulk_bytes / MIB
        )
    }
}

/// Limits that bound every boot and every measurement.
mod limits {
    use std::time::Duration;
    /// From QEMU's start to the first UDP echo reply (Linux takes 3–8 s under TCG).
    pub const BOOT: Duration = Duration::from_secs(90);
    /// Ward: after it prints its ready line, the network must answer within this.
    pub const WARD_AFTER_READY: Duration = Duration::from_secs(15);
    /// The line Ward prints once every component is started.
    pub const WARD_READY_LINE: &str = "ward: system ready";
    /// Each measurement (a set of round trips, one transfer) must end within this.
    pub const MEASUREMENT: Duration = Duration::from_secs(120);
    /// The runner's own limit for a boot: QEMU never outlives it.
    pub const QEMU_SECONDS: u64 = 900;
    /// A benchmark guest (ktest, pipe-rtt) must power off within this.
    pub const IPC_RUN: Duration = Duration::from_secs(300);
    /// Wait for one readiness probe's echo.
    pub const PROBE_WAIT: Duration = Duration::from_millis(20);
    /// How often the console is read while waiting.
    pub const CONSOLE_CHECK: Duration = Duration::from_millis(250);
}

/// Progress goes to stderr; the figures to stdout.
fn progress(text: &str) {
    eprintln!("bench-net: ... {text}");
}

/// A guest that answered, with its host forwards.
struct Ready {
    guest: Guest,
    forwards: Forwards,
    /// From QEMU's start to the first UDP echo reply.
    seconds: f64,
    capture: Option<PathBuf>,
}

struct Bench {
    root: PathBuf,
    images: Images,
    out: PathBuf,
    sizes: Sizes,
    results: Results,
}

impl Bench {
    /// Once Ward did not answer, it is not booted again in this run: the reason stands.
    fn skipped(&self, config: Config) -> bool {
        config.system == System::Ward && self.ward_down_reason().is_some()
    }

    /// A boot that never answered: Ward is then not available for the rest of the run; for
    /// Linux (which must always answer) the boot's metrics fail with the reason.
    fn not_ready(&mut self, config: Config, counted: bool, why: String) {
        match config.system {
            System::Ward => self.results.set_unavailable(config.name, why),
            System::Linux => {
                for m in Metric::ALL.into_iter().filter(|m| m.counted() == counted) {
                    self.results.fail(config.name, m, why.clone());
                }
            }
        }
    }

    fn ward_down_reason(&self) -> Option<String> {
        [WARD.name, WARD_NO_MODERATION.name]
            .iter()
            .find_map(|c| self.results.unavailable.get(c).cloned())
    }

    fn boot(&self, config: Config, network: Network, kind: &str, round: usize) -> Boot<'static> {
        Boot {
            config,
            network,
            icount: false,
            capture: None,
            root_args: "",
            kernel_args: "",
            image: None,
            seconds: limits::QEMU_SECONDS,
            log: self.out.join(format!("{}-{kind}-{round}.log", config.name)),
            com2: self
                .out
                .join(format!("{}-{kind}-{round}.com2.log", config.name)),
        }
    }

    /// Boots `config` on the user network (under icount and with a wire capture when
    /// `counted`) and waits for its UDP echo; when it does not answer, records why.
    fn start_ready(&mut self, config: Config, round: usize, counted: bool) -> Option<Ready> {
        if self.skipped(config) {
            return None;
        }
        let kind = if counted { "icount" } else { "timed" };
        let forwards = match Forwards::pick() {
            Ok(f) => f,
            Err(e) => {
                self.not_ready(config, counted, format!("no free host ports: {e}"));
                return None;
            }
        };
        let mut boot = self.boot(config, Network::User(forwards), kind, round);
        if counted {
            let capture = self
                .out
                .join(format!("{}-{kind}-{round}.pcap", config.name));
            let _ = fs::remove_file(&capture);
            boot.icount = true;
            boot.capture = Some(capture);
        }
        progress(&format!(
            "round {}: {} ({kind}), console in {}",
            round + 1,
            config.name,
            boot.log.display()
        ));
        let outcome = Guest::start(&self.root, &self.images, &boot).and_then(|mut guest| {
            let seconds = wait_udp_ready(&mut guest, config, forwards.udp_echo)?;
            Ok((guest, seconds))
        });
        match outcome {
            Ok((guest, seconds)) => Some(Ready {
                guest,
                forwards,
                seconds,
                capture: boot.capture,
            }),
            Err(why) => {
                self.not_ready(config, counted, why);
                None
            }
        }
    }

    /// One timed boot: readiness, round trips, transfers.
    fn timed(&mut self, config: Config, round: usize) {
        let Some(Ready {
            guest: _guest,
            forwards,
            seconds,
            ..
        }) = self.start_ready(config, round, false)
        else {
            return;
        };
        self.results.add(config.name, Metric::Boot, seconds);
        let deadline = || Instant::now() + limits::MEASUREMENT;
        let name = config.name;
        match clients::udp_rtts(
            Forwards::addr(forwards.udp_echo),
            self.sizes.udp_rtts,
            deadline(),
        ) {
            Ok(r) => match stats::summarize(&r.micros) {
                Some(s) => {
                    self.results.add(name, Metric::UdpRttMedian, s.median);
                    self.results.add(name, Metric::UdpRttP99, s.p99);
                    self.results
                        .udp_rtts
                        .entry(name)
                        .or_default()
                        .extend(&r.micros);
                    if r.lost > 0 {
                        progress(&format!(
                            "{name}: {} of {} UDP echoes lost",
                            r.lost, self.sizes.udp_rtts
                        ));
                    }
                }
                None => {
                    self.results
                        .fail(name, Metric::UdpRttMedian, "every UDP echo was lost".into())
                }
            },
            Err(e) => self
                .results
                .fail(name, Metric::UdpRttMedian, format!("UDP echo: {e}")),
        }
        match clients::tcp_rtts(
            Forwards::addr(forwards.tcp_echo),
            self.sizes.tcp_rtts,
            deadline(),
        ) {
            Ok(micros) => {
                if let Some(s) = stats::summarize(&micros) {
                    self.results.add(name, Metric::TcpRtt, s.median);
                }
            }
            Err(e) => self
                .results
                .fail(name, Metric::TcpRtt, format!("TCP echo on port 7: {e}")),
        }
        for _ in 0..self.sizes.repeats {
            let bytes = self.sizes.bulk_bytes;
            let transfers = [
                (
                    Metric::HostToGuest,
                    clients::sink(Forwards::addr(forwards.sink), bytes, deadline()),
                    "TCP sink on port 9",
                ),
                (
                    Metric::GuestToHost,
                    clients::source(Forwards::addr(forwards.source), bytes, deadline()),
                    "TCP source on port 19",
                ),
                (
                    Metric::Http,
                    clients::http_get(Forwards::addr(forwards.http), deadline()),
                    "HTTP on port 80",
                ),
            ];
            for (metric, outcome, what) in transfers {
                match outcome {
                    Ok(t) => self.results.add(name, metric, t.megabytes_per_second()),
                    Err(e) => self.results.fail(name, metric, format!("{what}: {e}")),
                }
            }
        }
    }

    /// One boot under icount: instructions per UDP echo and per TCP data segment each way.
    fn counted(&mut self, config: Config, round: usize) {
        let Some(Ready {
            mut guest,
            forwards,
            capture: Some(capture),
            ..
        }) = self.start_ready(config, round, true)
        else {
            return;
        };
        let name = config.name;
        let counters_at = Forwards::addr(forwards.counters);
        let deadline = || Instant::now() + limits::MEASUREMENT;
        // Requests sent to the counters port so far: each is a marker in the capture.
        let mut markers = 0usize;
        let read_counters = |markers: &mut usize| {
            let (c, attempts) = clients::counters(counters_at)?;
            *markers += attempts;
            Ok::<_, String>((c, *markers - 1))
        };
        // Warm the paths up (ARP, caches) before counting.
        let _ = clients::udp_rtts(Forwards::addr(forwards.udp_echo), 20, deadline());

        let udp = (|| {
            let (a, _) = read_counters(&mut markers)?;
            let r = clients::udp_rtts(
                Forwards::addr(forwards.udp_echo),
                self.sizes.icount_echoes,
                deadline(),
            )
            .map_err(|e| format!("UDP echo: {e}"))?;
            let (b, _) = read_counters(&mut markers)?;
            let echoed = b.udp_rx - a.udp_rx;
            if echoed == 0 {
                return Err("the guest counted no UDP datagrams on port 7".to_string());
            }
            if r.micros.len() as u64 != echoed {
                progress(&format!(
                    "{name}: guest counted {echoed} datagrams, {} echoes came back",
                    r.micros.len()
                ));
            }
            Ok(a.busy_until(&b)? as f64 / echoed as f64)
        })();
        match udp {
            Ok(v) => self.results.add(name, Metric::InstructionsUdpEcho, v),
            Err(e) => self.results.fail(name, Metric::InstructionsUdpEcho, e),
        }
        let bytes = self.sizes.icount_bulk_bytes;
        let mut bulk = |transfer: &dyn Fn() -> std::io::Result<clients::Transfer>| {
            let (a, first) = read_counters(&mut markers)?;
            transfer().map_err(|e| e.to_string())?;
            let (b, second) = read_counters(&mut markers)?;
            Ok::<_, String>((a.busy_until(&b)?, first, second))
        };
        let inbound = bulk(&|| clients::sink(Forwards::addr(forwards.sink), bytes, deadline()));
        let outbound =
            bulk(&|| clients::source(Forwards::addr(forwards.source), bytes, deadline()));
        guest.stop(); // QEMU has written the whole capture once it has ended
        let frames = fs::read(&capture)
            .map_err(|e| format!("{}: {e}", capture.display()))
            .and_then(|bytes| pcap::frames(&bytes));
        let segments_in: Box<dyn Fn(&pcap::Frame) -> bool> = Box::new(pcap::data_to(9));
        let segments_out: Box<dyn Fn(&pcap::Frame) -> bool> = Box::new(pcap::data_from(19));
        for (metric, measured, wanted) in [
            (Metric::InstructionsTcpIn, inbound, segments_in),
            (Metric::InstructionsTcpOut, outbound, segments_out),
        ] {
            let per_segment = measured.and_then(|(busy, first, second)| {
                let frames = frames.as_ref().map_err(Clone::clone)?;
                if second != first + 1 {
                    return Err(format!(
                        "a counters request was retried (markers {first} and {second})"
                    ));
                }
                let segments = pcap::count_between_markers(frames, first, wanted)?;
                if segments == 0 {
                    return Err("no TCP data segments on the wire between the two readings".into());
                }
                Ok(busy as f64 / segments as f64)
            });
            match per_segment {
                Ok(v) => self.results.add(name, metric, v),
                Err(e) => self.results.fail(name, metric, e),
            }
        }
    }

    /// One livelock curve on the socket backend.
    fn livelock(&mut self, config: Config, round: usize) {
        if self.skipped(config) {
            let why = self.ward_down_reason().unwrap_or_default();
            return self.results.add_curve(config.name, Err(why));
        }
        let outcome = (|| {
            let (generator, generator_port, qemu_port) =
                livelock::Generator::bind().map_err(|e| format!("frame generator: {e}"))?;
            let network = Network::Socket {
                qemu: qemu_port,
                generator: generator_port,
            };
            let boot = self.boot(config, network, "livelock", round);
            progress(&format!(
                "round {}: {} (livelock), console in {}",
                round + 1,
                config.name,
                boot.log.display()
            ));
            let mut guest = Guest::start(&self.root, &self.images, &boot)?;
            generator
                .wait_ready(&mut guest, limits::BOOT)
                .map_err(|e| format!("{e}; console ends: {}", console_tail(&guest.console(), 2)))?;
            Ok(generator.curve(&self.sizes.livelock))
        })();
        self.results.add_curve(config.name, outcome);
    }

    /// The IPC figures: Ward's kernel benchmark and Linux's pipe-rtt, both under icount.
    fn ipc(&mut self) {
        let runs = [
            (
                "ward",
                WARD,
                Some(self.images.ktest.clone()),
                "test=bench",
                "",
                [
                    "Call+ReplyRecv round trip between two address spaces",
                    "null syscall (Yield)",
                ],
            ),
            (
                "linux",
                LINUX,
                None,
                "",
                "peer_mode=ipc",
                [
                    "pipe round trip between two processes",
                    "null syscall (getppid)",
                ],
            ),
        ];
        for (key, config, image, root_args, kernel_args, [round_trip, null]) in runs {
            let outcome = (|| {
                if let Some(dir) = &image {
                    if !dir.join("kernel.elf").exists() {
                        return Err(format!(
                            "no kernel benchmark image in {} (make ktest-image)",
                            dir.display()
                        ));
                    }
                }
                let forwards = Forwards::pick().map_err(|e| e.to_string())?;
                let mut boot = self.boot(config, Network::User(forwards), "ipc", 0);
                boot.icount = true;
                boot.image = image.as_deref();
                boot.root_args = root_args;
                boot.kernel_args = kernel_args;
                progress(&format!("IPC: {key}, console in {}", boot.log.display()));
                let mut guest = Guest::start(&self.root, &self.images, &boot)?;
                if guest.wait_exit(limits::IPC_RUN).is_none() {
                    return Err(format!(
                        "the benchmark did not finish within {} s",
                        limits::IPC_RUN.as_secs()
                    ));
                }
                let console = guest.console();
                let figure = |name: &str| {
                    parse_bench_line(&console, name).ok_or_else(|| {
                        format!(
                            "no 'bench: {name}' line; console ends: {}",
                            console_tail(&console, 2)
                        )
                    })
                };
                Ok(Ipc {
                    round_trip: figure(round_trip)?,
                    null_syscall: figure(null)?,
                })
            })();
            self.results.ipc.insert(key, outcome);
        }
    }
}

/// `bench: <name>: median N cycles (p10 A, p90 B, ...` from a benchmark console.
fn parse_bench_line(console: &str, name: &str) -> Option<BenchFigure> {
    let prefix = format!("bench: {name}: median ");
    let line = console
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(prefix.as_str()))?;
    let number_after = |key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    Some(BenchFigure {
        median: line.split_whitespace().next()?.parse().ok()?,
        p10: number_after("p10 ")?,
        p90: number_after("p90 ")?,
    })
}

/// Probes the UDP echo forward until a datagram comes back; seconds since QEMU started.
fn wait_udp_ready(guest: &mut Guest, config: Config, port: u16) -> Result<f64, String> {
    let socket = clients::probe_socket().map_err(|e| format!("probe socket: {e}"))?;
    let to = Forwards::addr(port);
    let mut ready_line_seen: Option<Instant> = None;
    let mut console_read = Instant::now();
    for token in 0u64.. {
        if clients::udp_probe(&socket, to, token, limits::PROBE_WAIT) {
            return Ok(guest.started.elapsed().as_secs_f64());
        }
        if let Some(status) = guest.exited() {
            return Err(format!(
                "QEMU ended ({status}) before the guest answered; console ends: {}",
                console_tail(&guest.console(), 3)
            ));
        }
        if guest.started.elapsed() > limits::BOOT {
            return Err(format!(
                "no UDP echo reply within {} s of boot; console ends: {}",
                limits::BOOT.as_secs(),
                console_tail(&guest.console(), 2)
            ));
        }
        if config.system == System::Ward && console_read.elapsed() > limits::CONSOLE_CHECK {
            console_read = Instant::now();
            if ready_line_seen.is_none() && guest.console().contains(limits::WARD_READY_LINE) {
                ready_line_seen = Some(Instant::now());
            }
            if ready_line_seen.is_some_and(|t| t.elapsed() > limits::WARD_AFTER_READY) {
                return Err(ward_silent_reason(&guest.console()));
            }
        }
    }
    unreachable!("the probe loop ends by returning")
}

/// Why Ward is up but silent, in words: which components its boot table shows without a program.
fn ward_silent_reason(console: &str) -> String {
    let missing: Vec<&str> = console
        .lines()
        .filter(|l| l.trim_end().ends_with("no program"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut why = format!(
        "no UDP echo reply within {} s of '{}'",
        limits::WARD_AFTER_READY.as_secs(),
        limits::WARD_READY_LINE
    );
    if !missing.is_empty() {
        why.push_str(&format!(
            "; components without a program: {}",
            missing.join(", ")
        ));
    }
    why
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .to_string();
    (!text.is_empty()).then_some(text)
}

fn setting(args: &Args, sizes: &Sizes, rounds: usize) -> report::Setting {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim())
        })
        .unwrap_or("unknown CPU")
        .to_string();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kib| format!(", {} GiB", (kib + (1 << 19)) >> 20))
        .unwrap_or_default();
    let dirty = command_line("git", &["status", "--porcelain", "--untracked-files=no"]).is_some();
    report::Setting {
        date: command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default(),
        machine: format!("{model}, {cpus} CPU(s){memory}"),
        qemu: command_line("qemu-system-x86_64", &["--version"])
            .unwrap_or_else(|| "QEMU (version unknown)".into()),
        linux_packages: fs::read_to_string(args.linux_image.join("versions"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect(),
        ward_commit: command_line("git", &["rev-parse", "--short", "HEAD"])
            .unwrap_or_else(|| "unknown".into())
            + if dirty { " (with local changes)" } else { "" },
        rounds,
        sizes: sizes.describe(),
    }
}

fn write_plots(results: &Results, dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let mut written = Vec::new();
    if let Err(e) = fs::create_dir_all(dir) {
        progress(&format!("plots: {}: {e}", dir.display()));
        return written;
    }
    let curves: Vec<(&str, &[livelock::Curve])> =
        [WARD, WARD_NO_MODERATION, LINUX, LINUX_NO_MODERATION]
            .iter()
            .filter_map(|c| match results.livelock.get(c.name) {
                Some(Ok(curves)) if !curves.is_empty() => Some((c.name, curves.as_slice())),
                _ => None,
            })
            .collect();
    if !curves.is_empty() {
        let path = dir.join("livelock.svg");
        match plot::livelock(&path, &curves) {
            Ok(()) => written.push(("receive livelock", path)),
            Err(e) => progress(&format!("plot {}: {e}", path.display())),
        }
    }
    let series: Vec<(&str, &[f64])> = results
        .udp_rtts
        .iter()
        .map(|(k, v)| (*k, v.as_slice()))
        .collect();
    if !series.is_empty() {
        let path = dir.join("rtt.svg");
        match plot::rtt_distribution(&path, &series) {
            Ok(()) => written.push(("UDP echo round trips", path)),
            Err(e) => progress(&format!("plot {}: {e}", path.display())),
        }
    }
    written
}

fn main() -> ExitCode {
    let args = Args::parse();
    let sizes = if args.smoke {
        Sizes::smoke()
    } else {
        Sizes::full()
    };
    let rounds = if args.smoke { 1 } else { args.rounds.max(1) };
    let images = Images {
        ward: args.ward_image.clone(),
        ktest: args.ktest_image.clone(),
        linux: args.linux_image.clone(),
    };
    if !images.linux.join("kernel.elf").exists() {
        eprintln!(
            "bench-net: error: no Linux peer in {} (build it with scripts/linux-peer.sh)",
            images.linux.display()
        );
        return ExitCode::from(2);
    }
    // Absolute: QEMU runs in the image directory and writes its wire captures here.
    let out = match fs::create_dir_all(&args.out).and_then(|()| args.out.canonicalize()) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("bench-net: error: {}: {e}", args.out.display());
            return ExitCode::from(2);
        }
    };
    let mut bench = Bench {
        root: args.root.clone(),
        images,
        out: out.clone(),
        sizes: sizes.clone(),
        results: Results::default(),
    };
    let mut configs = vec![WARD, LINUX];
    if sizes.vtd {
        configs.push(LINUX_VTD);
    }
    let started = Instant::now();
    for round in 0..rounds {
        // Alternate who goes first, so a slow phase of the machine does not always hit one system.
        let order: Vec<Config> = if round % 2 == 0 {
            configs.clone()
        } else {
            configs.iter().rev().copied().collect()
        };
        for &c in &order {
            bench.timed(c, round);
        }
        for &c in &order {
            bench.counted(c, round);
        }
        for &c in &order {
            if c != LINUX_VTD {
                bench.livelock(c, round);
            }
        }
        if sizes.livelock_without_moderation {
            for c in [WARD_NO_MODERATION, LINUX_NO_MODERATION] {
                bench.livelock(c, round);
            }
        }
    }
    bench.ipc();
    progress(&format!("measured in {} s", started.elapsed().as_secs()));

    let results = bench.results;
    let mut printed = report::lines(&results);
    printed.extend(
        report::goals(&results)
            .iter()
            .map(|(g, v)| report::goal_line(&results, g, v)),
    );
    let plots = write_plots(&results, &out);
    for l in &printed {
        println!("{l}");
    }
    let _ = fs::write(out.join("figures.txt"), printed.join("\n") + "\n");

    if let Some(doc) = &args.record {
        let doc_dir = doc.parent().unwrap_or(Path::new("."));
        let plot_dir = doc_dir.join("bench-net");
        let recorded = write_plots(&results, &plot_dir);
        let links: Vec<(&str, String)> = recorded
            .iter()
            .map(|(title, path)| {
                let relative = path.strip_prefix(doc_dir).unwrap_or(path);
                (*title, relative.display().to_string())
            })
            .collect();
        let link_refs: Vec<(&str, &str)> = links.iter().map(|(t, p)| (*t, p.as_str())).collect();
        let section = report::markdown(&results, &setting(&args, &sizes, rounds), &link_refs);
        let old = fs::read_to_string(doc).unwrap_or_default();
        match fs::write(doc, report::replace_section(&old, &section)) {
            Ok(()) => println!("bench-net: recorded in {}", doc.display()),
            Err(e) => {
                eprintln!("bench-net: error: {}: {e}", doc.display());
                return ExitCode::FAILURE;
            }
        }
    } else if !plots.is_empty() {
        progress(&format!("plots in {}", out.display()));
    }

    // The verdict: Linux must always answer; Ward only once it is required.
    let mut failed = false;
    for c in [LINUX, LINUX_VTD, LINUX_NO_MODERATION] {
        for f in results.failures(c.name) {
            eprintln!("bench-net: FAIL: {}: {f}", c.name);
            failed = true;
        }
    }
    if let Some(Err(e)) = results.ipc.get("linux") {
        eprintln!("bench-net: FAIL: linux IPC: {e}");
        failed = true;
    }
    let ward_failures: Vec<String> = [WARD, WARD_NO_MODERATION]
        .iter()
        .flat_map(|c| results.failures(c.name))
        .chain(match results.ipc.get("ward") {
            Some(Err(e)) => Some(format!("IPC: {e}")),
            _ => None,
        })
        .collect();
    if !ward_failures.is_empty() {
        if args.ward_required {
            for f in &ward_failures {
                eprintln!("bench-net: FAIL: ward: {f}");
            }
            failed = true;
        } else {
            println!(
                "bench-net: ward: not available ({}); allowed until Ward's data path answers the bench \
                 contract (mk/bench-net.mk passes --ward-required)",
                ward_failures[0]
            );
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_lines_of_both_systems_parse() {
        let ward = "ktest: x\nbench: Call+ReplyRecv round trip between two address spaces: median 3384 cycles \
                    (p10 3300, p90 3500, min 3200, max 90000; 2001 runs); 6.49x null\n";
        assert_eq!(
            parse_bench_line(ward, "Call+ReplyRecv round trip between two address spaces"),
            Some(BenchFigure {
                median: 3384.0,
                p10: 3300.0,
                p90: 3500.0
            })
        );
        let linux = "bench: pipe round trip between two processes: median 13026 cycles (p10 12990, p90 13100, \
                     min 12900, max 40000; 2001 runs)\n";
        assert_eq!(
            parse_bench_line(linux, "pipe round trip between two processes").map(|f| f.median),
            Some(13026.0)
        );
        assert_eq!(parse_bench_line(linux, "null syscall (getppid)"), None);
    }

    #[test]
    fn a_silent_ward_names_its_missing_programs() {
        let console = "component prio\nserial 210 76Ki com2 ioapic 3 8 1 running\ne1000 200 100Ki nic ioapic 22 13 1  no program\n\
                       net 150 148Ki - - 25 1  no program\nward: system ready\n";
        assert_eq!(
            ward_silent_reason(console),
            "no UDP echo reply within 15 s of 'ward: system ready'; components without a program: e1000, net"
        );
    }

    #[test]
    fn the_smoke_run_is_small_and_the_full_run_is_not() {
        let (s, f) = (Sizes::smoke(), Sizes::full());
        assert!(s.udp_rtts < f.udp_rtts && s.bulk_bytes < f.bulk_bytes && !s.vtd && f.vtd);
        assert!(s.livelock.multiples.contains(&2.0) && f.livelock.multiples.contains(&2.0));
    }
}
