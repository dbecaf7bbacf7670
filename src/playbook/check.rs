//! Offline checks of loaded plays, shared by `muster validate` and the start of every run:
//! Jinja syntax in every templated string, and variables that nothing could ever define
//! (not a play, role, inventory, task, loop, register, set_fact or extra variable, fact or
//! magic variable). Both stop the run with file:line:col before any host is contacted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::{Map, Value};

use super::{load_vars_file, Play, Task, TaskKind};
use crate::error::{Error, Result};
use crate::template::{Origin, Templar};

/// Names the engine defines for every task.
const MAGIC: &[&str] = &[
    "inventory_hostname",
    "inventory_hostname_short",
    "group_names",
    "groups",
    "hostvars",
    "playbook_dir",
    "role_path",
    "role_name",
    "ansible_check_mode",
    "ansible_diff_mode",
    "ansible_play_hosts",
    "ansible_play_batch",
    "ansible_play_hosts_all",
    "play_hosts",
    "ansible_play_name",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_managed",
    "ansible_version",
    "omit",
    "item",
    "ansible_loop",
    "ansible_loop_var",
    "ansible_facts",
    "ansible_failed_task",
    "ansible_failed_result",
    "environment",
    "lookup",
    "query",
    "q",
    "range",
    "dict",
    "namespace",
    "lipsum",
    "cycler",
    "joiner",
    "now",
    "undef",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
    "loop",
];

/// What could define a variable somewhere in a run.
pub struct Known {
    names: BTreeSet<String>,
    /// A source whose names can't be known offline (a templated vars file): skip the check.
    pub dynamic: bool,
    /// The playbook's directory (where `template:` sources outside roles are looked up).
    play_dir: Option<PathBuf>,
}

impl Known {
    pub fn new(extra: impl IntoIterator<Item = String>) -> Known {
        let mut names: BTreeSet<String> = MAGIC.iter().map(|s| s.to_string()).collect();
        names.extend(extra);
        Known {
            names,
            dynamic: false,
            play_dir: None,
        }
    }

    fn add_map(&mut self, m: &Map<String, Value>) {
        self.names.extend(m.keys().cloned());
    }

    fn defined(&self, name: &str) -> bool {
        self.names.contains(name)
            || name.starts_with("ansible_")
            || name.starts_with("facter_")
            || name.starts_with("ohai_")
            || name.starts_with("__")
    }

    /// Collects everything a play could define.
    pub fn add_play(&mut self, play: &Play, dir: &Path) {
        self.play_dir = Some(dir.to_path_buf());
        self.add_map(&play.vars);
        for vf in &play.vars_files {
            let names: Vec<&Value> = match vf {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for n in names {
                match n.as_str() {
                    Some(s) if !s.contains("{{") => match load_vars_file(&dir.join(s)) {
                        Ok(m) => self.add_map(&m),
                        Err(_) => self.dynamic = true,
                    },
                    _ => self.dynamic = true,
                }
            }
        }
        for r in play.roles.iter().chain(play.imported_roles.iter()) {
            self.add_map(&r.defaults);
            self.add_map(&r.vars);
        }
        let lists = [
            &play.pre_tasks,
            &play.tasks,
            &play.post_tasks,
            &play.handlers,
        ];
        for l in lists {
            self.add_tasks(l, dir);
        }
        for r in play.roles.iter().chain(play.imported_roles.iter()) {
            self.add_tasks(&r.tasks, dir);
            self.add_tasks(&r.handlers, dir);
        }
    }

    fn add_tasks(&mut self, tasks: &[Task], dir: &Path) {
        for t in tasks {
            self.add_map(&t.vars);
            if let Some(r) = &t.role {
                self.add_map(&r.params);
            }
            if let Some(r) = &t.register {
                self.names.insert(r.clone());
            }
            if let Some(l) = &t.loop_spec {
                self.names.insert(l.loop_var.clone());
                if let Some(i) = &l.index_var {
                    self.names.insert(i.clone());
                }
            }
            match &t.kind {
                TaskKind::Action {
                    name,
                    args: Value::Object(m),
                } if name == "set_fact" => self.add_map(m),
                TaskKind::Action { name, args } if name == "include_vars" => {
                    let file = args
                        .get("file")
                        .or(args.get("_raw_params"))
                        .and_then(Value::as_str);
                    if let Some(ns) = args.get("name").and_then(Value::as_str) {
                        self.names.insert(ns.to_string());
                    }
                    let base = t
                        .role
                        .as_ref()
                        .map(|r| r.path.join("vars"))
                        .unwrap_or_else(|| dir.to_path_buf());
                    match file {
                        Some(f) if !f.contains("{{") => match load_vars_file(&base.join(f)) {
                            Ok(m) => self.add_map(&m),
                            Err(_) => self.dynamic = true,
                        },
                        _ => self.dynamic = true,
                    }
                }
                // Dynamic includes bring tasks we cannot see offline.
                TaskKind::Action { name, .. }
                    if name == "include_tasks" || name == "include_role" =>
                {
                    self.dynamic = true
                }
                TaskKind::Block {
                    block,
                    rescue,
                    always,
                } => {
                    self.add_tasks(block, dir);
                    self.add_tasks(rescue, dir);
                    self.add_tasks(always, dir);
                }
                _ => {}
            }
        }
    }
}

fn guarded(text: &str, name: &str) -> bool {
    // `x is defined`, `x | default(...)`, `x.y is defined`: a guarded use is fine.
    let pat = format!(
        r"\b{}\b[\w.\[\]'\x22]*\s*(is\s+(not\s+)?(defined|undefined|none)|\|\s*(default|d)\b|\|\s*mandatory)",
        regex::escape(name)
    );
    Regex::new(&pat).map(|r| r.is_match(text)).unwrap_or(true)
}

fn check_text(
    t: &Templar,
    text: &str,
    expr: bool,
    origin: &Origin,
    known: Option<&Known>,
) -> Result<()> {
    let bare = expr && !text.contains("{{") && !text.contains("{%");
    let template = if bare {
        format!("{{{{ {text} }}}}")
    } else {
        text.to_string()
    };
    if bare {
        // Compiled as the expression it is, so that an error's column is the text's (in the
        // `{{ }}` wrapping it was three columns to the right, past the end of the line).
        t.check_expr_syntax(text, origin)?;
    } else {
        t.check_syntax(&template, origin)?;
    }
    if let Some(known) = known.filter(|k| !k.dynamic) {
        for name in t.referenced_vars(&template) {
            if !known.defined(&name) && !guarded(text, &name) {
                return Err(Error::at(
                    crate::error::Location::new(&origin.file, origin.line.max(1), origin.col.max(1)),
                    format!(
                        "undefined variable `{name}` in task `{}`",
                        origin.task.clone().unwrap_or_default()
                    ),
                )
                .with_help(format!(
                    "nothing in the play, its roles, the inventory or -e defines `{name}`; define it (e.g. in the role's defaults) or guard it with `| default(...)`"
                )));
            }
        }
    }
    Ok(())
}

fn check_value(t: &Templar, v: &Value, origin: &Origin, known: Option<&Known>) -> Result<()> {
    match v {
        Value::String(s) => check_text(t, s, false, origin, known),
        Value::Array(a) => a.iter().try_for_each(|x| check_value(t, x, origin, known)),
        Value::Object(m) => m
            .values()
            .try_for_each(|x| check_value(t, x, origin, known)),
        _ => Ok(()),
    }
}

fn check_conds(t: &Templar, conds: &[Value], origin: &Origin, known: Option<&Known>) -> Result<()> {
    for c in conds {
        match c {
            Value::String(s) => check_text(t, s, true, origin, known)?,
            other => check_value(t, other, origin, known)?,
        }
    }
    Ok(())
}

/// Checks every task of a list (recursively through blocks).
pub fn check_tasks(t: &Templar, tasks: &[Task], known: Option<&Known>) -> Result<usize> {
    let mut n = 0;
    for task in tasks {
        n += 1;
        let origin =
            Origin::new(&task.loc.file, task.loc.line, task.loc.col).with_task(task.display_name());
        // Point at the keyword's or argument's own value when its position is known.
        let at = |key: &str| match task.locs.get(key) {
            Some(l) => Origin::new(&l.file, l.line, l.col).with_task(task.display_name()),
            None => origin.clone(),
        };
        check_conds(t, &task.when, &at("when"), known)?;
        for (key, conds) in [
            ("changed_when", &task.changed_when),
            ("failed_when", &task.failed_when),
            ("until", &task.until),
        ] {
            if let Some(conds) = conds {
                check_conds(t, conds, &at(key), known)?;
            }
        }
        if let Some(l) = &task.loop_spec {
            let key = task
                .locs
                .keys()
                .find(|k| *k == "loop" || k.starts_with("with_"))
                .cloned()
                .unwrap_or_default();
            check_value(t, &l.items, &at(&key), known)?;
        }
        check_value(t, &Value::Object(task.vars.clone()), &at("vars"), known)?;
        let check_args = |args: &Value| -> Result<()> {
            match args {
                Value::Object(m) => m
                    .iter()
                    .try_for_each(|(k, v)| check_value(t, v, &at(&format!("arg:{k}")), known)),
                other => check_value(t, other, &origin, known),
            }
        };
        match &task.kind {
            TaskKind::Module { args, def } => {
                check_args(args)?;
                if def.name == "template" {
                    if let Some(dir) = known.and_then(|k| k.play_dir.as_deref()) {
                        check_template_file(t, task, args, dir)?;
                    }
                }
            }
            TaskKind::Action { name, args } => {
                if name == "debug" {
                    if let Some(var) = args.get("var").and_then(Value::as_str) {
                        check_text(t, var, true, &at("arg:var"), known)?;
                    }
                }
                check_args(args)?;
            }
            TaskKind::Block {
                block,
                rescue,
                always,
            } => {
                n += check_tasks(t, block, known)?;
                n += check_tasks(t, rescue, known)?;
                n += check_tasks(t, always, known)?;
            }
        }
    }
    Ok(n)
}

/// Checks a whole play; returns how many tasks were checked.
pub fn check_play(t: &Templar, play: &Play, known: Option<&Known>) -> Result<usize> {
    let mut n = 0;
    for l in [
        &play.pre_tasks,
        &play.tasks,
        &play.post_tasks,
        &play.handlers,
    ] {
        n += check_tasks(t, l, known)?;
    }
    for r in &play.roles {
        n += check_tasks(t, &r.tasks, known)?;
        n += check_tasks(t, &r.handlers, known)?;
    }
    for r in &play.imported_roles {
        n += check_tasks(t, &r.handlers, known)?;
    }
    Ok(n)
}

/// A `template:` task's source file, when named literally: it must exist where the run will
/// look for it (the role's templates/, the role, the playbook's templates/, the playbook's
/// directory) and be valid Jinja; errors point into the template file.
fn check_template_file(t: &Templar, task: &Task, args: &Value, play_dir: &Path) -> Result<()> {
    let Some(src) = args.get("src").and_then(Value::as_str) else {
        return Ok(());
    };
    if src.contains("{{") || src.contains("{%") {
        return Ok(());
    }
    let dirs: Vec<PathBuf> = match &task.role {
        Some(r) => vec![
            r.path.join("templates"),
            r.path.clone(),
            play_dir.join("templates"),
            play_dir.to_path_buf(),
        ],
        None => vec![play_dir.join("templates"), play_dir.to_path_buf()],
    };
    let Some(path) = crate::modules::SearchPaths::find(&dirs, src).filter(|p| p.is_file()) else {
        let at = task
            .locs
            .get("arg:src")
            .cloned()
            .unwrap_or(task.loc.clone());
        return Err(
            Error::at(at, format!("template `{src}` not found")).with_help(format!(
                "looked in {}; put the file there or fix the name",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
    };
    let text = crate::error::read_text(&path)?;
    t.check_file_syntax(
        &text,
        &Origin::new(&path, 1, 1).with_task(task.display_name()),
    )
}
