//! processor*, mem*/swap*/memory_mb, mounts, uptime_seconds and virtualization_* facts.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Map, Value};

use super::{s, Facts, Platform, Sections};

pub(super) fn collect(sec: &Sections, p: &Platform, f: &mut Facts) {
    if p.system != "Linux" && sec.has("sysctl") {
        bsd(sec, &p.system, f);
    } else {
        linux_cpu(sec, p, f);
        linux_memory(sec.get("meminfo"), f);
        if let Some(up) = sec
            .lines("uptime")
            .next()
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse::<f64>().ok())
        {
            f.insert("uptime_seconds".into(), json!(up as u64));
        }
        let mounts = linux_mounts(sec.get("mounts"), sec.get("statfs"));
        f.insert("mounts".into(), Value::Array(mounts));
        virtualization(sec, f);
    }
}

// ---------------------------------------------------------------------------------------------
// CPU

/// Ansible's Linux CPU facts from the `/proc/cpuinfo` lines the script keeps.
fn linux_cpu(sec: &Sections, p: &Platform, f: &mut Facts) {
    let text = sec.get("cpuinfo");
    let mut processor: Vec<Value> = Vec::new();
    let (mut n_processor, mut n_vendor, mut n_model) = (0u64, 0u64, 0u64);
    let mut sockets: Vec<(String, u64)> = Vec::new();
    let mut cores: Vec<(String, u64)> = Vec::new();
    let (mut physid, mut coreid) = (String::new(), String::new());
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" | "Processor" | "vendor_id" | "model name" | "cpu" | "Vendor" => {
                processor.push(s(v));
                match k {
                    "processor" => n_processor += 1,
                    "vendor_id" => n_vendor += 1,
                    "model name" => n_model += 1,
                    _ => {}
                }
            }
            "physical id" => {
                physid = v.to_string();
                if !sockets.iter().any(|(id, _)| *id == physid) {
                    sockets.push((physid.clone(), 1));
                }
            }
            "core id" => {
                coreid = v.to_string();
                if !cores.iter().any(|(id, _)| *id == coreid) {
                    cores.push((coreid.clone(), 1));
                }
            }
            "cpu cores" => {
                let n = v.parse().unwrap_or(1);
                match sockets.iter_mut().find(|(id, _)| *id == physid) {
                    Some(e) => e.1 = n,
                    None => sockets.push((physid.clone(), n)),
                }
            }
            "siblings" => {
                let n = v.parse().unwrap_or(1);
                match cores.iter_mut().find(|(id, _)| *id == coreid) {
                    Some(e) => e.1 = n,
                    None => cores.push((coreid.clone(), n)),
                }
            }
            _ => {}
        }
    }
    if text.trim().is_empty() {
        return;
    }
    let mut count = n_processor;
    if n_vendor > 0 && n_vendor == n_model {
        count = n_vendor;
    }
    let arch = p.architecture.as_str();
    if arch.starts_with("armv") || arch.starts_with("aarch") || arch.starts_with("ppc") {
        count = n_processor;
    }
    let processor_count = if sockets.is_empty() {
        count
    } else {
        sockets.len() as u64
    };
    let cores_per_socket = sockets.first().map(|s| s.1).filter(|n| *n > 0).unwrap_or(1);
    let threads_per_core = match (sockets.first(), cores.first()) {
        (Some(s), Some(c)) if s.1 > 0 => (c.1 / s.1).max(1),
        _ => 1,
    };
    let nproc = sec
        .lines("nproc")
        .next()
        .and_then(|l| l.trim().parse::<u64>().ok())
        .unwrap_or(n_processor);
    f.insert("processor".into(), Value::Array(processor));
    f.insert("processor_count".into(), json!(processor_count));
    f.insert("processor_cores".into(), json!(cores_per_socket));
    f.insert("processor_threads_per_core".into(), json!(threads_per_core));
    f.insert(
        "processor_vcpus".into(),
        json!(threads_per_core
            .saturating_mul(processor_count)
            .saturating_mul(cores_per_socket)),
    );
    f.insert("processor_nproc".into(), json!(nproc));
}

// ---------------------------------------------------------------------------------------------
// Memory

fn linux_memory(text: &str, f: &mut Facts) {
    let mut kb: HashMap<&str, u64> = HashMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            if let Some(n) = v.split_whitespace().next().and_then(|n| n.parse().ok()) {
                kb.insert(k.trim(), n);
            }
        }
    }
    let Some(&total) = kb.get("MemTotal") else {
        return;
    };
    let mb = |k: &str| kb.get(k).copied().unwrap_or(0) / 1024;
    let (total, free) = (total / 1024, mb("MemFree"));
    let (swap_total, swap_free) = (mb("SwapTotal"), mb("SwapFree"));
    let nocache_free = free + mb("Buffers") + mb("Cached");
    f.insert("memtotal_mb".into(), json!(total));
    f.insert("memfree_mb".into(), json!(free));
    f.insert("swaptotal_mb".into(), json!(swap_total));
    f.insert("swapfree_mb".into(), json!(swap_free));
    f.insert(
        "memory_mb".into(),
        json!({
            "real": { "total": total, "used": total.saturating_sub(free), "free": free },
            "nocache": { "free": nocache_free, "used": total.saturating_sub(nocache_free) },
            "swap": {
                "total": swap_total,
                "free": swap_free,
                "used": swap_total.saturating_sub(swap_free),
                "cached": mb("SwapCached"),
            },
        }),
    );
}

// ---------------------------------------------------------------------------------------------
// macOS

/// `sysctl name...` output: `name: value` lines.
fn sysctl(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// `vm.swapusage: total = 2048.00M  used = 1052.25M  free = 995.75M  (encrypted)` -> MB.
fn swapusage(v: &str, what: &str) -> Option<u64> {
    let mut it = v.split_whitespace();
    while let Some(w) = it.next() {
        if w == what {
            it.next(); // "="
            let n = it.next()?;
            let (num, unit) = n.split_at(n.len().checked_sub(1)?);
            let x: f64 = num.parse().ok()?;
            let mb = match unit {
                "K" => x / 1024.0,
                "M" => x,
                "G" => x * 1024.0,
                _ => return None,
            };
            return Some(mb as u64);
        }
    }
    None
}

/// macOS and the BSDs: `sysctl`, `vm_stat` (macOS), `mount` and `df`.
fn bsd(sec: &Sections, system: &str, f: &mut Facts) {
    let sc = sysctl(sec.get("sysctl"));
    let num = |k: &str| sc.get(k).and_then(|v| v.parse::<u64>().ok());
    let darwin = system == "Darwin";
    if let Some(brand) = sc.get("machdep.cpu.brand_string") {
        f.insert("processor".into(), s(brand));
    } else if let Some(model) = sc.get("hw.model").filter(|_| !darwin) {
        // On the BSDs hw.model is the CPU; on macOS it is the Mac's model.
        f.insert("processor".into(), s(model));
    }
    if !darwin {
        if let Some(n) = num("hw.ncpu") {
            f.insert("processor_count".into(), json!(n));
        }
        let page = num("hw.pagesize").unwrap_or(4096);
        let total = num("vm.stats.vm.v_page_count")
            .map(|p| p.saturating_mul(page))
            .or_else(|| num("hw.physmem"));
        if let Some(total) = total {
            f.insert("memtotal_mb".into(), json!(total / 1024 / 1024));
        }
        if let Some(free) = num("vm.stats.vm.v_free_count") {
            f.insert(
                "memfree_mb".into(),
                json!(free.saturating_mul(page) / 1024 / 1024),
            );
        }
    }
    if let Some(c) = num("machdep.cpu.core_count").or_else(|| num("hw.physicalcpu")) {
        f.insert("processor_cores".into(), json!(c));
    }
    if let Some(v) = num("hw.logicalcpu").or_else(|| num("hw.ncpu")) {
        f.insert("processor_vcpus".into(), json!(v));
        f.insert("processor_nproc".into(), json!(v));
    }
    if let Some(p) = num("hw.packages") {
        f.insert("processor_count".into(), json!(p));
    }
    if let Some(m) = sc.get("hw.model").filter(|_| darwin) {
        f.insert("model".into(), s(m));
    }
    if let Some(bytes) = num("hw.memsize") {
        let total = bytes / 1024 / 1024;
        f.insert("memtotal_mb".into(), json!(total));
        // Free = total - (wired + active + inactive), in pages of vm_stat's page size.
        let vm = sec.get("vm_stat");
        let page: u64 = vm
            .lines()
            .next()
            .and_then(|l| l.split("page size of ").nth(1))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(4096);
        let pages = |k: &str| -> u64 {
            vm.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|r| {
                    r.trim_start_matches(':')
                        .trim()
                        .trim_end_matches('.')
                        .parse()
                        .ok()
                })
                .unwrap_or(0)
        };
        let free = if vm.trim().is_empty() {
            0
        } else {
            let used = pages("Pages wired down")
                .saturating_add(pages("Pages active"))
                .saturating_add(pages("Pages inactive"))
                .saturating_mul(page)
                / 1024
                / 1024;
            total.saturating_sub(used)
        };
        f.insert("memfree_mb".into(), json!(free));
    }
    if let Some(sw) = sc.get("vm.swapusage") {
        if let (Some(t), Some(fr)) = (swapusage(sw, "total"), swapusage(sw, "free")) {
            f.insert("swaptotal_mb".into(), json!(t));
            f.insert("swapfree_mb".into(), json!(fr));
        }
    }
    if let Some(bt) = sc.get("kern.boottime") {
        // `{ sec = 1716800000, usec = 0 } Mon May 27 ...`
        let boot = bt
            .split("sec = ")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<i64>().ok());
        let now = sec
            .get("date")
            .lines()
            .find_map(|l| l.split('|').nth(11))
            .and_then(|n| n.trim().parse::<i64>().ok());
        if let (Some(b), Some(n)) = (boot, now) {
            f.insert("uptime_seconds".into(), json!(n.saturating_sub(b).max(0)));
        }
    }
    let mounts = bsd_mounts(sec.get("mount"), sec.get("df"));
    f.insert("mounts".into(), Value::Array(mounts));
    f.insert("virtualization_type".into(), s("NA"));
    f.insert("virtualization_role".into(), s("NA"));
    f.insert("virtualization_tech_guest".into(), json!([]));
    f.insert("virtualization_tech_host".into(), json!([]));
}

// ---------------------------------------------------------------------------------------------
// Mounts

/// `/proc/mounts` escapes space, tab, newline and backslash as `\ooo` (a byte: at most `\377`;
/// anything else is kept as written).
fn unescape_octal(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && (b'0'..=b'3').contains(&b[i + 1])
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Which mounts are reported: Ansible's rule (a device path, a `host:/path` network share,
/// fstype not `none`), plus tmpfs, overlay and zfs, which Ansible leaves out.
pub(super) fn keep_mount(device: &str, fstype: &str) -> bool {
    const PSEUDO: &[&str] = &[
        "none",
        "proc",
        "sysfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "mqueue",
        "debugfs",
        "tracefs",
        "securityfs",
        "pstore",
        "bpf",
        "configfs",
        "fusectl",
        "hugetlbfs",
        "autofs",
        "binfmt_misc",
        "rpc_pipefs",
        "nsfs",
        "efivarfs",
        "selinuxfs",
        "devtmpfs",
        "devfs",
    ];
    if PSEUDO.contains(&fstype) {
        return false;
    }
    device.starts_with('/')
        || device.starts_with('\\')
        || device.contains(":/")
        || matches!(fstype, "tmpfs" | "overlay" | "zfs")
}

/// statvfs numbers of one mount point, from `stat -f -c '%S %s %b %f %a %c %d %n'`.
fn statfs_sizes(line: &str) -> Option<(String, Map<String, Value>)> {
    let mut rest = line.trim_start();
    let mut n = [0u64; 7];
    for slot in n.iter_mut() {
        let end = rest.find(' ')?;
        *slot = rest[..end].parse().ok()?;
        rest = &rest[end + 1..];
    }
    let [frsize, bsize, blocks, bfree, bavail, files, ffree] = n;
    let mut m = Map::new();
    m.insert("size_total".into(), json!(frsize.saturating_mul(blocks)));
    m.insert(
        "size_available".into(),
        json!(frsize.saturating_mul(bavail)),
    );
    m.insert("block_size".into(), json!(bsize));
    m.insert("block_total".into(), json!(blocks));
    m.insert("block_available".into(), json!(bavail));
    m.insert("block_used".into(), json!(blocks.saturating_sub(bfree)));
    m.insert("inode_total".into(), json!(files));
    m.insert("inode_available".into(), json!(ffree));
    m.insert("inode_used".into(), json!(files.saturating_sub(ffree)));
    Some((unescape_octal(rest), m))
}

fn mount_entry(mount: &str, device: &str, fstype: &str, options: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("mount".into(), s(mount));
    m.insert("device".into(), s(device));
    m.insert("fstype".into(), s(fstype));
    m.insert("options".into(), s(options));
    m
}

pub(super) fn linux_mounts(mounts: &str, statfs: &str) -> Vec<Value> {
    let sizes: HashMap<String, Map<String, Value>> =
        statfs.lines().filter_map(statfs_sizes).collect();
    let mut out = Vec::new();
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 {
            continue;
        }
        let device = unescape_octal(fields[0]);
        let mount = unescape_octal(fields[1]);
        let fstype = unescape_octal(fields[2]);
        if !keep_mount(&device, &fstype) {
            continue;
        }
        let mut m = mount_entry(&mount, &device, &fstype, &unescape_octal(fields[3]));
        m.insert(
            "dump".into(),
            json!(fields
                .get(4)
                .and_then(|d| d.parse::<u64>().ok())
                .unwrap_or(0)),
        );
        m.insert(
            "passno".into(),
            json!(fields
                .get(5)
                .and_then(|d| d.parse::<u64>().ok())
                .unwrap_or(0)),
        );
        if let Some(sz) = sizes.get(&mount) {
            m.extend(sz.clone());
        }
        m.insert("uuid".into(), s("N/A"));
        out.push(Value::Object(m));
    }
    out
}

/// `df -P -k` rows: mount point -> (1K blocks, available 1K blocks).
fn df_sizes(df: &str) -> HashMap<String, (u64, u64)> {
    let mut out = HashMap::new();
    for line in df.lines().skip(1) {
        let w: Vec<&str> = line.split_whitespace().collect();
        // Device names may hold spaces (`map auto_home`): find the capacity column.
        let Some(i) = (4..w.len()).find(|&i| {
            w[i].ends_with('%')
                && w[i - 3..i]
                    .iter()
                    .all(|x| x.chars().all(|c| c.is_ascii_digit()))
        }) else {
            continue;
        };
        let (Ok(total), Ok(avail)) = (w[i - 3].parse(), w[i - 1].parse()) else {
            continue;
        };
        out.insert(w[i + 1..].join(" "), (total, avail));
    }
    out
}

/// `mount` output, BSD style (`/dev/disk3s1s1 on / (apfs, sealed, local, read-only)`) or
/// util-linux style (`/dev/vda on / type ext4 (rw,relatime)`), sizes from `df -P -k`.
pub(super) fn bsd_mounts(mount: &str, df: &str) -> Vec<Value> {
    let sizes = df_sizes(df);
    let mut out = Vec::new();
    for line in mount.lines() {
        let Some((device, rest)) = line.split_once(" on ") else {
            continue;
        };
        let (mnt, fstype, options) = if let Some((mnt, r)) = rest.split_once(" type ") {
            let (t, o) = r.split_once(" (").unwrap_or((r, ""));
            (
                mnt,
                t.trim().to_string(),
                o.trim_end_matches(')').to_string(),
            )
        } else if let Some((mnt, r)) = rest.rsplit_once(" (") {
            let inner = r.trim_end_matches(')');
            let mut parts = inner.split(", ");
            let t = parts.next().unwrap_or("").to_string();
            (mnt, t, parts.collect::<Vec<_>>().join(","))
        } else {
            continue;
        };
        if !keep_mount(device, &fstype) {
            continue;
        }
        let mut m = mount_entry(mnt, device, &fstype, &options);
        if let Some((total, avail)) = sizes.get(mnt) {
            m.insert("size_total".into(), json!(total.saturating_mul(1024)));
            m.insert("size_available".into(), json!(avail.saturating_mul(1024)));
        }
        out.push(Value::Object(m));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Virtualization

/// Ansible's Linux virtualization logic: the first technology found sets type and role;
/// every one found is listed in virtualization_tech_guest / _host.
pub(super) fn virtualization(sec: &Sections, f: &mut Facts) {
    let exists: Vec<&str> = sec.lines("exists").collect();
    let present = |p: &str| exists.contains(&p);
    let mut guest: BTreeSet<String> = BTreeSet::new();
    let mut host: BTreeSet<String> = BTreeSet::new();
    let mut found: Option<(String, &'static str)> = None;
    let set = |found: &mut Option<(String, &'static str)>, t: &str, role: &'static str| {
        if found.is_none() {
            *found = Some((t.to_string(), role));
        }
    };

    for line in sec.get("cgroup1").lines() {
        let docker = line.contains("/docker/")
            || line.split("/docker-").nth(1).is_some_and(|r| {
                r.split_once(".scope").is_some_and(|(id, _)| {
                    !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit())
                })
            });
        if docker {
            guest.insert("docker".into());
            set(&mut found, "docker", "guest");
        }
        if line.contains("/lxc/") || line.contains("/machine.slice/machine-lxc") {
            guest.insert("lxc".into());
            set(&mut found, "lxc", "guest");
        }
        if line.contains("/system.slice/containerd.service") {
            guest.insert("containerd".into());
            set(&mut found, "containerd", "guest");
        }
    }
    for var in sec.get("environ1").split(['\0', '\n']) {
        if var.contains("container=lxc") {
            guest.insert("lxc".into());
            set(&mut found, "lxc", "guest");
        }
        if var.contains("container=podman") {
            guest.insert("podman".into());
            set(&mut found, "podman", "guest");
        }
        if var.starts_with("container=") && var.len() > "container=".len() {
            guest.insert("container".into());
            set(&mut found, "container", "guest");
        }
    }
    if present("/proc/vz") && !present("/proc/lve") {
        guest.insert("openvz".into());
        set(&mut found, "openvz", "guest");
    }
    let virt: HashMap<&str, &str> = sec
        .lines("virt")
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k, v.trim()))
        .collect();
    let get = |k: &str| virt.get(k).copied().unwrap_or("");
    let sd_container = get("container");
    if !sd_container.is_empty() {
        guest.insert(sd_container.to_string());
        set(&mut found, sd_container, "guest");
    }
    if present("/.dockerenv") || present("/.dockerinit") {
        guest.insert("docker".into());
        set(&mut found, "docker", "guest");
    }
    if ["docker", "lxc", "podman", "openvz", "containerd"]
        .iter()
        .any(|t| guest.contains(*t))
        || !sd_container.is_empty()
    {
        guest.insert("container".into());
    }
    if present("/proc/xen") {
        guest.insert("xen".into());
        set(&mut found, "xen", "guest");
    }
    let (product, vendor, family, bios) = (
        get("product_name"),
        get("sys_vendor"),
        get("product_family"),
        get("bios_vendor"),
    );
    let mut guest_tech = |t: &str, found: &mut Option<(String, &'static str)>| {
        guest.insert(t.to_string());
        set(found, t, "guest");
    };
    if matches!(product, "KVM" | "KVM Server" | "Bochs" | "AHV") {
        guest_tech("kvm", &mut found);
    }
    if vendor == "Red Hat" && family == "RHV" {
        guest_tech("RHV", &mut found);
    }
    if product == "RHEV Hypervisor" {
        guest_tech("RHEV", &mut found);
    }
    if matches!(product, "VMware Virtual Platform" | "VMware7,1") || vendor.starts_with("VMware") {
        guest_tech("VMware", &mut found);
    }
    if matches!(product, "OpenStack Compute" | "OpenStack Nova") {
        guest_tech("openstack", &mut found);
    }
    match bios {
        "Xen" => guest_tech("xen", &mut found),
        "innotek GmbH" => guest_tech("virtualbox", &mut found),
        "Amazon EC2" | "DigitalOcean" | "Hetzner" => guest_tech("kvm", &mut found),
        _ => {}
    }
    match vendor {
        "Microsoft Corporation" if product == "Virtual Machine" => {
            guest_tech("VirtualPC", &mut found)
        }
        "Parallels Software International Inc." => guest_tech("parallels", &mut found),
        "QEMU" | "Amazon EC2" | "Google" => guest_tech("kvm", &mut found),
        "OpenStack Foundation" => guest_tech("openstack", &mut found),
        "oVirt" => guest_tech("oVirt", &mut found),
        "KubeVirt" => guest_tech("KubeVirt", &mut found),
        _ => {}
    }
    for line in sec.get("cpuinfo").lines() {
        let (k, v) = line.split_once(':').unwrap_or((line, ""));
        let (k, v) = (k.trim(), v.trim());
        if k == "model name" && v.contains("QEMU Virtual CPU") {
            guest_tech("kvm", &mut found);
        } else if k == "vendor_id" && v.contains("User Mode Linux") {
            guest_tech("uml", &mut found);
        } else if k == "vendor_id" && v.contains("PowerVM Lx86") {
            guest_tech("powervm_lx86", &mut found);
        }
    }
    let modules: Vec<&str> = sec
        .lines("virt")
        .filter_map(|l| l.strip_prefix("module="))
        .collect();
    if modules.contains(&"kvm") {
        host.insert("kvm".into());
        set(&mut found, "kvm", "host");
        if present("/rhev/") {
            host.insert("RHEV".into());
        }
    }
    if modules.contains(&"vboxdrv") {
        host.insert("virtualbox".into());
        set(&mut found, "virtualbox", "host");
    }
    if modules.contains(&"virtio") {
        guest.insert("kvm".into());
        set(&mut found, "kvm", "guest");
    }
    let (t, role) = found.unwrap_or_else(|| ("NA".to_string(), "NA"));
    f.insert("virtualization_type".into(), s(t));
    f.insert("virtualization_role".into(), s(role));
    f.insert(
        "virtualization_tech_guest".into(),
        Value::Array(guest.into_iter().map(Value::String).collect()),
    );
    f.insert(
        "virtualization_tech_host".into(),
        Value::Array(host.into_iter().map(Value::String).collect()),
    );
}
