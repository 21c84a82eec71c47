//! `run-once`: one pass over the inbox and the deliveries it queued, then exit (for
//! cron, and for tests). The same drivers as `serve`, run once.

use std::sync::Arc;

use super::driver::Pass;
use super::shutdown::Shutdown;
use super::{DaemonError, maildir};
use crate::config::Inbox;
use crate::outbox::Delivered;
use crate::pipeline::{Pipeline, PipelineError};

/// Takes in everything waiting and delivers beside it, as `serve` does: a round
/// each time a batch of outcomes is durable, and a last one once the inbox is done.
/// Delivery fills the cores while intake waits for its syncs, and intake fills them
/// while delivery waits. Then the time-driven work, and a last flush.
pub(crate) fn run(pipeline: Arc<Pipeline>) -> Result<(), DaemonError> {
    let started = std::time::Instant::now();
    let (wake, woken) = std::sync::mpsc::channel::<()>();
    let (pass, intake_ms, delivered) = std::thread::scope(|scope| -> Result<_, DaemonError> {
        let pipeline = &pipeline;
        let deliverer = scope.spawn(move || -> Result<Delivered, PipelineError> {
            let mut total = Delivered::default();
            loop {
                let more = woken.recv().is_ok();
                while woken.try_recv().is_ok() {}
                let round = pipeline.deliver()?;
                total.sent += round.sent;
                total.deferred += round.deferred;
                total.failed += round.failed;
                if !more {
                    return Ok(total);
                }
            }
        });
        let pass = intake(pipeline, &|| {
            let _ = wake.send(());
        });
        let intake_ms = started.elapsed().as_millis();
        let scheduled = pass.is_ok().then(|| pipeline.scheduled(chrono::Utc::now()));
        // The last round: everything committed and scheduled so far.
        drop(wake);
        let delivered = match deliverer.join() {
            Ok(result) => result?,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let pass = pass?;
        if let Some(scheduled) = scheduled {
            let scheduled = scheduled?;
            if scheduled.escalated > 0 {
                tracing::info!(escalated = scheduled.escalated, "deadlines escalated");
            }
        }
        Ok((pass, intake_ms, delivered))
    })?;
    let deliver_ms = started.elapsed().as_millis() - intake_ms;
    log_pass(&pass, &delivered);
    tracing::info!(intake_ms, deliver_ms, "pass timing");
    pipeline.store.flush()?;
    Ok(())
}

/// One pass over the configured inbox; `committed` wakes delivery.
fn intake(pipeline: &Arc<Pipeline>, committed: &(dyn Fn() + Sync)) -> Result<Pass, DaemonError> {
    match &pipeline.settings.inbox {
        Inbox::Maildir { .. } => {
            let inbox = pipeline
                .open_maildir()?
                .ok_or_else(|| DaemonError::Worker("maildir inbox not configured".into()))?;
            Ok(maildir::pass(
                pipeline,
                &inbox,
                &Shutdown::never(),
                committed,
            )?)
        }
        Inbox::Imap(imap) => {
            let inbox = crate::source::imap::ImapInbox::new(imap.clone())?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| DaemonError::Worker(format!("cannot start the async runtime: {e}")))?;
            let pass = runtime.block_on(super::imap::pass_once(Arc::clone(pipeline), &inbox))?;
            committed();
            Ok(pass)
        }
    }
}

fn log_pass(pass: &Pass, delivered: &Delivered) {
    tracing::info!(
        reports = pass.reports,
        duplicates = pass.duplicates,
        skipped = pass.skipped,
        quarantined = pass.quarantined,
        deferred = pass.deferred,
        sent = delivered.sent,
        send_deferred = delivered.deferred,
        send_failed = delivered.failed,
        peak_rss_kib = peak_rss_kib(),
        cpu_ms = cpu_ms(),
        "pass complete"
    );
}

/// CPU time used by the whole process so far (user + system, all threads), from
/// /proc/self/stat, whose clock ticks are USER_HZ: 100 on Linux.
fn cpu_ms() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // The command name may contain spaces; fields are counted after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the name.
    (ticks(11) + ticks(12)) * 10
}

/// The process's peak resident memory (VmHWM), for the record of a pass.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
