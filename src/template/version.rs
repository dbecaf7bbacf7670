//! Version comparison for the `version` test: Python's LooseVersion and StrictVersion as
//! Ansible uses them, SemVer, and Debian (dpkg) and RPM ordering.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Num(u128),
    Str(String),
}

fn loose_parts(v: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut cur_digit = false;
    let flush = |cur: &mut String, digit: bool, parts: &mut Vec<Part>| {
        if !cur.is_empty() {
            if digit {
                parts.push(Part::Num(cur.parse().unwrap_or(u128::MAX)));
            } else {
                parts.push(Part::Str(std::mem::take(cur)));
            }
            cur.clear();
        }
    };
    for c in v.chars() {
        if c == '.' {
            flush(&mut cur, cur_digit, &mut parts);
            continue;
        }
        let d = c.is_ascii_digit();
        if !cur.is_empty() && d != cur_digit {
            flush(&mut cur, cur_digit, &mut parts);
        }
        cur_digit = d;
        cur.push(c);
    }
    flush(&mut cur, cur_digit, &mut parts);
    parts
}

/// LooseVersion: components are numbers or strings, compared as lists. Where Python 3 would
/// fail comparing a number with a string, a number sorts first.
pub(crate) fn cmp_loose(a: &str, b: &str) -> Ordering {
    let (pa, pb) = (loose_parts(a), loose_parts(b));
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = match (x, y) {
            (Part::Num(x), Part::Num(y)) => x.cmp(y),
            (Part::Str(x), Part::Str(y)) => x.cmp(y),
            (Part::Num(_), Part::Str(_)) => Ordering::Less,
            (Part::Str(_), Part::Num(_)) => Ordering::Greater,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

/// StrictVersion: `N.N[.N][(a|b)N]`.
pub(crate) fn cmp_strict(a: &str, b: &str) -> Result<Ordering, String> {
    type Strict = (u64, u64, u64, Option<(char, u64)>);
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^(\d+)\.(\d+)(\.(\d+))?([ab](\d+))?$").expect("valid regex")
    });
    fn parse(v: &str) -> Result<Strict, String> {
        let c = RE
            .captures(v)
            .ok_or_else(|| format!("invalid version number '{v}'"))?;
        let n = |i: usize| {
            c.get(i)
                .map(|m| m.as_str().parse::<u64>().unwrap_or(0))
                .unwrap_or(0)
        };
        let pre = c
            .get(5)
            .map(|m| (m.as_str().chars().next().unwrap_or('a'), n(6)));
        Ok((n(1), n(2), n(4), pre))
    }
    let (x, y) = (parse(a)?, parse(b)?);
    let o = (x.0, x.1, x.2).cmp(&(y.0, y.1, y.2));
    if o != Ordering::Equal {
        return Ok(o);
    }
    Ok(match (x.3, y.3) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(p), Some(q)) => p.cmp(&q),
    })
}

/// Semantic Versioning 2.0 precedence.
pub(crate) fn cmp_semver(a: &str, b: &str) -> Result<Ordering, String> {
    fn parse(v: &str) -> Result<(Vec<u64>, Vec<String>), String> {
        let v = v.trim_start_matches('v');
        let v = v.split('+').next().unwrap_or("");
        let (core, pre) = match v.split_once('-') {
            Some((c, p)) => (c, p.split('.').map(String::from).collect()),
            None => (v, vec![]),
        };
        let nums: Result<Vec<u64>, _> = core.split('.').map(|x| x.parse::<u64>()).collect();
        match nums {
            Ok(n) if n.len() == 3 => Ok((n, pre)),
            _ => Err(format!("invalid semantic version '{v}'")),
        }
    }
    let (x, y) = (parse(a)?, parse(b)?);
    let o = x.0.cmp(&y.0);
    if o != Ordering::Equal {
        return Ok(o);
    }
    Ok(match (x.1.is_empty(), y.1.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => {
            for (p, q) in x.1.iter().zip(y.1.iter()) {
                let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(p), Ok(q)) => p.cmp(&q),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    _ => p.cmp(q),
                };
                if o != Ordering::Equal {
                    return Ok(o);
                }
            }
            x.1.len().cmp(&y.1.len())
        }
    })
}

/// dpkg's character order: `~` before everything (even the end), letters before non-letters.
fn dpkg_order(c: Option<char>) -> i32 {
    match c {
        None => 0,
        Some('~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn dpkg_verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = dpkg_order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = dpkg_order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        while i < a.len() && a[i] == '0' {
            i += 1;
        }
        while j < b.len() && b[j] == '0' {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = a[i] as i32 - b[j] as i32;
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

/// Debian version ordering: `[epoch:]upstream[-revision]`.
pub(crate) fn cmp_dpkg(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((u, r)) => (epoch, u, r),
            None => (epoch, rest, ""),
        }
    }
    let (x, y) = (split(a.trim()), split(b.trim()));
    x.0.cmp(&y.0)
        .then_with(|| dpkg_verrevcmp(x.1, y.1))
        .then_with(|| dpkg_verrevcmp(x.2, y.2))
}

/// rpmvercmp for one segment string (no epoch).
fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (mut i, mut j) = (0, 0);
    loop {
        while i < a.len() && !a[i].is_ascii_alphanumeric() && a[i] != '~' && a[i] != '^' {
            i += 1;
        }
        while j < b.len() && !b[j].is_ascii_alphanumeric() && b[j] != '~' && b[j] != '^' {
            j += 1;
        }
        // Tilde sorts before everything.
        let (at, bt) = (a.get(i) == Some(&'~'), b.get(j) == Some(&'~'));
        if at || bt {
            if !(at && bt) {
                return if at {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            i += 1;
            j += 1;
            continue;
        }
        // Caret sorts after the end but before anything else.
        let (ac, bc) = (a.get(i) == Some(&'^'), b.get(j) == Some(&'^'));
        if ac || bc {
            if i >= a.len() {
                return Ordering::Less;
            }
            if j >= b.len() {
                return Ordering::Greater;
            }
            if !(ac && bc) {
                return if ac {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            i += 1;
            j += 1;
            continue;
        }
        if i >= a.len() || j >= b.len() {
            break;
        }
        let numeric = a[i].is_ascii_digit();
        let take = |v: &Vec<char>, k: &mut usize| {
            let s = *k;
            while *k < v.len()
                && (if numeric {
                    v[*k].is_ascii_digit()
                } else {
                    v[*k].is_ascii_alphabetic()
                })
            {
                *k += 1;
            }
            v[s..*k].iter().collect::<String>()
        };
        let sa = take(&a, &mut i);
        let sb = take(&b, &mut j);
        if sb.is_empty() {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let o = if numeric {
            let (x, y) = (sa.trim_start_matches('0'), sb.trim_start_matches('0'));
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        } else {
            sa.cmp(&sb)
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// RPM ordering: `[epoch:]version[-release]`.
pub(crate) fn cmp_rpm(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((v, r)) => (epoch, v, r),
            None => (epoch, rest, ""),
        }
    }
    let (x, y) = (split(a.trim()), split(b.trim()));
    x.0.cmp(&y.0)
        .then_with(|| rpmvercmp(x.1, y.1))
        .then_with(|| {
            if x.2.is_empty() || y.2.is_empty() {
                Ordering::Equal
            } else {
                rpmvercmp(x.2, y.2)
            }
        })
}

/// Compares two versions with an operator, as the `version` test does.
pub(crate) fn compare(a: &str, b: &str, op: &str, kind: &str) -> Result<bool, String> {
    let ord = match kind {
        "loose" | "" => cmp_loose(a, b),
        "strict" => cmp_strict(a, b)?,
        "semver" | "semantic" => cmp_semver(a, b)?,
        "dpkg" | "deb" | "debian" => cmp_dpkg(a, b),
        "rpm" => cmp_rpm(a, b),
        other => {
            return Err(format!(
                "unknown version_type '{other}': use loose, strict, semver, dpkg or rpm"
            ))
        }
    };
    Ok(match op {
        "<" | "lt" => ord == Ordering::Less,
        "<=" | "le" => ord != Ordering::Greater,
        ">" | "gt" => ord == Ordering::Greater,
        ">=" | "ge" => ord != Ordering::Less,
        "==" | "=" | "eq" => ord == Ordering::Equal,
        "!=" | "<>" | "ne" => ord != Ordering::Equal,
        other => {
            return Err(format!(
                "invalid version operator '{other}': use < lt <= le > gt >= ge == = eq != <> ne"
            ))
        }
    })
}

/// Orders two versions the way a package manager does: `dpkg` (Debian), `rpm`, `semver`, or
/// loose (Python's LooseVersion: apk, macOS app versions, anything else).
pub fn cmp_for(manager: &str, a: &str, b: &str) -> Ordering {
    match manager {
        "dpkg" | "apt" | "deb" => cmp_dpkg(a, b),
        "rpm" | "dnf" | "yum" => cmp_rpm(a, b),
        "semver" => cmp_semver(a, b).unwrap_or_else(|_| cmp_loose(a, b)),
        _ => cmp_loose(a, b),
    }
}
