//! What maintainers change on a report, and the rules for it: the state machine, the
//! rejection reason, severity and CVSS overrides (which move the fix deadline), the
//! assignee, notes. Every change appends an event; nothing is ever removed from the
//! history.

use chrono::{DateTime, Utc};

use super::records::{DeadlineName, Deadlines, Event, RejectReason, Report, Status};
use crate::config::Policy;
use crate::extract::{Cvss, Severity};

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
        if let Some(to) = change.status {
            next.move_to(to, change.reason.clone(), actor, now)?;
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
            let fix = Deadlines::compute(policy, self.data.received_at, after).fix;
            if fix != self.data.deadlines.fix {
                self.data.deadlines.fix = fix;
                // A new fix deadline gets its own escalation when it passes.
                self.escalated.retain(|d| *d != DeadlineName::Fix);
                self.events.push(Event::new(
                    now,
                    "system",
                    "deadline",
                    Some(match fix {
                        Some(at) => format!("fix deadline now {}", crate::policy::human_time(at)),
                        None => "no fix deadline (unrated)".to_string(),
                    }),
                ));
            }
        }
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::store::records::{NewReport, ReportId};

    fn report() -> Report {
        let policy = Settings::parse_toml("").unwrap().policy;
        let now = Utc::now();
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
}
