//! Validation: the raw configuration turned into typed [`Settings`], one validator per
//! section. Each adds what is wrong to one list of problems, so that every problem is
//! reported at once; a section that cannot be built returns `None` and has said why.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::RawMaintainersMail;
use super::raw::{Raw, RawDigest, RawGateway, RawInbox, RawKeys, RawMaintainer, RawOutbox};
use super::raw::{RawCalendar, RawPolicy, RawRateLimits};
use super::secrets::{Secret, optional_secret, secret};
use super::{AckSettings, BUILTIN_SCOPE_CATEGORIES, ConfigError, DigestSettings, FixTargets};
use super::{Gateway, ImapSettings, Inbox, KeySettings, Maintainer, NotifySettings, Outbox};
use super::{MaintainersMail, REPORTER_STATES};
use super::{Policy, RateLimits, Retry, Schedule, ScopeCategory, Settings, SmtpSettings};
use super::{STORE_KEY_FILE, StoreSettings, Tls};
use crate::extract::FieldName;

/// What is wrong so far, one line each.
type Problems = Vec<String>;

/// Relative paths are resolved against the working directory at load time, so a later
/// change of directory cannot move the store.
pub(super) struct Base(PathBuf);

impl Base {
    pub(super) fn abs(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.0.join(p)
        }
    }
}

pub(super) fn validate(raw: Raw, file: Option<&Path>) -> Result<Settings, ConfigError> {
    let mut problems = Vec::new();
    let base = Base(std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")));
    let gateway = gateway(&raw.gateway, &mut problems);
    let inbox = inbox(&raw.inbox, &base, &mut problems);
    let outbox = outbox(&raw.outbox, &base, &mut problems);
    let retry = retry(&raw.outbox, &mut problems);
    let keys = keys(&raw.keys, &base, &mut problems);
    let mut policy = policy(&raw.policy, &mut problems);
    let maintainers = maintainers(&raw.maintainers, &base, &mut problems);
    let mut reminders: Vec<Duration> = raw
        .notify
        .reminders
        .iter()
        .filter_map(|r| {
            duration("notify.reminders", r)
                .map_err(|e| problems.push(e))
                .ok()
        })
        .collect();
    reminders.sort_unstable_by(|a, b| b.cmp(a));
    reminders.dedup();
    let notify = NotifySettings {
        reminders,
        reporter_late: raw.notify.reporter_late,
        new_reports: raw.notify.new_reports,
        correspondence: raw.notify.correspondence,
        escalations: raw.notify.escalations,
        reporter_on: reporter_on(&raw.notify.reporter_on, &mut problems),
        check_interval: match duration("notify.check_interval", &raw.notify.check_interval) {
            Ok(d) if d >= std::time::Duration::from_secs(1) => d,
            Ok(_) => {
                problems.push("notify.check_interval: at least 1s".into());
                std::time::Duration::from_secs(30)
            }
            Err(e) => {
                problems.push(e);
                std::time::Duration::from_secs(30)
            }
        },
    };
    let maintainers_mail = maintainers_mail(&raw.maintainers_mail, &mut problems);
    let digest = digest(&raw.digest, &mut problems);
    policy.required_fields = required_fields(&raw.policy.required_fields, &mut problems);
    raw.limits.problems(&mut problems);
    let rate_limits = rate_limits(&raw.rate_limits, &mut problems);
    let publish = super::publish::validate(&raw.publish, &gateway.address, &base, &mut problems);
    let stall_limit = duration("inbox.stall_limit", &raw.inbox.stall_limit)
        .map_err(|e| problems.push(e))
        .unwrap_or(Duration::from_secs(120));
    let cache_bytes = store_cache(raw.store.cache_mb, &mut problems);
    let mut retention = Vec::new();
    for (status, key, value) in [
        (
            crate::store::Status::Disclosed,
            "retention.disclosed",
            &raw.retention.disclosed,
        ),
        (
            crate::store::Status::Rejected,
            "retention.rejected",
            &raw.retention.rejected,
        ),
    ] {
        if let Some(v) = value {
            match duration(key, v) {
                Ok(d) => retention.push((status, d)),
                Err(e) => problems.push(e),
            }
        }
    }
    let store_key = optional_secret(
        "store.key",
        raw.store.key_file.as_deref().map(|p| base.abs(p)),
        raw.store.key_credential.as_deref(),
        &mut problems,
    )
    .unwrap_or_else(|| Secret::File(base.abs(&raw.keys.dir).join(STORE_KEY_FILE)));
    match (inbox, outbox) {
        (Some(inbox), Some(outbox)) if problems.is_empty() => Ok(Settings {
            source: file.map(Path::to_path_buf),
            gateway,
            inbox,
            outbox,
            retry,
            store: StoreSettings {
                path: base.abs(&raw.store.path),
                cache_bytes,
                key: store_key,
            },
            retention,
            keys,
            policy,
            maintainers,
            notify,
            maintainers_mail,
            digest,
            ack: AckSettings {
                footer: raw.ack.footer,
            },
            limits: raw.limits,
            rate_limits,
            stall_limit,
            backup: super::BackupSettings {
                recipients: raw.backup.recipients.iter().map(|p| base.abs(p)).collect(),
            },
            publish,
        }),
        _ => Err(ConfigError::Invalid(problems)),
    }
}

/// Whether `name` can stand in a From header: one line, no angle brackets.
fn is_display_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['\r', '\n', '<', '>'])
}

fn gateway(g: &RawGateway, problems: &mut Problems) -> Gateway {
    let address = g.address.trim().to_string();
    if address.parse::<lettre::Address>().is_err() {
        problems.push(format!(
            "gateway.address: {address:?} is not an email address"
        ));
    }
    let name = g.name.trim().to_string();
    if !is_display_name(&name) {
        problems.push("gateway.name: must be one line of text without < or >".into());
    }
    let prefix = g.report_id_prefix.trim().to_string();
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
    Gateway {
        address,
        name,
        report_id_prefix: prefix,
    }
}

fn inbox(i: &RawInbox, base: &Base, problems: &mut Problems) -> Option<Inbox> {
    let poll_interval = duration("inbox.poll_interval", &i.poll_interval)
        .map_err(|e| problems.push(e))
        .unwrap_or(Duration::from_millis(500));
    match i.kind.as_str() {
        "maildir" => {
            let folder = i.quarantine_folder.trim().to_string();
            if folder.is_empty() || folder.starts_with('.') || folder.contains(['/', '\\', '\0']) {
                problems.push(format!(
                    "inbox.quarantine_folder: {folder:?} must be a plain folder name"
                ));
            }
            match &i.path {
                Some(path) => Some(Inbox::Maildir {
                    path: base.abs(path),
                    poll_interval,
                    quarantine_folder: folder,
                }),
                None => {
                    problems.push("inbox.path: required for a maildir inbox".into());
                    None
                }
            }
        }
        "imap" => imap(i, poll_interval, base, problems).map(Inbox::Imap),
        other => {
            problems.push(format!(
                "inbox.kind: {other:?} is not supported (expected \"maildir\" or \"imap\")"
            ));
            None
        }
    }
}

fn imap(
    i: &RawInbox,
    poll_interval: Duration,
    base: &Base,
    problems: &mut Problems,
) -> Option<ImapSettings> {
    let tls = tls_mode("inbox.tls", i.tls.as_deref(), problems);
    let default_port = if tls == Tls::Implicit { 993 } else { 143 };
    let host = required("inbox.host", i.host.as_deref(), problems);
    let username = required("inbox.username", i.username.as_deref(), problems);
    let password = secret(
        "inbox.password",
        i.password_file.as_deref().map(|p| base.abs(p)),
        i.password_credential.as_deref(),
        problems,
    );
    Some(ImapSettings {
        host: host?,
        port: i.port.unwrap_or(default_port),
        tls,
        username: username?,
        password: password?,
        ca_file: i.ca_file.as_deref().map(|p| base.abs(p)),
        folder: i.folder.clone().unwrap_or_else(|| "INBOX".into()),
        processed_folder: i
            .processed_folder
            .clone()
            .unwrap_or_else(|| "Processed".into()),
        quarantine_folder: i.quarantine_folder.clone(),
        poll_interval,
        fetch_batch: i.fetch_batch.unwrap_or(100).clamp(1, 10_000),
    })
}

fn outbox(o: &RawOutbox, base: &Base, problems: &mut Problems) -> Option<Outbox> {
    match o.kind.as_str() {
        "file" => match &o.path {
            Some(path) => Some(Outbox::File {
                path: base.abs(path),
            }),
            None => {
                problems.push("outbox.path: required for a file outbox".into());
                None
            }
        },
        "smtp" => smtp(o, base, problems).map(Outbox::Smtp),
        "sendmail" => Some(Outbox::Sendmail {
            command: o
                .command
                .clone()
                .unwrap_or_else(|| PathBuf::from("/usr/sbin/sendmail")),
            timeout: outbox_timeout(o, problems),
        }),
        other => {
            problems.push(format!(
                "outbox.kind: {other:?} is not supported (expected \"file\", \"smtp\" or \"sendmail\")"
            ));
            None
        }
    }
}

fn smtp(o: &RawOutbox, base: &Base, problems: &mut Problems) -> Option<SmtpSettings> {
    let tls = tls_mode("outbox.tls", o.tls.as_deref(), problems);
    let default_port = match tls {
        Tls::Implicit => 465,
        Tls::StartTls => 587,
        Tls::None => 25,
    };
    let host = required("outbox.host", o.host.as_deref(), problems);
    let auth = match &o.username {
        Some(user) => secret(
            "outbox.password",
            o.password_file.as_deref().map(|p| base.abs(p)),
            o.password_credential.as_deref(),
            problems,
        )
        .map(|s| (user.clone(), s)),
        None => None,
    };
    let timeout = outbox_timeout(o, problems);
    host.map(|host| SmtpSettings {
        host,
        port: o.port.unwrap_or(default_port),
        tls,
        auth,
        ca_file: o.ca_file.as_deref().map(|p| base.abs(p)),
        timeout,
    })
}

/// `outbox.timeout`: per SMTP command, or for a whole run of sendmail.
fn outbox_timeout(o: &RawOutbox, problems: &mut Problems) -> Duration {
    duration("outbox.timeout", o.timeout.as_deref().unwrap_or("60s"))
        .map_err(|e| problems.push(e))
        .unwrap_or(Duration::from_secs(60))
}

fn retry(o: &RawOutbox, problems: &mut Problems) -> Retry {
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
    Retry {
        schedule,
        jitter: o.retry_jitter,
        expire_after: duration("outbox.expire_after", &o.expire_after)
            .map_err(|e| problems.push(e))
            .unwrap_or(Duration::from_secs(3 * 86400)),
    }
}

fn keys(k: &RawKeys, base: &Base, problems: &mut Problems) -> KeySettings {
    let dir = base.abs(&k.dir);
    let passphrase = optional_secret(
        "keys.passphrase",
        k.passphrase_file.as_deref().map(|p| base.abs(p)),
        k.passphrase_credential.as_deref(),
        problems,
    );
    KeySettings {
        passphrase,
        reporters_dir: k
            .reporters_dir
            .as_deref()
            .map(|p| base.abs(p))
            .unwrap_or_else(|| dir.join("reporters")),
        maintainers_dir: k
            .maintainers_dir
            .as_deref()
            .map(|p| base.abs(p))
            .unwrap_or_else(|| dir.join("maintainers")),
        dir,
    }
}

/// The policy without its required fields (see [`required_fields`]).
fn policy(p: &RawPolicy, problems: &mut Problems) -> Policy {
    let mut deadline = |key: &str, v: &str, default_days: u64| {
        duration(key, v)
            .map_err(|e| problems.push(e))
            .unwrap_or(Duration::from_secs(default_days * 86400))
    };
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
    Policy {
        acknowledge,
        initial_assessment,
        fix,
        required_fields: Vec::new(),
        supported_versions,
        out_of_scope: out_of_scope(p, problems),
        embargo_limit: p
            .embargo
            .max_length
            .parse()
            .map_err(|e| problems.push(format!("policy.embargo.max_length: {e}")))
            .unwrap_or(crate::policy::EmbargoLimit::Off),
        calendar: calendar(&p.calendar, problems),
    }
}

/// `[policy.calendar]`: `None` unless `business_days` is on.
fn calendar(c: &RawCalendar, problems: &mut Problems) -> Option<crate::policy::clocks::Calendar> {
    if !c.business_days {
        return None;
    }
    let mut working_days = Vec::new();
    for d in &c.working_days {
        match d.trim().parse::<chrono::Weekday>() {
            Ok(day) => {
                if !working_days.contains(&day) {
                    working_days.push(day);
                }
            }
            Err(_) => problems.push(format!(
                "policy.calendar.working_days: {d:?} is not a day of the week (mon, tue, ...)"
            )),
        }
    }
    if working_days.is_empty() {
        problems.push("policy.calendar.working_days: name at least one day".into());
    }
    let mut holidays = std::collections::BTreeSet::new();
    for h in &c.holidays {
        match chrono::NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d") {
            Ok(day) => {
                holidays.insert(day);
            }
            Err(_) => problems.push(format!(
                "policy.calendar.holidays: {h:?} is not a date (YYYY-MM-DD)"
            )),
        }
    }
    let zone = c.timezone.trim().parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
        problems.push(format!(
            "policy.calendar.timezone: {:?} is not an IANA time zone name such as \"Europe/Berlin\" or \"UTC\"",
            c.timezone
        ));
        chrono_tz::Tz::UTC
    });
    Some(crate::policy::clocks::Calendar {
        working_days,
        holidays,
        zone,
    })
}

fn out_of_scope(p: &RawPolicy, problems: &mut Problems) -> Vec<ScopeCategory> {
    let mut out = Vec::new();
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
        out.push(ScopeCategory { name, keywords });
    }
    for name in p.scope_keywords.keys() {
        if !p.out_of_scope.iter().any(|n| n.trim() == name) {
            problems.push(format!(
                "policy.scope_keywords.{name}: not listed in policy.out_of_scope"
            ));
        }
    }
    out
}

fn required_fields(names: &[String], problems: &mut Problems) -> Vec<FieldName> {
    let mut fields = Vec::new();
    for name in names {
        match name.trim().parse::<FieldName>() {
            Ok(f) => fields.push(f),
            Err(e) => problems.push(format!("policy.required_fields: {e}")),
        }
    }
    fields
}

fn maintainers(raw: &[RawMaintainer], base: &Base, problems: &mut Problems) -> Vec<Maintainer> {
    let mut maintainers: Vec<Maintainer> = Vec::new();
    for (n, m) in raw.iter().enumerate() {
        let address = m.address.trim().to_string();
        if address.parse::<lettre::Address>().is_err() {
            problems.push(format!(
                "maintainers[{n}].address: {address:?} is not an email address"
            ));
        }
        let name = m.name.trim().to_string();
        if !is_display_name(&name) {
            problems.push(format!(
                "maintainers[{n}].name: must be one line of text without < or >"
            ));
        }
        if maintainers
            .iter()
            .any(|o| o.address.eq_ignore_ascii_case(&address))
        {
            problems.push(format!(
                "maintainers[{n}].address: {address} is listed twice"
            ));
        }
        maintainers.push(Maintainer {
            name,
            address,
            key: base.abs(&m.key),
        });
    }
    maintainers
}

/// sled's page cache: 8 MiB unless set; between 8 MiB and 4 GiB.
fn store_cache(mb: Option<u64>, problems: &mut Problems) -> u64 {
    // The store's own default, which kept the daemon under 100 MiB after listing
    // 100,000 reports (BENCHMARKS.md, "Store scale", sixth round).
    const DEFAULT_MB: u64 = crate::store::DEFAULT_CACHE_BYTES >> 20;
    match mb {
        None => DEFAULT_MB << 20,
        Some(mb @ 8..=4096) => mb << 20,
        Some(mb) => {
            problems.push(format!(
                "store.cache_mb: {mb} is outside 8 to 4096 (MiB of page cache; 8 when unset)"
            ));
            DEFAULT_MB << 20
        }
    }
}

fn digest(d: &RawDigest, problems: &mut Problems) -> DigestSettings {
    let schedule = d
        .schedule
        .parse::<Schedule>()
        .map_err(|e| problems.push(format!("digest.schedule: {e}")))
        .unwrap_or(Schedule::Off);
    let timezone = d
        .timezone
        .trim()
        .parse::<chrono_tz::Tz>()
        .map_err(|_| {
            problems.push(format!(
                "digest.timezone: {:?} is not an IANA time zone name such as \"Europe/Berlin\" or \"UTC\"",
                d.timezone
            ))
        })
        .unwrap_or(chrono_tz::Tz::UTC);
    DigestSettings {
        schedule,
        timezone,
        send_when_empty: d.send_when_empty,
    }
}

fn rate_limits(r: &RawRateLimits, problems: &mut Problems) -> RateLimits {
    let mut window = |key: &str, v: &str| {
        duration(key, v)
            .map_err(|e| problems.push(e))
            .unwrap_or(Duration::from_secs(3600))
    };
    RateLimits {
        per_sender: r.per_sender,
        per_sender_window: window("rate_limits.per_sender_window", &r.per_sender_window),
        per_domain: r.per_domain,
        per_domain_window: window("rate_limits.per_domain_window", &r.per_domain_window),
        global: r.global,
        global_window: window("rate_limits.global_window", &r.global_window),
        notice_window: window("rate_limits.notice_window", &r.notice_window),
    }
}

fn required(key: &str, value: Option<&str>, problems: &mut Problems) -> Option<String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => Some(v.to_string()),
        None => {
            problems.push(format!("{key}: required"));
            None
        }
    }
}

fn tls_mode(key: &str, value: Option<&str>, problems: &mut Problems) -> Tls {
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

/// The states the researcher is told of; each must be one a maintainer can set.
fn reporter_on(names: &[String], problems: &mut Problems) -> Vec<String> {
    let mut out = Vec::new();
    for name in names {
        let n = name.trim().to_ascii_lowercase();
        if REPORTER_STATES.contains(&n.as_str()) {
            if !out.contains(&n) {
                out.push(n);
            }
        } else {
            problems.push(format!(
                "notify.reporter_on: {name:?} is not one of {}",
                REPORTER_STATES.join(", ")
            ));
        }
    }
    out
}

fn maintainers_mail(raw: &RawMaintainersMail, problems: &mut Problems) -> MaintainersMail {
    let max_age = duration("maintainers_mail.max_age", &raw.max_age).unwrap_or_else(|e| {
        problems.push(e);
        Duration::from_secs(7 * 86400)
    });
    // One line: it ends a message body, and a newline would let it grow headers-like
    // text the researcher could mistake for ours.
    let signature = raw.signature.trim().to_string();
    if signature.contains(['\r', '\n']) {
        problems.push("maintainers_mail.signature: must be one line".into());
    }
    MaintainersMail { max_age, signature }
}

/// Parses durations such as `48h`, `7d`, `500ms` or `1h 30m`.
pub(super) fn duration(key: &str, value: &str) -> Result<Duration, String> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
