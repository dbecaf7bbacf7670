//! `package`: the generic package module. It hands its arguments to the host's own manager's
//! module (apt, dnf/yum, apk), chosen by `use:` or the host's `ansible_pkg_mgr` fact (probed
//! with one exec when facts were not gathered). Also what the package modules share: running
//! their transactions and shaping the result as Ansible does.

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use super::fileops::fail;
use super::{Module, ModuleCtx, Plan};
use crate::error::Result;

/// One package-manager command of an apply (e.g. one `apt-get install` for all packages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub what: String,
    /// A shell command line, every argument built with `quote`.
    pub cmd: String,
}

/// A package backend whose plan is one probe script, decided on the controller into changes
/// and the package lists its transactions take (dnf/yum and apk share this shape).
pub trait ListBackend: Send + Sync {
    fn has_specs(&self) -> bool;
    fn probe_script(&self) -> String;
    #[allow(clippy::type_complexity)]
    fn decide(
        &self,
        out: &str,
    ) -> std::result::Result<(Vec<super::Change>, Vec<Vec<String>>), String>;
    fn transactions(&self, lists: &[Vec<String>]) -> Vec<Transaction>;
}

/// `plan` of a list backend: one exec; the lists ride in the plan's state.
pub async fn plan_lists(b: &dyn ListBackend, ctx: &ModuleCtx<'_>) -> Result<Plan> {
    if !b.has_specs() {
        // update_cache alone: the package manager refreshes its index; nothing changes.
        return Ok(Plan::in_sync());
    }
    let out = ctx
        .transport
        .exec(&crate::transport::quote::sh_c(&b.probe_script()), None)
        .await?;
    let (changes, lists) = b.decide(&out.stdout_str()).map_err(|e| fail(ctx, e))?;
    Ok(Plan {
        changes,
        state: Some(serde_json::to_value(&lists).unwrap_or(Value::Null)),
        ..Plan::default()
    })
}

/// `apply` of a list backend: exactly the transactions the plan's lists call for.
pub async fn apply_lists(
    b: &dyn ListBackend,
    ctx: &ModuleCtx<'_>,
    plan: &Plan,
) -> Result<Map<String, Value>> {
    let lists: Vec<Vec<String>> = plan
        .state
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    run_transactions(ctx, &b.transactions(&lists)).await
}

/// Runs the transactions in order, stopping at the first that fails. The result carries
/// Ansible's fields: `changed`, `rc`, `stdout(_lines)`, `stderr(_lines)`, and on failure
/// `failed` and `msg` (`'COMMAND' failed: STDERR`).
pub async fn run_transactions(
    ctx: &ModuleCtx<'_>,
    txs: &[Transaction],
) -> Result<Map<String, Value>> {
    let mut stdout = String::new();
    let mut stderr = String::new();
    let mut r = Map::new();
    let mut rc = 0;
    let mut cmds = Vec::new();
    for t in txs {
        let out = ctx.transport.exec(&t.cmd, None).await?;
        stdout.push_str(&out.stdout_str());
        stderr.push_str(&out.stderr_str());
        cmds.push(t.cmd.clone());
        rc = out.rc();
        if !out.success() {
            r.insert("failed".into(), json!(true));
            let err = out.stderr_str();
            let why = if err.trim().is_empty() {
                out.stdout_str()
            } else {
                err
            };
            r.insert(
                "msg".into(),
                json!(format!("'{}' failed: {}", t.cmd, why.trim_end())),
            );
            break;
        }
    }
    r.insert("changed".into(), json!(!txs.is_empty() && rc == 0));
    r.insert("rc".into(), json!(rc));
    r.insert(
        "stdout_lines".into(),
        json!(stdout.lines().collect::<Vec<_>>()),
    );
    r.insert(
        "stderr_lines".into(),
        json!(stderr.lines().collect::<Vec<_>>()),
    );
    r.insert("stdout".into(), json!(stdout));
    r.insert("stderr".into(), json!(stderr));
    r.insert("commands".into(), json!(cmds));
    Ok(r)
}

pub const PACKAGE_ARGS: &[&str] = &[
    "name",
    "state",
    "use",
    // Passed through to the manager's module, which rejects what it does not know.
    "update_cache",
    "cache_valid_time",
    "purge",
    "autoremove",
    "install_recommends",
    "disable_gpg_check",
    "enablerepo",
    "disablerepo",
];

pub struct Package {
    args: Map<String, Value>,
    use_: Option<String>,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    for k in args.keys() {
        if !PACKAGE_ARGS.contains(&k.as_str()) {
            return Err(format!(
                "package: unknown field `{k}`, expected one of {PACKAGE_ARGS:?}"
            ));
        }
    }
    if !args.contains_key("name") {
        return Err("package: missing field `name`".into());
    }
    let use_ = match args.get("use") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "auto" => None,
        Some(Value::String(s)) => {
            backend(s).ok_or_else(|| {
                format!("package: `use: {s}` is not one of auto, apt, dnf, yum, apk")
            })?;
            Some(s.clone())
        }
        Some(other) => return Err(format!("package: `use` must be a string, got {other}")),
    };
    let mut inner = args.clone();
    inner.remove("use");
    // The backend validates the rest now when `use` is given (else at plan time).
    if let Some(u) = &use_ {
        (backend(u).unwrap().build)(&inner)?;
    }
    Ok(Box::new(Package { args: inner, use_ }))
}

/// The module for a package manager name as facts spell it.
fn backend(mgr: &str) -> Option<&'static super::ModuleDef> {
    Some(match mgr {
        "apt" => &super::apt::APT,
        "dnf" | "dnf5" => &super::dnf::DNF,
        "yum" => &super::dnf::YUM,
        "apk" => &super::apk::APK,
        _ => return None,
    })
}

impl Package {
    async fn manager(&self, ctx: &ModuleCtx<'_>) -> Result<String> {
        if let Some(u) = &self.use_ {
            return Ok(u.clone());
        }
        let fact = ctx
            .vars
            .get("ansible_pkg_mgr")
            .or_else(|| ctx.vars.get("ansible_facts").and_then(|f| f.get("pkg_mgr")))
            .and_then(Value::as_str)
            .filter(|m| *m != "unknown");
        if let Some(m) = fact {
            return Ok(m.to_string());
        }
        // No facts: ask the host which manager it has (one exec).
        let out = ctx
            .transport
            .exec(
                "for t in apt-get dnf yum apk; do if command -v $t >/dev/null 2>&1; then echo $t; exit 0; fi; done; echo unknown",
                None,
            )
            .await?;
        Ok(match out.stdout_str().trim() {
            "apt-get" => "apt".to_string(),
            other => other.to_string(),
        })
    }

    fn inner(&self, ctx: &ModuleCtx<'_>, mgr: &str) -> Result<Box<dyn Module>> {
        let def = backend(mgr).ok_or_else(|| {
            fail(
                ctx,
                format!(
                    "package: could not find a module for the package manager `{mgr}` (set `use:`)"
                ),
            )
        })?;
        (def.build)(&self.args).map_err(|e| fail(ctx, e))
    }
}

#[async_trait]
impl Module for Package {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let mgr = self.manager(ctx).await?;
        let mut plan = self.inner(ctx, &mgr)?.plan(ctx).await?;
        plan.state = Some(json!({"mgr": mgr, "inner": plan.state.take()}));
        Ok(plan)
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        let st = plan.state.clone().unwrap_or(Value::Null);
        let mgr = st.get("mgr").and_then(Value::as_str).unwrap_or("unknown");
        let inner_plan = Plan {
            changes: plan.changes.clone(),
            result: plan.result.clone(),
            state: st.get("inner").cloned().filter(|v| !v.is_null()),
            runs_command: plan.runs_command,
        };
        self.inner(ctx, mgr)?.apply(ctx, &inner_plan).await
    }
}

pub static PACKAGE: super::ModuleDef = super::ModuleDef {
    name: "package",
    args: PACKAGE_ARGS,
    free_form: false,
    build,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let b = |v: Value| build(v.as_object().unwrap()).err();
        assert_eq!(b(json!({"name": "x"})), None);
        assert_eq!(b(json!({"name": "x", "use": "apt", "purge": true})), None);
        assert!(b(json!({"name": "x", "use": "pacman"})).is_some());
        assert!(b(json!({"name": "x", "bogus": 1})).is_some());
        assert!(b(json!({"state": "present"})).is_some());
        // Passed-through arguments are checked by the backend when known.
        assert!(b(json!({"name": "x", "use": "apk", "purge": true})).is_some());
    }
}
