//! Teaching experiments: a prepared variant of the system (one or more scenario runs), the lines
//! of their output worth reading, and a plain-words explanation of what they show.
//!
//! An experiment lives in `tests/experiments/NAME.toml`; its runs are ordinary scenario files in
//! `tests/experiments/runs/` (or in `tests/scenarios/`, where a test already shows what the
//! experiment needs), judged like any scenario, so the claim an explanation makes is
//! asserted by the run's `expect` lines every time `make test` runs them.
//!
//! ```toml
//! summary = "one line for `make experiments`"
//! runs = ["dma-with-vtd", "dma-without-vtd"]   # tests/experiments/runs/RUN.toml, in this order
//! show = ["hwtest: victim", "experiment: "]     # log lines containing one of these are shown
//! explanation = """
//! What happened and why, pointing at the system.toml line or the mechanism responsible.
//! """
//! ```
//!
//! `ward-scenario --experiment NAME` runs the runs, prints the lines `show` selects from each
//! run's console and host-peer output, then the explanation. A run that fails its checks makes
//! the experiment fail: the explanation is then not printed as if it applied.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::scenario::{valid_name, Scenario};

/// Where experiments live, relative to the repository root.
pub const EXPERIMENT_DIR: &str = "tests/experiments";
/// Where their runs live: scenario files.
pub const RUN_DIR: &str = "tests/experiments/runs";

/// One experiment, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Experiment {
    pub name: String,
    pub summary: String,
    pub runs: Vec<String>,
    pub show: Vec<String>,
    pub explanation: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExperimentFile {
    summary: String,
    runs: Vec<String>,
    #[serde(default)]
    show: Vec<String>,
    explanation: String,
}

/// Why an experiment file was rejected, naming the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentError {
    pub file: String,
    pub message: String,
}

impl fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for ExperimentError {}

/// Parses the experiment `name` from `text`; `runs` are the scenario runs that exist, so that a
/// misspelt run is caught with the list of valid ones.
pub fn parse(
    name: &str,
    file: &str,
    text: &str,
    runs: &[Scenario],
) -> Result<Experiment, ExperimentError> {
    let err = |message: String| ExperimentError {
        file: file.to_string(),
        message,
    };
    if !valid_name(name) {
        return Err(err(format!(
            "experiment name '{name}' must use only a-z, 0-9, '-' and '_'"
        )));
    }
    let raw: ExperimentFile =
        toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_string()))?;
    if raw.summary.trim().is_empty() || raw.summary.contains('\n') {
        return Err(err("summary must be one non-empty line".to_string()));
    }
    if raw.explanation.trim().is_empty() {
        return Err(err(
            "explanation is empty; say what the runs show and why".to_string()
        ));
    }
    if raw.runs.is_empty() {
        return Err(err("runs is empty; name at least one run".to_string()));
    }
    if raw.show.iter().any(String::is_empty) {
        return Err(err(
            "show has an empty string, which would show every line".to_string()
        ));
    }
    for run in &raw.runs {
        if !runs.iter().any(|s| &s.name == run) {
            let known: Vec<&str> = runs.iter().map(|s| s.name.as_str()).collect();
            return Err(err(format!(
                "run '{run}' is not in {RUN_DIR} or tests/scenarios; there are: {}",
                known.join(", ")
            )));
        }
    }
    Ok(Experiment {
        name: name.to_string(),
        summary: raw.summary,
        runs: raw.runs,
        show: raw.show,
        explanation: raw.explanation,
    })
}

/// Loads every experiment in `dir` (sorted by name), checking its runs against `runs`.
pub fn load_dir(dir: &Path, runs: &[Scenario]) -> Result<Vec<Experiment>, ExperimentError> {
    crate::scenario::read_toml_files(dir)
        .map_err(|e| ExperimentError {
            file: e.file,
            message: e.message,
        })?
        .iter()
        .map(|(name, file, text)| parse(name, file, text, runs))
        .collect()
}

/// The lines of `log` that contain one of `show`, in order, without their line ends.
pub fn shown_lines<'a>(log: &'a str, show: &[String]) -> Vec<&'a str> {
    log.lines()
        .filter(|l| show.iter().any(|s| l.contains(s.as_str())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str) -> Scenario {
        crate::scenario::parse(name, "r.toml", "description = \"d\"\nexpect_status = 0\n").unwrap()
    }

    const GOOD: &str = r#"
        summary = "a DMA over another component's memory, with and without VT-d"
        runs = ["a", "b"]
        show = ["victim"]
        explanation = "VT-d blocked it."
    "#;

    #[test]
    fn parses_and_checks_runs() {
        let runs = [run("a"), run("b")];
        let e = parse("dma", "dma.toml", GOOD, &runs).unwrap();
        assert_eq!(e.runs, ["a", "b"]);
        assert_eq!(e.show, ["victim"]);
        let e = parse("dma", "dma.toml", GOOD, &runs[..1]).unwrap_err();
        assert!(
            e.to_string().contains("run 'b'") && e.to_string().contains("a"),
            "{e}"
        );
    }

    #[test]
    fn rejects_empty_and_unknown_fields() {
        let runs = [run("a"), run("b")];
        for (text, needle) in [
            (GOOD.replace("show =", "shown ="), "shown"),
            (GOOD.replace("\"VT-d blocked it.\"", "\" \""), "explanation"),
            (GOOD.replace("[\"a\", \"b\"]", "[]"), "runs is empty"),
            (GOOD.replace("[\"victim\"]", "[\"\"]"), "show has an empty"),
            (
                GOOD.replace("summary = \"a DMA", "summary = \"\"\"two\nlines"),
                "",
            ),
        ] {
            let e = parse("x", "x.toml", &text, &runs).expect_err(&text);
            assert!(e.to_string().contains(needle), "{text:?} gave {e}");
        }
    }

    #[test]
    fn shows_matching_lines_only() {
        let log = "boot\nvictim bytes: aa aa\nother\nthe victim is intact\n";
        assert_eq!(
            shown_lines(log, &["victim".to_string()]),
            ["victim bytes: aa aa", "the victim is intact"]
        );
    }

    /// The experiments in the tree must all parse and name runs that exist, and every run must
    /// belong to an experiment (a run nobody explains is a test in the wrong place).
    #[test]
    fn committed_experiments_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let runs = crate::scenario::load_dir(&root.join(RUN_DIR)).unwrap();
        let mut known = runs.clone();
        known.extend(crate::scenario::load_dir(&root.join("tests/scenarios")).unwrap());
        let all = load_dir(&root.join(EXPERIMENT_DIR), &known).unwrap();
        assert!(all.len() >= 1, "no experiments in {EXPERIMENT_DIR}");
        for r in &runs {
            assert!(
                all.iter().any(|e| e.runs.contains(&r.name)),
                "run {} belongs to no experiment",
                r.name
            );
        }
    }

    /// An experiment's variant of a system differs from the system it varies only in lines
    /// marked `# experiment:`, so the lesson's "one line changed" stays true as the base file
    /// changes. (variant, base), relative to the repository root.
    const VARIANTS: &[(&str, &str)] = &[
        (
            "tests/experiments/systems/e1000-unmitigated.toml",
            "tests/systems/e1000-reflector.toml",
        ),
        (
            "tests/experiments/systems/e1000-bottom-half.toml",
            "tests/systems/e1000-reflector.toml",
        ),
        (
            "tests/experiments/systems/e1000-top-half.toml",
            "tests/systems/e1000-reflector.toml",
        ),
    ];

    /// The lines that carry settings, each with its [section]: no comments, no blank lines.
    /// Marked lines (`# experiment:`) are left out, and so are the lines of `base` with the
    /// same section and key as a marked line (the lines the variant replaces).
    fn setting_lines(text: &str, replaced: &[(String, String)]) -> Vec<(String, String)> {
        let mut section = String::new();
        let mut out = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_string();
            }
            if line.is_empty() || line.starts_with('#') || line.contains("# experiment:") {
                continue;
            }
            let key = line.split('=').next().unwrap_or("").trim().to_string();
            if replaced.contains(&(section.clone(), key)) {
                continue;
            }
            let value = line.split(" #").next().unwrap_or(line).trim_end();
            out.push((section.clone(), value.to_string()));
        }
        out
    }

    /// The (section, key) of every marked line of a variant.
    fn marked_keys(text: &str) -> Vec<(String, String)> {
        let mut section = String::new();
        let mut out = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_string();
            } else if line.contains("# experiment:") && !line.starts_with('#') {
                let key = line.split('=').next().unwrap_or("").trim().to_string();
                out.push((section.clone(), key));
            }
        }
        out
    }

    #[test]
    fn variants_differ_only_in_marked_lines() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for (variant, base) in VARIANTS {
            let v = std::fs::read_to_string(root.join(variant)).unwrap();
            let b = std::fs::read_to_string(root.join(base)).unwrap();
            let marked = marked_keys(&v);
            assert_eq!(
                setting_lines(&v, &[]),
                setting_lines(&b, &marked),
                "{variant} differs from {base} in a line not marked `# experiment:`"
            );
            assert!(!marked.is_empty(), "{variant} marks no line");
        }
    }
}
