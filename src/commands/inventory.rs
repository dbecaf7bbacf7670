//! `muster inventory`: the inventory as Ansible shows it.

use crate::cli::InventoryArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::inventory::Inventory;

/// Variables whose values are passwords, masked like vault values when printed.
const PASSWORD_VARS: &[&str] = &[
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
];

pub fn inventory(config: &Config, args: &InventoryArgs) -> Result<i32> {
    let inv = Inventory::load(&config.inventory)?;
    // Vault values were registered as secrets when they were decrypted; passwords kept in
    // plain inventory variables are secrets too. Both print as `********`.
    for h in inv.hosts() {
        for (k, v) in inv.host_vars(h) {
            if let (true, Some(s)) = (PASSWORD_VARS.contains(&k.as_str()), v.as_str()) {
                crate::secrets::register(s);
            }
        }
    }
    let print = |mut v: serde_json::Value| {
        crate::secrets::redact_value(&mut v);
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    };
    if let Some(group) = &args.graph {
        print!("{}", inv.graph(group)?);
    } else if let Some(host) = &args.host {
        if inv.select(host)?.iter().all(|h| h != host) {
            return Err(Error::Usage(format!(
                "host `{host}` is not in the inventory"
            )));
        }
        // ansible-inventory --host prints the keys sorted.
        print(crate::inventory::sort_keys(serde_json::Value::Object(
            inv.host_vars(host),
        )));
    } else {
        print(inv.to_list_json());
    }
    Ok(crate::exit::OK)
}
