//! Response clocks that pause: a clock is the sum of the intervals it ran, recomputed
//! from a report's events (a pause starts at `needs_info`, ends at
//! `needs_info_answered`), so a restore, an upgrade or a changed system clock gives
//! the same figures. With a business-day calendar (`[policy.calendar]`) only working
//! days count, each as a whole day of its zone's wall clock (a day with a DST change
//! counts as one day, as people count it); holidays do not count.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};

/// The event that pauses the assessment and fix clocks (a question to the researcher).
pub(crate) const PAUSE: &str = "needs_info";
/// The event that resumes them (the researcher answered, or a maintainer resumed).
pub(crate) const RESUME: &str = "needs_info_answered";

/// Working days, holidays and the zone they are counted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub working_days: Vec<Weekday>,
    pub holidays: BTreeSet<NaiveDate>,
    pub zone: chrono_tz::Tz,
}

/// Longest a clock is walked, in days: ten years, beyond any target the
/// configuration accepts.
const MAX_DAYS: u32 = 3700;

impl Calendar {
    fn working(&self, day: NaiveDate) -> bool {
        self.working_days.contains(&day.weekday()) && !self.holidays.contains(&day)
    }

    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.zone).naive_local()
    }

    /// A wall-clock time of the zone as an instant: a time a DST change skips is
    /// taken an hour later, one it repeats at its first occurrence.
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        self.zone
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                self.zone
                    .from_local_datetime(&(local + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
    }

    /// Working time between two instants, in wall-clock time of working days.
    fn between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> chrono::Duration {
        if b <= a {
            return chrono::Duration::zero();
        }
        let (la, lb) = (self.local(a), self.local(b));
        let mut total = chrono::Duration::zero();
        let mut cursor = la;
        for _ in 0..MAX_DAYS {
            let day = cursor.date();
            let Some(next) = day.succ_opt().map(|d| d.and_time(chrono::NaiveTime::MIN)) else {
                break;
            };
            let end = next.min(lb);
            if self.working(day) && end > cursor {
                total += end - cursor;
            }
            if next >= lb {
                break;
            }
            cursor = next;
        }
        total
    }

    /// The instant `run` of working time after `a`.
    fn add(&self, a: DateTime<Utc>, run: chrono::Duration) -> Option<DateTime<Utc>> {
        let mut left = run;
        let mut cursor = self.local(a);
        for _ in 0..MAX_DAYS {
            let day = cursor.date();
            let next = day.succ_opt()?.and_time(chrono::NaiveTime::MIN);
            if self.working(day) {
                let room = next - cursor;
                if left <= room {
                    return Some(self.instant(cursor + left));
                }
                left -= room;
            }
            cursor = next;
        }
        None
    }
}

/// The intervals a report's assessment and fix clocks were paused, oldest first,
/// from its events as `(time, action)`; the last one is open (`None`) while the
/// team still waits.
pub(crate) fn pauses<'a>(
    events: impl IntoIterator<Item = (DateTime<Utc>, &'a str)>,
) -> Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let mut out: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = Vec::new();
    for (at, action) in events {
        match action {
            PAUSE if !matches!(out.last(), Some((_, None))) => out.push((at, None)),
            RESUME => {
                if let Some(last) = out.last_mut()
                    && last.1.is_none()
                {
                    last.1 = Some(at.max(last.0));
                }
            }
            _ => {}
        }
    }
    out
}

/// Running time (working time, with a calendar) between two instants.
fn span(calendar: Option<&Calendar>, a: DateTime<Utc>, b: DateTime<Utc>) -> chrono::Duration {
    match calendar {
        Some(c) => c.between(a, b),
        None if b > a => b - a,
        None => chrono::Duration::zero(),
    }
}

/// How long a clock started at `start` ran until `end`, without its pauses.
pub(crate) fn running(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    pauses: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
    calendar: Option<&Calendar>,
) -> chrono::Duration {
    let mut total = span(calendar, start, end);
    for (from, to) in pauses {
        let from = (*from).max(start);
        let to = to.unwrap_or(end).min(end);
        if to > from {
            total -= span(calendar, from, to);
        }
    }
    total.max(chrono::Duration::zero())
}

/// When a clock started at `start` has run `target`, its pauses left out; `None`
/// while it is paused before reaching it (the deadline is not known until it runs
/// again).
pub(crate) fn deadline(
    start: DateTime<Utc>,
    target: chrono::Duration,
    pauses: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
    calendar: Option<&Calendar>,
) -> Option<DateTime<Utc>> {
    let add = |from: DateTime<Utc>, run: chrono::Duration| match calendar {
        Some(c) => c.add(from, run),
        None => from.checked_add_signed(run),
    };
    let mut t = start;
    let mut left = target;
    for (from, to) in pauses {
        if *from < t {
            // A pause that began before the clock ran (or inside one already
            // passed) only holds it until its end.
            if let Some(to) = to {
                t = t.max(*to);
            } else {
                return None;
            }
            continue;
        }
        let ran = span(calendar, t, *from);
        if ran >= left {
            return add(t, left);
        }
        left -= ran;
        t = (*to)?;
    }
    add(t, left)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hours(h: i64) -> chrono::Duration {
        chrono::Duration::hours(h)
    }

    fn weekdays(zone: &str, holidays: &[&str]) -> Calendar {
        Calendar {
            working_days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            holidays: holidays
                .iter()
                .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap())
                .collect(),
            zone: zone.parse().unwrap(),
        }
    }

    #[test]
    fn a_clock_without_pauses_runs_from_its_start() {
        let start = at("2027-01-04T10:00:00Z");
        assert_eq!(
            deadline(start, hours(72), &[], None),
            Some(at("2027-01-07T10:00:00Z"))
        );
        assert_eq!(
            running(start, at("2027-01-05T10:00:00Z"), &[], None),
            hours(24)
        );
        assert_eq!(
            running(start, at("2027-01-01T00:00:00Z"), &[], None),
            hours(0)
        );
    }

    #[test]
    fn a_pause_moves_the_deadline_by_its_length_and_an_open_one_holds_it() {
        let start = at("2027-01-04T10:00:00Z");
        let events = [
            (at("2027-01-05T10:00:00Z"), PAUSE),
            (at("2027-01-05T12:00:00Z"), "note"),
            (at("2027-01-07T10:00:00Z"), RESUME),
        ];
        let p = pauses(events);
        assert_eq!(
            p,
            vec![(at("2027-01-05T10:00:00Z"), Some(at("2027-01-07T10:00:00Z")))]
        );
        // 72 h target: 24 h before the pause, 48 h after it.
        assert_eq!(
            deadline(start, hours(72), &p, None),
            Some(at("2027-01-09T10:00:00Z"))
        );
        // A deadline reached before the pause is not moved by it.
        assert_eq!(
            deadline(start, hours(12), &p, None),
            Some(at("2027-01-04T22:00:00Z"))
        );
        assert_eq!(
            running(start, at("2027-01-08T10:00:00Z"), &p, None),
            hours(48)
        );
        // While paused: no deadline, and the clock stands still.
        let open = pauses([(at("2027-01-05T10:00:00Z"), PAUSE)]);
        assert_eq!(deadline(start, hours(72), &open, None), None);
        assert_eq!(
            running(start, at("2027-01-20T00:00:00Z"), &open, None),
            hours(24)
        );
        // Two pauses; a second question while one is open is the same pause.
        let two = pauses([
            (at("2027-01-04T12:00:00Z"), PAUSE),
            (at("2027-01-04T13:00:00Z"), PAUSE),
            (at("2027-01-04T14:00:00Z"), RESUME),
            (at("2027-01-05T00:00:00Z"), PAUSE),
            (at("2027-01-05T06:00:00Z"), RESUME),
        ]);
        assert_eq!(two.len(), 2);
        assert_eq!(
            deadline(start, hours(24), &two, None),
            Some(at("2027-01-05T18:00:00Z"))
        );
    }

    #[test]
    fn the_same_log_gives_the_same_figures_whatever_the_clock_reads_later() {
        let start = at("2027-01-04T10:00:00Z");
        let p = pauses([
            (at("2027-01-05T10:00:00Z"), PAUSE),
            (at("2027-01-06T10:00:00Z"), RESUME),
        ]);
        let end = at("2027-01-10T10:00:00Z");
        let first = (
            deadline(start, hours(100), &p, None),
            running(start, end, &p, None),
        );
        let again = (
            deadline(start, hours(100), &p, None),
            running(start, end, &p, None),
        );
        assert_eq!(first, again);
        assert_eq!(first.1, hours(120));
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        let cal = weekdays("UTC", &["2027-01-06"]);
        // Friday 10:00 + 24 working hours: Monday 10:00.
        let fri = at("2027-01-08T10:00:00Z");
        assert_eq!(
            deadline(fri, hours(24), &[], Some(&cal)),
            Some(at("2027-01-11T10:00:00Z"))
        );
        // Tuesday 10:00 + 48 h with Wednesday a holiday: Friday 10:00.
        let tue = at("2027-01-05T10:00:00Z");
        assert_eq!(
            deadline(tue, hours(48), &[], Some(&cal)),
            Some(at("2027-01-08T10:00:00Z"))
        );
        assert_eq!(
            running(tue, at("2027-01-08T10:00:00Z"), &[], Some(&cal)),
            hours(48)
        );
        // Started on a Saturday: the clock starts on Monday at midnight.
        let sat = at("2027-01-09T15:00:00Z");
        assert_eq!(
            deadline(sat, hours(5), &[], Some(&cal)),
            Some(at("2027-01-11T05:00:00Z"))
        );
    }

    #[test]
    fn a_business_day_with_a_dst_change_counts_as_one_day() {
        // Berlin goes to summer time on Sunday 2027-03-28; every day works.
        let mut cal = weekdays("Europe/Berlin", &[]);
        cal.working_days.extend([Weekday::Sat, Weekday::Sun]);
        // Saturday 09:00 CET + 2 days: Monday 09:00 CEST, 47 real hours later.
        let sat = at("2027-03-27T08:00:00Z");
        let end = deadline(sat, hours(48), &[], Some(&cal)).unwrap();
        assert_eq!(end, at("2027-03-29T07:00:00Z"));
        assert_eq!(running(sat, end, &[], Some(&cal)), hours(48));
        // Back to winter time on Sunday 2027-10-31: 49 real hours.
        let sat = at("2027-10-30T07:00:00Z");
        assert_eq!(
            deadline(sat, hours(48), &[], Some(&cal)),
            Some(at("2027-11-01T08:00:00Z"))
        );
        // Weekdays only: Friday 09:00 CET before the change + 1 day = Monday 09:00 CEST.
        let cal = weekdays("Europe/Berlin", &[]);
        let fri = at("2027-03-26T08:00:00Z");
        assert_eq!(
            deadline(fri, hours(24), &[], Some(&cal)),
            Some(at("2027-03-29T07:00:00Z"))
        );
    }

    #[test]
    fn a_leap_day_is_a_day_like_any_other() {
        let cal = weekdays("UTC", &[]);
        // Monday 2028-02-28 10:00 + 2 working days: Wednesday 2028-03-01 10:00, through
        // Tuesday 29 February.
        let mon = at("2028-02-28T10:00:00Z");
        assert_eq!(
            deadline(mon, hours(48), &[], Some(&cal)),
            Some(at("2028-03-01T10:00:00Z"))
        );
        // Without a calendar too.
        assert_eq!(
            deadline(mon, hours(48), &[], None),
            Some(at("2028-03-01T10:00:00Z"))
        );
        // As a holiday, it does not count.
        let cal = weekdays("UTC", &["2028-02-29"]);
        assert_eq!(
            deadline(mon, hours(48), &[], Some(&cal)),
            Some(at("2028-03-02T10:00:00Z"))
        );
    }

    #[test]
    fn a_pause_over_a_weekend_costs_nothing_twice() {
        let cal = weekdays("UTC", &[]);
        let mon = at("2027-01-04T00:00:00Z");
        // Paused from Thursday 00:00 to the next Tuesday 00:00: Thu, Fri, Mon paused.
        let p = pauses([
            (at("2027-01-07T00:00:00Z"), PAUSE),
            (at("2027-01-12T00:00:00Z"), RESUME),
        ]);
        // 5 working days: Mon-Wed before, Tue-Wed after: Thursday 2027-01-14 00:00.
        assert_eq!(
            deadline(mon, hours(120), &p, Some(&cal)),
            Some(at("2027-01-14T00:00:00Z"))
        );
        assert_eq!(
            running(mon, at("2027-01-14T00:00:00Z"), &p, Some(&cal)),
            hours(120)
        );
    }
}
