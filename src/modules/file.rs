//! `file`: the state of a path (file, directory, link, hard link, touched, absent) and its
//! mode and ownership, recursively for directories. Ansible's states, defaults and refusals.
//!
//! A plan is one exec: the path (as a link and, with `follow`, what it points to), the link
//! source when there is one, the entries below a directory when `recurse` asks, and the epoch
//! of explicit touch times, all from one probe script.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::{de_bool, Mode};
use super::fileops::{
    self, attr_script, build_args, de_opt_str, mode_str, AttrPlan, AttrWant, ContentWant, Kind,
    ProbeReq, Stat,
};
use super::{Change, Field, Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::{quote, Cmd};

fn yes() -> bool {
    true
}

const TIME_FORMAT: &str = "%Y%m%d%H%M.%S";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileArgs {
    #[serde(alias = "dest", alias = "name")]
    pub path: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub src: Option<String>,
    #[serde(default)]
    pub mode: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub recurse: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub force: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub follow: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub modification_time: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub modification_time_format: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub access_time: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub access_time_format: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub unsafe_writes: bool,
}

pub const FILE_ARGS: &[&str] = &[
    "path",
    "dest",
    "name",
    "state",
    "src",
    "mode",
    "owner",
    "group",
    "recurse",
    "force",
    "follow",
    "modification_time",
    "modification_time_format",
    "access_time",
    "access_time_format",
    "unsafe_writes",
];

const STATES: &[&str] = &["file", "directory", "link", "hard", "touch", "absent"];

/// A touch time: keep it, now, or a given local time (`YYYY-mm-dd HH:MM:SS`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Time {
    Preserve,
    Now,
    At(String),
}

fn parse_time(
    name: &str,
    v: &Option<String>,
    fmt: &Option<String>,
    state: Option<&str>,
) -> std::result::Result<Time, String> {
    let v = match v {
        None if state == Some("touch") => return Ok(Time::Now),
        None => return Ok(Time::Preserve),
        Some(v) => v.as_str(),
    };
    match v {
        "preserve" => return Ok(Time::Preserve),
        "now" => return Ok(Time::Now),
        _ => {}
    }
    if fmt.as_deref().unwrap_or(TIME_FORMAT) != TIME_FORMAT {
        return Err(format!(
            "argument `{name}_format`: only the default format {TIME_FORMAT} is supported"
        ));
    }
    let b = v.as_bytes();
    let ok = v.len() == 15
        && b[12] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 12 || c.is_ascii_digit());
    if !ok {
        return Err(format!(
            "argument `{name}`: `{v}` is not preserve, now or a time like 202401311200.00"
        ));
    }
    Ok(Time::At(format!(
        "{}-{}-{} {}:{}:{}",
        &v[0..4],
        &v[4..6],
        &v[6..8],
        &v[8..10],
        &v[10..12],
        &v[13..15]
    )))
}

pub struct File {
    a: FileArgs,
    attrs: AttrWant,
    mtime: Time,
    atime: Time,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: FileArgs = build_args("file", args)?;
    if let Some(s) = &a.state {
        if !STATES.contains(&s.as_str()) {
            return Err(format!(
                "file: argument `state` must be one of {}, got {s}",
                STATES.join(", ")
            ));
        }
    }
    if a.recurse && a.state.as_deref().is_some_and(|s| s != "directory") {
        return Err("file: recurse option requires state to be 'directory'".into());
    }
    if a.src.is_some() && !matches!(a.state.as_deref(), Some("link") | Some("hard")) {
        return Err("file: src option requires state to be 'link' or 'hard'".into());
    }
    let attrs =
        AttrWant::from_args(&a.mode, &a.owner, &a.group).map_err(|e| format!("file: {e}"))?;
    if attrs.mode == Some(Mode::Preserve) {
        return Err("file: mode `preserve` is only for copy and template".into());
    }
    let st = a.state.as_deref();
    let mtime = parse_time(
        "modification_time",
        &a.modification_time,
        &a.modification_time_format,
        st,
    )
    .map_err(|e| format!("file: {e}"))?;
    let atime = parse_time("access_time", &a.access_time, &a.access_time_format, st)
        .map_err(|e| format!("file: {e}"))?;
    Ok(Box::new(File {
        a,
        attrs,
        mtime,
        atime,
    }))
}

pub static FILE: super::ModuleDef = super::ModuleDef {
    name: "file",
    args: FILE_ARGS,
    free_form: false,
    build,
};

fn state_name(st: Option<&Stat>) -> &'static str {
    match st {
        None => "absent",
        Some(s) if s.kind == Kind::Link => "link",
        Some(s) if s.kind == Kind::Dir => "directory",
        Some(s) if s.nlink > 1 => "hard",
        Some(_) => "file",
    }
}

fn parent_of(path: &str) -> &str {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/",
        Some((d, _)) => d,
        None => ".",
    }
}

/// What `apply` does, in order; kept in `Plan::state`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Steps {
    script: String,
    result: Map<String, Value>,
}

impl File {
    fn fail(&self, ctx: &ModuleCtx<'_>, msg: impl Into<String>) -> crate::error::Error {
        fileops::fail(ctx, msg)
    }

    /// The touch script for the wanted times (`@T` probe lines give the epochs of `At`).
    fn time_changes(
        &self,
        cur: Option<&Stat>,
        epochs: &[String],
        changes: &mut Vec<Change>,
        script: &mut String,
        path: &str,
    ) {
        let mut idx = 0;
        for (which, t, flag, old) in [
            ("mtime", &self.mtime, "-m", cur.map(|c| c.mtime)),
            ("atime", &self.atime, "-a", cur.map(|c| c.atime)),
        ] {
            match t {
                Time::Preserve => {}
                Time::Now => {
                    changes.push(Change::new(
                        Field::Other(which.into()),
                        old.map(|o| o.to_string()),
                        Some("now".into()),
                    ));
                    script.push_str(&format!(
                        "{} || exit 1\n",
                        Cmd::new("touch")
                            .arg("-c")
                            .arg(flag)
                            .arg("--")
                            .arg(path)
                            .into_string()
                    ));
                }
                Time::At(when) => {
                    let want = epochs.get(idx).cloned().unwrap_or_default();
                    idx += 1;
                    if old.map(|o| o.to_string()) != Some(want.clone()) {
                        changes.push(Change::new(
                            Field::Other(which.into()),
                            old.map(|o| o.to_string()),
                            Some(format!("{want} ({when})")),
                        ));
                        script.push_str(&format!(
                            "{} || exit 1\n",
                            Cmd::new("touch")
                                .arg("-c")
                                .arg(flag)
                                .arg("-d")
                                .arg(when)
                                .arg("--")
                                .arg(path)
                                .into_string()
                        ));
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Module for File {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.a;
        let path = a.path.trim_end_matches('/').to_string();
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        let mut reqs = vec![ProbeReq {
            path: path.clone(),
            recurse: a.recurse
                || a.state.as_deref() == Some("link")
                || a.state.as_deref() == Some("hard"),
            resolve_link: true,
            ..Default::default()
        }];
        // What a link points to, for follow.
        reqs.push(ProbeReq {
            path: path.clone(),
            follow: true,
            ..Default::default()
        });
        let src_abs = a.src.as_ref().map(|s| {
            if s.starts_with('/') || a.state.as_deref() == Some("hard") {
                s.clone()
            } else {
                format!("{}/{s}", parent_of(&path).trim_end_matches('/'))
            }
        });
        if let Some(s) = &src_abs {
            reqs.push(ProbeReq {
                path: s.clone(),
                follow: true,
                ..Default::default()
            });
        }
        // Explicit touch times become epochs on the host, in its time zone.
        let mut extra = String::new();
        for t in [&self.mtime, &self.atime] {
            if let Time::At(when) = t {
                let q = quote(when);
                extra.push_str(&format!(
                    "printf '@T %s\\n' \"$(date -d {q} +%s 2>/dev/null || date -j -f '%Y-%m-%d %H:%M:%S' {q} +%s)\"\n"
                ));
            }
        }
        let probe = fileops::probe_extra(ctx, &reqs, ContentWant::Never, &extra).await?;
        let lcur = probe.stats[0].clone();
        let fcur = probe.stats[1].clone();
        let src_st = src_abs.as_ref().and_then(|_| probe.stats[2].clone());
        let prev = state_name(lcur.as_ref());
        let state = match a.state.as_deref() {
            Some(s) => s,
            None if prev == "hard" => "file",
            None if prev != "absent" => prev,
            None if a.recurse => "directory",
            None => "file",
        };
        let mut changes = Vec::new();
        let mut script = String::new();
        let mut result = Map::new();
        result.insert("path".into(), json!(path));
        result.insert("state".into(), json!(state));
        let mut attrs_after = AttrPlan::default();
        let mut attr_base: Option<Stat> = None;
        match state {
            "absent" => {
                if lcur.is_some() {
                    changes.push(Change::new(
                        Field::State,
                        Some(prev.into()),
                        Some("absent".into()),
                    ));
                    script.push_str(&format!(
                        "{} || exit 1\n",
                        Cmd::new("rm").arg("-rf").arg("--").arg(&path).into_string()
                    ));
                }
            }
            "file" => {
                let target = match prev {
                    "file" | "hard" => lcur.clone(),
                    "link" if a.follow && fcur.as_ref().is_some_and(|f| f.kind != Kind::Dir) => {
                        fcur.clone()
                    }
                    "link" if a.follow && fcur.is_none() => {
                        return Err(
                            self.fail(ctx, format!("file ({path}) is absent, cannot continue"))
                        )
                    }
                    _ => {
                        let what = if prev == "link" && a.follow {
                            "directory"
                        } else {
                            prev
                        };
                        return Err(
                            self.fail(ctx, format!("file ({path}) is {what}, cannot continue"))
                        );
                    }
                };
                let t = target.expect("checked above");
                attrs_after =
                    fileops::plan_attrs(Some(&t), 0, false, &self.attrs, None, &mut changes)
                        .map_err(|e| self.fail(ctx, e))?;
                script.push_str(&attr_script(&path, &attrs_after, false));
                self.time_changes(Some(&t), &probe.extra, &mut changes, &mut script, &path);
                attr_base = Some(t);
            }
            "touch" => {
                let target = if prev == "link" && a.follow {
                    fcur.clone()
                } else {
                    lcur.clone()
                };
                if lcur.is_none() {
                    changes.push(Change::new(
                        Field::State,
                        Some("absent".into()),
                        Some("file".into()),
                    ));
                    script.push_str(&format!(
                        "{} || exit 1\n",
                        Cmd::new("touch").arg("--").arg(&path).into_string()
                    ));
                    attrs_after = fileops::plan_attrs(
                        None,
                        probe.new_file_mode(),
                        false,
                        &self.attrs,
                        None,
                        &mut changes,
                    )
                    .map_err(|e| self.fail(ctx, e))?;
                    script.push_str(&attr_script(&path, &attrs_after, false));
                    // A new file's times are now: explicit times still apply.
                    if let Time::At(_) = self.mtime {
                        self.time_changes(None, &probe.extra, &mut Vec::new(), &mut script, &path);
                    }
                } else {
                    let t = target
                        .clone()
                        .unwrap_or_else(|| lcur.clone().expect("exists"));
                    let is_dir = t.kind == Kind::Dir;
                    attrs_after =
                        fileops::plan_attrs(Some(&t), 0, is_dir, &self.attrs, None, &mut changes)
                            .map_err(|e| self.fail(ctx, e))?;
                    script.push_str(&attr_script(&path, &attrs_after, false));
                    self.time_changes(Some(&t), &probe.extra, &mut changes, &mut script, &path);
                    attr_base = Some(t);
                }
            }
            "directory" => {
                let target = match prev {
                    "directory" => lcur.clone(),
                    "link" if a.follow && fcur.as_ref().is_some_and(|f| f.kind == Kind::Dir) => {
                        fcur.clone()
                    }
                    "absent" => None,
                    _ => return Err(self.fail(ctx, format!("{path} already exists as a {prev}"))),
                };
                match &target {
                    None => {
                        changes.push(Change::new(
                            Field::State,
                            Some("absent".into()),
                            Some("directory".into()),
                        ));
                        attrs_after = fileops::plan_attrs(
                            None,
                            probe.new_dir_mode(),
                            true,
                            &self.attrs,
                            None,
                            &mut changes,
                        )
                        .map_err(|e| self.fail(ctx, e))?;
                        // Every directory created on the way gets the attributes, as Ansible.
                        let mut cur = String::new();
                        for part in path.split('/').filter(|p| !p.is_empty()) {
                            if cur.is_empty() && !path.starts_with('/') {
                                cur.push_str(part);
                            } else {
                                cur = format!("{}/{part}", cur);
                            }
                            let q = quote(&cur);
                            let set = attr_script(&cur, &attrs_after, false);
                            // Created meanwhile by someone else (a concurrent run) is fine, as
                            // in Ansible; a real failure is retried once for its message.
                            script.push_str(&format!(
                                "if ! [ -d {q} ]; then mkdir -- {q} 2>/dev/null || [ -d {q} ] || {{ mkdir -- {q}; exit 1; }}\n{set}fi\n"
                            ));
                        }
                    }
                    Some(t) => {
                        attrs_after =
                            fileops::plan_attrs(Some(t), 0, true, &self.attrs, None, &mut changes)
                                .map_err(|e| self.fail(ctx, e))?;
                        script.push_str(&attr_script(&path, &attrs_after, false));
                        self.time_changes(Some(t), &probe.extra, &mut changes, &mut script, &path);
                        attr_base = Some(t.clone());
                    }
                }
                if a.recurse {
                    if let Some(t) = &target {
                        for (rel, e) in &t.entries {
                            // Links below are left alone: chmod would follow them out of the tree.
                            if e.kind == Kind::Link {
                                continue;
                            }
                            let sub = format!("{}/{rel}", path.trim_end_matches('/'));
                            let ap = fileops::plan_attrs(
                                Some(e),
                                0,
                                e.kind == Kind::Dir,
                                &self.attrs,
                                Some(rel),
                                &mut changes,
                            )
                            .map_err(|m| self.fail(ctx, m))?;
                            script.push_str(&attr_script(&sub, &ap, false));
                        }
                    }
                }
            }
            "link" => {
                let src = match (&a.src, &lcur) {
                    (Some(s), _) => s.clone(),
                    (None, Some(c)) if c.kind == Kind::Link => {
                        c.link_target.clone().unwrap_or_default()
                    }
                    _ => return Err(self.fail(ctx, "src is required for creating new symlinks")),
                };
                if a.src.is_some()
                    && src_st.is_none()
                    && !a.force
                    && !src_abs.as_deref().is_some_and(|p| ctx.is_planned(p))
                {
                    return Err(self.fail(ctx, format!(
                        "src file does not exist, use \"force=yes\" if you really want to create the link: {}",
                        src_abs.clone().unwrap_or_default()
                    )));
                }
                result.insert("src".into(), json!(src));
                result.insert("dest".into(), json!(path));
                let ln = format!(
                    "{} || exit 1\n",
                    Cmd::new("ln")
                        .arg("-sfn")
                        .arg("--")
                        .arg(&src)
                        .arg(&path)
                        .into_string()
                );
                match prev {
                    "absent" => {
                        changes.push(Change::new(
                            Field::State,
                            Some("absent".into()),
                            Some("link".into()),
                        ));
                        changes.push(Change::new(Field::Target, None, Some(src.clone())));
                        script.push_str(&ln);
                    }
                    "link" => {
                        let old = lcur.as_ref().and_then(|c| c.link_target.clone());
                        if old.as_deref() != Some(src.as_str()) {
                            changes.push(Change::new(Field::Target, old, Some(src.clone())));
                            script.push_str(&ln);
                        }
                    }
                    "directory" => {
                        let entries = lcur.as_ref().map(|c| c.entries.len()).unwrap_or(0);
                        if !a.force {
                            return Err(self.fail(
                                ctx,
                                format!("refusing to convert from directory to symlink for {path}"),
                            ));
                        }
                        if entries > 0 {
                            return Err(self.fail(
                                ctx,
                                format!(
                                    "the directory {path} is not empty, refusing to convert it"
                                ),
                            ));
                        }
                        changes.push(Change::new(
                            Field::State,
                            Some("directory".into()),
                            Some("link".into()),
                        ));
                        changes.push(Change::new(Field::Target, None, Some(src.clone())));
                        script.push_str(&format!(
                            "{} || exit 1\n",
                            Cmd::new("rmdir").arg("--").arg(&path).into_string()
                        ));
                        script.push_str(&ln);
                    }
                    other => {
                        if !a.force {
                            return Err(self.fail(
                                ctx,
                                format!("refusing to convert from {other} to symlink for {path}"),
                            ));
                        }
                        changes.push(Change::new(
                            Field::State,
                            Some(other.into()),
                            Some("link".into()),
                        ));
                        changes.push(Change::new(Field::Target, None, Some(src.clone())));
                        script.push_str(&ln);
                    }
                }
                // A link's own owner/group (chown -h); its mode means nothing on Linux.
                let own = AttrWant {
                    mode: None,
                    owner: self.attrs.owner.clone(),
                    group: self.attrs.group.clone(),
                };
                let base = if prev == "link" { lcur.clone() } else { None };
                attrs_after =
                    fileops::plan_attrs(base.as_ref(), 0o777, false, &own, None, &mut changes)
                        .map_err(|e| self.fail(ctx, e))?;
                script.push_str(&attr_script(&path, &attrs_after, true));
                attr_base = base;
            }
            "hard" => {
                let Some(src) = &a.src else {
                    return Err(self.fail(ctx, "src is required for creating new hard links"));
                };
                let Some(s) = &src_st else {
                    return Err(self.fail(ctx, format!("src does not exist: {src}")));
                };
                result.insert("src".into(), json!(src));
                result.insert("dest".into(), json!(path));
                let same = lcur
                    .as_ref()
                    .is_some_and(|c| c.inode == s.inode && c.dev == s.dev && c.kind != Kind::Link);
                if !same {
                    match prev {
                        "absent" => {}
                        "directory" => {
                            if !a.force {
                                return Err(self.fail(ctx, format!("refusing to convert from directory to hard link for {path}")));
                            }
                            if lcur.as_ref().is_some_and(|c| !c.entries.is_empty()) {
                                return Err(self.fail(
                                    ctx,
                                    format!(
                                        "the directory {path} is not empty, refusing to convert it"
                                    ),
                                ));
                            }
                            script.push_str(&format!(
                                "{} || exit 1\n",
                                Cmd::new("rmdir").arg("--").arg(&path).into_string()
                            ));
                        }
                        other if !a.force => {
                            let what = if other == "hard" {
                                "different hard link"
                            } else {
                                other
                            };
                            return Err(self
                                .fail(ctx, format!("Cannot link, {what} exists at destination")));
                        }
                        _ => {}
                    }
                    changes.push(Change::new(
                        Field::State,
                        Some(prev.into()),
                        Some("hard".into()),
                    ));
                    changes.push(Change::new(Field::Target, None, Some(src.clone())));
                    script.push_str(&format!(
                        "{} || exit 1\n",
                        Cmd::new("ln")
                            .arg("-f")
                            .arg("--")
                            .arg(src)
                            .arg(&path)
                            .into_string()
                    ));
                }
                attrs_after =
                    fileops::plan_attrs(Some(s), 0, false, &self.attrs, None, &mut changes)
                        .map_err(|e| self.fail(ctx, e))?;
                script.push_str(&attr_script(&path, &attrs_after, false));
                attr_base = Some(s.clone());
            }
            _ => unreachable!("state checked in build"),
        }
        if state != "absent" {
            result.insert("mode".into(), json!(mode_str(attrs_after.mode)));
            let owner = attrs_after
                .chown
                .clone()
                .or_else(|| attr_base.as_ref().map(|b| b.owner.clone()));
            let group = attrs_after
                .chgrp
                .clone()
                .or_else(|| attr_base.as_ref().map(|b| b.group.clone()));
            if let Some(o) = owner {
                result.insert("owner".into(), json!(o));
            }
            if let Some(g) = group {
                result.insert("group".into(), json!(g));
            }
            if let Some(b) = &attr_base {
                if attrs_after.chown.is_none() {
                    result.insert("uid".into(), json!(b.uid));
                }
                if attrs_after.chgrp.is_none() {
                    result.insert("gid".into(), json!(b.gid));
                }
                result.insert("size".into(), json!(b.size));
            }
        }
        if changes.is_empty() {
            return Ok(Plan {
                result,
                ..Plan::default()
            });
        }
        let steps = Steps {
            script,
            result: result.clone(),
        };
        Ok(Plan {
            changes,
            result,
            state: serde_json::to_value(&steps).ok(),
            ..Plan::default()
        })
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        let steps: Steps = plan
            .state
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| self.fail(ctx, "internal: apply called without this module's plan"))?;
        if !steps.script.is_empty() {
            fileops::run_script(ctx, &self.a.path, &steps.script).await?;
        }
        Ok(steps.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_like_ansible() {
        assert_eq!(parse_time("m", &None, &None, Some("touch")), Ok(Time::Now));
        assert_eq!(
            parse_time("m", &None, &None, Some("file")),
            Ok(Time::Preserve)
        );
        assert_eq!(
            parse_time("m", &Some("202401311205.09".into()), &None, None),
            Ok(Time::At("2024-01-31 12:05:09".into()))
        );
        assert!(parse_time("m", &Some("yesterday".into()), &None, None).is_err());
    }

    #[test]
    fn build_refuses_what_ansible_refuses() {
        let b = |v: Value| build(v.as_object().unwrap()).err();
        assert!(b(json!({"path": "/x", "state": "sideways"}))
            .unwrap()
            .contains("state"));
        assert!(b(json!({"path": "/x", "state": "file", "recurse": true}))
            .unwrap()
            .contains("recurse"));
        assert!(b(json!({"path": "/x", "src": "/y"}))
            .unwrap()
            .contains("src"));
        assert!(b(json!({"path": "/x", "mode": "rwx"}))
            .unwrap()
            .contains("mode"));
        assert!(b(json!({"path": "/x", "bogus": 1}))
            .unwrap()
            .contains("bogus"));
        assert!(
            b(json!({"name": "/x", "state": "directory", "recurse": "yes", "mode": "u=rwX"}))
                .is_none()
        );
    }
}
