//! Printing values the way Python (and so Ansible) prints them: `str()`, `repr()`,
//! `json.dumps` and PyYAML's `yaml.dump`.

use minijinja::value::ValueKind;
use minijinja::{Error, Output, State, Value};

/// The environment's formatter: Python's `str()` for what `{{ }}` prints.
pub(crate) fn formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Undefined | ValueKind::String | ValueKind::Number => {
            minijinja::escape_formatter(out, state, value)
        }
        _ => {
            let s = py_str(value);
            out.write_str(&s)
                .map_err(|_| Error::new(minijinja::ErrorKind::WriteFailure, "write failed"))
        }
    }
}

/// Python's `str()` of a value: strings as they are, the rest as `repr()`.
pub fn py_str(v: &Value) -> String {
    match v.as_str() {
        Some(s) => s.to_string(),
        None => py_repr(v),
    }
}

fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn repr_float(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else if f == f.trunc() && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Python's `repr()` of a value.
pub fn py_repr(v: &Value) -> String {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "None".into(),
        ValueKind::Bool => {
            if v.is_true() {
                "True".into()
            } else {
                "False".into()
            }
        }
        ValueKind::String => repr_str(v.as_str().unwrap_or_default()),
        ValueKind::Number => {
            if v.is_integer() {
                v.to_string()
            } else {
                match f64::try_from(v.clone()) {
                    Ok(f) => repr_float(f),
                    Err(_) => v.to_string(),
                }
            }
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<String> = match v.try_iter() {
                Ok(it) => it.map(|x| py_repr(&x)).collect(),
                Err(_) => vec![],
            };
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let mut parts = Vec::new();
            if let Ok(it) = v.try_iter() {
                for k in it {
                    let val = v.get_item(&k).unwrap_or_default();
                    parts.push(format!("{}: {}", py_repr(&k), py_repr(&val)));
                }
            }
            format!("{{{}}}", parts.join(", "))
        }
        ValueKind::Bytes => format!(
            "b{}",
            repr_str(&String::from_utf8_lossy(v.as_bytes().unwrap_or_default()))
        ),
        _ => v.to_string(),
    }
}

/// Options of Python's `json.dumps`.
pub(crate) struct JsonOpts {
    pub indent: Option<usize>,
    pub sort_keys: bool,
    pub ensure_ascii: bool,
    pub item_sep: String,
    pub key_sep: String,
}

impl JsonOpts {
    pub(crate) fn new(indent: Option<usize>, sort_keys: bool) -> JsonOpts {
        JsonOpts {
            indent,
            sort_keys,
            ensure_ascii: true,
            item_sep: if indent.is_some() {
                ",".into()
            } else {
                ", ".into()
            },
            key_sep: ": ".into(),
        }
    }
}

fn json_str(s: &str, ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04x}", unit));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `json.dumps` of a JSON value.
pub(crate) fn py_json(v: &serde_json::Value, o: &JsonOpts) -> String {
    let mut out = String::new();
    write_json(v, o, 0, &mut out);
    out
}

fn write_json(v: &serde_json::Value, o: &JsonOpts, level: usize, out: &mut String) {
    use serde_json::Value as J;
    let nl = |out: &mut String, level: usize| {
        if let Some(n) = o.indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * level));
        }
    };
    match v {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                if f.is_nan() {
                    out.push_str("NaN")
                } else if f.is_infinite() {
                    out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" })
                } else {
                    out.push_str(&repr_float(f))
                }
            } else {
                out.push_str(&n.to_string())
            }
        }
        J::String(s) => json_str(s, o.ensure_ascii, out),
        J::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&o.item_sep);
                }
                nl(out, level + 1);
                write_json(item, o, level + 1, out);
            }
            nl(out, level);
            out.push(']');
        }
        J::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut keys: Vec<&String> = map.keys().collect();
            if o.sort_keys {
                keys.sort();
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(&o.item_sep);
                }
                nl(out, level + 1);
                json_str(k, o.ensure_ascii, out);
                out.push_str(&o.key_sep);
                write_json(&map[k.as_str()], o, level + 1, out);
            }
            nl(out, level);
            out.push('}');
        }
    }
}

// ---------------------------------------------------------------------------------------------
// YAML, the way PyYAML's `yaml.dump` writes it.

/// Plain scalars YAML 1.1 reads as numbers or timestamps.
static YAML_NON_STRING: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"^([-+]?(0b[01_]+|0x[0-9a-fA-F_]+|0o?[0-7_]+|[0-9][0-9_]*(:[0-5]?[0-9])*|([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?|[0-9][0-9_]*([eE][-+]?[0-9]+))|\d{4}-\d\d?-\d\d?([Tt ].*)?)$").expect("valid regex")
});

/// Strings PyYAML would read back as something else than a string, so it quotes them.
fn yaml_needs_quotes(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    const SPECIAL: &[&str] = &[
        "yes", "no", "on", "off", "true", "false", "null", "~", ".nan", ".inf", "-.inf", "+.inf",
    ];
    if SPECIAL.contains(&lower.as_str()) {
        return true;
    }
    // Numbers (ints, floats, sexagesimal-ish, dates) read back as non-strings.
    let numeric = &*YAML_NON_STRING;
    if numeric.is_match(s) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // `-`, `?` and `:` are fine when followed by a non-space, like PyYAML allows.
        let second = s.chars().nth(1);
        if !("-?:".contains(first) && second.is_some_and(|c| !c.is_whitespace())) {
            return true;
        }
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return true;
    }
    if s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return true;
    }
    false
}

fn yaml_scalar(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::Null => "null".into(),
        J::Bool(b) => {
            if *b {
                "true".into()
            } else {
                "false".into()
            }
        }
        J::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or(0.0);
                if f.is_nan() {
                    ".nan".into()
                } else if f.is_infinite() {
                    if f > 0.0 {
                        ".inf".into()
                    } else {
                        "-.inf".into()
                    }
                } else {
                    repr_float(f)
                }
            } else {
                n.to_string()
            }
        }
        J::String(s) => yaml_string(s),
        J::Array(a) if a.is_empty() => "[]".into(),
        J::Object(m) if m.is_empty() => "{}".into(),
        _ => String::new(),
    }
}

fn yaml_string(s: &str) -> String {
    if s.chars()
        .any(|c| (c.is_control() && c != '\n') || c == '\u{feff}')
        || s.contains('\n')
    {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    } else if yaml_needs_quotes(s) {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        s.to_string()
    }
}

fn is_collection(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(m) => !m.is_empty(),
        _ => false,
    }
}

/// A collection holding only scalars: PyYAML's `default_flow_style=None` writes those inline.
fn is_leaf_collection(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Array(a) => a.iter().all(|x| !is_collection(x)),
        serde_json::Value::Object(m) => m.values().all(|x| !is_collection(x)),
        _ => false,
    }
}

fn sorted_entries(
    m: &serde_json::Map<String, serde_json::Value>,
    sort: bool,
) -> Vec<(&String, &serde_json::Value)> {
    let mut e: Vec<_> = m.iter().collect();
    if sort {
        e.sort_by(|a, b| a.0.cmp(b.0));
    }
    e
}

fn flow(v: &serde_json::Value, sort: bool) -> String {
    match v {
        serde_json::Value::Array(a) if !a.is_empty() => {
            format!(
                "[{}]",
                a.iter()
                    .map(|x| flow(x, sort))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        serde_json::Value::Object(m) if !m.is_empty() => format!(
            "{{{}}}",
            sorted_entries(m, sort)
                .into_iter()
                .map(|(k, x)| format!("{}: {}", yaml_string(k), flow(x, sort)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => yaml_scalar(other),
    }
}

/// `yaml.dump(v, default_flow_style=flow_leaves ? None : False, indent=indent)`.
pub(crate) fn py_yaml(
    v: &serde_json::Value,
    indent: usize,
    flow_leaves: bool,
    sort: bool,
) -> String {
    let mut out = String::new();
    if !is_collection(v) {
        out.push_str(&yaml_scalar(v));
        out.push('\n');
        if !matches!(
            v,
            serde_json::Value::Array(_) | serde_json::Value::Object(_)
        ) {
            out.push_str("...\n");
        }
        return out;
    }
    if flow_leaves && is_leaf_collection(v) {
        out.push_str(&flow(v, sort));
        out.push('\n');
        return out;
    }
    write_block(v, indent, flow_leaves, sort, 0, &mut out);
    out
}

/// Writes a non-empty collection in block style; every line starts at `col`.
fn write_block(
    v: &serde_json::Value,
    indent: usize,
    flow_leaves: bool,
    sort: bool,
    col: usize,
    out: &mut String,
) {
    let pad = " ".repeat(col);
    let inline_child =
        |x: &serde_json::Value| !is_collection(x) || (flow_leaves && is_leaf_collection(x));
    let render_inline = |x: &serde_json::Value| {
        if is_collection(x) {
            flow(x, sort)
        } else {
            yaml_scalar(x)
        }
    };
    match v {
        serde_json::Value::Array(items) => {
            // PyYAML: "- " before an inline item; before a nested block, "-" padded to the
            // next indentation level, where the block goes on.
            let dash = format!("-{}", " ".repeat(indent.saturating_sub(1).max(1)));
            for item in items {
                if inline_child(item) {
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&render_inline(item));
                    out.push('\n');
                } else {
                    let mut inner = String::new();
                    write_block(
                        item,
                        indent,
                        flow_leaves,
                        sort,
                        col + dash.len(),
                        &mut inner,
                    );
                    let inner = &inner[(col + dash.len()).min(inner.len())..];
                    out.push_str(&pad);
                    out.push_str(&dash);
                    out.push_str(inner);
                }
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in sorted_entries(map, sort) {
                out.push_str(&pad);
                out.push_str(&yaml_string(k));
                out.push(':');
                if inline_child(item) {
                    out.push(' ');
                    out.push_str(&render_inline(item));
                    out.push('\n');
                } else {
                    out.push('\n');
                    // PyYAML does not indent a sequence inside a mapping.
                    let child_col = if item.is_array() { col } else { col + indent };
                    write_block(item, indent, flow_leaves, sort, child_col, out);
                }
            }
        }
        _ => {}
    }
}
