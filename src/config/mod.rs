//! Configuration: the embedded default TOML, an optional file over it, and
//! `DISCLOSURED__SECTION__KEY` environment overrides over both, validated into typed
//! [`Settings`].
//!
//! This module owns the names of every configuration key. It reads files but holds no
//! secrets: secrets are named by path, never written in the TOML.
//!
//! # Layout
//! - `raw`: the TOML layers merged and deserialized as they are; unknown keys refused.
//! - `validate`: one validator per section, every problem reported at once.
//! - `limits`: `[limits]` (named by [`Limit`]) and `[rate_limits]`.
//! - `publish`: `[publish]`, the published tree (security.txt, WKD, policy page).
//! - `secrets`: passwords and passphrases named by file or systemd credential.

mod limits;
pub(crate) mod publish;
mod raw;
mod secrets;
mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::extract::FieldName;

pub use limits::Limits;
pub(crate) use limits::{Limit, LimitExceeded, RateLimits};
pub(crate) use publish::PublishSettings;
pub(crate) use secrets::{
    INSTALLED_CREDENTIALS, Secret, SecretError, check_private_file, credentials_directory,
    set_cli_credentials,
};

/// The example configuration shipped in `config/`, compiled in so that the daemon runs
/// with no file at all (`make run`) and a site file only needs the keys it changes.
pub(crate) const DEFAULT_TOML: &str = include_str!("../../config/disclosured.toml");

/// Prefix of environment overrides: `DISCLOSURED__INBOX__PATH=/srv/mail` sets `inbox.path`.
pub(crate) const ENV_PREFIX: &str = "DISCLOSURED";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(String),
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// Validated settings; every path is absolute (resolved against the working directory
/// at load time, so a later change of directory cannot move the store).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file the settings came from, if any (for messages only).
    pub source: Option<PathBuf>,
    pub gateway: Gateway,
    pub inbox: Inbox,
    pub outbox: Outbox,
    pub retry: Retry,
    pub store: StoreSettings,
    pub keys: KeySettings,
    pub policy: Policy,
    /// Who hears about reports: each gets notifications, digests and escalations
    /// encrypted to their own key.
    pub maintainers: Vec<Maintainer>,
    pub notify: NotifySettings,
    pub maintainers_mail: MaintainersMail,
    pub digest: DigestSettings,
    pub ack: AckSettings,
    pub limits: Limits,
    pub rate_limits: RateLimits,
    /// How long one message may be decided, or one job sent, before the watchdog
    /// calls it a stall (`inbox.stall_limit`): named in the log, `status` and `doctor`,
    /// and the systemd watchdog is no longer fed.
    pub stall_limit: Duration,
    pub backup: BackupSettings,
    /// What `publish` writes and the daemon keeps current (security.txt, WKD, the
    /// policy page).
    pub publish: PublishSettings,
    /// How long reports are kept in a final state before they are purged
    /// (`[retention]`): (state, period), none when unset.
    pub retention: Vec<(crate::store::Status, std::time::Duration)>,
}

/// What `backup` needs beyond the store and the keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupSettings {
    /// Files of OpenPGP keys every backup is also encrypted to: keys the operator
    /// keeps off this host, so that a new host can read the backup when this one
    /// and its gateway key are gone.
    pub recipients: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Gateway {
    /// The published `security@` address: the From of everything we send, and mail
    /// claiming to come from it is never answered (loop safety).
    pub address: String,
    /// Display name used in From and in the generated key's user ID.
    pub name: String,
    /// Report IDs look like `<prefix>-2026-0001`.
    pub report_id_prefix: String,
}

#[derive(Debug, Clone)]
pub enum Inbox {
    Maildir {
        path: PathBuf,
        /// How often `serve` looks for new mail; a report must be acknowledged within a
        /// second of arriving, so the default is well below that.
        poll_interval: Duration,
        /// Maildir++ folder name (stored as `.<name>` inside the Maildir).
        quarantine_folder: String,
    },
    Imap(ImapSettings),
}

/// How a connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// `StartTls` is the protocol's own name (STARTTLS, RFC 3207).
#[allow(clippy::enum_variant_names)]
pub enum Tls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS, which is required.
    StartTls,
    /// No TLS at all: only for a server on the same host; logged as a warning.
    None,
}

#[derive(Debug, Clone)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub username: String,
    pub password: Secret,
    /// Extra trust anchor (PEM) for a private CA; the system roots stay trusted.
    pub ca_file: Option<PathBuf>,
    pub folder: String,
    /// Where handled messages go (created when missing).
    pub processed_folder: String,
    /// Where messages that could not be handled go (created when missing).
    pub quarantine_folder: String,
    /// Polling interval when the server has no IDLE.
    pub poll_interval: Duration,
    /// How many message sizes are asked for at once.
    pub fetch_batch: u32,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    /// Login name and password; no AUTH when absent.
    pub auth: Option<(String, Secret)>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum Outbox {
    /// One `.eml` file per message, for trying the gateway out and for tests.
    File {
        path: PathBuf,
    },
    Smtp(SmtpSettings),
    /// A local sendmail-compatible program.
    Sendmail {
        command: PathBuf,
        /// How long one run of the program may take (`outbox.timeout`) before it is
        /// killed and the message retried later: a sendmail that never returns must
        /// not hold the delivery queue.
        timeout: Duration,
    },
}

/// When and how long queued mail is retried.
#[derive(Debug, Clone)]
pub struct Retry {
    /// Delay before each retry after a temporary failure; the last repeats.
    pub schedule: Vec<Duration>,
    /// Each delay is varied by up to this fraction, so a backlog does not retry in
    /// lockstep.
    pub jitter: f64,
    /// A message not delivered this long after it was queued is given up.
    pub expire_after: Duration,
}

/// The store key's file in `keys.dir` when the configuration names none (no
/// extension: the gateway's key files are told by theirs).
pub(crate) const STORE_KEY_FILE: &str = "store-key";

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub path: PathBuf,
    /// The page cache sled may keep, in bytes (`cache_mb`; 8 MiB unless set).
    pub cache_bytes: u64,
    /// The store key that seals reports at rest: `store.key_file` or
    /// `store.key_credential`, by default the file `store-key` in `keys.dir`.
    pub key: secrets::Secret,
}

#[derive(Debug, Clone)]
pub struct KeySettings {
    /// Gateway secret keys (all decrypt; the one named in `signing-key`, else the
    /// newest, signs).
    pub dir: PathBuf,
    /// Pre-loaded public keys of known researchers.
    pub reporters_dir: PathBuf,
    /// Maintainers' public keys.
    pub maintainers_dir: PathBuf,
    /// Unlocks gateway keys whose secret key material is passphrase-protected, so a
    /// copy of `dir` (a backup, a stolen disk) is useless without it. `None`: keys
    /// must be stored unprotected.
    pub passphrase: Option<Secret>,
}

impl KeySettings {
    /// Keys in `dir` with the default sub-directories and no passphrase (tests, tools).
    pub fn in_dir(dir: &Path) -> KeySettings {
        KeySettings {
            dir: dir.to_path_buf(),
            reporters_dir: dir.join("reporters"),
            maintainers_dir: dir.join("maintainers"),
            passphrase: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    /// A deadline promised to reporters, not a delay: we acknowledge as soon as the
    /// report is stored.
    pub acknowledge: Duration,
    /// Time from receipt to a maintainer's first assessment (status `triaged` or a
    /// decision).
    pub initial_assessment: Duration,
    /// Time from receipt to a fix, by severity.
    pub fix: FixTargets,
    /// Fields a report should have; the acknowledgement lists the ones missing.
    pub required_fields: Vec<FieldName>,
    /// Version patterns the policy supports ("5.x", "5.2", "nightly"); empty means
    /// every version is supported and no hint is given.
    pub supported_versions: Vec<String>,
    /// Categories the policy declares out of scope, with the words that suggest them.
    /// Matching ones are hints for maintainers, never a decision.
    pub out_of_scope: Vec<ScopeCategory>,
    /// The longest embargo a maintainer may set or accept (`policy.embargo.max_length`).
    pub embargo_limit: crate::policy::EmbargoLimit,
    /// Working days and holidays the response targets are counted in
    /// (`[policy.calendar]`); `None`: every hour counts.
    pub calendar: Option<crate::policy::clocks::Calendar>,
}

/// Fix deadlines per severity, counted from receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixTargets {
    pub critical: Duration,
    pub high: Duration,
    pub medium: Duration,
    pub low: Duration,
}

/// An out-of-scope category of the policy and the phrases that point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeCategory {
    pub name: String,
    /// Lower-case phrases; a report mentioning any of them gets the hint.
    pub keywords: Vec<String>,
}

/// Built-in out-of-scope categories and the phrases that suggest them. A policy names
/// the ones it uses; others need their phrases in `policy.scope_keywords`.
pub(crate) const BUILTIN_SCOPE_CATEGORIES: &[(&str, &[&str])] = &[
    (
        "third_party_dependency",
        &[
            "third-party",
            "third party",
            "upstream",
            "in a dependency",
            "vulnerable dependency",
            "outdated library",
            "outdated version of",
        ],
    ),
    (
        "theoretical_without_poc",
        &[
            "theoretical",
            "in theory",
            "could potentially",
            "might be possible",
            "may be possible",
        ],
    ),
    (
        "missing_security_headers",
        &[
            "missing security header",
            "missing header",
            "x-frame-options",
            "content-security-policy",
            "strict-transport-security",
            "x-content-type-options",
            "clickjacking",
            "hsts",
        ],
    ),
    (
        "volumetric_dos",
        &[
            "ddos",
            "volumetric",
            "flood",
            "traffic amplification",
            "bandwidth exhaustion",
        ],
    ),
    (
        "social_engineering",
        &["social engineering", "phishing", "pretexting"],
    ),
    ("email_spoofing", &["spf", "dmarc", "dkim"]),
    ("self_xss", &["self-xss", "self xss"]),
];

/// A maintainer: gets notifications, digests and escalations, signed by the gateway
/// and encrypted to `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintainer {
    pub name: String,
    pub address: String,
    /// Their public key (armored or binary).
    pub key: PathBuf,
}

/// How maintainers' signed mail is taken (see `pipeline::team_mail`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintainersMail {
    /// A signature made longer ago than this is refused: a captured message sent
    /// again later must not act a second time, even under a new Message-ID.
    pub max_age: Duration,
    /// The last line of an answer relayed to the researcher; `{name}` and `{team}`
    /// are replaced (the maintainer's configured name, the gateway's name).
    pub signature: String,
}

/// The states a researcher is told about, as configured.
pub(crate) const REPORTER_STATES: &[&str] =
    &["triaged", "accepted", "rejected", "fixed", "disclosed"];

/// Which mail maintainers get as things happen (digests are separate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    /// The full report as soon as it is stored.
    pub new_reports: bool,
    /// A reporter's follow-up, as soon as it is threaded into its report.
    pub correspondence: bool,
    /// One mail per missed deadline.
    pub escalations: bool,
    /// The states (names as in `reports set --status`) the researcher is told of.
    pub reporter_on: Vec<String>,
    /// How often the daemon looks for missed deadlines and a digest that is due.
    pub check_interval: std::time::Duration,
    /// How long before a deadline or an embargo's end maintainers are reminded
    /// (`notify.reminders`), longest first; empty: no reminders.
    pub reminders: Vec<std::time::Duration>,
    /// Whether the researcher gets a short status when the assessment or fix
    /// deadline promised to them passes unmet.
    pub reporter_late: bool,
}

/// When the digest goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Off,
    Daily(chrono::NaiveTime),
    /// Monday to Friday.
    Weekdays(chrono::NaiveTime),
    Weekly(chrono::Weekday, chrono::NaiveTime),
    /// A fixed interval after the last digest (`every 12h`).
    Every(std::time::Duration),
}

impl std::str::FromStr for Schedule {
    type Err = String;

    /// `off`, `daily 08:00`, `weekdays 08:00`, `weekly monday 08:00`, `every 12h`.
    fn from_str(s: &str) -> Result<Schedule, String> {
        let words: Vec<String> = s.split_whitespace().map(str::to_ascii_lowercase).collect();
        let time = |t: &str| {
            chrono::NaiveTime::parse_from_str(t, "%H:%M")
                .map_err(|_| format!("{t:?} is not a time like 08:00"))
        };
        match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["off"] | ["never"] => Ok(Schedule::Off),
            ["every", d] => match humantime::parse_duration(d) {
                Ok(d) if d >= std::time::Duration::from_secs(1) => Ok(Schedule::Every(d)),
                _ => Err(format!("{d:?} is not an interval like 12h (at least 1s)")),
            },
            ["daily", t] => Ok(Schedule::Daily(time(t)?)),
            ["weekdays", t] => Ok(Schedule::Weekdays(time(t)?)),
            ["weekly", day, t] => Ok(Schedule::Weekly(
                day.parse::<chrono::Weekday>()
                    .map_err(|_| format!("{day:?} is not a day of the week"))?,
                time(t)?,
            )),
            _ => Err(format!(
                "{s:?}: expected \"off\", \"daily HH:MM\", \"weekdays HH:MM\", \"weekly DAY HH:MM\" or \"every DURATION\""
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestSettings {
    pub schedule: Schedule,
    /// The time zone the schedule's times are in.
    pub timezone: chrono_tz::Tz,
    /// Send a digest even when it has nothing to report.
    pub send_when_empty: bool,
}

#[derive(Debug, Clone)]
pub struct AckSettings {
    /// Appended to every acknowledgement (disclosure policy, safe harbour).
    pub footer: String,
}

impl Settings {
    /// Loads the embedded defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment passed in (tests and fuzzing).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let text = match file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::Load(format!("{}: {e}", path.display())))?,
            ),
            None => None,
        };
        Self::from_toml(text.as_deref(), file, env)
    }

    /// Settings from TOML text over the defaults, with no environment: what the
    /// configuration fuzz target drives.
    pub fn parse_toml(text: &str) -> Result<Settings, ConfigError> {
        Self::from_toml(Some(text), None, Vec::new())
    }
    fn from_toml(
        text: Option<&str>,
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        validate::validate(raw::load(text, file, env)?, file)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
