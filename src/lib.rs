//! muster: agentless configuration and fleet security-compliance over SSH.
//!
//! `run` is the whole program behind `main`: it parses the command line, dispatches to a
//! command, renders any error once, and returns the exit code of DESIGN.md.

pub mod cli;
pub mod commands;
pub mod config;
pub mod engine;
pub mod error;
pub mod facts;
pub mod inventory;
pub mod modules;
pub mod playbook;
pub mod policy;
pub mod progress;
pub mod report;
pub mod runner;
pub mod secrets;
pub mod template;
pub mod transport;
pub mod vault;
pub mod yaml;

use std::ffi::OsString;

use clap::Parser;

pub use error::{exit, Error, Result};

/// Runs muster with these arguments (the first is the program name) and returns the exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    runner::raise_open_file_limit();
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap's own exit code for bad usage is 2, which our contract keeps for drift.
            let code = if e.use_stderr() {
                exit::INPUT
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            // Masks any vault secret that found its way into a message.
            eprintln!("{}", secrets::redact(&e.render()));
            e.exit_code()
        }
    }
}
