//! The long-running service: start-up, the inbox drivers (Maildir polling or IMAP
//! IDLE), the delivery loop, readiness, reload and shutdown; and `run-once`, which
//! runs the same drivers once.
//!
//! OpenPGP and sled are synchronous, so each message is handled on a blocking thread;
//! the async side waits for mail, timers and signals. Shutdown is honoured between
//! messages, never in the middle of one, and the store is flushed before exit.
//!
//! - [`driver`]: decide, store, flush, then move: the contract every inbox follows.
//! - [`maildir`], [`imap`]: the two inboxes over that driver.
//! - [`delivery`]: the outgoing queue and the time-driven work.
//! - [`run_once`]: one pass of intake and delivery, for cron and tests.
//! - [`shutdown`]: the one stop signal.
//! - [`control`]: the command line's socket into the running daemon.

pub(crate) mod control;
pub(crate) mod delivery;
pub(crate) mod driver;
pub(crate) mod imap;
pub(crate) mod maildir;
pub(crate) mod run_once;
pub(crate) mod shutdown;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tracing::{error, info, warn};

use crate::config::{Inbox, Settings};
use crate::pipeline::{Generated, MessageError, Pipeline, PipelineError};
use crate::source::SourceError;
use crate::source::imap::{ImapError, ImapInbox};
use crate::store::StoreError;
use shutdown::Shutdown;

#[derive(Debug, thiserror::Error)]
pub(crate) enum DaemonError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error("a worker thread failed: {0}")]
    Worker(String),
}

/// Prints what the operator must know about a key generated at start.
pub(crate) fn announce_generated(g: &Generated) {
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
pub(crate) async fn blocking<T: Send + 'static, E: Into<DaemonError> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, DaemonError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Into::into),
        Err(e) => Err(DaemonError::Worker(e.to_string())),
    }
}

/// Runs the daemon until SIGINT or SIGTERM; `handler` runs the command line's requests
/// that arrive on the control socket.
///
/// SIGHUP reloads the configuration file: a new configuration that does not validate
/// is refused with a log line and the daemon carries on unchanged; a valid one is
/// applied by finishing the message in hand and starting over with it (keys, policy,
/// maintainers, limits, inbox and outbox all follow). Only `store.path` cannot change
/// while running: it is kept, with a log line, and the store stays open (its lock is
/// never let go).
pub(crate) async fn serve(
    settings: Settings,
    handler: control::Handler,
) -> Result<(), DaemonError> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    if hup.is_none() {
        warn!("cannot listen for SIGHUP; reloading needs a restart");
    }
    let (mut pipeline, mut generated) = blocking(move || Pipeline::start(settings)).await?;
    loop {
        if let Some(g) = generated.take() {
            announce_generated(&g);
        }
        let source = pipeline.settings.source.clone();
        let store = pipeline.store.clone();
        let store_path = pipeline.settings.store.path.clone();
        match generation(pipeline, Arc::clone(&handler), hup.as_mut()).await? {
            Next::Stop => return Ok(()),
            Next::Reload(mut new) => {
                if new.store.path != store_path {
                    warn!(
                        kept = %store_path.display(),
                        asked = %new.store.path.display(),
                        "store.path cannot change while running; restart the service to move the store"
                    );
                    new.store.path = store_path;
                }
                (pipeline, generated) = blocking(move || Pipeline::reload(*new, store)).await?;
                info!(config = %source.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in defaults".into()), "configuration reloaded");
            }
        }
    }
}

/// What ended a generation of the daemon.
enum Next {
    Stop,
    /// SIGHUP with a configuration that validated.
    Reload(Box<Settings>),
}

/// Waits for SIGHUP and a configuration that validates; an invalid one is logged and
/// the wait goes on.
async fn reload_request(
    hup: Option<&mut tokio::signal::unix::Signal>,
    source: Option<std::path::PathBuf>,
) -> Settings {
    let Some(hup) = hup else {
        return std::future::pending().await;
    };
    loop {
        if hup.recv().await.is_none() {
            return std::future::pending().await;
        }
        info!("SIGHUP: reloading the configuration");
        let path = source.clone();
        match tokio::task::spawn_blocking(move || Settings::load(path.as_deref())).await {
            Ok(Ok(s)) => return s,
            Ok(Err(e)) => {
                error!(error = %e, "new configuration refused; carrying on with the old one")
            }
            Err(e) => error!(error = %e, "cannot reload the configuration"),
        }
    }
}

/// Runs the daemon with one configuration until a stop signal or a reload.
async fn generation(
    pipeline: Pipeline,
    handler: control::Handler,
    hup: Option<&mut tokio::signal::unix::Signal>,
) -> Result<Next, DaemonError> {
    let source = pipeline.settings.source.clone();
    let inbox = pipeline.settings.inbox.clone();
    let pipeline = Arc::new(pipeline);
    pipeline.progress.mark_serving();
    let (trigger, shutdown) = Shutdown::new();
    let wake_delivery = Arc::new(Notify::new());

    let stall_limit = inbox_stall_limit(&pipeline.settings);
    // The published tree (publish.dir), written before the inbox is read: a
    // configuration or key that changed since the last start shows at once.
    {
        let p = Arc::clone(&pipeline);
        blocking(move || {
            p.keep_published(chrono::Utc::now(), true);
            Ok::<(), DaemonError>(())
        })
        .await?;
    }
    pipeline.progress.beat();
    let inbox_task = spawn_inbox(&pipeline, inbox, &shutdown, &wake_delivery)?;
    let delivery_task = tokio::spawn(delivery::run(
        Arc::clone(&pipeline),
        shutdown.clone(),
        Arc::clone(&wake_delivery),
    ));
    let control_task = {
        let (p, rx) = (Arc::clone(&pipeline), shutdown.receiver());
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
    let watchdog_task = tokio::spawn(watchdog(
        Arc::clone(&pipeline),
        stall_limit,
        shutdown.clone(),
    ));

    let next = tokio::select! {
        _ = shutdown_signal() => Next::Stop,
        new = reload_request(hup, source) => Next::Reload(Box::new(new)),
    };
    match next {
        Next::Stop => {
            info!("shutting down after the message in hand");
            notify(&[sd_notify::NotifyState::Stopping]);
        }
        Next::Reload(_) => {
            info!("applying the new configuration after the message in hand");
            notify(&[sd_notify::NotifyState::Reloading]);
        }
    }
    trigger.trigger();
    for task in [inbox_task, delivery_task, control_task, watchdog_task] {
        if let Err(e) = task.await {
            error!(error = %e, "a task ended abnormally");
        }
    }
    pipeline.store.flush()?;
    if matches!(next, Next::Stop) {
        info!("stopped");
    }
    Ok(next)
}

/// Starts the configured inbox's driver.
fn spawn_inbox(
    pipeline: &Arc<Pipeline>,
    inbox: Inbox,
    shutdown: &Shutdown,
    wake_delivery: &Arc<Notify>,
) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
    Ok(match inbox {
        Inbox::Maildir { poll_interval, .. } => {
            let maildir = pipeline
                .open_maildir()?
                .ok_or_else(|| DaemonError::Worker("maildir inbox not configured".into()))?;
            info!(inbox = %maildir.root().display(), "watching Maildir");
            tokio::spawn(maildir::watch(
                Arc::clone(pipeline),
                maildir,
                poll_interval,
                shutdown.clone(),
                Arc::clone(wake_delivery),
            ))
        }
        Inbox::Imap(settings) => {
            let inbox = ImapInbox::new(settings)?;
            info!(host = %inbox.settings().host, folder = %inbox.settings().folder, "watching IMAP folder");
            tokio::spawn(imap::run(
                Arc::clone(pipeline),
                inbox,
                shutdown.clone(),
                Arc::clone(wake_delivery),
            ))
        }
    })
}

/// How long the inbox loop may go without a sign of life: `inbox.stall_limit`, but
/// never less than a few polls (a pass beats per message, a wait every poll), and for
/// IMAP on top of the IDLE wait (it returns at least every `IDLE_REFRESH`).
pub(crate) fn inbox_stall_limit(settings: &Settings) -> Duration {
    match &settings.inbox {
        Inbox::Maildir { poll_interval, .. } => (*poll_interval * 4).max(settings.stall_limit),
        Inbox::Imap(_) => crate::source::imap::IDLE_REFRESH + settings.stall_limit,
    }
}

/// Feeds systemd's watchdog (when `WatchdogSec=` is set) at half its interval, but
/// only while the inbox side makes progress and no message or job has been in hand
/// longer than `inbox.stall_limit`: a hung IMAP command, a stuck pass or a message
/// that hangs its thread stops the pings, and systemd restarts the service. What
/// hangs is named in the log and recorded in the store (a second stall sets it
/// aside). Also keeps `STATUS=` current.
async fn watchdog(pipeline: Arc<Pipeline>, stall_limit: Duration, mut shutdown: Shutdown) {
    let interval = watchdog_interval().map(|d| d / 2);
    let item_limit = pipeline.settings.stall_limit;
    if let Some(i) = interval {
        info!(
            ping_every_ms = i.as_millis() as u64,
            stall_limit_s = stall_limit.as_secs(),
            "systemd watchdog enabled"
        );
    }
    // Often enough to name a stall soon after the limit, whether or not systemd asks.
    let tick = interval
        .unwrap_or(Duration::from_secs(30))
        .min(item_limit / 4)
        .max(Duration::from_millis(100));
    let mut warned = false;
    let mut named = std::collections::BTreeSet::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.wait() => return,
        }
        let mut overdue = pipeline.progress.handling.longer_than(item_limit);
        let mut since = pipeline.progress.since_last().unwrap_or(Duration::MAX);
        // Writes wait while a backup copies the store (see Store::export): that wait
        // is not a stall, or a long backup would get the daemon killed and the
        // messages in hand blamed for it. Time is counted from the backup's end.
        let (backup_running, backup_ended) = pipeline.store.backup_times();
        let now = chrono::Utc::now();
        if backup_running.is_some() {
            overdue.clear();
            since = Duration::ZERO;
        } else if let Some(end) = backup_ended {
            let after = |t: chrono::DateTime<chrono::Utc>| (now - t.max(end)).to_std().ok();
            overdue.retain(|o| after(o.since).is_some_and(|d| d >= item_limit));
            since = since.min(after(end).unwrap_or(Duration::ZERO));
        }
        name_stalls(&pipeline, &overdue, &mut named, item_limit);
        let healthy = since <= stall_limit && overdue.is_empty();
        let stalled: Vec<String> = overdue
            .iter()
            .map(|o| format!("{} {} in hand for {}s", o.kind.name(), o.name, o.seconds))
            .collect();
        let status = format!(
            "{}; {} messages handled since start; last inbox activity {}s ago",
            if let Some(t) = backup_running {
                format!(
                    "backup in progress since {}: intake and delivery wait for it",
                    t.format("%H:%M:%S UTC")
                )
            } else if healthy {
                "watching the inbox".to_string()
            } else if stalled.is_empty() {
                "INBOX STALLED".to_string()
            } else {
                format!("STALLED: {}", stalled.join(", "))
            },
            pipeline.progress.handled(),
            since.as_secs()
        );
        if healthy {
            warned = false;
            if interval.is_some() {
                notify(&[
                    sd_notify::NotifyState::Watchdog,
                    sd_notify::NotifyState::Status(&status),
                ]);
            } else {
                notify(&[sd_notify::NotifyState::Status(&status)]);
            }
        } else {
            if !warned {
                error!(
                    stalled_s = since.as_secs(),
                    in_hand = %stalled.join(", "),
                    "the daemon is stalled: withholding the watchdog ping"
                );
                warned = true;
            }
            notify(&[sd_notify::NotifyState::Status(&status)]);
        }
    }
}

/// Says in the log which message or job has been in hand past the stall limit, once
/// each, and records it in the store (flushed: systemd may kill the process for it at
/// any moment), so that the next start knows what stopped the daemon.
fn name_stalls(
    pipeline: &Arc<Pipeline>,
    overdue: &[crate::store::Overdue],
    named: &mut std::collections::BTreeSet<(crate::store::HeldKind, String)>,
    limit: Duration,
) {
    named.retain(|(kind, name)| overdue.iter().any(|o| o.kind == *kind && &o.name == name));
    for o in overdue {
        if !named.insert((o.kind, o.name.clone())) {
            continue;
        }
        error!(
            kind = o.kind.name(),
            name = %o.name,
            in_hand_s = o.seconds,
            stall_limit_s = limit.as_secs(),
            since = %o.since.to_rfc3339(),
            "a {} has been in hand longer than the stall limit: the daemon is stalled on it",
            o.kind.name()
        );
        // Not waited for: a store that hangs must not stop the watchdog's reports.
        let (p, kind, name) = (Arc::clone(pipeline), o.kind, o.name.clone());
        tokio::task::spawn_blocking(move || {
            match p.store.mark_stalled(kind, std::slice::from_ref(&name)) {
                Ok(()) => info!(
                    kind = kind.name(),
                    name = %name,
                    "stall recorded in the store: if the daemon is restarted for it, it counts as a stop"
                ),
                Err(e) => error!(error = %e, "cannot record the stall in the store"),
            }
        });
    }
}

/// The watchdog interval systemd asks for: `WATCHDOG_USEC`, for this process when
/// `WATCHDOG_PID` names one (as libsystemd reads them).
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    match std::env::var("WATCHDOG_PID") {
        Ok(pid) if pid.trim().parse::<u32>().ok() != Some(std::process::id()) => None,
        _ => (usec > 0).then(|| Duration::from_micros(usec)),
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
