//! One message from raw bytes to a recorded outcome: a report, a duplicate of one, a
//! skipped message, or a quarantined one.
//!
//! The order is the durability contract: parse → loop filter → decrypt and verify →
//! extract → one store transaction (outcome, dedupe entries, outgoing mail) → flush →
//! only then move the file out of `new/`. A crash anywhere replays the message and
//! dedupe makes the replay harmless. This is the only place, with `daemon`, that joins
//! the stages.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use chrono::Utc;
use sequoia_openpgp::{Cert, KeyHandle};
use tracing::{info, warn};

use crate::config::{Inbox, Settings};
use crate::crypto::{self, KeySource, Keyring, Team, open::CertLookup};
use crate::extract;
use crate::intake::{self, Envelope};
use crate::outbox::{self, Delivered, Transport};

use crate::policy::{self, Deadlines};
use crate::source::{Maildir, MaildirEntry, SourceError};
use crate::store::{
    AttachmentMeta, Commit, Correspondence, Direction, Event, IntakeKind, IntakeRecord, JobKind,
    NewJob, NewReport, OutcomeRef, Report, ReportId, Store, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Keys(#[from] crypto::KeyError),
    #[error(transparent)]
    Outbox(#[from] outbox::OutboxError),
    #[error(transparent)]
    Team(#[from] crypto::TeamError),
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Report(ReportId),
    /// A reporter's follow-up, added to its report.
    FollowUp(ReportId),
    Duplicate(OutcomeRef),
    Skipped(String),
    Quarantined(String),
}

impl Outcome {
    fn name(&self) -> &'static str {
        match self {
            Outcome::Report(_) => "report",
            Outcome::FollowUp(_) => "follow_up",
            Outcome::Duplicate(_) => "duplicate",
            Outcome::Skipped(_) => "skipped",
            Outcome::Quarantined(_) => "quarantined",
        }
    }
}

/// Messages of one intake batch with what became of them, in the order decided.
type Decided<'e> = Vec<(&'e MaildirEntry, Result<Outcome, PipelineError>)>;

/// How many Maildir messages share one store flush and one folder sync. A crash
/// loses none of them (each moves only after its outcome is durable); it makes at
/// most this many be handled again, as duplicates. One flush and one sync per
/// message made those the backlog's bottleneck.
pub const INTAKE_BATCH: usize = 32;

/// A batch being committed on its own thread, with the messages it holds.
type Committing<'s, 'e> = (
    std::thread::ScopedJoinHandle<'s, Decided<'e>>,
    Vec<&'e MaildirEntry>,
);

/// The result of a batch's commit thread; a panic there (a bug) leaves the batch in
/// the inbox, each message counted as deferred, and halts the pass.
fn join_commit<'e>((handle, entries): Committing<'_, 'e>) -> Decided<'e> {
    handle.join().unwrap_or_else(|_| {
        warn!("a batch commit failed; its messages wait for a later pass");
        entries
            .into_iter()
            .map(|entry| (entry, Err(PipelineError::Store(StoreError::BatchFailed))))
            .collect()
    })
}

impl Pass {
    /// Counts a batch's results; true when the pass should stop (see [`Pass::count`]).
    fn count_all(&mut self, decided: Decided<'_>) -> bool {
        let mut halt = false;
        for (entry, result) in decided {
            halt |= self.count(result, &entry.unique);
        }
        halt
    }

    /// Counts one message's result; returns true when the pass should stop because
    /// the store itself failed.
    pub fn count(&mut self, result: Result<Outcome, PipelineError>, name: &str) -> bool {
        match result {
            Ok(Outcome::Report(_)) => self.reports += 1,
            Ok(Outcome::FollowUp(_)) => self.followups += 1,
            Ok(Outcome::Duplicate(_)) => self.duplicates += 1,
            Ok(Outcome::Skipped(_)) => self.skipped += 1,
            Ok(Outcome::Quarantined(_)) => self.quarantined += 1,
            Err(e) => {
                self.deferred += 1;
                warn!(message = %name, error = %e, "message left in the inbox for a later pass");
                return matches!(e, PipelineError::Store(_));
            }
        }
        false
    }
}

/// Counts from one pass over the inbox.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub reports: usize,
    pub followups: usize,
    pub duplicates: usize,
    pub skipped: usize,
    pub quarantined: usize,
    /// Left in the inbox for a later pass (store or file system trouble).
    pub deferred: usize,
}

/// What the first digest calls new: reports received in the week before it.
pub const FIRST_DIGEST_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// A newly generated gateway key, reported to the operator once.
pub use crate::crypto::keys::Generated;

/// Signs of life from the inbox side: when it last got anywhere (a message handled,
/// a pass finished, a wait for mail returned), when it last finished a look at the
/// whole inbox, and how many messages it handled. The systemd watchdog is fed only
/// while these move; `status` shows them. Only the running process knows them:
/// nothing of it is stored.
#[derive(Debug, Default)]
pub struct Progress {
    /// Set by `serve`: a command run in its own process has no inbox loop to report.
    serving: AtomicBool,
    last_ms: AtomicI64,
    /// Unix milliseconds of the last completed pass; 0: none yet.
    last_pass_ms: AtomicI64,
    handled: AtomicU64,
}

impl Progress {
    /// Called by `serve` once its inbox loop starts.
    pub fn mark_serving(&self) {
        self.serving.store(true, Ordering::Relaxed);
    }

    pub fn beat(&self) {
        self.last_ms
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// Called by the inbox loop after each completed pass (or IMAP wait): a beat too.
    pub fn mark_pass(&self) {
        let now = Utc::now().timestamp_millis();
        self.last_pass_ms.store(now, Ordering::Relaxed);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Whether this process runs the inbox loop.
    pub fn serving(&self) -> bool {
        self.serving.load(Ordering::Relaxed)
    }

    /// Time since the last beat; `None` before the first.
    pub fn since_last(&self) -> Option<std::time::Duration> {
        let last = self.last_ms.load(Ordering::Relaxed);
        (last > 0).then(|| {
            let ms = Utc::now().timestamp_millis().saturating_sub(last).max(0);
            std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
        })
    }

    /// When the last pass completed, if one did in this process.
    pub fn last_pass(&self) -> Option<chrono::DateTime<Utc>> {
        match self.last_pass_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => chrono::DateTime::from_timestamp_millis(ms),
        }
    }

    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }
}

/// Everything a message needs, built once at start.
pub struct Pipeline {
    /// The inbox side's signs of life (see [`Progress`]).
    pub progress: Progress,
    pub settings: Settings,
    pub keyring: Keyring,
    /// The maintainers' keys.
    pub team: Team,
    pub store: Store,
    pub transport: Transport,
}

/// Where a message came from and where it will be put, for the records and logs.
#[derive(Debug, Clone)]
pub struct Origin {
    /// Short name for logs: the Maildir file's unique part, or `imap:<uid>`.
    pub name: String,
    /// Where the message will be once handled.
    pub handled_at: String,
    /// Where the message will be if quarantined.
    pub quarantine_at: String,
}

impl Pipeline {
    /// Opens the store, the inbox and the keys; generates a gateway key when there is
    /// none (returned so the caller can tell the operator what to publish).
    pub fn start(settings: Settings) -> Result<(Pipeline, Option<Generated>), PipelineError> {
        let mut generated = None;
        if Keyring::load(&settings.keys)?.is_empty() {
            generated = Some(Keyring::generate(
                &settings.keys.dir,
                &settings.gateway.name,
                &settings.gateway.address,
            )?);
        }
        Ok((Self::open(settings)?, generated))
    }

    /// Opens the store, the keys and the transport without generating anything: what
    /// the command line uses when no daemon is running.
    pub fn open(settings: Settings) -> Result<Pipeline, PipelineError> {
        let keyring = Keyring::load(&settings.keys)?;
        Self::with_keyring(settings, keyring)
    }

    /// As [`Pipeline::open`], with the secret keys left locked: for commands that only
    /// read and queue (the daemon signs when it sends), run by an operator who may not
    /// be able to read the key passphrase (a systemd credential).
    pub fn open_locked(settings: Settings) -> Result<Pipeline, PipelineError> {
        let keyring = Keyring::load_locked(&settings.keys)?;
        Self::with_keyring(settings, keyring)
    }

    fn with_keyring(settings: Settings, keyring: Keyring) -> Result<Pipeline, PipelineError> {
        let team = Team::load(&settings.maintainers)?;
        let store = Store::open(&settings.store.path)?;
        let transport = Transport::from_settings(&settings.outbox)?;
        Ok(Pipeline {
            progress: Progress::default(),
            settings,
            keyring,
            team,
            store,
            transport,
        })
    }

    /// The Maildir inbox, when that is the configured inbox.
    pub fn open_maildir(&self) -> Result<Option<Maildir>, PipelineError> {
        match &self.settings.inbox {
            Inbox::Maildir {
                path,
                quarantine_folder,
                ..
            } => Ok(Some(Maildir::open(path, quarantine_folder)?)),
            Inbox::Imap(_) => Ok(None),
        }
    }

    /// Handles everything waiting in a Maildir. Stops between messages when `stop`
    /// is set. Delivery is separate ([`Pipeline::deliver`]); `committed` is called
    /// each time a batch of outcomes became durable (its mail may go now).
    ///
    /// Messages are decided on every core, [`INTAKE_BATCH`] at a time; then one
    /// store flush makes the batch's outcomes durable, the files move, and one sync
    /// per folder makes the moves durable. That commit runs while the next batch is
    /// decided. The order per message is unchanged: stored, flushed, then moved.
    pub fn maildir_pass(
        &self,
        maildir: &Maildir,
        stop: &AtomicBool,
        committed: &(dyn Fn() + Sync),
    ) -> Result<Pass, PipelineError> {
        let entries = maildir.pending()?;
        let mut pass = Pass::default();
        std::thread::scope(|scope| {
            let mut commit: Option<Committing<'_, '_>> = None;
            let mut halted = false;
            for chunk in entries.chunks(INTAKE_BATCH) {
                if halted || stop.load(Ordering::Relaxed) {
                    break;
                }
                let decided = crate::workers::each(
                    crate::workers::cores(),
                    chunk,
                    Some(stop),
                    Vec::with_capacity(chunk.len()),
                    |entry| self.decide_entry(maildir, entry),
                    // A store failure halts the pass: the next messages would fail
                    // the same way.
                    |done, entry, result| {
                        let halt = matches!(result, Err(PipelineError::Store(_)));
                        done.push((entry, result));
                        halt
                    },
                );
                halted = decided
                    .iter()
                    .any(|(_, r)| matches!(r, Err(PipelineError::Store(_))));
                if let Some(previous) = commit.take() {
                    halted |= pass.count_all(join_commit(previous));
                }
                let entries = decided.iter().map(|(entry, _)| *entry).collect();
                let handle = scope.spawn(move || {
                    let done = self.commit_moves(maildir, decided);
                    committed();
                    done
                });
                commit = Some((handle, entries));
            }
            if let Some(last) = commit.take() {
                pass.count_all(join_commit(last));
            }
        });
        Ok(pass)
    }

    /// Reads and decides one Maildir message; moves nothing and flushes nothing.
    fn decide_entry(
        &self,
        maildir: &Maildir,
        entry: &MaildirEntry,
    ) -> Result<Outcome, PipelineError> {
        let origin = Origin {
            name: entry.unique.clone(),
            handled_at: maildir.seen_path(entry).display().to_string(),
            quarantine_at: maildir.quarantine_path(entry).display().to_string(),
        };
        match maildir.read(entry, self.settings.limits.max_message_bytes) {
            Ok(raw) => self.process(&raw, &origin),
            Err(SourceError::TooLarge { size, limit, .. }) => {
                self.record_oversized(&origin, size, limit)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Makes a batch of decided messages durable and moves them: one store flush,
    /// then the moves, then one sync per folder. A message whose move failed stays
    /// in the inbox and is handled again (a duplicate of its stored outcome).
    fn commit_moves<'e>(&self, maildir: &Maildir, decided: Decided<'e>) -> Decided<'e> {
        if decided.iter().any(|(_, r)| r.is_ok())
            && let Err(e) = self.store.flush()
        {
            // Nothing of the batch may move: its outcomes are not durable.
            warn!(error = %e, "store flush failed; the batch stays in the inbox");
            return decided
                .into_iter()
                .map(|(entry, r)| match r {
                    Ok(_) => (entry, Err(PipelineError::Store(StoreError::BatchFailed))),
                    Err(e) => (entry, Err(e)),
                })
                .collect();
        }
        let (mut seen, mut quarantined) = (false, false);
        let moved: Decided<'e> = decided
            .into_iter()
            .map(|(entry, result)| {
                let result = result.and_then(|outcome| {
                    let quarantine = self.belongs_in_quarantine(&outcome)?;
                    maildir.move_unsynced(entry, quarantine)?;
                    if quarantine {
                        quarantined = true;
                    } else {
                        seen = true;
                    }
                    Ok(outcome)
                });
                (entry, result)
            })
            .collect();
        if let Err(e) = maildir.sync_moves(seen, quarantined) {
            // The moves may not survive a power cut; if they do not, the messages
            // are handled again, as duplicates of their stored outcomes.
            warn!(error = %e, "could not sync the Maildir after moving a batch");
        }
        moved
    }

    /// Sends the queued mail that is due.
    pub fn deliver(&self) -> Result<Delivered, PipelineError> {
        Ok(outbox::deliver_due(&self.outbox(), Utc::now())?)
    }

    /// What the outbox needs to render and send.
    pub fn outbox(&self) -> outbox::Context<'_> {
        outbox::Context {
            store: &self.store,
            settings: &self.settings,
            keyring: &self.keyring,
            team: &self.team,
            transport: &self.transport,
        }
    }

    /// Records a message too large to read; it is quarantined unread.
    pub fn record_oversized(
        &self,
        origin: &Origin,
        size: u64,
        limit: u64,
    ) -> Result<Outcome, PipelineError> {
        let reason = crate::config::LimitExceeded {
            key: "max_message_bytes",
            limit,
            what: "message bytes",
            actual: size,
        }
        .to_string();
        self.quarantine_unread(origin, &reason, format!("unread:{}", origin.name))?;
        info!(message = %origin.name, outcome = "quarantined", reason = %reason, "message handled");
        Ok(Outcome::Quarantined(reason))
    }

    /// Records a quarantine for a message whose headers were never read.
    fn quarantine_unread(
        &self,
        origin: &Origin,
        reason: &str,
        sha256: String,
    ) -> Result<(), StoreError> {
        let record = IntakeRecord {
            at: Utc::now(),
            kind: IntakeKind::Quarantined,
            reason: reason.to_string(),
            file: Some(origin.quarantine_at.clone()),
            message_id: None,
            from: None,
            content_sha256: sha256,
        };
        self.store.record_intake(record, None).map(|_| ())
    }

    /// Whether the message goes to the quarantine folder rather than the handled one.
    pub fn belongs_in_quarantine(&self, outcome: &Outcome) -> Result<bool, PipelineError> {
        Ok(match outcome {
            Outcome::Quarantined(_) => true,
            Outcome::Duplicate(OutcomeRef::Intake(n)) => self.was_quarantined(*n)?,
            _ => false,
        })
    }

    /// Decides and records the outcome of one raw message, whatever its source.
    /// Moves nothing and flushes nothing: the caller calls [`Store::flush`] (once for
    /// several messages if it likes), and only then moves the message.
    pub fn process(&self, raw: &[u8], origin: &Origin) -> Result<Outcome, PipelineError> {
        // Fields are filled in as they become known; none of them is report content.
        let span = tracing::info_span!(
            "message",
            message = %origin.name,
            msg = tracing::field::Empty,
            report = tracing::field::Empty,
            encrypted = tracing::field::Empty,
            signature = tracing::field::Empty,
        );
        let _enter = span.enter();

        // A bug in a parser must cost one message, not the daemon.
        let decided = std::panic::catch_unwind(AssertUnwindSafe(|| self.decide(raw, origin)));
        self.progress.handled.fetch_add(1, Ordering::Relaxed);
        self.progress.beat();
        let outcome = match decided {
            Ok(result) => result?,
            Err(_) => {
                let reason = "internal error while processing this message".to_string();
                self.quarantine_unread(origin, &reason, intake::sha256_hex(raw))?;
                Outcome::Quarantined(reason)
            }
        };
        match &outcome {
            Outcome::Report(id) | Outcome::FollowUp(id) => {
                span.record("report", id.as_str());
                info!(outcome = outcome.name(), "message handled");
            }
            Outcome::Duplicate(prev) => {
                info!(outcome = outcome.name(), of = %prev, "message handled");
            }
            Outcome::Skipped(reason) | Outcome::Quarantined(reason) => {
                info!(outcome = outcome.name(), reason = %reason, "message handled");
            }
        }
        Ok(outcome)
    }

    fn was_quarantined(&self, seq: u64) -> Result<bool, StoreError> {
        Ok(self
            .store
            .intake_record(seq)?
            .is_some_and(|r| r.kind == IntakeKind::Quarantined))
    }

    /// Decides and records the outcome of one message; moves nothing.
    fn decide(&self, raw: &[u8], origin: &Origin) -> Result<Outcome, PipelineError> {
        #[cfg(test)]
        tests::maybe_panic(raw);
        let now = Utc::now();
        let quarantine_file = origin.quarantine_at.clone();
        let seen_file = origin.handled_at.clone();

        let msg = match intake::parse(raw) {
            Ok(m) => m,
            Err(e) => {
                let sha = intake::sha256_hex(raw);
                return self.record(
                    now,
                    IntakeKind::Quarantined,
                    e.to_string(),
                    &quarantine_file,
                    None,
                    &sha,
                    None,
                );
            }
        };
        let env = intake::envelope(&msg);
        tracing::Span::current().record(
            "msg",
            intake::log_tag(env.message_id.as_deref(), &env.content_sha256),
        );

        if let Some(prev) = self
            .store
            .seen(env.message_id.as_deref(), &env.content_sha256)?
        {
            // A message quarantined before may be readable now (the operator added
            // the missing key and moved it back): only real outcomes are duplicates.
            let quarantined = match &prev {
                OutcomeRef::Intake(n) => self.was_quarantined(*n)?,
                OutcomeRef::Report(_) => false,
            };
            if !quarantined {
                self.store.record_duplicate(IntakeRecord {
                    at: now,
                    kind: IntakeKind::Skipped,
                    reason: format!("duplicate of {prev}"),
                    file: Some(seen_file.clone()),
                    message_id: env.message_id.clone(),
                    from: env.from.as_ref().map(|m| m.address.clone()),
                    content_sha256: env.content_sha256.clone(),
                })?;
                return Ok(Outcome::Duplicate(prev));
            }
        }
        if let Some(skip) = intake::loop_check(&msg, &env, &self.settings.gateway.address) {
            return self.record(
                now,
                IntakeKind::Skipped,
                skip.to_string(),
                &seen_file,
                Some(&env),
                &env.content_sha256,
                None,
            );
        }
        let Some(sender) = env.reply_address().cloned() else {
            // Nobody to answer and nobody to credit: a maintainer has to look at it.
            return self.record(
                now,
                IntakeKind::Quarantined,
                "no sender address (From or Reply-To)".into(),
                &quarantine_file,
                Some(&env),
                &env.content_sha256,
                None,
            );
        };

        let autocrypt = self.autocrypt_keys(&env);
        let lookup = StoreLookup {
            keyring: &self.keyring,
            store: &self.store,
        };
        let limits = &self.settings.limits;
        let checked = intake::check_raw(raw, limits)
            .and_then(|()| intake::check_structure(&msg, limits))
            .map_err(crypto::OpenError::from);
        let opened = match checked
            .and_then(|()| crypto::open(raw, &self.keyring, &lookup, &autocrypt, limits))
        {
            Ok(o) => o,
            Err(e) => {
                let reason = e.to_string();
                // At most one notice per address a day: forged senders must not turn
                // the gateway into a source of backscatter.
                let rl = &self.settings.rate_limits;
                let allowed = self.store.take_notice_slot(
                    &sender.address,
                    now,
                    chrono_duration(rl.notice_window),
                )? && self.store.take_send_slot(&sender.address, now, rl)?;
                let reason = if allowed {
                    reason
                } else {
                    format!("{reason}; no notice sent (rate limit)")
                };
                let notice = allowed.then(|| {
                    NewJob::new(
                        JobKind::Unreadable {
                            reason: reason.clone(),
                            in_reply_to: env.message_id.clone(),
                            references: env.references.clone(),
                            subject: env.subject.clone(),
                        },
                        &sender.address,
                        now,
                    )
                });
                return self.record(
                    now,
                    IntakeKind::Quarantined,
                    reason,
                    &quarantine_file,
                    Some(&env),
                    &env.content_sha256,
                    notice,
                );
            }
        };

        // A copy of the gateway's own mail (a notification or an answer someone
        // captured and sent back) is never a report: it would be opened and quoted.
        if opened.gateway_signed {
            return self.record(
                now,
                IntakeKind::Quarantined,
                "signed by this gateway's own key: a copy of mail the gateway sent, not a report"
                    .into(),
                &quarantine_file,
                Some(&env),
                &env.content_sha256,
                None,
            );
        }

        let from = env.from.clone().unwrap_or_else(|| sender.clone());
        let signer_matches_from = opened
            .signer_cert
            .as_ref()
            .is_some_and(|c| crypto::cert_has_address(c, &from.address));
        self.learn_proven(&from.address, opened.proven.as_ref(), now)?;

        // Every text and HTML part in order (HTML rendered by the extractor).
        let text = opened.body_text(extract::html_to_text);
        // The protected Subject wins over an outer placeholder such as "...".
        let subject = opened
            .subject
            .clone()
            .or_else(|| env.subject.clone())
            .filter(|s| !s.trim().is_empty() && s.trim() != "...");
        // A maintainer answering a notification or digest from their mail client
        // writes to the gateway: that is neither a report nor a reporter's follow-up.
        if self.team.member(&from.address).is_some()
            && let Some(id) = self
                .referenced_reports(&env, subject.as_deref())?
                .into_iter()
                .next()
        {
            return self.record(
                now,
                IntakeKind::Skipped,
                format!(
                    "mail from maintainer {} about {id}: not relayed; answer the reporter with `disclosured reports reply {id}`",
                    from.address
                ),
                &seen_file,
                Some(&env),
                &env.content_sha256,
                None,
            );
        }
        let unverified_followup_of =
            match self.thread_target(&env, &from.address, &opened, subject.as_deref())? {
                Thread::Join(report) => {
                    return self.record_followup(
                        &report,
                        &env,
                        &from.address,
                        &opened,
                        subject,
                        text,
                        now,
                    );
                }
                Thread::Unverified(id) => Some(id),
                Thread::New => None,
            };
        let fields = extract::extract(subject.as_deref(), &text);
        let missing = fields.missing(&self.settings.policy.required_fields);

        let attachments = self.keep_attachments(&opened)?;

        // Answer with the key that signed the question, and with no other.
        let proven_key = opened.proven.as_ref().map(|p| p.fingerprint.clone());
        let reporter_key = opened
            .proven
            .as_ref()
            .filter(|p| crypto::can_encrypt_to(&p.cert))
            .map(|p| p.fingerprint.clone());
        let policy = &self.settings.policy;
        let hints = policy::hints(policy, &fields, &text, attachments.len());
        let deadlines = Deadlines::compute(policy, now, fields.severity());
        let report = NewReport {
            received_at: now,
            from,
            reply_to: env.reply_to.clone(),
            subject,
            message_id: env.message_id.clone(),
            content_sha256: env.content_sha256.clone(),
            form: opened.form,
            encrypted: opened.encrypted,
            decrypted_with: opened.decrypted_with.clone(),
            signature: opened.signature,
            signature_covers_all: opened.signature_covers_all,
            signer_matches_from,
            signer_fingerprint: opened.signer_fingerprint.clone(),
            signer_key_source: opened.signer_key_source,
            reporter_key,
            proven_key,
            proof_checked: true,
            unverified_followup_of,
            fields,
            missing,
            attachments,
            body: text,
            source_file: Some(seen_file),
            deadlines,
            hints,
            suppressed_ack: false,
        };
        // Over the rate limits the report is stored all the same, unanswered, and
        // says so: a flood of forged reports must not make the gateway a spam cannon.
        let ack = if self
            .store
            .take_send_slot(&sender.address, now, &self.settings.rate_limits)?
        {
            Some(NewJob::new(JobKind::Ack, &sender.address, now))
        } else {
            warn!("acknowledgement not sent: rate limit");
            None
        };
        let mut report = report;
        report.suppressed_ack = ack.is_none();
        let mut jobs: Vec<NewJob> = ack.into_iter().collect();
        if self.settings.notify.new_reports {
            jobs.extend(self.to_maintainers(JobKind::NewReport, now));
        }
        match self
            .store
            .commit_report(&self.settings.gateway.report_id_prefix, report, jobs)?
        {
            Commit::Stored(OutcomeRef::Report(id)) => {
                let span = tracing::Span::current();
                span.record("encrypted", opened.encrypted);
                span.record("signature", opened.signature.as_str());
                Ok(Outcome::Report(id))
            }
            Commit::Stored(other) | Commit::Duplicate(other) => {
                // Another worker stored the same message a moment ago.
                self.store.record_duplicate(IntakeRecord {
                    at: now,
                    kind: IntakeKind::Skipped,
                    reason: format!("duplicate of {other}"),
                    file: Some(origin.handled_at.clone()),
                    message_id: env.message_id.clone(),
                    from: env.from.as_ref().map(|m| m.address.clone()),
                    content_sha256: env.content_sha256.clone(),
                })?;
                Ok(Outcome::Duplicate(other))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        now: chrono::DateTime<Utc>,
        kind: IntakeKind,
        reason: String,
        file: &str,
        env: Option<&Envelope>,
        sha256: &str,
        notice: Option<NewJob>,
    ) -> Result<Outcome, PipelineError> {
        let record = IntakeRecord {
            at: now,
            kind,
            reason: reason.clone(),
            file: Some(file.to_string()),
            message_id: env.and_then(|e| e.message_id.clone()),
            from: env.and_then(|e| e.from.as_ref().map(|m| m.address.clone())),
            content_sha256: sha256.to_string(),
        };
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

    /// Keys from the Autocrypt header, if it is for the sender's own address, within
    /// the same limits as keys a message attaches (`limits.max_key_bytes`, `max_keys`).
    fn autocrypt_keys(&self, env: &Envelope) -> Vec<(Cert, KeySource)> {
        let (Some(ac), Some(from)) = (&env.autocrypt, &env.from) else {
            return Vec::new();
        };
        let limits = &self.settings.limits;
        if !ac.addr.eq_ignore_ascii_case(&from.address)
            || ac.keydata.len() as u64 > limits.max_key_bytes
        {
            return Vec::new();
        }
        crypto::parse_certs(&ac.keydata)
            .0
            .into_iter()
            .take(usize::try_from(limits.max_keys).unwrap_or(usize::MAX))
            .map(|c| (c.strip_secret_key_material(), KeySource::Autocrypt))
            .collect()
    }

    /// Keeps the certificate this message proved (a bounded copy, merged with what
    /// is kept under its fingerprint) so that later signatures by it verify and
    /// answers to this report can be encrypted to it, and notes that the sender's
    /// address used it. Nothing here changes the key any other report is answered
    /// with: reports name their own proven key.
    fn learn_proven(
        &self,
        address: &str,
        proven: Option<&crypto::Proven>,
        now: chrono::DateTime<Utc>,
    ) -> Result<(), StoreError> {
        use sequoia_openpgp::serialize::SerializeInto;
        let Some(proven) = proven else {
            return Ok(());
        };
        self.store
            .note_address_key(address, &proven.fingerprint, now)?;
        // Pre-loaded keys are the sysadmin's to manage.
        if proven.source == KeySource::ReportersDir {
            return Ok(());
        }
        let before = self.store.learnt_cert(&proven.fingerprint)?;
        let stored = before.as_deref().and_then(|bytes| {
            crypto::parse_certs(bytes)
                .0
                .into_iter()
                .find(|c| c.fingerprint() == proven.cert.fingerprint())
        });
        let Some(merged) = crypto::certs::merge_bounded(stored, &proven.cert, address) else {
            return Ok(());
        };
        let Ok(bytes) = merged.to_vec() else {
            return Ok(());
        };
        if before.as_deref() == Some(bytes.as_slice()) {
            return Ok(());
        }
        let handles = crypto::certs::signing_handles(&merged);
        if self
            .store
            .learn_key(&proven.fingerprint, &handles, &bytes)?
        {
            info!(fingerprint = %proven.fingerprint, "learnt a reporter key");
        }
        Ok(())
    }
}

impl Pipeline {
    /// Stores a message's files by content hash; returns what the report records.
    fn keep_attachments(&self, opened: &crypto::Opened) -> Result<Vec<AttachmentMeta>, StoreError> {
        let mut attachments = Vec::new();
        for a in &opened.attachments {
            let sha256 = intake::sha256_hex(&a.data);
            self.store.put_attachment(&sha256, &a.data)?;
            attachments.push(AttachmentMeta {
                name: a.name.as_deref().map(intake::cap),
                content_type: intake::cap(&a.content_type),
                size: a.data.len() as u64,
                sha256,
            });
        }
        Ok(attachments)
    }

    /// One job of `kind` per maintainer.
    fn to_maintainers(&self, kind: JobKind, now: chrono::DateTime<Utc>) -> Vec<NewJob> {
        self.team
            .members()
            .iter()
            .map(|m| NewJob::new(kind.clone(), &m.address, now))
            .collect()
    }

    /// The report this message continues, if it references one (In-Reply-To or
    /// References naming a message of its thread, or its `[ID]` tag in the subject) and
    /// proves to come from that report's reporter. A report that proved a key takes
    /// follow-ups proved by the same key only, whatever their From says; a report
    /// that proved none, follow-ups from its address. A message from that address
    /// that fails the test is an unverified follow-up, kept as a report of its own;
    /// anyone else quoting a tag gets a new report, never access to the old one.
    fn thread_target(
        &self,
        env: &Envelope,
        from: &str,
        opened: &crypto::Opened,
        subject: Option<&str>,
    ) -> Result<Thread, StoreError> {
        let proven = opened.proven.as_ref().map(|p| p.fingerprint.as_str());
        let mut unverified = None;
        for id in self.referenced_reports(env, subject)? {
            let Some(report) = self.store.report(id.as_str())? else {
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
    fn referenced_reports(
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
                if let Some(r) = self.store.report(&tag)?
                    && !candidates.contains(&r.id)
                {
                    candidates.push(r.id);
                }
            }
        }
        Ok(candidates)
    }

    /// Adds a reporter's follow-up to its report and tells the maintainers.
    #[allow(clippy::too_many_arguments)]
    fn record_followup(
        &self,
        report: &Report,
        env: &Envelope,
        from: &str,
        opened: &crypto::Opened,
        subject: Option<String>,
        text: String,
        now: chrono::DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let attachments = self.keep_attachments(opened)?;
        // A follow-up without a Message-ID still needs one to be referenced by.
        let message_id = env
            .message_id
            .clone()
            .unwrap_or_else(|| format!("{}@no-message-id.invalid", env.content_sha256));
        let entry = Correspondence {
            direction: Direction::In,
            at: now,
            from: from.to_string(),
            to: self.settings.gateway.address.clone(),
            message_id: Some(message_id.clone()),
            subject: subject.map(|s| intake::cap(&s)),
            body: text,
            encrypted: opened.encrypted,
            signature: opened.signature,
            signer_fingerprint: opened.signer_fingerprint.clone(),
            attachments,
            actor: None,
        };
        let jobs = if self.settings.notify.correspondence {
            self.to_maintainers(JobKind::FollowUp { message_id }, now)
        } else {
            Vec::new()
        };
        match self
            .store
            .commit_followup(&report.id, entry, &env.content_sha256, jobs)?
        {
            Commit::Stored(_) => {
                let span = tracing::Span::current();
                span.record("encrypted", opened.encrypted);
                span.record("signature", opened.signature.as_str());
                Ok(Outcome::FollowUp(report.id.clone()))
            }
            Commit::Duplicate(prev) => Ok(Outcome::Duplicate(prev)),
        }
    }

    /// Time-driven work: one escalation per missed deadline, and the digest when its
    /// scheduled time has come. `now` is passed in so tests run on a fixed clock.
    pub fn scheduled(&self, now: chrono::DateTime<Utc>) -> Result<Scheduled, PipelineError> {
        let escalated = self.escalate(now)?;
        let digest = match self.store.last_digest()? {
            // The first digest is the first scheduled time after the gateway started.
            None => {
                self.store.commit_digest(now, Vec::new())?;
                false
            }
            Some(last) => {
                let d = &self.settings.digest;
                match policy::next_digest(d.schedule, d.timezone, last) {
                    Some(due) if due <= now => self.send_digest(now, false)?.is_some(),
                    _ => false,
                }
            }
        };
        Ok(Scheduled { escalated, digest })
    }

    /// Marks every deadline that passed unmet as escalated and queues one mail per
    /// maintainer about it. A deadline is escalated once, whatever the number of
    /// checks; a moved fix deadline is a new one.
    pub fn escalate(&self, now: chrono::DateTime<Utc>) -> Result<usize, PipelineError> {
        let mut count = 0;
        for (id, name) in self.store.due_deadlines(now)? {
            let jobs = if self.settings.notify.escalations {
                self.to_maintainers(JobKind::Escalation { deadline: name }, now)
            } else {
                Vec::new()
            };
            let before = self.store.report(id.as_str())?;
            let after = self.store.modify_report(id.as_str(), |r| {
                let due = r
                    .open_deadlines()
                    .into_iter()
                    .any(|(n, at)| n == name && at <= now);
                if !due {
                    return Ok(Vec::new());
                }
                r.escalated.push(name);
                r.events.push(Event::new(
                    now,
                    "system",
                    "escalated",
                    Some(format!(
                        "{} deadline missed; {} maintainer(s) told",
                        name.as_str(),
                        jobs.len()
                    )),
                ));
                Ok(jobs.clone())
            });
            match after {
                Ok(r) if before.is_some_and(|b| b.escalated.len() < r.escalated.len()) => {
                    warn!(report = %id, deadline = name.as_str(), "deadline missed: escalated");
                    count += 1;
                }
                Ok(_) => {}
                Err(StoreError::NoSuchReport(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if count > 0 {
            self.store.flush()?;
        }
        Ok(count)
    }

    /// The digest as it would be sent now. "New" means since the last digest; before
    /// the first one, the last [`FIRST_DIGEST_WINDOW`] (a store that has run for years
    /// without digests would otherwise list every report it ever received).
    pub fn digest(
        &self,
        now: chrono::DateTime<Utc>,
    ) -> Result<outbox::digest::Digest, PipelineError> {
        let since = self
            .store
            .last_digest()?
            .unwrap_or(now - FIRST_DIGEST_WINDOW);
        let reports = self.store.report_heads()?;
        Ok(outbox::digest::Digest::build(&reports, Some(since), now))
    }

    /// Queues the digest to every maintainer, unless it has nothing to say and the
    /// configuration says to skip it then (`force` sends it all the same). Returns the
    /// digest when it was queued.
    pub fn send_digest(
        &self,
        now: chrono::DateTime<Utc>,
        force: bool,
    ) -> Result<Option<outbox::digest::Digest>, PipelineError> {
        let digest = self.digest(now)?;
        if digest.is_empty() && !self.settings.digest.send_when_empty && !force {
            // Nothing to say: the next digest still covers from the last one sent.
            info!("digest skipped: nothing to report");
            let d = &self.settings.digest;
            // Move the schedule on so this is not retried every tick.
            let last = self.store.last_digest()?.unwrap_or(now);
            if policy::next_digest(d.schedule, d.timezone, last).is_some_and(|due| due <= now) {
                self.store.commit_digest(now, Vec::new())?;
            }
            return Ok(None);
        }
        let kind = JobKind::Digest {
            text: digest.text(),
            subject: digest.subject(),
        };
        let jobs = self.to_maintainers(kind, now);
        info!(
            maintainers = jobs.len(),
            overdue = digest.overdue.len(),
            new = digest.new.len(),
            "digest queued"
        );
        self.store.commit_digest(now, jobs)?;
        Ok(Some(digest))
    }
}

/// Where a message that refers to reports belongs.
enum Thread {
    /// A report of its own.
    New,
    /// A follow-up of this report, proved to come from its reporter.
    Join(Box<Report>),
    /// A report of its own that claims to continue this one without the proof.
    Unverified(ReportId),
}

/// What one round of time-driven work did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scheduled {
    pub escalated: usize,
    pub digest: bool,
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

fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Reporters' keys for signature checks: pre-loaded ones, then learnt ones.
struct StoreLookup<'a> {
    keyring: &'a Keyring,
    store: &'a Store,
}

impl CertLookup for StoreLookup<'_> {
    /// Every certificate that may have made a signature by `handle`: pre-loaded ones
    /// and learnt ones that hold it as a bound signing key.
    fn lookup(&self, handle: &KeyHandle) -> Vec<(Cert, KeySource)> {
        let mut found: Vec<(Cert, KeySource)> = self
            .keyring
            .reporters()
            .iter()
            .filter(|c| crypto::certs::signs_with(c, handle))
            .map(|c| (c.clone(), KeySource::ReportersDir))
            .collect();
        match self.store.learnt_signers(&handle.to_hex()) {
            Ok(certs) => {
                for bytes in certs {
                    for cert in crypto::parse_certs(&bytes).0 {
                        if crypto::certs::signs_with(&cert, handle)
                            && !found
                                .iter()
                                .any(|(c, _)| c.fingerprint() == cert.fingerprint())
                        {
                            found.push((cert, KeySource::Learnt));
                        }
                    }
                }
            }
            // The signature is then judged as by an unknown key: the report is kept
            // and says so; the store's trouble shows in the log and at the commit.
            Err(e) => warn!(error = %e, "could not read the learnt keys"),
        }
        found
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    /// Stands in for a bug in a parser: the unit tests' builds only.
    pub(super) fn maybe_panic(raw: &[u8]) {
        if raw.windows(14).any(|w| w == b"X-Test-Panic: ") {
            panic!("simulated bug");
        }
    }

    fn pipeline(dir: &std::path::Path) -> Pipeline {
        let root = dir.display().to_string();
        let env = [
            ("DISCLOSURED__INBOX__PATH", format!("{root}/inbox")),
            ("DISCLOSURED__OUTBOX__PATH", format!("{root}/outbox")),
            ("DISCLOSURED__STORE__PATH", format!("{root}/state")),
            ("DISCLOSURED__KEYS__DIR", format!("{root}/keys")),
        ]
        .map(|(k, v)| (k.to_string(), v));
        Pipeline::start(Settings::load_with_env(None, env).unwrap())
            .unwrap()
            .0
    }

    #[test]
    fn a_panic_in_one_message_quarantines_it_and_the_next_one_is_handled() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline(dir.path());
        let maildir = p.open_maildir().unwrap().unwrap();
        maildir
            .deliver(
                "1.bug",
                b"From: a@example.net\r\nX-Test-Panic: yes\r\n\r\nTitle: x\r\n",
            )
            .unwrap();
        maildir
            .deliver(
                "2.ok",
                b"From: b@example.net\r\nSubject: r\r\n\r\nTitle: fine\r\n",
            )
            .unwrap();
        let pass = p
            .maildir_pass(&maildir, &AtomicBool::new(false), &|| ())
            .unwrap();
        assert_eq!((pass.quarantined, pass.reports), (1, 1));
        let records = p.store.intake_records().unwrap();
        assert_eq!(records.len(), 1);
        assert!(records[0].reason.contains("internal error"));
        assert!(dir.path().join("inbox/.Quarantine/new/1.bug").exists());
    }
}
