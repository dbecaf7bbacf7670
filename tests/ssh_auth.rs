//! Authentication and ssh config against the real fleet: key types, encrypted keys, the agent,
//! `~/.ssh/config` aliases and ProxyJump.

mod fleet;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fleet::Fleet;

fn keygen(dir: &Path, name: &str, kind: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let mut c = Command::new("ssh-keygen");
    c.args(["-q", "-t", kind, "-N", passphrase, "-C", name, "-f"])
        .arg(&path);
    if kind == "rsa" {
        c.args(["-b", "2048"]);
    }
    assert!(c.status().unwrap().success());
    path
}

/// Lets `key` log in to every host of the fleet (they share one AuthorizedKeysFile).
fn authorize(fleet: &Fleet, key: &Path) {
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let ak = fleet.dir().join("authorized_keys");
    let mut text = std::fs::read_to_string(&ak).unwrap();
    text.push_str(&public);
    std::fs::write(&ak, text).unwrap();
}

fn write_inventory(fleet: &Fleet, body: &str) -> PathBuf {
    let p = fleet.dir().join("custom-inventory.yml");
    std::fs::write(&p, body).unwrap();
    p
}

fn ping(fleet: &Fleet, inv: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = fleet.muster();
    c.arg("-i")
        .arg(inv)
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .arg("ping")
        .args(extra)
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn rsa_ecdsa_and_encrypted_keys() {
    let fleet = Fleet::debian(1);
    let port = fleet.port("host1");
    let keys = tempfile::tempdir().unwrap();
    for (kind, pass) in [("rsa", ""), ("ecdsa", ""), ("ed25519", "correct horse")] {
        let key = keygen(keys.path(), &format!("id_{kind}"), kind, pass);
        authorize(&fleet, &key);
        let inv = write_inventory(
            &fleet,
            &format!(
                "all:\n  hosts:\n    host1:\n      ansible_host: 127.0.0.1\n      ansible_port: {port}\n      \
                 ansible_user: root\n      ansible_ssh_private_key_file: {}\n",
                key.display()
            ),
        );
        if pass.is_empty() {
            let o = ping(&fleet, &inv, &[], &[]);
            assert_eq!(o.status.code(), Some(0), "{kind}: {}", show(&o));
        } else {
            // No terminal and no passphrase: a clear refusal, not a hang.
            let o = ping(&fleet, &inv, &[], &[]);
            assert_eq!(o.status.code(), Some(3), "{}", show(&o));
            assert!(
                show(&o).contains("is encrypted: set MUSTER_SSH_PASSPHRASE"),
                "{}",
                show(&o)
            );
            let o = ping(&fleet, &inv, &[], &[("MUSTER_SSH_PASSPHRASE", pass)]);
            assert_eq!(o.status.code(), Some(0), "{}", show(&o));
            let o = ping(&fleet, &inv, &[], &[("MUSTER_SSH_PASSPHRASE", "wrong")]);
            assert_eq!(o.status.code(), Some(3), "{}", show(&o));
            assert!(show(&o).contains("could not decrypt"), "{}", show(&o));
        }
    }
}

#[test]
fn ssh_agent_keys_are_used() {
    let fleet = Fleet::debian(1);
    let port = fleet.port("host1");
    let sock = fleet.dir().join("agent.sock");
    let agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _agent = Kill(agent);
    for _ in 0..200 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let add = Command::new("ssh-add")
        .arg(fleet.client_key())
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(add.status.success(), "{add:?}");
    // No key file anywhere: only the agent can authenticate.
    let inv = write_inventory(
        &fleet,
        &format!("all:\n  hosts:\n    host1:\n      ansible_host: 127.0.0.1\n      ansible_port: {port}\n      ansible_user: root\n"),
    );
    let o = ping(&fleet, &inv, &[], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert!(
        show(&o).contains("authentication as root failed"),
        "{}",
        show(&o)
    );
    let o = ping(
        &fleet,
        &inv,
        &[],
        &[("SSH_AUTH_SOCK", sock.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
}

#[test]
fn ssh_config_aliases_and_proxy_jump() {
    let fleet = Fleet::debian(2);
    let (p1, p2) = (fleet.port("host1"), fleet.port("host2"));
    let config = format!(
        "# as a user writes it\n\
         Host web-front\n    HostName 127.0.0.1\n    Port {p1}\n\n\
         Host behind-bastion\n    HostName 127.0.0.1\n    Port {p2}\n    ProxyJump root@127.0.0.1:{p1}\n\n\
         Host *\n    User root\n    IdentityFile {}\n    IdentitiesOnly yes\n",
        fleet.client_key().display()
    );
    std::fs::write(fleet.home().join(".ssh/config"), config).unwrap();
    let inv = write_inventory(
        &fleet,
        "all:\n  hosts:\n    web-front:\n    behind-bastion:\n",
    );
    let mut c = fleet.muster();
    let o = c
        .arg("-i")
        .arg(&inv)
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .args(["run", "-m", "shell", "-a", "echo $SSH_CONNECTION"])
        .output()
        .unwrap();
    let out = show(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    // web-front is reached directly on host1's port; behind-bastion arrives on host2's port
    // from host1's sshd (the tunnel), which connects from 127.0.0.1 too.
    assert!(out.contains("web-front | CHANGED"), "{out}");
    assert!(out.contains(&format!("127.0.0.1 {p1}\n")), "{out}");
    assert!(out.contains("behind-bastion | CHANGED"), "{out}");
    assert!(out.contains(&format!("127.0.0.1 {p2}\n")), "{out}");
}
