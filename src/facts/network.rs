//! default_ipv4/default_ipv6, interfaces, per-interface facts and all_ipv*_addresses.

use std::net::Ipv4Addr;

use serde_json::{json, Map, Value};

use super::{s, Facts, Sections};

/// One interface as Ansible shows it (`ansible_eth0`).
#[derive(Debug, Default, Clone)]
struct Iface {
    device: String,
    active: bool,
    promisc: bool,
    mtu: Option<u64>,
    macaddress: Option<String>,
    kind: String,
    ipv4: Vec<Map<String, Value>>,
    ipv6: Vec<Map<String, Value>>,
}

impl Iface {
    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("device".into(), s(&self.device));
        m.insert("active".into(), json!(self.active));
        m.insert("promisc".into(), json!(self.promisc));
        if let Some(mtu) = self.mtu {
            m.insert("mtu".into(), json!(mtu));
        }
        if let Some(mac) = &self.macaddress {
            m.insert("macaddress".into(), s(mac));
        }
        m.insert("type".into(), s(&self.kind));
        if let Some(first) = self.ipv4.first() {
            m.insert("ipv4".into(), Value::Object(first.clone()));
        }
        if self.ipv4.len() > 1 {
            m.insert(
                "ipv4_secondaries".into(),
                Value::Array(self.ipv4[1..].iter().cloned().map(Value::Object).collect()),
            );
        }
        if !self.ipv6.is_empty() {
            m.insert(
                "ipv6".into(),
                Value::Array(self.ipv6.iter().cloned().map(Value::Object).collect()),
            );
        }
        Value::Object(m)
    }
}

pub(super) fn collect(sec: &Sections, f: &mut Facts) {
    let (mut d4, mut d6, ifaces) = if sec.has("ip-addr") {
        (
            ip_route(sec.get("ip-route4")),
            ip_route(sec.get("ip-route6")),
            ip_addr(sec.get("ip-addr")),
        )
    } else if sec.has("ifconfig") {
        (
            bsd_route(sec.get("route4")),
            bsd_route(sec.get("route6")),
            ifconfig(sec.get("ifconfig")),
        )
    } else if sec.has("proc-net-route") {
        (
            proc_net_route(sec.get("proc-net-route")),
            Map::new(),
            Vec::new(),
        )
    } else {
        return;
    };

    let mut all4 = Vec::new();
    let mut all6 = Vec::new();
    for i in &ifaces {
        for a in &i.ipv4 {
            if let Some(addr) = a.get("address").and_then(Value::as_str) {
                if !addr.starts_with("127.") {
                    all4.push(s(addr));
                }
            }
        }
        for a in &i.ipv6 {
            if let Some(addr) = a.get("address").and_then(Value::as_str) {
                if addr != "::1" {
                    all6.push(s(addr));
                }
            }
        }
    }
    merge_default(&mut d4, &ifaces, true);
    merge_default(&mut d6, &ifaces, false);
    f.insert(
        "interfaces".into(),
        Value::Array(ifaces.iter().map(|i| s(&i.device)).collect()),
    );
    for i in &ifaces {
        // Each interface is a fact of its own (`ansible_eth0`), named as Ansible names it:
        // `-` and `:` become `_` (`br-lan` -> `br_lan`). Never shadow another fact.
        let key = i.device.replace(['-', ':'], "_");
        if !f.contains_key(&key) {
            f.insert(key, i.to_value());
        }
    }
    f.insert("default_ipv4".into(), Value::Object(d4));
    f.insert("default_ipv6".into(), Value::Object(d6));
    f.insert("all_ipv4_addresses".into(), Value::Array(all4));
    f.insert("all_ipv6_addresses".into(), Value::Array(all6));
}

/// Adds the default interface's own data (address details, MAC, MTU, type) to default_ipvN.
fn merge_default(d: &mut Map<String, Value>, ifaces: &[Iface], v4: bool) {
    let Some(name) = d
        .get("interface")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let Some(i) = ifaces.iter().find(|i| i.device == name) else {
        return;
    };
    let addrs = if v4 { &i.ipv4 } else { &i.ipv6 };
    let want = d.get("address").and_then(Value::as_str).map(str::to_string);
    let chosen = addrs
        .iter()
        .find(|a| want.is_some() && a.get("address").and_then(Value::as_str) == want.as_deref())
        .or_else(|| {
            addrs
                .iter()
                .find(|a| a.get("scope").and_then(Value::as_str) != Some("link"))
        })
        .or(addrs.first());
    if let Some(a) = chosen {
        for (k, v) in a {
            d.insert(k.clone(), v.clone());
        }
    }
    d.insert("alias".into(), s(&i.device));
    if let Some(mac) = &i.macaddress {
        d.insert("macaddress".into(), s(mac));
    }
    if let Some(mtu) = i.mtu {
        d.insert("mtu".into(), json!(mtu));
    }
    d.insert("type".into(), s(&i.kind));
}

/// `ip -4 route get 1.1.1.1`: `1.1.1.1 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0`.
fn ip_route(text: &str) -> Map<String, Value> {
    let mut m = Map::new();
    let Some(line) = text.lines().find(|l| !l.trim().is_empty()) else {
        return m;
    };
    let w: Vec<&str> = line.split_whitespace().collect();
    for (k, v) in w.iter().zip(w.iter().skip(1)) {
        match *k {
            "src" => {
                m.insert("address".into(), s(*v));
            }
            "dev" => {
                m.insert("interface".into(), s(*v));
            }
            "via" => {
                m.insert("gateway".into(), s(*v));
            }
            _ => {}
        }
    }
    if !m.contains_key("interface") {
        m.clear();
    }
    m
}

fn mask_of(prefix: u32) -> Ipv4Addr {
    let bits = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32))
    };
    Ipv4Addr::from(bits)
}

fn v4_entry(addr: &str, prefix: u32, broadcast: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    let mask = mask_of(prefix);
    let network = addr
        .parse::<Ipv4Addr>()
        .map(|a| Ipv4Addr::from(u32::from(a) & u32::from(mask)).to_string())
        .unwrap_or_default();
    m.insert("address".into(), s(addr));
    m.insert("broadcast".into(), s(broadcast.unwrap_or("")));
    m.insert("netmask".into(), s(mask.to_string()));
    m.insert("network".into(), s(network));
    m.insert("prefix".into(), s(prefix.to_string()));
    m
}

fn v6_entry(addr: &str, prefix: &str, scope: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("address".into(), s(addr));
    m.insert("prefix".into(), s(prefix));
    m.insert("scope".into(), s(scope));
    m
}

/// `ip addr show` (iproute2 and busybox print the same shape).
fn ip_addr(text: &str) -> Vec<Iface> {
    let mut out: Vec<Iface> = Vec::new();
    for line in text.lines() {
        if line.starts_with(|c: char| c.is_ascii_digit()) {
            // `2: eth0@if5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc ... state UP`
            let mut parts = line.splitn(3, ": ");
            let _index = parts.next();
            let name = parts.next().unwrap_or("");
            let rest = parts.next().unwrap_or("");
            let name = name.split('@').next().unwrap_or(name).to_string();
            let flags = rest
                .strip_prefix('<')
                .and_then(|r| r.split('>').next())
                .unwrap_or("");
            let w: Vec<&str> = rest.split_whitespace().collect();
            let mtu = w
                .iter()
                .position(|x| *x == "mtu")
                .and_then(|i| w.get(i + 1))
                .and_then(|m| m.parse().ok());
            out.push(Iface {
                device: name,
                active: flags.split(',').any(|f| f == "UP"),
                promisc: flags.split(',').any(|f| f == "PROMISC"),
                mtu,
                kind: "unknown".into(),
                ..Default::default()
            });
            continue;
        }
        let Some(cur) = out.last_mut() else {
            continue;
        };
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.first().copied() {
            Some(link) if link.starts_with("link/") => {
                cur.kind = match link {
                    "link/ether" => "ether",
                    "link/loopback" => "loopback",
                    "link/ppp" => "ppp",
                    _ => "unknown",
                }
                .into();
                if let Some(mac) = w.get(1).filter(|m| m.contains(':')) {
                    cur.macaddress = Some(mac.to_string());
                }
            }
            Some("inet") => {
                let Some((addr, prefix)) = w.get(1).and_then(|a| a.split_once('/')) else {
                    continue;
                };
                let brd = w
                    .iter()
                    .position(|x| *x == "brd")
                    .and_then(|i| w.get(i + 1))
                    .copied();
                cur.ipv4
                    .push(v4_entry(addr, prefix.parse().unwrap_or(32), brd));
            }
            Some("inet6") => {
                let Some((addr, prefix)) = w.get(1).and_then(|a| a.split_once('/')) else {
                    continue;
                };
                let scope = w
                    .iter()
                    .position(|x| *x == "scope")
                    .and_then(|i| w.get(i + 1))
                    .copied()
                    .unwrap_or("");
                cur.ipv6.push(v6_entry(addr, prefix, scope));
            }
            _ => {}
        }
    }
    out
}

/// macOS/BSD `route -n get default`: `gateway: 192.168.1.1`, `interface: en0`.
fn bsd_route(text: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim() {
                "gateway" => {
                    m.insert("gateway".into(), s(v.trim()));
                }
                "interface" => {
                    m.insert("interface".into(), s(v.trim()));
                }
                _ => {}
            }
        }
    }
    if !m.contains_key("interface") {
        m.clear();
    }
    m
}

/// macOS/BSD `ifconfig -a`.
fn ifconfig(text: &str) -> Vec<Iface> {
    let mut out: Vec<Iface> = Vec::new();
    for line in text.lines() {
        if !line.starts_with(['\t', ' ']) && line.contains(": flags=") {
            // `en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500`
            let (name, rest) = line.split_once(": ").unwrap_or((line, ""));
            let flags = rest
                .split_once('<')
                .and_then(|(_, r)| r.split('>').next())
                .unwrap_or("");
            let w: Vec<&str> = rest.split_whitespace().collect();
            let mtu = w
                .iter()
                .position(|x| *x == "mtu")
                .and_then(|i| w.get(i + 1))
                .and_then(|m| m.parse().ok());
            let loopback = flags.split(',').any(|f| f == "LOOPBACK");
            out.push(Iface {
                device: name.to_string(),
                active: flags.split(',').any(|f| f == "UP"),
                promisc: flags.split(',').any(|f| f == "PROMISC"),
                mtu,
                kind: if loopback { "loopback" } else { "unknown" }.into(),
                ..Default::default()
            });
            continue;
        }
        let Some(cur) = out.last_mut() else {
            continue;
        };
        let w: Vec<&str> = line.split_whitespace().collect();
        let after = |key: &str| {
            w.iter()
                .position(|x| *x == key)
                .and_then(|i| w.get(i + 1))
                .copied()
        };
        match w.first().copied() {
            Some("ether") => {
                cur.macaddress = w.get(1).map(|m| m.to_string());
                cur.kind = "ether".into();
            }
            Some("inet") => {
                let Some(addr) = w.get(1) else { continue };
                let prefix = after("netmask")
                    .and_then(|m| u32::from_str_radix(m.trim_start_matches("0x"), 16).ok())
                    .map(|m| m.count_ones())
                    .unwrap_or(32);
                cur.ipv4.push(v4_entry(addr, prefix, after("broadcast")));
            }
            Some("inet6") => {
                let Some(addr) = w.get(1) else { continue };
                let addr = addr.split('%').next().unwrap_or(addr);
                let prefix = after("prefixlen").unwrap_or("");
                let scope = if addr.starts_with("fe80") {
                    "link"
                } else if addr == "::1" {
                    "host"
                } else {
                    "global"
                };
                cur.ipv6.push(v6_entry(addr, prefix, scope));
            }
            Some("status:") => {
                cur.active = w.get(1) == Some(&"active");
            }
            _ => {}
        }
    }
    out
}

/// `/proc/net/route` (no `ip` on the host): the default route's interface and gateway.
fn proc_net_route(text: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for line in text.lines().skip(1) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 3 || w[1] != "00000000" {
            continue;
        }
        m.insert("interface".into(), s(w[0]));
        if let Ok(g) = u32::from_str_radix(w[2], 16) {
            if g != 0 {
                m.insert(
                    "gateway".into(),
                    s(Ipv4Addr::from(g.swap_bytes()).to_string()),
                );
            }
        }
        break;
    }
    m
}
