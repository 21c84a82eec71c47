//! What each message came to: the dedupe indexes (`msgids`, `hashes`), new reports
//! and follow-ups committed with their mail, the intake log of messages that did not
//! become reports (`intake`), and the attachments they carried.

use chrono::Datelike;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::guard::transact;
use super::queue::sealed_job;
use super::queue::{put_job, queue_jobs};
use super::reports::{key_of, open_report, put_report, report_key, sync_deadlines};
use super::seal::Kind;
use super::tx::{abort, refuse, tx_error};
use super::{Commit, Correspondence, Event, IntakeKind, IntakeRecord, NewJob, NewReport};
use super::{OutcomeRef, Report, ReportId, Store, StoreError, decode, encode, u64_from};

impl Store {
    /// The earlier outcome of this message, if it was handled before: checked before
    /// any expensive work, and again inside the commit.
    pub fn seen(
        &self,
        message_id: Option<&str>,
        sha256: &str,
    ) -> Result<Option<OutcomeRef>, StoreError> {
        if let Some(id) = message_id
            && let Some(v) = self.msgids.get(self.seal.index_key(id.as_bytes()))?
        {
            return decode(&v).map(Some);
        }
        match self.hashes.get(self.seal.index_key(sha256.as_bytes()))? {
            Some(v) => decode(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Stores a new report, its dedupe entries and the acknowledgement job in one
    /// transaction, assigning the next report ID of the year it was received in.
    ///
    /// Not flushed: the caller calls [`Store::flush`] before it moves the message out
    /// of the inbox, once for a whole batch of messages (one flush per message made
    /// the flushes the backlog's bottleneck). The same holds for every intake record
    /// (`record_intake`, `commit_followup`, `record_duplicate`).
    pub fn commit_report(
        &self,
        prefix: &str,
        report: NewReport,
        jobs: Vec<NewJob>,
    ) -> Result<Commit, StoreError> {
        let _writing = self.writing()?;
        let year = u16::try_from(report.received_at.year()).unwrap_or(0);
        let seal = &*self.seal;
        let trees = (
            self.meta.tx(),
            self.reports.tx(),
            self.heads.tx(),
            self.msgids.tx(),
            self.hashes.tx(),
            self.outbox.tx(),
            self.outbox_open.tx(),
            self.threads.tx(),
            self.deadlines.tx(),
        );
        // `also` may queue one more (the researcher's answer to what the follow-up
        // did); more are drawn if it needs them.
        self.with_job_ids(jobs.len() + 1, |ids| {
            transact(
                &trees,
                |(meta, reports, heads, msgids, hashes, outbox, open, threads, deadlines)| {
                    if let Some(prev) = dedupe_hit(seal, msgids, hashes, &report)? {
                        return Ok(Commit::Duplicate(prev));
                    }
                    let counter = format!("report_seq:{year}");
                    let seq = meta
                        .get(counter.as_bytes())?
                        .map(|v| u64_from(&v))
                        .unwrap_or(0)
                        + 1;
                    let seq32 = u32::try_from(seq)
                        .map_err(|_| abort(StoreError::NumbersExhausted { year }))?;
                    meta.insert(counter.as_bytes(), &seq.to_be_bytes())?;
                    let id = ReportId::new(prefix, year, seq32);
                    let stored = report.clone().into_report(id.clone());
                    put_report(seal, reports, heads, &report_key(year, seq32), &stored)?;
                    sync_deadlines(deadlines, None, &stored)?;
                    let outcome = OutcomeRef::Report(id.clone());
                    let value = encode(&outcome).map_err(abort)?;
                    if let Some(mid) = &report.message_id {
                        let mid = seal.index_key(mid.as_bytes());
                        msgids.insert(mid.as_slice(), value.clone())?;
                        threads.insert(mid.as_slice(), id.as_str().as_bytes())?;
                    }
                    hashes.insert(seal.index_key(report.content_sha256.as_bytes()), value)?;
                    queue_jobs(seal, ids, (outbox, open), threads, &jobs, Some(&outcome))?;
                    Ok(Commit::Stored(outcome))
                },
            )
        })
    }

    /// Records a message that did not become a report (quarantined or skipped), with
    /// its optional notice to the sender, in one transaction. Like every intake
    /// record, not flushed here: see [`Store::commit_report`].
    pub fn record_intake(
        &self,
        record: IntakeRecord,
        notice: Option<NewJob>,
    ) -> Result<Commit, StoreError> {
        let _writing = self.writing()?;
        let seq = self.new_id()?;
        let job_id = self.new_id()?;
        let seal = &*self.seal;
        let mid_key = record
            .message_id
            .as_ref()
            .map(|m| seal.index_key(m.as_bytes()));
        let sha_key = seal.index_key(record.content_sha256.as_bytes());
        let sealed_record = self.sealed_intake(seq, &record)?;
        let result = transact(
            &(
                self.intake.tx(),
                self.msgids.tx(),
                self.hashes.tx(),
                self.outbox.tx(),
                self.outbox_open.tx(),
            ),
            |(intake, msgids, hashes, outbox, open)| {
                if let Some(mid) = &mid_key
                    && let Some(v) = msgids.get(mid.as_slice())?
                {
                    return Ok(Commit::Duplicate(decode(&v).map_err(abort)?));
                }
                if let Some(v) = hashes.get(sha_key.as_slice())? {
                    return Ok(Commit::Duplicate(decode(&v).map_err(abort)?));
                }
                let outcome = OutcomeRef::Intake(seq);
                intake.insert(&seq.to_be_bytes(), sealed_record.as_slice())?;
                let value = encode(&outcome).map_err(abort)?;
                // Only a recorded outcome dedupes by Message-ID: a message that was
                // quarantined for a reason the sender can fix (wrong key) may be
                // re-sent with the same ID, and then it must be read.
                if record.kind == IntakeKind::Skipped
                    && let Some(mid) = &mid_key
                {
                    msgids.insert(mid.as_slice(), value.clone())?;
                }
                hashes.insert(sha_key.as_slice(), value)?;
                if let Some(job) = &notice {
                    let job = job.clone().into_job(job_id, Some(outcome.clone()));
                    put_job(
                        outbox,
                        open,
                        &job,
                        sealed_job(&self.seal, &job).map_err(abort)?,
                    )?;
                }
                Ok(Commit::Stored(outcome))
            },
        )
        .map_err(tx_error)?;
        Ok(result)
    }

    /// Adds a reporter's follow-up to its report (and what was read in it: see
    /// [`FollowUpRead`]), with its dedupe entries, its place in
    /// the thread and the mail about it, in one transaction. A replay of the same
    /// message is a duplicate; one whose `signatures` (replay keys) were used before
    /// is refused ([`StoreError::Refused`]), and they are recorded as used with it.
    // One transaction's inputs: split, they would be read outside it.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_followup(
        &self,
        id: &ReportId,
        entry: Correspondence,
        content_sha256: &str,
        signatures: &[String],
        read: FollowUpRead<'_>,
        jobs: Vec<NewJob>,
        also: &dyn Fn(&mut Report) -> Vec<NewJob>,
    ) -> Result<Commit, StoreError> {
        let FollowUpRead { found, credit } = read;
        let _writing = self.writing()?;
        let key = key_of(id).ok_or_else(|| StoreError::NoSuchReport(id.to_string()))?;
        let trees = (
            self.reports.tx(),
            self.heads.tx(),
            self.msgids.tx(),
            self.hashes.tx(),
            self.outbox.tx(),
            self.outbox_open.tx(),
            self.threads.tx(),
            self.deadlines.tx(),
            self.signatures.tx(),
        );
        let mut used = vec![super::SCHEMA];
        used.extend_from_slice(&entry.at.timestamp().to_be_bytes());
        let seal = &*self.seal;
        self.with_job_ids(jobs.len(), |ids| {
            transact(
                &trees,
                |(reports, heads, msgids, hashes, outbox, open, threads, deadlines, sigs)| {
                    let mid = entry.message_id.as_deref();
                    let mid_key = mid.map(|m| seal.index_key(m.as_bytes()));
                    let sha_key = seal.index_key(content_sha256.as_bytes());
                    if let Some(m) = &mid_key
                        && let Some(v) = msgids.get(m.as_slice())?
                    {
                        return Ok(Commit::Duplicate(decode(&v).map_err(abort)?));
                    }
                    if let Some(v) = hashes.get(sha_key.as_slice())? {
                        return Ok(Commit::Duplicate(decode(&v).map_err(abort)?));
                    }
                    for digest in signatures {
                        if sigs.get(digest.as_bytes())?.is_some() {
                            return Err(refuse(format!(
                                "replayed: signature {digest} was already taken"
                            )));
                        }
                        sigs.insert(digest.as_bytes(), used.as_slice())?;
                    }
                    let old: Report = match reports.get(key)? {
                        Some(v) => open_report(seal, &key, &v).map_err(abort)?,
                        None => return Err(refuse(format!("no report {id}"))),
                    };
                    let mut report = old.clone();
                    report.events.push(Event::new(
                        entry.at,
                        &entry.from,
                        "correspondence_received",
                        entry.message_id.clone().map(|m| format!("Message-ID {m}")),
                    ));
                    report.correspondence.push(entry.clone());
                    if let Some(found) = found {
                        report.fill_missing(found, &entry.from, mid, entry.at);
                    }
                    if let Some(credit) = credit {
                        report.take_credit_reply(credit, &entry.from, entry.at);
                    }
                    let mut jobs = jobs.clone();
                    jobs.extend(also(&mut report));
                    put_report(seal, reports, heads, &key, &report)?;
                    sync_deadlines(deadlines, Some(&old), &report)?;
                    let outcome = OutcomeRef::Report(id.clone());
                    let value = encode(&outcome).map_err(abort)?;
                    if let Some(m) = &mid_key {
                        msgids.insert(m.as_slice(), value.clone())?;
                        threads.insert(m.as_slice(), id.as_str().as_bytes())?;
                    }
                    hashes.insert(sha_key.as_slice(), value)?;
                    queue_jobs(seal, ids, (outbox, open), threads, &jobs, Some(&outcome))?;
                    Ok(Commit::Stored(outcome))
                },
            )
        })
    }

    /// Messages that did not become reports, oldest first.
    pub fn intake_records(&self) -> Result<Vec<IntakeRecord>, StoreError> {
        self.intake
            .iter()?
            .map(|item| {
                let (k, v) = item?;
                self.open_intake(&k, &v)
            })
            .collect()
    }

    pub fn intake_record(&self, seq: u64) -> Result<Option<IntakeRecord>, StoreError> {
        let key = seq.to_be_bytes();
        match self.intake.get(key)? {
            Some(v) => self.open_intake(&key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// An intake record as stored: sealed with the key of records of no report (it
    /// names the sender and the Message-ID).
    pub(super) fn sealed_intake(
        &self,
        seq: u64,
        record: &IntakeRecord,
    ) -> Result<Vec<u8>, StoreError> {
        self.seal.seal(
            Kind::Intake,
            super::seal::GENERAL,
            &seq.to_be_bytes(),
            &encode(record)?,
        )
    }

    /// An intake record as stored at `key` (sealed, or clear from before sealing).
    pub(super) fn open_intake(&self, key: &[u8], value: &[u8]) -> Result<IntakeRecord, StoreError> {
        decode(&self.seal.open(Kind::Intake, key, value)?)
    }

    /// Keeps an attachment's bytes, addressed by a keyed hash of their SHA-256 (so
    /// the same PoC sent twice is stored once, and the store does not say which
    /// known file it holds), sealed with a data key of their own.
    pub fn put_attachment(&self, sha256: &str, data: &[u8]) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        if self.seal.writes_clear() {
            // As before sealing (see `seal::CLEAR_FOR_TESTS`).
            if !self.attachments.contains_key(sha256.as_bytes())? {
                self.attachments.insert(sha256.as_bytes(), data)?;
            }
            return Ok(());
        }
        let key = self.attachment_key(sha256);
        if !self.attachments.contains_key(key.as_bytes())? {
            let slot = self.seal.new_slot()?;
            let sealed = self
                .seal
                .seal(Kind::Attachment, slot, key.as_bytes(), data)?;
            self.attachments.insert(key.as_bytes(), sealed)?;
        }
        Ok(())
    }

    /// An attachment's bytes by their SHA-256: sealed, or clear as written before
    /// sealing (under the SHA-256 itself).
    pub fn attachment(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.attachment_key(sha256);
        if let Some(v) = self.attachments.get(key.as_bytes())? {
            return self
                .seal
                .open(Kind::Attachment, key.as_bytes(), &v)
                .map(Some);
        }
        Ok(self.attachments.get(sha256.as_bytes())?.map(|v| v.to_vec()))
    }

    /// The `attachments` tree key of the bytes with this SHA-256.
    pub(super) fn attachment_key(&self, sha256: &str) -> String {
        self.seal.keyed_hash(sha256.as_bytes())
    }

    /// Records a message that was a duplicate of an earlier one, so that every
    /// message has its outcome on record; touches no dedupe index.
    pub fn record_duplicate(&self, record: IntakeRecord) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let seq = self.new_id()?;
        self.intake
            .insert(seq.to_be_bytes(), self.sealed_intake(seq, &record)?)?;
        Ok(())
    }
}

/// The earlier report this message already became, by Message-ID or content; a
/// quarantine is no such outcome.
fn dedupe_hit<E: From<StoreError>>(
    seal: &super::seal::Sealer,
    msgids: &TransactionalTree,
    hashes: &TransactionalTree,
    report: &NewReport,
) -> Result<Option<OutcomeRef>, ConflictableTransactionError<E>> {
    if let Some(mid) = &report.message_id
        && let Some(v) = msgids.get(seal.index_key(mid.as_bytes()))?
    {
        let prev: OutcomeRef = decode(&v).map_err(abort)?;
        // A message quarantined earlier may come back readable (re-sent with the
        // same Message-ID after the sender fixed the key): that is not a duplicate.
        if matches!(prev, OutcomeRef::Report(_)) {
            return Ok(Some(prev));
        }
    }
    if let Some(v) = hashes.get(seal.index_key(report.content_sha256.as_bytes()))? {
        let prev: OutcomeRef = decode(&v).map_err(abort)?;
        if matches!(prev, OutcomeRef::Report(_)) {
            return Ok(Some(prev));
        }
    }
    Ok(None)
}

/// What the pipeline read in a reporter's follow-up, for the report: the details it
/// fills (a signed follow-up only) and what it says of the researcher's credit.
#[derive(Debug, Clone, Copy, Default)]
pub struct FollowUpRead<'a> {
    pub found: Option<&'a crate::extract::Fields>,
    pub credit: Option<&'a super::CreditReply>,
}
