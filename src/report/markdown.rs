//! Markdown for a pull/merge-request comment: a heading with the fleet score, the counts, a
//! table of hosts, and per host with failing (fail or error) controls a collapsible
//! `<details>` block listing them with severity and message. Unreachable hosts are listed
//! under the table. Text from hosts is escaped: `|` in table cells, and HTML everywhere.

use std::fmt::Write;

use crate::policy::checks::Status;
use crate::policy::report::AuditReport;

/// Escapes HTML (`&`, `<`, `>`, `"`) and flattens newlines; Markdown emphasis characters are
/// left as they are.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => {}
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A table cell: HTML escaped and `|` escaped.
pub fn escape_cell(s: &str) -> String {
    escape_html(s).replace('|', "\\|")
}

fn score(s: Option<f64>) -> String {
    s.map(|x| format!("{x:.1}")).unwrap_or_else(|| "–".into())
}

pub fn render(report: &AuditReport) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let names: Vec<String> = report
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
        .collect();
    let _ = writeln!(
        out,
        "## muster audit: score {} — {} failing on {} of {} hosts\n",
        score(s.score),
        s.fail,
        report
            .hosts
            .iter()
            .filter(|h| h.results.iter().any(|r| r.status == Status::Fail))
            .count(),
        s.hosts
    );
    if !names.is_empty() {
        let _ = writeln!(out, "Policies: {}\n", escape_html(&names.join(", ")));
    }
    let _ = writeln!(
        out,
        "**{}** hosts ({} unreachable) · pass **{}** · warn **{}** · fail **{}** · error **{}** · skip **{}** · waived **{}**\n",
        s.hosts, s.unreachable, s.pass, s.warn, s.fail, s.error, s.skip, s.waived
    );
    out.push_str("| Host | Score | Pass | Warn | Fail | Error |\n");
    out.push_str("|:-----|------:|-----:|-----:|-----:|------:|\n");
    for h in &report.hosts {
        let n = |st: Status| h.results.iter().filter(|r| r.status == st).count();
        let sc = if h.reachable {
            score(h.score)
        } else {
            "unreachable".into()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            escape_cell(&h.name),
            sc,
            n(Status::Pass),
            n(Status::Warn),
            n(Status::Fail),
            n(Status::Error) + usize::from(h.error.is_some() && h.reachable)
        );
    }
    let down: Vec<_> = report
        .hosts
        .iter()
        .filter(|h| !h.reachable || h.error.is_some())
        .collect();
    if !down.is_empty() {
        out.push('\n');
        for h in down {
            let _ = writeln!(
                out,
                "- :warning: **{}** {}: {}",
                escape_html(&h.name),
                if h.reachable {
                    "audit stopped"
                } else {
                    "unreachable"
                },
                escape_html(h.error.as_deref().unwrap_or(""))
            );
        }
    }
    for h in &report.hosts {
        let failing: Vec<_> = h
            .results
            .iter()
            .filter(|r| matches!(r.status, Status::Fail | Status::Error))
            .collect();
        if failing.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n<details><summary>{} — {} failing</summary>\n",
            escape_html(&h.name),
            failing.len()
        );
        for r in failing {
            let _ = writeln!(
                out,
                "- **{}** ({}{}) {}: {}",
                escape_html(&r.control),
                r.severity.as_str(),
                if r.status == Status::Error {
                    ", error"
                } else {
                    ""
                },
                escape_html(&r.title),
                escape_html(&r.message)
            );
        }
        out.push_str("\n</details>\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_pipes_and_html() {
        assert_eq!(
            escape_cell("a|b <script>&\"x\"\nnext"),
            "a\\|b &lt;script&gt;&amp;&quot;x&quot; next"
        );
    }
}
