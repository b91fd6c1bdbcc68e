//! `ward-scenario`: boots Ward system images in QEMU and judges each run by its debug-exit status
//! and its console output.
//!
//! ```text
//! ward-scenario [OPTIONS] [NAME...]
//! ```
//!
//! Runs the named scenarios from `tests/scenarios/NAME.toml` (all of them when none is named),
//! several at once, prints one PASS/FAIL line per scenario and closes with `N passed, M failed`.
//! Console logs go to `build/scenarios/NAME.log`. Exits 0 only when every scenario passed.
//! Run it from the repository root, after the kernel, user programs and capctl are built: the
//! make targets `scenario`, `scenarios` and `test` do both.
//!
//! `--experiment NAME` runs a teaching experiment instead (tests/experiments/NAME.toml, see
//! [`experiment`]): its scenario runs, the lines of their output worth reading, and its
//! explanation. `--experiments` lists them.

#![forbid(unsafe_code)]

mod elf;
mod experiment;
mod image;
mod judge;
mod outcome;
mod peer;
mod qemu;
mod scenario;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use judge::{Expectations, Verdict};
use scenario::Scenario;

/// Lines of a failing scenario's log (and its host peer's output) shown under its FAIL line;
/// enough for a fault report and what led to it, short enough that several failures stay
/// readable.
const TAIL_LINES: usize = 40;

/// Parallel QEMU runs when `--jobs` is not given: one per core (TCG runs one vCPU per thread).
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

const USAGE: &str = "\
usage: ward-scenario [OPTIONS] [NAME...]

Boots each scenario tests/scenarios/NAME.toml in QEMU and judges it (all scenarios when no NAME).
Run from the repository root after `make kernel user host` (the make targets do this for you).

options:
  --jobs N        run N scenarios at once (default: number of cores)
  --cpus N        cores of each machine whose scenario names none (default: the image's own)
  --prefix P      only scenarios whose name starts with P
  --dir DIR       scenario directory (default tests/scenarios)
  --out DIR       where logs and spoiled images go (default build/scenarios)
  --no-build      use the images in build/images as they are; do not run `make image-only`
  --list          list the scenarios and exit
  --quick         run each scenario's quick variant (its `quick` keys), as `make test` does
  --experiment E  run the teaching experiment tests/experiments/E.toml and explain what it showed
  --experiments   list the teaching experiments and exit
  -h, --help      this text
";

/// Command-line options.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    jobs: usize,
    cpus: Option<u8>,
    prefix: Option<String>,
    dir: PathBuf,
    out: PathBuf,
    build: bool,
    list: bool,
    quick: bool,
    experiment: Option<String>,
    list_experiments: bool,
    names: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        jobs: default_jobs(),
        cpus: None,
        prefix: None,
        dir: PathBuf::from("tests/scenarios"),
        out: PathBuf::from("build/scenarios"),
        build: true,
        list: false,
        quick: false,
        experiment: None,
        list_experiments: false,
        names: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--jobs" | "-j" => {
                let v = value(a)?;
                o.jobs = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("--jobs wants a positive number, not '{v}'"))?;
            }
            "--cpus" => {
                let v = value(a)?;
                o.cpus = Some(
                    v.parse()
                        .ok()
                        .filter(|n| (1..=scenario::MAX_CPUS).contains(n))
                        .ok_or(format!(
                            "--cpus wants 1 to {} cores, not '{v}'",
                            scenario::MAX_CPUS
                        ))?,
                );
            }
            "--prefix" => o.prefix = Some(value(a)?),
            "--dir" => o.dir = PathBuf::from(value(a)?),
            "--out" => o.out = PathBuf::from(value(a)?),
            "--no-build" => o.build = false,
            "--list" => o.list = true,
            "--quick" => o.quick = true,
            "--experiment" => o.experiment = Some(value(a)?),
            "--experiments" => o.list_experiments = true,
            s if s.starts_with('-') => return Err(format!("unknown option '{s}'")),
            s => o.names.push(s.to_string()),
        }
    }
    Ok(Some(o))
}

/// The scenarios the options select, in name order; unknown names are an error.
fn select(all: Vec<Scenario>, o: &Options) -> Result<Vec<Scenario>, String> {
    for n in &o.names {
        if !all.iter().any(|s| &s.name == n) {
            let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
            return Err(format!(
                "no scenario '{n}' in {}; there are: {}",
                o.dir.display(),
                known.join(", ")
            ));
        }
    }
    Ok(all
        .into_iter()
        .filter(|s| o.names.is_empty() || o.names.contains(&s.name))
        .filter(|s| {
            o.prefix
                .as_ref()
                .is_none_or(|p| s.name.starts_with(p.as_str()))
        })
        .collect())
}

/// The result of one scenario.
struct Report {
    name: String,
    verdict: Verdict,
    elapsed: Duration,
    log_path: PathBuf,
    tail: Vec<String>,
    /// The console's output with the host peer's after it, as judged.
    log: String,
}

/// Runs one scenario on the image `base` (or reports why it could not).
fn run_one(root: &Path, o: &Options, s: &Scenario, base: &Result<PathBuf, String>) -> Report {
    let default_cpus = o.cpus;
    let start = Instant::now();
    let out = root.join(&o.out);
    let log_path = out.join(format!("{}.log", s.name));
    let fail = |reason: String| Report {
        name: s.name.clone(),
        verdict: Verdict {
            reasons: vec![reason],
        },
        elapsed: start.elapsed(),
        log_path: log_path.clone(),
        tail: Vec::new(),
        log: String::new(),
    };
    let base = match base {
        Ok(b) => b.clone(),
        Err(e) => return fail(format!("no image: {e}")),
    };
    let base = match &s.root_program {
        None => base,
        Some(program) => {
            let dest = out.join(format!("{}.program-image", s.name));
            let elf = root.join(image::USER_PROGRAMS_DIR).join(program);
            if let Err(e) = image::with_root_program(&base, &dest, &elf) {
                return fail(format!(
                    "cannot prepare the image with root program '{program}': {e}"
                ));
            }
            dest
        }
    };
    let base = if s.replace_programs.is_empty() {
        base
    } else {
        let dest = out.join(format!("{}.programs-image", s.name));
        let programs: Vec<(String, PathBuf)> = s
            .replace_programs
            .iter()
            .map(|(from, to)| (from.clone(), root.join(image::USER_PROGRAMS_DIR).join(to)))
            .collect();
        if let Err(e) = image::with_programs(&base, &dest, &programs) {
            return fail(format!(
                "cannot prepare the image with replaced programs: {e}"
            ));
        }
        dest
    };
    let image = match s.root_task {
        None => base,
        Some(m) => {
            let dest = out.join(format!("{}.image", s.name));
            if let Err(e) = image::spoiled_copy(&base, &dest, m) {
                return fail(format!("cannot prepare the spoiled image: {e}"));
            }
            dest
        }
    };
    // Free loopback ports for the host peer, written into the QEMU and peer arguments.
    let mut reservation = match peer::pick_ports(&s.host_ports) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let ports = reservation.ports.clone();
    let substitute = |args: &[String]| -> Result<Vec<String>, String> {
        args.iter().map(|a| peer::substitute(a, &ports)).collect()
    };
    let log_text = log_path.display().to_string();
    let host_peer: Vec<String> = s
        .host_peer
        .iter()
        .map(|a| a.replace("{log}", &log_text))
        .collect();
    let (mut qemu_args, peer_command) = match (substitute(&s.qemu_args), substitute(&host_peer)) {
        (Ok(q), Ok(p)) => (q, p),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let peer_log = out.join(format!("{}.peer.log", s.name));
    let com2 = out.join(format!("{}.com2", s.name));
    if let Some(input) = &s.com2_input {
        if let Err(e) = qemu::wire_com2(&com2, input, &mut qemu_args) {
            return fail(format!("cannot wire COM2: {e}"));
        }
    }
    let run = qemu::Run {
        root,
        image: &image,
        root_args: &s.root_args,
        kernel_args: &s.kernel_args,
        machine: s.machine.as_deref(),
        cpus: s.cpus.or(default_cpus),
        qemu_args: &qemu_args,
        seconds: s.timeout_seconds,
        log: &log_path,
        peer: (!peer_command.is_empty()).then_some(qemu::Peer {
            command: &peer_command,
            log: &peer_log,
        }),
    };
    reservation.release();
    let mut finished = match qemu::boot(&run) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    if s.com2_input.is_some() {
        qemu::append_com2(&com2, &log_path, &mut finished.log);
    }
    // The peer's output is judged with the console's, after it.
    let mut peer_reasons = Vec::new();
    if let Some(end) = &finished.peer {
        finished.log.push_str(&format!(
            "\n--- host peer: {} ---\n{}",
            peer_command.join(" "),
            end.output
        ));
        if end.killed {
            peer_reasons.push(format!(
                "the host peer was still running {} s after QEMU ended and was killed",
                qemu::PEER_WAIT.as_secs()
            ));
        } else if end.code != Some(0) {
            peer_reasons.push(format!(
                "the host peer failed (exit status {}); its output is in {}",
                end.code
                    .map_or("none: killed by a signal".to_string(), |c| c.to_string()),
                peer_log.display()
            ));
        }
    }
    let want = Expectations {
        status: s.expect_status,
        expect: s.expect.clone(),
        expect_anywhere: s.expect_anywhere.clone(),
        forbid: s.forbid.clone(),
    };
    let mut verdict = judge::judge(&want, &finished.outcome, &finished.log);
    verdict.reasons.extend(peer_reasons);
    if finished.guard_fired {
        verdict.reasons.push(format!(
            "the runner outlived its {} s limit and was killed by the harness's guard",
            s.timeout_seconds
        ));
    }
    Report {
        name: s.name.clone(),
        verdict,
        elapsed: finished.elapsed,
        log_path,
        tail: judge::tail(&finished.log, TAIL_LINES)
            .into_iter()
            .map(str::to_string)
            .collect(),
        log: finished.log,
    }
}

/// Prints one report: a PASS/FAIL line, and for a failure its reasons and the tail of its log.
fn print_report(r: &Report, width: usize) {
    let mut out = std::io::stdout().lock();
    let word = if r.verdict.passed() { "PASS" } else { "FAIL" };
    let _ = writeln!(
        out,
        "{word} {:<width$} {:>6.1} s",
        r.name,
        r.elapsed.as_secs_f64()
    );
    if !r.verdict.passed() {
        for reason in &r.verdict.reasons {
            let _ = writeln!(out, "     reason: {reason}");
        }
        if !r.tail.is_empty() {
            let _ = writeln!(
                out,
                "     last {} lines of {}:",
                r.tail.len(),
                r.log_path.display()
            );
            for l in &r.tail {
                let _ = writeln!(out, "     | {l}");
            }
        }
    }
    let _ = out.flush();
}

/// Finds the repository root: the working directory or the nearest parent with the runner.
fn repo_root() -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    cwd.ancestors()
        .find(|d| d.join(qemu::RUNNER).is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "{} not found here or above {}; run from the Ward repository",
                qemu::RUNNER,
                cwd.display()
            )
        })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_args(&args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ward-scenario: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(o) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ward-scenario: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the selected scenarios (or the experiment); `Ok(true)` when all passed.
fn run(o: Options) -> Result<bool, String> {
    let root = repo_root()?;
    if o.list_experiments || o.experiment.is_some() {
        return run_experiment(&root, o);
    }
    let all = scenario::load_dir(&root.join(&o.dir)).map_err(|e| e.to_string())?;
    let chosen = select(all, &o)?;
    if o.list {
        for s in &chosen {
            println!("{:<28} {}", s.name, s.description);
        }
        return Ok(true);
    }
    let reports = run_all(&root, &o, &chosen);
    Ok(summarise(&reports))
}

/// Lists the experiments, or runs the one named and explains it.
fn run_experiment(root: &Path, mut o: Options) -> Result<bool, String> {
    // An experiment's runs are its own (tests/experiments/runs) or, where a test scenario already
    // shows what it needs, that scenario.
    let mut runs =
        scenario::load_dir(&root.join(experiment::RUN_DIR)).map_err(|e| e.to_string())?;
    for s in scenario::load_dir(&root.join("tests/scenarios")).map_err(|e| e.to_string())? {
        if runs.iter().any(|r| r.name == s.name) {
            return Err(format!(
                "{}/{}.toml has the name of a scenario in tests/scenarios; rename one",
                experiment::RUN_DIR,
                s.name
            ));
        }
        runs.push(s);
    }
    let all = experiment::load_dir(&root.join(experiment::EXPERIMENT_DIR), &runs)
        .map_err(|e| e.to_string())?;
    let Some(name) = o.experiment.clone() else {
        let width = all.iter().map(|e| e.name.len()).max().unwrap_or(0);
        for e in &all {
            println!("  {:<width$}  {}", e.name, e.summary);
        }
        return Ok(true);
    };
    let Some(e) = all.iter().find(|e| e.name == name) else {
        let known: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
        return Err(format!(
            "no experiment '{name}' in {}; there are: {}",
            experiment::EXPERIMENT_DIR,
            known.join(", ")
        ));
    };
    let chosen: Vec<Scenario> = e
        .runs
        .iter()
        .filter_map(|r| runs.iter().find(|s| &s.name == r).cloned())
        .collect();
    println!("experiment {}: {}", e.name, e.summary);
    // One run at a time: an experiment's figures compare its runs, and two QEMUs (and their
    // host peers) sharing the cores would distort each other's.
    o.jobs = 1;
    let mut reports = run_all(root, &o, &chosen);
    reports.sort_by_key(|r| e.runs.iter().position(|n| n == &r.name));
    let passed = summarise(&reports);
    for (r, s) in reports.iter().zip(&chosen) {
        println!("\n── {}: {}", r.name, s.description);
        for line in experiment::shown_lines(&r.log, &e.show) {
            println!("   {line}");
        }
        println!("   (everything it printed: {})", r.log_path.display());
    }
    println!();
    if passed {
        println!("What happened, and why:\n");
        for line in e.explanation.trim_end().lines() {
            println!("  {line}");
        }
    } else {
        println!(
            "The experiment did not show what it should (see the FAIL lines above), so its \
             explanation is not printed as if it applied; tests/experiments/{}.toml holds it.",
            e.name
        );
    }
    Ok(passed)
}

/// Builds the images the scenarios need and runs them, `o.jobs` at a time.
fn run_all(root: &Path, o: &Options, chosen: &[Scenario]) -> Vec<Report> {
    let chosen: Vec<Scenario> = if o.quick {
        chosen.iter().map(Scenario::quick_variant).collect()
    } else {
        chosen.to_vec()
    };
    // One image per system description, built once, before any run starts.
    let mut images: BTreeMap<String, Result<PathBuf, String>> = BTreeMap::new();
    for s in &chosen {
        if images.contains_key(&s.system) {
            continue;
        }
        let img = if o.build {
            println!(
                "image  {} (make image-only SYSTEM={})",
                image::image_dir(root, &s.system).display(),
                s.system
            );
            image::build(root, &s.system)
        } else {
            let dir = image::image_dir(root, &s.system);
            image::check(&dir)
                .map(|_| dir.clone())
                .map_err(|e| format!("{}: {e}", dir.display()))
        };
        if let Err(e) = &img {
            eprintln!("ward-scenario: image for {} not available: {e}", s.system);
        }
        images.insert(s.system.clone(), img);
    }

    let jobs = o.jobs.min(chosen.len()).max(1);
    println!(
        "running {} scenario(s), {} at a time; logs in {}",
        chosen.len(),
        jobs,
        o.out.display()
    );
    let width = chosen.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<Report>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(s) = chosen.get(i) else { break };
                let r = run_one(root, o, s, &images[&s.system]);
                print_report(&r, width);
                reports.lock().unwrap_or_else(|p| p.into_inner()).push(r);
            });
        }
    });
    reports.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// Prints the closing count; `true` when every run passed.
fn summarise(reports: &[Report]) -> bool {
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.verdict.passed())
        .map(|r| r.name.as_str())
        .collect();
    if !failed.is_empty() {
        println!("failed: {}", failed.join(" "));
    }
    println!(
        "{} passed, {} failed",
        reports.len() - failed.len(),
        failed.len()
    );
    failed.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn scenario(name: &str) -> Scenario {
        scenario::parse(name, "x.toml", "description = \"d\"\nexpect_status = 0\n").unwrap()
    }

    #[test]
    fn parses_options() {
        let o = parse_args(&args(&[
            "--jobs",
            "3",
            "--prefix",
            "ktest",
            "--no-build",
            "boot",
            "user-fault-pf",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.jobs, 3);
        assert_eq!(o.prefix.as_deref(), Some("ktest"));
        assert!(!o.build);
        assert_eq!(o.names, ["boot", "user-fault-pf"]);
        assert_eq!(parse_args(&args(&["--help"])).unwrap(), None);
        assert!(parse_args(&args(&["--jobs", "0"])).is_err());
        assert!(parse_args(&args(&["--jobs"])).is_err());
        assert!(parse_args(&args(&["--frobnicate"])).is_err());
    }

    #[test]
    fn selects_by_name_and_prefix() {
        let all = || {
            vec![
                scenario("boot"),
                scenario("ktest-ipc"),
                scenario("user-fault-pf"),
            ]
        };
        let mut o = parse_args(&[]).unwrap().unwrap();
        assert_eq!(select(all(), &o).unwrap().len(), 3);
        o.prefix = Some("ktest".into());
        assert_eq!(select(all(), &o).unwrap()[0].name, "ktest-ipc");
        o.prefix = Some("nothing".into());
        assert!(select(all(), &o).unwrap().is_empty());
        o.prefix = None;
        o.names = vec!["boot".into()];
        assert_eq!(select(all(), &o).unwrap().len(), 1);
        o.names = vec!["bot".into()];
        let e = select(all(), &o).unwrap_err();
        assert!(e.contains("no scenario 'bot'") && e.contains("boot"), "{e}");
    }
}
