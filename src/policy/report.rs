//! The audit report: the Audit JSON contract (`muster.audit/v1`) and the text report
//! (host × control matrix, failing controls with evidence, the fleet score).

use owo_colors::AnsiColors;
use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use serde_json::{json, Value};

use super::audit::{score, ControlResult, HostAudit};
use super::checks::Status;
use super::waivers::Waiver;
use super::{Policy, Severity};

#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    pub hosts: usize,
    pub unreachable: usize,
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub error: usize,
    pub skip: usize,
    pub waived: usize,
    pub score: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub schema: &'static str,
    pub started: String,
    pub duration_ms: u64,
    pub policies: Vec<Value>,
    pub summary: Summary,
    pub hosts: Vec<HostAudit>,
    pub expired_waivers: Vec<Waiver>,
}

impl AuditReport {
    pub fn new(
        started: String,
        duration_ms: u64,
        policies: &[Policy],
        hosts: Vec<HostAudit>,
        waivers: &[Waiver],
        today: &str,
    ) -> AuditReport {
        AuditReport::from_parts(
            started,
            duration_ms,
            policies
                .iter()
                .map(|p| json!({"name": p.name, "version": p.version}))
                .collect(),
            hosts,
            waivers
                .iter()
                .filter(|w| w.expired(today))
                .cloned()
                .collect(),
        )
    }

    /// A report of these hosts, the summary and fleet score computed from their results.
    pub fn from_parts(
        started: String,
        duration_ms: u64,
        policies: Vec<Value>,
        hosts: Vec<HostAudit>,
        expired_waivers: Vec<Waiver>,
    ) -> AuditReport {
        let mut s = Summary {
            hosts: hosts.len(),
            ..Default::default()
        };
        let mut all: Vec<ControlResult> = Vec::new();
        for h in &hosts {
            if !h.reachable {
                s.unreachable += 1;
            }
            for r in &h.results {
                match r.status {
                    Status::Pass => s.pass += 1,
                    Status::Warn => s.warn += 1,
                    Status::Fail => s.fail += 1,
                    Status::Error => s.error += 1,
                    Status::Skip => s.skip += 1,
                    Status::Waived => s.waived += 1,
                }
                all.push(r.clone());
            }
        }
        s.score = score(&all);
        AuditReport {
            schema: "muster.audit/v1",
            started,
            duration_ms,
            policies,
            summary: s,
            hosts,
            expired_waivers,
        }
    }

    /// The exit code: 3 when a host was unreachable or a check errored, 2 when a control
    /// failed at or above `fail_on`, else 0.
    pub fn exit_code(&self, fail_on: Severity) -> i32 {
        let errored = self.hosts.iter().any(|h| {
            !h.reachable || h.error.is_some() || h.results.iter().any(|r| r.status == Status::Error)
        });
        if errored {
            return crate::exit::INCOMPLETE;
        }
        let failed = self
            .hosts
            .iter()
            .flat_map(|h| &h.results)
            .any(|r| r.status == Status::Fail && r.severity >= fail_on);
        if failed {
            crate::exit::DRIFT
        } else {
            crate::exit::OK
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The text report.
    pub fn to_text(&self, color: bool) -> String {
        let paint = |c: AnsiColors, s: &str| crate::engine::report::paint(color, c, s);
        let status_txt = |st: Status| {
            let s = st.as_str();
            match st {
                Status::Pass => paint(AnsiColors::Green, s),
                Status::Warn => paint(AnsiColors::Yellow, s),
                Status::Fail => paint(AnsiColors::Red, s),
                Status::Error => paint(AnsiColors::Magenta, s),
                Status::Skip => paint(AnsiColors::Cyan, s),
                Status::Waived => paint(AnsiColors::Blue, s),
            }
        };
        let mut out = String::new();
        let names: Vec<String> = self
            .policies
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    p["name"].as_str().unwrap_or(""),
                    p["version"].as_str().unwrap_or("")
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "AUDIT {} — {} host{}",
            names.join(", "),
            self.hosts.len(),
            if self.hosts.len() == 1 { "" } else { "s" }
        );
        // Matrix: one row per host, one column per control (in policy order).
        let mut controls: Vec<String> = Vec::new();
        for h in &self.hosts {
            for r in &h.results {
                if !controls.contains(&r.control) {
                    controls.push(r.control.clone());
                }
            }
        }
        let hw = self
            .hosts
            .iter()
            .map(|h| h.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = write!(out, "\n{:hw$}  {:>5}  {:<9}", "HOST", "SCORE", "PLATFORM");
        for c in &controls {
            let _ = write!(out, "  {:<w$}", c, w = c.len().max(6));
        }
        out.push('\n');
        for h in &self.hosts {
            let sc = h
                .score
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "-".into());
            let _ = write!(
                out,
                "{:hw$}  {:>5}  {:<9}",
                h.name,
                sc,
                if h.reachable {
                    h.platform.as_str()
                } else {
                    "unreachable"
                }
            );
            for c in &controls {
                let w = c.len().max(6);
                match h.results.iter().find(|r| &r.control == c) {
                    Some(r) => {
                        let pad = w.saturating_sub(r.status.as_str().len());
                        let _ = write!(out, "  {}{}", status_txt(r.status), " ".repeat(pad));
                    }
                    None => {
                        let _ = write!(out, "  {:<w$}", "-");
                    }
                }
            }
            out.push('\n');
        }
        // Failing and noteworthy results with their evidence.
        let mut noted = false;
        for h in &self.hosts {
            if let Some(e) = &h.error {
                if !noted {
                    out.push_str("\nFindings:\n");
                    noted = true;
                }
                let _ = writeln!(
                    out,
                    "  {} {}: {e}",
                    h.name,
                    paint(
                        AnsiColors::Red,
                        if h.reachable { "ERROR" } else { "UNREACHABLE" }
                    )
                );
            }
            for r in &h.results {
                if !matches!(
                    r.status,
                    Status::Fail | Status::Warn | Status::Error | Status::Waived
                ) {
                    continue;
                }
                if !noted {
                    out.push_str("\nFindings:\n");
                    noted = true;
                }
                let _ = writeln!(
                    out,
                    "  {} {} {} ({}): {}",
                    h.name,
                    status_txt(r.status),
                    r.control,
                    r.severity.as_str(),
                    r.message
                );
                if !r.observed.is_null() {
                    let _ = writeln!(out, "      observed: {}", compact(&r.observed));
                }
                if !r.expected.is_null() {
                    let _ = writeln!(out, "      expected: {}", compact(&r.expected));
                }
                if let Some(w) = &r.waiver {
                    let _ = writeln!(
                        out,
                        "      waiver: {} (owner {}, expires {}{})",
                        w["reason"].as_str().unwrap_or(""),
                        w["owner"].as_str().unwrap_or("-"),
                        w["expires"].as_str().unwrap_or("never"),
                        if w["expired"] == json!(true) {
                            ", EXPIRED"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
        if !self.expired_waivers.is_empty() {
            out.push_str("\nExpired waivers (no longer applied):\n");
            for w in &self.expired_waivers {
                let _ = writeln!(
                    out,
                    "  {} on {} — {} (expired {})",
                    w.control,
                    if w.hosts.is_empty() {
                        "all hosts".into()
                    } else {
                        w.hosts.join(",")
                    },
                    w.reason,
                    w.expires.as_deref().unwrap_or("")
                );
            }
        }
        let s = &self.summary;
        let mut by_sev: BTreeMap<&str, usize> = BTreeMap::new();
        for r in self
            .hosts
            .iter()
            .flat_map(|h| &h.results)
            .filter(|r| r.status == Status::Fail)
        {
            *by_sev.entry(r.severity.as_str()).or_default() += 1;
        }
        let _ = writeln!(
            out,
            "\nFleet: {} hosts, {} unreachable — pass {}, warn {}, fail {}, error {}, skip {}, waived {} — score {}",
            s.hosts, s.unreachable, s.pass, s.warn, s.fail, s.error, s.skip, s.waived,
            s.score.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into())
        );
        out
    }
}

fn compact(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    if s.len() > 300 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(300).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s
    }
}
