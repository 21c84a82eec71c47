//! The command-line interface: clap definitions in [`args`], their implementations in
//! [`commands`] (store commands in [`reports`], operator tooling in [`ops`], the
//! backup file in `backup`, `quarantine retry` in `quarantine`, systemd's
//! `ExecStopPost=` in `note_stop`, `publish` and its `doctor` check in `publish`), log
//! output in
//! [`logging`]. `anyhow` is used here and in `main.rs` only.
//!
//! The modules depend one way: `commands` → `reports` → `ops` → `backup`, and
//! `reports` → `quarantine`; what several of them share (the output buffer, the
//! runtime, explaining a locked store) is here.

pub(crate) mod args;
mod backup;
pub(crate) mod commands;
pub(crate) mod logging;
mod manual;
mod note_stop;
pub(crate) mod ops;
mod publish;
mod quarantine;
pub(crate) mod reports;
mod status;
mod views;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

/// Where a long output goes while it is produced: the terminal, or the control
/// socket's frames.
pub(crate) use crate::daemon::control::Sink;

/// How much standard output a listing gathers before handing it to its [`Sink`].
pub(crate) const SPILL_AT: usize = 64 * 1024;

/// A command's output, as the terminal or the control socket will show it.
#[derive(Default)]
pub(crate) struct Out {
    /// Standard output not yet handed on (all of it for a command without a sink).
    pub stdout: String,
    pub stderr: String,
    /// Takes standard output in pieces as a listing is written ([`Out::spill`]), so a
    /// listing of 100,000 reports is never held whole.
    sink: Option<Sink>,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Out")
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("sink", &self.sink.is_some())
            .finish()
    }
}

impl Out {
    /// Output whose standard output goes to `sink` as it grows.
    pub(crate) fn streaming(sink: Sink) -> Out {
        Out {
            sink: Some(sink),
            ..Out::default()
        }
    }

    /// Hands the standard output gathered so far to the sink once it is
    /// [`SPILL_AT`] long; called between the rows of a listing. Without a sink it
    /// keeps gathering.
    pub(crate) fn spill(&mut self) -> std::io::Result<()> {
        match &mut self.sink {
            Some(sink) if self.stdout.len() >= SPILL_AT => sink(std::mem::take(&mut self.stdout)),
            _ => Ok(()),
        }
    }
}

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

/// Who holds the store, when `err` says it is locked.
pub(crate) fn locked_by(err: &anyhow::Error) -> Option<crate::store::Holder> {
    use crate::pipeline::PipelineError;
    use crate::store::StoreError;
    err.chain().find_map(|e| {
        let store = match e.downcast_ref::<PipelineError>() {
            Some(PipelineError::Store(s)) => Some(s),
            _ => e.downcast_ref::<StoreError>(),
        };
        match store {
            Some(StoreError::Locked { holder, .. }) => Some(*holder),
            _ => None,
        }
    })
}

/// Says why a command could not go through the daemon that holds the store (issue
/// 18: a raw lock error gave no hint that the daemon runs).
pub(crate) fn explain_locked(err: anyhow::Error, socket: &std::path::Path) -> anyhow::Error {
    match locked_by(&err) {
        Some(crate::store::Holder::Process(pid)) => err.context(format!(
            "the daemon (pid {pid}) holds the store; while it runs, commands go through its control socket {}, which does not answer (is it an older version, still starting, or stopping?)",
            socket.display()
        )),
        _ => err,
    }
}

/// What a command says when the daemon took its request and did not answer in time
/// (issue 23: every command waited for ever on a stopped or hung daemon).
pub(crate) fn unanswered(settings: &crate::config::Settings, e: &std::io::Error) -> String {
    let pid = match crate::store::holder(&settings.store.path) {
        Some(crate::store::Holder::Process(pid)) => format!(" (pid {pid})"),
        _ => String::new(),
    };
    format!(
        "the daemon{pid} does not answer: {e}. It may be stopped (SIGSTOP) or hung; look at its log (journalctl -u disclosured) and `systemctl status disclosured`"
    )
}

/// A multi-threaded runtime for a command that needs async I/O.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
