//! Reminders before a deadline or an embargo's end (`notify.reminders`, once per
//! lead time and due time), the end of an embargo told to the researcher and the
//! team, and the researcher's short status when a deadline promised to them passes
//! unmet. `now` is passed in, so tests run on an injected clock.

use chrono::{DateTime, Utc};
use tracing::info;

use super::{Pipeline, PipelineError};
use crate::outbox;
use crate::policy::{DeadlineName, human_time};
use crate::store::{Event, JobKind, NewJob, Report, ReportId, StoreError};

/// How often the reminders look for embargo ends.
const EMBARGO_SCAN_EVERY: chrono::Duration = chrono::Duration::minutes(5);

/// One thing to remind maintainers of: a deadline or an embargo's end.
struct Due {
    id: ReportId,
    /// `fix`, `initial_assessment`, `acknowledge` or `embargo`.
    what: String,
    at: DateTime<Utc>,
    /// When its clock started (receipt; the embargo's start): a lead time that
    /// reaches back to it or before would remind of it as soon as it exists.
    start: DateTime<Utc>,
}

impl Due {
    fn key(&self) -> String {
        format!("{} {}", self.what, self.at.to_rfc3339())
    }
}

impl Pipeline {
    /// Reminds maintainers of what falls due within a lead time, and notes embargoes
    /// that reached their end. Returns how many reminders were queued.
    pub fn remind(&self, now: DateTime<Utc>) -> Result<usize, PipelineError> {
        let leads: Vec<chrono::Duration> = self
            .settings
            .notify
            .reminders
            .iter()
            .map(|d| crate::policy::chrono_duration(*d))
            .collect();
        let mut due: Vec<Due> = Vec::new();
        if let Some(longest) = leads.first() {
            // The open-deadline index holds what is neither met, closed, paused nor
            // escalated: what falls due within the longest lead.
            for (id, name) in self.store.due_deadlines(now + *longest)? {
                // The acknowledgement is the gateway's own, sent at once.
                if name == DeadlineName::Acknowledge {
                    continue;
                }
                if let Some(r) = self.store.report(&id)?
                    && let Some(at) = r.data.deadlines.get(name)
                    && at > now
                {
                    due.push(Due {
                        id,
                        what: name.as_str().to_string(),
                        at,
                        start: r.data.received_at,
                    });
                }
            }
        }
        let mut ended = Vec::new();
        if self.embargo_scan_due(now) {
            // A chunk of heads at a time, never the whole store at once.
            self.store.each_report_head(|r| {
                let Some(e) = &r.embargo else { return Ok(()) };
                if e.in_force(now) && leads.first().is_some_and(|l| e.end.at - *l <= now) {
                    due.push(Due {
                        id: r.id.clone(),
                        what: "embargo".into(),
                        at: e.end.at,
                        start: e.since.unwrap_or(e.end.at),
                    });
                } else if e.state == crate::store::EmbargoState::Active
                    && !e.in_force(now)
                    && !e.ended_noted
                {
                    ended.push(r.id.clone());
                }
                Ok(())
            })?;
        }
        let mut count = 0;
        for d in due {
            if self.remind_one(&d, &leads, now)? {
                count += 1;
            }
        }
        for id in ended {
            self.embargo_ended(&id, now)?;
        }
        Ok(count)
    }

    /// Whether to read every report for embargo ends now: at most every
    /// [`EMBARGO_SCAN_EVERY`] (lead times are hours or days; reading a large store on
    /// every check would not be), and again at once when the clock went back.
    fn embargo_scan_due(&self, now: DateTime<Utc>) -> bool {
        let Ok(mut last) = self.embargo_scan.lock() else {
            return true;
        };
        let due = last.is_none_or(|l| now < l || now - l >= EMBARGO_SCAN_EVERY);
        if due {
            *last = Some(now);
        }
        due
    }

    /// One reminder for the shortest lead time `d` is now within and no reminder was
    /// sent for; the longer ones it passed are marked as done with it.
    fn remind_one(
        &self,
        d: &Due,
        leads: &[chrono::Duration],
        now: DateTime<Utc>,
    ) -> Result<bool, PipelineError> {
        let key = d.key();
        let crossed: Vec<String> = leads
            .iter()
            .filter(|l| d.at - **l <= now && d.at - **l > d.start)
            .map(|l| format!("{key} {}", l.num_seconds()))
            .collect();
        // No lead crossed: nothing to record, so no transaction. Every open report
        // whose deadline falls within the longest lead comes here at every round: a
        // transaction each made a pass over a 10,000-report store cost 1.4 s of CPU
        // (BENCHMARKS.md, scale).
        if crossed.is_empty() {
            return Ok(false);
        }
        let result = self.store.modify_report(&d.id, |r| {
            let fresh: Vec<&String> = crossed.iter().filter(|k| !r.reminded.contains(k)).collect();
            if fresh.is_empty() {
                return Ok(Vec::new());
            }
            r.reminded.extend(fresh.into_iter().cloned());
            let text = reminder_text(r, d, now);
            r.events.push(Event::new(
                now,
                "system",
                "reminded",
                Some(format!("{} due {}", d.what, human_time(d.at))),
            ));
            Ok(self.to_maintainers(
                JobKind::TeamNotice {
                    text,
                    subject: format!("[{}] Reminder: {} due {}", r.id, d.what, human_time(d.at)),
                    in_reply_to: None,
                    references: Vec::new(),
                },
                now,
            ))
        });
        match result {
            Ok(r) => {
                let sent = r
                    .events
                    .last()
                    .is_some_and(|e| e.at == now && e.action == "reminded");
                if sent {
                    info!(report = %d.id, what = %d.what, "reminder queued");
                }
                Ok(sent)
            }
            Err(StoreError::NoSuchReport(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// An active embargo reached its end: recorded once, the researcher told (as of
    /// every embargo step) and the team too.
    fn embargo_ended(&self, id: &ReportId, now: DateTime<Utc>) -> Result<(), PipelineError> {
        let answer = self.answer_key_before(id)?;
        let message_id = outbox::new_message_id(&self.settings, "embargo");
        let result = self.store.modify_report(id, |r| {
            let before = r.events.len();
            if !r.note_embargo_end(now) {
                return Ok(Vec::new());
            }
            let mut jobs: Vec<NewJob> = self
                .embargo_notice(r, before, &answer, &message_id, "system", now)
                .into_iter()
                .collect();
            let text = format!(
                "The embargo of {id} has ended ({end}). The report may now be disclosed \
                 (reports set {id} --status disclosed, X-STATUS: disclosed).\n\n-- \n\
                 disclosured reports show {id}\n",
                id = r.id,
                end = r
                    .embargo
                    .as_ref()
                    .map(|e| e.end.display())
                    .unwrap_or_default(),
            );
            jobs.extend(self.to_maintainers(
                JobKind::TeamNotice {
                    text,
                    subject: format!("[{}] Embargo ended", r.id),
                    in_reply_to: None,
                    references: Vec::new(),
                },
                now,
            ));
            Ok(jobs)
        });
        match result {
            Ok(_) | Err(StoreError::NoSuchReport(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The researcher's short status when a deadline promised to them (the
    /// assessment, the fix) passed unmet: nothing of the report, only where it
    /// stands. `None` when not told (an event says why).
    pub(crate) fn late_notice(
        &self,
        r: &mut Report,
        name: DeadlineName,
        answer: &super::team_mail::AnswerKey,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Option<NewJob> {
        if !self.settings.notify.reporter_late || name == DeadlineName::Acknowledge {
            return None;
        }
        let at = r.data.deadlines.get(name)?;
        let what = match name {
            DeadlineName::Fix => "fix",
            _ => "initial assessment",
        };
        let body = format!(
            "A short status of your report {id}: our {what}, which we aimed to complete by \
             {at}, is late. The report is {status}; we are still working on it and will write \
             when it moves on.\n\n{follow}-- \n{team}\n",
            id = r.id,
            at = human_time(at),
            status = r.status.as_str(),
            follow = outbox::follow_up_text(r),
            team = self.settings.gateway.name,
        );
        let subject = format!("[{}] Status: still in progress", r.id);
        let told = self.researcher_mail(r, answer, message_id, subject, body, "system", now);
        let (action, note) = match &told {
            Ok(_) => (
                "researcher_told",
                format!("late {} deadline, Message-ID <{message_id}>", name.as_str()),
            ),
            Err(why) => (
                "researcher_not_told",
                format!("late {} deadline: {why}", name.as_str()),
            ),
        };
        r.events.push(Event::new(now, "system", action, Some(note)));
        told.ok()
    }
}

fn reminder_text(r: &Report, d: &Due, now: DateTime<Utc>) -> String {
    let left = d.at - now;
    let hours = left.num_hours();
    let when = if hours >= 48 {
        format!("in {} days", hours / 24)
    } else {
        format!("in {hours} hours")
    };
    let what = match d.what.as_str() {
        "embargo" => format!(
            "the embargo ends {} ({when})",
            r.embargo
                .as_ref()
                .map(|e| e.end.display())
                .unwrap_or_default()
        ),
        other => format!(
            "the {} deadline is {} ({when}): {}",
            other,
            human_time(d.at),
            DeadlineName::ALL
                .into_iter()
                .find(|n| n.as_str() == other)
                .map_or("", DeadlineName::milestone)
        ),
    };
    format!(
        "Reminder for {id}: {what}.\n\nStatus:    {status}\nSeverity:  {severity}\nAssignee:  {assignee}\n\n\
         -- \ndisclosured reports show {id}\n",
        id = r.id,
        status = r.status.as_str(),
        severity = r
            .severity()
            .map_or("unrated", crate::extract::Severity::as_str),
        assignee = r.triage.assignee.as_deref().unwrap_or("(none)"),
    )
}
