//! Templating: the one strict minijinja environment muster renders everything with.
//!
//! `Templar` wraps a `minijinja::Environment` configured like Ansible's Jinja: undefined
//! variables are errors (but `is defined`, `| default(...)` and attribute lookups on a defined
//! dict work), values print the way Python prints them (`True`, `None`, `['a']`), and Ansible's
//! filters, tests and lookups are registered (see `filters`, `jtests`, `lookups`).
//!
//! Where the text came from is given by an [`Origin`]: `line`/`col` are the 1-based position of
//! the template's first character in its file. Errors inside the template are reported at
//! `origin.line + template_line - 1`; the column of continuation lines is assumed to be
//! indented like the first one (true for YAML block scalars).
//!
//! Controller file lookups (`file`, `template`, `fileglob`, `first_found`) resolve relative
//! names against, in order: the list in the variable `__muster_search_dirs` if the vars hold
//! one (the engine sets it per task: role dir, playbook dir), else the directories given to
//! [`Templar::set_search_dirs`], else the current directory. In each directory `files/NAME`
//! (`templates/NAME` for the template lookup) is tried before `NAME`.

mod crypt;
mod filters;
mod jtests;
mod lookups;
mod methods;
mod pyfmt;
pub mod version;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use minijinja::value::merge_maps;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};

use crate::error::{Error, Location, Result};

pub use pyfmt::{py_repr, py_str};

/// Where a template's text came from: the position of its first character, and the task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub task: Option<String>,
}

impl Origin {
    pub fn new(file: impl Into<PathBuf>, line: usize, col: usize) -> Origin {
        Origin {
            file: file.into(),
            line,
            col,
            task: None,
        }
    }

    pub fn with_task(mut self, task: impl Into<String>) -> Origin {
        self.task = Some(task.into());
        self
    }
}

/// State shared with the filters and lookups registered in the environments.
pub(crate) struct Shared {
    pub(crate) omit: String,
    pub(crate) search_dirs: RwLock<Vec<PathBuf>>,
}

/// The strict, Ansible-compatible template environment.
pub struct Templar {
    env: Environment<'static>,
    /// Same as `env` with `trim_blocks` on: the template module's settings.
    file_env: Environment<'static>,
    shared: Arc<Shared>,
    omit_value: Value,
}

impl Default for Templar {
    fn default() -> Self {
        Templar::new()
    }
}

impl std::fmt::Debug for Templar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templar")
            .field("omit", &self.shared.omit)
            .finish()
    }
}

/// True when the text holds Jinja markup at all.
fn has_markup(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// When `text` is exactly one `{{ expression }}`, the expression.
fn single_expression(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") || inner.contains("{#")
    {
        return None;
    }
    if inner.trim().is_empty() {
        return None;
    }
    Some(inner)
}

fn random_hex(n: usize) -> String {
    let bytes = crypt::random_bytes(n.div_ceil(2));
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.truncate(n);
    s
}

fn build_env(shared: &Arc<Shared>, trim_blocks: bool) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_debug(true);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(trim_blocks)
        .lstrip_blocks(false)
        .keep_trailing_newline(true)
        .build()
        .expect("default delimiters are valid");
    env.set_syntax(syntax);
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(methods::call_method);
    env.set_formatter(pyfmt::formatter);
    // `{% include %}` / `{% import %}` / `{% extends %}`: relative names resolve against the
    // search dirs (`templates/NAME`, then `NAME`) to absolute paths, which the loader reads.
    // Keying the cache by absolute path keeps roles with same-named files apart.
    let sh = shared.clone();
    env.set_path_join_callback(move |name, parent| {
        let p = std::path::Path::new(name);
        if p.is_absolute() {
            return name.into();
        }
        let parent_dir = std::path::Path::new(parent)
            .parent()
            .filter(|d| d.is_absolute());
        let dirs = sh.search_dirs.read().map(|d| d.clone()).unwrap_or_default();
        let mut candidates: Vec<PathBuf> = parent_dir.map(|d| vec![d.join(p)]).unwrap_or_default();
        for d in &dirs {
            candidates.push(d.join("templates").join(p));
            candidates.push(d.join(p));
        }
        candidates
            .into_iter()
            .find(|c| c.is_file())
            .map(|c| c.to_string_lossy().into_owned().into())
            .unwrap_or_else(|| name.into())
    });
    env.set_loader(|name| {
        let p = std::path::Path::new(name);
        if !p.is_absolute() || !p.is_file() {
            return Ok(None);
        }
        std::fs::read_to_string(p).map(Some).map_err(|e| {
            minijinja::Error::new(
                ErrorKind::TemplateNotFound,
                format!("could not read {name}: {e}"),
            )
        })
    });
    filters::register(&mut env);
    jtests::register(&mut env);
    lookups::register(&mut env, shared.clone());
    env
}

impl Templar {
    pub fn new() -> Templar {
        let shared = Arc::new(Shared {
            omit: format!("__omit_place_holder__{}", random_hex(40)),
            search_dirs: RwLock::new(Vec::new()),
        });
        // Ansible's Templar sets trim_blocks for every string it renders, not only for the
        // template module (a `block: |` with `{% for %}` lines renders without blank lines).
        let env = build_env(&shared, true);
        let file_env = build_env(&shared, true);
        let omit_value = Value::from(shared.omit.clone());
        Templar {
            env,
            file_env,
            shared,
            omit_value,
        }
    }

    /// Directories relative controller paths of lookups are searched in (when the vars do not
    /// carry `__muster_search_dirs`).
    pub fn set_search_dirs(&self, dirs: Vec<PathBuf>) {
        *self.shared.search_dirs.write().expect("search dirs lock") = dirs;
    }

    /// The omit sentinel, also the value of the `omit` variable.
    pub fn omit_token(&self) -> &str {
        &self.shared.omit
    }

    /// The render context: the caller's vars, with `omit` (merge_maps lets the last source
    /// win, so `omit` always resolves to the sentinel).
    fn context(&self, vars: &serde_json::Value) -> Value {
        let omit = minijinja::context! { omit => self.omit_value.clone() };
        match vars {
            serde_json::Value::Object(_) => {
                merge_maps([Value::from(minijinja::value::Serde(vars)), omit])
            }
            _ => omit,
        }
    }

    /// Renders a string template against vars (a JSON object).
    pub fn render_str(
        &self,
        text: &str,
        vars: &serde_json::Value,
        origin: &Origin,
    ) -> Result<String> {
        if !has_markup(text) {
            return Ok(text.to_string());
        }
        self.env
            .render_str(text, self.context(vars))
            .map_err(|e| template_error(e, text, origin))
    }

    /// Renders a whole template file the way the template module does (`trim_blocks` on,
    /// trailing newline kept).
    pub fn render_file_template(
        &self,
        text: &str,
        vars: &serde_json::Value,
        origin: &Origin,
    ) -> Result<String> {
        self.file_env
            .render_str(text, self.context(vars))
            .map_err(|e| template_error(e, text, origin))
    }

    /// Renders recursively through a JSON value; `"{{ x }}"` alone yields x's native value;
    /// entries rendering to the omit sentinel are dropped.
    pub fn render_value(
        &self,
        v: &serde_json::Value,
        vars: &serde_json::Value,
        origin: &Origin,
    ) -> Result<serde_json::Value> {
        let ctx = self.context(vars);
        self.render_value_in(v, &ctx, origin)
    }

    fn is_omit(&self, v: &serde_json::Value) -> bool {
        matches!(v, serde_json::Value::String(s) if s == &self.shared.omit)
    }

    fn render_value_in(
        &self,
        v: &serde_json::Value,
        ctx: &Value,
        origin: &Origin,
    ) -> Result<serde_json::Value> {
        use serde_json::Value as J;
        Ok(match v {
            J::String(s) => self.render_string_native(s, ctx, origin)?,
            J::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let r = self.render_value_in(item, ctx, origin)?;
                    if !self.is_omit(&r) {
                        out.push(r);
                    }
                }
                J::Array(out)
            }
            J::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (k, item) in map {
                    let key = if has_markup(k) {
                        self.env
                            .render_str(k, ctx.clone())
                            .map_err(|e| template_error(e, k, origin))?
                    } else {
                        k.clone()
                    };
                    let r = self.render_value_in(item, ctx, origin)?;
                    if !self.is_omit(&r) {
                        out.insert(key, r);
                    }
                }
                J::Object(out)
            }
            other => other.clone(),
        })
    }

    fn render_string_native(
        &self,
        s: &str,
        ctx: &Value,
        origin: &Origin,
    ) -> Result<serde_json::Value> {
        if !has_markup(s) {
            return Ok(serde_json::Value::String(s.to_string()));
        }
        if let Some(expr) = single_expression(s) {
            let v = self.eval_in(expr, ctx, origin, 2)?;
            return Ok(to_json(&v));
        }
        let out = self
            .env
            .render_str(s, ctx.clone())
            .map_err(|e| template_error(e, s, origin))?;
        Ok(serde_json::Value::String(out))
    }

    /// Evaluates an expression; `shift` is the column offset of the expression in the text
    /// the origin points at (2 for the inside of `{{ }}`).
    fn eval_in(&self, expr: &str, ctx: &Value, origin: &Origin, shift: usize) -> Result<Value> {
        let shifted = Origin {
            col: origin.col + shift,
            ..origin.clone()
        };
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|e| template_error(e, expr, &shifted))?;
        let v = compiled
            .eval(ctx.clone())
            .map_err(|e| template_error(e, expr, &shifted))?;
        if v.is_undefined() {
            let name = expr.trim().to_string();
            return Err(undefined_error(&name, &shifted, None));
        }
        Ok(v)
    }

    /// Evaluates a bare Jinja expression to a JSON value.
    pub fn eval_expr(
        &self,
        expr: &str,
        vars: &serde_json::Value,
        origin: &Origin,
    ) -> Result<serde_json::Value> {
        let ctx = self.context(vars);
        let v = match single_expression(expr.trim()) {
            Some(inner) => self.eval_in(inner, &ctx, origin, 2)?,
            None => self.eval_in(expr, &ctx, origin, 0)?,
        };
        Ok(to_json(&v))
    }

    /// Evaluates a conditional (`when`, `changed_when`, `failed_when`, `until`, `that`).
    pub fn eval_condition(
        &self,
        expr: &serde_json::Value,
        vars: &serde_json::Value,
        origin: &Origin,
    ) -> Result<bool> {
        use serde_json::Value as J;
        match expr {
            J::Bool(b) => Ok(*b),
            J::Null => Ok(false),
            J::Number(n) => Ok(n.as_f64().map(|f| f != 0.0).unwrap_or(true)),
            J::String(s) => {
                let ctx = self.context(vars);
                let trimmed = s.trim();
                if let Some(inner) = single_expression(trimmed) {
                    let v = self.eval_in(inner, &ctx, origin, 2)?;
                    if let Some(text) = v.as_str() {
                        // Ansible (before 2.19) evaluated the templated text as a conditional.
                        return self.string_condition(text, &ctx, origin);
                    }
                    return Ok(v.is_true());
                }
                if has_markup(trimmed) {
                    let text = self.render_str(trimmed, vars, origin)?;
                    return self.string_condition(&text, &ctx, origin);
                }
                if trimmed.is_empty() {
                    return Ok(false);
                }
                Ok(self.eval_in(trimmed, &ctx, origin, 0)?.is_true())
            }
            J::Array(_) | J::Object(_) => Err(Error::at(
                loc_of(origin),
                format!(
                    "a conditional must be an expression, a boolean or a number, not {}",
                    if expr.is_array() {
                        "a list"
                    } else {
                        "a mapping"
                    }
                ),
            )
            .with_help("write it as a Jinja expression, e.g. `when: x == 'y'`")),
        }
    }

    fn string_condition(&self, text: &str, ctx: &Value, origin: &Origin) -> Result<bool> {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => return Ok(true),
            "false" | "no" | "off" | "0" | "" | "none" => return Ok(false),
            _ => {}
        }
        match self.env.compile_expression(t) {
            Ok(e) => match e.eval(ctx.clone()) {
                Ok(v) if !v.is_undefined() => Ok(v.is_true()),
                Ok(_) => Err(undefined_error(t, origin, None)),
                Err(err) => Err(template_error(err, t, origin)),
            },
            Err(_) => Ok(true),
        }
    }

    /// Syntax-only check (no vars), for `muster validate`.
    pub fn check_syntax(&self, text: &str, origin: &Origin) -> Result<()> {
        if !has_markup(text) {
            return Ok(());
        }
        self.env
            .template_from_str(text)
            .map(|_| ())
            .map_err(|e| template_error(e, text, origin))
    }

    /// Syntax-only check of a template file's text, in the environment `template:` renders
    /// files with; errors are placed in the file (`origin` is its line 1, column 1).
    pub fn check_file_syntax(&self, text: &str, origin: &Origin) -> Result<()> {
        self.file_env
            .template_from_str(text)
            .map(|_| ())
            .map_err(|e| template_error(e, text, origin))
    }

    /// Syntax-only check of a bare expression (a conditional), for `muster validate`.
    pub fn check_expr_syntax(&self, expr: &str, origin: &Origin) -> Result<()> {
        let trimmed = expr.trim();
        // Where `trimmed` starts: past the whitespace trimmed off the front.
        let lead = &expr[..expr.len() - expr.trim_start().len()];
        let start = match lead.rfind('\n') {
            Some(i) => Origin {
                line: origin.line + lead.matches('\n').count(),
                col: origin.col + lead[i + 1..].chars().count(),
                ..origin.clone()
            },
            None => Origin {
                col: origin.col + lead.chars().count(),
                ..origin.clone()
            },
        };
        match single_expression(trimmed) {
            Some(inner) => {
                let shifted = Origin {
                    col: start.col + 2,
                    ..start
                };
                self.env
                    .compile_expression(inner)
                    .map(|_| ())
                    .map_err(|e| template_error(e, inner, &shifted))
            }
            None if has_markup(trimmed) => self.check_syntax(trimmed, &start),
            None => self
                .env
                .compile_expression(expr)
                .map(|_| ())
                .map_err(|e| template_error(e, expr, origin)),
        }
    }

    /// Top-level variable names a template references (without locals it sets itself).
    pub fn referenced_vars(&self, text: &str) -> BTreeSet<String> {
        if !has_markup(text) {
            return BTreeSet::new();
        }
        let names = match self.env.template_from_str(text) {
            Ok(t) => t.undeclared_variables(false),
            Err(_) => Default::default(),
        };
        names.into_iter().filter(|n| n != "omit").collect()
    }

    /// Variable names a bare expression (a conditional) references.
    pub fn referenced_vars_expr(&self, expr: &str) -> BTreeSet<String> {
        match self.env.compile_expression(expr) {
            Ok(e) => e
                .undeclared_variables(false)
                .into_iter()
                .filter(|n| n != "omit")
                .collect(),
            Err(_) => BTreeSet::new(),
        }
    }
}

/// Converts a minijinja value to JSON (undefined becomes null).
pub(crate) fn to_json(v: &Value) -> serde_json::Value {
    if v.is_undefined() {
        return serde_json::Value::Null;
    }
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Converts JSON to a minijinja value.
pub(crate) fn from_json(v: &serde_json::Value) -> Value {
    Value::from(minijinja::value::Serde(v))
}

fn loc_of(origin: &Origin) -> Location {
    Location::new(origin.file.clone(), origin.line.max(1), origin.col.max(1))
}

fn task_suffix(origin: &Origin) -> String {
    match &origin.task {
        Some(t) => format!(" in task '{t}'"),
        None => String::new(),
    }
}

fn undefined_error(name: &str, origin: &Origin, loc: Option<Location>) -> Error {
    Error::at(
        loc.unwrap_or_else(|| loc_of(origin)),
        format!("undefined variable `{name}`{}", task_suffix(origin)),
    )
    .with_help(format!(
        "define `{name}` (play vars, group_vars, host_vars, register or -e), or guard it with \
         `{name} is defined` or `{name} | default(...)`"
    ))
}

/// Where inside the file the error points: the template's line and column from the error's
/// span, shifted by the origin.
fn error_location(e: &minijinja::Error, text: &str, origin: &Origin) -> Location {
    let (tline, tcol) = match e.range() {
        Some(r) => {
            let start = r.start.min(text.len());
            let before = &text[..start];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
            let col = before[line_start..].chars().count() + 1;
            (line, col)
        }
        None => (e.line().unwrap_or(1), 1),
    };
    let base_col = origin.col.max(1);
    let (line, col) = (origin.line.max(1) + tline - 1, base_col + tcol - 1);
    // The text need not lie in the file as written (a folded or multi-line scalar, escapes in
    // quotes, a block scalar's indentation): never point past the end of a line or the file.
    let (line, col) = match std::fs::read_to_string(&origin.file) {
        Ok(src) => {
            let lines: Vec<&str> = src.lines().collect();
            let line = line.min(lines.len().max(1));
            let len = lines.get(line - 1).map_or(0, |l| l.chars().count());
            (line, col.min(len + 1))
        }
        Err(_) => (line, col),
    };
    Location::new(origin.file.clone(), line, col)
}

/// Maps a minijinja error into muster's input error at the right place in the file.
pub(crate) fn template_error(e: minijinja::Error, text: &str, origin: &Origin) -> Error {
    let loc = error_location(&e, text, origin);
    let detail = e.detail().unwrap_or("").to_string();
    let task = task_suffix(origin);
    match e.kind() {
        ErrorKind::UndefinedError => {
            let name = undefined_name(&detail).unwrap_or_else(|| {
                e.range()
                    .and_then(|r| text.get(r))
                    .unwrap_or("a value")
                    .to_string()
            });
            let err = undefined_error(&name, origin, Some(loc));
            let extra = detail
                .split(" (`")
                .next()
                .filter(|d| !d.is_empty() && !d.contains("is undefined"))
                .map(|d| d.to_string());
            match (extra, err) {
                (Some(extra), Error::Input { loc, msg, help }) => Error::Input {
                    loc,
                    msg: format!("{msg}: {extra}"),
                    help,
                },
                (_, err) => err,
            }
        }
        ErrorKind::SyntaxError | ErrorKind::BadEscape => Error::at(
            loc,
            format!("template syntax error{task}: {}", if detail.is_empty() { "invalid syntax" } else { &detail }),
        )
        .with_help("check the Jinja syntax: `{{ expr }}`, `{% if %}...{% endif %}`, quotes and brackets must balance"),
        ErrorKind::UnknownFilter => Error::at(loc, format!("unknown filter{task}: {detail}"))
            .with_help("see the list of supported filters in the muster documentation (src/template)"),
        ErrorKind::UnknownTest => Error::at(loc, format!("unknown test{task}: {detail}"))
            .with_help("see the list of supported tests in the muster documentation (src/template)"),
        ErrorKind::UnknownFunction => Error::at(loc, format!("unknown function{task}: {detail}"))
            .with_help("functions available: lookup, query, q, range, dict, namespace"),
        ErrorKind::UnknownMethod => Error::at(loc, format!("unknown method{task}: {detail}"))
            .with_help("use a filter instead of a Python method"),
        kind => {
            let msg = if detail.is_empty() {
                format!("template error{task}: {kind}")
            } else if kind == ErrorKind::InvalidOperation {
                format!("template error{task}: {detail}")
            } else {
                format!("template error{task}: {kind}: {detail}")
            };
            Error::at(loc, msg).with_help("check the expression and the types of the values it uses")
        }
    }
}

/// The name in minijinja's "`foo.bar` is undefined" detail.
fn undefined_name(detail: &str) -> Option<String> {
    let start = detail.find('`')? + 1;
    let end = start + detail[start..].find('`')?;
    if detail[end..].starts_with("` is undefined") {
        Some(detail[start..end].to_string())
    } else {
        None
    }
}
