//! `muster apply` and `muster check`: run playbooks (check = plan only, with diffs, exit 2 on drift).

use std::io::IsTerminal;
use std::path::PathBuf;

use serde_json::Map;

use crate::cli::{ColorChoice, HostKeyChecking, PlayArgs};
use crate::config::Config;
use crate::engine::vars::{find_ansible_cfg, load_ansible_cfg, parse_extra_vars};
use crate::engine::{Engine, Reporter, RunOptions};
use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::report::run::{parse_outputs, RunFormat, RunOutputs, TextStyle};
use crate::runner::runtime;

fn split_tags(v: &[String]) -> Vec<String> {
    v.iter()
        .flat_map(|t| t.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Whether text output may use colors.
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
        }
    }
}

pub fn apply(
    config: &Config,
    playbooks: &[PathBuf],
    check: bool,
    diff: bool,
    play: &PlayArgs,
) -> Result<i32> {
    apply_in(config, playbooks, check, diff, play, None)
}

/// As `apply`, the playbooks' relative paths found from `dir` when given (ad-hoc tasks).
pub fn apply_in(
    config: &Config,
    playbooks: &[PathBuf],
    check: bool,
    diff: bool,
    play: &PlayArgs,
    dir: Option<&std::path::Path>,
) -> Result<i32> {
    let mut config = config.clone();
    let mut roles_path = Vec::new();
    // ansible.cfg, when the project has one: inventory, roles_path, remote_user, become,
    // host_key_checking (a False there is honoured, with a warning on every run).
    if let Some(cfg_path) = find_ansible_cfg() {
        let cfg = load_ansible_cfg(&cfg_path)?;
        if !config.inventory_explicit && !cfg.inventory.is_empty() {
            config.inventory = cfg.inventory.clone();
        }
        roles_path = cfg.roles_path.clone();
        if config.ssh.user.is_none() {
            config.ssh.user = cfg.remote_user.clone();
        }
        if cfg.r#become == Some(true) {
            config.r#become = true;
        }
        if cfg.host_key_checking == Some(false)
            && config.ssh.host_key_checking == HostKeyChecking::Strict
        {
            eprintln!(
                "[WARNING]: {} sets host_key_checking = False; host keys are not verified",
                cfg_path.display()
            );
            config.ssh.host_key_checking = HostKeyChecking::Off;
        }
    }
    let mut extra = Map::new();
    for e in &play.extra_vars {
        extra.extend(parse_extra_vars(e)?);
    }
    let opts = RunOptions {
        check,
        diff,
        extra_vars: extra,
        tags: split_tags(&play.tags),
        skip_tags: split_tags(&play.skip_tags),
    };
    let mut inventory = Inventory::load(&config.inventory)?;
    // group_vars/host_vars beside a playbook, as ansible-playbook reads them (an ad-hoc task
    // has no playbook of the user's: only the inventory's).
    if dir.is_none() {
        for pb in playbooks {
            let pb_dir = pb
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            inventory.add_vars_dir(pb_dir)?;
        }
    }
    let stdout = RunFormat::parse(&play.format)
        .map_err(|e| Error::Usage(format!("--format {}: {e}", play.format)))?;
    let files = parse_outputs(&play.output, RunFormat::parse)?;
    let style = TextStyle {
        diff,
        verbose: config.verbose,
        quiet: config.quiet,
        color: use_color(config.color),
    };
    let title = if check {
        "muster check"
    } else {
        "muster apply"
    };
    let outputs = RunOutputs::new(Some(stdout), &files, style, check, title)?;
    let reporter: Box<dyn Reporter> = Box::new(outputs.reporter.clone());
    let mut engine = Engine::new(config, opts, inventory, roles_path, reporter);
    engine.end_run_on_failed_batch(true);
    let loaded = engine.load_in(playbooks, dir)?;
    let rt = runtime()?;
    let summary = rt.block_on(engine.run(&loaded))?;
    outputs.finish()?;
    Ok(outputs
        .nagios_exit_code()
        .unwrap_or_else(|| summary.exit_code(check)))
}
