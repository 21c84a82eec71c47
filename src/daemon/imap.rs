//! The IMAP inbox loop: connect, handle every message in the folder, wait with IDLE,
//! and reconnect with backoff, forever, after any network or server failure.
//!
//! A message is moved out of the watched folder only after its outcome is stored.
//! There is no UID cursor to get wrong: every pass handles whatever is in the folder,
//! so a UIDVALIDITY change or a crash between storing and moving at worst replays a
//! message, and dedupe (Message-ID and content hash) makes the replay harmless.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use super::{DaemonError, blocking};
use crate::pipeline::{Origin, Pass, Pipeline};
use crate::source::imap::{ImapInbox, Mailbox, Woke};

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Watches the folder until shutdown, reconnecting after failures.
pub async fn run(
    pipeline: Arc<Pipeline>,
    inbox: ImapInbox,
    stop: Arc<AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
    wake_delivery: Arc<Notify>,
) {
    let mut backoff = BACKOFF_FIRST;
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Trying to connect is progress: an unreachable server is not a hang, and a
        // restart would not bring it back.
        pipeline.progress.beat();
        let result = session(
            &pipeline,
            &inbox,
            &stop,
            &mut shutdown,
            &wake_delivery,
            &mut backoff,
        )
        .await;
        match result {
            Ok(()) => return,
            Err(e) => {
                // One line per backoff step, so a long outage does not flood the log.
                warn!(error = %e, retry_in_s = backoff.as_secs(), "IMAP session failed; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

async fn session(
    pipeline: &Arc<Pipeline>,
    inbox: &ImapInbox,
    stop: &Arc<AtomicBool>,
    shutdown: &mut watch::Receiver<bool>,
    wake_delivery: &Notify,
    backoff: &mut Duration,
) -> Result<(), DaemonError> {
    let mut mailbox = inbox.connect().await?;
    info!(idle = mailbox.has_idle(), "IMAP connected");
    *backoff = BACKOFF_FIRST;
    loop {
        handle_all(pipeline, inbox, &mut mailbox, stop, wake_delivery).await?;
        pipeline.progress.mark_pass();
        let (m, woke) = mailbox.wait(shutdown).await?;
        // A wait that ended without error is a look at the folder too (IDLE or a poll).
        pipeline.progress.mark_pass();
        mailbox = m;
        if woke == Woke::Shutdown {
            mailbox.logout().await;
            return Ok(());
        }
    }
}

/// Handles every message now in the folder, oldest first.
pub async fn handle_all(
    pipeline: &Arc<Pipeline>,
    inbox: &ImapInbox,
    mailbox: &mut Mailbox,
    stop: &AtomicBool,
    wake_delivery: &Notify,
) -> Result<Pass, DaemonError> {
    let settings = inbox.settings();
    let mut pass = Pass::default();
    for (uid, size) in mailbox.list().await? {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let origin = Origin {
            name: format!("imap:{uid}"),
            handled_at: format!("imap:{}", settings.processed_folder),
            quarantine_at: format!("imap:{}", settings.quarantine_folder),
        };
        let p = Arc::clone(pipeline);
        let limit = pipeline.settings.limits.max_message_bytes;
        let outcome = if size > limit {
            blocking(move || p.record_oversized(&origin, size, limit)).await?
        } else {
            let Some(raw) = mailbox.fetch(uid).await? else {
                // Gone since we listed it (another client moved it): nothing to do.
                continue;
            };
            blocking(move || p.process(&raw, &origin)).await?
        };
        let p = Arc::clone(pipeline);
        let o = outcome.clone();
        // The outcome is durable before the message leaves the inbox: a crash after
        // the MOVE must not lose it (the store functions do not flush themselves).
        let quarantine = blocking(move || {
            p.store.flush()?;
            p.belongs_in_quarantine(&o)
        })
        .await?;
        let folder = if quarantine {
            &settings.quarantine_folder
        } else {
            &settings.processed_folder
        };
        mailbox.move_to(uid, folder).await?;
        pass.count(Ok(outcome), &uid.to_string());
        wake_delivery.notify_one();
    }
    Ok(pass)
}

/// One pass for `run-once`: connect, handle everything, log out.
pub async fn pass_once(pipeline: Arc<Pipeline>, inbox: &ImapInbox) -> Result<Pass, DaemonError> {
    let mut mailbox = inbox.connect().await?;
    let pass = handle_all(
        &pipeline,
        inbox,
        &mut mailbox,
        &AtomicBool::new(false),
        &Notify::new(),
    )
    .await;
    mailbox.logout().await;
    pass
}
