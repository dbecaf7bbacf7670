//! The playbook engine against the real fleet: a role written the way Ansible users write
//! them converges, stays converged, `check` can be trusted, drift is found and shown, and the
//! end state equals what ansible-playbook makes of the same role.

mod fleet;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use fleet::{Fleet, HostSpec, Profile};
use sha2::{Digest, Sha256};

fn site() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/playbooks/baseline/site.yml")
}

fn muster(fleet: &Fleet, args: &[&str]) -> Output {
    fleet.run(args)
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The recap line's numbers for a host.
fn recap(out: &Output, host: &str) -> BTreeMap<String, u64> {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.split_whitespace().next() == Some(host) && l.contains("ok="))
        .unwrap_or_else(|| panic!("no recap for {host}:\n{text}"));
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Everything a host has written (its overlay upper dirs), as path -> (kind, mode, digest).
/// Logs and caches that sshd itself touches are left out.
fn snapshot(fleet: &Fleet, host: &str) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if rel.starts_with("var/log")
                || rel.starts_with("var/cache")
                || rel.starts_with("root/.ansible")
            {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o7777;
            let what = if meta.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if meta.is_dir() {
                walk(root, &p, out);
                "dir".to_string()
            } else if meta.is_file() {
                format!("file {}", hex(&Sha256::digest(std::fs::read(&p).unwrap())))
            } else {
                "special".to_string()
            };
            out.insert(rel, format!("{what} {mode:o}"));
        }
    }
    let root = fleet.host(host).upper_root();
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

#[test]
fn role_converges_stays_converged_and_check_is_trusted() {
    let fleet = Fleet::debian(5);
    let site = site();
    let site = site.to_str().unwrap();
    // A legacy file on one host takes the block path there only.
    assert!(fleet
        .exec_on("host2", "echo 'legacy=1' > /etc/legacy.conf")
        .status
        .success());

    let first = muster(&fleet, &["apply", site]);
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    for h in ["host1", "host2", "host3", "host4", "host5"] {
        let r = recap(&first, h);
        assert!(r["changed"] >= 9, "{h}: {r:?}\n{}", show(&first));
        assert_eq!(r["failed"], 0);
    }
    // What the role did, on the host: template rendered with facts and role vars, handler ran.
    let conf = String::from_utf8(
        fleet
            .upper_file("host1", "/etc/baseline/baseline.conf")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        conf,
        "# Ansible managed\nhost = host1\nos = Debian 12\nadmins = alice,bob\nmulti_admin = yes\n"
    );
    assert_eq!(
        fleet
            .upper_file("host1", "/etc/baseline/reloaded")
            .as_deref(),
        Some(&b"reloaded\n"[..])
    );
    assert_eq!(
        fleet.upper_file("host1", "/etc/baseline/kernel").as_deref(),
        Some(&b"kernel=Linux\n"[..])
    );
    assert_eq!(
        fleet.upper_file("host1", "/etc/baseline/admins").as_deref(),
        Some(&b"alice\nbob\n"[..])
    );
    let sysctl = String::from_utf8(
        fleet
            .upper_file("host1", "/etc/sysctl.d/60-baseline.conf")
            .unwrap(),
    )
    .unwrap();
    assert!(sysctl.contains("# BEGIN ANSIBLE MANAGED BLOCK\nnet.ipv4.conf.all.rp_filter = 1\nnet.ipv4.tcp_syncookies = 1\n# END ANSIBLE MANAGED BLOCK"), "{sysctl}");
    let link = fleet.exec_on(
        "host1",
        "readlink /etc/baseline.conf; stat -c %a /etc/baseline/kernel",
    );
    assert_eq!(
        String::from_utf8_lossy(&link.stdout),
        "/etc/baseline/baseline.conf\n600\n"
    );
    assert!(
        String::from_utf8(fleet.upper_file("host2", "/etc/legacy.conf").unwrap())
            .unwrap()
            .contains("# managed by baseline")
    );
    assert!(fleet.upper_file("host1", "/etc/legacy.conf").is_none());

    let before: Vec<_> = (1..=5)
        .map(|i| snapshot(&fleet, &format!("host{i}")))
        .collect();
    let started = Instant::now();
    let second = muster(&fleet, &["apply", site]);
    let rerun = started.elapsed();
    assert_eq!(second.status.code(), Some(0), "{}", show(&second));
    for i in 1..=5 {
        let r = recap(&second, &format!("host{i}"));
        assert_eq!(
            r["changed"],
            0,
            "host{i} changed on the second run: {}",
            show(&second)
        );
    }
    eprintln!("muster idempotent rerun, 5 hosts: {rerun:?}");

    let check = muster(&fleet, &["check", site]);
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
    for i in 1..=5 {
        assert_eq!(
            recap(&check, &format!("host{i}"))["changed"],
            0,
            "{}",
            show(&check)
        );
    }
    let after: Vec<_> = (1..=5)
        .map(|i| snapshot(&fleet, &format!("host{i}")))
        .collect();
    assert_eq!(before, after, "the rerun or check changed a host");

    // Drift: an edit by hand on one host is found, named, and shown as a diff.
    assert!(fleet
        .exec_on("host3", "echo 'Welcome, anyone' > /etc/motd")
        .status
        .success());
    let drift = muster(&fleet, &["check", site]);
    let text = show(&drift);
    assert_eq!(drift.status.code(), Some(2), "{text}");
    assert!(text.contains("changed (check): [host3]"), "{text}");
    assert!(
        text.contains("-Welcome, anyone") && text.contains("+Authorised use only"),
        "{text}"
    );
    assert_eq!(recap(&drift, "host3")["changed"], 1, "{text}");
    for h in ["host1", "host2", "host4", "host5"] {
        assert_eq!(recap(&drift, h)["changed"], 0, "{text}");
    }
    // And check did not repair it.
    assert_eq!(
        fleet.upper_file("host3", "/etc/motd").as_deref(),
        Some(&b"Welcome, anyone\n"[..])
    );
}

#[test]
fn check_on_fresh_hosts_reports_changes_and_changes_nothing() {
    let fleet = Fleet::debian(2);
    let before = (snapshot(&fleet, "host1"), snapshot(&fleet, "host2"));
    let out = muster(&fleet, &["check", site().to_str().unwrap()]);
    let text = show(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(recap(&out, "host1")["changed"] >= 8, "{text}");
    // The template's diff is shown against an absent file.
    assert!(text.contains("+host = host1"), "{text}");
    let after = (snapshot(&fleet, "host1"), snapshot(&fleet, "host2"));
    assert_eq!(before, after, "check mode wrote to a host");
}

#[test]
fn input_errors_stop_before_any_host_is_contacted() {
    // An inventory whose only host cannot be reached: exit 3 would mean it was contacted.
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.yml");
    std::fs::write(
        &inv,
        "all:\n  hosts:\n    ghost:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n",
    )
    .unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("unknown module", "- hosts: all\n  tasks:\n    - name: t\n      comand: ls\n", ":4:7"),
        ("unknown argument", "- hosts: all\n  tasks:\n    - name: t\n      copy:\n        dest: /x\n        contnet: y\n", ":6:9"),
        ("undefined variable", "- hosts: all\n  tasks:\n    - name: t\n      debug:\n        msg: \"{{ not_defined_anywhere }}\"\n", ":5:14"),
        ("bad jinja", "- hosts: all\n  tasks:\n    - name: t\n      debug:\n        msg: \"{{ x | }}\"\n", ":5:"),
        ("bad yaml", "- hosts: all\n  tasks:\n    - name: t\n     debug: {msg: x}\n", "play.yml:"),
        ("unknown keyword", "- hosts: all\n  taks:\n    - debug: {msg: x}\n", ":2:3"),
        ("notify without handler", "- hosts: all\n  tasks:\n    - name: t\n      debug: {msg: x}\n      notify: nobody\n", ":3:7"),
    ];
    for (what, text, at) in cases {
        let pb = dir.path().join("play.yml");
        std::fs::write(&pb, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_muster"))
            .arg("-i")
            .arg(&inv)
            .arg("apply")
            .arg(&pb)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", show(&out));
        assert!(err.contains(at), "{what}: expected `{at}` in:\n{err}");
        assert!(err.contains('^'), "{what}: no caret snippet:\n{err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("UNREACHABLE"),
            "{what}: a host was contacted"
        );
        // validate finds the same, offline.
        let v = Command::new(env!("CARGO_BIN_EXE_muster"))
            .arg("-i")
            .arg(&inv)
            .arg("validate")
            .arg(&pb)
            .output()
            .unwrap();
        assert_eq!(v.status.code(), Some(1), "validate {what}: {}", show(&v));
    }
    let ok = Command::new(env!("CARGO_BIN_EXE_muster"))
        .arg("validate")
        .arg(site())
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", show(&ok));
}

fn ansible_playbook() -> PathBuf {
    fleet::ansible_tool("ansible-playbook")
}

#[test]
fn same_end_state_as_ansible_playbook() {
    let specs = || {
        vec![
            HostSpec::new("web1", Profile::Debian),
            HostSpec::new("web2", Profile::Debian),
        ]
    };
    let ours = Fleet::start(specs());
    let theirs = Fleet::start(specs());
    let site = site();

    let started = Instant::now();
    let out = muster(&ours, &["apply", site.to_str().unwrap()]);
    let muster_cold = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let started = Instant::now();
    let out = muster(&ours, &["apply", site.to_str().unwrap()]);
    let muster_rerun = started.elapsed();
    assert_eq!(recap(&out, "web1")["changed"], 0, "{}", show(&out));

    let ap = ansible_playbook();
    let run_ansible = || {
        Command::new(&ap)
            .arg("-i")
            .arg(theirs.inventory())
            .arg(&site)
            .env("HOME", theirs.home())
            .env("ANSIBLE_SSH_ARGS", format!(
                "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o ControlMaster=auto -o ControlPersist=60s -o ControlPath={}/cm-%C",
                theirs.known_hosts().display(), theirs.dir().display()))
            .env("ANSIBLE_PIPELINING", "1")
            .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LOCAL_TEMP", theirs.dir().join("ansible-local"))
            .env_remove("ANSIBLE_CONFIG")
            .current_dir(theirs.dir())
            .output()
            .unwrap()
    };
    let started = Instant::now();
    let a = run_ansible();
    let ansible_cold = started.elapsed();
    assert!(a.status.success(), "ansible-playbook failed: {}", show(&a));
    let started = Instant::now();
    let a2 = run_ansible();
    let ansible_rerun = started.elapsed();
    assert!(
        String::from_utf8_lossy(&a2.stdout).contains("changed=0"),
        "{}",
        show(&a2)
    );
    eprintln!(
        "2 hosts: cold muster {muster_cold:?} vs ansible {ansible_cold:?}; idempotent rerun muster {muster_rerun:?} vs ansible {ansible_rerun:?} ({:.0}x)",
        ansible_rerun.as_secs_f64() / muster_rerun.as_secs_f64().max(1e-6)
    );

    let paths = [
        "/etc/baseline",
        "/etc/baseline/baseline.conf",
        "/etc/baseline/kernel",
        "/etc/baseline/admins",
        "/etc/baseline/reloaded",
        "/etc/motd",
        "/etc/sysctl.d/60-baseline.conf",
        "/etc/baseline.conf",
        "/etc/ssh/sshd_config",
    ];
    for host in ["web1", "web2"] {
        for p in paths {
            let cmd = format!(
                "stat -c '%F %a %U:%G %N' {p}; if [ -f {p} ] && [ ! -L {p} ]; then cat {p}; fi"
            );
            let a = ours.exec_on(host, &cmd);
            let b = theirs.exec_on(host, &cmd);
            assert_eq!(
                String::from_utf8_lossy(&a.stdout),
                String::from_utf8_lossy(&b.stdout),
                "{host}:{p} differs between muster (left) and ansible-playbook (right)"
            );
        }
    }
}
