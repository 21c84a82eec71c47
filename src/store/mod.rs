//! The embedded database (sled): reports, the intake log of messages that did not become
//! reports, dedupe indexes, keys learnt from mail, and the outgoing queue.
//!
//! This is the only module that touches `sled`. Tree names are constants, numeric key
//! parts are big-endian so iteration order is numeric order, and every value starts with
//! a schema-version byte. A message's outcome is written in one transaction together
//! with its dedupe entries and its outgoing mail, then flushed, before the message is
//! moved out of the inbox: a crash at any point replays the message, and dedupe makes
//! the replay harmless.

mod backup;
mod keys;
mod lifecycle;
mod lock;
mod permissions;
mod records;
mod retry;

use chrono::{DateTime, Datelike, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

pub use backup::{BACKUP_HEADER, Exported};
pub use keys::AddressKey;
pub use lifecycle::Change;
pub use lock::{CLOSE_WAIT, Holder, holder, wait_for_others};
pub use records::*;
pub use retry::{Release, Retried};

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
const TREE_NOTICES: &str = "notice_times";
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
    #[error("store: no report {0}")]
    NoSuchReport(String),
    /// A batch of messages could not be committed (the cause is logged once, for
    /// the batch); its messages stay in the inbox.
    #[error("store: this message's batch was not committed")]
    BatchFailed,
    /// A change a maintainer asked for that the report's state does not allow.
    #[error("{0}")]
    Refused(String),
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
    db: sled::Db,
    meta: sled::Tree,
    reports: sled::Tree,
    heads: sled::Tree,
    msgids: sled::Tree,
    hashes: sled::Tree,
    intake: sled::Tree,
    outbox: sled::Tree,
    outbox_open: sled::Tree,
    attachments: sled::Tree,
    keys: sled::Tree,
    key_ids: sled::Tree,
    key_addrs: sled::Tree,
    offered: sled::Tree,
    notices: sled::Tree,
    threads: sled::Tree,
    deadlines: sled::Tree,
    /// Serialises the read-modify-write of rate-limit counters between workers.
    rate_lock: std::sync::Arc<std::sync::Mutex<()>>,
    /// Every write holds this shared; a backup holds it exclusively, so that the
    /// export is one consistent state across trees (sled has no snapshot of several
    /// trees): writers wait for the backup, readers do not.
    writes: std::sync::Arc<std::sync::RwLock<()>>,
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

fn abort<E: std::fmt::Display>(e: E) -> ConflictableTransactionError<String> {
    ConflictableTransactionError::Abort(e.to_string())
}

fn tx_error(e: TransactionError<String>) -> StoreError {
    match e {
        TransactionError::Abort(msg) => StoreError::Decode(msg),
        TransactionError::Storage(e) => StoreError::Db(e),
    }
}

/// Aborts a transaction because a change was refused (not a decoding problem).
const REFUSED: &str = "refused: ";

fn refuse(msg: String) -> ConflictableTransactionError<String> {
    ConflictableTransactionError::Abort(format!("{REFUSED}{msg}"))
}

fn modify_error(e: TransactionError<String>) -> StoreError {
    match e {
        TransactionError::Abort(msg) => match msg.strip_prefix(REFUSED) {
            Some(m) => StoreError::Refused(m.to_string()),
            None => StoreError::Decode(msg),
        },
        TransactionError::Storage(e) => StoreError::Db(e),
    }
}

/// The open-deadline index keys of a report: due time, report, deadline.
fn deadline_keys(report: &Report) -> Vec<Vec<u8>> {
    let Some((year, seq)) = ReportId::parse_numbers(report.id.as_str()) else {
        return Vec::new();
    };
    report
        .open_deadlines()
        .into_iter()
        .map(|(name, at)| {
            let mut k = u64::try_from(at.timestamp())
                .unwrap_or(0)
                .to_be_bytes()
                .to_vec();
            k.extend_from_slice(&report_key(year, seq));
            k.push(name.code());
            k
        })
        .collect()
}

/// Brings the open-deadline index from `old`'s entries to `new`'s.
fn sync_deadlines(
    tree: &sled::transaction::TransactionalTree,
    old: Option<&Report>,
    new: &Report,
) -> Result<(), ConflictableTransactionError<String>> {
    let before = old.map(deadline_keys).unwrap_or_default();
    let after = deadline_keys(new);
    for k in before.iter().filter(|k| !after.contains(k)) {
        tree.remove(k.as_slice())?;
    }
    for k in after.iter().filter(|k| !before.contains(k)) {
        tree.insert(k.as_slice(), new.id.as_str().as_bytes())?;
    }
    Ok(())
}

/// Aborts a transaction that needs more job IDs than were drawn before it.
const MORE_IDS: &str = "more job ids needed";

/// Queues `jobs` about `outcome` inside a transaction, under IDs drawn before it
/// (sled's ID generator must not be called inside a transaction: it waits for the
/// transaction's own locks); replies with a known Message-ID join the report's thread
/// at once.
fn queue_jobs(
    ids: &[u64],
    (outbox, open): (
        &sled::transaction::TransactionalTree,
        &sled::transaction::TransactionalTree,
    ),
    threads: &sled::transaction::TransactionalTree,
    jobs: &[NewJob],
    outcome: Option<&OutcomeRef>,
) -> Result<(), ConflictableTransactionError<String>> {
    if jobs.len() > ids.len() {
        return Err(ConflictableTransactionError::Abort(MORE_IDS.into()));
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
fn open_entry(job: &Job) -> Option<[u8; 9]> {
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

/// Automatic messages sent to one address (or to everyone) recently, counted in
/// buckets of a sixtieth of the rate window: (bucket start, count), oldest first. The
/// record stays small however high the limit (a list of every timestamp grew with
/// the limit and was rewritten whole at every message), at the price of a window
/// that is exact to within a sixtieth of its length (on the strict side).
struct SendCounts(Vec<(i64, u64)>);

impl SendCounts {
    /// Reads a stored record; the older form, a list of timestamps, becomes one
    /// bucket per timestamp. Anything unreadable counts as no sends: rate state is
    /// a safeguard, never a reason to stop.
    fn decode(bytes: Option<&[u8]>) -> SendCounts {
        let Some(bytes) = bytes else {
            return SendCounts(Vec::new());
        };
        if let Ok(counts) = decode::<Vec<(i64, u64)>>(bytes) {
            return SendCounts(counts);
        }
        let times: Vec<i64> = decode(bytes).unwrap_or_default();
        SendCounts(times.into_iter().map(|t| (t, 1)).collect())
    }

    /// Forgets the buckets wholly before `start`; a bucket that straddles it still
    /// counts in full (the limit errs on the strict side).
    fn forget_before(&mut self, start: i64, window: i64) {
        let width = Self::width(window);
        self.0.retain(|(at, _)| at.saturating_add(width) > start);
    }

    fn width(window: i64) -> i64 {
        (window / 60).max(1)
    }

    fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }

    fn add(&mut self, now: i64, window: i64) {
        let width = Self::width(window);
        let bucket = now - now.rem_euclid(width);
        match self.0.last_mut() {
            Some((at, n)) if *at == bucket => *n += 1,
            _ => self.0.push((bucket, 1)),
        }
    }
}

/// Writes a job (already encoded as `value`) and its `outbox_open` entry.
fn put_job(
    outbox: &sled::transaction::TransactionalTree,
    open: &sled::transaction::TransactionalTree,
    job: &Job,
    value: Vec<u8>,
) -> Result<(), ConflictableTransactionError<String>> {
    let key = job.id.to_be_bytes();
    outbox.insert(&key, value)?;
    match open_entry(job) {
        Some(e) => open.insert(&key, &e)?,
        None => open.remove(&key)?,
    };
    Ok(())
}

/// Every value of a tree, decoded on every core: decoding dominates a listing of a
/// large store.
fn decode_all<T: serde::de::DeserializeOwned + Send>(
    tree: &sled::Tree,
) -> Result<Vec<T>, StoreError> {
    let raw = tree.iter().values().collect::<Result<Vec<_>, _>>()?;
    crate::workers::map(&raw, 512, |v| decode(v))
        .into_iter()
        .collect()
}

/// A report without what only `reports show` needs; see [`TREE_HEADS`].
fn head_of(report: &Report) -> HeadRecord {
    let mut head = report.clone();
    head.data.body = String::new();
    let f = &mut head.data.fields;
    f.description = None;
    f.steps_to_reproduce = None;
    f.proof_of_concept = None;
    f.impact = None;
    f.suggested_fix = None;
    for c in &mut head.correspondence {
        c.body = String::new();
    }
    head.events = Vec::new();
    HeadRecord::from(head)
}

/// A report head as stored: a [`Report`]'s fields with the received data nested, not
/// flattened. serde reads a flattened struct through a buffer of every field, which
/// was a third of the time of listing 100,000 reports; heads are read by the
/// thousand, full reports one at a time, so only heads have this layout.
#[derive(serde::Serialize, serde::Deserialize)]
struct HeadRecord {
    id: ReportId,
    status: Status,
    data: NewReport,
    triage: Triage,
    correspondence: Vec<Correspondence>,
    milestones: std::collections::BTreeMap<DeadlineName, DateTime<Utc>>,
    escalated: Vec<DeadlineName>,
}

impl From<Report> for HeadRecord {
    fn from(r: Report) -> HeadRecord {
        HeadRecord {
            id: r.id,
            status: r.status,
            data: r.data,
            triage: r.triage,
            correspondence: r.correspondence,
            milestones: r.milestones,
            escalated: r.escalated,
        }
    }
}

impl From<HeadRecord> for Report {
    fn from(h: HeadRecord) -> Report {
        Report {
            id: h.id,
            status: h.status,
            data: h.data,
            triage: h.triage,
            correspondence: h.correspondence,
            milestones: h.milestones,
            escalated: h.escalated,
            events: Vec::new(),
        }
    }
}

/// Writes a report and its head in a transaction.
fn put_report(
    reports: &sled::transaction::TransactionalTree,
    heads: &sled::transaction::TransactionalTree,
    key: &[u8],
    report: &Report,
) -> Result<(), ConflictableTransactionError<String>> {
    reports.insert(key, encode(report).map_err(abort)?)?;
    heads.insert(key, encode(&head_of(report)).map_err(abort)?)?;
    Ok(())
}

fn report_key(year: u16, seq: u32) -> [u8; 6] {
    let mut k = [0u8; 6];
    let (y, s) = k.split_at_mut(2);
    y.copy_from_slice(&year.to_be_bytes());
    s.copy_from_slice(&seq.to_be_bytes());
    k
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
fn remove_unfinished_snapshots(path: &std::path::Path) -> Result<(), StoreError> {
    let io = |p: &std::path::Path| {
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

impl Drop for Store {
    /// Writes out what is still buffered before the handle goes: intake records are
    /// flushed by their callers in batches, and sled finishes a pending log write on
    /// a thread of its own, holding the store's lock until it is done. Waiting here
    /// releases the lock when the store is dropped, for whoever opens it next.
    fn drop(&mut self) {
        if let Err(e) = self.db.flush() {
            tracing::warn!(error = %e, "store flush at close failed");
        }
    }
}

impl Store {
    /// Opens the store at `path`, creating it when there is none.
    pub fn open(path: &std::path::Path) -> Result<Store, StoreError> {
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
            match sled::Config::new().path(path).open() {
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
        permissions::tighten(path)?;
        let tree = |name: &str| db.open_tree(name);
        let store = Store {
            meta: tree(TREE_META)?,
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
            notices: tree(TREE_NOTICES)?,
            threads: tree(TREE_THREADS)?,
            deadlines: tree(TREE_DEADLINES)?,
            rate_lock: Default::default(),
            writes: Default::default(),
            _open: std::sync::Arc::new(lock::Registration::new(path)),
            db,
        };
        store.build_indexes()?;
        store.migrate_key_trees()?;
        Ok(store)
    }

    /// Opens an existing store; refuses to create one. For commands that only look at
    /// the store: run from the wrong directory or with the wrong configuration, they
    /// must say which path they tried, not answer from a new, empty store.
    pub fn open_existing(path: &std::path::Path) -> Result<Store, StoreError> {
        Store::check_exists(path)?;
        Store::open(path)
    }

    /// Refuses a store path that holds no store.
    pub fn check_exists(path: &std::path::Path) -> Result<(), StoreError> {
        if path.join("db").is_file() {
            Ok(())
        } else {
            Err(StoreError::Missing { path: shown(path) })
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
            let job: Job = decode(&v)?;
            return Ok(job.state != JobState::Sent && !self.outbox_open.contains_key(&k)?);
        }
        Ok(false)
    }

    /// Rewrites the derived trees from `reports` and `outbox`.
    pub(crate) fn rebuild_indexes(&self) -> Result<(), StoreError> {
        tracing::info!(
            reports = self.reports.len(),
            "rebuilding the store's listing and queue indexes (after an upgrade or a restore)"
        );
        self.heads.clear()?;
        for item in self.reports.iter() {
            let (k, v) = item?;
            self.heads.insert(k, encode(&head_of(&decode(&v)?))?)?;
        }
        self.outbox_open.clear()?;
        for item in self.outbox.iter() {
            let (k, v) = item?;
            if let Some(e) = open_entry(&decode(&v)?) {
                self.outbox_open.insert(k, &e)?;
            }
        }
        self.meta.insert(META_INDEXES, &[INDEXES_VERSION])?;
        self.flush()
    }

    /// Held shared by every write, so that [`Store::export`] can pause them. A
    /// poisoned lock guards nothing (the unit value), so it is taken anyway.
    fn writing(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.writes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The earlier outcome of this message, if it was handled before: checked before
    /// any expensive work, and again inside the commit.
    pub fn seen(
        &self,
        message_id: Option<&str>,
        sha256: &str,
    ) -> Result<Option<OutcomeRef>, StoreError> {
        if let Some(id) = message_id
            && let Some(v) = self.msgids.get(id.as_bytes())?
        {
            return decode(&v).map(Some);
        }
        match self.hashes.get(sha256.as_bytes())? {
            Some(v) => decode(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Stores a new report, its dedupe entries and the acknowledgement job in one
    /// transaction, assigning the next report ID of the year it was received in.
    ///
    /// Not flushed: the caller calls [`Store::flush`] before it moves the message out
    /// of the inbox, once for a whole batch of messages (one flush per message made
    /// the flushes the backlog's bottleneck). The same holds for every intake record
    /// (`record_intake`, `commit_followup`, `record_duplicate`).
    pub fn commit_report(
        &self,
        prefix: &str,
        report: NewReport,
        jobs: Vec<NewJob>,
    ) -> Result<Commit, StoreError> {
        let _writing = self.writing();
        let year = u16::try_from(report.received_at.year()).unwrap_or(0);
        let ids = self.job_ids(jobs.len())?;
        let result = (
            &self.meta,
            &self.reports,
            &self.heads,
            &self.msgids,
            &self.hashes,
            &self.outbox,
            &self.outbox_open,
            &self.threads,
            &self.deadlines,
        )
            .transaction(
                |(meta, reports, heads, msgids, hashes, outbox, open, threads, deadlines)| {
                    if let Some(prev) = dedupe_hit(msgids, hashes, &report)? {
                        return Ok(Commit::Duplicate(prev));
                    }
                    let counter = format!("report_seq:{year}");
                    let seq = meta
                        .get(counter.as_bytes())?
                        .map(|v| u64_from(&v))
                        .unwrap_or(0)
                        + 1;
                    let seq32 = u32::try_from(seq).map_err(abort)?;
                    meta.insert(counter.as_bytes(), &seq.to_be_bytes())?;
                    let id = ReportId::new(prefix, year, seq32);
                    let stored = report.clone().into_report(id.clone());
                    put_report(reports, heads, &report_key(year, seq32), &stored)?;
                    sync_deadlines(deadlines, None, &stored)?;
                    let outcome = OutcomeRef::Report(id.clone());
                    let value = encode(&outcome).map_err(abort)?;
                    if let Some(mid) = &report.message_id {
                        msgids.insert(mid.as_bytes(), value.clone())?;
                        threads.insert(mid.as_bytes(), id.as_str().as_bytes())?;
                    }
                    hashes.insert(report.content_sha256.as_bytes(), value)?;
                    queue_jobs(&ids, (outbox, open), threads, &jobs, Some(&outcome))?;
                    Ok(Commit::Stored(outcome))
                },
            )
            .map_err(tx_error)?;
        Ok(result)
    }

    /// Records a message that did not become a report (quarantined or skipped), with
    /// its optional notice to the sender, in one transaction. Like every intake
    /// record, not flushed here: see [`Store::commit_report`].
    pub fn record_intake(
        &self,
        record: IntakeRecord,
        notice: Option<NewJob>,
    ) -> Result<Commit, StoreError> {
        let _writing = self.writing();
        let seq = self.db.generate_id()?;
        let job_id = self.db.generate_id()?;
        let result = (
            &self.intake,
            &self.msgids,
            &self.hashes,
            &self.outbox,
            &self.outbox_open,
        )
            .transaction(|(intake, msgids, hashes, outbox, open)| {
                if let Some(mid) = &record.message_id
                    && let Some(v) = msgids.get(mid.as_bytes())?
                {
                    return Ok(Commit::Duplicate(decode(&v).map_err(abort)?));
                }
                if let Some(v) = hashes.get(record.content_sha256.as_bytes())? {
                    return Ok(Commit::Duplicate(decode(&v).map_err(abort)?));
                }
                let outcome = OutcomeRef::Intake(seq);
                intake.insert(&seq.to_be_bytes(), encode(&record).map_err(abort)?)?;
                let value = encode(&outcome).map_err(abort)?;
                // Only a recorded outcome dedupes by Message-ID: a message that was
                // quarantined for a reason the sender can fix (wrong key) may be
                // re-sent with the same ID, and then it must be read.
                if record.kind == IntakeKind::Skipped
                    && let Some(mid) = &record.message_id
                {
                    msgids.insert(mid.as_bytes(), value.clone())?;
                }
                hashes.insert(record.content_sha256.as_bytes(), value)?;
                if let Some(job) = &notice {
                    let job = job.clone().into_job(job_id, Some(outcome.clone()));
                    put_job(outbox, open, &job, encode(&job).map_err(abort)?)?;
                }
                Ok(Commit::Stored(outcome))
            })
            .map_err(tx_error)?;
        Ok(result)
    }

    /// Keeps an attachment's bytes, addressed by their SHA-256 (so the same PoC sent
    /// twice is stored once).
    pub fn put_attachment(&self, sha256: &str, data: &[u8]) -> Result<(), StoreError> {
        let _writing = self.writing();
        if !self.attachments.contains_key(sha256.as_bytes())? {
            self.attachments.insert(sha256.as_bytes(), data)?;
        }
        Ok(())
    }

    pub fn attachment(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.attachments.get(sha256.as_bytes())?.map(|v| v.to_vec()))
    }

    /// All reports, oldest first.
    pub fn reports(&self) -> Result<Vec<Report>, StoreError> {
        decode_all(&self.reports)
    }

    /// All reports without their texts (no body, long fields, correspondence bodies
    /// or events), oldest first: for listings and digests, which need none of them.
    pub fn report_heads(&self) -> Result<Vec<Report>, StoreError> {
        Ok(decode_all::<HeadRecord>(&self.heads)?
            .into_iter()
            .map(Report::from)
            .collect())
    }

    /// How many reports the store holds (counted on the heads, the smaller tree).
    pub fn report_count(&self) -> usize {
        self.heads.len()
    }

    pub fn report(&self, id: &str) -> Result<Option<Report>, StoreError> {
        let Some((year, seq)) = ReportId::parse_numbers(id) else {
            return Ok(None);
        };
        match self.reports.get(report_key(year, seq))? {
            Some(v) => {
                let r: Report = decode(&v)?;
                // The prefix may have been changed in the config since; the numbers
                // identify the report, but the full ID must still match.
                Ok(r.id.as_str().eq_ignore_ascii_case(id).then_some(r))
            }
            None => Ok(None),
        }
    }

    /// Changes a report in one transaction with what follows from the change: `f`
    /// edits the report (appending its events) and returns the mail to queue about it;
    /// the open-deadline index follows. `f` may run more than once (a conflicting
    /// writer retries the transaction), so it must only compute. An `Err` from `f`
    /// refuses the change and leaves everything as it was.
    pub fn modify_report(
        &self,
        id: &str,
        f: impl Fn(&mut Report) -> Result<Vec<NewJob>, String>,
    ) -> Result<Report, StoreError> {
        let _writing = self.writing();
        let (year, seq) =
            ReportId::parse_numbers(id).ok_or_else(|| StoreError::NoSuchReport(id.to_string()))?;
        let key = report_key(year, seq);
        let Some(current) = self.report(id)? else {
            return Err(StoreError::NoSuchReport(id.to_string()));
        };
        // IDs for the jobs the change will queue, drawn before the transaction; if the
        // report changed meanwhile and needs more, draw again.
        let mut wanted = f(&mut current.clone()).map(|j| j.len()).unwrap_or(0);
        loop {
            let ids = self.job_ids(wanted)?;
            let trees = (
                &self.reports,
                &self.heads,
                &self.deadlines,
                &self.outbox,
                &self.outbox_open,
                &self.threads,
            );
            let result = trees.transaction(|(reports, heads, deadlines, outbox, open, threads)| {
                let old: Report = match reports.get(key)? {
                    Some(v) => decode(&v).map_err(abort)?,
                    None => return Err(refuse(format!("no report {id}"))),
                };
                let mut report = old.clone();
                let jobs = f(&mut report).map_err(refuse)?;
                put_report(reports, heads, &key, &report)?;
                sync_deadlines(deadlines, Some(&old), &report)?;
                let outcome = OutcomeRef::Report(report.id.clone());
                queue_jobs(&ids, (outbox, open), threads, &jobs, Some(&outcome))?;
                Ok(report)
            });
            match result {
                Err(TransactionError::Abort(m)) if m == MORE_IDS => wanted = wanted * 2 + 4,
                other => return other.map_err(modify_error),
            }
        }
    }

    /// Fresh job IDs (increasing, so the queue lists oldest first).
    fn job_ids(&self, n: usize) -> Result<Vec<u64>, StoreError> {
        (0..n).map(|_| Ok(self.db.generate_id()?)).collect()
    }

    /// Adds a reporter's follow-up to its report, with its dedupe entries, its place in
    /// the thread and the mail about it, in one transaction. A replay of the same
    /// message is a duplicate.
    pub fn commit_followup(
        &self,
        id: &ReportId,
        entry: Correspondence,
        content_sha256: &str,
        jobs: Vec<NewJob>,
    ) -> Result<Commit, StoreError> {
        let _writing = self.writing();
        let (year, seq) = ReportId::parse_numbers(id.as_str())
            .ok_or_else(|| StoreError::NoSuchReport(id.to_string()))?;
        let key = report_key(year, seq);
        let ids = self.job_ids(jobs.len())?;
        let result = (
            &self.reports,
            &self.heads,
            &self.msgids,
            &self.hashes,
            &self.outbox,
            &self.outbox_open,
            &self.threads,
            &self.deadlines,
        )
            .transaction(
                |(reports, heads, msgids, hashes, outbox, open, threads, deadlines)| {
                    let mid = entry.message_id.as_deref();
                    if let Some(m) = mid
                        && let Some(v) = msgids.get(m.as_bytes())?
                    {
                        return Ok(Commit::Duplicate(decode(&v).map_err(abort)?));
                    }
                    if let Some(v) = hashes.get(content_sha256.as_bytes())? {
                        return Ok(Commit::Duplicate(decode(&v).map_err(abort)?));
                    }
                    let old: Report = match reports.get(key)? {
                        Some(v) => decode(&v).map_err(abort)?,
                        None => return Err(refuse(format!("no report {id}"))),
                    };
                    let mut report = old.clone();
                    report.events.push(Event::new(
                        entry.at,
                        &entry.from,
                        "correspondence_received",
                        entry.message_id.clone().map(|m| format!("Message-ID {m}")),
                    ));
                    report.correspondence.push(entry.clone());
                    put_report(reports, heads, &key, &report)?;
                    sync_deadlines(deadlines, Some(&old), &report)?;
                    let outcome = OutcomeRef::Report(id.clone());
                    let value = encode(&outcome).map_err(abort)?;
                    if let Some(m) = mid {
                        msgids.insert(m.as_bytes(), value.clone())?;
                        threads.insert(m.as_bytes(), id.as_str().as_bytes())?;
                    }
                    hashes.insert(content_sha256.as_bytes(), value)?;
                    queue_jobs(&ids, (outbox, open), threads, &jobs, Some(&outcome))?;
                    Ok(Commit::Stored(outcome))
                },
            )
            .map_err(modify_error)?;
        Ok(result)
    }

    /// The report whose thread has a message with this Message-ID.
    pub fn thread_of(&self, message_id: &str) -> Result<Option<ReportId>, StoreError> {
        Ok(self
            .threads
            .get(message_id.as_bytes())?
            .and_then(|v| std::str::from_utf8(&v).ok().map(|s| s.to_string()))
            .and_then(|s| ReportId::parse_numbers(&s).map(|_| s))
            .map(ReportId::from_stored))
    }

    /// Deadlines that are due by `now` and neither met nor escalated yet.
    pub fn due_deadlines(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(ReportId, DeadlineName)>, StoreError> {
        let end = u64::try_from(now.timestamp())
            .unwrap_or(0)
            .saturating_add(1);
        let mut out = Vec::new();
        for item in self.deadlines.range(..end.to_be_bytes().to_vec()) {
            let (k, v) = item?;
            let (Some(code), Ok(id)) = (k.last(), std::str::from_utf8(&v)) else {
                continue;
            };
            if let Some(name) = DeadlineName::from_code(*code) {
                out.push((ReportId::from_stored(id.to_string()), name));
            }
        }
        Ok(out)
    }

    /// When the last digest was queued.
    pub fn last_digest(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .meta
            .get(b"last_digest")?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .and_then(|b| DateTime::from_timestamp(i64::from_be_bytes(b), 0)))
    }

    /// Queues a digest's mail and records when, in one step.
    pub fn commit_digest(&self, at: DateTime<Utc>, jobs: Vec<NewJob>) -> Result<(), StoreError> {
        let _writing = self.writing();
        let ids = self.job_ids(jobs.len())?;
        (&self.meta, &self.outbox, &self.outbox_open, &self.threads)
            .transaction(|(meta, outbox, open, threads)| {
                meta.insert(b"last_digest", &at.timestamp().to_be_bytes())?;
                queue_jobs(&ids, (outbox, open), threads, &jobs, None)?;
                Ok(())
            })
            .map_err(tx_error)?;
        self.flush()
    }

    /// Messages that did not become reports, oldest first.
    pub fn intake_records(&self) -> Result<Vec<IntakeRecord>, StoreError> {
        self.intake.iter().values().map(|v| decode(&v?)).collect()
    }

    pub fn intake_record(&self, seq: u64) -> Result<Option<IntakeRecord>, StoreError> {
        match self.intake.get(seq.to_be_bytes())? {
            Some(v) => decode(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Every queued job, oldest first.
    pub fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.outbox.iter().values().map(|v| decode(&v?)).collect()
    }

    pub fn job(&self, id: u64) -> Result<Option<Job>, StoreError> {
        match self.outbox.get(id.to_be_bytes())? {
            Some(v) => decode(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Makes a pending or failed job due now; returns false for a sent or unknown one.
    pub fn retry_job(&self, id: u64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let _writing = self.writing();
        let Some(mut job) = self.job(id)? else {
            return Ok(false);
        };
        if job.state == JobState::Sent {
            return Ok(false);
        }
        job.state = JobState::Pending;
        job.next_attempt = now;
        // A parked job starts its expiry afresh, or it would expire at once again.
        job.created_at = now;
        self.save_job_unpaused(&job)?;
        self.flush()?;
        Ok(true)
    }

    /// Jobs waiting to be sent whose next attempt is due.
    pub fn due_jobs(&self, now: DateTime<Utc>) -> Result<Vec<Job>, StoreError> {
        let now = now.timestamp_millis();
        let mut due = Vec::new();
        for item in self.outbox_open.iter() {
            let (k, v) = item?;
            // A malformed entry cannot rule its job out: the job decides.
            if let Ok([state, at @ ..]) = <[u8; 9]>::try_from(v.as_ref())
                && (state != 0 || i64::from_be_bytes(at) > now)
            {
                continue;
            }
            if let Some(v) = self.outbox.get(k)? {
                let job: Job = decode(&v)?;
                // The entry and the job are written together; the job is the truth.
                if job.state == JobState::Pending && job.next_attempt.timestamp_millis() <= now {
                    due.push(job);
                }
            }
        }
        Ok(due)
    }

    /// Every job not yet sent (pending or failed), oldest first.
    pub fn open_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let mut jobs = Vec::new();
        for item in self.outbox_open.iter() {
            let (k, _) = item?;
            if let Some(v) = self.outbox.get(k)? {
                jobs.push(decode(&v)?);
            }
        }
        Ok(jobs)
    }

    /// Saves a job's new state; when an acknowledgement was sent, the report moves to
    /// `acknowledged` in the same transaction: two separate writes could be cut apart
    /// by a crash, leaving a sent acknowledgement and a report `new` for ever. Not
    /// flushed: the caller decides when the state must be durable.
    pub fn save_job(&self, job: &Job) -> Result<(), StoreError> {
        self.save_jobs(std::slice::from_ref(job))
    }

    /// Saves several jobs in one transaction. sled writes out its log buffer and waits
    /// for the disk (`sync_file_range`) at every transaction, so a delivery batch
    /// saves its jobs together.
    pub fn save_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        let _writing = self.writing();
        self.save_jobs_unpaused(jobs)
    }

    /// [`Store::save_job`] for a caller that already holds the write guard.
    fn save_job_unpaused(&self, job: &Job) -> Result<(), StoreError> {
        self.save_jobs_unpaused(std::slice::from_ref(job))
    }

    fn save_jobs_unpaused(&self, jobs: &[Job]) -> Result<(), StoreError> {
        // Each job with its encoding and, for an acknowledgement, its report's key.
        // A job whose report cannot be found is saved all the same: the batch's other
        // jobs were sent and must be recorded.
        let jobs = jobs
            .iter()
            .map(|job| {
                let report = match (&job.kind, &job.outcome) {
                    (JobKind::Ack, Some(OutcomeRef::Report(id))) => {
                        ReportId::parse_numbers(id.as_str())
                            .map(|(year, seq)| (report_key(year, seq), id.as_str()))
                    }
                    _ => None,
                };
                Ok((job, encode(job)?, report))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        (
            &self.outbox,
            &self.outbox_open,
            &self.reports,
            &self.heads,
            &self.deadlines,
            &self.threads,
        )
            .transaction(|(outbox, open, reports, heads, deadlines, threads)| {
                for (job, value, report) in &jobs {
                    put_job(outbox, open, job, value.clone())?;
                    let Some((rkey, id)) = report else {
                        continue;
                    };
                    // A reporter's answer to the acknowledgement joins the report.
                    if let Some(mid) = &job.message_id {
                        threads.insert(mid.as_bytes(), id.as_bytes())?;
                    }
                    if job.state != JobState::Sent {
                        continue;
                    }
                    let Some(old) = reports.get(rkey)? else {
                        continue;
                    };
                    let at = job.sent_at.unwrap_or_else(Utc::now);
                    let Ok(old) = decode::<Report>(&old) else {
                        // Unreadable (a newer version's record): its job is saved.
                        continue;
                    };
                    let mut report = old.clone();
                    report
                        .milestones
                        .entry(DeadlineName::Acknowledge)
                        .or_insert(at);
                    if report.status == Status::New {
                        report.status = Status::Acknowledged;
                        report.events.push(Event::new(
                            at,
                            "system",
                            "acknowledged",
                            Some(format!("acknowledgement sent to {}", job.to)),
                        ));
                    }
                    put_report(reports, heads, rkey, &report)?;
                    sync_deadlines(deadlines, Some(&old), &report)?;
                }
                Ok(())
            })
            .map_err(modify_error)
    }

    /// Whether an automatic notice may go to `address` now (at most one per
    /// `window`, RFC 3834 section 2); takes the slot when it may.
    pub fn take_notice_slot(
        &self,
        address: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let _writing = self.writing();
        // Per mailbox, not per spelling of it: `Victim+1@` is `victim@`.
        let key = crate::intake::normalised_address(address);
        let stamp = now.timestamp().to_be_bytes();
        loop {
            let old = self.notices.get(key.as_bytes())?;
            if let Some(prev) = &old {
                let last = i64::from_be_bytes(<[u8; 8]>::try_from(prev.as_ref()).unwrap_or([0; 8]));
                if now.timestamp().saturating_sub(last) < window.num_seconds() {
                    return Ok(false);
                }
            }
            if self
                .notices
                .compare_and_swap(key.as_bytes(), old, Some(&stamp[..]))?
                .is_ok()
            {
                return Ok(true);
            }
        }
    }

    /// Whether one more automatic message may go to `address` under the rate limits;
    /// takes the slot when it may. Sends older than the window are forgotten (see
    /// [`SendCounts`]).
    pub fn take_send_slot(
        &self,
        address: &str,
        now: DateTime<Utc>,
        limits: &crate::config::RateLimits,
    ) -> Result<bool, StoreError> {
        let _writing = self.writing();
        let _guard = self
            .rate_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Counted per mailbox (case-folded, `+tag` removed: every sub-address of
        // one person is one allowance) and per domain, so that neither sub-addresses
        // nor many mailboxes of one domain multiply what can be reflected at it.
        let mailbox = crate::intake::normalised_address(address);
        let domain = mailbox.rsplit_once('@').map_or("", |(_, d)| d).to_string();
        let sender_key = format!("rate:{mailbox}");
        let domain_key = format!("rate:@{domain}");
        let global_key = "rate:*".to_string();
        let window = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let checks = [
            (
                sender_key,
                limits.per_sender,
                window(limits.per_sender_window),
            ),
            (
                domain_key,
                limits.per_domain,
                window(limits.per_domain_window),
            ),
            (global_key, limits.global, window(limits.global_window)),
        ];
        let now = now.timestamp();
        let mut recent = Vec::new();
        for (key, max, window) in &checks {
            let mut counts = SendCounts::decode(self.notices.get(key.as_bytes())?.as_deref());
            counts.forget_before(now.saturating_sub(*window), *window);
            if counts.total() >= *max {
                return Ok(false);
            }
            recent.push((counts, *window));
        }
        for ((key, _, _), (mut counts, window)) in checks.iter().zip(recent) {
            counts.add(now, window);
            self.notices.insert(key.as_bytes(), encode(&counts.0)?)?;
        }
        Ok(true)
    }

    /// Records a message that was a duplicate of an earlier one, so that every
    /// message has its outcome on record; touches no dedupe index.
    pub fn record_duplicate(&self, record: IntakeRecord) -> Result<(), StoreError> {
        let _writing = self.writing();
        let seq = self.db.generate_id()?;
        self.intake.insert(seq.to_be_bytes(), encode(&record)?)?;
        Ok(())
    }
}

fn dedupe_hit(
    msgids: &sled::transaction::TransactionalTree,
    hashes: &sled::transaction::TransactionalTree,
    report: &NewReport,
) -> Result<Option<OutcomeRef>, ConflictableTransactionError<String>> {
    if let Some(mid) = &report.message_id
        && let Some(v) = msgids.get(mid.as_bytes())?
    {
        let prev: OutcomeRef = decode(&v).map_err(abort)?;
        // A message quarantined earlier may come back readable (re-sent with the
        // same Message-ID after the sender fixed the key): that is not a duplicate.
        if matches!(prev, OutcomeRef::Report(_)) {
            return Ok(Some(prev));
        }
    }
    if let Some(v) = hashes.get(report.content_sha256.as_bytes())? {
        let prev: OutcomeRef = decode(&v).map_err(abort)?;
        if matches!(prev, OutcomeRef::Report(_)) {
            return Ok(Some(prev));
        }
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests;
