//! JUnit XML (built with quick-junit): `<testsuites name="muster audit">`, a `<testsuite>`
//! per host, a `<testcase classname=POLICY name="CONTROL — TITLE">` per control.
//!
//! - fail → `<failure message=MESSAGE type=SEVERITY>` with the observed/expected evidence as text;
//! - error → `<error>`; an unreachable host (or one whose audit stopped) → one `connect`
//!   (or `audit`) testcase with an `<error>`;
//! - skip → `<skipped message=REASON>`; waived → `<skipped message="waived: REASON (owner …)">`;
//! - pass and warn → a passing testcase (JUnit has no warning: a warn carries its message in
//!   `<system-out>`).
//!
//! No durations nor timestamps are written (an audit times the fleet, not each control).

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::Value;

use crate::policy::audit::ControlResult;
use crate::policy::checks::Status;
use crate::policy::report::AuditReport;

pub fn render(report: &AuditReport) -> String {
    let mut out = Report::new("muster audit");
    for h in &report.hosts {
        let mut suite = TestSuite::new(h.name.as_str());
        if !h.reachable || h.error.is_some() {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            let msg = h.error.clone().unwrap_or_else(|| "unreachable".into());
            st.set_message(msg.as_str());
            st.set_type(if h.reachable { "error" } else { "unreachable" });
            let mut tc = TestCase::new(if h.reachable { "audit" } else { "connect" }, st);
            tc.set_classname("muster");
            suite.add_test_case(tc);
        }
        for r in &h.results {
            suite.add_test_case(case(r));
        }
        out.add_test_suite(suite);
    }
    out.to_string().unwrap_or_default()
}

fn case(r: &ControlResult) -> TestCase {
    let status = match r.status {
        Status::Pass | Status::Warn => TestCaseStatus::success(),
        Status::Fail => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(r.message.as_str());
            st.set_type(r.severity.as_str());
            st.set_description(evidence(r));
            st
        }
        Status::Error => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_message(r.message.as_str());
            st.set_type("error");
            st
        }
        Status::Skip => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(r.message.as_str());
            st
        }
        Status::Waived => {
            let mut st = TestCaseStatus::skipped();
            let w = r.waiver.as_ref().unwrap_or(&Value::Null);
            let reason = w["reason"].as_str().unwrap_or("");
            let mut msg = format!("waived: {reason}");
            if let Some(owner) = w["owner"].as_str() {
                msg.push_str(&format!(" (owner {owner})"));
            }
            st.set_message(msg);
            st.set_type("waived");
            st.set_description(format!("{}\n{}", r.message, evidence(r)));
            st
        }
    };
    let mut tc = TestCase::new(format!("{} — {}", r.control, r.title), status);
    tc.set_classname(r.policy.as_str());
    if r.status == Status::Warn {
        tc.set_system_out(format!("warn: {}\n{}", r.message, evidence(r)));
    }
    tc
}

fn evidence(r: &ControlResult) -> String {
    let mut s = String::new();
    if !r.observed.is_null() {
        s.push_str(&format!(
            "observed: {}\n",
            serde_json::to_string(&r.observed).unwrap_or_default()
        ));
    }
    if !r.expected.is_null() {
        s.push_str(&format!(
            "expected: {}\n",
            serde_json::to_string(&r.expected).unwrap_or_default()
        ));
    }
    s
}
