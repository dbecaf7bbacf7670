//! `authorized_key`: SSH public keys in a user's authorized_keys. Keys are compared by type and
//! blob (and options); comments only when `comment` is given. Other lines (comments, keys not
//! named) stay byte for byte unless `exclusive`. The file is written atomically (put) with mode
//! 0600, owned by the user; `manage_dir` creates its directory 0700 owned by the user.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::de_bool;
use super::fileops::{build_args, de_opt_str, fail};
use super::sysutil::{self, file_now, other, state_obj, text_change, FileNow, Sections};
use super::user::{check_name, parse_passwd};
use super::{Change, Field, Module, ModuleCtx, Plan};
use crate::error::Result;
use crate::transport::quote::{quote, Cmd};

fn present_state() -> String {
    "present".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizedKeyArgs {
    pub user: String,
    pub key: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub path: Option<String>,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub manage_dir: bool,
    #[serde(default = "present_state")]
    pub state: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub key_options: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub exclusive: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub comment: Option<String>,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub validate_certs: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub follow: bool,
}

pub const AUTHORIZED_KEY_ARGS: &[&str] = &[
    "user",
    "key",
    "path",
    "manage_dir",
    "state",
    "key_options",
    "exclusive",
    "comment",
    "validate_certs",
    "follow",
];

/// One key line: options, type, blob, comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub options: Option<String>,
    pub kind: String,
    pub blob: String,
    pub comment: Option<String>,
}

fn is_key_type(t: &str) -> bool {
    t.starts_with("ssh-")
        || t.starts_with("ecdsa-sha2-")
        || t.starts_with("sk-ssh-")
        || t.starts_with("sk-ecdsa-")
}

/// Splits at the first whitespace outside double quotes.
fn split_options(line: &str) -> (&str, &str) {
    let mut in_q = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_q = !in_q,
            c if c.is_whitespace() && !in_q => return (&line[..i], line[i..].trim_start()),
            _ => {}
        }
    }
    (line, "")
}

/// Parses an authorized_keys line; None for comments, blanks and what is not a key.
pub fn parse_key(line: &str) -> Option<Key> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (options, rest) = match line.split_whitespace().next() {
        Some(t) if is_key_type(t) => (None, line),
        _ => {
            let (o, r) = split_options(line);
            (Some(o.to_string()), r)
        }
    };
    let mut w = rest.splitn(3, char::is_whitespace);
    let kind = w.next()?.to_string();
    if !is_key_type(&kind) {
        return None;
    }
    let blob = w.next()?.to_string();
    let comment = w
        .next()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    Some(Key {
        options,
        kind,
        blob,
        comment,
    })
}

impl Key {
    pub fn line(&self) -> String {
        let mut s = String::new();
        if let Some(o) = &self.options {
            s.push_str(o);
            s.push(' ');
        }
        s.push_str(&self.kind);
        s.push(' ');
        s.push_str(&self.blob);
        if let Some(c) = &self.comment {
            s.push(' ');
            s.push_str(c);
        }
        s
    }
}

/// The new file text: `want` keys present (or absent), others kept unless `exclusive`.
pub fn edit_keys(
    text: &str,
    want: &[Key],
    present: bool,
    exclusive: bool,
    cmp_comment: bool,
) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let same = |a: &Key, b: &Key| {
        a.kind == b.kind && a.options == b.options && (!cmp_comment || a.comment == b.comment)
    };
    for k in want {
        let at: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| parse_key(l).is_some_and(|p| p.blob == k.blob))
            .map(|(i, _)| i)
            .collect();
        if !present {
            for i in at.into_iter().rev() {
                lines.remove(i);
            }
            continue;
        }
        match at.first() {
            Some(&i) => {
                let cur = parse_key(&lines[i]).unwrap();
                if !same(&cur, k) {
                    let mut new = k.clone();
                    if !cmp_comment {
                        new.comment = cur.comment.or(new.comment);
                    }
                    lines[i] = new.line();
                }
                // Duplicates of the same key go.
                for j in at.into_iter().skip(1).rev() {
                    lines.remove(j);
                }
            }
            None => lines.push(k.line()),
        }
    }
    if present && exclusive {
        let keep: BTreeSet<&str> = want.iter().map(|k| k.blob.as_str()).collect();
        lines.retain(|l| parse_key(l).is_none_or(|p| keep.contains(p.blob.as_str())));
    }
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

pub struct AuthorizedKey {
    a: AuthorizedKeyArgs,
    keys: Vec<Key>,
}

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: AuthorizedKeyArgs = build_args("authorized_key", args)?;
    fn e<T>(m: String) -> std::result::Result<T, String> {
        Err(format!("authorized_key: {m}"))
    }
    check_name("user", &a.user).or_else(e)?;
    if a.state != "present" && a.state != "absent" {
        return e(format!(
            "argument `state` must be present or absent, got {}",
            a.state
        ));
    }
    if a.key.starts_with("http://") || a.key.starts_with("https://") {
        return e(
            "argument `key`: fetching keys from a URL is not supported; give the keys".into(),
        );
    }
    let mut keys = vec![];
    for l in a.key.lines() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let mut k = parse_key(l)
            .ok_or_else(|| format!("authorized_key: argument `key`: not an SSH public key: {l}"))?;
        if let Some(o) = &a.key_options {
            if o.contains('\n') {
                return e("argument `key_options` must be one line".into());
            }
            k.options = Some(o.clone()).filter(|o| !o.is_empty());
        }
        if let Some(c) = &a.comment {
            k.comment = Some(c.clone()).filter(|c| !c.is_empty());
        }
        keys.push(k);
    }
    if keys.is_empty() {
        return e("argument `key` holds no key".into());
    }
    Ok(Box::new(AuthorizedKey { a, keys }))
}

pub static AUTHORIZED_KEY: super::ModuleDef = super::ModuleDef {
    name: "authorized_key",
    args: AUTHORIZED_KEY_ARGS,
    free_form: false,
    build,
};

#[async_trait]
impl Module for AuthorizedKey {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.a;
        let mut s = Sections::new();
        let pw = Cmd::new("getent").arg("passwd").arg(&a.user).into_string();
        s.add("pw", &pw);
        let path_expr = match &a.path {
            Some(p) => quote(p),
            None => format!(
                "\"$(getent passwd {} | cut -d: -f6)/.ssh/authorized_keys\"",
                quote(&a.user)
            ),
        };
        s.add("path", &format!("p={path_expr}; printf '%s' \"$p\""));
        s.add("dir", "[ -d \"$(dirname -- \"$p\")\" ] && echo y");
        s.file_expr("f", "\"$p\"");
        let s = s.run(ctx, "authorized_key").await?;
        let pw = s.get("pw").and_then(|t| parse_passwd(t.lines().next()?));
        // A user an earlier task of this check run would create: plan a fresh file.
        let planned_user = pw.is_none() && ctx.is_planned(&a.user);
        if pw.is_none() && !planned_user {
            return Err(fail(ctx, format!("Failed to lookup user {}", a.user)));
        }
        let (path, dir_ok, now) = if planned_user {
            let p = a
                .path
                .clone()
                .unwrap_or_else(|| format!("~{}/.ssh/authorized_keys", a.user));
            (p, false, FileNow::default())
        } else {
            (
                s.get("path").cloned().unwrap_or_default(),
                s.get("dir").is_some_and(|d| d.trim() == "y"),
                file_now(&s, "f"),
            )
        };
        let old = now.text.clone();
        let new = edit_keys(
            old.as_deref().unwrap_or(""),
            &self.keys,
            a.state == "present",
            a.exclusive,
            a.comment.is_some(),
        );
        let mut result = Map::new();
        result.insert("user".into(), json!(a.user));
        result.insert("key".into(), json!(a.key));
        result.insert("path".into(), json!(a.path));
        result.insert("state".into(), json!(a.state));
        result.insert("exclusive".into(), json!(a.exclusive));
        result.insert("manage_dir".into(), json!(a.manage_dir));
        result.insert("key_options".into(), json!(a.key_options));
        result.insert("keyfile".into(), json!(path));
        let mut changes: Vec<Change> = vec![];
        let writes = old.as_deref().unwrap_or("") != new && !(old.is_none() && new.is_empty());
        if !writes {
            return Ok(Plan {
                result,
                ..Plan::default()
            });
        }
        let dir = path
            .rsplit_once('/')
            .map(|(d, _)| d.to_string())
            .unwrap_or_default();
        let mkdir = !dir_ok;
        if mkdir {
            if !a.manage_dir {
                return Err(fail(
                    ctx,
                    format!("{dir} does not exist and manage_dir is false"),
                ));
            }
            changes.push(other(
                "directory",
                Some("absent".into()),
                Some(format!("{dir} (0700)")),
            ));
        }
        if old.is_none() {
            changes.push(Change::new(
                Field::State,
                Some("absent".into()),
                Some("file".into()),
            ));
        }
        changes.push(text_change(&path, old.as_deref(), &new));
        Ok(Plan {
            changes,
            result,
            state: Some(json!({
                "path": path, "dir": dir, "mkdir": mkdir, "text": new,
                "uid": pw.as_ref().map(|p| p.uid), "gid": pw.as_ref().map(|p| p.gid),
                "exists": old.is_some(),
            })),
            ..Plan::default()
        })
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        let st = state_obj(&plan.state);
        let path = st.get("path").and_then(Value::as_str).unwrap_or("");
        let text = st.get("text").and_then(Value::as_str);
        let (Some(text), false) = (text, path.is_empty()) else {
            return Err(fail(
                ctx,
                "internal: apply called without this module's plan",
            ));
        };
        let (Some(owner), Some(group)) = (
            st.get("uid").and_then(Value::as_u64).map(|v| v.to_string()),
            st.get("gid").and_then(Value::as_u64).map(|v| v.to_string()),
        ) else {
            return Err(fail(ctx, format!("Failed to lookup user {}", self.a.user)));
        };
        let (owner, group) = (Some(owner), Some(group));
        if st.get("mkdir").and_then(Value::as_bool) == Some(true) {
            let dir = st.get("dir").and_then(Value::as_str).unwrap_or("");
            let script = format!(
                "{} || exit 1\n{} || exit 1\n{}\n",
                Cmd::new("mkdir").arg("-p").arg("--").arg(dir).into_string(),
                Cmd::new("chmod")
                    .arg("0700")
                    .arg("--")
                    .arg(dir)
                    .into_string(),
                Cmd::new("chown")
                    .arg(&format!(
                        "{}:{}",
                        owner.clone().unwrap_or_default(),
                        group.clone().unwrap_or_default()
                    ))
                    .arg("--")
                    .arg(dir)
                    .into_string()
            );
            sysutil::run(ctx, &format!("creating {dir}"), &script, None).await?;
        }
        // authorized_keys is always 0600 and the user's after a write.
        let now = FileNow::default();
        sysutil::put_file(ctx, path, text, &now, 0o600, owner, group).await?;
        let mut r = plan.result.clone();
        r.insert("keyfile".into(), json!(path));
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey1 alice@laptop";
    const K2: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABKey2 bob";

    #[test]
    fn parses_keys_with_options() {
        let k = parse_key(r#"from="10.0.0.1,host \"x\"",no-pty ssh-ed25519 AAAA c o m"#).unwrap();
        assert_eq!(
            k.options.as_deref(),
            Some(r#"from="10.0.0.1,host \"x\"",no-pty"#)
        );
        assert_eq!((k.kind.as_str(), k.blob.as_str()), ("ssh-ed25519", "AAAA"));
        assert_eq!(k.comment.as_deref(), Some("c o m"));
        assert_eq!(parse_key("# comment"), None);
        assert_eq!(parse_key("garbage line"), None);
    }

    #[test]
    fn edits_like_ansible() {
        let k1 = parse_key(K1).unwrap();
        let k2 = parse_key(K2).unwrap();
        let file = format!("# keep me\n{K2}\n");
        // Added at the end; other lines kept.
        assert_eq!(
            edit_keys(&file, std::slice::from_ref(&k1), true, false, false),
            format!("# keep me\n{K2}\n{K1}\n")
        );
        // Same key under another comment: in sync (comments ignored).
        let other_comment = K1.replace("alice@laptop", "renamed");
        assert_eq!(
            edit_keys(
                &format!("{other_comment}\n"),
                std::slice::from_ref(&k1),
                true,
                false,
                false
            ),
            format!("{other_comment}\n")
        );
        // Exclusive drops other keys, keeps comment lines.
        assert_eq!(
            edit_keys(
                &format!("# c\n{K2}\n{K1}\n"),
                std::slice::from_ref(&k1),
                true,
                true,
                false
            ),
            format!("# c\n{K1}\n")
        );
        // Absent removes by blob.
        assert_eq!(
            edit_keys(&file, std::slice::from_ref(&k2), false, false, false),
            "# keep me\n"
        );
        // New options replace the line in place.
        let mut k1o = k1.clone();
        k1o.options = Some("no-pty".into());
        assert_eq!(
            edit_keys(&format!("{K1}\n{K2}\n"), &[k1o], true, false, false),
            format!("no-pty {K1}\n{K2}\n")
        );
    }
}
