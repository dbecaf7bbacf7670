//! The parser against captured outputs of the fact script (`tests/data/facts/`).

use serde_json::{json, Map, Value};

use super::*;

const DEBIAN_MACHINE: &str = include_str!("../../tests/data/facts/debian-machine.txt");
const UBUNTU: &str = include_str!("../../tests/data/facts/ubuntu-2404-laptop.txt");
const RHEL: &str = include_str!("../../tests/data/facts/rhel-94-vmware.txt");
const ALPINE: &str = include_str!("../../tests/data/facts/alpine-320-kvm.txt");
const MACOS: &str = include_str!("../../tests/data/facts/macos-145-arm64.txt");
const FREEBSD: &str = include_str!("../../tests/data/facts/freebsd-141-zfs.txt");
const BUSYBOX_MACHINE: &str = include_str!("../../tests/data/facts/debian-machine-busybox.txt");

fn facts(text: &str) -> Facts {
    parse(text).expect("captured output parses")
}

fn str_of<'a>(f: &'a Facts, k: &str) -> &'a str {
    f.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("fact {k} missing or not a string: {:?}", f.get(k)))
}

/// The identity facts every profile is checked on.
fn assert_identity(f: &Facts, want: [(&str, &str); 9]) {
    for (k, v) in want {
        assert_eq!(str_of(f, k), v, "fact {k}");
    }
}

fn mount<'a>(f: &'a Facts, path: &str) -> &'a Map<String, Value> {
    f["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_object)
        .find(|m| m["mount"] == path)
        .unwrap_or_else(|| panic!("no mount {path} in {:#?}", f["mounts"]))
}

#[test]
fn debian_machine_capture() {
    let f = facts(DEBIAN_MACHINE);
    assert_identity(
        &f,
        [
            ("system", "Linux"),
            ("distribution", "Debian"),
            ("os_family", "Debian"),
            ("distribution_version", "12"),
            ("distribution_major_version", "12"),
            ("distribution_release", "bookworm"),
            ("pkg_mgr", "apt"),
            // PID 1 of this machine is a custom init: Ansible reports its name.
            ("service_mgr", "process_api"),
            ("architecture", "x86_64"),
        ],
    );
    assert_eq!(str_of(&f, "distribution_minor_version"), "11");
    assert_eq!(str_of(&f, "kernel"), "6.18.44-fc-v595");
    assert_eq!(str_of(&f, "kernel_version"), "#1 SMP PREEMPT_DYNAMIC @0");
    assert_eq!(str_of(&f, "hostname"), "vm");
    assert_eq!(str_of(&f, "fqdn"), "vm");
    assert_eq!(str_of(&f, "domain"), "");
    assert_eq!(str_of(&f, "user_id"), "root");
    assert_eq!(f["user_uid"], json!(0));
    assert_eq!(str_of(&f, "user_dir"), "/root");
    assert_eq!(str_of(&f, "user_shell"), "/bin/bash");
    assert_eq!(f["processor_count"], json!(1));
    assert_eq!(f["processor_cores"], json!(2));
    assert_eq!(f["processor_vcpus"], json!(2));
    assert_eq!(f["processor_nproc"], json!(2));
    assert_eq!(f["memtotal_mb"], json!(24105));
    assert_eq!(f["swaptotal_mb"], json!(0));
    assert_eq!(str_of(&f, "virtualization_type"), "docker");
    assert_eq!(str_of(&f, "virtualization_role"), "guest");
    assert_eq!(
        f["virtualization_tech_guest"],
        json!(["container", "docker"])
    );
    let root = mount(&f, "/");
    assert_eq!(root["device"], "/dev/vda");
    assert_eq!(root["fstype"], "ext4");
    assert_eq!(root["size_total"], json!(66053021u64 * 4096));
    assert!(root["size_available"].as_u64().unwrap() > 0);
    // Pseudo filesystems are left out; tmpfs is kept.
    let mounts = f["mounts"].as_array().unwrap();
    assert!(mounts
        .iter()
        .all(|m| m["fstype"] != "proc" && m["fstype"] != "cgroup"));
    assert!(mounts.iter().any(|m| m["mount"] == "/dev/shm"));
    let d4 = f["default_ipv4"].as_object().unwrap();
    assert_eq!(d4["address"], "192.0.2.2");
    assert_eq!(d4["gateway"], "192.0.2.1");
    assert_eq!(d4["interface"], "eth0");
    assert_eq!(d4["netmask"], "255.255.255.0");
    assert_eq!(d4["network"], "192.0.2.0");
    assert_eq!(d4["macaddress"], "02:fc:00:00:00:01");
    assert_eq!(d4["mtu"], json!(1400));
    assert_eq!(f["default_ipv6"]["address"], "fd00::2");
    assert_eq!(f["all_ipv4_addresses"], json!(["192.0.2.2"]));
    assert_eq!(f["interfaces"], json!(["lo", "ifb0", "ifb1", "eth0"]));
    assert_eq!(f["eth0"]["ipv4"]["broadcast"], "192.0.2.255");
    assert_eq!(f["env"]["HOME"], "/root");
    let dt = f["date_time"].as_object().unwrap();
    assert_eq!(dt["tz"], "UTC");
    assert!(dt["epoch"].as_str().unwrap().parse::<u64>().is_ok());
}

/// This machine again, with busybox's sh and only busybox applets on PATH (no getent, a
/// `date` without %N, `ip route get` with two spaces before `src`).
#[test]
fn busybox_applets_capture() {
    let f = facts(BUSYBOX_MACHINE);
    assert_eq!(str_of(&f, "distribution"), "Debian");
    assert_eq!(str_of(&f, "user_shell"), "/bin/bash");
    assert_eq!(f["default_ipv4"]["address"], "192.0.2.2");
    assert_eq!(f["default_ipv4"]["gateway"], "192.0.2.1");
    assert!(f["date_time"]["iso8601_micro"]
        .as_str()
        .unwrap()
        .ends_with(".000000Z"));
    assert_eq!(mount(&f, "/")["size_total"], json!(66053021u64 * 4096));
    assert_eq!(f["processor_nproc"], json!(2));
    assert_eq!(f["env"]["HOME"], "/root");
}

#[test]
fn ubuntu_laptop_capture() {
    let f = facts(UBUNTU);
    assert_identity(
        &f,
        [
            ("system", "Linux"),
            ("distribution", "Ubuntu"),
            ("os_family", "Debian"),
            ("distribution_version", "24.04"),
            ("distribution_major_version", "24"),
            ("distribution_release", "noble"),
            ("pkg_mgr", "apt"),
            ("service_mgr", "systemd"),
            ("architecture", "x86_64"),
        ],
    );
    // Ubuntu's /etc/debian_version says trixie/sid: no minor version.
    assert!(!f.contains_key("distribution_minor_version"));
    assert_eq!(str_of(&f, "user_id"), "anna");
    assert_eq!(f["user_uid"], json!(1000));
    assert_eq!(f["user_gid"], json!(1000));
    assert_eq!(str_of(&f, "user_gecos"), "Anna Example,,,");
    assert_eq!(str_of(&f, "user_dir"), "/home/anna");
    // A laptop with the kvm module loaded: Ansible calls it a kvm host.
    assert_eq!(str_of(&f, "virtualization_type"), "kvm");
    assert_eq!(str_of(&f, "virtualization_role"), "host");
    assert_eq!(f["virtualization_tech_host"], json!(["kvm"]));
    assert_eq!(f["processor_count"], json!(1));
    assert_eq!(f["processor_cores"], json!(2));
    assert_eq!(f["processor_threads_per_core"], json!(2));
    assert_eq!(f["processor_vcpus"], json!(4));
    assert_eq!(f["memtotal_mb"], json!(31801));
    assert_eq!(f["swaptotal_mb"], json!(8191));
    assert_eq!(f["memory_mb"]["real"]["total"], json!(31801));
    // A multi-line environment value survives.
    assert_eq!(f["env"]["GREETING"], "hello\nsecond line\n");
    assert_eq!(f["env"]["LANG"], "en_US.UTF-8");
    // \040 in /proc/mounts is a space.
    let spaced = mount(&f, "/home/anna/My Files");
    assert_eq!(spaced["fstype"], "ext4");
    let efi = mount(&f, "/boot/efi");
    assert_eq!(efi["size_total"], json!(512u64 * 2201600));
    assert_eq!(efi["block_size"], json!(512));
    let d4 = f["default_ipv4"].as_object().unwrap();
    assert_eq!(d4["interface"], "wlp0s20f3");
    assert_eq!(d4["address"], "192.168.1.23");
    assert_eq!(d4["type"], "ether");
    assert_eq!(f["default_ipv6"], json!({}));
    assert_eq!(
        f["all_ipv4_addresses"],
        json!(["192.168.1.23", "172.17.0.1"])
    );
    assert_eq!(f["docker0"]["active"], json!(true));
    let dt = &f["date_time"];
    assert_eq!(dt["hour"], "11");
    assert_eq!(dt["tz"], "CEST");
    assert_eq!(dt["tz_offset"], "+0200");
    assert_eq!(dt["iso8601"], "2024-06-12T09:15:42Z");
    assert_eq!(dt["iso8601_micro"], "2024-06-12T09:15:42.123456Z");
    assert_eq!(dt["iso8601_basic"], "20240612T111542123456");
    assert_eq!(dt["iso8601_basic_short"], "20240612T111542");
    assert_eq!(dt["date"], "2024-06-12");
    assert_eq!(dt["time"], "11:15:42");
    assert_eq!(dt["weekday"], "Wednesday");
    assert_eq!(dt["weekday_number"], "3");
    assert_eq!(dt["weeknumber"], "24");
    assert_eq!(dt["epoch"], "1718183742");
    assert_eq!(f["uptime_seconds"], json!(86462));
}

#[test]
fn rhel_vmware_capture() {
    let f = facts(RHEL);
    assert_identity(
        &f,
        [
            ("system", "Linux"),
            ("distribution", "RedHat"),
            ("os_family", "RedHat"),
            ("distribution_version", "9.4"),
            ("distribution_major_version", "9"),
            ("distribution_release", "Plow"),
            ("pkg_mgr", "dnf"),
            ("service_mgr", "systemd"),
            ("architecture", "x86_64"),
        ],
    );
    assert_eq!(str_of(&f, "hostname"), "web01");
    assert_eq!(str_of(&f, "fqdn"), "web01.corp.example.com");
    assert_eq!(str_of(&f, "domain"), "corp.example.com");
    assert_eq!(str_of(&f, "nodename"), "web01.corp.example.com");
    assert_eq!(str_of(&f, "virtualization_type"), "VMware");
    assert_eq!(str_of(&f, "virtualization_role"), "guest");
    // Two sockets of one core each.
    assert_eq!(f["processor_count"], json!(2));
    assert_eq!(f["processor_cores"], json!(1));
    assert_eq!(f["processor_vcpus"], json!(2));
    assert_eq!(
        f["processor"][2],
        "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz"
    );
    let nfs = mount(&f, "/mnt/shared");
    assert_eq!(nfs["device"], "nfs01.corp.example.com:/export/shared");
    assert_eq!(nfs["fstype"], "nfs4");
    assert_eq!(nfs["size_total"], json!(1048576u64 * 102400));
    assert_eq!(mount(&f, "/")["fstype"], "xfs");
    let ens = &f["ens192"];
    assert_eq!(ens["ipv4"]["address"], "10.20.30.41");
    assert_eq!(ens["ipv4_secondaries"][0]["address"], "10.20.30.42");
    assert_eq!(ens["ipv6"][0]["scope"], "link");
    assert_eq!(f["default_ipv4"]["gateway"], "10.20.30.1");
    assert_eq!(
        f["date_time"]["iso8601_micro"],
        "2024-06-12T09:15:42.987654Z"
    );
    assert_eq!(f["date_time"]["tz_offset"], "-0400");
    assert_eq!(f["env"]["HOSTNAME"], "web01.corp.example.com");
}

#[test]
fn alpine_busybox_capture() {
    let f = facts(ALPINE);
    assert_identity(
        &f,
        [
            ("system", "Linux"),
            ("distribution", "Alpine"),
            ("os_family", "Alpine"),
            ("distribution_version", "3.20.0"),
            ("distribution_major_version", "3"),
            ("distribution_release", "NA"),
            ("pkg_mgr", "apk"),
            // PID 1 is busybox `init`, which Ansible does not trust: /sbin/openrc decides.
            ("service_mgr", "openrc"),
            ("architecture", "x86_64"),
        ],
    );
    assert!(!f.contains_key("machine_id"));
    assert_eq!(str_of(&f, "fqdn"), "alpine-gw.lan");
    assert_eq!(str_of(&f, "domain"), "lan");
    assert_eq!(str_of(&f, "user_shell"), "/bin/ash");
    assert_eq!(str_of(&f, "virtualization_type"), "kvm");
    assert_eq!(str_of(&f, "virtualization_role"), "guest");
    assert_eq!(f["memtotal_mb"], json!(980));
    assert_eq!(f["processor_vcpus"], json!(1));
    let boot = mount(&f, "/boot");
    assert_eq!(boot["size_available"], json!(1024u64 * 237983));
    assert_eq!(mount(&f, "/dev/shm")["device"], "shm");
    // busybox `ip route get` puts two spaces before `src`.
    assert_eq!(f["default_ipv4"]["address"], "192.168.122.50");
    assert_eq!(f["default_ipv4"]["macaddress"], "52:54:00:6b:1e:27");
    assert_eq!(f["env"]["PS1"], "\\h:\\w\\$ ");
    assert_eq!(f["date_time"]["tz"], "UTC");
    assert_eq!(
        f["date_time"]["iso8601_micro"],
        "2024-06-12T09:15:42.401234Z"
    );
}

#[test]
fn macos_capture() {
    let f = facts(MACOS);
    assert_identity(
        &f,
        [
            ("system", "Darwin"),
            ("distribution", "MacOSX"),
            ("os_family", "Darwin"),
            ("distribution_version", "14.5"),
            ("distribution_major_version", "14"),
            // Ansible keeps the Darwin kernel release here.
            ("distribution_release", "23.5.0"),
            ("pkg_mgr", "homebrew"),
            ("service_mgr", "launchd"),
            ("architecture", "arm64"),
        ],
    );
    assert_eq!(str_of(&f, "hostname"), "Annas-MacBook-Pro");
    assert_eq!(str_of(&f, "domain"), "local");
    assert_eq!(str_of(&f, "user_id"), "anna");
    assert_eq!(f["user_uid"], json!(501));
    assert_eq!(f["user_gid"], json!(20));
    assert_eq!(str_of(&f, "user_gecos"), "Anna Example");
    assert_eq!(str_of(&f, "user_dir"), "/Users/anna");
    assert_eq!(str_of(&f, "user_shell"), "/bin/zsh");
    assert_eq!(str_of(&f, "processor"), "Apple M1 Pro");
    assert_eq!(f["processor_count"], json!(1));
    assert_eq!(f["processor_cores"], json!(10));
    assert_eq!(f["processor_vcpus"], json!(10));
    assert_eq!(f["memtotal_mb"], json!(16384));
    // 16384 - (167254 + 228011 + 224568) * 16 KiB / 1 MiB
    assert_eq!(f["memfree_mb"], json!(16384 - 9684));
    assert_eq!(f["swaptotal_mb"], json!(2048));
    assert_eq!(f["uptime_seconds"], json!(1718183742 - 1717400000));
    assert_eq!(str_of(&f, "model"), "MacBookPro18,3");
    assert_eq!(str_of(&f, "virtualization_type"), "NA");
    let root = mount(&f, "/");
    assert_eq!(root["fstype"], "apfs");
    assert_eq!(root["options"], "sealed,local,read-only,journaled");
    assert_eq!(root["size_total"], json!(482797652u64 * 1024));
    let backup = mount(&f, "/Volumes/Backup Disk");
    assert_eq!(backup["size_available"], json!(564159568u64 * 1024));
    let mounts = f["mounts"].as_array().unwrap();
    assert!(mounts
        .iter()
        .all(|m| m["fstype"] != "devfs" && m["fstype"] != "autofs"));
    // BSD date has no %N.
    assert_eq!(
        f["date_time"]["iso8601_micro"],
        "2024-06-12T09:15:42.000000Z"
    );
    assert_eq!(f["date_time"]["hour"], "02");
    let d4 = f["default_ipv4"].as_object().unwrap();
    assert_eq!(d4["interface"], "en0");
    assert_eq!(d4["gateway"], "192.168.1.1");
    assert_eq!(d4["address"], "192.168.1.77");
    assert_eq!(d4["netmask"], "255.255.255.0");
    assert_eq!(d4["macaddress"], "3c:22:fb:12:34:56");
    assert_eq!(f["en0"]["ipv6"][0]["address"], "fe80::1c2b:3d4e:5f60:7182");
    assert_eq!(f["all_ipv4_addresses"], json!(["192.168.1.77"]));
    assert_eq!(
        f["interfaces"],
        json!(["lo0", "gif0", "stf0", "en0", "utun0"])
    );
}

#[test]
fn freebsd_capture() {
    let f = facts(FREEBSD);
    assert_identity(
        &f,
        [
            ("system", "FreeBSD"),
            ("distribution", "FreeBSD"),
            ("os_family", "FreeBSD"),
            ("distribution_version", "14.1"),
            ("distribution_major_version", "14"),
            ("distribution_release", "14.1-RELEASE"),
            ("pkg_mgr", "pkgng"),
            ("service_mgr", "bsdinit"),
            ("architecture", "amd64"),
        ],
    );
    assert_eq!(
        str_of(&f, "kernel_version"),
        "FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC"
    );
    assert_eq!(str_of(&f, "user_gecos"), "Charlie &");
    assert_eq!(f["processor_count"], json!(4));
    assert_eq!(
        str_of(&f, "processor"),
        "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz"
    );
    assert_eq!(f["memtotal_mb"], json!(2033414u64 * 4096 / 1024 / 1024));
    assert_eq!(f["memfree_mb"], json!(1529871u64 * 4096 / 1024 / 1024));
    assert!(!f.contains_key("model"));
    let root = mount(&f, "/");
    assert_eq!(root["device"], "zroot/ROOT/default");
    assert_eq!(root["fstype"], "zfs");
    assert_eq!(root["size_available"], json!(25566744u64 * 1024));
    let mounts = f["mounts"].as_array().unwrap();
    assert!(mounts
        .iter()
        .all(|m| m["fstype"] != "devfs" && m["fstype"] != "procfs" && m["fstype"] != "fdescfs"));
    assert_eq!(mount(&f, "/boot/efi")["fstype"], "msdosfs");
    assert_eq!(f["default_ipv4"]["address"], "10.0.0.20");
    assert_eq!(f["default_ipv4"]["interface"], "vtnet0");
    assert_eq!(f["default_ipv4"]["gateway"], "10.0.0.1");
    assert_eq!(f["default_ipv4"]["mtu"], json!(1500));
}

#[test]
fn missing_sections_degrade() {
    // Only uname answered: everything else is absent or NA, never an error.
    let f = facts("\n@@muster:uname@@\nLinux h 6.1.0 #1 SMP x86_64\n\n@@muster:end@@\n");
    assert_eq!(str_of(&f, "distribution"), "OtherLinux");
    assert_eq!(str_of(&f, "distribution_version"), "NA");
    assert_eq!(str_of(&f, "distribution_major_version"), "NA");
    assert_eq!(str_of(&f, "distribution_release"), "NA");
    assert_eq!(str_of(&f, "pkg_mgr"), "unknown");
    assert_eq!(str_of(&f, "service_mgr"), "service");
    assert_eq!(str_of(&f, "virtualization_type"), "NA");
    assert_eq!(f["mounts"], json!([]));
    assert!(!f.contains_key("date_time"));
    assert!(!f.contains_key("memtotal_mb"));
    assert!(!f.contains_key("default_ipv4"));
    assert_eq!(f["env"], json!({}));
}

#[test]
fn interface_facts_are_named_like_ansibles() {
    let out =
        "@@muster:uname@@\nLinux h 6.1.0 #1 x86_64\n@@muster:ip-route4@@\n\n@@muster:ip-addr@@\n\
        5: br-lan: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP\n\
        \x20   link/ether 52:54:00:aa:bb:cc brd ff:ff:ff:ff:ff:ff\n\
        \x20   inet 10.1.0.1/16 brd 10.1.255.255 scope global br-lan\n\
        6: eth0.100@eth0: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN\n\
        \x20   link/ether 52:54:00:aa:bb:cd brd ff:ff:ff:ff:ff:ff\n";
    let f = facts(out);
    assert_eq!(f["interfaces"], json!(["br-lan", "eth0.100"]));
    assert_eq!(f["br_lan"]["device"], "br-lan");
    assert_eq!(f["br_lan"]["ipv4"]["network"], "10.1.0.0");
    assert_eq!(f["br_lan"]["ipv4"]["netmask"], "255.255.0.0");
    assert_eq!(f["eth0.100"]["active"], json!(false));
    assert_eq!(f["default_ipv4"], json!({}));
}

#[test]
fn output_without_uname_is_an_error() {
    assert!(parse("").is_err());
    assert!(parse("sh: 1: syntax error\n").is_err());
}

#[test]
fn pkg_mgr_follows_the_distribution_first() {
    let dist = |name: &str, major: &str| platform::Dist {
        name: name.into(),
        version: major.into(),
        major: major.into(),
        release: "NA".into(),
        minor: None,
        os_family: platform::os_family(name),
    };
    // RHEL 9 is dnf whatever is on disk; RHEL 7 is yum.
    assert_eq!(platform::pkg_mgr(&[], "Linux", &dist("RedHat", "9")), "dnf");
    assert_eq!(
        platform::pkg_mgr(&["/usr/bin/dnf"], "Linux", &dist("CentOS", "7")),
        "yum"
    );
    assert_eq!(
        platform::pkg_mgr(&[], "Linux", &dist("Fedora", "40")),
        "dnf5"
    );
    // The Debian family is apt even with other managers installed.
    assert_eq!(
        platform::pkg_mgr(&["/usr/bin/zypper"], "Linux", &dist("Ubuntu", "24")),
        "apt"
    );
    // Elsewhere: the last manager found in Ansible's order.
    assert_eq!(
        platform::pkg_mgr(&["/usr/bin/apt-get"], "Linux", &dist("Alpine", "3")),
        "apt"
    );
    assert_eq!(
        platform::pkg_mgr(
            &["/usr/bin/apt-get", "/sbin/apk"],
            "Linux",
            &dist("Alpine", "3")
        ),
        "apk"
    );
    assert_eq!(
        platform::pkg_mgr(&[], "Linux", &dist("Archlinux", "NA")),
        "unknown"
    );
    assert_eq!(
        platform::pkg_mgr(&[], "OpenBSD", &dist("OpenBSD", "7")),
        "openbsd_pkg"
    );
}

#[test]
fn os_family_map() {
    for (d, fam) in [
        ("Rocky", "RedHat"),
        ("AlmaLinux", "RedHat"),
        ("Amazon", "RedHat"),
        ("Linux Mint", "Debian"),
        ("openSUSE Leap", "Suse"),
        ("SLES", "Suse"),
        ("Manjaro", "Archlinux"),
        ("MacOSX", "Darwin"),
        ("Void", "Void"),
    ] {
        assert_eq!(platform::os_family(d), fam, "{d}");
    }
}

#[test]
fn os_release_ids_map_to_ansible_names() {
    let f = |osr: &str| {
        let out =
            format!("@@muster:uname@@\nLinux h 6.1.0 #1 x86_64\n@@muster:os-release@@\n{osr}\n");
        let f = facts(&out);
        (
            str_of(&f, "distribution").to_string(),
            str_of(&f, "distribution_release").to_string(),
            str_of(&f, "os_family").to_string(),
        )
    };
    assert_eq!(
        f("ID=rocky\nVERSION_ID=\"9.4\"\nVERSION=\"9.4 (Blue Onyx)\""),
        ("Rocky".into(), "Blue Onyx".into(), "RedHat".into())
    );
    assert_eq!(
        f("ID=\"almalinux\"\nVERSION_ID=\"9.4\"\nVERSION=\"9.4 (Seafoam Ocelot)\""),
        ("AlmaLinux".into(), "Seafoam Ocelot".into(), "RedHat".into())
    );
    assert_eq!(
        f("NAME=\"Arch Linux\"\nID=arch\nBUILD_ID=rolling"),
        ("Archlinux".into(), "NA".into(), "Archlinux".into())
    );
    assert_eq!(
        f("NAME=\"openSUSE Leap\"\nVERSION_ID=\"15.6\"\nID=\"opensuse-leap\""),
        ("openSUSE Leap".into(), "NA".into(), "Suse".into())
    );
}

#[test]
fn inject_sets_ansible_vars() {
    let f = facts(RHEL);
    let mut vars = Map::new();
    vars.insert("keep".into(), json!(1));
    inject(&mut vars, f.clone());
    assert_eq!(vars["ansible_facts"]["distribution"], "RedHat");
    assert_eq!(vars["ansible_distribution"], "RedHat");
    assert_eq!(vars["ansible_os_family"], "RedHat");
    assert_eq!(vars["ansible_default_ipv4"]["address"], "10.20.30.41");
    assert_eq!(vars["keep"], json!(1));
    assert_eq!(vars.len(), f.len() + 2);
}

#[test]
fn script_is_plain_posix_sh() {
    let s = script();
    assert!(s.len() < 8 * 1024, "script grew to {} bytes", s.len());
    // No bashisms that dash or busybox ash reject.
    for bad in ["[[ ", "function ", "local ", "$'", "<<<", "source "] {
        assert!(!s.contains(bad), "script uses {bad:?}");
    }
}

/// The script itself, run by this machine's /bin/sh (and busybox, when installed), parses.
#[test]
fn script_runs_on_this_machine() {
    for shell in ["/bin/sh", "/bin/dash", "/bin/bash", "/bin/busybox"] {
        if !std::path::Path::new(shell).exists() {
            continue;
        }
        let mut cmd = std::process::Command::new(shell);
        // busybox: its own sh, and only its applets on PATH, as on Alpine.
        let applets = tempfile::tempdir().unwrap();
        if shell.ends_with("busybox") {
            let ok = std::process::Command::new(shell)
                .arg("--install")
                .arg("-s")
                .arg(applets.path())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                continue;
            }
            cmd.arg("sh")
                .env_clear()
                .env("PATH", applets.path())
                .env("HOME", "/root");
        }
        let out = cmd.arg("-c").arg(script()).output().unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let f = facts(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(str_of(&f, "system"), "Linux", "{shell}");
        assert!(f["processor_count"].as_u64().unwrap() >= 1, "{shell}");
        assert!(!f["mounts"].as_array().unwrap().is_empty(), "{shell}");
        let epoch: i64 = f["date_time"]["epoch"].as_str().unwrap().parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((epoch - now).abs() < 60, "{shell}");
    }
}

/// A transport that answers every exec with one canned output, and counts.
struct Canned {
    out: crate::transport::Output,
    execs: std::sync::atomic::AtomicU64,
    cmds: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Transport for Canned {
    fn host(&self) -> &str {
        "web1"
    }
    async fn exec(&self, cmd: &str, _stdin: Option<&[u8]>) -> Result<crate::transport::Output> {
        self.execs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.cmds.lock().unwrap().push(cmd.to_string());
        Ok(self.out.clone())
    }
    async fn put(&self, _: &str, _: &[u8], _: &crate::transport::FileAttrs) -> Result<()> {
        unreachable!()
    }
    async fn get(&self, _: &str) -> Result<Vec<u8>> {
        unreachable!()
    }
    fn op_counts(&self) -> crate::transport::OpCounts {
        crate::transport::OpCounts {
            execs: self.execs.load(std::sync::atomic::Ordering::SeqCst),
            ..Default::default()
        }
    }
    async fn close(&self) {}
}

fn canned(status: u32, stdout: &str, stderr: &str) -> Canned {
    Canned {
        out: crate::transport::Output {
            status: Some(status),
            signal: None,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        },
        execs: Default::default(),
        cmds: Default::default(),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn gather_is_one_sh_c_exec() {
    let t = canned(0, RHEL, "");
    let f = block_on(gather(&t)).unwrap();
    assert_eq!(f["distribution"], "RedHat");
    assert_eq!(t.op_counts().execs, 1);
    let cmds = t.cmds.lock().unwrap();
    assert_eq!(cmds[0], crate::transport::quote::sh_c(script()));
}

#[test]
fn gather_failures_are_host_errors_naming_what_failed() {
    let t = canned(127, "", "sh: 1: sh: not found\n");
    let e = block_on(gather(&t)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Host {
                kind: HostErrorKind::Failed,
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.starts_with("web1: gathering facts failed"), "{msg}");
    assert!(
        msg.contains("127") && msg.contains("sh: not found"),
        "{msg}"
    );

    let t = canned(0, "Welcome to the machine\n", "");
    let msg = block_on(gather(&t)).unwrap_err().to_string();
    assert!(
        msg.contains("web1: gathering facts failed") && msg.contains("uname"),
        "{msg}"
    );
}

/// A login banner or a chatty shell profile before the first marker is ignored.
#[test]
fn noise_before_the_first_marker_is_ignored() {
    let f = facts(&format!("Last login: Mon Jun 10 from 10.0.0.5\r\n{ALPINE}"));
    assert_eq!(f["distribution"], "Alpine");
}
