//! `muster report merge`: joins the Audit JSON reports of shards (`--shard K/N` on several
//! machines) into one report, as if one machine had audited every host.
//!
//! The shards must be reports of the same policies (name and version) and must not share a
//! host; hosts are ordered by name. The merged report starts when the first shard started and
//! lasts as long as the longest one (shards run side by side); the summary and the fleet score
//! are computed again from the hosts' results, and expired waivers are joined.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Location, Result};
use crate::policy::audit::HostAudit;
use crate::policy::report::AuditReport;
use crate::policy::waivers::Waiver;

struct Shard {
    path: PathBuf,
    started: String,
    duration_ms: u64,
    policies: Vec<Value>,
    hosts: Vec<HostAudit>,
    expired: Vec<Waiver>,
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::at(Location::new(path, 1, 1), msg).with_help(
        "give the JSON reports the shards wrote with `muster audit ... -o json=PATH` (schema muster.audit/v1)",
    )
}

fn load(path: &Path) -> Result<Shard> {
    let text = crate::error::read_text(path)?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        Error::at(
            Location::new(path, e.line().max(1), e.column().max(1)),
            format!("not JSON: {e}"),
        )
        .with_help("give the JSON reports the shards wrote with `-o json=PATH`")
    })?;
    if v.get("schema").and_then(Value::as_str) != Some("muster.audit/v1") {
        return Err(bad(
            path,
            format!(
                "not a muster audit report: its `schema` is {}, expected \"muster.audit/v1\"",
                v.get("schema")
                    .map(Value::to_string)
                    .unwrap_or("missing".into())
            ),
        ));
    }
    let field = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let hosts: Vec<HostAudit> = serde_json::from_value(field("hosts")).map_err(|e| {
        bad(
            path,
            format!("its `hosts` do not match the audit schema: {e}"),
        )
    })?;
    let expired: Vec<Waiver> = match field("expired_waivers") {
        Value::Null => vec![],
        w => serde_json::from_value(w)
            .map_err(|e| bad(path, format!("its `expired_waivers` are malformed: {e}")))?,
    };
    Ok(Shard {
        path: path.to_path_buf(),
        started: field("started").as_str().unwrap_or("").to_string(),
        duration_ms: field("duration_ms").as_u64().unwrap_or(0),
        policies: field("policies").as_array().cloned().unwrap_or_default(),
        hosts,
        expired,
    })
}

/// Merges the reports at `paths` (at least one).
pub fn merge(paths: &[PathBuf]) -> Result<AuditReport> {
    let shards = paths.iter().map(|p| load(p)).collect::<Result<Vec<_>>>()?;
    let Some(first) = shards.first() else {
        return Err(Error::Usage(
            "report merge: give at least one report".into(),
        ));
    };
    let mut hosts: Vec<HostAudit> = Vec::new();
    let mut seen: std::collections::HashMap<String, PathBuf> = Default::default();
    let mut expired: Vec<Waiver> = Vec::new();
    for s in &shards {
        if s.policies != first.policies {
            return Err(bad(
                &s.path,
                format!(
                    "audits other policies ({}) than {} ({})",
                    Value::Array(s.policies.clone()),
                    first.path.display(),
                    Value::Array(first.policies.clone())
                ),
            ));
        }
        for h in &s.hosts {
            if let Some(other) = seen.insert(h.name.clone(), s.path.clone()) {
                return Err(bad(
                    &s.path,
                    format!(
                        "host {} is also in {}: shards must be disjoint (run each with a different --shard K/N of the same N)",
                        h.name,
                        other.display()
                    ),
                ));
            }
            hosts.push(h.clone());
        }
        for w in &s.expired {
            if !expired.contains(w) {
                expired.push(w.clone());
            }
        }
    }
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    let started = shards
        .iter()
        .map(|s| s.started.clone())
        .filter(|s| !s.is_empty())
        .min()
        .unwrap_or_default();
    let duration_ms = shards.iter().map(|s| s.duration_ms).max().unwrap_or(0);
    Ok(AuditReport::from_parts(
        started,
        duration_ms,
        first.policies.clone(),
        hosts,
        expired,
    ))
}
