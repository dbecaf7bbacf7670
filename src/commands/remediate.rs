//! `muster remediate POLICY...`: audit, run the `remediate:` tasks of the controls that fail
//! (through the playbook engine, so `--check` and `--diff` mean what they mean for `apply`),
//! audit again, and report each control before → after. Controls without remediation say so,
//! with the manual guidance they carry.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{json, Map};

use crate::cli::RemediateArgs;
use crate::config::Config;
use crate::engine::report::Text;
use crate::engine::vars::parse_extra_vars;
use crate::engine::{Engine, RunOptions};
use crate::error::{exit, Error, Result};
use crate::inventory::Inventory;
use crate::playbook::{Play, Playbook, Strategy};
use crate::policy::audit::{AuditCtx, HostAudit};
use crate::policy::checks::Status;
use crate::policy::report::AuditReport;
use crate::policy::{waivers, Control, Policy};
use crate::report::run::parse_outputs;
use crate::report::{self, Format};
use crate::runner::{on_each_host, runtime, select_targets};
use crate::template::Templar;

/// Default guidance for checks that cannot be fixed over SSH safely.
fn manual_for(c: &Control, h: &HostAudit) -> String {
    if let Some(m) = &c.manual {
        return m.clone();
    }
    match (c.kind.as_str(), h.platform.as_str()) {
        ("disk_encryption", "macos") => "enable FileVault: `sudo fdesetup enable -defer /var/db/filevault-recovery.plist` (takes effect at next logout) or, better, enforce it with an MDM profile".into(),
        ("disk_encryption", "windows") => "add and escrow a recovery key (`Add-BitLockerKeyProtector -MountPoint C: -RecoveryPasswordProtector`, then back it up), then `Enable-BitLocker -MountPoint C: -EncryptionMethod XtsAes256 -TpmProtector`".into(),
        ("disk_encryption", _) => "encrypt at install time (LUKS2 in the installer), or re-encrypt offline from a live system with `cryptsetup reencrypt --encrypt --type luks2` after shrinking the file system, then update crypttab, fstab and the initramfs".into(),
        _ => "this control has no `remediate:` tasks; fix it by hand or add remediation tasks to the policy".into(),
    }
}

/// The tasks that fix a control: its `remediate:` list, or, for a module used as a check,
/// that module applied (the control passes exactly when the module would change nothing).
pub(crate) fn remediation_tasks(c: &Control) -> Vec<crate::playbook::Task> {
    if !c.remediate.is_empty() {
        return c.remediate.clone();
    }
    let Some(def) = crate::modules::find(&c.kind) else {
        return vec![];
    };
    vec![crate::playbook::Task {
        name: Some(format!("{} ({})", c.title, c.kind)),
        kind: crate::playbook::TaskKind::Module {
            def,
            args: c.args.clone(),
        },
        loc: c.loc.clone(),
        ..crate::playbook::Task::bare(c.loc.clone())
    }]
}

async fn audit_all(
    config: &Config,
    ctx: &Arc<AuditCtx>,
    targets: &[crate::runner::Target],
) -> Vec<HostAudit> {
    let c2 = ctx.clone();
    let runs = on_each_host(config, targets, move |t, target| {
        let ctx = c2.clone();
        async move { Ok(ctx.audit_host(t, &target.name, &target.vars).await) }
    })
    .await;
    runs.into_iter()
        .map(|r| match r.result {
            Ok(h) => h,
            Err(e) => HostAudit {
                name: r.name,
                reachable: false,
                platform: String::new(),
                score: None,
                results: vec![],
                error: Some(e.to_string()),
                execs: 0,
            },
        })
        .collect()
}

pub fn remediate(config: &Config, args: &RemediateArgs) -> Result<i32> {
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
    // Formats are checked before any host is contacted.
    let format = Format::parse(&args.format)
        .map_err(|e| Error::Usage(format!("--format {}: {e}", args.format)))?;
    let outputs = parse_outputs(&args.output, Format::parse)?;
    // With a report format on standard output, the human account goes to standard error.
    let text_out = format == Format::Text;
    let mut say: Box<dyn Write + Send> = if text_out {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::io::stderr())
    };
    let started = std::time::Instant::now();
    let started_at = crate::commands::audit::now_rfc3339();
    let (inventory, targets) = select_targets(config)?;
    let ctx = Arc::new(AuditCtx {
        policies: policies.clone(),
        templar: Templar::new(),
        waivers: waivers.clone(),
        extra_vars: extra.clone(),
        today: waivers::today(),
    });
    let rt = runtime()?;
    let before = rt.block_on(audit_all(config, &ctx, &targets));

    // One play per failing (control, host): the control's tasks with `finding` set to what the
    // check found on that host (e.g. `{{ finding.denied }}`).
    let controls: BTreeMap<(String, String), &Control> = policies
        .iter()
        .flat_map(|p| {
            p.controls
                .iter()
                .map(move |c| ((p.name.clone(), c.id.clone()), c))
        })
        .collect();
    let mut plays = Vec::new();
    let mut manual: Vec<(String, String, String)> = Vec::new();
    for h in &before {
        for r in &h.results {
            if r.status != Status::Fail {
                continue;
            }
            let Some(c) = controls.get(&(r.policy.clone(), r.control.clone())) else {
                continue;
            };
            let tasks = remediation_tasks(c);
            if tasks.is_empty() {
                manual.push((h.name.clone(), c.id.clone(), manual_for(c, h)));
                continue;
            }
            // The policy's vars (templated lazily by the engine), then what the check found.
            let mut vars = policies
                .iter()
                .find(|p| p.name == r.policy)
                .map(|p| p.vars.clone())
                .unwrap_or_default();
            vars.insert(
                "finding".into(),
                if r.finding.is_null() {
                    json!({})
                } else {
                    r.finding.clone()
                },
            );
            vars.insert("observed".into(), r.observed.clone());
            plays.push(Play {
                name: format!("remediate {} on {}", c.id, h.name),
                hosts: h.name.clone(),
                loc: c.loc.clone(),
                vars,
                vars_files: vec![],
                gather_facts: true,
                r#become: None,
                become_user: None,
                become_method: None,
                roles: vec![],
                pre_tasks: vec![],
                tasks,
                post_tasks: vec![],
                handlers: vec![],
                serial: None,
                strategy: Strategy::Linear,
                any_errors_fatal: false,
                max_fail_percentage: None,
                tags: vec![],
                check_mode: None,
                diff: None,
                environment: None,
                imported_roles: vec![],
            });
        }
    }
    let mut summary_code = exit::OK;
    if !plays.is_empty() {
        let dir = args.policies[0]
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        let playbook = Playbook {
            path: args.policies[0].clone(),
            dir,
            plays,
        };
        let opts = RunOptions {
            check: args.check,
            diff: args.diff,
            extra_vars: extra,
            tags: vec![],
            skip_tags: vec![],
        };
        let inv: Inventory = inventory;
        let out: Box<dyn Write + Send> = if text_out {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::io::stderr())
        };
        let reporter = Box::new(Text {
            out: Mutex::new(out),
            diff: args.diff,
            verbose: config.verbose,
            color: crate::commands::apply::use_color(config.color),
        });
        let engine = Engine::new(config.clone(), opts, inv, vec![], reporter);
        let summary = rt.block_on(engine.run(&[playbook]))?;
        summary_code = summary.exit_code(args.check);
    } else {
        let _ = writeln!(say, "Nothing to remediate automatically.");
    }

    // Audit again and show what changed (not after Ctrl-C stopped the remediation: the
    // audit as found is reported, and the exit code says the run was interrupted).
    let interrupted = summary_code == exit::INTERRUPTED;
    let after = if args.check || interrupted {
        before.clone()
    } else {
        rt.block_on(audit_all(config, &ctx, &targets))
    };
    let _ = writeln!(
        say,
        "\nREMEDIATION{}",
        if args.check {
            " (check mode: nothing was changed)"
        } else {
            ""
        }
    );
    let mut still_failing = false;
    let mut errored = false;
    for (b, a) in before.iter().zip(after.iter()) {
        for rb in b.results.iter().filter(|r| r.status == Status::Fail) {
            let ra = a
                .results
                .iter()
                .find(|r| r.control == rb.control && r.policy == rb.policy);
            let after_status = ra.map(|r| r.status).unwrap_or(Status::Error);
            let has_fix = controls
                .get(&(rb.policy.clone(), rb.control.clone()))
                .is_some_and(|c| !remediation_tasks(c).is_empty());
            if after_status == Status::Fail {
                still_failing = true;
            }
            if after_status == Status::Error {
                errored = true;
            }
            if args.check {
                let what = if has_fix {
                    "would run its remediation"
                } else {
                    "no automated remediation"
                };
                let _ = writeln!(
                    say,
                    "  {} {}: {} — {what}",
                    b.name,
                    rb.control,
                    rb.status.as_str()
                );
                continue;
            }
            let note = if !has_fix {
                "  (no automated remediation)"
            } else {
                ""
            };
            let _ = writeln!(
                say,
                "  {} {}: {} → {}{}",
                b.name,
                rb.control,
                rb.status.as_str(),
                after_status.as_str(),
                note
            );
            if let Some(ra) = ra.filter(|r| r.status != Status::Pass) {
                let _ = writeln!(say, "      {}", ra.message);
            }
        }
        if let Some(e) = &a.error {
            errored = true;
            let _ = writeln!(say, "  {}: {e}", a.name);
        }
    }
    for (host, control, text) in &manual {
        let _ = writeln!(say, "  {host} {control}: manual: {text}");
    }
    // The audit after remediation (in check mode: as found), in the formats asked for.
    let report = AuditReport::new(
        started_at,
        started.elapsed().as_millis() as u64,
        &policies,
        after.clone(),
        &waivers,
        &waivers::today(),
    );
    if !text_out {
        print!("{}", report::render_with(format, &report, &policies, false));
    }
    for (f, path) in &outputs {
        let text = report::render_with(*f, &report, &policies, false);
        std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
    }
    let code = if interrupted {
        exit::INTERRUPTED
    } else if errored || summary_code == exit::INCOMPLETE {
        exit::INCOMPLETE
    } else if (still_failing && !args.check) || (args.check && summary_code == exit::DRIFT) {
        // Still failing after a real run, or (check mode) remediation would change hosts.
        exit::DRIFT
    } else {
        exit::OK
    };
    Ok(code)
}
