//! How a transaction is given up. The reason travels typed (sled carries any error
//! type through an abort), so a refused change, an unreadable record, an exhausted
//! sequence and a lack of job IDs each reach the caller as what they are.

use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{Store, StoreError};

/// Why a transaction that queues mail was given up.
#[derive(Debug)]
pub(super) enum Abort {
    /// Returned to the caller as it is.
    Failed(StoreError),
    /// The transaction needs more job IDs than were drawn before it: it runs again
    /// with more (see [`Store::with_job_ids`]).
    MoreJobIds,
}

impl From<StoreError> for Abort {
    fn from(e: StoreError) -> Abort {
        Abort::Failed(e)
    }
}

/// Gives a transaction up with `e`.
pub(super) fn abort<E: From<StoreError>>(e: StoreError) -> ConflictableTransactionError<E> {
    ConflictableTransactionError::Abort(e.into())
}

/// Gives a transaction up because the change it makes is refused, for `why`.
pub(super) fn refuse<E: From<StoreError>>(why: String) -> ConflictableTransactionError<E> {
    abort(StoreError::Refused(why))
}

/// The error of a transaction that queues no mail.
pub(super) fn tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Db(e),
    }
}

impl Store {
    /// Runs `tx`, a transaction that queues mail, with `wanted` job IDs drawn before
    /// it: sled's ID generator must not be called inside a transaction (it waits for
    /// the transaction's own locks). When the data changed meanwhile and the
    /// transaction needs more, they are drawn and it runs again.
    pub(super) fn with_job_ids<T>(
        &self,
        wanted: usize,
        tx: impl Fn(&[u64]) -> Result<T, TransactionError<Abort>>,
    ) -> Result<T, StoreError> {
        let mut wanted = wanted;
        loop {
            let ids = self.job_ids(wanted)?;
            match tx(&ids) {
                Ok(done) => return Ok(done),
                Err(TransactionError::Abort(Abort::MoreJobIds)) => wanted = wanted * 2 + 4,
                Err(TransactionError::Abort(Abort::Failed(e))) => return Err(e),
                Err(TransactionError::Storage(e)) => return Err(StoreError::Db(e)),
            }
        }
    }
}
