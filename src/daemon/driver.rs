//! The durability contract, written once for every inbox: decide, store, flush, then
//! move. A source (the Maildir batch pass, the IMAP loop, `run-once` through either)
//! decides messages with [`Pipeline::process`], hands them to [`commit`] (one store
//! flush for all of them), moves each where [`commit`] says, and counts the results
//! in a [`Pass`]. A message moves only once its outcome is durable, so a crash at any
//! point replays it, and dedupe makes the replay harmless.

use tracing::warn;

use crate::pipeline::{MessageError, NextStep, Outcome, Pipeline};
use crate::store::StoreError;

/// Where a message goes once its outcome is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// With the handled mail (`cur/` with the seen flag, or the processed folder).
    Handled,
    /// The quarantine folder.
    Quarantine,
}

/// A message's result after [`commit`]: its outcome and destination, or why it stays
/// in the inbox.
pub(crate) type Committed = Result<(Outcome, Destination), MessageError>;

/// Makes the outcomes of `decided` durable with one store flush, and says where each
/// message goes. When the flush fails, nothing may move: every message stays in the
/// inbox (its outcome is recorded but not durable; a later pass finds it a
/// duplicate of itself, or records it again).
pub(crate) fn commit<M>(
    pipeline: &Pipeline,
    decided: Vec<(M, Result<Outcome, MessageError>)>,
) -> Vec<(M, Committed)> {
    if decided.iter().any(|(_, r)| r.is_ok())
        && let Err(e) = flush(pipeline)
    {
        warn!(error = %e, "store flush failed; the batch stays in the inbox");
        return decided
            .into_iter()
            .map(|(m, r)| (m, r.and(Err(StoreError::BatchFailed.into()))))
            .collect();
    }
    decided
        .into_iter()
        .map(|(m, r)| {
            let committed = r.and_then(|outcome| {
                let quarantine = pipeline.belongs_in_quarantine(&outcome)?;
                let to = if quarantine {
                    Destination::Quarantine
                } else {
                    Destination::Handled
                };
                Ok((outcome, to))
            });
            (m, committed)
        })
        .collect()
}

/// The batch's durability point: the one store flush after its transactions, before
/// any of its messages moves. The debug builds' fault hook can make it fail
/// (`DISCLOSURED_TEST_FAIL=intake-flush`, see `crate::fault`).
fn flush(pipeline: &Pipeline) -> Result<(), StoreError> {
    if crate::fault::fail("intake-flush") {
        return Err(StoreError::Io {
            path: "(test fault hook)".into(),
            source: std::io::Error::other("the batch's flush fails (test fault hook)"),
        });
    }
    pipeline.store.flush()
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

impl Pass {
    /// Counts one message's final result; returns true when the pass should stop
    /// ([`NextStep::Stop`]: the store itself failed).
    pub fn count(&mut self, result: Result<Outcome, MessageError>, name: &str) -> bool {
        match result {
            Ok(Outcome::Report(_)) => self.reports += 1,
            Ok(Outcome::FollowUp(_)) => self.followups += 1,
            Ok(Outcome::Duplicate(_)) => self.duplicates += 1,
            Ok(Outcome::Skipped(_)) => self.skipped += 1,
            Ok(Outcome::Quarantined(_)) => self.quarantined += 1,
            Err(e) => {
                self.deferred += 1;
                warn!(message = %name, error = %e, "message left in the inbox for a later pass");
                return e.next_step() == NextStep::Stop;
            }
        }
        false
    }
}
