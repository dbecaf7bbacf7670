//! `muster validate`: offline checks of playbooks (and inventories): YAML, schema, module
//! arguments and Jinja syntax, with file:line:col. Contacts no host.

use std::path::Path;

use serde_json::Value;

use crate::cli::ValidateArgs;
use crate::config::Config;
use crate::error::{exit, Error, Result};
use crate::playbook::{Loader, Task, TaskKind};
use crate::template::{Origin, Templar};

fn check_strings(t: &Templar, v: &Value, origin: &Origin) -> Result<()> {
    match v {
        Value::String(s) => t.check_syntax(s, origin),
        Value::Array(a) => a.iter().try_for_each(|x| check_strings(t, x, origin)),
        Value::Object(m) => m.values().try_for_each(|x| check_strings(t, x, origin)),
        _ => Ok(()),
    }
}

fn check_tasks(t: &Templar, tasks: &[Task]) -> Result<()> {
    for task in tasks {
        let origin =
            Origin::new(&task.loc.file, task.loc.line, task.loc.col).with_task(task.display_name());
        for w in &task.when {
            match w {
                Value::String(s) if !s.contains("{{") => {
                    t.check_syntax(&format!("{{{{ {s} }}}}"), &origin)?
                }
                other => check_strings(t, other, &origin)?,
            }
        }
        match &task.kind {
            TaskKind::Module { args, .. } | TaskKind::Action { args, .. } => {
                check_strings(t, args, &origin)?
            }
            TaskKind::Block {
                block,
                rescue,
                always,
            } => {
                check_tasks(t, block)?;
                check_tasks(t, rescue)?;
                check_tasks(t, always)?;
            }
        }
    }
    Ok(())
}

pub fn validate(_config: &Config, args: &ValidateArgs) -> Result<i32> {
    let templar = Templar::new();
    let mut loader = Loader::default();
    for file in &args.files {
        if !file.exists() {
            return Err(Error::input(format!("{}: no such file", file.display())));
        }
        let pb = loader.load_playbook(Path::new(file))?;
        let mut tasks = 0;
        for play in &pb.plays {
            for list in [
                &play.pre_tasks,
                &play.tasks,
                &play.post_tasks,
                &play.handlers,
            ] {
                check_tasks(&templar, list)?;
                tasks += list.len();
            }
            for r in &play.roles {
                check_tasks(&templar, &r.tasks)?;
                check_tasks(&templar, &r.handlers)?;
                tasks += r.tasks.len();
            }
        }
        println!(
            "{}: ok ({} plays, {tasks} tasks)",
            file.display(),
            pb.plays.len()
        );
    }
    Ok(exit::OK)
}
