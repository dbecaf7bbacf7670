//! Reports of playbook runs (`apply`, `check`), built from the engine's events like every
//! other output (`remediate` prints its remediation run as text and writes the audit after
//! it in the audit formats):
//!
//! | format     | what it is                                                              |
//! |------------|-------------------------------------------------------------------------|
//! | `text`     | Ansible-style banners, a line per host, diffs (`--diff`), the recap     |
//! | `json`     | JSON Lines: one event per line (documented in README)                   |
//! | `junit`    | a testsuite per host, a testcase per task result; in check mode a task  |
//! |            | that would change is a `<failure type="drift">` carrying its diff       |
//! | `markdown` | a pull/merge-request comment: recap table, drifted or failed tasks per  |
//! |            | host in collapsible details with their diffs                            |
//! | `html`     | one self-contained page: hosts × tasks matrix, filters, diffs (run_html)|
//! | `sarif`    | a rule per task at its line; drift, failures, changes as results        |
//! | `nagios`   | one check line; drift (check) or failure (apply) CRITICAL, unreachable  |
//! |            | UNKNOWN; with `--format nagios` the exit code too (run_formats)         |
//! | `prometheus` | textfile series per host, outcome and task (run_formats)              |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::Value;

use super::markdown::escape_html;
use super::FormatError;
use crate::engine::report::{render_change, Event, JsonLines, Reporter, Stats, Status, Text};
use crate::modules::Change;

/// A format a playbook run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunFormat {
    Text,
    Json,
    Junit,
    Markdown,
    Html,
    Sarif,
    Nagios,
    Prometheus,
}

impl RunFormat {
    /// Every report format has a run form.
    pub fn parse(s: &str) -> Result<RunFormat, FormatError> {
        Ok(match super::Format::parse(s)? {
            super::Format::Text => RunFormat::Text,
            super::Format::Json => RunFormat::Json,
            super::Format::Junit => RunFormat::Junit,
            super::Format::Markdown => RunFormat::Markdown,
            super::Format::Html => RunFormat::Html,
            super::Format::Sarif => RunFormat::Sarif,
            super::Format::Nagios => RunFormat::Nagios,
            super::Format::Prometheus => RunFormat::Prometheus,
        })
    }
}

/// Parses `-o FORMAT=PATH` arguments with `parse` for the format part.
pub fn parse_outputs<F>(
    outputs: &[String],
    parse: impl Fn(&str) -> Result<F, FormatError>,
) -> crate::error::Result<Vec<(F, PathBuf)>> {
    use crate::error::Error;
    let mut v = Vec::new();
    for o in outputs {
        let (f, path) = o.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "-o {o}: expected FORMAT=PATH, e.g. json=report.json or junit=report.xml"
            ))
        })?;
        if path.is_empty() {
            return Err(Error::Usage(format!("-o {o}: the path is empty")));
        }
        let f = parse(f).map_err(|e| Error::Usage(format!("-o {o}: {e}")))?;
        v.push((f, PathBuf::from(path)));
    }
    Ok(v)
}

/// One task's result on one host.
#[derive(Debug, Clone)]
pub struct TaskResult {
    pub play: String,
    pub task: String,
    pub file: String,
    pub line: usize,
    pub status: Status,
    pub planned: bool,
    pub item: Option<Value>,
    pub changes: Vec<Change>,
    pub msg: Option<String>,
    pub ignored: bool,
}

#[derive(Debug, Default)]
pub(super) struct Collected {
    play: String,
    /// Where each task was defined, by name (the last TaskStart seen).
    tasks: BTreeMap<String, (String, usize)>,
    pub(super) hosts: BTreeMap<String, Vec<TaskResult>>,
    pub(super) recap: BTreeMap<String, Stats>,
    pub(super) warnings: Vec<String>,
}

/// What every whole-run format says about the run itself.
#[derive(Debug, Clone)]
pub(super) struct RunMeta {
    /// Check mode: a change is drift (`would change`).
    pub check: bool,
    /// `muster check` or `muster apply`.
    pub title: &'static str,
    /// When the run began (RFC 3339) and as Unix seconds.
    pub started: String,
    pub started_unix: f64,
    pub duration: std::time::Duration,
}

/// Keeps a run's results for the formats written at its end (JUnit, Markdown).
#[derive(Debug, Default)]
pub struct Collector {
    inner: Mutex<Collected>,
}

impl Reporter for Collector {
    fn event(&self, e: &Event) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::PlayStart { play, hosts } => {
                c.play = play.clone();
                for h in hosts {
                    c.hosts.entry(h.clone()).or_default();
                }
            }
            Event::TaskStart {
                task, file, line, ..
            } => {
                c.tasks.insert(task.clone(), (file.clone(), *line));
            }
            Event::HostResult {
                host,
                task,
                status,
                planned,
                item,
                changes,
                msg,
                ignored,
                ..
            } => {
                let (file, line) = c.tasks.get(task).cloned().unwrap_or_default();
                let play = c.play.clone();
                c.hosts.entry(host.clone()).or_default().push(TaskResult {
                    play,
                    task: task.clone(),
                    file,
                    line,
                    status: *status,
                    planned: *planned,
                    item: item.clone(),
                    changes: changes.clone(),
                    msg: msg.clone(),
                    ignored: *ignored,
                });
            }
            Event::Warning { msg } => c.warnings.push(msg.clone()),
            Event::Recap { hosts, .. } => c.recap = hosts.clone(),
        }
    }
}

/// Sends every event to each reporter in turn.
pub struct Fanout(pub Vec<Arc<dyn Reporter>>);

impl Reporter for Fanout {
    fn event(&self, e: &Event) {
        for r in &self.0 {
            r.event(e);
        }
    }
}

/// The reporters behind `--format` (standard output) and `-o FORMAT=PATH` of a run: streaming
/// formats write as events arrive; JUnit and Markdown are written by [`RunOutputs::finish`].
pub struct RunOutputs {
    pub reporter: Arc<dyn Reporter>,
    collector: Arc<Collector>,
    at_end: Vec<(RunFormat, Option<PathBuf>)>,
    stdout: Option<RunFormat>,
    check: bool,
    title: &'static str,
    started: String,
    started_unix: f64,
    clock: std::time::Instant,
}

/// How a run's text output looks.
#[derive(Debug, Clone, Copy)]
pub struct TextStyle {
    pub diff: bool,
    pub verbose: u8,
    pub quiet: bool,
    pub color: bool,
}

impl RunOutputs {
    /// `stdout`: the format on standard output (None: nothing on standard output, e.g. when
    /// `remediate` prints its audit report there); `files`: `-o` outputs.
    pub fn new(
        stdout: Option<RunFormat>,
        files: &[(RunFormat, PathBuf)],
        style: TextStyle,
        check: bool,
        title: &'static str,
    ) -> crate::error::Result<RunOutputs> {
        let collector = Arc::new(Collector::default());
        let mut reporters: Vec<Arc<dyn Reporter>> = vec![collector.clone()];
        let mut at_end = Vec::new();
        match stdout {
            Some(RunFormat::Text) => reporters.push(Arc::new(Text {
                out: Mutex::new(Box::new(std::io::stdout()) as Box<dyn Write + Send>),
                diff: style.diff,
                verbose: style.verbose,
                color: style.color,
            })),
            Some(RunFormat::Json) => reporters
                .push(Arc::new(JsonLines(Mutex::new(
                    Box::new(std::io::stdout()) as Box<dyn Write + Send>
                )))),
            Some(f) => at_end.push((f, None)),
            None => {}
        }
        for (f, path) in files {
            match f {
                RunFormat::Text | RunFormat::Json => {
                    let file = std::fs::File::create(path)
                        .map_err(|e| crate::error::Error::io(path, e))?;
                    let w: Box<dyn Write + Send> = Box::new(std::io::LineWriter::new(file));
                    reporters.push(if *f == RunFormat::Text {
                        Arc::new(Text {
                            out: Mutex::new(w),
                            // Files get the diffs: they are read later, not watched.
                            diff: true,
                            verbose: style.verbose,
                            color: false,
                        })
                    } else {
                        Arc::new(JsonLines(Mutex::new(w)))
                    });
                }
                _ => at_end.push((*f, Some(path.clone()))),
            }
        }
        let started_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        // A progress bar on a terminal, unless the terminal already shows the text log.
        use std::io::IsTerminal;
        let text_on_terminal = stdout == Some(RunFormat::Text) && std::io::stdout().is_terminal();
        if let Some(p) =
            crate::progress::RunProgress::new(style.quiet, style.verbose, text_on_terminal)
        {
            reporters.push(Arc::new(p));
        }
        Ok(RunOutputs {
            reporter: Arc::new(Fanout(reporters)),
            collector,
            at_end,
            stdout,
            check,
            title,
            started: crate::commands::audit::now_rfc3339(),
            started_unix,
            clock: std::time::Instant::now(),
        })
    }

    fn meta(&self) -> RunMeta {
        RunMeta {
            check: self.check,
            title: self.title,
            started: self.started.clone(),
            started_unix: self.started_unix,
            duration: self.clock.elapsed(),
        }
    }

    /// The exit code `--format nagios` on standard output asks for (the plugin convention),
    /// or `None` for every other format, which keeps the run's own exit code.
    pub fn nagios_exit_code(&self) -> Option<i32> {
        (self.stdout == Some(RunFormat::Nagios)).then(|| {
            let c = self
                .collector
                .inner
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            super::run_formats::nagios_code(&c, &self.meta())
        })
    }

    /// Writes the formats that need the whole run.
    pub fn finish(&self) -> crate::error::Result<()> {
        let c = self
            .collector
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let meta = self.meta();
        for (f, path) in &self.at_end {
            let text = match f {
                RunFormat::Junit => junit(&c, self.check, self.title),
                RunFormat::Markdown => markdown(&c, self.check, self.title),
                RunFormat::Html => super::run_html::render(&c, &meta),
                RunFormat::Sarif => super::run_formats::sarif(&c, &meta),
                RunFormat::Nagios => super::run_formats::nagios(&c, &meta),
                RunFormat::Prometheus => super::run_formats::prometheus(&c, &meta),
                RunFormat::Text | RunFormat::Json => continue,
            };
            match path {
                Some(p) => std::fs::write(p, text).map_err(|e| crate::error::Error::io(p, e))?,
                None => print!("{text}"),
            }
        }
        Ok(())
    }
}

pub(super) fn case_name(r: &TaskResult) -> String {
    let mut name = r.task.clone();
    if let Some(item) = &r.item {
        let s = match item {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        name.push_str(&format!(" (item={s})"));
    }
    name
}

pub(super) fn diffs(changes: &[Change]) -> String {
    changes.iter().map(|c| render_change(c, false)).collect()
}

fn junit(c: &Collected, check: bool, title: &str) -> String {
    let mut out = Report::new(title);
    for (host, results) in &c.hosts {
        let mut suite = TestSuite::new(host.as_str());
        for r in results {
            let status = match r.status {
                Status::Changed if check || r.planned => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(format!("would change: {}", change_summary(&r.changes)));
                    st.set_type("drift");
                    st.set_description(diffs(&r.changes));
                    st
                }
                Status::Failed if !r.ignored => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(r.msg.clone().unwrap_or_else(|| "failed".into()));
                    st.set_type("failed");
                    st
                }
                Status::Unreachable => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                    st.set_message(r.msg.clone().unwrap_or_else(|| "unreachable".into()));
                    st.set_type("unreachable");
                    st
                }
                Status::Skipped => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(r.msg.clone().unwrap_or_else(|| "skipped".into()));
                    st
                }
                _ => TestCaseStatus::success(),
            };
            let mut tc = TestCase::new(case_name(r), status);
            tc.set_classname(if r.play.is_empty() {
                "muster".to_string()
            } else {
                r.play.clone()
            });
            if !r.file.is_empty() {
                tc.extra
                    .insert("file".into(), format!("{}:{}", r.file, r.line).into());
            }
            match r.status {
                Status::Changed if !(check || r.planned) => {
                    tc.set_system_out(format!("changed\n{}", diffs(&r.changes)));
                }
                Status::Failed if r.ignored => {
                    tc.set_system_out(format!(
                        "failed (ignored): {}",
                        r.msg.as_deref().unwrap_or("")
                    ));
                }
                _ => {}
            }
            suite.add_test_case(tc);
        }
        out.add_test_suite(suite);
    }
    out.to_string().unwrap_or_default()
}

/// `content, mode` — the fields a change touches.
pub(super) fn change_summary(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "state".into();
    }
    let mut fields: Vec<String> = changes.iter().map(|c| c.field.to_string()).collect();
    fields.dedup();
    fields.join(", ")
}

fn markdown(c: &Collected, check: bool, title: &str) -> String {
    let mut out = String::new();
    let drifted: Vec<&String> = c
        .recap
        .iter()
        .filter(|(_, s)| s.changed > 0)
        .map(|(h, _)| h)
        .collect();
    let broken = c
        .recap
        .values()
        .filter(|s| s.failed > 0 || s.unreachable > 0)
        .count();
    let verb = if check { "would change" } else { "changed" };
    let _ = writeln!(
        out,
        "## {title}: {} of {} hosts {verb}{}\n",
        drifted.len(),
        c.recap.len(),
        if broken > 0 {
            format!(", {broken} failed or unreachable")
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "| Host | ok | changed | failed | unreachable | skipped |\n|:-----|---:|---:|---:|---:|---:|"
    );
    for (h, s) in &c.recap {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            super::markdown::escape_cell(h),
            s.ok,
            s.changed,
            s.failed,
            s.unreachable,
            s.skipped
        );
    }
    for (host, results) in &c.hosts {
        let notable: Vec<&TaskResult> = results
            .iter()
            .filter(|r| {
                r.status == Status::Changed
                    || r.status == Status::Unreachable
                    || (r.status == Status::Failed && !r.ignored)
            })
            .collect();
        if notable.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n<details><summary>{} — {} task{}</summary>\n",
            escape_html(host),
            notable.len(),
            if notable.len() == 1 { "" } else { "s" }
        );
        for r in notable {
            let what = match r.status {
                Status::Changed => verb,
                Status::Unreachable => "unreachable",
                _ => "failed",
            };
            let _ = writeln!(
                out,
                "- **{}** {what} ({}:{}){}",
                escape_html(&case_name(r)),
                escape_html(&r.file),
                r.line,
                r.msg
                    .as_deref()
                    .filter(|_| r.status != Status::Changed)
                    .map(|m| format!(": {}", escape_html(m)))
                    .unwrap_or_default()
            );
            let d = diffs(&r.changes);
            if !d.is_empty() {
                // A fence longer than any backtick run in the diff keeps it verbatim.
                let longest = d.split(|ch| ch != '`').map(str::len).max().unwrap_or(0);
                let fence = "`".repeat(longest.max(2) + 1);
                let _ = writeln!(out, "\n{fence}diff\n{}{fence}\n", d);
            }
        }
        let _ = writeln!(out, "</details>");
    }
    out
}
