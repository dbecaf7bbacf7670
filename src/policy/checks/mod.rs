//! The `Check` seam: a control's check names the probes (read-only shell snippets) it needs,
//! and judges their outputs on the controller. Probes of all controls of a host are batched
//! into one script (one exec round trip); parsers are pure functions tested on real outputs.

pub mod apps;
pub mod disk_encryption;
pub mod firewall;
pub mod generic;
pub mod updates;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// A control's verdict on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Error,
    Skip,
    Waived,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Skip => "skip",
            Status::Waived => "waived",
        }
    }
}

/// What a check found: the verdict, what was seen, what was wanted, and a sentence.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub status: Status,
    pub observed: Value,
    pub expected: Value,
    pub message: String,
    /// Data for remediation templates (`finding.denied`, ...).
    #[serde(skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

impl Finding {
    pub fn new(
        status: Status,
        observed: Value,
        expected: Value,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            status,
            observed,
            expected,
            message: message.into(),
            data: Value::Null,
        }
    }
    pub fn error(message: impl Into<String>) -> Finding {
        Finding::new(Status::Error, Value::Null, Value::Null, message)
    }
    pub fn skip(message: impl Into<String>) -> Finding {
        Finding::new(Status::Skip, Value::Null, Value::Null, message)
    }
}

/// A read-only shell snippet and the name its output is filed under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub key: String,
    pub script: String,
}

impl Probe {
    pub fn new(key: impl Into<String>, script: impl Into<String>) -> Probe {
        Probe {
            key: key.into(),
            script: script.into(),
        }
    }
}

/// What a probe printed and how it exited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeOut {
    pub rc: i64,
    pub stdout: String,
    pub stderr: String,
}

/// Everything a check may look at on the controller.
pub struct CheckCtx<'a> {
    pub facts: &'a Map<String, Value>,
    pub vars: &'a Value,
    /// Outputs of this check's probes, by key.
    pub out: &'a HashMap<String, ProbeOut>,
}

impl CheckCtx<'_> {
    pub fn fact(&self, name: &str) -> Option<&str> {
        self.facts.get(name).and_then(Value::as_str)
    }
    /// Output of one probe; an error finding when the probe did not run.
    #[allow(clippy::result_large_err)] // the error is the finding itself, returned as is
    pub fn probe(&self, key: &str) -> Result<&ProbeOut, Finding> {
        self.out
            .get(key)
            .ok_or_else(|| Finding::error(format!("internal: probe `{key}` produced no output")))
    }
}

/// A configured check of a control (arguments already rendered).
pub trait Check: Send + Sync {
    /// The probes to run on this host (may depend on its facts: platform).
    fn probes(&self, facts: &Map<String, Value>) -> Vec<Probe>;
    /// The verdict from the probes' outputs.
    fn evaluate(&self, ctx: &CheckCtx<'_>) -> Finding;
}

/// A validation message and optional help, for the policy loader.
#[derive(Debug)]
pub struct Invalid(pub String, pub Option<String>);

type Builder = fn(&Value) -> Result<Box<dyn Check>, Invalid>;

/// Built-in check kinds. Every module of the registry is also a check kind (a control
/// passes when the module's plan is in sync).
pub fn builtin(kind: &str) -> Option<Builder> {
    Some(match kind {
        "file" => generic::file,
        "command" => generic::command,
        "sshd" => generic::sshd,
        "service" => generic::service,
        "sysctl" => generic::sysctl,
        "package" => generic::package,
        "user" => generic::user,
        "updates" => updates::updates,
        "apps" => apps::apps,
        "disk_encryption" => disk_encryption::disk_encryption,
        "firewall" => firewall::firewall,
        _ => return None,
    })
}

/// Names of the built-in kinds, for messages.
pub const BUILTIN_KINDS: &[&str] = &[
    "disk_encryption",
    "firewall",
    "updates",
    "apps",
    "sshd",
    "file",
    "command",
    "service",
    "sysctl",
    "package",
    "user",
];

/// Checks a control's check kind and arguments before any host is contacted. Templated
/// arguments are validated for shape only where they are literal.
pub fn validate(kind: &str, args: &Value) -> Result<(), Invalid> {
    if let Some(build) = builtin(kind) {
        if has_markup(args) {
            return Ok(());
        }
        return build(args).map(|_| ());
    }
    if let Some(def) = crate::modules::find(kind) {
        if let Value::Object(m) = args {
            for k in m.keys() {
                if !def.args.contains(&k.as_str()) {
                    return Err(Invalid(
                        format!("unknown argument `{k}` for module `{kind}` used as a check"),
                        Some(format!(
                            "{kind} takes: {}",
                            def.args
                                .iter()
                                .filter(|a| !a.starts_with('_'))
                                .copied()
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    ));
                }
            }
        }
        return Ok(());
    }
    Err(Invalid(
        format!("unknown check kind `{kind}`"),
        Some(format!(
            "built-in checks: {}; any module (copy, lineinfile, ...) also works as a check",
            BUILTIN_KINDS.join(", ")
        )),
    ))
}

pub fn has_markup(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{") || s.contains("{%"),
        Value::Array(a) => a.iter().any(has_markup),
        Value::Object(m) => m.values().any(has_markup),
        _ => false,
    }
}

/// Builds one script that runs every probe, each in its own subshell, filing stdout, stderr
/// and exit status under the probe's key. Nothing user-controlled enters the script except
/// through the checks' own quoting.
pub fn batch_script(probes: &[Probe]) -> String {
    // Every section is closed by a newline of ours before the next marker, so output without
    // a trailing newline stays intact; the parser removes exactly that newline.
    let mut s =
        String::from("T=$(mktemp -d 2>/dev/null || echo /tmp/.muster-probe-$$); mkdir -p \"$T\"\n");
    for (i, p) in probes.iter().enumerate() {
        s.push_str(&format!(
            "echo '@@muster-probe:{i}@@'\n( {}\n) 2>\"$T/{i}.err\" </dev/null\nprintf '\\n@@muster-rc:{i}:%s@@\\n' \"$?\"\n",
            p.script
        ));
    }
    for i in 0..probes.len() {
        s.push_str(&format!(
            "echo '@@muster-err:{i}@@'; cat \"$T/{i}.err\" 2>/dev/null; echo\n"
        ));
    }
    s.push_str("echo '@@muster-end@@'\nrm -rf \"$T\"\n");
    s
}

/// Whether the host is Windows (probes are PowerShell there).
pub fn is_windows(facts: &Map<String, Value>) -> bool {
    facts.get("system").and_then(Value::as_str) == Some("Win32NT")
}

/// The command line that runs a PowerShell script on a Windows host over OpenSSH, whatever its
/// default shell: `powershell -NoProfile -NonInteractive -EncodedCommand <base64 UTF-16LE>`.
pub fn powershell_command(script: &str) -> String {
    use base64::Engine;
    let utf16: Vec<u8> = script
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    format!(
        "powershell -NoProfile -NonInteractive -EncodedCommand {}",
        base64::engine::general_purpose::STANDARD.encode(utf16)
    )
}

/// The PowerShell twin of `batch_script`: the same markers, so `parse_batch` reads both.
/// Each probe runs in its own script block; error records go to the probe's stderr, and the
/// status is the native exit code, or 1 when the block raised errors.
pub fn batch_script_ps(probes: &[Probe]) -> String {
    let mut s = String::from(
        "$ProgressPreference = 'SilentlyContinue'\n[Console]::OutputEncoding = [Text.Encoding]::UTF8\n$__errs = @{}\n",
    );
    for (i, p) in probes.iter().enumerate() {
        s.push_str(&format!(
            "Write-Output '@@muster-probe:{i}@@'\n$global:LASTEXITCODE = 0; $__e = @()\ntry {{\n$__o = & {{\n{}\n}} 2>&1 | ForEach-Object {{ if ($_ -is [System.Management.Automation.ErrorRecord]) {{ $__e += $_.ToString() }} else {{ $_ }} }}\n}} catch {{ $__e += $_.ToString() }}\nif ($__o) {{ $__o | Out-String -Width 4096 | Write-Output }}\n$__rc = if ($LASTEXITCODE) {{ $LASTEXITCODE }} elseif ($__e.Count -gt 0) {{ 1 }} else {{ 0 }}\n$__errs[{i}] = ($__e -join \"`n\")\nWrite-Output ''\nWrite-Output \"@@muster-rc:{i}:$__rc@@\"\n",
            p.script
        ));
    }
    for i in 0..probes.len() {
        s.push_str(&format!("Write-Output '@@muster-err:{i}@@'; if ($__errs[{i}]) {{ Write-Output $__errs[{i}] }}; Write-Output ''\n"));
    }
    s.push_str("Write-Output '@@muster-end@@'\n");
    s
}

/// Splits the batch script's output back into each probe's stdout, stderr and status.
pub fn parse_batch(probes: &[Probe], text: &str) -> HashMap<String, ProbeOut> {
    let mut outs: Vec<ProbeOut> = vec![
        ProbeOut {
            rc: -1,
            ..Default::default()
        };
        probes.len()
    ];
    #[derive(Clone, Copy)]
    enum Cur {
        None,
        Out(usize),
        Err(usize),
    }
    // Removes the newline the script put before the next marker (and a CR on Windows).
    fn close(outs: &mut [ProbeOut], cur: Cur) {
        let buf = match cur {
            Cur::Out(i) => outs.get_mut(i).map(|o| &mut o.stdout),
            Cur::Err(i) => outs.get_mut(i).map(|o| &mut o.stderr),
            Cur::None => None,
        };
        if let Some(b) = buf {
            if b.ends_with('\n') {
                b.pop();
                if b.ends_with('\r') {
                    b.pop();
                }
            }
        }
    }
    let mut cur = Cur::None;
    for line in text.split_inclusive('\n') {
        let t = line.trim_end_matches(['\n', '\r']);
        if t.starts_with("@@muster-") && t.ends_with("@@") {
            let body = &t[9..t.len() - 2];
            close(&mut outs, cur);
            cur = Cur::None;
            if let Some(rest) = body.strip_prefix("probe:") {
                cur = rest.parse().map(Cur::Out).unwrap_or(Cur::None);
            } else if let Some(rest) = body.strip_prefix("rc:") {
                if let Some((i, rc)) = rest.split_once(':') {
                    if let (Ok(i), Ok(rc)) = (i.parse::<usize>(), rc.parse::<i64>()) {
                        if let Some(o) = outs.get_mut(i) {
                            o.rc = rc;
                        }
                    }
                }
            } else if let Some(rest) = body.strip_prefix("err:") {
                cur = rest.parse().map(Cur::Err).unwrap_or(Cur::None);
            }
            continue;
        }
        match cur {
            Cur::Out(i) => {
                if let Some(o) = outs.get_mut(i) {
                    o.stdout.push_str(line);
                }
            }
            Cur::Err(i) => {
                if let Some(o) = outs.get_mut(i) {
                    o.stderr.push_str(line);
                }
            }
            Cur::None => {}
        }
    }
    close(&mut outs, cur);
    probes.iter().map(|p| p.key.clone()).zip(outs).collect()
}

/// Graded levels: `{warn: N, fail: M}` or a single number (fail at or past it). When warn is
/// above fail the scale runs downwards (e.g. free space: warn at 10%, fail at 5%).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grade {
    pub warn: Option<f64>,
    pub fail: Option<f64>,
}

impl Grade {
    pub fn parse(v: &Value) -> Result<Grade, Invalid> {
        let num = |x: &Value| -> Option<f64> {
            match x {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().trim_end_matches('%').parse().ok(),
                _ => None,
            }
        };
        match v {
            Value::Object(m) => {
                for k in m.keys() {
                    if k != "warn" && k != "fail" {
                        return Err(Invalid(
                            format!("unknown level `{k}`"),
                            Some("graded levels are `{warn: N, fail: M}`".into()),
                        ));
                    }
                }
                let warn = m
                    .get("warn")
                    .map(|x| {
                        num(x).ok_or_else(|| {
                            Invalid(format!("`warn` must be a number, not {x}"), None)
                        })
                    })
                    .transpose()?;
                let fail = m
                    .get("fail")
                    .map(|x| {
                        num(x).ok_or_else(|| {
                            Invalid(format!("`fail` must be a number, not {x}"), None)
                        })
                    })
                    .transpose()?;
                Ok(Grade { warn, fail })
            }
            other => num(other)
                .map(|f| Grade {
                    warn: None,
                    fail: Some(f),
                })
                .ok_or_else(|| {
                    Invalid(
                        format!("expected a number or `{{warn: N, fail: M}}`, not {other}"),
                        None,
                    )
                }),
        }
    }

    /// The status a measured value earns.
    pub fn grade(&self, value: f64) -> Status {
        let downward = matches!((self.warn, self.fail), (Some(w), Some(f)) if w > f);
        let past = |limit: f64| {
            if downward {
                value <= limit
            } else {
                value >= limit
            }
        };
        if self.fail.is_some_and(past) {
            Status::Fail
        } else if self.warn.is_some_and(past) {
            Status::Warn
        } else {
            Status::Pass
        }
    }

    pub fn expected(&self) -> Value {
        json!({"warn": self.warn, "fail": self.fail})
    }
}

/// The worse of two statuses (error > fail > warn > pass).
pub fn worst(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Error => 4,
        Status::Fail => 3,
        Status::Warn => 2,
        Status::Pass => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trip_through_sh() {
        let probes = vec![
            Probe::new("a", "echo one; echo two >&2; exit 3"),
            Probe::new("b", "printf 'no newline'"),
            Probe::new("c", "command-that-does-not-exist-xyz"),
        ];
        let script = batch_script(&probes);
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let parsed = parse_batch(&probes, &String::from_utf8_lossy(&out.stdout));
        assert_eq!(
            parsed["a"],
            ProbeOut {
                rc: 3,
                stdout: "one\n".into(),
                stderr: "two\n".into()
            }
        );
        assert_eq!(parsed["b"].stdout, "no newline");
        assert_eq!(parsed["c"].rc, 127);
        assert!(parsed["c"].stderr.contains("not found"));
    }

    #[test]
    fn grades_both_directions() {
        let up = Grade::parse(&json!({"warn": 1, "fail": 5})).unwrap();
        assert_eq!(up.grade(0.0), Status::Pass);
        assert_eq!(up.grade(1.0), Status::Warn);
        assert_eq!(up.grade(7.0), Status::Fail);
        let down = Grade::parse(&json!({"warn": "10%", "fail": "5%"})).unwrap();
        assert_eq!(down.grade(50.0), Status::Pass);
        assert_eq!(down.grade(9.0), Status::Warn);
        assert_eq!(down.grade(5.0), Status::Fail);
        assert!(Grade::parse(&json!({"wran": 1})).is_err());
    }
}
