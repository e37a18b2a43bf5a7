//! Raw INI pass for `rctdb.conf`: text in, a list of section headers and
//! `key = value` entries out, each with the line it started on.
//!
//! Syntax (Samba's "tini", as CTDB's `ctdb.conf`):
//! - `[section]` headers; the name is kept as written (whitespace runs
//!   collapsed) and matched case-insensitively by the caller;
//! - `key = value`; whitespace around `=` is trimmed and whitespace runs in
//!   keys and values collapse to one space;
//! - lines whose first non-blank character is `#` or `;` are comments, and
//!   blank lines are skipped;
//! - a non-comment line ending in `\` continues on the next line: the `\`
//!   is dropped and the next line appended as it is (`a\` + `b` is `ab`,
//!   `a \` + `b` is `a b`); errors name the first line.
//!
//! Stricter than CTDB: a line that is none of the above (CTDB silently
//! ignores lines without `=`) is an error here, because a silently ignored
//! typo in a cluster's configuration is worse than a refused start.

use crate::error::ConfigError;
use std::path::Path;

/// One meaningful line of an INI file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawKind {
    /// `[name]`, whitespace collapsed, case as written.
    Section(String),
    /// `key = value`, whitespace collapsed; the value may be empty.
    Entry { key: String, value: String },
}

/// A meaningful line and the 1-based line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawLine {
    pub line: usize,
    pub kind: RawKind,
}

/// Collapse runs of whitespace to one space and trim both ends.
pub(crate) fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_comment(line: &str) -> bool {
    matches!(line.trim_start().as_bytes().first(), Some(b'#' | b';'))
}

/// Join continuation lines. Yields `(first line number, logical line)`.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (idx, phys) in text.lines().enumerate() {
        let lineno = idx + 1;
        let (start, mut acc) = match pending.take() {
            Some(p) => p,
            None if is_comment(phys) => continue,
            None => (lineno, String::new()),
        };
        let trimmed = phys.trim_end();
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                acc.push_str(head);
                pending = Some((start, acc));
            }
            None => {
                acc.push_str(phys);
                out.push((start, acc));
            }
        }
    }
    if let Some(p) = pending {
        out.push(p);
    }
    out
}

/// Split `text` into sections and entries. Syntax errors are collected, and
/// the lines around them are still returned.
pub(crate) fn parse(text: &str, file: &Path) -> (Vec<RawLine>, Vec<ConfigError>) {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for (line, logical) in logical_lines(text) {
        let t = logical.trim();
        if t.is_empty() || is_comment(t) {
            continue;
        }
        if let Some(rest) = t.strip_prefix('[') {
            match rest.strip_suffix(']') {
                Some(inner) if !collapse_ws(inner).is_empty() => {
                    lines.push(RawLine { line, kind: RawKind::Section(collapse_ws(inner)) });
                }
                Some(_) => errors.push(ConfigError::line_err(file, line, "empty section name \"[]\"")),
                None => errors.push(ConfigError::line_err(
                    file,
                    line,
                    format!("invalid section header \"{t}\": missing \"]\""),
                )),
            }
            continue;
        }
        match t.split_once('=') {
            Some((k, v)) => {
                let key = collapse_ws(k);
                if key.is_empty() {
                    errors.push(ConfigError::line_err(file, line, format!("missing option name in \"{t}\"")));
                } else {
                    lines.push(RawLine { line, kind: RawKind::Entry { key, value: collapse_ws(v) } });
                }
            }
            None => errors.push(ConfigError::line_err(
                file,
                line,
                format!("expected \"[section]\", \"key = value\" or a comment, found \"{t}\""),
            )),
        }
    }
    (lines, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(line: usize, key: &str, value: &str) -> RawLine {
        RawLine { line, kind: RawKind::Entry { key: key.into(), value: value.into() } }
    }

    #[test]
    fn sections_entries_comments() {
        let text = "# c\n; c\n  [ Cluster  Name ]\n\n  leader   timeout =  5 \nk=v\n";
        let (lines, errs) = parse(text, Path::new("f"));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            lines,
            vec![
                RawLine { line: 3, kind: RawKind::Section("Cluster Name".into()) },
                entry(5, "leader timeout", "5"),
                entry(6, "k", "v"),
            ]
        );
    }

    #[test]
    fn continuation() {
        let text = "a = one \\\n  two\\\nthree\nb = x\n# c \\\nc = y\nd = end\\";
        let (lines, errs) = parse(text, Path::new("f"));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            lines,
            vec![entry(1, "a", "one twothree"), entry(4, "b", "x"), entry(6, "c", "y"), entry(7, "d", "end")]
        );
    }

    #[test]
    fn errors_keep_going() {
        let (lines, errs) = parse("[\nnonsense\n= v\n[]\nk = v\n[x", Path::new("f"));
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            vec![
                "f:1: invalid section header \"[\": missing \"]\"",
                "f:2: expected \"[section]\", \"key = value\" or a comment, found \"nonsense\"",
                "f:3: missing option name in \"= v\"",
                "f:4: empty section name \"[]\"",
                "f:6: invalid section header \"[x\": missing \"]\"",
            ]
        );
        assert_eq!(lines, vec![entry(5, "k", "v")]);
    }

    #[test]
    fn empty_value_is_kept_for_caller() {
        let (lines, errs) = parse("k =\n", Path::new("f"));
        assert!(errs.is_empty());
        assert_eq!(lines, vec![entry(1, "k", "")]);
    }
}
