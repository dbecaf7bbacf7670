//! `mount`: an fstab entry and, for mounted/unmounted/remounted/absent, the mount itself.
//! The plan reads the fstab and /proc/mounts in one exec. fstab edits are atomic (put) and touch
//! only the entries of this mount point: comments and every other line stay byte for byte.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::de_bool;
use super::fileops::{build_args, de_opt_str, fail};
use super::sysutil::{self, file_now, other, state_obj, strs, text_change, FileNow, Sections};
use super::{Change, Field, Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::{quote, Cmd};

fn defaults() -> String {
    "defaults".into()
}
fn zero() -> String {
    "0".into()
}
fn fstab() -> String {
    "/etc/fstab".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountArgs {
    #[serde(alias = "name")]
    pub path: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub src: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub fstype: Option<String>,
    #[serde(default = "defaults", deserialize_with = "de_str")]
    pub opts: String,
    #[serde(default = "zero", deserialize_with = "de_str")]
    pub dump: String,
    #[serde(default = "zero", deserialize_with = "de_str")]
    pub passno: String,
    pub state: String,
    #[serde(default = "fstab")]
    pub fstab: String,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub boot: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub backup: bool,
}

fn de_str<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(de_opt_str(d)?.unwrap_or_default())
}

pub const MOUNT_ARGS: &[&str] = &[
    "path", "name", "src", "fstype", "opts", "dump", "passno", "state", "fstab", "boot", "backup",
];

const STATES: &[&str] = &["mounted", "present", "unmounted", "absent", "remounted"];

/// fstab's octal escapes for blanks and backslashes.
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012")
}

pub fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// One fstab entry: src, path, fstype, opts, dump, passno (unescaped).
pub type Entry = [String; 6];

pub fn parse_entry(line: &str) -> Option<Entry> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let w: Vec<String> = t.split_whitespace().map(unescape).collect();
    if w.len() < 3 {
        return None;
    }
    let get = |i: usize, d: &str| w.get(i).cloned().unwrap_or_else(|| d.to_string());
    Some([
        w[0].clone(),
        w[1].clone(),
        w[2].clone(),
        get(3, "defaults"),
        get(4, "0"),
        get(5, "0"),
    ])
}

pub fn entry_line(e: &Entry) -> String {
    e.iter().map(|f| escape(f)).collect::<Vec<_>>().join(" ")
}

/// The fstab with `path`'s entries set to `want` (None: removed); the other lines unchanged.
pub fn edit(text: &str, path: &str, want: Option<&Entry>) -> String {
    let mut out = String::new();
    let mut found = false;
    let path = path.trim_end_matches('/');
    for l in text.split_inclusive('\n') {
        match parse_entry(l) {
            Some(e) if e[1].trim_end_matches('/') == path || (path.is_empty() && e[1] == "/") => {
                found = true;
                if let Some(w) = want {
                    if &e == w {
                        out.push_str(l);
                    } else {
                        out.push_str(&entry_line(w));
                        out.push('\n');
                    }
                }
            }
            _ => out.push_str(l),
        }
    }
    if let (Some(w), false) = (want, found) {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&entry_line(w));
        out.push('\n');
    }
    out
}

/// Whether `path` is a mount point in /proc/mounts text.
pub fn is_mounted(proc_mounts: &str, path: &str) -> bool {
    let p = if path == "/" {
        "/"
    } else {
        path.trim_end_matches('/')
    };
    proc_mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .any(|m| unescape(m) == p)
}

pub struct Mount {
    a: MountArgs,
    want: Option<Entry>,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: MountArgs = build_args("mount", args)?;
    fn e<T>(m: String) -> std::result::Result<T, String> {
        Err(format!("mount: {m}"))
    }
    if !STATES.contains(&a.state.as_str()) {
        return e(format!(
            "argument `state` must be one of {}, got {}",
            STATES.join(", "),
            a.state
        ));
    }
    if !a.path.starts_with('/') {
        return e(format!("argument `path` must be absolute, got {}", a.path));
    }
    if a.state == "mounted" || a.state == "present" {
        for (k, v) in [("src", &a.src), ("fstype", &a.fstype)] {
            if v.as_deref().is_none_or(str::is_empty) {
                return e(format!("argument `{k}` is required with state={}", a.state));
            }
        }
    }
    for (k, v) in [("opts", &a.opts), ("dump", &a.dump), ("passno", &a.passno)] {
        if v.is_empty() || v.chars().any(char::is_whitespace) {
            return e(format!("argument `{k}` must be one word, got `{v}`"));
        }
    }
    let mut opts: Vec<String> = a.opts.split(',').map(str::to_string).collect();
    if a.boot {
        opts.retain(|o| o != "noauto");
        if opts.is_empty() {
            opts.push("defaults".into());
        }
    } else if !opts.iter().any(|o| o == "noauto") {
        opts.push("noauto".into());
    }
    let want = match (&a.src, &a.fstype) {
        (Some(s), Some(t)) if a.state == "mounted" || a.state == "present" => Some([
            s.clone(),
            a.path.clone(),
            t.clone(),
            opts.join(","),
            a.dump.clone(),
            a.passno.clone(),
        ]),
        _ => None,
    };
    Ok(Box::new(Mount { a, want }))
}

pub static MOUNT: super::ModuleDef = super::ModuleDef {
    name: "mount",
    args: MOUNT_ARGS,
    free_form: false,
    build,
};

#[async_trait]
impl Module for Mount {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.a;
        let mut s = Sections::new();
        s.file("f", &a.fstab);
        s.add("mounts", "cat /proc/mounts 2>/dev/null");
        s.add("dir", &format!("[ -d {} ] && echo y", quote(&a.path)));
        let s = s.run(ctx, "mount").await?;
        let now: FileNow = file_now(&s, "f");
        let old = now.text.clone();
        let mounted = is_mounted(s.get("mounts").map(String::as_str).unwrap_or(""), &a.path);
        let dir = s.get("dir").is_some_and(|d| d.trim() == "y");
        let mut result = Map::new();
        for (k, v) in [
            ("name", Some(&a.path)),
            ("src", a.src.as_ref()),
            ("fstype", a.fstype.as_ref()),
            ("opts", Some(&a.opts)),
            ("dump", Some(&a.dump)),
            ("passno", Some(&a.passno)),
            ("fstab", Some(&a.fstab)),
        ] {
            result.insert(k.into(), json!(v));
        }
        result.insert("boot".into(), json!(a.boot));
        let mut changes: Vec<Change> = vec![];
        let touches_fstab = matches!(a.state.as_str(), "mounted" | "present" | "absent");
        let new = if touches_fstab {
            edit(old.as_deref().unwrap_or(""), &a.path, self.want.as_ref())
        } else {
            old.clone().unwrap_or_default()
        };
        let fstab_changes = touches_fstab && old.as_deref().unwrap_or("") != new;
        if fstab_changes {
            let before = old
                .as_deref()
                .unwrap_or("")
                .lines()
                .filter_map(parse_entry)
                .find(|e| e[1].trim_end_matches('/') == a.path.trim_end_matches('/'))
                .map(|e| entry_line(&e));
            changes.push(other(
                "fstab entry",
                before,
                self.want.as_ref().map(entry_line),
            ));
            changes.push(text_change(&a.fstab, old.as_deref(), &new));
        }
        // The commands the apply would run, in order.
        let fstab_opt = if a.fstab != "/etc/fstab" {
            vec!["-T".to_string(), a.fstab.clone()]
        } else {
            vec![]
        };
        let mut cmds: Vec<Vec<String>> = vec![];
        match a.state.as_str() {
            "mounted" if !mounted => {
                if !dir {
                    cmds.push(vec![
                        "mkdir".into(),
                        "-p".into(),
                        "--".into(),
                        a.path.clone(),
                    ]);
                }
                let mut c = vec!["mount".to_string()];
                c.extend(fstab_opt.clone());
                c.push(a.path.clone());
                cmds.push(c);
                changes.push(Change::new(
                    Field::State,
                    Some("unmounted".into()),
                    Some("mounted".into()),
                ));
            }
            "mounted" if fstab_changes => {
                let mut c = vec!["mount".to_string(), "-o".into(), "remount".into()];
                c.extend(fstab_opt.clone());
                c.push(a.path.clone());
                cmds.push(c);
            }
            "remounted" if mounted => {
                let mut c = vec!["mount".to_string(), "-o".into(), "remount".into()];
                c.extend(fstab_opt.clone());
                c.push(a.path.clone());
                cmds.push(c);
                changes.push(Change::new(
                    Field::State,
                    Some("mounted".into()),
                    Some("remounted".into()),
                ));
            }
            "unmounted" if mounted => {
                cmds.push(vec!["umount".into(), a.path.clone()]);
                changes.push(Change::new(
                    Field::State,
                    Some("mounted".into()),
                    Some("unmounted".into()),
                ));
            }
            // As Ansible: removing the entry also unmounts and removes the (empty) mount point.
            "absent" if fstab_changes => {
                if mounted {
                    cmds.push(vec!["umount".into(), a.path.clone()]);
                    changes.push(Change::new(
                        Field::State,
                        Some("mounted".into()),
                        Some("unmounted".into()),
                    ));
                }
                if dir {
                    cmds.push(vec!["rmdir".into(), "--".into(), a.path.clone()]);
                }
            }
            _ => {}
        }
        for c in &cmds {
            changes.push(Change::new(
                Field::Command,
                None,
                Some(crate::transport::quote::join(c)),
            ));
        }
        if changes.is_empty() {
            return Ok(Plan {
                result,
                ..Plan::default()
            });
        }
        Ok(Plan {
            changes,
            result,
            state: Some(json!({
                "text": if fstab_changes { Some(new) } else { None },
                "mode": now.mode, "owner": now.owner, "group": now.group,
                "cmds": cmds,
            })),
            ..Plan::default()
        })
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        let a = &self.a;
        if plan.state.is_none() {
            return Err(fail(
                ctx,
                "internal: apply called without this module's plan",
            ));
        }
        let st = state_obj(&plan.state);
        let mut result = plan.result.clone();
        if let Some(text) = st.get("text").and_then(Value::as_str) {
            if a.backup {
                let script = format!(
                    "f={}; [ -e \"$f\" ] || exit 0; b={}; cp -p -- \"$f\" \"$b\" && printf '%s' \"$b\"",
                    quote(&a.fstab),
                    super::fileops::backup_name("\"$f\"")
                );
                let b =
                    sysutil::run(ctx, &format!("backing up {}", a.fstab), &script, None).await?;
                if !b.is_empty() {
                    result.insert("backup_file".into(), json!(b));
                }
            }
            let now = FileNow {
                text: None,
                mode: st.get("mode").and_then(Value::as_u64).map(|m| m as u32),
                owner: st.get("owner").and_then(Value::as_str).map(str::to_string),
                group: st.get("group").and_then(Value::as_str).map(str::to_string),
            };
            sysutil::put_file(ctx, &a.fstab, text, &now, 0o644, None, None).await?;
        }
        let cmds: Vec<Vec<String>> = st
            .get("cmds")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|c| strs(Some(c))).collect())
            .unwrap_or_default();
        if !cmds.is_empty() {
            let script: String = cmds
                .iter()
                .map(|c| {
                    let (p, rest) = c.split_first().unwrap();
                    format!("{} || exit 1\n", Cmd::new(p).args(rest).into_string())
                })
                .collect();
            sysutil::run(ctx, &format!("mount {}", a.path), &script, None).await?;
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstab_edits() {
        let text =
            "# /etc/fstab\nUUID=1 / ext4 errors=remount-ro 0 1\n/dev/sdb1 /data xfs defaults 0 0\n";
        let e: Entry = ["/dev/sdb1", "/data", "xfs", "noatime", "0", "2"].map(String::from);
        assert_eq!(
            edit(text, "/data", Some(&e)),
            "# /etc/fstab\nUUID=1 / ext4 errors=remount-ro 0 1\n/dev/sdb1 /data xfs noatime 0 2\n"
        );
        assert_eq!(
            edit(text, "/data", None),
            "# /etc/fstab\nUUID=1 / ext4 errors=remount-ro 0 1\n"
        );
        let sp: Entry =
            ["//srv/share", "/mnt/my share", "cifs", "defaults", "0", "0"].map(String::from);
        let t = edit("", "/mnt/my share", Some(&sp));
        assert_eq!(t, "//srv/share /mnt/my\\040share cifs defaults 0 0\n");
        assert_eq!(edit(&t, "/mnt/my share", Some(&sp)), t);
        // Short entries take the defaults and are equal to the full form.
        assert_eq!(parse_entry("tmpfs /tmp tmpfs").unwrap()[3], "defaults");
    }

    #[test]
    fn mounted_and_errors() {
        let pm = "proc /proc proc rw 0 0\n/dev/sdb1 /mnt/my\\040share ext4 rw 0 0\n";
        assert!(is_mounted(pm, "/mnt/my share"));
        assert!(is_mounted(pm, "/proc/"));
        assert!(!is_mounted(pm, "/mnt"));
        let b = |v: Value| build(v.as_object().unwrap()).err().unwrap_or_default();
        assert!(b(json!({"path": "/data", "state": "mounted", "fstype": "xfs"})).contains("`src`"));
        assert!(
            b(json!({"path": "/data", "state": "present", "src": "/dev/x"})).contains("`fstype`")
        );
        assert!(b(json!({"path": "/data", "state": "gone"})).contains("`state`"));
        assert!(b(json!({"path": "data", "state": "absent"})).contains("`path`"));
    }
}
