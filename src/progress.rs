//! A progress bar on standard error: drawn only on a terminal, only once the run has taken
//! more than a second, never with `-q` or `-v` (whose lines would tangle with it), and cleared
//! when the run ends, so piped output and logs never see it.
//!
//! Audits count hosts done of hosts selected ([`Progress`]). Playbook runs count, for the task
//! in flight, the hosts that reported of the play's hosts, under the play's and the task's
//! names ([`RunProgress`], fed by the run's events); they draw it only when standard output
//! is not already a terminal showing the run's text log, which is its own progress.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::report::{Event, Reporter};

/// A bar over hosts.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar over `total` hosts, shown after a second when standard error is a terminal.
    pub fn new(total: usize, label: &str, quiet: bool, verbose: u8) -> Progress {
        use std::io::IsTerminal;
        if quiet || verbose > 0 || total == 0 || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden());
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} hosts · {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_string());
        let shown = bar.clone();
        // A plain thread, so a bar can be made before the run's runtime exists.
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            if !shown.is_finished() {
                shown.set_draw_target(ProgressDrawTarget::stderr());
                shown.enable_steady_tick(Duration::from_millis(120));
            }
        });
        Progress { bar: Some(bar) }
    }

    /// One more host done.
    pub fn inc(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    /// Starts counting again: `len` hosts, none done, under `msg`.
    fn restart(&self, len: usize, msg: String) {
        if let Some(b) = &self.bar {
            b.set_length(len as u64);
            b.set_position(0);
            b.set_message(msg);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The progress of a playbook run, fed by its events.
pub struct RunProgress {
    bar: Progress,
    state: Mutex<RunState>,
}

#[derive(Default)]
struct RunState {
    play: String,
    hosts: usize,
    task: Option<String>,
    reported: HashSet<String>,
}

impl RunProgress {
    /// `None` unless a bar may be drawn: standard error a terminal, not quiet or verbose, and
    /// standard output not a terminal already showing the text log (`text_on_terminal`).
    pub fn new(quiet: bool, verbose: u8, text_on_terminal: bool) -> Option<RunProgress> {
        if text_on_terminal {
            return None;
        }
        let bar = Progress::new(1, "starting", quiet, verbose);
        bar.bar.as_ref()?;
        Some(RunProgress {
            bar,
            state: Mutex::new(RunState::default()),
        })
    }
}

impl Reporter for RunProgress {
    fn event(&self, e: &Event) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::PlayStart { play, hosts } => {
                s.play = play.clone();
                s.hosts = hosts.len();
                s.task = None;
                s.reported.clear();
                self.bar.restart(s.hosts, format!("PLAY {play}"));
            }
            Event::TaskStart { task, .. } => {
                s.task = Some(task.clone());
                s.reported.clear();
                self.bar
                    .restart(s.hosts, format!("{} · TASK {task}", s.play));
            }
            Event::HostResult { host, task, .. } => {
                if s.task.as_deref() == Some(task.as_str()) && s.reported.insert(host.clone()) {
                    self.bar.inc();
                }
            }
            Event::Recap { .. } => self.bar.finish(),
            Event::Warning { .. } => {}
        }
    }
}
