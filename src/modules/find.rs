//! `find`: files below some paths, filtered like Ansible's module (patterns as globs or
//! regexes on the basename, excludes, type, hidden, age, size, contents). Read-only: the plan is
//! in sync and carries `files`, `matched`, `examined`. One exec: `find` (GNU or busybox) with
//! `stat -c` per entry; `contains` and `get_checksum` ride along in the same script.
//! Names holding a newline are not supported (the listing is line based).

use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::{de_bool, parse_list};
use super::fileops::{build_args, de_opt_str, fail};
use super::sysutil::Sections;
use super::{Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::{quote, Cmd};

fn file_kind() -> String {
    "file".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindArgs {
    #[serde(alias = "name", alias = "path")]
    pub paths: Value,
    #[serde(default, alias = "pattern")]
    pub patterns: Option<Value>,
    #[serde(default, alias = "exclude")]
    pub excludes: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub contains: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub read_whole_file: bool,
    #[serde(default = "file_kind")]
    pub file_type: String,
    #[serde(default, deserialize_with = "de_bool")]
    pub recurse: bool,
    #[serde(default)]
    pub depth: Option<u32>,
    #[serde(default, deserialize_with = "de_bool")]
    pub hidden: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub age: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub age_stamp: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub size: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub follow: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub get_checksum: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub use_regex: bool,
    #[serde(default)]
    pub limit: Option<usize>,
}

pub const FIND_ARGS: &[&str] = &[
    "paths",
    "name",
    "path",
    "patterns",
    "pattern",
    "excludes",
    "exclude",
    "contains",
    "read_whole_file",
    "file_type",
    "recurse",
    "depth",
    "hidden",
    "age",
    "age_stamp",
    "size",
    "follow",
    "get_checksum",
    "use_regex",
    "limit",
];

pub struct Find {
    a: FindArgs,
    paths: Vec<String>,
    patterns: Vec<Regex>,
    excludes: Vec<Regex>,
    contains: Option<String>,
    /// Seconds; negative: younger than.
    age: Option<i64>,
    /// Bytes; negative: at most.
    size: Option<i64>,
}

/// A shell glob as an anchored regex (fnmatch: `*`, `?`, `[...]`, `[!...]`).
pub fn glob_regex(g: &str) -> std::result::Result<Regex, String> {
    let mut r = String::from("^(?s:");
    let mut chars = g.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => r.push_str(".*"),
            '?' => r.push('.'),
            '[' => {
                let mut class = String::new();
                let mut closed = false;
                if chars.peek() == Some(&'!') {
                    chars.next();
                    class.push('^');
                }
                for d in chars.by_ref() {
                    if d == ']' && !class.is_empty() && class != "^" {
                        closed = true;
                        break;
                    }
                    if d == '\\' || d == '[' || d == '&' || d == '~' || d == '-' && class.is_empty()
                    {
                        class.push('\\');
                    }
                    class.push(d);
                }
                if closed {
                    r.push('[');
                    r.push_str(&class);
                    r.push(']');
                } else {
                    r.push_str(&regex::escape("["));
                    r.push_str(&regex::escape(&class));
                }
            }
            other => r.push_str(&regex::escape(&other.to_string())),
        }
    }
    r.push_str(")$");
    Regex::new(&r).map_err(|e| format!("bad glob `{g}`: {e}"))
}

/// "2d", "-1w", "30" (seconds) → seconds.
pub fn parse_age(s: &str) -> Option<i64> {
    let re = Regex::new(r"^(-?\d+)([smhdw]?)$").ok()?;
    let low = s.trim().to_ascii_lowercase();
    let c = re.captures(&low)?;
    let n: i64 = c[1].parse().ok()?;
    let mul = match &c[2] {
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 604_800,
        _ => 1,
    };
    Some(n * mul)
}

/// "10k", "-1m", "100" (bytes) → bytes (1k = 1024).
pub fn parse_size(s: &str) -> Option<i64> {
    let re = Regex::new(r"^(-?\d+)(b|k|m|g|t)?$").ok()?;
    let low = s.trim().to_ascii_lowercase();
    let c = re.captures(&low)?;
    let n: i64 = c[1].parse().ok()?;
    let mul: i64 = match c.get(2).map(|m| m.as_str()) {
        Some("k") => 1 << 10,
        Some("m") => 1 << 20,
        Some("g") => 1 << 30,
        Some("t") => 1 << 40,
        _ => 1,
    };
    Some(n * mul)
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: FindArgs = build_args("find", args)?;
    fn e<T>(m: String) -> std::result::Result<T, String> {
        Err(format!("find: {m}"))
    }
    let paths = parse_list(&a.paths);
    if paths.is_empty() {
        return e("argument `paths` holds no path".into());
    }
    if !["file", "directory", "link", "any"].contains(&a.file_type.as_str()) {
        return e(format!(
            "argument `file_type` must be file, directory, link or any, got {}",
            a.file_type
        ));
    }
    let compile = |what: &str, v: &Option<Value>| -> std::result::Result<Vec<Regex>, String> {
        v.as_ref()
            .map(parse_list)
            .unwrap_or_default()
            .iter()
            .map(|p| {
                if a.use_regex {
                    // Python's re.match: anchored at the start only.
                    Regex::new(&format!("^(?:{p})"))
                        .map_err(|er| format!("find: argument `{what}`: {er}"))
                } else {
                    glob_regex(p).map_err(|er| format!("find: argument `{what}`: {er}"))
                }
            })
            .collect()
    };
    let patterns = compile("patterns", &a.patterns)?;
    let excludes = compile("excludes", &a.excludes)?;
    let age = match &a.age {
        Some(s) => Some(parse_age(s).ok_or_else(|| {
            format!("find: argument `age`: `{s}` is not an age like 2d, -1w, 3600")
        })?),
        None => None,
    };
    let size = match &a.size {
        Some(s) => Some(parse_size(s).ok_or_else(|| {
            format!("find: argument `size`: `{s}` is not a size like 10k, -1m, 100")
        })?),
        None => None,
    };
    if let Some(st) = &a.age_stamp {
        if !["atime", "ctime", "mtime"].contains(&st.as_str()) {
            return e(format!(
                "argument `age_stamp` must be atime, ctime or mtime, got {st}"
            ));
        }
    }
    if let Some(c) = &a.contains {
        Regex::new(c).map_err(|er| format!("find: argument `contains`: {er}"))?;
    }
    Ok(Box::new(Find {
        contains: a.contains.clone(),
        a,
        paths,
        patterns,
        excludes,
        age,
        size,
    }))
}

pub static FIND: super::ModuleDef = super::ModuleDef {
    name: "find",
    args: FIND_ARGS,
    free_form: false,
    build,
};

const FMT: &str = "%f|%u|%g|%s|%X|%Y|%Z|%i|%d|%h|%U|%G|%n";

/// One entry of the listing, as Ansible's find reports it.
pub fn entry(line: &str) -> Option<(String, u32, Map<String, Value>)> {
    let p: Vec<&str> = line.splitn(13, '|').collect();
    if p.len() < 13 {
        return None;
    }
    let raw = u32::from_str_radix(p[0].trim(), 16).ok()?;
    let num = |i: usize| p[i].trim().parse::<i64>().ok();
    let kind = raw & 0o170000;
    let mode = raw & 0o7777;
    let mut m = Map::new();
    m.insert("path".into(), json!(p[12]));
    m.insert("mode".into(), json!(format!("{mode:04o}")));
    for (k, bits) in [
        ("isdir", 0o040000),
        ("ischr", 0o020000),
        ("isblk", 0o060000),
        ("isreg", 0o100000),
        ("isfifo", 0o010000),
        ("islnk", 0o120000),
        ("issock", 0o140000),
    ] {
        m.insert(k.into(), json!(kind == bits));
    }
    m.insert("uid".into(), json!(num(1)?));
    m.insert("gid".into(), json!(num(2)?));
    m.insert("size".into(), json!(num(3)?));
    m.insert("atime".into(), json!(num(4)? as f64));
    m.insert("mtime".into(), json!(num(5)? as f64));
    m.insert("ctime".into(), json!(num(6)? as f64));
    m.insert("inode".into(), json!(num(7)?));
    m.insert("dev".into(), json!(num(8)?));
    m.insert("nlink".into(), json!(num(9)?));
    m.insert("pw_name".into(), json!(p[10]));
    m.insert("gr_name".into(), json!(p[11]));
    for (k, bit) in [
        ("wusr", 0o200),
        ("rusr", 0o400),
        ("xusr", 0o100),
        ("wgrp", 0o020),
        ("rgrp", 0o040),
        ("xgrp", 0o010),
        ("woth", 0o002),
        ("roth", 0o004),
        ("xoth", 0o001),
    ] {
        m.insert(k.into(), json!(mode & bit != 0));
    }
    m.insert("isuid".into(), json!(mode & 0o4000 != 0));
    m.insert("isgid".into(), json!(mode & 0o2000 != 0));
    Some((p[12].to_string(), kind, m))
}

impl Find {
    fn find_cmd(&self, path: &str) -> String {
        let mut c = Cmd::new("find");
        if self.a.follow {
            c = c.arg("-L");
        }
        c = c.arg(path).arg("-mindepth").arg("1");
        let depth = match (self.a.recurse, self.a.depth) {
            (false, _) => Some(1),
            (true, d) => d,
        };
        if let Some(d) = depth {
            c = c.arg("-maxdepth").arg(&d.to_string());
        }
        c.into_string()
    }

    /// Whether a listed entry passes every filter but `contains`.
    fn keep(&self, path: &str, kind: u32, m: &Map<String, Value>, now: i64) -> bool {
        let base = path.rsplit('/').next().unwrap_or(path);
        if !self.a.hidden && base.starts_with('.') {
            return false;
        }
        let type_ok = match self.a.file_type.as_str() {
            "file" => kind == 0o100000,
            "directory" => kind == 0o040000,
            "link" => kind == 0o120000,
            _ => true,
        };
        if !type_ok {
            return false;
        }
        if !self.patterns.is_empty() && !self.patterns.iter().any(|r| r.is_match(base)) {
            return false;
        }
        if self.excludes.iter().any(|r| r.is_match(base)) {
            return false;
        }
        if let Some(age) = self.age {
            let stamp = self.a.age_stamp.as_deref().unwrap_or("mtime");
            let t = m.get(stamp).and_then(Value::as_f64).unwrap_or(0.0) as i64;
            let ago = now - t;
            if (age >= 0 && ago < age) || (age < 0 && ago > -age) {
                return false;
            }
        }
        if let Some(size) = self.size {
            // Ansible applies size to regular files only.
            if kind == 0o100000 {
                let s = m.get("size").and_then(Value::as_i64).unwrap_or(0);
                if (size >= 0 && s < size) || (size < 0 && s > -size) {
                    return false;
                }
            }
        }
        true
    }
}

#[async_trait]
impl Module for Find {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let mut s = Sections::new();
        s.add("now", "date +%s");
        for (i, p) in self.paths.iter().enumerate() {
            let q = quote(p);
            let f = self.find_cmd(p);
            s.add(&format!("missing{i}"), &format!("[ -d {q} ] || echo y"));
            s.add(
                &format!("list{i}"),
                &format!(
                    "{f} -exec stat {}-c {} {{}} + 2>/dev/null",
                    if self.a.follow { "-L " } else { "" },
                    quote(FMT)
                ),
            );
            if let Some(c) = &self.contains {
                let pat = if self.a.read_whole_file {
                    c.clone()
                } else {
                    format!("^({c})")
                };
                let flag = if self.a.read_whole_file {
                    "-lzE"
                } else {
                    "-lE"
                };
                s.add(
                    &format!("grep{i}"),
                    &format!(
                        "{f} -type f -exec grep {flag} -e {} {{}} + 2>/dev/null",
                        quote(&pat)
                    ),
                );
            }
            if self.a.get_checksum {
                s.add(
                    &format!("sum{i}"),
                    &format!(
                        "{f} -type f -exec sh -c 'sha1sum \"$@\" 2>/dev/null || shasum -a 1 \"$@\"' sh {{}} + 2>/dev/null"
                    ),
                );
            }
        }
        let out = s.run(ctx, "find").await?;
        let now: i64 = out
            .get("now")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| fail(ctx, "find: cannot read the host's clock"))?;
        let mut files: Vec<Value> = vec![];
        let mut examined = 0usize;
        let mut skipped = Map::new();
        'paths: for (i, p) in self.paths.iter().enumerate() {
            if out
                .get(&format!("missing{i}"))
                .is_some_and(|m| m.trim() == "y")
            {
                skipped.insert(
                    p.clone(),
                    json!(format!("{p} was skipped as it does not seem to be a valid directory or it cannot be accessed")),
                );
                continue;
            }
            let grep: Option<std::collections::HashSet<&str>> =
                out.get(&format!("grep{i}")).map(|g| g.lines().collect());
            let sums: std::collections::HashMap<String, String> = out
                .get(&format!("sum{i}"))
                .map(|t| {
                    t.lines()
                        .filter_map(|l| {
                            let (h, p) = l.split_once("  ")?;
                            Some((p.to_string(), h.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            for line in out
                .get(&format!("list{i}"))
                .map(String::as_str)
                .unwrap_or("")
                .lines()
            {
                let Some((path, kind, mut m)) = entry(line) else {
                    continue;
                };
                examined += 1;
                if !self.keep(&path, kind, &m, now) {
                    continue;
                }
                if let Some(g) = &grep {
                    if kind != 0o100000 || !g.contains(path.as_str()) {
                        continue;
                    }
                }
                if let Some(h) = sums.get(&path) {
                    m.insert("checksum".into(), json!(h));
                }
                files.push(Value::Object(m));
                if self.a.limit.is_some_and(|l| files.len() >= l) {
                    break 'paths;
                }
            }
        }
        let mut result = Map::new();
        result.insert("matched".into(), json!(files.len()));
        result.insert("examined".into(), json!(examined));
        result.insert("files".into(), Value::Array(files));
        result.insert("skipped_paths".into(), Value::Object(skipped.clone()));
        let msg = if skipped.is_empty() {
            "All paths examined"
        } else {
            "Not all paths examined, check warnings for details"
        };
        result.insert("msg".into(), json!(msg));
        Ok(Plan {
            result,
            ..Plan::default()
        })
    }

    async fn apply(&self, _ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        Ok(plan.result.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_ages_sizes() {
        let g = glob_regex("*.log").unwrap();
        assert!(g.is_match("a.log") && !g.is_match("a.log.1"));
        let g = glob_regex("app[0-9].[!t]*").unwrap();
        assert!(g.is_match("app1.conf") && !g.is_match("app1.txt"));
        assert!(glob_regex("a+b(c)").unwrap().is_match("a+b(c)"));
        assert_eq!(parse_age("2d"), Some(172_800));
        assert_eq!(parse_age("-1w"), Some(-604_800));
        assert_eq!(parse_age("30"), Some(30));
        assert_eq!(parse_age("2y"), None);
        assert_eq!(parse_size("10k"), Some(10_240));
        assert_eq!(parse_size("-1m"), Some(-1_048_576));
    }

    #[test]
    fn entries() {
        let (p, kind, m) =
            entry("81a4|0|0|12|1700000000|1700000001|1700000002|42|2049|1|root|root|/srv/a b|c")
                .unwrap();
        assert_eq!((p.as_str(), kind), ("/srv/a b|c", 0o100000));
        assert_eq!(m["mode"], json!("0644"));
        assert_eq!(m["isreg"], json!(true));
        assert_eq!(m["mtime"], json!(1_700_000_001.0));
    }
}
