//! Audit report formats against the real fleet: one audit run writes json, junit, sarif,
//! markdown, nagios and prometheus at once (`-o FORMAT=PATH`, text on stdout); each file is
//! parsed back (quick-xml for JUnit, serde-sarif for SARIF) and checked against the JSON
//! summary. Then the Nagios plugin exit codes (warn only → 1, fail → 2, unreachable → 3),
//! and unknown formats refused.

mod fleet;

use fleet::show;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use fleet::junit::parse_junit;
use fleet::reports::{markdown_outline, prom_line};
use fleet::Fleet;
use serde_json::Value;
use serde_sarif::sarif::Sarif;

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

fn muster(fleet: &Fleet, args: &[&str]) -> Output {
    fleet
        .muster()
        .arg("-i")
        .arg(fleet.inventory())
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .args(args)
        .output()
        .expect("run muster")
}

// ---- Nagios ----

/// Checks the line's shape and returns (state, perfdata).
fn parse_nagios(text: &str) -> (String, BTreeMap<String, String>) {
    assert_eq!(text.lines().count(), 1, "exactly one line: {text:?}");
    let line = text.trim_end_matches('\n');
    let re = regex::Regex::new(
        r"^MUSTER (OK|WARNING|CRITICAL|UNKNOWN) - (\d+) of (\d+) controls failing on (\d+) hosts?(, [^|]+)? \| (.+)$",
    )
    .unwrap();
    let caps = re
        .captures(line)
        .unwrap_or_else(|| panic!("not a nagios line: {line}"));
    let mut perf = BTreeMap::new();
    for kv in caps[6].split(' ') {
        let (k, v) = kv
            .split_once('=')
            .unwrap_or_else(|| panic!("perfdata {kv}"));
        perf.insert(k.to_string(), v.to_string());
    }
    for k in [
        "pass",
        "warn",
        "fail",
        "error",
        "skip",
        "waived",
        "hosts",
        "unreachable",
        "score",
    ] {
        assert!(perf.contains_key(k), "perfdata lacks {k}: {line}");
    }
    assert!(perf["score"].ends_with(";;;0;100"), "{line}");
    assert_eq!(caps[2], perf["fail"], "{line}");
    (caps[1].to_string(), perf)
}

fn count(v: &Value, k: &str) -> usize {
    v["summary"][k].as_u64().unwrap() as usize
}

#[test]
fn one_audit_writes_every_format_and_each_parses_back() {
    let fleet = Fleet::debian(2);
    assert!(fleet
        .exec_on(
            "host2",
            "chmod 0644 /etc/shadow && printf 'Authorised use only\\n' > /etc/motd"
        )
        .status
        .success());
    let policy = data("policies/generic.yml");
    let dir = fleet.dir().join("reports");
    std::fs::create_dir_all(&dir).unwrap();
    let path = |f: &str| dir.join(f);
    let formats = [
        ("json", "audit.json"),
        ("junit", "audit.xml"),
        ("sarif", "audit.sarif"),
        ("markdown", "audit.md"),
        ("nagios", "audit.nagios"),
        ("prometheus", "muster.prom"),
    ];
    let mut args: Vec<String> = vec!["audit".into(), policy.to_str().unwrap().into()];
    for (f, p) in formats {
        args.push("-o".into());
        args.push(format!("{f}={}", path(p).display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = muster(&fleet, &args);
    let text = show(&out);
    // The audit's own exit code (fails at low and above): `-o nagios` does not change it.
    assert_eq!(out.status.code(), Some(2), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Fleet: 2 hosts, 0 unreachable"), "{text}");

    let read =
        |p: &str| std::fs::read_to_string(path(p)).unwrap_or_else(|e| panic!("{p}: {e}\n{text}"));
    let json: Value = serde_json::from_str(&read("audit.json")).expect("json report");
    assert_eq!(json["schema"], "muster.audit/v1");
    let hosts: Vec<&Value> = json["hosts"].as_array().unwrap().iter().collect();
    assert_eq!(hosts.len(), 2);
    let (pass, warn, fail, error, skip, waived) = (
        count(&json, "pass"),
        count(&json, "warn"),
        count(&json, "fail"),
        count(&json, "error"),
        count(&json, "skip"),
        count(&json, "waived"),
    );
    assert!(
        fail >= 3,
        "host1 motd+marker, host2 shadow+marker fail: {json}"
    );
    let total = pass + warn + fail + error + skip + waived;
    let controls: Vec<String> = hosts[0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["control"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(controls.len(), 7, "{json}");

    // JUnit: a suite per host, a testcase per control; failure/skipped counts = the summary's.
    let xml = read("audit.xml");
    let (root, suites) = parse_junit(&xml);
    assert_eq!(
        root.get("name").map(String::as_str),
        Some("muster audit"),
        "{xml}"
    );
    assert_eq!(
        suites.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["host1", "host2"],
        "{xml}"
    );
    let mut failures = 0;
    let mut skipped = 0;
    let mut errors = 0;
    for s in &suites {
        assert_eq!(s.cases.len(), controls.len(), "{}: {xml}", s.name);
        assert_eq!(
            s.attrs.get("tests").map(String::as_str),
            Some(controls.len().to_string().as_str()),
            "{xml}"
        );
        for (c, id) in s.cases.iter().zip(&controls) {
            assert_eq!(c.classname, "generic-checks", "{xml}");
            assert!(
                c.name.starts_with(&format!("{id} — ")),
                "{} vs {id}",
                c.name
            );
            match c.outcome.as_str() {
                "failure" => {
                    failures += 1;
                    assert!(!c.message.is_empty() && !c.ty.is_empty(), "{c:?}");
                }
                "skipped" => skipped += 1,
                "error" => errors += 1,
                _ => {}
            }
        }
        assert!(
            !s.attrs.contains_key("time") || s.attrs["time"] == "0",
            "{xml}"
        );
    }
    assert_eq!(failures, fail, "{xml}");
    assert_eq!(skipped, skip + waived, "{xml}");
    assert_eq!(errors, error, "{xml}");
    let shadow = suites[1]
        .cases
        .iter()
        .find(|c| c.name.starts_with("shadow-perms"))
        .unwrap();
    assert_eq!(shadow.outcome, "failure");
    assert_eq!(shadow.ty, "high");
    assert!(shadow.message.contains("wider than 0640"), "{shadow:?}");
    assert!(
        shadow.text.contains("observed:") && shadow.text.contains("0644"),
        "{shadow:?}"
    );
    assert_eq!(
        suites[0]
            .cases
            .iter()
            .find(|c| c.name.starts_with("not-on-mac"))
            .unwrap()
            .outcome,
        "skipped"
    );

    // SARIF 2.1.0, deserialized with serde-sarif.
    let sarif_text = read("audit.sarif");
    let sarif: Sarif = serde_json::from_str(&sarif_text).expect("SARIF 2.1.0");
    assert_eq!(sarif.version, Value::from("2.1.0"));
    assert_eq!(sarif.runs.len(), 1);
    let run = &sarif.runs[0];
    assert_eq!(run.tool.driver.name, "muster");
    let rules = run.tool.driver.rules.as_ref().expect("rules");
    let rule_ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        rule_ids,
        controls.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for r in rules {
        let sev = r
            .properties
            .as_ref()
            .and_then(|p| p.additional_properties.get("security-severity"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{}: no security-severity", r.id));
        assert!(sev.parse::<f64>().is_ok(), "{sev}");
        assert!(r.short_description.is_some(), "{}", r.id);
    }
    let shadow_rule = rules.iter().find(|r| r.id == "shadow-perms").unwrap();
    assert_eq!(
        shadow_rule
            .properties
            .as_ref()
            .unwrap()
            .additional_properties["security-severity"],
        "8.0"
    );
    let results = run.results.as_ref().expect("results");
    assert_eq!(results.len(), fail + warn, "{sarif_text}");
    let mut expected_findings = BTreeSet::new();
    for h in &hosts {
        for r in h["results"].as_array().unwrap() {
            if matches!(r["status"].as_str(), Some("fail" | "warn")) {
                expected_findings.insert((
                    h["name"].as_str().unwrap().to_string(),
                    r["control"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    let mut found = BTreeSet::new();
    for r in results {
        let rule = r.rule_id.clone().expect("ruleId");
        let msg = r.message.text.clone().unwrap_or_default();
        let host = r.properties.as_ref().unwrap().additional_properties["host"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(msg.contains(&format!("(host {host})")), "{msg}");
        let loc = &r.locations.as_ref().expect("a location")[0];
        let phys = loc.physical_location.as_ref().unwrap();
        let uri = phys
            .artifact_location
            .as_ref()
            .unwrap()
            .uri
            .clone()
            .unwrap();
        assert!(uri.ends_with("generic.yml"), "{uri}");
        let line = phys.region.as_ref().unwrap().start_line.unwrap();
        assert!(line > 1, "{rule} at line {line}");
        found.insert((host, rule));
    }
    assert_eq!(found, expected_findings, "{sarif_text}");
    // The control's line in the policy file: shadow-perms is the first control.
    let policy_text = std::fs::read_to_string(&policy).unwrap();
    let shadow_line = policy_text
        .lines()
        .position(|l| l.contains("id: shadow-perms"))
        .unwrap() as i64
        + 1;
    let shadow_result = results
        .iter()
        .find(|r| r.rule_id.as_deref() == Some("shadow-perms"))
        .unwrap();
    let sl = shadow_result.locations.as_ref().unwrap()[0]
        .physical_location
        .as_ref()
        .unwrap()
        .region
        .as_ref()
        .unwrap()
        .start_line
        .unwrap();
    assert!(
        (shadow_line - 1..=shadow_line).contains(&sl),
        "shadow-perms at {sl}, the file has it at {shadow_line}"
    );

    // Markdown: details blocks for failing hosts only, escaped table.
    let md = read("audit.md");
    assert!(md.starts_with("## muster audit: score "), "{md}");
    assert!(
        md.contains("| Host | Score | Pass | Warn | Fail | Error |"),
        "{md}"
    );
    for h in &hosts {
        let name = h["name"].as_str().unwrap();
        let n = h["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| matches!(r["status"].as_str(), Some("fail" | "error")))
            .count();
        let block = format!("<details><summary>{name} — {n} failing</summary>");
        assert_eq!(md.contains(&block), n > 0, "{block}\n{md}");
        assert!(md.contains(&format!("| {name} | ")), "{md}");
    }
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count()
    );
    assert!(md.contains("**shadow-perms** (high)"), "{md}");
    // As a Markdown renderer reads it (CommonMark, GitHub tables): one level-2 heading with
    // the score, and a table of a header and a row per host whose cells are the report's.
    let outline = markdown_outline(&md);
    assert_eq!(outline.headings.len(), 1, "{outline:?}");
    assert_eq!(outline.headings[0].0, 2, "{outline:?}");
    assert!(
        outline.headings[0].1.starts_with("muster audit: score "),
        "{outline:?}"
    );
    let table = &outline.tables[0];
    assert_eq!(table[0][..3], ["Host", "Score", "Pass"], "{table:?}");
    assert_eq!(table.len(), hosts.len() + 1, "{table:?}");
    for (row, h) in table[1..].iter().zip(&hosts) {
        assert_eq!(
            row.len(),
            table[0].len(),
            "every row as wide as the header: {row:?}"
        );
        assert_eq!(row[0], h["name"].as_str().unwrap(), "{row:?}");
    }

    // Prometheus: every line parses; each host has a score and a reachability.
    let prom = read("muster.prom");
    let mut samples = Vec::new();
    for line in prom.lines() {
        if let Some(s) = prom_line(line) {
            samples.push(s);
        } else if !line.is_empty() {
            assert!(
                line.starts_with("# HELP muster_") || line.starts_with("# TYPE muster_"),
                "{line}"
            );
        }
    }
    let statuses: Vec<_> = samples
        .iter()
        .filter(|(n, _, _)| n == "muster_control_status")
        .collect();
    assert_eq!(statuses.len(), total, "{prom}");
    for (_, labels, _) in &statuses {
        for k in ["host", "control", "severity", "policy"] {
            assert!(labels.contains_key(k), "{labels:?}");
        }
    }
    let fails = statuses.iter().filter(|(_, _, v)| *v == 2.0).count();
    assert_eq!(fails, fail, "{prom}");
    for h in &hosts {
        let name = h["name"].as_str().unwrap();
        let score = samples
            .iter()
            .find(|(n, l, _)| n == "muster_host_score" && l["host"] == name)
            .unwrap_or_else(|| panic!("no score for {name}: {prom}"));
        assert!(
            (score.2 - h["score"].as_f64().unwrap()).abs() < 0.01,
            "{name}: {prom}"
        );
        assert!(samples
            .iter()
            .any(|(n, l, v)| n == "muster_host_reachable" && l["host"] == name && *v == 1.0));
    }
    assert!(samples.iter().any(|(n, _, _)| n == "muster_fleet_score"));
    let ts = samples
        .iter()
        .find(|(n, _, _)| n == "muster_audit_timestamp_seconds")
        .unwrap()
        .2;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - ts).abs() < 600.0, "timestamp {ts} vs now {now}");

    // Nagios, written with -o: the line, CRITICAL (fails, everything reached).
    let (state, perf) = parse_nagios(&read("audit.nagios"));
    assert_eq!(state, "CRITICAL");
    assert_eq!(perf["pass"], pass.to_string());
    assert_eq!(perf["hosts"], "2");
    assert_eq!(perf["unreachable"], "0");

    // `--format nagios` on stdout: the plugin exit code (a fail → 2 CRITICAL).
    let out = muster(
        &fleet,
        &["audit", policy.to_str().unwrap(), "--format", "nagios"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let (state, _) = parse_nagios(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(state, "CRITICAL");

    // Any mix: --format junit on stdout with -o markdown.
    let md2 = path("again.md");
    let out = muster(
        &fleet,
        &[
            "audit",
            policy.to_str().unwrap(),
            "--format",
            "junit",
            "-o",
            &format!("markdown={}", md2.display()),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let (_, suites) = parse_junit(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(suites.len(), 2);
    assert!(std::fs::read_to_string(&md2).unwrap().contains("<details>"));
}

#[test]
fn nagios_exit_codes_warn_fail_unreachable_and_unknown_formats_refused() {
    let fleet = Fleet::debian(2);
    for h in ["host1", "host2"] {
        let o = fleet.exec_on(
            h,
            "mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/upgrade-stamp",
        );
        assert!(o.status.success(), "{o:?}");
    }
    // A control that warns on every host (last update today, warn at 0 days), and one that
    // passes.
    let warn_policy = fleet.dir().join("warn-only.yml");
    std::fs::write(
        &warn_policy,
        "name: warn-only\nversion: \"1\"\ncontrols:\n  - id: recent-updates\n    title: Packages were updated recently\n    severity: medium\n    check:\n      updates: { days_since_update: { warn: 0, fail: 100000 } }\n  - id: openssh-installed\n    title: OpenSSH server is installed\n    severity: low\n    check:\n      package: { name: openssh-server }\n",
    )
    .unwrap();
    let wp = warn_policy.to_str().unwrap();

    // Warn only → 1 WARNING.
    let out = muster(&fleet, &["audit", wp, "--format", "nagios"]);
    let text = show(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let (state, perf) = parse_nagios(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(state, "WARNING", "{text}");
    assert_eq!(perf["warn"], "2", "{text}");
    assert_eq!(perf["fail"], "0", "{text}");

    // `-o nagios=PATH` writes the same line but keeps the audit's exit code (a warn: 0).
    let np = fleet.dir().join("warn.nagios");
    let out = muster(
        &fleet,
        &["audit", wp, "-o", &format!("nagios={}", np.display())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (state, _) = parse_nagios(&std::fs::read_to_string(&np).unwrap());
    assert_eq!(state, "WARNING");

    // SARIF carries warn results at level warning.
    let sp = fleet.dir().join("warn.sarif");
    let out = muster(
        &fleet,
        &["audit", wp, "-o", &format!("sarif={}", sp.display())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let sarif: Sarif = serde_json::from_str(&std::fs::read_to_string(&sp).unwrap()).unwrap();
    let results = sarif.runs[0].results.as_ref().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        assert_eq!(
            serde_json::to_value(r.level.as_ref().unwrap()).unwrap(),
            "warning"
        );
        assert_eq!(r.rule_id.as_deref(), Some("recent-updates"));
    }

    // A fail → 2 CRITICAL.
    assert!(fleet
        .exec_on("host2", "chmod 0644 /etc/shadow")
        .status
        .success());
    let generic = data("policies/generic.yml");
    let out = muster(
        &fleet,
        &["audit", generic.to_str().unwrap(), "--format", "nagios"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert_eq!(
        parse_nagios(&String::from_utf8_lossy(&out.stdout)).0,
        "CRITICAL"
    );

    let out = muster(&fleet, &["audit", wp, "--format", "yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("junit, markdown, sarif"),
        "{}",
        show(&out)
    );

    // An unreachable host → 3 UNKNOWN, whatever else failed or warned.
    fleet.stop("host2");
    let out = muster(&fleet, &["audit", wp, "--format", "nagios"]);
    let text = show(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    let (state, perf) = parse_nagios(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(state, "UNKNOWN", "{text}");
    assert_eq!(perf["unreachable"], "1", "{text}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 host unreachable"),
        "{text}"
    );

    // The other formats with an unreachable host: JUnit error testcase, prometheus reachable 0.
    let jp = fleet.dir().join("down.xml");
    let pp = fleet.dir().join("down.prom");
    let out = muster(
        &fleet,
        &[
            "audit",
            wp,
            "-o",
            &format!("junit={}", jp.display()),
            "-o",
            &format!("prometheus={}", pp.display()),
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let (_, suites) = parse_junit(&std::fs::read_to_string(&jp).unwrap());
    let down = suites.iter().find(|s| s.name == "host2").unwrap();
    assert_eq!(down.cases.len(), 1);
    assert_eq!(down.cases[0].outcome, "error");
    let prom = std::fs::read_to_string(&pp).unwrap();
    let samples: Vec<_> = prom.lines().filter_map(prom_line).collect();
    assert!(samples
        .iter()
        .any(|(n, l, v)| n == "muster_host_reachable" && l["host"] == "host2" && *v == 0.0));
    assert!(samples
        .iter()
        .any(|(n, l, v)| n == "muster_host_score" && l["host"] == "host2" && v.is_nan()));
}

#[test]
fn progress_bar_on_a_terminal_only() {
    let fleet = Fleet::debian(2);
    // A stalled host keeps the run going past the one-second threshold.
    fleet.sigstop("host2");
    let policy = data("policies/generic.yml");
    let args = format!(
        "{} -i {} --known-hosts {} --connect-timeout 2.5 audit {} --format nagios",
        env!("CARGO_BIN_EXE_muster"),
        fleet.inventory().display(),
        fleet.known_hosts().display(),
        policy.display()
    );
    // On a terminal (script(1) gives the run a pseudo-terminal): the bar is drawn, then cleared.
    let typescript = fleet.dir().join("typescript");
    let tty = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &args])
        .arg(&typescript)
        .env("HOME", fleet.home())
        .output()
        .expect("script(1) from util-linux");
    let seen = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    assert_eq!(tty.status.code(), Some(3), "{}", show(&tty));
    assert!(
        seen.contains("1/2 hosts"),
        "no progress bar on a terminal: {seen}"
    );
    assert!(seen.contains("MUSTER UNKNOWN"), "{seen}");
    // Piped: not a trace of it.
    let out = muster(
        &fleet,
        &[
            "--connect-timeout",
            "2.5",
            "audit",
            policy.to_str().unwrap(),
            "--format",
            "nagios",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let all = show(&out);
    assert!(!all.contains("hosts ·") && !all.contains('\x1b'), "{all}");
    fleet.sigcont("host2");
}
