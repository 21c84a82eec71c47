//! The security policy applied to a report: its severity, its deadlines and whether
//! they are met, hints for maintainers (unsupported version, no proof of concept,
//! possibly out of scope), and when the next digest is due.
//!
//! Everything here is a pure function of the configuration, the report's fields and a
//! time passed in by the caller, so the time-dependent rules are tested with fixed
//! clocks, never by sleeping.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Policy, Schedule};
use crate::extract::{Fields, Severity};

pub(crate) mod clocks;
pub(crate) mod embargo;

pub(crate) use embargo::{EmbargoLimit, ExitReason, ZonedInstant};

/// The deadlines of the policy, in the order a report meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineName {
    Acknowledge,
    InitialAssessment,
    Fix,
}

impl DeadlineName {
    pub const ALL: [DeadlineName; 3] = [
        DeadlineName::Acknowledge,
        DeadlineName::InitialAssessment,
        DeadlineName::Fix,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineName::Acknowledge => "acknowledge",
            DeadlineName::InitialAssessment => "initial_assessment",
            DeadlineName::Fix => "fix",
        }
    }

    /// One byte for store keys.
    pub fn code(self) -> u8 {
        match self {
            DeadlineName::Acknowledge => 1,
            DeadlineName::InitialAssessment => 2,
            DeadlineName::Fix => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<DeadlineName> {
        DeadlineName::ALL.into_iter().find(|d| d.code() == code)
    }

    /// What meeting it takes, for mail to maintainers.
    pub fn milestone(self) -> &'static str {
        match self {
            DeadlineName::Acknowledge => "acknowledgement sent to the reporter",
            DeadlineName::InitialAssessment => "initial assessment (status triaged or a decision)",
            DeadlineName::Fix => "fix (status fixed)",
        }
    }
}

/// The deadlines a report carries, computed from the policy when it arrived (the fix
/// deadline again whenever its severity changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    pub acknowledge: DateTime<Utc>,
    pub initial_assessment: DateTime<Utc>,
    /// None while the report is unrated (or rated `none`).
    #[serde(default)]
    pub fix: Option<DateTime<Utc>>,
}

impl Deadlines {
    pub fn compute(
        policy: &Policy,
        received_at: DateTime<Utc>,
        severity: Option<Severity>,
    ) -> Deadlines {
        Deadlines::compute_paused(policy, received_at, severity, &[])
    }

    /// The deadlines when the assessment and fix clocks were paused over `pauses`
    /// (each closed: see [`clocks::pauses`]); the acknowledgement's never pauses.
    /// Counted in working time when the policy has a calendar.
    pub(crate) fn compute_paused(
        policy: &Policy,
        received_at: DateTime<Utc>,
        severity: Option<Severity>,
        pauses: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
    ) -> Deadlines {
        let cal = policy.calendar.as_ref();
        let at = |target: std::time::Duration, pauses| {
            let target = chrono_duration(target);
            clocks::deadline(received_at, target, pauses, cal)
                .unwrap_or_else(|| received_at + target)
        };
        Deadlines {
            acknowledge: at(policy.acknowledge, &[]),
            initial_assessment: at(policy.initial_assessment, pauses),
            fix: fix_target(policy, severity).map(|d| at(d, pauses)),
        }
    }

    pub fn get(&self, name: DeadlineName) -> Option<DateTime<Utc>> {
        match name {
            DeadlineName::Acknowledge => Some(self.acknowledge),
            DeadlineName::InitialAssessment => Some(self.initial_assessment),
            DeadlineName::Fix => self.fix,
        }
    }
}

/// The fix target for a severity; none for unrated reports and severity `none`.
pub(crate) fn fix_target(
    policy: &Policy,
    severity: Option<Severity>,
) -> Option<std::time::Duration> {
    match severity? {
        Severity::Critical => Some(policy.fix.critical),
        Severity::High => Some(policy.fix.high),
        Severity::Medium => Some(policy.fix.medium),
        Severity::Low => Some(policy.fix.low),
        Severity::None => None,
    }
}

/// Where a deadline stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineState {
    /// The milestone was reached (possibly late: see `met_at`).
    Met,
    /// Still ahead.
    Due,
    /// Passed without the milestone.
    Overdue,
    /// No longer applies (a rejected report needs no fix).
    Closed,
    /// Its clock stands still: the team waits on the researcher (`needs_info`).
    Paused,
}

impl DeadlineState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineState::Met => "met",
            DeadlineState::Due => "due",
            DeadlineState::Overdue => "overdue",
            DeadlineState::Closed => "closed",
            DeadlineState::Paused => "paused",
        }
    }
}

/// One deadline of one report, evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadlineStatus {
    pub at: DateTime<Utc>,
    pub state: DeadlineState,
    /// When the milestone was reached, if it was.
    pub met_at: Option<DateTime<Utc>>,
}

/// Evaluates deadlines given when each milestone was reached (`met`) and whether the
/// deadline still applies (`closed`).
pub(crate) fn evaluate(
    deadlines: &Deadlines,
    met: impl Fn(DeadlineName) -> Option<DateTime<Utc>>,
    closed: impl Fn(DeadlineName) -> bool,
    paused: impl Fn(DeadlineName) -> bool,
    now: DateTime<Utc>,
) -> BTreeMap<DeadlineName, DeadlineStatus> {
    let mut out = BTreeMap::new();
    for name in DeadlineName::ALL {
        let Some(at) = deadlines.get(name) else {
            continue;
        };
        let met_at = met(name);
        let state = if met_at.is_some() {
            DeadlineState::Met
        } else if closed(name) {
            DeadlineState::Closed
        } else if paused(name) {
            DeadlineState::Paused
        } else if now > at {
            DeadlineState::Overdue
        } else {
            DeadlineState::Due
        };
        out.insert(name, DeadlineStatus { at, state, met_at });
    }
    out
}

/// Something maintainers should look at; the gateway flags, never decides.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "hint")]
pub enum Hint {
    /// The affected versions name none of the supported ones.
    UnsupportedVersion { stated: String },
    /// No steps to reproduce, no proof of concept, no attachment.
    NoProofOfConcept,
    /// The report mentions a phrase of an out-of-scope category.
    PossiblyOutOfScope { category: String, phrase: String },
    /// The report was encrypted with a legacy cipher (CAST5, 3DES) the gateway reads
    /// but never writes: the researcher's client may protect other mail as weakly.
    LegacyCipher { cipher: String },
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hint::UnsupportedVersion { .. } => f.write_str("unsupported_version"),
            Hint::NoProofOfConcept => f.write_str("no_proof_of_concept"),
            Hint::PossiblyOutOfScope { category, .. } => {
                write!(f, "possibly_out_of_scope: {category}")
            }
            Hint::LegacyCipher { cipher } => write!(f, "legacy_cipher: {cipher}"),
        }
    }
}

impl Hint {
    /// A sentence for maintainers.
    pub fn explain(&self, policy: &Policy) -> String {
        match self {
            Hint::UnsupportedVersion { stated } => format!(
                "affected versions \"{}\" name none of the supported versions ({})",
                crate::intake::one_line(stated, 80),
                policy.supported_versions.join(", ")
            ),
            Hint::NoProofOfConcept => {
                "no steps to reproduce, proof of concept or attachment".to_string()
            }
            Hint::PossiblyOutOfScope { category, phrase } => format!(
                "mentions \"{phrase}\", which the policy's out-of-scope category {category} covers"
            ),
            Hint::LegacyCipher { cipher } => format!(
                "encrypted with {cipher}, a legacy cipher: read, but never used for the gateway's own mail; the researcher's client may protect other mail as weakly"
            ),
        }
    }

    /// What to ask the reporter for in the acknowledgement, when there is something.
    pub fn request(&self, policy: &Policy) -> Option<String> {
        match self {
            Hint::UnsupportedVersion { .. } => Some(format!(
                "Whether a supported version ({}) is affected",
                policy.supported_versions.join(", ")
            )),
            Hint::NoProofOfConcept => Some("Steps to reproduce or a proof of concept".to_string()),
            // Scope is the maintainers' call: the reporter is not told a guess.
            // The cipher is for maintainers; answers are encrypted with a current one.
            Hint::PossiblyOutOfScope { .. } | Hint::LegacyCipher { .. } => None,
        }
    }
}

/// The hints for a report's fields and text.
pub(crate) fn hints(policy: &Policy, fields: &Fields, text: &str, attachments: usize) -> Vec<Hint> {
    let mut out = Vec::new();
    if let Some(stated) = &fields.affected_versions
        && !policy.supported_versions.is_empty()
        && !versions_supported(&policy.supported_versions, stated)
    {
        out.push(Hint::UnsupportedVersion {
            stated: stated.clone(),
        });
    }
    let has_poc =
        fields.steps_to_reproduce.is_some() || fields.proof_of_concept.is_some() || attachments > 0;
    if !has_poc {
        out.push(Hint::NoProofOfConcept);
    }
    let haystack = format!(
        "{}\n{}\n{}",
        fields.title.as_deref().unwrap_or_default(),
        fields.vulnerability_type.as_deref().unwrap_or_default(),
        text
    )
    .to_lowercase();
    for category in &policy.out_of_scope {
        // Theoretical issues are only suspicious when nothing demonstrates them.
        if category.name == "theoretical_without_poc" && has_poc {
            continue;
        }
        if let Some(phrase) = category
            .keywords
            .iter()
            .find(|k| contains_phrase(&haystack, k))
        {
            out.push(Hint::PossiblyOutOfScope {
                category: category.name.clone(),
                phrase: phrase.clone(),
            });
        }
    }
    out
}

/// Whether `phrase` occurs in `haystack` at word boundaries (so "spf" does not match
/// "spfx" and "flood" does not match "floodgate").
fn contains_phrase(haystack: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    haystack.match_indices(phrase).any(|(i, m)| {
        let before = haystack.get(..i).and_then(|s| s.chars().next_back());
        let after = haystack.get(i + m.len()..).and_then(|s| s.chars().next());
        !word(before) && !word(after)
    })
}

/// Whether any version the reporter names matches a supported pattern. Text that
/// names no version at all ("all versions", "latest") is not flagged.
fn versions_supported(supported: &[String], stated: &str) -> bool {
    let lowered = stated.to_lowercase();
    let tokens: Vec<&str> = lowered
        .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-' || c == '_'))
        .map(|t| t.trim_matches(|c: char| c == '.' || c == '-'))
        .filter(|t| !t.is_empty())
        .collect();
    let versions: Vec<&str> = tokens
        .iter()
        .map(|t| t.strip_prefix('v').unwrap_or(t))
        .filter(|t| t.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    let names: Vec<&str> = supported
        .iter()
        .filter(|p| !p.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(String::as_str)
        .collect();
    if versions.is_empty()
        && !tokens
            .iter()
            .any(|t| names.iter().any(|n| n.eq_ignore_ascii_case(t)))
    {
        // Nothing recognisable: do not guess.
        return true;
    }
    for pattern in supported {
        let p = pattern.to_lowercase();
        if !p.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            if tokens.iter().any(|t| *t == p) {
                return true;
            }
            continue;
        }
        let base = p
            .trim_end_matches(".x")
            .trim_end_matches(".*")
            .trim_end_matches('.');
        if versions
            .iter()
            .any(|v| *v == base || v.starts_with(&format!("{base}.")))
        {
            return true;
        }
    }
    false
}

/// The next time the digest is due strictly after `after`, in the schedule's time
/// zone; none when digests are off.
pub fn next_digest(
    schedule: Schedule,
    tz: chrono_tz::Tz,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let (time, day_ok): (chrono::NaiveTime, Box<dyn Fn(chrono::Weekday) -> bool>) = match schedule {
        Schedule::Off => return None,
        Schedule::Every(d) => return after.checked_add_signed(chrono_duration(d)),
        Schedule::Daily(t) => (t, Box::new(|_| true)),
        Schedule::Weekdays(t) => (
            t,
            Box::new(|d| !matches!(d, chrono::Weekday::Sat | chrono::Weekday::Sun)),
        ),
        Schedule::Weekly(day, t) => (t, Box::new(move |d| d == day)),
    };
    let start = after.with_timezone(&tz).date_naive();
    for offset in 0..9 {
        let date = start.checked_add_days(chrono::Days::new(offset))?;
        if !day_ok(date.weekday()) {
            continue;
        }
        let naive = date.and_time(time);
        // A time that does not exist on a DST change day moves an hour on; one that
        // exists twice fires at its first occurrence.
        let local = tz.from_local_datetime(&naive).earliest().or_else(|| {
            tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                .earliest()
        })?;
        let utc = local.with_timezone(&Utc);
        if utc > after {
            return Some(utc);
        }
    }
    None
}

/// A time as people read it (mail, listings, `status`): `2026-12-09 14:42 UTC`.
/// Machine output (`--json`) keeps RFC 3339.
pub(crate) fn human_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A policy duration as people read it: whole days or hours when it is one
/// ("7 days", "48 hours"), otherwise humantime's form.
pub(crate) fn human_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs > 0 && secs.is_multiple_of(86_400) {
        plural(secs / 86_400, "day")
    } else if secs > 0 && secs.is_multiple_of(3600) {
        plural(secs / 3600, "hour")
    } else {
        humantime::format_duration(d).to_string()
    }
}

pub(crate) fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn policy(extra: &str) -> Policy {
        Settings::parse_toml(extra).unwrap().policy
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn times_and_durations_read_as_people_write_them() {
        assert_eq!(
            human_time(at("2026-12-09T14:42:59+00:00")),
            "2026-12-09 14:42 UTC"
        );
        let d = std::time::Duration::from_secs;
        assert_eq!(human_duration(d(7 * 86_400)), "7 days");
        assert_eq!(human_duration(d(86_400)), "1 day");
        assert_eq!(human_duration(d(36 * 3600)), "36 hours");
        assert_eq!(human_duration(d(90)), "1m 30s");
    }

    #[test]
    fn deadlines_follow_the_policy_and_the_severity() {
        let p = policy("[policy]\nacknowledge = \"24h\"\n[policy.fix]\nhigh = \"10d\"\n");
        let t0 = at("2026-03-01T10:00:00Z");
        let cases = [
            (Some(Severity::Critical), Some("2026-03-03T10:00:00Z")),
            (Some(Severity::High), Some("2026-03-11T10:00:00Z")),
            (Some(Severity::Medium), Some("2026-03-31T10:00:00Z")),
            (Some(Severity::Low), Some("2026-05-30T10:00:00Z")),
            (Some(Severity::None), None),
            (None, None),
        ];
        for (severity, fix) in cases {
            let d = Deadlines::compute(&p, t0, severity);
            assert_eq!(d.acknowledge, at("2026-03-02T10:00:00Z"));
            assert_eq!(d.initial_assessment, at("2026-03-08T10:00:00Z"));
            assert_eq!(d.fix, fix.map(at), "{severity:?}");
        }
    }

    #[test]
    fn deadline_states_on_a_fixed_clock() {
        let p = policy("");
        let t0 = at("2026-03-01T10:00:00Z");
        let d = Deadlines::compute(&p, t0, Some(Severity::High));
        let acked = at("2026-03-01T10:05:00Z");
        let met = |n: DeadlineName| (n == DeadlineName::Acknowledge).then_some(acked);
        let early = evaluate(&d, met, |_| false, |_| false, at("2026-03-02T00:00:00Z"));
        assert_eq!(early[&DeadlineName::Acknowledge].state, DeadlineState::Met);
        assert_eq!(early[&DeadlineName::Acknowledge].met_at, Some(acked));
        assert_eq!(
            early[&DeadlineName::InitialAssessment].state,
            DeadlineState::Due
        );
        let late = evaluate(&d, met, |_| false, |_| false, at("2026-03-08T10:00:01Z"));
        assert_eq!(
            late[&DeadlineName::InitialAssessment].state,
            DeadlineState::Overdue
        );
        assert_eq!(late[&DeadlineName::Fix].state, DeadlineState::Overdue);
        let closed = evaluate(
            &d,
            met,
            |n| n == DeadlineName::Fix,
            |_| false,
            at("2026-04-01T00:00:00Z"),
        );
        assert_eq!(closed[&DeadlineName::Fix].state, DeadlineState::Closed);
    }

    #[test]
    fn version_hints() {
        let supported = ["5.x".to_string(), "4.2".into(), "nightly".into()];
        let cases = [
            ("5.1.3", true),
            ("v5.0", true),
            ("4.2.9", true),
            ("4.2", true),
            ("4.1.0", false),
            ("3.x and earlier", false),
            ("nightly build 2026-03-01", true),
            ("all versions", true),
            ("versions 4.0 to 5.2", true),
            ("15.0", false),
        ];
        for (stated, ok) in cases {
            assert_eq!(versions_supported(&supported, stated), ok, "{stated}");
        }
    }

    #[test]
    fn hints_flag_and_never_decide() {
        let p = policy(
            "[policy]\nsupported_versions = [\"5.x\"]\nout_of_scope = [\"volumetric_dos\", \"email_spoofing\", \"theoretical_without_poc\"]\n",
        );
        let fields = Fields {
            affected_versions: Some("4.9".into()),
            ..Fields::default()
        };
        let h = hints(
            &p,
            &fields,
            "A DDoS flood of the login page. Missing SPF record.",
            0,
        );
        let names: Vec<String> = h.iter().map(|h| h.to_string()).collect();
        assert_eq!(
            names,
            [
                "unsupported_version",
                "no_proof_of_concept",
                "possibly_out_of_scope: volumetric_dos",
                "possibly_out_of_scope: email_spoofing",
            ]
        );
        let with_poc = Fields {
            steps_to_reproduce: Some("1. run it".into()),
            affected_versions: Some("5.2".into()),
            ..Fields::default()
        };
        let h = hints(&p, &with_poc, "In theory this floodgate spfx is fine", 0);
        assert!(h.is_empty(), "{h:?}");
        assert!(
            hints(&p, &Fields::default(), "theoretical only", 0)
                .iter()
                .any(|h| h.to_string() == "possibly_out_of_scope: theoretical_without_poc")
        );
    }

    #[test]
    fn digest_schedule_in_a_time_zone() {
        let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let daily: Schedule = "daily 08:00".parse().unwrap();
        // 08:00 in Berlin is 07:00 UTC in winter, 06:00 UTC in summer.
        assert_eq!(
            next_digest(daily, tz, at("2026-01-10T06:00:00Z")),
            Some(at("2026-01-10T07:00:00Z"))
        );
        assert_eq!(
            next_digest(daily, tz, at("2026-01-10T07:00:00Z")),
            Some(at("2026-01-11T07:00:00Z"))
        );
        assert_eq!(
            next_digest(daily, tz, at("2026-07-10T05:00:00Z")),
            Some(at("2026-07-10T06:00:00Z"))
        );
        let weekdays: Schedule = "weekdays 09:30".parse().unwrap();
        // 2026-01-10 is a Saturday.
        assert_eq!(
            next_digest(weekdays, chrono_tz::Tz::UTC, at("2026-01-10T12:00:00Z")),
            Some(at("2026-01-12T09:30:00Z"))
        );
        let weekly: Schedule = "weekly friday 17:00".parse().unwrap();
        assert_eq!(
            next_digest(weekly, chrono_tz::Tz::UTC, at("2026-01-10T12:00:00Z")),
            Some(at("2026-01-16T17:00:00Z"))
        );
        // 02:30 does not exist in Berlin on 2026-03-29.
        let gap: Schedule = "daily 02:30".parse().unwrap();
        assert_eq!(
            next_digest(gap, tz, at("2026-03-29T00:00:00Z")),
            Some(at("2026-03-29T01:30:00Z"))
        );
        assert_eq!(
            next_digest(Schedule::Off, tz, at("2026-01-10T06:00:00Z")),
            None
        );
        for bad in ["daily", "daily 25:00", "weekly someday 08:00", "hourly"] {
            assert!(bad.parse::<Schedule>().is_err(), "{bad}");
        }
    }
}
