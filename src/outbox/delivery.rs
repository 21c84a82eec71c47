//! Delivery rounds: the due jobs sent in batches, each batch's outcomes recorded
//! durably before the next starts, and the retry schedule of what failed.
//!
//! Each batch is taken in hand (recorded and flushed in the store's `in_hand` tree)
//! before its first job is rendered, and each job is named in memory while it is
//! worked on, as the intake does with messages: a job that hangs is named by the
//! watchdog, and one that stopped the daemon before goes alone, after the others; at
//! its second stop it is parked (failed, with the reason) for `outbox retry`.

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use super::render::render_if_needed;
use super::{Context, OutboxError, kind_name};
use crate::policy::chrono_duration;
use crate::store::{HeldKind, Job, JobKind, JobState, OutcomeRef, StoreError};

/// What one delivery round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub sent: usize,
    pub deferred: usize,
    pub failed: usize,
}

/// Sends every job that is due. One job's failure is recorded on that job and the round
/// goes on; only a store failure ends it.
pub fn deliver_due(ctx: &Context<'_>, now: DateTime<Utc>) -> Result<Delivered, StoreError> {
    let store = ctx.store;
    let jobs = store.due_jobs(now)?;
    if jobs.is_empty() {
        return Ok(Delivered::default());
    }
    // A job is visible as soon as its transaction is applied, possibly before the
    // flush that makes its report durable: persist first, answer last, or a crash
    // could leave a reporter holding a report ID the store never kept.
    store.flush()?;
    let mut done = Delivered::default();
    let (jobs, suspects) = set_aside(ctx, jobs, &mut done)?;
    // A job that stopped the daemon before goes alone, after the others: if it stops
    // it again, nothing else is held up (or blamed) with it.
    for batch in jobs.chunks(DURABLE_BATCH).chain(suspects.chunks(1)) {
        let names: Vec<String> = batch.iter().map(|j| j.id.to_string()).collect();
        store.hold(HeldKind::Job, &names)?;
        deliver_batch(ctx, batch, now, &mut done)?;
        store.let_go(HeldKind::Job, &names)?;
    }
    Ok(done)
}

/// Parks the due jobs that stopped the daemon twice (failed, with the reason; `outbox
/// retry` makes them due again), and splits the others into those that never stopped
/// it and those that did once.
fn set_aside(
    ctx: &Context<'_>,
    jobs: Vec<Job>,
    done: &mut Delivered,
) -> Result<(Vec<Job>, Vec<Job>), StoreError> {
    let store = ctx.store;
    let mut stops = std::collections::BTreeMap::new();
    for held in store.held_all()? {
        if held.kind == HeldKind::Job && !held.stops.is_empty() {
            stops.insert(held.name.clone(), held);
        }
    }
    if stops.is_empty() {
        return Ok((jobs, Vec::new()));
    }
    let (mut regular, mut suspects, mut parked) = (Vec::new(), Vec::new(), Vec::new());
    for mut job in jobs {
        match stops.get(&job.id.to_string()) {
            None => regular.push(job),
            Some(held) if held.set_aside() => {
                let reason = held.reason();
                tracing::error!(job = job.id, kind = kind_name(&job.kind), reason = %reason, "delivery job parked");
                job.state = JobState::Failed;
                job.last_error = Some(reason);
                parked.push(job);
            }
            Some(_) => suspects.push(job),
        }
    }
    if !parked.is_empty() {
        // Let go of first, made durable with the job's new state by the one flush
        // (sled's log loses only a tail): a parked job `outbox retry` hands back must
        // not be parked again by a stale record.
        let names: Vec<String> = parked.iter().map(|j| j.id.to_string()).collect();
        store.let_go(HeldKind::Job, &names)?;
        store.save_jobs(&parked)?;
        store.flush()?;
        done.failed += parked.len();
    }
    Ok((regular, suspects))
}

/// How many messages are sent between two store flushes. A crash after the transport
/// accepted a message and before the flush that records it sends that message again
/// (the same Message-ID): at most this many per crash, and no message
/// more than once per crash. One flush per message made the flushes and file syncs,
/// taken in turn, the gateway's bottleneck (backlog bench: delivery of 1,000
/// acknowledgements 2.8 s; 1.9 s with batches of 16, 2.1 s with 8); the crash test
/// shows the price (duplicates per 100 kills: 10-28 one at a time, 199 with 8, 264
/// with 16, in the debug build where a batch takes long enough to be cut often).
pub const DURABLE_BATCH: usize = 8;

/// The envelope sender of a job: the gateway's address, where bounces come back to
/// (and are matched to what was sent), except for the answer to a key request, which
/// goes with the null return path: an automatic answer to a mail anyone can send, that
/// nothing should bounce back to (RFC 3834, 3.3).
fn return_path<'a>(ctx: &'a Context<'_>, job: &Job) -> Option<&'a str> {
    match job.kind {
        JobKind::KeyRequest { .. } => None,
        _ => Some(&ctx.settings.gateway.address),
    }
}

/// One batch, on every core: each job rendered (signed and encrypted, unless it kept
/// its rendering from an earlier try) and handed to the transport; then the transport
/// synced, the outcomes saved in one transaction, one flush. A job keeps its
/// rendering until it is sent, so a retry after a failed attempt sends the very same
/// message; after a crash before the flush it is rendered again under the same
/// Message-ID (all a duplicate can be recognised by: the ciphertext differs anyway).
fn deliver_batch(
    ctx: &Context<'_>,
    batch: &[Job],
    now: DateTime<Utc>,
    done: &mut Delivered,
) -> Result<(), StoreError> {
    let store = ctx.store;
    // Two threads per core: each message waits for its sync (or the relay's answer)
    // after its cryptography, and the other thread uses the core meanwhile.
    let threads = 2 * crate::workers::cores();
    let results = crate::workers::map_on(threads, batch, 2, |job| {
        let mut job = job.clone();
        let span = tracing::info_span!("deliver", job = job.id, kind = kind_name(&job.kind));
        let _enter = span.enter();
        let _in_hand = ctx.handling.start(HeldKind::Job, &job.id.to_string());
        fault_hook(ctx, &job);
        job.tries += 1;
        let result = match render_if_needed(ctx, &mut job, now) {
            Ok(()) => {
                let bytes = job.message.as_deref().unwrap_or_default().as_bytes();
                ctx.transport.send(return_path(ctx, &job), &job.to, bytes)
            }
            // The store failed under this job: it is left as it was (not tried);
            // the batch's other jobs may have been sent and are recorded all the same.
            Err(OutboxError::Store(e)) => return (None, Some(e)),
            Err(e) => Err(e),
        };
        settle(ctx, &mut job, result, now);
        (Some(job), None)
    });
    let mut failure = None;
    let mut attempted = Vec::with_capacity(results.len());
    for (job, error) in results {
        attempted.extend(job);
        if failure.is_none() {
            failure = error;
        }
    }
    if let Err(e) = ctx.transport.sync() {
        // What was written may not survive a power cut: not sent yet, as far as the
        // store knows; sent again later (the same Message-ID).
        for job in attempted.iter_mut().filter(|j| j.state == JobState::Sent) {
            job.state = JobState::Pending;
            job.sent_at = None;
            settle(ctx, job, Err(OutboxError::Transport(e.to_string())), now);
        }
    }
    // A store error here leaves the batch unrecorded: its messages go again (the
    // same Message-IDs), within the bound above.
    store.save_jobs(&attempted)?;
    for job in &attempted {
        count(done, job.state);
    }
    store.flush()?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The debug builds' fault hook (see `crate::fault`): the text of a report may ask
/// for the delivery of its acknowledgement to hang or abort. Reads nothing unless
/// armed.
fn fault_hook(ctx: &Context<'_>, job: &Job) {
    if !crate::fault::armed() || job.kind != JobKind::Ack {
        return;
    }
    if let Some(OutcomeRef::Report(id)) = &job.outcome
        && let Ok(Some(report)) = ctx.store.report(id)
    {
        crate::fault::delivery(report.data.body.as_bytes());
    }
}

fn count(done: &mut Delivered, state: JobState) {
    match state {
        JobState::Sent => done.sent += 1,
        JobState::Pending => done.deferred += 1,
        JobState::Failed => done.failed += 1,
    }
}

/// Records the outcome of one attempt on its job.
fn settle(ctx: &Context<'_>, job: &mut Job, result: Result<(), OutboxError>, now: DateTime<Utc>) {
    let settings = ctx.settings;
    match result {
        Ok(()) => {
            job.state = JobState::Sent;
            job.sent_at = Some(Utc::now());
            job.last_error = None;
            // Kept only so that a retry sends the same bytes; the Message-ID stays.
            job.message = None;
            tracing::info!(tries = job.tries, "message sent");
        }
        Err(e) => {
            job.last_error = Some(e.to_string());
            let expired = now >= job.created_at + chrono_duration(settings.retry.expire_after);
            if e.is_permanent() {
                job.state = JobState::Failed;
                tracing::warn!(error = %e, "message failed permanently");
            } else if expired {
                job.state = JobState::Failed;
                job.last_error = Some(format!("gave up after {} tries: {e}", job.tries));
                tracing::warn!(error = %e, tries = job.tries, "message expired undelivered");
            } else {
                let delay = retry_delay(&settings.retry, job.tries);
                job.next_attempt = now + delay;
                tracing::warn!(error = %e, retry_in_s = delay.num_seconds(), "message deferred");
            }
        }
    }
}

/// The wait before the next attempt after `tries` failed ones: the schedule's step
/// (the last step repeats), varied at random by up to the jitter fraction.
pub(crate) fn retry_delay(retry: &crate::config::Retry, tries: u32) -> ChronoDuration {
    let idx = usize::try_from(tries.saturating_sub(1)).unwrap_or(usize::MAX);
    let base = retry
        .schedule
        .get(idx)
        .or(retry.schedule.last())
        .copied()
        .unwrap_or(std::time::Duration::from_secs(3600));
    let factor = if retry.jitter > 0.0 {
        1.0 + rand::random_range(-retry.jitter..=retry.jitter)
    } else {
        1.0
    };
    chrono_duration(base.mul_f64(factor.max(0.0)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retry_delays_follow_the_schedule_with_bounded_jitter() {
        let retry = crate::config::Retry {
            schedule: vec![Duration::from_secs(60), Duration::from_secs(300)],
            jitter: 0.1,
            expire_after: Duration::from_secs(3 * 86400),
        };
        for (tries, base) in [(1, 60.0), (2, 300.0), (3, 300.0), (50, 300.0)] {
            for _ in 0..50 {
                let d = retry_delay(&retry, tries).num_milliseconds() as f64 / 1000.0;
                assert!(
                    d >= base * 0.9 - 0.001 && d <= base * 1.1 + 0.001,
                    "{tries}: {d}"
                );
            }
        }
        let exact = crate::config::Retry {
            jitter: 0.0,
            ..retry
        };
        assert_eq!(retry_delay(&exact, 1), ChronoDuration::seconds(60));
    }
}
