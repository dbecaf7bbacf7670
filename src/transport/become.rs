//! Privilege escalation as a wrapper around any transport (sudo, su, doas). Modules never
//! build escalation commands themselves. A password goes on standard input, never in argv,
//! so it cannot show in the target's process list.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use super::quote::{quote, Cmd};
use super::{FileAttrs, OpCounts, Output, Transport};
use crate::config::Secret;
use crate::error::{Error, HostErrorKind, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Sudo,
    Su,
    Doas,
}

impl Method {
    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "sudo" => Some(Method::Sudo),
            "su" => Some(Method::Su),
            "doas" => Some(Method::Doas),
            _ => None,
        }
    }
}

/// Who to become and how.
#[derive(Debug, Clone)]
pub struct BecomeSpec {
    pub method: Method,
    pub user: String,
    pub password: Option<Secret>,
}

pub struct Become {
    inner: Arc<dyn Transport>,
    spec: BecomeSpec,
    /// Whether sudo needs the password here (probed once per connection with `sudo -n true`).
    sudo_needs_password: OnceCell<bool>,
}

impl Become {
    pub fn new(inner: Arc<dyn Transport>, spec: BecomeSpec) -> Self {
        Become {
            inner,
            spec,
            sudo_needs_password: OnceCell::new(),
        }
    }

    fn fail(&self, msg: impl Into<String>) -> Error {
        Error::host(self.inner.host(), HostErrorKind::Failed, msg)
    }

    /// The escalated command line and the bytes to send before the command's own input.
    async fn wrap(&self, cmd: &str) -> Result<(String, Option<Vec<u8>>)> {
        let user = &self.spec.user;
        match self.spec.method {
            Method::Sudo => {
                let needs = match &self.spec.password {
                    None => false,
                    Some(_) => {
                        *self
                            .sudo_needs_password
                            .get_or_try_init(|| async {
                                let out = self
                                    .inner
                                    .exec(
                                        &Cmd::new("sudo").args(["-n", "true"]).into_string(),
                                        None,
                                    )
                                    .await?;
                                Ok::<bool, Error>(!out.success())
                            })
                            .await?
                    }
                };
                if needs {
                    // -k makes sudo ask every time, so the password line is always consumed by
                    // sudo and never reaches the command; -p '' keeps the prompt out of stderr.
                    let line = format!(
                        "sudo -H -k -S -p '' -u {} -- sh -c {}",
                        quote(user),
                        quote(cmd)
                    );
                    let pw = self.spec.password.as_ref().map(|p| {
                        let mut v = p.expose().as_bytes().to_vec();
                        v.push(b'\n');
                        v
                    });
                    Ok((line, pw))
                } else {
                    Ok((
                        format!("sudo -H -n -u {} -- sh -c {}", quote(user), quote(cmd)),
                        None,
                    ))
                }
            }
            Method::Su | Method::Doas if self.spec.password.is_some() => Err(self.fail(format!(
                "become_method {:?} reads its password from a terminal, which muster does not \
                 drive; use become_method sudo (password on stdin) or allow {} without a password",
                self.spec.method, user
            ))),
            Method::Su => Ok((
                format!("su -s /bin/sh {} -c {}", quote(user), quote(cmd)),
                None,
            )),
            Method::Doas => Ok((
                format!("doas -n -u {} sh -c {}", quote(user), quote(cmd)),
                None,
            )),
        }
    }

    /// Runs a command as the become user and fails unless it exits 0.
    async fn run_ok(&self, cmd: &str, what: &str) -> Result<Output> {
        let out = self.exec(cmd, None).await?;
        if !out.success() {
            return Err(self.fail(format!("{what}: {}", out.stderr_str().trim())));
        }
        Ok(out)
    }
}

/// Recognises sudo's own refusals so they read as what they are.
fn explain_sudo(out: &mut Output) {
    let err = out.stderr_str();
    if err.contains("a password is required") || err.contains("incorrect password") {
        out.stderr = format!(
            "{}\n(become: sudo wants a password; pass -K to give it)",
            err.trim_end()
        )
        .into_bytes();
    }
}

#[async_trait]
impl Transport for Become {
    fn host(&self) -> &str {
        self.inner.host()
    }

    async fn exec(&self, cmd: &str, stdin: Option<&[u8]>) -> Result<Output> {
        let (line, prefix) = self.wrap(cmd).await?;
        let input = match (prefix, stdin) {
            (None, s) => s.map(|s| s.to_vec()),
            (Some(mut p), s) => {
                if let Some(s) = s {
                    p.extend_from_slice(s);
                }
                Some(p)
            }
        };
        let mut out = self.inner.exec(&line, input.as_deref()).await?;
        if self.spec.method == Method::Sudo {
            explain_sudo(&mut out);
        }
        Ok(out)
    }

    async fn put(&self, path: &str, data: &[u8], attrs: &FileAttrs) -> Result<()> {
        // The bytes go to the become user's shell on standard input (after sudo's password
        // line, when it wants one), into a private temp file in the target's directory, which
        // is then renamed into place: the switch is atomic, nothing is staged elsewhere (a
        // staged copy left by a cut connection could hold a secret), and the temp file has
        // one name per path, so a run cut short leaves at most that one, which the next
        // upload to the path replaces and removes.
        let (dir, base) = match path.rsplit_once('/') {
            Some(("", b)) => ("/", b),
            Some((d, b)) => (d, b),
            None => (".", path),
        };
        let tmp = format!("{}/.{base}.muster.tmp", dir.trim_end_matches('/'));
        let mode = format!("{:o}", attrs.mode.unwrap_or(0o600));
        let mut script = format!(
            "umask 077; rm -f {t} && cat > {t} && chmod {m} {t}",
            t = quote(&tmp),
            m = quote(&mode)
        );
        if attrs.owner.is_some() || attrs.group.is_some() {
            let spec = format!(
                "{}{}",
                attrs.owner.clone().unwrap_or_default(),
                attrs
                    .group
                    .as_ref()
                    .map(|g| format!(":{g}"))
                    .unwrap_or_default()
            );
            script.push_str(&format!(" && chown {} {}", quote(&spec), quote(&tmp)));
        }
        script.push_str(&format!(
            " && mv -f {t} {p}; rc=$?; rm -f {t}; exit $rc",
            t = quote(&tmp),
            p = quote(path)
        ));
        let out = self.exec(&script, Some(data)).await?;
        if !out.success() {
            return Err(self.fail(format!("writing {path}: {}", out.stderr_str().trim())));
        }
        Ok(())
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>> {
        let out = self
            .run_ok(
                &Cmd::new("cat").arg("--").arg(path).into_string(),
                &format!("reading {path}"),
            )
            .await?;
        Ok(out.stdout)
    }

    fn op_counts(&self) -> OpCounts {
        self.inner.op_counts()
    }

    async fn close(&self) {
        self.inner.close().await
    }
}
