//! `muster ping`: can each host be reached, how fast, as whom, and what is it.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{exit, Error, HostErrorKind, Result};
use crate::runner::{exit_code_of, on_each_host, runtime, select_targets};

/// One command that tells the remote user and the platform, on Linux, BSD and macOS alike.
const PROBE: &str = "id -un; uname -s; uname -m; \
if [ -r /etc/os-release ]; then . /etc/os-release; echo \"${ID:-unknown} ${VERSION_ID:-}\"; \
elif command -v sw_vers >/dev/null 2>&1; then echo \"macos $(sw_vers -productVersion)\"; \
else echo unknown; fi";

#[derive(Debug)]
struct Pong {
    rtt: Duration,
    user: String,
    platform: String,
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub fn ping(config: &Config) -> Result<i32> {
    let (_inv, targets) = select_targets(config)?;
    if targets.is_empty() {
        eprintln!("warning: no hosts matched");
        return Ok(exit::OK);
    }
    let rt = runtime()?;
    let runs = rt.block_on(on_each_host(config, &targets, |t, _target| async move {
        let started = Instant::now();
        let out = t.exec(PROBE, None).await?;
        let rtt = started.elapsed();
        if !out.success() {
            return Err(Error::host(
                t.host(),
                HostErrorKind::Failed,
                format!("probe exited {}: {}", out.rc(), out.stderr_str().trim()),
            ));
        }
        let text = out.stdout_str();
        let mut lines = text.lines();
        let user = lines.next().unwrap_or("").trim().to_string();
        let system = lines.next().unwrap_or("").trim().to_string();
        let machine = lines.next().unwrap_or("").trim().to_string();
        let os = lines.next().unwrap_or("unknown").trim().to_string();
        Ok(Pong {
            rtt,
            user,
            platform: format!("{os} ({system} {machine})"),
        })
    }));
    let width = runs.iter().map(|r| r.name.len()).max().unwrap_or(4);
    let (mut ok, mut down) = (0, 0);
    for r in &runs {
        match &r.result {
            Ok(p) => {
                ok += 1;
                if !config.quiet {
                    println!(
                        "{:width$}  ok           connect {:>8}  rtt {:>8}  user {}  platform {}",
                        r.name,
                        ms(r.connect_time.unwrap_or_default()),
                        ms(p.rtt),
                        p.user,
                        p.platform
                    );
                }
            }
            Err(e) => {
                down += 1;
                let label = match e {
                    Error::Host {
                        kind: HostErrorKind::HostKey,
                        ..
                    } => "HOSTKEY",
                    Error::Host {
                        kind: HostErrorKind::Unreachable | HostErrorKind::Timeout,
                        ..
                    } => "UNREACHABLE",
                    _ => "FAILED",
                };
                let msg = match e {
                    Error::Host { msg, .. } => msg.clone(),
                    other => other.to_string(),
                };
                println!("{:width$}  {label:<11}  {msg}", r.name);
            }
        }
    }
    println!(
        "{} host{}: {ok} reachable, {down} unreachable",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    );
    Ok(exit_code_of(&runs, exit::OK))
}
