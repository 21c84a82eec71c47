//! A report's dated timeline, read from its milestones and append-only events:
//! received, acknowledged, first response, triaged, needs-info and resumed, embargo
//! steps, fixed, disclosed. `reports show` lists it; the advisory export and
//! `reports stats` take their dates from [`Report::timeline`], so every place says
//! the same.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::records::{DeadlineName, Report};

/// One dated step of a report's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub at: DateTime<Utc>,
    /// received, acknowledged, first_response, triaged, needs_info, resumed,
    /// embargo_proposed, embargo_set, embargo_accepted, embargo_revised,
    /// embargo_exited, fixed, disclosed.
    pub what: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The dates of a report's life, and every step in time order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timeline {
    pub received: DateTime<Utc>,
    pub acknowledged: Option<DateTime<Utc>>,
    /// The team's first public activity (HackerOne's definition): an answer to the
    /// researcher, a state or severity change, a question, an embargo set.
    pub first_response: Option<DateTime<Utc>>,
    /// The initial assessment: `triaged`, or a decision.
    pub triaged: Option<DateTime<Utc>>,
    pub fixed: Option<DateTime<Utc>>,
    pub disclosed: Option<DateTime<Utc>>,
    /// The embargo's end, when one is active or ended (not a proposal).
    pub embargo_end: Option<DateTime<Utc>>,
    pub steps: Vec<Step>,
}

/// Actions of a maintainer that count as a response to the researcher.
const RESPONSES: [&str; 8] = [
    "status",
    "severity",
    "cvss",
    "reply",
    "needs_info",
    "embargo_set",
    "embargo_accepted",
    "researcher_told",
];

impl Report {
    /// The report's timeline; see [`Timeline`].
    pub fn timeline(&self) -> Timeline {
        let by_team = |actor: &str| actor.starts_with("cli:") || actor.starts_with("mail:");
        let first_response = self
            .events
            .iter()
            .find(|e| by_team(&e.actor) && RESPONSES.contains(&e.action.as_str()))
            .map(|e| e.at);
        let disclosed = self
            .events
            .iter()
            .find(|e| {
                e.action == "status"
                    && e.note
                        .as_deref()
                        .is_some_and(|n| n.contains("-> disclosed"))
            })
            .map(|e| e.at);
        let mut t = Timeline {
            received: self.data.received_at,
            acknowledged: self.milestones.get(&DeadlineName::Acknowledge).copied(),
            first_response,
            triaged: self
                .milestones
                .get(&DeadlineName::InitialAssessment)
                .copied(),
            fixed: self.milestones.get(&DeadlineName::Fix).copied(),
            disclosed,
            embargo_end: self
                .embargo
                .as_ref()
                .filter(|e| e.state != super::embargo::EmbargoState::Proposed)
                .map(|e| e.exited.map_or(e.end.at, |(at, _)| at)),
            steps: Vec::new(),
        };
        let mut steps = vec![Step {
            at: t.received,
            what: "received",
            note: None,
        }];
        for (what, at) in [
            ("acknowledged", t.acknowledged),
            ("first_response", t.first_response),
            ("triaged", t.triaged),
            ("fixed", t.fixed),
            ("disclosed", t.disclosed),
        ] {
            if let Some(at) = at {
                steps.push(Step {
                    at,
                    what,
                    note: None,
                });
            }
        }
        for e in &self.events {
            let what = match e.action.as_str() {
                crate::policy::clocks::PAUSE => "needs_info",
                crate::policy::clocks::RESUME => "resumed",
                "embargo_proposed" => "embargo_proposed",
                "embargo_set" => "embargo_set",
                "embargo_accepted" => "embargo_accepted",
                "embargo_revised" => "embargo_revised",
                "embargo_exited" => "embargo_exited",
                _ => continue,
            };
            steps.push(Step {
                at: e.at,
                what,
                note: e.note.clone(),
            });
        }
        // Stable: steps of the same instant keep the order above.
        steps.sort_by_key(|s| s.at);
        t.steps = steps;
        t
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::store::lifecycle::tests_support::report_at;
    use crate::store::{Change, EmbargoChange, Status};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_timeline_dates_every_step_in_order() {
        let policy = Settings::parse_toml("").unwrap().policy;
        let mut r = report_at(at("2027-01-01T00:00:00Z"));
        r.milestones
            .insert(DeadlineName::Acknowledge, at("2027-01-01T00:00:05Z"));
        let step = |r: &mut Report, c: Change, when: &str| {
            r.apply(&c, "cli:bob", at(when), &policy).unwrap();
        };
        step(
            &mut r,
            Change {
                needs_info: Some(true),
                ..Change::default()
            },
            "2027-01-02T00:00:00Z",
        );
        r.resume_clocks(
            "alice@example.net",
            "answered",
            at("2027-01-03T00:00:00Z"),
            &policy,
        )
        .unwrap();
        for (status, when) in [
            (Status::Triaged, "2027-01-04T00:00:00Z"),
            (Status::Accepted, "2027-01-05T00:00:00Z"),
        ] {
            step(
                &mut r,
                Change {
                    status: Some(status),
                    ..Change::default()
                },
                when,
            );
        }
        step(
            &mut r,
            Change {
                embargo: Some(EmbargoChange::Set(
                    crate::policy::ZonedInstant::parse("2027-02-01T00:00Z").unwrap(),
                )),
                ..Change::default()
            },
            "2027-01-06T00:00:00Z",
        );
        for (status, when) in [
            (Status::Fixed, "2027-01-20T00:00:00Z"),
            (Status::Disclosed, "2027-02-02T00:00:00Z"),
        ] {
            step(
                &mut r,
                Change {
                    status: Some(status),
                    ..Change::default()
                },
                when,
            );
        }
        let t = r.timeline();
        assert_eq!(t.first_response, Some(at("2027-01-02T00:00:00Z")));
        assert_eq!(t.triaged, Some(at("2027-01-04T00:00:00Z")));
        assert_eq!(t.fixed, Some(at("2027-01-20T00:00:00Z")));
        assert_eq!(t.disclosed, Some(at("2027-02-02T00:00:00Z")));
        assert_eq!(t.embargo_end, Some(at("2027-02-01T00:00:00Z")));
        let whats: Vec<&str> = t.steps.iter().map(|s| s.what).collect();
        assert_eq!(
            whats,
            [
                "received",
                "acknowledged",
                "first_response",
                "needs_info",
                "resumed",
                "triaged",
                "embargo_set",
                "fixed",
                "disclosed"
            ]
        );
    }
}
