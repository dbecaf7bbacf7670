//! `stat`: reports what is at a path, with Ansible's result fields, under `stat`. Never
//! changes anything: the plan is always in sync and carries the result. One exec.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::args::de_bool;
use super::fileops::{self, build_args, de_opt_str, ContentWant, Kind, ProbeReq, Stat};
use super::{Module, ModuleCtx, Plan};
use crate::error::Result;

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatArgs {
    #[serde(alias = "dest", alias = "name")]
    pub path: String,
    #[serde(default, deserialize_with = "de_bool")]
    pub follow: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub get_checksum: bool,
    #[serde(
        default,
        alias = "checksum",
        alias = "checksum_algo",
        deserialize_with = "de_opt_str"
    )]
    pub checksum_algorithm: Option<String>,
    /// Accepted; mime types are not reported.
    #[serde(
        default = "yes",
        alias = "mime",
        alias = "mime_type",
        alias = "mime-type",
        deserialize_with = "de_bool"
    )]
    pub get_mime: bool,
    /// Accepted; file attributes (lsattr) are not reported.
    #[serde(
        default = "yes",
        alias = "attr",
        alias = "attributes",
        deserialize_with = "de_bool"
    )]
    pub get_attributes: bool,
}

pub const STAT_ARGS: &[&str] = &[
    "path",
    "dest",
    "name",
    "follow",
    "get_checksum",
    "checksum_algorithm",
    "checksum",
    "checksum_algo",
    "get_mime",
    "mime",
    "mime_type",
    "mime-type",
    "get_attributes",
    "attr",
    "attributes",
];

pub struct StatModule(StatArgs);

pub fn build(args: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let a: StatArgs = build_args("stat", args)?;
    let alg = a.checksum_algorithm.as_deref().unwrap_or("sha1");
    if !["md5", "sha1", "sha224", "sha256", "sha384", "sha512"].contains(&alg) {
        return Err(format!(
            "stat: argument `checksum_algorithm` must be one of md5, sha1, sha224, sha256, sha384, sha512, got {alg}"
        ));
    }
    Ok(Box::new(StatModule(a)))
}

pub static STAT: super::ModuleDef = super::ModuleDef {
    name: "stat",
    args: STAT_ARGS,
    free_form: false,
    build,
};

/// Ansible's `stat` dictionary for what the probe saw.
pub fn stat_fields(path: &str, st: Option<&Stat>) -> Value {
    let Some(st) = st else {
        return json!({ "exists": false });
    };
    let m = st.mode;
    let bit = |b: u32| m & b != 0;
    let mut o = json!({
        "exists": true,
        "path": path,
        "mode": fileops::mode_str(m),
        "isdir": st.kind == Kind::Dir,
        "ischr": st.kind == Kind::Char,
        "isblk": st.kind == Kind::Block,
        "isreg": st.kind == Kind::File,
        "isfifo": st.kind == Kind::Fifo,
        "islnk": st.kind == Kind::Link,
        "issock": st.kind == Kind::Socket,
        "uid": st.uid,
        "gid": st.gid,
        "size": st.size,
        "inode": st.inode,
        "dev": st.dev,
        "nlink": st.nlink,
        "atime": st.atime,
        "mtime": st.mtime,
        "ctime": st.ctime,
        "wusr": bit(0o200),
        "rusr": bit(0o400),
        "xusr": bit(0o100),
        "wgrp": bit(0o020),
        "rgrp": bit(0o040),
        "xgrp": bit(0o010),
        "woth": bit(0o002),
        "roth": bit(0o004),
        "xoth": bit(0o001),
        "isuid": bit(0o4000),
        "isgid": bit(0o2000),
        "readable": st.access.0,
        "writeable": st.access.1,
        "executable": st.access.2,
        "pw_name": st.owner,
        "gr_name": st.group,
    });
    if st.kind == Kind::Link {
        o["lnk_source"] = json!(st.link_source);
        o["lnk_target"] = json!(st.link_target);
    }
    if st.kind == Kind::File {
        if let Some(c) = &st.checksum {
            o["checksum"] = json!(c);
        }
    }
    o
}

#[async_trait]
impl Module for StatModule {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        let a = &self.0;
        let req = ProbeReq {
            path: a.path.clone(),
            follow: a.follow,
            checksum: a.get_checksum.then(|| {
                a.checksum_algorithm
                    .clone()
                    .unwrap_or_else(|| "sha1".into())
            }),
            access: true,
            resolve_link: true,
            ..Default::default()
        };
        let probe = fileops::probe(ctx, std::slice::from_ref(&req), ContentWant::Never).await?;
        let mut result = Map::new();
        result.insert("stat".into(), stat_fields(&a.path, probe.stats[0].as_ref()));
        Ok(Plan {
            result,
            ..Plan::default()
        })
    }

    async fn apply(&self, _ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        Ok(plan.result.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_ansible_names() {
        let out = b"@U 0022\n@I uid=0(root) gid=0(root) groups=0(root)\n@S0 a1ff|0|0|11|1|2|3|9|2049|1|root|root\n@L0 target\n@R0 /etc/target\n@A0 rw\n";
        let req = ProbeReq {
            path: "/etc/l".into(),
            ..Default::default()
        };
        let p = fileops::parse_probe(out, &[req]).unwrap();
        let v = stat_fields("/etc/l", p.stats[0].as_ref());
        assert_eq!(v["islnk"], json!(true));
        assert_eq!(v["isreg"], json!(false));
        assert_eq!(v["mode"], json!("0777"));
        assert_eq!(v["lnk_target"], json!("target"));
        assert_eq!(v["lnk_source"], json!("/etc/target"));
        assert_eq!(v["writeable"], json!(true));
        assert_eq!(v["executable"], json!(false));
        assert_eq!(v["pw_name"], json!("root"));
        assert_eq!(stat_fields("/x", None), json!({"exists": false}));
    }
}
