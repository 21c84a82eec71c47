//! One message from raw bytes to a recorded outcome: a report, a follow-up, a
//! duplicate of one, a skipped message, or a quarantined one; and the time-driven
//! work on what is stored (escalations, digests).
//!
//! The order is the durability contract: parse → loop filter → decrypt and verify →
//! extract → one store transaction (outcome, dedupe entries, outgoing mail). Nothing
//! here flushes or moves a message: the inbox drivers in `daemon` flush, then move
//! (`daemon::driver`). A crash anywhere replays the message and dedupe makes the
//! replay harmless. This is the only place, with `daemon`, that joins the stages.
//!
//! - [`decide`]: the steps of deciding one message, over one context ([`message`]).
//! - [`key_request`]: an unencrypted `Subject: key` mail answered with our key.
//! - [`keys`]: reporters' keys: Autocrypt, the proven certificate, signer look-ups.
//! - [`threads`]: which report a message continues; follow-ups.
//! - [`team_mail`]: maintainers' signed mail: commands, relayed answers, refusals.
//! - [`commands`]: the command lines of a maintainer's mail, parsed.
//! - [`schedule`]: escalations and digests.
//! - [`error`]: what a failure means for the caller.
//! - [`publication`]: the published tree (security.txt, WKD, policy page) kept current.
//! - [`progress`]: signs of life for the watchdog and `status`.

mod commands;
mod decide;
mod disclosure;
mod error;
mod key_request;
mod keys;
mod message;
mod progress;
mod publication;
mod reminders;
mod schedule;
pub(crate) mod store_key;
mod team_mail;
mod threads;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;

use chrono::Utc;
use tracing::info;

use crate::config::{Inbox, Settings};
use crate::crypto::{self, Keyring, Team};
use crate::intake;
use crate::outbox::{self, Delivered, Transport};
use crate::source::Maildir;
use crate::store::{
    AttachmentMeta, HeldKind, IntakeKind, IntakeRecord, JobKind, NewJob, OutcomeRef, ReportId,
    Store, StoreError,
};

pub(crate) use error::{MessageError, NextStep, PipelineError};
pub(crate) use progress::Progress;
pub(crate) use team_mail::{StatusAsk, is_taken_reason};

/// A newly generated gateway key, reported to the operator once.
pub(crate) use crate::crypto::keys::Generated;

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
    /// When the reminders last read every report for embargo ends (see
    /// `reminders`): not on every check, which runs every few seconds.
    pub(crate) embargo_scan: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
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
        let generated = Self::generate_if_keyless(&settings)?;
        let pipeline = Self::open(settings)?;
        pipeline.settle_previous_run()?;
        Ok((pipeline, generated))
    }

    /// What the last process left in hand when it stopped: each message or job the
    /// watchdog saw stalled gains a stop, and is said in the log.
    fn settle_previous_run(&self) -> Result<(), StoreError> {
        for held in self.store.settle_previous_run()? {
            let what = held.kind.name();
            if held.set_aside() {
                tracing::error!(
                    kind = what,
                    name = %held.name,
                    stops = held.stops.len(),
                    "this {what} stopped the daemon twice (in hand past the stall limit): it is set aside now, not handled again"
                );
            } else {
                tracing::error!(
                    kind = what,
                    name = %held.name,
                    stops = held.stops.len(),
                    "this {what} was in hand past the stall limit when the daemon stopped: it is tried once more, alone, after the others; a second stop sets it aside"
                );
            }
        }
        Ok(())
    }

    fn generate_if_keyless(settings: &Settings) -> Result<Option<Generated>, PipelineError> {
        if !Keyring::load(&settings.keys)?.is_empty() {
            return Ok(None);
        }
        Ok(Some(Keyring::generate(
            &settings.keys.dir,
            &settings.gateway.name,
            &settings.gateway.address,
        )?))
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
        let store = store_key::open_store(&settings.store)?;
        Self::assemble(settings, keyring, store)
    }

    /// The pipeline for a new configuration (SIGHUP) around the store already open:
    /// `store.path` cannot change while running, and the store's lock is never let go.
    pub fn reload(
        settings: Settings,
        store: Store,
    ) -> Result<(Pipeline, Option<Generated>), PipelineError> {
        let generated = Self::generate_if_keyless(&settings)?;
        let keyring = Keyring::load(&settings.keys)?;
        Ok((Self::assemble(settings, keyring, store)?, generated))
    }

    fn assemble(
        settings: Settings,
        keyring: Keyring,
        store: Store,
    ) -> Result<Pipeline, PipelineError> {
        let team = Team::load(&settings.maintainers)?;
        let transport = Transport::from_settings(&settings.outbox)?;
        Ok(Pipeline {
            progress: Progress::default(),
            settings,
            keyring,
            team,
            store,
            transport,
            embargo_scan: std::sync::Mutex::new(None),
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
            handling: &self.progress.handling,
        }
    }

    /// Records a message too large to read; it is quarantined unread.
    pub fn record_oversized(
        &self,
        origin: &Origin,
        size: u64,
        limit: u64,
    ) -> Result<Outcome, MessageError> {
        let reason = crate::config::LimitExceeded {
            key: crate::config::Limit::MaxMessageBytes,
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
    pub fn belongs_in_quarantine(&self, outcome: &Outcome) -> Result<bool, StoreError> {
        Ok(match outcome {
            Outcome::Quarantined(_) => true,
            Outcome::Duplicate(OutcomeRef::Intake(n)) => self.was_quarantined(*n)?,
            _ => false,
        })
    }

    /// Decides and records the outcome of one raw message, whatever its source.
    /// Moves nothing and flushes nothing: the caller calls [`Store::flush`] (once for
    /// several messages if it likes), and only then moves the message.
    pub fn process(&self, raw: &[u8], origin: &Origin) -> Result<Outcome, MessageError> {
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

        // A message that stopped the daemon twice is not decided a third time.
        if let Some(held) = self.store.held(HeldKind::Message, &origin.name)?
            && held.set_aside()
        {
            let reason = held.reason();
            self.quarantine_unread(origin, &reason, intake::sha256_hex(raw))?;
            self.store
                .let_go(HeldKind::Message, std::slice::from_ref(&origin.name))?;
            tracing::error!(outcome = "quarantined", reason = %reason, "message set aside");
            return Ok(Outcome::Quarantined(reason));
        }
        let handle = self
            .progress
            .handling
            .start(HeldKind::Message, &origin.name);
        crate::fault::message(raw);
        // A bug in a parser must cost one message, not the daemon.
        let decided = std::panic::catch_unwind(AssertUnwindSafe(|| self.decide(raw, origin)));
        drop(handle);
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
}

#[cfg(test)]
pub(crate) mod tests {
    /// Stands in for a bug in a parser: the unit tests' builds only.
    pub(crate) fn maybe_panic(raw: &[u8]) {
        if raw.windows(14).any(|w| w == b"X-Test-Panic: ") {
            #[allow(clippy::panic)]
            {
                panic!("simulated bug");
            }
        }
    }
}
