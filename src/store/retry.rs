//! `quarantine retry`: a quarantined message handed back to the inbox once its cause
//! is fixed (a key added, a limit raised). Its intake record stays, marked retried
//! (in a tree of its own, so the record's layout is unchanged); its content-hash
//! dedupe entry goes, so that the message is read again rather than answered as a
//! duplicate of its quarantine. What it becomes is recorded as for any message, and
//! found again through that hash.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::guard::transact;
use super::tx::{abort, refuse, tx_error};
use super::{IntakeKind, IntakeRecord};
use super::{OutcomeRef, Store, StoreError, decode, encode};

/// Intake seq → [`Retried`].
const TREE_RETRIED: &str = "intake_retried";

/// When and by whom a quarantined message was handed back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retried {
    pub at: DateTime<Utc>,
    pub by: String,
    /// The message's content hash, when the record has none (a message quarantined
    /// unread, too large): what its new outcome is found by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
}

/// What [`Store::release_quarantined`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Release {
    /// Marked retried now; the message may go back to the inbox.
    Released(IntakeRecord),
    /// Retried before (the message may still have to go back: a crash between the
    /// mark and the move).
    Already(IntakeRecord, Retried),
}

impl Store {
    /// Every intake record with its number (the ID `quarantine retry` takes).
    pub fn intake_entries(&self) -> Result<Vec<(u64, IntakeRecord)>, StoreError> {
        self.intake
            .iter()?
            .map(|item| {
                let (k, v) = item?;
                Ok((super::u64_from(&k), self.open_intake(&k, &v)?))
            })
            .collect()
    }

    /// When intake record `seq` was retried.
    pub fn retried(&self, seq: u64) -> Result<Option<Retried>, StoreError> {
        match self.db.open_tree(TREE_RETRIED)?.get(seq.to_be_bytes())? {
            Some(v) => decode(&v).map(Some),
            None => Ok(None),
        }
    }

    /// What a message with this content became most recently: after a retry, the
    /// new report or quarantine record.
    pub fn outcome_of(&self, content_sha256: &str) -> Result<Option<OutcomeRef>, StoreError> {
        self.seen(None, content_sha256)
    }

    /// Records the content hash of a retried message quarantined unread, found only
    /// when it was moved back (over IMAP): what its new outcome is found by.
    pub fn note_retried_content(&self, seq: u64, content_sha256: &str) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let tree = self.db.open_tree(TREE_RETRIED)?;
        if let Some(v) = tree.get(seq.to_be_bytes())? {
            let mut mark: Retried = decode(&v)?;
            if mark.content_sha256.is_none() {
                mark.content_sha256 = Some(content_sha256.to_string());
                tree.insert(seq.to_be_bytes(), encode(&mark)?)?;
            }
        }
        Ok(())
    }

    /// Marks quarantined record `seq` retried and drops its dedupe entry, in one
    /// transaction; not flushed (the caller flushes before moving the message).
    /// Refused for a record that does not exist or was not quarantined.
    pub fn release_quarantined(
        &self,
        seq: u64,
        by: &str,
        now: DateTime<Utc>,
        content_sha256: Option<&str>,
    ) -> Result<Release, StoreError> {
        let _writing = self.writing()?;
        let retried_tree = self.db.open_tree(TREE_RETRIED)?;
        let key = seq.to_be_bytes();
        let ours = encode(&OutcomeRef::Intake(seq))?;
        let seal = &*self.seal;
        transact(
            &(self.intake.tx(), self.hashes.tx(), retried_tree.tx()),
            |(intake, hashes, retried)| {
                let Some(v) = intake.get(key)? else {
                    return Err(refuse(format!("no quarantined message {seq}")));
                };
                let record: IntakeRecord = decode(
                    &seal
                        .open(super::seal::Kind::Intake, &key, &v)
                        .map_err(abort)?,
                )
                .map_err(abort)?;
                if record.kind != IntakeKind::Quarantined {
                    return Err(refuse(format!(
                        "message {seq} was skipped, not quarantined: nothing to retry"
                    )));
                }
                if let Some(r) = retried.get(key)? {
                    return Ok(Release::Already(record, decode(&r).map_err(abort)?));
                }
                // Only when it still points here: the same bytes may have become a
                // report since (sent again, or retried through another record).
                let sha_key = seal.index_key(record.content_sha256.as_bytes());
                if hashes.get(sha_key.as_slice())?.as_deref() == Some(&ours[..]) {
                    hashes.remove(sha_key.as_slice())?;
                }
                let mark = Retried {
                    at: now,
                    by: by.to_string(),
                    content_sha256: content_sha256.map(str::to_string),
                };
                retried.insert(&key, encode(&mark).map_err(abort)?)?;
                Ok(Release::Released(record))
            },
        )
        .map_err(tx_error)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_marks_once_and_lets_the_same_bytes_be_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
        super::super::tests::fill(&store);
        let (seq, record) = store
            .intake_entries()
            .unwrap()
            .into_iter()
            .find(|(_, r)| r.kind == IntakeKind::Quarantined)
            .unwrap();
        let sha = record.content_sha256.clone();
        assert_eq!(
            store.outcome_of(&sha).unwrap(),
            Some(OutcomeRef::Intake(seq))
        );
        let now = Utc::now();
        let Release::Released(r) = store.release_quarantined(seq, "cli:op", now, None).unwrap()
        else {
            panic!("not released");
        };
        assert_eq!(r, record);
        assert_eq!(
            store.outcome_of(&sha).unwrap(),
            None,
            "read again, not a duplicate"
        );
        // Again: nothing changes, and it says when it was retried.
        let again = store
            .release_quarantined(seq, "cli:other", Utc::now(), None)
            .unwrap();
        let Release::Already(_, mark) = again else {
            panic!("retried twice")
        };
        assert_eq!((mark.at, mark.by.as_str()), (now, "cli:op"));
        assert_eq!(store.retried(seq).unwrap().unwrap().by, "cli:op");
        assert!(store.release_quarantined(u64::MAX, "x", now, None).is_err());
    }
}
