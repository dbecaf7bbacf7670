//! Ansible's Jinja tests (`x is version('2', '>=')`, `result is changed`, ...).

use std::path::Path;

use minijinja::value::{Rest, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, State, Value};

use super::filters::{ansible_bool, err, expanduser, items, need, path_exists, version_test, Args};
use super::pyfmt::py_str;

type T = fn(&State, &Value, &Args) -> Result<bool, Error>;

fn reg(env: &mut Environment<'static>, names: &[&'static str], f: T) {
    for name in names {
        for full in [name.to_string(), format!("ansible.builtin.{name}")] {
            env.add_test(
                full,
                move |state: &State, v: &Value, rest: Rest<ValueOrKwargs>| {
                    f(state, v, &Args::new(rest))
                },
            );
        }
    }
}

/// A registered result's key, for `changed`, `failed`, `skipped`...
fn result_key(s: &State, v: &Value, key: &str, test: &str) -> Result<bool, Error> {
    need(s, v)?;
    if v.kind() != ValueKind::Map {
        return Err(err(format!(
            "the '{test}' test expects a dictionary (a registered result), got {}",
            super::filters::type_name(v)
        )));
    }
    let x = v.get_attr(key)?;
    Ok(!x.is_undefined() && ansible_bool_or_truthy(&x))
}

fn ansible_bool_or_truthy(v: &Value) -> bool {
    if v.kind() == ValueKind::String {
        ansible_bool(v)
    } else {
        v.is_true()
    }
}

fn failed(s: &State, v: &Value) -> Result<bool, Error> {
    result_key(s, v, "failed", "failed")
}

fn re_test(s: &State, v: &Value, a: &Args, mode: &str) -> Result<bool, Error> {
    need(s, v)?;
    let text = py_str(v);
    let pat = a
        .str(0, "pattern")
        .ok_or_else(|| err("a regular expression is needed"))?;
    let ignorecase = a.bool(1, "ignorecase", false);
    let multiline = a.bool(2, "multiline", false);
    let mode = a.str(3, "match_type").unwrap_or_else(|| mode.to_string());
    let full = match mode.as_str() {
        "match" => format!(r"\A(?:{pat})"),
        "fullmatch" => format!(r"\A(?:{pat})\z"),
        _ => pat.clone(),
    };
    let re = regex::RegexBuilder::new(&full)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| err(format!("invalid regular expression '{pat}': {e}")))?;
    Ok(re.is_match(&text))
}

fn member(s: &State, seq: &Value, x: &Value) -> Result<bool, Error> {
    need(s, seq)?;
    if let (Some(hay), Some(needle)) = (seq.as_str(), x.as_str()) {
        return Ok(hay.contains(needle));
    }
    if seq.kind() == ValueKind::Map {
        return Ok(!seq.get_item(x)?.is_undefined());
    }
    Ok(items(s, seq)?.iter().any(|y| y == x))
}

pub(crate) fn register(env: &mut Environment<'static>) {
    reg(env, &["none"], |_, v, _| Ok(v.is_none()));
    reg(env, &["match"], |s, v, a| re_test(s, v, a, "match"));
    reg(env, &["search"], |s, v, a| re_test(s, v, a, "search"));
    reg(env, &["regex"], |s, v, a| re_test(s, v, a, "search"));
    reg(env, &["contains"], |s, v, a| {
        member(s, v, &a.get(0, "value").unwrap_or_default())
    });
    reg(env, &["in"], |s, v, a| {
        member(s, &a.get(0, "seq").unwrap_or_default(), v)
    });
    reg(env, &["version", "version_compare"], version_test);
    reg(env, &["changed", "change"], |s, v, _| {
        result_key(s, v, "changed", "changed")
    });
    reg(env, &["failed", "failure"], |s, v, _| failed(s, v));
    reg(env, &["success", "succeeded"], |s, v, _| Ok(!failed(s, v)?));
    reg(env, &["skipped", "skip"], |s, v, _| {
        result_key(s, v, "skipped", "skipped")
    });
    reg(env, &["finished"], |s, v, _| {
        need(s, v)?;
        let f = v.get_attr("finished")?;
        Ok(f.is_undefined() || f.is_true())
    });
    reg(env, &["truthy"], |s, v, a| {
        need(s, v)?;
        Ok(if a.bool(0, "convert_bool", false) {
            ansible_bool_or_truthy(v)
        } else {
            v.is_true()
        })
    });
    reg(env, &["falsy"], |s, v, a| {
        need(s, v)?;
        Ok(!if a.bool(0, "convert_bool", false) {
            ansible_bool_or_truthy(v)
        } else {
            v.is_true()
        })
    });
    reg(env, &["boolean"], |_, v, _| Ok(v.kind() == ValueKind::Bool));
    reg(env, &["integer"], |_, v, _| {
        Ok(v.kind() == ValueKind::Number && v.is_integer())
    });
    reg(env, &["float"], |_, v, _| {
        Ok(v.kind() == ValueKind::Number && !v.is_integer())
    });
    reg(env, &["number"], |_, v, _| {
        Ok(matches!(v.kind(), ValueKind::Number | ValueKind::Bool))
    });
    reg(
        env,
        &["string"],
        |_, v, _| Ok(v.kind() == ValueKind::String),
    );
    reg(env, &["mapping"], |_, v, _| Ok(v.kind() == ValueKind::Map));
    reg(env, &["sequence"], |_, v, _| {
        Ok(matches!(
            v.kind(),
            ValueKind::Seq | ValueKind::String | ValueKind::Map | ValueKind::Iterable
        ))
    });
    reg(env, &["iterable"], |_, v, _| {
        Ok(matches!(
            v.kind(),
            ValueKind::Seq | ValueKind::String | ValueKind::Map | ValueKind::Iterable
        ))
    });
    reg(env, &["subset"], |s, v, a| {
        let big = items(s, &a.get(0, "b").unwrap_or_default())?;
        Ok(items(s, v)?.iter().all(|x| big.contains(x)))
    });
    reg(env, &["superset"], |s, v, a| {
        let small = items(s, &a.get(0, "b").unwrap_or_default())?;
        let me = items(s, v)?;
        Ok(small.iter().all(|x| me.contains(x)))
    });
    reg(env, &["any"], |s, v, _| {
        Ok(items(s, v)?.iter().any(|x| x.is_true()))
    });
    reg(env, &["all"], |s, v, _| {
        Ok(items(s, v)?.iter().all(|x| x.is_true()))
    });
    reg(env, &["abs", "is_abs"], |s, v, _| {
        need(s, v)?;
        Ok(py_str(v).starts_with('/'))
    });
    reg(env, &["exists"], |s, v, _| {
        need(s, v)?;
        Ok(path_exists(&py_str(v)))
    });
    reg(env, &["file", "is_file"], |s, v, _| {
        need(s, v)?;
        Ok(Path::new(&expanduser(&py_str(v))).is_file())
    });
    reg(env, &["directory", "is_dir"], |s, v, _| {
        need(s, v)?;
        Ok(Path::new(&expanduser(&py_str(v))).is_dir())
    });
    reg(env, &["link", "is_link"], |s, v, _| {
        need(s, v)?;
        Ok(Path::new(&expanduser(&py_str(v))).is_symlink())
    });
    reg(env, &["same_file", "samefile"], |s, v, a| {
        need(s, v)?;
        let other = a.str(0, "b").unwrap_or_default();
        let (x, y) = (
            std::fs::canonicalize(expanduser(&py_str(v))),
            std::fs::canonicalize(expanduser(&other)),
        );
        Ok(matches!((x, y), (Ok(x), Ok(y)) if x == y))
    });
    reg(env, &["nan"], |_, v, _| {
        Ok(super::filters::to_f64(v).is_some_and(|f| f.is_nan()) && v.kind() == ValueKind::Number)
    });
}
