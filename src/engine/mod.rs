//! The playbook engine: runs plays over the selected hosts (one async task per host in flight,
//! bounded by `--forks`), linear strategy by default (every host finishes a task before the
//! next starts) or `free`. Check mode is the engine calling `plan` and not `apply`; modules
//! never see a check flag. A host that fails leaves the pool; the others go on.

pub mod report;
pub mod vars;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::error::{Error, HostErrorKind, Result};
use crate::inventory::Inventory;
use crate::modules::{ModuleCtx, Plan, SearchPaths};
use crate::playbook::{self, Loader, Play, Playbook, Role, Task, TaskKind};
use crate::template::{Origin, Templar};
use crate::transport::connect::{load_ssh_config, ssh_settings};
use crate::transport::local::LocalTransport;
use crate::transport::quote::quote;
use crate::transport::r#become::{Become, BecomeSpec, Method};
use crate::transport::ssh::SshSettings;
use crate::transport::{connect, FileAttrs, HostConn, OpCounts, Output, Transport};

pub use report::{Event, Reporter, Stats, Status};

/// How a run was asked to behave.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub check: bool,
    pub diff: bool,
    pub extra_vars: Map<String, Value>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
}

/// What a run ended with, for the exit code.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub stats: BTreeMap<String, Stats>,
    /// Ctrl-C cut the run short.
    pub interrupted: bool,
}

impl RunSummary {
    /// 130 if Ctrl-C cut the run short, else 3 if any host failed or was unreachable, else 2
    /// in check mode when anything would change, else 0.
    pub fn exit_code(&self, check: bool) -> i32 {
        if self.interrupted {
            crate::exit::INTERRUPTED
        } else if self
            .stats
            .values()
            .any(|s| s.failed > 0 || s.unreachable > 0)
        {
            crate::exit::INCOMPLETE
        } else if check && self.stats.values().any(|s| s.changed > 0) {
            crate::exit::DRIFT
        } else {
            crate::exit::OK
        }
    }
}

/// Everything the engine keeps about one host across tasks and plays.
struct HostState {
    name: String,
    conn: HostConn,
    transport: Option<Arc<dyn Transport>>,
    inv_vars: Map<String, Value>,
    facts: Option<Map<String, Value>>,
    /// set_fact, register and include_vars results.
    runtime: Map<String, Value>,
    /// vars_files of the current play.
    play_files_vars: Map<String, Value>,
    failed: bool,
    unreachable: bool,
    /// `meta: end_host` or end_play.
    ended: bool,
    stats: Stats,
    notified: Vec<String>,
    escalated: HashMap<String, Arc<dyn Transport>>,
    /// Check mode: paths earlier tasks would have created on this host.
    planned: Vec<String>,
    /// The last task that failed on this host and its result, for a rescue's
    /// `ansible_failed_task` / `ansible_failed_result`.
    last_failure: Option<(Value, Value)>,
}

type HostRef = Arc<Mutex<HostState>>;

fn lock(h: &HostRef) -> std::sync::MutexGuard<'_, HostState> {
    h.lock().unwrap_or_else(|p| p.into_inner())
}

/// How deep include_tasks/include_role may nest at run time (a file that includes itself
/// with no condition that ends it would otherwise recurse until the stack overflows).
const MAX_INCLUDE_DEPTH: usize = 48;

/// What a section of tasks inherits from the blocks around it.
#[derive(Debug, Clone, Default)]
struct Inherit {
    /// How many dynamic includes the tasks are nested in.
    include_depth: usize,
    when: Vec<Value>,
    vars: Map<String, Value>,
    r#become: Option<bool>,
    become_user: Option<String>,
    tags: Vec<String>,
    ignore_errors: bool,
    check_mode: Option<bool>,
    no_log: bool,
    /// `environment:` of the play and enclosing blocks, outermost first (Ansible merges
    /// them, inner keys winning).
    environment: Vec<Value>,
    handler: bool,
    /// Inside a block whose `rescue` handles a failure: such a failure does not trip
    /// any_errors_fatal or max_fail_percentage (Ansible counts only unrescued failures).
    rescuable: bool,
    /// `any_errors_fatal` of the enclosing blocks (None: the play's).
    any_errors_fatal: Option<bool>,
    /// Parameters of the include_tasks / include_role the tasks came from (Ansible's
    /// "include params": above set_fact and registered vars, below extra vars).
    params: Map<String, Value>,
}

/// A role's defaults and vars.
type RoleVars = (Map<String, Value>, Map<String, Value>);

/// Per-play state shared by the hosts.
struct PlayCtx<'a> {
    play: &'a Play,
    dir: PathBuf,
    handlers: Mutex<Vec<Task>>,
    /// Defaults and vars of the play's roles, and of roles included while it runs.
    roles: Mutex<HashMap<PathBuf, RoleVars>>,
    hosts: Vec<String>,
    /// Every host the play targets (all batches).
    play_hosts: Vec<String>,
    /// Set when the play is cut short: Some(true) by any_errors_fatal/max_fail_percentage
    /// (no handlers, no later batches, the run ends), Some(false) by `meta: end_play`.
    abort: Mutex<Option<bool>>,
    /// The play's host lists as variables, made once per task (see `HostLists`).
    lists: Mutex<Option<Arc<HostLists>>>,
}

/// `ansible_play_hosts`, `ansible_play_batch` and `ansible_play_hosts_all` as of the start of
/// the current task, as Ansible's linear strategy has them: built once per task rather than
/// once per host and task (which locked every host of the play for every host, O(hosts²)).
struct HostLists {
    play_up: Value,
    batch_up: Value,
    all: Value,
}

impl PlayCtx<'_> {
    /// Forgets the host lists: the next variables are built from the hosts' state now.
    fn task_starts(&self) {
        *self.lists.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The outcome of one task (or item) on one host.
#[derive(Debug, Default)]
struct Outcome {
    result: Map<String, Value>,
    status: Option<Status>,
    planned: bool,
    changes: Vec<crate::modules::Change>,
}

pub struct Engine {
    config: Config,
    opts: RunOptions,
    inventory: Inventory,
    templar: Templar,
    loader: Mutex<Loader>,
    reporter: Box<dyn Reporter>,
    settings: Arc<SshSettings>,
    hosts: Mutex<HashMap<String, HostRef>>,
    /// Whether a batch whose every host failed ends the whole run (ansible-playbook's rule,
    /// for `apply`), or only its play (for runs made of independent plays, like remediate).
    end_run_on_failed_batch: bool,
    /// The task last started, for reporting where Ctrl-C cut the run short.
    last_task: Mutex<Option<String>>,
    /// `groups` (every group with its hosts): the inventory does not change during a run, so
    /// it is built once rather than for every host at every task (quadratic in hosts).
    groups: std::sync::OnceLock<Value>,
}

const NO_LOG_MSG: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

fn truthy_literal_false(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::String(s) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "false" | "no" | "off" | "0"
        ),
        _ => false,
    }
}

impl Engine {
    pub fn new(
        config: Config,
        opts: RunOptions,
        inventory: Inventory,
        roles_path: Vec<PathBuf>,
        reporter: Box<dyn Reporter>,
    ) -> Engine {
        let settings = Arc::new(ssh_settings(&config));
        Engine {
            config,
            opts,
            inventory,
            templar: Templar::new(),
            loader: Mutex::new(Loader::new(roles_path)),
            reporter,
            settings,
            hosts: Mutex::new(HashMap::new()),
            end_run_on_failed_batch: false,
            last_task: Mutex::new(None),
            groups: std::sync::OnceLock::new(),
        }
    }

    /// Makes a batch whose every host failed end the whole run, as ansible-playbook does
    /// (later plays are not started).
    pub fn end_run_on_failed_batch(&mut self, yes: bool) {
        self.end_run_on_failed_batch = yes;
    }

    fn emit(&self, e: Event) {
        if let Event::TaskStart { task, .. } = &e {
            *self.last_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task.clone());
        }
        // Every output of a run (text, JSON Lines, JUnit, Markdown) is fed from here: secrets
        // are masked once, before any reporter sees the event.
        self.reporter.event(&e.redacted());
    }

    /// Loads every playbook first (all input errors before any host is contacted).
    pub fn load(&self, paths: &[PathBuf]) -> Result<Vec<Playbook>> {
        self.load_in(paths, None)
    }

    /// As `load`, relative paths found from `dir` when given (see `Loader::load_playbook_at`).
    pub fn load_in(&self, paths: &[PathBuf], dir: Option<&Path>) -> Result<Vec<Playbook>> {
        let mut loader = self.loader.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for p in paths {
            let pb = match dir {
                Some(d) => loader.load_playbook_at(p, d.to_path_buf())?,
                None => loader.load_playbook(p)?,
            };
            let mut inv_names: Vec<String> = self.opts.extra_vars.keys().cloned().collect();
            for h in self.inventory.hosts() {
                inv_names.extend(self.inventory.host_vars(h).keys().cloned());
            }
            for play in &pb.plays {
                check_handlers(play)?;
                let mut known = playbook::check::Known::new(inv_names.iter().cloned());
                known.add_play(play, &pb.dir);
                playbook::check::check_play(&self.templar, play, Some(&known))?;
            }
            out.push(pb);
        }
        Ok(out)
    }

    /// Runs loaded playbooks; returns per-host stats.
    pub async fn run(&self, playbooks: &[Playbook]) -> Result<RunSummary> {
        // Resolve every host's connection up front: a bad connection variable is an input error.
        let limit: Option<Vec<String>> = match &self.config.limit {
            Some(p) => Some(self.inventory.select(p)?),
            None => None,
        };
        let ssh_config = load_ssh_config()?;
        for pb in playbooks {
            for play in &pb.plays {
                let pattern = self.render_pattern(&play.hosts)?;
                let mut names = self.inventory.select(&pattern)?;
                if let Some(l) = &limit {
                    names.retain(|n| l.contains(n));
                }
                if let Some(shard) = &self.config.shard {
                    names.retain(|n| shard.contains(n));
                }
                let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
                for n in names {
                    if hosts.contains_key(&n) {
                        continue;
                    }
                    let inv_vars = self.inventory.host_vars(&n);
                    let conn = HostConn::from_vars(&n, &inv_vars, &self.config, &ssh_config)?;
                    hosts.insert(
                        n.clone(),
                        Arc::new(Mutex::new(HostState {
                            name: n.clone(),
                            conn,
                            transport: None,
                            inv_vars,
                            facts: None,
                            runtime: Map::new(),
                            play_files_vars: Map::new(),
                            failed: false,
                            unreachable: false,
                            ended: false,
                            stats: Stats::default(),
                            notified: vec![],
                            escalated: HashMap::new(),
                            planned: vec![],
                            last_failure: None,
                        })),
                    );
                }
            }
        }
        // known_hosts is read now, so a damaged line stops the run before any host is contacted.
        let any_ssh = self
            .hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|h| lock(h).conn.connection == crate::transport::connect::Connection::Ssh);
        if any_ssh {
            crate::transport::connect::check_known_hosts(&self.config)?;
        }
        let plays = async {
            'plays: for pb in playbooks {
                for play in &pb.plays {
                    let pattern = self.render_pattern(&play.hosts)?;
                    let mut names = self.inventory.select(&pattern)?;
                    if let Some(l) = &limit {
                        names.retain(|n| l.contains(n));
                    }
                    if let Some(shard) = &self.config.shard {
                        names.retain(|n| shard.contains(n));
                    }
                    if !self.run_play(pb, play, names).await? && self.end_run_on_failed_batch {
                        // Every host of a batch failed: Ansible ends the run there.
                        break 'plays;
                    }
                }
            }
            Ok::<(), Error>(())
        };
        // Ctrl-C drops the plays in flight (their commands' channels close with them); the
        // run then ends as any run does, with a recap, and the exit code says it was cut short.
        let interrupted = tokio::select! {
            r = plays => {
                r?;
                false
            }
            Ok(()) = tokio::signal::ctrl_c() => true,
        };
        if interrupted {
            self.mark_interrupted();
        }
        let hosts: Vec<HostRef> = self
            .hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        let stats: BTreeMap<String, Stats> = hosts
            .iter()
            .map(|h| {
                let h = lock(h);
                (h.name.clone(), h.stats)
            })
            .collect();
        for h in &hosts {
            let (name, t) = {
                let mut h = lock(h);
                (h.name.clone(), h.transport.take())
            };
            if let Some(t) = t {
                if self.config.verbose > 0 {
                    // The round-trip budget, visible: what this host cost after connecting.
                    let c = t.op_counts();
                    eprintln!(
                        "{name}: {} exec, {} put, {} get after connect",
                        c.execs, c.puts, c.gets
                    );
                }
                t.close().await;
            }
        }
        self.emit(Event::Recap {
            hosts: stats.clone(),
            check: self.opts.check,
        });
        Ok(RunSummary { stats, interrupted })
    }

    /// After Ctrl-C: every host the run had not finished with (neither failed nor unreachable)
    /// gets a failed result under the task in flight, saying it was interrupted, so every
    /// report shows where each host was left.
    fn mark_interrupted(&self) {
        let task = self
            .last_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "interrupted".into());
        let mut hosts: Vec<HostRef> = self
            .hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        hosts.sort_by_key(|h| lock(h).name.clone());
        self.emit(Event::Warning {
            msg: "interrupted (Ctrl-C): the run was stopped before it finished".into(),
        });
        for h in hosts {
            let name = {
                let mut s = lock(&h);
                if s.failed || s.unreachable {
                    continue;
                }
                s.failed = true;
                s.stats.failed += 1;
                s.name.clone()
            };
            self.emit(Event::HostResult {
                host: name,
                task: task.clone(),
                status: Status::Failed,
                planned: false,
                item: None,
                changes: vec![],
                msg: Some("interrupted (Ctrl-C) before the run finished on this host".into()),
                ignored: false,
                output: None,
            });
        }
    }

    fn render_pattern(&self, hosts: &str) -> Result<String> {
        if !hosts.contains("{{") {
            return Ok(hosts.to_string());
        }
        let vars = Value::Object(self.opts.extra_vars.clone());
        self.templar.render_str(hosts, &vars, &Origin::default())
    }

    fn host(&self, name: &str) -> Option<HostRef> {
        self.hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Runs one play; false when every host of a batch failed (the play's later batches are
    /// not run; with `end_run_on_failed_batch`, neither are later plays).
    async fn run_play(&self, pb: &Playbook, play: &Play, names: Vec<String>) -> Result<bool> {
        self.emit(Event::PlayStart {
            play: play.name.clone(),
            hosts: names.clone(),
        });
        if names.is_empty() {
            self.emit(Event::Warning {
                msg: format!("no hosts matched `{}`; skipping play", play.hosts),
            });
            return Ok(true);
        }
        let mut handlers = play.handlers.clone();
        let mut roles = HashMap::new();
        for r in play.roles.iter().chain(play.imported_roles.iter()) {
            for hd in &r.handlers {
                if !handlers.iter().any(|x| x.loc == hd.loc) {
                    handlers.push(hd.clone());
                }
            }
            roles
                .entry(r.path.clone())
                .or_insert_with(|| (r.defaults.clone(), r.vars.clone()));
        }
        // serial: batches of hosts, each running the whole play.
        let batches = batches(&names, play.serial.as_ref());
        for batch in batches {
            let pc = PlayCtx {
                play,
                dir: pb.dir.clone(),
                handlers: Mutex::new(handlers.clone()),
                roles: Mutex::new(roles.clone()),
                hosts: batch.clone(),
                play_hosts: names.clone(),
                abort: Mutex::new(None),
                lists: Mutex::new(None),
            };
            let hrefs: Vec<HostRef> = batch.iter().filter_map(|n| self.host(n)).collect();
            let down = |h: &HostRef| {
                let s = lock(h);
                s.failed || s.unreachable
            };
            let down_before = hrefs.iter().filter(|h| down(h)).count();
            for h in &hrefs {
                let mut s = lock(h);
                s.ended = false;
                s.play_files_vars.clear();
            }
            // Connection failures show under the first task, as Ansible shows them.
            if play.gather_facts {
                self.emit(Event::TaskStart {
                    task: "Gathering Facts".into(),
                    file: String::new(),
                    line: 0,
                    handler: false,
                });
            }
            self.connect_all(&hrefs).await;
            self.load_vars_files(&pc, &hrefs)?;
            if play.gather_facts {
                self.gather_facts(&hrefs).await;
            }
            let inh = Inherit {
                r#become: play.r#become,
                become_user: play.become_user.clone(),
                tags: play.tags.clone(),
                check_mode: play.check_mode,
                environment: play.environment.iter().cloned().collect(),
                ..Default::default()
            };
            let role_tasks: Vec<Task> = play
                .roles
                .iter()
                .flat_map(|r| r.tasks.iter().cloned())
                .collect();
            let sections: [Vec<Task>; 3] = [
                play.pre_tasks.clone(),
                role_tasks
                    .into_iter()
                    .chain(play.tasks.iter().cloned())
                    .collect(),
                play.post_tasks.clone(),
            ];
            for section in sections.iter() {
                if section.is_empty() {
                    continue;
                }
                match play.strategy {
                    playbook::Strategy::Linear => {
                        self.run_list(&pc, section, &hrefs, &inh).await;
                    }
                    playbook::Strategy::Free => {
                        let futs = hrefs.iter().map(|h| {
                            let one = vec![h.clone()];
                            let pc = &pc;
                            let inh = &inh;
                            async move { self.run_list(pc, section, &one, inh).await }
                        });
                        stream::iter(futs)
                            .buffer_unordered(self.config.forks)
                            .collect::<Vec<_>>()
                            .await;
                    }
                }
                let abort = *pc.abort.lock().unwrap_or_else(|p| p.into_inner());
                if abort == Some(true) {
                    break;
                }
                self.flush_handlers(&pc, &hrefs).await;
                if abort.is_some() {
                    break;
                }
            }
            match *pc.abort.lock().unwrap_or_else(|p| p.into_inner()) {
                // any_errors_fatal / max_fail_percentage: the play's later batches do not run.
                Some(true) => return Ok(false),
                Some(false) => return Ok(true),
                None => {}
            }
            let down_now = hrefs.iter().filter(|h| down(h)).count();
            if !hrefs.is_empty() && down_now > down_before && down_now == hrefs.len() {
                self.emit(Event::Warning {
                    msg: if self.end_run_on_failed_batch {
                        "every host of the batch failed; ending the run".into()
                    } else {
                        "every host of the batch failed; ending the play".into()
                    },
                });
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Connects to every host not yet connected, at most `forks` at once.
    async fn connect_all(&self, hosts: &[HostRef]) {
        let todo: Vec<HostRef> = hosts
            .iter()
            .filter(|h| {
                let s = lock(h);
                s.transport.is_none() && !s.unreachable
            })
            .cloned()
            .collect();
        let settings = self.settings.clone();
        let results = stream::iter(todo.into_iter().map(|h| {
            let settings = settings.clone();
            async move {
                let conn = lock(&h).conn.clone();
                // Escalation is applied per task; the base connection is plain.
                let mut plain = conn.clone();
                plain.r#become = None;
                let r = connect(&plain, settings).await;
                (h, r)
            }
        }))
        .buffer_unordered(self.config.forks)
        .collect::<Vec<_>>()
        .await;
        for (h, r) in results {
            match r {
                Ok(t) => lock(&h).transport = Some(t),
                Err(e) => {
                    let name = {
                        let mut s = lock(&h);
                        s.unreachable = true;
                        s.stats.unreachable += 1;
                        s.name.clone()
                    };
                    self.emit(Event::HostResult {
                        host: name,
                        task: "connect".into(),
                        status: Status::Unreachable,
                        planned: false,
                        item: None,
                        changes: vec![],
                        msg: Some(host_msg(&e)),
                        ignored: false,
                        output: None,
                    });
                }
            }
        }
    }

    fn load_vars_files(&self, pc: &PlayCtx<'_>, hosts: &[HostRef]) -> Result<()> {
        for h in hosts {
            for vf in &pc.play.vars_files {
                let vars = self.vars_for(h, pc, None, &Inherit::default());
                let candidates: Vec<Value> = match vf {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                let origin = Origin::new(&pc.play.loc.file, pc.play.loc.line, pc.play.loc.col);
                let mut loaded = false;
                for c in &candidates {
                    let name = self.templar.render_value(c, &vars, &origin)?;
                    let name = name.as_str().unwrap_or_default().to_string();
                    let path = pc.dir.join(&name);
                    if path.is_file() {
                        let m = playbook::load_vars_file(&path)?;
                        lock(h).play_files_vars.extend(m);
                        loaded = true;
                        break;
                    }
                }
                if !loaded {
                    return Err(Error::at(
                        pc.play.loc.clone(),
                        format!("vars_files: none of {} found", Value::Array(candidates)),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn gather_facts(&self, hosts: &[HostRef]) {
        let active: Vec<HostRef> = hosts.iter().filter(|h| self.active(h)).cloned().collect();
        let results = stream::iter(active.into_iter().map(|h| async move {
            let t = lock(&h).transport.clone();
            let r = match t {
                Some(t) => crate::facts::gather(t.as_ref()).await,
                None => Err(Error::host(
                    lock(&h).name.clone(),
                    HostErrorKind::Unreachable,
                    "not connected",
                )),
            };
            (h, r)
        }))
        .buffer_unordered(self.config.forks)
        .collect::<Vec<_>>()
        .await;
        for (h, r) in results {
            let (name, status, msg) = {
                let mut s = lock(&h);
                match r {
                    Ok(f) => {
                        s.facts = Some(f);
                        s.stats.ok += 1;
                        (s.name.clone(), Status::Ok, None)
                    }
                    Err(e) => {
                        let unreachable = matches!(
                            e,
                            Error::Host {
                                kind: HostErrorKind::Unreachable,
                                ..
                            }
                        );
                        if unreachable {
                            s.unreachable = true;
                            s.stats.unreachable += 1;
                        } else {
                            s.failed = true;
                            s.stats.failed += 1;
                        }
                        (
                            s.name.clone(),
                            if unreachable {
                                Status::Unreachable
                            } else {
                                Status::Failed
                            },
                            Some(host_msg(&e)),
                        )
                    }
                }
            };
            self.emit(Event::HostResult {
                host: name,
                task: "Gathering Facts".into(),
                status,
                planned: false,
                item: None,
                changes: vec![],
                msg,
                ignored: false,
                output: None,
            });
        }
    }

    fn active(&self, h: &HostRef) -> bool {
        let s = lock(h);
        !s.failed && !s.unreachable && !s.ended
    }

    /// Whether the tags selection runs a task with these tags, as Ansible decides it: an
    /// untagged task counts as tagged `untagged`; `always` runs unless skipped by name; `never`
    /// runs only when one of its tags is asked for by name; `tagged` and `all` do not select
    /// `never`; `--skip-tags` wins over `--tags`.
    fn tags_allow(&self, tags: &[String]) -> bool {
        tags_allow(&self.opts.tags, &self.opts.skip_tags, tags)
    }

    /// Runs a list of tasks over hosts, linear: every host finishes a task before the next.
    fn run_list<'a>(
        &'a self,
        pc: &'a PlayCtx<'a>,
        tasks: &'a [Task],
        hosts: &'a [HostRef],
        inh: &'a Inherit,
    ) -> futures::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            for task in tasks {
                pc.task_starts();
                let active: Vec<HostRef> =
                    hosts.iter().filter(|h| self.active(h)).cloned().collect();
                if active.is_empty() {
                    return;
                }
                let mut tags = inh.tags.clone();
                tags.extend(task.tags.iter().cloned());
                match &task.kind {
                    TaskKind::Block {
                        block,
                        rescue,
                        always,
                    } => {
                        let child = self.inherit(inh, task);
                        let body = Inherit {
                            rescuable: child.rescuable || !rescue.is_empty(),
                            ..child.clone()
                        };
                        self.run_list(pc, block, &active, &body).await;
                        let failed_here: Vec<HostRef> =
                            active.iter().filter(|h| lock(h).failed).cloned().collect();
                        if !rescue.is_empty() && !failed_here.is_empty() {
                            for h in &failed_here {
                                let mut s = lock(h);
                                s.failed = false;
                                s.stats.rescued += 1;
                                // The failure was handled: Ansible does not count it.
                                s.stats.failed = s.stats.failed.saturating_sub(1);
                                // What failed, for the rescue tasks.
                                if let Some((t, r)) = s.last_failure.clone() {
                                    s.runtime.insert("ansible_failed_task".into(), t);
                                    s.runtime.insert("ansible_failed_result".into(), r);
                                }
                            }
                            self.run_list(pc, rescue, &failed_here, &child).await;
                        }
                        if !always.is_empty() {
                            // always runs even on hosts that failed in the block.
                            let was_failed: Vec<(HostRef, bool)> =
                                active.iter().map(|h| (h.clone(), lock(h).failed)).collect();
                            for (h, _) in &was_failed {
                                lock(h).failed = false;
                            }
                            self.run_list(pc, always, &active, &child).await;
                            for (h, f) in was_failed {
                                if f {
                                    lock(&h).failed = true;
                                }
                            }
                        }
                        continue;
                    }
                    TaskKind::Action { name, args }
                        if name == "include_tasks" || name == "include_role" =>
                    {
                        if !self.tags_allow(&tags) {
                            continue;
                        }
                        self.run_include(pc, task, name, args, &active, inh).await;
                        continue;
                    }
                    TaskKind::Action { name, args } if name == "meta" => {
                        let what = args
                            .get("_raw_params")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .trim()
                            .to_string();
                        match what.as_str() {
                            "flush_handlers" => self.flush_handlers(pc, &active).await,
                            "end_play" => {
                                for h in hosts {
                                    lock(h).ended = true;
                                }
                                pc.abort
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .get_or_insert(false);
                                return;
                            }
                            "end_host" => {
                                for h in &active {
                                    let vars = self.vars_for(h, pc, Some(task), inh);
                                    if self.when_holds(task, inh, &vars).unwrap_or(false) {
                                        lock(h).ended = true;
                                    }
                                }
                            }
                            _ => {}
                        }
                        continue;
                    }
                    _ => {}
                }
                if !self.tags_allow(&tags) {
                    continue;
                }
                self.emit(Event::TaskStart {
                    task: task.display_name(),
                    file: task.loc.file.display().to_string(),
                    line: task.loc.line,
                    handler: inh.handler,
                });
                if let Some(r) = &task.role {
                    let mut dirs = vec![
                        r.path.join("files"),
                        r.path.join("templates"),
                        r.path.clone(),
                    ];
                    dirs.push(pc.dir.clone());
                    self.templar.set_search_dirs(dirs);
                } else {
                    self.templar.set_search_dirs(vec![
                        pc.dir.join("files"),
                        pc.dir.join("templates"),
                        pc.dir.clone(),
                    ]);
                }
                let targets: Vec<HostRef> = if task.run_once {
                    active.iter().take(1).cloned().collect()
                } else {
                    active.clone()
                };
                // run_once: what the task sets on its host (register, set_fact, include_vars)
                // is every host's, as in Ansible.
                let before: Option<Map<String, Value>> = task
                    .run_once
                    .then(|| targets.first().map(|f| lock(f).runtime.clone()))
                    .flatten();
                let futs: Vec<_> = targets
                    .iter()
                    .map(|h| self.run_task_host(pc, task, inh, h))
                    .collect();
                stream::iter(futs)
                    .buffer_unordered(self.config.forks)
                    .collect::<Vec<_>>()
                    .await;
                if let (Some(before), Some(first)) = (before, targets.first()) {
                    let after = lock(first).runtime.clone();
                    let set: Vec<(String, Value)> = after
                        .into_iter()
                        .filter(|(k, v)| before.get(k) != Some(v))
                        .collect();
                    for h in &active[1..] {
                        lock(h).runtime.extend(set.iter().cloned());
                    }
                }
                // any_errors_fatal / max_fail_percentage end the play for every host.
                let down = |h: &HostRef| {
                    let s = lock(h);
                    s.failed || s.unreachable
                };
                let failed = active.iter().filter(|h| down(h)).count();
                // The percentage counts every host of the batch that failed so far.
                let failed_in_batch = pc
                    .hosts
                    .iter()
                    .filter_map(|n| self.host(n))
                    .filter(down)
                    .count();
                let too_many = pc.play.max_fail_percentage.is_some_and(|p| {
                    (failed_in_batch as f64) * 100.0 / (pc.hosts.len().max(1) as f64) > p
                });
                let fatal = task
                    .any_errors_fatal
                    .or(inh.any_errors_fatal)
                    .unwrap_or(pc.play.any_errors_fatal);
                if failed > 0 && !inh.rescuable && (fatal || too_many) {
                    for h in hosts {
                        lock(h).ended = true;
                    }
                    *pc.abort.lock().unwrap_or_else(|p| p.into_inner()) = Some(true);
                    self.emit(Event::Warning {
                        msg: "a host failed and any_errors_fatal/max_fail_percentage ends the play"
                            .into(),
                    });
                    return;
                }
            }
        })
    }

    fn inherit(&self, inh: &Inherit, task: &Task) -> Inherit {
        let mut c = inh.clone();
        c.when.extend(task.when.iter().cloned());
        for (k, v) in &task.vars {
            c.vars.insert(k.clone(), v.clone());
        }
        c.r#become = task.r#become.or(c.r#become);
        c.become_user = task.become_user.clone().or(c.become_user);
        c.tags.extend(task.tags.iter().cloned());
        c.ignore_errors |= task.ignore_errors;
        c.check_mode = task.check_mode.or(c.check_mode);
        c.no_log |= task.no_log;
        c.environment.extend(task.environment.iter().cloned());
        c.any_errors_fatal = task.any_errors_fatal.or(c.any_errors_fatal);
        c
    }

    async fn run_include(
        &self,
        pc: &PlayCtx<'_>,
        task: &Task,
        name: &str,
        args: &Value,
        hosts: &[HostRef],
        inh: &Inherit,
    ) {
        if inh.include_depth >= MAX_INCLUDE_DEPTH {
            for h in hosts {
                self.fail_host(
                    h,
                    task,
                    &format!(
                        "{name} nested more than {MAX_INCLUDE_DEPTH} levels deep: does a file include itself with no condition that ends it?"
                    ),
                );
            }
            return;
        }
        // Resolve per host (and per item of a loop): which file (or role) each includes; hosts
        // including the same file with the same item run it together, items in order.
        type Group = (PathBuf, Option<String>, Map<String, Value>, Vec<HostRef>);
        let mut groups: Vec<Group> = Vec::new();
        let origin = origin_of(task);
        for h in hosts {
            let vars = self.vars_for(h, pc, Some(task), inh);
            let items: Vec<Map<String, Value>> = match &task.loop_spec {
                None => vec![Map::new()],
                Some(spec) => match self.loop_items(spec, &vars, &origin) {
                    Ok(list) => list
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| {
                            let mut m = Map::new();
                            m.insert(spec.loop_var.clone(), item);
                            if let Some(ix) = &spec.index_var {
                                m.insert(ix.clone(), json!(i));
                            }
                            m
                        })
                        .collect(),
                    Err(e) => {
                        self.fail_host(h, task, &e.render());
                        continue;
                    }
                },
            };
            for item_vars in items {
                let mut vars = vars.clone();
                if let Value::Object(m) = &mut vars {
                    m.extend(item_vars.clone());
                }
                self.expand_lazy(&mut vars, &origin);
                match self.when_holds(task, inh, &vars) {
                    Ok(false) => continue,
                    Err(e) => {
                        self.fail_host(h, task, &e.to_string());
                        break;
                    }
                    Ok(true) => {}
                }
                let rendered = match self.templar.render_value(args, &vars, &origin) {
                    Ok(v) => v,
                    Err(e) => {
                        self.fail_host(h, task, &e.to_string());
                        break;
                    }
                };
                let get = |k: &str| rendered.get(k).and_then(Value::as_str).map(str::to_string);
                let key = if name == "include_tasks" {
                    let Some(file) = get("file").or_else(|| get("_raw_params")) else {
                        self.fail_host(h, task, "include_tasks needs a file name");
                        break;
                    };
                    let base = task
                        .role
                        .as_ref()
                        .map(|r| r.path.join("tasks"))
                        .unwrap_or_else(|| {
                            task.loc
                                .file
                                .parent()
                                .unwrap_or(Path::new("."))
                                .to_path_buf()
                        });
                    (base.join(file), None)
                } else {
                    let Some(role) = get("name") else {
                        self.fail_host(h, task, "include_role needs `name`");
                        break;
                    };
                    (PathBuf::from(role), get("tasks_from"))
                };
                match groups
                    .iter_mut()
                    .find(|(p, f, iv, _)| *p == key.0 && *f == key.1 && *iv == item_vars)
                {
                    Some(g) => g.3.push(h.clone()),
                    None => groups.push((key.0, key.1, item_vars, vec![h.clone()])),
                }
            }
        }
        for (path, from, item_vars, group) in groups {
            let loaded: Result<(Vec<Task>, Option<Role>)> = {
                let mut loader = self.loader.lock().unwrap_or_else(|p| p.into_inner());
                if name == "include_tasks" {
                    if !path.is_file() {
                        Err(Error::at(
                            task.loc.clone(),
                            format!("included task file {} not found", path.display()),
                        ))
                    } else {
                        loader
                            .load_task_file(&path, task.role.as_ref())
                            .map(|t| (t, None))
                    }
                } else {
                    let at = crate::yaml::Node::new(
                        crate::yaml::Value::Null,
                        task.loc.line,
                        task.loc.col,
                    );
                    let dir = task
                        .role
                        .as_ref()
                        .map(|r| {
                            r.path
                                .parent()
                                .and_then(Path::parent)
                                .unwrap_or(Path::new("."))
                                .to_path_buf()
                        })
                        .unwrap_or_else(|| pc.dir.clone());
                    loader
                        .load_role(
                            &task.loc.file,
                            &at,
                            &dir,
                            &path.to_string_lossy(),
                            from.as_deref(),
                        )
                        .map(|r| (r.tasks.clone(), Some(r)))
                }
            };
            match loaded {
                Err(e) => {
                    for h in &group {
                        self.fail_host(h, task, &e.render());
                    }
                }
                Ok((tasks, role)) => {
                    let mut child = self.inherit(inh, task);
                    child.include_depth = inh.include_depth + 1;
                    child.when.clear();
                    // A dynamic include's own tags select the include, not its tasks (those
                    // get tags only through `apply:`), as Ansible documents.
                    child.tags = inh.tags.clone();
                    if let Some(Value::Object(apply)) = args.get("apply") {
                        if let Some(t) = apply.get("tags") {
                            match t {
                                Value::Array(a) => child
                                    .tags
                                    .extend(a.iter().filter_map(Value::as_str).map(str::to_string)),
                                Value::String(s) => child
                                    .tags
                                    .extend(s.split(',').map(|x| x.trim().to_string())),
                                _ => {}
                            }
                        }
                    }
                    child.params.extend(task.vars.clone());
                    // The loop variable of a looped include is an include parameter too.
                    child.params.extend(item_vars);
                    if let Some(r) = &role {
                        // The role's defaults and vars sit at their own precedence levels
                        // (defaults lowest of all), not at the include's.
                        pc.roles
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .entry(r.path.clone())
                            .or_insert_with(|| (r.defaults.clone(), r.vars.clone()));
                        self.handlers_push(pc, &r.handlers);
                    }
                    self.run_list(pc, &tasks, &group, &child).await;
                }
            }
        }
    }

    fn handlers_push(&self, pc: &PlayCtx<'_>, extra: &[Task]) {
        let mut hs = pc.handlers.lock().unwrap_or_else(|p| p.into_inner());
        for t in extra {
            if !hs.iter().any(|h| h.loc == t.loc) {
                hs.push(t.clone());
            }
        }
    }

    fn fail_host(&self, h: &HostRef, task: &Task, msg: &str) {
        let name = {
            let mut s = lock(h);
            s.failed = true;
            s.stats.failed += 1;
            s.name.clone()
        };
        self.emit(Event::HostResult {
            host: name,
            task: task.display_name(),
            status: Status::Failed,
            planned: false,
            item: None,
            changes: vec![],
            msg: Some(msg.to_string()),
            ignored: false,
            output: None,
        });
    }

    async fn flush_handlers(&self, pc: &PlayCtx<'_>, hosts: &[HostRef]) {
        pc.task_starts();
        let handlers = pc
            .handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for hd in &handlers {
            let short = hd.name.clone().unwrap_or_default();
            let full = hd.display_name();
            let who: Vec<HostRef> = hosts
                .iter()
                .filter(|h| {
                    let s = lock(h);
                    !s.failed
                        && !s.unreachable
                        && s.notified
                            .iter()
                            .any(|n| *n == short || *n == full || hd.listen.contains(n))
                })
                .cloned()
                .collect();
            if who.is_empty() {
                continue;
            }
            let inh = Inherit {
                handler: true,
                r#become: pc.play.r#become,
                become_user: pc.play.become_user.clone(),
                environment: pc.play.environment.iter().cloned().collect(),
                check_mode: pc.play.check_mode,
                ..Default::default()
            };
            self.run_list(pc, std::slice::from_ref(hd), &who, &inh)
                .await;
        }
        for h in hosts {
            lock(h).notified.clear();
        }
    }

    /// All variables of a host at a task, lowest precedence first (Ansible's order for the
    /// levels we have): role defaults, inventory, facts, play vars, vars_files, role vars,
    /// block and task vars, set_fact/register/include_vars, role params, include params,
    /// extra vars; then magic variables.
    /// The play's host lists as of this task's start (`HostLists`), built by the first host
    /// that asks. Hosts still in the play: Ansible leaves failed and unreachable ones out. Read
    /// before the asking host's lock is taken (never two host locks at once); the asking host
    /// counts as up, as the host a task runs on always does.
    fn host_lists(&self, pc: &PlayCtx<'_>, h: &HostRef) -> Arc<HostLists> {
        let mut cached = pc.lists.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = cached.as_ref() {
            return Arc::clone(l);
        }
        let up = |names: &[String]| -> Value {
            Value::Array(
                names
                    .iter()
                    .filter(|n| match self.host(n) {
                        Some(o) if Arc::ptr_eq(&o, h) => true,
                        Some(o) => {
                            let o = lock(&o);
                            !o.failed && !o.unreachable
                        }
                        None => false,
                    })
                    .map(|n| Value::String(n.clone()))
                    .collect(),
            )
        };
        let lists = Arc::new(HostLists {
            play_up: up(&pc.play_hosts),
            batch_up: up(&pc.hosts),
            all: json!(pc.play_hosts),
        });
        *cached = Some(Arc::clone(&lists));
        lists
    }

    fn vars_for(&self, h: &HostRef, pc: &PlayCtx<'_>, task: Option<&Task>, inh: &Inherit) -> Value {
        let lists = self.host_lists(pc, h);
        let s = lock(h);
        let mut v = Map::new();
        // Which keys came last from a user's file (may hold templates, expanded lazily as
        // Ansible does) rather than from a host (facts, registered output: never templated).
        let mut from_files: HashMap<String, bool> = HashMap::new();
        let mut layer = |v: &mut Map<String, Value>, m: &Map<String, Value>, files: bool| {
            for (k, val) in m {
                v.insert(k.clone(), val.clone());
                from_files.insert(k.clone(), files);
            }
        };
        let role = task.and_then(|t| t.role.as_ref()).and_then(|r| {
            pc.roles
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&r.path)
                .cloned()
                .map(|x| (r, x))
        });
        if let Some((_, (defaults, _))) = &role {
            layer(&mut v, defaults, true);
        }
        layer(&mut v, &s.inv_vars, true);
        // `ansible_facts` is always defined (empty until facts are gathered), as in Ansible.
        let mut fm = Map::new();
        crate::facts::inject(&mut fm, s.facts.clone().unwrap_or_default());
        layer(&mut v, &fm, false);
        layer(&mut v, &pc.play.vars, true);
        layer(&mut v, &s.play_files_vars, true);
        if let Some((_, (_, rvars))) = &role {
            layer(&mut v, rvars, true);
        }
        layer(&mut v, &inh.vars, true);
        if let Some(t) = task {
            layer(&mut v, &t.vars, true);
        }
        layer(&mut v, &s.runtime, false);
        if let Some(r) = task.and_then(|t| t.role.as_ref()) {
            layer(&mut v, &r.params, true);
        }
        layer(&mut v, &inh.params, true);
        layer(&mut v, &self.opts.extra_vars, true);
        let lazy: Vec<Value> = from_files
            .into_iter()
            .filter(|(k, files)| *files && v.get(k).is_some_and(has_markup))
            .map(|(k, _)| Value::String(k))
            .collect();
        // A variable whose template reads hostvars needs them as much as the task does.
        let lazy_hostvars = lazy.iter().any(|k| {
            k.as_str()
                .and_then(|k| v.get(k))
                .is_some_and(|x| x.to_string().contains("hostvars"))
        });
        if !lazy.is_empty() {
            v.insert("__muster_lazy".into(), Value::Array(lazy));
        }
        // Magic variables.
        v.insert("inventory_hostname".into(), json!(s.name));
        v.insert(
            "inventory_hostname_short".into(),
            json!(s.name.split('.').next().unwrap_or(&s.name)),
        );
        v.insert(
            "group_names".into(),
            json!(self.inventory.groups_of(&s.name)),
        );
        v.insert(
            "groups".into(),
            self.groups
                .get_or_init(|| json!(self.inventory.groups_map()))
                .clone(),
        );
        v.insert("playbook_dir".into(), json!(absolute(&pc.dir)));
        v.insert("ansible_check_mode".into(), json!(self.opts.check));
        v.insert("ansible_diff_mode".into(), json!(self.opts.diff));
        v.insert("ansible_play_hosts".into(), lists.play_up.clone());
        v.insert("ansible_play_hosts_all".into(), lists.all.clone());
        v.insert("ansible_play_batch".into(), lists.batch_up.clone());
        v.insert("play_hosts".into(), lists.batch_up.clone());
        v.insert("ansible_play_name".into(), json!(pc.play.name));
        v.insert(
            "ansible_run_tags".into(),
            json!(if self.opts.tags.is_empty() {
                vec!["all".to_string()]
            } else {
                self.opts.tags.clone()
            }),
        );
        v.insert("ansible_skip_tags".into(), json!(self.opts.skip_tags));
        v.entry("ansible_managed")
            .or_insert(json!("Ansible managed"));
        v.insert(
            "ansible_version".into(),
            json!({"full": "2.17.0", "major": 2, "minor": 17, "revision": 0, "string": "2.17.0"}),
        );
        v.insert("omit".into(), json!(self.templar.omit_token()));
        if let Some(r) = task.and_then(|t| t.role.as_ref()) {
            v.insert("role_path".into(), json!(absolute(&r.path)));
            v.insert("role_name".into(), json!(r.name));
        }
        drop(s);
        // hostvars only when a task could read it (building it is O(hosts)).
        if lazy_hostvars
            || task.is_some_and(|t| {
                format!("{:?}", t.kind).contains("hostvars")
                    || t.when.iter().any(|w| w.to_string().contains("hostvars"))
                    || inh.when.iter().any(|w| w.to_string().contains("hostvars"))
                    || t.loop_spec
                        .as_ref()
                        .is_some_and(|l| l.items.to_string().contains("hostvars"))
            })
        {
            let mut hv = Map::new();
            for name in self.inventory.hosts() {
                let mut m = self.inventory.host_vars(name);
                if let Some(other) = self.host(name) {
                    if !Arc::ptr_eq(&other, h) {
                        let o = lock(&other);
                        if let Some(f) = &o.facts {
                            crate::facts::inject(&mut m, f.clone());
                        }
                        m.extend(o.runtime.clone());
                    } else {
                        m = v.clone();
                    }
                }
                m.insert("inventory_hostname".into(), json!(name));
                hv.insert(name.to_string(), Value::Object(m));
            }
            v.insert("hostvars".into(), Value::Object(hv));
        }
        let mut out = Value::Object(v);
        let origin = task.map(origin_of).unwrap_or_default();
        self.expand_lazy(&mut out, &origin);
        out
    }

    /// Expands variables whose values are templates (`conf_dir: "{{ root }}/conf"`), in place,
    /// against the other variables, as Ansible's lazy templating does. A value that cannot be
    /// expanded yet (e.g. it needs the loop item) is left for a later call.
    fn expand_lazy(&self, vars: &mut Value, origin: &Origin) {
        let keys: Vec<String> = match vars.get("__muster_lazy") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect(),
            _ => return,
        };
        for _ in 0..8 {
            let snapshot = vars.clone();
            let mut changed = false;
            for k in &keys {
                let Some(val) = snapshot.get(k) else { continue };
                if !has_markup(val) {
                    continue;
                }
                if let Ok(new) = self.templar.render_value(val, &snapshot, origin) {
                    if &new != val {
                        vars[k.as_str()] = new;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn when_holds(&self, task: &Task, inh: &Inherit, vars: &Value) -> Result<bool> {
        let origin = origin_of(task);
        for c in inh.when.iter().chain(task.when.iter()) {
            if !self.templar.eval_condition(c, vars, &origin)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Runs one task on one host: conditions, loop, module or action, result handling.
    async fn run_task_host(&self, pc: &PlayCtx<'_>, task: &Task, inh: &Inherit, h: &HostRef) {
        let name = lock(h).name.clone();
        let vars = self.vars_for(h, pc, Some(task), inh);
        let no_log = task.no_log || inh.no_log;
        let ignore = task.ignore_errors || inh.ignore_errors;
        let origin = origin_of(task);

        let items: Option<Vec<Value>> = match &task.loop_spec {
            None => None,
            Some(spec) => match self.loop_items(spec, &vars, &origin) {
                Ok(i) => Some(i),
                Err(e) => {
                    self.finish(
                        h,
                        task,
                        &name,
                        Outcome {
                            status: Some(Status::Failed),
                            result: json!({"failed": true, "msg": e.render()})
                                .as_object()
                                .cloned()
                                .unwrap_or_default(),
                            ..Default::default()
                        },
                        None,
                        no_log,
                        ignore,
                    );
                    return;
                }
            },
        };
        match items {
            None => {
                let out = match self.when_holds(task, inh, &vars) {
                    Ok(false) => Outcome { status: Some(Status::Skipped), result: json!({"changed": false, "skipped": true, "skip_reason": "Conditional result was False"}).as_object().cloned().unwrap_or_default(), ..Default::default() },
                    Ok(true) => self.run_with_retries(pc, task, inh, h, &vars).await,
                    Err(e) => failed_outcome(&e),
                };
                self.finish(h, task, &name, out, None, no_log, ignore);
            }
            Some(items) => {
                let spec = task.loop_spec.as_ref().expect("loop");
                let mut results = Vec::new();
                let (mut any_changed, mut any_failed, mut all_skipped) = (false, false, true);
                let n = items.len();
                for (i, item) in items.into_iter().enumerate() {
                    let mut iv = vars.clone();
                    if let Value::Object(m) = &mut iv {
                        m.insert(spec.loop_var.clone(), item.clone());
                        if let Some(ix) = &spec.index_var {
                            m.insert(ix.clone(), json!(i));
                        }
                        m.insert("ansible_loop_var".into(), json!(spec.loop_var));
                        m.insert("ansible_loop".into(), json!({"index": i + 1, "index0": i, "first": i == 0, "last": i + 1 == n, "length": n, "revindex": n - i, "revindex0": n - i - 1}));
                    }
                    // Task vars may refer to the item.
                    self.expand_lazy(&mut iv, &origin);
                    let label = match &spec.label {
                        Some(l) => self
                            .templar
                            .render_value(l, &iv, &origin)
                            .unwrap_or(item.clone()),
                        None => item.clone(),
                    };
                    let mut out = match self.when_holds(task, inh, &iv) {
                        Ok(false) => Outcome {
                            status: Some(Status::Skipped),
                            result: json!({"changed": false, "skipped": true})
                                .as_object()
                                .cloned()
                                .unwrap_or_default(),
                            ..Default::default()
                        },
                        Ok(true) => self.run_with_retries(pc, task, inh, h, &iv).await,
                        Err(e) => failed_outcome(&e),
                    };
                    out.result.insert(spec.loop_var.clone(), item.clone());
                    out.result
                        .insert("ansible_loop_var".into(), json!(spec.loop_var));
                    let st = out.status.unwrap_or(Status::Ok);
                    any_changed |= st == Status::Changed;
                    any_failed |= st == Status::Failed;
                    all_skipped &= st == Status::Skipped;
                    self.emit(Event::HostResult {
                        host: name.clone(),
                        task: task.display_name(),
                        status: st,
                        planned: out.planned,
                        item: Some(if no_log { json!("(censored)") } else { label }),
                        // `diff: false` on the task: no diff shown for it (as Ansible).
                        changes: if no_log || task.diff == Some(false) {
                            vec![]
                        } else {
                            out.changes.clone()
                        },
                        msg: if no_log {
                            None
                        } else {
                            out.result.get("msg").map(value_text)
                        },
                        ignored: false,
                        output: if no_log {
                            None
                        } else {
                            out.result.remove("__debug_output")
                        },
                    });
                    results.push(Value::Object(out.result));
                }
                let mut result = Map::new();
                result.insert("changed".into(), json!(any_changed));
                result.insert("results".into(), Value::Array(results));
                if any_failed {
                    result.insert("failed".into(), json!(true));
                    result.insert("msg".into(), json!("One or more items failed"));
                }
                if all_skipped {
                    result.insert("skipped".into(), json!(true));
                }
                let status = if any_failed {
                    Status::Failed
                } else if any_changed {
                    Status::Changed
                } else if all_skipped {
                    Status::Skipped
                } else {
                    Status::Ok
                };
                self.finish(
                    h,
                    task,
                    &name,
                    Outcome {
                        result,
                        status: Some(status),
                        ..Default::default()
                    },
                    Some(()),
                    no_log,
                    ignore,
                );
            }
        }
    }

    /// Records a task's outcome on a host: register, stats, notify, failure, and (unless the
    /// items were already reported one by one) the result line.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        h: &HostRef,
        task: &Task,
        name: &str,
        out: Outcome,
        looped: Option<()>,
        no_log: bool,
        ignore: bool,
    ) {
        let status = out.status.unwrap_or(Status::Ok);
        let mut ignored = false;
        {
            let mut s = lock(h);
            // Facts a module returns (package_facts, getent, service_facts...) join the
            // host's facts, as Ansible merges `ansible_facts` from module results.
            if let (TaskKind::Module { .. }, Some(Value::Object(new))) =
                (&task.kind, out.result.get("ansible_facts"))
            {
                let facts = s.facts.get_or_insert_with(Map::new);
                for (k, v) in new {
                    facts.insert(k.clone(), v.clone());
                }
            }
            if let Some(reg) = &task.register {
                let mut r = out.result.clone();
                r.remove("__debug_output");
                r.entry("changed")
                    .or_insert(json!(status == Status::Changed));
                r.entry("failed").or_insert(json!(status == Status::Failed));
                s.runtime.insert(reg.clone(), Value::Object(r));
            }
            match status {
                Status::Ok => s.stats.ok += 1,
                Status::Changed => {
                    s.stats.ok += 1;
                    s.stats.changed += 1;
                    for n in &task.notify {
                        if !s.notified.contains(n) {
                            s.notified.push(n.clone());
                        }
                    }
                }
                Status::Skipped => s.stats.skipped += 1,
                Status::Failed if ignore => {
                    s.stats.ignored += 1;
                    ignored = true;
                }
                Status::Failed => {
                    s.stats.failed += 1;
                    s.failed = true;
                    let mut r = if no_log {
                        json!({"censored": NO_LOG_MSG, "changed": false})
                            .as_object()
                            .cloned()
                            .unwrap_or_default()
                    } else {
                        out.result.clone()
                    };
                    r.remove("__debug_output");
                    r.insert("failed".into(), json!(true));
                    let t = json!({
                        "name": task.name.clone().unwrap_or_else(|| task.display_name()),
                        "action": match &task.kind {
                            TaskKind::Module { def, .. } => def.name.to_string(),
                            TaskKind::Action { name, .. } => name.clone(),
                            TaskKind::Block { .. } => "block".into(),
                        },
                    });
                    s.last_failure = Some((t, Value::Object(r)));
                }
                Status::Unreachable => {
                    s.stats.unreachable += 1;
                    s.unreachable = true;
                }
            }
        }
        if looped.is_some() && status != Status::Failed {
            return;
        }
        let msg = if no_log {
            (status == Status::Failed).then(|| NO_LOG_MSG.to_string())
        } else {
            out.result.get("msg").map(value_text).or_else(|| {
                (status == Status::Failed).then(|| {
                    out.result
                        .get("stderr")
                        .map(value_text)
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| "failed".into())
                })
            })
        };
        let output = if no_log {
            None
        } else {
            out.result.get("__debug_output").cloned()
        };
        self.emit(Event::HostResult {
            host: name.to_string(),
            task: task.display_name(),
            status,
            planned: out.planned,
            item: None,
            changes: if no_log || task.diff == Some(false) {
                vec![]
            } else {
                out.changes
            },
            msg,
            ignored,
            output,
        });
    }

    fn loop_items(
        &self,
        spec: &playbook::LoopSpec,
        vars: &Value,
        origin: &Origin,
    ) -> Result<Vec<Value>> {
        let rendered = self.templar.render_value(&spec.items, vars, origin)?;
        let lookup = spec.lookup.as_deref().unwrap_or("list");
        let list = match lookup {
            "list" => rendered,
            "items" | "flattened" => Value::Array(match rendered {
                Value::Array(a) => a
                    .into_iter()
                    .flat_map(|x| match x {
                        Value::Array(inner) => inner,
                        other => vec![other],
                    })
                    .collect(),
                other => vec![other],
            }),
            "dict" => match rendered {
                Value::Object(m) => Value::Array(
                    m.into_iter()
                        .map(|(k, v)| json!({"key": k, "value": v}))
                        .collect(),
                ),
                other => {
                    return Err(Error::at(
                        loc_of(origin),
                        format!("with_dict needs a mapping, got {other}"),
                    ))
                }
            },
            "indexed_items" => Value::Array(match rendered {
                Value::Array(a) => a
                    .into_iter()
                    .enumerate()
                    .map(|(i, x)| json!([i, x]))
                    .collect(),
                other => vec![json!([0, other])],
            }),
            other => {
                // with_<lookup>: call the lookup with the terms.
                let mut m = match vars.clone() {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                m.insert("__muster_terms".into(), rendered);
                let expr = format!("query('{other}', *__muster_terms) if __muster_terms is sequence and __muster_terms is not string and __muster_terms is not mapping else query('{other}', __muster_terms)");
                self.templar.eval_expr(&expr, &Value::Object(m), origin)?
            }
        };
        match list {
            Value::Array(a) => Ok(a),
            Value::Null => Ok(vec![]),
            other => Err(Error::at(
                loc_of(origin),
                format!("loop needs a list, got {}", value_text(&other)),
            )
            .with_help("use `loop: \"{{ mydict | dict2items }}\"` for a mapping")),
        }
    }

    async fn run_with_retries(
        &self,
        pc: &PlayCtx<'_>,
        task: &Task,
        inh: &Inherit,
        h: &HostRef,
        vars: &Value,
    ) -> Outcome {
        let Some(until) = &task.until else {
            return self.run_once(pc, task, inh, h, vars).await;
        };
        let origin = origin_of(task);
        let retries = task
            .retries
            .as_ref()
            .and_then(|r| self.templar.render_value(r, vars, &origin).ok())
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(3);
        let delay = task
            .delay
            .as_ref()
            .and_then(|r| self.templar.render_value(r, vars, &origin).ok())
            .and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(5.0);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut out = self.run_once(pc, task, inh, h, vars).await;
            let mut v = vars.clone();
            if let (Value::Object(m), Some(reg)) = (&mut v, &task.register) {
                m.insert(reg.clone(), Value::Object(out.result.clone()));
            }
            let mut ok = true;
            for c in until {
                match self.templar.eval_condition(c, &v, &origin) {
                    Ok(true) => {}
                    Ok(false) => {
                        ok = false;
                        break;
                    }
                    Err(e) => return failed_outcome(&e),
                }
            }
            out.result.insert("attempts".into(), json!(attempt));
            if ok {
                return out;
            }
            if attempt > retries {
                out.status = Some(Status::Failed);
                out.result.insert("failed".into(), json!(true));
                out.result.insert(
                    "msg".into(),
                    json!(format!(
                        "gave up after {attempt} attempts: the until condition never held"
                    )),
                );
                return out;
            }
            tokio::time::sleep(Duration::from_secs_f64(delay.max(0.0))).await;
        }
    }

    /// The host's transport for this task: escalation and environment wrapped around the
    /// plain connection; localhost for delegate_to.
    fn transport_for(
        &self,
        task: &Task,
        inh: &Inherit,
        h: &HostRef,
        vars: &Value,
    ) -> Result<Arc<dyn Transport>> {
        let mut s = lock(h);
        let base: Arc<dyn Transport> = if task.delegate_to.is_some() {
            Arc::new(LocalTransport::new(
                s.name.clone(),
                self.config.ssh.command_timeout,
            ))
        } else {
            s.transport
                .clone()
                .ok_or_else(|| Error::host(&s.name, HostErrorKind::Unreachable, "not connected"))?
        };
        let want = task
            .r#become
            .or(inh.r#become)
            .unwrap_or(s.conn.r#become.is_some());
        let mut t = base;
        if want && task.delegate_to.is_none() {
            let conn = &s.conn.become_vars;
            let user = task
                .become_user
                .clone()
                .or(inh.become_user.clone())
                .or(conn.user.clone())
                .unwrap_or_else(|| "root".into());
            let method_name = task
                .become_method
                .clone()
                .or(conn.method.clone())
                .unwrap_or_else(|| "sudo".into());
            let method = Method::parse(&method_name).ok_or_else(|| {
                Error::at(
                    task.loc.clone(),
                    format!("become method `{method_name}` is not supported"),
                )
                .with_help("use sudo, su or doas")
            })?;
            let key = format!("{method_name}:{user}");
            t = match s.escalated.get(&key) {
                Some(e) => e.clone(),
                None => {
                    let spec = BecomeSpec {
                        method,
                        user,
                        // `-K` first, then the inventory's password (`become_vars` holds
                        // whichever applies).
                        password: s.conn.become_vars.password.clone(),
                    };
                    let e: Arc<dyn Transport> = Arc::new(Become::new(t, spec));
                    s.escalated.insert(key, e.clone());
                    e
                }
            };
        }
        drop(s);
        let mut merged: Option<Map<String, Value>> = None;
        for env in inh.environment.iter().chain(task.environment.iter()) {
            if let Value::Object(m) = self.templar.render_value(env, vars, &origin_of(task))? {
                merged.get_or_insert_with(Map::new).extend(m);
            }
        }
        if let Some(m) = merged {
            let mut prefix = String::new();
            for (k, v) in m {
                if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || k.is_empty() {
                    return Err(Error::at(
                        task.loc.clone(),
                        format!("environment variable name `{k}` is not valid"),
                    ));
                }
                prefix.push_str(&format!("export {k}={}; ", quote(&value_text(&v))));
            }
            t = Arc::new(EnvTransport { inner: t, prefix });
        }
        Ok(t)
    }

    /// One execution of a task's module or action (no loop, no retries).
    async fn run_once(
        &self,
        pc: &PlayCtx<'_>,
        task: &Task,
        inh: &Inherit,
        h: &HostRef,
        vars: &Value,
    ) -> Outcome {
        let origin = origin_of(task);
        let check = self.opts.check && task.check_mode.or(inh.check_mode) != Some(false)
            || task.check_mode.or(inh.check_mode) == Some(true);
        let mut out = match &task.kind {
            TaskKind::Module { def, args } => {
                let args = match self.templar.render_value(args, vars, &origin) {
                    Ok(Value::Object(m)) => m,
                    Ok(_) => Map::new(),
                    Err(e) => return failed_outcome(&e),
                };
                let module = match (def.build)(&args) {
                    Ok(m) => m,
                    Err(e) => {
                        return failed_outcome(&Error::at(
                            task.loc.clone(),
                            format!("{}: {e}", def.name),
                        ))
                    }
                };
                let t = match self.transport_for(task, inh, h, vars) {
                    Ok(t) => t,
                    Err(e) => return failed_outcome(&e),
                };
                let search = match &task.role {
                    Some(r) => SearchPaths {
                        files: vec![
                            r.path.join("files"),
                            r.path.clone(),
                            pc.dir.join("files"),
                            pc.dir.clone(),
                        ],
                        templates: vec![
                            r.path.join("templates"),
                            r.path.clone(),
                            pc.dir.join("templates"),
                            pc.dir.clone(),
                        ],
                    },
                    None => SearchPaths {
                        files: vec![pc.dir.join("files"), pc.dir.clone()],
                        templates: vec![pc.dir.join("templates"), pc.dir.clone()],
                    },
                };
                let render =
                    |text: &str, v: &Value| self.templar.render_file_template(text, v, &origin);
                let host_name = lock(h).name.clone();
                let planned = if check {
                    lock(h).planned.clone()
                } else {
                    Vec::new()
                };
                let ctx = ModuleCtx {
                    host: &host_name,
                    transport: t.as_ref(),
                    vars,
                    render: &render,
                    search: &search,
                    planned: &planned,
                };
                let plan: Plan = match module.plan(&ctx).await {
                    Ok(p) => p,
                    Err(e) => return host_error_outcome(&e),
                };
                if plan.is_in_sync() {
                    let mut r = plan.result.clone();
                    r.insert("changed".into(), json!(false));
                    Outcome {
                        result: r,
                        status: Some(Status::Ok),
                        ..Default::default()
                    }
                } else {
                    // DESIGN: a command task with changed_when: false (or check_mode: false)
                    // declares itself read-only and runs in check mode too.
                    let read_only = plan.runs_command
                        && task
                            .changed_when
                            .as_ref()
                            .is_some_and(|c| c.len() == 1 && truthy_literal_false(&c[0]));
                    if check && !read_only {
                        if plan.runs_command {
                            let mut r = plan.result.clone();
                            r.insert("changed".into(), json!(false));
                            r.insert("skipped".into(), json!(true));
                            r.insert("msg".into(), json!("would run; commands are not run in check mode (mark read-only commands with changed_when: false)"));
                            Outcome {
                                result: r,
                                status: Some(Status::Skipped),
                                planned: true,
                                changes: plan.changes.clone(),
                            }
                        } else {
                            // Later tasks of this check run may rely on what this one would
                            // have created (a directory to write into, a link's target).
                            if let Some(p) = ["dest", "path", "name"]
                                .iter()
                                .find_map(|k| args.get(*k).and_then(Value::as_str))
                            {
                                lock(h).planned.push(p.to_string());
                            }
                            let mut r = plan.result.clone();
                            r.insert("changed".into(), json!(true));
                            Outcome {
                                result: r,
                                status: Some(Status::Changed),
                                planned: true,
                                changes: plan.changes.clone(),
                            }
                        }
                    } else {
                        match module.apply(&ctx, &plan).await {
                            Ok(mut r) => {
                                for (k, v) in plan.result.clone() {
                                    r.entry(k).or_insert(v);
                                }
                                let failed =
                                    r.get("failed").and_then(Value::as_bool).unwrap_or(false);
                                r.entry("changed").or_insert(json!(true));
                                let changed =
                                    r.get("changed").and_then(Value::as_bool).unwrap_or(true);
                                Outcome {
                                    result: r,
                                    status: Some(if failed {
                                        Status::Failed
                                    } else if changed {
                                        Status::Changed
                                    } else {
                                        Status::Ok
                                    }),
                                    planned: false,
                                    changes: plan.changes.clone(),
                                }
                            }
                            Err(e) => return host_error_outcome(&e),
                        }
                    }
                }
            }
            TaskKind::Action { name, args } if name == "reboot" => {
                match self.reboot(task, h, args, vars, check).await {
                    Ok(o) => o,
                    Err(e) => host_error_outcome(&e),
                }
            }
            TaskKind::Action { name, args } => {
                match self.run_action(pc, task, h, name, args, vars).await {
                    Ok(o) => o,
                    Err(e) => host_error_outcome(&e),
                }
            }
            TaskKind::Block { .. } => Outcome::default(),
        };
        // changed_when / failed_when see the result under the register name (and as-is).
        if task.changed_when.is_some() || task.failed_when.is_some() {
            let mut v = vars.clone();
            if let Value::Object(m) = &mut v {
                if let Some(reg) = &task.register {
                    m.insert(reg.clone(), Value::Object(out.result.clone()));
                }
                for (k, val) in &out.result {
                    m.entry(k.clone()).or_insert(val.clone());
                }
            }
            if out.status != Some(Status::Skipped) {
                if let Some(cw) = &task.changed_when {
                    match all_hold(&self.templar, cw, &v, &origin) {
                        Ok(c) => {
                            out.result.insert("changed".into(), json!(c));
                            if out.status != Some(Status::Failed) {
                                out.status = Some(if c { Status::Changed } else { Status::Ok });
                            }
                            if !c {
                                out.changes.clear();
                            }
                        }
                        Err(e) => return failed_outcome(&e),
                    }
                }
                if let Some(fw) = &task.failed_when {
                    match all_hold(&self.templar, fw, &v, &origin) {
                        Ok(f) => {
                            out.result.insert("failed".into(), json!(f));
                            if f {
                                out.status = Some(Status::Failed);
                                out.result
                                    .entry("msg")
                                    .or_insert(json!("failed_when condition held"));
                            } else if out.status == Some(Status::Failed) {
                                let changed = out
                                    .result
                                    .get("changed")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(false);
                                out.status =
                                    Some(if changed { Status::Changed } else { Status::Ok });
                            }
                        }
                        Err(e) => return failed_outcome(&e),
                    }
                }
            }
        }
        out
    }

    /// `reboot`: reboots the host and waits until it is back (a new boot id and a working
    /// test command), within `reboot_timeout`. Only planned in check mode. The engine owns it
    /// because it must drop and re-open the host's connection.
    async fn reboot(
        &self,
        task: &Task,
        h: &HostRef,
        args: &Value,
        vars: &Value,
        check: bool,
    ) -> Result<Outcome> {
        let origin = origin_of(task);
        let a = self.templar.render_value(args, vars, &origin)?;
        let num = |k: &str, d: f64| {
            a.get(k)
                .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
                .unwrap_or(d)
        };
        let text = |k: &str, d: &str| a.get(k).and_then(Value::as_str).unwrap_or(d).to_string();
        let msg = text("msg", "Reboot initiated by Ansible");
        let reboot_command = text(
            "reboot_command",
            &format!("shutdown -r now {}", quote(&msg)),
        );
        let boot_cmd = text("boot_time_command", "cat /proc/sys/kernel/random/boot_id");
        let test_cmd = text("test_command", "whoami");
        let timeout = Duration::from_secs_f64(num("reboot_timeout", 600.0));
        let connect_timeout = Duration::from_secs_f64(num("connect_timeout", 10.0));
        if check {
            return Ok(Outcome {
                result: json!({"changed": true, "rebooted": false, "msg": format!("would reboot with `{reboot_command}`")})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                status: Some(Status::Changed),
                planned: true,
                changes: vec![crate::modules::Change::new(
                    crate::modules::Field::Other("reboot".into()),
                    None,
                    Some(reboot_command),
                )],
            });
        }
        let (name, conn, base) = {
            let s = lock(h);
            (s.name.clone(), s.conn.clone(), s.transport.clone())
        };
        let base =
            base.ok_or_else(|| Error::host(&name, HostErrorKind::Unreachable, "not connected"))?;
        let t = self.transport_for(task, &Inherit::default(), h, vars)?;
        let before = t.exec(&boot_cmd, None).await?;
        if !before.success() {
            return Err(Error::host(
                &name,
                HostErrorKind::Failed,
                format!("`{boot_cmd}` failed: {}", before.stderr_str().trim()),
            ));
        }
        let before = before.stdout_str().trim().to_string();
        tokio::time::sleep(Duration::from_secs_f64(num("pre_reboot_delay", 0.0))).await;
        // Detached, so the command's channel closes before the connection goes down.
        let launch = format!(
            "nohup sh -c {} >/dev/null 2>&1 &",
            quote(&format!("sleep 1; {reboot_command}"))
        );
        let out = t.exec(&launch, None).await?;
        if !out.success() {
            return Err(Error::host(
                &name,
                HostErrorKind::Failed,
                format!(
                    "could not start `{reboot_command}`: {}",
                    out.stderr_str().trim()
                ),
            ));
        }
        let started = std::time::Instant::now();
        {
            let mut s = lock(h);
            s.transport = None;
            s.escalated.clear();
        }
        base.close().await;
        drop(t);
        let mut plain = conn.clone();
        plain.r#become = None;
        let mut settings = (*self.settings).clone();
        settings.connect_timeout = connect_timeout;
        let settings = Arc::new(settings);
        // Give the host a moment to go down, then poll until it is back with a new boot id.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        loop {
            if started.elapsed() > timeout {
                return Err(Error::host(
                    &name,
                    HostErrorKind::Unreachable,
                    format!(
                        "the host did not come back within reboot_timeout ({}s)",
                        timeout.as_secs()
                    ),
                ));
            }
            if let Ok(nt) = connect(&plain, settings.clone()).await {
                let now = nt
                    .exec(&boot_cmd, None)
                    .await
                    .ok()
                    .map(|o| o.stdout_str().trim().to_string());
                if now.as_deref().is_some_and(|b| !b.is_empty() && b != before) {
                    lock(h).transport = Some(nt.clone());
                    let t2 = self.transport_for(task, &Inherit::default(), h, vars)?;
                    let ok = t2
                        .exec(&test_cmd, None)
                        .await
                        .map(|o| o.success())
                        .unwrap_or(false);
                    if ok {
                        break;
                    }
                    lock(h).transport = None;
                }
                nt.close().await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tokio::time::sleep(Duration::from_secs_f64(num("post_reboot_delay", 0.0))).await;
        let elapsed = started.elapsed().as_secs();
        Ok(Outcome {
            result: json!({"changed": true, "rebooted": true, "elapsed": elapsed})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            status: Some(Status::Changed),
            planned: false,
            changes: vec![],
        })
    }

    async fn run_action(
        &self,
        pc: &PlayCtx<'_>,
        task: &Task,
        h: &HostRef,
        name: &str,
        args: &Value,
        vars: &Value,
    ) -> Result<Outcome> {
        let origin = origin_of(task);
        let ok = |r: Value| Outcome {
            result: r.as_object().cloned().unwrap_or_default(),
            status: Some(Status::Ok),
            ..Default::default()
        };
        match name {
            "debug" => {
                if let Some(var) = args.get("var").and_then(Value::as_str) {
                    let val = self
                        .templar
                        .eval_expr(var, vars, &origin)
                        .unwrap_or(json!("VARIABLE IS NOT DEFINED!"));
                    let mut r = json!({"changed": false});
                    r[var] = val.clone();
                    r["__debug_output"] = json!({ var: val });
                    return Ok(ok(r));
                }
                let msg = match args.get("msg") {
                    Some(m) => self.templar.render_value(m, vars, &origin)?,
                    None => json!("Hello world!"),
                };
                Ok(ok(
                    json!({"changed": false, "msg": msg.clone(), "__debug_output": {"msg": msg}}),
                ))
            }
            "set_fact" => {
                let rendered = self.templar.render_value(args, vars, &origin)?;
                let mut facts = Map::new();
                if let Value::Object(m) = rendered {
                    for (k, v) in m {
                        if k == "cacheable" {
                            continue;
                        }
                        facts.insert(k, v);
                    }
                }
                lock(h).runtime.extend(facts.clone());
                Ok(ok(json!({"changed": false, "ansible_facts": facts})))
            }
            "assert" => {
                let that = match args.get("that") {
                    Some(Value::Array(a)) => a.clone(),
                    Some(v) => vec![v.clone()],
                    None => return Err(Error::at(task.loc.clone(), "assert needs `that`")),
                };
                for cond in &that {
                    if !self.templar.eval_condition(cond, vars, &origin)? {
                        let msg = match args.get("fail_msg").or(args.get("msg")) {
                            Some(m) => value_text(&self.templar.render_value(m, vars, &origin)?),
                            None => "Assertion failed".into(),
                        };
                        return Ok(Outcome { result: json!({"failed": true, "changed": false, "assertion": cond, "evaluated_to": false, "msg": msg}).as_object().cloned().unwrap_or_default(), status: Some(Status::Failed), ..Default::default() });
                    }
                }
                let msg = match args.get("success_msg") {
                    Some(m) => value_text(&self.templar.render_value(m, vars, &origin)?),
                    None => "All assertions passed".into(),
                };
                Ok(ok(json!({"changed": false, "msg": msg})))
            }
            "fail" => {
                let msg = match args.get("msg") {
                    Some(m) => value_text(&self.templar.render_value(m, vars, &origin)?),
                    None => "Failed as requested from task".into(),
                };
                Ok(Outcome {
                    result: json!({"failed": true, "changed": false, "msg": msg})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                    status: Some(Status::Failed),
                    ..Default::default()
                })
            }
            "include_vars" => {
                let rendered = self.templar.render_value(args, vars, &origin)?;
                let file = rendered
                    .get("file")
                    .or(rendered.get("_raw_params"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let Some(file) = file else {
                    return Err(Error::at(task.loc.clone(), "include_vars needs a file"));
                };
                let base = task
                    .role
                    .as_ref()
                    .map(|r| r.path.join("vars"))
                    .unwrap_or_else(|| {
                        task.loc
                            .file
                            .parent()
                            .unwrap_or(Path::new("."))
                            .to_path_buf()
                    });
                let path = [
                    base.join(&file),
                    pc.dir.join("vars").join(&file),
                    pc.dir.join(&file),
                ]
                .into_iter()
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    Error::at(task.loc.clone(), format!("include_vars: {file} not found"))
                })?;
                let mut m = playbook::load_vars_file(&path)?;
                if let Some(ns) = rendered.get("name").and_then(Value::as_str) {
                    let mut wrapped = Map::new();
                    wrapped.insert(ns.to_string(), Value::Object(m));
                    m = wrapped;
                }
                lock(h).runtime.extend(m.clone());
                Ok(ok(
                    json!({"changed": false, "ansible_facts": m, "ansible_included_var_files": [path.display().to_string()]}),
                ))
            }
            "setup" | "gather_facts" => {
                let t = lock(h)
                    .transport
                    .clone()
                    .ok_or_else(|| Error::host("", HostErrorKind::Unreachable, "not connected"))?;
                let f = crate::facts::gather(t.as_ref()).await?;
                lock(h).facts = Some(f.clone());
                Ok(ok(json!({"changed": false, "ansible_facts": f})))
            }
            "ping" => {
                let t = self.transport_for(task, &Inherit::default(), h, vars)?;
                let o = t.exec("echo pong", None).await?;
                if !o.success() {
                    return Err(Error::host(
                        lock(h).name.clone(),
                        HostErrorKind::Failed,
                        o.stderr_str(),
                    ));
                }
                let data = args.get("data").cloned().unwrap_or(json!("pong"));
                Ok(ok(json!({"changed": false, "ping": data})))
            }
            "pause" => {
                use std::io::IsTerminal;
                let rendered = self.templar.render_value(args, vars, &origin)?;
                let secs = rendered
                    .get("seconds")
                    .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
                    .unwrap_or(0.0)
                    + 60.0
                        * rendered
                            .get("minutes")
                            .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
                            .unwrap_or(0.0);
                if secs > 0.0 {
                    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                    Ok(ok(
                        json!({"changed": false, "msg": format!("paused {secs}s")}),
                    ))
                } else if !std::io::stdin().is_terminal() {
                    self.emit(Event::Warning {
                        msg: "pause without seconds/minutes needs a terminal; not pausing".into(),
                    });
                    Ok(ok(
                        json!({"changed": false, "msg": "not paused: no terminal"}),
                    ))
                } else {
                    self.emit(Event::Warning {
                        msg: "interactive pause is not supported; continuing".into(),
                    });
                    Ok(ok(json!({"changed": false})))
                }
            }
            other => Err(Error::at(
                task.loc.clone(),
                format!("`{other}` cannot run here"),
            )),
        }
    }
}

/// An environment prefix in front of every command (`environment:`).
struct EnvTransport {
    inner: Arc<dyn Transport>,
    prefix: String,
}

#[async_trait]
impl Transport for EnvTransport {
    fn host(&self) -> &str {
        self.inner.host()
    }
    async fn exec(&self, cmd: &str, stdin: Option<&[u8]>) -> Result<Output> {
        self.inner
            .exec(&format!("{}{cmd}", self.prefix), stdin)
            .await
    }
    async fn put(&self, path: &str, data: &[u8], attrs: &FileAttrs) -> Result<()> {
        self.inner.put(path, data, attrs).await
    }
    async fn get(&self, path: &str) -> Result<Vec<u8>> {
        self.inner.get(path).await
    }
    fn op_counts(&self) -> OpCounts {
        self.inner.op_counts()
    }
    async fn close(&self) {}
}

fn all_hold(t: &Templar, conds: &[Value], vars: &Value, origin: &Origin) -> Result<bool> {
    for c in conds {
        if !t.eval_condition(c, vars, origin)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn origin_of(task: &Task) -> Origin {
    Origin::new(&task.loc.file, task.loc.line, task.loc.col).with_task(task.display_name())
}

fn loc_of(o: &Origin) -> crate::error::Location {
    crate::error::Location::new(&o.file, o.line.max(1), o.col.max(1))
}

fn absolute(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// Whether a value holds Jinja markup anywhere.
fn has_markup(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{") || s.contains("{%"),
        Value::Array(a) => a.iter().any(has_markup),
        Value::Object(m) => m.values().any(has_markup),
        _ => false,
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn host_msg(e: &Error) -> String {
    match e {
        Error::Host { msg, .. } => msg.clone(),
        Error::Input { .. } => e.render(),
        other => other.to_string(),
    }
}

fn failed_outcome(e: &Error) -> Outcome {
    Outcome {
        result: json!({"failed": true, "changed": false, "msg": host_msg(e)})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        status: Some(Status::Failed),
        ..Default::default()
    }
}

/// A host error on a live task: unreachable hosts are reported as such.
fn host_error_outcome(e: &Error) -> Outcome {
    let mut o = failed_outcome(e);
    if matches!(
        e,
        Error::Host {
            kind: HostErrorKind::Unreachable,
            ..
        }
    ) {
        o.status = Some(Status::Unreachable);
        o.result.insert("unreachable".into(), json!(true));
    }
    o
}

/// Every `notify` must name a handler (or a `listen` topic) of its play.
pub fn check_handlers(play: &Play) -> Result<()> {
    let mut names: Vec<String> = Vec::new();
    let handlers = play.handlers.iter().chain(
        play.roles
            .iter()
            .chain(play.imported_roles.iter())
            .flat_map(|r| r.handlers.iter()),
    );
    for hd in handlers {
        if let Some(n) = &hd.name {
            names.push(n.clone());
        }
        names.push(hd.display_name());
        names.extend(hd.listen.iter().cloned());
    }
    fn walk(tasks: &[Task], names: &[String]) -> Result<()> {
        for t in tasks {
            for n in &t.notify {
                if !names.contains(n) && !n.contains("{{") {
                    return Err(Error::at(t.loc.clone(), format!("this task notifies `{n}`, but no handler of the play has that name or listens to it"))
                        .with_help("check the handler's `name:` (or add `listen:` to it)"));
                }
            }
            if let TaskKind::Block {
                block,
                rescue,
                always,
            } = &t.kind
            {
                walk(block, names)?;
                walk(rescue, names)?;
                walk(always, names)?;
            }
        }
        Ok(())
    }
    walk(&play.pre_tasks, &names)?;
    walk(&play.tasks, &names)?;
    walk(&play.post_tasks, &names)?;
    for r in &play.roles {
        walk(&r.tasks, &names)?;
    }
    Ok(())
}

/// Ansible's tag selection (`Taggable.evaluate_tags`) for a task with `tags`.
fn tags_allow(only: &[String], skip: &[String], tags: &[String]) -> bool {
    let untagged = vec!["untagged".to_string()];
    let tags: &[String] = if tags.is_empty() { &untagged } else { tags };
    let has = |t: &str| tags.iter().any(|x| x == t);
    let any_of = |set: &[String]| tags.iter().any(|t| set.contains(t));
    let is_tagged = !(tags.len() == 1 && tags[0] == "untagged");
    // No `--tags` means `--tags all`.
    let all = vec!["all".to_string()];
    let only: &[String] = if only.is_empty() { &all } else { only };
    let want = |t: &str| only.iter().any(|x| x == t);
    let mut run = has("always")
        || (want("all") && !has("never"))
        || any_of(only)
        || (want("tagged") && is_tagged && !has("never"));
    if run && !skip.is_empty() {
        let skips = |t: &str| skip.iter().any(|x| x == t);
        if skips("all") {
            if !has("always") || skips("always") {
                run = false;
            }
        } else if any_of(skip) || (skips("tagged") && is_tagged) {
            run = false;
        }
    }
    run
}

/// `serial`: batch sizes (a number, a percentage, or a list of them; the last repeats).
fn batches(hosts: &[String], serial: Option<&Value>) -> Vec<Vec<String>> {
    let Some(serial) = serial else {
        return vec![hosts.to_vec()];
    };
    let size_of = |v: &Value| -> usize {
        let n = hosts.len().max(1);
        match v {
            Value::Number(x) => x.as_u64().unwrap_or(0) as usize,
            Value::String(s) if s.trim().ends_with('%') => {
                let p: f64 = s.trim().trim_end_matches('%').parse().unwrap_or(100.0);
                ((n as f64) * p / 100.0).floor().max(1.0) as usize
            }
            Value::String(s) => s.trim().parse().unwrap_or(0),
            _ => 0,
        }
    };
    let sizes: Vec<usize> = match serial {
        Value::Array(a) => a.iter().map(size_of).collect(),
        other => vec![size_of(other)],
    };
    if sizes.iter().all(|s| *s == 0) {
        return vec![hosts.to_vec()];
    }
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < hosts.len() {
        let size = sizes[k.min(sizes.len() - 1)].max(1);
        out.push(hosts[i..(i + size).min(hosts.len())].to_vec());
        i += size;
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_selection_follows_ansible() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let allow =
            |only: &[&str], skip: &[&str], tags: &[&str]| tags_allow(&v(only), &v(skip), &v(tags));
        assert!(allow(&[], &[], &[]));
        assert!(!allow(&[], &[], &["never"]));
        assert!(allow(&["debug"], &[], &["never", "debug"]));
        assert!(!allow(&["tagged"], &[], &["never", "debug"]));
        assert!(allow(&["tagged"], &[], &["web"]));
        assert!(!allow(&["tagged"], &[], &[]));
        assert!(allow(&["untagged"], &[], &[]));
        assert!(allow(&["web"], &[], &["always"]));
        assert!(!allow(&[], &["always"], &["always"]));
        assert!(allow(&[], &["all"], &["always"]));
        assert!(!allow(&[], &["tagged"], &["web"]));
        assert!(allow(&[], &["tagged"], &[]));
        assert!(!allow(&[], &["untagged"], &[]));
    }

    #[test]
    fn serial_batches() {
        let h: Vec<String> = (1..=5).map(|i| format!("h{i}")).collect();
        assert_eq!(batches(&h, None).len(), 1);
        assert_eq!(
            batches(&h, Some(&json!(2)))
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        assert_eq!(
            batches(&h, Some(&json!([1, "50%"])))
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            vec![1, 2, 2]
        );
    }
}
