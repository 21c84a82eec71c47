//! The IMAP inbox loop: connect, handle every message in the folder through the
//! driver, wait with IDLE, and reconnect with backoff, forever, after any network or
//! server failure.
//!
//! A message is moved out of the watched folder only after its outcome is durable
//! (the driver's commit). There is no UID cursor to get wrong: every pass handles
//! whatever is in the folder, so a UIDVALIDITY change or a crash between storing and
//! moving at worst replays a message, and dedupe (Message-ID and content hash) makes
//! the replay harmless.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tracing::{info, warn};

use super::driver::{self, Destination, Pass};
use super::shutdown::Shutdown;
use super::{DaemonError, blocking};
use crate::pipeline::{Origin, Pipeline};
use crate::source::imap::{ImapInbox, Mailbox, Woke};
use crate::store::HeldKind;

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The wait after a failed session that waited `backoff`: doubled, up to
/// [`BACKOFF_MAX`].
fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(BACKOFF_MAX)
}

/// Watches the folder until shutdown, reconnecting after failures.
pub(crate) async fn run(
    pipeline: Arc<Pipeline>,
    inbox: ImapInbox,
    mut shutdown: Shutdown,
    wake_delivery: Arc<Notify>,
) {
    let mut backoff = BACKOFF_FIRST;
    loop {
        if shutdown.is_set() {
            return;
        }
        // Trying to connect is progress: an unreachable server is not a hang, and a
        // restart would not bring it back.
        pipeline.progress.beat();
        let result = session(&pipeline, &inbox, &shutdown, &wake_delivery, &mut backoff).await;
        match result {
            Ok(()) => return,
            Err(e) => {
                // One line per backoff step, so a long outage does not flood the log.
                warn!(error = %e, retry_in_s = backoff.as_secs(), "IMAP session failed; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.wait() => return,
                }
                backoff = next_backoff(backoff);
            }
        }
    }
}

async fn session(
    pipeline: &Arc<Pipeline>,
    inbox: &ImapInbox,
    shutdown: &Shutdown,
    wake_delivery: &Notify,
    backoff: &mut Duration,
) -> Result<(), DaemonError> {
    let mut mailbox = inbox.connect().await?;
    info!(idle = mailbox.has_idle(), "IMAP connected");
    *backoff = BACKOFF_FIRST;
    let mut stop = shutdown.receiver();
    loop {
        handle_all(pipeline, inbox, &mut mailbox, shutdown, wake_delivery).await?;
        pipeline.progress.mark_pass();
        let (m, woke) = mailbox.wait(&mut stop).await?;
        // A wait that ended without error is a look at the folder too (IDLE or a poll).
        pipeline.progress.mark_pass();
        mailbox = m;
        if woke == Woke::Shutdown {
            mailbox.logout().await;
            return Ok(());
        }
    }
}

/// Handles every message now in the folder, oldest first, one at a time through
/// the driver: decided, committed (flushed), then moved.
pub(crate) async fn handle_all(
    pipeline: &Arc<Pipeline>,
    inbox: &ImapInbox,
    mailbox: &mut Mailbox,
    shutdown: &Shutdown,
    wake_delivery: &Notify,
) -> Result<Pass, DaemonError> {
    let settings = inbox.settings();
    let mut pass = Pass::default();
    let listed = mailbox.list().await?;
    let p = Arc::clone(pipeline);
    let listed = blocking(move || Ok::<_, DaemonError>(suspects_last(&p, listed))).await?;
    for (uid, size) in listed {
        if shutdown.is_set() {
            break;
        }
        let origin = Origin {
            name: format!("imap:{uid}"),
            handled_at: format!("imap:{}", settings.processed_folder),
            quarantine_at: format!("imap:{}", settings.quarantine_folder),
        };
        let p = Arc::clone(pipeline);
        let limit = pipeline.settings.limits.max_message_bytes;
        let raw = if size > limit {
            None
        } else {
            match mailbox.fetch(uid).await? {
                Some(raw) => Some(raw),
                // Gone since we listed it (another client moved it): nothing to do.
                None => continue,
            }
        };
        let name = origin.name.clone();
        let committed = blocking(move || {
            p.store
                .hold(HeldKind::Message, std::slice::from_ref(&origin.name))?;
            let decided = match raw {
                Some(raw) => p.process(&raw, &origin),
                None => p.record_oversized(&origin, size, limit),
            };
            let committed = driver::commit(&p, vec![((), decided)]);
            Ok::<_, DaemonError>(committed.into_iter().next().map(|(_, c)| c))
        })
        .await?;
        let Some(committed) = committed else {
            continue;
        };
        let result = match committed {
            Ok((outcome, to)) => {
                let folder = match to {
                    Destination::Quarantine => &settings.quarantine_folder,
                    Destination::Handled => &settings.processed_folder,
                };
                mailbox.move_to(uid, folder).await?;
                let p = Arc::clone(pipeline);
                blocking(move || p.store.let_go(HeldKind::Message, &[name])).await?;
                Ok(outcome)
            }
            Err(e) => Err(e),
        };
        if pass.count(result, &uid.to_string()) {
            break;
        }
        wake_delivery.notify_one();
    }
    Ok(pass)
}

/// The listed messages with those that stopped the daemon before at the end: if one
/// stops it again, the others have been handled.
fn suspects_last(pipeline: &Pipeline, listed: Vec<(u32, u64)>) -> Vec<(u32, u64)> {
    let stopped: std::collections::BTreeSet<String> = match pipeline.store.held_all() {
        Ok(all) => all
            .into_iter()
            .filter(|h| h.kind == HeldKind::Message && !h.stops.is_empty())
            .map(|h| h.name)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the messages in hand");
            Default::default()
        }
    };
    let (mut regular, suspects): (Vec<_>, Vec<_>) = listed
        .into_iter()
        .partition(|(uid, _)| !stopped.contains(&format!("imap:{uid}")));
    regular.extend(suspects);
    regular
}

/// One pass for `run-once`: connect, handle everything, log out.
pub(crate) async fn pass_once(
    pipeline: Arc<Pipeline>,
    inbox: &ImapInbox,
) -> Result<Pass, DaemonError> {
    let mut mailbox = inbox.connect().await?;
    let pass = handle_all(
        &pipeline,
        inbox,
        &mut mailbox,
        &Shutdown::never(),
        &Notify::new(),
    )
    .await;
    mailbox.logout().await;
    pass
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backoff between reconnections, on a paused clock: 1 s, doubling, capped at
    /// five minutes; reset by a session that connects (not modelled here).
    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_up_to_five_minutes() {
        let mut backoff = BACKOFF_FIRST;
        let mut waited = Vec::new();
        let start = tokio::time::Instant::now();
        for _ in 0..12 {
            let before = tokio::time::Instant::now();
            tokio::time::sleep(backoff).await;
            waited.push((tokio::time::Instant::now() - before).as_secs());
            backoff = next_backoff(backoff);
        }
        assert_eq!(
            waited,
            vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
        );
        assert_eq!((tokio::time::Instant::now() - start).as_secs(), 1411);
    }
}
