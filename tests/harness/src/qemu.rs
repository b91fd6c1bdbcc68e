//! One bounded QEMU run through `scripts/qemu.sh`, with the console captured to a log file.
//!
//! Two limits bound every run. The runner script stops QEMU itself when the scenario's time
//! limit is reached (timeout(1), which also holds should this process die); the harness adds a
//! wall-time guard a little later that kills the runner if that ever failed. Either way the
//! process is reaped here, so no QEMU is left behind.

use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::outcome::{self, Outcome};

/// The runner script, relative to the repository root.
pub const RUNNER: &str = "scripts/qemu.sh";

/// How much longer than the scenario's own limit the guard waits: the runner's SIGTERM-to-SIGKILL
/// grace (5 s) plus room for a loaded machine to reap QEMU.
const GUARD_MARGIN: Duration = Duration::from_secs(15);

/// How often the child is checked; short against a ~1 s boot, long enough to cost nothing.
const POLL: Duration = Duration::from_millis(25);

/// Time allowed for the runner to stop after SIGTERM before it is killed outright.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// What to boot and how.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    pub root: &'a Path,
    pub image: &'a Path,
    pub root_args: &'a str,
    pub kernel_args: &'a str,
    pub machine: Option<&'a str>,
    pub qemu_args: &'a [String],
    pub seconds: u64,
    pub log: &'a Path,
}

/// How it went.
#[derive(Debug, Clone)]
pub struct Finished {
    pub outcome: Outcome,
    pub log: String,
    pub elapsed: Duration,
    /// The harness's own guard had to kill the runner (the runner's limit did not hold).
    pub guard_fired: bool,
}

/// Connects COM2 to files next to `base` (`base.in`, `base.out`) through QEMU's pipe backend:
/// the guest reads `input` from the first and writes into the second.
pub fn wire_com2(base: &Path, input: &str, qemu_args: &mut Vec<String>) -> Result<(), String> {
    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", base.display()));
    fs::write(with("in"), input).map_err(|e| format!("{}: {e}", with("in").display()))?;
    fs::write(with("out"), "").map_err(|e| format!("{}: {e}", with("out").display()))?;
    qemu_args.extend([
        "-chardev".to_string(),
        format!("pipe,id=com2,path={}", base.display()),
        "-serial".to_string(),
        "chardev:com2".to_string(),
    ]);
    Ok(())
}

/// Appends what the guest wrote to COM2 to the judged log (and its file), one `[com2] `
/// line per line.
pub fn append_com2(base: &Path, log_path: &Path, log: &mut String) {
    let out = PathBuf::from(format!("{}.out", base.display()));
    let text = fs::read(&out).unwrap_or_default();
    let mut lines = String::new();
    for line in String::from_utf8_lossy(&text).lines() {
        lines.push_str("[com2] ");
        lines.push_str(line.trim_end_matches('\r'));
        lines.push('\n');
    }
    if !log.ends_with('\n') {
        log.push('\n');
    }
    log.push_str(&lines);
    let _ = fs::OpenOptions::new()
        .append(true)
        .open(log_path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, lines.as_bytes()));
}

/// The runner's arguments for `run` (without the program), in the order the runner documents.
pub fn runner_args(run: &Run<'_>) -> Vec<String> {
    let mut a = vec!["--seconds".to_string(), run.seconds.to_string()];
    if !run.root_args.is_empty() {
        a.extend(["--root-args".to_string(), run.root_args.to_string()]);
    }
    if !run.kernel_args.is_empty() {
        a.extend(["--kernel-args".to_string(), run.kernel_args.to_string()]);
    }
    if let Some(m) = run.machine {
        a.extend(["--machine".to_string(), m.to_string()]);
    }
    for q in run.qemu_args {
        a.extend(["--qemu-arg".to_string(), q.clone()]);
    }
    a.push(run.image.display().to_string());
    a
}

/// Boots `run` and waits for it to end, within the time limit.
pub fn boot(run: &Run<'_>) -> Result<Finished, String> {
    if let Some(parent) = run.log.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let log = File::create(run.log).map_err(|e| format!("{}: {e}", run.log.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let script: PathBuf = run.root.join(RUNNER);
    let start = Instant::now();
    let mut child = Command::new("bash")
        .arg(&script)
        .args(runner_args(run))
        .current_dir(run.root)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", script.display()))?;

    let limit = Duration::from_secs(run.seconds);
    let (status, guard_fired) = wait_bounded(&mut child, limit + GUARD_MARGIN)?;
    let elapsed = start.elapsed();
    let text = fs::read(run.log).map_err(|e| format!("{}: {e}", run.log.display()))?;
    let text = String::from_utf8_lossy(&text).into_owned();
    let outcome = outcome::decode(status.code(), status.signal(), elapsed >= limit, &text);
    Ok(Finished {
        outcome,
        log: text,
        elapsed,
        guard_fired,
    })
}

/// Waits for `child` at most `limit`; past it, asks it to stop (SIGTERM, which the runner's
/// timeout(1) passes on to QEMU), then kills it. Always reaps it.
fn wait_bounded(child: &mut Child, limit: Duration) -> Result<(ExitStatus, bool), String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok((status, false));
        }
        sleep(POLL);
    }
    // std can only send SIGKILL, which timeout(1) could not pass on; kill(1) sends SIGTERM.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let grace = Instant::now() + TERM_GRACE;
    while Instant::now() < grace {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok((status, true));
        }
        sleep(POLL);
    }
    let _ = child.kill();
    child.wait().map(|s| (s, true)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_args_carry_everything_in_order() {
        let extra = vec!["-device".to_string(), "edu".to_string()];
        let run = Run {
            root: Path::new("/r"),
            image: Path::new("/r/build/images/system"),
            root_args: "test=boot",
            kernel_args: "idle=exit",
            machine: Some("q35,kernel-irqchip=split"),
            qemu_args: &extra,
            seconds: 7,
            log: Path::new("/r/build/scenarios/x.log"),
        };
        assert_eq!(
            runner_args(&run),
            [
                "--seconds",
                "7",
                "--root-args",
                "test=boot",
                "--kernel-args",
                "idle=exit",
                "--machine",
                "q35,kernel-irqchip=split",
                "--qemu-arg",
                "-device",
                "--qemu-arg",
                "edu",
                "/r/build/images/system",
            ]
        );
    }

    #[test]
    fn empty_arguments_are_left_out() {
        let run = Run {
            root: Path::new("/r"),
            image: Path::new("img"),
            root_args: "",
            kernel_args: "",
            machine: None,
            qemu_args: &[],
            seconds: 1,
            log: Path::new("x.log"),
        };
        assert_eq!(runner_args(&run), ["--seconds", "1", "img"]);
    }

    #[test]
    fn guard_kills_and_reaps_a_hung_child() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let start = Instant::now();
        let (status, fired) = wait_bounded(&mut child, Duration::from_millis(100)).unwrap();
        assert!(fired);
        assert_eq!(status.signal(), Some(15));
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_quick_child_is_not_disturbed() {
        let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let (status, fired) = wait_bounded(&mut child, Duration::from_secs(10)).unwrap();
        assert!(!fired);
        assert_eq!(status.code(), Some(3));
    }
}
