//! `user`: local accounts with Linux shadow-utils (`useradd`, `usermod`, `userdel`, `chpasswd`).
//! The plan reads `getent passwd`, `getent shadow`, `id -Gn` and the groups named in one exec
//! and lists typed changes (uid 1001 → 1002, shell, groups added/removed). A password hash is
//! never shown, stored in the plan, or put on a command line: `chpasswd -e` reads it on stdin.
//! TODO: busybox `adduser`/`deluser` (Alpine without shadow).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::{de_bool, de_opt_bool, parse_list};
use super::fileops::{build_args, de_opt_str, fail};
use super::sysutil::{self, other, state_obj, strs, ymd, Sections};
use super::{Change, Field, Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::{quote, Cmd};

/// shadow-utils must be there (Alpine's busybox adduser/deluser: TODO).
pub const NEED_SHADOW: &str = "command -v useradd >/dev/null 2>&1 || { echo 'useradd/usermod not found: install shadow-utils (busybox adduser is not supported yet)' >&2; exit 127; }\n";

fn present_state() -> String {
    "present".into()
}
fn always() -> String {
    "always".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserArgs {
    #[serde(alias = "user")]
    pub name: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub uid: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub group: Option<String>,
    #[serde(default)]
    pub groups: Option<Value>,
    #[serde(default, deserialize_with = "de_bool")]
    pub append: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub shell: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub home: Option<String>,
    #[serde(default = "yes", alias = "createhome", deserialize_with = "de_bool")]
    pub create_home: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub move_home: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub skeleton: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub password: Option<String>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub password_lock: Option<bool>,
    #[serde(default = "always")]
    pub update_password: String,
    #[serde(default)]
    pub expires: Option<Value>,
    #[serde(default, deserialize_with = "de_bool")]
    pub system: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub comment: Option<String>,
    #[serde(default = "present_state")]
    pub state: String,
    #[serde(default, deserialize_with = "de_bool")]
    pub remove: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub force: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub non_unique: bool,
}

pub const USER_ARGS: &[&str] = &[
    "name",
    "user",
    "uid",
    "group",
    "groups",
    "append",
    "shell",
    "home",
    "create_home",
    "createhome",
    "move_home",
    "skeleton",
    "password",
    "password_lock",
    "update_password",
    "expires",
    "system",
    "comment",
    "state",
    "remove",
    "force",
    "non_unique",
];

pub struct User {
    a: UserArgs,
    groups: Option<Vec<String>>,
    /// Days since the epoch; Some(None): remove the expiry (-1).
    expires: Option<Option<i64>>,
}

/// A name as passwd/group files can hold it.
pub fn check_name(what: &str, n: &str) -> std::result::Result<(), String> {
    if n.is_empty()
        || n.starts_with('-')
        || n.chars()
            .any(|c| c == ':' || c == ',' || c.is_whitespace() || c.is_control())
    {
        return Err(format!("argument `{what}`: `{n}` is not a valid name"));
    }
    Ok(())
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: UserArgs = build_args("user", args)?;
    fn e<T>(m: String) -> std::result::Result<T, String> {
        Err(format!("user: {m}"))
    }
    check_name("name", &a.name).or_else(e)?;
    if a.state != "present" && a.state != "absent" {
        return e(format!(
            "argument `state` must be present or absent, got {}",
            a.state
        ));
    }
    if a.update_password != "always" && a.update_password != "on_create" {
        return e(format!(
            "argument `update_password` must be always or on_create, got {}",
            a.update_password
        ));
    }
    if a.state == "absent" {
        let given = [
            ("uid", a.uid.is_some()),
            ("group", a.group.is_some()),
            ("groups", a.groups.is_some()),
            ("shell", a.shell.is_some()),
            ("home", a.home.is_some()),
            ("password", a.password.is_some()),
            ("password_lock", a.password_lock.is_some()),
            ("expires", a.expires.is_some()),
            ("comment", a.comment.is_some()),
        ];
        if let Some((k, _)) = given.iter().find(|(_, g)| *g) {
            return e(format!(
                "argument `{k}` cannot be used with state=absent (the user is removed)"
            ));
        }
    }
    if let Some(u) = &a.uid {
        if u.parse::<u32>().is_err() {
            return e(format!("argument `uid` must be a number, got {u}"));
        }
    }
    if let Some(g) = &a.group {
        check_name("group", g).or_else(e)?;
    }
    let groups = a.groups.as_ref().map(parse_list);
    for g in groups.iter().flatten() {
        check_name("groups", g).or_else(e)?;
    }
    if let Some(p) = &a.password {
        // Never echo the value: it is a secret.
        if p.contains(':') || p.contains('\n') {
            return e("argument `password` must be a crypt hash (no `:` or newline)".into());
        }
    }
    for (k, v) in [
        ("shell", &a.shell),
        ("home", &a.home),
        ("comment", &a.comment),
    ] {
        if v.as_deref()
            .is_some_and(|s| s.contains(':') || s.contains('\n'))
        {
            return e(format!("argument `{k}` must not contain `:` or a newline"));
        }
    }
    let expires = match &a.expires {
        None | Some(Value::Null) => None,
        Some(v) => {
            let f = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match f {
                Some(f) if f < 0.0 => Some(None),
                Some(f) => Some(Some((f / 86400.0).floor() as i64)),
                None => return e(format!("argument `expires` must be epoch seconds, got {v}")),
            }
        }
    };
    Ok(Box::new(User { a, groups, expires }))
}

pub static USER: super::ModuleDef = super::ModuleDef {
    name: "user",
    args: USER_ARGS,
    free_form: false,
    build,
};

/// One `passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passwd {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

pub fn parse_passwd(line: &str) -> Option<Passwd> {
    let f: Vec<&str> = line.trim_end_matches('\n').split(':').collect();
    if f.len() < 7 {
        return None;
    }
    Some(Passwd {
        name: f[0].into(),
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        gecos: f[4].into(),
        home: f[5].into(),
        shell: f[6].into(),
    })
}

/// `getent group` lines as name → gid (and members, unused here).
pub fn parse_groups(text: &str) -> BTreeMap<String, u32> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
        })
        .collect()
}

/// (hash without lock marks, locked, expiry in days)
pub fn parse_shadow(line: &str) -> Option<(String, bool, Option<i64>)> {
    let f: Vec<&str> = line.trim_end_matches('\n').split(':').collect();
    if f.len() < 8 {
        return None;
    }
    Some((
        f[1].trim_start_matches('!').to_string(),
        f[1].starts_with('!'),
        f[7].parse().ok(),
    ))
}

fn date_or_never(d: Option<i64>) -> String {
    d.map(ymd).unwrap_or_else(|| "never".into())
}

impl User {
    fn script(&self) -> Sections {
        let n = &self.a.name;
        let mut s = Sections::new();
        s.add("pw", &Cmd::new("getent").arg("passwd").arg(n).into_string());
        s.add(
            "sh",
            &format!(
                "{} 2>/dev/null",
                Cmd::new("getent").arg("shadow").arg(n).into_string()
            ),
        );
        s.add("ids", &format!("id -Gn {} 2>/dev/null", quote(n)));
        let mut keys: Vec<String> = vec![n.clone()];
        keys.extend(self.a.group.clone());
        keys.extend(self.groups.clone().unwrap_or_default());
        s.add(
            "grp",
            &format!(
                "{} 2>/dev/null; g=$(getent passwd {} | cut -d: -f4); [ -n \"$g\" ] && getent group \"$g\"",
                Cmd::new("getent").arg("group").args(&keys).into_string(),
                quote(n)
            ),
        );
        s.add(
            "home",
            &format!(
                "h={}; [ -z \"$h\" ] && h=$(getent passwd {} | cut -d: -f6); [ -n \"$h\" ] && [ -d \"$h\" ] && echo y",
                quote(self.a.home.as_deref().unwrap_or("")),
                quote(n)
            ),
        );
        s
    }
}

#[async_trait]
impl Module for User {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.a;
        let s = self.script().run(ctx, "user").await?;
        let cur = s.get("pw").and_then(|t| parse_passwd(t.lines().next()?));
        let shadow = s.get("sh").and_then(|t| parse_shadow(t.lines().next()?));
        let grp = parse_groups(s.get("grp").map(String::as_str).unwrap_or(""));
        let gid_name = |gid: u32| {
            grp.iter()
                .find(|(_, g)| **g == gid)
                .map(|(n, _)| n.clone())
                .unwrap_or_else(|| gid.to_string())
        };
        // A group an earlier task of this check run would create counts as there (its gid
        // unknown), so check mode does not fail where the real run would succeed.
        let resolve = |g: &str| -> Option<(String, Option<u32>)> {
            if let Some(id) = grp.get(g) {
                return Some((g.to_string(), Some(*id)));
            }
            if ctx.is_planned(g) {
                return Some((g.to_string(), None));
            }
            let n: u32 = g.parse().ok()?;
            grp.values()
                .any(|x| *x == n)
                .then(|| (gid_name(n), Some(n)))
        };
        let mut result = Map::new();
        result.insert("name".into(), json!(a.name));
        result.insert("state".into(), json!(a.state));
        let mut changes: Vec<Change> = Vec::new();
        let mut st = Map::new();

        if a.state == "absent" {
            result.insert("force".into(), json!(a.force));
            result.insert("remove".into(), json!(a.remove));
            if cur.is_none() {
                return Ok(Plan {
                    result,
                    ..Plan::default()
                });
            }
            changes.push(Change::new(
                Field::State,
                Some("present".into()),
                Some("absent".into()),
            ));
            let mut args = vec![];
            if a.remove {
                args.push("-r".to_string());
            }
            if a.force {
                args.push("-f".to_string());
            }
            st.insert("op".into(), json!("delete"));
            st.insert("args".into(), json!(args));
            return Ok(Plan {
                changes,
                result,
                state: Some(Value::Object(st)),
                ..Plan::default()
            });
        }

        // Every group named must exist.
        let want_group = match &a.group {
            Some(g) => {
                Some(resolve(g).ok_or_else(|| fail(ctx, format!("Group {g} does not exist")))?)
            }
            None => None,
        };
        let mut want_groups: Option<BTreeSet<String>> = None;
        if let Some(gs) = &self.groups {
            let mut set = BTreeSet::new();
            for g in gs {
                let (n, _) =
                    resolve(g).ok_or_else(|| fail(ctx, format!("Group {g} does not exist")))?;
                set.insert(n);
            }
            want_groups = Some(set);
        }
        let mut args: Vec<String> = Vec::new();
        let mut set_password = false;
        let mut lock: Option<bool> = None;
        let mut mkhome: Option<String> = None;
        let need_shadow =
            a.password.is_some() || a.password_lock.is_some() || self.expires.is_some();

        match &cur {
            None => {
                changes.push(Change::new(
                    Field::State,
                    Some("absent".into()),
                    Some("present".into()),
                ));
                if let Some(u) = &a.uid {
                    changes.push(other("uid", None, Some(u.clone())));
                    args.extend(["-u".into(), u.clone()]);
                    if a.non_unique {
                        args.push("-o".into());
                    }
                }
                if let Some((gname, _)) = &want_group {
                    changes.push(other("group", None, Some(gname.clone())));
                    args.extend(["-g".into(), gname.clone()]);
                } else if grp.contains_key(&a.name) {
                    // As Ansible: a group of the user's name exists, so useradd must not try
                    // to create it (USERGROUPS_ENAB).
                    args.push("-N".into());
                }
                if let Some(gs) = &want_groups {
                    if !gs.is_empty() {
                        let list = gs.iter().cloned().collect::<Vec<_>>().join(",");
                        changes.push(other("groups", None, Some(list.clone())));
                        args.extend(["-G".into(), list]);
                    }
                }
                for (flag, name, v) in [
                    ("-c", "comment", &a.comment),
                    ("-d", "home", &a.home),
                    ("-s", "shell", &a.shell),
                ] {
                    if let Some(v) = v {
                        changes.push(other(name, None, Some(v.clone())));
                        args.extend([flag.into(), v.clone()]);
                    }
                }
                if let Some(Some(d)) = self.expires {
                    changes.push(other("expires", None, Some(ymd(d))));
                    args.extend(["-e".into(), ymd(d)]);
                }
                if a.system {
                    args.push("-r".into());
                }
                if a.create_home {
                    args.push("-m".into());
                    if let Some(k) = &a.skeleton {
                        args.extend(["-k".into(), k.clone()]);
                    }
                } else {
                    args.push("-M".into());
                }
                if a.password.is_some() {
                    changes.push(other("password", None, Some("(hash set)".into())));
                    set_password = true;
                }
                if a.password_lock == Some(true) {
                    changes.push(other("password_lock", None, Some("locked".into())));
                    lock = Some(true);
                }
                st.insert("op".into(), json!("create"));
            }
            Some(c) => {
                if let Some(u) = &a.uid {
                    if u.parse::<u32>().ok() != Some(c.uid) {
                        changes.push(other("uid", Some(c.uid.to_string()), Some(u.clone())));
                        args.extend(["-u".into(), u.clone()]);
                        if a.non_unique {
                            args.push("-o".into());
                        }
                    }
                }
                let primary = want_group
                    .as_ref()
                    .map(|(n, _)| n.clone())
                    .unwrap_or_else(|| gid_name(c.gid));
                if let Some((gname, gid)) = &want_group {
                    if *gid != Some(c.gid) {
                        changes.push(other("group", Some(gid_name(c.gid)), Some(gname.clone())));
                        args.extend(["-g".into(), gname.clone()]);
                    }
                }
                if let Some(want) = &want_groups {
                    let cur_name = gid_name(c.gid);
                    let have: BTreeSet<String> = s
                        .get("ids")
                        .map(String::as_str)
                        .unwrap_or("")
                        .split_whitespace()
                        .filter(|g| *g != cur_name && *g != primary)
                        .map(str::to_string)
                        .collect();
                    let want: BTreeSet<String> =
                        want.iter().filter(|g| **g != primary).cloned().collect();
                    let join =
                        |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
                    if a.append {
                        let missing: BTreeSet<String> = want.difference(&have).cloned().collect();
                        if !missing.is_empty() {
                            let all: BTreeSet<String> = have.union(&want).cloned().collect();
                            changes.push(other("groups", Some(join(&have)), Some(join(&all))));
                            args.extend(["-a".into(), "-G".into(), join(&missing)]);
                        }
                    } else if want != have {
                        changes.push(other("groups", Some(join(&have)), Some(join(&want))));
                        args.extend(["-G".into(), join(&want)]);
                    }
                }
                for (flag, name, v, now) in [
                    ("-c", "comment", &a.comment, &c.gecos),
                    ("-d", "home", &a.home, &c.home),
                    ("-s", "shell", &a.shell, &c.shell),
                ] {
                    if let Some(v) = v {
                        if v != now {
                            changes.push(other(name, Some(now.clone()), Some(v.clone())));
                            args.extend([flag.into(), v.clone()]);
                            if flag == "-d" && a.move_home {
                                args.push("-m".into());
                            }
                        }
                    }
                }
                if need_shadow && shadow.is_none() {
                    return Err(fail(
                        ctx,
                        format!(
                            "cannot read the shadow entry of {} (password/expires need root: become)",
                            a.name
                        ),
                    ));
                }
                if let (Some(want), Some((_, _, now))) = (self.expires, &shadow) {
                    if want != *now {
                        changes.push(other(
                            "expires",
                            Some(date_or_never(*now)),
                            Some(date_or_never(want)),
                        ));
                        args.extend(["-e".into(), want.map(ymd).unwrap_or_default()]);
                    }
                }
                if let (Some(p), Some((hash, locked, _))) = (&a.password, &shadow) {
                    if a.update_password == "always" && p.trim_start_matches('!') != hash {
                        changes.push(other(
                            "password",
                            Some("(hash)".into()),
                            Some("(hash changed)".into()),
                        ));
                        set_password = true;
                    }
                    let _ = locked;
                }
                if let Some((_, locked, _)) = &shadow {
                    // chpasswd replaces the lock mark with the new hash.
                    let locked_after = *locked && !set_password;
                    match a.password_lock {
                        Some(true) if !locked_after => {
                            changes.push(other(
                                "password_lock",
                                Some("unlocked".into()),
                                Some("locked".into()),
                            ));
                            lock = Some(true);
                        }
                        Some(false) if locked_after => {
                            changes.push(other(
                                "password_lock",
                                Some("locked".into()),
                                Some("unlocked".into()),
                            ));
                            lock = Some(false);
                        }
                        _ => {}
                    }
                }
                let moved = a.move_home && a.home.as_ref().is_some_and(|h| *h != c.home);
                if a.create_home && !moved && s.get("home").is_none_or(|h| h.trim() != "y") {
                    let h = a.home.clone().unwrap_or_else(|| c.home.clone());
                    changes.push(other("home_dir", Some("absent".into()), Some(h.clone())));
                    mkhome = Some(h);
                }
                st.insert("op".into(), json!("modify"));
                if changes.is_empty() {
                    result.extend(present_result(a, &self.groups, c));
                    return Ok(Plan {
                        result,
                        ..Plan::default()
                    });
                }
            }
        }
        st.insert("args".into(), json!(args));
        st.insert("password".into(), json!(set_password));
        st.insert("lock".into(), json!(lock));
        st.insert("mkhome".into(), json!(mkhome));
        Ok(Plan {
            changes,
            result,
            state: Some(Value::Object(st)),
            ..Plan::default()
        })
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        let a = &self.a;
        let st = state_obj(&plan.state);
        let op = st.get("op").and_then(Value::as_str).unwrap_or("");
        let args = strs(st.get("args"));
        let n = &a.name;
        let mut script = String::from(NEED_SHADOW);
        let mut stdin: Option<Vec<u8>> = None;
        match op {
            "delete" => {
                script.push_str(&format!(
                    "{} || exit 1\n",
                    Cmd::new("userdel").args(&args).arg(n).into_string()
                ));
                sysutil::run(ctx, &format!("userdel {n}"), &script, None).await?;
                let mut r = plan.result.clone();
                r.insert("state".into(), json!("absent"));
                return Ok(r);
            }
            "create" => script.push_str(&format!(
                "{} || exit 1\n",
                Cmd::new("useradd").args(&args).arg(n).into_string()
            )),
            "modify" if !args.is_empty() => script.push_str(&format!(
                "{} || exit 1\n",
                Cmd::new("usermod").args(&args).arg(n).into_string()
            )),
            "modify" => {}
            _ => {
                return Err(fail(
                    ctx,
                    "internal: apply called without this module's plan",
                ))
            }
        }
        if st.get("password").and_then(Value::as_bool) == Some(true) {
            let hash = a.password.as_deref().unwrap_or("");
            // The hash travels on stdin, never in argv (visible in the process list).
            stdin = Some(format!("{n}:{hash}\n").into_bytes());
            script.push_str("chpasswd -e || exit 1\n");
        }
        match st.get("lock").and_then(Value::as_bool) {
            Some(true) => script.push_str(&format!("usermod -L {} || exit 1\n", quote(n))),
            Some(false) => script.push_str(&format!("usermod -U {} || exit 1\n", quote(n))),
            None => {}
        }
        if let Some(h) = st.get("mkhome").and_then(Value::as_str) {
            let q = quote(h);
            script.push_str(&format!(
                "mkdir -p -m 0700 -- {q} || exit 1\n[ -d /etc/skel ] && cp -a /etc/skel/. {q}\nchown -R -- {qn}:\"$(id -g -- {qn})\" {q} || exit 1\n",
                qn = quote(n)
            ));
        }
        script.push_str(&format!("getent passwd {}\n", quote(n)));
        let out = sysutil::run(ctx, &format!("user {n}"), &script, stdin.as_deref()).await?;
        let mut r = plan.result.clone();
        if let Some(c) = out.lines().rev().find_map(parse_passwd) {
            r.extend(present_result(a, &self.groups, &c));
        }
        Ok(r)
    }
}

fn present_result(a: &UserArgs, groups: &Option<Vec<String>>, c: &Passwd) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("name".into(), json!(c.name));
    r.insert("state".into(), json!("present"));
    r.insert("uid".into(), json!(c.uid));
    r.insert("group".into(), json!(c.gid));
    r.insert("comment".into(), json!(c.gecos));
    r.insert("home".into(), json!(c.home));
    r.insert("shell".into(), json!(c.shell));
    r.insert("system".into(), json!(a.system));
    r.insert("create_home".into(), json!(a.create_home));
    r.insert("move_home".into(), json!(a.move_home));
    if let Some(g) = groups {
        r.insert("groups".into(), json!(g.join(",")));
        r.insert("append".into(), json!(a.append));
    }
    if a.password.is_some() {
        r.insert("password".into(), json!("NOT_LOGGING_PASSWORD"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: Value) -> std::result::Result<Box<dyn Module>, String> {
        build(v.as_object().unwrap())
    }

    #[test]
    fn parses_entries() {
        let p = parse_passwd("alice:x:1001:1001:Alice,,,:/home/alice:/bin/bash\n").unwrap();
        assert_eq!((p.uid, p.gid, p.home.as_str()), (1001, 1001, "/home/alice"));
        let s = parse_shadow("alice:!$6$salt$hash:19000:0:99999:7::19723:").unwrap();
        assert_eq!(s, ("$6$salt$hash".into(), true, Some(19723)));
        let s = parse_shadow("bob:*:19000:0:99999:7:::").unwrap();
        assert_eq!(s, ("*".into(), false, None));
        let g = parse_groups("sudo:x:27:alice\nusers:x:100:\n");
        assert_eq!(g["sudo"], 27);
    }

    #[test]
    fn build_errors_name_the_argument() {
        let e = b(json!({"name": "alice", "state": "absent", "uid": 5}))
            .err()
            .unwrap();
        assert!(e.contains("`uid`"), "{e}");
        let e = b(json!({"name": "a:b"})).err().unwrap();
        assert!(e.contains("`name`"), "{e}");
        let e = b(json!({"name": "alice", "password": "x:y$secret"}))
            .err()
            .unwrap();
        assert!(e.contains("`password`") && !e.contains("secret"), "{e}");
        let e = b(json!({"name": "alice", "update_password": "never"}))
            .err()
            .unwrap();
        assert!(e.contains("update_password"), "{e}");
        let e = b(json!({"name": "alice", "bogus": 1})).err().unwrap();
        assert!(e.contains("bogus"), "{e}");
        assert!(b(json!({"user": "alice", "createhome": "no", "groups": "a,b"})).is_ok());
    }
}
