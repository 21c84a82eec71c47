//! Opening the store: the lock, the snapshot files a crash left unfinished, and the
//! derived trees (report heads, open jobs) rebuilt when an older version left them
//! missing or behind.

use std::path::Path;

use super::queue::{open_entry, open_job};
use super::reports::{open_report, sealed_report};
use super::seal::{Sealer, StoreKey};
use super::{INDEXES_VERSION, Job, JobState, META_INDEXES, Store, StoreError};
use super::{TREE_ATTACHMENTS, TREE_DEADLINES, TREE_HASHES, TREE_HEADS, TREE_INTAKE};
use super::{TREE_KEY_ADDRS, TREE_KEY_IDS, TREE_KEYS, TREE_META, TREE_MSGIDS, TREE_NOTICES};
use super::{
    TREE_OFFERED, TREE_OUTBOX, TREE_OUTBOX_OPEN, TREE_REPORTS, TREE_SIGNATURES, TREE_THREADS,
};
use super::{lock, permissions, shown};

/// Removes the snapshot files sled 0.34 left unfinished.
///
/// At open, sled recovers from its newest snapshot plus the log, and writes the
/// advanced snapshot as `snap.<lsn>.generating`, renamed to `snap.<lsn>` once synced.
/// But it picks the newest `snap.*` file whatever its suffix: a process killed while
/// writing one leaves a store that never opens again ("empty/corrupt snapshot file
/// found"; spacejam/sled#1527, #1533; the crash test hit it within 100 kills). An
/// unfinished snapshot holds nothing the log does not, and the snapshot before it is
/// only removed after the rename: without it sled recovers as after any crash.
///
/// Done only while holding the lock sled itself takes (`flock` on `db`), so a
/// snapshot another process is writing is never touched; when the store is in use,
/// nothing is removed and sled reports the lock.
fn remove_unfinished_snapshots(path: &Path) -> Result<(), StoreError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| StoreError::Io { path, source }
    };
    let db_file = path.join("db");
    let db = match std::fs::File::open(&db_file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(&db_file)(e)),
    };
    if db.try_lock().is_err() {
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(io(path))? {
        let entry = entry.map_err(io(path))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            let file = entry.path();
            tracing::warn!(file = %file.display(), "removing an unfinished store snapshot left by a crash");
            std::fs::remove_file(&file).map_err(io(&file))?;
        }
    }
    // The lock goes with `db`; sled takes its own at once.
    Ok(())
}

/// The page cache a store gets unless the configuration sets one (`store.cache_mb`).
pub(crate) const DEFAULT_CACHE_BYTES: u64 = 8 << 20;

impl Store {
    /// Opens the store at `path`, creating it when there is none, with the default page
    /// cache ([`DEFAULT_CACHE_BYTES`]). Refuses a store key that is not the one its
    /// records were sealed with.
    pub fn open(path: &Path, key: &StoreKey) -> Result<Store, StoreError> {
        Store::open_with_cache(path, key, DEFAULT_CACHE_BYTES)
    }

    /// As [`Store::open`], with sled's page cache bounded to `cache_bytes` (sled's own
    /// default is 1 GiB, which a daemon listing a large store would keep).
    pub fn open_with_cache(
        path: &Path,
        key: &StoreKey,
        cache_bytes: u64,
    ) -> Result<Store, StoreError> {
        Store::open_sealing(path, Sealer::new(path, key), cache_bytes)
    }

    /// Opens a store that writes in clear, as versions before sealing did: for the
    /// tests of the migration.
    #[cfg(test)]
    pub(crate) fn open_writing_clear(path: &Path, key: &StoreKey) -> Result<Store, StoreError> {
        Store::open_sealing(
            path,
            Sealer::new(path, key).writing_clear(),
            DEFAULT_CACHE_BYTES,
        )
    }

    pub(super) fn open_sealing(
        path: &Path,
        seal: Sealer,
        cache_bytes: u64,
    ) -> Result<Store, StoreError> {
        permissions::prepare(path)?;
        let locked = |holder| StoreError::Locked {
            path: shown(path),
            holder,
        };
        // Another process may take the lock between our look and sled's (a `doctor`
        // looking at who holds it takes it for an instant): look again, a few times.
        let mut attempts = 0;
        let db = loop {
            attempts += 1;
            lock::acquire(path).map_err(locked)?;
            remove_unfinished_snapshots(path)?;
            match sled::Config::new()
                .path(path)
                .cache_capacity(cache_bytes)
                .open()
            {
                Ok(db) => break db,
                // `acquire` decides again whether to wait for whoever has it.
                Err(source)
                    if attempts < 3 && source.to_string().contains("could not acquire lock") => {}
                Err(source) => {
                    return Err(match lock::holder(path) {
                        Some(holder) => locked(holder),
                        None => StoreError::Open {
                            path: path.display().to_string(),
                            source,
                        },
                    });
                }
            }
        };
        // Before anything is read or written: a wrong key changes nothing.
        seal.check_or_adopt()?;
        permissions::tighten(path)?;
        let db = super::guard::Db::new(db);
        let tree = |name: &str| db.open_tree(name);
        let meta = tree(TREE_META)?;
        let store = Store {
            id_base: super::ids::id_base(&meta)?,
            meta,
            reports: tree(TREE_REPORTS)?,
            heads: tree(TREE_HEADS)?,
            msgids: tree(TREE_MSGIDS)?,
            hashes: tree(TREE_HASHES)?,
            intake: tree(TREE_INTAKE)?,
            outbox: tree(TREE_OUTBOX)?,
            outbox_open: tree(TREE_OUTBOX_OPEN)?,
            attachments: tree(TREE_ATTACHMENTS)?,
            keys: tree(TREE_KEYS)?,
            key_ids: tree(TREE_KEY_IDS)?,
            key_addrs: tree(TREE_KEY_ADDRS)?,
            offered: tree(TREE_OFFERED)?,
            late_proofs: tree(super::TREE_LATE_PROOFS)?,
            notices: tree(TREE_NOTICES)?,
            signatures: tree(TREE_SIGNATURES)?,
            threads: tree(TREE_THREADS)?,
            deadlines: tree(TREE_DEADLINES)?,
            purged: tree(super::shred::TREE_PURGED)?,
            rate_lock: Default::default(),
            writes: Default::default(),
            exports: Default::default(),
            seal: std::sync::Arc::new(seal),
            _open: std::sync::Arc::new(lock::Registration::new(path)),
            db,
        };
        store.build_indexes()?;
        store.migrate_key_trees()?;
        store.seal_existing()?;
        store.finish_purges()?;
        Ok(store)
    }

    /// Opens an existing store; refuses to create one. For commands that only look at
    /// the store: run from the wrong directory or with the wrong configuration, they
    /// must say which path they tried, not answer from a new, empty store.
    pub fn open_existing(path: &Path, key: &StoreKey) -> Result<Store, StoreError> {
        Store::check_exists(path)?;
        Store::open(path, key)
    }

    /// Whether the store at `path` holds sealed records (then it has a store key of
    /// its own, and no other may be made for it).
    pub fn is_sealed(path: &Path) -> bool {
        Sealer::is_sealed_store(path)
    }

    /// Refuses a store path that holds no store.
    pub fn check_exists(path: &Path) -> Result<(), StoreError> {
        match std::fs::metadata(path.join("db")) {
            Ok(m) if m.is_file() => Ok(()),
            // A store this user may not look into is not a missing one.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(StoreError::Io {
                path: shown(path),
                source: e,
            }),
            _ => Err(StoreError::Missing { path: shown(path) }),
        }
    }

    /// Builds the derived trees (report heads, open jobs) of a store that predates
    /// them, once; see [`META_INDEXES`].
    fn build_indexes(&self) -> Result<(), StoreError> {
        if self.meta.get(META_INDEXES)?.as_deref() == Some(&[INDEXES_VERSION][..])
            && !self.newest_unindexed()?
        {
            return Ok(());
        }
        self.rebuild_indexes()
    }

    /// Whether the newest report or job lacks its derived entry: what an older
    /// version, run on this store in between, leaves behind.
    fn newest_unindexed(&self) -> Result<bool, StoreError> {
        if let Some((k, _)) = self.reports.last()?
            && !self.heads.contains_key(&k)?
        {
            return Ok(true);
        }
        if let Some((k, v)) = self.outbox.last()? {
            let job: Job = open_job(&self.seal, &k, &v)?;
            return Ok(job.state != JobState::Sent && !self.outbox_open.contains_key(&k)?);
        }
        Ok(false)
    }

    /// Rewrites the derived trees from `reports` and `outbox`.
    pub(crate) fn rebuild_indexes(&self) -> Result<(), StoreError> {
        tracing::info!(
            reports = self.reports.len()?,
            "rebuilding the store's listing and queue indexes (after an upgrade or a restore)"
        );
        self.heads.clear()?;
        for item in self.reports.iter()? {
            let (k, v) = item?;
            let report = open_report(&self.seal, &k, &v)?;
            let slot = match self.report_slot(&k)? {
                Some(slot) => slot,
                None => self.seal.new_slot()?,
            };
            self.seal.remember(&k, slot);
            let (_, head) = sealed_report(&self.seal, slot, &k, &report)?;
            self.heads.insert(k, head)?;
        }
        self.outbox_open.clear()?;
        for item in self.outbox.iter()? {
            let (k, v) = item?;
            if let Some(e) = open_entry(&open_job(&self.seal, &k, &v)?) {
                self.outbox_open.insert(k, &e)?;
            }
        }
        self.meta.insert(META_INDEXES, &[INDEXES_VERSION])?;
        self.flush()
    }
}
