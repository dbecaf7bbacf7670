//! Ansible's filters, with Ansible's (Python's) semantics.

use std::path::Path;

use base64::Engine as _;
use minijinja::value::{ArgType, Rest, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State, Value};
use sha1::Digest as _;

use super::crypt;
use super::pyfmt::{py_json, py_str, py_yaml, JsonOpts};
use super::{from_json, to_json, version};

/// Positional and keyword arguments of a call, looked up the way Python binds them.
pub(crate) struct Args {
    pub pos: Vec<Value>,
    pub kw: Vec<(String, Value)>,
}

impl Args {
    pub(crate) fn new(rest: Rest<ValueOrKwargs>) -> Args {
        Args::from_values(rest.into_values())
    }

    pub(crate) fn from_values(values: Vec<Value>) -> Args {
        let mut pos = Vec::new();
        let mut kw = Vec::new();
        for v in values {
            if v.is_kwargs() {
                if let Ok(keys) = v.try_iter() {
                    for k in keys {
                        let val = v.get_item(&k).unwrap_or_default();
                        kw.push((py_str(&k), val));
                    }
                }
            } else {
                pos.push(v);
            }
        }
        Args { pos, kw }
    }

    pub(crate) fn kwarg(&self, name: &str) -> Option<Value> {
        self.kw
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// The argument at position `i` (after the filtered value) or named `name`.
    pub(crate) fn get(&self, i: usize, name: &str) -> Option<Value> {
        self.kwarg(name).or_else(|| self.pos.get(i).cloned())
    }

    pub(crate) fn bool(&self, i: usize, name: &str, default: bool) -> bool {
        self.get(i, name).map(|v| v.is_true()).unwrap_or(default)
    }

    pub(crate) fn str(&self, i: usize, name: &str) -> Option<String> {
        self.get(i, name)
            .filter(|v| !v.is_none() && !v.is_undefined())
            .map(|v| py_str(&v))
    }

    pub(crate) fn int(&self, i: usize, name: &str) -> Option<i64> {
        self.get(i, name).and_then(|v| to_i64(&v))
    }
}

pub(crate) fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// Fails with minijinja's own undefined error (which names the variable) on undefined.
pub(crate) fn need(state: &State, v: &Value) -> Result<(), Error> {
    if v.is_undefined() {
        <String as ArgType>::from_state_and_value(Some(state), Some(v))?;
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    Ok(())
}

pub(crate) fn to_i64(v: &Value) -> Option<i64> {
    match v.kind() {
        ValueKind::Bool => Some(v.is_true() as i64),
        ValueKind::Number => {
            if v.is_integer() {
                i64::try_from(v.clone()).ok()
            } else {
                f64::try_from(v.clone()).ok().map(|f| f.trunc() as i64)
            }
        }
        ValueKind::String => v.as_str().and_then(|s| s.trim().parse::<i64>().ok()),
        _ => None,
    }
}

pub(crate) fn to_f64(v: &Value) -> Option<f64> {
    match v.kind() {
        ValueKind::Bool => Some(v.is_true() as i64 as f64),
        ValueKind::Number => f64::try_from(v.clone()).ok(),
        ValueKind::String => {
            let s = v.as_str()?.trim().to_ascii_lowercase();
            match s.as_str() {
                "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
                "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
                "nan" => Some(f64::NAN),
                _ => s.replace('_', "").parse::<f64>().ok(),
            }
        }
        _ => None,
    }
}

/// Items of a sequence, map keys, or characters of a string.
pub(crate) fn items(state: &State, v: &Value) -> Result<Vec<Value>, Error> {
    need(state, v)?;
    if let Some(s) = v.as_str() {
        return Ok(s.chars().map(|c| Value::from(c.to_string())).collect());
    }
    if v.is_none() {
        return Err(err("None is not iterable"));
    }
    Ok(v.try_iter()?.collect())
}

fn string_of(state: &State, v: &Value) -> Result<String, Error> {
    need(state, v)?;
    Ok(py_str(v))
}

fn contains(seq: &[Value], x: &Value) -> bool {
    seq.iter().any(|y| y == x)
}

fn unique_vals(vals: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(vals.len());
    for v in vals {
        if !contains(&out, &v) {
            out.push(v);
        }
    }
    out
}

fn regex_build(pat: &str, ignorecase: bool, multiline: bool) -> Result<regex::Regex, Error> {
    regex::RegexBuilder::new(pat)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| err(format!("invalid regular expression '{pat}': {e}")))
}

type F = fn(&State, &Value, &Args) -> Result<Value, Error>;

/// Registers a filter under its names and their `ansible.builtin.` forms.
fn reg(env: &mut Environment<'static>, names: &[&'static str], f: F) {
    for name in names {
        for full in [name.to_string(), format!("ansible.builtin.{name}")] {
            env.add_filter(
                full,
                move |state: &State, v: &Value, rest: Rest<ValueOrKwargs>| {
                    f(state, v, &Args::new(rest))
                },
            );
        }
    }
}

pub(crate) fn register(env: &mut Environment<'static>) {
    reg(env, &["default", "d"], f_default);
    reg(env, &["bool"], f_bool);
    reg(env, &["int"], f_int);
    reg(env, &["float"], f_float);
    reg(env, &["string"], |s, v, _| {
        Ok(Value::from(string_of(s, v)?))
    });
    reg(env, &["ternary"], f_ternary);
    reg(env, &["combine"], f_combine);
    reg(env, &["join"], f_join);
    reg(env, &["unique"], |s, v, _| {
        Ok(Value::from(unique_vals(items(s, v)?)))
    });
    reg(env, &["basename"], |s, v, _| {
        Ok(Value::from(basename(&string_of(s, v)?)))
    });
    reg(env, &["dirname"], |s, v, _| {
        Ok(Value::from(dirname(&string_of(s, v)?)))
    });
    reg(env, &["expanduser"], |s, v, _| {
        Ok(Value::from(expanduser(&string_of(s, v)?)))
    });
    reg(env, &["splitext"], f_splitext);
    reg(env, &["path_join"], f_path_join);
    reg(env, &["flatten"], f_flatten);
    reg(env, &["regex_search"], f_regex_search);
    reg(env, &["regex_replace"], f_regex_replace);
    reg(env, &["regex_findall"], f_regex_findall);
    reg(env, &["regex_escape"], f_regex_escape);
    reg(env, &["difference"], |s, v, a| {
        set_op(s, v, a, "difference")
    });
    reg(env, &["union"], |s, v, a| set_op(s, v, a, "union"));
    reg(env, &["intersect"], |s, v, a| set_op(s, v, a, "intersect"));
    reg(env, &["symmetric_difference"], |s, v, a| {
        set_op(s, v, a, "symmetric_difference")
    });
    reg(env, &["product"], f_product);
    reg(env, &["zip"], |s, v, a| f_zip(s, v, a, false));
    reg(env, &["zip_longest"], |s, v, a| f_zip(s, v, a, true));
    reg(env, &["items2dict"], f_items2dict);
    reg(env, &["dict2items"], f_dict2items);
    reg(env, &["password_hash"], f_password_hash);
    reg(env, &["to_json"], f_to_json);
    reg(env, &["to_nice_json"], f_to_nice_json);
    reg(env, &["from_json"], f_from_json);
    reg(env, &["to_yaml"], |s, v, a| f_to_yaml(s, v, a, false));
    reg(env, &["to_nice_yaml"], |s, v, a| f_to_yaml(s, v, a, true));
    reg(env, &["from_yaml"], f_from_yaml);
    reg(env, &["from_yaml_all"], f_from_yaml_all);
    reg(env, &["b64encode"], |s, v, _| {
        Ok(Value::from(
            base64::engine::general_purpose::STANDARD.encode(string_of(s, v)?.as_bytes()),
        ))
    });
    reg(env, &["b64decode"], f_b64decode);
    reg(env, &["mandatory"], f_mandatory);
    reg(env, &["quote", "shell_quote"], |s, v, _| {
        let text = if v.is_none() {
            String::new()
        } else {
            string_of(s, v)?
        };
        Ok(Value::from(crate::transport::quote::quote(&text)))
    });
    reg(env, &["hash"], f_hash);
    reg(env, &["checksum", "sha1"], |s, v, _| {
        hash_of(&string_of(s, v)?, "sha1")
    });
    reg(env, &["md5"], |s, v, _| hash_of(&string_of(s, v)?, "md5"));
    reg(env, &["comment"], f_comment);
    reg(env, &["strftime"], f_strftime);
    reg(env, &["random"], f_random);
    reg(env, &["shuffle"], f_shuffle);
    reg(env, &["split"], f_split);
    reg(env, &["dict"], f_dict);
    reg(env, &["type_debug"], |_, v, _| {
        Ok(Value::from(type_name(v)))
    });
    reg(env, &["version_compare", "version"], f_version_compare);
    reg(env, &["extract"], f_extract);
    reg(env, &["subelements"], |s, v, a| {
        super::lookups::subelements(
            s,
            v,
            &a.get(0, "subelements").unwrap_or_default(),
            a.bool(1, "skip_missing", false),
        )
    });
    reg(env, &["realpath"], |s, v, _| {
        let p = expanduser(&string_of(s, v)?);
        Ok(Value::from(
            std::fs::canonicalize(&p)
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or(p),
        ))
    });
    reg(env, &["to_uuid"], f_to_uuid);
    reg(env, &["urlsplit"], f_urlsplit);
    reg(env, &["relpath"], |s, v, a| {
        let p = string_of(s, v)?;
        let start = a.str(0, "start").unwrap_or_else(|| {
            std::env::current_dir()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        Ok(Value::from(relpath(&p, &start)))
    });
    reg(env, &["human_readable"], f_human_readable);
    reg(env, &["human_to_bytes"], f_human_to_bytes);
    reg(env, &["combinations"], |s, v, a| {
        let list = items(s, v)?;
        let r = a.int(0, "r").unwrap_or(0).max(0) as usize;
        let mut out = Vec::new();
        combine_idx(list.len(), r, 0, &mut vec![], &mut |idx: &[usize]| {
            out.push(Value::from(
                idx.iter().map(|&i| list[i].clone()).collect::<Vec<_>>(),
            ))
        });
        Ok(Value::from(out))
    });
    reg(env, &["permutations"], |s, v, a| {
        let list = items(s, v)?;
        let r = a
            .int(0, "r")
            .map(|r| r.max(0) as usize)
            .unwrap_or(list.len());
        let mut out = Vec::new();
        permute_idx(list.len(), r, &mut vec![], &mut |idx: &[usize]| {
            out.push(Value::from(
                idx.iter().map(|&i| list[i].clone()).collect::<Vec<_>>(),
            ))
        });
        Ok(Value::from(out))
    });
    reg(env, &["pow"], |s, v, a| {
        need(s, v)?;
        let x = to_f64(v).ok_or_else(|| err("pow needs a number"))?;
        let y = a
            .get(0, "y")
            .and_then(|y| to_f64(&y))
            .ok_or_else(|| err("pow needs an exponent"))?;
        Ok(Value::from(x.powf(y)))
    });
    reg(env, &["root"], |s, v, a| {
        need(s, v)?;
        let x = to_f64(v).ok_or_else(|| err("root needs a number"))?;
        let b = a.get(0, "base").and_then(|y| to_f64(&y)).unwrap_or(2.0);
        Ok(Value::from(if b == 2.0 {
            x.sqrt()
        } else {
            x.powf(1.0 / b)
        }))
    });
    reg(env, &["log"], |s, v, a| {
        need(s, v)?;
        let x = to_f64(v).ok_or_else(|| err("log needs a number"))?;
        Ok(Value::from(
            match a.get(0, "base").and_then(|y| to_f64(&y)) {
                Some(b) => x.ln() / b.ln(),
                None => x.ln(),
            },
        ))
    });
}

fn f_default(_: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let dv = a.get(0, "default_value").unwrap_or_else(|| Value::from(""));
    let boolean = a.bool(1, "boolean", false);
    if v.is_undefined() || (boolean && !v.is_true()) {
        Ok(dv)
    } else {
        Ok(v.clone())
    }
}

/// Ansible's `bool`: a fixed set of spellings, not truthiness.
pub(crate) fn ansible_bool(v: &Value) -> bool {
    match v.kind() {
        ValueKind::Bool => v.is_true(),
        ValueKind::None | ValueKind::Undefined => false,
        ValueKind::Number => to_f64(v) == Some(1.0),
        ValueKind::String => matches!(
            v.as_str()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
                .as_str(),
            "yes" | "on" | "1" | "true"
        ),
        _ => false,
    }
}

fn f_bool(s: &State, v: &Value, _: &Args) -> Result<Value, Error> {
    need(s, v)?;
    Ok(Value::from(ansible_bool(v)))
}

fn parse_int_base(s: &str, base: u32) -> Option<i64> {
    let t = s.trim().replace('_', "");
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, t.trim_start_matches('+').to_string()),
    };
    let lower = t.to_ascii_lowercase();
    let (base, digits) = match base {
        0 => {
            if let Some(r) = lower.strip_prefix("0x") {
                (16, r.to_string())
            } else if let Some(r) = lower.strip_prefix("0o") {
                (8, r.to_string())
            } else if let Some(r) = lower.strip_prefix("0b") {
                (2, r.to_string())
            } else {
                (10, lower.clone())
            }
        }
        16 => (16, lower.strip_prefix("0x").unwrap_or(&lower).to_string()),
        8 => (8, lower.strip_prefix("0o").unwrap_or(&lower).to_string()),
        2 => (2, lower.strip_prefix("0b").unwrap_or(&lower).to_string()),
        b => (b, lower.clone()),
    };
    let n = i64::from_str_radix(&digits, base).ok()?;
    Some(if neg { -n } else { n })
}

fn f_int(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    need(s, v)?;
    let default = a.get(0, "default").unwrap_or_else(|| Value::from(0));
    let base = a.int(1, "base").unwrap_or(10) as u32;
    let r = match v.kind() {
        ValueKind::String => {
            let t = v.as_str().unwrap_or("");
            parse_int_base(t, base).or_else(|| {
                if base == 10 {
                    to_f64(v)
                        .filter(|f| f.is_finite())
                        .map(|f| f.trunc() as i64)
                } else {
                    None
                }
            })
        }
        _ => to_i64(v),
    };
    Ok(r.map(Value::from).unwrap_or(default))
}

fn f_float(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    need(s, v)?;
    let default = a.get(0, "default").unwrap_or_else(|| Value::from(0.0));
    Ok(to_f64(v).map(Value::from).unwrap_or(default))
}

fn f_ternary(_: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let t = a.get(0, "true_val").unwrap_or_default();
    let f = a.get(1, "false_val").unwrap_or_default();
    if v.is_none() {
        if let Some(n) = a.get(2, "none_val") {
            return Ok(n);
        }
    }
    Ok(if v.is_true() { t } else { f })
}

fn merge_lists(
    x: &[serde_json::Value],
    y: &[serde_json::Value],
    mode: &str,
) -> Result<Vec<serde_json::Value>, Error> {
    Ok(match mode {
        "replace" => y.to_vec(),
        "keep" => x.to_vec(),
        "append" => x.iter().chain(y.iter()).cloned().collect(),
        "prepend" => y.iter().chain(x.iter()).cloned().collect(),
        "append_rp" => x.iter().filter(|e| !y.contains(e)).chain(y.iter()).cloned().collect(),
        "prepend_rp" => y.iter().chain(x.iter().filter(|e| !y.contains(e))).cloned().collect(),
        other => {
            return Err(err(format!(
                "combine: list_merge must be replace, keep, append, prepend, append_rp or prepend_rp, not '{other}'"
            )))
        }
    })
}

/// Ansible's `merge_hash`: `y` wins over `x`.
pub(crate) fn merge_hash(
    x: &serde_json::Map<String, serde_json::Value>,
    y: &serde_json::Map<String, serde_json::Value>,
    recursive: bool,
    list_merge: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    use serde_json::Value as J;
    let mut out = x.clone();
    for (k, yv) in y {
        let merged = match (out.get(k), yv) {
            (Some(J::Object(xm)), J::Object(ym)) if recursive => {
                J::Object(merge_hash(xm, ym, recursive, list_merge)?)
            }
            (Some(J::Array(xl)), J::Array(yl)) => J::Array(merge_lists(xl, yl, list_merge)?),
            _ => yv.clone(),
        };
        out.insert(k.clone(), merged);
    }
    Ok(out)
}

fn f_combine(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    need(s, v)?;
    let recursive = a.kwarg("recursive").map(|x| x.is_true()).unwrap_or(false);
    let list_merge = a
        .kwarg("list_merge")
        .map(|x| py_str(&x))
        .unwrap_or_else(|| "replace".into());
    let mut dicts = Vec::new();
    for term in std::iter::once(v).chain(a.pos.iter()) {
        need(s, term)?;
        match to_json(term) {
            serde_json::Value::Array(items) => dicts.extend(items),
            other => dicts.push(other),
        }
    }
    let mut acc = serde_json::Map::new();
    for d in dicts {
        match d {
            serde_json::Value::Object(m) => acc = merge_hash(&acc, &m, recursive, &list_merge)?,
            other => {
                return Err(err(format!(
                    "combine expects dictionaries, got {}",
                    json_type(&other)
                )))
            }
        }
    }
    Ok(from_json(&serde_json::Value::Object(acc)))
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "NoneType",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(n) if n.is_f64() => "float",
        serde_json::Value::Number(_) => "int",
        serde_json::Value::String(_) => "str",
        serde_json::Value::Array(_) => "list",
        serde_json::Value::Object(_) => "dict",
    }
}

fn f_join(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let sep = a.str(0, "d").unwrap_or_default();
    let attr = a.str(1, "attribute");
    let mut parts = Vec::new();
    for item in items(s, v)? {
        let item = match &attr {
            Some(at) => item.get_attr(at)?,
            None => item,
        };
        need(s, &item)?;
        parts.push(py_str(&item));
    }
    Ok(Value::from(parts.join(&sep)))
}

pub(crate) fn basename(p: &str) -> String {
    p.rsplit('/').next().unwrap_or("").to_string()
}

pub(crate) fn dirname(p: &str) -> String {
    let i = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    let head = &p[..i];
    if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/').to_string()
    } else {
        head.to_string()
    }
}

pub(crate) fn expanduser(p: &str) -> String {
    if p == "~" || p.starts_with("~/") {
        if let Some(home) =
            std::env::var_os("HOME").or_else(|| dirs::home_dir().map(|h| h.into_os_string()))
        {
            return format!(
                "{}{}",
                home.to_string_lossy().trim_end_matches('/'),
                &p[1..]
            );
        }
    }
    p.to_string()
}

fn f_splitext(s: &State, v: &Value, _: &Args) -> Result<Value, Error> {
    let p = string_of(s, v)?;
    let base_start = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    let base = &p[base_start..];
    let leading = base.len() - base.trim_start_matches('.').len();
    let (root, ext) = match base[leading..].rfind('.') {
        Some(i) => {
            let at = base_start + leading + i;
            (p[..at].to_string(), p[at..].to_string())
        }
        None => (p.clone(), String::new()),
    };
    Ok(Value::from(vec![Value::from(root), Value::from(ext)]))
}

pub(crate) fn path_join(parts: &[String]) -> String {
    let mut out = String::new();
    for p in parts {
        if p.starts_with('/') {
            out = p.clone();
        } else if out.is_empty() || out.ends_with('/') {
            out.push_str(p);
        } else {
            out.push('/');
            out.push_str(p);
        }
    }
    out
}

fn f_path_join(s: &State, v: &Value, _: &Args) -> Result<Value, Error> {
    need(s, v)?;
    let parts: Vec<String> = if let Some(p) = v.as_str() {
        vec![p.to_string()]
    } else {
        items(s, v)?.iter().map(py_str).collect()
    };
    Ok(Value::from(path_join(&parts)))
}

fn flatten_vals(list: Vec<Value>, levels: Option<i64>, skip_nulls: bool) -> Vec<Value> {
    let mut out = Vec::new();
    for e in list {
        if skip_nulls && (e.is_none() || matches!(e.as_str(), Some("None") | Some("null"))) {
            continue;
        }
        let is_seq = matches!(e.kind(), ValueKind::Seq | ValueKind::Iterable);
        if is_seq {
            let inner: Vec<Value> = e.try_iter().map(|i| i.collect()).unwrap_or_default();
            match levels {
                None => out.extend(flatten_vals(inner, None, skip_nulls)),
                Some(l) if l >= 1 => out.extend(flatten_vals(inner, Some(l - 1), skip_nulls)),
                _ => out.push(e),
            }
        } else {
            out.push(e);
        }
    }
    out
}

fn f_flatten(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let list = items(s, v)?;
    let levels = a.int(0, "levels");
    let skip = a.bool(1, "skip_nulls", true);
    Ok(Value::from(flatten_vals(list, levels, skip)))
}

/// Group references in regex_search's extra arguments: `\1` or `\g<name>`.
enum GroupRef {
    Index(usize),
    Name(String),
}

fn parse_group_ref(s: &str) -> Option<GroupRef> {
    if let Some(rest) = s.strip_prefix("\\g<").and_then(|r| r.strip_suffix('>')) {
        return Some(match rest.parse::<usize>() {
            Ok(n) => GroupRef::Index(n),
            Err(_) => GroupRef::Name(rest.to_string()),
        });
    }
    s.strip_prefix('\\')
        .and_then(|r| r.parse::<usize>().ok())
        .map(GroupRef::Index)
}

fn f_regex_search(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let text = string_of(s, v)?;
    let pat = a
        .str(0, "regex")
        .ok_or_else(|| err("regex_search needs a regular expression"))?;
    let re = regex_build(
        &pat,
        a.kwarg("ignorecase").is_some_and(|x| x.is_true()),
        a.kwarg("multiline").is_some_and(|x| x.is_true()),
    )?;
    let mut groups = Vec::new();
    for g in a.pos.iter().skip(1) {
        let gs = py_str(g);
        groups.push(parse_group_ref(&gs).ok_or_else(|| {
            err(format!(
                "unknown regex_search argument '{gs}': use '\\\\1' or '\\\\g<name>'"
            ))
        })?);
    }
    let Some(c) = re.captures(&text) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(c.get(0).map(|m| m.as_str()).unwrap_or("")));
    }
    let out: Vec<Value> = groups
        .iter()
        .map(|g| {
            let m = match g {
                GroupRef::Index(i) => c.get(*i),
                GroupRef::Name(n) => c.name(n),
            };
            m.map(|m| Value::from(m.as_str())).unwrap_or_default()
        })
        .collect();
    Ok(Value::from(out))
}

/// Python's `re.sub` replacement syntax to the regex crate's.
pub(crate) fn py_replacement(r: &str) -> String {
    let chars: Vec<char> = r.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '$' {
            out.push_str("$$");
        } else if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            if n.is_ascii_digit() {
                let mut j = i + 1;
                let mut num = String::new();
                while j < chars.len() && chars[j].is_ascii_digit() && num.len() < 2 {
                    num.push(chars[j]);
                    j += 1;
                }
                out.push_str(&format!("${{{num}}}"));
                i = j;
                continue;
            } else if n == 'g' && chars.get(i + 2) == Some(&'<') {
                if let Some(end) = chars[i + 3..].iter().position(|&c| c == '>') {
                    let name: String = chars[i + 3..i + 3 + end].iter().collect();
                    out.push_str(&format!("${{{name}}}"));
                    i = i + 3 + end + 1;
                    continue;
                }
                out.push_str("\\g");
            } else {
                match n {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
            }
            i += 2;
            continue;
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn f_regex_replace(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let text = if v.is_none() {
        String::new()
    } else {
        string_of(s, v)?
    };
    let pat = a.str(0, "pattern").unwrap_or_default();
    let rep = a.str(1, "replacement").unwrap_or_default();
    let re = regex_build(
        &pat,
        a.bool(2, "ignorecase", false),
        a.bool(3, "multiline", false),
    )?;
    let count = a.int(4, "count").unwrap_or(0).max(0) as usize;
    let mandatory = a.int(5, "mandatory_count").unwrap_or(0).max(0) as usize;
    if mandatory > 0 {
        let n = re.find_iter(&text).count();
        if n != mandatory {
            return Err(err(format!(
                "regex_replace: '{pat}' should match {mandatory} times, but matches {n} times"
            )));
        }
    }
    Ok(Value::from(
        re.replacen(&text, count, py_replacement(&rep).as_str())
            .into_owned(),
    ))
}

fn f_regex_findall(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let text = string_of(s, v)?;
    let pat = a.str(0, "regex").unwrap_or_default();
    let re = regex_build(
        &pat,
        a.bool(2, "ignorecase", false),
        a.bool(1, "multiline", false),
    )?;
    let ngroups = re.captures_len() - 1;
    let mut out = Vec::new();
    for c in re.captures_iter(&text) {
        let g = |i: usize| Value::from(c.get(i).map(|m| m.as_str()).unwrap_or(""));
        out.push(match ngroups {
            0 => g(0),
            1 => g(1),
            n => Value::from((1..=n).map(g).collect::<Vec<_>>()),
        });
    }
    Ok(Value::from(out))
}

fn f_regex_escape(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let text = string_of(s, v)?;
    let kind = a.str(0, "re_type").unwrap_or_else(|| "python".into());
    let special: &str = match kind.as_str() {
        "python" => "()[]{}?*+-|^$\\.&~# \t\n\r\x0b\x0c",
        "posix_basic" => "\\.^$*[]",
        other => return Err(err(format!("regex_escape: unsupported re_type '{other}'"))),
    };
    let mut out = String::new();
    for c in text.chars() {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(Value::from(out))
}

fn set_op(s: &State, v: &Value, a: &Args, op: &str) -> Result<Value, Error> {
    let x = items(s, v)?;
    let other = a
        .get(0, "b")
        .ok_or_else(|| err(format!("{op} needs a second list")))?;
    let y = items(s, &other)?;
    let out: Vec<Value> = match op {
        "union" => x.into_iter().chain(y).collect(),
        "intersect" => x.into_iter().filter(|e| contains(&y, e)).collect(),
        "difference" => x.into_iter().filter(|e| !contains(&y, e)).collect(),
        _ => {
            let both: Vec<Value> = x.iter().filter(|e| contains(&y, e)).cloned().collect();
            x.into_iter()
                .chain(y)
                .filter(|e| !contains(&both, e))
                .collect()
        }
    };
    Ok(Value::from(unique_vals(out)))
}

fn f_product(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let mut lists = vec![items(s, v)?];
    for p in &a.pos {
        lists.push(items(s, p)?);
    }
    let repeat = a
        .kwarg("repeat")
        .and_then(|r| to_i64(&r))
        .unwrap_or(1)
        .max(1) as usize;
    let base = lists.clone();
    for _ in 1..repeat {
        lists.extend(base.iter().cloned());
    }
    Ok(Value::from(
        cartesian(&lists)
            .into_iter()
            .map(Value::from)
            .collect::<Vec<_>>(),
    ))
}

pub(crate) fn cartesian(lists: &[Vec<Value>]) -> Vec<Vec<Value>> {
    let mut acc: Vec<Vec<Value>> = vec![vec![]];
    for l in lists {
        let mut next = Vec::new();
        for prefix in &acc {
            for e in l {
                let mut p = prefix.clone();
                p.push(e.clone());
                next.push(p);
            }
        }
        acc = next;
    }
    acc
}

fn f_zip(s: &State, v: &Value, a: &Args, longest: bool) -> Result<Value, Error> {
    let mut lists = vec![items(s, v)?];
    for p in &a.pos {
        lists.push(items(s, p)?);
    }
    let fill = a.kwarg("fillvalue").unwrap_or_else(|| Value::from(()));
    let n = if longest {
        lists.iter().map(|l| l.len()).max().unwrap_or(0)
    } else {
        lists.iter().map(|l| l.len()).min().unwrap_or(0)
    };
    let out: Vec<Value> = (0..n)
        .map(|i| {
            Value::from(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or_else(|| fill.clone()))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    Ok(Value::from(out))
}

fn f_items2dict(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let kn = a.str(0, "key_name").unwrap_or_else(|| "key".into());
    let vn = a.str(1, "value_name").unwrap_or_else(|| "value".into());
    let mut pairs = Vec::new();
    for item in items(s, v)? {
        if item.kind() != ValueKind::Map {
            return Err(err(format!(
                "items2dict requires a list of dictionaries, got {}",
                type_name(&item)
            )));
        }
        let k = item.get_attr(&kn)?;
        let val = item.get_attr(&vn)?;
        if k.is_undefined() || val.is_undefined() {
            return Err(err(format!(
                "items2dict: each item needs the keys '{kn}' and '{vn}'"
            )));
        }
        pairs.push((k, val));
    }
    Ok(Value::from_pairs(pairs))
}

fn f_dict2items(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    need(s, v)?;
    if v.kind() != ValueKind::Map {
        return Err(err(format!(
            "dict2items requires a dictionary, got {}",
            type_name(v)
        )));
    }
    let kn = a.str(0, "key_name").unwrap_or_else(|| "key".into());
    let vn = a.str(1, "value_name").unwrap_or_else(|| "value".into());
    let mut out = Vec::new();
    for k in v.try_iter()? {
        let val = v.get_item(&k)?;
        out.push(Value::from_pairs([
            (Value::from(kn.as_str()), k),
            (Value::from(vn.as_str()), val),
        ]));
    }
    Ok(Value::from(out))
}

fn f_password_hash(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let pass = string_of(s, v)?;
    let kind = a.str(0, "hashtype").unwrap_or_else(|| "sha512".into());
    let salt_size = a.int(2, "salt_size").unwrap_or(16).clamp(1, 16) as usize;
    let salt = a
        .str(1, "salt")
        .unwrap_or_else(|| crypt::random_salt(salt_size));
    if let Some(bad) = salt
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '/'))
    {
        return Err(err(format!(
            "password_hash: invalid character '{bad}' in salt"
        )));
    }
    let rounds = a.int(3, "rounds").map(|r| r as u32);
    let h = match kind.as_str() {
        "sha512" | "sha512_crypt" => crypt::sha512_crypt(&pass, &salt, rounds),
        "sha256" | "sha256_crypt" => crypt::sha256_crypt(&pass, &salt, rounds),
        other => {
            return Err(err(format!(
                "password_hash: unsupported hash type '{other}' (supported: sha512, sha256)"
            )))
        }
    };
    Ok(Value::from(h))
}

fn f_to_json(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    need(s, v)?;
    let indent = a
        .kwarg("indent")
        .and_then(|i| to_i64(&i))
        .map(|i| i.max(0) as usize);
    let mut o = JsonOpts::new(indent, a.kwarg("sort_keys").is_some_and(|x| x.is_true()));
    if let Some(x) = a.kwarg("ensure_ascii") {
        o.ensure_ascii = x.is_true();
    }
    if let Some(seps) = a.kwarg("separators") {
        let seps: Vec<Value> = seps.try_iter()?.collect();
        if seps.len() == 2 {
            o.item_sep = py_str(&seps[0]);
            o.key_sep = py_str(&seps[1]);
        }
    }
    Ok(Value::from(py_json(&to_json(v), &o)))
}

fn f_to_nice_json(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    need(s, v)?;
    let indent = a.int(0, "indent").unwrap_or(4).max(0) as usize;
    let mut o = JsonOpts::new(Some(indent), a.bool(1, "sort_keys", true));
    if let Some(x) = a.kwarg("ensure_ascii") {
        o.ensure_ascii = x.is_true();
    }
    Ok(Value::from(py_json(&to_json(v), &o)))
}

fn f_from_json(s: &State, v: &Value, _: &Args) -> Result<Value, Error> {
    let text = string_of(s, v)?;
    let j: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| err(format!("from_json: invalid JSON: {e}")))?;
    Ok(from_json(&j))
}

fn f_to_yaml(s: &State, v: &Value, a: &Args, nice: bool) -> Result<Value, Error> {
    need(s, v)?;
    let default_indent = if nice { 4 } else { 2 };
    let indent = a.int(0, "indent").unwrap_or(default_indent).clamp(2, 9) as usize;
    let sort = a.kwarg("sort_keys").map(|x| x.is_true()).unwrap_or(true);
    let flow = if nice {
        false
    } else {
        match a.kwarg("default_flow_style") {
            Some(x) if !x.is_none() => {
                return Ok(Value::from(if x.is_true() {
                    format!("{}\n", yaml_flow_all(&to_json(v), sort))
                } else {
                    py_yaml(&to_json(v), indent, false, sort)
                }))
            }
            _ => true,
        }
    };
    Ok(Value::from(py_yaml(&to_json(v), indent, flow, sort)))
}

fn yaml_flow_all(v: &serde_json::Value, sort: bool) -> String {
    // Block-free rendering: the flow writer handles every level.
    let wrapped = serde_json::json!([v]);
    let s = py_yaml(&wrapped, 2, true, sort);
    let s = s.trim_end();
    s.strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s)
        .to_string()
}

fn yaml_to_json(y: serde_yaml::Value) -> serde_json::Value {
    use serde_yaml::Value as Y;
    match y {
        Y::Null => serde_json::Value::Null,
        Y::Bool(b) => serde_json::Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into()
            } else if let Some(u) = n.as_u64() {
                u.into()
            } else {
                serde_json::Number::from_f64(n.as_f64().unwrap_or(0.0))
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Y::String(s) => serde_json::Value::String(s),
        Y::Sequence(items) => {
            serde_json::Value::Array(items.into_iter().map(yaml_to_json).collect())
        }
        Y::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    other => match yaml_to_json(other) {
                        serde_json::Value::String(s) => s,
                        j => j.to_string(),
                    },
                };
                out.insert(key, yaml_to_json(v));
            }
            serde_json::Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

fn f_from_yaml(s: &State, v: &Value, _: &Args) -> Result<Value, Error> {
    let text = string_of(s, v)?;
    let y: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| err(format!("from_yaml: invalid YAML: {e}")))?;
    Ok(from_json(&yaml_to_json(y)))
}

fn f_from_yaml_all(s: &State, v: &Value, _: &Args) -> Result<Value, Error> {
    use serde::Deserialize;
    let text = string_of(s, v)?;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let y = serde_yaml::Value::deserialize(doc)
            .map_err(|e| err(format!("from_yaml_all: invalid YAML: {e}")))?;
        out.push(yaml_to_json(y));
    }
    Ok(from_json(&serde_json::Value::Array(out)))
}

fn f_b64decode(s: &State, v: &Value, _: &Args) -> Result<Value, Error> {
    let text = string_of(s, v)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim().as_bytes())
        .map_err(|e| err(format!("b64decode: invalid base64: {e}")))?;
    Ok(Value::from(String::from_utf8_lossy(&bytes).into_owned()))
}

fn f_mandatory(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    if v.is_undefined() {
        if let Some(msg) = a.str(0, "msg") {
            return Err(err(msg));
        }
        need(s, v)?;
    }
    Ok(v.clone())
}

fn hash_of(text: &str, kind: &str) -> Result<Value, Error> {
    let b = text.as_bytes();
    let h = match kind {
        "sha1" => crypt::hex(&sha1::Sha1::digest(b)),
        "sha224" => crypt::hex(&sha2::Sha224::digest(b)),
        "sha256" => crypt::hex(&sha2::Sha256::digest(b)),
        "sha384" => crypt::hex(&sha2::Sha384::digest(b)),
        "sha512" => crypt::hex(&sha2::Sha512::digest(b)),
        "md5" => crypt::hex(&crypt::md5(b)),
        other => {
            return Err(err(format!(
                "hash: unsupported hash type '{other}' (sha1, sha224, sha256, sha384, sha512, md5)"
            )))
        }
    };
    Ok(Value::from(h))
}

fn f_hash(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let text = string_of(s, v)?;
    hash_of(
        &text,
        &a.str(0, "hashtype").unwrap_or_else(|| "sha1".into()),
    )
}

fn f_comment(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let text = string_of(s, v)?;
    let style = a.str(0, "style").unwrap_or_else(|| "plain".into());
    let (mut beginning, mut decoration, mut end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => {
            return Err(err(format!(
                "comment: unknown style '{other}' (plain, erlang, c, cblock, xml)"
            )))
        }
    }
    .to_owned_strings();
    if let Some(x) = a.kwarg("decoration") {
        decoration = py_str(&x);
    }
    if let Some(x) = a.kwarg("beginning") {
        beginning = py_str(&x);
    }
    if let Some(x) = a.kwarg("end") {
        end = py_str(&x);
    }
    let newline = a
        .kwarg("newline")
        .map(|x| py_str(&x))
        .unwrap_or_else(|| "\n".into());
    let prefix = a
        .kwarg("prefix")
        .map(|x| py_str(&x))
        .unwrap_or_else(|| decoration.trim_end().to_string());
    let postfix = a
        .kwarg("postfix")
        .map(|x| py_str(&x))
        .unwrap_or_else(|| decoration.trim_end().to_string());
    let prefix_count = a
        .kwarg("prefix_count")
        .and_then(|x| to_i64(&x))
        .unwrap_or(1)
        .max(0) as usize;
    let postfix_count = a
        .kwarg("postfix_count")
        .and_then(|x| to_i64(&x))
        .unwrap_or(1)
        .max(0) as usize;

    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&newline);
    }
    if !prefix.is_empty() {
        for _ in 0..prefix_count {
            if prefix != newline {
                out.push_str(&prefix);
            }
            out.push_str(&newline);
        }
    }
    let lines: Vec<String> = text
        .split(&newline)
        .map(|l| format!("{decoration}{l}").trim_end().to_string())
        .collect();
    out.push_str(&lines.join(&newline));
    if !postfix.is_empty() {
        for _ in 0..postfix_count {
            out.push_str(&newline);
            if postfix != newline {
                out.push_str(&postfix);
            }
        }
    }
    if !end.is_empty() {
        out.push_str(&newline);
        out.push_str(&end);
    }
    Ok(Value::from(out))
}

trait ToOwnedStrings {
    fn to_owned_strings(self) -> (String, String, String);
}

impl ToOwnedStrings for (&str, &str, &str) {
    fn to_owned_strings(self) -> (String, String, String) {
        (self.0.to_string(), self.1.to_string(), self.2.to_string())
    }
}

/// C's strftime over local time (or UTC), as Python's `time.strftime` does.
pub(crate) fn strftime(fmt: &str, secs: i64, utc: bool) -> Result<String, Error> {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: tm is plain old data; localtime_r/gmtime_r fill it from t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe {
        if utc {
            !libc::gmtime_r(&t, &mut tm).is_null()
        } else {
            !libc::localtime_r(&t, &mut tm).is_null()
        }
    };
    if !ok {
        return Err(err(format!("strftime: invalid time {secs}")));
    }
    let cfmt =
        std::ffi::CString::new(fmt).map_err(|_| err("strftime: format contains a NUL byte"))?;
    let mut buf = vec![0u8; 256 + fmt.len() * 16];
    // SAFETY: buf is writable for buf.len() bytes; cfmt and tm are valid.
    let n = unsafe {
        libc::strftime(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            cfmt.as_ptr(),
            &tm,
        )
    };
    buf.truncate(n);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn f_strftime(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let fmt = string_of(s, v)?;
    let secs = match a.get(0, "second").filter(|x| !x.is_none()) {
        Some(x) => to_f64(&x).ok_or_else(|| err("strftime: second must be a number"))? as i64,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    Ok(Value::from(strftime(&fmt, secs, a.bool(1, "utc", false))?))
}

fn rng_for(a: &Args) -> crypt::SplitMix {
    match a.kwarg("seed").filter(|x| !x.is_none()) {
        Some(seed) => crypt::SplitMix::from_seed_str(&py_str(&seed)),
        None => crypt::SplitMix::from_time(),
    }
}

fn f_random(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    need(s, v)?;
    let mut rng = rng_for(a);
    if v.kind() == ValueKind::Number {
        let end = to_i64(v).unwrap_or(0);
        let start = a.int(0, "start").unwrap_or(0);
        let step = a.int(1, "step").unwrap_or(1).max(1);
        if end <= start {
            return Err(err("random: the end of the range must be above its start"));
        }
        let n = ((end - start) + step - 1) / step;
        return Ok(Value::from(start + step * rng.below(n as u64) as i64));
    }
    let list = items(s, v)?;
    if list.is_empty() {
        return Err(err("random: cannot choose from an empty sequence"));
    }
    Ok(list[rng.below(list.len() as u64) as usize].clone())
}

fn f_shuffle(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let mut list = items(s, v)?;
    let mut rng = rng_for(a);
    for i in (1..list.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        list.swap(i, j);
    }
    Ok(Value::from(list))
}

/// Python's `str.split(sep=None, maxsplit=-1)`.
pub(crate) fn py_split(text: &str, sep: Option<&str>, maxsplit: i64) -> Vec<String> {
    let mut out = Vec::new();
    match sep {
        None => {
            let mut rest = text.trim_start();
            while !rest.is_empty() {
                if maxsplit >= 0 && out.len() as i64 >= maxsplit {
                    out.push(rest.to_string());
                    return out;
                }
                match rest.find(char::is_whitespace) {
                    Some(i) => {
                        out.push(rest[..i].to_string());
                        rest = rest[i..].trim_start();
                    }
                    None => {
                        out.push(rest.to_string());
                        rest = "";
                    }
                }
            }
        }
        Some(sep) => {
            if maxsplit < 0 {
                out = text.split(sep).map(String::from).collect();
            } else {
                out = text
                    .splitn(maxsplit as usize + 1, sep)
                    .map(String::from)
                    .collect();
            }
        }
    }
    out
}

fn f_split(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let text = string_of(s, v)?;
    let sep = a.str(0, "sep");
    if sep.as_deref() == Some("") {
        return Err(err("split: empty separator"));
    }
    let max = a.int(1, "maxsplit").unwrap_or(-1);
    Ok(Value::from(py_split(&text, sep.as_deref(), max)))
}

/// `dict(pairs)`: a list of [key, value] pairs to a mapping (a mapping stays itself).
pub(crate) fn dict_of(state: &State, v: &Value) -> Result<Value, Error> {
    need(state, v)?;
    if v.kind() == ValueKind::Map {
        return Ok(v.clone());
    }
    let mut pairs = Vec::new();
    for item in items(state, v)? {
        let kv: Vec<Value> = item.try_iter()?.collect();
        if kv.len() != 2 {
            return Err(err("dict: each element must be a pair [key, value]"));
        }
        pairs.push((kv[0].clone(), kv[1].clone()));
    }
    Ok(Value::from_pairs(pairs))
}

fn f_dict(s: &State, v: &Value, _: &Args) -> Result<Value, Error> {
    dict_of(s, v)
}

/// Python's type name of a value.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number => {
            if v.is_integer() {
                "int"
            } else {
                "float"
            }
        }
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

fn f_version_compare(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    Ok(Value::from(version_test(s, v, a)?))
}

/// The `version` test: `value is version(other, operator='eq', strict=False, version_type=None)`.
pub(crate) fn version_test(s: &State, v: &Value, a: &Args) -> Result<bool, Error> {
    let me = string_of(s, v)?;
    let other = a
        .get(0, "version")
        .ok_or_else(|| err("version test needs a version to compare with"))?;
    need(s, &other)?;
    let other = py_str(&other);
    let op = a.str(1, "operator").unwrap_or_else(|| "eq".into());
    let strict = a.bool(2, "strict", false);
    let kind = a.str(3, "version_type").unwrap_or_else(|| {
        if strict {
            "strict".into()
        } else {
            "loose".into()
        }
    });
    version::compare(&me, &other, &op, &kind).map_err(err)
}

fn f_extract(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    need(s, v)?;
    let container = a
        .get(0, "container")
        .ok_or_else(|| err("extract needs a container"))?;
    let mut out = container.get_item(v)?;
    if let Some(more) = a.get(1, "morekeys").filter(|m| !m.is_none()) {
        let keys: Vec<Value> = if more.kind() == ValueKind::Seq {
            more.try_iter()?.collect()
        } else {
            vec![more]
        };
        for k in keys {
            out = out.get_item(&k)?;
        }
    }
    Ok(out)
}

/// Used by tests on paths.
pub(crate) fn path_exists(p: &str) -> bool {
    Path::new(&expanduser(p)).exists()
}

fn combine_idx(
    n: usize,
    r: usize,
    start: usize,
    cur: &mut Vec<usize>,
    f: &mut dyn FnMut(&[usize]),
) {
    if cur.len() == r {
        f(cur);
        return;
    }
    for i in start..n {
        cur.push(i);
        combine_idx(n, r, i + 1, cur, f);
        cur.pop();
    }
}

fn permute_idx(n: usize, r: usize, cur: &mut Vec<usize>, f: &mut dyn FnMut(&[usize])) {
    if cur.len() == r {
        f(cur);
        return;
    }
    for i in 0..n {
        if !cur.contains(&i) {
            cur.push(i);
            permute_idx(n, r, cur, f);
            cur.pop();
        }
    }
}

/// Ansible's `to_uuid`: a UUID version 5 in Ansible's namespace (or the one given).
fn f_to_uuid(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let name = string_of(s, v)?;
    let ns = a
        .str(0, "namespace")
        .unwrap_or_else(|| "361E6D51-FAEC-444A-9079-341386DA8E2E".into());
    let hexns: String = ns.chars().filter(|c| *c != '-').collect();
    if hexns.len() != 32 {
        return Err(err(format!("to_uuid: invalid namespace UUID '{ns}'")));
    }
    let mut bytes = Vec::with_capacity(16 + name.len());
    for i in 0..16 {
        bytes.push(
            u8::from_str_radix(&hexns[2 * i..2 * i + 2], 16)
                .map_err(|_| err(format!("to_uuid: invalid namespace UUID '{ns}'")))?,
        );
    }
    bytes.extend_from_slice(name.as_bytes());
    let mut h = sha1::Sha1::digest(&bytes)[..16].to_vec();
    h[6] = (h[6] & 0x0f) | 0x50;
    h[8] = (h[8] & 0x3f) | 0x80;
    let x = crypt::hex(&h);
    Ok(Value::from(format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )))
}

const SIZE_RANGES: [(char, u128); 9] = [
    ('Y', 1 << 80),
    ('Z', 1 << 70),
    ('E', 1 << 60),
    ('P', 1 << 50),
    ('T', 1 << 40),
    ('G', 1 << 30),
    ('M', 1 << 20),
    ('K', 1 << 10),
    ('B', 1),
];

fn f_human_readable(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    need(s, v)?;
    let size = to_f64(v).ok_or_else(|| err("human_readable: the value must be a number"))?;
    let isbits = a.bool(0, "isbits", false);
    let unit = a
        .str(1, "unit")
        .and_then(|u| u.to_uppercase().chars().next());
    let base = if isbits { "bits" } else { "Bytes" };
    let mut chosen = SIZE_RANGES[SIZE_RANGES.len() - 1];
    for (suffix, limit) in SIZE_RANGES {
        if (unit.is_none() && size >= limit as f64) || unit == Some(suffix) {
            chosen = (suffix, limit);
            break;
        }
    }
    let suffix = if chosen.1 != 1 {
        format!("{}{}", chosen.0, &base[..1])
    } else {
        base.to_string()
    };
    Ok(Value::from(format!(
        "{:.2} {suffix}",
        size / chosen.1 as f64
    )))
}

fn f_human_to_bytes(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let text = string_of(s, v)?;
    let re = regex::Regex::new(r"^\s*(\d*\.?\d*)\s*([A-Za-z]+)?\s*$").expect("valid regex");
    let c = re.captures(&text).ok_or_else(|| {
        err(format!(
            "human_to_bytes() can't interpret the value '{text}'"
        ))
    })?;
    let num: f64 = c[1].parse().map_err(|_| {
        err(format!(
            "human_to_bytes() can't interpret the value '{text}'"
        ))
    })?;
    let unit = c
        .get(2)
        .map(|m| m.as_str().to_string())
        .or_else(|| a.str(0, "default_unit"));
    let limit = match unit {
        None => 1,
        Some(u) => {
            let first = u.chars().next().unwrap_or('B').to_ascii_uppercase();
            SIZE_RANGES
                .iter()
                .find(|(sfx, _)| *sfx == first)
                .map(|(_, l)| *l)
                .ok_or_else(|| {
                    err(format!(
                        "human_to_bytes() failed to convert '{text}': unknown unit '{u}'"
                    ))
                })?
        }
    };
    Ok(Value::from((num * limit as f64).round() as i64))
}

/// `os.path.relpath` for absolute (or both relative) POSIX paths.
fn relpath(path: &str, start: &str) -> String {
    let parts = |p: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in p.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    out.pop();
                }
                c => out.push(c.to_string()),
            }
        }
        out
    };
    let (p, s) = (parts(path), parts(start));
    let common = p.iter().zip(s.iter()).take_while(|(a, b)| a == b).count();
    let mut out: Vec<String> = vec!["..".to_string(); s.len() - common];
    out.extend(p[common..].iter().cloned());
    if out.is_empty() {
        ".".to_string()
    } else {
        out.join("/")
    }
}

/// Python's `urllib.parse.urlsplit`, as a dict (or one of its fields).
fn f_urlsplit(s: &State, v: &Value, a: &Args) -> Result<Value, Error> {
    let url = string_of(s, v)?;
    let mut rest = url.as_str();
    let mut scheme = "";
    if let Some(i) = rest.find(':') {
        let cand = &rest[..i];
        if !cand.is_empty()
            && cand.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && cand
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            scheme = cand;
            rest = &rest[i + 1..];
        }
    }
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (netloc, path) = match rest.strip_prefix("//") {
        Some(r) => match r.find('/') {
            Some(i) => (&r[..i], &r[i..]),
            None => (r, ""),
        },
        None => ("", rest),
    };
    let (userinfo, hostport) = match netloc.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, netloc),
    };
    let (username, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((n, p)) => (Value::from(n), Value::from(p)),
            None => (Value::from(u), Value::from(())),
        },
        None => (Value::from(()), Value::from(())),
    };
    let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
        match r.split_once(']') {
            Some((h, p)) => (h.to_string(), p.strip_prefix(':').unwrap_or("")),
            None => (r.to_string(), ""),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (hostport.to_string(), ""),
        }
    };
    let hostname = if host.is_empty() {
        Value::from(())
    } else {
        Value::from(host.to_lowercase())
    };
    let port = if port.is_empty() {
        Value::from(())
    } else {
        Value::from(
            port.parse::<i64>()
                .map_err(|_| err(format!("urlsplit: invalid port '{port}'")))?,
        )
    };
    let fields = [
        ("fragment", Value::from(fragment)),
        ("hostname", hostname),
        ("netloc", Value::from(netloc)),
        ("password", password),
        ("path", Value::from(path)),
        ("port", port),
        ("query", Value::from(query)),
        ("scheme", Value::from(scheme)),
        ("username", username),
    ];
    match a.str(0, "query") {
        Some(q) => fields
            .iter()
            .find(|(k, _)| *k == q)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| err(format!("urlsplit: unknown URL component '{q}'"))),
        None => Ok(Value::from_pairs(
            fields.into_iter().map(|(k, v)| (Value::from(k), v)),
        )),
    }
}
