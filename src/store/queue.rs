//! Writing jobs inside a transaction: what every outcome that queues mail shares
//! (reports, intake records, job state changes).

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::seal::{GENERAL, Kind, Sealer, Slot};
use super::tx::{Abort, abort};
use super::{Job, JobState, NewJob, OutcomeRef, StoreError, decode, encode};

/// A job as stored: sealed with its report's data key (it may hold the report's
/// text: a rendered notice, a maintainer's answer), else with the key of records of
/// no report. The report's slot must be known (see [`Store::report_slot`]): inside a
/// transaction, the report was written before its jobs.
pub(super) fn sealed_job(seal: &Sealer, job: &Job) -> Result<Vec<u8>, StoreError> {
    sealed_job_in(seal, job, job_slot(seal, job)?)
}

/// The slot of a job's data key: its report's, else [`GENERAL`].
pub(super) fn job_slot(seal: &Sealer, job: &Job) -> Result<Slot, StoreError> {
    Ok(match &job.outcome {
        Some(OutcomeRef::Report(id)) => match super::reports::key_of(id) {
            Some(k) if !seal.writes_clear() => seal.known(&k).ok_or_else(|| {
                StoreError::Decode(format!("no data key known for the report {id}"))
            })?,
            _ => GENERAL,
        },
        _ => GENERAL,
    })
}

/// A job sealed with the data key of `slot`.
pub(super) fn sealed_job_in(seal: &Sealer, job: &Job, slot: Slot) -> Result<Vec<u8>, StoreError> {
    seal.seal(Kind::Job, slot, &job.id.to_be_bytes(), &encode(job)?)
}

/// A job as stored at `key` (sealed, or clear from before sealing).
pub(super) fn open_job(seal: &Sealer, key: &[u8], value: &[u8]) -> Result<Job, StoreError> {
    decode(&seal.open(Kind::Job, key, value)?)
}

/// Queues `jobs` about `outcome` inside a transaction, under `ids` drawn before it
/// (see [`Store::with_job_ids`]); replies with a known Message-ID join the report's
/// thread at once.
pub(super) fn queue_jobs(
    seal: &Sealer,
    ids: &[u64],
    (outbox, open): (&TransactionalTree, &TransactionalTree),
    threads: &TransactionalTree,
    jobs: &[NewJob],
    outcome: Option<&OutcomeRef>,
) -> Result<(), ConflictableTransactionError<Abort>> {
    if jobs.len() > ids.len() {
        return Err(ConflictableTransactionError::Abort(Abort::MoreJobIds));
    }
    for (job, &id) in jobs.iter().zip(ids) {
        if let (Some(mid), Some(OutcomeRef::Report(report))) = (&job.message_id, outcome) {
            threads.insert(seal.index_key(mid.as_bytes()), report.as_str().as_bytes())?;
        }
        let job = job.clone().into_job(id, outcome.cloned());
        put_job(outbox, open, &job, sealed_job(seal, &job).map_err(abort)?)?;
    }
    Ok(())
}

/// The `outbox_open` entry of a job: state (0 pending, 1 failed) and next attempt in
/// Unix milliseconds; none once sent.
pub(super) fn open_entry(job: &Job) -> Option<[u8; 9]> {
    let state = match job.state {
        JobState::Pending => 0,
        JobState::Failed => 1,
        JobState::Sent => return None,
    };
    let mut v = [0u8; 9];
    let (s, at) = v.split_at_mut(1);
    s.copy_from_slice(&[state]);
    at.copy_from_slice(&job.next_attempt.timestamp_millis().to_be_bytes());
    Some(v)
}

/// Writes a job (already sealed as `value`, see [`sealed_job`]) and its `outbox_open` entry.
pub(super) fn put_job<E>(
    outbox: &TransactionalTree,
    open: &TransactionalTree,
    job: &Job,
    value: Vec<u8>,
) -> Result<(), ConflictableTransactionError<E>> {
    let key = job.id.to_be_bytes();
    outbox.insert(&key, value)?;
    match open_entry(job) {
        Some(e) => open.insert(&key, &e)?,
        None => open.remove(&key)?,
    };
    Ok(())
}
