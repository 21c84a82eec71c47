//! Backup and restore of the whole store as one file: every tree's keys and values,
//! byte for byte, so a restored store is the same database whatever the records'
//! schema.
//!
//! The file opens with the line [`BACKUP_HEADER`], then binary records:
//! `K` + name + bytes (a wrapped data key file of `sealed-keys/`, the check file
//! first: sealed content is restored only with the store key that sealed it),
//! `T` + name (a tree starts), `E` + key + value (one entry of that tree), `I` + u64
//! (the next free ID of sled's generator), `Z` + u64 (the number of entries: the end,
//! so a truncated file is refused). Lengths are u32 and numbers u64, big-endian.
//!
//! sled has no snapshot across trees, so [`Store::export`] pauses every write of this
//! store while it runs (see `Store::writing`): the file is one consistent state, and
//! messages arriving meanwhile wait, they are not lost.

use std::io::{BufRead, Read, Write};
use std::path::Path;

use super::{Store, StoreError};

/// The first line of a backup file; the number is the format's version.
pub(crate) const BACKUP_HEADER: &str = "disclosured-backup 1";

const TAG_KEY: u8 = b'K';
const TAG_TREE: u8 = b'T';
const TAG_ENTRY: u8 = b'E';
const TAG_NEXT_ID: u8 = b'I';
const TAG_END: u8 = b'Z';

/// What a backup holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    pub trees: usize,
    /// Keys and values over all trees.
    pub entries: u64,
    /// Entries of the reports tree, for the operator to compare.
    pub reports: u64,
    /// Slots of the key pool (wrapped data keys of reports and attachments, and
    /// those filled ahead; see `store::seal`).
    pub data_keys: u64,
}

fn io(source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: "backup file".into(),
        source,
    }
}

fn bad(what: &str) -> StoreError {
    StoreError::Decode(format!("not a complete disclosured backup: {what}"))
}

fn write_bytes(out: &mut dyn Write, bytes: &[u8]) -> Result<(), StoreError> {
    let len = u32::try_from(bytes.len()).map_err(|_| bad("a value over 4 GiB"))?;
    out.write_all(&len.to_be_bytes()).map_err(io)?;
    out.write_all(bytes).map_err(io)
}

fn read_u64(input: &mut dyn BufRead) -> Result<u64, StoreError> {
    let mut b = [0u8; 8];
    input.read_exact(&mut b).map_err(|_| bad("cut short"))?;
    Ok(u64::from_be_bytes(b))
}

fn read_bytes(input: &mut dyn BufRead) -> Result<Vec<u8>, StoreError> {
    let mut b = [0u8; 4];
    input.read_exact(&mut b).map_err(|_| bad("cut short"))?;
    let len = u64::from(u32::from_be_bytes(b));
    // Read through `take`, so a corrupt length cannot make us allocate 4 GiB at once.
    let mut out = Vec::new();
    input.take(len).read_to_end(&mut out).map_err(io)?;
    if out.len() as u64 != len {
        return Err(bad("cut short"));
    }
    Ok(out)
}

/// When a backup runs: writes wait for it, and the time they wait is not a stall
/// (see the daemon's watchdog). Unix seconds; 0 for none.
#[derive(Debug, Default)]
pub(crate) struct ExportClock {
    running_since: std::sync::atomic::AtomicI64,
    last_end: std::sync::atomic::AtomicI64,
}

/// Marks a backup as running until dropped.
pub(super) struct Running<'a>(&'a ExportClock);

impl ExportClock {
    fn start(&self) -> Running<'_> {
        self.running_since.store(
            chrono::Utc::now().timestamp(),
            std::sync::atomic::Ordering::SeqCst,
        );
        Running(self)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering::SeqCst;
        self.0
            .last_end
            .store(chrono::Utc::now().timestamp(), SeqCst);
        self.0.running_since.store(0, SeqCst);
    }
}

impl Store {
    /// Since when a backup has been running, if one is; then when the last ended.
    pub fn backup_times(
        &self,
    ) -> (
        Option<chrono::DateTime<chrono::Utc>>,
        Option<chrono::DateTime<chrono::Utc>>,
    ) {
        use std::sync::atomic::Ordering::SeqCst;
        let at = |secs: i64| {
            (secs > 0)
                .then(|| chrono::DateTime::from_timestamp(secs, 0))
                .flatten()
        };
        (
            at(self.exports.running_since.load(SeqCst)),
            at(self.exports.last_end.load(SeqCst)),
        )
    }
}

impl Store {
    /// Writes every tree of the store to `out` (not flushed to disk: the caller owns
    /// the file). Writes wait until it returns.
    pub fn export(&self, out: &mut dyn Write) -> Result<Exported, StoreError> {
        let _running = self.exports.start();
        let _paused = self
            .writes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::fault::slow_backup();
        self.db.flush()?;
        let mut done = Exported::default();
        writeln!(out, "{BACKUP_HEADER}").map_err(io)?;
        let mut files = self.seal.wrapped_files()?;
        // The check file first: a restore with another store key stops at once.
        files.sort_by_key(|(name, _)| name != super::seal::CHECK_FILE);
        for (name, bytes) in files {
            out.write_all(&[TAG_KEY]).map_err(io)?;
            write_bytes(out, name.as_bytes())?;
            write_bytes(out, &bytes)?;
            done.entries += 1;
            done.data_keys += super::seal::pool_slots(&name, &bytes);
        }
        let mut names = self.db.tree_names()?;
        names.sort();
        for name in names {
            let tree = self.db.open_tree(&name)?;
            out.write_all(&[TAG_TREE]).map_err(io)?;
            write_bytes(out, &name)?;
            done.trees += 1;
            for item in tree.iter()? {
                let (k, v) = item?;
                out.write_all(&[TAG_ENTRY]).map_err(io)?;
                write_bytes(out, &k)?;
                write_bytes(out, &v)?;
                done.entries += 1;
                if &*name == super::TREE_REPORTS.as_bytes() {
                    done.reports += 1;
                }
            }
        }
        // Outbox and intake keys come from sled's ID generator, which a new database
        // starts again from zero: the restored one must not hand out used IDs.
        let next_id = self.new_id()?;
        out.write_all(&[TAG_NEXT_ID]).map_err(io)?;
        out.write_all(&next_id.to_be_bytes()).map_err(io)?;
        out.write_all(&[TAG_END]).map_err(io)?;
        out.write_all(&done.entries.to_be_bytes()).map_err(io)?;
        out.flush().map_err(io)?;
        Ok(done)
    }

    /// Creates a store at `path` from a backup and flushes it. `path` must not exist
    /// or be an empty directory: a restore never merges into or overwrites a store.
    /// On error the partial store is left at `path` for the operator to remove. The
    /// backup's sealed content needs `key`, the store key that sealed it
    /// ([`StoreError::WrongKey`] otherwise); a backup from before sealing is sealed
    /// with `key` as it is restored.
    pub fn import(
        path: &Path,
        key: &super::StoreKey,
        input: &mut dyn BufRead,
    ) -> Result<(Store, Exported), StoreError> {
        match std::fs::read_dir(path) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(StoreError::Refused(format!(
                        "{} is not empty: a restore never overwrites a store; move it away first",
                        path.display()
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        }
        let mut header = String::new();
        input
            .take(BACKUP_HEADER.len() as u64 + 1)
            .read_line(&mut header)
            .map_err(io)?;
        if header.trim_end() != BACKUP_HEADER {
            return Err(bad(&format!(
                "the first line is not {BACKUP_HEADER:?} (a newer version's backup, or another file?)"
            )));
        }
        let mut store = Store::open(path, key)?;
        let mut done = Exported::default();
        let mut next_id = None;
        let mut tree: Option<(super::guard::Tree, bool)> = None;
        loop {
            let mut tag = [0u8; 1];
            input.read_exact(&mut tag).map_err(|_| bad("cut short"))?;
            match tag {
                [TAG_KEY] => {
                    let name = read_bytes(input)?;
                    let name = String::from_utf8(name).map_err(|_| bad("a key file name"))?;
                    let bytes = read_bytes(input)?;
                    store.seal.restore_file(&name, &bytes)?;
                    done.entries += 1;
                    done.data_keys += super::seal::pool_slots(&name, &bytes);
                }
                [TAG_TREE] => {
                    let name = read_bytes(input)?;
                    let is_reports = name == super::TREE_REPORTS.as_bytes();
                    tree = Some((store.db.open_tree(name)?, is_reports));
                    done.trees += 1;
                }
                [TAG_ENTRY] => {
                    let Some((t, is_reports)) = &tree else {
                        return Err(bad("an entry before any tree"));
                    };
                    let (k, v) = (read_bytes(input)?, read_bytes(input)?);
                    t.insert(k, v)?;
                    done.entries += 1;
                    if *is_reports {
                        done.reports += 1;
                    }
                }
                [TAG_NEXT_ID] => {
                    // Recorded as the new store's ID base, never counted up to: a
                    // crafted number is refused at once (see `ids`).
                    let next = read_u64(input)?;
                    super::ids::check_id_base(next).map_err(|_| {
                        bad(&format!(
                            "its next ID ({next}) is past the largest a store reaches ({})",
                            super::ids::MAX_ID_BASE
                        ))
                    })?;
                    next_id = Some(next);
                }
                [TAG_END] => {
                    if read_u64(input)? != done.entries {
                        return Err(bad("the entry count does not match"));
                    }
                    break;
                }
                _ => return Err(bad("unknown record")),
            }
        }
        let next_id = match next_id {
            Some(n) => n,
            None => super::ids::id_base(&store.meta)?,
        };
        store.mark_restored(next_id, chrono::Utc::now())?;
        // A backup from before a derived tree existed restores without it.
        store.rebuild_indexes()?;
        // A backup from before sealing holds clear records.
        store.seal_existing()?;
        Ok((store, done))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Every tree's name and entries.
    type Dump = Vec<(Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>)>;

    fn dump(store: &Store) -> Dump {
        let mut names = store.db.tree_names().unwrap();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let t = store.db.open_tree(&n).unwrap();
                let entries = t
                    .iter()
                    .unwrap()
                    .map(|e| {
                        let (k, v) = e.unwrap();
                        (k.to_vec(), v.to_vec())
                    })
                    .collect();
                (n.to_vec(), entries)
            })
            .collect()
    }

    fn filled() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("old"),
            &crate::store::StoreKey::for_tests(1),
        )
        .unwrap();
        super::super::tests::fill(&store);
        (dir, store)
    }

    #[test]
    fn export_import_round_trip_keeps_every_tree() {
        let (dir, store) = filled();
        let mut file = Vec::new();
        let exported = store.export(&mut file).unwrap();
        assert!(file.starts_with(format!("{BACKUP_HEADER}\n").as_bytes()));
        assert_eq!(exported.reports, 2);
        let new = dir.path().join("new");
        let (restored, imported) = Store::import(
            &new,
            &crate::store::StoreKey::for_tests(1),
            &mut file.as_slice(),
        )
        .unwrap();
        assert_eq!(exported, imported);
        let mut before = dump(&store);
        // The same, but for what the restore records of itself (see `ids`), and the
        // heads, which the restore derives again: sealed afresh, with new nonces.
        let mut after = dump(&restored);
        for (name, entries) in after.iter_mut().chain(before.iter_mut()) {
            if name.as_slice() == super::super::TREE_META.as_bytes() {
                entries.retain(|(k, _)| !matches!(k.as_slice(), b"id_base" | b"restored_at"));
            }
            if name.as_slice() == super::super::TREE_HEADS.as_bytes() {
                entries.clear();
            }
        }
        assert!(before == after, "a tree differs after the round trip");
        assert_eq!(
            store.report_heads().unwrap(),
            restored.report_heads().unwrap()
        );
        assert_eq!(store.reports().unwrap(), restored.reports().unwrap());
        assert_eq!(
            exported.data_keys,
            crate::store::seal::BATCH,
            "one batch of the key pool holds both reports' keys"
        );
        for tree in [
            super::super::TREE_REPORTS,
            super::super::TREE_OUTBOX,
            super::super::TREE_INTAKE,
            super::super::TREE_KEYS,
        ] {
            let (_, entries) = before
                .iter()
                .find(|(n, _)| n.as_slice() == tree.as_bytes())
                .unwrap();
            assert!(!entries.is_empty(), "tree {tree} is empty in the test data");
        }
        // IDs drawn after the restore are past every ID in the backup, and a
        // backup of the restored store carries that on.
        let used = store.jobs().unwrap().iter().map(|j| j.id).max().unwrap();
        let first = restored.new_id().unwrap();
        assert!(first > used);
        let mut again = Vec::new();
        restored.export(&mut again).unwrap();
        let (third, _) = Store::import(
            &dir.path().join("third"),
            &crate::store::StoreKey::for_tests(1),
            &mut again.as_slice(),
        )
        .unwrap();
        assert!(third.new_id().unwrap() > first);
        assert!(third.signatures_not_before().unwrap().is_some());
    }

    #[test]
    fn import_refuses_a_used_path_a_truncated_file_and_a_foreign_file() {
        let (dir, store) = filled();
        let mut file = Vec::new();
        store.export(&mut file).unwrap();
        let used = dir.path().join("old");
        let err = Store::import(
            &used,
            &crate::store::StoreKey::for_tests(1),
            &mut file.as_slice(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("move it away"), "{err}");
        let cut = &file[..file.len() - 5];
        let err = Store::import(
            &dir.path().join("cut"),
            &crate::store::StoreKey::for_tests(1),
            &mut &cut[..],
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("cut short"), "{err}");
        let err = Store::import(
            &dir.path().join("foreign"),
            &crate::store::StoreKey::for_tests(1),
            &mut &b"hello\n"[..],
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("first line"), "{err}");
    }

    #[test]
    fn a_next_id_of_two_to_the_62_is_refused_at_once() {
        let (dir, store) = filled();
        let mut file = Vec::new();
        store.export(&mut file).unwrap();
        // The record is `I` + u64, before `Z` + u64 at the end.
        let at = file.len() - 17;
        assert_eq!(file[at - 1], TAG_NEXT_ID);
        file[at..at + 8].copy_from_slice(&(1u64 << 62).to_be_bytes());
        let started = std::time::Instant::now();
        let err = Store::import(
            &dir.path().join("new"),
            &crate::store::StoreKey::for_tests(1),
            &mut file.as_slice(),
        )
        .err()
        .unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(err.to_string().contains("next ID"), "{err}");
    }
}
