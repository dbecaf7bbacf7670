//! The system modules (user, group, authorized_key, getent, sysctl, mount, modprobe) against a
//! real sshd: a plan on a fresh host shows typed changes, planning alone never touches the
//! host, apply does what the plan said, the next plan is in sync, and only that host changed.
//! Kernel state (live sysctl values, mounts, modules) is never touched: the hosts share the
//! machine's kernel, so only the file parts run here.

mod fleet;

use std::sync::Arc;
use std::time::Duration;

use fleet::{Fleet, HostSpec, Profile};
use muster::cli::HostKeyChecking;
use muster::modules::{self, Change, Field, ModuleCtx, Plan, SearchPaths};
use muster::transport::ssh::{SshSettings, SshTarget, SshTransport};
use muster::transport::Transport;
use serde_json::{json, Map, Value};

const HOST: &str = "host1";
const OTHER: &str = "host2";
/// A crypt(3)-shaped hash: what `password` takes. It must never show up in a plan or result.
const HASH: &str =
    "$6$mustersalt$R3dUcT3dN0tAR3alHaShButShap3dLik3OnE0123456789abcdefghijklmnopqrstuvwxyzABCDE";
const HASH2: &str =
    "$6$othersalt$AnotherFakeHashValueThatLooksLikeSha512Crypt0123456789abcdefghijklmnopqrs";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn no_render(text: &str, _vars: &Value) -> muster::Result<String> {
    Ok(text.to_string())
}

struct Env {
    fleet: Fleet,
    t: Arc<SshTransport>,
    search: SearchPaths,
    vars: Value,
}

impl Env {
    async fn new(specs: Vec<HostSpec>) -> Env {
        let fleet = Fleet::start(specs);
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

    async fn two() -> Env {
        Env::new(vec![
            HostSpec::new(HOST, Profile::Debian),
            HostSpec::new(OTHER, Profile::Debian),
        ])
        .await
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

    fn build(&self, module: &str, args: Value) -> Box<dyn modules::Module> {
        let def = modules::find(module).unwrap_or_else(|| panic!("{module} not registered"));
        let args = args.as_object().unwrap().clone();
        for k in args.keys() {
            assert!(def.args.contains(&k.as_str()), "{module}: {k} not in args");
        }
        (def.build)(&args).unwrap_or_else(|e| panic!("{module}: {e}"))
    }

    fn build_err(&self, module: &str, args: Value) -> String {
        let def = modules::find(module).unwrap();
        match (def.build)(args.as_object().unwrap()) {
            Ok(_) => panic!("{module}: {args} should not build"),
            Err(e) => e,
        }
    }

    /// Plans: one exec, no put, and the watched files as they were.
    async fn plan(&self, module: &str, args: Value, watch: &[&str]) -> Plan {
        let m = self.build(module, args);
        let before: Vec<_> = watch
            .iter()
            .map(|w| self.fleet.upper_file(HOST, w))
            .collect();
        let ops = self.t.op_counts();
        let plan = m.plan(&self.ctx()).await.unwrap();
        let after_ops = self.t.op_counts();
        assert_eq!(after_ops.puts, ops.puts, "{module}: plan wrote files");
        assert_eq!(after_ops.execs - ops.execs, 1, "{module}: plan execs");
        let after: Vec<_> = watch
            .iter()
            .map(|w| self.fleet.upper_file(HOST, w))
            .collect();
        assert_eq!(before, after, "{module}: plan changed {watch:?}");
        plan
    }

    /// Plans, applies, checks the next plan is in sync; returns the first plan and the result.
    async fn converge(
        &self,
        module: &str,
        args: Value,
        watch: &[&str],
    ) -> (Plan, Map<String, Value>) {
        let plan = self.plan(module, args.clone(), watch).await;
        assert!(!plan.is_in_sync(), "{module}: expected changes");
        let result = self
            .build(module, args.clone())
            .apply(&self.ctx(), &plan)
            .await
            .unwrap();
        let again = self.plan(module, args, watch).await;
        assert!(
            again.is_in_sync(),
            "{module}: not idempotent: {:?}",
            again.changes
        );
        (plan, result)
    }

    fn sh(&self, host: &str, cmd: &str) -> String {
        let out = self.fleet.exec_on(host, cmd);
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    fn file(&self, host: &str, path: &str) -> String {
        String::from_utf8(self.fleet.upper_file(host, path).unwrap_or_default()).unwrap()
    }
}

fn fields(plan: &Plan) -> Vec<String> {
    plan.changes.iter().map(|c| c.field.to_string()).collect()
}

fn change<'a>(plan: &'a Plan, f: &str) -> &'a Change {
    plan.changes
        .iter()
        .find(|c| c.field.to_string() == f)
        .unwrap_or_else(|| panic!("no {f} change in {:?}", plan.changes))
}

fn pair(c: &Change) -> (Option<&str>, Option<&str>) {
    (c.before.as_deref(), c.after.as_deref())
}

/// Nothing a user sees may hold the hash.
fn assert_no_secret(plan: &Plan, result: Option<&Map<String, Value>>) {
    let text = format!(
        "{:?} {:?} {}",
        plan.changes,
        plan.result,
        serde_json::to_string(&plan.state).unwrap()
    ) + &result
        .map(|r| Value::Object(r.clone()).to_string())
        .unwrap_or_default();
    for h in [HASH, HASH2] {
        assert!(!text.contains(h), "hash leaked: {text}");
        assert!(!text.contains(&h[12..40]), "hash leaked: {text}");
    }
}

#[test]
fn user_and_group() {
    rt().block_on(async {
        let env = Env::two().await;
        let watch = ["/etc/passwd", "/etc/group", "/etc/shadow"];

        // group: created with a gid, then changed.
        let args = json!({"name": "ops", "gid": 2001});
        let plan = env.plan("group", args.clone(), &watch).await;
        assert_eq!(fields(&plan), ["state", "gid"]);
        let (_, r) = env.converge("group", args, &watch).await;
        assert_eq!(
            (r["gid"].clone(), r["state"].clone()),
            (json!(2001), json!("present"))
        );
        assert!(env.file(HOST, "/etc/group").contains("\nops:x:2001:"));
        env.converge("group", json!({"name": "dev", "gid": 2002}), &watch)
            .await;
        let plan = env
            .plan("group", json!({"name": "dev", "gid": 2003}), &watch)
            .await;
        assert_eq!(pair(change(&plan, "gid")), (Some("2002"), Some("2003")));

        // user on a fresh host: state and every field asked, password hidden.
        let args = json!({
            "name": "alice", "uid": 1501, "group": "ops", "groups": "dev",
            "shell": "/bin/sh", "home": "/srv/home/alice", "comment": "Alice A",
            "password": HASH, "expires": 1893456000.0,
        });
        let plan = env.plan("user", args.clone(), &watch).await;
        assert_eq!(
            fields(&plan),
            [
                "state", "uid", "group", "groups", "comment", "home", "shell", "expires",
                "password"
            ]
        );
        assert_eq!(
            pair(change(&plan, "state")),
            (Some("absent"), Some("present"))
        );
        assert_eq!(pair(change(&plan, "password")), (None, Some("(hash set)")));
        assert_eq!(pair(change(&plan, "expires")), (None, Some("2030-01-01")));
        assert_no_secret(&plan, None);
        assert!(!env.sh(HOST, "cat /etc/passwd").contains("alice"));

        let (_, r) = env.converge("user", args.clone(), &watch).await;
        assert_no_secret(&plan, Some(&r));
        assert_eq!(r["uid"], json!(1501));
        assert_eq!(r["group"], json!(2001));
        assert_eq!(r["home"], json!("/srv/home/alice"));
        assert_eq!(r["password"], json!("NOT_LOGGING_PASSWORD"));
        assert!(env
            .file(HOST, "/etc/passwd")
            .contains("alice:x:1501:2001:Alice A:/srv/home/alice:/bin/sh\n"));
        let shadow = env.file(HOST, "/etc/shadow");
        let line = shadow.lines().find(|l| l.starts_with("alice:")).unwrap();
        assert_eq!(line.split(':').nth(1), Some(HASH));
        assert_eq!(line.split(':').nth(7), Some("21915"));
        assert!(env.file(HOST, "/etc/group").contains("\ndev:x:2002:alice"));
        assert_eq!(env.sh(HOST, "stat -c %U /srv/home/alice"), "alice");
        // On this host only.
        assert!(env.fleet.upper_file(OTHER, "/etc/passwd").is_none());
        assert!(!env.sh(OTHER, "cat /etc/passwd").contains("alice"));

        // Typed changes on an existing user: uid, shell, groups, hash, lock, expiry.
        let args2 = json!({
            "name": "alice", "uid": 1502, "shell": "/bin/bash", "groups": ["ops", "sudo"],
            "password": HASH2, "password_lock": true, "expires": -1,
        });
        let plan = env.plan("user", args2.clone(), &watch).await;
        assert_eq!(
            fields(&plan),
            [
                "uid",
                "groups",
                "shell",
                "expires",
                "password",
                "password_lock"
            ]
        );
        assert_eq!(pair(change(&plan, "uid")), (Some("1501"), Some("1502")));
        assert_eq!(
            pair(change(&plan, "shell")),
            (Some("/bin/sh"), Some("/bin/bash"))
        );
        // ops is the primary group: only the supplementary ones are compared.
        assert_eq!(pair(change(&plan, "groups")), (Some("dev"), Some("sudo")));
        assert_eq!(
            pair(change(&plan, "password")),
            (Some("(hash)"), Some("(hash changed)"))
        );
        assert_eq!(
            pair(change(&plan, "expires")),
            (Some("2030-01-01"), Some("never"))
        );
        assert_no_secret(&plan, None);
        let (_, r) = env.converge("user", args2, &watch).await;
        assert_no_secret(&plan, Some(&r));
        let shadow = env.file(HOST, "/etc/shadow");
        let line = shadow.lines().find(|l| l.starts_with("alice:")).unwrap();
        assert_eq!(line.split(':').nth(1), Some(format!("!{HASH2}").as_str()));
        assert_eq!(line.split(':').nth(7), Some(""));
        assert_eq!(env.sh(HOST, "id -Gn alice"), "ops sudo");

        // append adds without removing; update_password on_create leaves the hash alone.
        let args3 = json!({"name": "alice", "groups": "dev", "append": true,
                           "password": HASH, "update_password": "on_create"});
        let plan = env.plan("user", args3.clone(), &watch).await;
        assert_eq!(fields(&plan), ["groups"]);
        assert_eq!(
            pair(change(&plan, "groups")),
            (Some("sudo"), Some("dev,sudo"))
        );
        env.converge("user", args3, &watch).await;

        // password_lock: false unlocks; groups: '' drops every supplementary group.
        let args4 = json!({"name": "alice", "password_lock": false, "groups": ""});
        let plan = env.plan("user", args4.clone(), &watch).await;
        assert_eq!(fields(&plan), ["groups", "password_lock"]);
        assert_eq!(pair(change(&plan, "groups")), (Some("dev,sudo"), Some("")));
        env.converge("user", args4, &watch).await;
        let shadow = env.file(HOST, "/etc/shadow");
        let line = shadow.lines().find(|l| l.starts_with("alice:")).unwrap();
        assert_eq!(line.split(':').nth(1), Some(HASH2));
        assert_eq!(env.sh(HOST, "id -Gn alice"), "ops");

        // Unknown group: an error naming it, before anything runs.
        let err = env
            .build(
                "user",
                json!({"name": "bob", "groups": "nosuch", "home": "/srv/home/bob"}),
            )
            .plan(&env.ctx())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("nosuch"), "{err}");

        // Impossible states are build errors naming the argument.
        assert!(env
            .build_err(
                "user",
                json!({"name": "alice", "state": "absent", "uid": 1})
            )
            .contains("`uid`"));
        assert!(env
            .build_err("group", json!({"name": "ops", "gid": "abc"}))
            .contains("`gid`"));

        // Removal.
        let args = json!({"name": "alice", "state": "absent", "remove": true});
        let plan = env.plan("user", args.clone(), &watch).await;
        assert_eq!(
            pair(change(&plan, "state")),
            (Some("present"), Some("absent"))
        );
        env.converge("user", args, &watch).await;
        assert!(!env.file(HOST, "/etc/passwd").contains("alice"));
        assert_eq!(env.sh(HOST, "test -e /srv/home/alice || echo gone"), "gone");
        env.converge("group", json!({"name": "dev", "state": "absent"}), &watch)
            .await;
        assert!(!env.file(HOST, "/etc/group").contains("\ndev:"));
    });
}

const K1: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMusterTestKeyOneOneOneOneOneOneOneOne alice@laptop";
const K2: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMusterTestKeyTwoTwoTwoTwoTwoTwoTwoTwo alice@desk";

#[test]
fn authorized_key() {
    rt().block_on(async {
        let env = Env::two().await;
        let keys = "/srv/home/alice/.ssh/authorized_keys";
        env.converge(
            "user",
            json!({"name": "alice", "home": "/srv/home/alice", "create_home": false}),
            &["/etc/passwd"],
        )
        .await;
        env.sh(
            HOST,
            "mkdir -p /srv/home/alice && chown alice: /srv/home/alice",
        );

        // Fresh: the directory and the file, with the key's diff.
        let args = json!({"user": "alice", "key": K1});
        let plan = env.plan("authorized_key", args.clone(), &[keys]).await;
        assert_eq!(fields(&plan), ["directory", "state", "content"]);
        let d = change(&plan, "content").diff.clone().unwrap();
        assert_eq!(
            (d.before.as_str(), d.after.as_str()),
            ("", &*format!("{K1}\n"))
        );
        let (_, r) = env.converge("authorized_key", args, &[keys]).await;
        assert_eq!(r["keyfile"], json!(keys));
        assert_eq!(env.file(HOST, keys), format!("{K1}\n"));
        assert_eq!(
            env.sh(HOST, &format!("stat -c '%a %U' {keys}")),
            "600 alice"
        );
        assert_eq!(
            env.sh(HOST, "stat -c '%a %U' /srv/home/alice/.ssh"),
            "700 alice"
        );
        assert!(env.fleet.upper_file(OTHER, keys).is_none());

        // The same key with another comment is in sync; a second key with options is added.
        let plan = env
            .plan(
                "authorized_key",
                json!({"user": "alice", "key": K1.replace("alice@laptop", "x")}),
                &[keys],
            )
            .await;
        assert!(plan.is_in_sync(), "{:?}", plan.changes);
        env.sh(HOST, &format!("printf '# managed by hand\\n' >> {keys}"));
        let args = json!({"user": "alice", "key": K2, "key_options": "no-pty,from=\"10.0.0.0/8\""});
        env.converge("authorized_key", args, &[keys]).await;
        assert_eq!(
            env.file(HOST, keys),
            format!("{K1}\n# managed by hand\nno-pty,from=\"10.0.0.0/8\" {K2}\n")
        );

        // exclusive keeps only the keys given (and comment lines); absent removes.
        env.converge(
            "authorized_key",
            json!({"user": "alice", "key": K2, "exclusive": true}),
            &[keys],
        )
        .await;
        assert_eq!(env.file(HOST, keys), format!("# managed by hand\n{K2}\n"));
        env.converge(
            "authorized_key",
            json!({"user": "alice", "key": K2, "state": "absent"}),
            &[keys],
        )
        .await;
        assert_eq!(env.file(HOST, keys), "# managed by hand\n");
        assert_eq!(
            env.sh(HOST, &format!("stat -c '%a %U' {keys}")),
            "600 alice"
        );

        assert!(env
            .build_err(
                "authorized_key",
                json!({"user": "alice", "key": "not a key"})
            )
            .contains("`key`"));
    });
}

#[test]
fn getent_and_sysctl_file() {
    rt().block_on(async {
        let env = Env::two().await;

        // getent: read-only, Ansible's facts shape.
        let plan = env
            .plan("getent", json!({"database": "passwd", "key": "root"}), &[])
            .await;
        assert!(plan.is_in_sync());
        assert_eq!(
            plan.result["ansible_facts"]["getent_passwd"]["root"],
            json!(["x", "0", "0", "root", "/root", "/bin/bash"])
        );
        let plan = env.plan("getent", json!({"database": "group"}), &[]).await;
        assert_eq!(
            plan.result["ansible_facts"]["getent_group"]["root"][1],
            json!("0")
        );
        let err = env
            .build("getent", json!({"database": "passwd", "key": "nosuchuser"}))
            .plan(&env.ctx())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("could not be found"), "{err}");
        let plan = env
            .plan(
                "getent",
                json!({"database": "passwd", "key": "nosuchuser", "fail_key": false}),
                &[],
            )
            .await;
        assert_eq!(plan.result["ansible_facts"]["getent_passwd"], json!({}));

        // sysctl, file part only (the hosts share the machine's kernel).
        let f = "/etc/sysctl.d/90-muster.conf";
        env.sh(
            HOST,
            &format!("printf '# tuned by hand\\nvm.swappiness = 60\\nkernel.panic=5\\n' > {f}"),
        );
        let args = json!({"name": "vm.swappiness", "value": 10, "sysctl_file": f,
                          "reload": false, "sysctl_set": false});
        let plan = env.plan("sysctl", args.clone(), &[f]).await;
        assert_eq!(fields(&plan), ["vm.swappiness", "content"]);
        assert_eq!(
            pair(change(&plan, "vm.swappiness")),
            (Some("60"), Some("10"))
        );
        env.converge("sysctl", args, &[f]).await;
        assert_eq!(
            env.file(HOST, f),
            "# tuned by hand\nvm.swappiness=10\nkernel.panic=5\n"
        );
        // With reload, the plan says it would run sysctl -p (never run here).
        let plan = env
            .plan(
                "sysctl",
                json!({"name": "net.ipv4.ip_forward", "value": "1", "sysctl_file": f}),
                &[f],
            )
            .await;
        assert_eq!(fields(&plan), ["net.ipv4.ip_forward", "content", "reload"]);
        assert_eq!(
            change(&plan, "reload").after.as_deref(),
            Some(&*format!("sysctl -p {f}"))
        );
        // New file, then absent.
        let g = "/etc/sysctl.d/91-new.conf";
        env.converge(
            "sysctl",
            json!({"name": "net.ipv4.ip_forward", "value": true,
                                     "sysctl_file": g, "reload": false}),
            &[g],
        )
        .await;
        assert_eq!(env.file(HOST, g), "net.ipv4.ip_forward=1\n");
        assert_eq!(env.sh(HOST, &format!("stat -c %a {g}")), "644");
        env.converge(
            "sysctl",
            json!({"name": "kernel.panic", "state": "absent",
                                     "sysctl_file": f, "reload": false}),
            &[f],
        )
        .await;
        assert_eq!(env.file(HOST, f), "# tuned by hand\nvm.swappiness=10\n");
        assert!(env.fleet.upper_file(OTHER, f).is_none());
        assert!(env
            .build_err("sysctl", json!({"name": "vm.swappiness"}))
            .contains("`value`"));

        // The live value is read (never set here): equal → only the file; different → a
        // "(live)" change too.
        let h = "/etc/sysctl.d/92-live.conf";
        let plan = env
            .plan(
                "sysctl",
                json!({"name": "kernel.ostype", "value": "Linux", "sysctl_file": h,
                                  "sysctl_set": true, "reload": false}),
                &[h],
            )
            .await;
        assert_eq!(fields(&plan), ["kernel.ostype", "content"]);
        let plan = env
            .plan(
                "sysctl",
                json!({"name": "kernel.ostype", "value": "Plan9", "sysctl_file": h,
                                  "sysctl_set": true, "reload": false}),
                &[h],
            )
            .await;
        assert_eq!(
            fields(&plan),
            ["kernel.ostype", "content", "kernel.ostype (live)"]
        );
        assert_eq!(
            pair(change(&plan, "kernel.ostype (live)")),
            (Some("Linux"), Some("Plan9"))
        );
    });
}

#[test]
fn mount_fstab() {
    rt().block_on(async {
        let env = Env::two().await;
        let f = "/etc/fstab";
        let orig = "# /etc/fstab: static file system information.\n#\n# <file system> <mount point> <type> <options> <dump> <pass>\nUUID=abcd  /  ext4  errors=remount-ro  0  1\n\n";
        env.sh(HOST, &format!("printf '%s' '{orig}' > {f}"));
        assert_eq!(env.file(HOST, f), orig);

        // present: the fstab entry only.
        let args = json!({"path": "/srv/data", "src": "/dev/vdb1", "fstype": "xfs",
                          "opts": "noatime", "passno": 2, "state": "present"});
        let plan = env.plan("mount", args.clone(), &[f]).await;
        assert_eq!(fields(&plan), ["fstab entry", "content"]);
        assert_eq!(
            pair(change(&plan, "fstab entry")),
            (None, Some("/dev/vdb1 /srv/data xfs noatime 0 2"))
        );
        env.converge("mount", args, &[f]).await;
        assert_eq!(env.file(HOST, f), format!("{orig}/dev/vdb1 /srv/data xfs noatime 0 2\n"));
        assert!(env.fleet.upper_file(OTHER, f).is_none());

        // Changed options replace the entry in place; boot: false adds noauto.
        let args = json!({"name": "/srv/data", "src": "/dev/vdb1", "fstype": "xfs",
                          "opts": "noatime,nodev", "boot": false, "state": "present"});
        let plan = env.plan("mount", args.clone(), &[f]).await;
        assert_eq!(
            pair(change(&plan, "fstab entry")),
            (Some("/dev/vdb1 /srv/data xfs noatime 0 2"), Some("/dev/vdb1 /srv/data xfs noatime,nodev,noauto 0 0"))
        );
        env.converge("mount", args, &[f]).await;

        // mounted: the plan names the commands it would run (never applied here).
        let plan = env
            .plan("mount", json!({"path": "/srv/web", "src": "tmpfs", "fstype": "tmpfs", "state": "mounted"}), &[f])
            .await;
        assert_eq!(fields(&plan), ["fstab entry", "content", "state", "command", "command"]);
        let cmds: Vec<_> = plan
            .changes
            .iter()
            .filter(|c| c.field == Field::Command)
            .map(|c| c.after.clone().unwrap())
            .collect();
        assert_eq!(cmds, ["mkdir -p -- /srv/web", "mount /srv/web"]);

        // absent removes the entry and, as Ansible, the empty mount point (not mounted: no
        // umount).
        env.sh(HOST, "mkdir -p /srv/data");
        let args = json!({"path": "/srv/data", "state": "absent"});
        let plan = env.plan("mount", args.clone(), &[f]).await;
        assert_eq!(fields(&plan), ["fstab entry", "content", "command"]);
        assert_eq!(change(&plan, "command").after.as_deref(), Some("rmdir -- /srv/data"));
        env.converge("mount", args, &[f]).await;
        assert_eq!(env.file(HOST, f), orig);
        assert_eq!(env.sh(HOST, "test -e /srv/data || echo gone"), "gone");

        assert!(env
            .build_err("mount", json!({"path": "/srv/x", "state": "mounted", "src": "/dev/x"}))
            .contains("`fstype`"));
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

/// The recap's `changed=` count of a host.
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
    let fleet = Fleet::debian(2);
    let site = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/system/site.yml");
    let site = site.to_str().unwrap();
    // Drift on fresh hosts: check exits 2, and neither text nor JSON events show the hash.
    let drift = muster_run(&fleet, &["check", site, "-v"]);
    assert_eq!(drift.status.code(), Some(2), "{}", show(&drift));
    assert!(!show(&drift).contains("NotARealHash"), "{}", show(&drift));
    let json_drift = muster_run(&fleet, &["check", site, "--format", "json"]);
    assert!(
        !show(&json_drift).contains("NotARealHash"),
        "{}",
        show(&json_drift)
    );
    assert!(
        show(&json_drift).contains("(hash set)"),
        "{}",
        show(&json_drift)
    );
    let first = muster_run(&fleet, &["apply", site]);
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    for h in ["host1", "host2"] {
        assert_eq!(changed(&first, h), 5, "{}", show(&first));
        let passwd = String::from_utf8(fleet.upper_file(h, "/etc/passwd").unwrap()).unwrap();
        assert!(passwd.contains("deploy:x:2100:2100:Deploy user:/srv/home/deploy:/bin/bash\n"));
        let keys = fleet
            .upper_file(h, "/srv/home/deploy/.ssh/authorized_keys")
            .unwrap();
        assert!(String::from_utf8(keys).unwrap().ends_with(" deploy@ci\n"));
        assert_eq!(
            fleet
                .upper_file(h, "/etc/sysctl.d/60-forward.conf")
                .as_deref(),
            Some(&b"net.ipv4.ip_forward=1\n"[..])
        );
        let fstab = String::from_utf8(fleet.upper_file(h, "/etc/fstab").unwrap()).unwrap();
        assert!(
            fstab.ends_with("LABEL=data /srv/data ext4 noatime 0 0\n"),
            "{fstab}"
        );
    }
    // The hash is a secret: never in what muster prints.
    let all = show(&first);
    assert!(!all.contains("NotARealHash"), "{all}");

    let check = muster_run(&fleet, &["check", site]);
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
    let again = muster_run(&fleet, &["apply", site]);
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
    for h in ["host1", "host2"] {
        assert_eq!(changed(&check, h), 0, "{}", show(&check));
        assert_eq!(changed(&again, h), 0, "{}", show(&again));
    }
    assert!(!show(&check).contains("NotARealHash"));
}

/// lsmod/modprobe stand-ins: nothing reaches the shared kernel. modprobe records its call and
/// "loads" by adding the module to the list lsmod prints.
const LSMOD_SHIM: &str = "#!/bin/sh\necho 'Module                  Size  Used by'\n[ -f /srv/loaded ] && sed 's/$/ 16384 0/' /srv/loaded\nexit 0\n";
const MODPROBE_SHIM: &str = "#!/bin/sh\necho \"$*\" >> /srv/modprobe.log\nif [ \"$1\" = -r ]; then sed -i \"/^$2\\$/d\" /srv/loaded; else echo \"$1\" >> /srv/loaded; fi\n";

#[test]
fn modprobe_files() {
    rt().block_on(async {
        let spec = |n: &str| {
            HostSpec::new(n, Profile::Debian)
                .file("/usr/local/sbin/lsmod", LSMOD_SHIM, 0o755)
                .file("/usr/local/sbin/modprobe", MODPROBE_SHIM, 0o755)
        };
        let env = Env::new(vec![spec(HOST), spec(OTHER)]).await;
        let (lf, of) = (
            "/etc/modules-load.d/muster_dummy.conf",
            "/etc/modprobe.d/muster_dummy.conf",
        );
        let args =
            json!({"name": "muster_dummy", "params": "numdummies=2", "persistent": "present"});
        let plan = env
            .plan("modprobe", args.clone(), &[lf, of, "/srv/modprobe.log"])
            .await;
        assert_eq!(fields(&plan), ["state", "command", "content", "content"]);
        assert_eq!(
            change(&plan, "command").after.as_deref(),
            Some("modprobe muster_dummy numdummies=2")
        );
        assert_eq!(env.fleet.upper_file(HOST, "/srv/modprobe.log"), None);
        env.converge("modprobe", args, &[lf, of]).await;
        assert_eq!(env.file(HOST, lf), "muster_dummy\n");
        assert_eq!(env.file(HOST, of), "options muster_dummy numdummies=2\n");
        assert_eq!(
            env.file(HOST, "/srv/modprobe.log"),
            "muster_dummy numdummies=2\n"
        );
        assert!(env.fleet.upper_file(OTHER, lf).is_none());

        let args = json!({"name": "muster_dummy", "state": "absent", "persistent": "absent"});
        let plan = env.plan("modprobe", args.clone(), &[lf, of]).await;
        assert_eq!(fields(&plan), ["state", "command", "state", "state"]);
        env.converge("modprobe", args, &[lf, of]).await;
        assert!(env.fleet.upper_deleted(HOST, lf) || env.fleet.upper_file(HOST, lf).is_none());
        assert_eq!(env.sh(HOST, &format!("test -e {lf} || echo gone")), "gone");
        assert_eq!(
            env.file(HOST, "/srv/modprobe.log"),
            "muster_dummy numdummies=2\n-r muster_dummy\n"
        );
    });
}

#[test]
fn find_files() {
    rt().block_on(async {
        let env = Env::two().await;
        env.sh(
            HOST,
            "mkdir -p /srv/logs/sub /srv/logs/.hid && cd /srv/logs && printf 'ERROR boom\\n' > app.log \
             && printf 'all fine\\n' > web.log && printf 'x' > notes.txt && printf 'ERROR old\\n' > sub/old.log \
             && printf 'h\\n' > .hidden.log && printf 'ERROR\\n' > '.hid/in hidden.log' \
             && touch -d '10 days ago' sub/old.log && ln -s app.log link.log && head -c 20000 /dev/zero > big.log",
        );
        let names = |p: &Plan| -> Vec<String> {
            let mut v: Vec<String> = p.result["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["path"].as_str().unwrap().to_string())
                .collect();
            v.sort();
            v
        };
        // Top level only, globs, no hidden files, regular files only.
        let plan = env.plan("find", json!({"paths": "/srv/logs", "patterns": "*.log"}), &[]).await;
        assert!(plan.is_in_sync());
        assert_eq!(names(&plan), ["/srv/logs/app.log", "/srv/logs/big.log", "/srv/logs/web.log"]);
        assert_eq!(plan.result["matched"], json!(3));
        assert_eq!(plan.result["examined"], json!(8));
        let app = plan.result["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == json!("/srv/logs/app.log"))
            .unwrap()
            .clone();
        assert_eq!((app["size"].clone(), app["isreg"].clone(), app["pw_name"].clone()), (json!(11), json!(true), json!("root")));

        // Recursive, contents, age, size, hidden, regex, excludes, links, checksums.
        let plan = env
            .plan("find", json!({"paths": ["/srv/logs"], "recurse": true, "contains": "ERROR", "hidden": true}), &[])
            .await;
        assert_eq!(
            names(&plan),
            ["/srv/logs/.hid/in hidden.log", "/srv/logs/app.log", "/srv/logs/sub/old.log"]
        );
        let plan = env.plan("find", json!({"paths": "/srv/logs", "recurse": true, "age": "2d"}), &[]).await;
        assert_eq!(names(&plan), ["/srv/logs/sub/old.log"]);
        let plan = env.plan("find", json!({"paths": "/srv/logs", "recurse": true, "age": "-1d", "size": "10k"}), &[]).await;
        assert_eq!(names(&plan), ["/srv/logs/big.log"]);
        let plan = env
            .plan("find", json!({"paths": "/srv/logs", "patterns": "^(app|web)\\.log$", "use_regex": true, "excludes": "web*"}), &[])
            .await;
        assert_eq!(names(&plan), ["/srv/logs/app.log"]);
        let plan = env.plan("find", json!({"paths": "/srv/logs", "file_type": "link"}), &[]).await;
        assert_eq!(names(&plan), ["/srv/logs/link.log"]);
        let plan = env.plan("find", json!({"paths": "/srv/logs", "file_type": "directory", "hidden": true}), &[]).await;
        assert_eq!(names(&plan), ["/srv/logs/.hid", "/srv/logs/sub"]);
        let plan = env.plan("find", json!({"paths": "/srv/logs", "patterns": "app.log", "get_checksum": true}), &[]).await;
        assert_eq!(plan.result["files"][0]["checksum"], json!(sha1_hex(b"ERROR boom\n")));
        let plan = env.plan("find", json!({"paths": ["/srv/nope", "/srv/logs"], "patterns": "web.log"}), &[]).await;
        assert_eq!(names(&plan), ["/srv/logs/web.log"]);
        assert!(plan.result["skipped_paths"]["/srv/nope"].is_string());
        assert!(env.build_err("find", json!({"paths": "/srv", "age": "2y"})).contains("`age`"));
    });
}

fn sha1_hex(b: &[u8]) -> String {
    muster::modules::fileops::sha1_hex(b)
}

/// A crontab stand-in (the machine has no cron): -l prints, - installs stdin.
const CRONTAB_SHIM: &str = "#!/bin/sh\nu=root\nif [ \"$1\" = -u ]; then u=$2; shift 2; fi\nf=/var/spool/cron/crontabs/$u\ncase \"$1\" in\n-l) [ -f \"$f\" ] || { echo \"no crontab for $u\" >&2; exit 1; }; cat \"$f\";;\n-) mkdir -p /var/spool/cron/crontabs && cat > \"$f\";;\n*) exit 2;;\nesac\n";

#[test]
fn cron_jobs() {
    rt().block_on(async {
        let spec = |n: &str| HostSpec::new(n, Profile::Debian).file("/usr/local/sbin/crontab", CRONTAB_SHIM, 0o755);
        let env = Env::new(vec![spec(HOST), spec(OTHER)]).await;
        let f = "/etc/cron.d/muster-backup";

        // A cron.d job: marker line and job line with the user.
        let args = json!({"name": "nightly backup", "minute": 0, "hour": 2, "job": "/usr/local/bin/backup",
                          "cron_file": "muster-backup", "user": "root"});
        let plan = env.plan("cron", args.clone(), &[f]).await;
        assert_eq!(fields(&plan), ["job nightly backup", "content"]);
        assert_eq!(
            pair(change(&plan, "job nightly backup")),
            (None, Some("0 2 * * * root /usr/local/bin/backup"))
        );
        env.converge("cron", args, &[f]).await;
        assert_eq!(env.file(HOST, f), "#Ansible: nightly backup\n0 2 * * * root /usr/local/bin/backup\n");
        assert!(env.fleet.upper_file(OTHER, f).is_none());
        // Changed time; then removed, and the emptied file goes.
        let args = json!({"name": "nightly backup", "minute": 30, "hour": 3, "job": "/usr/local/bin/backup",
                          "cron_file": "muster-backup", "user": "root", "disabled": true});
        let plan = env.plan("cron", args.clone(), &[f]).await;
        assert_eq!(
            pair(change(&plan, "job nightly backup")),
            (Some("0 2 * * * root /usr/local/bin/backup"), Some("#30 3 * * * root /usr/local/bin/backup"))
        );
        env.converge("cron", args, &[f]).await;
        env.converge("cron", json!({"name": "nightly backup", "cron_file": "muster-backup", "state": "absent"}), &[f]).await;
        assert_eq!(env.sh(HOST, &format!("test -e {f} || echo gone")), "gone");

        // A user's crontab, through `crontab -` on stdin; other lines kept.
        let tab = "/var/spool/cron/crontabs/nobody";
        env.sh(HOST, "mkdir -p /var/spool/cron/crontabs && printf '# by hand\\n*/5 * * * * /bin/true\\n' > /var/spool/cron/crontabs/nobody");
        let args = json!({"name": "weekly report", "special_time": "weekly", "job": "/usr/bin/report", "user": "nobody"});
        let plan = env.plan("cron", args.clone(), &[tab]).await;
        assert_eq!(fields(&plan), ["job weekly report", "content"]);
        env.converge("cron", args, &[tab]).await;
        env.converge("cron", json!({"name": "PATH", "env": true, "job": "/usr/bin:/bin", "user": "nobody"}), &[tab]).await;
        assert_eq!(
            env.file(HOST, tab),
            "PATH=/usr/bin:/bin\n# by hand\n*/5 * * * * /bin/true\n#Ansible: weekly report\n@weekly /usr/bin/report\n"
        );
        assert!(env
            .build_err("cron", json!({"name": "x", "job": "j", "special_time": "daily", "minute": 5}))
            .contains("`special_time`"));
    });
}

#[test]
fn ini_file() {
    rt().block_on(async {
        let env = Env::two().await;
        let f = "/etc/muster/app.ini";
        let args = json!({"path": f, "section": "server", "option": "port", "value": 8080, "mode": "0640"});
        let plan = env.plan("ini_file", args.clone(), &[f]).await;
        assert_eq!(fields(&plan), ["state", "content", "mode"]);
        env.converge("ini_file", args, &[f]).await;
        assert_eq!(env.file(HOST, f), "[server]\nport = 8080\n");
        assert_eq!(env.sh(HOST, &format!("stat -c %a {f}")), "640");
        env.sh(HOST, &format!("printf '# hand\\n[server]\\nport = 8080\\n;host = a\\n\\n[log]\\nlevel = info\\n' > {f}"));
        let args = json!({"path": f, "section": "server", "option": "host", "value": "0.0.0.0"});
        let plan = env.plan("ini_file", args.clone(), &[f]).await;
        let d = change(&plan, "content").diff.clone().unwrap();
        assert_eq!(d.after, "# hand\n[server]\nport = 8080\nhost = 0.0.0.0\n\n[log]\nlevel = info\n");
        env.converge("ini_file", args, &[f]).await;
        env.converge("ini_file", json!({"path": f, "section": "log", "state": "absent"}), &[f]).await;
        assert_eq!(env.file(HOST, f), "# hand\n[server]\nport = 8080\nhost = 0.0.0.0\n\n");
        assert!(env.fleet.upper_file(OTHER, f).is_none());
        assert!(env
            .build_err("ini_file", json!({"path": f, "section": "s", "option": "o"}))
            .contains("`value`"));
    });
}
