//! Numbers a restore carries over from the store it copies, and what a restore must
//! not roll back.
//!
//! - IDs (outbox jobs, intake records) are sled's generator plus a base recorded in
//!   `meta`. sled's generator cannot be set, only advanced one by one, and a store
//!   that was opened often is far along (sled jumps two million at every open): a
//!   restore records the copied store's next ID as the base instead of spinning the
//!   generator up to it. The base is bounded ([`MAX_ID_BASE`]), so a crafted backup
//!   cannot make IDs overflow.
//! - The maintainers' used signatures (see `TREE_SIGNATURES`) are as old as the
//!   backup: signatures taken after it are forgotten by a restore. So a restore also
//!   records its own time, and no maintainer signature made before it is taken
//!   ([`Store::signatures_not_before`]).

use chrono::{DateTime, Utc};

use super::{SCHEMA, Store, StoreError, TREE_META};

/// `meta` key: the base added to sled's generator (u64, big-endian).
const META_ID_BASE: &[u8] = b"id_base";
/// `meta` key: when the store was restored (Unix seconds, i64 big-endian).
const META_RESTORED_AT: &[u8] = b"restored_at";

/// The largest next-ID a backup may carry: far past what a store reaches (two
/// million per open of the store would take a hundred million opens), far below
/// where adding sled's own IDs could overflow.
pub(crate) const MAX_ID_BASE: u64 = 1 << 48;

/// The ID base in a store's `meta` tree, checked against [`MAX_ID_BASE`].
pub(super) fn id_base(meta: &super::guard::Tree) -> Result<u64, StoreError> {
    let Some(bytes) = meta.get(META_ID_BASE)? else {
        return Ok(0);
    };
    let base = <[u8; 8]>::try_from(bytes.as_ref())
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Decode(format!("meta {TREE_META}/id_base")))?;
    check_id_base(base)?;
    Ok(base)
}

/// Refuses an ID base past [`MAX_ID_BASE`].
pub(crate) fn check_id_base(base: u64) -> Result<(), StoreError> {
    if base > MAX_ID_BASE {
        return Err(StoreError::Decode(format!(
            "a next ID of {base} is past the largest a store reaches ({MAX_ID_BASE})"
        )));
    }
    Ok(())
}

impl Store {
    /// A fresh ID: increasing within this store, past every ID of the store it was
    /// restored from.
    pub(super) fn new_id(&self) -> Result<u64, StoreError> {
        self.id_base
            .checked_add(self.db.generate_id()?)
            .ok_or_else(|| StoreError::Decode("the store's IDs are used up".into()))
    }

    /// Records, in a store being restored, the next ID of the copied store and the
    /// time of the restore.
    pub(super) fn mark_restored(
        &mut self,
        next_id: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        check_id_base(next_id)?;
        self.meta.insert(META_ID_BASE, &next_id.to_be_bytes())?;
        self.meta
            .insert(META_RESTORED_AT, &now.timestamp().to_be_bytes())?;
        self.id_base = next_id;
        Ok(())
    }

    /// When this store was last restored from a backup: a maintainer's signature made
    /// before then may have acted on the store the backup was taken from after the
    /// backup, and is never taken.
    pub fn signatures_not_before(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let Some(bytes) = self.meta.get(META_RESTORED_AT)? else {
            return Ok(None);
        };
        let secs = <[u8; 8]>::try_from(bytes.as_ref())
            .map(i64::from_be_bytes)
            .map_err(|_| StoreError::Decode(format!("meta {TREE_META}/restored_at")))?;
        Ok(DateTime::from_timestamp(secs, 0))
    }

    /// Forgets used maintainer signatures taken before `before`: a signature that
    /// old is refused by its age anyway. Returns how many were removed.
    pub fn prune_signatures(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let _writing = self.writing()?;
        let cutoff = before.timestamp();
        let mut old = Vec::new();
        for item in self.signatures.iter()? {
            let (k, v) = item?;
            let taken = match v.split_first() {
                Some((&SCHEMA, rest)) => <[u8; 8]>::try_from(rest).map(i64::from_be_bytes).ok(),
                _ => None,
            };
            // A record that does not read is kept: forgetting it could let a
            // signature act twice.
            if taken.is_some_and(|t| t < cutoff) {
                old.push(k);
            }
        }
        for k in &old {
            self.signatures.remove(k)?;
        }
        Ok(old.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn old_signatures_are_pruned_and_recent_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&dir.path().join("s"), &crate::store::StoreKey::for_tests(1)).unwrap();
        let now = Utc::now();
        let record = |t: DateTime<Utc>| {
            let mut v = vec![SCHEMA];
            v.extend_from_slice(&t.timestamp().to_be_bytes());
            v
        };
        let old = now - chrono::Duration::days(30);
        store.signatures.insert(b"old", record(old)).unwrap();
        store.signatures.insert(b"new", record(now)).unwrap();
        store.signatures.insert(b"odd", &b"?"[..]).unwrap();
        let pruned = store
            .prune_signatures(now - chrono::Duration::days(8))
            .unwrap();
        assert_eq!(pruned, 1);
        assert!(store.signatures.get(b"old").unwrap().is_none());
        assert!(store.signatures.get(b"new").unwrap().is_some());
        assert!(store.signatures.get(b"odd").unwrap().is_some());
    }

    #[test]
    fn an_id_base_past_the_bound_is_refused() {
        assert!(check_id_base(MAX_ID_BASE).is_ok());
        assert!(check_id_base(1 << 62).is_err());
    }
}
