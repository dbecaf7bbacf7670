//! The `apps` check and the software inventory it is built on.
//!
//! Arguments (all optional):
//! - `allow`: globs; anything installed (and not `ignore`d) that matches none of them fails.
//!   Absent or an empty list: no allowlist (policies often default it to `[]` per group).
//! - `deny`: globs; anything installed that matches one fails.
//! - `min_versions`: `{name-or-glob: version}`; an installed match older than the version
//!   fails (a name not installed is not a failure). Versions are ordered as the source does:
//!   dpkg, rpm, loose (apk, macOS bundles, Windows `DisplayVersion`). When the minimum carries
//!   no epoch, the installed epoch is ignored, so `openssh-server: "9.3"` is not satisfied by
//!   Debian's `1:9.2p1-2` merely because of its epoch (a false fail is safer than a false pass).
//! - `ignore`: globs excluded from allow checking (base system packages, say).
//! - `scope`: `packages` (default on Linux) or `apps` (default on macOS and Windows).
//!   - Linux `packages` = every installed package (dpkg `ii`/`hi`, rpm without the
//!     `gpg-pubkey` pseudo-packages, apk); Linux `apps` = those the administrator asked for
//!     (`apt-mark showmanual`, `dnf repoquery --userinstalled`, `/etc/apk/world`). An allowlist
//!     of OS packages has to name the whole base system; a realistic allowlist targets apps.
//!   - macOS `apps` = `system_profiler SPApplicationsDataType -json` bundles; `packages` =
//!     installer receipts (`pkgutil --pkgs` / `--pkg-info`).
//!   - Windows: both read the Uninstall registry keys (HKLM, its WOW6432Node twin, and the SSH
//!     user's HKCU), entries with a DisplayName that are not system components or updates.
//!
//! Globs match names case-insensitively. The finding's `data` holds plain name lists
//! (`finding.denied`, `finding.not_allowed`) and `too_old` rows for remediation tasks.
//! [`inventory`] is pure and reused by the fleet's software inventory.

use std::collections::HashMap;

use glob::{MatchOptions, Pattern};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::updates::{json_list, os_of, split_apk, Os};
use super::{Check, CheckCtx, Finding, Invalid, Probe, ProbeOut, Status};
use crate::template::version::cmp_for;

/// One installed piece of software.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct App {
    pub name: String,
    pub version: String,
    /// Where it was found, which also names its version ordering: `dpkg`, `rpm`, `apk`,
    /// `macos-app`, `pkgutil`, `windows`.
    pub source: String,
}

/// Which inventory an allowlist speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Apps,
    Packages,
}

impl Scope {
    pub fn default_for(facts: &Map<String, Value>) -> Scope {
        match os_of(facts) {
            Os::Mac | Os::Windows => Scope::Apps,
            _ => Scope::Packages,
        }
    }
}

const LINUX_INVENTORY: &str = "if command -v dpkg-query >/dev/null 2>&1; then echo mgr=dpkg; dpkg-query -W -f='${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\n'; \
elif command -v rpm >/dev/null 2>&1; then echo mgr=rpm; rpm -qa --qf '%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n'; \
elif command -v apk >/dev/null 2>&1; then echo mgr=apk; apk info -v; \
else echo mgr=none; fi";
const LINUX_MANUAL: &str = "if command -v apt-mark >/dev/null 2>&1; then apt-mark showmanual; \
elif command -v dnf >/dev/null 2>&1; then dnf -q repoquery --userinstalled --qf '%{name}\\n'; \
elif [ -r /etc/apk/world ]; then cat /etc/apk/world; \
else echo 'no record of manually installed packages' >&2; exit 127; fi";
const MAC_APPS: &str = "system_profiler SPApplicationsDataType -json";
const MAC_PKGS: &str =
    "command -v pkgutil >/dev/null 2>&1 || exit 127; pkgutil --pkgs | while read -r p; do pkgutil --pkg-info \"$p\"; echo; done";
const WIN_APPS: &str = r#"$keys = 'HKLM:\Software\Microsoft\Windows\CurrentVersion\Uninstall\*','HKLM:\Software\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\*','HKCU:\Software\Microsoft\Windows\CurrentVersion\Uninstall\*'
@(Get-ItemProperty $keys -ErrorAction SilentlyContinue | Where-Object { $_.DisplayName -and $_.SystemComponent -ne 1 -and -not $_.ParentKeyName } | ForEach-Object { [ordered]@{ DisplayName = [string]$_.DisplayName; DisplayVersion = [string]$_.DisplayVersion; Publisher = [string]$_.Publisher } }) | ConvertTo-Json -Compress"#;

/// The probes that list a host's software in a scope (`inventory`, and `manual` for Linux apps).
pub fn inventory_probes(facts: &Map<String, Value>, scope: Scope) -> Vec<Probe> {
    match (os_of(facts), scope) {
        (Os::Windows, _) => vec![Probe::new("inventory", WIN_APPS)],
        (Os::Mac, Scope::Apps) => vec![Probe::new("inventory", MAC_APPS)],
        (Os::Mac, Scope::Packages) => vec![Probe::new("inventory", MAC_PKGS)],
        (_, Scope::Packages) => vec![Probe::new("inventory", LINUX_INVENTORY)],
        (_, Scope::Apps) => vec![
            Probe::new("inventory", LINUX_INVENTORY),
            Probe::new("manual", LINUX_MANUAL),
        ],
    }
}

fn missing(o: &ProbeOut) -> bool {
    o.rc == 127
        || o.stderr.contains("command not found")
        || o.stderr.contains(": not found")
        || o.stderr.contains("is not recognized as")
}

/// The installed software from the outputs of [`inventory_probes`].
pub fn inventory(
    facts: &Map<String, Value>,
    out: &HashMap<String, ProbeOut>,
) -> Result<Vec<App>, String> {
    let o = out
        .get("inventory")
        .ok_or("internal: the inventory probe produced no output")?;
    if missing(o) {
        return Err(format!(
            "cannot list software: the command is not available on this host ({})",
            o.stderr.trim()
        ));
    }
    let mut apps = match os_of(facts) {
        Os::Windows => {
            if o.rc != 0 {
                return Err(format!(
                    "cannot read the Uninstall keys: {}",
                    o.stderr.trim()
                ));
            }
            parse_windows_uninstall(&o.stdout)?
        }
        Os::Mac => {
            if o.rc != 0 {
                return Err(format!("cannot list applications: {}", o.stderr.trim()));
            }
            if o.stdout.trim_start().starts_with('{') {
                parse_system_profiler(&o.stdout)?
            } else {
                parse_pkgutil(&o.stdout)
            }
        }
        _ => {
            let (mgr, rest) = o.stdout.split_once('\n').unwrap_or((&o.stdout, ""));
            let apps = match mgr.trim() {
                "mgr=dpkg" => parse_dpkg(rest),
                "mgr=rpm" => parse_rpm(rest),
                "mgr=apk" => parse_apk(rest),
                "mgr=none" => {
                    return Err("cannot list packages: no dpkg, rpm or apk on this host".into())
                }
                other => return Err(format!("unexpected inventory output: {other}")),
            };
            if o.rc != 0 {
                return Err(format!(
                    "listing packages failed (exit {}): {}",
                    o.rc,
                    o.stderr.trim()
                ));
            }
            apps
        }
    };
    if let Some(m) = out.get("manual") {
        if missing(m) || m.rc != 0 {
            return Err(format!(
                "cannot tell which packages were installed on request: {}",
                m.stderr.trim()
            ));
        }
        let wanted = parse_manual(&m.stdout);
        apps.retain(|a| wanted.contains(&a.name));
    }
    Ok(apps)
}

/// `dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n'`: only
/// installed (`ii`) and held (`hi`) packages; multi-arch twins with one version count once.
pub fn parse_dpkg(text: &str) -> Vec<App> {
    let mut out: Vec<App> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 {
            continue;
        }
        let st = f[0].trim();
        if st != "ii" && st != "hi" {
            continue;
        }
        let app = App {
            name: f[1].trim().to_string(),
            version: f[2].trim().to_string(),
            source: "dpkg".into(),
        };
        if !out.contains(&app) {
            out.push(app);
        }
    }
    out
}

/// `rpm -qa --qf '%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t%{ARCH}\n'`; a zero epoch is
/// dropped, `gpg-pubkey` pseudo-packages are not software.
pub fn parse_rpm(text: &str) -> Vec<App> {
    let mut out: Vec<App> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 2 || f[0] == "gpg-pubkey" || f[0].trim().is_empty() {
            continue;
        }
        let app = App {
            name: f[0].trim().to_string(),
            version: f[1].trim().trim_start_matches("0:").to_string(),
            source: "rpm".into(),
        };
        if !out.contains(&app) {
            out.push(app);
        }
    }
    out
}

/// `apk info -v` (`name-1.2-r3` per line) or `apk list --installed`
/// (`name-1.2-r3 x86_64 {origin} (license) [installed]`: `{origin}` is not the name).
pub fn parse_apk(text: &str) -> Vec<App> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("WARNING") && !l.starts_with("fetch "))
        .filter_map(|l| l.split_whitespace().next())
        .map(|nv| {
            let (n, v) = split_apk(nv);
            App {
                name: n.to_string(),
                version: v.to_string(),
                source: "apk".into(),
            }
        })
        .collect()
}

/// `apt-mark showmanual`, `dnf repoquery --userinstalled` or `/etc/apk/world` (whose entries
/// may carry constraints: `nginx>=1.24`, `curl@edge`, `!foo`).
pub fn parse_manual(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| !w.starts_with('!'))
        .map(|w| {
            w.split(['<', '>', '=', '~', '@'])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// `system_profiler SPApplicationsDataType -json`.
pub fn parse_system_profiler(text: &str) -> Result<Vec<App>, String> {
    let v: Value = serde_json::from_str(text.trim())
        .map_err(|e| format!("system_profiler printed bad JSON: {e}"))?;
    let list = v
        .get("SPApplicationsDataType")
        .and_then(Value::as_array)
        .ok_or("system_profiler printed no SPApplicationsDataType list")?;
    Ok(list
        .iter()
        .filter_map(|a| {
            let name = a.get("_name")?.as_str()?.to_string();
            Some(App {
                name,
                version: a
                    .get("version")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                source: "macos-app".into(),
            })
        })
        .collect())
}

/// `pkgutil --pkg-info` blocks (`package-id: …`, `version: …`).
pub fn parse_pkgutil(text: &str) -> Vec<App> {
    let mut out = Vec::new();
    let mut id: Option<String> = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("package-id:") {
            id = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("version:") {
            if let Some(name) = id.take() {
                out.push(App {
                    name,
                    version: v.trim().to_string(),
                    source: "pkgutil".into(),
                });
            }
        }
    }
    out
}

/// The Uninstall keys as JSON (one object or an array).
pub fn parse_windows_uninstall(text: &str) -> Result<Vec<App>, String> {
    let mut out: Vec<App> = Vec::new();
    for v in json_list(text)? {
        let Some(name) = v.get("DisplayName").and_then(Value::as_str) else {
            continue;
        };
        let app = App {
            name: name.trim().to_string(),
            version: v
                .get("DisplayVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_string(),
            source: "windows".into(),
        };
        if !app.name.is_empty() && !out.contains(&app) {
            out.push(app);
        }
    }
    Ok(out)
}

/// Whether `have` is older than `min` in the source's ordering.
pub fn older(source: &str, have: &str, min: &str) -> bool {
    let has_epoch = |v: &str| {
        v.split_once(':')
            .is_some_and(|(e, _)| !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()))
    };
    let have = if matches!(source, "dpkg" | "rpm") && !has_epoch(min) && has_epoch(have) {
        have.split_once(':').map(|x| x.1).unwrap_or(have)
    } else {
        have
    };
    cmp_for(source, have, min) == std::cmp::Ordering::Less
}

// ---------------------------------------------------------------- the check

struct AppsCheck {
    allow: Vec<Pattern>,
    deny: Vec<Pattern>,
    ignore: Vec<Pattern>,
    min_versions: Vec<(Pattern, String)>,
    scope: Option<Scope>,
}

const ARGS: &[&str] = &["allow", "deny", "ignore", "min_versions", "scope"];

const CI: MatchOptions = MatchOptions {
    case_sensitive: false,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

fn globs(m: &Map<String, Value>, key: &str) -> Result<Vec<Pattern>, Invalid> {
    let list: Vec<String> = match m.get(key) {
        None | Some(Value::Null) => vec![],
        // A rendered template may hand over a list as text.
        Some(Value::String(s)) if s.trim_start().starts_with('[') => {
            match serde_yaml::from_str::<Vec<Value>>(s) {
                Ok(v) => v
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect(),
                Err(e) => {
                    return Err(Invalid(
                        format!("`{key}` of `apps` is not a list: {e}"),
                        None,
                    ))
                }
            }
        }
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(Invalid(
                    format!("`{key}` of `apps` must list names or globs, not {other}"),
                    None,
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(Invalid(
                format!("`{key}` of `apps` must be a glob or a list of them, not {other}"),
                None,
            ))
        }
    };
    list.iter()
        .map(|g| {
            Pattern::new(g.trim())
                .map_err(|e| Invalid(format!("`{key}` of `apps`: bad glob `{g}`: {e}"), None))
        })
        .collect()
}

pub fn apps(v: &Value) -> Result<Box<dyn Check>, Invalid> {
    let m = v.as_object().ok_or_else(|| {
        Invalid(
            format!("`apps` takes a mapping of options, not {v}"),
            Some(format!("apps takes: {}", ARGS.join(", "))),
        )
    })?;
    for k in m.keys() {
        if !ARGS.contains(&k.as_str()) {
            return Err(Invalid(
                format!("unknown option `{k}` for the `apps` check"),
                Some(format!("apps takes: {}", ARGS.join(", "))),
            ));
        }
    }
    let scope = match m.get("scope") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "apps" || s == "applications" => Some(Scope::Apps),
        Some(Value::String(s)) if s == "packages" => Some(Scope::Packages),
        Some(other) => {
            return Err(Invalid(
                format!("`scope` of `apps` must be `apps` or `packages`, not {other}"),
                None,
            ))
        }
    };
    let mut min_versions = Vec::new();
    // A rendered template may hand over the mapping as text.
    let parsed;
    let mv = match m.get("min_versions") {
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) if s.trim_start().starts_with('{') => {
            parsed = serde_yaml::from_str::<Value>(s).map_err(|e| {
                Invalid(
                    format!("`min_versions` of `apps` is not a mapping: {e}"),
                    None,
                )
            })?;
            Some(&parsed)
        }
        other => other,
    };
    match mv {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            for (name, ver) in o {
                let ver = match ver {
                    Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
                    Value::Number(n) => n.to_string(),
                    other => {
                        return Err(Invalid(
                            format!("`min_versions.{name}` must be a version, not {other}"),
                            None,
                        ))
                    }
                };
                let p = Pattern::new(name).map_err(|e| {
                    Invalid(format!("`min_versions`: bad name `{name}`: {e}"), None)
                })?;
                min_versions.push((p, ver));
            }
        }
        Some(other) => {
            return Err(Invalid(
                format!("`min_versions` of `apps` must map names to versions, not {other}"),
                Some("e.g. `min_versions: { openssl: \"3.0.13\" }`".into()),
            ))
        }
    }
    Ok(Box::new(AppsCheck {
        allow: globs(m, "allow")?,
        deny: globs(m, "deny")?,
        ignore: globs(m, "ignore")?,
        min_versions,
        scope,
    }))
}

fn any(ps: &[Pattern], name: &str) -> bool {
    ps.iter().any(|p| p.matches_with(name, CI))
}

fn listed(names: &[String]) -> String {
    const MAX: usize = 8;
    let mut s = names
        .iter()
        .take(MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX {
        s.push_str(&format!(" and {} more", names.len() - MAX));
    }
    s
}

impl AppsCheck {
    fn scope(&self, facts: &Map<String, Value>) -> Scope {
        self.scope.unwrap_or_else(|| Scope::default_for(facts))
    }

    /// The verdict on an inventory (pure).
    fn judge(&self, scope: Scope, apps: &[App]) -> Finding {
        let mut denied: Vec<String> = Vec::new();
        let mut not_allowed: Vec<String> = Vec::new();
        let mut too_old: Vec<Value> = Vec::new();
        for a in apps {
            if any(&self.deny, &a.name) && !denied.contains(&a.name) {
                denied.push(a.name.clone());
            }
            if !self.allow.is_empty()
                && !any(&self.allow, &a.name)
                && !any(&self.ignore, &a.name)
                && !not_allowed.contains(&a.name)
            {
                not_allowed.push(a.name.clone());
            }
            if let Some((_, min)) = self
                .min_versions
                .iter()
                .find(|(p, _)| p.matches_with(&a.name, CI))
            {
                if older(&a.source, &a.version, min) {
                    too_old.push(json!({"name": a.name, "version": a.version, "min": min}));
                }
            }
        }
        let scope_name = match scope {
            Scope::Apps => "apps",
            Scope::Packages => "packages",
        };
        let observed = json!({
            "count": apps.len(),
            "scope": scope_name,
            "source": apps.first().map(|a| a.source.clone()),
            "denied": denied,
            "not_allowed": not_allowed,
            "too_old": too_old,
        });
        let pats = |ps: &[Pattern]| {
            ps.iter()
                .map(|p| p.as_str().to_string())
                .collect::<Vec<_>>()
        };
        let mins: Map<String, Value> = self
            .min_versions
            .iter()
            .map(|(p, v)| (p.as_str().to_string(), json!(v)))
            .collect();
        let expected = json!({
            "allow": if self.allow.is_empty() { Value::Null } else { json!(pats(&self.allow)) },
            "deny": pats(&self.deny),
            "ignore": pats(&self.ignore),
            "min_versions": mins,
        });
        let data = json!({"denied": denied, "not_allowed": not_allowed, "too_old": too_old});
        let mut problems = Vec::new();
        if !denied.is_empty() {
            problems.push(format!("{} denied: {}", denied.len(), listed(&denied)));
        }
        if !not_allowed.is_empty() {
            problems.push(format!(
                "{} not allowed: {}",
                not_allowed.len(),
                listed(&not_allowed)
            ));
        }
        if !too_old.is_empty() {
            let rows: Vec<String> = too_old
                .iter()
                .map(|r| {
                    format!(
                        "{} {} is older than {}",
                        r["name"].as_str().unwrap_or(""),
                        r["version"].as_str().unwrap_or(""),
                        r["min"].as_str().unwrap_or("")
                    )
                })
                .collect();
            problems.push(listed(&rows));
        }
        let (status, message) = if problems.is_empty() {
            (
                Status::Pass,
                format!(
                    "{} {scope_name} installed, all within the policy{}",
                    apps.len(),
                    if self.allow.is_empty() {
                        " (no allowlist)"
                    } else {
                        ""
                    }
                ),
            )
        } else {
            (Status::Fail, problems.join("; "))
        };
        let mut f = Finding::new(status, observed, expected, message);
        f.data = data;
        f
    }
}

impl Check for AppsCheck {
    fn probes(&self, facts: &Map<String, Value>) -> Vec<Probe> {
        inventory_probes(facts, self.scope(facts))
    }

    fn evaluate(&self, ctx: &CheckCtx<'_>) -> Finding {
        let apps = match inventory(ctx.facts, ctx.out) {
            Ok(a) => a,
            Err(m) => return Finding::error(m),
        };
        if apps.is_empty() {
            return Finding::error("the software inventory came back empty");
        }
        self.judge(self.scope(ctx.facts), &apps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/checks/apps/");

    fn data(name: &str) -> String {
        std::fs::read_to_string(format!("{DATA}{name}")).unwrap()
    }

    fn facts(system: &str, family: &str) -> Map<String, Value> {
        json!({"system": system, "os_family": family, "date_time": {"epoch": "1795971778"}})
            .as_object()
            .unwrap()
            .clone()
    }

    fn outs(v: &[(&str, i64, &str, &str)]) -> HashMap<String, ProbeOut> {
        v.iter()
            .map(|(k, rc, o, e)| {
                (
                    k.to_string(),
                    ProbeOut {
                        rc: *rc,
                        stdout: o.to_string(),
                        stderr: e.to_string(),
                    },
                )
            })
            .collect()
    }

    fn run(args: Value, f: &Map<String, Value>, o: &[(&str, i64, &str, &str)]) -> Finding {
        let c = apps(&args).unwrap_or_else(|e| panic!("{}", e.0));
        let keys: Vec<String> = c.probes(f).into_iter().map(|p| p.key).collect();
        for (k, ..) in o {
            assert!(keys.contains(&k.to_string()), "{k} not in {keys:?}");
        }
        let out = outs(o);
        c.evaluate(&CheckCtx {
            facts: f,
            vars: &Value::Null,
            out: &out,
        })
    }

    fn debian_inv() -> String {
        // The real capture, plus a removed package (config files left: `rc`), as dpkg prints it.
        format!(
            "mgr=dpkg\n{}rc \ttelnetd\t0.17+2.4-2\tamd64\n",
            data("debian12-dpkg-query.txt")
        )
    }

    #[test]
    fn dpkg_inventory_real_debian12() {
        let apps = parse_dpkg(&debian_inv());
        assert_eq!(apps.len(), 12);
        assert!(apps.iter().all(|a| a.name != "telnetd"));
        let b = apps.iter().find(|a| a.name == "bsdutils").unwrap();
        assert_eq!(
            (b.version.as_str(), b.source.as_str()),
            ("1:2.38.1-5+deb12u3", "dpkg")
        );
        // Multi-arch twins count once.
        let twins = parse_dpkg("ii \tlibc6\t2.36-9\tamd64\nii \tlibc6\t2.36-9\ti386\n");
        assert_eq!(twins.len(), 1);
        let f = facts("Linux", "Debian");
        let inv = inventory(&f, &outs(&[("inventory", 0, &debian_inv(), "")])).unwrap();
        assert_eq!(inv, apps);
    }

    #[test]
    fn deny_and_allow_with_globs() {
        let f = facts("Linux", "Debian");
        let inv = debian_inv() + "ii \ttransmission-daemon\t3.00-2.1\tamd64\n";
        let r = run(
            json!({"deny": ["telnetd", "*TORRENT*", "transmission*"], "allow": ["lib*", "bash", "b*"], "ignore": ["tzdata", "zlib1g", "adduser"]}),
            &f,
            &[("inventory", 0, &inv, "")],
        );
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.data["denied"], json!(["transmission-daemon"]));
        assert_eq!(
            r.data["not_allowed"],
            json!([
                "ca-certificates-java",
                "cpp",
                "cryptsetup-bin",
                "openssh-client",
                "openssl",
                "transmission-daemon"
            ])
        );
        assert_eq!(r.observed["count"], 13);
        assert!(
            r.message.starts_with(
                "1 denied: transmission-daemon; 6 not allowed: ca-certificates-java, cpp"
            ),
            "{}",
            r.message
        );
        // No allowlist, nothing denied installed: pass.
        let r = run(
            json!({"deny": ["telnetd"]}),
            &f,
            &[("inventory", 0, &debian_inv(), "")],
        );
        assert_eq!(r.status, Status::Pass, "{}", r.message);
        assert_eq!(r.data["denied"], json!([]));
        // An empty allowlist (a group default) is no allowlist.
        let r = run(
            json!({"allow": []}),
            &f,
            &[("inventory", 0, &debian_inv(), "")],
        );
        assert_eq!(r.status, Status::Pass);
        // A list rendered as text.
        let r = run(
            json!({"allow": "['*']", "deny": "['open*']"}),
            &f,
            &[("inventory", 0, &debian_inv(), "")],
        );
        assert_eq!(r.data["denied"], json!(["openssh-client", "openssl"]));
        let r = run(
            json!({"deny": ["x"], "min_versions": "{'openssl': '3.0.20'}"}),
            &f,
            &[("inventory", 0, &debian_inv(), "")],
        );
        assert_eq!(r.data["too_old"][0]["name"], "openssl");
        assert!(
            r.message.starts_with("openssl 3.0.19-1~deb12u2 is older"),
            "{}",
            r.message
        );
        assert!(apps(&json!({"min_versions": "{}"})).is_ok());
        assert!(apps(&json!({"allow": ["[bad"]})).is_err());
        assert!(apps(&json!({"alow": ["x"]})).is_err());
        assert!(apps(&json!({"scope": "everything"})).is_err());
    }

    #[test]
    fn min_versions_dpkg_epoch_and_tilde() {
        let f = facts("Linux", "Debian");
        // openssl 3.0.19-1~deb12u2: tilde sorts before, so it is older than 3.0.19-1.
        let r = run(
            json!({"min_versions": {"openssl": "3.0.19-1", "bash": "5.2.15", "openssh-client": "9.3", "zlib1g": "1:1.2.13", "not-installed": "1"}}),
            &f,
            &[("inventory", 0, &debian_inv(), "")],
        );
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.data["too_old"],
            json!([
                {"name": "openssh-client", "version": "1:9.2p1-2+deb12u10", "min": "9.3"},
                {"name": "openssl", "version": "3.0.19-1~deb12u2", "min": "3.0.19-1"},
            ])
        );
        assert!(
            r.message
                .contains("openssl 3.0.19-1~deb12u2 is older than 3.0.19-1"),
            "{}",
            r.message
        );
        assert!(older("dpkg", "1:9.2p1-2", "9.3"));
        assert!(
            !older("dpkg", "1:9.2p1-2", "0:9.3"),
            "explicit epochs follow dpkg"
        );
        assert!(!older("dpkg", "3.0.13-1~deb12u1", "3.0.13~"));
        let r = run(
            json!({"min_versions": {"openssl": "3.0.13"}}),
            &f,
            &[("inventory", 0, &debian_inv(), "")],
        );
        assert_eq!(r.status, Status::Pass, "{}", r.message);
    }

    /// Reference format (rpm -qa with epoch), including a gpg-pubkey pseudo-package.
    const RPM_QA: &str = include_str!("../../../tests/data/checks/apps/rpm-qa.txt");

    #[test]
    fn rpm_inventory_and_ordering() {
        let f = facts("Linux", "RedHat");
        let inv = inventory(&f, &outs(&[("inventory", 0, RPM_QA, "")])).unwrap();
        assert_eq!(inv.len(), 4);
        assert_eq!(inv[0].version, "5.1.8-6.el9_1");
        let r = run(
            json!({"min_versions": {"openssl": "3.0.13", "kernel": "5.14.0-362.13.1.el9_3", "bash": "5.1.8"}, "deny": ["telnet*"]}),
            &f,
            &[("inventory", 0, RPM_QA, "")],
        );
        assert_eq!(r.data["denied"], json!(["telnet-server"]));
        assert_eq!(
            r.data["too_old"],
            json!([
                {"name": "openssl", "version": "1:3.0.7-27.el9", "min": "3.0.13"},
                {"name": "kernel", "version": "5.14.0-362.8.1.el9_3", "min": "5.14.0-362.13.1.el9_3"},
            ])
        );
        assert!(older("rpm", "1.0~rc1", "1.0"));
    }

    #[test]
    fn apk_inventory_and_world() {
        let info = "mgr=apk\nmusl-1.2.4_git20230717-r4\nbusybox-1.36.1-r15\nlibcrypto3-3.1.4-r5\npy3-setuptools-70.3.0-r0\nnginx-1.24.0-r15\n";
        let list = "mgr=apk\nnginx-1.24.0-r15 x86_64 {nginx} (BSD-2-Clause) [installed]\nvirtualbox-guest-modules-virt-6.1.0-r0 x86_64 {virtualbox-guest-modules-vanilla} (GPL-2.0) [installed]\n";
        let a = parse_apk(info.split_once('\n').unwrap().1);
        assert_eq!(
            a[0],
            App {
                name: "musl".into(),
                version: "1.2.4_git20230717-r4".into(),
                source: "apk".into()
            }
        );
        assert_eq!(a[3].name, "py3-setuptools");
        let l = parse_apk(list.split_once('\n').unwrap().1);
        assert_eq!(l[1].name, "virtualbox-guest-modules-virt");
        let f = facts("Linux", "Alpine");
        // Apps scope: only what /etc/apk/world asks for.
        let r = run(
            json!({"scope": "apps", "allow": ["alpine-base", "busybox"], "min_versions": {"libcrypto3": "3.1.4-r6"}}),
            &f,
            &[
                ("inventory", 0, info, ""),
                (
                    "manual",
                    0,
                    "alpine-base\nnginx>=1.24\ncurl@edge\n!foo\nbusybox\n",
                    "",
                ),
            ],
        );
        assert_eq!(r.observed["count"], 2);
        assert_eq!(r.data["not_allowed"], json!(["nginx"]));
        assert_eq!(r.data["too_old"], json!([]), "libcrypto3 is out of scope");
        let r = run(
            json!({"min_versions": {"libcrypto3": "3.1.4-r6"}}),
            &f,
            &[("inventory", 0, info, "")],
        );
        assert_eq!(r.data["too_old"][0]["name"], "libcrypto3");
    }

    #[test]
    fn linux_apps_scope_real_showmanual() {
        let f = facts("Linux", "Debian");
        let manual = data("debian12-apt-mark-showmanual.txt");
        let out = outs(&[
            ("inventory", 0, &debian_inv(), ""),
            ("manual", 0, &manual, ""),
        ]);
        let inv = inventory(&f, &out).unwrap();
        let names: Vec<&str> = inv.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, vec!["busybox", "cryptsetup-bin"]);
    }

    /// Reference shape of `system_profiler SPApplicationsDataType -json`.
    const SP_APPS: &str = include_str!("../../../tests/data/checks/apps/system_profiler-apps.json");

    #[test]
    fn macos_apps_loose_versions() {
        let f = facts("Darwin", "Darwin");
        let inv = parse_system_profiler(SP_APPS).unwrap();
        assert_eq!(inv.len(), 4);
        assert_eq!(inv[3].version, "");
        let r = run(
            json!({"deny": ["*transmission*"], "min_versions": {"Google Chrome": "124.0.6367.201"}}),
            &f,
            &[("inventory", 0, SP_APPS, "")],
        );
        assert_eq!(r.data["denied"], json!(["Transmission"]));
        assert_eq!(r.data["too_old"][0]["version"], "124.0.6367.119");
        assert_eq!(r.observed["scope"], "apps");
        assert!(older("loose", "124.0.6367.119", "124.0.6367.201"));
        assert!(!older("loose", "124.0.10.0", "124.0.9"));
        let c = apps(&json!({"deny": ["x"]})).unwrap();
        assert_eq!(c.probes(&f)[0].script, MAC_APPS);
        let r = run(
            json!({"deny": ["x"]}),
            &f,
            &[("inventory", 0, "not json", "")],
        );
        assert_eq!(r.status, Status::Error);
        let pk = "package-id: com.apple.pkg.MobileAssets\nversion: 1.0.0.0.1.1703121960\nvolume: /\nlocation: /\ninstall-time: 1703121960\n\npackage-id: com.microsoft.Word\nversion: 16.84.24041420\nvolume: /\nlocation: Applications\ninstall-time: 1713000000\n\n";
        let r = run(
            json!({"scope": "packages", "allow": ["com.apple.*"]}),
            &f,
            &[("inventory", 0, pk, "")],
        );
        assert_eq!(r.data["not_allowed"], json!(["com.microsoft.Word"]));
    }

    #[test]
    fn windows_registry_single_and_array() {
        let f = json!({"system": "Win32NT", "os_family": "Windows"})
            .as_object()
            .unwrap()
            .clone();
        let one = r#"{"DisplayName":"7-Zip 23.01 (x64)","DisplayVersion":"23.01","Publisher":"Igor Pavlov"}"#;
        assert_eq!(parse_windows_uninstall(one).unwrap().len(), 1);
        let many = "#< CLIXML\r\n[{\"DisplayName\":\"Mozilla Firefox (x64 en-US)\",\"DisplayVersion\":\"125.0.3\",\"Publisher\":\"Mozilla\"},{\"DisplayName\":\"uTorrent\",\"DisplayVersion\":\"3.6.0.46884\",\"Publisher\":\"BitTorrent Inc\"},{\"DisplayName\":\"Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33135\",\"DisplayVersion\":\"14.38.33135.0\",\"Publisher\":\"Microsoft Corporation\"},{\"DisplayName\":\"Mozilla Firefox (x64 en-US)\",\"DisplayVersion\":\"125.0.3\",\"Publisher\":\"Mozilla\"}]";
        let inv = parse_windows_uninstall(many).unwrap();
        assert_eq!(inv.len(), 3, "HKLM and HKCU twins count once");
        let r = run(
            json!({"allow": ["Mozilla Firefox*", "Microsoft *"], "deny": ["*torrent*"], "min_versions": {"Mozilla Firefox*": "126.0"}}),
            &f,
            &[("inventory", 0, many, "")],
        );
        assert_eq!(r.data["denied"], json!(["uTorrent"]));
        assert_eq!(r.data["not_allowed"], json!(["uTorrent"]));
        assert_eq!(r.data["too_old"][0]["min"], "126.0");
        assert_eq!(
            run(json!({"deny": ["x"]}), &f, &[("inventory", 0, "", "")]).status,
            Status::Error
        );
    }

    #[test]
    fn missing_tools_are_errors() {
        let f = facts("Linux", "Debian");
        let r = run(
            json!({"deny": ["x"]}),
            &f,
            &[("inventory", 0, "mgr=none\n", "")],
        );
        assert_eq!(r.status, Status::Error);
        let f = facts("Darwin", "Darwin");
        let r = run(
            json!({"deny": ["x"]}),
            &f,
            &[(
                "inventory",
                127,
                "",
                "sh: system_profiler: command not found\n",
            )],
        );
        assert_eq!(r.status, Status::Error);
    }

    #[test]
    fn inventory_probe_runs_here() {
        // The Linux probe is real shell: on a Debian machine it lists dpkg packages.
        if !std::path::Path::new("/usr/bin/dpkg-query").exists() {
            return;
        }
        let f = facts("Linux", "Debian");
        let p = &inventory_probes(&f, Scope::Packages)[0];
        let o = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&p.script)
            .output()
            .unwrap();
        let out = outs(&[(
            "inventory",
            o.status.code().unwrap_or(-1) as i64,
            &String::from_utf8_lossy(&o.stdout),
            &String::from_utf8_lossy(&o.stderr),
        )]);
        let inv = inventory(&f, &out).unwrap();
        assert!(
            inv.iter().any(|a| a.name == "bash" && a.source == "dpkg"),
            "{inv:?}"
        );
    }
}
