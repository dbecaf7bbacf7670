//! The one error type of muster, its exit codes, and how an error is shown to a person.
//!
//! Every failure carries its context (the file and position it came from, the host, the
//! command) and a cause chain. The mapping from error to exit code lives here and nowhere
//! else, so the contract of DESIGN.md ("Exit codes") is kept in one place.

use std::fmt;
use std::path::{Path, PathBuf};

/// Exit codes of the command-line contract.
pub mod exit {
    /// Everything ran; no drift; nothing failed at or above `--fail-on`.
    pub const OK: i32 = 0;
    /// Usage or input error found before anything ran.
    pub const INPUT: i32 = 1;
    /// Drift or non-compliance found.
    pub const DRIFT: i32 = 2;
    /// Some host was unreachable or a task/check errored (takes precedence over 2).
    pub const INCOMPLETE: i32 = 3;
    /// Interrupted (Ctrl-C).
    pub const INTERRUPTED: i32 = 130;
}

/// A position in a user's file: 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, line: usize, col: usize) -> Self {
        Location {
            file: file.into(),
            line,
            col,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// Everything that can go wrong in muster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A user's file (inventory, playbook, policy, known_hosts, ssh config...) is wrong.
    #[error("{msg}")]
    Input {
        loc: Option<Location>,
        msg: String,
        help: Option<String>,
    },
    /// A bad flag or flag value.
    #[error("{0}")]
    Usage(String),
    /// A subcommand of the contract that this build does not do yet.
    #[error("`muster {0}` is not implemented yet in this version")]
    NotImplemented(&'static str),
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Something went wrong on (or on the way to) one host.
    #[error("{host}: {msg}")]
    Host {
        host: String,
        kind: HostErrorKind,
        msg: String,
    },
    /// The run was interrupted.
    #[error("interrupted")]
    Interrupted,
}

/// What kind of trouble a host is in; decides how it is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostErrorKind {
    /// Could not connect, authenticate, or the connection dropped.
    Unreachable,
    /// The host key was not the one known_hosts holds (or unknown under strict checking).
    HostKey,
    /// A command timed out.
    Timeout,
    /// A command or transfer failed on a live connection.
    Failed,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An input error at a position, with a message.
    pub fn at(loc: Location, msg: impl Into<String>) -> Self {
        Error::Input {
            loc: Some(loc),
            msg: msg.into(),
            help: None,
        }
    }

    /// An input error without a position.
    pub fn input(msg: impl Into<String>) -> Self {
        Error::Input {
            loc: None,
            msg: msg.into(),
            help: None,
        }
    }

    /// Adds "what to do" to an input error; other kinds are returned unchanged.
    pub fn with_help(self, text: impl Into<String>) -> Self {
        match self {
            Error::Input { loc, msg, .. } => Error::Input {
                loc,
                msg,
                help: Some(text.into()),
            },
            other => other,
        }
    }

    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn host(host: impl Into<String>, kind: HostErrorKind, msg: impl Into<String>) -> Self {
        Error::Host {
            host: host.into(),
            kind,
            msg: msg.into(),
        }
    }

    /// The one mapping from error to exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. } | Error::Usage(_) | Error::NotImplemented(_) | Error::Io { .. } => {
                exit::INPUT
            }
            Error::Host { .. } => exit::INCOMPLETE,
            Error::Interrupted => exit::INTERRUPTED,
        }
    }

    /// Renders the error for a person: the message, `--> file:line:col`, the offending line
    /// with a caret under the column, what to do, and the cause chain.
    pub fn render(&self) -> String {
        let mut out = match self {
            Error::Input {
                loc: Some(loc),
                msg,
                ..
            } => render_snippet(loc, msg),
            _ => format!("error: {self}"),
        };
        if let Error::Input {
            help: Some(help), ..
        } = self
        {
            out.push_str(&format!("\n  = help: {help}"));
        }
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            // (an I/O error's message already ends with its cause)
            let text = cause.to_string();
            if !out.ends_with(&text) {
                out.push_str(&format!("\n  caused by: {text}"));
            }
            source = cause.source();
        }
        out
    }
}

/// Reads a user's text file. A file that is not UTF-8 is an input error at its first bad byte
/// (UTF-16, which some Windows editors write, is named as such).
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    text_of(bytes, path)
}

/// `bytes` read from `path` as UTF-8 text, or an input error at the first byte that is not.
pub fn text_of(bytes: Vec<u8>, path: &Path) -> Result<String> {
    let e = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(e) => e,
    };
    let bytes = e.as_bytes();
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(Error::at(
            Location::new(path, 1, 1),
            "this file is UTF-16 text; muster reads UTF-8",
        )
        .with_help("save the file as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8 FILE > NEW`)"));
    }
    let at = e.utf8_error().valid_up_to();
    // Everything before `at` is valid UTF-8.
    let before = String::from_utf8_lossy(&bytes[..at]);
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    Err(Error::at(
        Location::new(path, line, col),
        format!(
            "this file is not UTF-8 text: byte 0x{:02X} at line {line}, column {col} is not valid UTF-8",
            bytes[at]
        ),
    )
    .with_help(
        "save the file as UTF-8 (e.g. `iconv -f LATIN1 -t UTF-8 FILE > NEW`); a binary file cannot be used here",
    ))
}

/// The message, `--> file:line:col` and, when the file can be read, the line with a caret.
fn render_snippet(loc: &Location, msg: &str) -> String {
    use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
    let plain = format!("error: {msg}\n  --> {loc}");
    let Ok(text) = std::fs::read_to_string(&loc.file) else {
        return plain;
    };
    let Some(line_text) = text.lines().nth(loc.line.saturating_sub(1)) else {
        return plain;
    };
    // The caret sits under the column, or under the last character when the column is past it.
    let col0 = loc.col.saturating_sub(1);
    let mut start = line_text
        .char_indices()
        .nth(col0)
        .map(|(i, _)| i)
        .unwrap_or(line_text.len());
    if start == line_text.len() && start > 0 {
        start = line_text.char_indices().last().map(|(i, _)| i).unwrap_or(0);
    }
    let end = line_text[start..]
        .chars()
        .next()
        .map(|c| start + c.len_utf8())
        .unwrap_or(start);
    let path = loc.file.display().to_string();
    let report = &[Level::ERROR.primary_title(msg).element(
        Snippet::source(line_text)
            .line_start(loc.line)
            .path(path)
            .annotation(AnnotationKind::Primary.span(start..end)),
    )];
    let rendered = Renderer::plain().render(report).to_string();
    // annotate-snippets prints `file:line:col` from the span; make sure the column is ours
    // even when the line had to be clipped.
    if rendered.contains(&loc.to_string()) {
        rendered
    } else {
        format!("{rendered}\n  --> {loc}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_column() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("inv.yml");
        std::fs::write(&f, "all:\n  hosts:\n    web[01:x].example.com:\n").unwrap();
        let e = Error::at(Location::new(&f, 3, 5), "bad host range `web[01:x]`")
            .with_help("ranges look like [01:20] or [a:f]");
        let r = e.render();
        assert!(r.contains("error: bad host range"), "{r}");
        assert!(r.contains(&format!("--> {}:3:5", f.display())), "{r}");
        assert!(r.contains("web[01:x].example.com"), "{r}");
        assert!(r.contains('^'), "{r}");
        assert!(r.contains("help: ranges look like"), "{r}");
        assert_eq!(e.exit_code(), exit::INPUT);
    }

    #[test]
    fn host_errors_are_incomplete() {
        let e = Error::host("web1", HostErrorKind::Unreachable, "connection refused");
        assert_eq!(e.exit_code(), exit::INCOMPLETE);
        assert_eq!(e.to_string(), "web1: connection refused");
    }
}
