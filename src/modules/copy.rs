//! `copy`: puts a file from the controller (or given inline, or already on the target) at a
//! path, with its mode and ownership. `template` shares the comparison and write path here.
//!
//! A plan is one exec: stat, checksum and (only when the content differs and is small) the
//! current content for the diff come back from one probe script.

use std::path::Path;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::{de_bool, Mode};
use super::fileops::{
    self, build_args, de_opt_str, AttrPlan, AttrWant, ContentWant, Kind, ProbeReq, WritePlan,
};
use super::{Change, Field, Module, ModuleCtx, Plan};
use crate::error::Result;

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyArgs {
    #[serde(default, deserialize_with = "de_opt_str")]
    pub src: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub content: Option<String>,
    pub dest: String,
    #[serde(default)]
    pub mode: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub backup: bool,
    #[serde(default = "yes", alias = "thirsty", deserialize_with = "de_bool")]
    pub force: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub validate: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub remote_src: bool,
    /// Accepted for compatibility; directories are not copied yet.
    #[serde(default)]
    pub directory_mode: Option<Value>,
    #[serde(default, deserialize_with = "de_bool")]
    pub follow: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub local_follow: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub decrypt: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub checksum: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub unsafe_writes: bool,
}

pub const COPY_ARGS: &[&str] = &[
    "src",
    "content",
    "dest",
    "mode",
    "owner",
    "group",
    "backup",
    "force",
    "thirsty",
    "validate",
    "remote_src",
    "directory_mode",
    "follow",
    "local_follow",
    "decrypt",
    "checksum",
    "unsafe_writes",
];

pub struct Copy(CopyArgs);

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: CopyArgs = build_args("copy", args)?;
    if a.src.is_none() && a.content.is_none() {
        return Err("copy: one of `src` or `content` is required".into());
    }
    if a.src.is_some() && a.content.is_some() {
        return Err("copy: `src` and `content` are mutually exclusive".into());
    }
    if a.content.is_some() && a.dest.ends_with('/') {
        return Err("copy: can not use content with a dir as dest".into());
    }
    if a.dest.is_empty() {
        return Err("copy: argument `dest` must not be empty".into());
    }
    AttrWant::from_args(&a.mode, &a.owner, &a.group).map_err(|e| format!("copy: {e}"))?;
    Ok(Box::new(Copy(a)))
}

/// What copy and template want at a destination, once the source is known.
pub struct Want<'a> {
    pub dest: String,
    /// Content to put (copy src/content, rendered template).
    pub data: Option<Vec<u8>>,
    /// Or: a file on the target to copy (remote_src).
    pub remote_src: Option<String>,
    /// The source's basename, for a dest that is a directory.
    pub src_name: Option<String>,
    pub attrs: AttrWant,
    pub backup: bool,
    pub force: bool,
    pub validate: Option<&'a str>,
    pub src_label: Option<String>,
    /// `mode: preserve` with remote_src: the source's mode on the target.
    pub preserve_remote_mode: bool,
}

/// Plans a whole-file put: one probe (two when dest turns out to be a directory).
pub async fn plan_put(ctx: &ModuleCtx<'_>, w: Want<'_>) -> Result<Plan> {
    let mut dest = w.dest.clone();
    if dest.ends_with('/') {
        match &w.src_name {
            Some(n) => dest.push_str(n),
            None => return Err(fileops::fail(ctx, "can not use content with a dir as dest")),
        }
    }
    let sha = w.data.as_deref().map(fileops::sha1_hex);
    let mut reqs = vec![ProbeReq {
        path: dest.clone(),
        follow: true,
        checksum: Some("sha1".into()),
        ..Default::default()
    }];
    if let Some(r) = &w.remote_src {
        reqs.push(ProbeReq {
            path: r.clone(),
            follow: true,
            checksum: Some("sha1".into()),
            ..Default::default()
        });
    }
    let parent = match dest.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/".to_string(),
        Some((d, _)) => d.to_string(),
        None => ".".to_string(),
    };
    reqs.push(ProbeReq::new(&parent));
    // When dest is an existing directory the file goes inside: probe that path too, so the
    // plan stays one exec either way.
    let inside = w
        .src_name
        .as_ref()
        .map(|n| format!("{}/{n}", dest.trim_end_matches('/')));
    if let Some(i) = &inside {
        reqs.push(ProbeReq {
            path: i.clone(),
            follow: true,
            checksum: Some("sha1".into()),
            ..Default::default()
        });
    }
    let want_content = match (&sha, &inside) {
        (Some(s), Some(i)) => ContentWant::IfDiffersOrInDir(s.clone(), i.clone()),
        (Some(s), None) => ContentWant::IfDiffers(s.clone()),
        (None, _) => ContentWant::Never,
    };
    let mut probe = fileops::probe(ctx, &reqs, want_content).await?;
    if inside.is_some() {
        let inner = probe.stats.pop().flatten();
        if probe.stats[0].as_ref().is_some_and(|s| s.kind == Kind::Dir) {
            dest = inside.clone().unwrap_or_default();
            if inner.as_ref().is_some_and(|s| s.kind == Kind::Dir) {
                return Err(fileops::fail(ctx, format!("{dest} is a directory")));
            }
            probe.stats[0] = inner;
        }
    } else if probe.stats[0].as_ref().is_some_and(|s| s.kind == Kind::Dir) {
        return Err(fileops::fail(ctx, "can not use content with a dir as dest"));
    }
    if probe
        .stats
        .last()
        .cloned()
        .flatten()
        .is_none_or(|s| s.kind != Kind::Dir)
        && !ctx.is_planned(&parent)
    {
        return Err(fileops::fail(
            ctx,
            format!("Destination directory {parent} does not exist"),
        ));
    }
    let (sha, size) = match (&w.remote_src, &sha) {
        (Some(r), _) => match probe.stats.get(1).cloned().flatten() {
            Some(s) if s.kind == Kind::File => (s.checksum.clone().unwrap_or_default(), s.size),
            Some(_) => {
                return Err(fileops::fail(
                    ctx,
                    format!("{r}: copying a directory with remote_src is not supported yet"),
                ))
            }
            None => return Err(fileops::fail(ctx, format!("Source {r} not found"))),
        },
        (None, Some(s)) => (
            s.clone(),
            w.data.as_ref().map(|d| d.len() as u64).unwrap_or(0),
        ),
        (None, None) => return Err(fileops::fail(ctx, "internal: nothing to copy")),
    };
    let mut attrs_want = w.attrs.clone();
    if w.preserve_remote_mode {
        attrs_want.mode = probe
            .stats
            .get(1)
            .cloned()
            .flatten()
            .map(|s| Mode::Octal(s.mode));
    }
    let cur = probe.stats[0].clone();
    let mut changes = Vec::new();
    let mut result = Map::new();
    result.insert("dest".into(), json!(dest));
    if let Some(s) = &w.src_label {
        result.insert("src".into(), json!(s));
    }
    if cur.is_some() && !w.force {
        // force: false only writes a missing file.
        result.insert(
            "checksum".into(),
            json!(cur.as_ref().and_then(|c| c.checksum.clone())),
        );
        return Ok(Plan {
            result,
            ..Plan::default()
        });
    }
    let mut write = WritePlan {
        path: dest.clone(),
        backup: w.backup,
        validate: w.validate.map(str::to_string),
        ..Default::default()
    };
    let content_differs = cur.as_ref().and_then(|c| c.checksum.as_deref()) != Some(sha.as_str());
    if cur.is_none() {
        changes.push(Change::new(
            Field::State,
            Some("absent".into()),
            Some("file".into()),
        ));
    }
    if content_differs {
        match (&w.data, &w.remote_src) {
            (Some(d), _) => {
                let before_sum = cur.as_ref().and_then(|c| c.checksum.clone());
                let before = probe.content.as_deref();
                changes.push(fileops::content_change(
                    &dest,
                    before,
                    d,
                    before_sum.as_deref(),
                ));
                write.set_content(d);
            }
            (None, Some(r)) => {
                changes.push(Change::new(
                    Field::Content,
                    cur.as_ref()
                        .and_then(|c| c.checksum.clone())
                        .map(|s| format!("sha1:{s}")),
                    Some(format!("sha1:{sha} (copied from {r} on the host, no diff)")),
                ));
                write.remote_src = Some(r.clone());
            }
            _ => {}
        }
    }
    write.attrs = fileops::plan_attrs(
        cur.as_ref(),
        probe.new_file_mode(),
        false,
        &attrs_want,
        None,
        &mut changes,
    )
    .map_err(|e| fileops::fail(ctx, e))?;
    if let Some(c) = &cur {
        if c.uid != probe.uid {
            write.keep_owner = Some(c.uid.to_string());
        }
        if c.gid != probe.gid {
            write.keep_group = Some(c.gid.to_string());
        }
    }
    result.insert("checksum".into(), json!(sha));
    result.insert("size".into(), json!(size));
    result.insert("state".into(), json!("file"));
    let after = fileops::file_result("dest", &dest, &write.attrs, cur.as_ref());
    if changes.is_empty() {
        result.extend(after);
        return Ok(Plan {
            result,
            ..Plan::default()
        });
    }
    // What check mode can already tell (the engine merges it into the registered result).
    let mut planned = result.clone();
    planned.extend(after.clone());
    let state = json!({"write": write.to_state(), "result": Value::Object(result), "after": Value::Object(after)});
    Ok(Plan {
        changes,
        result: planned,
        state: Some(state),
        ..Plan::default()
    })
}

/// Performs a `plan_put` (or directory) plan.
pub async fn apply_put(ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
    let state = plan.state.clone().unwrap_or(Value::Null);
    if let Some(tree) = state.get("tree") {
        return apply_tree(ctx, tree).await;
    }
    let write = WritePlan::from_state(ctx, &state.get("write").cloned())?;
    let backup = fileops::apply_write(ctx, &write).await?;
    let mut result = match state.get("result") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    if let Some(Value::Object(after)) = state.get("after") {
        result.extend(after.clone());
    }
    if let Some(b) = backup {
        result.insert("backup_file".into(), json!(b));
    }
    Ok(result)
}

/// The local mode of a controller file, for `mode: preserve`.
pub fn local_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[async_trait]
impl Module for Copy {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.0;
        let mut attrs =
            AttrWant::from_args(&a.mode, &a.owner, &a.group).map_err(|e| fileops::fail(ctx, e))?;
        let mut want = Want {
            dest: a.dest.clone(),
            data: None,
            remote_src: None,
            src_name: None,
            attrs: AttrWant::default(),
            backup: a.backup,
            force: a.force,
            validate: a.validate.as_deref(),
            src_label: a.src.clone(),
            preserve_remote_mode: false,
        };
        if let Some(c) = &a.content {
            want.data = Some(c.as_bytes().to_vec());
            if attrs.mode == Some(Mode::Preserve) {
                attrs.mode = None;
            }
        } else if let Some(src) = &a.src {
            want.src_name = Some(
                src.trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or(src)
                    .to_string(),
            );
            if a.remote_src {
                want.remote_src = Some(src.clone());
                if attrs.mode == Some(Mode::Preserve) {
                    // The source's mode comes from the probe.
                    attrs.mode = None;
                    want.preserve_remote_mode = true;
                }
            } else {
                let path = super::SearchPaths::find(&ctx.search.files, src).ok_or_else(|| {
                    fileops::fail(
                        ctx,
                        format!("Could not find or access '{src}' in the files search path"),
                    )
                })?;
                if path.is_dir() {
                    let dmode = match &a.directory_mode {
                        None | Some(Value::Null) => None,
                        Some(v) => match super::args::parse_mode(v) {
                            Ok(Mode::Octal(m)) => Some(m),
                            _ => {
                                return Err(fileops::fail(
                                    ctx,
                                    "argument `directory_mode` must be an octal mode like 0755",
                                ))
                            }
                        },
                    };
                    return plan_tree(ctx, &path, src, &a.dest, &attrs, dmode, a.force).await;
                }
                let data = std::fs::read(&path)
                    .map_err(|e| fileops::fail(ctx, format!("{}: {e}", path.display())))?;
                if attrs.mode == Some(Mode::Preserve) {
                    attrs.mode = local_mode(&path).map(Mode::Octal);
                }
                if let Some(sum) = &a.checksum {
                    let have = fileops::sha1_hex(&data);
                    if !sum.eq_ignore_ascii_case(&have) {
                        return Err(fileops::fail(
                            ctx,
                            format!("Copied file does not match the expected checksum. Transfer failed. ({} has sha1 {have}, expected {sum})", path.display()),
                        ));
                    }
                }
                want.src_label = Some(path.display().to_string());
                want.data = Some(data);
            }
        }
        want.attrs = attrs;
        plan_put(ctx, want).await
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        apply_put(ctx, plan).await
    }
}

pub static COPY: super::ModuleDef = super::ModuleDef {
    name: "copy",
    args: COPY_ARGS,
    free_form: false,
    build,
};

/// One local file or directory of a recursive copy, relative to the copied directory.
struct LocalEntry {
    rel: String,
    dir: bool,
    path: std::path::PathBuf,
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<LocalEntry>) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        // local_follow: links are copied as what they point to.
        let meta = std::fs::metadata(e.path())?;
        if meta.is_dir() {
            out.push(LocalEntry {
                rel: r.clone(),
                dir: true,
                path: e.path(),
            });
            walk(&e.path(), &r, out)?;
        } else if meta.is_file() {
            out.push(LocalEntry {
                rel: r,
                dir: false,
                path: e.path(),
            });
        }
    }
    Ok(())
}

/// What `apply_tree` does: directories to make (one exec), files to put, attributes to set.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct TreePlan {
    mkdir_script: String,
    puts: Vec<WritePlan>,
    attr_script: String,
    result: Map<String, Value>,
}

/// Plans a recursive copy of a controller directory: `src/` copies its contents into dest,
/// `src` the directory itself. One probe for the whole tree; a current file's content is read
/// (SFTP) only when it differs, for the diff.
async fn plan_tree(
    ctx: &ModuleCtx<'_>,
    local: &Path,
    src: &str,
    dest: &str,
    attrs: &AttrWant,
    dir_mode: Option<u32>,
    force: bool,
) -> Result<Plan> {
    let mut entries = Vec::new();
    walk(local, "", &mut entries)
        .map_err(|e| fileops::fail(ctx, format!("{}: {e}", local.display())))?;
    let dest = dest.trim_end_matches('/');
    let root = if src.ends_with('/') {
        dest.to_string()
    } else {
        let name = src.trim_end_matches('/').rsplit('/').next().unwrap_or(src);
        format!("{dest}/{name}")
    };
    let abs = |rel: &str| format!("{root}/{rel}");
    let mut reqs = vec![ProbeReq::new(&root)];
    for e in &entries {
        reqs.push(ProbeReq {
            path: abs(&e.rel),
            follow: true,
            checksum: (!e.dir).then(|| "sha1".to_string()),
            ..Default::default()
        });
    }
    let probe = fileops::probe(ctx, &reqs, ContentWant::Never).await?;
    let mut changes = Vec::new();
    let mut tree = TreePlan::default();
    let own = AttrPlan {
        mode: dir_mode.unwrap_or(probe.new_dir_mode()),
        chmod: dir_mode.is_some(),
        chown: attrs.owner.clone(),
        chgrp: attrs.group.clone(),
    };
    let dirs = std::iter::once((root.clone(), probe.stats[0].clone())).chain(
        entries
            .iter()
            .zip(&probe.stats[1..])
            .filter(|(e, _)| e.dir)
            .map(|(e, st)| (abs(&e.rel), st.clone())),
    );
    for (path, st) in dirs {
        match st {
            Some(s) if s.kind == Kind::Dir => {}
            Some(_) => {
                return Err(fileops::fail(
                    ctx,
                    format!("{path} exists and is not a directory"),
                ))
            }
            None => {
                changes.push(Change::new(
                    Field::Other(format!("state of {path}")),
                    Some("absent".into()),
                    Some("directory".into()),
                ));
                tree.mkdir_script.push_str(&format!(
                    "{} || exit 1\n",
                    crate::transport::quote::Cmd::new("mkdir")
                        .arg("-p")
                        .arg("--")
                        .arg(&path)
                        .into_string()
                ));
                tree.mkdir_script
                    .push_str(&fileops::attr_script(&path, &own, false));
            }
        }
    }
    for (e, st) in entries.iter().zip(&probe.stats[1..]) {
        if e.dir {
            continue;
        }
        let path = abs(&e.rel);
        if st.is_some() && !force {
            continue;
        }
        let data = std::fs::read(&e.path)
            .map_err(|err| fileops::fail(ctx, format!("{}: {err}", e.path.display())))?;
        let mut want = attrs.clone();
        if want.mode == Some(Mode::Preserve) {
            want.mode = local_mode(&e.path).map(Mode::Octal);
        }
        let sha = fileops::sha1_hex(&data);
        let mut w = WritePlan {
            path: path.clone(),
            ..Default::default()
        };
        match st {
            None => {
                changes.push(Change::new(
                    Field::Other(format!("state of {path}")),
                    Some("absent".into()),
                    Some("file".into()),
                ));
                changes.push(fileops::content_change(&path, None, &data, None));
                w.set_content(&data);
            }
            Some(s) if s.checksum.as_deref() != Some(sha.as_str()) => {
                let before = if s.size as usize <= fileops::DIFF_MAX {
                    ctx.transport.get(&path).await.ok()
                } else {
                    None
                };
                changes.push(fileops::content_change(
                    &path,
                    before.as_deref(),
                    &data,
                    s.checksum.as_deref(),
                ));
                w.set_content(&data);
            }
            Some(_) => {}
        }
        w.attrs = fileops::plan_attrs(
            st.as_ref(),
            probe.new_file_mode(),
            false,
            &want,
            Some(path.as_str()),
            &mut changes,
        )
        .map_err(|m| fileops::fail(ctx, m))?;
        if let Some(c) = st {
            if c.uid != probe.uid {
                w.keep_owner = Some(c.uid.to_string());
            }
            if c.gid != probe.gid {
                w.keep_group = Some(c.gid.to_string());
            }
        }
        if w.content.is_some() {
            tree.puts.push(w);
        } else {
            tree.attr_script
                .push_str(&fileops::attr_script(&path, &w.attrs, false));
        }
    }
    let mut result = Map::new();
    result.insert("dest".into(), json!(format!("{root}/")));
    result.insert("src".into(), json!(local.display().to_string()));
    if changes.is_empty() {
        return Ok(Plan {
            result,
            ..Plan::default()
        });
    }
    tree.result = result.clone();
    Ok(Plan {
        changes,
        result,
        state: Some(json!({ "tree": serde_json::to_value(&tree).unwrap_or(Value::Null) })),
        ..Plan::default()
    })
}

async fn apply_tree(ctx: &ModuleCtx<'_>, tree: &Value) -> Result<Map<String, Value>> {
    let tree: TreePlan = serde_json::from_value(tree.clone())
        .map_err(|e| fileops::fail(ctx, format!("internal: bad directory plan: {e}")))?;
    if !tree.mkdir_script.is_empty() {
        fileops::run_script(ctx, "creating directories", &tree.mkdir_script).await?;
    }
    for w in &tree.puts {
        fileops::apply_write(ctx, w).await?;
    }
    if !tree.attr_script.is_empty() {
        fileops::run_script(ctx, "setting attributes", &tree.attr_script).await?;
    }
    Ok(tree.result)
}
