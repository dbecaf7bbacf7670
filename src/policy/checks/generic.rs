//! Generic checks: `file`, `command`, `sshd` (effective `sshd -T`), `service`, `sysctl`,
//! `package` and `user`. Each parses its arguments at load time (errors name the argument),
//! emits read-only probes built with `quote`, and judges the output on the controller.

use regex::Regex;
use serde_json::{json, Map, Value};

use super::{Check, CheckCtx, Finding, Invalid, Probe, ProbeOut, Status};
use crate::transport::quote::quote;

fn obj<'a>(kind: &str, v: &'a Value) -> Result<&'a Map<String, Value>, Invalid> {
    v.as_object().ok_or_else(|| {
        Invalid(
            format!("`{kind}` takes a mapping of options, not {v}"),
            None,
        )
    })
}

fn only(kind: &str, m: &Map<String, Value>, allowed: &[&str]) -> Result<(), Invalid> {
    for k in m.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(Invalid(
                format!("unknown option `{k}` for the `{kind}` check"),
                Some(format!("{kind} takes: {}", allowed.join(", "))),
            ));
        }
    }
    Ok(())
}

fn req_str(kind: &str, m: &Map<String, Value>, key: &str) -> Result<String, Invalid> {
    match m.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(Invalid(
            format!("`{key}` of the `{kind}` check must be text, not {other}"),
            None,
        )),
        None => Err(Invalid(format!("the `{kind}` check needs `{key}`"), None)),
    }
}

fn opt_str(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn opt_bool(kind: &str, m: &Map<String, Value>, key: &str) -> Result<Option<bool>, Invalid> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => crate::modules::args::parse_bool(v)
            .map(Some)
            .ok_or_else(|| {
                Invalid(
                    format!("`{key}` of the `{kind}` check must be true or false, not {v}"),
                    None,
                )
            }),
    }
}

fn regexes(kind: &str, m: &Map<String, Value>, key: &str) -> Result<Vec<Regex>, Invalid> {
    let list: Vec<String> = match m.get(key) {
        None | Some(Value::Null) => vec![],
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect(),
        Some(other) => {
            return Err(Invalid(
                format!("`{key}` of `{kind}` must be a regex or a list of them, not {other}"),
                None,
            ))
        }
    };
    list.iter()
        .map(|r| {
            Regex::new(&format!("(?m){r}"))
                .map_err(|e| Invalid(format!("`{key}` of `{kind}`: bad regex `{r}`: {e}"), None))
        })
        .collect()
}

/// A probe whose command was missing or failed to run is an error, never a pass.
fn missing(out: &ProbeOut, what: &str) -> Option<Finding> {
    if out.rc == 127
        || out.stderr.contains("command not found")
        || out.stderr.contains(": not found")
    {
        return Some(Finding::error(format!(
            "cannot check: {what} is not available on this host ({})",
            out.stderr.trim()
        )));
    }
    None
}

// ---------------------------------------------------------------- file

struct FileCheck {
    path: String,
    exists: bool,
    mode: Option<u32>,
    max_mode: Option<u32>,
    owner: Option<String>,
    group: Option<String>,
    contains: Vec<Regex>,
    not_contains: Vec<Regex>,
    sha256: Option<String>,
}

fn octal(kind: &str, m: &Map<String, Value>, key: &str) -> Result<Option<u32>, Invalid> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match crate::modules::args::parse_mode(v) {
            Ok(crate::modules::args::Mode::Octal(o)) => Ok(Some(o)),
            _ => Err(Invalid(
                format!("`{key}` of `{kind}` must be an octal mode like \"0640\", not {v}"),
                None,
            )),
        },
    }
}

pub fn file(v: &Value) -> Result<Box<dyn Check>, Invalid> {
    let m = obj("file", v)?;
    only(
        "file",
        m,
        &[
            "path",
            "exists",
            "mode",
            "max_mode",
            "owner",
            "group",
            "contains",
            "not_contains",
            "sha256",
        ],
    )?;
    Ok(Box::new(FileCheck {
        path: req_str("file", m, "path")?,
        exists: opt_bool("file", m, "exists")?.unwrap_or(true),
        mode: octal("file", m, "mode")?,
        max_mode: octal("file", m, "max_mode")?,
        owner: opt_str(m, "owner"),
        group: opt_str(m, "group"),
        contains: regexes("file", m, "contains")?,
        not_contains: regexes("file", m, "not_contains")?,
        sha256: opt_str(m, "sha256").map(|s| s.to_ascii_lowercase()),
    }))
}

impl Check for FileCheck {
    fn probes(&self, _facts: &Map<String, Value>) -> Vec<Probe> {
        let p = quote(&self.path);
        let mut script = format!(
            "if [ ! -e {p} ] && [ ! -L {p} ]; then echo absent; exit 0; fi; \
             stat -c '%a %U %G %F' {p} 2>/dev/null || stat -f '%Lp %Su %Sg %HT' {p}"
        );
        if self.sha256.is_some() {
            script.push_str(&format!(
                "; echo; (sha256sum {p} 2>/dev/null || shasum -a 256 {p}) | cut -d' ' -f1"
            ));
        }
        let mut probes = vec![Probe::new("stat", script)];
        if !self.contains.is_empty() || !self.not_contains.is_empty() {
            probes.push(Probe::new("content", format!("head -c 1048576 {p}")));
        }
        probes
    }

    fn evaluate(&self, ctx: &CheckCtx<'_>) -> Finding {
        let st = match ctx.probe("stat") {
            Ok(o) => o,
            Err(f) => return f,
        };
        let text = st.stdout.trim();
        if text == "absent" {
            return if self.exists {
                Finding::new(
                    Status::Fail,
                    json!({"exists": false}),
                    json!({"exists": true}),
                    format!("{} does not exist", self.path),
                )
            } else {
                Finding::new(
                    Status::Pass,
                    json!({"exists": false}),
                    json!({"exists": false}),
                    format!("{} does not exist", self.path),
                )
            };
        }
        if st.rc != 0 {
            return Finding::error(format!("cannot stat {}: {}", self.path, st.stderr.trim()));
        }
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("");
        let mut parts = first.splitn(4, ' ');
        let mode = u32::from_str_radix(parts.next().unwrap_or(""), 8).unwrap_or(0);
        let owner = parts.next().unwrap_or("").to_string();
        let group = parts.next().unwrap_or("").to_string();
        let sha = lines
            .map(str::trim)
            .find(|l| l.len() == 64)
            .map(str::to_string);
        let observed = json!({"exists": true, "mode": format!("{mode:04o}"), "owner": owner, "group": group, "sha256": sha});
        let mut expected = Map::new();
        let mut problems = Vec::new();
        if !self.exists {
            expected.insert("exists".into(), json!(false));
            problems.push(format!("{} exists", self.path));
        }
        if let Some(want) = self.mode {
            expected.insert("mode".into(), json!(format!("{want:04o}")));
            if mode != want {
                problems.push(format!("mode is {mode:04o}, expected {want:04o}"));
            }
        }
        if let Some(max) = self.max_mode {
            expected.insert("max_mode".into(), json!(format!("{max:04o}")));
            if mode & !max != 0 {
                problems.push(format!("mode {mode:04o} is wider than {max:04o}"));
            }
        }
        if let Some(o) = &self.owner {
            expected.insert("owner".into(), json!(o));
            if *o != owner {
                problems.push(format!("owner is {owner}, expected {o}"));
            }
        }
        if let Some(g) = &self.group {
            expected.insert("group".into(), json!(g));
            if *g != group {
                problems.push(format!("group is {group}, expected {g}"));
            }
        }
        if let Some(s) = &self.sha256 {
            expected.insert("sha256".into(), json!(s));
            if sha.as_deref() != Some(s.as_str()) {
                problems.push("content differs (sha256)".to_string());
            }
        }
        if !self.contains.is_empty() || !self.not_contains.is_empty() {
            let content = match ctx.probe("content") {
                Ok(o) if o.rc == 0 => o.stdout.clone(),
                Ok(o) => {
                    return Finding::error(format!(
                        "cannot read {}: {}",
                        self.path,
                        o.stderr.trim()
                    ))
                }
                Err(f) => return f,
            };
            for r in &self.contains {
                if !r.is_match(&content) {
                    problems.push(format!(
                        "no line matches /{}/",
                        r.as_str().trim_start_matches("(?m)")
                    ));
                }
            }
            for r in &self.not_contains {
                if let Some(mt) = r.find(&content) {
                    let line = content[..mt.start()].lines().count() + 1;
                    problems.push(format!(
                        "line {line} matches /{}/",
                        r.as_str().trim_start_matches("(?m)")
                    ));
                }
            }
        }
        let expected = Value::Object(expected);
        if problems.is_empty() {
            Finding::new(
                Status::Pass,
                observed,
                expected,
                format!("{} is as expected", self.path),
            )
        } else {
            Finding::new(
                Status::Fail,
                observed,
                expected,
                format!("{}: {}", self.path, problems.join("; ")),
            )
        }
    }
}

// ---------------------------------------------------------------- command

struct CommandCheck {
    cmd: String,
    rc: i64,
    stdout: Vec<Regex>,
    stdout_not: Vec<Regex>,
    stderr: Vec<Regex>,
}

pub fn command(v: &Value) -> Result<Box<dyn Check>, Invalid> {
    let m = match v {
        Value::String(s) => {
            let mut m = Map::new();
            m.insert("cmd".into(), json!(s));
            m
        }
        other => obj("command", other)?.clone(),
    };
    only(
        "command",
        &m,
        &["cmd", "rc", "stdout", "stdout_not", "stderr"],
    )?;
    let rc = match m.get("rc") {
        None => 0,
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(other) => {
            return Err(Invalid(
                format!("`rc` of `command` must be a number, not {other}"),
                None,
            ))
        }
    };
    Ok(Box::new(CommandCheck {
        cmd: req_str("command", &m, "cmd")?,
        rc,
        stdout: regexes("command", &m, "stdout")?,
        stdout_not: regexes("command", &m, "stdout_not")?,
        stderr: regexes("command", &m, "stderr")?,
    }))
}

impl Check for CommandCheck {
    fn probes(&self, _facts: &Map<String, Value>) -> Vec<Probe> {
        // The policy's own shell text: trusted like a playbook's `shell:`.
        vec![Probe::new("cmd", self.cmd.clone())]
    }

    fn evaluate(&self, ctx: &CheckCtx<'_>) -> Finding {
        let o = match ctx.probe("cmd") {
            Ok(o) => o,
            Err(f) => return f,
        };
        if let Some(f) = missing(o, "the command") {
            return f;
        }
        let observed =
            json!({"rc": o.rc, "stdout": o.stdout.trim_end(), "stderr": o.stderr.trim_end()});
        let expected = json!({"rc": self.rc, "stdout": self.stdout.iter().map(|r| r.as_str().trim_start_matches("(?m)")).collect::<Vec<_>>()});
        let mut problems = Vec::new();
        if o.rc != self.rc {
            problems.push(format!("exited {}, expected {}", o.rc, self.rc));
        }
        for r in &self.stdout {
            if !r.is_match(&o.stdout) {
                problems.push(format!(
                    "output does not match /{}/",
                    r.as_str().trim_start_matches("(?m)")
                ));
            }
        }
        for r in &self.stdout_not {
            if r.is_match(&o.stdout) {
                problems.push(format!(
                    "output matches /{}/",
                    r.as_str().trim_start_matches("(?m)")
                ));
            }
        }
        for r in &self.stderr {
            if !r.is_match(&o.stderr) {
                problems.push(format!(
                    "stderr does not match /{}/",
                    r.as_str().trim_start_matches("(?m)")
                ));
            }
        }
        if problems.is_empty() {
            Finding::new(
                Status::Pass,
                observed,
                expected,
                "the command gave the expected result",
            )
        } else {
            Finding::new(Status::Fail, observed, expected, problems.join("; "))
        }
    }
}

// ---------------------------------------------------------------- sshd

/// Expected values of an sshd keyword: any of a list, or a numeric bound.
#[derive(Debug, Clone)]
enum Want {
    OneOf(Vec<String>),
    Max(f64),
    Min(f64),
}

struct SshdCheck {
    want: Vec<(String, Want)>,
}

/// `sshd -T` prints `without-password` for what configs now call `prohibit-password`.
fn sshd_norm(v: &str) -> String {
    let v = v.trim().to_ascii_lowercase();
    if v == "without-password" {
        "prohibit-password".into()
    } else {
        v
    }
}

pub fn sshd(v: &Value) -> Result<Box<dyn Check>, Invalid> {
    let m = obj("sshd", v)?;
    let mut want = Vec::new();
    for (k, val) in m {
        let key = k.to_ascii_lowercase();
        let w = match val {
            Value::Array(a) => Want::OneOf(
                a.iter()
                    .map(|x| {
                        sshd_norm(
                            &crate::modules::args::parse_bool(x)
                                .map(|b| if b { "yes".into() } else { "no".into() })
                                .unwrap_or_else(|| {
                                    x.as_str()
                                        .map(str::to_string)
                                        .unwrap_or_else(|| x.to_string())
                                }),
                        )
                    })
                    .collect(),
            ),
            Value::Bool(b) => Want::OneOf(vec![if *b { "yes".into() } else { "no".into() }]),
            Value::Object(o) if o.contains_key("max") || o.contains_key("min") => {
                let n = |k: &str| o.get(k).and_then(Value::as_f64);
                match (n("max"), n("min")) {
                    (Some(x), _) => Want::Max(x),
                    (_, Some(x)) => Want::Min(x),
                    _ => {
                        return Err(Invalid(
                            format!("sshd `{key}`: max/min must be numbers"),
                            None,
                        ))
                    }
                }
            }
            Value::String(s) => Want::OneOf(vec![sshd_norm(s)]),
            Value::Number(n) => Want::OneOf(vec![n.to_string()]),
            other => {
                return Err(Invalid(
                    format!(
                    "sshd `{key}`: expected a value, a list of values or {{max: N}}, not {other}"
                ),
                    None,
                ))
            }
        };
        want.push((key, w));
    }
    if want.is_empty() {
        return Err(Invalid("the `sshd` check needs at least one keyword, e.g. `permitrootlogin: [no, prohibit-password]`".into(), None));
    }
    Ok(Box::new(SshdCheck { want }))
}

/// Parses `sshd -T` output: lower-case keyword, space, value.
pub fn parse_sshd_t(text: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for line in text.lines() {
        if let Some((k, v)) = line.trim().split_once(' ') {
            m.entry(k.to_ascii_lowercase()).or_insert(json!(v.trim()));
        }
    }
    m
}

impl Check for SshdCheck {
    fn probes(&self, _facts: &Map<String, Value>) -> Vec<Probe> {
        vec![Probe::new(
            "sshd",
            "S=$(command -v sshd || echo /usr/sbin/sshd); \"$S\" -T",
        )]
    }

    fn evaluate(&self, ctx: &CheckCtx<'_>) -> Finding {
        let o = match ctx.probe("sshd") {
            Ok(o) => o,
            Err(f) => return f,
        };
        if let Some(f) = missing(o, "sshd") {
            return f;
        }
        if o.rc != 0 {
            return Finding::error(format!(
                "`sshd -T` failed (exit {}): {}",
                o.rc,
                o.stderr.trim()
            ));
        }
        let cfg = parse_sshd_t(&o.stdout);
        let mut observed = Map::new();
        let mut expected = Map::new();
        let mut problems = Vec::new();
        for (k, w) in &self.want {
            let got = cfg.get(k).and_then(Value::as_str).map(sshd_norm);
            observed.insert(
                k.clone(),
                got.clone().map(Value::String).unwrap_or(Value::Null),
            );
            let ok = match (w, &got) {
                (_, None) => false,
                (Want::OneOf(list), Some(g)) => {
                    expected.insert(k.clone(), json!(list));
                    list.contains(g)
                }
                (Want::Max(x), Some(g)) => {
                    expected.insert(k.clone(), json!({"max": x}));
                    g.parse::<f64>().is_ok_and(|n| n <= *x)
                }
                (Want::Min(x), Some(g)) => {
                    expected.insert(k.clone(), json!({"min": x}));
                    g.parse::<f64>().is_ok_and(|n| n >= *x)
                }
            };
            if !ok {
                problems.push(format!("{k} is {}", got.as_deref().unwrap_or("unset")));
            }
        }
        if problems.is_empty() {
            Finding::new(
                Status::Pass,
                Value::Object(observed),
                Value::Object(expected),
                "the effective sshd configuration is as expected",
            )
        } else {
            Finding::new(
                Status::Fail,
                Value::Object(observed),
                Value::Object(expected),
                format!("sshd: {}", problems.join(", ")),
            )
        }
    }
}

// ---------------------------------------------------------------- service

struct ServiceCheck {
    name: String,
    running: Option<bool>,
    enabled: Option<bool>,
}

pub fn service(v: &Value) -> Result<Box<dyn Check>, Invalid> {
    let m = obj("service", v)?;
    only("service", m, &["name", "running", "enabled"])?;
    Ok(Box::new(ServiceCheck {
        name: req_str("service", m, "name")?,
        running: opt_bool("service", m, "running")?,
        enabled: opt_bool("service", m, "enabled")?,
    }))
}

impl Check for ServiceCheck {
    fn probes(&self, _facts: &Map<String, Value>) -> Vec<Probe> {
        let n = quote(&self.name);
        vec![Probe::new(
            "svc",
            format!(
                "if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then \
                   echo mgr=systemd; echo active=$(systemctl is-active {n} 2>/dev/null); echo enabled=$(systemctl is-enabled {n} 2>/dev/null); \
                 elif command -v rc-service >/dev/null 2>&1; then \
                   echo mgr=openrc; if rc-service {n} status >/dev/null 2>&1; then echo active=active; else echo active=inactive; fi; \
                   if rc-update show default 2>/dev/null | grep -qw {n}; then echo enabled=enabled; else echo enabled=disabled; fi; \
                 elif [ -x /etc/init.d/{n} ] || command -v service >/dev/null 2>&1; then \
                   echo mgr=sysv; if service {n} status >/dev/null 2>&1; then echo active=active; else echo active=inactive; fi; \
                   if ls /etc/rc[2345].d/S*{n} >/dev/null 2>&1; then echo enabled=enabled; else echo enabled=disabled; fi; \
                 else echo mgr=none; fi"
            ),
        )]
    }

    fn evaluate(&self, ctx: &CheckCtx<'_>) -> Finding {
        let o = match ctx.probe("svc") {
            Ok(o) => o,
            Err(f) => return f,
        };
        let kv: Map<String, Value> = o
            .stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), json!(v.trim())))
            .collect();
        if kv.get("mgr").and_then(Value::as_str) == Some("none") {
            return Finding::error(
                "cannot check services: no systemd, OpenRC or SysV tools on this host",
            );
        }
        let active = kv.get("active").and_then(Value::as_str) == Some("active");
        let enabled = matches!(
            kv.get("enabled").and_then(Value::as_str),
            Some("enabled" | "enabled-runtime" | "static" | "alias")
        );
        let observed = json!({"running": active, "enabled": enabled, "manager": kv.get("mgr")});
        let expected = json!({"running": self.running, "enabled": self.enabled});
        let mut problems = Vec::new();
        if let Some(r) = self.running {
            if r != active {
                problems.push(if r { "is not running" } else { "is running" });
            }
        }
        if let Some(e) = self.enabled {
            if e != enabled {
                problems.push(if e {
                    "is not enabled at boot"
                } else {
                    "is enabled at boot"
                });
            }
        }
        if problems.is_empty() {
            Finding::new(
                Status::Pass,
                observed,
                expected,
                format!("service {} is as expected", self.name),
            )
        } else {
            Finding::new(
                Status::Fail,
                observed,
                expected,
                format!("service {} {}", self.name, problems.join(" and ")),
            )
        }
    }
}

// ---------------------------------------------------------------- sysctl

struct SysctlCheck {
    want: Vec<(String, String)>,
}

pub fn sysctl(v: &Value) -> Result<Box<dyn Check>, Invalid> {
    let m = obj("sysctl", v)?;
    let mut want = Vec::new();
    if let (Some(n), Some(val)) = (m.get("name"), m.get("value")) {
        only("sysctl", m, &["name", "value"])?;
        want.push((
            n.as_str().unwrap_or_default().to_string(),
            val.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| val.to_string()),
        ));
    } else {
        for (k, val) in m {
            if !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
            {
                return Err(Invalid(format!("`{k}` is not a sysctl name"), None));
            }
            want.push((
                k.clone(),
                val.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| val.to_string()),
            ));
        }
    }
    if want.is_empty() {
        return Err(Invalid(
            "the `sysctl` check needs `name` and `value`, or `key: value` pairs".into(),
            None,
        ));
    }
    Ok(Box::new(SysctlCheck { want }))
}

impl Check for SysctlCheck {
    fn probes(&self, _facts: &Map<String, Value>) -> Vec<Probe> {
        let mut s = String::new();
        for (k, _) in &self.want {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            s.push_str(&format!("printf '%s=' {}; cat {} 2>/dev/null || sysctl -n {} 2>/dev/null || echo '<unset>'; ", quote(k), quote(&path), quote(k)));
        }
        vec![Probe::new("sysctl", s)]
    }

    fn evaluate(&self, ctx: &CheckCtx<'_>) -> Finding {
        let o = match ctx.probe("sysctl") {
            Ok(o) => o,
            Err(f) => return f,
        };
        let got: Map<String, Value> = o
            .stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                (
                    k.to_string(),
                    json!(v.split_whitespace().collect::<Vec<_>>().join(" ")),
                )
            })
            .collect();
        let mut problems = Vec::new();
        let mut expected = Map::new();
        for (k, want) in &self.want {
            let w = want.split_whitespace().collect::<Vec<_>>().join(" ");
            expected.insert(k.clone(), json!(w));
            match got.get(k).and_then(Value::as_str) {
                Some("<unset>") | None => problems.push(format!("{k} is not available")),
                Some(g) if g != w => problems.push(format!("{k} = {g}, expected {w}")),
                _ => {}
            }
        }
        if problems.is_empty() {
            Finding::new(
                Status::Pass,
                Value::Object(got),
                Value::Object(expected),
                "kernel parameters are as expected",
            )
        } else {
            Finding::new(
                Status::Fail,
                Value::Object(got),
                Value::Object(expected),
                problems.join("; "),
            )
        }
    }
}

// ---------------------------------------------------------------- package

struct PackageCheck {
    name: String,
    present: bool,
    min_version: Option<String>,
}

pub fn package(v: &Value) -> Result<Box<dyn Check>, Invalid> {
    let m = obj("package", v)?;
    only("package", m, &["name", "state", "min_version"])?;
    let present = match opt_str(m, "state").as_deref() {
        None | Some("present") | Some("installed") => true,
        Some("absent") | Some("removed") => false,
        Some(other) => {
            return Err(Invalid(
                format!("package `state` must be present or absent, not `{other}`"),
                None,
            ))
        }
    };
    Ok(Box::new(PackageCheck {
        name: req_str("package", m, "name")?,
        present,
        min_version: opt_str(m, "min_version"),
    }))
}

impl Check for PackageCheck {
    fn probes(&self, _facts: &Map<String, Value>) -> Vec<Probe> {
        let n = quote(&self.name);
        vec![Probe::new(
            "pkg",
            format!(
                "if command -v dpkg-query >/dev/null 2>&1; then echo mgr=dpkg; dpkg-query -W -f='${{db:Status-Abbrev}} ${{Version}}\\n' {n} 2>/dev/null; \
                 elif command -v rpm >/dev/null 2>&1; then echo mgr=rpm; rpm -q --qf 'ii %{{EPOCHNUM}}:%{{VERSION}}-%{{RELEASE}}\\n' {n} 2>/dev/null; \
                 elif command -v apk >/dev/null 2>&1; then echo mgr=apk; apk info -e -v {n} 2>/dev/null | sed 's/^/ii /'; \
                 else echo mgr=none; fi"
            ),
        )]
    }

    fn evaluate(&self, ctx: &CheckCtx<'_>) -> Finding {
        let o = match ctx.probe("pkg") {
            Ok(o) => o,
            Err(f) => return f,
        };
        let mut lines = o.stdout.lines();
        let mgr = lines
            .next()
            .unwrap_or("")
            .trim_start_matches("mgr=")
            .to_string();
        if mgr == "none" {
            return Finding::error("cannot check packages: no dpkg, rpm or apk on this host");
        }
        let installed = lines
            .find(|l| l.starts_with("ii ") || l.starts_with("hi "))
            .map(|l| l[3..].trim().to_string());
        let version = installed.as_ref().map(|v| {
            if mgr == "apk" {
                v.strip_prefix(&format!("{}-", self.name))
                    .unwrap_or(v)
                    .to_string()
            } else {
                v.trim_start_matches("0:").to_string()
            }
        });
        let observed = json!({"installed": version.is_some(), "version": version});
        let expected = json!({"installed": self.present, "min_version": self.min_version});
        match (&version, self.present) {
            (None, true) => Finding::new(
                Status::Fail,
                observed,
                expected,
                format!("{} is not installed", self.name),
            ),
            (Some(v), false) => Finding::new(
                Status::Fail,
                observed,
                expected,
                format!("{} {v} is installed", self.name),
            ),
            (None, false) => Finding::new(
                Status::Pass,
                observed,
                expected,
                format!("{} is not installed", self.name),
            ),
            (Some(v), true) => match &self.min_version {
                Some(min)
                    if crate::template::version::cmp_for(&mgr, v, min)
                        == std::cmp::Ordering::Less =>
                {
                    Finding::new(
                        Status::Fail,
                        observed,
                        expected,
                        format!("{} {v} is older than {min}", self.name),
                    )
                }
                _ => Finding::new(
                    Status::Pass,
                    observed,
                    expected,
                    format!("{} {v} is installed", self.name),
                ),
            },
        }
    }
}

// ---------------------------------------------------------------- user

struct UserCheck {
    name: String,
    exists: bool,
    shell: Option<String>,
    locked: Option<bool>,
}

pub fn user(v: &Value) -> Result<Box<dyn Check>, Invalid> {
    let m = obj("user", v)?;
    only("user", m, &["name", "exists", "shell", "locked"])?;
    Ok(Box::new(UserCheck {
        name: req_str("user", m, "name")?,
        exists: opt_bool("user", m, "exists")?.unwrap_or(true),
        shell: opt_str(m, "shell"),
        locked: opt_bool("user", m, "locked")?,
    }))
}

impl Check for UserCheck {
    fn probes(&self, _facts: &Map<String, Value>) -> Vec<Probe> {
        let n = quote(&self.name);
        vec![Probe::new("user", format!("getent passwd {n} || grep \"^$(printf '%s' {n}):\" /etc/passwd; echo '--'; (getent shadow {n} || grep \"^$(printf '%s' {n}):\" /etc/shadow) 2>/dev/null | cut -d: -f2 | cut -c1"))]
    }

    fn evaluate(&self, ctx: &CheckCtx<'_>) -> Finding {
        let o = match ctx.probe("user") {
            Ok(o) => o,
            Err(f) => return f,
        };
        let (pw, sh) = o.stdout.split_once("--").unwrap_or((&o.stdout, ""));
        let entry = pw
            .lines()
            .find(|l| l.starts_with(&format!("{}:", self.name)));
        let Some(entry) = entry else {
            let observed = json!({"exists": false});
            return if self.exists {
                Finding::new(
                    Status::Fail,
                    observed,
                    json!({"exists": true}),
                    format!("user {} does not exist", self.name),
                )
            } else {
                Finding::new(
                    Status::Pass,
                    observed,
                    json!({"exists": false}),
                    format!("user {} does not exist", self.name),
                )
            };
        };
        let shell = entry.rsplit(':').next().unwrap_or("").to_string();
        let first = sh.trim();
        let locked = first == "!" || first == "*";
        let observed = json!({"exists": true, "shell": shell, "locked": locked});
        let expected = json!({"exists": self.exists, "shell": self.shell, "locked": self.locked});
        let mut problems = Vec::new();
        if !self.exists {
            problems.push("exists".to_string());
        }
        if let Some(s) = &self.shell {
            if *s != shell {
                problems.push(format!("has shell {shell}, expected {s}"));
            }
        }
        if let Some(l) = self.locked {
            if l != locked {
                problems.push(if l {
                    "is not locked".into()
                } else {
                    "is locked".into()
                });
            }
        }
        if problems.is_empty() {
            Finding::new(
                Status::Pass,
                observed,
                expected,
                format!("user {} is as expected", self.name),
            )
        } else {
            Finding::new(
                Status::Fail,
                observed,
                expected,
                format!("user {} {}", self.name, problems.join(", ")),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(check: &dyn Check, outs: &[(&str, i64, &str, &str)]) -> Finding {
        let out: HashMap<String, ProbeOut> = outs
            .iter()
            .map(|(k, rc, o, e)| {
                (
                    k.to_string(),
                    ProbeOut {
                        rc: *rc,
                        stdout: o.to_string(),
                        stderr: e.to_string(),
                    },
                )
            })
            .collect();
        let facts = Map::new();
        check.evaluate(&CheckCtx {
            facts: &facts,
            vars: &Value::Null,
            out: &out,
        })
    }

    /// Real `sshd -T` output of Debian 12's default configuration (excerpt).
    const SSHD_T_DEBIAN12: &str = "port 22\naddressfamily any\nlistenaddress [::]:22\nlistenaddress 0.0.0.0:22\nusepam yes\nlogingracetime 120\nx11displayoffset 10\nmaxauthtries 6\nmaxsessions 10\nclientaliveinterval 0\nclientalivecountmax 3\npermitrootlogin without-password\npasswordauthentication yes\nkbdinteractiveauthentication no\npermitemptypasswords no\nx11forwarding yes\n";

    #[test]
    fn sshd_effective_config() {
        let c = sshd(&json!({"permitrootlogin": ["no", "prohibit-password"], "maxauthtries": {"max": 4}, "x11forwarding": false})).unwrap();
        let f = run(c.as_ref(), &[("sshd", 0, SSHD_T_DEBIAN12, "")]);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message.contains("maxauthtries is 6") && f.message.contains("x11forwarding is yes"),
            "{}",
            f.message
        );
        assert!(
            !f.message.contains("permitrootlogin"),
            "without-password is prohibit-password: {}",
            f.message
        );
        let c = sshd(&json!({"permitrootlogin": ["no", "prohibit-password"]})).unwrap();
        assert_eq!(
            run(c.as_ref(), &[("sshd", 0, SSHD_T_DEBIAN12, "")]).status,
            Status::Pass
        );
        // sshd missing on the host: an error, never a pass.
        let f = run(
            c.as_ref(),
            &[("sshd", 127, "", "sh: 1: /usr/sbin/sshd: not found\n")],
        );
        assert_eq!(f.status, Status::Error);
    }

    #[test]
    fn file_modes_and_content() {
        let c = file(&json!({"path": "/etc/shadow", "max_mode": "0640", "owner": "root", "not_contains": "^[^:]+::"})).unwrap();
        let f = run(
            c.as_ref(),
            &[
                ("stat", 0, "640 root shadow regular file\n", ""),
                ("content", 0, "root:*:19000:0:99999:7:::\n", ""),
            ],
        );
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        let f = run(
            c.as_ref(),
            &[
                ("stat", 0, "644 root shadow regular file\n", ""),
                ("content", 0, "root:*:1::\nguest::19000::::::\n", ""),
            ],
        );
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message.contains("wider than 0640") && f.message.contains("line 2 matches"),
            "{}",
            f.message
        );
        let f = run(c.as_ref(), &[("stat", 0, "absent\n", "")]);
        assert_eq!(
            (f.status, f.message.as_str()),
            (Status::Fail, "/etc/shadow does not exist")
        );
        assert!(file(&json!({"path": "/x", "mode": "rwx"})).is_err());
        assert!(file(&json!({"path": "/x", "colour": 1})).is_err());
    }

    #[test]
    fn command_and_missing_tools() {
        let c =
            command(&json!({"cmd": "mokutil --sb-state", "stdout": "SecureBoot enabled"})).unwrap();
        assert_eq!(
            run(c.as_ref(), &[("cmd", 0, "SecureBoot enabled\n", "")]).status,
            Status::Pass
        );
        assert_eq!(
            run(c.as_ref(), &[("cmd", 0, "SecureBoot disabled\n", "")]).status,
            Status::Fail
        );
        assert_eq!(
            run(
                c.as_ref(),
                &[("cmd", 127, "", "sh: mokutil: command not found\n")]
            )
            .status,
            Status::Error
        );
    }
}
