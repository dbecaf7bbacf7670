//! The `updates` check: pending (security) updates, days since the last package update, a
//! pending reboot, an OS version floor and automatic updates, on Debian/Ubuntu, RHEL/Fedora,
//! Alpine, macOS and Windows.
//!
//! Arguments (all optional, at least one):
//! - `pending`, `pending_security`, `days_since_update`: graded levels (`{warn: N, fail: M}`
//!   or a number = fail at or past it);
//! - `reboot_required: false`: a pending reboot fails;
//! - `min_os_version: {macos: "14.5", ubuntu: "22.04", ...}`: the host's
//!   `distribution_version` must be at least the entry for its platform (a platform not
//!   listed skips this criterion);
//! - `auto_updates: true`: automatic updates must be enabled (`false`: must be disabled).
//!
//! The status is the worst of the criteria; the message names the worst one.
//! `finding.pending` and `finding.security` (plain name lists) are left for remediation tasks.
//!
//! Where the facts come from (decisions):
//! - Debian/Ubuntu: `apt-get -s dist-upgrade` `Inst` lines with an installed version
//!   (so packages `upgrade` would keep back still count); security = an origin whose suite ends
//!   in `-security`. Cache age = newest mtime of `/var/lib/apt/lists{,/partial}`. Last update =
//!   the later of `/var/lib/apt/periodic/upgrade-stamp`'s mtime (unattended-upgrades ran) and
//!   the `End-Date` of the last `history.log*` transaction with an `Upgrade:` line and no
//!   `Error:` line (converted to epoch by the host's own `date`, since the log is in local time).
//!   Reboot = `/var/run/reboot-required` exists. Auto = `APT::Periodic::Unattended-Upgrade` is
//!   non-zero and the `unattended-upgrades` package is installed.
//! - RHEL/Fedora: `dnf -q check-update` (exit 100 = updates, 0 = none, else error);
//!   `dnf -q updateinfo list --security` (distinct packages); last update = newest rpm
//!   `INSTALLTIME` (any transaction that changed packages, an epoch, no date parsing);
//!   reboot = `needs-restarting -r` (exit 1 = needed); auto = `dnf-automatic-install.timer`
//!   enabled, or `dnf-automatic.timer` (or dnf5's) enabled with `apply_updates = yes`.
//! - Alpine: `apk version -l '<'`; no security classification exists, so `pending_security`
//!   is skipped with a reason; last update = mtime of `/lib/apk/db/installed`; reboot = the
//!   running kernel's modules are gone (`/lib/modules/$(uname -r)`), unknown without any
//!   `/lib/modules` (containers: skipped); auto = a cron/periodic job runs `apk upgrade`.
//! - macOS: `softwareupdate --list --no-scan` (both formats); security = label/title with
//!   "Security" (incl. Rapid/Background Security Responses); last update =
//!   `LastFullSuccessfulDate`; auto = `AutomaticCheckEnabled`, `AutomaticDownload` and
//!   `CriticalUpdateInstall` all 1 (managed preferences first); no reboot signal: skipped.
//! - Windows: the Windows Update COM searcher (`IsInstalled=0 and Type='Software' and
//!   IsHidden=0`), security = an MSRC severity or the "Security Updates" category; last update
//!   = the later of `Microsoft.Update.AutoUpdate`'s `LastInstallationSuccessDate` and the
//!   newest `Get-HotFix` `InstalledOn`, emitted as UTC ISO dates; reboot = the WindowsUpdate
//!   `RebootRequired` or CBS `RebootPending` key; auto = `wuauserv` not disabled, policy
//!   `NoAutoUpdate` absent/0 and `AUOptions` absent or ≥ 3 (no policy = Windows' automatic
//!   default).
//! - Days are counted from the host's clock (facts `date_time.epoch`). A missing command is an
//!   error, never a pass. An apt/dnf cache older than 7 days is noted in the message.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::{is_windows, worst, Check, CheckCtx, Finding, Grade, Invalid, Probe, ProbeOut, Status};
use crate::modules::args::parse_bool;
use crate::template::version::cmp_for;

/// The platforms the four families know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Os {
    Debian,
    RedHat,
    Alpine,
    Mac,
    Windows,
    Other,
}

pub(crate) fn os_of(facts: &Map<String, Value>) -> Os {
    if is_windows(facts) {
        return Os::Windows;
    }
    let f = |k: &str| facts.get(k).and_then(Value::as_str).unwrap_or("");
    if f("system") == "Darwin" {
        return Os::Mac;
    }
    match f("os_family") {
        "Debian" => Os::Debian,
        "RedHat" => Os::RedHat,
        "Alpine" => Os::Alpine,
        "Darwin" => Os::Mac,
        "Windows" => Os::Windows,
        _ => Os::Other,
    }
}

/// `min_os_version` keys and the ordering each platform's versions follow.
const OS_KEYS: &[(&str, &str)] = &[
    ("macos", "loose"),
    ("ubuntu", "dpkg"),
    ("debian", "dpkg"),
    ("rhel", "rpm"),
    ("rocky", "rpm"),
    ("alma", "rpm"),
    ("fedora", "rpm"),
    ("alpine", "loose"),
    ("windows", "loose"),
];

/// The `min_os_version` key of a host.
fn os_key(facts: &Map<String, Value>) -> Option<&'static str> {
    if os_of(facts) == Os::Windows {
        return Some("windows");
    }
    if os_of(facts) == Os::Mac {
        return Some("macos");
    }
    let d = facts
        .get("distribution")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    Some(match d.as_str() {
        "ubuntu" => "ubuntu",
        "debian" => "debian",
        "redhat" | "rhel" => "rhel",
        "rocky" => "rocky",
        "almalinux" | "alma" => "alma",
        "fedora" => "fedora",
        "alpine" => "alpine",
        "macosx" | "macos" => "macos",
        _ => return None,
    })
}

pub(crate) fn host_epoch(facts: &Map<String, Value>) -> Option<i64> {
    match facts.get("date_time")?.get("epoch")? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

struct UpdatesCheck {
    pending: Option<Grade>,
    pending_security: Option<Grade>,
    days_since_update: Option<Grade>,
    reboot_required: Option<bool>,
    min_os_version: Vec<(String, String)>,
    auto_updates: Option<bool>,
}

const ARGS: &[&str] = &[
    "pending",
    "pending_security",
    "days_since_update",
    "reboot_required",
    "min_os_version",
    "auto_updates",
];

pub fn updates(v: &Value) -> Result<Box<dyn Check>, Invalid> {
    let m = v.as_object().ok_or_else(|| {
        Invalid(
            format!("`updates` takes a mapping of criteria, not {v}"),
            Some(format!("updates takes: {}", ARGS.join(", "))),
        )
    })?;
    for k in m.keys() {
        if !ARGS.contains(&k.as_str()) {
            return Err(Invalid(
                format!("unknown option `{k}` for the `updates` check"),
                Some(format!("updates takes: {}", ARGS.join(", "))),
            ));
        }
    }
    let grade = |k: &str| -> Result<Option<Grade>, Invalid> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => Grade::parse(x)
                .map(Some)
                .map_err(|e| Invalid(format!("`{k}` of `updates`: {}", e.0), e.1)),
        }
    };
    let boolean = |k: &str| -> Result<Option<bool>, Invalid> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => parse_bool(x).map(Some).ok_or_else(|| {
                Invalid(
                    format!("`{k}` of `updates` must be true or false, not {x}"),
                    None,
                )
            }),
        }
    };
    let mut min_os_version = Vec::new();
    match m.get("min_os_version") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            for (k, ver) in o {
                let key = k.to_ascii_lowercase();
                if !OS_KEYS.iter().any(|(n, _)| *n == key) {
                    return Err(Invalid(
                        format!("unknown platform `{k}` in `min_os_version`"),
                        Some(format!(
                            "platforms: {}",
                            OS_KEYS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
                        )),
                    ));
                }
                let ver = match ver {
                    Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
                    Value::Number(n) => n.to_string(),
                    other => {
                        return Err(Invalid(
                            format!("`min_os_version.{k}` must be a version, not {other}"),
                            None,
                        ))
                    }
                };
                min_os_version.push((key, ver));
            }
        }
        Some(other) => {
            return Err(Invalid(
                format!("`min_os_version` must map platforms to versions, not {other}"),
                Some("e.g. `min_os_version: { macos: \"14.5\", ubuntu: \"22.04\" }`".into()),
            ))
        }
    }
    let c = UpdatesCheck {
        pending: grade("pending")?,
        pending_security: grade("pending_security")?,
        days_since_update: grade("days_since_update")?,
        reboot_required: boolean("reboot_required")?,
        min_os_version,
        auto_updates: boolean("auto_updates")?,
    };
    if c.pending.is_none()
        && c.pending_security.is_none()
        && c.days_since_update.is_none()
        && c.reboot_required.is_none()
        && c.min_os_version.is_empty()
        && c.auto_updates.is_none()
    {
        return Err(Invalid(
            "the `updates` check needs at least one criterion".into(),
            Some(format!("updates takes: {}", ARGS.join(", "))),
        ));
    }
    Ok(Box::new(c))
}

// ---------------------------------------------------------------- probes

const DEB_PENDING: &str = "export LC_ALL=C; echo \"cache=$(stat -c %Y /var/lib/apt/lists/partial /var/lib/apt/lists 2>/dev/null | sort -n | tail -1)\"; apt-get -s dist-upgrade";
const DEB_LAST: &str = "echo \"stamp=$(stat -c %Y /var/lib/apt/periodic/upgrade-stamp 2>/dev/null)\"; \
d=$(ls -tr /var/log/apt/history.log* 2>/dev/null | while read -r f; do zcat -f \"$f\" 2>/dev/null; done | \
awk '/^Start-Date:/{u=0;e=0} /^Upgrade:/{u=1} /^Error:/{e=1} /^End-Date:/{if(u&&!e)d=$2\" \"$3} END{print d}'); \
echo \"history_date=$d\"; if [ -n \"$d\" ]; then echo \"history=$(date -d \"$d\" +%s)\"; fi";
const DEB_REBOOT: &str = "if [ -e /var/run/reboot-required ]; then echo required=yes; cat /var/run/reboot-required.pkgs 2>/dev/null; else echo required=no; fi";
const DEB_AUTO: &str = "command -v apt-config >/dev/null 2>&1 || exit 127; apt-config dump APT::Periodic; echo \"unattended-upgrades=$(dpkg-query -W -f='${db:Status-Abbrev}' unattended-upgrades 2>/dev/null)\"";

const RH_PENDING: &str = "echo \"cache=$(stat -c %Y /var/cache/dnf/*/repodata/repomd.xml /var/cache/libdnf5/*/repodata/repomd.xml 2>/dev/null | sort -n | tail -1)\"; \
if command -v dnf >/dev/null 2>&1; then dnf -q check-update; else yum -q check-update; fi";
const RH_SECURITY: &str = "if command -v dnf >/dev/null 2>&1; then dnf -q updateinfo list --security; else yum -q updateinfo list security; fi";
const RH_LAST: &str = "command -v rpm >/dev/null 2>&1 || exit 127; echo \"last=$(rpm -qa --qf '%{INSTALLTIME}\\n' | sort -n | tail -1)\"";
const RH_REBOOT: &str = "if command -v needs-restarting >/dev/null 2>&1; then needs-restarting -r; else dnf -q needs-restarting -r; fi";
const RH_AUTO: &str = "command -v systemctl >/dev/null 2>&1 || exit 127; for t in dnf-automatic-install.timer dnf-automatic.timer dnf5-automatic.timer; do echo \"$t=$(systemctl is-enabled $t 2>/dev/null)\"; done; \
echo \"apply_updates=$(sed -n 's/^[[:space:]]*apply_updates[[:space:]]*=[[:space:]]*//p' /etc/dnf/automatic.conf 2>/dev/null | tail -1)\"";

const APK_PENDING: &str = "echo \"cache=$(stat -c %Y /var/cache/apk/APKINDEX.* /etc/apk/cache/APKINDEX.* 2>/dev/null | sort -n | tail -1)\"; apk version -l '<'";
const APK_LAST: &str = "echo \"last=$(stat -c %Y /lib/apk/db/installed)\"";
const APK_REBOOT: &str = "if [ -n \"$(ls /lib/modules 2>/dev/null)\" ]; then if [ -d \"/lib/modules/$(uname -r)\" ]; then echo required=no; else echo required=yes; fi; else echo required=unknown; fi";
const APK_AUTO: &str = "echo \"jobs=$(grep -ls 'apk .*upgrade' /etc/periodic/*/* /etc/crontabs/* 2>/dev/null | tr '\\n' ' ')\"";

const MAC_PENDING: &str = "softwareupdate --list --no-scan 2>&1";
const MAC_LAST: &str = "command -v defaults >/dev/null 2>&1 || exit 127; echo \"last=$(defaults read /Library/Preferences/com.apple.SoftwareUpdate LastFullSuccessfulDate 2>/dev/null)\"";
const MAC_AUTO: &str = "command -v defaults >/dev/null 2>&1 || exit 127; for k in AutomaticCheckEnabled AutomaticDownload CriticalUpdateInstall; do \
v=$(defaults read '/Library/Managed Preferences/com.apple.SoftwareUpdate' $k 2>/dev/null || defaults read /Library/Preferences/com.apple.SoftwareUpdate $k 2>/dev/null); echo \"$k=$v\"; done";

const WIN_PENDING: &str = r#"$r = (New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher().Search("IsInstalled=0 and Type='Software' and IsHidden=0")
@($r.Updates | ForEach-Object { [ordered]@{ Title = [string]$_.Title; MsrcSeverity = [string]$_.MsrcSeverity; KBArticleIDs = @($_.KBArticleIDs | ForEach-Object { [string]$_ }); Categories = @($_.Categories | ForEach-Object { [string]$_.Name }); RebootRequired = [bool]$_.RebootRequired } }) | ConvertTo-Json -Depth 4 -Compress"#;
const WIN_LAST: &str = r#"$wu = $null; try { $d = (New-Object -ComObject Microsoft.Update.AutoUpdate).Results.LastInstallationSuccessDate; if ($d -and $d.Year -gt 1601) { $wu = $d.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ') } } catch {}
$h = Get-HotFix -ErrorAction SilentlyContinue | Where-Object { $_.InstalledOn } | Sort-Object InstalledOn -Descending | Select-Object -First 1
$hf = if ($h) { $h.InstalledOn.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ') } else { $null }
[ordered]@{ wu_last_install = $wu; hotfix_last = $hf; hotfix_id = if ($h) { [string]$h.HotFixID } else { $null } } | ConvertTo-Json -Compress"#;
const WIN_REBOOT: &str = r#"[ordered]@{ windows_update = [bool](Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'); cbs = [bool](Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') } | ConvertTo-Json -Compress"#;
const WIN_AUTO: &str = r#"$p = Get-ItemProperty 'HKLM:\Software\Policies\Microsoft\Windows\WindowsUpdate\AU' -ErrorAction SilentlyContinue
$s = Get-Service wuauserv -ErrorAction SilentlyContinue
[ordered]@{ NoAutoUpdate = if ($p -and $null -ne $p.NoAutoUpdate) { [int]$p.NoAutoUpdate } else { $null }; AUOptions = if ($p -and $null -ne $p.AUOptions) { [int]$p.AUOptions } else { $null }; service_start = if ($s) { [string]$s.StartType } else { $null } } | ConvertTo-Json -Compress"#;

impl UpdatesCheck {
    fn wants_pending(&self) -> bool {
        self.pending.is_some() || self.pending_security.is_some()
    }
}

impl Check for UpdatesCheck {
    fn probes(&self, facts: &Map<String, Value>) -> Vec<Probe> {
        let os = os_of(facts);
        let mut p = Vec::new();
        let mut add = |key: &str, script: &str| p.push(Probe::new(key, script));
        match os {
            Os::Debian => {
                if self.wants_pending() {
                    add("pending", DEB_PENDING);
                }
                if self.days_since_update.is_some() {
                    add("last", DEB_LAST);
                }
                if self.reboot_required.is_some() {
                    add("reboot", DEB_REBOOT);
                }
                if self.auto_updates.is_some() {
                    add("auto", DEB_AUTO);
                }
            }
            Os::RedHat => {
                if self.wants_pending() {
                    add("pending", RH_PENDING);
                }
                if self.pending_security.is_some() {
                    add("security", RH_SECURITY);
                }
                if self.days_since_update.is_some() {
                    add("last", RH_LAST);
                }
                if self.reboot_required.is_some() {
                    add("reboot", RH_REBOOT);
                }
                if self.auto_updates.is_some() {
                    add("auto", RH_AUTO);
                }
            }
            Os::Alpine => {
                if self.pending.is_some() {
                    add("pending", APK_PENDING);
                }
                if self.days_since_update.is_some() {
                    add("last", APK_LAST);
                }
                if self.reboot_required.is_some() {
                    add("reboot", APK_REBOOT);
                }
                if self.auto_updates.is_some() {
                    add("auto", APK_AUTO);
                }
            }
            Os::Mac => {
                if self.wants_pending() {
                    add("pending", MAC_PENDING);
                }
                if self.days_since_update.is_some() {
                    add("last", MAC_LAST);
                }
                if self.auto_updates.is_some() {
                    add("auto", MAC_AUTO);
                }
            }
            Os::Windows => {
                if self.wants_pending() {
                    add("pending", WIN_PENDING);
                }
                if self.days_since_update.is_some() {
                    add("last", WIN_LAST);
                }
                if self.reboot_required.is_some() {
                    add("reboot", WIN_REBOOT);
                }
                if self.auto_updates.is_some() {
                    add("auto", WIN_AUTO);
                }
            }
            Os::Other => {}
        }
        p
    }

    fn evaluate(&self, ctx: &CheckCtx<'_>) -> Finding {
        let os = os_of(ctx.facts);
        if os == Os::Other {
            return Finding::skip(format!(
                "the updates check does not support this platform ({})",
                ctx.fact("distribution")
                    .or(ctx.fact("system"))
                    .unwrap_or("unknown")
            ));
        }
        let mut e = Eval::default();
        if self.wants_pending() {
            self.eval_pending(ctx, os, &mut e);
        }
        if let Some(g) = &self.days_since_update {
            e.expected.insert("days_since_update".into(), g.expected());
            match last_update(ctx, os) {
                Ok((epoch, source)) => match host_now(ctx) {
                    Some(now) => {
                        let days = ((now - epoch).max(0) as f64 / 86_400.0).floor();
                        e.observed
                            .insert("days_since_update".into(), json!(days as i64));
                        e.observed
                            .insert("last_update_source".into(), json!(source));
                        let st = g.grade(days);
                        e.crit(
                            st,
                            format!(
                                "last package update {} day{} ago{}",
                                days as i64,
                                if days as i64 == 1 { "" } else { "s" },
                                level_note(st, g)
                            ),
                        );
                    }
                    None => e.crit(
                        Status::Error,
                        "cannot count days: the host's clock (date_time.epoch) is unknown".into(),
                    ),
                },
                Err(f) => e.crit(f.0, f.1),
            }
        }
        if let Some(allowed) = self.reboot_required {
            e.expected.insert("reboot_required".into(), json!(allowed));
            match reboot(ctx, os) {
                Ok(Some(req)) => {
                    e.observed.insert("reboot_required".into(), json!(req));
                    if req && !allowed {
                        e.crit(Status::Fail, "a reboot is pending to finish updates".into());
                    } else {
                        e.crit(
                            Status::Pass,
                            if req {
                                "a reboot is pending".into()
                            } else {
                                "no reboot is pending".into()
                            },
                        );
                    }
                }
                Ok(None) => e.crit(
                    Status::Skip,
                    "this platform gives no pending-reboot signal".into(),
                ),
                Err(f) => e.crit(f.0, f.1),
            }
        }
        if !self.min_os_version.is_empty() {
            let mut exp = Map::new();
            for (k, v) in &self.min_os_version {
                exp.insert(k.clone(), json!(v));
            }
            e.expected
                .insert("min_os_version".into(), Value::Object(exp));
            let key = os_key(ctx.facts);
            let have = ctx.fact("distribution_version").unwrap_or("").trim();
            e.observed.insert("os_version".into(), json!(have));
            match key.and_then(|k| self.min_os_version.iter().find(|(p, _)| p == k)) {
                None => e.crit(
                    Status::Skip,
                    format!(
                        "no minimum OS version is set for {}",
                        key.unwrap_or("this platform")
                    ),
                ),
                Some(_) if have.is_empty() => e.crit(
                    Status::Error,
                    "the OS version is unknown (no distribution_version fact)".into(),
                ),
                Some((k, min)) => {
                    let ord = OS_KEYS.iter().find(|p| p.0 == k).map(|p| p.1).unwrap();
                    if cmp_for(ord, have, min) == std::cmp::Ordering::Less {
                        e.crit(
                            Status::Fail,
                            format!("{k} {have} is older than the minimum {min}"),
                        );
                    } else {
                        e.crit(Status::Pass, format!("{k} {have} is at least {min}"));
                    }
                }
            }
        }
        if let Some(want) = self.auto_updates {
            e.expected.insert("auto_updates".into(), json!(want));
            match auto_updates(ctx, os) {
                Ok((on, detail)) => {
                    e.observed.insert("auto_updates".into(), json!(on));
                    e.observed
                        .insert("auto_updates_detail".into(), detail.clone());
                    let what = if on { "enabled" } else { "disabled" };
                    if on == want {
                        e.crit(Status::Pass, format!("automatic updates are {what}"));
                    } else {
                        e.crit(Status::Fail, format!("automatic updates are {what}"));
                    }
                }
                Err(f) => e.crit(f.0, f.1),
            }
        }
        e.finish()
    }
}

/// Criteria verdicts as they accumulate.
#[derive(Default)]
struct Eval {
    observed: Map<String, Value>,
    expected: Map<String, Value>,
    crits: Vec<(Status, String)>,
    notes: Vec<String>,
    /// For remediation templates: `finding.pending`, `finding.security` (plain name lists).
    data: Map<String, Value>,
}

impl Eval {
    fn crit(&mut self, s: Status, msg: String) {
        self.crits.push((s, msg));
    }

    fn finish(self) -> Finding {
        let counted: Vec<&(Status, String)> =
            self.crits.iter().filter(|c| c.0 != Status::Skip).collect();
        let (status, mut message) = if counted.is_empty() {
            (
                Status::Skip,
                self.crits
                    .iter()
                    .map(|c| c.1.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        } else {
            let st = counted.iter().fold(Status::Pass, |a, c| worst(a, c.0));
            if st == Status::Pass {
                (
                    st,
                    counted
                        .iter()
                        .map(|c| c.1.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            } else {
                let first = counted.iter().find(|c| c.0 == st).unwrap();
                let others = counted.iter().filter(|c| c.0 != Status::Pass).count() - 1;
                let mut m = first.1.clone();
                if others > 0 {
                    m.push_str(&format!(
                        " (and {others} more problem{})",
                        if others == 1 { "" } else { "s" }
                    ));
                }
                (st, m)
            }
        };
        for n in &self.notes {
            message.push_str("; ");
            message.push_str(n);
        }
        let mut f = Finding::new(
            status,
            Value::Object(self.observed),
            Value::Object(self.expected),
            message,
        );
        if !self.data.is_empty() {
            f.data = Value::Object(self.data);
        }
        f
    }
}

fn level_note(st: Status, g: &Grade) -> String {
    match st {
        Status::Fail => g
            .fail
            .map(|x| format!(" (fail at {x})"))
            .unwrap_or_default(),
        Status::Warn => g
            .warn
            .map(|x| format!(" (warn at {x})"))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn host_now(ctx: &CheckCtx<'_>) -> Option<i64> {
    host_epoch(ctx.facts)
}

type Problem = (Status, String);

/// A probe's output, or why there is none (a missing command is an error).
fn out<'a>(ctx: &'a CheckCtx<'_>, key: &str, what: &str) -> Result<&'a ProbeOut, Problem> {
    let o = ctx.probe(key).map_err(|f| (f.status, f.message))?;
    if o.rc == 127
        || o.stderr.contains("command not found")
        || o.stderr.contains(": not found")
        || o.stderr.contains("is not recognized as")
    {
        return Err((
            Status::Error,
            format!(
                "cannot check: {what} is not available on this host ({})",
                o.stderr.trim()
            ),
        ));
    }
    Ok(o)
}

/// `key=value` lines, in key order (they end up in evidence, which must be deterministic).
pub fn kv(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Leading `cache=<epoch>` line of a pending probe, and the rest.
fn split_cache(text: &str) -> (Option<i64>, &str) {
    if let Some(rest) = text.strip_prefix("cache=") {
        let (first, tail) = rest.split_once('\n').unwrap_or((rest, ""));
        return (first.trim().parse().ok(), tail);
    }
    (None, text)
}

impl UpdatesCheck {
    fn eval_pending(&self, ctx: &CheckCtx<'_>, os: Os, e: &mut Eval) {
        if let Some(g) = &self.pending {
            e.expected.insert("pending".into(), g.expected());
        }
        if let Some(g) = &self.pending_security {
            e.expected.insert("pending_security".into(), g.expected());
        }
        let got = match pending(ctx, os, self.pending_security.is_some()) {
            Ok(p) => p,
            Err(p) => {
                e.crit(p.0, p.1);
                return;
            }
        };
        e.observed.insert("pending".into(), json!(got.names.len()));
        e.observed
            .insert("pending_packages".into(), json!(got.names));
        e.data.insert("pending".into(), json!(got.names));
        if let Some(sec) = &got.security {
            e.observed
                .insert("pending_security".into(), json!(sec.len()));
            e.observed.insert("security_packages".into(), json!(sec));
            e.data.insert("security".into(), json!(sec));
        }
        if let Some(c) = got.cache_epoch {
            if let Some(now) = host_now(ctx) {
                let days = (now - c).max(0) / 86_400;
                e.observed.insert("cache_age_days".into(), json!(days));
                if days > 7 {
                    e.notes.push(format!(
                        "the package cache is {days} days old, so pending counts may be low"
                    ));
                }
            }
        }
        if let Some(g) = &self.pending {
            let n = got.names.len();
            let st = g.grade(n as f64);
            e.crit(
                st,
                format!(
                    "{} pending{}",
                    plural(n, "update", "updates"),
                    level_note(st, g)
                ),
            );
        }
        if let Some(g) = &self.pending_security {
            match &got.security {
                Some(sec) => {
                    let n = sec.len();
                    let st = g.grade(n as f64);
                    e.crit(
                        st,
                        format!(
                            "{} pending{}",
                            plural(n, "security update", "security updates"),
                            level_note(st, g)
                        ),
                    );
                }
                None => e.crit(
                    Status::Skip,
                    got.no_security_reason
                        .clone()
                        .unwrap_or_else(|| "security updates cannot be told apart here".into()),
                ),
            }
        }
    }
}

/// Pending updates as measured on the host.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Pending {
    pub names: Vec<String>,
    /// None when the platform cannot classify security updates.
    pub security: Option<Vec<String>>,
    pub no_security_reason: Option<String>,
    pub cache_epoch: Option<i64>,
}

fn pending(ctx: &CheckCtx<'_>, os: Os, want_security: bool) -> Result<Pending, Problem> {
    match os {
        Os::Debian => {
            let o = out(ctx, "pending", "apt-get")?;
            if o.rc != 0 {
                return Err((
                    Status::Error,
                    format!(
                        "apt-get -s dist-upgrade failed ({}): {}",
                        o.rc,
                        o.stderr.trim()
                    ),
                ));
            }
            let (cache, text) = split_cache(&o.stdout);
            let rows = parse_apt(text);
            Ok(Pending {
                names: rows.iter().map(|r| r.0.clone()).collect(),
                security: Some(rows.iter().filter(|r| r.1).map(|r| r.0.clone()).collect()),
                no_security_reason: None,
                cache_epoch: cache,
            })
        }
        Os::RedHat => {
            let o = out(ctx, "pending", "dnf")?;
            // check-update: 100 = updates available, 0 = none, anything else an error.
            if o.rc != 0 && o.rc != 100 {
                return Err((
                    Status::Error,
                    format!(
                        "dnf check-update failed (exit {}): {}",
                        o.rc,
                        o.stderr.trim()
                    ),
                ));
            }
            let (cache, text) = split_cache(&o.stdout);
            let names = if o.rc == 0 {
                vec![]
            } else {
                parse_dnf_check_update(text)
            };
            let security = if want_security {
                let s = out(ctx, "security", "dnf updateinfo")?;
                if s.rc != 0 {
                    return Err((
                        Status::Error,
                        format!("dnf updateinfo failed (exit {}): {}", s.rc, s.stderr.trim()),
                    ));
                }
                Some(parse_dnf_updateinfo(&s.stdout))
            } else {
                None
            };
            Ok(Pending {
                names,
                security,
                no_security_reason: None,
                cache_epoch: cache,
            })
        }
        Os::Alpine => {
            let mut p = Pending {
                no_security_reason: Some(
                    "Alpine does not classify updates as security updates; use `pending`".into(),
                ),
                ..Default::default()
            };
            if ctx.out.contains_key("pending") {
                let o = out(ctx, "pending", "apk")?;
                if o.rc != 0 {
                    return Err((
                        Status::Error,
                        format!("apk version failed (exit {}): {}", o.rc, o.stderr.trim()),
                    ));
                }
                let (cache, text) = split_cache(&o.stdout);
                p.names = parse_apk_version(text);
                p.cache_epoch = cache;
            }
            Ok(p)
        }
        Os::Mac => {
            let o = out(ctx, "pending", "softwareupdate")?;
            let rows = parse_softwareupdate(&o.stdout)
                .map_err(|m| (Status::Error, format!("softwareupdate: {m}")))?;
            if o.rc != 0 {
                return Err((
                    Status::Error,
                    format!("softwareupdate failed (exit {}): {}", o.rc, o.stdout.trim()),
                ));
            }
            Ok(Pending {
                names: rows.iter().map(|r| r.label.clone()).collect(),
                security: Some(
                    rows.iter()
                        .filter(|r| r.security)
                        .map(|r| r.label.clone())
                        .collect(),
                ),
                ..Default::default()
            })
        }
        Os::Windows => {
            let o = out(ctx, "pending", "the Windows Update agent")?;
            if o.rc != 0 {
                return Err((
                    Status::Error,
                    format!("Windows Update search failed: {}", o.stderr.trim()),
                ));
            }
            let rows = parse_windows_updates(&o.stdout)
                .map_err(|m| (Status::Error, format!("Windows Update: {m}")))?;
            Ok(Pending {
                names: rows.iter().map(|r| r.0.clone()).collect(),
                security: Some(rows.iter().filter(|r| r.1).map(|r| r.0.clone()).collect()),
                ..Default::default()
            })
        }
        Os::Other => Err((Status::Skip, "unsupported platform".into())),
    }
}

// ---------------------------------------------------------------- parsers

/// `apt-get -s upgrade|dist-upgrade` `Inst` lines, or `apt list --upgradable` rows:
/// (package, is a security update). New installs (no `[old]` version) are not updates.
pub fn parse_apt(text: &str) -> Vec<(String, bool)> {
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("Inst ") {
            // Inst <pkg> [<old>] (<new> <origin>[, <origin>...] [<arch>])
            let mut it = rest.splitn(2, ' ');
            let name = it.next().unwrap_or("").to_string();
            let tail = it.next().unwrap_or("");
            if !tail.starts_with('[') {
                continue;
            }
            let origins = tail
                .split_once('(')
                .map(|(_, o)| o.rsplit_once(')').map(|x| x.0).unwrap_or(o))
                .unwrap_or("");
            let security = origins.split([',', ' ']).any(|w| {
                w.split('/')
                    .nth(1)
                    .is_some_and(|s| s.ends_with("-security"))
            });
            if seen.insert(name.clone()) {
                rows.push((name, security));
            }
        } else if line.contains("[upgradable from:") {
            // name/suite[,suite...] newversion arch [upgradable from: old]
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((name, suites)) = first.split_once('/') {
                let security = suites.split(',').any(|s| s.ends_with("-security"));
                if seen.insert(name.to_string()) {
                    rows.push((name.to_string(), security));
                }
            }
        }
    }
    rows
}

/// `dnf check-update` rows `name.arch  [epoch:]version-release  repo`: package names (with
/// arch). Long names wrap onto the next line; the "Obsoleting Packages" section is not counted.
pub fn parse_dnf_check_update(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() {
            pending.clear();
            continue;
        }
        if t.starts_with("Last metadata expiration check")
            || t.starts_with("Updating Subscription Management")
            || t.starts_with("This system is")
            || t.starts_with("Security:")
        {
            continue;
        }
        if t.starts_with("Obsoleting Packages") {
            break;
        }
        pending.extend(t.split_whitespace().map(str::to_string));
        if pending.len() >= 3 {
            let name = pending[0].clone();
            let looks = name.contains('.')
                && pending[1]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit());
            if looks && !names.contains(&name) {
                names.push(name);
            }
            pending.clear();
        }
    }
    names
}

/// `dnf updateinfo list --security` rows, whatever the layout (`ADVISORY Severity/Sec. NEVRA`,
/// `ADVISORY security NEVRA`, with or without a CVE or date column): distinct packages.
pub fn parse_dnf_updateinfo(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 3 {
            continue;
        }
        let is_sec = w.iter().any(|x| {
            let l = x.to_ascii_lowercase();
            l == "security" || l.ends_with("/sec.") || l == "sec"
        });
        if !is_sec {
            continue;
        }
        // The package: the last word that looks like name-version-release.arch.
        let pkg = w.iter().skip(1).rev().find(|x| {
            let l = x.to_ascii_lowercase();
            x.contains('-')
                && x.contains('.')
                && !l.ends_with("/sec.")
                && !l.starts_with("cve-")
                && !x.chars().next().is_some_and(|c| c.is_ascii_digit())
        });
        if let Some(p) = pkg {
            if !out.iter().any(|o| o == p) {
                out.push(p.to_string());
            }
        }
    }
    out
}

/// `apk version -l '<'` rows `pkg-1.2-r3  <  1.2-r5`: package names (the version split off).
pub fn parse_apk_version(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("<"))
        .filter_map(|l| l.split_whitespace().next())
        .map(|nv| split_apk(nv).0.to_string())
        .collect()
}

/// `name-1.2.3-r4` → (`name`, `1.2.3-r4`).
pub fn split_apk(nv: &str) -> (&str, &str) {
    let mut idx = nv.rsplitn(3, '-');
    let (r, v) = (idx.next(), idx.next());
    match (v, idx.next(), r) {
        (Some(v), Some(name), Some(r)) if r.starts_with('r') => (
            name,
            &nv[name.len() + 1..name.len() + 1 + v.len() + 1 + r.len()],
        ),
        _ => match nv.rsplit_once('-') {
            Some((n, v)) => (n, v),
            None => (nv, ""),
        },
    }
}

/// One entry of `softwareupdate --list`.
#[derive(Debug, Clone, PartialEq)]
pub struct MacUpdate {
    pub label: String,
    pub title: String,
    pub version: String,
    pub restart: bool,
    pub security: bool,
}

/// `softwareupdate --list [--no-scan]`, current (`* Label:` + `Title: …, Version: …`) and
/// pre-10.15 (`   * Label-1.0` + `\tTitle (1.0), 3817K [recommended] [restart]`) formats.
pub fn parse_softwareupdate(text: &str) -> Result<Vec<MacUpdate>, String> {
    let mut rows: Vec<MacUpdate> = Vec::new();
    if let Some(l) = text
        .lines()
        .find(|l| l.contains("Error Domain") || l.contains("finished with error"))
    {
        return Err(l.trim().to_string());
    }
    for line in text.lines() {
        let t = line.trim();
        if let Some(label) = t.strip_prefix("* Label:") {
            rows.push(MacUpdate {
                label: label.trim().to_string(),
                title: String::new(),
                version: String::new(),
                restart: false,
                security: false,
            });
        } else if let Some(label) = t.strip_prefix("* ") {
            rows.push(MacUpdate {
                label: label.trim().to_string(),
                title: String::new(),
                version: String::new(),
                restart: false,
                security: false,
            });
        } else if let Some(r) = rows.last_mut() {
            if !r.title.is_empty() || t.is_empty() {
                continue;
            }
            if let Some(rest) = t.strip_prefix("Title:") {
                for field in rest.split(',') {
                    let f = field.trim();
                    if let Some(v) = f.strip_prefix("Version:") {
                        r.version = v.trim().to_string();
                    } else if let Some(v) = f.strip_prefix("Action:") {
                        r.restart = v.trim().eq_ignore_ascii_case("restart");
                    } else if r.title.is_empty() {
                        r.title = f.to_string();
                    }
                }
                if r.title.is_empty() {
                    r.title = rest.trim().to_string();
                }
            } else {
                // Old format: `Title (1.0), 3817K [recommended] [restart]`.
                let (head, _) = t.split_once(", ").unwrap_or((t, ""));
                if let Some((title, ver)) = head.rsplit_once(" (") {
                    r.title = title.to_string();
                    r.version = ver.trim_end_matches(')').to_string();
                } else {
                    r.title = head.to_string();
                }
                r.restart = t.contains("[restart]");
            }
        }
    }
    for r in &mut rows {
        let s = format!("{} {}", r.label, r.title).to_ascii_lowercase();
        r.security = s.contains("security");
    }
    Ok(rows)
}

/// PowerShell's `ConvertTo-Json`: nothing for no objects, an object for one, an array for
/// more. CLIXML or other noise before the JSON is skipped.
pub fn json_list(text: &str) -> Result<Vec<Value>, String> {
    let start = text.find(['[', '{']);
    let Some(start) = start else {
        return if text.trim().is_empty() {
            Ok(vec![])
        } else {
            Err(format!("no JSON in the output: {}", text.trim()))
        };
    };
    let v: Value =
        serde_json::from_str(text[start..].trim()).map_err(|e| format!("bad JSON: {e}"))?;
    Ok(match v {
        Value::Array(a) => a,
        Value::Null => vec![],
        other => vec![other],
    })
}

/// The Windows Update search as JSON: (title, is a security update).
pub fn parse_windows_updates(text: &str) -> Result<Vec<(String, bool)>, String> {
    Ok(json_list(text)?
        .iter()
        .map(|u| {
            let title = u
                .get("Title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let sev = u.get("MsrcSeverity").and_then(Value::as_str).unwrap_or("");
            let cats = match u.get("Categories") {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>(),
                Some(Value::String(s)) => vec![s.as_str()],
                _ => vec![],
            };
            let security = !sev.trim().is_empty() || cats.contains(&"Security Updates");
            (title, security)
        })
        .collect())
}

/// Days from 1970-01-01 to a civil date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A timestamp as epoch seconds: `2024-05-14 09:13:03 +0000`, `2024-05-14T09:13:03Z`,
/// `2024-05-14T09:13:03.1234567+02:00`, or a bare epoch. Without an offset: UTC.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        return s.parse().ok();
    }
    if s.len() < 19 {
        return None;
    }
    let n = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0, 4)?,
        n(5, 7)?,
        n(8, 10)?,
        n(11, 13)?,
        n(14, 16)?,
        n(17, 19)?,
    );
    if !matches!(s.as_bytes()[10], b' ' | b'T') {
        return None;
    }
    let mut rest = s[19..].trim_start();
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let rest = rest.trim();
    let off = if rest.is_empty() || rest == "Z" {
        0
    } else {
        let sign = match rest.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let digits: String = rest[1..].chars().filter(|c| c.is_ascii_digit()).collect();
        if digits.len() != 4 {
            return None;
        }
        let hh: i64 = digits[..2].parse().ok()?;
        let mm: i64 = digits[2..].parse().ok()?;
        sign * (hh * 3600 + mm * 60)
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - off)
}

/// When packages were last updated, as (epoch, where that came from).
fn last_update(ctx: &CheckCtx<'_>, os: Os) -> Result<(i64, String), Problem> {
    let none = |what: &str| {
        Err((
            Status::Error,
            format!("cannot tell when packages were last updated: {what}"),
        ))
    };
    match os {
        Os::Debian => {
            let o = out(ctx, "last", "the apt logs")?;
            let m = kv(&o.stdout);
            let stamp = m.get("stamp").and_then(|s| s.parse::<i64>().ok());
            let hist = m.get("history").and_then(|s| s.parse::<i64>().ok());
            match (stamp, hist) {
                (Some(s), Some(h)) if s > h => Ok((s, "/var/lib/apt/periodic/upgrade-stamp".into())),
                (_, Some(h)) => Ok((
                    h,
                    format!(
                        "/var/log/apt/history.log (End-Date {})",
                        m.get("history_date").cloned().unwrap_or_default()
                    ),
                )),
                (Some(s), None) => Ok((s, "/var/lib/apt/periodic/upgrade-stamp".into())),
                (None, None) => none(
                    "no upgrade in /var/log/apt/history.log* and no /var/lib/apt/periodic/upgrade-stamp",
                ),
            }
        }
        Os::RedHat | Os::Alpine => {
            let what = if os == Os::RedHat {
                "rpm"
            } else {
                "the apk database"
            };
            let o = out(ctx, "last", what)?;
            match kv(&o.stdout)
                .get("last")
                .and_then(|s| s.parse::<i64>().ok())
            {
                Some(t) => Ok((
                    t,
                    if os == Os::RedHat {
                        "newest rpm INSTALLTIME".into()
                    } else {
                        "/lib/apk/db/installed".into()
                    },
                )),
                None => none(&format!("{what} gave no time ({})", o.stderr.trim())),
            }
        }
        Os::Mac => {
            let o = out(ctx, "last", "defaults")?;
            let v = kv(&o.stdout).get("last").cloned().unwrap_or_default();
            match parse_time(&v) {
                Some(t) => Ok((t, "LastFullSuccessfulDate".into())),
                None if v.is_empty() => none("LastFullSuccessfulDate is not set"),
                None => none(&format!("LastFullSuccessfulDate `{v}` is not a date")),
            }
        }
        Os::Windows => {
            let o = out(ctx, "last", "Get-HotFix")?;
            let v = json_list(&o.stdout)
                .map_err(|m| (Status::Error, m))?
                .into_iter()
                .next()
                .unwrap_or(Value::Null);
            let t = |k: &str| v.get(k).and_then(Value::as_str).and_then(parse_time);
            match (t("wu_last_install"), t("hotfix_last")) {
                (Some(a), Some(b)) if b > a => Ok((b, "Get-HotFix InstalledOn".into())),
                (Some(a), _) => Ok((a, "Windows Update LastInstallationSuccessDate".into())),
                (None, Some(b)) => Ok((b, "Get-HotFix InstalledOn".into())),
                (None, None) => none("no Windows Update installation date and no hotfix date"),
            }
        }
        Os::Other => none("unsupported platform"),
    }
}

/// Whether a reboot is pending; None when the platform gives no signal.
fn reboot(ctx: &CheckCtx<'_>, os: Os) -> Result<Option<bool>, Problem> {
    match os {
        Os::Debian | Os::Alpine => {
            let o = out(ctx, "reboot", "the reboot marker")?;
            match kv(&o.stdout).get("required").map(String::as_str) {
                Some("yes") => Ok(Some(true)),
                Some("no") => Ok(Some(false)),
                Some("unknown") => Ok(None),
                _ => Err((
                    Status::Error,
                    format!("reboot probe said: {}", o.stdout.trim()),
                )),
            }
        }
        Os::RedHat => {
            let o = out(ctx, "reboot", "needs-restarting")?;
            let text = format!("{}{}", o.stdout, o.stderr);
            match o.rc {
                0 => Ok(Some(false)),
                1 if text.contains("Reboot is required")
                    || text.contains("Reboot should")
                    || o.stderr.trim().is_empty() =>
                {
                    Ok(Some(true))
                }
                _ => Err((
                    Status::Error,
                    format!(
                        "cannot check: needs-restarting is not available (exit {}): {}",
                        o.rc,
                        text.trim()
                    ),
                )),
            }
        }
        Os::Mac | Os::Other => Ok(None),
        Os::Windows => {
            let o = out(ctx, "reboot", "the registry")?;
            let v = json_list(&o.stdout)
                .map_err(|m| (Status::Error, m))?
                .into_iter()
                .next()
                .unwrap_or(Value::Null);
            let b = |k: &str| v.get(k).and_then(Value::as_bool);
            match (b("windows_update"), b("cbs")) {
                (None, None) => Err((
                    Status::Error,
                    format!("reboot probe said: {}", o.stdout.trim()),
                )),
                (a, c) => Ok(Some(a.unwrap_or(false) || c.unwrap_or(false))),
            }
        }
    }
}

/// Whether automatic updates are on, with the settings seen.
fn auto_updates(ctx: &CheckCtx<'_>, os: Os) -> Result<(bool, Value), Problem> {
    match os {
        Os::Debian => {
            let o = out(ctx, "auto", "apt-config")?;
            let (on, detail) = parse_apt_periodic(&o.stdout);
            Ok((on, detail))
        }
        Os::RedHat => {
            let o = out(ctx, "auto", "systemctl")?;
            let m = kv(&o.stdout);
            let en = |t: &str| m.get(t).is_some_and(|s| s == "enabled");
            let apply = m.get("apply_updates").is_some_and(|s| {
                matches!(s.to_ascii_lowercase().as_str(), "yes" | "true" | "1" | "on")
            });
            let on = en("dnf-automatic-install.timer")
                || ((en("dnf-automatic.timer") || en("dnf5-automatic.timer")) && apply);
            Ok((on, json!(m)))
        }
        Os::Alpine => {
            let o = out(ctx, "auto", "grep")?;
            let jobs = kv(&o.stdout).get("jobs").cloned().unwrap_or_default();
            Ok((
                !jobs.trim().is_empty(),
                json!({"apk_upgrade_jobs": jobs.split_whitespace().collect::<Vec<_>>()}),
            ))
        }
        Os::Mac => {
            let o = out(ctx, "auto", "defaults")?;
            let m = kv(&o.stdout);
            let keys = [
                "AutomaticCheckEnabled",
                "AutomaticDownload",
                "CriticalUpdateInstall",
            ];
            let on = keys.iter().all(|k| {
                m.get(*k)
                    .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
            });
            let detail: Map<String, Value> = keys
                .iter()
                .map(|k| (k.to_string(), json!(m.get(*k).filter(|v| !v.is_empty()))))
                .collect();
            Ok((on, Value::Object(detail)))
        }
        Os::Windows => {
            let o = out(ctx, "auto", "the registry")?;
            let v = json_list(&o.stdout)
                .map_err(|m| (Status::Error, m))?
                .into_iter()
                .next()
                .unwrap_or(Value::Null);
            Ok((windows_auto_on(&v), v))
        }
        Os::Other => Err((Status::Skip, "unsupported platform".into())),
    }
}

/// `apt-config dump APT::Periodic` plus `unattended-upgrades=<status>`: on when
/// `Unattended-Upgrade` is non-zero and the package is installed.
pub fn parse_apt_periodic(text: &str) -> (bool, Value) {
    let mut unattended = None;
    let mut lists = None;
    let mut pkg = String::new();
    for line in text.lines() {
        let t = line.trim();
        let val = |t: &str| {
            t.split_once(' ').map(|x| {
                x.1.trim()
                    .trim_end_matches(';')
                    .trim_matches('"')
                    .to_string()
            })
        };
        if t.starts_with("APT::Periodic::Unattended-Upgrade ") {
            unattended = val(t);
        } else if t.starts_with("APT::Periodic::Update-Package-Lists ") {
            lists = val(t);
        } else if let Some(p) = t.strip_prefix("unattended-upgrades=") {
            pkg = p.trim().to_string();
        }
    }
    let nonzero = |v: &Option<String>| {
        v.as_deref()
            .is_some_and(|s| !s.is_empty() && s != "0" && !s.eq_ignore_ascii_case("false"))
    };
    let installed = pkg.starts_with("ii") || pkg.starts_with("hi");
    let on = nonzero(&unattended) && installed;
    (
        on,
        json!({"unattended_upgrade": unattended, "update_package_lists": lists, "unattended_upgrades_installed": installed}),
    )
}

fn windows_auto_on(v: &Value) -> bool {
    let n = |k: &str| v.get(k).and_then(Value::as_i64);
    let service_off = v
        .get("service_start")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("disabled"));
    !service_off && n("NoAutoUpdate").unwrap_or(0) == 0 && n("AUOptions").is_none_or(|o| o >= 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/checks/updates/");

    fn data(name: &str) -> String {
        std::fs::read_to_string(format!("{DATA}{name}")).unwrap()
    }

    fn facts(system: &str, family: &str, dist: &str, ver: &str, epoch: i64) -> Map<String, Value> {
        json!({"system": system, "os_family": family, "distribution": dist,
               "distribution_version": ver, "date_time": {"epoch": epoch.to_string()}})
        .as_object()
        .unwrap()
        .clone()
    }

    fn run(args: Value, f: &Map<String, Value>, outs: &[(&str, i64, &str, &str)]) -> Finding {
        let c = updates(&args).unwrap_or_else(|e| panic!("{}", e.0));
        let keys: Vec<String> = c.probes(f).into_iter().map(|p| p.key).collect();
        for (k, ..) in outs {
            assert!(
                keys.contains(&k.to_string()),
                "probe {k} not asked for: {keys:?}"
            );
        }
        let out: HashMap<String, ProbeOut> = outs
            .iter()
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
            .collect();
        c.evaluate(&CheckCtx {
            facts: f,
            vars: &Value::Null,
            out: &out,
        })
    }

    const NOW: i64 = 1_795_971_778; // 2026-11-29 on the capture machine

    fn debian() -> Map<String, Value> {
        facts("Linux", "Debian", "Debian", "12.12", NOW)
    }

    #[test]
    fn apt_get_simulation_real_debian12() {
        let rows = parse_apt(&data("debian12-apt-get-s-upgrade.txt"));
        assert_eq!(rows.len(), 136);
        assert_eq!(rows.iter().filter(|r| r.1).count(), 90);
        assert!(rows.contains(&("liblzma5".into(), true)));
        assert!(rows.contains(&("base-files".into(), false)));
        // Two origins, one of them security.
        assert!(rows.contains(&("libgcrypt20".into(), true)));
    }

    #[test]
    fn apt_list_upgradable_real_debian12() {
        let text = data("debian12-apt-list-upgradable.txt");
        assert!(text.starts_with("Listing..."));
        let rows = parse_apt(&text);
        assert_eq!(rows.len(), 136);
        assert_eq!(rows.iter().filter(|r| r.1).count(), 90);
        assert!(rows.contains(&("apt".into(), true)));
        assert!(rows.contains(&("appstream".into(), false)));
        // The stderr warning is not part of the listing.
        assert!(data("debian12-apt-list-upgradable.stderr.txt").contains("stable CLI"));
        // Ubuntu's multi-suite rows (reference).
        let u = parse_apt("Listing...\nopenssl/jammy-updates,jammy-security 3.0.2-0ubuntu1.10 amd64 [upgradable from: 3.0.2-0ubuntu1.8]\nsnapd/jammy-updates 2.61 amd64 [upgradable from: 2.60]\n");
        assert_eq!(u, vec![("openssl".into(), true), ("snapd".into(), false)]);
    }

    #[test]
    fn graded_security_updates_debian() {
        let g = json!({"pending_security": {"warn": 1, "fail": 5}});
        let one = "cache=1795971000\nInst liblzma5 [5.4.1-1] (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security [amd64])\nInst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n";
        let f = run(g.clone(), &debian(), &[("pending", 0, one, "")]);
        assert_eq!(f.status, Status::Warn, "{}", f.message);
        assert_eq!(f.message, "1 security update pending (warn at 1)");
        assert_eq!(f.observed["pending_security"], 1);
        assert_eq!(f.observed["pending"], 2);
        assert_eq!(
            f.data,
            json!({"pending": ["liblzma5", "bash"], "security": ["liblzma5"]})
        );
        let five: String = (0..5)
            .map(|i| format!("Inst p{i} [1] (2 Debian-Security:12/oldstable-security [amd64])\n"))
            .collect();
        let f = run(g.clone(), &debian(), &[("pending", 0, &five, "")]);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.message, "5 security updates pending (fail at 5)");
        let f = run(g.clone(), &debian(), &[("pending", 0, "", "")]);
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        // The real capture: 90 security updates.
        let real = format!(
            "cache={}\n{}",
            NOW - 60,
            data("debian12-apt-get-s-upgrade.txt")
        );
        let f = run(g, &debian(), &[("pending", 0, &real, "")]);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message.starts_with("90 security updates pending"),
            "{}",
            f.message
        );
        assert_eq!(f.observed["cache_age_days"], 0);
    }

    #[test]
    fn stale_cache_is_noted_and_missing_apt_is_an_error() {
        let f = run(
            json!({"pending": 10}),
            &debian(),
            &[("pending", 0, &format!("cache={}\n", NOW - 10 * 86_400), "")],
        );
        assert_eq!(f.status, Status::Pass);
        assert_eq!(f.observed["cache_age_days"], 10);
        assert!(f.message.contains("10 days old"), "{}", f.message);
        let f = run(
            json!({"pending": 10}),
            &debian(),
            &[("pending", 127, "cache=\n", "sh: 1: apt-get: not found\n")],
        );
        assert_eq!(f.status, Status::Error);
        assert!(
            f.message.contains("apt-get is not available"),
            "{}",
            f.message
        );
    }

    #[test]
    fn days_since_update_graded_from_host_clock() {
        let g = json!({"days_since_update": {"warn": 7, "fail": 30}});
        let out = format!(
            "stamp=\nhistory_date=2026-11-19 16:39:33\nhistory={}\n",
            NOW - 10 * 86_400
        );
        let f = run(g.clone(), &debian(), &[("last", 0, &out, "")]);
        assert_eq!(f.status, Status::Warn);
        assert_eq!(f.message, "last package update 10 days ago (warn at 7)");
        assert_eq!(f.observed["days_since_update"], 10);
        // The upgrade stamp is newer: it wins.
        let out = format!("stamp={}\nhistory={}\n", NOW - 86_400, NOW - 40 * 86_400);
        let f = run(g.clone(), &debian(), &[("last", 0, &out, "")]);
        assert_eq!(f.status, Status::Pass);
        assert_eq!(
            f.observed["last_update_source"],
            "/var/lib/apt/periodic/upgrade-stamp"
        );
        let f = run(
            g.clone(),
            &debian(),
            &[("last", 0, "stamp=\nhistory_date=\n", "")],
        );
        assert_eq!(f.status, Status::Error);
        // Downward grades run the other way (e.g. a freshness score: warn below 10, fail below 5).
        let down = json!({"pending": {"warn": 10, "fail": 5}});
        let five: String = (0..5)
            .map(|i| format!("Inst p{i} [1] (2 Debian:12/oldstable [amd64])\n"))
            .collect();
        assert_eq!(
            run(down.clone(), &debian(), &[("pending", 0, &five, "")]).status,
            Status::Fail
        );
        let eight: String = (0..8)
            .map(|i| format!("Inst p{i} [1] (2 Debian:12/oldstable [amd64])\n"))
            .collect();
        assert_eq!(
            run(down.clone(), &debian(), &[("pending", 0, &eight, "")]).status,
            Status::Warn
        );
        let twelve: String = (0..12)
            .map(|i| format!("Inst p{i} [1] (2 Debian:12/oldstable [amd64])\n"))
            .collect();
        assert_eq!(
            run(down, &debian(), &[("pending", 0, &twelve, "")]).status,
            Status::Pass
        );
    }

    #[test]
    fn debian_reboot_and_auto_updates_real_apt_config() {
        let f = run(
            json!({"reboot_required": false}),
            &debian(),
            &[(
                "reboot",
                0,
                "required=yes\nlinux-image-6.1.0-28-amd64\n",
                "",
            )],
        );
        assert_eq!(
            (f.status, f.message.as_str()),
            (Status::Fail, "a reboot is pending to finish updates")
        );
        let f = run(
            json!({"reboot_required": "no"}),
            &debian(),
            &[("reboot", 0, "required=no\n", "")],
        );
        assert_eq!(f.status, Status::Pass);
        // This machine: no APT::Periodic settings at all (unattended-upgrades not installed).
        let off = format!(
            "{}unattended-upgrades=\n",
            data("debian12-apt-config-periodic.txt")
        );
        let f = run(
            json!({"auto_updates": true}),
            &debian(),
            &[("auto", 0, &off, "")],
        );
        assert_eq!(
            (f.status, f.message.as_str()),
            (Status::Fail, "automatic updates are disabled")
        );
        let on = format!(
            "{}unattended-upgrades=ii \n",
            data("debian12-apt-config-periodic-enabled.txt")
        );
        let f = run(
            json!({"auto_updates": true}),
            &debian(),
            &[("auto", 0, &on, "")],
        );
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        // Configured but the package is gone: not on.
        let gone = format!(
            "{}unattended-upgrades=rc \n",
            data("debian12-apt-config-periodic-enabled.txt")
        );
        assert_eq!(
            run(
                json!({"auto_updates": true}),
                &debian(),
                &[("auto", 0, &gone, "")]
            )
            .status,
            Status::Fail
        );
    }

    #[test]
    fn min_os_version_per_platform() {
        let a = json!({"min_os_version": {"macos": "14.5", "ubuntu": "22.04", "debian": "12"}});
        let f = run(
            a.clone(),
            &facts("Linux", "Debian", "Ubuntu", "20.04", NOW),
            &[],
        );
        assert_eq!(
            (f.status, f.message.as_str()),
            (Status::Fail, "ubuntu 20.04 is older than the minimum 22.04")
        );
        assert_eq!(
            run(
                a.clone(),
                &facts("Darwin", "Darwin", "MacOSX", "14.10.1", NOW),
                &[]
            )
            .status,
            Status::Pass
        );
        assert_eq!(
            run(
                a.clone(),
                &facts("Darwin", "Darwin", "MacOSX", "14.4.1", NOW),
                &[]
            )
            .status,
            Status::Fail
        );
        let f = run(
            a.clone(),
            &facts("Linux", "RedHat", "Rocky", "9.3", NOW),
            &[],
        );
        assert_eq!(f.status, Status::Skip, "{}", f.message);
        assert!(updates(&json!({"min_os_version": {"solaris": "11"}})).is_err());
        assert!(updates(&json!({})).is_err());
        assert!(updates(&json!({"pending_securty": 1})).is_err());
        assert!(updates(&json!({"pending": {"warn": "x"}})).is_err());
    }

    #[test]
    fn worst_criterion_names_the_message() {
        let a = json!({"pending_security": {"warn": 1, "fail": 5}, "reboot_required": false, "min_os_version": {"debian": "12"}});
        let one = "cache=\nInst liblzma5 [5.4.1-1] (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security [amd64])\n";
        let f = run(
            a,
            &debian(),
            &[("pending", 0, one, ""), ("reboot", 0, "required=yes\n", "")],
        );
        assert_eq!(f.status, Status::Fail);
        assert_eq!(
            f.message,
            "a reboot is pending to finish updates (and 1 more problem)"
        );
        assert_eq!(f.observed["reboot_required"], true);
        assert_eq!(f.observed["pending_security"], 1);
        assert_eq!(f.observed["os_version"], "12.12");
    }

    fn rhel() -> Map<String, Value> {
        facts("Linux", "RedHat", "RedHat", "9.2", NOW)
    }

    /// Reference sample (dnf check-update), with a wrapped long name and obsoletes.
    const DNF_CHECK_UPDATE: &str =
        include_str!("../../../tests/data/checks/updates/dnf-check-update.txt");

    #[test]
    fn dnf_check_update_exit_codes_and_wrapping() {
        assert_eq!(
            parse_dnf_check_update(DNF_CHECK_UPDATE),
            vec![
                "apr-util.x86_64",
                "autofs.x86_64",
                "NetworkManager-libreswan-gnome.x86_64",
                "kernel.x86_64"
            ]
        );
        let a = json!({"pending": {"warn": 1, "fail": 10}});
        let f = run(
            a.clone(),
            &rhel(),
            &[("pending", 100, &format!("cache=\n{DNF_CHECK_UPDATE}"), "")],
        );
        assert_eq!(
            (f.status, f.message.as_str()),
            (Status::Warn, "4 updates pending (warn at 1)")
        );
        let f = run(a.clone(), &rhel(), &[("pending", 0, "cache=\n", "")]);
        assert_eq!(f.status, Status::Pass);
        let f = run(
            a,
            &rhel(),
            &[(
                "pending",
                1,
                "cache=\n",
                "Error: Failed to download metadata for repo 'baseos'\n",
            )],
        );
        assert_eq!(f.status, Status::Error);
        assert!(
            f.message.contains("Failed to download metadata"),
            "{}",
            f.message
        );
    }

    #[test]
    fn dnf_updateinfo_layouts() {
        let dnf4 = "RHSA-2023:3106 Important/Sec.  kernel-5.14.0-284.11.1.el9_2.x86_64\nRHSA-2023:3106 Important/Sec.  kernel-core-5.14.0-284.11.1.el9_2.x86_64\nRHSA-2023:3107 Moderate/Sec.   kernel-5.14.0-284.11.1.el9_2.x86_64\nRHBA-2023:3000 bugfix          tzdata-2023c-1.el9.noarch\n";
        assert_eq!(
            parse_dnf_updateinfo(dnf4),
            vec![
                "kernel-5.14.0-284.11.1.el9_2.x86_64",
                "kernel-core-5.14.0-284.11.1.el9_2.x86_64"
            ]
        );
        let old = "FEDORA-2023-1a2b3c4d5e security curl-8.0.1-2.fc38.x86_64\nFEDORA-2023-99 enhancement vim-9.0-1.fc38.x86_64\n";
        assert_eq!(parse_dnf_updateinfo(old), vec!["curl-8.0.1-2.fc38.x86_64"]);
        let cves = "CVE-2023-0286 Important/Sec. openssl-1:3.0.7-6.el9_2.x86_64\n";
        assert_eq!(
            parse_dnf_updateinfo(cves),
            vec!["openssl-1:3.0.7-6.el9_2.x86_64"]
        );
        let dnf5 = "Name             Type     Severity  Package                              Issued\nFEDORA-2024-1234 security Moderate  curl-8.6.0-7.fc40.x86_64 2024-05-20 01:23:45\n";
        assert_eq!(parse_dnf_updateinfo(dnf5), vec!["curl-8.6.0-7.fc40.x86_64"]);
        let a = json!({"pending_security": {"warn": 1, "fail": 5}});
        let f = run(
            a,
            &rhel(),
            &[
                ("pending", 100, &format!("cache=\n{DNF_CHECK_UPDATE}"), ""),
                ("security", 0, dnf4, ""),
            ],
        );
        assert_eq!(
            (f.status, f.message.as_str()),
            (Status::Warn, "2 security updates pending (warn at 1)")
        );
    }

    #[test]
    fn rhel_last_reboot_auto() {
        let f = run(
            json!({"days_since_update": {"warn": 7, "fail": 30}}),
            &rhel(),
            &[("last", 0, &format!("last={}\n", NOW - 45 * 86_400), "")],
        );
        assert_eq!(
            (f.status, f.message.as_str()),
            (Status::Fail, "last package update 45 days ago (fail at 30)")
        );
        let f = run(json!({"reboot_required": false}), &rhel(), &[("reboot", 1, "Core libraries or services have been updated since boot-up:\n  * kernel\n\nReboot is required to fully utilize these updates.\nMore information: https://access.redhat.com/solutions/27943\n", "")]);
        assert_eq!(f.status, Status::Fail);
        let f = run(json!({"reboot_required": false}), &rhel(), &[("reboot", 0, "No core libraries or services have been updated since boot-up.\nReboot should not be necessary.\n", "")]);
        assert_eq!(f.status, Status::Pass);
        let f = run(
            json!({"reboot_required": false}),
            &rhel(),
            &[(
                "reboot",
                1,
                "",
                "No such command: needs-restarting. Please use /usr/bin/dnf --help\n",
            )],
        );
        assert_eq!(f.status, Status::Error);
        let auto = "dnf-automatic-install.timer=disabled\ndnf-automatic.timer=enabled\ndnf5-automatic.timer=\napply_updates=yes\n";
        assert_eq!(
            run(
                json!({"auto_updates": true}),
                &rhel(),
                &[("auto", 0, auto, "")]
            )
            .status,
            Status::Pass
        );
        let auto = "dnf-automatic-install.timer=\ndnf-automatic.timer=enabled\ndnf5-automatic.timer=\napply_updates=no\n";
        assert_eq!(
            run(
                json!({"auto_updates": true}),
                &rhel(),
                &[("auto", 0, auto, "")]
            )
            .status,
            Status::Fail
        );
    }

    #[test]
    fn alpine_pending_and_security_skip() {
        let text = "cache=\nInstalled:                                Available:\nbusybox-1.36.1-r5                       < 1.36.1-r7 \nlibcrypto3-3.1.4-r5                     < 3.1.4-r6 \npy3-foo-bar-2.0-r0                      < 2.1-r0 \n";
        assert_eq!(
            parse_apk_version(text),
            vec!["busybox", "libcrypto3", "py3-foo-bar"]
        );
        assert_eq!(split_apk("libcrypto3-3.1.4-r5"), ("libcrypto3", "3.1.4-r5"));
        let alpine = facts("Linux", "Alpine", "Alpine", "3.19.1", NOW);
        let f = run(
            json!({"pending": {"warn": 1, "fail": 5}, "pending_security": 1}),
            &alpine,
            &[("pending", 0, text, "")],
        );
        assert_eq!(
            (f.status, f.message.as_str()),
            (Status::Warn, "3 updates pending (warn at 1)")
        );
        let f = run(json!({"pending_security": 1}), &alpine, &[]);
        assert_eq!(f.status, Status::Skip);
        assert!(
            f.message.contains("Alpine does not classify"),
            "{}",
            f.message
        );
        let f = run(
            json!({"reboot_required": false}),
            &alpine,
            &[("reboot", 0, "required=unknown\n", "")],
        );
        assert_eq!(f.status, Status::Skip);
    }

    const SU_NONE: &str =
        include_str!("../../../tests/data/checks/updates/softwareupdate-none.txt");
    const SU_SOME: &str =
        include_str!("../../../tests/data/checks/updates/softwareupdate-list.txt");
    const SU_OLD: &str =
        include_str!("../../../tests/data/checks/updates/softwareupdate-list-pre1015.txt");

    #[test]
    fn softwareupdate_both_formats() {
        assert!(parse_softwareupdate(SU_NONE).unwrap().is_empty());
        let r = parse_softwareupdate(SU_SOME).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(
            (
                r[0].title.as_str(),
                r[0].version.as_str(),
                r[0].restart,
                r[0].security
            ),
            ("macOS Ventura 13.3.1", "13.3.1", true, false)
        );
        assert!(r[1].security && !r[2].security);
        let r = parse_softwareupdate(SU_OLD).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (
                r[0].title.as_str(),
                r[0].version.as_str(),
                r[0].restart,
                r[0].security
            ),
            ("Security Update 2019-001 (Mojave)", "10.14.3", true, true)
        );
        assert_eq!(
            (r[1].label.as_str(), r[1].version.as_str(), r[1].restart),
            ("iTunesX-12.8.2", "12.8.2", false)
        );
        assert!(parse_softwareupdate("Software Update Tool\n\nFinding available software\nScan finished with error: Error Domain=NSURLErrorDomain Code=-1005 \"The network connection was lost.\"\n").is_err());
        let mac = facts("Darwin", "Darwin", "MacOSX", "13.3", NOW);
        let f = run(
            json!({"pending_security": {"warn": 1, "fail": 5}}),
            &mac,
            &[("pending", 0, SU_SOME, "")],
        );
        assert_eq!(
            (f.status, f.message.as_str()),
            (Status::Warn, "1 security update pending (warn at 1)")
        );
        let f = run(json!({"pending": 1}), &mac, &[("pending", 0, SU_NONE, "")]);
        assert_eq!(f.status, Status::Pass);
    }

    #[test]
    fn macos_last_update_and_auto() {
        assert_eq!(parse_time("2024-05-14 09:13:03 +0000"), Some(1_715_677_983));
        assert_eq!(
            parse_time("2024-05-14T11:13:03.1234567+02:00"),
            Some(1_715_677_983)
        );
        assert_eq!(parse_time("2024-05-14T09:13:03Z"), Some(1_715_677_983));
        assert_eq!(parse_time("yesterday"), None);
        let mac = facts(
            "Darwin",
            "Darwin",
            "MacOSX",
            "14.5",
            1_715_677_983 + 3 * 86_400 + 100,
        );
        let g = json!({"days_since_update": {"warn": 7, "fail": 30}});
        let f = run(
            g.clone(),
            &mac,
            &[("last", 0, "last=2024-05-14 09:13:03 +0000\n", "")],
        );
        assert_eq!(
            (f.status, f.observed["days_since_update"].as_i64()),
            (Status::Pass, Some(3))
        );
        let f = run(g, &mac, &[("last", 0, "last=\n", "")]);
        assert_eq!(f.status, Status::Error);
        let a = json!({"auto_updates": true});
        assert_eq!(
            run(
                a.clone(),
                &mac,
                &[(
                    "auto",
                    0,
                    "AutomaticCheckEnabled=1\nAutomaticDownload=1\nCriticalUpdateInstall=1\n",
                    ""
                )]
            )
            .status,
            Status::Pass
        );
        let f = run(
            a,
            &mac,
            &[(
                "auto",
                0,
                "AutomaticCheckEnabled=1\nAutomaticDownload=0\nCriticalUpdateInstall=\n",
                "",
            )],
        );
        assert_eq!(f.status, Status::Fail);
        assert_eq!(
            f.observed["auto_updates_detail"]["CriticalUpdateInstall"],
            Value::Null
        );
        let mac = facts("Darwin", "Darwin", "MacOSX", "14.5", NOW);
        assert_eq!(
            run(json!({"reboot_required": false}), &mac, &[]).status,
            Status::Skip
        );
    }

    fn win() -> Map<String, Value> {
        facts(
            "Win32NT",
            "Windows",
            "Microsoft Windows 11 Pro",
            "10.0.22631",
            1_716_000_000,
        )
    }

    #[test]
    fn windows_update_single_and_array() {
        let one = r#"{"Title":"2024-05 Cumulative Update for Windows 11 Version 23H2 for x64-based Systems (KB5037771)","MsrcSeverity":"Critical","KBArticleIDs":["5037771"],"Categories":["Security Updates","Windows 11"],"RebootRequired":false}"#;
        assert_eq!(parse_windows_updates(one).unwrap().len(), 1);
        let many = r#"[{"Title":"Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 (Version 1.411.355.0)","MsrcSeverity":"","KBArticleIDs":["2267602"],"Categories":["Definition Updates","Microsoft Defender Antivirus"],"RebootRequired":false},{"Title":"2024-05 Cumulative Update for Windows 11 Version 23H2 for x64-based Systems (KB5037771)","MsrcSeverity":"Critical","KBArticleIDs":["5037771"],"Categories":["Security Updates"],"RebootRequired":false},{"Title":"Windows Malicious Software Removal Tool x64 - v5.124 (KB890830)","MsrcSeverity":null,"KBArticleIDs":"890830","Categories":"Update Rollups","RebootRequired":false}]"#;
        let r = parse_windows_updates(many).unwrap();
        assert_eq!(
            r.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![false, true, false]
        );
        assert!(parse_windows_updates("").unwrap().is_empty());
        assert!(parse_windows_updates("#< CLIXML\r\n").is_err());
        let f = run(
            json!({"pending": {"warn": 1, "fail": 5}, "pending_security": {"warn": 1, "fail": 5}}),
            &win(),
            &[("pending", 0, many, "")],
        );
        assert_eq!(f.status, Status::Warn);
        assert_eq!(f.observed["pending"], 3);
        assert_eq!(f.observed["pending_security"], 1);
        let f = run(
            json!({"pending": 1}),
            &win(),
            &[("pending", 1, "", "Exception from HRESULT: 0x8024402C\n")],
        );
        assert_eq!(f.status, Status::Error);
    }

    #[test]
    fn windows_last_reboot_auto() {
        let last = r#"{"wu_last_install":"2024-05-15T02:00:00Z","hotfix_last":"2024-05-14T00:00:00Z","hotfix_id":"KB5037771"}"#;
        let f = run(
            json!({"days_since_update": {"warn": 7, "fail": 30}}),
            &win(),
            &[("last", 0, last, "")],
        );
        assert_eq!(f.status, Status::Pass);
        assert_eq!(
            f.observed["last_update_source"],
            "Windows Update LastInstallationSuccessDate"
        );
        let f = run(
            json!({"reboot_required": false}),
            &win(),
            &[("reboot", 0, r#"{"windows_update":false,"cbs":true}"#, "")],
        );
        assert_eq!(f.status, Status::Fail);
        let a = json!({"auto_updates": true});
        assert_eq!(
            run(
                a.clone(),
                &win(),
                &[(
                    "auto",
                    0,
                    r#"{"NoAutoUpdate":null,"AUOptions":null,"service_start":"Manual"}"#,
                    ""
                )]
            )
            .status,
            Status::Pass
        );
        assert_eq!(
            run(
                a.clone(),
                &win(),
                &[(
                    "auto",
                    0,
                    r#"{"NoAutoUpdate":0,"AUOptions":2,"service_start":"Manual"}"#,
                    ""
                )]
            )
            .status,
            Status::Fail
        );
        assert_eq!(
            run(
                a.clone(),
                &win(),
                &[(
                    "auto",
                    0,
                    r#"{"NoAutoUpdate":1,"AUOptions":4,"service_start":"Manual"}"#,
                    ""
                )]
            )
            .status,
            Status::Fail
        );
        assert_eq!(
            run(
                a,
                &win(),
                &[(
                    "auto",
                    0,
                    r#"{"NoAutoUpdate":null,"AUOptions":4,"service_start":"Disabled"}"#,
                    ""
                )]
            )
            .status,
            Status::Fail
        );
        let f = run(
            json!({"min_os_version": {"windows": "10.0.22631"}}),
            &win(),
            &[],
        );
        assert_eq!(f.status, Status::Pass);
    }

    #[test]
    fn probes_run_in_sh() {
        // The Debian probes are valid shell and behave on this (Debian) machine.
        let c = updates(&json!({"pending": 1, "days_since_update": 30, "reboot_required": false, "auto_updates": true})).unwrap();
        let probes = c.probes(&debian());
        assert_eq!(probes.len(), 4);
        for p in &probes {
            let o = std::process::Command::new("/bin/sh")
                .arg("-n")
                .arg("-c")
                .arg(&p.script)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{}: {}",
                p.key,
                String::from_utf8_lossy(&o.stderr)
            );
        }
        for f in [
            rhel(),
            facts("Linux", "Alpine", "Alpine", "3.19", NOW),
            facts("Darwin", "Darwin", "MacOSX", "14", NOW),
        ] {
            for p in c.probes(&f) {
                let o = std::process::Command::new("/bin/sh")
                    .arg("-n")
                    .arg("-c")
                    .arg(&p.script)
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "{}: {}",
                    p.key,
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
        assert!(c
            .probes(&win())
            .iter()
            .all(|p| !p.script.contains("2>/dev/null")));
    }

    #[test]
    fn debian_probes_on_this_machine() {
        // The whole path on a real Debian host: probes batched into one script, run by sh,
        // split back, judged. Only where apt exists.
        if !std::path::Path::new("/usr/bin/apt-get").exists() {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let f = facts("Linux", "Debian", "Debian", "12", now);
        let c = updates(&json!({"pending": {"warn": 1000, "fail": 5000}, "pending_security": {"warn": 1000}, "days_since_update": {"warn": 100000}, "reboot_required": true, "auto_updates": false, "min_os_version": {"debian": "10"}})).unwrap();
        let probes = c.probes(&f);
        let script = super::super::batch_script(&probes);
        let o = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let out = super::super::parse_batch(&probes, &String::from_utf8_lossy(&o.stdout));
        let finding = c.evaluate(&CheckCtx {
            facts: &f,
            vars: &Value::Null,
            out: &out,
        });
        assert!(finding.observed["pending"].is_u64(), "{finding:?}");
        assert!(finding.observed["pending_security"].is_u64(), "{finding:?}");
        assert!(
            finding.observed["reboot_required"].is_boolean(),
            "{finding:?}"
        );
        assert!(finding.observed["auto_updates"].is_boolean(), "{finding:?}");
        let upgraded = std::fs::read_to_string("/var/log/apt/history.log")
            .is_ok_and(|h| h.contains("\nUpgrade:"));
        if upgraded {
            assert!(
                finding.observed["days_since_update"].is_i64(),
                "{finding:?}"
            );
            assert_ne!(finding.status, Status::Error, "{finding:?}");
        }
    }
}
