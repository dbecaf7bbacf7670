//! `service_facts`: every service the host knows as facts, in Ansible's shape
//! `ansible_facts.services = {KEY: {name, state, status, source}}`: systemd units as
//! `NAME.service` (from `list-units` and `list-unit-files`), OpenRC services (`rc-status -s`,
//! `rc-update show -v`, with their `runlevels`) and SysV scripts (`service --status-all`, rc
//! links; only where systemd does not run) by plain name. state is running|stopped|unknown; status enabled|disabled|static|
//! masked|unknown (or systemd's own unit-file state). Read-only, one exec.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::fileops::{build_args, fail};
use super::service::{backend_from_vars, Backend};
use super::sysutil::Sections;
use super::{Module, ModuleCtx, Plan};
use crate::error::Result;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFactsArgs {}

pub struct ServiceFacts;

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let _: ServiceFactsArgs = build_args("service_facts", args)?;
    Ok(Box::new(ServiceFacts))
}

pub static SERVICE_FACTS: super::ModuleDef = super::ModuleDef {
    name: "service_facts",
    args: &[],
    free_form: false,
    build,
};

fn svc(name: &str, state: &str, status: &str, source: &str) -> Value {
    json!({"name": name, "state": state, "status": status, "source": source})
}

/// `systemctl list-units --type=service --all --no-legend --plain` +
/// `systemctl list-unit-files --type=service --no-legend` into `NAME.service` entries.
pub fn parse_systemd(units: &str, unit_files: &str, out: &mut Map<String, Value>) {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for l in unit_files.lines() {
        let mut w = l.split_whitespace();
        if let (Some(u), Some(st)) = (w.next(), w.next()) {
            if u.ends_with(".service") {
                files.insert(u.to_string(), st.to_string());
            }
        }
    }
    for l in units.lines() {
        let w: Vec<&str> = l
            .split_whitespace()
            .skip_while(|x| *x == "●" || *x == "*")
            .collect();
        if w.len() < 4 || !w[0].ends_with(".service") {
            continue;
        }
        let (unit, load, active, sub) = (w[0], w[1], w[2], w[3]);
        let state = if sub == "running" {
            "running"
        } else if matches!(active, "inactive" | "failed")
            || matches!(sub, "dead" | "exited" | "failed")
        {
            "stopped"
        } else {
            "unknown"
        };
        let status = match files.get(unit) {
            Some(s) => s.as_str(),
            None if load == "masked" => "masked",
            None => "unknown",
        };
        out.insert(unit.to_string(), svc(unit, state, status, "systemd"));
    }
    for (unit, status) in files {
        if unit.ends_with("@.service") || out.contains_key(&unit) {
            continue;
        }
        out.insert(unit.clone(), svc(&unit, "stopped", &status, "systemd"));
    }
}

/// `rc-status -s` (` sshd   [  started  ]`) + `rc-update show -v` (`sshd | boot default`).
pub fn parse_openrc(rc_status: &str, rc_update: &str, out: &mut Map<String, Value>) {
    let mut levels: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in rc_update.lines() {
        if let Some((n, r)) = l.split_once('|') {
            levels.insert(
                n.trim().to_string(),
                r.split_whitespace().map(str::to_string).collect(),
            );
        }
    }
    for l in rc_status.lines() {
        if !l.starts_with(' ') {
            continue;
        }
        let Some((name, rest)) = l.trim().split_once(char::is_whitespace) else {
            continue;
        };
        let raw = rest
            .trim()
            .trim_start_matches('[')
            .split_whitespace()
            .next()
            .unwrap_or("");
        let state = match raw {
            "started" => "running",
            "stopped" => "stopped",
            _ => "unknown",
        };
        let rl = levels.get(name).cloned().unwrap_or_default();
        let status = if rl.is_empty() { "disabled" } else { "enabled" };
        let mut v = svc(name, state, status, "openrc");
        v["runlevels"] = json!(rl);
        out.insert(name.to_string(), v);
    }
}

/// `service --status-all` (` [ + ]  cron`) with the `/etc/rcN.d` link names for status.
pub fn parse_sysv(status_all: &str, links: &str, out: &mut Map<String, Value>) {
    let mut starts: Vec<&str> = vec![];
    let mut any: Vec<&str> = vec![];
    for l in links.lines() {
        let l = l.trim();
        let Some((dir, file)) = l.rsplit_once('/') else {
            continue;
        };
        // `S01name`: the name follows the S/K and two digits.
        let Some(name) = file.get(3..).filter(|n| !n.is_empty()) else {
            continue;
        };
        any.push(name);
        if file.starts_with('S')
            && ["/etc/rc2.d", "/etc/rc3.d", "/etc/rc4.d", "/etc/rc5.d"].contains(&dir)
        {
            starts.push(name);
        }
    }
    for l in status_all.lines() {
        let t = l.trim_start();
        let Some(rest) = t.strip_prefix('[') else {
            continue;
        };
        let Some((mark, name)) = rest.split_once(']') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || out.contains_key(name) || out.contains_key(&format!("{name}.service"))
        {
            continue;
        }
        let state = match mark.trim() {
            "+" => "running",
            "-" => "stopped",
            _ => "unknown",
        };
        let status = if starts.contains(&name) {
            "enabled"
        } else if any.contains(&name) || !links.trim().is_empty() {
            "disabled"
        } else {
            "unknown"
        };
        out.insert(name.to_string(), svc(name, state, status, "sysv"));
    }
}

/// The probe: each init system whose tools the host has (systemd only when it runs, or the
/// `ansible_service_mgr` fact says systemd).
pub fn probe(force_systemd: bool) -> Sections {
    let mut s = Sections::new();
    let sd = if force_systemd {
        "command -v systemctl >/dev/null 2>&1"
    } else {
        "command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]"
    };
    s.add(
        "env",
        "LC_ALL=C; export LC_ALL; SYSTEMD_COLORS=0; export SYSTEMD_COLORS",
    );
    s.add(
        "sd.units",
        &format!("sd=; if {sd}; then sd=1; systemctl list-units --type=service --all --no-legend --no-pager --plain 2>/dev/null; fi"),
    );
    s.add(
        "sd.files",
        &format!("if {sd}; then systemctl list-unit-files --type=service --no-legend --no-pager 2>/dev/null; fi"),
    );
    s.add(
        "or.status",
        "if command -v rc-status >/dev/null 2>&1; then rc-status -s 2>/dev/null; fi",
    );
    s.add(
        "or.update",
        "if command -v rc-update >/dev/null 2>&1; then rc-update show -v 2>/dev/null; fi",
    );
    s.add(
        "sv.all",
        "if [ -z \"$sd\" ] && ! command -v rc-status >/dev/null 2>&1 && command -v service >/dev/null 2>&1; then service --status-all 2>&1; fi",
    );
    s.add(
        "sv.links",
        "for f in /etc/rc[0-6S].d/[SK][0-9][0-9]*; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo \"$f\"; fi; done",
    );
    s
}

/// All three parsers over the probe's sections.
pub fn parse(s: &BTreeMap<String, String>) -> Map<String, Value> {
    let sec = |k: &str| s.get(k).map(String::as_str).unwrap_or("");
    let mut out = Map::new();
    parse_systemd(sec("sd.units"), sec("sd.files"), &mut out);
    parse_openrc(sec("or.status"), sec("or.update"), &mut out);
    parse_sysv(sec("sv.all"), sec("sv.links"), &mut out);
    out
}

#[async_trait]
impl Module for ServiceFacts {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let force = backend_from_vars(ctx.vars) == Some(Backend::Systemd);
        let s = probe(force).run(ctx, "service_facts").await?;
        let services = parse(&s);
        if services.is_empty()
            && s.get("sd.units").is_none_or(|t| t.trim().is_empty())
            && s.get("sv.all").is_none_or(|t| t.trim().is_empty())
            && s.get("or.status").is_none_or(|t| t.trim().is_empty())
        {
            return Err(fail(
                ctx,
                "service_facts: found no service manager (systemctl, rc-status or service) on this host",
            ));
        }
        let mut result = Map::new();
        result.insert("ansible_facts".into(), json!({ "services": services }));
        Ok(Plan {
            result,
            ..Plan::default()
        })
    }

    async fn apply(&self, _ctx: &ModuleCtx<'_>, _plan: &Plan) -> Result<Map<String, Value>> {
        Ok(Map::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian 12's systemd 252, trimmed.
    const UNITS: &str = "\
apparmor.service                       loaded    active   exited  Load AppArmor profiles
cron.service                           loaded    active   running Regular background program processing daemon
dbus.service                           loaded    active   running D-Bus System Message Bus
emergency.service                      loaded    inactive dead    Emergency Shell
nfs-server.service                     not-found inactive dead    nfs-server.service
cups.service                           masked    inactive dead    cups.service
ssh.service                            loaded    failed   failed  OpenBSD Secure Shell server
";
    const FILES: &str = "\
apparmor.service                       enabled         enabled
cron.service                           enabled         enabled
dbus.service                           static          -
emergency.service                      static          -
getty@.service                         enabled         enabled
cups.service                           masked          enabled
ssh.service                            enabled         enabled
rsync.service                          disabled        enabled
";

    #[test]
    fn systemd_outputs() {
        let mut m = Map::new();
        parse_systemd(UNITS, FILES, &mut m);
        assert_eq!(
            m["cron.service"],
            json!({"name": "cron.service", "state": "running", "status": "enabled", "source": "systemd"})
        );
        assert_eq!(m["apparmor.service"]["state"], "stopped");
        assert_eq!(m["dbus.service"]["status"], "static");
        assert_eq!(m["nfs-server.service"]["status"], "unknown");
        assert_eq!(m["cups.service"]["status"], "masked");
        assert_eq!(m["ssh.service"]["state"], "stopped");
        assert_eq!(m["rsync.service"]["state"], "stopped");
        assert_eq!(m["rsync.service"]["status"], "disabled");
        assert!(!m.contains_key("getty@.service"));
    }

    #[test]
    fn openrc_outputs() {
        // Alpine 3.20: `rc-status -s` and `rc-update show -v`.
        let status = " acpid                                                             [  stopped  ]\n crond                                                             [  started  ]\n sshd                                                              [  started 00:12:03 (0) ]\n networking                                                        [  crashed  ]\n";
        let update = "                 acpid |\n                 crond |      default\n              bootmisc | boot\n                  sshd |      default\n            networking | boot\n";
        let mut m = Map::new();
        parse_openrc(status, update, &mut m);
        assert_eq!(m["crond"]["state"], "running");
        assert_eq!(m["crond"]["status"], "enabled");
        assert_eq!(m["crond"]["runlevels"], json!(["default"]));
        assert_eq!(m["acpid"]["state"], "stopped");
        assert_eq!(m["acpid"]["status"], "disabled");
        assert_eq!(m["sshd"]["state"], "running");
        assert_eq!(m["networking"]["state"], "unknown");
        assert_eq!(m["networking"]["source"], "openrc");
    }

    #[test]
    fn sysv_outputs() {
        // This machine's `service --status-all 2>&1` (Debian 12 container, no systemd).
        let all = " [ - ]  dbus\n [ ? ]  hwclock.sh\n [ - ]  postgresql\n [ - ]  procps\n [ + ]  ssh\n [ - ]  sudo\n [ - ]  ufw\n [ - ]  x11-common\n";
        let links = "/etc/rc0.d/K01postgresql\n/etc/rc2.d/S01dbus\n/etc/rc2.d/S01postgresql\n/etc/rc2.d/S01ssh\n/etc/rc2.d/S01sudo\n/etc/rc0.d/K01ufw\n/etc/rc2.d/K01ufw\n";
        let mut m = Map::new();
        parse_sysv(all, links, &mut m);
        assert_eq!(
            m["ssh"],
            json!({"name": "ssh", "state": "running", "status": "enabled", "source": "sysv"})
        );
        assert_eq!(m["hwclock.sh"]["state"], "unknown");
        assert_eq!(m["ufw"]["status"], "disabled");
        assert_eq!(m["dbus"]["state"], "stopped");
        assert_eq!(m.len(), 8);
    }

    #[test]
    fn probe_runs_here() {
        let s = probe(false);
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(s.script())
            .output()
            .unwrap();
        assert!(out.status.success());
        let _ = parse(&s.parse(&String::from_utf8(out.stdout).unwrap()));
    }
}
