//! What a playbook run tells the world: typed events, and the reporters that render them
//! (Ansible-style text, or JSON Lines). Modules and the engine never print; they emit events.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use owo_colors::{AnsiColors, OwoColorize};
use serde::Serialize;
use serde_json::Value;

use crate::modules::{Change, Field};

/// How a task ended on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Skipped,
    Unreachable,
}

/// One thing that happened during a run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    PlayStart {
        play: String,
        hosts: Vec<String>,
    },
    TaskStart {
        task: String,
        file: String,
        line: usize,
        handler: bool,
    },
    HostResult {
        host: String,
        task: String,
        status: Status,
        /// Check mode: the change was planned, not made.
        planned: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<Value>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        changes: Vec<Change>,
        #[serde(skip_serializing_if = "Option::is_none")]
        msg: Option<String>,
        ignored: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
    },
    Warning {
        msg: String,
    },
    Recap {
        hosts: BTreeMap<String, Stats>,
        check: bool,
    },
}

impl Event {
    /// The event with every known secret (become and vault passwords, vault values) masked.
    pub fn redacted(mut self) -> Event {
        use crate::secrets::{redact_value_with, redact_with};
        // Read the registry once per event (not once per string), and skip the walk when the
        // run has no secret at all: this runs for every event of every host.
        let secrets = crate::secrets::secrets();
        if secrets.is_empty() {
            return self;
        }
        let mask = |s: &mut String| {
            if !s.is_empty() {
                *s = redact_with(s, &secrets);
            }
        };
        match &mut self {
            Event::HostResult {
                item,
                changes,
                msg,
                output,
                ..
            } => {
                for v in [item, output].into_iter().flatten() {
                    redact_value_with(v, &secrets);
                }
                if let Some(m) = msg {
                    mask(m);
                }
                for c in changes {
                    for s in [&mut c.before, &mut c.after].into_iter().flatten() {
                        mask(s);
                    }
                    if let Some(d) = &mut c.diff {
                        mask(&mut d.before);
                        mask(&mut d.after);
                        mask(&mut d.path);
                    }
                }
            }
            Event::Warning { msg } => mask(msg),
            _ => {}
        }
        self
    }
}

/// Per-host counts, as Ansible's recap shows them.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub ok: u64,
    pub changed: u64,
    pub unreachable: u64,
    pub failed: u64,
    pub skipped: u64,
    pub rescued: u64,
    pub ignored: u64,
}

/// Receives every event of a run.
pub trait Reporter: Send + Sync {
    fn event(&self, e: &Event);
}

impl<R: Reporter + ?Sized> Reporter for std::sync::Arc<R> {
    fn event(&self, e: &Event) {
        (**self).event(e)
    }
}

/// JSON Lines: one event per line on standard output.
pub struct JsonLines<W: Write + Send>(pub Mutex<W>);

impl<W: Write + Send> Reporter for JsonLines<W> {
    fn event(&self, e: &Event) {
        if let Ok(line) = serde_json::to_string(e) {
            let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(w, "{line}");
        }
    }
}

/// Ansible-like text: play and task banners, a line per host, diffs, and the recap.
pub struct Text<W: Write + Send> {
    pub out: Mutex<W>,
    pub diff: bool,
    pub verbose: u8,
    pub color: bool,
}

/// `s` in `color` when colours are on (`--color`, NO_COLOR and the terminal decide `on`).
pub(crate) fn paint(on: bool, color: AnsiColors, s: &str) -> String {
    if on {
        s.color(color).to_string()
    } else {
        s.to_string()
    }
}

fn banner(title: &str) -> String {
    let stars = 79usize.saturating_sub(title.len() + 1).max(3);
    format!("\n{title} {}", "*".repeat(stars))
}

/// A unified diff of a text change, or a one-line summary of another field.
pub fn render_change(c: &Change, color: bool) -> String {
    match &c.diff {
        Some(d) => {
            let diff = similar::TextDiff::from_lines(&d.before, &d.after);
            let mut out = format!("--- before: {}\n+++ after: {}\n", d.path, d.path);
            for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
                let text = hunk.to_string();
                for line in text.lines() {
                    let painted = if line.starts_with('+') {
                        paint(color, AnsiColors::Green, line)
                    } else if line.starts_with('-') {
                        paint(color, AnsiColors::Red, line)
                    } else if line.starts_with("@@") {
                        paint(color, AnsiColors::Cyan, line)
                    } else {
                        line.to_string()
                    };
                    out.push_str(&painted);
                    out.push('\n');
                }
            }
            if !d.after.is_empty() && !d.after.ends_with('\n') {
                out.push_str("\\ No newline at end of file\n");
            }
            out
        }
        None => {
            let before = c.before.as_deref().unwrap_or("(none)");
            let after = c.after.as_deref().unwrap_or("(none)");
            match c.field {
                Field::Command => format!("command: {after}\n"),
                _ => format!("{}: {before} → {after}\n", c.field),
            }
        }
    }
}

impl<W: Write + Send> Reporter for Text<W> {
    fn event(&self, e: &Event) {
        let mut w = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let c = self.color;
        let _ = match e {
            Event::PlayStart { play, .. } => writeln!(w, "{}", banner(&format!("PLAY [{play}]"))),
            Event::TaskStart { task, handler, .. } => {
                let kind = if *handler { "RUNNING HANDLER" } else { "TASK" };
                writeln!(w, "{}", banner(&format!("{kind} [{task}]")))
            }
            Event::HostResult {
                host,
                status,
                planned,
                item,
                changes,
                msg,
                ignored,
                output,
                ..
            } => {
                let item_txt = item
                    .as_ref()
                    .map(|i| {
                        let s = match i {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        format!(" => (item={s})")
                    })
                    .unwrap_or_default();
                let (word, code) = match status {
                    Status::Ok => ("ok", AnsiColors::Green),
                    Status::Changed if *planned => ("changed (check)", AnsiColors::Yellow),
                    Status::Changed => ("changed", AnsiColors::Yellow),
                    Status::Failed => ("fatal", AnsiColors::Red),
                    Status::Skipped => ("skipping", AnsiColors::Cyan),
                    Status::Unreachable => ("fatal", AnsiColors::Red),
                };
                let mut line = format!("{}: [{host}]{item_txt}", paint(c, code, word));
                if *status == Status::Unreachable {
                    line.push_str(&paint(c, AnsiColors::Red, " UNREACHABLE!"));
                }
                if let Some(m) = msg {
                    if matches!(
                        status,
                        Status::Failed | Status::Unreachable | Status::Skipped
                    ) || self.verbose > 0
                    {
                        line.push_str(&format!(" => {m}"));
                    }
                }
                if let Some(o) = output {
                    line.push_str(&format!(
                        " => {}",
                        serde_json::to_string_pretty(o).unwrap_or_default()
                    ));
                }
                if *ignored {
                    line.push_str(&paint(c, AnsiColors::Cyan, "\n...ignoring"));
                }
                let _ = writeln!(w, "{line}");
                if self.diff {
                    for ch in changes {
                        let _ = write!(w, "{}", render_change(ch, c));
                    }
                }
                Ok(())
            }
            Event::Warning { msg } => {
                writeln!(
                    w,
                    "{}",
                    paint(c, AnsiColors::Magenta, &format!("[WARNING]: {msg}"))
                )
            }
            Event::Recap { hosts, check } => {
                let title = if *check {
                    "PLAY RECAP (check mode: nothing was changed)"
                } else {
                    "PLAY RECAP"
                };
                let _ = writeln!(w, "{}", banner(title));
                let width = hosts.keys().map(|h| h.len()).max().unwrap_or(0);
                for (h, s) in hosts {
                    let _ = writeln!(
                        w,
                        "{h:width$} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={}",
                        s.ok, s.changed, s.unreachable, s.failed, s.skipped, s.rescued, s.ignored
                    );
                }
                Ok(())
            }
        };
    }
}
