//! The Prometheus text exposition format, for node-exporter's textfile collector (write it
//! with `-o prometheus=/var/lib/node_exporter/textfile/muster.prom`; write to a temporary name
//! and rename if the collector may read mid-write).
//!
//! Metrics (all gauges):
//! - `muster_control_status{host,control,severity,policy}`: 0 pass, 1 warn, 2 fail, 3 error,
//!   4 waived, -1 skip;
//! - `muster_host_score{host}`: 0–100, NaN when nothing counted (or the host was unreachable);
//! - `muster_host_reachable{host}`: 1 or 0;
//! - `muster_fleet_score`: 0–100 (NaN when nothing counted);
//! - `muster_audit_timestamp_seconds`: when the audit started (Unix time);
//! - `muster_audit_duration_seconds`: how long it took.
//!
//! Label values are escaped as the format requires (backslash, double quote, newline).

use std::fmt::Write;

use crate::policy::checks::Status;
use crate::policy::report::AuditReport;

/// The value `muster_control_status` gives a status.
pub fn status_value(s: Status) -> i32 {
    match s {
        Status::Pass => 0,
        Status::Warn => 1,
        Status::Fail => 2,
        Status::Error => 3,
        Status::Waived => 4,
        Status::Skip => -1,
    }
}

/// Escapes a label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub fn escape_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "NaN".into(),
    }
}

pub(super) fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

pub fn render(report: &AuditReport) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "muster_control_status",
        "Control verdict per host: 0 pass, 1 warn, 2 fail, 3 error, 4 waived, -1 skip.",
    );
    for h in &report.hosts {
        for r in &h.results {
            let _ = writeln!(
                out,
                "muster_control_status{{host=\"{}\",control=\"{}\",severity=\"{}\",policy=\"{}\"}} {}",
                escape_label(&h.name),
                escape_label(&r.control),
                r.severity.as_str(),
                escape_label(&r.policy),
                status_value(r.status)
            );
        }
    }
    header(
        &mut out,
        "muster_host_score",
        "Compliance score of a host, 0-100 (NaN when nothing counted or unreachable).",
    );
    for h in &report.hosts {
        let _ = writeln!(
            out,
            "muster_host_score{{host=\"{}\"}} {}",
            escape_label(&h.name),
            num(if h.reachable { h.score } else { None })
        );
    }
    header(
        &mut out,
        "muster_host_reachable",
        "Whether the host was reached over SSH (1) or not (0).",
    );
    for h in &report.hosts {
        let _ = writeln!(
            out,
            "muster_host_reachable{{host=\"{}\"}} {}",
            escape_label(&h.name),
            u8::from(h.reachable)
        );
    }
    header(
        &mut out,
        "muster_fleet_score",
        "Compliance score of the fleet, 0-100 (NaN when nothing counted).",
    );
    let _ = writeln!(out, "muster_fleet_score {}", num(report.summary.score));
    header(
        &mut out,
        "muster_audit_timestamp_seconds",
        "When the audit started, in seconds since the Unix epoch.",
    );
    let _ = writeln!(
        out,
        "muster_audit_timestamp_seconds {}",
        super::epoch_seconds(&report.started).unwrap_or(0)
    );
    header(
        &mut out,
        "muster_audit_duration_seconds",
        "How long the audit took, in seconds.",
    );
    let _ = writeln!(
        out,
        "muster_audit_duration_seconds {}",
        report.duration_ms as f64 / 1000.0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}
