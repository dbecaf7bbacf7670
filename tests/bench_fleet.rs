//! Not a test: the fleet the benchmark (`bench/run`) runs against. Ignored, so the normal
//! suite never runs it. `bench/run` starts it as
//!
//! ```text
//! MUSTER_BENCH_HOSTS=50 MUSTER_BENCH_FLEET_INFO=/tmp/x/fleet.json \
//!     target/release/deps/bench_fleet-HASH --ignored --exact serve_fleet --nocapture < FIFO
//! ```
//!
//! It starts `MUSTER_BENCH_HOSTS` Debian hosts (`host1`..`hostN`, real sshd on 127.0.0.1, each
//! in its own mount namespace; see tests/fleet/mod.rs), writes what a client needs to reach them
//! as JSON to `MUSTER_BENCH_FLEET_INFO` (written to a temp file, then renamed into place), and
//! keeps them running until its standard input closes, SIGINT/SIGTERM/SIGHUP arrives, or
//! `MUSTER_BENCH_FLEET_TTL` seconds (default 3600) pass. Then the fleet is dropped: every sshd
//! is stopped by its own PID and the fleet dir removed.
//!
//! `bench/scale` also sets `MUSTER_FLEET_MAX_STARTUPS` / `MUSTER_FLEET_MAX_SESSIONS` and
//! `MUSTER_FLEET_LOGLEVEL` (read by tests/fleet/mod.rs when it writes each sshd_config).

mod fleet;

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

#[test]
#[ignore = "the benchmark's fleet server; run by bench/run"]
fn serve_fleet() {
    // Stop cleanly (Drop stops the sshds) on the signals a user or a supervisor sends.
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
    let n: usize = std::env::var("MUSTER_BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .expect("MUSTER_BENCH_HOSTS must be a positive number");
    let info: PathBuf = std::env::var_os("MUSTER_BENCH_FLEET_INFO")
        .map(PathBuf::from)
        .expect("MUSTER_BENCH_FLEET_INFO must name the JSON file to write");
    let ttl = Duration::from_secs(
        std::env::var("MUSTER_BENCH_FLEET_TTL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3600),
    );

    let started = Instant::now();
    let fleet = fleet::Fleet::debian(n);
    let hosts: Vec<serde_json::Value> = fleet
        .hosts()
        .iter()
        .map(|h| {
            serde_json::json!({
                "name": h.name,
                "address": "127.0.0.1",
                "port": h.port,
                "sshd_pid": h.pid(),
                "upper": h.upper_root(),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "pid": std::process::id(),
        "dir": fleet.dir(),
        "inventory": fleet.inventory(),
        "known_hosts": fleet.known_hosts(),
        "client_key": fleet.client_key(),
        "home": fleet.home(),
        "muster": env!("CARGO_BIN_EXE_muster"),
        "started_in_ms": started.elapsed().as_millis() as u64,
        "hosts": hosts,
    });
    let tmp = info.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&doc).unwrap()).expect("cannot write info");
    std::fs::rename(&tmp, &info).expect("cannot rename info into place");
    eprintln!(
        "bench fleet: {n} hosts up in {:?}, info in {}",
        started.elapsed(),
        info.display()
    );

    // Standard input closing (the benchmark ended, or died) is the normal stop.
    let eof = Arc::new(AtomicBool::new(false));
    {
        let eof = eof.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            let mut stdin = std::io::stdin();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            eof.store(true, Ordering::SeqCst);
        });
    }
    let deadline = Instant::now() + ttl;
    while !eof.load(Ordering::SeqCst)
        && !SIGNALLED.load(Ordering::SeqCst)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let why = if SIGNALLED.load(Ordering::SeqCst) {
        "signal"
    } else if eof.load(Ordering::SeqCst) {
        "stdin closed"
    } else {
        "ttl expired"
    };
    eprintln!("bench fleet: stopping ({why})");
    let _ = std::fs::remove_file(&info);
    drop(fleet);
}
