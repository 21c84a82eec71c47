//! The file transport: one `.eml` file per message in a directory, the local analogue
//! of handing the message to a relay.
//!
//! lettre's `FileTransport` creates the final file and then writes into it, so a
//! process killed in between leaves an empty or partial `.eml` that looks like a sent
//! message. Here a message is written under a hidden temporary name, synced, and
//! renamed: a reader of the directory sees whole messages or nothing, as a relay
//! either accepts a message or sees the connection drop. A temporary file left by a
//! kill is removed before the next process's first send; its message was never marked
//! sent, so it is sent again.

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

    /// Makes the names of the messages written so far durable: one directory sync
    /// for a batch of [`FileOutbox::send_unsynced`].
    pub fn sync(&self) -> Result<(), FileError> {
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))
    }

    /// Writes one message, whole and synced, under its final name; the name itself is
    /// durable only after the next [`FileOutbox::sync`].
    pub fn send_unsynced(&self, bytes: &[u8]) -> Result<PathBuf, FileError> {
        self.sweep()?;
        let unique = format!("{:032x}", rand::random::<u128>());
        // Not `.eml`: readers that pick messages by extension must skip it too.
        let tmp = self.dir.join(format!("{TMP_PREFIX}{unique}"));
        let dest = self.dir.join(format!("{unique}.eml"));
        let write = || -> std::io::Result<()> {
            let mut file = fs::File::create_new(&tmp)?;
            file.write_all(bytes)?;
            // A relay answers 250 only once the message is on disk; so does this.
            file.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(io(&tmp)(e));
        }
        fs::rename(&tmp, &dest).map_err(io(&tmp))?;
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
}
