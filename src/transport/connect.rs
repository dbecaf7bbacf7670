//! From a host's inventory variables, the flags and `~/.ssh/config` to an open transport:
//! which connection type, address, port, user, keys, jump hosts and escalation apply.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::local::LocalTransport;
use super::r#become::{Become, BecomeSpec, Method};
use super::ssh::{SshSettings, SshTarget, SshTransport};
use super::ssh_config::SshConfig;
use super::Transport;
use crate::cli::HostKeyChecking;
use crate::config::{Config, Secret};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Ssh,
    Local,
}

/// Everything needed to reach one host.
#[derive(Debug, Clone)]
pub struct HostConn {
    pub name: String,
    pub connection: Connection,
    pub ssh: SshTarget,
    /// Escalation for every command (`ansible_become` or `-b`), else None.
    pub r#become: Option<BecomeSpec>,
    /// How to escalate when a play or task asks for it (`become: true`), whether or not the
    /// host escalates by default: the inventory's `ansible_become_method`, `_user` and
    /// `_password` (or `-K`).
    pub become_vars: BecomeVars,
    /// The target's shell is POSIX (not `ansible_shell_type: powershell` or `cmd`): commands
    /// may share a long-lived `/bin/sh`.
    pub posix_shell: bool,
}

fn var<'a>(vars: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .find_map(|n| vars.get(*n))
        .filter(|v| !v.is_null())
}

fn var_str(vars: &Map<String, Value>, names: &[&str]) -> Option<String> {
    var(vars, names).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Ansible's boolean reading of a variable (YAML 1.1 spellings included).
pub fn var_bool(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "yes" | "y" | "true" | "on" | "1"
        ),
        _ => false,
    }
}

fn expand_tilde(p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(home) = dirs::home_dir() {
            return home.join(rest);
        }
    }
    PathBuf::from(p)
}

fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| {
            // SAFETY-free fallback: ask the system for the name of our uid.
            let uid = unsafe { libc::getuid() };
            if uid == 0 {
                "root".into()
            } else {
                uid.to_string()
            }
        })
}

/// Parses `[user@]host[:port]` (and `[v6]:port`) of a ProxyJump entry.
fn parse_jump(spec: &str) -> (Option<String>, String, Option<u16>) {
    let (user, rest) = match spec.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, spec),
    };
    if let Some(stripped) = rest.strip_prefix('[') {
        if let Some((h, tail)) = stripped.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (user, h.to_string(), port);
        }
    }
    match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (user, h.to_string(), Some(port)),
            Err(_) => (user, rest.to_string(), None),
        },
        _ => (user, rest.to_string(), None),
    }
}

/// Builds an SSH target for `alias` as OpenSSH would: explicit values first, then ssh config.
fn ssh_target(
    name: &str,
    alias: &str,
    user: Option<String>,
    port: Option<u16>,
    keys: Vec<PathBuf>,
    ssh_config: &SshConfig,
    depth: usize,
) -> Result<SshTarget> {
    let cfg = ssh_config.resolve(alias);
    let mut identity_files = keys;
    identity_files.extend(cfg.identity_files.iter().cloned());
    let mut jumps = Vec::new();
    if let Some(pj) = cfg
        .proxy_jump
        .as_deref()
        .filter(|p| !p.eq_ignore_ascii_case("none"))
    {
        if depth > 8 {
            return Err(Error::input(format!(
                "ProxyJump for `{alias}` nests more than 8 levels deep; is there a loop in ~/.ssh/config?"
            )));
        }
        for hop in pj.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (u, h, p) = parse_jump(hop);
            let mut t = ssh_target(
                &format!("{name} (jump {h})"),
                &h,
                u,
                p,
                vec![],
                ssh_config,
                depth + 1,
            )?;
            // A jump's own jumps come before it.
            let inner = std::mem::take(&mut t.jumps);
            jumps.extend(inner);
            jumps.push(t);
        }
    }
    Ok(SshTarget {
        name: name.to_string(),
        address: cfg.hostname.clone().unwrap_or_else(|| alias.to_string()),
        port: port.or(cfg.port).unwrap_or(22),
        user: user.or(cfg.user.clone()).unwrap_or_else(local_user),
        identity_files,
        identities_only: cfg.identities_only.unwrap_or(false),
        jumps,
    })
}

/// A host's escalation settings from its inventory variables and the run's flags.
#[derive(Debug, Clone, Default)]
pub struct BecomeVars {
    pub method: Option<String>,
    pub user: Option<String>,
    pub password: Option<Secret>,
}

impl BecomeVars {
    /// The escalation these settings describe, sudo to root unless they say otherwise.
    pub fn spec(&self, host: &str) -> Result<BecomeSpec> {
        let method_name = self.method.clone().unwrap_or_else(|| "sudo".into());
        let method = Method::parse(&method_name).ok_or_else(|| {
            Error::input(format!(
                "host `{host}`: become method `{method_name}` is not supported"
            ))
            .with_help("use sudo, su or doas")
        })?;
        Ok(BecomeSpec {
            method,
            user: self.user.clone().unwrap_or_else(|| "root".into()),
            password: self.password.clone(),
        })
    }
}

impl HostConn {
    /// Resolves a host from its merged inventory variables and the run's flags.
    pub fn from_vars(
        name: &str,
        vars: &Map<String, Value>,
        config: &Config,
        ssh_config: &SshConfig,
    ) -> Result<HostConn> {
        let connection_name = var_str(vars, &["ansible_connection"]).map(|c| {
            c.trim_start_matches("ansible.builtin.")
                .trim_start_matches("ansible.legacy.")
                .to_string()
        });
        let connection = match connection_name.as_deref() {
            None | Some("ssh") | Some("smart") | Some("paramiko") => {
                // Ansible runs `localhost` locally only when it is the implicit one; an
                // inventory entry for localhost without ansible_connection goes over SSH.
                Connection::Ssh
            }
            Some("local") => Connection::Local,
            Some(other) => {
                return Err(Error::input(format!(
                    "host `{name}`: ansible_connection `{other}` is not supported"
                ))
                .with_help("use ssh or local"))
            }
        };
        let alias =
            var_str(vars, &["ansible_host", "ansible_ssh_host"]).unwrap_or(name.to_string());
        let port = match var(vars, &["ansible_port", "ansible_ssh_port"]) {
            None => None,
            Some(v) => {
                let p = match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                match p {
                    Some(p @ 1..=65535) => Some(p as u16),
                    _ => {
                        return Err(Error::input(format!(
                            "host `{name}`: ansible_port must be a port number 1-65535, not {v}"
                        )))
                    }
                }
            }
        };
        // Ansible: the inventory's ansible_user beats -u; -u beats ssh config.
        let user = var_str(vars, &["ansible_user", "ansible_ssh_user"]).or(config.ssh.user.clone());
        let mut keys = Vec::new();
        if let Some(k) = var_str(
            vars,
            &["ansible_ssh_private_key_file", "ansible_private_key_file"],
        ) {
            keys.push(expand_tilde(&k));
        } else if let Some(k) = &config.ssh.private_key {
            keys.push(k.clone());
        }
        let ssh = ssh_target(name, &alias, user, port, keys, ssh_config, 0)?;

        let become_on = var(vars, &["ansible_become"])
            .map(var_bool)
            .unwrap_or(false)
            || config.r#become;
        // Read whether or not escalation is on by default: a play's `become: true` uses them,
        // and a password read here is registered for masking either way.
        let become_vars = BecomeVars {
            method: var_str(vars, &["ansible_become_method"]),
            user: var_str(vars, &["ansible_become_user"]),
            password: config.become_password.clone().or_else(|| {
                var_str(vars, &["ansible_become_password", "ansible_become_pass"]).map(Secret::new)
            }),
        };
        let r#become = if become_on {
            Some(become_vars.spec(name)?)
        } else {
            None
        };
        let posix_shell = !matches!(
            var_str(vars, &["ansible_shell_type"]).as_deref(),
            Some("powershell" | "cmd")
        );
        Ok(HostConn {
            name: name.to_string(),
            connection,
            ssh,
            r#become,
            become_vars,
            posix_shell,
        })
    }
}

/// The known_hosts files a run trusts: `--known-hosts`, else the user's and the system's.
pub fn known_hosts_paths(config: &Config) -> Vec<PathBuf> {
    match &config.ssh.known_hosts {
        Some(p) => vec![p.clone()],
        None => {
            let mut v = Vec::new();
            if let Some(home) = dirs::home_dir() {
                v.push(home.join(".ssh/known_hosts"));
                v.push(home.join(".ssh/known_hosts2"));
            }
            v.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
            v
        }
    }
}

/// Reads the run's known_hosts files once before any host is contacted, so that a damaged
/// line is an input error (exit 1, at its file:line:col) rather than every host failing.
pub fn check_known_hosts(config: &Config) -> Result<()> {
    for path in known_hosts_paths(config) {
        super::known_hosts::KnownHosts::load(&path)?;
    }
    Ok(())
}

/// The SSH settings of a run: which known_hosts files, how strict, which timeouts.
pub fn ssh_settings(config: &Config) -> SshSettings {
    let known_hosts = known_hosts_paths(config);
    if config.ssh.host_key_checking == HostKeyChecking::Off {
        eprintln!(
            "WARNING: --host-key-checking off: host keys are NOT verified on this run; \
             a machine in the middle could read everything sent, passwords included"
        );
    }
    SshSettings {
        known_hosts,
        checking: config.ssh.host_key_checking,
        connect_timeout: config.ssh.connect_timeout,
        command_timeout: config.ssh.command_timeout,
    }
}

/// Opens the transport for a host, escalation wrapped around it when asked for.
pub async fn connect(conn: &HostConn, settings: Arc<SshSettings>) -> Result<Arc<dyn Transport>> {
    let base: Arc<dyn Transport> = match conn.connection {
        Connection::Local => Arc::new(LocalTransport::new(&conn.name, settings.command_timeout)),
        Connection::Ssh => {
            let t = SshTransport::connect(&conn.ssh, settings).await?;
            t.set_posix_shell(conn.posix_shell);
            t
        }
    };
    Ok(match &conn.r#become {
        Some(spec) => Arc::new(Become::new(base, spec.clone())),
        None => base,
    })
}

/// The ssh config a run reads: `~/.ssh/config` unless HOME has none.
pub fn load_ssh_config() -> Result<SshConfig> {
    SshConfig::load_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_specs() {
        assert_eq!(parse_jump("bastion"), (None, "bastion".into(), None));
        assert_eq!(
            parse_jump("ops@bastion:2222"),
            (Some("ops".into()), "bastion".into(), Some(2222))
        );
        assert_eq!(parse_jump("[::1]:2200"), (None, "::1".into(), Some(2200)));
    }

    #[test]
    fn ansible_booleans() {
        for t in ["yes", "True", "on", "1", "true"] {
            assert!(var_bool(&Value::String(t.into())), "{t}");
        }
        for f in ["no", "False", "off", "0", ""] {
            assert!(!var_bool(&Value::String(f.into())), "{f}");
        }
    }
}
