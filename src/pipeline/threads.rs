//! Threading: which report a message continues, and recording a reporter's
//! follow-up. Headers and tags only name candidates; the key a report proved
//! decides who may continue it.

use tracing::{info, warn};

use super::message::{Content, Message};
use super::{MessageError, Outcome, Pipeline};
use crate::intake::{self, Envelope};
use crate::outbox;
use crate::store::{
    Commit, Correspondence, Direction, JobKind, NewJob, Report, ReportId, StoreError,
};

/// Where a message that refers to reports belongs.
pub(super) enum Thread {
    /// A report of its own.
    New,
    /// A follow-up of this report, proved to come from its reporter.
    Join(Box<Report>),
    /// A report of its own that claims to continue this one without the proof.
    Unverified(ReportId),
}

impl Pipeline {
    /// The report this message continues, if it references one (In-Reply-To or
    /// References naming a message of its thread, or its `[ID]` tag in the subject) and
    /// proves to come from that report's reporter. A report that proved a key takes
    /// follow-ups proved by the same key only, whatever their From says; a report
    /// that proved none, follow-ups from its address. A message from that address
    /// that fails the test is an unverified follow-up, kept as a report of its own;
    /// anyone else quoting a tag gets a new report, never access to the old one.
    pub(super) fn thread_target(&self, env: &Envelope, c: &Content) -> Result<Thread, StoreError> {
        let proven = c.opened.proven.as_ref().map(|p| p.fingerprint.as_str());
        let from = c.from.address.as_str();
        let mut unverified = None;
        for id in self.referenced_reports(env, c.subject.as_deref())? {
            let Some(report) = self.store.report(&id)? else {
                continue;
            };
            let same_address = from.eq_ignore_ascii_case(&report.data.from.address)
                || from.eq_ignore_ascii_case(report.reporter_address());
            let joins = match report.proven_key() {
                Some(key) => proven == Some(key),
                None => same_address,
            };
            if joins {
                return Ok(Thread::Join(Box::new(report)));
            }
            if same_address && unverified.is_none() {
                warn!(of = %report.id, "follow-up not signed by the key its report proved: kept as a report of its own");
                unverified = Some(report.id);
            } else {
                info!(of = %report.id, "message refers to a report of another sender: handled as a new report");
            }
        }
        Ok(unverified.map_or(Thread::New, Thread::Unverified))
    }

    /// The reports a message refers to: by the Message-IDs it answers, then by the
    /// `[ID]` tags in its subjects (protected, then outer).
    pub(super) fn referenced_reports(
        &self,
        env: &Envelope,
        subject: Option<&str>,
    ) -> Result<Vec<ReportId>, StoreError> {
        let mut candidates: Vec<ReportId> = Vec::new();
        for mid in env.in_reply_to.iter().chain(env.references.iter().rev()) {
            if let Some(id) = self.store.thread_of(mid)?
                && !candidates.contains(&id)
            {
                candidates.push(id);
            }
        }
        let prefix = &self.settings.gateway.report_id_prefix;
        for s in [subject, env.subject.as_deref()].into_iter().flatten() {
            for tag in report_tags(s, prefix) {
                if let Some(tag) = ReportId::parse(&tag)
                    && let Some(r) = self.store.report(&tag)?
                    && !candidates.contains(&r.id)
                {
                    candidates.push(r.id);
                }
            }
        }
        Ok(candidates)
    }

    /// Adds a reporter's follow-up to its report and tells the maintainers.
    pub(super) fn record_followup(
        &self,
        report: &Report,
        m: &Message<'_>,
        c: Content,
    ) -> Result<Outcome, MessageError> {
        let (env, now, opened) = (&m.env, m.now, &c.opened);
        let attachments = self.keep_attachments(opened)?;
        // A follow-up without a Message-ID still needs one to be referenced by.
        let message_id = env
            .message_id
            .clone()
            .unwrap_or_else(|| format!("{}@no-message-id.invalid", env.content_sha256));
        let answered_by = message_id.clone();
        let entry = Correspondence {
            direction: Direction::In,
            at: now,
            from: c.from.address.clone(),
            to: self.settings.gateway.address.clone(),
            message_id: Some(message_id.clone()),
            subject: c.subject.as_deref().map(intake::cap),
            body: c.text.clone(),
            encrypted: opened.encrypted,
            signature: opened.signature,
            signer_fingerprint: opened.signer_fingerprint.clone(),
            attachments,
            actor: None,
        };
        // Each notice has its own Message-ID, in the report's thread: a maintainer's
        // reply to it answers the reporter (see `team_mail`).
        let jobs = if self.settings.notify.correspondence {
            self.to_maintainers(JobKind::FollowUp { message_id }, now)
                .into_iter()
                .map(|job| NewJob {
                    message_id: Some(outbox::new_message_id(&self.settings, "followup")),
                    ..job
                })
                .collect()
        } else {
            Vec::new()
        };
        // Text the reporter signed is taken once: a captured follow-up (or the report
        // itself) sent again under a new Message-ID is not their new word.
        let signatures: Vec<&crate::crypto::SignatureMark> = opened
            .proven
            .iter()
            .flat_map(|p| p.signatures.iter())
            .collect();
        for sig in &signatures {
            if self.store.signature_used(&sig.digest)?
                || self.store.signature_used(&sig.packet_digest)?
            {
                return self.refuse_replayed_followup(m, report);
            }
        }
        let digests: Vec<String> = signatures.iter().map(|s| s.digest.clone()).collect();
        // A signed follow-up answering "what we still need" ("Affected versions:
        // 2.0-2.3") fills the details nobody has given yet; quoted text (the
        // acknowledgement's own list) is not the researcher's answer.
        let found = opened
            .proven
            .is_some()
            .then(|| crate::extract::labelled(&super::commands::relayable(&c.text)));
        // A signed follow-up may propose an embargo end ("Disclosure date: ..."); the
        // researcher hears it was received, in the same transaction.
        let proposal = opened
            .proven
            .is_some()
            .then(|| crate::policy::embargo::proposed_in(&super::commands::relayable(&c.text)))
            .flatten();
        let answer = self.answer_key_before(&report.id)?;
        let embargo_id = outbox::new_message_id(&self.settings, "embargo");
        let reporter = c.from.address.clone();
        // A follow-up that proves the reporter (it reached here through the thread
        // rules) answers a question the team asked: the clocks run again.
        let also = |r: &mut Report| -> Vec<NewJob> {
            let mut jobs = if r.waiting_on_researcher() {
                self.researcher_answered(r, &reporter, &answered_by, now)
            } else {
                Vec::new()
            };
            let Some(proposed) = &proposal else {
                return jobs;
            };
            let before = r.events.len();
            r.propose_embargo(proposed.clone(), &reporter, now);
            jobs.extend(self.embargo_notice(r, before, &answer, &embargo_id, &reporter, now));
            jobs
        };
        let credit = credit_reply(report, opened, &c.text);
        match self.store.commit_followup(
            &report.id,
            entry,
            &env.content_sha256,
            &digests,
            crate::store::FollowUpRead {
                found: found.as_ref(),
                credit: credit.as_ref(),
            },
            jobs,
            &also,
        ) {
            Ok(Commit::Stored(_)) => {
                let span = tracing::Span::current();
                span.record("encrypted", opened.encrypted);
                span.record("signature", opened.signature.as_str());
                Ok(Outcome::FollowUp(report.id.clone()))
            }
            Ok(Commit::Duplicate(prev)) => Ok(Outcome::Duplicate(prev)),
            Err(StoreError::Refused(_)) => self.refuse_replayed_followup(m, report),
            Err(e) => Err(e.into()),
        }
    }

    /// Quarantines a follow-up whose signature was taken before; nobody is answered
    /// (its From is anyone's to write).
    fn refuse_replayed_followup(
        &self,
        m: &Message<'_>,
        report: &Report,
    ) -> Result<Outcome, MessageError> {
        warn!(of = %report.id, "follow-up with a signature taken before: refused");
        let reason = format!(
            "replayed: a follow-up of {} whose signature was already taken (a signature \
             is taken once, whatever Message-ID it comes under)",
            report.id
        );
        self.record(m, crate::store::IntakeKind::Quarantined, reason, None)
    }
}

/// What a follow-up says about the researcher's credit. Credits are the researcher's
/// to give: a `Credit:` line counts only in a reply that proves the key the report
/// proved (a good signature over all of it, inside the encryption); a report that
/// proved no key cannot be credited by mail, since anyone may write from its address.
/// Quoted text (the acknowledgement's own example) is not the researcher's answer.
fn credit_reply(
    report: &Report,
    opened: &crate::crypto::Opened,
    text: &str,
) -> Option<crate::store::CreditReply> {
    let said = crate::store::credit_from_reply(&super::commands::relayable(text))?;
    let proven = opened.proven.as_ref().map(|p| p.fingerprint.as_str());
    Some(match report.proven_key() {
        Some(key) if proven == Some(key) => crate::store::CreditReply::Chosen(said),
        _ => crate::store::CreditReply::Unproven,
    })
}

/// `[PREFIX-YYYY-NNNN]` tags in a subject.
fn report_tags(subject: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = subject;
    while let Some(start) = rest.find('[') {
        let after = rest.get(start + 1..).unwrap_or_default();
        let Some(end) = after.find(']') else {
            break;
        };
        let tag = after.get(..end).unwrap_or_default().trim();
        if tag.len() <= 40
            && tag
                .get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
            && ReportId::parse_numbers(tag).is_some()
        {
            out.push(tag.to_string());
        }
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out
}

impl Pipeline {
    /// A delivery status notification about mail the gateway sent for a report (its
    /// original Message-ID is in that report's thread, and is not one of the
    /// researcher's own messages) is recorded on that report, and the message is
    /// kept as handled, never answered. Anyone can write such a notification, so it
    /// only adds a line to the report's history, marked as what the mail system says.
    /// Other notifications go on to the loop filter.
    pub(super) fn bounce(
        &self,
        m: &Message<'_>,
        dsn: &intake::Dsn,
    ) -> Result<Option<Outcome>, MessageError> {
        let Some(mid) = dsn.original_message_id.as_deref() else {
            return Ok(None);
        };
        let Some(id) = self.store.thread_of(mid)? else {
            return Ok(None);
        };
        let Some(report) = self.store.report(&id)? else {
            return Ok(None);
        };
        let theirs = report.data.message_id.as_deref() == Some(mid)
            || report
                .correspondence
                .iter()
                .any(|c| c.direction == Direction::In && c.message_id.as_deref() == Some(mid));
        if theirs {
            return Ok(None);
        }
        let said = if dsn.failed() {
            "could not be delivered"
        } else {
            "delivery status"
        };
        let note = format!(
            "mail the gateway sent (Message-ID <{}>) {said}, says a delivery status notification from {}: {}",
            intake::one_line(mid, 200),
            m.env
                .from
                .as_ref()
                .map_or("an unknown sender", |f| f.address.as_str()),
            dsn.summary()
        );
        let at = m.now;
        self.store.modify_report(&id, |r| {
            // A replay of the same notification after a crash says it once.
            if !r
                .events
                .iter()
                .any(|e| e.note.as_deref() == Some(note.as_str()))
            {
                r.events.push(crate::store::Event::new(
                    at,
                    "system",
                    "bounce received",
                    Some(note.clone()),
                ));
            }
            Ok(Vec::new())
        })?;
        info!(report = %id, "delivery status notification recorded on its report");
        let reason = format!("delivery status notification for {id}: recorded on the report");
        self.record(m, crate::store::IntakeKind::Skipped, reason, None)
            .map(Some)
    }
}
