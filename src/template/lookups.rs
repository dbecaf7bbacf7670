//! `lookup(name, ...)` and `query(name, ...)` with Ansible's lookup plugins that run on the
//! controller, plus the Python `dict()` global.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::{Rest, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, State, Value};

use super::filters::{cartesian, err, expanduser, items, need, to_i64, Args};
use super::pyfmt::py_str;
use super::Shared;

pub(crate) fn register(env: &mut Environment<'static>, shared: Arc<Shared>) {
    let sh = shared.clone();
    env.add_function("lookup", move |state: &State, rest: Rest<ValueOrKwargs>| {
        call(state, &sh, Args::new(rest), false)
    });
    for name in ["query", "q"] {
        let sh = shared.clone();
        env.add_function(name, move |state: &State, rest: Rest<ValueOrKwargs>| {
            call(state, &sh, Args::new(rest), true)
        });
    }
    env.add_function("now", |rest: Rest<ValueOrKwargs>| {
        let a = Args::new(rest);
        let utc = a.bool(0, "utc", false);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let micros = format!("{:06}", now.subsec_micros());
        let secs = now.as_secs() as i64;
        let text = match a.str(1, "fmt") {
            Some(fmt) => super::filters::strftime(&fmt.replace("%f", &micros), secs, utc)?,
            None => format!(
                "{}.{micros}",
                super::filters::strftime("%Y-%m-%d %H:%M:%S", secs, utc)?
            ),
        };
        Ok::<Value, Error>(Value::from(text))
    });
    env.add_function("dict", |state: &State, rest: Rest<ValueOrKwargs>| {
        let a = Args::new(rest);
        let mut pairs: Vec<(Value, Value)> = Vec::new();
        if let Some(first) = a.pos.first() {
            let d = super::filters::dict_of(state, first)?;
            for k in d.try_iter()? {
                let v = d.get_item(&k)?;
                pairs.push((k, v));
            }
        }
        for (k, v) in &a.kw {
            pairs.retain(|(x, _)| x.as_str() != Some(k.as_str()));
            pairs.push((Value::from(k.as_str()), v.clone()));
        }
        Ok::<Value, Error>(Value::from_pairs(pairs))
    });
}

fn call(state: &State, shared: &Shared, a: Args, query: bool) -> Result<Value, Error> {
    let name = a
        .pos
        .first()
        .map(py_str)
        .ok_or_else(|| err("lookup needs the name of a lookup plugin"))?;
    let name = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("community.general."))
        .unwrap_or(&name)
        .to_string();
    for t in a.pos.iter().skip(1) {
        need(state, t)?;
    }
    let terms: Vec<Value> = a.pos[1..].to_vec();
    let errors = a
        .kwarg("errors")
        .map(|e| py_str(&e))
        .unwrap_or_else(|| "strict".into());
    let wantlist = query || a.kwarg("wantlist").is_some_and(|w| w.is_true());
    let kw = Args {
        pos: vec![],
        kw: a
            .kw
            .iter()
            .filter(|(k, _)| k != "wantlist" && k != "errors")
            .cloned()
            .collect(),
    };
    let ran = match run(state, shared, &name, &terms, &kw) {
        Ok(r) => r,
        Err(e) => {
            return match errors.as_str() {
                "ignore" | "warn" => Ok(if wantlist {
                    Value::from(Vec::<Value>::new())
                } else {
                    Value::from(())
                }),
                _ => Err(err(format!(
                    "lookup plugin '{name}' failed: {}",
                    e.detail().unwrap_or(&e.to_string())
                ))),
            }
        }
    };
    if wantlist {
        return Ok(Value::from(ran));
    }
    if ran.iter().all(|v| v.kind() == ValueKind::String) {
        let parts: Vec<&str> = ran.iter().map(|v| v.as_str().unwrap_or("")).collect();
        return Ok(Value::from(parts.join(",")));
    }
    if ran.len() == 1 {
        return Ok(ran.into_iter().next().unwrap_or_default());
    }
    Ok(Value::from(ran))
}

/// Terms flattened one level (Ansible's `listify_lookup_plugin_terms` on several terms).
fn flat_terms(terms: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for t in terms {
        if t.kind() == ValueKind::Seq {
            out.extend(
                t.try_iter()
                    .map(|i| i.collect::<Vec<_>>())
                    .unwrap_or_default(),
            );
        } else {
            out.push(t.clone());
        }
    }
    out
}

fn search_dirs(state: &State, shared: &Shared) -> Vec<PathBuf> {
    if let Some(v) = state.lookup("__muster_search_dirs") {
        if let Ok(it) = v.try_iter() {
            let dirs: Vec<PathBuf> = it.map(|d| PathBuf::from(py_str(&d))).collect();
            if !dirs.is_empty() {
                return dirs;
            }
        }
    }
    let dirs = shared
        .search_dirs
        .read()
        .map(|d| d.clone())
        .unwrap_or_default();
    if dirs.is_empty() {
        vec![std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))]
    } else {
        dirs
    }
}

/// Finds a controller file: absolute as is, else `DIR/subdir/NAME` then `DIR/NAME`.
fn find_file(state: &State, shared: &Shared, name: &str, subdir: &str) -> Option<PathBuf> {
    let name = expanduser(name);
    let p = Path::new(&name);
    if p.is_absolute() {
        return p.exists().then(|| p.to_path_buf());
    }
    for d in search_dirs(state, shared) {
        for c in [d.join(subdir).join(p), d.join(p)] {
            if c.exists() {
                return Some(c);
            }
        }
    }
    None
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|e| err(format!("could not read {}: {e}", path.display())))
}

/// All variables in scope, as a map (for the template lookup).
fn all_vars(state: &State) -> Value {
    let mut pairs = Vec::new();
    for name in state.known_variables() {
        if let Some(v) = state.lookup(&name) {
            if !v.is_undefined() && v.kind() != ValueKind::Plain {
                pairs.push((Value::from(name.to_string()), v));
            }
        }
    }
    Value::from_pairs(pairs)
}

fn run_shell(cmd: &str) -> Result<std::process::Output, Error> {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map_err(|e| err(format!("could not run `{cmd}`: {e}")))
}

fn run(
    state: &State,
    shared: &Shared,
    name: &str,
    terms: &[Value],
    kw: &Args,
) -> Result<Vec<Value>, Error> {
    let strs = || terms.iter().map(py_str).collect::<Vec<_>>();
    Ok(match name {
        "env" => {
            let default = kw.kwarg("default").map(|d| py_str(&d)).unwrap_or_default();
            strs()
                .iter()
                .map(|t| Value::from(std::env::var(t).unwrap_or_else(|_| default.clone())))
                .collect()
        }
        "file" => {
            let rstrip = kw.kwarg("rstrip").map(|x| x.is_true()).unwrap_or(true);
            let lstrip = kw.kwarg("lstrip").is_some_and(|x| x.is_true());
            let mut out = Vec::new();
            for t in strs() {
                let p = find_file(state, shared, &t, "files")
                    .ok_or_else(|| err(format!("could not locate file in lookup: {t}")))?;
                let mut c = read(&p)?;
                if rstrip {
                    c = c.trim_end().to_string();
                }
                if lstrip {
                    c = c.trim_start().to_string();
                }
                out.push(Value::from(c));
            }
            out
        }
        "fileglob" => {
            let mut out = Vec::new();
            for t in strs() {
                let t = expanduser(&t);
                let patterns: Vec<String> = if Path::new(&t).is_absolute() {
                    vec![t.clone()]
                } else {
                    search_dirs(state, shared)
                        .iter()
                        .flat_map(|d| [d.join("files").join(&t), d.join(&t)])
                        .map(|p| p.to_string_lossy().into_owned())
                        .collect()
                };
                for pat in patterns {
                    let mut found: Vec<String> = glob::glob(&pat)
                        .map_err(|e| err(format!("bad glob '{t}': {e}")))?
                        .filter_map(|p| p.ok())
                        .filter(|p| p.is_file())
                        .map(|p| p.to_string_lossy().into_owned())
                        .collect();
                    if !found.is_empty() {
                        found.sort();
                        out.extend(found.into_iter().map(Value::from));
                        break;
                    }
                }
            }
            out
        }
        "first_found" => first_found(state, shared, terms, kw)?,
        "pipe" => {
            let mut out = Vec::new();
            for t in strs() {
                let o = run_shell(&t)?;
                if !o.status.success() {
                    return Err(err(format!(
                        "lookup_plugin.pipe({t}) returned {}",
                        o.status.code().unwrap_or(-1)
                    )));
                }
                out.push(Value::from(String::from_utf8_lossy(&o.stdout).trim_end().to_string()));
            }
            out
        }
        "lines" => {
            let mut out = Vec::new();
            for t in strs() {
                let o = run_shell(&t)?;
                if !o.status.success() {
                    return Err(err(format!("lookup_plugin.lines({t}) returned {}", o.status.code().unwrap_or(-1))));
                }
                out.extend(String::from_utf8_lossy(&o.stdout).lines().map(|l| Value::from(l.to_string())));
            }
            out
        }
        "varnames" => {
            let mut names: Vec<String> = state
                .known_variables()
                .into_iter()
                .map(|n| n.to_string())
                .filter(|n| !n.starts_with("__") && state.lookup(n).is_some_and(|v| v.kind() != ValueKind::Plain))
                .collect();
            names.sort();
            names.dedup();
            let mut out = Vec::new();
            for t in strs() {
                let re = regex::Regex::new(&t).map_err(|e| err(format!("invalid regex '{t}': {e}")))?;
                out.extend(names.iter().filter(|n| re.is_match(n)).map(|n| Value::from(n.as_str())));
            }
            out
        }
        "vars" => {
            let default = kw.kwarg("default");
            let mut out = Vec::new();
            for t in strs() {
                match state.lookup(&t).filter(|v| !v.is_undefined()) {
                    Some(v) => out.push(v),
                    None => match &default {
                        Some(d) => out.push(d.clone()),
                        None => return Err(err(format!("no variable found with this name: {t}"))),
                    },
                }
            }
            out
        }
        "items" | "list" | "flattened" => {
            if name == "list" {
                terms.to_vec()
            } else {
                flat_terms(terms)
            }
        }
        "indexed_items" => flat_terms(terms)
            .into_iter()
            .enumerate()
            .map(|(i, v)| Value::from(vec![Value::from(i), v]))
            .collect(),
        "dict" => {
            let mut out = Vec::new();
            for t in terms {
                if t.kind() != ValueKind::Map {
                    return Err(err("with_dict expects a dict"));
                }
                for k in t.try_iter()? {
                    let v = t.get_item(&k)?;
                    out.push(Value::from_pairs([(Value::from("key"), k), (Value::from("value"), v)]));
                }
            }
            out
        }
        "sequence" => sequence(terms, kw)?,
        "together" => {
            let lists: Vec<Vec<Value>> = terms.iter().map(|t| items(state, t)).collect::<Result<_, _>>()?;
            let n = lists.iter().map(|l| l.len()).max().unwrap_or(0);
            (0..n)
                .map(|i| Value::from(lists.iter().map(|l| l.get(i).cloned().unwrap_or_else(|| Value::from(()))).collect::<Vec<_>>()))
                .collect()
        }
        "nested" => {
            let lists: Vec<Vec<Value>> = terms.iter().map(|t| items(state, t)).collect::<Result<_, _>>()?;
            cartesian(&lists).into_iter().map(Value::from).collect()
        }
        "subelements" => {
            let list = terms.first().cloned().unwrap_or_default();
            let key = terms.get(1).cloned().unwrap_or_default();
            let skip = terms
                .get(2)
                .and_then(|f| f.get_attr("skip_missing").ok())
                .or_else(|| kw.kwarg("skip_missing"))
                .is_some_and(|x| x.is_true());
            subelements(state, &list, &key, skip)?.try_iter()?.collect()
        }
        "template" => {
            let mut out = Vec::new();
            let extra = kw.kwarg("template_vars");
            for t in strs() {
                let p = find_file(state, shared, &t, "templates")
                    .ok_or_else(|| err(format!("could not locate template in lookup: {t}")))?;
                let text = read(&p)?;
                let mut ctx = all_vars(state);
                if let Some(extra) = &extra {
                    ctx = minijinja::value::merge_maps([ctx, extra.clone()]);
                }
                let rendered = state
                    .env()
                    .render_named_str(&p.to_string_lossy(), &text, ctx)?;
                out.push(Value::from(rendered));
            }
            out
        }
        other => {
            return Err(err(format!(
                "lookup plugin '{other}' is not supported (supported: env file fileglob first_found pipe lines varnames vars items list indexed_items dict sequence together nested subelements template)"
            )))
        }
    })
}

fn first_found(
    state: &State,
    shared: &Shared,
    terms: &[Value],
    kw: &Args,
) -> Result<Vec<Value>, Error> {
    let mut candidates: Vec<String> = Vec::new();
    let mut skip = kw.kwarg("skip").is_some_and(|x| x.is_true());
    let split = |s: &str| -> Vec<String> {
        s.split([',', ';', ':'])
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    };
    let expand = |files: &[String], paths: &[String], out: &mut Vec<String>| {
        if paths.is_empty() {
            out.extend(files.iter().cloned());
        } else {
            for p in paths {
                for f in files {
                    out.push(super::filters::path_join(&[p.clone(), f.clone()]));
                }
            }
        }
    };
    let str_list = |v: &Value| -> Vec<String> {
        if let Some(s) = v.as_str() {
            split(s)
        } else {
            v.try_iter()
                .map(|it| it.map(|x| py_str(&x)).collect())
                .unwrap_or_default()
        }
    };
    let kw_files = kw.kwarg("files").map(|f| str_list(&f)).unwrap_or_default();
    let kw_paths = kw.kwarg("paths").map(|f| str_list(&f)).unwrap_or_default();
    for t in flat_terms(terms) {
        if t.kind() == ValueKind::Map {
            let files = t
                .get_attr("files")
                .ok()
                .filter(|x| !x.is_undefined())
                .map(|f| str_list(&f))
                .unwrap_or_default();
            let paths = t
                .get_attr("paths")
                .ok()
                .filter(|x| !x.is_undefined())
                .map(|f| str_list(&f))
                .unwrap_or_default();
            if t.get_attr("skip").is_ok_and(|x| x.is_true()) {
                skip = true;
            }
            expand(&files, &paths, &mut candidates);
        } else {
            expand(&[py_str(&t)], &kw_paths, &mut candidates);
        }
    }
    if !kw_files.is_empty() {
        expand(&kw_files, &kw_paths, &mut candidates);
    }
    for c in &candidates {
        if let Some(p) = find_file(state, shared, c, "files") {
            let abs = if p.is_absolute() {
                p
            } else {
                std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
            };
            return Ok(vec![Value::from(abs.to_string_lossy().into_owned())]);
        }
    }
    if skip {
        return Ok(vec![]);
    }
    Err(err(format!(
        "No file was found when using first_found (tried: {})",
        candidates.join(", ")
    )))
}

/// Python `%`-formatting of one integer (`%d`, `%02x`, `host%03d`...).
fn percent_format(fmt: &str, n: i64) -> Result<String, Error> {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"%([-0 +#]*)(\d*)([dixXo])").expect("valid regex")
    });
    let re = &*RE;
    let Some(c) = re.captures(fmt) else {
        return Err(err(format!("bad sequence format '{fmt}'")));
    };
    let flags = c.get(1).map(|m| m.as_str()).unwrap_or("");
    let width: usize = c.get(2).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
    let body = match &c[3] {
        "x" => format!("{:x}", n),
        "X" => format!("{:X}", n),
        "o" => format!("{:o}", n),
        _ => n.to_string(),
    };
    let padded = if flags.contains('-') {
        format!("{body:<width$}")
    } else if flags.contains('0') {
        if n < 0 {
            format!("-{:0>w$}", &body[1..], w = width.saturating_sub(1))
        } else {
            format!("{body:0>width$}")
        }
    } else {
        format!("{body:>width$}")
    };
    let m = c.get(0).expect("whole match");
    Ok(format!("{}{}{}", &fmt[..m.start()], padded, &fmt[m.end()..]).replace("%%", "%"))
}

/// start, end, count, stride, format of one `with_sequence` term.
type SeqSpec = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

static SEQ_SHORTCUT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"^(?:(0x[0-9a-fA-F]+|0o?[0-7]+|-?\d+)-)?(0x[0-9a-fA-F]+|0o?[0-7]+|\d+)(?:/(-?\d+))?(?::(.+))?$",
    )
    .expect("valid regex")
});

fn sequence(terms: &[Value], kw: &Args) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    let mut specs: Vec<SeqSpec> = Vec::new();
    let kwint = |n: &str| {
        kw.kwarg(n)
            .and_then(|v| to_i64(&v).or_else(|| parse_num(&py_str(&v))))
    };
    if terms.is_empty() {
        specs.push((
            kwint("start"),
            kwint("end"),
            kwint("count"),
            kwint("stride"),
            kw.kwarg("format").map(|f| py_str(&f)),
        ));
    }
    for t in terms {
        let s = py_str(t);
        let (mut start, mut end, mut count, mut stride, mut format) = (
            kwint("start"),
            kwint("end"),
            kwint("count"),
            kwint("stride"),
            kw.kwarg("format").map(|f| py_str(&f)),
        );
        if s.contains('=') {
            for part in s.split_whitespace() {
                let (k, v) = part
                    .split_once('=')
                    .ok_or_else(|| err(format!("bad sequence term '{part}'")))?;
                match k {
                    "start" => start = parse_num(v),
                    "end" => end = parse_num(v),
                    "count" => count = parse_num(v),
                    "stride" => stride = parse_num(v),
                    "format" => format = Some(v.to_string()),
                    other => return Err(err(format!("unknown sequence argument '{other}'"))),
                }
            }
        } else {
            // Shortcut form: [start-]end[/stride][:format]
            let re = &*SEQ_SHORTCUT;
            let c = re
                .captures(s.trim())
                .ok_or_else(|| err(format!("can't parse sequence term '{s}'")))?;
            if let Some(m) = c.get(1) {
                start = parse_num(m.as_str());
            }
            end = parse_num(&c[2]);
            if let Some(m) = c.get(3) {
                stride = parse_num(m.as_str());
            }
            if let Some(m) = c.get(4) {
                format = Some(m.as_str().to_string());
            }
        }
        specs.push((start, end, count, stride, format));
    }
    for (start, end, count, stride, format) in specs {
        let start = start.unwrap_or(1);
        let mut stride = stride.unwrap_or(1);
        let end = match (end, count) {
            (Some(_), Some(_)) => {
                return Err(err("can't specify both count and end in with_sequence"))
            }
            (Some(e), None) => e,
            (None, Some(c)) => {
                if c == 0 {
                    continue;
                }
                start + c * stride - stride
            }
            (None, None) => return Err(err("must specify count or end in with_sequence")),
        };
        if stride == 0 {
            continue;
        }
        if stride > 0 && end < start {
            return Err(err("to count backwards make stride negative"));
        }
        if stride < 0 && end > start {
            return Err(err("to count forward don't make stride negative"));
        }
        let format = format.unwrap_or_else(|| "%d".into());
        let mut i = start;
        if stride < 0 {
            while i >= end {
                out.push(Value::from(percent_format(&format, i)?));
                i += stride;
            }
        } else {
            while i <= end {
                out.push(Value::from(percent_format(&format, i)?));
                i += stride;
            }
        }
        stride = stride.abs();
        let _ = stride;
    }
    Ok(out)
}

fn parse_num(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = s.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if s.len() > 1 && s.starts_with('0') && s.chars().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

/// `subelements`: for each item of the list, one `[item, subitem]` per element of `item[key]`.
pub(crate) fn subelements(
    state: &State,
    list: &Value,
    key: &Value,
    skip_missing: bool,
) -> Result<Value, Error> {
    need(state, list)?;
    let key = py_str(key);
    let path: Vec<&str> = key.split('.').collect();
    let mut out = Vec::new();
    for item in items(state, list)? {
        let mut sub = item.clone();
        let mut missing = false;
        for p in &path {
            sub = sub.get_attr(p)?;
            if sub.is_undefined() {
                missing = true;
                break;
            }
        }
        if missing {
            if skip_missing {
                continue;
            }
            return Err(err(format!("could not find '{key}' key in iterated item")));
        }
        if sub.kind() != ValueKind::Seq {
            return Err(err(format!("the key '{key}' should point to a list")));
        }
        for s in sub.try_iter()? {
            out.push(Value::from(vec![item.clone(), s]));
        }
    }
    Ok(Value::from(out))
}
