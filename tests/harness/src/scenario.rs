//! Scenario files: what one QEMU run boots, with which arguments, and how it is judged.
//!
//! A scenario lives in `tests/scenarios/NAME.toml`; NAME is the file name. Unknown keys are
//! rejected so that a misspelt key cannot silently weaken a test.
//!
//! ```toml
//! description = "the root task faults on purpose; the kernel reports it and stays up"
//! system = "system.toml"             # default
//! root_args = "test=fault-pf"        # arguments of the root-task module
//! kernel_args = "idle=exit"          # appended to the image's kernel command line
//! qemu_args = ["-device", "edu"]     # before Ward's own -device arguments
//! machine = "q35,kernel-irqchip=split"  # replaces -machine q35
//! timeout_seconds = 30               # default
//! expect_status = 0x20               # guest status written to the debug-exit port
//! expect = ["page fault", "thread suspended", "kernel alive"]   # in this order
//! expect = [["root task", "error"], "halt"]  # a list: one line containing all, in any order
//! expect_anywhere = ["scribe: line 1"]  # must appear, but in no particular order (concurrent output)
//! forbid = ["triple"]                # must appear nowhere
//! root_task = "truncate"             # corrupt the root-task module (see `elf::Mutation`)
//! root_program = "ktest"             # boot this user program as the root task instead
//! host_ports = ["peer", "nic"]       # free 127.0.0.1 ports, written for {port.NAME} below
//! qemu_args = ["-netdev", "dgram,id=n,local.type=inet,local.host=127.0.0.1,local.port={port.nic},..."]
//! host_peer = ["python3", "tests/e1000/peer.py", "--port", "{port.peer}"]  # runs next to QEMU
//! replace_programs = { e1000 = "e1000-faults" }  # boot these programs in place of those
//! com2_input = "status\r"            # wire COM2 to the harness: this is typed, what comes back is judged
//! quick = { host_peer = ["python3", "x.py", "--short"], root_args = "..", timeout_seconds = 60 }
//! ```
//!
//! `quick` replaces those keys when the harness runs with `--quick` (as `make test` runs the
//! teaching experiments): a shorter variant that asserts the same claim.
//!
//! `{log}` in `host_peer` is replaced by the path of the run's console log, which QEMU writes
//! as the run goes, so a peer can act on what the guest prints (e.g. audit its capability dump).
//!
//! `replace_programs` swaps a component's program module (`e1000.elf`) for another user program
//! built against the same capability layout, such as a build with test-only fault injection.
//!
//! With `host_peer`, the harness starts that program on the host (from the repository root)
//! together with QEMU, and the run ends when it exits: QEMU is stopped two seconds later. The
//! peer must exit with status 0, and its output is judged with the console's (appended after
//! it). `expect_status` may then be left out, meaning the system must still be running when the
//! peer is done (a system serving traffic does not end by itself).
//!
//! With `com2_input`, COM2 (the serial driver's UART) is connected to two files in the
//! scenario's output directory: the guest reads the text from `NAME.com2.in`, and what it writes
//! goes to `NAME.com2.out`, whose lines are appended to the judged log as `[com2] LINE`.
//!
//! `root_program` names a bare-metal user program built into
//! `target/x86_64-unknown-none/release/` (its package must be in the Makefile's USER_PACKAGES);
//! it replaces the root-task module of the system's image, so test programs such as the kernel
//! conformance suite can run as the root task without a system description of their own.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::elf::Mutation;
use crate::judge::Expect;

/// The system description booted when a scenario names none: the default system at the repo root.
pub const DEFAULT_SYSTEM: &str = "system.toml";

/// Booting to the root-task banner takes under 2 s under TCG; 30 s leaves room for a machine whose
/// two cores are busy compiling, without letting a hung run hold up the suite for long.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;

/// No single boot should ever need more; a larger value is almost certainly a typo.
pub const MAX_TIMEOUT_SECONDS: u64 = 600;

/// Most cores a scenario may ask for (the kernel's `MAX_CPUS`).
pub const MAX_CPUS: u8 = 16;

/// One scenario, checked and ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The file name without `.toml`.
    pub name: String,
    pub description: String,
    /// Path of the system description, relative to the repository root.
    pub system: String,
    pub root_args: String,
    pub kernel_args: String,
    pub qemu_args: Vec<String>,
    pub machine: Option<String>,
    /// Cores the machine has (`-smp`); `None`: the run's default (`ward-scenario --cpus`).
    pub cpus: Option<u8>,
    pub timeout_seconds: u64,
    /// The guest status the run must end with; `None` (only with a host peer): the system must
    /// still be running when the peer is done.
    pub expect_status: Option<u8>,
    pub expect: Vec<Expect>,
    /// Output that must appear, each anywhere in the log (lines written concurrently with
    /// `expect`'s, whose order against them is up to the scheduler).
    pub expect_anywhere: Vec<Expect>,
    pub forbid: Vec<String>,
    pub root_task: Option<Mutation>,
    /// A user program to boot as the root task instead of the image's own.
    pub root_program: Option<String>,
    /// Names of the free loopback ports to pick (see [`crate::peer`]).
    pub host_ports: Vec<String>,
    /// The host peer's command line (program first), with `{port.NAME}` placeholders.
    pub host_peer: Vec<String>,
    /// Program modules to boot with another program: (program in the image, program to boot).
    pub replace_programs: Vec<(String, String)>,
    /// Text typed into COM2; its output is judged with the console's.
    pub com2_input: Option<String>,
    /// What `--quick` replaces.
    pub quick: Option<Quick>,
}

/// The keys a scenario's quick variant may replace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quick {
    pub host_peer: Option<Vec<String>>,
    pub root_args: Option<String>,
    pub timeout_seconds: Option<u64>,
}

impl Scenario {
    /// This scenario with its quick variant's keys in place (itself when it has none).
    pub fn quick_variant(&self) -> Scenario {
        let mut s = self.clone();
        if let Some(q) = &self.quick {
            if let Some(p) = &q.host_peer {
                s.host_peer = p.clone();
            }
            if let Some(a) = &q.root_args {
                s.root_args = a.clone();
            }
            if let Some(t) = q.timeout_seconds {
                s.timeout_seconds = t;
            }
        }
        s
    }
}

/// The file as written; [`Scenario`] is what is left after the checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    description: String,
    system: Option<String>,
    #[serde(default)]
    root_args: String,
    #[serde(default)]
    kernel_args: String,
    #[serde(default)]
    qemu_args: Vec<String>,
    machine: Option<String>,
    cpus: Option<u8>,
    timeout_seconds: Option<u64>,
    expect_status: Option<u8>,
    #[serde(default)]
    expect: Vec<Expect>,
    #[serde(default)]
    expect_anywhere: Vec<Expect>,
    #[serde(default)]
    forbid: Vec<String>,
    root_task: Option<Mutation>,
    root_program: Option<String>,
    #[serde(default)]
    host_ports: Vec<String>,
    #[serde(default)]
    host_peer: Vec<String>,
    #[serde(default)]
    replace_programs: std::collections::BTreeMap<String, String>,
    com2_input: Option<String>,
    quick: Option<Quick>,
}

/// Why a scenario file was rejected; names the file so the message stands on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Is `name` usable as a scenario name (and so as a log file name and a make argument)?
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Is `name` usable as `root_program`: a binary name, never a path?
pub fn valid_program_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Parses and checks the text of the scenario file `file` (used in messages) named `name`.
pub fn parse(name: &str, file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let err = |message: String| ScenarioError {
        file: file.to_string(),
        message,
    };
    if !valid_name(name) {
        return Err(err(format!(
            "scenario name '{name}' must use only a-z, 0-9, '-' and '_'"
        )));
    }
    let raw: ScenarioFile =
        toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_string()))?;

    let system = raw.system.unwrap_or_else(|| DEFAULT_SYSTEM.to_string());
    if !system.ends_with(".toml") {
        return Err(err(format!(
            "system '{system}' should name a .toml system description"
        )));
    }
    let timeout_seconds = raw.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    if timeout_seconds == 0 || timeout_seconds > MAX_TIMEOUT_SECONDS {
        return Err(err(format!(
            "timeout_seconds = {timeout_seconds} is out of range 1..={MAX_TIMEOUT_SECONDS}"
        )));
    }
    if raw.root_args.contains(',') {
        return Err(err(format!(
            "root_args '{}' contains a comma, which would split the Multiboot module list",
            raw.root_args
        )));
    }
    if let Some(m) = &raw.machine {
        if m.trim().is_empty() {
            return Err(err("machine is empty; leave it out to use q35".to_string()));
        }
    }
    let expect_texts = raw
        .expect
        .iter()
        .chain(&raw.expect_anywhere)
        .flat_map(Expect::parts);
    if expect_texts.chain(&raw.forbid).any(String::is_empty) {
        return Err(err(
            "expect or forbid has an empty string, which would match anything".to_string(),
        ));
    }
    if raw
        .expect
        .iter()
        .chain(&raw.expect_anywhere)
        .any(|e| e.parts().is_empty())
    {
        return Err(err(
            "expect has an empty line list, which would match any line".to_string(),
        ));
    }
    if let Some(program) = &raw.root_program {
        if !valid_program_name(program) {
            return Err(err(format!(
                "root_program '{program}' must be a program name (a-z, 0-9, '-' and '_'), not a path"
            )));
        }
    }
    for (from, to) in &raw.replace_programs {
        if !valid_program_name(from) || !valid_program_name(to) {
            return Err(err(format!(
                "replace_programs entry '{from}' = '{to}' must name programs (a-z, 0-9, '-' and '_'), not paths"
            )));
        }
    }
    if raw.expect_status.is_none() && raw.host_peer.is_empty() {
        return Err(err(
            "missing expect_status: the guest status the run must end with (it may be left out only with a host_peer)"
                .to_string(),
        ));
    }
    for name in &raw.host_ports {
        if !crate::peer::valid_port_name(name) {
            return Err(err(format!(
                "host_ports name '{name}' must use only a-z, 0-9, '-' and '_'"
            )));
        }
    }
    for text in raw.qemu_args.iter().chain(&raw.host_peer) {
        for name in crate::peer::placeholders(text).map_err(err)? {
            if !raw.host_ports.contains(&name) {
                return Err(err(format!(
                    "'{text}' uses port '{name}', which host_ports does not name (it names: {})",
                    raw.host_ports.join(", ")
                )));
            }
        }
    }
    if raw.host_peer.first().is_some_and(|p| p.trim().is_empty()) {
        return Err(err(
            "host_peer starts with an empty program name".to_string()
        ));
    }
    if let Some(cpus) = raw.cpus {
        if !(1..=MAX_CPUS).contains(&cpus) {
            return Err(err(format!(
                "cpus = {cpus}: the kernel runs on 1 to {MAX_CPUS} cores"
            )));
        }
    }
    if let Some(q) = &raw.quick {
        if q.host_peer.is_some() && raw.host_peer.is_empty() {
            return Err(err(
                "quick.host_peer is set but the scenario has no host_peer to replace".to_string(),
            ));
        }
        if q.timeout_seconds
            .is_some_and(|t| t == 0 || t > MAX_TIMEOUT_SECONDS)
        {
            return Err(err(format!(
                "quick.timeout_seconds is out of range 1..={MAX_TIMEOUT_SECONDS}"
            )));
        }
        if q.root_args.as_ref().is_some_and(|a| a.contains(',')) {
            return Err(err(
                "quick.root_args contains a comma, which would split the Multiboot module list"
                    .to_string(),
            ));
        }
        for text in q.host_peer.iter().flatten() {
            for name in crate::peer::placeholders(text).map_err(err)? {
                if !raw.host_ports.contains(&name) {
                    return Err(err(format!(
                        "'{text}' uses port '{name}', which host_ports does not name"
                    )));
                }
            }
        }
    }
    if raw.description.trim().is_empty() {
        return Err(err(
            "description is empty; say what the scenario shows".to_string()
        ));
    }

    Ok(Scenario {
        name: name.to_string(),
        description: raw.description,
        system,
        root_args: raw.root_args,
        kernel_args: raw.kernel_args,
        qemu_args: raw.qemu_args,
        machine: raw.machine,
        cpus: raw.cpus,
        timeout_seconds,
        expect_status: raw.expect_status,
        expect: raw.expect,
        expect_anywhere: raw.expect_anywhere,
        forbid: raw.forbid,
        root_task: raw.root_task,
        root_program: raw.root_program,
        host_ports: raw.host_ports,
        host_peer: raw.host_peer,
        replace_programs: raw.replace_programs.into_iter().collect(),
        com2_input: raw.com2_input,
        quick: raw.quick,
    })
}

/// Every `*.toml` in `dir`, sorted by name: (name without `.toml`, path for messages, text).
pub fn read_toml_files(dir: &Path) -> Result<Vec<(String, String, String)>, ScenarioError> {
    let io_err = |e: std::io::Error| ScenarioError {
        file: dir.display().to_string(),
        message: e.to_string(),
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_err)?
        .into_iter()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        let file = path.display().to_string();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| ScenarioError {
            file: file.clone(),
            message: e.to_string(),
        })?;
        out.push((name, file, text));
    }
    Ok(out)
}

/// Loads every `*.toml` in `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    read_toml_files(dir)?
        .iter()
        .map(|(name, file, text)| parse(name, file, text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
        description = "everything set"
        system = "tests/systems/edu.toml"
        root_args = "test=fault-pf"
        kernel_args = "idle=exit log=debug"
        qemu_args = ["-device", "edu"]
        machine = "q35,kernel-irqchip=split"
        timeout_seconds = 12
        expect_status = 0x20
        expect = ["page fault", ["thread", "suspended"]]
        forbid = ["triple"]
        root_task = "kernel-address"
    "#;

    #[test]
    fn parses_every_field() {
        let s = parse("x", "x.toml", FULL).unwrap();
        assert_eq!(s.system, "tests/systems/edu.toml");
        assert_eq!(s.root_args, "test=fault-pf");
        assert_eq!(s.kernel_args, "idle=exit log=debug");
        assert_eq!(s.qemu_args, ["-device", "edu"]);
        assert_eq!(s.machine.as_deref(), Some("q35,kernel-irqchip=split"));
        assert_eq!(s.timeout_seconds, 12);
        assert_eq!(s.expect_status, Some(0x20));
        assert_eq!(
            s.expect,
            [
                Expect::Text("page fault".into()),
                Expect::Line(vec!["thread".into(), "suspended".into()])
            ]
        );
        assert_eq!(s.forbid, ["triple"]);
        assert_eq!(s.root_task, Some(Mutation::KernelAddress));
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let s = parse(
            "boot",
            "boot.toml",
            "description = \"d\"\nexpect_status = 0\n",
        )
        .unwrap();
        assert_eq!(s.system, DEFAULT_SYSTEM);
        assert_eq!(s.timeout_seconds, DEFAULT_TIMEOUT_SECONDS);
        assert!(s.root_args.is_empty() && s.qemu_args.is_empty() && s.expect.is_empty());
        assert_eq!(s.machine, None);
        assert_eq!(s.root_task, None);
        assert_eq!(s.root_program, None);
    }

    #[test]
    fn root_program_is_a_name_not_a_path() {
        let ok = parse(
            "k",
            "k.toml",
            "description = \"d\"\nexpect_status = 0\nroot_program = \"ktest\"\n",
        )
        .unwrap();
        assert_eq!(ok.root_program.as_deref(), Some("ktest"));
        for bad in ["../ktest", "/bin/sh", "", "KTest"] {
            let text =
                format!("description = \"d\"\nexpect_status = 0\nroot_program = \"{bad}\"\n");
            let e = parse("k", "k.toml", &text).expect_err(bad);
            assert!(e.to_string().contains("root_program"), "{bad:?} gave {e}");
        }
    }

    #[test]
    fn a_host_peer_gets_its_ports_and_may_leave_the_status_out() {
        let text = r#"
            description = "traffic from the host"
            host_ports = ["peer", "nic"]
            qemu_args = ["-netdev", "dgram,id=n,local.port={port.nic},remote.port={port.peer}"]
            host_peer = ["python3", "peer.py", "--port", "{port.peer}"]
        "#;
        let s = parse("p", "p.toml", text).unwrap();
        assert_eq!(s.expect_status, None);
        assert_eq!(s.host_ports, ["peer", "nic"]);
        assert_eq!(s.host_peer[3], "{port.peer}");
        let undeclared = text.replace(r#"["peer", "nic"]"#, r#"["peer"]"#);
        let e = parse("p", "p.toml", &undeclared).unwrap_err();
        assert!(e.to_string().contains("port 'nic'"), "{e}");
        let bad_name = text.replace(r#"["peer", "nic"]"#, r#"["peer", "NIC"]"#);
        assert!(parse("p", "p.toml", &bad_name).is_err());
        let replaced = format!("{text}\nreplace_programs = {{ e1000 = \"e1000-faults\" }}\n");
        let s = parse("p", "p.toml", &replaced).unwrap();
        assert_eq!(
            s.replace_programs,
            [("e1000".to_string(), "e1000-faults".to_string())]
        );
        let path = format!("{text}\nreplace_programs = {{ e1000 = \"../x\" }}\n");
        assert!(parse("p", "p.toml", &path).is_err());
    }

    #[test]
    fn the_quick_variant_replaces_its_keys() {
        let text = r#"
            description = "d"
            host_ports = ["peer"]
            host_peer = ["python3", "p.py", "--frames", "100000"]
            root_args = "a=1"
            quick = { host_peer = ["python3", "p.py", "--frames", "1000", "{port.peer}"], timeout_seconds = 40 }
        "#;
        let s = parse("q", "q.toml", text).unwrap();
        let q = s.quick_variant();
        assert_eq!(q.host_peer[3], "1000");
        assert_eq!(q.root_args, "a=1");
        assert_eq!(q.timeout_seconds, 40);
        assert_eq!(s.host_peer[3], "100000");
        let undeclared = text.replace("{port.peer}", "{port.nic}");
        assert!(parse("q", "q.toml", &undeclared).is_err());
        let no_peer = "description = \"d\"\nexpect_status = 0\nquick = { host_peer = [\"x\"] }\n";
        assert!(parse("q", "q.toml", no_peer).is_err());
    }

    #[test]
    fn every_mutation_name_parses() {
        for (text, m) in [
            ("truncate", Mutation::Truncate),
            ("garbage", Mutation::Garbage),
            ("kernel-address", Mutation::KernelAddress),
            ("missing", Mutation::Missing),
            ("empty", Mutation::Empty),
        ] {
            let src =
                format!("description = \"d\"\nexpect_status = 0x31\nroot_task = \"{text}\"\n");
            assert_eq!(parse("b", "b.toml", &src).unwrap().root_task, Some(m));
        }
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let cases = [
            (
                "description = \"d\"\nexpect_status = 0\nexpected = [\"x\"]\n",
                "expected",
            ),
            ("description = \"d\"\n", "expect_status"),
            (
                "description = \"d\"\nexpect_status = 256\n",
                "expect_status",
            ),
            (
                "description = \"d\"\nexpect_status = 0\nroot_task = \"shred\"\n",
                "shred",
            ),
            (
                "description = \"d\"\nexpect_status = 0\ntimeout_seconds = 0\n",
                "timeout_seconds",
            ),
            (
                "description = \"d\"\nexpect_status = 0\ntimeout_seconds = 9999\n",
                "timeout_seconds",
            ),
            (
                "description = \"d\"\nexpect_status = 0\nroot_args = \"a,b\"\n",
                "comma",
            ),
            (
                "description = \"d\"\nexpect_status = 0\nexpect = [\"\"]\n",
                "empty string",
            ),
            (
                "description = \"d\"\nexpect_status = 0\nexpect = [[\"a\", \"\"]]\n",
                "empty string",
            ),
            (
                "description = \"d\"\nexpect_status = 0\nforbid = [\"\"]\n",
                "empty string",
            ),
            (
                "description = \"d\"\nexpect_status = 0\nexpect = [[]]\n",
                "empty line list",
            ),
            (
                "description = \"d\"\nexpect_status = 0\nexpect = [1]\n",
                "expect",
            ),
            (
                "description = \"d\"\nexpect_status = 0\nsystem = \"sys\"\n",
                ".toml",
            ),
            ("description = \" \"\nexpect_status = 0\n", "description"),
            (
                "description = \"d\"\nexpect_status = 0\nmachine = \"\"\n",
                "machine",
            ),
        ];
        for (text, needle) in cases {
            let e = parse("s", "s.toml", text).expect_err(text);
            assert!(e.to_string().contains(needle), "{text:?} gave {e}");
            assert!(e.to_string().starts_with("s.toml: "));
        }
    }

    #[test]
    fn rejects_bad_names() {
        assert!(parse(
            "Boot",
            "Boot.toml",
            "description = \"d\"\nexpect_status = 0\n"
        )
        .is_err());
        assert!(parse(
            "a b",
            "a b.toml",
            "description = \"d\"\nexpect_status = 0\n"
        )
        .is_err());
        assert!(valid_name("user-fault_pf2"));
        assert!(!valid_name(""));
    }

    /// The scenarios in the tree must all parse, so a broken file fails `cargo test` already.
    #[test]
    fn committed_scenarios_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let all = load_dir(&dir).unwrap();
        assert!(
            all.iter().any(|s| s.name == "boot"),
            "tests/scenarios/boot.toml is missing"
        );
    }
}
