//! Report formats: every format renders the same [`AuditReport`] (the data behind the Audit
//! JSON contract) after one pass that masks secrets, so that pass covers all of them.
//!
//! | format       | what it is for                                                        |
//! |--------------|-----------------------------------------------------------------------|
//! | `text`       | the terminal report (host × control matrix, findings, fleet score)    |
//! | `json`       | the `muster.audit/v1` contract                                        |
//! | `junit`      | CI test reports: a testsuite per host, a testcase per control         |
//! | `markdown`   | a pull/merge-request comment: summary, host table, failing details   |
//! | `sarif`      | SARIF 2.1.0 for code-scanning UIs: a rule per control                 |
//! | `nagios`     | a Nagios/Sensu/Icinga check: one status line with perfdata            |
//! | `prometheus` | the node-exporter textfile collector format                           |
//! | `html`       | one self-contained page: fleet matrix, filters, evidence, remediation |
//!
//! Policies are passed alongside the report ([`render_with`]) for what results do not carry:
//! a control's rationale and where it is defined (SARIF rules and locations).

pub mod html;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod nagios;
pub mod prometheus;
pub mod run;
pub mod run_formats;
pub mod run_html;
pub mod sarif;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use crate::policy::report::AuditReport;
use crate::policy::{Policy, Severity};

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Text,
    Json,
    Junit,
    Markdown,
    Sarif,
    Nagios,
    Prometheus,
    Html,
}

/// Every format this version writes, by name.
pub const FORMATS: &[&str] = &[
    "text",
    "json",
    "junit",
    "markdown",
    "sarif",
    "nagios",
    "prometheus",
    "html",
];

/// Why a format name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// A name that is no format at all.
    Unknown(String),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Unknown(n) => write!(
                f,
                "unknown report format `{n}`; available formats: {}",
                FORMATS.join(", ")
            ),
        }
    }
}

impl std::error::Error for FormatError {}

impl Format {
    /// Parses a format name (case-insensitive; `md` and `prom` are accepted as short names).
    pub fn parse(s: &str) -> Result<Format, FormatError> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "text" | "txt" => Format::Text,
            "json" => Format::Json,
            "junit" => Format::Junit,
            "markdown" | "md" => Format::Markdown,
            "sarif" => Format::Sarif,
            "nagios" | "sensu" => Format::Nagios,
            "prometheus" | "prom" => Format::Prometheus,
            "html" | "htm" => Format::Html,
            _ => return Err(FormatError::Unknown(s.to_string())),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Markdown => "markdown",
            Format::Sarif => "sarif",
            Format::Nagios => "nagios",
            Format::Prometheus => "prometheus",
            Format::Html => "html",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a policy says about one control, beyond what its results carry.
#[derive(Debug, Clone)]
pub struct ControlInfo {
    pub policy: String,
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub rationale: Option<String>,
    pub severity: Severity,
    /// Its automated remediation, a line per task (`name (module)`); empty when it has none.
    pub remediation: Vec<String>,
    /// Manual guidance, when the policy gives some.
    pub manual: Option<String>,
    /// The policy file and the line the control starts on.
    pub file: PathBuf,
    pub line: usize,
}

/// The controls of the audited policies, in policy order, looked up by (policy, control).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub controls: Vec<ControlInfo>,
    index: HashMap<(String, String), usize>,
}

impl Catalog {
    pub fn new(policies: &[Policy]) -> Catalog {
        let mut cat = Catalog::default();
        for p in policies {
            for c in &p.controls {
                let key = (c.policy.clone(), c.id.clone());
                if cat.index.contains_key(&key) {
                    continue;
                }
                cat.index.insert(key, cat.controls.len());
                cat.controls.push(ControlInfo {
                    policy: c.policy.clone(),
                    id: c.id.clone(),
                    title: c.title.clone(),
                    description: c.description.clone(),
                    rationale: c.rationale.clone(),
                    severity: c.severity,
                    remediation: crate::commands::remediate::remediation_tasks(c)
                        .iter()
                        .map(task_summary)
                        .collect(),
                    manual: c.manual.clone(),
                    file: c.loc.file.clone(),
                    line: c.loc.line,
                });
            }
        }
        cat
    }

    pub fn get(&self, policy: &str, control: &str) -> Option<&ControlInfo> {
        self.index
            .get(&(policy.to_string(), control.to_string()))
            .map(|&i| &self.controls[i])
    }
}

/// One line for a remediation task: its name and what it runs.
fn task_summary(t: &crate::playbook::Task) -> String {
    use crate::playbook::TaskKind;
    let what = match &t.kind {
        TaskKind::Module { def, .. } => def.name.to_string(),
        TaskKind::Action { name, .. } => name.clone(),
        _ => "block".to_string(),
    };
    match &t.name {
        Some(n) => format!("{n} ({what})"),
        None => what,
    }
}

/// Renders a report without policy data (SARIF then has no rationale nor locations).
pub fn render(format: Format, report: &AuditReport, color: bool) -> String {
    render_with(format, report, &[], color)
}

/// Renders a report; `policies` supply the control data results do not carry.
pub fn render_with(
    format: Format,
    report: &AuditReport,
    policies: &[Policy],
    color: bool,
) -> String {
    let report = prepared(report);
    let catalog = Catalog::new(policies);
    match format {
        Format::Text => report.to_text(color),
        Format::Json => {
            let mut s = report.to_json();
            s.push('\n');
            s
        }
        Format::Junit => junit::render(&report),
        Format::Markdown => markdown::render(&report),
        Format::Sarif => sarif::render(&report, &catalog),
        Format::Nagios => nagios::render(&report),
        Format::Prometheus => prometheus::render(&report),
        Format::Html => html::render(&report, &catalog),
    }
}

/// The one place every renderer's data passes through: the report with every known secret
/// (vault values, become and vault passwords) masked, so that no format can leak one.
fn prepared(report: &AuditReport) -> AuditReport {
    use crate::secrets::{redact_value_with, redact_with};
    let mut r = report.clone();
    // The registry is read once for the whole report.
    let secrets = crate::secrets::secrets();
    if secrets.is_empty() {
        return r;
    }
    let mask = |s: &mut String| *s = redact_with(s, &secrets);
    for h in &mut r.hosts {
        if let Some(e) = &mut h.error {
            mask(e);
        }
        for c in &mut h.results {
            mask(&mut c.message);
            mask(&mut c.title);
            for v in [&mut c.observed, &mut c.expected, &mut c.finding] {
                redact_value_with(v, &secrets);
            }
            if let Some(w) = &mut c.waiver {
                redact_value_with(w, &secrets);
            }
        }
    }
    r
}

/// The exit code a format itself dictates, if any: only `nagios` on standard output does
/// (the plugin convention 0/1/2/3); every other format leaves the audit's own exit code.
pub fn exit_code_of(format: Format, report: &AuditReport) -> Option<i32> {
    match format {
        Format::Nagios => Some(nagios::exit_code(report)),
        _ => None,
    }
}

/// Seconds since the epoch of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SSZ` (the report's
/// `started`); None when it does not have that shape.
pub(crate) fn epoch_seconds(rfc3339: &str) -> Option<i64> {
    let s = rfc3339.trim();
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z');
    let time = time.split(['.', '+']).next()?;
    let mut t = time.split(':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next().flatten().unwrap_or(0));
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), 1970-01-01 = 0.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_by_name() {
        for f in FORMATS {
            assert_eq!(Format::parse(f).unwrap().name(), *f);
        }
        assert_eq!(Format::parse("MD").unwrap(), Format::Markdown);
        assert_eq!(Format::parse("html").unwrap(), Format::Html);
        let e = Format::parse("yaml").unwrap_err().to_string();
        assert!(
            e.contains("unknown report format `yaml`") && e.contains("sarif"),
            "{e}"
        );
    }

    #[test]
    fn epoch_of_rfc3339() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch_seconds("2026-11-29T10:00:00Z"), Some(1_795_946_400));
        assert_eq!(epoch_seconds("2000-03-01T00:00:01Z"), Some(951_868_801));
        assert_eq!(epoch_seconds("nonsense"), None);
    }
}

#[cfg(test)]
mod fixture_tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::policy::audit::{ControlResult, HostAudit};
    use crate::policy::checks::Status;

    fn result(control: &str, status: Status, message: &str) -> ControlResult {
        ControlResult {
            control: control.into(),
            title: format!("{control} <title> | x"),
            severity: Severity::High,
            policy: "p\"1".into(),
            status,
            observed: json!({"v": 1}),
            expected: json!({"v": 2}),
            message: message.into(),
            waiver: (status == Status::Waived)
                .then(|| json!({"reason": "lab box", "owner": "secops@example.com"})),
            finding: Value::Null,
        }
    }

    fn host(name: &str, reachable: bool, results: Vec<ControlResult>) -> HostAudit {
        HostAudit {
            name: name.into(),
            reachable,
            platform: "debian".into(),
            score: crate::policy::audit::score(&results),
            error: (!reachable).then(|| "connection refused".into()),
            results,
            execs: 0,
        }
    }

    fn report(hosts: Vec<HostAudit>) -> AuditReport {
        AuditReport::new(
            "2026-11-29T10:00:00Z".into(),
            812,
            &[],
            hosts,
            &[],
            "2026-11-29",
        )
    }

    #[test]
    fn nagios_states_follow_the_plugin_convention() {
        let ok = report(vec![host("a", true, vec![result("c", Status::Pass, "ok")])]);
        let warn = report(vec![host(
            "a",
            true,
            vec![result("c", Status::Warn, "meh")],
        )]);
        let fail = report(vec![host(
            "a",
            true,
            vec![
                result("c", Status::Warn, "meh"),
                result("d", Status::Fail, "bad"),
            ],
        )]);
        let down = report(vec![
            host("a", true, vec![result("d", Status::Fail, "bad")]),
            host("b", false, vec![]),
        ]);
        let errored = report(vec![host("a", true, vec![result("c", Status::Error, "?")])]);
        for (r, code, state) in [
            (&ok, 0, "OK"),
            (&warn, 1, "WARNING"),
            (&fail, 2, "CRITICAL"),
            (&down, 3, "UNKNOWN"),
            (&errored, 3, "UNKNOWN"),
        ] {
            assert_eq!(exit_code_of(Format::Nagios, r), Some(code));
            let line = render(Format::Nagios, r, false);
            assert!(line.starts_with(&format!("MUSTER {state} - ")), "{line}");
            assert_eq!(line.lines().count(), 1);
        }
        assert_eq!(exit_code_of(Format::Junit, &fail), None);
        assert_eq!(
            render(Format::Nagios, &down, false),
            "MUSTER UNKNOWN - 1 of 1 controls failing on 1 host, 1 host unreachable | pass=0 warn=0 fail=1 error=0 skip=0 waived=0 hosts=2 unreachable=1 score=0.0;;;0;100\n"
        );
    }

    #[test]
    fn hostile_text_is_escaped_in_markdown_prometheus_and_junit() {
        let r = report(vec![host(
            "web|1<b>",
            true,
            vec![
                result("c", Status::Fail, "saw <script>alert(1)</script> | here"),
                result("w", Status::Waived, "waived one"),
            ],
        )]);
        let md = render(Format::Markdown, &r, false);
        assert!(md.contains("| web\\|1&lt;b&gt; | "), "{md}");
        assert!(
            md.contains("<details><summary>web|1&lt;b&gt; — 1 failing</summary>"),
            "{md}"
        );
        assert!(
            md.contains("saw &lt;script&gt;alert(1)&lt;/script&gt;"),
            "{md}"
        );
        assert!(!md.contains("<script>"), "{md}");

        let prom = render(Format::Prometheus, &r, false);
        assert!(
            prom.contains("muster_control_status{host=\"web|1<b>\",control=\"c\",severity=\"high\",policy=\"p\\\"1\"} 2"),
            "{prom}"
        );
        assert!(prom.contains("muster_control_status{host=\"web|1<b>\",control=\"w\",severity=\"high\",policy=\"p\\\"1\"} 4"));
        assert!(
            prom.contains("muster_audit_timestamp_seconds 1795946400"),
            "{prom}"
        );

        let html = render(Format::Html, &r, false);
        assert!(html.starts_with("<!doctype html>"), "{html}");
        assert!(
            html.contains("saw &lt;script&gt;alert(1)&lt;&#x2f;script&gt; | here"),
            "{html}"
        );
        assert!(html.contains("data-host=\"web|1&lt;b&gt;\""), "{html}");
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the page's own script"
        );
        assert!(html.contains("class=\"cell fail\""), "{html}");
        assert!(
            html.contains("lab box (owner secops@example.com)"),
            "{html}"
        );

        let xml = render(Format::Junit, &r, false);
        assert!(xml.contains("&lt;script&gt;"), "{xml}");
        assert!(
            xml.contains("message=\"waived: lab box (owner secops@example.com)\""),
            "{xml}"
        );
        assert!(!xml.contains("time="), "{xml}");

        // Without policies SARIF still has a rule per control, without locations.
        let sarif: Value = serde_json::from_str(&render(Format::Sarif, &r, false)).unwrap();
        assert_eq!(sarif["version"], "2.1.0");
        assert_eq!(
            sarif["runs"][0]["tool"]["driver"]["rules"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let results = sarif["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "waived is not a finding");
        assert_eq!(results[0]["level"], "error");
    }
}
