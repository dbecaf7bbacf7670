//! Audits one host against policies: facts and the installed-package list in one exec, then
//! every control's probes batched into one script (a second exec), judged on the controller.
//! Modules used as checks plan on the host (read-only) and pass when in sync.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::checks::{self, batch_script, parse_batch, CheckCtx, Finding, Probe, Status};
use super::waivers::Waiver;
use super::{Control, Policy, Severity};
use crate::error::{Error, Result};
use crate::modules::{ModuleCtx, SearchPaths};
use crate::template::{Origin, Templar};
use crate::transport::Transport;

/// A control's outcome on one host, as the Audit JSON contract names it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ControlResult {
    pub control: String,
    pub title: String,
    pub severity: Severity,
    pub policy: String,
    pub status: Status,
    pub observed: Value,
    pub expected: Value,
    pub message: String,
    pub waiver: Option<Value>,
    #[serde(skip_serializing_if = "Value::is_null", default)]
    pub finding: Value,
}

/// One host's audit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostAudit {
    pub name: String,
    pub reachable: bool,
    pub platform: String,
    pub score: Option<f64>,
    pub results: Vec<ControlResult>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// Exec round trips after connecting (the budget is two).
    #[serde(default)]
    pub execs: u64,
}

/// Everything an audit run shares across hosts.
pub struct AuditCtx {
    pub policies: Vec<Policy>,
    pub templar: Templar,
    pub waivers: Vec<Waiver>,
    pub extra_vars: Map<String, Value>,
    pub today: String,
}

const PKG_MARK: &str = "@@muster-audit:packages@@";

/// Windows hosts are reached over OpenSSH and spoken to in PowerShell; the inventory says so
/// as Ansible's does (`ansible_shell_type: powershell` or `cmd`, or `ansible_os_family: Windows`).
pub fn is_windows_host(vars: &Map<String, Value>) -> bool {
    let v = |k: &str| {
        vars.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    matches!(v("ansible_shell_type").as_str(), "powershell" | "cmd")
        || v("ansible_os_family") == "windows"
}

/// Facts of a Windows host with Ansible's names, and its installed programs, as JSON.
pub const WINDOWS_FACTS: &str = r#"$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = [Text.Encoding]::UTF8
$os = Get-CimInstance Win32_OperatingSystem
$cs = Get-CimInstance Win32_ComputerSystem
$keys = 'HKLM:\Software\Microsoft\Windows\CurrentVersion\Uninstall\*','HKLM:\Software\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\*','HKCU:\Software\Microsoft\Windows\CurrentVersion\Uninstall\*'
$pkgs = @(Get-ItemProperty $keys -ErrorAction SilentlyContinue | Where-Object { $_.DisplayName } | ForEach-Object { $_.DisplayName } | Sort-Object -Unique)
[ordered]@{
  system = 'Win32NT'; os_family = 'Windows'; distribution = [string]$os.Caption
  distribution_version = [string]$os.Version; distribution_major_version = ([string]$os.Version).Split('.')[0]
  kernel = [string]$os.Version; architecture = [string]$os.OSArchitecture
  hostname = $env:COMPUTERNAME; nodename = $env:COMPUTERNAME; fqdn = [System.Net.Dns]::GetHostEntry('').HostName
  user_id = $env:USERNAME; processor_count = [int]$cs.NumberOfProcessors
  memtotal_mb = [int]($cs.TotalPhysicalMemory / 1MB)
  date_time = @{ epoch = [string][DateTimeOffset]::UtcNow.ToUnixTimeSeconds(); iso8601 = [DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ssZ') }
  muster_packages = $pkgs
} | ConvertTo-Json -Depth 4 -Compress
"#;

/// Parses `WINDOWS_FACTS` output into facts and the program list.
pub fn parse_windows_facts(
    text: &str,
) -> std::result::Result<(Map<String, Value>, Vec<Value>), String> {
    let start = text.find('{').ok_or("no JSON in the output")?;
    let v: Value =
        serde_json::from_str(text[start..].trim()).map_err(|e| format!("bad JSON: {e}"))?;
    let Value::Object(mut m) = v else {
        return Err("expected a JSON object".into());
    };
    let pkgs = match m.remove("muster_packages") {
        Some(Value::Array(a)) => a,
        Some(Value::String(s)) => vec![Value::String(s)],
        _ => vec![],
    };
    Ok((m, pkgs))
}

/// The platform name reports use: `debian`, `ubuntu`, `rhel`, `alpine`, `macos`, `windows`...
pub fn platform_of(facts: &Map<String, Value>) -> String {
    let f = |k: &str| {
        facts
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    match (f("system").as_str(), f("distribution").as_str()) {
        ("darwin", _) => "macos".into(),
        ("win32nt", _) | (_, "windows") => "windows".into(),
        (_, "redhat") => "rhel".into(),
        (_, "") => f("system"),
        (_, d) => d.to_string(),
    }
}

/// Score of a set of results: 100 × Σ(weight × credit) / Σ(weight) over controls that count,
/// where pass and waived earn 1, warn 0.5, fail and error 0; skipped controls and `info`
/// ones do not count. None when nothing counts.
pub fn score(results: &[ControlResult]) -> Option<f64> {
    let mut num = 0.0;
    let mut den = 0.0;
    for r in results {
        let credit = match r.status {
            Status::Pass | Status::Waived => 1.0,
            Status::Warn => 0.5,
            Status::Fail | Status::Error => 0.0,
            Status::Skip => continue,
        };
        let w = r.severity.weight();
        num += w * credit;
        den += w;
    }
    (den > 0.0).then(|| (num / den * 1000.0).round() / 10.0)
}

fn result(c: &Control, f: Finding) -> ControlResult {
    ControlResult {
        control: c.id.clone(),
        title: c.title.clone(),
        severity: c.severity,
        policy: c.policy.clone(),
        status: f.status,
        observed: f.observed,
        expected: f.expected,
        message: f.message,
        waiver: None,
        finding: f.data,
    }
}

impl AuditCtx {
    /// Audits one connected host.
    pub async fn audit_host(
        &self,
        t: Arc<dyn Transport>,
        name: &str,
        host_vars: &Map<String, Value>,
    ) -> HostAudit {
        let before = t.op_counts().execs;
        let mut audit = HostAudit {
            name: name.to_string(),
            reachable: true,
            platform: String::new(),
            score: None,
            results: vec![],
            error: None,
            execs: 0,
        };
        match self
            .audit_inner(t.as_ref(), name, host_vars, &mut audit)
            .await
        {
            Ok(()) => {}
            Err(e) => {
                audit.error = Some(match &e {
                    Error::Host { msg, .. } => msg.clone(),
                    other => other.render(),
                });
                if matches!(
                    e,
                    Error::Host {
                        kind: crate::error::HostErrorKind::Unreachable,
                        ..
                    }
                ) {
                    audit.reachable = false;
                }
            }
        }
        audit.execs = t.op_counts().execs - before;
        audit.score = score(&audit.results);
        audit
    }

    async fn audit_inner(
        &self,
        t: &dyn Transport,
        name: &str,
        host_vars: &Map<String, Value>,
        audit: &mut HostAudit,
    ) -> Result<()> {
        // Round trip 1: facts and the installed package names.
        let windows = is_windows_host(host_vars);
        let (facts, packages) = if windows {
            let out = t
                .exec(&checks::powershell_command(WINDOWS_FACTS), None)
                .await?;
            parse_windows_facts(&out.stdout_str()).map_err(|e| {
                Error::host(
                    name,
                    crate::error::HostErrorKind::Failed,
                    format!("gathering Windows facts failed: {e}"),
                )
            })?
        } else {
            let script = format!(
                "{}\necho '{PKG_MARK}'\n(dpkg-query -W -f='${{Package}}\\n' 2>/dev/null || rpm -qa --qf '%{{NAME}}\\n' 2>/dev/null || apk info 2>/dev/null) | sort -u\n",
                crate::facts::script()
            );
            let out = t
                .exec(&crate::transport::quote::sh_c(&script), None)
                .await?;
            let text = out.stdout_str();
            let (facts_text, pkgs_text) = text.split_once(PKG_MARK).unwrap_or((&text, ""));
            let facts = crate::facts::parse(facts_text).map_err(|e| {
                Error::host(
                    name,
                    crate::error::HostErrorKind::Failed,
                    format!("gathering facts failed: {e}"),
                )
            })?;
            let packages: Vec<Value> = pkgs_text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| json!(l))
                .collect();
            (facts, packages)
        };
        audit.platform = platform_of(&facts);

        // Variables: policy vars (templated, lowest), inventory, facts, -e.
        let mut base = host_vars.clone();
        crate::facts::inject(&mut base, facts.clone());
        base.insert("muster_packages".into(), Value::Array(packages));
        base.insert("muster_platform".into(), json!(audit.platform));
        base.insert("inventory_hostname".into(), json!(name));
        base.extend(self.extra_vars.clone());

        // Per control: condition, rendered arguments, check, probes (keys namespaced).
        #[allow(clippy::large_enum_variant)] // a handful per host, short-lived
        enum Plan {
            Done(Finding),
            Probes(Box<dyn checks::Check>, Vec<Probe>),
            Module(Box<dyn crate::modules::Module>),
        }
        // Every control of a policy shares its variables (facts, packages...): a copy each
        // was most of an audit's memory per host in flight.
        let mut plans: Vec<(&Control, Arc<Value>, Plan)> = Vec::new();
        for policy in &self.policies {
            let mut vars = Map::new();
            let pv = Value::Object(base.clone());
            for (k, v) in &policy.vars {
                if base.contains_key(k) {
                    continue; // inventory and -e override policy defaults
                }
                let origin = Origin::new(&policy.path, 1, 1);
                let rendered = self
                    .templar
                    .render_value(v, &pv, &origin)
                    .unwrap_or(v.clone());
                vars.insert(k.clone(), rendered);
            }
            vars.extend(base.clone());
            let vars = Arc::new(Value::Object(vars));
            for c in &policy.controls {
                let origin =
                    Origin::new(&c.loc.file, c.loc.line, c.loc.col).with_task(c.id.clone());
                let mut skip = None;
                for cond in &c.when {
                    match self.templar.eval_condition(cond, &vars, &origin) {
                        Ok(true) => {}
                        Ok(false) => {
                            skip = Some(format!(
                                "does not apply: `{}` is false here",
                                cond.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| cond.to_string())
                            ));
                            break;
                        }
                        Err(e) => {
                            skip = Some(String::new());
                            plans.push((
                                c,
                                Arc::clone(&vars),
                                Plan::Done(Finding::error(format!(
                                    "condition failed: {}",
                                    e.render()
                                ))),
                            ));
                            break;
                        }
                    }
                }
                match skip {
                    Some(s) if s.is_empty() => continue,
                    Some(s) => {
                        plans.push((c, Arc::clone(&vars), Plan::Done(Finding::skip(s))));
                        continue;
                    }
                    None => {}
                }
                let args = match self.templar.render_value(&c.args, &vars, &origin) {
                    Ok(a) => a,
                    Err(e) => {
                        plans.push((c, Arc::clone(&vars), Plan::Done(Finding::error(e.render()))));
                        continue;
                    }
                };
                let plan = if let Some(build) = checks::builtin(&c.kind) {
                    match build(&args) {
                        Ok(check) => {
                            let probes = check.probes(&facts);
                            Plan::Probes(check, probes)
                        }
                        Err(inv) => Plan::Done(Finding::error(inv.0)),
                    }
                } else if let Some(def) = crate::modules::find(&c.kind) {
                    match args.as_object().map(|m| (def.build)(m)) {
                        Some(Ok(m)) => Plan::Module(m),
                        Some(Err(e)) => Plan::Done(Finding::error(format!("{}: {e}", c.kind))),
                        None => Plan::Done(Finding::error(format!(
                            "{}: arguments must be a mapping",
                            c.kind
                        ))),
                    }
                } else {
                    Plan::Done(Finding::error(format!("unknown check kind `{}`", c.kind)))
                };
                plans.push((c, Arc::clone(&vars), plan));
            }
        }

        // Round trip 2: every probe of every control in one script.
        let mut all: Vec<Probe> = Vec::new();
        for (i, (_, _, p)) in plans.iter().enumerate() {
            if let Plan::Probes(_, probes) = p {
                for pr in probes {
                    all.push(Probe::new(format!("{i}:{}", pr.key), pr.script.clone()));
                }
            }
        }
        let outputs = if all.is_empty() {
            HashMap::new()
        } else {
            let cmd = if windows {
                checks::powershell_command(&checks::batch_script_ps(&all))
            } else {
                crate::transport::quote::sh_c(&batch_script(&all))
            };
            let out = t.exec(&cmd, None).await?;
            parse_batch(&all, &out.stdout_str())
        };

        for (i, (c, vars, plan)) in plans.into_iter().enumerate() {
            let finding = match plan {
                Plan::Done(f) => f,
                Plan::Probes(check, probes) => {
                    let mine: HashMap<String, checks::ProbeOut> = probes
                        .iter()
                        .filter_map(|p| {
                            outputs
                                .get(&format!("{i}:{}", p.key))
                                .map(|o| (p.key.clone(), o.clone()))
                        })
                        .collect();
                    check.evaluate(&CheckCtx {
                        facts: &facts,
                        vars: &vars,
                        out: &mine,
                    })
                }
                Plan::Module(m) => {
                    let origin =
                        Origin::new(&c.loc.file, c.loc.line, c.loc.col).with_task(c.id.clone());
                    let render =
                        |text: &str, v: &Value| self.templar.render_file_template(text, v, &origin);
                    let dir = c
                        .loc
                        .file
                        .parent()
                        .map(|p| p.to_path_buf())
                        .unwrap_or_default();
                    let search = SearchPaths {
                        files: vec![dir.join("files"), dir.clone()],
                        templates: vec![dir.join("templates"), dir],
                    };
                    let ctx = ModuleCtx {
                        host: name,
                        transport: t,
                        vars: &vars,
                        render: &render,
                        search: &search,
                        planned: &[],
                    };
                    match m.plan(&ctx).await {
                        Ok(p) if p.is_in_sync() => Finding::new(
                            Status::Pass,
                            json!({"in_sync": true}),
                            json!({"in_sync": true}),
                            format!("{} would change nothing", c.kind),
                        ),
                        Ok(p) => {
                            let changes: Vec<Value> = p.changes.iter().map(|ch| json!({"field": ch.field.to_string(), "before": ch.before, "after": ch.after, "diff": ch.diff.as_ref().map(|_| crate::engine::report::render_change(ch, false))})).collect();
                            let summary: Vec<String> =
                                p.changes.iter().map(|ch| ch.field.to_string()).collect();
                            Finding::new(
                                Status::Fail,
                                json!({"changes": changes}),
                                json!({"in_sync": true}),
                                format!("{} would change {}", c.kind, summary.join(", ")),
                            )
                        }
                        Err(e) => Finding::error(match e {
                            Error::Host { msg, .. } => msg,
                            other => other.render(),
                        }),
                    }
                }
            };
            let mut r = result(c, finding);
            if let Some(w) = self.waivers.iter().find(|w| w.matches(&c.id, name)) {
                let info = json!({"reason": w.reason, "owner": w.owner, "expires": w.expires, "expired": w.expired(&self.today), "original_status": r.status});
                if !w.expired(&self.today)
                    && matches!(r.status, Status::Fail | Status::Warn | Status::Error)
                {
                    r.status = Status::Waived;
                }
                r.waiver = Some(info);
            }
            audit.results.push(r);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_facts_and_hosts() {
        let out = "#< CLIXML noise\r\n{\"system\":\"Win32NT\",\"os_family\":\"Windows\",\"distribution\":\"Microsoft Windows 11 Pro\",\"distribution_version\":\"10.0.22631\",\"muster_packages\":[\"7-Zip 23.01 (x64)\",\"Mozilla Firefox (x64 en-US)\"]}\r\n";
        let (facts, pkgs) = parse_windows_facts(out).unwrap();
        assert_eq!(platform_of(&facts), "windows");
        assert_eq!(pkgs.len(), 2);
        let mut v = Map::new();
        v.insert("ansible_shell_type".into(), json!("powershell"));
        assert!(is_windows_host(&v));
        assert!(!is_windows_host(&Map::new()));
    }

    #[test]
    fn powershell_is_encoded_utf16le() {
        use base64::Engine;
        let cmd = checks::powershell_command("Get-Date");
        let b64 = cmd.rsplit(' ').next().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(String::from_utf16(&units).unwrap(), "Get-Date");
        assert!(cmd.starts_with("powershell -NoProfile -NonInteractive -EncodedCommand "));
    }

    #[test]
    fn scores_weigh_severity() {
        let r = |sev, status| ControlResult {
            control: "c".into(),
            title: "t".into(),
            severity: sev,
            policy: "p".into(),
            status,
            observed: Value::Null,
            expected: Value::Null,
            message: String::new(),
            waiver: None,
            finding: Value::Null,
        };
        assert_eq!(
            score(&[
                r(Severity::Critical, Status::Pass),
                r(Severity::Low, Status::Fail)
            ]),
            Some(90.9)
        );
        assert_eq!(score(&[r(Severity::High, Status::Warn)]), Some(50.0));
        assert_eq!(score(&[r(Severity::High, Status::Skip)]), None);
        assert_eq!(
            score(&[
                r(Severity::Medium, Status::Waived),
                r(Severity::Medium, Status::Error)
            ]),
            Some(50.0)
        );
    }
}
