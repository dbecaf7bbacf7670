//! `muster inventory`: the inventory as Ansible shows it.

use crate::cli::InventoryArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::inventory::Inventory;

pub fn inventory(config: &Config, args: &InventoryArgs) -> Result<i32> {
    let inv = Inventory::load(&config.inventory)?;
    if let Some(group) = &args.graph {
        print!("{}", inv.graph(group)?);
    } else if let Some(host) = &args.host {
        if inv.select(host)?.iter().all(|h| h != host) {
            return Err(Error::Usage(format!(
                "host `{host}` is not in the inventory"
            )));
        }
        // ansible-inventory --host prints the keys sorted.
        let vars = crate::inventory::sort_keys(serde_json::Value::Object(inv.host_vars(host)));
        println!(
            "{}",
            serde_json::to_string_pretty(&vars).unwrap_or_default()
        );
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&inv.to_list_json()).unwrap_or_default()
        );
    }
    Ok(crate::exit::OK)
}
