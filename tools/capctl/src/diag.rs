//! Diagnostics: errors and lints that point at a place in the file.
//!
//! Every message names its code (`error[dangling-ref]`), its position as
//! `file:line:col`, shows the source line with the offending text
//! underlined, and ends with help (valid choices, "did you mean", the fix).
//! The rendering is plain text and deterministic, so golden tests can pin it.

use std::fmt::Write as _;
use std::ops::Range;

/// A source file and a map from byte offsets to lines.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: String,
    pub text: String,
    line_starts: Vec<usize>,
    /// Where the file stopped being UTF-8: the offset in `text` of the
    /// first invalid byte (shown there as U+FFFD) and its value.
    invalid_utf8: Option<(usize, u8)>,
}

impl Source {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Source {
        let text = text.into();
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        Source {
            path: path.into(),
            text,
            line_starts,
            invalid_utf8: None,
        }
    }

    /// A file's bytes. A file that is not UTF-8 still becomes a source (its
    /// invalid bytes shown as U+FFFD) that remembers where the first one
    /// was, so the checker can point at it ([`Source::encoding_error`]).
    pub fn from_bytes(path: impl Into<String>, bytes: &[u8]) -> Source {
        match std::str::from_utf8(bytes) {
            Ok(text) => Source::new(path, text),
            Err(error) => {
                let valid = error.valid_up_to();
                let byte = bytes[valid];
                let mut source = Source::new(path, String::from_utf8_lossy(bytes).into_owned());
                // The lossy text equals the bytes up to the first invalid one.
                source.invalid_utf8 = Some((valid, byte));
                source
            }
        }
    }

    /// The error for a file that is not UTF-8, pointing at the first byte
    /// that is not, or `None` for a UTF-8 file.
    pub fn encoding_error(&self) -> Option<Diagnostic> {
        let (offset, byte) = self.invalid_utf8?;
        let width = self.text[offset..].chars().next().map_or(1, char::len_utf8);
        Some(
            Diagnostic::error(
                "syntax",
                Some(offset..offset + width),
                format!("the file is not UTF-8: byte {byte:#04x} here starts no character"),
            )
            .with_help("system descriptions are UTF-8 text (TOML): save the file as UTF-8"),
        )
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start);
        (line + 1, col + 1)
    }

    /// The text of a 1-based line, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self
            .line_starts
            .get(line - 1)
            .copied()
            .unwrap_or(self.text.len());
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }

    /// `path:line:col` of an offset.
    pub fn location(&self, offset: usize) -> String {
        let (line, col) = self.line_col(offset);
        format!("{}:{}:{}", self.path, line, col)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One message about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable short name ("dangling-ref", "shared-writable").
    pub code: &'static str,
    pub message: String,
    /// Where it is; `None` for whole-file messages.
    pub span: Option<Range<usize>>,
    /// Other places that matter ("first granted here").
    pub related: Vec<(Range<usize>, String)>,
    /// Help lines: choices, suggestions, the reason, the fix.
    pub help: Vec<String>,
}

impl Diagnostic {
    pub fn error(
        code: &'static str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            related: vec![],
            help: vec![],
        }
    }

    pub fn warning(
        code: &'static str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            code,
            message: message.into(),
            span,
            related: vec![],
            help: vec![],
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help.push(help.into());
        self
    }

    pub fn with_related(mut self, span: Range<usize>, note: impl Into<String>) -> Diagnostic {
        self.related.push((span, note.into()));
        self
    }

    /// Renders the message with its source lines.
    pub fn render(&self, src: &Source) -> String {
        let mut out = String::new();
        let word = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{word}[{}]: {}", self.code, self.message);
        match &self.span {
            Some(span) => snippet(&mut out, src, span, ""),
            None => {
                let _ = writeln!(out, "  --> {}", src.path);
            }
        }
        for (span, note) in &self.related {
            let _ = writeln!(out, "note: {note}");
            snippet(&mut out, src, span, "");
        }
        for help in &self.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }
}

/// Writes `--> file:line:col`, the line, and a caret underline.
fn snippet(out: &mut String, src: &Source, span: &Range<usize>, label: &str) {
    let (line, col) = src.line_col(span.start);
    let text = src.line_text(line);
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    let _ = writeln!(out, "{pad}--> {}:{}:{}", src.path, line, col);
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{number} | {text}");
    // Underline to the end of the span or of the line, whichever is first.
    let line_chars = text.chars().count();
    let span_chars = src
        .text
        .get(span.clone())
        .map(|s| s.chars().count())
        .unwrap_or(1);
    let width = span_chars.min(line_chars.saturating_sub(col - 1)).max(1);
    let _ = writeln!(
        out,
        "{pad} | {}{} {label}",
        " ".repeat(col - 1),
        "^".repeat(width)
    );
    // Trim the trailing space left when there is no label.
    if label.is_empty() {
        out.pop();
        out.pop();
        out.push('\n');
    }
}

/// The best "did you mean" among `choices` for a misspelt `word`, if any is
/// close enough to be a plausible typo.
pub fn did_you_mean<'a>(word: &str, choices: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for choice in choices {
        let score = strsim::jaro_winkler(word, choice);
        if score > 0.8 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, choice));
        }
    }
    best.map(|(_, c)| c)
}

/// "`a`, `b` or `c`".
pub fn list_choices<S: AsRef<str>>(choices: &[S]) -> String {
    let quoted: Vec<String> = choices
        .iter()
        .map(|c| format!("`{}`", c.as_ref()))
        .collect();
    match quoted.len() {
        0 => "(none)".to_string(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

/// Renders all diagnostics, errors first, in file order within each
/// severity, and a summary line.
pub fn render_all(diags: &[Diagnostic], src: &Source) -> String {
    let mut sorted: Vec<&Diagnostic> = diags.iter().collect();
    sorted.sort_by_key(|d| (d.severity, d.span.as_ref().map(|s| s.start).unwrap_or(0)));
    let mut out = String::new();
    for d in &sorted {
        out.push_str(&d.render(src));
        out.push('\n');
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    if errors + warnings > 0 {
        let _ = writeln!(
            out,
            "{}: {} error(s), {} warning(s)",
            src.path, errors, warnings
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let src = Source::new("f.toml", "a = 1\nbé = 2\n");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(6), (2, 1));
        assert_eq!(src.line_col(10), (2, 4));
        assert_eq!(src.line_text(2), "bé = 2");
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("prority", ["priority", "program"]),
            Some("priority")
        );
        assert_eq!(did_you_mean("zzz", ["priority", "program"]), None);
        assert_eq!(list_choices(&["a", "b", "c"]), "`a`, `b` or `c`");
    }

    #[test]
    fn renders_with_caret() {
        let src = Source::new("s.toml", "x = 1\nname = \"oops\"\n");
        let d = Diagnostic::error("test", Some(13..19), "bad name").with_help("try `ok`");
        assert_eq!(
            d.render(&src),
            "error[test]: bad name\n --> s.toml:2:8\n  |\n2 | name = \"oops\"\n  |        ^^^^^^\n  = help: try `ok`\n"
        );
    }
}
