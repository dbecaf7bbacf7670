//! Variables that come from outside a playbook: `-e` extra vars and `ansible.cfg`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Parses one `-e` argument: `@file` (YAML/JSON), JSON/YAML text (`{...}`), or `k=v k2=v2`.
pub fn parse_extra_vars(arg: &str) -> Result<Map<String, Value>> {
    let arg = arg.trim();
    if let Some(file) = arg.strip_prefix('@') {
        let path = Path::new(file.trim());
        if file.trim().is_empty() {
            return Err(Error::input("-e @: the file name after `@` is missing")
                .with_help("write `-e @vars.yml` (a YAML or JSON file of name: value pairs)"));
        }
        if !path.exists() {
            return Err(Error::input(format!(
                "-e @{file}: the extra vars file {} does not exist",
                path.display()
            ))
            .with_help("give the path of a YAML or JSON file, relative to the current directory"));
        }
        return match crate::yaml::parse_file(path)? {
            None => Ok(Map::new()),
            Some(n) => match n.to_json() {
                Value::Object(m) => Ok(m),
                _ => Err(Error::at(
                    n.loc(path),
                    format!(
                        "an extra vars file must be a mapping of names to values, not a {}",
                        n.type_name()
                    ),
                )
                .with_help("write one `name: value` a line")),
            },
        };
    }
    if arg.starts_with('{') || arg.starts_with("---") {
        let p = Path::new("<-e>");
        return match crate::yaml::parse_str(arg, p)? {
            None => Ok(Map::new()),
            Some(n) => match n.to_json() {
                Value::Object(m) => Ok(m),
                _ => Err(Error::Usage(format!("-e `{arg}`: expected a mapping"))),
            },
        };
    }
    crate::playbook::kv::parse_kv(arg, false, &[])
        .map_err(|w| Error::Usage(format!("-e: `{w}` is not NAME=VALUE, JSON, YAML or @file")))
}

/// The settings muster honours from Ansible's `ansible.cfg`.
#[derive(Debug, Clone, Default)]
pub struct AnsibleCfg {
    pub path: Option<PathBuf>,
    pub inventory: Vec<PathBuf>,
    pub roles_path: Vec<PathBuf>,
    pub remote_user: Option<String>,
    pub forks: Option<usize>,
    pub host_key_checking: Option<bool>,
    pub r#become: Option<bool>,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
}

/// Finds ansible.cfg as Ansible does: $ANSIBLE_CONFIG, ./ansible.cfg, ~/.ansible.cfg, /etc/ansible/ansible.cfg.
pub fn find_ansible_cfg() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("ANSIBLE_CONFIG") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Some(p);
        }
    }
    let mut c = vec![PathBuf::from("ansible.cfg")];
    if let Some(h) = dirs::home_dir() {
        c.push(h.join(".ansible.cfg"));
    }
    c.push(PathBuf::from("/etc/ansible/ansible.cfg"));
    c.into_iter().find(|p| p.is_file())
}

pub fn load_ansible_cfg(path: &Path) -> Result<AnsibleCfg> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut cfg = AnsibleCfg {
        path: Some(path.to_path_buf()),
        ..Default::default()
    };
    let mut section = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let at = |col: usize| crate::error::Location::new(path, i + 1, col);
        if line.starts_with('[') {
            if !line.ends_with(']') {
                return Err(Error::at(
                    at(raw.chars().count() + 1),
                    format!("section header `{line}` is missing its closing `]`"),
                )
                .with_help(
                    "a section header is written `[defaults]` or `[privilege_escalation]`",
                ));
            }
            section = line[1..line.len() - 1].trim().to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            return Err(Error::at(at(1), format!("expected `key = value`, found `{line}`"))
                .with_help("each line of ansible.cfg is a `[section]` header, a `key = value` setting or a `#` comment"));
        };
        // The column where the value starts (after the key, the separator and spaces).
        let start =
            raw.len() - raw.trim_start().len() + k.len() + 1 + (v.len() - v.trim_start().len());
        let vcol = raw.get(..start).map_or(1, |p| p.chars().count() + 1);
        let (k, v) = (k.trim(), v.trim().trim_matches('"'));
        let bool_of = |v: &str| -> Result<Option<bool>> {
            match crate::modules::args::parse_bool(&Value::String(v.into())) {
                Some(b) => Ok(Some(b)),
                None => Err(Error::at(
                    at(vcol),
                    format!("`{k}` must be a boolean (True/False, yes/no), not `{v}`"),
                )
                .with_help(format!("write `{k} = True` or `{k} = False`"))),
            }
        };
        let paths = |v: &str| -> Vec<PathBuf> {
            v.split(':')
                .filter(|s| !s.is_empty())
                .map(|p| {
                    let p = if let Some(rest) = p.strip_prefix("~/") {
                        dirs::home_dir()
                            .map(|h| h.join(rest))
                            .unwrap_or_else(|| PathBuf::from(p))
                    } else {
                        PathBuf::from(p)
                    };
                    if p.is_absolute() {
                        p
                    } else {
                        base.join(p)
                    }
                })
                .collect()
        };
        match (section.as_str(), k) {
            ("defaults", "inventory" | "hostfile") => {
                cfg.inventory = v.split(',').flat_map(|s| paths(s.trim())).collect()
            }
            ("defaults", "roles_path") => cfg.roles_path = paths(v),
            ("defaults", "remote_user") => cfg.remote_user = Some(v.to_string()),
            ("defaults", "forks") => {
                cfg.forks = match v.parse::<usize>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        return Err(Error::at(
                            at(vcol),
                            format!("`forks` must be a whole number, 1 or more, not `{v}`"),
                        )
                        .with_help("write e.g. `forks = 20`"))
                    }
                }
            }
            ("defaults", "host_key_checking") => cfg.host_key_checking = bool_of(v)?,
            ("privilege_escalation", "become") => cfg.r#become = bool_of(v)?,
            ("privilege_escalation", "become_user") => cfg.become_user = Some(v.to_string()),
            ("privilege_escalation", "become_method") => cfg.become_method = Some(v.to_string()),
            _ => {}
        }
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_vars_forms() {
        assert_eq!(parse_extra_vars("a=1 b='x y'").unwrap()["b"], "x y");
        assert_eq!(parse_extra_vars("{\"n\": 3, \"l\": [1]}").unwrap()["n"], 3);
        assert_eq!(parse_extra_vars("{flag: yes}").unwrap()["flag"], true);
        assert!(parse_extra_vars("justaword").is_err());
    }

    #[test]
    fn reads_ansible_cfg() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ansible.cfg");
        std::fs::write(&p, "[defaults]\ninventory = ./hosts.ini\nroles_path = roles:/opt/roles\nhost_key_checking = False\nforks=7\n[privilege_escalation]\nbecome = True\n").unwrap();
        let c = load_ansible_cfg(&p).unwrap();
        assert_eq!(c.inventory, vec![d.path().join("./hosts.ini")]);
        assert_eq!(
            c.roles_path,
            vec![d.path().join("roles"), PathBuf::from("/opt/roles")]
        );
        assert_eq!(c.host_key_checking, Some(false));
        assert_eq!(c.forks, Some(7));
        assert_eq!(c.r#become, Some(true));
    }
}
