//! system, kernel, hostname, distribution, os_family, pkg_mgr and service_mgr facts.

use std::collections::HashMap;

use super::{s, Facts, Platform, Sections};

pub(super) fn collect(sec: &Sections, f: &mut Facts) -> Platform {
    // `uname -snrvm`: system, nodename and release never hold spaces, nor does the machine
    // (last); the kernel version between them does.
    let line = sec.lines("uname").next().unwrap_or("").trim();
    let mut rest = line;
    let mut word = || {
        let w = rest.split_whitespace().next().unwrap_or("");
        rest = rest.trim_start()[w.len()..].trim_start();
        w.to_string()
    };
    let system = word();
    let nodename = word();
    let kernel = word();
    let (kernel_version, machine) = match rest.rsplit_once(char::is_whitespace) {
        Some((v, m)) => (v.trim().to_string(), m.to_string()),
        None => (String::new(), rest.to_string()),
    };
    f.insert("system".into(), s(&system));
    f.insert("kernel".into(), s(&kernel));
    f.insert("kernel_version".into(), s(&kernel_version));
    f.insert("machine".into(), s(&machine));
    f.insert("architecture".into(), s(&machine));
    f.insert("nodename".into(), s(&nodename));
    let hostname = nodename.split('.').next().unwrap_or("").to_string();
    f.insert("hostname".into(), s(&hostname));
    let fqdn = sec
        .lines("fqdn")
        .next()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains(' '))
        .unwrap_or(&nodename)
        .to_string();
    let domain = fqdn.split_once('.').map(|(_, d)| d).unwrap_or("");
    f.insert("domain".into(), s(domain));
    f.insert("fqdn".into(), s(&fqdn));
    if let Some(id) = sec.lines("machine-id").next() {
        f.insert("machine_id".into(), s(id.trim()));
    }

    let dist = distribution(sec, &system, &kernel, &kernel_version);
    let exists: Vec<&str> = sec.lines("exists").collect();
    let pkg = pkg_mgr(&exists, &system, &dist);
    let svc = service_mgr(sec, &exists, &system, &dist.name);
    f.insert("distribution".into(), s(&dist.name));
    f.insert("distribution_version".into(), s(&dist.version));
    f.insert("distribution_major_version".into(), s(&dist.major));
    f.insert("distribution_release".into(), s(&dist.release));
    if let Some(minor) = &dist.minor {
        f.insert("distribution_minor_version".into(), s(minor));
    }
    f.insert("os_family".into(), s(&dist.os_family));
    f.insert("pkg_mgr".into(), s(pkg));
    f.insert("service_mgr".into(), s(svc));
    Platform {
        system,
        architecture: machine,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Dist {
    pub name: String,
    pub version: String,
    pub major: String,
    pub release: String,
    pub minor: Option<String>,
    pub os_family: String,
}

/// `KEY=value` lines of an os-release file, quotes removed.
pub(super) fn os_release(text: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1]
                .replace("\\\"", "\"")
                .replace("\\\\", "\\")
        } else {
            v.to_string()
        };
        m.insert(k.trim().to_string(), v);
    }
    m
}

/// Ansible's distribution name for an os-release `ID`.
fn name_for_id(id: &str, os_name: Option<&str>) -> String {
    let known = match id {
        "rhel" | "redhat" => "RedHat",
        "centos" => "CentOS",
        "rocky" => "Rocky",
        "almalinux" => "AlmaLinux",
        "fedora" => "Fedora",
        "ol" | "oracle" => "OracleLinux",
        "amzn" => "Amazon",
        "debian" | "raspbian" => "Debian",
        "ubuntu" => "Ubuntu",
        "linuxmint" => "Linux Mint",
        "kali" => "Kali",
        "devuan" => "Devuan",
        "pop" => "Pop!_OS",
        "neon" => "KDE neon",
        "alpine" => "Alpine",
        "arch" | "archarm" => "Archlinux",
        "manjaro" | "manjaro-arm" => "Manjaro",
        "opensuse-leap" => "openSUSE Leap",
        "opensuse-tumbleweed" => "openSUSE Tumbleweed",
        "opensuse-microos" => "openSUSE MicroOS",
        "sles" => "SLES",
        "sled" => "SLED",
        "sles_sap" => "SLES_SAP",
        "gentoo" => "Gentoo",
        "clear-linux-os" => "Clear Linux OS",
        "flatcar" => "Flatcar",
        "eurolinux" => "EuroLinux",
        "cloudlinux" => "CloudLinux",
        "virtuozzo" => "Virtuozzo",
        "openEuler" | "openeuler" => "openEuler",
        "slackware" => "Slackware",
        "void" => "Void",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    if let Some(n) = os_name.filter(|n| !n.is_empty()) {
        return n.to_string();
    }
    if id.is_empty() {
        return "OtherLinux".to_string();
    }
    let mut c = id.chars();
    match c.next() {
        Some(first) => first
            .to_uppercase()
            .chain(c.flat_map(char::to_lowercase))
            .collect(),
        None => "OtherLinux".to_string(),
    }
}

/// Ansible's OS_FAMILY map: a distribution's family, or the distribution itself.
pub(super) fn os_family(distribution: &str) -> String {
    const MAP: &[(&str, &[&str])] = &[
        (
            "RedHat",
            &[
                "RedHat",
                "Fedora",
                "CentOS",
                "Scientific",
                "SLC",
                "Ascendos",
                "CloudLinux",
                "PSBM",
                "OracleLinux",
                "OVS",
                "OEL",
                "Amazon",
                "Amzn",
                "Virtuozzo",
                "XenServer",
                "Alibaba",
                "EulerOS",
                "openEuler",
                "AlmaLinux",
                "Rocky",
                "TencentOS",
                "EuroLinux",
                "Kylin Linux Advanced Server",
                "MIRACLE",
            ],
        ),
        (
            "Debian",
            &[
                "Debian",
                "Ubuntu",
                "Raspbian",
                "Neon",
                "KDE neon",
                "Linux Mint",
                "SteamOS",
                "Devuan",
                "Kali",
                "Cumulus Linux",
                "Pop!_OS",
                "Parrot",
                "Pardus GNU/Linux",
                "Uos",
                "Deepin",
                "OSMC",
            ],
        ),
        (
            "Suse",
            &[
                "SuSE",
                "SLES",
                "SLED",
                "openSUSE",
                "openSUSE Tumbleweed",
                "SLES_SAP",
                "SUSE_LINUX",
                "openSUSE Leap",
                "ALP-Dolomite",
                "SL-Micro",
                "openSUSE MicroOS",
            ],
        ),
        ("Archlinux", &["Archlinux", "Antergos", "Manjaro"]),
        ("Mandrake", &["Mandrake", "Mandriva"]),
        (
            "Solaris",
            &["Solaris", "Nexenta", "OmniOS", "OpenIndiana", "SmartOS"],
        ),
        ("Slackware", &["Slackware"]),
        ("Altlinux", &["Altlinux"]),
        ("SMGL", &["SMGL"]),
        ("Gentoo", &["Gentoo", "Funtoo"]),
        ("Alpine", &["Alpine"]),
        ("AIX", &["AIX"]),
        ("HP-UX", &["HPUX"]),
        ("Darwin", &["MacOSX"]),
        ("FreeBSD", &["FreeBSD", "TrueOS"]),
        ("ClearLinux", &["Clear Linux OS", "Clear Linux Mix"]),
        (
            "DragonFly",
            &[
                "DragonflyBSD",
                "DragonFlyBSD",
                "Gentoo/DragonflyBSD",
                "Gentoo/DragonFlyBSD",
            ],
        ),
        ("NetBSD", &["NetBSD"]),
        ("Flatcar", &["Flatcar"]),
    ];
    MAP.iter()
        .find(|(_, names)| names.contains(&distribution))
        .map(|(fam, _)| fam.to_string())
        .unwrap_or_else(|| distribution.to_string())
}

/// The codename in an os-release VERSION: `9.4 (Plow)` -> Plow, `20.04.6 LTS (Focal Fossa)` -> Focal Fossa.
fn codename_from_version(version: &str) -> Option<String> {
    let open = version.find('(')?;
    let close = version[open..].find(')')? + open;
    let inner = version[open + 1..close].trim();
    (!inner.is_empty()).then(|| inner.to_string())
}

fn major_of(version: &str) -> String {
    let m = version.split('.').next().unwrap_or("");
    if m.is_empty() {
        "NA".to_string()
    } else {
        m.to_string()
    }
}

pub(super) fn distribution(
    sec: &Sections,
    system: &str,
    kernel: &str,
    kernel_version: &str,
) -> Dist {
    let mut d = Dist {
        name: system.to_string(),
        version: kernel_version.to_string(),
        major: "NA".to_string(),
        release: kernel.to_string(),
        minor: None,
        os_family: String::new(),
    };
    match system {
        "Linux" => linux_distribution(sec, &mut d),
        "Darwin" => {
            d.name = "MacOSX".to_string();
            let v = sec
                .lines("sw_vers")
                .find_map(|l| l.strip_prefix("ProductVersion:"))
                .map(|v| v.trim().to_string())
                .unwrap_or_default();
            if !v.is_empty() {
                d.major = major_of(&v);
                d.version = v;
            }
            // Ansible keeps platform.release(), the Darwin kernel release, as the "release".
            d.release = kernel.to_string();
        }
        "FreeBSD" => {
            d.release = kernel.to_string();
            let mut parts = kernel.split(['.', '-']);
            if let (Some(a), Some(b)) = (parts.next(), parts.next()) {
                if a.chars().all(|c| c.is_ascii_digit()) && b.chars().all(|c| c.is_ascii_digit()) {
                    d.major = a.to_string();
                    d.version = format!("{a}.{b}");
                }
            }
        }
        "OpenBSD" => {
            d.version = kernel.to_string();
            d.release = "release".to_string();
        }
        "NetBSD" => d.major = major_of(kernel),
        _ => {}
    }
    d.os_family = os_family(&d.name);
    d
}

fn linux_distribution(sec: &Sections, d: &mut Dist) {
    let osr = os_release(sec.get("os-release"));
    let get = |k: &str| osr.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let id = get("ID").unwrap_or("").to_lowercase();
    d.name = name_for_id(&id, get("NAME"));
    d.version = get("VERSION_ID").unwrap_or("NA").to_string();
    d.release = get("VERSION_CODENAME")
        .or_else(|| get("UBUNTU_CODENAME"))
        .map(str::to_string)
        .or_else(|| get("VERSION").and_then(codename_from_version))
        .unwrap_or_else(|| "NA".to_string());

    // The distribution's own release files, as Ansible reads them first.
    let redhat = sec.get("etc/redhat-release").trim();
    let alpine = sec.get("etc/alpine-release").trim();
    if !redhat.is_empty() && osr.is_empty() {
        if redhat.contains("Red Hat") {
            d.name = "RedHat".into();
        } else if let Some(w) = redhat.split_whitespace().next() {
            d.name = w.to_string();
        }
        if let Some(v) = redhat
            .split_whitespace()
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        {
            d.version = v.to_string();
        }
        if let Some(c) = codename_from_version(redhat) {
            d.release = c;
        }
    }
    if d.name == "CentOS" {
        if redhat.contains("CentOS Stream") {
            d.release = "Stream".into();
        } else if let Some(v) = redhat
            .split_whitespace()
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        {
            // CentOS: major.minor from the release file (os-release only has the major).
            d.version = v.split('.').take(2).collect::<Vec<_>>().join(".");
        }
    }
    if !alpine.is_empty() {
        d.name = "Alpine".into();
        d.version = alpine.lines().next().unwrap_or(alpine).trim().to_string();
    }
    if d.name == "Debian" {
        if let Some(c) = get("PRETTY_NAME").and_then(codename_from_version) {
            d.release = c;
        }
        for line in sec.get("etc/debian_version").lines() {
            let mut it = line.trim().split('.');
            if let (Some(a), Some(b)) = (it.next(), it.next()) {
                let digits = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit());
                if digits(a) && digits(b) {
                    d.minor = Some(b.to_string());
                }
            }
        }
    }
    d.major = major_of(&d.version);
}

/// Ansible's pkg_mgr collector: the last package manager found on disk (in Ansible's order),
/// then the distribution family's official one where the family has one.
pub(super) fn pkg_mgr(exists: &[&str], system: &str, d: &Dist) -> &'static str {
    const PKG_MGRS: &[(&str, &str)] = &[
        ("/usr/bin/rpm-ostree", "atomic_container"),
        ("/usr/bin/yum", "yum"),
        ("/usr/bin/dnf", "dnf"),
        ("/usr/bin/dnf5", "dnf5"),
        ("/usr/bin/apt-get", "apt"),
        ("/usr/bin/zypper", "zypper"),
        ("/usr/sbin/urpmi", "urpmi"),
        ("/usr/bin/pacman", "pacman"),
        ("/bin/opkg", "opkg"),
        ("/usr/pkg/bin/pkgin", "pkgin"),
        ("/opt/local/bin/pkgin", "pkgin"),
        ("/opt/tools/bin/pkgin", "pkgin"),
        ("/opt/local/bin/port", "macports"),
        ("/usr/local/bin/brew", "homebrew"),
        ("/opt/homebrew/bin/brew", "homebrew"),
        ("/sbin/apk", "apk"),
        ("/usr/sbin/pkg", "pkgng"),
        ("/usr/sbin/swlist", "swdepot"),
        ("/usr/bin/emerge", "portage"),
        ("/usr/sbin/pkgadd", "svr4pkg"),
        ("/usr/bin/swupd", "swupd"),
        ("/usr/sbin/sorcery", "sorcery"),
        ("/usr/bin/installp", "installp"),
    ];
    if system == "OpenBSD" {
        return "openbsd_pkg";
    }
    let present = |p: &str| exists.contains(&p);
    let mut found = "unknown";
    for (path, name) in PKG_MGRS {
        if present(path) {
            found = name;
        }
    }
    match d.os_family.as_str() {
        "RedHat" => {
            if present("/run/ostree-booted") {
                return "atomic_container";
            }
            let major: Option<u32> = d.major.parse().ok();
            if d.name == "Fedora" {
                match major {
                    Some(m) if m < 23 => "yum",
                    Some(m) if m >= 39 => "dnf5",
                    _ => "dnf",
                }
            } else {
                match major {
                    Some(m) if m < 8 => "yum",
                    _ => "dnf",
                }
            }
        }
        "Debian" => "apt",
        "Altlinux" if found == "apt" => "apt_rpm",
        _ => found,
    }
}

/// Ansible's service_mgr collector: PID 1's name when it names an init, else what the
/// platform and the files on disk say.
pub(super) fn service_mgr(
    sec: &Sections,
    exists: &[&str],
    system: &str,
    distribution: &str,
) -> String {
    let present = |p: &str| exists.contains(&p);
    let has_cmd = |c: &str| exists.iter().any(|e| e.strip_prefix("cmd:") == Some(c));
    let sbin_init = sec.lines("sbin-init").next().map(str::trim);
    let mut proc1 = sec
        .lines("proc1")
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| {
            !l.is_empty() && l != "COMMAND" && !l.starts_with(|c: char| c.is_ascii_digit())
        });
    if proc1.is_none() {
        proc1 = sbin_init.map(str::to_string);
    }
    let proc1 = proc1
        .map(|p| p.rsplit('/').next().unwrap_or("").trim().to_string())
        .filter(|p| p != "init" && !p.ends_with("sh") && !p.is_empty());
    if let Some(p) = proc1 {
        return match p.as_str() {
            "procd" => "openwrt_init",
            "runit" => "runit",
            "svscan" => "svc",
            "openrc" | "openrc-init" => "openrc",
            "systemd" => "systemd",
            "launchd" => "launchd",
            "upstart" => "upstart",
            "dinit" => "dinit",
            "s6-svscan" => "s6",
            // An init Ansible has no name for: it reports PID 1's own name.
            other => other,
        }
        .to_string();
    }
    if distribution == "MacOSX" {
        return "launchd".to_string();
    }
    if system.contains("BSD") || system == "Bitrig" || system == "DragonFly" {
        return "bsdinit".to_string();
    }
    match system {
        "AIX" => return "src".to_string(),
        "SunOS" => return "smf".to_string(),
        _ => {}
    }
    if distribution == "OpenWrt" {
        return "openwrt_init".to_string();
    }
    if system == "Linux" {
        let canary = [
            "/run/systemd/system/",
            "/dev/.run/systemd/",
            "/dev/.systemd/",
        ];
        if has_cmd("systemctl") && canary.iter().any(|c| present(c)) {
            return "systemd".to_string();
        }
        if has_cmd("initctl") && present("/etc/init/") {
            return "upstart".to_string();
        }
        if present("/sbin/openrc") {
            return "openrc".to_string();
        }
        if has_cmd("systemctl")
            && sbin_init.map(|l| l.rsplit('/').next() == Some("systemd")) == Some(true)
        {
            return "systemd".to_string();
        }
        if present("/etc/init.d/") {
            return "sysvinit".to_string();
        }
        if present("/etc/dinit.d/") {
            return "dinit".to_string();
        }
    }
    "service".to_string()
}
