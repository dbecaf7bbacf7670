//! `reboot` against the real fleet: check mode only plans it; a real run drops the connection,
//! waits for the host to come back with a new boot id, and carries on on a fresh connection.

mod fleet;

use fleet::{Fleet, HostSpec, Profile};

#[test]
fn reboot_waits_for_the_host_and_continues() {
    let shim = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/shims/linux/fake-reboot"
    ))
    .unwrap();
    let fleet = Fleet::start(vec![
        HostSpec::new("host1", Profile::Debian)
            .file("/usr/local/sbin/fake-reboot", shim, 0o755)
            .file("/etc/fake_boot_id", "boot-0\n", 0o644),
        HostSpec::new("host2", Profile::Debian),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("reboot.yml");
    std::fs::write(
        &pb,
        "- hosts: host1\n  gather_facts: false\n  tasks:\n\
         \x20   - command: cat /etc/fake_boot_id\n      register: before\n      changed_when: false\n\
         \x20   - name: reboot\n      reboot:\n        reboot_command: /usr/local/sbin/fake-reboot\n        boot_time_command: cat /etc/fake_boot_id\n        reboot_timeout: 60\n\
         \x20   - command: cat /etc/fake_boot_id\n      register: after\n      changed_when: false\n\
         \x20   - assert:\n        that: before.stdout != after.stdout\n\
         \x20   - copy: {dest: /etc/after-reboot, content: \"{{ after.stdout }}\\n\"}\n",
    )
    .unwrap();
    let run = |sub: &str| {
        fleet
            .muster()
            .arg("-i")
            .arg(fleet.inventory())
            .arg("--known-hosts")
            .arg(fleet.known_hosts())
            .arg(sub)
            .arg(&pb)
            .output()
            .unwrap()
    };
    let check = run("check");
    let text = String::from_utf8_lossy(&check.stdout).to_string();
    assert!(text.contains("changed (check): [host1]"), "{text}");
    assert_eq!(
        fleet.upper_file("host1", "/etc/fake_boot_id").as_deref(),
        Some(&b"boot-0\n"[..]),
        "check mode rebooted"
    );

    let started = std::time::Instant::now();
    let out = run("apply");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let id = String::from_utf8(fleet.upper_file("host1", "/etc/fake_boot_id").unwrap()).unwrap();
    assert_ne!(id, "boot-0\n");
    // The tasks after the reboot ran on the new connection and saw the new boot id.
    assert_eq!(
        fleet
            .upper_file("host1", "/etc/after-reboot")
            .map(|b| String::from_utf8(b).unwrap()),
        Some(id)
    );
    // host2's sessions were not touched (its sshd serves as before).
    let ping = fleet
        .muster()
        .arg("-i")
        .arg(fleet.inventory())
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .args(["ping", "-l", "host2"])
        .output()
        .unwrap();
    assert_eq!(ping.status.code(), Some(0));
}
