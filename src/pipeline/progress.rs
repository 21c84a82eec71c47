//! Signs of life from the inbox side, for the systemd watchdog and `status`.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use chrono::Utc;

/// Signs of life from the inbox side: when it last got anywhere (a message handled,
/// a pass finished, a wait for mail returned), when it last finished a look at the
/// whole inbox, and how many messages it handled. The systemd watchdog is fed only
/// while these move; `status` shows them. Only the running process knows them:
/// nothing of it is stored.
#[derive(Debug, Default)]
pub struct Progress {
    /// Set by `serve`: a command run in its own process has no inbox loop to report.
    serving: AtomicBool,
    last_ms: AtomicI64,
    /// Unix milliseconds of the last completed pass; 0: none yet.
    last_pass_ms: AtomicI64,
    pub(super) handled: AtomicU64,
    /// Unix seconds of this process's last look at the retention periods; 0: none
    /// yet (each process looks at its first round of scheduled work).
    pub(super) retention_checked: AtomicI64,
    /// The messages and jobs being worked on now, for the watchdog and `status`.
    pub handling: crate::store::Handling,
}

impl Progress {
    /// Called by `serve` once its inbox loop starts.
    pub fn mark_serving(&self) {
        self.serving.store(true, Ordering::Relaxed);
    }

    pub fn beat(&self) {
        self.last_ms
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// Called by the inbox loop after each completed pass (or IMAP wait): a beat too.
    pub fn mark_pass(&self) {
        let now = Utc::now().timestamp_millis();
        self.last_pass_ms.store(now, Ordering::Relaxed);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Whether this process runs the inbox loop.
    pub fn serving(&self) -> bool {
        self.serving.load(Ordering::Relaxed)
    }

    /// Time since the last beat; `None` before the first.
    pub fn since_last(&self) -> Option<std::time::Duration> {
        let last = self.last_ms.load(Ordering::Relaxed);
        (last > 0).then(|| {
            let ms = Utc::now().timestamp_millis().saturating_sub(last).max(0);
            std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
        })
    }

    /// When the last pass completed, if one did in this process.
    pub fn last_pass(&self) -> Option<chrono::DateTime<Utc>> {
        match self.last_pass_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => chrono::DateTime::from_timestamp_millis(ms),
        }
    }

    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }
}
