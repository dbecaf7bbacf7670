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

fn run(fleet: &Fleet, dir: &Path, args: &[&str]) -> Output {
    let out = fleet
        .muster()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .arg("-i")
        .arg(dir.join("inventory"))
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .arg("--vault-password-file")
        .arg(dir.join("pw"))
        .args(args)
        .output()
        .unwrap();
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
