//! `status`: counts by state and severity, overdue deadlines, the outgoing queue,
//! quarantine, and the running daemon's last look at the inbox.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Out;
use crate::extract::Severity;
use crate::pipeline::Pipeline;
use crate::policy::DeadlineState;
use crate::store::{IntakeKind, JobState};

#[derive(Serialize)]
struct Status {
    reports: usize,
    by_state: BTreeMap<&'static str, usize>,
    by_severity: BTreeMap<&'static str, usize>,
    /// Deadlines passed unmet, oldest first.
    overdue: Vec<Overdue>,
    outbox: OutboxDepth,
    quarantined: usize,
    skipped: usize,
    /// Maintainers' mail that was taken (it acted on a report).
    taken: usize,
    inbox: InboxActivity,
    /// Messages and jobs the running daemon has had in hand longer than
    /// `inbox.stall_limit`, longest first: what it is stalled on.
    stalled: Vec<crate::store::Overdue>,
    stall_limit_s: u64,
    /// The retention periods, and the reports they purge next.
    retention: Retention,
    /// Messages and jobs that stopped the daemon once (in hand past the stall limit
    /// when it was restarted, or when it crashed): tried again alone; a second stop
    /// sets them aside.
    stopped_once: Vec<StoppedOnce>,
}

/// What the retention periods (`[retention]`) keep and purge next.
#[derive(Serialize, serde::Deserialize)]
pub(super) struct Retention {
    /// Each final state with a period, and the period in days.
    periods: BTreeMap<String, i64>,
    /// Reports purged so far (by `reports purge` or retention).
    purged: usize,
    /// The next reports to purge, soonest first (at most five).
    next: Vec<NextPurge>,
}

#[derive(Serialize, serde::Deserialize)]
struct NextPurge {
    id: String,
    status: String,
    since: DateTime<Utc>,
    at: DateTime<Utc>,
}

impl Retention {
    pub(super) fn of(
        store: &crate::store::Store,
        periods: &[(crate::store::Status, std::time::Duration)],
    ) -> Result<Retention, crate::store::StoreError> {
        let periods: Vec<_> = periods
            .iter()
            .map(|(s, d)| (*s, crate::policy::chrono_duration(*d)))
            .collect();
        Ok(Retention {
            periods: periods
                .iter()
                .map(|(s, d)| (s.as_str().to_string(), d.num_days()))
                .collect(),
            purged: store.purged_count()?,
            next: store
                .retention_schedule(&periods)?
                .into_iter()
                .take(5)
                .map(|d| NextPurge {
                    id: d.id.to_string(),
                    status: d.status.as_str().to_string(),
                    since: d.since,
                    at: d.at,
                })
                .collect(),
        })
    }

    /// One line: the periods, what was purged, what goes next.
    pub(super) fn summary(&self) -> String {
        let periods = if self.periods.is_empty() {
            "off (no [retention] period: reports are kept for ever)".to_string()
        } else {
            self.periods
                .iter()
                .map(|(s, d)| format!("{s} {d} days"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let next = match self.next.first() {
            Some(n) => format!(
                "; next: {} ({} since {}) on {}",
                n.id,
                n.status,
                n.since.format("%Y-%m-%d"),
                n.at.format("%Y-%m-%d %H:%M UTC")
            ),
            None => String::new(),
        };
        format!("{periods}; {} purged{next}", self.purged)
    }
}

#[derive(Serialize)]
struct StoppedOnce {
    kind: &'static str,
    name: String,
    at: Option<DateTime<Utc>>,
    /// How the daemon died, when `note-stop` recorded a crash; none for a stall.
    how: Option<String>,
}

#[derive(Serialize)]
struct Overdue {
    id: String,
    deadline: &'static str,
    due: DateTime<Utc>,
}

#[derive(Serialize)]
struct OutboxDepth {
    pending: usize,
    failed: usize,
}

#[derive(Serialize)]
struct InboxActivity {
    /// Whether this answer comes from the running daemon.
    daemon: bool,
    /// When the daemon last finished looking at the inbox.
    last_pass: Option<DateTime<Utc>>,
    /// The newest message stored (report or intake record), from the store.
    last_message: Option<DateTime<Utc>>,
}

/// `status`: what the gateway holds and whether its inbox loop is alive.
pub(super) fn status(p: &Pipeline, json: bool, out: &mut Out) -> anyhow::Result<u8> {
    let s = collect(p)?;
    if json {
        writeln!(out.stdout, "{}", serde_json::to_string_pretty(&s)?)?;
    } else {
        print(&s, &mut out.stdout)?;
    }
    Ok(0)
}

/// The counts, from the report heads, the open jobs and the intake records.
fn collect(p: &Pipeline) -> anyhow::Result<Status> {
    let now = Utc::now();
    let retention = Retention::of(&p.store, &p.settings.retention)?;
    let mut s = Status {
        retention,
        reports: 0,
        by_state: BTreeMap::new(),
        by_severity: BTreeMap::new(),
        overdue: Vec::new(),
        outbox: OutboxDepth {
            pending: 0,
            failed: 0,
        },
        quarantined: 0,
        skipped: 0,
        taken: 0,
        inbox: InboxActivity {
            daemon: p.progress.serving(),
            last_pass: p.progress.last_pass(),
            last_message: None,
        },
        stalled: p.progress.handling.longer_than(p.settings.stall_limit),
        stall_limit_s: p.settings.stall_limit.as_secs(),
        stopped_once: p
            .store
            .held_all()?
            .into_iter()
            .filter(|h| !h.stops.is_empty())
            .map(|h| StoppedOnce {
                kind: h.kind.name(),
                at: h.stops.last().map(|s| s.at),
                how: h.stops.last().and_then(|s| s.how.clone()),
                name: h.name,
            })
            .collect(),
    };
    // One head at a time: a large store is never held whole.
    p.store.each_report_head(|r| {
        s.reports += 1;
        *s.by_state.entry(r.status.as_str()).or_default() += 1;
        *s.by_severity
            .entry(r.severity().map_or("unrated", Severity::as_str))
            .or_default() += 1;
        for (name, d) in r.deadline_status(now) {
            if d.state == DeadlineState::Overdue {
                s.overdue.push(Overdue {
                    id: r.id.as_str().to_string(),
                    deadline: name.as_str(),
                    due: d.at,
                });
            }
        }
        s.inbox.last_message = s.inbox.last_message.max(Some(r.data.received_at));
        Ok(())
    })?;
    s.overdue
        .sort_by(|a, b| a.due.cmp(&b.due).then(a.id.cmp(&b.id)));
    for job in p.store.open_jobs()? {
        match job.state {
            JobState::Pending => s.outbox.pending += 1,
            JobState::Failed => s.outbox.failed += 1,
            JobState::Sent => {}
        }
    }
    for rec in p.store.intake_records()? {
        match rec.kind {
            IntakeKind::Quarantined => s.quarantined += 1,
            // Maintainer mail that acted on a report is not a skipped message.
            IntakeKind::Skipped if crate::pipeline::is_taken_reason(&rec.reason) => s.taken += 1,
            IntakeKind::Skipped => s.skipped += 1,
        }
        s.inbox.last_message = s.inbox.last_message.max(Some(rec.at));
    }
    Ok(s)
}

fn print(s: &Status, o: &mut String) -> std::fmt::Result {
    let list = |m: &BTreeMap<&str, usize>| {
        if m.is_empty() {
            "-".to_string()
        } else {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    writeln!(o, "Reports:      {}", s.reports)?;
    writeln!(o, "  by state:    {}", list(&s.by_state))?;
    writeln!(o, "  by severity: {}", list(&s.by_severity))?;
    writeln!(o, "Overdue:      {}", s.overdue.len())?;
    for d in &s.overdue {
        writeln!(
            o,
            "  {:<16} {:<19} due {}",
            d.id,
            d.deadline,
            d.due.format("%Y-%m-%d %H:%M UTC")
        )?;
    }
    writeln!(
        o,
        "Outbox:       {} pending, {} failed",
        s.outbox.pending, s.outbox.failed
    )?;
    writeln!(
        o,
        "Quarantine:   {} quarantined, {} skipped; {} maintainer mails taken",
        s.quarantined, s.skipped, s.taken
    )?;
    let when = |t: Option<DateTime<Utc>>| {
        t.map_or("never".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        })
    };
    if s.inbox.daemon {
        writeln!(o, "Inbox:        last pass {}", when(s.inbox.last_pass))?;
    } else {
        writeln!(o, "Inbox:        no daemon running")?;
    }
    writeln!(o, "  last message stored: {}", when(s.inbox.last_message))?;
    writeln!(o, "Retention:    {}", s.retention.summary())?;
    for n in s.retention.next.iter().skip(1) {
        writeln!(
            o,
            "  then {} ({} since {}) on {}",
            n.id,
            n.status,
            n.since.format("%Y-%m-%d"),
            n.at.format("%Y-%m-%d %H:%M UTC")
        )?;
    }
    for h in &s.stalled {
        writeln!(
            o,
            "STALLED:      {} {} in hand for {} s (since {}; stall limit {} s): look at journalctl -u disclosured",
            h.kind.name(),
            h.name,
            h.seconds,
            h.since.format("%Y-%m-%d %H:%M:%S UTC"),
            s.stall_limit_s
        )?;
    }
    for h in &s.stopped_once {
        writeln!(
            o,
            "Stopped once: {} {} was in hand {} ({}); tried again alone, a second stop sets it aside",
            h.kind,
            h.name,
            match &h.how {
                Some(how) => format!("when the daemon crashed: {how}"),
                None => "past the stall limit when the daemon stopped".to_string(),
            },
            when(h.at)
        )?;
    }
    Ok(())
}
