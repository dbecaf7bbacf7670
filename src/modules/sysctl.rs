//! `sysctl`: a kernel parameter's entry in a sysctl file and, with `sysctl_set`, its live value.
//! As Ansible: the live value is compared only with `sysctl_set`; `reload` (sysctl -p FILE) runs
//! when the file changes. The file is rewritten atomically; only the lines of this key change
//! (the first is replaced, later duplicates go), every other line stays byte for byte.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::{de_bool, parse_bool};
use super::fileops::{build_args, fail};
use super::sysutil::{self, file_now, other, state_obj, text_change, FileNow, Sections};
use super::{Change, Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::{quote, Cmd};

fn present_state() -> String {
    "present".into()
}
fn yes() -> bool {
    true
}
fn conf() -> String {
    "/etc/sysctl.conf".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysctlArgs {
    #[serde(alias = "key")]
    pub name: String,
    #[serde(default, alias = "val")]
    pub value: Option<Value>,
    #[serde(default = "present_state")]
    pub state: String,
    #[serde(default = "conf")]
    pub sysctl_file: String,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub reload: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub sysctl_set: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub ignoreerrors: bool,
}

pub const SYSCTL_ARGS: &[&str] = &[
    "name",
    "key",
    "value",
    "val",
    "state",
    "sysctl_file",
    "reload",
    "sysctl_set",
    "ignoreerrors",
];

pub struct Sysctl {
    a: SysctlArgs,
    value: Option<String>,
}

/// Ansible's normalisation of a value: booleans become 1/0, whitespace runs one space.
pub fn norm(v: &str) -> String {
    if let Some(b) = parse_bool(&Value::String(v.into())) {
        if !v.trim().chars().all(|c| c.is_ascii_digit()) {
            return if b { "1".into() } else { "0".into() };
        }
    }
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the live value (`sysctl -n` output) differs from the wanted one.
pub fn live_differs(live: &str, want: &str) -> bool {
    norm(live) != norm(want)
}

/// The file's value of `name` (the first entry), normalised.
pub fn file_value(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let t = l.trim();
        if t.starts_with('#') || t.starts_with(';') {
            return None;
        }
        let (k, v) = t.split_once('=')?;
        (k.trim() == name).then(|| norm(v))
    })
}

/// The file with `name` set to `value` (None: removed).
pub fn edit(text: &str, name: &str, value: Option<&str>) -> String {
    let mut out = String::new();
    let mut done = false;
    for l in text.split_inclusive('\n') {
        let t = l.trim();
        let ours = !(t.starts_with('#') || t.starts_with(';'))
            && t.split_once('=').is_some_and(|(k, _)| k.trim() == name);
        if !ours {
            out.push_str(l);
            continue;
        }
        if let (Some(v), false) = (value, done) {
            out.push_str(&format!("{name}={v}\n"));
            done = true;
        }
    }
    if let (Some(v), false) = (value, done) {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{name}={v}\n"));
    }
    out
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: SysctlArgs = build_args("sysctl", args)?;
    fn e<T>(m: String) -> std::result::Result<T, String> {
        Err(format!("sysctl: {m}"))
    }
    if a.name.is_empty()
        || a.name
            .chars()
            .any(|c| c == '=' || c.is_whitespace() || c.is_control())
    {
        return e(format!("argument `name`: `{}` is not a sysctl key", a.name));
    }
    if a.state != "present" && a.state != "absent" {
        return e(format!(
            "argument `state` must be present or absent, got {}",
            a.state
        ));
    }
    let value = match &a.value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Bool(b)) => Some(if *b { "1".into() } else { "0".into() }),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => return e(format!("argument `value` must be a string, got {other}")),
    };
    if let Some(v) = &value {
        if v.contains('\n') {
            return e("argument `value` must be one line".into());
        }
    }
    match (a.state.as_str(), &value) {
        ("present", None) => return e("argument `value` is required with state=present".into()),
        ("present", Some(v)) if v.trim().is_empty() => {
            return e("argument `value` must not be empty".into())
        }
        ("absent", Some(_)) if a.sysctl_set => {
            return e("argument `sysctl_set` cannot be used with state=absent".into())
        }
        _ => {}
    }
    let value = value.map(|v| norm(&v));
    Ok(Box::new(Sysctl { a, value }))
}

pub static SYSCTL: super::ModuleDef = super::ModuleDef {
    name: "sysctl",
    args: SYSCTL_ARGS,
    free_form: false,
    build,
};

#[async_trait]
impl Module for Sysctl {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.a;
        let mut s = Sections::new();
        s.file("f", &a.sysctl_file);
        if a.sysctl_set {
            s.add(
                "live",
                &format!(
                    "{} 2>/dev/null || cat -- {} 2>/dev/null",
                    Cmd::new("sysctl")
                        .arg("-n")
                        .arg("-e")
                        .arg(&a.name)
                        .into_string(),
                    quote(&format!("/proc/sys/{}", a.name.replace('.', "/")))
                ),
            );
        }
        let s = s.run(ctx, "sysctl").await?;
        let now: FileNow = file_now(&s, "f");
        let old = now.text.clone();
        let new = edit(
            old.as_deref().unwrap_or(""),
            &a.name,
            if a.state == "present" {
                self.value.as_deref()
            } else {
                None
            },
        );
        let mut result = Map::new();
        result.insert("name".into(), json!(a.name));
        result.insert("value".into(), json!(self.value));
        result.insert("state".into(), json!(a.state));
        result.insert("sysctl_file".into(), json!(a.sysctl_file));
        let mut changes: Vec<Change> = vec![];
        let file_changes = old.as_deref().unwrap_or("") != new;
        if file_changes {
            let before = old.as_deref().and_then(|t| file_value(t, &a.name));
            changes.push(other(
                &a.name,
                before,
                if a.state == "present" {
                    self.value.clone()
                } else {
                    None
                },
            ));
            changes.push(text_change(&a.sysctl_file, old.as_deref(), &new));
        }
        let mut set_live = false;
        if a.sysctl_set {
            let live = s
                .get("live")
                .map(|l| l.trim().to_string())
                .unwrap_or_default();
            if live.is_empty() && !a.ignoreerrors {
                return Err(fail(
                    ctx,
                    format!("sysctl: {} is not a known key on this host", a.name),
                ));
            }
            if let Some(v) = &self.value {
                if !live.is_empty() && live_differs(&live, v) {
                    changes.push(other(
                        &format!("{} (live)", a.name),
                        Some(norm(&live)),
                        Some(v.clone()),
                    ));
                    set_live = true;
                }
            }
        }
        let reload = a.reload && file_changes;
        if reload {
            changes.push(other(
                "reload",
                None,
                Some(format!("sysctl -p {}", a.sysctl_file)),
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
                "text": if file_changes { Some(new) } else { None },
                "mode": now.mode, "owner": now.owner, "group": now.group,
                "set_live": set_live, "reload": reload,
            })),
            ..Plan::default()
        })
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        let a = &self.a;
        let st = state_obj(&plan.state);
        if plan.state.is_none() {
            return Err(fail(
                ctx,
                "internal: apply called without this module's plan",
            ));
        }
        if let Some(text) = st.get("text").and_then(Value::as_str) {
            let now = FileNow {
                text: None,
                mode: st.get("mode").and_then(Value::as_u64).map(|m| m as u32),
                owner: st.get("owner").and_then(Value::as_str).map(str::to_string),
                group: st.get("group").and_then(Value::as_str).map(str::to_string),
            };
            sysutil::put_file(ctx, &a.sysctl_file, text, &now, 0o644, None, None).await?;
        }
        let mut script = String::new();
        if st.get("set_live").and_then(Value::as_bool) == Some(true) {
            let v = self.value.clone().unwrap_or_default();
            script.push_str(&format!(
                "{} >/dev/null || exit 1\n",
                Cmd::new("sysctl")
                    .arg("-w")
                    .arg(&format!("{}={v}", a.name))
                    .into_string()
            ));
        }
        if st.get("reload").and_then(Value::as_bool) == Some(true) {
            let e = if a.ignoreerrors { "-e " } else { "" };
            script.push_str(&format!(
                "sysctl {e}-p {} >/dev/null || exit 1\n",
                quote(&a.sysctl_file)
            ));
        }
        if !script.is_empty() {
            sysutil::run(ctx, &format!("sysctl {}", a.name), &script, None).await?;
        }
        Ok(plan.result.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_edits_keep_other_lines() {
        let text = "# comment\nnet.ipv4.ip_forward = 0\nvm.swappiness=60\nnet.ipv4.ip_forward=0\n";
        assert_eq!(
            file_value(text, "net.ipv4.ip_forward").as_deref(),
            Some("0")
        );
        assert_eq!(
            edit(text, "net.ipv4.ip_forward", Some("1")),
            "# comment\nnet.ipv4.ip_forward=1\nvm.swappiness=60\n"
        );
        assert_eq!(
            edit(text, "net.ipv4.ip_forward", None),
            "# comment\nvm.swappiness=60\n"
        );
        assert_eq!(edit("a=1", "b", Some("2")), "a=1\nb=2\n");
        assert_eq!(edit("", "b", Some("2")), "b=2\n");
        assert_eq!(edit("#b=1\n", "b", None), "#b=1\n");
    }

    #[test]
    fn live_values_compare_like_ansible() {
        assert!(!live_differs(
            "4096\t87380\t6291456\n",
            "4096 87380  6291456"
        ));
        assert!(live_differs("4096 87380 6291456", "4096 87380 4194304"));
        assert!(!live_differs("1", "yes"));
        assert!(!live_differs("0", "False"));
        assert!(live_differs("1", "0"));
        assert_eq!(norm("1"), "1");
    }

    #[test]
    fn build_errors() {
        let b = |v: Value| build(v.as_object().unwrap()).err().unwrap_or_default();
        assert!(b(json!({"name": "vm.swappiness"})).contains("`value`"));
        assert!(b(json!({"name": "a b", "value": 1})).contains("`name`"));
        assert!(
            b(json!({"name": "x", "value": 1, "state": "absent", "sysctl_set": true}))
                .contains("`sysctl_set`")
        );
    }
}
