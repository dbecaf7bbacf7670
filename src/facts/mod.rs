//! Fact gathering: what `ansible -m setup` reports, in one exec round trip per host.
//!
//! [`script`] is one POSIX `sh` program (dash, busybox ash, bash, macOS `/bin/sh`) that prints
//! sections, each opened by a marker line `@@muster:NAME@@`. [`parse`] turns that output into
//! the `ansible_facts` dict on the controller, with Ansible's names (without the `ansible_`
//! prefix) and value shapes. Parsing is pure and unit-tested against captured outputs in
//! `tests/data/facts/`. A missing command or file on the target never fails gathering: its
//! facts are absent or `"NA"`, as Ansible's are.

mod hardware;
mod network;
mod platform;
mod system;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::{Error, HostErrorKind, Result};
use crate::transport::{quote, Transport};

/// The `ansible_facts` dict.
pub type Facts = Map<String, Value>;

const SCRIPT: &str = include_str!("gather.sh");

/// The gathering script: a complete POSIX `sh` program, built from nothing but constants.
pub fn script() -> &'static str {
    SCRIPT
}

/// Runs the script once on the host and parses its output.
pub async fn gather(t: &dyn Transport) -> Result<Facts> {
    let cmd = quote::sh_c(script());
    let out = t.exec(&cmd, None).await?;
    if !out.success() {
        let err = out.stderr_str();
        let err = err.trim();
        // The end of stderr says what went wrong; keep the message to a line or few.
        let err = match err.char_indices().rev().nth(400) {
            Some((i, _)) => &err[i..],
            None => err,
        };
        return Err(Error::host(
            t.host(),
            HostErrorKind::Failed,
            format!(
                "gathering facts failed: the fact script exited with {}{}{}",
                out.rc(),
                if err.is_empty() { "" } else { ": " },
                err
            ),
        ));
    }
    parse(&out.stdout_str()).map_err(|e| {
        Error::host(
            t.host(),
            HostErrorKind::Failed,
            format!("gathering facts failed: {e}"),
        )
    })
}

/// Parses the script's output into the `ansible_facts` dict.
pub fn parse(stdout: &str) -> Result<Facts> {
    let s = Sections::split(stdout);
    if s.get("uname").trim().is_empty() {
        return Err(Error::input(
            "the fact script's output has no `uname` section (not a muster fact script output, or `uname` failed)",
        ));
    }
    let mut f = Facts::new();
    let p = platform::collect(&s, &mut f);
    system::collect(&s, &mut f);
    hardware::collect(&s, &p, &mut f);
    network::collect(&s, &mut f);
    Ok(f)
}

/// Ansible's INJECT_FACTS_AS_VARS: `ansible_facts` itself, and `ansible_X` for each fact X.
pub fn inject(vars: &mut Map<String, Value>, facts: Facts) {
    for (k, v) in &facts {
        vars.insert(format!("ansible_{k}"), v.clone());
    }
    vars.insert("ansible_facts".to_string(), Value::Object(facts));
}

/// The script's output cut at its marker lines.
pub(crate) struct Sections<'a> {
    map: HashMap<&'a str, String>,
}

impl<'a> Sections<'a> {
    pub(crate) fn split(stdout: &'a str) -> Self {
        let mut map: HashMap<&'a str, String> = HashMap::new();
        let mut current: Option<(&'a str, Vec<&'a str>)> = None;
        let finish = |cur: Option<(&'a str, Vec<&'a str>)>, map: &mut HashMap<&'a str, String>| {
            if let Some((name, mut lines)) = cur {
                // Each marker is printed after a newline of its own: drop that empty line.
                if lines.last() == Some(&"") {
                    lines.pop();
                }
                let mut text = lines.join("\n");
                if !lines.is_empty() {
                    text.push('\n');
                }
                map.insert(name, text);
            }
        };
        for line in stdout.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(name) = line
                .strip_prefix("@@muster:")
                .and_then(|r| r.strip_suffix("@@"))
            {
                finish(current.take(), &mut map);
                current = Some((name, Vec::new()));
            } else if let Some((_, lines)) = current.as_mut() {
                lines.push(line);
            }
        }
        finish(current.take(), &mut map);
        Sections { map }
    }

    /// The section's text ("" when absent).
    pub(crate) fn get(&self, name: &str) -> &str {
        self.map.get(name).map(String::as_str).unwrap_or("")
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The section's non-empty lines, trimmed at the end.
    pub(crate) fn lines(&self, name: &str) -> impl Iterator<Item = &str> {
        self.get(name)
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
    }
}

/// Facts other collectors depend on (Ansible's `collected_facts`).
pub(crate) struct Platform {
    pub system: String,
    pub architecture: String,
}

pub(crate) fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}
