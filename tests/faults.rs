//! Faults on a real fleet, as a user meets them: a host that dies or stalls in the middle of a
//! run, an upload cut short, a host whose key changed, two hundred hosts at once, and Ctrl-C.
//! Each test asserts what the user would notice: the exit code, what the report says about the
//! broken host, that the others finished, what the targets hold afterwards, and how long it took.
//!
//! Every muster process is spawned with a deadline and killed if the test ends without it.

mod fleet;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fleet::{Fleet, HostSpec, Profile};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A muster process with its output collected as it comes; killed when dropped.
struct Proc {
    child: Option<Child>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    started: Instant,
}

/// What a finished muster process left.
struct Done {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Done {
    fn show(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }

    /// The JSON Lines events of `--format json`.
    fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

fn collect(mut r: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
    })
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().expect("cannot spawn muster");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Proc {
            child: Some(child),
            stdout,
            stderr,
            readers,
            started,
        }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// Waits for the process to exit; kills it and panics, with its output, past `limit`.
    fn finish(mut self, limit: Duration) -> Done {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "muster did not finish within {limit:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.stdout_text(),
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = self.started.elapsed();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Done {
            code: status.code(),
            stdout: self.stdout_text(),
            stderr: self.stderr_text(),
            took,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `muster -i INVENTORY --known-hosts KNOWN_HOSTS ARGS...` against the fleet, not yet started.
fn muster(fleet: &Fleet, args: &[&str]) -> Command {
    let mut c = fleet.muster();
    c.arg("-i")
        .arg(fleet.inventory())
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .args(args);
    c
}

/// Polls `cond` every few milliseconds; panics with `what` past `limit`.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The `host_result` events of `host` (optionally for one task).
fn results<'a>(events: &'a [Value], host: &str, task: Option<&str>) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event"] == "host_result" && e["host"] == host)
        .filter(|e| task.is_none_or(|t| e["task"] == t))
        .collect()
}

/// The recap event's per-host stats.
fn recap(events: &[Value]) -> BTreeMap<String, Value> {
    let r = events
        .iter()
        .rfind(|e| e["event"] == "recap")
        .expect("no recap event");
    r["hosts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Freezes `host` (SIGSTOP, left frozen) while `p` runs, and waits up to `limit` for the run
/// to end: the run, and how long after the freeze it ended.
fn freeze_until_done(fleet: &Fleet, host: &str, p: Proc, limit: Duration) -> (Done, Duration) {
    fleet.sigstop(host);
    let stalled = Instant::now();
    let done = p.finish(limit);
    (done, stalled.elapsed())
}

/// `task` has exactly one result on `host`: failed, its message holding `why`.
fn assert_failed_once(events: &[Value], host: &str, task: &str, why: &str, out: &str) {
    let r = results(events, host, Some(task));
    assert_eq!(r.len(), 1, "{out}");
    assert_eq!(r[0]["status"], "failed", "{out}");
    assert!(
        r[0]["msg"].as_str().unwrap_or_default().contains(why),
        "no `{why}` in the reason: {out}"
    );
}

/// `new` as the controller file big.bin, and a playbook (task `big`) that copies it to every
/// host's /srv/big.bin: the file's path and the playbook's.
fn big_copy_playbook(fleet: &Fleet, new: &[u8]) -> (PathBuf, PathBuf) {
    let src = fleet.dir().join("big.bin");
    std::fs::write(&src, new).unwrap();
    let pb = write(
        fleet.dir(),
        "big.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: big\n      copy:\n        \
             src: {}\n        dest: /srv/big.bin\n        mode: \"0644\"\n",
            src.display()
        ),
    );
    (src, pb)
}

/// The file names in `abs_dir` on the host, as the host sees them (merged overlay view).
fn ls(fleet: &Fleet, host: &str, abs_dir: &str) -> Vec<String> {
    let out = fleet.exec_on(host, &format!("ls -A {abs_dir}"));
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Deterministic bytes that do not compress (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// The processes on this machine (the fleet's hosts share its process table) whose command
/// line is exactly `cmdline`: a command muster left running on a host shows up here.
fn running(cmdline: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let words: Vec<String> = c
                    .split(|b| *b == 0)
                    .filter(|w| !w.is_empty())
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect();
                words.join(" ") == cmdline
            })
        })
        .collect()
}

/// Waits (a little) for every process running exactly `cmdline` to be gone.
fn assert_gone(cmdline: &str, out: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !running(cmdline).is_empty() {
        assert!(
            Instant::now() < deadline,
            "`{cmdline}` still runs on the target after muster ended: pids {:?}\n{out}",
            running(cmdline)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigint(pid: i32) {
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. A host dies in the middle of a run

const DIES_PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: first
      command: touch /srv/first
    - name: long
      shell: touch /srv/long-started; sleep 3
    - name: third
      command: touch /srv/third
"#;

#[test]
fn host_dies_mid_run() {
    let fleet = Fleet::debian(4);
    let pb = write(fleet.dir(), "dies.yml", DIES_PLAYBOOK);
    let p = Proc::spawn(muster(&fleet, &["apply", s(&pb), "--format", "json"]));
    wait_for(
        "host2 to start the long task",
        Duration::from_secs(20),
        || fleet.upper_file("host2", "/srv/long-started").is_some(),
    );
    fleet.kill_host("host2");
    let done = p.finish(Duration::from_secs(30));
    let out = done.show();
    assert_eq!(done.code, Some(3), "{out}");
    assert!(done.took < Duration::from_secs(20), "{out}");

    let events = done.events();
    // The dead host: unreachable, during the long task, with the reason.
    let r = results(&events, "host2", Some("long"));
    assert_eq!(r.len(), 1, "{out}");
    assert_eq!(r[0]["status"], "unreachable", "{out}");
    let msg = r[0]["msg"].as_str().unwrap_or_default();
    assert!(msg.contains("connection"), "no reason given: {out}");
    assert!(results(&events, "host2", Some("third")).is_empty(), "{out}");
    let stats = recap(&events);
    assert_eq!(stats["host2"]["unreachable"], 1, "{out}");
    assert_eq!(stats["host2"]["ok"], 1, "{out}");
    // The others ran every task.
    for h in ["host1", "host3", "host4"] {
        assert_eq!(stats[h]["ok"], 3, "{h}: {out}");
        assert_eq!(stats[h]["failed"], 0, "{h}: {out}");
        assert_eq!(stats[h]["unreachable"], 0, "{h}: {out}");
        assert!(fleet.upper_file(h, "/srv/third").is_some(), "{h}: {out}");
    }
    assert!(fleet.upper_file("host2", "/srv/third").is_none());
    eprintln!("host_dies_mid_run: muster took {:?}", done.took);
}

// ---------------------------------------------------------------------------------------------
// 2. A host stalls: the command timeout, and the connect timeout, bound the run

const STALL_PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: first
      command: touch /srv/first
    - name: slow
      shell: touch /srv/slow-started; sleep 1
    - name: third
      command: touch /srv/third
"#;

#[test]
fn host_stalls_and_the_command_timeout_fires() {
    let fleet = Fleet::debian(3);
    let pb = write(fleet.dir(), "stall.yml", STALL_PLAYBOOK);
    let p = Proc::spawn(muster(
        &fleet,
        &["--timeout", "2", "apply", s(&pb), "--format", "json"],
    ));
    wait_for(
        "host2 to start the slow task",
        Duration::from_secs(20),
        || fleet.upper_file("host2", "/srv/slow-started").is_some(),
    );
    let (done, after_stall) = freeze_until_done(&fleet, "host2", p, Duration::from_secs(30));
    let out = done.show();
    assert_eq!(done.code, Some(3), "{out}");
    // The timeout (2 s) plus a small margin, counted from the stall.
    assert!(
        after_stall < Duration::from_secs(6),
        "{after_stall:?}: {out}"
    );
    let events = done.events();
    assert_failed_once(&events, "host2", "slow", "timed out after 2s", &out);
    let stats = recap(&events);
    assert_eq!(stats["host2"]["failed"], 1, "{out}");
    for h in ["host1", "host3"] {
        assert_eq!(stats[h]["ok"], 3, "{h}: {out}");
        assert_eq!(stats[h]["failed"], 0, "{h}: {out}");
        assert!(fleet.upper_file(h, "/srv/third").is_some(), "{h}: {out}");
    }
    eprintln!(
        "command timeout: run took {:?}, {after_stall:?} after the stall",
        done.took
    );

    // Still stalled before the next run even connects: the connect timeout bounds it.
    let one = write(
        fleet.dir(),
        "one.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: touch /srv/again\n",
    );
    let p = Proc::spawn(muster(
        &fleet,
        &[
            "--connect-timeout",
            "2",
            "--timeout",
            "2",
            "apply",
            s(&one),
            "--format",
            "json",
        ],
    ));
    let done = p.finish(Duration::from_secs(30));
    let out = done.show();
    assert_eq!(done.code, Some(3), "{out}");
    assert!(done.took < Duration::from_secs(6), "{out}");
    let events = done.events();
    let r = results(&events, "host2", None);
    assert_eq!(r.len(), 1, "{out}");
    assert_eq!(r[0]["status"], "unreachable", "{out}");
    assert!(
        r[0]["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("connect timeout of 2s"),
        "{out}"
    );
    for h in ["host1", "host3"] {
        assert!(fleet.upper_file(h, "/srv/again").is_some(), "{h}: {out}");
    }
    eprintln!("connect timeout: run took {:?}", done.took);
    fleet.sigcont("host2");
}

// ---------------------------------------------------------------------------------------------
// 3. An upload cut short leaves the old file, and the next put cleans up after it

#[test]
fn interrupted_upload_leaves_the_old_file_intact() {
    let old = noise(256 * 1024, 7);
    let fleet = Fleet::start(vec![HostSpec::new("host1", Profile::Debian).file(
        "/srv/big.bin",
        old.clone(),
        0o644,
    )]);
    let new = noise(64 * 1024 * 1024, 11);
    let (src, pb) = big_copy_playbook(&fleet, &new);
    // muster's temp file for /srv/big.bin (src/transport/ssh.rs: one name per path).
    const TEMP: &str = ".big.bin.muster.tmp";
    let temp_size = || {
        std::fs::metadata(fleet.host("host1").upper_root().join("srv").join(TEMP))
            .ok()
            .map(|m| m.len())
    };
    // What muster's temp files in /srv are, as the host sees it.
    let temps = || -> Vec<String> {
        let mut v: Vec<String> = ls(&fleet, "host1", "/srv")
            .into_iter()
            .filter(|n| n.contains(".muster"))
            .collect();
        v.sort();
        v
    };

    let p = Proc::spawn(muster(&fleet, &["apply", s(&pb), "--format", "json"]));
    // Mid-transfer: the temp file exists and holds part of the data.
    wait_for("the upload to start", Duration::from_secs(30), || {
        temp_size().is_some_and(|n| n > 1024 * 1024)
    });
    fleet.kill_host("host1");
    let killed = Instant::now();
    let done = p.finish(Duration::from_secs(30));
    let out = done.show();
    let at_kill = temp_size();
    assert_eq!(done.code, Some(3), "{out}");
    assert!(
        at_kill.is_some_and(|n| n < new.len() as u64),
        "the transfer was not cut short ({at_kill:?}): {out}"
    );
    let events = done.events();
    let r = results(&events, "host1", Some("big"));
    assert_eq!(r.len(), 1, "{out}");
    assert_eq!(r[0]["status"], "unreachable", "{out}");
    assert!(
        r[0]["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("connection lost"),
        "{out}"
    );
    // The target holds the old file, byte for byte; the cut-short temp file is left over.
    assert!(
        fleet.upper_file("host1", "/srv/big.bin").as_ref() == Some(&old),
        "/srv/big.bin is no longer the old file"
    );
    fleet.restart("host1");
    assert_eq!(temps(), [TEMP]);
    // Another file's leftover is not this put's to remove.
    let other = ".other.bin.muster.tmp";
    let setup = fleet.exec_on("host1", &format!("touch -d 2020-01-01 /srv/{other}"));
    assert!(setup.status.success(), "{setup:?}");

    // The next run, a few seconds later (mtimes are whole seconds, and the leftover must be
    // older than the run): the new file in place, the leftover gone.
    std::thread::sleep(Duration::from_secs(3).saturating_sub(killed.elapsed()));
    let done = Proc::spawn(muster(&fleet, &["apply", s(&pb), "--format", "json"]))
        .finish(Duration::from_secs(60));
    let out = done.show();
    assert_eq!(done.code, Some(0), "{out}");
    assert!(
        fleet.upper_file("host1", "/srv/big.bin").as_deref() == Some(&new[..]),
        "/srv/big.bin is not the new file"
    );
    assert_eq!(temps(), [other], "{out}");
    eprintln!("rerun after the interrupted upload took {:?}", done.took);

    // A temp file of this path that is newer than the run (another run's put in progress) is
    // left alone: the put goes through a temp file of its own and leaves nothing else.
    let busy = fleet.exec_on("host1", &format!("touch -d '+1 hour' /srv/{TEMP}"));
    assert!(busy.status.success(), "{busy:?}");
    std::fs::write(&src, b"third version\n").unwrap();
    let done = Proc::spawn(muster(&fleet, &["apply", s(&pb), "--format", "json"]))
        .finish(Duration::from_secs(60));
    let out = done.show();
    assert_eq!(done.code, Some(0), "{out}");
    assert_eq!(
        fleet.upper_file("host1", "/srv/big.bin").as_deref(),
        Some(&b"third version\n"[..])
    );
    let mut want = vec![other.to_string(), TEMP.to_string()];
    want.sort();
    assert_eq!(temps(), want, "{out}");
}

/// A host that stalls in the middle of an upload: every SFTP request must be answered within
/// `--timeout`, so the transfer fails then instead of waiting (before: up to an hour), the
/// other host finishes, and the target still holds the old file.
#[test]
fn stalled_upload_fails_within_the_timeout() {
    let old = noise(64 * 1024, 3);
    let fleet = Fleet::start(vec![
        HostSpec::new("host1", Profile::Debian).file("/srv/big.bin", old.clone(), 0o644),
        HostSpec::new("host2", Profile::Debian),
    ]);
    let new = noise(64 * 1024 * 1024, 5);
    let (_, pb) = big_copy_playbook(&fleet, &new);
    let temp = || {
        std::fs::metadata(
            fleet
                .host("host1")
                .upper_root()
                .join("srv")
                .join(".big.bin.muster.tmp"),
        )
        .ok()
        .map(|m| m.len())
    };
    let p = Proc::spawn(muster(
        &fleet,
        &["--timeout", "2", "apply", s(&pb), "--format", "json"],
    ));
    wait_for("the upload to start", Duration::from_secs(30), || {
        temp().is_some_and(|n| n > 1024 * 1024)
    });
    let (done, after_stall) = freeze_until_done(&fleet, "host1", p, Duration::from_secs(60));
    fleet.sigcont("host1");
    let out = done.show();
    assert_eq!(done.code, Some(3), "{out}");
    assert!(
        after_stall < Duration::from_secs(8),
        "{after_stall:?} after the stall: {out}"
    );
    let events = done.events();
    assert_failed_once(
        &events,
        "host1",
        "big",
        "no answer within 2s (--timeout)",
        &out,
    );
    assert_eq!(recap(&events)["host2"]["changed"], 1, "{out}");
    assert!(fleet.upper_file("host2", "/srv/big.bin").as_deref() == Some(&new[..]));
    assert!(
        fleet.upper_file("host1", "/srv/big.bin").as_ref() == Some(&old),
        "/srv/big.bin is no longer the old file"
    );
    eprintln!("stalled upload: failed {after_stall:?} after the stall");
}

// ---------------------------------------------------------------------------------------------
// 4. A changed host key stops the host before any command runs on it

#[test]
fn changed_host_key_is_refused_before_any_command() {
    let fleet = Fleet::debian(3);
    let pb = write(
        fleet.dir(),
        "marker.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: touch /srv/{{ marker }}\n",
    );
    let kh = fleet.dir().join("fresh_known_hosts");
    let run = |checking: &str, marker: &str| {
        let mut c = fleet.muster();
        c.arg("-i")
            .arg(fleet.inventory())
            .arg("--known-hosts")
            .arg(&kh)
            .args(["--host-key-checking", checking, "apply", s(&pb)])
            .args(["-e", &format!("marker={marker}"), "--format", "json"]);
        Proc::spawn(c).finish(Duration::from_secs(60))
    };

    // First contact: accept-new records every host's key.
    let done = run("accept-new", "m1");
    assert_eq!(done.code, Some(0), "{}", done.show());
    let recorded = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(recorded.lines().count(), 3, "{recorded}");
    for h in ["host1", "host2", "host3"] {
        assert!(fleet.upper_file(h, "/srv/m1").is_some(), "{h}");
    }

    fleet.regenerate_host_key("host2");
    for (checking, marker) in [("accept-new", "m2"), ("strict", "m3")] {
        let done = run(checking, marker);
        let out = done.show();
        assert_eq!(done.code, Some(3), "{checking}: {out}");
        let events = done.events();
        let r = results(&events, "host2", None);
        assert_eq!(r.len(), 1, "{checking}: {out}");
        assert_eq!(r[0]["status"], "unreachable", "{checking}: {out}");
        assert!(
            r[0]["msg"]
                .as_str()
                .unwrap_or_default()
                .contains("HOST KEY MISMATCH"),
            "{checking}: {out}"
        );
        // Nothing ran on it; the others are fine.
        assert!(
            fleet
                .upper_file("host2", &format!("/srv/{marker}"))
                .is_none(),
            "{checking}: a command ran on the host with the changed key"
        );
        for h in ["host1", "host3"] {
            assert!(
                fleet.upper_file(h, &format!("/srv/{marker}")).is_some(),
                "{checking} {h}: {out}"
            );
        }
        // accept-new does not replace a changed key.
        assert_eq!(
            std::fs::read_to_string(&kh).unwrap(),
            recorded,
            "{checking}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Two hundred hosts, two hundred forks

/// Real sshds behind the 200 inventory hosts (each reached under 20 names).
const REAL_HOSTS: usize = 10;
const ALIASES: usize = 200;

/// An inventory of `ALIASES` hosts `a001`.. spread over the fleet's real hosts.
fn alias_inventory(fleet: &Fleet) -> PathBuf {
    let mut y = String::from("all:\n  hosts:\n");
    for i in 0..ALIASES {
        let real = &fleet.hosts()[i % fleet.hosts().len()];
        y.push_str(&format!(
            "    a{:03}:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n      \
             ansible_user: root\n      ansible_ssh_private_key_file: \"{}\"\n",
            i + 1,
            real.port,
            fleet.client_key().display()
        ));
    }
    write(fleet.dir(), "aliases.yml", &y)
}

fn alias_run(fleet: &Fleet, inv: &Path, args: &[&str], nofile: Option<(u64, u64)>) -> Done {
    let mut c = fleet.muster();
    c.arg("-i")
        .arg(inv)
        .arg("--known-hosts")
        .arg(fleet.known_hosts())
        .args(["--forks", "200"])
        .args(args);
    if let Some((soft, hard)) = nofile {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            c.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    Proc::spawn(c).finish(Duration::from_secs(180))
}

fn nofile_hard() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a struct we own.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_max
}

#[test]
fn two_hundred_hosts_with_forks_200() {
    let started = Instant::now();
    let fleet = Fleet::debian(REAL_HOSTS);
    eprintln!("{REAL_HOSTS} sshds up in {:?}", started.elapsed());
    let inv = alias_inventory(&fleet);
    let names: Vec<String> = (1..=ALIASES).map(|i| format!("a{i:03}")).collect();

    // The audit: every host reported, reachable, with results.
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/policies/generic.yml");
    let report = fleet.dir().join("audit.json");
    let done = alias_run(
        &fleet,
        &inv,
        &[
            "audit",
            s(&policy),
            "--format",
            "nagios",
            "-o",
            &format!("json={}", report.display()),
        ],
        None,
    );
    let out = done.show();
    eprintln!("audit of {ALIASES} hosts took {:?}", done.took);
    assert!(!out.contains("Too many open files"), "{out}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["summary"]["hosts"], ALIASES, "{out}");
    assert_eq!(json["summary"]["unreachable"], 0, "{out}");
    assert_eq!(json["summary"]["error"], 0, "{out}");
    let reported: Vec<&str> = json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            assert_eq!(h["reachable"], true, "{h}");
            assert!(!h["results"].as_array().unwrap().is_empty(), "{h}");
            h["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(reported, names, "{out}");
    // The generic policy fails its marker control on a fresh host: drift, not incomplete.
    assert_eq!(done.code, Some(2), "{out}");
    assert!(done.took < Duration::from_secs(120), "{out}");

    // An apply: every host runs both tasks.
    let pb = write(
        fleet.dir(),
        "small.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy:\n        \
         content: \"{{ inventory_hostname }}\\n\"\n        dest: /srv/{{ inventory_hostname }}\n    \
         - command: \"true\"\n",
    );
    let check_apply = |done: &Done, what: &str| {
        let out = done.show();
        assert_eq!(done.code, Some(0), "{what}: {out}");
        assert!(!out.contains("Too many open files"), "{what}: {out}");
        let stats = recap(&done.events());
        assert_eq!(stats.len(), ALIASES, "{what}: {out}");
        for n in &names {
            assert_eq!(stats[n]["ok"], 2, "{what} {n}: {out}");
        }
        assert!(done.took < Duration::from_secs(60), "{what}: {out}");
        eprintln!("{what}: apply on {ALIASES} hosts took {:?}", done.took);
    };
    let done = alias_run(&fleet, &inv, &["apply", s(&pb), "--format", "json"], None);
    check_apply(&done, "apply");
    for (i, n) in names.iter().enumerate() {
        let real = &fleet.hosts()[i % REAL_HOSTS].name;
        assert_eq!(
            fleet.upper_file(real, &format!("/srv/{n}")),
            Some(format!("{n}\n").into_bytes()),
            "{n} on {real}"
        );
    }

    // A low soft open-file limit: muster raises it to the hard limit and runs as before.
    let hard = nofile_hard();
    let done = alias_run(
        &fleet,
        &inv,
        &["apply", s(&pb), "--format", "json"],
        Some((64, hard)),
    );
    check_apply(&done, "soft limit 64");

    // A hard limit too low for the run: the hosts that could not be reached say why and how
    // to fix it; the others are reported; no hang.
    let done = alias_run(
        &fleet,
        &inv,
        &["apply", s(&pb), "--format", "json"],
        Some((64, 64)),
    );
    let out = done.show();
    assert_eq!(done.code, Some(3), "{out}");
    let events = done.events();
    let stats = recap(&events);
    assert_eq!(stats.len(), ALIASES, "{out}");
    let down: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "host_result" && e["status"] == "unreachable")
        .collect();
    assert!(!down.is_empty(), "{out}");
    eprintln!(
        "hard limit 64: {} of {ALIASES} hosts unreachable after {:?}, e.g. {}",
        down.len(),
        done.took,
        down[0]["msg"]
    );
    for e in down {
        let msg = e["msg"].as_str().unwrap_or_default();
        assert!(
            msg.contains("open-file limit") && msg.contains("ulimit -n"),
            "{out}"
        );
    }
    assert!(done.took < Duration::from_secs(60), "{out}");
}

// ---------------------------------------------------------------------------------------------
// 6. Ctrl-C

#[test]
fn ctrl_c_writes_the_partial_report_and_exits_130() {
    let fleet = Fleet::debian(3);
    fleet.sigstop("host3");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/policies/generic.yml");
    let json_path = fleet.dir().join("partial.json");
    let junit_path = fleet.dir().join("partial.xml");
    let p = Proc::spawn(muster(
        &fleet,
        &[
            "-v",
            "--connect-timeout",
            "60",
            "audit",
            s(&policy),
            "-o",
            &format!("json={}", json_path.display()),
            "-o",
            &format!("junit={}", junit_path.display()),
        ],
    ));
    // `-v` prints a line per host when its work is done.
    wait_for("host1 and host2 to finish", Duration::from_secs(30), || {
        let err = p.stderr_text();
        err.contains("host1: connect") && err.contains("host2: connect")
    });
    sigint(p.pid());
    let interrupted = Instant::now();
    let done = p.finish(Duration::from_secs(10));
    let after = interrupted.elapsed();
    let out = done.show();
    assert_eq!(done.code, Some(130), "{out}");
    assert!(after < Duration::from_secs(3), "{after:?}: {out}");
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(&json_path).unwrap_or_else(|e| panic!("{e}: {out}")),
    )
    .unwrap();
    let hosts = json["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3, "{json}");
    for h in &hosts[..2] {
        assert_eq!(h["reachable"], true, "{h}");
        assert!(!h["results"].as_array().unwrap().is_empty(), "{h}");
    }
    assert_eq!(hosts[2]["name"], "host3");
    assert_eq!(hosts[2]["reachable"], false, "{json}");
    assert!(
        hosts[2].to_string().contains("interrupted"),
        "host3 not marked interrupted: {json}"
    );
    let junit = std::fs::read_to_string(&junit_path).unwrap();
    assert!(
        junit.contains("host1") && junit.contains("host2"),
        "{junit}"
    );
    let host3 = &junit[junit.find("name=\"host3\"").expect("host3 suite")..];
    assert!(
        host3.contains("<error") && host3.contains("interrupted"),
        "{junit}"
    );
    eprintln!("audit: exit 130 {after:?} after SIGINT");
    fleet.sigcont("host3");

    // apply: Ctrl-C in the middle of a long task ends the run with a recap.
    let pb = write(
        fleet.dir(),
        "long.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: first\n      \
         command: touch /srv/first\n    - name: long\n      \
         shell: touch /srv/long-started; sleep 30.25\n    - name: never\n      \
         command: touch /srv/never\n",
    );
    let p = Proc::spawn(muster(&fleet, &["apply", s(&pb), "--format", "json"]));
    wait_for("the long task to start", Duration::from_secs(30), || {
        ["host1", "host2", "host3"]
            .iter()
            .all(|h| fleet.upper_file(h, "/srv/long-started").is_some())
    });
    sigint(p.pid());
    let interrupted = Instant::now();
    let done = p.finish(Duration::from_secs(10));
    let after = interrupted.elapsed();
    let out = done.show();
    assert_eq!(done.code, Some(130), "{out}");
    assert!(after < Duration::from_secs(3), "{after:?}: {out}");
    let events = done.events();
    let stats = recap(&events);
    assert_eq!(stats.len(), 3, "{out}");
    for h in ["host1", "host2", "host3"] {
        assert_eq!(stats[h]["ok"], 1, "{h}: {out}");
        let r = results(&events, h, Some("long"));
        assert_eq!(r.len(), 1, "{h}: {out}");
        assert!(
            r[0]["msg"]
                .as_str()
                .unwrap_or_default()
                .contains("interrupted"),
            "{h}: {out}"
        );
        assert!(fleet.upper_file(h, "/srv/never").is_none(), "{h}");
    }
    // Ctrl-C ended the commands in flight on the hosts, not only muster's wait for them.
    assert_gone("sleep 30.25", &out);
    eprintln!("apply: exit 130 {after:?} after SIGINT");

    // The text recap too.
    for h in ["host1", "host2", "host3"] {
        assert!(fleet.exec_on(h, "rm /srv/long-started").status.success());
    }
    let p = Proc::spawn(muster(&fleet, &["apply", s(&pb)]));
    wait_for(
        "the text run to start the long task",
        Duration::from_secs(30),
        || {
            ["host1", "host2", "host3"]
                .iter()
                .all(|h| fleet.upper_file(h, "/srv/long-started").is_some())
        },
    );
    sigint(p.pid());
    let done = p.finish(Duration::from_secs(10));
    let out = done.show();
    assert_eq!(done.code, Some(130), "{out}");
    assert!(done.stdout.contains("PLAY RECAP"), "{out}");
    assert!(done.stdout.contains("interrupted"), "{out}");
    assert_gone("sleep 30.25", &out);

    // check: the reports asked for with -o are written with what happened so far.
    for h in ["host1", "host2", "host3"] {
        assert!(fleet.exec_on(h, "rm /srv/long-started").status.success());
    }
    let slow = write(
        fleet.dir(),
        "slow-check.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: motd\n      \
         copy: {dest: /etc/motd, content: \"checked\\n\"}\n    - name: slow probe\n      \
         command: sleep 30.5\n      check_mode: false\n      changed_when: false\n",
    );
    let partial = fleet.dir().join("check.xml");
    let partial_md = fleet.dir().join("check.md");
    let p = Proc::spawn(muster(
        &fleet,
        &[
            "check",
            s(&slow),
            "-o",
            &format!("junit={}", partial.display()),
            "-o",
            &format!("markdown={}", partial_md.display()),
        ],
    ));
    wait_for("the slow probes to start", Duration::from_secs(30), || {
        running("sleep 30.5").len() == 3
    });
    sigint(p.pid());
    let done = p.finish(Duration::from_secs(10));
    let out = done.show();
    assert_eq!(done.code, Some(130), "{out}");
    assert_gone("sleep 30.5", &out);
    let junit = std::fs::read_to_string(&partial).unwrap_or_else(|e| panic!("{e}: {out}"));
    // Each host's drift found before the interruption, and the task it was cut in.
    assert_eq!(junit.matches("type=\"drift\"").count(), 3, "{junit}");
    assert_eq!(junit.matches("interrupted (Ctrl-C)").count(), 3, "{junit}");
    let md = std::fs::read_to_string(&partial_md).unwrap();
    assert!(md.contains("3 of 3 hosts would change"), "{md}");

    // Ad-hoc commands: Ctrl-C ends them on the hosts too, and exits 130.
    let p = Proc::spawn(muster(&fleet, &["run", "-m", "shell", "-a", "sleep 30.75"]));
    wait_for(
        "the ad-hoc sleeps to start",
        Duration::from_secs(30),
        || running("sleep 30.75").len() == 3,
    );
    sigint(p.pid());
    let done = p.finish(Duration::from_secs(10));
    let out = done.show();
    assert_eq!(done.code, Some(130), "{out}");
    assert_gone("sleep 30.75", &out);
}

/// A command whose wait muster gives up (`--timeout`) is ended on its host, with its children:
/// in a long-lived shell of a root login (killed through its process group from another
/// channel), on a channel of its own under sudo with a password for a non-root login (an SSH
/// signal request, relayed by sudo), and on the local connection. It does not run on unseen
/// after the run reported it failed.
#[test]
fn commands_given_up_on_end_on_their_hosts() {
    let fleet = Fleet::debian(2);
    let hang = |name: &str, sleep: &str| {
        write(
            fleet.dir(),
            name,
            &format!(
                "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: hang\n      \
                 shell: sleep {sleep}; true\n"
            ),
        )
    };
    let check = |done: Done, host_names: &[&str], sleep: &str| {
        let out = done.show();
        assert_eq!(done.code, Some(3), "{out}");
        let events = done.events();
        for h in host_names {
            assert_failed_once(&events, h, "hang", "timed out after 1s", &out);
        }
        assert_gone(&format!("sleep {sleep}"), &out);
        eprintln!("sleep {sleep}: run took {:?}", done.took);
    };

    // Root, long-lived shells.
    let pb = hang("hang-root.yml", "47.31");
    let c = muster(
        &fleet,
        &["--timeout", "1", "apply", s(&pb), "--format", "json"],
    );
    check(
        Proc::spawn(c).finish(Duration::from_secs(30)),
        &["host1", "host2"],
        "47.31",
    );

    // A non-root admin becoming root with a password: the command runs under sudo, on a
    // channel of its own (the password goes on its standard input).
    for h in ["host1", "host2"] {
        let setup = fleet.exec_on(
            h,
            "useradd -m -s /bin/sh alice && echo 'alice:s3cret-pw' | chpasswd && \
             echo 'alice ALL=(ALL) ALL' > /etc/sudoers.d/alice && chmod 440 /etc/sudoers.d/alice",
        );
        assert!(setup.status.success(), "{setup:?}");
    }
    let vars = write(
        fleet.dir(),
        "alice.yml",
        "ansible_user: alice\nansible_become_password: s3cret-pw\n",
    );
    let pb = hang("hang-sudo.yml", "47.32");
    let at_vars = format!("@{}", vars.display());
    let c = muster(
        &fleet,
        &[
            "--timeout",
            "1",
            "-b",
            "apply",
            s(&pb),
            "-e",
            &at_vars,
            "--format",
            "json",
        ],
    );
    check(
        Proc::spawn(c).finish(Duration::from_secs(30)),
        &["host1", "host2"],
        "47.32",
    );

    // The local connection: the shell and its child `sleep` both end.
    let inv = write(
        fleet.dir(),
        "local.ini",
        "localhost ansible_connection=local\n",
    );
    let pb = hang("hang-local.yml", "47.33");
    let mut c = fleet.muster();
    c.args([
        "-i",
        s(&inv),
        "--timeout",
        "1",
        "apply",
        s(&pb),
        "--format",
        "json",
    ]);
    check(
        Proc::spawn(c).finish(Duration::from_secs(30)),
        &["localhost"],
        "47.33",
    );
}
