//! `muster facts`: the facts of each selected host, as one JSON object keyed by host.

use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::{exit, Result};
use crate::runner::{exit_code_of, on_each_host, runtime, select_targets};

pub fn facts(config: &Config) -> Result<i32> {
    let (_inv, targets) = select_targets(config)?;
    let rt = runtime()?;
    let runs = rt.block_on(on_each_host(config, &targets, |t, _target| async move {
        crate::facts::gather(t.as_ref()).await
    }));
    let mut out = Map::new();
    for r in &runs {
        match &r.result {
            Ok(f) => {
                out.insert(r.name.clone(), Value::Object(f.clone()));
            }
            Err(e) => {
                eprintln!("{}: {e}", r.name);
                out.insert(
                    r.name.clone(),
                    serde_json::json!({"failed": true, "msg": e.to_string()}),
                );
            }
        }
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default()
    );
    Ok(exit_code_of(&runs, exit::OK))
}
