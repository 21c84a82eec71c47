//! The one rule of sled transactions this store enforces on itself: nothing reads or
//! writes the store from inside a transaction's closure.
//!
//! sled stages a transaction by taking its concurrency-control lock, runs the closure,
//! and only then lets go. A plain `Tree::get` inside the closure (a `Store` method
//! called from the callback a caller passed in, say) waits for that same lock: the
//! thread waits for itself, for ever, and with it the daemon or the command. This
//! happened (a status notice looked up the researcher's learnt key from inside
//! `modify_report`), so every handle on the database is wrapped here: [`Tree`] and
//! [`Db`] check a per-thread "inside a transaction" mark before they touch sled, and
//! every transaction is run through [`transact`], which sets it. A read inside a
//! closure fails at once: a panic in debug builds (so the tests find it), a typed
//! [`StoreError::InsideTransaction`] in release builds. sled's own
//! `transaction` methods are disallowed elsewhere (`clippy.toml`).

// The one module that calls sled's own methods (see clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::cell::Cell;

use sled::IVec;
use sled::transaction::{ConflictableTransactionResult, TransactionResult, Transactional};

use super::StoreError;

thread_local! {
    /// How many transactions this thread is inside (sled runs the closure on the
    /// calling thread).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Marks this thread as inside a transaction until dropped (also when a panic
/// unwinds through the closure).
struct Inside;

impl Inside {
    fn enter() -> Inside {
        DEPTH.with(|d| d.set(d.get().saturating_add(1)));
        Inside
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Whether this thread is inside a transaction's closure.
pub(super) fn inside() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

/// `Ok` outside a transaction; inside one, the error (or, in debug builds, the panic)
/// that replaces a wait for ever.
pub(super) fn outside() -> Result<(), StoreError> {
    if !inside() {
        return Ok(());
    }
    #[cfg(debug_assertions)]
    #[allow(clippy::panic)]
    // a programming error, for the tests to find; release builds return it
    {
        panic!(
            "store accessed inside a store transaction's closure: it would wait for ever for the transaction's own lock"
        );
    }
    #[cfg(not(debug_assertions))]
    Err(StoreError::InsideTransaction)
}

/// Runs `f` marked as inside a transaction: for a closure that a transaction will
/// run, called once before it (to size what it queues), so that a store access in
/// it fails there too rather than acting outside the transaction.
pub(super) fn as_if_inside<T>(f: impl FnOnce() -> T) -> T {
    let _inside = Inside::enter();
    f()
}

/// Runs a transaction over `trees` (a tuple of [`Tree::tx`] handles), marking the
/// thread as inside it for the closure's whole run. Refused inside another
/// transaction, like any other access.
pub(super) fn transact<T, A, E, F>(trees: &T, f: F) -> TransactionResult<A, E>
where
    T: Transactional<E>,
    F: Fn(&T::View) -> ConflictableTransactionResult<A, E>,
    E: From<StoreError>,
{
    outside().map_err(|e| sled::transaction::TransactionError::Abort(e.into()))?;
    let _inside = Inside::enter();
    trees.transaction(f)
}

/// A sled tree whose every access is refused inside a transaction's closure.
#[derive(Clone)]
pub(super) struct Tree(sled::Tree);

impl Tree {
    /// The raw tree, only to name it in a [`transact`] call.
    pub(super) fn tx(&self) -> &sled::Tree {
        &self.0
    }

    pub(super) fn get<K: AsRef<[u8]>>(&self, key: K) -> Result<Option<IVec>, StoreError> {
        outside()?;
        Ok(self.0.get(key)?)
    }

    pub(super) fn contains_key<K: AsRef<[u8]>>(&self, key: K) -> Result<bool, StoreError> {
        outside()?;
        Ok(self.0.contains_key(key)?)
    }

    pub(super) fn insert<K: AsRef<[u8]>, V: Into<IVec>>(
        &self,
        key: K,
        value: V,
    ) -> Result<Option<IVec>, StoreError> {
        outside()?;
        Ok(self.0.insert(key, value)?)
    }

    pub(super) fn compare_and_swap<K: AsRef<[u8]>, OV: AsRef<[u8]>, NV: Into<IVec>>(
        &self,
        key: K,
        old: Option<OV>,
        new: Option<NV>,
    ) -> Result<Result<(), sled::CompareAndSwapError>, StoreError> {
        outside()?;
        Ok(self.0.compare_and_swap(key, old, new)?)
    }

    #[cfg_attr(not(test), allow(dead_code))] // the tests take entries out
    pub(super) fn remove<K: AsRef<[u8]>>(&self, key: K) -> Result<Option<IVec>, StoreError> {
        outside()?;
        Ok(self.0.remove(key)?)
    }

    pub(super) fn iter(&self) -> Result<sled::Iter, StoreError> {
        outside()?;
        Ok(self.0.iter())
    }

    pub(super) fn range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(
        &self,
        range: R,
    ) -> Result<sled::Iter, StoreError> {
        outside()?;
        Ok(self.0.range(range))
    }

    pub(super) fn scan_prefix<P: AsRef<[u8]>>(&self, prefix: P) -> Result<sled::Iter, StoreError> {
        outside()?;
        Ok(self.0.scan_prefix(prefix))
    }

    pub(super) fn last(&self) -> Result<Option<(IVec, IVec)>, StoreError> {
        outside()?;
        Ok(self.0.last()?)
    }

    pub(super) fn len(&self) -> Result<usize, StoreError> {
        outside()?;
        Ok(self.0.len())
    }

    pub(super) fn clear(&self) -> Result<(), StoreError> {
        outside()?;
        Ok(self.0.clear()?)
    }
}

/// The database handle, with the same check as [`Tree`].
#[derive(Clone)]
pub(super) struct Db(sled::Db);

impl Db {
    pub(super) fn new(db: sled::Db) -> Db {
        Db(db)
    }

    pub(super) fn open_tree(&self, name: impl AsRef<[u8]>) -> Result<Tree, StoreError> {
        outside()?;
        Ok(Tree(self.0.open_tree(name)?))
    }

    pub(super) fn drop_tree(&self, name: impl AsRef<[u8]>) -> Result<bool, StoreError> {
        outside()?;
        Ok(self.0.drop_tree(name)?)
    }

    pub(super) fn tree_names(&self) -> Result<Vec<IVec>, StoreError> {
        outside()?;
        Ok(self.0.tree_names())
    }

    /// sled's ID generator waits for a running transaction's locks.
    pub(super) fn generate_id(&self) -> Result<u64, StoreError> {
        outside()?;
        Ok(self.0.generate_id()?)
    }

    pub(super) fn flush(&self) -> Result<usize, StoreError> {
        outside()?;
        Ok(self.0.flush()?)
    }

    /// Flushes without the check, for [`super::Store`]'s `Drop` (a store dropped
    /// while a panic unwinds through a closure must not panic again).
    pub(super) fn flush_at_close(&self) -> Result<usize, sled::Error> {
        self.0.flush()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn access_inside_a_transaction_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::new(sled::Config::new().path(dir.path()).open().unwrap());
        let tree = db.open_tree("t").unwrap();
        tree.insert(b"k", b"v".to_vec()).unwrap();
        // The closure reads the tree through the checked handle, as a callback
        // calling back into the store would; without the check it waits for ever.
        let read_inside = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: TransactionResult<(), StoreError> = transact(tree.tx(), |_| {
                let _ = tree.get(b"k");
                Ok(())
            });
        }));
        if cfg!(debug_assertions) {
            assert!(read_inside.is_err(), "a read inside the closure must panic");
        }
        assert!(!inside(), "the mark is cleared when the closure unwinds");
        assert_eq!(tree.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    }
}
