//! Pure parsers for what package tools print (dpkg-query, apt-cache policy, dpkg-deb, rpm,
//! dnf, apk), plus what the package modules share: package name arguments, states, and the
//! typed change a package makes. Everything here runs on the controller and is unit-tested on
//! captured outputs (tests/data/packages/).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::args::parse_list;
use super::{Change, Field};

/// One installed package, in the shape Ansible's `package_facts` gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkgInfo {
    pub name: String,
    pub version: String,
    pub release: Option<String>,
    pub epoch: Option<u64>,
    pub arch: Option<String>,
    /// apt, rpm or apk.
    pub source: &'static str,
}

impl PkgInfo {
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "version": self.version,
            "release": self.release,
            "epoch": self.epoch,
            "arch": self.arch,
            "source": self.source,
        })
    }
}

/// Splits a Debian version as Ansible does: epoch before the first `:`, release after the
/// LAST `-` (none for native packages).
pub fn split_deb_version(v: &str) -> (Option<u64>, String, Option<String>) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) && !e.is_empty() => {
            (e.parse().ok(), r)
        }
        _ => (None, v),
    };
    match rest.rsplit_once('-') {
        Some((up, rel)) => (epoch, up.to_string(), Some(rel.to_string())),
        None => (epoch, rest.to_string(), None),
    }
}

/// One line of `dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\n'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgRow {
    pub name: String,
    /// The full Debian version (`[epoch:]upstream[-release]`).
    pub version: String,
    pub arch: String,
    /// `db:Status-Abbrev`, e.g. `ii`, `rc`, `hi` (trailing blank trimmed).
    pub status: String,
}

impl DpkgRow {
    /// Installed (unpacked and configured): the status letter is `i` (also with triggers
    /// pending, `t`/`W`), whatever the selection (`ii`, `hi`, `ri`...).
    pub fn installed(&self) -> bool {
        matches!(self.status.as_bytes().get(1), Some(b'i' | b't' | b'W'))
    }
    /// Removed with its configuration files left (`rc`).
    pub fn config_files(&self) -> bool {
        self.status.as_bytes().get(1) == Some(&b'c')
    }
    pub fn info(&self) -> PkgInfo {
        let (epoch, version, release) = split_deb_version(&self.version);
        PkgInfo {
            name: self.name.clone(),
            version,
            release,
            epoch,
            arch: Some(self.arch.clone()),
            source: "apt",
        }
    }
}

pub fn parse_dpkg_query(text: &str) -> Vec<DpkgRow> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let name = f.next()?.trim();
            let version = f.next()?.trim();
            let arch = f.next()?.trim();
            let status = f.next()?.trim();
            if name.is_empty() || status.len() < 2 {
                return None;
            }
            Some(DpkgRow {
                name: name.into(),
                version: version.into(),
                arch: arch.into(),
                status: status.into(),
            })
        })
        .collect()
}

/// `rpm -qa --qf '%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n'`. Epoch 0 (also
/// printed for packages without an epoch) becomes None, as Ansible reports most packages.
pub fn parse_rpm_qa(text: &str) -> Vec<PkgInfo> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').map(str::trim).collect();
            if f.len() < 5 || f[0].is_empty() {
                return None;
            }
            Some(PkgInfo {
                name: f[0].into(),
                epoch: f[1].parse().ok().filter(|e| *e != 0),
                version: f[2].into(),
                release: Some(f[3].into()),
                arch: (f[4] != "(none)").then(|| f[4].to_string()),
                source: "rpm",
            })
        })
        .collect()
}

/// `name-1.2.3-r4` as apk prints a package: name, version, release (`r4`).
pub fn split_apk_pkgver(s: &str) -> Option<(String, String, String)> {
    let (rest, rel) = s.rsplit_once('-')?;
    if !rel.starts_with('r') || !rel[1..].chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (name, ver) = rest.rsplit_once('-')?;
    if name.is_empty() || !ver.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some((name.into(), ver.into(), rel.into()))
}

/// `apk info -v`: one `name-version-rN` per line.
pub fn parse_apk_info(text: &str) -> Vec<PkgInfo> {
    text.lines()
        .filter_map(|l| {
            let w = l.split_whitespace().next()?;
            let (name, version, rel) = split_apk_pkgver(w)?;
            Some(PkgInfo {
                name,
                version,
                release: Some(rel),
                epoch: None,
                arch: None,
                source: "apk",
            })
        })
        .collect()
}

/// One line of `apk list`: `busybox-1.36.1-r29 x86_64 {busybox} (GPL-2.0-only) [installed]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApkListRow {
    pub name: String,
    /// `1.36.1-r29`.
    pub version: String,
    pub arch: String,
    pub installed: bool,
    /// `[upgradable from: busybox-1.36.1-r28]`: the installed version it would replace.
    pub upgradable_from: Option<String>,
}

pub fn parse_apk_list(text: &str) -> Vec<ApkListRow> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (name, ver, rel) = split_apk_pkgver(w.next()?)?;
            let arch = w.next().unwrap_or("").to_string();
            let upgradable_from = l
                .split_once("[upgradable from: ")
                .and_then(|(_, r)| r.split(']').next())
                .and_then(split_apk_pkgver)
                .map(|(_, v, r)| format!("{v}-{r}"));
            Some(ApkListRow {
                name,
                version: format!("{ver}-{rel}"),
                arch,
                installed: l.contains("[installed]"),
                upgradable_from,
            })
        })
        .collect()
}

/// What `apt-cache policy NAME...` says per package: (installed, candidate), each None for
/// `(none)`. Unknown packages are not listed at all.
pub fn parse_apt_policy(text: &str) -> BTreeMap<String, (Option<String>, Option<String>)> {
    let mut out = BTreeMap::new();
    let mut cur: Option<String> = None;
    let val = |s: &str| {
        let s = s.trim();
        (s != "(none)" && !s.is_empty()).then(|| s.to_string())
    };
    for l in text.lines() {
        if !l.starts_with(' ') && l.ends_with(':') {
            let name = l.trim_end_matches(':').to_string();
            out.insert(name.clone(), (None, None));
            cur = Some(name);
        } else if let Some(n) = &cur {
            let t = l.trim();
            if let Some(v) = t.strip_prefix("Installed:") {
                out.get_mut(n).unwrap().0 = val(v);
            } else if let Some(v) = t.strip_prefix("Candidate:") {
                out.get_mut(n).unwrap().1 = val(v);
            }
        }
    }
    out
}

/// What `apt-get -s upgrade|install|autoremove` would do: `Inst NAME [OLD] (NEW ...)` and
/// `Remv NAME [OLD]` lines as (name, old version, new version).
pub fn parse_apt_sim(text: &str) -> Vec<(String, Option<String>, Option<String>)> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let op = w.next()?;
            if op != "Inst" && op != "Remv" {
                return None;
            }
            let name = w.next()?.to_string();
            let mut old = None;
            let mut new = None;
            for t in w {
                if let Some(v) = t.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
                    if old.is_none() && new.is_none() && !v.is_empty() {
                        old = Some(v.to_string());
                    }
                } else if let Some(v) = t.strip_prefix('(') {
                    new = Some(v.to_string());
                    break;
                }
            }
            if op == "Remv" {
                new = None;
            }
            Some((name, old, new))
        })
        .collect()
}

/// `dpkg-deb -f FILE Package Version Architecture`: `Field: value` lines.
pub fn parse_control_fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| !k.starts_with(' '))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// `dnf -q list --available|--upgrades NAME...`: `name.arch  [epoch:]version-release  repo`
/// rows (headings and wrapped lines skipped) as (name, arch, evr).
pub fn parse_dnf_list(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        // A long name.arch wraps: the name alone, then the version and repo on the next line.
        let w: Vec<String> = match (&pending, w.len()) {
            (Some(p), 2) => vec![p.clone(), w[0].into(), w[1].into()],
            _ => w.iter().map(|s| s.to_string()).collect(),
        };
        pending = None;
        if w.len() == 1 && w[0].contains('.') && !l.ends_with(':') {
            pending = Some(w[0].clone());
            continue;
        }
        if w.len() != 3 {
            continue;
        }
        let Some((name, arch)) = w[0].rsplit_once('.') else {
            continue;
        };
        if !w[1].contains('-') || !w[1].starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        out.push((name.to_string(), arch.to_string(), w[1].clone()));
    }
    out
}

/// rpm's version comparison (rpmvercmp) of two version or release strings.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        let skip = |s: &[u8]| -> usize {
            s.iter()
                .take_while(|c| !c.is_ascii_alphanumeric() && **c != b'~' && **c != b'^')
                .count()
        };
        a = &a[skip(a)..];
        b = &b[skip(b)..];
        // Tilde sorts before everything, even the end.
        match (a.first() == Some(&b'~'), b.first() == Some(&b'~')) {
            (true, true) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        // Caret sorts after the end but before anything else.
        match (a.first() == Some(&b'^'), b.first() == Some(&b'^')) {
            (true, true) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (true, false) => {
                return if b.is_empty() {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, true) => {
                return if a.is_empty() {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            _ => {}
        }
        if a.is_empty() || b.is_empty() {
            return a.len().cmp(&b.len());
        }
        let num = a[0].is_ascii_digit();
        let seg = |s: &[u8]| -> usize {
            s.iter()
                .take_while(|c| {
                    if num {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (la, lb) = (seg(a), seg(b));
        if lb == 0 {
            // Different kinds of segment: numeric is newer.
            return if num {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (sa, sb) = (&a[..la], &b[..lb]);
        let ord = if num {
            let ta = &sa[sa.iter().take_while(|c| **c == b'0').count()..];
            let tb = &sb[sb.iter().take_while(|c| **c == b'0').count()..];
            ta.len().cmp(&tb.len()).then(ta.cmp(tb))
        } else {
            sa.cmp(sb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        a = &a[la..];
        b = &b[lb..];
    }
}

/// Compares `[epoch:]version-release` strings as rpm does.
pub fn evr_cmp(a: &str, b: &str) -> Ordering {
    let split = |s: &str| -> (u64, String, String) {
        let (e, rest) = match s.split_once(':') {
            Some((e, r)) => (e.parse().unwrap_or(0), r),
            None => (0, s),
        };
        match rest.rsplit_once('-') {
            Some((v, r)) => (e, v.to_string(), r.to_string()),
            None => (e, rest.to_string(), String::new()),
        }
    };
    let (ea, va, ra) = split(a);
    let (eb, vb, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(&va, &vb))
        .then_with(|| rpmvercmp(&ra, &rb))
}

/// What a package module is asked to make true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkgState {
    Present,
    Absent,
    Latest,
}

impl PkgState {
    pub fn parse(module: &str, s: Option<&str>) -> Result<PkgState, String> {
        match s.unwrap_or("present") {
            "present" | "installed" => Ok(PkgState::Present),
            "absent" | "removed" => Ok(PkgState::Absent),
            "latest" => Ok(PkgState::Latest),
            other => Err(format!(
                "{module}: value of state must be one of: absent, installed, latest, present, removed, got: {other}"
            )),
        }
    }
}

/// `name:` as a string, a list, or a comma-separated string.
pub fn names(v: &Option<Value>) -> Vec<String> {
    v.as_ref().map(parse_list).unwrap_or_default()
}

/// `pkg=version` (apt, apk) into the name and the wanted version.
pub fn split_pin(spec: &str) -> (String, Option<String>) {
    match spec.split_once('=') {
        Some((n, v)) if !n.is_empty() && !v.is_empty() => (n.to_string(), Some(v.to_string())),
        _ => (spec.to_string(), None),
    }
}

/// The typed change of one package: installed version before, version after (None: absent).
pub fn pkg_change(name: &str, before: Option<String>, after: Option<String>) -> Change {
    Change::new(Field::Other(format!("package {name}")), before, after)
}

/// Sections of a probe's output, each started by a line `@@NAME` (text before the first is
/// dropped). A section may appear more than once; its texts are joined.
pub fn sections(text: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut cur: Option<String> = None;
    for l in text.lines() {
        if let Some(n) = l.strip_prefix("@@") {
            cur = Some(n.trim().to_string());
            out.entry(n.trim().to_string()).or_default();
        } else if let Some(c) = &cur {
            let s = out.get_mut(c).unwrap();
            s.push_str(l);
            s.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/packages")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn debian_versions_split_like_ansible() {
        assert_eq!(
            split_deb_version("1:9.2p1-2+deb12u10"),
            (Some(1), "9.2p1".into(), Some("2+deb12u10".into()))
        );
        assert_eq!(split_deb_version("1.21.22"), (None, "1.21.22".into(), None));
        // The release is after the LAST dash.
        assert_eq!(
            split_deb_version("2025b-0+deb12u2"),
            (None, "2025b".into(), Some("0+deb12u2".into()))
        );
        assert_eq!(
            split_deb_version("2:1.02.185-2"),
            (Some(2), "1.02.185".into(), Some("2".into()))
        );
        assert_eq!(
            split_deb_version("1.2-3-4"),
            (None, "1.2-3".into(), Some("4".into()))
        );
    }

    #[test]
    fn dpkg_query_captured_on_debian_12() {
        let rows = parse_dpkg_query(&data("dpkg-query.txt"));
        assert_eq!(rows.len(), 10);
        let ssh = rows.iter().find(|r| r.name == "openssh-server").unwrap();
        assert!(ssh.installed());
        assert_eq!(ssh.version, "1:9.2p1-2+deb12u10");
        let i = ssh.info();
        assert_eq!(i.epoch, Some(1));
        assert_eq!(i.version, "9.2p1");
        assert_eq!(i.release.as_deref(), Some("2+deb12u10"));
        assert_eq!(i.arch.as_deref(), Some("amd64"));
        let tz = rows.iter().find(|r| r.name == "tzdata").unwrap();
        assert_eq!(tz.arch, "all");
        let dpkg = rows.iter().find(|r| r.name == "dpkg").unwrap().info();
        assert_eq!((dpkg.version.as_str(), dpkg.release), ("1.21.22", None));
        // Other states.
        let rows = parse_dpkg_query("a\t1\tall\trc \nb\t2\tamd64\thi \nc\t3\tall\tiU \n");
        assert!(!rows[0].installed() && rows[0].config_files());
        assert!(rows[1].installed());
        assert!(!rows[2].installed());
    }

    #[test]
    fn rpm_qa_as_rhel_9_prints_it() {
        let pk = parse_rpm_qa(&data("rpm-qa.txt"));
        let get = |n: &str| pk.iter().find(|p| p.name == n).unwrap().clone();
        let o = get("openssl");
        assert_eq!(o.epoch, Some(1));
        assert_eq!(o.version, "3.0.7");
        assert_eq!(o.release.as_deref(), Some("27.el9"));
        assert_eq!(o.arch.as_deref(), Some("x86_64"));
        let b = get("bash");
        assert_eq!(b.epoch, None);
        assert_eq!(b.version, "5.1.8");
        let k = get("gpg-pubkey");
        assert_eq!(k.arch, None);
        assert_eq!(get("tzdata").arch.as_deref(), Some("noarch"));
    }

    #[test]
    fn apk_as_alpine_3_20_prints_it() {
        let pk = parse_apk_info(&data("apk-info-v.txt"));
        let b = pk.iter().find(|p| p.name == "busybox").unwrap();
        assert_eq!(
            (b.version.as_str(), b.release.as_deref()),
            ("1.36.1", Some("r29"))
        );
        let c = pk
            .iter()
            .find(|p| p.name == "ca-certificates-bundle")
            .unwrap();
        assert_eq!(c.version, "20240705");
        assert!(pk.iter().any(|p| p.name == "alpine-baselayout-data"));
        assert!(!pk.iter().any(|p| p.name.starts_with("WARNING")));
        let rows = parse_apk_list(&data("apk-list-installed.txt"));
        assert_eq!(rows.len(), pk.len());
        assert!(rows.iter().all(|r| r.installed));
        let ssl = rows.iter().find(|r| r.name == "libssl3").unwrap();
        assert_eq!(ssl.version, "3.3.1-r3");
        assert_eq!(ssl.arch, "x86_64");
        let up = parse_apk_list(
            "libssl3-3.3.2-r0 x86_64 {openssl} (Apache-2.0) [upgradable from: libssl3-3.3.1-r3]\n",
        );
        assert_eq!(up[0].upgradable_from.as_deref(), Some("3.3.1-r3"));
        assert!(!up[0].installed);
        assert_eq!(
            split_apk_pkgver("py3-foo-bar-1.2.3-r0").unwrap().0,
            "py3-foo-bar"
        );
        assert_eq!(split_apk_pkgver("not-a-package"), None);
    }

    #[test]
    fn apt_cache_policy_captured_on_debian_12() {
        let p = parse_apt_policy(&data("apt-cache-policy.txt"));
        assert_eq!(
            p["bash"],
            (Some("5.2.15-2+b8".into()), Some("5.2.15-2+b13".into()))
        );
        assert_eq!(p["openssh-server"].0, p["openssh-server"].1);
        let p =
            parse_apt_policy("foo:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n");
        assert_eq!(p["foo"], (None, None));
    }

    #[test]
    fn apt_get_simulation_captured_on_debian_12() {
        let rows = parse_apt_sim(&data("apt-get-s-upgrade.txt"));
        assert_eq!(rows.len(), 5);
        assert_eq!(
            rows[1],
            (
                "bash".into(),
                Some("5.2.15-2+b8".into()),
                Some("5.2.15-2+b13".into())
            )
        );
        assert_eq!(rows[2].2.as_deref(), Some("1.10.1-3+deb12u1"));
        assert_eq!(
            parse_apt_sim("Inst newpkg (1.0-1 Debian:12.15/oldstable [all])\nRemv old [2.0]\n"),
            vec![
                ("newpkg".into(), None, Some("1.0-1".into())),
                ("old".into(), Some("2.0".into()), None)
            ]
        );
    }

    #[test]
    fn dnf_lists_and_rpm_version_order() {
        let text = "Available Packages\nnginx.x86_64          2:1.20.1-14.el9_2.1          appstream\nvery-long-package-name-here.noarch\n                      1.0-1.el9          epel\n";
        let rows = parse_dnf_list(text);
        assert_eq!(
            rows,
            vec![
                (
                    "nginx".into(),
                    "x86_64".into(),
                    "2:1.20.1-14.el9_2.1".into()
                ),
                (
                    "very-long-package-name-here".into(),
                    "noarch".into(),
                    "1.0-1.el9".into()
                )
            ]
        );
        assert_eq!(rpmvercmp("1.0", "1.0"), Ordering::Equal);
        assert_eq!(rpmvercmp("1.10", "1.9"), Ordering::Greater);
        assert_eq!(rpmvercmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(rpmvercmp("1.0a", "1.0"), Ordering::Greater);
        assert_eq!(rpmvercmp("el9_4", "el9"), Ordering::Greater);
        assert_eq!(evr_cmp("1:3.0.7-27.el9", "3.0.9-1.el9"), Ordering::Greater);
        assert_eq!(evr_cmp("3.0.7-27.el9", "3.0.7-28.el9"), Ordering::Less);
    }

    #[test]
    fn names_and_pins() {
        assert_eq!(names(&Some(json!("a, b"))), vec!["a", "b"]);
        assert_eq!(names(&Some(json!(["x=1.0"]))), vec!["x=1.0"]);
        assert_eq!(
            split_pin("nginx=1.22*"),
            ("nginx".into(), Some("1.22*".into()))
        );
        assert_eq!(split_pin("nginx"), ("nginx".into(), None));
        assert_eq!(
            PkgState::parse("apt", Some("removed")),
            Ok(PkgState::Absent)
        );
        assert!(PkgState::parse("apt", Some("gone")).is_err());
        let s = sections("junk\n@@a\n1\n@@b\n@@a\n2\n");
        assert_eq!(s["a"], "1\n2\n");
        assert_eq!(s["b"], "");
    }
}
