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
    /// `--shard K/N`: this machine's part of the selected hosts.
    pub shard: Option<Shard>,
    pub forks: usize,
    pub ssh: SshOptions,
    pub r#become: bool,
    /// Asked once at start with `-K`; never printed, never put in argv.
    pub become_password: Option<Secret>,
    /// Where the vault passwords come from (see `crate::vault`).
    pub vault: VaultOptions,
    pub verbose: u8,
    pub quiet: bool,
    pub color: ColorChoice,
}

/// The vault passwords of a run: one asked at start with `--ask-vault-pass`, and password
/// files (or executables that print the password), read when vault data is first met. Each is
/// tried in turn; the first is the one `muster vault encrypt` encrypts with.
#[derive(Debug, Clone, Default)]
pub struct VaultOptions {
    pub password: Option<Secret>,
    pub password_files: Vec<PathBuf>,
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

/// `--shard K/N`: part K (1-based) of N. A host belongs to part `hash(name) mod N + 1`, where
/// the hash is the first 8 bytes of SHA-256 of its inventory name: the split depends on the
/// name only, so every machine (and every play of a run) agrees on it whatever the inventory
/// order, and each host lands in exactly one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: u64,
    pub n: u64,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = || {
            Error::Usage(format!(
                "--shard {s}: expected K/N with 1 ≤ K ≤ N, e.g. --shard 2/4 (in a Kubernetes \
                 Indexed Job: --shard $((JOB_COMPLETION_INDEX + 1))/N)"
            ))
        };
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let k: u64 = k.trim().parse().map_err(|_| bad())?;
        let n: u64 = n.trim().parse().map_err(|_| bad())?;
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }

    /// The part (1-based) a host name belongs to among `n`.
    pub fn part_of(name: &str, n: u64) -> u64 {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(name.as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        u64::from_be_bytes(b) % n + 1
    }

    pub fn contains(&self, name: &str) -> bool {
        Shard::part_of(name, self.n) == self.k
    }
}

/// A secret string whose Debug never shows it. Making one records it with
/// [`crate::secrets`], so every output of the run masks it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        let s = s.into();
        crate::secrets::register(&s);
        Secret(s)
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
        let vault = VaultOptions {
            password: if c.ask_vault_pass {
                Some(ask_vault_password()?)
            } else if c.vault_password_file.is_empty() {
                env_vault_password()
            } else {
                None
            },
            password_files: vault_password_files(c),
        };
        Ok(Config {
            inventory,
            inventory_explicit: !c.inventory.is_empty(),
            limit: c.limit.clone(),
            shard: c.shard.as_deref().map(Shard::parse).transpose()?,
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
            vault,
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

/// $MUSTER_VAULT_PASSWORD, the vault password itself (for CI systems that hand secrets over
/// in the environment); surrounding whitespace dropped, as from a password file.
fn env_vault_password() -> Option<Secret> {
    std::env::var("MUSTER_VAULT_PASSWORD")
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

/// `--vault-password-file` flags; without them (and without `--ask-vault-pass`), the files
/// named by $MUSTER_VAULT_PASSWORD_FILE and $ANSIBLE_VAULT_PASSWORD_FILE.
fn vault_password_files(c: &Common) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = c.vault_password_file.clone();
    if files.is_empty() && !c.ask_vault_pass {
        for var in ["MUSTER_VAULT_PASSWORD_FILE", "ANSIBLE_VAULT_PASSWORD_FILE"] {
            if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
                let p = PathBuf::from(v);
                if !files.contains(&p) {
                    files.push(p);
                }
            }
        }
    }
    files.into_iter().map(crate::vault::expand_home).collect()
}

/// Reads the vault password from the terminal, or one line of standard input when there is
/// no terminal (after the become password, when both are asked). Surrounding whitespace is
/// dropped, as Ansible does.
fn ask_vault_password() -> Result<Secret> {
    use std::io::IsTerminal;
    let p = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Vault password: ")
            .map_err(|e| Error::Usage(format!("could not read the vault password: {e}")))?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| {
            Error::Usage(format!("could not read the vault password from stdin: {e}"))
        })?;
        line
    };
    let p = p.trim();
    if p.is_empty() {
        return Err(Error::Usage("the vault password given is empty".into()));
    }
    Ok(Secret::new(p))
}

#[cfg(test)]
mod shard_tests {
    use super::Shard;

    #[test]
    fn shards_partition_hosts_evenly_and_refuse_bad_specs() {
        let n = 4;
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            let name = format!("web{i:04}.example.com");
            let parts: Vec<u64> = (1..=n)
                .filter(|&k| Shard { k, n }.contains(&name))
                .collect();
            assert_eq!(parts.len(), 1, "{name} in {parts:?}");
            counts[(parts[0] - 1) as usize] += 1;
        }
        for c in counts {
            assert!((900..=1100).contains(&c), "{counts:?}");
        }
        assert_eq!(Shard::parse(" 2/4 ").unwrap(), Shard { k: 2, n: 4 });
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "1/2/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
