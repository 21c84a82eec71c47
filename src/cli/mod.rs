//! The command-line interface: clap definitions in [`args`], their implementations in
//! [`commands`]. `anyhow` is used here and in `main.rs` only.

pub mod args;
pub mod commands;
pub mod reports;

use std::process::ExitCode;

use clap::Parser;

/// Parses the command line and runs the command.
pub fn main() -> anyhow::Result<ExitCode> {
    let cli = args::Cli::parse();
    commands::run(cli)
}
