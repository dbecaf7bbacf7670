//! `get_url`: downloads a URL on the controller and puts it at `dest` on the host through the
//! `copy` path (atomic replace, mode, owner, backup, validate). The host needs no HTTP client
//! and no route to the URL. With `checksum`, a host whose file already matches is in sync
//! without downloading; a download that does not match is refused.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::Digest;

use super::args::de_bool;
use super::fileops::{build_args, de_opt_str};
use super::{Module, ModuleCtx, ModuleDef, Plan};
use crate::error::{Error, HostErrorKind, Result};
use crate::transport::quote::quote;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    url: String,
    dest: String,
    #[serde(default, deserialize_with = "de_opt_str")]
    checksum: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    force: bool,
    #[serde(default)]
    mode: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    group: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    backup: bool,
    #[serde(default)]
    headers: Option<Map<String, Value>>,
    #[serde(default)]
    timeout: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_str")]
    url_username: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    url_password: Option<String>,
    #[serde(default, deserialize_with = "de_opt_str")]
    validate: Option<String>,
    /// Certificates are always validated; `false` is refused rather than silently honoured.
    #[serde(default = "yes", deserialize_with = "de_bool")]
    validate_certs: bool,
    #[serde(default, deserialize_with = "de_bool")]
    #[allow(dead_code)]
    use_proxy: bool,
}

fn yes() -> bool {
    true
}

const ARGS: &[&str] = &[
    "url",
    "dest",
    "checksum",
    "force",
    "mode",
    "owner",
    "group",
    "backup",
    "headers",
    "timeout",
    "url_username",
    "username",
    "url_password",
    "password",
    "validate",
    "validate_certs",
    "use_proxy",
];

pub static GET_URL: ModuleDef = ModuleDef {
    name: "get_url",
    args: ARGS,
    free_form: false,
    build,
};

struct GetUrl {
    /// The download between plan and apply: a private controller file, removed when the
    /// task is done with the module (also when check mode never applies).
    download: std::sync::Mutex<Option<tempfile::NamedTempFile>>,
    a: Args,
    /// `algorithm` and lower-case hex digest wanted, from `checksum: "sha256:…"`.
    want: Option<(String, String)>,
}

fn build(m: &Map<String, Value>) -> std::result::Result<Box<dyn Module>, String> {
    let mut m = m.clone();
    for (alias, name) in [("username", "url_username"), ("password", "url_password")] {
        if let Some(v) = m.remove(alias) {
            m.insert(name.into(), v);
        }
    }
    let a: Args = build_args("get_url", &m)?;
    if !a.validate_certs {
        return Err("validate_certs: false is not supported; fix the certificate or use http:// for a trusted network".into());
    }
    if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
        return Err(format!(
            "url: only http:// and https:// are supported, not `{}`",
            a.url
        ));
    }
    let want = match &a.checksum {
        None => None,
        Some(c) => {
            let (alg, hex) = c.split_once(':').ok_or_else(|| {
                format!("checksum: expected ALGORITHM:HEX (e.g. sha256:…), not `{c}`")
            })?;
            let alg = alg.to_ascii_lowercase();
            if !matches!(alg.as_str(), "sha256" | "sha1" | "sha512") {
                return Err(format!(
                    "checksum: algorithm `{alg}` is not supported (sha256, sha1, sha512)"
                ));
            }
            if hex.starts_with("http") {
                return Err(
                    "checksum: a URL of a checksum file is not supported; give the digest".into(),
                );
            }
            Some((alg, hex.trim().to_ascii_lowercase()))
        }
    };
    Ok(Box::new(GetUrl {
        download: std::sync::Mutex::new(None),
        a,
        want,
    }))
}

fn digest(alg: &str, data: &[u8]) -> String {
    let bytes: Vec<u8> = match alg {
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        _ => sha2::Sha256::digest(data).to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn basename_of_url(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("index.html")
        .to_string()
}

impl GetUrl {
    fn fail(&self, ctx: &ModuleCtx<'_>, msg: String) -> Error {
        Error::host(ctx.host, HostErrorKind::Failed, msg)
    }

    /// Fetches the URL on the controller (blocking client on a worker thread).
    async fn download(&self, ctx: &ModuleCtx<'_>) -> Result<(Vec<u8>, u16)> {
        let url = self.a.url.clone();
        let headers: Vec<(String, String)> = self
            .a
            .headers
            .iter()
            .flatten()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect();
        let auth = self
            .a
            .url_username
            .clone()
            .map(|u| (u, self.a.url_password.clone().unwrap_or_default()));
        let timeout = self
            .a
            .timeout
            .as_ref()
            .and_then(|t| t.as_f64().or_else(|| t.as_str()?.parse().ok()))
            .unwrap_or(10.0);
        let result =
            tokio::task::spawn_blocking(move || -> std::result::Result<(Vec<u8>, u16), String> {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(std::time::Duration::from_secs_f64(timeout)))
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut req = agent.get(&url);
                for (k, v) in &headers {
                    req = req.header(k, v);
                }
                if let Some((u, p)) = &auth {
                    use base64::Engine;
                    let token =
                        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                    req = req.header("Authorization", &format!("Basic {token}"));
                }
                let mut resp = req.call().map_err(|e| format!("request failed: {e}"))?;
                let status = resp.status().as_u16();
                if !(200..300).contains(&status) {
                    return Err(format!("HTTP status {status}"));
                }
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(4 << 30)
                    .read_to_vec()
                    .map_err(|e| format!("reading the body failed: {e}"))?;
                Ok((body, status))
            })
            .await
            .map_err(|e| self.fail(ctx, format!("download task failed: {e}")))?;
        // The URL may carry credentials; messages name only the host part.
        let shown = self
            .a
            .url
            .split('@')
            .next_back()
            .unwrap_or(&self.a.url)
            .to_string();
        result.map_err(|e| self.fail(ctx, format!("{shown}: {e}")))
    }
}

#[async_trait]
impl Module for GetUrl {
    async fn plan(&self, ctx: &ModuleCtx<'_>) -> Result<Plan> {
        // One probe: is dest a directory (then the file goes inside), and the digest there.
        let alg = self
            .want
            .as_ref()
            .map(|(a, _)| a.as_str())
            .unwrap_or("sha256");
        let tool = match alg {
            "sha1" => "sha1sum",
            "sha512" => "sha512sum",
            _ => "sha256sum",
        };
        let inside = format!(
            "{}/{}",
            self.a.dest.trim_end_matches('/'),
            basename_of_url(&self.a.url)
        );
        let script = format!(
            "D={d}; if [ -d \"$D\" ]; then D={i}; echo dir; fi; if [ -e \"$D\" ]; then echo present; ({tool} \"$D\" 2>/dev/null || shasum -a {bits} \"$D\") | cut -d' ' -f1; else echo absent; fi",
            d = quote(&self.a.dest),
            i = quote(&inside),
            bits = &alg[3..],
        );
        let out = ctx.transport.exec(&script, None).await?;
        let text = out.stdout_str();
        let dest = if text.lines().next() == Some("dir") {
            inside
        } else {
            self.a.dest.clone()
        };
        let present = text.lines().any(|l| l == "present");
        let remote_digest = text
            .lines()
            .last()
            .filter(|l| l.len() >= 40 && l.chars().all(|c| c.is_ascii_hexdigit()))
            .map(str::to_string);
        let in_sync_result = |msg: &str| {
            let mut p = Plan::in_sync();
            p.result = json!({"dest": dest, "url": self.a.url, "msg": msg, "checksum_dest": remote_digest}).as_object().cloned().unwrap_or_default();
            p
        };
        match (&self.want, present) {
            (Some((_, want)), true) if remote_digest.as_deref() == Some(want.as_str()) => {
                return Ok(in_sync_result(
                    "file already exists and matches the checksum",
                ));
            }
            (None, true) if !self.a.force => return Ok(in_sync_result("file already exists")),
            _ => {}
        }
        let (body, status) = self.download(ctx).await?;
        if let Some((alg, want)) = &self.want {
            let got = digest(alg, &body);
            if &got != want {
                return Err(self.fail(
                    ctx,
                    format!("The checksum for {dest} did not match {want}; it was {got}."),
                ));
            }
        }
        // Hand the bytes to `copy` through a private controller file.
        let mut file = tempfile::Builder::new()
            .prefix(".muster-get_url-")
            .tempfile()
            .map_err(|e| self.fail(ctx, format!("cannot create a temporary file: {e}")))?;
        std::io::Write::write_all(&mut file, &body)
            .map_err(|e| self.fail(ctx, format!("cannot write the download: {e}")))?;
        let tmp = file.path().to_path_buf();
        *self.download.lock().unwrap_or_else(|p| p.into_inner()) = Some(file);
        let mut cargs = Map::new();
        cargs.insert("src".into(), json!(tmp.display().to_string()));
        cargs.insert("dest".into(), json!(dest));
        cargs.insert("backup".into(), json!(self.a.backup));
        for (k, v) in [
            ("mode", self.a.mode.clone()),
            ("owner", self.a.owner.clone().map(Value::String)),
            ("group", self.a.group.clone().map(Value::String)),
            ("validate", self.a.validate.clone().map(Value::String)),
        ] {
            if let Some(v) = v {
                cargs.insert(k.into(), v);
            }
        }
        let copy = (super::copy::COPY.build)(&cargs).map_err(|e| self.fail(ctx, e))?;
        let inner = copy.plan(ctx).await?;
        let mut result = inner.result.clone();
        result.insert("url".into(), json!(self.a.url));
        result.insert("dest".into(), json!(dest));
        result.insert("status_code".into(), json!(status));
        result.insert("checksum_src".into(), json!(digest("sha1", &body)));
        result.insert("size".into(), json!(body.len()));
        if inner.is_in_sync() {
            self.download
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            return Ok(Plan {
                result,
                ..Plan::default()
            });
        }
        Ok(Plan {
            changes: inner.changes,
            result,
            state: Some(json!({"copy_args": cargs, "copy_state": inner.state})),
            runs_command: false,
        })
    }

    async fn apply(&self, ctx: &ModuleCtx<'_>, plan: &Plan) -> Result<Map<String, Value>> {
        let state = plan.state.clone().unwrap_or(Value::Null);
        let cargs = state["copy_args"].as_object().cloned().unwrap_or_default();
        let copy = (super::copy::COPY.build)(&cargs).map_err(|e| self.fail(ctx, e))?;
        let inner = Plan {
            changes: plan.changes.clone(),
            result: Map::new(),
            state: state.get("copy_state").cloned().filter(|v| !v.is_null()),
            runs_command: false,
        };
        let mut r = copy.apply(ctx, &inner).await?;
        // The download is no longer needed.
        self.download
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        for (k, v) in &plan.result {
            r.entry(k.clone()).or_insert(v.clone());
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let ok = |v: Value| build(v.as_object().unwrap()).is_ok();
        assert!(ok(
            json!({"url": "https://example.org/a.tar.gz", "dest": "/tmp/", "checksum": "sha256:ABCD"})
        ));
        assert!(!ok(json!({"url": "ftp://x/y", "dest": "/tmp/y"})));
        assert!(!ok(
            json!({"url": "https://x/y", "dest": "/y", "checksum": "md5:abc"})
        ));
        assert!(!ok(
            json!({"url": "https://x/y", "dest": "/y", "validate_certs": false})
        ));
        assert!(!ok(json!({"url": "https://x/y", "dest": "/y", "bogus": 1})));
        assert_eq!(basename_of_url("https://h/p/file.tgz?x=1"), "file.tgz");
        assert_eq!(
            digest("sha256", b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
