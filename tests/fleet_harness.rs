//! Tests of the test fleet itself (tests/fleet/), over real SSH with the system `ssh` client.

mod fleet;

use fleet::{Fleet, HostSpec, Profile};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// Runs CMD over ssh and insists it succeeds.
fn ssh_ok(fleet: &Fleet, host: &str, cmd: &str) -> String {
    let out = fleet.ssh(host, cmd);
    assert!(
        out.status.success(),
        "ssh {host} {cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

/// Processes whose command line mentions `dir`.
fn processes_mentioning(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|s| s.parse::<u32>().is_ok()) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

fn refuses(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err()
}

#[test]
fn hosts_are_root_over_ssh_and_isolated_from_each_other_and_the_machine() {
    let fleet = Fleet::debian(3);
    assert_eq!(fleet.hosts().len(), 3);
    for h in fleet.hosts() {
        assert_eq!(ssh_ok(&fleet, &h.name, "id -un"), "root", "{}", h.name);
    }

    // Sessions get sshd's root PATH (shims in /usr/local/sbin win) and empty dotfiles.
    let path = ssh_ok(&fleet, "host1", "echo $PATH");
    assert!(path.starts_with("/usr/local/sbin:"), "PATH = {path}");
    assert_eq!(ssh_ok(&fleet, "host1", "wc -c < /root/.bashrc"), "0");

    // A write on host1 lands in host1's overlay only.
    ssh_ok(&fleet, "host1", "echo hi > /etc/fleet-probe");
    assert_eq!(
        fleet.upper_file("host1", "/etc/fleet-probe").as_deref(),
        Some(&b"hi\n"[..])
    );
    assert_eq!(fleet.upper_file("host2", "/etc/fleet-probe"), None);
    assert_eq!(
        ssh_ok(&fleet, "host2", "cat /etc/fleet-probe || echo absent"),
        "absent"
    );
    assert!(
        !Path::new("/etc/fleet-probe").exists(),
        "leaked to the machine"
    );
    // exec_on runs in the host's namespace.
    assert_eq!(
        stdout(&fleet.exec_on("host1", "cat /etc/fleet-probe")),
        "hi"
    );
    assert!(!fleet
        .exec_on("host3", "test -e /etc/fleet-probe")
        .status
        .success());
    // Deletions show up as whiteouts.
    ssh_ok(&fleet, "host3", "rm /etc/hostname");
    assert!(fleet.upper_deleted("host3", "/etc/hostname"));
    assert!(Path::new("/etc/hostname").exists());

    // known_hosts and inventory name every host and port.
    let kh = std::fs::read_to_string(fleet.known_hosts()).unwrap();
    let inv = std::fs::read_to_string(fleet.inventory()).unwrap();
    for h in fleet.hosts() {
        let line = format!("[127.0.0.1]:{} {}", h.port, fleet.host_key_pub(&h.name));
        assert!(kh.lines().any(|l| l == line), "{line} not in\n{kh}");
        assert!(inv.contains(&format!("    {}:\n", h.name)), "{inv}");
        assert!(
            inv.contains(&format!("ansible_port: {}\n", h.port)),
            "{inv}"
        );
    }
    assert!(inv.contains("  children:\n    debian:\n      hosts:\n        host1: {}\n"));
}

#[test]
fn profiles_look_like_their_os() {
    let started = Instant::now();
    let fleet = Fleet::start(vec![
        HostSpec::new("deb", Profile::Debian),
        HostSpec::new("ubu", Profile::Ubuntu),
        HostSpec::new("rh", Profile::Rhel),
        HostSpec::new("alp", Profile::Alpine),
        HostSpec::new("mac", Profile::Macos).file(
            "/usr/local/bin/fleet-extra",
            "#!/bin/sh\necho extra\n",
            0o755,
        ),
    ]);
    eprintln!("5-host mixed fleet started in {:?}", started.elapsed());

    let id = ". /etc/os-release; echo $ID $VERSION_ID";
    assert_eq!(ssh_ok(&fleet, "deb", id), "debian 12");
    assert_eq!(ssh_ok(&fleet, "ubu", id), "ubuntu 24.04");
    assert_eq!(ssh_ok(&fleet, "rh", id), "rhel 9.4");
    assert_eq!(ssh_ok(&fleet, "alp", id), "alpine 3.20.0");

    assert_eq!(ssh_ok(&fleet, "mac", "uname -s"), "Darwin");
    assert_eq!(ssh_ok(&fleet, "mac", "uname -m"), "arm64");
    assert_eq!(ssh_ok(&fleet, "mac", "uname -sr"), "Darwin 23.5.0");
    assert_eq!(ssh_ok(&fleet, "mac", "sw_vers -productVersion"), "14.5");
    assert_eq!(
        ssh_ok(&fleet, "mac", "sw_vers"),
        "ProductName:\t\tmacOS\nProductVersion:\t\t14.5\nBuildVersion:\t\t23F79"
    );
    assert_eq!(
        ssh_ok(
            &fleet,
            "mac",
            "ls /etc/os-release /usr/lib/os-release 2>/dev/null | wc -l"
        ),
        "0"
    );
    assert_eq!(ssh_ok(&fleet, "mac", "fleet-extra"), "extra");
    // Shims are per host: Linux hosts keep the real uname.
    assert_eq!(ssh_ok(&fleet, "deb", "uname -s"), "Linux");

    let inv = std::fs::read_to_string(fleet.inventory()).unwrap();
    for (group, host) in [("debian", "deb"), ("rhel", "rh"), ("macos", "mac")] {
        assert!(
            inv.contains(&format!(
                "    {group}:\n      hosts:\n        {host}: {{}}\n"
            )),
            "{inv}"
        );
    }
}

#[test]
fn fleets_start_fast_and_concurrently() {
    let t = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                let t = Instant::now();
                let fleet = Fleet::debian(5);
                let took = t.elapsed();
                for h in fleet.hosts() {
                    assert_eq!(ssh_ok(&fleet, &h.name, "echo ok"), "ok");
                }
                took
            })
        })
        .collect();
    let took: Vec<Duration> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    eprintln!(
        "two 5-host fleets in parallel: started in {took:?}, all done in {:?}",
        t.elapsed()
    );
    for d in took {
        assert!(d < Duration::from_secs(5), "5 hosts took {d:?} to start");
    }
}

#[test]
fn stop_restart_stall_new_key_and_drop_clean_up() {
    let fleet = Fleet::debian(2);
    let dir = fleet.dir().to_path_buf();
    let port1 = fleet.port("host1");

    // An open session outlives the listener unless the fleet kills it.
    let mut session = fleet
        .ssh_command("host1", "sleep 60")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid1 = fleet.host("host1").pid();
    fleet.stop("host1");
    assert!(refuses(port1), "port {port1} still accepts after stop");
    assert!(!Path::new(&format!("/proc/{pid1}")).exists() || !fleet.host("host1").is_running());
    let t = Instant::now();
    while session.try_wait().unwrap().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "session survived stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(ssh_ok(&fleet, "host2", "echo up"), "up");
    // The stopped host keeps its files; a restart brings it back on its port.
    assert!(fleet
        .exec_on("host1", "test -f /root/.bashrc")
        .status
        .success());
    fleet.restart("host1");
    assert_eq!(fleet.port("host1"), port1);
    assert_eq!(ssh_ok(&fleet, "host1", "echo back"), "back");

    // A stopped-signalled host accepts TCP but never greets.
    fleet.sigstop("host2");
    let addr = SocketAddr::from(([127, 0, 0, 1], fleet.port("host2")));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(s.read(&mut [0u8; 8]).is_err(), "a SIGSTOPped sshd greeted");
    fleet.sigcont("host2");
    assert_eq!(ssh_ok(&fleet, "host2", "echo thawed"), "thawed");

    // A new host key: strict checking against the old known_hosts now fails.
    let old = fleet.host_key_pub("host2");
    fleet.regenerate_host_key("host2");
    assert_ne!(fleet.host_key_pub("host2"), old);
    let out = fleet.ssh("host2", "true");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Drop stops everything, open sessions included.
    let mut session = fleet
        .ssh_command("host1", "sleep 60")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(fleet);
    let t = Instant::now();
    while session.try_wait().unwrap().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "session survived drop"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(processes_mentioning(&dir), Vec::<String>::new());
    assert!(!dir.exists(), "fleet dir {} left behind", dir.display());
}
