//! One self-contained HTML page (no external assets; works offline and prints): the fleet
//! score and counts first, filters by severity, status and host name, a matrix of hosts ×
//! controls coloured by status, and per host every result with its evidence (observed,
//! expected, message), the waiver, the rationale and the remediation. Clicking a cell opens
//! its evidence in a dialog; without scripts the cell is a link to the same block.
//!
//! The page is rendered by minijinja with HTML auto-escaping, so nothing a host reports can
//! inject markup; the script reads only `data-` attributes of the page itself.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::Catalog;
use crate::policy::checks::Status;
use crate::policy::report::AuditReport;

const TEMPLATE: &str = include_str!("html.html.j2");

#[derive(Serialize)]
struct Ctl {
    policy: String,
    id: String,
    title: String,
    severity: &'static str,
}

#[derive(Serialize)]
struct Cell {
    id: usize,
    ctl: usize,
    control: String,
    status: &'static str,
    severity: &'static str,
    glyph: &'static str,
}

#[derive(Serialize)]
struct Res {
    id: usize,
    ctl: usize,
    control: String,
    title: String,
    policy: String,
    policy_file: String,
    status: &'static str,
    severity: &'static str,
    message: String,
    observed: Option<String>,
    expected: Option<String>,
    waiver: Option<String>,
    rationale: Option<String>,
    remediation: Vec<String>,
    manual: Option<String>,
}

#[derive(Serialize)]
struct Host {
    name: String,
    platform: String,
    reachable: bool,
    error: Option<String>,
    score: String,
    score_class: &'static str,
    failing: usize,
    statuses: String,
    cells: Vec<Option<Cell>>,
    results: Vec<Res>,
}

fn glyph(s: Status) -> &'static str {
    match s {
        Status::Pass => "✓",
        Status::Warn => "!",
        Status::Fail => "✗",
        Status::Error => "E",
        Status::Skip => "–",
        Status::Waived => "W",
    }
}

fn score_text(s: Option<f64>) -> String {
    s.map(|x| format!("{x:.1}")).unwrap_or_else(|| "–".into())
}

fn score_class(s: Option<f64>) -> &'static str {
    match s {
        Some(x) if x >= 90.0 => "good",
        Some(x) if x >= 70.0 => "fair",
        Some(_) => "poor",
        None => "",
    }
}

fn pretty(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(m) if m.is_empty() => None,
        other => {
            // Small values on one line; larger ones indented.
            let flat = serde_json::to_string(other).ok()?;
            if flat.len() <= 100 {
                Some(flat)
            } else {
                serde_json::to_string_pretty(other).ok()
            }
        }
    }
}

fn waiver_text(w: &Value) -> String {
    let get = |k: &str| w.get(k).and_then(Value::as_str).unwrap_or("");
    let mut s = get("reason").to_string();
    let owner = get("owner");
    if !owner.is_empty() {
        s.push_str(&format!(" (owner {owner}"));
        let exp = get("expires");
        if !exp.is_empty() {
            s.push_str(&format!(", expires {exp}"));
        }
        s.push(')');
    }
    s
}

pub(super) fn duration_text(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 120_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {} s", ms / 60_000, ms / 1000 % 60)
    }
}

/// Renders the page.
pub fn render(report: &AuditReport, catalog: &Catalog) -> String {
    // Columns: the catalog's controls in policy order, then any control results name that
    // the catalog does not know (a report rendered without its policies).
    let mut controls: Vec<Ctl> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut add = |policy: &str, id: &str, title: &str, severity: &'static str| {
        let key = (policy.to_string(), id.to_string());
        if let std::collections::hash_map::Entry::Vacant(e) = index.entry(key) {
            e.insert(controls.len());
            controls.push(Ctl {
                policy: policy.into(),
                id: id.into(),
                title: title.into(),
                severity,
            });
        }
    };
    let seen: BTreeSet<(String, String)> = report
        .hosts
        .iter()
        .flat_map(|h| &h.results)
        .map(|r| (r.policy.clone(), r.control.clone()))
        .collect();
    for c in &catalog.controls {
        if seen.contains(&(c.policy.clone(), c.id.clone())) {
            add(&c.policy, &c.id, &c.title, c.severity.as_str());
        }
    }
    for r in report.hosts.iter().flat_map(|h| &h.results) {
        add(&r.policy, &r.control, &r.title, r.severity.as_str());
    }

    let mut next = 0usize;
    let hosts: Vec<Host> = report
        .hosts
        .iter()
        .map(|h| {
            let mut cells: Vec<Option<Cell>> = (0..controls.len()).map(|_| None).collect();
            let mut results = Vec::new();
            let mut statuses = BTreeSet::new();
            for r in &h.results {
                let ctl = index[&(r.policy.clone(), r.control.clone())];
                let id = next;
                next += 1;
                statuses.insert(r.status.as_str());
                cells[ctl] = Some(Cell {
                    id,
                    ctl,
                    control: r.control.clone(),
                    status: r.status.as_str(),
                    severity: r.severity.as_str(),
                    glyph: glyph(r.status),
                });
                let info = catalog.get(&r.policy, &r.control);
                results.push(Res {
                    id,
                    ctl,
                    control: r.control.clone(),
                    title: r.title.clone(),
                    policy: r.policy.clone(),
                    policy_file: info
                        .map(|i| i.file.display().to_string())
                        .unwrap_or_else(|| "POLICY".into()),
                    status: r.status.as_str(),
                    severity: r.severity.as_str(),
                    message: r.message.clone(),
                    observed: pretty(&r.observed),
                    expected: pretty(&r.expected),
                    waiver: r.waiver.as_ref().map(waiver_text),
                    rationale: info.and_then(|i| i.rationale.clone()),
                    remediation: info.map(|i| i.remediation.clone()).unwrap_or_default(),
                    manual: info.and_then(|i| i.manual.clone()),
                });
            }
            // Failing first, then by severity, so a reader meets what matters first.
            results.sort_by_key(|r| {
                let rank = match r.status {
                    "fail" => 0,
                    "error" => 1,
                    "warn" => 2,
                    "waived" => 3,
                    "skip" => 4,
                    _ => 5,
                };
                (rank, std::cmp::Reverse(sev_rank(r.severity)), r.ctl)
            });
            let failing = h
                .results
                .iter()
                .filter(|r| matches!(r.status, Status::Fail | Status::Error))
                .count();
            Host {
                name: h.name.clone(),
                platform: h.platform.clone(),
                reachable: h.reachable,
                error: h.error.clone(),
                score: score_text(h.score),
                score_class: score_class(h.score),
                failing,
                statuses: statuses.into_iter().collect::<Vec<_>>().join(" "),
                cells,
                results,
            }
        })
        .collect();

    let policies = report
        .policies
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap_or(""),
                p["version"].as_str().unwrap_or("")
            )
            .trim()
            .to_string()
        })
        .collect::<Vec<_>>()
        .join(", ");
    let expired: Vec<String> = report
        .expired_waivers
        .iter()
        .map(|w| {
            let hosts = if w.hosts.is_empty() {
                "every host".to_string()
            } else {
                w.hosts.join(", ")
            };
            let owner = w
                .owner
                .as_deref()
                .map(|o| format!(" (owner {o})"))
                .unwrap_or_default();
            format!(
                "{} on {hosts}: expired {} — {}{owner}",
                w.control,
                w.expires.as_deref().unwrap_or("?"),
                w.reason
            )
        })
        .collect();

    use minijinja::Value as V;
    let ctx = minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        schema => report.schema,
        policies => if policies.is_empty() { "(no policy)".to_string() } else { policies },
        started => report.started.clone(),
        duration => duration_text(report.duration_ms),
        summary => V::from(minijinja::value::Serde(&report.summary)),
        fleet_score => score_text(report.summary.score),
        fleet_class => score_class(report.summary.score),
        severities => ["critical", "high", "medium", "low", "info"],
        statuses => ["fail", "error", "warn", "waived", "pass", "skip"],
        controls => V::from(minijinja::value::Serde(&controls)),
        hosts => V::from(minijinja::value::Serde(&hosts)),
        expired => V::from(minijinja::value::Serde(&expired)),
    };
    page("report.html", TEMPLATE, ctx)
}

/// Renders one of the report pages, which share their style sheet and script. A name ending
/// in `.html` turns on HTML auto-escaping for every value the template prints.
pub(super) fn page(name: &str, template: &'static str, ctx: minijinja::Value) -> String {
    let mut env = minijinja::Environment::new();
    let added = env
        .add_template("report.css", include_str!("report.css"))
        .and_then(|_| env.add_template("report.js", include_str!("report.js")))
        .and_then(|_| env.add_template(name, template));
    match added
        .and_then(|_| env.get_template(name))
        .and_then(|t| t.render(ctx))
    {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        Err(e) => format!("<!doctype html><p>internal error in the report template: {e}</p>\n"),
    }
}

fn sev_rank(s: &str) -> u8 {
    match s {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}
