//! Deciding one message: a short sequence of named steps over one context. Each step
//! either ends the message with a recorded outcome or hands it on:
//! parse → earlier outcome (dedupe) → loop filter → sender → open (decrypt, verify)
//! → the gateway's own mail → key request → keys → content → maintainers' mail (`team_mail`) → thread
//! → report.

use chrono::{DateTime, Utc};
use tracing::warn;

use super::message::{Content, Message};
use super::threads::Thread;
use super::{MessageError, Origin, Outcome, Pipeline, keys::StoreLookup};
use crate::crypto;
use crate::extract;
use crate::intake::{self, Mailbox};
use crate::policy::{self, Deadlines};
use crate::store::{Commit, IntakeKind, IntakeRecord, JobKind, NewJob, NewReport, OutcomeRef};

impl Pipeline {
    /// Decides and records the outcome of one message; moves nothing.
    pub(super) fn decide(&self, raw: &[u8], origin: &Origin) -> Result<Outcome, MessageError> {
        #[cfg(test)]
        super::tests::maybe_panic(raw);
        let now = Utc::now();
        let parsed = match intake::parse(raw) {
            Ok(m) => m,
            Err(e) => return self.refuse_unparsed(raw, origin, &e.to_string(), now),
        };
        let m = Message {
            raw,
            origin,
            now,
            env: intake::envelope(&parsed),
        };
        tracing::Span::current().record(
            "msg",
            intake::log_tag(m.env.message_id.as_deref(), &m.env.content_sha256),
        );
        if let Some(prev) = self.earlier_outcome(&m)? {
            return Ok(prev);
        }
        // A bounce of mail the gateway sent belongs on its report (before the loop
        // filter, which would only skip it).
        if let Some(dsn) = intake::delivery_status(&parsed)
            && let Some(recorded) = self.bounce(&m, &dsn)?
        {
            return Ok(recorded);
        }
        if let Some(skip) = intake::loop_check(&parsed, &m.env, &self.settings.gateway.address) {
            return self.record(&m, IntakeKind::Skipped, skip.to_string(), None);
        }
        let Some(sender) = m.env.reply_address().cloned() else {
            // Nobody to answer and nobody to credit: a maintainer has to look at it.
            let reason = "no sender address (From or Reply-To)".to_string();
            return self.record(&m, IntakeKind::Quarantined, reason, None);
        };
        let opened = match self.open_message(&parsed, &m) {
            Ok(o) => o,
            Err(e) => return self.unreadable(&m, &sender, e.to_string()),
        };
        // A copy of the gateway's own mail (a notification or an answer someone
        // captured and sent back) is never a report: it would be opened and quoted.
        if opened.gateway_signed {
            let reason =
                "signed by this gateway's own key: a copy of mail the gateway sent, not a report";
            return self.record(&m, IntakeKind::Quarantined, reason.into(), None);
        }
        if super::key_request::is_key_request(&opened, &m.env) {
            return self.answer_key_request(&m, &sender);
        }
        let from = m.env.from.clone().unwrap_or_else(|| sender.clone());
        self.learn_proven(&from.address, opened.proven.as_ref(), now)?;
        self.merge_revocations(&opened, &m.env)?;
        // A key this message brings may prove an earlier report its owner signed.
        let mut offered: Vec<(sequoia_openpgp::Cert, crypto::KeySource)> = opened
            .keys
            .iter()
            .map(|c| (c.clone(), crypto::KeySource::Attached))
            .collect();
        offered.extend(self.autocrypt_keys(&m.env));
        if self.store.any_awaiting_proof()? {
            // Keys the sysadmin pre-loaded since such a report came.
            offered.extend(
                self.keyring
                    .reporters()
                    .iter()
                    .map(|c| (c.clone(), crypto::KeySource::ReportersDir)),
            );
        }
        self.prove_late(&offered, now)?;
        let content = Content::of(opened, from, &m.env);
        if let Some(skipped) = self.maintainer_mail(&m, &content)? {
            return Ok(skipped);
        }
        let unverified = match self.thread_target(&m.env, &content)? {
            Thread::Join(report) => return self.record_followup(&report, &m, content),
            Thread::Unverified(id) => Some(id),
            Thread::New => None,
        };
        self.new_report(&m, &sender, content, unverified)
    }

    /// The earlier outcome of this message (same Message-ID or bytes), recorded again
    /// as a duplicate. A message quarantined before is not a duplicate: it may be
    /// readable now (the operator added the missing key and moved it back).
    fn earlier_outcome(&self, m: &Message<'_>) -> Result<Option<Outcome>, MessageError> {
        let env = &m.env;
        let Some(prev) = self
            .store
            .seen(env.message_id.as_deref(), &env.content_sha256)?
        else {
            return Ok(None);
        };
        let quarantined = match &prev {
            OutcomeRef::Intake(n) => self.was_quarantined(*n)?,
            OutcomeRef::Report(_) => false,
        };
        if quarantined {
            return Ok(None);
        }
        self.store.record_duplicate(IntakeRecord {
            at: m.now,
            kind: IntakeKind::Skipped,
            reason: format!("duplicate of {prev}"),
            file: Some(m.origin.handled_at.clone()),
            message_id: env.message_id.clone(),
            from: env.from.as_ref().map(|mb| mb.address.clone()),
            content_sha256: env.content_sha256.clone(),
        })?;
        Ok(Some(Outcome::Duplicate(prev)))
    }

    /// Checks the limits, then decrypts and verifies.
    fn open_message(
        &self,
        parsed: &mail_parser::Message<'_>,
        m: &Message<'_>,
    ) -> Result<crypto::Opened, crypto::OpenError> {
        let limits = &self.settings.limits;
        intake::check_raw(m.raw, limits)
            .and_then(|()| intake::check_structure(parsed, limits))
            .map_err(crypto::OpenError::from)?;
        let autocrypt = self.autocrypt_keys(&m.env);
        let lookup = StoreLookup {
            keyring: &self.keyring,
            store: &self.store,
            team: &self.team,
        };
        crypto::open(m.raw, &self.keyring, &lookup, &autocrypt, limits)
    }

    /// Quarantines a message that could not be opened; its sender gets a notice, at
    /// most one a day (forged senders must not turn the gateway into a source of
    /// backscatter) and within the rate limits.
    fn unreadable(
        &self,
        m: &Message<'_>,
        sender: &Mailbox,
        reason: String,
    ) -> Result<Outcome, MessageError> {
        let rl = &self.settings.rate_limits;
        let window = policy::chrono_duration(rl.notice_window);
        let allowed = self
            .store
            .take_notice_slot(&sender.address, m.now, window)?
            && self.store.take_send_slot(&sender.address, m.now, rl)?;
        let reason = if allowed {
            reason
        } else {
            format!("{reason}; no notice sent (rate limit)")
        };
        let notice = allowed.then(|| {
            NewJob::new(
                JobKind::Unreadable {
                    reason: reason.clone(),
                    in_reply_to: m.env.message_id.clone(),
                    references: m.env.references.clone(),
                    subject: m.env.subject.clone(),
                },
                &sender.address,
                m.now,
            )
        });
        self.record(m, IntakeKind::Quarantined, reason, notice)
    }

    /// Extracts, stores and answers a new report. Over the rate limits the report is
    /// stored all the same, unanswered, and says so: a flood of forged reports must
    /// not make the gateway a spam cannon.
    fn new_report(
        &self,
        m: &Message<'_>,
        sender: &Mailbox,
        c: Content,
        unverified_followup_of: Option<crate::store::ReportId>,
    ) -> Result<Outcome, MessageError> {
        let (now, env) = (m.now, &m.env);
        let fields = extract::extract(c.subject.as_deref(), &c.text);
        let attachments = self.keep_attachments(&c.opened)?;
        let ack = self
            .store
            .take_send_slot(&sender.address, now, &self.settings.rate_limits)?;
        if !ack {
            warn!("acknowledgement not sent: rate limit");
        }
        let signed: Vec<String> = c
            .opened
            .good_signatures
            .iter()
            .map(|(_, mark)| mark.digest.clone())
            .collect();
        let report = self.report_record(m, c, fields, attachments, unverified_followup_of, !ack);
        if let Some(issuer) = &report.unknown_signer {
            // Kept, so that the key can prove the report when it arrives.
            self.store.await_proof(issuer, &env.content_sha256, m.raw)?;
        }
        let mut jobs: Vec<NewJob> = Vec::new();
        if ack {
            jobs.push(NewJob::new(JobKind::Ack, &sender.address, now));
        }
        if self.settings.notify.new_reports {
            jobs.extend(self.to_maintainers(JobKind::NewReport, now));
        }
        let prefix = &self.settings.gateway.report_id_prefix;
        let (encrypted, signature) = (report.encrypted, report.signature);
        match self.store.commit_report(prefix, report, jobs)? {
            Commit::Stored(OutcomeRef::Report(id)) => {
                // Its signed text is taken now: it never comes back as a follow-up.
                self.store.mark_signatures_used(&signed, now)?;
                let span = tracing::Span::current();
                span.record("encrypted", encrypted);
                span.record("signature", signature.as_str());
                Ok(Outcome::Report(id))
            }
            Commit::Stored(other) | Commit::Duplicate(other) => {
                // Another worker stored the same message a moment ago.
                self.store.record_duplicate(IntakeRecord {
                    at: now,
                    kind: IntakeKind::Skipped,
                    reason: format!("duplicate of {other}"),
                    file: Some(m.origin.handled_at.clone()),
                    message_id: env.message_id.clone(),
                    from: env.from.as_ref().map(|mb| mb.address.clone()),
                    content_sha256: env.content_sha256.clone(),
                })?;
                Ok(Outcome::Duplicate(other))
            }
        }
    }

    /// The report as stored: what the message said, what it proved, what the policy
    /// makes of it.
    fn report_record(
        &self,
        m: &Message<'_>,
        c: Content,
        fields: extract::Fields,
        attachments: Vec<crate::store::AttachmentMeta>,
        unverified_followup_of: Option<crate::store::ReportId>,
        suppressed_ack: bool,
    ) -> NewReport {
        let (now, env, opened) = (m.now, &m.env, &c.opened);
        let policy = &self.settings.policy;
        NewReport {
            received_at: now,
            reply_to: env.reply_to.clone(),
            message_id: env.message_id.clone(),
            content_sha256: env.content_sha256.clone(),
            form: opened.form,
            encrypted: opened.encrypted,
            decrypted_with: opened.decrypted_with.clone(),
            signature: opened.signature,
            signature_covers_all: opened.signature_covers_all,
            signer_matches_from: opened
                .signer_cert
                .as_ref()
                .is_some_and(|cert| crypto::cert_has_address(cert, &c.from.address)),
            signer_fingerprint: opened.signer_fingerprint.clone(),
            signer_key_source: opened.signer_key_source,
            // Answer with the key that signed the question, and with no other.
            reporter_key: opened
                .proven
                .as_ref()
                .filter(|p| crypto::can_encrypt_to(&p.cert))
                .map(|p| p.fingerprint.clone()),
            proven_key: opened.proven.as_ref().map(|p| p.fingerprint.clone()),
            proof_checked: true,
            unverified_followup_of,
            missing: fields.missing(&policy.required_fields),
            hints: policy::hints(policy, &fields, &c.text, attachments.len())
                .into_iter()
                .chain(
                    opened
                        .legacy_cipher
                        .clone()
                        .map(|cipher| policy::Hint::LegacyCipher { cipher }),
                )
                .collect(),
            deadlines: Deadlines::compute(policy, now, fields.severity()),
            fields,
            attachments,
            from: c.from,
            subject: c.subject,
            body: c.text,
            source_file: Some(m.origin.handled_at.clone()),
            suppressed_ack,
            unknown_signer: (opened.signature == crypto::SignatureStatus::UnknownKey
                && opened.proven.is_none())
            .then(|| opened.unknown_issuers.first().cloned())
            .flatten(),
        }
    }

    /// Records a message that is not a report: skipped (kept with the handled mail)
    /// or quarantined, with its reason and the notice to send, if any.
    pub(super) fn record(
        &self,
        m: &Message<'_>,
        kind: IntakeKind,
        reason: String,
        notice: Option<NewJob>,
    ) -> Result<Outcome, MessageError> {
        let file = match kind {
            IntakeKind::Quarantined => &m.origin.quarantine_at,
            IntakeKind::Skipped => &m.origin.handled_at,
        };
        let record = IntakeRecord {
            at: m.now,
            kind,
            reason: reason.clone(),
            file: Some(file.clone()),
            message_id: m.env.message_id.clone(),
            from: m.env.from.as_ref().map(|mb| mb.address.clone()),
            content_sha256: m.env.content_sha256.clone(),
        };
        self.commit_record(record, notice)
    }

    /// Quarantines what is not a message at all (no header parses).
    fn refuse_unparsed(
        &self,
        raw: &[u8],
        origin: &Origin,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Outcome, MessageError> {
        let record = IntakeRecord {
            at: now,
            kind: IntakeKind::Quarantined,
            reason: reason.to_string(),
            file: Some(origin.quarantine_at.clone()),
            message_id: None,
            from: None,
            content_sha256: intake::sha256_hex(raw),
        };
        self.commit_record(record, None)
    }

    fn commit_record(
        &self,
        record: IntakeRecord,
        notice: Option<NewJob>,
    ) -> Result<Outcome, MessageError> {
        let (kind, reason) = (record.kind, record.reason.clone());
        Ok(match self.store.record_intake(record.clone(), notice)? {
            Commit::Duplicate(prev) => {
                // The same bytes were refused before; this copy gets its own line.
                self.store.record_duplicate(IntakeRecord {
                    reason: format!("duplicate of {prev}: {reason}"),
                    ..record
                })?;
                Outcome::Duplicate(prev)
            }
            Commit::Stored(_) => match kind {
                IntakeKind::Quarantined => Outcome::Quarantined(reason),
                IntakeKind::Skipped => Outcome::Skipped(reason),
            },
        })
    }
}
