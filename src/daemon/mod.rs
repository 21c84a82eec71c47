//! The long-running service: start-up, the inbox loop, readiness and shutdown.
//!
//! Work happens in passes on a blocking thread (OpenPGP and sled are synchronous);
//! the async side only waits for the next tick or for a shutdown signal. Shutdown is
//! honoured between messages, never in the middle of one, and the store is flushed
//! before exit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{error, info, warn};

use crate::config::{Inbox, Settings};
use crate::pipeline::{Generated, Pipeline, PipelineError};

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

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn serve(settings: Settings) -> Result<(), PipelineError> {
    let Inbox::Maildir { poll_interval, .. } = &settings.inbox;
    let poll_interval = *poll_interval;
    let (pipeline, generated) = Pipeline::start(settings)?;
    if let Some(g) = &generated {
        announce_generated(g);
    }
    let pipeline = Arc::new(pipeline);
    let stop = Arc::new(AtomicBool::new(false));
    info!(
        inbox = %pipeline.maildir.root().display(),
        keys = pipeline.keyring.gateway_keys().len(),
        "disclosured started"
    );
    notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status("watching the inbox"),
    ]);

    let mut shutdown = Box::pin(shutdown_signal());
    loop {
        let p = Arc::clone(&pipeline);
        let s = Arc::clone(&stop);
        let mut pass = tokio::task::spawn_blocking(move || p.run_pass(&s));
        let result = tokio::select! {
            r = &mut pass => r,
            _ = &mut shutdown => {
                info!("shutting down after the message in hand");
                stop.store(true, Ordering::Relaxed);
                notify(&[sd_notify::NotifyState::Stopping]);
                let r = pass.await;
                log_pass(r);
                break;
            }
        };
        log_pass(result);
        tokio::select! {
            _ = tokio::time::sleep(poll_interval) => {}
            _ = &mut shutdown => {
                info!("shutting down");
                notify(&[sd_notify::NotifyState::Stopping]);
                break;
            }
        }
    }
    pipeline.store.flush()?;
    info!("stopped");
    Ok(())
}

fn log_pass(result: Result<Result<crate::pipeline::Pass, PipelineError>, tokio::task::JoinError>) {
    match result {
        Ok(Ok(pass)) => {
            if pass.deferred > 0 {
                warn!(
                    deferred = pass.deferred,
                    "some messages wait for a later pass"
                );
            }
        }
        Ok(Err(e)) => error!(error = %e, "inbox pass failed; retrying at the next tick"),
        Err(e) => error!(error = %e, "inbox pass aborted; retrying at the next tick"),
    }
}

fn notify(states: &[sd_notify::NotifyState<'_>]) {
    // Outside systemd there is no socket and this does nothing.
    let _ = sd_notify::notify(false, states);
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
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
}
