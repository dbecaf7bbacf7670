//! `lineinfile`: makes sure one line is in a file (or that no line matching is), with the exact
//! rules of Ansible's module: with `regexp` the last matching line is replaced (the first with
//! `firstmatch`); otherwise the line goes after/before the last line matching `insertafter` /
//! `insertbefore`, else at the end; a line already present anywhere is left alone.

use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::de_bool;
use super::fileops::{apply_text, build_args, de_opt_str, plan_text, AttrWant, TextEdit};
use super::replace::{py_expand, py_regex};
use super::{Module, ModuleCtx, Plan};
use crate::error::Result;

fn present_state() -> String {
    "present".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineinfileArgs {
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    pub path: String,
    #[serde(default = "present_state")]
    pub state: String,
    #[serde(default, alias = "regex", deserialize_with = "de_opt_str")]
    pub regexp: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub search_string: Option<String>,
    #[serde(default, alias = "value", deserialize_with = "de_opt_str")]
    pub line: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub backrefs: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub insertafter: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub insertbefore: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub create: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub backup: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub firstmatch: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub validate: Option<String>,
    #[serde(default)]
    pub mode: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub unsafe_writes: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub encoding: Option<String>,
}

pub const LINEINFILE_ARGS: &[&str] = &[
    "path",
    "dest",
    "destfile",
    "name",
    "state",
    "regexp",
    "regex",
    "search_string",
    "line",
    "value",
    "backrefs",
    "insertafter",
    "insertbefore",
    "create",
    "backup",
    "firstmatch",
    "validate",
    "mode",
    "owner",
    "group",
    "unsafe_writes",
    "encoding",
];

/// The line-level rules, independent of any host.
#[derive(Debug, Clone, Default)]
pub struct LineOpts {
    pub regexp: Option<Regex>,
    pub search_string: Option<String>,
    pub line: String,
    pub insertafter: Option<String>,
    pub insertbefore: Option<String>,
    pub backrefs: bool,
    pub firstmatch: bool,
}

fn strip_nl(l: &str) -> &str {
    l.strip_suffix('\n').unwrap_or(l)
}

fn ends_nl(l: &str) -> bool {
    l.ends_with('\n') || l.ends_with('\r')
}

/// state=present: the new text and Ansible's message ("" when nothing changes).
pub fn present(text: &str, o: &LineOpts) -> std::result::Result<(String, &'static str), String> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let ins_re = match (&o.insertafter, &o.insertbefore) {
        (Some(a), _) if a != "BOF" && a != "EOF" => Some(py_regex(a, "")?),
        (None, Some(b)) if b != "BOF" => Some(py_regex(b, "")?),
        _ => None,
    };
    let mut index: [isize; 2] = [-1, -1];
    let mut caps_line: Option<String> = None;
    let mut matched = false;
    if let Some(re) = &o.regexp {
        for (n, l) in lines.iter().enumerate() {
            if re.is_match(strip_nl(l)) {
                index[0] = n as isize;
                matched = true;
                caps_line = Some(strip_nl(l).to_string());
                if o.firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(s) = &o.search_string {
        for (n, l) in lines.iter().enumerate() {
            if l.contains(s.as_str()) {
                index[0] = n as isize;
                matched = true;
                if o.firstmatch {
                    break;
                }
            }
        }
    }
    if !matched {
        for (n, l) in lines.iter().enumerate() {
            if o.line == l.trim_end_matches(['\r', '\n']) {
                index[0] = n as isize;
            } else if ins_re.as_ref().is_some_and(|r| r.is_match(strip_nl(l))) {
                if o.insertafter.is_some() {
                    index[1] = n as isize + 1;
                } else {
                    index[1] = n as isize;
                }
                if o.firstmatch {
                    break;
                }
            }
        }
    }
    let nl_line = format!("{}\n", o.line);
    if index[0] != -1 {
        let i = index[0] as usize;
        let mut new_line = match (&o.regexp, &caps_line) {
            (Some(re), Some(l)) if o.backrefs => {
                let caps = re.captures(l).ok_or("internal: match vanished")?;
                py_expand(re, &caps, &o.line)?
            }
            _ => o.line.clone(),
        };
        if !new_line.ends_with('\n') {
            new_line.push('\n');
        }
        if lines[i] != new_line {
            lines[i] = new_line;
            return Ok((lines.concat(), "line replaced"));
        }
        return Ok((lines.concat(), ""));
    }
    if o.backrefs {
        // Nothing matched: without the match there is no safe line to write.
        return Ok((lines.concat(), ""));
    }
    if o.insertbefore.as_deref() == Some("BOF") || o.insertafter.as_deref() == Some("BOF") {
        lines.insert(0, nl_line);
        return Ok((lines.concat(), "line added"));
    }
    if o.insertafter.as_deref() == Some("EOF") || index[1] == -1 {
        if lines.last().is_some_and(|l| !ends_nl(l)) {
            lines.push("\n".into());
        }
        lines.push(nl_line);
        return Ok((lines.concat(), "line added"));
    }
    let at = index[1] as usize;
    if o.insertafter.is_some() {
        if at == lines.len() {
            if lines[at - 1].trim_end_matches(['\r', '\n']) != o.line {
                // Ansible would glue the line to a last line without a newline; we do not.
                if !ends_nl(&lines[at - 1]) {
                    lines[at - 1].push('\n');
                }
                lines.push(nl_line);
                return Ok((lines.concat(), "line added"));
            }
        } else if lines[at].trim_end_matches(['\r', '\n']) != o.line {
            lines.insert(at, nl_line);
            return Ok((lines.concat(), "line added"));
        }
        return Ok((lines.concat(), ""));
    }
    lines.insert(at, nl_line);
    Ok((lines.concat(), "line added"))
}

/// state=absent: the new text and how many lines went.
pub fn absent(text: &str, o: &LineOpts) -> (String, usize) {
    let mut found = 0;
    let kept: Vec<&str> = text
        .split_inclusive('\n')
        .filter(|l| {
            let hit = if let Some(re) = &o.regexp {
                re.is_match(strip_nl(l))
            } else if let Some(s) = &o.search_string {
                l.contains(s.as_str())
            } else {
                o.line == l.trim_end_matches(['\r', '\n'])
            };
            if hit {
                found += 1;
            }
            !hit
        })
        .collect();
    (kept.concat(), found)
}

pub struct Lineinfile {
    a: LineinfileArgs,
    opts: LineOpts,
    attrs: AttrWant,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: LineinfileArgs = build_args("lineinfile", args)?;
    let e = |m: &str| Err(format!("lineinfile: {m}"));
    if a.state != "present" && a.state != "absent" {
        return e(&format!(
            "argument `state` must be present or absent, got {}",
            a.state
        ));
    }
    if a.regexp.is_some() && a.search_string.is_some() {
        return e("parameters are mutually exclusive: regexp|search_string");
    }
    if a.backrefs && a.search_string.is_some() {
        return e("parameters are mutually exclusive: backrefs|search_string");
    }
    if let Some(enc) = &a.encoding {
        if !enc.eq_ignore_ascii_case("utf-8") && !enc.eq_ignore_ascii_case("utf8") {
            return e(&format!(
                "argument `encoding`: only utf-8 is supported, got {enc}"
            ));
        }
    }
    if a.insertafter.is_some() && a.insertbefore.is_some() {
        return e("parameters are mutually exclusive: insertbefore|insertafter");
    }
    if a.state == "present" && a.line.is_none() {
        return e("line is required with state=present");
    }
    if a.backrefs && a.regexp.is_none() {
        return e("regexp is required with backrefs=true");
    }
    if a.state == "absent" && a.regexp.is_none() && a.search_string.is_none() && a.line.is_none() {
        return e("one of line, search_string, or regexp is required with state=absent");
    }
    let regexp = match &a.regexp {
        Some(r) => {
            Some(py_regex(r, "").map_err(|m| format!("lineinfile: argument `regexp`: {m}"))?)
        }
        None => None,
    };
    for r in [&a.insertafter, &a.insertbefore].into_iter().flatten() {
        if r != "BOF" && r != "EOF" {
            py_regex(r, "").map_err(|m| format!("lineinfile: insertafter/insertbefore: {m}"))?;
        }
    }
    let attrs =
        AttrWant::from_args(&a.mode, &a.owner, &a.group).map_err(|m| format!("lineinfile: {m}"))?;
    let opts = LineOpts {
        regexp,
        search_string: a.search_string.clone(),
        line: a.line.clone().unwrap_or_default(),
        insertafter: a.insertafter.clone(),
        insertbefore: a.insertbefore.clone(),
        backrefs: a.backrefs,
        firstmatch: a.firstmatch,
    };
    Ok(Box::new(Lineinfile { a, opts, attrs }))
}

pub static LINEINFILE: super::ModuleDef = super::ModuleDef {
    name: "lineinfile",
    args: LINEINFILE_ARGS,
    free_form: false,
    build,
};

#[async_trait]
impl Module for Lineinfile {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.a;
        let is_present = a.state == "present";
        let edit = TextEdit {
            path: a.path.clone(),
            create: is_present && a.create,
            missing_ok: !is_present,
            missing_msg: format!("Destination {} does not exist !", a.path),
            attrs: self.attrs.clone(),
            backup: a.backup,
            validate: a.validate.clone(),
        };
        let opts = self.opts.clone();
        plan_text(ctx, &edit, move |text| {
            let text = text.unwrap_or("");
            if is_present {
                let (new, msg) = present(text, &opts)?;
                Ok((new, json!({ "msg": msg })))
            } else {
                let (new, found) = absent(text, &opts);
                let msg = if found > 0 {
                    format!("{found} line(s) removed")
                } else {
                    String::new()
                };
                Ok((new, json!({ "msg": msg, "found": found })))
            }
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

    fn opts(regexp: Option<&str>, line: &str) -> LineOpts {
        LineOpts {
            regexp: regexp.map(|r| py_regex(r, "").unwrap()),
            line: line.into(),
            ..Default::default()
        }
    }

    #[test]
    fn present_like_ansible() {
        // (name, input, opts, expected output, msg)
        let ia = |mut o: LineOpts, a: &str| {
            o.insertafter = Some(a.into());
            o
        };
        let ib = |mut o: LineOpts, b: &str| {
            o.insertbefore = Some(b.into());
            o
        };
        let first = |mut o: LineOpts| {
            o.firstmatch = true;
            o
        };
        let cases: Vec<(&str, &str, LineOpts, &str, &str)> = vec![
            (
                "append at EOF",
                "a\nb\n",
                opts(None, "c"),
                "a\nb\nc\n",
                "line added",
            ),
            (
                "missing final newline gets one",
                "a\nb",
                opts(None, "c"),
                "a\nb\nc\n",
                "line added",
            ),
            ("empty file", "", opts(None, "c"), "c\n", "line added"),
            (
                "line already there",
                "a\nc\nb\n",
                opts(None, "c"),
                "a\nc\nb\n",
                "",
            ),
            (
                "regexp: last match replaced",
                "x=1\ny\nx=2\n",
                opts(Some("^x="), "x=9"),
                "x=1\ny\nx=9\n",
                "line replaced",
            ),
            (
                "regexp + firstmatch: first match replaced",
                "x=1\ny\nx=2\n",
                first(opts(Some("^x="), "x=9")),
                "x=9\ny\nx=2\n",
                "line replaced",
            ),
            (
                "regexp matches the wanted line already",
                "x=9\n",
                opts(Some("^x="), "x=9"),
                "x=9\n",
                "",
            ),
            (
                "regexp no match, line exists elsewhere: no change",
                "a\nx=9\n",
                opts(Some("^nomatch"), "x=9"),
                "a\nx=9\n",
                "",
            ),
            (
                "regexp no match: appended",
                "a\n",
                opts(Some("^x="), "x=9"),
                "a\nx=9\n",
                "line added",
            ),
            (
                "insertafter: after the last match",
                "[s]\na\n[s]\nb\n",
                ia(opts(None, "new"), r"^\[s\]"),
                "[s]\na\n[s]\nnew\nb\n",
                "line added",
            ),
            (
                "insertafter + firstmatch: after the first match",
                "[s]\na\n[s]\nb\n",
                first(ia(opts(None, "new"), r"^\[s\]")),
                "[s]\nnew\na\n[s]\nb\n",
                "line added",
            ),
            (
                "insertafter matches the last line",
                "a\n[s]",
                ia(opts(None, "new"), r"^\[s\]"),
                "a\n[s]\nnew\n",
                "line added",
            ),
            (
                "insertafter no match: EOF",
                "a\n",
                ia(opts(None, "new"), "^zzz"),
                "a\nnew\n",
                "line added",
            ),
            (
                "insertbefore: before the last match",
                "a\n#end\nb\n#end\n",
                ib(opts(None, "new"), "^#end"),
                "a\n#end\nb\nnew\n#end\n",
                "line added",
            ),
            (
                "insertbefore BOF",
                "a\n",
                ib(opts(None, "new"), "BOF"),
                "new\na\n",
                "line added",
            ),
            (
                "insertafter BOF",
                "a\n",
                ia(opts(None, "new"), "BOF"),
                "new\na\n",
                "line added",
            ),
            (
                "regexp wins over insertafter when it matches",
                "k=1\n[s]\n",
                ia(opts(Some("^k="), "k=2"), r"^\[s\]"),
                "k=2\n[s]\n",
                "line replaced",
            ),
            (
                "regexp matched last line without newline: newline added",
                "a\nk=2",
                opts(Some("^k="), "k=2"),
                "a\nk=2\n",
                "line replaced",
            ),
        ];
        for (name, input, o, want, msg) in cases {
            let (got, m) = present(input, &o).unwrap();
            assert_eq!((got.as_str(), m), (want, msg), "{name}");
        }
    }

    #[test]
    fn backrefs_like_ansible() {
        let mut o = opts(
            Some(r"^(\s*)PermitRootLogin\s+(\S+)$"),
            r"\1PermitRootLogin no # was \2",
        );
        o.backrefs = true;
        let (got, _) = present("  PermitRootLogin yes\n", &o).unwrap();
        assert_eq!(got, "  PermitRootLogin no # was yes\n");
        // No match with backrefs: nothing at all, not even an append.
        let (got, m) = present("other\n", &o).unwrap();
        assert_eq!((got.as_str(), m), ("other\n", ""));
        // Named groups.
        let mut o = opts(Some(r"^(?P<k>\w+)=.*$"), r"\g<k>=on");
        o.backrefs = true;
        assert_eq!(present("opt=off\n", &o).unwrap().0, "opt=on\n");
    }

    #[test]
    fn search_string_and_absent() {
        let o = LineOpts {
            search_string: Some("(literal".into()),
            line: "(literal) new".into(),
            ..Default::default()
        };
        assert_eq!(
            present("a\n(literal) old\n", &o).unwrap().0,
            "a\n(literal) new\n"
        );
        // absent removes every matching line.
        assert_eq!(
            absent("x=1\ny\nx=2\n", &opts(Some("^x="), "")),
            ("y\n".into(), 2)
        );
        assert_eq!(absent("a\nb\na", &opts(None, "a")), ("b\n".into(), 2));
        assert_eq!(absent("a\n", &o), ("a\n".into(), 0));
    }
}
