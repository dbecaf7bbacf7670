//! The `ufw` module against the real ufw of this machine, without touching its firewall or
//! files: the test re-runs itself (one test function, `inside_namespaces`) in a child started
//! with `unshare -n -m`, a fresh network namespace (its own netfilter tables) and a mount
//! namespace with copy-on-write overlays over /etc/ufw, /etc/default and /lib/ufw. Inside, the
//! module plans and applies through the `LocalTransport`, exactly the commands it would send
//! over SSH. Outside, the machine's ufw files and status are asserted unchanged.
//!
//! Needs root, ufw, iptables and unshare (.ci/run installs them). Without root the test says
//! so and returns; with CI=true a missing tool is a failure.

use std::path::Path;
use std::process::{Command, Output};

use muster::modules::{self, ModuleCtx, Plan, SearchPaths};
use muster::transport::local::LocalTransport;
use muster::transport::Transport;
use serde_json::{json, Value};

const INNER: &str = "MUSTER_UFW_TEST_INSIDE";

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

fn sh(script: &str) -> Output {
    Command::new("timeout")
        .args(["120", "sh", "-c"])
        .arg(format!(
            "PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH; {script}"
        ))
        .output()
        .expect("run sh")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ready() -> bool {
    if !is_root() {
        eprintln!("skipped: needs root");
        return false;
    }
    let missing: Vec<&str> = ["ufw", "iptables", "ip6tables", "unshare"]
        .into_iter()
        .filter(|t| !sh(&format!("command -v {t} >/dev/null")).status.success())
        .collect();
    if !missing.is_empty() || !Path::new("/etc/ufw").is_dir() {
        if std::env::var_os("CI").is_some() {
            panic!("missing under CI: {missing:?} or /etc/ufw (.ci/run installs ufw)");
        }
        eprintln!("skipped: missing {missing:?} or /etc/ufw");
        return false;
    }
    true
}

/// Every file under the machine's ufw directories, with its digest.
fn machine_ufw() -> Vec<(String, String)> {
    let mut out = vec![];
    for dir in ["/etc/ufw", "/lib/ufw", "/etc/default/ufw"] {
        let o = sh(&format!(
            "find {dir} -type f -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum"
        ));
        out.push((
            dir.to_string(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        ));
    }
    out
}

#[test]
fn ufw_module_in_a_network_and_mount_namespace() {
    if std::env::var_os(INNER).is_some() || !ready() {
        return;
    }
    let files_before = machine_ufw();
    let status_before = sh("ufw status verbose; iptables -S | sha256sum");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let mut setup = format!("set -e; mount -t tmpfs tmpfs {d}; ip link set lo up;");
    for (i, p) in ["/etc/ufw", "/etc/default", "/lib/ufw"].iter().enumerate() {
        setup.push_str(&format!(
            " mkdir {d}/u{i} {d}/w{i}; mount -t overlay overlay -o lowerdir={p},upperdir={d}/u{i},workdir={d}/w{i} {p};"
        ));
    }
    let exe = std::env::current_exe().unwrap();
    let child = Command::new("timeout")
        .args([
            "300",
            "unshare",
            "-n",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
        ])
        .arg(format!(
            "{setup} exec {} --exact inside_namespaces --ignored --nocapture --test-threads=1",
            exe.display()
        ))
        .env(INNER, "1")
        .output()
        .unwrap();
    let out = text(&child);
    eprintln!("{out}");
    assert!(child.status.success(), "{out}");
    assert!(
        out.contains("1 passed"),
        "the inner test did not run: {out}"
    );
    assert!(out.contains("inner: all steps passed"), "{out}");

    // The machine: same files, same ufw status, same netfilter rules.
    assert_eq!(
        machine_ufw(),
        files_before,
        "the machine's ufw files changed"
    );
    assert_eq!(
        text(&sh("ufw status verbose; iptables -S | sha256sum")),
        text(&status_before),
        "the machine's firewall changed"
    );
}

fn no_render(text: &str, _vars: &Value) -> muster::Result<String> {
    Ok(text.to_string())
}

struct Inner {
    t: LocalTransport,
    vars: Value,
    search: SearchPaths,
}

impl Inner {
    fn ctx(&self) -> ModuleCtx<'_> {
        ModuleCtx {
            host: "ns",
            transport: &self.t,
            vars: &self.vars,
            render: &no_render,
            search: &self.search,
            planned: &[],
        }
    }

    fn build(&self, args: Value) -> Box<dyn modules::Module> {
        let def = modules::find("ufw").expect("ufw registered");
        let args = args.as_object().unwrap().clone();
        for k in args.keys() {
            assert!(def.args.contains(&k.as_str()), "ufw: {k} not in args");
        }
        (def.build)(&args).unwrap_or_else(|e| panic!("ufw: {e}"))
    }

    /// One read-only exec; the ufw files are as they were.
    async fn plan(&self, args: Value) -> Plan {
        let m = self.build(args.clone());
        let files = machine_ufw();
        let ops = self.t.op_counts();
        let plan = m
            .plan(&self.ctx())
            .await
            .unwrap_or_else(|e| panic!("{args}: {e}"));
        let after = self.t.op_counts();
        assert_eq!(after.execs - ops.execs, 1, "{args}: plan execs");
        assert_eq!(after.puts, ops.puts, "{args}: plan wrote");
        assert_eq!(machine_ufw(), files, "{args}: plan changed ufw's files");
        plan
    }

    /// Plan shows `want` (field: before → after), apply, the next plan is in sync.
    async fn converge(&self, args: Value, want: &[(&str, Option<&str>, Option<&str>)]) -> Plan {
        let plan = self.plan(args.clone()).await;
        let got: Vec<(String, Option<String>, Option<String>)> = plan
            .changes
            .iter()
            .map(|c| (c.field.to_string(), c.before.clone(), c.after.clone()))
            .collect();
        let want: Vec<(String, Option<String>, Option<String>)> = want
            .iter()
            .map(|(f, b, a)| (f.to_string(), b.map(String::from), a.map(String::from)))
            .collect();
        assert_eq!(got, want, "{args}: planned changes");
        if plan.is_in_sync() {
            return plan;
        }
        let m = self.build(args.clone());
        m.apply(&self.ctx(), &plan)
            .await
            .unwrap_or_else(|e| panic!("{args}: apply: {e}"));
        let again = self.plan(args.clone()).await;
        assert!(
            again.is_in_sync(),
            "{args}: not in sync after apply: {:?}",
            again.changes
        );
        plan
    }
}

fn ufw(args: &str) -> String {
    let o = sh(&format!("ufw {args}"));
    assert!(o.status.success(), "ufw {args}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs only inside the namespaces the outer test made (it sets the environment variable).
#[test]
#[ignore = "the inner half: the outer test runs it inside the namespaces it creates"]
fn inside_namespaces() {
    if std::env::var_os(INNER).is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let x = Inner {
            t: LocalTransport::new("ns", Some(std::time::Duration::from_secs(60))),
            vars: json!({}),
            search: SearchPaths::default(),
        };
        assert!(ufw("status").contains("Status: inactive"));

        // Defaults and logging, written while ufw is inactive.
        x.converge(
            json!({"default": "reject", "direction": "incoming"}),
            &[("default incoming", Some("deny"), Some("reject"))],
        )
        .await;
        assert!(std::fs::read_to_string("/etc/default/ufw")
            .unwrap()
            .contains("DEFAULT_INPUT_POLICY=\"REJECT\""));
        x.converge(json!({"policy": "allow", "direction": "outgoing"}), &[])
            .await;
        x.converge(
            json!({"logging": "medium"}),
            &[("logging", Some("low"), Some("medium"))],
        )
        .await;
        x.converge(json!({"logging": "on"}), &[]).await;

        // Rules, seen by ufw even while inactive.
        x.converge(
            json!({"rule": "allow", "port": 22, "proto": "tcp"}),
            &[("rule", None, Some("ufw allow proto tcp from any to any port 22"))],
        )
        .await;
        assert!(ufw("show added").contains("ufw allow 22/tcp"));
        x.converge(
            json!({"rule": "allow", "src": "10.0.0.0/8", "port": "8080", "proto": "tcp", "comment": "admin net"}),
            &[("rule", None, Some("ufw allow proto tcp from 10.0.0.0/8 to any port 8080 comment 'admin net'"))],
        )
        .await;
        // A new comment on the same rule is a change; ufw updates it in place.
        x.converge(
            json!({"rule": "allow", "src": "10.0.0.0/8", "port": "8080", "proto": "tcp", "comment": "ops"}),
            &[("rule", None, Some("ufw allow proto tcp from 10.0.0.0/8 to any port 8080 comment ops"))],
        )
        .await;
        x.converge(
            json!({"rule": "limit", "name": "OpenSSH", "insert": 1}),
            &[("rule", None, Some("ufw limit from any to any app OpenSSH"))],
        )
        .await;
        x.converge(
            json!({"rule": "allow", "direction": "in", "interface": "lo", "port": 53, "proto": "udp"}),
            &[("rule", None, Some("ufw allow in on lo proto udp from any to any port 53"))],
        )
        .await;
        let added = ufw("show added");
        assert!(added.contains("ufw limit OpenSSH"), "{added}");
        assert!(added.contains("comment 'ops'"), "{added}");
        assert!(!added.contains("admin net"), "{added}");

        // Enable: the kernel's tables (of this namespace) get ufw's chains.
        let plan = x
            .converge(
                json!({"state": "enabled"}),
                &[("state", Some("inactive"), Some("active"))],
            )
            .await;
        assert_eq!(plan.result["commands"], json!(["ufw --force enable"]));
        let status = ufw("status verbose");
        assert!(status.contains("Status: active"), "{status}");
        assert!(status.contains("Logging: on (medium)"), "{status}");
        assert!(
            status.contains("Default: reject (incoming), allow (outgoing)"),
            "{status}"
        );
        for want in ["22/tcp ", "8080/tcp ", "53/udp on lo", "OpenSSH"] {
            assert!(status.contains(want), "{want}: {status}");
        }
        let ipt = String::from_utf8_lossy(&sh("iptables -S ufw-user-input").stdout).into_owned();
        assert!(ipt.contains("--dport 22 -j ACCEPT"), "{ipt}");
        assert!(ipt.contains("-s 10.0.0.0/8") && ipt.contains("--dport 8080"), "{ipt}");

        // Delete: a change while the rule exists, in sync once it is gone.
        x.converge(
            json!({"rule": "allow", "port": 22, "proto": "tcp", "delete": true}),
            &[("rule", Some("ufw allow proto tcp from any to any port 22"), None)],
        )
        .await;
        let status = ufw("status");
        assert!(!status.contains("22/tcp                     ALLOW"), "{status}");
        assert!(status.contains("OpenSSH"), "{status}");

        // What ufw refuses is an error of the plan, with ufw's words.
        let m = x.build(json!({"rule": "allow", "name": "NoSuchProfile"}));
        let Err(e) = m.plan(&x.ctx()).await else {
            panic!("a rule naming an unknown profile planned");
        };
        let err = e.to_string();
        assert!(err.contains("NoSuchProfile"), "{err}");

        // Reload always changes (as Ansible); disable turns the tables off.
        x.converge(json!({"state": "enabled", "default": "deny"}), &[("default incoming", Some("reject"), Some("deny"))])
            .await;
        let p = x.plan(json!({"state": "reloaded"})).await;
        assert_eq!(p.changes.len(), 1);
        x.converge(
            json!({"state": "disabled"}),
            &[("state", Some("active"), Some("inactive"))],
        )
        .await;
        assert!(ufw("status").contains("Status: inactive"));
        assert!(!sh("iptables -S ufw-user-input").status.success());

        // The bootstrap role's firewall tasks (`-t firewall`), through the engine on the local
        // connection, in this same namespace: they converge, and the rerun changes nothing.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let pb = root.join("playbooks/bootstrap.yml");
        let inv = root.join("inventory/local.yml");
        let apply = || {
            Command::new(env!("CARGO_BIN_EXE_muster"))
                .arg("-i")
                .arg(&inv)
                .arg("apply")
                .arg(&pb)
                .args(["-t", "firewall"])
                .output()
                .unwrap()
        };
        let first = apply();
        assert_eq!(first.status.code(), Some(0), "{}", text(&first));
        let out = String::from_utf8_lossy(&first.stdout).into_owned();
        assert!(out.contains("changed=3"), "{out}");
        let status = ufw("status verbose");
        assert!(status.contains("Status: active"), "{status}");
        assert!(status.contains("Logging: on (low)"), "{status}");
        assert!(status.contains("Default: deny (incoming), allow (outgoing)"), "{status}");
        assert!(status.contains("22/tcp                     ALLOW IN    Anywhere                   # ssh"), "{status}");
        let again = apply();
        let out = String::from_utf8_lossy(&again.stdout).into_owned();
        assert_eq!(again.status.code(), Some(0), "{}", text(&again));
        assert!(out.contains("changed=0"), "{out}");
        eprintln!("inner: all steps passed");
    });
}
