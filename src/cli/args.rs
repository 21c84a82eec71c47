//! The command line, as clap definitions only; [`super::commands`] implements them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// disclosured: an email-first vulnerability disclosure gateway.
///
/// Watches a security inbox, decrypts and verifies OpenPGP reports, stores them and
/// answers each reporter with a signed acknowledgement.
#[derive(Debug, Parser)]
#[command(name = "disclosured", version)]
pub struct Cli {
    /// Configuration file, read over the built-in defaults (config/disclosured.toml).
    /// Environment variables DISCLOSURED__SECTION__KEY override both.
    #[arg(
        long,
        short,
        global = true,
        value_name = "FILE",
        env = "DISCLOSURED_CONFIG"
    )]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: watch the inbox, store reports, send acknowledgements.
    Serve,
    /// Process everything waiting in the inbox, deliver queued mail, and exit.
    RunOnce,
    /// Stored reports.
    #[command(subcommand)]
    Reports(ReportsCommand),
    /// Messages that did not become reports (quarantined or skipped).
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// The outgoing mail queue.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// The gateway's OpenPGP keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Validate the configuration, open the store and load the keys, then exit.
    CheckConfig,
}

#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// List reports, oldest first.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one report in full.
    Show {
        /// The report ID, e.g. VR-2026-0001.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List quarantined and skipped messages with their reasons.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List queued mail: pending and failed messages (and sent ones with --sent).
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Include messages already sent.
        #[arg(long)]
        sent: bool,
    },
    /// Send a pending or failed message again at the next delivery round.
    Retry {
        /// The message's queue ID (from `outbox list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<u64>,
        /// Every pending and failed message.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a new gateway key; it becomes the signing key, older keys keep decrypting.
    Generate,
    /// Replace the signing key: generate a new key that signs and is published from
    /// now on; older keys keep decrypting. Prints the old and new fingerprints.
    Rotate,
    /// Add a secret gateway key from an OpenPGP file (armored or binary), written to
    /// keys.dir with mode 0600. It must be able to decrypt; a passphrase-protected key
    /// must open with keys.passphrase_file or keys.passphrase_credential.
    Import {
        /// The key file, or - for standard input.
        file: PathBuf,
        /// Make it the signing and published key (it must be able to sign). Without
        /// this the current signing key keeps signing; a first key always signs.
        #[arg(long)]
        sign: bool,
    },
    /// Show the gateway keys and how many reporter and maintainer keys are loaded.
    Show,
    /// Print the current public key (the one to publish), armored.
    Export,
}
