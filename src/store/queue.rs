//! Writing jobs inside a transaction: what every outcome that queues mail shares
//! (reports, intake records, job state changes).

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::tx::{Abort, abort};
use super::{Job, JobState, NewJob, OutcomeRef, encode};

/// Queues `jobs` about `outcome` inside a transaction, under `ids` drawn before it
/// (see [`Store::with_job_ids`]); replies with a known Message-ID join the report's
/// thread at once.
pub(super) fn queue_jobs(
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
            threads.insert(mid.as_bytes(), report.as_str().as_bytes())?;
        }
        let job = job.clone().into_job(id, outcome.cloned());
        put_job(outbox, open, &job, encode(&job).map_err(abort)?)?;
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

/// Writes a job (already encoded as `value`) and its `outbox_open` entry.
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
