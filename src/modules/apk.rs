//! `apk`: Alpine packages. The plan is one exec: `apk info -v` for what is installed and,
//! unless removing, `apk list NAME...` for what the repositories offer. Apply is one
//! `apk add` for everything to install or upgrade and one `apk del` for removals.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::args::{de_bool, parse_list};
use super::fileops::{build_args, de_opt_str};
use super::package::{apply_lists, plan_lists, ListBackend, Transaction};
use super::pkgparse::{
    names, parse_apk_info, parse_apk_list, pkg_change, sections, split_pin, PkgState,
};
use super::{Change, Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::Cmd;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApkArgs {
    #[serde(default)]
    pub name: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub update_cache: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub available: bool,
    #[serde(default)]
    pub repository: Option<Value>,
    #[serde(default, deserialize_with = "de_bool")]
    pub no_cache: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub allow_untrusted: bool,
}

pub const APK_ARGS: &[&str] = &[
    "name",
    "state",
    "update_cache",
    "available",
    "repository",
    "no_cache",
    "allow_untrusted",
];

pub struct Apk {
    a: ApkArgs,
    specs: Vec<String>,
    state: PkgState,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: ApkArgs = build_args("apk", args)?;
    let specs = names(&a.name);
    let state = PkgState::parse("apk", a.state.as_deref())?;
    if specs.is_empty() && !a.update_cache {
        return Err("apk: one of the following is required: name, update_cache".into());
    }
    if specs.iter().any(|s| s == "*") && (specs.len() != 1 || state != PkgState::Latest) {
        return Err(
            "apk: name '*' is only supported alone and with state=latest (upgrade everything)"
                .into(),
        );
    }
    for s in &specs {
        if s.starts_with('-') || s.contains(char::is_whitespace) {
            return Err(format!("apk: `{s}` is not a package name"));
        }
    }
    Ok(Box::new(Apk { a, specs, state }))
}

impl Apk {
    fn repo_args(&self, mut c: Cmd) -> Cmd {
        for r in self
            .a
            .repository
            .as_ref()
            .map(parse_list)
            .unwrap_or_default()
        {
            c = c.arg("--repository").arg(&r);
        }
        c
    }

    /// `name: '*'` with `state: latest`: `apk upgrade`.
    fn upgrade_all(&self) -> bool {
        self.specs.len() == 1 && self.specs[0] == "*"
    }

    fn probe_script(&self) -> String {
        if self.upgrade_all() {
            let c = self.repo_args(Cmd::new("apk").arg("list").arg("--upgradable"));
            return format!(
                "LC_ALL=C; export LC_ALL\necho @@list; {} 2>/dev/null\ntrue\n",
                c.into_string()
            );
        }
        let mut s =
            String::from("LC_ALL=C; export LC_ALL\necho @@installed; apk info -v 2>/dev/null\n");
        if self.state != PkgState::Absent {
            let names: Vec<String> = self.specs.iter().map(|s| split_pin(s).0).collect();
            let c = self.repo_args(Cmd::new("apk").arg("list")).args(&names);
            s.push_str(&format!("echo @@list; {} 2>/dev/null\n", c.into_string()));
        }
        s.push_str("true\n");
        s
    }

    /// The changes and the packages to add and to delete, from the probe's output.
    fn decide(&self, out: &str) -> std::result::Result<(Vec<Change>, Vec<Vec<String>>), String> {
        let secs = sections(out);
        let installed = parse_apk_info(secs.get("installed").map(String::as_str).unwrap_or(""));
        let list = parse_apk_list(secs.get("list").map(String::as_str).unwrap_or(""));
        let mut changes = Vec::new();
        let (mut add, mut del) = (vec![], vec![]);
        if self.upgrade_all() {
            for r in list.iter().filter(|r| r.upgradable_from.is_some()) {
                changes.push(pkg_change(
                    &r.name,
                    r.upgradable_from.clone(),
                    Some(r.version.clone()),
                ));
                add = vec!["*".to_string()];
            }
            return Ok((changes, vec![add, del]));
        }
        for spec in &self.specs {
            let (name, pin) = split_pin(spec);
            let cur = installed
                .iter()
                .find(|p| p.name == name)
                .map(|p| format!("{}-{}", p.version, p.release.clone().unwrap_or_default()));
            match self.state {
                PkgState::Absent => {
                    if cur.is_some() {
                        changes.push(pkg_change(&name, cur, None));
                        del.push(name);
                    }
                }
                _ => {
                    let upgrade = list
                        .iter()
                        .find(|r| r.name == name && r.upgradable_from.is_some())
                        .map(|r| r.version.clone());
                    let cand = upgrade.clone().or_else(|| {
                        list.iter()
                            .find(|r| r.name == name)
                            .map(|r| r.version.clone())
                    });
                    let target = match (&pin, &cur) {
                        (Some(p), Some(c)) if p == c => None,
                        (Some(p), _) => Some(p.clone()),
                        (None, Some(_)) if self.state == PkgState::Latest => upgrade,
                        (None, Some(_)) => None,
                        (None, None) => Some(match cand {
                            Some(c) => c,
                            None if self.a.update_cache => {
                                "(the latest after the index update)".into()
                            }
                            None => {
                                return Err(format!(
                                    "failed to install {name}: ERROR: unable to select packages: {name} (no such package)"
                                ))
                            }
                        }),
                    };
                    if let Some(t) = target {
                        changes.push(pkg_change(&name, cur, Some(t)));
                        add.push(spec.clone());
                    }
                }
            }
        }
        Ok((changes, vec![add, del]))
    }

    fn transactions(&self, lists: &[Vec<String>]) -> Vec<Transaction> {
        let a = &self.a;
        let mut out = Vec::new();
        if let Some(add) = lists.first().filter(|l| !l.is_empty()) {
            let upgrade = add.as_slice() == ["*"];
            let mut c = Cmd::new("apk").arg(if upgrade { "upgrade" } else { "add" });
            if a.update_cache {
                c = c.arg("--update-cache");
            }
            if a.no_cache {
                c = c.arg("--no-cache");
            }
            if a.allow_untrusted {
                c = c.arg("--allow-untrusted");
            }
            if self.state == PkgState::Latest && !upgrade {
                c = c.arg("--upgrade");
            }
            if a.available {
                c = c.arg("--available");
            }
            c = self.repo_args(c);
            if !upgrade {
                c = c.args(add);
            }
            out.push(Transaction {
                what: "add".into(),
                cmd: c.into_string(),
            });
        }
        if let Some(del) = lists.get(1).filter(|l| !l.is_empty()) {
            out.push(Transaction {
                what: "del".into(),
                cmd: self
                    .repo_args(Cmd::new("apk").arg("del"))
                    .args(del)
                    .into_string(),
            });
        }
        out
    }
}

impl ListBackend for Apk {
    fn has_specs(&self) -> bool {
        !self.specs.is_empty()
    }
    fn probe_script(&self) -> String {
        Apk::probe_script(self)
    }
    fn decide(&self, out: &str) -> std::result::Result<(Vec<Change>, Vec<Vec<String>>), String> {
        Apk::decide(self, out)
    }
    fn transactions(&self, lists: &[Vec<String>]) -> Vec<Transaction> {
        Apk::transactions(self, lists)
    }
}

#[async_trait]
impl Module for Apk {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        plan_lists(self, ctx).await
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        apply_lists(self, ctx, plan).await
    }
}

pub static APK: super::ModuleDef = super::ModuleDef {
    name: "apk",
    args: APK_ARGS,
    free_form: false,
    build,
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apk(v: Value) -> Apk {
        let a: ApkArgs = build_args("apk", v.as_object().unwrap()).unwrap();
        let specs = names(&a.name);
        let state = PkgState::parse("apk", a.state.as_deref()).unwrap();
        Apk { a, specs, state }
    }

    const OUT: &str = "@@installed\nbusybox-1.36.1-r29\nlibssl3-3.3.1-r3\n@@list\nlibssl3-3.3.2-r0 x86_64 {openssl} (Apache-2.0) [upgradable from: libssl3-3.3.1-r3]\nnginx-1.26.2-r0 x86_64 {nginx} (BSD-2-Clause)\nbusybox-1.36.1-r29 x86_64 {busybox} (GPL-2.0-only) [installed]\n";

    #[test]
    fn plans_and_commands() {
        let m = apk(json!({"name": ["busybox", "nginx", "libssl3"]}));
        let (c, l) = m.decide(OUT).unwrap();
        assert_eq!(c, vec![pkg_change("nginx", None, Some("1.26.2-r0".into()))]);
        assert_eq!(m.transactions(&l)[0].cmd, "apk add nginx");
        let m = apk(json!({"name": "busybox,libssl3", "state": "latest", "update_cache": true}));
        let (c, l) = m.decide(OUT).unwrap();
        assert_eq!(
            c,
            vec![pkg_change(
                "libssl3",
                Some("3.3.1-r3".into()),
                Some("3.3.2-r0".into())
            )]
        );
        assert_eq!(
            m.transactions(&l)[0].cmd,
            "apk add --update-cache --upgrade libssl3"
        );
        let m = apk(json!({"name": "busybox,nginx", "state": "absent"}));
        let (c, l) = m.decide(OUT).unwrap();
        assert_eq!(
            c,
            vec![pkg_change("busybox", Some("1.36.1-r29".into()), None)]
        );
        assert_eq!(m.transactions(&l)[0].cmd, "apk del busybox");
        let m = apk(json!({"name": "busybox=1.36.1-r29"}));
        assert!(m.decide(OUT).unwrap().0.is_empty());
        assert!(apk(json!({"name": "nosuch"})).decide(OUT).is_err());
        assert!(m.probe_script().contains("apk list busybox"));
        let m = apk(json!({"name": "*", "state": "latest"}));
        assert!(m.probe_script().contains("apk list --upgradable"));
        let (c, l) = m.decide(OUT).unwrap();
        assert_eq!(
            c,
            vec![pkg_change(
                "libssl3",
                Some("3.3.1-r3".into()),
                Some("3.3.2-r0".into())
            )]
        );
        assert_eq!(m.transactions(&l)[0].cmd, "apk upgrade");
        assert!(build(json!({"name": "*"}).as_object().unwrap()).is_err());
        assert!(build(json!({"name": "x", "purge": true}).as_object().unwrap()).is_err());
    }
}
