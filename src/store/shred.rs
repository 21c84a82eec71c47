//! Sealing what an earlier version stored in clear, and purging a report for good.
//!
//! - [`Store::seal_existing`] runs at every open until the store is sealed: each clear
//!   record is rewritten sealed in a transaction of its own, its data key written
//!   (and synced) before, so a kill at any point leaves every record either clear or
//!   sealed and readable, and the next open goes on where it stopped.
//! - [`Store::purge_report`] removes a report's records and index entries in one
//!   transaction that also writes its tombstone (`purged_reports`) naming the data
//!   keys to destroy; the key files are deleted after it, and a purge a crash cut
//!   short is finished at the next open ([`Store::finish_purges`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::guard::transact;
use super::queue::{open_job, sealed_job_in};
use super::reports::{key_of, open_head, open_report, sealed_report};
use super::seal::{GENERAL, Kind, Sealer, Slot};
use super::tx::tx_error;
use super::{OutcomeRef, Report, ReportId, SCHEMA, Status, Store, StoreError, decode, encode};

/// Report key → [`Tombstone`]: what is left of a purged report.
pub(super) const TREE_PURGED: &str = "purged_reports";
/// `meta` key: present (`[1]`) once every record of the store is sealed.
const META_SEALED: &[u8] = b"sealed";

/// What is left of a purged report: its ID, when and why; the data keys still to
/// destroy while a purge is under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tombstone {
    pub id: ReportId,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
    /// The key pool slots of its data keys, until they are destroyed.
    #[serde(default)]
    pub pending_slots: Vec<Slot>,
}

/// A report the retention periods will purge, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Due {
    pub id: ReportId,
    pub status: Status,
    /// When it reached that state.
    pub since: DateTime<Utc>,
    /// When it is purged.
    pub at: DateTime<Utc>,
}

/// What a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Purge {
    pub jobs: usize,
    pub attachments: usize,
    pub index_entries: usize,
}

/// What [`Store::seal_existing`] rewrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub reports: usize,
    pub jobs: usize,
    pub attachments: usize,
    /// Index entries (Message-IDs, content hashes) now under their keyed hash.
    pub index_entries: usize,
    pub intake: usize,
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

impl Store {
    /// Seals in place what an earlier version wrote in clear (see the module doc).
    /// Does nothing on a sealed store, or when writing clear for the tests.
    pub(crate) fn seal_existing(&self) -> Result<Sealed, StoreError> {
        let mut done = Sealed::default();
        if self.seal.writes_clear() || self.meta.get(META_SEALED)?.as_deref() == Some(&[1][..]) {
            return Ok(done);
        }
        let clear = |v: &[u8]| v.first() == Some(&SCHEMA);
        for item in self.reports.iter()? {
            let (k, v) = item?;
            let head_clear = self.heads.get(&k)?.is_none_or(|h| clear(&h));
            if !clear(&v) && !head_clear {
                continue;
            }
            let report = open_report(&self.seal, &k, &v)?;
            // The data key is in the pool (synced) before the records name it.
            let slot = match self.report_slot(&k)? {
                Some(slot) => slot,
                None => self.seal.new_slot()?,
            };
            self.seal.remember(&k, slot);
            let (full, head) = sealed_report(&self.seal, slot, &k, &report)?;
            crate::fault::migration_step();
            transact(&(self.reports.tx(), self.heads.tx()), |(reports, heads)| {
                reports.insert(&*k, full.as_slice())?;
                heads.insert(&*k, head.as_slice())?;
                Ok(())
            })
            .map_err(tx_error)?;
            done.reports += 1;
        }
        for item in self.outbox.iter()? {
            let (k, v) = item?;
            if !clear(&v) {
                continue;
            }
            let job = open_job(&self.seal, &k, &v)?;
            let slot = match &job.outcome {
                Some(OutcomeRef::Report(id)) => match key_of(id) {
                    Some(rk) => self.report_slot(&rk)?.unwrap_or(GENERAL),
                    None => GENERAL,
                },
                _ => GENERAL,
            };
            let sealed = sealed_job_in(&self.seal, &job, slot)?;
            crate::fault::migration_step();
            self.outbox.insert(&k, sealed)?;
            done.jobs += 1;
        }
        for item in self.attachments.iter()? {
            let (k, v) = item?;
            // Clear attachments are kept under the SHA-256 of their bytes; sealed
            // ones under a keyed hash.
            let sha = sha256_hex(&v);
            if k.as_ref() != sha.as_bytes() {
                continue;
            }
            let key = self.attachment_key(&sha);
            let slot = self.seal.new_slot()?;
            let sealed = self.seal.seal(Kind::Attachment, slot, key.as_bytes(), &v)?;
            crate::fault::migration_step();
            // Both in one step: the bytes are never missing under both keys.
            transact(self.attachments.tx(), |t| {
                t.insert(key.as_bytes(), sealed.as_slice())?;
                t.remove(&*k)?;
                Ok(())
            })
            .map_err(tx_error)?;
            done.attachments += 1;
        }
        for tree in [&self.msgids, &self.hashes, &self.threads, &self.notices] {
            for item in tree.iter()? {
                let (k, v) = item?;
                if Sealer::is_index_key(&k) {
                    continue;
                }
                let keyed = self.seal.index_key(&k);
                crate::fault::migration_step();
                transact(tree.tx(), |t| {
                    t.insert(keyed.as_slice(), &*v)?;
                    t.remove(&*k)?;
                    Ok(())
                })
                .map_err(tx_error)?;
                done.index_entries += 1;
            }
        }
        for item in self.intake.iter()? {
            let (k, v) = item?;
            if !clear(&v) {
                continue;
            }
            let record = self.open_intake(&k, &v)?;
            let sealed = self.sealed_intake(super::u64_from(&k), &record)?;
            self.intake.insert(&k, sealed)?;
            done.intake += 1;
        }
        self.flush()?;
        self.meta.insert(META_SEALED, &[1])?;
        self.flush()?;
        if done != Sealed::default() {
            tracing::info!(
                reports = done.reports,
                jobs = done.jobs,
                attachments = done.attachments,
                index_entries = done.index_entries,
                intake = done.intake,
                "sealed the records an earlier version stored in clear"
            );
        }
        Ok(done)
    }

    /// What is left of a purged report.
    pub(crate) fn tombstone(&self, id: &ReportId) -> Result<Option<Tombstone>, StoreError> {
        let Some(key) = key_of(id) else {
            return Ok(None);
        };
        self.purged.get(key)?.map(|v| decode(&v)).transpose()
    }

    /// How many reports were purged.
    pub(crate) fn purged_count(&self) -> Result<usize, StoreError> {
        self.purged.len()
    }

    /// When each report in a state of `periods` will be purged: the last change of
    /// its state (its last `status` event) plus that state's period; soonest first.
    /// Reads the heads, then the full record of the closed reports only.
    pub(crate) fn retention_schedule(
        &self,
        periods: &[(Status, chrono::TimeDelta)],
    ) -> Result<Vec<Due>, StoreError> {
        if periods.is_empty() {
            return Ok(Vec::new());
        }
        // One chunk of heads at a time; only closed reports are kept, by ID.
        let mut closed = Vec::new();
        self.each_report_head(|head| {
            if let Some((_, period)) = periods.iter().find(|(s, _)| *s == head.status) {
                closed.push((head.id, *period));
            }
            Ok(())
        })?;
        let mut due = Vec::new();
        for (id, period) in closed {
            let Some(report) = self.report(&id)? else {
                continue;
            };
            let since = report
                .events
                .iter()
                .rev()
                .find(|e| e.action == "status")
                .map_or(report.data.received_at, |e| e.at);
            due.push(Due {
                id: report.id,
                status: report.status,
                since,
                at: since + period,
            });
        }
        due.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
        Ok(due)
    }

    /// Purges a report: its records, its jobs, its index entries and its attachments
    /// no other report has go in one transaction, then its data keys are destroyed.
    /// Its content can then not be read from the store, sled's old log segments or
    /// any later backup, with or without the store key.
    pub(crate) fn purge_report(
        &self,
        id: &ReportId,
        actor: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Purge, StoreError> {
        let _writing = self.writing()?;
        let key = key_of(id).ok_or_else(|| StoreError::NoSuchReport(id.to_string()))?;
        let Some(report) = self.report(id)? else {
            return Err(StoreError::NoSuchReport(id.to_string()));
        };
        let plan = self.purge_plan(&key, &report)?;
        let tombstone = Tombstone {
            id: report.id.clone(),
            at: now,
            actor: actor.to_string(),
            reason: reason.to_string(),
            pending_slots: plan.slots.clone(),
        };
        let stone = encode(&tombstone)?;
        let mut removed = Purge {
            jobs: plan.jobs.len(),
            attachments: plan.attachments.len(),
            index_entries: 0,
        };
        let deadline_keys = super::reports::deadline_keys(&report);
        removed.index_entries =
            plan.threads.len() + plan.msgids.len() + plan.hashes.len() + deadline_keys.len();
        transact(
            &(
                self.reports.tx(),
                self.heads.tx(),
                self.deadlines.tx(),
                self.threads.tx(),
                self.msgids.tx(),
                self.hashes.tx(),
                self.outbox.tx(),
                self.outbox_open.tx(),
                self.attachments.tx(),
                self.late_proofs.tx(),
                self.purged.tx(),
            ),
            |(
                reports,
                heads,
                deadlines,
                threads,
                msgids,
                hashes,
                outbox,
                open,
                att,
                late,
                purged,
            )| {
                reports.remove(&key)?;
                heads.remove(&key)?;
                for k in &deadline_keys {
                    deadlines.remove(k.as_slice())?;
                }
                for k in &plan.threads {
                    threads.remove(k.as_slice())?;
                }
                for k in &plan.msgids {
                    msgids.remove(k.as_slice())?;
                }
                for k in &plan.hashes {
                    hashes.remove(k.as_slice())?;
                }
                for job in &plan.jobs {
                    outbox.remove(&job.to_be_bytes())?;
                    open.remove(&job.to_be_bytes())?;
                }
                for k in &plan.attachments {
                    att.remove(k.as_slice())?;
                }
                for k in &plan.late_proofs {
                    late.remove(k.as_slice())?;
                }
                purged.insert(&key, stone.as_slice())?;
                Ok(())
            },
        )
        .map_err(tx_error)?;
        self.flush()?;
        self.destroy_pending(&key, tombstone)?;
        tracing::info!(
            report = %id,
            jobs = removed.jobs,
            attachments = removed.attachments,
            "report purged: its content and data key are destroyed"
        );
        Ok(removed)
    }

    /// Destroys the data keys a tombstone still names, then clears them from it.
    fn destroy_pending(&self, key: &[u8], mut stone: Tombstone) -> Result<(), StoreError> {
        for slot in &stone.pending_slots {
            self.seal.destroy(*slot)?;
        }
        stone.pending_slots.clear();
        self.purged.insert(key, encode(&stone)?)?;
        self.flush()
    }

    /// Finishes the purges a crash cut short (their keys not all destroyed yet).
    pub(super) fn finish_purges(&self) -> Result<(), StoreError> {
        let mut unfinished = Vec::new();
        for item in self.purged.iter()? {
            let (k, v) = item?;
            let stone: Tombstone = decode(&v)?;
            if !stone.pending_slots.is_empty() {
                unfinished.push((k, stone));
            }
        }
        for (k, stone) in unfinished {
            tracing::warn!(report = %stone.id, "finishing a purge a stop cut short");
            self.destroy_pending(&k, stone)?;
        }
        Ok(())
    }

    /// What purging `report` removes: found before its transaction.
    fn purge_plan(&self, key: &[u8], report: &Report) -> Result<PurgePlan, StoreError> {
        let mut plan = PurgePlan::default();
        // Every slot a record of the report names: the report, its head, its jobs.
        for tree in [&self.reports, &self.heads] {
            if let Some(slot) = tree.get(key)?.and_then(|v| Sealer::slot_of(&v)) {
                plan.slots.push(slot);
            }
        }
        let outcome = OutcomeRef::Report(report.id.clone());
        let value = encode(&outcome)?;
        // Every index entry that leads to the report (the thread's Message-IDs, the
        // dedupe entries of each of its messages): by what they point at.
        for item in self.threads.iter()? {
            let (k, v) = item?;
            if v.as_ref() == report.id.as_str().as_bytes() {
                plan.threads.push(k.to_vec());
            }
        }
        for (tree, into) in [
            (&self.msgids, &mut plan.msgids),
            (&self.hashes, &mut plan.hashes),
        ] {
            for item in tree.iter()? {
                let (k, v) = item?;
                if v.as_ref() == value.as_slice() {
                    into.push(k.to_vec());
                }
            }
        }
        for item in self.outbox.iter()? {
            let (k, v) = item?;
            if let Ok(job) = open_job(&self.seal, &k, &v)
                && job.outcome.as_ref() == Some(&outcome)
            {
                plan.jobs.push(job.id);
                plan.slots.extend(Sealer::slot_of(&v));
            }
        }
        // Attachments (and the raw message kept for a late proof) that no other
        // report has.
        let mut mine: Vec<String> = report
            .data
            .attachments
            .iter()
            .chain(
                report
                    .correspondence
                    .iter()
                    .flat_map(|c| c.attachments.iter()),
            )
            .map(|a| a.sha256.clone())
            .collect();
        mine.push(report.data.content_sha256.clone());
        mine.sort();
        mine.dedup();
        let mut shared = std::collections::BTreeSet::new();
        for item in self.heads.iter()? {
            let (k, v) = item?;
            if k.as_ref() == key {
                continue;
            }
            if let Ok(other) = open_head(&self.seal, &k, &v) {
                shared.extend(
                    other
                        .data
                        .attachments
                        .iter()
                        .chain(
                            other
                                .correspondence
                                .iter()
                                .flat_map(|c| c.attachments.iter()),
                        )
                        .map(|a| a.sha256.clone()),
                );
            }
        }
        for sha in mine.iter().filter(|s| !shared.contains(*s)) {
            let keyed = self.attachment_key(sha);
            for k in [keyed.as_bytes(), sha.as_bytes()] {
                if let Some(v) = self.attachments.get(k)? {
                    plan.attachments.push(k.to_vec());
                    plan.slots.extend(Sealer::slot_of(&v));
                }
            }
        }
        for item in self.late_proofs.iter()? {
            let (k, _) = item?;
            if k.ends_with(report.data.content_sha256.as_bytes()) {
                plan.late_proofs.push(k.to_vec());
            }
        }
        plan.slots.retain(|s| *s != GENERAL);
        plan.slots.sort_unstable();
        plan.slots.dedup();
        Ok(plan)
    }
}

#[derive(Default)]
struct PurgePlan {
    /// Key pool slots to destroy.
    slots: Vec<Slot>,
    threads: Vec<Vec<u8>>,
    msgids: Vec<Vec<u8>>,
    hashes: Vec<Vec<u8>>,
    jobs: Vec<u64>,
    attachments: Vec<Vec<u8>>,
    late_proofs: Vec<Vec<u8>>,
}

/// What `benches/seal_cost.rs` measures, in a store that writes in clear and in one
/// that seals.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct SealCost {
    /// Storing the reports (each with its acknowledgement job, flushed every 64 as
    /// `run-once` does).
    pub clear_store: std::time::Duration,
    pub sealed_store: std::time::Duration,
    /// Then, after the store is opened again (no data key in memory), every head
    /// read once as listings do ([`Store::each_report_head`]).
    pub clear_list: std::time::Duration,
    pub sealed_list: std::time::Duration,
}

/// Stores `n` reports in a store that writes in clear and in one that seals, then
/// lists their heads in each, for `benches/seal_cost.rs`.
#[doc(hidden)]
pub fn seal_cost(n: usize) -> SealCost {
    let key = super::StoreKey::generate().0;
    let zero = std::time::Duration::ZERO;
    let open = |dir: &std::path::Path, clear: bool| {
        let mut seal = super::seal::Sealer::new(dir, &key);
        if clear {
            seal = seal.writing_clear();
        }
        Store::open_sealing(dir, seal, super::open::DEFAULT_CACHE_BYTES)
    };
    let run = |clear: bool| {
        let Ok(dir) = tempfile_dir() else {
            return (zero, zero);
        };
        let Ok(store) = open(&dir, clear) else {
            return (zero, zero);
        };
        let started = std::time::Instant::now();
        for i in 0..n {
            let report = bench_report(i);
            let job = super::NewJob::new(super::JobKind::Ack, "r@example.net", Utc::now());
            let _ = store.commit_report("VR", report, vec![job]);
            if i % 64 == 63 {
                let _ = store.flush();
            }
        }
        let _ = store.flush();
        let stored = started.elapsed();
        drop(store);
        let listed = match open(&dir, clear) {
            Ok(store) => {
                let started = std::time::Instant::now();
                let mut seen = 0usize;
                let _ = store.each_report_head(|_| {
                    seen += 1;
                    Ok(())
                });
                let took = started.elapsed();
                if seen != n {
                    eprintln!("seal_cost: listed {seen} of {n} reports");
                }
                took
            }
            Err(_) => zero,
        };
        let _ = std::fs::remove_dir_all(&dir);
        (stored, listed)
    };
    let (clear_store, clear_list) = run(true);
    let (sealed_store, sealed_list) = run(false);
    SealCost {
        clear_store,
        sealed_store,
        clear_list,
        sealed_list,
    }
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!(
        "disclosured-seal-cost-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

/// A report of the size the backlog benchmark sends (about 1 KB of text).
fn bench_report(i: usize) -> super::NewReport {
    let now = Utc::now();
    let body = format!(
        "Title: SQL injection in login form {i}\nVulnerability type: SQL injection\nAffected component: auth/login.php\nAffected versions: 2.0 to 2.3.1\n\nSteps to reproduce:\n1. Open /login\n2. Enter a quote\n\nImpact: the whole user table.\n{}",
        "Details of the query and the fix. ".repeat(20)
    );
    super::NewReport {
        received_at: now,
        from: crate::intake::Mailbox {
            name: Some("Reporter".into()),
            address: format!("r{i}@example.net"),
        },
        reply_to: None,
        subject: Some(format!("Report {i}")),
        message_id: Some(format!("<m{i}@example.net>")),
        content_sha256: format!("{i:064x}"),
        form: crate::crypto::open::Form::Plain,
        encrypted: true,
        decrypted_with: None,
        signature: crate::crypto::SignatureStatus::Good,
        signature_covers_all: true,
        signer_matches_from: true,
        signer_fingerprint: Some("F".repeat(40)),
        signer_key_source: None,
        reporter_key: Some("F".repeat(40)),
        proven_key: Some("F".repeat(40)),
        proof_checked: true,
        unverified_followup_of: None,
        fields: Default::default(),
        missing: vec![],
        attachments: vec![],
        body,
        source_file: None,
        deadlines: super::Deadlines {
            acknowledge: now,
            initial_assessment: now,
            fix: None,
        },
        hints: vec![],
        suppressed_ack: false,
        unknown_signer: None,
    }
}
