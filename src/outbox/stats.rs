//! Response figures a team can report (`reports stats`, the weekly digest): time to
//! first response, to triage, to fix and to disclosure (median and 90th percentile),
//! the share of each target met per severity, and the open reports per state and
//! age. Every figure comes from the reports' timelines and clocks (see
//! `store::timeline`, `policy::clocks`), so the same store gives the same figures on
//! any host and after any restore. Pure: the reports and the time are passed in.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::config::Policy;
use crate::extract::Severity;
use crate::policy::clocks;
use crate::policy::{DeadlineName, DeadlineState};
use crate::store::{Report, Status};

/// Median and 90th percentile of one figure, in seconds, over `count` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Figure {
    pub count: usize,
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

/// How many reports met a target, of those for which it was decided (met, or
/// passed unmet); `share` is met / decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TargetShare {
    pub met: usize,
    pub decided: usize,
    pub share: Option<f64>,
}

/// The open reports in one state, by age since receipt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct OpenState {
    pub count: usize,
    /// Under 7 days, 7 to 30, 30 to 90, over 90.
    pub by_age: BTreeMap<&'static str, usize>,
    pub oldest_days: i64,
}

/// Every figure of `reports stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Stats {
    pub since: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    /// Reports received since `since` (all when none).
    pub reports: usize,
    /// first_response, triage, fix, disclosure.
    pub times: BTreeMap<&'static str, Figure>,
    /// Per severity (critical ... unrated), per target (acknowledge,
    /// initial_assessment, fix).
    pub targets: BTreeMap<&'static str, BTreeMap<&'static str, TargetShare>>,
    /// Per open state.
    pub open: BTreeMap<&'static str, OpenState>,
}

/// The value at rank ⌈p·n⌉ of the sorted values (nearest rank): the median of four
/// values is the second, their 90th percentile the fourth.
fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (n * p as usize).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn figure(mut values: Vec<i64>) -> Figure {
    values.sort_unstable();
    Figure {
        count: values.len(),
        median_secs: nearest_rank(&values, 50),
        p90_secs: nearest_rank(&values, 90),
    }
}

fn age_bucket(age: Duration) -> &'static str {
    match age.num_days() {
        d if d < 7 => "0-7d",
        d if d < 30 => "7-30d",
        d if d < 90 => "30-90d",
        _ => "90d+",
    }
}

impl Stats {
    /// The figures over the reports received since `since`, at `now`. The times to
    /// triage and to fix leave out the time the team waited on the researcher, and
    /// all but the time to disclosure count in working time when the policy has a
    /// calendar. (The gateway feeds a [`StatsBuilder`] from the store a chunk at a time;
    /// this is the same over a list.)
    #[cfg(test)]
    pub(crate) fn build<'a>(
        reports: impl IntoIterator<Item = &'a Report>,
        policy: &Policy,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Stats {
        let mut acc = StatsBuilder::new(policy, since, now);
        for r in reports {
            acc.add(r);
        }
        acc.finish()
    }

    /// As people read it (`reports stats`, the weekly digest).
    pub(crate) fn text(&self) -> String {
        let mut out = format!(
            "Response figures, reports received {} ({} reports):\n",
            self.since.map_or_else(
                || "at any time".to_string(),
                |s| format!("since {}", crate::policy::human_time(s))
            ),
            self.reports
        );
        let show = |secs: Option<i64>| {
            secs.map_or_else(
                || "-".to_string(),
                |s| {
                    let d = Duration::seconds(s);
                    if d.num_hours() >= 48 {
                        format!("{:.1}d", s as f64 / 86_400.0)
                    } else {
                        format!("{:.1}h", s as f64 / 3600.0)
                    }
                },
            )
        };
        out.push_str("  time to          median   90th pct  reports\n");
        for (name, f) in &self.times {
            out.push_str(&format!(
                "  {:<16} {:>7}  {:>8}  {:>7}\n",
                name.replace('_', " "),
                show(f.median_secs),
                show(f.p90_secs),
                f.count
            ));
        }
        if !self.targets.is_empty() {
            out.push_str("Targets met (met/decided):\n");
            for (severity, by_target) in &self.targets {
                let parts: Vec<String> = DeadlineName::ALL
                    .iter()
                    .filter_map(|n| {
                        by_target.get(n.as_str()).map(|s| {
                            format!(
                                "{} {}/{} ({:.0}%)",
                                n.as_str(),
                                s.met,
                                s.decided,
                                s.share.unwrap_or(0.0) * 100.0
                            )
                        })
                    })
                    .collect();
                out.push_str(&format!("  {severity:<9} {}\n", parts.join(", ")));
            }
        }
        if !self.open.is_empty() {
            out.push_str("Open reports by state and age:\n");
            for st in Status::ALL {
                if let Some(o) = self.open.get(st.as_str()) {
                    let ages: Vec<String> =
                        o.by_age.iter().map(|(a, n)| format!("{a}: {n}")).collect();
                    out.push_str(&format!(
                        "  {:<13} {:>3}  ({}; oldest {} days)\n",
                        st.as_str(),
                        o.count,
                        ages.join(", "),
                        o.oldest_days
                    ));
                }
            }
        }
        out
    }
}

/// [`Stats`] one report at a time: a store's reports are read a chunk at a time, never
/// all at once.
pub(crate) struct StatsBuilder<'p> {
    cal: Option<&'p crate::policy::clocks::Calendar>,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    times: BTreeMap<&'static str, Vec<i64>>,
    targets: BTreeMap<&'static str, BTreeMap<&'static str, TargetShare>>,
    open: BTreeMap<&'static str, OpenState>,
    count: usize,
}

impl<'p> StatsBuilder<'p> {
    pub(crate) fn new(
        policy: &'p Policy,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StatsBuilder<'p> {
        StatsBuilder {
            cal: policy.calendar.as_ref(),
            since,
            now,
            times: BTreeMap::new(),
            targets: BTreeMap::new(),
            open: BTreeMap::new(),
            count: 0,
        }
    }

    /// Counts one report.
    pub(crate) fn add(&mut self, r: &Report) {
        let (since, now, cal) = (self.since, self.now, self.cal);
        if since.is_some_and(|s| r.data.received_at < s) {
            return;
        }
        self.count += 1;
        let t = r.timeline();
        let pauses = r.pauses();
        let from = t.received;
        for (name, end, paused) in [
            ("first_response", t.first_response, false),
            ("triage", t.triaged, true),
            ("fix", t.fixed, true),
            ("disclosure", t.disclosed, false),
        ] {
            let Some(end) = end else { continue };
            let ran = match (name, paused) {
                ("disclosure", _) => end - from,
                (_, true) => clocks::running(from, end, &pauses, cal),
                (_, false) => clocks::running(from, end, &[], cal),
            };
            self.times.entry(name).or_default().push(ran.num_seconds());
        }
        let severity = r.severity().map_or("unrated", Severity::as_str);
        for (name, st) in r.deadline_status(now) {
            let decided = match st.state {
                DeadlineState::Met => true,
                DeadlineState::Overdue => true,
                DeadlineState::Due | DeadlineState::Closed | DeadlineState::Paused => false,
            };
            if !decided {
                continue;
            }
            let share = self
                .targets
                .entry(severity)
                .or_default()
                .entry(name.as_str())
                .or_insert(TargetShare {
                    met: 0,
                    decided: 0,
                    share: None,
                });
            share.decided += 1;
            if st.met_at.is_some_and(|m| m <= st.at) {
                share.met += 1;
            }
        }
        if !r.status.is_closed() {
            let state = self.open.entry(r.status.as_str()).or_default();
            let age = now - from;
            state.count += 1;
            *state.by_age.entry(age_bucket(age)).or_default() += 1;
            state.oldest_days = state.oldest_days.max(age.num_days());
        }
    }

    /// The figures.
    pub(crate) fn finish(mut self) -> Stats {
        for by_target in self.targets.values_mut() {
            for s in by_target.values_mut() {
                s.share = (s.decided > 0).then(|| s.met as f64 / s.decided as f64);
            }
        }
        Stats {
            since: self.since,
            at: self.now,
            reports: self.count,
            times: ["first_response", "triage", "fix", "disclosure"]
                .into_iter()
                .map(|n| (n, figure(self.times.remove(n).unwrap_or_default())))
                .collect(),
            targets: self.targets,
            open: self.open,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::store::{Change, Event};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A report received at `received` (day `d` of January 2027 at 00:00) whose
    /// life is the given `(day, hour, change)` steps, by the command line.
    fn report(n: u32, received: u32, severity: Severity, steps: &[(u32, u32, Change)]) -> Report {
        let policy = Settings::parse_toml("").unwrap().policy;
        let day = |d: u32, h: u32| at(&format!("2027-01-{d:02}T{h:02}:00:00Z"));
        let mut r = crate::store::tests_support::report_at(day(received, 0));
        r.id = crate::store::ReportId::new("VR", 2027, n);
        r.apply(
            &Change {
                severity: Some(severity),
                ..Change::default()
            },
            "system",
            day(received, 0),
            &policy,
        )
        .unwrap();
        r.milestones
            .insert(DeadlineName::Acknowledge, day(received, 1));
        for (d, h, c) in steps {
            r.apply(c, "cli:bob", day(*d, *h), &policy).unwrap();
        }
        r
    }

    fn status(s: Status) -> Change {
        Change {
            status: Some(s),
            ..Change::default()
        }
    }

    fn ask() -> Change {
        Change {
            needs_info: Some(true),
            ..Change::default()
        }
    }

    /// The fixed event log of four reports and the figures computed by hand:
    ///
    /// | report | received | first response | triaged | paused | fixed | disclosed |
    /// |---|---|---|---|---|---|---|
    /// | 1 high | 01 00:00 | 01 10:00 (triaged) | 01 10:00 | - | 05 00:00 | 20 00:00 |
    /// | 2 high | 02 00:00 | 02 06:00 (question) | 06 06:00 | 02 06:00-04 06:00 | 12 00:00 | - |
    /// | 3 critical | 03 00:00 | 04 00:00 (triaged) | 04 00:00 | - | 07 00:00 | - |
    /// | 4 low | 04 00:00 | - | - | - | - | - |
    ///
    /// First response: 10 h, 6 h, 24 h: sorted 6, 10, 24: median (rank 2) 10 h,
    /// 90th (rank 3) 24 h. Triage: 10 h; report 2 ran 6 h + 48 h = 54 h (the 48 h
    /// paused left out); 24 h: sorted 10, 24, 54: median 24 h, 90th 54 h. Fix: 96 h;
    /// 240 h - 48 h = 192 h; 96 h: sorted 96, 96, 192: median 96 h, 90th 192 h.
    /// Disclosure: 19 days = 456 h, the only one.
    /// Targets at 2027-01-31 (high fix 7 d, critical 2 d, assessment 7 d, ack 48 h):
    /// high fix: report 1 met (day 5 < day 8); report 2 deadline day 9 + 2 days of
    /// pause = day 11, fixed on day 12: missed. critical fix: due day 5, fixed day 7:
    /// missed. Every assessment was met or is due... report 4's (day 11) passed
    /// unmet: low 0/1. Acknowledgement: 4/4.
    #[test]
    fn the_figures_of_a_fixed_event_log_match_the_table_computed_by_hand() {
        let mut r2 = report(
            2,
            2,
            Severity::High,
            &[
                (2, 6, ask()),
                (6, 6, status(Status::Triaged)),
                (6, 7, status(Status::Accepted)),
                (12, 0, status(Status::Fixed)),
            ],
        );
        // The researcher answered on day 4 at 06:00: put before the triage.
        let answer = Event::new(
            at("2027-01-04T06:00:00Z"),
            "alice@example.net",
            "needs_info_answered",
            None,
        );
        let pos = r2.events.iter().position(|e| e.action == "status").unwrap();
        r2.events.insert(pos, answer);
        let policy = Settings::parse_toml("").unwrap().policy;
        r2.recompute_deadlines(&policy, at("2027-01-12T00:00:00Z"));
        let reports = [
            report(
                1,
                1,
                Severity::High,
                &[
                    (1, 10, status(Status::Triaged)),
                    (2, 0, status(Status::Accepted)),
                    (5, 0, status(Status::Fixed)),
                    (20, 0, status(Status::Disclosed)),
                ],
            ),
            r2,
            report(
                3,
                3,
                Severity::Critical,
                &[
                    (4, 0, status(Status::Triaged)),
                    (4, 1, status(Status::Accepted)),
                    (7, 0, status(Status::Fixed)),
                ],
            ),
            report(4, 4, Severity::Low, &[]),
        ];
        let now = at("2027-01-31T00:00:00Z");
        let s = Stats::build(&reports, &policy, None, now);
        let h = |n: i64| Some(n * 3600);
        let fig = |name: &str| {
            let f = &s.times[name];
            (f.count, f.median_secs, f.p90_secs)
        };
        assert_eq!(s.reports, 4);
        assert_eq!(fig("first_response"), (3, h(10), h(24)));
        assert_eq!(fig("triage"), (3, h(24), h(54)));
        assert_eq!(fig("fix"), (3, h(96), h(192)));
        assert_eq!(fig("disclosure"), (1, h(456), h(456)));
        let share = |sev: &str, target: &str| {
            let t = &s.targets[sev][target];
            (t.met, t.decided)
        };
        assert_eq!(share("high", "fix"), (1, 2));
        assert_eq!(share("critical", "fix"), (0, 1));
        assert_eq!(share("high", "initial_assessment"), (2, 2));
        assert_eq!(share("critical", "initial_assessment"), (1, 1));
        assert_eq!(share("low", "initial_assessment"), (0, 1));
        assert_eq!(share("high", "acknowledge"), (2, 2));
        assert_eq!(s.targets["high"]["fix"].share, Some(0.5));
        // Open: 2 and 3 are fixed (still open), 4 is new.
        assert_eq!(s.open["fixed"].count, 2);
        assert_eq!(s.open["fixed"].by_age["7-30d"], 2);
        assert_eq!(s.open["new"].count, 1);
        assert_eq!(s.open["new"].oldest_days, 27);
        assert!(!s.open.contains_key("disclosed"));
        // Since day 3: reports 3 and 4 only.
        let s = Stats::build(&reports, &policy, Some(at("2027-01-03T00:00:00Z")), now);
        assert_eq!(s.reports, 2);
        assert_eq!(fig_of(&s, "fix"), (1, h(96), h(96)));
        let text = s.text();
        assert!(text.contains("time to"), "{text}");
    }

    fn fig_of(s: &Stats, name: &str) -> (usize, Option<i64>, Option<i64>) {
        let f = &s.times[name];
        (f.count, f.median_secs, f.p90_secs)
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[5], 90), Some(5));
        assert_eq!(nearest_rank(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(nearest_rank(&[1, 2, 3, 4], 90), Some(4));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 90), Some(9));
        assert_eq!(nearest_rank(&ten, 50), Some(5));
    }
}
