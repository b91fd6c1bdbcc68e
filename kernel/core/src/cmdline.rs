//! The kernel command line: space-separated `key=value` words.
//!
//! Known keys:
//! - `loglevel=error|warn|info|debug|trace` — console verbosity;
//! - `idle=exit` — when no thread is left to run, prove the kernel is still
//!   alive (timer ticks keep arriving) and end the run with the
//!   "all threads stopped" status. Used by fault scenarios.
//!
//! Unknown words are reported and ignored, so a typo is visible.

/// Console verbosity, most to least severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// Parses a level name; `None` for anything else.
    pub fn parse(name: &str) -> Option<LogLevel> {
        Some(match name {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }
}

/// What to do when no thread is runnable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdlePolicy {
    /// Halt the CPU until the next interrupt, forever (the normal case).
    Wait,
    /// Report that the kernel is alive after a few timer ticks, then end the run.
    Exit,
}

/// The parsed command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelArgs<'a> {
    pub log_level: LogLevel,
    pub idle: IdlePolicy,
    /// `cpus=N`: run on at most N cores (at least 1; default: every core
    /// the firmware lists, up to the kernel's limit).
    pub cpus: usize,
    /// The first word that was not understood, for a console warning.
    pub first_unknown: Option<&'a str>,
}

impl<'a> KernelArgs<'a> {
    /// Parses `line`; `default_level` applies when no valid `loglevel=` is given.
    ///
    /// Multiboot loaders put the kernel image's file name first; a first
    /// word without `=` is taken to be that name and skipped.
    pub fn parse(line: &'a str, default_level: LogLevel) -> KernelArgs<'a> {
        let mut args = KernelArgs {
            log_level: default_level,
            idle: IdlePolicy::Wait,
            cpus: usize::MAX,
            first_unknown: None,
        };
        let mut words = line.split_ascii_whitespace().peekable();
        if words.peek().is_some_and(|first| !first.contains('=')) {
            words.next();
        }
        for word in words {
            let understood = match word.split_once('=') {
                Some(("loglevel", level)) => match LogLevel::parse(level) {
                    Some(level) => {
                        args.log_level = level;
                        true
                    }
                    None => false,
                },
                Some(("idle", "exit")) => {
                    args.idle = IdlePolicy::Exit;
                    true
                }
                Some(("idle", "wait")) => {
                    args.idle = IdlePolicy::Wait;
                    true
                }
                Some(("cpus", count)) => match count.parse::<usize>() {
                    Ok(count) if count >= 1 => {
                        args.cpus = count;
                        true
                    }
                    _ => false,
                },
                _ => false,
            };
            if !understood && args.first_unknown.is_none() {
                args.first_unknown = Some(word);
            }
        }
        args
    }
}

/// Splits a multiboot module command line into its file name (the last path
/// component of the first word) and the arguments after it.
pub fn split_module_cmdline(line: &str) -> (&str, &str) {
    let line = line.trim();
    let (path, rest) = match line.find(|c: char| c.is_ascii_whitespace()) {
        Some(at) => (&line[..at], line[at..].trim_start()),
        None => (line, ""),
    };
    let name = path.rsplit('/').next().unwrap_or(path);
    (name, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_words() {
        let a = KernelArgs::parse("/boot/kernel.elf loglevel=debug idle=exit", LogLevel::Info);
        assert_eq!(a.log_level, LogLevel::Debug);
        assert_eq!(a.idle, IdlePolicy::Exit);
        assert_eq!(a.first_unknown, None);
    }

    #[test]
    fn unknown_and_bad_words_are_reported() {
        let a = KernelArgs::parse("kernel.elf loglevel=loud  foo ", LogLevel::Warn);
        assert_eq!(a.log_level, LogLevel::Warn);
        assert_eq!(a.first_unknown, Some("loglevel=loud"));
        assert_eq!(KernelArgs::parse("", LogLevel::Info).idle, IdlePolicy::Wait);
        assert_eq!(KernelArgs::parse("", LogLevel::Info).cpus, usize::MAX);
        assert_eq!(KernelArgs::parse("k cpus=2", LogLevel::Info).cpus, 2);
        let zero = KernelArgs::parse("k cpus=0", LogLevel::Info);
        assert_eq!(
            (zero.cpus, zero.first_unknown),
            (usize::MAX, Some("cpus=0"))
        );
    }

    #[test]
    fn module_cmdline_split() {
        assert_eq!(
            split_module_cmdline("root-task.elf test=boot x"),
            ("root-task.elf", "test=boot x")
        );
        assert_eq!(split_module_cmdline("/a/b/system.bin"), ("system.bin", ""));
        assert_eq!(split_module_cmdline(""), ("", ""));
    }
}
