//! One stop signal for the whole daemon. Async tasks wait for it; blocking work (an
//! inbox pass) looks at it between messages, never in the middle of one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// Held by every task that must stop; cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    rx: watch::Receiver<bool>,
}

/// Held by whoever decides to stop.
pub struct Trigger {
    flag: Arc<AtomicBool>,
    tx: watch::Sender<bool>,
}

impl Shutdown {
    pub fn new() -> (Trigger, Shutdown) {
        let flag = Arc::new(AtomicBool::new(false));
        let (tx, rx) = watch::channel(false);
        (
            Trigger {
                flag: Arc::clone(&flag),
                tx,
            },
            Shutdown { flag, rx },
        )
    }

    /// A signal that never fires: for a single pass (`run-once`).
    pub fn never() -> Shutdown {
        Shutdown::new().1
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// The flag blocking work polls between messages.
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// Returns once the stop is triggered (at once if it was already).
    pub async fn wait(&mut self) {
        // An error means the trigger is gone: nobody can stop us any more, so the
        // wait never ends, like a signal that never comes.
        if self.rx.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The receiver itself, for code that waits on the watch channel directly.
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }
}

impl Trigger {
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::Relaxed);
        let _ = self.tx.send(true);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn every_clone_sees_the_stop_and_a_late_waiter_returns_at_once() {
        let (trigger, shutdown) = Shutdown::new();
        let mut waiting = shutdown.clone();
        let task = tokio::spawn(async move { waiting.wait().await });
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        assert!(!task.is_finished());
        assert!(!shutdown.is_set());
        trigger.trigger();
        task.await.unwrap();
        assert!(shutdown.is_set());
        let mut late = shutdown.clone();
        late.wait().await;
    }
}
