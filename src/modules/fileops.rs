//! What the file modules share: one probe script that reports, for a few paths at once, what
//! is there (type, mode, owner, size, checksum, link target, entries below) plus the file's
//! content when asked, so a plan costs one exec; how wanted mode/owner/group compare with what
//! is there; and one way to write a file (atomic put, optional backup and validate).
//!
//! The probe runs GNU or busybox `stat -c`, falling back to BSD `stat -f` (macOS). Everything a
//! user gave (paths, names) reaches the shell through `quote`.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha1::Digest;

use super::args::{apply_symbolic, parse_mode, Mode};
use super::{Change, Field, ModuleCtx, Plan};
use crate::error::{Error, HostErrorKind, Result};
use crate::transport::quote::{quote, Cmd};

/// Above this size a content change is reported without a text diff.
pub const DIFF_MAX: usize = 1 << 20;

/// What kind of file a path is (after following links when asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Link,
    Block,
    Char,
    Fifo,
    Socket,
}

impl Kind {
    fn from_raw(raw: u32) -> Kind {
        match raw & 0o170000 {
            0o040000 => Kind::Dir,
            0o120000 => Kind::Link,
            0o060000 => Kind::Block,
            0o020000 => Kind::Char,
            0o010000 => Kind::Fifo,
            0o140000 => Kind::Socket,
            _ => Kind::File,
        }
    }
}

/// One path as the probe saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    /// Permission bits (0o7777).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub owner: String,
    pub group: String,
    pub size: u64,
    pub atime: i64,
    pub mtime: i64,
    pub ctime: i64,
    pub inode: u64,
    pub dev: u64,
    pub nlink: u64,
    /// `readlink` of a symlink (as stored).
    pub link_target: Option<String>,
    /// The fully resolved path a symlink points to.
    pub link_source: Option<String>,
    pub checksum: Option<String>,
    /// Readable, writeable, executable for the remote user.
    pub access: (bool, bool, bool),
    /// Entries below a directory (recurse), path relative to the probed one.
    pub entries: Vec<(String, Stat)>,
}

/// What to ask about one path.
#[derive(Debug, Clone, Default)]
pub struct ProbeReq {
    pub path: String,
    /// Stat the link's target rather than the link.
    pub follow: bool,
    /// Checksum regular files with this algorithm (sha1, sha224, sha256, sha384, sha512, md5).
    pub checksum: Option<String>,
    pub recurse: bool,
    pub access: bool,
    pub resolve_link: bool,
}

impl ProbeReq {
    pub fn new(path: &str) -> Self {
        ProbeReq {
            path: path.to_string(),
            ..Default::default()
        }
    }
}

/// When to send a file's content along.
#[derive(Debug, Clone)]
pub enum ContentWant {
    Never,
    /// The content of probe 0 (a regular file), whatever it is.
    Always,
    /// The content of probe 0, only when its sha1 is not this one and it is at most DIFF_MAX.
    IfDiffers(String),
    /// Like `IfDiffers`, but when probe 0 is a directory, for this path instead (copy into
    /// an existing directory, decided on the host within the same script).
    IfDiffersOrInDir(String, String),
}

/// What the probe found.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub stats: Vec<Option<Stat>>,
    pub umask: u32,
    pub uid: u32,
    pub gid: u32,
    pub content: Option<Vec<u8>>,
    /// Lines an extra script printed as `@T value`.
    pub extra: Vec<String>,
}

impl Probe {
    /// The mode a newly created file gets (0666 less the umask), as Ansible's atomic move.
    pub fn new_file_mode(&self) -> u32 {
        0o666 & !self.umask
    }
    pub fn new_dir_mode(&self) -> u32 {
        0o777 & !self.umask
    }
}

/// `@I uid=U gid=G` without starting `id`: the shell's own effective ids from
/// /proc/self/status (read by the shell itself, so "self" is the shell), else `id` (BSD, macOS).
const IDS: &str = "if [ -r /proc/self/status ]; then u=; g=; while read -r k r e x; do \
                   case $k in Uid:) u=$e;; Gid:) g=$e; break;; esac; done </proc/self/status; \
                   printf '@I uid=%s gid=%s\\n' \"$u\" \"$g\"; else printf '@I '; id; fi";

const GNU_FMT: &str = "%f|%u|%g|%s|%X|%Y|%Z|%i|%d|%h|%U|%G";
const BSD_FMT: &str = "%Xp|%u|%g|%z|%a|%m|%c|%i|%d|%l|%Su|%Sg";

fn hash_cmd(alg: &str) -> std::result::Result<&'static str, String> {
    Ok(match alg {
        "sha1" => "{ sha1sum 2>/dev/null || shasum -a 1; }",
        "sha224" => "{ sha224sum 2>/dev/null || shasum -a 224; }",
        "sha256" => "{ sha256sum 2>/dev/null || shasum -a 256; }",
        "sha384" => "{ sha384sum 2>/dev/null || shasum -a 384; }",
        "sha512" => "{ sha512sum 2>/dev/null || shasum -a 512; }",
        "md5" => "{ md5sum 2>/dev/null || md5 -r; }",
        other => {
            return Err(format!(
            "checksum_algorithm `{other}` is not one of md5, sha1, sha224, sha256, sha384, sha512"
        ))
        }
    })
}

/// The probe script for these requests (one exec).
pub fn probe_script(
    reqs: &[ProbeReq],
    content: &ContentWant,
    extra: &str,
) -> std::result::Result<String, String> {
    let mut s = String::new();
    s.push_str(&format!(
        "F={}; B={}\n\
         st() {{ stat -c \"$F\" -- \"$1\" 2>/dev/null || stat -f \"$B\" -- \"$1\" 2>/dev/null; }}\n\
         stL() {{ stat -L -c \"$F\" -- \"$1\" 2>/dev/null || stat -L -f \"$B\" -- \"$1\" 2>/dev/null; }}\n\
         h0=\n\
         printf '@U '; umask\n{IDS}\n",
        quote(GNU_FMT),
        quote(BSD_FMT)
    ));
    // The hash of probe 0, computed once when both its checksum and its content are asked.
    let shared_hash = matches!(
        content,
        ContentWant::IfDiffers(_) | ContentWant::IfDiffersOrInDir(..)
    ) && reqs.first().and_then(|r| r.checksum.as_deref()) == Some("sha1");
    for (i, r) in reqs.iter().enumerate() {
        s.push_str(&format!("p={}\n", quote(&r.path)));
        s.push_str("if [ -e \"$p\" ] || [ -L \"$p\" ]; then\n");
        if r.follow {
            s.push_str(&format!(
                "  printf '@S{i} '; stL \"$p\" || st \"$p\" || echo\n"
            ));
        } else {
            s.push_str(&format!("  printf '@S{i} '; st \"$p\" || echo\n"));
        }
        s.push_str(&format!(
            "  [ -L \"$p\" ] && printf '@L{i} %s\\n' \"$(readlink -- \"$p\")\"\n"
        ));
        if r.resolve_link {
            s.push_str(&format!(
                "  [ -L \"$p\" ] && printf '@R{i} %s\\n' \"$(readlink -f -- \"$p\" 2>/dev/null || realpath -- \"$p\")\"\n"
            ));
        }
        if let Some(alg) = &r.checksum {
            let h = hash_cmd(alg)?;
            if i == 0 && shared_hash {
                s.push_str(&format!(
                    "  [ -f \"$p\" ] && [ -r \"$p\" ] && {{ h0=$({h} < \"$p\"); printf '@H0 %s\\n' \"$h0\"; }}\n"
                ));
            } else {
                s.push_str(&format!(
                    "  [ -f \"$p\" ] && [ -r \"$p\" ] && {{ printf '@H{i} '; {h} < \"$p\" || echo; }}\n"
                ));
            }
        }
        if r.access {
            s.push_str(&format!(
                "  printf '@A{i} %s%s%s\\n' \"$([ -r \"$p\" ] && echo r)\" \"$([ -w \"$p\" ] && echo w)\" \"$([ -x \"$p\" ] && echo x)\"\n"
            ));
        }
        if r.recurse {
            s.push_str(&format!(
                "  [ -d \"$p\" ] && ! [ -L \"$p\" ] && {{ find \"$p\" -mindepth 1 -exec stat -c \"@E{i} $F|%n\" {{}} + 2>/dev/null || find \"$p\" -mindepth 1 -exec stat -f \"@E{i} $B|%N\" {{}} +; }}\n"
            ));
        }
        s.push_str(&format!("else printf '@X{i}\\n'; fi\n"));
    }
    s.push_str(extra);
    if let Some(first) = reqs.first() {
        let p = quote(&first.path);
        match content {
            ContentWant::Never => {}
            ContentWant::Always => s.push_str(&format!(
                "if [ -f {p} ]; then printf '@D\\n'; cat -- {p}; fi\n"
            )),
            ContentWant::IfDiffers(sha) | ContentWant::IfDiffersOrInDir(sha, _) => {
                // In sync (the usual case on a rerun) costs one hash and nothing else: the
                // size is looked at only when the content differs.
                s.push_str(&format!("c={p}\n"));
                if let ContentWant::IfDiffersOrInDir(_, inside) = content {
                    s.push_str(&format!("[ -d \"$c\" ] && c={} && h0=\n", quote(inside)));
                }
                s.push_str(&format!(
                    "if [ -f \"$c\" ] && [ -r \"$c\" ]; then [ -n \"$h0\" ] || h0=$({h} < \"$c\"); \
                     case \"$h0\" in {sha}*) ;; *) [ \"$(wc -c < \"$c\")\" -le {DIFF_MAX} ] && \
                     {{ printf '@D\\n'; cat -- \"$c\"; }};; esac; fi\n",
                    h = hash_cmd("sha1")?,
                    sha = quote(sha)
                ))
            }
        }
    }
    // A failed test (`[ -L "$p" ] && ...`) is not a failed probe.
    s.push_str("exit 0\n");
    Ok(s)
}

fn parse_stat_line(line: &str) -> Option<(Stat, Option<String>)> {
    let mut parts = line.splitn(13, '|');
    let mut next = || parts.next();
    let raw = u32::from_str_radix(next()?.trim(), 16).ok()?;
    let uid = next()?.parse().ok()?;
    let gid = next()?.parse().ok()?;
    let size = next()?.parse().ok()?;
    let atime = next()?.parse().ok()?;
    let mtime = next()?.parse().ok()?;
    let ctime = next()?.parse().ok()?;
    let inode = next()?.parse().ok()?;
    let dev = next()?.parse().ok()?;
    let nlink = next()?.parse().ok()?;
    let owner = next()?.to_string();
    let group = next()?.to_string();
    let name = next().map(str::to_string);
    Some((
        Stat {
            kind: Kind::from_raw(raw),
            mode: raw & 0o7777,
            uid,
            gid,
            owner,
            group,
            size,
            atime,
            mtime,
            ctime,
            inode,
            dev,
            nlink,
            link_target: None,
            link_source: None,
            checksum: None,
            access: (false, false, false),
            entries: vec![],
        },
        name,
    ))
}

/// Parses what `probe_script` printed.
pub fn parse_probe(out: &[u8], reqs: &[ProbeReq]) -> std::result::Result<Probe, String> {
    let mut probe = Probe {
        stats: vec![None; reqs.len()],
        ..Default::default()
    };
    let mut pos = 0;
    while pos < out.len() {
        let end = out[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map(|e| pos + e)
            .unwrap_or(out.len());
        let line = String::from_utf8_lossy(&out[pos..end]).into_owned();
        pos = end + 1;
        if line == "@D" {
            probe.content = Some(out.get(pos..).unwrap_or_default().to_vec());
            break;
        }
        let Some(rest) = line.strip_prefix('@') else {
            continue;
        };
        let Some(tag) = rest.chars().next() else {
            continue;
        };
        let rest = &rest[tag.len_utf8()..];
        if tag == 'T' {
            probe.extra.push(rest.trim_start().to_string());
            continue;
        }
        if tag == 'U' {
            probe.umask = rest
                .split_whitespace()
                .next()
                .and_then(|u| u32::from_str_radix(u, 8).ok())
                .unwrap_or(0o022);
            continue;
        }
        if tag == 'I' {
            // `id`: `uid=1000(alice) gid=1000(alice) groups=...` (GNU, BusyBox and BSD alike).
            let num = |key: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(key))
                    .map(|v| {
                        v.chars()
                            .take_while(char::is_ascii_digit)
                            .collect::<String>()
                    })
                    .and_then(|d| d.parse().ok())
            };
            probe.uid = num("uid=").unwrap_or(0);
            probe.gid = num("gid=").unwrap_or(0);
            continue;
        }
        let (idx, value) = match rest.split_once(' ') {
            Some((i, v)) => (i, v),
            None => (rest, ""),
        };
        let Ok(i) = idx.parse::<usize>() else {
            continue;
        };
        if i >= reqs.len() {
            continue;
        }
        match tag {
            'S' => {
                let (st, _) = parse_stat_line(value).ok_or_else(|| {
                    format!("{}: cannot read `stat` output `{value}`", reqs[i].path)
                })?;
                probe.stats[i] = Some(st);
            }
            'X' => probe.stats[i] = None,
            _ => {
                let Some(st) = probe.stats[i].as_mut() else {
                    continue;
                };
                match tag {
                    'L' => st.link_target = Some(value.to_string()),
                    'R' => st.link_source = Some(value.to_string()),
                    // `sha1sum` prints `HASH  -`; `md5 -r` and `shasum` alike.
                    'H' => st.checksum = value.split_whitespace().next().map(str::to_string),
                    'A' => {
                        st.access = (
                            value.contains('r'),
                            value.contains('w'),
                            value.contains('x'),
                        )
                    }
                    'E' => {
                        if let Some((e, Some(name))) = parse_stat_line(value) {
                            let base = reqs[i].path.trim_end_matches('/');
                            let rel = name
                                .strip_prefix(base)
                                .map(|r| r.trim_start_matches('/'))
                                .unwrap_or(&name)
                                .to_string();
                            st.entries.push((rel, e));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(probe)
}

/// An error on this host, in the words of the module.
/// The shell expression of a backup's name beside the quoted path `q`: Ansible's
/// `PATH.PID.YYYY-MM-DD@HH:MM:SS~`, with a random number where Ansible has its module's PID
/// (commands share a long-lived shell, so `$$` would be the same for every backup of a run).
pub fn backup_name(q: &str) -> String {
    format!(
        "{q}.{}.$(date +%Y-%m-%d@%H:%M:%S)~",
        rand::random_range(10_000..4_000_000u32)
    )
}

pub fn fail(ctx: &ModuleCtx<'_>, msg: impl Into<String>) -> Error {
    Error::host(ctx.host, HostErrorKind::Failed, msg)
}

/// Runs the probe: one exec.
pub async fn probe(ctx: &ModuleCtx<'_>, reqs: &[ProbeReq], content: ContentWant) -> Result<Probe> {
    probe_extra(ctx, reqs, content, "").await
}

/// `probe` plus a script of the caller's (built with `quote`) whose `@T` lines come back in
/// `Probe::extra`.
pub async fn probe_extra(
    ctx: &ModuleCtx<'_>,
    reqs: &[ProbeReq],
    content: ContentWant,
    extra: &str,
) -> Result<Probe> {
    let script = probe_script(reqs, &content, extra).map_err(|e| fail(ctx, e))?;
    let out = ctx
        .transport
        .exec(&crate::transport::quote::sh_c(&script), None)
        .await?;
    if !out.success() {
        return Err(fail(
            ctx,
            format!(
                "probing {} failed (rc {}): {}",
                reqs.first().map(|r| r.path.as_str()).unwrap_or(""),
                out.rc(),
                out.stderr_str().trim()
            ),
        ));
    }
    parse_probe(&out.stdout, reqs).map_err(|e| fail(ctx, e))
}

/// sha1 of bytes, lower-case hex (Ansible's `checksum`).
pub fn sha1_hex(data: &[u8]) -> String {
    let d = sha1::Sha1::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn mode_str(m: u32) -> String {
    format!("{m:04o}")
}

/// Text for a diff, or why there is none.
pub fn diff_text(data: &[u8]) -> std::result::Result<String, &'static str> {
    if data.len() > DIFF_MAX {
        return Err("larger than 1 MiB, no diff");
    }
    if data.contains(&0) {
        return Err("binary, no diff");
    }
    String::from_utf8(data.to_vec()).map_err(|_| "not UTF-8 text, no diff")
}

/// A content change, with a diff when both sides are small text.
pub fn content_change(
    path: &str,
    before: Option<&[u8]>,
    after: &[u8],
    before_sum: Option<&str>,
) -> Change {
    let after_sum = sha1_hex(after);
    let before_label = before_sum.map(|s| format!("sha1:{s}"));
    match (before.map(diff_text), diff_text(after)) {
        (Some(Ok(b)), Ok(a)) => Change::new(
            Field::Content,
            before_label,
            Some(format!("sha1:{after_sum}")),
        )
        .with_diff(path, b, a),
        (None, Ok(a)) if before_sum.is_none() => Change::new(
            Field::Content,
            None,
            Some(format!("sha1:{after_sum}")),
        )
        .with_diff(path, String::new(), a),
        (b, a) => {
            let why = match (b, a) {
                (_, Err(w)) | (Some(Err(w)), _) => w,
                _ => "current content not read (over 1 MiB or unreadable), no diff",
            };
            Change::new(
                Field::Content,
                before_label,
                Some(format!("sha1:{after_sum} ({why})")),
            )
        }
    }
}

/// The mode, owner and group a task asks for.
#[derive(Debug, Clone, Default)]
pub struct AttrWant {
    pub mode: Option<Mode>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl AttrWant {
    pub fn from_args(
        mode: &Option<Value>,
        owner: &Option<String>,
        group: &Option<String>,
    ) -> std::result::Result<AttrWant, String> {
        let mode = match mode {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_mode(v).map_err(|e| format!("argument `mode`: {e}"))?),
        };
        Ok(AttrWant {
            mode,
            owner: owner.clone().filter(|o| !o.is_empty()),
            group: group.clone().filter(|g| !g.is_empty()),
        })
    }
}

/// Whether an owner/group given by name or number is this one.
pub fn id_matches(want: &str, name: &str, id: u32) -> bool {
    want == name || want.parse::<u32>().ok() == Some(id)
}

/// The attributes a path ends with, and which of them need setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrPlan {
    pub mode: u32,
    pub chmod: bool,
    pub chown: Option<String>,
    pub chgrp: Option<String>,
}

/// Compares wanted attributes with what is there (`cur`; None: the path will be created with
/// `new_mode`), adding changes. `label` prefixes the field for entries below a directory.
pub fn plan_attrs(
    cur: Option<&Stat>,
    new_mode: u32,
    is_dir: bool,
    want: &AttrWant,
    label: Option<&str>,
    changes: &mut Vec<Change>,
) -> std::result::Result<AttrPlan, String> {
    let base = cur.map(|c| c.mode).unwrap_or(new_mode);
    let mode = match &want.mode {
        None | Some(Mode::Preserve) => base,
        Some(Mode::Octal(m)) => *m,
        Some(Mode::Symbolic(s)) => apply_symbolic(base, s, is_dir)?,
    };
    let field = |f: Field| match label {
        Some(l) => Field::Other(format!("{f} of {l}")),
        None => f,
    };
    let mut plan = AttrPlan {
        mode,
        ..Default::default()
    };
    if want.mode.is_some() {
        let before = cur.map(|c| c.mode);
        if before != Some(mode) {
            plan.chmod = true;
            changes.push(Change::new(
                field(Field::Mode),
                before.map(mode_str),
                Some(mode_str(mode)),
            ));
        }
    }
    if let Some(o) = &want.owner {
        if !cur.is_some_and(|c| id_matches(o, &c.owner, c.uid)) {
            plan.chown = Some(o.clone());
            changes.push(Change::new(
                field(Field::Owner),
                cur.map(|c| c.owner.clone()),
                Some(o.clone()),
            ));
        }
    }
    if let Some(g) = &want.group {
        if !cur.is_some_and(|c| id_matches(g, &c.group, c.gid)) {
            plan.chgrp = Some(g.clone());
            changes.push(Change::new(
                field(Field::Group),
                cur.map(|c| c.group.clone()),
                Some(g.clone()),
            ));
        }
    }
    Ok(plan)
}

/// Shell text setting attributes on `path` (empty when nothing to set). `-h`: the link itself.
pub fn attr_script(path: &str, a: &AttrPlan, link_itself: bool) -> String {
    let mut s = String::new();
    if a.chmod && !link_itself {
        s.push_str(
            &Cmd::new("chmod")
                .arg(&mode_str(a.mode))
                .arg("--")
                .arg(path)
                .into_string(),
        );
        s.push_str(" || exit 1\n");
    }
    let spec = match (&a.chown, &a.chgrp) {
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        (Some(o), None) => Some(o.clone()),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    };
    if let Some(spec) = spec {
        let mut c = Cmd::new("chown");
        if link_itself {
            c = c.arg("-h");
        }
        s.push_str(&c.arg("--").arg(&spec).arg(path).into_string());
        s.push_str(" || exit 1\n");
    }
    s
}

/// Runs a script on the host; a failure becomes an error naming `what`.
pub async fn run_script(ctx: &ModuleCtx<'_>, what: &str, script: &str) -> Result<String> {
    let out = ctx
        .transport
        .exec(&crate::transport::quote::sh_c(script), None)
        .await?;
    if !out.success() {
        return Err(fail(
            ctx,
            format!(
                "{what} failed (rc {}): {}",
                out.rc(),
                out.stderr_str().trim()
            ),
        ));
    }
    Ok(out.stdout_str())
}

/// A whole-file write (or only attribute changes) planned by copy, template, lineinfile,
/// blockinfile and replace; kept in `Plan::state` for `apply`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WritePlan {
    pub path: String,
    /// New content, base64; None: content stays.
    pub content: Option<String>,
    /// Copy this file on the target instead (copy with remote_src).
    pub remote_src: Option<String>,
    pub attrs: AttrPlan,
    /// Existing file's owner/group to keep across the replace (when not ours).
    pub keep_owner: Option<String>,
    pub keep_group: Option<String>,
    pub backup: bool,
    pub validate: Option<String>,
    /// Create this directory (and parents) first.
    pub mkdir: Option<String>,
}

impl WritePlan {
    pub fn set_content(&mut self, data: &[u8]) {
        self.content = Some(base64::engine::general_purpose::STANDARD.encode(data));
    }
    pub fn to_state(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
    pub fn from_state(ctx: &ModuleCtx<'_>, v: &Option<Value>) -> Result<WritePlan> {
        v.as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| fail(ctx, "internal: apply called without this module's plan"))
    }
}

/// Ansible's `validate`: the command is split like a shell would (no shell runs it) and `%s`
/// becomes the temporary file's path. Returns the quoted command line.
pub fn validate_cmd(spec: &str, tmp: &str) -> std::result::Result<String, String> {
    if !spec.contains("%s") {
        return Err(format!("validate must contain %s: {spec}"));
    }
    let words =
        shlex::split(spec).ok_or_else(|| format!("validate `{spec}` is not valid shell words"))?;
    let words: Vec<String> = words.into_iter().map(|w| w.replace("%s", tmp)).collect();
    Ok(crate::transport::quote::join(&words))
}

fn parent_of(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) => "/",
        Some((d, _)) => d,
        None => ".",
    }
}

/// The temporary name beside `path` that content goes to before validate/backup.
fn temp_beside(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    format!(
        "{}/.{base}.muster-{:08x}.tmp",
        parent_of(path).trim_end_matches('/'),
        rand::random::<u32>()
    )
}

/// Performs a `WritePlan`; returns the backup file's name when one was made.
pub async fn apply_write(ctx: &ModuleCtx<'_>, w: &WritePlan) -> Result<Option<String>> {
    let t = ctx.transport;
    let q = quote(&w.path);
    let mut pre = String::new();
    if let Some(d) = &w.mkdir {
        pre.push_str(&format!(
            "{} || exit 1\n",
            Cmd::new("mkdir").arg("-p").arg("--").arg(d).into_string()
        ));
    }
    let backup = if w.backup {
        format!(
            "if [ -e {q} ]; then b={b}; cp -p -- {q} \"$b\" || exit 1; printf '%s\\n' \"$b\"; fi\n",
            b = backup_name(&q)
        )
    } else {
        String::new()
    };
    let new_content = match &w.content {
        Some(b64) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| fail(ctx, format!("internal: bad planned content: {e}")))?,
        ),
        None => None,
    };
    if new_content.is_none() && w.remote_src.is_none() {
        // Attributes only: Ansible backs up and validates only when it rewrites content.
        let script = format!("{pre}{}", attr_script(&w.path, &w.attrs, false));
        let out = run_script(ctx, &format!("setting attributes of {}", w.path), &script).await?;
        return Ok(out.lines().next().map(str::to_string));
    }
    let attrs = crate::transport::FileAttrs {
        mode: Some(w.attrs.mode),
        owner: w.attrs.chown.clone().or_else(|| w.keep_owner.clone()),
        group: w.attrs.chgrp.clone().or_else(|| w.keep_group.clone()),
    };
    let direct = w.validate.is_none() && !w.backup && w.remote_src.is_none();
    if direct {
        if !pre.is_empty() {
            run_script(ctx, &format!("creating {}", parent_of(&w.path)), &pre).await?;
        }
        t.put(&w.path, new_content.as_deref().unwrap_or_default(), &attrs)
            .await?;
        return Ok(None);
    }
    let tmp = temp_beside(&w.path);
    let qt = quote(&tmp);
    let mut script = format!("tmp={qt}; trap 'rm -f -- \"$tmp\"' EXIT\n");
    if let Some(data) = &new_content {
        if !pre.is_empty() {
            run_script(ctx, &format!("creating {}", parent_of(&w.path)), &pre).await?;
        }
        t.put(&tmp, data, &attrs).await?;
    } else if let Some(src) = &w.remote_src {
        script.push_str(&pre);
        script.push_str(&format!(
            "{} || exit 1\n",
            Cmd::new("cp").arg("--").arg(src).arg(&tmp).into_string()
        ));
        let own = AttrPlan {
            mode: w.attrs.mode,
            chmod: true,
            chown: attrs.owner.clone(),
            chgrp: attrs.group.clone(),
        };
        script.push_str(&attr_script(&tmp, &own, false));
    }
    if let Some(v) = &w.validate {
        let cmd = validate_cmd(v, &tmp).map_err(|e| fail(ctx, e))?;
        script.push_str(&format!(
            "{cmd} >&2 || {{ rc=$?; printf 'validation failed: %s\\n' {} >&2; exit $rc; }}\n",
            quote(v)
        ));
    }
    script.push_str(&backup);
    script.push_str(&format!("mv -f -- {qt} {q} || exit 1\ntrap - EXIT\n"));
    let out = t
        .exec(&crate::transport::quote::sh_c(&script), None)
        .await?;
    if !out.success() {
        return Err(fail(
            ctx,
            format!(
                "{}: {} (rc {}): {}",
                w.path,
                if w.validate.is_some() {
                    "validation or replace failed"
                } else {
                    "replace failed"
                },
                out.rc(),
                out.stderr_str().trim()
            ),
        ));
    }
    Ok(out.stdout_str().lines().next().map(str::to_string))
}

/// Result fields every file module returns about its path after `apply`.
pub fn file_result(
    path_key: &str,
    path: &str,
    a: &AttrPlan,
    cur: Option<&Stat>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(path_key.into(), json!(path));
    m.insert("mode".into(), json!(mode_str(a.mode)));
    let owner = a.chown.clone().or_else(|| cur.map(|c| c.owner.clone()));
    let group = a.chgrp.clone().or_else(|| cur.map(|c| c.group.clone()));
    if let Some(o) = owner {
        m.insert("owner".into(), json!(o));
    }
    if let Some(g) = group {
        m.insert("group".into(), json!(g));
    }
    m
}

/// Ansible's result fields of a path, for `plan.result` when nothing changes.
pub fn stat_result(path_key: &str, path: &str, st: &Stat) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(path_key.into(), json!(path));
    m.insert("mode".into(), json!(mode_str(st.mode)));
    m.insert("owner".into(), json!(st.owner));
    m.insert("group".into(), json!(st.group));
    m.insert("uid".into(), json!(st.uid));
    m.insert("gid".into(), json!(st.gid));
    m.insert("size".into(), json!(st.size));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_parses() {
        let reqs = vec![
            ProbeReq {
                path: "/d".into(),
                recurse: true,
                ..Default::default()
            },
            ProbeReq::new("/x"),
        ];
        let out = b"@U 0022\n@I uid=1000(bob) gid=50(staff) groups=50(staff)\n@S0 41ed|0|0|4096|1|2|3|77|2049|2|root|root\n\
@E0 81a4|1000|1000|5|1|2|3|78|2049|1|bob|staff|/d/a b\n@X1\n@D\nraw\n@S0 junk";
        let p = parse_probe(out, &reqs).unwrap();
        assert_eq!(p.umask, 0o022);
        assert_eq!((p.uid, p.gid), (1000, 50));
        assert_eq!(p.new_file_mode(), 0o644);
        let d = p.stats[0].as_ref().unwrap();
        assert_eq!(d.kind, Kind::Dir);
        assert_eq!(d.mode, 0o755);
        assert_eq!(d.entries.len(), 1);
        assert_eq!(d.entries[0].0, "a b");
        assert_eq!(d.entries[0].1.mode, 0o644);
        assert_eq!(d.entries[0].1.owner, "bob");
        assert!(p.stats[1].is_none());
        assert_eq!(p.content.as_deref(), Some(&b"raw\n@S0 junk"[..]));
    }

    /// Runs a probe script locally with `sh` and only the given PATH, and parses it.
    fn run_probe(sh: &str, path_env: &str, reqs: &[ProbeReq], content: &ContentWant) -> Probe {
        let script = probe_script(reqs, content, "").unwrap();
        let out = std::process::Command::new(sh)
            .arg("-c")
            .arg(&script)
            .env_clear()
            .env("PATH", path_env)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse_probe(&out.stdout, reqs).unwrap()
    }

    fn check_probe(sh: &str, path_env: &str) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_string();
        std::fs::create_dir(format!("{d}/sub dir")).unwrap();
        std::fs::write(format!("{d}/sub dir/it's"), "hello\n").unwrap();
        std::os::unix::fs::symlink("sub dir/it's", format!("{d}/link")).unwrap();
        let reqs = vec![
            ProbeReq {
                path: format!("{d}/sub dir/it's"),
                checksum: Some("sha1".into()),
                access: true,
                ..Default::default()
            },
            ProbeReq {
                path: format!("{d}/link"),
                resolve_link: true,
                ..Default::default()
            },
            ProbeReq {
                path: d.clone(),
                recurse: true,
                ..Default::default()
            },
            ProbeReq::new(&format!("{d}/missing")),
        ];
        let p = run_probe(
            sh,
            path_env,
            &reqs,
            &ContentWant::IfDiffers(sha1_hex(b"other")),
        );
        let f = p.stats[0].as_ref().unwrap();
        assert_eq!((f.kind, f.size), (Kind::File, 6));
        assert_eq!(f.checksum.as_deref(), Some(sha1_hex(b"hello\n").as_str()));
        assert!(f.access.0 && f.access.1);
        let l = p.stats[1].as_ref().unwrap();
        assert_eq!(l.kind, Kind::Link);
        assert_eq!(l.link_target.as_deref(), Some("sub dir/it's"));
        assert!(l.link_source.as_deref().unwrap().ends_with("/sub dir/it's"));
        let mut rels: Vec<&str> = p.stats[2]
            .as_ref()
            .unwrap()
            .entries
            .iter()
            .map(|e| e.0.as_str())
            .collect();
        rels.sort();
        assert_eq!(rels, vec!["link", "sub dir", "sub dir/it's"]);
        assert!(p.stats[3].is_none());
        assert_eq!(p.content.as_deref(), Some(&b"hello\n"[..]));
        // Same content: not sent.
        let p = run_probe(
            sh,
            path_env,
            &reqs[..1],
            &ContentWant::IfDiffers(sha1_hex(b"hello\n")),
        );
        assert_eq!(p.content, None);
    }

    #[test]
    fn probe_runs_with_gnu_tools() {
        check_probe("/bin/sh", "/usr/bin:/bin");
    }

    #[test]
    fn probe_runs_with_busybox() {
        // Alpine's tools: busybox applets only on PATH, busybox's own shell.
        let Ok(bb) = std::fs::canonicalize("/usr/bin/busybox")
            .or_else(|_| std::fs::canonicalize("/bin/busybox"))
        else {
            eprintln!("no busybox here; skipped");
            return;
        };
        let bin = tempfile::tempdir().unwrap();
        for applet in [
            "sh", "stat", "readlink", "realpath", "find", "sha1sum", "cut", "wc", "cat", "id",
            "printf", "date",
        ] {
            std::os::unix::fs::symlink(&bb, bin.path().join(applet)).unwrap();
        }
        let sh = bin.path().join("sh");
        check_probe(sh.to_str().unwrap(), bin.path().to_str().unwrap());
    }

    #[test]
    fn probe_script_quotes_paths() {
        let s = probe_script(&[ProbeReq::new("/tmp/it's $(x)")], &ContentWant::Always, "").unwrap();
        assert!(s.contains("p='/tmp/it'\\''s $(x)'"), "{s}");
    }

    #[test]
    fn content_changes_say_why_there_is_no_diff() {
        let c = content_change("/f", Some(b"a\n"), b"b\n", Some("x"));
        let d = c.diff.unwrap();
        assert_eq!(
            (d.path.as_str(), d.before.as_str(), d.after.as_str()),
            ("/f", "a\n", "b\n")
        );
        let c = content_change("/f", Some(b"a\n"), b"\x00\x01", Some("x"));
        assert!(c.diff.is_none());
        assert!(c.after.unwrap().ends_with("(binary, no diff)"));
        let big = vec![b'a'; DIFF_MAX + 1];
        let c = content_change("/f", None, &big, Some("x"));
        assert!(c.diff.is_none());
        assert!(c.after.unwrap().ends_with("(larger than 1 MiB, no diff)"));
        // A new file diffs from nothing.
        let c = content_change("/f", None, b"new\n", None);
        assert_eq!(c.before, None);
        assert_eq!(c.diff.unwrap().before, "");
    }

    #[test]
    fn validate_words_are_quoted() {
        assert_eq!(
            validate_cmd("visudo -cf %s", "/etc/.sudoers.tmp").unwrap(),
            "visudo -cf /etc/.sudoers.tmp"
        );
        assert_eq!(
            validate_cmd("sh -c 'test -s %s'", "/a b").unwrap(),
            "sh -c 'test -s /a b'"
        );
        assert!(validate_cmd("true", "/x").is_err());
    }

    #[test]
    fn every_registered_argument_is_accepted() {
        use super::super::{blockinfile, copy, file, lineinfile, replace, stat, template};
        let defs = [
            &copy::COPY,
            &template::TEMPLATE,
            &file::FILE,
            &lineinfile::LINEINFILE,
            &blockinfile::BLOCKINFILE,
            &replace::REPLACE,
            &stat::STAT,
        ];
        for def in defs {
            assert!(!def.free_form);
            for arg in def.args {
                let mut m = Map::new();
                m.insert(arg.to_string(), Value::Null);
                if let Err(e) = (def.build)(&m) {
                    assert!(!e.contains("unknown field"), "{}: {arg}: {e}", def.name);
                }
            }
            let mut m = Map::new();
            m.insert("no_such_arg".into(), json!(1));
            let e = (def.build)(&m).err().unwrap();
            assert!(e.contains("unknown field `no_such_arg`"), "{e}");
        }
        // A bad value names its argument.
        let e = (copy::COPY.build)(
            json!({"dest": "/x", "content": "y", "backup": "maybe"})
                .as_object()
                .unwrap(),
        )
        .err()
        .unwrap();
        assert!(
            e.contains("argument `backup`") && e.contains("expected a boolean"),
            "{e}"
        );
    }

    #[test]
    fn attrs_compare_by_name_or_id() {
        let st = parse_stat_line("81a4|0|0|5|1|2|3|78|2049|1|root|root")
            .unwrap()
            .0;
        let mut ch = vec![];
        let want = AttrWant {
            mode: Some(Mode::Symbolic("u+x".into())),
            owner: Some("0".into()),
            group: Some("root".into()),
        };
        let a = plan_attrs(Some(&st), 0o644, false, &want, None, &mut ch).unwrap();
        assert_eq!(a.mode, 0o744);
        assert!(a.chmod && a.chown.is_none() && a.chgrp.is_none());
        assert_eq!(
            ch,
            vec![Change::new(
                Field::Mode,
                Some("0644".into()),
                Some("0744".into())
            )]
        );
    }
}

/// Deserializes rendered arguments into a module's typed arguments; an error names the
/// argument and what was expected.
pub fn build_args<T: serde::de::DeserializeOwned>(
    module: &str,
    args: &Map<String, Value>,
) -> std::result::Result<T, String> {
    match serde_json::from_value::<T>(Value::Object(args.clone())) {
        Ok(v) => Ok(v),
        Err(e) => {
            let msg = e.to_string();
            if msg.starts_with("unknown field") || msg.starts_with("missing field") {
                return Err(format!("{module}: {msg}"));
            }
            // Find the argument at fault: alone, it fails for another reason than the
            // required arguments it lacks.
            for (k, v) in args {
                let mut one = Map::new();
                one.insert(k.clone(), v.clone());
                if let Err(e1) = serde_json::from_value::<T>(Value::Object(one)) {
                    let m1 = e1.to_string();
                    if !m1.starts_with("missing field") {
                        return Err(format!("{module}: argument `{k}`: {m1}"));
                    }
                }
            }
            Err(format!("{module}: {msg}"))
        }
    }
}

/// serde helper: a string argument also given as a number or boolean (`owner: 1000`).
pub fn de_opt_str<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(if b { "True".into() } else { "False".into() })),
        other => Err(serde::de::Error::custom(format!(
            "expected a string, got {other}"
        ))),
    }
}

/// An edit of a text file in place (lineinfile, blockinfile, replace).
#[derive(Debug, Clone)]
pub struct TextEdit {
    pub path: String,
    /// Create the file (and its directory) when missing.
    pub create: bool,
    /// A missing file is fine and stays missing (state=absent).
    pub missing_ok: bool,
    /// The error when the file is missing and neither of the above.
    pub missing_msg: String,
    pub attrs: AttrWant,
    pub backup: bool,
    pub validate: Option<String>,
}

/// Plans a text edit in one exec: stat, checksum and content come back together. `edit` gets
/// the current text (None: missing) and returns the new text and extra result fields.
pub async fn plan_text<F>(ctx: &ModuleCtx<'_>, e: &TextEdit, edit: F) -> Result<Plan>
where
    F: FnOnce(Option<&str>) -> std::result::Result<(String, Value), String>,
{
    let reqs = [ProbeReq {
        path: e.path.clone(),
        follow: true,
        checksum: Some("sha1".into()),
        resolve_link: true,
        ..Default::default()
    }];
    let probe = probe(ctx, &reqs, ContentWant::Always).await?;
    let cur = probe.stats[0].clone();
    let mut result = Map::new();
    result.insert("path".into(), json!(e.path));
    match &cur {
        None if e.missing_ok => {
            result.insert("msg".into(), json!("file not present"));
            return Ok(Plan {
                result,
                ..Plan::default()
            });
        }
        None if !e.create => return Err(fail(ctx, e.missing_msg.clone())),
        Some(s) if s.kind == Kind::Dir => {
            return Err(fail(ctx, format!("Path {} is a directory !", e.path)))
        }
        _ => {}
    }
    let old = match (&cur, &probe.content) {
        (None, _) => None,
        (Some(_), Some(bytes)) => Some(
            String::from_utf8(bytes.clone())
                .map_err(|_| fail(ctx, format!("{}: not UTF-8 text", e.path)))?,
        ),
        (Some(_), None) => return Err(fail(ctx, format!("{}: cannot read the file", e.path))),
    };
    let (new, extra) = edit(old.as_deref()).map_err(|m| fail(ctx, m))?;
    if let Value::Object(m) = extra {
        result.extend(m);
    }
    let mut changes = Vec::new();
    let mut write = WritePlan {
        // Through a symlink, the real file is edited (the link stays a link).
        path: cur
            .as_ref()
            .and_then(|c| c.link_source.clone())
            .unwrap_or_else(|| e.path.clone()),
        backup: e.backup,
        validate: e.validate.clone(),
        ..Default::default()
    };
    if cur.is_none() {
        changes.push(Change::new(
            Field::State,
            Some("absent".into()),
            Some("file".into()),
        ));
        let parent = parent_of(&e.path);
        if parent != "/" && parent != "." {
            write.mkdir = Some(parent.to_string());
        }
    }
    if old.as_deref() != Some(new.as_str()) {
        changes.push(content_change(
            &e.path,
            Some(old.as_deref().unwrap_or("").as_bytes()),
            new.as_bytes(),
            cur.as_ref().and_then(|c| c.checksum.as_deref()),
        ));
        write.set_content(new.as_bytes());
    }
    write.attrs = plan_attrs(
        cur.as_ref(),
        probe.new_file_mode(),
        false,
        &e.attrs,
        None,
        &mut changes,
    )
    .map_err(|m| fail(ctx, m))?;
    if let Some(c) = &cur {
        if c.uid != probe.uid {
            write.keep_owner = Some(c.uid.to_string());
        }
        if c.gid != probe.gid {
            write.keep_group = Some(c.gid.to_string());
        }
    }
    if changes.is_empty() {
        return Ok(Plan {
            result,
            ..Plan::default()
        });
    }
    // Without a content change, the backup of an attribute-only change is not made (Ansible
    // backs up only when it rewrites the file).
    if write.content.is_none() {
        write.backup = false;
        write.validate = None;
    }
    Ok(Plan {
        changes,
        state: Some(json!({ "write": write.to_state(), "result": Value::Object(result.clone()) })),
        result,
        ..Plan::default()
    })
}

/// Performs a `plan_text` plan.
pub async fn apply_text(ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
    let state = plan.state.clone().unwrap_or(Value::Null);
    let write = WritePlan::from_state(ctx, &state.get("write").cloned())?;
    let backup = apply_write(ctx, &write).await?;
    let mut result = match state.get("result") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    if let Some(b) = backup {
        result.insert("backup".into(), json!(b));
        result.insert("backup_file".into(), json!(b));
    }
    Ok(result)
}
