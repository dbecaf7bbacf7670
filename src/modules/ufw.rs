//! `ufw`: the Uncomplicated Firewall, with the arguments of Ansible's community.general.ufw.
//!
//! Plan is one read-only exec: ufw.conf (enabled, log level), /etc/default/ufw (default
//! policies), `ufw status verbose` (is the firewall loaded now), `ufw show added` (the rules,
//! also while inactive) and, per rule, `ufw --dry-run RULE`: ufw itself says whether the rule
//! already exists ("Skipping adding existing rule"), so identity is ufw's own, not a guess at
//! its normal form. Apply runs exactly the planned ufw commands.
//!
//! Order within one task: reset, default, logging, rule, then enable/disable/reload, so a task
//! that sets `default: deny` and `state: enabled` together never loads a half-made ruleset.
//! `insert` places a new rule; a rule that exists anywhere is in sync (its position is not
//! compared). `reloaded` and `reset` always change, as in Ansible.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::de_opt_bool;
use super::fileops::{build_args, de_opt_str, fail};
use super::sysutil::{self, other, state_obj, strs, Sections};
use super::{Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::{join, quote};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UfwArgs {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default, alias = "policy")]
    pub default: Option<String>,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub logging: Option<String>,
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default, alias = "port", deserialize_with = "de_opt_str")]
    pub to_port: Option<String>,
    #[serde(default, alias = "protocol")]
    pub proto: Option<String>,
    #[serde(default, alias = "src", alias = "from")]
    pub from_ip: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub from_port: Option<String>,
    #[serde(default, alias = "dest", alias = "to")]
    pub to_ip: Option<String>,
    #[serde(default, alias = "if")]
    pub interface: Option<String>,
    #[serde(default)]
    pub interface_in: Option<String>,
    #[serde(default)]
    pub interface_out: Option<String>,
    #[serde(default, alias = "app")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub delete: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub route: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub log: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub insert: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

pub const UFW_ARGS: &[&str] = &[
    "state",
    "default",
    "policy",
    "direction",
    "logging",
    "rule",
    "to_port",
    "port",
    "proto",
    "protocol",
    "from_ip",
    "src",
    "from",
    "from_port",
    "to_ip",
    "dest",
    "to",
    "interface",
    "if",
    "interface_in",
    "interface_out",
    "name",
    "app",
    "delete",
    "route",
    "log",
    "insert",
    "comment",
];

/// The validated task: what to set, each piece optional.
pub struct Ufw {
    state: Option<String>,
    /// (policy, direction): `deny`, `incoming`.
    default: Option<(String, String)>,
    logging: Option<String>,
    /// The rule's ufw words without `delete`/`insert`, e.g. `allow in proto tcp to any port 22`.
    rule: Option<Vec<String>>,
    delete: bool,
    insert: Option<u32>,
}

fn one_of(what: &str, v: &str, allowed: &[&str]) -> std::result::Result<(), String> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "ufw: argument `{what}` must be one of {}, got {v}",
            allowed.join(", ")
        ))
    }
}

/// A word that goes to ufw as one argument: no whitespace or control characters (ufw splits
/// nothing itself, but such words are never valid addresses, ports or names).
fn word(what: &str, v: &str) -> std::result::Result<String, String> {
    let v = v.trim();
    if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "ufw: argument `{what}`: `{v}` is not a single word"
        ));
    }
    Ok(v.to_string())
}

/// The rule's words, in ufw's grammar:
/// `[route] RULE [in|out [on IF]] [log] [proto P] from A [port P|app N] to B [port P|app N] [comment C]`.
pub fn rule_words(a: &UfwArgs) -> std::result::Result<Option<Vec<String>>, String> {
    let Some(rule) = a.rule.as_deref() else {
        let ruleish = a.to_port.is_some()
            || a.from_port.is_some()
            || a.from_ip.is_some()
            || a.to_ip.is_some()
            || a.proto.is_some()
            || a.name.is_some()
            || a.interface.is_some()
            || a.interface_in.is_some()
            || a.interface_out.is_some()
            || a.comment.is_some()
            || a.insert.is_some()
            || a.delete == Some(true)
            || a.route == Some(true);
        if ruleish {
            return Err("ufw: rule arguments (port, from_ip, proto, ...) need `rule`".into());
        }
        return Ok(None);
    };
    one_of("rule", rule, &["allow", "deny", "limit", "reject"])?;
    let mut w: Vec<String> = vec![];
    let route = a.route == Some(true);
    if route {
        w.push("route".into());
    }
    w.push(rule.into());
    let dir = match a.direction.as_deref() {
        None => None,
        Some(d @ ("in" | "out")) => Some(d.to_string()),
        Some("incoming") => Some("in".into()),
        Some("outgoing") => Some("out".into()),
        Some(d) => {
            return Err(format!(
                "ufw: argument `direction` of a rule must be in or out, got {d}"
            ))
        }
    };
    if a.interface.is_some() && (a.interface_in.is_some() || a.interface_out.is_some()) {
        return Err("ufw: `interface` cannot be combined with interface_in/interface_out".into());
    }
    if a.interface_in.is_some() || a.interface_out.is_some() {
        if dir.is_some() {
            return Err(
                "ufw: `direction` cannot be combined with interface_in/interface_out".into(),
            );
        }
        if let Some(i) = &a.interface_in {
            w.extend(["in".into(), "on".into(), word("interface_in", i)?]);
        }
        if let Some(i) = &a.interface_out {
            w.extend(["out".into(), "on".into(), word("interface_out", i)?]);
        }
    } else {
        if let Some(d) = &dir {
            w.push(d.clone());
        }
        if let Some(i) = &a.interface {
            if dir.is_none() {
                w.push("in".into());
            }
            w.extend(["on".into(), word("interface", i)?]);
        }
    }
    if a.log == Some(true) {
        w.push("log".into());
    }
    let proto = a.proto.as_deref().map(str::trim).unwrap_or("any");
    one_of(
        "proto",
        proto,
        &["any", "tcp", "udp", "ipv6", "esp", "ah", "gre", "igmp"],
    )?;
    if proto != "any" {
        if a.name.is_some() {
            return Err("ufw: `proto` cannot be combined with `name` (an app profile)".into());
        }
        w.extend(["proto".into(), proto.into()]);
    }
    w.push("from".into());
    w.push(word("from_ip", a.from_ip.as_deref().unwrap_or("any"))?);
    if let Some(p) = &a.from_port {
        w.extend(["port".into(), word("from_port", p)?]);
    }
    w.push("to".into());
    w.push(word("to_ip", a.to_ip.as_deref().unwrap_or("any"))?);
    if let Some(p) = &a.to_port {
        if a.name.is_some() {
            return Err("ufw: `port` cannot be combined with `name` (an app profile)".into());
        }
        w.extend(["port".into(), word("to_port", p)?]);
    }
    if let Some(n) = &a.name {
        if n.trim().is_empty() || n.contains('\n') {
            return Err("ufw: argument `name` must be an application profile name".into());
        }
        w.extend(["app".into(), n.trim().to_string()]);
    }
    if let Some(c) = &a.comment {
        if c.contains('\n') || c.contains('\'') {
            return Err("ufw: argument `comment` must be one line without single quotes".into());
        }
        w.extend(["comment".into(), c.clone()]);
    }
    Ok(Some(w))
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: UfwArgs = build_args("ufw", args)?;
    if let Some(s) = &a.state {
        one_of("state", s, &["enabled", "disabled", "reloaded", "reset"])?;
    }
    let default = match &a.default {
        None => None,
        Some(p) => {
            one_of("default", p, &["allow", "deny", "reject"])?;
            let d = a.direction.as_deref().unwrap_or("incoming");
            one_of("direction", d, &["incoming", "outgoing", "routed"])?;
            if a.rule.is_some() {
                return Err("ufw: `default` and `rule` cannot be used in one task".into());
            }
            Some((p.clone(), d.to_string()))
        }
    };
    let logging = match &a.logging {
        None => None,
        Some(l) => {
            let l = match l.as_str() {
                "True" | "yes" | "true" => "on".to_string(),
                "False" | "no" | "false" => "off".to_string(),
                o => o.to_string(),
            };
            one_of(
                "logging",
                &l,
                &["on", "off", "low", "medium", "high", "full"],
            )?;
            Some(l)
        }
    };
    let rule = rule_words(&a)?;
    let insert = match &a.insert {
        None => None,
        Some(n) => match n.trim().parse::<u32>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                return Err(format!(
                    "ufw: argument `insert` must be a number >= 1, got {n}"
                ))
            }
        },
    };
    if a.state.is_none() && default.is_none() && logging.is_none() && rule.is_none() {
        return Err("ufw: one of state, default, logging or rule is required".into());
    }
    Ok(Box::new(Ufw {
        state: a.state.clone(),
        default,
        logging,
        rule,
        delete: a.delete == Some(true),
        insert,
    }))
}

pub static UFW: super::ModuleDef = super::ModuleDef {
    name: "ufw",
    args: UFW_ARGS,
    free_form: false,
    build,
};

/// `KEY=value` or `KEY="value"` from a shell-style config file.
pub fn conf_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.trim().split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').trim_matches('\'').to_string())
    })
}

/// ufw's word for an iptables policy in /etc/default/ufw.
pub fn policy_word(iptables: &str) -> &'static str {
    match iptables {
        "ACCEPT" => "allow",
        "REJECT" => "reject",
        _ => "deny",
    }
}

/// The file key of a default policy's direction.
fn policy_key(direction: &str) -> &'static str {
    match direction {
        "outgoing" => "DEFAULT_OUTPUT_POLICY",
        "routed" => "DEFAULT_FORWARD_POLICY",
        _ => "DEFAULT_INPUT_POLICY",
    }
}

/// Whether `logging: want` changes a log level that is `now` (ufw.conf's LOGLEVEL), as
/// Ansible judges it: `on` is satisfied by any level but off.
pub fn logging_changes(now: &str, want: &str) -> bool {
    match want {
        "off" => now != "off",
        "on" => now == "off",
        level => now != level,
    }
}

/// What `ufw --dry-run RULE` said: the rule exists (every line "Skipping ..."), or not.
pub fn dry_run_exists(out: &str) -> bool {
    let mut skipped = false;
    for l in out.lines() {
        let l = l.trim();
        if l.starts_with("Skipping") {
            skipped = true;
        } else if l.starts_with("Rules updated") {
            return false;
        }
    }
    skipped
}

/// The status line's word: active or inactive.
pub fn status_word(status: &str) -> Option<&'static str> {
    let first = status.lines().find(|l| l.starts_with("Status:"))?;
    match first.trim_start_matches("Status:").trim() {
        "active" => Some("active"),
        _ => Some("inactive"),
    }
}

fn ufw_cmd(words: &[String]) -> String {
    format!("ufw {}", join(words))
}

#[async_trait]
impl Module for Ufw {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let mut s = Sections::new();
        s.add(
            "which",
            "PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH; command -v ufw || echo missing",
        );
        s.add("conf", "cat /etc/ufw/ufw.conf 2>/dev/null");
        s.add("defaults", "cat /etc/default/ufw 2>/dev/null");
        s.add(
            "status",
            "PATH=\"$PATH:/usr/sbin:/sbin\" ufw status verbose 2>&1; echo \"rc=$?\"",
        );
        s.add(
            "added",
            "PATH=\"$PATH:/usr/sbin:/sbin\" ufw show added 2>&1",
        );
        if let Some(w) = &self.rule {
            // The add form tells whether the rule exists, for delete too (ufw's dry-run of a
            // delete does not say when there is nothing to delete).
            let mut probe: Vec<String> = w.clone();
            if let Some(i) = probe.iter().position(|x| x == "comment") {
                if self.delete {
                    probe.truncate(i);
                }
            }
            s.add(
                "dry",
                &format!(
                    "PATH=\"$PATH:/usr/sbin:/sbin\" ufw --dry-run {} 2>&1; echo \"rc=$?\"",
                    join(&probe)
                ),
            );
        }
        let s = s.run(ctx, "ufw").await?;
        if s.get("which").map(|w| w.trim()) == Some("missing") {
            return Err(fail(
                ctx,
                "ufw: the ufw command is not installed on this host",
            ));
        }
        let status = s.get("status").cloned().unwrap_or_default();
        if !status.trim_end().ends_with("rc=0") {
            return Err(fail(
                ctx,
                format!(
                    "ufw: `ufw status verbose` failed: {}",
                    status
                        .lines()
                        .filter(|l| !l.starts_with("rc="))
                        .collect::<Vec<_>>()
                        .join(" ")
                        .trim()
                ),
            ));
        }
        let conf = s.get("conf").cloned().unwrap_or_default();
        let defaults = s.get("defaults").cloned().unwrap_or_default();
        let active = status_word(&status) == Some("active");
        let rules: Vec<String> = s
            .get("added")
            .map(|t| {
                t.lines()
                    .filter(|l| l.starts_with("ufw "))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();

        let mut changes = vec![];
        let mut cmds: Vec<String> = vec![];
        let state = self.state.as_deref();
        if state == Some("reset") {
            changes.push(other("state", None, Some("reset".into())));
            cmds.push("ufw --force reset".into());
        }
        if let Some((policy, dir)) = &self.default {
            let now = conf_value(&defaults, policy_key(dir)).map(|p| policy_word(&p).to_string());
            // After a reset the defaults are ufw's own again; plan against those.
            let now = if state == Some("reset") { None } else { now };
            if now.as_deref() != Some(policy.as_str()) {
                changes.push(other(&format!("default {dir}"), now, Some(policy.clone())));
                cmds.push(ufw_cmd(&["default".into(), policy.clone(), dir.clone()]));
            }
        }
        if let Some(want) = &self.logging {
            let now = conf_value(&conf, "LOGLEVEL").unwrap_or_else(|| "low".into());
            if state == Some("reset") || logging_changes(&now, want) {
                changes.push(other("logging", Some(now), Some(want.clone())));
                cmds.push(ufw_cmd(&["logging".into(), want.clone()]));
            }
        }
        if let Some(w) = &self.rule {
            let dry = s.get("dry").cloned().unwrap_or_default();
            if !dry.trim_end().ends_with("rc=0") {
                let msg: Vec<&str> = dry.lines().filter(|l| !l.starts_with("rc=")).collect();
                return Err(fail(
                    ctx,
                    format!(
                        "ufw: {} is not a rule ufw takes: {}",
                        ufw_cmd(w),
                        msg.join(" ").trim()
                    ),
                ));
            }
            let exists = state != Some("reset") && dry_run_exists(&dry);
            let text = ufw_cmd(w);
            if self.delete && exists {
                changes.push(other("rule", Some(text.clone()), None));
                let mut c = vec!["delete".to_string()];
                c.extend(w.iter().take_while(|x| *x != "comment").cloned());
                cmds.push(ufw_cmd(&c));
            } else if !self.delete && !exists {
                changes.push(other("rule", None, Some(text)));
                let mut c = vec![];
                if let Some(n) = self.insert {
                    c.push("insert".to_string());
                    c.push(n.to_string());
                }
                c.extend(w.iter().cloned());
                cmds.push(ufw_cmd(&c));
            }
        }
        let enabled_conf = conf_value(&conf, "ENABLED").as_deref() == Some("yes");
        let now_state = if active { "active" } else { "inactive" };
        match state {
            Some("enabled") if !active || !enabled_conf => {
                changes.push(other(
                    "state",
                    Some(now_state.into()),
                    Some("active".into()),
                ));
                cmds.push("ufw --force enable".into());
            }
            Some("disabled") if active || enabled_conf => {
                changes.push(other(
                    "state",
                    Some(now_state.into()),
                    Some("inactive".into()),
                ));
                cmds.push("ufw disable".into());
            }
            Some("reloaded") => {
                changes.push(other(
                    "state",
                    Some(now_state.into()),
                    Some("reloaded".into()),
                ));
                cmds.push("ufw reload".into());
            }
            _ => {}
        }
        let mut result = Map::new();
        result.insert("status".into(), json!(now_state));
        result.insert("rules".into(), json!(rules));
        if changes.is_empty() {
            return Ok(Plan {
                result,
                ..Plan::default()
            });
        }
        result.insert("commands".into(), json!(cmds));
        Ok(Plan {
            changes,
            result,
            state: Some(json!({ "commands": cmds })),
            ..Plan::default()
        })
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        let st = state_obj(&plan.state);
        let cmds = strs(st.get("commands"));
        if cmds.is_empty() {
            return Err(fail(
                ctx,
                "internal: apply called without this module's plan",
            ));
        }
        // Every command's words were quoted when the plan was made; stop at the first failure.
        let mut script = String::from("PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH\n");
        for c in &cmds {
            script.push_str(&format!(
                "{c} >/dev/null || {{ echo {} >&2; exit 1; }}\n",
                quote(&format!("(while running: {c})"))
            ));
        }
        sysutil::run(ctx, "ufw", &script, None).await?;
        Ok(plan.result.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: Value) -> String {
        let a: UfwArgs = build_args("ufw", v.as_object().unwrap()).unwrap();
        rule_words(&a).unwrap().unwrap().join(" ")
    }

    #[test]
    fn rules_in_ufw_grammar() {
        assert_eq!(
            words(json!({"rule": "allow", "port": 22, "proto": "tcp"})),
            "allow proto tcp from any to any port 22"
        );
        assert_eq!(
            words(json!({"rule": "limit", "name": "OpenSSH"})),
            "limit from any to any app OpenSSH"
        );
        assert_eq!(
            words(
                json!({"rule": "allow", "src": "10.0.0.0/8", "direction": "in", "interface": "eth0",
                         "to_port": "53", "proto": "udp", "comment": "dns"})
            ),
            "allow in on eth0 proto udp from 10.0.0.0/8 to any port 53 comment dns"
        );
        assert_eq!(
            words(
                json!({"rule": "allow", "route": true, "interface_in": "eth0", "interface_out": "eth1"})
            ),
            "route allow in on eth0 out on eth1 from any to any"
        );
    }

    #[test]
    fn bad_arguments_are_named() {
        let b = |v: Value| build(v.as_object().unwrap()).err().unwrap_or_default();
        assert!(b(json!({"rule": "permit"})).contains("`rule`"));
        assert!(b(json!({"port": 22})).contains("need `rule`"));
        assert!(b(json!({"default": "deny", "direction": "in"})).contains("`direction`"));
        assert!(b(json!({"rule": "allow", "port": "22 80"})).contains("`to_port`"));
        assert!(b(json!({"rule": "allow", "insert": 0})).contains("`insert`"));
        assert!(b(json!({})).contains("required"));
        assert!(b(json!({"logging": "loud"})).contains("`logging`"));
        assert!(build(json!({"logging": true}).as_object().unwrap()).is_ok());
    }

    #[test]
    fn reading_ufw() {
        let d = "# comment\nDEFAULT_INPUT_POLICY=\"DROP\"\nDEFAULT_OUTPUT_POLICY=\"ACCEPT\"\n";
        assert_eq!(
            conf_value(d, "DEFAULT_INPUT_POLICY").as_deref(),
            Some("DROP")
        );
        assert_eq!(policy_word("DROP"), "deny");
        assert_eq!(policy_word("ACCEPT"), "allow");
        assert!(!logging_changes("medium", "on"));
        assert!(logging_changes("off", "on"));
        assert!(logging_changes("low", "high"));
        assert!(!logging_changes("off", "off"));
        assert!(dry_run_exists(
            "Skipping adding existing rule\nSkipping adding existing rule (v6)\nrc=0\n"
        ));
        assert!(!dry_run_exists(
            "### tuple ###\nRules updated\nRules updated (v6)\n"
        ));
        assert!(!dry_run_exists(
            "Skipping adding existing rule\nRules updated (v6)\n"
        ));
        assert_eq!(status_word("Status: inactive\n"), Some("inactive"));
        assert_eq!(
            status_word("Status: active\nLogging: on (low)\n"),
            Some("active")
        );
    }
}
