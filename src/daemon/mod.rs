//! The long-running service: start-up, the inbox loop (Maildir polling or IMAP IDLE),
//! the delivery loop, readiness and shutdown.
//!
//! OpenPGP and sled are synchronous, so each message is handled on a blocking thread;
//! the async side waits for mail, timers and signals. Shutdown is honoured between
//! messages, never in the middle of one, and the store is flushed before exit.

pub mod control;
pub mod imap;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

use crate::config::{Inbox, Settings};
use crate::pipeline::{Generated, Pipeline, PipelineError};
use crate::source::imap::{ImapError, ImapInbox};

/// How often the delivery loop looks for retries that came due.
const DELIVERY_TICK: Duration = Duration::from_secs(1);
/// How often deadlines and the digest schedule are checked.
const SCHEDULE_TICK: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error("a worker thread failed: {0}")]
    Worker(String),
}

/// Prints what the operator must know about a key generated at start.
pub fn announce_generated(g: &Generated) {
    println!("Generated a new gateway key {}", g.fingerprint);
    println!(
        "  secret key (mode 0600, keep it safe): {}",
        g.secret_path.display()
    );
    println!(
        "  public key to publish:                {}",
        g.public_path.display()
    );
}

/// Runs `f` on a blocking thread (OpenPGP and sled work).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PipelineError> + Send + 'static,
) -> Result<T, DaemonError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => Ok(r?),
        Err(e) => Err(DaemonError::Worker(e.to_string())),
    }
}

/// Runs the daemon until SIGINT or SIGTERM; `handler` runs the command line's requests
/// that arrive on the control socket.
pub async fn serve(settings: Settings, handler: control::Handler) -> Result<(), DaemonError> {
    let inbox = settings.inbox.clone();
    let (pipeline, generated) = blocking(move || Pipeline::start(settings)).await?;
    if let Some(g) = &generated {
        announce_generated(g);
    }
    let pipeline = Arc::new(pipeline);
    pipeline.inbox_activity.mark_serving();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let stop = Arc::new(AtomicBool::new(false));
    let wake_delivery = Arc::new(Notify::new());

    let inbox_task = match inbox {
        Inbox::Maildir { poll_interval, .. } => {
            let maildir = pipeline
                .open_maildir()?
                .ok_or_else(|| DaemonError::Worker("maildir inbox not configured".into()))?;
            info!(inbox = %maildir.root().display(), "watching Maildir");
            tokio::spawn(maildir_loop(
                Arc::clone(&pipeline),
                maildir,
                poll_interval,
                Arc::clone(&stop),
                shutdown_rx.clone(),
                Arc::clone(&wake_delivery),
            ))
        }
        Inbox::Imap(settings) => {
            let inbox = ImapInbox::new(settings)?;
            info!(host = %inbox.settings().host, folder = %inbox.settings().folder, "watching IMAP folder");
            tokio::spawn(imap::run(
                Arc::clone(&pipeline),
                inbox,
                Arc::clone(&stop),
                shutdown_rx.clone(),
                Arc::clone(&wake_delivery),
            ))
        }
    };
    let delivery_task = tokio::spawn(delivery_loop(
        Arc::clone(&pipeline),
        shutdown_rx.clone(),
        Arc::clone(&wake_delivery),
    ));
    let control_task = {
        let (p, rx) = (Arc::clone(&pipeline), shutdown_rx.clone());
        tokio::spawn(async move {
            if let Err(e) = control::serve(p, handler, rx).await {
                error!(error = %e, "control socket unavailable: the command line cannot reach the daemon");
            }
        })
    };
    info!(
        keys = pipeline.keyring.gateway_keys().len(),
        "disclosured started"
    );
    notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status("watching the inbox"),
    ]);

    shutdown_signal().await;
    info!("shutting down after the message in hand");
    notify(&[sd_notify::NotifyState::Stopping]);
    stop.store(true, Ordering::Relaxed);
    let _ = shutdown_tx.send(true);
    for task in [inbox_task, delivery_task, control_task] {
        if let Err(e) = task.await {
            error!(error = %e, "a task ended abnormally");
        }
    }
    pipeline.store.flush().map_err(PipelineError::from)?;
    info!("stopped");
    Ok(())
}

async fn maildir_loop(
    pipeline: Arc<Pipeline>,
    maildir: crate::source::Maildir,
    poll_interval: Duration,
    stop: Arc<AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
    wake_delivery: Arc<Notify>,
) {
    let maildir = Arc::new(maildir);
    loop {
        let (p, m, s) = (
            Arc::clone(&pipeline),
            Arc::clone(&maildir),
            Arc::clone(&stop),
        );
        match blocking(move || p.maildir_pass(&m, &s)).await {
            Ok(pass) => {
                pipeline.inbox_activity.mark_pass();
                if pass.reports + pass.quarantined + pass.skipped > 0 {
                    wake_delivery.notify_one();
                }
                if pass.deferred > 0 {
                    warn!(
                        deferred = pass.deferred,
                        "some messages wait for a later pass"
                    );
                }
            }
            Err(e) => error!(error = %e, "inbox pass failed; retrying at the next tick"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll_interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Sends queued mail as soon as it is queued, and retries when they come due. The
/// first round runs at once: mail queued before a crash or a restart must not wait
/// for a tick (a daemon restarted more often than the tick would never send it).
async fn delivery_loop(
    pipeline: Arc<Pipeline>,
    mut shutdown: watch::Receiver<bool>,
    wake: Arc<Notify>,
) {
    // The first check runs at once: deadlines that passed while the daemon was down
    // are escalated at start.
    let mut next_schedule = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_schedule {
            next_schedule += SCHEDULE_TICK;
            let p = Arc::clone(&pipeline);
            if let Err(e) = blocking(move || p.scheduled(chrono::Utc::now())).await {
                error!(error = %e, "deadline and digest check failed; retrying");
            }
        }
        let p = Arc::clone(&pipeline);
        if let Err(e) = blocking(move || p.deliver()).await {
            error!(error = %e, "delivery round failed; retrying");
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(DELIVERY_TICK) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn notify(states: &[sd_notify::NotifyState<'_>]) {
    // Outside systemd there is no socket and this does nothing.
    let _ = sd_notify::notify(false, states);
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the daemon");
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
