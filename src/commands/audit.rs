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
use crate::report::{self, Format};
use crate::runner::{on_each_host, runtime, select_targets};
use crate::template::Templar;

pub(crate) fn now_rfc3339() -> String {
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
    // Formats are checked before any host is contacted: a bad one is a usage error (exit 1).
    let format = Format::parse(&args.format)
        .map_err(|e| Error::Usage(format!("--format {}: {e}", args.format)))?;
    let outputs = crate::report::run::parse_outputs(&args.output, Format::parse)?;
    let fail_on = severity(args.fail_on);
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
    // Ctrl-C: the hosts that finished keep their results, the others are reported as cut
    // short, every report is still written, and the exit code says the run was interrupted.
    let interrupted = runs
        .iter()
        .any(|r| matches!(r.result, Err(Error::Interrupted)));
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
                    Error::Interrupted => {
                        "interrupted (Ctrl-C) before the audit of this host finished".into()
                    }
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
    let code = emit(&report, &policies, format, &outputs, color, fail_on)?;
    Ok(if interrupted {
        crate::exit::INTERRUPTED
    } else {
        code
    })
}

/// `--fail-on` as the policy layer names severities.
pub(crate) fn severity(s: crate::cli::Severity) -> Severity {
    match s {
        crate::cli::Severity::Info => Severity::Info,
        crate::cli::Severity::Low => Severity::Low,
        crate::cli::Severity::Medium => Severity::Medium,
        crate::cli::Severity::High => Severity::High,
        crate::cli::Severity::Critical => Severity::Critical,
    }
}

/// Prints the report in `format`, writes the `-o` outputs, and returns the exit code.
pub(crate) fn emit(
    report: &AuditReport,
    policies: &[Policy],
    format: Format,
    outputs: &[(Format, std::path::PathBuf)],
    color: bool,
    fail_on: Severity,
) -> Result<i32> {
    // Every format renders the same report; files never carry colour.
    print!("{}", report::render_with(format, report, policies, color));
    for (f, path) in outputs {
        let text = report::render_with(*f, report, policies, false);
        std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
    }
    // Only a format on standard output may dictate the exit code (nagios: the plugin
    // convention); `-o nagios=PATH` leaves the audit's own exit code.
    if let Some(code) = report::exit_code_of(format, report) {
        return Ok(code);
    }
    Ok(report.exit_code(fail_on))
}
