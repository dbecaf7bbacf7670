//! Ansible's INI inventory format.
//!
//! ```ini
//! web1.example.com            # hosts before any section are ungrouped
//! [web]
//! web[01:03].example.com ansible_user=deploy http_port=8080
//! db1:2222                    # sets ansible_port
//! [web:vars]
//! ntp_server=ntp.example.com
//! [prod:children]
//! web
//! ```
//! Host lines are split like a POSIX shell (quotes, `#` comments); `key=value` values and
//! `[group:vars]` values are read as Python literals (see `pyliteral`).

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::{pyliteral, Inventory};
use crate::error::{Error, Location, Result};

static SECTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$").unwrap());
static GROUPNAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:[#;].*)?$").unwrap());

#[derive(Clone, Copy, PartialEq)]
enum State {
    Hosts,
    Vars,
    Children,
}

/// Parses one INI inventory file into `inv`.
pub(super) fn parse(inv: &mut Inventory, text: &str, file: &Path) -> Result<()> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut group = "ungrouped".to_string();
    let mut state = State::Hosts;
    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let indent = raw.chars().take_while(|c| c.is_whitespace()).count();
        let line = raw.trim();
        let at = |offset: usize| Location::new(file, lineno, indent + offset + 1);
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(m) = SECTION.captures(line) {
            let name = m.get(1).map(|g| g.as_str()).unwrap_or_default().to_string();
            let kind = m.get(2).map(|g| g.as_str()).unwrap_or("hosts");
            state = match kind {
                "hosts" => State::Hosts,
                "vars" => State::Vars,
                "children" => State::Children,
                other => {
                    return Err(Error::at(
                        at(name.chars().count() + 2),
                        format!("section [{name}:{other}] has an unknown type `{other}`"),
                    )
                    .with_help("a section is [group], [group:vars] or [group:children]"))
                }
            };
            inv.add_group(&name);
            if state == State::Vars {
                inv.vars_refs.push((name.clone(), at(1)));
            } else {
                inv.declared.insert(name.clone());
            }
            group = name;
            continue;
        }
        if line.starts_with('[') && !line.contains(']') {
            return Err(Error::at(
                at(line.chars().count()),
                format!("section header `{line}` is missing its closing `]`"),
            )
            .with_help("a section header is [group], [group:vars] or [group:children]"));
        }
        if line.starts_with('[') && line.ends_with(']') {
            return Err(Error::at(at(0), format!("invalid section header `{line}`"))
                .with_help("a section header is [group], [group:vars] or [group:children], with no spaces inside the brackets"));
        }
        match state {
            State::Hosts => host_line(inv, line, &group, file, lineno, indent)?,
            State::Vars => {
                let Some(eq) = line.find('=') else {
                    return Err(Error::at(at(0), format!("expected `key=value`, found `{line}`"))
                        .with_help(format!("lines under [{group}:vars] set group variables, one `key=value` a line")));
                };
                let key = line[..eq].trim();
                let raw_value = line[eq + 1..].trim();
                if key.is_empty() {
                    return Err(Error::at(at(0), "a variable needs a name before `=`")
                        .with_help("write `key=value`"));
                }
                let vcol = line[..eq + 1].chars().count()
                    + line[eq + 1..]
                        .chars()
                        .take_while(|c| c.is_whitespace())
                        .count();
                let value = pyliteral::parse_value(raw_value);
                inv.set_group_var(&group, key, value, &at(vcol))?;
            }
            State::Children => {
                let Some(m) = GROUPNAME.captures(line) else {
                    return Err(
                        Error::at(at(0), format!("expected a group name, found `{line}`"))
                            .with_help(format!(
                                "lines under [{group}:children] name child groups, one a line"
                            )),
                    );
                };
                let child = m.get(1).map(|g| g.as_str()).unwrap_or_default().to_string();
                let loc = at(0);
                inv.child_refs
                    .push((child.clone(), group.clone(), loc.clone()));
                inv.add_child(&group, &child, &loc)?;
            }
        }
    }
    Ok(())
}

/// `host[range][:port] [key=value ...]`
fn host_line(
    inv: &mut Inventory,
    line: &str,
    group: &str,
    file: &Path,
    lineno: usize,
    indent: usize,
) -> Result<()> {
    let at = |offset: usize| Location::new(file, lineno, indent + offset + 1);
    let tokens = shell_split(line).map_err(|(msg, off)| {
        Error::at(at(off), format!("cannot read this host line: {msg}"))
            .with_help("close the quote, or escape it with a backslash")
    })?;
    let Some((pattern, _)) = tokens.first() else {
        return Ok(());
    };
    let host_loc = at(0);
    let names = inv.expand_host_pattern(pattern, &host_loc)?;
    let mut vars = Vec::new();
    for (tok, off) in &tokens[1..] {
        let Some(eq) = tok.find('=') else {
            return Err(Error::at(
                at(*off),
                format!("expected a `key=value` host variable, found `{tok}`"),
            )
            .with_help("host variables are written `key=value` after the host name; quote values that contain spaces"));
        };
        let key = &tok[..eq];
        if key.is_empty() {
            return Err(
                Error::at(at(*off), "a host variable needs a name before `=`")
                    .with_help("write `key=value`"),
            );
        }
        let vloc = at(off + tok[..eq + 1].chars().count());
        vars.push((
            key.to_string(),
            pyliteral::parse_value(&tok[eq + 1..]),
            vloc,
        ));
    }
    for (name, port) in names {
        inv.add_host(&name, Some(group));
        if let Some(port) = port {
            inv.set_host_var(&name, "ansible_port", port, &host_loc)?;
        }
        for (k, v, loc) in &vars {
            inv.set_host_var(&name, k, v.clone(), loc)?;
        }
    }
    Ok(())
}

/// Splits like Python's `shlex.split(line, comments=True)`: whitespace separates words,
/// quotes group, a backslash escapes, `#` outside quotes ends the line. Each word comes with
/// the character offset where it starts. Errors carry a message and an offset.
pub(super) fn shell_split(
    line: &str,
) -> std::result::Result<Vec<(String, usize)>, (String, usize)> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() || chars[i] == '#' {
            break;
        }
        let start = i;
        let mut word = String::new();
        while i < chars.len() && !chars[i].is_whitespace() {
            match chars[i] {
                '#' => {
                    // a comment ends the word and the line
                    out.push((word, start));
                    return Ok(out);
                }
                '\'' => {
                    let open = i;
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err(("no closing quotation".into(), open)),
                            Some('\'') => break,
                            Some(c) => word.push(*c),
                        }
                        i += 1;
                    }
                    i += 1;
                }
                '"' => {
                    let open = i;
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err(("no closing quotation".into(), open)),
                            Some('"') => break,
                            Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                                word.push(chars[i + 1]);
                                i += 1;
                            }
                            Some(c) => word.push(*c),
                        }
                        i += 1;
                    }
                    i += 1;
                }
                '\\' => {
                    match chars.get(i + 1) {
                        None => return Err(("no escaped character after `\\`".into(), i)),
                        Some(c) => word.push(*c),
                    }
                    i += 2;
                }
                c => {
                    word.push(c);
                    i += 1;
                }
            }
        }
        out.push((word, start));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        let w = shell_split(r#"web1 a=1 b="x y" c='q "r"' d=e\ f # comment here"#).unwrap();
        let words: Vec<&str> = w.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(words, ["web1", "a=1", "b=x y", "c=q \"r\"", "d=e f"]);
        assert_eq!(w[1].1, 5);
        assert_eq!(w[2].1, 9);
        let w = shell_split("web1 a=b#c").unwrap();
        assert_eq!(w.last().unwrap().0, "a=b");
        assert!(shell_split("web1 a=\"open").is_err());
        assert!(shell_split("web1 a=\\").is_err());
    }
}
