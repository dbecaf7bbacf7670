//! `package_facts`: the installed packages as facts, in Ansible's shape
//! `ansible_facts.packages = {name: [{name, version, release, epoch, arch, source}]}`, from
//! dpkg (apt), rpm or apk. Read-only: the plan is always in sync and carries the facts in its
//! result. One exec, whatever managers are asked about.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::parse_list;
use super::fileops::{build_args, fail};
use super::pkgparse::{parse_apk_info, parse_dpkg_query, parse_rpm_qa, sections, PkgInfo};
use super::{Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::{sh_c, Cmd};

/// The dpkg-query format every package module reads installed Debian packages with.
pub const DPKG_FORMAT: &str =
    "-f=${Package}\\t${Version}\\t${Architecture}\\t${db:Status-Abbrev}\\n";
/// The rpm query format every package module reads installed rpm packages with.
pub const RPM_FORMAT: &str = "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageFactsArgs {
    #[serde(default)]
    pub manager: Option<Value>,
    #[serde(default)]
    pub strategy: Option<String>,
}

pub const PACKAGE_FACTS_ARGS: &[&str] = &["manager", "strategy"];

/// The managers this module reads, in the order `auto` tries them, with the tool that must
/// exist and the command that lists what is installed.
const MANAGERS: &[&str] = &["apt", "rpm", "apk"];

fn list_cmd(mgr: &str) -> (&'static str, String) {
    match mgr {
        "apt" => (
            "dpkg-query",
            Cmd::new("dpkg-query")
                .arg("-W")
                .arg(DPKG_FORMAT)
                .into_string(),
        ),
        "rpm" => (
            "rpm",
            Cmd::new("rpm")
                .arg("-qa")
                .arg("--qf")
                .arg(RPM_FORMAT)
                .into_string(),
        ),
        _ => ("apk", Cmd::new("apk").arg("info").arg("-v").into_string()),
    }
}

pub struct PackageFacts {
    managers: Vec<String>,
    all: bool,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: PackageFactsArgs = build_args("package_facts", args)?;
    let mut managers = a.manager.as_ref().map(parse_list).unwrap_or_default();
    if managers.is_empty() {
        managers.push("auto".into());
    }
    for m in &managers {
        if m != "auto" && !MANAGERS.contains(&m.as_str()) {
            return Err(format!(
                "package_facts: manager `{m}` is not one of auto, apt, rpm, apk"
            ));
        }
    }
    if managers.iter().any(|m| m == "auto") {
        managers = MANAGERS.iter().map(|s| s.to_string()).collect();
    }
    let all = match a.strategy.as_deref().unwrap_or("first") {
        "first" => false,
        "all" => true,
        other => {
            return Err(format!(
                "package_facts: strategy must be one of first, all, got: {other}"
            ))
        }
    };
    Ok(Box::new(PackageFacts { managers, all }))
}

/// The one probe: for each manager whose tool exists, `@@NAME` then its listing.
pub fn script(managers: &[String], all: bool) -> String {
    let mut s = String::from("LC_ALL=C; export LC_ALL\n");
    for m in managers {
        let (tool, cmd) = list_cmd(m);
        s.push_str(&format!(
            "if command -v {tool} >/dev/null 2>&1; then echo @@{m}; {cmd} 2>/dev/null;{} fi\n",
            if all { "" } else { " exit 0;" }
        ));
    }
    s
}

/// Parses the probe into Ansible's `packages` fact (first manager first within a name).
pub fn parse(text: &str) -> (Map<String, Value>, Vec<String>) {
    let secs = sections(text);
    let mut found = Vec::new();
    let mut packages: Map<String, Value> = Map::new();
    for m in MANAGERS {
        let Some(body) = secs.get(*m) else { continue };
        found.push(m.to_string());
        let infos: Vec<PkgInfo> = match *m {
            "apt" => parse_dpkg_query(body)
                .into_iter()
                .filter(|r| r.installed())
                .map(|r| r.info())
                .collect(),
            "rpm" => parse_rpm_qa(body),
            _ => parse_apk_info(body),
        };
        for i in infos {
            if let Value::Array(a) = packages
                .entry(i.name.clone())
                .or_insert_with(|| Value::Array(vec![]))
            {
                a.push(i.to_json());
            }
        }
    }
    (packages, found)
}

#[async_trait]
impl Module for PackageFacts {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let out = ctx
            .transport
            .exec(&sh_c(&script(&self.managers, self.all)), None)
            .await?;
        let (packages, found) = parse(&out.stdout_str());
        if found.is_empty() {
            return Err(fail(
                ctx,
                format!(
                    "Could not detect a supported package manager from the following list: {:?}, or the required Python library is not installed. (looked for: dpkg-query, rpm, apk)",
                    self.managers
                ),
            ));
        }
        let mut result = Map::new();
        result.insert("ansible_facts".into(), json!({ "packages": packages }));
        Ok(Plan {
            result,
            ..Plan::default()
        })
    }

    async fn apply(&self, _ctx: &ModuleCtx<'_>, _plan: &Plan) -> Result<Map<String, Value>> {
        Ok(Map::new())
    }
}

pub static PACKAGE_FACTS: super::ModuleDef = super::ModuleDef {
    name: "package_facts",
    args: PACKAGE_FACTS_ARGS,
    free_form: false,
    build,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_script_and_parse() {
        let s = script(&["apt".into(), "rpm".into(), "apk".into()], false);
        assert!(s.contains("dpkg-query -W '-f=${Package}\\t${Version}\\t${Architecture}\\t${db:Status-Abbrev}\\n'"), "{s}");
        assert!(s.contains("rpm -qa --qf '%{NAME}\\t%{EPOCHNUM}"), "{s}");
        assert!(s.contains("exit 0"));
        assert!(!script(&["apt".into()], true).contains("exit 0"));
        let text =
            "@@apt\nbash\t5.2.15-2+b8\tamd64\tii \nold\t1.0\tall\trc \n@@apk\nbusybox-1.36.1-r29\n";
        let (p, found) = parse(text);
        assert_eq!(found, vec!["apt", "apk"]);
        assert_eq!(
            p["bash"],
            json!([{"name": "bash", "version": "5.2.15", "release": "2+b8", "epoch": null, "arch": "amd64", "source": "apt"}])
        );
        assert!(!p.contains_key("old"));
        assert_eq!(p["busybox"][0]["source"], "apk");
    }

    #[test]
    fn arguments() {
        let b = |v: Value| build(v.as_object().unwrap());
        assert!(b(json!({"manager": "auto"})).is_ok());
        assert!(b(json!({"manager": ["apt", "rpm"], "strategy": "all"})).is_ok());
        assert!(b(json!({"manager": "pacman"})).is_err());
        assert!(b(json!({"strategy": "some"})).is_err());
        assert!(b(json!({"bogus": 1})).is_err());
    }
}
