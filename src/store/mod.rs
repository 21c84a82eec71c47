//! The embedded database (sled): reports, the intake log of messages that did not become
//! reports, dedupe indexes, keys learnt from mail, and the outgoing queue.
//!
//! This is the only module that touches `sled`. Tree names are constants, numeric key
//! parts are big-endian so iteration order is numeric order, and every value starts with
//! a schema-version byte. A message's outcome is written in one transaction together
//! with its dedupe entries and its outgoing mail, then flushed, before the message is
//! moved out of the inbox: a crash at any point replays the message, and dedupe makes
//! the replay harmless.
//!
//! # Layout
//! - `records`: the records as serialised; `lifecycle`: a maintainer's changes to one;
//!   `advisory_data`: the advisory details' checks and the researcher's credit.
//! - `open`: opening (the lock, unfinished snapshots, derived trees rebuilt).
//! - `reports`: reports, their heads, threads and the open-deadline index.
//! - `intake`: dedupe by Message-ID and content, the intake log, attachments.
//! - `jobs`: the outgoing queue and its index of open jobs.
//! - `rate`: notice slots and send-rate counters.
//! - `keys`: reporters' certificates learnt from mail; `retry`: quarantine retry.
//! - `tx`: how a transaction is aborted, and job IDs drawn before it.
//! - `ids`: the ID base and the restore time a restore records.
//! - `seal`: the store key, data keys and sealed values; `shred`: sealing an earlier
//!   version's clear store, and purging a report (crypto-shredding).
//! - `backup`, `lock`, `permissions`: the store as a whole on disk.

mod advisory_data;
mod backup;
mod embargo;
mod guard;
mod ids;
mod inhand;
mod intake;
mod jobs;
mod keys;
mod lifecycle;
mod lock;
mod open;
pub(crate) use open::DEFAULT_CACHE_BYTES;
mod permissions;
mod queue;
mod rate;
mod records;
mod reports;
mod retry;
mod seal;
mod shred;
mod timeline;
mod tx;

pub(crate) use advisory_data::{CreditChoice, CreditReply, CreditType};
pub(crate) use advisory_data::{credit_from_reply, parse_date, parse_ranges};
pub(crate) use backup::Exported;
pub(crate) use embargo::{Embargo, EmbargoChange, EmbargoState};
pub(crate) use inhand::{Handling, Held, HeldKind, Overdue};
pub(crate) use intake::FollowUpRead;
pub(crate) use keys::AddressKey;
pub(crate) use lifecycle::Change;
#[cfg(test)]
pub(crate) use lifecycle::tests_support;
pub(crate) use lifecycle::{Detail, assignment_notice, resolve_assignee};
pub(crate) use lock::{Holder, holder, wait_for_others};
pub use records::*;
pub(crate) use retry::Release;
pub(crate) use seal::NotAStoreKey;
pub use seal::StoreKey;
pub use shred::{SealCost, seal_cost};
pub(crate) use timeline::Timeline;

const TREE_META: &str = "meta";
const TREE_REPORTS: &str = "reports";
/// Report key → the report without its texts (body, long fields, correspondence
/// bodies, events): what listings and digests read, a fraction of the full record.
/// Written in the same transactions as `reports`.
const TREE_HEADS: &str = "report_heads";
/// Job ID → state and next attempt of every job not yet sent (pending or failed):
/// the delivery loop's look-up every second must not read every mail ever sent.
/// Written with the job, in the same transaction.
const TREE_OUTBOX_OPEN: &str = "outbox_open";
/// `meta` key: the version of the derived trees (heads, outbox_open) the store holds;
/// missing or older, they are rebuilt from `reports` and `outbox` at open.
const META_INDEXES: &[u8] = b"indexes";
/// 2: heads are [`HeadRecord`]s (1 stored them as `Report`s).
const INDEXES_VERSION: u8 = 2;
const TREE_MSGIDS: &str = "msgids";
const TREE_HASHES: &str = "hashes";
const TREE_INTAKE: &str = "intake";
const TREE_OUTBOX: &str = "outbox";
const TREE_ATTACHMENTS: &str = "attachments";
/// Primary fingerprint → a reporter's certificate (a bounded copy) that proved a
/// message; see [`keys`].
const TREE_KEYS: &str = "learnt_keys";
/// `HANDLE \0 PRIMARY` (key ID or fingerprint of a validly bound signing key, and
/// the primary fingerprint of its certificate) → nothing: who may have made a
/// signature. Several certificates may claim one handle; all are candidates.
const TREE_KEY_IDS: &str = "signing_key_index";
/// `ADDRESS \0 PRIMARY` → when that address first proved that key (Unix seconds,
/// big-endian): which keys each address has used, for maintainers.
const TREE_KEY_ADDRS: &str = "address_keys";
/// The trees the two above replace (handle → one fingerprint, last writer wins;
/// address → first fingerprint): read once at open and removed.
const LEGACY_KEY_IDS: &str = "learnt_key_ids";
const LEGACY_KEY_ADDRS: &str = "learnt_key_addrs";
/// Fingerprint → a key a message offered, written by earlier versions; read only
/// to answer the reports that recorded it.
const TREE_OFFERED: &str = "offered_keys";
/// `ISSUER \0 SHA256` (the hex handle of a signature's issuer the gateway lacked,
/// and the content hash of the message it signed, kept in `attachments`) → nothing:
/// reports a key arriving later may still prove.
const TREE_LATE_PROOFS: &str = "late_proofs";
const TREE_NOTICES: &str = "notice_times";
/// SHA-256 of a maintainer's signature packet → when it was accepted (schema byte,
/// Unix seconds big-endian): each signature acts once, whatever Message-ID or
/// envelope a copy of it arrives in. Written in the transaction that acts on it.
const TREE_SIGNATURES: &str = "maintainer_signatures";
/// Message-ID of any message of a report's thread → the report's ID.
const TREE_THREADS: &str = "threads";
/// (due time, report, deadline) → report ID, for deadlines not yet met or escalated.
const TREE_DEADLINES: &str = "open_deadlines";

/// Version byte in front of every value.
const SCHEMA: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sled::Error,
    },
    #[error("store {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The lock sled takes on the store is held (see [`lock`]).
    #[error("store {path} is {holder}")]
    Locked { path: String, holder: Holder },
    /// A command that only reads was pointed at a store that does not exist.
    #[error(
        "no store at {path} (store.path): nothing is created by this command; check the configuration and the directory it is run from"
    )]
    Missing { path: String },
    #[error("store: {0}")]
    Db(#[from] sled::Error),
    #[error("store: a record does not decode ({0}); was it written by a newer version?")]
    Decode(String),
    /// The store was used from inside one of its own transactions (a programming
    /// error: it would wait for ever; see [`guard`]).
    #[error("store: accessed inside a store transaction (a bug; the change was not made)")]
    InsideTransaction,
    #[error("store: no report {0}")]
    NoSuchReport(String),
    /// The year's report numbers (`u32`) are used up: no report can be stored.
    #[error("store: no report number is left for {year}")]
    NumbersExhausted { year: u16 },
    /// A batch of messages could not be committed (the cause is logged once, for
    /// the batch); its messages stay in the inbox.
    #[error("store: this message's batch was not committed")]
    BatchFailed,
    /// A change a maintainer asked for that the report's state does not allow.
    #[error("{0}")]
    Refused(String),
    /// The store key given is not the one this store was sealed with.
    #[error(
        "the store key does not open this store: it was sealed with another store key (is the key file or credential the right one?)"
    )]
    WrongKey,
    /// The data key of a record was destroyed (`reports purge`): its content is gone.
    #[error("store: the content sealed with data key {0} was purged")]
    Purged(String),
    /// The store holds decrypted reports; other users must not reach it.
    #[error(
        "store: {path} can be read by other users (mode {mode:04o}); fix it with: chmod -R go-rwx {path}"
    )]
    Exposed { path: String, mode: u32 },
}

impl StoreError {
    /// Store failures are never the message's fault: retry later or stop.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Db(_) | StoreError::BatchFailed)
    }
}

/// The result of committing a message's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commit {
    Stored(OutcomeRef),
    /// The same message (by Message-ID or bytes) was handled before.
    Duplicate(OutcomeRef),
}

/// The embedded store.
#[derive(Clone)]
pub struct Store {
    db: guard::Db,
    meta: guard::Tree,
    reports: guard::Tree,
    heads: guard::Tree,
    msgids: guard::Tree,
    hashes: guard::Tree,
    intake: guard::Tree,
    outbox: guard::Tree,
    outbox_open: guard::Tree,
    attachments: guard::Tree,
    keys: guard::Tree,
    key_ids: guard::Tree,
    key_addrs: guard::Tree,
    offered: guard::Tree,
    late_proofs: guard::Tree,
    notices: guard::Tree,
    signatures: guard::Tree,
    threads: guard::Tree,
    deadlines: guard::Tree,
    /// Purged reports' tombstones (see [`shred`]).
    purged: guard::Tree,
    /// Added to sled's generator: the next ID of the store this one was restored
    /// from (see [`ids`]).
    id_base: u64,
    /// Serialises the read-modify-write of rate-limit counters between workers.
    rate_lock: std::sync::Arc<std::sync::Mutex<()>>,
    /// Every write holds this shared; a backup holds it exclusively, so that the
    /// export is one consistent state across trees (sled has no snapshot of several
    /// trees): writers wait for the backup, readers do not.
    writes: std::sync::Arc<std::sync::RwLock<()>>,
    /// When the running backup started and when the last one ended: the watchdog
    /// does not count the time writes waited for a backup as a stall.
    exports: std::sync::Arc<backup::ExportClock>,
    /// Seals what reports say with their data keys (see [`seal`]).
    seal: std::sync::Arc<seal::Sealer>,
    /// Marks the store open in this process until the last clone is gone; after
    /// `db`, so it goes after sled's handle.
    _open: std::sync::Arc<lock::Registration>,
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![SCHEMA];
    serde_json::to_writer(&mut out, value).map_err(|e| StoreError::Decode(e.to_string()))?;
    Ok(out)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&SCHEMA, rest)) => {
            serde_json::from_slice(rest).map_err(|e| StoreError::Decode(e.to_string()))
        }
        Some((v, _)) => Err(StoreError::Decode(format!("schema version {v}"))),
        None => Err(StoreError::Decode("empty value".into())),
    }
}

/// Every value of a tree, opened and decoded by `open` (given key and value) on
/// every core: decoding dominates a listing of a large store.
fn decode_all<T: Send>(
    tree: &guard::Tree,
    open: impl Fn(&[u8], &[u8]) -> Result<T, StoreError> + Sync,
) -> Result<Vec<T>, StoreError> {
    let raw = tree.iter()?.collect::<Result<Vec<_>, _>>()?;
    crate::workers::map(&raw, 512, |(k, v)| open(k, v))
        .into_iter()
        .collect()
}

/// How many values [`decode_each`] holds at once: enough for every core to decode a
/// few hundred, few enough that a listing of any store stays within a few MiB.
const DECODE_CHUNK: usize = 4096;

/// Every value of a tree, in key order, opened and decoded by `open` (given key and
/// value) a chunk at a time on every core and handed to `f` one by one: memory stays
/// bounded by the chunk, not the store.
fn decode_each<T: Send>(
    tree: &guard::Tree,
    open: impl Fn(&[u8], &[u8]) -> Result<T, StoreError> + Sync,
    f: impl FnMut(T) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    decode_each_in(tree, DECODE_CHUNK, open, f)
}

fn decode_each_in<T: Send>(
    tree: &guard::Tree,
    chunk: usize,
    open: impl Fn(&[u8], &[u8]) -> Result<T, StoreError> + Sync,
    mut f: impl FnMut(T) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    // Each value is read by its key rather than from the iterator: sled's page cache
    // (`lru.rs`) acts on a shard of pages only after 64 recorded accesses, and an
    // iterator records one per leaf of about a dozen values, so one pass over a tree
    // left most of its leaves in memory whatever `cache_capacity` said (the whole
    // heads tree of a large store: BENCHMARKS.md, "Store scale"). A read by key
    // records an access per value, and the cache evicts as the pass goes.
    let mut keys = tree.iter()?.keys();
    loop {
        let mut raw = Vec::with_capacity(chunk.max(1));
        let mut taken = 0;
        for key in keys.by_ref().take(chunk.max(1)) {
            taken += 1;
            let key = key?;
            // Gone since the iterator passed it (removed meanwhile): skipped.
            if let Some(value) = tree.get(&key)? {
                raw.push((key, value));
            }
        }
        if taken == 0 {
            return Ok(());
        }
        for opened in crate::workers::map(&raw, 512, |(k, v)| open(k, v)) {
            f(opened?)?;
        }
    }
}

fn u64_from(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    for (dst, src) in b.iter_mut().zip(bytes.iter()) {
        *dst = *src;
    }
    u64::from_be_bytes(b)
}

/// A store path as the operator should see it: absolute, as it resolved here.
fn shown(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

impl Drop for Store {
    /// Writes out what is still buffered before the handle goes: intake records are
    /// flushed by their callers in batches, and sled finishes a pending log write on
    /// a thread of its own, holding the store's lock until it is done. Waiting here
    /// releases the lock when the store is dropped, for whoever opens it next.
    fn drop(&mut self) {
        if let Err(e) = self.db.flush_at_close() {
            tracing::warn!(error = %e, "store flush at close failed");
        }
    }
}

impl Store {
    /// Held shared by every write, so that [`Store::export`] can pause them. A
    /// poisoned lock guards nothing (the unit value), so it is taken anyway. Refused
    /// inside a transaction like any store access: taken a second time by the same
    /// thread while a backup waits for it, it would wait for ever.
    fn writing(&self) -> Result<std::sync::RwLockReadGuard<'_, ()>, StoreError> {
        guard::outside()?;
        Ok(self
            .writes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Fresh job IDs (increasing, so the queue lists oldest first).
    fn job_ids(&self, n: usize) -> Result<Vec<u64>, StoreError> {
        (0..n).map(|_| self.new_id()).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
pub(crate) mod tests;
