//! `muster validate`: offline checks of playbooks: YAML, schema, module arguments, Jinja
//! syntax and variables nothing defines, with file:line:col. Contacts no host.

use std::path::Path;

use crate::cli::ValidateArgs;
use crate::config::Config;
use crate::error::{exit, Error, Result};
use crate::inventory::Inventory;
use crate::playbook::check::{check_play, Known};
use crate::playbook::Loader;
use crate::template::Templar;

fn check_template_syntax(
    t: &Templar,
    v: &serde_json::Value,
    origin: &crate::template::Origin,
) -> Result<()> {
    match v {
        serde_json::Value::String(s) => t.check_syntax(s, origin),
        serde_json::Value::Array(a) => a
            .iter()
            .try_for_each(|x| check_template_syntax(t, x, origin)),
        serde_json::Value::Object(m) => m
            .values()
            .try_for_each(|x| check_template_syntax(t, x, origin)),
        _ => Ok(()),
    }
}

pub fn validate(config: &Config, args: &ValidateArgs) -> Result<i32> {
    let templar = Templar::new();
    let mut loader = Loader::default();
    let inventory = Inventory::load(&config.inventory)?;
    for file in &args.files {
        if !file.exists() {
            return Err(Error::input(format!("{}: no such file", file.display())));
        }
        // A mapping with `controls:` is a policy; anything else is read as a playbook.
        if let Ok(Some(root)) = crate::yaml::parse_file(file) {
            if root.get("controls").is_some() {
                let policy = crate::policy::Policy::load(file)?;
                for c in &policy.controls {
                    let origin = crate::template::Origin::new(&c.loc.file, c.loc.line, c.loc.col)
                        .with_task(c.id.clone());
                    for v in c.when.iter().chain(std::iter::once(&c.args)) {
                        check_template_syntax(&templar, v, &origin)?;
                    }
                    crate::playbook::check::check_tasks(&templar, &c.remediate, None)?;
                }
                println!(
                    "{}: ok (policy {} {}, {} controls)",
                    file.display(),
                    policy.name,
                    policy.version,
                    policy.controls.len()
                );
                continue;
            }
        }
        let pb = loader.load_playbook(Path::new(file))?;
        let mut inv_names = Vec::new();
        for h in inventory.hosts() {
            inv_names.extend(inventory.host_vars(h).keys().cloned());
        }
        let mut tasks = 0;
        for play in &pb.plays {
            crate::engine::check_handlers(play)?;
            let mut known = Known::new(inv_names.iter().cloned());
            known.add_play(play, &pb.dir);
            tasks += check_play(&templar, play, Some(&known))?;
        }
        println!(
            "{}: ok ({} plays, {tasks} tasks)",
            file.display(),
            pb.plays.len()
        );
    }
    Ok(exit::OK)
}
