//! The command line, as clap definitions only; [`super::commands`] implements them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::store::Status;

/// disclosured: an email-first vulnerability disclosure gateway.
///
/// Watches a security inbox, decrypts and verifies OpenPGP reports, stores them and
/// answers each reporter with a signed acknowledgement.
#[derive(Debug, Parser)]
#[command(
    name = "disclosured",
    version = super::manual::VERSION,
    after_long_help = super::manual::AFTER_HELP
)]
pub(crate) struct Cli {
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

    /// Where systemd credentials (inbox.password_credential, ...) are read from when
    /// not run by systemd. Default: `credentials/` beside the configuration file, else
    /// /etc/disclosured/credentials, whichever is readable. Under systemd,
    /// $CREDENTIALS_DIRECTORY is used.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "DISCLOSURED_CREDENTIALS"
    )]
    pub credentials: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the daemon: watch the inbox, store reports, send acknowledgements.
    Serve,
    /// Process everything waiting in the inbox, deliver queued mail, and exit.
    RunOnce,
    /// Stored reports: list, show, change, answer.
    #[command(subcommand)]
    Reports(ReportsCommand),
    /// Write the advisory of a fixed or disclosed report as OSV, CSAF 2.0 or a CVE
    /// record, from the report and the advisory details maintainers set (reports set
    /// --ecosystem, --package, --references, ...; X-ECOSYSTEM: ... by mail). Refused
    /// before the report is fixed unless --draft. Credits only whom the researcher
    /// chose by a signed reply; never internal notes or the researcher's address.
    #[command(after_long_help = super::manual::ADVISORY_AFTER_HELP)]
    Advisory(AdvisoryArgs),
    /// The maintainers' digest: print the next one, or send it now.
    Digest(DigestArgs),
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
    /// Counts by state and severity, overdue reports, the outgoing queue, quarantine,
    /// the daemon's last look at the inbox, and any message it has had in hand longer
    /// than inbox.stall_limit. Gives up after 10 s when the daemon does not answer
    /// (exit 1; with --json it still prints JSON).
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check the installation: configuration, key files and their permissions, the
    /// maintainers' keys, the store, the IMAP login, the SMTP server, the outbox
    /// directory, and what a running daemon has had in hand past inbox.stall_limit.
    /// One line per check, printed as it finishes; exits 1 if any failed (a daemon
    /// that does not answer within 10 s is a failed check). Works beside a running
    /// daemon.
    Doctor,
    /// For systemd's ExecStopPost= only: when $SERVICE_RESULT, $EXIT_CODE and
    /// $EXIT_STATUS say the daemon crashed (a core dump; SIGSEGV, SIGABRT, SIGBUS,
    /// SIGILL, SIGFPE, SIGSYS, SIGTRAP; the watchdog; the OOM killer), record a stop
    /// for each message and delivery job it had in hand (two stops set one aside). A
    /// clean stop, SIGKILL or SIGTERM records nothing. Always exits 0, within 10 s.
    NoteStop,
    /// Write a consistent copy of the whole store and the gateway's keys (keys.dir)
    /// to FILE, signed by the gateway and encrypted (OpenPGP, armored: `gpg --decrypt`
    /// reads it) to the gateway's key and to a key you keep off this host: --to, or
    /// backup.recipients in the configuration; refused when neither names one. While
    /// the daemon runs, the daemon writes FILE (as its own user, so it must be allowed
    /// to write there) and the store's writes wait until the copy is complete.
    #[command(after_long_help = super::manual::BACKUP_AFTER_HELP)]
    Backup {
        /// The backup file (mode 0600, replaced atomically when it exists), or - for
        /// standard output.
        file: PathBuf,
        /// Also encrypt to the OpenPGP keys in this file (yours, kept off this host):
        /// how a new host reads the backup when this one is gone.
        #[arg(long, value_name = "KEYFILE")]
        to: Option<PathBuf>,
    },
    /// Create the store (store.path) from a backup signed by a key this host trusts:
    /// a gateway key in keys.dir, or one given with --trust. Key files in the backup
    /// are installed into keys.dir only when their kind is named with --install-keys,
    /// and never over a different file. Refused while the daemon runs and when
    /// store.path holds anything. Reads encrypted backups (with the gateway keys in
    /// keys.dir) and decrypted ones (`gpg --decrypt FILE | disclosured restore
    /// --trust GATEWAY-KEY.asc --install-keys gateway -` on a new host).
    #[command(after_long_help = super::manual::BACKUP_AFTER_HELP)]
    Restore {
        /// A file written by `disclosured backup`, or - for standard input.
        file: PathBuf,
        /// Trust backups signed by the keys in this file (the gateway's public key
        /// you kept, or an operator key); may be given more than once.
        #[arg(long, value_name = "KEYFILE")]
        trust: Vec<PathBuf>,
        /// Install the backup's key files of these kinds into keys.dir (comma-separated
        /// or repeated): gateway (secret keys and the signing-key choice),
        /// maintainers, reporters. Without it no key file is written.
        #[arg(long, value_name = "KINDS", value_delimiter = ',')]
        install_keys: Vec<super::backup::KeyKind>,
    },
    /// Write the static tree that publishes the channel into DIR (default
    /// publish.dir), for any web server to serve as it is:
    /// .well-known/security.txt (RFC 9116, cleartext-signed by the gateway key,
    /// Expires publish.expires ahead), the Web Key Directory (.well-known/openpgpkey/,
    /// advanced and direct layouts, every gateway key with the gateway's address),
    /// security-key.asc, and the policy page (security-policy.md and .html, with the
    /// hall of fame). Each file is replaced atomically. While the daemon runs, the
    /// daemon writes DIR (as its own user). With publish.dir set, the daemon writes
    /// the tree at start and again publish.renew_before before it expires.
    Publish {
        /// Where to write the tree; default publish.dir.
        dir: Option<PathBuf>,
    },
    /// Print the security policy this gateway keeps, in Markdown (a SECURITY.md or a
    /// web page): the address, the key to encrypt to, what to include, and the clocks
    /// of [policy] (acknowledgement, assessment, fix targets by severity).
    Policy,
    /// Write the man pages (disclosured.1 and one per command) into DIR; `make
    /// install` runs it.
    #[command(hide = true)]
    Manpages {
        /// Where to write them.
        dir: PathBuf,
    },
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell);
    /// `make install` installs bash's, zsh's and fish's.
    #[command(hide = true)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// Commands that need no configuration: they describe the program itself.
    pub(crate) fn is_manual(&self) -> Option<Manual> {
        match self {
            Command::Manpages { dir } => Some(Manual::Pages(dir.clone())),
            Command::Completions { shell } => Some(Manual::Completions(*shell)),
            _ => None,
        }
    }
}

/// What `manpages` and `completions` write.
pub(crate) enum Manual {
    Pages(PathBuf),
    Completions(clap_complete::Shell),
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum ReportsCommand {
    /// List reports, oldest first.
    List {
        /// Only reports in this state (new, acknowledged, triaged, accepted, rejected,
        /// fixed, disclosed), or `open`: every state but rejected and disclosed.
        #[arg(long, value_name = "STATE")]
        status: Option<String>,
        /// Only reports assigned to this maintainer (name or address); `none` for
        /// unassigned ones.
        #[arg(long, value_name = "NAME")]
        assignee: Option<String>,
        /// Only reports of this severity (critical, high, medium, low, none, unrated).
        #[arg(long)]
        severity: Option<String>,
        /// Only reports with a deadline passed unmet.
        #[arg(long)]
        overdue: bool,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one report in full: fields, hints, deadlines, correspondence, events.
    Show {
        /// The report ID, e.g. VR-2026-0001.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change a report: its state, severity, CVSS vector, assignee; correct or complete
    /// its title, affected versions, component, type, CWE, CVE and fixed-in version
    /// (each change an event with the old and new value); add a note. A new
    /// state may be mailed to the researcher (see --status).
    #[command(after_long_help = super::manual::SET_AFTER_HELP)]
    Set(SetArgs),
    /// Save an attachment of a report (numbered from 1 as `reports show` lists them,
    /// the report's first, then its follow-ups') to a file created with mode 0600.
    Attachment {
        /// The report ID.
        id: String,
        /// The attachment's number.
        n: usize,
        /// Where to write it; - for standard output. An existing file is kept unless
        /// --force is given.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace FILE when it exists.
        #[arg(long)]
        force: bool,
    },
    /// Response figures: time to first response, to triage, to fix and to disclosure
    /// (median and 90th percentile, nearest rank; the time the team waited on the
    /// researcher left out of triage and fix), the share of each target met per
    /// severity, and the open reports per state and age.
    Stats {
        /// Only reports received since this date (YYYY-MM-DD, UTC) or instant (with
        /// its zone, as --embargo takes it).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Print JSON instead of text (times in seconds).
        #[arg(long)]
        json: bool,
    },
    /// Send the reporter a message (signed; encrypted to the key the report proved),
    /// threaded in the report and recorded as correspondence.
    Reply {
        /// The report ID.
        id: String,
        /// The message text (UTF-8), or - for standard input.
        #[arg(long, value_name = "MSG")]
        file: PathBuf,
        /// Subject; default "Re: [ID] <title>".
        #[arg(long)]
        subject: Option<String>,
        /// Send it unencrypted even though the report was encrypted and proved no key
        /// that can receive encrypted mail.
        #[arg(long)]
        allow_plaintext: bool,
    },
    /// Destroy a report for good (crypto-shredding): its data key, records, mail
    /// queued about it, index entries and the attachments no other report has. Its
    /// content can then not be read back from the store, sled's old log files or
    /// any later backup, even with the store key. Only its ID, when and why stay.
    Purge {
        /// The report ID.
        id: String,
        /// Why (kept with what is left of the report).
        #[arg(long)]
        reason: String,
        /// Required: the purge cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
#[command(arg_required_else_help = true)]
pub(crate) struct SetArgs {
    /// The report ID.
    pub id: String,
    /// New state: triaged, accepted, rejected (with --reason), fixed, disclosed.
    /// The researcher is mailed the new state (signed; encrypted to the key the
    /// report proved) when notify.reporter_on lists it, unless --no-notify or
    /// --reason spam; the output says whether they were told, and why not.
    #[arg(long)]
    pub status: Option<Status>,
    /// With --status: a file whose text explains the change to the researcher; it
    /// goes in the status mail.
    #[arg(
        long,
        value_name = "FILE",
        requires = "status",
        conflicts_with = "no_notify"
    )]
    pub message: Option<std::path::PathBuf>,
    /// With --status: do not mail the researcher (recorded in the report's events).
    #[arg(long, requires = "status")]
    pub no_notify: bool,
    /// Why it is rejected: out_of_scope, duplicate (with --duplicate-of),
    /// not_reproducible, informative, spam.
    #[arg(long)]
    pub reason: Option<String>,
    /// The report this one duplicates.
    #[arg(long, value_name = "ID")]
    pub duplicate_of: Option<String>,
    /// Severity: critical, high, medium, low, none. Moves the fix deadline.
    #[arg(long)]
    pub severity: Option<String>,
    /// A CVSS 2, 3.x or 4.0 vector; its score sets the severity unless --severity is
    /// given.
    #[arg(long, value_name = "VECTOR")]
    pub cvss: Option<String>,
    /// Who works on it: a configured maintainer's name or address (they are told by
    /// mail); "" clears it.
    #[arg(long)]
    pub assignee: Option<String>,
    /// A note for the report's history.
    #[arg(long)]
    pub note: Option<String>,
    /// Correct the title ("" goes back to the report's own).
    #[arg(long)]
    pub title: Option<String>,
    /// Affected versions, e.g. "2.0-2.3" ("" goes back to the report's own).
    #[arg(long, value_name = "VERSIONS")]
    pub affected_versions: Option<String>,
    /// Affected component ("" goes back to the report's own).
    #[arg(long)]
    pub component: Option<String>,
    /// Vulnerability type in words, e.g. "path traversal".
    #[arg(long = "type", value_name = "TYPE")]
    pub vuln_type: Option<String>,
    /// The weakness as a CWE ID: CWE-<number>, e.g. CWE-22.
    #[arg(long, value_name = "CWE-N")]
    pub cwe: Option<String>,
    /// The CVE ID assigned: CVE-YYYY-NNNN (four or more digits).
    #[arg(long, value_name = "CVE-ID")]
    pub cve: Option<String>,
    /// The versions that fix it, separated by commas.
    #[arg(long, value_name = "VERSIONS")]
    pub fixed_in: Option<String>,
    /// Sets the embargo: its end with an offset or an IANA time zone
    /// (2027-01-15T09:00+01:00, "2027-01-15 09:00 Europe/Berlin"; a time without zone
    /// is refused), or `accept` to accept the end the researcher proposed. Refused
    /// beyond policy.embargo.max_length and while an embargo is active (a report has
    /// one: see --embargo-revise). The researcher is told.
    #[arg(long, value_name = "INSTANT|accept", conflicts_with_all = ["embargo_revise", "embargo_exit"])]
    pub embargo: Option<String>,
    /// Moves the end of the active embargo (same forms as --embargo). The researcher
    /// is told.
    #[arg(long, value_name = "INSTANT", conflicts_with = "embargo_exit")]
    pub embargo_revise: Option<String>,
    /// Ends the active embargo early: public, exploit_public, exploited, agreed. The
    /// researcher is told. Goes with --status disclosed before the embargo's end.
    #[arg(long, value_name = "REASON")]
    pub embargo_exit: Option<String>,
    /// Asks the researcher for more information: the question in FILE goes to them
    /// (signed; encrypted to the key the report proved) and the assessment and fix
    /// clocks stand still until they answer (a follow-up signed as the report was)
    /// or --resume-clocks.
    #[arg(long, value_name = "FILE", conflicts_with = "resume_clocks")]
    pub needs_info: Option<std::path::PathBuf>,
    /// Runs the clocks paused by --needs-info again without waiting for an answer.
    #[arg(long)]
    pub resume_clocks: bool,
    /// Advisory: the description (English), instead of one made from the title,
    /// type and product.
    #[arg(long, value_name = "TEXT")]
    pub summary: Option<String>,
    /// Advisory: the package's ecosystem as OSV names it (crates.io, PyPI, npm, Go,
    /// Maven, Debian, ...).
    #[arg(long)]
    pub ecosystem: Option<String>,
    /// Advisory: the package name in that ecosystem.
    #[arg(long)]
    pub package: Option<String>,
    /// Advisory: the package URL (pkg:cargo/name).
    #[arg(long)]
    pub purl: Option<String>,
    /// Advisory: the vendor (default: gateway.name).
    #[arg(long)]
    pub vendor: Option<String>,
    /// Advisory: the product (default: the package, else the component).
    #[arg(long)]
    pub product: Option<String>,
    /// Advisory: web addresses (https://...), separated by spaces or commas.
    #[arg(long, value_name = "URLS")]
    pub references: Option<String>,
    /// Advisory: what users should do (upgrade, a workaround).
    #[arg(long, value_name = "TEXT")]
    pub remediation: Option<String>,
    /// Advisory: the publication date, YYYY-MM-DD or RFC 3339 with a zone (default:
    /// when the report was disclosed, else fixed).
    #[arg(long, value_name = "DATE")]
    pub published: Option<String>,
    /// Advisory: the affected ranges, correcting those read from the report:
    /// "introduced=1.0 fixed=1.4; introduced=2.0 last_affected=2.3".
    #[arg(long, value_name = "RANGES")]
    pub affected: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AdvisoryArgs {
    /// The report ID.
    pub id: String,
    /// osv (OSV 1.7), csaf (CSAF 2.0 security advisory) or cve (the CNA container of a
    /// CVE Record 5.1).
    #[arg(long, value_enum)]
    pub format: crate::advisory::Format,
    /// Write it to FILE (replaced when it exists) rather than to standard output; a
    /// directory gets the file name of the format (CSAF's rule: ex-2026-0001.json).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write a draft before the report is fixed: CSAF `status: draft` (version 0,
    /// TLP:AMBER), OSV without `published`, marked as a draft; missing details are
    /// left out rather than refused.
    #[arg(long)]
    pub draft: bool,
    /// With --format cve: the whole CVE record (needs the CVE ID), not only the CNA
    /// container.
    #[arg(long)]
    pub full: bool,
    /// With --format cve: the organisation UUID of the CNA that publishes it (required
    /// unless --draft; a draft without it has all zeros).
    #[arg(long, value_name = "UUID")]
    pub org_id: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DigestArgs {
    /// Print the digest as it would be sent now, and send nothing.
    #[arg(long, conflicts_with = "send", required_unless_present = "send")]
    pub dry_run: bool,
    /// Queue the digest to every maintainer now (skipped when there is nothing to say,
    /// unless digest.send_when_empty is set or --force is given).
    #[arg(long)]
    pub send: bool,
    /// With --send: send it even when there is nothing to say.
    #[arg(long, requires = "send")]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum QuarantineCommand {
    /// List quarantined and skipped messages with their reasons (and IDs).
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Hand a quarantined message back to the inbox, once its cause is fixed (a key
    /// added, a limit raised): it is read again at the next pass and its new outcome
    /// recorded (see `quarantine list`). Retrying a message twice changes nothing.
    Retry {
        /// The message's ID (from `quarantine list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<u64>,
        /// Every quarantined message not retried yet.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum OutboxCommand {
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
pub(crate) enum KeysCommand {
    /// Generate a new gateway key; it becomes the signing key, older keys keep decrypting.
    /// Also creates the store key (store.key_file, by default keys.dir/store-key) when
    /// it is missing and the store holds no sealed report.
    Generate,
    /// Replace the signing key: generate a new key that signs and is published from
    /// now on, certified by the old one; older keys keep decrypting. Each open
    /// report's researcher gets the new key with the next mail about their report.
    /// Prints the old and new fingerprints.
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

impl Command {
    /// The commands on the store: run inside the daemon through its control socket
    /// while it runs (it holds the store), else in this process.
    pub(crate) fn runs_in_daemon(&self) -> bool {
        matches!(
            self,
            Command::Reports(_)
                | Command::Advisory(_)
                | Command::Digest(_)
                | Command::Quarantine(_)
                | Command::Outbox(_)
                | Command::Status { .. }
                | Command::Backup { .. }
                | Command::Publish { .. }
        )
    }

    /// Whether the command prints JSON (exact, for scripts) rather than text for a
    /// terminal (made safe to display: see `reports::terminal_safe`).
    pub(crate) fn prints_json(&self) -> bool {
        match self {
            Command::Reports(ReportsCommand::List { json, .. })
            | Command::Reports(ReportsCommand::Show { json, .. })
            | Command::Reports(ReportsCommand::Stats { json, .. })
            | Command::Quarantine(QuarantineCommand::List { json })
            | Command::Outbox(OutboxCommand::List { json, .. })
            | Command::Status { json } => *json,
            Command::Advisory(_) => true,
            _ => false,
        }
    }
}
