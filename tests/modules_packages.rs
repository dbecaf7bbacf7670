//! The package modules (package_facts, apt, dnf/yum, apk, package) against the real fleet.
//! apt runs for real: a tiny .deb built here is installed into, and removed from, one host's
//! overlay (dpkg writes that host's /var/lib/dpkg only). dnf and apk run against shim scripts
//! that record their argv and keep a state file, printing what the real tools print.

mod fleet;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use fleet::{Fleet, HostSpec, Profile};
use muster::modules::{self, Field, ModuleCtx, Plan, SearchPaths};
use muster::transport::ssh::SshTransport;
use muster::transport::Transport;
use serde_json::{json, Map, Value};

const DEB: &str = "/opt/muster-hello_1.0-1_all.deb";
const NEEDY: &str = "/opt/muster-needy_1.0-1_all.deb";
const HELLO: &str = "/usr/share/muster-hello/hello.txt";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Builds muster-hello 1.0-1 (Architecture: all, one file) with dpkg-deb.
fn build_deb() -> Vec<u8> {
    build_deb_with("muster-hello", None)
}

/// Builds NAME 1.0-1 (Architecture: all, one file), with a `Depends:` when given.
fn build_deb_with(name: &str, depends: Option<&str>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pkg");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join(format!("usr/share/{name}"))).unwrap();
    let depends = depends
        .map(|d| format!("Depends: {d}\n"))
        .unwrap_or_default();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!("Package: {name}\nVersion: 1.0-1\nArchitecture: all\n{depends}Maintainer: Muster Tests <tests@example.com>\nDescription: muster test package\n A package the muster tests install and remove.\n"),
    )
    .unwrap();
    std::fs::write(root.join(format!("usr/share/{name}/hello.txt")), "hello\n").unwrap();
    let out_path = dir.path().join(format!("{name}_1.0-1_all.deb"));
    let out = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&out_path)
        .output()
        .expect("run dpkg-deb");
    assert!(out.status.success(), "{out:?}");
    std::fs::read(&out_path).unwrap()
}

async fn connect(fleet: &Fleet, host: &str) -> Arc<SshTransport> {
    fleet.connect(host, Duration::from_secs(120)).await
}

fn no_render(text: &str, _: &Value) -> muster::Result<String> {
    Ok(text.to_string())
}

struct Host<'f> {
    fleet: &'f Fleet,
    name: &'static str,
    t: Arc<SshTransport>,
    vars: Value,
    search: SearchPaths,
}

impl<'f> Host<'f> {
    async fn new(fleet: &'f Fleet, name: &'static str) -> Host<'f> {
        Host {
            fleet,
            name,
            t: connect(fleet, name).await,
            vars: json!({}),
            search: SearchPaths::default(),
        }
    }

    fn ctx(&self) -> ModuleCtx<'_> {
        ModuleCtx {
            host: self.name,
            transport: &*self.t,
            vars: &self.vars,
            render: &no_render,
            search: &self.search,
            planned: &[],
        }
    }

    fn build(&self, module: &str, args: Value) -> Box<dyn modules::Module> {
        let def = modules::find(module).unwrap_or_else(|| panic!("{module} not registered"));
        let args = args.as_object().unwrap().clone();
        for k in args.keys() {
            assert!(def.args.contains(&k.as_str()), "{module}: {k} not in args");
        }
        (def.build)(&args).unwrap_or_else(|e| panic!("{module}: {e}"))
    }

    /// Plans with one exec and no writes.
    async fn plan(&self, module: &str, args: Value) -> muster::Result<Plan> {
        let m = self.build(module, args);
        let ops = self.t.op_counts();
        let plan = m.plan(&self.ctx()).await;
        let after = self.t.op_counts();
        assert_eq!(after.puts, ops.puts, "{module}: plan wrote files");
        assert_eq!(
            after.execs - ops.execs,
            1,
            "{module}: plan took more than one exec"
        );
        plan
    }

    async fn apply(&self, module: &str, args: Value, plan: &Plan) -> Map<String, Value> {
        let r = self
            .build(module, args)
            .apply(&self.ctx(), plan)
            .await
            .unwrap();
        assert_ne!(r.get("failed"), Some(&json!(true)), "{module}: {r:#?}");
        r
    }

    fn sh(&self, cmd: &str) -> Output {
        self.fleet.exec_on(self.name, cmd)
    }

    fn stdout(&self, cmd: &str) -> String {
        String::from_utf8_lossy(&self.sh(cmd).stdout)
            .trim_end()
            .to_string()
    }
}

fn one_change(plan: &Plan, pkg: &str) -> (Option<String>, Option<String>) {
    assert_eq!(plan.changes.len(), 1, "{:?}", plan.changes);
    let c = &plan.changes[0];
    assert_eq!(c.field, Field::Other(format!("package {pkg}")));
    (c.before.clone(), c.after.clone())
}

#[test]
fn apt_installs_and_removes_a_local_deb() {
    let fleet = Fleet::start(vec![HostSpec::new("host1", Profile::Debian)
        .file(DEB, build_deb(), 0o644)
        .file(
            NEEDY,
            build_deb_with("muster-needy", Some("muster-no-such-dep")),
            0o644,
        )]);
    rt().block_on(async {
        let h = Host::new(&fleet, "host1").await;
        let deb = json!({ "deb": DEB });

        let plan = h.plan("apt", deb.clone()).await.unwrap();
        assert_eq!(
            one_change(&plan, "muster-hello"),
            (None, Some("1.0-1".into()))
        );
        assert!(!h.sh("dpkg-query -W muster-hello").status.success());

        let r = h.apply("apt", deb.clone(), &plan).await;
        assert_eq!(r["changed"], json!(true));
        assert!(
            r["stdout"].as_str().unwrap().contains("muster-hello"),
            "{r:#?}"
        );
        assert_eq!(
            h.stdout("dpkg-query -W muster-hello"),
            "muster-hello\t1.0-1"
        );
        // Installed into this host's overlay, not onto the machine.
        assert_eq!(
            fleet.upper_file("host1", HELLO).as_deref(),
            Some(&b"hello\n"[..])
        );
        assert!(!Path::new(HELLO).exists());
        assert!(h.plan("apt", deb.clone()).await.unwrap().is_in_sync());
        // package without facts finds apt itself (one more exec) and agrees.
        let plan = h
            .build(
                "package",
                json!({"name": "muster-hello", "state": "present"}),
            )
            .plan(&h.ctx())
            .await
            .unwrap();
        assert!(plan.is_in_sync(), "{:?}", plan.changes);
        // Pinned to the installed version: in sync; to another: a change to that version.
        assert!(h
            .plan("apt", json!({"name": "muster-hello=1.0-1"}))
            .await
            .unwrap()
            .is_in_sync());
        let plan = h
            .plan("apt", json!({"name": "muster-hello=2.0-1"}))
            .await
            .unwrap();
        assert_eq!(
            one_change(&plan, "muster-hello"),
            (Some("1.0-1".into()), Some("2.0-1".into()))
        );
        // By name: present is in sync, absent removes.
        assert!(h
            .plan("apt", json!({"name": "muster-hello"}))
            .await
            .unwrap()
            .is_in_sync());
        let absent = json!({"name": "muster-hello", "state": "absent"});
        let plan = h.plan("apt", absent.clone()).await.unwrap();
        assert_eq!(
            one_change(&plan, "muster-hello"),
            (Some("1.0-1".into()), None)
        );
        h.apply("apt", absent.clone(), &plan).await;
        assert!(!h
            .stdout("dpkg-query -W -f='${db:Status-Abbrev}' muster-hello")
            .starts_with("ii"));
        assert!(fleet.upper_deleted("host1", HELLO) || fleet.upper_file("host1", HELLO).is_none());
        assert!(h.plan("apt", absent).await.unwrap().is_in_sync());

        // A .deb whose dependency no repository has: the plan names it; apt refuses, with
        // its own message, and nothing is installed.
        let needy = json!({ "deb": NEEDY });
        let plan = h.plan("apt", needy.clone()).await.unwrap();
        assert_eq!(
            one_change(&plan, "muster-needy"),
            (None, Some("1.0-1".into()))
        );
        let r = h.build("apt", needy).apply(&h.ctx(), &plan).await.unwrap();
        assert_eq!(r["failed"], json!(true), "{r:#?}");
        let msg = r["msg"].as_str().unwrap();
        assert!(
            msg.contains("apt-get -y") && msg.contains("install /opt/muster-needy"),
            "{msg}"
        );
        assert!(
            r["stdout"].as_str().unwrap().contains("muster-no-such-dep")
                || msg.contains("muster-no-such-dep"),
            "{r:#?}"
        );
        assert!(
            !h.sh("dpkg-query -W muster-needy").status.success()
                || !h
                    .stdout("dpkg-query -W -f='${db:Status-Abbrev}' muster-needy")
                    .starts_with("ii")
        );

        // The cache: fresh enough is in sync; older than cache_valid_time is a planned
        // update (not run here: no network).
        let plan = h
            .plan(
                "apt",
                json!({"update_cache": true, "cache_valid_time": 1_000_000_000u64}),
            )
            .await
            .unwrap();
        assert!(plan.is_in_sync(), "{:?}", plan.changes);
        assert_eq!(plan.result["cache_updated"], json!(false));
        let plan = h
            .plan("apt", json!({"update_cache": "yes", "cache_valid_time": 1}))
            .await
            .unwrap();
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].field, Field::Other("apt cache".into()));

        // A package no repository has: apt's own words, before anything runs.
        let e = h
            .plan("apt", json!({"name": "muster-no-such-package"}))
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("Unable to locate package muster-no-such-package"),
            "{e}"
        );
        // An installed real package: in sync; its version is dpkg's.
        let plan = h
            .plan("apt", json!({"name": ["bash", "openssh-server"]}))
            .await
            .unwrap();
        assert!(plan.is_in_sync(), "{:?}", plan.changes);

        // Upgrade everything: the host (this machine's packages and apt cache, in an
        // overlay) would get exactly what apt's own simulation on the machine says.
        let plan = h
            .plan("apt", json!({"name": "*", "state": "latest"}))
            .await
            .unwrap();
        let sim = Command::new("apt-get")
            .args(["-s", "upgrade", "--with-new-pkgs"])
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        let want: Vec<(String, Option<String>, Option<String>)> =
            muster::modules::pkgparse::parse_apt_sim(&String::from_utf8_lossy(&sim.stdout));
        let got: Vec<(String, Option<String>, Option<String>)> = plan
            .changes
            .iter()
            .map(|c| {
                (
                    c.field
                        .to_string()
                        .trim_start_matches("package ")
                        .to_string(),
                    c.before.clone(),
                    c.after.clone(),
                )
            })
            .collect();
        assert_eq!(got, want);
    });
}

/// Ansible's `[epoch:]version[-release]` back into dpkg's version string.
fn full_version(p: &Value) -> String {
    let mut v = String::new();
    if let Some(e) = p["epoch"].as_u64() {
        v.push_str(&format!("{e}:"));
    }
    v.push_str(p["version"].as_str().unwrap());
    if let Some(r) = p["release"].as_str() {
        v.push_str(&format!("-{r}"));
    }
    v
}

#[test]
fn package_facts_lists_the_machines_packages() {
    let fleet = Fleet::debian(1);
    rt().block_on(async {
        let h = Host::new(&fleet, "host1").await;
        let plan = h.plan("package_facts", json!({})).await.unwrap();
        assert!(plan.is_in_sync());
        let pk = &plan.result["ansible_facts"]["packages"];
        for name in ["openssh-server", "bash", "dpkg"] {
            let local = Command::new("dpkg-query")
                .args(["-W", "-f=${Version}", name])
                .output()
                .unwrap();
            let local = String::from_utf8(local.stdout).unwrap();
            let p = &pk[name][0];
            assert_eq!(p["name"], json!(name));
            assert_eq!(p["source"], json!("apt"));
            assert_eq!(full_version(p), local, "{name}: {p}");
        }
        assert_eq!(pk["openssh-server"][0]["epoch"], json!(1));
        assert!(pk.as_object().unwrap().len() > 100);
        // Asking for a manager the host lacks fails as Ansible does.
        assert!(h
            .plan("package_facts", json!({"manager": "apk"}))
            .await
            .is_err());
    });
}

/// A shim `rpm` and `dnf`: the rpm database is a file of `rpm -q --qf` lines, the repository
/// offers nginx; every call's argv is appended to /var/lib/muster-shim/argv.
const RPM_SHIM: &str = r#"#!/bin/sh
db=/var/lib/muster-shim/rpmdb; mkdir -p /var/lib/muster-shim; touch $db
echo "rpm $*" >> /var/lib/muster-shim/argv
case "$1" in
  -qa) cat $db; exit 0 ;;
  -q) shift; [ "$1" = --qf ] && shift 2; [ "$1" = -- ] && shift
      rc=0
      for n in "$@"; do
        if grep -q "^$n	" $db; then grep "^$n	" $db; else echo "package $n is not installed"; rc=1; fi
      done
      exit $rc ;;
esac
exit 1
"#;

const DNF_SHIM: &str = r#"#!/bin/sh
db=/var/lib/muster-shim/rpmdb; mkdir -p /var/lib/muster-shim; touch $db
echo "dnf $*" >> /var/lib/muster-shim/argv
verb=; names=
for a in "$@"; do
  case "$a" in
    -*) ;;
    list|install|remove|upgrade) [ -z "$verb" ] && verb=$a ;;
    *) names="$names $a" ;;
  esac
done
case "$verb" in
  list)
    found=
    for n in $names; do
      if [ "$n" = nginx ]; then
        [ -z "$found" ] && echo "Available Packages"; found=1
        echo "nginx.x86_64                  2:1.20.1-14.el9_2.1                 appstream"
      fi
    done
    [ -n "$found" ] || { echo "Error: No matching Packages to list" >&2; exit 1; } ;;
  install)
    for n in $names; do
      [ "$n" = nginx ] || { echo "No match for argument: $n" >&2; echo "Error: Unable to find a match: $n" >&2; exit 1; }
      printf 'nginx\t2\t1.20.1\t14.el9_2.1\tx86_64\n' >> $db
    done
    echo "Installed:"; echo "  nginx-2:1.20.1-14.el9_2.1.x86_64"; echo; echo "Complete!" ;;
  remove)
    for n in $names; do grep -v "^$n	" $db > $db.new; mv $db.new $db; done
    echo "Removed:"; echo "  $names"; echo; echo "Complete!" ;;
esac
"#;

/// A shim `apk`: installed packages in a file of `name-version-rN` lines; the repository
/// offers nginx 1.26.2-r0.
const APK_SHIM: &str = r#"#!/bin/sh
db=/var/lib/muster-shim/apkdb; mkdir -p /var/lib/muster-shim; [ -e $db ] || printf 'busybox-1.36.1-r29\nmusl-1.2.5-r0\n' > $db
echo "apk $*" >> /var/lib/muster-shim/argv
verb=$1; shift
names=; for a in "$@"; do case "$a" in -*) ;; *) names="$names $a" ;; esac; done
case "$verb" in
  info) cat $db ;;
  list)
    for n in $names; do
      if [ "$n" = nginx ]; then
        if grep -q '^nginx-' $db; then t=' [installed]'; else t=; fi
        echo "nginx-1.26.2-r0 x86_64 {nginx} (BSD-2-Clause)$t"
      fi
    done ;;
  add)
    for n in $names; do
      [ "$n" = nginx ] || { echo "ERROR: unable to select packages:" >&2; echo "  $n (no such package):" >&2; exit 1; }
      echo "nginx-1.26.2-r0" >> $db
    done
    echo "(1/1) Installing nginx (1.26.2-r0)"; echo "OK: 9 MiB in 16 packages" ;;
  del)
    for n in $names; do grep -v "^$n-[0-9]" $db > $db.new; mv $db.new $db; done
    echo "(1/1) Purging nginx (1.26.2-r0)"; echo "OK: 8 MiB in 15 packages" ;;
esac
"#;

fn last_argv(h: &Host<'_>) -> String {
    h.stdout("tail -n 1 /var/lib/muster-shim/argv")
}

#[test]
fn dnf_and_apk_through_shims() {
    let fleet = Fleet::start(vec![
        HostSpec::new("rhel1", Profile::Rhel)
            .file("/usr/local/sbin/rpm", RPM_SHIM, 0o755)
            .file("/usr/local/sbin/dnf", DNF_SHIM, 0o755),
        HostSpec::new("alpine1", Profile::Alpine).file("/usr/local/sbin/apk", APK_SHIM, 0o755),
    ]);
    rt().block_on(async {
        let h = Host::new(&fleet, "rhel1").await;
        let args = json!({"name": "nginx", "state": "present"});
        let plan = h.plan("dnf", args.clone()).await.unwrap();
        assert_eq!(
            one_change(&plan, "nginx"),
            (None, Some("2:1.20.1-14.el9_2.1".into()))
        );
        assert_eq!(last_argv(&h), "dnf -q list --available nginx");
        let r = h.apply("dnf", args.clone(), &plan).await;
        assert_eq!(last_argv(&h), "dnf -y install nginx");
        assert!(r["stdout"].as_str().unwrap().contains("Complete!"));
        assert!(h.plan("dnf", args.clone()).await.unwrap().is_in_sync());
        // yum is the same module.
        assert!(h.plan("yum", args).await.unwrap().is_in_sync());
        let absent = json!({"name": ["nginx"], "state": "absent"});
        let plan = h.plan("dnf", absent.clone()).await.unwrap();
        assert_eq!(
            one_change(&plan, "nginx"),
            (Some("2:1.20.1-14.el9_2.1".into()), None)
        );
        h.apply("dnf", absent.clone(), &plan).await;
        assert_eq!(last_argv(&h), "dnf -y remove nginx");
        assert!(h.plan("dnf", absent).await.unwrap().is_in_sync());
        let e = h.plan("dnf", json!({"name": "nosuch"})).await.unwrap_err();
        assert!(e.to_string().contains("No package matching 'nosuch'"), "{e}");
        // package_facts reads the shim's rpm database.
        h.sh("printf 'bash\\t0\\t5.1.8\\t9.el9\\tx86_64\\n' >> /var/lib/muster-shim/rpmdb");
        let plan = h.plan("package_facts", json!({"manager": "rpm"})).await.unwrap();
        assert_eq!(
            plan.result["ansible_facts"]["packages"]["bash"],
            json!([{"name": "bash", "version": "5.1.8", "release": "9.el9", "epoch": null, "arch": "x86_64", "source": "rpm"}])
        );

        let h = Host::new(&fleet, "alpine1").await;
        let args = json!({"name": "nginx"});
        let plan = h.plan("apk", args.clone()).await.unwrap();
        assert_eq!(one_change(&plan, "nginx"), (None, Some("1.26.2-r0".into())));
        h.apply("apk", args.clone(), &plan).await;
        assert_eq!(last_argv(&h), "apk add nginx");
        assert!(h.plan("apk", args.clone()).await.unwrap().is_in_sync());
        // package dispatches on the facts' ansible_pkg_mgr.
        let mut h = h;
        h.vars = json!({"ansible_pkg_mgr": "apk"});
        let absent = json!({"name": "nginx", "state": "absent"});
        let plan = h.plan("package", absent.clone()).await.unwrap();
        assert_eq!(one_change(&plan, "nginx"), (Some("1.26.2-r0".into()), None));
        h.apply("package", absent.clone(), &plan).await;
        assert_eq!(last_argv(&h), "apk del nginx");
        assert!(h.plan("package", absent).await.unwrap().is_in_sync());
        // (The fleet's Alpine host also has this machine's dpkg: ask for apk alone.)
        let plan = h
            .plan("package_facts", json!({"manager": "apk"}))
            .await
            .unwrap();
        assert_eq!(
            plan.result["ansible_facts"]["packages"]["busybox"][0]["version"],
            json!("1.36.1")
        );
    });
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

#[test]
fn package_in_a_playbook_check_then_apply() {
    let fleet = Fleet::start(vec![
        HostSpec::new("debian1", Profile::Debian).file(DEB, build_deb(), 0o644),
        HostSpec::new("rhel1", Profile::Rhel)
            .file("/usr/local/sbin/rpm", RPM_SHIM, 0o755)
            .file("/usr/local/sbin/dnf", DNF_SHIM, 0o755),
    ]);
    let inst = fleet.exec_on("debian1", &format!("dpkg -i {DEB}"));
    assert!(inst.status.success(), "{inst:?}");
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.yml");
    std::fs::write(
        &site,
        r#"- hosts: all
  tasks:
    - name: no test package on Debian
      package:
        name: muster-hello
        state: absent
      when: ansible_pkg_mgr == 'apt'
    - name: nginx on RHEL
      package: name=nginx state=present
      when: ansible_facts.pkg_mgr == 'dnf'
"#,
    )
    .unwrap();
    let site = site.to_str().unwrap();

    let check = muster(&fleet, &["check", site]);
    assert_eq!(check.status.code(), Some(2), "{}", show(&check));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("package muster-hello: 1.0-1 → (none)"),
        "{}",
        show(&check)
    );
    assert!(
        text.contains("package nginx: (none) → 2:1.20.1-14.el9_2.1"),
        "{}",
        show(&check)
    );
    // Check mode ran nothing.
    assert!(fleet
        .exec_on(
            "debian1",
            "dpkg-query -W -f='${db:Status-Abbrev}' muster-hello"
        )
        .stdout
        .starts_with(b"ii"));

    let apply = muster(&fleet, &["apply", site]);
    assert_eq!(apply.status.code(), Some(0), "{}", show(&apply));
    let again = muster(&fleet, &["check", site]);
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
    assert!(!fleet
        .exec_on(
            "debian1",
            "dpkg-query -W -f='${db:Status-Abbrev}' muster-hello"
        )
        .stdout
        .starts_with(b"ii"));
    let argv = fleet.exec_on("rhel1", "cat /var/lib/muster-shim/argv");
    assert!(
        String::from_utf8_lossy(&argv.stdout).contains("dnf -y install nginx\n"),
        "{argv:?}"
    );
}
