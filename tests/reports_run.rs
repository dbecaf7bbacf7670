//! Reports of playbook runs against the real fleet: `muster check --format junit` of a
//! drifted fleet marks exactly the drifted tasks as failures (with their diffs), and the same
//! run writes every other format at once with `-o FORMAT=PATH` (Markdown, JSON Lines, text,
//! SARIF checked against its schema, Nagios, Prometheus, and HTML checked in headless
//! Chromium), each naming exactly the drifted tasks. The Nagios format's exit codes for runs.
//! Malformed outputs are refused before any host is contacted.

mod fleet;

use fleet::show;

use std::collections::BTreeSet;

use fleet::junit::parse_junit;
use fleet::reports::{assert_valid_sarif, headless, markdown_outline, prom_line, tags};
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
    let sarif_path = dir.join("check.sarif");
    let nagios_path = dir.join("check.nagios");
    let prom_path = dir.join("check.prom");
    let html_path = dir.join("check.html");
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
        "-o",
        &format!("sarif={}", sarif_path.display()),
        "-o",
        &format!("nagios={}", nagios_path.display()),
        "-o",
        &format!("prometheus={}", prom_path.display()),
        "-o",
        &format!("html={}", html_path.display()),
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
    // As a Markdown renderer reads it: the heading, the recap table (a row per host), and
    // the two diffs as `diff` code blocks, verbatim.
    let outline = markdown_outline(&md);
    assert_eq!(
        outline.headings,
        [(2, "muster check: 2 of 3 hosts would change".to_string())]
    );
    let table = &outline.tables[0];
    assert_eq!(table[0][0], "Host", "{table:?}");
    let hosts_in_table: Vec<&str> = table[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(hosts_in_table, ["host1", "host2", "host3"]);
    let diffs: Vec<&(String, String)> = outline
        .code
        .iter()
        .filter(|(lang, _)| lang == "diff")
        .collect();
    assert_eq!(diffs.len(), 2, "{outline:?}");
    assert!(
        diffs
            .iter()
            .any(|(_, d)| d.contains("-Welcome, hackers\n+Authorised use only\n")),
        "{diffs:?}"
    );

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

    // SARIF: valid 2.1.0; an error result per drifted host and task, at the task's line.
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif_path).unwrap()).unwrap();
    assert_valid_sarif(&sarif);
    let run = &sarif["runs"][0];
    assert_eq!(
        run["tool"]["driver"]["rules"].as_array().unwrap().len(),
        5,
        "{sarif}"
    );
    let results = run["results"].as_array().unwrap();
    let found: BTreeSet<(String, String)> = results
        .iter()
        .map(|r| {
            assert_eq!(r["level"], "error", "{r}");
            (
                r["properties"]["host"].as_str().unwrap().to_string(),
                r["ruleId"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(found, failures, "{sarif}");
    let motd = results.iter().find(|r| r["ruleId"] == "motd").unwrap();
    let loc = &motd["locations"][0]["physicalLocation"];
    assert!(
        loc["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("site.yml"),
        "{motd}"
    );
    assert_eq!(
        loc["region"]["startLine"], 5,
        "the motd task's line: {motd}"
    );
    assert!(
        motd["properties"]["diff"]
            .as_str()
            .unwrap()
            .contains("+Authorised use only"),
        "{motd}"
    );

    // Nagios: drift is CRITICAL, with perfdata.
    let nagios = std::fs::read_to_string(&nagios_path).unwrap();
    assert_eq!(nagios.lines().count(), 1, "{nagios}");
    assert!(
        nagios.starts_with("MUSTER CRITICAL - 2 of 3 hosts would change (2 tasks) | "),
        "{nagios}"
    );
    assert!(
        nagios.contains(" changed_hosts=2 ") && nagios.contains(" changed=2 "),
        "{nagios}"
    );

    // Prometheus: every line a comment or a sample; the drifted tasks coded 1, the rest 0,
    // the skipped task -1.
    let prom = std::fs::read_to_string(&prom_path).unwrap();
    // Every line a comment or a sample of the exposition format (names, escaped labels).
    let samples: Vec<_> = prom.lines().filter_map(prom_line).collect();
    assert!(!samples.is_empty(), "{prom}");
    let status = |host: &str, task: &str| {
        let head = format!(
            "muster_run_task_status{{host=\"{host}\",mode=\"check\",play=\"baseline\",task=\"{task}\"}} "
        );
        prom.lines()
            .find_map(|l| l.strip_prefix(head.as_str()))
            .unwrap_or_else(|| panic!("no {head}in\n{prom}"))
            .to_string()
    };
    assert_eq!(status("host2", "motd"), "1");
    assert_eq!(status("host3", "app dir"), "1");
    assert_eq!(status("host1", "motd"), "0");
    assert_eq!(status("host3", "motd"), "0");
    assert_eq!(status("host1", "never here"), "-1");
    assert!(
        prom.contains("muster_run_host_changed{host=\"host2\",mode=\"check\"} 1\n"),
        "{prom}"
    );
    assert!(
        prom.contains("muster_run_host_changed{host=\"host1\",mode=\"check\"} 0\n"),
        "{prom}"
    );

    // HTML: self-contained; in a real browser the default filter shows the two drifted hosts
    // and their drifted cells, and a link to host2's motd cell opens its diff.
    let html = std::fs::read_to_string(&html_path).unwrap();
    for external in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!html.contains(external), "external asset: {external}");
    }
    let page = format!("file://{}", html_path.display());
    let dom = String::from_utf8(headless(&page, &["--dump-dom"]).stdout).unwrap();
    let rows = tags(&dom, r#"<tr class="hostrow[^"]*" data-host="[^"]*""#);
    assert_eq!(rows.len(), 3, "{dom}");
    let hidden: Vec<&&str> = rows.iter().filter(|r| r.contains("hidden")).collect();
    assert_eq!(
        hidden.len(),
        1,
        "host1 (in sync) hidden by the default filter: {rows:?}"
    );
    assert!(hidden[0].contains("host1"), "{rows:?}");
    assert!(
        dom.contains("1 host has nothing with the selected statuses"),
        "{dom}"
    );
    assert_eq!(
        tags(&dom, r#"<th class="ctl[^"]*""#).len(),
        5,
        "a column per task"
    );
    assert_eq!(tags(&dom, r#"<a class="cell changed""#).len(), 2, "{dom}");
    assert!(dom.contains("check mode: nothing was changed"), "{dom}");
    let id = regex::Regex::new(
        r##"href="#(r\d+)" data-result="r\d+" title="host2 · motd: would change""##,
    )
    .unwrap()
    .captures(&dom)
    .unwrap_or_else(|| panic!("no host2 motd cell: {dom}"))[1]
        .to_string();
    let dom = String::from_utf8(headless(&format!("{page}#{id}"), &["--dump-dom"]).stdout).unwrap();
    let dialog = &dom[dom.find("<dialog").unwrap()..];
    let dialog = &dialog[..dialog.find("</dialog>").unwrap()];
    assert!(dialog.contains(" open"), "the dialog is open: {dialog}");
    assert!(
        dialog.contains("+Authorised use only") && dialog.contains("-Welcome, hackers"),
        "{dialog}"
    );
    let png = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("check-report.png");
    headless(
        &page,
        &[
            "--screenshot=".to_string() + png.to_str().unwrap(),
            "--window-size=1400,900".into(),
        ]
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    assert!(
        png.metadata().map(|m| m.len() > 10_000).unwrap_or(false),
        "screenshot"
    );

    // Nothing was changed by the check.
    assert_eq!(
        fleet.upper_file("host2", "/etc/motd").as_deref(),
        Some(&b"Welcome, hackers\n"[..])
    );

    // `--format nagios` sets the plugin exit code: drift is CRITICAL (2).
    let out = fleet.run(&["check", pb, "--format", "nagios"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("MUSTER CRITICAL - 2 of 3 hosts"));

    // An in-sync fleet: no failures, exit 0.
    let out = fleet.run(&["apply", pb, "--format", "nagios"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("MUSTER OK - 3 hosts, 2 changed (2 tasks) | "),
        "{}",
        show(&out)
    );
    let out = fleet.run(&["check", pb, "--format", "junit"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (_, suites) = parse_junit(&String::from_utf8_lossy(&out.stdout));
    assert!(suites
        .iter()
        .flat_map(|s| &s.cases)
        .all(|c| c.outcome.is_empty() || c.outcome == "skipped"));
    let out = fleet.run(&["check", pb, "--format", "nagios"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("MUSTER OK - 3 hosts in sync | "));

    // A host down: what it would change is unknown, so UNKNOWN (3), naming it.
    fleet.stop("host3");
    let out = fleet.run(&["check", pb, "--format", "nagios"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        line.starts_with("MUSTER UNKNOWN - 2 of 3 hosts in sync, 1 unreachable | "),
        "{line}"
    );
    assert!(line.contains("unreachable_hosts=1"), "{line}");
}

/// An apply whose task fails is CRITICAL in the Nagios format, with its exit code.
#[test]
fn nagios_apply_with_a_failed_task_is_critical() {
    let fleet = Fleet::debian(2);
    let pb = fleet.dir().join("fail.yml");
    std::fs::write(
        &pb,
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: breaks on host2\n      \
         command: /bin/false\n      when: inventory_hostname == 'host2'\n",
    )
    .unwrap();
    let out = fleet.run(&["apply", pb.to_str().unwrap(), "--format", "nagios"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.starts_with("MUSTER CRITICAL - 2 hosts, 0 changed (0 tasks), 1 failed | "),
        "{line}"
    );
    assert!(
        line.contains(" failed_hosts=1 ") && line.contains(" failed=1 "),
        "{line}"
    );
}

#[test]
fn malformed_outputs_are_refused_before_any_host_is_contacted() {
    let fleet = Fleet::debian(1);
    let pb = fleet.dir().join("site.yml");
    std::fs::write(&pb, PLAYBOOK).unwrap();
    let pb = pb.to_str().unwrap();
    for (args, why) in [
        (
            vec!["check", pb, "--format", "pdf"],
            "unknown report format `pdf`",
        ),
        (vec!["apply", pb, "-o", "html="], "the path is empty"),
        (vec!["apply", pb, "-o", "junit"], "expected FORMAT=PATH"),
    ] {
        let out = fleet.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", show(&out));
        assert!(err.contains(why), "{err}");
        assert!(out.stdout.is_empty(), "{}", show(&out));
    }
    assert!(
        fleet.upper_file("host1", "/etc/motd").is_none(),
        "nothing ran"
    );
}

/// Runs muster under script(1), so its standard output and error are a terminal: what the
/// terminal was sent, and the exit code.
fn on_a_terminal(fleet: &Fleet, env: &[(&str, &str)], args: &[&str]) -> (String, Option<i32>) {
    let mut line = format!(
        "{} -i {} --known-hosts {}",
        env!("CARGO_BIN_EXE_muster"),
        fleet.inventory().display(),
        fleet.known_hosts().display()
    );
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    let typescript = fleet.dir().join("typescript");
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-q", "-e", "-c", &line])
        .arg(&typescript)
        .env("HOME", fleet.home())
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("script(1) from util-linux");
    let seen = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    (seen, out.status.code())
}

/// Colours: `--color always` colours diffs and statuses even piped and with NO_COLOR set,
/// `never` never does, `auto` does on a terminal unless NO_COLOR is set, and never when
/// piped. Progress: a run whose standard output is not the text log on a terminal draws a
/// bar on a terminal (play, task, hosts reported), and nothing when piped.
#[test]
fn colors_and_progress_follow_the_flags_and_the_terminal() {
    let fleet = Fleet::debian(2);
    let pb = fleet.dir().join("site.yml");
    std::fs::write(&pb, PLAYBOOK).unwrap();
    let pb = pb.to_str().unwrap();
    assert_eq!(fleet.run(&["apply", pb]).status.code(), Some(0));
    assert!(fleet
        .exec_on(
            "host2",
            "echo 'Welcome, hackers' > /etc/motd && chmod 0644 /etc/shadow"
        )
        .status
        .success());
    let green_add = "\x1b[32m+Authorised use only";
    let red_del = "\x1b[31m-Welcome, hackers";
    let piped = |env: &[(&str, &str)], args: &[&str]| {
        let mut c = fleet.muster();
        c.env_remove("NO_COLOR")
            .arg("-i")
            .arg(fleet.inventory())
            .arg("--known-hosts")
            .arg(fleet.known_hosts())
            .args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            show(&out),
        )
    };
    let (out, all) = piped(&[], &["check", pb, "--color", "always"]);
    assert!(out.contains(green_add) && out.contains(red_del), "{all}");
    let (out, all) = piped(&[("NO_COLOR", "1")], &["check", pb, "--color", "always"]);
    assert!(
        out.contains(green_add),
        "--color always beats NO_COLOR: {all}"
    );
    for args in [vec!["check", pb, "--color", "never"], vec!["check", pb]] {
        let (out, all) = piped(&[], &args);
        assert!(out.contains("+Authorised use only"), "{all}");
        assert!(!out.contains('\x1b'), "{args:?}: {all}");
    }
    let (seen, code) = on_a_terminal(&fleet, &[], &["check", pb]);
    assert_eq!(code, Some(2), "{seen}");
    assert!(seen.contains(green_add), "auto on a terminal: {seen}");
    let (seen, _) = on_a_terminal(&fleet, &[("NO_COLOR", "1")], &["check", pb]);
    assert!(seen.contains("+Authorised use only"), "{seen}");
    assert!(!seen.contains("\x1b[3"), "NO_COLOR on a terminal: {seen}");

    // The audit's text report: statuses coloured as asked.
    let policy =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/policies/generic.yml");
    let policy = policy.to_str().unwrap();
    let (out, all) = piped(&[], &["audit", policy, "--color", "always"]);
    assert!(out.contains("\x1b[31mfail"), "{all}");
    let (out, all) = piped(&[], &["audit", policy, "--color", "never"]);
    assert!(out.contains("fail") && !out.contains('\x1b'), "{all}");

    // Progress of a run that takes more than a second, JSON Lines on standard output.
    let slow = fleet.dir().join("slow.yml");
    std::fs::write(
        &slow,
        "- name: slowly\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: wait a while\n      \
         command: sleep 1.8\n      changed_when: false\n",
    )
    .unwrap();
    let slow = slow.to_str().unwrap();
    let (seen, code) = on_a_terminal(&fleet, &[], &["apply", slow, "--format", "json"]);
    assert_eq!(code, Some(0), "{seen}");
    assert!(
        seen.contains("slowly · TASK wait a while") && seen.contains("/2 hosts"),
        "no progress bar on a terminal: {seen}"
    );
    let (out, all) = piped(&[], &["apply", slow, "--format", "json"]);
    assert!(out.lines().all(|l| l.starts_with('{')), "{all}");
    assert!(
        !all.contains("TASK wait a while") && !all.contains('\x1b'),
        "{all}"
    );
}
