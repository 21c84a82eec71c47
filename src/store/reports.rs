//! Reports: the full records (`reports`), their heads for listings (`report_heads`),
//! the threads that lead to them (`threads`) and the index of deadlines not yet met
//! (`open_deadlines`). A report is always written with its head and its deadlines,
//! in the same transaction.

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::guard::transact;
use super::queue::queue_jobs;
use super::seal::{Kind, Sealer, Slot};
use super::tx::{abort, refuse};
use super::{Correspondence, DeadlineName, NewJob, NewReport, OutcomeRef, Report, ReportId};
use super::{SCHEMA, Status, Store, StoreError, Triage, decode, decode_all, encode};

/// The key of a report in `reports` and `report_heads`: year and number, big-endian.
pub(super) fn report_key(year: u16, seq: u32) -> [u8; 6] {
    let mut k = [0u8; 6];
    let (y, s) = k.split_at_mut(2);
    y.copy_from_slice(&year.to_be_bytes());
    s.copy_from_slice(&seq.to_be_bytes());
    k
}

/// The key of report `id`; `None` for an ID without year and number.
pub(super) fn key_of(id: &ReportId) -> Option<[u8; 6]> {
    ReportId::parse_numbers(id.as_str()).map(|(year, seq)| report_key(year, seq))
}

/// The open-deadline index keys of a report: due time, report, deadline.
pub(super) fn deadline_keys(report: &Report) -> Vec<Vec<u8>> {
    let Some(key) = key_of(&report.id) else {
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
            k.extend_from_slice(&key);
            k.push(name.code());
            k
        })
        .collect()
}

/// Brings the open-deadline index from `old`'s entries to `new`'s.
pub(super) fn sync_deadlines<E>(
    tree: &TransactionalTree,
    old: Option<&Report>,
    new: &Report,
) -> Result<(), ConflictableTransactionError<E>> {
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

/// A report without what only `reports show` needs; see `TREE_HEADS`.
pub(super) fn head_of(report: &Report) -> HeadRecord {
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
pub(super) struct HeadRecord {
    id: ReportId,
    status: Status,
    data: NewReport,
    triage: Triage,
    correspondence: Vec<Correspondence>,
    milestones: std::collections::BTreeMap<DeadlineName, DateTime<Utc>>,
    escalated: Vec<DeadlineName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    embargo: Option<super::embargo::Embargo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    reminded: Vec<String>,
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
            embargo: r.embargo,
            reminded: r.reminded,
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
            embargo: h.embargo,
            reminded: h.reminded,
            events: Vec::new(),
            // Listings and digests have no use for it; `reports show` reads the report.
            credit: None,
        }
    }
}

/// Writes a report and its head in a transaction, both sealed with the report's
/// data key (drawn from the key pool the first time).
pub(super) fn put_report<E: From<StoreError>>(
    seal: &Sealer,
    reports: &TransactionalTree,
    heads: &TransactionalTree,
    key: &[u8],
    report: &Report,
) -> Result<(), ConflictableTransactionError<E>> {
    let slot = match seal.known(key) {
        Some(slot) => slot,
        None => match reports.get(key)?.and_then(|v| Sealer::slot_of(&v)) {
            Some(slot) => slot,
            None => seal.new_slot().map_err(abort)?,
        },
    };
    seal.remember(key, slot);
    let (full, head) = sealed_report(seal, slot, key, report).map_err(abort)?;
    reports.insert(key, full)?;
    heads.insert(key, head)?;
    Ok(())
}

/// A report's record and head as stored: sealed with the data key of `slot`.
pub(super) fn sealed_report(
    seal: &Sealer,
    slot: Slot,
    key: &[u8],
    report: &Report,
) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
    Ok((
        seal.seal(Kind::Report, slot, key, &encode(report)?)?,
        seal.seal(Kind::Head, slot, key, &encode(&head_of(report))?)?,
    ))
}

/// A report as stored at `key` (sealed, or clear from before sealing).
pub(super) fn open_report(seal: &Sealer, key: &[u8], value: &[u8]) -> Result<Report, StoreError> {
    decode(&seal.open(Kind::Report, key, value)?)
}

/// A head as stored at `key`.
pub(super) fn open_head(seal: &Sealer, key: &[u8], value: &[u8]) -> Result<Report, StoreError> {
    decode::<HeadRecord>(&seal.open(Kind::Head, key, value)?).map(Report::from)
}

impl Store {
    /// The slot of the data key of the report at `key`: as met in this process, else
    /// as its stored head names it; none for a report not stored (or stored clear).
    /// Outside transactions only.
    pub(super) fn report_slot(&self, key: &[u8]) -> Result<Option<Slot>, StoreError> {
        if let Some(slot) = self.seal.known(key) {
            return Ok(Some(slot));
        }
        let slot = match self.heads.get(key)?.and_then(|v| Sealer::slot_of(&v)) {
            Some(slot) => Some(slot),
            None => self.reports.get(key)?.and_then(|v| Sealer::slot_of(&v)),
        };
        if let Some(slot) = slot {
            self.seal.remember(key, slot);
        }
        Ok(slot)
    }

    /// All reports, oldest first.
    pub fn reports(&self) -> Result<Vec<Report>, StoreError> {
        decode_all(&self.reports, |k, v| open_report(&self.seal, k, v))
    }

    /// All reports without their texts (no body, long fields, correspondence bodies
    /// or events), oldest first: for listings and digests, which need none of them.
    pub fn report_heads(&self) -> Result<Vec<Report>, StoreError> {
        decode_all(&self.heads, |k, v| open_head(&self.seal, k, v))
    }

    /// Each report head (as [`Store::report_heads`]), oldest first, handed to `f` one at
    /// a time: listings, digests and status of a store of any size hold one chunk of
    /// heads at once, never all of them.
    pub fn each_report_head(
        &self,
        f: impl FnMut(Report) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        super::decode_each(&self.heads, |k, v| open_head(&self.seal, k, v), f)
    }

    /// Each whole report (as [`Store::reports`]), oldest first, handed to `f` one at a
    /// time: figures that need the events read a chunk of reports at once, never all.
    pub fn each_report(
        &self,
        f: impl FnMut(Report) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        super::decode_each(&self.reports, |k, v| open_report(&self.seal, k, v), f)
    }

    /// How many reports the store holds (counted on the heads, the smaller tree).
    pub fn report_count(&self) -> Result<usize, StoreError> {
        self.heads.len()
    }

    pub fn report(&self, id: &ReportId) -> Result<Option<Report>, StoreError> {
        let Some(key) = key_of(id) else {
            return Ok(None);
        };
        match self.reports.get(key)? {
            Some(v) => {
                let r = open_report(&self.seal, &key, &v)?;
                // The prefix may have been changed in the config since; the numbers
                // identify the report, but the full ID must still match.
                Ok(r.id.as_str().eq_ignore_ascii_case(id.as_str()).then_some(r))
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
        id: &ReportId,
        f: impl Fn(&mut Report) -> Result<Vec<NewJob>, String>,
    ) -> Result<Report, StoreError> {
        self.modify_report_signed(id, &[], Utc::now(), f)
    }

    /// As [`Store::modify_report`], on behalf of signed mail: the change is made
    /// only if none of `signatures` (digests of signature packets) acted before, and
    /// they are recorded as used in the same transaction, so a replay of the mail
    /// changes nothing even across a crash.
    pub fn modify_report_signed(
        &self,
        id: &ReportId,
        signatures: &[String],
        now: DateTime<Utc>,
        f: impl Fn(&mut Report) -> Result<Vec<NewJob>, String>,
    ) -> Result<Report, StoreError> {
        let _writing = self.writing()?;
        let key = key_of(id).ok_or_else(|| StoreError::NoSuchReport(id.to_string()))?;
        let Some(current) = self.report(id)? else {
            return Err(StoreError::NoSuchReport(id.to_string()));
        };
        // How many jobs the change will queue, for the IDs drawn before the
        // transaction; if the report changed meanwhile and needs more, more are drawn.
        let wanted = super::guard::as_if_inside(|| f(&mut current.clone()))
            .map(|j| j.len())
            .unwrap_or(0);
        let mut used = vec![SCHEMA];
        used.extend_from_slice(&now.timestamp().to_be_bytes());
        let trees = (
            self.reports.tx(),
            self.heads.tx(),
            self.deadlines.tx(),
            self.outbox.tx(),
            self.outbox_open.tx(),
            self.threads.tx(),
            self.signatures.tx(),
        );
        let seal = &*self.seal;
        self.with_job_ids(wanted, |ids| {
            transact(
                &trees,
                |(reports, heads, deadlines, outbox, open, threads, sigs)| {
                    for digest in signatures {
                        if sigs.get(digest.as_bytes())?.is_some() {
                            return Err(refuse(format!("signature {digest} was used before")));
                        }
                        sigs.insert(digest.as_bytes(), used.as_slice())?;
                    }
                    let old: Report = match reports.get(key)? {
                        Some(v) => open_report(seal, &key, &v).map_err(abort)?,
                        None => return Err(refuse(format!("no report {id}"))),
                    };
                    let mut report = old.clone();
                    let jobs = f(&mut report).map_err(refuse)?;
                    put_report(seal, reports, heads, &key, &report)?;
                    sync_deadlines(deadlines, Some(&old), &report)?;
                    let outcome = OutcomeRef::Report(report.id.clone());
                    queue_jobs(seal, ids, (outbox, open), threads, &jobs, Some(&outcome))?;
                    Ok(report)
                },
            )
        })
    }

    /// Whether a signature with this replay key was taken or refused before.
    pub fn signature_used(&self, digest: &str) -> Result<bool, StoreError> {
        Ok(self.signatures.get(digest.as_bytes())?.is_some())
    }

    /// Records signatures as used without taking anything: a refused message's
    /// signatures, so that no later wrapping of it is taken, and a new report's, so
    /// that its signed text never comes back as a follow-up. A digest recorded
    /// before keeps its first time.
    pub fn mark_signatures_used(
        &self,
        digests: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if digests.is_empty() {
            return Ok(());
        }
        let _writing = self.writing()?;
        let mut used = vec![SCHEMA];
        used.extend_from_slice(&now.timestamp().to_be_bytes());
        for digest in digests {
            // Err(CompareAndSwapError) only says it was there already.
            let _ = self.signatures.compare_and_swap(
                digest.as_bytes(),
                None as Option<&[u8]>,
                Some(used.as_slice()),
            )?;
        }
        Ok(())
    }

    /// The report whose thread has a message with this Message-ID.
    pub fn thread_of(&self, message_id: &str) -> Result<Option<ReportId>, StoreError> {
        Ok(self
            .threads
            .get(self.seal.index_key(message_id.as_bytes()))?
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
        for item in self.deadlines.range(..end.to_be_bytes().to_vec())? {
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
}
