//! `muster report merge REPORT...`: one report from the JSON reports of shards.

use crate::cli::{MergeArgs, ReportAction, ReportArgs};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::report::run::parse_outputs;
use crate::report::Format;

pub fn report(config: &Config, args: &ReportArgs) -> Result<i32> {
    match &args.action {
        ReportAction::Merge(m) => merge(config, m),
    }
}

fn merge(config: &Config, args: &MergeArgs) -> Result<i32> {
    let format = Format::parse(&args.format)
        .map_err(|e| Error::Usage(format!("--format {}: {e}", args.format)))?;
    let outputs = parse_outputs(&args.output, Format::parse)?;
    let policies = args
        .policies
        .iter()
        .map(|p| Policy::load(p))
        .collect::<Result<Vec<_>>>()?;
    let report = crate::report::merge::merge(&args.reports)?;
    let color = crate::commands::apply::use_color(config.color);
    super::audit::emit(
        &report,
        &policies,
        format,
        &outputs,
        color,
        super::audit::severity(args.fail_on),
    )
}
