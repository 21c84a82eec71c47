//! The outgoing queue: every job (`outbox`, by job ID) and the index of the jobs not
//! yet sent (`outbox_open`) that the delivery loop reads every second. A job is
//! written with its index entry, in the same transaction, always.

use chrono::{DateTime, Utc};

use super::guard::transact;
use super::queue::{open_job, put_job, queue_jobs, sealed_job_in};
use super::reports::{key_of, open_report, put_report, sync_deadlines};
use super::seal::GENERAL;
use super::seal::Sealer;
use super::tx::tx_error;
use super::{DeadlineName, Event, Job, JobKind, JobState, NewJob, OutcomeRef, Status};
use super::{Store, StoreError};

impl Store {
    /// When the last digest was queued.
    pub fn last_digest(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .meta
            .get(b"last_digest")?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .and_then(|b| DateTime::from_timestamp(i64::from_be_bytes(b), 0)))
    }

    /// Queues a digest's mail and records when, in one step.
    pub fn commit_digest(&self, at: DateTime<Utc>, jobs: Vec<NewJob>) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let trees = (
            self.meta.tx(),
            self.outbox.tx(),
            self.outbox_open.tx(),
            self.threads.tx(),
        );
        let seal = &*self.seal;
        self.with_job_ids(jobs.len(), |ids| {
            transact(&trees, |(meta, outbox, open, threads)| {
                meta.insert(b"last_digest", &at.timestamp().to_be_bytes())?;
                queue_jobs(seal, ids, (outbox, open), threads, &jobs, None)?;
                Ok(())
            })
        })?;
        self.flush()
    }

    /// Every queued job, oldest first.
    pub fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.outbox
            .iter()?
            .map(|item| {
                let (k, v) = item?;
                open_job(&self.seal, &k, &v)
            })
            .collect()
    }

    pub fn job(&self, id: u64) -> Result<Option<Job>, StoreError> {
        let key = id.to_be_bytes();
        match self.outbox.get(key)? {
            Some(v) => open_job(&self.seal, &key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Makes a pending or failed job due now; returns false for a sent or unknown one.
    pub fn retry_job(&self, id: u64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let _writing = self.writing()?;
        let Some(mut job) = self.job(id)? else {
            return Ok(false);
        };
        if job.state == JobState::Sent {
            return Ok(false);
        }
        job.state = JobState::Pending;
        job.next_attempt = now;
        // A parked job starts its expiry afresh, or it would expire at once again.
        job.created_at = now;
        self.save_job_unpaused(&job)?;
        self.flush()?;
        Ok(true)
    }

    /// Jobs waiting to be sent whose next attempt is due.
    pub fn due_jobs(&self, now: DateTime<Utc>) -> Result<Vec<Job>, StoreError> {
        let now = now.timestamp_millis();
        let mut due = Vec::new();
        for item in self.outbox_open.iter()? {
            let (k, v) = item?;
            // A malformed entry cannot rule its job out: the job decides.
            if let Ok([state, at @ ..]) = <[u8; 9]>::try_from(v.as_ref())
                && (state != 0 || i64::from_be_bytes(at) > now)
            {
                continue;
            }
            if let Some(v) = self.outbox.get(&k)? {
                let job = open_job(&self.seal, &k, &v)?;
                // The entry and the job are written together; the job is the truth.
                if job.state == JobState::Pending && job.next_attempt.timestamp_millis() <= now {
                    due.push(job);
                }
            }
        }
        Ok(due)
    }

    /// Every job not yet sent (pending or failed), oldest first.
    pub fn open_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let mut jobs = Vec::new();
        for item in self.outbox_open.iter()? {
            let (k, _) = item?;
            if let Some(v) = self.outbox.get(&k)? {
                jobs.push(open_job(&self.seal, &k, &v)?);
            }
        }
        Ok(jobs)
    }

    /// Saves a job's new state; when an acknowledgement was sent, the report moves to
    /// `acknowledged` in the same transaction: two separate writes could be cut apart
    /// by a crash, leaving a sent acknowledgement and a report `new` for ever. Not
    /// flushed: the caller decides when the state must be durable.
    pub fn save_job(&self, job: &Job) -> Result<(), StoreError> {
        self.save_jobs(std::slice::from_ref(job))
    }

    /// Saves several jobs in one transaction. sled writes out its log buffer and waits
    /// for the disk (`sync_file_range`) at every transaction, so a delivery batch
    /// saves its jobs together.
    pub fn save_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.save_jobs_unpaused(jobs)
    }

    /// [`Store::save_job`] for a caller that already holds the write guard.
    fn save_job_unpaused(&self, job: &Job) -> Result<(), StoreError> {
        self.save_jobs_unpaused(std::slice::from_ref(job))
    }

    fn save_jobs_unpaused(&self, jobs: &[Job]) -> Result<(), StoreError> {
        // Each job with its encoding and, for an acknowledgement, its report's key.
        // A job whose report cannot be found is saved all the same: the batch's other
        // jobs were sent and must be recorded.
        // A job of a report purged while it was being sent is not saved: it would be
        // sealed under a new data key and outlive the purge.
        let mut kept = Vec::with_capacity(jobs.len());
        for job in jobs {
            if let Some(OutcomeRef::Report(id)) = &job.outcome
                && let Some(key) = key_of(id)
                && self.purged.contains_key(key)?
            {
                continue;
            }
            kept.push(job);
        }
        let jobs = kept
            .into_iter()
            .map(|job| {
                let report = match &job.outcome {
                    Some(OutcomeRef::Report(id)) => key_of(id).map(|key| (key, id.as_str())),
                    _ => None,
                };
                // Sealed with its report's data key; one whose report is not found,
                // with the key of records of no report.
                let slot = match report {
                    Some((key, _)) => self.report_slot(&key)?.unwrap_or(GENERAL),
                    None => GENERAL,
                };
                Ok((job, sealed_job_in(&self.seal, job, slot)?, report))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let seal = &*self.seal;
        transact(
            &(
                self.outbox.tx(),
                self.outbox_open.tx(),
                self.reports.tx(),
                self.heads.tx(),
                self.deadlines.tx(),
                self.threads.tx(),
            ),
            |(outbox, open, reports, heads, deadlines, threads)| {
                for (job, value, report) in &jobs {
                    // Whether this save is the one that gives the job up.
                    let newly_failed = job.state == JobState::Failed
                        && match outbox.get(job.id.to_be_bytes())? {
                            Some(old) => open_job(seal, &job.id.to_be_bytes(), &old)
                                .map(|old| old.state != JobState::Failed)
                                .unwrap_or(true),
                            None => true,
                        };
                    put_job(outbox, open, job, value.clone())?;
                    let Some((rkey, id)) = report else {
                        continue;
                    };
                    if newly_failed {
                        note_undelivered(seal, reports, heads, deadlines, rkey, job)?;
                    }
                    if job.state == JobState::Sent
                        && let Some(fpr) = &job.announced_key
                    {
                        note_announced(seal, reports, heads, rkey, job, fpr)?;
                    }
                    if job.kind != JobKind::Ack {
                        continue;
                    }
                    // A reporter's answer to the acknowledgement joins the report.
                    if let Some(mid) = &job.message_id {
                        threads.insert(seal.index_key(mid.as_bytes()), id.as_bytes())?;
                    }
                    if job.state != JobState::Sent {
                        continue;
                    }
                    let Some(old) = reports.get(rkey)? else {
                        continue;
                    };
                    let at = job.sent_at.unwrap_or_else(Utc::now);
                    let Ok(old) = open_report(seal, rkey, &old) else {
                        // Unreadable (a newer version's record): its job is saved.
                        continue;
                    };
                    let mut report = old.clone();
                    report
                        .milestones
                        .entry(DeadlineName::Acknowledge)
                        .or_insert(at);
                    if report.status == Status::New {
                        report.status = Status::Acknowledged;
                        report.events.push(Event::new(
                            at,
                            "system",
                            "acknowledged",
                            Some(format!("acknowledgement sent to {}", job.to)),
                        ));
                    }
                    put_report(seal, reports, heads, rkey, &report)?;
                    sync_deadlines(deadlines, Some(&old), &report)?;
                }
                Ok(())
            },
        )
        .map_err(tx_error)
    }
}

/// What a message the gateway sends is, as a report's history names it.
pub(crate) fn job_noun(kind: &JobKind) -> &'static str {
    match kind {
        JobKind::Ack => "acknowledgement",
        JobKind::Reply => "answer",
        JobKind::NewReport => "notification",
        JobKind::FollowUp { .. } => "follow-up notice",
        JobKind::Escalation { .. } => "escalation",
        JobKind::Digest { .. } => "digest",
        JobKind::TeamNotice { .. } => "team notice",
        JobKind::Unreadable { .. } => "notice",
        JobKind::KeyRequest { .. } => "key answer",
    }
}

/// Records on the report that `job` was given up (a permanent refusal, or its expiry
/// passed): in the transaction that saves the job failed, so it is said once.
fn note_undelivered<E: From<StoreError>>(
    seal: &Sealer,
    reports: &sled::transaction::TransactionalTree,
    heads: &sled::transaction::TransactionalTree,
    deadlines: &sled::transaction::TransactionalTree,
    rkey: &[u8],
    job: &Job,
) -> Result<(), sled::transaction::ConflictableTransactionError<E>> {
    let Some(old) = reports.get(rkey)? else {
        return Ok(());
    };
    let Ok(old) = open_report(seal, rkey, &old) else {
        return Ok(());
    };
    let mut report = old.clone();
    let why = job
        .last_error
        .as_deref()
        .map(|e| crate::intake::one_line(e, 300))
        .unwrap_or_else(|| "no reason given".into());
    report.events.push(Event::new(
        Utc::now(),
        "system",
        "delivery failed",
        Some(format!(
            "{} to {} could not be delivered: {why}",
            job_noun(&job.kind),
            job.to
        )),
    ));
    put_report(seal, reports, heads, rkey, &report)?;
    sync_deadlines(deadlines, Some(&old), &report)?;
    Ok(())
}

/// The action of the event that records a new gateway key sent to the researcher.
pub(crate) const KEY_ANNOUNCED: &str = "gateway key announced";

/// Records on the report that `job`, now sent, carried the new gateway key `fpr`;
/// once per key.
fn note_announced<E: From<StoreError>>(
    seal: &Sealer,
    reports: &sled::transaction::TransactionalTree,
    heads: &sled::transaction::TransactionalTree,
    rkey: &[u8],
    job: &Job,
    fpr: &str,
) -> Result<(), sled::transaction::ConflictableTransactionError<E>> {
    let Some(old) = reports.get(rkey)? else {
        return Ok(());
    };
    let Ok(mut report) = open_report(seal, rkey, &old) else {
        return Ok(());
    };
    if report.key_announced(fpr) {
        return Ok(());
    }
    report.events.push(Event::new(
        job.sent_at.unwrap_or_else(Utc::now),
        "system",
        KEY_ANNOUNCED,
        Some(format!(
            "{fpr} sent to {} with the {} (Message-ID <{}>)",
            job.to,
            job_noun(&job.kind),
            job.message_id.as_deref().unwrap_or("?")
        )),
    ));
    put_report(seal, reports, heads, rkey, &report)?;
    Ok(())
}
