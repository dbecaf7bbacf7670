//! The service modules (service, systemd, systemd_service, service_facts) against a real sshd.
//! The fleet runs no init system of its own (its hosts share this machine's PID 1), so each
//! backend is driven through shims from `tests/shims/services/` that keep the service state in
//! files on the host: a `systemctl` that behaves like systemd, `rc-service`/`rc-update`/
//! `rc-status` for OpenRC, and a `service`/`update-rc.d` pair with an `/etc/init.d/fakesvc`
//! script for SysV. The machine's real init scripts are never run.
//!
//! For each backend: a plan shows typed changes and touches nothing, apply does what it said,
//! the next plan is in sync, `restarted` always changes, an unknown service is an error naming
//! it, and service_facts reports state and enablement.

mod fleet;

use std::sync::Arc;
use std::time::Duration;

use fleet::{Fleet, HostSpec, Profile};
use muster::cli::HostKeyChecking;
use muster::modules::{self, Change, ModuleCtx, Plan, SearchPaths};
use muster::transport::ssh::{SshSettings, SshTarget, SshTransport};
use muster::transport::Transport;
use serde_json::{json, Map, Value};

const HOST: &str = "svc1";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn no_render(text: &str, _vars: &Value) -> muster::Result<String> {
    Ok(text.to_string())
}

const SHIM_SYSTEMCTL: &[u8] = include_bytes!("shims/services/systemctl");
const SHIM_RC_SERVICE: &[u8] = include_bytes!("shims/services/rc-service");
const SHIM_RC_UPDATE: &[u8] = include_bytes!("shims/services/rc-update");
const SHIM_RC_STATUS: &[u8] = include_bytes!("shims/services/rc-status");
const SHIM_SERVICE: &[u8] = include_bytes!("shims/services/service");
const SHIM_UPDATE_RC_D: &[u8] = include_bytes!("shims/services/update-rc.d");
const FAKESVC_INITD: &[u8] = include_bytes!("shims/services/fakesvc.initd");

/// A Debian host whose `systemctl` is the shim: fakesvc (stopped, disabled), cron (running,
/// enabled), dbus (running, static), cups (masked).
fn systemd_host(name: &str) -> HostSpec {
    let u = |unit: &str, f: &str| format!("/var/lib/fake-systemd/{unit}/{f}");
    HostSpec::new(name, Profile::Debian)
        .file("/usr/local/sbin/systemctl", SHIM_SYSTEMCTL, 0o755)
        .file(&u("fakesvc.service", "active"), "inactive\n", 0o644)
        .file(&u("fakesvc.service", "enabled"), "disabled\n", 0o644)
        .file(&u("fakesvc.service", "description"), "Fake daemon\n", 0o644)
        .file(&u("cron.service", "active"), "active\n", 0o644)
        .file(&u("cron.service", "enabled"), "enabled\n", 0o644)
        .file(
            &u("cron.service", "description"),
            "Regular background program processing daemon\n",
            0o644,
        )
        .file(&u("dbus.service", "active"), "active\n", 0o644)
        .file(&u("dbus.service", "enabled"), "static\n", 0o644)
        .file(&u("cups.service", "active"), "inactive\n", 0o644)
        .file(&u("cups.service", "enabled"), "enabled\n", 0o644)
        .file(&u("cups.service", "masked"), "", 0o644)
}

/// An Alpine host with the OpenRC shims: fakesvc (stopped, in no runlevel), crond (started,
/// in default).
fn openrc_host(name: &str) -> HostSpec {
    HostSpec::new(name, Profile::Alpine)
        .file("/usr/local/sbin/rc-service", SHIM_RC_SERVICE, 0o755)
        .file("/usr/local/sbin/rc-update", SHIM_RC_UPDATE, 0o755)
        .file("/usr/local/sbin/rc-status", SHIM_RC_STATUS, 0o755)
        .file("/var/lib/fake-openrc/fakesvc/state", "stopped\n", 0o644)
        .file("/var/lib/fake-openrc/crond/state", "started\n", 0o644)
        .file("/etc/runlevels/default/crond", "", 0o644)
}

/// A Debian host with the SysV shims and /etc/init.d/fakesvc (stopped, no rc links).
fn sysv_host(name: &str) -> HostSpec {
    HostSpec::new(name, Profile::Debian)
        .file("/usr/local/sbin/service", SHIM_SERVICE, 0o755)
        .file("/usr/local/sbin/update-rc.d", SHIM_UPDATE_RC_D, 0o755)
        .file("/etc/init.d/fakesvc", FAKESVC_INITD, 0o755)
        .file("/var/lib/fake-sysv/log", "", 0o644)
}

struct Env {
    fleet: Fleet,
    t: Arc<SshTransport>,
    search: SearchPaths,
    vars: Value,
}

impl Env {
    async fn new(spec: HostSpec) -> Env {
        let fleet = Fleet::start(vec![spec]);
        let target = SshTarget {
            name: HOST.into(),
            address: "127.0.0.1".into(),
            port: fleet.port(HOST),
            user: "root".into(),
            identity_files: vec![fleet.client_key().to_path_buf()],
            identities_only: true,
            jumps: vec![],
        };
        let settings = Arc::new(SshSettings {
            known_hosts: vec![fleet.known_hosts().to_path_buf()],
            checking: HostKeyChecking::Strict,
            connect_timeout: Duration::from_secs(10),
            command_timeout: Some(Duration::from_secs(30)),
        });
        let t = SshTransport::connect(&target, settings).await.unwrap();
        Env {
            fleet,
            t,
            search: SearchPaths::default(),
            vars: json!({}),
        }
    }

    fn ctx(&self) -> ModuleCtx<'_> {
        ModuleCtx {
            host: HOST,
            transport: &*self.t,
            vars: &self.vars,
            render: &no_render,
            search: &self.search,
            planned: &[],
        }
    }

    fn build(&self, module: &str, args: &Value) -> Box<dyn modules::Module> {
        let def = modules::find(module).unwrap_or_else(|| panic!("{module} not registered"));
        let args = args.as_object().unwrap().clone();
        for k in args.keys() {
            assert!(def.args.contains(&k.as_str()), "{module}: {k} not in args");
        }
        (def.build)(&args).unwrap_or_else(|e| panic!("{module}: {e}"))
    }

    /// A snapshot of the host's shim state (every file under `dirs`, with link targets).
    fn state(&self, dirs: &str) -> String {
        self.sh(&format!(
            "for f in $(find {dirs} \\( -type f -o -type l \\) 2>/dev/null | sort); do printf '%s=' \"$f\"; if [ -L \"$f\" ]; then readlink \"$f\"; else cat \"$f\"; echo; fi; done"
        ))
    }

    /// Plans: one exec, no put, and the shim state as it was.
    async fn plan(&self, module: &str, args: &Value, dirs: &str) -> Plan {
        let m = self.build(module, args);
        let before = self.state(dirs);
        let ops = self.t.op_counts();
        let plan = m.plan(&self.ctx()).await.unwrap();
        let after_ops = self.t.op_counts();
        assert_eq!(after_ops.puts, ops.puts, "{module}: plan wrote files");
        assert_eq!(after_ops.execs - ops.execs, 1, "{module}: plan execs");
        assert_eq!(before, self.state(dirs), "{module}: plan changed the host");
        plan
    }

    async fn plan_err(&self, module: &str, args: &Value) -> String {
        match self.build(module, args).plan(&self.ctx()).await {
            Ok(p) => panic!("{module} {args}: expected an error, got {:?}", p.changes),
            Err(e) => e.to_string(),
        }
    }

    /// Applies a plan in one exec.
    async fn apply(&self, module: &str, args: &Value, plan: &Plan) -> Map<String, Value> {
        let ops = self.t.op_counts();
        let r = self
            .build(module, args)
            .apply(&self.ctx(), plan)
            .await
            .unwrap_or_else(|e| panic!("{module} {args}: {e}"));
        assert_eq!(
            self.t.op_counts().execs - ops.execs,
            1,
            "{module}: apply execs"
        );
        r
    }

    /// Plans, applies, checks the next plan is in sync; returns the first plan and the result.
    async fn converge(&self, module: &str, args: Value, dirs: &str) -> (Plan, Map<String, Value>) {
        let plan = self.plan(module, &args, dirs).await;
        assert!(!plan.is_in_sync(), "{module} {args}: expected changes");
        let result = self.apply(module, &args, &plan).await;
        let again = self.plan(module, &args, dirs).await;
        assert!(
            again.is_in_sync(),
            "{module} {args}: not idempotent: {:?}",
            again.changes
        );
        (plan, result)
    }

    async fn facts(&self) -> Map<String, Value> {
        let def = modules::find("service_facts").unwrap();
        let m = (def.build)(&Map::new()).unwrap();
        let ops = self.t.op_counts();
        let plan = m.plan(&self.ctx()).await.unwrap();
        assert_eq!(
            self.t.op_counts().execs - ops.execs,
            1,
            "service_facts execs"
        );
        assert!(plan.is_in_sync());
        plan.result["ansible_facts"]["services"]
            .as_object()
            .unwrap()
            .clone()
    }

    fn sh(&self, cmd: &str) -> String {
        let out = self.fleet.exec_on(HOST, cmd);
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }
}

fn pairs(plan: &Plan) -> Vec<(String, Option<&str>, Option<&str>)> {
    plan.changes
        .iter()
        .map(|c: &Change| (c.field.to_string(), c.before.as_deref(), c.after.as_deref()))
        .collect()
}

fn ch<'a>(f: &str, b: &'a str, a: &'a str) -> (String, Option<&'a str>, Option<&'a str>) {
    (f.to_string(), Some(b), Some(a))
}

const SD: &str = "/var/lib/fake-systemd";

#[test]
fn systemd_backend_through_a_systemctl_that_behaves_like_systemd() {
    rt().block_on(async {
        let env = Env::new(systemd_host(HOST)).await;
        let up = json!({"name": "fakesvc", "state": "started", "enabled": true, "use": "systemd"});
        let plan = env.plan("service", &up, SD).await;
        assert_eq!(
            pairs(&plan),
            vec![ch("enabled", "false", "true"), ch("state", "stopped", "started")]
        );
        assert_eq!(plan.result["status"]["LoadState"], "loaded");
        let result = env.apply("service", &up, &plan).await;
        assert_eq!(result["state"], "started");
        assert_eq!(result["enabled"], true);
        assert_eq!(result["name"], "fakesvc");
        assert_eq!(env.sh("cat /var/lib/fake-systemd/fakesvc.service/active"), "active");
        assert_eq!(env.sh("systemctl is-enabled fakesvc"), "enabled");
        assert_eq!(
            env.sh("cat /var/lib/fake-systemd/log"),
            "enable fakesvc.service\nstart fakesvc.service"
        );
        let again = env.plan("service", &up, SD).await;
        assert!(again.is_in_sync(), "{:?}", again.changes);
        assert_eq!(again.result["status"]["ActiveState"], "active");
        assert_eq!(again.result["status"]["SubState"], "running");

        // The systemd modules, the backend chosen by the fact, daemon-reload first.
        for module in ["systemd", "systemd_service"] {
            let p = env
                .plan(module, &json!({"name": "fakesvc.service", "state": "started"}), SD)
                .await;
            assert!(p.is_in_sync(), "{module}: {:?}", p.changes);
        }
        let restart = json!({"name": "fakesvc", "state": "restarted", "daemon_reload": true});
        for _ in 0..2 {
            let p = env.plan("systemd", &restart, SD).await;
            assert_eq!(pairs(&p), vec![ch("state", "started", "restarted")]);
            env.apply("systemd", &restart, &p).await;
        }
        assert!(env
            .sh("cat /var/lib/fake-systemd/log")
            .ends_with("daemon-reload\nrestart fakesvc.service\ndaemon-reload\nrestart fakesvc.service"));

        // `service` without `use:` follows ansible_service_mgr.
        let mut env = env;
        env.vars = json!({"ansible_service_mgr": "systemd"});
        let (plan, _) = env
            .converge(
                "service",
                json!({"name": "fakesvc", "state": "stopped", "enabled": false}),
                SD,
            )
            .await;
        assert_eq!(
            pairs(&plan),
            vec![ch("enabled", "true", "false"), ch("state", "started", "stopped")]
        );
        env.vars = json!({});

        // masked round trip; a masked unit stays stopped.
        let (plan, r) = env
            .converge("systemd", json!({"name": "fakesvc", "masked": true}), SD)
            .await;
        assert_eq!(pairs(&plan), vec![ch("masked", "false", "true")]);
        assert_eq!(r["masked"], true);
        assert_eq!(env.sh("systemctl is-enabled fakesvc || true"), "masked");
        let (plan, _) = env
            .converge(
                "systemd",
                json!({"name": "fakesvc", "masked": false, "enabled": true, "state": "started"}),
                SD,
            )
            .await;
        assert_eq!(
            pairs(&plan),
            vec![
                ch("masked", "true", "false"),
                ch("enabled", "false", "true"),
                ch("state", "stopped", "started")
            ]
        );
        let log = env.sh("cat /var/lib/fake-systemd/log");
        assert!(
            log.ends_with("unmask fakesvc.service\nenable fakesvc.service\nstart fakesvc.service"),
            "{log}"
        );
        // Already masked cups: in sync. A restart of a stopped unit starts it.
        let p = env
            .plan("systemd", &json!({"name": "cups", "masked": true}), SD)
            .await;
        assert!(p.is_in_sync());
        let p = env
            .plan("systemd", &json!({"name": "dbus", "state": "reloaded", "enabled": true}), SD)
            .await;
        assert_eq!(pairs(&p), vec![ch("state", "started", "reloaded")]);

        // Unknown unit: an error naming it.
        let e = env
            .plan_err("systemd", &json!({"name": "nosuch", "state": "started"}))
            .await;
        assert!(e.contains("Could not find the requested service nosuch"), "{e}");

        let mut env = env;
        env.vars = json!({"ansible_facts": {"service_mgr": "systemd"}});
        let f = env.facts().await;
        assert_eq!(f.len(), 4, "{f:?}");
        assert_eq!(
            f["fakesvc.service"],
            json!({"name": "fakesvc.service", "state": "running", "status": "enabled", "source": "systemd"})
        );
        assert_eq!(f["cron.service"]["state"], "running");
        assert_eq!(f["dbus.service"]["status"], "static");
        assert_eq!(f["cups.service"]["status"], "masked");
        assert_eq!(f["cups.service"]["state"], "stopped");
    });
}

const ORC: &str = "/var/lib/fake-openrc /etc/runlevels";

#[test]
fn openrc_backend() {
    rt().block_on(async {
        let env = Env::new(openrc_host(HOST)).await;
        // No `use:` and no fact: the probe finds rc-service.
        let up = json!({"name": "fakesvc", "state": "started", "enabled": true});
        let plan = env.plan("service", &up, ORC).await;
        assert_eq!(
            pairs(&plan),
            vec![ch("enabled", "false", "true"), ch("state", "stopped", "started")]
        );
        assert!(!plan.result.contains_key("status"));
        env.apply("service", &up, &plan).await;
        assert_eq!(env.sh("cat /var/lib/fake-openrc/fakesvc/state"), "started");
        assert_eq!(env.sh("readlink /etc/runlevels/default/fakesvc"), "/etc/init.d/fakesvc");
        assert!(env.plan("service", &up, ORC).await.is_in_sync());

        let restart = json!({"name": "fakesvc", "state": "restarted", "use": "openrc"});
        let p = env.plan("service", &restart, ORC).await;
        assert_eq!(pairs(&p), vec![ch("state", "started", "restarted")]);
        env.apply("service", &restart, &p).await;
        assert!(env.plan("service", &restart, ORC).await.changes.len() == 1);
        assert!(env
            .sh("cat /var/lib/fake-openrc/log")
            .ends_with("restart fakesvc"));

        let (plan, r) = env
            .converge(
                "service",
                json!({"name": "fakesvc", "state": "stopped", "enabled": false, "use": "openrc"}),
                ORC,
            )
            .await;
        assert_eq!(
            pairs(&plan),
            vec![ch("enabled", "true", "false"), ch("state", "started", "stopped")]
        );
        assert_eq!((&r["state"], &r["enabled"]), (&json!("stopped"), &json!(false)));
        assert!(env.sh("ls /etc/runlevels/default").split_whitespace().all(|s| s != "fakesvc"));

        // Another runlevel; masked is a systemd thing.
        env.converge(
            "service",
            json!({"name": "fakesvc", "enabled": true, "runlevel": "boot", "use": "openrc"}),
            ORC,
        )
        .await;
        assert_eq!(env.sh("ls /etc/runlevels/boot"), "fakesvc");
        let e = env
            .plan_err("service", &json!({"name": "nosuch", "state": "started"}))
            .await;
        assert!(e.contains("Could not find the requested service nosuch"), "{e}");
        let mut env = env;
        env.vars = json!({"ansible_service_mgr": "openrc"});
        let e = env
            .plan_err("service", &json!({"name": "crond", "masked": true}))
            .await;
        assert!(e.contains("systemd"), "{e}");

        let f = env.facts().await;
        assert_eq!(
            f["crond"],
            json!({"name": "crond", "state": "running", "status": "enabled", "source": "openrc", "runlevels": ["default"]})
        );
        assert_eq!(f["fakesvc"]["state"], "stopped");
        assert_eq!(f["fakesvc"]["status"], "enabled");
        assert_eq!(f["fakesvc"]["runlevels"], json!(["boot"]));
        assert_eq!(f.len(), 2, "{f:?}");
    });
}

const SV: &str = "/var/lib/fake-sysv /etc/rc0.d /etc/rc1.d /etc/rc2.d /etc/rc3.d /etc/rc4.d /etc/rc5.d /etc/rc6.d";

#[test]
fn sysv_backend() {
    rt().block_on(async {
        let env = Env::new(sysv_host(HOST)).await;
        let up = json!({"name": "fakesvc", "state": "started", "enabled": true, "use": "sysvinit", "arguments": "--quiet"});
        let plan = env.plan("service", &up, SV).await;
        assert_eq!(
            pairs(&plan),
            vec![ch("enabled", "false", "true"), ch("state", "stopped", "started")]
        );
        let r = env.apply("service", &up, &plan).await;
        assert_eq!((&r["state"], &r["enabled"]), (&json!("started"), &json!(true)));
        assert_eq!(
            env.sh("cat /var/lib/fake-sysv/log"),
            "defaults fakesvc\nenable fakesvc\nstart --quiet"
        );
        assert_eq!(env.sh("readlink /etc/rc3.d/S01fakesvc"), "../init.d/fakesvc");
        assert!(env.plan("service", &up, SV).await.is_in_sync());

        // Auto-detection (no systemd running, no OpenRC): the init script.
        let restart = json!({"name": "fakesvc", "state": "restarted", "sleep": 1});
        let p = env.plan("service", &restart, SV).await;
        assert_eq!(pairs(&p), vec![ch("state", "started", "restarted")]);
        env.apply("service", &restart, &p).await;
        assert!(env
            .sh("cat /var/lib/fake-sysv/log")
            .ends_with("stop\nstart"));
        assert_eq!(env.plan("service", &restart, SV).await.changes.len(), 1);

        let (plan, _) = env
            .converge(
                "service",
                json!({"name": "fakesvc", "state": "stopped", "enabled": "no", "use": "service"}),
                SV,
            )
            .await;
        assert_eq!(
            pairs(&plan),
            vec![ch("enabled", "true", "false"), ch("state", "started", "stopped")]
        );
        assert_eq!(env.sh("readlink /etc/rc3.d/K01fakesvc"), "../init.d/fakesvc");
        assert!(env.sh("cat /var/lib/fake-sysv/log").ends_with("disable fakesvc\nstop"));

        // `pattern`: the run state from the process table (no such process here).
        let p = env
            .plan(
                "service",
                &json!({"name": "fakesvc", "state": "stopped", "pattern": "fakesvc-no-such-daemon"}),
                SV,
            )
            .await;
        assert!(p.is_in_sync());

        let e = env
            .plan_err("service", &json!({"name": "nosuch", "state": "started", "use": "sysvinit"}))
            .await;
        assert!(e.contains("Could not find the requested service nosuch"), "{e}");

        env.sh("/etc/init.d/fakesvc start >/dev/null");
        let f = env.facts().await;
        assert_eq!(
            f["fakesvc"],
            json!({"name": "fakesvc", "state": "running", "status": "disabled", "source": "sysv"})
        );
        // The machine's own scripts are listed but never run.
        assert_eq!(f["ssh"]["state"], "unknown");
        assert_eq!(f["ssh"]["source"], "sysv");
    });
}

fn muster_run(fleet: &Fleet, args: &[&str]) -> std::process::Output {
    fleet
        .muster()
        .arg("-i")
        .arg(fleet.inventory())
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .args(args)
        .output()
        .expect("run muster")
}

fn show(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn changed(o: &std::process::Output, host: &str) -> u64 {
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.split_whitespace().next() == Some(host) && l.contains("changed="))
        .unwrap_or_else(|| panic!("no recap for {host}:\n{text}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("changed="))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn playbook_apply_then_check() {
    // Facts are not gathered: the fleet's gathered service_mgr would be this machine's.
    let fleet = Fleet::start(vec![
        systemd_host(HOST).var("ansible_service_mgr", "systemd")
    ]);
    let site = fleet.dir().join("services.yml");
    std::fs::write(
        &site,
        r#"- name: services
  hosts: all
  gather_facts: false
  tasks:
    - name: fakesvc runs and starts at boot
      service: { name: fakesvc, state: started, enabled: true, use: systemd }
    - name: cups stays masked
      ansible.builtin.systemd: { name: cups, masked: yes }
    - name: cron is enabled
      ansible.builtin.systemd_service: { name: cron.service, enabled: true, state: started, daemon_reload: true }
    - service_facts:
    - name: facts say fakesvc runs
      assert:
        that:
          - ansible_facts.services['fakesvc.service'].state == 'running'
          - ansible_facts.services['fakesvc.service'].status == 'enabled'
"#,
    )
    .unwrap();
    let site = site.to_str().unwrap();
    let first = muster_run(&fleet, &["apply", site]);
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    assert_eq!(changed(&first, HOST), 1, "{}", show(&first));
    let log = fleet.exec_on(HOST, "cat /var/lib/fake-systemd/log").stdout;
    assert_eq!(
        String::from_utf8_lossy(&log),
        "enable fakesvc.service\nstart fakesvc.service\n"
    );
    let check = muster_run(&fleet, &["check", site]);
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
    assert_eq!(changed(&check, HOST), 0, "{}", show(&check));
    let again = muster_run(&fleet, &["apply", site]);
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
    assert_eq!(changed(&again, HOST), 0, "{}", show(&again));
}
