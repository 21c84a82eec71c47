//! The pipeline's errors, by what the caller does with them.

use crate::crypto;
use crate::outbox;
use crate::source::SourceError;
use crate::store::StoreError;

/// Failures of the pipeline as a whole: opening it (then the daemon does not start),
/// or a round of delivery or scheduled work (logged; the next round tries again).
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
    #[error(transparent)]
    Publish(#[from] crate::publish::PublishError),
    #[error(transparent)]
    StoreKey(#[from] super::store_key::StoreKeyError),
}

/// Why one message could not be decided or moved now. A message's own faults are
/// never errors: unreadable, malformed or over a limit, it is quarantined, which is
/// an outcome. These are the gateway's troubles, and the message stays in the inbox.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// What an inbox pass does after a [`MessageError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Leave the message in the inbox and carry on with the others; a later pass
    /// reads it again (one file that could not be read or moved).
    Retry,
    /// Leave it and end the pass: the store failed, and would fail every other
    /// message the same way.
    Stop,
}

impl MessageError {
    pub fn next_step(&self) -> NextStep {
        match self {
            MessageError::Store(_) => NextStep::Stop,
            MessageError::Source(_) => NextStep::Retry,
        }
    }
}

impl From<MessageError> for PipelineError {
    fn from(e: MessageError) -> PipelineError {
        match e {
            MessageError::Store(e) => PipelineError::Store(e),
            MessageError::Source(e) => PipelineError::Source(e),
        }
    }
}
