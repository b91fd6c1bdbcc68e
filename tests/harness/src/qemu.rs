//! One bounded QEMU run through `scripts/qemu.sh`, with the console captured to a log file.
//!
//! Two limits bound every run. The runner script stops QEMU itself when the scenario's time
//! limit is reached (timeout(1), which also holds should this process die); the harness adds a
//! wall-time guard a little later that kills the runner if that ever failed. Either way the
//! process is reaped here, so no QEMU is left behind.
//!
//! A scenario may run a host peer next to QEMU ([`Peer`]): the run then ends when the peer
//! exits (QEMU is stopped [`PEER_GRACE`] later, so the console catches up), and a peer that
//! outlives QEMU is killed after [`PEER_WAIT`]. The peer is reaped here too.

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

/// After the host peer exits, how long QEMU keeps running so that the guest's last lines (its
/// reaction to the peer's last frames) reach the console.
pub const PEER_GRACE: Duration = Duration::from_secs(2);

/// After QEMU ends, how long a host peer still running may take to finish (to print its
/// summary) before it is killed.
pub const PEER_WAIT: Duration = Duration::from_secs(5);

/// A program to run on the host next to QEMU.
#[derive(Debug, Clone)]
pub struct Peer<'a> {
    /// Program and arguments, placeholders already replaced.
    pub command: &'a [String],
    /// Where its output goes.
    pub log: &'a Path,
}

/// How the host peer ended.
#[derive(Debug, Clone)]
pub struct PeerEnd {
    /// Its exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// The harness killed it (QEMU had ended and it did not finish).
    pub killed: bool,
    /// What it printed.
    pub output: String,
}

/// What to boot and how.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    pub root: &'a Path,
    pub image: &'a Path,
    pub root_args: &'a str,
    pub kernel_args: &'a str,
    pub machine: Option<&'a str>,
    /// Cores (`--smp`); `None`: the runner's default (the image's own count).
    pub cpus: Option<u8>,
    pub qemu_args: &'a [String],
    pub seconds: u64,
    pub log: &'a Path,
    /// A host peer to run next to QEMU.
    pub peer: Option<Peer<'a>>,
}

/// How it went.
#[derive(Debug, Clone)]
pub struct Finished {
    pub outcome: Outcome,
    pub log: String,
    pub elapsed: Duration,
    /// The harness's own guard had to kill the runner (the runner's limit did not hold).
    pub guard_fired: bool,
    /// How the host peer ended, if there was one.
    pub peer: Option<PeerEnd>,
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
    if let Some(cpus) = run.cpus {
        a.extend(["--smp".to_string(), cpus.to_string()]);
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
    let mut peer = match &run.peer {
        Some(p) => match start_peer(run.root, p) {
            Ok(child) => Some(child),
            Err(e) => {
                stop(&mut child)?;
                return Err(e);
            }
        },
        None => None,
    };
    let (status, guard_fired, stopped_after_peer) =
        wait_with_peer(&mut child, peer.as_mut(), limit + GUARD_MARGIN)?;
    let elapsed = start.elapsed();
    let peer_end = match (peer, &run.peer) {
        (Some(mut process), Some(p)) => Some(finish_peer(&mut process, p.log)?),
        _ => None,
    };
    let text = fs::read(run.log).map_err(|e| format!("{}: {e}", run.log.display()))?;
    let text = String::from_utf8_lossy(&text).into_owned();
    let outcome = if stopped_after_peer {
        Outcome::StoppedAfterPeer
    } else {
        outcome::decode(status.code(), status.signal(), elapsed >= limit, &text)
    };
    Ok(Finished {
        outcome,
        log: text,
        elapsed,
        guard_fired,
        peer: peer_end,
    })
}

/// Starts the host peer from the repository root, its output to its log.
fn start_peer(root: &Path, peer: &Peer<'_>) -> Result<Child, String> {
    let (program, args) = peer
        .command
        .split_first()
        .ok_or("the host peer has no command")?;
    let log = File::create(peer.log).map_err(|e| format!("{}: {e}", peer.log.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    Command::new(program)
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("cannot start the host peer '{program}': {e}"))
}

/// Waits for the runner within `limit`; with a peer, stops the runner [`PEER_GRACE`] after the
/// peer exits. Returns the runner's status, whether the guard fired, and whether the harness
/// stopped the run because the peer was done.
fn wait_with_peer(
    runner: &mut Child,
    mut peer: Option<&mut Child>,
    limit: Duration,
) -> Result<(ExitStatus, bool, bool), String> {
    let deadline = Instant::now() + limit;
    let mut peer_done_at: Option<Instant> = None;
    loop {
        if let Some(status) = runner.try_wait().map_err(|e| e.to_string())? {
            return Ok((status, false, false));
        }
        if let Some(p) = peer.as_mut() {
            if peer_done_at.is_none() && p.try_wait().map_err(|e| e.to_string())?.is_some() {
                peer_done_at = Some(Instant::now());
            }
        }
        if peer_done_at.is_some_and(|at| at.elapsed() >= PEER_GRACE) {
            return Ok((stop(runner)?, false, true));
        }
        if Instant::now() >= deadline {
            return Ok((stop(runner)?, true, false));
        }
        sleep(POLL);
    }
}

/// Waits up to [`PEER_WAIT`] for the peer, kills it past that, and reads what it printed.
fn finish_peer(peer: &mut Child, log: &Path) -> Result<PeerEnd, String> {
    let deadline = Instant::now() + PEER_WAIT;
    let mut killed = false;
    let status = loop {
        if let Some(status) = peer.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = peer.kill();
            killed = true;
            break peer.wait().map_err(|e| e.to_string())?;
        }
        sleep(POLL);
    };
    let output = fs::read(log).map_err(|e| format!("{}: {e}", log.display()))?;
    Ok(PeerEnd {
        code: status.code(),
        killed,
        output: String::from_utf8_lossy(&output).into_owned(),
    })
}

/// Asks the runner to stop (SIGTERM, which timeout(1) passes on to QEMU), kills it if it does
/// not within [`TERM_GRACE`], and reaps it.
fn stop(child: &mut Child) -> Result<ExitStatus, String> {
    // std can only send SIGKILL, which timeout(1) could not pass on; kill(1) sends SIGTERM.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let grace = Instant::now() + TERM_GRACE;
    while Instant::now() < grace {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        sleep(POLL);
    }
    let _ = child.kill();
    child.wait().map_err(|e| e.to_string())
}

/// Waits for `child` at most `limit`; past it, asks it to stop (SIGTERM, which the runner's
/// timeout(1) passes on to QEMU), then kills it. Always reaps it.
#[cfg(test)]
fn wait_bounded(child: &mut Child, limit: Duration) -> Result<(ExitStatus, bool), String> {
    wait_with_peer(child, None, limit).map(|(status, fired, _)| (status, fired))
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
            cpus: None,
            qemu_args: &extra,
            seconds: 7,
            log: Path::new("/r/build/scenarios/x.log"),
            peer: None,
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
            cpus: None,
            qemu_args: &[],
            seconds: 1,
            log: Path::new("x.log"),
            peer: None,
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
    fn the_run_ends_soon_after_the_peer() {
        let mut runner = Command::new("sleep").arg("30").spawn().unwrap();
        let mut peer = Command::new("sh").args(["-c", "exit 0"]).spawn().unwrap();
        let start = Instant::now();
        let (status, fired, after_peer) =
            wait_with_peer(&mut runner, Some(&mut peer), Duration::from_secs(20)).unwrap();
        assert!(after_peer && !fired);
        assert_eq!(status.signal(), Some(15));
        assert!(start.elapsed() < PEER_GRACE + Duration::from_secs(5));
    }

    #[test]
    fn a_quick_child_is_not_disturbed() {
        let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let (status, fired) = wait_bounded(&mut child, Duration::from_secs(10)).unwrap();
        assert!(!fired);
        assert_eq!(status.code(), Some(3));
    }
}
