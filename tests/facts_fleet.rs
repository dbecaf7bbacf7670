//! Fact gathering against real sshd hosts of every fleet profile: one exec per host, and the
//! facts Ansible would report there.
//!
//! The fleet's hosts share this machine's kernel, PID 1 and binaries; only `/etc/os-release`
//! and the profile's shims differ. Where Ansible's answer depends on what is on disk, the test
//! asserts what Ansible would answer on that very host:
//! - pkg_mgr: Ansible decides by distribution first (Debian family: apt; RHEL 8+: dnf, whether
//!   or not `/usr/bin/dnf` exists), then by the last package manager binary found. An "Alpine"
//!   host without `/sbin/apk` therefore gets `apt` (this machine's apt-get); with an `apk` shim
//!   it gets `apk`. The macOS host gets `homebrew` from its `/opt/homebrew/bin/brew` shim.
//! - service_mgr: Ansible trusts PID 1's name first, and every fleet host sees this machine's
//!   PID 1, so all of them report the same, whatever this machine runs.

mod fleet;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fleet::{Fleet, HostSpec, Profile};
use muster::facts;
use muster::transport::ssh::{SshSettings, SshTarget, SshTransport};
use muster::transport::Transport;
use serde_json::Value;

/// `sysctl` as macOS 14.5 on a 16 GB M1 Pro prints it (`name: value`, or the value with -n).
const SYSCTL_SHIM: &str = r#"#!/bin/sh
n=
for a in "$@"; do
	case $a in
	-n) n=1; continue ;;
	hw.memsize) v=17179869184 ;;
	hw.ncpu | hw.physicalcpu | hw.logicalcpu | machdep.cpu.core_count) v=10 ;;
	hw.packages) v=1 ;;
	hw.model) v=MacBookPro18,3 ;;
	machdep.cpu.brand_string) v='Apple M1 Pro' ;;
	vm.swapusage) v='total = 2048.00M  used = 1052.25M  free = 995.75M  (encrypted)' ;;
	kern.boottime) v='{ sec = 1717400000, usec = 123456 } Mon Jun  3 09:33:20 2024' ;;
	*) echo "sysctl: unknown oid '$a'" >&2; continue ;;
	esac
	if [ -n "$n" ]; then printf '%s\n' "$v"; else printf '%s: %s\n' "$a" "$v"; fi
done
"#;

/// `vm_stat` as macOS 14.5 prints it (head of the output).
const VM_STAT_SHIM: &str = r#"#!/bin/sh
cat <<'OUT'
Mach Virtual Memory Statistics: (page size of 16384 bytes)
Pages free:                                3843.
Pages active:                            228011.
Pages inactive:                          224568.
Pages speculative:                         3425.
Pages throttled:                              0.
Pages wired down:                        167254.
Pages purgeable:                           9170.
OUT
"#;

const BREW_SHIM: &str = "#!/bin/sh\necho 'Homebrew 4.3.5'\n";
const APK_SHIM: &str = "#!/bin/sh\necho 'apk-tools 2.14.4, compiled for x86_64.'\n";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn target(fleet: &Fleet, host: &str) -> SshTarget {
    fleet.ssh_target(host, "root")
}

fn settings(fleet: &Fleet) -> Arc<SshSettings> {
    fleet.ssh_settings(Duration::from_secs(30))
}

fn str_of<'a>(f: &'a serde_json::Map<String, Value>, host: &str, k: &str) -> &'a str {
    f.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{host}: fact {k} missing or not a string: {:?}", f.get(k)))
}

/// What Ansible's service_mgr says on a Linux host of this machine: PID 1's name when it
/// names an init, None when Ansible would look further (PID 1 is `init` or a shell).
fn service_mgr_from_pid1() -> Option<String> {
    let comm = std::fs::read_to_string("/proc/1/comm").ok()?;
    let comm = comm.trim();
    if comm == "init" || comm.ends_with("sh") || comm.is_empty() {
        return None;
    }
    Some(
        match comm {
            "procd" => "openwrt_init",
            "svscan" => "svc",
            other => other,
        }
        .to_string(),
    )
}

#[test]
fn one_exec_gathers_each_profiles_facts() {
    let fleet = Fleet::start(vec![
        HostSpec::new("deb", Profile::Debian),
        HostSpec::new("ubu", Profile::Ubuntu),
        HostSpec::new("rhel", Profile::Rhel),
        HostSpec::new("alp", Profile::Alpine),
        // Through the merged-/usr symlink, this is /sbin/apk, where Alpine keeps it.
        HostSpec::new("alpapk", Profile::Alpine).file("/usr/sbin/apk", APK_SHIM, 0o755),
        HostSpec::new("mac", Profile::Macos)
            .file("/usr/local/sbin/sysctl", SYSCTL_SHIM, 0o755)
            .file("/usr/local/sbin/vm_stat", VM_STAT_SHIM, 0o755)
            .file("/opt/homebrew/bin/brew", BREW_SHIM, 0o755),
    ]);
    let expected_service_mgr = service_mgr_from_pid1();
    rt().block_on(async {
        let mut report = Vec::new();
        for host in ["deb", "ubu", "rhel", "alp", "alpapk", "mac"] {
            let t = SshTransport::connect(&target(&fleet, host), settings(&fleet))
                .await
                .unwrap_or_else(|e| panic!("{host}: {e}"));
            let before = t.op_counts().execs;
            let started = Instant::now();
            let f = facts::gather(&*t)
                .await
                .unwrap_or_else(|e| panic!("{host}: {e}"));
            let took = started.elapsed();
            assert_eq!(
                t.op_counts().execs - before,
                1,
                "{host}: gather must use exactly one exec"
            );
            assert_eq!(t.op_counts().execs, 1, "{host}");

            // Every host.
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let epoch: i64 = f["date_time"]["epoch"]
                .as_str()
                .and_then(|e| e.parse().ok())
                .unwrap_or_else(|| panic!("{host}: no date_time.epoch: {:?}", f.get("date_time")));
            assert!((epoch - now).abs() <= 60, "{host}: epoch {epoch} vs {now}");
            assert_eq!(str_of(&f, host, "user_id"), "root");
            assert_eq!(f["user_uid"], 0, "{host}");
            assert_eq!(str_of(&f, host, "user_dir"), "/root");
            assert!(
                f["processor_count"].as_u64().unwrap_or(0) >= 1,
                "{host}: processor_count {:?}",
                f.get("processor_count")
            );
            assert!(
                f["memtotal_mb"].as_u64().unwrap_or(0) > 0,
                "{host}: memtotal_mb {:?}",
                f.get("memtotal_mb")
            );
            let mounts = f["mounts"].as_array().expect("mounts is a list");
            assert!(!mounts.is_empty(), "{host}: no mounts");
            assert!(
                mounts
                    .iter()
                    .all(|m| m["mount"].is_string() && m["device"].is_string()),
                "{host}"
            );
            assert!(
                f["env"]["HOME"] == "/root",
                "{host}: env {:?}",
                f.get("env")
            );
            assert!(!str_of(&f, host, "hostname").is_empty());
            if let Some(svc) = &expected_service_mgr {
                assert_eq!(str_of(&f, host, "service_mgr"), svc, "{host}");
            }

            let id = |k: &str| str_of(&f, host, k).to_string();
            let got = [
                id("system"),
                id("distribution"),
                id("os_family"),
                id("distribution_version"),
                id("distribution_major_version"),
                id("distribution_release"),
                id("pkg_mgr"),
            ];
            let want: [&str; 7] = match host {
                "deb" => ["Linux", "Debian", "Debian", "12", "12", "bookworm", "apt"],
                "ubu" => ["Linux", "Ubuntu", "Debian", "24.04", "24", "noble", "apt"],
                "rhel" => ["Linux", "RedHat", "RedHat", "9.4", "9", "Plow", "dnf"],
                "alp" => ["Linux", "Alpine", "Alpine", "3.20.0", "3", "NA", "apt"],
                "alpapk" => ["Linux", "Alpine", "Alpine", "3.20.0", "3", "NA", "apk"],
                "mac" => [
                    "Darwin", "MacOSX", "Darwin", "14.5", "14", "23.5.0", "homebrew",
                ],
                _ => unreachable!(),
            };
            assert_eq!(got, want.map(String::from), "{host}");

            if host == "mac" {
                assert_eq!(str_of(&f, host, "architecture"), "arm64");
                assert_eq!(str_of(&f, host, "kernel"), "23.5.0");
                assert_eq!(f["memtotal_mb"], 16384);
                assert_eq!(f["processor_vcpus"], 10);
                assert_eq!(str_of(&f, host, "processor"), "Apple M1 Pro");
            } else {
                assert_eq!(
                    str_of(&f, host, "architecture"),
                    std::env::consts::ARCH,
                    "{host}"
                );
                // The default route's interface is a real one with an address.
                if let Some(d4) = f["default_ipv4"].as_object().filter(|d| !d.is_empty()) {
                    let iface = d4["interface"].as_str().unwrap();
                    assert!(
                        f["interfaces"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|i| i == iface),
                        "{host}"
                    );
                }
            }
            // Timing for the record (after the one-exec check): best of a few gathers, and a
            // bare `true` over the same connection for the round trip alone.
            let mut best = took;
            for _ in 0..4 {
                let started = Instant::now();
                facts::gather(&*t).await.unwrap();
                best = best.min(started.elapsed());
            }
            let started = Instant::now();
            t.exec("true", None).await.unwrap();
            let bare = started.elapsed();
            report.push(format!(
                "{host}: first {took:.1?}, best {best:.1?}, bare exec {bare:.1?}"
            ));
            t.close().await;
        }
        eprintln!("gather over SSH (debug build):\n  {}", report.join("\n  "));
    });
}

/// The facts go into a play's variables the way Ansible injects them.
#[test]
fn gathered_facts_inject_as_ansible_vars() {
    let fleet = Fleet::start(vec![HostSpec::new("rh", Profile::Rhel)]);
    rt().block_on(async {
        let t = SshTransport::connect(&target(&fleet, "rh"), settings(&fleet))
            .await
            .unwrap();
        let f = facts::gather(&*t).await.unwrap();
        let mut vars = serde_json::Map::new();
        facts::inject(&mut vars, f);
        assert_eq!(vars["ansible_facts"]["os_family"], "RedHat");
        assert_eq!(vars["ansible_os_family"], "RedHat");
        assert_eq!(vars["ansible_distribution_major_version"], "9");
        assert_eq!(vars["ansible_pkg_mgr"], "dnf");
        t.close().await;
    });
}
