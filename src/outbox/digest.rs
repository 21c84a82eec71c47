//! The maintainers' digest: overdue items first, deadlines due in the next 48 hours,
//! reports waiting for acknowledgement or assessment, new reports since the last
//! digest, and counts by state and severity. Built from the reports and a time passed
//! in, so `digest --dry-run` prints exactly what would be sent.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::compose::sanitize_header_text;
use crate::extract::Severity;
use crate::policy::{DeadlineName, DeadlineState};
use crate::store::{Report, Status};

/// How far ahead "due soon" looks.
pub(crate) const DUE_SOON: Duration = Duration::hours(48);

/// One report's line in a section of the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: String,
    pub title: String,
    pub status: Status,
    pub severity: Option<Severity>,
    /// The deadline concerned, for the overdue and due-soon sections.
    pub deadline: Option<(DeadlineName, DateTime<Utc>)>,
}

/// The digest's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digest {
    pub since: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    pub overdue: Vec<Item>,
    pub due_soon: Vec<Item>,
    pub awaiting_ack: Vec<Item>,
    pub awaiting_assessment: Vec<Item>,
    pub new: Vec<Item>,
    pub by_state: BTreeMap<&'static str, usize>,
    pub by_severity: BTreeMap<&'static str, usize>,
    /// The response figures (`reports stats`), in the weekly digest.
    pub figures: Option<String>,
    /// Embargoes in force that end within [`DUE_SOON`]: report ID and end as shown.
    pub embargo_ending: Vec<(String, String)>,
}

impl Digest {
    /// Builds the digest at `now`, with "new" meaning received after `since`.
    pub fn build<'a>(
        reports: impl IntoIterator<Item = &'a Report>,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Digest {
        let mut d = Digest::start(since, now);
        for r in reports {
            d.add(r);
        }
        d.finish()
    }

    /// An empty digest at `now`, to [`Digest::add`] reports to one at a time (a store's
    /// heads are read a chunk at a time, never all at once), then [`Digest::finish`].
    pub fn start(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Digest {
        Digest {
            since,
            at: now,
            ..Digest::default()
        }
    }

    /// Counts one report and lists it where it belongs.
    pub fn add(&mut self, r: &Report) {
        let (since, now) = (self.since, self.at);
        *self.by_state.entry(r.status.as_str()).or_default() += 1;
        *self
            .by_severity
            .entry(r.severity().map_or("unrated", Severity::as_str))
            .or_default() += 1;
        let item = |deadline| Item {
            id: r.id.to_string(),
            title: r
                .data
                .fields
                .title
                .as_deref()
                .map(|t| sanitize_header_text(t, 70))
                .unwrap_or_else(|| "(no title)".into()),
            status: r.status,
            severity: r.severity(),
            deadline,
        };
        for (name, st) in r.deadline_status(now) {
            match st.state {
                DeadlineState::Overdue => self.overdue.push(item(Some((name, st.at)))),
                DeadlineState::Due if st.at <= now + DUE_SOON => {
                    self.due_soon.push(item(Some((name, st.at))))
                }
                _ => {}
            }
        }
        if let Some(e) = r.embargo.as_ref().filter(|e| e.in_force(now))
            && e.end.at <= now + DUE_SOON
        {
            self.embargo_ending
                .push((r.id.as_str().to_string(), e.end.display()));
        }
        match r.status {
            Status::New => self.awaiting_ack.push(item(None)),
            Status::Acknowledged => self.awaiting_assessment.push(item(None)),
            _ => {}
        }
        if since.is_none_or(|s| r.data.received_at > s) {
            self.new.push(item(None));
        }
    }

    /// Puts the deadline lists in time order.
    pub fn finish(mut self) -> Digest {
        let by_time = |a: &Item, b: &Item| {
            a.deadline
                .map(|x| x.1)
                .cmp(&b.deadline.map(|x| x.1))
                .then_with(|| a.id.cmp(&b.id))
        };
        self.overdue.sort_by(by_time);
        self.due_soon.sort_by(by_time);
        self
    }

    /// Whether there is anything a maintainer must look at.
    pub fn is_empty(&self) -> bool {
        self.overdue.is_empty()
            && self.due_soon.is_empty()
            && self.embargo_ending.is_empty()
            && self.awaiting_ack.is_empty()
            && self.awaiting_assessment.is_empty()
            && self.new.is_empty()
    }

    pub fn subject(&self) -> String {
        let mut parts = Vec::new();
        if !self.overdue.is_empty() {
            parts.push(format!("{} overdue", self.overdue.len()));
        }
        if !self.due_soon.is_empty() {
            parts.push(format!("{} due soon", self.due_soon.len()));
        }
        parts.push(format!("{} new", self.new.len()));
        format!(
            "Security reports digest {}: {}",
            self.at.format("%Y-%m-%d"),
            parts.join(", ")
        )
    }

    pub fn text(&self) -> String {
        let mut t = format!(
            "Security reports digest, {}{}\n",
            crate::policy::human_time(self.at),
            self.since
                .map(|s| format!(" (new since {})", crate::policy::human_time(s)))
                .unwrap_or_default()
        );
        if self.is_empty() {
            t.push_str("\nNothing needs attention.\n");
        }
        section(&mut t, "OVERDUE", &self.overdue, self.at);
        section(&mut t, "Due in the next 48 hours", &self.due_soon, self.at);
        if !self.embargo_ending.is_empty() {
            t.push_str(&format!(
                "\nEmbargoes ending in the next 48 hours ({}):\n",
                self.embargo_ending.len()
            ));
            for (id, end) in &self.embargo_ending {
                t.push_str(&format!("  {id:<14} ends {end}\n"));
            }
        }
        section(
            &mut t,
            "Waiting for acknowledgement",
            &self.awaiting_ack,
            self.at,
        );
        section(
            &mut t,
            "Waiting for initial assessment",
            &self.awaiting_assessment,
            self.at,
        );
        section(&mut t, "New reports", &self.new, self.at);
        t.push_str("\nReports by state:\n");
        if self.by_state.is_empty() {
            t.push_str("  (no reports)\n");
        }
        for (state, n) in &self.by_state {
            t.push_str(&format!("  {state:<14}{n:>6}\n"));
        }
        t.push_str("Reports by severity:\n");
        for (sev, n) in &self.by_severity {
            t.push_str(&format!("  {sev:<14}{n:>6}\n"));
        }
        if let Some(f) = &self.figures {
            t.push('\n');
            t.push_str(f);
        }
        t.push_str("\n-- \ndisclosured reports list --overdue | disclosured reports show ID\n");
        t
    }
}

fn section(t: &mut String, heading: &str, items: &[Item], now: DateTime<Utc>) {
    if items.is_empty() {
        return;
    }
    t.push_str(&format!("\n{heading} ({}):\n", items.len()));
    for i in items {
        let when = match i.deadline {
            Some((name, at)) if at < now => {
                format!(
                    "  {} was due {} ({} ago)",
                    name.as_str(),
                    crate::policy::human_time(at),
                    human(now - at)
                )
            }
            Some((name, at)) => {
                format!(
                    "  {} due {} (in {})",
                    name.as_str(),
                    crate::policy::human_time(at),
                    human(at - now)
                )
            }
            None => String::new(),
        };
        t.push_str(&format!(
            "  {:<14} {:<9} {:<12} {}{}\n",
            i.id,
            i.severity.map_or("unrated", Severity::as_str),
            i.status.as_str(),
            i.title,
            when
        ));
    }
}

fn human(d: Duration) -> String {
    let mins = d.num_minutes().max(0);
    match mins {
        m if m < 60 => format!("{m}m"),
        m if m < 48 * 60 => format!("{}h", m / 60),
        m => format!("{}d", m / (24 * 60)),
    }
}
