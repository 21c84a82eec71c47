//! A report's embargo and its rules (CERT/CC Vultron's embargo management): a
//! researcher proposes an end, a maintainer sets, accepts, revises or exits it; at
//! most one embargo per report, none longer than the policy allows, and no
//! `disclosed` before the end of an active one unless it was exited. Every step is
//! an event (`embargo_proposed`, `embargo_set`, `embargo_accepted`, `embargo_revised`,
//! `embargo_exited`); the researcher is told of each by the pipeline.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::records::{DeadlineName, Event, Report};
use crate::config::Policy;
use crate::policy::{ExitReason, ZonedInstant};

/// Where an embargo stands, as stored; an active one whose end has passed is
/// reported as ended (see [`Embargo::phase`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbargoState {
    /// A researcher proposed an end; no maintainer accepted it yet.
    Proposed,
    /// Agreed: no publication before the end.
    Active,
    /// Ended early, with a reason.
    Exited,
}

/// A report's embargo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Embargo {
    pub state: EmbargoState,
    /// The end in force, or proposed while `Proposed`.
    pub end: ZonedInstant,
    /// When it became active (set or accepted).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// A new end the researcher proposed while this one is active.
    #[serde(default)]
    pub revision: Option<ZonedInstant>,
    /// When and why it was exited.
    #[serde(default)]
    pub exited: Option<(DateTime<Utc>, ExitReason)>,
    /// The end was reached and everyone told (`embargo_ended`).
    #[serde(default)]
    pub ended_noted: bool,
}

impl Embargo {
    /// `proposed`, `active`, `ended` (an active one past its end) or `exited`.
    pub fn phase(&self, now: DateTime<Utc>) -> &'static str {
        match self.state {
            EmbargoState::Proposed => "proposed",
            EmbargoState::Active if now >= self.end.at => "ended",
            EmbargoState::Active => "active",
            EmbargoState::Exited => "exited",
        }
    }

    /// Whether it still forbids publication at `now`.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.state == EmbargoState::Active && now < self.end.at
    }

    /// One line for `reports show` and mail to maintainers.
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        let mut line = match self.state {
            EmbargoState::Proposed => {
                format!("proposed by the researcher: until {}", self.end.display())
            }
            EmbargoState::Active if now >= self.end.at => format!("ended {}", self.end.display()),
            EmbargoState::Active => format!("active until {}", self.end.display()),
            EmbargoState::Exited => match self.exited {
                Some((at, why)) => format!(
                    "exited {} ({}); it was to end {}",
                    crate::policy::human_time(at),
                    why.as_str(),
                    self.end.display()
                ),
                None => format!("exited; it was to end {}", self.end.display()),
            },
        };
        if let Some(r) = &self.revision {
            line.push_str(&format!(
                "; the researcher proposes {} instead",
                r.display()
            ));
        }
        line
    }
}

/// What a maintainer does to a report's embargo (`--embargo`, `X-EMBARGO:`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbargoChange {
    /// Sets one where none is active (over a researcher's proposal, if any).
    Set(ZonedInstant),
    /// Accepts what the researcher proposed (a first end, or a revision).
    Accept,
    /// Moves the end of the active one.
    Revise(ZonedInstant),
    /// Ends the active one early.
    Exit(ExitReason),
}

impl EmbargoChange {
    /// `--embargo`'s and `X-EMBARGO:`'s value: an instant, or `accept`.
    pub fn parse_set(value: &str) -> Result<EmbargoChange, String> {
        if value.trim().eq_ignore_ascii_case("accept") {
            return Ok(EmbargoChange::Accept);
        }
        ZonedInstant::parse(value).map(EmbargoChange::Set)
    }
}

impl Report {
    /// Applies a maintainer's embargo change, or refuses it and changes nothing.
    pub(super) fn change_embargo(
        &mut self,
        change: &EmbargoChange,
        actor: &str,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<(), String> {
        let id = self.id.clone();
        let current = self.embargo.clone();
        let over = |e: &Embargo| match e.state {
            EmbargoState::Exited => Some(e.describe(now)),
            EmbargoState::Active if !e.in_force(now) => Some(e.describe(now)),
            _ => None,
        };
        if let Some(e) = &current
            && let Some(how) = over(e)
        {
            return Err(format!(
                "the embargo of {id} is over ({how}): a report has one embargo, and an ended one is not started again"
            ));
        }
        match change {
            EmbargoChange::Set(end) => {
                if let Some(e) = current.as_ref().filter(|e| e.state == EmbargoState::Active) {
                    return Err(format!(
                        "{id} already has an active embargo, until {} (a report has one embargo at a time): move its end with --embargo-revise (X-EMBARGO-REVISE:), or end it with --embargo-exit (X-EMBARGO-EXIT:)",
                        e.end.display()
                    ));
                }
                self.check_end(end, now, policy)?;
                let note = match current.as_ref() {
                    Some(p) if p.end != *end => format!(
                        "until {} (the researcher proposed {})",
                        end.display(),
                        p.end.display()
                    ),
                    _ => format!("until {}", end.display()),
                };
                self.embargo = Some(Embargo {
                    state: EmbargoState::Active,
                    end: end.clone(),
                    since: Some(now),
                    revision: None,
                    exited: None,
                    ended_noted: false,
                });
                self.events
                    .push(Event::new(now, actor, "embargo_set", Some(note)));
            }
            EmbargoChange::Accept => {
                let Some(e) = current else {
                    return Err(format!("{id} has no embargo proposed to accept"));
                };
                let (end, note) = match (e.state, &e.revision) {
                    (EmbargoState::Proposed, _) => {
                        (e.end.clone(), format!("until {}", e.end.display()))
                    }
                    (EmbargoState::Active, Some(r)) => (
                        r.clone(),
                        format!(
                            "the researcher's new end: until {} (was {})",
                            r.display(),
                            e.end.display()
                        ),
                    ),
                    _ => {
                        return Err(format!(
                            "the researcher proposed nothing new for {id} (the embargo is active until {})",
                            e.end.display()
                        ));
                    }
                };
                self.check_end(&end, now, policy)?;
                self.embargo = Some(Embargo {
                    state: EmbargoState::Active,
                    end,
                    since: e.since.or(Some(now)),
                    revision: None,
                    exited: None,
                    ended_noted: false,
                });
                self.events
                    .push(Event::new(now, actor, "embargo_accepted", Some(note)));
            }
            EmbargoChange::Revise(end) => {
                let Some(e) = current.filter(|e| e.state == EmbargoState::Active) else {
                    return Err(format!(
                        "{id} has no active embargo to revise: set one with --embargo (X-EMBARGO:)"
                    ));
                };
                if e.end == *end {
                    return Err(format!(
                        "the embargo of {id} already ends {}",
                        end.display()
                    ));
                }
                self.check_end(end, now, policy)?;
                let note = format!("{} -> {}", e.end.display(), end.display());
                self.embargo = Some(Embargo {
                    end: end.clone(),
                    revision: None,
                    ..e
                });
                self.events
                    .push(Event::new(now, actor, "embargo_revised", Some(note)));
            }
            EmbargoChange::Exit(reason) => {
                let Some(e) = current.filter(|e| e.state == EmbargoState::Active) else {
                    return Err(format!("{id} has no active embargo to exit"));
                };
                let note = format!(
                    "{} ({}); it was to end {}",
                    reason.as_str(),
                    reason.explain(),
                    e.end.display()
                );
                self.embargo = Some(Embargo {
                    state: EmbargoState::Exited,
                    exited: Some((now, *reason)),
                    revision: None,
                    ..e
                });
                self.events
                    .push(Event::new(now, actor, "embargo_exited", Some(note)));
            }
        }
        Ok(())
    }

    /// An end a maintainer agrees to must lie ahead and within the policy's maximum.
    fn check_end(
        &self,
        end: &ZonedInstant,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<(), String> {
        if end.at <= now {
            return Err(format!("the embargo end {} has passed", end.display()));
        }
        let fixed = self.milestones.get(&DeadlineName::Fix).copied();
        if let Some(latest) = policy
            .embargo_limit
            .latest_end(self.data.received_at, fixed)
            && end.at > latest
        {
            return Err(format!(
                "the embargo end {} is beyond the policy's maximum ({}: {} for {}); choose an earlier end",
                end.display(),
                policy.embargo_limit.describe(),
                crate::policy::human_time(latest),
                self.id
            ));
        }
        Ok(())
    }

    /// A researcher's proposed end (from their report or a signed follow-up), or why
    /// the one they wrote could not be read. Recorded as an event either way; taken
    /// as the proposal when no embargo is agreed yet, as a proposed revision of an
    /// active one, and not at all once the embargo is over. The policy's maximum is
    /// checked when a maintainer accepts it, not here: the proposal is the
    /// researcher's word and is kept as they wrote it.
    pub(crate) fn propose_embargo(
        &mut self,
        proposed: Result<ZonedInstant, String>,
        actor: &str,
        now: DateTime<Utc>,
    ) {
        let end = match proposed {
            Ok(end) => end,
            Err(why) => {
                self.events.push(Event::new(
                    now,
                    actor,
                    "embargo_proposal_unreadable",
                    Some(why),
                ));
                return;
            }
        };
        let note = format!("until {}", end.display());
        match self.embargo.as_mut() {
            None => {
                self.embargo = Some(Embargo {
                    state: EmbargoState::Proposed,
                    end,
                    since: None,
                    revision: None,
                    exited: None,
                    ended_noted: false,
                });
            }
            Some(e) if e.state == EmbargoState::Proposed => e.end = end,
            Some(e) if e.in_force(now) => e.revision = Some(end),
            Some(e) => {
                let why = format!(
                    "{note}: not taken, the embargo is over ({})",
                    e.describe(now)
                );
                self.events.push(Event::new(
                    now,
                    actor,
                    "embargo_proposal_ignored",
                    Some(why),
                ));
                return;
            }
        }
        self.events
            .push(Event::new(now, actor, "embargo_proposed", Some(note)));
    }

    /// Records that an active embargo reached its end (once): the event the
    /// researcher and the team hear of. `false` when there is nothing to record.
    pub(crate) fn note_embargo_end(&mut self, now: DateTime<Utc>) -> bool {
        let Some(e) = self.embargo.as_mut() else {
            return false;
        };
        if e.state != EmbargoState::Active || e.in_force(now) || e.ended_noted {
            return false;
        }
        e.ended_noted = true;
        let note = e.end.display();
        self.events
            .push(Event::new(now, "system", "embargo_ended", Some(note)));
        true
    }

    /// Why the report may not be `disclosed` now: an embargo in force.
    pub(super) fn embargo_forbids_disclosure(&self, now: DateTime<Utc>) -> Option<String> {
        let e = self.embargo.as_ref().filter(|e| e.in_force(now))?;
        Some(format!(
            "{} is under embargo until {}: disclose after it ends, or exit it first with --embargo-exit REASON (X-EMBARGO-EXIT:; {})",
            self.id,
            e.end.display(),
            ExitReason::ALL.map(ExitReason::as_str).join(", ")
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::store::lifecycle::tests_support::report_at;
    use crate::store::{Change, Status};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn zi(s: &str) -> ZonedInstant {
        ZonedInstant::parse(s).unwrap()
    }

    fn embargo(c: EmbargoChange) -> Change {
        Change {
            embargo: Some(c),
            ..Change::default()
        }
    }

    #[test]
    fn an_embargo_is_proposed_accepted_revised_and_exited() {
        let policy = Settings::parse_toml("").unwrap().policy;
        let received = at("2027-01-01T00:00:00Z");
        let now = at("2027-01-02T00:00:00Z");
        let mut r = report_at(received);
        r.propose_embargo(
            Ok(zi("2027-02-01 09:00 Europe/Berlin")),
            "alice@example.net",
            now,
        );
        assert_eq!(r.embargo.as_ref().unwrap().phase(now), "proposed");
        r.apply(&embargo(EmbargoChange::Accept), "cli:bob", now, &policy)
            .unwrap();
        let e = r.embargo.clone().unwrap();
        assert_eq!(e.phase(now), "active");
        assert_eq!(e.end.at, at("2027-02-01T08:00:00Z"));
        assert_eq!(e.since, Some(now));
        // A second embargo while one is active is refused; a revision is not.
        let before = r.clone();
        let err = r
            .apply(
                &embargo(EmbargoChange::Set(zi("2027-02-10T00:00Z"))),
                "cli:bob",
                now,
                &policy,
            )
            .unwrap_err();
        assert!(err.contains("already has an active embargo"), "{err}");
        assert_eq!(r, before, "a refused change changes nothing");
        r.apply(
            &embargo(EmbargoChange::Revise(zi("2027-02-10T00:00Z"))),
            "cli:bob",
            now,
            &policy,
        )
        .unwrap();
        assert_eq!(
            r.embargo.as_ref().unwrap().end.at,
            at("2027-02-10T00:00:00Z")
        );
        // The researcher proposes a revision; a maintainer accepts it.
        r.propose_embargo(Ok(zi("2027-02-20T00:00Z")), "alice@example.net", now);
        r.apply(&embargo(EmbargoChange::Accept), "cli:bob", now, &policy)
            .unwrap();
        assert_eq!(
            r.embargo.as_ref().unwrap().end.at,
            at("2027-02-20T00:00:00Z")
        );
        r.apply(
            &embargo(EmbargoChange::Exit(ExitReason::Exploited)),
            "cli:bob",
            now,
            &policy,
        )
        .unwrap();
        assert_eq!(r.embargo.as_ref().unwrap().phase(now), "exited");
        let err = r
            .apply(
                &embargo(EmbargoChange::Set(zi("2027-03-01T00:00Z"))),
                "cli:bob",
                now,
                &policy,
            )
            .unwrap_err();
        assert!(err.contains("is over"), "{err}");
        let actions: Vec<&str> = r.events.iter().map(|e| e.action.as_str()).collect();
        for a in [
            "embargo_proposed",
            "embargo_accepted",
            "embargo_revised",
            "embargo_exited",
        ] {
            assert!(actions.contains(&a), "{a}: {actions:?}");
        }
    }

    #[test]
    fn an_end_beyond_the_maximum_or_in_the_past_is_refused() {
        let policy = Settings::parse_toml("[policy.embargo]\nmax_length = \"45 days\"\n")
            .unwrap()
            .policy;
        let received = at("2027-01-01T00:00:00Z");
        let now = at("2027-01-02T00:00:00Z");
        let mut r = report_at(received);
        let err = r
            .apply(
                &embargo(EmbargoChange::Set(zi("2027-02-15T00:01Z"))),
                "cli:bob",
                now,
                &policy,
            )
            .unwrap_err();
        assert!(err.contains("beyond the policy's maximum"), "{err}");
        assert!(err.contains("45 days after receipt"), "{err}");
        r.apply(
            &embargo(EmbargoChange::Set(zi("2027-02-15T00:00Z"))),
            "cli:bob",
            now,
            &policy,
        )
        .unwrap();
        let mut r = report_at(received);
        let err = r
            .apply(
                &embargo(EmbargoChange::Set(zi("2027-01-01T12:00Z"))),
                "cli:bob",
                now,
                &policy,
            )
            .unwrap_err();
        assert!(err.contains("has passed"), "{err}");
        // A researcher's proposal beyond it is kept, and refused when accepted.
        r.propose_embargo(Ok(zi("2027-06-01T00:00Z")), "alice@example.net", now);
        assert!(
            r.apply(&embargo(EmbargoChange::Accept), "cli:bob", now, &policy)
                .is_err()
        );
        assert_eq!(r.embargo.unwrap().state, EmbargoState::Proposed);
    }

    #[test]
    fn disclosed_waits_for_the_end_of_an_active_embargo_unless_it_was_exited() {
        let policy = Settings::parse_toml("").unwrap().policy;
        let received = at("2027-01-01T00:00:00Z");
        let now = at("2027-01-02T00:00:00Z");
        let mut r = report_at(received);
        r.status = Status::Fixed;
        r.apply(
            &embargo(EmbargoChange::Set(zi("2027-02-01T00:00Z"))),
            "cli:bob",
            now,
            &policy,
        )
        .unwrap();
        let disclose = Change {
            status: Some(Status::Disclosed),
            ..Change::default()
        };
        let err = r
            .clone()
            .apply(&disclose, "cli:bob", now, &policy)
            .unwrap_err();
        assert!(
            err.contains("under embargo until 2027-02-01 00:00 UTC"),
            "{err}"
        );
        // After the end, or exited in the same change, it may be disclosed.
        r.clone()
            .apply(&disclose, "cli:bob", at("2027-02-01T00:00:00Z"), &policy)
            .unwrap();
        let both = Change {
            embargo: Some(EmbargoChange::Exit(ExitReason::Public)),
            ..disclose
        };
        r.apply(&both, "cli:bob", now, &policy).unwrap();
        assert_eq!(r.status, Status::Disclosed);
    }

    #[test]
    fn an_unreadable_proposal_is_recorded_not_taken() {
        let mut r = report_at(at("2027-01-01T00:00:00Z"));
        let now = at("2027-01-02T00:00:00Z");
        r.propose_embargo(
            ZonedInstant::parse("2027-02-01 09:00"),
            "alice@example.net",
            now,
        );
        assert!(r.embargo.is_none());
        let last = r.events.last().unwrap();
        assert_eq!(last.action, "embargo_proposal_unreadable");
        assert!(last.note.as_deref().unwrap().contains("has no time zone"));
    }
}
