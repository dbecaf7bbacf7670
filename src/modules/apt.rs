//! `apt`: Debian/Ubuntu packages. The plan is one exec that reads the cache age, a `.deb`'s
//! control fields, the installed state of every named package (dpkg-query), their candidate
//! versions (apt-cache policy) and, with `autoremove`, what apt would autoremove; it lists
//! exactly which packages change and to which version. Apply is one `apt-get install`
//! transaction for everything to install and one `apt-get remove` for everything to remove.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::{de_bool, de_opt_bool};
use super::fileops::{build_args, de_opt_str, fail};
use super::package::{run_transactions, Transaction};
use super::package_facts::DPKG_FORMAT;
use super::pkgparse::{
    names, parse_apt_policy, parse_apt_sim, parse_control_fields, parse_dpkg_query, pkg_change,
    sections, split_pin, DpkgRow, PkgState,
};
use super::{Change, Field, Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::{sh_c, Cmd};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptArgs {
    #[serde(default, alias = "pkg", alias = "package")]
    pub name: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub state: Option<String>,
    #[serde(default, alias = "update-cache", deserialize_with = "de_bool")]
    pub update_cache: bool,
    #[serde(default)]
    pub cache_valid_time: Option<Value>,
    #[serde(default, deserialize_with = "de_bool")]
    pub purge: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub autoremove: bool,
    #[serde(
        default,
        alias = "install-recommends",
        deserialize_with = "de_opt_bool"
    )]
    pub install_recommends: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub deb: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub force: bool,
    #[serde(
        default,
        alias = "allow-downgrade",
        alias = "allow_downgrades",
        alias = "allow-downgrades",
        deserialize_with = "de_bool"
    )]
    pub allow_downgrade: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub dpkg_options: Option<String>,
    #[serde(default, alias = "default-release", deserialize_with = "de_opt_str")]
    pub default_release: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub only_upgrade: bool,
    #[serde(default, alias = "allow-unauthenticated", deserialize_with = "de_bool")]
    pub allow_unauthenticated: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub allow_change_held_packages: bool,
    /// Accepted for compatibility: muster always drives apt-get.
    #[serde(default, deserialize_with = "de_bool")]
    pub force_apt_get: bool,
    /// Accepted for compatibility: apt-get waits for the dpkg lock itself.
    #[serde(default)]
    pub lock_timeout: Option<Value>,
}

pub const APT_ARGS: &[&str] = &[
    "name",
    "pkg",
    "package",
    "state",
    "update_cache",
    "update-cache",
    "cache_valid_time",
    "purge",
    "autoremove",
    "install_recommends",
    "install-recommends",
    "deb",
    "force",
    "allow_downgrade",
    "allow-downgrade",
    "allow_downgrades",
    "allow-downgrades",
    "dpkg_options",
    "default_release",
    "default-release",
    "only_upgrade",
    "allow_unauthenticated",
    "allow-unauthenticated",
    "allow_change_held_packages",
    "force_apt_get",
    "lock_timeout",
];

pub struct Apt {
    a: AptArgs,
    /// `name[:arch][=version]` specs as given.
    specs: Vec<String>,
    state: PkgState,
    cache_valid_time: Option<u64>,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: AptArgs = build_args("apt", args)?;
    let specs = names(&a.name);
    let state = PkgState::parse("apt", a.state.as_deref())?;
    let cache_valid_time = match &a.cache_valid_time {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .ok_or("apt: cache_valid_time must be a number of seconds")?,
        ),
        Some(Value::String(s)) => Some(s.trim().parse().map_err(|_| {
            format!("apt: cache_valid_time must be a number of seconds, got `{s}`")
        })?),
        Some(other) => {
            return Err(format!(
                "apt: cache_valid_time must be a number of seconds, got {other}"
            ))
        }
    };
    if specs.is_empty() && a.deb.is_none() && !a.update_cache && !a.autoremove {
        return Err(
            "apt: one of the following is required: name, deb, update_cache, autoremove".into(),
        );
    }
    if a.deb
        .as_deref()
        .is_some_and(|d| d.is_empty() || d.starts_with('-'))
    {
        return Err("apt: deb must be the path of a .deb file on the host".into());
    }
    if a.deb.is_some() && state == PkgState::Absent {
        return Err("apt: deb only installs; use name with state=absent to remove".into());
    }
    if specs.iter().any(|s| s == "*") && (specs.len() != 1 || state != PkgState::Latest) {
        return Err(
            "apt: name '*' is only supported alone and with state=latest (upgrade everything)"
                .into(),
        );
    }
    if state == PkgState::Latest && specs.iter().any(|s| split_pin(s).1.is_some()) {
        return Err("apt: version number inconsistent with state=latest".into());
    }
    for s in &specs {
        if s.starts_with('-') || s.contains(char::is_whitespace) {
            return Err(format!("apt: `{s}` is not a package name"));
        }
    }
    Ok(Box::new(Apt {
        a,
        specs,
        state,
        cache_valid_time,
    }))
}

/// A named package: name, architecture (`name:arch`), version pin (`name=1.0`, `1.0*`).
struct Spec {
    name: String,
    arch: Option<String>,
    pin: Option<String>,
    /// What dpkg-query and apt-cache are asked about (`name` or `name:arch`).
    query: String,
}

fn spec(s: &str) -> Spec {
    let (n, pin) = split_pin(s);
    let (name, arch) = match n.split_once(':') {
        Some((a, b)) => (a.to_string(), Some(b.to_string())),
        None => (n.clone(), None),
    };
    Spec {
        name,
        arch,
        pin,
        query: n,
    }
}

fn pin_matches(pin: &str, version: &str) -> bool {
    match pin.strip_suffix('*') {
        Some(prefix) => version.starts_with(prefix),
        None => pin == version,
    }
}

/// The plan's one probe script.
fn probe_script(a: &AptArgs, specs: &[Spec], state: PkgState) -> String {
    let mut s = String::from("LC_ALL=C; export LC_ALL\n");
    if a.update_cache {
        s.push_str(
            "echo @@stamp; for f in /var/lib/apt/periodic/update-success-stamp /var/cache/apt/pkgcache.bin /var/lib/apt/lists; do if [ -e \"$f\" ]; then stat -c %Y \"$f\"; break; fi; done\necho @@now; date +%s\n",
        );
    }
    let queries: Vec<&str> = specs.iter().map(|s| s.query.as_str()).collect();
    let mut extra = "";
    if let Some(deb) = &a.deb {
        let f = |fields: &[&str]| {
            Cmd::new("dpkg-deb")
                .arg("-f")
                .arg("--")
                .arg(deb)
                .args(fields)
                .into_string()
        };
        s.push_str(&format!(
            "echo @@deb; {} 2>&1 || echo @@deberr\nP=$({} 2>/dev/null)\n",
            f(&["Package", "Version", "Architecture"]),
            f(&["Package"])
        ));
        extra = " ${P:+\"$P\"}";
    }
    if upgrade_all(specs) {
        s.push_str(
            "echo @@upgrade; apt-get -s upgrade --with-new-pkgs 2>/dev/null | grep -E '^(Inst|Remv) '\n",
        );
        s.push_str("true\n");
        return s;
    }
    let dq = Cmd::new("dpkg-query").arg("-W").arg(DPKG_FORMAT).arg("--");
    if !queries.is_empty() {
        s.push_str(&format!(
            "echo @@dpkg; {}{extra} 2>/dev/null\n",
            dq.clone().args(&queries).into_string()
        ));
    } else if a.deb.is_some() {
        s.push_str(&format!(
            "echo @@dpkg; if [ -n \"$P\" ]; then {}{extra} 2>/dev/null; fi\n",
            dq.into_string()
        ));
    }
    if state == PkgState::Latest && !queries.is_empty() {
        s.push_str(&format!(
            "echo @@policy; {} 2>&1\n",
            Cmd::new("apt-cache")
                .arg("policy")
                .args(&queries)
                .into_string()
        ));
    } else if state == PkgState::Present && !queries.is_empty() {
        // `present` needs candidates only for what is not installed yet; apt-cache builds
        // its whole cache in memory (~0.5 s), so an in-sync plan skips it.
        s.push_str(&format!(
            "set --; for q in {}; do case \"$(dpkg-query -W -f='${{db:Status-Abbrev}}' \"$q\" 2>/dev/null)\" in ?i*|?t*|?W*) ;; *) set -- \"$@\" \"$q\" ;; esac; done\necho @@policy; if [ $# -gt 0 ]; then apt-cache policy \"$@\" 2>&1; fi\n",
            Cmd::default().args(&queries).into_string().trim_start()
        ));
    }
    if a.autoremove {
        s.push_str("echo @@autoremove; apt-get -s autoremove 2>/dev/null | grep '^Remv '\n");
    }
    s.push_str("true\n");
    s
}

/// `name: '*'` with `state: latest`: upgrade every installed package.
fn upgrade_all(specs: &[Spec]) -> bool {
    specs.len() == 1 && specs[0].name == "*"
}

/// `apt-get` with the options every transaction shares.
fn apt_get(a: &AptArgs) -> Cmd {
    let mut c = Cmd::new("apt-get").arg("-y");
    let opts = a
        .dpkg_options
        .clone()
        .unwrap_or_else(|| "force-confdef,force-confold".into());
    for o in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        c = c
            .arg("-o")
            .arg(&format!("Dpkg::Options::=--{}", o.trim_start_matches('-')));
    }
    c
}

/// The command lines of a plan's transactions (update, install, remove, autoremove).
fn transactions(a: &AptArgs, st: &AptState) -> Vec<Transaction> {
    const ENV: &str = "LC_ALL=C DEBIAN_FRONTEND=noninteractive ";
    let mut out = Vec::new();
    if st.update {
        out.push(Transaction {
            what: "update the apt cache".into(),
            cmd: format!(
                "{ENV}{}",
                Cmd::new("apt-get").arg("update").arg("-q").into_string()
            ),
        });
    }
    if !st.install.is_empty() || st.upgrade {
        let mut c = apt_get(a);
        match a.install_recommends {
            Some(true) => c = c.arg("-o").arg("APT::Install-Recommends=yes"),
            Some(false) => c = c.arg("--no-install-recommends"),
            None => {}
        }
        if a.allow_downgrade {
            c = c.arg("--allow-downgrades");
        }
        if a.allow_unauthenticated {
            c = c.arg("--allow-unauthenticated");
        }
        if a.allow_change_held_packages {
            c = c.arg("--allow-change-held-packages");
        }
        if a.force {
            c = c
                .arg("--allow-downgrades")
                .arg("--allow-remove-essential")
                .arg("--allow-change-held-packages");
        }
        if a.only_upgrade {
            c = c.arg("--only-upgrade");
        }
        if let Some(r) = &a.default_release {
            c = c.arg("-t").arg(r);
        }
        c = if st.upgrade {
            c.arg("upgrade").arg("--with-new-pkgs")
        } else {
            c.arg("install").args(&st.install)
        };
        out.push(Transaction {
            what: if st.upgrade { "upgrade" } else { "install" }.into(),
            cmd: format!(
                "mkdir -p /var/cache/apt/archives/partial && {ENV}{}",
                c.into_string()
            ),
        });
    }
    if !st.remove.is_empty() {
        let mut c = apt_get(a).arg("remove");
        if a.purge {
            c = c.arg("--purge");
        }
        if a.autoremove {
            c = c.arg("--auto-remove");
        }
        if a.force {
            c = c.arg("--allow-remove-essential");
        }
        out.push(Transaction {
            what: "remove".into(),
            cmd: format!("{ENV}{}", c.args(&st.remove).into_string()),
        });
    }
    if st.autoremove {
        let mut c = apt_get(a).arg("autoremove");
        if a.purge {
            c = c.arg("--purge");
        }
        out.push(Transaction {
            what: "autoremove".into(),
            cmd: format!("{ENV}{}", c.into_string()),
        });
    }
    out
}

/// What apply does, kept in `Plan::state`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct AptState {
    update: bool,
    install: Vec<String>,
    remove: Vec<String>,
    autoremove: bool,
    /// `apt-get upgrade --with-new-pkgs` (name '*', state latest).
    #[serde(default)]
    upgrade: bool,
}

/// The installed row of a spec (matching its architecture when given), if any.
fn installed<'r>(rows: &'r [DpkgRow], s: &Spec) -> Option<&'r DpkgRow> {
    rows.iter()
        .find(|r| r.name == s.name && r.installed() && s.arch.as_ref().is_none_or(|a| *a == r.arch))
}

/// The changes, what apply does, and the result fields known from planning.
type Decided = (Vec<Change>, AptState, Map<String, Value>);

/// Decides the changes from the probe's output (pure, unit-tested).
fn decide(
    a: &AptArgs,
    specs: &[Spec],
    state: PkgState,
    cache_valid_time: Option<u64>,
    out: &str,
) -> std::result::Result<Decided, String> {
    let secs = sections(out);
    let rows = parse_dpkg_query(secs.get("dpkg").map(String::as_str).unwrap_or(""));
    let policy = parse_apt_policy(secs.get("policy").map(String::as_str).unwrap_or(""));
    let mut changes = Vec::new();
    let mut st = AptState::default();
    let mut result = Map::new();
    // The cache.
    let mut stale = false;
    if a.update_cache {
        let num = |k: &str| {
            secs.get(k)
                .and_then(|t| t.lines().next())
                .and_then(|l| l.trim().parse::<i64>().ok())
        };
        let stamp = num("stamp");
        let now = num("now").unwrap_or(0);
        stale = match (stamp, cache_valid_time) {
            (Some(t), Some(valid)) => now - t > valid as i64,
            _ => true,
        };
        result.insert("cache_updated".into(), json!(false));
        result.insert("cache_update_time".into(), json!(stamp.unwrap_or(0)));
        let alone = specs.is_empty() && a.deb.is_none();
        if stale && (alone || cache_valid_time.is_some()) {
            st.update = true;
            changes.push(Change::new(
                Field::Other("apt cache".into()),
                Some(match stamp {
                    Some(t) => format!("updated {}s ago", now - t),
                    None => "never updated".into(),
                }),
                Some("updated".into()),
            ));
        }
    }
    // A .deb file on the target.
    if let Some(deb) = &a.deb {
        let text = secs.get("deb").cloned().unwrap_or_default();
        if secs.contains_key("deberr") {
            return Err(format!(
                "Unable to install package: {}: {}",
                deb,
                text.trim()
            ));
        }
        let f = parse_control_fields(&text);
        let (Some(pkg), Some(ver)) = (f.get("Package"), f.get("Version")) else {
            return Err(format!(
                "{deb}: no Package/Version in its control file: {}",
                text.trim()
            ));
        };
        let s = Spec {
            name: pkg.clone(),
            arch: None,
            pin: None,
            query: pkg.clone(),
        };
        let cur = installed(&rows, &s).map(|r| r.version.clone());
        if cur.as_deref() != Some(ver.as_str()) || a.force {
            changes.push(pkg_change(pkg, cur, Some(ver.clone())));
            st.install.push(if deb.contains('/') {
                deb.clone()
            } else {
                format!("./{deb}")
            });
        }
    }
    if upgrade_all(specs) {
        for (name, old, new) in parse_apt_sim(secs.get("upgrade").map(String::as_str).unwrap_or(""))
        {
            changes.push(pkg_change(&name, old, new));
            st.upgrade = true;
        }
    }
    for s in specs.iter().filter(|_| !upgrade_all(specs)) {
        let cur = installed(&rows, s).map(|r| r.version.clone());
        let label = s.query.as_str();
        match state {
            PkgState::Absent => {
                let matches = cur
                    .as_ref()
                    .is_some_and(|v| s.pin.as_ref().is_none_or(|p| pin_matches(p, v)));
                if matches {
                    changes.push(pkg_change(label, cur.clone(), None));
                    st.remove.push(s.query.clone());
                } else if cur.is_none()
                    && a.purge
                    && rows.iter().any(|r| r.name == s.name && r.config_files())
                {
                    changes.push(pkg_change(label, Some("config-files".into()), None));
                    st.remove.push(s.query.clone());
                }
            }
            PkgState::Present | PkgState::Latest => {
                let cand = policy
                    .get(&s.query)
                    .or_else(|| policy.get(&s.name))
                    .and_then(|p| p.1.clone());
                let target = match (&s.pin, state, &cur) {
                    (Some(p), _, Some(v)) if pin_matches(p, v) => None,
                    (Some(p), _, _) => Some(p.clone()),
                    (None, PkgState::Present, Some(_)) => None,
                    (None, _, Some(v)) => cand.clone().filter(|c| c != v),
                    (None, _, None) if a.only_upgrade => None,
                    (None, _, None) => match cand.clone() {
                        Some(c) => Some(c),
                        None if st.update || (a.update_cache && stale) => {
                            Some("(the candidate after the cache update)".into())
                        }
                        None if policy.contains_key(&s.query) => {
                            return Err(format!(
                                "No package matching '{label}' is available (apt: E: Package '{label}' has no installation candidate)"
                            ))
                        }
                        None => {
                            return Err(format!(
                                "No package matching '{label}' is available (apt: E: Unable to locate package {label})"
                            ))
                        }
                    },
                };
                if let Some(t) = target {
                    changes.push(pkg_change(label, cur, Some(t)));
                    st.install.push(match &s.pin {
                        Some(p) => format!("{}={p}", s.query),
                        None => s.query.clone(),
                    });
                }
            }
        }
    }
    if a.autoremove {
        for (name, ver, _) in
            parse_apt_sim(secs.get("autoremove").map(String::as_str).unwrap_or(""))
        {
            if st.remove.contains(&name) {
                continue;
            }
            changes.push(pkg_change(&name, ver, None));
            st.autoremove = true;
        }
    }
    if !changes.is_empty() && a.update_cache && stale {
        st.update = true;
    }
    Ok((changes, st, result))
}

#[async_trait]
impl Module for Apt {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let specs: Vec<Spec> = self.specs.iter().map(|s| spec(s)).collect();
        let script = probe_script(&self.a, &specs, self.state);
        let out = ctx.transport.exec(&sh_c(&script), None).await?;
        if !out.success() {
            return Err(fail(
                ctx,
                format!(
                    "reading package state failed (rc {}): {}",
                    out.rc(),
                    out.stderr_str().trim()
                ),
            ));
        }
        let (changes, st, result) = decide(
            &self.a,
            &specs,
            self.state,
            self.cache_valid_time,
            &out.stdout_str(),
        )
        .map_err(|e| fail(ctx, e))?;
        Ok(Plan {
            changes,
            result,
            state: Some(serde_json::to_value(&st).unwrap_or(Value::Null)),
            runs_command: false,
        })
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        let st: AptState = plan
            .state
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let txs = transactions(&self.a, &st);
        let mut r = run_transactions(ctx, &txs).await?;
        if self.a.update_cache {
            r.insert("cache_updated".into(), json!(st.update));
            if st.update {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                r.insert("cache_update_time".into(), json!(now));
            }
        }
        Ok(r)
    }
}

pub static APT: super::ModuleDef = super::ModuleDef {
    name: "apt",
    args: APT_ARGS,
    free_form: false,
    build,
};

#[cfg(test)]
mod tests {
    /// For `present`, the probe asks apt-cache only about what dpkg does not have installed
    /// (run for real where dpkg exists: bash is installed, the other name is not a package).
    #[test]
    fn present_asks_apt_cache_only_about_missing_packages() {
        if !std::path::Path::new("/usr/bin/dpkg-query").exists() {
            return;
        }
        let a: AptArgs =
            serde_json::from_value(serde_json::json!({"name": ["bash", "muster-no-such-pkg"]}))
                .unwrap();
        let specs = vec![spec("bash"), spec("muster-no-such-pkg")];
        // A stand-in apt-cache first on PATH reports what it was asked.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("apt-cache");
        std::fs::write(&fake, "#!/bin/sh\necho \"ASKED $*\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let script = probe_script(&a, &specs, PkgState::Present);
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let policy = text.split("@@policy").nth(1).unwrap_or_default();
        assert!(
            policy.contains("ASKED policy muster-no-such-pkg\n"),
            "{policy}"
        );
        assert!(
            !policy.contains("bash"),
            "installed bash was looked up: {policy}"
        );
    }

    use super::*;

    fn apt(v: Value) -> Apt {
        let a: AptArgs = build_args("apt", v.as_object().unwrap()).unwrap();
        let specs = names(&a.name);
        let state = PkgState::parse("apt", a.state.as_deref()).unwrap();
        let cvt = a.cache_valid_time.as_ref().and_then(Value::as_u64);
        Apt {
            a,
            specs,
            state,
            cache_valid_time: cvt,
        }
    }

    fn run(m: &Apt, out: &str) -> std::result::Result<(Vec<Change>, AptState), String> {
        let specs: Vec<Spec> = m.specs.iter().map(|s| spec(s)).collect();
        decide(&m.a, &specs, m.state, m.cache_valid_time, out).map(|(c, s, _)| (c, s))
    }

    const DPKG: &str = "@@dpkg\nbash\t5.2.15-2+b8\tamd64\tii \nold\t1.0\tall\trc \n";
    const POLICY: &str = "@@policy\nbash:\n  Installed: 5.2.15-2+b8\n  Candidate: 5.2.15-2+b13\nnginx:\n  Installed: (none)\n  Candidate: 1.22.1-9\nvirt:\n  Installed: (none)\n  Candidate: (none)\n";

    #[test]
    fn present_latest_absent() {
        let out = format!("{DPKG}{POLICY}");
        let (c, st) = run(&apt(json!({"name": "bash,nginx"})), &out).unwrap();
        assert_eq!(c, vec![pkg_change("nginx", None, Some("1.22.1-9".into()))]);
        assert_eq!(st.install, vec!["nginx"]);
        let (c, st) = run(&apt(json!({"name": ["bash"], "state": "latest"})), &out).unwrap();
        assert_eq!(
            c,
            vec![pkg_change(
                "bash",
                Some("5.2.15-2+b8".into()),
                Some("5.2.15-2+b13".into())
            )]
        );
        assert_eq!(st.install, vec!["bash"]);
        let (c, st) = run(
            &apt(json!({"name": ["bash", "nginx", "old"], "state": "absent"})),
            &out,
        )
        .unwrap();
        assert_eq!(
            c,
            vec![pkg_change("bash", Some("5.2.15-2+b8".into()), None)]
        );
        assert_eq!(st.remove, vec!["bash"]);
        let (c, _) = run(
            &apt(json!({"name": "old", "state": "absent", "purge": true})),
            &out,
        )
        .unwrap();
        assert_eq!(
            c,
            vec![pkg_change("old", Some("config-files".into()), None)]
        );
        // Pins.
        let (c, st) = run(&apt(json!({"name": "bash=5.2.15-2+b8"})), &out).unwrap();
        assert!(c.is_empty() && st.install.is_empty());
        let (c, st) = run(&apt(json!({"name": "bash=5.2.15-2+b13"})), &out).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(st.install, vec!["bash=5.2.15-2+b13"]);
        let (c, _) = run(&apt(json!({"name": "bash=5.2*"})), &out).unwrap();
        assert!(c.is_empty());
        // Not available anywhere: apt's own words.
        let e = run(&apt(json!({"name": "nosuch"})), &out).unwrap_err();
        assert!(e.contains("Unable to locate package nosuch"), "{e}");
        let e = run(&apt(json!({"name": "virt"})), &out).unwrap_err();
        assert!(e.contains("has no installation candidate"), "{e}");
    }

    #[test]
    fn deb_cache_and_autoremove() {
        let m = apt(json!({"deb": "/opt/x_1.0-1_all.deb"}));
        let out = "@@deb\nPackage: x\nVersion: 1.0-1\nArchitecture: all\n@@dpkg\n";
        let (c, st) = run(&m, out).unwrap();
        assert_eq!(c, vec![pkg_change("x", None, Some("1.0-1".into()))]);
        assert_eq!(st.install, vec!["/opt/x_1.0-1_all.deb"]);
        let out =
            "@@deb\nPackage: x\nVersion: 1.0-1\nArchitecture: all\n@@dpkg\nx\t1.0-1\tall\tii \n";
        assert!(run(&m, out).unwrap().0.is_empty());
        assert!(run(
            &m,
            "@@deb\ndpkg-deb: error: failed to read archive\n@@deberr\n"
        )
        .is_err());
        // Cache: fresh enough is in sync; stale is a change; no valid time alone is a change.
        let m = apt(json!({"update_cache": true, "cache_valid_time": 3600}));
        assert!(run(&m, "@@stamp\n1000\n@@now\n2000\n")
            .unwrap()
            .0
            .is_empty());
        let (c, st) = run(&m, "@@stamp\n1000\n@@now\n9000\n").unwrap();
        assert_eq!(c.len(), 1);
        assert!(st.update);
        let m = apt(json!({"update_cache": true}));
        assert!(run(&m, "@@stamp\n1000\n@@now\n1001\n").unwrap().1.update);
        // With packages in sync and no valid time, nothing to do.
        let m = apt(json!({"update_cache": true, "name": "bash"}));
        let out = format!("@@stamp\n1000\n@@now\n1001\n{DPKG}{POLICY}");
        assert!(run(&m, &out).unwrap().0.is_empty());
        let m = apt(json!({"autoremove": true}));
        let (c, st) = run(&m, "@@autoremove\nRemv libfoo1 [1.2-1]\n").unwrap();
        assert_eq!(c, vec![pkg_change("libfoo1", Some("1.2-1".into()), None)]);
        assert!(st.autoremove);
    }

    #[test]
    fn upgrade_everything() {
        let m = apt(json!({"name": "*", "state": "latest"}));
        let s = probe_script(&m.a, &[spec("*")], PkgState::Latest);
        assert!(s.contains("apt-get -s upgrade --with-new-pkgs"), "{s}");
        assert!(!s.contains("dpkg-query"), "{s}");
        let out =
            "@@upgrade\nInst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n";
        let (c, st) = run(&m, out).unwrap();
        assert_eq!(
            c,
            vec![pkg_change(
                "bash",
                Some("5.2.15-2+b8".into()),
                Some("5.2.15-2+b13".into())
            )]
        );
        assert!(st.upgrade);
        assert!(transactions(&m.a, &st)[0].cmd.ends_with("apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade --with-new-pkgs"));
        assert!(run(&m, "@@upgrade\n").unwrap().0.is_empty());
        assert!(build(json!({"name": "*"}).as_object().unwrap()).is_err());
        assert!(build(
            json!({"name": "*,bash", "state": "latest"})
                .as_object()
                .unwrap()
        )
        .is_err());
    }

    #[test]
    fn command_lines() {
        let m = apt(
            json!({"name": "a", "install_recommends": false, "purge": true, "autoremove": true}),
        );
        let st = AptState {
            update: true,
            install: vec!["a".into(), "b=1.0".into()],
            remove: vec!["c".into()],
            autoremove: false,
            upgrade: false,
        };
        let t = transactions(&m.a, &st);
        assert_eq!(
            t[0].cmd,
            "LC_ALL=C DEBIAN_FRONTEND=noninteractive apt-get update -q"
        );
        assert_eq!(t[1].cmd, "mkdir -p /var/cache/apt/archives/partial && LC_ALL=C DEBIAN_FRONTEND=noninteractive apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --no-install-recommends install a b=1.0");
        assert_eq!(t[2].cmd, "LC_ALL=C DEBIAN_FRONTEND=noninteractive apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold remove --purge --auto-remove c");
        let s = probe_script(&m.a, &[spec("a")], PkgState::Present);
        assert!(s.contains("dpkg-query -W '-f=${Package}"));
        assert!(s.contains("for q in a; do"), "{s}");
        assert!(s.contains("apt-cache policy \"$@\""), "{s}");
        let s = probe_script(&m.a, &[spec("a")], PkgState::Latest);
        assert!(s.contains("apt-cache policy a"), "{s}");
        let e = build(json!({"name": "x", "bogus": 1}).as_object().unwrap())
            .err()
            .unwrap();
        assert!(e.contains("bogus"), "{e}");
        assert!(build(
            json!({"name": "x=1", "state": "latest"})
                .as_object()
                .unwrap()
        )
        .is_err());
    }
}
