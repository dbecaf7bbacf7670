//! `cron`: a named job (or an environment variable with `env`) in a user's crontab or in a
//! /etc/cron.d file, in Ansible's format: a `#Ansible: NAME` marker line, then the job line.
//! The plan reads the crontab (`crontab -l`) or the file in one exec; apply installs the whole
//! new crontab through `crontab -` (stdin) or writes the file atomically (put). Other lines stay
//! byte for byte.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::de_bool;
use super::fileops::{build_args, de_opt_str, fail};
use super::sysutil::{self, file_now, other, state_obj, text_change, FileNow, Sections};
use super::user::check_name;
use super::{Change, Field, Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::{quote, Cmd};

fn present_state() -> String {
    "present".into()
}
fn star() -> String {
    "*".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronArgs {
    #[serde(default, deserialize_with = "de_opt_str")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub user: Option<String>,
    #[serde(default, alias = "value", deserialize_with = "de_opt_str")]
    pub job: Option<String>,
    #[serde(default = "present_state")]
    pub state: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub cron_file: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub backup: bool,
    #[serde(default = "star", deserialize_with = "de_star")]
    pub minute: String,
    #[serde(default = "star", deserialize_with = "de_star")]
    pub hour: String,
    #[serde(default = "star", alias = "dom", deserialize_with = "de_star")]
    pub day: String,
    #[serde(default = "star", deserialize_with = "de_star")]
    pub month: String,
    #[serde(default = "star", alias = "dow", deserialize_with = "de_star")]
    pub weekday: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub special_time: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub disabled: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub env: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub insertafter: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub insertbefore: Option<String>,
}

fn de_star<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(de_opt_str(d)?.unwrap_or_else(star))
}

pub const CRON_ARGS: &[&str] = &[
    "name",
    "user",
    "job",
    "value",
    "state",
    "cron_file",
    "backup",
    "minute",
    "hour",
    "day",
    "dom",
    "month",
    "weekday",
    "dow",
    "special_time",
    "disabled",
    "env",
    "insertafter",
    "insertbefore",
];

const SPECIAL: &[&str] = &[
    "reboot", "yearly", "annually", "monthly", "weekly", "daily", "hourly",
];

pub struct Cron {
    a: CronArgs,
    name: String,
    /// The full cron.d path when `cron_file` is given.
    file: Option<String>,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: CronArgs = build_args("cron", args)?;
    fn e<T>(m: String) -> std::result::Result<T, String> {
        Err(format!("cron: {m}"))
    }
    if a.state != "present" && a.state != "absent" {
        return e(format!(
            "argument `state` must be present or absent, got {}",
            a.state
        ));
    }
    let Some(name) = a.name.clone().filter(|n| !n.is_empty()) else {
        return e("argument `name` is required".into());
    };
    if let Some(u) = &a.user {
        check_name("user", u).or_else(e)?;
    }
    for (k, v) in [
        ("name", Some(&name)),
        ("job", a.job.as_ref()),
        ("minute", Some(&a.minute)),
        ("hour", Some(&a.hour)),
        ("day", Some(&a.day)),
        ("month", Some(&a.month)),
        ("weekday", Some(&a.weekday)),
    ] {
        if v.is_some_and(|s| s.contains('\n')) {
            return e(format!("argument `{k}` must be one line"));
        }
    }
    for (k, v) in [
        ("minute", &a.minute),
        ("hour", &a.hour),
        ("day", &a.day),
        ("month", &a.month),
        ("weekday", &a.weekday),
    ] {
        if v.is_empty() || v.contains(char::is_whitespace) {
            return e(format!("argument `{k}` must be one word, got `{v}`"));
        }
    }
    if let Some(s) = &a.special_time {
        if !SPECIAL.contains(&s.as_str()) {
            return e(format!(
                "argument `special_time` must be one of {}, got {s}",
                SPECIAL.join(", ")
            ));
        }
        if [&a.minute, &a.hour, &a.day, &a.month, &a.weekday]
            .iter()
            .any(|v| v.as_str() != "*")
        {
            return e(
                "argument `special_time` cannot be used with minute/hour/day/month/weekday".into(),
            );
        }
    }
    if a.state == "present" && a.job.is_none() {
        return e("argument `job` is required with state=present".into());
    }
    if a.env && (a.special_time.is_some() || a.disabled) {
        return e("argument `env` cannot be used with special_time or disabled".into());
    }
    if !a.env && (a.insertafter.is_some() || a.insertbefore.is_some()) {
        return e("arguments `insertafter`/`insertbefore` need env=true".into());
    }
    let file = a.cron_file.as_ref().map(|f| {
        if f.starts_with('/') {
            f.clone()
        } else {
            format!("/etc/cron.d/{f}")
        }
    });
    Ok(Box::new(Cron { a, name, file }))
}

pub static CRON: super::ModuleDef = super::ModuleDef {
    name: "cron",
    args: CRON_ARGS,
    free_form: false,
    build,
};

impl Cron {
    /// The job line as Ansible writes it.
    pub fn job_line(&self) -> String {
        let a = &self.a;
        let job = a.job.clone().unwrap_or_default();
        if a.env {
            return format!("{}={job}", self.name);
        }
        let pre = if a.disabled { "#" } else { "" };
        let user = match &self.file {
            Some(_) => format!("{} ", a.user.as_deref().unwrap_or("root")),
            None => String::new(),
        };
        match &a.special_time {
            Some(s) => format!("{pre}@{s} {user}{job}"),
            None => format!(
                "{pre}{} {} {} {} {} {user}{job}",
                a.minute, a.hour, a.day, a.month, a.weekday
            ),
        }
    }
}

/// The crontab with the job `name` set to `line` (None: removed). Returns the new text and
/// the old job line.
pub fn edit_job(text: &str, name: &str, line: Option<&str>) -> (String, Option<String>) {
    let marker = format!("#Ansible: {name}");
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = vec![];
    let mut old = None;
    let mut i = 0;
    let mut done = false;
    while i < lines.len() {
        if lines[i] == marker {
            let job = lines.get(i + 1).copied();
            if old.is_none() {
                old = job.map(str::to_string);
            }
            i += 2;
            if let (Some(l), false) = (line, done) {
                out.push(marker.clone());
                out.push(l.to_string());
                done = true;
            }
            continue;
        }
        out.push(lines[i].to_string());
        i += 1;
    }
    if let (Some(l), false) = (line, done) {
        out.push(marker);
        out.push(l.to_string());
    }
    let mut t = out.join("\n");
    if !t.is_empty() {
        t.push('\n');
    }
    (t, old)
}

/// The crontab with the variable `name` set (None: removed); new variables go first, or
/// after/before the job named by insertafter/insertbefore.
pub fn edit_env(
    text: &str,
    name: &str,
    line: Option<&str>,
    after: Option<&str>,
    before: Option<&str>,
) -> (String, Option<String>) {
    let prefix = format!("{name}=");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = lines.iter().position(|l| l.starts_with(&prefix));
    let old = at.map(|i| lines[i].clone());
    match (at, line) {
        (Some(i), Some(l)) => lines[i] = l.to_string(),
        (Some(i), None) => {
            lines.remove(i);
        }
        (None, Some(l)) => {
            let pos = if let Some(j) = after {
                lines
                    .iter()
                    .position(|x| *x == format!("#Ansible: {j}"))
                    .map(|p| (p + 2).min(lines.len()))
            } else if let Some(j) = before {
                lines.iter().position(|x| *x == format!("#Ansible: {j}"))
            } else {
                None
            };
            lines.insert(pos.unwrap_or(0), l.to_string());
        }
        (None, None) => {}
    }
    let mut t = lines.join("\n");
    if !t.is_empty() {
        t.push('\n');
    }
    (t, old)
}

#[async_trait]
impl Module for Cron {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.a;
        let mut s = Sections::new();
        match &self.file {
            Some(f) => s.file("f", f),
            None => {
                let mut c = Cmd::new("crontab");
                if let Some(u) = &a.user {
                    c = c.arg("-u").arg(u);
                }
                s.add("f", &format!("{} -l 2>/dev/null", c.into_string()));
            }
        }
        let s = s.run(ctx, "cron").await?;
        let now: FileNow = file_now(&s, "f");
        let old = now.text.clone();
        let text = old.as_deref().unwrap_or("");
        let want = (a.state == "present").then(|| self.job_line());
        let (new, old_line) = if a.env {
            edit_env(
                text,
                &self.name,
                want.as_deref(),
                a.insertafter.as_deref(),
                a.insertbefore.as_deref(),
            )
        } else {
            edit_job(text, &self.name, want.as_deref())
        };
        let mut result = Map::new();
        result.insert("name".into(), json!(self.name));
        result.insert("state".into(), json!(a.state));
        if let Some(f) = &self.file {
            result.insert("cron_file".into(), json!(f));
        }
        let jobs: Vec<&str> = new
            .lines()
            .filter_map(|l| l.strip_prefix("#Ansible: "))
            .collect();
        result.insert(
            if a.env { "envs" } else { "jobs" }.into(),
            json!(if a.env {
                new.lines()
                    .filter_map(|l| l.split_once('=').map(|(k, _)| k))
                    .filter(|k| !k.starts_with('#') && !k.contains(' '))
                    .collect::<Vec<_>>()
            } else {
                jobs
            }),
        );
        // A cron.d file left without content goes, as in Ansible.
        let remove_file =
            self.file.is_some() && old.is_some() && a.state == "absent" && new.trim().is_empty();
        if new == text && !remove_file {
            return Ok(Plan {
                result,
                ..Plan::default()
            });
        }
        let mut changes: Vec<Change> = vec![];
        if new != text {
            changes.push(other(
                &format!("{} {}", if a.env { "env" } else { "job" }, self.name),
                old_line,
                want.clone(),
            ));
        }
        let target = self.file.clone().unwrap_or_else(|| {
            format!(
                "crontab of {}",
                a.user.as_deref().unwrap_or("the remote user")
            )
        });
        if remove_file {
            changes.push(Change::new(
                Field::State,
                Some("file".into()),
                Some("absent".into()),
            ));
        } else {
            changes.push(text_change(&target, old.as_deref(), &new));
        }
        Ok(Plan {
            changes,
            result,
            state: Some(json!({
                "text": new, "remove": remove_file,
                "mode": now.mode, "owner": now.owner, "group": now.group,
            })),
            ..Plan::default()
        })
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        let a = &self.a;
        let st = state_obj(&plan.state);
        let Some(text) = st.get("text").and_then(Value::as_str) else {
            return Err(fail(
                ctx,
                "internal: apply called without this module's plan",
            ));
        };
        let mut result = plan.result.clone();
        match &self.file {
            Some(f) => {
                let q = quote(f);
                if a.backup {
                    let script = format!(
                        "[ -e {q} ] || exit 0; b={b}; cp -p -- {q} \"$b\" && printf '%s' \"$b\"",
                        b = super::fileops::backup_name(&q)
                    );
                    let b = sysutil::run(ctx, &format!("backing up {f}"), &script, None).await?;
                    if !b.is_empty() {
                        result.insert("backup_file".into(), json!(b));
                    }
                }
                if st.get("remove").and_then(Value::as_bool) == Some(true) {
                    sysutil::run(
                        ctx,
                        &format!("removing {f}"),
                        &format!("rm -f -- {q}"),
                        None,
                    )
                    .await?;
                } else {
                    let now = FileNow {
                        text: None,
                        mode: st.get("mode").and_then(Value::as_u64).map(|m| m as u32),
                        owner: st.get("owner").and_then(Value::as_str).map(str::to_string),
                        group: st.get("group").and_then(Value::as_str).map(str::to_string),
                    };
                    sysutil::put_file(ctx, f, text, &now, 0o644, None, None).await?;
                }
            }
            None => {
                let mut c = Cmd::new("crontab");
                if let Some(u) = &a.user {
                    c = c.arg("-u").arg(u);
                }
                let cmd = format!("{} - || exit 1\n", c.into_string());
                sysutil::run(ctx, "crontab", &cmd, Some(text.as_bytes())).await?;
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_like_ansible() {
        let t = "MAILTO=root\n# mine\n#Ansible: backup\n0 2 * * * /bin/old\n";
        let (n, old) = edit_job(t, "backup", Some("5 2 * * * /bin/new"));
        assert_eq!(
            n,
            "MAILTO=root\n# mine\n#Ansible: backup\n5 2 * * * /bin/new\n"
        );
        assert_eq!(old.as_deref(), Some("0 2 * * * /bin/old"));
        let (n, _) = edit_job(t, "backup", None);
        assert_eq!(n, "MAILTO=root\n# mine\n");
        let (n, old) = edit_job("", "x", Some("@reboot /bin/x"));
        assert_eq!((n.as_str(), old), ("#Ansible: x\n@reboot /bin/x\n", None));
        let (n, _) = edit_env(t, "PATH", Some("PATH=/bin"), None, Some("backup"));
        assert_eq!(
            n,
            "MAILTO=root\n# mine\nPATH=/bin\n#Ansible: backup\n0 2 * * * /bin/old\n"
        );
        let (n, _) = edit_env(t, "MAILTO", None, None, None);
        assert_eq!(n, "# mine\n#Ansible: backup\n0 2 * * * /bin/old\n");
    }

    #[test]
    fn lines_and_errors() {
        let b = |v: Value| build(v.as_object().unwrap());
        let c = b(json!({"name": "x", "job": "/bin/x", "minute": 5, "cron_file": "muster", "user": "app", "disabled": true})).ok().unwrap();
        let _ = c;
        let e = |v: Value| b(v).err().unwrap_or_default();
        assert!(
            e(json!({"name": "x", "job": "j", "special_time": "daily", "hour": 3}))
                .contains("`special_time`")
        );
        assert!(e(json!({"name": "x"})).contains("`job`"));
        assert!(e(json!({"name": "x", "job": "j", "minute": "1 2"})).contains("`minute`"));
    }
}
