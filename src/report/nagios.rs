//! The Nagios/Sensu/Icinga check format: exactly one line,
//!
//! `MUSTER <STATE> - N of M controls failing on K hosts | pass=… warn=… fail=… error=… skip=… waived=… hosts=… unreachable=… score=…;;;0;100`
//!
//! where N counts failing results, M all results (host × control) and K the hosts with a
//! failure. When the state is UNKNOWN the reason follows the counts (`, 1 host unreachable`,
//! `, 2 checks errored`). `score` is `U` (undetermined) when nothing counted.
//!
//! The plugin exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN): an unreachable host or an
//! errored check → UNKNOWN; else any fail → CRITICAL; else any warn → WARNING; else OK.
//! Only `--format nagios` on standard output sets muster's exit code this way; writing the
//! line to a file with `-o nagios=PATH` leaves the audit's usual exit code.

use crate::policy::checks::Status;
use crate::policy::report::AuditReport;

pub const OK: i32 = 0;
pub const WARNING: i32 = 1;
pub const CRITICAL: i32 = 2;
pub const UNKNOWN: i32 = 3;

fn errored(report: &AuditReport) -> usize {
    report
        .hosts
        .iter()
        .map(|h| {
            h.results
                .iter()
                .filter(|r| r.status == Status::Error)
                .count()
                + usize::from(h.reachable && h.error.is_some())
        })
        .sum()
}

pub fn exit_code(report: &AuditReport) -> i32 {
    let s = &report.summary;
    if s.unreachable > 0 || errored(report) > 0 {
        UNKNOWN
    } else if s.fail > 0 {
        CRITICAL
    } else if s.warn > 0 {
        WARNING
    } else {
        OK
    }
}

pub fn state_name(code: i32) -> &'static str {
    match code {
        OK => "OK",
        WARNING => "WARNING",
        CRITICAL => "CRITICAL",
        _ => "UNKNOWN",
    }
}

pub fn render(report: &AuditReport) -> String {
    let s = &report.summary;
    let code = exit_code(report);
    let total: usize = report.hosts.iter().map(|h| h.results.len()).sum();
    let failing_hosts = report
        .hosts
        .iter()
        .filter(|h| h.results.iter().any(|r| r.status == Status::Fail))
        .count();
    let mut why = String::new();
    if code == UNKNOWN {
        if s.unreachable > 0 {
            why.push_str(&format!(
                ", {} host{} unreachable",
                s.unreachable,
                if s.unreachable == 1 { "" } else { "s" }
            ));
        }
        let e = errored(report);
        if e > 0 {
            why.push_str(&format!(
                ", {e} check{} errored",
                if e == 1 { "" } else { "s" }
            ));
        }
    }
    format!(
        "MUSTER {} - {} of {} controls failing on {} host{}{} | pass={} warn={} fail={} error={} skip={} waived={} hosts={} unreachable={} score={};;;0;100\n",
        state_name(code),
        s.fail,
        total,
        failing_hosts,
        if failing_hosts == 1 { "" } else { "s" },
        why,
        s.pass,
        s.warn,
        s.fail,
        s.error,
        s.skip,
        s.waived,
        s.hosts,
        s.unreachable,
        s.score.map(|x| format!("{x:.1}")).unwrap_or_else(|| "U".into())
    )
}
