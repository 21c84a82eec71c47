//! Time-driven work: escalations of missed deadlines and the maintainers' digest.
//! `now` is always passed in, so tests run on a fixed clock.

use chrono::Utc;
use tracing::{info, warn};

use super::{Pipeline, PipelineError};
use crate::outbox;
use crate::policy;
use crate::store::{Event, JobKind, StoreError};

/// What the first digest calls new: reports received in the week before it.
pub(crate) const FIRST_DIGEST_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// What one round of time-driven work did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scheduled {
    pub escalated: usize,
    pub digest: bool,
    /// Reports purged because their retention period passed.
    pub purged: usize,
}

/// How often the retention periods are looked at: a look reads every closed report.
const RETENTION_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(1);

impl Pipeline {
    /// Time-driven work: one escalation per missed deadline, and the digest when its
    /// scheduled time has come. `now` is passed in so tests run on a fixed clock.
    pub fn scheduled(&self, now: chrono::DateTime<Utc>) -> Result<Scheduled, PipelineError> {
        let escalated = self.escalate(now)?;
        self.remind(now)?;
        self.prune_signatures(now);
        self.keep_published(now, false);
        let purged = self.retain(now)?;
        let digest = match self.store.last_digest()? {
            // The first digest is the first scheduled time after the gateway started.
            None => {
                self.store.commit_digest(now, Vec::new())?;
                false
            }
            Some(last) => {
                let d = &self.settings.digest;
                match policy::next_digest(d.schedule, d.timezone, last) {
                    Some(due) if due <= now => self.send_digest(now, false)?.is_some(),
                    _ => false,
                }
            }
        };
        Ok(Scheduled {
            escalated,
            digest,
            purged,
        })
    }

    /// The retention periods as the store takes them.
    pub(crate) fn retention_periods(&self) -> Vec<(crate::store::Status, chrono::TimeDelta)> {
        self.settings
            .retention
            .iter()
            .map(|(s, d)| (*s, policy::chrono_duration(*d)))
            .collect()
    }

    /// Purges the reports whose retention period (`[retention]`) has passed, at
    /// most once an hour; the reason goes in each tombstone and the log.
    pub fn retain(&self, now: chrono::DateTime<Utc>) -> Result<usize, PipelineError> {
        let periods = self.retention_periods();
        if periods.is_empty() {
            return Ok(0);
        }
        // Once an hour in this process, and at its first round (a `run-once`, a
        // restarted daemon).
        let last = self
            .progress
            .retention_checked
            .load(std::sync::atomic::Ordering::Relaxed);
        if last != 0
            && now.timestamp() >= last
            && now.timestamp() < last + RETENTION_EVERY.num_seconds()
        {
            return Ok(0);
        }
        let mut purged = 0;
        for due in self.store.retention_schedule(&periods)? {
            if due.at > now {
                break;
            }
            let reason = format!(
                "retention: {} since {}, past retention.{} ({} days)",
                due.status.as_str(),
                due.since.format("%Y-%m-%d"),
                due.status.as_str(),
                (due.at - due.since).num_days()
            );
            self.store.purge_report(&due.id, "system", &reason, now)?;
            info!(report = %due.id, reason = %reason, "purged by the retention policy");
            purged += 1;
        }
        self.progress
            .retention_checked
            .store(now.timestamp(), std::sync::atomic::Ordering::Relaxed);
        Ok(purged)
    }

    /// Forgets used maintainer signatures that their age refuses anyway (taken longer
    /// ago than `maintainers_mail.max_age`, with a day's margin for clocks). A failure
    /// is logged: the next round tries again.
    fn prune_signatures(&self, now: chrono::DateTime<Utc>) {
        let max_age = policy::chrono_duration(self.settings.maintainers_mail.max_age);
        let before = now - max_age - chrono::TimeDelta::days(1);
        match self.store.prune_signatures(before) {
            Ok(0) => {}
            Ok(n) => info!(pruned = n, "forgot used maintainer signatures past max_age"),
            Err(e) => warn!(error = %e, "could not prune used maintainer signatures"),
        }
    }

    /// Marks every deadline that passed unmet as escalated and queues one mail per
    /// maintainer about it. A deadline is escalated once, whatever the number of
    /// checks; a moved fix deadline is a new one.
    pub fn escalate(&self, now: chrono::DateTime<Utc>) -> Result<usize, PipelineError> {
        let mut count = 0;
        for (id, name) in self.store.due_deadlines(now)? {
            let jobs = if self.settings.notify.escalations {
                self.to_maintainers(JobKind::Escalation { deadline: name }, now)
            } else {
                Vec::new()
            };
            let before = self.store.report(&id)?;
            // The researcher hears that a deadline promised to them passed.
            let answer = self.answer_key_before(&id)?;
            let late_id = outbox::new_message_id(&self.settings, "status");
            let after = self.store.modify_report(&id, |r| {
                let due = r
                    .open_deadlines()
                    .into_iter()
                    .any(|(n, at)| n == name && at <= now);
                if !due {
                    return Ok(Vec::new());
                }
                r.escalated.push(name);
                r.events.push(Event::new(
                    now,
                    "system",
                    "escalated",
                    Some(format!(
                        "{} deadline missed; {} maintainer(s) told",
                        name.as_str(),
                        jobs.len()
                    )),
                ));
                let mut jobs = jobs.clone();
                jobs.extend(self.late_notice(r, name, &answer, &late_id, now));
                Ok(jobs)
            });
            match after {
                Ok(r) if before.is_some_and(|b| b.escalated.len() < r.escalated.len()) => {
                    warn!(report = %id, deadline = name.as_str(), "deadline missed: escalated");
                    count += 1;
                }
                Ok(_) => {}
                Err(StoreError::NoSuchReport(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if count > 0 {
            self.store.flush()?;
        }
        Ok(count)
    }

    /// The digest as it would be sent now. "New" means since the last digest; before
    /// the first one, the last [`FIRST_DIGEST_WINDOW`] (a store that has run for years
    /// without digests would otherwise list every report it ever received).
    pub fn digest(
        &self,
        now: chrono::DateTime<Utc>,
    ) -> Result<outbox::digest::Digest, PipelineError> {
        let since = self
            .store
            .last_digest()?
            .unwrap_or(now - FIRST_DIGEST_WINDOW);
        let mut digest = outbox::digest::Digest::start(Some(since), now);
        self.store.each_report_head(|r| {
            digest.add(&r);
            Ok(())
        })?;
        let mut digest = digest.finish();
        // The weekly digest carries the response figures (they need the events,
        // which heads leave out).
        if matches!(
            self.settings.digest.schedule,
            crate::config::Schedule::Weekly(..)
        ) {
            let mut stats = outbox::stats::StatsBuilder::new(&self.settings.policy, None, now);
            self.store.each_report(|r| {
                stats.add(&r);
                Ok(())
            })?;
            digest.figures = Some(stats.finish().text());
        }
        Ok(digest)
    }

    /// Queues the digest to every maintainer, unless it has nothing to say and the
    /// configuration says to skip it then (`force` sends it all the same). Returns the
    /// digest when it was queued.
    pub fn send_digest(
        &self,
        now: chrono::DateTime<Utc>,
        force: bool,
    ) -> Result<Option<outbox::digest::Digest>, PipelineError> {
        let digest = self.digest(now)?;
        if digest.is_empty() && !self.settings.digest.send_when_empty && !force {
            // Nothing to say: the next digest still covers from the last one sent.
            info!("digest skipped: nothing to report");
            let d = &self.settings.digest;
            // Move the schedule on so this is not retried every tick.
            let last = self.store.last_digest()?.unwrap_or(now);
            if policy::next_digest(d.schedule, d.timezone, last).is_some_and(|due| due <= now) {
                self.store.commit_digest(now, Vec::new())?;
            }
            return Ok(None);
        }
        let kind = JobKind::Digest {
            text: digest.text(),
            subject: digest.subject(),
        };
        let jobs = self.to_maintainers(kind, now);
        info!(
            maintainers = jobs.len(),
            overdue = digest.overdue.len(),
            new = digest.new.len(),
            "digest queued"
        );
        self.store.commit_digest(now, jobs)?;
        Ok(Some(digest))
    }
}
