//! The SSH transport on russh: one connection per host; commands run one after another in a
//! long-lived POSIX shell on a channel of that connection (`shell`), or on a channel of their
//! own when they need standard input or the target has no POSIX shell; TCP_NODELAY on; host
//! keys verified against known_hosts by our own `known_hosts` module; files moved over SFTP and
//! replaced atomically.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use russh::client::{self, Handle};
use russh::keys::PublicKeyOrCertificate;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh::ChannelMsg;
use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};
use tokio::sync::{OnceCell, Semaphore};

use super::known_hosts::{self, KnownHosts, Verdict};
use super::quote::Cmd;
use super::shell;
use super::{FileAttrs, OpCounts, Output, Transport};
use crate::cli::HostKeyChecking;
use crate::error::{Error, HostErrorKind, Result};

/// OpenSSH's sshd refuses channel opens past `MaxSessions` (default 10); stay below it.
const MAX_CHANNELS: usize = 8;
/// Long-lived shells per connection at most. Each holds one of the MAX_CHANNELS places for as
/// long as it lives, so shells, commands on channels of their own and the SFTP channel stay
/// within MaxSessions together, and half the places are always left to the latter.
const MAX_SHELLS: usize = 4;
/// How often a refused channel open is tried again before giving up.
const CHANNEL_OPEN_TRIES: u32 = 5;
/// SFTP write and read chunk; OpenSSH accepts up to 256 KiB, 32 KiB is safe everywhere.
const SFTP_CHUNK: usize = 32 * 1024;
/// SFTP requests in flight at once per transfer.
const SFTP_PIPELINE: usize = 16;

/// Where and how to connect: the result of inventory vars, flags and ssh config together.
#[derive(Debug, Clone)]
pub struct SshTarget {
    /// Inventory name, used in every message.
    pub name: String,
    /// Address to connect to and to look up in known_hosts.
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Private keys to try, in order, before the agent and the default keys.
    pub identity_files: Vec<PathBuf>,
    /// Only the listed identity files (ssh config `IdentitiesOnly yes`).
    pub identities_only: bool,
    /// Hosts to jump through, first first (ssh config `ProxyJump`).
    pub jumps: Vec<SshTarget>,
}

/// What every connection of a run shares.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// known_hosts files to trust; the first is where `accept-new` records keys.
    pub known_hosts: Vec<PathBuf>,
    pub checking: HostKeyChecking,
    pub connect_timeout: Duration,
    pub command_timeout: Option<Duration>,
}

/// What happened when the server's key was checked, kept for the error message.
#[derive(Debug, Clone)]
enum KeyOutcome {
    Trusted,
    Added,
    Unknown,
    Changed {
        path: PathBuf,
        line: usize,
        known_type: String,
    },
    Revoked {
        path: PathBuf,
        line: usize,
    },
    Error(String),
}

struct ClientHandler {
    address: String,
    port: u16,
    name: String,
    settings: Arc<SshSettings>,
    files: Arc<Vec<KnownHosts>>,
    outcome: Arc<Mutex<Option<(KeyOutcome, String)>>>,
    /// The TCP socket (a second descriptor), when direct: see `quick_ack`.
    socket: Arc<Mutex<Option<std::os::fd::OwnedFd>>>,
}

impl ClientHandler {
    fn verdict(&self, offered: &PublicKeyOrCertificate) -> (KeyOutcome, PublicKey) {
        let (plain, cert) = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => (key.clone(), None),
            PublicKeyOrCertificate::Certificate(c) => {
                (PublicKey::new(c.public_key().clone(), ""), Some(c))
            }
        };
        let mut changed = None;
        let mut trusted = false;
        for kh in self.files.iter() {
            let mut verdicts = vec![kh.check(&self.address, self.port, &plain)];
            if let Some(c) = cert {
                verdicts.push(kh.check_cert(&self.address, self.port, c));
            }
            for v in verdicts {
                match v {
                    Verdict::Revoked { line } => {
                        return (
                            KeyOutcome::Revoked {
                                path: kh.path().to_path_buf(),
                                line,
                            },
                            plain,
                        )
                    }
                    Verdict::Trusted { .. } | Verdict::TrustedByCa { .. } => trusted = true,
                    Verdict::Changed { line, known_type } => {
                        changed.get_or_insert(KeyOutcome::Changed {
                            path: kh.path().to_path_buf(),
                            line,
                            known_type,
                        });
                    }
                    Verdict::Unknown => {}
                }
            }
        }
        if trusted {
            (KeyOutcome::Trusted, plain)
        } else if let Some(c) = changed {
            (c, plain)
        } else {
            (KeyOutcome::Unknown, plain)
        }
    }
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    /// The announcement comes right after authentication and asks no reply: see `quick_ack`.
    async fn openssh_ext_host_keys_announced(
        &mut self,
        _keys: Vec<PublicKey>,
        _session: &mut client::Session,
    ) -> std::result::Result<(), Self::Error> {
        // Once: the second descriptor is closed right after (one descriptor per host, not two).
        if let Some(fd) = self.socket.lock().unwrap_or_else(|p| p.into_inner()).take() {
            quick_ack(&fd);
        }
        Ok(())
    }

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> std::result::Result<bool, Self::Error> {
        let (mut outcome, plain) = self.verdict(offered);
        let fp = known_hosts::fingerprint(&plain);
        let accept = match (&outcome, self.settings.checking) {
            (KeyOutcome::Trusted, _) => true,
            (KeyOutcome::Revoked { .. }, _) => false,
            (KeyOutcome::Unknown, HostKeyChecking::AcceptNew) => {
                match self.settings.known_hosts.first() {
                    Some(path) => {
                        match known_hosts::append(path, &self.address, self.port, &plain) {
                            Ok(line) => {
                                eprintln!(
                                    "warning: {}: recorded new host key {fp} for {} in {}:{line}",
                                    self.name,
                                    lookup_name(&self.address, self.port),
                                    path.display()
                                );
                                outcome = KeyOutcome::Added;
                                true
                            }
                            Err(e) => {
                                outcome = KeyOutcome::Error(e.to_string());
                                false
                            }
                        }
                    }
                    None => false,
                }
            }
            (_, HostKeyChecking::Off) => {
                eprintln!(
                    "WARNING: {}: host key checking is OFF; accepting {fp} without verification \
                     (anyone on the network path could be impersonating this host)",
                    self.name
                );
                true
            }
            _ => false,
        };
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some((outcome, fp));
        Ok(accept)
    }
}

fn lookup_name(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_string()
    } else {
        format!("[{address}]:{port}")
    }
}

/// An open SSH connection to one host.
pub struct SshTransport {
    name: String,
    /// Shared with the long-lived shells, which need it to end a command given up on.
    handle: Arc<Handle<ClientHandler>>,
    /// The connection this one tunnels through (ProxyJump); kept alive as long as this one.
    _via: Option<Arc<SshTransport>>,
    /// Channels in use: each command on a channel of its own holds one while it runs, each
    /// long-lived shell one for as long as it lives (idle or not).
    channels: Arc<Semaphore>,
    sftp: OnceCell<RawSftpSession>,
    command_timeout: Option<Duration>,
    /// The handler's second descriptor of the socket, closed once the first channel is open
    /// (when the server never announced its host keys, the notice `quick_ack` waits for).
    socket: Arc<Mutex<Option<std::os::fd::OwnedFd>>>,
    /// This connection's commands given up on and not yet ended (`abandon`): `close` waits
    /// for them, and only for them.
    abandoned: Arc<Pending>,
    /// Idle long-lived shells, ready for the next command.
    shells: Mutex<Vec<Shell>>,
    /// Long-lived shells open (idle or busy), shared with each `Shell` so its drop counts.
    shells_open: Arc<AtomicUsize>,
    /// Commands go through long-lived shells; off when the target's shell is not POSIX (an
    /// inventory says so, or the first shell never became ready).
    use_shells: AtomicBool,
    execs: AtomicU64,
    puts: AtomicU64,
    gets: AtomicU64,
}

/// Decrypted private keys, shared by every connection of the run so a passphrase is asked once.
fn key_cache() -> &'static Mutex<HashMap<PathBuf, Arc<PrivateKey>>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Arc<PrivateKey>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Loads a private key, asking for its passphrase (env `MUSTER_SSH_PASSPHRASE`, else the
/// terminal) when it is encrypted.
fn load_key(path: &Path) -> std::result::Result<Arc<PrivateKey>, String> {
    if let Some(k) = key_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(path)
    {
        return Ok(k.clone());
    }
    let key = match russh::keys::load_secret_key(path, None) {
        Ok(k) => k,
        Err(russh::keys::Error::KeyIsEncrypted) => {
            let pass = match std::env::var("MUSTER_SSH_PASSPHRASE") {
                Ok(p) => p,
                Err(_) => {
                    use std::io::IsTerminal;
                    if !std::io::stdin().is_terminal() {
                        return Err(format!(
                            "{} is encrypted: set MUSTER_SSH_PASSPHRASE or run from a terminal",
                            path.display()
                        ));
                    }
                    rpassword::prompt_password(format!(
                        "Enter passphrase for key '{}': ",
                        path.display()
                    ))
                    .map_err(|e| format!("could not read the passphrase: {e}"))?
                }
            };
            russh::keys::load_secret_key(path, Some(&pass))
                .map_err(|e| format!("{}: could not decrypt the key: {e}", path.display()))?
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let key = Arc::new(key);
    key_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_path_buf(), key.clone());
    Ok(key)
}

fn default_identity_files() -> Vec<PathBuf> {
    let Some(home) = dirs::home_dir() else {
        return vec![];
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| home.join(".ssh").join(n))
        .filter(|p| p.exists())
        .collect()
}

impl SshTransport {
    /// Connects, verifies the host key and authenticates, all within the connect timeout.
    pub async fn connect(target: &SshTarget, settings: Arc<SshSettings>) -> Result<Arc<Self>> {
        run_started();
        let timeout = settings.connect_timeout;
        let unreachable = |msg: String| Error::host(&target.name, HostErrorKind::Unreachable, msg);
        match tokio::time::timeout(timeout, Self::connect_inner(target, settings)).await {
            Ok(r) => r.map_err(|e| explain_fd_exhaustion(&target.name, e)),
            Err(_) => Err(unreachable(format!(
                "no answer from {}:{} within the connect timeout of {}s",
                target.address,
                target.port,
                timeout.as_secs_f64()
            ))),
        }
    }

    async fn connect_inner(target: &SshTarget, settings: Arc<SshSettings>) -> Result<Arc<Self>> {
        // Through the jump hosts, if any: each one tunnels to the next.
        let mut via: Option<Arc<SshTransport>> = None;
        for jump in &target.jumps {
            via = Some(Self::connect_hop(jump, &settings, via).await?);
        }
        Self::connect_hop(target, &settings, via).await
    }

    /// One SSH connection, direct or tunnelled through `via`.
    async fn connect_hop(
        target: &SshTarget,
        settings: &Arc<SshSettings>,
        via: Option<Arc<SshTransport>>,
    ) -> Result<Arc<Self>> {
        let name = target.name.clone();
        let unreachable = |msg: String| Error::host(&name, HostErrorKind::Unreachable, msg);

        let mut files = Vec::new();
        for path in &settings.known_hosts {
            files.push(KnownHosts::load(path)?);
        }
        let files = Arc::new(files);

        // Like OpenSSH, ask first for the key types known_hosts holds for this host, so a host
        // with several keys presents the one we can verify.
        let mut preferred = russh::Preferred::default();
        let mut known_types = Vec::new();
        let mut has_ca = false;
        for kh in files.iter() {
            for t in kh.key_types_for(&target.address, target.port) {
                if !known_types.contains(&t) {
                    known_types.push(t);
                }
            }
            has_ca |= kh.has_cert_authority_for(&target.address, target.port);
        }
        if !known_types.is_empty() {
            let mut keys = known_types.clone();
            keys.extend(
                preferred
                    .key
                    .iter()
                    .filter(|k| !known_types.contains(k))
                    .cloned(),
            );
            preferred.key = Cow::Owned(keys);
        }
        if has_ca {
            preferred.host_key_certificates = preferred.key.clone();
        }
        let config = Arc::new(client::Config {
            nodelay: true,
            preferred,
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 4,
            ..Default::default()
        });
        let outcome = Arc::new(Mutex::new(None));
        // A second descriptor of the TCP socket, to ask for an immediate ACK (`quick_ack`).
        let socket: Arc<Mutex<Option<std::os::fd::OwnedFd>>> = Arc::new(Mutex::new(None));
        let handler = ClientHandler {
            address: target.address.clone(),
            port: target.port,
            name: target.name.clone(),
            settings: settings.clone(),
            files,
            outcome: outcome.clone(),
            socket: socket.clone(),
        };

        let connected = match &via {
            None => {
                match tokio::net::TcpStream::connect((target.address.as_str(), target.port)).await {
                    Ok(tcp) => {
                        let _ = tcp.set_nodelay(true);
                        *socket.lock().unwrap_or_else(|p| p.into_inner()) =
                            std::os::fd::AsFd::as_fd(&tcp).try_clone_to_owned().ok();
                        client::connect_stream(config, tcp, handler).await
                    }
                    Err(e) => Err(russh::Error::from(e)),
                }
            }
            Some(jump) => {
                let ch = jump
                    .handle
                    .channel_open_direct_tcpip(
                        target.address.clone(),
                        target.port as u32,
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|e| {
                        unreachable(format!(
                            "jump host {} could not open a tunnel to {}:{}: {e}",
                            jump.name, target.address, target.port
                        ))
                    })?;
                client::connect_stream(config, ch.into_stream(), handler).await
            }
        };
        let mut handle = match connected {
            Ok(h) => h,
            Err(e) => {
                let seen = outcome.lock().unwrap_or_else(|e| e.into_inner()).clone();
                return Err(match seen {
                    Some((KeyOutcome::Trusted, _)) | Some((KeyOutcome::Added, _)) | None => {
                        unreachable(connect_error_text(&e, target))
                    }
                    Some((o, fp)) => key_error(target, settings, o, &fp),
                });
            }
        };

        authenticate(&mut handle, target).await?;
        Ok(Arc::new(SshTransport {
            name: target.name.clone(),
            handle: Arc::new(handle),
            _via: via,
            channels: Arc::new(Semaphore::new(MAX_CHANNELS)),
            sftp: OnceCell::new(),
            command_timeout: settings.command_timeout,
            socket,
            abandoned: Arc::new(Pending::default()),
            shells: Mutex::new(Vec::new()),
            shells_open: Arc::new(AtomicUsize::new(0)),
            use_shells: AtomicBool::new(shells_wanted()),
            execs: AtomicU64::new(0),
            puts: AtomicU64::new(0),
            gets: AtomicU64::new(0),
        }))
    }

    fn fail(&self, msg: impl Into<String>) -> Error {
        Error::host(&self.name, HostErrorKind::Failed, msg)
    }

    fn conn_error(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::host(
            &self.name,
            HostErrorKind::Unreachable,
            format!("connection lost during {what}: {e}"),
        )
    }

    /// The result of an SFTP request. A refusal by the server (a status: permission denied,
    /// no such file) fails the task; any other error means the SFTP channel broke, and when the
    /// connection broke with it the host is unreachable, reported as a lost connection rather
    /// than as the SFTP client's own words ("sender dropped").
    async fn sftp_ok<T>(
        &self,
        r: std::result::Result<T, russh_sftp::client::error::Error>,
        what: impl FnOnce() -> String,
    ) -> Result<T> {
        let e = match r {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if matches!(e, russh_sftp::client::error::Error::Status(_)) {
            return Err(self.fail(format!("{}: {e}", what())));
        }
        if matches!(e, russh_sftp::client::error::Error::Timeout) {
            return Err(Error::host(
                &self.name,
                HostErrorKind::Timeout,
                format!(
                    "{}: no answer within {}s (--timeout)",
                    what(),
                    sftp_request_timeout(self.command_timeout)
                ),
            ));
        }
        // The SFTP channel learns of the loss before the connection's handle does.
        for _ in 0..50 {
            if self.handle.is_closed() {
                return Err(Error::host(
                    &self.name,
                    HostErrorKind::Unreachable,
                    format!("{}: connection lost", what()),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(self.fail(format!("{}: {e}", what())))
    }

    /// Opens a session channel, retrying when the server refuses for lack of sessions.
    async fn open_channel(&self) -> Result<russh::Channel<client::Msg>> {
        let mut delay = Duration::from_millis(20);
        for attempt in 1..=CHANNEL_OPEN_TRIES {
            match self.handle.channel_open_session().await {
                Ok(ch) => {
                    // The server answers in order: any host-key notice came before this.
                    self.socket.lock().unwrap_or_else(|p| p.into_inner()).take();
                    return Ok(ch);
                }
                Err(russh::Error::ChannelOpenFailure(reason)) if attempt < CHANNEL_OPEN_TRIES => {
                    let _ = reason;
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(self.conn_error("channel open", e)),
            }
        }
        Err(self.fail("the server refused every channel open (MaxSessions?)"))
    }

    /// Whether commands may go through long-lived shells (`false` for targets whose shell is
    /// not POSIX: PowerShell, cmd).
    pub fn set_posix_shell(&self, posix: bool) {
        if !posix {
            self.use_shells.store(false, Ordering::Relaxed);
        }
    }

    async fn exec_inner(&self, cmd: &str, stdin: Option<&[u8]>) -> Result<Output> {
        if stdin.is_none()
            && self.use_shells.load(Ordering::Relaxed)
            && !shell::needs_own_channel(cmd)
        {
            match self.exec_in_shell(cmd).await {
                Ok(out) => return Ok(out),
                Err(ShellError::Busy) => {}
                Err(ShellError::Unavailable) => {
                    self.use_shells.store(false, Ordering::Relaxed);
                }
                Err(ShellError::Failed(e)) => return Err(e),
            }
        }
        let _permit = self
            .channels
            .acquire()
            .await
            .map_err(|_| self.fail("transport closed"))?;
        let mut running = Running(
            Some(self.open_channel().await?),
            Arc::clone(&self.abandoned),
        );
        let ch = running.channel();
        ch.exec(true, cmd)
            .await
            .map_err(|e| self.conn_error("exec", e))?;
        if let Some(data) = stdin {
            ch.data(data)
                .await
                .map_err(|e| self.conn_error("stdin", e))?;
        }
        ch.eof().await.map_err(|e| self.conn_error("stdin", e))?;
        let mut out = Output::default();
        let (mut got_close, mut refused) = (false, false);
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => out.stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    out.signal = Some(format!("{signal_name:?}").trim_matches('"').to_string());
                }
                ChannelMsg::Failure => {
                    refused = true;
                    break;
                }
                ChannelMsg::Close => {
                    got_close = true;
                    break;
                }
                _ => {}
            }
        }
        // Ended, refused or cut off: nothing left running on the target to end.
        running.finished();
        if refused {
            return Err(self.fail("the server refused to run the command"));
        }
        if out.status.is_none() && out.signal.is_none() {
            let why = if got_close {
                "the channel closed without an exit status"
            } else {
                "the connection closed before the command finished"
            };
            return Err(Error::host(&self.name, HostErrorKind::Unreachable, why));
        }
        Ok(out)
    }

    /// Runs `cmd` in an idle long-lived shell, or a new one. `Unavailable` means the command
    /// never started (the shell did not come up): the caller runs it on a channel of its own.
    async fn exec_in_shell(&self, cmd: &str) -> std::result::Result<Output, ShellError> {
        let idle = self.shells.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut sh = match idle {
            Some(sh) => sh,
            None => {
                if self.shells_open.fetch_add(1, Ordering::AcqRel) >= MAX_SHELLS {
                    self.shells_open.fetch_sub(1, Ordering::AcqRel);
                    return Err(ShellError::Busy);
                }
                let open = Arc::clone(&self.shells_open);
                let permit = match Arc::clone(&self.channels).acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => {
                        open.fetch_sub(1, Ordering::AcqRel);
                        return Err(ShellError::Failed(self.fail("transport closed")));
                    }
                };
                let ch = match self.open_channel().await {
                    Ok(ch) => ch,
                    Err(e) => {
                        open.fetch_sub(1, Ordering::AcqRel);
                        return Err(ShellError::Failed(e));
                    }
                };
                let sh = Shell {
                    ch: Some(ch),
                    nonce: format!("{:016x}", rand::random::<u64>()),
                    seq: 0,
                    started: false,
                    busy: false,
                    pid: None,
                    handle: Arc::clone(&self.handle),
                    abandoned: Arc::clone(&self.abandoned),
                    open,
                    _permit: permit,
                };
                sh.channel()
                    .exec(true, "exec /bin/sh")
                    .await
                    .map_err(|e| ShellError::Failed(self.conn_error("exec", e)))?;
                sh
            }
        };
        sh.seq += 1;
        sh.busy = true;
        let marker = shell::marker(&sh.nonce, sh.seq);
        let mut text = String::new();
        let new_shell = !sh.started;
        if new_shell {
            text.push_str(&shell::prelude(&sh.nonce));
        }
        text.push_str(&shell::request(&marker, &shell::program(cmd)));
        sh.channel()
            .data(text.as_bytes())
            .await
            .map_err(|e| ShellError::Failed(self.conn_error("sending a command", e)))?;
        let mut reply = shell::Reply::new(&sh.nonce, &marker, new_shell);
        // The shell's own end, when the command ended it (`kill $PPID`): reported as the
        // command's, as a channel of its own would have.
        let mut ended: (Option<u32>, Option<String>) = (None, None);
        while !reply.complete() {
            let Some(ch) = sh.ch.as_mut() else { break };
            match ch.wait().await {
                Some(ChannelMsg::Data { data }) => {
                    reply.stdout(&data);
                    if new_shell && sh.pid.is_none() {
                        sh.pid = reply.shell_pid();
                    }
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => reply.stderr(&data),
                Some(ChannelMsg::Failure) => break,
                Some(
                    ChannelMsg::Eof
                    | ChannelMsg::Close
                    | ChannelMsg::ExitStatus { .. }
                    | ChannelMsg::ExitSignal { .. },
                ) if !reply.started() => break,
                Some(ChannelMsg::ExitStatus { exit_status }) => ended.0 = Some(exit_status),
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    ended.1 = Some(format!("{signal_name:?}").trim_matches('"').to_string());
                }
                Some(ChannelMsg::Close) | None => break,
                Some(_) => {}
            }
        }
        // Whatever happened, the command is no longer waited for by a dropped future.
        sh.busy = false;
        if reply.complete() {
            sh.started = true;
            if !reply.trailing() {
                self.shells
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(sh);
            }
            return Ok(reply.output());
        }
        if reply.started() && (ended.0.is_some() || ended.1.is_some()) {
            let mut out = reply.output();
            out.status = ended.0;
            out.signal = ended.1;
            return Ok(out);
        }
        if !reply.started() {
            // No /bin/sh there (a Windows target without the inventory saying so, a restricted
            // shell): the command never ran.
            return Err(ShellError::Unavailable);
        }
        let why = if self.handle.is_closed() {
            "the connection closed before the command finished"
        } else {
            "the remote shell ended before the command finished"
        };
        Err(ShellError::Failed(Error::host(
            &self.name,
            HostErrorKind::Unreachable,
            why,
        )))
    }

    async fn sftp(&self) -> Result<&RawSftpSession> {
        self.sftp
            .get_or_try_init(|| async {
                let ch = self.open_channel().await?;
                ch.request_subsystem(true, "sftp")
                    .await
                    .map_err(|e| self.conn_error("sftp subsystem request", e))?;
                let s = RawSftpSession::new(ch.into_stream());
                // Each request (a 32 KiB write, a stat, a rename) must be answered within
                // `--timeout`, so a host that stalls in the middle of a transfer fails it then;
                // without `--timeout`, within an hour.
                s.set_timeout(sftp_request_timeout(self.command_timeout));
                self.sftp_ok(s.init().await, || "sftp init".to_string())
                    .await?;
                Ok(s)
            })
            .await
    }

    async fn put_inner(&self, path: &str, data: &[u8], attrs: &FileAttrs) -> Result<()> {
        let sftp = self.sftp().await?;
        let (dir, base) = match path.rsplit_once('/') {
            Some(("", b)) => ("/", b),
            Some((d, b)) => (d, b),
            None => (".", path),
        };
        if base.is_empty() {
            return Err(self.fail(format!("{path}: not a file path")));
        }
        let dir_slash = dir.trim_end_matches('/');
        let mode = attrs.mode.unwrap_or(0o600);
        let fattrs = FileAttributes {
            permissions: Some(mode),
            ..Default::default()
        };
        let create =
            OpenFlags::CREATE | OpenFlags::EXCLUDE | OpenFlags::WRITE | OpenFlags::TRUNCATE;
        // The temp file has one name per path, so that a put cut short (connection lost, muster
        // killed) is found and cleaned up by the next put to the same path without listing the
        // directory. When the name is taken, by such a leftover or by a put running right now,
        // a random name is used instead, and the leftover is removed once it is known to be
        // older than this run.
        let mut tmp = format!("{dir_slash}/.{base}.muster.tmp");
        let mut stale = None;
        let handle = match sftp.open(tmp.clone(), create, fattrs.clone()).await {
            Ok(h) => h.handle,
            Err(e) if !matches!(e, russh_sftp::client::error::Error::Status(_)) => {
                return self
                    .sftp_ok(Err(e), || format!("{path}: cannot create {tmp}"))
                    .await;
            }
            Err(_) => {
                let taken = std::mem::replace(
                    &mut tmp,
                    format!(
                        "{dir_slash}/.{base}.muster-{:08x}.tmp",
                        rand::random::<u32>()
                    ),
                );
                let handle = self
                    .sftp_ok(sftp.open(tmp.clone(), create, fattrs).await, || {
                        format!("{path}: cannot create {tmp}")
                    })
                    .await?
                    .handle;
                // Our fresh file tells the target's time (the controller's clock may differ).
                let (theirs, ours) =
                    tokio::join!(sftp.lstat(taken.clone()), sftp.fstat(handle.clone()));
                if let (Ok(theirs), Ok(ours)) = (theirs, ours) {
                    if let (Some(then), Some(now)) = (theirs.attrs.mtime, ours.attrs.mtime) {
                        // Whole seconds: a file written since this run began has an mtime of
                        // at least floor(now) - floor(age) - 1.
                        let run_age = run_started().elapsed().as_secs() as i64;
                        if i64::from(then) < i64::from(now) - run_age - 1 {
                            stale = Some(taken);
                        }
                    }
                }
                handle
            }
        };
        let result = async {
            // Several writes in flight at once: one round trip per window, not per chunk.
            use futures::stream::{self, StreamExt, TryStreamExt};
            let chunks: Vec<(u64, Vec<u8>)> = data
                .chunks(SFTP_CHUNK)
                .enumerate()
                .map(|(i, c)| ((i * SFTP_CHUNK) as u64, c.to_vec()))
                .collect();
            let writes = stream::iter(chunks)
                .map(|(offset, chunk)| sftp.write(handle.clone(), offset, chunk))
                .buffer_unordered(SFTP_PIPELINE)
                .try_collect::<Vec<_>>();
            self.sftp_ok(writes.await, || format!("{path}: write failed"))
                .await?;
            let _ = sftp
                .extended("fsync@openssh.com", ssh_string(handle.as_bytes()))
                .await;
            self.sftp_ok(sftp.close(handle).await, || format!("{path}: close failed"))
                .await?;
            // The umask narrowed the mode given at open; set it exactly.
            self.sftp_ok(
                sftp.setstat(
                    tmp.clone(),
                    FileAttributes {
                        permissions: Some(mode),
                        ..Default::default()
                    },
                )
                .await,
                || format!("{path}: chmod failed"),
            )
            .await?;
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
                let out = self
                    .exec_inner(&Cmd::new("chown").arg(&spec).arg(&tmp).into_string(), None)
                    .await?;
                if !out.success() {
                    return Err(
                        self.fail(format!("chown {spec} {path}: {}", out.stderr_str().trim()))
                    );
                }
            }
            // posix-rename replaces the target in one step (plain SFTP rename refuses to).
            let mut req = ssh_string(tmp.as_bytes());
            req.extend(ssh_string(path.as_bytes()));
            match sftp.extended("posix-rename@openssh.com", req).await {
                Ok(Packet::Status(s)) if s.status_code == StatusCode::Ok => {}
                Ok(Packet::Status(s)) => {
                    return Err(self.fail(format!("{path}: rename failed: {}", s.error_message)))
                }
                Ok(_) => return Err(self.fail(format!("{path}: rename: unexpected answer"))),
                Err(e) => {
                    return Err(self
                        .sftp_ok(Err::<(), _>(e), || format!("{path}: rename failed"))
                        .await
                        .unwrap_err())
                }
            }
            if let Some(leftover) = stale {
                let _ = sftp.remove(leftover).await;
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = sftp.remove(tmp).await;
        }
        result
    }

    async fn get_inner(&self, path: &str) -> Result<Vec<u8>> {
        let sftp = self.sftp().await?;
        let handle = self
            .sftp_ok(
                sftp.open(path, OpenFlags::READ, FileAttributes::default())
                    .await,
                || path.to_string(),
            )
            .await?
            .handle;
        let mut data = Vec::new();
        let result = async {
            loop {
                match sftp
                    .read(handle.clone(), data.len() as u64, SFTP_CHUNK as u32)
                    .await
                {
                    Ok(d) if d.data.is_empty() => break,
                    Ok(d) => data.extend_from_slice(&d.data),
                    Err(russh_sftp::client::error::Error::Status(s))
                        if s.status_code == StatusCode::Eof =>
                    {
                        break
                    }
                    Err(e) => {
                        return Err(self
                            .sftp_ok(Err::<(), _>(e), || format!("{path}: read failed"))
                            .await
                            .unwrap_err())
                    }
                }
            }
            Ok(())
        }
        .await;
        let _ = sftp.close(handle).await;
        result.map(|_| data)
    }
}

/// Acknowledges what the server sent right after authentication (OpenSSH's `hostkeys-00`
/// notice, which asks no reply) at once instead of after the 40 ms delayed-ACK timer. sshd
/// leaves Nagle's algorithm on until a session starts, so until that ACK it holds back the
/// confirmation of our first channel: without this, every connection's first command took
/// 40 ms longer than the next ones (measured with paramiko as with russh).
fn quick_ack(fd: &std::os::fd::OwnedFd) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let one: libc::c_int = 1;
        // SAFETY: a valid socket descriptor we own, an int option and its size.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}

/// Seconds an SFTP request may wait for its answer: `--timeout` rounded up to whole seconds
/// (what the SFTP client counts in), else an hour.
fn sftp_request_timeout(command_timeout: Option<Duration>) -> u64 {
    match command_timeout {
        Some(t) => t.as_secs_f64().ceil().max(1.0) as u64,
        None => 3600,
    }
}

/// A long-lived shell on its own channel (see `shell`).
struct Shell {
    ch: Option<russh::Channel<client::Msg>>,
    nonce: String,
    /// Commands sent so far; each gets its own marker.
    seq: u64,
    /// The prelude ran (the ready line arrived).
    started: bool,
    /// A command was sent and its reply has not been read to the end.
    busy: bool,
    /// The shell's PID, which leads the process group of every command it runs.
    pid: Option<u32>,
    handle: Arc<Handle<ClientHandler>>,
    abandoned: Arc<Pending>,
    open: Arc<AtomicUsize>,
    /// Its place among the connection's channels, given back when it is dropped.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Shell {
    fn channel(&self) -> &russh::Channel<client::Msg> {
        self.ch
            .as_ref()
            .expect("a shell's channel is only taken on drop")
    }
}

impl Drop for Shell {
    /// A shell dropped at the end of its use: its channel is closed, so the shell on the target
    /// reads end-of-file and exits. Dropped mid-command (a timeout, Ctrl-C): the command and
    /// the shell are ended first (`abandon`).
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        if let Some(ch) = self.ch.take() {
            if self.busy {
                abandon(
                    ch,
                    self.pid.map(|pid| (Arc::clone(&self.handle), pid)),
                    Arc::clone(&self.abandoned),
                );
            } else if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = ch.close().await;
                });
            }
        }
    }
}

/// A command on a channel of its own, until its end was read. Dropped before that (its wait
/// timed out, or Ctrl-C dropped the run), the command is ended on the target (`abandon`).
struct Running(Option<russh::Channel<client::Msg>>, Arc<Pending>);

impl Running {
    fn channel(&mut self) -> &mut russh::Channel<client::Msg> {
        self.0
            .as_mut()
            .expect("a running command's channel is only taken when it ends")
    }

    /// The command's end was read (or the connection broke): nothing to end on the target.
    fn finished(&mut self) {
        self.0.take();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(ch) = self.0.take() {
            abandon(ch, None, Arc::clone(&self.1));
        }
    }
}

/// How long a command given up on has to end after SIGTERM before it is sent SIGKILL, and as
/// long again for that to be confirmed.
const ABANDON_GRACE: Duration = Duration::from_secs(1);
/// How long a host has to run the `kill` of a long-lived shell's process group (a channel
/// open and a command: milliseconds on a host that answers at all).
const KILL_ANSWER: Duration = Duration::from_millis(500);

/// Commands given up on and not yet ended (see `abandon`), and a bell rung when none is left.
#[derive(Default)]
struct Pending {
    count: AtomicUsize,
    bell: tokio::sync::Notify,
}

impl Pending {
    fn enter(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
    }

    fn leave(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.bell.notify_waiters();
        }
    }

    /// Waits, at most `limit`, until none is left.
    async fn settle(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            loop {
                let rung = self.bell.notified();
                if self.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                rung.await;
            }
        })
        .await;
    }
}

/// Every connection's commands given up on: what a run cut short by Ctrl-C waits for.
fn all_abandoned() -> &'static Pending {
    static ALL: OnceLock<Pending> = OnceLock::new();
    ALL.get_or_init(Pending::default)
}

/// Ends, on the target, a command muster stopped waiting for (`--timeout` fired, or Ctrl-C),
/// with its children: SIGTERM first, SIGKILL when it has not ended within `ABANDON_GRACE`;
/// then its channel is closed. Without this it would run on unseen, as a command does under
/// `ssh` without a terminal when the connection goes. Two ways, as each reaches what the
/// other cannot:
/// - an SSH `signal` request, which sshd turns into a signal to the session's process group;
///   sshd honours it only for sessions of users other than root (privilege separation);
/// - for a long-lived shell (`group`: the connection and the shell's PID, which leads its
///   session's process group), `kill -s SIG -- -PID` on a channel of its own, which works
///   for root too.
///
/// A root login's command on a channel of its own (one reading standard input or naming `$$`)
/// is reached by neither and runs on. Runs in the background, counted in the connection's
/// `conn` (its `close` waits for it) and in `all_abandoned` (`settle_abandoned` waits before a
/// run cut short exits).
fn abandon(
    ch: russh::Channel<client::Msg>,
    group: Option<(Arc<Handle<ClientHandler>>, u32)>,
    conn: Arc<Pending>,
) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    conn.enter();
    all_abandoned().enter();
    rt.spawn(async move {
        let mut ch = ch;
        if ch.signal(russh::Sig::TERM).await.is_ok() {
            // A host that does not run the kill at once (frozen, gone) is left there: waiting
            // for it would only hold the end of the run up.
            let answered = kill_group(&group, "TERM").await;
            if answered != Some(false)
                && !ended_within(&mut ch, ABANDON_GRACE).await
                && ch.signal(russh::Sig::KILL).await.is_ok()
            {
                kill_group(&group, "KILL").await;
                ended_within(&mut ch, ABANDON_GRACE).await;
            }
        }
        let _ = ch.close().await;
        conn.leave();
        all_abandoned().leave();
    });
}

/// Sends `signal` to a long-lived shell's process group from a channel of its own, within
/// `KILL_ANSWER`: `None` without a group, else whether the host ran the kill.
async fn kill_group(
    group: &Option<(Arc<Handle<ClientHandler>>, u32)>,
    signal: &str,
) -> Option<bool> {
    let (handle, pid) = group.as_ref()?;
    let kill = Cmd::new("kill")
        .args(["-s", signal, "--", &format!("-{pid}")])
        .into_string();
    let run = async {
        let Ok(mut ch) = handle.channel_open_session().await else {
            return false;
        };
        let ran = ch.exec(false, kill).await.is_ok() && ended_within(&mut ch, KILL_ANSWER).await;
        let _ = ch.close().await;
        ran
    };
    Some(
        tokio::time::timeout(KILL_ANSWER, run)
            .await
            .unwrap_or(false),
    )
}

/// Whether the channel's command ended (or the channel or connection went) within `limit`.
async fn ended_within(ch: &mut russh::Channel<client::Msg>, limit: Duration) -> bool {
    let end = async {
        while let Some(m) = ch.wait().await {
            if matches!(
                m,
                ChannelMsg::ExitStatus { .. } | ChannelMsg::ExitSignal { .. } | ChannelMsg::Close
            ) {
                return;
            }
        }
    };
    tokio::time::timeout(limit, end).await.is_ok()
}

/// Waits, at most `limit`, until every command given up on (`abandon`), on any connection,
/// was ended on its target: before a run interrupted by Ctrl-C writes its reports and exits.
pub async fn settle_abandoned(limit: Duration) {
    all_abandoned().settle(limit).await;
}

enum ShellError {
    /// Every long-lived shell is busy: use a channel of its own this time.
    Busy,
    /// The shell never came up; the command did not start.
    Unavailable,
    /// The command started and did not finish, or the connection broke.
    Failed(Error),
}

/// `MUSTER_SSH_SHELLS=0` runs every command on a channel of its own (for comparisons and for
/// targets whose `/bin/sh` misbehaves).
fn shells_wanted() -> bool {
    static WANTED: OnceLock<bool> = OnceLock::new();
    *WANTED.get_or_init(|| {
        !matches!(
            std::env::var("MUSTER_SSH_SHELLS").as_deref(),
            Ok("0") | Ok("no") | Ok("false") | Ok("off")
        )
    })
}

/// When this process's run began (the first connection it opened): a temp file of ours last
/// written before then was left by an earlier run that was cut short.
fn run_started() -> std::time::Instant {
    static STARTED: OnceLock<std::time::Instant> = OnceLock::new();
    *STARTED.get_or_init(std::time::Instant::now)
}

/// Running out of file descriptors is not the host's fault: say which limit ran out and how
/// to raise it, instead of blaming a socket or the known_hosts file.
fn explain_fd_exhaustion(host: &str, e: Error) -> Error {
    let emfile = std::io::Error::from_raw_os_error(libc::EMFILE).to_string();
    let hit = match &e {
        Error::Io { source, .. } => source.raw_os_error() == Some(libc::EMFILE),
        other => other.to_string().contains(&emfile),
    };
    if !hit {
        return e;
    }
    let msg = match e {
        Error::Host { msg, .. } => msg,
        other => other.to_string(),
    };
    let (soft, hard) = crate::runner::open_file_limit();
    let hard = if hard == libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        hard.to_string()
    };
    Error::host(
        host,
        HostErrorKind::Unreachable,
        format!(
            "{msg}: muster ran out of file descriptors (its open-file limit is {soft}, the hard \
             limit {hard}); raise the limit with `ulimit -n` or lower --forks"
        ),
    )
}

/// An SSH wire string: a 32-bit length, then the bytes.
fn ssh_string(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

fn connect_error_text(e: &russh::Error, target: &SshTarget) -> String {
    let at = format!("{}:{}", target.address, target.port);
    match e {
        russh::Error::IO(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => format!("connection refused by {at}"),
            std::io::ErrorKind::TimedOut => format!("connection to {at} timed out"),
            _ => format!("cannot connect to {at}: {io}"),
        },
        other => format!("SSH handshake with {at} failed: {other}"),
    }
}

fn key_error(target: &SshTarget, settings: &SshSettings, o: KeyOutcome, fp: &str) -> Error {
    let host = lookup_name(&target.address, target.port);
    let msg = match o {
        KeyOutcome::Changed {
            path,
            line,
            known_type,
        } => format!(
            "HOST KEY MISMATCH for {host}: the server offered {fp}, but {}:{line} holds a different \
             {known_type} key for it. Someone could be intercepting the connection, or the host \
             was reinstalled. Refusing to connect; if the change is expected, remove line {line} \
             of {} (ssh-keygen -R '{host}' -f {}) and connect again with --host-key-checking accept-new",
            path.display(),
            path.display(),
            path.display()
        ),
        KeyOutcome::Revoked { path, line } => format!(
            "the host key {fp} offered by {host} is marked @revoked in {}:{line}; refusing to connect",
            path.display()
        ),
        KeyOutcome::Unknown => {
            let files: Vec<String> = settings
                .known_hosts
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            format!(
                "host key for {host} is unknown (offered {fp}; not in {}). Verify the fingerprint, \
                 then add it to known_hosts or connect once with --host-key-checking accept-new",
                files.join(", ")
            )
        }
        KeyOutcome::Error(e) => format!("could not record the host key of {host}: {e}"),
        KeyOutcome::Trusted | KeyOutcome::Added => {
            format!("SSH handshake with {host} failed after the host key was accepted")
        }
    };
    Error::host(&target.name, HostErrorKind::HostKey, msg)
}

/// Public-key authentication: the listed identity files, then the agent, then the default keys.
async fn authenticate(handle: &mut Handle<ClientHandler>, target: &SshTarget) -> Result<()> {
    let fail = |msg: String| Error::host(&target.name, HostErrorKind::Unreachable, msg);
    let rsa_hash: Option<HashAlg> = handle
        .best_supported_rsa_hash()
        .await
        .map_err(|e| fail(format!("authentication: {e}")))?
        .flatten();
    let mut tried = Vec::new();
    let mut problems = Vec::new();

    let try_file = |path: PathBuf| async move { (path.clone(), load_key(&path)) };
    let mut files = target.identity_files.clone();
    let agent_allowed = !target.identities_only || target.identity_files.is_empty();
    for path in files.drain(..) {
        let (path, key) = try_file(path).await;
        match key {
            Ok(key) => {
                tried.push(path.display().to_string());
                let r = handle
                    .authenticate_publickey(
                        target.user.clone(),
                        PrivateKeyWithHashAlg::new(key, rsa_hash),
                    )
                    .await
                    .map_err(|e| fail(format!("authentication: {e}")))?;
                if r.success() {
                    return Ok(());
                }
            }
            Err(e) => problems.push(e),
        }
    }
    if agent_allowed {
        if let Ok(mut agent) = russh::keys::agent::client::AgentClient::connect_env().await {
            if let Ok(ids) = agent.request_identities().await {
                for id in ids {
                    let key = id.public_key().into_owned();
                    tried.push(format!("agent key {}", known_hosts::fingerprint(&key)));
                    let hash = if matches!(key.algorithm(), russh::keys::Algorithm::Rsa { .. }) {
                        rsa_hash
                    } else {
                        None
                    };
                    match handle
                        .authenticate_publickey_with(target.user.clone(), key, hash, &mut agent)
                        .await
                    {
                        Ok(r) if r.success() => return Ok(()),
                        Ok(_) => {}
                        Err(e) => problems.push(format!("agent: {e}")),
                    }
                }
            }
        }
        if target.identity_files.is_empty() {
            for path in default_identity_files() {
                let (path, key) = try_file(path).await;
                match key {
                    Ok(key) => {
                        tried.push(path.display().to_string());
                        let r = handle
                            .authenticate_publickey(
                                target.user.clone(),
                                PrivateKeyWithHashAlg::new(key, rsa_hash),
                            )
                            .await
                            .map_err(|e| fail(format!("authentication: {e}")))?;
                        if r.success() {
                            return Ok(());
                        }
                    }
                    Err(e) => problems.push(e),
                }
            }
        }
    }
    let mut msg = format!(
        "authentication as {} failed; tried: {}",
        target.user,
        if tried.is_empty() {
            "no keys (give one with --private-key or ansible_ssh_private_key_file, or start ssh-agent)".to_string()
        } else {
            tried.join(", ")
        }
    );
    if !problems.is_empty() {
        msg.push_str(&format!("; problems: {}", problems.join("; ")));
    }
    Err(fail(msg))
}

#[async_trait]
impl Transport for SshTransport {
    fn host(&self) -> &str {
        &self.name
    }

    async fn exec(&self, cmd: &str, stdin: Option<&[u8]>) -> Result<Output> {
        self.execs.fetch_add(1, Ordering::Relaxed);
        match self.command_timeout {
            None => self.exec_inner(cmd, stdin).await,
            Some(t) => tokio::time::timeout(t, self.exec_inner(cmd, stdin))
                .await
                .map_err(|_| {
                    Error::host(
                        &self.name,
                        HostErrorKind::Timeout,
                        format!("command timed out after {}s", t.as_secs_f64()),
                    )
                })?,
        }
    }

    async fn put(&self, path: &str, data: &[u8], attrs: &FileAttrs) -> Result<()> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.put_inner(path, data, attrs).await
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.get_inner(path).await
    }

    fn op_counts(&self) -> OpCounts {
        OpCounts {
            execs: self.execs.load(Ordering::Relaxed),
            puts: self.puts.load(Ordering::Relaxed),
            gets: self.gets.load(Ordering::Relaxed),
        }
    }

    async fn close(&self) {
        // A command of this connection given up on must get its signal before the goodbye.
        self.abandoned
            .settle(2 * ABANDON_GRACE + Duration::from_millis(500))
            .await;
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}
