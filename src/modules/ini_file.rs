//! `ini_file`: one option (or a whole section) of an INI file, with Ansible's rules: the first
//! active `option = value` in the section is replaced (other occurrences go when `exclusive`),
//! a commented-out one is reused, else the option goes after the section's last line; a missing
//! section is appended. The read, diff, attributes and atomic write are the text-edit plan the
//! file modules share (one exec).

use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::{de_bool, parse_list};
use super::fileops::{apply_text, build_args, de_opt_str, plan_text, AttrWant, TextEdit};
use super::{Module, ModuleCtx, Plan};
use crate::error::Result;

fn present_state() -> String {
    "present".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IniArgs {
    #[serde(alias = "dest")]
    pub path: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub section: Option<String>,
    #[serde(default, alias = "key", deserialize_with = "de_opt_str")]
    pub option: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub value: Option<String>,
    #[serde(default)]
    pub values: Option<Value>,
    #[serde(default = "present_state")]
    pub state: String,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub exclusive: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub no_extra_spaces: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub ignore_spaces: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub allow_no_value: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub modify_inactive_option: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub create: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub backup: bool,
    #[serde(default)]
    pub mode: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub group: Option<String>,
}

pub const INI_FILE_ARGS: &[&str] = &[
    "path",
    "dest",
    "section",
    "option",
    "key",
    "value",
    "values",
    "state",
    "exclusive",
    "no_extra_spaces",
    "ignore_spaces",
    "allow_no_value",
    "modify_inactive_option",
    "create",
    "backup",
    "mode",
    "owner",
    "group",
];

/// The INI rules, independent of any host.
#[derive(Debug, Clone, Default)]
pub struct IniOpts {
    pub section: Option<String>,
    pub option: Option<String>,
    /// Values wanted (present) or to remove (absent; empty: every value).
    pub values: Vec<Option<String>>,
    pub present: bool,
    pub exclusive: bool,
    pub no_extra_spaces: bool,
    pub ignore_spaces: bool,
    pub modify_inactive: bool,
}

fn header(l: &str) -> Option<&str> {
    let t = l.trim();
    t.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

impl IniOpts {
    fn assignment(&self, v: &Option<String>) -> String {
        let o = self.option.as_deref().unwrap_or("");
        match v {
            None => format!("{o}\n"),
            Some(v) if self.no_extra_spaces => format!("{o}={v}\n"),
            Some(v) => format!("{o} = {v}\n"),
        }
    }

    /// (is this option, commented out, value) for a line.
    fn parse_opt(&self, l: &str) -> Option<(bool, Option<String>)> {
        let o = regex::escape(self.option.as_deref()?);
        let re = Regex::new(&format!(
            r"^[ \t]*([#;]?)[ \t]*{o}[ \t]*(=|$)[ \t]*(.*?)[ \t]*$"
        ))
        .ok()?;
        let l = l.trim_end_matches(['\r', '\n']);
        let c = re.captures(l)?;
        let commented = !c[1].is_empty();
        let value = if c[2].is_empty() {
            None
        } else {
            Some(c[3].to_string())
        };
        Some((commented, value))
    }

    fn value_eq(&self, a: &Option<String>, b: &Option<String>) -> bool {
        match (a, b) {
            (Some(x), Some(y)) if self.ignore_spaces => x.trim() == y.trim(),
            _ => a == b,
        }
    }

    /// The new text and Ansible's message.
    pub fn apply(&self, text: &str) -> (String, &'static str) {
        let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
        if lines.last().is_some_and(|l| !l.ends_with('\n')) {
            let last = lines.len() - 1;
            lines[last].push('\n');
        }
        // The section's range: [start, end) of its body; start is the header index + 1.
        let range = match &self.section {
            None => {
                let end = lines
                    .iter()
                    .position(|l| header(l).is_some())
                    .unwrap_or(lines.len());
                Some((0, end))
            }
            Some(s) => lines
                .iter()
                .position(|l| header(l) == Some(s.as_str()))
                .map(|h| {
                    let end = lines[h + 1..]
                        .iter()
                        .position(|l| header(l).is_some())
                        .map(|p| p + h + 1)
                        .unwrap_or(lines.len());
                    (h + 1, end)
                }),
        };
        let before = lines.concat();
        let msg;
        match (range, &self.option, self.present) {
            (None, _, false) => return (before, ""),
            (None, None, true) => {
                lines.push(format!("[{}]\n", self.section.as_deref().unwrap_or("")));
                msg = "section added";
            }
            (None, Some(_), true) => {
                lines.push(format!("[{}]\n", self.section.as_deref().unwrap_or("")));
                for v in &self.values {
                    lines.push(self.assignment(v));
                }
                msg = "section and option added";
            }
            (Some((s, e)), None, false) => {
                let start = if self.section.is_some() { s - 1 } else { s };
                lines.drain(start..e);
                msg = "section removed";
            }
            (Some(_), None, true) => msg = "",
            (Some((s, e)), Some(_), true) => {
                let mut want: Vec<Option<String>> = self.values.clone();
                let mut body: Vec<String> = vec![];
                let mut inactive: Option<usize> = None;
                for l in &lines[s..e] {
                    match self.parse_opt(l) {
                        Some((false, v)) => {
                            if let Some(i) = want.iter().position(|w| self.value_eq(w, &v)) {
                                want.remove(i);
                                body.push(l.clone());
                            } else if !want.is_empty() && self.values.len() == 1 {
                                // The single value replaces the first occurrence in place.
                                body.push(self.assignment(&want.remove(0)));
                            } else if !self.exclusive {
                                body.push(l.clone());
                            }
                        }
                        Some((true, _)) if inactive.is_none() && self.modify_inactive => {
                            inactive = Some(body.len());
                            body.push(l.clone());
                        }
                        _ => body.push(l.clone()),
                    }
                }
                if let (Some(i), false) = (inactive, want.is_empty()) {
                    body[i] = self.assignment(&want.remove(0));
                }
                if !want.is_empty() {
                    // After the section's last non-blank line.
                    let at = body
                        .iter()
                        .rposition(|l| !l.trim().is_empty())
                        .map(|p| p + 1)
                        .unwrap_or(0);
                    for (k, v) in want.iter().enumerate() {
                        body.insert(at + k, self.assignment(v));
                    }
                }
                lines.splice(s..e, body);
                msg = "option changed";
            }
            (Some((s, e)), Some(_), false) => {
                let mut body: Vec<String> = vec![];
                for l in &lines[s..e] {
                    match self.parse_opt(l) {
                        Some((false, v))
                            if self.values.is_empty()
                                || self.values.iter().any(|w| self.value_eq(w, &v)) => {}
                        _ => body.push(l.clone()),
                    }
                }
                lines.splice(s..e, body);
                msg = "option changed";
            }
        }
        let after = lines.concat();
        if after == before {
            (after, "OK")
        } else {
            (after, msg)
        }
    }
}

pub struct IniFile {
    a: IniArgs,
    opts: IniOpts,
    attrs: AttrWant,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: IniArgs = build_args("ini_file", args)?;
    fn e<T>(m: String) -> std::result::Result<T, String> {
        Err(format!("ini_file: {m}"))
    }
    if a.state != "present" && a.state != "absent" {
        return e(format!(
            "argument `state` must be present or absent, got {}",
            a.state
        ));
    }
    if a.value.is_some() && a.values.is_some() {
        return e("parameters are mutually exclusive: value|values".into());
    }
    for (k, v) in [
        ("section", &a.section),
        ("option", &a.option),
        ("value", &a.value),
    ] {
        if v.as_deref().is_some_and(|s| s.contains('\n')) {
            return e(format!("argument `{k}` must be one line"));
        }
    }
    let mut values: Vec<Option<String>> = match (&a.value, &a.values) {
        (Some(v), _) => vec![Some(v.clone())],
        (None, Some(vs)) => parse_list(vs).into_iter().map(Some).collect(),
        (None, None) => vec![],
    };
    if a.state == "present" && a.option.is_some() && values.is_empty() {
        if !a.allow_no_value {
            return e(
                "argument `value` is required with option and state=present (or allow_no_value)"
                    .into(),
            );
        }
        values.push(None);
    }
    if a.option.is_none() && !values.is_empty() {
        return e("argument `value` needs `option`".into());
    }
    let attrs =
        AttrWant::from_args(&a.mode, &a.owner, &a.group).map_err(|m| format!("ini_file: {m}"))?;
    let opts = IniOpts {
        section: a.section.clone(),
        option: a.option.clone(),
        values,
        present: a.state == "present",
        exclusive: a.exclusive,
        no_extra_spaces: a.no_extra_spaces,
        ignore_spaces: a.ignore_spaces,
        modify_inactive: a.modify_inactive_option,
    };
    Ok(Box::new(IniFile { a, opts, attrs }))
}

pub static INI_FILE: super::ModuleDef = super::ModuleDef {
    name: "ini_file",
    args: INI_FILE_ARGS,
    free_form: false,
    build,
};

#[async_trait]
impl Module for IniFile {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.a;
        let present = a.state == "present";
        let edit = TextEdit {
            path: a.path.clone(),
            create: present && a.create,
            missing_ok: !present,
            missing_msg: format!("Destination {} does not exist!", a.path),
            attrs: self.attrs.clone(),
            backup: a.backup,
            validate: None,
        };
        let opts = self.opts.clone();
        plan_text(ctx, &edit, move |text| {
            let (new, msg) = opts.apply(text.unwrap_or(""));
            Ok((new, json!({ "msg": msg })))
        })
        .await
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        apply_text(ctx, plan).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(
        section: Option<&str>,
        option: Option<&str>,
        value: Option<&str>,
        present: bool,
    ) -> IniOpts {
        IniOpts {
            section: section.map(String::from),
            option: option.map(String::from),
            values: value.map(|v| vec![Some(v.to_string())]).unwrap_or_default(),
            present,
            exclusive: true,
            modify_inactive: true,
            ..Default::default()
        }
    }

    #[test]
    fn ini_like_ansible() {
        let t = "# top\n[main]\nport = 80\n; host = x\n\n[other]\nport = 1\n";
        let r = |x: &IniOpts| x.apply(t).0;
        assert_eq!(
            r(&o(Some("main"), Some("port"), Some("8080"), true)),
            "# top\n[main]\nport = 8080\n; host = x\n\n[other]\nport = 1\n"
        );
        // Commented option reused.
        assert_eq!(
            r(&o(Some("main"), Some("host"), Some("y"), true)),
            "# top\n[main]\nport = 80\nhost = y\n\n[other]\nport = 1\n"
        );
        // New option after the section's last non-blank line.
        assert_eq!(
            r(&o(Some("main"), Some("user"), Some("u"), true)),
            "# top\n[main]\nport = 80\n; host = x\nuser = u\n\n[other]\nport = 1\n"
        );
        // New section appended.
        assert_eq!(
            r(&o(Some("new"), Some("a"), Some("b"), true)),
            format!("{t}[new]\na = b\n")
        );
        // In sync.
        assert_eq!(
            o(Some("main"), Some("port"), Some("80"), true).apply(t).1,
            "OK"
        );
        // Absent option and section.
        assert_eq!(
            r(&o(Some("other"), Some("port"), None, false)),
            "# top\n[main]\nport = 80\n; host = x\n\n[other]\n"
        );
        assert_eq!(
            r(&o(Some("other"), None, None, false)),
            "# top\n[main]\nport = 80\n; host = x\n\n"
        );
        // Global options (no section) go before the first header.
        assert_eq!(
            o(None, Some("g"), Some("1"), true).apply("# c\n[s]\n").0,
            "# c\ng = 1\n[s]\n"
        );
        let mut ns = o(Some("s"), Some("k"), Some("v"), true);
        ns.no_extra_spaces = true;
        assert_eq!(ns.apply("").0, "[s]\nk=v\n");
    }
}
