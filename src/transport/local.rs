//! The local transport: `ansible_connection: local` and the implicit localhost. Commands run
//! through `/bin/sh -c` exactly as they would over SSH, so modules cannot tell the difference.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::quote::Cmd;
use super::{FileAttrs, OpCounts, Output, Transport};
use crate::error::{Error, HostErrorKind, Result};

pub struct LocalTransport {
    host: String,
    timeout: Option<Duration>,
    execs: AtomicU64,
    puts: AtomicU64,
    gets: AtomicU64,
}

impl LocalTransport {
    pub fn new(host: impl Into<String>, timeout: Option<Duration>) -> Self {
        LocalTransport {
            host: host.into(),
            timeout,
            execs: AtomicU64::new(0),
            puts: AtomicU64::new(0),
            gets: AtomicU64::new(0),
        }
    }

    fn fail(&self, msg: impl Into<String>) -> Error {
        Error::host(&self.host, HostErrorKind::Failed, msg)
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGHUP => "HUP",
        libc::SIGINT => "INT",
        libc::SIGQUIT => "QUIT",
        libc::SIGABRT => "ABRT",
        libc::SIGKILL => "KILL",
        libc::SIGSEGV => "SEGV",
        libc::SIGPIPE => "PIPE",
        libc::SIGALRM => "ALRM",
        libc::SIGTERM => "TERM",
        libc::SIGUSR1 => "USR1",
        libc::SIGUSR2 => "USR2",
        _ => return format!("{sig}"),
    }
    .to_string()
}

#[async_trait]
impl Transport for LocalTransport {
    fn host(&self) -> &str {
        &self.host
    }

    async fn exec(&self, cmd: &str, stdin: Option<&[u8]>) -> Result<Output> {
        use std::os::unix::process::ExitStatusExt;
        self.execs.fetch_add(1, Ordering::Relaxed);
        let mut command = tokio::process::Command::new("/bin/sh");
        // Its own session, as a command over SSH has: no controlling terminal to stop on, and
        // a process group of its own that `Group` can end as a whole.
        // SAFETY: setsid is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut child = command
            .arg("-c")
            .arg(cmd)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| self.fail(format!("could not start /bin/sh: {e}")))?;
        let mut group = Group(child.id());
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A command that does not read its input may close the pipe early; that is fine.
            let _ = pipe.write_all(data).await;
            drop(pipe);
        }
        let wait = child.wait_with_output();
        let out = match self.timeout {
            Some(t) => tokio::time::timeout(t, wait).await.map_err(|_| {
                Error::host(
                    &self.host,
                    HostErrorKind::Timeout,
                    format!("command timed out after {}s", t.as_secs_f64()),
                )
            })?,
            None => wait.await,
        }
        .map_err(|e| self.fail(format!("command failed to run: {e}")))?;
        group.0 = None;
        Ok(Output {
            status: out.status.code().map(|c| c as u32),
            signal: out.status.signal().map(signal_name),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    async fn put(&self, path: &str, data: &[u8], attrs: &FileAttrs) -> Result<()> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        let target = Path::new(path);
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = target
            .file_name()
            .ok_or_else(|| self.fail(format!("{path}: not a file path")))?;
        let tmp = dir.join(format!(
            ".{}.muster-{}.tmp",
            name.to_string_lossy(),
            rand::random::<u32>()
        ));
        let result: Result<()> = async {
            let mode = attrs.mode.unwrap_or(0o600);
            {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&tmp)
                    .map_err(|e| self.fail(format!("{}: {e}", tmp.display())))?;
                f.write_all(data)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| self.fail(format!("{}: {e}", tmp.display())))?;
            }
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
                .map_err(|e| self.fail(format!("{}: {e}", tmp.display())))?;
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
                let cmd = Cmd::new("chown")
                    .arg(&spec)
                    .arg(&tmp.to_string_lossy())
                    .into_string();
                let out = self.exec(&cmd, None).await?;
                if !out.success() {
                    return Err(
                        self.fail(format!("chown {spec} {path}: {}", out.stderr_str().trim()))
                    );
                }
            }
            std::fs::rename(&tmp, target).map_err(|e| self.fail(format!("{path}: {e}")))
        }
        .await;
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        tokio::fs::read(path)
            .await
            .map_err(|e| self.fail(format!("{path}: {e}")))
    }

    fn op_counts(&self) -> OpCounts {
        OpCounts {
            execs: self.execs.load(Ordering::Relaxed),
            puts: self.puts.load(Ordering::Relaxed),
            gets: self.gets.load(Ordering::Relaxed),
        }
    }

    async fn close(&self) {}
}

/// The process group of a local command still being waited for. Dropped before the wait
/// ended (`--timeout` fired, or Ctrl-C dropped the run), the whole group is sent SIGTERM, so
/// the command's children end with it, as `abandon` does for SSH commands. (The shell itself
/// is also killed by `kill_on_drop`.) A group lives while any member does, so the signal
/// reaches the command's children even once the shell is gone.
struct Group(Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            // SAFETY: a plain system call on a process group id of our own child.
            unsafe {
                libc::killpg(pid as libc::pid_t, libc::SIGTERM);
            }
        }
    }
}
