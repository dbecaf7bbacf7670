//! Audits against the real fleet: verdicts, the Audit JSON contract (validated against the
//! schema in the repo), waivers, the round-trip budget, remediation, and bad input.

mod fleet;

use fleet::show;

use std::path::{Path, PathBuf};
use std::process::Output;

use fleet::Fleet;
use serde_json::Value;

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

fn muster(fleet: &Fleet, args: &[&str]) -> Output {
    fleet.run(args)
}

fn schema_check(report: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/audit-v1.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match the schema: {errors:#?}"
    );
}

fn status_of(report: &Value, host: &str, control: &str) -> String {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == host)
        .unwrap()["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["control"] == control)
        .unwrap_or_else(|| panic!("no {control} for {host}"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn verdicts_json_contract_waivers_and_round_trips() {
    let fleet = Fleet::debian(2);
    assert!(fleet
        .exec_on(
            "host2",
            "chmod 0644 /etc/shadow && printf 'Authorised use only\\n' > /etc/motd"
        )
        .status
        .success());
    let policy = data("policies/generic.yml");
    let out = muster(
        &fleet,
        &["-v", "audit", policy.to_str().unwrap(), "--format", "json"],
    );
    let text = show(&out);
    // host1: marker missing (fail, medium); host2 also shadow-perms (fail, high).
    assert_eq!(out.status.code(), Some(2), "{text}");
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    schema_check(&report);
    let expect = [
        ("host1", "shadow-perms", "pass"),
        ("host2", "shadow-perms", "fail"),
        ("host1", "ssh-root", "pass"),
        ("host1", "no-telnetd", "pass"),
        ("host1", "openssh-installed", "pass"),
        ("host1", "not-on-mac", "skip"),
        ("host1", "motd", "fail"),
        ("host2", "motd", "pass"),
        ("host1", "marker", "fail"),
        ("host2", "marker", "fail"),
    ];
    for (h, c, s) in expect {
        assert_eq!(status_of(&report, h, c), s, "{h} {c}: {text}");
    }
    let h2 = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "host2")
        .unwrap();
    let shadow = h2["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["control"] == "shadow-perms")
        .unwrap();
    assert_eq!(shadow["observed"]["mode"], "0644");
    assert!(
        shadow["message"]
            .as_str()
            .unwrap()
            .contains("wider than 0640"),
        "{shadow}"
    );
    assert_eq!(report["summary"]["hosts"], 2);
    // The round-trip budget: facts + one probe script, plus one plan for the module check.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("host1: 3 exec round trips after connect"),
        "{stderr}"
    );
    // Text report: the matrix and the failing evidence.
    let t = muster(&fleet, &["audit", policy.to_str().unwrap()]);
    let tt = String::from_utf8_lossy(&t.stdout);
    assert!(
        tt.contains("host2 fail shadow-perms (high): /etc/shadow: mode 0644 is wider than 0640"),
        "{tt}"
    );
    assert!(tt.contains("Fleet: 2 hosts, 0 unreachable"), "{tt}");

    // A waiver turns host2's failure into waived (evidence kept); an expired one does not.
    let w = fleet.dir().join("waivers.yml");
    std::fs::write(&w, "- control: shadow-perms\n  hosts: \"host2\"\n  reason: legacy app reads shadow\n  owner: secops@example.com\n  expires: 2999-12-31\n- control: marker\n  hosts: \"*\"\n  reason: old exception\n  expires: 2020-01-01\n").unwrap();
    let out = muster(
        &fleet,
        &[
            "audit",
            policy.to_str().unwrap(),
            "--format",
            "json",
            "--waivers",
            w.to_str().unwrap(),
        ],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema_check(&report);
    assert_eq!(status_of(&report, "host2", "shadow-perms"), "waived");
    assert_eq!(
        status_of(&report, "host2", "marker"),
        "fail",
        "an expired waiver must not apply"
    );
    let waived = h_result(&report, "host2", "shadow-perms");
    assert_eq!(waived["observed"]["mode"], "0644");
    assert_eq!(waived["waiver"]["original_status"], "fail");
    assert_eq!(report["expired_waivers"][0]["control"], "marker");
    // --fail-on high: the remaining failures are medium/low → exit 0.
    let out = muster(
        &fleet,
        &[
            "audit",
            policy.to_str().unwrap(),
            "--waivers",
            w.to_str().unwrap(),
            "--fail-on",
            "high",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

fn h_result<'a>(report: &'a Value, host: &str, control: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == host)
        .unwrap()["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["control"] == control)
        .unwrap()
}

#[test]
fn remediation_fixes_then_changes_nothing() {
    let fleet = Fleet::debian(1);
    let policy = data("policies/generic.yml");
    let p = policy.to_str().unwrap();
    let check = muster(&fleet, &["remediate", p, "--check"]);
    assert!(
        String::from_utf8_lossy(&check.stdout)
            .contains("host1 marker: fail — would run its remediation"),
        "{}",
        show(&check)
    );
    assert!(
        fleet.upper_file("host1", "/etc/muster-marker").is_none(),
        "check mode wrote the marker"
    );
    // The audit after remediation as JSON on stdout (the account on stderr) and as JUnit.
    let junit = fleet.dir().join("after.xml");
    let out = muster(
        &fleet,
        &[
            "remediate",
            p,
            "--format",
            "json",
            "-o",
            &format!("junit={}", junit.display()),
        ],
    );
    let text = show(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("host1 marker: fail → pass"), "{text}");
    assert!(err.contains("host1 motd: fail → pass"), "{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
    let after: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(status_of(&after, "host1", "marker"), "pass", "{after}");
    assert_eq!(status_of(&after, "host1", "motd"), "pass", "{after}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuite name=\"host1\""), "{xml}");
    assert!(
        !xml.contains("<failure"),
        "nothing fails after remediation: {xml}"
    );
    assert_eq!(
        fleet.upper_file("host1", "/etc/muster-marker").as_deref(),
        Some(&b"audited\n"[..])
    );
    let again = muster(&fleet, &["remediate", p]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to remediate"),
        "{}",
        show(&again)
    );
    assert_eq!(again.status.code(), Some(0));
}

#[test]
fn missing_commands_are_errors_and_bad_input_is_refused() {
    let fleet = Fleet::debian(1);
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("p.yml");
    std::fs::write(&pol, "name: t\ncontrols:\n  - id: sb\n    title: secure boot\n    check:\n      command: { cmd: mokutil-not-installed --sb-state, stdout: enabled }\n").unwrap();
    let out = muster(
        &fleet,
        &["audit", pol.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status_of(&report, "host1", "sb"), "error");
    assert!(h_result(&report, "host1", "sb")["message"]
        .as_str()
        .unwrap()
        .contains("not available"));

    let cases: &[(&str, &str, &str)] = &[
        ("unknown check kind", "name: t\ncontrols:\n  - id: a\n    check:\n      firewal: {}\n", ":5:7"),
        ("bad severity", "name: t\ncontrols:\n  - id: a\n    severity: urgent\n    check:\n      file: {path: /x}\n", ":4:15"),
        ("unknown option", "name: t\ncontrols:\n  - id: a\n    check:\n      file: {path: /x, colour: red}\n", ":5:7"),
        ("no controls", "name: t\n", ":1:1"),
        ("duplicate id", "name: t\ncontrols:\n  - id: a\n    check: {file: {path: /x}}\n  - id: a\n    check: {file: {path: /y}}\n", ":5:5"),
        ("bad remediation task", "name: t\ncontrols:\n  - id: a\n    check: {file: {path: /x}}\n    remediate:\n      - copyy: {dest: /x}\n", ":6:9"),
    ];
    for (what, text, at) in cases {
        std::fs::write(&pol, text).unwrap();
        let out = muster(&fleet, &["audit", pol.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", show(&out));
        assert!(
            err.contains(at) && err.contains('^'),
            "{what}: expected {at}: {err}"
        );
    }
    std::fs::write(
        &pol,
        "name: t\ncontrols:\n  - id: a\n    check: {file: {path: /x}}\n",
    )
    .unwrap();
    let w = dir.path().join("w.yml");
    std::fs::write(&w, "- control: a\n  reason: r\n  expires: someday\n").unwrap();
    let out = muster(
        &fleet,
        &[
            "audit",
            pol.to_str().unwrap(),
            "--waivers",
            w.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("w.yml:3:12"),
        "{}",
        show(&out)
    );
}
