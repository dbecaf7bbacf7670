//! What the system modules (user, group, authorized_key, getent, sysctl, mount, modprobe)
//! share: one read-only exec whose output comes back in named sections (a random marker per
//! exec, so file contents can never forge one), a checked run of an apply script (with stdin),
//! and whole-file reads/writes of small config files.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::fileops::fail;
use super::{Change, Field, ModuleCtx};
use crate::error::Result;
use crate::transport::quote::{quote, sh_c};
use crate::transport::FileAttrs;

/// Builds a probe script whose pieces come back by name.
pub struct Sections {
    marker: String,
    script: String,
}

impl Default for Sections {
    fn default() -> Self {
        Self::new()
    }
}

impl Sections {
    pub fn new() -> Sections {
        Sections {
            marker: format!("@@muster{:016x}", rand::random::<u64>()),
            script: String::new(),
        }
    }
    /// Adds `cmd` (already quoted shell text); its stdout is the section `tag`.
    pub fn add(&mut self, tag: &str, cmd: &str) {
        self.script.push_str(&format!(
            "printf '\\n%s:%s\\n' {} {}\n{cmd}\n",
            quote(&self.marker),
            quote(tag)
        ));
    }
    /// Adds a regular file's `mode owner group` as `TAG.stat` and its bytes as `TAG`
    /// (both missing when the file is).
    pub fn file(&mut self, tag: &str, path: &str) {
        self.file_expr(tag, &quote(path));
    }
    /// `file` for a path given as shell text (already quoted), e.g. `"$p"`.
    pub fn file_expr(&mut self, tag: &str, q: &str) {
        self.script.push_str(&format!(
            "if [ -f {q} ]; then printf '\\n%s:%s\\n' {m} {ts}; stat -c '%a %U %G' -- {q} 2>/dev/null || stat -f '%Lp %Su %Sg' {q}; printf '\\n%s:%s\\n' {m} {t}; cat -- {q}; fi\n",
            m = quote(&self.marker),
            ts = quote(&format!("{tag}.stat")),
            t = quote(tag),
        ));
    }
    pub fn script(&self) -> String {
        format!("{}exit 0\n", self.script)
    }
    /// Splits what the script printed into its sections.
    pub fn parse(&self, out: &str) -> BTreeMap<String, String> {
        let sep = format!("\n{}:", self.marker);
        let mut m = BTreeMap::new();
        for piece in out.split(sep.as_str()).skip(1) {
            let (tag, body) = piece.split_once('\n').unwrap_or((piece, ""));
            m.insert(tag.to_string(), body.to_string());
        }
        m
    }
    /// Runs the script (one exec) and returns its sections.
    pub async fn run(&self, ctx: &ModuleCtx<'_>, what: &str) -> Result<BTreeMap<String, String>> {
        let out = ctx.transport.exec(&sh_c(&self.script()), None).await?;
        if !out.success() {
            return Err(fail(
                ctx,
                format!(
                    "{what}: reading the host failed (rc {}): {}",
                    out.rc(),
                    out.stderr_str().trim()
                ),
            ));
        }
        Ok(self.parse(&out.stdout_str()))
    }
}

/// A small file read by `Sections::file`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileNow {
    pub text: Option<String>,
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

pub fn file_now(s: &BTreeMap<String, String>, tag: &str) -> FileNow {
    let mut f = FileNow {
        text: s.get(tag).cloned(),
        ..Default::default()
    };
    if let Some(st) = s.get(&format!("{tag}.stat")) {
        let mut w = st.split_whitespace();
        f.mode = w.next().and_then(|m| u32::from_str_radix(m, 8).ok());
        f.owner = w.next().map(str::to_string);
        f.group = w.next().map(str::to_string);
    }
    f
}

/// Runs an apply script (one exec, optional stdin); a failure names `what`.
pub async fn run(
    ctx: &ModuleCtx<'_>,
    what: &str,
    script: &str,
    stdin: Option<&[u8]>,
) -> Result<String> {
    let out = ctx.transport.exec(&sh_c(script), stdin).await?;
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

/// Writes a whole file atomically (the transport's put), keeping the mode/owner of the file
/// it replaces unless told otherwise.
pub async fn put_file(
    ctx: &ModuleCtx<'_>,
    path: &str,
    text: &str,
    now: &FileNow,
    mode: u32,
    owner: Option<String>,
    group: Option<String>,
) -> Result<()> {
    let attrs = FileAttrs {
        mode: Some(now.mode.unwrap_or(mode)),
        owner: owner.or_else(|| now.owner.clone()),
        group: group.or_else(|| now.group.clone()),
    };
    ctx.transport.put(path, text.as_bytes(), &attrs).await
}

/// A module-specific change.
pub fn other(name: &str, before: Option<String>, after: Option<String>) -> Change {
    Change::new(Field::Other(name.to_string()), before, after)
}

/// A content change of a config file (sha1 before/after, as the file modules), with its diff.
pub fn text_change(path: &str, before: Option<&str>, after: &str) -> Change {
    let sum = |t: &str| format!("sha1:{}", super::fileops::sha1_hex(t.as_bytes()));
    Change::new(Field::Content, before.map(sum), Some(sum(after))).with_diff(
        path,
        before.unwrap_or("").to_string(),
        after.to_string(),
    )
}

/// Plan state helpers: JSON in, JSON out.
pub fn state_obj(v: &Option<Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

pub fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn jstr(v: Option<&str>) -> Value {
    v.map(|s| json!(s)).unwrap_or(Value::Null)
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (proleptic Gregorian).
pub fn ymd(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_exactly() {
        let s = Sections::new();
        let m = &s.marker;
        let out = format!("\n{m}:a\nline1\nno-newline\n{m}:b\n\n{m}:c.stat\n644 root root\n");
        let p = s.parse(&out);
        assert_eq!(p["a"], "line1\nno-newline");
        assert_eq!(p["b"], "");
        assert_eq!(file_now(&p, "c").mode, Some(0o644));
        assert_eq!(file_now(&p, "c").text, None);
    }

    #[test]
    fn dates() {
        assert_eq!(ymd(0), "1970-01-01");
        assert_eq!(ymd(19_723), "2024-01-01");
        assert_eq!(ymd(-1), "1969-12-31");
    }

    #[test]
    fn sections_round_trip_through_sh() {
        let mut s = Sections::new();
        s.add("one", "printf 'a\\nb'");
        s.add("two", "printf 'x\\n'");
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(s.script())
            .output()
            .unwrap();
        let p = s.parse(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(p["one"], "a\nb");
        assert_eq!(p["two"], "x\n");
    }
}
