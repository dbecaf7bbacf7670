//! Reports of playbook runs against the real fleet: `muster check --format junit` of a
//! drifted fleet marks exactly the drifted tasks as failures (with their diffs), and one run
//! writes Markdown, JSON Lines and text at once with `-o FORMAT=PATH`. Audit-only formats are
//! refused before any host is contacted.

mod fleet;

use fleet::show;

use std::collections::BTreeSet;

use fleet::junit::parse_junit;
use fleet::Fleet;
use serde_json::Value;

const PLAYBOOK: &str = r#"- name: baseline
  hosts: all
  gather_facts: false
  tasks:
    - name: motd
      copy:
        dest: /etc/motd
        content: "Authorised use only\n"
        mode: "0644"
    - name: app dir
      file:
        path: /opt/app
        state: directory
        mode: "0755"
    - name: issue.net banner
      lineinfile:
        path: /etc/issue.net
        line: Authorised use only
        create: true
    - name: kernel
      command: uname -r
      changed_when: false
    - name: never here
      command: /bin/false
      when: inventory_hostname == "nowhere"
"#;

#[test]
fn check_junit_marks_exactly_the_drifted_tasks_and_other_formats_agree() {
    let fleet = Fleet::debian(3);
    let pb = fleet.dir().join("site.yml");
    std::fs::write(&pb, PLAYBOOK).unwrap();
    let pb = pb.to_str().unwrap();
    let out = fleet.run(&["apply", pb]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Drift: host2's motd edited by hand, host3's app dir opened up.
    assert!(fleet
        .exec_on("host2", "echo 'Welcome, hackers' > /etc/motd")
        .status
        .success());
    assert!(fleet
        .exec_on("host3", "chmod 0777 /opt/app")
        .status
        .success());

    let dir = fleet.dir().join("reports");
    std::fs::create_dir_all(&dir).unwrap();
    let md = dir.join("check.md");
    let jsonl = dir.join("check.jsonl");
    let txt = dir.join("check.txt");
    let out = fleet.run(&[
        "check",
        pb,
        "--format",
        "junit",
        "-o",
        &format!("markdown={}", md.display()),
        "-o",
        &format!("json={}", jsonl.display()),
        "-o",
        &format!("text={}", txt.display()),
    ]);
    let text = show(&out);
    assert_eq!(out.status.code(), Some(2), "drift: {text}");
    let xml = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        xml.starts_with("<?xml"),
        "only the JUnit document on stdout: {text}"
    );

    let (root, suites) = parse_junit(&xml);
    assert_eq!(root["name"], "muster check");
    let hosts: BTreeSet<&str> = suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(hosts, BTreeSet::from(["host1", "host2", "host3"]));
    let failures: BTreeSet<(String, String)> = suites
        .iter()
        .flat_map(|s| s.cases.iter().map(move |c| (s, c)))
        .filter(|(_, c)| c.outcome == "failure")
        .map(|(s, c)| (s.name.clone(), c.name.clone()))
        .collect();
    assert_eq!(
        failures,
        BTreeSet::from([
            ("host2".to_string(), "motd".to_string()),
            ("host3".to_string(), "app dir".to_string()),
        ]),
        "{xml}"
    );
    for s in &suites {
        assert_eq!(s.cases.len(), 5, "a testcase per task on {}: {xml}", s.name);
        let skipped: Vec<&str> = s
            .cases
            .iter()
            .filter(|c| c.outcome == "skipped")
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(skipped, ["never here"], "{xml}");
        for c in &s.cases {
            assert_eq!(c.classname, "baseline");
            if c.outcome == "failure" {
                assert_eq!(c.ty, "drift");
                assert!(c.message.starts_with("would change: "), "{}", c.message);
            }
        }
    }
    let motd = suites
        .iter()
        .find(|s| s.name == "host2")
        .unwrap()
        .cases
        .iter()
        .find(|c| c.name == "motd")
        .unwrap();
    assert!(motd.message.contains("content"), "{}", motd.message);
    assert!(motd.text.contains("-Welcome, hackers"), "{}", motd.text);
    assert!(motd.text.contains("+Authorised use only"), "{}", motd.text);
    let app = suites
        .iter()
        .find(|s| s.name == "host3")
        .unwrap()
        .cases
        .iter()
        .find(|c| c.name == "app dir")
        .unwrap();
    assert!(
        app.text.contains("0777") && app.text.contains("0755"),
        "{}",
        app.text
    );

    // Markdown: the drifted hosts in details, with the diff.
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.starts_with("## muster check: 2 of 3 hosts would change\n"),
        "{md}"
    );
    assert_eq!(md.matches("<details>").count(), 2, "{md}");
    assert!(md.contains("```diff\n"), "{md}");
    assert!(md.contains("+Authorised use only"), "{md}");

    // JSON Lines: every line an event; the host results agree with the JUnit failures.
    let events: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let changed: BTreeSet<(String, String)> = events
        .iter()
        .filter(|e| e["event"] == "host_result" && e["status"] == "changed")
        .map(|e| {
            assert_eq!(e["planned"], true, "{e}");
            (
                e["host"].as_str().unwrap().to_string(),
                e["task"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(changed, failures);
    let recap = events.last().unwrap();
    assert_eq!(recap["event"], "recap");
    assert_eq!(recap["check"], true);

    // Text: the Ansible-style log with diffs, no colour codes.
    let txt = std::fs::read_to_string(&txt).unwrap();
    assert!(
        txt.contains("PLAY RECAP (check mode: nothing was changed)"),
        "{txt}"
    );
    assert!(txt.contains("+Authorised use only"), "{txt}");
    assert!(!txt.contains('\x1b'), "{txt}");

    // Nothing was changed by the check.
    assert_eq!(
        fleet.upper_file("host2", "/etc/motd").as_deref(),
        Some(&b"Welcome, hackers\n"[..])
    );

    // An in-sync fleet: no failures, exit 0.
    let out = fleet.run(&["apply", pb, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = fleet.run(&["check", pb, "--format", "junit"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (_, suites) = parse_junit(&String::from_utf8_lossy(&out.stdout));
    assert!(suites
        .iter()
        .flat_map(|s| &s.cases)
        .all(|c| c.outcome.is_empty() || c.outcome == "skipped"));
}

#[test]
fn audit_formats_are_refused_for_runs_before_any_host_is_contacted() {
    let fleet = Fleet::debian(1);
    let pb = fleet.dir().join("site.yml");
    std::fs::write(&pb, PLAYBOOK).unwrap();
    let pb = pb.to_str().unwrap();
    for args in [
        vec!["check", pb, "--format", "sarif"],
        vec!["apply", pb, "-o", "html=x.html"],
        vec!["apply", pb, "-o", "junit"],
    ] {
        let out = fleet.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", show(&out));
        assert!(
            err.contains("for audits") || err.contains("expected FORMAT=PATH"),
            "{err}"
        );
        assert!(out.stdout.is_empty(), "{}", show(&out));
    }
    assert!(
        fleet.upper_file("host1", "/etc/motd").is_none(),
        "nothing ran"
    );
}
