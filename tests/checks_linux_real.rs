//! The `disk_encryption` and `firewall` checks against real Linux tools on this machine:
//! a real LUKS2 container on a loop device, and real nftables / ufw / iptables rulesets loaded
//! inside fresh network namespaces (and, for ufw, a mount namespace with an overlay over
//! /etc/ufw), so the machine's own firewall and files are never touched. Each check's own
//! probe scripts run for real (batched as an audit batches them) and its verdict is asserted.
//!
//! Needs root, cryptsetup, nftables, ufw and iptables (.ci/run installs them). Without root
//! the tests say so and return; with CI=true a missing tool is a failure.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use muster::policy::checks::{self, batch_script, parse_batch, Check, CheckCtx, Finding, Status};
use serde_json::{json, Map, Value};

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "PATH=\"$PATH:/usr/sbin:/sbin\" command -v {tool} >/dev/null"
        ))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether the test can run; panics under CI when a tool is missing.
fn ready(tools: &[&str]) -> bool {
    if !is_root() {
        eprintln!("skipped: needs root");
        return false;
    }
    let missing: Vec<&&str> = tools.iter().filter(|t| !have(t)).collect();
    if !missing.is_empty() {
        if std::env::var_os("CI").is_some() {
            panic!("missing tools under CI: {missing:?} (.ci/run installs them)");
        }
        eprintln!("skipped: missing {missing:?}");
        return false;
    }
    true
}

/// Runs a shell script, bounded to 60 s.
fn sh(script: &str) -> Output {
    Command::new("timeout")
        .arg("60")
        .arg("sh")
        .arg("-c")
        .arg(format!(
            "PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH; {script}"
        ))
        .output()
        .expect("run sh")
}

fn ok(script: &str) -> String {
    let o = sh(script);
    assert!(
        o.status.success(),
        "`{script}` failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn linux_facts() -> Map<String, Value> {
    json!({"system": "Linux", "os_family": "Debian", "distribution": "Debian"})
        .as_object()
        .cloned()
        .unwrap()
}

fn build(kind: &str, args: Value) -> Box<dyn Check> {
    match checks::builtin(kind).expect("registered kind")(&args) {
        Ok(c) => c,
        Err(e) => panic!("{kind} {args}: {}", e.0),
    }
}

/// Runs a check's probes as the audit does (one batch script), with `wrap` turning the batch
/// into the command actually run (e.g. inside a namespace), and judges the outputs.
fn run_check(
    check: &dyn Check,
    wrap: &dyn Fn(&Path) -> String,
) -> (Finding, HashMap<String, checks::ProbeOut>) {
    let facts = linux_facts();
    let probes = check.probes(&facts);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("batch.sh");
    std::fs::write(&script, batch_script(&probes)).unwrap();
    let o = sh(&wrap(&script));
    let out = parse_batch(&probes, &String::from_utf8_lossy(&o.stdout));
    let f = check.evaluate(&CheckCtx {
        facts: &facts,
        vars: &Value::Null,
        out: &out,
    });
    (f, out)
}

// ------------------------------------------------------------------ disk encryption

/// Closes the mapping, detaches the loop device and unmounts, whatever happens to the test.
struct LuksGuard {
    loopdev: Option<String>,
    mapping: Option<String>,
    mounted: Option<PathBuf>,
}

impl Drop for LuksGuard {
    fn drop(&mut self) {
        if let Some(m) = self.mounted.take() {
            let _ = sh(&format!("umount {}", m.display()));
        }
        if let Some(n) = self.mapping.take() {
            let _ = sh(&format!("cryptsetup close {n}"));
        }
        if let Some(l) = self.loopdev.take() {
            let _ = sh(&format!("losetup -d {l}"));
        }
    }
}

#[test]
fn luks2_container_on_a_loop_device() {
    if !ready(&["cryptsetup", "losetup", "lsblk"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.img");
    let key = dir.path().join("key");
    std::fs::write(&key, b"muster-test-key-not-a-secret-0123456789").unwrap();
    ok(&format!("truncate -s 32M {}", img.display()));
    ok(&format!(
        "cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file {} {}",
        key.display(),
        img.display()
    ));
    let mut guard = LuksGuard {
        loopdev: None,
        mapping: None,
        mounted: None,
    };
    let lo = ok(&format!("losetup -f --show {}", img.display()))
        .trim()
        .to_string();
    guard.loopdev = Some(lo.clone());

    // The header, as the check's probe reads it.
    let dump = ok(&format!("cryptsetup luksDump {lo}"));
    let luks = checks::disk_encryption::parse_luks_dump(&dump);
    assert_eq!(luks.version, Some(2), "{dump}");
    assert_eq!(luks.cipher.as_deref(), Some("aes-xts-plain64"), "{dump}");
    let probe = checks::disk_encryption::parse_luks_probe(&format!("@@dump {lo}\n{dump}"));
    assert_eq!(probe[&lo].version, Some(2));

    // lsblk (the check's own command line) shows the loop device.
    let text = ok(checks::disk_encryption::LSBLK);
    let roots = checks::disk_encryption::parse_lsblk(&text).unwrap();
    let name = lo.trim_start_matches("/dev/");
    let paths = checks::disk_encryption::paths_to(&roots, &|n| n.name == name);
    assert_eq!(paths.len(), 1, "{text}");
    assert_eq!(paths[0][0].kind, "loop");

    // Opening needs device-mapper in the kernel; some VMs have none.
    let mapping = format!("muster-test-{}", std::process::id());
    let open = sh(&format!(
        "cryptsetup open --key-file {} {lo} {mapping}",
        key.display()
    ));
    if open.status.success() {
        guard.mapping = Some(mapping.clone());
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        ok(&format!(
            "mkfs.ext4 -q /dev/mapper/{mapping} && mount /dev/mapper/{mapping} {}",
            mnt.display()
        ));
        guard.mounted = Some(mnt.clone());
        let text = ok(checks::disk_encryption::LSBLK);
        let roots = checks::disk_encryption::parse_lsblk(&text).unwrap();
        let t = checks::disk_encryption::locate(&roots, mnt.to_str().unwrap())
            .unwrap_or_else(|| panic!("{text}"));
        // A crypt layer over a file-backed loop device is not disk encryption.
        assert!(t.crypt.is_none(), "{t:?}");
        assert!(t.loop_backed.unwrap().contains("loop"), "{text}");
        let status = ok(&format!("cryptsetup status {mapping}"));
        let (dev, l) = checks::disk_encryption::parse_crypt_status(&status);
        assert_eq!(dev.as_deref(), Some(lo.as_str()));
        assert_eq!(l.kind.as_deref(), Some("LUKS2"));
        assert_eq!(l.cipher.as_deref(), Some("aes-xts-plain64"));
    } else {
        eprintln!(
            "cryptsetup open failed here (no device-mapper?): {}",
            String::from_utf8_lossy(&open.stderr).trim()
        );
    }

    // The whole check on this machine: a verdict about `/`, never an error.
    let c = build("disk_encryption", json!({"scope": "all_fixed"}));
    let (f, out) = run_check(c.as_ref(), &|s| format!("sh {}", s.display()));
    eprintln!(
        "this machine: {:?}: {}\n{}",
        f.status, f.message, f.observed
    );
    assert!(
        matches!(f.status, Status::Pass | Status::Fail | Status::Warn),
        "{f:?} {out:?}"
    );
    assert!(f.message.starts_with("/ is on "), "{}", f.message);
    assert!(f.data["manual"].is_string());
    drop(guard);
    assert!(
        !ok("losetup -a").contains(img.to_str().unwrap()),
        "the loop device was not detached"
    );
}

// ------------------------------------------------------------------ firewall

/// Debian's stock /etc/nftables.conf shape: one inet table, three chains, nothing filtered.
const STOCK: &str = "flush ruleset\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter;\n\t}\n\tchain output {\n\t\ttype filter hook output priority filter;\n\t}\n}\n";

/// Default drop, established traffic and loopback, and SSH.
const DROP_SSH: &str = "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established,related accept\n\t\tiif \"lo\" accept\n\t\ttcp dport 22 accept\n\t}\n}\n";

/// Loads `rules` into a fresh network namespace and runs the batch there.
fn in_netns(rules: &str) -> (tempfile::TempDir, impl Fn(&Path) -> String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.nft");
    std::fs::write(&file, rules).unwrap();
    let wrap = move |batch: &Path| {
        format!(
            "unshare -n sh -c 'nft -f {} && sh {}'",
            file.display(),
            batch.display()
        )
    };
    (dir, wrap)
}

#[test]
fn stock_nftables_ruleset_is_not_filtering() {
    if !ready(&["nft", "unshare"]) {
        return;
    }
    let c = build(
        "firewall",
        json!({"enabled": true, "default_inbound": "deny"}),
    );
    let (_dir, wrap) = in_netns(STOCK);
    let (f, out) = run_check(c.as_ref(), &wrap);
    assert_eq!(out["nft"].rc, 0, "{:?}", out["nft"]);
    assert_eq!(f.status, Status::Fail, "{f:?}");
    assert_eq!(f.observed["tool"], "nftables");
    assert_eq!(f.observed["default_inbound"], "allow");
    assert!(f.message.contains("not filtering"), "{}", f.message);
}

#[test]
fn drop_policy_allowing_ssh() {
    if !ready(&["nft", "unshare"]) {
        return;
    }
    let (_dir, wrap) = in_netns(&format!("flush ruleset\n{DROP_SSH}"));
    let c = build(
        "firewall",
        json!({"default_inbound": "deny", "allowed_inbound_ports": [22]}),
    );
    let (f, _) = run_check(c.as_ref(), &wrap);
    assert_eq!(f.status, Status::Pass, "{f:?}");
    assert_eq!(f.observed["open_inbound_ports"], json!(["22/tcp"]));
    let c = build(
        "firewall",
        json!({"default_inbound": "deny", "allowed_inbound_ports": []}),
    );
    let (f, _) = run_check(c.as_ref(), &wrap);
    assert_eq!(f.status, Status::Fail, "{f:?}");
    assert!(f.message.contains("22/tcp"), "{}", f.message);
}

#[test]
fn not_root_is_an_error_never_a_pass() {
    if !ready(&["nft", "setpriv"]) {
        return;
    }
    let c = build("firewall", json!({"default_inbound": "deny"}));
    let (f, _) = run_check(c.as_ref(), &|s| {
        format!(
            "chmod 755 {} {}; setpriv --reuid=65534 --regid=65534 --clear-groups sh {}",
            s.parent().unwrap().display(),
            s.display(),
            s.display()
        )
    });
    assert_eq!(f.status, Status::Error, "{f:?}");
    assert!(f.message.contains("nft"), "{}", f.message);
}

/// ufw enabled inside a network namespace and a mount namespace whose /etc/ufw is an overlay
/// on a tmpfs: the machine's /etc/ufw and firewall are untouched. Then an inet table that
/// only lets SSH in is added on top: nft's word (a packet must pass both) wins.
#[test]
fn ufw_active_then_inet_drop_on_top() {
    if !ready(&["nft", "ufw", "iptables", "ip6tables", "unshare"]) {
        return;
    }
    if !Path::new("/etc/ufw").is_dir() {
        eprintln!("skipped: /etc/ufw missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The tmpfs goes on a subfolder: it would hide the rules file written beside it.
    std::fs::create_dir(dir.path().join("ns")).unwrap();
    let d = dir.path().join("ns").display().to_string();
    let before = std::fs::read_to_string("/etc/ufw/ufw.conf").unwrap_or_default();
    let setup = format!(
        "set -e; mount -t tmpfs tmpfs {d}; mkdir {d}/u {d}/w; \
         mount -t overlay overlay -o lowerdir=/etc/ufw,upperdir={d}/u,workdir={d}/w /etc/ufw; \
         ufw default deny incoming >/dev/null; ufw allow 22/tcp >/dev/null; ufw allow 8080/tcp >/dev/null; \
         ufw --force enable >/dev/null"
    );
    let inet = dir.path().join("inet.nft");
    std::fs::write(&inet, DROP_SSH).unwrap();
    let c = build(
        "firewall",
        json!({"default_inbound": "deny", "allowed_inbound_ports": [22]}),
    );
    let ufw_only = |batch: &Path| {
        format!(
            "unshare -m -n --propagation private sh -c '{setup}; sh {}'",
            batch.display()
        )
    };
    let (f, out) = run_check(c.as_ref(), &ufw_only);
    eprintln!("ufw only: {:?}: {}\n{}", f.status, f.message, f.observed);
    assert!(out["ufw"].stdout.contains("Status: active"), "{out:?}");
    assert_eq!(f.status, Status::Fail, "{f:?}");
    assert_eq!(f.observed["tool"], "nftables");
    assert!(
        f.message.contains("8080/tcp open but not allowed"),
        "{}",
        f.message
    );
    assert!(
        !f.message.contains("5353") && !f.message.contains("1900"),
        "multicast and DHCP replies are not listening ports: {}",
        f.message
    );
    let with_inet = |batch: &Path| {
        format!(
            "unshare -m -n --propagation private sh -c '{setup}; nft -f {}; sh {}'",
            inet.display(),
            batch.display()
        )
    };
    let (f, _) = run_check(c.as_ref(), &with_inet);
    assert_eq!(f.status, Status::Pass, "{f:?}");
    assert_eq!(f.observed["open_inbound_ports"], json!(["22/tcp"]));
    // The machine's own ufw configuration is as it was.
    assert_eq!(
        std::fs::read_to_string("/etc/ufw/ufw.conf").unwrap_or_default(),
        before
    );
}

#[test]
fn legacy_iptables_rules_in_a_netns() {
    if !ready(&["iptables", "unshare"]) {
        return;
    }
    // iptables-nft writes nf_tables; the check reads them through nft and iptables -S.
    let c = build(
        "firewall",
        json!({"default_inbound": "deny", "allowed_inbound_ports": ["22/tcp", "53/udp"]}),
    );
    let (f, _) = run_check(c.as_ref(), &|batch| {
        format!(
            "unshare -n sh -c 'iptables -P INPUT DROP && ip6tables -P INPUT DROP && \
             iptables -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT && \
             iptables -A INPUT -p tcp --dport 22 -j ACCEPT && \
             iptables -A INPUT -p udp -m multiport --dports 53,123 -j ACCEPT && sh {}'",
            batch.display()
        )
    });
    assert_eq!(f.status, Status::Fail, "{f:?}");
    assert!(
        f.message.contains("123/udp open but not allowed"),
        "{}",
        f.message
    );
    assert_eq!(f.observed["default_inbound"], "drop");
}
