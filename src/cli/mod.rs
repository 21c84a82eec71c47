//! The command-line interface: clap definitions in [`args`], their implementations in
//! [`commands`] (store commands in [`reports`], operator tooling in [`ops`], the
//! backup file in `backup`, `quarantine retry` in `quarantine`), log output in
//! [`logging`]. `anyhow` is used here and in `main.rs`
//! only.

pub mod args;
mod backup;
pub mod commands;
pub mod logging;
pub mod ops;
mod quarantine;
pub mod reports;

use std::process::ExitCode;

use clap::Parser;

/// Parses the command line and runs the command.
pub fn main() -> anyhow::Result<ExitCode> {
    let cli = args::Cli::parse();
    commands::run(cli)
}

/// Prints the error a command ended with on stderr. Under systemd each line carries
/// the error priority, so the reason a start failed shows in `journalctl -p err`.
pub fn report_error(err: &anyhow::Error) {
    logging::print_error(&format!("disclosured: error: {err:#}"));
}
