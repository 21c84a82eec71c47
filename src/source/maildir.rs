//! A Maildir (<https://cr.yp.to/proto/maildir.html>) with a Maildir++ quarantine folder.
//!
//! A message waits in `new/` (or in `cur/` without the `S` flag, if a mail client
//! moved it there). Once its outcome is durably stored it is renamed into `cur/` with
//! `:2,S`; renames within one file system are atomic, so a crash leaves the message
//! either waiting (and replayed, which dedupe makes harmless) or done.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::SourceError;

/// A Maildir on disk.
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
    quarantine: PathBuf,
}

/// One message waiting to be handled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MaildirEntry {
    /// Full path of the file as it is now.
    pub path: PathBuf,
    /// The unique part of the file name (before `:2,`), stable across moves.
    pub unique: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Maildir {
    /// Opens the Maildir at `root`, creating it and the quarantine folder when missing.
    pub fn open(root: &Path, quarantine_folder: &str) -> Result<Maildir, SourceError> {
        let quarantine = root.join(format!(".{quarantine_folder}"));
        for dir in [root, quarantine.as_path()] {
            for sub in ["tmp", "new", "cur"] {
                let p = dir.join(sub);
                fs::create_dir_all(&p).map_err(io(&p))?;
            }
        }
        Ok(Maildir {
            root: root.to_path_buf(),
            quarantine,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn quarantine_dir(&self) -> &Path {
        &self.quarantine
    }

    /// Messages waiting to be handled, oldest name first (Maildir names start with the
    /// delivery time, so this is close to arrival order).
    pub fn pending(&self) -> Result<Vec<MaildirEntry>, SourceError> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let dir = self.root.join(sub);
            for entry in fs::read_dir(&dir).map_err(io(&dir))? {
                let entry = entry.map_err(io(&dir))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    // A name that is not UTF-8 was not written by a conforming MDA;
                    // we still handle it, with a lossy unique part.
                    let lossy = name.to_string_lossy().into_owned();
                    out.push(MaildirEntry {
                        path: entry.path(),
                        unique: unique_part(&lossy).to_string(),
                    });
                    continue;
                };
                if name.starts_with('.') {
                    continue;
                }
                let file_type = entry.file_type().map_err(io(&dir))?;
                if !file_type.is_file() {
                    continue;
                }
                if sub == "cur" && has_flag(name, 'S') {
                    continue;
                }
                out.push(MaildirEntry {
                    path: entry.path(),
                    unique: unique_part(name).to_string(),
                });
            }
        }
        out.sort();
        Ok(out)
    }

    /// Reads a message, refusing (without reading it) one larger than `limit` bytes.
    pub fn read(&self, entry: &MaildirEntry, limit: u64) -> Result<Vec<u8>, SourceError> {
        let file = fs::File::open(&entry.path).map_err(io(&entry.path))?;
        let size = file.metadata().map_err(io(&entry.path))?.len();
        if size > limit {
            return Err(SourceError::TooLarge {
                path: entry.path.clone(),
                size,
                limit,
            });
        }
        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(limit.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(io(&entry.path))?;
        Ok(buf)
    }

    /// Where a handled message goes: `cur/`, with the seen flag.
    pub fn seen_path(&self, entry: &MaildirEntry) -> PathBuf {
        self.root.join("cur").join(format!(
            "{}:2,{}",
            entry.unique,
            flags_with_seen(&entry.path)
        ))
    }

    /// Where a message that could not be handled goes: the quarantine folder.
    pub fn quarantine_path(&self, entry: &MaildirEntry) -> PathBuf {
        self.quarantine.join("new").join(&entry.unique)
    }

    /// Moves a message to `cur/` (`quarantine` false) or to the quarantine folder
    /// without syncing the folder: for a batch of moves, made durable together by one
    /// [`Maildir::sync_moves`]. Until then a power cut may undo the move, and the
    /// message is handled again (a duplicate of its stored outcome).
    pub fn move_unsynced(
        &self,
        entry: &MaildirEntry,
        quarantine: bool,
    ) -> Result<PathBuf, SourceError> {
        let dest = if quarantine {
            self.quarantine_path(entry)
        } else {
            self.seen_path(entry)
        };
        if entry.path != dest {
            fs::rename(&entry.path, &dest).map_err(io(&entry.path))?;
        }
        Ok(dest)
    }

    /// Makes the moves made so far survive a power cut: syncs `cur/` and, when
    /// `quarantine`, the quarantine folder's `new/`.
    pub fn sync_moves(&self, seen: bool, quarantine: bool) -> Result<(), SourceError> {
        let folders = [
            (seen, self.root.join("cur")),
            (quarantine, self.quarantine.join("new")),
        ];
        for (_, dir) in folders.iter().filter(|(wanted, _)| *wanted) {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io(dir))?;
        }
        Ok(())
    }

    /// Delivers `bytes` as a new message the way an MDA does (tmp/ then rename to new/).
    /// Used by tests, benchmarks and `make run` users dropping in a report.
    pub fn deliver(&self, unique: &str, bytes: &[u8]) -> Result<PathBuf, SourceError> {
        let tmp = self.root.join("tmp").join(unique);
        fs::write(&tmp, bytes).map_err(io(&tmp))?;
        let dest = self.root.join("new").join(unique);
        fs::rename(&tmp, &dest).map_err(io(&tmp))?;
        Ok(dest)
    }
}

fn unique_part(name: &str) -> &str {
    name.split_once(":2,").map_or(name, |(u, _)| u)
}

fn has_flag(name: &str, flag: char) -> bool {
    name.split_once(":2,")
        .is_some_and(|(_, flags)| flags.contains(flag))
}

/// The flags already on a file plus `S`, in the ASCII order Maildir requires.
fn flags_with_seen(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut flags: Vec<char> = name
        .split_once(":2,")
        .map(|(_, f)| f.chars().filter(|c| c.is_ascii_alphabetic()).collect())
        .unwrap_or_default();
    flags.push('S');
    flags.sort_unstable();
    flags.dedup();
    flags.into_iter().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn pending_mark_seen_and_quarantine() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(dir.path(), "Quarantine").unwrap();
        md.deliver("1.a.host", b"one").unwrap();
        md.deliver("2.b.host", b"two").unwrap();
        fs::write(dir.path().join("cur/3.c.host:2,F"), b"three").unwrap();
        fs::write(dir.path().join("cur/4.d.host:2,S"), b"done").unwrap();

        let pending = md.pending().unwrap();
        let uniques: Vec<_> = pending.iter().map(|e| e.unique.as_str()).collect();
        assert_eq!(uniques, ["3.c.host", "1.a.host", "2.b.host"]);

        let seen = md.move_unsynced(&pending[0], false).unwrap();
        assert!(seen.ends_with("cur/3.c.host:2,FS"));
        let q = md.move_unsynced(&pending[1], true).unwrap();
        md.sync_moves(true, true).unwrap();
        assert_eq!(fs::read(q).unwrap(), b"one");
        assert_eq!(md.pending().unwrap().len(), 1);
        assert!(dir.path().join(".Quarantine/new/1.a.host").exists());
    }

    #[test]
    fn read_refuses_oversized_message() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(dir.path(), "Q").unwrap();
        md.deliver("big", &[b'x'; 100]).unwrap();
        let entry = md.pending().unwrap().remove(0);
        assert!(matches!(
            md.read(&entry, 99),
            Err(SourceError::TooLarge { size: 100, .. })
        ));
        assert_eq!(md.read(&entry, 100).unwrap().len(), 100);
    }
}
