//! `muster apps`: the fleet's software inventory. Each host is read in two round trips (facts,
//! then the inventory probes of the `apps` check in one batch); the controller aggregates every
//! name with the versions seen and how many hosts have it, and, given a policy, which hosts
//! break its `apps` control's allow and deny lists (judged by the `apps` check itself, so the
//! answer is the audit's).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use glob::{MatchOptions, Pattern};
use serde_json::{json, Map, Value};

use crate::cli::{AppsArgs, AppsScope, OutputFormat};
use crate::config::Config;
use crate::error::{Error, HostErrorKind, Result};
use crate::policy::audit::{is_windows_host, parse_windows_facts, platform_of, WINDOWS_FACTS};
use crate::policy::checks::apps::{inventory, inventory_probes, App, Scope};
use crate::policy::checks::{self, parse_batch, CheckCtx};
use crate::policy::{Control, Policy};
use crate::runner::{exit_code_of, on_each_host, runtime, select_targets};
use crate::template::{Origin, Templar};
use crate::transport::Transport;

/// What one host reported.
struct HostApps {
    apps: Vec<App>,
    /// Names the policy's `apps` control denies here.
    denied: Vec<String>,
    /// Names outside the control's allowlist here.
    not_allowed: Vec<String>,
}

fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::Apps => "apps",
        Scope::Packages => "packages",
    }
}

/// The policy's `apps` control (the first one).
fn apps_control(policy: &Policy) -> Result<&Control> {
    policy
        .controls
        .iter()
        .find(|c| c.kind == "apps")
        .ok_or_else(|| {
            Error::Usage(format!(
                "{}: the policy has no control with an `apps` check",
                policy.path.display()
            ))
        })
}

async fn host_apps(
    t: Arc<dyn Transport>,
    name: String,
    host_vars: Map<String, Value>,
    cli_scope: Option<Scope>,
    policy: Option<Arc<Policy>>,
) -> Result<HostApps> {
    let fail = |msg: String| Error::host(&name, HostErrorKind::Failed, msg);
    // Round trip 1: facts (PowerShell on Windows hosts).
    let windows = is_windows_host(&host_vars);
    let facts = if windows {
        let out = t
            .exec(&checks::powershell_command(WINDOWS_FACTS), None)
            .await?;
        parse_windows_facts(&out.stdout_str())
            .map_err(|e| fail(format!("gathering Windows facts failed: {e}")))?
            .0
    } else {
        crate::facts::gather(t.as_ref()).await?
    };

    // The scope: --scope, else the control's literal `scope`, else the platform's default.
    let control = match &policy {
        Some(p) => Some(apps_control(p)?),
        None => None,
    };
    let control_scope = control
        .and_then(|c| c.args.get("scope"))
        .and_then(Value::as_str)
        .and_then(|s| match s {
            "apps" | "applications" => Some(Scope::Apps),
            "packages" => Some(Scope::Packages),
            _ => None,
        });
    let scope = cli_scope
        .or(control_scope)
        .unwrap_or_else(|| Scope::default_for(&facts));

    // Round trip 2: the inventory probes in one batch.
    let probes = inventory_probes(&facts, scope);
    let cmd = if windows {
        checks::powershell_command(&checks::batch_script_ps(&probes))
    } else {
        crate::transport::quote::sh_c(&checks::batch_script(&probes))
    };
    let out = t.exec(&cmd, None).await?;
    let outputs = parse_batch(&probes, &out.stdout_str());
    let apps = inventory(&facts, &outputs).map_err(fail)?;

    // The policy's verdict, from the same outputs (no further round trip).
    let (mut denied, mut not_allowed) = (vec![], vec![]);
    if let (Some(policy), Some(control)) = (&policy, control) {
        let mut base = host_vars.clone();
        base.insert("muster_platform".into(), json!(platform_of(&facts)));
        crate::facts::inject(&mut base, facts.clone());
        base.insert(
            "muster_packages".into(),
            json!(apps.iter().map(|a| a.name.clone()).collect::<Vec<_>>()),
        );
        base.insert("inventory_hostname".into(), json!(name));
        let templar = Templar::new();
        let pv = Value::Object(base.clone());
        let mut vars = Map::new();
        for (k, v) in &policy.vars {
            if base.contains_key(k) {
                continue; // inventory vars override policy defaults
            }
            let origin = Origin::new(&policy.path, 1, 1);
            let rendered = templar.render_value(v, &pv, &origin).unwrap_or(v.clone());
            vars.insert(k.clone(), rendered);
        }
        vars.extend(base);
        let vars = Value::Object(vars);
        let origin = Origin::new(&control.loc.file, control.loc.line, control.loc.col)
            .with_task(control.id.clone());
        let mut args = templar
            .render_value(&control.args, &vars, &origin)
            .map_err(|e| fail(format!("control `{}`: {}", control.id, e.render())))?;
        if let Value::Object(m) = &mut args {
            m.insert("scope".into(), json!(scope_name(scope)));
        }
        let build = checks::builtin("apps").expect("the apps check is built in");
        let check = build(&args).map_err(|e| fail(format!("control `{}`: {}", control.id, e.0)))?;
        let finding = check.evaluate(&CheckCtx {
            facts: &facts,
            vars: &vars,
            out: &outputs,
        });
        let names = |k: &str| -> Vec<String> {
            finding.data[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        denied = names("denied");
        not_allowed = names("not_allowed");
    }
    Ok(HostApps {
        apps,
        denied,
        not_allowed,
    })
}

/// One row of the inventory.
#[derive(Default)]
struct Row {
    hosts: BTreeSet<String>,
    versions: BTreeMap<String, BTreeSet<String>>,
    denied_on: BTreeSet<String>,
    not_allowed_on: BTreeSet<String>,
}

pub fn apps(config: &Config, args: &AppsArgs) -> Result<i32> {
    let policy = match &args.policy {
        Some(p) => {
            let pol = Policy::load(p)?;
            apps_control(&pol)?;
            Some(Arc::new(pol))
        }
        None => None,
    };
    let filter = match &args.filter {
        Some(g) => Some(
            Pattern::new(g).map_err(|e| Error::Usage(format!("--filter {g}: bad glob: {e}")))?,
        ),
        None => None,
    };
    let cli_scope = args.scope.map(|s| match s {
        AppsScope::Apps => Scope::Apps,
        AppsScope::Packages => Scope::Packages,
    });
    let (_inv, targets) = select_targets(config)?;
    let rt = runtime()?;
    let runs = rt.block_on(on_each_host(config, &targets, move |t, target| {
        let policy = policy.clone();
        async move { host_apps(t, target.name, target.vars, cli_scope, policy).await }
    }));

    let ci = MatchOptions {
        case_sensitive: false,
        require_literal_separator: false,
        require_literal_leading_dot: false,
    };
    let mut rows: HashMap<String, Row> = HashMap::new();
    let mut failed = Vec::new();
    let mut reached = 0usize;
    for r in &runs {
        let h = match &r.result {
            Ok(h) => h,
            Err(e) => {
                let msg = match e {
                    Error::Host { msg, .. } => msg.clone(),
                    other => other.to_string(),
                };
                eprintln!("{}: {msg}", r.name);
                failed.push(json!({"name": r.name, "error": msg}));
                continue;
            }
        };
        reached += 1;
        for a in &h.apps {
            if filter
                .as_ref()
                .is_some_and(|f| !f.matches_with(&a.name, ci))
            {
                continue;
            }
            let row = rows.entry(a.name.clone()).or_default();
            row.hosts.insert(r.name.clone());
            row.versions
                .entry(a.version.clone())
                .or_default()
                .insert(r.name.clone());
            if h.denied.contains(&a.name) {
                row.denied_on.insert(r.name.clone());
            }
            if h.not_allowed.contains(&a.name) {
                row.not_allowed_on.insert(r.name.clone());
            }
        }
    }
    let mut sorted: Vec<(String, Row)> = rows.into_iter().collect();
    sorted.sort_by(|a, b| {
        b.1.hosts
            .len()
            .cmp(&a.1.hosts.len())
            .then_with(|| a.0.to_lowercase().cmp(&b.0.to_lowercase()))
            .then_with(|| a.0.cmp(&b.0))
    });

    match args.format {
        OutputFormat::Json => {
            let apps: Vec<Value> = sorted
                .iter()
                .map(|(name, row)| {
                    let versions: Map<String, Value> = row
                        .versions
                        .iter()
                        .map(|(v, hs)| (v.clone(), json!(hs.len())))
                        .collect();
                    let mut o = json!({
                        "name": name,
                        "hosts": row.hosts.len(),
                        "versions": versions,
                        "denied": !row.denied_on.is_empty(),
                        "not_allowed": !row.not_allowed_on.is_empty(),
                        "hosts_list": row.hosts,
                    });
                    if !row.denied_on.is_empty() || !row.not_allowed_on.is_empty() {
                        let breaking: BTreeSet<&String> =
                            row.denied_on.union(&row.not_allowed_on).collect();
                        o["breaking_hosts"] = json!(breaking);
                    }
                    o
                })
                .collect();
            let mut report = json!({
                "hosts": reached,
                "apps": apps,
            });
            if let Some(s) = cli_scope {
                report["scope"] = json!(scope_name(s));
            }
            if let Some(p) = &args.policy {
                report["policy"] = json!(p.display().to_string());
            }
            if !failed.is_empty() {
                report["failed_hosts"] = json!(failed);
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
        OutputFormat::Text => print!("{}", text_report(&sorted, reached, failed.len())),
    }
    Ok(exit_code_of(&runs, crate::exit::OK))
}

fn text_report(rows: &[(String, Row)], hosts: usize, failed: usize) -> String {
    let versions = |row: &Row| -> String {
        row.versions
            .iter()
            .map(|(v, hs)| {
                let v = if v.is_empty() { "?" } else { v.as_str() };
                if row.versions.len() > 1 {
                    format!("{v} ({})", hs.len())
                } else {
                    v.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let flag = |row: &Row| -> &'static str {
        match (row.denied_on.is_empty(), row.not_allowed_on.is_empty()) {
            (false, _) => "denied",
            (true, false) => "not allowed",
            _ => "",
        }
    };
    let width = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut s = format!("{:<width$}  HOSTS  {:<11}  VERSIONS\n", "NAME", "POLICY");
    for (name, row) in rows {
        s.push_str(&format!(
            "{:<width$}  {:>5}  {:<11}  {}\n",
            name,
            row.hosts.len(),
            flag(row),
            versions(row)
        ));
    }
    let breaking: Vec<&(String, Row)> = rows
        .iter()
        .filter(|(_, r)| !r.denied_on.is_empty() || !r.not_allowed_on.is_empty())
        .collect();
    if !breaking.is_empty() {
        s.push_str("\nBreaking the policy:\n");
        for (name, row) in breaking {
            let join = |hs: &BTreeSet<String>| hs.iter().cloned().collect::<Vec<_>>().join(", ");
            let mut parts = vec![];
            if !row.denied_on.is_empty() {
                parts.push(format!("denied on {}", join(&row.denied_on)));
            }
            if !row.not_allowed_on.is_empty() {
                parts.push(format!("not allowed on {}", join(&row.not_allowed_on)));
            }
            s.push_str(&format!("  {name}: {}\n", parts.join("; ")));
        }
    }
    s.push_str(&format!(
        "\n{} names on {hosts} host{}{}\n",
        rows.len(),
        if hosts == 1 { "" } else { "s" },
        if failed > 0 {
            format!(", {failed} unreachable or failed")
        } else {
            String::new()
        }
    ));
    s
}
