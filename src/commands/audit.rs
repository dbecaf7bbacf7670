//! `muster audit POLICY...`: evaluate security policies on the selected hosts and report.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Map;

use crate::cli::AuditArgs;
use crate::config::Config;
use crate::engine::vars::parse_extra_vars;
use crate::error::{Error, Result};
use crate::policy::audit::{AuditCtx, HostAudit};
use crate::policy::report::AuditReport;
use crate::policy::{waivers, Policy, Severity};
use crate::runner::{on_each_host, runtime, select_targets};
use crate::template::Templar;

fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let day = waivers::today();
    let t = secs % 86400;
    format!("{day}T{:02}:{:02}:{:02}Z", t / 3600, t / 60 % 60, t % 60)
}

pub fn audit(config: &Config, args: &AuditArgs) -> Result<i32> {
    let mut policies = Vec::new();
    for p in &args.policies {
        policies.push(Policy::load(p)?);
    }
    let waivers = match &args.waivers {
        Some(w) => waivers::load(w)?,
        None => vec![],
    };
    let mut extra = Map::new();
    for e in &args.extra_vars {
        extra.extend(parse_extra_vars(e)?);
    }
    let format = args.format.as_str();
    if !matches!(format, "text" | "json") {
        return Err(Error::Usage(format!(
            "--format {format}: this version writes text or json"
        )));
    }
    let mut outputs = Vec::new();
    for o in &args.output {
        let (f, path) = o.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "-o {o}: expected FORMAT=PATH, e.g. json=report.json"
            ))
        })?;
        if !matches!(f, "text" | "json") {
            return Err(Error::Usage(format!(
                "-o {o}: this version writes text or json"
            )));
        }
        outputs.push((f.to_string(), std::path::PathBuf::from(path)));
    }
    let fail_on = match args.fail_on {
        crate::cli::Severity::Info => Severity::Info,
        crate::cli::Severity::Low => Severity::Low,
        crate::cli::Severity::Medium => Severity::Medium,
        crate::cli::Severity::High => Severity::High,
        crate::cli::Severity::Critical => Severity::Critical,
    };
    let (_inv, targets) = select_targets(config)?;
    let started = Instant::now();
    let started_at = now_rfc3339();
    let today = waivers::today();
    let ctx = Arc::new(AuditCtx {
        policies: policies.clone(),
        templar: Templar::new(),
        waivers: waivers.clone(),
        extra_vars: extra,
        today: today.clone(),
    });
    let rt = runtime()?;
    let c2 = ctx.clone();
    let runs = rt.block_on(on_each_host(config, &targets, move |t, target| {
        let ctx = c2.clone();
        async move { Ok(ctx.audit_host(t, &target.name, &target.vars).await) }
    }));
    let hosts: Vec<HostAudit> = runs
        .into_iter()
        .map(|r| match r.result {
            Ok(h) => h,
            Err(e) => HostAudit {
                name: r.name.clone(),
                reachable: false,
                platform: String::new(),
                score: None,
                results: vec![],
                error: Some(match e {
                    Error::Host { msg, .. } => msg,
                    other => other.to_string(),
                }),
                execs: 0,
            },
        })
        .collect();
    if config.verbose > 0 {
        for h in &hosts {
            eprintln!("{}: {} exec round trips after connect", h.name, h.execs);
        }
    }
    let report = AuditReport::new(
        started_at,
        started.elapsed().as_millis() as u64,
        &policies,
        hosts,
        &waivers,
        &today,
    );
    let color = crate::commands::apply::use_color(config.color);
    match format {
        "json" => println!("{}", report.to_json()),
        _ => print!("{}", report.to_text(color)),
    }
    for (f, path) in outputs {
        let text = if f == "json" {
            report.to_json()
        } else {
            report.to_text(false)
        };
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    }
    Ok(report.exit_code(fail_on))
}
