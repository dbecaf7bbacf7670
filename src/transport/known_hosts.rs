//! OpenSSH `known_hosts` files, read and checked the way `ssh` does it.
//!
//! russh's own check knows no wildcards, `@cert-authority` or `@revoked` lines, and takes a host
//! known under another key type for an unknown one; this module is muster's replacement.
//!
//! A line is `[marker] hostpatterns keytype base64key [comment]`:
//! - host patterns are comma-separated, with `*` and `?` wildcards and `!` negation (a negated
//!   match excludes the host even when another pattern matches); for a port other than 22 the
//!   name looked up is `[host]:port`, so patterns can be written `[host]:port` or
//!   `[*.example.com]:2222`; matching ignores ASCII case;
//! - a hashed entry `|1|salt|hmac` stands for one name: HMAC-SHA1 keyed with the salt over the
//!   looked-up name;
//! - `@cert-authority` trusts a CA for the matching hosts (its key is never a host key itself);
//! - `@revoked` refuses the key, whatever host offers it (OpenSSH applies the line only to the
//!   hosts its patterns match; a revoked key is a compromised key, so muster is stricter);
//! - blank lines and `#` comments are skipped, and so are lines with a key type this build does
//!   not know (as OpenSSH does); a key that does not decode, or is not of the type the line
//!   states, is an error at its file:line:col.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::prelude::{Engine as _, BASE64_STANDARD};
use hmac::{KeyInit, Mac};
use russh::keys::ssh_key::public::KeyData;
use russh::keys::{Algorithm, Certificate, HashAlg, PublicKey};

use crate::error::{Error, Location, Result};

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// Length of the salt and of the digest in a hashed (`|1|`) host entry.
const SHA1_LEN: usize = 20;

/// What a known_hosts file says about the key a host offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A plain, hashed or wildcard entry for the host holds the same key.
    Trusted { line: usize },
    /// An `@cert-authority` line for the host names the CA that signed the host certificate,
    /// and the certificate is a host certificate valid now and for this host.
    TrustedByCa { line: usize },
    /// No entry for this host at all.
    Unknown,
    /// The host has entries and none holds the offered key (this includes a host known only
    /// under another key type). `line` is an entry of the offered key's type when there is one.
    Changed { line: usize, known_type: String },
    /// The offered key (or the CA that signed it) is listed `@revoked`.
    Revoked { line: usize },
}

/// A parsed known_hosts file.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    path: PathBuf,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    CertAuthority,
    Revoked,
}

#[derive(Debug, Clone)]
enum Hosts {
    /// `|1|salt|hmac`
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    /// Comma-separated patterns, lower-cased.
    Patterns(String),
}

#[derive(Debug, Clone)]
struct Entry {
    line: usize,
    marker: Marker,
    hosts: Hosts,
    key_type: String,
    key: KeyData,
}

impl Entry {
    fn matches(&self, name: &str) -> bool {
        match &self.hosts {
            Hosts::Hashed { salt, hash } => {
                let Ok(mut mac) = <HmacSha1 as KeyInit>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            Hosts::Patterns(list) => match_pattern_list(name, list.split(',')) == Some(true),
        }
    }
}

impl KnownHosts {
    /// Reads a known_hosts file; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<KnownHosts> {
        match std::fs::read(path) {
            Ok(bytes) => KnownHosts::parse(&String::from_utf8_lossy(&bytes), path),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(KnownHosts::empty(path)),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// An empty file at `path` (what `load` gives when the file does not exist).
    pub fn empty(path: &Path) -> KnownHosts {
        KnownHosts {
            path: path.to_path_buf(),
            entries: Vec::new(),
        }
    }

    /// Parses known_hosts text; `path` is used in error locations and returned by `path()`.
    pub fn parse(text: &str, path: &Path) -> Result<KnownHosts> {
        let mut entries = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if let Some(entry) = parse_line(line, i + 1, path)? {
                entries.push(entry);
            }
        }
        Ok(KnownHosts {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of usable entries (comments, blank lines and unknown key types left out).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks a plain host key offered by `host` on `port`.
    pub fn check(&self, host: &str, port: u16, offered: &PublicKey) -> Verdict {
        if let Some(line) = self.revoked_line(offered.key_data()) {
            return Verdict::Revoked { line };
        }
        let name = lookup_name(host, port);
        let mut same_type: Option<&Entry> = None;
        let mut other: Option<&Entry> = None;
        for e in self
            .entries
            .iter()
            .filter(|e| e.marker == Marker::None && e.matches(&name))
        {
            if e.key == *offered.key_data() {
                return Verdict::Trusted { line: e.line };
            }
            if same_type.is_none() && e.key.algorithm() == offered.algorithm() {
                same_type = Some(e);
            }
            if other.is_none() {
                other = Some(e);
            }
        }
        match same_type.or(other) {
            Some(e) => Verdict::Changed {
                line: e.line,
                known_type: e.key_type.clone(),
            },
            None => Verdict::Unknown,
        }
    }

    /// Checks a host certificate offered by `host` on `port`, at the current time.
    ///
    /// As OpenSSH does, a certificate that no `@cert-authority` line vouches for is checked
    /// again as the plain key it certifies.
    pub fn check_cert(&self, host: &str, port: u16, cert: &Certificate) -> Verdict {
        self.check_cert_at(host, port, cert, unix_now())
    }

    /// `check_cert` at a given time (seconds since the Unix epoch).
    pub fn check_cert_at(&self, host: &str, port: u16, cert: &Certificate, now: u64) -> Verdict {
        self.check_cert_detailed(host, port, cert, now).0
    }

    /// Why the `@cert-authority` lines for this host did not vouch for the certificate, when
    /// one of them names its CA: the line and a sentence for a person (expired, wrong host...).
    /// None when a CA line accepted it, or when no CA line names its signer.
    pub fn cert_problem(
        &self,
        host: &str,
        port: u16,
        cert: &Certificate,
        now: u64,
    ) -> Option<(usize, String)> {
        self.check_cert_detailed(host, port, cert, now).1
    }

    fn check_cert_detailed(
        &self,
        host: &str,
        port: u16,
        cert: &Certificate,
        now: u64,
    ) -> (Verdict, Option<(usize, String)>) {
        let ca = cert.signature_key();
        if let Some(line) = self
            .revoked_line(ca)
            .or_else(|| self.revoked_line(cert.public_key()))
        {
            return (Verdict::Revoked { line }, None);
        }
        let name = lookup_name(host, port);
        let mut problem = None;
        for e in self
            .entries
            .iter()
            .filter(|e| e.marker == Marker::CertAuthority && e.key == *ca && e.matches(&name))
        {
            match validate_host_cert(cert, host, now) {
                Ok(()) => return (Verdict::TrustedByCa { line: e.line }, None),
                Err(why) => {
                    if problem.is_none() {
                        problem = Some((e.line, why));
                    }
                }
            }
        }
        let plain = PublicKey::new(cert.public_key().clone(), "");
        (self.check(host, port, &plain), problem)
    }

    /// Key types already known for the host (plain entries, in file order, without repeats),
    /// so the client can ask for those host key algorithms first, as OpenSSH does.
    pub fn key_types_for(&self, host: &str, port: u16) -> Vec<Algorithm> {
        let name = lookup_name(host, port);
        let mut out: Vec<Algorithm> = Vec::new();
        for e in self
            .entries
            .iter()
            .filter(|e| e.marker == Marker::None && e.matches(&name))
        {
            let alg = e.key.algorithm();
            if !out.contains(&alg) {
                out.push(alg);
            }
        }
        out
    }

    /// Whether an `@cert-authority` line applies to the host (then the client should prefer
    /// certificate host key algorithms).
    pub fn has_cert_authority_for(&self, host: &str, port: u16) -> bool {
        let name = lookup_name(host, port);
        self.entries
            .iter()
            .any(|e| e.marker == Marker::CertAuthority && e.matches(&name))
    }

    fn revoked_line(&self, key: &KeyData) -> Option<usize> {
        self.entries
            .iter()
            .find(|e| e.marker == Marker::Revoked && e.key == *key)
            .map(|e| e.line)
    }
}

/// The name a host is filed under: `host` on port 22, `[host]:port` otherwise, lower-cased.
pub fn lookup_name(host: &str, port: u16) -> String {
    let mut h = host.to_ascii_lowercase();
    if h.len() > 2 && h.starts_with('[') && h.ends_with(']') {
        h = h[1..h.len() - 1].to_string();
    }
    if port == 22 || port == 0 {
        h
    } else {
        format!("[{h}]:{port}")
    }
}

/// Appends `host keytype base64key` for a newly accepted key (accept-new) and returns the
/// line number written. Creates the parent directory (0700) and the file (0600) when missing.
/// The host is written as `host` for port 22 and `[host]:port` otherwise; the whole line goes
/// out in one write on a file opened for appending, after a newline when the file lacks one.
pub fn append(path: &Path, host: &str, port: u16, key: &PublicKey) -> Result<usize> {
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c == ',' || c == '#' || c.is_control())
    {
        return Err(Error::input(format!(
            "cannot record a host key for `{host}`: not a host name"
        )));
    }
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(parent).map_err(|e| Error::io(parent, e))?;
        }
    }
    let mut opts = OpenOptions::new();
    opts.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(|e| Error::io(path, e))?;
    let mut existing = Vec::new();
    file.read_to_end(&mut existing)
        .map_err(|e| Error::io(path, e))?;
    let mut lines = existing.iter().filter(|&&b| b == b'\n').count();
    let mut text = String::new();
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        lines += 1;
        text.push('\n');
    }
    let blob = key
        .to_bytes()
        .map_err(|e| Error::input(format!("cannot encode the host key of `{host}`: {e}")))?;
    text.push_str(&format!(
        "{} {} {}\n",
        lookup_name(host, port),
        key.algorithm().as_str(),
        BASE64_STANDARD.encode(blob)
    ));
    file.write_all(text.as_bytes())
        .map_err(|e| Error::io(path, e))?;
    Ok(lines + 1)
}

/// The SHA-256 fingerprint as `ssh-keygen -l` prints it: `SHA256:` and unpadded base64.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// OpenSSH's `match_pattern`: `*` is any run of characters, `?` any one character.
/// The caller lower-cases both sides when matching ignores case.
pub fn match_pattern(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let (mut ti, mut pi) = (0usize, 0usize);
    // Where the last `*` was seen, and the text position it currently stands for.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` swallow one more character and try again.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// OpenSSH's `match_pattern_list`, ignoring ASCII case: `Some(true)` when a pattern matches
/// and no negated one does, `Some(false)` when a negated pattern (`!pat`) matches, `None`
/// when nothing matches.
pub fn match_pattern_list<'a>(
    text: &str,
    patterns: impl IntoIterator<Item = &'a str>,
) -> Option<bool> {
    let text = text.to_ascii_lowercase();
    let mut positive = false;
    for pat in patterns {
        let pat = pat.trim();
        if pat.is_empty() {
            continue;
        }
        let (negated, pat) = match pat.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pat),
        };
        if match_pattern(&text, &pat.to_ascii_lowercase()) {
            if negated {
                return Some(false);
            }
            positive = true;
        }
    }
    positive.then_some(true)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What OpenSSH requires of a host certificate besides a trusted signer.
fn validate_host_cert(cert: &Certificate, host: &str, now: u64) -> std::result::Result<(), String> {
    if !cert.cert_type().is_host() {
        return Err(format!(
            "certificate `{}` is a user certificate, not a host certificate",
            cert.key_id()
        ));
    }
    if now < cert.valid_after() {
        return Err(format!(
            "certificate `{}` is not valid before {}",
            cert.key_id(),
            utc(cert.valid_after())
        ));
    }
    if now >= cert.valid_before() {
        return Err(format!(
            "certificate `{}` expired at {}",
            cert.key_id(),
            utc(cert.valid_before())
        ));
    }
    let ca_fp = cert.signature_key().fingerprint(HashAlg::Sha256);
    if cert.validate_at(now, [&ca_fp]).is_err() {
        return Err(format!(
            "certificate `{}` carries a signature that does not verify",
            cert.key_id()
        ));
    }
    let principals = cert.valid_principals();
    if !principals.is_empty() {
        let name = host.trim_start_matches('[').trim_end_matches(']');
        let name = name.to_ascii_lowercase();
        if !principals
            .iter()
            .any(|p| match_pattern(&name, &p.to_ascii_lowercase()))
        {
            return Err(format!(
                "certificate `{}` is valid for {}, not for `{name}`",
                cert.key_id(),
                principals.join(", ")
            ));
        }
    }
    if !cert.critical_options().is_empty() {
        let names: Vec<&str> = cert.critical_options().keys().map(|k| k.as_str()).collect();
        return Err(format!(
            "certificate `{}` carries critical options ({}) that host certificates must not have",
            cert.key_id(),
            names.join(", ")
        ));
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a Unix time (`forever` for the largest one).
fn utc(ts: u64) -> String {
    if ts >= i64::MAX as u64 {
        return "forever".to_string();
    }
    let days = (ts / 86_400) as i64;
    let secs = ts % 86_400;
    // Civil date from days since 1970-01-01, counting in 400-year eras from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Whitespace-separated fields of a line, each with its 1-based column.
fn fields(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte offset, column)
    let mut col = 0;
    for (i, c) in line.char_indices() {
        col += 1;
        if c == ' ' || c == '\t' {
            if let Some((s, scol)) = start.take() {
                out.push((scol, &line[s..i]));
            }
        } else if start.is_none() {
            start = Some((i, col));
        }
    }
    if let Some((s, scol)) = start {
        out.push((scol, &line[s..]));
    }
    out
}

const FORMAT_HELP: &str = "a known_hosts line reads `[@cert-authority|@revoked] host1,host2 \
keytype base64key [comment]`, as `ssh-keyscan HOST` prints it; fix or delete the line \
(`ssh-keygen -R HOST -f FILE` removes a host's lines)";

fn parse_line(line: &str, lineno: usize, path: &Path) -> Result<Option<Entry>> {
    let f = fields(line);
    let Some(&(first_col, first)) = f.first() else {
        return Ok(None);
    };
    if first.starts_with('#') {
        return Ok(None);
    }
    let at = |col: usize, msg: String| {
        Error::at(Location::new(path, lineno, col), msg).with_help(FORMAT_HELP)
    };
    let end_col = line.chars().count() + 1;
    let (marker, rest) = if first.starts_with('@') {
        let marker = match first.to_ascii_lowercase().as_str() {
            "@cert-authority" => Marker::CertAuthority,
            "@revoked" => Marker::Revoked,
            _ => {
                return Err(at(
                    first_col,
                    format!(
                        "unknown marker `{first}`: known_hosts knows `@cert-authority` and \
                         `@revoked`"
                    ),
                ))
            }
        };
        (marker, &f[1..])
    } else {
        (Marker::None, &f[..])
    };
    let Some(&(hosts_col, hosts_text)) = rest.first() else {
        return Err(at(
            end_col,
            "host patterns expected after the marker".to_string(),
        ));
    };
    let Some(&(type_col, key_type)) = rest.get(1) else {
        return Err(at(
            end_col,
            format!("a key type and a key are expected after `{hosts_text}`"),
        ));
    };
    let alg = match Algorithm::new(key_type) {
        Ok(Algorithm::Other(_)) | Err(_) => return Ok(None), // unknown key type: skipped, as OpenSSH does
        Ok(alg) => alg,
    };
    let Some(&(key_col, key_b64)) = rest.get(2) else {
        return Err(at(
            end_col,
            format!("the base64 {key_type} key is missing after the key type"),
        ));
    };
    let hosts = parse_hosts(hosts_text).map_err(|msg| at(hosts_col, msg))?;
    let blob = BASE64_STANDARD
        .decode(key_b64)
        .map_err(|e| at(key_col, format!("the key is not valid base64 ({e})")))?;
    let key = PublicKey::from_bytes(&blob).map_err(|e| {
        at(
            key_col,
            format!("the key does not decode as an SSH public key ({e})"),
        )
    })?;
    if key.algorithm().as_str() != alg.as_str() {
        return Err(at(
            type_col,
            format!(
                "the line says `{key_type}` but the key is a `{}` key",
                key.algorithm().as_str()
            ),
        ));
    }
    Ok(Some(Entry {
        line: lineno,
        marker,
        hosts,
        key_type: key_type.to_string(),
        key: key.key_data().clone(),
    }))
}

fn parse_hosts(text: &str) -> std::result::Result<Hosts, String> {
    if let Some(hashed) = text.strip_prefix('|') {
        let Some(rest) = hashed.strip_prefix("1|") else {
            return Err(format!(
                "`{text}` is a hashed host in an unknown format (only `|1|salt|hash` exists)"
            ));
        };
        let Some((salt, hash)) = rest.split_once('|') else {
            return Err(format!("hashed host `{text}` lacks its `|hash` part"));
        };
        let salt = BASE64_STANDARD
            .decode(salt)
            .ok()
            .filter(|s| s.len() == SHA1_LEN);
        let hash = BASE64_STANDARD
            .decode(hash)
            .ok()
            .filter(|h| h.len() == SHA1_LEN);
        return match (salt, hash) {
            (Some(salt), Some(hash)) => Ok(Hosts::Hashed { salt, hash }),
            _ => Err(format!(
                "hashed host `{text}` is damaged: salt and hash must be 20 bytes in base64"
            )),
        };
    }
    if text
        .split(',')
        .all(|p| p.trim_start_matches('!').is_empty())
    {
        return Err(format!("`{text}` holds no host pattern"));
    }
    Ok(Hosts::Patterns(text.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const KEYGEN: &str = "/usr/bin/ssh-keygen";

    fn run(args: &[&str]) -> String {
        let out = Command::new(KEYGEN)
            .args(args)
            .env("TZ", "UTC")
            .output()
            .expect("ssh-keygen runs");
        assert!(
            out.status.success(),
            "ssh-keygen {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Generates a key pair `dir/name` and returns the public key and its `.pub` line.
    fn keygen(dir: &Path, name: &str, ty: &str) -> (PublicKey, String) {
        let path = dir.join(name);
        let mut args = vec!["-q", "-t", ty, "-N", "", "-C", name, "-f"];
        let p = path.to_str().unwrap().to_string();
        args.push(&p);
        if ty == "rsa" {
            args.extend(["-b", "2048"]);
        }
        run(&args);
        let line = std::fs::read_to_string(format!("{p}.pub")).unwrap();
        (
            PublicKey::from_openssh(&line).unwrap(),
            line.trim().to_string(),
        )
    }

    /// `keytype base64` of a `.pub` line (without the comment).
    fn key_part(pub_line: &str) -> String {
        pub_line
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn kh(text: &str) -> KnownHosts {
        KnownHosts::parse(text, Path::new("known_hosts")).unwrap()
    }

    fn err_loc(text: &str) -> (usize, usize, String) {
        match KnownHosts::parse(text, Path::new("kh")) {
            Err(Error::Input {
                loc: Some(loc),
                msg,
                help,
            }) => {
                assert!(help.is_some(), "help expected for {msg}");
                (loc.line, loc.col, msg)
            }
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    struct Keys {
        _dir: tempfile::TempDir,
        dir: PathBuf,
        ed: (PublicKey, String),
        ed2: (PublicKey, String),
        rsa: (PublicKey, String),
        ecdsa: (PublicKey, String),
    }

    fn keys() -> Keys {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_path_buf();
        Keys {
            ed: keygen(&dir, "ed", "ed25519"),
            ed2: keygen(&dir, "ed2", "ed25519"),
            rsa: keygen(&dir, "rsa", "rsa"),
            ecdsa: keygen(&dir, "ecdsa", "ecdsa"),
            dir,
            _dir: d,
        }
    }

    #[test]
    fn patterns() {
        assert!(match_pattern("web1.example.com", "*.example.com"));
        assert!(match_pattern("web1", "web?"));
        assert!(!match_pattern("web12", "web?"));
        assert!(match_pattern("abc", "a*b*c*"));
        assert!(match_pattern("", "*"));
        assert!(!match_pattern("", "?"));
        assert!(match_pattern(
            "[db.example.com]:2222",
            "[*.example.com]:2222"
        ));
        assert!(!match_pattern(
            "[db.example.com]:2223",
            "[*.example.com]:2222"
        ));
        assert!(match_pattern("aaab", "*a*b"));
        assert!(!match_pattern("aaac", "*a*b"));
        assert_eq!(match_pattern_list("Web1", ["WEB*"]), Some(true));
        assert_eq!(match_pattern_list("bad", ["!bad", "*"]), Some(false));
        assert_eq!(match_pattern_list("bad", ["*", "!bad"]), Some(false));
        assert_eq!(match_pattern_list("good", ["*", "!bad"]), Some(true));
        assert_eq!(match_pattern_list("x", ["!bad"]), None);
        assert_eq!(lookup_name("Host", 22), "host");
        assert_eq!(lookup_name("host", 2222), "[host]:2222");
        assert_eq!(lookup_name("[::1]", 2222), "[::1]:2222");
    }

    #[test]
    fn plain_entries_comments_and_blank_lines() {
        let k = keys();
        let text = format!(
            "# a comment\n\n   \nhost1,10.0.0.1 {} some comment\nhost2 {}\n",
            key_part(&k.ed.1),
            key_part(&k.rsa.1)
        );
        let f = kh(&text);
        assert_eq!(f.len(), 2);
        assert_eq!(f.check("host1", 22, &k.ed.0), Verdict::Trusted { line: 4 });
        assert_eq!(f.check("HOST1", 22, &k.ed.0), Verdict::Trusted { line: 4 });
        assert_eq!(
            f.check("10.0.0.1", 22, &k.ed.0),
            Verdict::Trusted { line: 4 }
        );
        assert_eq!(f.check("host2", 22, &k.rsa.0), Verdict::Trusted { line: 5 });
        assert_eq!(f.check("host3", 22, &k.ed.0), Verdict::Unknown);
        // Same host, another port: not the same entry.
        assert_eq!(f.check("host1", 2222, &k.ed.0), Verdict::Unknown);
        // A comment differing does not matter: keys compare by their data.
        let mut renamed = k.ed.0.clone();
        renamed.set_comment("someone@else");
        assert_eq!(f.check("host1", 22, &renamed), Verdict::Trusted { line: 4 });
    }

    #[test]
    fn crlf_and_tabs() {
        let k = keys();
        let text = format!("host1\t{}\r\n", key_part(&k.ed.1).replace(' ', "\t"));
        assert_eq!(
            kh(&text).check("host1", 22, &k.ed.0),
            Verdict::Trusted { line: 1 }
        );
    }

    #[test]
    fn bracketed_port_entries() {
        let k = keys();
        let text = format!(
            "[host1]:2222 {}\nhost1 {}\n[*.example.com]:2200,[h?.example.com]:22 {}\n",
            key_part(&k.ed.1),
            key_part(&k.ed2.1),
            key_part(&k.ecdsa.1)
        );
        let f = kh(&text);
        assert_eq!(
            f.check("host1", 2222, &k.ed.0),
            Verdict::Trusted { line: 1 }
        );
        assert_eq!(f.check("host1", 22, &k.ed2.0), Verdict::Trusted { line: 2 });
        assert_eq!(
            f.check("host1", 22, &k.ed.0),
            Verdict::Changed {
                line: 2,
                known_type: "ssh-ed25519".into()
            }
        );
        assert_eq!(f.check("host1", 2200, &k.ed.0), Verdict::Unknown);
        assert_eq!(
            f.check("db.example.com", 2200, &k.ecdsa.0),
            Verdict::Trusted { line: 3 }
        );
        assert_eq!(f.check("db.example.com", 22, &k.ecdsa.0), Verdict::Unknown);
        // `[hx.example.com]:22` is never looked up: port 22 uses the bare name.
        assert_eq!(f.check("hx.example.com", 22, &k.ecdsa.0), Verdict::Unknown);
    }

    #[test]
    fn wildcards_and_negation() {
        let k = keys();
        let text = format!(
            "*.example.com,!bad.example.com,web?.lan {}\n!other.lan,*.lan {}\n",
            key_part(&k.ed.1),
            key_part(&k.rsa.1)
        );
        let f = kh(&text);
        assert_eq!(
            f.check("a.example.com", 22, &k.ed.0),
            Verdict::Trusted { line: 1 }
        );
        assert_eq!(f.check("bad.example.com", 22, &k.ed.0), Verdict::Unknown);
        assert_eq!(
            f.check("web1.lan", 22, &k.ed.0),
            Verdict::Trusted { line: 1 }
        );
        // web12.lan is not web?.lan, but line 2 (*.lan) has it under another key type.
        assert_eq!(
            f.check("web12.lan", 22, &k.ed.0),
            Verdict::Changed {
                line: 2,
                known_type: "ssh-rsa".into()
            }
        );
        assert_eq!(f.check("other.lan", 22, &k.rsa.0), Verdict::Unknown);
        assert_eq!(f.check("x.lan", 22, &k.rsa.0), Verdict::Trusted { line: 2 });
    }

    #[test]
    fn hashed_entries_from_ssh_keygen() {
        let k = keys();
        let path = k.dir.join("known_hosts");
        let text = format!(
            "host1 {}\n[host1]:2222 {}\nhost2 {}\n",
            key_part(&k.ed.1),
            key_part(&k.rsa.1),
            key_part(&k.ecdsa.1)
        );
        std::fs::write(&path, text).unwrap();
        run(&["-q", "-H", "-f", path.to_str().unwrap()]);
        let hashed = std::fs::read_to_string(&path).unwrap();
        assert!(hashed.lines().all(|l| l.starts_with("|1|")), "{hashed}");
        let f = KnownHosts::load(&path).unwrap();
        assert_eq!(f.path(), path.as_path());
        assert_eq!(f.check("host1", 22, &k.ed.0), Verdict::Trusted { line: 1 });
        assert_eq!(f.check("Host1", 22, &k.ed.0), Verdict::Trusted { line: 1 });
        assert_eq!(
            f.check("host1", 2222, &k.rsa.0),
            Verdict::Trusted { line: 2 }
        );
        assert_eq!(
            f.check("host2", 22, &k.ecdsa.0),
            Verdict::Trusted { line: 3 }
        );
        assert_eq!(f.check("host3", 22, &k.ed.0), Verdict::Unknown);
        assert_eq!(
            f.check("host2", 22, &k.ed.0),
            Verdict::Changed {
                line: 3,
                known_type: "ecdsa-sha2-nistp256".into()
            }
        );
        assert_eq!(f.key_types_for("host1", 2222), vec![k.rsa.0.algorithm()]);
    }

    #[test]
    fn changed_and_other_type() {
        let k = keys();
        let text = format!(
            "host1 {}\nhost1 {}\nhost2 {}\n",
            key_part(&k.rsa.1),
            key_part(&k.ed.1),
            key_part(&k.rsa.1)
        );
        let f = kh(&text);
        // A different ed25519 key: the ed25519 line is the one that changed.
        assert_eq!(
            f.check("host1", 22, &k.ed2.0),
            Verdict::Changed {
                line: 2,
                known_type: "ssh-ed25519".into()
            }
        );
        // Several entries: one matching is enough.
        assert_eq!(f.check("host1", 22, &k.ed.0), Verdict::Trusted { line: 2 });
        assert_eq!(f.check("host1", 22, &k.rsa.0), Verdict::Trusted { line: 1 });
        // Known only under another type: changed, not unknown.
        assert_eq!(
            f.check("host2", 22, &k.ecdsa.0),
            Verdict::Changed {
                line: 3,
                known_type: "ssh-rsa".into()
            }
        );
        assert_eq!(
            f.key_types_for("host1", 22),
            vec![k.rsa.0.algorithm(), k.ed.0.algorithm()]
        );
        assert!(f.key_types_for("nowhere", 22).is_empty());
    }

    #[test]
    fn revoked_beats_everything() {
        let k = keys();
        let text = format!(
            "host1 {ed}\n@Revoked other-host {ed}\nhost1 {ed2}\n",
            ed = key_part(&k.ed.1),
            ed2 = key_part(&k.ed2.1)
        );
        let f = kh(&text);
        assert_eq!(f.check("host1", 22, &k.ed.0), Verdict::Revoked { line: 2 });
        assert_eq!(
            f.check("brand-new", 22, &k.ed.0),
            Verdict::Revoked { line: 2 }
        );
        assert_eq!(f.check("host1", 22, &k.ed2.0), Verdict::Trusted { line: 3 });
        // A revoked line is not a host entry.
        assert_eq!(f.check("other-host", 22, &k.ed2.0), Verdict::Unknown);
    }

    /// CA, host key, and a host certificate for it signed with `extra` ssh-keygen options.
    fn host_cert(k: &Keys, name: &str, extra: &[&str]) -> Certificate {
        let ca = k.dir.join("ed");
        let host = k.dir.join(format!("{name}-host"));
        run(&[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            host.to_str().unwrap(),
        ]);
        let mut args = vec!["-q", "-s", ca.to_str().unwrap(), "-I", name];
        args.extend(extra);
        let pubp = format!("{}.pub", host.display());
        args.push(&pubp);
        run(&args);
        let text = std::fs::read_to_string(format!("{}-cert.pub", host.display())).unwrap();
        Certificate::from_openssh(text.trim()).unwrap()
    }

    #[test]
    fn cert_authority() {
        let k = keys();
        let ok = host_cert(&k, "ok", &["-h", "-n", "host1,*.web.lan", "-V", "-5m:+1h"]);
        let expired = host_cert(&k, "old", &["-h", "-n", "host1", "-V", "20200101:20200102"]);
        let future = host_cert(&k, "new", &["-h", "-n", "host1", "-V", "+1d:+2d"]);
        let user = host_cert(&k, "user", &["-n", "host1", "-V", "-5m:+1h"]);
        let anyhost = host_cert(&k, "any", &["-h", "-V", "-5m:+1h"]);
        let text = format!(
            "# CA\n@cert-authority host*,*.lan,[host1]:2222 {ca}\nhost9 {rsa}\n",
            ca = key_part(&k.ed.1),
            rsa = key_part(&k.rsa.1)
        );
        let f = kh(&text);
        let now = unix_now();
        assert!(f.has_cert_authority_for("host1", 22));
        assert!(!f.has_cert_authority_for("elsewhere", 22));
        assert_eq!(
            f.check_cert("host1", 22, &ok),
            Verdict::TrustedByCa { line: 2 }
        );
        assert_eq!(
            f.check_cert("HOST1", 2222, &ok),
            Verdict::TrustedByCa { line: 2 }
        );
        assert_eq!(
            f.check_cert("a.web.lan", 22, &ok),
            Verdict::TrustedByCa { line: 2 }
        );
        assert_eq!(f.cert_problem("host1", 22, &ok, now), None);
        // Host patterns of the CA line must match too.
        assert_eq!(f.check_cert("elsewhere", 22, &ok), Verdict::Unknown);
        // Wrong principal: CA line matches the host, the certificate does not name it.
        assert_eq!(f.check_cert("host2", 22, &ok), Verdict::Unknown);
        let (line, why) = f.cert_problem("host2", 22, &ok, now).unwrap();
        assert_eq!(line, 2);
        assert!(why.contains("not for `host2`"), "{why}");
        // Expired / not yet valid / user certificate.
        assert_eq!(f.check_cert("host1", 22, &expired), Verdict::Unknown);
        let why = f.cert_problem("host1", 22, &expired, now).unwrap().1;
        assert!(why.contains("expired at 2020-01-0"), "{why}");
        assert_eq!(f.check_cert("host1", 22, &future), Verdict::Unknown);
        assert!(f
            .cert_problem("host1", 22, &future, now)
            .unwrap()
            .1
            .contains("not valid before"));
        assert_eq!(f.check_cert("host1", 22, &user), Verdict::Unknown);
        assert!(f
            .cert_problem("host1", 22, &user, now)
            .unwrap()
            .1
            .contains("user certificate"));
        // No principals: valid for any host the CA line covers.
        assert_eq!(
            f.check_cert("hostx", 22, &anyhost),
            Verdict::TrustedByCa { line: 2 }
        );
        // The CA key is never a host key itself, nor is the certified key trusted bare.
        assert_eq!(f.check("host1", 22, &k.ed.0), Verdict::Unknown);
        let bare = PublicKey::new(ok.public_key().clone(), "");
        assert_eq!(f.check("host1", 22, &bare), Verdict::Unknown);
        // A certificate that no CA vouches for falls back to its plain key.
        assert_eq!(
            f.check_cert("host9", 22, &ok),
            Verdict::Changed {
                line: 3,
                known_type: "ssh-rsa".into()
            }
        );
    }

    #[test]
    fn cert_from_another_ca_or_revoked() {
        let k = keys();
        let cert = host_cert(&k, "c", &["-h", "-n", "host1", "-V", "-5m:+1h"]);
        // CA is ed2, not ed (the signer).
        let f = kh(&format!("@cert-authority * {}\n", key_part(&k.ed2.1)));
        assert_eq!(f.check_cert("host1", 22, &cert), Verdict::Unknown);
        assert_eq!(f.cert_problem("host1", 22, &cert, unix_now()), None);
        // CA revoked.
        let f = kh(&format!(
            "@cert-authority * {ca}\n@revoked * {ca}\n",
            ca = key_part(&k.ed.1)
        ));
        assert_eq!(
            f.check_cert("host1", 22, &cert),
            Verdict::Revoked { line: 2 }
        );
        // The certified key revoked.
        let bare = PublicKey::new(cert.public_key().clone(), "");
        let bare_line = bare.to_openssh().unwrap();
        let f = kh(&format!(
            "@cert-authority * {}\n@revoked * {}\n",
            key_part(&k.ed.1),
            key_part(&bare_line)
        ));
        assert_eq!(
            f.check_cert("host1", 22, &cert),
            Verdict::Revoked { line: 2 }
        );
    }

    #[test]
    fn unknown_key_types_are_skipped() {
        let k = keys();
        let text = format!(
            "host1 ssh-foo AAAA\nhost1 1024 35 1234567\nhost1 ssh-xmss@openssh.com AAAA\nhost1 {}\n",
            key_part(&k.ed.1)
        );
        let f = kh(&text);
        assert_eq!(f.len(), 1);
        assert_eq!(f.check("host1", 22, &k.ed.0), Verdict::Trusted { line: 4 });
    }

    #[test]
    fn malformed_lines_point_at_the_field() {
        let k = keys();
        let ed = key_part(&k.ed.1);
        let ed_b64 = ed.split(' ').nth(1).unwrap();
        let rsa_b64 = key_part(&k.rsa.1).split(' ').nth(1).unwrap().to_string();
        // Bad base64 in the key field.
        let (l, c, m) = err_loc(&format!("# x\nhost1 {ed}\n  host2 ssh-ed25519 AAAA!!\n"));
        assert_eq!((l, c), (3, 21), "{m}");
        assert!(m.contains("base64"), "{m}");
        // Valid base64 that is no key.
        let (l, c, _) = err_loc("host1 ssh-ed25519 AAAAAAAA\n");
        assert_eq!((l, c), (1, 19));
        // A key of another type than stated: caret under the type.
        let (l, c, m) = err_loc(&format!("host1 {ed}\nhost2  ssh-ed25519 {rsa_b64}\n"));
        assert_eq!((l, c), (2, 8), "{m}");
        assert!(m.contains("ssh-rsa"), "{m}");
        // Missing key / missing type.
        let (l, c, _) = err_loc("host1 ssh-ed25519\n");
        assert_eq!((l, c), (1, 18));
        let (l, c, _) = err_loc("\n\nhost1\n");
        assert_eq!((l, c), (3, 6));
        // Unknown marker, marker alone.
        let (l, c, m) = err_loc(&format!("@cert-authorty * {ed}\n"));
        assert_eq!((l, c), (1, 1));
        assert!(m.contains("@cert-authorty"), "{m}");
        let (l, c, _) = err_loc("@revoked\n");
        assert_eq!((l, c), (1, 9));
        // Damaged hashed host.
        let (l, c, _) = err_loc(&format!("|1|bad|bad {ed}\n"));
        assert_eq!((l, c), (1, 1));
        let (l, c, _) = err_loc(&format!("@revoked |2|x|y {ed}\n"));
        assert_eq!((l, c), (1, 10));
        // A base64 blob where the key type belongs reads as an unknown key type: skipped.
        assert!(KnownHosts::parse(&format!("host1 {ed_b64}\n"), Path::new("kh")).is_ok());
    }

    #[test]
    fn load_missing_file_is_empty_and_errors_carry_the_path() {
        let d = tempfile::tempdir().unwrap();
        let f = KnownHosts::load(&d.path().join("nope")).unwrap();
        assert!(f.is_empty());
        let p = d.path().join("kh");
        std::fs::write(&p, "host1 ssh-ed25519 !!!\n").unwrap();
        match KnownHosts::load(&p) {
            Err(Error::Input { loc: Some(loc), .. }) => {
                assert_eq!(loc, Location::new(&p, 1, 19));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn append_then_check_round_trip() {
        let k = keys();
        let path = k.dir.join("new/dir/known_hosts");
        assert_eq!(append(&path, "Host1", 22, &k.ed.0).unwrap(), 1);
        assert_eq!(append(&path, "host2", 2222, &k.rsa.0).unwrap(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dmode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
        // A file without a trailing newline gets one before the new line.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("# note without newline");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(append(&path, "host3", 22, &k.ecdsa.0).unwrap(), 4);
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(
            written.contains("# note without newline\nhost3 ecdsa-sha2-nistp256 "),
            "{written}"
        );
        assert!(written.starts_with("host1 ssh-ed25519 "), "{written}");
        assert!(written.contains("\n[host2]:2222 ssh-rsa "), "{written}");
        let f = KnownHosts::load(&path).unwrap();
        assert_eq!(f.check("host1", 22, &k.ed.0), Verdict::Trusted { line: 1 });
        assert_eq!(
            f.check("host2", 2222, &k.rsa.0),
            Verdict::Trusted { line: 2 }
        );
        assert_eq!(
            f.check("host3", 22, &k.ecdsa.0),
            Verdict::Trusted { line: 4 }
        );
        // OpenSSH reads what we wrote.
        let out = run(&["-F", "[host2]:2222", "-f", path.to_str().unwrap()]);
        assert!(out.contains("ssh-rsa"), "{out}");
        assert!(append(&path, "bad host", 22, &k.ed.0).is_err());
    }

    #[test]
    fn fingerprints_match_ssh_keygen() {
        let k = keys();
        for name in ["ed", "rsa", "ecdsa"] {
            let p = k.dir.join(format!("{name}.pub"));
            let out = run(&["-l", "-E", "sha256", "-f", p.to_str().unwrap()]);
            let expected = out.split_whitespace().nth(1).unwrap();
            let key = PublicKey::read_openssh_file(&p).unwrap();
            assert_eq!(fingerprint(&key), expected, "{name}");
        }
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_577_923_200), "2020-01-02 00:00:00 UTC");
        assert_eq!(utc(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
        assert_eq!(utc(u64::MAX), "forever");
    }
}
