//! The monitoring and code-scanning formats of playbook runs (`apply`, `check`): what a
//! Nagios/Sensu check, a Prometheus textfile collector and a code-scanning page read, built
//! from the same collected events as JUnit and Markdown.
//!
//! **nagios** — one line, `MUSTER <STATE> - <what> | <perfdata>`; the state (and, with
//! `--format nagios` on standard output, the exit code 0/1/2/3):
//! - UNKNOWN (3) when a host was unreachable, or (check) a task failed: what those hosts would
//!   change is not known;
//! - CRITICAL (2) when (check) a host would change — drift — or (apply) a task failed;
//! - OK (0) otherwise (an apply that changed things and failed nothing is OK).
//!
//! Perfdata: `hosts changed_hosts failed_hosts unreachable_hosts` and the recap's task counts
//! `ok changed failed skipped rescued ignored`, then `duration` in seconds.
//!
//! **prometheus** — the node-exporter textfile format, every series labelled `mode="check"` or
//! `"apply"`: `muster_run_tasks{host,mode,outcome}` (the recap), `muster_run_host_changed`,
//! `muster_run_host_failed`, `muster_run_host_reachable` (0/1), `muster_run_task_status{host,
//! mode,play,task}` coded 0 ok, 1 changed (would change in check mode), 2 failed, 3
//! unreachable, -1 skipped (the worst over a loop's items; an ignored failure is 0), and
//! `muster_run_timestamp_seconds`, `muster_run_duration_seconds`.
//!
//! **sarif** — SARIF 2.1.0: a rule per task (its name; `NAME@FILE:LINE` when two tasks share
//! a name), located at the task's line in its playbook or role file; a result per host and
//! task that needs a reader: drift in check mode and failures are `error`, a host unreachable
//! is `error`, a change made by apply is a `note`. The diff travels in `properties.diff`;
//! `partialFingerprints["muster/host-task"]` keeps one alert per host, task and item.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};
use serde_sarif::sarif::{
    Message, MultiformatMessageString, PropertyBag, ReportingDescriptor, Result as SarifResult,
    ResultLevel,
};

use super::nagios::{state_name, CRITICAL, OK, UNKNOWN};
use super::prometheus::{escape_label, header};
use super::run::{case_name, diffs, Collected, RunMeta, TaskResult};
use crate::engine::report::{Stats, Status};

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The hosts whose recap has `pick` above zero.
pub(super) fn hosts_with(c: &Collected, pick: impl Fn(&Stats) -> u64) -> usize {
    c.recap.values().filter(|s| pick(s) > 0).count()
}

/// The Nagios state of a run (also the plugin exit code).
pub(super) fn nagios_code(c: &Collected, meta: &RunMeta) -> i32 {
    let unreachable = hosts_with(c, |s| s.unreachable);
    let failed = hosts_with(c, |s| s.failed);
    let changed = hosts_with(c, |s| s.changed);
    if unreachable > 0 || (meta.check && failed > 0) {
        UNKNOWN
    } else if failed > 0 || (meta.check && changed > 0) {
        CRITICAL
    } else {
        OK
    }
}

pub(super) fn nagios(c: &Collected, meta: &RunMeta) -> String {
    let code = nagios_code(c, meta);
    let hosts = c.recap.len();
    let changed = hosts_with(c, |s| s.changed);
    let failed = hosts_with(c, |s| s.failed);
    let unreachable = hosts_with(c, |s| s.unreachable);
    let total = |pick: fn(&Stats) -> u64| c.recap.values().map(pick).sum::<u64>();
    let tasks_changed = total(|s| s.changed) as usize;
    let in_sync = c
        .recap
        .values()
        .filter(|s| s.changed == 0 && s.failed == 0 && s.unreachable == 0)
        .count();
    let mut what = if meta.check {
        if changed == 0 && in_sync == hosts {
            format!("{} in sync", plural(hosts, "host", "hosts"))
        } else if changed == 0 {
            format!("{in_sync} of {} in sync", plural(hosts, "host", "hosts"))
        } else {
            format!(
                "{changed} of {} would change ({})",
                plural(hosts, "host", "hosts"),
                plural(tasks_changed, "task", "tasks")
            )
        }
    } else {
        format!(
            "{}, {changed} changed ({})",
            plural(hosts, "host", "hosts"),
            plural(tasks_changed, "task", "tasks")
        )
    };
    if failed > 0 {
        let _ = write!(what, ", {failed} failed");
    }
    if unreachable > 0 {
        let _ = write!(what, ", {unreachable} unreachable");
    }
    format!(
        "MUSTER {} - {what} | hosts={hosts} changed_hosts={changed} failed_hosts={failed} \
         unreachable_hosts={unreachable} ok={} changed={} failed={} skipped={} rescued={} \
         ignored={} duration={:.3}s\n",
        state_name(code),
        total(|s| s.ok),
        total(|s| s.changed),
        total(|s| s.failed),
        total(|s| s.skipped),
        total(|s| s.rescued),
        total(|s| s.ignored),
        meta.duration.as_secs_f64()
    )
}

/// How bad a result is, for the worst over a loop's items.
fn rank(r: &TaskResult) -> u8 {
    match r.status {
        Status::Unreachable => 4,
        Status::Failed if !r.ignored => 3,
        Status::Changed => 2,
        Status::Ok | Status::Failed => 1,
        Status::Skipped => 0,
    }
}

fn status_code(r: &TaskResult) -> i32 {
    match rank(r) {
        4 => 3,
        3 => 2,
        2 => 1,
        1 => 0,
        _ => -1,
    }
}

/// A task as the formats name it: play, task name, file and line.
pub(super) type TaskKey = (String, String, String, usize);

pub(super) fn key(r: &TaskResult) -> TaskKey {
    (r.play.clone(), r.task.clone(), r.file.clone(), r.line)
}

/// Every task with a result on some host, in the order first seen.
pub(super) fn task_keys(c: &Collected) -> Vec<TaskKey> {
    let mut tasks: Vec<TaskKey> = Vec::new();
    for r in c.hosts.values().flatten() {
        let k = key(r);
        if !tasks.contains(&k) {
            tasks.push(k);
        }
    }
    tasks
}

/// Per host, each task's worst result (over its items), in the order the tasks ran.
pub(super) fn worst_per_task(results: &[TaskResult]) -> Vec<(TaskKey, &TaskResult)> {
    let mut out: Vec<(TaskKey, &TaskResult)> = Vec::new();
    for r in results {
        let k = key(r);
        match out.iter_mut().find(|(ok, _)| *ok == k) {
            Some((_, w)) => {
                if rank(r) > rank(w) {
                    *w = r;
                }
            }
            None => out.push((k, r)),
        }
    }
    out
}

pub(super) fn prometheus(c: &Collected, meta: &RunMeta) -> String {
    let mode = if meta.check { "check" } else { "apply" };
    let mut out = String::new();
    header(
        &mut out,
        "muster_run_tasks",
        "Task results of the last muster run per host and outcome (the recap).",
    );
    for (h, s) in &c.recap {
        for (outcome, n) in [
            ("ok", s.ok),
            ("changed", s.changed),
            ("failed", s.failed),
            ("unreachable", s.unreachable),
            ("skipped", s.skipped),
            ("rescued", s.rescued),
            ("ignored", s.ignored),
        ] {
            let _ = writeln!(
                out,
                "muster_run_tasks{{host=\"{}\",mode=\"{mode}\",outcome=\"{outcome}\"}} {n}",
                escape_label(h)
            );
        }
    }
    for (name, help, pick) in [
        (
            "muster_run_host_changed",
            "1 when the host changed (apply) or would change (check) in the last muster run.",
            (|s: &Stats| u8::from(s.changed > 0)) as fn(&Stats) -> u8,
        ),
        (
            "muster_run_host_failed",
            "1 when a task failed on the host in the last muster run.",
            |s: &Stats| u8::from(s.failed > 0),
        ),
        (
            "muster_run_host_reachable",
            "0 when the host could not be reached in the last muster run.",
            |s: &Stats| u8::from(s.unreachable == 0),
        ),
    ] {
        header(&mut out, name, help);
        for (h, s) in &c.recap {
            let _ = writeln!(
                out,
                "{name}{{host=\"{}\",mode=\"{mode}\"}} {}",
                escape_label(h),
                pick(s)
            );
        }
    }
    header(
        &mut out,
        "muster_run_task_status",
        "Outcome of each task on each host in the last muster run: 0 ok, 1 changed (would \
         change in check mode), 2 failed, 3 unreachable, -1 skipped.",
    );
    for (h, results) in &c.hosts {
        for ((play, task, _, _), r) in worst_per_task(results) {
            let _ = writeln!(
                out,
                "muster_run_task_status{{host=\"{}\",mode=\"{mode}\",play=\"{}\",task=\"{}\"}} {}",
                escape_label(h),
                escape_label(&play),
                escape_label(&task),
                status_code(r)
            );
        }
    }
    header(
        &mut out,
        "muster_run_timestamp_seconds",
        "When the last muster run began, in Unix seconds.",
    );
    let _ = writeln!(
        out,
        "muster_run_timestamp_seconds{{mode=\"{mode}\"}} {:.3}",
        meta.started_unix
    );
    header(
        &mut out,
        "muster_run_duration_seconds",
        "How long the last muster run took.",
    );
    let _ = writeln!(
        out,
        "muster_run_duration_seconds{{mode=\"{mode}\"}} {:.3}",
        meta.duration.as_secs_f64()
    );
    out
}

pub(super) fn sarif(c: &Collected, meta: &RunMeta) -> String {
    // Rules: every task that has a result, in the order first seen.
    let tasks = task_keys(c);
    let mut named: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, task, _, _) in &tasks {
        *named.entry(task.as_str()).or_default() += 1;
    }
    let rule_id = |(_, task, file, line): &TaskKey| {
        if named[task.as_str()] > 1 {
            format!("{task}@{file}:{line}")
        } else {
            task.clone()
        }
    };
    let location = |file: &str, line: usize| {
        (!file.is_empty())
            .then(|| super::sarif::line_location(&super::sarif::uri_of(Path::new(file)), line))
    };
    let rules: Vec<ReportingDescriptor> = tasks
        .iter()
        .map(|k| {
            let (play, task, file, line) = k;
            let where_ = if file.is_empty() {
                String::new()
            } else {
                format!(" ({file}:{line})")
            };
            ReportingDescriptor::builder()
                .id(rule_id(k))
                .name(task.clone())
                .short_description(
                    MultiformatMessageString::builder()
                        .text(task.clone())
                        .build(),
                )
                .full_description(
                    MultiformatMessageString::builder()
                        .text(format!("Task `{task}` of play `{play}`{where_}"))
                        .build(),
                )
                .properties(
                    PropertyBag::builder()
                        .tags(vec!["configuration".to_string(), play.clone()])
                        .build(),
                )
                .build()
        })
        .collect();

    let mut results: Vec<SarifResult> = Vec::new();
    for (host, rs) in &c.hosts {
        for r in rs {
            let (level, what) = match r.status {
                Status::Changed if meta.check || r.planned => (ResultLevel::Error, "would change"),
                Status::Changed => (ResultLevel::Note, "changed"),
                Status::Failed if !r.ignored => (ResultLevel::Error, "failed"),
                Status::Unreachable => (ResultLevel::Error, "unreachable"),
                _ => continue,
            };
            let k = key(r);
            let idx = tasks.iter().position(|t| *t == k).unwrap_or(0);
            let detail = match r.status {
                Status::Changed => super::run::change_summary(&r.changes),
                _ => r.msg.clone().unwrap_or_default(),
            };
            let mut props = BTreeMap::new();
            props.insert("host".to_string(), json!(host));
            props.insert("status".to_string(), json!(what));
            props.insert("play".to_string(), json!(r.play));
            if let Some(item) = &r.item {
                props.insert("item".to_string(), item.clone());
            }
            let d = diffs(&r.changes);
            if !d.is_empty() {
                props.insert("diff".to_string(), Value::String(d));
            }
            let mut fp = BTreeMap::new();
            fp.insert(
                "muster/host-task".to_string(),
                format!("{host}/{}/{}:{}", case_name(r), r.file, r.line),
            );
            let res = SarifResult::builder()
                .rule_id(rule_id(&k))
                .rule_index(idx as i64)
                .level(level)
                .message(
                    Message::builder()
                        .text(format!("{} {what} on {host}: {detail}", r.task))
                        .build(),
                )
                .partial_fingerprints(fp)
                .properties(PropertyBag::builder().additional_properties(props).build());
            results.push(match location(&r.file, r.line) {
                Some(l) => res.locations(l).build(),
                None => res.build(),
            });
        }
    }
    let mut props = BTreeMap::new();
    props.insert("mode".to_string(), json!(meta.title));
    props.insert("started".to_string(), json!(meta.started));
    super::sarif::document(rules, results, props)
}
