//! `blockinfile`: keeps a block of lines between two marker lines in a file. The markers and
//! placement rules are Ansible's, so files already managed by Ansible stay managed: the same
//! input gives the same bytes.

use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::de_bool;
use super::fileops::{apply_text, build_args, de_opt_str, plan_text, AttrWant, TextEdit};
use super::replace::py_regex;
use super::{Module, ModuleCtx, Plan};
use crate::error::Result;

fn present_state() -> String {
    "present".into()
}
fn default_marker() -> String {
    "# {mark} ANSIBLE MANAGED BLOCK".into()
}
fn begin() -> String {
    "BEGIN".into()
}
fn end() -> String {
    "END".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockinfileArgs {
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    pub path: String,
    #[serde(default = "present_state")]
    pub state: String,
    #[serde(default, alias = "content", deserialize_with = "de_opt_str")]
    pub block: Option<String>,
    #[serde(default = "default_marker")]
    pub marker: String,
    #[serde(default = "begin")]
    pub marker_begin: String,
    #[serde(default = "end")]
    pub marker_end: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub insertafter: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub insertbefore: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub create: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub backup: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub validate: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub append_newline: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub prepend_newline: bool,
    #[serde(default)]
    pub mode: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub unsafe_writes: bool,
}

pub const BLOCKINFILE_ARGS: &[&str] = &[
    "path",
    "dest",
    "destfile",
    "name",
    "state",
    "block",
    "content",
    "marker",
    "marker_begin",
    "marker_end",
    "insertafter",
    "insertbefore",
    "create",
    "backup",
    "validate",
    "append_newline",
    "prepend_newline",
    "mode",
    "owner",
    "group",
    "unsafe_writes",
];

/// The block rules, independent of any host.
#[derive(Debug, Clone)]
pub struct BlockOpts {
    pub present: bool,
    pub block: String,
    pub marker: String,
    pub marker_begin: String,
    pub marker_end: String,
    pub insertafter: Option<String>,
    pub insertbefore: Option<String>,
    pub insert_re: Option<Regex>,
    /// The insert regex carries Python's MULTILINE flag (`(?m)`): it searches the whole text.
    pub insert_multiline: bool,
    pub append_newline: bool,
    pub prepend_newline: bool,
}

impl BlockOpts {
    pub fn new(present: bool, block: &str) -> BlockOpts {
        BlockOpts {
            present,
            block: block.to_string(),
            marker: default_marker(),
            marker_begin: begin(),
            marker_end: end(),
            insertafter: None,
            insertbefore: None,
            insert_re: None,
            insert_multiline: false,
            append_newline: false,
            prepend_newline: false,
        }
    }

    /// Compiles insertafter/insertbefore (EOF and BOF are places, not patterns).
    pub fn compile(&mut self) -> std::result::Result<(), String> {
        let pat = match (&self.insertafter, &self.insertbefore) {
            (Some(a), _) if a != "EOF" => Some(a.clone()),
            (None, Some(b)) if b != "BOF" => Some(b.clone()),
            _ => None,
        };
        if let Some(p) = pat {
            self.insert_multiline = inline_flags(&p).contains('m');
            self.insert_re = Some(py_regex(&p, "")?);
        }
        Ok(())
    }
}

/// The inline flags a pattern starts with: `(?im)abc` -> "im".
fn inline_flags(p: &str) -> String {
    p.strip_prefix("(?")
        .and_then(|r| r.split_once(')'))
        .map(|(f, _)| f.to_string())
        .filter(|f| f.chars().all(|c| c.is_ascii_alphabetic()))
        .unwrap_or_default()
}

/// The new text for `text` (None: the file is missing) and Ansible's message.
pub fn apply_block(text: Option<&str>, o: &BlockOpts) -> (String, &'static str) {
    let original = text.unwrap_or("");
    let mut lines: Vec<String> = original.split_inclusive('\n').map(str::to_string).collect();
    let marker0 = format!("{}\n", o.marker.replace("{mark}", &o.marker_begin));
    let marker1 = format!("{}\n", o.marker.replace("{mark}", &o.marker_end));
    let blocklines: Vec<String> = if o.present && !o.block.is_empty() {
        let mut block = o.block.clone();
        if !block.ends_with('\n') {
            block.push('\n');
        }
        std::iter::once(marker0.clone())
            .chain(block.split_inclusive('\n').map(str::to_string))
            .chain(std::iter::once(marker1.clone()))
            .collect()
    } else {
        vec![]
    };
    let (mut n0, mut n1) = (None, None);
    for (i, l) in lines.iter().enumerate() {
        if *l == marker0 {
            n0 = Some(i);
        }
        if *l == marker1 {
            n1 = Some(i);
        }
    }
    let mut at = match (n0, n1) {
        (Some(a), Some(b)) if a < b => {
            lines.drain(a..=b);
            a
        }
        (Some(a), Some(b)) => {
            lines.drain(b..=a);
            b
        }
        _ => {
            let after = o.insertafter.is_some() || o.insertbefore.is_none();
            match &o.insert_re {
                Some(re) => {
                    let mut found = None;
                    if o.insert_multiline {
                        if let Some(m) = re.find(original) {
                            let upto = if after { m.end() } else { m.start() };
                            found = Some(original[..upto].matches('\n').count());
                        }
                    } else {
                        for (i, l) in lines.iter().enumerate() {
                            if re.is_match(l.strip_suffix('\n').unwrap_or(l)) {
                                found = Some(i);
                            }
                        }
                    }
                    match found {
                        None => lines.len(),
                        Some(i) if o.insertafter.is_some() => i + 1,
                        Some(i) => i,
                    }
                }
                None if o.insertbefore.is_some() => 0,
                None => lines.len(),
            }
        }
    };
    if at > 0 && !lines[at - 1].ends_with('\n') {
        lines[at - 1].push('\n');
    }
    if o.prepend_newline && o.present && at != 0 && lines[at - 1] != "\n" {
        lines.insert(at, "\n".into());
        at += 1;
    }
    let nblock = blocklines.len();
    let empty_block = blocklines.is_empty();
    lines.splice(at..at, blocklines);
    if o.append_newline && o.present {
        let after = at + nblock;
        if after < lines.len() && lines[after] != "\n" {
            lines.insert(after, "\n".into());
        }
    }
    let result = lines.concat();
    let msg = if text == Some(result.as_str()) {
        ""
    } else if text.is_none() {
        "File created"
    } else if empty_block {
        "Block removed"
    } else {
        "Block inserted"
    };
    (result, msg)
}

pub struct Blockinfile {
    a: BlockinfileArgs,
    opts: BlockOpts,
    attrs: AttrWant,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: BlockinfileArgs = build_args("blockinfile", args)?;
    if a.state != "present" && a.state != "absent" {
        return Err(format!(
            "blockinfile: argument `state` must be present or absent, got {}",
            a.state
        ));
    }
    if a.insertafter.is_some() && a.insertbefore.is_some() {
        return Err(
            "blockinfile: parameters are mutually exclusive: insertafter|insertbefore".into(),
        );
    }
    let mut opts = BlockOpts {
        present: a.state == "present",
        block: a.block.clone().unwrap_or_default(),
        marker: a.marker.clone(),
        marker_begin: a.marker_begin.clone(),
        marker_end: a.marker_end.clone(),
        insertafter: a.insertafter.clone(),
        insertbefore: a.insertbefore.clone(),
        insert_re: None,
        insert_multiline: false,
        append_newline: a.append_newline,
        prepend_newline: a.prepend_newline,
    };
    opts.compile()
        .map_err(|e| format!("blockinfile: insertafter/insertbefore: {e}"))?;
    let attrs = AttrWant::from_args(&a.mode, &a.owner, &a.group)
        .map_err(|e| format!("blockinfile: {e}"))?;
    Ok(Box::new(Blockinfile { a, opts, attrs }))
}

pub static BLOCKINFILE: super::ModuleDef = super::ModuleDef {
    name: "blockinfile",
    args: BLOCKINFILE_ARGS,
    free_form: false,
    build,
};

#[async_trait]
impl Module for Blockinfile {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.a;
        let edit = TextEdit {
            path: a.path.clone(),
            create: a.create,
            missing_ok: !self.opts.present,
            missing_msg: format!("Path {} does not exist !", a.path),
            attrs: self.attrs.clone(),
            backup: a.backup,
            validate: a.validate.clone(),
        };
        let opts = self.opts.clone();
        plan_text(ctx, &edit, move |text| {
            let (new, msg) = apply_block(text, &opts);
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

    const B: &str = "# BEGIN ANSIBLE MANAGED BLOCK\n";
    const E: &str = "# END ANSIBLE MANAGED BLOCK\n";

    fn run(text: Option<&str>, o: &BlockOpts) -> String {
        apply_block(text, o).0
    }

    #[test]
    fn insert_update_remove_like_ansible() {
        let o = BlockOpts::new(true, "a\nb");
        // Appended at EOF; a last line without newline gets one.
        assert_eq!(run(Some("x\n"), &o), format!("x\n{B}a\nb\n{E}"));
        assert_eq!(run(Some("x"), &o), format!("x\n{B}a\nb\n{E}"));
        // Missing file (create): just the block.
        assert_eq!(
            apply_block(None, &o),
            (format!("{B}a\nb\n{E}"), "File created")
        );
        // An existing block is replaced in place, the same input gives the same bytes.
        let managed = format!("x\n{B}old\n{E}y\n");
        let (once, msg) = apply_block(Some(&managed), &o);
        assert_eq!(
            (once.as_str(), msg),
            (format!("x\n{B}a\nb\n{E}y\n").as_str(), "Block inserted")
        );
        assert_eq!(apply_block(Some(&once), &o), (once.clone(), ""));
        // An empty block, or state=absent, removes the block and its markers.
        let empty = BlockOpts::new(true, "");
        assert_eq!(
            apply_block(Some(&managed), &empty),
            ("x\ny\n".into(), "Block removed")
        );
        let gone = BlockOpts::new(false, "whatever");
        assert_eq!(run(Some(&managed), &gone), "x\ny\n");
        assert_eq!(apply_block(Some("x\n"), &gone), ("x\n".into(), ""));
    }

    #[test]
    fn placement_and_markers() {
        let mut o = BlockOpts::new(true, "k=v\n");
        o.insertafter = Some("^\\[main\\]".into());
        o.compile().unwrap();
        assert_eq!(
            run(Some("[main]\nz\n[main]\nw\n"), &o),
            format!("[main]\nz\n[main]\n{B}k=v\n{E}w\n")
        );
        // No match: EOF.
        assert_eq!(run(Some("q\n"), &o), format!("q\n{B}k=v\n{E}"));
        let mut o = BlockOpts::new(true, "k=v");
        o.insertbefore = Some("BOF".into());
        o.compile().unwrap();
        assert_eq!(run(Some("q\n"), &o), format!("{B}k=v\n{E}q\n"));
        let mut o = BlockOpts::new(true, "k=v");
        o.insertbefore = Some("^end".into());
        o.marker = "<!-- {mark} -->".into();
        o.marker_begin = "start".into();
        o.marker_end = "stop".into();
        o.compile().unwrap();
        assert_eq!(
            run(Some("a\nend\n"), &o),
            "a\n<!-- start -->\nk=v\n<!-- stop -->\nend\n"
        );
        // prepend/append_newline add blank lines around the block unless already there.
        let mut o = BlockOpts::new(true, "k");
        o.insertafter = Some("^a$".into());
        o.prepend_newline = true;
        o.append_newline = true;
        o.compile().unwrap();
        assert_eq!(run(Some("a\nb\n"), &o), format!("a\n\n{B}k\n{E}\nb\n"));
        // A multiline insertafter searches the whole text.
        let mut o = BlockOpts::new(true, "k");
        o.insertafter = Some("(?m)^a\\nb$".into());
        o.compile().unwrap();
        assert_eq!(run(Some("a\nb\nc\n"), &o), format!("a\nb\n{B}k\n{E}c\n"));
    }
}
