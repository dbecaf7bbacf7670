//! The command-line contract of DESIGN.md, as clap derive types.
//!
//! Raw flags live here; `Config` (in `config.rs`) is what the rest of the program reads.
//! Shared flags are global, so they may stand before or after the subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "muster",
    version,
    about = "Agentless configuration and fleet security-compliance over SSH",
    long_about = "muster applies Ansible-style playbooks and audits security policies over SSH \
                  across an Ansible inventory.\n\nExit codes: 0 ok, 1 usage or input error, \
                  2 drift or non-compliance, 3 incomplete (unreachable host or error), 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand shares.
#[derive(Debug, Args, Clone, Default)]
pub struct Common {
    /// Inventory file or directory (repeatable). Default: ./inventory if present, else the implicit localhost.
    #[arg(short = 'i', long = "inventory", global = true, value_name = "INV")]
    pub inventory: Vec<PathBuf>,
    /// Hosts to act on: Ansible patterns (`web:&prod:!web3`, globs, `~regex`, `@retryfile`).
    #[arg(short = 'l', long = "limit", global = true, value_name = "PATTERN")]
    pub limit: Option<String>,
    /// Only this machine's part of the selected hosts: K of N disjoint parts (1 ≤ K ≤ N),
    /// split by a hash of each host name, the same on every machine. Default: $MUSTER_SHARD.
    #[arg(long, global = true, value_name = "K/N", env = "MUSTER_SHARD")]
    pub shard: Option<String>,
    /// Hosts in flight at once.
    #[arg(
        short = 'f',
        long = "forks",
        global = true,
        default_value_t = 50,
        value_name = "N"
    )]
    pub forks: usize,
    /// Remote user (overrides ssh config; inventory `ansible_user` wins per host).
    #[arg(short = 'u', long = "user", global = true)]
    pub user: Option<String>,
    /// Private key file for SSH authentication.
    #[arg(long = "private-key", global = true, value_name = "FILE")]
    pub private_key: Option<PathBuf>,
    /// known_hosts file to verify host keys against (default ~/.ssh/known_hosts).
    #[arg(long = "known-hosts", global = true, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// How unknown and changed host keys are treated.
    #[arg(long = "host-key-checking", global = true, value_enum, default_value_t = HostKeyChecking::Strict)]
    pub host_key_checking: HostKeyChecking,
    /// Seconds to wait for a connection (TCP, key exchange and authentication).
    #[arg(
        long = "connect-timeout",
        global = true,
        default_value_t = 10.0,
        value_name = "SECS"
    )]
    pub connect_timeout: f64,
    /// Seconds a single remote command may run, and an SFTP request of a file transfer may wait
    /// for its answer (0 = no limit for commands; transfers then wait up to an hour).
    #[arg(
        long = "timeout",
        global = true,
        default_value_t = 0.0,
        value_name = "SECS"
    )]
    pub timeout: f64,
    /// Run remote commands with privilege escalation (sudo by default).
    #[arg(short = 'b', long = "become", global = true)]
    pub r#become: bool,
    /// Ask for the privilege escalation password (sent on stdin, never in argv).
    #[arg(short = 'K', long = "ask-become-pass", global = true)]
    pub ask_become_pass: bool,
    /// Vault password file, or an executable that prints the password (repeatable; each is
    /// tried). Default: $MUSTER_VAULT_PASSWORD_FILE, then $ANSIBLE_VAULT_PASSWORD_FILE.
    #[arg(long = "vault-password-file", global = true, value_name = "FILE")]
    pub vault_password_file: Vec<PathBuf>,
    /// Ask for the vault password (from the terminal, else one line of standard input).
    #[arg(long = "ask-vault-pass", global = true)]
    pub ask_vault_pass: bool,
    /// More output (repeatable).
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output.
    #[arg(short = 'q', long = "quiet", global = true)]
    pub quiet: bool,
    /// When to use colors (NO_COLOR is respected under auto).
    #[arg(long = "color", global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum HostKeyChecking {
    /// Refuse unknown and changed keys.
    #[default]
    Strict,
    /// Record unknown keys in known_hosts; refuse changed ones.
    AcceptNew,
    /// Accept any key (warns on every run).
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reachability and latency per host.
    Ping,
    /// Run one ad-hoc task on the selected hosts, like `ansible all -m`.
    Run(RunArgs),
    /// Apply playbooks.
    Apply(ApplyArgs),
    /// Same as `apply --check --diff`; exit 2 when any host would change.
    Check(CheckArgs),
    /// Audit hosts against security policies.
    Audit(AuditArgs),
    /// Run the remediation tasks of failing controls.
    Remediate(RemediateArgs),
    /// Gathered facts as JSON.
    Facts,
    /// The fleet's software inventory: names, versions, host counts, policy breakers.
    Apps(AppsArgs),
    /// Show the inventory.
    Inventory(InventoryArgs),
    /// Check playbooks, policies and inventories offline.
    Validate(ValidateArgs),
    /// Encrypt and decrypt Ansible Vault files and strings.
    Vault(VaultArgs),
    /// Work with audit reports: `report merge` joins the JSON reports of shards.
    Report(ReportArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Module to run: command, shell and raw print Ansible's ad-hoc lines; any other module
    /// (ping, copy, package, service...) runs as a one-task play.
    #[arg(short = 'm', long = "module-name", default_value = "command")]
    pub module: String,
    /// Module arguments (`key=value ...`, or the command line for command/shell/raw).
    #[arg(short = 'a', long = "args", default_value = "")]
    pub args: String,
    /// Plan only; change nothing.
    #[arg(long)]
    pub check: bool,
    /// Show diffs of what changes.
    #[arg(long)]
    pub diff: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct PlayArgs {
    /// Extra variables: `k=v`, JSON/YAML text, or `@file` (repeatable; highest precedence).
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    /// Only run tasks with these tags (comma-separated).
    #[arg(short = 't', long = "tags")]
    pub tags: Vec<String>,
    /// Skip tasks with these tags (comma-separated).
    #[arg(long = "skip-tags")]
    pub skip_tags: Vec<String>,
    /// Output format on standard output: text, json (JSON Lines events), junit (a testsuite
    /// per host; in check mode a task that would change is a failure), markdown, html, sarif,
    /// nagios (sets the plugin exit code: drift or a failure 2, unreachable 3) or prometheus.
    #[arg(long, default_value = "text")]
    pub format: String,
    /// Also write a report: FORMAT=PATH (repeatable; any of the formats above).
    #[arg(short = 'o', long = "output", value_name = "FORMAT=PATH")]
    pub output: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Playbooks to apply, in order.
    #[arg(required = true, value_name = "PLAYBOOK")]
    pub playbooks: Vec<PathBuf>,
    /// Plan only; change nothing.
    #[arg(long)]
    pub check: bool,
    /// Show diffs of what changes.
    #[arg(long)]
    pub diff: bool,
    #[command(flatten)]
    pub play: PlayArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Playbooks to check, in order.
    #[arg(required = true, value_name = "PLAYBOOK")]
    pub playbooks: Vec<PathBuf>,
    #[command(flatten)]
    pub play: PlayArgs,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Policies to audit against.
    #[arg(required = true, value_name = "POLICY")]
    pub policies: Vec<PathBuf>,
    /// Waivers file.
    #[arg(long, value_name = "FILE")]
    pub waivers: Option<PathBuf>,
    /// Lowest severity whose failure makes the exit code 2.
    #[arg(long = "fail-on", value_enum, default_value_t = Severity::Low)]
    pub fail_on: Severity,
    /// Report format on standard output: text, json, junit, markdown, sarif, nagios
    /// (plugin exit codes 0-3), prometheus or html.
    #[arg(long, default_value = "text")]
    pub format: String,
    /// Also write a report: FORMAT=PATH (repeatable; any of the formats above).
    #[arg(short = 'o', long = "output", value_name = "FORMAT=PATH")]
    pub output: Vec<String>,
    /// Extra variables, as for apply.
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AppsArgs {
    /// Mark what breaks the allow/deny lists of this policy's `apps` control.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Applications or all packages (default: apps on macOS/Windows, packages on Linux).
    #[arg(long, value_enum)]
    pub scope: Option<AppsScope>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Only names matching this glob (case-insensitive).
    #[arg(long, value_name = "GLOB")]
    pub filter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppsScope {
    Apps,
    Packages,
}

#[derive(Debug, Args)]
pub struct RemediateArgs {
    /// Policies whose failing controls to remediate.
    #[arg(required = true, value_name = "POLICY")]
    pub policies: Vec<PathBuf>,
    /// Plan only; change nothing.
    #[arg(long)]
    pub check: bool,
    /// Show diffs of what changes.
    #[arg(long)]
    pub diff: bool,
    /// Waivers file.
    #[arg(long, value_name = "FILE")]
    pub waivers: Option<PathBuf>,
    /// Extra variables, as for apply.
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    /// Standard output: `text` (the remediation run, then each control before → after), or
    /// an audit format (json, junit, markdown, sarif, nagios, prometheus, html) of the audit
    /// after remediation, with the run's text on standard error.
    #[arg(long, default_value = "text")]
    pub format: String,
    /// Also write the audit after remediation: FORMAT=PATH (repeatable; audit formats).
    #[arg(short = 'o', long = "output", value_name = "FORMAT=PATH")]
    pub output: Vec<String>,
}

#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct InventoryArgs {
    /// All groups and hosts as Ansible-compatible JSON (with `_meta.hostvars`).
    #[arg(long)]
    pub list: bool,
    /// The group tree (optionally from GROUP down).
    #[arg(long, value_name = "GROUP", num_args = 0..=1, default_missing_value = "all")]
    pub graph: Option<String>,
    /// The merged variables of one host, as JSON.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files to validate.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VaultArgs {
    #[command(subcommand)]
    pub action: VaultAction,
}

#[derive(Debug, Subcommand)]
pub enum VaultAction {
    /// Encrypt files in place.
    Encrypt {
        /// Files to encrypt.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Write the 1.2 header with this vault id label.
        #[arg(long = "encrypt-vault-id", value_name = "LABEL")]
        label: Option<String>,
    },
    /// Decrypt files in place.
    Decrypt {
        /// Files to decrypt.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the decrypted content of a file.
    View {
        /// File to show.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Encrypt a string as a `!vault |` YAML value.
    #[command(name = "encrypt_string", visible_alias = "encrypt-string")]
    EncryptString {
        /// Print `NAME: !vault |` (a variable ready to paste into a vars file).
        #[arg(short = 'n', long = "name")]
        name: Option<String>,
        /// Write the 1.2 header with this vault id label.
        #[arg(long = "encrypt-vault-id", value_name = "LABEL")]
        label: Option<String>,
        /// The string to encrypt (read from standard input when absent or `-`).
        #[arg(value_name = "STRING")]
        string: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub action: ReportAction,
}

#[derive(Debug, Subcommand)]
pub enum ReportAction {
    /// Join the JSON audit reports of shards (`--shard K/N`) into one report, in any format.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' JSON reports (`muster audit ... -o json=PATH`).
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    /// Format on standard output (any audit report format).
    #[arg(long, default_value = "text")]
    pub format: String,
    /// Also write the merged report: FORMAT=PATH (repeatable).
    #[arg(short = 'o', long = "output", value_name = "FORMAT=PATH")]
    pub output: Vec<String>,
    /// The audited policies, for what results do not carry (SARIF rules and locations, the
    /// HTML report's rationale and remediation).
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// Lowest severity whose failure makes the exit code 2, as for audit.
    #[arg(long = "fail-on", value_enum, default_value_t = Severity::Low)]
    pub fail_on: Severity,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to print completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
