//! The shipped policies against a mixed fleet over real SSH: a Debian server, an encrypted
//! Ubuntu laptop, a RHEL server, an Alpine box, a macOS laptop and a Windows laptop, each a real
//! sshd whose platform commands are shims printing what the real tools print (see
//! `tests/shims/`). One `muster audit` run covers the six; every verdict of laptop-baseline is
//! asserted, the report is checked against the Audit JSON schema, and each host is audited in
//! exactly two exec round trips. `muster apps` is tested on the same fleet.

mod fleet;

use fleet::show;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use fleet::reports::{assert_valid_sarif, headless, prom_line, tags};
use fleet::{Fleet, HostSpec, Profile};
use serde_json::{json, Value};

/// Where the shims of `tests/shims/` read their data on a host.
const SHARE: &str = "/usr/local/share/muster-shims";
const DAY: i64 = 86_400;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn muster(fleet: &Fleet, args: &[&str]) -> Output {
    fleet.run(args)
}

fn schema_check(report: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("schema/audit-v1.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match the schema: {errors:#?}"
    );
}

fn result<'a>(report: &'a Value, host: &str, control: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == host)
        .unwrap_or_else(|| panic!("no host {host} in the report"))["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["control"] == control)
        .unwrap_or_else(|| panic!("no {control} for {host}"))
}

/// One row of `muster apps --format json`.
fn app<'a>(report: &'a Value, name: &str) -> Option<&'a Value> {
    report["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `YYYY-MM-DD  HH:MM:SS` (UTC, the machine's zone and so the hosts') of an epoch, as apt's
/// history.log writes its dates.
fn apt_date(epoch: i64) -> String {
    let days = epoch.div_euclid(DAY);
    let secs = epoch.rem_euclid(DAY);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}  {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// An apt history.log whose last upgrade ended `days` days ago (an older one before it).
fn apt_history(days: i64, pkg: &str, from: &str, to: &str) -> String {
    let end = now() - days * DAY;
    let old = end - 30 * DAY;
    format!(
        "\nStart-Date: {}\nCommandline: apt-get install -y curl\nInstall: curl:amd64 (7.88.1-10+deb12u8)\nEnd-Date: {}\n\n\
         Start-Date: {}\nCommandline: /usr/bin/unattended-upgrade\nUpgrade: {pkg}:amd64 ({from}, {to})\nEnd-Date: {}\n",
        apt_date(old - 9),
        apt_date(old),
        apt_date(end - 8),
        apt_date(end)
    )
}

trait SpecExt {
    fn shim(self, name: &str, script: &[u8]) -> Self;
    fn data(self, name: &str, contents: impl Into<Vec<u8>>) -> Self;
    fn hide_all(self, paths: &[&str]) -> Self;
}

impl SpecExt for HostSpec {
    /// A shim in /usr/local/sbin, first on root's PATH.
    fn shim(self, name: &str, script: &[u8]) -> Self {
        self.file(&format!("/usr/local/sbin/{name}"), script.to_vec(), 0o755)
    }
    /// A data file the shims read.
    fn data(self, name: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.file(&format!("{SHARE}/{name}"), contents, 0o644)
    }
    fn hide_all(self, paths: &[&str]) -> Self {
        paths.iter().fold(self, |s, p| s.hide(p))
    }
}

const NFT: &[u8] = include_bytes!("shims/linux/nft");
const LSBLK: &[u8] = include_bytes!("shims/linux/lsblk");
const SWAPON: &[u8] = include_bytes!("shims/linux/swapon");
const CRYPTSETUP: &[u8] = include_bytes!("shims/linux/cryptsetup");
const APT_GET: &[u8] = include_bytes!("shims/linux/apt-get");
const DPKG_QUERY: &[u8] = include_bytes!("shims/linux/dpkg-query");
const IPTABLES: &[u8] = include_bytes!("shims/linux/iptables");
const RPM: &[u8] = include_bytes!("shims/rhel/rpm");
const DNF: &[u8] = include_bytes!("shims/rhel/dnf");
const NEEDS_RESTARTING: &[u8] = include_bytes!("shims/rhel/needs-restarting");
const SYSTEMCTL: &[u8] = include_bytes!("shims/rhel/systemctl");
const FIREWALL_CMD: &[u8] = include_bytes!("shims/rhel/firewall-cmd");
const APK: &[u8] = include_bytes!("shims/alpine/apk");
const FDESETUP: &[u8] = include_bytes!("shims/macos/fdesetup");
const SOCKETFILTERFW: &[u8] = include_bytes!("shims/macos/socketfilterfw");
const SOFTWAREUPDATE: &[u8] = include_bytes!("shims/macos/softwareupdate");
const DEFAULTS: &[u8] = include_bytes!("shims/macos/defaults");
const SYSTEM_PROFILER: &[u8] = include_bytes!("shims/macos/system_profiler");

/// The Debian tools a non-Debian host must not have (the fleet's hosts are Debian underneath).
const DEBIAN_TOOLS: &[&str] = &[
    "/usr/bin/dpkg",
    "/usr/bin/dpkg-query",
    "/usr/bin/apt",
    "/usr/bin/apt-get",
    "/usr/bin/apt-mark",
    "/usr/bin/apt-config",
];

/// Captured `nft -j list ruleset`: inet filter, policy drop, established/loopback/22/tcp.
const NFT_DROP_SSH: &str = include_str!("data/checks/firewall/nft-drop-ssh.json");
/// A firewalld-shaped ruleset: the public zone with ssh, dhcpv6-client, cockpit and mdns.
const NFT_FIREWALLD: &str = include_str!("data/checks/firewall/nft-firewalld-shape.json");
/// Captured LUKS2 header dump (aes-xts-plain64).
const LUKSDUMP: &str = include_str!("data/checks/disk/luksdump-luks2-pbkdf2.txt");

/// The drop-ssh ruleset without its port rule: a laptop that accepts nothing unsolicited.
fn nft_drop_all() -> String {
    let mut v: Value = serde_json::from_str(NFT_DROP_SSH).unwrap();
    let items = v["nftables"].as_array_mut().unwrap();
    let before = items.len();
    items.retain(|it| !it.to_string().contains("\"dport\""));
    assert_eq!(items.len(), before - 1);
    v.to_string()
}

const LSBLK_PLAIN_VDA: &str = r#"{
   "blockdevices": [
      {"name":"vda", "path":"/dev/vda", "type":"disk", "fstype":null, "mountpoint":null, "mountpoints":[null], "pkname":null, "rm":false,
         "children": [
            {"name":"vda1", "path":"/dev/vda1", "type":"part", "fstype":"ext4", "mountpoint":"/", "mountpoints":["/"], "pkname":"vda", "rm":false},
            {"name":"vda14", "path":"/dev/vda14", "type":"part", "fstype":null, "mountpoint":null, "mountpoints":[null], "pkname":"vda", "rm":false},
            {"name":"vda15", "path":"/dev/vda15", "type":"part", "fstype":"vfat", "mountpoint":"/boot/efi", "mountpoints":["/boot/efi"], "pkname":"vda", "rm":false}
         ]
      }
   ]
}
"#;
const LSBLK_PLAIN_VDA_RAW: &str =
    "/dev/vda disk \n/dev/vda1 part ext4\n/dev/vda14 part \n/dev/vda15 part vfat\n";

/// Ubuntu's installer default with encryption: LVM on LUKS2 on the third NVMe partition.
const LSBLK_UBUNTU_LUKS: &str = r#"{
   "blockdevices": [
      {"name":"nvme0n1", "path":"/dev/nvme0n1", "type":"disk", "fstype":null, "mountpoint":null, "mountpoints":[null], "pkname":null, "rm":false,
         "children": [
            {"name":"nvme0n1p1", "path":"/dev/nvme0n1p1", "type":"part", "fstype":"vfat", "mountpoint":"/boot/efi", "mountpoints":["/boot/efi"], "pkname":"nvme0n1", "rm":false},
            {"name":"nvme0n1p2", "path":"/dev/nvme0n1p2", "type":"part", "fstype":"ext4", "mountpoint":"/boot", "mountpoints":["/boot"], "pkname":"nvme0n1", "rm":false},
            {"name":"nvme0n1p3", "path":"/dev/nvme0n1p3", "type":"part", "fstype":"crypto_LUKS", "mountpoint":null, "mountpoints":[null], "pkname":"nvme0n1", "rm":false,
               "children": [
                  {"name":"dm_crypt-0", "path":"/dev/mapper/dm_crypt-0", "type":"crypt", "fstype":"LVM2_member", "mountpoint":null, "mountpoints":[null], "pkname":"nvme0n1p3", "rm":false,
                     "children": [
                        {"name":"ubuntu--vg-ubuntu--lv", "path":"/dev/mapper/ubuntu--vg-ubuntu--lv", "type":"lvm", "fstype":"ext4", "mountpoint":"/", "mountpoints":["/"], "pkname":"dm_crypt-0", "rm":false}
                     ]
                  }
               ]
            }
         ]
      }
   ]
}
"#;
const LSBLK_UBUNTU_LUKS_RAW: &str = "/dev/nvme0n1 disk \n/dev/nvme0n1p1 part vfat\n/dev/nvme0n1p2 part ext4\n/dev/nvme0n1p3 part crypto_LUKS\n/dev/mapper/dm_crypt-0 crypt LVM2_member\n/dev/mapper/ubuntu--vg-ubuntu--lv lvm ext4\n";
const CRYPT_STATUS: &str = "/dev/mapper/dm_crypt-0 is active and is in use.\n  type:    LUKS2\n  cipher:  aes-xts-plain64\n  keysize: 512 bits\n  key location: keyring\n  device:  /dev/nvme0n1p3\n  sector size:  512\n  offset:  32768 sectors\n  size:    998166528 sectors\n  mode:    read/write\n";

/// RHEL's installer default: XFS on LVM, no encryption.
const LSBLK_RHEL: &str = r#"{
   "blockdevices": [
      {"name":"sda", "path":"/dev/sda", "type":"disk", "fstype":null, "mountpoint":null, "mountpoints":[null], "pkname":null, "rm":false,
         "children": [
            {"name":"sda1", "path":"/dev/sda1", "type":"part", "fstype":"vfat", "mountpoint":"/boot/efi", "mountpoints":["/boot/efi"], "pkname":"sda", "rm":false},
            {"name":"sda2", "path":"/dev/sda2", "type":"part", "fstype":"xfs", "mountpoint":"/boot", "mountpoints":["/boot"], "pkname":"sda", "rm":false},
            {"name":"sda3", "path":"/dev/sda3", "type":"part", "fstype":"LVM2_member", "mountpoint":null, "mountpoints":[null], "pkname":"sda", "rm":false,
               "children": [
                  {"name":"rhel-root", "path":"/dev/mapper/rhel-root", "type":"lvm", "fstype":"xfs", "mountpoint":"/", "mountpoints":["/"], "pkname":"sda3", "rm":false},
                  {"name":"rhel-swap", "path":"/dev/mapper/rhel-swap", "type":"lvm", "fstype":"swap", "mountpoint":"[SWAP]", "mountpoints":["[SWAP]"], "pkname":"sda3", "rm":false}
               ]
            }
         ]
      }
   ]
}
"#;
const LSBLK_RHEL_RAW: &str = "/dev/sda disk \n/dev/sda1 part vfat\n/dev/sda2 part xfs\n/dev/sda3 part LVM2_member\n/dev/mapper/rhel-root lvm xfs\n/dev/mapper/rhel-swap lvm swap\n";

/// `apt-get -s dist-upgrade` as root on Debian 12 with one update from the security suite.
const APT_SIM_DEBIAN: &str = "Reading package lists...\nBuilding dependency tree...\nReading state information...\nCalculating upgrade...\n\
The following packages will be upgraded:\n  base-files libssl3 tzdata\n3 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n\
Inst base-files [12.4+deb12u11] (12.4+deb12u12 Debian:12.12/stable [amd64])\n\
Inst libssl3 [3.0.17-1~deb12u2] (3.0.17-1~deb12u3 Debian-Security:12/stable-security [amd64])\n\
Inst tzdata [2025b-0+deb12u1] (2025b-0+deb12u2 Debian:12.12/stable-updates [all])\n\
Conf base-files (12.4+deb12u12 Debian:12.12/stable [amd64])\n\
Conf libssl3 (3.0.17-1~deb12u3 Debian-Security:12/stable-security [amd64])\n\
Conf tzdata (2025b-0+deb12u2 Debian:12.12/stable-updates [all])\n";

/// The same on Ubuntu 24.04 with six packages from noble-security.
const APT_SIM_UBUNTU: &str = "Reading package lists...\nBuilding dependency tree...\nReading state information...\nCalculating upgrade...\n\
The following packages will be upgraded:\n  curl libcurl4t64 libssl3t64 openssl python3.12 libpython3.12-stdlib snapd\n7 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n\
Inst curl [8.5.0-2ubuntu10.4] (8.5.0-2ubuntu10.6 Ubuntu:24.04/noble-updates, Ubuntu:24.04/noble-security [amd64])\n\
Inst libcurl4t64 [8.5.0-2ubuntu10.4] (8.5.0-2ubuntu10.6 Ubuntu:24.04/noble-updates, Ubuntu:24.04/noble-security [amd64])\n\
Inst libssl3t64 [3.0.13-0ubuntu3.4] (3.0.13-0ubuntu3.5 Ubuntu:24.04/noble-updates, Ubuntu:24.04/noble-security [amd64])\n\
Inst openssl [3.0.13-0ubuntu3.4] (3.0.13-0ubuntu3.5 Ubuntu:24.04/noble-updates, Ubuntu:24.04/noble-security [amd64])\n\
Inst libpython3.12-stdlib [3.12.3-1ubuntu0.3] (3.12.3-1ubuntu0.4 Ubuntu:24.04/noble-security [amd64])\n\
Inst python3.12 [3.12.3-1ubuntu0.3] (3.12.3-1ubuntu0.4 Ubuntu:24.04/noble-security [amd64])\n\
Inst snapd [2.65.3+24.04] (2.66.1+24.04 Ubuntu:24.04/noble-updates [amd64])\n\
Conf curl (8.5.0-2ubuntu10.6 Ubuntu:24.04/noble-updates, Ubuntu:24.04/noble-security [amd64])\n";

const AUTO_UPGRADES: &str =
    "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n";

/// rpm's view of the RHEL host: NAME EPOCHNUM VERSION RELEASE ARCH DAYS_AGO (install time).
const RPM_QA: &str = "bash\t0\t5.1.8\t9.el9\tx86_64\t120\n\
openssl\t1\t3.0.7\t27.el9\tx86_64\t5\n\
openssl-libs\t1\t3.0.7\t27.el9\tx86_64\t5\n\
openssh-server\t0\t8.7p1\t38.el9\tx86_64\t120\n\
kernel\t0\t5.14.0\t427.13.1.el9_4\tx86_64\t40\n\
firewalld\t0\t1.3.4\t1.el9\tnoarch\t120\n\
dnf\t0\t4.14.0\t9.el9\tnoarch\t120\n\
dnf-automatic\t0\t4.14.0\t9.el9\tnoarch\t60\n\
curl\t0\t7.76.1\t29.el9_4\tx86_64\t40\n\
gpg-pubkey\t0\tfd431d51\t4ae0493b\t(none)\t120\n";
const DNF_CHECK_UPDATE: &str =
    "curl.x86_64                        7.76.1-29.el9_4.1        rhel-9-for-x86_64-baseos-rpms\n\
kernel.x86_64                      5.14.0-427.20.1.el9_4    rhel-9-for-x86_64-baseos-rpms\n\
tzdata.noarch                      2024a-1.el9              rhel-9-for-x86_64-baseos-rpms\n";
const DNF_SECURITY: &str = "RHSA-2024:3501 Moderate/Sec.  curl-7.76.1-29.el9_4.1.x86_64\n\
RHSA-2024:3619 Important/Sec. kernel-5.14.0-427.20.1.el9_4.x86_64\n";
const FIREWALLD_PUBLIC: &str = "public (active)\n  target: default\n  icmp-block-inversion: no\n  interfaces: eth0\n  sources: \n  services: cockpit dhcpv6-client ssh\n  ports: \n  protocols: \n  forward: yes\n  masquerade: no\n  forward-ports: \n  source-ports: \n  icmp-blocks: \n  rich rules: \n";

const IPTABLES_DROP: &str = "-P INPUT DROP\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -i lo -j ACCEPT\n";
const APK_INSTALLED: &str = "alpine-baselayout 3.6.5-r0\nbusybox 1.36.1-r29\nmusl 1.2.5-r0\nopenssl 3.3.1-r0\nlibcrypto3 3.3.1-r0\nlibssl3 3.3.1-r0\nopenssh-server 9.7_p1-r4\nchrony 4.5-r0\n";
const APK_UPGRADABLE: &str = "libcrypto3 3.3.1-r0 3.3.2-r0\nlibssl3 3.3.1-r0 3.3.2-r0\n";

/// `system_profiler SPApplicationsDataType -json` of a laptop with one denied app.
const MAC_APPS: &str = r#"{
  "SPApplicationsDataType" : [
    {
      "_name" : "Safari",
      "arch_kind" : "arch_arm_i64",
      "lastModified" : "2024-05-14T07:10:11Z",
      "obtained_from" : "apple",
      "path" : "/Applications/Safari.app",
      "signed_by" : [ "Software Signing", "Apple Code Signing Certification Authority", "Apple Root CA" ],
      "version" : "17.5"
    },
    {
      "_name" : "Google Chrome",
      "arch_kind" : "arch_arm_i64",
      "lastModified" : "2024-05-10T12:00:00Z",
      "obtained_from" : "identified_developer",
      "path" : "/Applications/Google Chrome.app",
      "signed_by" : [ "Developer ID Application: Google LLC (EQHXZ8M8AV)", "Developer ID Certification Authority", "Apple Root CA" ],
      "version" : "125.0.6422.76"
    },
    {
      "_name" : "uTorrent",
      "arch_kind" : "arch_i64",
      "lastModified" : "2023-11-02T18:22:40Z",
      "obtained_from" : "identified_developer",
      "path" : "/Applications/uTorrent.app",
      "signed_by" : [ "Developer ID Application: BitTorrent Inc (4VBS4S4G7N)", "Developer ID Certification Authority", "Apple Root CA" ],
      "version" : "1.8.7"
    },
    {
      "_name" : "Slack",
      "arch_kind" : "arch_arm_i64",
      "lastModified" : "2024-05-20T09:41:12Z",
      "obtained_from" : "mac_app_store",
      "path" : "/Applications/Slack.app",
      "signed_by" : [ "Apple Mac OS Application Signing", "Apple Worldwide Developer Relations Certification Authority", "Apple Root CA" ],
      "version" : "4.38.125"
    }
  ]
}
"#;
const MAC_DEFAULTS: &str =
    "/Library/Preferences/com.apple.SoftwareUpdate\tLastFullSuccessfulDate\t@DAYS_AGO_2@\n\
/Library/Preferences/com.apple.SoftwareUpdate\tAutomaticCheckEnabled\t1\n\
/Library/Preferences/com.apple.SoftwareUpdate\tAutomaticDownload\t1\n\
/Library/Preferences/com.apple.SoftwareUpdate\tCriticalUpdateInstall\t1\n\
com.apple.screensaver\taskForPassword\t1\n";

/// The six hosts.
fn mixed_fleet() -> Fleet {
    let deb = HostSpec::new("deb-server", Profile::Debian)
        .shim("nft", NFT)
        .shim("lsblk", LSBLK)
        .shim("swapon", SWAPON)
        .shim("apt-get", APT_GET)
        .shim("dpkg-query", DPKG_QUERY)
        .data("nft-ruleset.json", NFT_DROP_SSH)
        .data("lsblk.json", LSBLK_PLAIN_VDA)
        .data("lsblk.raw", LSBLK_PLAIN_VDA_RAW)
        .data("swaps", "")
        .data("apt-get-s-dist-upgrade.txt", APT_SIM_DEBIAN)
        .data("dpkg-installed-extra", "unattended-upgrades\n")
        .file("/etc/apt/apt.conf.d/20auto-upgrades", AUTO_UPGRADES, 0o644)
        .file(
            "/var/log/apt/history.log",
            apt_history(3, "libssl3", "3.0.16-1~deb12u1", "3.0.17-1~deb12u2"),
            0o644,
        )
        // Hardened sshd (a drop-in, as `sshd -T` must see through Include).
        .file(
            "/etc/ssh/sshd_config.d/50-hardening.conf",
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nMaxAuthTries 3\nX11Forwarding no\n",
            0o644,
        );
    let ubu = HostSpec::new("ubu-laptop", Profile::Ubuntu)
        .shim("nft", NFT)
        .shim("lsblk", LSBLK)
        .shim("swapon", SWAPON)
        .shim("cryptsetup", CRYPTSETUP)
        .shim("apt-get", APT_GET)
        .data("nft-ruleset.json", nft_drop_all())
        .data("lsblk.json", LSBLK_UBUNTU_LUKS)
        .data("lsblk.raw", LSBLK_UBUNTU_LUKS_RAW)
        .data("swaps", "/swap.img\n")
        .data("cryptsetup-status-dm_crypt-0", CRYPT_STATUS)
        .data("luksdump-nvme0n1p3", LUKSDUMP)
        .data("apt-get-s-dist-upgrade.txt", APT_SIM_UBUNTU)
        .file(
            "/var/log/apt/history.log",
            apt_history(20, "libssl3t64", "3.0.13-0ubuntu3.1", "3.0.13-0ubuntu3.4"),
            0o644,
        );
    let rhel = HostSpec::new("rhel-server", Profile::Rhel)
        // Its group allows cockpit: server-baseline's port list comes from the inventory.
        .var("fleet_allowed_ports", "[22, 9090]")
        .hide_all(DEBIAN_TOOLS)
        .hide("/usr/sbin/ufw")
        .shim("nft", NFT)
        .shim("lsblk", LSBLK)
        .shim("swapon", SWAPON)
        .shim("rpm", RPM)
        .shim("dnf", DNF)
        .shim("needs-restarting", NEEDS_RESTARTING)
        .shim("systemctl", SYSTEMCTL)
        .shim("firewall-cmd", FIREWALL_CMD)
        .data("nft-ruleset.json", NFT_FIREWALLD)
        .data("lsblk.json", LSBLK_RHEL)
        .data("lsblk.raw", LSBLK_RHEL_RAW)
        .data("swaps", "/dev/mapper/rhel-swap\n")
        .data("rpm-qa.tsv", RPM_QA)
        .data("dnf-check-update.txt", DNF_CHECK_UPDATE)
        .data("dnf-updateinfo-security.txt", DNF_SECURITY)
        .data(
            "systemctl-enabled",
            "dnf-automatic-install.timer enabled\ndnf-automatic.timer disabled\n",
        )
        .data("firewalld-default", "public\n")
        .data("firewalld-zone-public", FIREWALLD_PUBLIC)
        // RHEL 9's sshd_config.d/01-permitrootlogin.conf, as a kickstart with rootpw --allow-ssh writes it.
        .file(
            "/etc/ssh/sshd_config.d/01-permitrootlogin.conf",
            "# This file has been generated by the Anaconda Installer.\n# Allow root to log in using ssh. Remove this file to opt-out.\nPermitRootLogin yes\n",
            0o644,
        );
    let alpine = HostSpec::new("alpine-box", Profile::Alpine)
        .hide_all(DEBIAN_TOOLS)
        .hide_all(&["/usr/sbin/nft", "/usr/bin/firewall-cmd", "/usr/sbin/ufw"])
        .shim("lsblk", LSBLK)
        .shim("swapon", SWAPON)
        .shim("iptables", IPTABLES)
        .shim("ip6tables", IPTABLES)
        .shim("apk", APK)
        .data("lsblk.json", LSBLK_PLAIN_VDA)
        .data("lsblk.raw", LSBLK_PLAIN_VDA_RAW)
        .data("swaps", "")
        .data("iptables-S", IPTABLES_DROP)
        .data("ip6tables-S", IPTABLES_DROP)
        .data("apk-installed", APK_INSTALLED)
        .data("apk-upgradable", APK_UPGRADABLE)
        .file(
            "/usr/lib/apk/db/installed",
            "C:Q1placeholder=\nP:busybox\nV:1.36.1-r29\nA:x86_64\n\n",
            0o644,
        )
        .file(
            "/etc/apk/world",
            "alpine-baselayout\nbusybox\nchrony\nopenssh-server\n",
            0o644,
        )
        .file(
            "/etc/periodic/daily/apk-autoupgrade",
            "#!/bin/sh\napk upgrade --update --no-cache --quiet\n",
            0o755,
        );
    let mac = HostSpec::new("mac-laptop", Profile::Macos)
        .hide_all(DEBIAN_TOOLS)
        .file("/usr/bin/fdesetup", FDESETUP.to_vec(), 0o755)
        .file(
            "/usr/libexec/ApplicationFirewall/socketfilterfw",
            SOCKETFILTERFW.to_vec(),
            0o755,
        )
        .shim("softwareupdate", SOFTWAREUPDATE)
        .shim("defaults", DEFAULTS)
        .shim("system_profiler", SYSTEM_PROFILER)
        .data("fdesetup.txt", "FileVault is Off.\n")
        .data(
            "socketfilterfw.txt",
            "globalstate 1\nblockall off\nstealth on\n",
        )
        .data(
            "softwareupdate.txt",
            include_str!("data/checks/updates/softwareupdate-none.txt"),
        )
        .data("defaults.tsv", MAC_DEFAULTS)
        .data("system_profiler-apps.json", MAC_APPS);
    let win = HostSpec::new("win-laptop", Profile::Windows);
    Fleet::start(vec![deb, ubu, rhel, alpine, mac, win])
}

const HOSTS: [&str; 6] = [
    "deb-server",
    "ubu-laptop",
    "rhel-server",
    "alpine-box",
    "mac-laptop",
    "win-laptop",
];

/// laptop-baseline: host × control → status, every cell.
const LAPTOP_CONTROLS: [&str; 10] = [
    "disk-encryption",
    "firewall",
    "updates",
    "automatic-updates",
    "screen-lock-gnome",
    "screen-lock-macos",
    "screen-lock-windows",
    "secure-boot-linux",
    "secure-boot-windows",
    "apps",
];
#[rustfmt::skip]
const LAPTOP_EXPECTED: [(&str, [&str; 10]); 6] = [
    //              disk    fw      updates auto    sl-gnome sl-mac sl-win  sb-linux sb-win  apps
    ("deb-server",  ["fail", "fail", "warn", "pass", "skip", "skip", "skip", "skip", "skip", "pass"]),
    ("ubu-laptop",  ["pass", "pass", "fail", "fail", "skip", "skip", "skip", "skip", "skip", "pass"]),
    ("rhel-server", ["fail", "fail", "warn", "pass", "skip", "skip", "skip", "skip", "skip", "pass"]),
    ("alpine-box",  ["fail", "pass", "pass", "pass", "skip", "skip", "skip", "skip", "skip", "pass"]),
    ("mac-laptop",  ["fail", "pass", "pass", "pass", "skip", "pass", "skip", "skip", "skip", "fail"]),
    ("win-laptop",  ["pass", "pass", "pass", "pass", "skip", "skip", "pass", "skip", "pass", "pass"]),
];

#[test]
fn laptop_and_server_baselines_on_a_mixed_fleet() {
    let fleet = mixed_fleet();
    let policy = repo("policies/laptop-baseline.yml");
    let p = policy.to_str().unwrap();

    let t0 = Instant::now();
    let out = muster(&fleet, &["-v", "audit", p, "--format", "json"]);
    let elapsed = t0.elapsed();
    let text = show(&out);
    eprintln!("mixed fleet: laptop-baseline audit of 6 hosts took {elapsed:?}");
    // Failures at high and critical severity: non-compliant.
    assert_eq!(out.status.code(), Some(2), "{text}");
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    schema_check(&report);

    // Every cell of the table.
    let mut wrong = vec![];
    for (host, statuses) in LAPTOP_EXPECTED {
        for (control, want) in LAPTOP_CONTROLS.iter().zip(statuses) {
            let r = result(&report, host, control);
            if r["status"] != want {
                wrong.push(format!(
                    "{host} {control}: want {want}, got {} — {} (observed {})",
                    r["status"], r["message"], r["observed"]
                ));
            }
        }
        let h = report["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == host)
            .unwrap();
        assert_eq!(
            h["results"].as_array().unwrap().len(),
            LAPTOP_CONTROLS.len(),
            "{host}: {h}"
        );
    }
    assert!(
        wrong.is_empty(),
        "verdicts differ:\n{}\n{text}",
        wrong.join("\n")
    );

    // Platforms as the report names them.
    for (host, platform) in [
        ("deb-server", "debian"),
        ("ubu-laptop", "ubuntu"),
        ("rhel-server", "rhel"),
        ("alpine-box", "alpine"),
        ("mac-laptop", "macos"),
        ("win-laptop", "windows"),
    ] {
        let h = report["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == host)
            .unwrap();
        assert_eq!(h["platform"], platform, "{host}");
        assert_eq!(h["reachable"], true, "{host}");
    }
    assert_eq!(report["summary"]["hosts"], 6);
    assert_eq!(report["summary"]["unreachable"], 0);
    assert_eq!(report["summary"]["error"], 0, "{text}");

    // The evidence behind the graded verdicts and the named findings.
    let upd = result(&report, "deb-server", "updates");
    assert_eq!(upd["observed"]["pending_security"], 1, "{upd}");
    let upd = result(&report, "ubu-laptop", "updates");
    assert_eq!(upd["observed"]["pending_security"], 6, "{upd}");
    assert_eq!(upd["observed"]["days_since_update"], 20, "{upd}");
    let upd = result(&report, "rhel-server", "updates");
    assert_eq!(upd["observed"]["pending_security"], 2, "{upd}");
    let fw = result(&report, "deb-server", "firewall");
    assert!(fw["message"].as_str().unwrap().contains("22"), "{fw}");
    let fw = result(&report, "rhel-server", "firewall");
    assert!(fw["message"].as_str().unwrap().contains("9090/tcp"), "{fw}");
    let disk = result(&report, "ubu-laptop", "disk-encryption");
    assert!(
        disk["message"].as_str().unwrap().contains("LUKS2"),
        "{disk}"
    );
    let disk = result(&report, "mac-laptop", "disk-encryption");
    assert!(
        disk["message"].as_str().unwrap().contains("FileVault"),
        "{disk}"
    );
    let apps = result(&report, "mac-laptop", "apps");
    assert!(
        apps["message"].as_str().unwrap().contains("uTorrent"),
        "{apps}"
    );
    assert_eq!(apps["finding"]["denied"], json!(["uTorrent"]), "{apps}");
    let skip = result(&report, "deb-server", "screen-lock-macos");
    assert!(
        skip["message"].as_str().unwrap().contains("does not apply"),
        "{skip}"
    );

    // Two exec round trips per host: facts + one probe batch (no module checks here).
    let stderr = String::from_utf8_lossy(&out.stderr);
    for host in HOSTS {
        assert!(
            stderr.contains(&format!("{host}: 2 exec round trips after connect")),
            "{host}: {stderr}"
        );
    }
    for h in report["hosts"].as_array().unwrap() {
        if let Some(n) = h.get("execs") {
            assert_eq!(n, 2, "{h}");
        }
    }

    // The text report names the failures with their evidence.
    let t = muster(&fleet, &["audit", p]);
    assert_eq!(t.status.code(), Some(2), "{}", show(&t));
    let tt = String::from_utf8_lossy(&t.stdout);
    eprintln!("{tt}");
    assert!(tt.contains("Fleet: 6 hosts, 0 unreachable"), "{tt}");
    assert!(
        tt.contains("mac-laptop fail apps (medium)") && tt.contains("uTorrent"),
        "{tt}"
    );
    assert!(tt.contains("ubu-laptop fail updates (high)"), "{tt}");

    // server-baseline on the Linux hosts.
    let server = repo("policies/server-baseline.yml");
    let out = muster(
        &fleet,
        &[
            "audit",
            server.to_str().unwrap(),
            "--format",
            "json",
            "-l",
            "deb-server:ubu-laptop:rhel-server:alpine-box",
        ],
    );
    let text = show(&out);
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    schema_check(&report);
    assert_eq!(report["summary"]["hosts"], 4, "{text}");
    // The round-trip budget holds for server-baseline too: facts, then one probe batch.
    for h in report["hosts"].as_array().unwrap() {
        assert_eq!(h["execs"], 2, "{}: {} execs", h["name"], h["execs"]);
    }
    let expect = [
        ("deb-server", "ssh-root-login", "pass"),
        ("deb-server", "ssh-auth", "pass"),
        ("deb-server", "ssh-forwarding", "pass"),
        ("ubu-laptop", "ssh-auth", "fail"),
        ("ubu-laptop", "ssh-forwarding", "fail"),
        ("rhel-server", "ssh-root-login", "fail"),
        ("alpine-box", "ssh-root-login", "pass"),
        ("deb-server", "firewall", "pass"),
        ("ubu-laptop", "firewall", "pass"),
        ("rhel-server", "firewall", "pass"),
        ("alpine-box", "firewall", "pass"),
        ("deb-server", "security-updates", "warn"),
        ("ubu-laptop", "security-updates", "fail"),
        ("rhel-server", "security-updates", "warn"),
        ("alpine-box", "security-updates", "pass"),
        ("deb-server", "automatic-updates", "pass"),
        ("ubu-laptop", "automatic-updates", "fail"),
        ("rhel-server", "automatic-updates", "pass"),
        ("alpine-box", "automatic-updates", "pass"),
        ("deb-server", "passwd-perms", "pass"),
        ("rhel-server", "passwd-perms", "pass"),
        ("deb-server", "no-legacy-services", "pass"),
        ("rhel-server", "no-legacy-services", "pass"),
        ("alpine-box", "no-legacy-services", "pass"),
    ];
    let mut wrong = vec![];
    for (h, c, s) in expect {
        let r = result(&report, h, c);
        if r["status"] != s {
            wrong.push(format!(
                "{h} {c}: want {s}, got {} — {} (observed {})",
                r["status"], r["message"], r["observed"]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "server-baseline verdicts differ:\n{}\n{text}",
        wrong.join("\n")
    );
    let fw = result(&report, "rhel-server", "firewall");
    assert_eq!(
        fw["expected"]["allowed_inbound_ports"],
        json!(["22", "9090"]),
        "{fw}"
    );
}

#[test]
fn apps_inventory_of_the_mixed_fleet() {
    let fleet = mixed_fleet();
    let laptop = repo("policies/laptop-baseline.yml");

    // Every host, default scopes, the laptop policy's deny list.
    let out = muster(
        &fleet,
        &[
            "-v",
            "apps",
            "--policy",
            laptop.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let text = show(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(report["hosts"], 6, "{text}");
    let utorrent = app(&report, "uTorrent").unwrap_or_else(|| panic!("{text}"));
    assert_eq!(utorrent["denied"], true, "{utorrent}");
    assert_eq!(utorrent["hosts"], 1);
    assert_eq!(utorrent["versions"], json!({"1.8.7": 1}));
    assert_eq!(utorrent["hosts_list"], json!(["mac-laptop"]));
    assert_eq!(utorrent["breaking_hosts"], json!(["mac-laptop"]));
    // Nothing else is denied; no allowlist, so nothing is "not allowed".
    let denied: Vec<&Value> = report["apps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["denied"] == true || a["not_allowed"] == true)
        .collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    // Windows programs, RHEL rpms and Alpine apks are all there, with their versions.
    assert_eq!(
        app(&report, "7-Zip 23.01 (x64)").unwrap()["versions"],
        json!({"23.01": 1})
    );
    assert_eq!(
        app(&report, "openssh-server").unwrap()["hosts_list"],
        json!(["alpine-box", "deb-server", "rhel-server", "ubu-laptop"]),
        "{text}"
    );
    let openssl = app(&report, "openssl").unwrap();
    assert_eq!(openssl["versions"]["3.3.1-r0"], 1, "{openssl}");
    assert_eq!(openssl["versions"]["1:3.0.7-27.el9"], 1, "{openssl}");
    // Sorted by host count, most common first.
    let counts: Vec<u64> = report["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["hosts"].as_u64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    // Two round trips per host: facts, then the inventory batch.
    let stderr = String::from_utf8_lossy(&out.stderr);
    for host in HOSTS {
        assert!(stderr.contains(&format!("{host}: connect ")), "{stderr}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&format!("{host}: connect ")))
            .unwrap();
        assert!(line.contains("; 2 exec, 0 put, 0 get"), "{line}");
    }

    // An allowlist (templated), the apps scope, the laptops only: what to add to it.
    let allow = repo("tests/data/policies/apps-allowlist.yml");
    let out = muster(
        &fleet,
        &[
            "apps",
            "--policy",
            allow.to_str().unwrap(),
            "--scope",
            "apps",
            "-l",
            "mac-laptop:win-laptop",
            "--format",
            "json",
        ],
    );
    let text = show(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(report["hosts"], 2);
    let flags = |name: &str| {
        let a = app(&report, name).unwrap_or_else(|| panic!("no {name}: {text}"));
        (
            a["denied"].as_bool().unwrap(),
            a["not_allowed"].as_bool().unwrap(),
        )
    };
    assert_eq!(flags("uTorrent"), (true, true));
    assert_eq!(flags("Slack"), (false, true));
    assert_eq!(flags("Safari"), (false, false));
    assert_eq!(flags("Mozilla Firefox (x64 en-US)"), (false, false));
    assert_eq!(flags("Microsoft Edge"), (false, false));
    assert_eq!(
        app(&report, "Slack").unwrap()["breaking_hosts"],
        json!(["mac-laptop"])
    );

    // Text: a table, then who breaks the policy; --filter narrows the names.
    let out = muster(
        &fleet,
        &[
            "apps",
            "--policy",
            allow.to_str().unwrap(),
            "-l",
            "mac-laptop:win-laptop",
        ],
    );
    let t = String::from_utf8_lossy(&out.stdout);
    eprintln!("{t}");
    assert!(t.starts_with("NAME"), "{t}");
    assert!(
        t.contains("uTorrent: denied on mac-laptop; not allowed on mac-laptop"),
        "{t}"
    );
    assert!(t.contains("Slack: not allowed on mac-laptop"), "{t}");
    assert!(t.contains("on 2 hosts"), "{t}");
    let out = muster(&fleet, &["apps", "--filter", "*SSL*", "--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = report["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"openssl") && names.contains(&"libssl3"),
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| n.to_lowercase().contains("ssl")),
        "{names:?}"
    );
}

#[test]
fn one_mixed_fleet_audit_writes_every_format_and_each_is_validated() {
    let fleet = mixed_fleet();
    let policy = repo("policies/laptop-baseline.yml");
    let p = policy.to_str().unwrap();
    let dir = fleet.dir().join("reports");
    std::fs::create_dir_all(&dir).unwrap();
    let waivers = dir.join("waivers.yml");
    std::fs::write(
        &waivers,
        "- control: apps\n  hosts: \"mac-*\"\n  reason: \"TeamViewer <approved> for the help desk\"\n  owner: secops@example.com\n  expires: 2999-12-31\n",
    )
    .unwrap();
    let files = [
        ("json", "audit.json"),
        ("junit", "audit.xml"),
        ("sarif", "audit.sarif"),
        ("markdown", "audit.md"),
        ("nagios", "audit.nagios"),
        ("prometheus", "muster.prom"),
        ("html", "audit.html"),
    ];
    let mut args: Vec<String> = vec![
        "audit".into(),
        p.into(),
        "--waivers".into(),
        waivers.display().to_string(),
    ];
    for (f, name) in files {
        args.push("-o".into());
        args.push(format!("{f}={}", dir.join(name).display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = muster(&fleet, &args);
    let text = show(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Fleet: 6 hosts, 0 unreachable"), "{text}");
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"))
    };

    // json: the Audit JSON contract.
    let report: Value = serde_json::from_str(&read("audit.json")).unwrap();
    schema_check(&report);
    let (fail, waived) = (
        report["summary"]["fail"].as_u64().unwrap(),
        report["summary"]["waived"].as_u64().unwrap(),
    );
    assert_eq!(waived, 1, "the mac's apps control is waived: {report}");
    assert_eq!(result(&report, "mac-laptop", "apps")["status"], "waived");

    // junit: a suite per host, failures = fail + error results, the waiver as skipped.
    let xml = read("audit.xml");
    let (_, suites) = fleet::junit::parse_junit(&xml);
    let cases = || suites.iter().flat_map(|s| &s.cases);
    let failures = cases().filter(|c| c.outcome == "failure").count() as u64;
    let waived: Vec<_> = cases()
        .filter(|c| c.outcome == "skipped" && c.message.starts_with("waived"))
        .collect();
    assert_eq!(waived.len(), 1, "{xml}");
    assert!(waived[0].message.contains("TeamViewer <approved>"), "{xml}");
    assert_eq!((suites.len(), failures), (6, fail), "{xml}");

    // sarif: valid against the official SARIF 2.1.0 schema; a result per failing host.
    let sarif: Value = serde_json::from_str(&read("audit.sarif")).unwrap();
    assert_valid_sarif(&sarif);
    let errors_level = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["level"] == "error")
        .count() as u64;
    assert_eq!(errors_level, fail, "{sarif}");

    // markdown: failing hosts in collapsible details.
    let md = read("audit.md");
    assert!(md.starts_with("## muster audit: score "), "{md}");
    assert_eq!(md.matches("<details>").count(), 5, "{md}");

    // nagios: one status line with perfdata.
    let nagios = read("audit.nagios");
    assert_eq!(nagios.lines().count(), 1);
    assert!(nagios.starts_with("MUSTER CRITICAL - "), "{nagios}");
    assert!(nagios.contains(&format!(" fail={fail} ")), "{nagios}");

    // prometheus: every line a comment or `name{labels} value`.
    let prom = read("muster.prom");
    // Every line a comment or a sample of the exposition format (names, escaped labels).
    let samples: Vec<_> = prom.lines().filter_map(prom_line).collect();
    assert!(!samples.is_empty(), "{prom}");
    assert_eq!(prom.matches("muster_host_score{").count(), 6, "{prom}");

    // Snapshots of what readers get, times and durations redacted (`cargo insta review`
    // after an intended change).
    // Times: the report's start, durations, and the dates the shims derive from the clock.
    let untimed = |s: &str| {
        let s = regex::Regex::new(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\dZ?")
            .unwrap()
            .replace_all(s, "[time]")
            .into_owned();
        let s = regex::Regex::new(r#""duration_ms": \d+"#)
            .unwrap()
            .replace_all(&s, r#""duration_ms": "[duration]""#)
            .into_owned();
        let s =
            regex::Regex::new(r"(muster_audit_(timestamp|duration)_seconds(\{[^}]*\})?) [0-9.e+]+")
                .unwrap()
                .replace_all(&s, "$1 [redacted]")
                .into_owned();
        // The Debian and Ubuntu hosts read this machine's dpkg database (the fleet overlays
        // the machine's /var): its package count is the machine's, not the test's.
        let s = regex::Regex::new(r#""count": \d{3,}"#)
            .unwrap()
            .replace_all(&s, r#""count": "[this machine's]""#)
            .into_owned();
        regex::Regex::new(r"\b\d{3,} packages installed")
            .unwrap()
            .replace_all(&s, "[this machine's] packages installed")
            .into_owned()
    };
    insta::assert_snapshot!(
        "mixed_fleet_audit_json",
        untimed(&serde_json::to_string_pretty(&report).unwrap())
    );
    insta::assert_snapshot!("mixed_fleet_audit_markdown", untimed(&md));
    insta::assert_snapshot!("mixed_fleet_audit_nagios", untimed(&nagios));
    insta::assert_snapshot!("mixed_fleet_audit_prometheus", untimed(&prom));
    insta::assert_snapshot!("mixed_fleet_audit_junit", untimed(&xml));
    insta::assert_snapshot!("mixed_fleet_audit_text", untimed(&stdout));
    insta::assert_snapshot!(
        "mixed_fleet_audit_sarif",
        untimed(&serde_json::to_string_pretty(&sarif).unwrap())
    );

    // html: self-contained (no external asset), then in a real browser.
    let html = read("audit.html");
    for external in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!html.contains(external), "external asset: {external}");
    }
    let page = format!("file://{}", dir.join("audit.html").display());
    let dom = String::from_utf8(headless(&page, &["--dump-dom"]).stdout).unwrap();
    assert_eq!(tags(&dom, r#"<tr class="hostrow[^"]*""#).len(), 6, "{dom}");
    assert_eq!(
        tags(&dom, r#"<th class="ctl[^"]*""#).len(),
        LAPTOP_CONTROLS.len()
    );
    assert_eq!(
        tags(
            &dom,
            r#"<td class="c[^"]*" data-ctl="\d+" data-status="fail""#
        )
        .len() as u64,
        fail
    );
    assert!(
        dom.contains("TeamViewer &lt;approved&gt;"),
        "escaped waiver"
    );
    // By default pass and skip are unselected: the all-pass Windows laptop's row is hidden.
    let win_row = tags(&dom, r#"<tr class="[^"]*" data-host="win-laptop""#);
    assert!(win_row[0].contains("hidden"), "{win_row:?}");
    // ...and the page says so above the matrix.
    assert!(
        dom.contains("1 host has nothing with the selected statuses and is not shown"),
        "{dom}"
    );
    let deb_row = tags(&dom, r#"<tr class="[^"]*" data-host="deb-server""#);
    assert!(!deb_row[0].contains("hidden"), "{deb_row:?}");
    // The scores a reader sees are the report's: the fleet's first, then each host's row.
    let score = |v: &Value| format!("{:.1}", v.as_f64().unwrap());
    let fleet_card = regex::Regex::new(r#"id="fleet-score"><div class="n [a-z]*">([0-9.]+)<"#)
        .unwrap()
        .captures(&dom)
        .unwrap_or_else(|| panic!("no fleet score card: {dom}"))[1]
        .to_string();
    assert_eq!(fleet_card, score(&report["summary"]["score"]));
    for h in report["hosts"].as_array().unwrap() {
        let name = h["name"].as_str().unwrap();
        let cell = regex::Regex::new(&format!(
            r#"data-host="{name}"[^>]*>\s*<td class="host">.*?</td>\s*<td class="score [a-z]*">([0-9.]+)</td>"#
        ))
        .unwrap()
        .captures(&dom)
        .unwrap_or_else(|| panic!("no score cell for {name}"))[1]
        .to_string();
        assert_eq!(cell, score(&h["score"]), "{name}");
    }

    // Filters from the address: critical only (disk-encryption), fail only.
    let dom = String::from_utf8(
        headless(
            &format!("{page}?severity=critical&status=fail"),
            &["--dump-dom"],
        )
        .stdout,
    )
    .unwrap();
    let visible: Vec<&str> = tags(&dom, r#"<th class="ctl"[^>]*>"#);
    assert_eq!(visible.len(), 1, "{visible:?}");
    assert!(visible[0].contains("disk-encryption"), "{visible:?}");
    for (host, shown) in [
        ("deb-server", true),
        ("ubu-laptop", false),
        ("mac-laptop", true),
        ("win-laptop", false),
    ] {
        let row = tags(&dom, &format!(r#"<tr class="[^"]*" data-host="{host}""#));
        assert_eq!(!row[0].contains("hidden"), shown, "{host}: {row:?}");
    }

    // A cell opens its evidence and remediation: the deb-server's disk-encryption result.
    let cell = tags(
        &html,
        r##"<td class="c" data-ctl="0" data-status="fail" data-severity="critical"><a class="cell fail" href="#r\d+""##,
    )[0];
    let id = regex::Regex::new(r"#(r\d+)")
        .unwrap()
        .captures(cell)
        .unwrap()[1]
        .to_string();
    let dom = String::from_utf8(headless(&format!("{page}#{id}"), &["--dump-dom"]).stdout).unwrap();
    let dialog = &dom[dom.find("<dialog id=\"evidence\"").unwrap()..];
    assert!(
        dialog.starts_with("<dialog id=\"evidence\" open"),
        "{dialog}"
    );
    let dialog = &dialog[..dialog.find("</dialog>").unwrap()];
    assert!(dialog.contains("deb-server"), "{dialog}");
    assert!(dialog.contains("disk-encryption"), "{dialog}");
    assert!(dialog.contains("remediation"), "{dialog}");
    assert!(
        dialog.contains("cannot be turned on safely over SSH"),
        "the control's manual remediation: {dialog}"
    );

    // Printed (Chromium's PDF, read back with pdftotext): the title, the fleet score and every
    // host, the matrix and the failing findings with their evidence; no filter controls.
    let pdf = dir.join("audit.pdf");
    headless(
        &page,
        &[
            &format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer",
        ],
    );
    let text = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils, installed by .ci/run)");
    assert!(text.status.success(), "{text:?}");
    let printed = String::from_utf8_lossy(&text.stdout).into_owned();
    for want in [
        "muster audit: laptop-baseline 1.0".to_string(),
        fleet_card.clone(),
        "Hosts × controls".into(),
        "Findings by host".into(),
        "The system disk is encrypted at rest".into(),
        "vda1".into(),
    ] {
        assert!(printed.contains(&want), "`{want}` not printed:\n{printed}");
    }
    for h in report["hosts"].as_array().unwrap() {
        let name = h["name"].as_str().unwrap();
        assert!(printed.contains(name), "{name} not printed:\n{printed}");
    }
    for filter in ["filter hosts", "show hosts with nothing selected"] {
        assert!(!printed.contains(filter), "`{filter}` printed:\n{printed}");
    }

    // And a screenshot, for people to look at.
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("audit-report.png");
    let _ = std::fs::remove_file(&png);
    headless(
        &page,
        &[
            "--window-size=1400,1100",
            &format!("--screenshot={}", png.display()),
        ],
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 20_000);
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    assert_eq!(width, 1400);
    eprintln!("HTML report screenshot: {}", png.display());
}
