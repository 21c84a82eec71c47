//! Who holds the store, and waiting for a store this process has just closed.
//!
//! sled 0.34 takes an exclusive `flock` on `<store>/db` at open and lets go of it only
//! when the last of its handles on the file closes. Some of those handles belong to
//! sled's own thread pool (log writes, segment truncation) and close a moment after
//! the `Db` is dropped: reopening a store right after dropping it failed at random
//! with "could not acquire lock ... WouldBlock" (issue 18). So before sled opens a
//! store, [`acquire`] looks at the lock:
//!
//! - free: go ahead;
//! - held by a live [`Store`](super::Store) of this process: refused at once (sled
//!   allows one handle per process);
//! - held by this process with no live handle: sled's threads are finishing a store
//!   just closed; wait for them, for at most [`CLOSE_WAIT`], then give up with an
//!   error that says so;
//! - held by another process: refused at once, naming its pid (from `/proc/locks`),
//!   which is how a second daemon or `check-config` beside a running daemon learns
//!   who has the store. Except for the daemon's own start ([`wait_for_others`]): a
//!   command that opened the store a moment before (`status` from a monitoring
//!   script) made `serve` fail to start.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a store closed by this process may take to let go of its lock. sled's
/// pending writes finish in milliseconds; the margin is for a loaded machine.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(20);

/// Who holds a store's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// Another process, by pid.
    Process(u32),
    /// Another process that `/proc/locks` does not name.
    Unknown,
    /// An open handle of this process.
    ThisProcess,
    /// This process's sled threads, still after [`CLOSE_WAIT`].
    ThisProcessClosing,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Process(pid) => write!(
                f,
                "in use by process {pid} (a running `disclosured serve`, or another command)"
            ),
            Holder::Unknown => write!(f, "in use by another process"),
            Holder::ThisProcess => write!(f, "already open in this process"),
            Holder::ThisProcessClosing => write!(
                f,
                "still locked by this process {}s after it was closed",
                CLOSE_WAIT.as_secs()
            ),
        }
    }
}

/// How long [`acquire`] waits for another process to let go of a store; zero unless
/// set with [`wait_for_others`].
static OTHERS_WAIT_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Makes every later open in this process wait up to `wait` for a store another
/// process holds, before reporting it: for `serve` and `run-once`, which a command
/// holding the store for a moment must not stop from starting.
pub(crate) fn wait_for_others(wait: Duration) {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    OTHERS_WAIT_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

/// Stores open in this process, by canonical path, and every store this process
/// ever opened (for when `/proc/locks` cannot say who holds a lock).
struct Registry {
    live: BTreeSet<PathBuf>,
    ever: BTreeSet<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    live: BTreeSet::new(),
    ever: BTreeSet::new(),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks a store open in this process until dropped; every clone of a `Store` shares
/// one, so it goes with the last clone, after sled's `Db`.
#[derive(Debug)]
pub(super) struct Registration(PathBuf);

impl Registration {
    pub(super) fn new(path: &Path) -> Registration {
        let path = canonical(path);
        let mut r = registry();
        r.live.insert(path.clone());
        r.ever.insert(path.clone());
        Registration(path)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        registry().live.remove(&self.0);
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Waits until nobody holds the store's lock, as described in the module's
/// documentation. `Ok` means the lock was free a moment ago (sled takes it next); a
/// store that does not exist yet is free.
pub(super) fn acquire(path: &Path) -> Result<(), Holder> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let holder = match holder(path) {
            None => return Ok(()),
            Some(h) => h,
        };
        let patience = match holder {
            Holder::ThisProcessClosing => CLOSE_WAIT,
            Holder::Process(_) | Holder::Unknown => {
                Duration::from_millis(OTHERS_WAIT_MS.load(std::sync::atomic::Ordering::Relaxed))
            }
            Holder::ThisProcess => Duration::ZERO,
        };
        if started.elapsed() >= patience {
            return Err(holder);
        }
        if pause == Duration::from_millis(1)
            && let Holder::Process(pid) = holder
        {
            tracing::info!(
                store = %path.display(),
                pid,
                wait_s = patience.as_secs(),
                "the store is in use by another process; waiting for it"
            );
        }
        // sled's thread pool gives no way to wait for it: poll, briefly.
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Who holds the store's lock now; `None` when it is free (or the store does not
/// exist). A lock held by this process with no open handle is reported as
/// [`Holder::ThisProcessClosing`].
pub(crate) fn holder(path: &Path) -> Option<Holder> {
    let db = path.join("db");
    let file = std::fs::File::open(&db).ok()?;
    match file.try_lock() {
        Ok(()) => return None,
        Err(std::fs::TryLockError::WouldBlock) => {}
        // A file system without flock: sled's own open reports what is wrong.
        Err(std::fs::TryLockError::Error(_)) => return None,
    }
    let key = canonical(path);
    let (live, ever) = {
        let r = registry();
        (r.live.contains(&key), r.ever.contains(&key))
    };
    if live {
        return Some(Holder::ThisProcess);
    }
    let own = std::process::id();
    Some(match lock_pid(&file) {
        Some(pid) if pid == own => Holder::ThisProcessClosing,
        Some(pid) => Holder::Process(pid),
        None if ever => Holder::ThisProcessClosing,
        None => Holder::Unknown,
    })
}

/// The pid holding a `flock` on `file`, from `/proc/locks` (Linux), whose lines read
/// `1: FLOCK  ADVISORY  WRITE 1234 fe:00:5366418 0 EOF`: pid, then the device as
/// hexadecimal major:minor and the inode. Waiting requests (`1: -> FLOCK ...`) are
/// not holders.
fn lock_pid(file: &std::fs::File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    let dev = rustix::fs::Dev::from(meta.dev());
    let id = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        meta.ino()
    );
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    parse_lock_pid(&locks, &id)
}

fn parse_lock_pid(locks: &str, id: &str) -> Option<u32> {
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [_, "FLOCK", _, _, pid, file, ..] if *file == id => pid.parse().ok(),
            _ => None,
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines_name_the_holder_and_skip_waiters() {
        let locks = "1: POSIX  ADVISORY  WRITE 77 fe:00:5366418 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 1234 fe:00:5366418 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 999 fe:00:5366418 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 4321 fe:00:7 0 EOF\n";
        assert_eq!(parse_lock_pid(locks, "fe:00:5366418"), Some(1234));
        assert_eq!(parse_lock_pid(locks, "fe:00:7"), Some(4321));
        assert_eq!(parse_lock_pid(locks, "fe:00:8"), None);
        assert_eq!(parse_lock_pid("", "fe:00:7"), None);
    }

    #[test]
    fn a_lock_taken_by_this_process_is_found_in_proc_locks() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let file = std::fs::File::create(&db).unwrap();
        file.lock().unwrap();
        let probe = std::fs::File::open(&db).unwrap();
        assert_eq!(lock_pid(&probe), Some(std::process::id()));
        // No live store here, and the lock is ours: a store still closing.
        assert_eq!(holder(dir.path()), Some(Holder::ThisProcessClosing));
        drop(file);
        assert_eq!(holder(dir.path()), None);
    }
}
