//! Playbooks and roles as typed data with source positions: raw YAML (spanned) is loaded,
//! validated and turned into `Play`s and `Task`s before any host is contacted, so a typo, an
//! unknown module or an unknown argument stops the run with file:line:col.

pub mod check;
pub mod kv;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Location, Result};
use crate::modules::{self, ModuleDef};
use crate::yaml::{self, Node};

/// Task keywords Ansible accepts beside the module key.
const TASK_KEYWORDS: &[&str] = &[
    "name",
    "action",
    "local_action",
    "args",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "changed_when",
    "check_mode",
    "collections",
    "connection",
    "debugger",
    "delay",
    "delegate_facts",
    "delegate_to",
    "diff",
    "environment",
    "failed_when",
    "ignore_errors",
    "ignore_unreachable",
    "loop",
    "loop_control",
    "module_defaults",
    "no_log",
    "notify",
    "register",
    "remote_user",
    "retries",
    "any_errors_fatal",
    "run_once",
    "tags",
    "throttle",
    "timeout",
    "until",
    "vars",
    "when",
    "listen",
    "block",
    "rescue",
    "always",
];

const PLAY_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "vars_prompt",
    "gather_facts",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "pre_tasks",
    "tasks",
    "post_tasks",
    "handlers",
    "roles",
    "serial",
    "strategy",
    "any_errors_fatal",
    "max_fail_percentage",
    "tags",
    "environment",
    "remote_user",
    "connection",
    "collections",
    "check_mode",
    "diff",
    "no_log",
    "ignore_errors",
    "order",
    "force_handlers",
    "module_defaults",
    "run_once",
    "ignore_unreachable",
    "throttle",
    "timeout",
    "debugger",
    "fact_path",
    "gather_subset",
    "gather_timeout",
];

/// Things the engine itself does (they need the engine's state, not just a host).
pub const ACTIONS: &[(&str, &[&str])] = &[
    ("debug", &["msg", "var", "verbosity"]),
    ("set_fact", &["cacheable"]),
    (
        "assert",
        &["that", "msg", "fail_msg", "success_msg", "quiet"],
    ),
    ("fail", &["msg"]),
    ("meta", &["_raw_params"]),
    (
        "include_vars",
        &[
            "file",
            "dir",
            "name",
            "_raw_params",
            "depth",
            "files_matching",
            "ignore_files",
            "extensions",
            "hash_behaviour",
        ],
    ),
    (
        "setup",
        &["gather_subset", "filter", "gather_timeout", "fact_path"],
    ),
    ("gather_facts", &["parallel"]),
    ("pause", &["seconds", "minutes", "prompt", "echo"]),
    ("ping", &["data"]),
    (
        "reboot",
        &[
            "reboot_timeout",
            "connect_timeout",
            "msg",
            "pre_reboot_delay",
            "post_reboot_delay",
            "test_command",
            "reboot_command",
            "boot_time_command",
            "search_paths",
        ],
    ),
    ("include_tasks", &["file", "_raw_params", "apply"]),
    ("import_tasks", &["file", "_raw_params"]),
    (
        "include_role",
        &[
            "name",
            "tasks_from",
            "vars_from",
            "defaults_from",
            "handlers_from",
            "apply",
            "public",
            "allow_duplicates",
            "rolespec_validate",
        ],
    ),
    (
        "import_role",
        &[
            "name",
            "tasks_from",
            "vars_from",
            "defaults_from",
            "handlers_from",
            "public",
            "allow_duplicates",
            "rolespec_validate",
        ],
    ),
];

/// `set_fact` takes any variable names as arguments.
fn action_takes_any_args(name: &str) -> bool {
    name == "set_fact"
}

fn short_name(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .or_else(|| name.strip_prefix("ansible.posix."))
        .or_else(|| name.strip_prefix("community.general."))
        .unwrap_or(name)
}

/// What a task does.
#[derive(Debug, Clone)]
pub enum TaskKind {
    /// A module of the registry.
    Module {
        def: &'static ModuleDef,
        args: Value,
    },
    /// An engine action (debug, set_fact, include_tasks, ...), by short name.
    Action { name: String, args: Value },
    Block {
        block: Vec<Task>,
        rescue: Vec<Task>,
        always: Vec<Task>,
    },
}

/// How a loop iterates.
#[derive(Debug, Clone)]
pub struct LoopSpec {
    /// The items expression (`loop:` value, or a converted `with_*`).
    pub items: Value,
    /// For `with_<lookup>`: the lookup name (items = its terms).
    pub lookup: Option<String>,
    pub loop_var: String,
    pub index_var: Option<String>,
    pub label: Option<Value>,
    pub extended: bool,
}

/// One task, validated.
#[derive(Debug, Clone)]
pub struct Task {
    pub name: Option<String>,
    pub kind: TaskKind,
    pub loc: Location,
    /// Conditions, all of which must hold (ANDed), inherited ones first.
    pub when: Vec<Value>,
    pub loop_spec: Option<LoopSpec>,
    pub register: Option<String>,
    pub notify: Vec<String>,
    pub listen: Vec<String>,
    pub changed_when: Option<Vec<Value>>,
    pub failed_when: Option<Vec<Value>>,
    pub ignore_errors: bool,
    pub tags: Vec<String>,
    pub r#become: Option<bool>,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    pub check_mode: Option<bool>,
    pub diff: Option<bool>,
    pub no_log: bool,
    pub environment: Option<Value>,
    pub run_once: bool,
    /// `any_errors_fatal` on the task or block (overrides the play's).
    pub any_errors_fatal: Option<bool>,
    pub delegate_to: Option<String>,
    pub until: Option<Vec<Value>>,
    pub retries: Option<Value>,
    pub delay: Option<Value>,
    pub vars: Map<String, Value>,
    /// The role this task comes from (for `role_path` and the `role : task` display).
    pub role: Option<RoleCtx>,
    /// Where each keyword's value (`when`, `loop`, ...) and each argument (`arg:NAME`) starts,
    /// so errors found later point at the exact spot.
    pub locs: HashMap<String, Location>,
}

/// Where a role's task was found.
#[derive(Debug, Clone)]
pub struct RoleCtx {
    pub name: String,
    pub path: PathBuf,
    /// Role parameters (`roles: [{role: x, param: 1}]`): Ansible ranks them above set_fact
    /// and task vars, below include params and extra vars.
    pub params: Map<String, Value>,
}

impl Task {
    /// A task with no keywords set, for tasks made in code (remediation from a check).
    pub fn bare(loc: Location) -> Task {
        Task {
            name: None,
            kind: TaskKind::Action {
                name: "meta".into(),
                args: Value::Null,
            },
            loc,
            when: vec![],
            loop_spec: None,
            register: None,
            notify: vec![],
            listen: vec![],
            changed_when: None,
            failed_when: None,
            ignore_errors: false,
            tags: vec![],
            r#become: None,
            become_user: None,
            become_method: None,
            check_mode: None,
            diff: None,
            no_log: false,
            environment: None,
            run_once: false,
            any_errors_fatal: None,
            delegate_to: None,
            until: None,
            retries: None,
            delay: None,
            vars: Map::new(),
            role: None,
            locs: HashMap::new(),
        }
    }

    /// The name shown in output: the task's own, or the module name.
    pub fn display_name(&self) -> String {
        let base = self.name.clone().unwrap_or_else(|| match &self.kind {
            TaskKind::Module { def, .. } => def.name.to_string(),
            TaskKind::Action { name, .. } => name.clone(),
            TaskKind::Block { .. } => "block".into(),
        });
        match &self.role {
            Some(r) => format!("{} : {base}", r.name),
            None => base,
        }
    }
}

/// A role as loaded from disk.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub path: PathBuf,
    pub defaults: Map<String, Value>,
    pub vars: Map<String, Value>,
    pub tasks: Vec<Task>,
    pub handlers: Vec<Task>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Linear,
    Free,
}

/// One play, validated.
#[derive(Debug, Clone)]
pub struct Play {
    pub name: String,
    pub hosts: String,
    pub loc: Location,
    pub vars: Map<String, Value>,
    pub vars_files: Vec<Value>,
    pub gather_facts: bool,
    pub r#become: Option<bool>,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    /// Roles in order, dependencies first; their tasks run between pre_tasks and tasks.
    pub roles: Vec<Role>,
    pub pre_tasks: Vec<Task>,
    pub tasks: Vec<Task>,
    pub post_tasks: Vec<Task>,
    pub handlers: Vec<Task>,
    /// Roles brought in by `import_role` (their tasks are inlined where imported; their
    /// defaults, vars and handlers belong to the play).
    pub imported_roles: Vec<Role>,
    pub serial: Option<Value>,
    pub strategy: Strategy,
    pub any_errors_fatal: bool,
    pub max_fail_percentage: Option<f64>,
    pub tags: Vec<String>,
    pub check_mode: Option<bool>,
    pub diff: Option<bool>,
    pub environment: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Playbook {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub plays: Vec<Play>,
}

/// Reads playbooks, task files and roles; knows where roles live.
#[derive(Debug, Clone)]
pub struct Loader {
    pub roles_path: Vec<PathBuf>,
    role_cache: HashMap<PathBuf, Role>,
    /// Roles `import_role` loaded since the current play started loading.
    imported: Vec<Role>,
    /// Playbooks, task files and roles being loaded, outermost first (static imports nest;
    /// one that is already on this stack imports itself).
    loading: Vec<PathBuf>,
}

fn err(file: &Path, n: &Node, msg: impl Into<String>) -> Error {
    Error::at(n.loc(file), msg)
}

fn want_bool(file: &Path, n: &Node, key: &str) -> Result<bool> {
    match &n.value {
        yaml::Value::Bool(b) => Ok(*b),
        yaml::Value::Str(s) => crate::modules::args::parse_bool(&Value::String(s.clone()))
            .ok_or_else(|| {
                err(
                    file,
                    n,
                    format!("`{key}` must be a boolean (true/false, yes/no), not `{s}`"),
                )
                .with_help(format!("write `{key}: true` or `{key}: false`"))
            }),
        _ => Err(err(
            file,
            n,
            format!("`{key}` must be a boolean, not a {}", n.type_name()),
        )
        .with_help(format!("write `{key}: true` or `{key}: false`"))),
    }
}

fn want_str(file: &Path, n: &Node, key: &str) -> Result<String> {
    n.scalar_text().ok_or_else(|| {
        err(
            file,
            n,
            format!("`{key}` must be a string, not a {}", n.type_name()),
        )
        .with_help(format!(
            "write `{key}:` followed by a single value on the same line (quote it if it holds `:` or `{{`)"
        ))
    })
}

fn want_map(file: &Path, n: &Node, key: &str) -> Result<Map<String, Value>> {
    if n.is_null() {
        return Ok(Map::new());
    }
    match n.to_json() {
        Value::Object(m) => Ok(m),
        _ => Err(err(
            file,
            n,
            format!(
                "`{key}` must be a mapping of names to values, not a {}",
                n.type_name()
            ),
        )
        .with_help(format!(
            "write one `name: value` a line, indented under `{key}:`"
        ))),
    }
}

/// A condition or list of conditions (`when`, `changed_when`, ...): expressions, booleans or
/// a list of them; a mapping is no condition.
fn want_conds(file: &Path, n: &Node, key: &str) -> Result<Vec<Value>> {
    let items: Vec<&Node> = match &n.value {
        yaml::Value::Seq(items) => items.iter().collect(),
        _ => vec![n],
    };
    for i in items {
        if matches!(i.value, yaml::Value::Map(_) | yaml::Value::Seq(_)) {
            return Err(err(
                file,
                i,
                format!("`{key}` must be a condition (an expression such as `x == 1`) or a list of them, not a {}", i.type_name()),
            )
            .with_help("a condition containing `: ` must be quoted as a whole, e.g. `when: \"x == 'a: b'\"`"));
        }
    }
    Ok(cond_list(n))
}

/// `retries` (a whole number) and `delay` (seconds, fractions allowed), or a template.
fn want_count(file: &Path, n: &Node, key: &str) -> Result<Value> {
    let seconds = key == "delay";
    let ok = match &n.value {
        yaml::Value::Int(i) => *i >= 0,
        yaml::Value::Float(f) => seconds && *f >= 0.0,
        yaml::Value::Str(s) => {
            s.contains("{{")
                || s.trim().parse::<u64>().is_ok()
                || seconds && s.trim().parse::<f64>().is_ok_and(|f| f >= 0.0)
        }
        _ => false,
    };
    if !ok {
        let what = if seconds {
            "a number of seconds, 0 or more"
        } else {
            "a whole number, 0 or more"
        };
        return Err(err(
            file,
            n,
            format!("`{key}` must be {what}, not {}", n.to_json()),
        )
        .with_help(format!("write e.g. `{key}: 3`")));
    }
    Ok(n.to_json())
}

/// `serial`: a number of hosts, a percentage, or a list of them (templates allowed).
fn want_serial(file: &Path, n: &Node) -> Result<Value> {
    let one = |i: &Node| -> Result<()> {
        let ok = match &i.value {
            yaml::Value::Int(x) => *x >= 0,
            yaml::Value::Str(s) => {
                let t = s.trim();
                s.contains("{{")
                    || t.parse::<u64>().is_ok()
                    || t.strip_suffix('%')
                        .and_then(|p| p.trim().parse::<f64>().ok())
                        .is_some_and(|p| (0.0..=100.0).contains(&p))
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(err(
                file,
                i,
                format!(
                    "`serial` takes a number of hosts, a percentage or a list of them, not {}",
                    i.to_json()
                ),
            )
            .with_help("write e.g. `serial: 2`, `serial: \"25%\"` or `serial: [1, 5, \"50%\"]`"))
        }
    };
    match &n.value {
        yaml::Value::Seq(items) if !items.is_empty() => items.iter().try_for_each(one)?,
        _ => one(n)?,
    }
    Ok(n.to_json())
}

/// `loop:`: a list, or a template that gives one.
fn want_loop_items(file: &Path, n: &Node) -> Result<Value> {
    let ok = match &n.value {
        yaml::Value::Seq(_) => true,
        yaml::Value::Str(s) => s.contains("{{") || s.contains("{%"),
        _ => false,
    };
    if !ok {
        return Err(err(
            file,
            n,
            format!("`loop` needs a list, not a {} ({})", n.type_name(), n.to_json()),
        )
        .with_help("write the items as a YAML list (`loop: [a, b]`), or a template that gives one (`loop: \"{{ users }}\"`)"));
    }
    Ok(n.to_json())
}

/// A string or a list of strings (tags, notify, listen).
fn str_list(file: &Path, n: &Node, key: &str) -> Result<Vec<String>> {
    match &n.value {
        yaml::Value::Null => Ok(vec![]),
        yaml::Value::Seq(items) => items.iter().map(|i| want_str(file, i, key)).collect(),
        _ => {
            let s = want_str(file, n, key)?;
            if key == "tags" {
                Ok(s.split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect())
            } else {
                Ok(vec![s])
            }
        }
    }
}

/// A condition or a list of conditions.
fn cond_list(n: &Node) -> Vec<Value> {
    match &n.value {
        yaml::Value::Seq(items) => items.iter().map(Node::to_json).collect(),
        yaml::Value::Null => vec![],
        _ => vec![n.to_json()],
    }
}

/// A close match for a typo, for the help line.
fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    fn dist(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push(
                    (prev[j] + usize::from(ca != *cb))
                        .min(prev[j + 1] + 1)
                        .min(cur[j] + 1),
                );
            }
            prev = cur;
        }
        prev[b.len()]
    }
    candidates
        .map(|c| (dist(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn all_module_names() -> impl Iterator<Item = &'static str> {
    modules::REGISTRY
        .iter()
        .map(|m| m.name)
        .chain(ACTIONS.iter().map(|(n, _)| *n))
}

impl Default for Loader {
    fn default() -> Self {
        Loader::new(vec![])
    }
}

impl Loader {
    pub fn new(roles_path: Vec<PathBuf>) -> Loader {
        Loader {
            roles_path,
            role_cache: HashMap::new(),
            imported: vec![],
            loading: vec![],
        }
    }

    /// Pushes `path` (a playbook, task file or role about to be imported from `file` at `at`)
    /// on the loading stack; one already there imports itself, through the chain shown.
    fn enter(&mut self, path: &Path, file: &Path, at: &Node, what: &str) -> Result<()> {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if let Some(i) = self.loading.iter().position(|p| *p == key) {
            let chain: Vec<String> = self.loading[i..]
                .iter()
                .chain(std::iter::once(&key))
                .map(|p| p.display().to_string())
                .collect();
            return Err(err(
                file,
                at,
                format!("this {what} imports itself: {}", chain.join(" -> ")),
            )
            .with_help("static imports are read before the run and cannot loop; remove the import that closes the cycle, or use include_tasks/include_role with a condition that ends it"));
        }
        self.loading.push(key);
        Ok(())
    }

    /// Loads and validates a playbook file.
    pub fn load_playbook(&mut self, path: &Path) -> Result<Playbook> {
        let dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        self.load_playbook_at(path, dir)
    }

    /// Loads and validates a playbook file whose relative paths (files, templates, imports)
    /// are found from `dir` rather than from the file's own directory: an ad-hoc task's
    /// generated playbook, whose paths are the user's, relative to where muster runs.
    pub fn load_playbook_at(&mut self, path: &Path, dir: PathBuf) -> Result<Playbook> {
        let Some(root) = yaml::parse_file(path)? else {
            return Err(
                Error::at(Location::new(path, 1, 1), "the playbook is empty").with_help(
                    "a playbook is a list of plays: `- hosts: all` followed by `tasks:`",
                ),
            );
        };
        let plays_nodes = root.as_seq().ok_or_else(|| {
            err(
                path,
                &root,
                format!(
                    "a playbook must be a list of plays, not a {}",
                    root.type_name()
                ),
            )
            .with_help("start each play with `- hosts: PATTERN`")
        })?;
        let mut plays = Vec::new();
        for pn in plays_nodes {
            if let Some(imp) = pn
                .get("import_playbook")
                .or_else(|| pn.get("ansible.builtin.import_playbook"))
            {
                let rel = want_str(path, imp, "import_playbook")?;
                let sub = dir.join(&rel);
                if !sub.exists() {
                    return Err(err(
                        path,
                        imp,
                        format!("imported playbook `{rel}` not found at {}", sub.display()),
                    )
                    .with_help(
                        "import_playbook takes a path relative to this playbook's directory",
                    ));
                }
                self.enter(&sub, path, imp, "playbook")?;
                let loaded = self.load_playbook(&sub);
                self.loading.pop();
                plays.extend(loaded?.plays);
                continue;
            }
            plays.push(self.load_play(path, &dir, pn)?);
        }
        Ok(Playbook {
            path: path.to_path_buf(),
            dir,
            plays,
        })
    }

    fn load_play(&mut self, file: &Path, dir: &Path, n: &Node) -> Result<Play> {
        self.imported.clear();
        let map = n.as_map().ok_or_else(|| {
            err(
                file,
                n,
                format!("a play must be a mapping, not a {}", n.type_name()),
            )
            .with_help("start each play with `- hosts: PATTERN`, its keywords indented below")
        })?;
        let mut play = Play {
            name: String::new(),
            hosts: String::new(),
            loc: n.loc(file),
            vars: Map::new(),
            vars_files: vec![],
            gather_facts: true,
            r#become: None,
            become_user: None,
            become_method: None,
            roles: vec![],
            pre_tasks: vec![],
            tasks: vec![],
            post_tasks: vec![],
            handlers: vec![],
            imported_roles: vec![],
            serial: None,
            strategy: Strategy::Linear,
            any_errors_fatal: false,
            max_fail_percentage: None,
            tags: vec![],
            check_mode: None,
            diff: None,
            environment: None,
        };
        let mut has_hosts = false;
        let mut role_nodes = None;
        for (k, v) in map {
            let key = k.key_text();
            match key.as_str() {
                "name" => play.name = want_str(file, v, "name")?,
                "hosts" => {
                    has_hosts = true;
                    play.hosts = match &v.value {
                        yaml::Value::Seq(items) => items
                            .iter()
                            .map(|i| want_str(file, i, "hosts"))
                            .collect::<Result<Vec<_>>>()?
                            .join(":"),
                        _ => want_str(file, v, "hosts")?,
                    }
                }
                "vars" => play.vars = want_map(file, v, "vars")?,
                "vars_files" => {
                    let items: Vec<&Node> = match &v.value {
                        yaml::Value::Seq(items) => items.iter().collect(),
                        yaml::Value::Null => vec![],
                        _ => vec![v],
                    };
                    for item in &items {
                        check_vars_file_entry(file, dir, item)?;
                    }
                    play.vars_files = items.iter().map(|i| i.to_json()).collect();
                }
                "gather_facts" => play.gather_facts = want_bool(file, v, "gather_facts")?,
                "become" => play.r#become = Some(want_bool(file, v, "become")?),
                "become_user" => play.become_user = Some(want_str(file, v, "become_user")?),
                "become_method" => play.become_method = Some(want_str(file, v, "become_method")?),
                "pre_tasks" => play.pre_tasks = self.load_tasks(file, dir, v, None)?,
                "tasks" => play.tasks = self.load_tasks(file, dir, v, None)?,
                "post_tasks" => play.post_tasks = self.load_tasks(file, dir, v, None)?,
                "handlers" => play.handlers = self.load_tasks(file, dir, v, None)?,
                "roles" => role_nodes = Some(v),
                "serial" => play.serial = Some(want_serial(file, v)?),
                "strategy" => {
                    play.strategy = match want_str(file, v, "strategy")?.as_str() {
                        "linear" => Strategy::Linear,
                        "free" => Strategy::Free,
                        other => {
                            return Err(err(file, v, format!("unknown strategy `{other}`"))
                                .with_help("use linear (the default) or free"))
                        }
                    }
                }
                "any_errors_fatal" => {
                    play.any_errors_fatal = want_bool(file, v, "any_errors_fatal")?
                }
                "max_fail_percentage" => play.max_fail_percentage = Some(match &v.value {
                    yaml::Value::Int(i) => *i as f64,
                    yaml::Value::Float(f) => *f,
                    _ => return Err(err(file, v, "`max_fail_percentage` must be a number")
                        .with_help(
                        "write a percentage of the play's hosts, e.g. `max_fail_percentage: 30`",
                    )),
                }),
                "tags" => play.tags = str_list(file, v, "tags")?,
                "check_mode" => play.check_mode = Some(want_bool(file, v, "check_mode")?),
                "diff" => play.diff = Some(want_bool(file, v, "diff")?),
                "environment" => play.environment = Some(v.to_json()),
                "vars_prompt" => {
                    return Err(err(file, k, "`vars_prompt` is not supported")
                        .with_help("pass the values with -e NAME=VALUE instead"))
                }
                k2 if PLAY_KEYWORDS.contains(&k2) => {}
                other => {
                    let mut e = err(file, k, format!("unknown play keyword `{other}`"));
                    if let Some(s) = suggest(other, PLAY_KEYWORDS.iter().copied()) {
                        e = e.with_help(format!("did you mean `{s}`?"));
                    } else if modules::find(other).is_some()
                        || ACTIONS.iter().any(|(a, _)| *a == other)
                    {
                        e = e.with_help("tasks go in a `tasks:` list under the play");
                    }
                    return Err(e);
                }
            }
        }
        play.imported_roles = std::mem::take(&mut self.imported);
        if !has_hosts {
            return Err(err(file, n, "this play has no `hosts:`")
                .with_help("add `hosts: all` (or a group or pattern) to the play"));
        }
        if play.name.is_empty() {
            play.name = play.hosts.clone();
        }
        if let Some(rn) = role_nodes {
            let items = match &rn.value {
                yaml::Value::Seq(items) => items.clone(),
                yaml::Value::Null => vec![],
                _ => {
                    return Err(err(file, rn, "`roles` must be a list of role names")
                        .with_help("write one role a line: `roles:` then `  - name`"))
                }
            };
            let mut seen = Vec::new();
            for item in &items {
                let (name, vars, when, tags) = role_ref(file, item)?;
                self.add_role_with_deps(
                    file,
                    item,
                    dir,
                    &name,
                    &vars,
                    &when,
                    &tags,
                    &mut play.roles,
                    &mut seen,
                    0,
                )?;
            }
        }
        Ok(play)
    }

    #[allow(clippy::too_many_arguments)]
    fn add_role_with_deps(
        &mut self,
        file: &Path,
        at: &Node,
        dir: &Path,
        name: &str,
        params: &Map<String, Value>,
        when: &[Value],
        tags: &[String],
        out: &mut Vec<Role>,
        seen: &mut Vec<String>,
        depth: usize,
    ) -> Result<()> {
        if depth > 16 {
            return Err(err(
                file,
                at,
                format!("role dependencies nest too deep at `{name}` (a cycle?)"),
            )
            .with_help("roles may depend on roles 16 levels deep at most"));
        }
        let mut role = self.load_role(file, at, dir, name, None)?;
        // Dependencies from meta/main.yml come first.
        let meta = role.path.join("meta/main.yml");
        if meta.exists() {
            if let Some(m) = yaml::parse_file(&meta)? {
                let deps = role_meta_dependencies(&meta, &m)?;
                // A role that (through its dependencies) depends on itself.
                let key = role.path.canonicalize().unwrap_or(role.path.clone());
                if let Some(i) = self.loading.iter().position(|p| *p == key) {
                    let chain: Vec<String> = self.loading[i..]
                        .iter()
                        .chain(std::iter::once(&key))
                        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .collect();
                    return Err(err(
                        file,
                        at,
                        format!("role dependencies form a cycle: {}", chain.join(" -> ")),
                    )
                    .with_help("a role cannot depend on itself, directly or through other roles; remove one of these dependencies"));
                }
                self.loading.push(key);
                let loaded = deps.iter().try_for_each(|d| {
                    let (dn, dv, dw, dt) = role_ref(&meta, d)?;
                    // Dependencies are looked up as the play's roles are (roles/ beside
                    // the playbook, roles_path), then beside the depending role.
                    let sibling = role.path.parent().unwrap_or(dir).to_path_buf();
                    let dep_dir = if self.find_role(dir, &dn).is_some() {
                        dir.to_path_buf()
                    } else {
                        sibling
                    };
                    self.add_role_with_deps(
                        &meta,
                        d,
                        &dep_dir,
                        &dn,
                        &dv,
                        &dw,
                        &dt,
                        out,
                        seen,
                        depth + 1,
                    )
                });
                self.loading.pop();
                loaded?;
            }
        }
        // A role runs once per play unless given different parameters (Ansible's dedup).
        let key = format!("{}|{}", role.path.display(), Value::Object(params.clone()));
        if seen.contains(&key) {
            return Ok(());
        }
        seen.push(key);
        fn set_params(t: &mut Task, params: &Map<String, Value>) {
            if let Some(r) = &mut t.role {
                r.params = params.clone();
            }
            if let TaskKind::Block {
                block,
                rescue,
                always,
            } = &mut t.kind
            {
                for c in block.iter_mut().chain(rescue).chain(always) {
                    set_params(c, params);
                }
            }
        }
        for t in role.tasks.iter_mut().chain(role.handlers.iter_mut()) {
            let mut w = when.to_vec();
            w.append(&mut t.when);
            t.when = w;
            t.tags.extend(tags.iter().cloned());
            set_params(t, params);
        }
        out.push(role);
        Ok(())
    }

    /// Finds a role directory: `roles/NAME` beside the playbook (or the including role), the
    /// roles_path, then the playbook's own directory, as Ansible searches.
    pub fn find_role(&self, dir: &Path, name: &str) -> Option<PathBuf> {
        let direct = PathBuf::from(name);
        if direct.is_absolute() && direct.is_dir() {
            return Some(direct);
        }
        let mut candidates = vec![dir.join("roles").join(name)];
        candidates.extend(self.roles_path.iter().map(|p| p.join(name)));
        candidates.push(dir.join(name));
        candidates.into_iter().find(|c| {
            c.join("tasks").is_dir()
                || c.join("meta").is_dir()
                || c.join("handlers").is_dir()
                || c.join("defaults").is_dir()
        })
    }

    /// Loads a role (tasks from `tasks/<tasks_from>.yml`, default main).
    pub fn load_role(
        &mut self,
        file: &Path,
        at: &Node,
        dir: &Path,
        name: &str,
        tasks_from: Option<&str>,
    ) -> Result<Role> {
        let Some(path) = self.find_role(dir, name) else {
            let mut searched = vec![dir.join("roles").display().to_string()];
            searched.extend(self.roles_path.iter().map(|p| p.display().to_string()));
            return Err(
                err(file, at, format!("role `{name}` not found")).with_help(format!(
                    "looked in {}; set roles_path in ansible.cfg for other places",
                    searched.join(", ")
                )),
            );
        };
        let cache_key = path.join(tasks_from.unwrap_or("main"));
        if let Some(r) = self.role_cache.get(&cache_key) {
            return Ok(r.clone());
        }
        let ctx = RoleCtx {
            name: name.rsplit('/').next().unwrap_or(name).to_string(),
            path: path.clone(),
            params: Map::new(),
        };
        let vars_file = |sub: &str| -> Result<Map<String, Value>> {
            match find_yaml(&path.join(sub), "main") {
                Some(f) => load_vars_file(&f),
                None => Ok(Map::new()),
            }
        };
        let defaults = vars_file("defaults")?;
        let vars = vars_file("vars")?;
        let tasks = match find_yaml(&path.join("tasks"), tasks_from.unwrap_or("main")) {
            Some(f) => {
                self.enter(&f, file, at, "role")?;
                let loaded = self.load_task_file(&f, Some(&ctx));
                self.loading.pop();
                loaded?
            }
            None if tasks_from.is_some() => {
                return Err(err(
                    file,
                    at,
                    format!(
                        "role `{name}` has no tasks/{}.yml",
                        tasks_from.unwrap_or("main")
                    ),
                )
                .with_help(format!(
                    "tasks_from names a file in {}; check the name",
                    path.join("tasks").display()
                )))
            }
            None => vec![],
        };
        let handlers = match find_yaml(&path.join("handlers"), "main") {
            Some(f) => self.load_task_file(&f, Some(&ctx))?,
            None => vec![],
        };
        let role = Role {
            name: ctx.name.clone(),
            path,
            defaults,
            vars,
            tasks,
            handlers,
        };
        self.role_cache.insert(cache_key, role.clone());
        Ok(role)
    }

    /// Loads a file that is a list of tasks (a role's tasks/main.yml, an included file).
    pub fn load_task_file(&mut self, path: &Path, role: Option<&RoleCtx>) -> Result<Vec<Task>> {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        match yaml::parse_file(path)? {
            None => Ok(vec![]),
            Some(n) => self.load_tasks(path, &dir, &n, role),
        }
    }

    /// A list of tasks.
    pub fn load_tasks(
        &mut self,
        file: &Path,
        dir: &Path,
        n: &Node,
        role: Option<&RoleCtx>,
    ) -> Result<Vec<Task>> {
        if n.is_null() {
            return Ok(vec![]);
        }
        let items = n.as_seq().ok_or_else(|| {
            err(
                file,
                n,
                format!("expected a list of tasks, found a {}", n.type_name()),
            )
            .with_help("each task starts with `- name: ...` on its own line")
        })?;
        let mut out = Vec::new();
        for item in items {
            let task = self.load_task(file, dir, item, role)?;
            // import_tasks / import_role are static: their tasks are inlined now, inheriting the
            // importing task's conditions, tags and vars.
            match &task.kind {
                TaskKind::Action { name, args }
                    if name == "import_tasks" || name == "import_role" =>
                {
                    let imported = self.load_import(file, dir, item, name, args, role)?;
                    for mut t in imported {
                        let mut w = task.when.clone();
                        w.append(&mut t.when);
                        t.when = w;
                        t.tags.extend(task.tags.iter().cloned());
                        for (k, v) in &task.vars {
                            t.vars.entry(k.clone()).or_insert(v.clone());
                        }
                        out.push(t);
                    }
                }
                TaskKind::Action { name, args } if name == "include_tasks" => {
                    // A literal file name must exist (a templated one is resolved when run).
                    let rel = args
                        .get("file")
                        .or_else(|| args.get("_raw_params"))
                        .and_then(Value::as_str)
                        .filter(|r| !r.contains("{{") && !r.contains("{%"));
                    if let Some(rel) = rel {
                        let base = role
                            .map(|r| r.path.join("tasks"))
                            .unwrap_or_else(|| dir.to_path_buf());
                        let path = base.join(rel);
                        if !path.is_file() {
                            return Err(err(
                                file,
                                item,
                                format!("included task file `{rel}` not found at {}", path.display()),
                            )
                            .with_help(if role.is_some() {
                                "in a role, include_tasks takes a path relative to the role's tasks/ directory"
                            } else {
                                "include_tasks takes a path relative to the file that includes it"
                            }));
                        }
                    }
                    out.push(task)
                }
                _ => out.push(task),
            }
        }
        Ok(out)
    }

    fn load_import(
        &mut self,
        file: &Path,
        dir: &Path,
        at: &Node,
        name: &str,
        args: &Value,
        role: Option<&RoleCtx>,
    ) -> Result<Vec<Task>> {
        let arg = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
        if name == "import_tasks" {
            let rel = arg("file").or_else(|| arg("_raw_params")).ok_or_else(|| {
                err(file, at, "import_tasks needs a file name")
                    .with_help("write `import_tasks: other.yml`")
            })?;
            if rel.contains("{{") {
                return Err(err(
                    file,
                    at,
                    "import_tasks is static and cannot take a templated file name",
                )
                .with_help("use include_tasks for a file name that depends on variables"));
            }
            let base = role
                .map(|r| r.path.join("tasks"))
                .unwrap_or_else(|| dir.to_path_buf());
            let path = base.join(&rel);
            if !path.exists() {
                return Err(err(
                    file,
                    at,
                    format!("task file `{rel}` not found at {}", path.display()),
                )
                .with_help(if role.is_some() {
                    "in a role, import_tasks takes a path relative to the role's tasks/ directory"
                } else {
                    "import_tasks takes a path relative to the file that imports it"
                }));
            }
            self.enter(&path, file, at, "task file")?;
            let loaded = self.load_task_file(&path, role);
            self.loading.pop();
            loaded
        } else {
            let rname = arg("name").ok_or_else(|| {
                err(file, at, "import_role needs `name`")
                    .with_help("write `import_role: {name: ROLE}`")
            })?;
            let from = arg("tasks_from");
            // Inside a role, other roles are looked up as for the play (and beside it).
            let dir = match role {
                Some(r) if self.find_role(dir, &rname).is_none() => r
                    .path
                    .parent()
                    .and_then(Path::parent)
                    .unwrap_or(dir)
                    .to_path_buf(),
                _ => dir.to_path_buf(),
            };
            let role = self.load_role(file, at, &dir, &rname, from.as_deref())?;
            let tasks = role.tasks.clone();
            self.imported.push(role);
            Ok(tasks)
        }
    }

    fn load_task(
        &mut self,
        file: &Path,
        dir: &Path,
        n: &Node,
        role: Option<&RoleCtx>,
    ) -> Result<Task> {
        let map = n.as_map().ok_or_else(|| {
            err(
                file,
                n,
                format!("a task must be a mapping, not a {}", n.type_name()),
            )
            .with_help("write the module as a key with its arguments, e.g. `- debug: {msg: hi}` or `- command: uptime`")
        })?;
        let mut task = Task {
            role: role.cloned(),
            ..Task::bare(n.loc(file))
        };
        let mut module: Option<(&Node, String, Node)> = None;
        let mut extra_args: Option<(Map<String, Value>, &Node)> = None;
        let mut block_parts: [Option<&Node>; 3] = [None, None, None];
        let mut loop_control: Option<&Node> = None;
        for (k, v) in map {
            let key = k.key_text();
            task.locs.insert(key.clone(), v.loc(file));
            match key.as_str() {
                "name" => task.name = Some(want_str(file, v, "name")?),
                "when" => task.when = want_conds(file, v, "when")?,
                "loop" => {
                    task.loop_spec = Some(LoopSpec {
                        items: want_loop_items(file, v)?,
                        lookup: None,
                        loop_var: "item".into(),
                        index_var: None,
                        label: None,
                        extended: false,
                    })
                }
                "loop_control" => loop_control = Some(v),
                "register" => task.register = Some(want_str(file, v, "register")?),
                "notify" => task.notify = str_list(file, v, "notify")?,
                "listen" => task.listen = str_list(file, v, "listen")?,
                "changed_when" => task.changed_when = Some(want_conds(file, v, "changed_when")?),
                "failed_when" => task.failed_when = Some(want_conds(file, v, "failed_when")?),
                "until" => task.until = Some(want_conds(file, v, "until")?),
                "retries" => task.retries = Some(want_count(file, v, "retries")?),
                "delay" => task.delay = Some(want_count(file, v, "delay")?),
                "ignore_errors" => task.ignore_errors = want_bool(file, v, "ignore_errors")?,
                "tags" => task.tags = str_list(file, v, "tags")?,
                "become" => task.r#become = Some(want_bool(file, v, "become")?),
                "become_user" => task.become_user = Some(want_str(file, v, "become_user")?),
                "become_method" => task.become_method = Some(want_str(file, v, "become_method")?),
                "check_mode" => task.check_mode = Some(want_bool(file, v, "check_mode")?),
                "diff" => task.diff = Some(want_bool(file, v, "diff")?),
                "no_log" => task.no_log = want_bool(file, v, "no_log")?,
                "environment" => task.environment = Some(v.to_json()),
                "run_once" => task.run_once = want_bool(file, v, "run_once")?,
                "any_errors_fatal" => {
                    task.any_errors_fatal = Some(want_bool(file, v, "any_errors_fatal")?)
                }
                "delegate_to" => {
                    let d = want_str(file, v, "delegate_to")?;
                    if !matches!(d.as_str(), "localhost" | "127.0.0.1") {
                        return Err(err(file, v, format!("delegate_to `{d}` is not supported"))
                            .with_help("muster delegates only to localhost (the controller)"));
                    }
                    task.delegate_to = Some(d);
                }
                "vars" => task.vars = want_map(file, v, "vars")?,
                "args" => extra_args = Some((want_map(file, v, "args")?, v)),
                "block" => block_parts[0] = Some(v),
                "rescue" => block_parts[1] = Some(v),
                "always" => block_parts[2] = Some(v),
                "action" | "local_action" => {
                    // `action: copy src=a dest=b` or `action: {module: copy, src: a}`.
                    let (mname, rest) = match &v.value {
                        yaml::Value::Map(_) => {
                            let m = v.get("module").and_then(Node::as_str).ok_or_else(|| {
                                err(file, v, format!("`{key}` needs `module:`"))
                                    .with_help(format!("write `{key}: {{module: copy, src: a, dest: b}}` or `{key}: copy src=a dest=b`"))
                            })?;
                            (m.to_string(), None)
                        }
                        _ => {
                            let s = want_str(file, v, &key)?;
                            let (m, r) = s
                                .trim()
                                .split_once(char::is_whitespace)
                                .unwrap_or((s.trim(), ""));
                            (m.to_string(), Some(r.to_string()))
                        }
                    };
                    if key == "local_action" {
                        task.delegate_to = Some("localhost".into());
                    }
                    let args_node = match rest {
                        Some(r) => Node::new(yaml::Value::Str(r), v.line, v.col),
                        None => {
                            let mut m = v.clone();
                            if let yaml::Value::Map(items) = &mut m.value {
                                items.retain(|(k, _)| k.key_text() != "module");
                            }
                            m
                        }
                    };
                    if module.is_some() {
                        return Err(err(file, k, "a task can run only one module")
                            .with_help("split it in two tasks"));
                    }
                    module = Some((k, mname, args_node));
                }
                k2 if k2.starts_with("with_") => {
                    let lookup = k2.trim_start_matches("with_").to_string();
                    const LOOKUPS: &[&str] = &[
                        "items",
                        "list",
                        "dict",
                        "fileglob",
                        "first_found",
                        "sequence",
                        "subelements",
                        "together",
                        "nested",
                        "indexed_items",
                        "lines",
                        "flattened",
                        "random_choice",
                    ];
                    if !LOOKUPS.contains(&lookup.as_str()) {
                        return Err(err(file, k, format!("unknown loop `{k2}`")).with_help(
                            format!(
                                "supported: {}",
                                LOOKUPS
                                    .iter()
                                    .map(|l| format!("with_{l}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                    task.loop_spec = Some(LoopSpec {
                        items: v.to_json(),
                        lookup: Some(lookup),
                        loop_var: "item".into(),
                        index_var: None,
                        label: None,
                        extended: false,
                    });
                }
                k2 if TASK_KEYWORDS.contains(&k2) => {
                    if k2 == "async" {
                        return Err(err(file, k, "`async` is not supported").with_help(
                            "remove `async`/`poll`; muster runs each task to completion",
                        ));
                    }
                }
                other => {
                    let short = short_name(other);
                    if modules::find(short).is_some() || ACTIONS.iter().any(|(a, _)| *a == short) {
                        if let Some((prev, pname, _)) = &module {
                            return Err(err(file, k, format!("a task can run only one module, but this one names `{pname}` and `{other}`"))
                                .with_help(format!("split it in two tasks (the first module is at line {})", prev.line)));
                        }
                        module = Some((k, short.to_string(), v.clone()));
                    } else {
                        let mut e =
                            err(file, k, format!("unknown module or task keyword `{other}`"));
                        if let Some(s) = suggest(
                            short,
                            all_module_names().chain(TASK_KEYWORDS.iter().copied()),
                        ) {
                            e = e.with_help(format!("did you mean `{s}`?"));
                        } else {
                            e = e.with_help("muster knows the modules listed by `muster validate --help`; check the spelling or the collection name");
                        }
                        return Err(e);
                    }
                }
            }
        }
        if let Some(lc) = loop_control {
            let spec = task.loop_spec.as_mut().ok_or_else(|| {
                err(file, lc, "`loop_control` without `loop`").with_help(
                    "add `loop:` (or a `with_*` loop) to the task, or remove `loop_control`",
                )
            })?;
            if !lc.is_null() && lc.as_map().is_none() {
                return Err(err(
                    file,
                    lc,
                    format!("`loop_control` must be a mapping, not a {}", lc.type_name()),
                )
                .with_help("write its options indented below it, e.g. `loop_var: user`"));
            }
            for (k, v) in lc.as_map().unwrap_or(&[]) {
                match k.key_text().as_str() {
                    "loop_var" => spec.loop_var = want_str(file, v, "loop_var")?,
                    "index_var" => spec.index_var = Some(want_str(file, v, "index_var")?),
                    "label" => spec.label = Some(v.to_json()),
                    "extended" => spec.extended = want_bool(file, v, "extended")?,
                    "pause" | "extended_allitems" | "break_when" => {}
                    other => {
                        return Err(
                            err(file, k, format!("unknown loop_control option `{other}`"))
                                .with_help("use loop_var, index_var, label or extended"),
                        )
                    }
                }
            }
        }
        if let Some(b) = block_parts[0] {
            if let Some((mk, name, _)) = module {
                return Err(err(
                    file,
                    mk,
                    format!("a block cannot also run a module (`{name}`)"),
                )
                .with_help(
                    "move the module into a task of its own, inside the block's list or beside it",
                ));
            }
            task.kind = TaskKind::Block {
                block: self.load_tasks(file, dir, b, role)?,
                rescue: block_parts[1]
                    .map(|r| self.load_tasks(file, dir, r, role))
                    .transpose()?
                    .unwrap_or_default(),
                always: block_parts[2]
                    .map(|r| self.load_tasks(file, dir, r, role))
                    .transpose()?
                    .unwrap_or_default(),
            };
            return Ok(task);
        }
        if block_parts[1].is_some() || block_parts[2].is_some() {
            return Err(err(
                file,
                n,
                "`rescue`/`always` need a `block` in the same task",
            )
            .with_help("put the tasks that may fail under `block:` in this task, beside `rescue:`/`always:`"));
        }
        let Some((mk, mname, args_node)) = module else {
            return Err(err(file, n, "this task names no module").with_help(
                "add the module to run, e.g. `command: uptime` or `copy: {src: a, dest: /b}`",
            ));
        };
        task.kind = build_kind(file, mk, &mname, &args_node, extra_args, &mut task.locs)?;
        Ok(task)
    }
}

/// Module arguments: a mapping, `k=v` text, or free-form text.
fn build_kind(
    file: &Path,
    mk: &Node,
    name: &str,
    args: &Node,
    extra: Option<(Map<String, Value>, &Node)>,
    locs: &mut HashMap<String, Location>,
) -> Result<TaskKind> {
    let def = modules::find(name);
    let action_args = ACTIONS.iter().find(|(a, _)| *a == name).map(|(_, a)| *a);
    let free_form = def.map(|d| d.free_form).unwrap_or(matches!(
        name,
        "include_tasks" | "import_tasks" | "include_vars" | "meta"
    ));
    let mut map = match &args.value {
        yaml::Value::Null => Map::new(),
        yaml::Value::Map(_) => match args.to_json() {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        yaml::Value::Str(s) => {
            let special: Vec<&str> = def
                .map(|d| d.args.to_vec())
                .or(action_args.map(|a| a.to_vec()))
                .unwrap_or_default();
            if name == "debug" || name == "fail" {
                // `debug: msg=...` or `debug: var=x`
                kv::parse_kv(s, false, &[]).map_err(|w| {
                    err(
                        file,
                        args,
                        format!("`{w}` is not a key=value argument of {name}"),
                    )
                })?
            } else {
                kv::parse_kv(s, free_form, &special).map_err(|w| {
                    err(
                        file,
                        args,
                        format!("`{w}` is not a key=value argument of {name}"),
                    )
                    .with_help(format!("write the arguments as a mapping under `{name}:`"))
                })?
            }
        }
        _ if free_form => {
            let mut m = Map::new();
            m.insert("_raw_params".into(), args.to_json());
            m
        }
        _ => {
            return Err(err(
                file,
                args,
                format!(
                    "the arguments of `{name}` must be a mapping, not a {}",
                    args.type_name()
                ),
            ))
        }
    };
    // Where each argument's value starts, for errors found later (templates, types).
    let arg_nodes: Vec<&(Node, Node)> = args
        .as_map()
        .into_iter()
        .flatten()
        .chain(
            extra
                .as_ref()
                .and_then(|(_, n)| n.as_map())
                .into_iter()
                .flatten(),
        )
        .collect();
    for (k, v) in &arg_nodes {
        locs.entry(format!("arg:{}", k.key_text()))
            .or_insert(v.loc(file));
    }
    if !args.is_null() && args.as_map().is_none() {
        locs.entry("arg:_raw_params".into())
            .or_insert(args.loc(file));
    }
    if let Some((extra, _)) = extra {
        for (k, v) in extra {
            map.entry(k).or_insert(v);
        }
    }
    // Unknown arguments are validation errors, found before any host is contacted.
    let allowed: Option<&[&str]> = def.map(|d| d.args).or(action_args);
    if let (Some(allowed), false) = (allowed, action_takes_any_args(name)) {
        for key in map.keys() {
            if !(allowed.contains(&key.as_str()) || free_form && key == "_raw_params") {
                // Point at the argument itself when it was written as a mapping.
                let at = arg_nodes
                    .iter()
                    .find(|(k, _)| k.key_text() == *key)
                    .map(|(k, _)| k)
                    .unwrap_or(args);
                let mut e = err(
                    file,
                    at,
                    format!("unknown argument `{key}` for module `{name}`"),
                );
                e = match suggest(key, allowed.iter().copied()) {
                    Some(s) => e.with_help(format!("did you mean `{s}`?")),
                    None => e.with_help(format!(
                        "{name} takes: {}",
                        allowed
                            .iter()
                            .filter(|a| !a.starts_with('_'))
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                return Err(e);
            }
        }
    }
    let _ = mk;
    Ok(match def {
        Some(def) => TaskKind::Module {
            def,
            args: Value::Object(map),
        },
        None => TaskKind::Action {
            name: name.to_string(),
            args: Value::Object(map),
        },
    })
}

/// A role reference: name, parameters, conditions, tags.
type RoleRefParts = (String, Map<String, Value>, Vec<Value>, Vec<String>);

/// `- role: name` / `- name` / `- { role: name, vars: {...}, when: ..., tags: ... }`.
fn role_ref(file: &Path, n: &Node) -> Result<RoleRefParts> {
    if let Some(s) = n.as_str() {
        return Ok((s.to_string(), Map::new(), vec![], vec![]));
    }
    let map = n.as_map().ok_or_else(|| {
        err(
            file,
            n,
            format!(
                "a role entry must be a name or a mapping with `role:`, not a {}",
                n.type_name()
            ),
        )
        .with_help("write `- common` or `- role: common` with its `vars:`, `when:` or `tags:`")
    })?;
    let mut name = None;
    let mut vars = Map::new();
    let mut when = vec![];
    let mut tags = vec![];
    for (k, v) in map {
        match k.key_text().as_str() {
            "role" | "name" => name = Some(want_str(file, v, "role")?),
            "vars" => vars.extend(want_map(file, v, "vars")?),
            "when" => when = cond_list(v),
            "tags" => tags = str_list(file, v, "tags")?,
            "become" | "become_user" | "delegate_to" | "environment" | "no_log"
            | "ignore_errors" => {}
            other => {
                // Ansible's old style: role parameters as plain keys.
                vars.insert(other.to_string(), v.to_json());
            }
        }
    }
    let name = name.ok_or_else(|| {
        err(file, n, "role entry without `role:`").with_help("add `role: NAME` to this entry")
    })?;
    Ok((name, vars, when, tags))
}

/// `dir/NAME.yml`, `dir/NAME.yaml`, `dir/NAME` or `dir/NAME.json`, as Ansible looks them up.
pub fn find_yaml(dir: &Path, name: &str) -> Option<PathBuf> {
    [
        format!("{name}.yml"),
        format!("{name}.yaml"),
        name.to_string(),
        format!("{name}.json"),
    ]
    .into_iter()
    .map(|f| dir.join(f))
    .find(|p| p.is_file())
}

/// A variables file: a mapping at the top (or empty).
pub fn load_vars_file(path: &Path) -> Result<Map<String, Value>> {
    match yaml::parse_file(path)? {
        None => Ok(Map::new()),
        Some(n) => match n.to_json() {
            Value::Object(m) => Ok(m),
            _ => Err(err(
                path,
                &n,
                format!(
                    "a variables file must be a mapping of names to values, not a {}",
                    n.type_name()
                ),
            )
            .with_help("write one `name: value` a line")),
        },
    }
}

/// The keys a role's meta/main.yml may hold (Ansible's `RoleMetadata`).
const META_KEYS: &[&str] = &[
    "galaxy_info",
    "dependencies",
    "allow_duplicates",
    "collections",
    "argument_specs",
];

/// The `dependencies` of a role's meta/main.yml, after checking the file's shape.
fn role_meta_dependencies<'n>(meta: &Path, m: &'n Node) -> Result<&'n [Node]> {
    let Some(pairs) = m.as_map() else {
        return Err(err(
            meta,
            m,
            format!(
                "a role's meta/main.yml must be a mapping, not a {}",
                m.type_name()
            ),
        )
        .with_help("write `dependencies:` (a list of roles) and, if you like, `galaxy_info:`"));
    };
    for (k, _) in pairs {
        let key = k.key_text();
        if !META_KEYS.contains(&key.as_str()) {
            let e = err(
                meta,
                k,
                format!("unknown key `{key}` in a role's meta/main.yml"),
            );
            return Err(match suggest(&key, META_KEYS.iter().copied()) {
                Some(s) => e.with_help(format!("did you mean `{s}`?")),
                None => e.with_help(format!("meta/main.yml takes: {}", META_KEYS.join(", "))),
            });
        }
    }
    match m.get("dependencies") {
        None => Ok(&[]),
        Some(d) if d.is_null() => Ok(&[]),
        Some(d) => d.as_seq().ok_or_else(|| {
            err(
                meta,
                d,
                format!(
                    "`dependencies` must be a list of roles, not a {}",
                    d.type_name()
                ),
            )
            .with_help("write one role a line: `dependencies:` then `  - role: common`")
        }),
    }
}

/// One `vars_files` entry: a file name or a list of alternatives (the first that exists is
/// read). Literal names are checked now (the file exists and is a mapping); templated ones
/// when the play runs.
fn check_vars_file_entry(file: &Path, dir: &Path, entry: &Node) -> Result<()> {
    let names: Vec<&Node> = match &entry.value {
        yaml::Value::Seq(items) => items.iter().collect(),
        _ => vec![entry],
    };
    let mut literal = Vec::new();
    for n in &names {
        let Some(name) = n.as_str() else {
            return Err(err(
                file,
                n,
                format!(
                    "a `vars_files` entry must be a file name, not a {}",
                    n.type_name()
                ),
            )
            .with_help(
                "list file names relative to the playbook, e.g. `vars_files: [vars/common.yml]`",
            ));
        };
        if name.contains("{{") || name.contains("{%") {
            return Ok(());
        }
        literal.push(name);
    }
    for name in &literal {
        let path = dir.join(name);
        if path.is_file() {
            load_vars_file(&path)?;
            return Ok(());
        }
    }
    Err(err(
        file,
        entry,
        format!(
            "vars file {} not found in {}",
            literal
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" or "),
            dir.display()
        ),
    )
    .with_help("vars_files names are relative to the playbook's directory"))
}
