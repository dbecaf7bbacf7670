//! The `Module` seam: every task module is a read-only `plan` that says "in sync" or lists
//! typed changes, and an `apply` that performs exactly that plan. The engine alone decides
//! whether `apply` runs, so check mode, audits and drift detection are the same code path as a
//! real run minus `apply`: a module never sees a check flag.
//!
//! Adding a module is one file: its typed arguments, `plan`, `apply`, and one `ModuleDef` line
//! in `REGISTRY`.

pub mod apk;
pub mod apt;
pub mod args;
pub mod authorized_key;
pub mod blockinfile;
pub mod command;
pub mod copy;
pub mod cron;
pub mod dnf;
pub mod file;
pub mod fileops;
pub mod find;
pub mod get_url;
pub mod getent;
pub mod group;
pub mod ini_file;
pub mod lineinfile;
pub mod modprobe;
pub mod mount;
pub mod package;
pub mod package_facts;
pub mod pkgparse;
pub mod replace;
pub mod service;
pub mod service_facts;
pub mod stat;
pub mod sysctl;
pub mod sysutil;
pub mod template;
pub mod ufw;
pub mod user;

use std::path::PathBuf;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::transport::Transport;

/// What a module may use while planning and applying on one host.
pub struct ModuleCtx<'a> {
    pub host: &'a str,
    pub transport: &'a dyn Transport,
    /// Every variable of this host at this task (facts, inventory, play, role, registered).
    pub vars: &'a Value,
    /// Renders `template` sources with the run's one strict environment.
    pub render: &'a (dyn Fn(&str, &Value) -> Result<String> + Send + Sync),
    /// Where `src:` of copy (files/) and template (templates/) are looked up, first first.
    pub search: &'a SearchPaths,
    /// Paths that earlier tasks of this check run would have created (a directory a file is
    /// planned into, a link's target). Empty outside check mode. Plans treat them as present
    /// but empty, so check mode does not fail where the real run would succeed.
    pub planned: &'a [String],
}

impl ModuleCtx<'_> {
    /// Whether an earlier task of this check run would have created `path`.
    pub fn is_planned(&self, path: &str) -> bool {
        let p = path.trim_end_matches('/');
        self.planned.iter().any(|x| x.trim_end_matches('/') == p)
    }
}

/// Lookup directories for files named relative to a role or playbook.
#[derive(Debug, Clone, Default)]
pub struct SearchPaths {
    pub files: Vec<PathBuf>,
    pub templates: Vec<PathBuf>,
}

impl SearchPaths {
    /// The first existing `dirs[i]/name`, or `name` itself when absolute or found as given.
    pub fn find(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
        let p = PathBuf::from(name);
        if p.is_absolute() {
            return p.exists().then_some(p);
        }
        dirs.iter().map(|d| d.join(name)).find(|c| c.exists())
    }
}

/// Which aspect of the target a change touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Content,
    Mode,
    Owner,
    Group,
    State,
    /// A symlink's target.
    Target,
    /// A command that would run.
    Command,
    /// Anything module-specific, named.
    Other(String),
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Field::Content => f.write_str("content"),
            Field::Mode => f.write_str("mode"),
            Field::Owner => f.write_str("owner"),
            Field::Group => f.write_str("group"),
            Field::State => f.write_str("state"),
            Field::Target => f.write_str("target"),
            Field::Command => f.write_str("command"),
            Field::Other(s) => f.write_str(s),
        }
    }
}

/// Text before and after, for a unified diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextDiff {
    pub path: String,
    pub before: String,
    pub after: String,
}

/// One typed change a module would make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: Field,
    pub before: Option<String>,
    pub after: Option<String>,
    pub diff: Option<TextDiff>,
}

impl Change {
    pub fn new(field: Field, before: Option<String>, after: Option<String>) -> Self {
        Change {
            field,
            before,
            after,
            diff: None,
        }
    }
    pub fn with_diff(mut self, path: &str, before: String, after: String) -> Self {
        self.diff = Some(TextDiff {
            path: path.to_string(),
            before,
            after,
        });
        self
    }
}

/// What `plan` found: nothing to do, or the changes `apply` would make.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Result fields known from planning alone (e.g. `stat`), merged into the registered result.
    pub result: Map<String, Value>,
    /// The module's own notes from planning, for `apply` (e.g. the rendered content).
    pub state: Option<Value>,
    /// The change is running a command (command/shell/raw): check mode reports "would run".
    pub runs_command: bool,
}

impl Plan {
    pub fn in_sync() -> Plan {
        Plan::default()
    }
    pub fn is_in_sync(&self) -> bool {
        self.changes.is_empty()
    }
}

/// A task module, built per host from its rendered arguments.
#[async_trait]
pub trait Module: Send + Sync {
    /// Read-only: what would change on this host.
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan>;
    /// Performs exactly `plan`; returns result fields (rc, stdout, dest, ...). Called only when
    /// the plan has changes and the engine decided to act.
    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>>;
}

/// Builds a module from rendered arguments; an error names the bad argument.
pub type BuildFn = fn(&Map<String, Value>) -> std::result::Result<Box<dyn Module>, String>;

/// A module as the registry knows it.
pub struct ModuleDef {
    pub name: &'static str,
    /// Every argument name it accepts (aliases included), for validation before any host runs.
    pub args: &'static [&'static str],
    /// Takes free-form text (`shell: echo hi`) as `_raw_params`.
    pub free_form: bool,
    pub build: BuildFn,
}

impl std::fmt::Debug for ModuleDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModuleDef({})", self.name)
    }
}

/// The one place a module name becomes a module.
pub static REGISTRY: &[&ModuleDef] = &[
    &command::COMMAND,
    &command::SHELL,
    &command::RAW,
    &copy::COPY,
    &get_url::GET_URL,
    &template::TEMPLATE,
    &file::FILE,
    &lineinfile::LINEINFILE,
    &blockinfile::BLOCKINFILE,
    &replace::REPLACE,
    &stat::STAT,
    &user::USER,
    &group::GROUP,
    &authorized_key::AUTHORIZED_KEY,
    &getent::GETENT,
    &sysctl::SYSCTL,
    &mount::MOUNT,
    &modprobe::MODPROBE,
    &find::FIND,
    &cron::CRON,
    &ini_file::INI_FILE,
    &package_facts::PACKAGE_FACTS,
    &apt::APT,
    &dnf::DNF,
    &dnf::YUM,
    &apk::APK,
    &package::PACKAGE,
    &service::SERVICE,
    &service::SYSTEMD,
    &service::SYSTEMD_SERVICE,
    &service_facts::SERVICE_FACTS,
    &ufw::UFW,
];

/// Finds a module by short or fully qualified name (`copy`, `ansible.builtin.copy`).
pub fn find(name: &str) -> Option<&'static ModuleDef> {
    let short = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name);
    REGISTRY.iter().copied().find(|m| m.name == short)
}
