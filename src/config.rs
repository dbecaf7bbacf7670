//! The resolved settings a run works with, made once from the raw flags.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{ColorChoice, Common, HostKeyChecking};
use crate::error::{Error, Result};

/// Settings shared by every subcommand, resolved from flags and the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Inventory sources; empty means the implicit localhost.
    pub inventory: Vec<PathBuf>,
    /// `-i` was given (so ansible.cfg's inventory does not apply).
    pub inventory_explicit: bool,
    pub limit: Option<String>,
    pub forks: usize,
    pub ssh: SshOptions,
    pub r#become: bool,
    /// Asked once at start with `-K`; never printed, never put in argv.
    pub become_password: Option<Secret>,
    pub verbose: u8,
    pub quiet: bool,
    pub color: ColorChoice,
}

/// What every SSH connection of a run shares (inventory variables override per host).
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub user: Option<String>,
    pub private_key: Option<PathBuf>,
    /// None means ~/.ssh/known_hosts.
    pub known_hosts: Option<PathBuf>,
    pub host_key_checking: HostKeyChecking,
    pub connect_timeout: Duration,
    /// None means no limit.
    pub command_timeout: Option<Duration>,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            user: None,
            private_key: None,
            known_hosts: None,
            host_key_checking: HostKeyChecking::Strict,
            connect_timeout: Duration::from_secs(10),
            command_timeout: None,
        }
    }
}

/// A secret string whose Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn seconds(flag: &str, v: f64) -> Result<Duration> {
    if !v.is_finite() || v < 0.0 {
        return Err(Error::Usage(format!(
            "{flag} must be a number of seconds, 0 or more (got {v})"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

impl Config {
    pub fn from_common(c: &Common) -> Result<Config> {
        if c.forks == 0 {
            return Err(Error::Usage("--forks must be at least 1".into()));
        }
        let connect_timeout = seconds("--connect-timeout", c.connect_timeout)?;
        if connect_timeout.is_zero() {
            return Err(Error::Usage("--connect-timeout must be more than 0".into()));
        }
        let command_timeout = seconds("--timeout", c.timeout)?;
        let mut inventory = c.inventory.clone();
        if inventory.is_empty() {
            let default = PathBuf::from("inventory");
            if default.exists() {
                inventory.push(default);
            }
        }
        let become_password = if c.ask_become_pass {
            Some(ask_become_password()?)
        } else {
            None
        };
        Ok(Config {
            inventory,
            inventory_explicit: !c.inventory.is_empty(),
            limit: c.limit.clone(),
            forks: c.forks,
            ssh: SshOptions {
                user: c.user.clone(),
                private_key: c.private_key.clone(),
                known_hosts: c.known_hosts.clone(),
                host_key_checking: c.host_key_checking,
                connect_timeout,
                command_timeout: (!command_timeout.is_zero()).then_some(command_timeout),
            },
            r#become: c.r#become || c.ask_become_pass,
            become_password,
            verbose: c.verbose,
            quiet: c.quiet,
            color: c.color,
        })
    }
}

/// Reads the become password from the terminal, or one line of standard input when there is
/// no terminal (so CI can pipe it in).
fn ask_become_password() -> Result<Secret> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password("BECOME password: ")
            .map_err(|e| Error::Usage(format!("could not read the become password: {e}")))?;
        return Ok(Secret::new(p));
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| {
        Error::Usage(format!(
            "could not read the become password from stdin: {e}"
        ))
    })?;
    Ok(Secret::new(line.trim_end_matches(['\r', '\n'])))
}
