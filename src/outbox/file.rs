//! The file transport: one `.eml` file per message in a directory, the local analogue
//! of handing the message to a relay.
//!
//! lettre's `FileTransport` creates the final file and then writes into it, so a
//! process killed in between leaves an empty or partial `.eml` that looks like a sent
//! message. Here a message is written under a hidden temporary name and renamed only
//! once its bytes are on disk: a reader of the directory sees whole messages or
//! nothing, as a relay either accepts a message or sees the connection drop. A
//! temporary file left by a kill is removed before the next process's first send; its
//! message was never marked sent, so it is sent again.
//!
//! A delivery batch is made durable with one sync, not one per message: its messages
//! are written under their temporary names, then [`FileOutbox::sync`] syncs the file
//! system once (`syncfs`: every file written so far is on disk), renames them all, and
//! syncs the directory (the names are on disk). One `fsync` per acknowledgement was
//! 7.5% of the backlog's CPU (BENCHMARKS.md).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Prefix of the temporary files; hidden, so that no reader takes them for mail.
const TMP_PREFIX: &str = ".tmp-";

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct FileError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError {
        path: path.to_path_buf(),
        source,
    }
}

/// A directory that receives one `<random>.eml` file per message.
#[derive(Debug, Clone)]
pub struct FileOutbox {
    dir: PathBuf,
    /// Whether this process has removed the temporary files a killed one left
    /// behind; done before its first message, not at open, so that commands that
    /// never send (`reports show`) do not list a directory that may hold every
    /// message ever sent.
    swept: std::sync::Arc<std::sync::Mutex<bool>>,
    /// Messages written whole under their temporary names and not yet made durable:
    /// each temporary path with the name it takes at the next [`FileOutbox::sync`].
    written: std::sync::Arc<std::sync::Mutex<Vec<(PathBuf, PathBuf)>>>,
}

impl FileOutbox {
    /// Creates the directory when missing.
    pub fn open(dir: &Path) -> Result<FileOutbox, FileError> {
        // Outgoing mail may be signed but not encrypted: private, whatever the umask.
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .map_err(io(dir))?;
        Ok(FileOutbox {
            dir: dir.to_path_buf(),
            swept: Default::default(),
            written: Default::default(),
        })
    }

    /// Removes the temporary files of killed writers, once per process. Only the
    /// process holding the store sends, so no live write is removed; this process's
    /// own writes wait for the sweep on the lock.
    fn sweep(&self) -> Result<(), FileError> {
        let mut swept = self
            .swept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *swept {
            return Ok(());
        }
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                let path = entry.path();
                fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        *swept = true;
        Ok(())
    }

    /// Writes one message; returns its path once the file is complete and durable.
    /// Every call makes a new file, even for the same bytes: like a relay, the
    /// directory receives what it is given, duplicates included.
    pub fn send(&self, bytes: &[u8]) -> Result<PathBuf, FileError> {
        let dest = self.send_unsynced(bytes)?;
        self.sync()?;
        Ok(dest)
    }

    /// Makes the messages written so far ([`FileOutbox::send_unsynced`]) durable and
    /// visible, all with one sync of their bytes: the file system is synced once
    /// (`syncfs`, which returns once every file written before it is on disk), then
    /// each message takes its final name, then the directory is synced once (the
    /// names are on disk). A message is never seen under its final name before its
    /// bytes are durable. When a step fails, the messages not yet renamed are removed
    /// and the error returned: the caller sends them again.
    pub fn sync(&self) -> Result<(), FileError> {
        let batch = std::mem::take(
            &mut *self
                .written
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let dir = fs::File::open(&self.dir).map_err(io(&self.dir))?;
        let mut left = batch.iter();
        let result = (|| {
            if !batch.is_empty() {
                rustix::fs::syncfs(&dir).map_err(|e| io(&self.dir)(e.into()))?;
            }
            if crate::fault::fail("outbox-sync") {
                return Err(io(&self.dir)(std::io::Error::other(
                    "the batch's sync fails (test fault hook)",
                )));
            }
            for (tmp, dest) in left.by_ref() {
                fs::rename(tmp, dest).map_err(io(tmp))?;
            }
            dir.sync_all().map_err(io(&self.dir))
        })();
        if result.is_err() {
            for (tmp, _) in left {
                let _ = fs::remove_file(tmp);
            }
        }
        result
    }

    /// Writes one message, whole, under a temporary name; it takes its final name,
    /// returned here, at the next [`FileOutbox::sync`], which makes it durable.
    pub fn send_unsynced(&self, bytes: &[u8]) -> Result<PathBuf, FileError> {
        self.sweep()?;
        let unique = format!("{:032x}", rand::random::<u128>());
        // Not `.eml`: readers that pick messages by extension must skip it too.
        let tmp = self.dir.join(format!("{TMP_PREFIX}{unique}"));
        let dest = self.dir.join(format!("{unique}.eml"));
        let write = || -> std::io::Result<()> {
            let mut file = fs::File::create_new(&tmp)?;
            file.write_all(bytes)
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(io(&tmp)(e));
        }
        self.written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((tmp, dest.clone()));
        Ok(dest)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_removes_leftover_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".tmp-0123"), b"half a mess").unwrap();
        fs::write(dir.path().join("kept.eml"), b"sent before").unwrap();
        let outbox = FileOutbox::open(dir.path()).unwrap();
        let a = outbox.send(b"Subject: a\r\n\r\nbody\r\n").unwrap();
        let b = outbox.send(b"Subject: a\r\n\r\nbody\r\n").unwrap();
        assert_ne!(a, b, "each message gets its own file");
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(
            names
                .iter()
                .all(|n| n.ends_with(".eml") && !n.starts_with('.'))
        );
        assert_eq!(fs::read(a).unwrap(), b"Subject: a\r\n\r\nbody\r\n");
    }

    /// Issue 29: a batch's messages take their names only at its one sync, so none is
    /// seen as sent before its bytes are durable.
    #[test]
    fn a_batch_shows_its_messages_only_after_its_sync() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = FileOutbox::open(dir.path()).unwrap();
        let names = |dir: &Path| {
            let mut names: Vec<String> = fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let sent: Vec<PathBuf> = (0..3)
            .map(|i| outbox.send_unsynced(format!("Subject: {i}\r\n\r\n").as_bytes()))
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(sent.iter().all(|p| !p.exists()));
        let before = names(dir.path());
        assert_eq!(before.len(), 3, "{before:?}");
        assert!(
            before.iter().all(|n| n.starts_with(TMP_PREFIX)),
            "{before:?}"
        );
        outbox.sync().unwrap();
        for (i, path) in sent.iter().enumerate() {
            assert_eq!(
                fs::read(path).unwrap(),
                format!("Subject: {i}\r\n\r\n").as_bytes()
            );
        }
        let after = names(dir.path());
        assert!(after.iter().all(|n| n.ends_with(".eml")), "{after:?}");
        // A second sync with nothing written changes nothing.
        outbox.sync().unwrap();
        assert_eq!(names(dir.path()), after);
    }
}
