//! `user`: local accounts with Linux shadow-utils (`useradd`, `usermod`, `userdel`, `chpasswd`).
//! The plan reads `getent passwd`, `getent shadow`, `id -Gn` and the groups named in one exec
//! and lists typed changes (uid 1001 → 1002, shell, groups added/removed). A password hash is
//! never shown, stored in the plan, or put on a command line: `chpasswd -e` reads it on stdin.
//! Without shadow-utils (Alpine's BusyBox userland) the plan's probe says so and apply uses
//! BusyBox's `adduser`/`deluser`/`addgroup`/`delgroup`/`passwd`; what those cannot change
//! (uid, primary group, comment, home, shell, expiry of an existing user) is written into
//! `/etc/passwd` / `/etc/shadow` by a read-modify-write through the transport's atomic put,
//! every other line kept byte for byte. The plan and its typed changes are the same either way.

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

/// shadow-utils must be there when the probe found no BusyBox `adduser` either.
pub const NEED_SHADOW: &str = "command -v useradd >/dev/null 2>&1 || { echo 'useradd/usermod not found, and adduser is not BusyBox: install shadow-utils' >&2; exit 127; }\n";

/// Probe section `tool`: `shadow` when `shadow_cmd` is on PATH, `busybox` when the `bb_cmd`
/// on PATH is BusyBox's applet (a link to busybox, or its `--help` says BusyBox), else `none`.
pub fn tool_probe(shadow_cmd: &str, bb_cmd: &str) -> String {
    let (s, b) = (quote(shadow_cmd), quote(bb_cmd));
    format!(
        "if command -v {s} >/dev/null 2>&1; then echo shadow; \
         elif command -v {b} >/dev/null 2>&1 && {{ readlink -f \"$(command -v {b})\" | grep -q '/busybox$' || {b} --help 2>&1 | grep -qi busybox; }}; then echo busybox; \
         else echo none; fi"
    )
}

/// Whether the probe's `tool` section found the BusyBox userland.
pub fn is_busybox(s: &BTreeMap<String, String>) -> bool {
    s.get("tool").is_some_and(|t| t.trim() == "busybox")
}

/// Rewrites the entry `key` of a colon-separated database file (`/etc/passwd`, `/etc/group`,
/// `/etc/shadow`): one exec reads it, `edit` changes its fields, the transport's put replaces
/// the file atomically with its mode and owner kept. Every other line stays byte for byte.
pub async fn edit_db(
    ctx: &ModuleCtx<'_>,
    path: &str,
    key: &str,
    edit: impl Fn(&mut Vec<String>),
) -> Result<()> {
    let mut s = Sections::new();
    s.file("f", path);
    let s = s.run(ctx, path).await?;
    let now = sysutil::file_now(&s, "f");
    let text = now
        .text
        .clone()
        .ok_or_else(|| fail(ctx, format!("{path} is missing")))?;
    let out = edit_entry(&text, key, edit)
        .ok_or_else(|| fail(ctx, format!("{key}: no entry in {path}")))?;
    if out != text {
        sysutil::put_file(ctx, path, &out, &now, 0o644, None, None).await?;
    }
    Ok(())
}

/// `text` with the first entry named `key` changed by `edit`; every other byte as it was.
/// None when there is no such entry.
pub fn edit_entry(text: &str, key: &str, edit: impl Fn(&mut Vec<String>)) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut found = false;
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        if !found && body.split(':').next() == Some(key) {
            let mut f: Vec<String> = body.split(':').map(str::to_string).collect();
            edit(&mut f);
            out.push_str(&f.join(":"));
            out.push_str(&line[body.len()..]);
            found = true;
        } else {
            out.push_str(line);
        }
    }
    found.then_some(out)
}

/// Sets field `i` of a database entry (padding short entries).
fn set_field(f: &mut Vec<String>, i: usize, v: &str) {
    while f.len() <= i {
        f.push(String::new());
    }
    f[i] = v.to_string();
}

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
    /// Apply with BusyBox's tools: the plan's shadow-utils arguments translated to `adduser`
    /// flags, or to field edits of `/etc/passwd` and `/etc/shadow` (BusyBox has no usermod).
    async fn apply_busybox(
        &self,
        ctx: &ModuleCtx<'_>,
        plan: &Plan,
        st: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        let a = &self.a;
        let n = &a.name;
        let op = st.get("op").and_then(Value::as_str).unwrap_or("");
        let args = strs(st.get("args"));
        // The plan's useradd/usermod/userdel words as flag → value ("" for a bare flag).
        let mut opts: BTreeMap<String, String> = BTreeMap::new();
        let mut it = args.iter();
        while let Some(f) = it.next() {
            let v = if ["-u", "-g", "-G", "-c", "-d", "-s", "-e", "-k"].contains(&f.as_str()) {
                it.next().cloned().unwrap_or_default()
            } else {
                String::new()
            };
            opts.insert(f.clone(), v);
        }
        let flag = |f: &str| opts.get(f).cloned();
        let has = |f: &str| opts.contains_key(f);
        // passwd fields to set: (index, value).
        let mut fields: Vec<(usize, String)> = Vec::new();
        match op {
            "delete" => {
                // BusyBox deluser has no --force; it also drops the user's own group.
                let mut c = Cmd::new("deluser");
                if has("-r") {
                    c = c.arg("--remove-home");
                }
                let script = format!("{} || exit 1\n", c.arg(n).into_string());
                sysutil::run(ctx, &format!("deluser {n}"), &script, None).await?;
                let mut r = plan.result.clone();
                r.insert("state".into(), json!("absent"));
                return Ok(r);
            }
            "create" => {
                let mut c = Cmd::new("adduser").arg("-D");
                if a.system {
                    c = c.arg("-S");
                }
                if !a.create_home {
                    c = c.arg("-H");
                }
                for (from, to) in [("-d", "-h"), ("-s", "-s"), ("-c", "-g"), ("-k", "-k")] {
                    if let Some(v) = flag(from) {
                        c = c.arg(to).arg(&v);
                    }
                }
                match flag("-u") {
                    // adduser refuses a uid in use: set it in /etc/passwd afterwards.
                    Some(u) if has("-o") => fields.push((2, u)),
                    Some(u) => c = c.arg("-u").arg(&u),
                    None => {}
                }
                if let Some(g) = flag("-g") {
                    c = c.arg("-G").arg(&g);
                } else if has("-N") {
                    // A group of the user's name exists: adduser would fail to create it, so
                    // it becomes the primary group.
                    c = c.arg("-G").arg(n);
                }
                let script = format!("{} || exit 1\n", c.arg(n).into_string());
                sysutil::run(ctx, &format!("adduser {n}"), &script, None).await?;
            }
            "modify" => {
                for (f, i) in [("-u", 2), ("-c", 4), ("-d", 5), ("-s", 6)] {
                    if let Some(v) = flag(f) {
                        fields.push((i, v));
                    }
                }
                if has("-g") {
                    match st.get("gid").and_then(Value::as_u64) {
                        Some(g) => fields.push((3, g.to_string())),
                        None => {
                            return Err(fail(
                                ctx,
                                format!("user {n}: the gid of the new primary group is unknown"),
                            ))
                        }
                    }
                }
            }
            _ => {
                return Err(fail(
                    ctx,
                    "internal: apply called without this module's plan",
                ))
            }
        }
        if !fields.is_empty() {
            edit_db(ctx, "/etc/passwd", n, |f| {
                for (i, v) in &fields {
                    set_field(f, *i, v);
                }
            })
            .await?;
        }
        if let Some(e) = st.get("exp") {
            let v = e.as_i64().map(|d| d.to_string()).unwrap_or_default();
            edit_db(ctx, "/etc/shadow", n, |f| set_field(f, 7, &v)).await?;
        }
        let mut script = String::new();
        if op == "modify" {
            let old_home = st.get("old_home").and_then(Value::as_str).unwrap_or("");
            if let (Some(new), true) = (flag("-d"), has("-m")) {
                let (o, w) = (quote(old_home), quote(&new));
                script.push_str(&format!(
                    "if [ -d {o} ] && [ ! -e {w} ]; then mkdir -p -- \"$(dirname -- {w})\" && mv -- {o} {w} || exit 1; fi\n"
                ));
            }
            if let (Some(u), Some(old)) = (flag("-u"), st.get("old_uid").and_then(Value::as_u64)) {
                // As usermod -u: the files of the home dir owned by the old uid follow.
                let h = quote(flag("-d").as_deref().unwrap_or(old_home));
                script.push_str(&format!(
                    "[ -d {h} ] && find {h} -xdev -user {old} -exec chown -h {} {{}} +\n",
                    quote(&u)
                ));
            }
        }
        if op == "create" && a.create_home && fields.iter().any(|(i, _)| *i == 2) {
            // The new home was made for the uid adduser picked.
            let qn = quote(n);
            script.push_str(&format!(
                "h=$(getent passwd {qn} | cut -d: -f6); [ -n \"$h\" ] && [ -d \"$h\" ] && chown -R -- {qn} \"$h\"\n"
            ));
        }
        let mut stdin: Option<Vec<u8>> = None;
        if st.get("password").and_then(Value::as_bool) == Some(true) {
            let hash = a.password.as_deref().unwrap_or("");
            // The hash travels on stdin, never in argv (visible in the process list).
            stdin = Some(format!("{n}:{hash}\n").into_bytes());
            script.push_str("chpasswd -e || exit 1\n");
        }
        match st.get("lock").and_then(Value::as_bool) {
            Some(true) => {
                script.push_str(&format!("passwd -l {} >/dev/null || exit 1\n", quote(n)))
            }
            Some(false) => {
                script.push_str(&format!("passwd -u {} >/dev/null || exit 1\n", quote(n)))
            }
            None => {}
        }
        for g in strs(st.get("gadd")) {
            script.push_str(&format!(
                "{} || exit 1\n",
                Cmd::new("addgroup").arg(n).arg(&g).into_string()
            ));
        }
        for g in strs(st.get("gdel")) {
            script.push_str(&format!(
                "{} || exit 1\n",
                Cmd::new("delgroup").arg(n).arg(&g).into_string()
            ));
        }
        if let Some(h) = st.get("mkhome").and_then(Value::as_str) {
            script.push_str(&mkhome_script(n, h));
        }
        script.push_str(&format!("getent passwd {}\n", quote(n)));
        let out = sysutil::run(ctx, &format!("user {n}"), &script, stdin.as_deref()).await?;
        let mut r = plan.result.clone();
        if let Some(c) = out.lines().rev().find_map(parse_passwd) {
            r.extend(present_result(a, &self.groups, &c));
        }
        Ok(r)
    }

    fn script(&self) -> Sections {
        let n = &self.a.name;
        let mut s = Sections::new();
        s.add("tool", &tool_probe("useradd", "adduser"));
        s.add("pw", &Cmd::new("getent").arg("passwd").arg(n).into_string());
        // musl's getent (Alpine) has no shadow database: then the file itself.
        s.add(
            "sh",
            &format!(
                "{} 2>/dev/null || MUSTER_U={} awk -F: '$1 == ENVIRON[\"MUSTER_U\"]' /etc/shadow 2>/dev/null",
                Cmd::new("getent").arg("shadow").arg(n).into_string(),
                quote(n)
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
        let tool = if is_busybox(&s) { "busybox" } else { "shadow" };
        st.insert("tool".into(), json!(tool));
        // For BusyBox: memberships to add/remove one by one (no `usermod -G`).
        let mut gadd: Vec<String> = Vec::new();
        let mut gdel: Vec<String> = Vec::new();

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
                        gadd = gs.iter().cloned().collect();
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
                    st.insert("exp".into(), json!(d));
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
                        st.insert("gid".into(), json!(gid));
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
                            gadd = missing.iter().cloned().collect();
                            changes.push(other("groups", Some(join(&have)), Some(join(&all))));
                            args.extend(["-a".into(), "-G".into(), join(&missing)]);
                        }
                    } else if want != have {
                        gadd = want.difference(&have).cloned().collect();
                        gdel = have.difference(&want).cloned().collect();
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
                        st.insert("exp".into(), json!(want));
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
                st.insert("old_home".into(), json!(c.home));
                st.insert("old_uid".into(), json!(c.uid));
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
        st.insert("gadd".into(), json!(gadd));
        st.insert("gdel".into(), json!(gdel));
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
        if st.get("tool").and_then(Value::as_str) == Some("busybox") {
            return self.apply_busybox(ctx, plan, &st).await;
        }
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
            script.push_str(&mkhome_script(n, h));
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

/// Creates a missing home dir from /etc/skel, owned by the user.
fn mkhome_script(n: &str, h: &str) -> String {
    let q = quote(h);
    format!(
        "mkdir -p -m 0700 -- {q} || exit 1\n[ -d /etc/skel ] && cp -a /etc/skel/. {q}\nchown -R -- {qn}:\"$(id -g -- {qn})\" {q} || exit 1\n",
        qn = quote(n)
    )
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
    fn edits_one_entry_only() {
        let text = "root:x:0:0:root:/root:/bin/bash\nalice:x:1:1::/home/a:/bin/sh\nalicex:x:2:2::/h:/bin/sh";
        let out = edit_entry(text, "alice", |f| set_field(f, 6, "/bin/bash")).unwrap();
        assert_eq!(
            out,
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1:1::/home/a:/bin/bash\nalicex:x:2:2::/h:/bin/sh"
        );
        let out = edit_entry(text, "alicex", |f| set_field(f, 2, "7")).unwrap();
        assert!(out.ends_with("alicex:x:7:2::/h:/bin/sh"));
        let out = edit_entry("bob:!:1::::::\n", "bob", |f| set_field(f, 7, "19000")).unwrap();
        assert_eq!(out, "bob:!:1:::::19000:\n");
        assert!(edit_entry(text, "nobody", |_| {}).is_none());
    }

    #[test]
    fn tool_probe_runs_in_sh() {
        let run = |s: &str| {
            let o = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(s)
                .output()
                .unwrap();
            String::from_utf8(o.stdout).unwrap().trim().to_string()
        };
        assert_eq!(run(&tool_probe("sh", "no-such-tool-x")), "shadow");
        assert_eq!(run(&tool_probe("no-such-tool-y", "no-such-tool-x")), "none");
        // A command that is there but is not BusyBox's.
        assert_eq!(run(&tool_probe("no-such-tool-y", "true")), "none");
        // A link to busybox (as Alpine's /usr/sbin/adduser) is BusyBox's.
        if let Some(bb) = ["/bin/busybox", "/usr/bin/busybox"]
            .iter()
            .find(|p| std::path::Path::new(p).exists())
        {
            let d = tempfile::tempdir().unwrap();
            std::os::unix::fs::symlink(bb, d.path().join("adduser")).unwrap();
            let s = format!(
                "PATH={}:$PATH; {}",
                quote(&d.path().to_string_lossy()),
                tool_probe("no-such-tool-y", "adduser")
            );
            assert_eq!(run(&s), "busybox");
        }
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
