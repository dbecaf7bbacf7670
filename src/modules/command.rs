//! `command`, `shell` and `raw`: run a command. Their plan is "this would run" unless
//! `creates`/`removes` say it already did; whether it runs in check mode is the engine's
//! decision (DESIGN: a task with `changed_when: false` or `check_mode: false` is read-only).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::de_bool;
use super::{Change, Field, Module, ModuleCtx, ModuleDef, Plan};
use crate::error::Result;
use crate::transport::quote::{quote, Cmd};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Command,
    Shell,
    Raw,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default)]
    _raw_params: Option<String>,
    #[serde(default)]
    cmd: Option<String>,
    #[serde(default)]
    argv: Option<Vec<String>>,
    #[serde(default)]
    chdir: Option<String>,
    #[serde(default)]
    creates: Option<String>,
    #[serde(default)]
    removes: Option<String>,
    #[serde(default)]
    stdin: Option<String>,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    stdin_add_newline: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    strip_empty_ends: bool,
    #[serde(default)]
    executable: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    warn: Option<Value>,
    #[serde(default, deserialize_with = "de_bool")]
    #[allow(dead_code)]
    expand_argument_vars: bool,
}

pub struct CommandModule {
    kind: Kind,
    args: Args,
    line: String,
}

const ARGS: &[&str] = &[
    "_raw_params",
    "cmd",
    "argv",
    "chdir",
    "creates",
    "removes",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
    "executable",
    "warn",
    "expand_argument_vars",
];

fn build(kind: Kind, args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let args: Args =
        serde_json::from_value(Value::Object(args.clone())).map_err(|e| e.to_string())?;
    let text = args.cmd.clone().or(args._raw_params.clone());
    let body = match (kind, &args.argv, text) {
        (Kind::Command, Some(argv), None) => Cmd::default()
            .args(argv)
            .into_string()
            .trim_start()
            .to_string(),
        (_, Some(_), Some(_)) => {
            return Err("give either the command text or `argv`, not both".into())
        }
        (_, None, None) | (_, Some(_), None) => return Err("no command given".into()),
        (Kind::Command, None, Some(t)) => {
            // command does not go through a shell: split like Ansible (shlex) and quote each word.
            let words = shlex::split(&t).ok_or_else(|| format!("unbalanced quotes in `{t}`"))?;
            Cmd::default()
                .args(&words)
                .into_string()
                .trim_start()
                .to_string()
        }
        (Kind::Shell, None, Some(t)) => {
            let sh = args.executable.clone().unwrap_or_else(|| "/bin/sh".into());
            format!("{} -c {}", quote(&sh), quote(&t))
        }
        (Kind::Raw, None, Some(t)) => t,
    };
    let line = match (&args.chdir, kind) {
        (Some(d), Kind::Command | Kind::Shell) => format!("cd {} && {body}", quote(d)),
        _ => body,
    };
    Ok(Box::new(CommandModule { kind, args, line }))
}

pub static COMMAND: ModuleDef = ModuleDef {
    name: "command",
    args: ARGS,
    free_form: true,
    build: |a| build(Kind::Command, a),
};
pub static SHELL: ModuleDef = ModuleDef {
    name: "shell",
    args: ARGS,
    free_form: true,
    build: |a| build(Kind::Shell, a),
};
pub static RAW: ModuleDef = ModuleDef {
    name: "raw",
    args: &["_raw_params", "executable"],
    free_form: true,
    build: |a| build(Kind::Raw, a),
};

impl CommandModule {
    fn in_dir(&self, p: &str) -> String {
        match (&self.args.chdir, p.starts_with('/')) {
            (Some(d), false) => format!("{}/{p}", d.trim_end_matches('/')),
            _ => p.to_string(),
        }
    }
}

fn strip_ends(s: String, strip: bool) -> String {
    if strip {
        s.trim_end_matches(['\n', '\r']).to_string()
    } else {
        s
    }
}

#[async_trait]
impl Module for CommandModule {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        if self.kind != Kind::Raw && (self.args.creates.is_some() || self.args.removes.is_some()) {
            // One read-only probe answers both.
            let c = self.args.creates.as_deref().map(|p| self.in_dir(p));
            let r = self.args.removes.as_deref().map(|p| self.in_dir(p));
            let script = format!(
                "{}; {}",
                c.as_ref()
                    .map(|p| format!("if [ -e {} ]; then echo c1; else echo c0; fi", quote(p)))
                    .unwrap_or("echo c0".into()),
                r.as_ref()
                    .map(|p| format!("if [ -e {} ]; then echo r1; else echo r0; fi", quote(p)))
                    .unwrap_or("echo r1".into()),
            );
            let out = ctx.transport.exec(&script, None).await?.stdout_str();
            let skip_msg = if out.contains("c1") {
                Some(format!("skipped, since {} exists", c.unwrap_or_default()))
            } else if out.contains("r0") {
                Some(format!(
                    "skipped, since {} does not exist",
                    r.unwrap_or_default()
                ))
            } else {
                None
            };
            if let Some(msg) = skip_msg {
                let mut p = Plan::in_sync();
                p.result = json!({"msg": msg, "rc": 0, "stdout": "", "stderr": "", "stdout_lines": [], "stderr_lines": [], "cmd": self.line})
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                return Ok(p);
            }
        }
        Ok(Plan {
            changes: vec![Change::new(Field::Command, None, Some(self.line.clone()))],
            runs_command: true,
            ..Plan::default()
        })
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, _plan: &Plan) -> Result<Map<String, Value>> {
        let stdin = self.args.stdin.as_ref().map(|s| {
            let mut b = s.clone().into_bytes();
            if self.args.stdin_add_newline {
                b.push(b'\n');
            }
            b
        });
        let start = chrono_like_now();
        let started = std::time::Instant::now();
        let out = ctx.transport.exec(&self.line, stdin.as_deref()).await?;
        let delta = started.elapsed();
        let stdout = strip_ends(out.stdout_str(), self.args.strip_empty_ends);
        let stderr = strip_ends(out.stderr_str(), self.args.strip_empty_ends);
        let rc = out.rc();
        let mut r = json!({
            "rc": rc,
            "stdout": stdout,
            "stderr": stderr,
            "stdout_lines": stdout.lines().collect::<Vec<_>>(),
            "stderr_lines": stderr.lines().collect::<Vec<_>>(),
            "cmd": self.line,
            "start": start,
            "delta": format!("0:00:{:09.6}", delta.as_secs_f64()),
            "failed": rc != 0,
        });
        if rc != 0 {
            r["msg"] = json!(match &out.signal {
                Some(sig) => format!("killed by signal {sig}"),
                None => "non-zero return code".to_string(),
            });
        }
        Ok(r.as_object().cloned().unwrap_or_default())
    }
}

/// Local time as Ansible prints `start` (seconds since the epoch is enough for us to compare).
fn chrono_like_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", now.as_secs(), now.subsec_micros())
}
