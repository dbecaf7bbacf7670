//! One function per subcommand; `dispatch` picks it. Each returns the exit code it earned
//! or an `Error` that `run` renders once.

pub(crate) mod apply;
mod apps;
pub(crate) mod audit;
mod facts;
mod inventory;
mod ping;
pub(crate) mod remediate;
mod report;
mod run;
mod validate;
mod vault;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::error::Result;

pub fn dispatch(cli: Cli) -> Result<i32> {
    let config = Config::from_common(&cli.common)?;
    // The YAML loader finds the vault passwords here (one run, one set of passwords).
    crate::vault::configure(&config.vault);
    match cli.command {
        Command::Ping => ping::ping(&config),
        Command::Run(args) => run::run(&config, &args),
        Command::Inventory(args) => inventory::inventory(&config, &args),
        Command::Completions(args) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut cmd, "muster", &mut std::io::stdout());
            Ok(crate::exit::OK)
        }
        Command::Apply(a) => apply::apply(&config, &a.playbooks, a.check, a.diff, &a.play),
        Command::Check(a) => apply::apply(&config, &a.playbooks, true, true, &a.play),
        Command::Audit(a) => audit::audit(&config, &a),
        Command::Remediate(a) => remediate::remediate(&config, &a),
        Command::Facts => facts::facts(&config),
        Command::Apps(a) => apps::apps(&config, &a),
        Command::Validate(a) => validate::validate(&config, &a),
        Command::Vault(a) => vault::vault(&config, &a),
        Command::Report(a) => report::report(&config, &a),
    }
}
