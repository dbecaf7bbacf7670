//! The HTML report of a playbook run (`apply`, `check`): one self-contained page, in the same
//! style and with the same script as the audit page. First the run's headline (hosts that
//! changed, or would change in check mode; failed and unreachable hosts; task counts), then
//! status filters (changes, failures and unreachable hosts selected, so the page opens on what
//! needs a reader), a hosts × tasks matrix with a cell per task result (a loop's worst item),
//! and per host every result with its message and its diff, lines coloured. Clicking a cell
//! opens that result in a dialog; `?status=failed&host=web#r3` links into the page.
//!
//! Rendered by minijinja with HTML auto-escaping: nothing a host or a playbook says can inject
//! markup.

use serde::Serialize;
use serde_json::Value;

use super::run::{diffs, Collected, RunMeta, TaskResult};
use super::run_formats::{hosts_with, key, task_keys, worst_per_task, TaskKey};
use crate::engine::report::Status;

const TEMPLATE: &str = include_str!("run.html.j2");

#[derive(Serialize)]
struct Task {
    play: String,
    name: String,
    file: String,
    line: usize,
}

#[derive(Serialize)]
struct Cell {
    id: usize,
    ctl: usize,
    task: String,
    status: &'static str,
    label: &'static str,
    glyph: &'static str,
}

#[derive(Serialize)]
struct Line {
    class: &'static str,
    text: String,
}

#[derive(Serialize)]
struct Res {
    id: usize,
    ctl: usize,
    task: String,
    play: String,
    file: String,
    line: usize,
    item: Option<String>,
    status: &'static str,
    label: &'static str,
    msg: Option<String>,
    has_diff: bool,
    diff: Vec<Line>,
}

#[derive(Serialize)]
struct Host {
    name: String,
    unreachable: bool,
    recap: String,
    recap_long: String,
    statuses: String,
    cells: Vec<Option<Cell>>,
    results: Vec<Res>,
}

#[derive(Serialize)]
struct StatusCount {
    name: &'static str,
    label: &'static str,
    count: usize,
}

/// A result's class on the page, and how it is named in this mode.
fn status_of(r: &TaskResult, check: bool) -> (&'static str, &'static str) {
    match r.status {
        Status::Ok => ("ok", "ok"),
        Status::Changed if check || r.planned => ("changed", "would change"),
        Status::Changed => ("changed", "changed"),
        Status::Failed if r.ignored => ("ignored", "failed, ignored"),
        Status::Failed => ("failed", "failed"),
        Status::Unreachable => ("unreachable", "unreachable"),
        Status::Skipped => ("skipped", "skipped"),
    }
}

fn glyph(status: &str) -> &'static str {
    match status {
        "ok" => "✓",
        "changed" => "~",
        "failed" => "✗",
        "unreachable" => "U",
        "ignored" => "i",
        _ => "–",
    }
}

fn diff_lines(text: &str) -> Vec<Line> {
    text.lines()
        .map(|l| Line {
            class: if l.starts_with("+++") || l.starts_with("---") {
                "file"
            } else if l.starts_with('+') {
                "add"
            } else if l.starts_with('-') {
                "del"
            } else if l.starts_with("@@") {
                "hunk"
            } else {
                ""
            },
            text: l.to_string(),
        })
        .collect()
}

pub(super) fn render(c: &Collected, meta: &RunMeta) -> String {
    let verb = if meta.check {
        "would change"
    } else {
        "changed"
    };
    // Columns: every task with a result, in the order first seen.
    let keys: Vec<TaskKey> = task_keys(c);
    let tasks: Vec<Task> = keys
        .iter()
        .map(|(play, name, file, line)| Task {
            play: play.clone(),
            name: name.clone(),
            file: file.clone(),
            line: *line,
        })
        .collect();
    let mut counts: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut next = 0usize;
    let hosts: Vec<Host> = c
        .hosts
        .iter()
        .map(|(name, results)| {
            let mut results_out = Vec::new();
            let mut ids = Vec::new();
            let mut statuses = std::collections::BTreeSet::new();
            for r in results {
                let k = key(r);
                let ctl = keys.iter().position(|t| *t == k).unwrap_or(0);
                let (status, label) = status_of(r, meta.check);
                *counts.entry(status).or_default() += 1;
                statuses.insert(status);
                let d = diffs(&r.changes);
                let id = next;
                next += 1;
                ids.push(id);
                results_out.push(Res {
                    id,
                    ctl,
                    task: r.task.clone(),
                    play: r.play.clone(),
                    file: r.file.clone(),
                    line: r.line,
                    item: r.item.as_ref().map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }),
                    status,
                    label,
                    msg: r.msg.clone().filter(|m| !m.is_empty()),
                    has_diff: r.changes.iter().any(|ch| ch.diff.is_some()),
                    diff: diff_lines(&d),
                });
            }
            // A cell per task: its worst result, which the cell opens.
            let mut cells: Vec<Option<Cell>> = (0..keys.len()).map(|_| None).collect();
            for (k, w) in worst_per_task(results) {
                let ctl = keys.iter().position(|t| *t == k).unwrap_or(0);
                let at = results
                    .iter()
                    .position(|r| std::ptr::eq(r, w))
                    .unwrap_or(0);
                let (status, label) = status_of(w, meta.check);
                cells[ctl] = Some(Cell {
                    id: ids[at],
                    ctl,
                    task: w.task.clone(),
                    status,
                    label,
                    glyph: glyph(status),
                });
            }
            let s = c.recap.get(name).copied().unwrap_or_default();
            Host {
                name: name.clone(),
                unreachable: s.unreachable > 0,
                recap: format!("{} / {} / {} / {}", s.ok, s.changed, s.failed, s.skipped),
                recap_long: format!(
                    "ok {}, {verb} {}, failed {}, unreachable {}, skipped {}, rescued {}, ignored {}",
                    s.ok, s.changed, s.failed, s.unreachable, s.skipped, s.rescued, s.ignored
                ),
                statuses: statuses.into_iter().collect::<Vec<_>>().join(" "),
                cells,
                results: results_out,
            }
        })
        .collect();
    let statuses: Vec<StatusCount> = [
        ("changed", verb),
        ("failed", "failed"),
        ("unreachable", "unreachable"),
        ("ignored", "failed, ignored"),
        ("ok", "ok"),
        ("skipped", "skipped"),
    ]
    .into_iter()
    .map(|(name, label)| StatusCount {
        name,
        label,
        count: counts.get(name).copied().unwrap_or(0),
    })
    .collect();
    let changed_hosts = hosts_with(c, |s| s.changed);
    let failed_hosts = hosts_with(c, |s| s.failed);
    let unreachable_hosts = hosts_with(c, |s| s.unreachable);
    let mut plays: Vec<&str> = Vec::new();
    for t in &tasks {
        if !plays.contains(&t.play.as_str()) {
            plays.push(&t.play);
        }
    }
    let headline = format!("{changed_hosts} of {} hosts {verb}", c.recap.len());
    use minijinja::value::Serde;
    let ctx = minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        title => meta.title,
        check => meta.check,
        verb => verb,
        plays => if plays.is_empty() { "(no play)".to_string() } else { plays.join(", ") },
        headline => headline,
        headline_class => if failed_hosts + unreachable_hosts > 0 { "poor" } else if changed_hosts > 0 && meta.check { "fair" } else { "good" },
        started => meta.started.clone(),
        duration => super::html::duration_text(meta.duration.as_millis() as u64),
        changed_hosts => changed_hosts,
        failed_hosts => failed_hosts,
        unreachable_hosts => unreachable_hosts,
        statuses => minijinja::Value::from(Serde(&statuses)),
        tasks => minijinja::Value::from(Serde(&tasks)),
        hosts => minijinja::Value::from(Serde(&hosts)),
        warnings => c.warnings.clone(),
    };
    super::html::page("run.html", TEMPLATE, ctx)
}
