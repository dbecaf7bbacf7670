//! The test fleet: real OpenSSH `sshd` processes on 127.0.0.1, one per host, each in its own
//! mount namespace with copy-on-write overlays over `/etc /usr /var /opt /srv /root /home`.
//!
//! Use it from an integration test with `mod fleet;` and e.g. `let fleet = fleet::Fleet::debian(3);`.
//! Everything a fleet starts is stopped, and its temp dir removed, when the `Fleet` is dropped,
//! also when the test panics. See `DESIGN.md`, "The test fleet".
//!
//! Layout of a fleet dir (`Fleet::dir()`):
//! ```text
//! owner                 pid + start time of the test process (to sweep fleets of killed tests)
//! client_ed25519(.pub)  the client key pair every host accepts for root
//! authorized_keys       the client public key
//! known_hosts           `[127.0.0.1]:PORT ssh-ed25519 AAAA...` per host
//! inventory.yml         Ansible-format inventory, a group per profile
//! home/                 HOME for `Fleet::muster()` (an empty `.ssh/`)
//! hosts/NAME/           sshd_config, ssh_host_ed25519_key(.pub), sshd.pid, sshd.log,
//!                       upper/X and work/X for each overlaid X
//! ```
//!
//! Debugging: `MUSTER_FLEET_LOGLEVEL=DEBUG3` sets sshd's `LogLevel` (logs in `hosts/NAME/sshd.log`);
//! `MUSTER_FLEET_KEEP=1` keeps the fleet dir after the test (the sshds are still stopped).
//! Load tests (`bench/scale`): `MUSTER_FLEET_MAX_STARTUPS=1000:30:2000` and
//! `MUSTER_FLEET_MAX_SESSIONS=N` override sshd's `MaxStartups` (default `200:30:400`) and
//! `MaxSessions` (default 64).
#![allow(dead_code)]

pub mod junit;
mod profiles;
pub mod reports;

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// The directories every host gets a copy-on-write overlay over.
/// `/home` too, so users created with a home directory on a host stay on that host.
pub const OVERLAID: [&str; 7] = ["etc", "usr", "var", "opt", "srv", "root", "home"];

const SSHD: &str = "/usr/sbin/sshd";
/// The PATH sshd gives root's sessions on Debian; `exec_on` uses the same.
pub const SESSION_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How long one sshd may take to listen and greet. Generous: the machine's 2 cores are shared.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many ports a host tries before giving up (another process may grab a probed port).
const BIND_ATTEMPTS: usize = 8;
/// How long a SIGTERMed sshd (or a namespace's processes) may take to go away before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What OS a host pretends to be. Each writes that OS's `/etc/os-release` (macOS: none) and
/// installs shims for its platform commands into the host's `/usr/local/sbin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Debian 12 (bookworm).
    Debian,
    /// Ubuntu 24.04 LTS (noble).
    Ubuntu,
    /// Red Hat Enterprise Linux 9.4 (Plow).
    Rhel,
    /// Alpine Linux 3.20.
    Alpine,
    /// macOS 14.5 (Sonoma) on arm64: no os-release, `uname` and `sw_vers` shims.
    Macos,
    /// Windows 11 Pro (10.0.22631) reached over OpenSSH: `ansible_shell_type: powershell` in
    /// the inventory and a `powershell` shim answering muster's encoded scripts.
    Windows,
}

impl Profile {
    pub const ALL: [Profile; 6] = [
        Profile::Debian,
        Profile::Ubuntu,
        Profile::Rhel,
        Profile::Alpine,
        Profile::Macos,
        Profile::Windows,
    ];

    /// The inventory group of this profile's hosts (also its os-release `ID`, macOS aside).
    pub fn group(self) -> &'static str {
        match self {
            Profile::Debian => "debian",
            Profile::Ubuntu => "ubuntu",
            Profile::Rhel => "rhel",
            Profile::Alpine => "alpine",
            Profile::Macos => "macos",
            Profile::Windows => "windows",
        }
    }
}

/// One host to start: its inventory name, profile, and files to put into its overlay before
/// sshd starts: `(absolute path on the host, contents, mode)`. The path must lie under one of
/// [`OVERLAID`] and must not pass through a symlink (write `/run/...`, not `/var/run/...`).
/// Extra files are written after the profile's, so they can replace a profile shim.
#[derive(Debug, Clone)]
pub struct HostSpec {
    pub name: String,
    pub profile: Profile,
    pub extra_files: Vec<(String, Vec<u8>, u32)>,
    /// Paths hidden from the host (overlay whiteouts), after the profile's.
    pub hidden: Vec<String>,
    /// Extra inventory host vars `(name, YAML value)`, after the profile's.
    pub vars: Vec<(String, String)>,
}

impl HostSpec {
    pub fn new(name: impl Into<String>, profile: Profile) -> HostSpec {
        HostSpec {
            name: name.into(),
            profile,
            extra_files: Vec::new(),
            hidden: Vec::new(),
            vars: Vec::new(),
        }
    }

    /// Hides a path of the machine from the host (it reads as absent), e.g. `/usr/bin/dpkg-query`
    /// on a host that pretends to be RHEL.
    pub fn hide(mut self, abs_path: &str) -> HostSpec {
        self.hidden.push(abs_path.to_string());
        self
    }

    /// Adds an inventory host var; `yaml_value` is written as is (`powershell`, `"[1, 2]"`).
    pub fn var(mut self, name: &str, yaml_value: &str) -> HostSpec {
        self.vars.push((name.to_string(), yaml_value.to_string()));
        self
    }

    /// Adds a file (e.g. a shim, mode 0o755) to the host's overlay.
    pub fn file(mut self, abs_path: &str, contents: impl Into<Vec<u8>>, mode: u32) -> HostSpec {
        self.extra_files
            .push((abs_path.to_string(), contents.into(), mode));
        self
    }
}

/// A running (or stopped) host of a fleet.
pub struct FleetHost {
    pub name: String,
    pub port: u16,
    pub profile: Profile,
    dir: PathBuf,
    /// Inventory host vars: the profile's, then the spec's.
    vars: Vec<(String, String)>,
    state: Mutex<HostState>,
}

struct HostState {
    /// The sshd listener (our direct child; unshare and sh exec'ed into it). None when stopped.
    child: Option<Child>,
    /// PID of the current (or last) sshd listener.
    pid: u32,
    /// The host's mount namespace, held open for the fleet's lifetime: the overlays and the
    /// host's view survive sshd restarts, `exec_on` works on stopped hosts, and the namespace id
    /// cannot be reused by another namespace while we compare against it.
    ns: Option<Arc<File>>,
    /// `readlink /proc/PID/ns/mnt` of the host, e.g. `mnt:[4026532301]`.
    ns_id: String,
}

impl FleetHost {
    /// The host's dir in the fleet dir (config, keys, log, overlay upper/work dirs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The upper dir of the overlay over `/X` is `upper_root()/X`.
    pub fn upper_root(&self) -> PathBuf {
        self.dir.join("upper")
    }

    /// The PID of the host's sshd listener (the last one, if stopped).
    pub fn pid(&self) -> u32 {
        self.lock().pid
    }

    pub fn is_running(&self) -> bool {
        self.lock().child.is_some()
    }

    /// sshd's stderr (sshd runs with `-e`).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, HostState> {
        // A panic while holding the lock must not stop Drop from cleaning up.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log_tail(&self) -> String {
        tail(&self.log(), 25)
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("sshd_config")
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("ssh_host_ed25519_key")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("sshd.pid")
    }

    fn ns_id(&self) -> String {
        self.lock().ns_id.clone()
    }

    /// SIGTERMs the listener, waits (bounded), then SIGKILLs it; then SIGKILLs every process
    /// left in the host's mount namespace (open sessions outlive the listener otherwise).
    fn stop_all(&self) {
        self.term_listener();
        self.reap_listener();
        self.kill_namespace();
    }

    /// Signals the listener if it runs (never a stale, possibly reused, PID).
    fn signal_listener(&self, sig: i32) {
        let st = self.lock();
        if st.child.is_some() {
            signal(st.pid, sig);
        }
    }

    fn term_listener(&self) {
        // SIGCONT first: a SIGSTOPped sshd would not act on SIGTERM.
        self.signal_listener(libc::SIGCONT);
        self.signal_listener(libc::SIGTERM);
    }

    fn reap_listener(&self) {
        let mut st = self.lock();
        if let Some(mut child) = st.child.take() {
            if wait_timeout(&mut child, STOP_TIMEOUT).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    fn kill_namespace(&self) {
        let ns_id = self.ns_id();
        if ns_id.is_empty() {
            return;
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while signal_namespace(&ns_id, libc::SIGKILL) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A set of hosts, each a real sshd in its own mount namespace. Dropping it stops them all.
pub struct Fleet {
    hosts: Vec<FleetHost>,
    dir: PathBuf,
    client_key: PathBuf,
    known_hosts: PathBuf,
    inventory: PathBuf,
    home: PathBuf,
    /// Removed on drop (after `Drop::drop` stopped everything).
    tmp: Option<tempfile::TempDir>,
}

impl Fleet {
    /// Starts one host per spec, concurrently. Panics, with sshd's log, if a host cannot start.
    pub fn start(specs: Vec<HostSpec>) -> Fleet {
        check_specs(&specs);
        machine_prerequisites();
        sweep_orphaned_fleets();

        let tmp = tempfile::Builder::new()
            .prefix("muster-fleet-")
            .tempdir_in(fleet_base())
            .expect("fleet: cannot create the fleet temp dir");
        let dir = tmp.path().to_path_buf();
        fs::write(
            dir.join("owner"),
            owner_stamp(std::process::id()).unwrap_or_default(),
        )
        .expect("fleet: cannot write the owner file");
        let home = dir.join("home");
        fs::create_dir_all(home.join(".ssh")).expect("fleet: cannot create the home dir");
        fs::set_permissions(home.join(".ssh"), fs::Permissions::from_mode(0o700)).unwrap();

        let mut fleet = Fleet {
            hosts: Vec::new(),
            client_key: dir.join("client_ed25519"),
            known_hosts: dir.join("known_hosts"),
            inventory: dir.join("inventory.yml"),
            home,
            dir,
            tmp: Some(tmp),
        };

        // All keys at once: ssh-keygen runs are independent.
        let mut keygens = vec![keygen(&fleet.client_key)];
        for spec in &specs {
            let host_dir = fleet.dir.join("hosts").join(&spec.name);
            fs::create_dir_all(&host_dir).expect("fleet: cannot create a host dir");
            keygens.push(keygen(&host_dir.join("ssh_host_ed25519_key")));
            fleet.hosts.push(FleetHost {
                name: spec.name.clone(),
                port: 0,
                profile: spec.profile,
                dir: host_dir,
                vars: profiles::inventory_vars(spec.profile)
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .chain(spec.vars.iter().cloned())
                    .collect(),
                state: Mutex::new(HostState {
                    child: None,
                    pid: 0,
                    ns: None,
                    ns_id: String::new(),
                }),
            });
        }
        for spec in &specs {
            prepare_overlay(&fleet.host(&spec.name).dir, spec);
        }
        for kg in keygens {
            finish_keygen(kg);
        }
        let client_pub = fs::read_to_string(fleet.client_key.with_extension("pub")).unwrap();
        fs::write(fleet.dir.join("authorized_keys"), client_pub).unwrap();

        fleet.launch_all();
        fleet.write_known_hosts();
        fleet.write_inventory();
        fleet
    }

    /// `n` Debian hosts named `host1`..`hostN`.
    pub fn debian(n: usize) -> Fleet {
        Fleet::start(
            (1..=n)
                .map(|i| HostSpec::new(format!("host{i}"), Profile::Debian))
                .collect(),
        )
    }

    /// One host per profile: `debian1`, `ubuntu1`, `rhel1`, `alpine1`, `macos1`, `windows1`.
    pub fn one_of_each() -> Fleet {
        Fleet::start(
            Profile::ALL
                .iter()
                .map(|p| HostSpec::new(format!("{}1", p.group()), *p))
                .collect(),
        )
    }

    pub fn hosts(&self) -> &[FleetHost] {
        &self.hosts
    }

    /// The host named `name`; panics if there is none.
    pub fn host(&self, name: &str) -> &FleetHost {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("fleet: no host named {name:?}"))
    }

    pub fn inventory(&self) -> &Path {
        &self.inventory
    }

    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// The private key every host accepts for root (its `.pub` is next to it).
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The HOME `muster()` runs with.
    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn port(&self, name: &str) -> u16 {
        self.host(name).port
    }

    /// The host's current public host key: `ssh-ed25519 AAAA...` (no comment).
    pub fn host_key_pub(&self, name: &str) -> String {
        let path = self.host(name).key_path().with_extension("pub");
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("fleet: cannot read {}: {e}", path.display()));
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// What the host wrote at `abs_path`, read from its overlay's upper dir: None if the host
    /// left that path unchanged, deleted it, or it is not a regular file.
    /// (Files the fleet itself put there, os-release, shims and extra files, count as written.)
    pub fn upper_file(&self, name: &str, abs_path: &str) -> Option<Vec<u8>> {
        let path = self.upper_path(name, abs_path);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => fs::read(&path).ok(),
            _ => None,
        }
    }

    /// Whether the host deleted `abs_path` (its upper dir holds an overlay whiteout there).
    pub fn upper_deleted(&self, name: &str, abs_path: &str) -> bool {
        let path = self.upper_path(name, abs_path);
        match fs::symlink_metadata(&path) {
            Ok(meta) => meta.file_type().is_char_device() && meta.rdev() == 0,
            Err(_) => false,
        }
    }

    /// Runs `sh -c CMD` inside the host's mount namespace (as root, cwd `/`, a clean
    /// environment with `PATH=SESSION_PATH`, `HOME=/root`). Works on stopped hosts too.
    pub fn exec_on(&self, name: &str, cmd: &str) -> Output {
        let host = self.host(name);
        let ns = host
            .lock()
            .ns
            .clone()
            .unwrap_or_else(|| panic!("fleet: host {name} has no namespace"));
        // nsenter opens our fd through /proc; `ns` stays alive until the command has run.
        let out = Command::new("nsenter")
            .arg(format!(
                "--mount=/proc/{}/fd/{}",
                std::process::id(),
                ns.as_raw_fd()
            ))
            .args(["--", "/bin/sh", "-c", cmd])
            .env_clear()
            .env("PATH", SESSION_PATH)
            .env("HOME", "/root")
            .env("USER", "root")
            .env("LOGNAME", "root")
            .stdin(Stdio::null())
            .output()
            .expect("fleet: cannot run nsenter");
        drop(ns);
        out
    }

    /// Runs CMD on the host over real SSH with the system client (`/usr/bin/ssh`), strict host
    /// key checking against the fleet's known_hosts, ignoring the machine's ssh config.
    pub fn ssh(&self, name: &str, cmd: &str) -> Output {
        self.ssh_command(name, cmd)
            .stdin(Stdio::null())
            .output()
            .expect("fleet: cannot run /usr/bin/ssh")
    }

    /// The `/usr/bin/ssh` command `ssh()` runs, for tests that want stdin or a timeout.
    pub fn ssh_command(&self, name: &str, cmd: &str) -> Command {
        let mut c = Command::new("/usr/bin/ssh");
        c.arg("-F")
            .arg("/dev/null")
            .arg("-i")
            .arg(&self.client_key)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "ConnectTimeout=5",
                // The default sntrup761 key exchange costs ~80 ms of the ~200 ms per connection.
                "-o",
                "KexAlgorithms=curve25519-sha256",
                "-p",
            ])
            .arg(self.port(name).to_string())
            .arg("root@127.0.0.1")
            .arg("--")
            .arg(cmd)
            .env("HOME", &self.home)
            .env_remove("SSH_AUTH_SOCK");
        c
    }

    /// Stops the host: SIGTERM its sshd by its own PID and wait for it (bounded, then SIGKILL),
    /// then kill the sessions still running in its namespace. Its port then refuses
    /// connections. Its overlay (files) survive; `restart` brings it back on the same port.
    pub fn stop(&self, name: &str) {
        self.host(name).stop_all();
    }

    /// Kills the host abruptly, as a crash would: SIGKILL to its sshd listener and to every
    /// process in its namespace (the sessions and the commands they run) at once, with no
    /// orderly shutdown. The kernel closes their TCP connections, so a client sees its
    /// connection drop in the middle of a command or transfer. Like `stop`, the host's files
    /// survive and `restart` brings it back on the same port.
    pub fn kill_host(&self, name: &str) {
        let host = self.host(name);
        host.signal_listener(libc::SIGKILL);
        host.kill_namespace();
        host.reap_listener();
    }

    /// Stops (if running) and starts the host's sshd again, on the same port, in the same
    /// namespace (so the host keeps the files it wrote).
    pub fn restart(&self, name: &str) {
        let host = self.host(name);
        host.stop_all();
        self.relaunch(host);
    }

    /// Freezes the host: SIGSTOP its sshd and every session process in its namespace. New
    /// connections then hang (the kernel still completes the TCP handshake), open ones stall.
    pub fn sigstop(&self, name: &str) {
        let host = self.host(name);
        host.signal_listener(libc::SIGSTOP);
        signal_namespace(&host.ns_id(), libc::SIGSTOP);
    }

    /// Undoes `sigstop`.
    pub fn sigcont(&self, name: &str) {
        let host = self.host(name);
        signal_namespace(&host.ns_id(), libc::SIGCONT);
        host.signal_listener(libc::SIGCONT);
    }

    /// Gives the host a new host key and restarts its sshd on the same port. The fleet's
    /// known_hosts keeps the OLD key (for changed-host-key tests).
    pub fn regenerate_host_key(&self, name: &str) {
        let host = self.host(name);
        host.stop_all();
        let key = host.key_path();
        let _ = fs::remove_file(&key);
        let _ = fs::remove_file(key.with_extension("pub"));
        finish_keygen(keygen(&key));
        self.relaunch(host);
    }

    /// A `Command` for the muster binary, isolated from the machine: HOME is the fleet's
    /// `home/` (so the machine's `~/.ssh/config` and `~/.ssh/known_hosts` are never read), no
    /// ssh-agent, no XDG dirs or `MUSTER_*` variables from the test environment. Tests add args
    /// (e.g. `-i fleet.inventory()`); the working directory is left as is.
    pub fn muster(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_muster"));
        c.env("HOME", &self.home).env_remove("SSH_AUTH_SOCK");
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("MUSTER_") || k.starts_with("XDG_") {
                c.env_remove(&key);
            }
        }
        c
    }

    /// `muster -i INVENTORY --known-hosts KNOWN_HOSTS ARGS...` against this fleet, run to the end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.muster()
            .arg("-i")
            .arg(&self.inventory)
            .arg("--known-hosts")
            .arg(&self.known_hosts)
            .args(args)
            .output()
            .expect("fleet: cannot run muster")
    }

    /// Where muster's own SSH transport reaches `host` as `user` (the fleet's client key only).
    pub fn ssh_target(&self, host: &str, user: &str) -> muster::transport::ssh::SshTarget {
        muster::transport::ssh::SshTarget {
            name: host.into(),
            address: "127.0.0.1".into(),
            port: self.port(host),
            user: user.into(),
            identity_files: vec![self.client_key.clone()],
            identities_only: true,
            jumps: vec![],
        }
    }

    /// Strict host-key checking against this fleet's known_hosts; commands may run `timeout`.
    pub fn ssh_settings(&self, timeout: Duration) -> Arc<muster::transport::ssh::SshSettings> {
        Arc::new(muster::transport::ssh::SshSettings {
            known_hosts: vec![self.known_hosts.clone()],
            checking: muster::cli::HostKeyChecking::Strict,
            connect_timeout: Duration::from_secs(10),
            command_timeout: Some(timeout),
        })
    }

    /// An open muster SSH connection to `host` as root.
    pub async fn connect(
        &self,
        host: &str,
        timeout: Duration,
    ) -> Arc<muster::transport::ssh::SshTransport> {
        muster::transport::ssh::SshTransport::connect(
            &self.ssh_target(host, "root"),
            self.ssh_settings(timeout),
        )
        .await
        .unwrap_or_else(|e| panic!("fleet: cannot connect to {host}: {e}"))
    }

    fn upper_path(&self, name: &str, abs_path: &str) -> PathBuf {
        let rel = overlay_relative(abs_path);
        self.host(name).upper_root().join(rel)
    }

    /// Starts every host's sshd (first start: `unshare`), retrying with another port when sshd
    /// could not bind, and waits until each greets with an SSH banner.
    fn launch_all(&mut self) {
        let mut attempts = vec![0usize; self.hosts.len()];
        let mut pending: Vec<usize> = (0..self.hosts.len()).collect();
        for &i in &pending {
            self.hosts[i].port = free_port();
            spawn_sshd(&self.hosts[i], true);
        }
        let mut deadlines = vec![Instant::now() + READY_TIMEOUT; self.hosts.len()];
        while !pending.is_empty() {
            let mut still = Vec::new();
            for i in pending {
                match probe(&self.hosts[i]) {
                    Probe::Ready => continue,
                    Probe::Waiting if Instant::now() < deadlines[i] => still.push(i),
                    Probe::Waiting => fail(&self.hosts[i], "did not greet in time"),
                    Probe::Exited(status) => {
                        attempts[i] += 1;
                        if bind_failed(&self.hosts[i]) && attempts[i] < BIND_ATTEMPTS {
                            self.hosts[i].port = free_port();
                            spawn_sshd(&self.hosts[i], true);
                            deadlines[i] = Instant::now() + READY_TIMEOUT;
                            still.push(i);
                        } else {
                            fail(&self.hosts[i], &format!("sshd exited ({status})"));
                        }
                    }
                }
            }
            pending = still;
            if !pending.is_empty() {
                std::thread::sleep(Duration::from_millis(3));
            }
        }
    }

    /// Starts a stopped host's sshd again in its namespace, on its port.
    fn relaunch(&self, host: &FleetHost) {
        // The port was ours a moment ago; another process may have taken it in between
        // (rare): retry for a while, the port cannot change.
        for attempt in 1..=BIND_ATTEMPTS {
            spawn_sshd(host, false);
            let deadline = Instant::now() + READY_TIMEOUT;
            loop {
                match probe(host) {
                    Probe::Ready => return,
                    Probe::Waiting if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(3))
                    }
                    Probe::Waiting => fail(host, "did not greet in time after restart"),
                    Probe::Exited(status) => {
                        if bind_failed(host) && attempt < BIND_ATTEMPTS {
                            std::thread::sleep(Duration::from_millis(100));
                            break;
                        }
                        fail(host, &format!("sshd exited after restart ({status})"));
                    }
                }
            }
        }
    }

    fn write_known_hosts(&self) {
        let mut text = String::new();
        for h in &self.hosts {
            text.push_str(&format!(
                "[127.0.0.1]:{} {}\n",
                h.port,
                self.host_key_pub(&h.name)
            ));
        }
        fs::write(&self.known_hosts, text).expect("fleet: cannot write known_hosts");
    }

    fn write_inventory(&self) {
        let key = yaml_str(&self.client_key.to_string_lossy());
        let mut y = String::from("all:\n  hosts:\n");
        for h in &self.hosts {
            y.push_str(&format!(
                "    {}:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n      \
                 ansible_user: root\n      ansible_ssh_private_key_file: {}\n",
                h.name, h.port, key
            ));
            for (k, v) in &h.vars {
                y.push_str(&format!("      {k}: {v}\n"));
            }
        }
        let groups: Vec<Profile> = Profile::ALL
            .into_iter()
            .filter(|p| self.hosts.iter().any(|h| h.profile == *p))
            .collect();
        if !groups.is_empty() {
            y.push_str("  children:\n");
        }
        for p in groups {
            y.push_str(&format!("    {}:\n      hosts:\n", p.group()));
            for h in self.hosts.iter().filter(|h| h.profile == p) {
                y.push_str(&format!("        {}: {{}}\n", h.name));
            }
        }
        fs::write(&self.inventory, y).expect("fleet: cannot write the inventory");
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // All listeners get SIGTERM first so they shut down in parallel.
        for h in &self.hosts {
            h.term_listener();
        }
        for h in &self.hosts {
            h.reap_listener();
            h.kill_namespace();
            h.lock().ns = None;
        }
        if let Some(tmp) = self.tmp.take() {
            if std::env::var_os("MUSTER_FLEET_KEEP").is_some() {
                eprintln!("fleet: keeping {}", tmp.keep().display());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Starting sshd

enum Probe {
    Ready,
    Waiting,
    Exited(ExitStatus),
}

fn sshd_config(fleet_dir: &Path, host: &FleetHost) -> String {
    let level = std::env::var("MUSTER_FLEET_LOGLEVEL").unwrap_or_else(|_| "ERROR".into());
    // `MaxStartups start:rate:full` / `MaxSessions n` from the environment (digits and colons
    // only: anything else would be sshd_config injection), else the defaults.
    let setting = |var: &str, default: &str| match std::env::var(var) {
        Ok(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b':') => v,
        Ok(v) => panic!("fleet: {var}={v:?} is not a number or start:rate:full"),
        Err(_) => default.to_string(),
    };
    let max_startups = setting("MUSTER_FLEET_MAX_STARTUPS", "200:30:400");
    let max_sessions = setting("MUSTER_FLEET_MAX_SESSIONS", "64");
    format!(
        "Port {port}\n\
         ListenAddress 127.0.0.1\n\
         AddressFamily inet\n\
         HostKey {key}\n\
         PidFile {pid}\n\
         AuthorizedKeysFile {fleet}/authorized_keys\n\
         StrictModes no\n\
         UsePAM no\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitRootLogin yes\n\
         Subsystem sftp internal-sftp\n\
         MaxSessions {max_sessions}\n\
         MaxStartups {max_startups}\n\
         UseDNS no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         X11Forwarding no\n\
         LogLevel {level}\n",
        port = host.port,
        key = host.key_path().display(),
        pid = host.pid_file().display(),
        fleet = fleet_dir.display(),
    )
}

/// Writes the config and spawns sshd so that the child's PID *is* sshd's: `unshare` (first
/// start, new namespace with the overlays mounted by `sh`, which then execs sshd) or `nsenter`
/// into the host's existing namespace (restarts).
fn spawn_sshd(host: &FleetHost, new_namespace: bool) {
    let fleet_dir = host.dir.parent().and_then(Path::parent).unwrap();
    fs::write(host.config_path(), sshd_config(fleet_dir, host))
        .expect("fleet: cannot write sshd_config");
    let _ = fs::remove_file(host.pid_file());
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(host.dir.join("sshd.log"))
        .expect("fleet: cannot open sshd.log");
    let _ = writeln!(&log, "fleet: starting sshd on port {}", host.port);

    let mut st = host.lock();
    let mut cmd;
    if new_namespace {
        let mut script = String::from("set -e\n");
        for d in OVERLAID {
            script.push_str(&format!(
                "mount -t overlay overlay -o lowerdir=/{d},upperdir={u}/{d},workdir={w}/{d} /{d}\n",
                u = host.dir.join("upper").display(),
                w = host.dir.join("work").display(),
            ));
        }
        script.push_str(&format!(
            "exec {SSHD} -D -e -f {}\n",
            host.config_path().display()
        ));
        cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "/bin/sh", "-c", &script]);
    } else {
        let ns = st.ns.as_ref().expect("fleet: host has no namespace");
        cmd = Command::new("nsenter");
        cmd.arg(format!(
            "--mount=/proc/{}/fd/{}",
            std::process::id(),
            ns.as_raw_fd()
        ))
        .args([SSHD, "-D", "-e", "-f"])
        .arg(host.config_path());
    }
    cmd.env_clear()
        .env("PATH", SESSION_PATH)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let child = cmd.spawn().expect("fleet: cannot spawn unshare/nsenter");
    st.pid = child.id();
    st.child = Some(child);
}

/// Ready once sshd wrote its PidFile (it does so after binding its listen socket) with our
/// child's PID, and greets on the port with an SSH banner.
fn probe(host: &FleetHost) -> Probe {
    let mut st = host.lock();
    let pid = st.pid;
    let Some(child) = st.child.as_mut() else {
        return Probe::Waiting;
    };
    if let Ok(Some(status)) = child.try_wait() {
        st.child = None;
        return Probe::Exited(status);
    }
    let written: Option<u32> = fs::read_to_string(host.pid_file())
        .ok()
        .and_then(|s| s.trim().parse().ok());
    if written != Some(pid) {
        return Probe::Waiting;
    }
    if !greets(host.port) {
        return Probe::Waiting;
    }
    // The exec chain worked: the process we spawned is sshd itself...
    if !is_sshd(pid) {
        drop(st);
        fail(host, "the spawned process is not sshd");
    }
    // ...and it runs in a mount namespace of its own.
    let ns_id = ns_link(pid).unwrap_or_default();
    if ns_id.is_empty() || Some(&ns_id) == ns_link_self().as_ref() {
        drop(st);
        fail(host, "sshd is not in a mount namespace of its own");
    }
    if st.ns.is_none() {
        match File::open(format!("/proc/{pid}/ns/mnt")) {
            Ok(f) => {
                st.ns = Some(Arc::new(f));
                st.ns_id = ns_id;
            }
            Err(e) => {
                drop(st);
                fail(host, &format!("cannot open sshd's mount namespace: {e}"));
            }
        }
    } else if st.ns_id != ns_id {
        drop(st);
        fail(host, "restarted sshd is not in the host's namespace");
    }
    Probe::Ready
}

fn greets(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let mut buf = [0u8; 8];
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got += n,
        }
    }
    buf.starts_with(b"SSH-2.0-")
}

fn bind_failed(host: &FleetHost) -> bool {
    let log = host.log();
    let last_start = log.rfind("fleet: starting sshd").unwrap_or(0);
    let recent = &log[last_start..];
    recent.contains("Address already in use") || recent.contains("Cannot bind any address")
}

fn fail(host: &FleetHost, what: &str) -> ! {
    panic!(
        "fleet: host {} (port {}): {what}\n--- {} (tail) ---\n{}",
        host.name,
        host.port,
        host.dir.join("sshd.log").display(),
        host.log_tail()
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("fleet: cannot bind 127.0.0.1:0")
        .port()
}

fn keygen(path: &Path) -> (PathBuf, Child) {
    let child = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "muster-fleet", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fleet: cannot run ssh-keygen");
    (path.to_path_buf(), child)
}

fn finish_keygen((path, child): (PathBuf, Child)) {
    let out = child.wait_with_output().expect("fleet: ssh-keygen failed");
    assert!(
        out.status.success(),
        "fleet: ssh-keygen -f {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Overlays

/// Creates the host's upper/work dirs and puts the profile's and the spec's files in place.
fn prepare_overlay(host_dir: &Path, spec: &HostSpec) {
    let upper = host_dir.join("upper");
    for d in OVERLAID {
        let u = upper.join(d);
        fs::create_dir_all(&u).unwrap();
        fs::create_dir_all(host_dir.join("work").join(d)).unwrap();
        // The overlay's root takes the upper dir's attributes: copy the real dir's mode.
        if let Ok(meta) = fs::metadata(Path::new("/").join(d)) {
            let _ = fs::set_permissions(&u, fs::Permissions::from_mode(meta.mode() & 0o7777));
        }
    }
    // The machine's root dotfiles are slow to source: every host gets empty ones.
    put_file(&upper, "/root/.bashrc", b"", 0o644);
    put_file(&upper, "/root/.profile", b"", 0o644);
    for f in profiles::files(spec.profile) {
        put_file(&upper, f.path, f.contents, f.mode);
    }
    for path in profiles::hidden(spec.profile) {
        whiteout(&upper, path);
    }
    for (path, contents, mode) in &spec.extra_files {
        put_file(&upper, path, contents, *mode);
    }
    for path in &spec.hidden {
        whiteout(&upper, path);
    }
}

/// `/etc/foo` -> `etc/foo`, checking it lies under an overlaid dir.
fn overlay_relative(abs_path: &str) -> &str {
    let rel = abs_path.strip_prefix('/').unwrap_or_else(|| {
        panic!("fleet: {abs_path:?} is not an absolute path");
    });
    let top = rel.split('/').next().unwrap_or("");
    assert!(
        OVERLAID.contains(&top) && rel.len() > top.len() + 1,
        "fleet: {abs_path:?} is not a file under one of the overlaid dirs /{}",
        OVERLAID.join(" /")
    );
    assert!(
        !rel.split('/')
            .any(|c| c.is_empty() || c == "." || c == ".."),
        "fleet: {abs_path:?} is not a normalized path"
    );
    rel
}

/// Creates the parents of `abs_path` in the upper dir with the modes the real dirs have.
/// Refuses paths through a symlink: a real dir in the upper layer would shadow the link.
fn make_upper_parents(upper: &Path, abs_path: &str) -> PathBuf {
    let rel = overlay_relative(abs_path);
    let comps: Vec<&str> = rel.split('/').collect();
    let mut lower = PathBuf::from("/");
    let mut up = upper.to_path_buf();
    for c in &comps[..comps.len() - 1] {
        lower.push(c);
        up.push(c);
        let lower_meta = fs::symlink_metadata(&lower).ok();
        if let Some(m) = &lower_meta {
            assert!(
                !m.file_type().is_symlink(),
                "fleet: {abs_path:?} goes through the symlink {}; use the resolved path",
                lower.display()
            );
        }
        if !up.exists() {
            fs::create_dir(&up).unwrap_or_else(|e| panic!("fleet: mkdir {}: {e}", up.display()));
            let mode = lower_meta.map(|m| m.mode() & 0o7777).unwrap_or(0o755);
            fs::set_permissions(&up, fs::Permissions::from_mode(mode)).unwrap();
        }
    }
    upper.join(rel)
}

fn put_file(upper: &Path, abs_path: &str, contents: &[u8], mode: u32) {
    let path = make_upper_parents(upper, abs_path);
    let _ = fs::remove_file(&path);
    fs::write(&path, contents).unwrap_or_else(|e| panic!("fleet: write {}: {e}", path.display()));
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

/// An overlay whiteout (char device 0:0): the path reads as absent on the host.
fn whiteout(upper: &Path, abs_path: &str) {
    let path = make_upper_parents(upper, abs_path);
    let _ = fs::remove_file(&path);
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mknod does not retain it.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) };
    assert!(
        rc == 0,
        "fleet: mknod whiteout {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

// ---------------------------------------------------------------------------------------------
// Processes and namespaces

fn signal(pid: u32, sig: i32) {
    if pid > 1 {
        // SAFETY: plain kill(2).
        unsafe {
            libc::kill(pid as libc::pid_t, sig);
        }
    }
}

/// sshd rewrites its command line (`sshd: /usr/sbin/sshd -D ... [listener] ...`): ask `exe`.
fn is_sshd(pid: u32) -> bool {
    fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.as_os_str().as_bytes().ends_with(b"/sbin/sshd"))
        .unwrap_or(false)
}

fn ns_link(pid: u32) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

fn ns_link_self() -> Option<String> {
    fs::read_link("/proc/self/ns/mnt")
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

fn all_pids() -> Vec<u32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect()
}

/// Sends `sig` to every process in the mount namespace `ns_id`; returns how many there were.
/// Safe against namespace-id reuse only while someone holds the namespace (we do).
fn signal_namespace(ns_id: &str, sig: i32) -> usize {
    if ns_id.is_empty() || Some(ns_id) == ns_link_self().as_deref() {
        return 0;
    }
    let me = std::process::id();
    let mut n = 0;
    for pid in all_pids() {
        if pid != me && ns_link(pid).as_deref() == Some(ns_id) {
            signal(pid, sig);
            n += 1;
        }
    }
    n
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            _ => return None,
        }
    }
}

/// `PID STARTTIME` of a process: identifies it even if the PID is reused later.
fn owner_stamp(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let start = rest.split_whitespace().nth(19)?;
    Some(format!("{pid} {start}"))
}

/// Fleets of test processes that died without dropping them (SIGKILL, timeout) leave sshds
/// behind: once per test process, stop those and remove their dirs.
fn sweep_orphaned_fleets() {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        let Ok(rd) = fs::read_dir(fleet_base()) else {
            return;
        };
        for entry in rd.filter_map(|e| e.ok()) {
            let name = entry.file_name();
            if !name.as_bytes().starts_with(b"muster-fleet-") {
                continue;
            }
            let dir = entry.path();
            let Ok(owner) = fs::read_to_string(dir.join("owner")) else {
                continue; // being set up right now, or not ours
            };
            let Some(pid) = owner.split_whitespace().next().and_then(|p| p.parse().ok()) else {
                continue;
            };
            if owner_stamp(pid).as_deref() == Some(owner.trim()) {
                continue; // its test process is alive
            }
            sweep_fleet_dir(&dir);
        }
    });
}

fn sweep_fleet_dir(dir: &Path) {
    let needle = dir.join("hosts");
    let needle = needle.as_os_str().as_bytes();
    for pid in all_pids() {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if is_sshd(pid) && cmdline.windows(needle.len()).any(|w| w == needle) {
            if let Some(ns) = ns_link(pid) {
                signal_namespace(&ns, libc::SIGKILL);
            }
            signal(pid, libc::SIGKILL);
        }
    }
    let _ = fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------------------------
// Machine and specs

/// Where fleet dirs go: the system temp dir, which must be a real filesystem outside the
/// overlaid dirs (an overlay's upper dir can neither be on overlayfs nor inside its lower dir).
fn fleet_base() -> PathBuf {
    let base = std::env::temp_dir();
    let base = fs::canonicalize(&base).unwrap_or(base);
    let top = base
        .components()
        .nth(1)
        .map(|c| c.as_os_str().to_owned())
        .unwrap_or_default();
    assert!(
        !OVERLAID.iter().any(|d| OsStr::new(d) == top),
        "fleet: the temp dir {} lies under an overlaid dir; set TMPDIR to e.g. /tmp",
        base.display()
    );
    base
}

fn machine_prerequisites() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        assert!(
            Path::new(SSHD).exists(),
            "fleet: {SSHD} is missing: apt-get install openssh-server"
        );
        // sshd's privilege-separation dir; /run is not overlaid, so this is the machine's.
        fs::create_dir_all("/run/sshd").expect("fleet: cannot create /run/sshd");
        let _ = fs::set_permissions("/run/sshd", fs::Permissions::from_mode(0o755));
        // Overlayfs refuses an upper dir on overlayfs.
        let base = fleet_base();
        let c = std::ffi::CString::new(base.as_os_str().as_bytes()).unwrap();
        // SAFETY: statfs into a zeroed struct we own.
        let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statfs(c.as_ptr(), &mut sfs) } == 0 {
            assert!(
                sfs.f_type as i64 != 0x794c7630,
                "fleet: the temp dir {} is on overlayfs; set TMPDIR to a real filesystem",
                base.display()
            );
        }
    });
}

fn check_specs(specs: &[HostSpec]) {
    assert!(!specs.is_empty(), "fleet: no hosts");
    for (i, s) in specs.iter().enumerate() {
        assert!(
            s.name.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'),
            "fleet: bad host name {:?} (letters, digits, - _ . ; starting with a letter)",
            s.name
        );
        assert!(
            !specs[..i].iter().any(|o| o.name == s.name),
            "fleet: duplicate host name {:?}",
            s.name
        );
        for (path, _, _) in &s.extra_files {
            overlay_relative(path);
        }
        for path in &s.hidden {
            overlay_relative(path);
        }
        for (k, _) in &s.vars {
            assert!(
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "fleet: bad inventory var name {k:?}"
            );
        }
    }
}

fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A tool of ansible-core (`ansible-playbook`, `ansible-vault`, ...) from a venv under the
/// target dir, made once and shared by every test that compares muster with Ansible.
pub fn ansible_tool(tool: &str) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ansible-venv");
    let bin = venv.join("bin").join(tool);
    if bin.exists() {
        return bin;
    }
    let ok = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .status()
        .expect("python3 -m venv");
    assert!(ok.success(), "python3 -m venv failed");
    let pip = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "ansible-core>=2.16,<2.19",
        ])
        .output()
        .expect("pip");
    assert!(
        pip.status.success(),
        "pip install ansible-core failed: {}",
        String::from_utf8_lossy(&pip.stderr)
    );
    bin
}

/// A finished process's exit code, stdout and stderr, for an assertion's message.
pub fn show(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
