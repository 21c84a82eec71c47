//! Coordinated disclosure as the researcher hears of it: each embargo step (their
//! proposal received or unreadable, an embargo set, accepted, revised or exited) is
//! mailed to them through the same answer path as every answer (signed by the
//! gateway, encrypted to the key the report proved), and recorded as outgoing
//! correspondence with an event saying whether they were told. Runs inside the
//! store's transaction: the answer key is looked up before it.

use chrono::{DateTime, Utc};

use super::Pipeline;
use super::team_mail::AnswerKey;
use crate::outbox;
use crate::store::{Correspondence, Event, JobKind, NewJob, RejectReason, Report, Status};

/// The subject of the researcher's embargo mail (inside the encryption).
pub(crate) fn embargo_subject(id: &crate::store::ReportId) -> String {
    format!("[{id}] Embargo")
}

impl Pipeline {
    /// The researcher's mail about the embargo steps among `r`'s events from index
    /// `since` on (what one change or one follow-up just did), or `None` when there
    /// was none. An event records whether they were told, and why not.
    pub(crate) fn embargo_notice(
        &self,
        r: &mut Report,
        since: usize,
        answer: &AnswerKey,
        message_id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Option<NewJob> {
        let steps: Vec<String> = r
            .events
            .iter()
            .skip(since)
            .filter_map(|e| embargo_sentence(r, e))
            .collect();
        if steps.is_empty() {
            return None;
        }
        let body = format!(
            "{}\n\nThe embargo of {id} now: {state}.\n\n{follow}-- \n{team}\n",
            steps.join("\n\n"),
            id = r.id,
            state = r
                .embargo
                .as_ref()
                .map_or_else(|| "none".to_string(), |e| e.describe(now)),
            follow = outbox::follow_up_text(r),
            team = self.settings.gateway.name,
        );
        let told = self.researcher_mail(
            r,
            answer,
            message_id,
            embargo_subject(&r.id),
            body,
            actor,
            now,
        );
        let (action, note) = match &told {
            Ok(_) => (
                "researcher_told",
                format!("embargo mail, Message-ID <{message_id}>"),
            ),
            Err(why) => ("researcher_not_told", format!("embargo mail: {why}")),
        };
        r.events.push(Event::new(now, actor, action, Some(note)));
        told.ok()
    }

    /// The maintainers' question to the researcher (`--needs-info`): the clocks
    /// stand still until they answer.
    pub(crate) fn question_mail(
        &self,
        r: &mut Report,
        answer: &AnswerKey,
        message_id: &str,
        question: &str,
        now: DateTime<Utc>,
    ) -> Result<NewJob, String> {
        let body = format!(
            "The maintainers need more information about your report {id}:\n\n{q}\n\n\
             Until you answer, the clocks of our response targets for this report stand \
             still.\n\n{follow}-- \n{team}\n",
            id = r.id,
            q = question.trim_end().replace("\r\n", "\n"),
            follow = outbox::follow_up_text(r),
            team = self.settings.gateway.name,
        );
        let subject = format!("[{}] A question about your report", r.id);
        self.researcher_mail(r, answer, message_id, subject, body, "system", now)
    }

    /// What a reporter's follow-up does when the team waits on them: the clocks run
    /// again (an event names the follow-up), and the assignee, if a configured
    /// maintainer, is told. Inside the follow-up's transaction.
    pub(crate) fn researcher_answered(
        &self,
        r: &mut Report,
        reporter: &str,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Vec<NewJob> {
        let why = format!("the researcher answered (Message-ID {message_id})");
        if r.resume_clocks(reporter, &why, now, &self.settings.policy)
            .is_err()
        {
            return Vec::new();
        }
        let Some(m) = r
            .triage
            .assignee
            .as_deref()
            .and_then(|name| self.settings.maintainers.iter().find(|m| m.name == name))
        else {
            return Vec::new();
        };
        let d = &r.data.deadlines;
        let text = format!(
            "The researcher answered the question about {id}: the assessment and fix \
             clocks run again.\n\nAssessment due: {ia}\nFix due:        {fix}\n\n\
             Their answer is in the follow-up notice.\n\n-- \ndisclosured reports show {id}\n",
            id = r.id,
            ia = crate::policy::human_time(d.initial_assessment),
            fix = d
                .fix
                .map_or_else(|| "none (unrated)".to_string(), crate::policy::human_time),
        );
        vec![NewJob::new(
            JobKind::TeamNotice {
                text,
                subject: format!("[{}] The researcher answered", r.id),
                in_reply_to: None,
                references: Vec::new(),
            },
            &m.address,
            now,
        )]
    }

    /// A mail of the gateway's own to the researcher, recorded as outgoing
    /// correspondence; refused (with why) for a report rejected as spam, and for one
    /// that came encrypted when the answer would go in clear.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn researcher_mail(
        &self,
        r: &mut Report,
        answer: &AnswerKey,
        message_id: &str,
        subject: String,
        body: String,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<NewJob, String> {
        if r.status == Status::Rejected
            && matches!(r.triage.reject_reason, Some(RejectReason::Spam))
        {
            return Err("rejected as spam, which is never answered".into());
        }
        let encrypted = answer.encrypts_to(r);
        if !encrypted && r.data.encrypted {
            return Err(
                "the report came encrypted and proved no key that can receive encrypted mail, \
                 so the mail would go in clear"
                    .into(),
            );
        }
        let to = r.reporter_address().to_string();
        r.correspondence.push(Correspondence {
            subject: Some(subject),
            body,
            // The gateway's words, whoever made the change.
            actor: Some(if actor.starts_with("cli:") || actor.starts_with("mail:") {
                "system".to_string()
            } else {
                actor.to_string()
            }),
            ..self.gateway_entry(&to, message_id, encrypted, now)
        });
        Ok(NewJob {
            message_id: Some(message_id.to_string()),
            ..NewJob::new(JobKind::Reply, &to, now)
        })
    }
}

/// What the researcher is told of one embargo event; `None` for other events.
fn embargo_sentence(r: &Report, e: &Event) -> Option<String> {
    let id = &r.id;
    let note = e.note.as_deref().unwrap_or_default();
    Some(match e.action.as_str() {
        "embargo_proposed" => format!(
            "We received your proposed embargo for {id}: {note}. The maintainers will accept \
             it or answer you; until then nothing is agreed."
        ),
        "embargo_proposal_unreadable" => format!(
            "We could not read the embargo end in your message about {id}: {note}. Nothing \
             was proposed; please send it again in one of those forms."
        ),
        "embargo_proposal_ignored" => format!("Your proposed embargo for {id} was {note}."),
        "embargo_set" => format!(
            "The maintainers set an embargo on {id}, {note}. Please keep the details private \
             until then; we will tell you if it changes."
        ),
        "embargo_accepted" => format!(
            "The maintainers accepted the embargo on {id}: {note}. Please keep the details \
             private until then; we will tell you if it changes."
        ),
        "embargo_revised" => format!("The end of the embargo on {id} changed: {note}."),
        "embargo_exited" => format!("The embargo on {id} ended early: {note}."),
        "embargo_ended" => format!("The embargo on {id} has ended: {note}."),
        _ => return None,
    })
}
