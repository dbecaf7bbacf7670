//! `disk_encryption` check: is the system disk (or every fixed disk) encrypted at rest?
//!
//! Arguments: `scope` (`system`, the default: the root filesystem / the OS volume;
//! `all_fixed`: also `/home`, swap and every other filesystem on a non-removable disk except
//! `/boot` and `/boot/efi`; on Windows every OperatingSystem and fixed Data volume),
//! `min_luks_version` (Linux), `allowed_ciphers` (e.g. `[aes-xts-plain64]`; on Windows the
//! BitLocker EncryptionMethod, e.g. `XtsAes256`).
//!
//! Linux: `lsblk -J` is the truth. A mounted filesystem is encrypted when the path from the
//! top of lsblk's tree down to its node passes through a `crypt` node (dm-crypt), on every
//! path where it appears (an LV spanning two PVs appears under both: both must be encrypted).
//! LVM-on-LUKS and LUKS-on-LVM both pass. A `crypt` node over a `loop` device (a file) does
//! not count: the file lives on some other filesystem and proves nothing about the disk.
//! LUKS version and cipher come from `cryptsetup status` of the open mapping and
//! `cryptsetup luksDump` of the container; without root or cryptsetup that evidence is
//! missing, which only matters (as warn) when `min_luks_version`/`allowed_ciphers` ask for it.
//! `/etc/crypttab` is reported as evidence, never as proof. Swap on zram is exempt (RAM).
//!
//! macOS (`fdesetup status`): On = pass; encryption in progress or enablement pending
//! ("will be enabled after the next restart", "On, but needs to be restarted", deferred
//! enablement) = warn; Off, "Off, but needs to be restarted to finish" and decryption in
//! progress = fail.
//!
//! Windows (`Get-BitLockerVolume`, enums as names or numbers; one volume prints an object,
//! not a list): protection On and FullyEncrypted = pass; encryption in progress or paused =
//! warn; suspended protection, decryption or decrypted = fail. Without the BitLocker module
//! the exit code of `manage-bde -status <system drive> -protectionaserrorlevel` decides the
//! system volume (0 protected, 1 not).
//!
//! Every finding carries `data.manual`: how to remediate by hand (there is no safe automatic
//! remediation for disk encryption).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::{Check, CheckCtx, Finding, Invalid, Probe, ProbeOut, Status};

pub const MANUAL_LINUX: &str = "Encrypt at installation (LUKS2, e.g. the installer's encrypted LVM option) and migrate the data; in place, only offline from a live system: back up, shrink the filesystem, `cryptsetup reencrypt --encrypt --type luks2 --reduce-device-size 32m DEVICE`, then update /etc/crypttab, /etc/fstab and the initramfs.";
pub const MANUAL_MACOS: &str = "Enforce FileVault with an MDM profile that escrows the recovery key; over SSH at best `sudo fdesetup enable -defer /var/db/filevault-recovery.plist` (takes effect at the user's next logout).";
pub const MANUAL_WINDOWS: &str = "Add a recovery password protector and escrow it (Active Directory, Entra ID or a vault) first, then `Enable-BitLocker -MountPoint C: -EncryptionMethod XtsAes256 -TpmProtector`; resume suspended protection with `Resume-BitLocker`.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    System,
    AllFixed,
}

pub struct DiskEncryptionCheck {
    scope: Scope,
    min_luks_version: Option<u32>,
    allowed_ciphers: Option<Vec<String>>,
}

const ARGS: &[&str] = &["scope", "min_luks_version", "allowed_ciphers"];

pub fn disk_encryption(v: &Value) -> Result<Box<dyn Check>, Invalid> {
    Ok(Box::new(DiskEncryptionCheck::from_args(v)?))
}

impl DiskEncryptionCheck {
    pub fn from_args(v: &Value) -> Result<DiskEncryptionCheck, Invalid> {
        let empty = Map::new();
        let m = match v {
            Value::Object(m) => m,
            Value::Null => &empty,
            other => {
                return Err(Invalid(
                    format!("`disk_encryption` takes a mapping of options, not {other}"),
                    None,
                ))
            }
        };
        for k in m.keys() {
            if !ARGS.contains(&k.as_str()) {
                return Err(Invalid(
                    format!("unknown option `{k}` for the `disk_encryption` check"),
                    Some(format!("disk_encryption takes: {}", ARGS.join(", "))),
                ));
            }
        }
        let scope = match m.get("scope") {
            None | Some(Value::Null) => Scope::System,
            Some(Value::String(s)) if s == "system" => Scope::System,
            Some(Value::String(s)) if s == "all_fixed" => Scope::AllFixed,
            Some(other) => {
                return Err(Invalid(
                    format!("`scope` must be system or all_fixed, not {other}"),
                    None,
                ))
            }
        };
        let min_luks_version = match m.get("min_luks_version") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let n = match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().trim_start_matches("luks").parse().ok(),
                    _ => None,
                };
                match n {
                    Some(n @ 1..=2) => Some(n as u32),
                    _ => {
                        return Err(Invalid(
                            format!("`min_luks_version` must be 1 or 2, not {v}"),
                            None,
                        ))
                    }
                }
            }
        };
        let allowed_ciphers = match m.get("allowed_ciphers") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(vec![s.clone()]),
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|x| {
                        x.as_str().map(str::to_string).ok_or_else(|| {
                            Invalid(
                                format!("`allowed_ciphers`: `{x}` is not a cipher name"),
                                None,
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(other) => {
                return Err(Invalid(
                    format!("`allowed_ciphers` must be a list, not {other}"),
                    None,
                ))
            }
        };
        Ok(DiskEncryptionCheck {
            scope,
            min_luks_version,
            allowed_ciphers,
        })
    }

    fn expected(&self) -> Value {
        let mut e = json!({"encrypted": true, "scope": match self.scope { Scope::System => "system", Scope::AllFixed => "all_fixed" }});
        if let Some(v) = self.min_luks_version {
            e["min_luks_version"] = json!(v);
        }
        if let Some(c) = &self.allowed_ciphers {
            e["allowed_ciphers"] = json!(c);
        }
        e
    }

    fn cipher_ok(&self, cipher: &str) -> bool {
        match &self.allowed_ciphers {
            None => true,
            Some(list) => list.iter().any(|c| c.eq_ignore_ascii_case(cipher)),
        }
    }
}

fn platform(facts: &Map<String, Value>) -> &'static str {
    if super::is_windows(facts) {
        "windows"
    } else if facts.get("system").and_then(Value::as_str) == Some("Darwin") {
        "macos"
    } else {
        "linux"
    }
}

const SBIN: &str = "PATH=\"$PATH:/usr/sbin:/sbin:/usr/local/sbin\"; export PATH; ";

pub const LSBLK: &str = "lsblk -J -o NAME,PATH,TYPE,FSTYPE,MOUNTPOINT,MOUNTPOINTS,PKNAME,RM 2>/dev/null || lsblk -J -o NAME,TYPE,FSTYPE,MOUNTPOINT,RM";

/// PowerShell: every BitLocker volume with its enums as names.
pub const BITLOCKER_PS: &str = "Get-BitLockerVolume | ForEach-Object { [pscustomobject]@{ MountPoint = \"$($_.MountPoint)\"; VolumeType = \"$($_.VolumeType)\"; VolumeStatus = \"$($_.VolumeStatus)\"; ProtectionStatus = \"$($_.ProtectionStatus)\"; EncryptionPercentage = $_.EncryptionPercentage; EncryptionMethod = \"$($_.EncryptionMethod)\" } } | ConvertTo-Json -Compress";

/// PowerShell: manage-bde's verdict on the system drive, as `drive=C: rc=0`.
pub const MANAGE_BDE_PS: &str = "$d = $env:SystemDrive; manage-bde -status $d -protectionaserrorlevel *> $null; \"drive=$d rc=$LASTEXITCODE\"";

impl Check for DiskEncryptionCheck {
    fn probes(&self, facts: &Map<String, Value>) -> Vec<Probe> {
        match platform(facts) {
            "windows" => vec![
                Probe::new("bitlocker", BITLOCKER_PS),
                Probe::new("manage_bde", MANAGE_BDE_PS),
            ],
            "macos" => vec![Probe::new("fdesetup", "/usr/bin/fdesetup status")],
            _ => vec![
                Probe::new(
                    "lsblk",
                    format!("{SBIN}command -v lsblk >/dev/null 2>&1 || {{ echo 'lsblk: command not found' >&2; exit 127; }}; {LSBLK}"),
                ),
                Probe::new("crypttab", "cat /etc/crypttab"),
                Probe::new(
                    "swap",
                    format!("{SBIN}swapon --show=NAME --noheadings 2>/dev/null || sed 1d /proc/swaps | cut -d' ' -f1"),
                ),
                Probe::new(
                    "luks",
                    format!(
                        "{SBIN}command -v cryptsetup >/dev/null 2>&1 || {{ echo 'cryptsetup: command not found' >&2; exit 127; }}; \
                         lsblk -nrpo NAME,TYPE,FSTYPE 2>/dev/null | while read -r n t f; do \
                         if [ \"$t\" = crypt ]; then echo \"@@status $n\"; cryptsetup status \"$n\" 2>&1; fi; \
                         if [ \"$f\" = crypto_LUKS ]; then echo \"@@dump $n\"; cryptsetup luksDump \"$n\" 2>&1; fi; \
                         done"
                    ),
                ),
            ],
        }
    }

    fn evaluate(&self, ctx: &CheckCtx<'_>) -> Finding {
        let (mut f, manual) = match platform(ctx.facts) {
            "windows" => (self.evaluate_windows(ctx), MANUAL_WINDOWS),
            "macos" => (
                match ctx.probe("fdesetup") {
                    Ok(o) => self.judge_fdesetup(o),
                    Err(f) => f,
                },
                MANUAL_MACOS,
            ),
            _ => (self.evaluate_linux(ctx), MANUAL_LINUX),
        };
        let mut data = match f.data.take() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        data.insert("manual".into(), json!(manual));
        f.data = Value::Object(data);
        f
    }
}

// ------------------------------------------------------------------ Linux: lsblk

/// One node of lsblk's tree.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockDev {
    pub name: String,
    pub path: String,
    pub kind: String,
    pub fstype: Option<String>,
    pub mounts: Vec<String>,
    pub removable: bool,
    pub children: Vec<BlockDev>,
}

impl BlockDev {
    fn label(&self) -> String {
        match &self.fstype {
            Some(f) => format!("{} {} {f}", self.name, self.kind),
            None => format!("{} {}", self.name, self.kind),
        }
    }
}

fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => matches!(s.as_str(), "1" | "true"),
        _ => false,
    }
}

fn node(v: &Value) -> Option<BlockDev> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let name = s("name")?;
    let kind = s("type").unwrap_or_default();
    let path = s("path").unwrap_or_else(|| {
        if kind == "crypt" || kind == "lvm" {
            format!("/dev/mapper/{name}")
        } else {
            format!("/dev/{name}")
        }
    });
    let mut mounts: Vec<String> = vec![];
    if let Some(m) = s("mountpoint") {
        mounts.push(m);
    }
    if let Some(Value::Array(a)) = v.get("mountpoints") {
        for m in a.iter().filter_map(Value::as_str) {
            if !mounts.iter().any(|x| x == m) {
                mounts.push(m.to_string());
            }
        }
    }
    let children = v
        .get("children")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(node).collect())
        .unwrap_or_default();
    Some(BlockDev {
        name,
        path,
        kind,
        fstype: s("fstype"),
        mounts,
        removable: flag(v.get("rm")),
        children,
    })
}

/// Parses `lsblk -J` of any util-linux version (`mountpoint` or `mountpoints`).
pub fn parse_lsblk(text: &str) -> Result<Vec<BlockDev>, String> {
    let v: Value = serde_json::from_str(text.trim())
        .map_err(|e| format!("lsblk printed something that is not JSON: {e}"))?;
    let list = v
        .get("blockdevices")
        .and_then(Value::as_array)
        .ok_or("lsblk's JSON has no `blockdevices` list")?;
    Ok(list.iter().filter_map(node).collect())
}

/// Every path from the top of the tree down to a node that `pick` selects.
pub fn paths_to<'a>(
    roots: &'a [BlockDev],
    pick: &dyn Fn(&BlockDev) -> bool,
) -> Vec<Vec<&'a BlockDev>> {
    fn walk<'a>(
        n: &'a BlockDev,
        stack: &mut Vec<&'a BlockDev>,
        pick: &dyn Fn(&BlockDev) -> bool,
        out: &mut Vec<Vec<&'a BlockDev>>,
    ) {
        stack.push(n);
        if pick(n) {
            out.push(stack.clone());
        }
        for c in &n.children {
            walk(c, stack, pick, out);
        }
        stack.pop();
    }
    let mut out = vec![];
    for r in roots {
        walk(r, &mut vec![], pick, &mut out);
    }
    out
}

/// LUKS facts of a mapping or container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Luks {
    /// 1 or 2; None for plain dm-crypt or when unknown.
    pub version: Option<u32>,
    pub cipher: Option<String>,
    /// `LUKS1`, `LUKS2`, `PLAIN`... as cryptsetup names it.
    pub kind: Option<String>,
}

/// Parses `cryptsetup luksDump` text (LUKS1 and LUKS2).
pub fn parse_luks_dump(text: &str) -> Luks {
    let mut l = Luks::default();
    let mut in_segments = false;
    let mut name = None;
    let mut mode = None;
    for line in text.lines() {
        let t = line.trim();
        if !line.starts_with([' ', '\t']) {
            in_segments = t.starts_with("Data segments:");
        }
        if let Some(v) = t.strip_prefix("Version:") {
            l.version = v.trim().parse().ok();
            l.kind = l.version.map(|v| format!("LUKS{v}"));
        } else if let Some(v) = t.strip_prefix("cipher:") {
            if in_segments && l.cipher.is_none() {
                l.cipher = Some(v.trim().to_string());
            }
        } else if let Some(v) = t.strip_prefix("Cipher name:") {
            name = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("Cipher mode:") {
            mode = Some(v.trim().to_string());
        }
    }
    if l.cipher.is_none() {
        if let (Some(n), Some(m)) = (name, mode) {
            l.cipher = Some(format!("{n}-{m}"));
        }
    }
    l
}

/// Parses `cryptsetup status NAME`: (backing device, facts).
pub fn parse_crypt_status(text: &str) -> (Option<String>, Luks) {
    let mut l = Luks::default();
    let mut dev = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("type:") {
            let v = v.trim().to_string();
            l.version = v.strip_prefix("LUKS").and_then(|x| x.parse().ok());
            l.kind = Some(v);
        } else if let Some(v) = t.strip_prefix("cipher:") {
            l.cipher = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("device:") {
            dev = Some(v.trim().to_string());
        }
    }
    (dev, l)
}

/// The `luks` probe: `@@status /dev/mapper/X` and `@@dump /dev/sdaN` sections, by device path.
pub fn parse_luks_probe(text: &str) -> HashMap<String, Luks> {
    let mut out: HashMap<String, Luks> = HashMap::new();
    let mut cur: Option<(bool, String, String)> = None;
    let flush = |cur: &mut Option<(bool, String, String)>, out: &mut HashMap<String, Luks>| {
        if let Some((status, dev, body)) = cur.take() {
            let l = if status {
                let (backing, l) = parse_crypt_status(&body);
                if let Some(b) = backing {
                    out.entry(b).or_insert_with(|| l.clone());
                }
                l
            } else {
                parse_luks_dump(&body)
            };
            let e = out.entry(dev).or_default();
            e.version = e.version.or(l.version);
            e.cipher = e.cipher.clone().or(l.cipher);
            e.kind = e.kind.clone().or(l.kind);
        }
    };
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("@@status ") {
            flush(&mut cur, &mut out);
            cur = Some((true, d.trim().to_string(), String::new()));
        } else if let Some(d) = line.strip_prefix("@@dump ") {
            flush(&mut cur, &mut out);
            cur = Some((false, d.trim().to_string(), String::new()));
        } else if let Some(c) = cur.as_mut() {
            c.2.push_str(line);
            c.2.push('\n');
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// How one mounted target is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub mount: String,
    /// Each path from the top of the tree (usually one).
    pub chains: Vec<Vec<String>>,
    /// The crypt mapping protecting it on every path, if any.
    pub crypt: Option<String>,
    /// The crypt's container (its parent).
    pub container: Option<String>,
    /// Set when the only crypt layer sits on a loop device.
    pub loop_backed: Option<String>,
    /// The node it is mounted from (last of the chain).
    pub device: String,
}

/// Where `mount` lives in the tree, and whether every path to it passes a usable crypt.
pub fn locate(roots: &[BlockDev], mount: &str) -> Option<Target> {
    let paths = paths_to(roots, &|n| n.mounts.iter().any(|m| m == mount));
    if paths.is_empty() {
        return None;
    }
    let mut crypt = None;
    let mut container = None;
    let mut loop_backed = None;
    let mut all = true;
    for p in &paths {
        let ci = p.iter().rposition(|n| n.kind == "crypt");
        match ci {
            Some(i) if p[..i].iter().any(|n| n.kind == "loop") => {
                let lp = p[..i].iter().find(|n| n.kind == "loop").unwrap();
                loop_backed = Some(format!(
                    "{} over {} (a file-backed loop device)",
                    p[i].name, lp.name
                ));
                all = false;
            }
            Some(i) => {
                crypt.get_or_insert_with(|| p[i].path.clone());
                if i > 0 {
                    container.get_or_insert_with(|| p[i - 1].path.clone());
                }
            }
            None => all = false,
        }
    }
    let device = paths[0].last().map(|n| n.name.clone()).unwrap_or_default();
    Some(Target {
        mount: mount.to_string(),
        chains: paths
            .iter()
            .map(|p| p.iter().map(|n| n.label()).collect())
            .collect(),
        crypt: if all { crypt } else { None },
        container: if all { container } else { None },
        loop_backed,
        device,
    })
}

fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn lookup<'a>(luks: &'a HashMap<String, Luks>, dev: &str) -> Option<&'a Luks> {
    luks.get(dev).or_else(|| {
        luks.iter()
            .find(|(k, _)| base(k) == base(dev))
            .map(|(_, v)| v)
    })
}

impl DiskEncryptionCheck {
    /// The mounts to judge: `/` for system; for all_fixed also every other filesystem on a
    /// non-removable disk (not /boot, /boot/efi) and swap.
    fn targets(&self, roots: &[BlockDev], swaps: &[String]) -> (Vec<String>, Vec<String>) {
        let mut mounts = vec!["/".to_string()];
        let mut notes = vec![];
        if self.scope == Scope::AllFixed {
            fn collect(n: &BlockDev, removable: bool, out: &mut Vec<String>) {
                let rm = removable || n.removable;
                if !rm {
                    for m in &n.mounts {
                        if !out.contains(m) {
                            out.push(m.clone());
                        }
                    }
                }
                for c in &n.children {
                    collect(c, rm, out);
                }
            }
            let mut all = vec![];
            for r in roots {
                if r.kind == "rom" || r.name.starts_with("zram") {
                    continue;
                }
                collect(r, false, &mut all);
            }
            for m in all {
                if m == "/" || m == "/boot" || m == "/boot/efi" || m == "/efi" || m == "[SWAP]" {
                    continue;
                }
                if m.starts_with("/snap/") {
                    continue; // read-only squashfs images on loop devices
                }
                mounts.push(m);
            }
            for s in swaps {
                if base(s).starts_with("zram") {
                    notes.push(format!("swap {s} is compressed RAM (zram), exempt"));
                    continue;
                }
                mounts.push(format!("swap:{s}"));
            }
        }
        (mounts, notes)
    }

    fn evaluate_linux(&self, ctx: &CheckCtx<'_>) -> Finding {
        let ls = match ctx.probe("lsblk") {
            Ok(o) => o,
            Err(f) => return f,
        };
        if ls.rc != 0 || ls.stdout.trim().is_empty() {
            let why = if ls.rc == 127 {
                "lsblk is not installed (util-linux)".to_string()
            } else {
                format!("lsblk failed: {}", ls.stderr.trim())
            };
            return Finding::error(format!("cannot check disk encryption: {why}"));
        }
        let roots = match parse_lsblk(&ls.stdout) {
            Ok(r) => r,
            Err(e) => return Finding::error(format!("cannot check disk encryption: {e}")),
        };
        let swaps: Vec<String> = ctx
            .out
            .get("swap")
            .map(|o| {
                o.stdout
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let luks_out = ctx.out.get("luks");
        let luks = luks_out
            .map(|o| parse_luks_probe(&o.stdout))
            .unwrap_or_default();
        let crypttab: Vec<String> = ctx
            .out
            .get("crypttab")
            .filter(|o| o.rc == 0)
            .map(|o| {
                o.stdout
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        self.judge_linux(&roots, &swaps, &luks, &crypttab, luks_out)
    }

    /// The verdict from parsed evidence (unit-testable without probes).
    pub fn judge_linux(
        &self,
        roots: &[BlockDev],
        swaps: &[String],
        luks: &HashMap<String, Luks>,
        crypttab: &[String],
        luks_out: Option<&ProbeOut>,
    ) -> Finding {
        let (mounts, mut notes) = self.targets(roots, swaps);
        let mut status = Status::Pass;
        let mut msgs = vec![];
        let mut per = vec![];
        let mut missing_evidence = false;
        for m in &mounts {
            let (what, t) = if let Some(s) = m.strip_prefix("swap:") {
                // A swap partition is mounted as [SWAP]; a swap file lives on a filesystem.
                let by_dev = paths_to(roots, &|n| n.path == s || n.name == base(s));
                if !by_dev.is_empty() {
                    let name = by_dev[0].last().unwrap().name.clone();
                    let t = locate_node(roots, &name);
                    (format!("swap {s}"), t)
                } else {
                    let fs = best_mount(roots, s);
                    (format!("swap file {s}"), fs.and_then(|f| locate(roots, &f)))
                }
            } else {
                (m.clone(), locate(roots, m))
            };
            let Some(t) = t else {
                if m == "/" {
                    return Finding::error(
                        "cannot check disk encryption: no block device is mounted at / (a container or network root?)",
                    );
                }
                notes.push(format!("{what}: device not found in lsblk"));
                continue;
            };
            let mut entry =
                json!({"mount": what, "chain": t.chains.first(), "encrypted": t.crypt.is_some()});
            if t.chains.len() > 1 {
                entry["chains"] = json!(t.chains);
            }
            match &t.crypt {
                None => {
                    status = super::worst(status, Status::Fail);
                    if let Some(l) = &t.loop_backed {
                        msgs.push(format!(
                            "{what} is on {l}, which does not count as disk encryption"
                        ));
                        entry["loop_backed"] = json!(l);
                    } else if t.chains.len() > 1 {
                        msgs.push(format!(
                            "{what} is on {}, which is not encrypted on every device under it",
                            t.device
                        ));
                    } else {
                        msgs.push(format!("{what} is on {}, which is not encrypted", t.device));
                    }
                }
                Some(c) => {
                    let info = lookup(luks, c)
                        .cloned()
                        .or_else(|| {
                            t.container
                                .as_deref()
                                .and_then(|d| lookup(luks, d))
                                .cloned()
                        })
                        .unwrap_or_default();
                    let mut info = info;
                    if let Some(d) = t.container.as_deref().and_then(|d| lookup(luks, d)) {
                        info.version = info.version.or(d.version);
                        info.cipher = info.cipher.clone().or(d.cipher.clone());
                    }
                    let kind = info
                        .kind
                        .clone()
                        .or(info.version.map(|v| format!("LUKS{v}")));
                    entry["luks_version"] = json!(info.version);
                    entry["cipher"] = json!(info.cipher);
                    let desc: Vec<String> = [kind.clone(), info.cipher.clone()]
                        .into_iter()
                        .flatten()
                        .collect();
                    let crypt_name = base(c).to_string();
                    let mut line = if desc.is_empty() {
                        format!("{what} is on {crypt_name} (dm-crypt)")
                    } else {
                        format!("{what} is on {crypt_name} ({})", desc.join(", "))
                    };
                    if let Some(min) = self.min_luks_version {
                        match info.version {
                            Some(v) if v < min => {
                                status = super::worst(status, Status::Fail);
                                line.push_str(&format!(", older than LUKS{min}"));
                            }
                            Some(_) => {}
                            None if kind.as_deref().is_some_and(|k| !k.starts_with("LUKS")) => {
                                status = super::worst(status, Status::Fail);
                                line.push_str(", not LUKS");
                            }
                            None => {
                                missing_evidence = true;
                                status = super::worst(status, Status::Warn);
                                line.push_str(", LUKS version unknown");
                            }
                        }
                    }
                    if self.allowed_ciphers.is_some() {
                        match &info.cipher {
                            Some(ci) if !self.cipher_ok(ci) => {
                                status = super::worst(status, Status::Fail);
                                line.push_str(&format!(", cipher {ci} not allowed"));
                            }
                            Some(_) => {}
                            None => {
                                missing_evidence = true;
                                status = super::worst(status, Status::Warn);
                                line.push_str(", cipher unknown");
                            }
                        }
                    }
                    msgs.push(line);
                }
            }
            per.push(entry);
        }
        if missing_evidence {
            let why = match luks_out {
                Some(o) if o.rc == 127 => "cryptsetup is not installed".to_string(),
                Some(o) if !o.stderr.trim().is_empty() => o.stderr.trim().to_string(),
                _ => "cryptsetup gave no details (run the audit as root)".to_string(),
            };
            notes.push(why);
        }
        let mut observed = json!({"volumes": per});
        if let Some(first) = per.first() {
            observed["chain"] = first["chain"].clone();
            observed["luks_version"] = first.get("luks_version").cloned().unwrap_or(Value::Null);
            observed["cipher"] = first.get("cipher").cloned().unwrap_or(Value::Null);
            observed["encrypted"] = first["encrypted"].clone();
        }
        if !crypttab.is_empty() {
            observed["crypttab"] = json!(crypttab);
        }
        if !notes.is_empty() {
            observed["notes"] = json!(notes);
        }
        let mut f = Finding::new(status, observed, self.expected(), msgs.join("; "));
        f.data = json!({"platform": "linux"});
        f
    }
}

fn locate_node(roots: &[BlockDev], name: &str) -> Option<Target> {
    // Reuse `locate` by pretending the node is mounted at a unique marker.
    fn mark(n: &BlockDev, name: &str) -> BlockDev {
        let mut c = n.clone();
        if c.name == name {
            c.mounts.push("\u{0}swap".into());
        }
        c.children = n.children.iter().map(|x| mark(x, name)).collect();
        c
    }
    let marked: Vec<BlockDev> = roots.iter().map(|r| mark(r, name)).collect();
    locate(&marked, "\u{0}swap").map(|mut t| {
        t.mount = name.to_string();
        t
    })
}

/// The mount point holding a file path (longest prefix).
fn best_mount(roots: &[BlockDev], file: &str) -> Option<String> {
    let mut best: Option<String> = None;
    for p in paths_to(roots, &|n| !n.mounts.is_empty()) {
        for m in &p.last().unwrap().mounts {
            let prefix = if m == "/" {
                "/".to_string()
            } else {
                format!("{m}/")
            };
            if file.starts_with(&prefix) && best.as_ref().is_none_or(|b| b.len() < m.len()) {
                best = Some(m.clone());
            }
        }
    }
    best
}

// ------------------------------------------------------------------ macOS

/// FileVault's state from `fdesetup status`: (status, summary, percent).
pub fn parse_fdesetup(text: &str) -> Option<(Status, String, Option<f64>)> {
    let t = text.trim();
    let pct = t.lines().find_map(|l| {
        l.split_once("Percent completed =")
            .and_then(|(_, p)| p.trim().trim_end_matches('%').parse::<f64>().ok())
    });
    let lower = t.to_ascii_lowercase();
    if lower.contains("decryption in progress") {
        return Some((Status::Fail, "FileVault decryption in progress".into(), pct));
    }
    if lower.contains("encryption in progress") {
        let p = pct.map(|p| format!(" ({p}% done)")).unwrap_or_default();
        return Some((
            Status::Warn,
            format!("FileVault encryption in progress{p}"),
            pct,
        ));
    }
    if lower.contains("deferred enablement")
        || lower.contains("will be enabled after the next restart")
    {
        return Some((
            Status::Warn,
            "FileVault will be enabled after the next restart or logout".into(),
            pct,
        ));
    }
    if lower.starts_with("filevault is on, but needs to be restarted") {
        return Some((
            Status::Warn,
            "FileVault is on but needs a restart to finish".into(),
            pct,
        ));
    }
    if lower.starts_with("filevault is off, but needs to be restarted") {
        return Some((
            Status::Fail,
            "FileVault is off (a restart is pending)".into(),
            pct,
        ));
    }
    if lower.starts_with("filevault is on") {
        return Some((Status::Pass, "FileVault is on".into(), pct));
    }
    if lower.starts_with("filevault is off") {
        return Some((Status::Fail, "FileVault is off".into(), pct));
    }
    None
}

impl DiskEncryptionCheck {
    fn judge_fdesetup(&self, o: &ProbeOut) -> Finding {
        match parse_fdesetup(&o.stdout) {
            Some((status, msg, pct)) => {
                let state = o.stdout.trim().lines().next().unwrap_or("").to_string();
                let mut observed = json!({"filevault": state});
                if let Some(p) = pct {
                    observed["percent_completed"] = json!(p);
                }
                let mut f = Finding::new(status, observed, self.expected(), msg);
                f.data = json!({"platform": "macos"});
                f
            }
            None => Finding::error(format!(
                "cannot read FileVault's state: {}",
                if o.rc == 127 {
                    "fdesetup not found".to_string()
                } else {
                    format!("{} {}", o.stdout.trim(), o.stderr.trim())
                        .trim()
                        .to_string()
                }
            )),
        }
    }
}

// ------------------------------------------------------------------ Windows

/// One BitLocker volume, enums normalised to their names.
#[derive(Debug, Clone, PartialEq)]
pub struct BitLockerVolume {
    pub mount: String,
    pub volume_type: String,
    pub volume_status: String,
    pub protection: String,
    pub percent: Option<f64>,
    pub method: String,
}

fn enum_name(v: Option<&Value>, names: &[&str]) -> String {
    match v {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|i| names.get(i as usize))
            .map(|s| s.to_string())
            .unwrap_or_else(|| n.to_string()),
        Some(Value::String(s)) => match s.trim().parse::<usize>() {
            Ok(i) if i < names.len() => names[i].to_string(),
            _ => s.trim().to_string(),
        },
        _ => String::new(),
    }
}

/// Parses `Get-BitLockerVolume | ... | ConvertTo-Json` (a list, or one object).
pub fn parse_bitlocker(text: &str) -> Result<Vec<BitLockerVolume>, String> {
    let v: Value = serde_json::from_str(text.trim().trim_start_matches('\u{feff}'))
        .map_err(|e| format!("Get-BitLockerVolume printed something that is not JSON: {e}"))?;
    let items = match v {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        other => return Err(format!("unexpected Get-BitLockerVolume output: {other}")),
    };
    Ok(items
        .iter()
        .map(|it| BitLockerVolume {
            mount: it
                .get("MountPoint")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            volume_type: enum_name(
                it.get("VolumeType"),
                &["OperatingSystem", "Data", "Removable"],
            ),
            volume_status: enum_name(
                it.get("VolumeStatus"),
                &[
                    "FullyDecrypted",
                    "FullyEncrypted",
                    "EncryptionInProgress",
                    "DecryptionInProgress",
                    "EncryptionPaused",
                    "DecryptionPaused",
                ],
            ),
            protection: enum_name(it.get("ProtectionStatus"), &["Off", "On", "Unknown"]),
            percent: it.get("EncryptionPercentage").and_then(|p| match p {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }),
            method: enum_name(
                it.get("EncryptionMethod"),
                &[
                    "None",
                    "Aes128Diffuser",
                    "Aes256Diffuser",
                    "Aes128",
                    "Aes256",
                    "Hardware",
                    "XtsAes128",
                    "XtsAes256",
                ],
            ),
        })
        .collect())
}

impl DiskEncryptionCheck {
    fn evaluate_windows(&self, ctx: &CheckCtx<'_>) -> Finding {
        let bl = ctx.out.get("bitlocker");
        let mbde = ctx.out.get("manage_bde");
        let drive = mbde
            .and_then(|o| {
                o.stdout
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("drive="))
            })
            .filter(|d| !d.is_empty())
            .unwrap_or("C:")
            .to_string();
        let parsed = bl
            .filter(|o| !o.stdout.trim().is_empty())
            .map(|o| parse_bitlocker(&o.stdout));
        match parsed {
            Some(Ok(vols)) if !vols.is_empty() => self.judge_bitlocker(&vols, &drive),
            other => {
                // Fallback: manage-bde's exit code for the system drive.
                let rc = mbde.and_then(|o| {
                    o.stdout
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("rc="))
                        .and_then(|r| r.parse::<i64>().ok())
                });
                let why = match other {
                    Some(Err(e)) => e,
                    _ => bl
                        .map(|o| o.stderr.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| "Get-BitLockerVolume gave nothing".into()),
                };
                let observed = json!({"tool": "manage-bde", "drive": drive, "protection_as_error_level": rc, "bitlocker_module": why});
                let mut f = match rc {
                    Some(0) => Finding::new(
                        Status::Pass,
                        observed,
                        self.expected(),
                        format!("{drive} is protected by BitLocker (manage-bde)"),
                    ),
                    Some(1) => Finding::new(
                        Status::Fail,
                        observed,
                        self.expected(),
                        format!("{drive} is not protected by BitLocker (manage-bde)"),
                    ),
                    _ => return Finding::error(format!("cannot read BitLocker's state: {why}")),
                };
                if self.scope == Scope::AllFixed {
                    f.status = super::worst(f.status, Status::Warn);
                    f.message
                        .push_str("; other volumes not checked without the BitLocker module");
                }
                f.data = json!({"platform": "windows"});
                f
            }
        }
    }

    pub fn judge_bitlocker(&self, vols: &[BitLockerVolume], system_drive: &str) -> Finding {
        let selected: Vec<&BitLockerVolume> = match self.scope {
            Scope::System => {
                let os: Vec<&BitLockerVolume> = vols
                    .iter()
                    .filter(|v| v.volume_type == "OperatingSystem")
                    .collect();
                if os.is_empty() {
                    vols.iter()
                        .filter(|v| v.mount.eq_ignore_ascii_case(system_drive))
                        .collect()
                } else {
                    os
                }
            }
            Scope::AllFixed => vols
                .iter()
                .filter(|v| {
                    matches!(
                        v.volume_type.as_str(),
                        "OperatingSystem" | "Data" | "Fixed" | "FixedData"
                    )
                })
                .collect(),
        };
        if selected.is_empty() {
            return Finding::error(format!(
                "cannot find the system volume ({system_drive}) among BitLocker's volumes"
            ));
        }
        let mut status = Status::Pass;
        let mut msgs = vec![];
        let mut per = vec![];
        for v in selected {
            let (s, what) = match (v.volume_status.as_str(), v.protection.as_str()) {
                ("FullyEncrypted", "On") => (Status::Pass, format!("{} is encrypted ({})", v.mount, v.method)),
                ("FullyEncrypted", _) => (Status::Fail, format!("{} is encrypted but BitLocker protection is {} (suspended: the key is in the clear)", v.mount, v.protection.to_ascii_lowercase())),
                ("EncryptionInProgress" | "EncryptionPaused", _) => (
                    Status::Warn,
                    format!(
                        "{} encryption {}{}",
                        v.mount,
                        if v.volume_status == "EncryptionPaused" { "paused" } else { "in progress" },
                        v.percent.map(|p| format!(" ({p}% done)")).unwrap_or_default()
                    ),
                ),
                ("DecryptionInProgress" | "DecryptionPaused", _) => (Status::Fail, format!("{} is being decrypted", v.mount)),
                _ => (Status::Fail, format!("{} is not encrypted", v.mount)),
            };
            let mut s = s;
            let mut what = what;
            if s != Status::Fail
                && !v.method.is_empty()
                && v.method != "None"
                && !self.cipher_ok(&v.method)
            {
                s = Status::Fail;
                what.push_str(&format!(", method {} not allowed", v.method));
            }
            status = super::worst(status, s);
            msgs.push(what);
            per.push(json!({"mount": v.mount, "volume_type": v.volume_type, "volume_status": v.volume_status, "protection": v.protection, "percent": v.percent, "method": v.method}));
        }
        let mut f = Finding::new(
            status,
            json!({"tool": "Get-BitLockerVolume", "volumes": per}),
            self.expected(),
            msgs.join("; "),
        );
        f.data = json!({"platform": "windows"});
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/checks/disk/");

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{DATA}{name}")).unwrap()
    }

    fn po(rc: i64, out: &str, err: &str) -> ProbeOut {
        ProbeOut {
            rc,
            stdout: out.into(),
            stderr: err.into(),
        }
    }

    fn eval(args: Value, system: &str, outs: &[(&str, ProbeOut)]) -> Finding {
        let c = DiskEncryptionCheck::from_args(&args).unwrap();
        let facts = json!({"system": system}).as_object().cloned().unwrap();
        let out: HashMap<String, ProbeOut> = outs
            .iter()
            .map(|(k, o)| (k.to_string(), o.clone()))
            .collect();
        c.evaluate(&CheckCtx {
            facts: &facts,
            vars: &Value::Null,
            out: &out,
        })
    }

    fn linux(args: Value, lsblk: &str, luks: &str, swap: &str) -> Finding {
        eval(
            args,
            "Linux",
            &[
                ("lsblk", po(0, lsblk, "")),
                (
                    "crypttab",
                    po(1, "", "cat: /etc/crypttab: No such file or directory\n"),
                ),
                ("swap", po(0, swap, "")),
                ("luks", po(0, luks, "")),
            ],
        )
    }

    /// util-linux 2.38 shape: LVM on LUKS on a NVMe partition (`mountpoints` arrays).
    const LVM_ON_LUKS: &str = r#"{"blockdevices": [
  {"name":"nvme0n1","path":"/dev/nvme0n1","type":"disk","fstype":null,"mountpoint":null,"mountpoints":[null],"pkname":null,"rm":false,
   "children":[
     {"name":"nvme0n1p1","path":"/dev/nvme0n1p1","type":"part","fstype":"vfat","mountpoint":"/boot/efi","mountpoints":["/boot/efi"],"pkname":"nvme0n1","rm":false},
     {"name":"nvme0n1p2","path":"/dev/nvme0n1p2","type":"part","fstype":"ext4","mountpoint":"/boot","mountpoints":["/boot"],"pkname":"nvme0n1","rm":false},
     {"name":"nvme0n1p3","path":"/dev/nvme0n1p3","type":"part","fstype":"crypto_LUKS","mountpoint":null,"mountpoints":[null],"pkname":"nvme0n1","rm":false,
      "children":[
        {"name":"cryptroot","path":"/dev/mapper/cryptroot","type":"crypt","fstype":"LVM2_member","mountpoint":null,"mountpoints":[null],"pkname":"nvme0n1p3","rm":false,
         "children":[
           {"name":"vg-root","path":"/dev/mapper/vg-root","type":"lvm","fstype":"ext4","mountpoint":"/","mountpoints":["/"],"pkname":"cryptroot","rm":false},
           {"name":"vg-swap","path":"/dev/mapper/vg-swap","type":"lvm","fstype":"swap","mountpoint":"[SWAP]","mountpoints":["[SWAP]"],"pkname":"cryptroot","rm":false}
         ]}
      ]}
   ]},
  {"name":"sda","path":"/dev/sda","type":"disk","fstype":null,"mountpoint":null,"mountpoints":[null],"pkname":null,"rm":true,
   "children":[{"name":"sda1","path":"/dev/sda1","type":"part","fstype":"exfat","mountpoint":"/media/usb","mountpoints":["/media/usb"],"pkname":"sda","rm":true}]}
]}"#;

    const STATUS_CRYPTROOT: &str = "@@status /dev/mapper/cryptroot\n/dev/mapper/cryptroot is active and is in use.\n  type:    LUKS2\n  cipher:  aes-xts-plain64\n  keysize: 512 bits\n  key location: keyring\n  device:  /dev/nvme0n1p3\n  sector size:  512\n  offset:  32768 sectors\n  size:    998166528 sectors\n  mode:    read/write\n";

    /// Older lsblk (no PATH, `mountpoint` strings, `rm` as "0"/"1"): LUKS on LVM.
    const LUKS_ON_LVM: &str = r#"{
   "blockdevices": [
      {"name": "sda", "type": "disk", "fstype": null, "mountpoint": null, "rm": "0",
         "children": [
            {"name": "sda1", "type": "part", "fstype": "ext4", "mountpoint": "/boot", "rm": "0"},
            {"name": "sda2", "type": "part", "fstype": "LVM2_member", "mountpoint": null, "rm": "0",
               "children": [
                  {"name": "vg0-root", "type": "lvm", "fstype": "crypto_LUKS", "mountpoint": null, "rm": "0",
                     "children": [
                        {"name": "root_crypt", "type": "crypt", "fstype": "ext4", "mountpoint": "/", "rm": "0"}
                     ]
                  },
                  {"name": "vg0-home", "type": "lvm", "fstype": "ext4", "mountpoint": "/home", "rm": "0"}
               ]
            }
         ]
      }
   ]
}"#;

    #[test]
    fn lvm_on_luks_passes_with_version_and_cipher() {
        let f = linux(
            json!({"scope": "all_fixed", "min_luks_version": 2, "allowed_ciphers": ["aes-xts-plain64"]}),
            LVM_ON_LUKS,
            STATUS_CRYPTROOT,
            "/dev/dm-2\n",
        );
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        assert!(
            f.message
                .starts_with("/ is on cryptroot (LUKS2, aes-xts-plain64)"),
            "{}",
            f.message
        );
        assert_eq!(
            f.observed["chain"],
            json!([
                "nvme0n1 disk",
                "nvme0n1p3 part crypto_LUKS",
                "cryptroot crypt LVM2_member",
                "vg-root lvm ext4"
            ])
        );
        assert_eq!(f.observed["luks_version"], 2);
        assert_eq!(f.observed["cipher"], "aes-xts-plain64");
        // The removable USB stick, /boot and /boot/efi are not judged.
        assert!(
            !f.message.contains("/media/usb") && !f.message.contains("/boot"),
            "{}",
            f.message
        );
        assert!(f.data["manual"]
            .as_str()
            .unwrap()
            .contains("cryptsetup reencrypt"));
        // A cipher policy the volume does not meet.
        let f = linux(
            json!({"allowed_ciphers": ["aes-xts-plain"]}),
            LVM_ON_LUKS,
            STATUS_CRYPTROOT,
            "",
        );
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message.contains("cipher aes-xts-plain64 not allowed"),
            "{}",
            f.message
        );
        // Not root: no cryptsetup evidence, only a warning when a version is required.
        let f = linux(json!({"min_luks_version": 2}), LVM_ON_LUKS, "", "");
        assert_eq!(f.status, Status::Warn, "{}", f.message);
        let f = linux(json!({}), LVM_ON_LUKS, "", "");
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        assert_eq!(f.message, "/ is on cryptroot (dm-crypt)");
    }

    #[test]
    fn luks_on_lvm_older_lsblk() {
        let dump = format!(
            "@@dump /dev/mapper/vg0-root\n{}",
            fixture("luksdump-luks2-pbkdf2.txt")
        );
        let f = linux(json!({"min_luks_version": 2}), LUKS_ON_LVM, &dump, "");
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        assert_eq!(f.message, "/ is on root_crypt (LUKS2, aes-xts-plain64)");
        // all_fixed: /home is a plain LV.
        let f = linux(json!({"scope": "all_fixed"}), LUKS_ON_LVM, &dump, "");
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message
                .contains("/home is on vg0-home, which is not encrypted"),
            "{}",
            f.message
        );
    }

    #[test]
    fn unencrypted_real_debian12() {
        for file in [
            "lsblk-debian12-loop-luks.json",
            "lsblk-debian12-old-columns.json",
            "lsblk-debian12-default.json",
        ] {
            let f = linux(json!({}), &fixture(file), "", "");
            assert_eq!(f.status, Status::Fail, "{file}: {}", f.message);
            assert_eq!(f.message, "/ is on vda, which is not encrypted", "{file}");
        }
        // all_fixed: zram swap is exempt.
        let f = linux(
            json!({"scope": "all_fixed"}),
            &fixture("lsblk-debian12-loop-luks.json"),
            "",
            "/dev/zram0\n",
        );
        assert_eq!(f.status, Status::Fail);
        assert!(f.observed["notes"][0].as_str().unwrap().contains("zram"));
    }

    #[test]
    fn crypt_over_loop_does_not_count() {
        let text = r#"{"blockdevices": [
          {"name":"loop0","path":"/dev/loop0","type":"loop","fstype":"crypto_LUKS","mountpoint":null,"mountpoints":[null],"pkname":null,
           "children":[{"name":"fakeroot","path":"/dev/mapper/fakeroot","type":"crypt","fstype":"ext4","mountpoint":"/","mountpoints":["/"],"pkname":"loop0"}]},
          {"name":"vda","path":"/dev/vda","type":"disk","fstype":"ext4","mountpoint":"/mnt/host","mountpoints":["/mnt/host"],"pkname":null}
        ]}"#;
        let f = linux(json!({}), text, "", "");
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message
                .contains("fakeroot over loop0 (a file-backed loop device)"),
            "{}",
            f.message
        );
    }

    #[test]
    fn lv_spanning_an_unencrypted_pv_fails() {
        let text = r#"{"blockdevices": [
          {"name":"sda","type":"disk","mountpoint":null,"children":[{"name":"sda1","type":"part","fstype":"crypto_LUKS","mountpoint":null,
            "children":[{"name":"luks-a","type":"crypt","fstype":"LVM2_member","mountpoint":null,"children":[{"name":"vg-root","type":"lvm","fstype":"ext4","mountpoint":"/"}]}]}]},
          {"name":"sdb","type":"disk","mountpoint":null,"children":[{"name":"sdb1","type":"part","fstype":"LVM2_member","mountpoint":null,
            "children":[{"name":"vg-root","type":"lvm","fstype":"ext4","mountpoint":"/"}]}]}
        ]}"#;
        let f = linux(json!({}), text, "", "");
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message.contains("not encrypted on every device"),
            "{}",
            f.message
        );
    }

    #[test]
    fn lsblk_missing_or_no_root_device() {
        let f = eval(
            json!({}),
            "Linux",
            &[("lsblk", po(127, "", "lsblk: command not found\n"))],
        );
        assert_eq!(f.status, Status::Error);
        assert!(f.message.contains("lsblk is not installed"));
        let f = linux(json!({}), r#"{"blockdevices": []}"#, "", "");
        assert_eq!(f.status, Status::Error);
    }

    #[test]
    fn luks_dump_parsing() {
        let l = parse_luks_dump(&fixture("luksdump-luks2-pbkdf2.txt"));
        assert_eq!(l.version, Some(2));
        assert_eq!(l.cipher.as_deref(), Some("aes-xts-plain64"));
        let luks1 = "LUKS header information for /dev/sda2\n\nVersion:       \t1\nCipher name:   \taes\nCipher mode:   \txts-plain64\nHash spec:     \tsha256\nPayload offset:\t4096\n";
        let l = parse_luks_dump(luks1);
        assert_eq!(
            (l.version, l.cipher.as_deref()),
            (Some(1), Some("aes-xts-plain64"))
        );
        let (dev, l) = parse_crypt_status(STATUS_CRYPTROOT);
        assert_eq!(dev.as_deref(), Some("/dev/nvme0n1p3"));
        assert_eq!(l.kind.as_deref(), Some("LUKS2"));
    }

    #[test]
    fn filevault_states() {
        let run = |text: &str| eval(json!({}), "Darwin", &[("fdesetup", po(0, text, ""))]);
        assert_eq!(run("FileVault is On.\n").status, Status::Pass);
        let f = run("FileVault is Off.\n");
        assert_eq!(
            (f.status, f.message.as_str()),
            (Status::Fail, "FileVault is off")
        );
        assert!(f.data["manual"]
            .as_str()
            .unwrap()
            .contains("fdesetup enable -defer"));
        let f = run("FileVault is On.\nEncryption in progress: Percent completed = 12\n");
        assert_eq!(f.status, Status::Warn);
        assert!(f.message.contains("12% done"), "{}", f.message);
        assert_eq!(f.observed["percent_completed"], 12.0);
        assert_eq!(
            run("FileVault is Off, but will be enabled after the next restart.\n").status,
            Status::Warn
        );
        assert_eq!(
            run("FileVault is On, but needs to be restarted to finish.\n").status,
            Status::Warn
        );
        assert_eq!(
            run("FileVault is Off, but needs to be restarted to finish.\n").status,
            Status::Fail
        );
        assert_eq!(
            run("FileVault is On.\nDecryption in progress: Percent completed = 42\n").status,
            Status::Fail
        );
        assert_eq!(
            eval(
                json!({}),
                "Darwin",
                &[("fdesetup", po(127, "", "not found"))]
            )
            .status,
            Status::Error
        );
    }

    #[test]
    fn bitlocker_volumes() {
        let run = |args: Value, bl: &str, mbde: &str| {
            eval(
                args,
                "Win32NT",
                &[
                    ("bitlocker", po(0, bl, "")),
                    ("manage_bde", po(0, mbde, "")),
                ],
            )
        };
        let strings = r#"[{"MountPoint":"C:","VolumeType":"OperatingSystem","VolumeStatus":"FullyEncrypted","ProtectionStatus":"On","EncryptionPercentage":100,"EncryptionMethod":"XtsAes128"},{"MountPoint":"D:","VolumeType":"Data","VolumeStatus":"EncryptionInProgress","ProtectionStatus":"Off","EncryptionPercentage":37,"EncryptionMethod":"XtsAes128"}]"#;
        let f = run(json!({}), strings, "drive=C: rc=0");
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        assert_eq!(f.message, "C: is encrypted (XtsAes128)");
        let f = run(json!({"scope": "all_fixed"}), strings, "drive=C: rc=0");
        assert_eq!(f.status, Status::Warn);
        assert!(
            f.message.contains("D: encryption in progress (37% done)"),
            "{}",
            f.message
        );
        let f = run(json!({"allowed_ciphers": ["XtsAes256"]}), strings, "");
        assert_eq!(f.status, Status::Fail);
        // Numbers, and one volume printed as an object.
        let one = r#"{"MountPoint":"C:","VolumeType":0,"VolumeStatus":1,"ProtectionStatus":0,"EncryptionPercentage":100,"EncryptionMethod":7}"#;
        let f = run(json!({}), one, "drive=C: rc=1");
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("protection is off"), "{}", f.message);
        assert_eq!(f.observed["volumes"][0]["method"], "XtsAes256");
        let off = r#"{"MountPoint":"C:","VolumeType":"OperatingSystem","VolumeStatus":"FullyDecrypted","ProtectionStatus":"Off","EncryptionPercentage":0,"EncryptionMethod":"None"}"#;
        let f = run(json!({}), off, "drive=C: rc=1");
        assert_eq!(
            (f.status, f.message.as_str()),
            (Status::Fail, "C: is not encrypted")
        );
        assert!(f.data["manual"]
            .as_str()
            .unwrap()
            .contains("Enable-BitLocker"));
        // No BitLocker module: manage-bde's exit code decides.
        let f = eval(
            json!({}),
            "Win32NT",
            &[
                (
                    "bitlocker",
                    po(
                        1,
                        "",
                        "Get-BitLockerVolume : The term 'Get-BitLockerVolume' is not recognized",
                    ),
                ),
                ("manage_bde", po(0, "drive=C: rc=0\n", "")),
            ],
        );
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        assert_eq!(f.observed["tool"], "manage-bde");
        let f = eval(
            json!({}),
            "Win32NT",
            &[
                ("bitlocker", po(1, "", "denied")),
                ("manage_bde", po(0, "drive=C: rc=\n", "")),
            ],
        );
        assert_eq!(f.status, Status::Error);
    }

    #[test]
    fn args() {
        assert!(DiskEncryptionCheck::from_args(&json!({"scope": "everything"})).is_err());
        assert!(DiskEncryptionCheck::from_args(&json!({"min_luks_version": 3})).is_err());
        assert!(DiskEncryptionCheck::from_args(&json!({"cipher": "x"})).is_err());
        assert!(DiskEncryptionCheck::from_args(&json!({"scope": "all_fixed", "min_luks_version": "2", "allowed_ciphers": "aes-xts-plain64"})).is_ok());
    }
}
