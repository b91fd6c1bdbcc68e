//! The `capctl` command line. Each subcommand is a thin wrapper over the
//! library; exit status 0 on success, 1 on errors in the file (or denied
//! warnings), 2 on usage or I/O errors.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use capctl::{check, diag, image, lint, read_source, Source};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "capctl", version, about = "Check, explain, draw, edit and compile Ward's system.toml")]
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

/// Loads and checks a file; on errors prints them and returns `None`.
fn load(path: &PathBuf) -> Result<(Source, capctl::Checked), String> {
    let src = read_source(path)?;
    let checked = check(&src);
    Ok((src, checked))
}

fn report(src: &Source, diags: &[diag::Diagnostic]) {
    if !diags.is_empty() {
        eprint!("{}", diag::render_all(diags, src));
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Check { file } => {
            let (src, checked) = load(&file)?;
            report(&src, &checked.diagnostics);
            if checked.has_errors() {
                return Ok(ExitCode::from(EXIT_INVALID));
            }
            let sys = checked.system.as_ref().unwrap();
            println!(
                "{}: ok ({} components, {} regions, {} devices, {} channels)",
                src.path,
                sys.components.len(),
                sys.regions.iter().filter(|r| r.ring_of.is_none()).count(),
                sys.devices.len(),
                sys.channels.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Lint { file, deny_warnings } => {
            let (src, checked) = load(&file)?;
            let Some((sys, _)) = checked.valid() else {
                report(&src, &checked.diagnostics);
                return Ok(ExitCode::from(EXIT_INVALID));
            };
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
        Command::Build { file, kernel, root_task, programs, out, allow_missing_programs } => {
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
    }
}
