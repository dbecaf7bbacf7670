//! Reading rendered module arguments the way Ansible does: YAML 1.1 booleans, octal modes
//! given as numbers or strings, lists given as comma-separated strings.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Ansible's boolean: true/false, yes/no, on/off, 1/0 (any case).
pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" | "true" | "on" | "1" => Some(true),
            "no" | "n" | "false" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// serde helper: `#[serde(deserialize_with = "args::de_bool")]`.
pub fn de_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = Value::deserialize(d)?;
    parse_bool(&v).ok_or_else(|| serde::de::Error::custom(format!("expected a boolean, got {v}")))
}

/// serde helper for `Option<bool>`.
pub fn de_opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    parse_bool(&v)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("expected a boolean, got {v}")))
}

/// A file mode as Ansible takes it: an octal string ("0644", "644"), a number that YAML 1.1
/// already read as octal (0644 -> 420), or symbolic ("u=rw,g=r,o=r", "u+x").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Octal(u32),
    Symbolic(String),
    /// `preserve` (copy/template): keep the source's mode.
    Preserve,
}

pub fn parse_mode(v: &Value) -> Result<Mode, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .filter(|m| *m <= 0o7777)
            .map(|m| Mode::Octal(m as u32))
            .ok_or_else(|| format!("mode {n} is out of range")),
        Value::String(s) => {
            let s = s.trim();
            if s == "preserve" {
                return Ok(Mode::Preserve);
            }
            if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
                return u32::from_str_radix(s, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .map(Mode::Octal)
                    .ok_or_else(|| format!("mode `{s}` is not an octal mode like 0644"));
            }
            if s.split(',').all(|clause| {
                let ops = clause.trim_start_matches(['u', 'g', 'o', 'a']);
                !ops.is_empty()
                    && ops.starts_with(['+', '-', '='])
                    && ops[1..].chars().all(|c| "rwxXst+-=ugo".contains(c))
            }) {
                return Ok(Mode::Symbolic(s.to_string()));
            }
            Err(format!(
                "mode `{s}` is neither octal (0644) nor symbolic (u=rw,g=r,o=r)"
            ))
        }
        other => Err(format!("mode must be a string like \"0644\", not {other}")),
    }
}

/// Applies a symbolic mode to an existing mode, as chmod does (`X` only for directories or
/// when some execute bit is set).
pub fn apply_symbolic(current: u32, spec: &str, is_dir: bool) -> Result<u32, String> {
    let mut mode = current & 0o7777;
    for clause in spec.split(',') {
        let who_end = clause
            .find(['+', '-', '='])
            .ok_or_else(|| format!("bad symbolic mode `{spec}`"))?;
        let who = &clause[..who_end];
        let mut mask = 0u32;
        if who.is_empty() || who.contains('a') {
            mask = 0o7777;
        }
        if who.contains('u') {
            mask |= 0o4700;
        }
        if who.contains('g') {
            mask |= 0o2070;
        }
        if who.contains('o') {
            mask |= 0o1007;
        }
        let mut rest = &clause[who_end..];
        while !rest.is_empty() {
            let op = rest.as_bytes()[0];
            let perm_end = rest[1..]
                .find(['+', '-', '='])
                .map(|i| i + 1)
                .unwrap_or(rest.len());
            let perms = &rest[1..perm_end];
            let mut bits = 0u32;
            for c in perms.chars() {
                bits |= match c {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    'X' if is_dir || mode & 0o111 != 0 => 0o111,
                    'X' => 0,
                    's' => 0o6000,
                    't' => 0o1000,
                    _ => return Err(format!("bad permission `{c}` in `{spec}`")),
                };
            }
            bits &= mask;
            match op {
                b'+' => mode |= bits,
                b'-' => mode &= !bits,
                _ => mode = (mode & !mask) | bits,
            }
            rest = &rest[perm_end..];
        }
    }
    Ok(mode)
}

/// A list argument given as a YAML list or a comma-separated string.
pub fn parse_list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Value::String(s) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        Value::Null => vec![],
        other => vec![other.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modes() {
        assert_eq!(parse_mode(&json!("0644")), Ok(Mode::Octal(0o644)));
        assert_eq!(parse_mode(&json!(420)), Ok(Mode::Octal(0o644)));
        assert_eq!(
            parse_mode(&json!("u=rw,g=r,o=r")),
            Ok(Mode::Symbolic("u=rw,g=r,o=r".into()))
        );
        assert!(parse_mode(&json!("0999")).is_err());
        assert!(parse_mode(&json!("rwx")).is_err());
        assert_eq!(apply_symbolic(0o600, "u=rw,g=r,o=r", false), Ok(0o644));
        assert_eq!(apply_symbolic(0o644, "u+x,g-r", false), Ok(0o704));
        assert_eq!(apply_symbolic(0o644, "a+X", true), Ok(0o755));
        assert_eq!(apply_symbolic(0o644, "a+X", false), Ok(0o644));
    }

    #[test]
    fn booleans_and_lists() {
        assert_eq!(parse_bool(&json!("yes")), Some(true));
        assert_eq!(parse_bool(&json!("Off")), Some(false));
        assert_eq!(parse_bool(&json!("maybe")), None);
        assert_eq!(parse_list(&json!("a, b,c")), vec!["a", "b", "c"]);
    }
}
