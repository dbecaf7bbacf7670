//! `~/.ssh/config`, read the way OpenSSH's `ssh` reads it (ssh_config(5)), for the options
//! muster uses.
//!
//! - Keywords ignore case; `Key value`, `Key=value` and `Key = value` are the same; values may be
//!   quoted (`"..."` or `'...'`), a backslash escapes a quote, a backslash or a space; an
//!   unquoted `#` at the start of a word ends the line.
//! - The first value obtained for an option wins; `IdentityFile` accumulates.
//! - `Host` takes whitespace-separated patterns with `*`, `?` and `!negation` (a matching negated
//!   pattern excludes the host); they are matched against the name as the user typed it.
//! - `Match all`, `Match host LIST` (the HostName obtained so far, else the name as typed),
//!   `Match originalhost LIST`, `Match localuser LIST`, `!` before a criterion, several criteria
//!   (all must hold), and `final` (muster does one pass, the one OpenSSH calls final). Other
//!   criteria OpenSSH knows (`exec`, `user`, `canonical`, `localnetwork`, `tagged`...) make the
//!   block not match; they are no error. A criterion without its argument (`Match host`), or
//!   a word that is no criterion at all, is an error, as in OpenSSH.
//! - `Include` with globs, `~`, relative paths taken in `~/.ssh`; files in lexical order; an
//!   Include inside a `Host`/`Match` block only applies when that block does.
//! - Tokens `%h %p %r %u %d %n %l %L %i %k %j %%`, `${ENV}` and a leading `~` in `IdentityFile`
//!   and `UserKnownHostsFile`; `%h %p %r %n %%` in `ProxyJump`; `%h %%` in `HostName`.
//! - Keywords muster does not use are ignored; the values of those it does use are checked
//!   when the file is read (`Port 0` is an error with file:line:col).

use std::path::{Path, PathBuf};

use super::known_hosts::match_pattern_list;
use crate::error::{Error, Location, Result};

/// OpenSSH's limit on nested `Include`s.
const MAX_INCLUDE_DEPTH: usize = 16;

/// A parsed ssh_config file (with its `Include`d files read in).
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    path: PathBuf,
    items: Vec<Item>,
}

/// What the configuration says for one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostSettings {
    /// `HostName`, with `%h` expanded; None when the config does not rename the host.
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// Every `IdentityFile` that applies, in order, expanded, without repeats.
    pub identity_files: Vec<PathBuf>,
    pub identities_only: Option<bool>,
    /// `ProxyJump` as written (`[user@]host[:port][,...]`); `none` leaves it unset.
    pub proxy_jump: Option<String>,
    /// `UserKnownHostsFile`, expanded; `none` gives `/dev/null` (no user known hosts).
    pub user_known_hosts_files: Vec<PathBuf>,
    /// `StrictHostKeyChecking`: `yes`, `no`, `ask` or `accept-new` (`true`/`false`/`off` are
    /// given as `yes`/`no`/`no`).
    pub strict_host_key_checking: Option<String>,
    /// `ConnectTimeout` in seconds.
    pub connect_timeout: Option<u64>,
}

/// What resolving needs to know about the local side (tokens `%d %u %l %L %i`, `~`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveEnv {
    pub home: PathBuf,
    pub local_user: String,
    pub local_host: String,
    pub uid: u32,
}

impl ResolveEnv {
    /// This process's user, home directory and host name.
    pub fn current() -> ResolveEnv {
        ResolveEnv {
            home: dirs::home_dir().unwrap_or_else(|| PathBuf::from("/")),
            local_user: local_user(),
            local_host: local_host(),
            uid: uid(),
        }
    }
}

#[derive(Debug, Clone)]
enum Item {
    /// `Host` patterns, as written (`!` included).
    Host(Vec<String>),
    /// `Match` criteria; None when one is unsupported (the block never applies).
    Match(Option<Vec<Criterion>>),
    Set(Opt),
    Include(Vec<SshConfig>),
}

#[derive(Debug, Clone)]
struct Criterion {
    negated: bool,
    kind: CriterionKind,
}

#[derive(Debug, Clone)]
enum CriterionKind {
    All,
    Final,
    Host(String),
    OriginalHost(String),
    LocalUser(String),
}

#[derive(Debug, Clone)]
enum Opt {
    HostName(String),
    User(String),
    Port(u16),
    IdentityFile(String),
    IdentitiesOnly(bool),
    ProxyJump(String),
    UserKnownHostsFile(Vec<String>),
    StrictHostKeyChecking(String),
    ConnectTimeout(u64),
}

/// A word of a line and the 1-based column it starts at.
#[derive(Debug, Clone)]
struct Tok {
    col: usize,
    text: String,
}

impl SshConfig {
    /// Reads a config file; a missing file is an empty config. Relative `Include`s are taken
    /// in `~/.ssh`, as for any user configuration.
    pub fn load(path: &Path) -> Result<SshConfig> {
        SshConfig::load_in(path, &default_ssh_dir())
    }

    /// `~/.ssh/config` (empty when there is none).
    pub fn load_default() -> Result<SshConfig> {
        match dirs::home_dir() {
            Some(home) => SshConfig::load(&home.join(".ssh").join("config")),
            None => Ok(SshConfig::default()),
        }
    }

    /// Parses config text; `path` is used in error locations.
    pub fn parse(text: &str, path: &Path) -> Result<SshConfig> {
        SshConfig::parse_in(text, path, &default_ssh_dir())
    }

    /// `load`, with relative `Include`s taken in `ssh_dir`.
    pub fn load_in(path: &Path, ssh_dir: &Path) -> Result<SshConfig> {
        load_depth(path, ssh_dir, 0)
    }

    /// `parse`, with relative `Include`s taken in `ssh_dir`.
    pub fn parse_in(text: &str, path: &Path, ssh_dir: &Path) -> Result<SshConfig> {
        parse_depth(text, path, ssh_dir, 0)
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Settings for `host`, the name as the user typed it (the inventory name or alias).
    pub fn resolve(&self, host: &str) -> HostSettings {
        self.resolve_in(host, &ResolveEnv::current())
    }

    /// `resolve` with a given local environment.
    pub fn resolve_in(&self, host: &str, env: &ResolveEnv) -> HostSettings {
        let mut acc = Acc::default();
        let mut active = true;
        self.walk(host, env, &mut active, &mut acc);
        acc.finish(host, env)
    }

    fn walk(&self, alias: &str, env: &ResolveEnv, active: &mut bool, acc: &mut Acc) {
        for item in &self.items {
            match item {
                Item::Host(patterns) => {
                    *active =
                        match_pattern_list(alias, patterns.iter().map(String::as_str)) == Some(true)
                }
                Item::Match(criteria) => {
                    *active = criteria
                        .as_ref()
                        .is_some_and(|c| match_criteria(c, alias, acc, env))
                }
                Item::Set(opt) => {
                    if *active {
                        acc.apply(opt)
                    }
                }
                Item::Include(files) => {
                    if *active {
                        for file in files {
                            file.walk(alias, env, active, acc);
                            *active = true;
                        }
                    }
                }
            }
        }
    }
}

fn match_criteria(criteria: &[Criterion], alias: &str, acc: &Acc, env: &ResolveEnv) -> bool {
    criteria.iter().all(|c| {
        let hit = match &c.kind {
            CriterionKind::All | CriterionKind::Final => true,
            CriterionKind::Host(list) => {
                let host = match &acc.hostname {
                    Some(h) => expand_tokens(h, &[('h', alias)]),
                    None => alias.to_string(),
                };
                match_pattern_list(&host, list.split(',')) == Some(true)
            }
            CriterionKind::OriginalHost(list) => {
                match_pattern_list(alias, list.split(',')) == Some(true)
            }
            CriterionKind::LocalUser(list) => {
                match_pattern_list(&env.local_user, list.split(',')) == Some(true)
            }
        };
        hit != c.negated
    })
}

/// Values obtained so far, raw (tokens are expanded once everything is known).
#[derive(Debug, Default)]
struct Acc {
    hostname: Option<String>,
    user: Option<String>,
    port: Option<u16>,
    identity_files: Vec<String>,
    identities_only: Option<bool>,
    proxy_jump: Option<String>,
    user_known_hosts_files: Option<Vec<String>>,
    strict_host_key_checking: Option<String>,
    connect_timeout: Option<u64>,
}

impl Acc {
    fn apply(&mut self, opt: &Opt) {
        fn first<T: Clone>(slot: &mut Option<T>, v: &T) {
            if slot.is_none() {
                *slot = Some(v.clone());
            }
        }
        match opt {
            Opt::HostName(v) => first(&mut self.hostname, v),
            Opt::User(v) => first(&mut self.user, v),
            Opt::Port(v) => first(&mut self.port, v),
            Opt::IdentityFile(v) => self.identity_files.push(v.clone()),
            Opt::IdentitiesOnly(v) => first(&mut self.identities_only, v),
            Opt::ProxyJump(v) => first(&mut self.proxy_jump, v),
            Opt::UserKnownHostsFile(v) => first(&mut self.user_known_hosts_files, v),
            Opt::StrictHostKeyChecking(v) => first(&mut self.strict_host_key_checking, v),
            Opt::ConnectTimeout(v) => first(&mut self.connect_timeout, v),
        }
    }

    fn finish(self, alias: &str, env: &ResolveEnv) -> HostSettings {
        let hostname = self
            .hostname
            .as_ref()
            .map(|h| expand_tokens(h, &[('h', alias)]));
        let host = hostname.clone().unwrap_or_else(|| alias.to_string());
        let port = self.port.unwrap_or(22).to_string();
        let remote_user = self.user.clone().unwrap_or_else(|| env.local_user.clone());
        let proxy_jump = self.proxy_jump.filter(|j| !j.eq_ignore_ascii_case("none"));
        let home = env.home.to_string_lossy().into_owned();
        let short_host = env.local_host.split('.').next().unwrap_or("").to_string();
        let uid = env.uid.to_string();
        let jump = proxy_jump.clone().unwrap_or_default();
        let file_tokens: [(char, &str); 11] = [
            ('h', &host),
            ('p', &port),
            ('r', &remote_user),
            ('u', &env.local_user),
            ('d', &home),
            ('n', alias),
            ('l', &env.local_host),
            ('L', &short_host),
            ('i', &uid),
            ('k', alias),
            ('j', &jump),
        ];
        let expand_path = |s: &str| -> PathBuf {
            let s = expand_tilde(s, &env.home);
            let s = expand_env(&s);
            PathBuf::from(expand_tokens(&s, &file_tokens))
        };
        let mut identity_files: Vec<PathBuf> = Vec::new();
        for f in &self.identity_files {
            let p = expand_path(f);
            if !identity_files.contains(&p) {
                identity_files.push(p);
            }
        }
        let user_known_hosts_files = match &self.user_known_hosts_files {
            Some(list) if list.len() == 1 && list[0].eq_ignore_ascii_case("none") => {
                vec![PathBuf::from("/dev/null")]
            }
            Some(list) => list.iter().map(|f| expand_path(f)).collect(),
            None => Vec::new(),
        };
        let proxy_jump = proxy_jump.map(|j| {
            expand_tokens(
                &j,
                &[
                    ('h', &host),
                    ('p', &port),
                    ('r', &remote_user),
                    ('n', alias),
                ],
            )
        });
        HostSettings {
            hostname,
            user: self.user,
            port: self.port,
            identity_files,
            identities_only: self.identities_only,
            proxy_jump,
            user_known_hosts_files,
            strict_host_key_checking: self.strict_host_key_checking,
            connect_timeout: self.connect_timeout,
        }
    }
}

fn default_ssh_dir() -> PathBuf {
    dirs::home_dir()
        .map(|h| h.join(".ssh"))
        .unwrap_or_else(|| PathBuf::from(".ssh"))
}

fn load_depth(path: &Path, ssh_dir: &Path, depth: usize) -> Result<SshConfig> {
    match std::fs::read(path) {
        Ok(bytes) => parse_depth(&String::from_utf8_lossy(&bytes), path, ssh_dir, depth),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SshConfig {
            path: path.to_path_buf(),
            items: Vec::new(),
        }),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn parse_depth(text: &str, path: &Path, ssh_dir: &Path, depth: usize) -> Result<SshConfig> {
    let mut items = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let lineno = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let Some((kw, args)) = split_line(line, lineno, path)? else {
            continue;
        };
        let p = LineCtx {
            path,
            lineno,
            end_col: line.chars().count() + 1,
            kw: &kw,
        };
        let item = match kw.text.to_ascii_lowercase().as_str() {
            "host" => {
                if args.is_empty() {
                    return Err(p
                        .err(p.end_col, "`Host` needs at least one pattern")
                        .with_help("e.g. `Host web*.example.com !web-old.example.com`"));
                }
                Item::Host(args.into_iter().map(|t| t.text).collect())
            }
            "match" => {
                if args.is_empty() {
                    return Err(p
                        .err(p.end_col, "`Match` needs criteria")
                        .with_help("e.g. `Match host *.example.com` or `Match all`"));
                }
                Item::Match(parse_match(&args).map_err(|(col, msg)| {
                    p.err(col, msg).with_help(
                        "e.g. `Match host *.example.com`, `Match originalhost web1` or `Match all`",
                    )
                })?)
            }
            "include" => {
                if args.is_empty() {
                    return Err(p
                        .err(p.end_col, "`Include` needs a file name or a glob")
                        .with_help("e.g. `Include config.d/*`"));
                }
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(p
                        .err(kw.col, "`Include` nested too deeply")
                        .with_help("does a file include itself?"));
                }
                let mut files = Vec::new();
                for arg in &args {
                    let pattern = expand_tilde(&arg.text, &home_or_root());
                    let pattern = if Path::new(&pattern).is_absolute() {
                        PathBuf::from(pattern)
                    } else {
                        ssh_dir.join(pattern)
                    };
                    let paths = glob::glob(&pattern.to_string_lossy()).map_err(|e| {
                        p.err(arg.col, format!("`{}` is not a valid glob: {e}", arg.text))
                            .with_help("`*` and `?` match any characters; close every `[`")
                    })?;
                    let mut found: Vec<PathBuf> = paths.filter_map(|r| r.ok()).collect();
                    found.sort();
                    for f in found.into_iter().filter(|f| f.is_file()) {
                        files.push(load_depth(&f, ssh_dir, depth + 1)?);
                    }
                }
                Item::Include(files)
            }
            "hostname" => Item::Set(Opt::HostName(p.one(&args)?.text.clone())),
            "user" => Item::Set(Opt::User(p.one(&args)?.text.clone())),
            "port" => {
                let t = p.one(&args)?;
                Item::Set(Opt::Port(parse_port(&t.text).ok_or_else(|| {
                    p.err(
                        t.col,
                        format!("`Port {}`: a port is a number from 1 to 65535", t.text),
                    )
                    .with_help("write e.g. `Port 2222`")
                })?))
            }
            "identityfile" => Item::Set(Opt::IdentityFile(p.one(&args)?.text.clone())),
            "identitiesonly" => {
                let t = p.one(&args)?;
                let v = match t.text.to_ascii_lowercase().as_str() {
                    "yes" | "true" => true,
                    "no" | "false" => false,
                    _ => {
                        return Err(p
                            .err(
                                t.col,
                                format!("`IdentitiesOnly {}`: yes or no expected", t.text),
                            )
                            .with_help("write `IdentitiesOnly yes` or `IdentitiesOnly no`"))
                    }
                };
                Item::Set(Opt::IdentitiesOnly(v))
            }
            "proxyjump" => Item::Set(Opt::ProxyJump(p.one(&args)?.text.clone())),
            "userknownhostsfile" => {
                if args.is_empty() {
                    return Err(p
                        .err(p.end_col, "`UserKnownHostsFile` needs a file name")
                        .with_help(
                            "e.g. `UserKnownHostsFile ~/.ssh/known_hosts_work`, or `none`",
                        ));
                }
                Item::Set(Opt::UserKnownHostsFile(
                    args.into_iter().map(|t| t.text).collect(),
                ))
            }
            "stricthostkeychecking" => {
                let t = p.one(&args)?;
                let v = match t.text.to_ascii_lowercase().as_str() {
                    "yes" | "true" => "yes",
                    "no" | "false" | "off" => "no",
                    "ask" => "ask",
                    "accept-new" => "accept-new",
                    _ => {
                        return Err(p
                            .err(
                                t.col,
                                format!("`StrictHostKeyChecking {}` is not a known value", t.text),
                            )
                            .with_help("use yes, accept-new, no (or off), or ask"))
                    }
                };
                Item::Set(Opt::StrictHostKeyChecking(v.to_string()))
            }
            "connecttimeout" => {
                let t = p.one(&args)?;
                let secs = parse_time(&t.text).ok_or_else(|| {
                    p.err(t.col, format!("`ConnectTimeout {}` is not a time", t.text))
                        .with_help("seconds, or a time like 30s, 1m30s, 2h")
                })?;
                Item::Set(Opt::ConnectTimeout(secs))
            }
            // Everything else (ServerAliveInterval, ForwardAgent, ControlMaster...) is for
            // OpenSSH's own client; muster ignores it.
            _ => continue,
        };
        items.push(item);
    }
    Ok(SshConfig {
        path: path.to_path_buf(),
        items,
    })
}

/// Where a line is, for its errors.
struct LineCtx<'a> {
    path: &'a Path,
    lineno: usize,
    end_col: usize,
    kw: &'a Tok,
}

impl LineCtx<'_> {
    fn err(&self, col: usize, msg: impl Into<String>) -> Error {
        Error::at(Location::new(self.path, self.lineno, col), msg)
    }

    /// The single argument of an option.
    fn one<'t>(&self, args: &'t [Tok]) -> Result<&'t Tok> {
        match args {
            [one] => Ok(one),
            [] => Err(self
                .err(self.end_col, format!("`{}` needs a value", self.kw.text))
                .with_help(format!("write `{} VALUE`", self.kw.text))),
            [_, extra, ..] => Err(self
                .err(extra.col, format!("`{}` takes one value", self.kw.text))
                .with_help("quote a value that contains spaces: \"like this\"")),
        }
    }
}

/// `Match` criteria; `Ok(None)` when one is a criterion muster does not evaluate (the block
/// then never applies), an error (column, message) when a criterion lacks its argument.
fn parse_match(args: &[Tok]) -> std::result::Result<Option<Vec<Criterion>>, (usize, String)> {
    let mut out = Vec::new();
    let mut supported = true;
    let mut i = 0;
    while i < args.len() {
        let word = args[i].text.as_str();
        let (negated, name) = match word.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, word),
        };
        let name = name.to_ascii_lowercase();
        let kind = match name.as_str() {
            "all" => CriterionKind::All,
            "final" => CriterionKind::Final,
            "canonical" => {
                supported = false;
                CriterionKind::Final
            }
            "host" | "originalhost" | "localuser" | "exec" | "user" | "localnetwork" | "tagged"
            | "command" | "version" | "sessiontype" => {
                let Some(arg) = args.get(i + 1) else {
                    let end = args[i].col + args[i].text.chars().count();
                    return Err((end, format!("`Match {word}` needs an argument")));
                };
                let list = arg.text.clone();
                i += 1;
                match name.as_str() {
                    "host" => CriterionKind::Host(list),
                    "originalhost" => CriterionKind::OriginalHost(list),
                    "localuser" => CriterionKind::LocalUser(list),
                    _ => {
                        supported = false;
                        CriterionKind::Final
                    }
                }
            }
            _ => {
                // Not a criterion OpenSSH knows either: it refuses the file.
                return Err((args[i].col, format!("`{word}` is not a `Match` criterion")));
            }
        };
        out.push(Criterion { negated, kind });
        i += 1;
    }
    Ok(supported.then_some(out))
}

/// Splits a line into its keyword and arguments as OpenSSH does (`Key value`, `Key=value`,
/// quotes, backslash escapes, `#` comments). None for blank and comment lines.
fn split_line(line: &str, lineno: usize, path: &Path) -> Result<Option<(Tok, Vec<Tok>)>> {
    let chars: Vec<char> = line.chars().collect();
    let ws = |c: char| c == ' ' || c == '\t';
    let mut i = 0;
    while i < chars.len() && ws(chars[i]) {
        i += 1;
    }
    if i == chars.len() || chars[i] == '#' {
        return Ok(None);
    }
    let kw_start = i;
    while i < chars.len() && !ws(chars[i]) && chars[i] != '=' {
        i += 1;
    }
    let kw = Tok {
        col: kw_start + 1,
        text: chars[kw_start..i].iter().collect(),
    };
    while i < chars.len() && ws(chars[i]) {
        i += 1;
    }
    if i < chars.len() && chars[i] == '=' {
        i += 1;
    }
    let mut args = Vec::new();
    loop {
        while i < chars.len() && ws(chars[i]) {
            i += 1;
        }
        if i == chars.len() || chars[i] == '#' {
            break;
        }
        let col = i + 1;
        let mut text = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            if quote.is_none() && ws(c) {
                break;
            }
            let next = chars.get(i + 1).copied();
            let escapes = match next {
                Some('\\' | '"' | '\'') => true,
                Some(' ') => quote.is_none(),
                _ => false,
            };
            if c == '\\' && escapes {
                text.push(next.unwrap_or('\\'));
                i += 2;
            } else if quote.is_none() && (c == '"' || c == '\'') {
                quote = Some(c);
                i += 1;
            } else if quote == Some(c) {
                quote = None;
                i += 1;
            } else {
                text.push(c);
                i += 1;
            }
        }
        if let Some(q) = quote {
            return Err(Error::at(
                Location::new(path, lineno, col),
                format!("unterminated {q} quote"),
            )
            .with_help(format!("close the quote with {q}")));
        }
        args.push(Tok { col, text });
    }
    Ok(Some((kw, args)))
}

fn parse_port(s: &str) -> Option<u16> {
    if s.eq_ignore_ascii_case("ssh") {
        return Some(22);
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|&p| p != 0)
}

/// OpenSSH's time format: seconds, or groups like `1h30m` (units s m h d w, any case).
fn parse_time(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mult = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(mult)?)?;
        num.clear();
    }
    if !num.is_empty() {
        total = total.checked_add(num.parse().ok()?)?;
    }
    Some(total)
}

/// `%x` tokens; `%%` is a percent sign; unknown tokens are left as written.
fn expand_tokens(s: &str, tokens: &[(char, &str)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) => match tokens.iter().find(|(k, _)| *k == t) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push('%');
                    out.push(t);
                }
            },
            None => out.push('%'),
        }
    }
    out
}

/// `${NAME}` from the environment; unset variables are left as written.
fn expand_env(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        let name = &rest[start + 2..start + 2 + len];
        out.push_str(&rest[..start]);
        match std::env::var(name) {
            Ok(v) if !name.is_empty() => out.push_str(&v),
            _ => out.push_str(&rest[start..start + 3 + len]),
        }
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    out
}

/// A leading `~` or `~/` is the home directory (`~user` is left as written).
fn expand_tilde(s: &str, home: &Path) -> String {
    if s == "~" {
        return home.to_string_lossy().into_owned();
    }
    match s.strip_prefix("~/") {
        Some(rest) => home.join(rest).to_string_lossy().into_owned(),
        None => s.to_string(),
    }
}

fn home_or_root() -> PathBuf {
    dirs::home_dir().unwrap_or_else(|| PathBuf::from("/"))
}

#[cfg(unix)]
fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(not(unix))]
fn uid() -> u32 {
    0
}

fn local_user() -> String {
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return v;
            }
        }
    }
    passwd_name().unwrap_or_default()
}

#[cfg(unix)]
fn passwd_name() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: passwd is plain data; getpwuid_r writes into pwd and buf (of the given length)
    // and sets result to &pwd or null; pw_name then points into buf, alive in this scope.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

#[cfg(not(unix))]
fn passwd_name() -> Option<String> {
    None
}

#[cfg(unix)]
fn local_host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(not(unix))]
fn local_host() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> ResolveEnv {
        ResolveEnv {
            home: PathBuf::from("/home/me"),
            local_user: "me".into(),
            local_host: "laptop.corp.example".into(),
            uid: 1000,
        }
    }

    fn cfg(text: &str) -> SshConfig {
        SshConfig::parse_in(text, Path::new("config"), Path::new("/nonexistent/.ssh")).unwrap()
    }

    fn err_at(text: &str) -> (usize, usize, String) {
        match SshConfig::parse_in(text, Path::new("config"), Path::new("/nonexistent")) {
            Err(Error::Input {
                loc: Some(loc),
                msg,
                ..
            }) => (loc.line, loc.col, msg),
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    const REALISTIC: &str = r#"# ~/.ssh/config
ServerAliveInterval 30
AddKeysToAgent yes

Host bastion
    HostName bastion.example.com
    User ops
    IdentityFile ~/.ssh/bastion_ed25519
    IdentitiesOnly yes

Host web? web-*.prod !web-canary.prod
    HostName %h.internal.example.com
    ProxyJump bastion
    Port 2222

Host db
    HostName=10.0.0.5
    User "db admin"   # a quoted user with a space
    Port = 5522
    ProxyJump none

Host *.example.com
    User deploy
    ForwardAgent no

Host *
    User fallback
    ProxyJump jump.example.com
    IdentityFile ~/.ssh/id_ed25519
    IdentityFile %d/.ssh/id_%r@%h:%p
    IdentitiesOnly no
    StrictHostKeyChecking accept-new
    ConnectTimeout 1m30s
    UserKnownHostsFile ~/.ssh/known_hosts ~/.ssh/known_hosts2
"#;

    #[test]
    fn realistic_config() {
        let c = cfg(REALISTIC);
        let e = env();
        let b = c.resolve_in("bastion", &e);
        assert_eq!(b.hostname.as_deref(), Some("bastion.example.com"));
        assert_eq!(b.user.as_deref(), Some("ops"));
        assert_eq!(b.port, None);
        assert_eq!(
            b.identity_files,
            paths(&[
                "/home/me/.ssh/bastion_ed25519",
                "/home/me/.ssh/id_ed25519",
                "/home/me/.ssh/id_ops@bastion.example.com:22",
            ])
        );
        assert_eq!(b.identities_only, Some(true));
        assert_eq!(b.proxy_jump.as_deref(), Some("jump.example.com"));
        assert_eq!(b.strict_host_key_checking.as_deref(), Some("accept-new"));
        assert_eq!(b.connect_timeout, Some(90));
        assert_eq!(
            b.user_known_hosts_files,
            paths(&["/home/me/.ssh/known_hosts", "/home/me/.ssh/known_hosts2"])
        );

        let w = c.resolve_in("web1", &e);
        assert_eq!(w.hostname.as_deref(), Some("web1.internal.example.com"));
        assert_eq!(w.port, Some(2222));
        assert_eq!(w.proxy_jump.as_deref(), Some("bastion"));
        assert_eq!(w.user.as_deref(), Some("fallback"));
        assert_eq!(w.identities_only, Some(false));
        assert_eq!(
            w.identity_files,
            paths(&[
                "/home/me/.ssh/id_ed25519",
                "/home/me/.ssh/id_fallback@web1.internal.example.com:2222",
            ])
        );

        let p = c.resolve_in("web-3.prod", &e);
        assert_eq!(p.port, Some(2222));
        // Negation: the canary is excluded from the web block.
        let canary = c.resolve_in("web-canary.prod", &e);
        assert_eq!(canary.port, None);
        assert_eq!(canary.hostname, None);
        assert_eq!(canary.proxy_jump.as_deref(), Some("jump.example.com"));

        let d = c.resolve_in("db", &e);
        assert_eq!(d.hostname.as_deref(), Some("10.0.0.5"));
        assert_eq!(d.user.as_deref(), Some("db admin"));
        assert_eq!(d.port, Some(5522));
        assert_eq!(
            d.proxy_jump, None,
            "ProxyJump none wins over the later default"
        );

        let x = c.resolve_in("app.example.com", &e);
        assert_eq!(x.user.as_deref(), Some("deploy"));
        assert_eq!(x.hostname, None);

        // Keywords and patterns ignore case; an unknown host gets the defaults.
        let u = c.resolve_in("WEB2", &e);
        assert_eq!(u.port, Some(2222));
        let n = c.resolve_in("nothing-special", &e);
        assert_eq!(n.user.as_deref(), Some("fallback"));
        assert_eq!(
            n.identity_files,
            paths(&[
                "/home/me/.ssh/id_ed25519",
                "/home/me/.ssh/id_fallback@nothing-special:22",
            ])
        );
    }

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let c = cfg("Host a\n  USER alice\n  identityfile /k/a\nhost *\n  User bob\n  Port 1\n  IdentityFile /k/all\n  IdentityFile /k/a\nHost a\n  Port 2\n");
        let s = c.resolve_in("a", &env());
        assert_eq!(s.user.as_deref(), Some("alice"));
        assert_eq!(s.port, Some(1));
        assert_eq!(s.identity_files, paths(&["/k/a", "/k/all"]));
        assert_eq!(c.resolve_in("b", &env()).user.as_deref(), Some("bob"));
    }

    #[test]
    fn settings_before_any_host_apply_to_all() {
        let c = cfg("User early\nHost a\n  User late\n");
        assert_eq!(c.resolve_in("a", &env()).user.as_deref(), Some("early"));
    }

    #[test]
    fn negation_and_wildcards() {
        let c = cfg("Host !*.lan *\n  User world\nHost *.lan !printer?.lan\n  User lan\n");
        // x.lan is excluded from the first block, not from the second.
        assert_eq!(c.resolve_in("x.lan", &env()).user.as_deref(), Some("lan"));
        assert_eq!(c.resolve_in("x.com", &env()).user.as_deref(), Some("world"));
        assert_eq!(c.resolve_in("printer1.lan", &env()).user, None);
        assert_eq!(
            c.resolve_in("printer12.lan", &env()).user.as_deref(),
            Some("lan")
        );
    }

    #[test]
    fn match_blocks() {
        let text = "\
Host short
  HostName real.example.com
Match host *.example.com
  User via-hostname
Match originalhost other
  User via-original
Match exec \"test -e /tmp\" host *
  Port 1111
Match user root
  Port 1112
Match !host *.example.com originalhost o*
  Port 2222
Match canonical all
  Port 3333
Match final host *.example.com
  ConnectTimeout 5
Match localuser me,you
  IdentitiesOnly yes
Match all
  Port 4444
";
        let c = cfg(text);
        let s = c.resolve_in("short", &env());
        assert_eq!(s.user.as_deref(), Some("via-hostname"));
        assert_eq!(s.port, Some(4444));
        assert_eq!(s.connect_timeout, Some(5));
        assert_eq!(s.identities_only, Some(true));
        let o = c.resolve_in("other", &env());
        assert_eq!(o.user.as_deref(), Some("via-original"));
        assert_eq!(o.port, Some(2222));
        assert_eq!(o.connect_timeout, None);
        let d = c.resolve_in("direct.example.com", &env());
        assert_eq!(d.user.as_deref(), Some("via-hostname"));
        let mut stranger = env();
        stranger.local_user = "them".into();
        assert_eq!(c.resolve_in("short", &stranger).identities_only, None);
    }

    #[test]
    fn tokens() {
        let c = cfg("\
Host t
  HostName %h.example.com
  User remote
  Port 2200
  IdentityFile ~/keys/%u-%r@%h-%p
  IdentityFile %d/keys/%n/%l/%L/%i/100%%
  IdentityFile /abs/%x/${MUSTER_TEST_UNSET_VAR}/${HOME}
  ProxyJump jump-for-%n
  UserKnownHostsFile %d/.ssh/kh_%h ~/kh2
Host none-kh
  UserKnownHostsFile none
");
        let s = c.resolve_in("t", &env());
        assert_eq!(s.hostname.as_deref(), Some("t.example.com"));
        let home = std::env::var("HOME").unwrap_or_else(|_| "${HOME}".into());
        assert_eq!(
            s.identity_files,
            vec![
                PathBuf::from("/home/me/keys/me-remote@t.example.com-2200"),
                PathBuf::from("/home/me/keys/t/laptop.corp.example/laptop/1000/100%"),
                PathBuf::from(format!("/abs/%x/${{MUSTER_TEST_UNSET_VAR}}/{home}")),
            ]
        );
        assert_eq!(s.proxy_jump.as_deref(), Some("jump-for-t"));
        assert_eq!(
            s.user_known_hosts_files,
            paths(&["/home/me/.ssh/kh_t.example.com", "/home/me/kh2"])
        );
        assert_eq!(
            c.resolve_in("none-kh", &env()).user_known_hosts_files,
            paths(&["/dev/null"])
        );
    }

    #[test]
    fn quoting_equals_and_comments() {
        let c = cfg("Host \"q h\" plain\n\tIdentityFile=\"/path with/spaces\" # trailing\n  Hostname   =   x.example.com\n  User a\\ b\n# whole comment\n   \n");
        let s = c.resolve_in("q h", &env());
        assert_eq!(s.identity_files, paths(&["/path with/spaces"]));
        assert_eq!(s.hostname.as_deref(), Some("x.example.com"));
        assert_eq!(s.user.as_deref(), Some("a b"));
        assert_eq!(
            c.resolve_in("plain", &env()).hostname.as_deref(),
            Some("x.example.com")
        );
        let (l, c2, m) = err_at("Host a\n  User \"unterminated\n");
        assert_eq!((l, c2), (2, 8), "{m}");
    }

    #[test]
    fn unknown_keywords_are_ignored() {
        let c = cfg("Host a\n  ControlMaster auto\n  ControlPath ~/.ssh/cm-%C\n  NoSuchOption 1 2 3\n  User u\n");
        assert_eq!(c.resolve_in("a", &env()).user.as_deref(), Some("u"));
    }

    #[test]
    fn bad_values_are_errors_at_their_column() {
        let (l, c, m) = err_at("Host a\n  Port abc\n");
        assert_eq!((l, c), (2, 8), "{m}");
        assert!(m.contains("1 to 65535"), "{m}");
        let (l, c, _) = err_at("Host a\n\tPort=0\n");
        assert_eq!((l, c), (2, 7));
        let (l, c, _) = err_at("# c\n\nHost b\n  Port 70000\n");
        assert_eq!((l, c), (4, 8));
        let (l, c, _) = err_at("Port\n");
        assert_eq!((l, c), (1, 5));
        let (l, c, _) = err_at("Port 22 23\n");
        assert_eq!((l, c), (1, 9));
        let (l, c, _) = err_at("IdentitiesOnly maybe\n");
        assert_eq!((l, c), (1, 16));
        let (l, c, _) = err_at("StrictHostKeyChecking sometimes\n");
        assert_eq!((l, c), (1, 23));
        let (l, c, _) = err_at("ConnectTimeout 10x\n");
        assert_eq!((l, c), (1, 16));
        let (l, c, _) = err_at("Host\n");
        assert_eq!((l, c), (1, 5));
        // Errors are found in blocks that do not apply too, as OpenSSH does.
        assert_eq!(err_at("Host never\n  Port -1\n").0, 2);
        // Port ssh is Port 22; values are normalised.
        let c = cfg("Port ssh\nStrictHostKeyChecking off\nConnectTimeout 10\n");
        let s = c.resolve_in("x", &env());
        assert_eq!(s.port, Some(22));
        assert_eq!(s.strict_host_key_checking.as_deref(), Some("no"));
        assert_eq!(s.connect_timeout, Some(10));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("45"), Some(45));
        assert_eq!(parse_time("1h30m"), Some(5400));
        assert_eq!(
            parse_time("1W2d3H4M5S"),
            Some(604_800 + 172_800 + 10_800 + 240 + 5)
        );
        assert_eq!(parse_time(""), None);
        assert_eq!(parse_time("m"), None);
        assert_eq!(parse_time("-1"), None);
    }

    #[test]
    fn include_with_globs_relative_to_ssh_dir() {
        let d = tempfile::tempdir().unwrap();
        let ssh = d.path().join(".ssh");
        std::fs::create_dir_all(ssh.join("conf.d")).unwrap();
        // Ends inside a block that matches nothing: that must not leak into config.
        std::fs::write(
            ssh.join("conf.d/20-b.conf"),
            "Host *\n  Port 2020\nHost b\n  User from-b\nHost nomatch\n",
        )
        .unwrap();
        std::fs::write(ssh.join("conf.d/10-a.conf"), "Host a b\n  User from-a\n").unwrap();
        std::fs::write(ssh.join("conf.d/ignored.txt"), "User nope\n").unwrap();
        std::fs::write(ssh.join("only-for-c"), "User from-c-include\n  Port 3030\n").unwrap();
        let abs = d.path().join("abs.conf");
        std::fs::write(&abs, "IdentityFile /abs/key\n").unwrap();
        let main = ssh.join("config");
        std::fs::write(
            &main,
            format!(
                "Include conf.d/*.conf {}\nHost c\n  Include only-for-c\n  IdentityFile /c/key\nHost *\n  User last\n",
                abs.display()
            ),
        )
        .unwrap();
        let c = SshConfig::load_in(&main, &ssh).unwrap();
        assert_eq!(c.path(), main.as_path());
        // 10-a.conf before 20-b.conf: first value wins.
        let b = c.resolve_in("b", &env());
        assert_eq!(b.user.as_deref(), Some("from-a"));
        assert_eq!(b.port, Some(2020));
        assert_eq!(b.identity_files, paths(&["/abs/key"]));
        // `Host *` inside the included file does not leak out of it: `abs.conf`, included
        // after it on the same line, applies to every host.
        let z = c.resolve_in("z", &env());
        assert_eq!(z.identity_files, paths(&["/abs/key"]));
        assert_eq!(z.user.as_deref(), Some("last"));
        // An Include inside a Host block applies only to that host, and the block goes on.
        let cc = c.resolve_in("c", &env());
        assert_eq!(cc.user.as_deref(), Some("from-c-include"));
        assert_eq!(cc.port, Some(2020));
        assert_eq!(cc.identity_files, paths(&["/abs/key", "/c/key"]));
        assert_eq!(c.resolve_in("a", &env()).port, Some(2020));
    }

    #[test]
    fn include_errors_carry_the_included_file() {
        let d = tempfile::tempdir().unwrap();
        let inc = d.path().join("bad.conf");
        std::fs::write(&inc, "Host x\n  Port nope\n").unwrap();
        let main = d.path().join("config");
        std::fs::write(&main, "Include bad.conf\n").unwrap();
        match SshConfig::load_in(&main, d.path()) {
            Err(Error::Input { loc: Some(loc), .. }) => {
                assert_eq!(loc, Location::new(&inc, 2, 8));
            }
            other => panic!("{other:?}"),
        }
        // A file that includes itself stops at the depth limit with an error.
        std::fs::write(&main, "Include config\n").unwrap();
        assert!(SshConfig::load_in(&main, d.path()).is_err());
        // A glob that matches nothing is fine.
        std::fs::write(&main, "Include nothing-here/*\nUser u\n").unwrap();
        let c = SshConfig::load_in(&main, d.path()).unwrap();
        assert_eq!(c.resolve_in("h", &env()).user.as_deref(), Some("u"));
    }

    #[test]
    fn missing_file_is_empty() {
        let d = tempfile::tempdir().unwrap();
        let c = SshConfig::load(&d.path().join("none")).unwrap();
        assert_eq!(c.resolve_in("h", &env()), HostSettings::default());
    }

    #[test]
    fn current_env_is_filled() {
        let e = ResolveEnv::current();
        assert!(!e.local_user.is_empty());
        assert!(e.home.is_absolute());
    }
}
