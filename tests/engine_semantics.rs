//! The engine's Ansible semantics, proven against the real fleet: tags, handlers,
//! block/rescue/always, loops, register, variable precedence, includes and roles, play
//! keywords, no_log, --diff, --format json and ansible.cfg. Ansible's documented behaviour is
//! the oracle; every test drives the real binary and looks at what a user would notice.

mod fleet;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use fleet::Fleet;
use serde_json::Value;

fn pb(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/playbooks/semantics")
        .join(name)
        .display()
        .to_string()
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/playbooks/semantics")
}

fn muster(fleet: &Fleet, args: &[&str]) -> Output {
    fleet
        .muster()
        .current_dir(dir())
        .arg(args[0])
        .arg("-i")
        .arg(fleet.inventory())
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .args(&args[1..])
        .output()
        .expect("run muster")
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The text recap line's numbers for a host.
fn recap(out: &Output, host: &str) -> BTreeMap<String, u64> {
    let text = stdout(out);
    let line = text
        .lines()
        .rev()
        .find(|l| l.split_whitespace().next() == Some(host) && l.contains("ok="))
        .unwrap_or_else(|| panic!("no recap for {host}:\n{}", show(out)));
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

/// Every line of `--format json` output, parsed (panics on a line that is not JSON).
fn events(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", show(out)))
        })
        .collect()
}

/// (host, task, status) of every host_result event, in order.
fn results(ev: &[Value]) -> Vec<(String, String, String)> {
    ev.iter()
        .filter(|e| e["event"] == "host_result")
        .map(|e| {
            (
                e["host"].as_str().unwrap().to_string(),
                e["task"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Names of the tasks that ran (had a non-skipped result) on a host.
fn ran_on(ev: &[Value], host: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (h, t, s) in results(ev) {
        if h == host && s != "skipped" && out.last() != Some(&t) {
            out.push(t);
        }
    }
    out
}

fn file(fleet: &Fleet, host: &str, path: &str) -> Option<String> {
    fleet
        .upper_file(host, path)
        .map(|b| String::from_utf8(b).unwrap())
}

fn tag_run(fleet: &Fleet, extra: &[&str]) -> Vec<String> {
    let p = pb("tags.yml");
    let mut args = vec!["apply", p.as_str(), "--format", "json"];
    args.extend_from_slice(extra);
    let o = muster(fleet, &args);
    assert_eq!(o.status.code(), Some(0), "{extra:?}: {}", show(&o));
    ran_on(&events(&o), "host1")
}

#[test]
fn tags_select_and_skip_as_ansible_does() {
    let fleet = Fleet::debian(1);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // No selection: everything but `never`; the include's tasks too.
    assert_eq!(
        tag_run(&fleet, &[]),
        s(&[
            "tagrole : t-role",
            "t-always",
            "t-untagged",
            "t-web",
            "t-inblock",
            "t-imported",
            "t-included-untagged",
            "t-included-inner"
        ])
    );
    // `always` runs with any selection; `never` only when one of its other tags is asked for.
    assert_eq!(tag_run(&fleet, &["-t", "web"]), s(&["t-always", "t-web"]));
    assert_eq!(
        tag_run(&fleet, &["--tags", "debugonly"]),
        s(&["t-always", "t-never"])
    );
    // Tags are inherited from blocks, imports and roles.
    assert_eq!(
        tag_run(&fleet, &["-t", "blk,imp,fromrole"]),
        s(&["tagrole : t-role", "t-always", "t-inblock", "t-imported"])
    );
    // A dynamic include's tags apply to the include only: its untagged tasks are not
    // selected, its tagged ones only when the include itself is selected too.
    assert_eq!(tag_run(&fleet, &["-t", "inc"]), s(&["t-always"]));
    assert_eq!(tag_run(&fleet, &["-t", "inner"]), s(&["t-always"]));
    assert_eq!(
        tag_run(&fleet, &["-t", "inc,inner"]),
        s(&["t-always", "t-included-inner"])
    );
    // ... unless given to its tasks with `apply:`.
    let o = muster(
        &fleet,
        &[
            "apply",
            &pb("tags_apply.yml"),
            "--format",
            "json",
            "-t",
            "applied",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(ran_on(&events(&o), "host1"), s(&["t-imported"]));
    // tagged / untagged (and `never` stays out of `tagged`).
    assert_eq!(
        tag_run(&fleet, &["-t", "tagged"]),
        s(&[
            "tagrole : t-role",
            "t-always",
            "t-web",
            "t-inblock",
            "t-imported",
            "t-included-inner"
        ])
    );
    assert_eq!(
        tag_run(&fleet, &["-t", "untagged"]),
        s(&["t-always", "t-untagged"])
    );
    // --skip-tags, also of `always` and `tagged`.
    assert_eq!(
        tag_run(&fleet, &["--skip-tags", "web,blk"]),
        s(&[
            "tagrole : t-role",
            "t-always",
            "t-untagged",
            "t-imported",
            "t-included-untagged",
            "t-included-inner"
        ])
    );
    assert_eq!(
        tag_run(&fleet, &["--skip-tags", "always,tagged"]),
        s(&["t-untagged"])
    );
    assert_eq!(
        tag_run(&fleet, &["--skip-tags", "untagged"]),
        s(&[
            "tagrole : t-role",
            "t-always",
            "t-web",
            "t-inblock",
            "t-imported",
            "t-included-inner"
        ])
    );
}

#[test]
fn handlers_run_once_where_notified_and_flush_mid_play() {
    let fleet = Fleet::debian(2);
    let o = muster(&fleet, &["apply", &pb("handlers.yml")]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    // Notified by two tasks (by name and by listen topic): once per flush, host1 only.
    assert_eq!(
        file(&fleet, "host1", "/etc/hlog_at_flush").as_deref(),
        Some("restart\nreload\n"),
        "{}",
        show(&o)
    );
    // Notified again after the flush: runs again at the end; the unchanged task's handler never.
    assert_eq!(
        file(&fleet, "host1", "/etc/hlog").as_deref(),
        Some("restart\nreload\nrestart\n")
    );
    assert_eq!(file(&fleet, "host2", "/etc/hlog"), None, "{}", show(&o));
    let text = stdout(&o);
    assert_eq!(text.matches("RUNNING HANDLER [restart app]").count(), 2);
    assert_eq!(text.matches("RUNNING HANDLER [reloader]").count(), 1);
    assert!(
        !text.contains("RUNNING HANDLER [nothing changed]"),
        "{text}"
    );
    // A second run changes nothing, so no handler runs.
    let again = muster(&fleet, &["apply", &pb("handlers.yml")]);
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
    assert!(
        !stdout(&again).contains("RUNNING HANDLER"),
        "{}",
        show(&again)
    );
}

#[test]
fn handlers_chain_and_skip_failed_hosts() {
    let fleet = Fleet::debian(2);
    let o = muster(&fleet, &["apply", &pb("handlers_chain.yml")]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    // A handler may notify another; a host that failed after notifying runs no handler.
    assert_eq!(
        file(&fleet, "host1", "/etc/h2log").as_deref(),
        Some("first\nsecond\n"),
        "{}",
        show(&o)
    );
    assert_eq!(file(&fleet, "host2", "/etc/h2log"), None, "{}", show(&o));
}

#[test]
fn handler_in_check_mode_is_planned_not_applied() {
    let fleet = Fleet::debian(1);
    let o = muster(
        &fleet,
        &["check", &pb("handlers_check.yml"), "--format", "json"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let ev = events(&o);
    let h = ev
        .iter()
        .find(|e| e["event"] == "host_result" && e["task"] == "write marker")
        .unwrap_or_else(|| panic!("handler not reported: {}", show(&o)));
    assert_eq!(h["status"], "changed");
    assert_eq!(h["planned"], true);
    assert!(ev.iter().any(|e| e["event"] == "task_start"
        && e["task"] == "write marker"
        && e["handler"] == true));
    assert_eq!(file(&fleet, "host1", "/etc/hc_marker"), None);
    assert_eq!(file(&fleet, "host1", "/etc/hc_file"), None);
}

#[test]
fn block_rescue_always_and_ignore_errors() {
    let fleet = Fleet::debian(1);
    let o = muster(&fleet, &["apply", &pb("blocks.yml")]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let r = recap(&o, "host1");
    assert_eq!(r["failed"], 0, "{}", show(&o));
    assert_eq!(r["rescued"], 1);
    assert_eq!(r["ignored"], 1);
    assert_eq!(file(&fleet, "host1", "/etc/not_reached"), None);
    assert_eq!(
        file(&fleet, "host1", "/etc/rescued").as_deref(),
        Some("rescued boom rc=1\n")
    );
    assert_eq!(
        file(&fleet, "host1", "/etc/always1").as_deref(),
        Some("always\n")
    );
    assert_eq!(
        file(&fleet, "host1", "/etc/after").as_deref(),
        Some("after\n")
    );
    assert!(stdout(&o).contains("...ignoring"), "{}", show(&o));

    // A failure in rescue fails the host; always still runs, nothing after it does.
    let o = muster(&fleet, &["apply", &pb("blocks_fail.yml")]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let r = recap(&o, "host1");
    assert_eq!(r["failed"], 1, "{}", show(&o));
    assert_eq!(r["rescued"], 1);
    assert_eq!(
        file(&fleet, "host1", "/etc/always2").as_deref(),
        Some("always\n")
    );
    assert_eq!(file(&fleet, "host1", "/etc/never_after"), None);
}

#[test]
fn loops_and_lookups() {
    let fleet = Fleet::debian(1);
    let o = muster(&fleet, &["apply", &pb("loops.yml"), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(
        file(&fleet, "host1", "/etc/loops/lc_apple").as_deref(),
        Some("0:apple\n")
    );
    assert_eq!(
        file(&fleet, "host1", "/etc/loops/lc_pear").as_deref(),
        Some("1:pear\n")
    );
    let ev = events(&o);
    let labels: Vec<Value> = ev
        .iter()
        .filter(|e| e["event"] == "host_result" && e["task"] == "loop_control")
        .map(|e| e["item"].clone())
        .collect();
    assert_eq!(labels, vec![Value::from("L-apple"), Value::from("L-pear")]);
    let wi: Vec<Value> = ev
        .iter()
        .filter(|e| e["event"] == "host_result" && e["task"] == "with_items")
        .map(|e| e["item"].clone())
        .collect();
    assert_eq!(
        wi,
        vec![
            serde_json::json!("a1"),
            serde_json::json!("a2"),
            serde_json::json!("a3"),
            serde_json::json!(["a4"])
        ]
    );
    assert_eq!(
        file(&fleet, "host1", "/etc/loops/summary").as_deref(),
        Some(
            "wi=4:a1,a2,a3\n\
             wd=x=1,y=2\n\
             ws=n01,n02,n03\n\
             wf=a.txt,b.txt\n\
             wse=alice-wheel,alice-dev,bob-ops\n\
             wh=2,4\n\
             whs=1,3\n\
             item0=x changed=True\n"
        ),
        "{}",
        show(&o)
    );
}

#[test]
fn register_shape_conditions_and_until() {
    let fleet = Fleet::debian(1);
    let o = muster(&fleet, &["apply", &pb("register.yml")]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(
        file(&fleet, "host1", "/etc/reg_shape").as_deref(),
        Some(
            "rc=0 changed=True failed=False\n\
             stdout=out1\nout2\n\
             lines=out1|out2\n\
             stderr=err1\n\
             c_changed=False\n\
             f_rc=3 f_failed=False\n\
             ff_rc=1 ff_failed=False\n\
             u_rc=0 attempts_ok=True\n\
             tests=True True False False True False\n"
        ),
        "{}",
        show(&o)
    );
    let r = recap(&o, "host1");
    assert_eq!(r["failed"], 0);
}

#[test]
fn variable_precedence_extra_vars_and_magic_vars() {
    let fleet = Fleet::debian(2);
    let extra = format!("@{}", pb("extra.yml"));
    let o = muster(
        &fleet,
        &[
            "apply",
            &pb("vars.yml"),
            "-e",
            "p9=extra",
            "-e",
            &extra,
            "-e",
            r#"{"q2": 1}"#,
            "-e",
            "q3=kv base=/opt",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let d = std::fs::canonicalize(dir()).unwrap().display().to_string();
    assert_eq!(
        file(&fleet, "host1", "/etc/prec").unwrap(),
        format!(
            "p1=group_all\np2=group_debian\np3=host_vars\np4=play\np5=vars_files\n\
             p6=role_vars\np7=task\np8=set_fact\np9=extra\np10=role_param\n\
             q1=from_file q2=2 q3=kv\n\
             conf=/opt/conf\n\
             iv=included_var\n\
             host=host1 groups=debian all=host1,host2\n\
             other=from_host2 other_fact=fact_of_host2 other_group=group_debian\n\
             peer=from_host2 once=host1\n\
             playbook_dir={d}\n\
             role_path={d}/roles/prec\n\
             check=False\n"
        ),
        "{}",
        show(&o)
    );
    assert_eq!(
        file(&fleet, "host2", "/etc/peer").as_deref(),
        Some("from_host2\n")
    );
    // host2 has no host_vars for p3/p4: the next level down wins.
    let h2 = file(&fleet, "host2", "/etc/prec").unwrap();
    assert!(h2.contains("p3=group_debian\np4=play\n"), "{h2}");
}

#[test]
fn inventory_vars_rank_below_the_playbooks_own() {
    let fleet = Fleet::debian(1);
    let inv = tempfile::tempdir().unwrap();
    std::fs::copy(fleet.inventory(), inv.path().join("hosts.yml")).unwrap();
    for (f, text) in [
        ("group_vars/all.yml", "p0: inv_all\np1: inv_all\n"),
        ("group_vars/debian.yml", "p2: inv_debian\n"),
        ("host_vars/host1.yml", "p2: inv_host\np3: inv_host\n"),
    ] {
        let p = inv.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let o = fleet
        .muster()
        .current_dir(dir())
        .arg("apply")
        .arg("-i")
        .arg(inv.path().join("hosts.yml"))
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .arg(pb("vars_inv.yml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    // Playbook group_vars beat inventory group_vars of the same group; any host_vars beat
    // any group_vars; the playbook's host_vars beat the inventory's.
    assert_eq!(
        file(&fleet, "host1", "/etc/prec_inv").as_deref(),
        Some("p0=inv_all p1=group_all p2=inv_host p3=host_vars\n")
    );
}

#[test]
fn play_hosts_leave_failed_hosts_out() {
    let fleet = Fleet::debian(3);
    let o = muster(&fleet, &["apply", &pb("play_hosts.yml")]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert_eq!(
        file(&fleet, "host2", "/etc/play_hosts").as_deref(),
        Some("host2,host3/host1,host2,host3/host2,host3\n"),
        "{}",
        show(&o)
    );
}

#[test]
fn includes_imports_and_role_dependencies() {
    let fleet = Fleet::debian(2);
    let o = muster(&fleet, &["apply", &pb("includes.yml")]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(
        file(&fleet, "host1", "/etc/order").as_deref(),
        Some("dep\nwithdep\ninc_a\nother play include_param\nother play role_default\nother2\ndefault role_default\nitem x\nitem y\ninc_handler\n"),
        "{}",
        show(&o)
    );
    assert_eq!(
        file(&fleet, "host2", "/etc/order").as_deref(),
        Some("dep\nwithdep\nimp1\nimp2\nother play include_param\nother play role_default\nother2\ndefault role_default\nitem x\nitem y\ninc_handler\n"),
        "{}",
        show(&o)
    );
}

#[test]
fn serial_batches_run_the_play_host_by_host() {
    let fleet = Fleet::debian(2);
    let o = muster(&fleet, &["apply", &pb("serial.yml"), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let r: Vec<(String, String)> = results(&events(&o))
        .into_iter()
        .map(|(h, t, _)| (h, t))
        .collect();
    let p = |h: &str, t: &str| (h.to_string(), t.to_string());
    assert_eq!(
        r,
        vec![
            p("host1", "first"),
            p("host1", "second"),
            p("host2", "first"),
            p("host2", "second")
        ]
    );
}

#[test]
fn a_batch_that_fails_entirely_ends_the_run() {
    let fleet = Fleet::debian(2);
    let o = muster(&fleet, &["apply", &pb("serial_fail.yml")]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    for h in ["host1", "host2"] {
        assert_eq!(file(&fleet, h, "/etc/serial_after"), None, "{}", show(&o));
        assert_eq!(file(&fleet, h, "/etc/second_play"), None, "{}", show(&o));
    }
    assert!(!stdout(&o).contains("PLAY [second play]"), "{}", show(&o));
}

#[test]
fn free_strategy_lets_fast_hosts_run_ahead() {
    let fleet = Fleet::debian(2);
    let o = muster(&fleet, &["apply", &pb("free.yml"), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let r = results(&events(&o));
    let pos = |h: &str, t: &str| r.iter().position(|x| x.0 == h && x.1 == t).unwrap();
    assert!(
        pos("host2", "next") < pos("host1", "slow on host1"),
        "{r:?}"
    );
}

#[test]
fn any_errors_fatal_and_max_fail_percentage_stop_the_play() {
    let fleet = Fleet::debian(3);
    let o = muster(&fleet, &["apply", &pb("fatal.yml")]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    for h in ["host1", "host2", "host3"] {
        assert_eq!(file(&fleet, h, "/etc/after_fatal"), None, "{}", show(&o));
    }
    let o = muster(&fleet, &["apply", &pb("maxfail.yml")]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    for h in ["host2", "host3"] {
        assert_eq!(file(&fleet, h, "/etc/after_maxfail"), None, "{}", show(&o));
    }
    // any_errors_fatal on a block.
    let o = muster(&fleet, &["apply", &pb("fatal_block.yml")]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    for h in ["host2", "host3"] {
        assert_eq!(
            file(&fleet, h, "/etc/after_fatal_block"),
            None,
            "{}",
            show(&o)
        );
    }
    // A failure that a rescue handles is no failure for any_errors_fatal.
    let o = muster(&fleet, &["apply", &pb("fatal_rescue.yml")]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    for h in ["host1", "host2", "host3"] {
        assert_eq!(
            file(&fleet, h, "/etc/after_rescue").as_deref(),
            Some("x\n"),
            "{}",
            show(&o)
        );
    }
}

#[test]
fn max_fail_percentage_counts_failures_across_tasks() {
    // 1 of 4 (25%) then another (50% of the batch): over 30%, the play ends.
    let fleet = Fleet::debian(4);
    let o = muster(&fleet, &["apply", &pb("maxfail_cumulative.yml")]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    for h in ["host3", "host4"] {
        assert_eq!(
            file(&fleet, h, "/etc/after_cumulative"),
            None,
            "{}",
            show(&o)
        );
    }
    // With serial, a fatal failure in one batch means the later batches never start.
    let fleet = Fleet::debian(4);
    let o = muster(&fleet, &["apply", &pb("fatal_serial.yml")]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    for h in ["host1", "host2", "host3", "host4"] {
        assert_eq!(file(&fleet, h, "/etc/fatal_serial"), None, "{}", show(&o));
    }
    assert!(!stdout(&o).contains("[host3]"), "{}", show(&o));
}

#[test]
fn task_keywords_run_once_delegate_environment_become_check_mode() {
    let fleet = Fleet::debian(2);
    for h in ["host1", "host2"] {
        let s = fleet.exec_on(h, "useradd -M -s /bin/sh bob");
        assert!(s.status.success(), "{s:?}");
    }
    let out = tempfile::tempdir().unwrap();
    let outdir = format!("outdir={}", out.path().display());
    let o = muster(&fleet, &["apply", &pb("keywords.yml"), "-e", &outdir]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    for h in ["host1", "host2"] {
        assert_eq!(file(&fleet, h, "/etc/run_once").as_deref(), Some("host1\n"));
        assert_eq!(
            std::fs::read_to_string(out.path().join(h)).unwrap(),
            format!("{h}\n")
        );
        assert_eq!(file(&fleet, h, "/etc/nofacts").as_deref(), Some("none\n"));
        assert_eq!(
            file(&fleet, h, "/etc/envout").as_deref(),
            Some("a b 'c' \"d\" $HOME `x`|plain|from play")
        );
        assert_eq!(file(&fleet, h, "/etc/whoami").as_deref(), Some("bob\n"));
        assert_eq!(file(&fleet, h, "/etc/forced").as_deref(), Some("forced\n"));
        assert_eq!(file(&fleet, h, "/etc/planned_only"), None);
    }
    assert_eq!(stdout(&o).matches("] => (item").count(), 0);
    let text = stdout(&o);
    let once = text
        .split("TASK [once]")
        .nth(1)
        .unwrap()
        .split("TASK [")
        .next()
        .unwrap();
    assert!(
        once.contains("[host1]") && !once.contains("[host2]"),
        "{once}"
    );

    // In check mode a task with check_mode: false still runs; the others are only planned.
    let fleet = Fleet::debian(1);
    let o = muster(&fleet, &["check", &pb("check_mode.yml")]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert_eq!(
        file(&fleet, "host1", "/etc/forced").as_deref(),
        Some("forced True\n")
    );
    assert_eq!(file(&fleet, "host1", "/etc/cm_planned"), None);
}

#[test]
fn no_log_hides_secrets_everywhere() {
    const SECRET: &str = "S3CR3T-TOKEN-42";
    let fleet = Fleet::debian(1);
    for (cmd, fmt, diff) in [
        ("apply", "text", true),
        ("check", "text", false),
        ("apply", "json", true),
    ] {
        let fleet = Fleet::debian(1);
        let mut args = vec![cmd, "--format", fmt, "-v"];
        if diff {
            args.push("--diff");
        }
        let p = pb("nolog.yml");
        args.push(&p);
        let o = muster(&fleet, &args);
        assert_eq!(o.status.code(), Some(3), "{}", show(&o));
        let all = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
        assert!(
            !all.contains(SECRET),
            "{cmd} {fmt} leaks the secret:\n{all}"
        );
        if fmt == "json" {
            let ev = events(&o);
            assert!(ev.iter().any(|e| e["event"] == "host_result"
                && e["task"] == "fail hard with secret"
                && e["status"] == "failed"));
        } else {
            assert!(all.contains("no_log: true"), "{all}");
            assert!(all.contains("TASK [fail hard with secret]"), "{all}");
        }
    }
    // The secret did reach the host.
    let o = muster(&fleet, &["apply", &pb("nolog.yml")]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert_eq!(
        file(&fleet, "host1", "/etc/secret.conf").as_deref(),
        Some("token=S3CR3T-TOKEN-42\n")
    );
}

#[test]
fn diff_shows_content_and_mode_changes() {
    let fleet = Fleet::debian(1);
    fleet.exec_on("host1", "printf 'line1\\nline2 old\\nline3\\n' > /etc/diffme; touch /etc/modeme; chmod 0644 /etc/modeme");
    let o = muster(&fleet, &["check", &pb("diff.yml")]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let t = stdout(&o);
    assert!(
        t.contains("--- before: /etc/diffme\n+++ after: /etc/diffme\n"),
        "{t}"
    );
    assert!(t.contains("-line2 old\n+line2 new\n"), "{t}");
    assert!(t.contains(" line1\n"), "{t}");
    assert!(t.contains("mode: 0644 → 0600"), "{t}");
    // `diff: false` on a task hides its diff.
    assert!(t.contains("TASK [no diff for this one]"), "{t}");
    assert!(!t.contains("quiet new"), "{t}");
    assert!(!t.contains("/etc/quietdiff"), "{t}");
    // Without --diff (apply), no diff is printed.
    let o = muster(&fleet, &["apply", &pb("diff.yml")]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(!stdout(&o).contains("+++ after"), "{}", show(&o));
    assert_eq!(
        file(&fleet, "host1", "/etc/diffme").as_deref(),
        Some("line1\nline2 new\nline3\n")
    );
}

#[test]
fn json_events_carry_what_ci_needs_and_match_the_text_recap() {
    let fleet = Fleet::debian(2);
    let j = muster(&fleet, &["check", &pb("jsonfmt.yml"), "--format", "json"]);
    let t = muster(&fleet, &["check", &pb("jsonfmt.yml")]);
    assert_eq!(j.status.code(), Some(2), "{}", show(&j));
    assert_eq!(t.status.code(), Some(2), "{}", show(&t));
    let ev = events(&j);
    assert_eq!(ev[0]["event"], "play_start");
    assert_eq!(ev[0]["play"], "json play");
    assert_eq!(ev[0]["hosts"], serde_json::json!(["host1", "host2"]));
    let ts = ev.iter().find(|e| e["event"] == "task_start").unwrap();
    assert_eq!(ts["task"], "change it");
    assert!(ts["file"].as_str().unwrap().ends_with("jsonfmt.yml"));
    assert!(ts["line"].as_u64().unwrap() > 0);
    let statuses: Vec<(String, String, String)> = results(&ev);
    assert!(statuses.contains(&("host1".into(), "change it".into(), "changed".into())));
    assert!(statuses.contains(&("host1".into(), "skip it".into(), "skipped".into())));
    assert!(statuses.contains(&("host1".into(), "ok it".into(), "ok".into())));
    let failed = ev
        .iter()
        .find(|e| e["event"] == "host_result" && e["task"] == "fail it")
        .unwrap();
    assert_eq!(failed["ignored"], true, "{failed}");
    let last = ev.last().unwrap();
    assert_eq!(last["event"], "recap");
    assert_eq!(last["check"], true);
    for h in ["host1", "host2"] {
        let text = recap(&t, h);
        let js = &last["hosts"][h];
        for k in [
            "ok",
            "changed",
            "unreachable",
            "failed",
            "skipped",
            "rescued",
            "ignored",
        ] {
            assert_eq!(js[k].as_u64(), Some(text[k]), "{h} {k}: {}", show(&j));
        }
    }
}

#[test]
fn ansible_cfg_in_the_working_directory_is_honoured() {
    let fleet = Fleet::debian(1);
    let cwd = tempfile::tempdir().unwrap();
    // An inventory without ansible_user, so the login comes from remote_user.
    std::fs::write(
        cwd.path().join("hosts.yml"),
        format!(
            "all:\n  hosts:\n    host1:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n      ansible_ssh_private_key_file: {}\n",
            fleet.port("host1"),
            fleet.client_key().display()
        ),
    )
    .unwrap();
    let write_cfg = |user: &str| {
        std::fs::write(
            cwd.path().join("ansible.cfg"),
            format!(
                "[defaults]\ninventory = hosts.yml\nroles_path = {}\nremote_user = {user}\nhost_key_checking = False\n",
                dir().join("cfgdir/myroles").display()
            ),
        )
        .unwrap();
    };
    write_cfg("root");
    let run = || {
        fleet
            .muster()
            .current_dir(cwd.path())
            .args(["apply", &pb("cfgdir/site.yml")])
            .output()
            .unwrap()
    };
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("host_key_checking = False"),
        "{}",
        show(&o)
    );
    assert_eq!(
        file(&fleet, "host1", "/etc/cfgrole").as_deref(),
        Some("cfg role\n")
    );
    // remote_user is the login used: a user the host does not know cannot log in.
    write_cfg("nosuchuser");
    let o = run();
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert_eq!(recap(&o, "host1")["unreachable"], 1, "{}", show(&o));
}

#[test]
fn facts_returned_by_modules_join_the_hosts_facts() {
    let fleet = Fleet::debian(1);
    let out = muster(&fleet, &["apply", &pb("module_facts.yml")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let want = std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "openssh-server"])
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&want.stdout).to_string();
    // package_facts splits epoch and release off the version, as the module documents.
    let upstream = version
        .split(':')
        .next_back()
        .unwrap()
        .rsplit_once('-')
        .map(|(v, _)| v.to_string())
        .unwrap_or(version.clone());
    let got = file(&fleet, "host1", "/etc/pkgfacts").unwrap();
    assert_eq!(got, format!("openssh-server {upstream}\n"));
}
