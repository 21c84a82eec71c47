//! Configuration: the embedded default TOML, an optional file over it, and
//! `DISCLOSURED__SECTION__KEY` environment overrides over both, validated into typed
//! [`Settings`].
//!
//! This module owns the names of every configuration key. It reads files but holds no
//! secrets: secrets are named by path, never written in the TOML.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::extract::FieldName;

/// The example configuration shipped in `config/`, compiled in so that the daemon runs
/// with no file at all (`make run`) and a site file only needs the keys it changes.
pub const DEFAULT_TOML: &str = include_str!("../config/disclosured.toml");

/// Prefix of environment overrides: `DISCLOSURED__INBOX__PATH=/srv/mail` sets `inbox.path`.
pub const ENV_PREFIX: &str = "DISCLOSURED";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(String),
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// The raw shape of the TOML; every struct denies unknown keys so a typo is an error
/// naming the key rather than a silently ignored setting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    gateway: RawGateway,
    inbox: RawInbox,
    outbox: RawOutbox,
    store: RawStore,
    keys: RawKeys,
    policy: RawPolicy,
    #[serde(default)]
    maintainers: Vec<RawMaintainer>,
    notify: RawNotify,
    digest: RawDigest,
    ack: RawAck,
    limits: RawLimits,
    rate_limits: RawRateLimits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_message_bytes: u64,
    max_header_bytes: u64,
    max_line_bytes: u64,
    max_mime_depth: u64,
    max_parts: u64,
    max_attachments: u64,
    max_attachment_bytes: u64,
    max_decompressed_bytes: u64,
    max_openpgp_layers: u64,
    max_recipients: u64,
    max_key_bytes: u64,
    max_keys: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimits {
    per_sender: u64,
    per_sender_window: String,
    per_domain: u64,
    per_domain_window: String,
    global: u64,
    global_window: String,
    notice_window: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    address: String,
    name: String,
    report_id_prefix: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInbox {
    kind: String,
    path: Option<PathBuf>,
    poll_interval: String,
    quarantine_folder: String,
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_credential: Option<String>,
    ca_file: Option<PathBuf>,
    folder: Option<String>,
    processed_folder: Option<String>,
    fetch_batch: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    kind: String,
    path: Option<PathBuf>,
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_credential: Option<String>,
    ca_file: Option<PathBuf>,
    timeout: Option<String>,
    command: Option<PathBuf>,
    retry_schedule: Vec<String>,
    retry_jitter: f64,
    expire_after: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    dir: PathBuf,
    reporters_dir: Option<PathBuf>,
    maintainers_dir: Option<PathBuf>,
    passphrase_file: Option<PathBuf>,
    passphrase_credential: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    acknowledge: String,
    initial_assessment: String,
    fix: RawFix,
    required_fields: Vec<String>,
    supported_versions: Vec<String>,
    out_of_scope: Vec<String>,
    #[serde(default)]
    scope_keywords: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFix {
    critical: String,
    high: String,
    medium: String,
    low: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaintainer {
    name: String,
    address: String,
    key: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    new_reports: bool,
    correspondence: bool,
    escalations: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDigest {
    schedule: String,
    timezone: String,
    send_when_empty: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAck {
    footer: String,
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
    pub digest: DigestSettings,
    pub ack: AckSettings,
    pub limits: Limits,
    pub rate_limits: RateLimits,
}

/// Bounds on what one message may make the gateway do, each checked before the
/// expensive work it protects. A message over a limit is quarantined with a reason
/// that names the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_message_bytes: u64,
    pub max_header_bytes: u64,
    pub max_line_bytes: u64,
    pub max_mime_depth: u64,
    pub max_parts: u64,
    pub max_attachments: u64,
    /// All attachments of one message together.
    pub max_attachment_bytes: u64,
    /// All decrypted and decompressed OpenPGP output of one message together.
    pub max_decompressed_bytes: u64,
    /// OpenPGP layers (encryption, signatures, PGP/MIME wrappers) inside each other.
    pub max_openpgp_layers: u64,
    /// Recipients (PKESKs) tried when decrypting.
    pub max_recipients: u64,
    /// Size of one key a message offers; larger ones are ignored.
    pub max_key_bytes: u64,
    /// Keys one message may offer; the rest are ignored.
    pub max_keys: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 25 * 1024 * 1024,
            max_header_bytes: 256 * 1024,
            max_line_bytes: 1024 * 1024,
            max_mime_depth: 10,
            max_parts: 200,
            max_attachments: 50,
            max_attachment_bytes: 25 * 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024,
            max_openpgp_layers: 4,
            max_recipients: 16,
            max_key_bytes: 64 * 1024,
            max_keys: 4,
        }
    }
}

/// A limit a message went over: quarantine reasons name the configuration key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("over the limit limits.{key} = {limit} ({what} {actual})")]
pub struct LimitExceeded {
    pub key: &'static str,
    pub limit: u64,
    pub what: &'static str,
    pub actual: u64,
}

impl Limits {
    /// `Err` naming the limit when `actual` is over the limit `key`.
    pub fn check(
        &self,
        key: &'static str,
        what: &'static str,
        actual: u64,
    ) -> Result<(), LimitExceeded> {
        let limit = match key {
            "max_message_bytes" => self.max_message_bytes,
            "max_header_bytes" => self.max_header_bytes,
            "max_line_bytes" => self.max_line_bytes,
            "max_mime_depth" => self.max_mime_depth,
            "max_parts" => self.max_parts,
            "max_attachments" => self.max_attachments,
            "max_attachment_bytes" => self.max_attachment_bytes,
            "max_decompressed_bytes" => self.max_decompressed_bytes,
            "max_openpgp_layers" => self.max_openpgp_layers,
            "max_recipients" => self.max_recipients,
            "max_key_bytes" => self.max_key_bytes,
            _ => self.max_keys,
        };
        if actual > limit {
            Err(LimitExceeded {
                key,
                limit,
                what,
                actual,
            })
        } else {
            Ok(())
        }
    }
}

/// How much automatic mail the gateway may send, so that a flood of forged reports
/// cannot turn it into a source of backscatter. Excess is recorded, not sent.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Per mailbox: case-folded, with any `+tag` removed.
    pub per_sender: u64,
    pub per_sender_window: Duration,
    /// All mailboxes of one domain together.
    pub per_domain: u64,
    pub per_domain_window: Duration,
    pub global: u64,
    pub global_window: Duration,
    /// At most one "could not read" notice per address in this window.
    pub notice_window: Duration,
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
pub enum Tls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS, which is required.
    StartTls,
    /// No TLS at all: only for a server on the same host; logged as a warning.
    None,
}

/// Where a password comes from: never the TOML itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    File(PathBuf),
    /// A systemd credential (`LoadCredential=`), read from `$CREDENTIALS_DIRECTORY`.
    Credential(String),
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

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub path: PathBuf,
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
pub const BUILTIN_SCOPE_CATEGORIES: &[(&str, &[&str])] = &[
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

/// Which mail maintainers get as things happen (digests are separate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifySettings {
    /// The full report as soon as it is stored.
    pub new_reports: bool,
    /// A reporter's follow-up, as soon as it is threaded into its report.
    pub correspondence: bool,
    /// One mail per missed deadline.
    pub escalations: bool,
}

/// When the digest goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Off,
    Daily(chrono::NaiveTime),
    /// Monday to Friday.
    Weekdays(chrono::NaiveTime),
    Weekly(chrono::Weekday, chrono::NaiveTime),
}

impl std::str::FromStr for Schedule {
    type Err = String;

    /// `off`, `daily 08:00`, `weekdays 08:00`, `weekly monday 08:00`.
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
            ["daily", t] => Ok(Schedule::Daily(time(t)?)),
            ["weekdays", t] => Ok(Schedule::Weekdays(time(t)?)),
            ["weekly", day, t] => Ok(Schedule::Weekly(
                day.parse::<chrono::Weekday>()
                    .map_err(|_| format!("{day:?} is not a day of the week"))?,
                time(t)?,
            )),
            _ => Err(format!(
                "{s:?}: expected \"off\", \"daily HH:MM\", \"weekdays HH:MM\" or \"weekly DAY HH:MM\""
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
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(text) = text {
            builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("policy.required_fields")
                .try_parsing(true)
                .source(Some(env)),
        );
        let built = builder
            .build()
            .map_err(|e| ConfigError::Load(describe(file, &e)))?;
        let raw: Raw = built
            .try_deserialize()
            .map_err(|e| ConfigError::Load(describe(file, &e)))?;
        Self::validate(raw, file)
    }

    fn validate(raw: Raw, file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut problems = Vec::new();
        let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let abs = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };

        let address = raw.gateway.address.trim().to_string();
        if address.parse::<lettre::Address>().is_err() {
            problems.push(format!(
                "gateway.address: {address:?} is not an email address"
            ));
        }
        let name = raw.gateway.name.trim().to_string();
        if name.is_empty() || name.contains(['\r', '\n', '<', '>']) {
            problems.push("gateway.name: must be one line of text without < or >".into());
        }
        let prefix = raw.gateway.report_id_prefix.trim().to_string();
        if prefix.is_empty()
            || prefix.len() > 16
            || !prefix
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            problems.push(format!(
                "gateway.report_id_prefix: {prefix:?} must be 1 to 16 characters A-Z or 0-9"
            ));
        }

        let poll_interval = duration("inbox.poll_interval", &raw.inbox.poll_interval)
            .map_err(|e| problems.push(e))
            .unwrap_or(Duration::from_millis(500));
        let inbox = match raw.inbox.kind.as_str() {
            "maildir" => {
                let folder = raw.inbox.quarantine_folder.trim().to_string();
                if folder.is_empty()
                    || folder.starts_with('.')
                    || folder.contains(['/', '\\', '\0'])
                {
                    problems.push(format!(
                        "inbox.quarantine_folder: {folder:?} must be a plain folder name"
                    ));
                }
                match &raw.inbox.path {
                    Some(path) => Some(Inbox::Maildir {
                        path: abs(path),
                        poll_interval,
                        quarantine_folder: folder,
                    }),
                    None => {
                        problems.push("inbox.path: required for a maildir inbox".into());
                        None
                    }
                }
            }
            "imap" => {
                let i = &raw.inbox;
                let tls = tls_mode("inbox.tls", i.tls.as_deref(), &mut problems);
                let default_port = if tls == Tls::Implicit { 993 } else { 143 };
                let host = required("inbox.host", i.host.as_deref(), &mut problems);
                let username = required("inbox.username", i.username.as_deref(), &mut problems);
                let password = secret(
                    "inbox.password",
                    i.password_file.as_deref().map(abs),
                    i.password_credential.as_deref(),
                    &mut problems,
                );
                match (host, username, password) {
                    (Some(host), Some(username), Some(password)) => {
                        Some(Inbox::Imap(ImapSettings {
                            host,
                            port: i.port.unwrap_or(default_port),
                            tls,
                            username,
                            password,
                            ca_file: i.ca_file.as_deref().map(abs),
                            folder: i.folder.clone().unwrap_or_else(|| "INBOX".into()),
                            processed_folder: i
                                .processed_folder
                                .clone()
                                .unwrap_or_else(|| "Processed".into()),
                            quarantine_folder: i.quarantine_folder.clone(),
                            poll_interval,
                            fetch_batch: i.fetch_batch.unwrap_or(100).clamp(1, 10_000),
                        }))
                    }
                    _ => None,
                }
            }
            other => {
                problems.push(format!(
                    "inbox.kind: {other:?} is not supported (expected \"maildir\" or \"imap\")"
                ));
                None
            }
        };
        let o = &raw.outbox;
        let outbox = match o.kind.as_str() {
            "file" => match &o.path {
                Some(path) => Some(Outbox::File { path: abs(path) }),
                None => {
                    problems.push("outbox.path: required for a file outbox".into());
                    None
                }
            },
            "smtp" => {
                let tls = tls_mode("outbox.tls", o.tls.as_deref(), &mut problems);
                let default_port = match tls {
                    Tls::Implicit => 465,
                    Tls::StartTls => 587,
                    Tls::None => 25,
                };
                let host = required("outbox.host", o.host.as_deref(), &mut problems);
                let auth = match &o.username {
                    Some(user) => secret(
                        "outbox.password",
                        o.password_file.as_deref().map(abs),
                        o.password_credential.as_deref(),
                        &mut problems,
                    )
                    .map(|s| (user.clone(), s)),
                    None => None,
                };
                let timeout = duration("outbox.timeout", o.timeout.as_deref().unwrap_or("60s"))
                    .map_err(|e| problems.push(e))
                    .unwrap_or(Duration::from_secs(60));
                host.map(|host| {
                    Outbox::Smtp(SmtpSettings {
                        host,
                        port: o.port.unwrap_or(default_port),
                        tls,
                        auth,
                        ca_file: o.ca_file.as_deref().map(abs),
                        timeout,
                    })
                })
            }
            "sendmail" => Some(Outbox::Sendmail {
                command: o
                    .command
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("/usr/sbin/sendmail")),
            }),
            other => {
                problems.push(format!(
                    "outbox.kind: {other:?} is not supported (expected \"file\", \"smtp\" or \"sendmail\")"
                ));
                None
            }
        };
        let mut schedule = Vec::new();
        for (n, d) in o.retry_schedule.iter().enumerate() {
            match duration(&format!("outbox.retry_schedule[{n}]"), d) {
                Ok(d) => schedule.push(d),
                Err(e) => problems.push(e),
            }
        }
        if schedule.is_empty() {
            problems.push("outbox.retry_schedule: needs at least one delay".into());
        }
        if !(0.0..=0.5).contains(&o.retry_jitter) {
            problems.push("outbox.retry_jitter: must be between 0 and 0.5".into());
        }
        let retry = Retry {
            schedule,
            jitter: o.retry_jitter,
            expire_after: duration("outbox.expire_after", &o.expire_after)
                .map_err(|e| problems.push(e))
                .unwrap_or(Duration::from_secs(3 * 86400)),
        };

        let keys_dir = abs(&raw.keys.dir);
        let passphrase = optional_secret(
            "keys.passphrase",
            raw.keys.passphrase_file.as_deref().map(abs),
            raw.keys.passphrase_credential.as_deref(),
            &mut problems,
        );
        let keys = KeySettings {
            passphrase,
            reporters_dir: raw
                .keys
                .reporters_dir
                .as_deref()
                .map(abs)
                .unwrap_or_else(|| keys_dir.join("reporters")),
            maintainers_dir: raw
                .keys
                .maintainers_dir
                .as_deref()
                .map(abs)
                .unwrap_or_else(|| keys_dir.join("maintainers")),
            dir: keys_dir,
        };

        let mut deadline = |key: &str, v: &str, default_days: u64| {
            duration(key, v)
                .map_err(|e| problems.push(e))
                .unwrap_or(Duration::from_secs(default_days * 86400))
        };
        let p = &raw.policy;
        let acknowledge = deadline("policy.acknowledge", &p.acknowledge, 2);
        let initial_assessment = deadline("policy.initial_assessment", &p.initial_assessment, 7);
        let fix = FixTargets {
            critical: deadline("policy.fix.critical", &p.fix.critical, 2),
            high: deadline("policy.fix.high", &p.fix.high, 7),
            medium: deadline("policy.fix.medium", &p.fix.medium, 30),
            low: deadline("policy.fix.low", &p.fix.low, 90),
        };
        let supported_versions: Vec<String> = p
            .supported_versions
            .iter()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        let mut out_of_scope = Vec::new();
        for name in &p.out_of_scope {
            let name = name.trim().to_string();
            let keywords: Vec<String> = match p.scope_keywords.get(&name) {
                Some(words) => words.iter().map(|w| w.trim().to_lowercase()).collect(),
                None => match BUILTIN_SCOPE_CATEGORIES.iter().find(|(n, _)| *n == name) {
                    Some((_, words)) => words.iter().map(|w| w.to_string()).collect(),
                    None => {
                        problems.push(format!(
                            "policy.out_of_scope: {name:?} is not a built-in category ({}); give its phrases in [policy.scope_keywords]",
                            BUILTIN_SCOPE_CATEGORIES
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                        continue;
                    }
                },
            };
            if keywords.iter().any(String::is_empty) || keywords.is_empty() {
                problems.push(format!(
                    "policy.scope_keywords.{name}: needs at least one non-empty phrase"
                ));
            }
            out_of_scope.push(ScopeCategory { name, keywords });
        }
        for name in p.scope_keywords.keys() {
            if !p.out_of_scope.iter().any(|n| n.trim() == name) {
                problems.push(format!(
                    "policy.scope_keywords.{name}: not listed in policy.out_of_scope"
                ));
            }
        }

        let mut maintainers = Vec::new();
        for (n, m) in raw.maintainers.iter().enumerate() {
            let address = m.address.trim().to_string();
            if address.parse::<lettre::Address>().is_err() {
                problems.push(format!(
                    "maintainers[{n}].address: {address:?} is not an email address"
                ));
            }
            let name = m.name.trim().to_string();
            if name.is_empty() || name.contains(['\r', '\n', '<', '>']) {
                problems.push(format!(
                    "maintainers[{n}].name: must be one line of text without < or >"
                ));
            }
            if maintainers
                .iter()
                .any(|o: &Maintainer| o.address.eq_ignore_ascii_case(&address))
            {
                problems.push(format!(
                    "maintainers[{n}].address: {address} is listed twice"
                ));
            }
            maintainers.push(Maintainer {
                name,
                address,
                key: abs(&m.key),
            });
        }
        let notify = NotifySettings {
            new_reports: raw.notify.new_reports,
            correspondence: raw.notify.correspondence,
            escalations: raw.notify.escalations,
        };
        let schedule = raw
            .digest
            .schedule
            .parse::<Schedule>()
            .map_err(|e| problems.push(format!("digest.schedule: {e}")))
            .unwrap_or(Schedule::Off);
        let timezone = raw
            .digest
            .timezone
            .trim()
            .parse::<chrono_tz::Tz>()
            .map_err(|_| {
                problems.push(format!(
                    "digest.timezone: {:?} is not an IANA time zone name such as \"Europe/Berlin\" or \"UTC\"",
                    raw.digest.timezone
                ))
            })
            .unwrap_or(chrono_tz::Tz::UTC);
        let digest = DigestSettings {
            schedule,
            timezone,
            send_when_empty: raw.digest.send_when_empty,
        };
        let mut required_fields = Vec::new();
        for name in &raw.policy.required_fields {
            match name.trim().parse::<FieldName>() {
                Ok(f) => required_fields.push(f),
                Err(e) => problems.push(format!("policy.required_fields: {e}")),
            }
        }

        let l = &raw.limits;
        let limits = Limits {
            max_message_bytes: l.max_message_bytes,
            max_header_bytes: l.max_header_bytes,
            max_line_bytes: l.max_line_bytes,
            max_mime_depth: l.max_mime_depth,
            max_parts: l.max_parts,
            max_attachments: l.max_attachments,
            max_attachment_bytes: l.max_attachment_bytes,
            max_decompressed_bytes: l.max_decompressed_bytes,
            max_openpgp_layers: l.max_openpgp_layers,
            max_recipients: l.max_recipients,
            max_key_bytes: l.max_key_bytes,
            max_keys: l.max_keys,
        };
        for (key, value) in [
            ("max_message_bytes", l.max_message_bytes),
            ("max_header_bytes", l.max_header_bytes),
            ("max_line_bytes", l.max_line_bytes),
            ("max_mime_depth", l.max_mime_depth),
            ("max_parts", l.max_parts),
            ("max_decompressed_bytes", l.max_decompressed_bytes),
            ("max_openpgp_layers", l.max_openpgp_layers),
            ("max_recipients", l.max_recipients),
        ] {
            if value == 0 {
                problems.push(format!("limits.{key}: must be more than zero"));
            }
        }
        let r = &raw.rate_limits;
        let mut window = |key: &str, v: &str| {
            duration(key, v)
                .map_err(|e| problems.push(e))
                .unwrap_or(Duration::from_secs(3600))
        };
        let rate_limits = RateLimits {
            per_sender: r.per_sender,
            per_sender_window: window("rate_limits.per_sender_window", &r.per_sender_window),
            per_domain: r.per_domain,
            per_domain_window: window("rate_limits.per_domain_window", &r.per_domain_window),
            global: r.global,
            global_window: window("rate_limits.global_window", &r.global_window),
            notice_window: window("rate_limits.notice_window", &r.notice_window),
        };

        match (inbox, outbox) {
            (Some(inbox), Some(outbox)) if problems.is_empty() => Ok(Settings {
                source: file.map(Path::to_path_buf),
                gateway: Gateway {
                    address,
                    name,
                    report_id_prefix: prefix,
                },
                inbox,
                outbox,
                retry,
                store: StoreSettings {
                    path: abs(&raw.store.path),
                },
                keys,
                policy: Policy {
                    acknowledge,
                    initial_assessment,
                    fix,
                    required_fields,
                    supported_versions,
                    out_of_scope,
                },
                maintainers,
                notify,
                digest,
                ack: AckSettings {
                    footer: raw.ack.footer,
                },
                limits,
                rate_limits,
            }),
            _ => Err(ConfigError::Invalid(problems)),
        }
    }
}

fn required(key: &str, value: Option<&str>, problems: &mut Vec<String>) -> Option<String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => Some(v.to_string()),
        None => {
            problems.push(format!("{key}: required"));
            None
        }
    }
}

fn tls_mode(key: &str, value: Option<&str>, problems: &mut Vec<String>) -> Tls {
    match value.unwrap_or("starttls") {
        "implicit" => Tls::Implicit,
        "starttls" => Tls::StartTls,
        "none" => Tls::None,
        other => {
            problems.push(format!(
                "{key}: {other:?} is not one of \"implicit\", \"starttls\", \"none\""
            ));
            Tls::StartTls
        }
    }
}

/// A required secret named by `<key>_file` or `<key>_credential` (`key` is for example
/// `inbox.password`).
fn secret(
    key: &str,
    file: Option<PathBuf>,
    credential: Option<&str>,
    problems: &mut Vec<String>,
) -> Option<Secret> {
    let missing = file.is_none() && credential.is_none();
    let found = optional_secret(key, file, credential, problems);
    if missing {
        problems.push(format!(
            "{key}_file (or {key}_credential): required; secrets are never written in the configuration"
        ));
    }
    found
}

/// A secret that may be absent: `<key>_file`, `<key>_credential`, or neither.
fn optional_secret(
    key: &str,
    file: Option<PathBuf>,
    credential: Option<&str>,
    problems: &mut Vec<String>,
) -> Option<Secret> {
    match (file, credential) {
        (Some(f), None) => Some(Secret::File(f)),
        (None, Some(c)) if !c.is_empty() && !c.contains('/') => Some(Secret::Credential(c.into())),
        (None, Some(c)) => {
            problems.push(format!("{key}_credential: {c:?} is not a credential name"));
            None
        }
        (Some(_), Some(_)) => {
            problems.push(format!(
                "{key}_file, {key}_credential: set one of them, not both"
            ));
            None
        }
        (None, None) => None,
    }
}

/// A file holding a secret: readable by its owner only, and owned by us.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "refusing secret file {path}: its mode {mode:04o} lets group or others read it; run `chmod 600 {path}`"
    )]
    LoosePermissions { path: PathBuf, mode: u32 },
    #[error(
        "refusing secret file {path}: it is owned by uid {owner}, not by the user running disclosured (uid {me}); run `chown {me} {path}`"
    )]
    WrongOwner { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "credential {0:?} requested but there is no credentials directory: $CREDENTIALS_DIRECTORY is not set (only systemd sets it, with LoadCredential=) and no readable credentials directory was found; give it with --credentials DIR (the installed one is /etc/disclosured/credentials, readable by root)"
    )]
    NoCredentialsDirectory(String),
    #[error("credential {name:?}: {path}: {source}")]
    CredentialFile {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
    #[error(
        "credential {0:?} is empty: is the file its LoadCredential= line names missing or empty?"
    )]
    EmptyCredential(String),
}

/// Refuses a secret file that group or others may read, or that someone else owns,
/// as ssh does for private keys.
pub fn check_private_file(path: &Path, meta: &std::fs::Metadata) -> Result<(), SecretError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretError::LoosePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(SecretError::WrongOwner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            me,
        });
    }
    Ok(())
}

impl Secret {
    /// Reads the secret (without its trailing newline). systemd credentials are
    /// already protected by systemd, so only plain files get the permission check.
    pub fn read(&self) -> Result<String, SecretError> {
        self.read_with(credentials_directory().map(PathBuf::into_os_string))
    }

    /// As [`Secret::read`], with `$CREDENTIALS_DIRECTORY` passed in.
    fn read_with(&self, credentials: Option<std::ffi::OsString>) -> Result<String, SecretError> {
        let (path, check) = match self {
            Secret::File(p) => (p.clone(), true),
            Secret::Credential(name) => {
                let dir =
                    credentials.ok_or_else(|| SecretError::NoCredentialsDirectory(name.clone()))?;
                (PathBuf::from(dir).join(name), false)
            }
        };
        let io = |source| match self {
            Secret::Credential(name) => SecretError::CredentialFile {
                name: name.clone(),
                path: path.clone(),
                source,
            },
            Secret::File(_) => SecretError::Io {
                path: path.clone(),
                source,
            },
        };
        if check {
            let meta = std::fs::metadata(&path).map_err(io)?;
            check_private_file(&path, &meta)?;
        }
        let text = std::fs::read_to_string(&path).map_err(io)?;
        let secret = text.trim_end_matches(['\r', '\n']).to_string();
        if secret.is_empty() {
            return Err(match self {
                // The shipped unit gives every credential an empty default
                // (SetCredential=), so that a missing source file is our error, with
                // this hint, rather than a unit that does not start at all.
                Secret::Credential(name) => SecretError::EmptyCredential(name.clone()),
                Secret::File(_) => SecretError::Empty { path },
            });
        }
        Ok(secret)
    }
}

/// The credentials directory given on the command line (`--credentials`), or found
/// beside the configuration, for a command run from a shell; see
/// [`credentials_directory`].
static CLI_CREDENTIALS: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The installed credentials directory (`make install`), the unit's `LoadCredential=`
/// sources.
pub const INSTALLED_CREDENTIALS: &str = "/etc/disclosured/credentials";

/// Sets where credentials are read from when `$CREDENTIALS_DIRECTORY` is not set (a
/// command run from a shell, not by systemd). The first call wins.
pub fn set_cli_credentials(dir: PathBuf) {
    let _ = CLI_CREDENTIALS.set(dir);
}

/// Where systemd credentials are read from: `$CREDENTIALS_DIRECTORY` under systemd,
/// else the directory the command line set.
pub fn credentials_directory() -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(PathBuf::from)
        .or_else(|| CLI_CREDENTIALS.get().cloned())
}

/// Where the secret comes from, for messages (never the secret itself).
impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::File(path) => write!(f, "file {}", path.display()),
            Secret::Credential(name) => write!(f, "credential {name:?}"),
        }
    }
}

/// Parses durations such as `48h`, `7d`, `500ms` or `1h 30m`.
fn duration(key: &str, value: &str) -> Result<Duration, String> {
    // Longer than any sensible deadline, and short enough that date arithmetic on
    // it can never overflow.
    const MAX: Duration = Duration::from_secs(10 * 366 * 86400);
    match humantime::parse_duration(value.trim()) {
        Ok(d) if d > MAX => Err(format!("{key}: {value:?} is longer than ten years")),
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!("{key}: must be longer than zero")),
        Err(e) => Err(format!(
            "{key}: {value:?} is not a duration like \"48h\" or \"7d\" ({e})"
        )),
    }
}

fn describe(file: Option<&Path>, err: &config::ConfigError) -> String {
    match file {
        Some(path) => format!("{}: {err}", path.display()),
        None => err.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(toml.as_bytes()).unwrap();
        Settings::load_with_env(
            Some(f.path()),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn embedded_default_is_valid() {
        let s = Settings::load_with_env(None, Vec::new()).unwrap();
        assert_eq!(s.gateway.report_id_prefix, "VR");
        assert_eq!(s.policy.acknowledge, Duration::from_secs(48 * 3600));
        assert!(s.store.path.is_absolute());
        assert!(s.store.path.ends_with("var/state"));
        assert!(s.keys.reporters_dir.ends_with("keys/reporters"));
        // The documented defaults are the ones in code.
        assert_eq!(s.limits, Limits::default());
    }

    #[test]
    fn limits_name_the_key() {
        let l = Limits::default();
        assert!(l.check("max_parts", "parts", 200).is_ok());
        let e = l.check("max_parts", "parts", 201).unwrap_err().to_string();
        assert_eq!(e, "over the limit limits.max_parts = 200 (parts 201)");
    }

    #[test]
    fn file_overrides_defaults_and_env_overrides_file() {
        let s = load(
            "[gateway]\nreport_id_prefix = \"SEC\"\n[policy]\nacknowledge = \"24h\"\n",
            &[
                ("DISCLOSURED__GATEWAY__ADDRESS", "vuln@example.net"),
                ("DISCLOSURED__POLICY__REQUIRED_FIELDS", "title,impact"),
                ("OTHER__GATEWAY__ADDRESS", "ignored@example.net"),
            ],
        )
        .unwrap();
        assert_eq!(s.gateway.report_id_prefix, "SEC");
        assert_eq!(s.gateway.address, "vuln@example.net");
        assert_eq!(s.policy.acknowledge, Duration::from_secs(24 * 3600));
        assert_eq!(
            s.policy.required_fields,
            vec![FieldName::Title, FieldName::Impact]
        );
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_key() {
        let err = load("[inbox]\npaht = \"x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("paht"), "{err}");
        let err = load("[frobnicate]\nx = 1\n", &[]).unwrap_err().to_string();
        assert!(err.contains("frobnicate"), "{err}");
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let err = load(
            "[gateway]\naddress = \"not an address\"\nreport_id_prefix = \"v r\"\n[policy]\nacknowledge = \"soon\"\nrequired_fields = [\"title\", \"colour\"]\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        for needle in [
            "gateway.address",
            "report_id_prefix",
            "policy.acknowledge",
            "colour",
        ] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
    }

    #[test]
    fn key_passphrase_is_optional_and_named_one_way() {
        let s = load("", &[]).unwrap();
        assert_eq!(s.keys.passphrase, None);
        let s = load("[keys]\npassphrase_credential = \"key-passphrase\"\n", &[]).unwrap();
        assert_eq!(
            s.keys.passphrase,
            Some(Secret::Credential("key-passphrase".into()))
        );
        let s = load("[keys]\npassphrase_file = \"/etc/d/pp\"\n", &[]).unwrap();
        assert_eq!(s.keys.passphrase, Some(Secret::File("/etc/d/pp".into())));
        let err = load(
            "[keys]\npassphrase_file = \"/etc/d/pp\"\npassphrase_credential = \"pp\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("keys.passphrase_file, keys.passphrase_credential"),
            "{err}"
        );
        let err = load("[keys]\npassphrase_credential = \"../x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("keys.passphrase_credential"), "{err}");
        // A password stays required where it is needed, and the message names both keys.
        let err = load(
            "[inbox]\nkind = \"imap\"\nhost = \"h\"\nusername = \"u\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("inbox.password_file (or inbox.password_credential): required"),
            "{err}"
        );
    }

    #[test]
    fn empty_credential_names_the_credential() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("imap-password"), "").unwrap();
        let secret = Secret::Credential("imap-password".into());
        let err = secret
            .read_with(Some(dir.path().into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"imap-password\" is empty"), "{err}");
        assert!(err.contains("LoadCredential="), "{err}");
    }

    #[test]
    fn systemd_example_is_valid_and_names_credentials() {
        let s = Settings::parse_toml(include_str!("../config/systemd.toml")).unwrap();
        assert_eq!(s.store.path, Path::new("/var/lib/disclosured/state"));
        assert_eq!(s.keys.dir, Path::new("/var/lib/disclosured/keys"));
        assert_eq!(
            s.keys.reporters_dir,
            Path::new("/var/lib/disclosured/keys/reporters")
        );
        let Inbox::Imap(imap) = &s.inbox else {
            panic!("the systemd example reads IMAP");
        };
        assert_eq!(imap.password, Secret::Credential("imap-password".into()));
        let Outbox::Smtp(smtp) = &s.outbox else {
            panic!("the systemd example sends through SMTP");
        };
        assert_eq!(
            smtp.auth.as_ref().map(|(_, p)| p),
            Some(&Secret::Credential("smtp-password".into()))
        );
        // The unit loads exactly the credentials the configuration can name.
        let unit = include_str!("../systemd/disclosured.service");
        for name in ["imap-password", "smtp-password", "key-passphrase"] {
            assert!(
                unit.contains(&format!(
                    "LoadCredential={name}:/etc/disclosured/credentials/{name}"
                )),
                "{name}"
            );
        }
    }

    #[test]
    fn durations() {
        for (text, secs) in [("48h", 172_800), ("7d", 604_800), ("1h 30m", 5400)] {
            assert_eq!(duration("k", text).unwrap(), Duration::from_secs(secs));
        }
        assert!(duration("k", "0s").is_err());
        assert!(duration("k", "100000d").is_err());
        assert!(duration("k", "fortnight").is_err());
    }
}
