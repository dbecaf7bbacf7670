//! `group`: local groups with `groupadd`/`groupmod`/`groupdel`; the plan is one exec
//! (`getent group NAME` and which tools the host has). Without shadow-utils (Alpine's
//! BusyBox) apply uses `addgroup`/`delgroup`, and a gid change edits `/etc/group` through
//! the transport's atomic put.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::de_bool;
use super::fileops::{build_args, de_opt_str, fail};
use super::sysutil::{self, other, state_obj, strs, Sections};
use super::user::{check_name, edit_db, is_busybox, tool_probe};
use super::{Change, Field, Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::Cmd;

fn present_state() -> String {
    "present".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupArgs {
    pub name: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub gid: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub system: bool,
    #[serde(default = "present_state")]
    pub state: String,
    #[serde(default, deserialize_with = "de_bool")]
    pub non_unique: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub force: bool,
}

pub const GROUP_ARGS: &[&str] = &["name", "gid", "system", "state", "non_unique", "force"];

pub struct Group {
    a: GroupArgs,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: GroupArgs = build_args("group", args)?;
    fn e<T>(m: String) -> std::result::Result<T, String> {
        Err(format!("group: {m}"))
    }
    check_name("name", &a.name).or_else(e)?;
    if a.state != "present" && a.state != "absent" {
        return e(format!(
            "argument `state` must be present or absent, got {}",
            a.state
        ));
    }
    if let Some(g) = &a.gid {
        if g.parse::<u32>().is_err() {
            return e(format!("argument `gid` must be a number, got {g}"));
        }
        if a.state == "absent" {
            return e("argument `gid` cannot be used with state=absent".into());
        }
    }
    if a.non_unique && a.gid.is_none() {
        return e("argument `non_unique` requires `gid`".into());
    }
    Ok(Box::new(Group { a }))
}

pub static GROUP: super::ModuleDef = super::ModuleDef {
    name: "group",
    args: GROUP_ARGS,
    free_form: false,
    build,
};

/// gid of a `getent group` line.
fn parse_gid(text: &str) -> Option<u32> {
    text.lines().next()?.split(':').nth(2)?.parse().ok()
}

#[async_trait]
impl Module for Group {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.a;
        let mut s = Sections::new();
        s.add(
            "g",
            &Cmd::new("getent").arg("group").arg(&a.name).into_string(),
        );
        s.add("tool", &tool_probe("groupadd", "addgroup"));
        let s = s.run(ctx, "group").await?;
        let tool = if is_busybox(&s) { "busybox" } else { "shadow" };
        let cur = s.get("g").and_then(|t| parse_gid(t));
        let mut result = Map::new();
        result.insert("name".into(), json!(a.name));
        result.insert("state".into(), json!(a.state));
        result.insert("system".into(), json!(a.system));
        if let Some(g) = cur {
            result.insert("gid".into(), json!(g));
        }
        let mut changes = vec![];
        let (op, args): (&str, Vec<String>) = match (a.state.as_str(), cur) {
            ("absent", None) => ("", vec![]),
            ("absent", Some(_)) => {
                changes.push(Change::new(
                    Field::State,
                    Some("present".into()),
                    Some("absent".into()),
                ));
                ("groupdel", if a.force { vec!["-f".into()] } else { vec![] })
            }
            (_, None) => {
                changes.push(Change::new(
                    Field::State,
                    Some("absent".into()),
                    Some("present".into()),
                ));
                let mut args = vec![];
                if let Some(g) = &a.gid {
                    changes.push(other("gid", None, Some(g.clone())));
                    args.extend(["-g".into(), g.clone()]);
                    if a.non_unique {
                        args.push("-o".into());
                    }
                }
                if a.system {
                    args.push("-r".into());
                }
                ("groupadd", args)
            }
            (_, Some(now)) => match &a.gid {
                Some(g) if g.parse::<u32>().ok() != Some(now) => {
                    changes.push(other("gid", Some(now.to_string()), Some(g.clone())));
                    let mut args = vec!["-g".into(), g.clone()];
                    if a.non_unique {
                        args.push("-o".into());
                    }
                    ("groupmod", args)
                }
                _ => ("", vec![]),
            },
        };
        if changes.is_empty() {
            return Ok(Plan {
                result,
                ..Plan::default()
            });
        }
        Ok(Plan {
            changes,
            result,
            state: Some(json!({"op": op, "args": args, "tool": tool})),
            ..Plan::default()
        })
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        let n = &self.a.name;
        let st = state_obj(&plan.state);
        let op = match st.get("op").and_then(Value::as_str) {
            Some(op @ ("groupadd" | "groupmod" | "groupdel")) => op,
            _ => {
                return Err(fail(
                    ctx,
                    "internal: apply called without this module's plan",
                ))
            }
        };
        let args = strs(st.get("args"));
        let getent = Cmd::new("getent").arg("group").arg(n).into_string();
        let script = if st.get("tool").and_then(Value::as_str) == Some("busybox") {
            let gid = args
                .iter()
                .position(|x| x == "-g")
                .and_then(|i| args.get(i + 1).cloned());
            let cmd = match op {
                "groupadd" => {
                    let mut c = Cmd::new("addgroup");
                    if args.iter().any(|x| x == "-r") {
                        c = c.arg("-S");
                    }
                    // addgroup refuses a gid in use: with non_unique it is set afterwards.
                    if let (Some(g), false) = (&gid, args.iter().any(|x| x == "-o")) {
                        c = c.arg("-g").arg(g);
                    }
                    Some(c.arg(n))
                }
                // BusyBox delgroup has no --force.
                "groupdel" => Some(Cmd::new("delgroup").arg(n)),
                _ => None,
            };
            if let Some(c) = cmd {
                let s = format!("{} || exit 1\n", c.into_string());
                sysutil::run(ctx, &format!("{op} {n}"), &s, None).await?;
            }
            let has_o = args.iter().any(|x| x == "-o");
            if let (Some(g), true) = (&gid, op == "groupmod" || (op == "groupadd" && has_o)) {
                edit_db(ctx, "/etc/group", n, |f| {
                    while f.len() < 3 {
                        f.push(String::new());
                    }
                    f[2] = g.clone();
                })
                .await?;
            }
            format!("{getent}\nexit 0\n")
        } else {
            format!(
                "{}{} || exit 1\n{getent}\nexit 0\n",
                super::user::NEED_SHADOW,
                Cmd::new(op).args(&args).arg(n).into_string(),
            )
        };
        let out = sysutil::run(ctx, &format!("{op} {n}"), &script, None).await?;
        let mut r = plan.result.clone();
        match parse_gid(&out) {
            Some(g) => r.insert("gid".into(), json!(g)),
            None => r.remove("gid"),
        };
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses() {
        assert_eq!(parse_gid("ops:x:2001:alice\n"), Some(2001));
        let e = build(
            json!({"name": "ops", "gid": 5, "state": "absent"})
                .as_object()
                .unwrap(),
        )
        .err()
        .unwrap();
        assert!(e.contains("`gid`"), "{e}");
        assert!(build(json!({"name": "ops", "gid": "x"}).as_object().unwrap()).is_err());
    }
}
