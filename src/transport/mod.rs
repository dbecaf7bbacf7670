//! How muster reaches a host: the narrow `Transport` seam (exec, put, get) with an SSH and a
//! local implementation, privilege escalation as a wrapper, and the one place where remote
//! command text is built (`quote`).

pub mod r#become;
pub mod connect;
pub mod known_hosts;
pub mod local;
pub mod quote;
pub mod shell;
pub mod ssh;
pub mod ssh_config;

use async_trait::async_trait;

use crate::error::Result;

pub use connect::{connect, HostConn};

/// What a finished remote command left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit status, when the command exited normally.
    pub status: Option<u32>,
    /// Signal name, when the command was killed by one (e.g. "TERM").
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// The shell's convention: status, or 128 + signal number when killed.
    pub fn rc(&self) -> i64 {
        match (self.status, &self.signal) {
            (Some(s), _) => s as i64,
            (None, Some(sig)) => 128 + signal_number(sig).unwrap_or(0) as i64,
            (None, None) => -1,
        }
    }
}

fn signal_number(name: &str) -> Option<u32> {
    Some(match name.trim_start_matches("SIG") {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "ABRT" => 6,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => return None,
    })
}

/// Mode and ownership a file is written with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileAttrs {
    /// Permission bits (e.g. 0o644). None: 0600 for new files (never wider than asked).
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

/// Counts of remote operations, so the round-trip budget can be seen (`-v`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpCounts {
    pub execs: u64,
    pub puts: u64,
    pub gets: u64,
}

/// The one way the engine talks to a host.
#[async_trait]
pub trait Transport: Send + Sync {
    /// The inventory name of the host.
    fn host(&self) -> &str;
    /// Runs a shell command line (built with `quote`) with optional standard input.
    async fn exec(&self, cmd: &str, stdin: Option<&[u8]>) -> Result<Output>;
    /// Writes a whole file atomically: a temporary file in the same directory, then a rename,
    /// so the path holds either the old content or the new, never half.
    async fn put(&self, path: &str, data: &[u8], attrs: &FileAttrs) -> Result<()>;
    /// Reads a whole file.
    async fn get(&self, path: &str) -> Result<Vec<u8>>;
    /// Remote operations done so far.
    fn op_counts(&self) -> OpCounts;
    /// Closes the connection; later calls fail.
    async fn close(&self);
}
