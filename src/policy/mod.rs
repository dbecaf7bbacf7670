//! Security policies: our own YAML format (DESIGN "Policies"), loaded into typed controls with
//! source positions, and the audit that evaluates them per host in at most two exec round
//! trips after connecting (facts, then one batched probe script).

pub mod audit;
pub mod checks;
pub mod report;
pub mod waivers;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Location, Result};
use crate::playbook::{Loader, Task};
use crate::yaml::{self, Node};

/// How much a failing control matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "info" | "none" => Severity::Info,
            "low" => Severity::Low,
            "medium" | "moderate" => Severity::Medium,
            "high" | "important" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
    /// Weight in the score (documented in README "Scores").
    pub fn weight(self) -> f64 {
        match self {
            Severity::Info => 0.0,
            Severity::Low => 1.0,
            Severity::Medium => 3.0,
            Severity::High => 6.0,
            Severity::Critical => 10.0,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One control of a policy.
#[derive(Debug, Clone)]
pub struct Control {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub rationale: Option<String>,
    pub severity: Severity,
    pub refs: Vec<String>,
    pub tags: Vec<String>,
    pub when: Vec<Value>,
    /// Where `when:` is written (for errors in its expressions).
    pub when_loc: Option<Location>,
    /// The check kind (`firewall`, `file`, or any module name) and its arguments (templated).
    pub kind: String,
    pub args: Value,
    pub remediate: Vec<Task>,
    /// Manual guidance when there is no automated remediation.
    pub manual: Option<String>,
    pub loc: Location,
    pub policy: String,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    pub vars: Map<String, Value>,
    pub controls: Vec<Control>,
    pub path: PathBuf,
}

fn err(file: &Path, n: &Node, msg: impl Into<String>) -> Error {
    Error::at(n.loc(file), msg)
}

fn text(file: &Path, n: &Node, key: &str) -> Result<String> {
    n.scalar_text().ok_or_else(|| {
        err(
            file,
            n,
            format!("`{key}` must be text, not a {}", n.type_name()),
        )
        .with_help(format!(
            "write `{key}:` followed by its text on the same line"
        ))
    })
}

/// The Jinja syntax of a control's condition, check arguments and remediation tasks.
fn check_control_templates(t: &crate::template::Templar, c: &Control) -> Result<()> {
    use crate::template::Origin;
    // The positions of the arguments (and of the items of a `when` list) are not kept: an
    // error in them points at the control (or the `when`), not at that position shifted by
    // the error's offset in the text, which can be off its line.
    fn at_origin(e: Error, origin: &Origin) -> Error {
        match e {
            Error::Input { msg, help, .. } => Error::Input {
                loc: Some(Location::new(&origin.file, origin.line, origin.col)),
                msg,
                help,
            },
            other => other,
        }
    }
    fn args(t: &crate::template::Templar, v: &Value, origin: &Origin) -> Result<()> {
        match v {
            Value::String(s) => t.check_syntax(s, origin).map_err(|e| at_origin(e, origin)),
            Value::Array(a) => a.iter().try_for_each(|x| args(t, x, origin)),
            Value::Object(m) => m.values().try_for_each(|x| args(t, x, origin)),
            _ => Ok(()),
        }
    }
    let at = |l: &Location| Origin::new(&l.file, l.line, l.col).with_task(c.id.clone());
    let when_at = at(c.when_loc.as_ref().unwrap_or(&c.loc));
    for w in &c.when {
        match w {
            Value::String(s) if c.when.len() > 1 => t
                .check_expr_syntax(s, &when_at)
                .map_err(|e| at_origin(e, &when_at))?,
            Value::String(s) => t.check_expr_syntax(s, &when_at)?,
            other => args(t, other, &when_at)?,
        }
    }
    args(t, &c.args, &at(&c.loc))?;
    crate::playbook::check::check_tasks(t, &c.remediate, None)?;
    Ok(())
}

fn text_list(file: &Path, n: &Node, key: &str) -> Result<Vec<String>> {
    match n.as_seq() {
        Some(items) => items.iter().map(|i| text(file, i, key)).collect(),
        None if n.is_null() => Ok(vec![]),
        None => Ok(vec![text(file, n, key)?]),
    }
}

const CONTROL_KEYS: &[&str] = &[
    "id",
    "title",
    "description",
    "rationale",
    "severity",
    "refs",
    "tags",
    "when",
    "check",
    "remediate",
    "manual",
];

impl Policy {
    /// Loads and validates a policy file; every error points at file:line:col.
    pub fn load(path: &Path) -> Result<Policy> {
        let Some(root) = yaml::parse_file(path)? else {
            return Err(Error::at(Location::new(path, 1, 1), "the policy is empty")
                .with_help("a policy has `name:`, `version:` and a list of `controls:`"));
        };
        let map = root.as_map().ok_or_else(|| {
            err(
                path,
                &root,
                format!("a policy must be a mapping, not a {}", root.type_name()),
            )
            .with_help(
                "a policy has `name:`, `version:` and a list of `controls:` at the top level",
            )
        })?;
        let mut name = None;
        let mut version = String::from("0");
        let mut description = None;
        let mut vars = Map::new();
        let mut controls_node = None;
        for (k, v) in map {
            match k.key_text().as_str() {
                "name" => name = Some(text(path, v, "name")?),
                "version" => version = text(path, v, "version")?,
                "description" => description = Some(text(path, v, "description")?),
                "vars" => match v.to_json() {
                    Value::Object(m) => vars = m,
                    Value::Null => {}
                    _ => {
                        return Err(err(path, v, "`vars` must be a mapping of names to values")
                            .with_help("write one `name: value` a line, indented under `vars:`"))
                    }
                },
                "controls" => controls_node = Some(v),
                other => {
                    return Err(err(path, k, format!("unknown policy key `{other}`"))
                        .with_help("a policy has name, version, description, vars and controls"))
                }
            }
        }
        let name = name.ok_or_else(|| {
            err(path, &root, "the policy has no `name:`").with_help("add `name: my-baseline`")
        })?;
        let controls_node = controls_node.ok_or_else(|| {
            err(path, &root, "the policy has no `controls:`")
                .with_help("add a list of controls, each with id, title, severity and check")
        })?;
        let items = controls_node.as_seq().ok_or_else(|| {
            err(path, controls_node, "`controls` must be a list")
                .with_help("start each control with `- id: NAME`, its keys indented below")
        })?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut loader = Loader::default();
        let mut controls: Vec<Control> = Vec::new();
        for c in items {
            let control = load_control(path, &dir, c, &name, &mut loader)?;
            if let Some(prev) = controls.iter().find(|p| p.id == control.id) {
                return Err(err(
                    path,
                    c,
                    format!(
                        "duplicate control id `{}` (first at line {})",
                        control.id, prev.loc.line
                    ),
                )
                .with_help("control ids are unique in a policy (waivers and reports name them); rename one"));
            }
            controls.push(control);
        }
        // Jinja syntax, before any host is contacted (as for playbooks).
        let templar = crate::template::Templar::new();
        for c in &controls {
            check_control_templates(&templar, c)?;
        }
        Ok(Policy {
            name,
            version,
            description,
            vars,
            controls,
            path: path.to_path_buf(),
        })
    }
}

fn load_control(
    file: &Path,
    dir: &Path,
    n: &Node,
    policy: &str,
    loader: &mut Loader,
) -> Result<Control> {
    let map = n.as_map().ok_or_else(|| {
        err(
            file,
            n,
            format!(
                "a control must be a mapping with id, title, severity and check, not a {}",
                n.type_name()
            ),
        )
        .with_help("start the control with `- id: NAME` and indent its other keys below")
    })?;
    let mut c = Control {
        id: String::new(),
        title: String::new(),
        description: None,
        rationale: None,
        severity: Severity::Medium,
        refs: vec![],
        tags: vec![],
        when: vec![],
        when_loc: None,
        kind: String::new(),
        args: Value::Null,
        remediate: vec![],
        manual: None,
        loc: n.loc(file),
        policy: policy.to_string(),
    };
    let mut check = None;
    for (k, v) in map {
        match k.key_text().as_str() {
            "id" => c.id = text(file, v, "id")?,
            "title" => c.title = text(file, v, "title")?,
            "description" => c.description = Some(text(file, v, "description")?),
            "rationale" => c.rationale = Some(text(file, v, "rationale")?),
            "manual" => c.manual = Some(text(file, v, "manual")?),
            "severity" => {
                let s = text(file, v, "severity")?;
                c.severity = Severity::parse(&s).ok_or_else(|| {
                    err(file, v, format!("unknown severity `{s}`"))
                        .with_help("use info, low, medium, high or critical")
                })?;
            }
            "refs" => c.refs = text_list(file, v, "refs")?,
            "tags" => c.tags = text_list(file, v, "tags")?,
            "when" => {
                c.when_loc = Some(v.loc(file));
                c.when = match v.as_seq() {
                    Some(items) => items.iter().map(Node::to_json).collect(),
                    None => vec![v.to_json()],
                }
            }
            "check" => check = Some(v),
            "remediate" => c.remediate = loader.load_tasks(file, dir, v, None)?,
            other => {
                return Err(err(file, k, format!("unknown control key `{other}`"))
                    .with_help(format!("a control takes: {}", CONTROL_KEYS.join(", "))))
            }
        }
    }
    if c.id.is_empty() {
        return Err(err(file, n, "this control has no `id:`")
            .with_help("give each control a unique id, e.g. `id: ssh-root-login`"));
    }
    if c.title.is_empty() {
        c.title = c.id.clone();
    }
    let check = check.ok_or_else(|| {
        err(file, n, format!("control `{}` has no `check:`", c.id))
            .with_help("e.g. `check: { firewall: { enabled: true } }`")
    })?;
    let cm = check.as_map().filter(|m| m.len() == 1).ok_or_else(|| {
        err(
            file,
            check,
            "`check` must name exactly one check kind with its arguments",
        )
        .with_help("e.g. `check: { file: { path: /etc/shadow, mode: \"0640\" } }`")
    })?;
    let (kk, kv) = &cm[0];
    c.kind = kk.key_text();
    c.args = kv.to_json();
    checks::validate(&c.kind, &c.args).map_err(|msg| {
        let help = msg.1.unwrap_or_else(|| {
            format!(
                "correct this argument of the `{}` check as the message says, or remove it",
                c.kind
            )
        });
        err(file, kk, msg.0).with_help(help)
    })?;
    Ok(c)
}
