//! The raw shape of the configuration: the embedded defaults, a file over them and
//! the environment over both, merged by the `config` crate and deserialized as they
//! are. Every struct denies unknown keys; nothing is checked here but the shape.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, DEFAULT_TOML, ENV_PREFIX, Limits};

/// The raw shape of the TOML; every struct denies unknown keys so a typo is an error
/// naming the key rather than a silently ignored setting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    pub(super) gateway: RawGateway,
    pub(super) inbox: RawInbox,
    pub(super) outbox: RawOutbox,
    pub(super) store: RawStore,
    pub(super) keys: RawKeys,
    pub(super) policy: RawPolicy,
    #[serde(default)]
    pub(super) maintainers: Vec<RawMaintainer>,
    pub(super) notify: RawNotify,
    pub(super) maintainers_mail: RawMaintainersMail,
    pub(super) digest: RawDigest,
    pub(super) ack: RawAck,
    pub(super) limits: Limits,
    pub(super) rate_limits: RawRateLimits,
    pub(super) backup: RawBackup,
    pub(super) publish: RawPublish,
    #[serde(default)]
    pub(super) retention: RawRetention,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPublish {
    pub(super) dir: Option<PathBuf>,
    pub(super) base_url: Option<String>,
    pub(super) contact: Vec<String>,
    pub(super) expires: String,
    pub(super) renew_before: String,
    pub(super) languages: Vec<String>,
    pub(super) policy_url: Option<String>,
    pub(super) acknowledgments_url: Option<String>,
    pub(super) canonical: Option<Vec<String>>,
    pub(super) csaf: Option<String>,
    pub(super) in_scope: Vec<String>,
    pub(super) safe_harbour: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    pub(super) disclosed: Option<String>,
    pub(super) rejected: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackup {
    pub(super) recipients: Vec<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateLimits {
    pub(super) per_sender: u64,
    pub(super) per_sender_window: String,
    pub(super) per_domain: u64,
    pub(super) per_domain_window: String,
    pub(super) global: u64,
    pub(super) global_window: String,
    pub(super) notice_window: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGateway {
    pub(super) address: String,
    pub(super) name: String,
    pub(super) report_id_prefix: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInbox {
    pub(super) kind: String,
    pub(super) path: Option<PathBuf>,
    pub(super) poll_interval: String,
    pub(super) stall_limit: String,
    pub(super) quarantine_folder: String,
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) tls: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) password_credential: Option<String>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) folder: Option<String>,
    pub(super) processed_folder: Option<String>,
    pub(super) fetch_batch: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutbox {
    pub(super) kind: String,
    pub(super) path: Option<PathBuf>,
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) tls: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) password_credential: Option<String>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) timeout: Option<String>,
    pub(super) command: Option<PathBuf>,
    pub(super) retry_schedule: Vec<String>,
    pub(super) retry_jitter: f64,
    pub(super) expire_after: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) path: PathBuf,
    /// The most memory sled may keep as a page cache, in MiB.
    #[serde(default)]
    pub(super) cache_mb: Option<u64>,
    pub(super) key_file: Option<PathBuf>,
    pub(super) key_credential: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeys {
    pub(super) dir: PathBuf,
    pub(super) reporters_dir: Option<PathBuf>,
    pub(super) maintainers_dir: Option<PathBuf>,
    pub(super) passphrase_file: Option<PathBuf>,
    pub(super) passphrase_credential: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) acknowledge: String,
    pub(super) initial_assessment: String,
    pub(super) fix: RawFix,
    pub(super) required_fields: Vec<String>,
    pub(super) supported_versions: Vec<String>,
    pub(super) out_of_scope: Vec<String>,
    #[serde(default)]
    pub(super) scope_keywords: std::collections::BTreeMap<String, Vec<String>>,
    pub(super) embargo: RawEmbargo,
    pub(super) calendar: RawCalendar,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendar {
    pub(super) business_days: bool,
    pub(super) working_days: Vec<String>,
    pub(super) holidays: Vec<String>,
    pub(super) timezone: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmbargo {
    pub(super) max_length: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFix {
    pub(super) critical: String,
    pub(super) high: String,
    pub(super) medium: String,
    pub(super) low: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMaintainer {
    pub(super) name: String,
    pub(super) address: String,
    pub(super) key: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) new_reports: bool,
    pub(super) correspondence: bool,
    pub(super) escalations: bool,
    pub(super) reporter_on: Vec<String>,
    pub(super) check_interval: String,
    pub(super) reminders: Vec<String>,
    pub(super) reporter_late: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMaintainersMail {
    pub(super) max_age: String,
    pub(super) signature: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDigest {
    pub(super) schedule: String,
    pub(super) timezone: String,
    pub(super) send_when_empty: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAck {
    pub(super) footer: String,
}

/// The configuration merged from `text` over the defaults, with `env` over both.
pub(super) fn load(
    text: Option<&str>,
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Raw, ConfigError> {
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
            .with_list_parse_key("publish.contact")
            .with_list_parse_key("publish.languages")
            .with_list_parse_key("policy.calendar.working_days")
            .with_list_parse_key("policy.calendar.holidays")
            .with_list_parse_key("notify.reminders")
            .try_parsing(true)
            .source(Some(env)),
    );
    let built = builder
        .build()
        .map_err(|e| ConfigError::Load(describe(file, &e)))?;
    built
        .try_deserialize()
        .map_err(|e| ConfigError::Load(describe(file, &e)))
}

fn describe(file: Option<&Path>, err: &config::ConfigError) -> String {
    match file {
        Some(path) => format!("{}: {err}", path.display()),
        None => err.to_string(),
    }
}
