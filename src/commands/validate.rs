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
