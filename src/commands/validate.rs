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

pub fn validate(config: &Config, args: &ValidateArgs) -> Result<i32> {
    let templar = Templar::new();
    let mut loader = Loader::default();
    let inventory = Inventory::load(&config.inventory)?;
    for file in &args.files {
        if !file.exists() {
            return Err(Error::input(format!("{}: no such file", file.display())));
        }
        // A mapping with a policy's keys (`controls`, or a misspelt one beside `name`) is a
        // policy; anything else is read as a playbook. Policy::load checks templates too.
        if let Ok(Some(root)) = crate::yaml::parse_file(file) {
            let policy_like = ["controls", "control", "name", "version"]
                .iter()
                .any(|k| root.get(k).is_some());
            let play_like = ["hosts", "tasks", "roles", "import_playbook"]
                .iter()
                .any(|k| root.get(k).is_some());
            if policy_like && !play_like {
                let policy = crate::policy::Policy::load(file)?;
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
