//! SARIF 2.1.0 (built with serde-sarif) for code-scanning UIs.
//!
//! - `tool.driver.name = "muster"`; a rule per control (every control of the audited
//!   policies, and any other control a result names): `id` = the control id (prefixed
//!   `POLICY/` when two policies use the same id), `shortDescription` = the title,
//!   `fullDescription` = the rationale (else the description, else the title),
//!   `properties.security-severity` from the severity, `properties.tags` = `security`,
//!   the policy name.
//! - security-severity mapping (GitHub's bands: ≥9 critical, ≥7 high, ≥4 medium, >0 low):
//!   critical "9.5", high "8.0", medium "5.5", low "2.0", info "0.0".
//! - a result per failing or warning host × control: `level` = `error` for fail, `warning`
//!   for warn, `note` for either at severity info; `message.text` = the finding's message and
//!   the host; the location is the policy file (`artifactLocation.uri`, relative to the
//!   working directory when inside it) at the control's line (`region.startLine`);
//!   `partialFingerprints["muster/host-control"]` keeps one alert per host and control,
//!   since every host's result shares the control's location.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::{json, Value};
use serde_sarif::sarif::{
    ArtifactLocation, Location, Message, MultiformatMessageString, PhysicalLocation, PropertyBag,
    Region, ReportingConfiguration, ReportingDescriptor, Result as SarifResult, ResultLevel, Run,
    Sarif, Tool, ToolComponent,
};

use super::Catalog;
use crate::policy::checks::Status;
use crate::policy::report::AuditReport;
use crate::policy::Severity;

pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The `security-severity` a severity maps to.
pub fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
        Severity::Info => "0.0",
    }
}

fn level(status: Status, sev: Severity) -> ResultLevel {
    if sev == Severity::Info {
        ResultLevel::Note
    } else if status == Status::Fail {
        ResultLevel::Error
    } else {
        ResultLevel::Warning
    }
}

fn default_level(sev: Severity) -> &'static str {
    match sev {
        Severity::Info => "note",
        Severity::Low => "warning",
        _ => "error",
    }
}

/// A repository-relative URI when the file is under the working directory, else a `file:` URI.
pub(super) fn uri_of(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let rel = match (&cwd, path.is_absolute()) {
        (Some(c), true) => path.strip_prefix(c).ok().map(Path::to_path_buf),
        (_, false) => Some(path.to_path_buf()),
        _ => None,
    };
    let enc = |s: &str| s.replace('\\', "/").replace('%', "%25").replace(' ', "%20");
    match rel {
        Some(r) => enc(&r.to_string_lossy()),
        None => format!("file://{}", enc(&path.to_string_lossy())),
    }
}

struct RuleData {
    policy: String,
    id: String,
    title: String,
    text: String,
    severity: Severity,
    loc: Option<(String, usize)>,
}

pub fn render(report: &AuditReport, catalog: &Catalog) -> String {
    // Rules: the catalog's controls in policy order, then controls only results know.
    let mut rules: Vec<RuleData> = catalog
        .controls
        .iter()
        .map(|c| RuleData {
            policy: c.policy.clone(),
            id: c.id.clone(),
            title: c.title.clone(),
            text: c
                .rationale
                .clone()
                .or_else(|| c.description.clone())
                .unwrap_or_else(|| c.title.clone()),
            severity: c.severity,
            loc: Some((uri_of(&c.file), c.line.max(1))),
        })
        .collect();
    for r in report.hosts.iter().flat_map(|h| &h.results) {
        if !rules
            .iter()
            .any(|d| d.policy == r.policy && d.id == r.control)
        {
            rules.push(RuleData {
                policy: r.policy.clone(),
                id: r.control.clone(),
                title: r.title.clone(),
                text: r.title.clone(),
                severity: r.severity,
                loc: None,
            });
        }
    }
    let mut id_count: HashMap<&str, usize> = HashMap::new();
    for d in &rules {
        *id_count.entry(d.id.as_str()).or_default() += 1;
    }
    let rule_ids: Vec<String> = rules
        .iter()
        .map(|d| {
            if id_count[d.id.as_str()] > 1 {
                format!("{}/{}", d.policy, d.id)
            } else {
                d.id.clone()
            }
        })
        .collect();

    let descriptors: Vec<ReportingDescriptor> = rules
        .iter()
        .zip(&rule_ids)
        .map(|(d, id)| {
            let mut props = BTreeMap::new();
            props.insert(
                "security-severity".to_string(),
                json!(security_severity(d.severity)),
            );
            props.insert("severity".to_string(), json!(d.severity.as_str()));
            props.insert("policy".to_string(), json!(d.policy));
            ReportingDescriptor::builder()
                .id(id.clone())
                .name(d.id.clone())
                .short_description(
                    MultiformatMessageString::builder()
                        .text(d.title.clone())
                        .build(),
                )
                .full_description(
                    MultiformatMessageString::builder()
                        .text(d.text.clone())
                        .build(),
                )
                .default_configuration(
                    ReportingConfiguration::builder()
                        .level(json!(default_level(d.severity)))
                        .build(),
                )
                .properties(
                    PropertyBag::builder()
                        .tags(vec!["security".to_string(), d.policy.clone()])
                        .additional_properties(props)
                        .build(),
                )
                .build()
        })
        .collect();

    let mut results: Vec<SarifResult> = Vec::new();
    for h in &report.hosts {
        for r in &h.results {
            if !matches!(r.status, Status::Fail | Status::Warn) {
                continue;
            }
            let Some(idx) = rules
                .iter()
                .position(|d| d.policy == r.policy && d.id == r.control)
            else {
                continue;
            };
            let d = &rules[idx];
            let mut fp = BTreeMap::new();
            fp.insert(
                "muster/host-control".to_string(),
                format!("{}/{}/{}", h.name, r.policy, r.control),
            );
            let mut props = BTreeMap::new();
            props.insert("host".to_string(), json!(h.name));
            props.insert("status".to_string(), json!(r.status.as_str()));
            props.insert("severity".to_string(), json!(r.severity.as_str()));
            if !r.observed.is_null() {
                props.insert("observed".to_string(), r.observed.clone());
            }
            if !r.expected.is_null() {
                props.insert("expected".to_string(), r.expected.clone());
            }
            let locations = d.loc.as_ref().map(|(uri, line)| line_location(uri, *line));
            let msg = Message::builder()
                .text(format!("{} (host {})", r.message, h.name))
                .build();
            let res = SarifResult::builder()
                .rule_id(rule_ids[idx].clone())
                .rule_index(idx as i64)
                .level(level(r.status, r.severity))
                .message(msg)
                .partial_fingerprints(fp)
                .properties(PropertyBag::builder().additional_properties(props).build());
            let res = match locations {
                Some(l) => res.locations(l).build(),
                None => res.build(),
            };
            results.push(res);
        }
    }

    document(descriptors, results, BTreeMap::new())
}

/// The location of `line` (1-based) in the file at `uri`.
pub(super) fn line_location(uri: &str, line: usize) -> Vec<Location> {
    vec![Location::builder()
        .physical_location(
            PhysicalLocation::builder()
                .artifact_location(ArtifactLocation::builder().uri(uri.to_string()).build())
                .region(Region::builder().start_line(line.max(1) as i64).build())
                .build(),
        )
        .build()]
}

/// The SARIF document of one muster run: muster as the tool with its `rules`, the `results`,
/// and the run's `properties` (none when empty).
pub(super) fn document(
    rules: Vec<ReportingDescriptor>,
    results: Vec<SarifResult>,
    properties: BTreeMap<String, Value>,
) -> String {
    let driver = ToolComponent::builder()
        .name("muster")
        .version(env!("CARGO_PKG_VERSION"))
        .rules(rules)
        .build();
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .results(results);
    let run = if properties.is_empty() {
        run.build()
    } else {
        run.properties(
            PropertyBag::builder()
                .additional_properties(properties)
                .build(),
        )
        .build()
    };
    let sarif = Sarif::builder()
        .schema(SCHEMA_URI)
        .version(Value::from("2.1.0"))
        .runs(vec![run])
        .build();
    let mut s = serde_json::to_string_pretty(&sarif).unwrap_or_default();
    s.push('\n');
    s
}
