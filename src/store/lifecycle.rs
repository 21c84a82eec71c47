//! What maintainers change on a report, and the rules for it: the state machine, the
//! rejection reason, severity and CVSS overrides (which move the fix deadline), the
//! assignee, notes. Every change appends an event; nothing is ever removed from the
//! history.

use chrono::{DateTime, Utc};

use std::collections::BTreeMap;

use super::records::{DeadlineName, Deadlines, Event, RejectReason, Report, Status};
use crate::config::Policy;
use crate::extract::{Cvss, FieldName, Fields, Severity};

/// A detail of a report that maintainers correct or complete (`reports set --title`,
/// `X-TITLE:`, ...). The first four are also fields a report can carry; a
/// maintainer's value wins over the report's, and a researcher's follow-up only
/// fills what neither has.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    Title,
    AffectedVersions,
    AffectedComponent,
    VulnerabilityType,
    Cwe,
    Cve,
    FixedIn,
    /// The advisory's description (English: the CVE record requires one).
    Summary,
    /// The package, as OSV names ecosystems (`crates.io`, `PyPI`, ...).
    Ecosystem,
    Package,
    Purl,
    Vendor,
    Product,
    /// Web addresses, separated by spaces.
    References,
    /// What users should do (upgrade to ..., a workaround).
    Remediation,
    /// When the advisory is (or was) published, RFC 3339 in UTC.
    Published,
    /// The affected ranges, corrected: `introduced=1.0 fixed=1.4; ...`; replaces the
    /// ranges extracted from the report.
    Affected,
}

/// Longest value a maintainer may give a detail, in characters.
const DETAIL_MAX_CHARS: usize = 500;
/// Longest advisory description or remediation text, in characters.
const TEXT_MAX_CHARS: usize = 4000;

impl Detail {
    pub const ALL: [Detail; 17] = [
        Detail::Title,
        Detail::AffectedVersions,
        Detail::AffectedComponent,
        Detail::VulnerabilityType,
        Detail::Cwe,
        Detail::Cve,
        Detail::FixedIn,
        Detail::Summary,
        Detail::Ecosystem,
        Detail::Package,
        Detail::Purl,
        Detail::Vendor,
        Detail::Product,
        Detail::References,
        Detail::Remediation,
        Detail::Published,
        Detail::Affected,
    ];

    /// Machine name, identical to the serde representation and to the event's action.
    pub fn as_str(self) -> &'static str {
        match self {
            Detail::Title => "title",
            Detail::AffectedVersions => "affected_versions",
            Detail::AffectedComponent => "affected_component",
            Detail::VulnerabilityType => "vulnerability_type",
            Detail::Cwe => "cwe",
            Detail::Cve => "cve",
            Detail::FixedIn => "fixed_in",
            Detail::Summary => "summary",
            Detail::Ecosystem => "ecosystem",
            Detail::Package => "package",
            Detail::Purl => "purl",
            Detail::Vendor => "vendor",
            Detail::Product => "product",
            Detail::References => "references",
            Detail::Remediation => "remediation",
            Detail::Published => "published",
            Detail::Affected => "affected",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Detail::Title => "Title",
            Detail::AffectedVersions => "Affected versions",
            Detail::AffectedComponent => "Affected component",
            Detail::VulnerabilityType => "Vulnerability type",
            Detail::Cwe => "CWE",
            Detail::Cve => "CVE",
            Detail::FixedIn => "Fixed in",
            Detail::Summary => "Summary",
            Detail::Ecosystem => "Ecosystem",
            Detail::Package => "Package",
            Detail::Purl => "Package URL",
            Detail::Vendor => "Vendor",
            Detail::Product => "Product",
            Detail::References => "References",
            Detail::Remediation => "Remediation",
            Detail::Published => "Published",
            Detail::Affected => "Affected ranges",
        }
    }

    /// The report field this detail corrects, if the report itself can carry it.
    pub fn field(self) -> Option<FieldName> {
        match self {
            Detail::Title => Some(FieldName::Title),
            Detail::AffectedVersions => Some(FieldName::AffectedVersions),
            Detail::AffectedComponent => Some(FieldName::AffectedComponent),
            Detail::VulnerabilityType => Some(FieldName::VulnerabilityType),
            _ => None,
        }
    }

    /// The report's own value of this detail (what the researcher wrote).
    fn reported(self, fields: &Fields) -> Option<&str> {
        match self {
            Detail::Title => fields.title.as_deref(),
            Detail::AffectedVersions => fields.affected_versions.as_deref(),
            Detail::AffectedComponent => fields.affected_component.as_deref(),
            Detail::VulnerabilityType => fields.vulnerability_type.as_deref(),
            _ => None,
        }
    }

    fn reported_mut(self, fields: &mut Fields) -> Option<&mut Option<String>> {
        match self {
            Detail::Title => Some(&mut fields.title),
            Detail::AffectedVersions => Some(&mut fields.affected_versions),
            Detail::AffectedComponent => Some(&mut fields.affected_component),
            Detail::VulnerabilityType => Some(&mut fields.vulnerability_type),
            _ => None,
        }
    }

    /// A maintainer's value, checked and normalised: `CWE-<n>`, `CVE-YYYY-NNNN+`
    /// (upper case), one line of at most 500 characters for the others. An empty value
    /// is returned as empty: it clears the maintainer's value.
    pub fn check(self, value: &str) -> Result<String, String> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(String::new());
        }
        if value.chars().any(char::is_control) {
            return Err(format!("{} must be one line", self.label()));
        }
        let max = match self {
            Detail::Summary | Detail::Remediation | Detail::References | Detail::Affected => {
                TEXT_MAX_CHARS
            }
            _ => DETAIL_MAX_CHARS,
        };
        if value.chars().count() > max {
            return Err(format!("{} is longer than {max} characters", self.label()));
        }
        match self {
            Detail::Cwe => {
                let upper = value.to_ascii_uppercase();
                let digits = upper.strip_prefix("CWE-").unwrap_or_default();
                if digits.is_empty()
                    || digits.len() > 7
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(format!(
                        "{value:?} is not a CWE ID (CWE-<number>, e.g. CWE-79)"
                    ));
                }
                Ok(upper)
            }
            Detail::Cve => {
                let upper = value.to_ascii_uppercase();
                let ok = upper
                    .strip_prefix("CVE-")
                    .and_then(|rest| rest.split_once('-'))
                    .is_some_and(|(year, seq)| {
                        year.len() == 4
                            && year.bytes().all(|b| b.is_ascii_digit())
                            && year
                                .as_bytes()
                                .first()
                                .is_some_and(|b| matches!(b, b'1' | b'2'))
                            && (4..=19).contains(&seq.len())
                            && seq.bytes().all(|b| b.is_ascii_digit())
                    });
                if !ok {
                    return Err(format!(
                        "{value:?} is not a CVE ID (CVE-YYYY-NNNN, four or more digits, e.g. CVE-2026-12345)"
                    ));
                }
                Ok(upper)
            }
            Detail::FixedIn => super::advisory_data::check_versions(value),
            Detail::Ecosystem => super::advisory_data::check_ecosystem(value),
            Detail::Purl => super::advisory_data::check_purl(value),
            Detail::References => super::advisory_data::check_references(value),
            Detail::Published => super::advisory_data::check_date(value),
            Detail::Affected => super::advisory_data::check_ranges(value),
            _ => Ok(value.to_string()),
        }
    }
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An assignee as a maintainer named them (`--assignee`, `X-ASSIGNEE:`): a configured
/// maintainer's name, address, or address's local part when only one maintainer has it
/// (any case), gives that maintainer's name; empty clears it; anyone else is refused
/// with the list of names.
pub(crate) fn resolve_assignee(
    maintainers: &[crate::config::Maintainer],
    given: &str,
) -> Result<String, String> {
    let given = given.trim();
    if given.is_empty() {
        return Ok(String::new());
    }
    let local = |m: &&crate::config::Maintainer| {
        m.address
            .rsplit_once('@')
            .is_some_and(|(l, _)| l.eq_ignore_ascii_case(given))
    };
    let by_local: Vec<&crate::config::Maintainer> = maintainers.iter().filter(local).collect();
    maintainers
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(given) || m.address.eq_ignore_ascii_case(given))
        .or(match by_local.as_slice() {
            [only] => Some(*only),
            _ => None,
        })
        .map(|m| m.name.clone())
        .ok_or_else(|| {
            if maintainers.is_empty() {
                format!("{given:?} is not a maintainer: none is configured ([[maintainers]])")
            } else {
                let names: Vec<&str> = maintainers.iter().map(|m| m.name.as_str()).collect();
                format!(
                    "{given:?} is not a configured maintainer (assign one of: {})",
                    names.join(", ")
                )
            }
        })
}

/// The mail that tells a configured maintainer a report was just assigned to them
/// (encrypted to their key like every notification); none when the assignee did not
/// change or is no configured maintainer, or when they assigned it to themselves by
/// mail.
pub(crate) fn assignment_notice(
    maintainers: &[crate::config::Maintainer],
    before: Option<&str>,
    r: &Report,
    actor: &str,
    now: DateTime<Utc>,
) -> Option<super::records::NewJob> {
    let name = r.triage.assignee.as_deref()?;
    if before == Some(name) {
        return None;
    }
    let m = maintainers.iter().find(|m| m.name == name)?;
    if actor.eq_ignore_ascii_case(&format!("mail:{}", m.address)) {
        return None;
    }
    let text = format!(
        "{actor} assigned {id} to you.\n\nTitle:     {title}\nStatus:    {status}\nSeverity:  {severity}\nReceived:  {received}\n\n-- \ndisclosured reports show {id}\n",
        id = r.id,
        title = r.detail(Detail::Title).unwrap_or("(no title)"),
        status = r.status.as_str(),
        severity = r.severity().map_or("unrated", Severity::as_str),
        received = r.data.received_at.format("%Y-%m-%d %H:%M UTC"),
    );
    Some(super::records::NewJob::new(
        super::records::JobKind::TeamNotice {
            text,
            subject: format!("[{}] Assigned to you", r.id),
            in_reply_to: None,
            references: Vec::new(),
        },
        &m.address,
        now,
    ))
}

/// How a value is shown in an event's `old -> new`.
fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "(none)".to_string(), |v| format!("{v:?}"))
}

/// A maintainer's change to a report; `None` leaves a part as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    pub status: Option<Status>,
    /// Required when the new status is `rejected`.
    pub reason: Option<RejectReason>,
    pub severity: Option<Severity>,
    pub cvss: Option<Cvss>,
    /// `Some("")` clears the assignee.
    pub assignee: Option<String>,
    pub note: Option<String>,
    /// Details to correct or complete, values as given (checked by `apply`); an empty
    /// value removes the maintainer's value (the report's own shows again).
    pub details: BTreeMap<Detail, String>,
    /// Sets, accepts, revises or exits the embargo (`--embargo`, `X-EMBARGO:`, ...).
    pub embargo: Option<super::embargo::EmbargoChange>,
    /// `Some(true)`: a question goes to the researcher and the clocks pause
    /// (`--needs-info`, `X-NEEDS-INFO: yes`); `Some(false)`: a maintainer resumes them.
    pub needs_info: Option<bool>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        *self == Change::default()
    }
}

impl Report {
    /// Applies a maintainer's change, or refuses it with a reason and changes nothing.
    pub fn apply(
        &mut self,
        change: &Change,
        actor: &str,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<(), String> {
        if change.is_empty() {
            return Err("nothing to change".into());
        }
        let mut next = self.clone();
        if change.reason.is_some() && change.status != Some(Status::Rejected) {
            return Err("a rejection reason goes with --status rejected".into());
        }
        // The embargo first: exiting it and disclosing go together in one change.
        if let Some(embargo) = &change.embargo {
            next.change_embargo(embargo, actor, now, policy)?;
        }
        if let Some(to) = change.status {
            next.move_to(to, change.reason.clone(), actor, now)?;
        }
        match change.needs_info {
            Some(true) => next.ask_researcher(actor, now)?,
            Some(false) => next.resume_clocks(actor, "resumed by a maintainer", now, policy)?,
            None => {}
        }
        next.rate(change, actor, now, policy);
        if let Some(assignee) = &change.assignee {
            let value = assignee.trim();
            let new = (!value.is_empty()).then(|| value.to_string());
            if new != next.triage.assignee {
                next.events.push(Event::new(
                    now,
                    actor,
                    "assignee",
                    Some(new.clone().unwrap_or_else(|| "(none)".into())),
                ));
                next.triage.assignee = new;
            }
        }
        for (detail, value) in &change.details {
            next.set_detail(*detail, value, actor, now)?;
        }
        if let Some(note) = change
            .note
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            next.events
                .push(Event::new(now, actor, "note", Some(note.to_string())));
        }
        *self = next;
        Ok(())
    }

    /// A detail in force: a maintainer's value, else the report's own.
    pub fn detail(&self, detail: Detail) -> Option<&str> {
        self.triage
            .details
            .get(&detail)
            .map(String::as_str)
            .or_else(|| detail.reported(&self.data.fields))
    }

    /// Sets (or, with an empty value, removes) a maintainer's value of a detail; an
    /// event records the value in force before and after.
    fn set_detail(
        &mut self,
        detail: Detail,
        value: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let value = detail.check(value)?;
        let before = self.detail(detail).map(str::to_string);
        if value.is_empty() {
            self.triage.details.remove(&detail);
        } else {
            self.triage.details.insert(detail, value);
        }
        let after = self.detail(detail).map(str::to_string);
        if before != after {
            self.events.push(Event::new(
                now,
                actor,
                detail.as_str(),
                Some(format!(
                    "{} -> {}",
                    shown(before.as_deref()),
                    shown(after.as_deref())
                )),
            ));
        }
        Ok(())
    }

    /// Fills the details that neither the report nor a maintainer gave from a
    /// researcher's follow-up (`found`: the fields extracted from its text); what is
    /// set already is never replaced. Returns the details filled; one event records
    /// them all.
    pub fn fill_missing(
        &mut self,
        found: &Fields,
        actor: &str,
        message_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Vec<Detail> {
        let mut filled = Vec::new();
        let mut notes = Vec::new();
        for detail in Detail::ALL {
            let (Some(value), Some(field)) = (detail.reported(found), detail.field()) else {
                continue;
            };
            let value = value.trim();
            if value.is_empty() || self.detail(detail).is_some() {
                continue;
            }
            let Ok(value) = detail.check(value) else {
                continue;
            };
            if let Some(slot) = detail.reported_mut(&mut self.data.fields) {
                *slot = Some(value.clone());
            }
            self.data.missing.retain(|m| *m != field);
            notes.push(format!("{}: (none) -> {value:?}", detail.as_str()));
            filled.push(detail);
        }
        if !filled.is_empty() {
            let from =
                message_id.map_or_else(String::new, |m| format!(" (follow-up Message-ID {m})"));
            self.events.push(Event::new(
                now,
                actor,
                "fields_filled",
                Some(format!("{}{from}", notes.join("; "))),
            ));
        }
        filled
    }

    /// The rating part of a change: a CVSS vector and a severity, and the fix
    /// deadline that follows from them.
    fn rate(&mut self, change: &Change, actor: &str, now: DateTime<Utc>, policy: &Policy) {
        let before = self.severity();
        if let Some(cvss) = &change.cvss {
            self.triage.cvss = Some(cvss.clone());
            self.events.push(Event::new(
                now,
                actor,
                "cvss",
                Some(format!(
                    "{} (score {:.1}, {})",
                    cvss.vector, cvss.score, cvss.severity
                )),
            ));
        }
        if let Some(severity) = change.severity {
            self.triage.severity = Some(severity);
        }
        let after = self.severity();
        if before != after || change.severity.is_some() {
            self.events.push(Event::new(
                now,
                actor,
                "severity",
                Some(format!(
                    "{} -> {}",
                    before.map_or("unrated", Severity::as_str),
                    after.map_or("unrated", Severity::as_str)
                )),
            ));
            self.recompute_deadlines(policy, now);
        }
    }

    /// The deadlines again from the clocks: the policy's targets for the severity in
    /// force, counted from receipt without the intervals the team waited on the
    /// researcher (an open wait counted as ending `now`: the deadline is recomputed
    /// when it ends). A moved deadline is an event and gets its own escalation.
    pub(crate) fn recompute_deadlines(&mut self, policy: &Policy, now: DateTime<Utc>) {
        let pauses: Vec<_> = self
            .pauses()
            .into_iter()
            .map(|(from, to)| (from, Some(to.unwrap_or(now).max(from))))
            .collect();
        let fresh =
            Deadlines::compute_paused(policy, self.data.received_at, self.severity(), &pauses);
        let mut moved = |name: DeadlineName, what: &str, before, after: Option<DateTime<Utc>>| {
            if before != after {
                self.escalated.retain(|d| *d != name);
                self.events.push(Event::new(
                    now,
                    "system",
                    "deadline",
                    Some(match after {
                        Some(at) => {
                            format!("{what} deadline now {}", crate::policy::human_time(at))
                        }
                        None => format!("no {what} deadline (unrated)"),
                    }),
                ));
            }
        };
        let old = self.data.deadlines.clone();
        moved(
            DeadlineName::InitialAssessment,
            "assessment",
            Some(old.initial_assessment),
            Some(fresh.initial_assessment),
        );
        moved(DeadlineName::Fix, "fix", old.fix, fresh.fix);
        self.data.deadlines = fresh;
    }

    /// Asks the researcher for more information (the question goes to them from the
    /// pipeline): the assessment and fix clocks stand still until they answer or a
    /// maintainer resumes them.
    fn ask_researcher(&mut self, actor: &str, now: DateTime<Utc>) -> Result<(), String> {
        if self.status.is_closed() {
            return Err(format!(
                "{} is {}: nobody waits on the researcher",
                self.id,
                self.status.as_str()
            ));
        }
        if let Some((since, None)) = self.pauses().last() {
            return Err(format!(
                "{} already waits on the researcher (since {}): their answer, or --resume-clocks (X-NEEDS-INFO: no), resumes the clocks",
                self.id,
                crate::policy::human_time(*since)
            ));
        }
        self.events.push(Event::new(
            now,
            actor,
            crate::policy::clocks::PAUSE,
            Some("question sent to the researcher; assessment and fix clocks paused".into()),
        ));
        Ok(())
    }

    /// Resumes the clocks paused by a question: `by` says who (the researcher's
    /// answer, or a maintainer). Refused when nothing waits.
    pub(crate) fn resume_clocks(
        &mut self,
        actor: &str,
        why: &str,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<(), String> {
        if !self.waiting_on_researcher() {
            return Err(format!(
                "{} does not wait on the researcher: no clock is paused",
                self.id
            ));
        }
        self.events.push(Event::new(
            now,
            actor,
            crate::policy::clocks::RESUME,
            Some(why.to_string()),
        ));
        self.recompute_deadlines(policy, now);
        Ok(())
    }

    fn move_to(
        &mut self,
        to: Status,
        reason: Option<RejectReason>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let from = self.status;
        if from == to {
            return Err(format!("{} is already {}", self.id, to.as_str()));
        }
        if !from.next().contains(&to) {
            let allowed: Vec<&str> = from.next().iter().map(|s| s.as_str()).collect();
            return Err(format!(
                "{} cannot go from {} to {} (next: {})",
                self.id,
                from.as_str(),
                to.as_str(),
                if allowed.is_empty() {
                    "none, it is closed".to_string()
                } else {
                    allowed.join(", ")
                }
            ));
        }
        if to == Status::Disclosed
            && let Some(why) = self.embargo_forbids_disclosure(now)
        {
            return Err(why);
        }
        let mut note = format!("{} -> {}", from.as_str(), to.as_str());
        match to {
            Status::Rejected => {
                let reason = reason.ok_or_else(|| {
                    format!(
                        "rejecting needs a reason ({})",
                        RejectReason::NAMES.join(", ")
                    )
                })?;
                if let RejectReason::Duplicate { of } = &reason
                    && of == &self.id
                {
                    return Err("a report cannot duplicate itself".into());
                }
                note.push_str(&format!(" ({reason})"));
                self.triage.reject_reason = Some(reason);
            }
            Status::Triaged if from == Status::Rejected => {
                self.triage.reject_reason = None;
                note.push_str(" (reopened)");
            }
            _ => {}
        }
        if matches!(to, Status::Triaged | Status::Accepted | Status::Rejected) {
            self.milestones
                .entry(DeadlineName::InitialAssessment)
                .or_insert(now);
        }
        if to == Status::Fixed {
            self.milestones.entry(DeadlineName::Fix).or_insert(now);
        }
        self.status = to;
        self.events
            .push(Event::new(now, actor, "status", Some(note)));
        Ok(())
    }
}

/// A bare report for the unit tests of the rules on reports.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests_support {
    use super::*;
    use crate::config::Settings;
    use crate::store::records::{NewReport, ReportId};

    /// A report received at `now`, with the default policy's deadlines.
    pub(crate) fn report_at(now: DateTime<Utc>) -> Report {
        let policy = Settings::parse_toml("").unwrap().policy;
        let data: NewReport = serde_json::from_value(serde_json::json!({
            "received_at": now,
            "from": {"name": null, "address": "r@example.net"},
            "reply_to": null, "subject": null, "message_id": null,
            "content_sha256": "x", "form": "plain", "encrypted": false,
            "decrypted_with": null, "signature": "none", "signer_fingerprint": null,
            "signer_key_source": null, "reporter_key": null, "fields": {},
            "missing": [], "attachments": [], "body": "", "source_file": null,
            "deadlines": Deadlines::compute(&policy, now, None),
        }))
        .unwrap();
        data.into_report(ReportId::new("VR", 2026, 1))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn report() -> Report {
        tests_support::report_at(Utc::now())
    }

    fn to(status: Status) -> Change {
        Change {
            status: Some(status),
            ..Change::default()
        }
    }

    #[test]
    fn every_transition_follows_the_state_machine() {
        let policy = Settings::parse_toml("").unwrap().policy;
        let now = Utc::now();
        for from in Status::ALL {
            for target in Status::ALL {
                let mut r = report();
                r.status = from;
                let mut change = to(target);
                if target == Status::Rejected {
                    change.reason = Some(RejectReason::Spam);
                }
                let before = r.clone();
                let result = r.apply(&change, "cli:test", now, &policy);
                let allowed = from.next().contains(&target);
                assert_eq!(
                    result.is_ok(),
                    allowed,
                    "{from:?} -> {target:?}: {result:?}"
                );
                if allowed {
                    assert_eq!(r.status, target);
                    assert_eq!(r.events.len(), before.events.len() + 1);
                } else {
                    assert_eq!(r, before, "a refused change changes nothing");
                }
            }
        }
    }

    #[test]
    fn milestones_and_severity_move_the_deadlines() {
        let policy = Settings::parse_toml("").unwrap().policy;
        let now = Utc::now();
        let mut r = report();
        assert_eq!(r.data.deadlines.fix, None);
        let sev = Change {
            severity: Some(Severity::High),
            ..Change::default()
        };
        r.apply(&sev, "cli:test", now, &policy).unwrap();
        assert_eq!(
            r.data.deadlines.fix,
            Some(r.data.received_at + chrono::Duration::days(7))
        );
        r.escalated.push(DeadlineName::Fix);
        let crit = Change {
            severity: Some(Severity::Critical),
            ..Change::default()
        };
        r.apply(&crit, "cli:test", now, &policy).unwrap();
        assert!(
            !r.escalated.contains(&DeadlineName::Fix),
            "a new deadline, a new escalation"
        );
        r.apply(&to(Status::Triaged), "cli:test", now, &policy)
            .unwrap();
        assert_eq!(
            r.milestones.get(&DeadlineName::InitialAssessment),
            Some(&now)
        );
        assert!(
            r.apply(&Change::default(), "cli:test", now, &policy)
                .is_err()
        );
    }

    #[test]
    fn a_paused_deadline_is_neither_escalated_nor_due_and_moves_by_the_pause() {
        let policy = Settings::parse_toml("").unwrap().policy;
        let t0 = Utc::now();
        let mut r = tests_support::report_at(t0);
        let ia = r.data.deadlines.initial_assessment;
        let ask = Change {
            needs_info: Some(true),
            ..Change::default()
        };
        r.apply(&ask, "cli:bob", t0 + chrono::Duration::hours(1), &policy)
            .unwrap();
        let open: Vec<DeadlineName> = r.open_deadlines().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            open,
            vec![DeadlineName::Acknowledge],
            "no escalation while paused"
        );
        let late = t0 + chrono::Duration::days(30);
        let st = r.deadline_status(late);
        assert_eq!(
            st[&DeadlineName::InitialAssessment].state,
            crate::policy::DeadlineState::Paused
        );
        assert!(
            r.apply(&ask, "cli:bob", late, &policy).is_err(),
            "one wait at a time"
        );
        r.escalated.push(DeadlineName::InitialAssessment);
        r.resume_clocks(
            "r@example.net",
            "answered",
            t0 + chrono::Duration::hours(25),
            &policy,
        )
        .unwrap();
        assert_eq!(
            r.data.deadlines.initial_assessment,
            ia + chrono::Duration::hours(24)
        );
        assert!(
            !r.escalated.contains(&DeadlineName::InitialAssessment),
            "a moved deadline gets its own escalation"
        );
        assert!(
            r.open_deadlines()
                .iter()
                .any(|(n, _)| *n == DeadlineName::InitialAssessment)
        );
    }

    #[test]
    fn cwe_and_cve_ids_are_checked_and_normalised() {
        assert_eq!(Detail::Cwe.check(" cwe-79 ").unwrap(), "CWE-79");
        assert_eq!(
            Detail::Cve.check("cve-2026-12345").unwrap(),
            "CVE-2026-12345"
        );
        for bad in ["79", "CWE-", "CWE-7a", "CWE 79"] {
            assert!(Detail::Cwe.check(bad).is_err(), "{bad}");
        }
        for bad in [
            "CVE-2026-123",
            "CVE-26-1234",
            "2026-1234",
            "CVE-2026-12a4",
            "CVE-0999-1234",
        ] {
            assert!(Detail::Cve.check(bad).is_err(), "{bad}");
        }
        assert!(Detail::Title.check("one\ntwo").is_err());
        assert_eq!(Detail::FixedIn.check("").unwrap(), "");
    }

    #[test]
    fn a_follow_up_fills_only_what_nobody_gave() {
        let policy = Settings::parse_toml("").unwrap().policy;
        let now = Utc::now();
        let mut r = report();
        r.data.missing = vec![FieldName::AffectedVersions, FieldName::AffectedComponent];
        let set = Change {
            details: BTreeMap::from([(Detail::AffectedComponent, "core".to_string())]),
            ..Change::default()
        };
        r.apply(&set, "mail:bob@example.org", now, &policy).unwrap();
        let found = Fields {
            affected_versions: Some("2.0-2.3".into()),
            affected_component: Some("other".into()),
            ..Fields::default()
        };
        let filled = r.fill_missing(&found, "r@example.net", Some("m@x"), now);
        assert_eq!(filled, vec![Detail::AffectedVersions]);
        assert_eq!(r.detail(Detail::AffectedComponent), Some("core"));
        assert_eq!(r.detail(Detail::AffectedVersions), Some("2.0-2.3"));
        assert_eq!(r.data.missing, vec![FieldName::AffectedComponent]);
        let last = r.events.last().unwrap();
        assert_eq!(last.action, "fields_filled");
        assert_eq!(
            last.note.as_deref(),
            Some("affected_versions: (none) -> \"2.0-2.3\" (follow-up Message-ID m@x)")
        );
        assert!(
            r.fill_missing(&found, "r@example.net", None, now)
                .is_empty()
        );
    }

    #[test]
    fn assignees_are_configured_maintainers() {
        let m = |name: &str, address: &str| crate::config::Maintainer {
            name: name.into(),
            address: address.into(),
            key: "k.asc".into(),
        };
        let team = [m("Bob", "bob@example.org"), m("Carol", "carol@example.org")];
        assert_eq!(
            resolve_assignee(&team, "CAROL@example.org").unwrap(),
            "Carol"
        );
        assert_eq!(resolve_assignee(&team, "bob").unwrap(), "Bob");
        let team = [
            m("Bob M", "bob@example.org"),
            m("Carol M", "carol@example.org"),
        ];
        assert_eq!(resolve_assignee(&team, "carol").unwrap(), "Carol M");
        assert_eq!(resolve_assignee(&team, " ").unwrap(), "");
        let err = resolve_assignee(&team, "mallory").unwrap_err();
        assert!(err.contains("Bob M, Carol M"), "{err}");
    }
}
