//! `playbooks/bootstrap.yml` (the shipped `bootstrap` role) on five real-sshd fleet hosts:
//! the first run converges, the second changes nothing, `check` agrees; the resulting sshd
//! configuration passes `sshd -t`, the admins exist with 0600 key files, the sudoers drop-in
//! passes `visudo -cf`, and a broken sudoers template is refused by `validate` with the host's
//! /etc/sudoers.d left as it was.
//!
//! What the fleet cannot do for real, because its hosts share the machine's kernel, network
//! and processes, is switched by the role's own variables (as a user of the role would):
//! - `bootstrap_manage_firewall: false` (ufw would rewrite the machine's netfilter tables; the
//!   ufw module is tested for real in tests/modules_ufw.rs, inside its own namespaces);
//! - `bootstrap_sysctl_set: false` (the file is written, the shared kernel is not touched);
//! - the `restart sshd` handler runs through a `systemctl` shim in each host's /usr/local/sbin
//!   (`bootstrap_service_use: systemd`), which records the call instead of restarting a real
//!   sshd (there is no systemd here, and a real `ssh` would take port 22);
//! - packages: the list is cut to packages the machine already has and the apt cache is not
//!   refreshed, so the apt task runs and plans in sync without reaching Debian's mirrors.

mod fleet;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::Instant;

use fleet::{Fleet, HostSpec, Profile};

const HOSTS: [&str; 5] = ["host1", "host2", "host3", "host4", "host5"];

/// Answers the service module's systemd probes as a running, enabled unit would, and records
/// every other call (restart, reload...) instead of acting on it.
const SYSTEMCTL_SHIM: &str = r#"#!/bin/sh
log=/var/lib/muster-shim/systemctl.log
case "$1" in
  show) printf 'Id=%s.service\nNames=%s.service\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nMainPID=4242\nDescription=%s (shim)\n' "$2" "$2" "$2" ;;
  is-enabled) echo enabled ;;
  is-active) echo active ;;
  *) mkdir -p /var/lib/muster-shim; echo "$*" >>"$log" ;;
esac
exit 0
"#;

fn playbook() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("playbooks/bootstrap.yml")
        .display()
        .to_string()
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

fn on(fleet: &Fleet, host: &str, cmd: &str) -> String {
    let o = fleet.exec_on(host, cmd);
    assert!(o.status.success(), "{host}: `{cmd}`: {}", show(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn bootstrap_role_on_five_hosts() {
    let fleet = Fleet::start(
        HOSTS
            .iter()
            .map(|h| {
                HostSpec::new(*h, Profile::Debian).file(
                    "/usr/local/sbin/systemctl",
                    SYSTEMCTL_SHIM,
                    0o755,
                )
            })
            .collect(),
    );
    let alice_key = fleet.host_key_pub("host1") + " alice@laptop";
    let bob_key = fleet.host_key_pub("host2") + " bob@laptop";
    let vars = fleet.dir().join("bootstrap-vars.yml");
    std::fs::write(
        &vars,
        format!(
            "bootstrap_admins:\n  - name: alice\n    ssh_keys: [\"{alice_key}\"]\n    nopasswd: true\n  \
             - name: bob\n    ssh_keys: [\"{bob_key}\"]\n    groups: [adm]\n\
             bootstrap_manage_firewall: false\n\
             bootstrap_sysctl_set: false\n\
             bootstrap_service_use: systemd\n\
             bootstrap_packages: [sudo, openssh-server, ufw]\n\
             bootstrap_apt_update_cache: false\n"
        ),
    )
    .unwrap();
    let extra = format!("@{}", vars.display());
    let pb = playbook();

    // Check on the fresh hosts: changes pending (exit 2), no task fails, nothing written.
    let fresh = muster(&fleet, &["check", &pb, "-e", &extra]);
    assert_eq!(fresh.status.code(), Some(2), "{}", show(&fresh));
    for h in HOSTS {
        let r = recap(&fresh, h);
        assert_eq!(r["failed"], 0, "{h}: {}", show(&fresh));
        assert!(r["changed"] >= 8, "{h}: {r:?}");
        assert!(fleet.upper_file(h, "/etc/sudoers.d/admins").is_none());
        assert!(fleet
            .upper_file(h, "/etc/ssh/sshd_config.d/50-hardening.conf")
            .is_none());
    }

    // First run: everything changes, the handler fires once per host.
    let started = Instant::now();
    let first = muster(&fleet, &["apply", &pb, "-e", &extra]);
    let first_time = started.elapsed();
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    for h in HOSTS {
        let r = recap(&first, h);
        assert!(r["changed"] >= 9, "{h}: {r:?}\n{}", show(&first));
        assert_eq!(r["failed"], 0, "{h}");
        assert_eq!(
            on(&fleet, h, "cat /var/lib/muster-shim/systemctl.log"),
            "restart ssh\n",
            "{h}: the restart sshd handler"
        );
    }

    // Second run: nothing changes, the handler does not fire again.
    let started = Instant::now();
    let second = muster(&fleet, &["apply", &pb, "-e", &extra]);
    let second_time = started.elapsed();
    assert_eq!(second.status.code(), Some(0), "{}", show(&second));
    for h in HOSTS {
        assert_eq!(recap(&second, h)["changed"], 0, "{h}: {}", show(&second));
        assert_eq!(
            on(&fleet, h, "cat /var/lib/muster-shim/systemctl.log"),
            "restart ssh\n"
        );
    }
    let check = muster(&fleet, &["check", &pb, "-e", &extra]);
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
    for h in HOSTS {
        assert_eq!(recap(&check, h)["changed"], 0, "{h}: {}", show(&check));
    }
    eprintln!("bootstrap.yml on 5 hosts: first run {first_time:?}, second run {second_time:?}");

    for h in HOSTS {
        // The configuration sshd would load is valid and hardened.
        on(&fleet, h, "/usr/sbin/sshd -t -f /etc/ssh/sshd_config");
        let eff = on(
            &fleet,
            h,
            "/usr/sbin/sshd -T -f /etc/ssh/sshd_config -C user=root,host=x,addr=127.0.0.1",
        );
        for want in [
            "permitrootlogin without-password",
            "passwordauthentication no",
            "x11forwarding no",
            "maxauthtries 3",
            "allowagentforwarding no",
        ] {
            let alt = want.replace("without-password", "prohibit-password");
            assert!(
                eff.lines().any(|l| l == want || l == alt),
                "{h}: `{want}` not in sshd -T:\n{eff}"
            );
        }
        // Admins with their keys (0600, owned by them) and their groups.
        let id = on(&fleet, h, "id alice; id bob");
        assert!(id.contains("(sudo)"), "{h}: {id}");
        assert!(id.contains("(adm)"), "{h}: {id}");
        assert_eq!(
            on(
                &fleet,
                h,
                "stat -c '%a %U' /home/alice/.ssh/authorized_keys /home/bob/.ssh/authorized_keys"
            ),
            "600 alice\n600 bob\n"
        );
        assert_eq!(
            on(&fleet, h, "cat /home/alice/.ssh/authorized_keys"),
            format!("{alice_key}\n")
        );
        // sudo: the drop-in passes visudo, alice without a password, bob with one.
        on(&fleet, h, "/usr/sbin/visudo -cf /etc/sudoers.d/admins");
        let sudoers = on(
            &fleet,
            h,
            "stat -c %a /etc/sudoers.d/admins; cat /etc/sudoers.d/admins",
        );
        assert!(sudoers.starts_with("440\n"), "{h}: {sudoers}");
        assert!(
            sudoers.contains("\nalice ALL=(ALL:ALL) NOPASSWD: ALL\n"),
            "{sudoers}"
        );
        assert!(sudoers.contains("\nbob ALL=(ALL:ALL) ALL\n"), "{sudoers}");
        // The rest of the baseline.
        let auto = on(&fleet, h, "cat /etc/apt/apt.conf.d/20auto-upgrades");
        assert!(
            auto.contains("APT::Periodic::Unattended-Upgrade \"1\";"),
            "{auto}"
        );
        let sysctl = on(&fleet, h, "cat /etc/sysctl.d/60-bootstrap.conf");
        assert!(sysctl.contains("net.ipv4.tcp_syncookies=1"), "{sysctl}");
        assert!(
            sysctl.contains("net.ipv4.conf.all.accept_redirects=0"),
            "{sysctl}"
        );
        assert!(on(&fleet, h, "cat /etc/motd").starts_with("Authorised use only."));
    }

    // A broken sudoers template is refused by visudo: the task fails, the file stays.
    // (The directory's own mtime moves: the candidate is written beside the file, as Ansible does.)
    let listing =
        "find /etc/sudoers.d -mindepth 1 -printf '%P %m %u %s %T@\\n' | sort; sha256sum /etc/sudoers.d/*";
    let before = on(&fleet, "host1", listing);
    let broken = muster(
        &fleet,
        &[
            "apply",
            &pb,
            "-l",
            "host1",
            "-e",
            &extra,
            "-e",
            r#"{"bootstrap_sudoers_extra": "bob ALL=(ALL ALL"}"#,
        ],
    );
    let text = show(&broken);
    assert_eq!(broken.status.code(), Some(3), "{text}");
    assert_eq!(recap(&broken, "host1")["failed"], 1, "{text}");
    assert!(text.contains("visudo"), "{text}");
    assert_eq!(
        on(&fleet, "host1", listing),
        before,
        "/etc/sudoers.d changed"
    );
    on(&fleet, "host1", "/usr/sbin/visudo -c");
}
