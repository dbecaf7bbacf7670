//! `modprobe`: a kernel module loaded or not, and (with `persistent`) its
//! `/etc/modules-load.d/NAME.conf` and `/etc/modprobe.d/NAME.conf`. The plan reads lsmod
//! (or /proc/modules), modules.builtin and both files in one exec.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::fileops::{build_args, de_opt_str, fail};
use super::sysutil::{self, file_now, state_obj, strs, text_change, FileNow, Sections};
use super::{Change, Field, Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::{quote, Cmd};

fn present_state() -> String {
    "present".into()
}
fn disabled() -> String {
    "disabled".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModprobeArgs {
    pub name: String,
    #[serde(default = "present_state")]
    pub state: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub params: Option<String>,
    #[serde(default = "disabled")]
    pub persistent: String,
}

pub const MODPROBE_ARGS: &[&str] = &["name", "state", "params", "persistent"];

pub struct Modprobe {
    a: ModprobeArgs,
    params: String,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: ModprobeArgs = build_args("modprobe", args)?;
    fn e<T>(m: String) -> std::result::Result<T, String> {
        Err(format!("modprobe: {m}"))
    }
    if a.name.is_empty()
        || a.name.starts_with('-')
        || !a
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return e(format!(
            "argument `name`: `{}` is not a module name",
            a.name
        ));
    }
    if a.state != "present" && a.state != "absent" {
        return e(format!(
            "argument `state` must be present or absent, got {}",
            a.state
        ));
    }
    if !["present", "absent", "disabled"].contains(&a.persistent.as_str()) {
        return e(format!(
            "argument `persistent` must be present, absent or disabled, got {}",
            a.persistent
        ));
    }
    if a.state == "absent" && a.persistent == "present" {
        return e("argument `persistent`: present cannot be used with state=absent".into());
    }
    let params = a.params.clone().unwrap_or_default().trim().to_string();
    if params.contains('\n') {
        return e("argument `params` must be one line".into());
    }
    if a.state == "absent" && !params.is_empty() {
        return e("argument `params` cannot be used with state=absent".into());
    }
    Ok(Box::new(Modprobe { a, params }))
}

pub static MODPROBE: super::ModuleDef = super::ModuleDef {
    name: "modprobe",
    args: MODPROBE_ARGS,
    free_form: false,
    build,
};

/// Whether `name` is loaded (lsmod or /proc/modules text) or built in (modules.builtin).
pub fn is_loaded(lsmod: &str, builtin: &str, name: &str) -> bool {
    let n = name.replace('-', "_");
    lsmod
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .any(|m| m.replace('-', "_") == n)
        || builtin.lines().any(|l| {
            l.rsplit('/')
                .next()
                .and_then(|f| f.strip_suffix(".ko"))
                .is_some_and(|m| m.replace('-', "_") == n)
        })
}

fn load_file(name: &str) -> String {
    format!("/etc/modules-load.d/{name}.conf")
}
fn options_file(name: &str) -> String {
    format!("/etc/modprobe.d/{name}.conf")
}

#[async_trait]
impl Module for Modprobe {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.a;
        let (lf, of) = (load_file(&a.name), options_file(&a.name));
        let mut s = Sections::new();
        s.add(
            "lsmod",
            "lsmod 2>/dev/null || cat /proc/modules 2>/dev/null",
        );
        s.add(
            "builtin",
            "cat \"/lib/modules/$(uname -r)/modules.builtin\" 2>/dev/null",
        );
        s.file("load", &lf);
        s.file("opts", &of);
        let s = s.run(ctx, "modprobe").await?;
        let loaded = is_loaded(
            s.get("lsmod").map(String::as_str).unwrap_or(""),
            s.get("builtin").map(String::as_str).unwrap_or(""),
            &a.name,
        );
        let mut result = Map::new();
        result.insert("name".into(), json!(a.name));
        result.insert("params".into(), json!(self.params));
        result.insert("state".into(), json!(a.state));
        let mut changes: Vec<Change> = vec![];
        let mut cmd: Option<Vec<String>> = None;
        if a.state == "present" && !loaded {
            let mut c = vec!["modprobe".to_string(), a.name.clone()];
            c.extend(self.params.split_whitespace().map(str::to_string));
            changes.push(Change::new(
                Field::State,
                Some("unloaded".into()),
                Some("loaded".into()),
            ));
            changes.push(Change::new(
                Field::Command,
                None,
                Some(crate::transport::quote::join(&c)),
            ));
            cmd = Some(c);
        } else if a.state == "absent" && loaded {
            let c = vec!["modprobe".to_string(), "-r".into(), a.name.clone()];
            changes.push(Change::new(
                Field::State,
                Some("loaded".into()),
                Some("unloaded".into()),
            ));
            changes.push(Change::new(
                Field::Command,
                None,
                Some(crate::transport::quote::join(&c)),
            ));
            cmd = Some(c);
        }
        // Files: Some(text) to write, None to remove.
        let mut files: Vec<(String, Option<String>)> = vec![];
        let want = |path: &str,
                    tag: &str,
                    text: Option<String>,
                    files: &mut Vec<_>,
                    changes: &mut Vec<Change>| {
            let now = file_now(&s, tag).text;
            if now == text {
                return;
            }
            match &text {
                Some(t) => changes.push(text_change(path, now.as_deref(), t)),
                None => changes.push(Change::new(
                    Field::State,
                    Some(format!("{path} present")),
                    Some(format!("{path} absent")),
                )),
            }
            files.push((path.to_string(), text));
        };
        match a.persistent.as_str() {
            "present" => {
                want(
                    &lf,
                    "load",
                    Some(format!("{}\n", a.name)),
                    &mut files,
                    &mut changes,
                );
                let opts = (!self.params.is_empty())
                    .then(|| format!("options {} {}\n", a.name, self.params));
                want(&of, "opts", opts, &mut files, &mut changes);
            }
            "absent" => {
                want(&lf, "load", None, &mut files, &mut changes);
                want(&of, "opts", None, &mut files, &mut changes);
            }
            _ => {}
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
            state: Some(json!({ "cmd": cmd, "files": files })),
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
        let mut script = String::new();
        let files = st
            .get("files")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for f in &files {
            let path = f.get(0).and_then(Value::as_str).unwrap_or("");
            match f.get(1).and_then(Value::as_str) {
                Some(text) => {
                    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("/");
                    sysutil::run(
                        ctx,
                        &format!("creating {dir}"),
                        &format!("mkdir -p -- {}", quote(dir)),
                        None,
                    )
                    .await?;
                    sysutil::put_file(ctx, path, text, &FileNow::default(), 0o644, None, None)
                        .await?
                }
                None => script.push_str(&format!(
                    "{} || exit 1\n",
                    Cmd::new("rm").arg("-f").arg("--").arg(path).into_string()
                )),
            }
        }
        let cmd = strs(st.get("cmd"));
        if let Some((p, rest)) = cmd.split_first() {
            script.push_str(&format!(
                "{} || exit 1\n",
                Cmd::new(p).args(rest).into_string()
            ));
        }
        if !script.is_empty() {
            sysutil::run(ctx, &format!("modprobe {}", a.name), &script, None).await?;
        }
        Ok(plan.result.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaded_or_builtin() {
        let lsmod = "Module                  Size  Used by\nbr_netfilter           32768  0\n";
        assert!(is_loaded(lsmod, "", "br-netfilter"));
        assert!(is_loaded("", "kernel/fs/ext4/ext4.ko\n", "ext4"));
        assert!(!is_loaded(lsmod, "kernel/fs/ext4/ext4.ko\n", "xfs"));
        let b = |v: Value| build(v.as_object().unwrap()).err().unwrap_or_default();
        assert!(b(json!({"name": "x;y"})).contains("`name`"));
        assert!(
            b(json!({"name": "x", "state": "absent", "persistent": "present"}))
                .contains("`persistent`")
        );
    }
}
