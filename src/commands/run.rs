//! `muster run -m MODULE -a ARGS`: one ad-hoc task across the selected hosts, like
//! `ansible PATTERN -m MODULE -a ...`. command, shell and raw print Ansible's per-host
//! ad-hoc lines (`host | CHANGED | rc=0 >>`); any other module runs as a one-task play.

use serde_json::json;

use crate::cli::{OutputFormat, RunArgs};
use crate::config::Config;
use crate::error::{exit, Error, HostErrorKind, Result};
use crate::runner::{exit_code_of, on_each_host, runtime, select_targets};
use crate::secrets::redact;
use crate::template::{Origin, Templar};
use crate::transport::quote::{quote, Cmd};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Command,
    Shell,
    Raw,
}

/// An ad-hoc command task, its free-form arguments parsed as Ansible does.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AdHoc {
    kind: Kind,
    /// The command text (command: words, shell/raw: script).
    text: String,
    chdir: Option<String>,
    creates: Option<String>,
    removes: Option<String>,
}

impl AdHoc {
    fn parse(module: &str, args: &str) -> Result<AdHoc> {
        let kind = match module.trim_start_matches("ansible.builtin.") {
            "command" => Kind::Command,
            "shell" => Kind::Shell,
            "raw" => Kind::Raw,
            other => {
                return Err(Error::Usage(format!(
                    "module `{other}` is not a command module (command, shell, raw)"
                )))
            }
        };
        let mut task = AdHoc {
            kind,
            text: String::new(),
            chdir: None,
            creates: None,
            removes: None,
        };
        if kind == Kind::Raw {
            task.text = args.to_string();
        } else {
            // Ansible takes `chdir=`, `creates=` and `removes=` out of the free-form text
            // wherever they stand; the rest is the command.
            let words = shlex::split(args)
                .ok_or_else(|| Error::Usage(format!("-a: unbalanced quotes in `{args}`")))?;
            let mut rest = Vec::new();
            for w in words {
                if let Some(v) = w.strip_prefix("chdir=") {
                    task.chdir = Some(v.to_string());
                } else if let Some(v) = w.strip_prefix("creates=") {
                    task.creates = Some(v.to_string());
                } else if let Some(v) = w.strip_prefix("removes=") {
                    task.removes = Some(v.to_string());
                } else {
                    rest.push(w);
                }
            }
            task.text = match kind {
                Kind::Command => Cmd::default()
                    .args(&rest)
                    .into_string()
                    .trim_start()
                    .to_string(),
                _ => strip_special(args),
            };
        }
        if task.text.trim().is_empty() {
            return Err(Error::Usage(format!(
                "-m {module} needs a command: -a 'COMMAND'"
            )));
        }
        Ok(task)
    }

    /// The command line sent to the host.
    fn command_line(&self) -> String {
        let body = match self.kind {
            Kind::Raw => return self.text.clone(),
            Kind::Command => self.text.clone(),
            Kind::Shell => format!("/bin/sh -c {}", quote(&self.text)),
        };
        match &self.chdir {
            Some(dir) => format!("cd {} && {body}", quote(dir)),
            None => body,
        }
    }

    /// A read-only test for creates/removes: exits 0 when the task should be skipped.
    fn skip_test(&self) -> Option<(String, String)> {
        let in_dir = |p: &str| match (&self.chdir, p.starts_with('/')) {
            (Some(d), false) => format!("{}/{p}", d.trim_end_matches('/')),
            _ => p.to_string(),
        };
        if let Some(c) = &self.creates {
            let p = in_dir(c);
            return Some((
                format!("test -e {}", quote(&p)),
                format!("{p} exists (creates)"),
            ));
        }
        if let Some(r) = &self.removes {
            let p = in_dir(r);
            return Some((
                format!("! test -e {}", quote(&p)),
                format!("{p} does not exist (removes)"),
            ));
        }
        None
    }
}

/// Shell text with Ansible's special `key=value` words removed.
fn strip_special(args: &str) -> String {
    let mut out = args.trim().to_string();
    loop {
        let trimmed = out.trim_start();
        let word_end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
        let word = &trimmed[..word_end];
        if ["chdir=", "creates=", "removes="]
            .iter()
            .any(|k| word.starts_with(k))
        {
            out = trimmed[word_end..].to_string();
        } else {
            return trimmed.to_string();
        }
    }
}

#[derive(Debug)]
enum Outcome {
    Ran {
        rc: i64,
        stdout: String,
        stderr: String,
    },
    Skipped(String),
    WouldRun,
}

/// The ad-hoc arguments of each host: `-a` rendered as a template against the host's
/// inventory variables and the magic ones (`inventory_hostname`, `group_names`, `groups`), as
/// Ansible does, then parsed. A template error is an input error, before any host is reached.
fn tasks_per_host(
    inv: &crate::inventory::Inventory,
    targets: &[crate::runner::Target],
    args: &RunArgs,
) -> Result<std::collections::HashMap<String, AdHoc>> {
    let templar = Templar::new();
    let origin = Origin::new("-a", 1, 1).with_task(format!("-m {}", args.module));
    let groups = json!(inv.groups_map());
    let mut out = std::collections::HashMap::new();
    for t in targets {
        let mut vars = t.vars.clone();
        vars.insert("inventory_hostname".into(), json!(t.name));
        vars.insert(
            "inventory_hostname_short".into(),
            json!(t.name.split('.').next().unwrap_or(&t.name)),
        );
        vars.insert("group_names".into(), json!(inv.groups_of(&t.name)));
        vars.insert("groups".into(), groups.clone());
        let text = templar.render_str(&args.args, &serde_json::Value::Object(vars), &origin)?;
        out.insert(t.name.clone(), AdHoc::parse(&args.module, &text)?);
    }
    Ok(out)
}

/// Any module but command, shell and raw: one task run by the playbook engine, as
/// `ansible PATTERN -m MODULE -a ARGS` runs one: a play over the selected hosts (`-l`,
/// default all) without fact gathering, `-a` as the module's free-form `key=value` arguments
/// (rendered per host), relative paths (a `copy` source) from the current directory. The run
/// prints as a playbook run does (`--format json`: JSON Lines events) with its exit codes.
fn run_module(config: &Config, args: &RunArgs, module: &str) -> Result<i32> {
    let dir = tempfile::tempdir().map_err(|e| Error::Usage(format!("a temp directory: {e}")))?;
    let path = dir.path().join("ad-hoc.yml");
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let task_args = if args.args.trim().is_empty() {
        "{}".to_string()
    } else {
        quoted(&args.args)
    };
    let text = format!(
        "- name: ad hoc\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: {}\n      {}: {}\n",
        quoted(format!("{module} {}", args.args).trim()),
        module,
        task_args
    );
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    let play = crate::cli::PlayArgs {
        extra_vars: Vec::new(),
        tags: Vec::new(),
        skip_tags: Vec::new(),
        format: match args.format {
            OutputFormat::Json => "json".into(),
            _ => "text".into(),
        },
        output: Vec::new(),
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    crate::commands::apply::apply_in(config, &[path], args.check, args.diff, &play, Some(&cwd))
}

pub fn run(config: &Config, args: &RunArgs) -> Result<i32> {
    let module = args
        .module
        .trim_start_matches("ansible.builtin.")
        .trim_start_matches("ansible.legacy.");
    if !matches!(module, "command" | "shell" | "raw") {
        if module.is_empty()
            || !module
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.".contains(c))
        {
            return Err(Error::Usage(format!(
                "-m {}: not a module name",
                args.module
            )));
        }
        return run_module(config, args, module);
    }
    // The command is checked (a module, some text) before the inventory is read; each host's
    // own, rendered, is parsed below.
    AdHoc::parse(&args.module, &args.args)?;
    let (inv, targets) = select_targets(config)?;
    if targets.is_empty() {
        eprintln!("warning: no hosts matched");
        return Ok(exit::OK);
    }
    let per_host = std::sync::Arc::new(tasks_per_host(&inv, &targets, args)?);
    let check = args.check;
    let rt = runtime()?;
    let hosts_tasks = per_host.clone();
    let runs = rt.block_on(on_each_host(config, &targets, move |t, target| {
        // Every target has its task: `tasks_per_host` made one for each.
        let task = hosts_tasks[&target.name].clone();
        async move {
            if let Some((test, why)) = task.skip_test() {
                let out = t.exec(&test, None).await?;
                if out.success() {
                    return Ok(Outcome::Skipped(why));
                }
            }
            if check {
                return Ok(Outcome::WouldRun);
            }
            let out = t.exec(&task.command_line(), None).await?;
            Ok(Outcome::Ran {
                rc: out.rc(),
                stdout: out.stdout_str(),
                stderr: out.stderr_str(),
            })
        }
    }));

    let mut incomplete = false;
    for r in &runs {
        let json_line = match &r.result {
            Ok(Outcome::Ran { rc, stdout, stderr }) => {
                // What a command prints can hold a secret it was given (`echo {{ vault_x }}`).
                let (stdout, stderr) = (&redact(stdout), &redact(stderr));
                let failed = *rc != 0;
                incomplete |= failed;
                if args.format == OutputFormat::Text {
                    let label = if failed { "FAILED" } else { "CHANGED" };
                    println!("{} | {label} | rc={rc} >>", r.name);
                    print_block(stdout);
                    if failed || config.verbose > 0 {
                        print_block(stderr);
                    }
                }
                json!({"host": r.name, "status": if failed {"failed"} else {"changed"},
                       "changed": true, "failed": failed, "rc": rc, "stdout": stdout, "stderr": stderr})
            }
            Ok(Outcome::Skipped(why)) => {
                if args.format == OutputFormat::Text {
                    println!("{} | SKIPPED => {why}", r.name);
                }
                json!({"host": r.name, "status": "skipped", "changed": false, "msg": why})
            }
            Ok(Outcome::WouldRun) => {
                if args.format == OutputFormat::Text {
                    println!(
                        "{} | SKIPPED => would run (check mode): {}",
                        r.name,
                        per_host[&r.name].command_line()
                    );
                }
                json!({"host": r.name, "status": "skipped", "changed": false,
                       "msg": "command would run; not run in check mode"})
            }
            Err(e) => {
                incomplete = true;
                let (status, msg) = match e {
                    Error::Host {
                        kind: HostErrorKind::Unreachable | HostErrorKind::HostKey,
                        msg,
                        ..
                    } => ("unreachable", msg.clone()),
                    Error::Host { msg, .. } => ("failed", msg.clone()),
                    other => ("failed", other.to_string()),
                };
                let msg = redact(&msg);
                if args.format == OutputFormat::Text {
                    let label = if status == "unreachable" {
                        "UNREACHABLE!"
                    } else {
                        "FAILED!"
                    };
                    println!("{} | {label} => {msg}", r.name);
                }
                json!({"host": r.name, "status": status, "failed": true, "msg": msg})
            }
        };
        if args.format == OutputFormat::Json {
            println!("{json_line}");
        }
    }
    // A command that exited non-zero is a failed task (3); Ctrl-C wins over both (130).
    let code = exit_code_of(&runs, exit::OK);
    Ok(if incomplete && code == exit::OK {
        exit::INCOMPLETE
    } else {
        code
    })
}

fn print_block(text: &str) {
    let t = text.trim_end_matches('\n');
    if !t.is_empty() {
        println!("{t}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_are_quoted_not_interpreted() {
        let t = AdHoc::parse("command", "echo '$(id)' 'a b'").unwrap();
        assert_eq!(t.command_line(), "echo '$(id)' 'a b'");
        let t = AdHoc::parse("ansible.builtin.command", "chdir=/tmp ls creates=/x").unwrap();
        assert_eq!(t.command_line(), "cd /tmp && ls");
        assert_eq!(t.creates.as_deref(), Some("/x"));
    }

    #[test]
    fn shell_keeps_its_script_and_drops_special_words() {
        let t = AdHoc::parse("shell", "chdir=/srv echo $((6*7)) > /etc/answer").unwrap();
        assert_eq!(t.text, "echo $((6*7)) > /etc/answer");
        assert_eq!(
            t.command_line(),
            "cd /srv && /bin/sh -c 'echo $((6*7)) > /etc/answer'"
        );
    }

    #[test]
    fn raw_is_verbatim_and_unknown_modules_are_refused() {
        assert_eq!(
            AdHoc::parse("raw", "uptime; id").unwrap().command_line(),
            "uptime; id"
        );
        assert!(matches!(
            AdHoc::parse("copy", "src=a dest=b"),
            Err(Error::Usage(_))
        ));
        assert!(matches!(AdHoc::parse("shell", "  "), Err(Error::Usage(_))));
    }
}
