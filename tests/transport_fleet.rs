//! The transports against real sshd: connection reuse, SFTP with atomic replace, become with
//! a real sudo, and the local transport.

mod fleet;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet::Fleet;
use muster::config::Secret;
use muster::transport::local::LocalTransport;
use muster::transport::r#become::{Become, BecomeSpec, Method};
use muster::transport::ssh::{SshSettings, SshTarget, SshTransport};
use muster::transport::{FileAttrs, Transport};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn target(fleet: &Fleet, host: &str, user: &str) -> SshTarget {
    fleet.ssh_target(host, user)
}

fn settings(fleet: &Fleet) -> Arc<SshSettings> {
    fleet.ssh_settings(Duration::from_secs(30))
}

#[test]
fn one_connection_carries_every_command() {
    let fleet = Fleet::debian(1);
    rt().block_on(async {
        let started = Instant::now();
        let t = SshTransport::connect(&target(&fleet, "host1", "root"), settings(&fleet))
            .await
            .unwrap();
        let connect = started.elapsed();

        // SSH_CONNECTION names the client's TCP port: the same for every command means one
        // connection carried them all.
        let started = Instant::now();
        let mut seen = std::collections::HashSet::new();
        for i in 0..100 {
            let out = t
                .exec(&format!("echo {i} \"$SSH_CONNECTION\""), None)
                .await
                .unwrap();
            let s = out.stdout_str();
            let (n, conn) = s.trim().split_once(' ').unwrap();
            assert_eq!(n, i.to_string());
            seen.insert(conn.to_string());
        }
        let per_command = started.elapsed() / 100;
        assert_eq!(seen.len(), 1, "commands used several connections: {seen:?}");
        assert_eq!(t.op_counts().execs, 100);
        eprintln!(
            "connect+auth: {connect:?}; per command over the open connection: {per_command:?}"
        );

        // Many at once: multiplexed channels, kept under sshd's MaxSessions.
        let futs = (0..40).map(|i| {
            let t = t.clone();
            async move { t.exec(&format!("sleep 0.05; echo {i}"), None).await }
        });
        let outs = futures::future::join_all(futs).await;
        for (i, o) in outs.into_iter().enumerate() {
            assert_eq!(o.unwrap().stdout_str().trim(), i.to_string());
        }

        // Exit status, signal, stdin and stderr come back as they are.
        let o = t
            .exec("cat; echo oops >&2; exit 7", Some(b"from stdin"))
            .await
            .unwrap();
        assert_eq!(o.status, Some(7));
        assert_eq!(o.stdout, b"from stdin");
        assert_eq!(o.stderr, b"oops\n");
        let o = t.exec("kill -TERM $$", None).await.unwrap();
        assert_eq!(o.status, None);
        assert_eq!(o.signal.as_deref(), Some("TERM"));
        assert_eq!(o.rc(), 143);
        t.close().await;
    });
}

/// Commands share a long-lived `/bin/sh` per connection (src/transport/shell.rs): nothing one
/// command does reaches the next, output comes back byte for byte whatever it holds, and a
/// command that ends the shell itself is reported like one that ended its own channel.
#[test]
fn long_lived_shell_keeps_commands_apart() {
    let fleet = Fleet::debian(1);
    rt().block_on(async {
        let t = SshTransport::connect(&target(&fleet, "host1", "root"), settings(&fleet))
            .await
            .unwrap();
        let o = t
            .exec(
                "cd /tmp; X=leak; export Y=leak; umask 077; set -e; exit 3",
                None,
            )
            .await
            .unwrap();
        assert_eq!(o.status, Some(3));
        let o = t
            .exec(
                "pwd; echo \"${X:-unset} ${Y:-unset} $#\"; umask; false; echo after",
                None,
            )
            .await
            .unwrap();
        assert_eq!(o.stdout_str(), "/root\nunset unset 0\n0022\nafter\n");

        // Standard input is /dev/null: `cat` ends at once instead of eating later commands.
        let o = t.exec("cat; echo done", None).await.unwrap();
        assert_eq!(o.stdout_str(), "done\n");

        // Output without a final newline, stderr apart, and text that looks like the framing.
        let o = t
            .exec(
                "printf 'no newline'; printf 'err\\n@@muster-0-1\\n' >&2; exit 5",
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            (o.stdout.as_slice(), o.stderr.as_slice(), o.status),
            (&b"no newline"[..], &b"err\n@@muster-0-1\n"[..], Some(5))
        );
        let o = t
            .exec("printf '\\n@@muster-0123456789abcdef-9 0\\n'", None)
            .await
            .unwrap();
        assert_eq!(o.stdout, b"\n@@muster-0123456789abcdef-9 0\n");

        // A megabyte of random bytes, compared with the target's own hash of them.
        let o = t
            .exec(
                "head -c 1048576 /dev/urandom > /tmp/blob && cat /tmp/blob",
                None,
            )
            .await
            .unwrap();
        assert_eq!(o.stdout.len(), 1 << 20);
        let theirs = t.exec("sha256sum < /tmp/blob", None).await.unwrap();
        let ours = {
            use sha2::Digest;
            sha2::Sha256::digest(&o.stdout)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert!(theirs.stdout_str().starts_with(&ours), "{theirs:?}");

        // `sh -c SCRIPT` runs as the script itself; `$$` gets a process (and channel) of its
        // own each time, so two backups named FILE.$$ cannot collide.
        let a = t.exec("echo $$", None).await.unwrap().stdout_str();
        let b = t.exec("echo $$", None).await.unwrap().stdout_str();
        assert_ne!(a, b);

        // A command that ends the long-lived shell: its signal is the command's, and the next
        // command gets a new shell.
        let o = t
            .exec(
                "while read -r k v; do [ \"$k\" = PPid: ] && kill -TERM \"$v\"; done \
                 < /proc/self/status",
                None,
            )
            .await
            .unwrap();
        assert_eq!(o.signal.as_deref(), Some("TERM"), "{o:?}");
        assert_eq!(t.exec("echo ok", None).await.unwrap().stdout_str(), "ok\n");
        t.close().await;
    });
}

#[test]
fn command_timeout_fires() {
    let fleet = Fleet::debian(1);
    rt().block_on(async {
        let mut s = (*settings(&fleet)).clone();
        s.command_timeout = Some(Duration::from_millis(500));
        let t = SshTransport::connect(&target(&fleet, "host1", "root"), Arc::new(s))
            .await
            .unwrap();
        let started = Instant::now();
        let err = t.exec("sleep 30", None).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(err.to_string().contains("timed out after 0.5s"), "{err}");
        // The connection still works afterwards.
        assert_eq!(t.exec("echo ok", None).await.unwrap().stdout_str(), "ok\n");
    });
}

#[test]
fn sftp_put_replaces_atomically_with_mode_and_owner() {
    let fleet = Fleet::debian(1);
    rt().block_on(async {
        let t = SshTransport::connect(&target(&fleet, "host1", "root"), settings(&fleet))
            .await
            .unwrap();
        let big: Vec<u8> = (0..(1 << 20) + 123)
            .map(|i: u32| (i * 7 % 251) as u8)
            .collect();
        let attrs = FileAttrs {
            mode: Some(0o640),
            owner: Some("nobody".into()),
            group: Some("nogroup".into()),
        };
        t.put("/etc/big.bin", &big, &attrs).await.unwrap();
        assert_eq!(fleet.upper_file("host1", "/etc/big.bin").unwrap(), big);
        let o = t
            .exec("stat -c '%a %U:%G' /etc/big.bin", None)
            .await
            .unwrap();
        assert_eq!(o.stdout_str().trim(), "640 nobody:nogroup");
        assert_eq!(t.get("/etc/big.bin").await.unwrap(), big);

        // Replacing keeps readers safe: the inode changes (rename), never a half-written file.
        let before = t
            .exec("stat -c %i /etc/big.bin", None)
            .await
            .unwrap()
            .stdout_str();
        t.put(
            "/etc/big.bin",
            b"small now\n",
            &FileAttrs {
                mode: Some(0o600),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let after = t
            .exec("stat -c '%i %a' /etc/big.bin", None)
            .await
            .unwrap()
            .stdout_str();
        assert_ne!(before.trim(), after.split_whitespace().next().unwrap());
        assert!(after.trim().ends_with(" 600"), "{after}");
        assert_eq!(t.get("/etc/big.bin").await.unwrap(), b"small now\n");

        // No temp files left behind, and errors name the path.
        let o = t
            .exec("ls -a /etc | grep -c muster || true", None)
            .await
            .unwrap();
        assert_eq!(o.stdout_str().trim(), "0");
        let err = t
            .put("/no/such/dir/f", b"x", &FileAttrs::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("/no/such/dir/f"), "{err}");
        let err = t.get("/etc/does-not-exist").await.unwrap_err();
        assert!(err.to_string().contains("/etc/does-not-exist"), "{err}");
        assert_eq!(t.op_counts().puts, 3);
    });
}

#[test]
fn become_with_sudo_password_on_stdin() {
    let fleet = Fleet::debian(1);
    if std::process::Command::new("sudo")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("sudo is not installed; .ci/run installs it");
    }
    // A non-root admin who needs a password for sudo, only on this host.
    let setup = fleet.exec_on(
        "host1",
        "useradd -m -s /bin/sh alice && echo 'alice:s3cret-pw' | chpasswd && \
         echo 'alice ALL=(ALL) ALL' > /etc/sudoers.d/alice && chmod 440 /etc/sudoers.d/alice",
    );
    assert!(setup.status.success(), "{setup:?}");
    rt().block_on(async {
        let base = SshTransport::connect(&target(&fleet, "host1", "alice"), settings(&fleet))
            .await
            .unwrap();
        assert_eq!(
            base.exec("id -un", None).await.unwrap().stdout_str(),
            "alice\n"
        );

        let with_pw = Become::new(
            base.clone(),
            BecomeSpec {
                method: Method::Sudo,
                user: "root".into(),
                password: Some(Secret::new("s3cret-pw")),
            },
        );
        let o = with_pw
            .exec("id -un; cat", Some(b"input reaches the command"))
            .await
            .unwrap();
        assert!(o.success(), "{o:?}");
        assert_eq!(o.stdout_str(), "root\ninput reaches the command");
        assert!(!o.stderr_str().contains("s3cret-pw"));

        // Files written through become belong to root and land atomically.
        with_pw
            .put(
                "/etc/root-owned.conf",
                b"k = v\n",
                &FileAttrs {
                    mode: Some(0o644),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let o = base
            .exec("stat -c '%a %U' /etc/root-owned.conf", None)
            .await
            .unwrap();
        assert_eq!(o.stdout_str().trim(), "644 root");
        assert_eq!(
            with_pw.get("/etc/root-owned.conf").await.unwrap(),
            b"k = v\n"
        );
        let o = base
            .exec("ls -a /tmp /etc | grep -F .muster- || true", None)
            .await
            .unwrap();
        assert_eq!(o.stdout_str().trim(), "", "temp files left behind");

        // The bytes reach the become user's shell on standard input after the password line:
        // 4 MiB holding every byte value (NUL, ^D, CR, a lone password-like line) land exactly.
        let mut big: Vec<u8> = (0..=255u8).collect();
        big.extend(b"\ns3cret-pw\n\x04\r\n");
        big.extend((0..4 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        with_pw
            .put("/etc/bin.dat", &big, &FileAttrs::default())
            .await
            .unwrap();
        assert!(
            with_pw.get("/etc/bin.dat").await.unwrap() == big,
            "binary upload differs"
        );
        // A temp file left by an upload cut short (the one name a path's uploads use) is
        // replaced and removed by the next upload to that path; nothing is staged in /tmp.
        let o = with_pw
            .exec("printf stale > /etc/.root-owned.conf.muster.tmp", None)
            .await
            .unwrap();
        assert!(o.success(), "{o:?}");
        with_pw
            .put("/etc/root-owned.conf", b"k = w\n", &FileAttrs::default())
            .await
            .unwrap();
        assert_eq!(
            with_pw.get("/etc/root-owned.conf").await.unwrap(),
            b"k = w\n"
        );
        let o = base
            .exec("ls -a /tmp /etc | grep -F .muster || true", None)
            .await
            .unwrap();
        assert_eq!(o.stdout_str().trim(), "", "temp files left behind");

        let wrong = Become::new(
            base.clone(),
            BecomeSpec {
                method: Method::Sudo,
                user: "root".into(),
                password: Some(Secret::new("wrong")),
            },
        );
        let o = wrong.exec("id -un", None).await.unwrap();
        assert!(!o.success());
        assert!(!o.stdout_str().contains("root"));

        let no_pw = Become::new(
            base.clone(),
            BecomeSpec {
                method: Method::Sudo,
                user: "root".into(),
                password: None,
            },
        );
        let o = no_pw.exec("id -un", None).await.unwrap();
        assert!(!o.success());
        assert!(o.stderr_str().contains("pass -K"), "{}", o.stderr_str());
    });
}

#[test]
fn local_transport_runs_through_sh_and_writes_atomically() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let t = LocalTransport::new("localhost", None);
        let o = t
            .exec("printf '%s' \"$((6*7))\"; exit 3", None)
            .await
            .unwrap();
        assert_eq!((o.status, o.stdout_str().as_str()), (Some(3), "42"));
        let o = t.exec("cat", Some(b"abc")).await.unwrap();
        assert_eq!(o.stdout, b"abc");
        let path = dir.path().join("f.txt");
        let p = path.to_str().unwrap();
        t.put(
            p,
            b"one",
            &FileAttrs {
                mode: Some(0o640),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        t.put(
            p,
            b"two",
            &FileAttrs {
                mode: Some(0o600),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(t.get(p).await.unwrap(), b"two");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left"
        );
        let t = LocalTransport::new("localhost", Some(Duration::from_millis(200)));
        assert!(t
            .exec("sleep 5", None)
            .await
            .unwrap_err()
            .to_string()
            .contains("timed out"));
    });
}
