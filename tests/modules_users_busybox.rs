//! `user` and `group` on an Alpine host without shadow-utils: BusyBox's `adduser`, `deluser`,
//! `addgroup`, `delgroup` instead of useradd/usermod/groupadd. The host's shadow-utils tools
//! (and Debian's adduser scripts) are hidden; the machine's busybox is built without the
//! user applets, so the host gets a stand-in with BusyBox's options, usage and file writes.
//! As in `modules_system.rs`: the plan is one read-only exec with the same typed changes as the
//! shadow-utils path, apply does what it said, the next plan is in sync, only that host changed.
//! Every home is under /srv: /home is not overlaid, it is the machine's.

mod fleet;

use std::sync::Arc;
use std::time::Duration;

use fleet::{Fleet, HostSpec, Profile};
use muster::cli::HostKeyChecking;
use muster::modules::{self, Change, ModuleCtx, Plan, SearchPaths};
use muster::transport::ssh::{SshSettings, SshTarget, SshTransport};
use muster::transport::Transport;
use serde_json::{json, Map, Value};

const HOST: &str = "bb1";
const OTHER: &str = "alpine2";
/// crypt(3)-shaped hashes: never to be seen in a plan or result.
const HASH: &str =
    "$6$mustersalt$R3dUcT3dN0tAR3alHaShButShap3dLik3OnE0123456789abcdefghijklmnopqrstuvwxyzABCDE";
const HASH2: &str =
    "$6$othersalt$AnotherFakeHashValueThatLooksLikeSha512Crypt0123456789abcdefghijklmnopqrs";

/// The shadow-utils tools (and Debian's adduser/deluser scripts, which BusyBox's replace).
/// `/sbin` is a symlink to `usr/sbin` on this machine, so there are no twins to hide.
const HIDDEN: &[&str] = &[
    "/usr/sbin/useradd",
    "/usr/sbin/usermod",
    "/usr/sbin/userdel",
    "/usr/sbin/groupadd",
    "/usr/sbin/groupmod",
    "/usr/sbin/groupdel",
    "/usr/sbin/groupmems",
    "/usr/sbin/adduser",
    "/usr/sbin/deluser",
    "/usr/sbin/addgroup",
    "/usr/sbin/delgroup",
];

const APPLETS: &[&str] = &["adduser", "deluser", "addgroup", "delgroup"];

/// BusyBox 1.36's adduser/deluser/addgroup/delgroup as far as muster uses them.
const SHIM: &str = r#"#!/bin/sh
# Test fleet stand-in for BusyBox's adduser/deluser/addgroup/delgroup applets (the machine's
# Debian busybox is built without them): the same options and usage as BusyBox 1.36, the same
# files written (/etc/passwd, /etc/shadow, /etc/group), the same refusals. Dispatches on $0.
applet=${0##*/}
for a in "$@"; do
    if [ "$a" = --help ]; then
        printf 'BusyBox v1.36.1 (muster test fleet) multi-call binary.\n\nUsage: %s [OPTIONS] ...\n' "$applet" >&2
        exit 1
    fi
done
die() { echo "$applet: $*" >&2; exit 1; }
# has FILE FIELD VALUE: some entry's field is VALUE.
has() { cut -d: -f"$2" "$1" | grep -qx -- "$3"; }
# put FILE: stdin replaces FILE atomically, mode and owner kept.
put() {
    t="$1.bbshim.$$"
    cat >"$t" && chmod --reference="$1" "$t" && chown --reference="$1" "$t" && mv -f "$t" "$1"
}
member() {
    awk -F: -v g="$2" -v u="$1" '$1 == g { n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) f = 1 } END { exit !f }' /etc/group
}
# drop_member USER [GROUP]: removes USER from GROUP's members (every group's without GROUP).
drop_member() {
    awk -F: -v OFS=: -v u="$1" -v g="$2" '(g == "" || $1 == g) {
        n = split($4, m, ","); s = ""; c = 0
        for (i = 1; i <= n; i++) if (m[i] != u) s = (s == "" ? m[i] : s "," m[i]); else c = 1
        if (c) $4 = s
    } { print }' /etc/group | put /etc/group
}
case $applet in
adduser)
    home= gecos= shell=/bin/sh grp= sys= nohome= uid= skel=/etc/skel
    while getopts h:g:s:G:SDHu:k: o; do
        case $o in
        h) home=$OPTARG ;; g) gecos=$OPTARG ;; s) shell=$OPTARG ;; G) grp=$OPTARG ;;
        S) sys=1 ;; D) ;; H) nohome=1 ;; u) uid=$OPTARG ;; k) skel=$OPTARG ;;
        *) exit 1 ;;
        esac
    done
    shift $((OPTIND - 1))
    [ $# = 2 ] && exec addgroup "$1" "$2"
    [ $# = 1 ] || die "usage: adduser [OPTIONS] USER [GROUP]"
    name=$1
    has /etc/passwd 1 "$name" && die "user '$name' in use"
    [ -n "$home" ] || home=/home/$name
    if [ -n "$uid" ]; then
        has /etc/passwd 3 "$uid" && die "uid '$uid' in use"
    else
        uid=1000
        [ -n "$sys" ] && uid=100
        while has /etc/passwd 3 $uid || { [ -z "$grp" ] && has /etc/group 3 $uid; }; do uid=$((uid + 1)); done
    fi
    if [ -n "$grp" ]; then
        gid=$(getent group "$grp" | cut -d: -f3)
        [ -n "$gid" ] || die "unknown group $grp"
    else
        has /etc/group 1 "$name" && die "group '$name' in use"
        gid=$uid
    fi
    { cat /etc/passwd; echo "$name:x:$uid:$gid:$gecos:$home:$shell"; } | put /etc/passwd || exit 1
    { cat /etc/shadow; echo "$name:!:$(($(date +%s) / 86400)):0:99999:7:::"; } | put /etc/shadow || exit 1
    if [ -n "$grp" ]; then addgroup "$name" "$grp"; else addgroup -g "$gid" "$name"; fi || exit 1
    if [ -z "$nohome" ] && [ ! -e "$home" ]; then
        mkdir -p -- "$home" && chmod 755 "$home" || exit 1
        [ -d "$skel" ] && cp -a "$skel/." "$home"
        chown -R "$uid:$gid" "$home"
    fi
    exit 0
    ;;
addgroup)
    gid= sys=
    while getopts g:S o; do
        case $o in g) gid=$OPTARG ;; S) sys=1 ;; *) exit 1 ;; esac
    done
    shift $((OPTIND - 1))
    if [ $# = 2 ]; then
        getent passwd "$1" >/dev/null || die "unknown user $1"
        has /etc/group 1 "$2" || die "unknown group $2"
        member "$1" "$2" && exit 0
        awk -F: -v OFS=: -v g="$2" -v u="$1" '$1 == g { $4 = ($4 == "" ? u : $4 "," u) } { print }' /etc/group | put /etc/group
        exit
    fi
    [ $# = 1 ] || die "usage: addgroup [-g GID] [-S] [USER] GROUP"
    has /etc/group 1 "$1" && die "group '$1' in use"
    if [ -n "$gid" ]; then
        has /etc/group 3 "$gid" && die "gid '$gid' in use"
    else
        gid=1000
        [ -n "$sys" ] && gid=100
        while has /etc/group 3 $gid; do gid=$((gid + 1)); done
    fi
    { cat /etc/group; echo "$1:x:$gid:"; } | put /etc/group
    ;;
delgroup)
    if [ $# = 2 ]; then
        member "$1" "$2" || die "can't find $1 in /etc/group"
        drop_member "$1" "$2"
        exit
    fi
    [ $# = 1 ] || die "usage: delgroup [USER] GROUP"
    gid=$(getent group "$1" | cut -d: -f3)
    [ -n "$gid" ] || die "unknown group $1"
    u=$(awk -F: -v g="$gid" '$4 == g { print $1; exit }' /etc/passwd)
    [ -n "$u" ] && die "'$1' still has '$u' as their primary group!"
    awk -F: -v g="$1" '$1 != g' /etc/group | put /etc/group
    ;;
deluser)
    rmhome=
    [ "$1" = --remove-home ] && { rmhome=1; shift; }
    [ $# = 2 ] && exec delgroup "$1" "$2"
    [ $# = 1 ] || die "usage: deluser [--remove-home] USER"
    ent=$(getent passwd "$1") || die "unknown user $1"
    home=$(echo "$ent" | cut -d: -f6)
    gid=$(echo "$ent" | cut -d: -f4)
    awk -F: -v u="$1" '$1 != u' /etc/passwd | put /etc/passwd || exit 1
    awk -F: -v u="$1" '$1 != u' /etc/shadow | put /etc/shadow || exit 1
    drop_member "$1" || exit 1
    # BusyBox also removes the user's own group (same name as the user).
    g=$(getent group "$gid" | cut -d: -f1)
    [ "$g" = "$1" ] && { delgroup "$1" || exit 1; }
    [ -n "$rmhome" ] && rm -rf -- "$home"
    exit 0
    ;;
*) die "applet not found" ;;
esac
"#;

fn busybox_host(name: &str) -> HostSpec {
    let mut h = HostSpec::new(name, Profile::Alpine);
    for p in HIDDEN {
        if std::path::Path::new(p).exists() {
            h = h.hide(p);
        }
    }
    for a in APPLETS {
        h = h.file(&format!("/usr/local/sbin/{a}"), SHIM, 0o755);
    }
    h
}

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
    async fn new() -> Env {
        let fleet = Fleet::start(vec![
            busybox_host(HOST),
            HostSpec::new(OTHER, Profile::Alpine),
        ]);
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

    fn build(&self, module: &str, args: Value) -> Box<dyn modules::Module> {
        let def = modules::find(module).unwrap_or_else(|| panic!("{module} not registered"));
        (def.build)(args.as_object().unwrap()).unwrap_or_else(|e| panic!("{module}: {e}"))
    }

    /// Plans: one exec, no put, the watched files as they were, and the BusyBox path chosen.
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
        if let Some(Value::Object(st)) = &plan.state {
            assert_eq!(st.get("tool"), Some(&json!("busybox")), "{module}: {st:?}");
        }
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
            .unwrap_or_else(|e| panic!("{module} {args}: {e}"));
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

    fn entry(&self, path: &str, name: &str) -> Option<String> {
        self.file(HOST, path)
            .lines()
            .find(|l| l.split(':').next() == Some(name))
            .map(str::to_string)
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

/// The lines of a file other than `name`'s entry.
fn others(text: &str, name: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.split(':').next() != Some(name))
        .map(str::to_string)
        .collect()
}

#[test]
fn busybox_user_and_group() {
    rt().block_on(async {
        let env = Env::new().await;
        let watch = ["/etc/passwd", "/etc/group", "/etc/shadow"];
        // The host really has BusyBox's tools and no shadow-utils.
        assert_eq!(
            env.sh(HOST, "command -v useradd groupadd usermod || echo none"),
            "none"
        );
        assert!(env
            .sh(HOST, "adduser --help 2>&1 || true")
            .contains("BusyBox"));

        // group: created with a gid (addgroup -g), then a gid change (an /etc/group edit).
        let args = json!({"name": "ops", "gid": 2001});
        let plan = env.plan("group", args.clone(), &watch).await;
        assert_eq!(fields(&plan), ["state", "gid"]);
        assert!(env.fleet.upper_file(HOST, "/etc/group").is_none());
        let (_, r) = env.converge("group", args, &watch).await;
        assert_eq!(
            (r["gid"].clone(), r["state"].clone()),
            (json!(2001), json!("present"))
        );
        assert!(env.file(HOST, "/etc/group").ends_with("\nops:x:2001:\n"));
        env.converge("group", json!({"name": "dev", "gid": 2002}), &watch)
            .await;
        let group_before = env.file(HOST, "/etc/group");
        let args = json!({"name": "dev", "gid": 2003});
        let plan = env.plan("group", args.clone(), &watch).await;
        assert_eq!(pair(change(&plan, "gid")), (Some("2002"), Some("2003")));
        let (_, r) = env.converge("group", args, &watch).await;
        assert_eq!(r["gid"], json!(2003));
        let group_after = env.file(HOST, "/etc/group");
        assert_eq!(env.entry("/etc/group", "dev").unwrap(), "dev:x:2003:");
        assert_eq!(others(&group_before, "dev"), others(&group_after, "dev"));
        // A system group without a gid: addgroup -S picks one.
        env.converge("group", json!({"name": "svc", "system": true}), &watch)
            .await;
        assert!(env.entry("/etc/group", "svc").is_some());

        // user on a fresh host: the same typed changes as with shadow-utils.
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
        assert!(env.entry("/etc/passwd", "alice").is_none());

        let (plan, r) = env.converge("user", args.clone(), &watch).await;
        assert_no_secret(&plan, Some(&r));
        assert_eq!(r["uid"], json!(1501));
        assert_eq!(r["group"], json!(2001));
        assert_eq!(r["password"], json!("NOT_LOGGING_PASSWORD"));
        assert_eq!(
            env.entry("/etc/passwd", "alice").unwrap(),
            "alice:x:1501:2001:Alice A:/srv/home/alice:/bin/sh"
        );
        let line = env.entry("/etc/shadow", "alice").unwrap();
        assert_eq!(line.split(':').nth(1), Some(HASH));
        assert_eq!(line.split(':').nth(7), Some("21915"));
        assert!(env.entry("/etc/group", "dev").unwrap().ends_with(":alice"));
        assert_eq!(env.sh(HOST, "stat -c %U /srv/home/alice"), "alice");
        assert_eq!(env.sh(HOST, "id -Gn alice"), "ops dev");
        // Only on that host, not on the machine nor the other host.
        for f in ["/etc/passwd", "/etc/group", "/etc/shadow"] {
            let machine = std::fs::read_to_string(f).unwrap_or_default();
            assert!(
                !machine.contains("alice") && !machine.contains("ops:x:2001"),
                "{f}"
            );
            assert!(env.fleet.upper_file(OTHER, f).is_none(), "{f}");
        }

        // Primary group creation as adduser does it: a group of the user's name, gid = uid.
        let (_, r) = env
            .converge(
                "user",
                json!({"name": "bob", "uid": 1601, "home": "/srv/home/bob"}),
                &watch,
            )
            .await;
        assert_eq!(r["group"], json!(1601));
        assert!(env
            .entry("/etc/group", "bob")
            .unwrap()
            .starts_with("bob:x:1601:"));
        assert_eq!(
            env.sh(HOST, "stat -c '%U %G %a' /srv/home/bob"),
            "bob bob 755"
        );
        // A group of the user's name already there: it becomes the primary group.
        env.converge("group", json!({"name": "carol", "gid": 2500}), &watch)
            .await;
        let (_, r) = env
            .converge(
                "user",
                json!({"name": "carol", "create_home": false, "home": "/srv/home/carol"}),
                &watch,
            )
            .await;
        assert_eq!(r["group"], json!(2500));
        assert_eq!(env.sh(HOST, "test -e /srv/home/carol || echo none"), "none");

        // Changes on an existing user: uid, comment, shell, groups, hash, lock, expiry.
        let passwd_before = env.file(HOST, "/etc/passwd");
        let args2 = json!({
            "name": "alice", "uid": 1502, "shell": "/bin/bash", "groups": ["ops", "sudo"],
            "comment": "Alice B", "password": HASH2, "password_lock": true, "expires": -1,
        });
        let plan = env.plan("user", args2.clone(), &watch).await;
        assert_eq!(
            fields(&plan),
            [
                "uid",
                "groups",
                "comment",
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
        assert_eq!(pair(change(&plan, "groups")), (Some("dev"), Some("sudo")));
        assert_eq!(
            pair(change(&plan, "expires")),
            (Some("2030-01-01"), Some("never"))
        );
        assert_eq!(
            pair(change(&plan, "password")),
            (Some("(hash)"), Some("(hash changed)"))
        );
        assert_no_secret(&plan, None);
        let (_, r) = env.converge("user", args2, &watch).await;
        assert_no_secret(&plan, Some(&r));
        assert_eq!(
            env.entry("/etc/passwd", "alice").unwrap(),
            "alice:x:1502:2001:Alice B:/srv/home/alice:/bin/bash"
        );
        // Every other passwd line byte for byte, in place.
        let passwd_after = env.file(HOST, "/etc/passwd");
        assert_eq!(
            others(&passwd_before, "alice"),
            others(&passwd_after, "alice")
        );
        let pos = |t: &str| t.lines().position(|l| l.starts_with("alice:"));
        assert_eq!(pos(&passwd_before), pos(&passwd_after));
        let line = env.entry("/etc/shadow", "alice").unwrap();
        assert_eq!(line.split(':').nth(1), Some(format!("!{HASH2}").as_str()));
        assert_eq!(line.split(':').nth(7), Some(""));
        assert_eq!(env.sh(HOST, "id -Gn alice"), "ops sudo");
        assert_eq!(env.sh(HOST, "stat -c %u /srv/home/alice"), "1502");
        // /etc/shadow keeps its mode and group after the edit.
        assert_eq!(
            env.sh(HOST, "stat -c '%a %U %G' /etc/shadow"),
            env.sh(OTHER, "stat -c '%a %U %G' /etc/shadow")
        );

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
        assert_eq!(env.sh(HOST, "id -Gn alice"), "ops sudo dev");

        // Unlock; groups '' drops every supplementary group; home moves.
        let args4 = json!({"name": "alice", "password_lock": false, "groups": "",
                           "home": "/srv/home/alice2", "move_home": true});
        let plan = env.plan("user", args4.clone(), &watch).await;
        assert_eq!(fields(&plan), ["groups", "home", "password_lock"]);
        assert_eq!(pair(change(&plan, "groups")), (Some("dev,sudo"), Some("")));
        env.converge("user", args4, &watch).await;
        let line = env.entry("/etc/shadow", "alice").unwrap();
        assert_eq!(line.split(':').nth(1), Some(HASH2));
        assert_eq!(env.sh(HOST, "id -Gn alice"), "ops");
        assert_eq!(
            env.sh(
                HOST,
                "stat -c %U /srv/home/alice2; test -e /srv/home/alice || echo moved"
            ),
            "alice\nmoved"
        );

        // Primary group change: the gid field of /etc/passwd.
        let plan = env
            .plan("user", json!({"name": "alice", "group": "dev"}), &watch)
            .await;
        assert_eq!(pair(change(&plan, "group")), (Some("ops"), Some("dev")));
        env.converge("user", json!({"name": "alice", "group": "dev"}), &watch)
            .await;
        assert!(env
            .entry("/etc/passwd", "alice")
            .unwrap()
            .starts_with("alice:x:1502:2003:"));

        // non_unique: adduser refuses a uid in use, so it is set in /etc/passwd afterwards.
        let args =
            json!({"name": "dave", "uid": 1601, "non_unique": true, "home": "/srv/home/dave"});
        let plan = env.plan("user", args.clone(), &watch).await;
        assert_eq!(fields(&plan), ["state", "uid", "home"]);
        env.converge("user", args, &watch).await;
        assert!(env
            .entry("/etc/passwd", "dave")
            .unwrap()
            .starts_with("dave:x:1601:"));
        assert_eq!(env.sh(HOST, "stat -c %u /srv/home/dave"), "1601");
        env.converge("user", json!({"name": "dave", "state": "absent"}), &watch)
            .await;

        // Removal (deluser --remove-home); bob's own group goes with him.
        let args = json!({"name": "alice", "state": "absent", "remove": true});
        let plan = env.plan("user", args.clone(), &watch).await;
        assert_eq!(
            pair(change(&plan, "state")),
            (Some("present"), Some("absent"))
        );
        env.converge("user", args, &watch).await;
        assert!(env.entry("/etc/passwd", "alice").is_none());
        assert!(env.entry("/etc/shadow", "alice").is_none());
        assert!(!env.file(HOST, "/etc/group").contains("alice"));
        assert_eq!(
            env.sh(HOST, "test -e /srv/home/alice2 || echo gone"),
            "gone"
        );
        env.converge("user", json!({"name": "bob", "state": "absent"}), &watch)
            .await;
        assert!(env.entry("/etc/group", "bob").is_none());
        assert_eq!(env.sh(HOST, "test -d /srv/home/bob && echo kept"), "kept");

        // group removal (delgroup).
        env.converge("group", json!({"name": "dev", "state": "absent"}), &watch)
            .await;
        assert!(env.entry("/etc/group", "dev").is_none());
        assert!(env.entry("/etc/group", "ops").is_some());
    });
}
