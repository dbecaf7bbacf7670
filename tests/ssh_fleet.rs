//! The foundation against the real SSH test fleet: ping, unreachable hosts, host-key checking,
//! ad-hoc commands, isolation, SFTP and connection reuse.

mod fleet;

use std::process::Output;
use std::time::{Duration, Instant};

use fleet::{Fleet, HostSpec, Profile};

fn muster(fleet: &Fleet, args: &[&str]) -> Output {
    fleet.run(args)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn line_for<'a>(stdout: &'a str, host: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(host))
        .unwrap_or_else(|| panic!("no line for {host} in:\n{stdout}"))
}

/// The SHA256 fingerprint ssh-keygen prints for a public key line.
fn fingerprint_of(pub_line: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k.pub");
    std::fs::write(&p, format!("{pub_line}\n")).unwrap();
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn ping_five_hosts_then_one_down() {
    let fleet = Fleet::debian(5);
    let out = muster(&fleet, &["ping"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for i in 1..=5 {
        let l = line_for(&stdout, &format!("host{i}"));
        assert!(l.contains(" ok "), "{l}");
        assert!(l.contains("user root"), "{l}");
        assert!(l.contains("platform debian 12 (Linux"), "{l}");
    }
    assert!(
        stdout.contains("5 hosts: 5 reachable, 0 unreachable"),
        "{stdout}"
    );

    fleet.stop("host3");
    let started = Instant::now();
    let out = muster(&fleet, &["ping", "--connect-timeout", "5"]);
    let took = started.elapsed();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    let l = line_for(&stdout, "host3");
    assert!(l.contains("UNREACHABLE"), "{l}");
    assert!(
        l.contains(&format!(
            "connection refused by 127.0.0.1:{}",
            fleet.port("host3")
        )),
        "{l}"
    );
    for h in ["host1", "host2", "host4", "host5"] {
        assert!(line_for(&stdout, h).contains(" ok "), "{stdout}");
    }
    assert!(
        stdout.contains("5 hosts: 4 reachable, 1 unreachable"),
        "{stdout}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_silent_host_times_out_within_the_connect_timeout() {
    let fleet = Fleet::debian(2);
    fleet.sigstop("host2");
    let started = Instant::now();
    let out = muster(&fleet, &["ping", "--connect-timeout", "1.5"]);
    let took = started.elapsed();
    fleet.sigcont("host2");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(line_for(&stdout, "host1").contains(" ok "), "{stdout}");
    let l = line_for(&stdout, "host2");
    assert!(
        l.contains("UNREACHABLE") && l.contains("connect timeout of 1.5s"),
        "{l}"
    );
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn changed_host_key_is_refused_before_any_command() {
    let fleet = Fleet::debian(2);
    let old_known = std::fs::read_to_string(fleet.known_hosts()).unwrap();
    let line_no = old_known
        .lines()
        .position(|l| l.starts_with(&format!("[127.0.0.1]:{} ", fleet.port("host1"))))
        .unwrap()
        + 1;
    fleet.regenerate_host_key("host1");
    let new_fp = fingerprint_of(&fleet.host_key_pub("host1"));

    let out = muster(&fleet, &["run", "-m", "shell", "-a", "touch /etc/ran-here"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    let l = line_for(&stdout, "host1");
    assert!(l.contains("HOST KEY MISMATCH"), "{l}");
    assert!(
        l.contains(&new_fp),
        "offered fingerprint {new_fp} missing: {l}"
    );
    assert!(
        l.contains(&format!("{}:{line_no}", fleet.known_hosts().display())),
        "known_hosts file and line missing: {l}"
    );
    assert!(fleet.upper_file("host1", "/etc/ran-here").is_none());
    // The other host is unaffected.
    assert!(fleet.upper_file("host2", "/etc/ran-here").is_some());

    // accept-new must not accept a changed key either, nor rewrite known_hosts.
    let out = muster(
        &fleet,
        &["ping", "-l", "host1", "--host-key-checking", "accept-new"],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).0.contains("HOST KEY MISMATCH"));
    assert_eq!(
        std::fs::read_to_string(fleet.known_hosts()).unwrap(),
        old_known
    );

    // off connects, and says loudly that it did not verify.
    let out = muster(
        &fleet,
        &["ping", "-l", "host1", "--host-key-checking", "off"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("WARNING") && stderr.contains("NOT verified"),
        "{stderr}"
    );
}

#[test]
fn unknown_host_strict_refuses_and_accept_new_records_once() {
    let fleet = Fleet::debian(1);
    let kh = fleet.dir().join("fresh_known_hosts");
    let run = |mode: &str| {
        fleet
            .muster()
            .arg("-i")
            .arg(fleet.inventory())
            .arg("--known-hosts")
            .arg(&kh)
            .args(["ping", "--host-key-checking", mode])
            .output()
            .unwrap()
    };
    let out = run("strict");
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        line_for(&stdout, "host1").contains("is unknown"),
        "{stdout}"
    );
    assert!(!kh.exists() || std::fs::read_to_string(&kh).unwrap().is_empty());

    let out = run("accept-new");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("recorded new host key"), "{stderr}");
    let recorded = std::fs::read_to_string(&kh).unwrap();
    let key = fleet.host_key_pub("host1");
    assert_eq!(
        recorded,
        format!("[127.0.0.1]:{} {key}\n", fleet.port("host1"))
    );

    // Recorded once: strict now passes and the file does not grow.
    assert_eq!(run("strict").status.code(), Some(0));
    assert_eq!(run("accept-new").status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), recorded);

    // A changed key is refused even under accept-new.
    fleet.regenerate_host_key("host1");
    let out = run("accept-new");
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).0.contains("HOST KEY MISMATCH"));
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), recorded);
}

#[test]
fn shell_writes_land_on_each_selected_host_and_nowhere_else() {
    let fleet = Fleet::debian(4);
    let out = muster(
        &fleet,
        &[
            "run",
            "-l",
            "host1:host2:host3",
            "-m",
            "shell",
            "-a",
            "echo $((6*7)) > /etc/answer",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for h in ["host1", "host2", "host3"] {
        assert!(
            stdout.contains(&format!("{h} | CHANGED | rc=0 >>")),
            "{stdout}"
        );
        assert_eq!(
            fleet.upper_file(h, "/etc/answer").as_deref(),
            Some(&b"42\n"[..])
        );
    }
    assert!(!stdout.contains("host4"), "{stdout}");
    assert!(fleet.upper_file("host4", "/etc/answer").is_none());
    assert!(
        !std::path::Path::new("/etc/answer").exists(),
        "leaked onto the machine"
    );
}

#[test]
fn run_reports_failures_and_keeps_the_others() {
    let fleet = Fleet::debian(3);
    fleet.stop("host2");
    let out = muster(
        &fleet,
        &[
            "run",
            "-m",
            "shell",
            "-a",
            "echo out; echo err >&2; exit 4",
            "--format",
            "json",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["host"], "host1");
    assert_eq!(lines[0]["rc"], 4);
    assert_eq!(lines[0]["stdout"], "out\n");
    assert_eq!(lines[0]["stderr"], "err\n");
    assert_eq!(lines[1]["host"], "host2");
    assert_eq!(lines[1]["status"], "unreachable");
    assert_eq!(lines[2]["status"], "failed");

    // command does not go through a shell: `$(...)` and `;` reach echo literally.
    let out = muster(
        &fleet,
        &[
            "run",
            "-l",
            "host1",
            "-m",
            "command",
            "-a",
            "echo '$(id); x'",
        ],
    );
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("$(id); x"), "{stdout}");

    // -a is a template rendered per host, as Ansible does: each host's own name and vars.
    let out = muster(
        &fleet,
        &[
            "run",
            "-l",
            "host1,host3",
            "-m",
            "command",
            "-a",
            "echo {{ inventory_hostname }} {{ ansible_port }} {{ 6 * 7 }}",
            "--format",
            "json",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for (line, host) in stdout.lines().zip(["host1", "host3"]) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            v["stdout"],
            format!("{host} {} 42\n", fleet.port(host)),
            "{stdout}"
        );
    }
    // An undefined variable is an input error before any host is reached.
    let out = muster(&fleet, &["run", "-m", "shell", "-a", "echo {{ nope }}"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("undefined variable `nope`") && stderr.contains("-a:1:"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");

    // Any other module runs as a one-task play: copy with a source relative to the current
    // directory, templated per host; check mode changes nothing; a rerun changes nothing.
    let src_dir = fleet.dir().join("adhoc");
    std::fs::create_dir_all(&src_dir).unwrap();
    std::fs::write(src_dir.join("motd"), "ad hoc motd\n").unwrap();
    let copy = |extra: &[&str], code: i32| {
        let mut c = fleet.muster();
        c.current_dir(&src_dir)
            .arg("-i")
            .arg(fleet.inventory())
            .arg("--known-hosts")
            .arg(fleet.known_hosts())
            .args([
                "run",
                "-l",
                "host1",
                "-m",
                "ansible.builtin.copy",
                "-a",
                "src=motd dest=/etc/motd-{{ inventory_hostname }} mode=0640",
                "--format",
                "json",
            ])
            .args(extra);
        let out = c.output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(code), "{stdout}\n{stderr}");
        let recap: serde_json::Value =
            serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        recap["hosts"]["host1"]["changed"].as_u64().unwrap()
    };
    // Check mode: exit 2 on drift, as `muster check`.
    assert_eq!(copy(&["--check"], 2), 1, "check mode plans the change");
    assert!(
        fleet.upper_file("host1", "/etc/motd-host1").is_none(),
        "check changed nothing"
    );
    assert_eq!(copy(&[], 0), 1);
    assert_eq!(
        fleet.upper_file("host1", "/etc/motd-host1").as_deref(),
        Some(&b"ad hoc motd\n"[..])
    );
    assert_eq!(copy(&[], 0), 0, "a rerun changes nothing");
    let out = muster(&fleet, &["run", "-m", "ping"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "host2 is down: {stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("ok: [host1]") && stdout.contains("ok: [host3]"),
        "{stdout}"
    );
    let out = muster(&fleet, &["run", "-m", "nosuch", "-a", "x=1"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("unknown module or task keyword `nosuch`"),
        "{stderr}"
    );

    // creates= skips the command when the file is there, in check mode too.
    let out = muster(
        &fleet,
        &[
            "run",
            "-l",
            "host1",
            "-m",
            "shell",
            "-a",
            "creates=/etc/hostname touch /etc/nope",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out)
        .0
        .contains("host1 | SKIPPED => /etc/hostname exists"));
    assert!(fleet.upper_file("host1", "/etc/nope").is_none());
    let out = muster(
        &fleet,
        &[
            "run",
            "-l",
            "host1",
            "--check",
            "-m",
            "shell",
            "-a",
            "touch /etc/nope",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).0.contains("would run (check mode)"));
    assert!(fleet.upper_file("host1", "/etc/nope").is_none());
}

#[test]
fn profiles_show_in_ping() {
    let fleet = Fleet::start(vec![
        HostSpec::new("deb", Profile::Debian),
        HostSpec::new("rhel", Profile::Rhel),
        HostSpec::new("mac", Profile::Macos),
    ]);
    let out = muster(&fleet, &["ping"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        line_for(&stdout, "rhel").contains("platform rhel 9.4"),
        "{stdout}"
    );
    assert!(
        line_for(&stdout, "mac").contains("platform macos 14.5 (Darwin arm64)"),
        "{stdout}"
    );
}
