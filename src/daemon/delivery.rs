//! The outgoing side of the daemon: sends queued mail as soon as it is queued,
//! retries when it comes due, and runs the time-driven work (escalations, digest).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tracing::error;

use super::blocking;
use super::shutdown::Shutdown;
use crate::pipeline::Pipeline;

/// How often the delivery loop looks for retries that came due.
pub(crate) const DELIVERY_TICK: Duration = Duration::from_secs(1);
/// How often deadlines and the digest schedule are checked by default
/// (`notify.check_interval`).
#[cfg(test)]
const SCHEDULE_TICK: Duration = Duration::from_secs(30);

/// Delivers until shutdown: a round when woken (a batch was committed), else every
/// [`DELIVERY_TICK`]; the time-driven work every `notify.check_interval`. The first round
/// and the first check run at once: mail queued before a crash or a restart must not
/// wait for a tick (a daemon restarted more often than the tick would never send
/// it), and deadlines that passed while the daemon was down are escalated at start.
pub(crate) async fn run(pipeline: Arc<Pipeline>, shutdown: Shutdown, wake: Arc<Notify>) {
    let every = pipeline.settings.notify.check_interval;
    let p = Arc::clone(&pipeline);
    let round = move || {
        let p = Arc::clone(&p);
        async move {
            let q = Arc::clone(&p);
            if let Err(e) = blocking(move || q.deliver()).await {
                error!(error = %e, "delivery round failed; retrying");
            }
        }
    };
    let scheduled = move || {
        let p = Arc::clone(&pipeline);
        async move {
            if let Err(e) = blocking(move || p.scheduled(chrono::Utc::now())).await {
                error!(error = %e, "deadline and digest check failed; retrying");
            }
        }
    };
    ticks(shutdown, wake, every, round, scheduled).await;
}

/// The loop's timing, apart from what it does: `schedule` at once and every
/// `every`, `round` after it and then each time `wake` fires or
/// [`DELIVERY_TICK`] passes, until shutdown.
async fn ticks<R, RF, S, SF>(
    mut shutdown: Shutdown,
    wake: Arc<Notify>,
    every: Duration,
    round: R,
    schedule: S,
) where
    R: Fn() -> RF,
    RF: std::future::Future<Output = ()>,
    S: Fn() -> SF,
    SF: std::future::Future<Output = ()>,
{
    let mut next_schedule = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_schedule {
            next_schedule += every;
            schedule().await;
        }
        round().await;
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(DELIVERY_TICK) => {}
            _ = shutdown.wait() => return,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// On a paused clock: a round at once, then one per tick or wake; the schedule
    /// at once and every 30 s; nothing after shutdown.
    #[tokio::test(start_paused = true)]
    async fn rounds_follow_the_ticks_and_wakes_and_stop_with_shutdown() {
        let (trigger, shutdown) = Shutdown::new();
        let wake = Arc::new(Notify::new());
        let rounds = Arc::new(AtomicUsize::new(0));
        let schedules = Arc::new(AtomicUsize::new(0));
        let (r, s) = (Arc::clone(&rounds), Arc::clone(&schedules));
        let task = tokio::spawn(ticks(
            shutdown,
            Arc::clone(&wake),
            SCHEDULE_TICK,
            move || {
                r.fetch_add(1, Ordering::SeqCst);
                async {}
            },
            move || {
                s.fetch_add(1, Ordering::SeqCst);
                async {}
            },
        ));
        tokio::task::yield_now().await;
        assert_eq!(rounds.load(Ordering::SeqCst), 1, "a round at once");
        assert_eq!(schedules.load(Ordering::SeqCst), 1, "the schedule at once");
        // Ten ticks: ten more rounds, no new schedule yet.
        tokio::time::sleep(DELIVERY_TICK * 10 + Duration::from_millis(1)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 11);
        assert_eq!(schedules.load(Ordering::SeqCst), 1);
        // A wake runs a round before the tick.
        wake.notify_one();
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        assert_eq!(rounds.load(Ordering::SeqCst), 12);
        // Past 30 s: the schedule again.
        tokio::time::sleep(SCHEDULE_TICK).await;
        assert_eq!(schedules.load(Ordering::SeqCst), 2);
        trigger.trigger();
        task.await.unwrap();
        let after = rounds.load(Ordering::SeqCst);
        tokio::time::sleep(DELIVERY_TICK * 5).await;
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            after,
            "nothing after shutdown"
        );
    }
}
