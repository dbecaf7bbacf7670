//! `template`: renders a controller template with the host's variables and puts the result at
//! a path, exactly as `copy` puts content (same comparison, diff, backup and validate).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::{de_bool, Mode};
use super::copy::{apply_put, local_mode, plan_put, Want};
use super::fileops::{self, build_args, de_opt_str, AttrWant};
use super::{Module, ModuleCtx, Plan};
use crate::error::Result;

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateArgs {
    #[serde(deserialize_with = "de_req_str")]
    pub src: String,
    pub dest: String,
    #[serde(default)]
    pub mode: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub backup: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub force: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub validate: Option<String>,
    /// Ansible's default is true; the engine's one environment decides how blocks are trimmed.
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub trim_blocks: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub lstrip_blocks: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub newline_sequence: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub follow: bool,
    #[serde(default, deserialize_with = "de_opt_str")]
    pub output_encoding: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub unsafe_writes: bool,
}

fn de_req_str<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    de_opt_str(d)?.ok_or_else(|| serde::de::Error::custom("expected a string, got null"))
}

pub const TEMPLATE_ARGS: &[&str] = &[
    "src",
    "dest",
    "mode",
    "owner",
    "group",
    "backup",
    "force",
    "validate",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "follow",
    "output_encoding",
    "unsafe_writes",
];

pub struct Template(TemplateArgs);

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: TemplateArgs = build_args("template", args)?;
    if let Some(n) = &a.newline_sequence {
        if !["\n", "\r", "\r\n"].contains(&n.as_str()) {
            return Err(format!(
                "template: argument `newline_sequence` must be one of \\n, \\r, \\r\\n, got {n:?}"
            ));
        }
    }
    if let Some(e) = &a.output_encoding {
        if !e.eq_ignore_ascii_case("utf-8") && !e.eq_ignore_ascii_case("utf8") {
            return Err(format!(
                "template: argument `output_encoding`: only utf-8 is supported, got {e}"
            ));
        }
    }
    AttrWant::from_args(&a.mode, &a.owner, &a.group).map_err(|e| format!("template: {e}"))?;
    Ok(Box::new(Template(a)))
}

#[async_trait]
impl Module for Template {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.0;
        let path = super::SearchPaths::find(&ctx.search.templates, &a.src).ok_or_else(|| {
            fileops::fail(
                ctx,
                format!(
                    "Could not find or access '{}' in the templates search path",
                    a.src
                ),
            )
        })?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| fileops::fail(ctx, format!("{}: {e}", path.display())))?;
        // Ansible's template_* variables, on top of the host's.
        let mut vars = ctx.vars.clone();
        if let Value::Object(m) = &mut vars {
            let full = path.canonicalize().unwrap_or(path.clone());
            m.insert("template_path".into(), json!(a.src));
            m.insert(
                "template_fullpath".into(),
                json!(full.display().to_string()),
            );
            m.insert(
                "template_basename".into(),
                json!(path.file_name().map(|n| n.to_string_lossy().into_owned())),
            );
            m.insert("template_destpath".into(), json!(a.dest));
            m.insert("template_host".into(), json!(ctx.host));
        }
        let mut rendered = (ctx.render)(&text, &vars)?;
        if let Some(nl) = &a.newline_sequence {
            if nl != "\n" {
                rendered = rendered.replace('\n', nl);
            }
        }
        let mut attrs =
            AttrWant::from_args(&a.mode, &a.owner, &a.group).map_err(|e| fileops::fail(ctx, e))?;
        if attrs.mode == Some(Mode::Preserve) {
            attrs.mode = local_mode(&path).map(Mode::Octal);
        }
        let src_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        plan_put(
            ctx,
            Want {
                dest: a.dest.clone(),
                data: Some(rendered.into_bytes()),
                remote_src: None,
                src_name,
                attrs,
                backup: a.backup,
                force: a.force,
                validate: a.validate.as_deref(),
                src_label: Some(path.display().to_string()),
                preserve_remote_mode: false,
            },
        )
        .await
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        apply_put(ctx, plan).await
    }
}

pub static TEMPLATE: super::ModuleDef = super::ModuleDef {
    name: "template",
    args: TEMPLATE_ARGS,
    free_form: false,
    build,
};
