//! Ansible's YAML inventory format.
//!
//! ```yaml
//! all:
//!   vars: { ntp_server: ntp.example.com }
//!   hosts:
//!     mail.example.com:
//!   children:
//!     web:
//!       hosts:
//!         web[01:03].example.com: { ansible_user: deploy }
//!     prod:
//!       children:
//!         web:
//! ```
//! Any top-level key is a group; a group holds `hosts`, `vars` and `children`, each a mapping
//! or empty (`hosts` and `children` may also be a single name).

use std::path::Path;

use super::Inventory;
use crate::error::{Error, Result};
use crate::yaml::{Node, Value};

const GROUP_KEYS: [&str; 3] = ["hosts", "vars", "children"];

pub(super) fn parse(inv: &mut Inventory, root: &Node, file: &Path) -> Result<()> {
    let Some(pairs) = root.as_map() else {
        return Err(Error::at(
            root.loc(file),
            format!(
                "a YAML inventory must be a mapping of group names, found a {}",
                root.type_name()
            ),
        )
        .with_help(
            "start the file with `all:` and put `hosts:`, `vars:` and `children:` under it",
        ));
    };
    if let Some(p) = root.get("plugin") {
        return Err(Error::at(
            p.loc(file),
            "inventory plugin configuration files (`plugin:`) are not supported",
        )
        .with_help("list the hosts in a static YAML or INI inventory instead"));
    }
    for (key, data) in pairs {
        let name = group_name(key, file)?;
        parse_group(inv, &name, key, data, file, 0)?;
    }
    Ok(())
}

fn group_name(key: &Node, file: &Path) -> Result<String> {
    match key.scalar_text() {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(Error::at(
            key.loc(file),
            format!(
                "a group name must be a non-empty string, found a {}",
                key.type_name()
            ),
        )
        .with_help("group names are plain words such as `web` or `db_servers`")),
    }
}

fn parse_group(
    inv: &mut Inventory,
    name: &str,
    key: &Node,
    data: &Node,
    file: &Path,
    depth: usize,
) -> Result<()> {
    if depth > 200 {
        return Err(Error::at(key.loc(file), "groups are nested too deeply")
            .with_help("flatten the `children:` tree"));
    }
    inv.add_group(name);
    inv.declared.insert(name.to_string());
    let pairs = match &data.value {
        Value::Null => return Ok(()),
        Value::Map(pairs) => pairs,
        _ => {
            return Err(Error::at(
                data.loc(file),
                format!(
                    "group `{name}` must be a mapping with `hosts`, `vars` or `children`, found a {}",
                    data.type_name()
                ),
            )
            .with_help(format!(
                "write `{name}:` followed by an indented `hosts:` mapping (host names as keys), `vars:` or `children:`"
            )))
        }
    };
    for (k, v) in pairs {
        let section = k.as_str().unwrap_or_default();
        if !GROUP_KEYS.contains(&section) {
            let shown = k.scalar_text().unwrap_or_else(|| k.type_name().to_string());
            let hint = match suggest(&shown) {
                Some(s) => format!("did you mean `{s}`? A group may only hold `hosts`, `vars` and `children`"),
                None => "a group may only hold `hosts`, `vars` and `children`; to make a child group, put it under `children:`".into(),
            };
            return Err(Error::at(
                k.loc(file),
                format!("unknown key `{shown}` in group `{name}`"),
            )
            .with_help(hint));
        }
        match (section, &v.value) {
            (_, Value::Null) => {}
            ("hosts", Value::Str(host)) => add_host(inv, name, host, v, None, file)?,
            ("hosts", Value::Map(hosts)) => {
                for (hk, hv) in hosts {
                    let Some(pattern) = hk.scalar_text().filter(|s| !s.is_empty()) else {
                        return Err(Error::at(
                            hk.loc(file),
                            format!(
                                "a host name must be a non-empty string, found a {}",
                                hk.type_name()
                            ),
                        )
                        .with_help("write host names as keys under `hosts:`"));
                    };
                    add_host(inv, name, &pattern, hk, Some(hv), file)?;
                }
            }
            ("vars", Value::Map(vars)) => {
                for (vk, vv) in vars {
                    let var = var_name(vk, file)?;
                    inv.set_group_var(name, &var, vv.to_json(), &vv.loc(file))?;
                }
            }
            ("children", Value::Str(child)) => {
                let loc = v.loc(file);
                inv.add_group(child);
                inv.declared.insert(child.clone());
                inv.add_child(name, child, &loc)?;
            }
            ("children", Value::Map(children)) => {
                for (ck, cv) in children {
                    let child = group_name(ck, file)?;
                    // Linked before its own children are read, so that a cycle is reported
                    // where it closes.
                    inv.add_child(name, &child, &ck.loc(file))?;
                    parse_group(inv, &child, ck, cv, file, depth + 1)?;
                }
            }
            (section, _) => {
                let expected = if section == "vars" {
                    "a mapping of variable names to values"
                } else if section == "hosts" {
                    "a mapping with host names as keys"
                } else {
                    "a mapping with group names as keys"
                };
                let help = if section == "hosts" && matches!(v.value, Value::Seq(_)) {
                    "write each host as a key ending in `:` (`web1:`), not as a list item (`- web1`)"
                        .to_string()
                } else {
                    format!("indent the entries of `{section}:` as `name: value` pairs")
                };
                return Err(Error::at(
                    v.loc(file),
                    format!(
                        "`{section}` of group `{name}` must be {expected}, found a {}",
                        v.type_name()
                    ),
                )
                .with_help(help));
            }
        }
    }
    Ok(())
}

fn var_name(k: &Node, file: &Path) -> Result<String> {
    match k.scalar_text() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Error::at(
            k.loc(file),
            format!(
                "a variable name must be a non-empty string, found a {}",
                k.type_name()
            ),
        )
        .with_help("variable names are words such as `ansible_user` or `http_port`")),
    }
}

fn add_host(
    inv: &mut Inventory,
    group: &str,
    pattern: &str,
    at: &Node,
    vars: Option<&Node>,
    file: &Path,
) -> Result<()> {
    let loc = at.loc(file);
    let names = inv.expand_host_pattern(pattern, &loc)?;
    let pairs: &[(Node, Node)] = match vars.map(|v| &v.value) {
        None | Some(Value::Null) => &[],
        Some(Value::Map(p)) => p,
        Some(_) => {
            let v = vars.unwrap_or(at);
            return Err(Error::at(
                v.loc(file),
                format!(
                    "the variables of host `{pattern}` must be a mapping, found a {}",
                    v.type_name()
                ),
            )
            .with_help(format!(
                "write `{pattern}:` alone, or followed by indented `name: value` variables"
            )));
        }
    };
    for (name, port) in names {
        inv.add_host(&name, Some(group));
        if let Some(port) = port {
            inv.set_host_var(&name, "ansible_port", port, &loc)?;
        }
        for (vk, vv) in pairs {
            let var = var_name(vk, file)?;
            inv.set_host_var(&name, &var, vv.to_json(), &vv.loc(file))?;
        }
    }
    Ok(())
}

/// The allowed key closest to a misspelt one.
fn suggest(word: &str) -> Option<&'static str> {
    GROUP_KEYS
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
