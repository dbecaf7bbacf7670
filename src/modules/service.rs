//! `service`, `systemd` and `systemd_service`: a service's run state and boot enablement (and,
//! with systemd, its mask), through systemd, OpenRC or SysV init scripts.
//!
//! The backend is `use:` when given (`systemd` always for the systemd modules), else the
//! host's `ansible_service_mgr` fact, else what the probe finds (systemctl with
//! /run/systemd/system, rc-service, an /etc/init.d script). The plan is one read-only exec; the
//! apply is one exec that runs exactly the planned actions, in systemd's order:
//! daemon-reexec, daemon-reload, mask/unmask, enable/disable, then start/stop/restart/reload.
//! As in Ansible, `restarted`/`reloaded` always change (a stopped service is started instead).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::{de_bool, de_opt_bool};
use super::fileops::{build_args, fail};
use super::sysutil::{self, other, state_obj, strs, Sections};
use super::{Change, Field, Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::{quote, Cmd};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceArgs {
    #[serde(default, alias = "service", alias = "unit")]
    pub name: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub masked: Option<bool>,
    #[serde(default, alias = "daemon-reload", deserialize_with = "de_bool")]
    pub daemon_reload: bool,
    #[serde(default, alias = "daemon-reexec", deserialize_with = "de_bool")]
    pub daemon_reexec: bool,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub no_block: bool,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default, alias = "args")]
    pub arguments: Option<String>,
    #[serde(default)]
    pub sleep: Option<Value>,
    #[serde(default)]
    pub runlevel: Option<String>,
}

pub const SERVICE_ARGS: &[&str] = &[
    "name",
    "state",
    "enabled",
    "masked",
    "daemon_reload",
    "daemon-reload",
    "daemon_reexec",
    "daemon-reexec",
    "scope",
    "no_block",
    "use",
    "pattern",
    "arguments",
    "args",
    "sleep",
    "runlevel",
];

pub const SYSTEMD_ARGS: &[&str] = &[
    "name",
    "service",
    "unit",
    "state",
    "enabled",
    "masked",
    "daemon_reload",
    "daemon-reload",
    "daemon_reexec",
    "daemon-reexec",
    "scope",
    "no_block",
];

/// The init system a service is driven through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Systemd,
    Openrc,
    Sysv,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Systemd => "systemd",
            Backend::Openrc => "openrc",
            Backend::Sysv => "sysv",
        }
    }
    fn parse(s: &str) -> Option<Backend> {
        match s {
            "systemd" => Some(Backend::Systemd),
            "openrc" => Some(Backend::Openrc),
            "sysv" | "sysvinit" | "service" | "upstart" => Some(Backend::Sysv),
            _ => None,
        }
    }
}

/// The backend the `ansible_service_mgr` fact names, if it names one we drive.
pub fn backend_from_vars(vars: &Value) -> Option<Backend> {
    let fact = vars
        .get("ansible_service_mgr")
        .or_else(|| vars.get("ansible_facts").and_then(|f| f.get("service_mgr")))
        .and_then(Value::as_str)?;
    Backend::parse(fact)
}

pub struct Service {
    module: &'static str,
    name: Option<String>,
    state: Option<String>,
    enabled: Option<bool>,
    masked: Option<bool>,
    daemon_reload: bool,
    daemon_reexec: bool,
    no_block: bool,
    /// `None`: auto.
    forced: Option<Backend>,
    pattern: Option<String>,
    arguments: Vec<String>,
    sleep: Option<u64>,
    runlevel: String,
}

fn build_common(
    module: &'static str,
    args: &Map<String, Value>,
    systemd: bool,
) -> std::result::Result<Box<dyn Module>, String> {
    let a: ServiceArgs = build_args(module, args)?;
    let e = |m: String| Err(format!("{module}: {m}"));
    if let Some(s) = &a.state {
        if !["started", "stopped", "restarted", "reloaded"].contains(&s.as_str()) {
            return e(format!(
                "argument `state` must be one of started, stopped, restarted, reloaded, got {s}"
            ));
        }
    }
    if let Some(s) = &a.scope {
        if s != "system" {
            return e(format!(
                "argument `scope`: only `system` is supported, got {s}"
            ));
        }
    }
    let forced = if systemd {
        Some(Backend::Systemd)
    } else {
        match a.use_.as_deref().unwrap_or("auto") {
            "auto" => None,
            u => match Backend::parse(u) {
                Some(b) if u != "upstart" && u != "sysv" => Some(b),
                _ => {
                    return e(format!(
                        "argument `use` must be one of auto, systemd, openrc, sysvinit, service, got {u}"
                    ))
                }
            },
        }
    };
    if let Some(Backend::Openrc | Backend::Sysv) = forced {
        if a.masked.is_some() || a.daemon_reload || a.daemon_reexec || a.no_block {
            return e("arguments `masked`, `daemon_reload`, `daemon_reexec` and `no_block` need the systemd backend".into());
        }
    }
    let name = a.name.clone().filter(|n| !n.is_empty());
    if let Some(n) = &name {
        if n.starts_with('-')
            || n.contains('/')
            || n.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return e(format!("argument `name`: `{n}` is not a service name"));
        }
    }
    let anything = a.state.is_some() || a.enabled.is_some() || a.masked.is_some();
    if name.is_none() && (anything || !(a.daemon_reload || a.daemon_reexec)) {
        return e("argument `name` is required".into());
    }
    if !anything && !a.daemon_reload && !a.daemon_reexec {
        return e(if systemd {
            "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec"
                .into()
        } else {
            "one of the following is required: state, enabled".into()
        });
    }
    let sleep = match &a.sleep {
        None | Some(Value::Null) => None,
        Some(v) => match v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        {
            Some(n) => Some(n),
            None => {
                return e(format!(
                    "argument `sleep` must be a number of seconds, got {v}"
                ))
            }
        },
    };
    let arguments = a
        .arguments
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Ok(Box::new(Service {
        module,
        name,
        state: a.state,
        enabled: a.enabled,
        masked: a.masked,
        daemon_reload: a.daemon_reload,
        daemon_reexec: a.daemon_reexec,
        no_block: a.no_block,
        forced,
        pattern: a.pattern.filter(|p| !p.is_empty()),
        arguments,
        sleep,
        runlevel: a.runlevel.unwrap_or_else(|| "default".into()),
    }))
}

pub fn build_service(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    build_common("service", args, false)
}
pub fn build_systemd(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    build_common("systemd", args, true)
}
pub fn build_systemd_service(
    args: &Map<String, Value>,
) -> std::result::Result<Box<dyn Module>, String> {
    build_common("systemd_service", args, true)
}

pub static SERVICE: super::ModuleDef = super::ModuleDef {
    name: "service",
    args: SERVICE_ARGS,
    free_form: false,
    build: build_service,
};
pub static SYSTEMD: super::ModuleDef = super::ModuleDef {
    name: "systemd",
    args: SYSTEMD_ARGS,
    free_form: false,
    build: build_systemd,
};
pub static SYSTEMD_SERVICE: super::ModuleDef = super::ModuleDef {
    name: "systemd_service",
    args: SYSTEMD_ARGS,
    free_form: false,
    build: build_systemd_service,
};

/// What the probe found about the service, whatever the backend.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub exists: bool,
    pub running: bool,
    pub enabled: bool,
    pub masked: bool,
    /// OpenRC: the runlevels the service is in; SysV: whether any rc link exists.
    pub runlevels: Vec<String>,
    pub has_links: bool,
    /// systemd: the `show` properties.
    pub status: Map<String, Value>,
}

/// Parses `systemctl show -p ...` output (`Key=Value` lines).
pub fn parse_show(text: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for l in text.lines() {
        if let Some((k, v)) = l.split_once('=') {
            if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()) {
                m.insert(k.to_string(), json!(v));
            }
        }
    }
    m
}

/// What `systemctl is-enabled` printed means for `enabled` (Ansible: exit 0).
pub fn systemd_enabled(is_enabled: &str) -> bool {
    matches!(
        is_enabled.trim(),
        "enabled" | "enabled-runtime" | "static" | "alias" | "indirect" | "generated"
    )
}

/// The systemd observation from `show` properties and `is-enabled` output.
pub fn observe_systemd(show: &str, is_enabled: &str) -> Observed {
    let status = parse_show(show);
    let get = |k: &str| status.get(k).and_then(Value::as_str).unwrap_or("");
    let masked = get("LoadState") == "masked"
        || get("UnitFileState") == "masked"
        || is_enabled.trim() == "masked";
    Observed {
        exists: get("LoadState") != "not-found" || masked,
        running: matches!(get("ActiveState"), "active" | "activating" | "reloading"),
        enabled: systemd_enabled(is_enabled),
        masked,
        runlevels: vec![],
        has_links: false,
        status,
    }
}

/// The runlevels `rc-update show` lists `name` in (`  sshd | boot default`).
pub fn openrc_runlevels(rc_update_show: &str, name: &str) -> Vec<String> {
    rc_update_show
        .lines()
        .filter_map(|l| l.split_once('|'))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, r)| r.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// SysV enablement from the rc links (`/etc/rcN.d/SNNname` paths): an S link in 2..5.
pub fn sysv_links_enabled(links: &str) -> bool {
    links.lines().any(|l| {
        let l = l.trim();
        ["2", "3", "4", "5"]
            .iter()
            .any(|n| l.starts_with(&format!("/etc/rc{n}.d/S")))
    })
}

/// `chkconfig --list NAME`: `name  0:off 1:off 2:on 3:on 4:on 5:on 6:off`.
pub fn chkconfig_enabled(text: &str) -> bool {
    text.split_whitespace()
        .any(|w| matches!(w, "2:on" | "3:on" | "4:on" | "5:on"))
}

/// Whether `ps` output shows a process matching `pattern` (a substring, as Ansible).
pub fn pattern_running(ps: &str, pattern: &str) -> bool {
    ps.lines()
        .any(|l| l.contains(pattern) && !l.contains("@@muster"))
}

/// The planned changes and the actions that carry them out, in apply order.
pub fn decide(
    want_state: Option<&str>,
    want_enabled: Option<bool>,
    want_masked: Option<bool>,
    o: &Observed,
) -> (Vec<Change>, Vec<String>) {
    let mut changes = vec![];
    let mut actions: Vec<String> = vec![];
    let word = |b: bool| if b { "true" } else { "false" }.to_string();
    if let Some(m) = want_masked {
        if m != o.masked {
            changes.push(other("masked", Some(word(o.masked)), Some(word(m))));
            actions.push(if m { "mask" } else { "unmask" }.into());
        }
    }
    if let Some(en) = want_enabled {
        if en != o.enabled {
            changes.push(other("enabled", Some(word(o.enabled)), Some(word(en))));
            actions.push(if en { "enable" } else { "disable" }.into());
        }
    }
    let now = if o.running { "started" } else { "stopped" };
    let st = |after: &str| Change::new(Field::State, Some(now.into()), Some(after.into()));
    match want_state {
        Some("started") if !o.running => {
            changes.push(st("started"));
            actions.push("start".into());
        }
        Some("stopped") if o.running => {
            changes.push(st("stopped"));
            actions.push("stop".into());
        }
        Some(s @ ("restarted" | "reloaded")) => {
            if o.running {
                changes.push(st(s));
                actions.push(
                    if s == "restarted" {
                        "restart"
                    } else {
                        "reload"
                    }
                    .into(),
                );
            } else {
                changes.push(st("started"));
                actions.push("start".into());
            }
        }
        _ => {}
    }
    (changes, actions)
}

impl Service {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    fn backend(&self, ctx: &ModuleCtx<'_>) -> Option<Backend> {
        self.forced.or_else(|| backend_from_vars(ctx.vars))
    }

    /// The probe: `backend` then that backend's sections.
    fn probe(&self, backend: Option<Backend>) -> Sections {
        let n = self.name();
        let qn = quote(n);
        let mut s = Sections::new();
        let detect = match backend {
            Some(b) => format!("b={}", b.name()),
            None => format!(
                "if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then b=systemd; \
                 elif command -v rc-service >/dev/null 2>&1 || command -v openrc-run >/dev/null 2>&1; then b=openrc; \
                 elif [ -e /etc/init.d/{qn} ] || command -v service >/dev/null 2>&1; then b=sysv; \
                 else b=none; fi"
            ),
        };
        s.add(
            "backend",
            &format!("{detect}; LC_ALL=C; export LC_ALL; echo \"$b\""),
        );
        let when = |b: &str, cmd: String| format!("if [ \"$b\" = {b} ]; then {cmd}; fi");
        if self.name.is_none() {
            return s;
        }
        s.add(
            "sd.show",
            &when(
                "systemd",
                format!(
                    "{} 2>&1",
                    Cmd::new("systemctl")
                        .arg("show")
                        .arg(n)
                        .arg("-p")
                        .arg("Id,Names,LoadState,ActiveState,SubState,UnitFileState,MainPID,Description")
                        .into_string()
                ),
            ),
        );
        s.add(
            "sd.enabled",
            &when(
                "systemd",
                format!(
                    "{} 2>/dev/null",
                    Cmd::new("systemctl").arg("is-enabled").arg(n).into_string()
                ),
            ),
        );
        s.add(
            "or.exists",
            &when(
                "openrc",
                format!(
                    "{} >/dev/null 2>&1 && echo yes",
                    Cmd::new("rc-service").arg("-e").arg(n).into_string()
                ),
            ),
        );
        s.add(
            "or.update",
            &when("openrc", "rc-update show 2>/dev/null".into()),
        );
        s.add(
            "sv.exists",
            &when("sysv", format!("[ -f /etc/init.d/{qn} ] && echo yes")),
        );
        s.add(
            "sv.tools",
            &when(
                "sysv",
                "for t in service update-rc.d chkconfig; do command -v \"$t\" >/dev/null 2>&1 && echo \"$t\"; done".into(),
            ),
        );
        s.add(
            "sv.links",
            &when(
                "sysv",
                format!(
                    "for f in /etc/rc[0-6S].d/[SK][0-9][0-9]{qn}; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo \"$f\"; fi; done"
                ),
            ),
        );
        s.add(
            "sv.chkconfig",
            &when(
                "sysv",
                format!(
                    "if ! command -v update-rc.d >/dev/null 2>&1 && command -v chkconfig >/dev/null 2>&1; then chkconfig --list {qn} 2>/dev/null; fi"
                ),
            ),
        );
        // Run state: a ps match with `pattern`, else the service's own status (exit 0: running).
        let status = if self.pattern.is_some() {
            "ps -eo args 2>/dev/null || ps axww 2>/dev/null".to_string()
        } else {
            format!(
                "case $b in systemd) ;; \
                 openrc) if rc-service -e {qn} >/dev/null 2>&1; then rc-service {qn} status >/dev/null 2>&1; echo $?; fi ;; \
                 sysv) if [ -f /etc/init.d/{qn} ]; then if command -v service >/dev/null 2>&1; then service {qn} status >/dev/null 2>&1; else /etc/init.d/{qn} status >/dev/null 2>&1; fi; echo $?; fi ;; \
                 esac"
            )
        };
        s.add("status", &status);
        s
    }

    fn start_cmd(&self, backend: Backend, tools: &[String], action: &str) -> String {
        let n = self.name();
        match backend {
            Backend::Systemd => {
                let mut c = Cmd::new("systemctl");
                if self.no_block {
                    c = c.arg("--no-block");
                }
                c.arg(action).arg(n).into_string()
            }
            Backend::Openrc => Cmd::new("rc-service").arg(n).arg(action).into_string(),
            Backend::Sysv => {
                let c = if tools.iter().any(|t| t == "service") {
                    Cmd::new("service").arg(n)
                } else {
                    Cmd::new(&format!("/etc/init.d/{n}"))
                };
                c.arg(action).args(&self.arguments).into_string()
            }
        }
    }

    /// The shell lines of one planned action.
    fn action_lines(&self, backend: Backend, st: &Map<String, Value>, action: &str) -> Vec<String> {
        let n = self.name();
        let tools = strs(st.get("tools"));
        match (backend, action) {
            (_, "daemon-reload" | "daemon-reexec") => {
                vec![Cmd::new("systemctl").arg(action).into_string()]
            }
            (Backend::Systemd, a) => vec![self.start_cmd(backend, &tools, a)],
            (Backend::Openrc, "enable") => vec![Cmd::new("rc-update")
                .arg("add")
                .arg(n)
                .arg(&self.runlevel)
                .into_string()],
            (Backend::Openrc, "disable") => strs(st.get("runlevels"))
                .iter()
                .map(|r| Cmd::new("rc-update").arg("del").arg(n).arg(r).into_string())
                .collect(),
            (Backend::Sysv, "enable" | "disable") => {
                if tools.iter().any(|t| t == "update-rc.d") {
                    let mut v = vec![];
                    if st.get("has_links").and_then(Value::as_bool) != Some(true) {
                        v.push(Cmd::new("update-rc.d").arg(n).arg("defaults").into_string());
                    }
                    v.push(Cmd::new("update-rc.d").arg(n).arg(action).into_string());
                    v
                } else {
                    let on = if action == "enable" { "on" } else { "off" };
                    vec![Cmd::new("chkconfig").arg(n).arg(on).into_string()]
                }
            }
            (_, "restart") if self.sleep.is_some() => vec![
                self.start_cmd(backend, &tools, "stop"),
                format!("sleep {}", self.sleep.unwrap_or(0)),
                self.start_cmd(backend, &tools, "start"),
            ],
            (_, a) => vec![self.start_cmd(backend, &tools, a)],
        }
    }
}

#[async_trait]
impl Module for Service {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let backend = self.backend(ctx);
        let s = self.probe(backend).run(ctx, self.module).await?;
        let sec = |k: &str| s.get(k).map(String::as_str).unwrap_or("");
        let backend = match Backend::parse(sec("backend").trim()) {
            Some(b) => b,
            None => {
                return Err(fail(
                    ctx,
                    format!(
                    "{}: could not find a service manager (systemd, OpenRC or SysV init) for {}",
                    self.module,
                    self.name()
                ),
                ))
            }
        };
        if backend != Backend::Systemd
            && (self.masked.is_some() || self.daemon_reload || self.daemon_reexec)
        {
            return Err(fail(
                ctx,
                format!(
                    "{}: `masked`, `daemon_reload` and `daemon_reexec` need systemd; this host uses {}",
                    self.module,
                    backend.name()
                ),
            ));
        }
        let mut result = Map::new();
        let mut pre: Vec<String> = vec![];
        if self.daemon_reexec {
            pre.push("daemon-reexec".into());
        }
        if self.daemon_reload {
            pre.push("daemon-reload".into());
        }
        let Some(name) = &self.name else {
            // Only daemon-reload/-reexec: they always run, as a command would.
            let changes = pre
                .iter()
                .map(|a| Change::new(Field::Command, None, Some(format!("systemctl {a}"))))
                .collect();
            return Ok(Plan {
                changes,
                result,
                state: Some(json!({"backend": "systemd", "actions": pre})),
                ..Plan::default()
            });
        };
        let tools: Vec<String> = sec("sv.tools")
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        let status_rc = sec("status").trim().parse::<i32>().ok();
        let mut o = match backend {
            Backend::Systemd => observe_systemd(sec("sd.show"), sec("sd.enabled")),
            Backend::Openrc => {
                let runlevels = openrc_runlevels(sec("or.update"), name);
                Observed {
                    exists: sec("or.exists").trim() == "yes",
                    running: status_rc == Some(0),
                    enabled: !runlevels.is_empty(),
                    runlevels,
                    ..Observed::default()
                }
            }
            Backend::Sysv => {
                let links = sec("sv.links");
                let enabled = if tools.iter().any(|t| t == "update-rc.d")
                    || !tools.iter().any(|t| t == "chkconfig")
                {
                    sysv_links_enabled(links)
                } else {
                    chkconfig_enabled(sec("sv.chkconfig"))
                };
                Observed {
                    exists: sec("sv.exists").trim() == "yes",
                    running: status_rc == Some(0),
                    enabled,
                    has_links: !links.trim().is_empty(),
                    ..Observed::default()
                }
            }
        };
        if let Some(p) = &self.pattern {
            o.running = pattern_running(sec("status"), p);
        }
        if !o.exists {
            return Err(fail(
                ctx,
                format!("Could not find the requested service {name}: host"),
            ));
        }
        if backend == Backend::Sysv
            && self.enabled.is_some_and(|e| e != o.enabled)
            && !tools.iter().any(|t| t == "update-rc.d" || t == "chkconfig")
        {
            return Err(fail(
                ctx,
                format!("{}: cannot change whether {name} starts at boot: neither update-rc.d nor chkconfig is on this host", self.module),
            ));
        }
        let (changes, actions) = decide(self.state.as_deref(), self.enabled, self.masked, &o);
        result.insert("name".into(), json!(name));
        result.insert(
            "state".into(),
            json!(if o.running { "started" } else { "stopped" }),
        );
        result.insert("enabled".into(), json!(o.enabled));
        if backend == Backend::Systemd {
            result.insert("masked".into(), json!(o.masked));
            result.insert("status".into(), Value::Object(o.status.clone()));
        }
        if changes.is_empty() {
            return Ok(Plan {
                result,
                ..Plan::default()
            });
        }
        let all: Vec<String> = pre.into_iter().chain(actions).collect();
        Ok(Plan {
            changes,
            result,
            state: Some(json!({
                "backend": backend.name(),
                "actions": all,
                "tools": tools,
                "runlevels": o.runlevels,
                "has_links": o.has_links,
            })),
            ..Plan::default()
        })
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        let st = state_obj(&plan.state);
        let Some(backend) = st
            .get("backend")
            .and_then(Value::as_str)
            .and_then(Backend::parse)
        else {
            return Err(fail(
                ctx,
                "internal: apply called without this module's plan",
            ));
        };
        let mut script = String::new();
        for a in strs(st.get("actions")) {
            for line in self.action_lines(backend, &st, &a) {
                script.push_str(&format!(
                    "{line} || {{ echo {} >&2; exit 1; }}\n",
                    quote(&format!("`{line}` failed"))
                ));
            }
        }
        let what = format!("{} {}", self.module, self.name());
        sysutil::run(ctx, &what, &script, None).await?;
        let mut result = plan.result.clone();
        if let Some(s) = &self.state {
            let now = if s == "stopped" { "stopped" } else { "started" };
            result.insert("state".into(), json!(now));
        }
        if let Some(e) = self.enabled {
            result.insert("enabled".into(), json!(e));
        }
        if let Some(m) = self.masked {
            result.insert("masked".into(), json!(m));
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW_RUNNING: &str = "Id=cron.service\nNames=cron.service\nDescription=Regular background program processing daemon\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nMainPID=612\n";
    const SHOW_MISSING: &str = "Id=nope.service\nNames=nope.service\nDescription=nope.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\nMainPID=0\n";
    const SHOW_MASKED: &str = "Id=cups.service\nNames=cups.service\nDescription=cups.service\nLoadState=masked\nActiveState=inactive\nSubState=dead\nUnitFileState=masked\nMainPID=0\n";

    #[test]
    fn systemd_observations() {
        let o = observe_systemd(SHOW_RUNNING, "enabled\n");
        assert!(o.exists && o.running && o.enabled && !o.masked);
        assert_eq!(o.status["SubState"], "running");
        assert!(!observe_systemd(SHOW_MISSING, "").exists);
        let m = observe_systemd(SHOW_MASKED, "masked\n");
        assert!(m.exists && m.masked && !m.enabled && !m.running);
        assert!(systemd_enabled("static"));
        assert!(!systemd_enabled("disabled"));
    }

    #[test]
    fn decisions() {
        let stopped = Observed {
            exists: true,
            ..Observed::default()
        };
        let (c, a) = decide(Some("started"), Some(true), None, &stopped);
        assert_eq!(a, vec!["enable", "start"]);
        assert_eq!(c[1].before.as_deref(), Some("stopped"));
        assert_eq!(c[1].after.as_deref(), Some("started"));
        assert_eq!(c[0].field.to_string(), "enabled");
        let running = Observed {
            exists: true,
            running: true,
            enabled: true,
            ..Observed::default()
        };
        assert!(decide(Some("started"), Some(true), Some(false), &running)
            .0
            .is_empty());
        let (c, a) = decide(Some("restarted"), None, None, &running);
        assert_eq!((c.len(), a), (1, vec!["restart".to_string()]));
        let (_, a) = decide(Some("reloaded"), None, None, &stopped);
        assert_eq!(a, vec!["start"]);
        let (_, a) = decide(Some("stopped"), Some(false), Some(true), &running);
        assert_eq!(a, vec!["mask", "disable", "stop"]);
    }

    #[test]
    fn openrc_and_sysv_parsers() {
        let show = "                 acpid | default\n              bootmisc | boot\n                  sshd |         boot default\n";
        assert_eq!(openrc_runlevels(show, "sshd"), vec!["boot", "default"]);
        assert!(openrc_runlevels(show, "crond").is_empty());
        assert!(sysv_links_enabled(
            "/etc/rc0.d/K01cron\n/etc/rc2.d/S01cron\n"
        ));
        assert!(!sysv_links_enabled(
            "/etc/rc0.d/K01cron\n/etc/rc2.d/K01cron\n"
        ));
        assert!(chkconfig_enabled(
            "crond          \t0:off\t1:off\t2:on\t3:on\t4:on\t5:on\t6:off\n"
        ));
        assert!(!chkconfig_enabled(
            "crond 0:off 1:off 2:off 3:off 4:off 5:off 6:off"
        ));
        assert!(pattern_running(
            "/usr/sbin/cron -f\nps -eo args\n",
            "cron -f"
        ));
    }

    #[test]
    fn arguments() {
        let b = |m: crate::modules::BuildFn, v: Value| {
            m(v.as_object().unwrap()).err().unwrap_or_default()
        };
        assert_eq!(
            b(build_service, json!({"name": "cron", "state": "started"})),
            ""
        );
        assert!(b(build_service, json!({"name": "cron"})).contains("one of the following"));
        assert!(b(build_service, json!({"name": "cron", "state": "up"})).contains("`state`"));
        assert!(b(
            build_systemd,
            json!({"name": "x", "state": "started", "scope": "user"})
        )
        .contains("`scope`"));
        assert!(b(
            build_service,
            json!({"name": "x", "state": "started", "use": "openrc", "masked": true})
        )
        .contains("systemd"));
        assert!(b(build_service, json!({"name": "-x", "state": "started"})).contains("`name`"));
        assert_eq!(b(build_systemd, json!({"daemon-reload": "yes"})), "");
        assert!(b(build_service, json!({"name": "x", "enabled": "maybe"})).contains("`enabled`"));
    }

    #[test]
    fn probe_script_runs_in_sh() {
        let m = Service {
            module: "service",
            name: Some("it's".into()),
            state: Some("started".into()),
            enabled: None,
            masked: None,
            daemon_reload: false,
            daemon_reexec: false,
            no_block: false,
            forced: Some(Backend::Sysv),
            pattern: None,
            arguments: vec![],
            sleep: None,
            runlevel: "default".into(),
        };
        let s = m.probe(Some(Backend::Sysv));
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(s.script())
            .output()
            .unwrap();
        assert!(out.status.success());
        let p = s.parse(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(p["backend"].trim(), "sysv");
        assert_eq!(p["sv.exists"], "");
    }
}
