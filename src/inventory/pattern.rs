//! Ansible host patterns: what `--limit` and a play's `hosts:` select.
//!
//! A pattern is terms joined by `:` or `,` (union); a term may start with `&` (intersect) or
//! `!` (exclude). As in ansible-core's `InventoryManager`, plain terms are applied first, then
//! the intersections, then the exclusions, whatever order they were written in; with no plain
//! term the start is `all`. A term is a group or host name, a glob (`web*`, `*.example.com`),
//! a regex (`~web\d+`, matched from the start), any of those with a subscript (`web[0]`,
//! `web[-1]`, `web[0:2]`, `web[1:]`), or `@file` naming a file of patterns, one a line.

use std::collections::HashSet;

use regex::Regex;

use super::{Inventory, LOCALHOST};
use crate::error::{Error, Result};

const HELP: &str =
    "patterns look like `web:&prod:!web3`, `db*`, `~web\\d+`, `web[0:2]` or `@retry_file`";

pub(super) fn select(inv: &Inventory, pattern: &str) -> Result<Vec<String>> {
    let err = |what: String| {
        Error::input(format!("in --limit pattern `{pattern}`: {what}")).with_help(HELP)
    };
    if pattern.trim().is_empty() {
        return Err(err("the pattern is empty".into()));
    }
    let mut terms = Vec::new();
    for term in split(pattern).map_err(err)? {
        if let Some(path) = term.strip_prefix('@') {
            if path.is_empty() {
                return Err(err("`@` must be followed by a file name".into()));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| err(format!("cannot read the limit file `{path}`: {e}")))?;
            terms.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from),
            );
        } else {
            terms.push(term);
        }
    }
    // unions, then intersections, then exclusions
    let mut regular = Vec::new();
    let mut intersect = Vec::new();
    let mut exclude = Vec::new();
    for t in terms {
        if let Some(rest) = t.strip_prefix('&') {
            if rest.trim().is_empty() {
                return Err(err("`&` must be followed by a pattern".into()));
            }
            intersect.push(t);
        } else if let Some(rest) = t.strip_prefix('!') {
            if rest.trim().is_empty() {
                return Err(err("`!` must be followed by a pattern".into()));
            }
            exclude.push(t);
        } else {
            regular.push(t);
        }
    }
    if regular.is_empty() {
        regular.push("all".into());
    }
    let mut hosts: Vec<String> = Vec::new();
    for p in regular.iter().chain(&intersect).chain(&exclude) {
        if inv.hosts.contains_key(p.as_str()) {
            if !hosts.contains(p) {
                hosts.push(p.clone());
            }
            continue;
        }
        let matched = match_one(inv, p).map_err(&err)?;
        if p.starts_with('!') {
            let that: HashSet<&String> = matched.iter().collect();
            hosts.retain(|h| !that.contains(h));
        } else if p.starts_with('&') {
            let that: HashSet<&String> = matched.iter().collect();
            hosts.retain(|h| that.contains(h));
        } else {
            let existing: HashSet<String> = hosts.iter().cloned().collect();
            hosts.extend(matched.into_iter().filter(|h| !existing.contains(h)));
        }
    }
    let mut seen = HashSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    Ok(hosts)
}

/// Splits a pattern into terms: on `,`, and on `:` and whitespace outside `[...]`.
/// A bare IPv6 address is one term.
fn split(pattern: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let pieces: Vec<&str> = pattern.split(',').collect();
    for piece in &pieces {
        let piece = piece.trim();
        if piece.is_empty() {
            return Err("a term is empty (two `,` in a row, or one at an end)".into());
        }
        if is_ipv6(piece) {
            out.push(piece.to_string());
            continue;
        }
        let mut cur = String::new();
        let mut depth = 0usize;
        let mut prev_sep = true;
        let chars: Vec<char> = piece.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            match c {
                '[' => {
                    // `[` inside a regex term is the regex's business
                    depth += 1;
                    cur.push(c);
                }
                ']' => {
                    if depth == 0
                        && !cur.starts_with('~')
                        && !cur.starts_with("!~")
                        && !cur.starts_with("&~")
                    {
                        return Err(format!("`]` at position {} has no matching `[`", i + 1));
                    }
                    depth = depth.saturating_sub(1);
                    cur.push(c);
                }
                ':' if depth == 0 => {
                    if prev_sep && cur.is_empty() {
                        return Err(format!(
                            "a term is empty (a `:` at position {} has nothing before it)",
                            i + 1
                        ));
                    }
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                    prev_sep = true;
                    if i + 1 == chars.len() {
                        return Err("a term is empty (the pattern ends with `:`)".into());
                    }
                }
                c if c.is_whitespace() && depth == 0 => {
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                }
                c => {
                    prev_sep = false;
                    cur.push(c);
                }
            }
        }
        if depth > 0 && !cur.starts_with('~') && !cur.contains("~") {
            return Err(format!("`[` in `{cur}` is never closed"));
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    Ok(out)
}

fn is_ipv6(s: &str) -> bool {
    let s = s.trim_start_matches(['!', '&']);
    s.matches(':').count() >= 2 && s.parse::<std::net::Ipv6Addr>().is_ok()
}

/// The hosts one term (without its `&`/`!`) matches, in inventory order.
fn match_one(inv: &Inventory, term: &str) -> std::result::Result<Vec<String>, String> {
    let term = term.trim_start_matches(['&', '!']);
    let (expr, subscript) = split_subscript(term)?;
    let mut hosts = enumerate(inv, &expr)?;
    if let Some((start, end)) = subscript {
        hosts = apply_subscript(hosts, start, end);
    }
    Ok(hosts)
}

type Subscript = (i64, Option<i64>);

/// `web[1]`, `web[-1]`, `web[0:2]`, `web[1:]` (a regex term has no subscript).
fn split_subscript(term: &str) -> std::result::Result<(String, Option<Subscript>), String> {
    if term.starts_with('~') {
        return Ok((term.to_string(), None));
    }
    static SUB: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$").unwrap()
    });
    let Some(c) = SUB.captures(term) else {
        return Ok((term.to_string(), None));
    };
    let base = c[1].to_string();
    let num = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| format!("the subscript number `{s}` is too large"))
    };
    if let Some(idx) = c.get(2) {
        return Ok((base, Some((num(idx.as_str())?, None))));
    }
    let start = num(&c[3])?;
    let end = match c.get(5).map(|m| m.as_str()).filter(|s| !s.is_empty()) {
        Some(e) => num(e)?,
        None => -1,
    };
    Ok((base, Some((start, Some(end)))))
}

/// Python's `hosts[start:end + 1]` (end -1 = to the last) or `[hosts[i]]`; out of range gives
/// nothing rather than an error.
fn apply_subscript(hosts: Vec<String>, start: i64, end: Option<i64>) -> Vec<String> {
    let len = hosts.len() as i64;
    match end {
        None => {
            let i = if start < 0 { len + start } else { start };
            if i < 0 || i >= len {
                Vec::new()
            } else {
                vec![hosts[i as usize].clone()]
            }
        }
        Some(end) => {
            let end = if end == -1 { len - 1 } else { end };
            let s = start.clamp(0, len);
            let e = (end + 1).clamp(0, len);
            if s >= e {
                Vec::new()
            } else {
                hosts[s as usize..e as usize].to_vec()
            }
        }
    }
}

fn enumerate(inv: &Inventory, expr: &str) -> std::result::Result<Vec<String>, String> {
    let re = compile(expr)?;
    let mut results = Vec::new();
    let groups: Vec<&String> = inv.groups.keys().filter(|g| re.is_match(g)).collect();
    for g in &groups {
        results.extend(inv.group_hosts(g));
    }
    let special = expr.starts_with('~') || expr.contains(['.', '?', '*', '[']);
    if groups.is_empty() || special {
        results.extend(inv.hosts.keys().filter(|h| re.is_match(h)).cloned());
    }
    if results.is_empty() && LOCALHOST.contains(&expr) {
        results.push(expr.to_string());
    }
    Ok(results)
}

/// `~regex` (matched at the start, as Python's `re.match`) or a shell glob (whole name).
fn compile(expr: &str) -> std::result::Result<Regex, String> {
    if let Some(re) = expr.strip_prefix('~') {
        if re.is_empty() {
            return Err("`~` must be followed by a regular expression".into());
        }
        return Regex::new(&format!("^(?:{re})")).map_err(|e| {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or_default().trim().to_string();
            format!("`~{re}` is not a valid regular expression ({last})")
        });
    }
    Regex::new(&glob_to_regex(expr)).map_err(|e| format!("cannot use `{expr}` as a glob: {e}"))
}

/// Python's `fnmatch.translate`: `*`, `?`, `[seq]`, `[!seq]`; an unclosed `[` is literal.
pub(super) fn glob_to_regex(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::from("(?s)^");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                } else {
                    let body: String = chars[i..j].iter().collect();
                    i = j + 1;
                    let (neg, body) = match body.strip_prefix('!') {
                        Some(b) => (true, b.to_string()),
                        None => (false, body),
                    };
                    let mut class = String::from("[");
                    if neg {
                        class.push('^');
                    }
                    for ch in body.chars() {
                        if matches!(ch, '\\' | '[' | ']' | '^' | '&' | '~') {
                            class.push('\\');
                        }
                        class.push(ch);
                    }
                    class.push(']');
                    out.push_str(&class);
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let re = Regex::new(&glob_to_regex("web*.example.com")).unwrap();
        assert!(re.is_match("web1.example.com"));
        assert!(!re.is_match("web1.exampleXcom"));
        assert!(!re.is_match("db1.example.com"));
        let re = Regex::new(&glob_to_regex("db[12]")).unwrap();
        assert!(re.is_match("db1") && re.is_match("db2") && !re.is_match("db3"));
        let re = Regex::new(&glob_to_regex("db[!12]")).unwrap();
        assert!(re.is_match("db3") && !re.is_match("db1"));
        let re = Regex::new(&glob_to_regex("x[")).unwrap();
        assert!(re.is_match("x["));
        let re = Regex::new(&glob_to_regex("a-b?")).unwrap();
        assert!(re.is_match("a-bc"));
    }

    #[test]
    fn splitting() {
        assert_eq!(split("web:&prod:!web3").unwrap(), ["web", "&prod", "!web3"]);
        assert_eq!(split("web,db").unwrap(), ["web", "db"]);
        assert_eq!(split("web[0:2]:db").unwrap(), ["web[0:2]", "db"]);
        assert_eq!(split("fe80::1").unwrap(), ["fe80::1"]);
        assert_eq!(split("~web[0-9]+:db").unwrap(), ["~web[0-9]+", "db"]);
        assert!(split("a:&").is_ok()); // caught later: `&` alone
        assert!(split("web::db").is_err());
        assert_eq!(split("a::b").unwrap(), ["a::b"]); // an IPv6 address
        assert!(split("a,,b").is_err());
        assert!(split("a:").is_err());
        assert!(split("web[0:2").is_err());
        assert!(split("web]").is_err());
    }

    #[test]
    fn subscripts() {
        assert_eq!(
            split_subscript("web[0]").unwrap(),
            ("web".into(), Some((0, None)))
        );
        assert_eq!(
            split_subscript("web[-1]").unwrap(),
            ("web".into(), Some((-1, None)))
        );
        assert_eq!(
            split_subscript("web[0:2]").unwrap(),
            ("web".into(), Some((0, Some(2))))
        );
        assert_eq!(
            split_subscript("web[1:]").unwrap(),
            ("web".into(), Some((1, Some(-1))))
        );
        assert_eq!(
            split_subscript("~web[0]").unwrap(),
            ("~web[0]".into(), None)
        );
        let h: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(apply_subscript(h.clone(), 0, Some(2)), ["a", "b", "c"]);
        assert_eq!(apply_subscript(h.clone(), 1, Some(-1)), ["b", "c", "d"]);
        assert_eq!(apply_subscript(h.clone(), -1, None), ["d"]);
        assert_eq!(apply_subscript(h.clone(), 9, None), Vec::<String>::new());
        assert_eq!(apply_subscript(h.clone(), 3, Some(9)), ["d"]);
        assert_eq!(apply_subscript(h, 3, Some(1)), Vec::<String>::new());
    }
}
