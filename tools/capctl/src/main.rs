//! The `capctl` command line. Each subcommand is a thin wrapper over the
//! library; exit status 0 on success, 1 when the file (or the audited dump)
//! has errors or denied warnings, 2 on usage or I/O errors.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use capctl::edit::{Edit, Grant, GrantKind};
use capctl::{audit, diag, diff, edit, explain, gencaps, graph, image, lint, read_source, Source};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "capctl",
    version,
    about = "Check, explain, draw, edit and compile Ward's system.toml"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a system description; errors point at file:line:col.
    Check { file: PathBuf },
    /// Least-privilege warnings, each with its reason and fix.
    Lint {
        file: PathBuf,
        /// Exit non-zero if there is any warning.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// What each component can touch, and the line that grants it.
    Explain {
        file: PathBuf,
        /// Only this component.
        component: Option<String>,
        /// The reverse question: who can touch this region, device or channel?
        #[arg(long, value_name = "NAME", conflicts_with = "component")]
        who: Option<String>,
    },
    /// Draw the capability graph (.svg drawn by capctl, or .dot for Graphviz).
    Graph {
        file: PathBuf,
        /// Output file; its extension (.svg or .dot) picks the format.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Edit the file, keeping its comments; the result is checked first.
    Edit {
        file: PathBuf,
        /// Print the diff without writing the file.
        #[arg(long)]
        dry_run: bool,
        #[command(subcommand)]
        op: EditOp,
    },
    /// The privilege delta from A to B, per component.
    Diff {
        a: PathBuf,
        b: PathBuf,
        /// Exit 1 when there is any change (like `diff`).
        #[arg(long)]
        exit_code: bool,
    },
    /// Check, compile the spec and assemble the boot image directory.
    Build {
        file: PathBuf,
        #[arg(long)]
        kernel: PathBuf,
        #[arg(long)]
        root_task: PathBuf,
        /// Directory holding the program binaries (named like the program).
        #[arg(long)]
        programs: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// A missing program is a warning (its module is left out).
        #[arg(long)]
        allow_missing_programs: bool,
    },
    /// Compare the root task's capability dump in LOG with the file.
    Audit {
        file: PathBuf,
        /// The serial log holding `capdump:` lines.
        log: Option<PathBuf>,
        /// Print the dump the file expects instead of auditing.
        #[arg(long, conflicts_with = "log")]
        print_expected: bool,
    },
    /// Write the typed capability table (Rust) of one component.
    GenCaps {
        file: PathBuf,
        /// Component name (or program name).
        component: String,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum EditOp {
    /// Add a component (with no grants yet).
    AddComponent {
        name: String,
        #[arg(long, value_enum)]
        kind: KindArg,
        #[arg(long)]
        priority: i64,
        #[arg(long)]
        program: Option<String>,
        #[arg(long)]
        stack: Option<String>,
    },
    /// Remove a component (and its place in client and signaller lists).
    RemoveComponent { name: String },
    /// Grant a component a mapping, device, IRQ or channel.
    Grant {
        component: String,
        #[arg(value_enum)]
        what: GrantArg,
        /// Region, device or channel name.
        name: String,
        /// Mapping rights (map only), e.g. r, rw, rx.
        #[arg(long)]
        rights: Option<String>,
        /// Fixed address (map only), e.g. 0x40000000.
        #[arg(long, value_parser = parse_u64)]
        at: Option<u64>,
        /// Capability name in the caps table (map only).
        #[arg(long)]
        cap: Option<String>,
        /// Badge (endpoint channels); default: one above the highest.
        #[arg(long)]
        badge: Option<i64>,
    },
    /// Revoke a mapping, device, IRQ or channel from a component.
    Revoke {
        component: String,
        #[arg(value_enum)]
        what: GrantArg,
        name: String,
    },
    /// Set a component's priority.
    SetPriority { component: String, priority: i64 },
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Driver,
    Server,
    App,
}

#[derive(Clone, Copy, ValueEnum)]
enum GrantArg {
    Map,
    Device,
    Irq,
    Channel,
}

fn parse_u64(text: &str) -> Result<u64, String> {
    let t = text.replace('_', "");
    match t.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    }
    .map_err(|e| format!("not a number: {e}"))
}

/// Exit status for problems in the checked file.
const EXIT_INVALID: u8 = 1;
/// Exit status for usage and I/O problems.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("capctl: {msg}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn load(path: &Path) -> Result<(Source, capctl::Checked), String> {
    let src = read_source(path)?;
    let checked = capctl::check(&src);
    Ok((src, checked))
}

fn report(src: &Source, diags: &[diag::Diagnostic]) {
    if !diags.is_empty() {
        eprint!("{}", diag::render_all(diags, src));
    }
}

/// Loads a file that must be valid; on errors prints them.
macro_rules! valid_or_exit {
    ($path:expr, $src:ident, $checked:ident, $sys:ident, $layout:ident) => {
        let ($src, $checked) = load($path)?;
        let Some(($sys, $layout)) = $checked.valid() else {
            report(&$src, &$checked.diagnostics);
            return Ok(ExitCode::from(EXIT_INVALID));
        };
    };
}

fn write_out(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Check { file } => {
            let (src, checked) = load(&file)?;
            report(&src, &checked.diagnostics);
            if checked.has_errors() {
                return Ok(ExitCode::from(EXIT_INVALID));
            }
            let sys = checked.system.as_ref().expect("valid");
            let count =
                |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            println!(
                "{}: ok ({}, {}, {}, {}; {} of {} RAM)",
                src.path,
                count(sys.components.len(), "component"),
                count(
                    sys.regions.iter().filter(|r| r.ring_of.is_none()).count(),
                    "region"
                ),
                count(sys.devices.len(), "device"),
                count(sys.channels.len(), "channel"),
                capctl::model::human_size(capctl::check::memory_total(sys).div_ceil(1 << 20) << 20),
                capctl::model::human_size(sys.kernel.ram)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Lint {
            file,
            deny_warnings,
        } => {
            valid_or_exit!(&file, src, checked, sys, _layout);
            let warnings = lint::lint(sys);
            report(&src, &warnings);
            if warnings.is_empty() {
                println!("{}: no least-privilege warnings", src.path);
            }
            if deny_warnings && !warnings.is_empty() {
                eprintln!("capctl: warnings are denied (--deny-warnings)");
                return Ok(ExitCode::from(EXIT_INVALID));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            file,
            component,
            who,
        } => {
            valid_or_exit!(&file, src, checked, sys, layout);
            if let Some(name) = who {
                return match explain::who(sys, layout, &src, &name) {
                    Some(text) => {
                        print!("{text}");
                        Ok(ExitCode::SUCCESS)
                    }
                    None => Err(not_found(
                        "region, device or channel",
                        &name,
                        &explain::who_names(sys),
                    )),
                };
            }
            let only = match component {
                Some(name) => match sys.component_index(&name) {
                    Some(i) => Some(i),
                    None => {
                        let names: Vec<&str> =
                            sys.components.iter().map(|c| c.name.as_str()).collect();
                        return Err(not_found("component", &name, &names));
                    }
                },
                None => None,
            };
            print!("{}", explain::explain(sys, layout, &src, only));
            Ok(ExitCode::SUCCESS)
        }
        Command::Graph { file, output } => {
            valid_or_exit!(&file, src, checked, sys, _layout);
            let _ = &src;
            let text = match output.extension().and_then(|e| e.to_str()) {
                Some("svg") => graph::to_svg(sys),
                Some("dot") | Some("gv") => graph::to_dot(sys),
                _ => {
                    return Err(format!(
                        "cannot tell the format of {}: name it .svg or .dot",
                        output.display()
                    ))
                }
            };
            write_out(&output, &text)?;
            println!("wrote {}", output.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Edit { file, dry_run, op } => {
            let src = read_source(&file)?;
            // Editing the lossy text would write U+FFFD over the bad bytes.
            if let Some(error) = src.encoding_error() {
                report(&src, &[error]);
                return Ok(ExitCode::from(EXIT_INVALID));
            }
            let e = to_edit(op)?;
            match edit::edit(&src, &e) {
                Ok(done) => {
                    print!("{}", done.diff);
                    if dry_run {
                        println!("(dry run: {} not written)", src.path);
                    } else {
                        write_out(&file, &done.text)?;
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(msg) => {
                    eprintln!("{msg}");
                    Ok(ExitCode::from(EXIT_INVALID))
                }
            }
        }
        Command::Diff { a, b, exit_code } => {
            valid_or_exit!(&a, src_a, checked_a, sys_a, layout_a);
            valid_or_exit!(&b, src_b, checked_b, sys_b, layout_b);
            let _ = (&src_a, &src_b);
            let (text, changed) = diff::diff((sys_a, layout_a), (sys_b, layout_b));
            print!("{text}");
            Ok(if exit_code && changed {
                ExitCode::from(EXIT_INVALID)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Build {
            file,
            kernel,
            root_task,
            programs,
            out,
            allow_missing_programs,
        } => {
            let (src, checked) = load(&file)?;
            report(&src, &checked.diagnostics);
            let Some((sys, layout)) = checked.valid() else {
                return Ok(ExitCode::from(EXIT_INVALID));
            };
            let inputs = image::BuildInputs {
                kernel: &kernel,
                root_task: &root_task,
                programs: &programs,
                out: &out,
                allow_missing_programs,
            };
            match image::build(sys, layout, &inputs) {
                Ok(rep) => {
                    for w in &rep.warnings {
                        eprintln!("warning: {w}");
                    }
                    println!(
                        "built {}: system.bin ({} bytes), modules: {}",
                        out.display(),
                        rep.spec_bytes,
                        rep.modules.join(" ")
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(EXIT_INVALID))
                }
            }
        }
        Command::Audit {
            file,
            log,
            print_expected,
        } => {
            valid_or_exit!(&file, src, checked, sys, layout);
            let _ = &src;
            let bytes = capctl::compile::compile(sys, layout).encode();
            if print_expected {
                print!("{}", audit::expected_dump(&bytes)?);
                return Ok(ExitCode::SUCCESS);
            }
            let log = log.ok_or("give the LOG file to audit (or --print-expected)")?;
            let text =
                std::fs::read(&log).map_err(|e| format!("cannot read {}: {e}", log.display()))?;
            let text = String::from_utf8_lossy(&text);
            let rep = audit::audit(&bytes, &text, &log.display().to_string())?;
            print!("{}", rep.text);
            Ok(if rep.differences == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_INVALID)
            })
        }
        Command::GenCaps {
            file,
            component,
            output,
        } => {
            let text = match gencaps::generate_from_file(&file, &component) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(EXIT_INVALID));
                }
            };
            match output {
                Some(path) => write_out(&path, &text)?,
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn not_found(what: &str, name: &str, names: &[&str]) -> String {
    let mut msg = format!("no {what} named `{name}`");
    if let Some(m) = diag::did_you_mean(name, names.iter().copied()) {
        msg.push_str(&format!("; did you mean `{m}`?"));
    }
    format!("{msg} (choices: {})", diag::list_choices(names))
}

fn to_edit(op: EditOp) -> Result<Edit, String> {
    Ok(match op {
        EditOp::AddComponent {
            name,
            kind,
            priority,
            program,
            stack,
        } => Edit::AddComponent {
            name,
            kind: match kind {
                KindArg::Driver => "driver",
                KindArg::Server => "server",
                KindArg::App => "app",
            }
            .to_string(),
            priority,
            program,
            stack,
        },
        EditOp::RemoveComponent { name } => Edit::RemoveComponent { name },
        EditOp::SetPriority {
            component,
            priority,
        } => Edit::SetPriority {
            component,
            priority,
        },
        EditOp::Grant {
            component,
            what,
            name,
            rights,
            at,
            cap,
            badge,
        } => {
            let grant = match what {
                GrantArg::Map => Grant::Map {
                    region: name,
                    rights: rights.ok_or("a mapping needs --rights (r, rw or rx)")?,
                    at,
                    cap,
                },
                GrantArg::Device => Grant::Device(name),
                GrantArg::Irq => Grant::Irq(name),
                GrantArg::Channel => Grant::Channel {
                    channel: name,
                    badge,
                },
            };
            Edit::Grant { component, grant }
        }
        EditOp::Revoke {
            component,
            what,
            name,
        } => Edit::Revoke {
            component,
            kind: match what {
                GrantArg::Map => GrantKind::Map,
                GrantArg::Device => GrantKind::Device,
                GrantArg::Irq => GrantKind::Irq,
                GrantArg::Channel => GrantKind::Channel,
            },
            name,
        },
    })
}
