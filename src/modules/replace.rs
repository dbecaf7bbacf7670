//! `replace`: replaces every match of a regular expression in a file (optionally only between
//! `after` and `before`), with Python's `re.MULTILINE` semantics and Python-style backrefs
//! (`\1`, `\g<1>`, `\g<name>`), as Ansible's module does. Also home of the translation from
//! Python regex and replacement syntax that `lineinfile` shares.

use async_trait::async_trait;
use regex::{Captures, Regex};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::de_bool;
use super::fileops::{apply_text, build_args, de_opt_str, plan_text, AttrWant, TextEdit};
use super::{Module, ModuleCtx, Plan};
use crate::error::Result;

/// Compiles a Python `re` pattern: the syntax both share is the same; `\Z` is Rust's `\z`.
pub fn py_regex(pattern: &str, flags: &str) -> std::result::Result<Regex, String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    if !flags.is_empty() {
        out.push_str(&format!("(?{flags})"));
    }
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('Z') => out.push_str("\\z"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Regex::new(&out).map_err(|e| format!("bad regular expression `{pattern}`: {e}"))
}

/// Python's `match.expand(template)`: `\1`..`\99`, `\g<n>`, `\g<name>`, and the escapes
/// `\n \t \r \\ \a \f \v`; an unknown group is an error, as in Python.
pub fn py_expand(
    re: &Regex,
    caps: &Captures<'_>,
    template: &str,
) -> std::result::Result<String, String> {
    let mut out = String::new();
    let chars: Vec<char> = template.chars().collect();
    let mut i = 0;
    let group = |out: &mut String, name: &str| -> std::result::Result<(), String> {
        let m = match name.parse::<usize>() {
            Ok(n) if n < caps.len() => caps.get(n),
            Ok(n) => return Err(format!("invalid group reference {n}")),
            Err(_) => {
                if !re.capture_names().flatten().any(|n| n == name) {
                    return Err(format!("unknown group name '{name}'"));
                }
                caps.name(name)
            }
        };
        out.push_str(m.map(|m| m.as_str()).unwrap_or(""));
        Ok(())
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 == chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let n = chars[i + 1];
        match n {
            'g' if chars.get(i + 2) == Some(&'<') => {
                let end = chars[i + 3..]
                    .iter()
                    .position(|c| *c == '>')
                    .ok_or("missing > in \\g<...>")?;
                let name: String = chars[i + 3..i + 3 + end].iter().collect();
                group(&mut out, &name)?;
                i += 4 + end;
            }
            // Python: `\0` is the NUL character (an octal escape), not group 0.
            '0' => {
                out.push('\0');
                i += 2;
            }
            '1'..='9' => {
                let mut name = n.to_string();
                if let Some(d) = chars.get(i + 2).filter(|d| d.is_ascii_digit()) {
                    name.push(*d);
                }
                group(&mut out, &name)?;
                i += 1 + name.len();
            }
            'n' => {
                out.push('\n');
                i += 2;
            }
            't' => {
                out.push('\t');
                i += 2;
            }
            'r' => {
                out.push('\r');
                i += 2;
            }
            'a' => {
                out.push('\x07');
                i += 2;
            }
            'f' => {
                out.push('\x0c');
                i += 2;
            }
            'v' => {
                out.push('\x0b');
                i += 2;
            }
            '\\' => {
                out.push('\\');
                i += 2;
            }
            _ => {
                // Python keeps unknown ASCII-letter escapes as an error; others literally.
                out.push('\\');
                out.push(n);
                i += 2;
            }
        }
    }
    Ok(out)
}

/// `re.subn(regexp, replace, text)` with MULTILINE: the new text and the count.
pub fn py_subn(
    re: &Regex,
    replace: &str,
    text: &str,
) -> std::result::Result<(String, usize), String> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut count = 0;
    for caps in re.captures_iter(text) {
        let m = caps.get(0).expect("group 0");
        out.push_str(&text[last..m.start()]);
        out.push_str(&py_expand(re, &caps, replace)?);
        last = m.end();
        count += 1;
    }
    out.push_str(&text[last..]);
    Ok((out, count))
}

/// What `replace` does to a file's text: the new text and the count, or why nothing.
pub fn replace_text(
    text: &str,
    regexp: &str,
    replace: &str,
    after: Option<&str>,
    before: Option<&str>,
) -> std::result::Result<(String, usize), String> {
    let pattern = match (after, before) {
        (Some(a), Some(b)) => Some(format!("{a}(?P<subsection>.*?){b}")),
        (Some(a), None) => Some(format!("{a}(?P<subsection>.*)")),
        (None, Some(b)) => Some(format!("(?P<subsection>.*){b}")),
        (None, None) => None,
    };
    let (start, end) = match &pattern {
        Some(p) => {
            let section = py_regex(p, "s")?;
            match section.captures(text).and_then(|c| c.name("subsection")) {
                Some(m) => (m.start(), m.end()),
                None => return Ok((text.to_string(), 0)),
            }
        }
        None => (0, text.len()),
    };
    let re = py_regex(regexp, "m")?;
    let (new_section, n) = py_subn(&re, replace, &text[start..end])?;
    Ok((
        format!("{}{}{}", &text[..start], new_section, &text[end..]),
        n,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceArgs {
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    pub path: String,
    pub regexp: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub replace: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub after: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub before: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub backup: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub validate: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub encoding: Option<String>,
    #[serde(default)]
    pub mode: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub unsafe_writes: bool,
}

pub const REPLACE_ARGS: &[&str] = &[
    "path",
    "dest",
    "destfile",
    "name",
    "regexp",
    "replace",
    "after",
    "before",
    "backup",
    "validate",
    "encoding",
    "mode",
    "owner",
    "group",
    "unsafe_writes",
];

pub struct Replace(ReplaceArgs, AttrWant);

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: ReplaceArgs = build_args("replace", args)?;
    py_regex(&a.regexp, "m").map_err(|e| format!("replace: argument `regexp`: {e}"))?;
    if let Some(e) = &a.encoding {
        if !e.eq_ignore_ascii_case("utf-8") && !e.eq_ignore_ascii_case("utf8") {
            return Err(format!(
                "replace: argument `encoding`: only utf-8 is supported, got {e}"
            ));
        }
    }
    let attrs =
        AttrWant::from_args(&a.mode, &a.owner, &a.group).map_err(|e| format!("replace: {e}"))?;
    Ok(Box::new(Replace(a, attrs)))
}

pub static REPLACE: super::ModuleDef = super::ModuleDef {
    name: "replace",
    args: REPLACE_ARGS,
    free_form: false,
    build,
};

#[async_trait]
impl Module for Replace {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.0;
        let edit = TextEdit {
            path: a.path.clone(),
            create: false,
            missing_ok: false,
            missing_msg: format!("Path {} does not exist !", a.path),
            attrs: self.1.clone(),
            backup: a.backup,
            validate: a.validate.clone(),
        };
        let replace = a.replace.clone().unwrap_or_default();
        let (regexp, after, before) = (a.regexp.clone(), a.after.clone(), a.before.clone());
        plan_text(ctx, &edit, move |text| {
            let text = text.unwrap_or_default();
            let (new, n) =
                replace_text(text, &regexp, &replace, after.as_deref(), before.as_deref())?;
            let msg = if n > 0 && new != text {
                format!("{n} replacements made")
            } else {
                String::new()
            };
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

    #[test]
    fn python_backrefs() {
        let re = py_regex(r"^(?P<key>\w+)\s*=\s*(\d+)$", "m").unwrap();
        let (out, n) = py_subn(&re, r"\g<key>: \2 (\1)\n", "a = 1\nb=22\n").unwrap();
        assert_eq!(n, 2);
        assert_eq!(out, "a: 1 (a)\n\nb: 22 (b)\n\n");
        assert!(py_subn(&re, r"\3", "a=1").is_err());
        let (out, _) = py_subn(&re, r"[\g<0>]", "a=1").unwrap();
        assert_eq!(out, "[a=1]");
        // \Z is Python's end of text.
        let re = py_regex(r"x\Z", "").unwrap();
        assert!(re.is_match("ax") && !re.is_match("x\n"));
    }

    #[test]
    fn like_ansible_replace() {
        // (text, regexp, replace, after, before, expected, count)
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            &'a str,
            usize,
        );
        let cases: &[Case] = &[
            // Ansible docs: comment out a line in /etc/hosts.
            (
                "127.0.0.1 localhost\n10.0.0.1 old.host.name\n",
                r"(\s+)old\.host\.name(\s+.*)?$",
                r"\1new.host.name\2",
                None,
                None,
                "127.0.0.1 localhost\n10.0.0.1 new.host.name\n",
                1,
            ),
            // MULTILINE: ^ and $ at every line.
            ("a\nb\na\n", "^a$", "c", None, None, "c\nb\nc\n", 2),
            // after/before bound the section (DOTALL, non-greedy between).
            (
                "x=1\n<S>\nx=1\n</S>\nx=1\n",
                "^x=1$",
                "x=2",
                Some("<S>"),
                Some("</S>"),
                "x=1\n<S>\nx=2\n</S>\nx=1\n",
                1,
            ),
            (
                "x\nSTART\nx\n",
                "x",
                "y",
                Some("START"),
                None,
                "x\nSTART\ny\n",
                1,
            ),
            ("x\nEND\nx\n", "x", "y", None, Some("END"), "y\nEND\nx\n", 1),
            // Section markers that do not match: nothing changes.
            ("x\n", "x", "y", Some("NOPE"), None, "x\n", 0),
            // Deleting lines (empty replace).
            (
                "keep\ndrop me\nkeep\n",
                "^drop.*\n",
                "",
                None,
                None,
                "keep\nkeep\n",
                1,
            ),
        ];
        for (text, re, rep, after, before, want, count) in cases {
            let (got, n) = replace_text(text, re, rep, *after, *before).unwrap();
            assert_eq!((&got[..], n), (*want, *count), "{re} in {text:?}");
        }
    }
}
