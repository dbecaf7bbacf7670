//! A planted secret never leaves muster: a vault value (inline `!vault` in group_vars) and a
//! become password (an inventory variable) are used on real fleet hosts by a playbook with
//! diffs, a `no_log` task, a registered command output and a failing task whose message holds
//! the secret; then checked, audited and remediated by a policy that reads the file holding
//! it. Every output of every command (stdout, stderr, and each report file in every format)
//! is searched for the secret; the target file must hold it, so it was really used.

mod fleet;

use std::path::{Path, PathBuf};
use std::process::Output;

use fleet::Fleet;

const SECRET: &str = "zq-Sup3r-s3cret-81";
const BECOME_PW: &str = "zq-become-pw-4471";
const PASSWORD: &str = "vault pass for the secrets test";

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn clean(what: &str, text: &str) {
    for s in [SECRET, BECOME_PW, PASSWORD] {
        assert!(!text.contains(s), "{what} leaks `{s}`:\n{text}");
    }
}

/// muster in the project `dir`: its inventory, the fleet's known_hosts, the vault password.
fn muster_in(fleet: &Fleet, dir: &Path) -> std::process::Command {
    let mut c = fleet.muster();
    c.current_dir(dir)
        .env("NO_COLOR", "1")
        .arg("-i")
        .arg(dir.join("inventory"))
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .arg("--vault-password-file")
        .arg(dir.join("pw"));
    c
}

fn run(fleet: &Fleet, dir: &Path, args: &[&str]) -> Output {
    let out = muster_in(fleet, dir).args(args).output().unwrap();
    clean(&format!("muster {args:?}"), &show(&out));
    out
}

#[test]
fn a_planted_secret_appears_in_no_output_of_any_format() {
    let fleet = Fleet::debian(2);
    let dir = fleet.dir().join("project");
    std::fs::create_dir_all(dir.join("inventory/group_vars")).unwrap();
    std::fs::write(dir.join("pw"), format!("{PASSWORD}\n")).unwrap();
    // The fleet's inventory, plus group_vars holding the secrets.
    std::fs::copy(fleet.inventory(), dir.join("inventory/hosts.yml")).unwrap();
    let m = fleet
        .muster()
        .current_dir(&dir)
        .arg("--vault-password-file")
        .arg(dir.join("pw"))
        .args(["vault", "encrypt_string", "--name", "db_password", SECRET])
        .output()
        .unwrap();
    assert!(m.status.success(), "{}", show(&m));
    let vaulted = String::from_utf8(m.stdout).unwrap();
    std::fs::write(
        dir.join("inventory/group_vars/all.yml"),
        format!("{vaulted}ansible_become_password: {BECOME_PW}\n"),
    )
    .unwrap();

    std::fs::write(
        dir.join("site.yml"),
        r#"- hosts: all
  gather_facts: false
  become: true
  tasks:
    - name: app config
      copy:
        dest: /etc/app.conf
        content: "user=app\npassword={{ db_password }}\n"
        mode: "0600"
    - name: show it
      command: "echo token {{ db_password }}"
      register: echoed
      changed_when: false
    - name: debug it
      debug:
        msg: "the token is {{ echoed.stdout }}"
    - name: hidden
      shell: "echo {{ db_password }}"
      no_log: true
      changed_when: false
    - name: warn about it
      command: "sh -c 'echo {{ db_password }} >&2; exit 3'"
      ignore_errors: true
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("policy.yml"),
        r#"name: secrets
version: "1"
controls:
  - id: app-config
    title: The app config holds the current password
    severity: high
    check:
      file:
        path: /etc/app.conf
        contains: "password={{ db_password }}"
    remediate:
      - name: write the app config
        copy:
          dest: /etc/app.conf
          content: "user=app\npassword={{ db_password }}\n"
          mode: "0600"
"#,
    )
    .unwrap();
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let o = |f: &str, name: &str| format!("{f}={}", reports.join(name).display());

    // apply with diffs, verbose, every run format.
    let out = run(
        &fleet,
        &dir,
        &[
            "-v",
            "apply",
            "site.yml",
            "--diff",
            "-o",
            &o("json", "apply.jsonl"),
            "-o",
            &o("junit", "apply.xml"),
            "-o",
            &o("markdown", "apply.md"),
            "-o",
            &o("text", "apply.txt"),
            "-o",
            &o("html", "apply.html"),
            "-o",
            &o("sarif", "apply.sarif"),
            "-o",
            &o("prometheus", "apply.prom"),
            "-o",
            &o("nagios", "apply.nagios"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("the token is token ********"), "{stdout}");
    assert!(
        stdout.contains("password=********"),
        "diff masked: {stdout}"
    );
    // The secret was really used on the host.
    assert_eq!(
        fleet.upper_file("host1", "/etc/app.conf").unwrap(),
        format!("user=app\npassword={SECRET}\n").as_bytes()
    );

    // Drift, then check and audit in every format, then remediate.
    for h in ["host1", "host2"] {
        assert!(fleet
            .exec_on(h, "printf 'user=app\\npassword=old\\n' > /etc/app.conf")
            .status
            .success());
    }
    let out = run(
        &fleet,
        &dir,
        &[
            "check",
            "site.yml",
            "--format",
            "json",
            "-o",
            &o("junit", "check.xml"),
            "-o",
            &o("markdown", "check.md"),
            "-o",
            &o("text", "check.txt"),
            "-o",
            &o("html", "check.html"),
            "-o",
            &o("sarif", "check.sarif"),
            "-o",
            &o("prometheus", "check.prom"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let mut args = vec!["audit".to_string(), "policy.yml".to_string()];
    for (f, name) in [
        ("json", "audit.json"),
        ("junit", "audit.xml"),
        ("sarif", "audit.sarif"),
        ("markdown", "audit.md"),
        ("nagios", "audit.nagios"),
        ("prometheus", "audit.prom"),
        ("html", "audit.html"),
        ("text", "audit.txt"),
    ] {
        args.push("-o".into());
        args.push(o(f, name));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&fleet, &dir, &args);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let audit = std::fs::read_to_string(reports.join("audit.txt")).unwrap();
    assert!(
        audit.contains("********"),
        "the evidence names the masked value: {audit}"
    );
    let out = run(
        &fleet,
        &dir,
        &[
            "remediate",
            "policy.yml",
            "--diff",
            "-o",
            &o("html", "after.html"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("app-config: fail → pass"));

    // Ad-hoc commands and errors.
    let out = run(
        &fleet,
        &dir,
        &["run", "-m", "shell", "-a", "cat /etc/app.conf", "-b"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("password=********"));
    std::fs::write(
        dir.join("bad.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: broken\n      fail:\n        msg: \"cannot use {{ db_password }}\"\n",
    )
    .unwrap();
    let out = run(&fleet, &dir, &["apply", "bad.yml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cannot use ********"));

    // The inventory as ansible-inventory shows it: the vault value and the become password
    // masked (`run` fails the test if either shows).
    for args in [
        vec!["inventory", "--list"],
        vec!["inventory", "--host", "host1"],
    ] {
        let out = run(&fleet, &dir, &args);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("\"db_password\": \"********\"")
                && text.contains("\"ansible_become_password\": \"********\""),
            "{text}"
        );
    }

    // Every report file.
    let files: Vec<PathBuf> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 23, "{files:?}");
    // The drift's diff is in the check's page and SARIF, with the secret masked.
    for name in ["check.html", "check.sarif"] {
        let text = std::fs::read_to_string(reports.join(name)).unwrap();
        assert!(text.contains("password=********"), "{name}: {text}");
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(!text.is_empty(), "{}", f.display());
        clean(&f.display().to_string(), &text);
    }
}

/// The processes on this machine (the fleet's hosts share its process table) whose command
/// line holds `needle`.
fn argv_holding(needle: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

/// A non-root login escalating with a vaulted `ansible_become_password` from group_vars, for a
/// play that says `become: true` (the host does not escalate by default): sudo gets the
/// password on its standard input — the commands run as root, and no process on the target
/// ever holds it in its arguments while the run goes on. A `no_log` task's plain value and the
/// password appear in no output and no report of any format.
#[test]
fn become_password_reaches_sudo_on_stdin_only_and_no_log_values_no_report() {
    const PLAIN: &str = "zq-plain-nolog-5521";
    let fleet = Fleet::debian(1);
    let setup = fleet.exec_on(
        "host1",
        &format!(
            "useradd -m -s /bin/sh alice && echo 'alice:{BECOME_PW}' | chpasswd && \
             echo 'alice ALL=(ALL) ALL' > /etc/sudoers.d/alice && chmod 440 /etc/sudoers.d/alice"
        ),
    );
    assert!(setup.status.success(), "{setup:?}");
    let dir = fleet.dir().join("project");
    std::fs::create_dir_all(dir.join("inventory/group_vars")).unwrap();
    std::fs::write(dir.join("pw"), format!("{PASSWORD}\n")).unwrap();
    let hosts = std::fs::read_to_string(fleet.inventory())
        .unwrap()
        .replace("ansible_user: root", "ansible_user: alice");
    std::fs::write(dir.join("inventory/hosts.yml"), hosts).unwrap();
    let m = fleet
        .muster()
        .current_dir(&dir)
        .arg("--vault-password-file")
        .arg(dir.join("pw"))
        .args([
            "vault",
            "encrypt_string",
            "--name",
            "ansible_become_password",
            BECOME_PW,
        ])
        .output()
        .unwrap();
    assert!(m.status.success(), "{}", show(&m));
    std::fs::write(
        dir.join("inventory/group_vars/all.yml"),
        String::from_utf8(m.stdout).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("site.yml"),
        format!(
            r#"- hosts: all
  gather_facts: false
  become: true
  vars:
    plain: {PLAIN}
  tasks:
    - name: who
      command: id -un
      register: who
      changed_when: false
    - name: say who
      debug:
        msg: "running as {{{{ who.stdout }}}}"
    - name: slow and hidden
      shell: "sleep 2; echo {{{{ plain }}}}"
      no_log: true
      changed_when: false
    - name: hidden file
      copy:
        dest: /root/hidden.txt
        content: "{{{{ plain }}}}\n"
      no_log: true
"#
        ),
    )
    .unwrap();
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let mut args: Vec<String> = ["-v", "apply", "site.yml", "--diff"]
        .map(String::from)
        .to_vec();
    for f in [
        "json",
        "junit",
        "markdown",
        "text",
        "html",
        "sarif",
        "nagios",
        "prometheus",
    ] {
        args.push("-o".into());
        args.push(format!(
            "{f}={}",
            reports.join(format!("apply.{f}")).display()
        ));
    }
    let mut child = muster_in(&fleet, &dir)
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While it runs (the slow task holds it ~2 s under sudo), no process holds the password.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut looks = 0;
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the run did not end");
        let seen = argv_holding(BECOME_PW);
        assert!(seen.is_empty(), "the become password is in argv: {seen:?}");
        looks += 1;
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let text = show(&out);
    assert!(
        looks > 20,
        "the process list was looked at {looks} times only"
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    clean("apply", &text);
    assert!(!text.contains(PLAIN), "no_log value in the output: {text}");
    assert!(text.contains("running as root"), "{text}");
    assert_eq!(
        fleet.upper_file("host1", "/root/hidden.txt").as_deref(),
        Some(format!("{PLAIN}\n").as_bytes()),
        "the hidden task really ran as root"
    );
    for f in std::fs::read_dir(&reports).unwrap() {
        let f = f.unwrap().path();
        let report = std::fs::read_to_string(&f).unwrap();
        assert!(!report.is_empty(), "{}", f.display());
        clean(&f.display().to_string(), &report);
        assert!(
            !report.contains(PLAIN),
            "{} holds the no_log value:\n{report}",
            f.display()
        );
    }
}
