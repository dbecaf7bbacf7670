//! `dnf` (and `yum`, the same module driving the `yum` command): RHEL/Fedora packages. The
//! plan is one exec: `rpm -q` for what is installed and, unless removing, `dnf list
//! --available` for what the repositories offer; it lists each package that changes and to
//! which version. Apply is one transaction per kind: install, upgrade, remove.

use std::cmp::Ordering;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::args::{de_bool, de_opt_bool, parse_list};
use super::fileops::{build_args, de_opt_str};
use super::package::{apply_lists, plan_lists, ListBackend, Transaction};
use super::package_facts::RPM_FORMAT;
use super::pkgparse::{
    evr_cmp, names, parse_dnf_list, parse_rpm_qa, pkg_change, sections, PkgState,
};
use super::{Change, Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::Cmd;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnfArgs {
    #[serde(default, alias = "pkg")]
    pub name: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub state: Option<String>,
    #[serde(default, alias = "expire-cache", deserialize_with = "de_bool")]
    pub update_cache: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub disable_gpg_check: bool,
    #[serde(default)]
    pub enablerepo: Option<Value>,
    #[serde(default)]
    pub disablerepo: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub conf_file: Option<String>,
    #[serde(default)]
    pub exclude: Option<Value>,
    #[serde(default, deserialize_with = "de_bool")]
    pub allowerasing: bool,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub install_weak_deps: Option<bool>,
    #[serde(default, deserialize_with = "de_bool")]
    pub skip_broken: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub releasever: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub nobest: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub security: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub bugfix: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub installroot: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub update_only: bool,
    /// Accepted for compatibility: dnf waits for its lock itself.
    #[serde(default)]
    pub lock_timeout: Option<Value>,
}

pub const DNF_ARGS: &[&str] = &[
    "name",
    "pkg",
    "state",
    "update_cache",
    "expire-cache",
    "disable_gpg_check",
    "enablerepo",
    "disablerepo",
    "conf_file",
    "exclude",
    "allowerasing",
    "install_weak_deps",
    "skip_broken",
    "releasever",
    "nobest",
    "security",
    "bugfix",
    "installroot",
    "update_only",
    "lock_timeout",
];

pub struct Dnf {
    tool: &'static str,
    a: DnfArgs,
    specs: Vec<String>,
    state: PkgState,
}

fn build_with(
    tool: &'static str,
    args: &Map<String, Value>,
) -> std::result::Result<Box<dyn Module>, String> {
    let a: DnfArgs = build_args(tool, args)?;
    let specs = names(&a.name);
    let state = PkgState::parse(tool, a.state.as_deref())?;
    if specs.is_empty() && !a.update_cache {
        return Err(format!(
            "{tool}: one of the following is required: name, update_cache"
        ));
    }
    if specs.iter().any(|s| s == "*") && (specs.len() != 1 || state != PkgState::Latest) {
        return Err(format!(
            "{tool}: name '*' is only supported alone and with state=latest (upgrade everything)"
        ));
    }
    for s in &specs {
        if s.starts_with('@') || s.starts_with('-') || s.contains(char::is_whitespace) {
            return Err(format!(
                "{tool}: `{s}`: only package names (name, name.arch, name-version) are supported"
            ));
        }
    }
    Ok(Box::new(Dnf {
        tool,
        a,
        specs,
        state,
    }))
}

pub fn build_dnf(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    build_with("dnf", args)
}

pub fn build_yum(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    build_with("yum", args)
}

impl Dnf {
    /// `dnf` with the repository options every command shares.
    fn base(&self) -> Cmd {
        let a = &self.a;
        let mut c = Cmd::new(self.tool);
        for r in a.disablerepo.as_ref().map(parse_list).unwrap_or_default() {
            c = c.arg(&format!("--disablerepo={r}"));
        }
        for r in a.enablerepo.as_ref().map(parse_list).unwrap_or_default() {
            c = c.arg(&format!("--enablerepo={r}"));
        }
        if let Some(f) = &a.conf_file {
            c = c.arg(&format!("--config={f}"));
        }
        if let Some(r) = &a.installroot {
            c = c.arg(&format!("--installroot={r}"));
        }
        if let Some(r) = &a.releasever {
            c = c.arg(&format!("--releasever={r}"));
        }
        for e in a.exclude.as_ref().map(parse_list).unwrap_or_default() {
            c = c.arg(&format!("--exclude={e}"));
        }
        c
    }

    /// `name: '*'` with `state: latest`: upgrade every installed package.
    fn upgrade_all(&self) -> bool {
        self.specs.len() == 1 && self.specs[0] == "*"
    }

    fn probe_script(&self) -> String {
        let mut s = String::from("LC_ALL=C; export LC_ALL\n");
        if self.upgrade_all() {
            let rpm = Cmd::new("rpm").arg("-qa").arg("--qf").arg(RPM_FORMAT);
            let list = self.base().arg("-q").arg("list").arg("--upgrades");
            s.push_str(&format!(
                "echo @@rpm; {} 2>&1\necho @@avail; {} 2>/dev/null\ntrue\n",
                rpm.into_string(),
                list.into_string()
            ));
            return s;
        }
        let rpm = Cmd::new("rpm")
            .arg("-q")
            .arg("--qf")
            .arg(RPM_FORMAT)
            .arg("--")
            .args(&self.specs);
        s.push_str(&format!("echo @@rpm; {} 2>&1\n", rpm.into_string()));
        if self.state != PkgState::Absent && !self.specs.is_empty() {
            let list = self
                .base()
                .arg("-q")
                .arg("list")
                .arg("--available")
                .args(&self.specs);
            s.push_str(&format!(
                "echo @@avail; {} 2>/dev/null\n",
                list.into_string()
            ));
        }
        s.push_str("true\n");
        s
    }

    /// The changes and the transactions (install, upgrade, remove) from the probe's output.
    fn decide(&self, out: &str) -> std::result::Result<(Vec<Change>, Vec<Vec<String>>), String> {
        let secs = sections(out);
        let rpm_text = secs.get("rpm").cloned().unwrap_or_default();
        let installed = parse_rpm_qa(&rpm_text);
        let avail = parse_dnf_list(secs.get("avail").map(String::as_str).unwrap_or(""));
        let evr = |p: &super::pkgparse::PkgInfo| match p.epoch {
            Some(e) => format!(
                "{e}:{}-{}",
                p.version,
                p.release.clone().unwrap_or_default()
            ),
            None => format!("{}-{}", p.version, p.release.clone().unwrap_or_default()),
        };
        let mut changes = Vec::new();
        let (mut install, mut upgrade, mut remove) = (vec![], vec![], vec![]);
        if self.upgrade_all() {
            for (name, arch, v) in &avail {
                let cur = installed
                    .iter()
                    .filter(|p| p.name == *name && p.arch.as_deref().unwrap_or("") == arch)
                    .map(evr)
                    .max_by(|a, b| evr_cmp(a, b));
                if cur
                    .as_ref()
                    .is_some_and(|c| evr_cmp(v, c) != Ordering::Greater)
                {
                    continue;
                }
                changes.push(pkg_change(&format!("{name}.{arch}"), cur, Some(v.clone())));
                upgrade = vec!["*".to_string()];
            }
            return Ok((changes, vec![install, upgrade, remove]));
        }
        for spec in &self.specs {
            let not_installed = rpm_text
                .lines()
                .any(|l| l.trim() == format!("package {spec} is not installed"));
            let matches = |name: &str, arch: &str| {
                spec == name
                    || *spec == format!("{name}.{arch}")
                    || (spec.starts_with(&format!("{name}-"))
                        && spec[name.len() + 1..].starts_with(|c: char| c.is_ascii_digit()))
            };
            let cur = if not_installed {
                None
            } else {
                installed
                    .iter()
                    .filter(|p| matches(&p.name, p.arch.as_deref().unwrap_or("")))
                    .map(evr)
                    .max_by(|a, b| evr_cmp(a, b))
            };
            let best = avail
                .iter()
                .filter(|(n, a, _)| matches(n, a))
                .map(|(_, _, v)| v.clone())
                .max_by(|a, b| evr_cmp(a, b));
            match self.state {
                PkgState::Absent => {
                    if cur.is_some() {
                        changes.push(pkg_change(spec, cur, None));
                        remove.push(spec.clone());
                    }
                }
                _ if cur.is_none() => {
                    if self.a.update_only {
                        continue;
                    }
                    let after = match best {
                        Some(b) => b,
                        None if self.a.update_cache => {
                            "(the latest after the metadata refresh)".into()
                        }
                        None => {
                            return Err(format!(
                                "No package matching '{spec}' found available, installed or updated"
                            ))
                        }
                    };
                    changes.push(pkg_change(spec, None, Some(after)));
                    install.push(spec.clone());
                }
                PkgState::Latest => {
                    if let (Some(c), Some(b)) = (&cur, &best) {
                        if evr_cmp(b, c) == Ordering::Greater {
                            changes.push(pkg_change(spec, cur.clone(), Some(b.clone())));
                            upgrade.push(spec.clone());
                        }
                    }
                }
                PkgState::Present => {}
            }
        }
        Ok((changes, vec![install, upgrade, remove]))
    }

    fn transactions(&self, lists: &[Vec<String>]) -> Vec<Transaction> {
        let a = &self.a;
        let mut out = Vec::new();
        for (i, verb) in ["install", "upgrade", "remove"].iter().enumerate() {
            let Some(pkgs) = lists.get(i).filter(|l| !l.is_empty()) else {
                continue;
            };
            let mut c = self.base().arg("-y");
            if i < 2 {
                if a.update_cache {
                    c = c.arg("--refresh");
                }
                if a.disable_gpg_check {
                    c = c.arg("--nogpgcheck");
                }
                if a.allowerasing {
                    c = c.arg("--allowerasing");
                }
                if a.skip_broken {
                    c = c.arg("--skip-broken");
                }
                if a.nobest {
                    c = c.arg("--nobest");
                }
                if a.security {
                    c = c.arg("--security");
                }
                if a.bugfix {
                    c = c.arg("--bugfix");
                }
                if let Some(w) = a.install_weak_deps {
                    c = c.arg(&format!(
                        "--setopt=install_weak_deps={}",
                        if w { "True" } else { "False" }
                    ));
                }
            }
            c = c.arg(verb);
            if pkgs.as_slice() != ["*"] {
                c = c.args(pkgs);
            }
            out.push(Transaction {
                what: verb.to_string(),
                cmd: format!("LC_ALL=C {}", c.into_string()),
            });
        }
        out
    }
}

impl ListBackend for Dnf {
    fn has_specs(&self) -> bool {
        !self.specs.is_empty()
    }
    fn probe_script(&self) -> String {
        Dnf::probe_script(self)
    }
    fn decide(&self, out: &str) -> std::result::Result<(Vec<Change>, Vec<Vec<String>>), String> {
        Dnf::decide(self, out)
    }
    fn transactions(&self, lists: &[Vec<String>]) -> Vec<Transaction> {
        Dnf::transactions(self, lists)
    }
}

#[async_trait]
impl Module for Dnf {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        plan_lists(self, ctx).await
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        apply_lists(self, ctx, plan).await
    }
}

pub static DNF: super::ModuleDef = super::ModuleDef {
    name: "dnf",
    args: DNF_ARGS,
    free_form: false,
    build: build_dnf,
};

pub static YUM: super::ModuleDef = super::ModuleDef {
    name: "yum",
    args: DNF_ARGS,
    free_form: false,
    build: build_yum,
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dnf(v: Value) -> Dnf {
        let a: DnfArgs = build_args("dnf", v.as_object().unwrap()).unwrap();
        let specs = names(&a.name);
        let state = PkgState::parse("dnf", a.state.as_deref()).unwrap();
        Dnf {
            tool: "dnf",
            a,
            specs,
            state,
        }
    }

    const OUT: &str = "@@rpm\nopenssl\t1\t3.0.7\t27.el9\tx86_64\npackage nginx is not installed\nbash\t0\t5.1.8\t9.el9\tx86_64\n@@avail\nAvailable Packages\nnginx.x86_64      2:1.20.1-14.el9_2.1      appstream\nopenssl.x86_64    1:3.0.7-28.el9_4         baseos\nbash.x86_64       5.1.8-9.el9              baseos\n";

    #[test]
    fn plans() {
        let m = dnf(json!({"name": ["openssl", "nginx", "bash"]}));
        let (c, l) = m.decide(OUT).unwrap();
        assert_eq!(
            c,
            vec![pkg_change(
                "nginx",
                None,
                Some("2:1.20.1-14.el9_2.1".into())
            )]
        );
        assert_eq!(l[0], vec!["nginx"]);
        let m = dnf(json!({"name": "openssl,bash", "state": "latest"}));
        let (c, l) = m.decide(OUT).unwrap();
        assert_eq!(
            c,
            vec![pkg_change(
                "openssl",
                Some("1:3.0.7-27.el9".into()),
                Some("1:3.0.7-28.el9_4".into())
            )]
        );
        assert_eq!(l[1], vec!["openssl"]);
        let m = dnf(json!({"name": "openssl,nginx", "state": "removed"}));
        let (c, l) = m.decide(OUT).unwrap();
        assert_eq!(
            c,
            vec![pkg_change("openssl", Some("1:3.0.7-27.el9".into()), None)]
        );
        assert_eq!(l[2], vec!["openssl"]);
        let m = dnf(json!({"name": "nosuch"}));
        let e = m
            .decide("@@rpm\npackage nosuch is not installed\n@@avail\n")
            .unwrap_err();
        assert!(e.contains("No package matching 'nosuch'"), "{e}");
    }

    #[test]
    fn upgrade_everything() {
        let m = dnf(json!({"name": "*", "state": "latest"}));
        assert!(m.probe_script().contains("dnf -q list --upgrades"));
        let out = "@@rpm\nopenssl\t1\t3.0.7\t27.el9\tx86_64\nbash\t0\t5.1.8\t9.el9\tx86_64\n@@avail\nAvailable Upgrades\nopenssl.x86_64    1:3.0.7-28.el9_4    baseos\n";
        let (c, l) = m.decide(out).unwrap();
        assert_eq!(
            c,
            vec![pkg_change(
                "openssl.x86_64",
                Some("1:3.0.7-27.el9".into()),
                Some("1:3.0.7-28.el9_4".into())
            )]
        );
        assert_eq!(m.transactions(&l)[0].cmd, "LC_ALL=C dnf -y upgrade");
        assert!(build_dnf(json!({"name": "*"}).as_object().unwrap()).is_err());
    }

    #[test]
    fn command_lines() {
        let m = dnf(
            json!({"name": "nginx", "enablerepo": "epel", "disable_gpg_check": true, "update_cache": true}),
        );
        let t = m.transactions(&[vec!["nginx".into()], vec![], vec!["telnet".into()]]);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0].cmd,
            "LC_ALL=C dnf --enablerepo=epel -y --refresh --nogpgcheck install nginx"
        );
        assert_eq!(t[1].cmd, "LC_ALL=C dnf --enablerepo=epel -y remove telnet");
        let s = m.probe_script();
        assert!(s.contains("rpm -q --qf '%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n' -- nginx"), "{s}");
        assert!(
            s.contains("dnf --enablerepo=epel -q list --available nginx"),
            "{s}"
        );
        assert!(build_dnf(json!({"name": "x", "purge": true}).as_object().unwrap()).is_err());
        assert!(build_yum(json!({"name": "@core"}).as_object().unwrap()).is_err());
    }
}
