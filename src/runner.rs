//! Runs one piece of work on many hosts at once: selects hosts, resolves how to reach each,
//! connects, and calls the work with the open transport, bounded by `--forks`. A host that
//! fails never loses the results of the others; results come back in inventory order.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::transport::connect::{load_ssh_config, ssh_settings};
use crate::transport::{connect, HostConn, Transport};

/// One selected host, before connecting.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub vars: Map<String, Value>,
    pub conn: HostConn,
}

/// The outcome of the work on one host.
#[derive(Debug)]
pub struct HostRun<T> {
    pub name: String,
    /// Time to connect, verify and authenticate (None if it never connected).
    pub connect_time: Option<Duration>,
    pub result: Result<T>,
}

/// Loads the inventory and resolves the hosts the `--limit` pattern selects. Every input error
/// (inventory, pattern, connection variables) surfaces here, before any host is contacted.
pub fn select_targets(config: &Config) -> Result<(Inventory, Vec<Target>)> {
    let inv = Inventory::load(&config.inventory)?;
    let pattern = config.limit.as_deref().unwrap_or("all");
    let mut names = inv.select(pattern)?;
    if let Some(shard) = &config.shard {
        names.retain(|n| shard.contains(n));
    }
    let ssh_config = load_ssh_config()?;
    let mut targets = Vec::with_capacity(names.len());
    for name in names {
        let vars = inv.host_vars(&name);
        let conn = HostConn::from_vars(&name, &vars, config, &ssh_config)?;
        targets.push(Target { name, vars, conn });
    }
    if targets
        .iter()
        .any(|t| t.conn.connection == crate::transport::connect::Connection::Ssh)
    {
        crate::transport::connect::check_known_hosts(config)?;
    }
    Ok((inv, targets))
}

/// The open-file limit of this process: (soft, hard).
pub fn open_file_limit() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return (0, 0);
    }
    (lim.rlim_cur, lim.rlim_max)
}

/// Raises the soft open-file limit to the hard one, at startup: every host in flight holds a
/// socket (and more while it connects), and `--forks 200` goes past the 256 or 1024 many
/// systems give by default. Best effort; a host that still finds no descriptor says which
/// limit to raise (see `transport::ssh`).
pub fn raise_open_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0
        || lim.rlim_cur >= lim.rlim_max
    {
        return;
    }
    #[allow(unused_mut)]
    let mut want = lim.rlim_max;
    // macOS refuses a soft limit above OPEN_MAX, even under an unlimited hard one.
    #[cfg(target_os = "macos")]
    {
        want = want.min(10240);
    }
    if want <= lim.rlim_cur {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads a struct we own; raising the soft limit up to the hard one is
    // always allowed.
    unsafe {
        libc::setrlimit(libc::RLIMIT_NOFILE, &raised);
    }
}

/// A tokio runtime sized for I/O-bound fan-out.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::input(format!("cannot start the async runtime: {e}")))
}

/// The exit code a set of host runs earns when nothing else went wrong: 130 if Ctrl-C cut any
/// host short, 3 if any host failed, else `ok_code`.
pub fn exit_code_of<T>(runs: &[HostRun<T>], ok_code: i32) -> i32 {
    if runs
        .iter()
        .any(|r| matches!(r.result, Err(Error::Interrupted)))
    {
        crate::exit::INTERRUPTED
    } else if runs.iter().any(|r| r.result.is_err()) {
        crate::exit::INCOMPLETE
    } else {
        ok_code
    }
}

/// Connects to every target (at most `forks` at once) and runs `work` on each connection.
pub async fn on_each_host<T, F, Fut>(
    config: &Config,
    targets: &[Target],
    work: F,
) -> Vec<HostRun<T>>
where
    T: Send + 'static,
    F: Fn(Arc<dyn Transport>, Target) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let settings = Arc::new(ssh_settings(config));
    let permits = Arc::new(tokio::sync::Semaphore::new(config.forks.max(1)));
    let work = Arc::new(work);
    let verbose = config.verbose;
    let mut set = tokio::task::JoinSet::new();
    for (i, t) in targets.iter().cloned().enumerate() {
        let settings = settings.clone();
        let permits = permits.clone();
        let work = work.clone();
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let name = t.name.clone();
            let started = Instant::now();
            let run = match connect(&t.conn, settings).await {
                Err(e) => HostRun {
                    name,
                    connect_time: None,
                    result: Err(e),
                },
                Ok(transport) => {
                    let started_connect = started.elapsed();
                    let connect_time = Some(started_connect);
                    let result = work(transport.clone(), t).await;
                    if verbose > 0 {
                        // The round-trip budget, visible: what this host cost after connecting.
                        let c = transport.op_counts();
                        eprintln!(
                            "{name}: connect {:.1} ms; {} exec, {} put, {} get",
                            started_connect.as_secs_f64() * 1000.0,
                            c.execs,
                            c.puts,
                            c.gets
                        );
                    }
                    transport.close().await;
                    HostRun {
                        name,
                        connect_time,
                        result,
                    }
                }
            };
            (i, run)
        });
    }
    let mut runs: Vec<Option<HostRun<T>>> = (0..targets.len()).map(|_| None).collect();
    let progress = crate::progress::Progress::new(targets.len(), "muster", config.quiet, verbose);
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            joined = set.join_next() => match joined {
                None => break,
                Some(Ok((i, run))) => {
                    runs[i] = Some(run);
                    progress.inc();
                }
                // A host task that panicked must not take the others' results with it; one
                // that was cancelled by Ctrl-C is reported below.
                Some(Err(e)) if e.is_cancelled() => {}
                Some(Err(e)) => eprintln!("internal error in a host task: {e}"),
            },
            _ = &mut ctrl_c, if !interrupted => {
                // Ctrl-C: stop every host in flight (dropping a task closes its channels and
                // connection); what finished is kept, the rest is reported as interrupted.
                interrupted = true;
                set.abort_all();
            }
        }
    }
    // Commands Ctrl-C cut short are ended on their hosts before the reports are written and
    // the process exits (bounded: a frozen host does not hold the exit up for long).
    crate::transport::ssh::settle_abandoned(Duration::from_secs(3)).await;
    runs.into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| HostRun {
                name: targets[i].name.clone(),
                connect_time: None,
                result: Err(if interrupted {
                    Error::Interrupted
                } else {
                    Error::host(
                        &targets[i].name,
                        crate::error::HostErrorKind::Failed,
                        "internal error: the host task ended without a result",
                    )
                }),
            })
        })
        .collect()
}
