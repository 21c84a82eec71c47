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
        let before = next.severity();
        if let Some(cvss) = &change.cvss {
            next.triage.cvss = Some(cvss.clone());
            next.events.push(Event::new(
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
            next.triage.severity = Some(severity);
        }
        let after = next.severity();
        if before != after || change.severity.is_some() {
            next.events.push(Event::new(
                now,
                actor,
                "severity",
                Some(format!(
                    "{} -> {}",
                    before.map_or("unrated", Severity::as_str),
                    after.map_or("unrated", Severity::as_str)
                )),
            ));
            let fix = Deadlines::compute(policy, next.data.received_at, after).fix;
            if fix != next.data.deadlines.fix {
                next.data.deadlines.fix = fix;
                // A new fix deadline gets its own escalation when it passes.
                next.escalated.retain(|d| *d != DeadlineName::Fix);
                next.events.push(Event::new(
                    now,
                    "system",
                    "deadline",
                    Some(match fix {
                        Some(at) => format!("fix deadline now {}", at.to_rfc3339()),
                        None => "no fix deadline (unrated)".to_string(),
                    }),
                ));
            }
        }
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
