//! The Maildir inbox: a pass over `new/` in batches, and the loop that runs one at
//! every poll.
//!
//! Messages are decided on every core, [`INTAKE_BATCH`] at a time; then the batch
//! goes through the driver's commit (one store flush), the files move, and one sync
//! per folder makes the moves durable. That commit runs on a thread of its own while
//! the next batch is decided. The order per message is the driver's: stored,
//! flushed, then moved.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tracing::{error, warn};

use super::driver::{self, Committed, Destination, Pass};
use super::shutdown::Shutdown;
use super::{DaemonError, blocking};
use crate::pipeline::{MessageError, Origin, Outcome, Pipeline};
use crate::source::{Maildir, MaildirEntry, SourceError};
use crate::store::{HeldKind, StoreError};

/// How many Maildir messages share one store flush and one folder sync. A crash
/// loses none of them (each moves only after its outcome is durable); it makes at
/// most this many be handled again, as duplicates. One flush and one sync per
/// message made those the backlog's bottleneck.
pub const INTAKE_BATCH: usize = 32;

/// Messages of one batch with what became of them, in the order decided.
type Decided<'e> = Vec<(&'e MaildirEntry, Result<Outcome, MessageError>)>;

/// A batch being committed on its own thread, with the messages it holds.
type Committing<'s, 'e> = (
    std::thread::ScopedJoinHandle<'s, Vec<(&'e MaildirEntry, Result<Outcome, MessageError>)>>,
    Vec<&'e MaildirEntry>,
);

/// Handles everything waiting in the Maildir. Stops between batches when `stop` is
/// set. `committed` is called each time a batch became durable (its mail may go).
pub fn pass(
    pipeline: &Pipeline,
    maildir: &Maildir,
    stop: &Shutdown,
    committed: &(dyn Fn() + Sync),
) -> Result<Pass, SourceError> {
    let (entries, regular) = suspects_last(pipeline, maildir.pending()?);
    let (first, suspects) = entries.split_at(regular);
    let mut pass = Pass::default();
    std::thread::scope(|scope| {
        let mut commit: Option<Committing<'_, '_>> = None;
        let mut halted = false;
        // A message that stopped the daemon before is decided alone, after the others:
        // if it stops it again, nothing else is held up with it.
        let regular_chunks = first.chunks(INTAKE_BATCH).len();
        for (i, chunk) in first
            .chunks(INTAKE_BATCH)
            .chain(suspects.chunks(1))
            .enumerate()
        {
            if halted || stop.is_set() {
                break;
            }
            // Alone means alone: the batch before it is committed and let go first,
            // or a crash now would blame it too.
            if i >= regular_chunks
                && let Some(previous) = commit.take()
            {
                halted |= count_all(&mut pass, join_commit(previous));
                if halted {
                    break;
                }
            }
            let names: Vec<String> = chunk.iter().map(|e| e.unique.clone()).collect();
            if let Err(e) = pipeline.store.hold(HeldKind::Message, &names) {
                warn!(error = %e, "cannot record the batch in hand; it waits for a later pass");
                pass.deferred += chunk.len();
                break;
            }
            let decided = decide_batch(pipeline, maildir, chunk, stop);
            // A store failure halts the pass: the next messages would fail the same way.
            halted = decided.iter().any(|(_, r)| {
                r.as_ref()
                    .is_err_and(|e| e.next_step() == crate::pipeline::NextStep::Stop)
            });
            if let Some(previous) = commit.take() {
                halted |= count_all(&mut pass, join_commit(previous));
            }
            let entries = decided.iter().map(|(entry, _)| *entry).collect();
            let handle = scope.spawn(move || {
                let done = commit_and_move(pipeline, maildir, decided);
                if let Err(e) = pipeline.store.let_go(HeldKind::Message, &names) {
                    warn!(error = %e, "cannot record the batch done; it is taken again at the next start");
                }
                committed();
                done
            });
            commit = Some((handle, entries));
        }
        if let Some(last) = commit.take() {
            count_all(&mut pass, join_commit(last));
        }
    });
    Ok(pass)
}

/// The pending messages with those that stopped the daemon before at the end, and how
/// many come before them.
fn suspects_last(pipeline: &Pipeline, entries: Vec<MaildirEntry>) -> (Vec<MaildirEntry>, usize) {
    let stopped: std::collections::BTreeSet<String> = match pipeline.store.held_all() {
        Ok(all) => all
            .into_iter()
            .filter(|h| h.kind == HeldKind::Message && !h.stops.is_empty())
            .map(|h| h.name)
            .collect(),
        Err(e) => {
            warn!(error = %e, "cannot read the messages in hand");
            Default::default()
        }
    };
    let (mut regular, suspects): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|e| !stopped.contains(&e.unique));
    let n = regular.len();
    regular.extend(suspects);
    (regular, n)
}

/// Decides one batch on every core; moves nothing and flushes nothing.
fn decide_batch<'e>(
    pipeline: &Pipeline,
    maildir: &Maildir,
    chunk: &'e [MaildirEntry],
    stop: &Shutdown,
) -> Decided<'e> {
    crate::workers::each(
        crate::workers::cores(),
        chunk,
        Some(stop.flag()),
        Vec::with_capacity(chunk.len()),
        |entry| decide_entry(pipeline, maildir, entry),
        |done, entry, result| {
            let halt = result
                .as_ref()
                .is_err_and(|e| e.next_step() == crate::pipeline::NextStep::Stop);
            done.push((entry, result));
            halt
        },
    )
}

/// Reads and decides one Maildir message.
fn decide_entry(
    pipeline: &Pipeline,
    maildir: &Maildir,
    entry: &MaildirEntry,
) -> Result<Outcome, MessageError> {
    let origin = Origin {
        name: entry.unique.clone(),
        handled_at: maildir.seen_path(entry).display().to_string(),
        quarantine_at: maildir.quarantine_path(entry).display().to_string(),
    };
    match maildir.read(entry, pipeline.settings.limits.max_message_bytes) {
        Ok(raw) => pipeline.process(&raw, &origin),
        Err(SourceError::TooLarge { size, limit, .. }) => {
            pipeline.record_oversized(&origin, size, limit)
        }
        Err(e) => Err(e.into()),
    }
}

/// The driver's commit for a batch, then the moves and one sync per folder. A
/// message whose move failed stays in the inbox and is handled again (a duplicate of
/// its stored outcome).
fn commit_and_move<'e>(
    pipeline: &Pipeline,
    maildir: &Maildir,
    decided: Decided<'e>,
) -> Decided<'e> {
    let (mut seen, mut quarantined) = (false, false);
    let moved: Decided<'e> = driver::commit(pipeline, decided)
        .into_iter()
        .map(|(entry, committed): (&MaildirEntry, Committed)| {
            let result = committed.and_then(|(outcome, to)| {
                let quarantine = to == Destination::Quarantine;
                maildir.move_unsynced(entry, quarantine)?;
                quarantined |= quarantine;
                seen |= !quarantine;
                Ok(outcome)
            });
            (entry, result)
        })
        .collect();
    if let Err(e) = maildir.sync_moves(seen, quarantined) {
        // The moves may not survive a power cut; if they do not, the messages are
        // handled again, as duplicates of their stored outcomes.
        warn!(error = %e, "could not sync the Maildir after moving a batch");
    }
    moved
}

/// The result of a batch's commit thread; a panic there (a bug) leaves the batch in
/// the inbox, each message counted as deferred, and halts the pass.
fn join_commit<'e>((handle, entries): Committing<'_, 'e>) -> Decided<'e> {
    handle.join().unwrap_or_else(|_| {
        warn!("a batch commit failed; its messages wait for a later pass");
        entries
            .into_iter()
            .map(|entry| (entry, Err(StoreError::BatchFailed.into())))
            .collect()
    })
}

/// Counts a batch's results; true when the pass should stop.
fn count_all(pass: &mut Pass, decided: Decided<'_>) -> bool {
    let mut halt = false;
    for (entry, result) in decided {
        halt |= pass.count(result, &entry.unique);
    }
    halt
}

/// Runs a pass at every poll until shutdown. Delivery is woken by each committed
/// batch, not after the whole pass.
pub(crate) async fn watch(
    pipeline: Arc<Pipeline>,
    maildir: Maildir,
    poll_interval: Duration,
    mut shutdown: Shutdown,
    wake_delivery: Arc<Notify>,
) {
    let maildir = Arc::new(maildir);
    loop {
        let (p, m, s, w) = (
            Arc::clone(&pipeline),
            Arc::clone(&maildir),
            shutdown.clone(),
            Arc::clone(&wake_delivery),
        );
        let result: Result<Pass, DaemonError> =
            blocking(move || pass(&p, &m, &s, &|| w.notify_one())).await;
        match result {
            Ok(pass) => {
                pipeline.progress.mark_pass();
                if pass.deferred > 0 {
                    warn!(
                        deferred = pass.deferred,
                        "some messages wait for a later pass"
                    );
                }
            }
            Err(e) => error!(error = %e, "inbox pass failed; retrying at the next tick"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll_interval) => {}
            _ = shutdown.wait() => return,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::config::Settings;

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
        let pass = pass(&p, &maildir, &Shutdown::never(), &|| ()).unwrap();
        assert_eq!((pass.quarantined, pass.reports), (1, 1));
        let records = p.store.intake_records().unwrap();
        assert_eq!(records.len(), 1);
        assert!(records[0].reason.contains("internal error"));
        assert!(dir.path().join("inbox/.Quarantine/new/1.bug").exists());
    }
}
