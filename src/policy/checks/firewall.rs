//! `firewall` check: is a host firewall filtering inbound traffic, with which default, and
//! which inbound ports does it let through?
//!
//! Arguments: `enabled` (bool, default true), `default_inbound` (`deny | drop | reject |
//! allow`; `deny` is met by drop and by reject), `allowed_inbound_ports` (list of `22`,
//! `"22/tcp"`, `"60000-61000/udp"` or a firewalld service name; an open inbound port that is
//! not listed fails and is named), `stealth` (macOS), `profiles` (Windows; default all three).
//!
//! Linux: the kernel's ruleset as `nft -j list ruleset` prints it is the truth (it sees the
//! `inet` tables that `iptables -S` does not). When nft cannot be read, firewalld, then ufw,
//! then `iptables -S` are asked, in that order; `observed.tool` names the one used. A host
//! whose tools cannot be read (not root) is an error, never a pass.
//!
//! How an nft ruleset is judged (`analyse`):
//! - every base chain on the `input` hook of type filter counts (families ip, ip6 and inet;
//!   inet counts for both). A packet must get through every such chain, so a port is open on
//!   a family when every chain of that family lets it through; a family with no chain is open.
//! - in a chain, rules are walked in order, following `jump`/`goto`: an `accept` opens the
//!   ports its `dport` matches name (all ports when it matches nothing), an unconditional
//!   `drop`/`reject` closes what is left, and the chain's policy decides the rest.
//! - rules that cannot open a listening port are skipped: connection tracking of
//!   established/related/invalid packets, the loopback interface, ICMP, rules matching a
//!   *source* port (replies, e.g. DHCP) and rules for multicast/broadcast destinations.
//! - an accept restricted to source addresses without a port is listed in
//!   `observed.trusted_sources` and not counted as opening ports; a port accepted only from
//!   some sources still counts as open. Interface matches other than loopback do not narrow
//!   a port rule; an accept without a port on any other condition the model cannot read (an
//!   interface, `ct status dnat`, a mark) is listed in `observed.unresolved_rules` instead.
//! - conditions the model cannot read (limits, `recent`, address types...) never close ports:
//!   the judgement errs towards "open".
//! - iptables-nft tables (ufw's) hold `xt` expressions nft cannot print (multiport, conntrack);
//!   for those tables the rules are read from `iptables -S` / `ip6tables -S` instead.
//!
//! macOS: the application firewall (`socketfilterfw`). Decision: its default inbound is
//! `drop` when "block all" is set (State = 2 or `--getblockall` enabled) or when it is on with
//! stealth mode (unsolicited traffic gets no answer and only applications the user allowed
//! accept connections); on without stealth it is `app-allowlist`, which does not meet `deny`.
//! It has no port rules: `allowed_inbound_ports` is not checked there (said in the finding).
//!
//! Windows: `Get-NetFirewallProfile`. Enums may arrive as text or numbers (GpoBoolean False=0,
//! True=1, NotConfigured=2; NetSecurity.Action NotConfigured=0, Allow=2, Block=4).
//! NotConfigured means the Windows default: enabled, inbound Block. Block is reported as
//! `drop`. Port rules are not checked there either.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::{Check, CheckCtx, Finding, Invalid, Probe, ProbeOut, Status};

fn is_macos(facts: &Map<String, Value>) -> bool {
    facts.get("system").and_then(Value::as_str) == Some("Darwin")
}

// ------------------------------------------------------------------ ports

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    fn parse(s: &str) -> Option<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
    const BOTH: [Proto; 2] = [Proto::Tcp, Proto::Udp];
}

/// A set of (protocol, port) pairs: one bit per port and protocol.
#[derive(Clone, PartialEq, Eq)]
pub struct PortSet {
    bits: [Vec<u64>; 2],
}

impl std::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PortSet{:?}", self.labels())
    }
}

const WORDS: usize = 65536 / 64;

impl PortSet {
    pub fn empty() -> PortSet {
        PortSet {
            bits: [vec![0; WORDS], vec![0; WORDS]],
        }
    }
    pub fn full() -> PortSet {
        PortSet {
            bits: [vec![u64::MAX; WORDS], vec![u64::MAX; WORDS]],
        }
    }
    pub fn add(&mut self, proto: Option<Proto>, lo: u16, hi: u16) {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let protos: &[Proto] = match proto {
            Some(Proto::Tcp) => &[Proto::Tcp],
            Some(Proto::Udp) => &[Proto::Udp],
            None => &Proto::BOTH,
        };
        for p in protos {
            let b = &mut self.bits[*p as usize];
            for port in lo as usize..=hi as usize {
                b[port / 64] |= 1 << (port % 64);
            }
        }
    }
    pub fn contains(&self, proto: Proto, port: u16) -> bool {
        let port = port as usize;
        self.bits[proto as usize][port / 64] & (1 << (port % 64)) != 0
    }
    fn zip(&self, other: &PortSet, f: impl Fn(u64, u64) -> u64) -> PortSet {
        let mut out = PortSet::empty();
        for p in 0..2 {
            for i in 0..WORDS {
                out.bits[p][i] = f(self.bits[p][i], other.bits[p][i]);
            }
        }
        out
    }
    pub fn union(&self, o: &PortSet) -> PortSet {
        self.zip(o, |a, b| a | b)
    }
    pub fn intersect(&self, o: &PortSet) -> PortSet {
        self.zip(o, |a, b| a & b)
    }
    pub fn minus(&self, o: &PortSet) -> PortSet {
        self.zip(o, |a, b| a & !b)
    }
    pub fn is_full(&self) -> bool {
        self.bits.iter().all(|b| b.iter().all(|w| *w == u64::MAX))
    }
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|b| b.iter().all(|w| *w == 0))
    }
    /// Contiguous runs, protocol by protocol.
    pub fn ranges(&self) -> Vec<(Proto, u16, u16)> {
        let mut out = vec![];
        for p in Proto::BOTH {
            let mut start: Option<u16> = None;
            for port in 0..=65535u32 {
                let on = self.contains(p, port as u16);
                match (on, start) {
                    (true, None) => start = Some(port as u16),
                    (false, Some(s)) => {
                        out.push((p, s, port as u16 - 1));
                        start = None;
                    }
                    _ => {}
                }
            }
            if let Some(s) = start {
                out.push((p, s, 65535));
            }
        }
        out
    }
    pub fn labels(&self) -> Vec<String> {
        self.ranges()
            .into_iter()
            .map(|(p, lo, hi)| port_label(Some(p), lo, hi))
            .collect()
    }
}

fn port_label(p: Option<Proto>, lo: u16, hi: u16) -> String {
    let ports = if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    };
    match p {
        Some(p) => format!("{ports}/{}", p.as_str()),
        None => ports,
    }
}

/// One entry of `allowed_inbound_ports`, or one port a tool reports open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    Ports(Option<Proto>, u16, u16),
    /// A service name (firewalld `services:`, ufw application profiles).
    Service(String),
}

impl PortSpec {
    pub fn parse(v: &Value) -> Option<PortSpec> {
        match v {
            Value::Number(n) => {
                let p = u16::try_from(n.as_u64()?).ok()?;
                Some(PortSpec::Ports(None, p, p))
            }
            Value::String(s) => PortSpec::parse_str(s),
            _ => None,
        }
    }
    pub fn parse_str(s: &str) -> Option<PortSpec> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        let (ports, proto) = match s.split_once('/') {
            Some((a, b)) => (a, Some(Proto::parse(b)?)),
            None => (s, None),
        };
        if !ports.starts_with(|c: char| c.is_ascii_digit()) {
            if proto.is_some() {
                return None;
            }
            return Some(PortSpec::Service(ports.to_string()));
        }
        let (lo, hi) = match ports.split_once(['-', ':']) {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let p = ports.parse().ok()?;
                (p, p)
            }
        };
        Some(PortSpec::Ports(proto, lo, hi))
    }
    pub fn label(&self) -> String {
        match self {
            PortSpec::Ports(p, lo, hi) => port_label(*p, *lo, *hi),
            PortSpec::Service(s) => s.clone(),
        }
    }
}

// ------------------------------------------------------------------ args

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    Deny,
    Drop,
    Reject,
    Allow,
}

impl Inbound {
    fn parse(s: &str) -> Option<Inbound> {
        match s.trim().to_ascii_lowercase().as_str() {
            "deny" | "block" => Some(Inbound::Deny),
            "drop" => Some(Inbound::Drop),
            "reject" => Some(Inbound::Reject),
            "allow" | "accept" => Some(Inbound::Allow),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Inbound::Deny => "deny",
            Inbound::Drop => "drop",
            Inbound::Reject => "reject",
            Inbound::Allow => "allow",
        }
    }
    /// Whether an observed default (`drop`, `reject`, `allow`, `app-allowlist`) meets it.
    pub fn met_by(self, observed: &str) -> bool {
        match self {
            Inbound::Deny => matches!(observed, "drop" | "reject"),
            Inbound::Drop => observed == "drop",
            Inbound::Reject => observed == "reject",
            Inbound::Allow => observed == "allow",
        }
    }
}

pub struct FirewallCheck {
    enabled: Option<bool>,
    default_inbound: Option<Inbound>,
    allowed: Option<Vec<PortSpec>>,
    stealth: Option<bool>,
    profiles: Vec<String>,
}

const ARGS: &[&str] = &[
    "enabled",
    "default_inbound",
    "allowed_inbound_ports",
    "stealth",
    "profiles",
];

fn bool_arg(m: &Map<String, Value>, key: &str) -> Result<Option<bool>, Invalid> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => crate::modules::args::parse_bool(v)
            .map(Some)
            .ok_or_else(|| {
                Invalid(
                    format!("`{key}` of the `firewall` check must be true or false, not {v}"),
                    None,
                )
            }),
    }
}

pub fn firewall(v: &Value) -> Result<Box<dyn Check>, Invalid> {
    Ok(Box::new(FirewallCheck::from_args(v)?))
}

impl FirewallCheck {
    pub fn from_args(v: &Value) -> Result<FirewallCheck, Invalid> {
        let empty = Map::new();
        let m = match v {
            Value::Object(m) => m,
            Value::Null => &empty,
            other => {
                return Err(Invalid(
                    format!("`firewall` takes a mapping of options, not {other}"),
                    None,
                ))
            }
        };
        for k in m.keys() {
            if !ARGS.contains(&k.as_str()) {
                return Err(Invalid(
                    format!("unknown option `{k}` for the `firewall` check"),
                    Some(format!("firewall takes: {}", ARGS.join(", "))),
                ));
            }
        }
        let default_inbound = match m.get("default_inbound") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(Inbound::parse(s).ok_or_else(|| {
                Invalid(
                    format!("`default_inbound` must be deny, drop, reject or allow, not `{s}`"),
                    Some("deny is met by drop and by reject".into()),
                )
            })?),
            Some(other) => {
                return Err(Invalid(
                    format!("`default_inbound` must be deny, drop, reject or allow, not {other}"),
                    None,
                ))
            }
        };
        let allowed = match m.get("allowed_inbound_ports") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|x| {
                        PortSpec::parse(x).ok_or_else(|| {
                            Invalid(
                                format!("`allowed_inbound_ports`: `{x}` is not a port"),
                                Some(
                                    "write 22, \"22/tcp\", \"60000-61000/udp\" or a service name"
                                        .into(),
                                ),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(other) => {
                return Err(Invalid(
                    format!("`allowed_inbound_ports` must be a list, not {other}"),
                    None,
                ))
            }
        };
        let profiles = match m.get("profiles") {
            None | Some(Value::Null) => vec![],
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| match x.as_str() {
                    Some(s) => Ok(s.to_string()),
                    None => Err(Invalid(
                        format!("`profiles` names Windows profiles, not {x}"),
                        None,
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(Invalid(
                    format!("`profiles` must be a list, not {other}"),
                    None,
                ))
            }
        };
        for p in &profiles {
            if !["domain", "private", "public"].contains(&p.to_ascii_lowercase().as_str()) {
                return Err(Invalid(
                    format!("unknown Windows firewall profile `{p}`"),
                    Some("profiles are Domain, Private and Public".into()),
                ));
            }
        }
        Ok(FirewallCheck {
            enabled: Some(bool_arg(m, "enabled")?.unwrap_or(true)),
            default_inbound,
            allowed,
            stealth: bool_arg(m, "stealth")?,
            profiles,
        })
    }

    fn expected(&self) -> Value {
        let mut e = Map::new();
        if let Some(b) = self.enabled {
            e.insert("enabled".into(), json!(b));
        }
        if let Some(d) = self.default_inbound {
            e.insert("default_inbound".into(), json!(d.as_str()));
        }
        if let Some(a) = &self.allowed {
            e.insert(
                "allowed_inbound_ports".into(),
                json!(a.iter().map(PortSpec::label).collect::<Vec<_>>()),
            );
        }
        if let Some(s) = self.stealth {
            e.insert("stealth".into(), json!(s));
        }
        if !self.profiles.is_empty() {
            e.insert("profiles".into(), json!(self.profiles));
        }
        Value::Object(e)
    }
}

// ------------------------------------------------------------------ probes

const SBIN: &str = "PATH=\"$PATH:/usr/sbin:/sbin:/usr/local/sbin\"; export PATH; ";

fn need(cmd: &str) -> String {
    format!("{SBIN}command -v {cmd} >/dev/null 2>&1 || {{ echo '{cmd}: command not found' >&2; exit 127; }}; ")
}

/// PowerShell: the profiles with every enum turned into its name.
pub const WINDOWS_PROFILES_PS: &str = "Get-NetFirewallProfile -PolicyStore ActiveStore | ForEach-Object { [pscustomobject]@{ Name = \"$($_.Name)\"; Enabled = \"$($_.Enabled)\"; DefaultInboundAction = \"$($_.DefaultInboundAction)\"; DefaultOutboundAction = \"$($_.DefaultOutboundAction)\" } } | ConvertTo-Json -Compress";

impl Check for FirewallCheck {
    fn probes(&self, facts: &Map<String, Value>) -> Vec<Probe> {
        if super::is_windows(facts) {
            return vec![Probe::new("profiles", WINDOWS_PROFILES_PS)];
        }
        if is_macos(facts) {
            return vec![
                Probe::new(
                    "alf",
                    "F=/usr/libexec/ApplicationFirewall/socketfilterfw; [ -x \"$F\" ] || { echo \"$F: not found\" >&2; exit 127; }; \"$F\" --getglobalstate; \"$F\" --getblockall; \"$F\" --getstealthmode",
                ),
                Probe::new("pf", format!("{SBIN}pfctl -s info 2>&1 | head -n 1")),
            ];
        }
        vec![
            Probe::new("nft", format!("{}nft -j list ruleset", need("nft"))),
            Probe::new(
                "firewalld",
                format!(
                    "{}s=$(firewall-cmd --state 2>&1); rc=$?; echo \"state: $s\"; [ \"$rc\" -eq 0 ] || exit 3; \
                     d=$(firewall-cmd --get-default-zone); echo \"default: $d\"; \
                     zs=$(firewall-cmd --get-active-zones | grep -v '^[[:space:]]'); [ -n \"$zs\" ] || zs=$d; \
                     for z in $zs; do echo \"@@zone $z\"; firewall-cmd --info-zone=\"$z\"; done",
                    need("firewall-cmd")
                ),
            ),
            Probe::new("ufw", format!("{}ufw status verbose", need("ufw"))),
            Probe::new("iptables", format!("{}iptables -S", need("iptables"))),
            Probe::new("ip6tables", format!("{}ip6tables -S", need("ip6tables"))),
        ]
    }

    fn evaluate(&self, ctx: &CheckCtx<'_>) -> Finding {
        if super::is_windows(ctx.facts) {
            return match ctx.probe("profiles") {
                Ok(o) => self.judge_windows(o),
                Err(f) => f,
            };
        }
        if is_macos(ctx.facts) {
            let alf = match ctx.probe("alf") {
                Ok(o) => o,
                Err(f) => return f,
            };
            return self.judge_macos(alf, ctx.out.get("pf"));
        }
        match linux_state(ctx.out) {
            Ok(st) => self.judge(&st),
            Err(reason) => Finding::error(reason),
        }
    }
}

// ------------------------------------------------------------------ common verdict

/// What a firewall tool says, in one shape for every tool.
#[derive(Debug, Clone, PartialEq)]
pub struct FwState {
    pub tool: String,
    pub enabled: bool,
    /// `drop`, `reject`, `allow` or (macOS) `app-allowlist`.
    pub default_inbound: String,
    /// Open inbound ports; None when the tool has no port rules (macOS, Windows here).
    pub open: Option<Vec<PortSpec>>,
    /// Address families on which every port is open (`ipv4`, `ipv6`).
    pub all_open: Vec<String>,
    pub stealth: Option<bool>,
    /// Further evidence for `observed`.
    pub extra: Map<String, Value>,
}

impl FirewallCheck {
    fn covered(&self, allowed: &PortSet, names: &[String], open: &PortSpec) -> bool {
        match open {
            PortSpec::Ports(p, lo, hi) => {
                let protos: Vec<Proto> = match p {
                    Some(p) => vec![*p],
                    None => Proto::BOTH.to_vec(),
                };
                protos
                    .iter()
                    .all(|p| (*lo..=*hi).all(|port| allowed.contains(*p, port)))
            }
            PortSpec::Service(s) => names.iter().any(|n| n.eq_ignore_ascii_case(s)),
        }
    }

    /// The verdict on a tool's state.
    pub fn judge(&self, st: &FwState) -> Finding {
        let mut observed = Map::new();
        observed.insert("tool".into(), json!(st.tool));
        observed.insert("enabled".into(), json!(st.enabled));
        observed.insert("default_inbound".into(), json!(st.default_inbound));
        if let Some(open) = &st.open {
            let mut labels: Vec<String> =
                st.all_open.iter().map(|f| format!("all ({f})")).collect();
            labels.extend(open.iter().map(PortSpec::label));
            observed.insert("open_inbound_ports".into(), json!(labels));
        }
        if let Some(s) = st.stealth {
            observed.insert("stealth".into(), json!(s));
        }
        for (k, v) in &st.extra {
            observed.insert(k.clone(), v.clone());
        }
        let tool = st.tool.as_str();
        let mut fails: Vec<String> = vec![];
        let mut notes: Vec<String> = vec![];
        if let Some(want) = self.enabled {
            if want && !st.enabled {
                fails.push(format!("{tool} is not filtering inbound traffic"));
            } else if !want && st.enabled {
                fails.push(format!("{tool} is filtering inbound traffic"));
            }
        }
        if let Some(want) = self.default_inbound {
            if !want.met_by(&st.default_inbound) {
                fails.push(format!(
                    "default inbound is {}, expected {}",
                    st.default_inbound,
                    want.as_str()
                ));
            }
        }
        if let Some(allowed) = &self.allowed {
            match &st.open {
                None => notes.push(format!(
                    "inbound ports are not checked with {tool} (no port rules)"
                )),
                Some(open) => {
                    let mut set = PortSet::empty();
                    let mut names = vec![];
                    for a in allowed {
                        match a {
                            PortSpec::Ports(p, lo, hi) => set.add(*p, *lo, *hi),
                            PortSpec::Service(s) => names.push(s.clone()),
                        }
                    }
                    if !st.enabled {
                        if self.enabled != Some(true) {
                            fails.push("every inbound port is open".into());
                        }
                    } else if !st.all_open.is_empty() {
                        fails.push(format!(
                            "every inbound port is open on {}",
                            st.all_open.join(" and ")
                        ));
                    }
                    let extra: Vec<String> = open
                        .iter()
                        .filter(|o| !self.covered(&set, &names, o))
                        .map(PortSpec::label)
                        .collect();
                    if !extra.is_empty() {
                        fails.push(format!("inbound {} open but not allowed", extra.join(", ")));
                    }
                }
            }
        }
        if let Some(want) = self.stealth {
            match st.stealth {
                Some(s) if s != want => {
                    fails.push(format!("stealth mode is {}", if s { "on" } else { "off" }))
                }
                Some(_) => {}
                None => notes.push(format!("stealth mode does not apply to {tool}")),
            }
        }
        if !notes.is_empty() {
            observed.insert("notes".into(), json!(notes));
        }
        let mut f = if fails.is_empty() {
            let ports = match &st.open {
                Some(o) if st.enabled => {
                    let l: Vec<String> = o.iter().map(PortSpec::label).collect();
                    if l.is_empty() {
                        ", no inbound port open".to_string()
                    } else {
                        format!(", open {}", l.join(", "))
                    }
                }
                _ => String::new(),
            };
            Finding::new(
                Status::Pass,
                Value::Object(observed),
                self.expected(),
                if st.enabled {
                    format!(
                        "{tool} filters inbound traffic (default {}{ports})",
                        st.default_inbound
                    )
                } else {
                    format!("{tool} is not filtering inbound traffic")
                },
            )
        } else {
            Finding::new(
                Status::Fail,
                Value::Object(observed),
                self.expected(),
                fails.join("; "),
            )
        };
        f.data = json!({"tool": st.tool});
        f
    }
}

// ------------------------------------------------------------------ rule model

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accept,
    Drop,
    Reject,
    Jump(String),
    Goto(String),
    Return,
    Other,
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// Destination ports matched; None = no port match.
    pub ports: Option<PortSet>,
    /// Why the rule cannot open a listening port (established traffic, loopback...).
    pub ignored: Option<&'static str>,
    /// A source-address match.
    pub trusted: Option<String>,
    /// A match this model cannot read (iptables-nft's xt expressions).
    pub opaque: Option<String>,
    /// Any condition not modelled by `ports`: the rule may not apply to every packet.
    pub cond: bool,
    pub verdict: Verdict,
    /// The rule as the tool printed it, for notes.
    pub text: String,
}

impl Rule {
    fn new() -> Rule {
        Rule {
            ports: None,
            ignored: None,
            trusted: None,
            opaque: None,
            cond: false,
            verdict: Verdict::Other,
            text: String::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Chain {
    pub family: String,
    pub table: String,
    pub name: String,
    /// A base chain of type filter on the input hook.
    pub base_input: bool,
    pub policy: Option<Verdict>,
    pub rules: Vec<Rule>,
}

/// What one input chain lets through.
#[derive(Debug, Clone)]
pub struct ChainVerdict {
    pub family: String,
    pub table: String,
    pub name: String,
    pub open: PortSet,
    pub default: &'static str,
}

/// The judgement of a whole ruleset.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub chains: Vec<ChainVerdict>,
    /// Per family (`ipv4`, `ipv6`): open ports and default.
    pub families: Vec<(String, PortSet, &'static str)>,
    pub trusted: Vec<String>,
    pub unresolved: Vec<String>,
}

struct Walker<'a> {
    chains: &'a [Chain],
    trusted: Vec<String>,
    unresolved: Vec<String>,
}

struct Walked {
    open: PortSet,
    decided: PortSet,
    end: Option<&'static str>,
}

impl Walker<'_> {
    fn find(&self, family: &str, table: &str, name: &str) -> Option<usize> {
        self.chains
            .iter()
            .position(|c| c.family == family && c.table == table && c.name == name)
    }

    fn walk(&mut self, ci: usize, may_decide: bool, depth: u32) -> Walked {
        let chains = self.chains;
        let chain = &chains[ci];
        let mut open = PortSet::empty();
        let mut decided = PortSet::empty();
        let mut end = None;
        let mut maybe_returned = false;
        if depth > 16 {
            return Walked { open, decided, end };
        }
        for rule in &chain.rules {
            if rule.ignored.is_some() {
                continue;
            }
            let mask = rule.ports.clone().unwrap_or_else(PortSet::full);
            let decides = !rule.cond && may_decide && !maybe_returned;
            match &rule.verdict {
                Verdict::Accept => {
                    if rule.ports.is_none() {
                        if let Some(src) = &rule.trusted {
                            self.trusted.push(src.clone());
                            continue;
                        }
                        if let Some(what) = &rule.opaque {
                            self.unresolved.push(format!(
                                "{} {} {}: accepts by `{what}`, which nft cannot show",
                                chain.family, chain.table, chain.name
                            ));
                            continue;
                        }
                        if rule.cond {
                            // An accept on conditions the model does not read (an interface,
                            // `ct status dnat`, a mark...): listed, not counted as open ports.
                            self.unresolved.push(format!(
                                "{} {} {}: accepts on a condition: {}",
                                chain.family, chain.table, chain.name, rule.text
                            ));
                            continue;
                        }
                    }
                    open = open.union(&mask.minus(&decided));
                    if !rule.cond {
                        decided = decided.union(&mask);
                    }
                    if !rule.cond && rule.ports.is_none() {
                        break;
                    }
                }
                Verdict::Drop | Verdict::Reject => {
                    if decides {
                        decided = decided.union(&mask);
                        if rule.ports.is_none() {
                            end = Some(if rule.verdict == Verdict::Drop {
                                "drop"
                            } else {
                                "reject"
                            });
                            break;
                        }
                    }
                }
                Verdict::Jump(t) | Verdict::Goto(t) => {
                    let Some(ti) = self.find(&chain.family, &chain.table, t) else {
                        continue;
                    };
                    let sub = self.walk(ti, may_decide && !rule.cond, depth + 1);
                    open = open.union(&sub.open.intersect(&mask).minus(&decided));
                    if !rule.cond {
                        decided = decided.union(&sub.decided.intersect(&mask));
                    }
                    if !rule.cond && rule.ports.is_none() {
                        if sub.end.is_some() {
                            end = sub.end;
                            break;
                        }
                        if matches!(rule.verdict, Verdict::Goto(_)) {
                            break;
                        }
                    }
                }
                Verdict::Return => {
                    if !rule.cond && rule.ports.is_none() {
                        break;
                    }
                    maybe_returned = true;
                }
                Verdict::Other => {}
            }
        }
        Walked { open, decided, end }
    }
}

/// Judges every input base chain of a ruleset.
pub fn analyse(chains: &[Chain]) -> Analysis {
    let mut w = Walker {
        chains,
        trusted: vec![],
        unresolved: vec![],
    };
    let mut verdicts = vec![];
    for (i, c) in chains.iter().enumerate() {
        if !c.base_input {
            continue;
        }
        let walked = w.walk(i, true, 0);
        let policy_accepts = !matches!(c.policy, Some(Verdict::Drop) | Some(Verdict::Reject));
        let mut open = walked.open;
        let default = if let Some(e) = walked.end {
            e
        } else if policy_accepts {
            open = open.union(&PortSet::full().minus(&walked.decided));
            "allow"
        } else if c.policy == Some(Verdict::Reject) {
            "reject"
        } else {
            "drop"
        };
        verdicts.push(ChainVerdict {
            family: c.family.clone(),
            table: c.table.clone(),
            name: c.name.clone(),
            open,
            default,
        });
    }
    let mut families = vec![];
    for (fam, own) in [("ipv4", "ip"), ("ipv6", "ip6")] {
        let mine: Vec<&ChainVerdict> = verdicts
            .iter()
            .filter(|v| v.family == own || v.family == "inet")
            .collect();
        let mut open = PortSet::full();
        let mut default = "allow";
        for v in &mine {
            open = open.intersect(&v.open);
            if default == "allow" && v.default != "allow" {
                default = v.default;
            }
        }
        families.push((fam.to_string(), open, default));
    }
    w.trusted.sort();
    w.trusted.dedup();
    w.unresolved.sort();
    w.unresolved.dedup();
    Analysis {
        chains: verdicts,
        families,
        trusted: w.trusted,
        unresolved: w.unresolved,
    }
}

impl Analysis {
    /// The common state, with the families in `fams` (both unless ip6tables was not read).
    pub fn state(&self, tool: &str, fams: &[&str]) -> FwState {
        let fams: Vec<&(String, PortSet, &'static str)> = self
            .families
            .iter()
            .filter(|f| fams.contains(&f.0.as_str()))
            .collect();
        let enabled = fams.iter().any(|f| !f.1.is_full());
        let all_open: Vec<String> = fams
            .iter()
            .filter(|f| f.1.is_full())
            .map(|f| f.0.clone())
            .collect();
        let default = if fams.iter().any(|f| f.2 == "allow") || fams.is_empty() {
            "allow"
        } else {
            fams[0].2
        };
        let mut open = PortSet::empty();
        for f in &fams {
            if !f.1.is_full() {
                open = open.union(&f.1);
            }
        }
        let open: Vec<PortSpec> = open
            .ranges()
            .into_iter()
            .map(|(p, lo, hi)| PortSpec::Ports(Some(p), lo, hi))
            .collect();
        let mut extra = Map::new();
        let mut per = Map::new();
        for f in &fams {
            per.insert(f.0.clone(), json!(f.2));
        }
        extra.insert("default_inbound_by_family".into(), Value::Object(per));
        extra.insert(
            "input_chains".into(),
            json!(self
                .chains
                .iter()
                .map(|c| format!("{} {} {} ({})", c.family, c.table, c.name, c.default))
                .collect::<Vec<_>>()),
        );
        if !self.trusted.is_empty() {
            extra.insert("trusted_sources".into(), json!(self.trusted));
        }
        if !self.unresolved.is_empty() {
            extra.insert("unresolved_rules".into(), json!(self.unresolved));
        }
        FwState {
            tool: tool.to_string(),
            enabled,
            default_inbound: default.to_string(),
            open: Some(open),
            all_open,
            stealth: None,
            extra,
        }
    }
}

// ------------------------------------------------------------------ nft -j

fn is_multicast(addr: &str) -> bool {
    let a = addr.trim();
    if a == "255.255.255.255" {
        return true;
    }
    if let Some(first) = a.split('.').next().and_then(|x| x.parse::<u8>().ok()) {
        if a.contains('.') && (224..=239).contains(&first) {
            return true;
        }
    }
    a.to_ascii_lowercase().starts_with("ff")
}

fn port_value(v: &Value, sets: &HashMap<String, Vec<(u16, u16)>>) -> Option<Vec<(u16, u16)>> {
    let one = |x: &Value| -> Option<u16> {
        match x {
            Value::Number(n) => u16::try_from(n.as_u64()?).ok(),
            Value::String(s) => s.parse().ok().or_else(|| service_port(s)),
            _ => None,
        }
    };
    match v {
        Value::Number(_) => one(v).map(|p| vec![(p, p)]),
        Value::String(s) if s.starts_with('@') => sets.get(&s[1..]).cloned(),
        Value::String(_) => one(v).map(|p| vec![(p, p)]),
        Value::Object(o) => {
            if let Some(r) = o.get("range").and_then(Value::as_array) {
                return Some(vec![(one(r.first()?)?, one(r.get(1)?)?)]);
            }
            if let Some(s) = o.get("set") {
                let items = match s {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                let mut out = vec![];
                for it in &items {
                    out.extend(port_value(it, sets)?);
                }
                return Some(out);
            }
            if let Some(e) = o.get("elem") {
                return port_value(e.get("val").unwrap_or(e), sets);
            }
            if let Some(p) = o.get("prefix") {
                return port_value(p, sets);
            }
            None
        }
        Value::Array(a) => {
            let mut out = vec![];
            for it in a {
                out.extend(port_value(it, sets)?);
            }
            Some(out)
        }
        _ => None,
    }
}

/// Well-known ports of the service names nft and firewalld print.
fn service_port(name: &str) -> Option<u16> {
    Some(match name {
        "ssh" => 22,
        "http" => 80,
        "https" => 443,
        "domain" | "dns" => 53,
        "smtp" => 25,
        "ntp" => 123,
        _ => return None,
    })
}

fn string_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Value::Object(o) => {
            if let Some(set) = o.get("set") {
                string_list(set)
            } else if let Some(addr) = v.pointer("/prefix/addr").and_then(Value::as_str) {
                vec![addr.to_string()]
            } else {
                vec![]
            }
        }
        _ => vec![],
    }
}

fn nft_rule(exprs: &[Value], sets: &HashMap<String, Vec<(u16, u16)>>) -> Rule {
    let mut rule = Rule::new();
    // First the transport protocol a `th dport` or xt match refers to.
    let mut l4: Option<Proto> = None;
    let mut link_local = false;
    for e in exprs {
        if let Some(m) = e.get("match") {
            if m.pointer("/left/meta/key").and_then(Value::as_str) == Some("l4proto") {
                if let Some(p) = m.get("right").and_then(Value::as_str) {
                    l4 = Proto::parse(p);
                }
            }
        }
    }
    for e in exprs {
        let Some((k, v)) = e.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        match k.as_str() {
            "match" => {
                let op = v.get("op").and_then(Value::as_str).unwrap_or("==");
                let left = v.get("left").cloned().unwrap_or(Value::Null);
                let right = v.get("right").cloned().unwrap_or(Value::Null);
                if let Some(pl) = left.get("payload") {
                    let proto = pl.get("protocol").and_then(Value::as_str).unwrap_or("");
                    let field = pl.get("field").and_then(Value::as_str).unwrap_or("");
                    match (proto, field) {
                        ("tcp" | "udp" | "th", "dport") => {
                            let p = match proto {
                                "th" => l4,
                                other => Proto::parse(other),
                            };
                            match (op, port_value(&right, sets)) {
                                ("==" | "in", Some(ranges)) => {
                                    let mut set = PortSet::empty();
                                    for (lo, hi) in ranges {
                                        set.add(p, lo, hi);
                                    }
                                    rule.ports = Some(match rule.ports.take() {
                                        Some(prev) => prev.intersect(&set),
                                        None => set,
                                    });
                                }
                                _ => {
                                    // Negated or unreadable: every port of the protocol.
                                    let mut set = PortSet::empty();
                                    set.add(p, 0, 65535);
                                    rule.ports = Some(set);
                                    rule.cond = true;
                                }
                            }
                        }
                        (_, "sport") => rule.ignored = Some("source port (replies)"),
                        ("icmp" | "icmpv6", _) => rule.ignored = Some("icmp"),
                        ("ip" | "ip6", "daddr") => {
                            let addrs = string_list(&right);
                            if addrs.iter().any(|a| is_multicast(a)) {
                                rule.ignored = Some("multicast destination");
                            } else if addrs
                                .iter()
                                .any(|a| a.to_ascii_lowercase().starts_with("fe80"))
                            {
                                link_local = true;
                                rule.cond = true;
                            } else {
                                rule.cond = true;
                            }
                        }
                        ("ip" | "ip6", "saddr") => {
                            let s = string_list(&right);
                            rule.trusted = Some(if s.is_empty() {
                                right.to_string()
                            } else {
                                s.join(",")
                            });
                            rule.cond = true;
                        }
                        _ => rule.cond = true,
                    }
                } else if let Some(meta) = left.get("meta") {
                    let key = meta.get("key").and_then(Value::as_str).unwrap_or("");
                    let vals = string_list(&right);
                    match key {
                        "iif" | "iifname" if vals.iter().all(|x| x == "lo") && op == "==" => {
                            rule.ignored = Some("loopback")
                        }
                        "l4proto" | "protocol" | "nfproto"
                            if vals
                                .iter()
                                .any(|x| matches!(x.as_str(), "icmp" | "ipv6-icmp" | "icmpv6")) =>
                        {
                            rule.ignored = Some("icmp")
                        }
                        "l4proto" if l4.is_some() => {}
                        _ => rule.cond = true,
                    }
                } else if let Some(ct) = left.get("ct") {
                    let key = ct.get("key").and_then(Value::as_str).unwrap_or("");
                    let vals = string_list(&right);
                    if key == "state"
                        && op != "!="
                        && !vals.is_empty()
                        && vals.iter().all(|s| {
                            matches!(
                                s.as_str(),
                                "established" | "related" | "invalid" | "untracked"
                            )
                        })
                    {
                        rule.ignored = Some("connection tracking");
                    } else {
                        rule.cond = true;
                    }
                } else {
                    rule.cond = true;
                }
            }
            "xt" => {
                let name = v.get("name").and_then(Value::as_str).unwrap_or("?");
                let ty = v.get("type").and_then(Value::as_str).unwrap_or("match");
                if ty == "target" {
                    match name {
                        "REJECT" => rule.verdict = Verdict::Reject,
                        "DROP" => rule.verdict = Verdict::Drop,
                        "ACCEPT" => rule.verdict = Verdict::Accept,
                        _ => {}
                    }
                } else {
                    match name {
                        "icmp" | "icmp6" => rule.ignored = Some("icmp"),
                        "limit" | "comment" | "recent" | "hashlimit" => rule.cond = true,
                        other => {
                            rule.opaque = Some(format!("xt {other}"));
                            rule.cond = true;
                        }
                    }
                }
            }
            "accept" => rule.verdict = Verdict::Accept,
            "drop" => rule.verdict = Verdict::Drop,
            "reject" => rule.verdict = Verdict::Reject,
            "return" => rule.verdict = Verdict::Return,
            "jump" => {
                if let Some(t) = v.get("target").and_then(Value::as_str) {
                    rule.verdict = Verdict::Jump(t.to_string());
                }
            }
            "goto" => {
                if let Some(t) = v.get("target").and_then(Value::as_str) {
                    rule.verdict = Verdict::Goto(t.to_string());
                }
            }
            "counter" | "log" | "comment" => {}
            "limit" | "quota" => rule.cond = true,
            _ => {}
        }
    }
    if link_local {
        // DHCPv6 client replies to the link-local address (firewalld's `dhcpv6-client`).
        let mut dhcp6 = PortSet::empty();
        dhcp6.add(Some(Proto::Udp), 546, 546);
        if rule.ports.as_ref() == Some(&dhcp6) {
            rule.ignored = Some("DHCPv6 client replies");
        }
    }
    if rule.ports.is_none() && rule.opaque.is_none() {
        if let Some(p) = l4 {
            let mut set = PortSet::empty();
            set.add(Some(p), 0, 65535);
            rule.ports = Some(set);
        }
    }
    rule
}

/// A table: (family, table name).
pub type Table = (String, String);

/// Parses `nft -j list ruleset` into chains. Also returns the `(family, table)` pairs whose
/// rules hold xt expressions (iptables-nft tables).
pub fn parse_nft(text: &str) -> Result<(Vec<Chain>, Vec<Table>), String> {
    let v: Value = serde_json::from_str(text.trim())
        .map_err(|e| format!("nft printed something that is not JSON: {e}"))?;
    let items = v
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or("nft's JSON has no `nftables` list")?;
    let mut sets: HashMap<String, Vec<(u16, u16)>> = HashMap::new();
    for it in items {
        if let Some(s) = it.get("set") {
            let key = format!(
                "{}/{}/{}",
                s.get("family").and_then(Value::as_str).unwrap_or(""),
                s.get("table").and_then(Value::as_str).unwrap_or(""),
                s.get("name").and_then(Value::as_str).unwrap_or("")
            );
            if let Some(ranges) = s.get("elem").and_then(|e| port_value(e, &HashMap::new())) {
                sets.insert(key, ranges);
            }
        }
    }
    let mut chains: Vec<Chain> = vec![];
    let mut xt: Vec<Table> = vec![];
    let s = |o: &Value, k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    for it in items {
        if let Some(c) = it.get("chain") {
            let policy = c.get("policy").and_then(Value::as_str).map(|p| match p {
                "drop" => Verdict::Drop,
                _ => Verdict::Accept,
            });
            chains.push(Chain {
                family: s(c, "family"),
                table: s(c, "table"),
                name: s(c, "name"),
                base_input: c.get("hook").and_then(Value::as_str) == Some("input")
                    && c.get("type").and_then(Value::as_str).unwrap_or("filter") == "filter",
                policy,
                rules: vec![],
            });
        }
    }
    for it in items {
        if let Some(r) = it.get("rule") {
            let (fam, table, chain) = (s(r, "family"), s(r, "table"), s(r, "chain"));
            let exprs = r
                .get("expr")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if exprs.iter().any(|e| e.get("xt").is_some())
                && !xt.contains(&(fam.clone(), table.clone()))
            {
                xt.push((fam.clone(), table.clone()));
            }
            // Named sets are looked up per table.
            let local: HashMap<String, Vec<(u16, u16)>> = sets
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix(&format!("{fam}/{table}/"))
                        .map(|n| (n.to_string(), v.clone()))
                })
                .collect();
            let mut rule = nft_rule(&exprs, &local);
            let shown: Vec<&Value> = exprs
                .iter()
                .filter(|e| e.get("counter").is_none())
                .collect();
            rule.text = serde_json::to_string(&shown).unwrap_or_default();
            if let Some(c) = chains
                .iter_mut()
                .find(|c| c.family == fam && c.table == table && c.name == chain)
            {
                c.rules.push(rule);
            }
        }
    }
    Ok((chains, xt))
}

// ------------------------------------------------------------------ iptables -S

/// Parses `iptables -S` (or `ip6tables -S`, family `ip6`) of the filter table.
pub fn parse_iptables(text: &str, family: &str) -> Vec<Chain> {
    let mut chains: Vec<Chain> = vec![];
    fn get<'a>(chains: &'a mut Vec<Chain>, family: &str, name: &str) -> &'a mut Chain {
        if let Some(i) = chains.iter().position(|c| c.name == name) {
            return &mut chains[i];
        }
        chains.push(Chain {
            family: family.to_string(),
            table: "filter".into(),
            name: name.to_string(),
            base_input: name == "INPUT",
            policy: None,
            rules: vec![],
        });
        chains.last_mut().unwrap()
    }
    for line in text.lines() {
        let words = shlex::split(line.trim()).unwrap_or_default();
        match words.first().map(String::as_str) {
            Some("-P") if words.len() >= 3 => {
                let c = get(&mut chains, family, &words[1]);
                c.policy = Some(match words[2].as_str() {
                    "DROP" => Verdict::Drop,
                    _ => Verdict::Accept,
                });
            }
            Some("-N") if words.len() >= 2 => {
                get(&mut chains, family, &words[1]);
            }
            Some("-A") if words.len() >= 2 => {
                let mut rule = iptables_rule(&words[2..]);
                rule.text = line.trim().to_string();
                get(&mut chains, family, &words[1]).rules.push(rule);
            }
            _ => {}
        }
    }
    chains
}

fn iptables_rule(w: &[String]) -> Rule {
    let mut rule = Rule::new();
    let mut proto: Option<Proto> = None;
    let mut i = 0;
    // The protocol first, for --dport.
    while i < w.len() {
        if (w[i] == "-p" || w[i] == "--protocol") && (i == 0 || w[i - 1] != "!") {
            if let Some(p) = w.get(i + 1) {
                proto = Proto::parse(p);
                if matches!(p.as_str(), "icmp" | "ipv6-icmp" | "icmpv6") {
                    rule.ignored = Some("icmp");
                }
            }
        }
        i += 1;
    }
    let mut i = 0;
    let mut negate = false;
    let mut after_target = false;
    while i < w.len() {
        let a = w[i].as_str();
        let val = w.get(i + 1).map(String::as_str).unwrap_or("");
        if a == "!" {
            negate = true;
            i += 1;
            continue;
        }
        let mut step = 2;
        match a {
            "-p" | "--protocol" => {
                if negate {
                    rule.cond = true;
                }
            }
            "--dport" | "--dports" | "--destination-port" | "--destination-ports" => {
                let mut set = PortSet::empty();
                let mut ok = true;
                for part in val.split(',') {
                    match PortSpec::parse_str(part) {
                        Some(PortSpec::Ports(_, lo, hi)) => set.add(proto, lo, hi),
                        _ => ok = false,
                    }
                }
                if negate || !ok {
                    let mut all = PortSet::empty();
                    all.add(proto, 0, 65535);
                    rule.ports = Some(all);
                    rule.cond = true;
                } else {
                    rule.ports = Some(set);
                }
            }
            "--sport" | "--sports" | "--source-port" | "--source-ports" => {
                if !negate {
                    rule.ignored = Some("source port (replies)");
                }
            }
            "-i" | "--in-interface" => {
                if val == "lo" && !negate {
                    rule.ignored = Some("loopback");
                } else {
                    rule.cond = true;
                }
            }
            "-s" | "--source" => {
                if !matches!(val, "0.0.0.0/0" | "::/0") {
                    rule.trusted = Some(val.to_string());
                    rule.cond = true;
                }
            }
            "-d" | "--destination" => {
                if !negate && is_multicast(val) {
                    rule.ignored = Some("multicast destination");
                } else {
                    rule.cond = true;
                }
            }
            "--ctstate" | "--state" => {
                let all_est = val.split(',').all(|s| {
                    matches!(
                        s.to_ascii_uppercase().as_str(),
                        "ESTABLISHED" | "RELATED" | "INVALID" | "UNTRACKED"
                    )
                });
                if all_est && !negate {
                    rule.ignored = Some("connection tracking");
                } else {
                    rule.cond = true;
                }
            }
            "--icmp-type" | "--icmpv6-type" => rule.ignored = Some("icmp"),
            "-j" | "--jump" | "-g" | "--goto" => {
                rule.verdict = match val {
                    "ACCEPT" => Verdict::Accept,
                    "DROP" => Verdict::Drop,
                    "REJECT" => Verdict::Reject,
                    "RETURN" => Verdict::Return,
                    "LOG" | "NFLOG" | "ULOG" | "MARK" | "CONNMARK" | "AUDIT" => Verdict::Other,
                    t if a == "-g" || a == "--goto" => Verdict::Goto(t.to_string()),
                    t => Verdict::Jump(t.to_string()),
                };
                after_target = true;
            }
            "-m" | "--match" => {
                if !matches!(
                    val,
                    "tcp"
                        | "udp"
                        | "multiport"
                        | "conntrack"
                        | "state"
                        | "comment"
                        | "icmp"
                        | "icmp6"
                ) {
                    rule.cond = true;
                }
            }
            "--comment" => {}
            _ => {
                if a.starts_with('-') && after_target {
                    // A target's own option (--reject-with, --log-prefix...): no condition.
                    step = 1;
                    while i + step < w.len() && !w[i + step].starts_with('-') {
                        step += 1;
                    }
                } else if a.starts_with('-') {
                    // An option of a match module: a condition we do not model. Its values
                    // (if any) follow; skip words that are not options.
                    rule.cond = true;
                    step = 1;
                    while i + step < w.len() && !w[i + step].starts_with('-') && w[i + step] != "!"
                    {
                        step += 1;
                    }
                } else {
                    step = 1;
                }
            }
        }
        negate = false;
        i += step;
    }
    if rule.ports.is_none() && rule.ignored.is_none() {
        if let Some(p) = proto {
            let mut set = PortSet::empty();
            set.add(Some(p), 0, 65535);
            rule.ports = Some(set);
        }
    }
    rule
}

// ------------------------------------------------------------------ ufw

/// Parses `ufw status verbose`.
pub fn parse_ufw(text: &str) -> Option<FwState> {
    let status = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Status:"))?
        .trim()
        .to_string();
    let active = status == "active";
    let mut default = "allow".to_string();
    if let Some(d) = text.lines().find_map(|l| l.trim().strip_prefix("Default:")) {
        for part in d.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_suffix("(incoming)") {
                default = match v.trim() {
                    "deny" => "drop",
                    "reject" => "reject",
                    _ => "allow",
                }
                .to_string();
            }
        }
    }
    let mut open: Vec<PortSpec> = vec![];
    let mut trusted = vec![];
    let lines: Vec<&str> = text.lines().collect();
    if let Some(h) = lines
        .iter()
        .position(|l| l.starts_with("To") && l.contains("Action") && l.contains("From"))
    {
        let header = lines[h];
        let action_at = header.find("Action").unwrap_or(27);
        let from_at = header.find("From").unwrap_or(39);
        for l in &lines[h + 1..] {
            if l.trim().is_empty() || l.starts_with("--") {
                continue;
            }
            let cut = |a: usize, b: usize| -> &str {
                let a = a.min(l.len());
                let b = b.min(l.len());
                l.get(a..b).unwrap_or("").trim()
            };
            let to = cut(0, action_at);
            let action = cut(action_at, from_at);
            let from = cut(from_at, l.len());
            let action_word = action.split_whitespace().next().unwrap_or("");
            let dir = action.split_whitespace().nth(1).unwrap_or("IN");
            if dir != "IN" || !matches!(action_word, "ALLOW" | "LIMIT") {
                continue;
            }
            let to = to.trim_end_matches("(v6)").trim();
            // "22/tcp", "60000:61000/udp", "80,443/tcp", "10.0.0.5 22/tcp", "OpenSSH", "Anywhere".
            let target = to.split_whitespace().last().unwrap_or("");
            if target == "Anywhere" || target.contains('.') && !target.contains('/') {
                trusted.push(from.trim_end_matches("(v6)").trim().to_string());
                continue;
            }
            let (ports, proto) = match target.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (target, None),
            };
            for p in ports.split(',') {
                let spec = match proto {
                    Some(pr) => PortSpec::parse_str(&format!("{p}/{pr}")),
                    None => PortSpec::parse_str(p),
                };
                if let Some(s) = spec {
                    if !open.contains(&s) {
                        open.push(s);
                    }
                }
            }
        }
    }
    let mut extra = Map::new();
    extra.insert("status".into(), json!(status));
    if !trusted.is_empty() {
        trusted.sort();
        trusted.dedup();
        extra.insert("trusted_sources".into(), json!(trusted));
    }
    Some(FwState {
        tool: "ufw".into(),
        enabled: active,
        default_inbound: if active { default } else { "allow".into() },
        open: Some(if active { open } else { vec![] }),
        all_open: vec![],
        stealth: None,
        extra,
    })
}

// ------------------------------------------------------------------ firewalld

/// Ports of firewalld services; `None` for reply-only services that open no listening port.
fn firewalld_service(name: &str) -> Option<Vec<PortSpec>> {
    let p = |s: &str| PortSpec::parse_str(s).unwrap();
    Some(match name {
        "ssh" => vec![p("22/tcp")],
        "http" => vec![p("80/tcp")],
        "https" => vec![p("443/tcp")],
        "cockpit" => vec![p("9090/tcp")],
        "dns" => vec![p("53/tcp"), p("53/udp")],
        "ntp" => vec![p("123/udp")],
        "postgresql" => vec![p("5432/tcp")],
        "mysql" => vec![p("3306/tcp")],
        "smtp" => vec![p("25/tcp")],
        "dhcp" => vec![p("67/udp")],
        // Replies to the host's own DHCPv6 requests, and multicast: no listening service.
        "dhcpv6-client" | "mdns" => vec![],
        other => vec![PortSpec::Service(other.to_string())],
    })
}

/// Parses the firewalld probe (`state:`, `default:`, then `@@zone NAME` + `--info-zone`).
pub fn parse_firewalld(text: &str) -> Option<FwState> {
    let state = text.lines().find_map(|l| l.strip_prefix("state: "))?.trim();
    if state != "running" {
        return None;
    }
    let mut zones: Vec<(String, String, Vec<PortSpec>)> = vec![];
    for l in text.lines() {
        if let Some(z) = l.strip_prefix("@@zone ") {
            zones.push((z.trim().to_string(), "default".into(), vec![]));
            continue;
        }
        let Some(cur) = zones.last_mut() else {
            continue;
        };
        let t = l.trim();
        if let Some(v) = t.strip_prefix("target:") {
            cur.1 = v.trim().to_string();
        } else if let Some(v) = t.strip_prefix("services:") {
            for s in v.split_whitespace() {
                cur.2.extend(firewalld_service(s).unwrap_or_default());
            }
        } else if let Some(v) = t.strip_prefix("ports:") {
            for s in v.split_whitespace() {
                if let Some(p) = PortSpec::parse_str(s) {
                    cur.2.push(p);
                }
            }
        }
    }
    let mut default = "reject";
    let mut open: Vec<PortSpec> = vec![];
    let mut all_open = vec![];
    let mut targets = Map::new();
    for (name, target, ports) in &zones {
        targets.insert(name.clone(), json!(target));
        // The `default` target rejects (firewalld's zone default); ACCEPT lets all in.
        let d = match target.trim_matches('%').to_ascii_uppercase().as_str() {
            "DROP" => "drop",
            "ACCEPT" => "allow",
            _ => "reject",
        };
        if d == "allow" {
            all_open.push(format!("zone {name}"));
            default = "allow";
        } else if default != "allow" && d == "drop" && zones.len() == 1 {
            default = "drop";
        }
        for p in ports {
            if !open.contains(p) {
                open.push(p.clone());
            }
        }
    }
    if zones.iter().all(|z| z.1.eq_ignore_ascii_case("DROP")) && !zones.is_empty() {
        default = "drop";
    }
    let mut extra = Map::new();
    extra.insert("zones".into(), Value::Object(targets));
    Some(FwState {
        tool: "firewalld".into(),
        enabled: true,
        default_inbound: default.into(),
        open: Some(open),
        all_open,
        stealth: None,
        extra,
    })
}

// ------------------------------------------------------------------ which tool is the truth

fn why(name: &str, o: Option<&ProbeOut>) -> String {
    match o {
        None => format!("{name}: not probed"),
        Some(o) if o.rc == 127 => format!("{name}: not installed"),
        Some(o) => {
            let e = o.stderr.trim();
            let e = if e.is_empty() { o.stdout.trim() } else { e };
            let e: Vec<&str> = e.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            if e.is_empty() {
                format!("{name}: failed with status {} and no output", o.rc)
            } else {
                format!("{name}: {}", e.join(" / "))
            }
        }
    }
}

/// Picks the tool whose word is the truth on Linux and reads it.
pub fn linux_state(out: &HashMap<String, ProbeOut>) -> Result<FwState, String> {
    let ipt = |key: &str, fam: &str| -> Option<Vec<Chain>> {
        let o = out.get(key)?;
        if o.rc != 0 || !o.stdout.contains("-P INPUT") {
            return None;
        }
        Some(parse_iptables(&o.stdout, fam))
    };
    let v4 = ipt("iptables", "ip");
    let v6 = ipt("ip6tables", "ip6");
    let nft = out.get("nft");
    let mut reasons = vec![];
    if let Some(n) = nft.filter(|n| n.rc == 0) {
        match parse_nft(&n.stdout) {
            Ok((mut chains, xt)) => {
                let mut from_iptables = vec![];
                for (fam, table) in &xt {
                    let repl = match fam.as_str() {
                        "ip" => v4.as_ref(),
                        "ip6" => v6.as_ref(),
                        _ => None,
                    };
                    if let (Some(repl), "filter") = (repl, table.as_str()) {
                        chains.retain(|c| !(c.family == *fam && c.table == *table));
                        chains.extend(repl.iter().cloned());
                        from_iptables.push(format!("{fam} {table}"));
                    }
                }
                let has_input = chains.iter().any(|c| c.base_input);
                if !has_input {
                    // Nothing in nf_tables: iptables-legacy may still filter.
                    if let Some(v4) = &v4 {
                        let a = analyse(v4);
                        if a.families[0].1.is_full() {
                            // not filtering either; nft's word stands
                        } else {
                            return Ok(iptables_state(v4, v6.as_ref()));
                        }
                    }
                }
                let mut st = analyse(&chains).state("nftables", &["ipv4", "ipv6"]);
                if !from_iptables.is_empty() {
                    st.extra
                        .insert("rules_read_with_iptables".into(), json!(from_iptables));
                }
                if let Some(u) = out.get("ufw").and_then(|o| parse_ufw(&o.stdout)) {
                    st.extra.insert("ufw".into(), json!(u.extra["status"]));
                }
                if out
                    .get("firewalld")
                    .is_some_and(|o| o.stdout.contains("state: running"))
                {
                    st.extra.insert("firewalld".into(), json!("running"));
                }
                return Ok(st);
            }
            Err(e) => reasons.push(format!("nft: {e}")),
        }
    } else {
        reasons.push(why("nft", nft));
    }
    if let Some(st) = out
        .get("firewalld")
        .and_then(|o| parse_firewalld(&o.stdout))
    {
        return Ok(st);
    }
    reasons.push(why("firewall-cmd", out.get("firewalld")));
    let ufw = out.get("ufw").and_then(|o| parse_ufw(&o.stdout));
    if let Some(u) = &ufw {
        if u.enabled {
            return Ok(u.clone());
        }
    } else {
        reasons.push(why("ufw", out.get("ufw")));
    }
    if let Some(v4) = &v4 {
        return Ok(iptables_state(v4, v6.as_ref()));
    }
    reasons.push(why("iptables", out.get("iptables")));
    if let Some(u) = ufw {
        return Ok(u);
    }
    Err(format!("cannot read the firewall ({})", reasons.join("; ")))
}

fn iptables_state(v4: &[Chain], v6: Option<&Vec<Chain>>) -> FwState {
    let mut chains = v4.to_vec();
    let mut fams = vec!["ipv4"];
    if let Some(v6) = v6 {
        chains.extend(v6.iter().cloned());
        fams.push("ipv6");
    }
    let mut st = analyse(&chains).state("iptables", &fams);
    if v6.is_none() {
        st.extra.insert(
            "notes".into(),
            json!(["ip6tables was not read: IPv6 not judged"]),
        );
    }
    st
}

// ------------------------------------------------------------------ macOS

/// Parses the three `socketfilterfw` answers.
pub fn parse_socketfilterfw(text: &str) -> Option<FwState> {
    let mut state: Option<u8> = None;
    let mut block_all = false;
    let mut stealth = None;
    for l in text.lines() {
        let t = l.trim();
        let lower = t.to_ascii_lowercase();
        if let Some(i) = t.find("(State = ") {
            state = t[i + 9..].trim_end_matches(')').trim().parse().ok();
        } else if lower.starts_with("firewall is enabled") {
            state = state.or(Some(1));
        } else if lower.starts_with("firewall is disabled") {
            state = state.or(Some(0));
        }
        if lower.contains("block all") && lower.contains("enabled") && !lower.contains("disabled") {
            block_all = true;
        }
        if lower.contains("stealth mode") {
            stealth = Some(
                lower.contains("stealth mode is on")
                    || lower.contains("stealth mode enabled")
                    || lower.ends_with("enabled.")
                    || lower.ends_with(" on"),
            );
            if lower.contains("disabled") || lower.ends_with(" off") || lower.ends_with("off.") {
                stealth = Some(false);
            }
        }
    }
    let state = state?;
    let enabled = state >= 1;
    let block_all = enabled && (block_all || state == 2);
    let default = if !enabled {
        "allow"
    } else if block_all || stealth == Some(true) {
        "drop"
    } else {
        "app-allowlist"
    };
    let mut extra = Map::new();
    extra.insert("global_state".into(), json!(state));
    extra.insert("block_all".into(), json!(block_all));
    Some(FwState {
        tool: "application firewall".into(),
        enabled,
        default_inbound: default.into(),
        open: None,
        all_open: vec![],
        stealth,
        extra,
    })
}

impl FirewallCheck {
    fn judge_macos(&self, alf: &ProbeOut, pf: Option<&ProbeOut>) -> Finding {
        let Some(mut st) = parse_socketfilterfw(&alf.stdout) else {
            return Finding::error(format!(
                "cannot read the application firewall ({})",
                why("socketfilterfw", Some(alf))
            ));
        };
        if let Some(pf) = pf {
            let first = pf.stdout.trim();
            if let Some(s) = first.strip_prefix("Status:") {
                st.extra.insert(
                    "pf".into(),
                    json!(s
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase()),
                );
            }
        }
        self.judge(&st)
    }
}

// ------------------------------------------------------------------ Windows

fn win_enabled(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64()? {
            0 => Some(false),
            1 | 2 => Some(true), // 2 = NotConfigured: the Windows default is on
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "notconfigured" | "2" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn win_action(v: &Value) -> Option<&'static str> {
    let s = match v {
        Value::Number(n) => match n.as_i64()? {
            0 => "notconfigured",
            2 => "allow",
            4 => "block",
            _ => return None,
        }
        .to_string(),
        Value::String(s) => s.trim().to_ascii_lowercase(),
        Value::Null => "notconfigured".into(),
        _ => return None,
    };
    Some(match s.as_str() {
        "allow" | "2" => "allow",
        // NotConfigured: the Windows default, Block.
        "block" | "4" | "notconfigured" | "0" | "" => "drop",
        _ => return None,
    })
}

/// Parses `Get-NetFirewallProfile` JSON (one object or a list) into (name, enabled, inbound).
pub fn parse_net_firewall_profiles(text: &str) -> Result<Vec<(String, bool, String)>, String> {
    let v: Value = serde_json::from_str(text.trim().trim_start_matches('\u{feff}'))
        .map_err(|e| format!("Get-NetFirewallProfile printed something that is not JSON: {e}"))?;
    let items = match v {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        other => return Err(format!("unexpected Get-NetFirewallProfile output: {other}")),
    };
    let mut out = vec![];
    for it in items {
        let name = match it.get("Name") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => return Err("a firewall profile without a Name".into()),
        };
        let enabled = win_enabled(it.get("Enabled").unwrap_or(&Value::Null))
            .ok_or_else(|| format!("profile {name}: unknown Enabled value"))?;
        let inbound = win_action(it.get("DefaultInboundAction").unwrap_or(&Value::Null))
            .ok_or_else(|| format!("profile {name}: unknown DefaultInboundAction"))?;
        out.push((name, enabled, inbound.to_string()));
    }
    Ok(out)
}

impl FirewallCheck {
    fn judge_windows(&self, o: &ProbeOut) -> Finding {
        if o.stdout.trim().is_empty() {
            return Finding::error(format!(
                "cannot read the Windows firewall ({})",
                why("Get-NetFirewallProfile", Some(o))
            ));
        }
        let profiles = match parse_net_firewall_profiles(&o.stdout) {
            Ok(p) => p,
            Err(e) => return Finding::error(e),
        };
        let wanted: Vec<String> = if self.profiles.is_empty() {
            vec!["Domain".into(), "Private".into(), "Public".into()]
        } else {
            self.profiles.clone()
        };
        let mut per = Map::new();
        let mut fails = vec![];
        let mut enabled_all = true;
        let mut default = "drop".to_string();
        for w in &wanted {
            let Some((name, en, inb)) = profiles.iter().find(|p| p.0.eq_ignore_ascii_case(w))
            else {
                fails.push(format!("profile {w} not found"));
                continue;
            };
            per.insert(name.clone(), json!({"enabled": en, "default_inbound": inb}));
            let mut sub = vec![];
            if let Some(want) = self.enabled {
                if want != *en {
                    sub.push(if *en { "enabled" } else { "disabled" }.to_string());
                }
            }
            if let Some(want) = self.default_inbound {
                if !want.met_by(inb) {
                    sub.push(format!("default inbound {inb}"));
                }
            }
            if !sub.is_empty() {
                fails.push(format!("{name} profile: {}", sub.join(", ")));
            }
            enabled_all &= *en;
            if inb != "drop" {
                default = inb.clone();
            }
        }
        let mut observed = json!({"tool": "windows firewall", "enabled": enabled_all, "default_inbound": default, "profiles": per});
        let mut notes = vec![];
        if self.allowed.is_some() {
            notes.push("inbound port rules are not checked on Windows");
        }
        if self.stealth.is_some() {
            notes.push("stealth mode does not apply to Windows");
        }
        if !notes.is_empty() {
            observed["notes"] = json!(notes);
        }
        let mut f = if fails.is_empty() {
            Finding::new(
                Status::Pass,
                observed,
                self.expected(),
                format!(
                    "Windows firewall on for {} (default inbound {default})",
                    wanted.join(", ")
                ),
            )
        } else {
            Finding::new(Status::Fail, observed, self.expected(), fails.join("; "))
        };
        f.data = json!({"tool": "windows firewall"});
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/checks/firewall/");

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

    fn linux(outs: &[(&str, ProbeOut)]) -> HashMap<String, ProbeOut> {
        outs.iter()
            .map(|(k, o)| (k.to_string(), o.clone()))
            .collect()
    }

    fn check(args: Value) -> FirewallCheck {
        FirewallCheck::from_args(&args).unwrap()
    }

    fn eval(args: Value, facts: Value, out: HashMap<String, ProbeOut>) -> Finding {
        let c = check(args);
        let facts = facts.as_object().cloned().unwrap_or_default();
        c.evaluate(&CheckCtx {
            facts: &facts,
            vars: &Value::Null,
            out: &out,
        })
    }

    fn nft_only(file: &str) -> HashMap<String, ProbeOut> {
        linux(&[
            ("nft", po(0, &fixture(file), "")),
            (
                "firewalld",
                po(127, "", "firewall-cmd: command not found\n"),
            ),
            ("ufw", po(0, "Status: inactive\n", "")),
            (
                "iptables",
                po(
                    0,
                    "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n",
                    "",
                ),
            ),
            (
                "ip6tables",
                po(
                    0,
                    "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n",
                    "",
                ),
            ),
        ])
    }

    #[test]
    fn args_are_validated() {
        assert!(FirewallCheck::from_args(&json!({"default_inbound": "closed"})).is_err());
        assert!(FirewallCheck::from_args(&json!({"allowed_inbound_ports": ["22/icmp"]})).is_err());
        assert!(FirewallCheck::from_args(&json!({"colour": 1})).is_err());
        assert!(FirewallCheck::from_args(&json!({"profiles": ["Home"]})).is_err());
        let c = check(
            json!({"enabled": "yes", "allowed_inbound_ports": [22, "443/tcp", "60000-61000/udp", "ssh"]}),
        );
        assert_eq!(
            c.allowed.unwrap(),
            vec![
                PortSpec::Ports(None, 22, 22),
                PortSpec::Ports(Some(Proto::Tcp), 443, 443),
                PortSpec::Ports(Some(Proto::Udp), 60000, 61000),
                PortSpec::Service("ssh".into())
            ]
        );
        assert!(Inbound::Deny.met_by("drop") && Inbound::Deny.met_by("reject"));
        assert!(!Inbound::Deny.met_by("allow") && !Inbound::Deny.met_by("app-allowlist"));
    }

    #[test]
    fn debian_stock_nftables_is_not_filtering() {
        let f = eval(
            json!({"enabled": true, "default_inbound": "deny"}),
            json!({"system": "Linux"}),
            nft_only("nft-debian12-stock.json"),
        );
        assert_eq!(f.status, Status::Fail, "{}", f.message);
        assert!(f.message.contains("not filtering"), "{}", f.message);
        assert!(
            f.message.contains("default inbound is allow"),
            "{}",
            f.message
        );
        assert_eq!(f.observed["tool"], "nftables");
        // Empty ruleset: metainfo only.
        let empty = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}]}"#;
        let mut out = nft_only("nft-debian12-stock.json");
        out.insert("nft".into(), po(0, empty, ""));
        let f = eval(json!({}), json!({"system": "Linux"}), out);
        assert_eq!(f.status, Status::Fail);
    }

    #[test]
    fn drop_policy_with_ssh() {
        let out = nft_only("nft-drop-ssh.json");
        let f = eval(
            json!({"default_inbound": "deny", "allowed_inbound_ports": [22]}),
            json!({"system": "Linux"}),
            out.clone(),
        );
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        assert_eq!(f.observed["open_inbound_ports"], json!(["22/tcp"]));
        assert_eq!(f.observed["default_inbound"], "drop");
        let f = eval(
            json!({"default_inbound": "deny", "allowed_inbound_ports": []}),
            json!({"system": "Linux"}),
            out.clone(),
        );
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message.contains("22/tcp open but not allowed"),
            "{}",
            f.message
        );
        let f = eval(
            json!({"default_inbound": "reject"}),
            json!({"system": "Linux"}),
            out,
        );
        assert_eq!(f.status, Status::Fail);
    }

    #[test]
    fn accept_policy_ending_in_reject_with_sets_and_ranges() {
        let f = eval(
            json!({"default_inbound": "deny", "allowed_inbound_ports": ["22/tcp", 80, 443]}),
            json!({"system": "Linux"}),
            nft_only("nft-reject-sets-ranges.json"),
        );
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.observed["default_inbound"], "reject");
        assert_eq!(
            f.observed["open_inbound_ports"],
            json!(["22/tcp", "80/tcp", "443/tcp", "5432/tcp", "60000-61000/udp"])
        );
        assert!(
            f.message
                .contains("5432/tcp, 60000-61000/udp open but not allowed"),
            "{}",
            f.message
        );
        let f = eval(
            json!({"default_inbound": "reject", "allowed_inbound_ports": ["22/tcp", 80, 443, 5432, "60000:61000/udp"]}),
            json!({"system": "Linux"}),
            nft_only("nft-reject-sets-ranges.json"),
        );
        assert_eq!(f.status, Status::Pass, "{}", f.message);
    }

    #[test]
    fn ufw_tables_read_through_iptables() {
        let mut out = nft_only("nft-ufw-active.json");
        out.insert(
            "iptables".into(),
            po(0, &fixture("iptables-S-ufw-active.txt"), ""),
        );
        out.insert(
            "ip6tables".into(),
            po(127, "", "ip6tables: command not found"),
        );
        out.insert(
            "ufw".into(),
            po(0, &fixture("ufw-status-verbose-active.txt"), ""),
        );
        let f = eval(
            json!({"default_inbound": "deny", "allowed_inbound_ports": [22]}),
            json!({"system": "Linux"}),
            out,
        );
        assert_eq!(f.status, Status::Fail);
        // ipv6 comes from nft (its xt rules unreadable without ip6tables): the multiport
        // rule is listed as unresolved, and 22 and 2222 are seen.
        assert!(f.message.contains("2222/tcp"), "{}", f.message);
        assert!(f.message.contains("60000-61000/udp"), "{}", f.message);
        assert!(
            !f.message.contains("5353") && !f.message.contains("68/udp"),
            "{}",
            f.message
        );
        assert_eq!(f.observed["default_inbound"], "drop");
        assert_eq!(f.observed["ufw"], "active");
    }

    #[test]
    fn inet_drop_wins_over_ufw_tables() {
        // ufw active and an inet table allowing only 22: a packet must pass both.
        let mut out = nft_only("nft-ufw-active-plus-inet-drop.json");
        out.insert(
            "iptables".into(),
            po(0, &fixture("iptables-S-ufw-active.txt"), ""),
        );
        let f = eval(
            json!({"default_inbound": "deny", "allowed_inbound_ports": [22]}),
            json!({"system": "Linux"}),
            out,
        );
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        // ufw inactive, iptables -S shows ACCEPT everywhere, but the inet table drops.
        let mut out = nft_only("nft-ufw-inactive-plus-inet-drop.json");
        out.insert(
            "iptables".into(),
            po(0, &fixture("iptables-S-ufw-inactive-inet-drop.txt"), ""),
        );
        let f = eval(
            json!({"default_inbound": "deny", "allowed_inbound_ports": ["22/tcp"]}),
            json!({"system": "Linux"}),
            out,
        );
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        assert_eq!(f.observed["tool"], "nftables");
    }

    #[test]
    fn firewalld_shaped_nft_ruleset() {
        // Zones reached by goto from a chain that ends in a reject; ct state sets; the
        // DHCPv6 client and mDNS rules open no listening port.
        let f = eval(
            json!({"default_inbound": "deny", "allowed_inbound_ports": [22]}),
            json!({"system": "Linux"}),
            nft_only("nft-firewalld-shape.json"),
        );
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.observed["default_inbound"], "reject");
        assert_eq!(f.message, "inbound 9090/tcp open but not allowed");
        let f = eval(
            json!({"default_inbound": "reject", "allowed_inbound_ports": ["22/tcp", "9090/tcp"]}),
            json!({"system": "Linux"}),
            nft_only("nft-firewalld-shape.json"),
        );
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        assert_eq!(
            f.message,
            "nftables filters inbound traffic (default reject, open 22/tcp, 9090/tcp)"
        );
    }

    #[test]
    fn ufw_status_parsing() {
        let st = parse_ufw(&fixture("ufw-status-verbose-active.txt")).unwrap();
        assert!(st.enabled);
        assert_eq!(st.default_inbound, "drop");
        let labels: Vec<String> = st.open.unwrap().iter().map(PortSpec::label).collect();
        assert_eq!(labels, vec!["22/tcp", "2222/tcp", "60000-61000/udp"]);
        let st = parse_ufw(&fixture("ufw-status-verbose-inactive.txt")).unwrap();
        assert!(!st.enabled);
        // Without nft (not root), ufw's word is used.
        let out = linux(&[
            ("nft", po(1, "", &fixture("nft-nonroot.stderr.txt"))),
            ("firewalld", po(127, "", "")),
            ("ufw", po(0, &fixture("ufw-status-verbose-active.txt"), "")),
            (
                "iptables",
                po(4, "", &fixture("iptables-nonroot.stderr.txt")),
            ),
            ("ip6tables", po(4, "", "")),
        ]);
        let f = eval(
            json!({"default_inbound": "deny", "allowed_inbound_ports": [22, 2222, "60000-61000/udp"]}),
            json!({"system": "Linux"}),
            out,
        );
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        assert_eq!(f.observed["tool"], "ufw");
    }

    #[test]
    fn not_root_is_an_error() {
        let out = linux(&[
            ("nft", po(1, "", &fixture("nft-nonroot.stderr.txt"))),
            (
                "firewalld",
                po(127, "", "firewall-cmd: command not found\n"),
            ),
            ("ufw", po(1, &fixture("ufw-nonroot.txt"), "")),
            (
                "iptables",
                po(4, "", &fixture("iptables-nonroot.stderr.txt")),
            ),
            ("ip6tables", po(4, "", "")),
        ]);
        let f = eval(json!({}), json!({"system": "Linux"}), out);
        assert_eq!(f.status, Status::Error);
        assert!(
            f.message.contains("Operation not permitted"),
            "{}",
            f.message
        );
        assert!(f.message.contains("need to be root"), "{}", f.message);
    }

    #[test]
    fn legacy_iptables() {
        let chains = parse_iptables(&fixture("iptables-S-INPUT-drop.txt"), "ip");
        let st = iptables_state(&chains, None);
        assert_eq!(st.default_inbound, "drop");
        let labels: Vec<String> = st.open.unwrap().iter().map(PortSpec::label).collect();
        assert_eq!(labels, vec!["22/tcp", "8000-8080/tcp", "53/udp", "123/udp"]);
        let st = iptables_state(
            &parse_iptables(&fixture("iptables-S-INPUT-empty.txt"), "ip"),
            None,
        );
        assert!(!st.enabled);
        assert_eq!(st.default_inbound, "allow");
    }

    #[test]
    fn firewalld_zones() {
        let text = "state: running\ndefault: public\n@@zone public\npublic (active)\n  target: default\n  icmp-block-inversion: no\n  interfaces: eth0\n  sources: \n  services: cockpit dhcpv6-client ssh\n  ports: 8080/tcp\n  protocols: \n  forward: yes\n  masquerade: no\n  forward-ports: \n  source-ports: \n  icmp-blocks: \n  rich rules: \n";
        let out = linux(&[
            ("nft", po(1, "", "Error: Operation not permitted\n")),
            ("firewalld", po(0, text, "")),
        ]);
        let f = eval(
            json!({"default_inbound": "deny", "allowed_inbound_ports": [22]}),
            json!({"system": "Linux"}),
            out.clone(),
        );
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.observed["tool"], "firewalld");
        assert!(
            f.message
                .contains("9090/tcp, 8080/tcp open but not allowed"),
            "{}",
            f.message
        );
        let f = eval(
            json!({"default_inbound": "reject", "allowed_inbound_ports": [22, 9090, "8080/tcp"]}),
            json!({"system": "Linux"}),
            out,
        );
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        let st = parse_firewalld("state: running\ndefault: drop\n@@zone drop\ndrop (active)\n  target: DROP\n  services: \n  ports: \n").unwrap();
        assert_eq!(st.default_inbound, "drop");
        // Not running (or no D-Bus): not firewalld's word.
        assert!(parse_firewalld("state: not running\n").is_none());
        assert!(parse_firewalld(&format!(
            "state: {}",
            fixture("firewall-cmd-state-nodbus.txt")
        ))
        .is_none());
    }

    #[test]
    fn macos_application_firewall() {
        let mac = json!({"system": "Darwin"});
        let run = |args: Value, text: &str| {
            eval(
                args,
                mac.clone(),
                linux(&[
                    ("alf", po(0, text, "")),
                    (
                        "pf",
                        po(
                            0,
                            "Status: Disabled for 0 days 00:00:00           Debug: Urgent\n",
                            "",
                        ),
                    ),
                ]),
            )
        };
        let on_stealth = "Firewall is enabled. (State = 1)\nFirewall has block all state set to disabled.\nFirewall stealth mode is on\n";
        let f = run(
            json!({"default_inbound": "deny", "stealth": true, "allowed_inbound_ports": [22]}),
            on_stealth,
        );
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        assert_eq!(f.observed["pf"], "disabled");
        assert!(f.observed["notes"][0]
            .as_str()
            .unwrap()
            .contains("not checked"));
        let on = "Firewall is enabled. (State = 1)\nFirewall has block all state set to disabled.\nFirewall stealth mode is off\n";
        let f = run(json!({"default_inbound": "deny"}), on);
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("app-allowlist"), "{}", f.message);
        assert_eq!(run(json!({}), on).status, Status::Pass);
        let f = run(json!({"stealth": true}), on);
        assert_eq!(
            (f.status, f.message.as_str()),
            (Status::Fail, "stealth mode is off")
        );
        let block = "Firewall is enabled. (State = 2)\nFirewall has block all state set to enabled.\nStealth mode disabled\n";
        let f = run(json!({"default_inbound": "drop"}), block);
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        let off = "Firewall is disabled. (State = 0)\nFirewall has block all state set to disabled.\nFirewall stealth mode is off\n";
        let f = run(json!({"enabled": true}), off);
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("not filtering"));
        let f = run(json!({}), "");
        assert_eq!(f.status, Status::Error);
    }

    #[test]
    fn windows_profiles() {
        let win = json!({"system": "Win32NT"});
        let run = |args: Value, text: &str| {
            eval(args, win.clone(), linux(&[("profiles", po(0, text, ""))]))
        };
        let strings = r#"[{"Name":"Domain","Enabled":"True","DefaultInboundAction":"NotConfigured","DefaultOutboundAction":"NotConfigured"},{"Name":"Private","Enabled":"True","DefaultInboundAction":"Block","DefaultOutboundAction":"Allow"},{"Name":"Public","Enabled":"True","DefaultInboundAction":"Block","DefaultOutboundAction":"Allow"}]"#;
        let f = run(json!({"default_inbound": "deny"}), strings);
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        // Raw enums: Enabled 1/0, actions 2 = Allow, 4 = Block.
        let numbers = r#"[{"Name":"Domain","Enabled":1,"DefaultInboundAction":4,"DefaultOutboundAction":2},{"Name":"Private","Enabled":0,"DefaultInboundAction":4,"DefaultOutboundAction":2},{"Name":"Public","Enabled":1,"DefaultInboundAction":2,"DefaultOutboundAction":2}]"#;
        let f = run(json!({"default_inbound": "deny"}), numbers);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(
            f.message,
            "Private profile: disabled; Public profile: default inbound allow"
        );
        let f = run(
            json!({"default_inbound": "deny", "profiles": ["Domain"]}),
            numbers,
        );
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        // One profile: ConvertTo-Json prints an object, not a list.
        let one = r#"{"Name":"Public","Enabled":true,"DefaultInboundAction":"Block","DefaultOutboundAction":"Allow"}"#;
        let f = run(json!({"profiles": ["public"]}), one);
        assert_eq!(f.status, Status::Pass, "{}", f.message);
        let f = run(json!({}), one);
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("profile Domain not found"));
        assert_eq!(run(json!({}), "").status, Status::Error);
    }

    #[test]
    fn probes_per_platform() {
        let c = check(json!({}));
        let linux = c.probes(json!({"system": "Linux"}).as_object().unwrap());
        assert_eq!(
            linux.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
            vec!["nft", "firewalld", "ufw", "iptables", "ip6tables"]
        );
        let win = c.probes(json!({"system": "Win32NT"}).as_object().unwrap());
        assert!(win[0].script.starts_with("Get-NetFirewallProfile"));
        let mac = c.probes(json!({"system": "Darwin"}).as_object().unwrap());
        assert!(mac[0].script.contains("--getstealthmode"));
    }
}
