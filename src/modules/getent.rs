//! `getent`: reads a name service database (passwd, group, hosts, services...) into
//! `ansible_facts.getent_<database>` as Ansible does: key → list of the other fields.
//! Read-only: the plan is always in sync and carries the result.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::de_bool;
use super::fileops::{build_args, de_opt_str, fail};
use super::sysutil::Sections;
use super::{Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::Cmd;

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetentArgs {
    pub database: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub key: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub split: Option<String>,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub fail_key: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub service: Option<String>,
}

pub const GETENT_ARGS: &[&str] = &["database", "key", "split", "fail_key", "service"];

pub struct Getent {
    a: GetentArgs,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: GetentArgs = build_args("getent", args)?;
    if a.database.is_empty()
        || !a
            .database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "getent: argument `database`: `{}` is not a database name",
            a.database
        ));
    }
    if a.split.as_deref() == Some("") {
        return Err("getent: argument `split` must not be empty".into());
    }
    Ok(Box::new(Getent { a }))
}

pub static GETENT: super::ModuleDef = super::ModuleDef {
    name: "getent",
    args: GETENT_ARGS,
    free_form: false,
    build,
};

/// Ansible's shape: first field → the rest, split on `split` (':' for the colon databases,
/// whitespace otherwise). A later line with the same key wins, as in Ansible.
pub fn parse(database: &str, split: Option<&str>, text: &str) -> Map<String, Value> {
    let colon = ["passwd", "shadow", "group", "gshadow"].contains(&database);
    let mut m = Map::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<String> = match (split, colon) {
            (Some(s), _) => line.split(s).map(str::to_string).collect(),
            (None, true) => line.split(':').map(str::to_string).collect(),
            (None, false) => line.split_whitespace().map(str::to_string).collect(),
        };
        if let Some((k, rest)) = fields.split_first() {
            m.insert(k.clone(), json!(rest));
        }
    }
    m
}

#[async_trait]
impl Module for Getent {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.a;
        let mut cmd = Cmd::new("getent");
        if let Some(s) = &a.service {
            cmd = cmd.arg("-s").arg(s);
        }
        cmd = cmd.arg(&a.database);
        if let Some(k) = &a.key {
            cmd = cmd.arg(k);
        }
        let mut s = Sections::new();
        s.add("out", &format!("{}; r=$?", cmd.as_str()));
        s.add("rc", "echo $r");
        let s = s.run(ctx, "getent").await?;
        let rc: i64 = s.get("rc").and_then(|r| r.trim().parse().ok()).unwrap_or(1);
        let mut result = Map::new();
        match rc {
            0 => {}
            2 if !a.fail_key => {
                result.insert(
                    "msg".into(),
                    json!("One or more supplied key could not be found in the database."),
                );
            }
            2 => {
                return Err(fail(
                    ctx,
                    "One or more supplied key could not be found in the database.",
                ))
            }
            1 => return Err(fail(ctx, "Missing arguments, or database unknown.")),
            3 => return Err(fail(ctx, "Enumeration not supported on this database.")),
            other => return Err(fail(ctx, format!("getent failed (rc {other})"))),
        }
        let facts = parse(
            &a.database,
            a.split.as_deref(),
            s.get("out").map(String::as_str).unwrap_or(""),
        );
        result.insert(
            "ansible_facts".into(),
            json!({ format!("getent_{}", a.database): facts }),
        );
        Ok(Plan {
            result,
            ..Plan::default()
        })
    }

    async fn apply(&self, _ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        Ok(plan.result.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_like_ansible() {
        let m = parse("passwd", None, "root:x:0:0:root:/root:/bin/bash\n");
        assert_eq!(
            m["root"],
            json!(["x", "0", "0", "root", "/root", "/bin/bash"])
        );
        let m = parse("hosts", None, "127.0.0.1       localhost ip6-localhost\n");
        assert_eq!(m["127.0.0.1"], json!(["localhost", "ip6-localhost"]));
        let m = parse("services", Some("/"), "ssh/22\n");
        assert_eq!(m["ssh"], json!(["22"]));
    }
}
